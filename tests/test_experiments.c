/* test_experiments.c - invariants of the experiments that hold on any model, checked on
 * a small random model built in memory (no files needed):
 *   - PR(resid_post_l, MLP_l) - PR(resid_mid_l, MLP_l) = 1, since resid_post = resid_mid + mlp_out;
 *   - the cleaners' summed PR equals the sum of their PRs, per sample (PR is linear in a);
 *   - DLA is linear and ignores the mean over D;
 *   - Fig 3's patched run equals the clean run below the patched layer, and its patched
 *     head outputs match the closed form of docs/PROTOCOL.md section 5.3:
 *     result'_h[i] = result_h[i] - sum_{j<=i} A_h[i,j] (writer[j]/s[j]) W_V[h] W_O[h];
 *   - Fig 4's patched DLA equals the clean DLA when every dataset row starts with the prompt;
 *   - results do not depend on the thread count;
 *   - the pass's Figs 1-3 samples are projection_ratio's values, exactly;
 *   - Section 3.2's one-pass top-2 gives the indices of the two plain scans.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "kernels.h"
#include "experiments.h"
#include "report.h"
#include "model.h"

enum { L = 3, H = 4, D = 32, DH = 8, M = 64, CTX = 48, V = 50, ROWS = 5, T = 40 };

static unsigned long long rng_state = 12345;

/* Uniform in [-1, 1): a fixed LCG so the test is reproducible everywhere. */
static float rnd(void) {
    rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((double)(rng_state >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static float *own(Model *m, size_t n, float scale, float offset) {
    float *p = xalloc_array(n, sizeof(float), "test weights");
    size_t i;
    if (m->n_owned == m->cap_owned) {
        m->cap_owned = m->cap_owned ? m->cap_owned * 2 : 64;
        m->owned = realloc(m->owned, (size_t)m->cap_owned * sizeof *m->owned);
        if (!m->owned) die(EXIT_INTERNAL, "out of memory");
    }
    m->owned[m->n_owned++] = p;
    for (i = 0; i < n; i++) p[i] = offset + scale * rnd();
    return p;
}

/* A random LayerNorm model of the gelu-4l family, then TransformerLens-processed. */
static void build_model(Model *m) {
    int l;
    memset(m, 0, sizeof *m);
    m->cfg.n_layers = L;
    m->cfg.d_model = D;
    m->cfg.n_heads = H;
    m->cfg.d_head = DH;
    m->cfg.d_mlp = M;
    m->cfg.n_ctx = CTX;
    m->cfg.d_vocab = V;
    m->cfg.act_fn = ACT_GELU;
    m->cfg.normalization = NORM_LN;
    m->cfg.eps = 1e-5f;
    strcpy(m->cfg.act_fn_name, "gelu");
    m->W_E = own(m, (size_t)V * D, 0.8f, 0);
    m->W_pos = own(m, (size_t)CTX * D, 0.4f, 0);
    m->layers = xalloc_array(L, sizeof *m->layers, "layers");
    for (l = 0; l < L; l++) {
        LayerWeights *w = &m->layers[l];
        w->ln1_w = own(m, D, 0.2f, 1);
        w->ln1_b = own(m, D, 0.1f, 0);
        w->W_Q = own(m, (size_t)H * D * DH, 0.4f, 0);
        w->W_K = own(m, (size_t)H * D * DH, 0.4f, 0);
        w->W_V = own(m, (size_t)H * D * DH, 0.4f, 0);
        w->b_Q = own(m, (size_t)H * DH, 0.1f, 0);
        w->b_K = own(m, (size_t)H * DH, 0.1f, 0);
        w->b_V = own(m, (size_t)H * DH, 0.1f, 0);
        w->W_O = own(m, (size_t)H * DH * D, 0.4f, 0);
        w->b_O = own(m, D, 0.1f, 0);
        w->ln2_w = own(m, D, 0.2f, 1);
        w->ln2_b = own(m, D, 0.1f, 0);
        w->W_in = own(m, (size_t)D * M, 0.3f, 0);
        w->b_in = own(m, M, 0.1f, 0);
        w->W_out = own(m, (size_t)M * D, 0.3f, 0);
        w->b_out = own(m, D, 0.1f, 0);
    }
    m->lnf_w = own(m, D, 0.2f, 1);
    m->lnf_b = own(m, D, 0.1f, 0);
    m->W_U = own(m, (size_t)D * V, 0.5f, 0);
    m->b_U = own(m, V, 0.1f, 0);
    m->has_ln_weights = 1;
    model_process(m);
    model_prepare(m);
}

static void build_data(Dataset *ds) {
    int i;
    ds->n_rows = ROWS;
    ds->seq_len = T;
    ds->format = "test";
    ds->tokens = xalloc_array((size_t)ROWS * T, sizeof(int), "tokens");
    for (i = 0; i < ROWS * T; i++) ds->tokens[i] = i % T == 0 ? 1 : (int)((rnd() + 1.0f) * 0.5f * (V - 3)) + 3;
}

static ExpHeads default_heads(void) {
    ExpHeads hd;
    memset(&hd, 0, sizeof hd);
    hd.writer_layer = 0;
    hd.writer_head = 2;
    hd.patched_layer = 2;
    hd.n_cleaners = 2;
    hd.cleaners[0] = 1;
    hd.cleaners[1] = 3;
    return hd;
}

/* PR(resid_post, MLP) - PR(resid_mid, MLP) = 1 and the cleaners' summed PR, per sample. */
static void test_projection_identities(const Model *m, const Dataset *ds) {
    Activations a;
    Error err;
    int b, t, l, bad_mlp = 0, bad_sum = 0, bad_cleaners = 0, d;
    float sum[D], cleaners[D];
    const ExpHeads hd = default_heads(); /* cleaners L2H1, L2H3 */
    double worst = 0;
    if (activations_alloc(&a, m, ROWS, T, 0, 0, &err)) {
        CHECK(0, "activations: %s", err.msg);
        return;
    }
    model_forward(m, &a, ds->tokens, ROWS, T, NULL);
    for (b = 0; b < ROWS; b++)
        for (t = 0; t < T; t++) {
            size_t bt = (size_t)b * T + t;
            const float *w = hook_result_at(m, &a, 0, 2, b, t);
            double separate = 0, together;
            for (l = 0; l < L; l++) {
                const float *mlp = a.layer[l].mlp_out + bt * D;
                double diff = projection_ratio(a.layer[l].resid_post + bt * D, mlp, D) -
                              projection_ratio(a.layer[l].resid_mid + bt * D, mlp, D);
                if (fabs(diff - 1) > 1e-4) bad_mlp++;
            }
            for (d = 0; d < D; d++) sum[d] = hook_result_at(m, &a, 2, 1, b, t)[d] + hook_result_at(m, &a, 2, 3, b, t)[d];
            cleaners_output(cleaners, m, &hd, &a, b, t);
            for (d = 0; d < D; d++) bad_cleaners += cleaners[d] != (0.0f + hook_result_at(m, &a, 2, 1, b, t)[d]) + hook_result_at(m, &a, 2, 3, b, t)[d];
            separate = projection_ratio(hook_result_at(m, &a, 2, 1, b, t), w, D) + projection_ratio(hook_result_at(m, &a, 2, 3, b, t), w, D);
            together = projection_ratio(sum, w, D);
            if (fabs(separate - together) > 1e-5 * (1 + fabs(together))) bad_sum++;
            if (fabs(separate - together) > worst) worst = fabs(separate - together);
        }
    CHECK(bad_mlp == 0, "PR(resid_post, MLP) - PR(resid_mid, MLP) = 1 at every sample (%d off)", bad_mlp);
    CHECK(bad_sum == 0, "PR of the summed cleaners = sum of their PRs (%d off, worst %g)", bad_sum, worst);
    CHECK(bad_cleaners == 0, "cleaners_output = 0 + L2H1 + L2H3's results, element by element (%d differ)", bad_cleaners);
    {
        float zero[D];
        memset(zero, 0, sizeof zero);
        CHECK(isnan(projection_ratio(sum, zero, D)), "PR onto a zero vector is NaN");
    }
    activations_free(&a);
}

/* unembed_directions against W_U's columns read here: many directions at once (the blocked
 * gather, threads sharing it), with and without a column subtracted, and one. */
static void test_unembed_directions(const Model *m) {
    enum { N = 70 };
    int c[N], i[N], p, d, wrong = 0, wrong_plain = 0;
    float *u = malloc(sizeof(float) * N * D), *w = malloc(sizeof(float) * N * D);
    if (!u || !w) exit(1);
    for (p = 0; p < N; p++) {
        c[p] = (p * 37 + 5) % V;
        i[p] = p % 3 == 0 ? -1 : (p * 11 + 2) % V;
    }
    unembed_directions(m, c, i, N, u);
    unembed_directions(m, c, NULL, N, w);
    for (p = 0; p < N; p++)
        for (d = 0; d < D; d++) {
            const float col = m->W_U[(size_t)d * V + c[p]];
            const float want = i[p] < 0 ? col : col - m->W_U[(size_t)d * V + i[p]];
            wrong += memcmp(&u[(size_t)p * D + d], &want, sizeof want) != 0;
            wrong_plain += memcmp(&w[(size_t)p * D + d], &col, sizeof col) != 0;
        }
    CHECK(wrong == 0, "unembed_directions: %d of %d elements differ from W_U[:,c] - W_U[:,i]", wrong, N * D);
    CHECK(wrong_plain == 0, "unembed_directions without i: %d elements differ from W_U[:,c]", wrong_plain);
    free(u);
    free(w);
}

static void test_dla_linearity(const Model *m) {
    float r1[D], r2[D], r12[D], ones[D], u[D];
    double a, b, ab;
    int d;
    unembed_direction(m, 7, 11, u);
    for (d = 0; d < D; d++) {
        r1[d] = rnd();
        r2[d] = rnd();
        r12[d] = r1[d] + r2[d];
        ones[d] = 3.0f;
        CHECK(u[d] == m->W_U[(size_t)d * V + 7] - m->W_U[(size_t)d * V + 11], "direction = W_U[:,7] - W_U[:,11]");
    }
    a = direct_logit_attribution(r1, D, 1.7f, NULL, u);
    b = direct_logit_attribution(r2, D, 1.7f, NULL, u);
    ab = direct_logit_attribution(r12, D, 1.7f, NULL, u);
    CHECK(check_close(ab, a + b, 1e-5, 1e-6), "DLA(r1 + r2) = DLA(r1) + DLA(r2) (%g vs %g)", ab, a + b);
    CHECK(fabs(direct_logit_attribution(ones, D, 1.7f, NULL, u)) < 1e-6, "DLA of a constant vector is 0");
    CHECK(fabs(direct_logit_attribution(r1, D, 3.4f, NULL, u) - a / 2) < 1e-6, "DLA scales with 1/scale");
}

/* Fig 3's value-input patch against its closed form, and below-layer equality. */
static void test_patch_closed_form(const Model *m, const Dataset *ds) {
    Activations a;
    Error err;
    ForwardOptions opt = forward_options_default();
    const int p = 2, n_rows = 2;
    size_t BT = (size_t)n_rows * T, i;
    float *clean_result, *clean_pattern, *clean_below, *resid, *scale, *writer;
    int b, t, h, j, d, e, bad = 0, below_differs = 0;
    double worst = 0;
    if (activations_alloc(&a, m, n_rows, T, 0, 0, &err)) {
        CHECK(0, "activations: %s", err.msg);
        return;
    }
    model_forward(m, &a, ds->tokens, n_rows, T, NULL);
    clean_result = xalloc_array(BT * H * D, sizeof(float), "t");
    clean_pattern = xalloc_array((size_t)n_rows * H * T * T, sizeof(float), "t");
    clean_below = xalloc_array(BT * D, sizeof(float), "t");
    resid = xalloc_array(BT * D, sizeof(float), "t");
    scale = xalloc_array(BT, sizeof(float), "t");
    writer = xalloc_array(BT * D, sizeof(float), "t");
    memcpy(clean_result, a.layer[p].result, BT * H * D * sizeof(float));
    memcpy(clean_pattern, a.layer[p].pattern, (size_t)n_rows * H * T * T * sizeof(float));
    memcpy(clean_below, a.layer[p - 1].resid_post, BT * D * sizeof(float));
    for (b = 0; b < n_rows; b++)
        for (t = 0; t < T; t++) {
            size_t bt = (size_t)b * T + t;
            memcpy(writer + bt * D, hook_result_at(m, &a, 0, 2, b, t), D * sizeof(float));
            for (d = 0; d < D; d++) resid[bt * D + d] = a.layer[p].resid_pre[bt * D + d] - writer[bt * D + d];
            scale[bt] = a.layer[p].ln1_scale[bt];
        }
    opt.start_layer = p;
    opt.compute_logits = 0;
    opt.v_patch_layer = p;
    opt.v_patch_resid = resid;
    opt.v_patch_scale = scale;
    model_forward(m, &a, NULL, n_rows, T, &opt);
    for (i = 0; i < BT * D; i++)
        if (a.layer[p - 1].resid_post[i] != clean_below[i]) below_differs++;
    CHECK(below_differs == 0, "the patched run leaves the layers below the patched one as in the clean run");
    /* Closed form, in double: the writer's normalised contribution through each head's OV. */
    for (b = 0; b < n_rows; b++)
        for (h = 0; h < H; h++) {
            const float *WV = m->layers[p].W_V + (size_t)h * D * DH, *WO = m->layers[p].W_O + (size_t)h * DH * D;
            for (t = 0; t < T; t++) {
                double delta[D];
                memset(delta, 0, sizeof delta);
                for (j = 0; j <= t; j++) {
                    double A = clean_pattern[(((size_t)b * H + h) * T + t) * T + j], s = scale[(size_t)b * T + j];
                    const float *wj = writer + ((size_t)b * T + j) * D;
                    double mean = 0, y[DH];
                    for (d = 0; d < D; d++) mean += wj[d];
                    mean /= D;
                    for (e = 0; e < DH; e++) {
                        y[e] = 0;
                        for (d = 0; d < D; d++) y[e] += (wj[d] - mean) / s * WV[(size_t)d * DH + e];
                    }
                    for (d = 0; d < D; d++)
                        for (e = 0; e < DH; e++) delta[d] += A * y[e] * WO[(size_t)e * D + d];
                }
                for (d = 0; d < D; d++) {
                    /* (the copy has the hook's layout: the same offset as in a) */
                    double expect = clean_result[hook_result_at(m, &a, p, h, b, t) - a.layer[p].result + d] - delta[d];
                    double got = hook_result_at(m, &a, p, h, b, t)[d];
                    double diff = fabs(got - expect);
                    if (diff > worst) worst = diff;
                    if (diff > 1e-4 * (1 + fabs(expect))) bad++;
                }
            }
        }
    CHECK(bad == 0, "patched head outputs = clean - sum_j A[i,j] (w[j]/s[j]) W_V W_O (%d off, worst %g)", bad, worst);
    free(clean_result);
    free(clean_pattern);
    free(clean_below);
    free(resid);
    free(scale);
    free(writer);
    activations_free(&a);
}

/* exp_clean_pass: Fig 3's patched statistics equal the clean ones below the patched
 * layer and differ above; thread count does not change any result. */
static void test_clean_pass(const Model *m, const Dataset *ds) {
    ExpHeads hd = default_heads();
    Results r1, r2;
    Error err;
    int i, same_below = 1, differs_above = 0, identical = 1;
    unsigned all = EXP_FIG1 | EXP_FIG2 | EXP_FIG3 | EXP_FIG5 | EXP_SEC32;
    static const char *below[] = {"resid_pre0", "resid_mid0", "resid_post0", "resid_mid1", "resid_post1"};
    static const char *stats[] = {"median", "q12_5", "q25", "q75", "q87_5"};
    double v1, v2;
    char name[128];
    results_init(&r1);
    results_init(&r2);
    set_thread_count(1);
    CHECK(exp_clean_pass(m, ds, &hd, all, &r1, NULL, &err) == 0, "clean pass runs (%s)", err.msg);
    set_thread_count(2);
    CHECK(exp_clean_pass(m, ds, &hd, all, &r2, NULL, &err) == 0, "clean pass runs with 2 threads (%s)", err.msg);
    for (i = 0; i < 5 * 5; i++) {
        snprintf(name, sizeof name, "fig3.clean.%s.%s", below[i / 5], stats[i % 5]);
        if (!results_get(&r1, name, &v1)) same_below = 0;
        snprintf(name, sizeof name, "fig3.patched.%s.%s", below[i / 5], stats[i % 5]);
        if (!results_get(&r1, name, &v2) || v1 != v2) same_below = 0;
    }
    CHECK(same_below, "fig3 patched = clean at every location below the patched layer");
    if (results_get(&r1, "fig3.clean.resid_mid2.median", &v1) && results_get(&r1, "fig3.patched.resid_mid2.median", &v2))
        differs_above = v1 != v2;
    CHECK(differs_above, "fig3 patched differs from clean at resid_mid2");
    /* Fig 1 of the writer = Fig 3's clean statistics (same samples, two code paths). */
    CHECK(results_get(&r1, "fig1.L0H2.resid_post2.q25", &v1) && results_get(&r1, "fig3.clean.resid_post2.q25", &v2) &&
              v1 == v2,
          "fig1.L0H2.* = fig3.clean.* for the writer L0H2");
    /* The writer is omitted from Fig 2; the PR of resid onto itself would be 1. */
    CHECK(!results_get(&r1, "fig2.L0H2.median", &v1), "fig2 omits the writer");
    CHECK(results_get(&r1, "fig5.n_points", &v1) && v1 == ROWS * (T - 1 - 32), "fig5 has %d points (got %g)",
          ROWS * (T - 1 - 32), v1);
    CHECK(results_get(&r1, "sec32.n_points", &v1) && v1 == ROWS * T, "sec32 has every position of the rows");
    CHECK(r1.count == r2.count, "same metrics with 1 and 2 threads");
    for (i = 0; i < r1.count; i++)
        if (!results_get(&r2, r1.items[i].name, &v2) ||
            memcmp(&v2, &r1.items[i].value, sizeof v2) != 0)
            identical = 0;
    CHECK(identical, "every metric is bit-identical with 1 and 2 threads");
    results_free(&r1);
    results_free(&r2);
}

/* Residual location k of docs/PROTOCOL.md section 3 (resid_pre0, resid_mid0, resid_post0, ...). */
static const float *location_at(const Activations *a, int k, char *name, size_t size) {
    if (k == 0) {
        snprintf(name, size, "resid_pre0");
        return a->layer[0].resid_pre;
    }
    snprintf(name, size, "%s%d", k % 2 ? "resid_mid" : "resid_post", (k - 1) / 2);
    return k % 2 ? a->layer[(k - 1) / 2].resid_mid : a->layer[(k - 1) / 2].resid_post;
}

/* Figs 1-3 of exp_clean_pass hold the values of projection_ratio itself (a plain loop
 * over the same activations here): every Fig 1, Fig 2 and clean Fig 3 statistic's
 * quantiles compared exactly. */
static void test_pass_samples(const Model *m, const Dataset *ds) {
    enum { NLOC = 1 + 2 * L, NS = H * NLOC + L * H - 1 + L + 1 + NLOC + H };
    static const char *stats[] = {"median", "q12_5", "q25", "q75", "q87_5"};
    static const double qs[] = {0.5, 0.125, 0.25, 0.75, 0.875};
    static char names[NS][64];
    static Samples s[NS];
    ExpHeads hd = default_heads();
    Results r;
    Activations a;
    Error err;
    int b, t, i, k, h, l, d, n = 0, mismatch = 0, missing = 0;
    float sum[D];
    double v;
    char name[128], loc[32];
    results_init(&r);
    set_thread_count(2);
    CHECK(exp_clean_pass(m, ds, &hd, EXP_FIG1 | EXP_FIG2 | EXP_FIG3, &r, NULL, &err) == 0, "clean pass runs (%s)", err.msg);
    if (activations_alloc(&a, m, ROWS, T, 0, 0, &err)) {
        CHECK(0, "activations: %s", err.msg);
        results_free(&r);
        return;
    }
    model_forward(m, &a, ds->tokens, ROWS, T, NULL);
    for (i = 0; i < NS; i++) samples_init(&s[i]);
    for (b = 0; b < ROWS; b++)
        for (t = 0; t < T; t++) {
            const size_t bt = (size_t)b * T + t;
            const float *w = hook_result_at(m, &a, 0, 2, b, t); /* the writer L0H2 */
            n = 0;
            for (h = 0; h < H; h++)
                for (k = 0; k < NLOC; k++) {
                    const float *x = location_at(&a, k, loc, sizeof loc) + bt * D;
                    snprintf(names[n], sizeof names[n], "fig1.L0H%d.%s", h, loc);
                    samples_add(&s[n++], (float)projection_ratio(x, hook_result_at(m, &a, 0, h, b, t), D));
                }
            for (l = 0; l < L; l++) {
                for (h = 0; h < H; h++) {
                    if (l == 0 && h == 2) continue;
                    snprintf(names[n], sizeof names[n], "fig2.L%dH%d", l, h);
                    samples_add(&s[n++], (float)projection_ratio(hook_result_at(m, &a, l, h, b, t), w, D));
                }
                snprintf(names[n], sizeof names[n], "fig2.MLP%d", l);
                samples_add(&s[n++], (float)projection_ratio(a.layer[l].mlp_out + bt * D, w, D));
            }
            for (d = 0; d < D; d++) sum[d] = 0.0f + hook_result_at(m, &a, 2, 1, b, t)[d] + hook_result_at(m, &a, 2, 3, b, t)[d];
            snprintf(names[n], sizeof names[n], "fig2.cleaners_sum");
            samples_add(&s[n++], (float)projection_ratio(sum, w, D));
            for (k = 0; k < NLOC; k++) {
                const float *x = location_at(&a, k, loc, sizeof loc) + bt * D;
                snprintf(names[n], sizeof names[n], "fig3.clean.%s", loc);
                samples_add(&s[n++], (float)projection_ratio(x, w, D));
            }
            for (h = 0; h < H; h++) {
                snprintf(names[n], sizeof names[n], "fig3.clean.L2H%d", h);
                samples_add(&s[n++], (float)projection_ratio(hook_result_at(m, &a, 2, h, b, t), w, D));
            }
        }
    CHECK(n == NS, "%d statistics (got %d)", NS, n);
    for (i = 0; i < NS; i++) {
        for (k = 0; k < 5; k++) {
            snprintf(name, sizeof name, "%.63s.%s", names[i], stats[k]);
            if (!results_get(&r, name, &v)) missing++;
            else if (memcmp(&v, &(double){samples_quantile(&s[i], qs[k])}, sizeof v) != 0) mismatch++;
        }
        samples_free(&s[i]);
    }
    CHECK(missing == 0, "the pass reports every Figs 1-3 quantile (%d missing)", missing);
    CHECK(mismatch == 0, "the pass's Figs 1-3 quantiles are exactly projection_ratio's (%d of %d differ)", mismatch,
          5 * NS);
    activations_free(&a);
    results_free(&r);
}

/* The two scans logits_top2 must reproduce (its contract in experiments.h). */
static void top2_by_two_scans(const float *lg, int n, int *top1, int *top2) {
    int j, t1 = 0, t2 = -1;
    for (j = 1; j < n; j++)
        if (lg[j] > lg[t1]) t1 = j;
    for (j = 0; j < n; j++)
        if (j != t1 && (t2 < 0 || lg[j] > lg[t2])) t2 = j;
    *top1 = t1;
    *top2 = t2;
}

/* logits_top2 skips blocks of logits: it must give the two scans' indices on every
 * length (across the block size), with ties, NaNs, infinities and signed zeros. */
static void test_top2(void) {
    static float lg[700];
    int it, j, n, a1, a2, r1, r2, bad = 0, kinds = 6, span = 0, bad_spans = 0;
    Top2Scan ts;
    for (it = 0; it < 20000; it++) {
        const int kind = it % kinds;
        n = 1 + (int)((rnd() + 1.0f) * 0.5f * (it % 10 == 0 ? 699 : 200));
        if (n > 700) n = 700;
        for (j = 0; j < n; j++) {
            float x = rnd();
            if (kind == 1) x = (float)(int)(x * 3.0f);                  /* many ties */
            if (kind == 2) x = (float)j * 1e-3f + x * 1e-4f;             /* rising: top1 moves often */
            if (kind == 3 && rnd() > 0.9f) x = NAN;
            if (kind == 4 && rnd() > 0.95f) x = rnd() > 0 ? INFINITY : -INFINITY;
            if (kind == 5) x = rnd() > 0.5f ? NAN : (rnd() > 0 ? 0.0f : -0.0f);
            lg[j] = x;
        }
        if (it % 13 == 0) lg[0] = NAN;                  /* top1 stuck at a NaN */
        if (it % 17 == 0 && n > 70) lg[65] = NAN;       /* a NaN runner-up in the second block */
        logits_top2(lg, n, &a1, &a2);
        top2_by_two_scans(lg, n, &r1, &r2);
        if (a1 != r1 || a2 != r2) bad++;
        /* the same scan over spans of random lengths (0 included) */
        top2_start(&ts, lg[0]);
        for (j = 1; j < n; j += span) {
            span = (int)((rnd() + 1.0f) * (it % 3 == 0 ? 3.0f : 90.0f));
            if (span > n - j) span = n - j;
            top2_scan(&ts, lg + j, j, span);
        }
        if (ts.top1 != r1 || ts.top2 != r2) bad_spans++;
    }
    CHECK(bad == 0, "logits_top2 = the two scans on 20000 random rows (%d differ)", bad);
    CHECK(bad_spans == 0, "top2_scan over spans = the two scans on 20000 random rows (%d differ)", bad_spans);
    lg[0] = 1.0f;
    logits_top2(lg, 1, &a1, &a2);
    CHECK(a1 == 0 && a2 == -1, "logits_top2 of one logit: 0 and -1 (got %d %d)", a1, a2);
}

/* Fig 4: rows that start with the prompt itself give patched DLA = clean DLA. */
static void test_fig4_self_patch(const Model *m) {
    Dataset ds;
    ExpHeads hd = default_heads();
    PromptTokens pt;
    Results r;
    Error err;
    int prompt[6] = {1, 17, 4, 33, 9, 28}, i;
    double clean = 0, med = 0, lo = 0, hi = 0, ld = 0;
    memset(&ds, 0, sizeof ds);
    ds.n_rows = 3;
    ds.seq_len = 10;
    ds.tokens = xalloc_array(30, sizeof(int), "t");
    for (i = 0; i < 30; i++) ds.tokens[i] = i % 10 < 6 ? prompt[i % 10] : 5 + i;
    pt.tokens = prompt;
    pt.n = 6;
    pt.correct = 12;
    pt.incorrect = 40;
    results_init(&r);
    CHECK(exp_fig4_prompt(m, &ds, &hd, &pt, 1, 3, 1, &r, &err, 0) == 0, "fig4 runs (%s)", err.msg);
    CHECK(results_get(&r, "fig4.p1.L1H3.clean", &clean) && results_get(&r, "fig4.p1.L1H3.patched.median", &med) &&
              results_get(&r, "fig4.p1.L1H3.patched.q12_5", &lo) && results_get(&r, "fig4.p1.L1H3.patched.q87_5", &hi),
          "fig4 metrics present");
    CHECK(fabs(med - clean) < 1e-5 && fabs(lo - clean) < 1e-5 && fabs(hi - clean) < 1e-5,
          "patching with the prompt's own input gives the clean DLA (%g vs %g)", med, clean);
    CHECK(results_get(&r, "fig4.p1.L0H2.clean", &clean) && results_get(&r, "fig4.p1.L0H2.patched.median", &med) &&
              fabs(med - clean) < 1e-5,
          "same for the writer L0H2");
    CHECK(results_get(&r, "fig4.p1.logit_diff", &ld) && isfinite(ld), "logit difference present");
    /* A different row at the last position changes the patched value. */
    ds.tokens[5] = 44;
    ds.tokens[15] = 44;
    ds.tokens[25] = 44;
    results_free(&r);
    results_init(&r);
    CHECK(exp_fig4_prompt(m, &ds, &hd, &pt, 1, 3, 1, &r, &err, 0) == 0, "fig4 runs");
    CHECK(results_get(&r, "fig4.p1.L1H3.clean", &clean) && results_get(&r, "fig4.p1.L1H3.patched.median", &med) &&
              fabs(med - clean) > 1e-6,
          "a different last token changes the patched DLA");
    pt.n = 11;
    CHECK(exp_fig4_prompt(m, &ds, &hd, &pt, 1, 3, 1, &r, &err, 0) != 0, "a prompt longer than the rows is an error");
    results_free(&r);
    free(ds.tokens);
}

static void test_head_checks(const Model *m) {
    ExpHeads hd = default_heads();
    Error err;
    int l, h;
    CHECK(parse_head(m, "L2H3", &l, &h, &err) == 0 && l == 2 && h == 3, "L2H3 parses");
    CHECK(parse_head(m, "L3H0", &l, &h, &err) != 0 && strstr(err.msg, "3 layers"), "L3H0 does not exist: %s", err.msg);
    CHECK(parse_head(m, "L0H4", &l, &h, &err) != 0 && strstr(err.msg, "4 heads"), "L0H4 does not exist: %s", err.msg);
    CHECK(parse_head(m, "X0H1", &l, &h, &err) != 0, "X0H1 is not a head");
    CHECK(exp_heads_check(m, &hd, &err) == 0, "default test heads are valid");
    hd.writer_layer = 2;
    CHECK(exp_heads_check(m, &hd, &err) != 0, "writer in the cleaners' layer is an error");
}

/* The table of experiment units: names unique and found by experiment_find with the bit
 * of their position; clean-pass units have every step; every unit has a report section;
 * output file names unique across units, each unit's figures among its outputs; and
 * report_output_names lists results.tsv, uncertainty.tsv, report.md, every unit's outputs
 * and SHA256SUMS. */
static void test_unit_table(void) {
    static const char *const paper_order[] = {"fig1", "fig2", "fig3", "fig4", "fig5", "sec32", "scan"};
    const Experiment *const *units;
    const char *const *names;
    int n, i, j, n_names, n_outputs = 0, n_split = 0;
    units = experiment_list(&n);
    CHECK(n == 7, "seven units (%d)", n);
    CHECK(experiment_all() == (1u << n) - 1, "experiment_all has a bit per unit");
    for (i = 0; i < n; i++) {
        unsigned bit = 0;
        const ExpOutput *f;
        const char *const *fig;
        CHECK(i < 7 && strcmp(units[i]->name, paper_order[i]) == 0, "unit %d is %s", i, paper_order[i < 7 ? i : 0]);
        CHECK(experiment_find(units[i]->name, &bit) == units[i] && bit == 1u << i, "%s found with bit %d",
              units[i]->name, i);
        CHECK(units[i]->report_section && units[i]->summary && units[i]->heading, "%s: section, summary, heading",
              units[i]->name);
        CHECK((units[i]->begin != NULL) != (units[i]->run != NULL), "%s: in the clean pass or on its own, not both",
              units[i]->name);
        if (units[i]->begin)
            CHECK(units[i]->batch && units[i]->finish && units[i]->end, "%s: every clean-pass step", units[i]->name);
        if (units[i]->parts) {
            n_split++;
            CHECK(units[i]->begin && units[i]->memory, "%s: split over passes, so in the clean pass and with its memory",
                  units[i]->name);
        }
        for (f = units[i]->outputs; f->name; f++) {
            n_outputs++;
            CHECK(strncmp(f->name, units[i]->name, strlen(units[i]->name)) == 0 && f->what && f->what[0],
                  "%s: output %s is named after the unit and described", units[i]->name, f->name);
            for (j = 0; j < i; j++) {
                const ExpOutput *g;
                for (g = units[j]->outputs; g->name; g++)
                    CHECK(strcmp(f->name, g->name) != 0, "%s and %s both write %s", units[i]->name, units[j]->name,
                          f->name);
            }
        }
        for (fig = units[i]->figures; *fig; fig++) {
            char svg[64];
            int found = 0;
            snprintf(svg, sizeof svg, "%s.svg", *fig);
            for (f = units[i]->outputs; f->name; f++) found |= strcmp(f->name, svg) == 0;
            CHECK(found, "%s: figure %s has its svg among the outputs", units[i]->name, *fig);
        }
    }
    CHECK(n_split == 1, "one unit can be split over passes (%d)", n_split);
    CHECK(experiment_find("fig9", NULL) == NULL, "an unknown name is not found");
    names = report_output_names(&n_names);
    CHECK(n_names == n_outputs + 4, "report_output_names: %d names for %d unit outputs + 4", n_names, n_outputs);
    CHECK(n_names > 4 && strcmp(names[0], "results.tsv") == 0 && strcmp(names[1], "uncertainty.tsv") == 0 &&
              strcmp(names[2], "report.md") == 0 && strcmp(names[n_names - 1], "SHA256SUMS") == 0,
          "report_output_names: results.tsv, uncertainty.tsv, report.md first, SHA256SUMS last");
}

/* The clean pass keeps what its units declare: the pattern tiles of the cleaners' layer
 * only (no pattern hook), every head's result for Fig 2, the writer's result for Fig 5
 * alone; and that is much less memory than keeping every hook. */
static void test_clean_pass_hooks(const Model *m) {
    ExpHeads hd = default_heads();
    ExpInputs in;
    HookRequest req;
    Activations a_all, a_req;
    Error err;
    int l, only_patched = 1;
    const HookMask pattern = HOOK_BIT(HOOK_PATTERN), result = HOOK_BIT(HOOK_RESULT);
    memset(&in, 0, sizeof in);
    in.model = m;
    in.heads = &hd;
    exp_clean_pass_hooks(&in, experiment_all(), &req);
    for (l = 0; l < m->cfg.n_layers; l++) {
        const HookMask k = hook_request_kinds(&req, l);
        if ((k & pattern) || !(k & result) || !(k & HOOK_BIT(HOOK_MLP_OUT)) || (k & HOOK_BIT(HOOK_ATTN_SCORES)) ||
            (k & HOOK_BIT(HOOK_Q)))
            only_patched = 0;
    }
    CHECK(only_patched && req.pattern_tiles == (uint64_t)1 << hd.patched_layer,
          "every unit: pattern tiles in the cleaners' layer only, no pattern hook, result and mlp_out everywhere, no "
          "q/scores");
    CHECK(!(hook_request_kinds(&req, -1) & HOOK_BIT(HOOK_LOGITS)), "the clean pass keeps no logits");
    exp_clean_pass_hooks(&in, EXP_FIG5, &req);
    CHECK(hook_request_kinds(&req, hd.writer_layer) & result && !(hook_request_kinds(&req, 1) & result) &&
              !(hook_request_kinds(&req, hd.patched_layer) & pattern) && !req.pattern_tiles,
          "Fig 5 alone: the writer's result, no pattern");
    exp_clean_pass_hooks(&in, experiment_all(), &req);
    if (activations_alloc(&a_all, m, 2, T, 0, 0, &err) || activations_alloc_hooks(&a_req, m, 2, T, &req, &err)) {
        CHECK(0, "alloc: %s", err.msg);
        return;
    }
    CHECK(a_req.bytes < a_all.bytes, "declared hooks take less memory (%lu < %lu bytes)", (unsigned long)a_req.bytes,
          (unsigned long)a_all.bytes);
    activations_free(&a_all);
    activations_free(&a_req);
}

int main(void) {
    Model m;
    Dataset ds;
    const char *why;
    if (kernels_init(&why)) { /* the kernels users get (CLEANUP_SIMD) */
        printf("  kernels_init (CLEANUP_SIMD, CLEANUP_BF16): %s\n", why);
        return 1;
    }
    build_model(&m);
    build_data(&ds);
    test_projection_identities(&m, &ds);
    test_dla_linearity(&m);
    test_unembed_directions(&m);
    test_patch_closed_form(&m, &ds);
    test_clean_pass(&m, &ds);
    test_pass_samples(&m, &ds);
    test_top2();
    test_fig4_self_patch(&m);
    test_head_checks(&m);
    test_unit_table();
    test_clean_pass_hooks(&m);
    data_free(&ds);
    model_free(&m);
    return check_done("test_experiments");
}
