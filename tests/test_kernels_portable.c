/* test_kernels_portable.c - the same checks as test_kernels.c on the plain C99
 * micro-kernel (the fallback for compilers without GNU C vector types), by
 * compiling kernels_baseline.c into this program with KERNELS_PORTABLE defined,
 * as the table kernels_portable_test. */
#define KERNELS_PORTABLE 1
#define KERNELS_TABLE kernels_portable_test
#define KERNELS_TABLE_NAME "portable"
#define KERNELS_TEST_TABLE kernels_portable_test
#include "../kernels_baseline.c"
#include "test_kernels.c"
