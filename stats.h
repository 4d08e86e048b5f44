/* stats.h - sample statistics (exact quantiles, Pearson r, least squares) and the
 * results table (results.tsv: one "name<TAB>value" line per metric, sorted, %.9g). */
#ifndef CLEANUP_STATS_H
#define CLEANUP_STATS_H

#include <stddef.h>
#include "util.h"

/* A growable list of float samples for one statistic. NaN samples are not
 * stored; they are counted in n_nan. */
typedef struct {
    float *values;
    size_t count, cap;
    size_t n_nan;
} Samples;

void samples_init(Samples *s);
void samples_add(Samples *s, float v);
void samples_free(Samples *s);
/* Quantile q in [0,1] with linear interpolation between order statistics
 * (numpy's default, "type 7"): h = (n-1) q, x[floor h] + (h - floor h)(x[floor h + 1] - x[floor h]).
 * Sorts s->values in place (cheap when already sorted). NaN when there are no samples. */
double samples_quantile(Samples *s, double q);

/* Pearson correlation of (x[i], y[i]); NaN if fewer than 2 points or zero variance. */
double pearson_r(const double *x, const double *y, size_t n);
/* Least-squares line y = slope x + intercept; NaN slope if x has zero variance. */
void least_squares(const double *x, const double *y, size_t n, double *slope, double *intercept);

typedef struct {
    char *name;
    double value;
} Metric;

typedef struct {
    Metric *items;
    int count, cap;
} Results;

void results_init(Results *r);
void results_free(Results *r);
/* Sets metric `name` (replacing an existing one of the same name). */
void results_set(Results *r, const char *name, double value);
/* 1 and the value if present, 0 otherwise. */
int results_get(const Results *r, const char *name, double *value);
/* Adds NAME.{median,q12_5,q25,q75,q87_5} for the samples (sorting them). */
void results_add_quantiles(Results *r, const char *name, Samples *s);
/* Sorted by name, "%s\t%.9g\n" each, written atomically. */
int results_write_tsv(const Results *r, const char *path, Error *err);
/* Reads a results.tsv written by results_write_tsv (or by the reference script). */
int results_read_tsv(const char *path, Results *r, Error *err);

#endif
