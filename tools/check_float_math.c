/* check_float_math.c - dev tool: the float exp, gelu and gelu_new of
 * kernels_baseline.c against double libm formulas on EVERY float of the ranges
 * that matter (the tests check samples; this checks them all), and against the
 * previous double implementations (how far the kernels' values moved).
 * Not part of `make test` (a minute or two per instruction set on 2 cores).
 *
 *   cc -std=c99 -O3 -fopenmp -I. -o check_float_math tools/check_float_math.c -lm    (baseline copy)
 *   add  -mavx2 -mfma -ffp-contract=fast                      for the AVX2 copy,
 *        -mavx512f -mavx512vl -mavx512bw -mavx512dq -mavx2 -mfma -ffp-contract=fast  for AVX-512
 *   ./check_float_math
 *
 * Reports, per function, the largest error in ulp of the float result (ulp of
 * the reference's magnitude, at least the subnormal spacing 2^-149) and where.
 * References: exp(y) (libm, double); gelu: 0.5 x erfc(-x/sqrt 2) (libm erfc, double:
 * no cancellation for negative x, the same function as 0.5 x (1 + erf(x/sqrt 2)));
 * gelu_new: x / (1 + exp(-2a)) in double (accurate everywhere), and the
 * libm-tanh formula 0.5 x (1 + tanh(a)) the previous code used. */
#define KERNELS_TABLE kernels_checked
#define KERNELS_TABLE_NAME "checked"
#include "../kernels_baseline.c"

#include <float.h>
#include <stdio.h>

/* The previous double exp and its helper (kernels_baseline.c before the float versions). */
/* 2^k for k in [-126, 127], built from its float bits. This relies on IEEE
 * float32 and on float and uint32 sharing byte order (true of every IEEE
 * platform); it is an in-memory reinterpretation, not file data. */
static inline double pow2i(int k) {
    const uint32_t bits = (uint32_t)(k + 127) << 23;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* exp(y) for y in [-150, 0.5], in double, to 1e-11 relative (plenty for float results): y = k ln2 + r with
 * |r| <= ln2/2 (ln2 split in two so k ln2 is exact), a degree-9 Taylor
 * polynomial for e^r, then 2^k as two exact float powers of two. Straight-line
 * arithmetic, so loops calling it vectorize. */
static inline double exp_small(double y) {
    const double ln2_hi = 6.93147180369123816490e-01, ln2_lo = 1.90821492927058770002e-10;
    const int k = (int)(y * 1.44269504088896340736 + 1000.5) - 1000; /* nearest integer */
    const int k1 = k / 2;
    const double r = (y - k * ln2_hi) - k * ln2_lo;
    double p = 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    return p * pow2i(k1) * pow2i(k - k1);
}

/* The previous double gelu (kernels_baseline.c before the float version), for the
 * "moved by" figures. */
static float gelu_erf_double(float xpf, float cf, float sgf) {
    const double c = cf;
    const double t = fabs(c) * 0.70710678118654752440;
    const double u = 1.0 / (1.0 + 0.5 * t);
    const double v = (12.0 * u - 7.0) * 0.2;
    const double f = erfc_poly_at(v);
    const double h = 0.5 * u * exp_small(f - t * t);
    return (float)((double)xpf - (double)sgf * (c * h));
}

static double ulps_of(double got, double ref) {
    int e;
    double ulp;
    if (ref == 0 || !isfinite(ref)) return got == ref ? 0 : fabs(got - ref) / ldexp(1.0, -149);
    frexp(ref, &e); /* |ref| = m 2^e, m in [0.5, 1) */
    ulp = ldexp(1.0, (e - 24 < -149 ? -149 : e - 24));
    return fabs(got - ref) / ulp;
}

static float from_bits(uint32_t b) {
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}

static uint32_t to_bits(float f) {
    uint32_t b;
    memcpy(&b, &f, sizeof b);
    return b;
}

typedef struct {
    double worst, worst_x, moved, moved_x; /* vs the reference; vs the previous code */
    double worst_tanh, worst_tanh_x;       /* gelu_new: the libm-tanh formula vs the accurate one */
    long n;
} Stat;

#define CHUNK 4096

/* Every step-th float with bits in [b0, b1] (one sign), through the kernels in chunks. */
static void scan_range(int which, uint32_t b0, uint32_t b1, uint32_t step, Stat *st) {
    long nchunks = (long)(((uint64_t)(b1 - b0) / step + CHUNK) / CHUNK), ch;
    double worst = 0, wx = 0, moved = 0, mx = 0, wt = 0, wtx = 0;
    long n = 0;
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 16) reduction(+ : n)
#endif
    for (ch = 0; ch < nchunks; ch++) {
        float x[CHUNK], y[CHUNK];
        int i, len = 0;
        double lw = 0, lwx = 0, lm = 0, lmx = 0, lt = 0, ltx = 0;
        for (i = 0; i < CHUNK; i++) {
            uint64_t b = (uint64_t)b0 + ((uint64_t)ch * CHUNK + i) * step;
            if (b > b1) break;
            x[len++] = from_bits((uint32_t)b);
        }
        memcpy(y, x, sizeof(float) * (size_t)len);
        if (which == 0)
            for (i = 0; i < len; i++) y[i] = expf_small(x[i]);
        else if (which == 1)
            gelu_erf(y, (size_t)len);
        else
            gelu_tanh(y, (size_t)len);
        for (i = 0; i < len; i++) {
            const double xd = x[i];
            double ref, e, old;
            if (which == 0) {
                ref = exp(xd);
                old = (float)exp_small(xd);
            } else if (which == 1) {
                const float lo = x[i] > -15.0f ? x[i] : -15.0f, c = lo < 15.0f ? lo : 15.0f;
                ref = 0.5 * xd * erfc(-xd * 0.70710678118654752440);
                old = gelu_erf_double(x[i] < 0 ? 0.0f : x[i], c, x[i] < 0 ? -1.0f : 1.0f);
            } else {
                const double a = 0.79788456080286535588 * (xd + 0.044715 * xd * xd * xd);
                ref = xd / (1.0 + exp(-2.0 * a));
                old = (float)(0.5 * xd * (1.0 + tanh(a)));
                e = ulps_of(old, ref);
                if (e > lt) lt = e, ltx = xd;
            }
            e = ulps_of(y[i], ref);
            if (e > lw) lw = e, lwx = xd;
            e = ulps_of(y[i], old);
            if (e > lm) lm = e, lmx = xd;
        }
        n += len;
#ifdef _OPENMP
#pragma omp critical
#endif
        {
            if (lw > worst) worst = lw, wx = lwx;
            if (lm > moved) moved = lm, mx = lmx;
            if (lt > wt) wt = lt, wtx = ltx;
        }
    }
    if (worst > st->worst) st->worst = worst, st->worst_x = wx;
    if (moved > st->moved) st->moved = moved, st->moved_x = mx;
    if (wt > st->worst_tanh) st->worst_tanh = wt, st->worst_tanh_x = wtx;
    st->n += n;
}

/* Every float in [lo, hi] (lo < 0 < hi) when step is 1, else every step-th. */
static void scan_interval(int which, float lo, float hi, uint32_t step, Stat *st) {
    if (hi >= 0) scan_range(which, 0, to_bits(hi), step, st);
    if (lo < 0) scan_range(which, 0x80000000u, to_bits(lo), step, st);
}

/* [a, b] with a, b of one sign, every step-th float. */
static void scan_part(int which, float a, float b, uint32_t step, Stat *st) {
    uint32_t ba = to_bits(a), bb = to_bits(b);
    scan_range(which, ba < bb ? ba : bb, ba < bb ? bb : ba, step, st);
}

static void report(const char *what, const Stat *s, const char *ref) {
    printf("%-44s %11ld floats: max %.2f ulp vs %s (x = %.9g); moved at most %.2f ulp from the previous code (x = %.9g)\n",
           what, s->n, s->worst, ref, s->worst_x, s->moved, s->moved_x);
}

int main(void) {
    Stat s;
    printf("kernels compiled with%s FMA contraction, %d-float vectors\n",
#if defined(__FMA__)
           "",
#else
           "out",
#endif
           VL);
    memset(&s, 0, sizeof s);
    scan_part(0, -0.0f, -104.0f, 1, &s);
    scan_part(0, 0.0f, 0.5f, 1, &s);
    report("expf_small, every float in [-104, 0.5]", &s, "libm exp");
    memset(&s, 0, sizeof s);
    scan_part(0, -104.0f, -150.0f, 1, &s);
    report("expf_small, every float in [-150, -104]", &s, "libm exp");

    memset(&s, 0, sizeof s);
    scan_interval(1, -10.0f, 10.0f, 1, &s);
    report("gelu_erf, every float in [-10, 10]", &s, "0.5 x erfc");
    memset(&s, 0, sizeof s);
    scan_part(1, -10.0f, -13.2f, 1, &s);
    scan_part(1, 10.0f, 1e30f, 16, &s);
    report("gelu_erf, [-13.2, -10] all, [10, 1e30] 1/16", &s, "0.5 x erfc");
    memset(&s, 0, sizeof s);
    scan_part(1, -13.2f, -1e30f, 16, &s);
    report("gelu_erf, x < -13.2 (subnormal or 0), 1/16", &s, "0.5 x erfc");

    memset(&s, 0, sizeof s);
    scan_interval(2, -10.0f, 10.0f, 1, &s);
    report("gelu_tanh, every float in [-10, 10]", &s, "x/(1+exp(-2a))");
    printf("%-44s %11s   (the previous libm-tanh formula: max %.2f ulp from it, x = %.9g)\n", "", "", s.worst_tanh,
           s.worst_tanh_x);
    memset(&s, 0, sizeof s);
    scan_interval(2, -7.5f, 10.0f, 1, &s);
    report("gelu_tanh, every float in [-7.5, 10]", &s, "x/(1+exp(-2a))");
    printf("%-44s %11s   (the previous libm-tanh formula: max %.2f ulp from it, x = %.9g)\n", "", "", s.worst_tanh,
           s.worst_tanh_x);
    memset(&s, 0, sizeof s);
    scan_part(2, -10.0f, -15.0f, 16, &s);
    scan_part(2, 10.0f, 1e30f, 16, &s);
    report("gelu_tanh, [-15, -10] and [10, 1e30], 1/16", &s, "x/(1+exp(-2a))");
    return 0;
}
