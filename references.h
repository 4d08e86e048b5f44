/* references.h - reference values a run is checked against: the paper's
 * (docs/PROTOCOL.md section 7 with its suggested tolerances) and the planted model's
 * expectations (what synth.c plants), side by side as data. */
#ifndef CLEANUP_REFERENCES_H
#define CLEANUP_REFERENCES_H

#include <stddef.h>

#include "stats.h"
#include "util.h"

/* One expectation: |value(metric) - expected| <= tolerance.
 * A sampling-aware check (precision > 0) is a statistic of the rows, and the run's rows
 * differ from the reference's: when the run estimated the metric's standard error SE,
 * its tolerance is max(precision, K x sqrt(2) x SE) (K = sigmas, by default REF_SIGMAS) (the sqrt(2): the reference
 * is a sample of the same size too), and the fixed tolerance is used only without an SE. */
typedef struct {
    const char *metric;    /* results.tsv name */
    double expected;
    double tolerance;      /* fixed tolerance (without an SE, or when precision is 0) */
    const char *source;    /* "paper Fig 2", "planted: L0H2 writes ...", ... */
    double precision;      /* > 0: sampling-aware, the reference's own precision (its rounding,
                              or how well it was read off a figure) */
    double sigmas;         /* standard errors a sampling-aware tolerance spans; 0: REF_SIGMAS */
} RefCheck;

/* Standard errors a sampling-aware tolerance spans. With SE from 20 batches (a t
 * distribution with 19 degrees of freedom) a faithful run fails one check with
 * probability about 1e-4 (8e-5), so all 88 paper checks together about 0.7% of the time
 * (tests/test_verdicts.sh measures it on the planted model with disjoint rows). */
#define REF_SIGMAS 5.0
/* The scan's 972 published values are checked all at once: at 5 SE they would fail a
 * faithful run 972 x 8e-5 = 7.7% of the time. At 6 SE a check fails with probability
 * 9e-6 (t, 19 degrees of freedom), all 972 together at most 0.9%. */
#define REF_SIGMAS_SCAN 6.0

/* The tolerance check c has for a value whose standard error is se (NaN: unknown):
 * max(precision, K x sqrt(2) x se) with K = c->sigmas (REF_SIGMAS when 0) for a
 * sampling-aware check with a known se, else c->tolerance. */
double refcheck_tolerance(const RefCheck *c, double se);

/* The paper's reference values, for gelu-4l as the authors loaded it (processed). */
const RefCheck *paper_checks_table(size_t *count);
/* The planted model's expected outcomes (seed 0, 300 rows; wide enough for other
 * seeds and row counts). */
const RefCheck *planted_checks_table(size_t *count);

/* Outcome of one check. */
#define REFCHECK_PASS 0
#define REFCHECK_FAIL 1     /* present but outside the tolerance, or NaN */
#define REFCHECK_MISSING 2  /* the metric is not in the results */
#define REFCHECK_NOT_COMPARABLE 3 /* the run's configuration differs from the reference's */
/* Evaluates |value(metric) - expected| <= refcheck_tolerance(c, its SE in r) (with a
 * relative slack of 1e-9 so that decimal boundaries such as 0.9904 vs 0.9604 +- 0.03
 * pass). Stores the value (NaN when missing) and returns one of REFCHECK_*. */
int refcheck_eval(const RefCheck *c, const Results *r, double *value);

/* The configuration a set of reference values was measured under, and a run's
 * configuration in the same terms. In a reference, NULL strings, 0 rows/seq_len and
 * processed -1 leave that key unconstrained. */
typedef struct {
    const char *model;    /* "gelu-4l", "cleanup-planted", or a config's model_name */
    const char *writer;   /* "L0H2" */
    const char *cleaners; /* "L2H2,L2H3,L2H4,L2H5,L2H6,L2H7" */
    const char *prompts;  /* "paper", or the --prompts file's SHA-256 */
    int rows;             /* reference: the fewest rows it applies to; run: its rows */
    int seq_len;          /* positions per row */
    int processed;        /* 1 TransformerLens processing, 0 raw weights */
} RefConfig;

/* What each experiment's metrics depend on (Experiment.depends_on). */
enum {
    REF_MODEL = 1,
    REF_WRITER = 2,
    REF_CLEANERS = 4,
    REF_PROMPTS = 8,
    REF_ROWS = 16,
    REF_SEQ_LEN = 32,
    REF_PROCESSED = 64
};

/* A named set of reference values and the configuration they hold for. */
typedef struct {
    const char *name;     /* "the paper's reference values", a file's path, ... */
    const RefCheck *checks;
    size_t n;
    RefConfig config;
    void *owned;          /* storage of a set read from a file (refset_free) */
} RefSet;

/* The built-in sets (static storage). */
const RefSet *paper_reference(void);
const RefSet *planted_reference(void);

/* Reads a reference file: UTF-8 text, '#' comments and blank lines ignored;
 *   @KEY<TAB>VALUE             the configuration (model, writer, cleaners, prompts, rows,
 *                              seq_len, processing = transformerlens|none)
 *   NAME<TAB>VALUE<TAB>TOLERANCE[<TAB>SOURCE]
 * Names are unique, values and tolerances finite numbers, tolerances >= 0. Errors name
 * the file and line. Free with refset_free. */
int refset_read(const char *path, RefSet *set, Error *err);
void refset_free(RefSet *set);

/* NULL if check c of set applies to a run configured as run, else why not, e.g.
 * "--cleaners is L2H2,L2H3, the reference's L2H2,L2H3,L2H4,L2H5,L2H6,L2H7" (in buf).
 * depends_on: the REF_* keys the check's metric depends on. */
const char *refcheck_not_comparable(const RefSet *set, unsigned depends_on, const RefConfig *run, char *buf,
                                    size_t size);

/* The outcome of every check of a set on one run. */
typedef struct {
    int outcome;      /* REFCHECK_* */
    double value;     /* NaN when missing */
    double se;        /* the run's standard error of the value, NaN when not estimated */
    double tolerance; /* the tolerance applied */
    char why[200];    /* REFCHECK_NOT_COMPARABLE: the reason */
} CheckOutcome;

typedef struct {
    const RefSet *set;    /* NULL: no reference values apply to this run */
    CheckOutcome *items;  /* [set->n] */
    int n_pass, n_fail, n_missing, n_not_comparable;
} Verdict;

/* Evaluates every check of set (may be NULL) on r for a run configured as run; a
 * check's dependencies are those of the experiment its metric belongs to
 * (experiment_depends_on). Free with verdict_free. */
void verdict_evaluate(const RefSet *set, const RefConfig *run, const Results *r, Verdict *v);
void verdict_free(Verdict *v);
/* 1 if a comparable check failed or is missing: the run did not reproduce its reference. */
int verdict_failed(const Verdict *v);

/* One metric compared by compare_results. */
typedef struct {
    const char *name;
    double a, b;       /* A's value, B's (reference) value */
    double excess;     /* |a - b| / tolerance: > 1 means outside */
    int outcome;       /* REFCHECK_PASS, _FAIL or _MISSING (not in A) */
} Comparison;

typedef struct {
    Comparison *items; /* every metric checked, in B's order */
    size_t n;
    int n_pass, n_fail, n_missing;
} CompareReport;

/* Compares run a with b. When b_set is not NULL (a reference file) its checks are used,
 * each with its own tolerance; otherwise every metric of b with tolerance
 * atol + rtol * |b|, widened to sigmas * sqrt(se_a^2 + se_b^2) when sigmas > 0 and the
 * runs' standard errors are known (results_get_se; an unknown one counts as 0). A metric
 * of b that a lacks is missing; with subset 0, a metric of a that b lacks is an error
 * (the sets differ: err names it). NaN equals NaN. */
int compare_results(const Results *a, const Results *b, const RefSet *b_set, double rtol, double atol, double sigmas,
                    int subset, CompareReport *out, Error *err);
void compare_report_free(CompareReport *r);

#endif
