/* stats.c - see stats.h. */
#include "stats.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void samples_init(Samples *s) {
    memset(s, 0, sizeof *s);
}

void samples_add(Samples *s, float v) {
    if (isnan(v)) {
        s->n_nan++;
        return;
    }
    if (s->count == s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 1024;
        float *nv = realloc(s->values, ncap * sizeof *nv);
        if (!nv) die(EXIT_INTERNAL, "out of memory collecting samples");
        s->values = nv;
        s->cap = ncap;
    }
    s->values[s->count++] = v;
}

void samples_free(Samples *s) {
    free(s->values);
    memset(s, 0, sizeof *s);
}

static int compare_floats(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static int is_sorted(const float *v, size_t n) {
    size_t i;
    for (i = 1; i < n; i++)
        if (v[i - 1] > v[i]) return 0;
    return 1;
}

double samples_quantile(Samples *s, double q) {
    double h, lo_value, hi_value;
    size_t lo;
    if (s->count == 0) return NAN;
    if (!is_sorted(s->values, s->count)) qsort(s->values, s->count, sizeof *s->values, compare_floats);
    h = (double)(s->count - 1) * q;
    lo = (size_t)floor(h);
    if (lo >= s->count - 1) return s->values[s->count - 1];
    lo_value = s->values[lo];
    hi_value = s->values[lo + 1];
    return lo_value + (h - (double)lo) * (hi_value - lo_value);
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
    r->count++;
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

void results_add_quantiles(Results *r, const char *name, Samples *s) {
    static const struct {
        const char *suffix;
        double q;
    } stats[] = {{"median", 0.5}, {"q12_5", 0.125}, {"q25", 0.25}, {"q75", 0.75}, {"q87_5", 0.875}};
    char key[256];
    size_t i;
    for (i = 0; i < sizeof stats / sizeof stats[0]; i++) {
        snprintf(key, sizeof key, "%s.%s", name, stats[i].suffix);
        results_set(r, key, samples_quantile(s, stats[i].q));
    }
}

static int compare_metrics(const void *a, const void *b) {
    return strcmp(((const Metric *)a)->name, ((const Metric *)b)->name);
}

int results_write_tsv(const Results *r, const char *path, Error *err) {
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
        used += (size_t)snprintf(buf + used, cap - used, "%s\t%.9g\n", sorted[i].name, sorted[i].value);
    rc = write_file_atomic(path, buf, used, err);
    free(buf);
    free(sorted);
    return rc;
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
