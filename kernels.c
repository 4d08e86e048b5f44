/* kernels.c - see kernels.h. The public entry points forward to one table
 * of kernels (kernels_impl.h), chosen once by kernels_init. */
#include "kernels.h"
#include "kernels_impl.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>
#if defined(__GNUC__) && defined(__x86_64__)
#include <cpuid.h>
#endif

static const KernelTable *active = &kernels_baseline;

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

unsigned kernels_cpu_features(void) {
#if defined(__GNUC__) && defined(__x86_64__)
    unsigned eax, ebx, ecx, edx, ecx1, ebx7 = 0;
    unsigned long long xcr0 = 0;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return 0;
    ecx1 = ecx;
    if (__get_cpuid_max(0, NULL) >= 7) {
        __cpuid_count(7, 0, eax, ebx, ecx, edx);
        ebx7 = ebx;
    }
    if (ecx1 & (1u << 27)) { /* OSXSAVE: XGETBV may be executed */
        unsigned lo, hi;
        __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
        xcr0 = (unsigned long long)hi << 32 | lo;
    }
    return kernels_cpu_features_from(ecx1, ebx7, xcr0);
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

void kernels_use_table(const KernelTable *t) {
    active = t;
}

int kernels_use(const char *name) {
    const char *why;
    const KernelTable *t = kernels_choose(name, kernels_cpu_features(), &why);
    if (!t || !name || !*name || strcmp(name, "auto") == 0) return -1; /* a name, not auto */
    active = t;
    return 0;
}

int kernels_init(const char **why) {
    const KernelTable *t = kernels_choose(getenv("CLEANUP_SIMD"), kernels_cpu_features(), why);
    if (!t) return -1;
    active = t;
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
