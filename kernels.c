/* kernels.c - see kernels.h. The public entry points forward to one table
 * of kernels (kernels_impl.h), chosen once by kernels_init. */
#include "kernels.h"
#include "kernels_impl.h"

#include <stdlib.h>
#include <string.h>

static const KernelTable *active = &kernels_baseline;

/* 1 if the CPU and the operating system run AVX2 and FMA instructions
 * (gcc's and clang's cpu model checks the OS saves the AVX registers). */
static int cpu_has_avx2_fma(void) {
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

void kernels_use_table(const KernelTable *t) {
    active = t;
}

int kernels_use(const char *name) {
    if (strcmp(name, "baseline") == 0) {
        active = &kernels_baseline;
        return 0;
    }
    if (strcmp(name, "avx2") == 0 && kernels_avx2.name && cpu_has_avx2_fma()) {
        active = &kernels_avx2;
        return 0;
    }
    return -1;
}

int kernels_init(const char **why) {
    const char *want = getenv("CLEANUP_SIMD");
    *why = NULL;
    if (!want || !*want || strcmp(want, "auto") == 0) {
        if (kernels_use("avx2")) active = &kernels_baseline;
        return 0;
    }
    if (strcmp(want, "baseline") != 0 && strcmp(want, "avx2") != 0) {
        *why = "unknown value (expected auto, baseline or avx2)";
        return -1;
    }
    if (kernels_use(want)) {
        *why = kernels_avx2.name ? "this CPU lacks AVX2 or FMA"
                                 : "this build has no AVX2 kernels (x86-64 gcc/clang builds only)";
        return -1;
    }
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
