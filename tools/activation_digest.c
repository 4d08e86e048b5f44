/* activation_digest.c - dev tool: a digest of the activations' outputs on every float.
 *
 * Runs gelu_erf and gelu_tanh (kernels.h) on all 2^32 float bit patterns, in chunks of
 * 65536, under the kernels named on the command line, and prints one 64-bit FNV-1a digest
 * of the outputs' bits per function. Two builds whose digests agree compute the same bits
 * on every input: the check that a rewrite of an activation (a new loop structure, say)
 * changed only its speed (BENCHMARKS.md, session 16: gelu_erf in passes). About 10 s per
 * copy and function. Not part of `make test` (it has no reference of its own: compare
 * two builds, the one before a change and the one after).
 *
 *   make && cc -std=c99 -O2 -I. -o activation_digest tools/activation_digest.c \
 *       build/libcleanup.a -lm -fopenmp && ./activation_digest baseline avx2 avx512
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"

#define CHUNK 65536

/* FNV-1a over the bits of f's outputs on every float, in bit-pattern order. */
static uint64_t digest(void (*f)(float *, size_t), float *buf) {
    uint64_t h = 1469598103934665603ull, b;
    size_t i;
    for (b = 0; b < ((uint64_t)1 << 32); b += CHUNK) {
        for (i = 0; i < CHUNK; i++) {
            const uint32_t bits = (uint32_t)(b + i);
            memcpy(&buf[i], &bits, sizeof bits);
        }
        f(buf, CHUNK);
        for (i = 0; i < CHUNK; i++) {
            uint32_t bits;
            memcpy(&bits, &buf[i], sizeof bits);
            h = (h ^ bits) * 1099511628211ull;
        }
    }
    return h;
}

int main(int argc, char **argv) {
    float *buf = malloc(CHUNK * sizeof *buf);
    int k;
    if (!buf || argc < 2) {
        fprintf(stderr, "usage: activation_digest KERNELS... (baseline, avx2, avx512)\n");
        return 1;
    }
    for (k = 1; k < argc; k++) {
        if (kernels_use(argv[k]) != 0) {
            printf("%s: not available here\n", argv[k]);
            continue;
        }
        printf("%s: gelu_erf %016llx gelu_tanh %016llx\n", kernels_name(), (unsigned long long)digest(gelu_erf, buf),
               (unsigned long long)digest(gelu_tanh, buf));
        fflush(stdout);
    }
    free(buf);
    return 0;
}
