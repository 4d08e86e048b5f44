/* kernels.h - the math the forward pass spends its time in.
 *
 * All matrices are row-major float32. Every kernel is deterministic: the result
 * is bit-identical whatever the number of threads (work is split over output
 * elements only; each output's reduction order is fixed).
 */
#ifndef CLEANUP_KERNELS_H
#define CLEANUP_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* out[M,N] = a[M,K] @ w[K,N] (+ bias[N] if bias is not NULL). out must not alias a or w. */
void matmul(float *out, const float *a, const float *w, const float *bias, int M, int K, int N);

/* Same with leading dimensions (row strides, in floats) for each matrix, for
 * operating on column blocks: out[i*ldo + j] = sum_k a[i*lda + k] * w[k*ldw + j] (+ bias[j]). */
void matmul_strided(float *out, int ldo, const float *a, int lda, const float *w, int ldw,
                    const float *bias, int M, int K, int N);

/* The same product with a given transposed (stored column by column): at [K, M], row
 * stride ldat, holds a[i,k] at at[k*ldat + i]:
 *   out[i*ldo + j] = sum_k at[k*ldat + i] * w[k*ldw + j] (+ bias[j]).
 * The same chains as matmul_strided on a stored row by row, so the same bits; packing
 * a column-stored a is a plain copy, where a row-stored one is a transposition (for
 * products of few rows by few columns over a long k, a large part of their time). */
void matmul_at(float *out, int ldo, const float *at, int ldat, const float *w, int ldw, const float *bias, int M, int K,
               int N);

/* Chosen outputs of a [M, K] @ w [K, N], a given transposed (as matmul_at takes it):
 *   out[q] = sum_k at[k * ldat + rows[q]] * w[k * ldw + cols[q]] (+ bias[cols[q]] if not NULL)
 * for q < n, each the same chain as that output of matmul_at (the same bits): a few outputs
 * of a large product (the candidates of Section 3.2's top-2 logits) without the rest, each
 * row k of at and w read once, in order. One thread. */
void matmul_pairs(float *out, const float *at, int ldat, const int *rows, const float *w, int ldw, const int *cols,
                  const float *bias, int n, int K);

/* ---- weights packed once ----------------------------------------------------
 * matmul copies the panels of w it multiplies by into the layout its register tiles
 * read (kernels_baseline.c: pack_b), at every call: for many products of a few rows
 * by the same w (the attention: one head's W_O, 128 KB, for each tile of 96 queries;
 * the MLP's W_in and W_out, 4 MB each, for each chunk of 48 rows) the copies add up. PackedWeights holds that layout, made once, for the kernels that
 * were active when it was made (the layout depends on their vector width). */
typedef struct {
    const float *w;      /* the matrix packed, [K, N] with row stride ldw (not owned: must outlive this) */
    int ldw, K, N;
    float *panels;       /* its packed copy (not owned), or NULL: matmul_packed reads w */
    size_t cap;          /* floats at panels */
    const void *kernels; /* the kernels that packed it (matmul_packed under others reads w) */
} PackedWeights;

/* The floats pack_weights needs for a [K, N] matrix under the active kernels: K times
 * N rounded up to a multiple of the register tile's width (at most 32 floats more per row). */
size_t packed_weights_floats(int K, int N);

/* Makes p describe w [K, N] (row stride ldw) and, when panels is not NULL (cap floats,
 * at least packed_weights_floats(K, N); else it is not used), packs w into it for the
 * active kernels. With panels NULL, p still works: matmul_packed then reads w. Call
 * again after changing w. Threads share the work. */
void pack_weights(PackedWeights *p, float *panels, size_t cap, const float *w, int ldw, int K, int N);

/* out[i*ldo + j] = sum_k a[i*lda + k] * w[k, j] (+ bias[j]) for w = p's matrix: the same
 * bits as matmul_strided(out, ldo, a, lda, p->w, p->ldw, bias, M, p->K, p->N) (each
 * output is the same chain; only where the copy of w is read from differs), without
 * packing w again (unless other kernels than those that packed it are active). */
void matmul_packed(float *out, int ldo, const float *a, int lda, const PackedWeights *p, const float *bias, int M);

/* out[i*ldo + j] = out[i*ldo + j] + (sum_k a[i*lda + k] * w[k, j]) for w = p's matrix: the
 * same bits as matmul_packed into a scratch array, then out += it (the attention adds each
 * head's W_O product to attn_out without writing it anywhere else). */
void matmul_packed_add(float *out, int ldo, const float *a, int lda, const PackedWeights *p, int M);

/* out[i*ldo + j] = sum_k at[k*ldat + i] * w[k, j] over the first K <= p->K rows of p's
 * matrix (at: a [M, K] given transposed, as matmul_at takes it): the same bits as
 * matmul_at(out, ldo, at, ldat, p->w, p->ldw, NULL, M, K, p->N). A prefix of the rows
 * reads the same packed panels: the attention packs a row's values once for all its
 * query tiles, each of which sees the first nk keys. */
void matmul_at_packed(float *out, int ldo, const float *at, int ldat, const PackedWeights *p, int K, int M);

/* LayerNorm of each of `rows` rows of x[rows,D]:
 *   scale[r] = sqrt(mean((x - mean x)^2) + eps); out = (x - mean x) / scale (* w + b when w, b given).
 * scale may be NULL. out may alias x. */
void layernorm(float *out, float *scale, const float *x, const float *w, const float *b, int rows, int D, float eps);

/* In-place activations over n floats, each element on its own (so the same
 * bits whatever the thread count), within 3 ulp of the exact function wherever
 * the result is a normal float (tools/check_float_math.c checks every float). */
void gelu_erf(float *x, size_t n);   /* 0.5 x (1 + erf(x / sqrt 2)) */
void gelu_tanh(float *x, size_t n);  /* 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) - gelu_new / gelu_fast */
void relu(float *x, size_t n);

/* out[i] = a[i] + b[i] for i < n, one thread (out may be a or b): the residual stream's
 * sums and the attention's per-head sums, in the kernels' vector width (the same bits as
 * any loop: each element is one float addition). */
void add_floats(float *out, const float *a, const float *b, size_t n);

/* In-place softmax of x[0..n): exp(x - max) / sum, exp in float (within 1 ulp),
 * the sum in double in a fixed order (8 interleaved partial sums) and the
 * division in double, so the same bits on every call. */
void softmax_row(float *x, int n);

/* The causal softmax of an attention tile stored key by query: x [rows, cols] (row
 * stride ld), column c = query first + c over keys 0..rows-1. Each column c becomes
 * softmax_row of its first n_c = min(rows, first + c + 1) values (the same bits), its
 * rows from n_c on are set to 0. Vectorized across the columns. */
void softmax_causal_columns(float *x, int ld, int rows, int cols, int first);

/* Dot products of float vectors in double, in one fixed order: for r < nb, k < n,
 *   out[r * n + k] = dot(b[r], a[k]),   self[r] = dot(b[r], b[r])  (self not NULL),
 * where dot(x, y) over d < D is DOT_CHAINS chains, chain l the sum of x[d] * y[d] for
 * d = l, l + DOT_CHAINS, ... in d order, combined ((c0 + c1) + (c2 + c3)) + ((c4 + c5) +
 * (c6 + c7)): the order of one vector of 8 doubles along d (projection_ratio's, the
 * projection ratios of every experiment). Several directions b share the vectors a: each
 * a is read once for a tile of them. The products of float values are exact in double,
 * so every kernel copy gives the plain loop's bits. */
#define DOT_CHAINS 8
void dot_rows(double *out, double *self, const float *const *b, int nb, const float *const *a, int n, int D);
/* The first j in [0, n) with s[j] + add[j] + x * mul[j] >= need, or n: a search through
 * bounds that rarely succeeds (Section 3.2's screened logits against the second best),
 * tested many elements at a time. The sum is evaluated in float in any order, with or
 * without a fused multiply-add (the copies differ): the caller allows for its rounding. */
int first_reaching(const float *s, const float *add, const float *mul, float x, float need, int n);
/* dst[c * ldd + r] = src[r * lds + c] for r < rows, c < cols: a copy, transposed (the
 * attention's keys and queries). */
void transpose_floats(float *dst, int ldd, const float *src, int lds, int rows, int cols);

/* ---- instruction set ------------------------------------------------------
 * The kernels are compiled three times on x86-64: for the baseline
 * instruction set (SSE2, runs everywhere), for AVX2 + FMA (about 2x faster)
 * and for AVX-512 F/VL/BW/DQ (16-float vectors, 32 registers: about 2x
 * AVX2 again on CPUs with full-width 512-bit FMA units). A copy runs only
 * where the CPU has its instructions and the operating system saves its
 * registers (XCR0). Until kernels_init or kernels_use is called, the
 * baseline kernels run. Each copy is bit-identical across thread counts;
 * the copies may differ from each other in the last bits (FMA rounds once). */

/* Selects the kernels once, before any parallel use: those named by the
 * environment variable CLEANUP_SIMD ("baseline", "avx2" or "avx512"), or,
 * when it is unset, empty or "auto", the fastest this machine runs. Returns
 * 0, or -1 with *why set to a static message (unknown name, or a copy asked
 * for that the CPU, its OS or the build lacks); the caller names CLEANUP_SIMD. */
int kernels_init(const char **why);
/* (-2 instead when CLEANUP_BF16, kernels.h: screen_name, is not unset, empty, "auto",
 * "off" or "portable"; the caller names CLEANUP_BF16.) */

/* Selects the kernels by name ("baseline", "avx2", "avx512"); 0 on success,
 * -1 if this build or machine lacks them (the active kernels are then unchanged). */
int kernels_use(const char *name);

/* The active kernels' name and vector width in floats. */
const char *kernels_name(void);
int kernels_vector_floats(void);

/* Runs the active kernels' multiply-add peak loop (12 independent vector
 * chains, `iters` steps) and returns the flops it did; time it to get the
 * machine's peak at the kernels' instruction set (`make bench`). */
double kernels_peak_loop(long iters);

/* ---- screening products in bfloat16 ---------------------------------------------
 * For a product whose outputs are only compared, to rule most of them out before the few
 * that matter are computed exactly (Section 3.2's top-2 of 48,262 logits a position): a
 * and w rounded to bfloat16 (8 significant bits; below 2^-126 in magnitude to 0) and
 * multiplied by AVX512_BF16's dot products of pairs, twice the float multiply-add rate.
 * Every screened output s of the product sum_k a[i,k] w[k,j] obeys
 *     |s - sum_k a[i,k] w[k,j]| <= screen_error(K) * sum_k |a[i,k]| |w[k,j]|
 *                                   + K * 2^-124 * (max_k |a[i,k]| + max_k |w[k,j]| + 1)
 * for finite a and w below 2^100 in magnitude (the caller checks), in exact arithmetic on
 * the right: the rounding of both operands, the products (exact in float) and a float sum
 * in any order, with any rounding of at most 2^-23 relative a step and denormals flushed
 * (the instructions flush them). The same values on every call, whatever the threads. */

/* The implementation screen_product runs: "bf16" (the AVX512_BF16 instructions; where the
 * CPU has them with the zmm state saved, and the avx512 kernels are active), "portable"
 * (the same arithmetic in plain C, one multiply-add at a time: for tests on any machine)
 * or NULL (off: screen_product must not be called). kernels_init and kernels_use choose
 * by the environment variable CLEANUP_BF16: unset, empty or "auto", "bf16" where it runs
 * and off elsewhere; "off"; "portable". The results are the same whichever runs. */
const char *screen_name(void);
/* Selects "bf16", "portable" or "off" (NULL or "off"); 0, or -1 when "bf16" cannot run
 * here (the choice is then unchanged). For tests. */
int screen_use(const char *name);
/* The coefficient of sum |a| |w| in the bound above, for products over K terms
 * (K <= 65536). */
double screen_error(int K);
/* uint32_t words of M rows of K values packed for screen_product; of [K, N] weights. */
size_t screen_rows_words(int M, int K);
size_t screen_weights_words(int K, int N);
/* Rounds a [M, K] (row stride lda) to bfloat16 into rows (screen_rows_words(M, K) words)
 * in the layout the product reads. One thread. */
void screen_pack_rows(uint32_t *rows, const float *a, int lda, int M, int K);
/* The same for w [K, N] (row stride ldw) into panels (screen_weights_words(K, N) words);
 * threads share the work. */
void screen_pack_weights(uint32_t *panels, const float *w, int ldw, int K, int N);
/* out[i * ldo + (j - n0)] = the screened product of row i < M and column j, n0 <= j < n1
 * (n0 a multiple of 32; n1 <= N), from rows and panels packed with the same K. Threads
 * share the work. */
void screen_product(float *out, int ldo, const uint32_t *rows, int M, const uint32_t *panels, int K, int n0, int n1);

#endif
