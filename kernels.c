/* kernels.c - see kernels.h. The public entry points forward to one table
 * of kernels (kernels_impl.h), chosen once by kernels_init. */
#include "kernels.h"
#include "kernels_bf16.h"
#include "kernels_impl.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>
#if defined(__GNUC__) && defined(__x86_64__)
#include <cpuid.h>
#endif

static const KernelTable *active = &kernels_baseline;

/* The screening product's implementation (kernels.h: screen_name). */
enum { SCREEN_OFF, SCREEN_BF16, SCREEN_PORTABLE };
static int screen_mode = SCREEN_OFF;

unsigned kernels_cpu_features_from(unsigned ecx1, unsigned ebx7, unsigned long long xcr0) {
    const unsigned fma = 1u << 12, osxsave = 1u << 27, avx = 1u << 28;                      /* leaf 1 ECX */
    const unsigned avx2 = 1u << 5, f = 1u << 16, dq = 1u << 17, bw = 1u << 30, vl = 1u << 31; /* leaf 7 EBX */
    const unsigned long long ymm_state = 0x6, zmm_state = 0xe0;                             /* XCR0 */
    unsigned features = 0;
    if (!(ecx1 & osxsave) || (xcr0 & ymm_state) != ymm_state) return 0; /* the OS saves no ymm registers */
    if ((ecx1 & (fma | avx)) == (fma | avx) && (ebx7 & avx2)) {
        features |= KERNELS_CPU_AVX2_FMA;
        if ((ebx7 & (f | dq | bw | vl)) == (f | dq | bw | vl) && (xcr0 & zmm_state) == zmm_state)
            features |= KERNELS_CPU_AVX512;
    }
    return features;
}

unsigned kernels_cpu_bf16_from(unsigned features, unsigned eax7_1) {
    const unsigned avx512_bf16 = 1u << 5; /* leaf 7 subleaf 1 EAX */
    return (features & KERNELS_CPU_AVX512) && (eax7_1 & avx512_bf16) ? features | KERNELS_CPU_AVX512_BF16 : features;
}

unsigned kernels_cpu_features(void) {
#if defined(__GNUC__) && defined(__x86_64__)
    unsigned eax, ebx, ecx, edx, ecx1, ebx7 = 0, eax7_1 = 0;
    unsigned long long xcr0 = 0;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return 0;
    ecx1 = ecx;
    if (__get_cpuid_max(0, NULL) >= 7) {
        __cpuid_count(7, 0, eax, ebx, ecx, edx);
        ebx7 = ebx;
        if (eax >= 1) { /* subleaf 1 exists */
            __cpuid_count(7, 1, eax, ebx, ecx, edx);
            eax7_1 = eax;
        }
    }
    if (ecx1 & (1u << 27)) { /* OSXSAVE: XGETBV may be executed */
        unsigned lo, hi;
        __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
        xcr0 = (unsigned long long)hi << 32 | lo;
    }
    return kernels_cpu_bf16_from(kernels_cpu_features_from(ecx1, ebx7, xcr0), eax7_1);
#else
    return 0;
#endif
}

const KernelTable *kernels_choose(const char *want, unsigned features, const char **why) {
    const int has_avx512 = kernels_avx512.name && (features & KERNELS_CPU_AVX512);
    const int has_avx2 = kernels_avx2.name && (features & KERNELS_CPU_AVX2_FMA);
    *why = NULL;
    if (!want || !*want || strcmp(want, "auto") == 0)
        return has_avx512 ? &kernels_avx512 : has_avx2 ? &kernels_avx2 : &kernels_baseline;
    if (strcmp(want, "baseline") == 0) return &kernels_baseline;
    if (strcmp(want, "avx2") == 0) {
        if (has_avx2) return &kernels_avx2;
        *why = kernels_avx2.name ? "this CPU (or its operating system) lacks AVX2 or FMA"
                                 : "this build has no AVX2 kernels (x86-64 gcc/clang builds only)";
        return NULL;
    }
    if (strcmp(want, "avx512") == 0) {
        if (has_avx512) return &kernels_avx512;
        *why = kernels_avx512.name
                   ? "this CPU (or its operating system) lacks AVX-512 F/VL/BW/DQ with the zmm registers enabled"
                   : "this build has no AVX-512 kernels (x86-64 gcc/clang builds only)";
        return NULL;
    }
    *why = "unknown value (expected auto, baseline, avx2 or avx512)";
    return NULL;
}

/* Whether the AVX512_BF16 screening product runs: compiled in, the CPU and OS run it, and
 * the avx512 kernels are active (CLEANUP_SIMD=avx2 stands for an AVX2-only host). */
static int screen_bf16_runs(void) {
    return screen_bf16_compiled && active == &kernels_avx512 && (kernels_cpu_features() & KERNELS_CPU_AVX512_BF16);
}

/* What CLEANUP_BF16 asks for: SCREEN_OFF ("off"), SCREEN_PORTABLE ("portable"), SCREEN_BF16
 * (unset, empty or "auto": the instructions where they run), or -1 for anything else. */
static int screen_setting(void) {
    const char *e = getenv("CLEANUP_BF16");
    if (!e || !*e || strcmp(e, "auto") == 0) return SCREEN_BF16;
    if (strcmp(e, "off") == 0) return SCREEN_OFF;
    if (strcmp(e, "portable") == 0) return SCREEN_PORTABLE;
    return -1;
}

/* The screening that goes with the active kernels (kernels.h: screen_name). */
static void screen_follow_kernels(void) {
    const int want = screen_setting();
    if (want == SCREEN_BF16) screen_mode = screen_bf16_runs() ? SCREEN_BF16 : SCREEN_OFF;
    else screen_mode = want == SCREEN_PORTABLE ? SCREEN_PORTABLE : SCREEN_OFF;
}

void kernels_use_table(const KernelTable *t) {
    active = t;
    screen_follow_kernels();
}

int kernels_use(const char *name) {
    const char *why;
    const KernelTable *t = kernels_choose(name, kernels_cpu_features(), &why);
    if (!t || !name || !*name || strcmp(name, "auto") == 0) return -1; /* a name, not auto */
    active = t;
    screen_follow_kernels();
    return 0;
}

int kernels_init(const char **why) {
    const KernelTable *t = kernels_choose(getenv("CLEANUP_SIMD"), kernels_cpu_features(), why);
    if (!t) return -1;
    if (screen_setting() < 0) {
        *why = "unknown value (expected auto, off or portable)";
        return -2;
    }
    active = t;
    screen_follow_kernels();
    return 0;
}

const char *kernels_name(void) {
    return active->name;
}

int kernels_vector_floats(void) {
    return active->vector_floats;
}

double kernels_peak_loop(long iters) {
    return active->madd_peak_loop(iters);
}

void matmul_strided(float *out, int ldo, const float *a, int lda, const float *w, int ldw, const float *bias, int M,
                    int K, int N) {
    active->matmul_strided(out, ldo, a, lda, w, ldw, bias, M, K, N);
}

void matmul(float *out, const float *a, const float *w, const float *bias, int M, int K, int N) {
    active->matmul_strided(out, N, a, K, w, N, bias, M, K, N);
}

void matmul_at(float *out, int ldo, const float *at, int ldat, const float *w, int ldw, const float *bias, int M, int K,
               int N) {
    active->matmul_at(out, ldo, at, ldat, w, ldw, bias, M, K, N);
}

void matmul_pairs(float *out, const float *at, int ldat, const int *rows, const float *w, int ldw, const int *cols,
                  const float *bias, int n, int K) {
    active->matmul_pairs(out, at, ldat, rows, w, ldw, cols, bias, n, K);
}

void layernorm(float *out, float *scale, const float *x, const float *w, const float *b, int rows, int D, float eps) {
    active->layernorm(out, scale, x, w, b, rows, D, eps);
}

void gelu_erf(float *x, size_t n) {
    active->gelu_erf(x, n);
}

void gelu_tanh(float *x, size_t n) {
    active->gelu_tanh(x, n);
}

void relu(float *x, size_t n) {
    active->relu(x, n);
}

void softmax_row(float *x, int n) {
    active->softmax_row(x, n);
}

void softmax_causal_columns(float *x, int ld, int rows, int cols, int first) {
    active->softmax_causal_columns(x, ld, rows, cols, first);
}

void dot_rows(double *out, double *self, const float *const *b, int nb, const float *const *a, int n, int D) {
    active->dot_rows(out, self, b, nb, a, n, D);
}

void transpose_floats(float *dst, int ldd, const float *src, int lds, int rows, int cols) {
    active->transpose(dst, ldd, src, lds, rows, cols);
}

void add_floats(float *out, const float *a, const float *b, size_t n) {
    active->add_floats(out, a, b, n);
}

int first_reaching(const float *s, const float *add, const float *mul, float x, float need, int n) {
    return active->first_reaching(s, add, mul, x, need, n);
}

size_t packed_weights_floats(int K, int N) {
    return active->packed_floats(K, N);
}

void pack_weights(PackedWeights *p, float *panels, size_t cap, const float *w, int ldw, int K, int N) {
    p->w = w;
    p->ldw = ldw;
    p->K = K;
    p->N = N;
    p->panels = NULL;
    p->cap = 0;
    p->kernels = active;
    if (panels && K > 0 && N > 0 && cap >= active->packed_floats(K, N)) {
        active->pack_weights(panels, w, ldw, K, N);
        p->panels = panels;
        p->cap = cap;
    }
}

/* p's panels, when the active kernels packed them (a test switching kernels, say, leaves
 * panels in another copy's layout: the product then reads p->w). */
static const float *own_panels(const PackedWeights *p) {
    return p->kernels == (const void *)active ? p->panels : NULL;
}

void matmul_packed(float *out, int ldo, const float *a, int lda, const PackedWeights *p, const float *bias, int M) {
    active->matmul_packed(out, ldo, a, (size_t)lda, 1, p->w, p->ldw, own_panels(p), p->K, bias, 0, M, p->K, p->N);
}

void matmul_packed_add(float *out, int ldo, const float *a, int lda, const PackedWeights *p, int M) {
    active->matmul_packed(out, ldo, a, (size_t)lda, 1, p->w, p->ldw, own_panels(p), p->K, NULL, 1, M, p->K, p->N);
}

void matmul_at_packed(float *out, int ldo, const float *at, int ldat, const PackedWeights *p, int K, int M) {
    if (K < 0 || K > p->K) die(EXIT_INTERNAL, "internal: matmul_at_packed of %d rows of a %d-row matrix", K, p->K);
    active->matmul_packed(out, ldo, at, 1, (size_t)ldat, p->w, p->ldw, own_panels(p), p->K, NULL, 0, M, K, p->N);
}

/* ---- screening products in bfloat16 (kernels.h) ---------------------------------- */

const char *screen_name(void) {
    return screen_mode == SCREEN_BF16 ? "bf16" : screen_mode == SCREEN_PORTABLE ? "portable" : NULL;
}

int screen_use(const char *name) {
    if (!name || strcmp(name, "off") == 0) screen_mode = SCREEN_OFF;
    else if (strcmp(name, "portable") == 0) screen_mode = SCREEN_PORTABLE;
    else if (strcmp(name, "bf16") == 0 && screen_bf16_runs()) screen_mode = SCREEN_BF16;
    else return -1;
    return 0;
}

/* Rounding each operand to 8 significant bits: at most 2^-8 relative (2^-126 absolute
 * below 2^-126, flushed), so a product's error is at most (2^-7 + 2^-16) |a| |w| (plus
 * the absolute part of kernels.h); the products are exact in float (16 bits); a float sum
 * of K of them with at most 2^-23 relative a step errs by gamma_K = K u / (1 - K u) times
 * the sum of their magnitudes, each at most (1 + 2^-8)^2 |a| |w|. */
double screen_error(int K) {
    const double u = 1.0 / 8388608.0; /* 2^-23 */
    const double gamma = K * u / (1.0 - K * u);
    return 1.0 / 128 + 1.0 / 65536 + gamma * (1.0 + 1.0 / 256) * (1.0 + 1.0 / 256);
}

size_t screen_rows_words(int M, int K) {
    const size_t tiles = (size_t)(M + SCREEN_ROWS - 1) / SCREEN_ROWS;
    return tiles * SCREEN_ROWS * (size_t)((K + 1) / 2);
}

size_t screen_weights_words(int K, int N) {
    const size_t slivers = (size_t)(N + SCREEN_COLS - 1) / SCREEN_COLS;
    return slivers * SCREEN_COLS * (size_t)((K + 1) / 2);
}

/* x rounded to the nearest bfloat16, ties to even (the upper half of a float); 0 (with
 * x's sign) below 2^-126 in magnitude. x is finite and below 2^127 in magnitude. */
static uint32_t bf16_of(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    if ((u & 0x7f800000u) == 0) return (u >> 16) & 0x8000u;
    u += 0x7fffu + ((u >> 16) & 1u);
    return u >> 16;
}

/* The pair (x[k], x[k + 1]) as one word, 0 past K. */
static uint32_t bf16_pair(const float *x, size_t step, int k, int K) {
    const uint32_t lo = k < K ? bf16_of(x[(size_t)k * step]) : 0, hi = k + 1 < K ? bf16_of(x[(size_t)(k + 1) * step]) : 0;
    return lo | hi << 16;
}

void screen_pack_rows(uint32_t *rows, const float *a, int lda, int M, int K) {
    const int kp = (K + 1) / 2, tiles = (M + SCREEN_ROWS - 1) / SCREEN_ROWS;
    int t, p, r;
    for (t = 0; t < tiles; t++)
        for (p = 0; p < kp; p++)
            for (r = 0; r < SCREEN_ROWS; r++) {
                const int i = t * SCREEN_ROWS + r;
                rows[((size_t)t * kp + p) * SCREEN_ROWS + r] = i < M ? bf16_pair(a + (size_t)i * lda, 1, 2 * p, K) : 0;
            }
}

void screen_pack_weights(uint32_t *panels, const float *w, int ldw, int K, int N) {
    const int kp = (K + 1) / 2, slivers = (N + SCREEN_COLS - 1) / SCREEN_COLS;
    int s;
#ifdef _OPENMP
#pragma omp parallel for schedule(static)
#endif
    for (s = 0; s < slivers; s++) {
        uint32_t *out = panels + (size_t)s * SCREEN_COLS * kp;
        int p, c;
        for (p = 0; p < kp; p++)
            for (c = 0; c < SCREEN_COLS; c++) {
                const int j = s * SCREEN_COLS + c;
                out[(size_t)p * SCREEN_COLS + c] = j < N ? bf16_pair(w + j, (size_t)ldw, 2 * p, K) : 0;
            }
    }
}

/* The value of a bfloat16 (the upper half of a float). */
static float float_of_bf16(uint32_t h) {
    const uint32_t u = (h & 0xffffu) << 16;
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

/* The bf16 product's arithmetic in plain C: each row's pairs against each column's, the
 * products exact in float, summed one at a time in pair order. */
static void screen_product_portable(float *out, int ldo, const uint32_t *rows, int M, const uint32_t *panels, int K,
                                    int n0, int n1) {
    const int kp = (K + 1) / 2;
    int i;
#ifdef _OPENMP
#pragma omp parallel for schedule(static)
#endif
    for (i = 0; i < M; i++) {
        const uint32_t *ar = rows + (size_t)(i / SCREEN_ROWS) * SCREEN_ROWS * kp + i % SCREEN_ROWS;
        int j, p;
        for (j = n0; j < n1; j++) {
            const uint32_t *wc = panels + (size_t)(j / SCREEN_COLS) * SCREEN_COLS * kp + j % SCREEN_COLS;
            float acc = 0.0f;
            for (p = 0; p < kp; p++) {
                const uint32_t x = ar[(size_t)p * SCREEN_ROWS], y = wc[(size_t)p * SCREEN_COLS];
                acc = acc + float_of_bf16(x) * float_of_bf16(y);
                acc = acc + float_of_bf16(x >> 16) * float_of_bf16(y >> 16);
            }
            out[(size_t)i * ldo + (j - n0)] = acc;
        }
    }
}

void screen_product(float *out, int ldo, const uint32_t *rows, int M, const uint32_t *panels, int K, int n0, int n1) {
    if (n0 % SCREEN_COLS != 0 || n0 < 0 || n1 < n0)
        die(EXIT_INTERNAL, "internal: screen_product of columns [%d, %d) (the first a multiple of %d)", n0, n1, SCREEN_COLS);
    if (screen_mode == SCREEN_BF16) screen_product_bf16(out, ldo, rows, M, panels, K, n0, n1);
    else if (screen_mode == SCREEN_PORTABLE) screen_product_portable(out, ldo, rows, M, panels, K, n0, n1);
    else die(EXIT_INTERNAL, "internal: screen_product called with the screening off");
}
