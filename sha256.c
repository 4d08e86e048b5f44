/* sha256.c - SHA-256 as specified in FIPS 180-4 (section 6.2), own implementation.
 * Message words are read big-endian byte by byte, so the code is independent of
 * the host's byte order. */
#include "sha256.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* x86-64 SHA extensions (SHA-NI): an optional fast path, compiled only with
 * gcc or clang on x86-64 and used only when CPUID reports them at run time;
 * everywhere else (and with -DSHA256_PORTABLE_ONLY) the portable C below is
 * the only code. tests/test_sha256.c runs every vector through both. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(SHA256_PORTABLE_ONLY)
#define SHA256_HAVE_SHA_NI 1
#include <cpuid.h>
#include <immintrin.h>
#endif

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

static inline uint32_t rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }
static inline uint32_t be32(const unsigned char *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}
/* FIPS 180-4 4.1.2, functions (4.4)-(4.7). The big sigmas are nested
 * (rotr(x,2)^rotr(x,13)^rotr(x,22) = rotr(rotr(rotr(x,9)^x,11)^x,2)): same
 * value, one live temporary, measurably faster with clang. */
static inline uint32_t big_sigma0(uint32_t x) { return rotr(rotr(rotr(x, 9) ^ x, 11) ^ x, 2); }
static inline uint32_t big_sigma1(uint32_t x) { return rotr(rotr(rotr(x, 14) ^ x, 5) ^ x, 6); }
static inline uint32_t small_sigma0(uint32_t x) { return rotr(x, 7) ^ rotr(x, 18) ^ (x >> 3); }
static inline uint32_t small_sigma1(uint32_t x) { return rotr(x, 17) ^ rotr(x, 19) ^ (x >> 10); }

/* One round of FIPS 180-4 6.2.2 step 3 on the working variables a..h, with
 * kw = K[t] + W[t]. Instead of shifting all eight variables (h = g, g = f, ...),
 * it updates only d and h in place; the caller passes the variables rotated by
 * one position for each successive round, so after 8 rounds they are back in
 * place. Ch is computed as g ^ (e & (f ^ g)) and Maj as b ^ ((a ^ b) & (b ^ c)),
 * the same functions with fewer operations. Inline: with pointer arguments a
 * call that is not inlined would force d and h into memory (gcc -O2 does not
 * inline 64 calls unasked). */
static inline void sha256_round(uint32_t a, uint32_t b, uint32_t c, uint32_t *d, uint32_t e, uint32_t f, uint32_t g,
                                uint32_t *h, uint32_t kw) {
    uint32_t t1 = *h + big_sigma1(e) + (g ^ (e & (f ^ g))) + kw;
    uint32_t t2 = big_sigma0(a) + (b ^ ((a ^ b) & (b ^ c)));
    *d += t1;
    *h = t1 + t2;
}

/* Message schedule (FIPS 180-4 6.2.2 step 1) in a rolling window of 16 words:
 * for round t >= 16, W[t mod 16] holds W[t-16] and becomes W[t]. j = t mod 16. */
static inline uint32_t next_w(uint32_t W[16], int j) {
    W[j] += small_sigma1(W[(j + 14) & 15]) + W[(j + 9) & 15] + small_sigma0(W[(j + 1) & 15]);
    return W[j];
}

/* Processes one 64-byte block (FIPS 180-4 6.2.2). Written out 16 rounds at a
 * time so every window index is a constant and the working variables rotate by
 * renaming instead of the textbook's per-round shuffle and 64-word schedule
 * (1.2x faster with gcc -O2, 1.4x with clang, than the textbook loop). */
static void sha256_block(uint32_t H[8], const unsigned char *p) {
    uint32_t W[16], a = H[0], b = H[1], c = H[2], d = H[3], e = H[4], f = H[5], g = H[6], h = H[7];
    int t;
    for (t = 0; t < 16; t++) W[t] = be32(p + 4 * t);
    sha256_round(a, b, c, &d, e, f, g, &h, K[0] + W[0]);
    sha256_round(h, a, b, &c, d, e, f, &g, K[1] + W[1]);
    sha256_round(g, h, a, &b, c, d, e, &f, K[2] + W[2]);
    sha256_round(f, g, h, &a, b, c, d, &e, K[3] + W[3]);
    sha256_round(e, f, g, &h, a, b, c, &d, K[4] + W[4]);
    sha256_round(d, e, f, &g, h, a, b, &c, K[5] + W[5]);
    sha256_round(c, d, e, &f, g, h, a, &b, K[6] + W[6]);
    sha256_round(b, c, d, &e, f, g, h, &a, K[7] + W[7]);
    sha256_round(a, b, c, &d, e, f, g, &h, K[8] + W[8]);
    sha256_round(h, a, b, &c, d, e, f, &g, K[9] + W[9]);
    sha256_round(g, h, a, &b, c, d, e, &f, K[10] + W[10]);
    sha256_round(f, g, h, &a, b, c, d, &e, K[11] + W[11]);
    sha256_round(e, f, g, &h, a, b, c, &d, K[12] + W[12]);
    sha256_round(d, e, f, &g, h, a, b, &c, K[13] + W[13]);
    sha256_round(c, d, e, &f, g, h, a, &b, K[14] + W[14]);
    sha256_round(b, c, d, &e, f, g, h, &a, K[15] + W[15]);
    for (t = 16; t < 64; t += 16) {
        sha256_round(a, b, c, &d, e, f, g, &h, K[t + 0] + next_w(W, 0));
        sha256_round(h, a, b, &c, d, e, f, &g, K[t + 1] + next_w(W, 1));
        sha256_round(g, h, a, &b, c, d, e, &f, K[t + 2] + next_w(W, 2));
        sha256_round(f, g, h, &a, b, c, d, &e, K[t + 3] + next_w(W, 3));
        sha256_round(e, f, g, &h, a, b, c, &d, K[t + 4] + next_w(W, 4));
        sha256_round(d, e, f, &g, h, a, b, &c, K[t + 5] + next_w(W, 5));
        sha256_round(c, d, e, &f, g, h, a, &b, K[t + 6] + next_w(W, 6));
        sha256_round(b, c, d, &e, f, g, h, &a, K[t + 7] + next_w(W, 7));
        sha256_round(a, b, c, &d, e, f, g, &h, K[t + 8] + next_w(W, 8));
        sha256_round(h, a, b, &c, d, e, f, &g, K[t + 9] + next_w(W, 9));
        sha256_round(g, h, a, &b, c, d, e, &f, K[t + 10] + next_w(W, 10));
        sha256_round(f, g, h, &a, b, c, d, &e, K[t + 11] + next_w(W, 11));
        sha256_round(e, f, g, &h, a, b, c, &d, K[t + 12] + next_w(W, 12));
        sha256_round(d, e, f, &g, h, a, b, &c, K[t + 13] + next_w(W, 13));
        sha256_round(c, d, e, &f, g, h, a, &b, K[t + 14] + next_w(W, 14));
        sha256_round(b, c, d, &e, f, g, h, &a, K[t + 15] + next_w(W, 15));
    }
    H[0] += a; H[1] += b; H[2] += c; H[3] += d; H[4] += e; H[5] += f; H[6] += g; H[7] += h;
}

#ifdef SHA256_HAVE_SHA_NI
/* The same compression (FIPS 180-4 6.2.2) of n consecutive blocks with the
 * SHA-NI instructions. The state lives in two registers as (A,B,E,F) and
 * (C,D,G,H), the layout SHA256RNDS2 works on; each iteration of the round
 * loop does 4 rounds with message words W[4i..4i+3] (x), extended for i >= 4
 * from the previous 16 words kept in X (SHA256MSG1/MSG2 compute the sigma
 * terms of 6.2.2 step 1). */
__attribute__((target("sha,ssse3,sse4.1"))) static void sha256_blocks_sha_ni(uint32_t H[8], const unsigned char *p,
                                                                             size_t n) {
    const __m128i bswap = _mm_set_epi8(12, 13, 14, 15, 8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3);
    __m128i dcba = _mm_loadu_si128((const __m128i *)(const void *)&H[0]);
    __m128i hgfe = _mm_loadu_si128((const __m128i *)(const void *)&H[4]);
    __m128i cdab = _mm_shuffle_epi32(dcba, 0xB1);
    __m128i efgh = _mm_shuffle_epi32(hgfe, 0x1B);
    __m128i abef = _mm_alignr_epi8(cdab, efgh, 8);
    __m128i cdgh = _mm_blend_epi16(efgh, cdab, 0xF0);
    __m128i X[4], x, wk, abef_in, cdgh_in;
    int i;
    for (; n > 0; n--, p += 64) {
        abef_in = abef;
        cdgh_in = cdgh;
        for (i = 0; i < 16; i++) {
            if (i < 4)
                x = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p + 16 * i)), bswap);
            else /* X[i & 3] holds W[4i-16..], X[(i-3) & 3] W[4i-12..], ... */
                x = _mm_sha256msg2_epu32(_mm_add_epi32(_mm_sha256msg1_epu32(X[i & 3], X[(i - 3) & 3]),
                                                       _mm_alignr_epi8(X[(i - 1) & 3], X[(i - 2) & 3], 4)),
                                         X[(i - 1) & 3]);
            X[i & 3] = x;
            wk = _mm_add_epi32(x, _mm_loadu_si128((const __m128i *)(const void *)&K[4 * i]));
            cdgh = _mm_sha256rnds2_epu32(cdgh, abef, wk);                         /* rounds 4i, 4i+1 */
            abef = _mm_sha256rnds2_epu32(abef, cdgh, _mm_shuffle_epi32(wk, 0x0E)); /* rounds 4i+2, 4i+3 */
        }
        abef = _mm_add_epi32(abef, abef_in);
        cdgh = _mm_add_epi32(cdgh, cdgh_in);
    }
    {
        __m128i feba = _mm_shuffle_epi32(abef, 0x1B);
        __m128i dchg = _mm_shuffle_epi32(cdgh, 0xB1);
        _mm_storeu_si128((__m128i *)(void *)&H[0], _mm_blend_epi16(feba, dchg, 0xF0));
        _mm_storeu_si128((__m128i *)(void *)&H[4], _mm_alignr_epi8(dchg, feba, 8));
    }
}

/* 1 if the CPU has the SHA extensions and SSSE3/SSE4.1 (CPUID leaf 7 EBX bit 29,
 * leaf 1 ECX bits 9 and 19). */
static int cpu_has_sha_ni(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 9)) || !(c & (1u << 19))) return 0;
    if (__get_cpuid_max(0, NULL) < 7) return 0;
    __cpuid_count(7, 0, a, b, c, d);
    return (b & (1u << 29)) != 0;
}
#endif

/* 0 forces the portable code (sha256_use_accel). Set by tests only, before hashing. */
static int accel_allowed = 1;

int sha256_use_accel(int enable) {
    accel_allowed = enable;
#ifdef SHA256_HAVE_SHA_NI
    return enable && cpu_has_sha_ni();
#else
    return 0;
#endif
}

int sha256_accelerated(void) {
#ifdef SHA256_HAVE_SHA_NI
    return accel_allowed && cpu_has_sha_ni();
#else
    return 0;
#endif
}

/* n consecutive 64-byte blocks through the path chosen at sha256_init. */
static void sha256_blocks(Sha256 *s, const unsigned char *p, size_t n) {
#ifdef SHA256_HAVE_SHA_NI
    if (s->accel) {
        sha256_blocks_sha_ni(s->state, p, n);
        return;
    }
#endif
    for (; n > 0; n--, p += 64) sha256_block(s->state, p);
}

/* FIPS 180-4 5.3.3 initial hash value. */
void sha256_init(Sha256 *s) {
    static const uint32_t H0[8] = {0x6a09e667u, 0xbb67ae85u, 0x3c6ef372u, 0xa54ff53au,
                                   0x510e527fu, 0x9b05688cu, 0x1f83d9abu, 0x5be0cd19u};
    memcpy(s->state, H0, sizeof H0);
    s->bit_count = 0;
    s->block_used = 0;
#ifdef SHA256_HAVE_SHA_NI
    s->accel = accel_allowed && cpu_has_sha_ni();
#else
    s->accel = 0;
#endif
}

/* Absorbs len bytes; any split of the message into updates gives the same digest. */
void sha256_update(Sha256 *s, const void *data, size_t len) {
    const unsigned char *p = (const unsigned char *)data;
    s->bit_count += (uint64_t)len * 8u; /* modulo 2^64 as the padding field is 64 bits */
    while (len > 0) {
        if (s->block_used == 0 && len >= 64) {
            size_t n = len / 64;
            sha256_blocks(s, p, n);
            p += 64 * n;
            len -= 64 * n;
        } else {
            size_t take = 64 - s->block_used;
            if (take > len) take = len;
            memcpy(s->block + s->block_used, p, take);
            s->block_used += take;
            p += take;
            len -= take;
            if (s->block_used == 64) {
                sha256_blocks(s, s->block, 1);
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
        sha256_blocks(s, s->block, 1);
        s->block_used = 0;
    }
    memset(s->block + s->block_used, 0, 56 - s->block_used);
    for (i = 0; i < 8; i++) s->block[56 + i] = (unsigned char)(bits >> (56 - 8 * i));
    sha256_blocks(s, s->block, 1);
    for (i = 0; i < 8; i++) {
        digest[4 * i] = (unsigned char)(s->state[i] >> 24);
        digest[4 * i + 1] = (unsigned char)(s->state[i] >> 16);
        digest[4 * i + 2] = (unsigned char)(s->state[i] >> 8);
        digest[4 * i + 3] = (unsigned char)s->state[i];
    }
    s->block_used = 0;
}

/* Finishes s (as sha256_final) and writes the digest as lowercase hex. */
void sha256_final_hex(Sha256 *s, char hex[65]) {
    static const char digits[] = "0123456789abcdef";
    unsigned char d[32];
    int i;
    sha256_final(s, d);
    for (i = 0; i < 32; i++) {
        hex[2 * i] = digits[d[i] >> 4];
        hex[2 * i + 1] = digits[d[i] & 15];
    }
    hex[64] = '\0';
}

/* One-shot digest of a buffer as lowercase hex. */
void sha256_hex(const void *data, size_t len, char hex[65]) {
    Sha256 s;
    sha256_init(&s);
    sha256_update(&s, data, len);
    sha256_final_hex(&s, hex);
}

/* Streams the file in 16 KiB chunks (stack buffer: reentrant), so model files of any size need no big buffer. */
int sha256_file_hex(const char *path, char hex[65], Error *err) {
    unsigned char buf[16384];
    Sha256 s;
    FILE *f;
    size_t got;
    const MemFile *mf = memdir_file(path);
    hex[0] = '\0';
    if (mf) {
        sha256_hex(mf->data, mf->len, hex);
        return 0;
    }
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
    sha256_final_hex(&s, hex);
    return 0;
}
