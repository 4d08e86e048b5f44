/* sha256.h - SHA-256 (FIPS 180-4), own implementation, for file checksums. */
#ifndef CLEANUP_SHA256_H
#define CLEANUP_SHA256_H

#include <stddef.h>
#include <stdint.h>
#include "util.h"

typedef struct {
    uint32_t state[8];
    uint64_t bit_count;
    unsigned char block[64];
    size_t block_used;
    int accel;          /* 1: blocks go through the CPU's SHA instructions (set by sha256_init) */
} Sha256;

void sha256_init(Sha256 *s);
void sha256_update(Sha256 *s, const void *data, size_t len);
void sha256_final(Sha256 *s, unsigned char digest[32]);
/* sha256_final, the digest written as lowercase hex into hex[65]. */
void sha256_final_hex(Sha256 *s, char hex[65]);
/* Allows (1, the default) or forbids (0) the CPU's SHA instructions (x86-64
 * SHA-NI, detected at run time) for contexts initialised afterwards; the
 * digest is the same either way. Returns 1 if they will be used. For tests
 * and benchmarks: call before hashing starts, not while other threads hash. */
int sha256_use_accel(int enable);
/* 1 if contexts initialised now use the CPU's SHA instructions (hashing then
 * runs at several GB/s instead of ~300 MB/s). */
int sha256_accelerated(void);
/* Lowercase hex of the SHA-256 of data into hex[65]. */
void sha256_hex(const void *data, size_t len, char hex[65]);
/* Lowercase hex of the SHA-256 of a file's contents (streamed) into hex[65]. */
int sha256_file_hex(const char *path, char hex[65], Error *err);

#endif
