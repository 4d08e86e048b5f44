/* top2_screen.c - see top2_screen.h.
 *
 * Arithmetic. The bound's terms are computed in double, where their rounding (2^-52) is
 * far inside the slack added to C and Cb (2^-30 relative). The quick tests that look at
 * every column (the first block's lower bounds, then "can this column reach lb2 at all")
 * run in float: each of their values is within margin(x) of its double value (a few
 * float roundings of quantities below Mag(x), the largest magnitude any term of the
 * position can have, so margin = 2^-18 Mag + A), and they are made conservative by it:
 * lb1 and lb2 from the first block are lowered by 2 margin, and a column is looked at in
 * double whenever its float upper bound reaches lb2 - 2 margin. */
#include "top2_screen.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "experiments.h"
#include "kernels.h"
#include "util.h"

/* Values at or above this in magnitude send W_U (at set-up) or a row to the exact path:
 * far from float overflow, so no sum in the bound overflows. */
#define TOP2_SCREEN_MAX 0x1p100
/* The bound's slack for its own double arithmetic: relative on C, absolute on Cb. */
#define SLACK (1.0 + 0x1p-30)
#define SLACK_BIAS 0x1p-30

/* gamma_n for float sums rounded to nearest: n 2^-24 / (1 - n 2^-24). */
static double gamma_float(int n) {
    const double u = 0x1p-24;
    return n * u / (1.0 - n * u);
}

static int n_groups(int V) {
    return (V + TOP2_SCREEN_GROUP - 1) / TOP2_SCREEN_GROUP;
}

size_t top2_screen_bytes(const Model *m, int T) {
    const int D = m->cfg.d_model, V = m->cfg.d_vocab;
    const size_t cands = (size_t)T * TOP2_SCREEN_CAP;
    if (!screen_name()) return 0;
    return screen_weights_words(D, V) * sizeof(uint32_t) + (size_t)V * (3 * sizeof(double) + 3 * sizeof(float)) +
           screen_rows_words(T, D) * sizeof(uint32_t) + (size_t)T * TOP2_SCREEN_BLOCK * sizeof(float) +
           (size_t)T * (3 * sizeof(double) + sizeof(Top2Bounds)) +
           cands * (3 * sizeof(int) + sizeof(uint64_t) + sizeof(double) + 2 * sizeof(float)) + (size_t)(n_groups(V) + 1) * sizeof(int);
}

int top2_screen_init(Top2Screen *s, const Model *m, int T) {
    const int D = m->cfg.d_model, V = m->cfg.d_vocab;
    const size_t cands = (size_t)T * TOP2_SCREEN_CAP;
    double C, Cb, *sumsq;
    int v, d, ok = 1;
    memset(s, 0, sizeof *s);
    if (!screen_name() || V < 2 || D < 1 || D > 65536) return 0;
    C = (screen_error(D) + gamma_float(D + 1)) * SLACK;
    Cb = gamma_float(D + 1) + SLACK_BIAS;
    /* the columns' norms, row by row of W_U (its rows are contiguous) */
    sumsq = xalloc_array((size_t)V, sizeof *sumsq, "logits screening");
    for (d = 0; d < D; d++) {
        const float *w = m->W_U + (size_t)d * V;
        for (v = 0; v < V; v++) {
            const double x = w[v];
            ok &= fabs(x) < TOP2_SCREEN_MAX; /* false for NaN */
            if (fabs(x) > s->w_max) s->w_max = fabs(x);
            sumsq[v] += x * x;
        }
    }
    for (v = 0; v < V; v++) ok &= fabs((double)m->b_U[v]) < TOP2_SCREEN_MAX;
    if (!ok) {
        free(sumsq);
        return 0;
    }
    s->T = T;
    s->D = D;
    s->V = V;
    s->col = sumsq; /* in place: C ||W_U[:,v]|| */
    s->bias_hi = xalloc_array((size_t)V, sizeof(double), "logits screening");
    s->bias_lo = xalloc_array((size_t)V, sizeof(double), "logits screening");
    s->col_f = xalloc_array((size_t)V, sizeof(float), "logits screening");
    s->hi_f = xalloc_array((size_t)V, sizeof(float), "logits screening");
    s->lo_f = xalloc_array((size_t)V, sizeof(float), "logits screening");
    for (v = 0; v < V; v++) {
        const double b = m->b_U[v], norm = sqrt(s->col[v]) * SLACK;
        if (norm > s->w_norm_max) s->w_norm_max = norm;
        s->col[v] = C * norm;
        if (s->col[v] > s->col_max) s->col_max = s->col[v];
        if (fabs(b) > s->b_max) s->b_max = fabs(b);
        s->bias_hi[v] = b + Cb * fabs(b);
        s->bias_lo[v] = b - Cb * fabs(b);
        s->col_f[v] = (float)s->col[v];
        s->hi_f[v] = (float)s->bias_hi[v];
        s->lo_f[v] = (float)s->bias_lo[v];
    }
    s->panels = xalloc_array(screen_weights_words(D, V), sizeof(uint32_t), "logits screening");
    screen_pack_weights(s->panels, m->W_U, V, D, V);
    s->rows = xalloc_array(screen_rows_words(T, D), sizeof(uint32_t), "logits screening");
    s->screened = xalloc_array((size_t)T * TOP2_SCREEN_BLOCK, sizeof(float), "logits screening");
    s->x_norm = xalloc_array((size_t)T, sizeof(double), "logits screening");
    s->x_abs = xalloc_array((size_t)T, sizeof(double), "logits screening");
    s->margin = xalloc_array((size_t)T, sizeof(double), "logits screening");
    s->bounds = xalloc_array((size_t)T, sizeof(Top2Bounds), "logits screening");
    s->cand = xalloc_array(cands, sizeof(int), "logits screening");
    s->cand_ub = xalloc_array(cands, sizeof(double), "logits screening");
    s->cand_logit = xalloc_array(cands, sizeof(float), "logits screening");
    s->order = xalloc_array(cands, sizeof(uint64_t), "logits screening");
    s->q_pos = xalloc_array(cands, sizeof(int), "logits screening");
    s->q_col = xalloc_array(cands, sizeof(int), "logits screening");
    s->q_logit = xalloc_array(cands, sizeof(float), "logits screening");
    s->group_start = xalloc_array((size_t)n_groups(V) + 1, sizeof(int), "logits screening");
    return 1;
}

void top2_screen_free(Top2Screen *s) {
    free(s->panels);
    free(s->col);
    free(s->bias_hi);
    free(s->bias_lo);
    free(s->col_f);
    free(s->hi_f);
    free(s->lo_f);
    free(s->rows);
    free(s->screened);
    free(s->x_norm);
    free(s->x_abs);
    free(s->margin);
    free(s->bounds);
    free(s->cand);
    free(s->cand_ub);
    free(s->cand_logit);
    free(s->order);
    free(s->q_pos);
    free(s->q_col);
    free(s->q_logit);
    free(s->group_start);
    memset(s, 0, sizeof *s);
}

/* Keeps position t's candidates whose upper bound reaches its lb2 (in order). */
static void prune(Top2Screen *s, int t) {
    Top2Bounds *b = &s->bounds[t];
    int *cand = s->cand + (size_t)t * TOP2_SCREEN_CAP;
    double *ub = s->cand_ub + (size_t)t * TOP2_SCREEN_CAP;
    int i, n = 0;
    for (i = 0; i < b->n; i++)
        if (ub[i] >= b->lb2) {
            cand[n] = cand[i];
            ub[n++] = ub[i];
        }
    b->n = n;
}

/* lb1, lb2 of position t from the first block's columns (float, lowered by 2 margin): the
 * two highest lower bounds, of two different columns. */
static void first_bounds(Top2Screen *s, int t, int nc) {
    const float *sv = s->screened + (size_t)t * nc;
    const float xn = (float)s->x_norm[t];
    float l1 = -HUGE_VALF, l2 = -HUGE_VALF;
    int j;
    for (j = 0; j < nc; j++) {
        const float lb = sv[j] + s->lo_f[j] - xn * s->col_f[j];
        if (lb > l1) {
            l2 = l1;
            l1 = lb;
        } else if (lb > l2) {
            l2 = lb;
        }
    }
    s->bounds[t].lb1 = (double)l1 - 2 * s->margin[t];
    s->bounds[t].lb2 = (double)l2 - 2 * s->margin[t];
    s->bounds[t].n = 0;
}

/* Position t against the block of columns [c0, c0 + nc), its screened products in
 * s->screened: the columns whose upper bound reaches lb2 join the candidates, and (past
 * the first block, whose columns set lb1/lb2 before) their lower bounds raise lb1/lb2. */
static void screen_position(Top2Screen *s, int t, int c0, int nc) {
    const float *sv = s->screened + (size_t)t * nc;
    const double xn = s->x_norm[t], xa = s->x_abs[t];
    const double *col = s->col + c0, *hi = s->bias_hi + c0, *lo = s->bias_lo + c0;
    const float *col_f = s->col_f + c0, *hi_f = s->hi_f + c0, xn_f = (float)xn;
    Top2Bounds *b = &s->bounds[t];
    int *cand = s->cand + (size_t)t * TOP2_SCREEN_CAP;
    double *cub = s->cand_ub + (size_t)t * TOP2_SCREEN_CAP;
    int j;
    if (b->overflow) return;
    if (c0 == 0) first_bounds(s, t, nc);
    /* each column whose float upper bound reaches lb2 - 2 margin, looked at in double */
    for (j = 0; (j += first_reaching(sv + j, hi_f + j, col_f + j, xn_f, (float)(b->lb2 - 2 * s->margin[t]), nc - j)) < nc;
         j++) {
        const double e = xn * col[j] + xa, ub = (double)sv[j] + hi[j] + e;
        if (c0 > 0) {
            const double lb = (double)sv[j] + lo[j] - e;
            if (lb > b->lb1) {
                b->lb2 = b->lb1;
                b->lb1 = lb;
            } else if (lb > b->lb2) {
                b->lb2 = lb;
            }
        }
        if (ub < b->lb2) continue;
        if (b->n == TOP2_SCREEN_CAP) prune(s, t);
        if (b->n == TOP2_SCREEN_CAP) {
            b->overflow = 1;
            return;
        }
        cand[b->n] = c0 + j;
        cub[b->n++] = ub;
    }
}

/* qsort's order of the keys (column << 32 | t * TOP2_SCREEN_CAP + slot): by column, then position. */
static int by_key(const void *a, const void *b) {
    const uint64_t ka = *(const uint64_t *)a, kb = *(const uint64_t *)b;
    return ka < kb ? -1 : ka > kb;
}

/* The candidates' exact logits (matmul_pairs: each the chain matmul_at computes for it),
 * grouped by TOP2_SCREEN_GROUP columns: each group streams its part of W_U's rows. */
static void exact_logits(Top2Screen *s, const Model *m, const float *xt, int ldxt) {
    const int T = s->T, D = s->D, V = s->V, G = n_groups(V);
    int *next = xalloc_array((size_t)G, sizeof(int), "logits screening");
    int t, g, i;
    memset(s->group_start, 0, (size_t)(G + 1) * sizeof(int));
    for (t = 0; t < T; t++)
        for (i = 0; i < s->bounds[t].n; i++) s->group_start[s->cand[(size_t)t * TOP2_SCREEN_CAP + i] / TOP2_SCREEN_GROUP + 1]++;
    for (g = 0; g < G; g++) s->group_start[g + 1] += s->group_start[g];
    memcpy(next, s->group_start, (size_t)G * sizeof(int));
    for (t = 0; t < T; t++)
        for (i = 0; i < s->bounds[t].n; i++) {
            const size_t k = (size_t)t * TOP2_SCREEN_CAP + i;
            s->order[next[s->cand[k] / TOP2_SCREEN_GROUP]++] = (uint64_t)s->cand[k] << 32 | k;
        }
    free(next);
    /* each group's candidates in column order, so that each row of W_U is read in order */
    for (g = 0; g < G; g++)
        qsort(s->order + s->group_start[g], (size_t)(s->group_start[g + 1] - s->group_start[g]), sizeof *s->order, by_key);
    for (i = 0; i < s->group_start[G]; i++) {
        s->q_pos[i] = (int)(s->order[i] & 0xffffffffu) / TOP2_SCREEN_CAP;
        s->q_col[i] = (int)(s->order[i] >> 32);
    }
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1)
#endif
    for (g = 0; g < G; g++) {
        const int q0 = s->group_start[g], n = s->group_start[g + 1] - q0;
        if (n > 0) matmul_pairs(s->q_logit + q0, xt, ldxt, s->q_pos + q0, m->W_U, V, s->q_col + q0, m->b_U, n, D);
    }
    for (i = 0; i < s->group_start[G]; i++) s->cand_logit[s->order[i] & 0xffffffffu] = s->q_logit[i];
}

int top2_screen_row(Top2Screen *s, const Model *m, const float *x, const float *xt, int ldxt, int *top1, int *top2) {
    const int T = s->T, D = s->D, V = s->V;
    int t, c0, bad = 0, overflow = 0;
    if (!s->panels) return -1;
    for (t = 0; t < T; t++) {
        const float *xr = x + (size_t)t * D;
        double sumsq = 0.0, amax = 0.0, xn, mag;
        int d;
        for (d = 0; d < D; d++) {
            const double v = xr[d];
            if (!(fabs(v) <= amax)) amax = isnan(v) ? HUGE_VAL : fabs(v);
            sumsq += v * v;
        }
        xn = s->x_norm[t] = sqrt(sumsq) * SLACK;
        s->x_abs[t] = D * 0x1p-124 * (amax + s->w_max + 1.0) + (D + 2) * 0x1p-149;
        mag = xn * (1.02 * s->w_norm_max + s->col_max) + 1.02 * s->b_max + s->x_abs[t];
        s->margin[t] = 0x1p-18 * mag + s->x_abs[t];
        s->bounds[t].overflow = 0;
        /* no logit, screened or float, comes near overflow */
        if (!(amax < TOP2_SCREEN_MAX) || !(mag < 0x1p110)) bad = 1;
    }
    if (bad) return -1;
    screen_pack_rows(s->rows, x, D, T, D);
    for (c0 = 0; c0 < V; c0 += TOP2_SCREEN_BLOCK) {
        const int nc = V - c0 < TOP2_SCREEN_BLOCK ? V - c0 : TOP2_SCREEN_BLOCK;
        screen_product(s->screened, nc, s->rows, T, s->panels, D, c0, c0 + nc);
#ifdef _OPENMP
#pragma omp parallel for schedule(static)
#endif
        for (t = 0; t < T; t++) screen_position(s, t, c0, nc);
    }
    for (t = 0; t < T; t++) {
        overflow |= s->bounds[t].overflow;
        prune(s, t); /* by the final lb2 */
    }
    if (overflow) return -1;
    exact_logits(s, m, xt, ldxt);
    /* logits_top2's scan over each position's candidates in column order: every column left
     * out is below two candidates, so it changes neither index */
    for (t = 0; t < T; t++) {
        const int *cand = s->cand + (size_t)t * TOP2_SCREEN_CAP;
        const float *lg = s->cand_logit + (size_t)t * TOP2_SCREEN_CAP;
        Top2Scan sc;
        int i;
        sc.top1 = cand[0];
        sc.top2 = -1;
        sc.v1 = lg[0];
        sc.v2 = 0.0f;
        for (i = 1; i < s->bounds[t].n; i++) top2_scan(&sc, lg + i, cand[i], 1);
        top1[t] = sc.top1;
        top2[t] = sc.top2;
    }
    return 0;
}
