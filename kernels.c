/* kernels.c - see kernels.h.
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
 * choice, the same in every path of one build: bits can differ between builds
 * (e.g. clang -march=native fuses, gcc does not), never within one.
 */
#include "kernels.h"

#include <math.h>
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
 * (AVX: 6 x 16 floats; SSE2/NEON: 6 x 8). */
#if defined(__AVX__)
#define VL 8
#else
#define VL 4
#endif
#define MR 6
#define NR (2 * VL)
/* Cache blocks: a KC x NR sliver of w stays in L1, an MC x KC block of a in L2,
 * the KC x NC panel of w in L2/L3. MC is a multiple of MR, NC of NR. */
#define KC 256
#define MC 96
#define NC 2048

/* Below this many multiply-adds a product runs on one thread with the plain loop. */
#define SMALL_MACS (64L * 64 * 64)

/* The plain loop, for small products and as a fallback when memory for the
 * packed panels is short: rows [m0,m1), columns [n0,n1). Same chains as the
 * blocked path, so the same bits. */
static void gemm_rows(float *out, int ldo, const float *a, int lda, const float *w, int ldw,
                      const float *bias, int m0, int m1, int n0, int n1, int K) {
    int i, j, k;
    for (i = m0; i < m1; i++) {
        float *restrict o = out + (size_t)i * ldo;
        const float *ai = a + (size_t)i * lda;
        for (j = n0; j < n1; j++) o[j] = 0.0f;
        for (k = 0; k < K; k++) {
            const float aik = ai[k];
            const float *restrict wk = w + (size_t)k * ldw;
            for (j = n0; j < n1; j++) o[j] = madd(aik, wk[j], o[j]);
        }
        if (bias)
            for (j = n0; j < n1; j++) o[j] = o[j] + bias[j];
    }
}

/* Packs rows [0,mc) x cols [0,kc) of a (row stride lda) into MR-row micro-panels:
 * ap[(ir/MR)*kc*MR + p*MR + i] = a[ir+i, p], rows past mc padded with zeros. */
static void pack_a(float *restrict ap, const float *a, int lda, int mc, int kc) {
    int ir, i, p;
    for (ir = 0; ir < mc; ir += MR) {
        const int mr = mc - ir < MR ? mc - ir : MR;
        float *restrict dst = ap + (size_t)ir * kc;
        for (i = 0; i < mr; i++) {
            const float *src = a + (size_t)(ir + i) * lda;
            for (p = 0; p < kc; p++) dst[p * MR + i] = src[p];
        }
        for (; i < MR; i++)
            for (p = 0; p < kc; p++) dst[p * MR + i] = 0.0f;
    }
}

/* Packs rows [0,kc) x cols [0,nc) of w (row stride ldw) into NR-column slivers:
 * bp[(jr/NR)*kc*NR + p*NR + j] = w[p, jr+j], columns past nc padded with zeros. */
static void pack_b(float *restrict bp, const float *w, int ldw, int kc, int nc) {
    int jr, j, p;
    for (jr = 0; jr < nc; jr += NR) {
        const int nr = nc - jr < NR ? nc - jr : NR;
        float *restrict dst = bp + (size_t)jr * kc;
        for (p = 0; p < kc; p++) {
            const float *src = w + (size_t)p * ldw + jr;
            float *restrict d = dst + (size_t)p * NR;
            if (nr == NR) {
                for (j = 0; j < NR; j++) d[j] = src[j];
            } else {
                for (j = 0; j < nr; j++) d[j] = src[j];
                for (; j < NR; j++) d[j] = 0.0f;
            }
        }
    }
}

/* The micro-kernel: c[MR][NR] (in/out, the carried partial sums) continues
 * each output's chain over kc packed steps: for p, c[i][j] = madd(ap[p][i], bp[p][j], c[i][j]).
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

static void micro_kernel(int kc, const float *restrict ap, const float *restrict bp, float *restrict c) {
    vfloat c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
    const vfloat zero = {0};
    const size_t vb = sizeof(vfloat);
    int p;
    /* memcpy: the tile need not be vector-aligned; compilers emit plain loads. */
    memcpy(&c00, c + 0 * NR, vb); memcpy(&c01, c + 0 * NR + VL, vb);
    memcpy(&c10, c + 1 * NR, vb); memcpy(&c11, c + 1 * NR + VL, vb);
    memcpy(&c20, c + 2 * NR, vb); memcpy(&c21, c + 2 * NR + VL, vb);
    memcpy(&c30, c + 3 * NR, vb); memcpy(&c31, c + 3 * NR + VL, vb);
    memcpy(&c40, c + 4 * NR, vb); memcpy(&c41, c + 4 * NR + VL, vb);
    memcpy(&c50, c + 5 * NR, vb); memcpy(&c51, c + 5 * NR + VL, vb);
    for (p = 0; p < kc; p++) {
        const float *av = ap + (size_t)p * MR;
        vfloat b0, b1, a;
        memcpy(&b0, bp + (size_t)p * NR, vb);
        memcpy(&b1, bp + (size_t)p * NR + VL, vb);
        /* x - 0 is exactly x (also for -0), so this is a pure broadcast. */
        a = av[0] - zero; c00 = maddv(a, b0, c00); c01 = maddv(a, b1, c01);
        a = av[1] - zero; c10 = maddv(a, b0, c10); c11 = maddv(a, b1, c11);
        a = av[2] - zero; c20 = maddv(a, b0, c20); c21 = maddv(a, b1, c21);
        a = av[3] - zero; c30 = maddv(a, b0, c30); c31 = maddv(a, b1, c31);
        a = av[4] - zero; c40 = maddv(a, b0, c40); c41 = maddv(a, b1, c41);
        a = av[5] - zero; c50 = maddv(a, b0, c50); c51 = maddv(a, b1, c51);
    }
    memcpy(c + 0 * NR, &c00, vb); memcpy(c + 0 * NR + VL, &c01, vb);
    memcpy(c + 1 * NR, &c10, vb); memcpy(c + 1 * NR + VL, &c11, vb);
    memcpy(c + 2 * NR, &c20, vb); memcpy(c + 2 * NR + VL, &c21, vb);
    memcpy(c + 3 * NR, &c30, vb); memcpy(c + 3 * NR + VL, &c31, vb);
    memcpy(c + 4 * NR, &c40, vb); memcpy(c + 4 * NR + VL, &c41, vb);
    memcpy(c + 5 * NR, &c50, vb); memcpy(c + 5 * NR + VL, &c51, vb);
}
#else
static void micro_kernel(int kc, const float *restrict ap, const float *restrict bp, float *restrict c) {
    float acc[MR * NR];
    int p, i, j;
    for (i = 0; i < MR * NR; i++) acc[i] = c[i];
    for (p = 0; p < kc; p++) {
        const float *restrict b = bp + (size_t)p * NR;
        const float *restrict av = ap + (size_t)p * MR;
        for (i = 0; i < MR; i++) {
            const float ai = av[i];
#if defined(_OPENMP)
#pragma omp simd
#endif
            for (j = 0; j < NR; j++) acc[i * NR + j] = madd(ai, b[j], acc[i * NR + j]);
        }
    }
    for (i = 0; i < MR * NR; i++) c[i] = acc[i];
}
#endif

/* One thread's share: out rows [m0,m1) x cols [n0,n1), with private packing
 * buffers ap (MC*KC floats) and bp (KC*NC floats). */
static void gemm_blocked(float *out, int ldo, const float *a, int lda, const float *w, int ldw,
                         const float *bias, int m0, int m1, int n0, int n1, int K,
                         float *ap, float *bp) {
    float c[MR * NR];
    int jc, pc, ic, jr, ir, i, j;
    for (jc = n0; jc < n1; jc += NC) {
        const int nc = n1 - jc < NC ? n1 - jc : NC;
        for (pc = 0; pc < K; pc += KC) {
            const int kc = K - pc < KC ? K - pc : KC;
            const int first = pc == 0, last = pc + kc == K;
            pack_b(bp, w + (size_t)pc * ldw + jc, ldw, kc, nc);
            for (ic = m0; ic < m1; ic += MC) {
                const int mc = m1 - ic < MC ? m1 - ic : MC;
                pack_a(ap, a + (size_t)ic * lda + pc, lda, mc, kc);
                for (jr = 0; jr < nc; jr += NR) {
                    const int nr = nc - jr < NR ? nc - jr : NR;
                    for (ir = 0; ir < mc; ir += MR) {
                        const int mr = mc - ir < MR ? mc - ir : MR;
                        float *o = out + (size_t)(ic + ir) * ldo + jc + jr;
                        /* Load the carried partial sums (zero for the first K block). */
                        if (first) {
                            for (i = 0; i < MR * NR; i++) c[i] = 0.0f;
                        } else if (mr == MR && nr == NR) {
                            for (i = 0; i < MR; i++)
                                for (j = 0; j < NR; j++) c[i * NR + j] = o[(size_t)i * ldo + j];
                        } else {
                            for (i = 0; i < MR; i++)
                                for (j = 0; j < NR; j++)
                                    c[i * NR + j] = (i < mr && j < nr) ? o[(size_t)i * ldo + j] : 0.0f;
                        }
                        micro_kernel(kc, ap + (size_t)ir * kc, bp + (size_t)jr * kc, c);
                        if (mr == MR && nr == NR && !(last && bias)) {
                            for (i = 0; i < MR; i++)
                                for (j = 0; j < NR; j++) o[(size_t)i * ldo + j] = c[i * NR + j];
                            continue;
                        }
                        for (i = 0; i < mr; i++) {
                            float *oi = o + (size_t)i * ldo;
                            if (last && bias) {
                                const float *bj = bias + jc + jr;
                                for (j = 0; j < nr; j++) oi[j] = c[i * NR + j] + bj[j];
                            } else {
                                for (j = 0; j < nr; j++) oi[j] = c[i * NR + j];
                            }
                        }
                    }
                }
            }
        }
    }
}

/* Runs one thread's part [m0,m1) x [n0,n1) with its own packing buffers. */
static void gemm_part(float *out, int ldo, const float *a, int lda, const float *w, int ldw,
                      const float *bias, int m0, int m1, int n0, int n1, int K) {
    float *ap, *bp;
    if (m0 >= m1 || n0 >= n1) return;
    ap = (float *)malloc(sizeof(float) * MC * KC);
    bp = (float *)malloc(sizeof(float) * KC * NC);
    if (ap && bp)
        gemm_blocked(out, ldo, a, lda, w, ldw, bias, m0, m1, n0, n1, K, ap, bp);
    else /* short of memory: the slow loop, same results */
        gemm_rows(out, ldo, a, lda, w, ldw, bias, m0, m1, n0, n1, K);
    free(ap);
    free(bp);
}

void matmul_strided(float *out, int ldo, const float *a, int lda, const float *w, int ldw,
                    const float *bias, int M, int K, int N) {
    long macs;
    if (M <= 0 || N <= 0) return;
    macs = (long)M * N * (K > 0 ? K : 1);
    if (K <= 0 || macs < SMALL_MACS || M < MR) {
        gemm_rows(out, ldo, a, lda, w, ldw, bias, 0, M, 0, N, K > 0 ? K : 0);
        return;
    }
#ifdef _OPENMP
#pragma omp parallel if (macs >= 4 * SMALL_MACS)
#endif
    {
        int nt = 1, t = 0;
        /* Split the dimension with more register tiles into nt contiguous
         * ranges of whole tiles (static, so the same for every call). */
        const long um = (M + MR - 1) / MR, un = (N + NR - 1) / NR;
#ifdef _OPENMP
        nt = omp_get_num_threads();
        t = omp_get_thread_num();
#endif
        if (um >= un) {
            int m0 = (int)(um * t / nt) * MR, m1 = (int)(um * (t + 1) / nt) * MR;
            if (m1 > M) m1 = M;
            gemm_part(out, ldo, a, lda, w, ldw, bias, m0, m1, 0, N, K);
        } else {
            int n0 = (int)(un * t / nt) * NR, n1 = (int)(un * (t + 1) / nt) * NR;
            if (n1 > N) n1 = N;
            gemm_part(out, ldo, a, lda, w, ldw, bias, 0, M, n0, n1, K);
        }
    }
}

void matmul(float *out, const float *a, const float *w, const float *bias, int M, int K, int N) {
    matmul_strided(out, N, a, K, w, N, bias, M, K, N);
}

/* ---- layernorm, activations, softmax ------------------------------------ */

void layernorm(float *out, float *scale, const float *x, const float *w, const float *b, int rows, int D, float eps) {
    int r;
#ifdef _OPENMP
#pragma omp parallel for schedule(static)
#endif
    for (r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * D;
        float *o = out + (size_t)r * D;
        double mean = 0.0, var = 0.0;
        float s;
        int d;
        for (d = 0; d < D; d++) mean += xr[d];
        mean /= D;
        for (d = 0; d < D; d++) {
            double c = xr[d] - mean;
            var += c * c;
        }
        var /= D;
        s = (float)sqrt(var + eps);
        if (scale) scale[r] = s;
        for (d = 0; d < D; d++) {
            float v = (float)(xr[d] - mean) / s;
            if (w) v = v * w[d] + b[d];
            o[d] = v;
        }
    }
}

void gelu_erf(float *x, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) x[i] = (float)(0.5 * x[i] * (1.0 + erf(x[i] * 0.70710678118654752440)));
}

void gelu_tanh(float *x, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) {
        double v = x[i];
        x[i] = (float)(0.5 * v * (1.0 + tanh(0.79788456080286535588 * (v + 0.044715 * v * v * v))));
    }
}

void relu(float *x, size_t n) {
    size_t i;
    for (i = 0; i < n; i++)
        if (x[i] < 0.0f) x[i] = 0.0f;
}

void softmax_row(float *x, int n) {
    float mx = x[0];
    double sum = 0.0;
    int i;
    for (i = 1; i < n; i++)
        if (x[i] > mx) mx = x[i];
    for (i = 0; i < n; i++) {
        x[i] = expf(x[i] - mx);
        sum += x[i];
    }
    for (i = 0; i < n; i++) x[i] = (float)(x[i] / sum);
}
