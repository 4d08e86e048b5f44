/* test_stats.c - stats.c against values computed independently with numpy.
 *
 * Reference values were produced with (Debian's /usr/bin/python3, numpy):
 *   x = np.array([3.5,-1.25,7.0,2.0,0.5,9.75,-4.0,1.0,6.5,2.25], dtype=np.float32)
 *   y = np.array([1.0,0.3,2.9,1.1,0.2,3.6,-1.5,0.4,2.8,0.9])
 *   np.quantile(x.astype(np.float64), q)   for q in 0.5 0.125 0.25 0.75 0.875 0 1 0.3
 *   np.corrcoef(x, y)[0,1];  np.polyfit(x, y, 1)
 *   np.quantile([5.0], 0.3);  np.quantile([1.0, 2.0], 0.125)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "stats.h"

static const float X[10] = {3.5f, -1.25f, 7.0f, 2.0f, 0.5f, 9.75f, -4.0f, 1.0f, 6.5f, 2.25f};
static const double Y[10] = {1.0, 0.3, 2.9, 1.1, 0.2, 3.6, -1.5, 0.4, 2.8, 0.9};

static void test_quantiles(void) {
    static const struct {
        double q, expected;
    } cases[] = {{0.5, 2.125},   {0.125, -1.03125}, {0.25, 0.625}, {0.75, 5.75},
                 {0.875, 6.9375}, {0.0, -4.0},       {1.0, 9.75},   {0.3, 0.8499999999999999}};
    Samples s;
    size_t i;
    samples_init(&s);
    for (i = 0; i < 10; i++) samples_add(&s, X[i]);
    /* NaN samples are skipped and counted, never part of the quantiles. */
    samples_add(&s, NAN);
    samples_add(&s, NAN);
    CHECK(s.count == 10 && s.n_nan == 2, "10 samples and 2 NaN counted (got %zu, %zu)", s.count, s.n_nan);
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double got = samples_quantile(&s, cases[i].q);
        CHECK(check_close(got, cases[i].expected, 1e-12, 1e-12), "quantile %g = %.17g (numpy %.17g)", cases[i].q, got,
              cases[i].expected);
    }
    samples_free(&s);

    samples_init(&s);
    CHECK(isnan(samples_quantile(&s, 0.5)), "quantile of no samples is NaN");
    samples_add(&s, 5.0f);
    CHECK(samples_quantile(&s, 0.3) == 5.0, "quantile of one sample is that sample");
    samples_free(&s);
    samples_init(&s);
    samples_add(&s, 2.0f);
    samples_add(&s, 1.0f);
    CHECK(check_close(samples_quantile(&s, 0.125), 1.125, 0, 1e-12), "two samples, q 0.125 = 1.125");
    samples_free(&s);
}

/* samples_add_n keeps the values in order, counts NaNs as samples_add does, grows from
 * nothing past its first capacity, and copies a chunk without NaN whole. */
static void test_add_n(void) {
    enum { N = 3000 };
    static float v[N];
    Samples s, ref;
    size_t i, bad = 0;
    for (i = 0; i < N; i++) v[i] = (i % 7 == 3) ? NAN : (float)i * 0.25f - 100.0f;
    samples_init(&s);
    samples_init(&ref);
    samples_add_n(&s, v, 10);
    samples_add_n(&s, v + 10, N - 10);
    for (i = 0; i < N; i++) samples_add(&ref, v[i]);
    for (i = 0; i < ref.count && i < s.count; i++) bad += s.values[i] != ref.values[i];
    CHECK(s.count == ref.count && s.n_nan == ref.n_nan && bad == 0 && ref.n_nan > 0,
          "samples_add_n: %lu values, %lu NaN, %lu differ (one at a time: %lu, %lu)", (unsigned long)s.count,
          (unsigned long)s.n_nan, (unsigned long)bad, (unsigned long)ref.count, (unsigned long)ref.n_nan);
    samples_free(&s);
    samples_free(&ref);
    /* a chunk with NaNs, then one without (copied whole) */
    samples_init(&s);
    samples_init(&ref);
    samples_add_n(&s, v, 700);
    samples_add_n(&s, v + 4, 3); /* 4, 5, 6: no NaN */
    for (i = 0; i < 700; i++) samples_add(&ref, v[i]);
    for (i = 4; i < 7; i++) samples_add(&ref, v[i]);
    for (bad = 0, i = 0; i < ref.count && i < s.count; i++) bad += memcmp(&s.values[i], &ref.values[i], sizeof(float)) != 0;
    CHECK(s.count == ref.count && s.n_nan == ref.n_nan && bad == 0 && ref.n_nan > 0,
          "samples_add_n, with and without NaN: %lu values, %lu NaN, %lu differ (one at a time: %lu, %lu)",
          (unsigned long)s.count, (unsigned long)s.n_nan, (unsigned long)bad, (unsigned long)ref.count,
          (unsigned long)ref.n_nan);
    samples_free(&s);
    samples_free(&ref);
    /* room reserved up front: the values land in it (no reallocation) until it is full,
     * then the list grows and keeps them */
    {
        const float *room;
        samples_init_reserved(&s, 2000);
        room = s.values;
        samples_init(&ref);
        samples_add_n(&s, v, 2000);
        CHECK(s.cap == 2000 && s.values == room && s.count + s.n_nan == 2000, "samples_init_reserved: 2000 values in the room");
        samples_add_n(&s, v + 2000, N - 2000);
        samples_add_n(&ref, v, N);
        for (bad = 0, i = 0; i < ref.count && i < s.count; i++) bad += memcmp(&s.values[i], &ref.values[i], sizeof(float)) != 0;
        CHECK(s.count == ref.count && s.n_nan == ref.n_nan && bad == 0 && s.cap >= s.count,
              "samples_init_reserved, then grown: the values of an unreserved list (%lu differ)", (unsigned long)bad);
        samples_free(&s);
        samples_free(&ref);
        samples_init_reserved(&s, 0);
        CHECK(s.values == NULL && s.cap == 0 && s.count == 0, "samples_init_reserved(0): an empty list");
        samples_init_reserved(&s, (size_t)-1 / 2);
        CHECK(s.cap == 0 && s.count == 0, "samples_init_reserved beyond memory: an empty list");
        samples_add(&s, 1.5f);
        CHECK(s.count == 1 && s.values[0] == 1.5f, "which still grows");
        samples_free(&s);
    }
}

static void test_pearson_and_least_squares(void) {
    double x[10], slope, intercept, r;
    double flat[3] = {1, 1, 1};
    size_t i;
    for (i = 0; i < 10; i++) x[i] = X[i];
    r = pearson_r(x, Y, 10);
    CHECK(check_close(r, 0.981057993154926, 1e-12, 1e-13), "pearson r = %.17g (numpy 0.981057993154926)", r);
    least_squares(x, Y, 10, &slope, &intercept);
    CHECK(check_close(slope, 0.36514025216641344, 1e-12, 1e-13), "slope = %.17g (numpy 0.36514025216641344)", slope);
    CHECK(check_close(intercept, 0.17499281284652307, 1e-12, 1e-13), "intercept = %.17g (numpy 0.17499281284652307)",
          intercept);
    CHECK(isnan(pearson_r(x, Y, 1)), "r of one point is NaN");
    CHECK(isnan(pearson_r(flat, Y, 3)), "r with zero variance is NaN");
    least_squares(flat, Y, 3, &slope, &intercept);
    CHECK(isnan(slope), "slope with zero x variance is NaN");
}

static void test_results(void) {
    Results r;
    Samples s;
    double v = 0;
    size_t i;
    results_init(&r);
    samples_init(&s);
    for (i = 0; i < 10; i++) samples_add(&s, X[i]);
    results_add_quantiles(&r, "fig1.L0H2.resid_pre0", &s);
    CHECK(r.count == 5, "5 quantile metrics (got %d)", r.count);
    CHECK(results_get(&r, "fig1.L0H2.resid_pre0.q87_5", &v) && check_close(v, 6.9375, 0, 1e-12), "q87_5 stored");
    CHECK(results_get(&r, "fig1.L0H2.resid_pre0.q12_5", &v) && check_close(v, -1.03125, 0, 1e-12), "q12_5 stored");
    results_set(&r, "fig1.L0H2.resid_pre0.median", 1.5);
    CHECK(r.count == 5 && results_get(&r, "fig1.L0H2.resid_pre0.median", &v) && v == 1.5, "set replaces");
    CHECK(!results_get(&r, "nope", &v), "missing metric not found");
    samples_free(&s);
    results_free(&r);
}

static int compare_values(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* The quantiles sort the samples with a radix sort: against qsort on values of every
 * kind (both zeros, subnormals, infinities, many duplicates, sizes around the radix
 * digits), the same values in order, -0 before +0. */
static void test_sort(void) {
    static const size_t sizes[] = {2, 3, 17, 2048, 2049, 100003};
    size_t k;
    check_seed(0x5EED5EEDULL);
    for (k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        const size_t n = sizes[k];
        float *ref = malloc(n * sizeof *ref);
        Samples s;
        size_t i, bad = 0, zero_order = 0;
        samples_init(&s);
        for (i = 0; i < n; i++) {
            float r = check_rnd(), v;
            switch (i % 8) {
            case 0: v = r * 1e30f; break;
            case 1: v = r * 1e-40f; break;          /* subnormal */
            case 2: v = (i % 16 == 2) ? 0.0f : -0.0f; break;
            case 3: v = (float)(int)(r * 4.0f); break; /* duplicates */
            case 4: v = (i % 24 == 4) ? INFINITY : (i % 24 == 12 ? -INFINITY : r); break;
            default: v = r * 3.0f;
            }
            samples_add(&s, v);
            ref[i] = v;
        }
        qsort(ref, n, sizeof *ref, compare_values);
        (void)samples_quantile(&s, 0.5);
        for (i = 0; i < n; i++) bad += !(s.values[i] == ref[i]);
        for (i = 1; i < n; i++) zero_order += s.values[i - 1] == 0.0f && s.values[i] == 0.0f && !signbit(s.values[i - 1]) && signbit(s.values[i]);
        CHECK(s.count == n && bad == 0, "n=%lu: sorted samples equal qsort's (%lu differ)", (unsigned long)n, (unsigned long)bad);
        CHECK(zero_order == 0, "n=%lu: -0 sorted before +0", (unsigned long)n);
        samples_free(&s);
        free(ref);
    }
}

/* samples_quantile sorts -0 before +0 (sort_floats' order) whatever order they came in:
 * a list already in numeric order with +0 before -0 is sorted again, so its maximum (the
 * one quantile returned as stored, not interpolated) is +0 as for the other order. */
static void test_quantile_signed_zeros(void) {
    static const float orders[2][3] = {{-1.0f, 0.0f, -0.0f}, {-1.0f, -0.0f, 0.0f}};
    int k;
    for (k = 0; k < 2; k++) {
        Samples s;
        int i;
        double top;
        samples_init(&s);
        for (i = 0; i < 3; i++) samples_add(&s, orders[k][i]);
        top = samples_quantile(&s, 1.0);
        CHECK(top == 0.0 && !signbit(top), "order %d: the maximum of -1, 0, -0 is +0 (sign bit %d)", k,
              signbit(top) != 0);
        CHECK(signbit(s.values[1]) && !signbit(s.values[2]), "order %d: sorted -0 then +0", k);
        samples_free(&s);
    }
}

/* Orders floats as numbers, -0 before +0 (the reference for the sorted order). */
static int compare_signed_zeros(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    if (x == y) return (signbit(y) != 0) - (signbit(x) != 0); /* -0 first; otherwise equal */
    return (x > y) - (x < y);
}

/* Type-7 quantile q of v[0..n) sorted ascending, written out here from its definition. */
static double ref_quantile(const float *v, size_t n, double q) {
    const double h = (double)(n - 1) * q;
    const size_t lo = (size_t)floor(h);
    if (lo >= n - 1) return v[n - 1];
    return (double)v[lo] + (h - (double)lo) * ((double)v[lo + 1] - (double)v[lo]);
}

static int same_double(double a, double b) {
    return (isnan(a) && isnan(b)) || memcmp(&a, &b, sizeof a) == 0;
}

/* samples_quantiles_many (blocks sorted in place, the whole series' order statistics
 * searched in them) against the definitions computed here: each quantile from a qsort
 * of the whole series, bit for bit (zeros with their sign), each standard error from
 * qsort'ed copies of its 20 (or n/2) blocks within 1e-6 relative (stats.c rounds a block
 * quantile's difference of neighbours to float), and bit for bit against
 * samples_quantile_se (its copies of the blocks, the unchanged path), on values of every
 * kind (both zeros, subnormals, infinities, duplicates) and sizes around the block count. */
static void test_quantiles_many(void) {
    static const size_t sizes[] = {4, 5, 39, 40, 41, 1000, 100003};
    static const double qs[5] = {0.5, 0.125, 0.25, 0.75, 0.875};
    enum { NS = sizeof sizes / sizeof *sizes };
    Samples series[NS], *ptr[NS];
    double value[NS * 5], se[NS * 5];
    size_t k, i;
    check_seed(0xC0FFEEULL);
    for (k = 0; k < NS; k++) {
        samples_init(&series[k]);
        for (i = 0; i < sizes[k]; i++) {
            const float r = check_rnd();
            float v;
            switch (i % 7) {
            case 0: v = (i % 14 == 0) ? 0.0f : -0.0f; break;
            case 1: v = r * 1e-40f; break;
            case 2: v = (float)(int)(r * 3.0f); break;
            case 3: v = (i % 21 == 3) ? INFINITY : r; break;
            default: v = r * 5.0f;
            }
            samples_add(&series[k], v);
        }
        ptr[k] = &series[k];
    }
    /* the references first: the quantiles below reorder the series */
    {
        double ref_value[NS * 5], ref_se[NS * 5], lib_se[NS * 5];
        int bad_value = 0, bad_se = 0, bad_lib_se = 0;
        for (k = 0; k < NS; k++) {
            const size_t n = series[k].count, groups = n / 2 < 20 ? n / 2 : 20;
            float *all = malloc(n * sizeof *all), *block = malloc(n * sizeof *block);
            double sum[5] = {0}, sum2[5] = {0};
            size_t g;
            int q;
            samples_quantile_se(&series[k], qs, 5, lib_se + k * 5);
            memcpy(all, series[k].values, n * sizeof *all);
            qsort(all, n, sizeof *all, compare_signed_zeros);
            for (g = 0; g < groups; g++) {
                const size_t a = g * n / groups, b = (g + 1) * n / groups;
                memcpy(block, series[k].values + a, (b - a) * sizeof *block);
                qsort(block, b - a, sizeof *block, compare_signed_zeros);
                for (q = 0; q < 5; q++) {
                    const double v = ref_quantile(block, b - a, qs[q]);
                    sum[q] += v;
                    sum2[q] += v * v;
                }
            }
            for (q = 0; q < 5; q++) {
                const double mean = sum[q] / (double)groups, var = (sum2[q] - (double)groups * mean * mean) / (double)(groups - 1);
                ref_value[k * 5 + q] = ref_quantile(all, n, qs[q]);
                ref_se[k * 5 + q] = sqrt(var > 0 ? var : 0) / sqrt((double)groups);
            }
            free(all);
            free(block);
        }
        samples_quantiles_many(ptr, NS, qs, 5, value, se);
        for (i = 0; i < NS * 5; i++) {
            bad_value += !same_double(value[i], ref_value[i]);
            bad_se += !(same_double(se[i], ref_se[i]) || fabs(se[i] - ref_se[i]) <= 1e-6 * fabs(ref_se[i]));
            bad_lib_se += !same_double(se[i], lib_se[i]);
        }
        CHECK(bad_value == 0, "samples_quantiles_many: every quantile the bits of the sorted series' (%d differ)", bad_value);
        CHECK(bad_se == 0, "samples_quantiles_many: every standard error that of the sorted blocks (%d differ)", bad_se);
        CHECK(bad_lib_se == 0, "samples_quantiles_many: every standard error the bits of samples_quantile_se (%d differ)",
              bad_lib_se);
    }
    for (k = 0; k < NS; k++) samples_free(&series[k]);
}

/* compact_code / compact_value against their definition: every code's value round-trips
 * and the values increase with the code; a value's code is the nearest code value (ties
 * either way) within the stated error: 2^-13 below 4, 2^-12 below 8, 2^-10 relative below
 * 523,520, infinity from there. */
static void test_compact(void) {
    static const float edges[] = {0.0f, -0.0f, 1.2207031e-4f, 6.1035156e-5f, 6.1035160e-5f, 1e-40f, 3.99993896f,
                                  3.9999f, 4.0f, 4.0001f, 4.00024414f, 4.00390625f, 7.999f, 7.9998f, 8.0f, 8.01f,
                                  15.99f, 16.0f, 1000.7f, 131071.0f, 262144.0f, 523000.0f, 523519.0f, 523520.0f,
                                  1048576.0f, 3e38f, INFINITY};
    long c, bad_trip = 0, bad_order = 0, bad_near = 0, bad_err = 0, n = 0;
    int k, sign;
    for (c = 1; c <= 65535; c++) {
        float v = compact_value((uint16_t)c);
        bad_trip += compact_code(v) != (uint16_t)c && !(isinf(v) && isinf(compact_value(compact_code(v))));
        if (c > 1) bad_order += !(compact_value((uint16_t)(c - 1)) < v) && !(isinf(v) && c == 65535) && c != 2;
    }
    CHECK(bad_trip == 0, "%ld codes do not round-trip", bad_trip);
    CHECK(bad_order == 0, "%ld codes do not increase with their value", bad_order);
    check_seed(0xC0DEC0DEULL);
    for (k = 0; k < 400000 + (int)(sizeof edges / sizeof *edges); k++) {
        float v;
        uint16_t code;
        double d, err;
        if (k < (int)(sizeof edges / sizeof *edges)) v = edges[k];
        else v = (float)ldexp(check_rnd() + 1.0, (k % 46) - 26); /* 2^-26 .. 2^20 */
        for (sign = 0; sign < 2; sign++, v = -v) {
            code = compact_code(v);
            d = compact_value(code);
            n++;
            err = fabs(d - (double)v);
            if (fabs(v) < 4) bad_err += !(err <= 0x1p-13);
            else if (fabs(v) < 8) bad_err += !(err <= 0x1p-12);
            else if (fabs(v) < 523520) bad_err += !(err <= 0x1p-10 * fabs(v));
            else bad_err += !(isinf(d) || err <= 0x1p-11 * fabs(v));
            if (isinf(d) || isinf(v)) continue;
            if (code > 1 && !isinf(compact_value((uint16_t)(code - 1))))
                bad_near += fabs((double)compact_value((uint16_t)(code - 1)) - v) < err;
            if (code < 65535 && !isinf(compact_value((uint16_t)(code + 1))))
                bad_near += fabs((double)compact_value((uint16_t)(code + 1)) - v) < err;
        }
    }
    { /* compact_codes: compact_code of each, on the edges and a sweep of every range */
        float src[4096];
        uint16_t dst[4096];
        long differ = 0;
        int i;
        for (i = 0; i < 4096; i++)
            src[i] = i < (int)(sizeof edges / sizeof *edges)
                         ? edges[i] * (i % 2 ? -1.0f : 1.0f)
                         : (float)ldexp(check_rnd() + 1.0, (i % 48) - 27) * (i % 3 ? 1.0f : -1.0f);
        compact_codes(dst, src, 4096);
        for (i = 0; i < 4096; i++) differ += dst[i] != compact_code(src[i]);
        CHECK(differ == 0, "compact_codes is compact_code of each value (%ld differ)", differ);
    }
    CHECK(bad_err == 0, "%ld of %ld values beyond the stated error", bad_err, n);
    CHECK(bad_near == 0, "%ld of %ld values not coded to the nearest code", bad_near, n);
    CHECK(isinf(compact_value(compact_code(INFINITY))) && compact_value(compact_code(-INFINITY)) < 0 &&
              isinf(compact_value(compact_code(1e30f))),
          "infinities and huge values code as infinity");
    CHECK(compact_code(1.0f) > compact_code(0.5f) && compact_code(-1.0f) < compact_code(-0.5f) &&
              compact_code(-0.0f) == compact_code(0.0f),
          "codes order like the values");
}

/* samples_set_codes: in the codes' order, compact_value of each code; with sorted
 * blocks, each block of the standard errors a sorted permutation of that, and
 * samples_quantiles_many the same bits on both orders; on codes of every kind (the
 * infinities' 0 and 65535, zero's 32768, runs of duplicates) and sizes around the
 * block count. */
static void test_set_codes(void) {
    static const size_t sizes[] = {3, 4, 5, 39, 40, 41, 1000, 100003};
    static const double qs[5] = {0.5, 0.125, 0.25, 0.75, 0.875};
    enum { NS = sizeof sizes / sizeof *sizes };
    Samples in_order[NS], blocked[NS], *p_order[NS], *p_blocked[NS];
    double v_order[NS * 5], se_order[NS * 5], v_blocked[NS * 5], se_blocked[NS * 5];
    size_t k, i;
    int bad_decode = 0, bad_block = 0, bad_q = 0;
    check_seed(0xC0DE5ULL);
    for (k = 0; k < NS; k++) {
        const size_t n = sizes[k], groups = n < 4 ? 0 : n / 2 < 20 ? n / 2 : 20;
        uint16_t *code = malloc(n * sizeof *code);
        size_t g;
        for (i = 0; i < n; i++) {
            const float r = check_rnd();
            code[i] = i % 5 == 0 ? (uint16_t)(r < 0.3f ? 0 : r < 0.6f ? 65535 : 32768)
                      : i % 5 == 1 ? (uint16_t)(32760 + (int)(r * 16))
                                   : (uint16_t)(r * 65535.0f);
        }
        samples_init(&in_order[k]);
        samples_init(&blocked[k]);
        samples_set_codes(&in_order[k], code, n, 0);
        samples_set_codes(&blocked[k], code, n, 1);
        for (i = 0; i < n; i++) bad_decode += !same_double(in_order[k].values[i], compact_value(code[i]));
        bad_decode += in_order[k].count != n || blocked[k].count != n;
        for (g = 0; g < groups; g++) {
            const size_t a = g * n / groups, b = (g + 1) * n / groups;
            float *ref = malloc((b - a) * sizeof *ref);
            memcpy(ref, in_order[k].values + a, (b - a) * sizeof *ref);
            qsort(ref, b - a, sizeof *ref, compare_signed_zeros);
            for (i = a; i < b; i++) bad_block += !same_double(blocked[k].values[i], ref[i - a]);
            free(ref);
        }
        if (groups == 0)
            for (i = 0; i < n; i++) bad_block += !same_double(blocked[k].values[i], in_order[k].values[i]);
        p_order[k] = &in_order[k];
        p_blocked[k] = &blocked[k];
        free(code);
    }
    samples_quantiles_many(p_order, NS, qs, 5, v_order, se_order);
    samples_quantiles_many(p_blocked, NS, qs, 5, v_blocked, se_blocked);
    for (i = 0; i < NS * 5; i++) bad_q += !same_double(v_order[i], v_blocked[i]) || !same_double(se_order[i], se_blocked[i]);
    CHECK(bad_decode == 0, "samples_set_codes: compact_value of each code, in order (%d differ)", bad_decode);
    CHECK(bad_block == 0, "samples_set_codes: each block a sorted permutation (%d differ)", bad_block);
    CHECK(bad_q == 0, "samples_set_codes: quantiles and SEs the bits of the codes' order (%d differ)", bad_q);
    for (k = 0; k < NS; k++) {
        samples_free(&in_order[k]);
        samples_free(&blocked[k]);
    }
}

int main(void) {
    test_compact();
    test_set_codes();
    test_quantiles();
    test_sort();
    test_quantile_signed_zeros();
    test_quantiles_many();
    test_add_n();
    test_pearson_and_least_squares();
    test_results();
    return check_done("test_stats");
}
