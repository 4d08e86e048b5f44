/* test_kernels_portable.c - the same checks as test_kernels.c on the plain C99
 * micro-kernel (the fallback for compilers without GNU C vector types), by
 * compiling kernels.c into this program with KERNELS_PORTABLE defined. */
#define KERNELS_PORTABLE 1
#include "../kernels.c"
#include "test_kernels.c"
