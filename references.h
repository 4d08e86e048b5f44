/* references.h - reference values a run is checked against: the paper's
 * (docs/PROTOCOL.md section 7 with its suggested tolerances) and the planted model's
 * expectations (what synth.c plants), side by side as data. */
#ifndef CLEANUP_REFERENCES_H
#define CLEANUP_REFERENCES_H

#include <stddef.h>

#include "stats.h"

/* One expectation: |value(metric) - expected| <= tolerance. */
typedef struct {
    const char *metric;    /* results.tsv name */
    double expected;
    double tolerance;
    const char *source;    /* "paper Fig 2", "planted: L0H2 writes ...", ... */
} RefCheck;

/* The paper's reference values, for gelu-4l as the authors loaded it (processed). */
const RefCheck *paper_checks_table(size_t *count);
/* The planted model's expected outcomes (seed 0, 300 rows; wide enough for other
 * seeds and row counts). */
const RefCheck *planted_checks_table(size_t *count);

/* Outcome of one check. */
#define REFCHECK_PASS 0
#define REFCHECK_FAIL 1     /* present but outside the tolerance, or NaN */
#define REFCHECK_MISSING 2  /* the metric is not in the results */
/* Evaluates |value(metric) - expected| <= tolerance (with a relative slack of
 * 1e-9 so that decimal boundaries such as 0.9904 vs 0.9604 +- 0.03 pass).
 * Stores the value (NaN when missing) and returns one of REFCHECK_*. */
int refcheck_eval(const RefCheck *c, const Results *r, double *value);

#endif
