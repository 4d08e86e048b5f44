/* experiments.c - see experiments.h. PROTOCOL.md sections 3-6 are the specification;
 * each experiment below follows its section. */
#include "experiments.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "report.h"
#include "synth.h"

/* Activations of one clean-pass batch are kept under this size (a gelu-4l row of 1024
 * tokens alone needs about 360 MB, so there the batch is one row). */
#define EXP_BATCH_BYTES ((size_t)256 << 20)
/* Positions whose logits are computed at once for Section 3.2's top-2 (x d_vocab floats:
 * 49 MB for gelu-4l). Each chunk packs all of W_U again, so not much smaller: 64 cost
 * ~25% more CPU in the unembedding matmul than 256. */
#define EXP_LOGIT_CHUNK 256
/* Fig 5 and Section 3.2 use the first rows only (the authors' scripts). */
#define FIG5_ROWS 10
#define FIG5_FIRST_POS 32
#define SEC32_ROWS 30
/* Positions whose projection ratios are computed at once (in parallel) before being
 * appended to their Samples; bounds the scratch to EXP_STAT_CHUNK x statistics floats. */
#define EXP_STAT_CHUNK 256

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

double projection_ratio(const float *a, const float *b, int D) {
    double ab = 0, bb = 0;
    int d;
    for (d = 0; d < D; d++) {
        ab += (double)a[d] * b[d];
        bb += (double)b[d] * b[d];
    }
    if (bb == 0) return NAN;
    return ab / bb;
}

/* The float sample of a projection ratio from its two dot products, as
 * (float)projection_ratio(a, b, D) returns it. */
static float pr_sample(double ab, double bb) {
    if (bb == 0) return NAN;
    return (float)(ab / bb);
}

/* out[k] = (float)projection_ratio(a[k], b, D) for k < n, bit for bit: every dot product
 * is the same double chain (x += (double)a[d] * b[d] for d = 0..D-1) as in
 * projection_ratio, but b.b is summed once for all n, and four a.b chains run side by
 * side in one loop (independent chains: the loop is not bound by one add's latency). */
static void projection_ratios(float *out, const float *const *a, int n, const float *b, int D) {
    double bb = 0;
    int d, k;
    for (d = 0; d < D; d++) bb += (double)b[d] * b[d];
    for (k = 0; k + 4 <= n; k += 4) {
        const float *a0 = a[k], *a1 = a[k + 1], *a2 = a[k + 2], *a3 = a[k + 3];
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        for (d = 0; d < D; d++) {
            double bd = b[d];
            s0 += (double)a0[d] * bd;
            s1 += (double)a1[d] * bd;
            s2 += (double)a2[d] * bd;
            s3 += (double)a3[d] * bd;
        }
        out[k] = pr_sample(s0, bb);
        out[k + 1] = pr_sample(s1, bb);
        out[k + 2] = pr_sample(s2, bb);
        out[k + 3] = pr_sample(s3, bb);
    }
    for (; k < n; k++) {
        const float *a0 = a[k];
        double s0 = 0;
        for (d = 0; d < D; d++) s0 += (double)a0[d] * b[d];
        out[k] = pr_sample(s0, bb);
    }
}

double direct_logit_attribution(const float *r, int D, float scale, const float *lnf_w, const float *u) {
    double mean = 0, acc = 0;
    int d;
    for (d = 0; d < D; d++) mean += r[d];
    mean /= D;
    for (d = 0; d < D; d++) acc += (r[d] - mean) * (lnf_w ? (double)lnf_w[d] : 1.0) * u[d];
    return acc / scale;
}

void unembed_direction(const Model *m, int c, int i, float *u) {
    int D = m->cfg.d_model, V = m->cfg.d_vocab, d;
    for (d = 0; d < D; d++) u[d] = m->W_U[(size_t)d * V + c] - (i >= 0 ? m->W_U[(size_t)d * V + i] : 0.0f);
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

/* Residual locations of PROTOCOL section 3, in order: resid_pre0, resid_mid0,
 * resid_post0, ..., resid_post{L-1}. Attention-only blocks have no resid_mid
 * (TransformerLens creates no hook_resid_mid for them): resid_pre0, resid_post0, ... */
static int n_locations(const Model *m) {
    return 1 + (m->cfg.attn_only ? 1 : 2) * m->cfg.n_layers;
}

/* Layer of location k (>= 1) and whether it is a resid_mid. */
static void location_of(const Model *m, int k, int *layer, int *is_mid) {
    if (m->cfg.attn_only) {
        *layer = k - 1;
        *is_mid = 0;
    } else {
        *layer = (k - 1) / 2;
        *is_mid = (k - 1) % 2 == 0;
    }
}

static void location_name(const Model *m, int k, char *buf, size_t size) {
    int l, mid;
    if (k == 0) {
        snprintf(buf, size, "resid_pre0");
        return;
    }
    location_of(m, k, &l, &mid);
    snprintf(buf, size, "%s%d", mid ? "resid_mid" : "resid_post", l);
}

/* The [B,T,D] array of location k in the current batch. */
static const float *location_data(const Model *m, const Activations *a, int k) {
    int l, mid;
    if (k == 0) return a->layer[0].resid_pre;
    location_of(m, k, &l, &mid);
    return mid ? a->layer[l].resid_mid : a->layer[l].resid_post;
}

/* hook_result of head h of layer l at (b, t): [D]. */
static const float *head_output(const Model *m, const Activations *a, int l, int h, int b, int t) {
    return a->layer[l].result + (((size_t)b * a->n_pos + t) * m->cfg.n_heads + h) * m->cfg.d_model;
}

static void add_quantiles3(Results *res, const char *name, Samples *s) {
    char key[300];
    snprintf(key, sizeof key, "%s.median", name);
    results_set(res, key, samples_quantile(s, 0.5));
    snprintf(key, sizeof key, "%s.q12_5", name);
    results_set(res, key, samples_quantile(s, 0.125));
    snprintf(key, sizeof key, "%s.q87_5", name);
    results_set(res, key, samples_quantile(s, 0.875));
}

/* n Samples, each with room for `reserve` values up front: the pass knows how many
 * samples it will add, so the lists never grow by doubling (which would copy them and,
 * at gelu-4l scale, briefly need twice the memory). */
static Samples *samples_array(size_t n, size_t reserve) {
    Samples *s = xalloc_array(n, sizeof *s, "samples");
    size_t i;
    for (i = 0; i < n; i++) {
        samples_init(&s[i]);
        s[i].values = alloc_array(reserve, sizeof(float));
        if (s[i].values) s[i].cap = reserve; /* else samples_add grows it as needed */
    }
    return s;
}

static void samples_array_free(Samples *s, size_t n) {
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
/* The clean pass and its per-figure accumulators                           */
/* ------------------------------------------------------------------------ */

typedef struct {
    const Model *m;
    const ExpHeads *hd;
    unsigned which;
    int n_loc;
    Samples *fig1;             /* [H * n_loc]: L0H{h} onto location k at h * n_loc + k */
    Samples *fig2_head;        /* [L * H] */
    Samples *fig2_mlp;         /* [L] */
    Samples fig2_cleaners;     /* PR of the cleaners' summed output */
    Samples *fig3_loc[2];      /* [n_loc], clean and patched */
    Samples *fig3_head[2];     /* [H] heads of the patched layer, clean and patched */
    float *patch_resid;        /* [B*T*D] Fig 3's value input: resid_pre - writer */
    float *patch_scale;        /* [B*T] the clean ln1 scale of the patched layer */
    float *writer;             /* [B*T*D] the writer's clean output, packed */
    float *stat;               /* [EXP_STAT_CHUNK * n_ptrs] one chunk's projection ratios */
    int n_ptrs;                /* the most statistics of one position (Figs 1-3) */
    double *dla;               /* [3 * T] one row's DLA values (Fig 5, Section 3.2) */
    Points *fig5;              /* Fig 5 points (owned by the caller or by the pass) */
    Points sec32_cleaners;     /* (writer DLA, cleaners' actual DLA) */
    Points sec32_vcomp;        /* (writer DLA, attention-weighted V-composition DLA) */
    /* work buffers for the V-composition and the logits of Section 3.2 */
    float *x, *y, *z, *v, *tmp; /* [T,D] [T,dh] [T,dh] [T,D] [T,D] */
    float *logits;             /* [EXP_LOGIT_CHUNK, V] */
    float *nf;                 /* [EXP_LOGIT_CHUNK, D] ln_final's output */
} CleanPass;

/* The statistics of one position (b, t): out[0..n_stat) for the Samples collect_positions
 * is given. ptrs (room for cp->n_ptrs pointers) and sum (D floats) are the calling
 * thread's scratch. */
typedef void (*PositionStats)(const CleanPass *cp, const Activations *a, int b, int t, const float **ptrs, float *sum,
                              float *out);

/* Runs fn on every (b, t) of the batch, EXP_STAT_CHUNK positions at a time in parallel,
 * then appends each chunk's values to targets[s] in (b, t) order. Every value depends on
 * its position alone, so each Samples receives the same values in the same order as
 * when they are added one position at a time, whatever the thread count. */
static void collect_positions(CleanPass *cp, const Activations *a, PositionStats fn, Samples *const *targets,
                              int n_stat) {
    const int T = a->n_pos;
    const size_t n_bt = (size_t)a->n_rows * T;
    size_t bt0;
    for (bt0 = 0; bt0 < n_bt; bt0 += EXP_STAT_CHUNK) {
        const int n = n_bt - bt0 < EXP_STAT_CHUNK ? (int)(n_bt - bt0) : EXP_STAT_CHUNK;
        int i, s;
#ifdef _OPENMP
#pragma omp parallel
#endif
        {
            const float **ptrs = xalloc_array((size_t)cp->n_ptrs, sizeof *ptrs, "statistics scratch");
            float *sum = xalloc_array((size_t)cp->m->cfg.d_model, sizeof *sum, "statistics scratch");
            int j;
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
            for (j = 0; j < n; j++) {
                const size_t bt = bt0 + (size_t)j;
                fn(cp, a, (int)(bt / (size_t)T), (int)(bt % (size_t)T), ptrs, sum, cp->stat + (size_t)j * n_stat);
            }
            free(ptrs);
            free(sum);
        }
        for (s = 0; s < n_stat; s++)
            for (i = 0; i < n; i++) samples_add(targets[s], cp->stat[(size_t)i * n_stat + s]);
    }
}

/* Fig 1 at (b, t): PR of every residual location onto each layer-0 head,
 * out[h * n_loc + k] for head h and location k. */
static void fig1_position(const CleanPass *cp, const Activations *a, int b, int t, const float **ptrs, float *sum,
                          float *out) {
    const Model *m = cp->m;
    const int D = m->cfg.d_model, H = m->cfg.n_heads;
    const size_t bt = (size_t)b * a->n_pos + t;
    int h, k;
    (void)sum;
    for (k = 0; k < cp->n_loc; k++) ptrs[k] = location_data(m, a, k) + bt * D;
    for (h = 0; h < H; h++) projection_ratios(out + (size_t)h * cp->n_loc, ptrs, cp->n_loc, head_output(m, a, 0, h, b, t), D);
}

/* Fig 1: PR of every residual location onto each layer-0 head, every (b, p). */
static void fig1_batch(CleanPass *cp, const Activations *a) {
    const int n_stat = cp->m->cfg.n_heads * cp->n_loc;
    Samples **targets = xalloc_array((size_t)n_stat, sizeof *targets, "statistics");
    int s;
    for (s = 0; s < n_stat; s++) targets[s] = &cp->fig1[s];
    collect_positions(cp, a, fig1_position, targets, n_stat);
    free(targets);
}

/* Fig 2 at (b, t): PR onto the writer of every head but the writer and every MLP output,
 * layer by layer (each layer's heads, then its MLP), then of the cleaners' summed output. */
static void fig2_position(const CleanPass *cp, const Activations *a, int b, int t, const float **ptrs, float *sum,
                          float *out) {
    const Model *m = cp->m;
    const ExpHeads *hd = cp->hd;
    const int D = m->cfg.d_model, H = m->cfg.n_heads, L = m->cfg.n_layers;
    const size_t bt = (size_t)b * a->n_pos + t;
    int l, h, c, d, n = 0;
    for (l = 0; l < L; l++) {
        for (h = 0; h < H; h++)
            if (l != hd->writer_layer || h != hd->writer_head) ptrs[n++] = head_output(m, a, l, h, b, t);
        if (!m->cfg.attn_only) ptrs[n++] = a->layer[l].mlp_out + bt * D;
    }
    for (d = 0; d < D; d++) sum[d] = 0;
    for (c = 0; c < hd->n_cleaners; c++) {
        const float *r = head_output(m, a, hd->patched_layer, hd->cleaners[c], b, t);
        for (d = 0; d < D; d++) sum[d] += r[d];
    }
    ptrs[n++] = sum;
    projection_ratios(out, ptrs, n, head_output(m, a, hd->writer_layer, hd->writer_head, b, t), D);
}

/* Fig 2: PR of every node (head output, MLP output) onto the writer; and of the
 * cleaners' summed output (the headline -0.903 is its median). */
static void fig2_batch(CleanPass *cp, const Activations *a) {
    const Model *m = cp->m;
    const ExpHeads *hd = cp->hd;
    const int H = m->cfg.n_heads, L = m->cfg.n_layers;
    Samples **targets = xalloc_array((size_t)L * H + L + 1, sizeof *targets, "statistics");
    int l, h, n = 0;
    for (l = 0; l < L; l++) { /* the order of fig2_position's values */
        for (h = 0; h < H; h++)
            if (l != hd->writer_layer || h != hd->writer_head) targets[n++] = &cp->fig2_head[l * H + h];
        if (!m->cfg.attn_only) targets[n++] = &cp->fig2_mlp[l];
    }
    targets[n++] = &cp->fig2_cleaners;
    collect_positions(cp, a, fig2_position, targets, n);
    free(targets);
}

/* Fig 3 at (b, t): PR onto the writer's clean output (cp->writer) of every location,
 * then of every head of the patched layer. */
static void fig3_position(const CleanPass *cp, const Activations *a, int b, int t, const float **ptrs, float *sum,
                          float *out) {
    const Model *m = cp->m;
    const int D = m->cfg.d_model, H = m->cfg.n_heads;
    const size_t bt = (size_t)b * a->n_pos + t;
    int k, h;
    (void)sum;
    for (k = 0; k < cp->n_loc; k++) ptrs[k] = location_data(m, a, k) + bt * D;
    for (h = 0; h < H; h++) ptrs[cp->n_loc + h] = head_output(m, a, cp->hd->patched_layer, h, b, t);
    projection_ratios(out, ptrs, cp->n_loc + H, cp->writer + bt * D, D);
}

/* Fig 3's statistics of one run (clean: which 0, patched: 1): PR onto the writer's
 * clean output (cp->writer) of every location and of every head of the patched layer. */
static void fig3_collect(CleanPass *cp, const Activations *a, int which) {
    const int H = cp->m->cfg.n_heads, n_stat = cp->n_loc + H;
    Samples **targets = xalloc_array((size_t)n_stat, sizeof *targets, "statistics");
    int k, h;
    for (k = 0; k < cp->n_loc; k++) targets[k] = &cp->fig3_loc[which][k];
    for (h = 0; h < H; h++) targets[cp->n_loc + h] = &cp->fig3_head[which][h];
    collect_positions(cp, a, fig3_position, targets, n_stat);
    free(targets);
}

/* Fig 3: the value-input patch. Collects the clean statistics, then reruns the model
 * from the patched layer with every head's value input = resid_pre - writer output,
 * normalised with the clean ln1 scale (frozen); queries and keys stay clean, and
 * the layers below are the clean run's (start_layer). The writer's output lives in
 * a layer below the patched one, so the patched run leaves it untouched. Overwrites
 * the batch's activations from the patched layer up: run it last. */
static void fig3_batch(CleanPass *cp, Activations *a) {
    const Model *m = cp->m;
    const ExpHeads *hd = cp->hd;
    const int D = m->cfg.d_model, T = a->n_pos, p = hd->patched_layer, n_bt = a->n_rows * T;
    int i;
    ForwardOptions opt = forward_options_default();
#ifdef _OPENMP
#pragma omp parallel for schedule(static)
#endif
    for (i = 0; i < n_bt; i++) {
        const size_t bt = (size_t)i;
        const float *w = head_output(m, a, hd->writer_layer, hd->writer_head, i / T, i % T);
        const float *x = a->layer[p].resid_pre + bt * D;
        int d;
        memcpy(cp->writer + bt * D, w, (size_t)D * sizeof(float));
        for (d = 0; d < D; d++) cp->patch_resid[bt * D + d] = x[d] - w[d];
        cp->patch_scale[bt] = a->layer[p].ln1_scale[bt];
    }
    fig3_collect(cp, a, 0);
    opt.start_layer = p;
    opt.compute_logits = 0;
    opt.v_patch_layer = p;
    opt.v_patch_heads = NULL; /* every head of the layer */
    opt.v_patch_resid = cp->patch_resid;
    opt.v_patch_scale = cp->patch_scale;
    model_forward(m, a, NULL, a->n_rows, T, &opt);
    fig3_collect(cp, a, 1);
}

/* V-composition of the writer through the cleaners: for positions [from, from+n) of
 * row b, cp->v[i] = sum_c x[i] W_V[c] W_O[c] with x[i] = writer[i] / s2[i] (ln1 of the
 * patched layer, its weight when unprocessed), no biases. With attention (Section
 * 3.2), x is first mixed by the clean pattern: sum_{j<=i} A_c[i,j] x[j] (from = 0). */
static void v_composition(CleanPass *cp, const Activations *a, int b, int from, int n, int attention_weighted) {
    const Model *m = cp->m;
    const ExpHeads *hd = cp->hd;
    const LayerWeights *P = &m->layers[hd->patched_layer];
    const LayerActivations *LP = &a->layer[hd->patched_layer];
    int D = m->cfg.d_model, dh = m->cfg.d_head, H = m->cfg.n_heads, T = a->n_pos, i, c;
    size_t k;
#ifdef _OPENMP
#pragma omp parallel for schedule(static)
#endif
    for (i = 0; i < n; i++) {
        size_t bt = (size_t)b * T + from + i;
        normalize_contribution(cp->x + (size_t)i * D, head_output(m, a, hd->writer_layer, hd->writer_head, b, from + i),
                               LP->ln1_scale[bt], P->ln1_w, D);
    }
    for (k = 0; k < (size_t)n * D; k++) cp->v[k] = 0;
    for (c = 0; c < hd->n_cleaners; c++) {
        int h = hd->cleaners[c];
        const float *src;
        matmul(cp->y, cp->x, P->W_V + (size_t)h * D * dh, NULL, n, D, dh);
        src = cp->y;
        if (attention_weighted) {
            /* pattern [B,H,T,T]: row i of head h is A_h[i, :], zero above the diagonal */
            matmul(cp->z, LP->pattern + ((size_t)b * H + h) * T * T, cp->y, NULL, n, n, dh);
            src = cp->z;
        }
        matmul(cp->tmp, src, P->W_O + (size_t)h * dh * D, NULL, n, dh, D);
        for (k = 0; k < (size_t)n * D; k++) cp->v[k] += cp->tmp[k];
    }
}

/* Fig 5 (the authors' script): rows < 10, positions 32..T-2; writer DLA and the DLA of
 * its no-attention V-composition through the cleaners, both along W_U[:, tok[i+1]].
 * The positions' DLAs are computed in parallel into cp->dla, then added in order. */
static void fig5_batch(CleanPass *cp, const Activations *a, const int *tokens, int first_row) {
    const Model *m = cp->m;
    const int D = m->cfg.d_model, T = a->n_pos, n = T - 1 - FIG5_FIRST_POS;
    int b, i;
    for (b = 0; b < a->n_rows && first_row + b < FIG5_ROWS; b++) {
        v_composition(cp, a, b, FIG5_FIRST_POS, n, 0);
#ifdef _OPENMP
#pragma omp parallel
#endif
        {
            float *u = xalloc_array((size_t)D, sizeof *u, "Fig 5 scratch");
            int j;
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
            for (j = 0; j < n; j++) {
                const int pos = FIG5_FIRST_POS + j;
                const size_t bt = (size_t)b * T + pos;
                const float s = a->lnf_scale[bt];
                unembed_direction(m, tokens[bt + 1], -1, u);
                cp->dla[2 * (size_t)j] = direct_logit_attribution(
                    head_output(m, a, cp->hd->writer_layer, cp->hd->writer_head, b, pos), D, s, m->lnf_w, u);
                cp->dla[2 * (size_t)j + 1] = direct_logit_attribution(cp->v + (size_t)j * D, D, s, m->lnf_w, u);
            }
            free(u);
        }
        for (i = 0; i < n; i++) points_add(cp->fig5, cp->dla[2 * (size_t)i], cp->dla[2 * (size_t)i + 1]);
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
 * (a branch-free test, instead of a compare-and-select chain through memory). */
void logits_top2(const float *lg, int V, int *top1, int *top2) {
    int j = 1, t1 = 0, t2 = -1;
    while (j < V) {
        const int end = V - j < TOP2_BLOCK ? V : j + TOP2_BLOCK;
        if (end - j == TOP2_BLOCK && t2 >= 0 && !isnan(lg[t1]) && !isnan(lg[t2])) {
            const float v2 = lg[t2];
            int k, hit = 0;
            for (k = 0; k < TOP2_BLOCK; k++) hit |= lg[j + k] > v2;
            if (!hit) {
                j = end;
                continue;
            }
        }
        for (; j < end; j++) {
            if (lg[j] > lg[t1]) {
                t2 = t1;
                t1 = j;
            } else if (t2 < 0 || lg[j] > lg[t2]) {
                t2 = j;
            }
        }
    }
    *top1 = t1;
    *top2 = t2;
}

/* Section 3.2 (the paper's text): rows < 30, every position, along W_U[:,top1] -
 * W_U[:,top2] of the model's own logits: writer DLA against the cleaners' actual
 * summed DLA, and against the attention-weighted V-composition's DLA. The positions
 * of each chunk of logits are handled in parallel into cp->dla, then added in order. */
static void sec32_batch(CleanPass *cp, const Activations *a, int first_row) {
    const Model *m = cp->m;
    const ExpHeads *hd = cp->hd;
    const int D = m->cfg.d_model, V = m->cfg.d_vocab, T = a->n_pos;
    int b, i, i0;
    for (b = 0; b < a->n_rows && first_row + b < SEC32_ROWS; b++) {
        v_composition(cp, a, b, 0, T, 1);
        for (i0 = 0; i0 < T; i0 += EXP_LOGIT_CHUNK) {
            const int n = T - i0 < EXP_LOGIT_CHUNK ? T - i0 : EXP_LOGIT_CHUNK;
            /* logits = ln_final(resid) W_U + b_U for these positions only (ln_final
             * recomputed with its weights, whatever the hook holds) */
            layernorm(cp->nf, NULL, a->layer[m->cfg.n_layers - 1].resid_post + ((size_t)b * T + i0) * D, m->lnf_w,
                      m->lnf_b, n, D, m->cfg.eps);
            matmul(cp->logits, cp->nf, m->W_U, m->b_U, n, D, V);
#ifdef _OPENMP
#pragma omp parallel
#endif
            {
                float *u = xalloc_array((size_t)D, sizeof *u, "Section 3.2 scratch");
                float *sum = xalloc_array((size_t)D, sizeof *sum, "Section 3.2 scratch");
                int j;
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
                for (j = 0; j < n; j++) {
                    const int pos = i0 + j;
                    const size_t bt = (size_t)b * T + pos;
                    const float s = a->lnf_scale[bt];
                    double *out = cp->dla + 3 * (size_t)j;
                    int top1, top2, c, d;
                    logits_top2(cp->logits + (size_t)j * V, V, &top1, &top2);
                    unembed_direction(m, top1, top2, u);
                    for (d = 0; d < D; d++) sum[d] = 0;
                    for (c = 0; c < hd->n_cleaners; c++) {
                        const float *r = head_output(m, a, hd->patched_layer, hd->cleaners[c], b, pos);
                        for (d = 0; d < D; d++) sum[d] += r[d];
                    }
                    out[0] = direct_logit_attribution(head_output(m, a, hd->writer_layer, hd->writer_head, b, pos), D,
                                                      s, m->lnf_w, u);
                    out[1] = direct_logit_attribution(sum, D, s, m->lnf_w, u);
                    out[2] = direct_logit_attribution(cp->v + (size_t)pos * D, D, s, m->lnf_w, u);
                }
                free(u);
                free(sum);
            }
            for (i = 0; i < n; i++) {
                const double *out = cp->dla + 3 * (size_t)i;
                points_add(&cp->sec32_cleaners, out[0], out[1]);
                points_add(&cp->sec32_vcomp, out[0], out[2]);
            }
        }
    }
}

static void head_label(char *buf, size_t size, int l, int h) {
    snprintf(buf, size, "L%dH%d", l, h);
}

/* Turns the collected samples into metrics (PROTOCOL section 6). */
static void clean_pass_results(CleanPass *cp, Results *res) {
    const Model *m = cp->m;
    const ExpHeads *hd = cp->hd;
    int H = m->cfg.n_heads, L = m->cfg.n_layers, h, k, l, c, run;
    char name[256], loc[32], lab[32];
    if (cp->which & EXP_FIG1) {
        size_t n_nan = 0;
        for (h = 0; h < H; h++)
            for (k = 0; k < cp->n_loc; k++) {
                location_name(m, k, loc, sizeof loc);
                snprintf(name, sizeof name, "fig1.L0H%d.%s", h, loc);
                n_nan += cp->fig1[h * cp->n_loc + k].n_nan;
                results_add_quantiles(res, name, &cp->fig1[h * cp->n_loc + k]);
            }
        results_set(res, "fig1.n_nan", (double)n_nan);
    }
    if (cp->which & EXP_FIG2) {
        double sum_of_medians = 0;
        size_t n_nan = cp->fig2_cleaners.n_nan;
        for (l = 0; l < L; l++) {
            for (h = 0; h < H; h++) {
                if (l == hd->writer_layer && h == hd->writer_head) continue;
                head_label(lab, sizeof lab, l, h);
                snprintf(name, sizeof name, "fig2.%s", lab);
                n_nan += cp->fig2_head[l * H + h].n_nan;
                results_add_quantiles(res, name, &cp->fig2_head[l * H + h]);
            }
            if (!m->cfg.attn_only) {
                snprintf(name, sizeof name, "fig2.MLP%d", l);
                n_nan += cp->fig2_mlp[l].n_nan;
                results_add_quantiles(res, name, &cp->fig2_mlp[l]);
            }
        }
        for (c = 0; c < hd->n_cleaners; c++)
            sum_of_medians += samples_quantile(&cp->fig2_head[hd->patched_layer * H + hd->cleaners[c]], 0.5);
        results_add_quantiles(res, "fig2.cleaners_sum", &cp->fig2_cleaners);
        results_set(res, "fig2.sum_of_medians", sum_of_medians);
        results_set(res, "fig2.n_nan", (double)n_nan);
    }
    if (cp->which & EXP_FIG3) {
        for (run = 0; run < 2; run++) {
            const char *which = run ? "patched" : "clean";
            for (k = 0; k < cp->n_loc; k++) {
                location_name(m, k, loc, sizeof loc);
                snprintf(name, sizeof name, "fig3.%s.%s", which, loc);
                results_add_quantiles(res, name, &cp->fig3_loc[run][k]);
            }
            for (h = 0; h < H; h++) {
                head_label(lab, sizeof lab, hd->patched_layer, h);
                snprintf(name, sizeof name, "fig3.%s.%s", which, lab);
                results_add_quantiles(res, name, &cp->fig3_head[run][h]);
            }
        }
    }
    if (cp->which & EXP_FIG5) {
        double slope, intercept;
        least_squares(cp->fig5->x, cp->fig5->y, cp->fig5->n, &slope, &intercept);
        results_set(res, "fig5.n_points", (double)cp->fig5->n);
        results_set(res, "fig5.slope", slope);
        results_set(res, "fig5.intercept", intercept);
        results_set(res, "fig5.r", pearson_r(cp->fig5->x, cp->fig5->y, cp->fig5->n));
    }
    if (cp->which & EXP_SEC32) {
        double slope, intercept;
        least_squares(cp->sec32_vcomp.x, cp->sec32_vcomp.y, cp->sec32_vcomp.n, &slope, &intercept);
        results_set(res, "sec32.n_points", (double)cp->sec32_vcomp.n);
        results_set(res, "sec32.r_cleaners", pearson_r(cp->sec32_cleaners.x, cp->sec32_cleaners.y, cp->sec32_cleaners.n));
        results_set(res, "sec32.r_vcomp", pearson_r(cp->sec32_vcomp.x, cp->sec32_vcomp.y, cp->sec32_vcomp.n));
        results_set(res, "sec32.slope_vcomp", slope);
    }
}

int exp_clean_pass(const Model *m, const Dataset *ds, const ExpHeads *hd, unsigned which, Results *res, Points *fig5,
                   Error *err) {
    const ModelConfig *c = &m->cfg;
    CleanPass cp;
    Points own_fig5;
    Activations a;
    int T = ds->seq_len, D = c->d_model, H = c->n_heads, L = c->n_layers, batch, row, row_limit, rc = -1;
    size_t TD, n_samples;
    ForwardOptions opt = forward_options_default();

    if (exp_heads_check(m, hd, err)) return -1;
    if ((which & EXP_FIG5) && T <= FIG5_FIRST_POS + 1)
        return error_set_code(err, EXIT_USAGE, "Fig 5 uses positions %d..T-2 and needs rows longer than %d tokens (T = %d)",
                              FIG5_FIRST_POS, FIG5_FIRST_POS + 1, T);
    if (model_check_tokens(m, ds->tokens, (size_t)ds->n_rows * T, T, "data", err)) return -1;

    memset(&cp, 0, sizeof cp);
    cp.m = m;
    cp.hd = hd;
    cp.which = which;
    cp.n_loc = n_locations(m);
    points_init(&own_fig5);
    cp.fig5 = fig5 ? fig5 : &own_fig5;
    points_init(&cp.sec32_cleaners);
    points_init(&cp.sec32_vcomp);
    samples_init(&cp.fig2_cleaners);

    /* Batch size: as many rows as fit in EXP_BATCH_BYTES, at least one. */
    if (activations_alloc(&a, m, 1, T, 0, 0, err)) return -1;
    batch = (int)(EXP_BATCH_BYTES / (a.bytes ? a.bytes : 1));
    if (batch < 1) batch = 1;
    if (batch > ds->n_rows) batch = ds->n_rows;
    if (batch > 1) {
        activations_free(&a);
        if (activations_alloc(&a, m, batch, T, 0, 0, err)) return -1;
    }

    n_samples = (size_t)ds->n_rows * T;
    if (which & EXP_FIG1) cp.fig1 = samples_array((size_t)H * cp.n_loc, n_samples);
    if (which & EXP_FIG2) {
        cp.fig2_head = samples_array((size_t)L * H, n_samples);
        cp.fig2_mlp = samples_array((size_t)L, m->cfg.attn_only ? 0 : n_samples);
    }
    if (which & EXP_FIG3) {
        cp.fig3_loc[0] = samples_array((size_t)cp.n_loc, n_samples);
        cp.fig3_loc[1] = samples_array((size_t)cp.n_loc, n_samples);
        cp.fig3_head[0] = samples_array((size_t)H, n_samples);
        cp.fig3_head[1] = samples_array((size_t)H, n_samples);
        cp.patch_resid = xalloc_array((size_t)batch * T * D, sizeof(float), "Fig 3 patch");
        cp.patch_scale = xalloc_array((size_t)batch * T, sizeof(float), "Fig 3 patch");
        cp.writer = xalloc_array((size_t)batch * T * D, sizeof(float), "Fig 3 patch");
    }
    TD = (size_t)T * D;
    cp.x = xalloc_array(TD, sizeof(float), "work");
    cp.v = xalloc_array(TD, sizeof(float), "work");
    cp.tmp = xalloc_array(TD, sizeof(float), "work");
    cp.y = xalloc_array((size_t)T * c->d_head, sizeof(float), "work");
    cp.z = xalloc_array((size_t)T * c->d_head, sizeof(float), "work");
    cp.dla = xalloc_array((size_t)3 * T, sizeof(double), "work");
    /* Figs 1-3's statistics per position: H * n_loc, L * H - 1 + L + 1, n_loc + H */
    cp.n_ptrs = H * cp.n_loc;
    if (cp.n_ptrs < L * H + L + 1) cp.n_ptrs = L * H + L + 1;
    if (cp.n_ptrs < cp.n_loc + H) cp.n_ptrs = cp.n_loc + H;
    cp.stat = xalloc_array((size_t)EXP_STAT_CHUNK * cp.n_ptrs, sizeof(float), "work");
    if (which & EXP_SEC32) {
        cp.logits = xalloc_array((size_t)EXP_LOGIT_CHUNK * c->d_vocab, sizeof(float), "logits");
        cp.nf = xalloc_array((size_t)EXP_LOGIT_CHUNK * D, sizeof(float), "logits");
    }

    /* Fig 5 and Section 3.2 alone need only their first rows. */
    row_limit = ds->n_rows;
    if (!(which & (EXP_FIG1 | EXP_FIG2 | EXP_FIG3))) {
        int need = (which & EXP_SEC32) ? SEC32_ROWS : FIG5_ROWS;
        if (need < row_limit) row_limit = need;
    }
    progress_begin("clean pass", row_limit);
    opt.compute_logits = 0; /* ln_final's scale and normalized input are computed anyway */
    for (row = 0; row < row_limit; row += batch) {
        int n = row_limit - row < batch ? row_limit - row : batch;
        const int *tokens = ds->tokens + (size_t)row * T;
        model_forward(m, &a, tokens, n, T, &opt);
        if (which & EXP_FIG1) fig1_batch(&cp, &a);
        if (which & EXP_FIG2) fig2_batch(&cp, &a);
        if ((which & EXP_FIG5) && row < FIG5_ROWS) fig5_batch(&cp, &a, tokens, row);
        if ((which & EXP_SEC32) && row < SEC32_ROWS) sec32_batch(&cp, &a, row);
        if (which & EXP_FIG3) fig3_batch(&cp, &a); /* last: it overwrites the upper layers */
        progress_update(row + n);
    }
    progress_end();
    clean_pass_results(&cp, res);
    rc = 0;

    activations_free(&a);
    samples_array_free(cp.fig1, (size_t)H * cp.n_loc);
    samples_array_free(cp.fig2_head, (size_t)L * H);
    samples_array_free(cp.fig2_mlp, (size_t)L);
    samples_free(&cp.fig2_cleaners);
    samples_array_free(cp.fig3_loc[0], (size_t)cp.n_loc);
    samples_array_free(cp.fig3_loc[1], (size_t)cp.n_loc);
    samples_array_free(cp.fig3_head[0], (size_t)H);
    samples_array_free(cp.fig3_head[1], (size_t)H);
    free(cp.patch_resid);
    free(cp.patch_scale);
    free(cp.writer);
    free(cp.x);
    free(cp.v);
    free(cp.tmp);
    free(cp.y);
    free(cp.z);
    free(cp.dla);
    free(cp.stat);
    free(cp.logits);
    free(cp.nf);
    points_free(&cp.sec32_cleaners);
    points_free(&cp.sec32_vcomp);
    points_free(&own_fig5);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Fig 4: adversarial prompts                                                */
/* ------------------------------------------------------------------------ */

static const AdvPrompt paper_prompts[] = {
    {"It's in the cupboard, either on the top or on the", " bottom", " top", 3, 1},
    {"I went to university at Michigan", " State", " University", 2, 1},
    {"class MyClass:\n\tdef", " __", " get", 3, 5},
    {"The church I go to is the Seventh-day Adventist", " Church", " church", 2, 2},
};

const AdvPrompt *exp_paper_prompts(int *count) {
    *count = (int)(sizeof paper_prompts / sizeof paper_prompts[0]);
    return paper_prompts;
}

static int answer_token(Tokenizer *tok, const char *answer, int k, const char *what, int *id, Error *err) {
    int *ids = NULL;
    size_t n = 0;
    if (tokenizer_encode(tok, answer, strlen(answer), &ids, &n, err)) return -1;
    if (n != 1) {
        free(ids);
        return error_set(err, "Fig 4 prompt %d: the %s answer '%s' is %zu tokens, not one", k, what, answer, n);
    }
    *id = ids[0];
    free(ids);
    return 0;
}

static int tokenize_prompt(const Model *m, Tokenizer *tok, const AdvPrompt *p, int k, int max_len, PromptTokens *pt,
                           Error *err) {
    int *ids = NULL, bos = tokenizer_bos_id(tok);
    size_t n = 0;
    char src[64];
    memset(pt, 0, sizeof *pt);
    if (bos < 0) return error_set(err, "the tokenizer defines no BOS token (pass --bos ID)");
    if (p->other_layer < 0 || p->other_layer >= m->cfg.n_layers || p->other_head < 0 ||
        p->other_head >= m->cfg.n_heads)
        return error_set_code(err, EXIT_USAGE, "Fig 4 prompt %d: head L%dH%d does not exist in this model", k,
                              p->other_layer, p->other_head);
    if (answer_token(tok, p->correct, k, "correct", &pt->correct, err) ||
        answer_token(tok, p->incorrect, k, "incorrect", &pt->incorrect, err))
        return -1;
    if (tokenizer_encode(tok, p->prompt, strlen(p->prompt), &ids, &n, err)) return -1;
    if (n + 1 > (size_t)max_len) {
        free(ids);
        return error_set(err, "Fig 4 prompt %d is %zu tokens with BOS, longer than the %d-token dataset rows", k, n + 1,
                         max_len);
    }
    pt->n = (int)n + 1;
    pt->tokens = xalloc_array((size_t)pt->n, sizeof(int), "prompt");
    pt->tokens[0] = bos;
    if (n) memcpy(pt->tokens + 1, ids, n * sizeof(int));
    free(ids);
    snprintf(src, sizeof src, "Fig 4 prompt %d", k);
    if (model_check_tokens(m, pt->tokens, (size_t)pt->n, pt->n, src, err) ||
        model_check_tokens(m, &pt->correct, 1, 1, src, err) || model_check_tokens(m, &pt->incorrect, 1, 1, src, err)) {
        free(pt->tokens);
        pt->tokens = NULL;
        return -1;
    }
    return 0;
}

int exp_fig4_prompt(const Model *m, const Dataset *ds, const ExpHeads *hd, const PromptTokens *pt, int other_layer,
                    int other_head, int k, Results *res, Error *err) {
    const ModelConfig *c = &m->cfg;
    int D = c->d_model, V = c->d_vocab, T = pt->n, last = T - 1, n_heads, hi, batch, row, b;
    int layers[2], heads[2], top1 = 0, top2 = -1, stop_layer;
    Activations ap, ar;
    ForwardOptions opt;
    Samples patched[2];
    float *u = NULL, *out = NULL;
    int *rows_tokens = NULL;
    const float *lg;
    char name[256], lab[32];
    float s;

    /* The clean run of the prompt, with logits. */
    if (T < 1 || T > ds->seq_len || T > c->n_ctx)
        return error_set(err, "Fig 4 prompt %d: %d tokens do not fit the %d-token dataset rows", k, T, ds->seq_len);
    if (other_layer < 0 || other_layer >= c->n_layers || other_head < 0 || other_head >= c->n_heads)
        return error_set_code(err, EXIT_USAGE, "Fig 4 prompt %d: head L%dH%d does not exist in this model", k,
                              other_layer, other_head);
    if (activations_alloc(&ap, m, 1, T, 0, 1, err)) return -1;
    model_forward(m, &ap, pt->tokens, 1, T, NULL);
    lg = ap.logits + (size_t)last * V;
    snprintf(name, sizeof name, "fig4.p%d.logit_diff", k);
    results_set(res, name, (double)lg[pt->correct] - (double)lg[pt->incorrect]);
    logits_top2(lg, V, &top1, &top2);
    snprintf(name, sizeof name, "fig4.p%d.top2", k);
    results_set(res, name,
                ((top1 == pt->correct && top2 == pt->incorrect) || (top1 == pt->incorrect && top2 == pt->correct)) ? 1.0
                                                                                                                  : 0.0);

    /* DLA along W_U[:,c] - W_U[:,i] with the clean ln_final scale at T-1. */
    u = xalloc_array((size_t)D, sizeof(float), "fig4");
    out = xalloc_array((size_t)D, sizeof(float), "fig4");
    unembed_direction(m, pt->correct, pt->incorrect, u);
    s = ap.lnf_scale[last];
    layers[0] = hd->writer_layer;
    heads[0] = hd->writer_head;
    layers[1] = other_layer;
    heads[1] = other_head;
    n_heads = (layers[1] == layers[0] && heads[1] == heads[0]) ? 1 : 2;
    for (hi = 0; hi < n_heads; hi++) {
        head_label(lab, sizeof lab, layers[hi], heads[hi]);
        snprintf(name, sizeof name, "fig4.p%d.%s.clean", k, lab);
        results_set(res, name,
                    direct_logit_attribution(head_output(m, &ap, layers[hi], heads[hi], 0, last), D, s, m->lnf_w, u));
        samples_init(&patched[hi]);
    }

    /* Patched: each dataset row, truncated to T, supplies the head's ln1-normalized
     * input at T-1; only the layers up to the highest patched head are run. */
    stop_layer = layers[0] > layers[1] ? layers[0] : layers[1];
    /* As many rows per forward as fit in EXP_BATCH_BYTES (prompts are short, but
     * --prompts may bring long ones), at most 64. */
    if (activations_alloc(&ar, m, 1, T, 0, 0, err)) {
        activations_free(&ap);
        free(u);
        free(out);
        return -1;
    }
    batch = (int)(EXP_BATCH_BYTES / (ar.bytes ? ar.bytes : 1));
    if (batch > 64) batch = 64;
    if (batch > ds->n_rows) batch = ds->n_rows;
    if (batch > 1) {
        activations_free(&ar);
        if (activations_alloc(&ar, m, batch, T, 0, 0, err)) {
            activations_free(&ap);
            free(u);
            free(out);
            return -1;
        }
    } else {
        batch = 1;
    }
    rows_tokens = xalloc_array((size_t)batch * T, sizeof(int), "fig4 rows");
    opt = forward_options_default();
    opt.stop_after_layer = stop_layer;
    opt.compute_logits = 0;
    for (row = 0; row < ds->n_rows; row += batch) {
        int n = ds->n_rows - row < batch ? ds->n_rows - row : batch;
        for (b = 0; b < n; b++)
            memcpy(rows_tokens + (size_t)b * T, ds->tokens + (size_t)(row + b) * ds->seq_len, (size_t)T * sizeof(int));
        model_forward(m, &ar, rows_tokens, n, T, &opt);
        for (b = 0; b < n; b++)
            for (hi = 0; hi < n_heads; hi++) {
                const float *input = ar.layer[layers[hi]].ln1_normalized + ((size_t)b * T + last) * D;
                head_result_with_input(m, &ap, 0, layers[hi], heads[hi], last, input, out);
                samples_add(&patched[hi], (float)direct_logit_attribution(out, D, s, m->lnf_w, u));
            }
    }
    for (hi = 0; hi < n_heads; hi++) {
        head_label(lab, sizeof lab, layers[hi], heads[hi]);
        snprintf(name, sizeof name, "fig4.p%d.%s.patched", k, lab);
        add_quantiles3(res, name, &patched[hi]);
        samples_free(&patched[hi]);
    }
    free(rows_tokens);
    free(u);
    free(out);
    activations_free(&ar);
    activations_free(&ap);
    return 0;
}

int exp_fig4(const Model *m, const Dataset *ds, const ExpHeads *hd, Tokenizer *tok, const AdvPrompt *prompts,
             int n_prompts, Results *res, Error *err) {
    int k;
    if (exp_heads_check(m, hd, err)) return -1;
    for (k = 0; k < n_prompts; k++) {
        PromptTokens pt;
        int rc;
        if (tokenize_prompt(m, tok, &prompts[k], k + 1, ds->seq_len, &pt, err)) return -1;
        rc = exp_fig4_prompt(m, ds, hd, &pt, prompts[k].other_layer, prompts[k].other_head, k + 1, res, err);
        free(pt.tokens);
        if (rc) return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Command line                                                              */
/* ------------------------------------------------------------------------ */

static void print_usage(FILE *f) {
    fprintf(f,
            "usage: cleanup all|fig1|fig2|fig3|fig4|fig5|sec32 [options]\n"
            "\n"
            "Runs the paper's experiments (../shared/PROTOCOL.md sections 3-6; EXPERIMENTS.md)\n"
            "and writes OUT/results.tsv (one name<TAB>value line per metric, sorted).\n"
            "  all    every experiment, then the figures and report.md (see `cleanup verify`)\n"
            "  fig1   residual stream projected onto the layer-0 heads\n"
            "  fig2   projection of every node onto the writer (the -0.903 headline)\n"
            "  fig3   value-input patch: the clean-up depends on the writer\n"
            "  fig4   adversarial prompts: logit differences, clean and patched DLA\n"
            "  fig5   writer DLA against its V-composition (the authors' regression)\n"
            "  sec32  Section 3.2's two correlations\n"
            "\n"
            "options:\n"
            "  --model DIR       model directory (config.json, weights, tokenizer.json, data.jsonl);\n"
            "                    default weights/gelu-4l if present, else weights/planted\n"
            "  --weights FILE    weights file (default: the *final.pth / .pth / .safetensors in DIR)\n"
            "  --data FILE|DIR   rows: {\"tokens\":[...]} JSONL, datasets-server /rows JSON, or raw\n"
            "                    text ({\"text\":...} JSONL or plain text). A directory (default: the\n"
            "                    model's) gives its data.jsonl, else all its rows-*.json, mixed in\n"
            "                    proportion to their sizes\n"
            "  --n-prompts N     number of dataset rows (default 300)\n"
            "  --seq-len T       tokens per row (default n_ctx); longer rows are truncated\n"
            "  --out DIR         output directory (default out/)\n"
            "  --threads N       worker threads (results do not depend on it)\n"
            "  --writer LxHy     the writer head (default L0H2)\n"
            "  --cleaners LIST   cleaner heads, all in one layer, the patched layer\n"
            "                    (default L2H2,L2H3,L2H4,L2H5,L2H6,L2H7)\n"
            "  --prompts FILE    Fig 4 prompts, TSV: prompt, correct, incorrect, other head\n"
            "                    (\\n, \\t, \\\\ escapes; # comments); default the paper's four\n"
            "  --bos ID          BOS token id prepended to prompts and text rows\n"
            "  --no-processing   use the raw weights (no TransformerLens folding/centering)\n"
            "\n"
            "exit codes: 0 ok, 1 bad command line, 2 bad input, 3 cannot write, 5 out of memory\n");
}

typedef struct {
    const char *model_dir, *weights, *data, *out, *prompts_file, *writer, *cleaners;
    long n_rows, seq_len, threads, bos;
    int no_processing;
} ExpOptions;

/* Parses --cleaners "L2H2,L2H3" into hd (all in one layer). */
static int parse_cleaners(const Model *m, const char *list, ExpHeads *hd, Error *err) {
    char buf[1024], *p, *next;
    if (strlen(list) >= sizeof buf) return error_set_code(err, EXIT_USAGE, "--cleaners: list too long");
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
            return error_set_code(err, EXIT_USAGE, "--cleaners: %s is not in layer %d like the first cleaner", p,
                                  hd->patched_layer);
        if (hd->n_cleaners == EXP_MAX_CLEANERS) return error_set_code(err, EXIT_USAGE, "--cleaners: too many heads");
        hd->cleaners[hd->n_cleaners++] = h;
    }
    if (hd->n_cleaners == 0) return error_set_code(err, EXIT_USAGE, "--cleaners: no heads given");
    return 0;
}

/* Decodes \n, \t, \\ in place (other backslashes are kept). */
static void unescape(char *s) {
    char *o = s;
    for (; *s; s++) {
        if (*s == '\\' && (s[1] == 'n' || s[1] == 't' || s[1] == '\\')) {
            s++;
            *o++ = *s == 'n' ? '\n' : *s == 't' ? '\t' : '\\';
        } else {
            *o++ = *s;
        }
    }
    *o = '\0';
}

/* Reads a --prompts TSV file. *text keeps the strings alive (free it and *prompts). */
static int read_prompts(const Model *m, const char *path, AdvPrompt **prompts, int *count, char **text, Error *err) {
    unsigned char *data;
    size_t len;
    char *line, *next;
    int line_no = 0, n = 0, cap = 0;
    AdvPrompt *list = NULL;
    if (read_file(path, (size_t)16 << 20, &data, &len, err)) return -1;
    for (line = (char *)data; line && *line; line = next) {
        char *f[4], *p;
        int nf = 0;
        size_t ll;
        next = strchr(line, '\n');
        if (next) *next++ = '\0';
        line_no++;
        ll = strlen(line);
        if (ll && line[ll - 1] == '\r') line[--ll] = '\0';
        if (ll == 0 || line[0] == '#') continue;
        for (p = line; p && nf < 4; nf++) {
            f[nf] = p;
            p = strchr(p, '\t');
            if (p) *p++ = '\0';
            if (nf == 3 && p) nf = 5; /* more than four fields */
        }
        if (nf != 4) {
            free(list);
            free(data);
            return error_set(err, "%s: line %d: expected 4 tab-separated fields (prompt, correct, incorrect, head)",
                             path, line_no);
        }
        if (n == cap) {
            AdvPrompt *nl;
            cap = cap ? cap * 2 : 8;
            nl = realloc(list, (size_t)cap * sizeof *nl);
            if (!nl) die(EXIT_INTERNAL, "out of memory");
            list = nl;
        }
        unescape(f[0]);
        unescape(f[1]);
        unescape(f[2]);
        list[n].prompt = f[0];
        list[n].correct = f[1];
        list[n].incorrect = f[2];
        if (parse_head(m, f[3], &list[n].other_layer, &list[n].other_head, err)) {
            char msg[sizeof err->msg];
            snprintf(msg, sizeof msg, "%s", err->msg);
            free(list);
            free(data);
            return error_set(err, "%s: line %d: %s", path, line_no, msg);
        }
        n++;
    }
    if (n == 0) {
        free(list);
        free(data);
        return error_set(err, "%s: no prompts", path);
    }
    *prompts = list;
    *count = n;
    *text = (char *)data;
    return 0;
}

static int is_gelu_4l_shape(const ModelConfig *c) {
    return c->d_model == 512 && c->n_layers == 4 && c->n_heads == 8 && c->d_vocab == 48262 && c->d_mlp == 2048;
}

/* One line saying how the run compares with its reference values, if any. */
static void print_check_summary(const ReportInput *in, const Results *res) {
    size_t i, pass = 0, fail = 0, missing = 0;
    double value;
    if (!in->checks || in->n_checks == 0) {
        printf("checks: no reference values for this model\n");
        return;
    }
    for (i = 0; i < in->n_checks; i++) {
        int outcome = refcheck_eval(&in->checks[i], res, &value);
        if (outcome == REFCHECK_PASS) pass++;
        else if (outcome == REFCHECK_FAIL) fail++;
        else missing++;
    }
    printf("checks: %lu of %lu %s PASS, %lu FAIL, %lu missing\n", (unsigned long)pass, (unsigned long)in->n_checks,
           in->is_planted ? "planted-model expectations" : "paper reference values", (unsigned long)fail,
           (unsigned long)missing);
}

int cmd_experiment(int argc, char **argv) {
    ExpOptions o;
    Error err;
    Model m;
    Dataset ds;
    Tokenizer *tok = NULL;
    ExpHeads hd;
    Results res;
    Points fig5;
    AdvPrompt *file_prompts = NULL;
    const AdvPrompt *prompts;
    char *prompts_text = NULL, *tok_path = NULL, *data_path = NULL, *out_path = NULL, **data_files = NULL;
    int n_data_files = 0;
    const char *cmd = argv[0];
    unsigned which = 0;
    int want_fig4 = 0, is_all = 0, n_prompts = 0, i, rc = EXIT_OK, T;
    double t0 = now_seconds();

    memset(&o, 0, sizeof o);
    memset(&err, 0, sizeof err);
    o.n_rows = 300;
    o.bos = -1;
    o.out = "out";
    o.writer = "L0H2";
    o.cleaners = "L2H2,L2H3,L2H4,L2H5,L2H6,L2H7";
    if (strcmp(cmd, "all") == 0) {
        is_all = 1;
        which = EXP_FIG1 | EXP_FIG2 | EXP_FIG3 | EXP_FIG5 | EXP_SEC32;
    } else if (strcmp(cmd, "fig1") == 0) which = EXP_FIG1;
    else if (strcmp(cmd, "fig2") == 0) which = EXP_FIG2;
    else if (strcmp(cmd, "fig3") == 0) which = EXP_FIG3;
    else if (strcmp(cmd, "fig4") == 0) want_fig4 = 1;
    else if (strcmp(cmd, "fig5") == 0) which = EXP_FIG5;
    else if (strcmp(cmd, "sec32") == 0) which = EXP_SEC32;
    else die(EXIT_USAGE, "unknown experiment '%s'", cmd);

    for (i = 1; i < argc; i++) {
        const char *v;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            print_usage(stdout);
            return EXIT_OK;
        } else if (strcmp(argv[i], "--no-processing") == 0) {
            o.no_processing = 1;
        } else if (arg_value(argc, argv, &i, "--model", &v)) {
            o.model_dir = v;
        } else if (arg_value(argc, argv, &i, "--weights", &v)) {
            o.weights = v;
        } else if (arg_value(argc, argv, &i, "--data", &v)) {
            o.data = v;
        } else if (arg_value(argc, argv, &i, "--n-prompts", &v)) {
            o.n_rows = arg_int(v, 1, 100000000, "--n-prompts");
        } else if (arg_value(argc, argv, &i, "--seq-len", &v)) {
            o.seq_len = arg_int(v, 1, 1 << 24, "--seq-len");
        } else if (arg_value(argc, argv, &i, "--out", &v)) {
            o.out = v;
        } else if (arg_value(argc, argv, &i, "--threads", &v)) {
            o.threads = arg_int(v, 1, 4096, "--threads");
        } else if (arg_value(argc, argv, &i, "--writer", &v)) {
            o.writer = v;
        } else if (arg_value(argc, argv, &i, "--cleaners", &v)) {
            o.cleaners = v;
        } else if (arg_value(argc, argv, &i, "--prompts", &v)) {
            o.prompts_file = v;
        } else if (arg_value(argc, argv, &i, "--bos", &v)) {
            o.bos = arg_int(v, 0, 100000000, "--bos");
        } else {
            fprintf(stderr, "cleanup %s: unknown option '%s'\n\n", cmd, argv[i]);
            print_usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (o.threads > 0) set_thread_count((int)o.threads);

    /* The model: the paper's when it is there, else the bundled planted one. */
    if (!o.model_dir) {
        if (path_exists("weights/gelu-4l/config.json")) {
            o.model_dir = "weights/gelu-4l";
            printf("model: weights/gelu-4l (the paper's model, found in weights/)\n");
        } else {
            o.model_dir = "weights/planted";
            printf("model: weights/planted - the bundled PLANTED model, not gelu-4l (weights/gelu-4l/config.json\n"
                   "       not found). It exercises the whole pipeline on a known circuit; to reproduce the\n"
                   "       paper, get gelu-4l with `make fetch` or by hand (README, \"Getting gelu-4l\").\n");
        }
    }
    if (model_load(o.model_dir, o.weights, !o.no_processing, &m, &err)) die_error(&err);
    T = o.seq_len ? (int)o.seq_len : m.cfg.n_ctx;
    if (T > m.cfg.n_ctx) die(EXIT_USAGE, "--seq-len %d is longer than the model's n_ctx %d", T, m.cfg.n_ctx);

    /* Heads. */
    memset(&hd, 0, sizeof hd);
    if (parse_head(&m, o.writer, &hd.writer_layer, &hd.writer_head, &err)) {
        fprintf(stderr, "cleanup: --writer: %s\n", err.msg);
        return EXIT_USAGE;
    }
    if (parse_cleaners(&m, o.cleaners, &hd, &err)) {
        fprintf(stderr, "cleanup: --cleaners: %s\n", err.msg);
        return EXIT_USAGE;
    }
    if (exp_heads_check(&m, &hd, &err)) die_error(&err);
    if ((which & EXP_FIG5) && T <= FIG5_FIRST_POS + 1)
        die(EXIT_USAGE, "Fig 5 uses positions %d..T-2 and needs T > %d (T = %d; pass a longer --seq-len)",
            FIG5_FIRST_POS, FIG5_FIRST_POS + 1, T);

    /* The tokenizer (Fig 4's prompts, raw-text data). */
    tok_path = path_join(o.model_dir, "tokenizer.json");
    if (path_exists(tok_path)) {
        tok = tokenizer_load(tok_path, &err);
        if (!tok) die_error(&err);
        if (o.bos >= 0) tokenizer_set_bos_id(tok, (int)o.bos);
    }
    if (is_all) want_fig4 = 1;
    if (want_fig4 && !tok) {
        if (!is_all) die(EXIT_INPUT, "%s: not found; Fig 4 needs the model's tokenizer to tokenize its prompts", tok_path);
        fprintf(stderr, "cleanup: warning: %s not found: skipping Fig 4 (its prompts cannot be tokenized)\n", tok_path);
        want_fig4 = 0;
    }
    if (want_fig4) {
        if (o.prompts_file) {
            if (read_prompts(&m, o.prompts_file, &file_prompts, &n_prompts, &prompts_text, &err)) die_error(&err);
            prompts = file_prompts;
        } else {
            prompts = exp_paper_prompts(&n_prompts);
        }
        /* Tokenize and check the prompts now, not after the long pass. */
        for (i = 0; i < n_prompts; i++) {
            PromptTokens pt;
            if (tokenize_prompt(&m, tok, &prompts[i], i + 1, T, &pt, &err)) {
                /* The problem is in the user's prompts file: name it. */
                if (o.prompts_file) die(err.code ? err.code : EXIT_INPUT, "%s: %s", o.prompts_file, err.msg);
                die_error(&err);
            }
            free(pt.tokens);
        }
    } else {
        prompts = NULL;
    }

    /* The data. */
    /* The data: --data FILE, or a directory's data.jsonl / rows-*.json files. */
    if (o.data && !is_directory(o.data)) {
        if (!path_exists(o.data)) die(EXIT_INPUT, "%s: not found", o.data);
        data_files = xalloc_array(1, sizeof *data_files, "paths");
        data_files[0] = xstrdup(o.data);
        n_data_files = 1;
    } else if (data_find_files(o.data ? o.data : o.model_dir, &data_files, &n_data_files, &err)) {
        die_error(&err);
    }
    if (data_load_files(data_files, n_data_files, (int)o.n_rows, T, m.cfg.n_ctx, m.cfg.d_vocab, tok, &ds, &err))
        die_error(&err);
    data_path = xalloc_array(strlen(data_files[0]) + 64, 1, "data path");
    if (n_data_files == 1) strcpy(data_path, data_files[0]);
    else sprintf(data_path, "%s and %d more files (mixed in proportion)", data_files[0], n_data_files - 1);
    printf("data: %s (%s), %d rows x %d tokens\n", data_path, ds.format, ds.n_rows, ds.seq_len);
    printf("heads: writer L%dH%d, %d cleaners in layer %d; %d thread(s)\n", hd.writer_layer, hd.writer_head,
           hd.n_cleaners, hd.patched_layer, thread_count());
    fflush(stdout);

    results_init(&res);
    points_init(&fig5);
    if (which && exp_clean_pass(&m, &ds, &hd, which, &res, &fig5, &err)) die_error(&err);
    if (want_fig4 && exp_fig4(&m, &ds, &hd, tok, prompts, n_prompts, &res, &err)) die_error(&err);

    if (make_dirs(o.out, &err)) {
        err.code = EXIT_IO;
        die_error(&err);
    }
    if (is_all) {
        ReportInput in;
        memset(&in, 0, sizeof in);
        in.results = &res;
        in.fig5_x = fig5.x;
        in.fig5_y = fig5.y;
        in.fig5_n = fig5.n;
        in.model_dir = o.model_dir;
        in.config_path = m.config_path;
        in.weights_path = m.weights_path;
        in.weights_sha256 = m.weights_sha256;
        in.model_name = m.cfg.model_name;
        in.n_layers = m.cfg.n_layers;
        in.n_heads = m.cfg.n_heads;
        in.d_model = m.cfg.d_model;
        in.d_head = m.cfg.d_head;
        in.d_mlp = m.cfg.d_mlp;
        in.n_ctx = m.cfg.n_ctx;
        in.d_vocab = m.cfg.d_vocab;
        in.act_fn = m.cfg.act_fn_name;
        in.processed = m.processed;
        /* The paper's values hold for gelu-4l as the authors loaded it (processed);
         * synth's random weights of the same shape are named so as not to be checked. */
        in.is_gelu_4l = is_gelu_4l_shape(&m.cfg) && strcmp(m.cfg.model_name, SYNTH_RANDOM_NAME) != 0;
        in.is_planted = synth_is_planted(m.cfg.model_name);
        if (!m.processed) {
            in.checks = NULL; /* --no-processing: the reference values do not apply */
            in.n_checks = 0;
        } else if (in.is_gelu_4l) {
            in.checks = report_paper_checks(&in.n_checks);
        } else if (in.is_planted) {
            in.checks = synth_planted_checks(&in.n_checks);
        }
        in.data_path = data_path;
        in.n_rows = ds.n_rows;
        in.seq_len = ds.seq_len;
        in.writer_layer = hd.writer_layer;
        in.writer_head = hd.writer_head;
        in.patched_layer = hd.patched_layer;
        in.n_cleaners = hd.n_cleaners;
        in.cleaner_heads = hd.cleaners;
        in.threads = thread_count();
        in.seconds = now_seconds() - t0;
        if (report_write_all(o.out, &in, &err)) die_error(&err);
        printf("wrote %s/results.tsv (%d metrics), figures and report.md in %.1f s\n", o.out, res.count,
               now_seconds() - t0);
        print_check_summary(&in, &res);
        printf("report: %s/report.md   (check the files with: ./cleanup verify %s)\n", o.out, o.out);
    } else {
        out_path = path_join(o.out, "results.tsv");
        if (results_write_tsv(&res, out_path, &err)) {
            err.code = EXIT_IO;
            die_error(&err);
        }
        printf("wrote %s (%d metrics) in %.1f s\n", out_path, res.count, now_seconds() - t0);
    }

    results_free(&res);
    points_free(&fig5);
    data_free(&ds);
    if (tok) tokenizer_free(tok);
    model_free(&m);
    free(file_prompts);
    free(prompts_text);
    free(tok_path);
    free(data_path);
    for (i = 0; i < n_data_files; i++) free(data_files[i]);
    free(data_files);
    free(out_path);
    return rc;
}
