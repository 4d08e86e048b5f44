/* mlp_cold.c - dev tool: what a cold cache costs the forward's MLP (BENCHMARKS.md, session 14).
 *
 * One layer's MLP products at gelu-4l's shape (1024 rows, 512 -> 2048 -> 512), in the forward's
 * chunks of 48 rows dealt to the next thread free (model.c: mlp; GELU left out), timed in three
 * cache states, interleaved rep by rep so that the host's drift falls on all three alike:
 *   warm          the previous rep's data still cached;
 *   cold          128 MB written by both threads just before (as a row's hooks are, between
 *                 one layer's MLP and the next: the cache full of dirty lines);
 *   cold+reread   the same, then both threads read every packed weight once more (if the
 *                 weights' trip from memory were the cost, this would bring back `warm`).
 * Not part of `make test` or `make bench` (a measurement for a question, about a minute).
 *
 *   make && cc -std=c99 -O2 -fopenmp -D_POSIX_C_SOURCE=199309L -I. -o mlp_cold tools/mlp_cold.c \
 *       build/libcleanup.a -lm && ./mlp_cold [reps, default 80]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels.h"

#define ROWS 1024
#define D_MODEL 512
#define D_MLP 2048
#define CHUNK 48
#define DIRTY_FLOATS ((size_t)32 << 20) /* 128 MB */

static double seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int by_value(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static float *random_floats(size_t n, float scale) {
    float *x = malloc(n * sizeof *x);
    size_t i;
    if (!x) {
        fprintf(stderr, "mlp_cold: out of memory\n");
        exit(1);
    }
    for (i = 0; i < n; i++) x[i] = ((float)rand() / (float)RAND_MAX - 0.5f) * scale;
    return x;
}

/* Both threads read one float of every cache line of the packed weights. */
static void reread(const float *a, size_t na, const float *b, size_t nb) {
#ifdef _OPENMP
#pragma omp parallel
#endif
    {
        volatile float sink;
        float s = 0.0f;
        size_t i;
        for (i = 0; i < na; i += 16) s += a[i];
        for (i = 0; i < nb; i += 16) s += b[i];
        sink = s;
        (void)sink;
    }
}

/* One layer's MLP products and the residual sum, chunk by chunk, as model.c's mlp. */
static void mlp_layer(float *resid_post, float *mlp_out, const float *x, const PackedWeights *w_in,
                      const float *b_in, const PackedWeights *w_out, const float *b_out) {
    const int n_chunks = (ROWS + CHUNK - 1) / CHUNK;
    int c;
#ifdef _OPENMP
#pragma omp parallel
#endif
    {
        float *hidden = malloc((size_t)CHUNK * D_MLP * sizeof *hidden);
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 1)
#endif
        for (c = 0; c < n_chunks; c++) {
            const int r0 = c * CHUNK, n = ROWS - r0 < CHUNK ? ROWS - r0 : CHUNK;
            const size_t at = (size_t)r0 * D_MODEL;
            matmul_packed(hidden, D_MLP, x + at, D_MODEL, w_in, b_in, n);
            matmul_packed(mlp_out + at, D_MODEL, hidden, D_MLP, w_out, b_out, n);
            add_floats(resid_post + at, x + at, mlp_out + at, (size_t)n * D_MODEL);
        }
        free(hidden);
    }
}

int main(int argc, char **argv) {
    static const char *state[3] = {"warm", "cold", "cold+reread"};
    const int reps = argc > 1 ? atoi(argv[1]) : 80;
    const char *why = NULL;
    float *w_in = random_floats((size_t)D_MODEL * D_MLP, 0.1f), *w_out = random_floats((size_t)D_MLP * D_MODEL, 0.1f);
    float *b_in = random_floats(D_MLP, 0.1f), *b_out = random_floats(D_MODEL, 0.1f);
    float *x = random_floats((size_t)ROWS * D_MODEL, 1.0f), *mlp_out = random_floats((size_t)ROWS * D_MODEL, 1.0f);
    float *resid_post = random_floats((size_t)ROWS * D_MODEL, 1.0f), *dirty = random_floats(DIRTY_FLOATS, 1.0f);
    const size_t n_in = packed_weights_floats(D_MODEL, D_MLP), n_out = packed_weights_floats(D_MLP, D_MODEL);
    float *p_in = malloc(n_in * sizeof *p_in), *p_out = malloc(n_out * sizeof *p_out);
    double *t[3];
    PackedWeights pw_in, pw_out;
    int r, s;
    if (reps < 4 || !p_in || !p_out) {
        fprintf(stderr, "usage: mlp_cold [reps >= 4]\n");
        return 2;
    }
    if (kernels_init(&why) != 0) {
        fprintf(stderr, "mlp_cold: CLEANUP_SIMD / CLEANUP_BF16: %s\n", why ? why : "refused");
        return 2;
    }
    pack_weights(&pw_in, p_in, n_in, w_in, D_MLP, D_MODEL, D_MLP);
    pack_weights(&pw_out, p_out, n_out, w_out, D_MODEL, D_MLP, D_MODEL);
    for (s = 0; s < 3; s++) t[s] = malloc((size_t)reps * sizeof *t[s]);
    for (r = 0; r < reps; r++)
        for (s = 0; s < 3; s++) {
            double t0;
            long i;
            if (s > 0) {
#ifdef _OPENMP
#pragma omp parallel for schedule(static)
#endif
                for (i = 0; i < (long)DIRTY_FLOATS; i++) dirty[i] += 1.0f;
            }
            if (s == 2) reread(p_in, n_in, p_out, n_out);
            t0 = seconds();
            mlp_layer(resid_post, mlp_out, x, &pw_in, b_in, &pw_out, b_out);
            t[s][r] = seconds() - t0;
        }
    printf("kernels %s, %d reps, one layer's MLP products (%.2f GFLOP):\n", kernels_name(), reps,
           4.0 * ROWS * D_MODEL * D_MLP * 1e-9);
    for (s = 0; s < 3; s++) {
        qsort(t[s], (size_t)reps, sizeof *t[s], by_value);
        printf("  %-12s median %7.3f ms   quartiles %7.3f %7.3f ms\n", state[s], 1e3 * t[s][reps / 2],
               1e3 * t[s][reps / 4], 1e3 * t[s][3 * reps / 4]);
    }
    return 0;
}
