/* references.c - see references.h. The two reference tables are data: what
 * the paper reports (PROTOCOL section 7, EXPERIMENTS.md) and what the planted
 * model was built to show (synth.c's design notes). */
#include "references.h"

#include <math.h>
#include <stddef.h>

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

/* PROTOCOL section 7 with the suggested tolerances: PR medians and quantiles
 * +-0.03 (also the figure-read Fig 2 medians), single-prompt deterministic
 * values +-0.01, patched values +-0.05, slope, intercept and r +-0.05. */
static const RefCheck paper_checks[] = {
    {"fig1.L0H2.resid_pre0.median", 0.0119, 0.03, SRC_F1},
    {"fig1.L0H2.resid_mid0.median", 0.9604, 0.03, SRC_F1},
    {"fig1.L0H2.resid_post0.median", 1.0448, 0.03, SRC_F1},
    {"fig1.L0H2.resid_mid1.median", 1.0108, 0.03, SRC_F1},
    {"fig1.L0H2.resid_post1.median", 1.0195, 0.03, SRC_F1},
    {"fig1.L0H2.resid_mid2.median", 0.1027, 0.03, SRC_F1},
    {"fig1.L0H2.resid_post2.median", 0.0929, 0.03, SRC_F1},
    {"fig1.L0H2.resid_mid3.median", 0.0489, 0.03, SRC_F1},
    {"fig1.L0H2.resid_post3.median", 0.0548, 0.03, SRC_F1},
    {"fig1.L0H2.resid_pre0.q25", -0.0052, 0.03, SRC_F1},
    {"fig1.L0H2.resid_mid0.q25", 0.8632, 0.03, SRC_F1},
    {"fig1.L0H2.resid_post0.q25", 0.9587, 0.03, SRC_F1},
    {"fig1.L0H2.resid_mid1.q25", 0.9305, 0.03, SRC_F1},
    {"fig1.L0H2.resid_post1.q25", 0.9382, 0.03, SRC_F1},
    {"fig1.L0H2.resid_mid2.q25", -0.1220, 0.03, SRC_F1},
    {"fig1.L0H2.resid_post2.q25", -0.0531, 0.03, SRC_F1},
    {"fig1.L0H2.resid_mid3.q25", -0.1646, 0.03, SRC_F1},
    {"fig1.L0H2.resid_post3.q25", -0.1771, 0.03, SRC_F1},
    {"fig1.L0H2.resid_pre0.q75", 0.0380, 0.03, SRC_F1},
    {"fig1.L0H2.resid_mid0.q75", 1.0960, 0.03, SRC_F1},
    {"fig1.L0H2.resid_post0.q75", 1.1546, 0.03, SRC_F1},
    {"fig1.L0H2.resid_mid1.q75", 1.1243, 0.03, SRC_F1},
    {"fig1.L0H2.resid_post1.q75", 1.1243, 0.03, SRC_F1},
    {"fig1.L0H2.resid_mid2.q75", 0.3073, 0.03, SRC_F1},
    {"fig1.L0H2.resid_post2.q75", 0.2426, 0.03, SRC_F1},
    {"fig1.L0H2.resid_mid3.q75", 0.2696, 0.03, SRC_F1},
    {"fig1.L0H2.resid_post3.q75", 0.2792, 0.03, SRC_F1},
    {"fig2.L2H0.median", 0.000, 0.03, SRC_F2},
    {"fig2.L2H1.median", -0.009, 0.03, SRC_F2},
    {"fig2.L2H2.median", -0.143, 0.03, SRC_F2},
    {"fig2.L2H3.median", -0.035, 0.03, SRC_F2},
    {"fig2.L2H4.median", -0.117, 0.03, SRC_F2},
    {"fig2.L2H5.median", -0.264, 0.03, SRC_F2},
    {"fig2.L2H6.median", -0.177, 0.03, SRC_F2},
    {"fig2.L2H7.median", -0.140, 0.03, SRC_F2},
    {"fig2.cleaners_sum.median", -0.903, 0.03, SRC_F2S},
    {"fig3.patched.resid_mid2.median", 0.883, 0.05, SRC_F3},
    {"fig3.patched.resid_post2.median", 0.646, 0.05, SRC_F3},
    {"fig3.patched.resid_mid3.median", 0.573, 0.05, SRC_F3},
    {"fig3.patched.resid_post3.median", 0.484, 0.05, SRC_F3},
    {"fig3.patched.L2H0.median", 0.001, 0.05, SRC_F3},
    {"fig3.patched.L2H1.median", 0.003, 0.05, SRC_F3},
    {"fig3.patched.L2H2.median", -0.019, 0.05, SRC_F3},
    {"fig3.patched.L2H3.median", -0.009, 0.05, SRC_F3},
    {"fig3.patched.L2H4.median", -0.001, 0.05, SRC_F3},
    {"fig3.patched.L2H5.median", -0.033, 0.05, SRC_F3},
    {"fig3.patched.L2H6.median", -0.028, 0.05, SRC_F3},
    {"fig3.patched.L2H7.median", -0.010, 0.05, SRC_F3},
    {"fig4.p1.logit_diff", 1.07, 0.01, SRC_F4L},
    {"fig4.p2.logit_diff", 1.89, 0.01, SRC_F4L},
    {"fig4.p3.logit_diff", 3.02, 0.01, SRC_F4L},
    {"fig4.p4.logit_diff", 0.94, 0.01, SRC_F4L},
    {"fig4.p1.L0H2.clean", 0.595, 0.01, SRC_F4C},
    {"fig4.p1.L0H2.patched.median", 0.598, 0.05, SRC_F4P},
    {"fig4.p1.L0H2.patched.q12_5", 0.583, 0.05, SRC_F4P},
    {"fig4.p1.L0H2.patched.q87_5", 0.637, 0.05, SRC_F4P},
    {"fig4.p1.L3H1.clean", 1.134, 0.01, SRC_F4C},
    {"fig4.p1.L3H1.patched.median", 0.084, 0.05, SRC_F4P},
    {"fig4.p1.L3H1.patched.q12_5", 0.066, 0.05, SRC_F4P},
    {"fig4.p1.L3H1.patched.q87_5", 0.137, 0.05, SRC_F4P},
    {"fig4.p2.L0H2.clean", 0.837, 0.01, SRC_F4C},
    {"fig4.p2.L0H2.patched.median", 0.814, 0.05, SRC_F4P},
    {"fig4.p2.L0H2.patched.q12_5", 0.811, 0.05, SRC_F4P},
    {"fig4.p2.L0H2.patched.q87_5", 0.834, 0.05, SRC_F4P},
    {"fig4.p2.L2H1.clean", 0.841, 0.01, SRC_F4C},
    {"fig4.p2.L2H1.patched.median", 0.033, 0.05, SRC_F4P},
    {"fig4.p2.L2H1.patched.q12_5", -0.151, 0.05, SRC_F4P},
    {"fig4.p2.L2H1.patched.q87_5", 0.261, 0.05, SRC_F4P},
    {"fig4.p3.L0H2.clean", 0.949, 0.01, SRC_F4C},
    {"fig4.p3.L0H2.patched.median", 0.973, 0.05, SRC_F4P},
    {"fig4.p3.L0H2.patched.q12_5", 0.965, 0.05, SRC_F4P},
    {"fig4.p3.L0H2.patched.q87_5", 0.996, 0.05, SRC_F4P},
    {"fig4.p3.L3H5.clean", 2.289, 0.01, SRC_F4C},
    {"fig4.p3.L3H5.patched.median", 0.708, 0.05, SRC_F4P},
    {"fig4.p3.L3H5.patched.q12_5", 0.166, 0.05, SRC_F4P},
    {"fig4.p3.L3H5.patched.q87_5", 1.548, 0.05, SRC_F4P},
    {"fig4.p4.L0H2.clean", 0.246, 0.01, SRC_F4C},
    {"fig4.p4.L0H2.patched.median", 0.247, 0.05, SRC_F4P},
    {"fig4.p4.L0H2.patched.q12_5", 0.245, 0.05, SRC_F4P},
    {"fig4.p4.L0H2.patched.q87_5", 0.253, 0.05, SRC_F4P},
    {"fig4.p4.L2H2.clean", 0.524, 0.01, SRC_F4C},
    {"fig4.p4.L2H2.patched.median", 0.165, 0.05, SRC_F4P},
    {"fig4.p4.L2H2.patched.q12_5", -0.061, 0.05, SRC_F4P},
    {"fig4.p4.L2H2.patched.q87_5", 0.473, 0.05, SRC_F4P},
    {"fig5.slope", -0.723, 0.05, SRC_F5},
    {"fig5.intercept", 0.052, 0.05, SRC_F5},
    {"fig5.r", -0.745, 0.05, SRC_F5 " (r implied by the paper's fit, about)"},
    {"sec32.r_cleaners", -0.159, 0.05, SRC_32},
    {"sec32.r_vcomp", -0.716, 0.05, SRC_32},
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
    {"fig1.L0H2.resid_pre0.median", 0.0, 0.05, "planted: embeddings carry only a trace of L0H2's direction u"},
    {"fig1.L0H2.resid_mid0.median", 1.0, 0.1, "planted: L0H2 writes u, nothing else in layer 0 does"},
    {"fig1.L0H2.resid_post0.median", 1.0, 0.12, "planted: MLP0 does not write u"},
    {"fig1.L0H2.resid_mid1.median", 1.0, 0.12, "planted: layer 1 does not write u"},
    {"fig1.L0H2.resid_post1.median", 1.0, 0.12, "planted: layer 1 does not write u"},
    {"fig1.L0H2.resid_mid2.median", 0.05, 0.15, "planted: L2H2..L2H7 erase 90% of u"},
    {"fig1.L0H2.resid_post3.median", 0.05, 0.25, "planted: nothing after layer 2 writes u"},
    {"fig2.cleaners_sum.median", -0.9, 0.15, "planted: L2H2..L2H7 together write -0.9 x L0H2's output"},
    {"fig2.L2H2.median", -0.9 * 0.15 / 0.92, 0.08, "planted: cleaner share 0.15"},
    {"fig2.L2H3.median", -0.9 * 0.07 / 0.92, 0.08, "planted: cleaner share 0.07"},
    {"fig2.L2H4.median", -0.9 * 0.12 / 0.92, 0.08, "planted: cleaner share 0.12"},
    {"fig2.L2H5.median", -0.9 * 0.26 / 0.92, 0.08, "planted: cleaner share 0.26"},
    {"fig2.L2H6.median", -0.9 * 0.18 / 0.92, 0.08, "planted: cleaner share 0.18"},
    {"fig2.L2H7.median", -0.9 * 0.14 / 0.92, 0.08, "planted: cleaner share 0.14"},
    {"fig2.L2H0.median", 0.0, 0.08, "planted: not a cleaner"},
    {"fig2.L2H1.median", 0.0, 0.08, "planted: not a cleaner"},
    {"fig2.MLP0.median", 0.0, 0.08, "planted: MLPs do not write u"},
    {"fig2.MLP1.median", 0.0, 0.08, "planted: MLPs do not write u"},
    {"fig2.MLP2.median", 0.0, 0.08, "planted: MLPs do not write u"},
    {"fig2.MLP3.median", 0.0, 0.08, "planted: MLPs do not write u"},
    {"fig3.clean.resid_mid2.median", 0.05, 0.15, "planted: as fig1 (clean run)"},
    {"fig3.patched.resid_mid2.median", 1.0, 0.15, "planted: without L0H2 in their values the cleaners erase nothing"},
    {"fig3.patched.resid_post2.median", 1.0, 0.15, "planted: MLP2 does not write u"},
    {"fig3.patched.L2H2.median", 0.0, 0.08, "planted: patched cleaner reads no u"},
    {"fig3.patched.L2H3.median", 0.0, 0.08, "planted: patched cleaner reads no u"},
    {"fig3.patched.L2H4.median", 0.0, 0.08, "planted: patched cleaner reads no u"},
    {"fig3.patched.L2H5.median", 0.0, 0.08, "planted: patched cleaner reads no u"},
    {"fig3.patched.L2H6.median", 0.0, 0.08, "planted: patched cleaner reads no u"},
    {"fig3.patched.L2H7.median", 0.0, 0.08, "planted: patched cleaner reads no u"},
    {"fig4.p1.L0H2.clean", 1.1, 0.5, "planted: u is tilted +-0.15 towards the correct answers (seeds 0-3: 0.82-1.48)"},
    {"fig4.p2.L0H2.clean", 1.1, 0.5, "planted: u is tilted +-0.15 towards the correct answers"},
    {"fig4.p3.L0H2.clean", 1.1, 0.5, "planted: u is tilted +-0.15 towards the correct answers"},
    {"fig4.p4.L0H2.clean", 1.1, 0.5, "planted: u is tilted +-0.15 towards the correct answers"},
    {"fig4.p1.L0H2.patched.median", 1.1, 0.5, "planted: L0H2 is positional, so patching its input changes little"},
    {"fig4.p2.L0H2.patched.median", 1.1, 0.5, "planted: L0H2 is positional, so patching its input changes little"},
    {"fig4.p3.L0H2.patched.median", 1.1, 0.5, "planted: L0H2 is positional, so patching its input changes little"},
    {"fig4.p4.L0H2.patched.median", 1.1, 0.5, "planted: L0H2 is positional, so patching its input changes little"},
    {"fig5.slope", -1.0, 0.15, "planted: same-position V-composition = -(0.358 / ln1 scale 0.36) x writer"},
    {"fig5.r", -1.0, 0.1, "planted: the V-composition is the writer's u part, negated"},
    {"sec32.r_vcomp", -1.0, 0.1, "planted: the V-composition is the writer's u part, negated"},
};

const RefCheck *planted_checks_table(size_t *count) {
    if (count) *count = sizeof planted_checks / sizeof planted_checks[0];
    return planted_checks;
}

/* ------------------------------------------------------------------------ */
/* Evaluation                                                                */
/* ------------------------------------------------------------------------ */

int refcheck_eval(const RefCheck *c, const Results *r, double *value) {
    double v;
    if (!r || !results_get(r, c->metric, &v)) {
        if (value) *value = NAN;
        return REFCHECK_MISSING;
    }
    if (value) *value = v;
    /* The slack keeps decimal boundaries (0.9904 vs 0.9604 +- 0.03) on the
     * passing side despite binary rounding; NaN compares false and fails. */
    if (fabs(v - c->expected) <= c->tolerance * (1 + 1e-9) + 1e-12) return REFCHECK_PASS;
    return REFCHECK_FAIL;
}
