/* kernels_bf16.c - the screening product (kernels.h: screen_product) with AVX512_BF16's
 * dot products of bfloat16 pairs (VDPBF16PS: 32 multiply-adds an instruction, twice
 * VFMADD231PS's 16 at the same rate on Zen 4/5 and Sapphire Rapids). The Makefile adds
 * -mavx512f -mavx512bf16 for this file only; kernels.c calls it only where the CPU has
 * AVX512_BF16 and the operating system saves the zmm registers. Without those flags
 * (other CPUs, other compilers) it compiles to a stub that kernels.c never calls. */
#include "kernels_bf16.h"

#if defined(__AVX512F__) && defined(__AVX512BF16__)
#include <immintrin.h>

const int screen_bf16_compiled = 1;

/* c [SCREEN_ROWS, SCREEN_COLS] (row stride ldc) = the tile's dot products over kp pairs:
 * ap [kp][SCREEN_ROWS] and bp [kp][SCREEN_COLS] as screen_pack_rows and
 * screen_pack_weights lay them out. 24 accumulators, 2 registers of w and one broadcast. */
#define ACC_ROW(r) __m512 c##r##0 = _mm512_setzero_ps(), c##r##1 = _mm512_setzero_ps();
#define STEP_ROW(r)                                                                        \
    a = (__m512bh)_mm512_set1_epi32((int)ap[(size_t)p * SCREEN_ROWS + r]);                \
    c##r##0 = _mm512_dpbf16_ps(c##r##0, a, b0);                                            \
    c##r##1 = _mm512_dpbf16_ps(c##r##1, a, b1);
#define STORE_ROW(r)                                                                       \
    _mm512_storeu_ps(c + (size_t)r * ldc, c##r##0);                                        \
    _mm512_storeu_ps(c + (size_t)r * ldc + 16, c##r##1);
#define ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)

static void screen_tile(float *c, size_t ldc, const uint32_t *ap, const uint32_t *bp, int kp) {
    int p;
    ROWS(ACC_ROW)
    for (p = 0; p < kp; p++) {
        const __m512bh b0 = (__m512bh)_mm512_loadu_si512(bp + (size_t)p * SCREEN_COLS);
        const __m512bh b1 = (__m512bh)_mm512_loadu_si512(bp + (size_t)p * SCREEN_COLS + 16);
        __m512bh a;
        ROWS(STEP_ROW)
    }
    ROWS(STORE_ROW)
}

void screen_product_bf16(float *out, int ldo, const uint32_t *rows, int M, const uint32_t *panels, int K, int n0,
                         int n1) {
    const int kp = (K + 1) / 2, n_row_tiles = (M + SCREEN_ROWS - 1) / SCREEN_ROWS;
    int it;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (n_row_tiles > 1)
#endif
    for (it = 0; it < n_row_tiles; it++) {
        const int i0 = it * SCREEN_ROWS, mr = M - i0 < SCREEN_ROWS ? M - i0 : SCREEN_ROWS;
        const uint32_t *ap = rows + (size_t)i0 * kp;
        float tile[SCREEN_ROWS * SCREEN_COLS];
        int j0, i, j;
        for (j0 = n0; j0 < n1; j0 += SCREEN_COLS) {
            const int nr = n1 - j0 < SCREEN_COLS ? n1 - j0 : SCREEN_COLS;
            const uint32_t *bp = panels + (size_t)j0 * kp;
            float *o = out + (size_t)i0 * ldo + (j0 - n0);
            if (mr == SCREEN_ROWS && nr == SCREEN_COLS) {
                screen_tile(o, (size_t)ldo, ap, bp, kp);
            } else { /* an edge: through the tile, rows and columns past it dropped */
                screen_tile(tile, SCREEN_COLS, ap, bp, kp);
                for (i = 0; i < mr; i++)
                    for (j = 0; j < nr; j++) o[(size_t)i * ldo + j] = tile[i * SCREEN_COLS + j];
            }
        }
    }
}
#else
const int screen_bf16_compiled = 0;

void screen_product_bf16(float *out, int ldo, const uint32_t *rows, int M, const uint32_t *panels, int K, int n0,
                         int n1) {
    (void)out, (void)ldo, (void)rows, (void)M, (void)panels, (void)K, (void)n0, (void)n1;
}
#endif
