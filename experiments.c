/* experiments.c - the table of experiment units, the clean pass that feeds them,
 * and the measurements they share. docs/PROTOCOL.md sections 3-6 (EXPERIMENTS.md) are
 * the specification; each unit (exp_*.c) follows its section. */
#include "experiments.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "progress.h"

/* exp_default_budget(): the working memory every run gets, and the most the weights add. */
#define EXP_BUDGET_BASE ((size_t)44 << 20)
#define EXP_BUDGET_MAX ((size_t)1152 << 20)
/* What the budget sets aside for the program itself: code, C library and OpenMP runtime,
 * thread stacks, the tokenizer, small scratch (about 15 MB of RSS on Linux x86-64). */
#define EXP_PROGRAM_BYTES ((size_t)16 << 20)
/* Positions whose projection ratios are computed at once (in parallel) before being
 * appended to their Samples; bounds the scratch to EXP_STAT_CHUNK x statistics floats
 * (2.7 MB at paper scale, 1300 statistics). Each chunk ends twice with a barrier, where one
 * thread waits for the other's last block: 256 positions a chunk gave 8 of those a row
 * (about 1% of both threads' time at paper scale), 512 gives 4 (a third of that waiting
 * left in a 60-row profile; 1024, a quarter, for 2.7 MB more). */
#define EXP_STAT_CHUNK 512

/* ------------------------------------------------------------------------ */
/* The units                                                                 */
/* ------------------------------------------------------------------------ */

/* In the paper's order; bit i of the EXP_* constants selects entry i. */
static const Experiment *const units[] = {
    &experiment_fig1, &experiment_fig2, &experiment_fig3, &experiment_fig4, &experiment_fig5, &experiment_sec32,
    &experiment_scan,
};
#define N_UNITS ((int)(sizeof units / sizeof units[0]))
/* Every unit has a bit of an unsigned (EXP_*). */
typedef char units_fit_in_the_bits[N_UNITS <= 16 ? 1 : -1];

const Experiment *const *experiment_list(int *count) {
    *count = N_UNITS;
    return units;
}

const Experiment *experiment_find(const char *name, unsigned *bit) {
    int i;
    for (i = 0; i < N_UNITS; i++)
        if (strcmp(units[i]->name, name) == 0) {
            if (bit) *bit = 1u << i;
            return units[i];
        }
    return NULL;
}

unsigned experiment_depends_on(const char *metric) {
    const char *dot = strchr(metric, '.');
    int i;
    for (i = 0; dot && i < N_UNITS; i++)
        if (strlen(units[i]->name) == (size_t)(dot - metric) && strncmp(units[i]->name, metric, (size_t)(dot - metric)) == 0)
            return units[i]->depends_on;
    return REF_MODEL | REF_WRITER | REF_CLEANERS | REF_PROMPTS | REF_ROWS | REF_SEQ_LEN | REF_PROCESSED;
}

size_t exp_fixed_bytes(const Model *m, const Dataset *ds) {
    size_t rows = ds ? (size_t)ds->n_rows * ds->seq_len * sizeof(int) : 0;
    return EXP_PROGRAM_BYTES + (model_param_count(m) + model_packed_floats(m)) * sizeof(float) + rows;
}

size_t exp_default_budget(const Model *m, const Dataset *ds) {
    size_t fixed = exp_fixed_bytes(m, ds), weights = exp_fixed_bytes(m, NULL) - EXP_PROGRAM_BYTES, extra = 4 * weights + weights / 2;
    if (extra > EXP_BUDGET_MAX) extra = EXP_BUDGET_MAX;
    return fixed + EXP_BUDGET_BASE + extra;
}

size_t exp_batch_bytes(const Model *m, const Dataset *ds, size_t max_memory) {
    size_t budget = max_memory ? max_memory : exp_default_budget(m, ds), fixed = exp_fixed_bytes(m, ds);
    return budget > fixed ? budget - fixed : 1;
}

unsigned experiment_all(void) {
    return (1u << N_UNITS) - 1;
}

/* ------------------------------------------------------------------------ */
/* Small helpers                                                             */
/* ------------------------------------------------------------------------ */

void points_init(Points *p) {
    memset(p, 0, sizeof *p);
}

void points_add(Points *p, double x, double y) {
    if (p->n == p->cap) {
        size_t ncap = p->cap ? p->cap * 2 : 1024;
        double *nx = realloc(p->x, ncap * sizeof *nx), *ny;
        if (!nx) die(EXIT_INTERNAL, "out of memory collecting points");
        p->x = nx;
        ny = realloc(p->y, ncap * sizeof *ny);
        if (!ny) die(EXIT_INTERNAL, "out of memory collecting points");
        p->y = ny;
        p->cap = ncap;
    }
    p->x[p->n] = x;
    p->y[p->n] = y;
    p->n++;
}

void points_free(Points *p) {
    free(p->x);
    free(p->y);
    memset(p, 0, sizeof *p);
}

/* x.y in double in dot_rows' order (kernels.h): DOT_CHAINS chains, chain l summing
 * x[d] y[d] for d = l mod DOT_CHAINS in d order, combined pairwise. */
static double dot_in_chains(const float *x, const float *y, int D) {
    double c[DOT_CHAINS] = {0};
    int d;
    for (d = 0; d < D; d++) c[d % DOT_CHAINS] += (double)x[d] * y[d];
    return ((c[0] + c[1]) + (c[2] + c[3])) + ((c[4] + c[5]) + (c[6] + c[7]));
}

double projection_ratio(const float *a, const float *b, int D) {
    const double ab = dot_in_chains(a, b, D), bb = dot_in_chains(b, b, D);
    if (bb == 0) return NAN;
    return ab / bb;
}

/* The float sample of a projection ratio from its two dot products, as
 * (float)projection_ratio(a, b, D) returns it (collect_prs). */
static float pr_sample(double ab, double bb) {
    if (bb == 0) return NAN;
    return (float)(ab / bb);
}

double direct_logit_attribution(const float *r, int D, float scale, const float *lnf_w, const float *u) {
    double mean = 0, acc = 0;
    int d;
    for (d = 0; d < D; d++) mean += r[d];
    mean /= D;
    for (d = 0; d < D; d++) acc += (r[d] - mean) * (lnf_w ? (double)lnf_w[d] : 1.0) * u[d];
    return acc / scale;
}

/* Rows of W_U gathered at once by unembed_directions (16 floats: one cache line of each
 * direction per block). */
#define UNEMBED_ROWS 16

void unembed_directions(const Model *m, const int *c, const int *i, int n, float *u) {
    const int D = m->cfg.d_model, V = m->cfg.d_vocab, n_blocks = (D + UNEMBED_ROWS - 1) / UNEMBED_ROWS;
    int blk;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (n >= 64)
#endif
    for (blk = 0; blk < n_blocks; blk++) {
        const int d0 = blk * UNEMBED_ROWS, d1 = D - d0 < UNEMBED_ROWS ? D : d0 + UNEMBED_ROWS;
        int p, d;
        for (p = 0; p < n; p++) {
            const float *wc = m->W_U + c[p];
            float *up = u + (size_t)p * D;
            if (i && i[p] >= 0)
                for (d = d0; d < d1; d++) up[d] = wc[(size_t)d * V] - m->W_U[(size_t)d * V + i[p]];
            else
                for (d = d0; d < d1; d++) up[d] = wc[(size_t)d * V] - 0.0f;
        }
    }
}

void unembed_direction(const Model *m, int c, int i, float *u) {
    unembed_directions(m, &c, &i, 1, u);
}

int parse_head(const Model *m, const char *s, int *layer, int *head, Error *err) {
    long l, h;
    const char *p = s, *hp;
    char lbuf[16];
    size_t n;
    if (*p != 'L' && *p != 'l') return error_set_code(err, EXIT_USAGE, "'%s' is not a head like L0H2", s);
    hp = strpbrk(p + 1, "Hh");
    if (!hp) return error_set_code(err, EXIT_USAGE, "'%s' is not a head like L0H2", s);
    n = (size_t)(hp - (p + 1));
    if (n == 0 || n >= sizeof lbuf) return error_set_code(err, EXIT_USAGE, "'%s' is not a head like L0H2", s);
    memcpy(lbuf, p + 1, n);
    lbuf[n] = '\0';
    if (parse_long(lbuf, 0, 1000000, &l) || parse_long(hp + 1, 0, 1000000, &h))
        return error_set_code(err, EXIT_USAGE, "'%s' is not a head like L0H2", s);
    if (l >= m->cfg.n_layers)
        return error_set_code(err, EXIT_USAGE, "head %s does not exist: the model has %d layers (L0..L%d)", s,
                              m->cfg.n_layers, m->cfg.n_layers - 1);
    if (h >= m->cfg.n_heads)
        return error_set_code(err, EXIT_USAGE, "head %s does not exist: the model has %d heads per layer (H0..H%d)", s,
                              m->cfg.n_heads, m->cfg.n_heads - 1);
    *layer = (int)l;
    *head = (int)h;
    return 0;
}

int exp_heads_check(const Model *m, const ExpHeads *hd, Error *err) {
    int i, j;
    if (hd->writer_layer < 0 || hd->writer_layer >= m->cfg.n_layers || hd->writer_head < 0 ||
        hd->writer_head >= m->cfg.n_heads)
        return error_set_code(err, EXIT_USAGE, "the writer L%dH%d does not exist in this model", hd->writer_layer,
                              hd->writer_head);
    if (hd->n_cleaners < 1) return error_set_code(err, EXIT_USAGE, "no cleaner heads given");
    if (hd->patched_layer < 0 || hd->patched_layer >= m->cfg.n_layers)
        return error_set_code(err, EXIT_USAGE, "the cleaners' layer %d does not exist", hd->patched_layer);
    if (hd->writer_layer >= hd->patched_layer)
        return error_set_code(err, EXIT_USAGE, "the writer L%dH%d must be in a layer below the cleaners' layer %d",
                              hd->writer_layer, hd->writer_head, hd->patched_layer);
    for (i = 0; i < hd->n_cleaners; i++) {
        if (hd->cleaners[i] < 0 || hd->cleaners[i] >= m->cfg.n_heads)
            return error_set_code(err, EXIT_USAGE, "cleaner L%dH%d does not exist", hd->patched_layer, hd->cleaners[i]);
        for (j = 0; j < i; j++)
            if (hd->cleaners[j] == hd->cleaners[i])
                return error_set_code(err, EXIT_USAGE, "cleaner L%dH%d is listed twice", hd->patched_layer,
                                      hd->cleaners[i]);
    }
    return 0;
}

int resid_location_count(int n_layers, int attn_only) {
    return 1 + (attn_only ? 1 : 2) * n_layers;
}

/* Layer of location k (>= 1) and whether it is a resid_mid. */
static void location_of(int attn_only, int k, int *layer, int *is_mid) {
    if (attn_only) {
        *layer = k - 1;
        *is_mid = 0;
    } else {
        *layer = (k - 1) / 2;
        *is_mid = (k - 1) % 2 == 0;
    }
}

void resid_location_name(int attn_only, int k, char *buf, size_t size) {
    int l, mid;
    if (k == 0) {
        snprintf(buf, size, "resid_pre0");
        return;
    }
    location_of(attn_only, k, &l, &mid);
    snprintf(buf, size, "%s%d", mid ? "resid_mid" : "resid_post", l);
}

const float *resid_location_data(const Model *m, const Activations *a, int k) {
    int l, mid;
    if (k == 0) return a->layer[0].resid_pre;
    location_of(m->cfg.attn_only, k, &l, &mid);
    return mid ? a->layer[l].resid_mid : a->layer[l].resid_post;
}

void exp_hooks_resid_locations(const Model *m, HookRequest *req) {
    if (!m->cfg.attn_only) hook_request_add(req, -1, HOOK_BIT(HOOK_RESID_MID));
}

void cleaners_output(float *out, const Model *m, const ExpHeads *hd, const Activations *a, int b, int t) {
    const int D = m->cfg.d_model;
    int c, d;
    for (d = 0; d < D; d++) out[d] = 0;
    for (c = 0; c < hd->n_cleaners; c++)
        add_floats(out, out, hook_result_at(m, a, hd->patched_layer, hd->cleaners[c], b, t), (size_t)D);
}

void head_label(char *buf, size_t size, int l, int h) {
    snprintf(buf, size, "L%dH%d", l, h);
}

const double quantiles3[3] = {0.5, 0.125, 0.875};
const char *const quantiles3_names[3] = {"median", "q12_5", "q87_5"};

void add_quantiles3(Results *res, const char *name, Samples *s) {
    results_add_quantiles_of(res, &name, &s, 1, quantiles3, quantiles3_names, 3);
}

/* The lists never grow by doubling, which would copy them and, at gelu-4l scale,
 * briefly need twice the memory. Their room is not written in advance: zeroing the scan's
 * 420 MB took one thread 0.4 s while the other waited, before the first row. */
Samples *samples_array(size_t n, size_t reserve) {
    Samples *s = xalloc_array(n, sizeof *s, "samples");
    size_t i;
    for (i = 0; i < n; i++) samples_init_reserved(&s[i], reserve);
    return s;
}

void samples_array_free(Samples *s, size_t n) {
    size_t i;
    if (!s) return;
    for (i = 0; i < n; i++) samples_free(&s[i]);
    free(s);
}

/* The linear part of a LayerNorm applied to a vector that is added to the residual:
 * out = (x - mean x) / scale (* w when the model is unprocessed). */
static void normalize_contribution(float *out, const float *x, float scale, const float *w, int D) {
    double mean = 0;
    int d;
    for (d = 0; d < D; d++) mean += x[d];
    mean /= D;
    for (d = 0; d < D; d++) out[d] = (float)((x[d] - mean) / scale) * (w ? w[d] : 1.0f);
}

/* ------------------------------------------------------------------------ */
/* Per-position statistics                                                   */
/* ------------------------------------------------------------------------ */

void pr_plan_init(PrPlan *p, int n_vectors, int max_groups, int max_values) {
    memset(p, 0, sizeof *p);
    p->n_vectors = n_vectors;
    p->cap_groups = max_groups;
    p->cap_values = max_values;
    p->direction = xalloc_array((size_t)(max_groups > 0 ? max_groups : 1), sizeof *p->direction, "projection plan");
    p->start = xalloc_array((size_t)max_groups + 1, sizeof *p->start, "projection plan");
    p->target = xalloc_array((size_t)(max_values > 0 ? max_values : 1), sizeof *p->target, "projection plan");
}

void pr_plan_group(PrPlan *p, int direction) {
    if (p->n_groups >= p->cap_groups || direction < 0 || direction >= p->n_vectors)
        die(EXIT_INTERNAL, "projection plan: group %d (direction %d) out of range", p->n_groups, direction);
    p->direction[p->n_groups++] = direction;
    p->start[p->n_groups] = p->n_values;
}

void pr_plan_target(PrPlan *p, int vector) {
    if (p->n_groups == 0 || p->n_values >= p->cap_values || vector < 0 || vector >= p->n_vectors)
        die(EXIT_INTERNAL, "projection plan: value %d (vector %d) out of range", p->n_values, vector);
    p->target[p->n_values++] = vector;
    p->start[p->n_groups] = p->n_values;
}

void pr_plan_onto_last(PrPlan *p, int n) {
    int k;
    pr_plan_init(p, n + 1, 1, n);
    pr_plan_group(p, n);
    for (k = 0; k < n; k++) pr_plan_target(p, k);
}

void pr_plan_free(PrPlan *p) {
    free(p->direction);
    free(p->start);
    free(p->target);
    memset(p, 0, sizeof *p);
}

/* Positions of a batch whose projection ratios one thread computes at a time: the
 * threads take PR_BLOCK x 2 of them (a cache line of each value's floats), one position
 * after the other, the next one's vectors asked from memory while the current one's are
 * multiplied. */
#define PR_BLOCK 8

/* The queue's plans merged into one plan over the distinct vectors they read: a vector
 * that several plans name (the same array at the batch's first position: Figs 1, 2, 3
 * and the scan read the same hooks) is interleaved once a block of positions, and a
 * (direction, target) pair several plans ask for (Fig 1's are all among the scan's) is
 * computed once. Each plan's values are then the merged plan's, bit for bit: every
 * value is the same pair of double chains whichever group computes it. */
typedef struct {
    PrPlan plan;                          /* over the distinct vectors, each pair once */
    int n_plans;
    int first_vec[EXP_MAX_QUEUED + 1];    /* plan r's vector v is flat vector first_vec[r] + v */
    int first_value[EXP_MAX_QUEUED + 1];  /* plan r's value s is flat value first_value[r] + s */
    int *merged_vector;                   /* [flat vectors] its merged vector */
    int *owner;                           /* [merged vectors] the flat vector that supplies it */
    int *merged_value;                    /* [flat values] its merged value */
} PrMerge;

/* Whether p points into the n floats at base (compared as addresses: the pointers a
 * PositionVectors returns may point anywhere). */
static int points_into(const float *p, const float *base, size_t n) {
    const uintptr_t u = (uintptr_t)p, b0 = (uintptr_t)base;
    return u >= b0 && u < b0 + n * sizeof *base;
}

/* Merges the queue's plans, their vectors identified at the batch's first position
 * (vectors in a plan's scratch are its own). */
static void pr_merge_build(PrMerge *mg, const Model *m, const Activations *a, const PrQueue *q) {
    const int D = m->cfg.d_model;
    int r, i, j, g, k, n_flat = 0, n_values = 0, n_groups = 0, nvm = 0;
    const float **probe;
    float *scratch;
    int *pair;
    mg->n_plans = q->n;
    for (r = 0; r < q->n; r++) {
        const PrPlan *p = q->req[r].plan;
        mg->first_vec[r] = n_flat;
        mg->first_value[r] = n_values;
        n_flat += p->n_vectors;
        n_values += p->n_values;
        n_groups += p->n_groups;
    }
    mg->first_vec[q->n] = n_flat;
    mg->first_value[q->n] = n_values;
    probe = xalloc_array((size_t)(n_flat > 0 ? n_flat : 1), sizeof *probe, "projection ratios");
    scratch = xalloc_array((size_t)q->n * D, sizeof *scratch, "projection ratios");
    mg->merged_vector = xalloc_array((size_t)(n_flat > 0 ? n_flat : 1), sizeof *mg->merged_vector, "projection ratios");
    mg->owner = xalloc_array((size_t)(n_flat > 0 ? n_flat : 1), sizeof *mg->owner, "projection ratios");
    mg->merged_value = xalloc_array((size_t)(n_values > 0 ? n_values : 1), sizeof *mg->merged_value, "projection ratios");
    for (r = 0; r < q->n; r++) q->req[r].fn(q->req[r].ctx, a, 0, 0, probe + mg->first_vec[r], scratch + (size_t)r * D);
    for (i = 0; i < n_flat; i++) {
        const int own = points_into(probe[i], scratch, (size_t)q->n * D);
        for (j = 0; j < i && (own || probe[j] != probe[i] || points_into(probe[j], scratch, (size_t)q->n * D)); j++)
            continue;
        if (j < i) {
            mg->merged_vector[i] = mg->merged_vector[j];
        } else {
            mg->owner[nvm] = i;
            mg->merged_vector[i] = nvm++;
        }
    }
    pair = xalloc_array((size_t)nvm * (nvm > 0 ? nvm : 1), sizeof *pair, "projection ratios");
    for (i = 0; i < nvm * nvm; i++) pair[i] = -1;
    pr_plan_init(&mg->plan, nvm, n_groups, n_values);
    for (r = 0; r < q->n; r++) {
        const PrPlan *p = q->req[r].plan;
        const int *mv = mg->merged_vector + mg->first_vec[r];
        for (g = 0; g < p->n_groups; g++) {
            const int dir = mv[p->direction[g]];
            int any_new = 0;
            for (k = p->start[g]; k < p->start[g + 1]; k++) any_new |= pair[(size_t)dir * nvm + mv[p->target[k]]] < 0;
            if (any_new) pr_plan_group(&mg->plan, dir);
            for (k = p->start[g]; k < p->start[g + 1]; k++) {
                int *at = &pair[(size_t)dir * nvm + mv[p->target[k]]];
                if (*at < 0) {
                    *at = mg->plan.n_values;
                    pr_plan_target(&mg->plan, mv[p->target[k]]);
                }
                mg->merged_value[mg->first_value[r] + k] = *at;
            }
        }
    }
    free(pair);
    free(probe);
    free(scratch);
}

static void pr_merge_free(PrMerge *mg) {
    pr_plan_free(&mg->plan);
    free(mg->merged_vector);
    free(mg->owner);
    free(mg->merged_value);
}

/* One thread's work space for PR_BLOCK positions of a merged plan. */
typedef struct {
    const float **flat;  /* [PR_BLOCK][flat vectors] what each plan's PositionVectors gave */
    float *scratch;      /* [plans][PR_BLOCK][D] their scratch */
    const float **vec;   /* [PR_BLOCK][merged vectors] the positions' vectors */
    char *used;          /* [merged vectors] vectors some group reads */
    int *run_end;        /* [n_groups] for the first group of a run of groups with the same
                            targets (in the same order): one past the run's last group */
    const float **in;    /* [n_values] a run's targets at the current position */
    const float **dir;   /* [n_groups] a run's directions there */
    double *dot;         /* a run's a.b, direction by direction (room for the largest run) */
    double *self;        /* [n_groups] a run's b.b */
    float *values;       /* [n_values][PR_BLOCK] the block's values, value by value */
    int n_runs;
} PrWork;

/* Whether groups g and h of p project the same targets, in the same order. */
static int same_targets(const PrPlan *p, int g, int h) {
    const int n = p->start[g + 1] - p->start[g];
    return n == p->start[h + 1] - p->start[h] &&
           (n == 0 || memcmp(p->target + p->start[g], p->target + p->start[h], (size_t)n * sizeof *p->target) == 0);
}

static void pr_work_alloc(PrWork *w, const PrMerge *mg, int D) {
    const PrPlan *p = &mg->plan;
    const size_t nv = (size_t)(p->n_values > 0 ? p->n_values : 1), ng = (size_t)(p->n_groups > 0 ? p->n_groups : 1);
    const size_t n_flat = (size_t)(mg->first_vec[mg->n_plans] > 0 ? mg->first_vec[mg->n_plans] : 1);
    const size_t nvm = (size_t)(p->n_vectors > 0 ? p->n_vectors : 1);
    size_t most = 1;
    int g, h, k;
    w->flat = xalloc_array((size_t)PR_BLOCK * n_flat, sizeof *w->flat, "projection ratios");
    w->scratch = xalloc_array((size_t)mg->n_plans * PR_BLOCK * D, sizeof *w->scratch, "projection ratios");
    w->vec = xalloc_array((size_t)PR_BLOCK * nvm, sizeof *w->vec, "projection ratios");
    w->used = xalloc_array(nvm, 1, "projection ratios");
    w->run_end = xalloc_array(ng, sizeof *w->run_end, "projection ratios");
    w->in = xalloc_array(nv, sizeof *w->in, "projection ratios");
    w->dir = xalloc_array(ng, sizeof *w->dir, "projection ratios");
    w->self = xalloc_array(ng, sizeof *w->self, "projection ratios");
    memset(w->used, 0, nvm);
    for (g = 0; g < p->n_groups; g++) {
        w->used[p->direction[g]] = 1;
        for (k = p->start[g]; k < p->start[g + 1]; k++) w->used[p->target[k]] = 1;
    }
    w->values = xalloc_array(nv * PR_BLOCK, sizeof *w->values, "projection ratios");
    w->n_runs = 0;
    for (g = 0; g < p->n_groups; g = h) {
        for (h = g + 1; h < p->n_groups && same_targets(p, g, h); h++) continue;
        w->run_end[g] = h;
        w->n_runs++;
        if ((size_t)(h - g) * (size_t)(p->start[g + 1] - p->start[g]) > most)
            most = (size_t)(h - g) * (size_t)(p->start[g + 1] - p->start[g]);
    }
    w->dot = xalloc_array(most, sizeof *w->dot, "projection ratios");
}

static void pr_work_free(PrWork *w) {
    free(w->flat);
    free(w->scratch);
    free(w->vec);
    free(w->used);
    free(w->run_end);
    free(w->in);
    free(w->dir);
    free(w->dot);
    free(w->self);
    free(w->values);
}

/* The merged vectors of the n (1..PR_BLOCK) positions bt0 .. bt0+n-1 into w->vec: every
 * plan's PositionVectors, each merged vector from the plan that supplies it. A vector two
 * plans share must be the same array at every position, as it was at the first (checked). */
static void pr_vectors(PrWork *w, const PrMerge *mg, const Activations *a, const PrQueue *q, int D, size_t bt0,
                       int n) {
    const int T = a->n_pos, nvm = mg->plan.n_vectors, n_flat = mg->first_vec[mg->n_plans];
    int l, r, i;
    for (l = 0; l < n; l++) {
        const size_t bt = bt0 + (size_t)l;
        const float **flat = w->flat + (size_t)l * n_flat, **vec = w->vec + (size_t)l * nvm;
        for (r = 0; r < mg->n_plans; r++)
            q->req[r].fn(q->req[r].ctx, a, (int)(bt / (size_t)T), (int)(bt % (size_t)T), flat + mg->first_vec[r],
                         w->scratch + ((size_t)r * PR_BLOCK + l) * D);
        for (i = 0; i < nvm; i++) vec[i] = flat[mg->owner[i]];
        for (i = 0; i < n_flat; i++)
            if (flat[i] != vec[mg->merged_vector[i]])
                die(EXIT_INTERNAL,
                    "internal: projection ratios: two vectors that were one array at the batch's first position "
                    "differ at position %lu",
                    (unsigned long)bt);
    }
}

/* The merged plan's values at the n (1..PR_BLOCK) positions bt0 .. bt0+n-1 of the batch
 * into out[s * ld + j] (value by value, so that each value's positions are contiguous for
 * the appends): position by position, each run of groups with the same targets by one
 * dot_rows (each target read once for all the run's directions), straight from the
 * hooks' floats; then the block's values to out at once (a cache line of out per value
 * and block, not per position). dot_rows' order is projection_ratio's, so the same
 * floats. The next position's vectors are asked from memory a part before each run (all
 * at once, the requests queued behind each other and the thread waited). */
static void pr_block(PrWork *w, const PrMerge *mg, const Activations *a, const PrQueue *q, int D, size_t bt0, int n,
                     float *out, size_t ld) {
    const PrPlan *p = &mg->plan;
    const int nv = p->n_vectors;
    int l, g, k, r, s;
    pr_vectors(w, mg, a, q, D, bt0, n);
    for (l = 0; l < n; l++) {
        const float **vec = w->vec + (size_t)l * nv;
        int run = 0, v_next = 0;
        for (g = 0; g < p->n_groups; g = w->run_end[g], run++) {
            const int n_t = p->start[g + 1] - p->start[g], n_dir = w->run_end[g] - g;
#if defined(__GNUC__)
            if (l + 1 < n) /* the activations are in memory, not in cache */
                for (; v_next < (run + 1) * nv / w->n_runs; v_next++) {
                    int i;
                    if (!w->used[v_next]) continue;
                    for (i = 0; i < D; i += 16) __builtin_prefetch(vec[nv + v_next] + i);
                }
#endif
            for (k = 0; k < n_t; k++) w->in[k] = vec[p->target[p->start[g] + k]];
            for (r = 0; r < n_dir; r++) w->dir[r] = vec[p->direction[g + r]];
            dot_rows(w->dot, w->self, w->dir, n_dir, w->in, n_t, D);
            for (r = 0; r < n_dir; r++)
                for (k = 0; k < n_t; k++)
                    w->values[(size_t)(p->start[g + r] + k) * PR_BLOCK + l] =
                        pr_sample(w->dot[(size_t)r * n_t + k], w->self[r]);
        }
    }
    for (s = 0; s < p->n_values; s++)
        memcpy(out + (size_t)s * ld, w->values + (size_t)s * PR_BLOCK, (size_t)n * sizeof *out);
}

/* The queue's plans on the batch a, merged (PrMerge): a chunk of EXP_STAT_CHUNK positions
 * at a time, the merged values of the chunk (the threads share its blocks of positions),
 * then every plan's appends (the threads share the targets). */
static void collect_queue(const Model *m, const Activations *a, const PrQueue *q) {
    const size_t n_bt = (size_t)a->n_rows * a->n_pos;
    const int D = m->cfg.d_model;
    PrMerge mg;
    float *stat_block, *stat;
    int n_flat_values, n_stat;
    if (q->n <= 0 || n_bt == 0) return;
    pr_merge_build(&mg, m, a, q);
    n_flat_values = mg.first_value[q->n];
    n_stat = mg.plan.n_values;
    /* [n_stat][EXP_STAT_CHUNK]: a chunk's values, value by value, from a 64-byte boundary
     * (so that each pair of blocks of positions fills whole cache lines of every value) */
    stat_block = xalloc_array((size_t)EXP_STAT_CHUNK * (size_t)(n_stat > 0 ? n_stat : 1) + 16, sizeof *stat,
                              "statistics");
    stat = stat_block + (64 - (uintptr_t)stat_block % 64) % 64 / sizeof *stat;
#ifdef _OPENMP
#pragma omp parallel
#endif
    {
        PrWork w;
        size_t bt0;
        pr_work_alloc(&w, &mg, D);
        for (bt0 = 0; bt0 < n_bt; bt0 += EXP_STAT_CHUNK) {
            const int n = n_bt - bt0 < EXP_STAT_CHUNK ? (int)(n_bt - bt0) : EXP_STAT_CHUNK;
            const int n_blocks = (n + PR_BLOCK - 1) / PR_BLOCK;
            int j, s;
            /* Pairs of blocks to the next thread free: 2 x PR_BLOCK positions of a value
             * are one cache line of stat (blocks dealt one by one put both threads on every
             * cache line; halves fixed in advance kept one thread waiting whenever the host
             * slowed the other) */
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 2)
#endif
            for (j = 0; j < n_blocks; j++) {
                const int first = j * PR_BLOCK, len = n - first < PR_BLOCK ? n - first : PR_BLOCK;
                pr_block(&w, &mg, a, q, D, bt0 + (size_t)first, len, stat + first, EXP_STAT_CHUNK);
            } /* barrier */
            /* in (b, t) order, whatever thread computed them; each target by one thread */
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
            for (s = 0; s < n_flat_values; s++) {
                int r = 0;
                while (s >= mg.first_value[r + 1]) r++;
                samples_add_n(q->req[r].targets[s - mg.first_value[r]], stat + (size_t)mg.merged_value[s] * EXP_STAT_CHUNK,
                              (size_t)n);
            } /* ends with a barrier: the stat buffer is free again */
        }
        pr_work_free(&w);
    }
    free(stat_block);
    pr_merge_free(&mg);
}

/* Appends a request to q (room checked by the callers). */
static void pr_queue_add(PrQueue *q, const PrPlan *plan, PositionVectors fn, const void *ctx, Samples *const *targets) {
    q->req[q->n].plan = plan;
    q->req[q->n].fn = fn;
    q->req[q->n].ctx = ctx;
    q->req[q->n].targets = targets;
    q->n++;
}

void collect_prs(const Model *m, const Activations *a, const PrPlan *plan, PositionVectors fn, const void *ctx,
                 Samples *const *targets) {
    PrQueue q;
    q.n = 0;
    pr_queue_add(&q, plan, fn, ctx, targets);
    collect_queue(m, a, &q);
}

void collect_prs_queue(const Model *m, ExpBatch *b, const PrPlan *plan, PositionVectors fn, const void *ctx,
                       Samples *const *targets) {
    if (!b->prs) { /* a batch without a queue: now */
        collect_prs(m, b->acts, plan, fn, ctx, targets);
        return;
    }
    if (b->prs->n >= EXP_MAX_QUEUED) die(EXIT_INTERNAL, "internal: no room to queue projection ratios");
    pr_queue_add(b->prs, plan, fn, ctx, targets);
}

void collect_prs_flush(const Model *m, ExpBatch *b) {
    if (!b->prs) return;
    collect_queue(m, b->acts, b->prs);
    b->prs->n = 0;
}

/* ------------------------------------------------------------------------ */
/* V-composition (Fig 5, Section 3.2)                                        */
/* ------------------------------------------------------------------------ */

size_t vcomp_bytes(const Model *m, int T) {
    return ((size_t)3 * T * m->cfg.d_model + (size_t)2 * T * m->cfg.d_head) * sizeof(float);
}

void vcomp_alloc(VCompBuffers *w, const Model *m, int T) {
    const size_t TD = (size_t)T * m->cfg.d_model, Tdh = (size_t)T * m->cfg.d_head;
    w->x = xalloc_array(TD, sizeof(float), "work");
    w->v = xalloc_array(TD, sizeof(float), "work");
    w->tmp = xalloc_array(TD, sizeof(float), "work");
    w->y = xalloc_array(Tdh, sizeof(float), "work");
    w->z = xalloc_array(Tdh, sizeof(float), "work");
}

void vcomp_free(VCompBuffers *w) {
    free(w->x);
    free(w->v);
    free(w->tmp);
    free(w->y);
    free(w->z);
    memset(w, 0, sizeof *w);
}

void v_composition(VCompBuffers *w, const Model *m, const ExpHeads *hd, const Activations *a, int b, int from, int n,
                   int attention_weighted) {
    const LayerWeights *P = &m->layers[hd->patched_layer];
    const LayerActivations *LP = &a->layer[hd->patched_layer];
    int D = m->cfg.d_model, dh = m->cfg.d_head, T = a->n_pos, i, c;
    size_t k;
#ifdef _OPENMP
#pragma omp parallel for schedule(static)
#endif
    for (i = 0; i < n; i++) {
        size_t bt = (size_t)b * T + from + i;
        normalize_contribution(w->x + (size_t)i * D, hook_result_at(m, a, hd->writer_layer, hd->writer_head, b, from + i),
                               LP->ln1_scale[bt], P->ln1_w, D);
    }
    for (k = 0; k < (size_t)n * D; k++) w->v[k] = 0;
    for (c = 0; c < hd->n_cleaners; c++) {
        int h = hd->cleaners[c];
        const float *src;
        matmul(w->y, w->x, P->W_V + (size_t)h * D * dh, NULL, n, D, dh);
        src = w->y;
        if (attention_weighted) {
            /* z = A_h[0:n, 0:n] y tile by tile of queries: a pattern tile holds A_h[i0 + i, j]
             * at j * mb + i for the keys j < i0 + mb (later keys' weights are 0) */
            int tile_k, i0, mb;
            for (tile_k = 0; tile_k < pattern_tile_count(T); tile_k++) {
                const float *tile = pattern_tile(m, a, hd->patched_layer, b, h, tile_k, &i0, &mb);
                if (!tile) die(EXIT_INTERNAL, "internal: v_composition needs layer %d's pattern tiles", hd->patched_layer);
                if (i0 >= n) break;
                matmul_at(w->z + (size_t)i0 * dh, dh, tile, mb, w->y, dh, NULL, n - i0 < mb ? n - i0 : mb,
                          n < i0 + mb ? n : i0 + mb, dh);
            }
            src = w->z;
        }
        matmul(w->tmp, src, P->W_O + (size_t)h * dh * D, NULL, n, dh, D);
        add_floats(w->v, w->v, w->tmp, (size_t)n * D);
    }
}

/* Elements logits_top2 tests at once for "nothing here changes the result". */
#define TOP2_BLOCK 64

/* The largest and second largest of lg[0..V), first occurrence on ties: the same
 * indices as the two scans
 *     top1 = 0;   for j in 1..V-1:             if lg[j] > lg[top1]: top1 = j
 *     top2 = -1;  for j != top1 in 0..V-1:     if top2 < 0 || lg[j] > lg[top2]: top2 = j
 * in one pass, NaNs included. *top1 follows exactly the first scan's rule. When j
 * replaces top1, the second scan's result over 0..j-1 (j is not among them) is the old
 * top1 (its rule from top2 = 0 on is the first scan's); otherwise j is offered to top2
 * with the second scan's rule, over the same indices in the same order.
 * Fast path: once top2 is set and lg[top1], lg[top2] are not NaN, lg[top1] is the
 * largest of the non-NaN values so far, so lg[top2] <= lg[top1], and an element
 * changes something only if it is > lg[top2]: a block with none is skipped whole
 * (a branch-free test, instead of a compare-and-select chain through memory).
 * top2_scan is that pass over one span, its state (the indices and their values)
 * carried in s from span to span; logits_top2 is one span. */
void top2_start(Top2Scan *s, float lg0) {
    s->top1 = 0;
    s->top2 = -1;
    s->v1 = lg0;
    s->v2 = 0.0f;
}

void top2_scan(Top2Scan *s, const float *span, int j0, int n) {
    int j = 0, t1 = s->top1, t2 = s->top2;
    float v1 = s->v1, v2 = s->v2;
    while (j < n) {
        const int end = n - j < TOP2_BLOCK ? n : j + TOP2_BLOCK;
        if (end - j == TOP2_BLOCK && t2 >= 0 && !isnan(v1) && !isnan(v2)) {
            int k, hit = 0;
            for (k = 0; k < TOP2_BLOCK; k++) hit |= span[j + k] > v2;
            if (!hit) {
                j = end;
                continue;
            }
        }
        for (; j < end; j++) {
            if (span[j] > v1) {
                t2 = t1;
                v2 = v1;
                t1 = j0 + j;
                v1 = span[j];
            } else if (t2 < 0 || span[j] > v2) {
                t2 = j0 + j;
                v2 = span[j];
            }
        }
    }
    s->top1 = t1;
    s->top2 = t2;
    s->v1 = v1;
    s->v2 = v2;
}

void logits_top2(const float *lg, int V, int *top1, int *top2) {
    Top2Scan s;
    top2_start(&s, lg[0]);
    top2_scan(&s, lg + 1, 1, V - 1);
    *top1 = s.top1;
    *top2 = s.top2;
}

/* ------------------------------------------------------------------------ */
/* Heads                                                                     */
/* ------------------------------------------------------------------------ */

int parse_cleaners(const Model *m, const char *list, ExpHeads *hd, Error *err) {
    char buf[1024], *p, *next;
    if (strlen(list) >= sizeof buf) return error_set_code(err, EXIT_USAGE, "list too long");
    strcpy(buf, list);
    hd->n_cleaners = 0;
    for (p = buf; p; p = next) {
        int l, h;
        next = strchr(p, ',');
        if (next) *next++ = '\0';
        if (*p == '\0') continue;
        if (parse_head(m, p, &l, &h, err)) return -1;
        if (hd->n_cleaners == 0) hd->patched_layer = l;
        else if (l != hd->patched_layer)
            return error_set_code(err, EXIT_USAGE, "%s is not in layer %d like the first cleaner", p,
                                  hd->patched_layer);
        if (hd->n_cleaners == EXP_MAX_CLEANERS) return error_set_code(err, EXIT_USAGE, "too many heads");
        hd->cleaners[hd->n_cleaners++] = h;
    }
    if (hd->n_cleaners == 0) return error_set_code(err, EXIT_USAGE, "no heads given");
    return 0;
}

/* ------------------------------------------------------------------------ */
/* The clean pass and the run                                                */
/* ------------------------------------------------------------------------ */

void exp_clean_pass_hooks(const ExpInputs *in, unsigned which, HookRequest *req) {
    int i;
    memset(req, 0, sizeof *req);
    for (i = 0; i < N_UNITS; i++) {
        if (!(which & (1u << i)) || !units[i]->begin) continue;
        if (units[i]->hooks) {
            units[i]->hooks(in, req);
        } else {
            hook_request_add(req, -1, HOOKS_ALL & ~HOOK_BIT(HOOK_ATTN_SCORES) & ~HOOK_BIT(HOOK_LOGITS));
        }
    }
}

/* The selected clean-pass units' stores for a pass over n_rows rows, batch rows at a time. */
static size_t units_memory(const ExpInputs *in, unsigned which, int n_rows, int T, int batch) {
    size_t total = 0;
    int i;
    for (i = 0; i < N_UNITS; i++)
        if ((which & (1u << i)) && units[i]->begin && units[i]->memory)
            total += units[i]->memory(in, n_rows, T, batch);
    return total;
}

/* Prints a size for a message: "12.3 MB". */
static const char *mb(char *buf, size_t n) {
    sprintf(buf, "%.1f MB", (double)n / 1048576.0);
    return buf;
}

/* The stores of unit u for its parts [first, end) alone. */
static size_t parts_memory(const Experiment *u, const ExpInputs *in, int first, int end, int n_rows, int T,
                           int batch) {
    ExpInputs g = *in;
    g.part_first = first;
    g.part_end = end;
    return u->memory ? u->memory(&g, n_rows, T, batch) : 0;
}

/* The selected clean-pass unit that can be split (Experiment.parts), or -1. */
static int split_unit(unsigned which) {
    int i;
    for (i = 0; i < N_UNITS; i++)
        if ((which & (1u << i)) && units[i]->begin && units[i]->parts) return i;
    return -1;
}

/* How the clean pass runs within the memory budget: plan->batch_rows rows of T tokens at
 * a time (as many as fit, at most n_rows and EXP_BATCH_TOKENS tokens) and, when the stores
 * of the unit that can be split (split_unit: the scan) do not fit beside the others, that
 * unit split by its parts over several passes: pass 0 runs every unit with its parts
 * [0, ends[0]), pass k > 0 it alone on [ends[k-1], ends[k]). Same results whatever the split. A budget that cannot
 * hold the fixed costs, the other units' stores, the split unit's largest part and one
 * row is an error (EXIT_INTERNAL) giving the amounts. *ends is malloc'ed. Returns 0,
 * or -1 with err. */
static int clean_pass_plan(const ExpInputs *in, unsigned which, const HookRequest *req, int n_rows, int T,
                           ExpMemory *plan, int **ends, int *n_passes, Error *err) {
    const int split = split_unit(which);
    const Experiment *u = split >= 0 ? units[split] : NULL;
    const unsigned others = split >= 0 ? which & ~(1u << split) : which;
    const int n_parts = u ? u->parts(in) : 0; /* its parts */
    const int rows_cap = EXP_BATCH_TOKENS / T > 1 ? EXP_BATCH_TOKENS / T : 1; /* EXP_BATCH_TOKENS, at least a row */
    Activations a;
    size_t act_row, others1, per_row, need1, left, split_all, part_max = 0, group, later;
    char b1[32], b2[32], b3[32], b4[32], b5[32];
    int w, first;
    if (activations_alloc_hooks(&a, in->model, 1, T, req, err)) return -1;
    act_row = a.bytes;
    activations_free(&a);
    others1 = units_memory(in, others, n_rows, T, 1);
    per_row = act_row + (units_memory(in, others, n_rows, T, 2) - others1);
    split_all = n_parts ? parts_memory(u, in, 0, n_parts, n_rows, T, 1) : 0;
    for (w = 0; w < n_parts; w++) {
        size_t c = parts_memory(u, in, w, w + 1, n_rows, T, 1);
        if (c > part_max) part_max = c;
    }
    if (n_parts) per_row += parts_memory(u, in, 0, n_parts, n_rows, T, 2) - split_all; /* its per-batch buffers */
    plan->fixed = exp_fixed_bytes(in->model, in->data);
    need1 = plan->fixed + others1 + part_max + act_row;
    /* The default: exp_default_budget, but never less than the least the run needs. */
    plan->budget = in->max_memory ? in->max_memory : exp_default_budget(in->model, in->data);
    if (!in->max_memory && plan->budget < need1 + ((size_t)8 << 20)) plan->budget = need1 + ((size_t)8 << 20);
    plan->row_bytes = per_row;
    if (plan->budget < need1)
        return error_set_code(err, EXIT_INTERNAL,
                              "memory budget %s is too small: this run needs at least %s (program, weights and data %s, "
                              "samples and buffers %s, one row of activations %s); raise --max-memory",
                              mb(b1, plan->budget), mb(b2, need1), mb(b3, plan->fixed), mb(b4, others1 + part_max),
                              mb(b5, act_row));
    left = plan->budget - plan->fixed - others1 - act_row; /* for more rows and the split unit's stores */
    if (left >= split_all) {
        /* One pass: every extra byte to the batch. */
        size_t more = per_row ? (left - split_all) / per_row : (size_t)n_rows;
        plan->batch_rows = more >= (size_t)n_rows ? n_rows : 1 + (int)more;
    } else {
        /* Several passes: a quarter of what is left to the batch, the rest to the split unit's groups. */
        size_t more = per_row ? left / 4 / per_row : 0;
        plan->batch_rows = more >= (size_t)n_rows ? n_rows : 1 + (int)more;
        while (plan->batch_rows > 1 && left - (size_t)(plan->batch_rows - 1) * per_row < part_max) plan->batch_rows--;
    }
    if (plan->batch_rows > n_rows) plan->batch_rows = n_rows;
    if (plan->batch_rows > rows_cap) plan->batch_rows = rows_cap;
    group = left - (size_t)(plan->batch_rows - 1) * per_row;
    /* Passes after the first run the split unit alone: the other units' stores are free then. */
    later = group + units_memory(in, others, n_rows, T, plan->batch_rows);
    *ends = xalloc_array((size_t)n_parts + 1, sizeof **ends, "passes");
    *n_passes = 0;
    for (w = 0, first = 0; w < n_parts; w++)
        if (w > first &&
            parts_memory(u, in, first, w + 1, n_rows, T, plan->batch_rows) > (*n_passes ? later : group)) {
            (*ends)[(*n_passes)++] = w; /* the group [first, w) is full: w starts the next one */
            first = w;
        }
    (*ends)[(*n_passes)++] = n_parts; /* the last group (nothing split: the one pass, ends[0] unused) */
    /* The most the stores hold in any pass. */
    plan->activations = act_row * (size_t)plan->batch_rows;
    plan->stores = units_memory(in, others, n_rows, T, plan->batch_rows);
    for (w = 0, first = 0; w < *n_passes; first = (*ends)[w++]) {
        size_t g = n_parts ? parts_memory(u, in, first, (*ends)[w], n_rows, T, plan->batch_rows) : 0;
        if (w == 0) plan->stores += g;
        else if (g > plan->stores) plan->stores = g;
    }
    plan->passes = *n_passes;
    return 0;
}

/* The rows the selected clean-pass units need: all of them, unless every selected
 * unit needs only its first rows (Fig 5, Section 3.2 alone). */
static int clean_pass_rows(unsigned which, int n_rows) {
    int i, limit = 0;
    for (i = 0; i < N_UNITS; i++) {
        if (!(which & (1u << i)) || !units[i]->begin) continue;
        if (units[i]->rows_needed == 0) return n_rows;
        if (units[i]->rows_needed > limit) limit = units[i]->rows_needed;
    }
    return limit < n_rows ? limit : n_rows;
}

/* Calls every selected clean-pass unit's batch step, those that overwrite the
 * activations last. */
static void clean_pass_batch(unsigned which, void **states, const ExpInputs *in, ExpBatch *b) {
    int pass, i;
    for (pass = 0; pass < 2; pass++)
        for (i = 0; i < N_UNITS; i++)
            if ((which & (1u << i)) && units[i]->begin && units[i]->overwrites_activations == pass)
                units[i]->batch(states[i], in, b);
}

/* One pass over the rows for the units of `which` (in: this pass's scan sources). */
static int clean_pass_once(const ExpInputs *in, unsigned which, int row_limit, int batch, const char *label,
                           Results *res, Points *points, Error *err) {
    const Model *m = in->model;
    const Dataset *ds = in->data;
    const int T = ds->seq_len;
    void *states[N_UNITS];
    Activations a;
    ExpBatch b;
    PrQueue queue;
    ForwardOptions opt = forward_options_default();
    HookRequest keep;
    int row, i;

    exp_clean_pass_hooks(in, which, &keep);
    if (activations_alloc_hooks(&a, m, batch, T, &keep, err)) return -1;
    for (i = 0; i < N_UNITS; i++)
        states[i] = (which & (1u << i)) && units[i]->begin ? units[i]->begin(in, row_limit, T, batch) : NULL;

    progress_begin(label, row_limit);
    opt.compute_logits = 0; /* ln_final's scale and normalized input are computed anyway */
    for (row = 0; row < row_limit; row += batch) {
        int n = row_limit - row < batch ? row_limit - row : batch;
        b.acts = &a;
        b.tokens = ds->tokens + (size_t)row * T;
        b.first_row = row;
        queue.n = 0;
        b.prs = &queue;
        model_forward(m, &a, b.tokens, n, T, &opt);
        clean_pass_batch(which, states, in, &b);
        collect_prs_flush(m, &b);
        progress_update(row + n);
    }
    progress_end();
    activations_free(&a); /* before finish: the finish steps need memory of their own */

    for (i = 0; i < N_UNITS; i++)
        if (states[i]) {
            units[i]->finish(states[i], in, res, points);
            units[i]->end(states[i]);
        }
    return 0;
}

/* The clean pass within the memory budget (clean_pass_plan): one pass, or the scan's
 * remaining sources in further passes over the rows. */
static int run_clean_pass(const ExpInputs *in, unsigned which, Results *res, Points *points, Error *err) {
    const Dataset *ds = in->data;
    HookRequest keep;
    ExpMemory plan;
    ExpInputs pass_in = *in;
    int *ends = NULL, n_passes = 0, row_limit, k, rc = 0;
    char label[64];

    exp_clean_pass_hooks(in, which, &keep);
    row_limit = clean_pass_rows(which, ds->n_rows);
    memset(&plan, 0, sizeof plan);
    if (clean_pass_plan(in, which, &keep, row_limit, ds->seq_len, &plan, &ends, &n_passes, err)) {
        free(ends);
        return -1;
    }
    if (in->memory) *in->memory = plan;
    for (k = 0; k < n_passes && rc == 0; k++) {
        pass_in.part_first = k > 0 ? ends[k - 1] : 0;
        pass_in.part_end = ends[k];
        if (n_passes > 1) snprintf(label, sizeof label, "clean pass %d/%d", k + 1, n_passes);
        else snprintf(label, sizeof label, "clean pass");
        rc = clean_pass_once(&pass_in, k == 0 ? which : 1u << split_unit(which), row_limit, plan.batch_rows, label,
                             res, points, err);
    }
    free(ends);
    return rc;
}

int experiments_run(const ExpInputs *in, unsigned which, Results *res, Points *points, Error *err) {
    int i, any_pass = 0;
    if (exp_heads_check(in->model, in->heads, err)) return -1;
    for (i = 0; i < N_UNITS; i++) {
        if (!(which & (1u << i))) continue;
        if (units[i]->check && units[i]->check(in, err)) return -1;
        if (units[i]->begin) any_pass = 1;
    }
    if (any_pass) {
        const Dataset *ds = in->data;
        if (model_check_tokens(in->model, ds->tokens, (size_t)ds->n_rows * ds->seq_len, ds->seq_len, "data", err))
            return -1;
        if (run_clean_pass(in, which, res, points, err)) return -1;
    }
    for (i = 0; i < N_UNITS; i++)
        if ((which & (1u << i)) && units[i]->run && units[i]->run(in, res, err)) return -1;
    return 0;
}

int exp_clean_pass(const Model *m, const Dataset *ds, const ExpHeads *heads, unsigned which, Results *res,
                   Points *fig5, Error *err) {
    ExpInputs in;
    int i;
    memset(&in, 0, sizeof in);
    in.model = m;
    in.data = ds;
    in.heads = heads;
    for (i = 0; i < N_UNITS; i++)
        if (!units[i]->begin) which &= ~(1u << i);
    return experiments_run(&in, which, res, fig5, err);
}
