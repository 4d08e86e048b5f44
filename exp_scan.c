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
 * (default SCAN_EXACT_BYTES); otherwise (gelu-4l at 300 x 1024: 590 pairs, 725 MB) each
 * pair keeps a histogram of SCAN_BINS bins of width 2^-11 over [-8, 8) plus the values
 * outside it exactly. A quantile then interpolates between order statistics each known
 * within one bin, so its error is at most 2^-11 = 4.9e-4 (measured in BENCHMARKS.md).
 * The cleaners' summed PR needs the samples of the cleaners, which are only known at
 * the end (from the pairs' final medians). With binned pairs the scan keeps the exact
 * samples of candidate cleaners instead, in the memory the budget leaves it
 * (ExpInputs.scan_spare_bytes; experiments.c's plan gives it before more rows per batch):
 *   - a pilot: the first batches (up to SCAN_PILOT_ROWS rows, at most half the spare) stay
 *     in the lists of pair; at its end the pairs' exact medians and q35 list, per writer,
 *     the later nodes that could end as its cleaners (q35 at or below a quarter of its
 *     threshold), and the wanted ones (its pilot cleaners, whole writers first, then those
 *     nearest the threshold; as many as there are slots) get a store of every sample, the
 *     pilot's first;
 *   - reviews after each quarter more rows redo the choice from the binned medians: new
 *     wanted pairs get a store from the next row, unwanted ones give theirs up only when
 *     the room is needed;
 *   - finish sums a writer's final cleaners from the stores exactly as the exact path does
 *     (the same per-sample floats, added in the same order: same bits) when they hold all
 *     of its samples; the other writers go through a second pass over the rows (up to the
 *     last layer holding one of their cleaners), only over the first rows the stores miss
 *     (all of them when a cleaner has no store), the rest from the stores.
 * Memory: the pilot's batches of pair samples, SCAN_SLOTS_PER_WRITER stores of n_rows x T
 * floats per writer at most, and for the second pass one float per sample and writer;
 * run.txt says how the sums were made. With nothing spare: no stores, every sum by the
 * second pass (one more forward pass, BENCHMARKS.md).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "experiments.h"
#include "progress.h"
#include "report.h"

#define SCAN_EXACT_BYTES ((size_t)192 << 20)
/* A cleaner n of w has median PR(n, w) <= -max(0.03, 0.25 x |the most negative median|):
 * it removes at least 3% of w and a quarter of what w's strongest cleaner removes (random
 * nodes of the planted model reach -0.045 on L0H2, its weakest planted cleaner -0.10);
 * at most 8 are listed. */
#define SCAN_CLEANER_THRESHOLD 0.03
#define SCAN_CLEANER_RELATIVE 0.25
#define SCAN_MAX_CLEANERS 8
/* Binned pairs keep the exact samples of candidate cleaners (header comment), chosen on a
 * pilot of up to SCAN_PILOT_ROWS rows (whole batches), then reviewed: of w's later nodes,
 * those whose SCAN_CANDIDATE_QUANTILE quantile of PR(n, w) so far is at or below
 * SCAN_CANDIDATE_MARGIN x w's threshold so far (a median swings between rows where a pair's
 * values are bimodal; the lower quantile lists such a pair early), at most
 * SCAN_CANDIDATES_PER_WRITER per writer; at most SCAN_SLOTS_PER_WRITER stores per writer in
 * all (the budget's spare permitting). */
#define SCAN_PILOT_ROWS 16
#define SCAN_CANDIDATE_MARGIN 0.25
#define SCAN_CANDIDATE_QUANTILE 0.35
#define SCAN_CANDIDATES_PER_WRITER 16
#define SCAN_SLOTS_PER_WRITER 8
#define SCAN_BINS 32768
#define SCAN_BIN_LO (-8.0)
#define SCAN_BIN_SCALE 2048.0 /* bins per unit */
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
    if (node % s->per_layer < s->H) return head_output(m, a, l, node % s->per_layer, b, t);
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
/* Binned samples: bounded-memory quantiles                                  */
/* ------------------------------------------------------------------------ */

typedef struct {
    uint32_t *count; /* [SCAN_BINS] */
    Samples low, high; /* values below / at or above the binned range, exact */
    size_t n_in, n_nan;
} Binned;

static void binned_init(Binned *h) {
    h->count = xalloc_array(SCAN_BINS, sizeof *h->count, "scan histograms");
    memset(h->count, 0, SCAN_BINS * sizeof *h->count);
    samples_init(&h->low);
    samples_init(&h->high);
    h->n_in = h->n_nan = 0;
}

static void binned_free(Binned *h) {
    free(h->count);
    samples_free(&h->low);
    samples_free(&h->high);
}

static void binned_add(Binned *h, float v) {
    double x;
    if (isnan(v)) {
        h->n_nan++;
        return;
    }
    x = ((double)v - SCAN_BIN_LO) * SCAN_BIN_SCALE;
    if (x < 0)
        samples_add(&h->low, v);
    else if (x >= SCAN_BINS)
        samples_add(&h->high, v);
    else {
        h->count[(int)x]++;
        h->n_in++;
    }
}

static int compare_float_values(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Order statistic j (0-based) of the binned values: exact outside the range, else
 * the bin's j-th value estimated as evenly spread over the bin (error < one bin). */
static double binned_order(const Binned *h, size_t j) {
    size_t k, before = 0;
    if (j < h->low.count) return h->low.values[j];
    j -= h->low.count;
    if (j >= h->n_in) return h->high.values[j - h->n_in];
    for (k = 0; k < SCAN_BINS; k++) {
        if (j < before + h->count[k])
            return SCAN_BIN_LO + ((double)k + ((double)(j - before) + 0.5) / h->count[k]) / SCAN_BIN_SCALE;
        before += h->count[k];
    }
    return NAN; /* not reached */
}

/* Type-7 quantile q of the binned values (NaN when empty). */
static double binned_quantile(Binned *h, double q) {
    size_t n = h->low.count + h->n_in + h->high.count, lo;
    double x, lo_v, hi_v;
    if (n == 0) return NAN;
    if (h->low.count > 1) qsort(h->low.values, h->low.count, sizeof(float), compare_float_values);
    if (h->high.count > 1) qsort(h->high.values, h->high.count, sizeof(float), compare_float_values);
    x = (double)(n - 1) * q;
    lo = (size_t)floor(x);
    if (lo >= n - 1) return binned_order(h, n - 1);
    lo_v = binned_order(h, lo);
    hi_v = binned_order(h, lo + 1);
    return lo_v + (x - (double)lo) * (hi_v - lo_v);
}

static void binned_add_quantiles3(Results *res, const char *name, Binned *h) {
    char key[300];
    snprintf(key, sizeof key, "%s.median", name);
    results_set(res, key, binned_quantile(h, 0.5));
    snprintf(key, sizeof key, "%s.q12_5", name);
    results_set(res, key, binned_quantile(h, 0.125));
    snprintf(key, sizeof key, "%s.q87_5", name);
    results_set(res, key, binned_quantile(h, 0.875));
}

/* ------------------------------------------------------------------------ */
/* The clean-pass unit                                                       */
/* ------------------------------------------------------------------------ */

typedef struct {
    ScanShape sh;
    int lo, hi;           /* this pass's sources [lo, hi) (ExpInputs.scan_first/scan_end) */
    int n_gpairs;         /* their pairs: the stores below hold only this pass's sources */
    int *first;           /* [n_src]: first later source of w */
    int *pair0;           /* [n_src]: index of w's first pair among this pass's pairs (w in [lo, hi)) */
    int exact;            /* pairs stored exactly */
    Samples *resid;       /* [(hi - lo) * n_loc]: PR(resid_k, s) at (s - lo) * n_loc + k */
    Samples *pair;        /* [n_gpairs] exact pairs, or one batch's when binned */
    Binned *bins;         /* [n_gpairs] when binned */
    int n_rows, T, batch_rows; /* the clean pass's: the binned cleaners' pass repeats it */
    PrPlan plan;          /* per position: the locations, then every source (ScanCtx) */
    Samples **targets;    /* [plan.n_values]: where each of the plan's values goes */
    int *n_cl;            /* [n_src]: number of cleaners of w */
    int *cl;              /* [n_src * SCAN_MAX_CLEANERS]: w's cleaners, later-node offsets */
    /* Binned: the pilot and the candidate cleaners (scan_extras, keep_candidates) */
    int hold_rows;        /* rows the lists of pair hold: the pilot's batches are not poured */
    size_t room, room_all; /* floats the candidates' stores may still take, may take in all */
    int rows_seen;        /* rows of the pass so far */
    int lists_from;       /* the first row the lists of pair hold */
    int late;             /* ExpInputs.scan_candidates > 0: the pilot's rows are not kept (tests) */
    int pilot_done, next_check; /* the candidates are reviewed when rows_seen reaches next_check */
    Samples *cand;        /* [n_gpairs]: the kept pairs' samples from row cand_from (values NULL: not kept) */
    int *cand_from;       /* [n_gpairs] */
    int *second_pass;     /* [n_src]: scan_cleaners_pass sums w's cleaners over rows [0, second_pass[w]) */
} Scan;

/* How the binned scan uses the memory it may use beyond its stores. */
typedef struct {
    int hold_rows; /* rows the lists of pair hold: the pilot's whole batches (at least one) */
    size_t slots;  /* candidate stores of n_rows x T floats */
} ScanExtras;

/* The binned scan of n_gpairs pairs of n_writers writers, over n_rows rows of T tokens,
 * batch_rows at a time, with in->scan_spare_bytes: the pilot (up to SCAN_PILOT_ROWS rows in
 * whole batches, at most half the spare), then the candidates' stores (at most
 * SCAN_SLOTS_PER_WRITER per writer). Nothing spare (or in->scan_candidates < 0): a pilot of
 * one batch and no candidates, every cleaners' sum by the second pass. */
static void scan_extras(const ExpInputs *in, size_t n_gpairs, int n_writers, int n_rows, int T, int batch_rows,
                        ScanExtras *x) {
    const size_t pilot_batch = n_gpairs * (size_t)batch_rows * T * sizeof(float);
    const size_t slot = (size_t)n_rows * T * sizeof(float);
    size_t spare = in->scan_spare_bytes, more = 0;
    x->slots = 0;
    if (in->scan_candidates >= 0 && n_writers > 0 && slot > 0 && spare / slot > 0) {
        more = (size_t)((SCAN_PILOT_ROWS + batch_rows - 1) / batch_rows - 1); /* batches after the first */
        if (pilot_batch && more > spare / 2 / pilot_batch) more = spare / 2 / pilot_batch;
        spare -= more * pilot_batch;
        x->slots = spare / slot;
        if (x->slots > (size_t)SCAN_SLOTS_PER_WRITER * n_writers) x->slots = (size_t)SCAN_SLOTS_PER_WRITER * n_writers;
    }
    x->hold_rows = (int)((1 + more) * batch_rows < (size_t)n_rows ? (1 + more) * batch_rows : (size_t)n_rows);
}

typedef struct {
    const ExpInputs *in;
    const Scan *s;
} ScanCtx;

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

/* The sources of this pass: ExpInputs.scan_first..scan_end, all when scan_end is 0. */
static void scan_range(const ExpInputs *in, const ScanShape *sh, int *lo, int *hi) {
    *lo = in->scan_end > 0 ? in->scan_first : 0;
    *hi = in->scan_end > 0 && in->scan_end < sh->n_src ? in->scan_end : sh->n_src;
}

int exp_scan_sources(const ModelConfig *c) {
    ScanShape sh;
    scan_shape(&sh, c->n_layers, c->n_heads, c->attn_only);
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
    const ScanCtx *x = ctx;
    const Model *m = x->in->model;
    const Scan *s = x->s;
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
    s->resid = samples_array((size_t)(s->hi - s->lo) * s->sh.n_loc, n_samples);
    s->exact = scan_exact(in, &s->sh, n_samples);
    if (s->exact) {
        s->pair = samples_array((size_t)s->n_gpairs, n_samples);
    } else {
        ScanExtras x;
        size_t k;
        int n_writers = 0;
        for (w = s->lo; w < s->hi; w++) n_writers += s->first[w] < s->sh.n_src;
        scan_extras(in, (size_t)s->n_gpairs, n_writers, n_rows, T, batch_rows, &x);
        s->hold_rows = x.hold_rows;
        s->room = s->room_all = x.slots * n_samples;
        s->late = in->scan_candidates > 0;
        s->pair = samples_array((size_t)s->n_gpairs, (size_t)s->hold_rows * T); /* the pilot, then one batch */
        s->bins = xalloc_array((size_t)s->n_gpairs, sizeof *s->bins, "scan histograms");
        for (k = 0; k < (size_t)s->n_gpairs; k++) binned_init(&s->bins[k]);
        s->cand = xalloc_array((size_t)s->n_gpairs, sizeof *s->cand, "scan");
        s->cand_from = xalloc_array((size_t)s->n_gpairs, sizeof *s->cand_from, "scan");
        s->second_pass = xalloc_array((size_t)s->sh.n_src, sizeof *s->second_pass, "scan");
    }
    scan_plan(s);
    s->n_rows = n_rows;
    s->T = T;
    s->batch_rows = batch_rows;
    s->n_cl = xalloc_array((size_t)s->sh.n_src, sizeof *s->n_cl, "scan");
    s->cl = xalloc_array((size_t)s->sh.n_src * SCAN_MAX_CLEANERS, sizeof *s->cl, "scan");
    return s;
}

/* Binned: moves the batch's pair samples into the histograms, then empties the lists. */
static void scan_pour(Scan *s) {
    int k;
    size_t i;
    for (k = 0; k < s->n_gpairs; k++) {
        for (i = 0; i < s->pair[k].count; i++) binned_add(&s->bins[k], s->pair[k].values[i]);
        s->bins[k].n_nan += s->pair[k].n_nan;
        s->pair[k].count = 0;
        s->pair[k].n_nan = 0;
    }
}

/* A possible candidate: pair k (w's later node k - pair0[w]) and its median so far relative
 * to w's threshold so far (-1: at the threshold, below -1: a cleaner so far). */
typedef struct {
    double rel;
    int pair, writer;
    int core;   /* among w's cleaners so far (pick_cleaners' rule) */
    int n_core; /* w's number of those */
} Candidate;

/* Whole writers first, those needing the fewest candidates first: a writer's sum comes from
 * the candidates only if all its cleaners are kept. */
static int compare_writers(const void *a, const void *b) {
    const Candidate *x = a, *y = b;
    if (x->n_core != y->n_core) return x->n_core - y->n_core;
    if (x->writer != y->writer) return x->writer - y->writer;
    return x->pair - y->pair;
}

/* Then the others nearest the threshold, where the medians so far are least sure. */
static int compare_margin(const void *a, const void *b) {
    const Candidate *x = a, *y = b;
    double dx = fabs(x->rel + 1), dy = fabs(y->rel + 1);
    if (dx != dy) return dx < dy ? -1 : 1;
    return x->pair - y->pair;
}

/* The possible candidates from med (a median so far per pair of this pass): per writer, the
 * later nodes whose median is at or below SCAN_CANDIDATE_MARGIN x the writer's threshold
 * (pick_cleaners' rule on these medians), at most SCAN_CANDIDATES_PER_WRITER, most negative
 * first. all has room for n_gpairs; returns their number. */
static int list_candidates(const Scan *s, const double *med_pairs, const double *low_pairs, Candidate *all) {
    int w, k, n_all = 0, idx[SCAN_MAX_CLEANERS];
    char listed[256];
    for (w = s->lo; w < s->hi; w++) {
        const double *med = med_pairs + s->pair0[w], *low = low_pairs + s->pair0[w];
        int n_later = s->sh.n_src - s->first[w], n_w = 0, n_c, w0 = n_all;
        double threshold;
        if (n_later <= 0) continue;
        if (n_later > 256) die(EXIT_INTERNAL, "scan: too many nodes");
        n_c = pick_cleaners(med, n_later, idx);
        if (n_c == 0 && most_negative(med, n_later, idx) == 0) continue;
        threshold = -med[idx[0]] * SCAN_CLEANER_RELATIVE; /* pick_cleaners' threshold */
        if (threshold < SCAN_CLEANER_THRESHOLD) threshold = SCAN_CLEANER_THRESHOLD;
        memset(listed, 0, sizeof listed);
        while (n_w < SCAN_CANDIDATES_PER_WRITER) { /* the most negative first, as most_negative */
            int best = -1;
            for (k = 0; k < n_later; k++)
                if (!listed[k] && low[k] <= -SCAN_CANDIDATE_MARGIN * threshold && (best < 0 || med[k] < med[best]))
                    best = k;
            if (best < 0) break;
            listed[best] = 1;
            all[n_all].rel = med[best] / threshold;
            all[n_all].pair = s->pair0[w] + best;
            all[n_all].writer = w;
            all[n_all].core = n_w < n_c; /* pick_cleaners' are the first n_c of this order */
            n_all++;
            n_w++;
        }
        for (k = w0; k < n_all; k++) all[k].n_core = n_c;
    }
    return n_all;
}

/* Starts pair k's store at row from (its samples from the next batch on; the pilot's: from 0). */
static void keep_pair(Scan *s, int k, int from) {
    Samples *c = &s->cand[k];
    size_t cap = (size_t)(s->n_rows - from) * s->T;
    samples_init(c);
    c->values = xalloc_array(cap ? cap : 1, sizeof(float), "scan candidates");
    c->cap = cap;
    s->cand_from[k] = from;
    s->room -= cap;
}

static void drop_pair(Scan *s, int k) {
    s->room += s->cand[k].cap;
    samples_free(&s->cand[k]);
    samples_init(&s->cand[k]);
}

/* Kept pairs in the order they are given up to make room: the largest median first. */
static int compare_drop(const void *a, const void *b) {
    const Candidate *x = a, *y = b;
    if (x->rel != y->rel) return x->rel > y->rel ? -1 : 1;
    return x->pair - y->pair;
}

/* The candidates to keep, from the listed ones (all, reordered): as many as there are slots,
 * the writers' cleaners so far first (writer by writer, fewest first, a writer only when all of
 * its fit), then the others nearest the threshold, of the writers taken whole or with no
 * cleaner so far. Those kept and not wanted are dropped only as their room is needed (the
 * largest median first: a store dropped and kept again later misses the rows in between),
 * then the wanted ones not kept start their stores at row from, as the room allows. */
static void keep_candidates(Scan *s, Candidate *all, int n_all, int from, const double *med) {
    const size_t cost = (size_t)(s->n_rows - from) * s->T, slot = (size_t)s->n_rows * s->T;
    size_t left = slot ? s->room_all / slot : 0, need = 0;
    char *want = xalloc_array((size_t)s->n_gpairs + 1, 1, "scan");
    Candidate *drop = xalloc_array((size_t)s->n_gpairs + 1, sizeof *drop, "scan");
    int k, j, n_core = 0, n_m = 0, n_drop = 0;
    for (k = 0; k < n_all; k++) /* the cores first */
        if (all[k].core) {
            Candidate t = all[n_core];
            all[n_core++] = all[k];
            all[k] = t;
        }
    qsort(all, (size_t)n_core, sizeof *all, compare_writers);
    for (k = 0; k < n_core;) {
        int end = k + all[k].n_core;
        if ((size_t)(end - k) <= left) {
            for (j = k; j < end; j++) want[all[j].pair] = 1;
            left -= (size_t)(end - k);
        }
        k = end;
    }
    for (k = n_core; k < n_all; k++) { /* the others of the writers taken whole or with no core */
        int whole = 1;
        for (j = 0; j < n_core && whole; j++)
            if (all[j].writer == all[k].writer && !want[all[j].pair]) whole = 0;
        if (whole) all[n_core + n_m++] = all[k];
    }
    qsort(all + n_core, (size_t)n_m, sizeof *all, compare_margin);
    for (k = n_core; k < n_core + n_m && left > 0; k++, left--) want[all[k].pair] = 1;
    for (k = 0; k < n_all; k++) need += want[all[k].pair] && !s->cand[all[k].pair].values ? cost : 0;
    /* room for them: the stores not wanted, the largest median first */
    for (k = 0; k < s->n_gpairs; k++)
        if (s->cand[k].values && !want[k]) {
            drop[n_drop].pair = k;
            drop[n_drop++].rel = isnan(med[k]) ? HUGE_VAL : med[k];
        }
    qsort(drop, (size_t)n_drop, sizeof *drop, compare_drop);
    for (k = 0; k < n_drop && s->room < need; k++) drop_pair(s, drop[k].pair);
    for (k = 0; k < n_core + n_m && s->room >= cost && cost > 0; k++)
        if (want[all[k].pair] && !s->cand[all[k].pair].values) keep_pair(s, all[k].pair, from);
    free(drop);
    free(want);
}

/* Quantiles qs[0..nq) of pair k into out, without disturbing the order of its samples:
 * from the exact samples its list holds (from_list: the exact pairs, or the pilot's rows
 * of binned ones; sorted in a copy), else from its histogram. */
static void pair_quantiles(const Scan *s, int k, int from_list, const double *qs, int nq, double *out) {
    int j;
    if (from_list) {
        const Samples *p = &s->pair[k];
        Samples copy = *p;
        copy.values = xalloc_array(p->count ? p->count : 1, sizeof(float), "scan");
        memcpy(copy.values, p->values, p->count * sizeof(float));
        for (j = 0; j < nq; j++) out[j] = samples_quantile(&copy, qs[j]);
        free(copy.values);
    } else {
        for (j = 0; j < nq; j++) out[j] = binned_quantile(&s->bins[k], qs[j]);
    }
}

/* The candidates (list_candidates, keep_candidates) from every pair's median and
 * SCAN_CANDIDATE_QUANTILE: at the end of the pilot from the exact samples the lists hold
 * (the pilot's rows; stores start at row 0, unless s->late, the same values in the same
 * order as the lists of an exact run), at a later review from the histograms so far (new
 * stores start at the next row). */
static void scan_choose_candidates(Scan *s, int pilot) {
    static const double qs[2] = {0.5, SCAN_CANDIDATE_QUANTILE};
    Candidate *all = xalloc_array((size_t)s->n_gpairs + 1, sizeof *all, "scan");
    double *med = xalloc_array((size_t)s->n_gpairs + 1, sizeof *med, "scan");
    double *low = xalloc_array((size_t)s->n_gpairs + 1, sizeof *low, "scan");
    double v[2];
    int k, n_all;
    for (k = 0; k < s->n_gpairs; k++) {
        pair_quantiles(s, k, pilot, qs, 2, v);
        med[k] = v[0];
        low[k] = v[1];
    }
    n_all = list_candidates(s, med, low, all);
    keep_candidates(s, all, n_all, pilot && !s->late ? 0 : s->rows_seen, med);
    free(low);
    free(med);
    free(all);
}

/* Binned, after each batch: the pilot's rows stay in the lists of pair until the pilot ends
 * (the candidates are picked then); the candidates' samples are copied before the lists
 * are poured into the histograms; the candidates are reviewed after each quarter more
 * rows (at least a batch). */
static void scan_binned_batch(Scan *s, int n_rows) {
    int k;
    size_t i;
    s->rows_seen += n_rows;
    if (!s->pilot_done) {
        int left = s->n_rows - s->rows_seen; /* the pilot's rows are all in the lists */
        if (left > 0 && s->rows_seen + (left < s->batch_rows ? left : s->batch_rows) <= s->hold_rows) return;
        scan_choose_candidates(s, 1);
        s->pilot_done = 1;
        s->next_check = s->rows_seen;
    }
    for (k = 0; k < s->n_gpairs; k++) {
        const Samples *p = &s->pair[k];
        Samples *c = &s->cand[k];
        if (!c->values || s->cand_from[k] > s->lists_from) continue; /* it starts after these rows */
        for (i = 0; i < p->count; i++) samples_add(c, p->values[i]);
        c->n_nan += p->n_nan;
    }
    scan_pour(s);
    s->lists_from = s->rows_seen;
    if (s->rows_seen >= s->next_check && s->rows_seen < s->n_rows && s->room_all > 0) {
        if (s->rows_seen > s->hold_rows) scan_choose_candidates(s, 0);
        s->next_check = s->rows_seen + (s->rows_seen / 4 > s->batch_rows ? s->rows_seen / 4 : s->batch_rows);
    }
}

static void scan_batch(void *state, const ExpInputs *in, ExpBatch *b) {
    Scan *s = state;
    ScanCtx ctx;
    ctx.in = in;
    ctx.s = s;
    collect_prs(in->model, b->acts, &s->plan, scan_vectors, &ctx, s->targets);
    if (!s->exact) scan_binned_batch(s, b->acts->n_rows);
}

/* Medians of w's pairs (without disturbing the samples' order: the cleaners' sum needs it). */
static void pair_medians(Scan *s, int w, double *med) {
    static const double half = 0.5;
    int k, n_later = s->sh.n_src - s->first[w];
    for (k = 0; k < n_later; k++) pair_quantiles(s, s->pair0[w] + k, s->exact, &half, 1, &med[k]);
}

/* The rows [0, R) whose samples of w's cleaners no candidate store holds (binned): 0 when the
 * stores hold them all (every cleaner kept, without NaN: then they are the values the exact
 * pairs and the second pass hold), n_rows when a cleaner was not kept at the end. */
static int rows_missing(const Scan *s, int w) {
    int c, R = 0;
    for (c = 0; c < s->n_cl[w]; c++) {
        int k = s->pair0[w] + s->cl[w * SCAN_MAX_CLEANERS + c];
        if (!s->cand[k].values || s->cand[k].count != (size_t)(s->n_rows - s->cand_from[k]) * s->T) return s->n_rows;
        if (s->cand_from[k] > R) R = s->cand_from[k];
    }
    return R;
}

/* Adds to sum the cleaners' sums of w at rows [from, n_rows) from the candidates' stores
 * (rows_missing(s, w) <= from). */
static void sum_from_candidates(const Scan *s, int w, int from, Samples *sum) {
    const float *v[SCAN_MAX_CLEANERS];
    size_t i, n = (size_t)(s->n_rows - from) * s->T;
    int c, n_c = s->n_cl[w];
    for (c = 0; c < n_c; c++) {
        int k = s->pair0[w] + s->cl[w * SCAN_MAX_CLEANERS + c];
        v[c] = s->cand[k].values + (size_t)(from - s->cand_from[k]) * s->T;
    }
    for (i = 0; i < n; i++) {
        double acc = 0;
        for (c = 0; c < n_c; c++) acc += v[c][i];
        samples_add(sum, (float)acc);
    }
}

/* scan.{w}.n_cleaners; w's cleaners into s->cl; scan.{w}.cleaners_sum.* from the stored
 * samples: the exact pairs', or with binned pairs the candidates' when they hold every
 * sample of the cleaners; otherwise w is marked for scan_cleaners_pass (rows_missing). */
static void scan_cleaners(Scan *s, int w, const char *wname, Results *res) {
    int n_later = s->sh.n_src - s->first[w], *idx = s->cl + w * SCAN_MAX_CLEANERS, n_c, c;
    double med[256];
    char name[128];
    if (n_later > 256) die(EXIT_INTERNAL, "scan: too many nodes");
    pair_medians(s, w, med);
    n_c = s->n_cl[w] = pick_cleaners(med, n_later, idx);
    snprintf(name, sizeof name, "scan.%s.n_cleaners", wname);
    results_set(res, name, n_c);
    if (n_c == 0) return;
    snprintf(name, sizeof name, "scan.%s.cleaners_sum", wname);
    if (s->exact) {
        Samples sum;
        size_t i, n = s->pair[s->pair0[w]].count;
        samples_init(&sum);
        for (i = 0; i < n; i++) {
            double acc = 0;
            for (c = 0; c < n_c; c++) acc += s->pair[s->pair0[w] + idx[c]].values[i];
            samples_add(&sum, (float)acc);
        }
        add_quantiles3(res, name, &sum);
        samples_free(&sum);
    } else if ((s->second_pass[w] = rows_missing(s, w)) == 0) {
        Samples sum;
        samples_init(&sum);
        sum_from_candidates(s, w, 0, &sum);
        add_quantiles3(res, name, &sum);
        samples_free(&sum);
    }
}

typedef struct {
    const ExpInputs *in;
    const Scan *s;
    int last_stage; /* the pass computes the sources up to this stage */
} CleanersCtx;

static void scan_hooks(const ExpInputs *in, HookRequest *req);

/* At (b, t): every source the cleaners' pass computes (vector i for source i; NULL for those it does not). */
static void cleaners_vectors(const void *ctx, const Activations *a, int b, int t, const float **vec, float *scratch) {
    const CleanersCtx *x = ctx;
    const Scan *s = x->s;
    int i;
    (void)scratch;
    for (i = 0; i < s->sh.n_src; i++)
        vec[i] = src_stage(&s->sh, i) <= x->last_stage ? src_vector(x->in->model, a, &s->sh, i, b, t) : NULL;
}

/* Binned pairs: scan.{w}.cleaners_sum.* of the writers marked by scan_cleaners, from a
 * second pass over the clean pass's rows (same batches) up to the last layer holding a
 * cleaner: over the rows [0, R) that the candidates' stores miss for some of them, the
 * other rows from the stores. The sums equal the exact path's. Returns R (0: no pass). */
static int scan_cleaners_pass(Scan *s, const ExpInputs *in, Results *res) {
    const Model *m = in->model;
    const size_t BT = (size_t)s->batch_rows * s->T;
    int *writers = xalloc_array((size_t)s->sh.n_src, sizeof *writers, "scan");
    Samples *sums;
    PrPlan plan;
    float *pr;
    HookRequest keep;
    Activations a;
    ForwardOptions opt = forward_options_default();
    CleanersCtx ctx;
    Error err;
    char name[128], wname[32];
    int w, c, n_w = 0, row, last_stage = 0, R = 0;
    size_t bt;
    for (w = 0; w < s->sh.n_src; w++)
        if (s->n_cl[w] > 0 && s->second_pass[w]) {
            writers[n_w++] = w;
            if (s->second_pass[w] > R) R = s->second_pass[w];
            for (c = 0; c < s->n_cl[w]; c++) {
                int st = src_stage(&s->sh, s->first[w] + s->cl[w * SCAN_MAX_CLEANERS + c]);
                if (st > last_stage) last_stage = st;
            }
        }
    if (n_w > 0) {
        /* group i: writer i's cleaners projected onto it, most negative first (the order of the exact path's sum) */
        pr_plan_init(&plan, s->sh.n_src, n_w, n_w * SCAN_MAX_CLEANERS);
        for (w = 0; w < n_w; w++) {
            pr_plan_group(&plan, writers[w]);
            for (c = 0; c < s->n_cl[writers[w]]; c++)
                pr_plan_target(&plan, s->first[writers[w]] + s->cl[writers[w] * SCAN_MAX_CLEANERS + c]);
        }
        pr = xalloc_array(BT * plan.n_values, sizeof *pr, "scan");
        sums = samples_array((size_t)n_w, (size_t)s->n_rows * s->T);
        memset(&keep, 0, sizeof keep);
        scan_hooks(in, &keep);
        if (activations_alloc_hooks(&a, m, s->batch_rows, s->T, &keep, &err))
            die(EXIT_INTERNAL, "scan: the cleaners' pass: %s", err.msg);
        opt.compute_logits = 0;
        opt.stop_after_layer = (last_stage - 1) / 2; /* the layer of stage 2l + 1 or 2l + 2 */
        ctx.in = in;
        ctx.s = s;
        ctx.last_stage = last_stage;
        snprintf(name, sizeof name, "scan: the cleaners' summed PR of %d writer%s", n_w, n_w > 1 ? "s" : "");
        progress_begin(name, R);
        for (row = 0; row < R; row += s->batch_rows) {
            int n = R - row < s->batch_rows ? R - row : s->batch_rows;
            model_forward(m, &a, in->data->tokens + (size_t)row * s->T, n, s->T, &opt);
            batch_prs(m, &a, &plan, cleaners_vectors, &ctx, pr);
            for (bt = 0; bt < (size_t)n * s->T; bt++)
                for (w = 0; w < n_w; w++) {
                    double acc = 0;
                    for (c = plan.start[w]; c < plan.start[w + 1]; c++) acc += pr[bt * plan.n_values + c];
                    samples_add(&sums[w], (float)acc);
                }
            progress_update(row + n);
        }
        progress_end();
        activations_free(&a);
        for (w = 0; w < n_w; w++) {
            if (R < s->n_rows) sum_from_candidates(s, writers[w], R, &sums[w]); /* rows_missing <= R */
            src_name(&s->sh, writers[w], wname, sizeof wname);
            snprintf(name, sizeof name, "scan.%s.cleaners_sum", wname);
            add_quantiles3(res, name, &sums[w]);
        }
        samples_array_free(sums, (size_t)n_w);
        free(pr);
        pr_plan_free(&plan);
    }
    free(writers);
    return R;
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

/* The resid x node quantiles (five) and, when exact, the pairs' (three), all series at once
 * in parallel; the binned pairs' quantiles. */
static void scan_quantiles(Scan *s, Results *res, size_t *n_nan) {
    const ScanShape *sh = &s->sh;
    const int n_res = (s->hi - s->lo) * sh->n_loc;
    char(*name)[96] = xalloc_array((size_t)n_res + s->n_gpairs, sizeof *name, "scan");
    const char **names = xalloc_array((size_t)n_res + s->n_gpairs, sizeof *names, "scan");
    Samples **series = xalloc_array((size_t)n_res + s->n_gpairs, sizeof *series, "scan");
    char wname[32], nname[32], loc[32];
    int i, k, n, n_pairs = 0;
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
        for (n = s->first[i]; n < sh->n_src; n++) {
            const int p = s->pair0[i] + n - s->first[i], j = n_res + p;
            src_name(sh, n, nname, sizeof nname);
            snprintf(name[j], sizeof name[j], "scan.%s.%s", wname, nname);
            names[j] = name[j];
            if (s->exact) {
                series[j] = &s->pair[p];
                *n_nan += s->pair[p].n_nan;
                n_pairs++;
            } else {
                *n_nan += s->bins[p].n_nan;
                binned_add_quantiles3(res, name[j], &s->bins[p]);
            }
        }
    }
    results_add_quantiles_of(res, names, series, n_res, results_q5, results_q5_names, 5);
    results_add_quantiles_of(res, names + n_res, series + n_res, n_pairs, quantiles3, quantiles3_names, 3);
    free(name);
    free(names);
    free(series);
}

static void scan_finish(void *state, const ExpInputs *in, Results *res, Points *points) {
    Scan *s = state;
    const ScanShape *sh = &s->sh;
    size_t n_nan = 0;
    char wname[32];
    double so_far = 0;
    int i, k;
    (void)points;
    for (i = s->lo; i < s->hi; i++) { /* before the pairs are sorted */
        src_name(sh, i, wname, sizeof wname);
        scan_cleaners(s, i, wname, res);
    }
    scan_quantiles(s, res, &n_nan);
    if (!s->exact) {
        int n_cand = 0, from_cand = 0, second = 0, rows = 0, c;
        char *read = xalloc_array((size_t)s->n_gpairs + 1, 1, "scan");
        for (k = 0; k < s->n_gpairs; k++) n_cand += s->cand[k].values != NULL;
        for (i = s->lo; i < s->hi; i++) {
            from_cand += s->n_cl[i] > 0 && !s->second_pass[i];
            second += s->n_cl[i] > 0 && s->second_pass[i];
            if (s->n_cl[i] > 0 && s->second_pass[i] > rows) rows = s->second_pass[i];
        }
        for (i = s->lo; i < s->hi; i++) /* the stores the pass reads (rows after its own) */
            for (c = 0; rows < s->n_rows && s->second_pass[i] && c < s->n_cl[i]; c++)
                read[s->pair0[i] + s->cl[i * SCAN_MAX_CLEANERS + c]] = 1;
        for (k = 0; k < s->n_gpairs; k++) /* the others are given back before it */
            if (s->cand[k].values && !read[k]) drop_pair(s, k);
        free(read);
        rows = scan_cleaners_pass(s, in, res);
        if (in->memory) {
            in->memory->scan_candidates += n_cand;
            in->memory->scan_sums_from_candidates += from_cand;
            in->memory->scan_sums_second_pass += second;
            if (rows > in->memory->scan_second_pass_rows) in->memory->scan_second_pass_rows = rows;
        }
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
    if (s->bins) {
        for (k = 0; k < s->n_gpairs; k++) binned_free(&s->bins[k]);
    }
    free(s->bins);
    pr_plan_free(&s->plan);
    free(s->targets);
    if (s->cand) samples_array_free(s->cand, (size_t)s->n_gpairs);
    free(s->cand_from);
    free(s->second_pass);
    free(s->n_cl);
    free(s->cl);
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
                 ? "binned quantiles within 5e-4; the cleaners' summed PR exact, from the samples of candidate "
                   "cleaners kept on the way or a second pass"
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
 * (exact), or the pilot's batches of pair samples, the histograms, the candidate cleaners'
 * stores (scan_extras: from in->scan_spare_bytes) and, for the cleaners' second pass, one
 * summed PR per sample and writer (binned). The second pass's activations are fewer than
 * the clean pass's, which are freed before it. */
static size_t scan_memory(const ExpInputs *in, int n_rows, int T, int batch_rows) {
    const ModelConfig *c = &in->model->cfg;
    const size_t n_samples = (size_t)n_rows * T;
    size_t bytes, n_gpairs = 0;
    ScanShape sh;
    ScanExtras x;
    int lo, hi, w, n_writers = 0;
    scan_shape(&sh, c->n_layers, c->n_heads, c->attn_only);
    sh.n_pairs = count_pairs(&sh);
    scan_range(in, &sh, &lo, &hi);
    for (w = lo; w < hi; w++) {
        n_gpairs += (size_t)(sh.n_src - first_later(&sh, w));
        n_writers += first_later(&sh, w) < sh.n_src;
    }
    bytes = (size_t)(hi - lo) * sh.n_loc * n_samples * sizeof(float);
    if (scan_exact(in, &sh, n_samples)) return bytes + n_gpairs * n_samples * sizeof(float);
    scan_extras(in, n_gpairs, n_writers, n_rows, T, batch_rows, &x);
    return bytes + n_gpairs * (size_t)x.hold_rows * T * sizeof(float) + n_gpairs * SCAN_BINS * sizeof(uint32_t) +
           ((size_t)n_writers + x.slots) * n_samples * sizeof(float);
}

const Experiment experiment_scan = {
    "scan", "the full-model scan: every node's PR along the residual stream, who erases whom",
    "Scan: every node, who erases whom",
    0, 0, scan_check, scan_begin, scan_batch, scan_finish, scan_end, NULL,
    scan_write_figures, scan_report_section, scan_outputs, scan_figures,
    REF_MODEL | REF_PROCESSED | REF_ROWS | REF_SEQ_LEN,
    scan_hooks,
    scan_memory,
};
