/* exp_scan.c - the paper's full-model scan (section 2.2): for every node (every head's
 * hook_result, every hook_mlp_out; the embeddings hook_embed and hook_pos_embed too)
 * and every residual location, PR(resid, node) over all (row, position) samples; and
 * "who erases whom": for every node w and every later node n, PR(n, w) (Fig 2 for
 * every writer at once). From these, a ranked table of writers by how much of their
 * output is gone at the last residual location in units of the spread of PR there
 * (score = gone / spread), each with its top cleaners.
 *
 * Metrics (EXPERIMENTS.md):
 *   scan.{s}.{location}.{median,q12_5,q25,q75,q87_5}  PR(resid_location, s), exact
 *   scan.{w}.{n}.{median,q12_5,q87_5}                 PR(n, w), n later than w
 *   scan.{w}.gone        median PR at the location right after w minus at the last one
 *   scan.{w}.spread      q87_5 - q12_5 of PR at the last location
 *   scan.{w}.score       gone / spread (spread at least 1e-6)
 *   scan.{w}.rank        1 = highest score (ties: the earlier node)
 *   scan.{w}.n_cleaners  later nodes with median PR(n, w) <= -max(SCAN_CLEANER_THRESHOLD,
 *                        SCAN_CLEANER_RELATIVE x |the most negative|) (at most
 *                        SCAN_MAX_CLEANERS, most negative first)
 *   scan.{w}.cleaners_sum.{median,q12_5,q87_5}  PR(sum of those cleaners, w) (Fig 2's -0.903)
 *   scan.pairs_exact, scan.n_nan
 * Names: s, w, n are "embed", "pos_embed", "L{l}H{h}", "MLP{l}". Read scan.A.B as
 * "B projected onto A": the first name is always the direction.
 *
 * Memory. The resid x node series are stored exactly (type-7 quantiles as published).
 * The node x node pairs are stored exactly when they fit in ExpInputs.scan_exact_bytes
 * (default SCAN_EXACT_BYTES); otherwise (gelu-4l at 300 x 1024: 590 pairs, 725 MB as
 * floats) as 16-bit codes (stats.h compact_code: 363 MB): every sample is kept, rounded to
 * a step of 2^-12 below 4 in magnitude, 2^-11 below 8, 2^-9 relative above. The finish
 * decodes them and goes on as with exact pairs, so a pair's quantile moves by at most half
 * a step (1.2e-4 below 4; every order statistic does) and the cleaners' summed PR by at
 * most n half steps for n cleaners (SCAN_MAX_CLEANERS = 8: 9.8e-4 below 4). The cleaners
 * are known only at the end (from the pairs' final medians): with every sample kept they
 * are summed sample by sample like the exact pairs, in the one pass over the rows.
 * Measured against exact pairs in EXPERIMENTS.md "Scan". The finish works through
 * SCAN_MAX_CLEANERS series of floats at a time, and the cleaners' sums of SCAN_SUM_BATCH
 * writers.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "experiments.h"
#include "report.h"

#define SCAN_EXACT_BYTES ((size_t)192 << 20)
/* A cleaner n of w has median PR(n, w) <= -max(0.03, 0.25 x |the most negative median|):
 * it removes at least 3% of w and a quarter of what w's strongest cleaner removes (random
 * nodes of the planted model reach -0.045 on L0H2, its weakest planted cleaner -0.10);
 * at most 8 are listed. */
#define SCAN_CLEANER_THRESHOLD 0.03
#define SCAN_CLEANER_RELATIVE 0.25
#define SCAN_MAX_CLEANERS 8
/* Writers whose cleaners' sums the finish keeps at once (their quantiles in parallel:
 * 8 x 1.2 MB at paper scale). */
#define SCAN_SUM_BATCH 8
/* Top writers drawn in the line figure and listed in report.md. */
#define SCAN_TOP_LINES 6
#define SCAN_REPORT_ROWS 12

/* ------------------------------------------------------------------------ */
/* Sources: the embeddings, then every node in the order of the forward pass */
/* ------------------------------------------------------------------------ */

/* What the scan iterates over, from the model's shape alone (the report rebuilds it
 * from the ReportContext). */
typedef struct {
    int L, H, attn_only;
    int n_loc, n_src, n_pairs;
    int per_layer; /* nodes per layer: H heads (+ 1 MLP) */
} ScanShape;

static void scan_shape(ScanShape *s, int L, int H, int attn_only) {
    s->L = L;
    s->H = H;
    s->attn_only = attn_only;
    s->per_layer = H + (attn_only ? 0 : 1);
    s->n_loc = resid_location_count(L, attn_only);
    s->n_src = 2 + L * s->per_layer;
    s->n_pairs = 0; /* count_pairs */
}

/* Stage of source i: 0 for the embeddings, 2l + 1 for layer l's heads, 2l + 2 for its MLP.
 * n is later than w when its stage is larger. */
static int src_stage(const ScanShape *s, int i) {
    int node, l;
    if (i < 2) return 0;
    node = i - 2;
    l = node / s->per_layer;
    return node % s->per_layer < s->H ? 2 * l + 1 : 2 * l + 2;
}

/* The first source later than w (n_src when none). */
static int first_later(const ScanShape *s, int w) {
    int n = w + 1;
    while (n < s->n_src && src_stage(s, n) <= src_stage(s, w)) n++;
    return n;
}

static int count_pairs(const ScanShape *s) {
    int w, n = 0;
    for (w = 0; w < s->n_src; w++) n += s->n_src - first_later(s, w);
    return n;
}

static void src_name(const ScanShape *s, int i, char *buf, size_t size) {
    int node, l;
    if (i < 2) {
        snprintf(buf, size, i == 0 ? "embed" : "pos_embed");
        return;
    }
    node = i - 2;
    l = node / s->per_layer;
    if (node % s->per_layer < s->H)
        snprintf(buf, size, "L%dH%d", l, node % s->per_layer);
    else
        snprintf(buf, size, "MLP%d", l);
}

/* The residual location right after source i: resid_pre0 for the embeddings,
 * resid_mid{l} (attention-only: resid_post{l}) for a head, resid_post{l} for an MLP. */
static int after_location(const ScanShape *s, int i) {
    int st = src_stage(s, i);
    if (st == 0) return 0;
    if (s->attn_only) return (st + 1) / 2;
    return st;
}

/* The source's vector at (b, t). */
static const float *src_vector(const Model *m, const Activations *a, const ScanShape *s, int i, int b, int t) {
    const size_t bt = (size_t)b * a->n_pos + t;
    const int D = m->cfg.d_model;
    int node, l;
    if (i == 0) return a->embed + bt * D;
    if (i == 1) return a->pos_embed + bt * D;
    node = i - 2;
    l = node / s->per_layer;
    if (node % s->per_layer < s->H) return hook_result_at(m, a, l, node % s->per_layer, b, t);
    return a->layer[l].mlp_out + bt * D;
}

/* The (at most SCAN_MAX_CLEANERS) later nodes with the most negative medians, most
 * negative first (ties: the earlier node); med[k] for the k-th later node of w, idx gets
 * offsets k. Returns their number. */
static int most_negative(const double *med, int n_later, int *idx) {
    int n = 0, k, j;
    while (n < SCAN_MAX_CLEANERS) {
        int best = -1;
        for (k = 0; k < n_later; k++) {
            int taken = 0;
            if (!(med[k] < 0)) continue;
            for (j = 0; j < n; j++) taken |= idx[j] == k;
            if (!taken && (best < 0 || med[k] < med[best])) best = k;
        }
        if (best < 0) break;
        idx[n++] = best;
    }
    return n;
}

/* The cleaners of w: the most negative later nodes whose median PR(n, w) is at or below
 * the threshold above, in that order. */
static int pick_cleaners(const double *med, int n_later, int *idx) {
    double threshold;
    int n = most_negative(med, n_later, idx), k;
    if (n == 0) return 0;
    threshold = -med[idx[0]] * SCAN_CLEANER_RELATIVE;
    if (threshold < SCAN_CLEANER_THRESHOLD) threshold = SCAN_CLEANER_THRESHOLD;
    for (k = 0; k < n && med[idx[k]] <= -threshold; k++) continue;
    return k;
}

/* ------------------------------------------------------------------------ */
/* The clean-pass unit                                                       */
/* ------------------------------------------------------------------------ */

typedef struct {
    ScanShape sh;
    int lo, hi;           /* this pass's sources [lo, hi) (ExpInputs.part_first/part_end) */
    int n_gpairs;         /* their pairs: the stores below hold only this pass's sources */
    int *first;           /* [n_src]: first later source of w */
    int *pair0;           /* [n_src]: index of w's first pair among this pass's pairs (w in [lo, hi)) */
    int exact;            /* pairs stored exactly */
    Samples *resid;       /* [(hi - lo) * n_loc]: PR(resid_k, s) at (s - lo) * n_loc + k */
    Samples *pair;        /* [n_gpairs] exact pairs, or one batch's when compact */
    uint16_t **codes;     /* compact: [n_gpairs][n_samples] (one block per pair: 600 KB at paper scale) */
    size_t *n_coded;      /* compact: [n_gpairs] codes so far (NaN samples are counted, not coded) */
    size_t *n_nan_coded;  /* compact: [n_gpairs] */
    size_t n_samples;     /* n_rows x T */
    PrPlan plan;          /* per position: the locations, then every source (scan_vectors) */
    Samples **targets;    /* [plan.n_values]: where each of the plan's values goes */
    const ExpInputs *in;  /* the run's inputs, for scan_vectors (set by scan_batch) */
} Scan;


static size_t scan_exact_budget(const ExpInputs *in) {
    return in->scan_exact_bytes ? in->scan_exact_bytes : SCAN_EXACT_BYTES;
}

/* Whether the pairs are stored exactly (--scan-pairs; AUTO: when they fit in
 * scan_exact_bytes). Not the memory budget: that would change the results. */
static int scan_exact(const ExpInputs *in, const ScanShape *sh, size_t n_samples) {
    return in->scan_pairs == SCAN_PAIRS_EXACT ||
           (in->scan_pairs == SCAN_PAIRS_AUTO &&
            (double)sh->n_pairs * (double)n_samples * sizeof(float) <= (double)scan_exact_budget(in));
}

/* The sources of this pass: ExpInputs.part_first..part_end, all when part_end is 0. */
static void scan_range(const ExpInputs *in, const ScanShape *sh, int *lo, int *hi) {
    *lo = in->part_end > 0 ? in->part_first : 0;
    *hi = in->part_end > 0 && in->part_end < sh->n_src ? in->part_end : sh->n_src;
}

/* Its parts: the sources (embeddings, heads, MLPs), split over passes when the stores do not fit. */
static int scan_parts(const ExpInputs *in) {
    ScanShape sh;
    scan_shape(&sh, in->model->cfg.n_layers, in->model->cfg.n_heads, in->model->cfg.attn_only);
    return sh.n_src;
}

static int scan_check(const ExpInputs *in, Error *err) {
    if (in->model->cfg.n_layers < 2)
        return error_set_code(err, EXIT_INPUT,
                              "the scan needs a model with at least 2 layers (this one has %d: no node has a later "
                              "layer to erase it)",
                              in->model->cfg.n_layers);
    return 0;
}

/* At (b, t): the residual locations, then every source (vector n_loc + i for source i). */
static void scan_vectors(const void *ctx, const Activations *a, int b, int t, const float **vec, float *scratch) {
    const Scan *s = ctx;
    const Model *m = s->in->model;
    const size_t bt = (size_t)b * a->n_pos + t;
    const int D = m->cfg.d_model, n_loc = s->sh.n_loc;
    int k, i;
    (void)scratch;
    for (k = 0; k < n_loc; k++) vec[k] = resid_location_data(m, a, k) + bt * D;
    for (i = 0; i < s->sh.n_src; i++) vec[n_loc + i] = src_vector(m, a, &s->sh, i, b, t);
}

/* For every source i of this pass: PR of every residual location onto i, then of every
 * later node; into the resid and pair Samples. */
static void scan_plan(Scan *s) {
    const int n_loc = s->sh.n_loc, n_res = (s->hi - s->lo) * n_loc;
    int i, k, n = 0;
    pr_plan_init(&s->plan, n_loc + s->sh.n_src, s->hi - s->lo, n_res + s->n_gpairs);
    s->targets = xalloc_array((size_t)n_res + s->n_gpairs + 1, sizeof *s->targets, "scan");
    for (i = s->lo; i < s->hi; i++) {
        pr_plan_group(&s->plan, n_loc + i);
        for (k = 0; k < n_loc; k++) {
            pr_plan_target(&s->plan, k);
            s->targets[n++] = &s->resid[(i - s->lo) * n_loc + k];
        }
        for (k = s->first[i]; k < s->sh.n_src; k++) {
            pr_plan_target(&s->plan, n_loc + k);
            s->targets[n++] = &s->pair[s->pair0[i] + k - s->first[i]];
        }
    }
}

static void *scan_begin(const ExpInputs *in, int n_rows, int T, int batch_rows) {
    const ModelConfig *c = &in->model->cfg;
    const size_t n_samples = (size_t)n_rows * T;
    Scan *s = xalloc_array(1, sizeof *s, "scan");
    int w, p = 0;
    memset(s, 0, sizeof *s);
    scan_shape(&s->sh, c->n_layers, c->n_heads, c->attn_only);
    s->sh.n_pairs = count_pairs(&s->sh);
    s->first = xalloc_array((size_t)s->sh.n_src, sizeof *s->first, "scan");
    s->pair0 = xalloc_array((size_t)s->sh.n_src, sizeof *s->pair0, "scan");
    scan_range(in, &s->sh, &s->lo, &s->hi);
    for (w = 0; w < s->sh.n_src; w++) {
        s->first[w] = first_later(&s->sh, w);
        s->pair0[w] = p;
        if (w >= s->lo && w < s->hi) p += s->sh.n_src - s->first[w];
    }
    s->n_gpairs = p;
    s->n_samples = n_samples;
    s->resid = samples_array((size_t)(s->hi - s->lo) * s->sh.n_loc, n_samples);
    s->exact = scan_exact(in, &s->sh, n_samples);
    if (s->exact) {
        s->pair = samples_array((size_t)s->n_gpairs, n_samples);
    } else {
        s->pair = samples_array((size_t)s->n_gpairs, (size_t)batch_rows * T); /* one batch */
        s->codes = xalloc_array((size_t)s->n_gpairs + 1, sizeof *s->codes, "scan pairs (compact)");
        /* not zeroed (xalloc_array's calloc wrote all 363 MB of a paper-scale scan on one
         * thread before the first row): n_coded says what is written */
        for (p = 0; p < s->n_gpairs; p++) {
            s->codes[p] = malloc((n_samples ? n_samples : 1) * sizeof **s->codes);
            if (!s->codes[p]) die(EXIT_INTERNAL, "out of memory: scan pairs (compact)");
        }
        s->n_coded = xalloc_array((size_t)s->n_gpairs + 1, sizeof *s->n_coded, "scan");
        s->n_nan_coded = xalloc_array((size_t)s->n_gpairs + 1, sizeof *s->n_nan_coded, "scan");
        memset(s->n_coded, 0, ((size_t)s->n_gpairs + 1) * sizeof *s->n_coded);
        memset(s->n_nan_coded, 0, ((size_t)s->n_gpairs + 1) * sizeof *s->n_nan_coded);
    }
    scan_plan(s);
    return s;
}

/* Compact: appends the batch's pair samples to the pairs' codes, then empties the lists. */
static void scan_code_batch(Scan *s) {
    int k;
#ifdef _OPENMP
#pragma omp parallel for schedule(static)
#endif
    for (k = 0; k < s->n_gpairs; k++) {
        Samples *p = &s->pair[k];
        compact_codes(s->codes[k] + s->n_coded[k], p->values, p->count);
        s->n_coded[k] += p->count;
        s->n_nan_coded[k] += p->n_nan;
        p->count = 0;
        p->n_nan = 0;
    }
}

/* Queues the batch's projection ratios (collect_prs_queue: computed beside the other
 * units'), after coding the pairs' values of the batch before (scan_finish codes the
 * last batch's). */
static void scan_batch(void *state, const ExpInputs *in, ExpBatch *b) {
    Scan *s = state;
    if (!s->exact) scan_code_batch(s);
    s->in = in;
    collect_prs_queue(in->model, b, &s->plan, scan_vectors, s, s->targets);
}

/* scan.{w}.gone, .spread and .score for every source, and scan.{w}.rank among those with
 * later nodes: by score = gone / spread, the part of w gone at the last location in units
 * of the spread (q87.5 - q12.5) of PR there: consistent removal, not the shift of a noisy
 * ratio. Ranking by gone alone puts noisy writers first: on the planted model and its three
 * variants a random head's median drops by 1.6-2.1 with nothing erasing it (spread 1.7),
 * ahead of the planted writer's 0.67-1.26 (spread 0.17-0.23); the score ranks the planted
 * writer first every time, 2.9-6.3 against at most 1.2 (EXPERIMENTS.md "Scan"). */
static void scan_rank(const Scan *s, Results *res) {
    const ScanShape *sh = &s->sh;
    double *score = xalloc_array((size_t)sh->n_src, sizeof *score, "scan");
    char wname[32], loc_a[32], loc_z[32], name[128];
    int w, v;
    resid_location_name(sh->attn_only, sh->n_loc - 1, loc_z, sizeof loc_z);
    for (w = 0; w < sh->n_src; w++) {
        double gone, spread;
        src_name(sh, w, wname, sizeof wname);
        resid_location_name(sh->attn_only, after_location(sh, w), loc_a, sizeof loc_a);
        gone = metric_value(res, "scan.%s.%s.median", wname, loc_a) - metric_value(res, "scan.%s.%s.median", wname, loc_z);
        spread = metric_value(res, "scan.%s.%s.q87_5", wname, loc_z) - metric_value(res, "scan.%s.%s.q12_5", wname, loc_z);
        score[w] = gone / (spread > 1e-6 ? spread : 1e-6);
        snprintf(name, sizeof name, "scan.%s.gone", wname);
        results_set(res, name, gone);
        snprintf(name, sizeof name, "scan.%s.spread", wname);
        results_set(res, name, spread);
        snprintf(name, sizeof name, "scan.%s.score", wname);
        results_set(res, name, score[w]);
    }
    for (w = 0; w < sh->n_src; w++) {
        int rank = 1;
        if (s->first[w] >= sh->n_src) continue;
        for (v = 0; v < sh->n_src; v++) {
            if (v == w || s->first[v] >= sh->n_src) continue;
            if ((!isnan(score[v]) && (isnan(score[w]) || score[v] > score[w])) || (score[v] == score[w] && v < w) ||
                (isnan(score[v]) && isnan(score[w]) && v < w))
                rank++;
        }
        src_name(sh, w, wname, sizeof wname);
        snprintf(name, sizeof name, "scan.%s.rank", wname);
        results_set(res, name, rank);
    }
    free(score);
}

/* Pair k's samples into out (room for s->n_samples): a copy of the exact list (the finish
 * sorts its copies), or the decoded codes, in the order they were added or, for the
 * quantiles alone (for_quantiles), block by block in an order they do not depend on
 * (samples_set_codes). */
static void pair_samples(const Scan *s, int k, Samples *out, int for_quantiles) {
    out->n_nan = s->exact ? s->pair[k].n_nan : s->n_nan_coded[k];
    if (s->exact) {
        out->count = s->pair[k].count;
        memcpy(out->values, s->pair[k].values, out->count * sizeof(float));
    } else {
        samples_set_codes(out, s->codes[k], s->n_coded[k], for_quantiles);
    }
}

/* Source w's pairs: scan.{w}.{n}.* for every later node n (none for the last layer's), then
 * scan.{w}.n_cleaners and scan.{w}.cleaners_sum.*: the cleaners' PR summed sample by
 * sample, most negative first (NaN samples are those where w is zero: every pair of w
 * leaves out the same ones) into *sum, whose quantiles the caller takes (several writers'
 * at once: one series' quantiles are one thread's work). Returns the number of cleaners.
 * buf: SCAN_MAX_CLEANERS Samples of room s->n_samples; sum: room s->n_samples. */
static int scan_writer(const Scan *s, int w, Samples *buf, Samples *sum, Results *res, size_t *n_nan) {
    const int n_later = s->sh.n_src - s->first[w];
    double med[256], value[SCAN_MAX_CLEANERS * 3], se[SCAN_MAX_CLEANERS * 3];
    Samples *series[SCAN_MAX_CLEANERS];
    char wname[32], nname[32], name[128];
    int idx[SCAN_MAX_CLEANERS], k0, k, j, n_c, c;
    size_t i;
    if (n_later > 256) die(EXIT_INTERNAL, "scan: too many nodes");
    src_name(&s->sh, w, wname, sizeof wname);
    for (k0 = 0; k0 < n_later; k0 += SCAN_MAX_CLEANERS) { /* SCAN_MAX_CLEANERS pairs at a time */
        const int n = n_later - k0 < SCAN_MAX_CLEANERS ? n_later - k0 : SCAN_MAX_CLEANERS;
#ifdef _OPENMP
#pragma omp parallel for schedule(static)
#endif
        for (k = 0; k < n; k++) pair_samples(s, s->pair0[w] + k0 + k, &buf[k], 1);
        for (k = 0; k < n; k++) {
            series[k] = &buf[k];
            *n_nan += buf[k].n_nan;
        }
        samples_quantiles_many(series, n, quantiles3, 3, value, se);
        for (k = 0; k < n; k++) {
            src_name(&s->sh, s->first[w] + k0 + k, nname, sizeof nname);
            med[k0 + k] = value[k * 3];
            for (j = 0; j < 3; j++) {
                snprintf(name, sizeof name, "scan.%s.%s.%s", wname, nname, quantiles3_names[j]);
                results_set(res, name, value[k * 3 + j]);
                results_set_se(res, name, se[k * 3 + j]);
            }
        }
    }
    n_c = pick_cleaners(med, n_later, idx);
    snprintf(name, sizeof name, "scan.%s.n_cleaners", wname);
    results_set(res, name, n_c);
    if (n_c == 0) return 0;
#ifdef _OPENMP
#pragma omp parallel for schedule(static)
#endif
    for (c = 0; c < n_c; c++) pair_samples(s, s->pair0[w] + idx[c], &buf[c], 0);
    sum->count = sum->n_nan = 0;
    for (i = 0; i < buf[0].count; i++) {
        double acc = 0;
        for (c = 0; c < n_c; c++) acc += buf[c].values[i];
        samples_add(sum, (float)acc);
    }
    return n_c;
}

/* The resid x node quantiles (five), all series at once in parallel. */
static void scan_resid_quantiles(Scan *s, Results *res, size_t *n_nan) {
    const ScanShape *sh = &s->sh;
    const int n_res = (s->hi - s->lo) * sh->n_loc;
    char(*name)[96] = xalloc_array((size_t)n_res + 1, sizeof *name, "scan");
    const char **names = xalloc_array((size_t)n_res + 1, sizeof *names, "scan");
    Samples **series = xalloc_array((size_t)n_res + 1, sizeof *series, "scan");
    char wname[32], loc[32];
    int i, k;
    for (i = s->lo; i < s->hi; i++) {
        src_name(sh, i, wname, sizeof wname);
        for (k = 0; k < sh->n_loc; k++) {
            const int j = (i - s->lo) * sh->n_loc + k;
            resid_location_name(sh->attn_only, k, loc, sizeof loc);
            snprintf(name[j], sizeof name[j], "scan.%s.%s", wname, loc);
            names[j] = name[j];
            series[j] = &s->resid[j];
            *n_nan += s->resid[j].n_nan;
        }
    }
    results_add_quantiles_of(res, names, series, n_res, results_q5, results_q5_names, 5);
    free(name);
    free(names);
    free(series);
}

static void scan_finish(void *state, const ExpInputs *in, Results *res, Points *points) {
    Scan *s = state;
    const ScanShape *sh = &s->sh;
    Samples *buf;
    size_t n_nan = 0;
    double so_far = 0;
    int w;
    (void)in;
    (void)points;
    if (!s->exact) scan_code_batch(s); /* the last batch's pairs */
    scan_resid_quantiles(s, res, &n_nan);
    if (s->n_gpairs > 0) {
        /* the cleaners' sums of SCAN_SUM_BATCH writers, then their quantiles in parallel */
        Samples *sums = samples_array(SCAN_SUM_BATCH, s->n_samples), *series[SCAN_SUM_BATCH];
        char names[SCAN_SUM_BATCH][64], wname[32];
        const char *name_of[SCAN_SUM_BATCH];
        int n_sums = 0;
        buf = samples_array(SCAN_MAX_CLEANERS, s->n_samples);
        for (w = s->lo; w < s->hi; w++) {
            if (scan_writer(s, w, buf, &sums[n_sums], res, &n_nan) > 0) {
                src_name(sh, w, wname, sizeof wname);
                snprintf(names[n_sums], sizeof names[n_sums], "scan.%s.cleaners_sum", wname);
                name_of[n_sums] = names[n_sums];
                series[n_sums] = &sums[n_sums];
                n_sums++;
            }
            if (n_sums == SCAN_SUM_BATCH || (w + 1 == s->hi && n_sums > 0)) {
                results_add_quantiles_of(res, name_of, series, n_sums, quantiles3, quantiles3_names, 3);
                n_sums = 0;
            }
        }
        samples_array_free(buf, SCAN_MAX_CLEANERS);
        samples_array_free(sums, SCAN_SUM_BATCH);
    }
    /* A pass over some of the sources (experiments_run splits the scan when its stores
     * exceed the memory budget): the count so far; the last pass ranks them all. */
    if (s->lo > 0 && results_get(res, "scan.n_nan", &so_far)) n_nan += (size_t)so_far;
    if (s->hi == sh->n_src) scan_rank(s, res);
    results_set(res, "scan.pairs_exact", s->exact);
    results_set(res, "scan.n_nan", (double)n_nan);
}

static void scan_end(void *state) {
    Scan *s = state;
    int k;
    samples_array_free(s->resid, (size_t)(s->hi - s->lo) * s->sh.n_loc);
    samples_array_free(s->pair, (size_t)s->n_gpairs);
    pr_plan_free(&s->plan);
    free(s->targets);
    for (k = 0; s->codes && k < s->n_gpairs; k++) free(s->codes[k]);
    free(s->codes);
    free(s->n_coded);
    free(s->n_nan_coded);
    free(s->first);
    free(s->pair0);
    free(s);
}

/* ---- scan.tsv, figures and report ---- */

/* The ranked writers of a run, rebuilt from the metrics. */
typedef struct {
    ScanShape sh;
    int n_ranked;
    int *order;           /* [n_src]: sources by rank (n_ranked of them) */
    char (*names)[32];    /* [n_src] */
} ScanTable;

static void scan_table(const ReportContext *c, ScanTable *st) {
    int i, r;
    scan_shape(&st->sh, c->L, c->H, c->in->attn_only);
    st->sh.n_pairs = count_pairs(&st->sh);
    st->order = xalloc_array((size_t)st->sh.n_src, sizeof *st->order, "scan table");
    st->names = xalloc_array((size_t)st->sh.n_src, sizeof *st->names, "scan table");
    st->n_ranked = 0;
    for (i = 0; i < st->sh.n_src; i++) src_name(&st->sh, i, st->names[i], sizeof st->names[i]);
    for (r = 1; r <= st->sh.n_src; r++)
        for (i = 0; i < st->sh.n_src; i++)
            if (metric_value(c->r, "scan.%s.rank", st->names[i]) == r) st->order[st->n_ranked++] = i;
}

static void scan_table_free(ScanTable *st) {
    free(st->order);
    free(st->names);
}

/* Writer w's cleaners from the metrics (the rule of scan_finish): names joined by sep. */
static int cleaners_of(const ReportContext *c, const ScanTable *st, int w, const char *sep, char *buf, size_t size) {
    int first = first_later(&st->sh, w), n_later = st->sh.n_src - first, idx[SCAN_MAX_CLEANERS], n_c, k;
    double med[256];
    size_t used = 0;
    buf[0] = '\0';
    if (n_later > 256) n_later = 256;
    for (k = 0; k < n_later; k++) med[k] = metric_value(c->r, "scan.%s.%s.median", st->names[w], st->names[first + k]);
    n_c = pick_cleaners(med, n_later, idx);
    for (k = 0; k < n_c && used + 40 < size; k++)
        used += (size_t)snprintf(buf + used, size - used, "%s%s", k ? sep : "", st->names[first + idx[k]]);
    return n_c;
}

static int scan_tsv(const ReportContext *c, const ScanTable *st, Text *t, Outputs *o) {
    char loc_a[32], loc_z[32], cl[512];
    int r;
    t->len = 0;
    resid_location_name(st->sh.attn_only, st->sh.n_loc - 1, loc_z, sizeof loc_z);
    text_puts(t, "rank\twriter\tafter\tpr_after\tpr_last\tgone\tspread_last\tscore\tn_cleaners\tcleaners_sum_median\t"
                 "cleaners\n");
    for (r = 0; r < st->n_ranked; r++) {
        int w = st->order[r];
        const char *nm = st->names[w];
        resid_location_name(st->sh.attn_only, after_location(&st->sh, w), loc_a, sizeof loc_a);
        cleaners_of(c, st, w, ",", cl, sizeof cl);
        text_printf(t, "%d\t%s\t%s\t", r + 1, nm, loc_a);
        text_num(t, metric_value(c->r, "scan.%s.%s.median", nm, loc_a));
        text_puts(t, "\t");
        text_num(t, metric_value(c->r, "scan.%s.%s.median", nm, loc_z));
        text_puts(t, "\t");
        text_num(t, metric_value(c->r, "scan.%s.gone", nm));
        text_puts(t, "\t");
        text_num(t, metric_value(c->r, "scan.%s.spread", nm));
        text_puts(t, "\t");
        text_num(t, metric_value(c->r, "scan.%s.score", nm));
        text_puts(t, "\t");
        text_num(t, metric_value(c->r, "scan.%s.n_cleaners", nm));
        text_puts(t, "\t");
        text_num(t, metric_value(c->r, "scan.%s.cleaners_sum.median", nm));
        text_printf(t, "\t%s\n", cl[0] ? cl : "-");
    }
    return outputs_emit(o, "scan.tsv", t);
}

/* Diverging colour of v on [-1, 1] (clipped): blue below 0, white at 0, red above. */
static void diverging(double v, char *buf, size_t size) {
    static const double neg[3] = {33, 102, 172}, pos[3] = {178, 24, 43};
    const double *end = v < 0 ? neg : pos;
    double f = fabs(v) > 1 ? 1 : fabs(v);
    int k, rgb[3];
    for (k = 0; k < 3; k++) rgb[k] = (int)floor(255 + f * (end[k] - 255) + 0.5);
    snprintf(buf, size, "#%02x%02x%02x", rgb[0], rgb[1], rgb[2]);
}

/* Rows: writers with later nodes, in node order; columns: every node (not the embeddings). */
static void heatmap_table(const ReportContext *c, const ScanTable *st, Table *tb) {
    int w, n, row = 0;
    table_init(tb, st->sh.n_src, st->sh.n_src - 2);
    for (n = 2; n < st->sh.n_src; n++) snprintf(tb->colnames[n - 2], LABEL_LEN, "%s", st->names[n]);
    for (w = 0; w < st->sh.n_src; w++) {
        if (first_later(&st->sh, w) >= st->sh.n_src) continue;
        snprintf(tb->labels[row], LABEL_LEN, "%s", st->names[w]);
        for (n = first_later(&st->sh, w); n < st->sh.n_src; n++)
            *table_cell(tb, row, n - 2) = metric_value(c->r, "scan.%s.%s.median", st->names[w], st->names[n]);
        row++;
    }
    tb->rows = row;
}

static int heatmap_dat_gp(const Table *tb, Text *t, Outputs *o) {
    int r, k;
    t->len = 0;
    text_puts(t, "# scan_heatmap.dat - who erases whom: median PR(node, writer) over all (prompt, position)\n"
                 "# samples, for every writer (row) and every later node (column); NaN = not later.\n"
                 "# From results.tsv: scan.{writer}.{node}.median. Long format for gnuplot's image style:\n"
                 "# row col value (blank line between rows); the labels are in the header lines below.\n");
    for (r = 0; r < tb->rows; r++) text_printf(t, "# row %d %s\n", r, tb->labels[r]);
    for (k = 0; k < tb->cols; k++) text_printf(t, "# col %d %s\n", k, tb->colnames[k]);
    for (r = 0; r < tb->rows; r++) {
        for (k = 0; k < tb->cols; k++) {
            text_printf(t, "%d %d ", r, k);
            text_num(t, table_get(tb, r, k));
            text_puts(t, "\n");
        }
        text_puts(t, "\n");
    }
    if (outputs_emit(o, "scan_heatmap.dat", t) != 0) return -1;
    t->len = 0;
    gp_begin(t, "scan_heatmap", "the scan's who-erases-whom heatmap (scan_heatmap.dat)", 1100, 1000);
    text_puts(t, "set title \"Who erases whom: median PR(node, writer), clipped to [-1, 1]\"\n"
                 "set xlabel \"later node\"\nset ylabel \"writer\"\nset yrange [] reverse\n"
                 "set palette defined (-1 \"#2166ac\", 0 \"white\", 1 \"#b2182b\")\nset cbrange [-1:1]\n"
                 "set xtics rotate by 90 right font \",8\"\nset ytics font \",8\"\n");
    text_puts(t, "set xtics (");
    for (k = 0; k < tb->cols; k++) text_printf(t, "%s\"%s\" %d", k ? ", " : "", tb->colnames[k], k);
    text_puts(t, ")\nset ytics (");
    for (r = 0; r < tb->rows; r++) text_printf(t, "%s\"%s\" %d", r ? ", " : "", tb->labels[r], r);
    text_puts(t, ")\nunset key\nplot \"scan_heatmap.dat\" using 2:1:($3 > 1 ? 1 : $3 < -1 ? -1 : $3) with image\n");
    return outputs_emit(o, "scan_heatmap.gp", t);
}

static int heatmap_svg(const Table *tb, Text *t, Outputs *o) {
    const double cell = 22, left = 90, top = 70;
    const int w = (int)(left + cell * tb->cols + 140), h = (int)(top + cell * tb->rows + 90);
    char color[16], label[16];
    int r, k;
    t->len = 0;
    svg_begin(t, w, h, "Who erases whom");
    svg_text(t, w / 2.0, 26, "middle", 16, 0, "font-weight=\"bold\"",
             "Who erases whom: median PR(later node, writer) over all (prompt, position) samples");
    svg_text(t, w / 2.0, 46, "middle", 12, 0, NULL,
             "rows: writers; columns: later nodes; blue: the node writes against the writer (erases it)");
    for (r = 0; r < tb->rows; r++) {
        svg_text(t, left - 6, top + cell * (r + 0.5) + 4, "end", 10, 0, NULL, tb->labels[r]);
        for (k = 0; k < tb->cols; k++) {
            double v = table_get(tb, r, k), x = left + cell * k, y = top + cell * r;
            if (!isfinite(v)) {
                svg_rect(t, x, y, cell, cell, "#eeeeee", NULL);
                continue;
            }
            diverging(v, color, sizeof color);
            svg_rect(t, x, y, cell, cell, color, "stroke=\"#ffffff\" stroke-width=\"0.5\"");
            if (fabs(v) >= 0.05) {
                snprintf(label, sizeof label, "%.0f", 100 * v);
                svg_text(t, x + cell / 2, y + cell / 2 + 3, "middle", 8, 0, fabs(v) > 0.6 ? "fill=\"white\"" : NULL,
                         label);
            }
        }
    }
    for (k = 0; k < tb->cols; k++)
        svg_text(t, left + cell * (k + 0.5) + 3, top + cell * tb->rows + 8, "end", 10, -90, NULL, tb->colnames[k]);
    /* colour bar */
    for (k = 0; k <= 40; k++) {
        double v = 1 - k / 20.0;
        diverging(v, color, sizeof color);
        svg_rect(t, left + cell * tb->cols + 30, top + 6 * k, 20, 6, color, NULL);
    }
    svg_text(t, left + cell * tb->cols + 56, top + 8, "start", 10, 0, NULL, "+1 (or more)");
    svg_text(t, left + cell * tb->cols + 56, top + 6 * 20 + 6, "start", 10, 0, NULL, "0");
    svg_text(t, left + cell * tb->cols + 56, top + 6 * 40 + 6, "start", 10, 0, NULL, "-1 (or less)");
    svg_text(t, left + cell * tb->cols + 30, top + 6 * 41 + 22, "start", 10, 0, NULL, "cells: 100 x median");
    svg_text(t, left + cell * tb->cols + 30, top + 6 * 41 + 36, "start", 10, 0, NULL, "grey: not later");
    svg_end(t);
    return outputs_emit(o, "scan_heatmap.svg", t);
}

/* Fig-1-style lines: median PR(resid, w) at every location for the top-ranked writers. */
static void top_table(const ReportContext *c, const ScanTable *st, Table *tb, Range *y) {
    int n = st->n_ranked < SCAN_TOP_LINES ? st->n_ranked : SCAN_TOP_LINES, i, k;
    table_init(tb, c->n_locs, n > 0 ? n : 1);
    tb->cols = n;
    for (i = 0; i < n; i++) snprintf(tb->colnames[i], LABEL_LEN, "%s", st->names[st->order[i]]);
    for (k = 0; k < c->n_locs; k++) {
        snprintf(tb->labels[k], LABEL_LEN, "%s", c->locs[k]);
        for (i = 0; i < n; i++) {
            *table_cell(tb, k, i) = metric_value(c->r, "scan.%s.%s.median", st->names[st->order[i]], c->locs[k]);
            range_add(y, table_get(tb, k, i));
        }
    }
}

static int top_files(const ReportContext *c, const Table *tb, Range y, Text *t, Outputs *o) {
    LegendItem leg[SCAN_TOP_LINES];
    Axes a;
    int i;
    t->len = 0;
    text_puts(t, "# scan_top.dat - the scan's top-ranked writers (scan.tsv): median PR(resid, writer) at every\n"
                 "# residual location over all (prompt, position) samples, one column per writer, by rank.\n"
                 "# From results.tsv: scan.{writer}.{location}.median. NaN = not computed.\n");
    table_dat(t, tb, "location");
    if (outputs_emit(o, "scan_top.dat", t) != 0) return -1;
    t->len = 0;
    gp_begin(t, "scan_top", "the scan's top writers (scan_top.dat)", 900, 520);
    text_printf(t, "set title \"Top writers of the scan: median PR(resid, writer)\"\n"
                   "set xlabel \"residual location\"\nset ylabel \"median projection ratio\"\n"
                   "set xtics rotate by 40 right\nset xrange [-0.5:%d.5]\nplot ",
                c->n_locs - 1);
    for (i = 0; i < tb->cols; i++)
        text_printf(t, "%s\"scan_top.dat\" using 1:%d%s with linespoints pt 7 title \"%d. %s\"", i ? ", \\\n     " : "",
                    i + 3, i == 0 ? ":xtic(2)" : "", i + 1, tb->colnames[i]);
    text_puts(t, "\n");
    if (outputs_emit(o, "scan_top.gp", t) != 0) return -1;
    t->len = 0;
    svg_begin(t, 900, 520, "Top writers of the scan");
    svg_text(t, 450, 26, "middle", 16, 0, "font-weight=\"bold\"",
             "The scan's top writers: how much of each is left along the residual stream");
    axes_categorical(&a, 80, 70, 600, 330, c->n_locs, y, 1);
    axes_draw(t, &a, "median PR(resid, writer), writers in rank order (gone / spread at the last location)",
              "residual location", "median projection ratio", (char(*)[LABEL_LEN])tb->labels, -40);
    for (i = 0; i < tb->cols; i++) {
        draw_series(t, &a, tb->v + i, c->n_locs, tb->cols, palette[i % 10], i == 0 ? 2.5 : 1.5);
        leg[i] = legend_item(tb->colnames[i], palette[i % 10], LEG_LINE, 1);
    }
    draw_legend(t, 700, 70, leg, tb->cols);
    svg_end(t);
    return outputs_emit(o, "scan_top.svg", t);
}

/* scan.tsv, scan_heatmap.{dat,gp,svg}, scan_top.{dat,gp,svg}; nothing without the scan's ranks. */
static int scan_write_figures(const ReportContext *c, Outputs *o) {
    ScanTable st;
    Table hm, top;
    Range y = {0, 0, 0};
    Text t = {0};
    int rc = 0;
    if (!has_prefix_metric(c->r, "scan.")) return 0;
    scan_table(c, &st);
    if (st.n_ranked > 0) {
        heatmap_table(c, &st, &hm);
        top_table(c, &st, &top, &y);
        rc = scan_tsv(c, &st, &t, o) || heatmap_dat_gp(&hm, &t, o) || heatmap_svg(&hm, &t, o) ||
                     top_files(c, &top, y, &t, o)
                 ? -1
                 : 0;
        table_free(&hm);
        table_free(&top);
    }
    scan_table_free(&st);
    text_free(&t);
    return rc;
}

/* The ranked writers as a markdown table, and how to study one with `all`. */
static void scan_note(const ReportContext *c, const ScanTable *st, ReportSection *s) {
    Text t = {0};
    char loc_z[32], loc_a[32], cl[512], num[5][32];
    int r, n = st->n_ranked < SCAN_REPORT_ROWS ? st->n_ranked : SCAN_REPORT_ROWS;
    resid_location_name(st->sh.attn_only, st->sh.n_loc - 1, loc_z, sizeof loc_z);
    text_printf(&t,
                "\nWriters ranked by score = gone / spread: gone = median PR(resid, writer) right after the writer "
                "minus at %s, spread = q87.5 - q12.5 of PR(%s, writer); how much of the writer is gone in units of how "
                "much PR varies between samples there, so that consistent erasure ranks above the drift of a noisy "
                "ratio (`scan.tsv` has all %d):\n\n",
                loc_z, loc_z, st->n_ranked);
    text_puts(&t, "| rank | writer | median PR right after | median PR at the end | gone | score | cleaners (most "
                  "negative first) | cleaners' summed PR, median |\n|---:|---|---:|---:|---:|---:|---|---:|\n");
    for (r = 0; r < n; r++) {
        int w = st->order[r];
        const char *nm = st->names[w];
        resid_location_name(st->sh.attn_only, after_location(&st->sh, w), loc_a, sizeof loc_a);
        cleaners_of(c, st, w, ", ", cl, sizeof cl);
        snprintf(num[0], 32, "%.3f", metric_value(c->r, "scan.%s.%s.median", nm, loc_a));
        snprintf(num[1], 32, "%.3f", metric_value(c->r, "scan.%s.%s.median", nm, loc_z));
        snprintf(num[2], 32, "%.3f", metric_value(c->r, "scan.%s.gone", nm));
        snprintf(num[3], 32, "%.3f", metric_value(c->r, "scan.%s.cleaners_sum.median", nm));
        snprintf(num[4], 32, "%.2f", metric_value(c->r, "scan.%s.score", nm));
        text_printf(&t, "| %d | %s | %s (%s) | %s | %s | %s | %s | %s |\n", r + 1, nm, num[0], loc_a, num[1], num[2],
                    num[4], cl[0] ? cl : "none", cl[0] ? num[3] : "-");
    }
    text_puts(&t, "\nA writer head and cleaner heads of one later layer from this table can be studied in detail "
                  "with `cleanup all --writer W --cleaners C1,C2,...` (Figs 1-5).\n");
    section_note(s, t.data);
    text_free(&t);
}

/* How the published scan values were checked (when they apply; else an empty note): the
 * rule, and how many tolerances came out looser than PROTOCOL section 7's +-0.03. */
static void scan_checks_note(const ReportSection *s, char *note, size_t size) {
    const RefCheck *checks;
    const CheckOutcome *out;
    size_t i, n_checks = section_checks(s, &checks, &out);
    int n = 0, looser = 0;
    double widest = 0;
    note[0] = '\0';
    for (i = 0; i < n_checks; i++) {
        if (strncmp(checks[i].metric, "scan.", 5) != 0 || checks[i].precision <= 0 ||
            out[i].outcome == REFCHECK_NOT_COMPARABLE)
            continue;
        n++;
        if (out[i].tolerance > checks[i].tolerance * (1 + 1e-9)) looser++;
        if (out[i].tolerance > widest) widest = out[i].tolerance;
    }
    if (n == 0) return;
    snprintf(note, size,
             " The %d published scan values are checked like the other statistics of the rows, with tolerance "
             "max(1e-7, %g x sqrt2 x SE): the reference is one sample of 300 rows too, so a faithful run on other rows "
             "differs from it by about sqrt2 x SE, and %g rather than %g standard errors because the %d are checked "
             "at once (a faithful run fails any of them with probability below 1%%; EXPERIMENTS.md \"Verdicts\"). "
             "%d of them have a tolerance looser than PROTOCOL section 7's +-0.03 (their SE exceeds %.4f; the "
             "widest +-%.3g): those series vary that much between row sets.",
             n, REF_SIGMAS_SCAN, REF_SIGMAS_SCAN, REF_SIGMAS, n, looser, 0.03 / (REF_SIGMAS_SCAN * sqrt(2.0)), widest);
}

static void scan_report_section(const ReportContext *c, ReportSection *s) {
    ScanTable st;
    char intro[2400], checks[1000];
    int r;
    scan_table(c, &st);
    scan_checks_note(s, checks, sizeof checks);
    for (r = 0; r < st.n_ranked && r < 3; r++) {
        section_headline(s, "scan.%s.gone", st.names[st.order[r]]);
        section_headline(s, "scan.%s.cleaners_sum.median", st.names[st.order[r]]);
    }
    section_headline(s, "scan.pairs_exact");
    snprintf(intro, sizeof intro,
             "The full-model scan of the paper's section 2.2: for every node (every head's hook_result, every "
             "hook_mlp_out, and the embeddings) PR(resid, node) at every residual location "
             "(`scan.{node}.{location}.*`, exact type-7 quantiles; on gelu-4l checked against the 972 published "
             "values), and for every later node n PR(n, node) (`scan.{node}.{n}.*`, the heatmap; %s). A node's "
             "cleaners are the later nodes whose median PR onto it is at most -max(%.2f, %.2f x |the most negative "
             "one|), at most %d of them.%s",
             metric_value(c->r, "scan.pairs_exact") == 0
                 ? "from 16-bit codes of every sample: a sample below 4 in magnitude moves by at most 1.2e-4, "
                   "below 8 by 2.4e-4, above by 1e-3 of itself, and so do the quantiles"
                 : "exact quantiles",
             SCAN_CLEANER_THRESHOLD, SCAN_CLEANER_RELATIVE, SCAN_MAX_CLEANERS, checks);
    section_write(s, intro);
    if (st.n_ranked > 0) scan_note(c, &st, s);
    scan_table_free(&st);
}

/* Every node's output (embeddings, every head's result, every MLP output) and every
 * residual location. */
static void scan_hooks(const ExpInputs *in, HookRequest *req) {
    HookMask kinds = HOOK_BIT(HOOK_EMBED) | HOOK_BIT(HOOK_POS_EMBED) | HOOK_BIT(HOOK_RESULT);
    if (!in->model->cfg.attn_only) kinds |= HOOK_BIT(HOOK_MLP_OUT);
    hook_request_add(req, -1, kinds);
    exp_hooks_resid_locations(in->model, req);
}

static const ExpOutput scan_outputs[] = {
    {"scan.tsv", "the scan's ranked writers: gone output, top cleaners, their summed PR (tab-separated)"},
    {"scan_heatmap.svg", "who erases whom: median PR(later node, writer), diverging colours centred on 0"},
    {"scan_heatmap.dat", "heatmap data: writer row, node column, median PR (long format)"},
    {"scan_heatmap.gp", "gnuplot script drawing the heatmap"},
    {"scan_top.svg", "the top-ranked writers' median PR along the residual stream (Fig 1 style)"},
    {"scan_top.dat", "data of scan_top: median PR per residual location, one column per writer"},
    {"scan_top.gp", "gnuplot script drawing scan_top"},
    {NULL, NULL},
};
static const char *const scan_figures[] = {"scan_heatmap", "scan_top", NULL};

/* scan_begin's stores for this pass's sources: the resid x node series, and the pairs
 * (exact, or compact: their codes and one batch's samples); and the finish's
 * SCAN_MAX_CLEANERS + SCAN_SUM_BATCH series of floats (the clean pass's activations are
 * freed by then, but the budget counts them throughout). */
static size_t scan_memory(const ExpInputs *in, int n_rows, int T, int batch_rows) {
    const ModelConfig *c = &in->model->cfg;
    const size_t n_samples = (size_t)n_rows * T;
    size_t bytes, n_gpairs = 0;
    ScanShape sh;
    int lo, hi, w;
    scan_shape(&sh, c->n_layers, c->n_heads, c->attn_only);
    sh.n_pairs = count_pairs(&sh);
    scan_range(in, &sh, &lo, &hi);
    for (w = lo; w < hi; w++) n_gpairs += (size_t)(sh.n_src - first_later(&sh, w));
    bytes = (size_t)(hi - lo) * sh.n_loc * n_samples * sizeof(float);
    if (n_gpairs > 0) bytes += (size_t)(SCAN_MAX_CLEANERS + SCAN_SUM_BATCH) * n_samples * sizeof(float);
    if (scan_exact(in, &sh, n_samples)) return bytes + n_gpairs * n_samples * sizeof(float);
    return bytes + n_gpairs * (n_samples * sizeof(uint16_t) + (size_t)batch_rows * T * sizeof(float));
}

const Experiment experiment_scan = {
    "scan", "the full-model scan: every node's PR along the residual stream, who erases whom",
    "Scan: every node, who erases whom",
    0, 0, scan_check, scan_begin, scan_batch, scan_finish, scan_end, NULL,
    scan_write_figures, scan_report_section, scan_outputs, scan_figures,
    REF_MODEL | REF_PROCESSED | REF_ROWS | REF_SEQ_LEN,
    scan_hooks,
    scan_memory,
    scan_parts,
};
