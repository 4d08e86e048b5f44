/* stats.h - sample statistics (exact quantiles, Pearson r, least squares) and the
 * results table (results.tsv: one "name<TAB>value" line per metric, sorted, %.9g). */
#ifndef CLEANUP_STATS_H
#define CLEANUP_STATS_H

#include <stddef.h>
#include <stdint.h>
#include "util.h"

/* A growable list of float samples for one statistic. NaN samples are not
 * stored; they are counted in n_nan. */
typedef struct {
    float *values;
    size_t count, cap;
    size_t n_nan;
} Samples;

void samples_init(Samples *s);
/* samples_init with room for n values, allocated but not written (their pages are mapped
 * as values arrive, by whichever thread adds them). Without that much memory now, the
 * list starts empty and grows as values are added. */
void samples_init_reserved(Samples *s, size_t n);
void samples_add(Samples *s, float v);
/* samples_add of v[0], ..., v[n-1], in that order. */
void samples_add_n(Samples *s, const float *v, size_t n);
void samples_free(Samples *s);
/* Quantile q in [0,1] with linear interpolation between order statistics
 * (numpy's default, "type 7"): h = (n-1) q, x[floor h] + (h - floor h)(x[floor h + 1] - x[floor h]).
 * Sorts s->values in place (cheap when already sorted). NaN when there are no samples. */
double samples_quantile(Samples *s, double q);

/* A 16-bit code of a sample, for series too long to keep as floats (the scan's node x
 * node pairs at paper scale: half the memory). Codes order like the values, and a value
 * gets the nearest code: |v| < 4 in steps of 2^-12 (error at most 2^-13 = 1.2e-4), |v| < 8
 * in steps of 2^-11 (error at most 2.4e-4), then 9 bits of mantissa per octave (relative
 * error at most 2^-10 = 9.8e-4) below 523,520; larger magnitudes and the infinities
 * become +-infinity. NaN has no code (Samples does not store it either). compact_value is
 * exact: every code's value is a float. */
uint16_t compact_code(float v);
/* dst[i] = compact_code(src[i]) for i < n. */
void compact_codes(uint16_t *dst, const float *src, size_t n);
float compact_value(uint16_t code);
/* out's samples (n_nan left as it is) := compact_value of codes[0..n): in the codes' order,
 * or with sorted_blocks each block of the standard errors (samples_quantile_se) sorted,
 * an order neither the quantiles nor their standard errors depend on: then
 * samples_quantiles_many gives the same bits as for the codes' order without sorting
 * floats (the codes are sorted instead: two passes of 8 bits, 2-byte elements). */
void samples_set_codes(Samples *out, const uint16_t *codes, size_t n, int sorted_blocks);

/* Standard errors of the quantiles qs[0..nq) of s (into se[0..nq)), by batch means: the
 * samples, in the order they were added, are cut into G contiguous blocks of equal size
 * (G = 20, fewer when there are under 40 samples), each block's quantile is computed,
 * and se = sd(block quantiles) / sqrt(G). When the samples were added row by row, each
 * block spans whole rows, so rows are the unit of sampling: positions within a row are
 * correlated, rows are not. Call it before any samples_quantile (which sorts s in place).
 * NaN when there are fewer than 4 samples. Deterministic. */
void samples_quantile_se(const Samples *s, const double *qs, int nq, double *se);
/* The quantile q of each of those blocks into out[0..G); returns G (0 with under 4
 * samples). out has room for SAMPLES_SE_GROUPS values. */
#define SAMPLES_SE_GROUPS 20
int samples_block_quantiles(const Samples *s, double q, double *out);
/* sd(v[0..n)) / sqrt(n): the standard error of the mean of n batch values; NaN for n < 2. */
double batch_means_se(const double *v, int n);

/* Delete-one-row jackknife standard errors of the least-squares slope and intercept and
 * of Pearson r of points that come in rows of per_row consecutive points (the last row
 * may be shorter). NaN when there are fewer than 3 rows. Any of the outputs may be NULL. */
void regression_jackknife_se(const double *x, const double *y, size_t n, size_t per_row, double *se_slope,
                             double *se_intercept, double *se_r);

/* Pearson correlation of (x[i], y[i]); NaN if fewer than 2 points or zero variance. */
double pearson_r(const double *x, const double *y, size_t n);
/* Least-squares line y = slope x + intercept; NaN slope if x has zero variance. */
void least_squares(const double *x, const double *y, size_t n, double *slope, double *intercept);

typedef struct {
    char *name;
    double value;
    double se; /* its standard error from the run's own rows, NaN when not estimated */
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
/* Sets the standard error of metric `name` (which must exist; otherwise nothing). */
void results_set_se(Results *r, const char *name, double se);
/* The standard error of `name`, NaN when absent or not estimated. */
double results_get_se(const Results *r, const char *name);
/* Adds NAME.{median,q12_5,q25,q75,q87_5} for the samples with their standard errors
 * (samples_quantile_se; sorting the samples). */
void results_add_quantiles(Results *r, const char *name, Samples *s);
/* The five quantiles of results_add_quantiles and their suffixes, in its order. */
extern const double results_q5[5];
extern const char *const results_q5_names[5];
/* Quantiles qs[0..nq) of each of n series into value[i * nq + k] with their standard
 * errors (samples_quantile_se) into se[i * nq + k]: the values samples_quantile and
 * samples_quantile_se give, bit for bit, but each series is left sorted block by block
 * (the standard error's blocks; the whole series' order statistics are found in them),
 * not sorted whole. In parallel over the series: each is one thread's, so the values do
 * not depend on the thread count. */
void samples_quantiles_many(Samples *const *s, int n, const double *qs, int nq, double *value, double *se);
/* Adds NAMES[i].SUFFIXES[k] = quantile qs[k] of s[i], with its standard error, for n
 * series (samples_quantiles_many); results_add_quantiles is the case of one series and
 * results_q5. */
void results_add_quantiles_of(Results *r, const char *const *names, Samples *const *s, int n, const double *qs,
                              const char *const *suffixes, int nq);
/* uncertainty.tsv: "NAME<TAB>SE" for every metric with an estimated standard error,
 * sorted by name, %.9g, written atomically. */
int results_write_se_tsv(const Results *r, const char *path, Error *err);
/* Reads such a file into r's metrics (names r lacks are ignored). */
int results_read_se_tsv(const char *path, Results *r, Error *err);
/* Sorted by name, "%s\t%.9g\n" each, written atomically. */
int results_write_tsv(const Results *r, const char *path, Error *err);
/* Reads a results.tsv written by results_write_tsv (or by the reference script). */
int results_read_tsv(const char *path, Results *r, Error *err);

#endif
