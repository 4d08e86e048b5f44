/* kernels_baseline.c - the math kernels (kernels.h), compiled for the
 * build's baseline instruction set (x86-64: SSE2) into the table
 * `kernels_baseline`. kernels_avx2.c compiles this same file again for
 * AVX2 + FMA into `kernels_avx2`, kernels_avx512.c for AVX-512 into
 * `kernels_avx512` (16-float vectors, a 12 x 32 tile); kernels.c picks one
 * at run time.
 *
 * matmul: a cache-blocked sgemm in portable C99 (the BLIS loop structure: pack
 * a KC x NC panel of w and an MC x KC block of a, then run an MR x NR register
 * tile micro-kernel written so gcc and clang vectorize it).
 *
 * Determinism. Every output element is computed as ONE sequential chain
 *     acc = 0; for k = 0..K-1: acc = madd(a[i,k], w[k,j], acc); out = acc (+ bias[j])
 * in float, whatever the blocking, the tile sizes or the thread count: the K
 * blocks are visited in order and the partial sum is carried through `out`
 * (a float, like the register it came from). Threads split only the output
 * rows or columns. So the result is bit-identical for any number of threads,
 * and the simple row loop used for small products gives the same bits too.
 * madd is the expression a*b + c; whether it is fused is the compiler's
 * choice, the same in every path of one compilation: bits can differ between
 * builds and between the baseline and AVX2+FMA tables (FMA rounds once),
 * never between thread counts. The AVX2 and AVX-512 tables both fuse every
 * madd, so their matmul chains are the same operations in the same order
 * whatever the tile: the same bits (the other kernels compute in double and
 * have agreed too, but nothing forces the compiler to contract them alike).
 */
/* Not kernels.h: the entry points here are static, reached through the table. */
#include "kernels_impl.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* ---- multiply-add ------------------------------------------------------ */

/* c + a*b written as one expression everywhere (the plain loop, both
 * micro-kernels), so a compiler that contracts it into a fused multiply-add
 * (clang with FMA hardware) does so in every path and one build is
 * self-consistent; gcc in ISO C mode never contracts. */
static inline float madd(float a, float b, float c) {
    return a * b + c;
}

/* ---- sgemm ------------------------------------------------------------- */

/* Register tile MR x NR = 6 rows x 2 vectors of VL floats: 12 vector
 * accumulators + 2 for the w row + 1 broadcast fit 16 vector registers
 * (AVX: 6 x 16 floats; SSE2/NEON: 6 x 8). With AVX-512 (32 vector
 * registers, 16 floats each) the tile is MR_WIDE rows x NRV_WIDE vectors
 * (see micro_kernel). */
#if defined(__AVX512F__)
#define VL 16
#elif defined(__AVX__)
#define VL 8
#else
#define VL 4
#endif
#if VL == 16
#ifndef MR_WIDE
#define MR_WIDE 12
#endif
#ifndef NRV_WIDE
#define NRV_WIDE 2
#endif
#define MR MR_WIDE
#define NR (NRV_WIDE * VL)
#else
#define MR 6
#define NR (2 * VL)
#endif
/* Cache blocks: the MR x KC sliver of packed a (12 KB with AVX) stays in L1
 * while the KC x NR sliver of packed w (32 KB) streams from L2, the MC x KC
 * block of a stays in L2, the KC x NC panel of w in L2/L3. MC is a multiple
 * of MR, NC of NR. Measured on Zen 3 (32 KB L1d, 512 KB L2) with AVX2 on
 * gelu-4l's shapes, 1 thread: KC = 512, MC = 48, NC = 1024 beat BLIS-like
 * KC = 256, MC = 96, NC = 2048 by 10-20% (half the passes over the output
 * tiles). */
/* The AVX-512 copy uses the same blocks (MC is a multiple of its 12 rows too):
 * on Zen 5 (48 KB L1d, 1 MB L2 per core) NC = 512 (the w panel in L2), MC = 96
 * or 144, KC = 256 measured within the noise of these (a shared host, +-5%). */
#define KC 512
#define MC 48
#define NC 1024
/* Floats stored per element of packed a: VL (each one already broadcast to a
 * whole vector) on x86 without AVX, where SSE has no load-and-broadcast and
 * each broadcast costs a shuffle on the pipes the multiplies need (measured:
 * the SSE2 micro-kernel is shuffle-bound without it); 1 elsewhere. */
#if defined(__GNUC__) && !defined(KERNELS_PORTABLE) && defined(__SSE2__) && !defined(__AVX__)
#define APV VL
#else
#define APV 1
#endif

/* Below this many multiply-adds a product runs on one thread with the plain loop. */
#define SMALL_MACS (64L * 64 * 64)

/* Every product reads a[i,k] at a[i * ars + k * acs]: a stored row by row
 * (ars = its row stride, acs = 1) or transposed, column by column (ars = 1, acs =
 * the row stride of the transpose; matmul_at). */

/* The plain loop, for small products and as a fallback when memory for the
 * packed panels is short: rows [m0,m1), columns [n0,n1) (with add: out += the product,
 * bias NULL). Same chains as the blocked path, so the same bits. */
static void gemm_rows(float *out, int ldo, const float *a, size_t ars, size_t acs, const float *w, int ldw,
                      const float *bias, int add, int m0, int m1, int n0, int n1, int K) {
    int i, j, k;
    for (i = m0; i < m1; i++) {
        float *restrict o = out + (size_t)i * ldo;
        const float *ai = a + (size_t)i * ars;
        if (add) { /* out += the chains: each chain in a column block of acc first */
            float acc[256];
            int j0, nj;
            for (j0 = n0; j0 < n1; j0 += nj) {
                nj = n1 - j0 < 256 ? n1 - j0 : 256;
                for (j = 0; j < nj; j++) acc[j] = 0.0f;
                for (k = 0; k < K; k++) {
                    const float aik = ai[(size_t)k * acs];
                    const float *restrict wk = w + (size_t)k * ldw + j0;
                    for (j = 0; j < nj; j++) acc[j] = madd(aik, wk[j], acc[j]);
                }
                for (j = 0; j < nj; j++) o[j0 + j] = o[j0 + j] + acc[j];
            }
            continue;
        }
        for (j = n0; j < n1; j++) o[j] = 0.0f;
        for (k = 0; k < K; k++) {
            const float aik = ai[(size_t)k * acs];
            const float *restrict wk = w + (size_t)k * ldw;
            for (j = n0; j < n1; j++) o[j] = madd(aik, wk[j], o[j]);
        }
        if (bias)
            for (j = n0; j < n1; j++) o[j] = o[j] + bias[j];
    }
}

/* Packs rows [0,kc) x cols [0,nc) of w (row stride ldw) into NR-column slivers:
 * bp[(jr/NR)*kc*NR + p*NR + j] = w[p, jr+j], columns past nc padded with zeros. */
static void pack_b(float *restrict bp, const float *w, int ldw, int kc, int nc) {
    const int nfull = nc / NR * NR;
    int jr, j, p, p0;
    /* Eight rows at a time: w is read as eight sequential streams, and each
     * sliver gets eight consecutive rows. (Row by row, the lines written for
     * one row are kc*NR floats apart, a multiple of 4 KB for kc a multiple
     * of 64: they all fall into one L1 set and evict each other; measured
     * 2.5-3x slower on Zen 3.) */
    for (p0 = 0; p0 < kc; p0 += 8) {
        const int p1 = kc - p0 < 8 ? kc : p0 + 8;
        for (jr = 0; jr < nfull; jr += NR)
            for (p = p0; p < p1; p++) /* constant size: inlined (gcc made the loop a memmove call) */
                memcpy(bp + (size_t)jr * kc + (size_t)p * NR, w + (size_t)p * ldw + jr, NR * sizeof(float));
        if (nfull < nc)
            for (p = p0; p < p1; p++) {
                const float *src = w + (size_t)p * ldw + nfull;
                float *restrict d = bp + (size_t)nfull * kc + (size_t)p * NR;
                for (j = 0; j < nc - nfull; j++) d[j] = src[j];
                for (; j < NR; j++) d[j] = 0.0f;
            }
    }
}

/* ---- transposition ------------------------------------------------------ */

/* Whether the 4 x 4 transposition below is compiled (gcc 12 and clang have the builtin). */
#if defined(__GNUC__) && !defined(KERNELS_PORTABLE) && defined(__has_builtin)
#if __has_builtin(__builtin_shufflevector)
#define TRANSPOSE_4X4 1
#endif
#endif

#ifdef TRANSPOSE_4X4
typedef float v4f __attribute__((vector_size(4 * sizeof(float))));

/* dst[c * ldd + r] = src[r * lds + c] for r, c < 4: four loads, eight shuffles, four stores. */
static inline void transpose_4x4(float *dst, size_t ldd, const float *src, size_t lds) {
    v4f r0, r1, r2, r3, t0, t1, t2, t3, c;
    memcpy(&r0, src, sizeof r0);
    memcpy(&r1, src + lds, sizeof r1);
    memcpy(&r2, src + 2 * lds, sizeof r2);
    memcpy(&r3, src + 3 * lds, sizeof r3);
    t0 = __builtin_shufflevector(r0, r1, 0, 4, 1, 5); /* r0[0] r1[0] r0[1] r1[1] */
    t1 = __builtin_shufflevector(r0, r1, 2, 6, 3, 7); /* r0[2] r1[2] r0[3] r1[3] */
    t2 = __builtin_shufflevector(r2, r3, 0, 4, 1, 5);
    t3 = __builtin_shufflevector(r2, r3, 2, 6, 3, 7);
    c = __builtin_shufflevector(t0, t2, 0, 1, 4, 5);
    memcpy(dst, &c, sizeof c);
    c = __builtin_shufflevector(t0, t2, 2, 3, 6, 7);
    memcpy(dst + ldd, &c, sizeof c);
    c = __builtin_shufflevector(t1, t3, 0, 1, 4, 5);
    memcpy(dst + 2 * ldd, &c, sizeof c);
    c = __builtin_shufflevector(t1, t3, 2, 3, 6, 7);
    memcpy(dst + 3 * ldd, &c, sizeof c);
}
#endif

#if defined(TRANSPOSE_4X4) && VL >= 8
/* The 8 x 8 block by 256-bit shuffles, where the copy has them (AVX2, AVX-512). */
#define TRANSPOSE_8X8 1
typedef float v8f __attribute__((vector_size(8 * sizeof(float))));

/* dst[c * ldd + r] = src[r * lds + c] for r, c < 8: eight loads, 24 shuffles, eight
 * stores (three rounds of interleaving: pairs of rows, pairs of pairs, halves). */
static inline void transpose_8x8(float *dst, size_t ldd, const float *src, size_t lds) {
    v8f r[8], t[8], u[8], c;
    int i;
    for (i = 0; i < 8; i++) memcpy(&r[i], src + (size_t)i * lds, sizeof r[i]);
    for (i = 0; i < 8; i += 2) {
        t[i] = __builtin_shufflevector(r[i], r[i + 1], 0, 8, 1, 9, 4, 12, 5, 13);     /* columns 0 1 4 5 */
        t[i + 1] = __builtin_shufflevector(r[i], r[i + 1], 2, 10, 3, 11, 6, 14, 7, 15); /* columns 2 3 6 7 */
    }
    for (i = 0; i < 8; i += 4) {
        u[i] = __builtin_shufflevector(t[i], t[i + 2], 0, 1, 8, 9, 4, 5, 12, 13);         /* columns 0, 4 */
        u[i + 1] = __builtin_shufflevector(t[i], t[i + 2], 2, 3, 10, 11, 6, 7, 14, 15);   /* columns 1, 5 */
        u[i + 2] = __builtin_shufflevector(t[i + 1], t[i + 3], 0, 1, 8, 9, 4, 5, 12, 13); /* columns 2, 6 */
        u[i + 3] = __builtin_shufflevector(t[i + 1], t[i + 3], 2, 3, 10, 11, 6, 7, 14, 15); /* columns 3, 7 */
    }
    for (i = 0; i < 4; i++) {
        c = __builtin_shufflevector(u[i], u[i + 4], 0, 1, 2, 3, 8, 9, 10, 11);
        memcpy(dst + (size_t)i * ldd, &c, sizeof c);
        c = __builtin_shufflevector(u[i], u[i + 4], 4, 5, 6, 7, 12, 13, 14, 15);
        memcpy(dst + (size_t)(i + 4) * ldd, &c, sizeof c);
    }
}
#endif

/* dst[c * ldd + r] = src[r * lds + c] for r < rows, c < cols (a plain copy, so every
 * path gives the same bits). In blocks of 16 rows of src, so that each row of dst gets a
 * whole cache line at a time; where compiled, 8 x 8 and 4 x 4 blocks by vector shuffles
 * (element by element, each load or store of a strided transposition was one
 * instruction), down to a block's last multiple of 4 rows (pack_a's blocks are 12). */
static void transpose_rows(float *restrict dst, size_t ldd, const float *restrict src, size_t lds, int rows, int cols) {
    int r0, r1, r, c;
    for (r0 = 0; r0 < rows; r0 = r1) {
        r1 = rows - r0 < 16 ? rows : r0 + 16;
        c = 0;
#ifdef TRANSPOSE_4X4
        if ((r1 - r0) % 4 == 0) {
#ifdef TRANSPOSE_8X8
            for (; c + 8 <= cols; c += 8) {
                for (r = r0; r + 8 <= r1; r += 8)
                    transpose_8x8(dst + (size_t)c * ldd + r, ldd, src + (size_t)r * lds + c, lds);
                for (; r < r1; r += 4) {
                    transpose_4x4(dst + (size_t)c * ldd + r, ldd, src + (size_t)r * lds + c, lds);
                    transpose_4x4(dst + (size_t)(c + 4) * ldd + r, ldd, src + (size_t)r * lds + c + 4, lds);
                }
            }
#endif
            for (; c + 4 <= cols; c += 4)
                for (r = r0; r < r1; r += 4) transpose_4x4(dst + (size_t)c * ldd + r, ldd, src + (size_t)r * lds + c, lds);
        }
#endif
        for (; c < cols; c++)
            for (r = r0; r < r1; r++) dst[(size_t)c * ldd + r] = src[(size_t)r * lds + c];
    }
}

static void transpose_kernel(float *dst, int ldd, const float *src, int lds, int rows, int cols) {
    transpose_rows(dst, (size_t)ldd, src, (size_t)lds, rows, cols);
}

/* Packs rows [0,mc) x cols [0,kc) of a (a[i,p] at a[i * ars + p * acs]) into MR-row slivers:
 * ap[((ir/MR)*kc*MR + p*MR + i)*APV + l] = a[ir+i, p] for l < APV, rows past
 * mc padded with zeros. The micro-kernel then reads one sequential stream of a
 * instead of MR rows lda apart (with lda a multiple of 1 KB those rows fall
 * into the same few L1 sets and evict each other and the packed w). */
static void pack_a(float *restrict ap, const float *a, size_t ars, size_t acs, int mc, int kc) {
    const size_t lda = ars;
    int ir, i, p, l;
    if (acs != 1) {
        /* a transposed (ars = 1): each step's MR floats are consecutive, a plain copy
         * (row by row, packing is a transposition: a quarter of the time of a product
         * of 64 rows by 64 columns, measured) */
        for (ir = 0; ir < mc; ir += MR) {
            const int mr = mc - ir < MR ? mc - ir : MR;
            float *restrict d = ap + (size_t)ir * kc * APV;
            for (p = 0; p < kc; p++) {
                const float *src = a + (size_t)p * acs + ir; /* ars is 1 */
                if (mr == MR && APV == 1)
                    memcpy(d + (size_t)p * MR, src, MR * sizeof(float));
                else
                    for (i = 0; i < MR; i++)
                        for (l = 0; l < APV; l++) d[((size_t)p * MR + i) * APV + l] = i < mr ? src[i] : 0.0f;
            }
        }
        return;
    }
    for (ir = 0; ir < mc; ir += MR) {
        const int mr = mc - ir < MR ? mc - ir : MR;
        float *restrict d = ap + (size_t)ir * kc * APV;
        const float *src = a + (size_t)ir * lda;
#if MR != 6
        if (mr == MR && APV == 1) {
            /* the MR x kc block transposed: MR sequential streams of a */
            transpose_rows(d, MR, src, lda, MR, kc);
        } else if (mr == MR) {
            for (p = 0; p < kc; p++)
                for (i = 0; i < MR; i++)
                    for (l = 0; l < APV; l++) d[((size_t)p * MR + i) * APV + l] = src[(size_t)i * lda + p];
        } else
#else
        if (mr == MR) {
            const float *r0 = src, *r1 = src + lda, *r2 = r1 + lda, *r3 = r2 + lda, *r4 = r3 + lda, *r5 = r4 + lda;
            for (p = 0; p < kc; p++) {
                float *restrict dp = d + (size_t)p * MR * APV;
                for (l = 0; l < APV; l++) {
                    dp[0 * APV + l] = r0[p];
                    dp[1 * APV + l] = r1[p];
                    dp[2 * APV + l] = r2[p];
                    dp[3 * APV + l] = r3[p];
                    dp[4 * APV + l] = r4[p];
                    dp[5 * APV + l] = r5[p];
                }
            }
        } else
#endif
        {
            for (p = 0; p < kc; p++)
                for (i = 0; i < MR; i++)
                    for (l = 0; l < APV; l++)
                        d[((size_t)p * MR + i) * APV + l] = i < mr ? src[(size_t)i * lda + p] : 0.0f;
        }
    }
}

/* Floats in a 64-byte cache line (the output prefetch in gemm_blocked asks line by line). */
#define LINE_FLOATS 16

#define CHAIN_START 0
#define CHAIN_CONTINUE 1
#define CHAIN_ADD 2

/* The micro-kernel: the MR x NR tile c (row stride ldc) continues each
 * output's chain over kc steps: for p, c[i][j] = madd(ap[p * as + i], bp[p][j], c[i][j]),
 * ap the MR rows of a, step by step `as` floats apart (the packed MR-row sliver: as =
 * MR; a transposed a read where it is: its row stride), bp the packed NR-column sliver
 * of w. load is CHAIN_START (the chains start from 0: the first K block; c is only
 * written), CHAIN_CONTINUE (from c's values) or CHAIN_ADD (from 0, then c = c + chain:
 * one K block added to what c holds). bias (NULL, or NR floats: the last K block; not
 * with CHAIN_ADD) is added to each row at the end.
 *
 * With gcc or clang it is written with GNU C vector types (not intrinsics: the
 * compiler maps them to SSE, AVX or NEON), because auto-vectorizers keep an
 * accumulator array in registers only for some compiler/flag combinations
 * (measured: 2 to 72 GFLOP/s for the same loop); twelve named vector variables
 * stay in registers at -O2 and -O3 alike. Elsewhere, or with -DKERNELS_PORTABLE
 * (tests/test_kernels_portable.c), the plain C99 loop below computes the same
 * chains. Both give the same bits as gemm_rows. */
#if defined(__GNUC__) && !defined(KERNELS_PORTABLE)
typedef float vfloat __attribute__((vector_size(VL * sizeof(float))));

/* c + a*b lane by lane, as madd. */
static inline vfloat maddv(vfloat a, vfloat b, vfloat c) {
    return a * b + c;
}

/* s in every lane, as an initializer: not `s - zero`, because where float
 * arithmetic is evaluated in a wider type (FLT_EVAL_METHOD 1 on s390x, 2 on
 * x87) gcc widens s in that expression and refuses to narrow it back into a
 * float vector; and not a loop over the lanes, which gcc compiles to a chain
 * of lane inserts. */
#if VL == 4
#define BROADCAST(s) ((vfloat){(s), (s), (s), (s)})
#elif VL == 8
#define BROADCAST(s) ((vfloat){(s), (s), (s), (s), (s), (s), (s), (s)})
#elif VL == 16
#define BROADCAST(s) ((vfloat){(s), (s), (s), (s), (s), (s), (s), (s), (s), (s), (s), (s), (s), (s), (s), (s)})
#else
#error "BROADCAST: no initializer for this VL"
#endif

#if VL == 16
/* The AVX-512 tile: MR rows x NRV_WIDE vectors, each accumulator a named
 * variable c<row><vector> (the same reason as below), spelled out by the
 * macros: WIDE_ROWS(X) applies X to each row index, WIDE_VECS(X, i) to each
 * (row, vector) pair. With 12 x 2 (the default) that is 24 accumulators + 2
 * w vectors + 1 broadcast of the 32 zmm registers, 12 rows sharing each w
 * load (the 6 x 2 tile of 16 registers loads w twice as often per FMA).
 * Same chains as every other path: c[i][j] = madd(a[i][p], w[p][j], c[i][j])
 * for p in order, then + bias[j]. Measured on Zen 5, 1 thread: 12 x 2, 14 x 2,
 * 10 x 2 and 8 x 3 all reach 190-210 GFLOP/s on the big shapes (within the
 * noise of a shared host); 14 x 2 was slower on the unembedding's 256 rows
 * (more padded edge rows) and 8 x 2 slower everywhere. -DMR_WIDE=8|10|14 and
 * -DNRV_WIDE=3 (with 8 rows) build the others, for other machines. */
#if MR_WIDE == 8
#define WIDE_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7)
#elif MR_WIDE == 10
#define WIDE_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9)
#elif MR_WIDE == 12
#define WIDE_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(a) X(b)
#elif MR_WIDE == 14
#define WIDE_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(a) X(b) X(c) X(d)
#else
#error "MR_WIDE: 8, 10, 12 or 14"
#endif
#if NRV_WIDE == 2
#define WIDE_VECS(X, i) X(i, 0) X(i, 1)
#define W_VECS(X) X(0) X(1)
#elif NRV_WIDE == 3
#define WIDE_VECS(X, i) X(i, 0) X(i, 1) X(i, 2)
#define W_VECS(X) X(0) X(1) X(2)
#else
#error "NRV_WIDE: 2 or 3"
#endif
/* Row index digits a-d stand for 10-13 (names c<row><vector> stay two characters). */
#define ROW_0 0
#define ROW_1 1
#define ROW_2 2
#define ROW_3 3
#define ROW_4 4
#define ROW_5 5
#define ROW_6 6
#define ROW_7 7
#define ROW_8 8
#define ROW_9 9
#define ROW_a 10
#define ROW_b 11
#define ROW_c 12
#define ROW_d 13
#define ACC(i, v) c##i##v
#define DECL_ONE(i, v) vfloat ACC(i, v);
#define DECL_ROW(i) WIDE_VECS(DECL_ONE, i)
#define ZERO_ONE(i, v) ACC(i, v) = zero;
#define ZERO_ROW(i) WIDE_VECS(ZERO_ONE, i)
#define LOAD_ONE(i, v) memcpy(&ACC(i, v), c + ROW_##i * ldc + v * VL, vb);
#define LOAD_ROW(i) WIDE_VECS(LOAD_ONE, i)
#define MADD_ONE(i, v) ACC(i, v) = maddv(a, b##v, ACC(i, v));
#define STEP_ROW(i) a = BROADCAST(ap[p * as + ROW_##i]); WIDE_VECS(MADD_ONE, i)
#define BIAS_ONE(i, v) ACC(i, v) = ACC(i, v) + b##v;
#define BIAS_ROW(i) WIDE_VECS(BIAS_ONE, i)
#define ADD_ONE(i, v) memcpy(&old, c + ROW_##i * ldc + v * VL, vb); ACC(i, v) = old + ACC(i, v);
#define ADD_ROW(i) WIDE_VECS(ADD_ONE, i)
#define STORE_ONE(i, v) memcpy(c + ROW_##i * ldc + v * VL, &ACC(i, v), vb);
#define STORE_ROW(i) WIDE_VECS(STORE_ONE, i)
#define DECL_W(v) vfloat b##v;
#define LOAD_W(v) memcpy(&b##v, bp + (size_t)p * NR + v * VL, vb);
#define LOAD_BIAS(v) memcpy(&b##v, bias + v * VL, vb);

static void micro_kernel(int kc, const float *restrict ap, size_t as, const float *restrict bp, float *restrict c,
                         size_t ldc, int load, const float *restrict bias) {
    WIDE_ROWS(DECL_ROW)
    const vfloat zero = {0};
    const size_t vb = sizeof(vfloat);
    int p;
    if (load == CHAIN_CONTINUE) {
        WIDE_ROWS(LOAD_ROW)
    } else {
        WIDE_ROWS(ZERO_ROW)
    }
    for (p = 0; p < kc; p++) {
        vfloat a;
        W_VECS(DECL_W)
        W_VECS(LOAD_W)
        /* x - 0 is exactly x (also for -0), so this is a pure broadcast. */
        WIDE_ROWS(STEP_ROW)
    }
    if (bias) {
        W_VECS(DECL_W)
        W_VECS(LOAD_BIAS)
        WIDE_ROWS(BIAS_ROW)
    }
    if (load == CHAIN_ADD) {
        vfloat old;
        WIDE_ROWS(ADD_ROW)
    }
    WIDE_ROWS(STORE_ROW)
}

/* The last rows of a product, fewer than MR: micro_kernel on `rows` <= 4 rows of the tile
 * (ap, c: its first row), the same chains with four rows of accumulators, storing only
 * the rows that exist. gemm_blocked calls it for each four rows of a partial tile, which
 * otherwise went through a scratch tile computed in full: a product of 256 rows (the
 * unembedding's) spent 3% of its multiply-adds on the 8 padding rows of its last tile. */
#define SHORT_ROWS(X) X(0) X(1) X(2) X(3)
#define LOAD_ROW_IF(i) if (ROW_##i < rows) { LOAD_ROW(i) } else { ZERO_ROW(i) }
#define ADD_ROW_IF(i) if (ROW_##i < rows) { ADD_ROW(i) }
#define STORE_ROW_IF(i) if (ROW_##i < rows) { STORE_ROW(i) }
#define HAVE_SHORT_KERNEL 1
static void micro_kernel_short(int kc, const float *restrict ap, size_t as, const float *restrict bp, float *restrict c,
                               size_t ldc, int load, const float *restrict bias, int rows) {
    SHORT_ROWS(DECL_ROW)
    const vfloat zero = {0};
    const size_t vb = sizeof(vfloat);
    int p;
    if (load == CHAIN_CONTINUE) {
        SHORT_ROWS(LOAD_ROW_IF)
    } else {
        SHORT_ROWS(ZERO_ROW)
    }
    for (p = 0; p < kc; p++) {
        vfloat a;
        W_VECS(DECL_W)
        W_VECS(LOAD_W)
        SHORT_ROWS(STEP_ROW)
    }
    if (bias) {
        W_VECS(DECL_W)
        W_VECS(LOAD_BIAS)
        SHORT_ROWS(BIAS_ROW)
    }
    if (load == CHAIN_ADD) {
        vfloat old;
        SHORT_ROWS(ADD_ROW_IF)
    }
    SHORT_ROWS(STORE_ROW_IF)
}
#else
static void micro_kernel(int kc, const float *restrict ap, size_t as, const float *restrict bp, float *restrict c,
                         size_t ldc, int load, const float *restrict bias) {
    vfloat c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
    const vfloat zero = {0};
    const size_t vb = sizeof(vfloat);
    int p;
    /* memcpy: the tile need not be vector-aligned; compilers emit plain loads. */
    if (load == CHAIN_CONTINUE) {
        memcpy(&c00, c + 0 * ldc, vb); memcpy(&c01, c + 0 * ldc + VL, vb);
        memcpy(&c10, c + 1 * ldc, vb); memcpy(&c11, c + 1 * ldc + VL, vb);
        memcpy(&c20, c + 2 * ldc, vb); memcpy(&c21, c + 2 * ldc + VL, vb);
        memcpy(&c30, c + 3 * ldc, vb); memcpy(&c31, c + 3 * ldc + VL, vb);
        memcpy(&c40, c + 4 * ldc, vb); memcpy(&c41, c + 4 * ldc + VL, vb);
        memcpy(&c50, c + 5 * ldc, vb); memcpy(&c51, c + 5 * ldc + VL, vb);
    } else {
        c00 = c01 = c10 = c11 = c20 = c21 = c30 = c31 = c40 = c41 = c50 = c51 = zero;
    }
    for (p = 0; p < kc; p++) {
        vfloat b0, b1, a;
        memcpy(&b0, bp + (size_t)p * NR, vb);
        memcpy(&b1, bp + (size_t)p * NR + VL, vb);
#if APV == 1
        a = BROADCAST(ap[p * as + 0]); c00 = maddv(a, b0, c00); c01 = maddv(a, b1, c01);
        a = BROADCAST(ap[p * as + 1]); c10 = maddv(a, b0, c10); c11 = maddv(a, b1, c11);
        a = BROADCAST(ap[p * as + 2]); c20 = maddv(a, b0, c20); c21 = maddv(a, b1, c21);
        a = BROADCAST(ap[p * as + 3]); c30 = maddv(a, b0, c30); c31 = maddv(a, b1, c31);
        a = BROADCAST(ap[p * as + 4]); c40 = maddv(a, b0, c40); c41 = maddv(a, b1, c41);
        a = BROADCAST(ap[p * as + 5]); c50 = maddv(a, b0, c50); c51 = maddv(a, b1, c51);
#else
        /* a already broadcast by pack_a (as is MR): plain vector loads. */
        (void)as;
        memcpy(&a, ap + (size_t)(p * MR + 0) * VL, vb); c00 = maddv(a, b0, c00); c01 = maddv(a, b1, c01);
        memcpy(&a, ap + (size_t)(p * MR + 1) * VL, vb); c10 = maddv(a, b0, c10); c11 = maddv(a, b1, c11);
        memcpy(&a, ap + (size_t)(p * MR + 2) * VL, vb); c20 = maddv(a, b0, c20); c21 = maddv(a, b1, c21);
        memcpy(&a, ap + (size_t)(p * MR + 3) * VL, vb); c30 = maddv(a, b0, c30); c31 = maddv(a, b1, c31);
        memcpy(&a, ap + (size_t)(p * MR + 4) * VL, vb); c40 = maddv(a, b0, c40); c41 = maddv(a, b1, c41);
        memcpy(&a, ap + (size_t)(p * MR + 5) * VL, vb); c50 = maddv(a, b0, c50); c51 = maddv(a, b1, c51);
#endif
    }
    if (bias) {
        /* out = chain + bias[j], the same float add as anywhere else. */
        vfloat b0, b1;
        memcpy(&b0, bias, vb);
        memcpy(&b1, bias + VL, vb);
        c00 = c00 + b0; c01 = c01 + b1; c10 = c10 + b0; c11 = c11 + b1; c20 = c20 + b0; c21 = c21 + b1;
        c30 = c30 + b0; c31 = c31 + b1; c40 = c40 + b0; c41 = c41 + b1; c50 = c50 + b0; c51 = c51 + b1;
    }
    if (load == CHAIN_ADD) {
        /* c = c + chain, the same float add as c[j] += chain anywhere else */
        vfloat o0, o1;
        memcpy(&o0, c + 0 * ldc, vb); memcpy(&o1, c + 0 * ldc + VL, vb); c00 = o0 + c00; c01 = o1 + c01;
        memcpy(&o0, c + 1 * ldc, vb); memcpy(&o1, c + 1 * ldc + VL, vb); c10 = o0 + c10; c11 = o1 + c11;
        memcpy(&o0, c + 2 * ldc, vb); memcpy(&o1, c + 2 * ldc + VL, vb); c20 = o0 + c20; c21 = o1 + c21;
        memcpy(&o0, c + 3 * ldc, vb); memcpy(&o1, c + 3 * ldc + VL, vb); c30 = o0 + c30; c31 = o1 + c31;
        memcpy(&o0, c + 4 * ldc, vb); memcpy(&o1, c + 4 * ldc + VL, vb); c40 = o0 + c40; c41 = o1 + c41;
        memcpy(&o0, c + 5 * ldc, vb); memcpy(&o1, c + 5 * ldc + VL, vb); c50 = o0 + c50; c51 = o1 + c51;
    }
    memcpy(c + 0 * ldc, &c00, vb); memcpy(c + 0 * ldc + VL, &c01, vb);
    memcpy(c + 1 * ldc, &c10, vb); memcpy(c + 1 * ldc + VL, &c11, vb);
    memcpy(c + 2 * ldc, &c20, vb); memcpy(c + 2 * ldc + VL, &c21, vb);
    memcpy(c + 3 * ldc, &c30, vb); memcpy(c + 3 * ldc + VL, &c31, vb);
    memcpy(c + 4 * ldc, &c40, vb); memcpy(c + 4 * ldc + VL, &c41, vb);
    memcpy(c + 5 * ldc, &c50, vb); memcpy(c + 5 * ldc + VL, &c51, vb);
}
#endif /* VL == 16 */
#else
static void micro_kernel(int kc, const float *restrict ap, size_t as, const float *restrict bp, float *restrict c,
                         size_t ldc, int load, const float *restrict bias) {
    float acc[MR * NR];
    int p, i, j;
    for (i = 0; i < MR; i++)
        for (j = 0; j < NR; j++) acc[i * NR + j] = load == CHAIN_CONTINUE ? c[i * ldc + j] : 0.0f;
    for (p = 0; p < kc; p++) {
        const float *restrict b = bp + (size_t)p * NR;
        for (i = 0; i < MR; i++) {
            const float ai = ap[p * as + i];
#if defined(_OPENMP)
#pragma omp simd
#endif
            for (j = 0; j < NR; j++) acc[i * NR + j] = madd(ai, b[j], acc[i * NR + j]);
        }
    }
    for (i = 0; i < MR; i++)
        for (j = 0; j < NR; j++)
            c[i * ldc + j] = load == CHAIN_ADD ? c[i * ldc + j] + acc[i * NR + j]
                             : bias          ? acc[i * NR + j] + bias[j]
                                             : acc[i * NR + j];
}
#endif

/* ---- weights packed once (kernels.h: PackedWeights) ------------------------
 * pack_panels: the whole of w [K, N] as NR-column slivers, each with all K rows:
 * the sliver of columns [j, j + NR) (j a multiple of NR) at j * K, its row p at p * NR
 * (what pack_b makes of w with kc = K). A product reads the K block [pc, pc + kc) of a
 * sliver where pack_b would have put it for that block alone, and the first K' rows of
 * w are the same slivers read for K' rows (the attention's values: the keys a query
 * tile sees are the first nk of the row's). */

/* Columns rounded up to whole NR-column slivers. */
static int round_up_nr(int n) {
    return (n + NR - 1) / NR * NR;
}

static size_t packed_floats(int K, int N) {
    return K > 0 && N > 0 ? (size_t)K * (size_t)round_up_nr(N) : 0;
}

/* Rows [pc, ...) of the packed sliver of columns [j, j + NR) (j a multiple of NR) of
 * a [Kp, N] matrix packed by pack_panels. */
static const float *packed_sliver(const float *panels, int Kp, int pc, int j) {
    return panels + (size_t)j * Kp + (size_t)pc * NR;
}

/* Slivers per share of pack_panels' work between the threads. */
#define PACK_SLIVERS 8

static void pack_panels(float *panels, const float *w, int ldw, int K, int N) {
    const int n_slivers = (N + NR - 1) / NR, n_shares = (n_slivers + PACK_SLIVERS - 1) / PACK_SLIVERS;
    int t;
    if (K <= 0 || N <= 0) return;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (n_shares > 1 && (double)K * N > 65536)
#endif
    for (t = 0; t < n_shares; t++) {
        const int j0 = t * PACK_SLIVERS * NR, nc = N - j0 < PACK_SLIVERS * NR ? N - j0 : PACK_SLIVERS * NR;
        pack_b(panels + (size_t)j0 * K, w + j0, ldw, K, nc);
    }
}

/* One thread's share: out rows [m0,m1) x cols [n0,n1), with private packing
 * buffers ap ((MC + MC/2 rounded up to MR)*KC*APV floats) and bp (KC*NC floats;
 * unused when panels, w packed whole by pack_weights with Kp >= K rows, is given).
 * A transposed a (ars 1) is read where it is, its step between k the row stride acs
 * of the transpose, for every whole MR rows: packing it was a copy, and the attention's
 * products (a the keys, or the pattern) made one for each tile; a last part of fewer
 * rows is packed (with zeros past them, as the micro-kernel reads MR rows). With add
 * (K <= KC, bias NULL), out += the product instead: each output out + its chain. */
static void gemm_blocked(float *out, int ldo, const float *a, size_t ars, size_t acs, const float *w, int ldw,
                         const float *panels, int Kp, const float *bias, int add, int m0, int m1, int n0, int n1, int K,
                         float *ap, float *bp, int a_once) {
    float c[MR * NR];
    const int a_direct = ars == 1 && acs != 1 && APV == 1;
    int jc, pc, ic, mc, jr, ir, i, j;
    for (jc = n0; jc < n1; jc += NC) {
        const int nc = n1 - jc < NC ? n1 - jc : NC;
        for (pc = 0; pc < K; pc += KC) {
            const int kc = K - pc < KC ? K - pc : KC;
            const int first = pc == 0, last = pc + kc == K;
            const int mode = !first ? CHAIN_CONTINUE : add ? CHAIN_ADD : CHAIN_START;
            if (!panels) pack_b(bp, w + (size_t)pc * ldw + jc, ldw, kc, nc);
            for (ic = m0; ic < m1; ic += mc) {
                /* A remainder of up to MC/2 rows joins the last block: a
                 * product of 64 rows (attention's blocks) is one block, so
                 * each packed sliver of w is used for all its rows. */
                float *apb = a_once ? ap + (size_t)(ic - m0) * kc * APV : ap;
                mc = m1 - ic <= MC + MC / 2 ? m1 - ic : MC;
                if (a_direct) {
                    if (mc % MR) /* the last rows, packed at the last sliver's place */
                        pack_a(apb + (size_t)(mc / MR * MR) * kc, a + (size_t)(ic + mc / MR * MR) + (size_t)pc * acs,
                               ars, acs, mc % MR, kc);
                } else if (!a_once || jc == n0) {
                    pack_a(apb, a + (size_t)ic * ars + (size_t)pc * acs, ars, acs, mc, kc);
                }
                for (jr = 0; jr < nc; jr += NR) {
                    const int nr = nc - jr < NR ? nc - jr : NR;
                    for (ir = 0; ir < mc; ir += MR) {
                        const int mr = mc - ir < MR ? mc - ir : MR;
                        float *o = out + (size_t)(ic + ir) * ldo + jc + jr;
                        const int in_place = a_direct && mr == MR;
                        const float *as = in_place ? a + (size_t)(ic + ir) + (size_t)pc * acs : apb + (size_t)ir * kc * APV;
                        const size_t astep = in_place ? acs : MR;
                        const float *bs = panels ? packed_sliver(panels, Kp, pc, jc + jr) : bp + (size_t)jr * kc;
                        const float *bj = last && bias ? bias + jc + jr : NULL;
#if defined(__GNUC__)
                        /* Ask for the next tile's output lines now: they are
                         * often not in cache (written once: the first store
                         * would wait for the line), and a micro-kernel's time
                         * is enough to fetch them: every line of each row's NR
                         * floats (for 32 floats two or three 64-byte lines, as the
                         * row starts). Asking for the first line alone left the
                         * others to the stores: the unembedding's product (49 MB
                         * of output, its rows 193 KB apart) 1-7% slower with the
                         * AVX-512 kernels (Zen 5; BENCHMARKS.md session 19). */
                        if (ir + MR < mc)
                            for (i = 0; i < MR && ir + MR + i < mc; i++) {
                                const float *next = o + (size_t)(MR + i) * ldo;
                                for (j = 0; j < NR; j += LINE_FLOATS) __builtin_prefetch(next + j, 1);
                                __builtin_prefetch(next + NR - 1, 1);
                            }
#endif
                        if (mr == MR && nr == NR) {
                            /* The carried partial sums live in out itself;
                             * the bias is added in registers (adding it in a
                             * second pass reloaded the tile just stored:
                             * store-forwarding stalls, ~7% of the time). */
                            micro_kernel(kc, as, astep, bs, o, (size_t)ldo, mode, bj);
#ifdef HAVE_SHORT_KERNEL
                        } else if (nr == NR) {
                            /* the last rows (a packed, astep MR), four at a time */
                            for (i = 0; i < mr; i += 4)
                                micro_kernel_short(kc, as + i, astep, bs, o + (size_t)i * ldo, (size_t)ldo, mode, bj,
                                                   mr - i < 4 ? mr - i : 4);
#endif
                        } else {
                            /* Edge tile (a last sliver of fewer than NR columns;
                             * or fewer than MR rows, without the short kernel):
                             * through c; rows and columns past the edge compute on
                             * zero padding and are dropped. */
                            if (!first)
                                for (i = 0; i < MR; i++)
                                    for (j = 0; j < NR; j++)
                                        c[i * NR + j] = (i < mr && j < nr) ? o[(size_t)i * ldo + j] : 0.0f;
                            micro_kernel(kc, as, astep, bs, c, NR, mode == CHAIN_ADD ? CHAIN_START : mode, NULL);
                            for (i = 0; i < mr; i++)
                                for (j = 0; j < nr; j++)
                                    o[(size_t)i * ldo + j] = mode == CHAIN_ADD ? o[(size_t)i * ldo + j] + c[i * NR + j]
                                                             : bj              ? c[i * NR + j] + bj[j]
                                                                               : c[i * NR + j];
                        }
                    }
                }
            }
        }
    }
}

/* ---- packing buffers, kept between calls -------------------------------
 * gemm_part needs up to a few MB of packing space per call, and the attention
 * makes thousands of small calls per block: malloc'ed and freed each time,
 * the buffers came from fresh pages (glibc returns large blocks to the system
 * on free), and the page faults were ~10% of the forward pass (perf). A small
 * pool of buffers, taken and given back under a lock, is kept instead; it
 * only grows (a few MB per thread) and lives until the program ends. Which
 * buffer a call gets changes no result (it is overwritten before being read). */
#define POOL_SLOTS 64
static struct {
    float *buf;
    size_t cap; /* floats */
    int busy;
} pool[POOL_SLOTS];

/* A buffer of at least `floats` floats, or NULL when memory is short; *slot is
 * what buffer_release needs (-1: not from the pool, freed on release). */
static float *buffer_acquire(size_t floats, int *slot) {
    float *buf = NULL;
    int s = -1, i;
#ifdef _OPENMP
#pragma omp critical(kernels_buffer_pool)
#endif
    {
        for (i = 0; i < POOL_SLOTS && s < 0; i++)
            if (!pool[i].busy && pool[i].cap >= floats) s = i;
        for (i = 0; i < POOL_SLOTS && s < 0; i++) /* else the largest free one, to grow */
            if (!pool[i].busy && (s < 0 || pool[i].cap > pool[s].cap)) s = i;
        if (s >= 0) {
            pool[s].busy = 1;
            if (pool[s].cap < floats) { /* grows only until the largest call has been seen */
                free(pool[s].buf);
                pool[s].buf = (float *)malloc(sizeof(float) * floats);
                pool[s].cap = pool[s].buf ? floats : 0;
            }
            buf = pool[s].buf;
        }
    }
    *slot = s;
    return s < 0 ? (float *)malloc(sizeof(float) * floats) : buf;
}

/* Gives back a buffer from buffer_acquire. */
static void buffer_release(float *buf, int slot) {
    if (slot < 0) {
        free(buf);
        return;
    }
#ifdef _OPENMP
#pragma omp critical(kernels_buffer_pool)
#endif
    pool[slot].busy = 0;
}

/* Packed a up to this many floats is packed once for all column panels (see gemm_part). */
#define A_ONCE_FLOATS (256L * 512)

/* Runs one thread's part [m0,m1) x [n0,n1) with its own packing buffers (w's packed
 * panels, of Kp >= K rows, when not NULL). */
static void gemm_part(float *out, int ldo, const float *a, size_t ars, size_t acs, const float *w, int ldw,
                      const float *panels, int Kp, const float *bias, int add, int m0, int m1, int n0, int n1, int K) {
    float *buf;
    size_t kc, rows, cols;
    int a_once, slot;
    if (m0 >= m1 || n0 >= n1) return;
    /* With one K block, several column panels and a small a (the unembedding:
     * 256 x 512, 48 panels), all of a is packed once, each MC block at its
     * own place, instead of again for each panel (3.6% of that product). */
    a_once = K <= KC && n1 - n0 > NC && (long)(m1 - m0) * K <= A_ONCE_FLOATS;
    /* Buffers only as large as this part needs (small products stay cheap). */
    kc = (size_t)(K < KC ? K : KC);
    rows = (size_t)(a_once || m1 - m0 < MC + MC / 2 ? m1 - m0 : MC + MC / 2);
    cols = (size_t)(n1 - n0 < NC ? n1 - n0 : NC);
    rows = (rows + MR - 1) / MR * MR;
    cols = panels ? 0 : (cols + NR - 1) / NR * NR;
    buf = buffer_acquire(kc * (rows * APV + cols), &slot);
    if (buf)
        gemm_blocked(out, ldo, a, ars, acs, w, ldw, panels, Kp, bias, add, m0, m1, n0, n1, K, buf + kc * cols, buf,
                     a_once);
    else /* short of memory: the slow loop, same results */
        gemm_rows(out, ldo, a, ars, acs, w, ldw, bias, add, m0, m1, n0, n1, K);
    buffer_release(buf, slot);
}

/* Rows per chunk of a product with packed weights shared row-wise (gemm): a multiple
 * of MC and of every copy's MR, 22 chunks for 1024 rows. */
#define GEMM_CHUNK_ROWS 48

/* Whether a product may open a parallel region: not inside one already (the attention's
 * per-head products run inside its region: a nested region would get one thread, at the
 * cost of creating it) and not with one thread. */
static int threads_available(void) {
#ifdef _OPENMP
    return !omp_in_parallel() && omp_get_max_threads() > 1;
#else
    return 0;
#endif
}

/* Thread t of nt's part of gemm's product: the dimension with more register tiles split
 * into nt contiguous ranges of whole tiles (static, so the same for every call); the
 * columns when a is read in place and w not packed yet, given at least 4 slivers of w a
 * thread (each thread then packs only its columns of w, and nothing of a: Section 3.2's
 * logits). */
static void gemm_share(float *out, int ldo, const float *a, size_t ars, size_t acs, const float *w, int ldw,
                       const float *panels, int Kp, const float *bias, int add, int M, int K, int N, int nt, int t) {
    const long um = (M + MR - 1) / MR, un = (N + NR - 1) / NR;
    const int a_in_place = ars == 1 && acs != 1 && APV == 1;
    if (um >= un && !(a_in_place && !panels && un >= 4L * nt)) {
        int m0 = (int)(um * t / nt) * MR, m1 = (int)(um * (t + 1) / nt) * MR;
        if (m1 > M) m1 = M;
        gemm_part(out, ldo, a, ars, acs, w, ldw, panels, Kp, bias, add, m0, m1, 0, N, K);
    } else {
        int n0 = (int)(un * t / nt) * NR, n1 = (int)(un * (t + 1) / nt) * NR;
        if (n1 > N) n1 = N;
        gemm_part(out, ldo, a, ars, acs, w, ldw, panels, Kp, bias, add, 0, M, n0, n1, K);
    }
}

/* out[M,N] = a @ w (+ bias), a[i,k] at a[i * ars + k * acs]: matmul_strided and matmul_at,
 * and the table's matmul_packed itself (panels: the first K rows of w [Kp, N] packed by
 * pack_weights, or NULL: w read as it is). With
 * add (bias NULL): out += a @ w, each output out + its chain. */
static void gemm(float *out, int ldo, const float *a, size_t ars, size_t acs, const float *w, int ldw,
                 const float *panels, int Kp, const float *bias, int add, int M, int K, int N) {
    double macs; /* in double: M*N*K overflows a 32-bit long for the unembedding */
    int forks;
    if (M <= 0 || N <= 0) return;
    macs = (double)M * N * (K > 0 ? K : 1);
    if (K <= 0 || macs < SMALL_MACS) {
        gemm_rows(out, ldo, a, ars, acs, w, ldw, bias, add, 0, M, 0, N, K > 0 ? K : 0);
        return;
    }
    if (add && K > KC) {
        /* the chains cross K blocks in out itself: the product apart, then added */
        float *tmp = (float *)malloc(sizeof(float) * (size_t)M * N);
        size_t i, j;
        if (!tmp) {
            gemm_rows(out, ldo, a, ars, acs, w, ldw, NULL, 1, 0, M, 0, N, K);
            return;
        }
        gemm(tmp, N, a, ars, acs, w, ldw, panels, Kp, NULL, 0, M, K, N);
        for (i = 0; i < (size_t)M; i++)
            for (j = 0; j < (size_t)N; j++) out[i * ldo + j] = out[i * ldo + j] + tmp[i * N + j];
        free(tmp);
        return;
    }
    forks = macs >= 4 * SMALL_MACS && threads_available();
    if (M < MR) {
        /* A few rows (one position's logits, say): the plain loop on column
         * chunks, spread over the threads. */
        const int nch = (N + 511) / 512;
        int ch;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (forks && nch > 1)
#endif
        for (ch = 0; ch < nch; ch++) {
            const int n0 = ch * 512, n1 = N - n0 < 512 ? N : n0 + 512;
            gemm_rows(out, ldo, a, ars, acs, w, ldw, bias, add, 0, M, n0, n1, K);
        }
        return;
    }
    if (!forks) {
        gemm_share(out, ldo, a, ars, acs, w, ldw, panels, Kp, bias, add, M, K, N, 1, 0);
        return;
    }
    if (panels && M >= 2 * GEMM_CHUNK_ROWS && (M + MR - 1) / MR >= (N + NR - 1) / NR) {
        /* w packed already, so a chunk of rows costs nothing more than its own a:
         * chunks to the next thread free (a share fixed in advance kept one thread
         * waiting whenever the host slowed the other) */
        const int n_chunks = (M + GEMM_CHUNK_ROWS - 1) / GEMM_CHUNK_ROWS;
        int ch;
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1)
#endif
        for (ch = 0; ch < n_chunks; ch++) {
            const int m0 = ch * GEMM_CHUNK_ROWS, m1 = M - m0 < GEMM_CHUNK_ROWS ? M : m0 + GEMM_CHUNK_ROWS;
            gemm_part(out, ldo, a, ars, acs, w, ldw, panels, Kp, bias, add, m0, m1, 0, N, K);
        }
        return;
    }
#ifdef _OPENMP
#pragma omp parallel
    gemm_share(out, ldo, a, ars, acs, w, ldw, panels, Kp, bias, add, M, K, N, omp_get_num_threads(),
               omp_get_thread_num());
#endif
}

static void matmul_strided(float *out, int ldo, const float *a, int lda, const float *w, int ldw,
                           const float *bias, int M, int K, int N) {
    gemm(out, ldo, a, (size_t)lda, 1, w, ldw, NULL, 0, bias, 0, M, K, N);
}

static void matmul_at(float *out, int ldo, const float *at, int ldat, const float *w, int ldw,
                      const float *bias, int M, int K, int N) {
    gemm(out, ldo, at, 1, (size_t)ldat, w, ldw, NULL, 0, bias, 0, M, K, N);
}

/* Chosen outputs of a @ w, each gemm_rows' chain (k in order, one madd a step, then the
 * bias): k outer, so that a's and w's rows k are read once for all of them, in order. */
static void matmul_pairs(float *out, const float *at, int ldat, const int *rows, const float *w, int ldw,
                         const int *cols, const float *bias, int n, int K) {
    int q, k;
    for (q = 0; q < n; q++) out[q] = 0.0f;
    for (k = 0; k < K; k++) {
        const float *restrict ak = at + (size_t)k * ldat, *restrict wk = w + (size_t)k * ldw;
        for (q = 0; q < n; q++) out[q] = madd(ak[rows[q]], wk[cols[q]], out[q]);
    }
    if (bias)
        for (q = 0; q < n; q++) out[q] = out[q] + bias[cols[q]];
}

/* The chunks first_reaching tests at once: a fixed count, so that the test vectorizes;
 * only a chunk with a hit is looked at element by element. */
#define REACH_CHUNK 32

static int first_reaching(const float *s, const float *add, const float *mul, float x, float need, int n) {
    int j0, j;
    for (j0 = 0; j0 + REACH_CHUNK <= n; j0 += REACH_CHUNK) {
        int hit = 0;
        for (j = 0; j < REACH_CHUNK; j++) hit |= s[j0 + j] + add[j0 + j] + x * mul[j0 + j] >= need;
        if (hit) break;
    }
    for (j = j0; j < n; j++)
        if (s[j] + add[j] + x * mul[j] >= need) return j;
    return n;
}

/* ---- layernorm, activations, softmax ------------------------------------ */

/* Sum of x[0..n) in double, in a fixed order: 8 interleaved partial sums
 * (lane j takes j, j+8, ...), then the tail, combined pairwise. Four times
 * shorter dependency chains than one running sum, and the same order on
 * every call, so results never depend on threads. */
static double sum8(const float *restrict x, int n) {
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int i, j;
    for (i = 0; i + 8 <= n; i += 8)
        for (j = 0; j < 8; j++) acc[j] += x[i + j];
    for (j = 0; i < n; i++, j++) acc[j] += x[i];
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

/* Sum of (x - mean)^2 in the same order as sum8. */
static double sumsq8(const float *restrict x, int n, double mean) {
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int i, j;
    for (i = 0; i + 8 <= n; i += 8)
        for (j = 0; j < 8; j++) {
            const double c = x[i + j] - mean;
            acc[j] += c * c;
        }
    for (j = 0; i < n; i++, j++) {
        const double c = x[i] - mean;
        acc[j] += c * c;
    }
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

static void layernorm(float *out, float *scale, const float *x, const float *w, const float *b, int rows, int D, float eps) {
    int r;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if ((long)rows * D > 32768)
#endif
    for (r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * D;
        float *o = out + (size_t)r * D; /* may alias xr: each element is read before it is written */
        const double mean = sum8(xr, D) / D;
        const double var = sumsq8(xr, D, mean) / D;
        const float s = (float)sqrt(var + eps);
        int d;
        if (scale) scale[r] = s;
        if (w) {
            for (d = 0; d < D; d++) o[d] = (float)(xr[d] - mean) / s * w[d] + b[d];
        } else {
            for (d = 0; d < D; d++) o[d] = (float)(xr[d] - mean) / s;
        }
    }
}

/* 2^k for k in [-126, 127], built from its float bits. This relies on IEEE
 * float32 and on float and uint32 sharing byte order (true of every IEEE
 * platform); it is an in-memory reinterpretation, not file data. */
static inline float pow2f(int k) {
    const uint32_t bits = (uint32_t)(k + 127) << 23;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* exp(yh + yl) in float (twice the lanes of a double exp per vector), for
 * yh + yl in [-150, 0.5] with |yl| at most about 2: y = k ln2 + r, |r| <= ln2/2,
 * with ln2 split so that k ln2_hi is exact (ln2_hi has 9 significant bits,
 * |k| <= 217) and yh - k ln2_hi exact (Sterbenz) when |yh| is large, a degree-7
 * Taylor polynomial for e^r (truncation 5e-9 relative, 0.1 ulp), then 2^k as
 * two exact float powers of two, so a result below the normal range is rounded
 * once. An argument carried as two floats keeps its precision beyond one
 * float's (exp(y) is as precise as y is absolutely: ulp(100) = 8e-6).
 * Straight-line arithmetic, so loops calling it vectorize. */
static inline float expf_split(float yh, float yl) {
    const float ln2_hi = 0.693359375f, ln2_lo = -2.12194440e-4f;
    const int k = (int)((yh + yl) * 1.44269504f + 1000.5f) - 1000; /* nearest integer (y > -692) */
    const int k1 = k / 2;
    const float kf = (float)k;
    const float r = ((yh - kf * ln2_hi) + yl) - kf * ln2_lo;
    float p = 1.0f / 5040.0f;
    p = p * r + 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    return p * pow2f(k1) * pow2f(k - k1);
}

/* exp(y) for y in [-150, 0.5] in float. Measured against libm's exp on every
 * float in [-104, 0.5] (tools/check_float_math.c, AVX-512 copy): at most
 * 0.94 ulp (0.5 ulp + the polynomial's float rounding). Softmax's exp (the double version it
 * replaced took twice as long). */
static inline float expf_small(float y) {
    return expf_split(y, 0.0f);
}

/* f of gelu_erf's erfc(t) = u exp(-t^2 + f(u)) at v = (12 u - 7) / 5: the degree-10
 * polynomial, highest degree first, by Horner's rule (tools/check_float_math.c's reference
 * gelus read it too). */
static const double erfc_poly[11] = {-2.2855769757973959e-05, 5.4860246839211018e-05, 0.00012986821453811326,
                                     -0.00053432061049722029, -0.00027596115816574528, 0.0037074767403680437,
                                     -0.0010455518349476696,  -0.029470336858025158,   0.015745074072064092,
                                     0.57030710297661857,     -0.55859535372792424};

static inline double erfc_poly_at(double v) {
    double f = erfc_poly[0];
    int k;
    for (k = 1; k < 11; k++) f = f * v + erfc_poly[k];
    return f;
}

/* gelu(x) = x Phi(x), Phi(x) = erfc(-x/sqrt 2)/2 = 1 - erfc(|x|/sqrt 2)/2 for
 * x >= 0, erfc(|x|/sqrt 2)/2 for x < 0: the same function as 0.5 x (1 + erf(x/sqrt 2)),
 * without its cancellation for negative x. erfc(t) = u exp(-t^2 + f(u)),
 * u = 1/(1 + t/2), with f a degree-10 polynomial fitted (Chebyshev, in double,
 * against libm's erfc, tools-free: numpy chebfit on 4000 nodes) on t in [0, 10]:
 * |error of f| < 8e-9.
 *
 * Evaluated mostly in float (the all-double version took 1.7x as long): t, u
 * and f in double (in float their roundings alone cost up to 5 ulp), the exp
 * and the final products in float. t^2 = c^2/2 is carried as hi + lo, hi =
 * ch^2/2 with ch = |c| cut to 12 significant bits (exact), lo = (|c| - ch)(|c| +
 * ch)/2, and exp(f - hi - lo) = expf_split(-hi, f - lo): the argument keeps
 * float precision where t^2 is 100 (one float t^2 would carry an error of
 * ulp(100) = 8e-6, relative, into Phi). q = c u / 2 (one rounding) times that
 * exp, so that only the exp can be subnormal. Measured against the double
 * formula 0.5 x erfc(-x/sqrt 2) (libm) on every float in [-10, 10] and on
 * [-13.2, -10] (tools/check_float_math.c, AVX-512 copy): at most 2.9 and 3.0
 * ulp; test_kernels checks 3 ulp on [-12, 12] for every copy.
 *
 * Written for vectorizers, which (gcc) give up on a loop as soon as some
 * arithmetic sits under a condition: a first pass does only selects, a
 * second only arithmetic. The first pass gives c = x clamped to [-15, 15]
 * (past that Phi is 0 or 1 in float, and exp's argument stays bounded),
 * xp = x if x >= 0 or NaN, else 0, and sg = +1 if x >= 0, else -1. With
 * q = c h, h = erfc(|c|/sqrt 2)/2:
 *   x >= 0: x Phi(x) = x - x h = xp - sg q;   x < 0: x Phi(x) = c h = xp - sg q.
 * NaN stays NaN (xp), inf stays inf, -inf gives -0.
 *
 * The arithmetic in three passes over a chunk, each result kept in an array: u and
 * hi, lo; the polynomial f; then the exp and the product. One pass computing all of
 * it per element was one dependent chain of some 120 cycles (a division, ten double
 * multiply-adds, the exp), longer than the processor can overlap: the passes' shorter
 * chains took 20-27% less time (every copy; the same operations on the same values,
 * so the same bits: tools/activation_digest.c, on every float, against the one-pass code). */
static void gelu_erf(float *x, size_t n) {
    /* Chunks of 1024 elements: threads take whole chunks, each element is
     * computed alone, so the result does not depend on the thread count. */
    const long nchunks = (long)((n + 1023) / 1024);
    long ch;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (nchunks > 16)
#endif
    for (ch = 0; ch < nchunks; ch++) {
        float *restrict p = x + (size_t)ch * 1024;
        const size_t len = (size_t)ch == n / 1024 ? n % 1024 : 1024;
        float c[1024], xp[1024], sg[1024], hi[1024], lo[1024];
        double u[1024], f[1024];
        size_t i;
        for (i = 0; i < len; i++) { /* selects */
            const float xi = p[i];
            const float l = xi > -15.0f ? xi : -15.0f;
            c[i] = l < 15.0f ? l : 15.0f;
            xp[i] = xi < 0.0f ? 0.0f : xi;
            sg[i] = xi < 0.0f ? -1.0f : 1.0f;
        }
        for (i = 0; i < len; i++) { /* u = 1/(1 + t/2), t^2/2 = hi + lo */
            const float ac = fabsf(c[i]);
            const double t = (double)ac * 0.70710678118654752440;
            float chi;
            uint32_t bits;
            u[i] = 1.0 / (1.0 + 0.5 * t);
            memcpy(&bits, &ac, sizeof bits);
            bits &= 0xfffff000u; /* 12 significant bits: chi * chi is exact */
            memcpy(&chi, &bits, sizeof chi);
            hi[i] = chi * chi * 0.5f;
            lo[i] = (ac - chi) * (ac + chi) * 0.5f;
        }
        for (i = 0; i < len; i++) /* f(v), v = (12 u - 7) / 5: u in [1/6, 1] -> v in [-1, 1] */
            f[i] = erfc_poly_at((12.0 * u[i] - 7.0) * 0.2);
        /* erfc(t)/2 = 0.5 u exp(-hi + (f - lo)), and c times it */
        for (i = 0; i < len; i++)
            p[i] = xp[i] - sg[i] * ((float)((double)c[i] * u[i] * 0.5) * expf_split(-hi[i], (float)(f[i] - (double)lo[i])));
    }
}

/* gelu_new(x) = 0.5 x (1 + tanh(a)), a = sqrt(2/pi) (x + 0.044715 x^3), computed
 * as the same function x sigmoid(2a) = x / (1 + exp(-2a)) without overflow or
 * cancellation: with e = exp(-2|a|), x / (1 + e) for a >= 0 and x e / (1 + e) for
 * a < 0. a is computed in double and -2|a| carried as two floats into
 * expf_split (in float it would carry a relative error 2|a| ulp into the
 * result's negative tail), the rest in float. Measured against x / (1 +
 * exp(-2a)) in double on every float in [-10, 10] (tools/check_float_math.c,
 * AVX-512 copy): at most 3.4 ulp (6.1 ulp of the subnormal spacing for
 * x < -10). The previous 0.5 x (1 + tanh(a)) in double, through the
 * cancellation of 1 + tanh, was off by more than a float ulp below x = -5.3 or
 * so and by half its value at x = -7.2. Selects and arithmetic in separate passes, as in gelu_erf. */
static void gelu_tanh(float *x, size_t n) {
    const long nchunks = (long)((n + 1023) / 1024);
    long ch;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (nchunks > 16)
#endif
    for (ch = 0; ch < nchunks; ch++) {
        float *restrict p = x + (size_t)ch * 1024;
        const size_t len = (size_t)ch == n / 1024 ? n % 1024 : 1024;
        float mh[1024], ml[1024], w[1024];
        size_t i;
        for (i = 0; i < len; i++) { /* selects: x clamped to [-100, 100] (e is 0 beyond) */
            const float lo = p[i] > -100.0f ? p[i] : -100.0f;
            mh[i] = lo < 100.0f ? lo : 100.0f;
        }
        for (i = 0; i < len; i++) { /* arithmetic */
            const double xi = mh[i];
            const double a = 0.79788456080286535588 * (xi + 0.044715 * xi * xi * xi);
            const double m = -2.0 * fabs(a);
            const float h = (float)m;
            mh[i] = h;
            ml[i] = (float)(m - (double)h);
            w[i] = a < 0 ? 0.0f : 1.0f;
        }
        for (i = 0; i < len; i++) { /* selects: exp's argument at least -150 (NaN too: x keeps its NaN) */
            const int small = !(mh[i] > -150.0f);
            mh[i] = small ? -150.0f : mh[i];
            ml[i] = small ? 0.0f : ml[i];
        }
        for (i = 0; i < len; i++) {
            const float e = expf_split(mh[i], ml[i]);
            p[i] = p[i] * (w[i] + (1.0f - w[i]) * e) / (1.0f + e);
        }
    }
}

/* out[i] = a[i] + b[i] (out may be a or b; kernels.h). */
static void add_floats(float *out, const float *a, const float *b, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) out[i] = a[i] + b[i];
}

static void relu(float *x, size_t n) {
    size_t i;
    for (i = 0; i < n; i++)
        if (x[i] < 0.0f) x[i] = 0.0f;
}

/* The largest of x[0..n) (n >= 1) by 8 interleaved running maxima combined at
 * the end: the same value as one running maximum (max is exact and the same
 * whatever the order, NaNs aside, which softmax_row treats on its own), with
 * chains short enough to vectorize. */
static float max8(const float *restrict x, int n) {
    float m[8];
    int i, j;
    for (j = 0; j < 8; j++) m[j] = x[0];
    for (i = 0; i + 8 <= n; i += 8)
        for (j = 0; j < 8; j++) m[j] = x[i + j] > m[j] ? x[i + j] : m[j];
    for (j = 0; i < n; i++, j++) m[j] = x[i] > m[j] ? x[i] : m[j];
    for (j = 1; j < 8; j++) m[0] = m[j] > m[0] ? m[j] : m[0];
    return m[0];
}

static void softmax_row(float *x, int n) {
    const float mx = max8(x, n);
    double sum;
    int i, i0, nan_seen = 0;
    /* exp in chunks: a pass of selects (clamp at -150: exp is 0 in float
     * there), then a pass of arithmetic (see gelu_erf for why); the sum in
     * sum8's fixed order (one running sum was a chain of dependent double adds,
     * the slowest part). A NaN anywhere (or +inf, as inf - inf) makes every
     * output NaN, as the sum would. */
    for (i0 = 0; i0 < n; i0 += 1024) {
        const int len = n - i0 < 1024 ? n - i0 : 1024;
        float *restrict p = x + i0;
        float c[1024];
        for (i = 0; i < len; i++) {
            const float d = p[i] - mx;
            c[i] = d > -150.0f ? d : -150.0f;
            nan_seen |= d != d;
        }
        for (i = 0; i < len; i++) p[i] = expf_small(c[i]);
    }
    sum = nan_seen ? NAN : sum8(x, n);
    for (i = 0; i < n; i++) x[i] = (float)(x[i] / sum);
}

/* Columns of softmax_causal_columns handled together (their running maxima and
 * sums stay in L1). */
#define SOFTMAX_COLS 64

/* The three row steps of softmax_causal_columns on columns [cs, cb) of one row r of a
 * block. Called with the constant bounds 0, SOFTMAX_COLS for a block's full rows (most
 * of a tile: every row up to the block's first query's own key), so that the compiler
 * makes a copy of each loop with a fixed trip count and no remainder (the variable
 * bounds cost about 15% of the softmax's time); the same operations either way. */
static inline void softmax_max_step(float *restrict mx, const float *restrict r, int cs, int cb) {
    int c;
    for (c = cs; c < cb; c++) mx[c] = r[c] > mx[c] ? r[c] : mx[c];
}

/* exp of r - mx clamped at -150 into r, added to the row's chain a (selects, then
 * arithmetic: see gelu_erf); nan_seen[c] set by a NaN. */
static inline void softmax_exp_step(float *restrict r, double *restrict a, const float *restrict mx,
                                    int *restrict nan_seen, int cs, int cb) {
    float cl[SOFTMAX_COLS];
    int c;
    for (c = cs; c < cb; c++) {
        const float d = r[c] - mx[c];
        cl[c] = d > -150.0f ? d : -150.0f;
        nan_seen[c] |= d != d;
    }
    for (c = cs; c < cb; c++) {
        r[c] = expf_small(cl[c]);
        a[c] += r[c];
    }
}

static inline void softmax_div_step(float *restrict r, const double *restrict sum, int cs, int cb) {
    int c;
    for (c = cs; c < cb; c++) r[c] = (float)(r[c] / sum[c]);
}

/* softmax_row on each column c of x [rows, cols] (row stride ld) over its first
 * n_c = min(rows, first + c + 1) rows, the rows below set to 0 (kernels.h). Row by
 * row, each step vectorized across the columns, with softmax_row's operations per
 * column: the maximum (exact: the same value in any order; a zero's sign, the one
 * thing the order could change, changes no exp), exp of x - max clamped at -150,
 * the sum in double in sum8's order (element j into chain j % 8, the chains combined
 * pairwise), then the division in double. So the same bits as softmax_row. */
static void softmax_causal_columns(float *x, int ld, int rows, int cols, int first) {
    int c0, c, j, k;
    for (c0 = 0; c0 < cols; c0 += SOFTMAX_COLS) {
        const int cb = cols - c0 < SOFTMAX_COLS ? cols - c0 : SOFTMAX_COLS;
        /* rows [0, full) hold every column of the block (row j belongs to the
         * columns c >= j - first - c0) */
        const int full = cb == SOFTMAX_COLS ? (first + c0 + 1 < rows ? first + c0 + 1 : rows) : 0;
        float mx[SOFTMAX_COLS];
        double acc[8][SOFTMAX_COLS], sum[SOFTMAX_COLS];
        int nan_seen[SOFTMAX_COLS];
        for (c = 0; c < cb; c++) {
            mx[c] = x[c0 + c]; /* row 0: every column has it */
            nan_seen[c] = 0;
        }
        for (k = 0; k < 8; k++)
            for (c = 0; c < cb; c++) acc[k][c] = 0.0;
        for (j = 1; j < full; j++) softmax_max_step(mx, x + (size_t)j * ld + c0, 0, SOFTMAX_COLS);
        for (j = full > 1 ? full : 1; j < rows; j++) {
            const int cs = j - first - c0 > 0 ? j - first - c0 : 0;
            if (cs >= cb) break;
            softmax_max_step(mx, x + (size_t)j * ld + c0, cs, cb);
        }
        for (j = 0; j < full; j++) softmax_exp_step(x + (size_t)j * ld + c0, acc[j % 8], mx, nan_seen, 0, SOFTMAX_COLS);
        for (j = full; j < rows; j++) {
            float *restrict r = x + (size_t)j * ld + c0;
            const int cs = j - first - c0 > 0 ? (j - first - c0 < cb ? j - first - c0 : cb) : 0;
            for (c = 0; c < cs; c++) r[c] = 0.0f; /* past the column's last row */
            softmax_exp_step(r, acc[j % 8], mx, nan_seen, cs, cb);
        }
        for (c = 0; c < cb; c++)
            sum[c] = nan_seen[c] ? NAN
                                 : ((acc[0][c] + acc[1][c]) + (acc[2][c] + acc[3][c])) +
                                       ((acc[4][c] + acc[5][c]) + (acc[6][c] + acc[7][c]));
        for (j = 0; j < full; j++) softmax_div_step(x + (size_t)j * ld + c0, sum, 0, SOFTMAX_COLS);
        for (j = full; j < rows; j++) {
            const int cs = j - first - c0 > 0 ? j - first - c0 : 0;
            if (cs >= cb) break;
            softmax_div_step(x + (size_t)j * ld + c0, sum, cs, cb);
        }
    }
}

/* ---- the machine's multiply-add peak -------------------------------------- */

/* Twelve independent chains of vector multiply-adds (enough to cover the
 * latency of two FMA or FADD pipes) for `iters` steps, compiled with the same
 * instruction set as the kernels above: `make bench` divides by this. Returns
 * the number of flops done; the caller times it. */
static double madd_peak_loop(long iters) {
#if defined(__GNUC__) && !defined(KERNELS_PORTABLE)
    vfloat a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11, m, c;
    float sink[VL];
    int j;
    long it;
    for (j = 0; j < VL; j++) {
        m[j] = 0.9999999f;
        c[j] = 1e-7f * (float)(j + 1);
    }
    /* Twelve different starting values: identical ones would let the
     * compiler compute one chain for all twelve. */
    a0 = c * 1.0f, a1 = c * 2.0f, a2 = c * 3.0f, a3 = c * 4.0f, a4 = c * 5.0f, a5 = c * 6.0f;
    a6 = c * 7.0f, a7 = c * 8.0f, a8 = c * 9.0f, a9 = c * 10.0f, a10 = c * 11.0f, a11 = c * 12.0f;
    for (it = 0; it < iters; it++) {
        a0 = maddv(a0, m, c); a1 = maddv(a1, m, c); a2 = maddv(a2, m, c); a3 = maddv(a3, m, c);
        a4 = maddv(a4, m, c); a5 = maddv(a5, m, c); a6 = maddv(a6, m, c); a7 = maddv(a7, m, c);
        a8 = maddv(a8, m, c); a9 = maddv(a9, m, c); a10 = maddv(a10, m, c); a11 = maddv(a11, m, c);
    }
    a0 = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11;
    memcpy(sink, &a0, sizeof sink);
    /* a data-dependent result keeps the loop alive (never 0: the chains stay near 1e-6) */
    return sink[0] != 0.0f ? 2.0 * 12 * VL * (double)iters : 0.0;
#else
    float acc[12][VL];
    int i, j;
    long it;
    for (i = 0; i < 12; i++)
        for (j = 0; j < VL; j++) acc[i][j] = 1e-7f * (float)(i * VL + j + 1);
    for (it = 0; it < iters; it++)
        for (i = 0; i < 12; i++)
            for (j = 0; j < VL; j++) acc[i][j] = madd(acc[i][j], 0.9999999f, 1e-7f);
    return acc[0][0] != 0.0f ? 2.0 * 12 * VL * (double)iters : 0.0;
#endif
}

/* ---- dot products side by side (projection ratios) ------------------------ */

/* out[r * n + k] = dot(b[r], a[k]) and self[r] = dot(b[r], b[r]) (kernels.h): each dot
 * product in double as DOT_CHAINS chains, chain l summing x[d] y[d] for d = l, l + 8, ...
 * in d order, then the chains pairwise. The values are floats, whose products are exact
 * in double, so a fused multiply-add rounds exactly as a multiply then an add does and
 * every copy gives the plain loop's bits. One vector of DOT_CHAINS doubles holds the
 * chains of one dot product (GNU vector types; the plain loop elsewhere), filled straight
 * from the floats (8 at a time, converted in the register: no copy in double). A register
 * tile of DOT_DIRS directions x DOT_STEP vectors: each load of a serves every direction of
 * the tile, each load of b every vector. */
#if defined(__GNUC__) && !defined(KERNELS_PORTABLE)
/* The chains as one vector of doubles (two or four registers below AVX-512). */
typedef double vchains __attribute__((vector_size(DOT_CHAINS * sizeof(double))));
typedef float vchains_f __attribute__((vector_size(DOT_CHAINS * sizeof(float))));

/* *v = the DOT_CHAINS floats at p, in double (through a pointer: returning a vector
 * wider than the build's registers changes the ABI, and gcc warns about it). Built
 * element by element: gcc 12 turns __builtin_convertvector of 8 floats into two half
 * conversions and a shuffle, this into one vcvtps2pd. */
static inline void load_chains(vchains *v, const float *p) {
    vchains_f f;
    memcpy(&f, p, sizeof f);
    *v = (vchains){f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7]};
}

/* The last n < DOT_CHAINS floats at p, zero-padded (a zero product adds exactly nothing). */
static inline void load_chains_tail(vchains *v, const float *p, int n) {
    float f[DOT_CHAINS] = {0};
    memcpy(f, p, (size_t)n * sizeof *f);
    load_chains(v, f);
}

static inline double chains_sum(const vchains *v) {
    return (((*v)[0] + (*v)[1]) + ((*v)[2] + (*v)[3])) + (((*v)[4] + (*v)[5]) + ((*v)[6] + (*v)[7]));
}

/* The tile: AVX-512's 32 registers hold 4 x 6 accumulators, 4 directions and a vector
 * (24 chains of vectors keep its two FMA pipes busy through four cycles of latency);
 * narrower copies hold a vector in two or four registers, so 2 x 2. A lone direction
 * (Fig 2, the MLPs of the scan) takes DOT_STEP1 vectors at a time instead. */
#if VL == 16
#define DOT_DIRS 4
#define DOT_STEP 6
#define DOT_STEP1 12
#else
#define DOT_DIRS 2
#define DOT_STEP 2
#define DOT_STEP1 4
#endif

/* One tile: directions bp[0..R) (repeats allowed) times vectors a[k..k+C) (the last
 * repeated past n), over d = 0..D-1; stores only directions < nr and vectors < n.
 * R and C are constants at every call, so the accumulators stay in registers. */
static inline void dot_tile(double *out, int ldo, const float *const *bp, int nr, const float *const *a, int k, int n,
                            int D, const int R, const int C) {
    const float *ap[DOT_STEP1];
    vchains s[DOT_DIRS][DOT_STEP1], bd[DOT_DIRS], x;
    const int m = n - k < C ? n - k : C, tail = D % DOT_CHAINS;
    int i, j, d;
    for (j = 0; j < C; j++) ap[j] = a[k + (j < m ? j : m - 1)];
    for (i = 0; i < R; i++)
        for (j = 0; j < C; j++) s[i][j] = (vchains){0};
    for (d = 0; d + DOT_CHAINS <= D; d += DOT_CHAINS) {
        for (i = 0; i < R; i++) load_chains(&bd[i], bp[i] + d);
        for (j = 0; j < C; j++) {
            load_chains(&x, ap[j] + d);
            for (i = 0; i < R; i++) s[i][j] += x * bd[i];
        }
    }
    if (tail) {
        for (i = 0; i < R; i++) load_chains_tail(&bd[i], bp[i] + d, tail);
        for (j = 0; j < C; j++) {
            load_chains_tail(&x, ap[j] + d, tail);
            for (i = 0; i < R; i++) s[i][j] += x * bd[i];
        }
    }
    for (i = 0; i < nr && i < R; i++)
        for (j = 0; j < m; j++) out[(size_t)i * ldo + k + j] = chains_sum(&s[i][j]);
}

/* self[r] for DOT_DIRS directions at once (repeats allowed; stores the first nr). */
static inline void dot_self(double *self, const float *const *bp, int nr, int D) {
    vchains s[DOT_DIRS], x;
    const int tail = D % DOT_CHAINS;
    int i, d;
    for (i = 0; i < DOT_DIRS; i++) s[i] = (vchains){0};
    for (d = 0; d + DOT_CHAINS <= D; d += DOT_CHAINS)
        for (i = 0; i < DOT_DIRS; i++) {
            load_chains(&x, bp[i] + d);
            s[i] += x * x;
        }
    if (tail)
        for (i = 0; i < DOT_DIRS; i++) {
            load_chains_tail(&x, bp[i] + d, tail);
            s[i] += x * x;
        }
    for (i = 0; i < nr; i++) self[i] = chains_sum(&s[i]);
}

static void dot_rows(double *out, double *self, const float *const *b, int nb, const float *const *a, int n, int D) {
    int r0, k, i;
    for (r0 = 0; r0 < nb; r0 += DOT_DIRS) {
        const int nr = nb - r0 < DOT_DIRS ? nb - r0 : DOT_DIRS;
        const float *bp[DOT_DIRS];
        for (i = 0; i < DOT_DIRS; i++) bp[i] = b[r0 + (i < nr ? i : nr - 1)];
        if (self) dot_self(self + r0, bp, nr, D);
        if (nr == 1)
            for (k = 0; k < n; k += DOT_STEP1) dot_tile(out + (size_t)r0 * n, n, bp, 1, a, k, n, D, 1, DOT_STEP1);
        else
            for (k = 0; k < n; k += DOT_STEP) dot_tile(out + (size_t)r0 * n, n, bp, nr, a, k, n, D, DOT_DIRS, DOT_STEP);
    }
}
#else
/* dot(x, y) of kernels.h, one chain at a time. */
static double dot_chains(const float *x, const float *y, int D) {
    double c[DOT_CHAINS] = {0};
    int d;
    for (d = 0; d < D; d++) c[d % DOT_CHAINS] += (double)x[d] * y[d];
    return ((c[0] + c[1]) + (c[2] + c[3])) + ((c[4] + c[5]) + (c[6] + c[7]));
}

static void dot_rows(double *out, double *self, const float *const *b, int nb, const float *const *a, int n, int D) {
    int r, k;
    for (r = 0; r < nb; r++) {
        if (self) self[r] = dot_chains(b[r], b[r], D);
        for (k = 0; k < n; k++) out[(size_t)r * n + k] = dot_chains(b[r], a[k], D);
    }
}
#endif

/* ---- the table ------------------------------------------------------------ */

/* kernels_avx2.c and the tests compile this file under other names. */
#ifndef KERNELS_TABLE
#define KERNELS_TABLE kernels_baseline
#define KERNELS_TABLE_NAME "baseline"
#endif

const KernelTable KERNELS_TABLE = {
    KERNELS_TABLE_NAME, VL,          matmul_strided,   matmul_at,     matmul_pairs,     packed_floats,
    pack_panels,        gemm,        layernorm,
    gelu_erf,           gelu_tanh,   relu,             softmax_row,   softmax_causal_columns,
    dot_rows,           transpose_kernel, add_floats,     first_reaching,   madd_peak_loop,
};
