/* kernels_avx512.c - the kernels of kernels_baseline.c compiled a third time,
 * for x86-64 CPUs with AVX-512 F/VL/BW/DQ (the Makefile adds -mavx512f
 * -mavx512vl -mavx512bw -mavx512dq -mavx2 -mfma -ffp-contract=fast for this
 * file only): 16-float vectors, 32 vector registers and a taller matmul
 * register tile (kernels_baseline.c), about twice the AVX2 speed where the
 * CPU has two full-width 512-bit FMA pipes. kernels.c selects this table at
 * run time only when the CPU has these extensions and the operating system
 * saves the zmm and opmask registers, so the binary still runs on any x86-64.
 * Without those flags (other CPUs, other compilers) the table is an empty stub. */
#if defined(__AVX512F__) && defined(__AVX512VL__) && defined(__AVX512BW__) && defined(__AVX512DQ__) && \
    defined(__AVX2__) && defined(__FMA__)
#define KERNELS_TABLE kernels_avx512
#define KERNELS_TABLE_NAME "avx512"
#include "kernels_baseline.c"
#else
#include "kernels_impl.h"
const KernelTable kernels_avx512 = {NULL, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
#endif
