/* stats.c - see stats.h. */
#include "stats.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void samples_init(Samples *s) {
    memset(s, 0, sizeof *s);
}

void samples_init_reserved(Samples *s, size_t n) {
    samples_init(s);
    if (n == 0 || n > SIZE_MAX / sizeof *s->values) return;
    s->values = malloc(n * sizeof *s->values);
    if (s->values) s->cap = n;
}

/* Room for n more values: the capacity doubles (from 1024) until they fit. */
static void samples_reserve(Samples *s, size_t n) {
    size_t ncap = s->cap ? s->cap : 1024;
    float *nv;
    if (s->cap - s->count >= n) return;
    while (ncap - s->count < n) ncap *= 2;
    nv = realloc(s->values, ncap * sizeof *nv);
    if (!nv) die(EXIT_INTERNAL, "out of memory collecting samples");
    s->values = nv;
    s->cap = ncap;
}

void samples_add(Samples *s, float v) {
    if (isnan(v)) {
        s->n_nan++;
        return;
    }
    samples_reserve(s, 1);
    s->values[s->count++] = v;
}

void samples_add_n(Samples *s, const float *v, size_t n) {
    size_t i;
    int nan_seen = 0;
    samples_reserve(s, n); /* room for all n at once, then no check per value */
    for (i = 0; i < n; i++) nan_seen |= v[i] != v[i];
    if (!nan_seen) { /* the usual case: one copy */
        memcpy(s->values + s->count, v, n * sizeof *v);
        s->count += n;
        return;
    }
    for (i = 0; i < n; i++) {
        if (isnan(v[i])) s->n_nan++;
        else s->values[s->count++] = v[i];
    }
}

void samples_free(Samples *s) {
    free(s->values);
    memset(s, 0, sizeof *s);
}

/* compact_code's layout: code 32768 + i for the signed index i, |i| from the magnitude:
 * up to COMPACT_4 (|v| <= 4) in steps of 2^-12, up to COMPACT_8 (|v| <= 8) in steps of
 * 2^-11, then COMPACT_MANTISSA codes per octave from 8 up; COMPACT_INF: infinity. */
#define COMPACT_4 16384
#define COMPACT_8 24576
#define COMPACT_MANTISSA 512
#define COMPACT_INF 32767

/* compact_code, inlined into compact_codes' loop. floor(y + 0.5) of a y >= 0 is its
 * truncation, a conversion: no call to floor (a libm call where the build has no SSE4.1,
 * and most of a paper-scale scan's coding time). */
static inline uint16_t code_of(float v) {
    double x = fabs((double)v); /* the products and sums below are exact in double */
    long i;
    if (x < 4.0) {
        i = (long)(x * 4096.0 + 0.5);
    } else if (x < 8.0) {
        i = COMPACT_4 + (long)((x - 4.0) * 2048.0 + 0.5);
    } else if (x >= 1048576.0) {
        i = COMPACT_INF; /* also the infinities */
    } else {
        /* x = 2^(e-1) (1 + f), e >= 4: octave e - 4, f rounded to 9 bits (a carry moves up an octave) */
        int e;
        double f = frexp(x, &e); /* x = f 2^e, f in [0.5, 1) */
        i = COMPACT_8 + (long)(e - 4) * COMPACT_MANTISSA + (long)((2.0 * f - 1.0) * COMPACT_MANTISSA + 0.5);
        if (i > COMPACT_INF) i = COMPACT_INF;
    }
    return (uint16_t)(32768 + (v < 0 ? -i : i));
}

uint16_t compact_code(float v) {
    return code_of(v);
}

void compact_codes(uint16_t *dst, const float *src, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) dst[i] = code_of(src[i]);
}

float compact_value(uint16_t code) {
    long i = (long)code - 32768, a = i < 0 ? -i : i;
    double x;
    if (a >= COMPACT_INF)
        x = HUGE_VAL;
    else if (a <= COMPACT_4)
        x = (double)a / 4096.0;
    else if (a <= COMPACT_8)
        x = 4.0 + (double)(a - COMPACT_4) / 2048.0;
    else
        x = ldexp(1.0 + (double)((a - COMPACT_8) % COMPACT_MANTISSA) / COMPACT_MANTISSA,
                  (int)((a - COMPACT_8) / COMPACT_MANTISSA) + 3);
    return (float)(i < 0 ? -x : x);
}

/* An unsigned key that orders like the float: the sign bit flipped for positives, every
 * bit for negatives (so -0 sorts just before +0, NaNs beyond the infinities). */
static uint32_t float_key(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

/* Sorts v[0..n) ascending: a least-significant-digit radix sort on float_key, three
 * passes of 11 bits through a scratch copy. Equal values are indistinguishable, so the
 * result is the one sorted order of the values whatever the platform (a comparison sort
 * could place -0 and +0 either way); about 20x faster than glibc's qsort on 307,200 samples. */
static void sort_floats(float *v, size_t n) {
    enum { BITS = 11, BUCKETS = 1 << BITS };
    float *tmp, *src = v, *dst;
    size_t count[BUCKETS], i;
    int pass;
    if (n < 2) return;
    tmp = xalloc_array(n, sizeof *tmp, "sorting samples");
    dst = tmp;
    for (pass = 0; pass < 3; pass++) {
        const int shift = pass * BITS;
        size_t total = 0;
        memset(count, 0, sizeof count);
        for (i = 0; i < n; i++) count[(float_key(src[i]) >> shift) & (BUCKETS - 1)]++;
        for (i = 0; i < BUCKETS; i++) {
            size_t c = count[i];
            count[i] = total;
            total += c;
        }
        for (i = 0; i < n; i++) dst[count[(float_key(src[i]) >> shift) & (BUCKETS - 1)]++] = src[i];
        src = dst;
        dst = src == v ? tmp : v;
    }
    if (src != v) memcpy(v, src, n * sizeof *v); /* three passes end in tmp */
    free(tmp);
}

/* Whether v[0..n) is in sort_floats' order (by float_key: -0 before +0). */
static int is_key_sorted(const float *v, size_t n) {
    size_t i;
    for (i = 1; i < n; i++)
        if (float_key(v[i - 1]) > float_key(v[i])) return 0;
    return 1;
}

/* compact_value of every code, computed once (the scan decodes 181 million codes at
 * paper scale: by a lookup, not by ldexp). */
static float compact_table[65536];
static int compact_table_ready;

static const float *compact_values(void) {
#ifdef _OPENMP
#pragma omp critical(compact_table)
#endif
    {
        if (!compact_table_ready) {
            long c;
            for (c = 0; c < 65536; c++) compact_table[c] = compact_value((uint16_t)c);
            compact_table_ready = 1;
        }
    }
    return compact_table;
}

/* The blocks of the standard errors for n samples (0 under 4): block g is [g n / G, (g + 1) n / G). */
static size_t se_groups(size_t n) {
    return n < 4 ? 0 : n / 2 < SAMPLES_SE_GROUPS ? n / 2 : SAMPLES_SE_GROUPS;
}

void samples_set_codes(Samples *out, const uint16_t *codes, size_t n, int sorted_blocks) {
    const float *value = compact_values();
    const size_t groups = sorted_blocks ? se_groups(n) : 0;
    uint16_t *tmp;
    size_t g, i;
    out->count = 0;
    samples_reserve(out, n);
    out->count = n;
    if (groups == 0) {
        for (i = 0; i < n; i++) out->values[i] = value[codes[i]];
        return;
    }
    /* Each block's codes sorted by two counting passes of 8 bits, then decoded: codes order
     * like their values, and compact_value gives no -0, so this is sort_floats' order. */
    tmp = xalloc_array(2 * (n / groups + 1), sizeof *tmp, "decoding samples");
    for (g = 0; g < groups; g++) {
        const size_t a = g * n / groups, len = (g + 1) * n / groups - a;
        uint16_t *src = tmp, *dst = tmp + n / groups + 1;
        size_t count[256];
        int pass;
        memcpy(src, codes + a, len * sizeof *src);
        for (pass = 0; pass < 2; pass++) {
            const int shift = 8 * pass;
            size_t total = 0;
            uint16_t *t;
            memset(count, 0, sizeof count);
            for (i = 0; i < len; i++) count[(src[i] >> shift) & 255]++;
            for (i = 0; i < 256; i++) {
                const size_t c = count[i];
                count[i] = total;
                total += c;
            }
            for (i = 0; i < len; i++) dst[count[(src[i] >> shift) & 255]++] = src[i];
            t = src;
            src = dst;
            dst = t;
        }
        for (i = 0; i < len; i++) out->values[a + i] = value[src[i]];
    }
    free(tmp);
}

/* Type-7 interpolation between order statistics lo and lo + 1 (values lo_value,
 * hi_value) at h = (n - 1) q, in double. */
static double interpolate(double lo_value, double hi_value, double h, size_t lo) {
    return lo_value + (h - (double)lo) * (hi_value - lo_value);
}

double samples_quantile(Samples *s, double q) {
    double h;
    size_t lo;
    if (s->count == 0) return NAN;
    if (!is_key_sorted(s->values, s->count)) sort_floats(s->values, s->count);
    h = (double)(s->count - 1) * q;
    lo = (size_t)floor(h);
    if (lo >= s->count - 1) return s->values[s->count - 1];
    return interpolate(s->values[lo], s->values[lo + 1], h, lo);
}

/* Quantile q of the sorted v[0..n), type 7. */
static double sorted_quantile(const float *v, size_t n, double q) {
    double h = (double)(n - 1) * q;
    size_t lo = (size_t)floor(h);
    if (lo >= n - 1) return v[n - 1];
    return v[lo] + (h - (double)lo) * (v[lo + 1] - v[lo]);
}

#define SE_GROUPS SAMPLES_SE_GROUPS

static int block_quantiles_se(float *values, size_t n, int in_place, const double *qs, int nq, double *se,
                              double *first);

/* samples_quantile_se, and the blocks' quantile qs[0] into first (when not NULL);
 * returns the number of blocks. Sorts copies of the blocks: s stays as it is. */
static int samples_quantile_se_blocks(const Samples *s, const double *qs, int nq, double *se, double *first) {
    return block_quantiles_se((float *)s->values, s->count, 0, qs, nq, se, first); /* not written: copies */
}

int samples_block_quantiles(const Samples *s, double q, double *out) {
    double se;
    return samples_quantile_se_blocks(s, &q, 1, &se, out);
}

double batch_means_se(const double *v, int n) {
    double sum = 0, sum2 = 0, mean, var;
    int i;
    if (n < 2) return NAN;
    for (i = 0; i < n; i++) {
        sum += v[i];
        sum2 += v[i] * v[i];
    }
    mean = sum / n;
    var = (sum2 - n * mean * mean) / (n - 1);
    return sqrt(var > 0 ? var : 0) / sqrt((double)n);
}

void samples_quantile_se(const Samples *s, const double *qs, int nq, double *se) {
    samples_quantile_se_blocks(s, qs, nq, se, NULL);
}

/* The standard errors of the quantiles qs of values[0..n) by batch means over its blocks
 * (samples_quantile_se), the blocks' quantile qs[0] into first (when not NULL); returns
 * the number of blocks (0 under 4 values). Each block is sorted: a copy of it, or with
 * in_place the block itself (values then end sorted block by block). */
static int block_quantiles_se(float *values, size_t n, int in_place, const double *qs, int nq, double *se,
                              double *first) {
    const size_t groups = se_groups(n);
    double sum[16] = {0}, sum2[16] = {0};
    float *block = NULL;
    size_t g;
    int k;
    if (nq > 16) nq = 16;
    if (n < 4) {
        for (k = 0; k < nq; k++) se[k] = NAN;
        return 0;
    }
    if (!in_place) block = xalloc_array(n / groups + 1, sizeof *block, "quantile blocks");
    for (g = 0; g < groups; g++) {
        const size_t a = g * n / groups, b = (g + 1) * n / groups;
        float *sorted = in_place ? values + a : block;
        if (!in_place) memcpy(block, values + a, (b - a) * sizeof *block);
        if (!in_place || !is_key_sorted(sorted, b - a)) sort_floats(sorted, b - a); /* samples_set_codes sorts them */
        for (k = 0; k < nq; k++) {
            double v = sorted_quantile(sorted, b - a, qs[k]);
            if (k == 0 && first) first[g] = v;
            sum[k] += v;
            sum2[k] += v * v;
        }
    }
    for (k = 0; k < nq; k++) {
        double mean = sum[k] / (double)groups, var = (sum2[k] - (double)groups * mean * mean) / (double)(groups - 1);
        se[k] = sqrt(var > 0 ? var : 0) / sqrt((double)groups);
    }
    free(block);
    return (int)groups;
}

/* Means of x and y, then the centred sums; shared by pearson_r and least_squares. */
static void centred_sums(const double *x, const double *y, size_t n, double *sxx, double *syy, double *sxy,
                         double *mean_x, double *mean_y) {
    double mx = 0, my = 0, a = 0, b = 0, c = 0;
    size_t i;
    for (i = 0; i < n; i++) {
        mx += x[i];
        my += y[i];
    }
    mx /= (double)n;
    my /= (double)n;
    for (i = 0; i < n; i++) {
        double dx = x[i] - mx, dy = y[i] - my;
        a += dx * dx;
        b += dy * dy;
        c += dx * dy;
    }
    *sxx = a;
    *syy = b;
    *sxy = c;
    *mean_x = mx;
    *mean_y = my;
}

double pearson_r(const double *x, const double *y, size_t n) {
    double sxx, syy, sxy, mx, my;
    if (n < 2) return NAN;
    centred_sums(x, y, n, &sxx, &syy, &sxy, &mx, &my);
    if (sxx == 0 || syy == 0) return NAN;
    return sxy / sqrt(sxx * syy);
}

void least_squares(const double *x, const double *y, size_t n, double *slope, double *intercept) {
    double sxx, syy, sxy, mx, my;
    if (n < 2) {
        *slope = *intercept = NAN;
        return;
    }
    centred_sums(x, y, n, &sxx, &syy, &sxy, &mx, &my);
    if (sxx == 0) {
        *slope = *intercept = NAN;
        return;
    }
    *slope = sxy / sxx;
    *intercept = my - *slope * mx;
}

void results_init(Results *r) {
    memset(r, 0, sizeof *r);
}

void results_free(Results *r) {
    int i;
    for (i = 0; i < r->count; i++) free(r->items[i].name);
    free(r->items);
    memset(r, 0, sizeof *r);
}

void results_set(Results *r, const char *name, double value) {
    int i;
    for (i = 0; i < r->count; i++)
        if (strcmp(r->items[i].name, name) == 0) {
            r->items[i].value = value;
            r->items[i].se = NAN;
            return;
        }
    if (r->count == r->cap) {
        int ncap = r->cap ? r->cap * 2 : 256;
        Metric *ni = realloc(r->items, (size_t)ncap * sizeof *ni);
        if (!ni) die(EXIT_INTERNAL, "out of memory storing results");
        r->items = ni;
        r->cap = ncap;
    }
    r->items[r->count].name = xstrdup(name);
    r->items[r->count].value = value;
    r->items[r->count].se = NAN;
    r->count++;
}

void results_set_se(Results *r, const char *name, double se) {
    int i;
    for (i = r->count - 1; i >= 0; i--)
        if (strcmp(r->items[i].name, name) == 0) {
            r->items[i].se = se;
            return;
        }
}

double results_get_se(const Results *r, const char *name) {
    int i;
    for (i = 0; i < r->count; i++)
        if (strcmp(r->items[i].name, name) == 0) return r->items[i].se;
    return NAN;
}

int results_get(const Results *r, const char *name, double *value) {
    int i;
    for (i = 0; i < r->count; i++)
        if (strcmp(r->items[i].name, name) == 0) {
            *value = r->items[i].value;
            return 1;
        }
    return 0;
}

/* The float whose float_key is key. */
static float key_float(uint32_t key) {
    const uint32_t u = (key & 0x80000000u) ? (key & 0x7fffffffu) : ~key;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* The k-th smallest (from 0) of the runs v[bound[g] .. bound[g+1]) (g < runs), each sorted
 * by float_key, as sort_floats orders them: the smallest key x with more than k values
 * at or below it, by bisection on the key (each count a binary search per run). */
static float runs_kth(const float *v, const size_t *bound, int runs, size_t k) {
    uint32_t lo = 0, hi = 0xffffffffu;
    while (lo < hi) {
        const uint32_t mid = lo + (hi - lo) / 2;
        size_t count = 0;
        int g;
        for (g = 0; g < runs; g++) { /* values of run g with key <= mid */
            size_t a = bound[g], b = bound[g + 1];
            while (a < b) {
                const size_t m = a + (b - a) / 2;
                if (float_key(v[m]) <= mid) a = m + 1;
                else b = m;
            }
            count += a - bound[g];
        }
        if (count > k) hi = mid;
        else lo = mid + 1;
    }
    return key_float(lo);
}

/* samples_quantile_se and samples_quantile of one series at once, with fewer passes over
 * memory: the SE's blocks are sorted in place (each in cache) instead of copies of them,
 * and the quantiles of the whole series are order statistics found in those sorted runs
 * (runs_kth) instead of by sorting the whole series (a radix sort of 307,200 samples out
 * of cache: most of the finish's time). The same values: the blocks hold the same samples
 * in any order, and the k-th smallest is the float sort_floats would put at k. The series
 * is left sorted block by block (a later samples_quantile sorts it whole). */
static void series_quantiles(Samples *s, const double *qs, int nq, double *value, double *se) {
    const size_t n = s->count;
    size_t bound[SE_GROUPS + 1], g;
    int groups, k;
    if (n < 4 || nq > 16) {
        samples_quantile_se(s, qs, nq, se);
        for (k = 0; k < nq; k++) value[k] = samples_quantile(s, qs[k]);
        return;
    }
    groups = block_quantiles_se(s->values, n, 1, qs, nq, se, NULL);
    for (g = 0; g <= (size_t)groups; g++) bound[g] = g * n / (size_t)groups; /* its blocks */
    for (k = 0; k < nq; k++) {
        const double h = (double)(n - 1) * qs[k];
        const size_t lo = (size_t)floor(h);
        if (lo >= n - 1)
            value[k] = runs_kth(s->values, bound, groups, n - 1);
        else
            value[k] = interpolate(runs_kth(s->values, bound, groups, lo), runs_kth(s->values, bound, groups, lo + 1),
                                   h, lo);
    }
}

void samples_quantiles_many(Samples *const *s, int n, const double *qs, int nq, double *value, double *se) {
    int i;
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1)
#endif
    for (i = 0; i < n; i++) series_quantiles(s[i], qs, nq, value + (size_t)i * nq, se + (size_t)i * nq);
}

void results_add_quantiles_of(Results *r, const char *const *names, Samples *const *s, int n, const double *qs,
                              const char *const *suffixes, int nq) {
    double *value = xalloc_array((size_t)(n > 0 ? n : 1) * nq, sizeof *value, "quantiles");
    double *se = xalloc_array((size_t)(n > 0 ? n : 1) * nq, sizeof *se, "quantiles");
    char key[300];
    int i, k;
    samples_quantiles_many(s, n, qs, nq, value, se);
    for (i = 0; i < n; i++)
        for (k = 0; k < nq; k++) {
            snprintf(key, sizeof key, "%s.%s", names[i], suffixes[k]);
            results_set(r, key, value[(size_t)i * nq + k]);
            results_set_se(r, key, se[(size_t)i * nq + k]);
        }
    free(value);
    free(se);
}

const double results_q5[5] = {0.5, 0.125, 0.25, 0.75, 0.875};
const char *const results_q5_names[5] = {"median", "q12_5", "q25", "q75", "q87_5"};

void results_add_quantiles(Results *r, const char *name, Samples *s) {
    results_add_quantiles_of(r, &name, &s, 1, results_q5, results_q5_names, 5);
}

static int compare_metrics(const void *a, const void *b) {
    return strcmp(((const Metric *)a)->name, ((const Metric *)b)->name);
}

/* name<TAB>%.9g per metric, sorted by name: the values (se 0), or the standard errors of
 * the metrics that have one (se 1). */
static int write_metrics(const Results *r, const char *path, int se, Error *err) {
    Metric *sorted;
    char *buf;
    size_t cap = 64, used = 0;
    int i, rc;
    sorted = xalloc_array((size_t)(r->count ? r->count : 1), sizeof *sorted, "results");
    if (r->count) memcpy(sorted, r->items, (size_t)r->count * sizeof *sorted);
    qsort(sorted, (size_t)r->count, sizeof *sorted, compare_metrics);
    for (i = 0; i < r->count; i++) cap += strlen(sorted[i].name) + 40;
    buf = xalloc_array(cap, 1, "results text");
    for (i = 0; i < r->count; i++)
        if (!se || !isnan(sorted[i].se))
            used += (size_t)snprintf(buf + used, cap - used, "%s\t%.9g\n", sorted[i].name,
                                     se ? sorted[i].se : sorted[i].value);
    rc = write_file_atomic(path, buf, used, err);
    free(buf);
    free(sorted);
    return rc;
}

int results_write_tsv(const Results *r, const char *path, Error *err) {
    return write_metrics(r, path, 0, err);
}

int results_read_tsv(const char *path, Results *r, Error *err) {
    unsigned char *data;
    size_t len;
    char *line, *next;
    int line_no = 0;
    if (read_file(path, (size_t)64 << 20, &data, &len, err) != 0) return -1;
    results_init(r);
    for (line = (char *)data; line && *line; line = next) {
        char *tab, *end;
        double v;
        next = strchr(line, '\n');
        if (next) *next++ = '\0';
        line_no++;
        if (*line == '\0' || *line == '#') continue;
        tab = strchr(line, '\t');
        if (!tab) {
            free(data);
            results_free(r);
            return error_set(err, "%s: line %d: expected NAME<TAB>VALUE", path, line_no);
        }
        *tab = '\0';
        v = strtod(tab + 1, &end);
        if (end == tab + 1 || (*end != '\0' && *end != '\r')) {
            free(data);
            results_free(r);
            return error_set(err, "%s: line %d: '%s' is not a number", path, line_no, tab + 1);
        }
        results_set(r, line, v);
    }
    free(data);
    return 0;
}

int results_write_se_tsv(const Results *r, const char *path, Error *err) {
    return write_metrics(r, path, 1, err);
}

int results_read_se_tsv(const char *path, Results *r, Error *err) {
    Results se;
    int i;
    if (results_read_tsv(path, &se, err)) return -1;
    for (i = 0; i < se.count; i++) results_set_se(r, se.items[i].name, se.items[i].value);
    results_free(&se);
    return 0;
}

/* Pearson r and the least-squares line of the points outside [skip_a, skip_b). */
static void regression_without(const double *x, const double *y, size_t n, size_t skip_a, size_t skip_b,
                               double *slope, double *intercept, double *r) {
    double sx = 0, sy = 0, sxx = 0, syy = 0, sxy = 0, mx, my, m;
    size_t i;
    for (i = 0; i < n; i++)
        if (i < skip_a || i >= skip_b) {
            sx += x[i];
            sy += y[i];
        }
    m = (double)(n - (skip_b - skip_a));
    mx = sx / m;
    my = sy / m;
    for (i = 0; i < n; i++)
        if (i < skip_a || i >= skip_b) {
            double dx = x[i] - mx, dy = y[i] - my;
            sxx += dx * dx;
            syy += dy * dy;
            sxy += dx * dy;
        }
    *slope = sxx > 0 ? sxy / sxx : NAN;
    *intercept = my - *slope * mx;
    *r = sxx > 0 && syy > 0 ? sxy / sqrt(sxx * syy) : NAN;
}

void regression_jackknife_se(const double *x, const double *y, size_t n, size_t per_row, double *se_slope,
                             double *se_intercept, double *se_r) {
    double s[3] = {0, 0, 0}, s2[3] = {0, 0, 0}, out[3];
    size_t rows = per_row ? (n + per_row - 1) / per_row : 0, k;
    int j;
    if (rows < 3) {
        if (se_slope) *se_slope = NAN;
        if (se_intercept) *se_intercept = NAN;
        if (se_r) *se_r = NAN;
        return;
    }
    for (k = 0; k < rows; k++) {
        size_t a = k * per_row, b = a + per_row < n ? a + per_row : n;
        double v[3];
        regression_without(x, y, n, a, b, &v[0], &v[1], &v[2]);
        for (j = 0; j < 3; j++) {
            s[j] += v[j];
            s2[j] += v[j] * v[j];
        }
    }
    for (j = 0; j < 3; j++) {
        double mean = s[j] / (double)rows, ss = s2[j] - (double)rows * mean * mean;
        out[j] = sqrt((double)(rows - 1) / (double)rows * (ss > 0 ? ss : 0));
    }
    if (se_slope) *se_slope = out[0];
    if (se_intercept) *se_intercept = out[1];
    if (se_r) *se_r = out[2];
}
