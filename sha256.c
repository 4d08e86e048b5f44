/* sha256.c - SHA-256 as specified in FIPS 180-4 (section 6.2), own implementation.
 * Message words are read big-endian byte by byte, so the code is independent of
 * the host's byte order. */
#include "sha256.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* FIPS 180-4 4.2.2: first 32 bits of the fractional parts of the cube roots of
 * the first 64 primes. */
static const uint32_t K[64] = {
    0x428a2f98u, 0x71374491u, 0xb5c0fbcfu, 0xe9b5dba5u, 0x3956c25bu, 0x59f111f1u, 0x923f82a4u, 0xab1c5ed5u,
    0xd807aa98u, 0x12835b01u, 0x243185beu, 0x550c7dc3u, 0x72be5d74u, 0x80deb1feu, 0x9bdc06a7u, 0xc19bf174u,
    0xe49b69c1u, 0xefbe4786u, 0x0fc19dc6u, 0x240ca1ccu, 0x2de92c6fu, 0x4a7484aau, 0x5cb0a9dcu, 0x76f988dau,
    0x983e5152u, 0xa831c66du, 0xb00327c8u, 0xbf597fc7u, 0xc6e00bf3u, 0xd5a79147u, 0x06ca6351u, 0x14292967u,
    0x27b70a85u, 0x2e1b2138u, 0x4d2c6dfcu, 0x53380d13u, 0x650a7354u, 0x766a0abbu, 0x81c2c92eu, 0x92722c85u,
    0xa2bfe8a1u, 0xa81a664bu, 0xc24b8b70u, 0xc76c51a3u, 0xd192e819u, 0xd6990624u, 0xf40e3585u, 0x106aa070u,
    0x19a4c116u, 0x1e376c08u, 0x2748774cu, 0x34b0bcb5u, 0x391c0cb3u, 0x4ed8aa4au, 0x5b9cca4fu, 0x682e6ff3u,
    0x748f82eeu, 0x78a5636fu, 0x84c87814u, 0x8cc70208u, 0x90befffau, 0xa4506cebu, 0xbef9a3f7u, 0xc67178f2u};

static uint32_t rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

/* Processes one 64-byte block (FIPS 180-4 6.2.2). */
static void sha256_block(uint32_t H[8], const unsigned char *p) {
    uint32_t W[64], a, b, c, d, e, f, g, h;
    int t;
    for (t = 0; t < 16; t++)
        W[t] = ((uint32_t)p[4 * t] << 24) | ((uint32_t)p[4 * t + 1] << 16) | ((uint32_t)p[4 * t + 2] << 8) |
               (uint32_t)p[4 * t + 3];
    for (t = 16; t < 64; t++) {
        uint32_t s0 = rotr(W[t - 15], 7) ^ rotr(W[t - 15], 18) ^ (W[t - 15] >> 3);
        uint32_t s1 = rotr(W[t - 2], 17) ^ rotr(W[t - 2], 19) ^ (W[t - 2] >> 10);
        W[t] = W[t - 16] + s0 + W[t - 7] + s1;
    }
    a = H[0]; b = H[1]; c = H[2]; d = H[3]; e = H[4]; f = H[5]; g = H[6]; h = H[7];
    for (t = 0; t < 64; t++) {
        uint32_t S1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
        uint32_t ch = (e & f) ^ (~e & g);
        uint32_t T1 = h + S1 + ch + K[t] + W[t];
        uint32_t S0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22);
        uint32_t maj = (a & b) ^ (a & c) ^ (b & c);
        uint32_t T2 = S0 + maj;
        h = g; g = f; f = e; e = d + T1; d = c; c = b; b = a; a = T1 + T2;
    }
    H[0] += a; H[1] += b; H[2] += c; H[3] += d; H[4] += e; H[5] += f; H[6] += g; H[7] += h;
}

/* FIPS 180-4 5.3.3 initial hash value. */
void sha256_init(Sha256 *s) {
    static const uint32_t H0[8] = {0x6a09e667u, 0xbb67ae85u, 0x3c6ef372u, 0xa54ff53au,
                                   0x510e527fu, 0x9b05688cu, 0x1f83d9abu, 0x5be0cd19u};
    memcpy(s->state, H0, sizeof H0);
    s->bit_count = 0;
    s->block_used = 0;
}

/* Absorbs len bytes; any split of the message into updates gives the same digest. */
void sha256_update(Sha256 *s, const void *data, size_t len) {
    const unsigned char *p = (const unsigned char *)data;
    s->bit_count += (uint64_t)len * 8u; /* modulo 2^64 as the padding field is 64 bits */
    while (len > 0) {
        if (s->block_used == 0 && len >= 64) {
            sha256_block(s->state, p);
            p += 64;
            len -= 64;
        } else {
            size_t take = 64 - s->block_used;
            if (take > len) take = len;
            memcpy(s->block + s->block_used, p, take);
            s->block_used += take;
            p += take;
            len -= take;
            if (s->block_used == 64) {
                sha256_block(s->state, s->block);
                s->block_used = 0;
            }
        }
    }
}

/* Pads (a 1 bit, zeros, 64-bit big-endian bit length; 5.1.1) and writes the
 * big-endian digest. The context must be re-initialised before reuse. */
void sha256_final(Sha256 *s, unsigned char digest[32]) {
    uint64_t bits = s->bit_count;
    int i;
    s->block[s->block_used++] = 0x80;
    if (s->block_used > 56) {
        memset(s->block + s->block_used, 0, 64 - s->block_used);
        sha256_block(s->state, s->block);
        s->block_used = 0;
    }
    memset(s->block + s->block_used, 0, 56 - s->block_used);
    for (i = 0; i < 8; i++) s->block[56 + i] = (unsigned char)(bits >> (56 - 8 * i));
    sha256_block(s->state, s->block);
    for (i = 0; i < 8; i++) {
        digest[4 * i] = (unsigned char)(s->state[i] >> 24);
        digest[4 * i + 1] = (unsigned char)(s->state[i] >> 16);
        digest[4 * i + 2] = (unsigned char)(s->state[i] >> 8);
        digest[4 * i + 3] = (unsigned char)s->state[i];
    }
    s->block_used = 0;
}

static void to_hex(const unsigned char d[32], char hex[65]) {
    static const char digits[] = "0123456789abcdef";
    int i;
    for (i = 0; i < 32; i++) {
        hex[2 * i] = digits[d[i] >> 4];
        hex[2 * i + 1] = digits[d[i] & 15];
    }
    hex[64] = '\0';
}

/* One-shot digest of a buffer as lowercase hex. */
void sha256_hex(const void *data, size_t len, char hex[65]) {
    Sha256 s;
    unsigned char d[32];
    sha256_init(&s);
    sha256_update(&s, data, len);
    sha256_final(&s, d);
    to_hex(d, hex);
}

/* Streams the file in 16 KiB chunks (stack buffer: reentrant), so model files of any size need no big buffer. */
int sha256_file_hex(const char *path, char hex[65], Error *err) {
    unsigned char buf[16384];
    Sha256 s;
    unsigned char d[32];
    FILE *f;
    size_t got;
    hex[0] = '\0';
    if (is_directory(path)) return error_set(err, "%s: is a directory, not a file", path);
    f = fopen(path, "rb");
    if (!f) return error_set(err, "%s: cannot open: %s", path, strerror(errno));
    sha256_init(&s);
    while ((got = fread(buf, 1, sizeof buf, f)) > 0) sha256_update(&s, buf, got);
    if (ferror(f)) {
        fclose(f);
        return error_set(err, "%s: read error", path);
    }
    fclose(f);
    sha256_final(&s, d);
    to_hex(d, hex);
    return 0;
}
