/* test_kernels.c - kernels.h against independent double-precision references:
 * matmul on many shapes (odd sizes, several K blocks, strided column blocks,
 * with and without bias), bit-identical results for 1, 2 and 3 threads and for
 * a row computed alone; matmul_at bit for bit against matmul_strided, matmul_at_packed
 * against matmul_at on a prefix of w's rows; layernorm, gelu,
 * relu and softmax against double formulas, softmax_causal_columns bit for bit
 * against softmax_row; matmul_pairs bit for bit against matmul_at's outputs; the
 * bfloat16 screening product within its stated bound of the exact product. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "kernels.h"
#include "kernels_impl.h"
#include "util.h"

/* Deterministic pseudo-random floats in [-1, 1) (xorshift32; no libc rand). */
static unsigned rng_state = 12345u;
static float frand(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return (float)((rng_state >> 8) * (1.0 / 8388608.0) - 1.0);
}
static float *rand_buf(size_t n) {
    float *p = (float *)malloc(sizeof(float) * (n ? n : 1));
    size_t i;
    if (!p) {
        printf("out of memory\n");
        exit(1);
    }
    for (i = 0; i < n; i++) p[i] = frand();
    return p;
}

/* Checks out (M x N block, row stride ldo) against the double-precision product,
 * with the rounding-error bound of a length-K float sum: |err| <= 2 K u sum|a w| (+ |bias| u). */
static int check_matmul_block(const float *out, int ldo, const float *a, int lda, const float *w, int ldw,
                              const float *bias, int M, int K, int N, const char *what) {
    const double u = 1.0 / 16777216.0; /* 2^-24, float unit roundoff */
    int i, j, k, bad = 0;
    for (i = 0; i < M && !bad; i++)
        for (j = 0; j < N && !bad; j++) {
            double ref = 0.0, mag = 0.0, tol;
            for (k = 0; k < K; k++) {
                double t = (double)a[(size_t)i * lda + k] * w[(size_t)k * ldw + j];
                ref += t;
                mag += fabs(t);
            }
            if (bias) {
                ref += bias[j];
                mag += fabs(bias[j]);
            }
            tol = 2.0 * (K + 1) * u * mag + 1e-30;
            if (!(fabs(out[(size_t)i * ldo + j] - ref) <= tol)) {
                CHECK(0, "%s: out[%d,%d] = %.9g, reference %.9g (tolerance %.3g)", what, i, j,
                      out[(size_t)i * ldo + j], ref, tol);
                bad = 1;
            }
        }
    return !bad;
}

static void test_matmul_shape(int M, int K, int N, int with_bias) {
    char what[96];
    float *a = rand_buf((size_t)M * K), *w = rand_buf((size_t)K * N), *bias = rand_buf((size_t)N);
    float *out = rand_buf((size_t)M * N); /* garbage first: matmul must overwrite */
    snprintf(what, sizeof what, "matmul %dx%dx%d%s", M, K, N, with_bias ? " +bias" : "");
    matmul(out, a, w, with_bias ? bias : NULL, M, K, N);
    CHECK(check_matmul_block(out, N, a, K, w, N, with_bias ? bias : NULL, M, K, N, what), "%s", what);
    free(a), free(w), free(bias), free(out);
}

/* A column block of a wider product, as the model uses (per-head slices):
 * out[:, c0:c0+N] = a[:, k0:k0+K] @ w[k0:k0+K, c0:c0+N]; the rest of out untouched. */
static void test_matmul_strided(int M, int K, int N, int extra) {
    const int lda = K + extra, ldw = N + 2 * extra + 1, ldo = N + extra + 3, c0 = extra + 1, k0 = extra;
    float *a = rand_buf((size_t)M * lda), *w = rand_buf((size_t)(K + k0) * ldw), *bias = rand_buf((size_t)ldw);
    float *out = rand_buf((size_t)M * ldo), *orig = (float *)malloc(sizeof(float) * M * ldo);
    char what[96];
    int i, j, untouched = 1;
    if (!orig) exit(1);
    memcpy(orig, out, sizeof(float) * M * ldo);
    snprintf(what, sizeof what, "matmul_strided %dx%dx%d", M, K, N);
    matmul_strided(out + c0, ldo, a + k0, lda, w + (size_t)k0 * ldw + c0, ldw, bias + c0, M, K, N);
    CHECK(check_matmul_block(out + c0, ldo, a + k0, lda, w + (size_t)k0 * ldw + c0, ldw, bias + c0, M, K, N, what),
          "%s", what);
    for (i = 0; i < M; i++)
        for (j = 0; j < ldo; j++)
            if ((j < c0 || j >= c0 + N) && memcmp(&out[(size_t)i * ldo + j], &orig[(size_t)i * ldo + j], sizeof(float)))
                untouched = 0;
    CHECK(untouched, "%s: elements outside the column block must stay untouched", what);
    free(a), free(w), free(bias), free(out), free(orig);
}

/* Same bits for 1, 2 and 3 threads, and for each row computed on its own
 * (a 1-row product takes the simple path, a big one the blocked path). */
static void test_matmul_determinism(int M, int K, int N) {
    float *a = rand_buf((size_t)M * K), *w = rand_buf((size_t)K * N), *bias = rand_buf((size_t)N);
    float *o1 = rand_buf((size_t)M * N), *o2 = rand_buf((size_t)M * N), *o3 = rand_buf((size_t)M * N);
    float *row = rand_buf((size_t)N);
    int i, same_rows = 1;
    set_thread_count(1);
    matmul(o1, a, w, bias, M, K, N);
    set_thread_count(2);
    matmul(o2, a, w, bias, M, K, N);
    set_thread_count(3);
    matmul(o3, a, w, bias, M, K, N);
    set_thread_count(2);
    CHECK(memcmp(o1, o2, sizeof(float) * M * N) == 0, "matmul %dx%dx%d: 1 and 2 threads must give the same bits", M, K, N);
    CHECK(memcmp(o1, o3, sizeof(float) * M * N) == 0, "matmul %dx%dx%d: 1 and 3 threads must give the same bits", M, K, N);
    for (i = 0; i < M; i += (M > 40 ? 37 : 1)) {
        matmul(row, a + (size_t)i * K, w, bias, 1, K, N);
        if (memcmp(row, o1 + (size_t)i * N, sizeof(float) * N)) same_rows = 0;
    }
    CHECK(same_rows, "matmul %dx%dx%d: a row computed alone must give the same bits as in the batch", M, K, N);
    CHECK(check_matmul_block(o1, N, a, K, w, N, bias, M, K, N, "determinism shape"), "values of %dx%dx%d", M, K, N);
    free(a), free(w), free(bias), free(o1), free(o2), free(o3), free(row);
}

/* A product with known exact values: integer-valued inputs sum exactly in float. */
static void test_matmul_exact(void) {
    enum { M = 9, K = 300, N = 21 };
    static float a[M * K], w[K * N], out[M * N], bias[N];
    int i, j, k, ok = 1;
    for (i = 0; i < M; i++)
        for (k = 0; k < K; k++) a[i * K + k] = (float)((i + 2 * k) % 7 - 3);
    for (k = 0; k < K; k++)
        for (j = 0; j < N; j++) w[k * N + j] = (float)((3 * k + j) % 5 - 2);
    for (j = 0; j < N; j++) bias[j] = (float)j;
    matmul(out, a, w, bias, M, K, N);
    for (i = 0; i < M; i++)
        for (j = 0; j < N; j++) {
            long s = j;
            for (k = 0; k < K; k++) s += (long)((i + 2 * k) % 7 - 3) * ((3 * k + j) % 5 - 2);
            if (out[i * N + j] != (float)s) ok = 0;
        }
    CHECK(ok, "integer-valued product must be exact");
}

static void test_matmul(void) {
    static const int shapes[][3] = {
        {1, 1, 1}, {1, 7, 3}, {2, 3, 1}, {7, 13, 5}, {6, 16, 16}, {5, 17, 15}, {12, 32, 33},
        {65, 129, 33}, {64, 64, 64}, {97, 300, 70}, {6, 513, 17}, {31, 600, 2100}, {130, 70, 9},
        {8, 0, 5}, {200, 257, 96}, {100, 300, 2100}, /* the last: a packed once for 3 column panels */
    };
    size_t s;
    for (s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        test_matmul_shape(shapes[s][0], shapes[s][1], shapes[s][2], 0);
        test_matmul_shape(shapes[s][0], shapes[s][1], shapes[s][2], 1);
    }
    test_matmul_strided(1, 1, 1, 1);
    test_matmul_strided(7, 13, 5, 3);
    test_matmul_strided(65, 64, 64, 64);  /* one head of a [T, H*dh] matrix */
    test_matmul_strided(130, 300, 40, 7); /* several K blocks, partial tiles */
    test_matmul_exact();
    test_matmul_determinism(65, 129, 33);
    test_matmul_determinism(300, 520, 200);
    test_matmul_determinism(13, 64, 1000); /* split over columns */
    test_matmul_determinism(3, 200, 3000); /* few rows: column chunks over threads */
    test_matmul_determinism(150, 128, 2500); /* a packed once, columns split over threads */
    /* a last tile of every height below the widest register tile (12 rows), its rows in
     * fours (micro_kernel_short), over two K blocks and a partial last sliver: each row the
     * same bits as the plain loop's */
    for (s = 1; s <= 11; s++) test_matmul_determinism(24 + (int)s, 600, 70);
}

/* ---- weights packed once ----------------------------------------------- */

/* matmul_packed bit for bit against matmul_strided under the same kernels (and within the
 * reference's rounding bound), for a column block of a wider w (ldw > N) multiplied by a
 * strided a into a strided out, on 1, 2 and 3 threads; the columns of out beside the block
 * untouched. */
static void test_matmul_packed_shape(int M, int K, int N, int with_bias) {
    const int lda = K + 3, ldw = N + 5, ldo = N + 7;
    float *a = rand_buf((size_t)M * lda), *w = rand_buf((size_t)K * ldw), *bias = rand_buf((size_t)N);
    float *want = rand_buf((size_t)M * ldo), *got = rand_buf((size_t)M * ldo);
    const size_t floats = packed_weights_floats(K, N);
    float *panels = rand_buf(floats + 1); /* garbage first: packing must write every float read */
    PackedWeights p;
    const float *b = with_bias ? bias : NULL;
    int t, same = 1;
    char what[96];
    snprintf(what, sizeof what, "matmul_packed %dx%dx%d%s (%s)", M, K, N, with_bias ? " +bias" : "", kernels_name());
    CHECK(floats >= (size_t)K * N && floats <= (size_t)K * (N + 31), "%s: packed size %zu floats", what, floats);
    pack_weights(&p, panels, floats, w + 1, ldw, K, N);
    CHECK(K == 0 || p.panels == panels, "%s: packed into the buffer given", what);
    memcpy(got, want, sizeof(float) * M * ldo); /* the same garbage beside the block */
    matmul_strided(want, ldo, a, lda, w + 1, ldw, b, M, K, N);
    for (t = 1; t <= 3; t++) {
        set_thread_count(t);
        matmul_packed(got, ldo, a, lda, &p, b, M);
        if (memcmp(got, want, sizeof(float) * M * ldo) != 0) same = 0;
    }
    set_thread_count(2);
    CHECK(same, "%s: the same bits as matmul_strided on 1, 2 and 3 threads", what);
    CHECK(check_matmul_block(got, ldo, a, lda, w + 1, ldw, b, M, K, N, what), "%s", what);
    free(a), free(w), free(bias), free(want), free(got), free(panels);
}

/* matmul_packed_add: out + the product, bit for bit matmul_packed into a scratch array then
 * added element by element, on 1, 2 and 3 threads; the columns beside the block untouched. */
static void test_matmul_packed_add_shape(int M, int K, int N) {
    const int lda = K + 1, ldo = N + 3;
    float *a = rand_buf((size_t)M * lda), *w = rand_buf((size_t)K * N), *prod = rand_buf((size_t)M * N);
    float *start = rand_buf((size_t)M * ldo), *want = rand_buf((size_t)M * ldo), *got = rand_buf((size_t)M * ldo);
    const size_t floats = packed_weights_floats(K, N);
    float *panels = rand_buf(floats + 1);
    PackedWeights p;
    char what[96];
    int i, j, t, same = 1;
    snprintf(what, sizeof what, "matmul_packed_add %dx%dx%d (%s)", M, K, N, kernels_name());
    pack_weights(&p, panels, floats, w, N, K, N);
    matmul_packed(prod, N, a, lda, &p, NULL, M);
    memcpy(want, start, sizeof(float) * M * ldo);
    for (i = 0; i < M; i++)
        for (j = 0; j < N; j++) want[(size_t)i * ldo + j] += prod[(size_t)i * N + j];
    for (t = 1; t <= 3; t++) {
        set_thread_count(t);
        memcpy(got, start, sizeof(float) * M * ldo);
        matmul_packed_add(got, ldo, a, lda, &p, M);
        if (memcmp(got, want, sizeof(float) * M * ldo) != 0) same = 0;
    }
    set_thread_count(2);
    CHECK(same, "%s: the same bits as out += matmul_packed, on 1, 2 and 3 threads", what);
    free(a), free(w), free(prod), free(start), free(want), free(got), free(panels);
}

static void test_matmul_packed(void) {
    static const int shapes[][3] = {
        {1, 1, 1},      {3, 200, 3000}, /* few rows: the plain loop on w */
        {7, 13, 5},     /* small: the plain loop */
        {12, 32, 33},   {65, 129, 33}, {96, 64, 512}, /* one head's W_O for a tile of queries */
        {64, 512, 2100}, /* a packed once, three column panels, a partial last sliver */
        {50, 700, 1100}, /* two K blocks, two column panels, edge tiles in both directions */
        {130, 70, 9},   {200, 257, 96}, {8, 0, 5},
    };
    size_t s;
    float w[6] = {1, 2, 3, 4, 5, 6}, a[2] = {1, 1}, out[3];
    PackedWeights p;
    for (s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        test_matmul_packed_shape(shapes[s][0], shapes[s][1], shapes[s][2], 0);
        test_matmul_packed_shape(shapes[s][0], shapes[s][1], shapes[s][2], 1);
    }
    test_matmul_packed_add_shape(96, 64, 512);   /* a head's W_O into attn_out */
    test_matmul_packed_add_shape(64, 64, 512);   /* the last tile: a partial panel of rows */
    test_matmul_packed_add_shape(13, 100, 45);   /* edge tiles both ways */
    test_matmul_packed_add_shape(3, 20, 7);      /* few rows: the plain loop */
    test_matmul_packed_add_shape(200, 700, 300); /* two K blocks: added after the product */
    /* no panels, or too few floats for them: nothing packed, the product still right */
    pack_weights(&p, NULL, 0, w, 3, 2, 3);
    CHECK(p.panels == NULL, "pack_weights without a buffer packs nothing");
    matmul_packed(out, 3, a, 2, &p, NULL, 1);
    CHECK(out[0] == 5 && out[1] == 7 && out[2] == 9, "matmul_packed without panels reads w");
    pack_weights(&p, out, 3, w, 3, 2, 3);
    CHECK(p.panels == NULL, "pack_weights with a buffer too small packs nothing");
}

/* ---- layernorm --------------------------------------------------------- */

static void test_layernorm(void) {
    enum { R = 5, D = 67 };
    float *x = rand_buf(R * D), *w = rand_buf(D), *b = rand_buf(D), out[R * D], scale[R], inplace[R * D];
    const float eps = 1e-5f;
    int r, d, pass;
    for (d = 0; d < D; d++) x[2 * D + d] = 1000.0f + x[2 * D + d] * 1e-3f; /* large mean, tiny spread */
    for (d = 0; d < D; d++) x[3 * D + d] = 0.25f;                          /* constant row: scale = sqrt(eps) */
    for (pass = 0; pass < 2; pass++) {
        const int affine = pass == 1;
        int ok = 1;
        layernorm(out, scale, x, affine ? w : NULL, affine ? b : NULL, R, D, eps);
        for (r = 0; r < R; r++) {
            double mean = 0, var = 0, s;
            for (d = 0; d < D; d++) mean += x[r * D + d];
            mean /= D;
            for (d = 0; d < D; d++) var += (x[r * D + d] - mean) * (x[r * D + d] - mean);
            var /= D;
            s = sqrt(var + (double)eps);
            if (!check_close(scale[r], s, 2e-7, 0)) ok = 0;
            for (d = 0; d < D; d++) {
                double v = (x[r * D + d] - mean) / s;
                if (affine) v = v * w[d] + b[d];
                if (!check_close(out[r * D + d], v, 1e-6, 1e-6)) {
                    if (ok) printf("  layernorm row %d col %d: %.9g vs %.9g\n", r, d, out[r * D + d], v);
                    ok = 0;
                }
            }
        }
        CHECK(ok, "layernorm%s matches the double reference", affine ? " (w, b)" : "");
    }
    CHECK(fabs(scale[3] - sqrt(1e-5)) < 1e-9, "constant row: scale = sqrt(eps)");
    memcpy(inplace, x, sizeof inplace);
    layernorm(inplace, NULL, inplace, w, b, R, D, eps);
    CHECK(memcmp(inplace, out, sizeof out) == 0, "layernorm in place gives the same bits");
    free(x), free(w), free(b);
}

/* ---- activations ------------------------------------------------------- */

/* Distance in units in the last place of the float nearest ref. */
static double ulps(float got, double ref) {
    double ulp;
    int e;
    if (ref == 0.0) return got == 0.0f ? 0.0 : fabs(got) / ldexp(1.0, -149);
    frexp(ref, &e); /* |ref| in [2^(e-1), 2^e) */
    ulp = ldexp(1.0, (e - 1 < -126 ? -126 : e - 1) - 23);
    return fabs(got - ref) / ulp;
}

/* gelu(x) = x Phi(x) with Phi from erfc, accurate also for negative x. */
static double gelu_ref(double x) {
    return x * 0.5 * erfc(-x / sqrt(2.0));
}

static void test_gelu(void) {
    enum { N = 200001 };
    float *x = (float *)malloc(sizeof(float) * N), *y = (float *)malloc(sizeof(float) * N);
    double worst = 0, worst_x = 0;
    float sp[6];
    int i;
    if (!x || !y) exit(1);
    for (i = 0; i < N; i++) x[i] = (float)(-12.0 + 24.0 * i / (N - 1));
    memcpy(y, x, sizeof(float) * N);
    gelu_erf(y, N);
    for (i = 0; i < N; i++) {
        double r = gelu_ref(x[i]);
        /* Values under 1e-30 in magnitude (x < -11.5) are noise next to any sum. */
        double e = fabs(r) < 1e-30 ? fabs(y[i] - r) / 1e-30 : ulps(y[i], r);
        if (e > worst) worst = e, worst_x = x[i];
    }
    /* The kernel computes its exp and final products in float (kernels_baseline.c;
     * tools/check_float_math.c measures every float): a few roundings, not one. */
    CHECK(worst <= 3.0, "gelu_erf within 3 ulp of x Phi(x) on [-12, 12] (worst %.2f ulp at x = %.7g)", worst, worst_x);
    printf("  gelu_erf: worst %.2f ulp at x = %.7g\n", worst, worst_x);
    sp[0] = 0.0f, sp[1] = 1.0f, sp[2] = -1.0f, sp[3] = 30.0f, sp[4] = -30.0f, sp[5] = 3.0f;
    gelu_erf(sp, 6);
    CHECK(sp[0] == 0.0f, "gelu(0) = 0");
    CHECK(check_close(sp[1], 0.8413447460685429, 2e-7, 0), "gelu(1) = 0.8413447 (got %.9g)", sp[1]);
    CHECK(check_close(sp[2], -0.15865525393145707, 4e-7, 0), "gelu(-1) = -0.1586553 (got %.9g)", sp[2]);
    CHECK(sp[3] == 30.0f, "gelu(30) = 30");
    CHECK(fabs(sp[4]) < 1e-30f, "gelu(-30) ~ 0 (got %g)", sp[4]);
    CHECK(check_close(sp[5], 2.9959502, 2e-7, 0), "gelu(3) = 2.9959502 (got %.9g)", sp[5]);
    {
        float v[3];
        v[0] = (float)INFINITY, v[1] = -(float)INFINITY, v[2] = (float)NAN;
        gelu_erf(v, 3);
        CHECK(v[0] == (float)INFINITY, "gelu(inf) = inf (got %g)", v[0]);
        CHECK(v[1] == 0.0f || isnan(v[1]), "gelu(-inf) is 0 or NaN (got %g)", v[1]);
        CHECK(isnan(v[2]), "gelu(NaN) = NaN (got %g)", v[2]);
    }
    /* gelu_tanh against its double formula, written as x / (1 + exp(-2a)): the
     * same function as 0.5 x (1 + tanh(a)), whose 1 + tanh cancels for negative
     * x (in double, ~1e-16 / (1 + tanh): half the value at x = -7.2). */
    memcpy(y, x, sizeof(float) * N);
    gelu_tanh(y, N);
    worst = 0;
    for (i = 0; i < N; i++) {
        double v = x[i], a = sqrt(2.0 / 3.14159265358979323846) * (v + 0.044715 * v * v * v);
        double r = v / (1.0 + exp(-2.0 * a));
        double e = fabs(y[i] - r) / (fabs(r) + 1e-30);
        if (fabs(r) > 1e-20 && e > worst) worst = e;
    }
    CHECK(worst < 1e-5, "gelu_tanh matches its double formula (worst relative %.3g)", worst);
    free(x), free(y);
}

static void test_relu(void) {
    float v[5];
    v[0] = -2.0f, v[1] = 0.0f, v[2] = 3.5f, v[3] = -1e-30f, v[4] = 1e30f;
    relu(v, 5);
    CHECK(v[0] == 0.0f && v[1] == 0.0f && v[2] == 3.5f && v[3] == 0.0f && v[4] == 1e30f, "relu values");
}

/* add_floats: each element the float sum a + b (computed here in double, then rounded to
 * float: the correctly rounded sum, double having more than twice float's precision),
 * into a third array and in place over either operand, for
 * lengths around the vector widths; nothing past n written. */
static void test_add_floats(void) {
    enum { N = 103 };
    float *a = rand_buf(N + 1), *b = rand_buf(N + 1), *out = rand_buf(N + 1), *x = rand_buf(N + 1);
    int n, i, wrong = 0, past = 0;
    for (i = 0; i <= N; i++) b[i] = ldexpf(b[i], (int)(frand() * 40.0f)); /* sums that round */
    for (n = 0; n <= N; n += n < 40 ? 1 : 21) {
        const float guard = out[n];
        add_floats(out, a, b, (size_t)n);
        for (i = 0; i < n; i++) wrong += out[i] != (float)((double)a[i] + (double)b[i]);
        past += out[n] != guard;
        memcpy(x, a, sizeof(float) * (N + 1));
        add_floats(x, x, b, (size_t)n); /* in place over a */
        for (i = 0; i < n; i++) wrong += x[i] != out[i];
        memcpy(x, b, sizeof(float) * (N + 1));
        add_floats(x, a, x, (size_t)n); /* in place over b */
        for (i = 0; i < n; i++) wrong += x[i] != out[i];
    }
    CHECK(wrong == 0, "add_floats: a + b element by element, also in place (%d wrong, %s)", wrong, kernels_name());
    CHECK(past == 0, "add_floats writes nothing past n (%d written)", past);
    free(a), free(b), free(out), free(x);
}

/* ---- softmax ----------------------------------------------------------- */

static void test_softmax(void) {
    enum { N = 1031 };
    float x[N], y[N];
    double mx, sum, worst = 0, total = 0;
    int i, n;
    for (n = 1; n <= N; n = n * 3 + 1) {
        for (i = 0; i < n; i++) x[i] = 8.0f * frand();
        if (n > 4) x[n - 1] = -1e5f, x[n / 2] = -1e5f; /* masked entries */
        memcpy(y, x, sizeof(float) * n);
        softmax_row(y, n);
        mx = x[0];
        for (i = 1; i < n; i++)
            if (x[i] > mx) mx = x[i];
        sum = 0;
        for (i = 0; i < n; i++) sum += exp((double)x[i] - mx);
        total = 0;
        for (i = 0; i < n; i++) {
            double r = exp((double)x[i] - mx) / sum;
            double e = r < 1e-37 ? fabs(y[i] - r) / 1e-37 : ulps(y[i], r);
            if (e > worst) worst = e;
            total += y[i];
        }
        CHECK(fabs(total - 1.0) < 1e-5, "softmax of %d values sums to 1 (got %.9g)", n, total);
    }
    CHECK(worst <= 2.0, "softmax within 2 ulp of the double reference (worst %.2f ulp)", worst);
    printf("  softmax: worst %.2f ulp\n", worst);
    x[0] = 3.0f;
    softmax_row(x, 1);
    CHECK(x[0] == 1.0f, "softmax of one value is 1");
    x[0] = 1.0f, x[1] = 1.0f, x[2] = -1e5f;
    softmax_row(x, 3);
    CHECK(x[0] == 0.5f && x[1] == 0.5f && x[2] == 0.0f, "softmax(1, 1, -1e5) = (0.5, 0.5, 0)");
}

/* matmul_at against matmul_strided on the same a stored row by row (the same bits:
 * kernels.h), and both against the double reference; a [M, K] given as at [K, ldat]. */
static void test_matmul_at_shape(int M, int K, int N, int extra) {
    const int lda = K + extra, ldat = M + extra, ldw = N + extra, ldo = N + 2 * extra;
    float *a = rand_buf((size_t)M * lda), *at = rand_buf((size_t)K * ldat), *w = rand_buf((size_t)K * ldw);
    float *bias = rand_buf((size_t)N), *o1 = rand_buf((size_t)M * ldo), *o2 = rand_buf((size_t)M * ldo);
    char what[96];
    int i, k, same = 1;
    for (i = 0; i < M; i++)
        for (k = 0; k < K; k++) at[(size_t)k * ldat + i] = a[(size_t)i * lda + k];
    snprintf(what, sizeof what, "matmul_at %dx%dx%d", M, K, N);
    matmul_at(o1, ldo, at, ldat, w, ldw, extra ? bias : NULL, M, K, N);
    matmul_strided(o2, ldo, a, lda, w, ldw, extra ? bias : NULL, M, K, N);
    for (i = 0; i < M; i++)
        if (memcmp(o1 + (size_t)i * ldo, o2 + (size_t)i * ldo, sizeof(float) * N)) same = 0;
    CHECK(same, "%s: the same bits as matmul_strided on a stored row by row", what);
    CHECK(check_matmul_block(o1, ldo, a, lda, w, ldw, extra ? bias : NULL, M, K, N, what), "%s", what);
    free(a), free(at), free(w), free(bias), free(o1), free(o2);
}

static void test_matmul_at(void) {
    test_matmul_at_shape(1, 1, 1, 0);
    test_matmul_at_shape(7, 13, 5, 3);
    test_matmul_at_shape(65, 64, 64, 1);    /* a partial register tile of rows */
    test_matmul_at_shape(96, 1000, 64, 0);  /* pattern @ values: several K blocks */
    test_matmul_at_shape(1000, 64, 96, 5);  /* keys @ queries^T */
    test_matmul_at_shape(130, 300, 40, 7);
    set_thread_count(1);
    test_matmul_at_shape(300, 520, 200, 2);
    set_thread_count(2);
}

/* matmul_at_packed: the first K rows of a packed [Kp, N] w (the attention's values, a
 * query tile seeing the first nk keys), a given transposed: bit for bit matmul_at on
 * those rows, on 1, 2 and 3 threads, and within the reference's rounding bound. */
static void test_matmul_at_packed_shape(int M, int K, int Kp, int N) {
    const int ldat = M + 3, ldw = N + 5, ldo = N + 2;
    float *at = rand_buf((size_t)K * ldat), *a = rand_buf((size_t)M * (K + 1)), *w = rand_buf((size_t)Kp * ldw);
    float *want = rand_buf((size_t)M * ldo), *got = rand_buf((size_t)M * ldo);
    const size_t floats = packed_weights_floats(Kp, N);
    float *panels = rand_buf(floats);
    PackedWeights p;
    char what[96];
    int i, k, t, same = 1;
    for (i = 0; i < M; i++)
        for (k = 0; k < K; k++) a[(size_t)i * (K + 1) + k] = at[(size_t)k * ldat + i];
    snprintf(what, sizeof what, "matmul_at_packed %dx%d (of %d)x%d (%s)", M, K, Kp, N, kernels_name());
    pack_weights(&p, panels, floats, w, ldw, Kp, N);
    memcpy(got, want, sizeof(float) * M * ldo);
    matmul_at(want, ldo, at, ldat, w, ldw, NULL, M, K, N);
    for (t = 1; t <= 3; t++) {
        set_thread_count(t);
        matmul_at_packed(got, ldo, at, ldat, &p, K, M);
        if (memcmp(got, want, sizeof(float) * M * ldo) != 0) same = 0;
    }
    set_thread_count(2);
    CHECK(same, "%s: the same bits as matmul_at on the first %d rows, 1, 2 and 3 threads", what, K);
    CHECK(check_matmul_block(got, ldo, a, K + 1, w, ldw, NULL, M, K, N, what), "%s", what);
    free(at), free(a), free(w), free(want), free(got), free(panels);
}

static void test_matmul_at_packed(void) {
    test_matmul_at_packed_shape(96, 672, 1024, 64); /* a query tile of the attention */
    test_matmul_at_packed_shape(64, 1024, 1024, 64); /* the last tile: all keys, a partial panel of rows */
    test_matmul_at_packed_shape(96, 96, 1024, 64);   /* the first tile: one K block of few rows */
    test_matmul_at_packed_shape(13, 513, 700, 40);   /* a partial sliver, two K blocks */
    test_matmul_at_packed_shape(5, 20, 30, 7);       /* few rows: the plain loop */
    test_matmul_at_packed_shape(96, 0, 64, 64);      /* no rows of w: zeros */
}

/* softmax_causal_columns: each column the bits of softmax_row on its own first
 * first + c + 1 values (capped at rows), zeros below; softmax_row is itself checked
 * against the double formula (test_softmax). Blocks of columns (more than 64
 * columns), a masked score, and a NaN, which makes its column NaN and no other. */
static void test_softmax_columns_case(int rows, int cols, int first, int with_nan) {
    const int ld = cols + 3;
    float *x = rand_buf((size_t)rows * ld), *col = rand_buf((size_t)rows);
    float *y = (float *)malloc(sizeof(float) * rows * ld);
    int i, c, j, same = 1, zeros = 1;
    if (!y) exit(1);
    for (i = 0; i < rows * ld; i++) x[i] *= 8.0f;
    if (rows > 3 && cols > 2) x[(size_t)2 * ld + cols - 1] = -1e5f;
    if (with_nan == 1) x[(size_t)(rows - 1) * ld + cols - 1] = NAN;
    if (with_nan == 2) x[(size_t)1 * ld + 5] = NAN; /* in a full row: column 5 all NaN */
    memcpy(y, x, sizeof(float) * rows * ld);
    softmax_causal_columns(y, ld, rows, cols, first);
    for (c = 0; c < cols; c++) {
        const int n = first + c + 1 < rows ? first + c + 1 : rows;
        for (j = 0; j < n; j++) col[j] = x[(size_t)j * ld + c];
        softmax_row(col, n);
        for (j = 0; j < n; j++)
            if (memcmp(&col[j], &y[(size_t)j * ld + c], sizeof(float))) same = 0;
        for (j = n; j < rows; j++)
            if (y[(size_t)j * ld + c] != 0.0f) zeros = 0;
    }
    for (j = 0; j < rows; j++)
        for (c = cols; c < ld; c++)
            if (memcmp(&x[(size_t)j * ld + c], &y[(size_t)j * ld + c], sizeof(float))) same = 0;
    CHECK(same, "softmax_causal_columns %dx%d from %d: softmax_row's bits, column by column (other columns untouched)",
          rows, cols, first);
    CHECK(zeros, "softmax_causal_columns %dx%d from %d: zeros past each column's rows", rows, cols, first);
    if (with_nan == 2) {
        CHECK(y[(size_t)3 * ld + 5] != y[(size_t)3 * ld + 5], "a NaN in a full row makes its column NaN");
        CHECK(y[(size_t)3 * ld + 4] == y[(size_t)3 * ld + 4], "and leaves the column beside it");
    }
    if (with_nan == 1) {
        const int n = first + cols < rows ? first + cols : rows;
        CHECK(n < rows || y[0 * ld + cols - 1] != y[0 * ld + cols - 1], "a NaN makes its column NaN");
        CHECK(y[0] == y[0], "a NaN in one column leaves the others");
    }
    free(x), free(y), free(col);
}

static void test_softmax_columns(void) {
    test_softmax_columns_case(1, 1, 0, 0);
    test_softmax_columns_case(96, 96, 0, 0);    /* the first tile of a row */
    test_softmax_columns_case(1000, 96, 904, 0); /* the last tile, 1000 positions */
    test_softmax_columns_case(200, 70, 100, 0); /* two blocks of columns, the last partial */
    test_softmax_columns_case(50, 130, 0, 0);   /* more columns than rows: capped */
    test_softmax_columns_case(300, 20, 280, 1);
    test_softmax_columns_case(300, 128, 100, 2); /* whole blocks of full rows (their own loops), a NaN */
    test_softmax_columns_case(100, 64, 200, 0);  /* every row full: first + 1 past the rows */
}

/* ---- dot products side by side ------------------------------------------- */

/* dot_rows against its definition (kernels.h: 8 chains, chain l over d = l mod 8 in d
 * order, combined pairwise), written out here as a plain loop, bit for bit on every copy:
 * the products of floats are exact in double, so an FMA copy must give the same sums.
 * Float values spanning 2^-60..2^60 make any other order or any rounded product show (a
 * single chain in d order, the order before, differs on most of them: checked too).
 * 1..9 directions by 1..17 vectors cover the register tiles and their remainders;
 * D = 67, 64 and 5 a tail of d, none, and fewer elements than chains. */
static double dot_rows_reference(const float *x, const float *y, int D) {
    double c[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    int d;
    for (d = 0; d < D; d++) c[d % 8] += (double)x[d] * (double)y[d];
    return ((c[0] + c[1]) + (c[2] + c[3])) + ((c[4] + c[5]) + (c[6] + c[7]));
}

static void test_dot_rows(void) {
    enum { DMAX = 67, NMAX = 17, BMAX = 9 };
    static const int lengths[3] = {67, 64, 5};
    float *vec[NMAX + BMAX];
    double out[BMAX * NMAX + 4], self[BMAX + 4];
    int n, nb, k, r, d, li, bad = 0, bad_self = 0, untouched = 0, sequential_differs = 0, sums = 0;
    CHECK(DOT_CHAINS == 8, "dot_rows has the 8 chains its definition here writes out");
    for (k = 0; k < NMAX + BMAX; k++) {
        vec[k] = (float *)malloc(sizeof(float) * DMAX);
        for (d = 0; d < DMAX; d++) vec[k][d] = ldexpf(frand(), (int)(frand() * 60.0f));
    }
    vec[NMAX][3] = 0.0f;
    for (li = 0; li < 3; li++) {
        const int D = lengths[li];
        for (nb = 1; nb <= BMAX; nb++)
            for (n = 1; n <= NMAX; n++) {
                for (k = 0; k < BMAX * NMAX + 4; k++) out[k] = -1.0;
                for (k = 0; k < BMAX + 4; k++) self[k] = -1.0;
                dot_rows(out, self, (const float *const *)vec + NMAX, nb, (const float *const *)vec, n, D);
                for (r = 0; r < nb; r++) {
                    bad_self += self[r] != dot_rows_reference(vec[NMAX + r], vec[NMAX + r], D);
                    for (k = 0; k < n; k++) {
                        double seq = 0;
                        bad += out[r * n + k] != dot_rows_reference(vec[NMAX + r], vec[k], D);
                        for (d = 0; d < D; d++) seq += (double)vec[NMAX + r][d] * (double)vec[k][d];
                        sequential_differs += seq != out[r * n + k];
                        sums++;
                    }
                }
                for (k = nb * n; k < BMAX * NMAX + 4; k++) untouched += out[k] != -1.0;
                for (k = nb; k < BMAX + 4; k++) untouched += self[k] != -1.0;
                if (nb == 2 && n == 3) { /* self NULL: the products alone */
                    dot_rows(out, NULL, (const float *const *)vec + NMAX, nb, (const float *const *)vec, n, D);
                    for (k = 0; k < nb * n; k++) bad += out[k] != dot_rows_reference(vec[NMAX + k / n], vec[k % n], D);
                }
            }
    }
    CHECK(bad == 0, "dot_rows equals the 8-chain double loop bit for bit (%d of the sums differ)", bad);
    CHECK(bad_self == 0, "dot_rows' self sums equal it too (%d differ)", bad_self);
    CHECK(untouched == 0, "dot_rows writes nothing past its nb x n products and nb self sums (%d written)", untouched);
    CHECK(sequential_differs > sums / 4,
          "the test's values tell the orders apart: one chain in d order differs on %d of %d sums", sequential_differs,
          sums);
    for (k = 0; k < NMAX + BMAX; k++) free(vec[k]);
}

/* transpose_floats against its definition, every element and nothing else: shapes below,
 * at and past the 4 x 4, 8 x 8 and 16-row blocks (the attention's: 96 x 64 queries, 1024 x 64 keys;
 * pack_a's 12-row blocks). */
static void test_transpose_case(int rows, int cols) {
    const int lds = cols + 3, ldd = rows + 5;
    float *src = rand_buf((size_t)rows * lds), *dst = (float *)malloc(sizeof(float) * (size_t)cols * ldd);
    int r, c, wrong = 0, touched = 0;
    if (!dst) exit(1);
    for (r = 0; r < cols * ldd; r++) dst[r] = -7.0f;
    transpose_floats(dst, ldd, src, lds, rows, cols);
    for (c = 0; c < cols; c++)
        for (r = 0; r < ldd; r++) {
            const float got = dst[(size_t)c * ldd + r];
            if (r < rows) wrong += memcmp(&got, &src[(size_t)r * lds + c], sizeof got) != 0;
            else touched += got != -7.0f;
        }
    CHECK(wrong == 0 && touched == 0, "transpose_floats %dx%d: every element in place (%d wrong), no other written (%d)",
          rows, cols, wrong, touched);
    free(src);
    free(dst);
}

static void test_transpose(void) {
    static const int shapes[][2] = {{1, 1}, {3, 5}, {4, 4}, {8, 8}, {12, 13}, {12, 512}, {16, 4}, {16, 12},
                                         {17, 63}, {20, 9}, {24, 17}, {33, 7}, {96, 64}, {64, 96}, {1024, 64}};
    size_t i;
    for (i = 0; i < sizeof shapes / sizeof shapes[0]; i++) test_transpose_case(shapes[i][0], shapes[i][1]);
}

/* matmul_pairs: chosen outputs of matmul_at (repeats, the first and last row and column
 * included), bit for bit, with and without the bias, over one and several K blocks. */
static void test_matmul_pairs_shape(int M, int K, int N) {
    enum { PAIRS = 300 };
    const int ldat = M + 3, ldw = N + 5;
    float *at = rand_buf((size_t)K * ldat), *w = rand_buf((size_t)K * ldw), *bias = rand_buf((size_t)N);
    float *full = rand_buf((size_t)M * N), *got = rand_buf(PAIRS);
    int rows[PAIRS], cols[PAIRS], q, with_bias, same;
    for (q = 0; q < PAIRS; q++) {
        rows[q] = q == 0 ? 0 : q == 1 ? M - 1 : (int)((frand() + 1.0f) * 0.5f * (M - 1) + 0.5f);
        cols[q] = q == 0 ? N - 1 : q == 1 ? 0 : (int)((frand() + 1.0f) * 0.5f * (N - 1) + 0.5f);
    }
    for (with_bias = 0; with_bias < 2; with_bias++) {
        matmul_at(full, N, at, ldat, w, ldw, with_bias ? bias : NULL, M, K, N);
        matmul_pairs(got, at, ldat, rows, w, ldw, cols, with_bias ? bias : NULL, PAIRS, K);
        for (q = 0, same = 1; q < PAIRS; q++)
            if (memcmp(&got[q], &full[(size_t)rows[q] * N + cols[q]], sizeof(float))) same = 0;
        CHECK(same, "matmul_pairs %dx%dx%d%s: matmul_at's outputs bit for bit", M, K, N, with_bias ? " + bias" : "");
    }
    free(at), free(w), free(bias), free(full), free(got);
}

static void test_matmul_pairs(void) {
    test_matmul_pairs_shape(1, 1, 1);
    test_matmul_pairs_shape(7, 13, 5);
    test_matmul_pairs_shape(96, 512, 300);  /* the blocked product, one K block (Section 3.2's D) */
    test_matmul_pairs_shape(64, 1100, 200); /* chains across K blocks */
    test_matmul_pairs_shape(300, 64, 1500);
}

/* first_reaching: on small integers (every sum exact in float, whatever the order or
 * fused multiply-adds) against a plain search, the hit at every place of a chunk, in the
 * tail, at the first element, and none. */
static void test_first_reaching(void) {
    enum { N = 200 };
    float s[N], add[N], mul[N];
    int n, at, j, want, ok = 1;
    for (j = 0; j < N; j++) {
        s[j] = (float)(j % 7) - 3.0f;
        add[j] = (float)(j % 5) - 2.0f;
        mul[j] = (float)(j % 3);
    }
    for (n = 0; n <= N && ok; n += n < 70 ? 1 : 13)
        for (at = -1; at < n && ok; at++) {
            const float keep = s[at < 0 ? 0 : at];
            if (at >= 0) s[at] = 100.0f; /* reaches 50; nothing else does */
            want = at >= 0 ? at : n;
            for (j = 0; j < at; j++)
                if (s[j] + add[j] + 2.0f * mul[j] >= 50.0f) want = j;
            if (first_reaching(s, add, mul, 2.0f, 50.0f, n) != want) ok = 0;
            if (at >= 0) s[at] = keep;
        }
    CHECK(ok, "first_reaching: the first element reaching the bound (n = %d, at %d)", n, at);
    CHECK(first_reaching(s, add, mul, 2.0f, 5.0f, N) == 4, "first_reaching: a sum equal to the bound reaches it (1 + 2 + 2 * 1 at 4)");
}

static void test_all(void) {
    test_matmul();
    test_matmul_packed();
    test_matmul_at();
    test_matmul_at_packed();
    test_matmul_pairs();
    test_first_reaching();
    test_add_floats();
    test_layernorm();
    test_gelu();
    test_relu();
    test_softmax();
    test_softmax_columns();
    test_dot_rows();
    test_transpose();
}

#ifndef KERNELS_TEST_TABLE
/* ---- choosing the kernels ------------------------------------------------ */

/* kernels_cpu_features_from on CPUID/XGETBV answers of machines this one need
 * not be (register bits from the Intel SDM, vol. 2A, CPUID; vol. 1, 13.3
 * XCR0), and kernels_choose on every CLEANUP_SIMD value for each kind of
 * machine: an instruction set counts only when the OS enabled its registers. */
static void test_dispatch(void) {
    const unsigned fma = 1u << 12, osxsave = 1u << 27, avx = 1u << 28, ecx1 = fma | osxsave | avx;
    const unsigned avx2 = 1u << 5, f = 1u << 16, dq = 1u << 17, bw = 1u << 30, vl = 1u << 31;
    const unsigned ebx7 = avx2 | f | dq | bw | vl;
    const unsigned both = KERNELS_CPU_AVX2_FMA | KERNELS_CPU_AVX512;
    const KernelTable *want512 = kernels_avx512.name ? &kernels_avx512 : NULL;
    const KernelTable *want2 = kernels_avx2.name ? &kernels_avx2 : NULL;
    const char *why;
    const KernelTable *t;
    CHECK(kernels_cpu_features_from(ecx1, ebx7, 0xe7) == both, "AVX-512 CPU, OS saves zmm (XCR0 = 0xe7): both");
    CHECK(kernels_cpu_features_from(ecx1, ebx7, 0x2e7) == both, "other XCR0 bits (PKRU) do not matter");
    CHECK(kernels_cpu_features_from(ecx1, ebx7, 0x07) == KERNELS_CPU_AVX2_FMA,
          "AVX-512 CPU, OS saves only ymm (XCR0 = 0x07): AVX2 only");
    CHECK(kernels_cpu_features_from(ecx1, ebx7, 0x67) == KERNELS_CPU_AVX2_FMA, "zmm state without Hi16_ZMM: AVX2 only");
    CHECK(kernels_cpu_features_from(ecx1, ebx7, 0x03) == 0, "OS saves no ymm (XCR0 = 0x03): neither");
    CHECK(kernels_cpu_features_from(ecx1 & ~osxsave, ebx7, 0xe7) == 0, "no OSXSAVE: neither");
    CHECK(kernels_cpu_features_from(ecx1, ebx7 & ~vl, 0xe7) == KERNELS_CPU_AVX2_FMA, "AVX-512F without VL: AVX2 only");
    CHECK(kernels_cpu_features_from(ecx1, avx2, 0xe7) == KERNELS_CPU_AVX2_FMA, "AVX2 CPU (Zen 3): AVX2 only");
    CHECK(kernels_cpu_features_from(ecx1 & ~fma, ebx7, 0xe7) == 0, "no FMA: neither");
    CHECK(kernels_cpu_features_from(ecx1, ebx7 & ~avx2, 0xe7) == 0, "no AVX2: neither");

    t = kernels_choose("avx512", KERNELS_CPU_AVX2_FMA, &why);
    CHECK(t == NULL && why && strstr(why, "AVX-512"), "CLEANUP_SIMD=avx512 on an AVX2-only CPU is refused, saying why (%s)",
          why ? why : "no reason");
    t = kernels_choose("avx512", 0, &why);
    CHECK(t == NULL && why, "CLEANUP_SIMD=avx512 on an SSE2-only CPU is refused");
    t = kernels_choose("avx2", 0, &why);
    CHECK(t == NULL && why && strstr(why, "AVX2"), "CLEANUP_SIMD=avx2 on an SSE2-only CPU is refused, saying why");
    t = kernels_choose("avx512", both, &why);
    CHECK(t == want512 && (t || why), "CLEANUP_SIMD=avx512 on an AVX-512 CPU: the AVX-512 copy if built");
    t = kernels_choose("avx2", both, &why);
    CHECK(t == want2 && (t || why), "CLEANUP_SIMD=avx2 on an AVX-512 CPU: the AVX2 copy if built");
    CHECK(kernels_choose("baseline", 0, &why) == &kernels_baseline && !why, "CLEANUP_SIMD=baseline runs anywhere");
    CHECK(kernels_choose("baseline", both, &why) == &kernels_baseline, "CLEANUP_SIMD=baseline on an AVX-512 CPU");
    t = kernels_choose("auto", both, &why);
    CHECK(t == (want512 ? want512 : want2 ? want2 : &kernels_baseline), "auto on an AVX-512 CPU: the widest built");
    t = kernels_choose("auto", KERNELS_CPU_AVX2_FMA, &why);
    CHECK(t == (want2 ? want2 : &kernels_baseline), "auto on an AVX2 CPU: AVX2 if built, never AVX-512");
    CHECK(kernels_choose("auto", 0, &why) == &kernels_baseline, "auto on an SSE2-only CPU: baseline");
    CHECK(kernels_choose(NULL, both, &why) == kernels_choose("auto", both, &why), "unset CLEANUP_SIMD is auto");
    CHECK(kernels_choose("", KERNELS_CPU_AVX2_FMA, &why) == kernels_choose("auto", KERNELS_CPU_AVX2_FMA, &why),
          "empty CLEANUP_SIMD is auto");
    t = kernels_choose("avx3", both, &why);
    CHECK(t == NULL && why && strstr(why, "avx512"), "an unknown value is refused, listing the known ones");
    CHECK(kernels_choose("AVX2", both, &why) == NULL, "values are case-sensitive");
    if (kernels_avx512.name)
        printf("  this machine: %s%s\n", kernels_cpu_features() & KERNELS_CPU_AVX2_FMA ? "AVX2+FMA" : "no AVX2+FMA",
               kernels_cpu_features() & KERNELS_CPU_AVX512 ? ", AVX-512" : ", no AVX-512");
}

/* ---- the screening product ------------------------------------------------ */

/* x * 2^e for a random e in [lo, hi]. */
static float scaled(float x, int lo, int hi) {
    return (float)ldexp(x, lo + (int)((frand() + 1.0f) * 0.5f * (hi - lo)));
}

/* screen_product under the implementation `impl` on a [M, K] x w [K, N], columns
 * [n0, n1): every value within kernels.h's bound of the exact product (the reference
 * summed in double: its own error, K 2^-52 sum |a w|, is allowed on top). Kinds of values:
 * 0 uniform in (-1, 1); 1 magnitudes from 2^-40 to 2^40; 2 near and below the smallest
 * normal float (flushed); 3 pairs that cancel exactly (a[2p] = a[2p+1], w[2p] = -w[2p+1]).
 * *ratio gets the largest error / bound seen. */
static void test_screen_case(const char *impl, int M, int K, int N, int n0, int n1, int kind, double *ratio) {
    const int ldo = n1 - n0 + 3;
    float *a = rand_buf((size_t)M * K), *w = rand_buf((size_t)K * N), *out = rand_buf((size_t)M * ldo);
    uint32_t *rows = (uint32_t *)malloc(sizeof(uint32_t) * screen_rows_words(M, K));
    uint32_t *panels = (uint32_t *)malloc(sizeof(uint32_t) * screen_weights_words(K, N));
    const double coef = screen_error(K);
    int i, j, k, bad = 0;
    size_t e;
    if (kind == 1) {
        for (e = 0; e < (size_t)M * K; e++) a[e] = scaled(a[e], -40, 40);
        for (e = 0; e < (size_t)K * N; e++) w[e] = scaled(w[e], -40, 40);
    } else if (kind == 2) {
        for (e = 0; e < (size_t)M * K; e++) a[e] = scaled(a[e], -130, -100);
        for (e = 0; e < (size_t)K * N; e++)
            if (e % 3 == 0) w[e] = scaled(w[e], -30, 0);
    } else if (kind == 3) {
        for (i = 0; i < M; i++)
            for (k = 0; k + 1 < K; k += 2) a[(size_t)i * K + k + 1] = a[(size_t)i * K + k];
        for (k = 0; k + 1 < K; k += 2)
            for (j = 0; j < N; j++) w[(size_t)(k + 1) * N + j] = -w[(size_t)k * N + j];
    }
    screen_pack_rows(rows, a, K, M, K);
    screen_pack_weights(panels, w, N, K, N);
    screen_product(out, ldo, rows, M, panels, K, n0, n1);
    for (i = 0; i < M && !bad; i++)
        for (j = n0; j < n1 && !bad; j++) {
            double ref = 0.0, mag = 0.0, amax = 0.0, wmax = 0.0, bound, err;
            for (k = 0; k < K; k++) {
                const double x = a[(size_t)i * K + k], y = w[(size_t)k * N + j];
                ref += x * y;
                mag += fabs(x * y);
                if (fabs(x) > amax) amax = fabs(x);
                if (fabs(y) > wmax) wmax = fabs(y);
            }
            bound = coef * mag + K * 0x1p-124 * (amax + wmax + 1.0);
            err = fabs(out[(size_t)i * ldo + (j - n0)] - ref);
            if (!(err <= bound + K * 0x1p-52 * mag)) {
                CHECK(0, "screen_product (%s) %dx%dx%d kind %d: [%d,%d] = %.9g, exact %.9g, bound %.3g", impl, M, K, N,
                      kind, i, j, out[(size_t)i * ldo + (j - n0)], ref, bound);
                bad = 1;
            }
            if (bound > 0 && err / bound > *ratio) *ratio = err / bound;
        }
    CHECK(!bad, "screen_product (%s) %dx%dx%d columns [%d, %d) kind %d: within the bound", impl, M, K, N, n0, n1, kind);
    free(a), free(w), free(out), free(rows), free(panels);
}

/* Every screening implementation this machine runs: "portable" always, "bf16" where the
 * CPU has AVX512_BF16 (and the avx512 kernels are active); the pure CPU-bit logic; and
 * that the screening follows the kernels (off under avx2 and baseline). */
static void test_screen(void) {
    static const char *const impls[] = {"portable", "bf16"};
    const unsigned both = KERNELS_CPU_AVX2_FMA | KERNELS_CPU_AVX512;
    size_t i;
    CHECK(kernels_cpu_bf16_from(both, 1u << 5) == (both | KERNELS_CPU_AVX512_BF16), "AVX512_BF16 on an AVX-512 CPU");
    CHECK(kernels_cpu_bf16_from(both, ~(1u << 5)) == both, "no AVX512_BF16 bit: not set");
    CHECK(kernels_cpu_bf16_from(KERNELS_CPU_AVX2_FMA, 1u << 5) == KERNELS_CPU_AVX2_FMA,
          "the BF16 bit without the zmm state (AVX-512 unusable): not set");
    CHECK(screen_error(512) > 1.0 / 128 && screen_error(512) < 1.0 / 126, "screen_error(512) is 2^-7 and a little");
    for (i = 0; i < sizeof impls / sizeof impls[0]; i++) {
        double ratio = 0.0;
        int kind;
        kernels_use("avx512"); /* where it runs: the bf16 screening needs it */
        if (screen_use(impls[i]) != 0) {
            CHECK(strcmp(impls[i], "portable") != 0, "the portable screening runs anywhere");
            printf("  screening %s: not on this CPU (or build), not tested here\n", impls[i]);
            continue;
        }
        CHECK(strcmp(screen_name(), impls[i]) == 0, "screen_use(%s) selects it", impls[i]);
        for (kind = 0; kind < 4; kind++) {
            test_screen_case(impls[i], 13, 7, 33, 0, 33, kind, &ratio);      /* partial tiles, odd K */
            test_screen_case(impls[i], 25, 64, 100, 32, 97, kind, &ratio);   /* a column range */
            test_screen_case(impls[i], 40, 512, 1029, 0, 1029, kind, &ratio); /* Section 3.2's K */
        }
        test_screen_case(impls[i], 3, 2000, 64, 0, 64, 0, &ratio);
        printf("  screening %s: largest error %.3f of the bound\n", impls[i], ratio);
        CHECK(ratio > 0.05 && ratio <= 1.0, "screening %s: its errors are bfloat16's, within the bound", impls[i]);
    }
    screen_use("off");
    CHECK(screen_name() == NULL, "screen_use(off)");
    CHECK(kernels_use("avx2") != 0 || screen_name() == NULL, "no screening under the avx2 kernels");
    kernels_use("baseline");
    CHECK(screen_name() == NULL, "no screening under the baseline kernels");
    CHECK(screen_use("bf16") != 0, "the bf16 screening is refused under the baseline kernels");
}

/* Weights packed by one set of kernels and multiplied under another (whose layout may
 * differ): the other's matmul_strided bits, through w. */
static void test_packed_other_kernels(void) {
    static const char *const names[] = {"avx2", "avx512"};
    enum { M = 40, K = 300, N = 1500 };
    float *a = rand_buf((size_t)M * K), *w = rand_buf((size_t)K * N), *want = rand_buf((size_t)M * N);
    float *got = rand_buf((size_t)M * N), *panels;
    PackedWeights p;
    size_t i;
    kernels_use("baseline");
    panels = rand_buf(packed_weights_floats(K, N));
    pack_weights(&p, panels, packed_weights_floats(K, N), w, N, K, N);
    for (i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (kernels_use(names[i]) != 0) continue;
        matmul_strided(want, N, a, K, w, N, NULL, M, K, N);
        matmul_packed(got, N, a, K, &p, NULL, M);
        CHECK(memcmp(got, want, sizeof(float) * M * N) == 0,
              "weights packed by the baseline kernels, multiplied under %s: its matmul_strided bits", names[i]);
    }
    kernels_use("baseline");
    free(a), free(w), free(want), free(got), free(panels);
}

/* Every set of kernels this build and CPU have (kernels.h): the baseline ones
 * always, the AVX2 + FMA and AVX-512 ones on x86-64 CPUs that have them. */
int main(void) {
    static const char *const names[] = {"baseline", "avx2", "avx512"};
    size_t i;
    for (i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (kernels_use(names[i]) != 0) {
            CHECK(strcmp(names[i], "baseline") != 0, "the baseline kernels are always there");
            printf("  %s kernels: not in this build or CPU, not tested here\n", names[i]);
            continue;
        }
        CHECK(strcmp(kernels_name(), names[i]) == 0, "kernels_use(%s) selects them", names[i]);
        printf("  %s kernels (%d floats per vector)\n", kernels_name(), kernels_vector_floats());
        test_all();
    }
    CHECK(kernels_use("sse9") == -1, "unknown kernels are refused");
    test_packed_other_kernels();
    test_screen();
    test_dispatch();
    return check_done("test_kernels");
}
#else
/* test_kernels_portable.c: the table it compiled itself. */
int main(void) {
    kernels_use_table(&KERNELS_TEST_TABLE);
    test_all();
    return check_done("test_kernels_portable");
}
#endif
