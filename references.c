/* references.c - see references.h. The two reference tables are data: what
 * the paper reports (docs/PROTOCOL.md section 7, EXPERIMENTS.md) and what the planted
 * model was built to show (synth.c's design notes). */
#include "references.h"

#include "experiments.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* The paper                                                                 */
/* ------------------------------------------------------------------------ */

#define SRC_F1 "paper Fig 1 (authors' saved plot data)"
#define SRC_F2 "paper Fig 2 (read from the figure, +-0.005)"
#define SRC_F2S "paper section 3.1 / Fig 2 (median of the cleaners' summed PR)"
#define SRC_F3 "paper Fig 3 (read from the figure, +-0.005)"
#define SRC_F4L "paper Fig 4 (clean logit difference)"
#define SRC_F4C "paper Fig 4 (clean DLA)"
#define SRC_F4P "paper Fig 4 (resample-patched DLA; row-dependent)"
#define SRC_F5 "authors' script (Fig 5 regression)"
#define SRC_32 "paper section 3.2"
#define SRC_SCAN "paper section 2.2 scan (appendix figure data)"

/* docs/PROTOCOL.md section 7 with the suggested tolerances: PR medians and quantiles
 * +-0.03 (also the figure-read Fig 2 medians), single-prompt deterministic
 * values +-0.01, patched values +-0.05, slope, intercept and r +-0.05. */
static const RefCheck paper_checks[] = {
    {"fig1.L0H2.resid_pre0.median", 0.0119, 0.03, SRC_F1, 0.00005, 0},
    {"fig1.L0H2.resid_mid0.median", 0.9604, 0.03, SRC_F1, 0.00005, 0},
    {"fig1.L0H2.resid_post0.median", 1.0448, 0.03, SRC_F1, 0.00005, 0},
    {"fig1.L0H2.resid_mid1.median", 1.0108, 0.03, SRC_F1, 0.00005, 0},
    {"fig1.L0H2.resid_post1.median", 1.0195, 0.03, SRC_F1, 0.00005, 0},
    {"fig1.L0H2.resid_mid2.median", 0.1027, 0.03, SRC_F1, 0.00005, 0},
    {"fig1.L0H2.resid_post2.median", 0.0929, 0.03, SRC_F1, 0.00005, 0},
    {"fig1.L0H2.resid_mid3.median", 0.0489, 0.03, SRC_F1, 0.00005, 0},
    {"fig1.L0H2.resid_post3.median", 0.0548, 0.03, SRC_F1, 0.00005, 0},
    {"fig1.L0H2.resid_pre0.q25", -0.0052, 0.03, SRC_F1, 0.00005, 0},
    {"fig1.L0H2.resid_mid0.q25", 0.8632, 0.03, SRC_F1, 0.00005, 0},
    {"fig1.L0H2.resid_post0.q25", 0.9587, 0.03, SRC_F1, 0.00005, 0},
    {"fig1.L0H2.resid_mid1.q25", 0.9305, 0.03, SRC_F1, 0.00005, 0},
    {"fig1.L0H2.resid_post1.q25", 0.9382, 0.03, SRC_F1, 0.00005, 0},
    {"fig1.L0H2.resid_mid2.q25", -0.1220, 0.03, SRC_F1, 0.00005, 0},
    {"fig1.L0H2.resid_post2.q25", -0.0531, 0.03, SRC_F1, 0.00005, 0},
    {"fig1.L0H2.resid_mid3.q25", -0.1646, 0.03, SRC_F1, 0.00005, 0},
    {"fig1.L0H2.resid_post3.q25", -0.1771, 0.03, SRC_F1, 0.00005, 0},
    {"fig1.L0H2.resid_pre0.q75", 0.0380, 0.03, SRC_F1, 0.00005, 0},
    {"fig1.L0H2.resid_mid0.q75", 1.0960, 0.03, SRC_F1, 0.00005, 0},
    {"fig1.L0H2.resid_post0.q75", 1.1546, 0.03, SRC_F1, 0.00005, 0},
    {"fig1.L0H2.resid_mid1.q75", 1.1243, 0.03, SRC_F1, 0.00005, 0},
    {"fig1.L0H2.resid_post1.q75", 1.1243, 0.03, SRC_F1, 0.00005, 0},
    {"fig1.L0H2.resid_mid2.q75", 0.3073, 0.03, SRC_F1, 0.00005, 0},
    {"fig1.L0H2.resid_post2.q75", 0.2426, 0.03, SRC_F1, 0.00005, 0},
    {"fig1.L0H2.resid_mid3.q75", 0.2696, 0.03, SRC_F1, 0.00005, 0},
    {"fig1.L0H2.resid_post3.q75", 0.2792, 0.03, SRC_F1, 0.00005, 0},
    {"fig2.L2H0.median", 0.000, 0.03, SRC_F2, 0.005, 0},
    {"fig2.L2H1.median", -0.009, 0.03, SRC_F2, 0.005, 0},
    {"fig2.L2H2.median", -0.143, 0.03, SRC_F2, 0.005, 0},
    {"fig2.L2H3.median", -0.035, 0.03, SRC_F2, 0.005, 0},
    {"fig2.L2H4.median", -0.117, 0.03, SRC_F2, 0.005, 0},
    {"fig2.L2H5.median", -0.264, 0.03, SRC_F2, 0.005, 0},
    {"fig2.L2H6.median", -0.177, 0.03, SRC_F2, 0.005, 0},
    {"fig2.L2H7.median", -0.140, 0.03, SRC_F2, 0.005, 0},
    {"fig2.cleaners_sum.median", -0.903, 0.03, SRC_F2S, 0.0005, 0},
    {"fig3.patched.resid_mid2.median", 0.883, 0.05, SRC_F3, 0.005, 0},
    {"fig3.patched.resid_post2.median", 0.646, 0.05, SRC_F3, 0.005, 0},
    {"fig3.patched.resid_mid3.median", 0.573, 0.05, SRC_F3, 0.005, 0},
    {"fig3.patched.resid_post3.median", 0.484, 0.05, SRC_F3, 0.005, 0},
    {"fig3.patched.L2H0.median", 0.001, 0.05, SRC_F3, 0.005, 0},
    {"fig3.patched.L2H1.median", 0.003, 0.05, SRC_F3, 0.005, 0},
    {"fig3.patched.L2H2.median", -0.019, 0.05, SRC_F3, 0.005, 0},
    {"fig3.patched.L2H3.median", -0.009, 0.05, SRC_F3, 0.005, 0},
    {"fig3.patched.L2H4.median", -0.001, 0.05, SRC_F3, 0.005, 0},
    {"fig3.patched.L2H5.median", -0.033, 0.05, SRC_F3, 0.005, 0},
    {"fig3.patched.L2H6.median", -0.028, 0.05, SRC_F3, 0.005, 0},
    {"fig3.patched.L2H7.median", -0.010, 0.05, SRC_F3, 0.005, 0},
    {"fig4.p1.logit_diff", 1.07, 0.01, SRC_F4L, 0, 0},
    {"fig4.p2.logit_diff", 1.89, 0.01, SRC_F4L, 0, 0},
    {"fig4.p3.logit_diff", 3.02, 0.01, SRC_F4L, 0, 0},
    {"fig4.p4.logit_diff", 0.94, 0.01, SRC_F4L, 0, 0},
    {"fig4.p1.L0H2.clean", 0.595, 0.01, SRC_F4C, 0, 0},
    {"fig4.p1.L0H2.patched.median", 0.598, 0.05, SRC_F4P, 0.0005, 0},
    {"fig4.p1.L0H2.patched.q12_5", 0.583, 0.05, SRC_F4P, 0.0005, 0},
    {"fig4.p1.L0H2.patched.q87_5", 0.637, 0.05, SRC_F4P, 0.0005, 0},
    {"fig4.p1.L3H1.clean", 1.134, 0.01, SRC_F4C, 0, 0},
    {"fig4.p1.L3H1.patched.median", 0.084, 0.05, SRC_F4P, 0.0005, 0},
    {"fig4.p1.L3H1.patched.q12_5", 0.066, 0.05, SRC_F4P, 0.0005, 0},
    {"fig4.p1.L3H1.patched.q87_5", 0.137, 0.05, SRC_F4P, 0.0005, 0},
    {"fig4.p2.L0H2.clean", 0.837, 0.01, SRC_F4C, 0, 0},
    {"fig4.p2.L0H2.patched.median", 0.814, 0.05, SRC_F4P, 0.0005, 0},
    {"fig4.p2.L0H2.patched.q12_5", 0.811, 0.05, SRC_F4P, 0.0005, 0},
    {"fig4.p2.L0H2.patched.q87_5", 0.834, 0.05, SRC_F4P, 0.0005, 0},
    {"fig4.p2.L2H1.clean", 0.841, 0.01, SRC_F4C, 0, 0},
    {"fig4.p2.L2H1.patched.median", 0.033, 0.05, SRC_F4P, 0.0005, 0},
    {"fig4.p2.L2H1.patched.q12_5", -0.151, 0.05, SRC_F4P, 0.0005, 0},
    {"fig4.p2.L2H1.patched.q87_5", 0.261, 0.05, SRC_F4P, 0.0005, 0},
    {"fig4.p3.L0H2.clean", 0.949, 0.01, SRC_F4C, 0, 0},
    {"fig4.p3.L0H2.patched.median", 0.973, 0.05, SRC_F4P, 0.0005, 0},
    {"fig4.p3.L0H2.patched.q12_5", 0.965, 0.05, SRC_F4P, 0.0005, 0},
    {"fig4.p3.L0H2.patched.q87_5", 0.996, 0.05, SRC_F4P, 0.0005, 0},
    {"fig4.p3.L3H5.clean", 2.289, 0.01, SRC_F4C, 0, 0},
    {"fig4.p3.L3H5.patched.median", 0.708, 0.05, SRC_F4P, 0.0005, 0},
    {"fig4.p3.L3H5.patched.q12_5", 0.166, 0.05, SRC_F4P, 0.0005, 0},
    {"fig4.p3.L3H5.patched.q87_5", 1.548, 0.05, SRC_F4P, 0.0005, 0},
    {"fig4.p4.L0H2.clean", 0.246, 0.01, SRC_F4C, 0, 0},
    {"fig4.p4.L0H2.patched.median", 0.247, 0.05, SRC_F4P, 0.0005, 0},
    {"fig4.p4.L0H2.patched.q12_5", 0.245, 0.05, SRC_F4P, 0.0005, 0},
    {"fig4.p4.L0H2.patched.q87_5", 0.253, 0.05, SRC_F4P, 0.0005, 0},
    {"fig4.p4.L2H2.clean", 0.524, 0.01, SRC_F4C, 0, 0},
    {"fig4.p4.L2H2.patched.median", 0.165, 0.05, SRC_F4P, 0.0005, 0},
    {"fig4.p4.L2H2.patched.q12_5", -0.061, 0.05, SRC_F4P, 0.0005, 0},
    {"fig4.p4.L2H2.patched.q87_5", 0.473, 0.05, SRC_F4P, 0.0005, 0},
    {"fig5.slope", -0.723, 0.05, SRC_F5, 0.0005, 0},
    {"fig5.intercept", 0.052, 0.05, SRC_F5, 0.0005, 0},
    {"sec32.r_cleaners", -0.159, 0.05, SRC_32, 0.0005, 0},
    {"sec32.r_vcomp", -0.716, 0.05, SRC_32, 0.0005, 0},
#include "references_scan.h"
};

const RefCheck *paper_checks_table(size_t *count) {
    if (count) *count = sizeof paper_checks / sizeof paper_checks[0];
    return paper_checks;
}

/* ------------------------------------------------------------------------ */
/* The planted model                                                         */
/* ------------------------------------------------------------------------ */

/* What the plant guarantees for the bundled model (seed 0, 300 rows), with
 * tolerances wide enough for other seeds and row counts (checked on seeds
 * 0-3 with tools/check_planted.py). The expected values follow from the design
 * constants above; the random parts only add spread. */
static const RefCheck planted_checks[] = {
    {"fig1.L0H2.resid_pre0.median", 0.0, 0.05, "planted: embeddings carry only a trace of L0H2's direction u", 0, 0},
    {"fig1.L0H2.resid_mid0.median", 1.0, 0.1, "planted: L0H2 writes u, nothing else in layer 0 does", 0, 0},
    {"fig1.L0H2.resid_post0.median", 1.0, 0.12, "planted: MLP0 does not write u", 0, 0},
    {"fig1.L0H2.resid_mid1.median", 1.0, 0.12, "planted: layer 1 does not write u", 0, 0},
    {"fig1.L0H2.resid_post1.median", 1.0, 0.12, "planted: layer 1 does not write u", 0, 0},
    {"fig1.L0H2.resid_mid2.median", 0.05, 0.15, "planted: L2H2..L2H7 erase 90% of u", 0, 0},
    {"fig1.L0H2.resid_post3.median", 0.05, 0.25, "planted: nothing after layer 2 writes u", 0, 0},
    {"fig2.cleaners_sum.median", -0.9, 0.15, "planted: L2H2..L2H7 together write -0.9 x L0H2's output", 0, 0},
    {"fig2.L2H2.median", -0.9 * 0.15 / 0.92, 0.08, "planted: cleaner share 0.15", 0, 0},
    {"fig2.L2H3.median", -0.9 * 0.07 / 0.92, 0.08, "planted: cleaner share 0.07", 0, 0},
    {"fig2.L2H4.median", -0.9 * 0.12 / 0.92, 0.08, "planted: cleaner share 0.12", 0, 0},
    {"fig2.L2H5.median", -0.9 * 0.26 / 0.92, 0.08, "planted: cleaner share 0.26", 0, 0},
    {"fig2.L2H6.median", -0.9 * 0.18 / 0.92, 0.08, "planted: cleaner share 0.18", 0, 0},
    {"fig2.L2H7.median", -0.9 * 0.14 / 0.92, 0.08, "planted: cleaner share 0.14", 0, 0},
    {"fig2.L2H0.median", 0.0, 0.08, "planted: not a cleaner", 0, 0},
    {"fig2.L2H1.median", 0.0, 0.08, "planted: not a cleaner", 0, 0},
    {"fig2.MLP0.median", 0.0, 0.08, "planted: MLPs do not write u", 0, 0},
    {"fig2.MLP1.median", 0.0, 0.08, "planted: MLPs do not write u", 0, 0},
    {"fig2.MLP2.median", 0.0, 0.08, "planted: MLPs do not write u", 0, 0},
    {"fig2.MLP3.median", 0.0, 0.08, "planted: MLPs do not write u", 0, 0},
    {"fig3.clean.resid_mid2.median", 0.05, 0.15, "planted: as fig1 (clean run)", 0, 0},
    {"fig3.patched.resid_mid2.median", 1.0, 0.15, "planted: without L0H2 in their values the cleaners erase nothing", 0, 0},
    {"fig3.patched.resid_post2.median", 1.0, 0.15, "planted: MLP2 does not write u", 0, 0},
    {"fig3.patched.L2H2.median", 0.0, 0.08, "planted: patched cleaner reads no u", 0, 0},
    {"fig3.patched.L2H3.median", 0.0, 0.08, "planted: patched cleaner reads no u", 0, 0},
    {"fig3.patched.L2H4.median", 0.0, 0.08, "planted: patched cleaner reads no u", 0, 0},
    {"fig3.patched.L2H5.median", 0.0, 0.08, "planted: patched cleaner reads no u", 0, 0},
    {"fig3.patched.L2H6.median", 0.0, 0.08, "planted: patched cleaner reads no u", 0, 0},
    {"fig3.patched.L2H7.median", 0.0, 0.08, "planted: patched cleaner reads no u", 0, 0},
    {"fig4.p1.L0H2.clean", 1.1, 0.5, "planted: u is tilted +-0.15 towards the correct answers (seeds 0-3: 0.82-1.48)", 0, 0},
    {"fig4.p2.L0H2.clean", 1.1, 0.5, "planted: u is tilted +-0.15 towards the correct answers", 0, 0},
    {"fig4.p3.L0H2.clean", 1.1, 0.5, "planted: u is tilted +-0.15 towards the correct answers", 0, 0},
    {"fig4.p4.L0H2.clean", 1.1, 0.5, "planted: u is tilted +-0.15 towards the correct answers", 0, 0},
    {"fig4.p1.L0H2.patched.median", 1.1, 0.5, "planted: L0H2 is positional, so patching its input changes little", 0, 0},
    {"fig4.p2.L0H2.patched.median", 1.1, 0.5, "planted: L0H2 is positional, so patching its input changes little", 0, 0},
    {"fig4.p3.L0H2.patched.median", 1.1, 0.5, "planted: L0H2 is positional, so patching its input changes little", 0, 0},
    {"fig4.p4.L0H2.patched.median", 1.1, 0.5, "planted: L0H2 is positional, so patching its input changes little", 0, 0},
    {"fig5.slope", -1.0, 0.15, "planted: same-position V-composition = -(0.358 / ln1 scale 0.36) x writer", 0, 0},
    {"fig5.r", -1.0, 0.1, "planted: the V-composition is the writer's u part, negated", 0, 0},
    {"sec32.r_vcomp", -1.0, 0.1, "planted: the V-composition is the writer's u part, negated", 0, 0},
};

const RefCheck *planted_checks_table(size_t *count) {
    if (count) *count = sizeof planted_checks / sizeof planted_checks[0];
    return planted_checks;
}

/* ------------------------------------------------------------------------ */
/* Evaluation                                                                */
/* ------------------------------------------------------------------------ */

double refcheck_tolerance(const RefCheck *c, double se) {
    double t;
    if (c->precision <= 0 || isnan(se)) return c->tolerance;
    t = (c->sigmas > 0 ? c->sigmas : REF_SIGMAS) * sqrt(2.0) * se;
    return t > c->precision ? t : c->precision;
}

int refcheck_eval(const RefCheck *c, const Results *r, double *value) {
    double v;
    if (!r || !results_get(r, c->metric, &v)) {
        if (value) *value = NAN;
        return REFCHECK_MISSING;
    }
    if (value) *value = v;
    /* The slack keeps decimal boundaries (0.9904 vs 0.9604 +- 0.03) on the
     * passing side despite binary rounding; NaN compares false and fails. */
    if (fabs(v - c->expected) <= refcheck_tolerance(c, results_get_se(r, c->metric)) * (1 + 1e-9) + 1e-12)
        return REFCHECK_PASS;
    return REFCHECK_FAIL;
}

/* ------------------------------------------------------------------------ */
/* Reference sets and their configurations                                   */
/* ------------------------------------------------------------------------ */

#define PAPER_CLEANERS "L2H2,L2H3,L2H4,L2H5,L2H6,L2H7"

const RefSet *paper_reference(void) {
    static RefSet set;
    if (!set.checks) {
        set.name = "the paper's reference values";
        set.checks = paper_checks_table(&set.n);
        set.config.model = "gelu-4l";
        set.config.writer = "L0H2";
        set.config.cleaners = PAPER_CLEANERS;
        set.config.prompts = "paper";
        set.config.rows = 300;
        set.config.seq_len = 1024;
        set.config.processed = 1;
    }
    return &set;
}

/* The plant's expectations hold for any seed, row count and row length (their
 * tolerances were chosen so), but only for the planted heads and the paper's prompts. */
const RefSet *planted_reference(void) {
    static RefSet set;
    if (!set.checks) {
        set.name = "the planted model's expectations";
        set.checks = planted_checks_table(&set.n);
        set.config.model = "cleanup-planted";
        set.config.writer = "L0H2";
        set.config.cleaners = PAPER_CLEANERS;
        set.config.prompts = "paper";
        set.config.processed = 1;
    }
    return &set;
}

const char *refcheck_not_comparable(const RefSet *set, unsigned depends_on, const RefConfig *run, char *buf,
                                    size_t size) {
    const RefConfig *ref = &set->config;
    if ((depends_on & REF_MODEL) && ref->model && (!run->model || strcmp(run->model, ref->model) != 0))
        snprintf(buf, size, "the model is %s, not %s", run->model ? run->model : "unknown", ref->model);
    else if ((depends_on & REF_PROCESSED) && ref->processed >= 0 && run->processed != ref->processed)
        snprintf(buf, size, "%s", run->processed ? "the weights are processed, the reference's are raw"
                                                  : "--no-processing: the reference is for processed weights");
    else if ((depends_on & REF_WRITER) && ref->writer && (!run->writer || strcmp(run->writer, ref->writer) != 0))
        snprintf(buf, size, "--writer is %s, the reference's %s", run->writer ? run->writer : "unset", ref->writer);
    else if ((depends_on & REF_CLEANERS) && ref->cleaners &&
             (!run->cleaners || strcmp(run->cleaners, ref->cleaners) != 0))
        snprintf(buf, size, "--cleaners is %s, the reference's %s", run->cleaners ? run->cleaners : "unset",
                 ref->cleaners);
    else if ((depends_on & REF_PROMPTS) && ref->prompts && (!run->prompts || strcmp(run->prompts, ref->prompts) != 0))
        snprintf(buf, size, "--prompts differs from the reference's (%s)", ref->prompts);
    else if ((depends_on & REF_ROWS) && ref->rows > 0 && run->rows < ref->rows)
        snprintf(buf, size, "%d rows (--rows) are fewer than the reference's %d", run->rows, ref->rows);
    else if ((depends_on & REF_SEQ_LEN) && ref->seq_len > 0 && run->seq_len != ref->seq_len)
        snprintf(buf, size, "--seq-len %d differs from the reference's %d", run->seq_len, ref->seq_len);
    else
        return NULL;
    return buf;
}

/* ------------------------------------------------------------------------ */
/* Reference files                                                           */
/* ------------------------------------------------------------------------ */

typedef struct {
    char *text;      /* the file, split in place into the strings the set points to */
    RefCheck *checks;
} OwnedSet;

/* A finite number filling the whole field, else -1. */
static int parse_number(const char *s, double *v) {
    char *end;
    if (!*s) return -1;
    *v = strtod(s, &end);
    if (*end != '\0' || !isfinite(*v)) return -1;
    return 0;
}

/* One "@KEY<TAB>VALUE" line into set->config. */
static int read_config_line(RefSet *set, char *key, char *value, const char *path, int line_no, Error *err) {
    long n;
    RefConfig *c = &set->config;
    if (strcmp(key, "model") == 0) c->model = value;
    else if (strcmp(key, "writer") == 0) c->writer = value;
    else if (strcmp(key, "cleaners") == 0) c->cleaners = value;
    else if (strcmp(key, "prompts") == 0) c->prompts = value;
    else if (strcmp(key, "rows") == 0 || strcmp(key, "seq_len") == 0) {
        if (parse_long(value, 1, 100000000, &n))
            return error_set(err, "%s: line %d: @%s must be a positive whole number, not '%s'", path, line_no, key, value);
        if (key[0] == 'r') c->rows = (int)n;
        else c->seq_len = (int)n;
    } else if (strcmp(key, "processing") == 0) {
        if (strcmp(value, "transformerlens") == 0) c->processed = 1;
        else if (strcmp(value, "none") == 0) c->processed = 0;
        else return error_set(err, "%s: line %d: @processing must be transformerlens or none", path, line_no);
    } else {
        return error_set(err, "%s: line %d: unknown key @%s (model, writer, cleaners, prompts, rows, seq_len, processing)",
                         path, line_no, key);
    }
    return 0;
}

/* One "NAME<TAB>VALUE<TAB>TOLERANCE[<TAB>SOURCE]" line. */
static int read_check_line(char **f, int nf, RefCheck *c, const char *path, int line_no, Error *err) {
    if (nf < 3 || nf > 4)
        return error_set(err, "%s: line %d: expected NAME<TAB>VALUE<TAB>TOLERANCE[<TAB>SOURCE]", path, line_no);
    if (!*f[0]) return error_set(err, "%s: line %d: empty metric name", path, line_no);
    if (parse_number(f[1], &c->expected))
        return error_set(err, "%s: line %d: value '%s' is not a finite number", path, line_no, f[1]);
    if (parse_number(f[2], &c->tolerance) || c->tolerance < 0)
        return error_set(err, "%s: line %d: tolerance '%s' is not a finite number >= 0", path, line_no, f[2]);
    c->metric = f[0];
    c->source = nf == 4 ? f[3] : path;
    c->precision = 0; /* a file's tolerances are fixed */
    c->sigmas = 0;
    return 0;
}

/* Splits line at tabs into at most 5 fields; returns their number. */
static int split_tabs(char *line, char **f) {
    int n = 0;
    char *p = line;
    while (p && n < 5) {
        f[n++] = p;
        p = strchr(p, '\t');
        if (p) *p++ = '\0';
    }
    return p ? 6 : n;
}

int refset_read(const char *path, RefSet *set, Error *err) {
    unsigned char *data;
    size_t len, cap = 0, i;
    char *line, *cursor;
    int line_no = 0;
    OwnedSet *own;
    memset(set, 0, sizeof *set);
    set->config.processed = -1;
    if (read_file(path, (size_t)64 << 20, &data, &len, err)) return -1;
    if (memchr(data, '\0', len)) {
        free(data);
        return error_set(err, "%s: not a text file (NUL byte)", path);
    }
    own = xalloc_array(1, sizeof *own, "reference set");
    own->text = (char *)data;
    set->owned = own;
    set->name = path;
    cursor = own->text;
    while ((line = next_text_line(&cursor)) != NULL) {
        char *f[6];
        int nf;
        line_no++;
        if (line[0] == '\0' || line[0] == '#') continue;
        nf = split_tabs(line, f);
        if (line[0] == '@') {
            if (nf != 2) {
                error_set(err, "%s: line %d: expected @KEY<TAB>VALUE", path, line_no);
                goto fail;
            }
            if (read_config_line(set, f[0] + 1, f[1], path, line_no, err)) goto fail;
            continue;
        }
        if (set->n == cap) {
            RefCheck *nc;
            cap = cap ? cap * 2 : 64;
            nc = realloc(own->checks, cap * sizeof *nc);
            if (!nc) die(EXIT_INTERNAL, "out of memory reading %s", path);
            own->checks = nc;
        }
        if (read_check_line(f, nf, &own->checks[set->n], path, line_no, err)) goto fail;
        for (i = 0; i < set->n; i++)
            if (strcmp(own->checks[i].metric, own->checks[set->n].metric) == 0) {
                error_set(err, "%s: line %d: %s is listed twice", path, line_no, own->checks[i].metric);
                goto fail;
            }
        set->n++;
    }
    if (set->n == 0) {
        error_set(err, "%s: no reference values", path);
        goto fail;
    }
    set->checks = own->checks;
    return 0;
fail:
    refset_free(set);
    return -1;
}

void refset_free(RefSet *set) {
    OwnedSet *own = set->owned;
    if (own) {
        free(own->text);
        free(own->checks);
        free(own);
    }
    memset(set, 0, sizeof *set);
}

/* ------------------------------------------------------------------------ */
/* Verdicts                                                                  */
/* ------------------------------------------------------------------------ */

void verdict_evaluate(const RefSet *set, const RefConfig *run, const Results *r, Verdict *v) {
    size_t i;
    memset(v, 0, sizeof *v);
    v->set = set;
    if (!set) return;
    v->items = xalloc_array(set->n ? set->n : 1, sizeof *v->items, "verdict");
    for (i = 0; i < set->n; i++) {
        CheckOutcome *o = &v->items[i];
        const char *why = refcheck_not_comparable(set, experiment_depends_on(set->checks[i].metric), run, o->why,
                                                  sizeof o->why);
        o->outcome = refcheck_eval(&set->checks[i], r, &o->value);
        o->se = results_get_se(r, set->checks[i].metric);
        o->tolerance = refcheck_tolerance(&set->checks[i], o->se);
        if (why) o->outcome = REFCHECK_NOT_COMPARABLE;
        else o->why[0] = '\0';
        if (o->outcome == REFCHECK_PASS) v->n_pass++;
        else if (o->outcome == REFCHECK_FAIL) v->n_fail++;
        else if (o->outcome == REFCHECK_MISSING) v->n_missing++;
        else v->n_not_comparable++;
    }
}

void verdict_free(Verdict *v) {
    free(v->items);
    memset(v, 0, sizeof *v);
}

int verdict_failed(const Verdict *v) {
    return v->n_fail + v->n_missing > 0;
}

/* ------------------------------------------------------------------------ */
/* Comparing runs                                                            */
/* ------------------------------------------------------------------------ */

/* Fills c for a = value (present says whether a has it) against b within tol. */
static void compare_one(Comparison *c, const char *name, int present, double a, double b, double tol) {
    c->name = name;
    c->a = present ? a : NAN;
    c->b = b;
    if (!present) {
        c->outcome = REFCHECK_MISSING;
        c->excess = INFINITY;
    } else if (isnan(a) || isnan(b)) {
        c->outcome = isnan(a) && isnan(b) ? REFCHECK_PASS : REFCHECK_FAIL;
        c->excess = c->outcome == REFCHECK_PASS ? 0 : INFINITY;
    } else {
        double d = fabs(a - b);
        c->excess = tol > 0 ? d / tol : (d > 0 ? INFINITY : 0);
        c->outcome = d <= tol * (1 + 1e-9) + 1e-300 ? REFCHECK_PASS : REFCHECK_FAIL;
    }
}

/* sigmas * sqrt(se_a^2 + se_b^2) of metric name, 0 when neither run has an SE. */
static double sampling_tolerance(const Results *a, const Results *b, const char *name, double sigmas) {
    double sa = results_get_se(a, name), sb = results_get_se(b, name);
    if (isnan(sa)) sa = 0;
    if (isnan(sb)) sb = 0;
    return sigmas * sqrt(sa * sa + sb * sb);
}

int compare_results(const Results *a, const Results *b, const RefSet *b_set, double rtol, double atol, double sigmas,
                    int subset, CompareReport *out, Error *err) {
    size_t i, n = b_set ? b_set->n : (size_t)b->count;
    memset(out, 0, sizeof *out);
    if (!b_set && !subset) {
        int k;
        double v;
        for (k = 0; k < a->count; k++)
            if (!results_get(b, a->items[k].name, &v))
                return error_set(err, "%s is in the first results but not in the second (--subset compares only "
                                      "the second's metrics)", a->items[k].name);
    }
    out->items = xalloc_array(n ? n : 1, sizeof *out->items, "comparison");
    out->n = n;
    for (i = 0; i < n; i++) {
        const char *name = b_set ? b_set->checks[i].metric : b->items[i].name;
        double bv = b_set ? b_set->checks[i].expected : b->items[i].value;
        double tol = b_set ? b_set->checks[i].tolerance : atol + rtol * fabs(bv);
        double av = NAN;
        if (!b_set && sigmas > 0) {
            double st = sampling_tolerance(a, b, name, sigmas);
            if (st > tol) tol = st;
        }
        int present = results_get(a, name, &av);
        compare_one(&out->items[i], name, present, av, bv, tol);
        if (out->items[i].outcome == REFCHECK_PASS) out->n_pass++;
        else if (out->items[i].outcome == REFCHECK_FAIL) out->n_fail++;
        else out->n_missing++;
    }
    return 0;
}

void compare_report_free(CompareReport *r) {
    free(r->items);
    memset(r, 0, sizeof *r);
}
