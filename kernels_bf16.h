/* kernels_bf16.h - internal to the kernels: the layout of the screening product's packed
 * operands (kernels.h: screen_*), shared by kernels.c (packing, the plain C product) and
 * kernels_bf16.c (the AVX512_BF16 product). */
#ifndef CLEANUP_KERNELS_BF16_H
#define CLEANUP_KERNELS_BF16_H

#include <stdint.h>

/* The product's register tile: SCREEN_ROWS rows of a by SCREEN_COLS columns of w. Packed
 * rows: tiles of SCREEN_ROWS rows, tile t at rows + t * SCREEN_ROWS * kp, its pair p of row r at
 * [p * SCREEN_ROWS + r]; packed weights: slivers of SCREEN_COLS columns, the sliver of
 * columns [j, j + SCREEN_COLS) at panels + j * kp, its pair p of column c at
 * [p * SCREEN_COLS + c]; kp = (K + 1) / 2 pairs, each a uint32_t holding bfloat16(x[2p])
 * in its low half and bfloat16(x[2p + 1]) in its high half (0 past K, rows and columns). */
#define SCREEN_ROWS 12
#define SCREEN_COLS 32

/* kernels_bf16.c: 1 when this build has the AVX512_BF16 product (x86-64 gcc/clang). */
extern const int screen_bf16_compiled;
/* out[i * ldo + (j - n0)] for i < M, n0 <= j < n1 (n0 a multiple of SCREEN_COLS): the
 * packed rows' dot products with the packed columns (threads share the rows). Only on a
 * CPU with AVX512_BF16 (a stub that does nothing when not compiled). */
void screen_product_bf16(float *out, int ldo, const uint32_t *rows, int M, const uint32_t *panels, int K, int n0,
                         int n1);

#endif
