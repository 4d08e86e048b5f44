/* kernels_impl.h - internal to the kernels: one table of entry points per
 * compiled instruction set. kernels.c forwards the public API (kernels.h)
 * to the active table. */
#ifndef CLEANUP_KERNELS_IMPL_H
#define CLEANUP_KERNELS_IMPL_H

#include <stddef.h>

/* Chains of dot_rows, as in kernels.h (kernels.c includes both headers, so a mismatch
 * does not compile; the copies cannot include kernels.h, whose names they define static). */
#define DOT_CHAINS 8

typedef struct {
    const char *name;  /* "baseline", "avx2", "avx512"; NULL: not compiled into this build */
    int vector_floats; /* floats per vector register the kernels use */
    void (*matmul_strided)(float *out, int ldo, const float *a, int lda, const float *w, int ldw,
                           const float *bias, int M, int K, int N);
    void (*matmul_at)(float *out, int ldo, const float *at, int ldat, const float *w, int ldw, const float *bias, int M,
                      int K, int N);
    void (*matmul_pairs)(float *out, const float *at, int ldat, const int *rows, const float *w, int ldw,
                         const int *cols, const float *bias, int n, int K);
    /* weights packed once (kernels.h: PackedWeights): the floats the layout needs, the
     * packing, and the product reading it: out[M, N] = a @ the first K rows of w [Kp, N]
     * (+ bias; add: out += it instead), a[i,k] at a[i * ars + k * acs] (panels NULL:
     * packs as matmul_strided does) */
    size_t (*packed_floats)(int K, int N);
    void (*pack_weights)(float *panels, const float *w, int ldw, int K, int N);
    void (*matmul_packed)(float *out, int ldo, const float *a, size_t ars, size_t acs, const float *w, int ldw,
                          const float *panels, int Kp, const float *bias, int add, int M, int K, int N);
    void (*layernorm)(float *out, float *scale, const float *x, const float *w, const float *b, int rows, int D,
                      float eps);
    void (*gelu_erf)(float *x, size_t n);
    void (*gelu_tanh)(float *x, size_t n);
    void (*relu)(float *x, size_t n);
    void (*softmax_row)(float *x, int n);
    void (*softmax_causal_columns)(float *x, int ld, int rows, int cols, int first);
    void (*dot_rows)(double *out, double *self, const float *const *b, int nb, const float *const *a, int n, int D);
    void (*transpose)(float *dst, int ldd, const float *src, int lds, int rows, int cols);
    void (*add_floats)(float *out, const float *a, const float *b, size_t n);
    int (*first_reaching)(const float *s, const float *add, const float *mul, float x, float need, int n);
    double (*madd_peak_loop)(long iters); /* flops done by the peak loop (see kernels_madd_peak) */
} KernelTable;

extern const KernelTable kernels_baseline; /* kernels_baseline.c */
extern const KernelTable kernels_avx2;     /* kernels_avx2.c (name NULL off x86-64) */
extern const KernelTable kernels_avx512;   /* kernels_avx512.c (name NULL off x86-64) */

/* Makes `t` the active table, whatever the CPU (the tests use it for a table
 * they compiled themselves). */
void kernels_use_table(const KernelTable *t);

/* ---- choosing a table (kernels.c) ------------------------------------------
 * Split into pure functions of the CPU's answers so that the tests can ask
 * what would happen on a CPU this machine is not (no AVX-512, an OS that does
 * not save the zmm registers, ...). */

/* What the CPU and the operating system together can run: */
#define KERNELS_CPU_AVX2_FMA 1u /* AVX2 + FMA, and the OS saves the ymm state */
#define KERNELS_CPU_AVX512 2u   /* AVX-512 F, VL, BW, DQ (+ AVX2, FMA), and the OS saves the zmm and opmask state */
#define KERNELS_CPU_AVX512_BF16 4u /* and AVX512_BF16 (CPUID leaf 7 subleaf 1 EAX bit 5) */

/* The KERNELS_CPU_* bits from the raw answers: ecx1 = CPUID leaf 1 ECX,
 * ebx7 = CPUID leaf 7 subleaf 0 EBX, xcr0 = XGETBV(0) (read only when ecx1
 * says OSXSAVE; pass 0 otherwise). An instruction set counts only when the
 * CPU has it AND the OS has enabled its register state in XCR0 (bits 1-2
 * for xmm/ymm, 5-7 for opmask and zmm): a CPU bit alone would let the
 * program fault on the first vector instruction. */
unsigned kernels_cpu_features_from(unsigned ecx1, unsigned ebx7, unsigned long long xcr0);

/* features with KERNELS_CPU_AVX512_BF16 added when it has KERNELS_CPU_AVX512 and eax7_1
 * (CPUID leaf 7 subleaf 1 EAX) says AVX512_BF16: the dot products use the zmm state. */
unsigned kernels_cpu_bf16_from(unsigned features, unsigned eax7_1);

/* The KERNELS_CPU_* bits of this machine (0 off x86-64 gcc/clang builds). */
unsigned kernels_cpu_features(void);

/* The table CLEANUP_SIMD=want selects on a machine with `features`
 * (KERNELS_CPU_* bits), among the tables compiled into this build: want
 * NULL, "" or "auto" gives the fastest the machine runs; "baseline", "avx2",
 * "avx512" that table. NULL, with *why set to a static message, when want
 * is unknown or the build or the machine lacks that table. */
const KernelTable *kernels_choose(const char *want, unsigned features, const char **why);

#endif
