/* kernels_avx2.c - the kernels of kernels_baseline.c compiled a second time,
 * for x86-64 CPUs with AVX2 and FMA (the Makefile adds -mavx2 -mfma
 * -ffp-contract=fast for this file only): 8-float vectors and fused
 * multiply-adds, about twice the baseline SSE2 speed. kernels.c selects this
 * table at run time only on a CPU that has both extensions, so the binary
 * still runs on any x86-64. Without those flags (other CPUs, other
 * compilers) the table is an empty stub. */
#if defined(__AVX2__) && defined(__FMA__)
#define KERNELS_TABLE kernels_avx2
#define KERNELS_TABLE_NAME "avx2"
#include "kernels_baseline.c"
#else
#include "kernels_impl.h"
const KernelTable kernels_avx2 = {NULL, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
#endif
