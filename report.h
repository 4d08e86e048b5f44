/* report.h - what `cleanup all` writes besides results.tsv's numbers: each
 * experiment unit's figure files (gnuplot .dat/.gp, SVG drawn by plot.c),
 * report.md with the reference values and PASS/FAIL, SHA256SUMS and run.txt.
 * All outputs are written atomically (temporary file + rename).
 */
#ifndef CLEANUP_REPORT_H
#define CLEANUP_REPORT_H

#include <stddef.h>

#include "plot.h"
#include "references.h"
#include "stats.h"
#include "util.h"

/* One of Fig 4's prompts as it was run. */
typedef struct {
    const char *prompt, *correct, *incorrect; /* UTF-8 */
    int n_tokens;                             /* with BOS */
    int correct_id, incorrect_id;
    int other_layer, other_head;
} PromptRecord;

/* What the report needs to know about a run. Strings may be NULL when unknown. */
typedef struct {
    const Results *results;
    /* Fig 5 scatter points: writer DLA (x) against V-composition DLA (y). */
    const double *fig5_x, *fig5_y;
    size_t fig5_n;
    /* model identity */
    const char *model_dir, *config_path, *weights_path, *model_name;
    const char *model_source; /* NULL: files on disk; else how the model was made (the planted model
                                 built in memory): report.md and run.txt say so */
    const char *weights_sha256; /* hex SHA-256 of the weights file when already known, else NULL */
    int n_layers, n_heads, d_model, d_head, d_mlp, n_ctx, d_vocab;
    int attn_only;          /* no MLPs: no resid_mid locations */
    const char *act_fn;
    int processed;          /* 1: TransformerLens processing applied */
    int is_gelu_4l;         /* config identifies NeelNanda/GELU_4L512W_C4_Code: check the paper's values */
    int is_planted;         /* the bundled planted model: check its own expectations */
    /* identity from the weights (identity.h): set when the config has gelu-4l's shape */
    int gelu4l_shape;
    int fingerprints_matched, fingerprints_total; /* of gelu-4l's fingerprints; total 0: not measured */
    const RefCheck *checks; /* the expectations to check (paper's or planted's), may be NULL */
    size_t n_checks;
    const Verdict *verdict; /* the checks' outcomes on this run; NULL: every check of checks applies */
    const char *no_checks_reason; /* why no reference applies, for report.md (NULL: a default) */
    int not_reproduced;     /* no check applies, yet the run fails (gelu-4l's shape without its weights) */
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
    /* memory, for run.txt (0 / NULL: not known) */
    size_t memory_budget;           /* bytes */
    const char *memory_budget_from; /* "--max-memory", "CLEANUP_MAX_MEMORY" or "default" */
    int batch_rows;                 /* rows per clean-pass batch */
    int passes;                     /* passes over the rows (the scan split to fit the budget) */
    size_t peak_rss;                /* bytes, when the report is written */
    unsigned units;            /* EXP_* bits of the experiments run (0: all) */
    /* provenance (each may be NULL / 0) */
    const char *command_line;          /* for report.md: as typed without --out, --threads, --max-memory, which change
                                          no number (so report.md is the same whatever they are) */
    const char *command_line_full;     /* for run.txt: as typed */
    const char *const *settings;       /* every option's effective value, "--name value" */
    int n_settings;
    const char *const *data_files;     /* each rows file, hashed separately (else data_path) */
    int n_data_files;
    const char *tokenizer_path;        /* hashed */
    const char *prompts_path;          /* --prompts FILE, hashed */
    const PromptRecord *prompts;       /* Fig 4's prompts as run */
    int n_prompts;
} ReportInput;

/* What the units' figure writers and report sections see (built by report_write_all). */
typedef struct ReportContext {
    const ReportInput *in;
    const Results *r;
    int L, H, n_locs;          /* layers, heads per layer, residual locations */
    int wl, wh, pl;            /* writer layer and head, patched layer */
    char writer[24];           /* "L0H2" */
    char cleaners[256];        /* "L2H2, L2H3, ..." or "none" */
    char (*locs)[LABEL_LEN];   /* residual location names, n_locs of them */
} ReportContext;

/* 1 if head h of layer l is one of the cleaners. */
int report_is_cleaner(const ReportContext *c, int l, int h);

/* A unit's section of report.md (opaque; see report.c). */
typedef struct ReportSection ReportSection;
/* Adds a metric to the section's table (shown when present or checked). */
void section_headline(ReportSection *s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Writes the section: heading, intro (or "Not run" when the unit has no metrics),
 * its files, then a table of the headlines and of every check of the unit. */
void section_write(ReportSection *s, const char *intro);
/* The checks this run is held to (every unit's, in the reference set's order) and their
 * outcomes: sets *checks and *outcomes, returns their number (0: none apply). */
size_t section_checks(const ReportSection *s, const RefCheck **checks, const CheckOutcome **outcomes);
/* Appends raw markdown after the table. */
void section_note(ReportSection *s, const char *text);
/* 1 if one of the unit's figures was written in this run. */
int section_has_figures(const ReportSection *s);

/* Writes results.tsv, every unit's figure files, report.md and SHA256SUMS into
 * out_dir (created if needed), and run.txt. SHA256SUMS is written last; every
 * file atomically. An old SHA256SUMS is removed first, so an interrupted run
 * leaves a directory that `verify` rejects; figure files of an earlier run that
 * this run does not produce (e.g. fig4 when its metrics are absent) are removed.
 * Checks: in->checks are evaluated whatever the model; when in->is_gelu_4l and
 * in->checks is NULL, the paper's checks are used; with no checks every number is
 * reported as "no reference". */
int report_write_all(const char *out_dir, const ReportInput *in, Error *err);

/* Every file name report_write_all can write (results.tsv, uncertainty.tsv, report.md,
 * each unit's outputs, SHA256SUMS last), in that order; *count gets the number. */
const char *const *report_output_names(int *count);

#endif
