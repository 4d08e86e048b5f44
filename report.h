/* report.h - everything `cleanup all` writes besides results.tsv's numbers:
 * gnuplot .dat/.gp per figure, SVG figures drawn here, report.md with the
 * paper's reference values and PASS/FAIL, SHA256SUMS, and `cleanup verify`.
 * All outputs are written atomically (temporary file + rename). */
#ifndef CLEANUP_REPORT_H
#define CLEANUP_REPORT_H

#include <stddef.h>
#include "stats.h"
#include "util.h"

/* One expectation checked in report.md: |value(metric) - expected| <= tolerance. */
typedef struct {
    const char *metric;    /* results.tsv name */
    double expected;
    double tolerance;
    const char *source;    /* "paper Fig 2", "planted: L0H2 writes ...", ... */
} RefCheck;

/* What the report needs to know about a run. Strings may be NULL when unknown. */
typedef struct {
    const Results *results;
    /* Fig 5 scatter points: writer DLA (x) against V-composition DLA (y). */
    const double *fig5_x, *fig5_y;
    size_t fig5_n;
    /* model identity */
    const char *model_dir, *config_path, *weights_path, *model_name;
    const char *weights_sha256; /* hex SHA-256 of the weights file when already known, else NULL */
    int n_layers, n_heads, d_model, d_head, d_mlp, n_ctx, d_vocab;
    const char *act_fn;
    int processed;          /* 1: TransformerLens processing applied */
    int is_gelu_4l;         /* config identifies NeelNanda/GELU_4L512W_C4_Code: check the paper's values */
    int is_planted;         /* the bundled planted model: check its own expectations */
    const RefCheck *checks; /* the expectations to check (paper's or planted's), may be NULL */
    size_t n_checks;
    /* data identity */
    const char *data_path;
    int n_rows, seq_len;
    /* experiment configuration */
    int writer_layer, writer_head, patched_layer;
    int n_cleaners;
    const int *cleaner_heads;  /* heads of the patched layer */
    /* run */
    int threads;
    double seconds;
} ReportInput;

/* Writes results.tsv, the figure files, report.md and SHA256SUMS into out_dir
 * (created if needed). SHA256SUMS is written last; every file atomically.
 * An old SHA256SUMS is removed first, so an interrupted run leaves a directory
 * that `verify` rejects; figure files of an earlier run that this run does not
 * produce (e.g. fig4 when its metrics are absent) are removed.
 * Checks: in->checks are evaluated whatever the model; when in->is_gelu_4l and
 * in->checks is NULL, the paper's checks (report_paper_checks) are used; with
 * no checks every number is reported as "no reference". */
int report_write_all(const char *out_dir, const ReportInput *in, Error *err);

/* Outcome of one check (added after the first interface; compatible). */
#define REFCHECK_PASS 0
#define REFCHECK_FAIL 1     /* present but outside the tolerance, or NaN */
#define REFCHECK_MISSING 2  /* the metric is not in the results */
/* Evaluates |value(metric) - expected| <= tolerance (with a relative slack of
 * 1e-9 so that decimal boundaries such as 0.9904 vs 0.9604 +- 0.03 pass).
 * Stores the value (NaN when missing) and returns one of REFCHECK_*. */
int refcheck_eval(const RefCheck *c, const Results *r, double *value);

/* Every file name report_write_all can write (NULL-terminated), SHA256SUMS last.
 * `verify` flags these names when present in DIR but not listed in SHA256SUMS. */
extern const char *const report_output_names[];

/* The paper's reference values (PROTOCOL section 7) as checks, for gelu-4l. */
const RefCheck *report_paper_checks(size_t *count);

/* CLI: `cleanup verify [--quiet] [DIR]` (default out/): re-checks DIR/SHA256SUMS;
 * EXIT_VERIFY on any mismatch, missing file, missing or malformed SHA256SUMS,
 * and on files named like outputs (report_output_names) or their leftover
 * temporaries that SHA256SUMS does not list. Other files (e.g. gnuplot's PNGs)
 * are ignored. One message per problem on stderr; the OK line (stdout) is
 * suppressed by --quiet. */
int cmd_verify(int argc, char **argv);

/* Progress on stderr for long steps: a bar when stderr is a terminal, plain lines otherwise. */
void progress_begin(const char *what, long total);
void progress_update(long done);
void progress_end(void);

#endif
