/* kernels_impl.h - internal to the kernels: one table of entry points per
 * compiled instruction set. kernels.c forwards the public API (kernels.h)
 * to the active table. */
#ifndef CLEANUP_KERNELS_IMPL_H
#define CLEANUP_KERNELS_IMPL_H

#include <stddef.h>

typedef struct {
    const char *name;  /* "baseline", "avx2"; NULL: not compiled into this build */
    int vector_floats; /* floats per vector register the kernels use */
    void (*matmul_strided)(float *out, int ldo, const float *a, int lda, const float *w, int ldw,
                           const float *bias, int M, int K, int N);
    void (*layernorm)(float *out, float *scale, const float *x, const float *w, const float *b, int rows, int D,
                      float eps);
    void (*gelu_erf)(float *x, size_t n);
    void (*gelu_tanh)(float *x, size_t n);
    void (*relu)(float *x, size_t n);
    void (*softmax_row)(float *x, int n);
    double (*madd_peak_loop)(long iters); /* flops done by the peak loop (see kernels_madd_peak) */
} KernelTable;

extern const KernelTable kernels_baseline; /* kernels_baseline.c */
extern const KernelTable kernels_avx2;     /* kernels_avx2.c (name NULL off x86-64) */

/* Makes `t` the active table, whatever the CPU (the tests use it for a table
 * they compiled themselves). */
void kernels_use_table(const KernelTable *t);

#endif
