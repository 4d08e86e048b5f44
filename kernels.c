/* kernels.c - see kernels.h. Straightforward reference versions; the
 * performance work replaces their insides, never their contracts. */
#include "kernels.h"

#include <math.h>
#include <string.h>

void matmul_strided(float *out, int ldo, const float *a, int lda, const float *w, int ldw,
                    const float *bias, int M, int K, int N) {
    int i;
#ifdef _OPENMP
#pragma omp parallel for schedule(static)
#endif
    for (i = 0; i < M; i++) {
        float *o = out + (size_t)i * ldo;
        const float *ai = a + (size_t)i * lda;
        int j, k;
        for (j = 0; j < N; j++) o[j] = 0.0f;
        for (k = 0; k < K; k++) {
            const float aik = ai[k];
            const float *wk = w + (size_t)k * ldw;
            for (j = 0; j < N; j++) o[j] += aik * wk[j];
        }
        if (bias)
            for (j = 0; j < N; j++) o[j] += bias[j];
    }
}

void matmul(float *out, const float *a, const float *w, const float *bias, int M, int K, int N) {
    matmul_strided(out, N, a, K, w, N, bias, M, K, N);
}

void layernorm(float *out, float *scale, const float *x, const float *w, const float *b, int rows, int D, float eps) {
    int r;
#ifdef _OPENMP
#pragma omp parallel for schedule(static)
#endif
    for (r = 0; r < rows; r++) {
        const float *xr = x + (size_t)r * D;
        float *o = out + (size_t)r * D;
        double mean = 0.0, var = 0.0;
        float s;
        int d;
        for (d = 0; d < D; d++) mean += xr[d];
        mean /= D;
        for (d = 0; d < D; d++) {
            double c = xr[d] - mean;
            var += c * c;
        }
        var /= D;
        s = (float)sqrt(var + eps);
        if (scale) scale[r] = s;
        for (d = 0; d < D; d++) {
            float v = (float)(xr[d] - mean) / s;
            if (w) v = v * w[d] + b[d];
            o[d] = v;
        }
    }
}

void gelu_erf(float *x, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) x[i] = (float)(0.5 * x[i] * (1.0 + erf(x[i] * 0.70710678118654752440)));
}

void gelu_tanh(float *x, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) {
        double v = x[i];
        x[i] = (float)(0.5 * v * (1.0 + tanh(0.79788456080286535588 * (v + 0.044715 * v * v * v))));
    }
}

void relu(float *x, size_t n) {
    size_t i;
    for (i = 0; i < n; i++)
        if (x[i] < 0.0f) x[i] = 0.0f;
}

void softmax_row(float *x, int n) {
    float mx = x[0];
    double sum = 0.0;
    int i;
    for (i = 1; i < n; i++)
        if (x[i] > mx) mx = x[i];
    for (i = 0; i < n; i++) {
        x[i] = expf(x[i] - mx);
        sum += x[i];
    }
    for (i = 0; i < n; i++) x[i] = (float)(x[i] / sum);
}
