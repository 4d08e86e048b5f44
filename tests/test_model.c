/* test_model.c - ground truths of the engine that hold for any weights:
 *   - TransformerLens processing preserves the model's function: log-softmax
 *     of the logits, attention patterns and LayerNorm scales are unchanged,
 *     and every residual vector becomes the raw one minus its mean over D;
 *   - after processing every head result / embedding has zero mean over D;
 *   - the value-input patch with an unchanged input reproduces the clean run,
 *     and with the writer removed it matches the closed form of docs/PROTOCOL.md section 5.3
 *     result'_h[i] = result_h[i] - sum_{j<=i} A_h[i,j] (w[j]/s[j]) W_V[h] W_O[h];
 *   - starting at a later layer from copied activations reproduces the run;
 *   - the single-head intervention with the clean input reproduces hook_result;
 *   - 1 and 2 threads give bit-identical activations.
 * The file-based parity with PyTorch is tests/test_engine.sh. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "kernels.h"
#include "model.h"

/* Context of the models build_model makes (a test of several query tiles raises it). */
static int build_n_ctx = 12;

static void build_model(Model *m, int attn_only, ActFn act) {
    ModelConfig c;
    Error err;
    int l;
    size_t D, H, dh, M, V;
    memset(&c, 0, sizeof c);
    c.n_layers = 3;
    c.d_model = 16;
    c.n_heads = 4;
    c.d_head = 4;
    c.d_mlp = 32;
    c.n_ctx = build_n_ctx;
    c.d_vocab = 20;
    c.act_fn = act;
    c.attn_only = attn_only;
    c.normalization = NORM_LN;
    c.eps = 1e-5f;
    if (model_alloc_weights(m, &c, &err) != 0) {
        printf("alloc failed: %s\n", err.msg);
        exit(1);
    }
    D = 16, H = 4, dh = 4, M = 32, V = 20;
    check_fill(m->W_E, V * D, 1.0f, 0.1f);
    check_fill(m->W_pos, 12 * D, 0.5f, -0.05f);
    check_fill(m->W_U, D * V, 0.5f, 0.02f);
    check_fill(m->b_U, V, 0.3f, 0.1f);
    check_fill(m->lnf_w, D, 0.3f, 1.0f);
    check_fill(m->lnf_b, D, 0.1f, 0.0f);
    for (l = 0; l < 3; l++) {
        LayerWeights *w = &m->layers[l];
        check_fill(w->W_Q, H * D * dh, 0.5f, 0.03f);
        check_fill(w->W_K, H * D * dh, 0.5f, -0.02f);
        check_fill(w->W_V, H * D * dh, 0.5f, 0.01f);
        check_fill(w->W_O, H * dh * D, 0.5f, 0.02f);
        check_fill(w->b_Q, H * dh, 0.1f, 0.0f);
        check_fill(w->b_K, H * dh, 0.1f, 0.0f);
        check_fill(w->b_V, H * dh, 0.1f, 0.05f);
        check_fill(w->b_O, D, 0.1f, 0.05f);
        check_fill(w->ln1_w, D, 0.3f, 1.0f);
        check_fill(w->ln1_b, D, 0.1f, 0.0f);
        if (attn_only) continue;
        check_fill(w->W_in, D * M, 0.5f, 0.0f);
        check_fill(w->b_in, M, 0.1f, 0.0f);
        check_fill(w->W_out, M * D, 0.3f, 0.01f);
        check_fill(w->b_out, D, 0.1f, 0.05f);
        check_fill(w->ln2_w, D, 0.3f, 1.0f);
        check_fill(w->ln2_b, D, 0.1f, 0.0f);
    }
    model_prepare(m);
}

static const int tokens[2 * 10] = {1, 5, 7, 3, 19, 0, 2, 11, 11, 4, 1, 8, 8, 8, 13, 6, 17, 2, 9, 10};
enum { B = 2, T = 10 };

static double max_abs_diff(const float *a, const float *b, size_t n) {
    double m = 0;
    size_t i;
    for (i = 0; i < n; i++)
        if (fabs((double)a[i] - b[i]) > m) m = fabs((double)a[i] - b[i]);
    return m;
}

static void log_softmax_rows(double *out, const float *logits, int rows, int V) {
    int r, v;
    for (r = 0; r < rows; r++) {
        double mx = -1e300, s = 0;
        for (v = 0; v < V; v++)
            if (logits[r * V + v] > mx) mx = logits[r * V + v];
        for (v = 0; v < V; v++) s += exp(logits[r * V + v] - mx);
        for (v = 0; v < V; v++) out[r * V + v] = logits[r * V + v] - mx - log(s);
    }
}

/* raw resid minus its mean over D must equal the processed resid. */
static double centred_diff(const float *raw, const float *processed, int rows, int D) {
    double worst = 0;
    int r, d;
    for (r = 0; r < rows; r++) {
        double mean = 0;
        for (d = 0; d < D; d++) mean += raw[r * D + d];
        mean /= D;
        for (d = 0; d < D; d++) {
            double diff = fabs(raw[r * D + d] - mean - processed[r * D + d]);
            if (diff > worst) worst = diff;
        }
    }
    return worst;
}

static void test_processing_preserves_function(void) {
    Model raw, proc;
    Activations a, b;
    Error err;
    int l, r, h, D = 16, V = 20;
    double lr[B * T * 20], lp[B * T * 20], worst = 0;
    size_t i;
    check_seed(42);
    build_model(&raw, 0, ACT_GELU);
    check_seed(42);
    build_model(&proc, 0, ACT_GELU);
    model_process(&proc);
    model_prepare(&proc);
    CHECK(proc.processed && proc.lnf_w == NULL && proc.layers[0].ln1_w == NULL, "processing folds every LayerNorm");
    CHECK(activations_alloc(&a, &raw, B, T, 1, 1, &err) == 0, "alloc");
    CHECK(activations_alloc(&b, &proc, B, T, 1, 1, &err) == 0, "alloc");
    model_forward(&raw, &a, tokens, B, T, NULL);
    model_forward(&proc, &b, tokens, B, T, NULL);
    log_softmax_rows(lr, a.logits, B * T, V);
    log_softmax_rows(lp, b.logits, B * T, V);
    for (i = 0; i < (size_t)B * T * V; i++)
        if (fabs(lr[i] - lp[i]) > worst) worst = fabs(lr[i] - lp[i]);
    CHECK(worst < 2e-4, "log-softmax unchanged by processing (max diff %g)", worst);
    for (l = 0; l < 3; l++) {
        CHECK(max_abs_diff(a.layer[l].pattern, b.layer[l].pattern, (size_t)B * 4 * T * T) < 1e-5,
              "layer %d pattern unchanged by processing", l);
        CHECK(max_abs_diff(a.layer[l].ln1_scale, b.layer[l].ln1_scale, B * T) < 1e-4, "layer %d ln1 scale unchanged", l);
        CHECK(centred_diff(a.layer[l].resid_pre, b.layer[l].resid_pre, B * T, D) < 1e-4, "layer %d resid_pre = raw - mean", l);
        CHECK(centred_diff(a.layer[l].resid_post, b.layer[l].resid_post, B * T, D) < 1e-4, "layer %d resid_post = raw - mean", l);
        /* every head result of the processed model has zero mean over D (each of the
         * B x T x H rows of D floats, whatever their order) */
        for (r = 0; r < B * T; r++)
            for (h = 0; h < 4; h++) {
                double mean = 0;
                int d;
                for (d = 0; d < D; d++) mean += b.layer[l].result[((size_t)r * 4 + h) * D + d];
                if (fabs(mean / D) > 1e-6) {
                    CHECK(0, "layer %d head %d result has mean %g", l, h, mean / D);
                    r = B * T;
                    break;
                }
            }
    }
    for (r = 0; r < B * T; r++) {
        double mean = 0;
        int d;
        for (d = 0; d < D; d++) mean += b.embed[r * D + d] + b.pos_embed[r * D + d];
        if (fabs(mean) > 1e-5) {
            CHECK(0, "processed embeddings must have zero mean (row %d: %g)", r, mean);
            break;
        }
    }
    activations_free(&a);
    activations_free(&b);
    model_free(&raw);
    model_free(&proc);
}

static void test_interventions(int processed) {
    Model m;
    Activations clean, patched;
    Error err;
    ForwardOptions opt = forward_options_default();
    int D = 16, H = 4, dh = 4, P = 2, l, b, i, j, h, d, e;
    size_t BT = (size_t)B * T;
    float *resid = malloc(BT * D * sizeof(float)), *scale = malloc(BT * sizeof(float));
    float out[16];
    double worst = 0;
    check_seed(7);
    build_model(&m, 0, ACT_GELU_NEW);
    if (processed) {
        model_process(&m);
        model_prepare(&m);
    }
    CHECK(activations_alloc(&clean, &m, B, T, 0, 1, &err) == 0, "alloc");
    CHECK(activations_alloc(&patched, &m, B, T, 0, 1, &err) == 0, "alloc");
    model_forward(&m, &clean, tokens, B, T, NULL);

    /* 1. start at layer P from copied activations: same as the clean run */
    memcpy(patched.layer[P].resid_pre, clean.layer[P].resid_pre, BT * D * sizeof(float));
    opt.start_layer = P;
    model_forward(&m, &patched, tokens, B, T, &opt);
    CHECK(max_abs_diff(patched.logits, clean.logits, BT * 20) == 0, "start_layer run reproduces the clean logits");

    /* 2. value patch with the unchanged input and its own scale: the clean run */
    memcpy(resid, clean.layer[P].resid_pre, BT * D * sizeof(float));
    memcpy(scale, clean.layer[P].ln1_scale, BT * sizeof(float));
    opt.start_layer = 0;
    opt.v_patch_layer = P;
    opt.v_patch_resid = resid;
    opt.v_patch_scale = scale;
    model_forward(&m, &patched, tokens, B, T, &opt);
    CHECK(max_abs_diff(patched.logits, clean.logits, BT * 20) < 1e-6, "identity value patch reproduces the clean run");

    /* 3. remove L0H1's output from the value input: the closed form of docs/PROTOCOL.md section 5.3 */
    for (i = 0; i < (int)BT; i++)
        for (d = 0; d < D; d++) resid[(size_t)i * D + d] -= hook_result_at(&m, &clean, 0, 1, i / T, i % T)[d];
    model_forward(&m, &patched, tokens, B, T, &opt);
    if (processed) {
        for (b = 0; b < B; b++)
            for (h = 0; h < H; h++)
                for (i = 0; i < T; i++) {
                    const float *A = clean.layer[P].pattern + (((size_t)b * H + h) * T + i) * T;
                    const LayerWeights *w = &m.layers[P];
                    double expect[16];
                    for (d = 0; d < D; d++) expect[d] = hook_result_at(&m, &clean, P, h, b, i)[d];
                    for (j = 0; j <= i; j++) {
                        const float *wr = hook_result_at(&m, &clean, 0, 1, b, j);
                        double s = clean.layer[P].ln1_scale[b * T + j], vv[4] = {0, 0, 0, 0};
                        for (e = 0; e < dh; e++)
                            for (d = 0; d < D; d++) vv[e] += wr[d] / s * w->W_V[((size_t)h * D + d) * dh + e];
                        for (d = 0; d < D; d++) {
                            double o = 0;
                            for (e = 0; e < dh; e++) o += vv[e] * w->W_O[((size_t)h * dh + e) * D + d];
                            expect[d] -= A[j] * o;
                        }
                    }
                    for (d = 0; d < D; d++) {
                        double diff = fabs(expect[d] - hook_result_at(&m, &patched, P, h, b, i)[d]);
                        if (diff > worst) worst = diff;
                    }
                }
        CHECK(worst < 1e-5, "value patch matches the closed form (max diff %g)", worst);
    }
    /* below the patched layer nothing changed; queries and keys stay clean */
    CHECK(max_abs_diff(patched.layer[P].pattern, clean.layer[P].pattern, (size_t)B * H * T * T) == 0,
          "value patch leaves the pattern clean");
    for (l = 0; l < P; l++)
        CHECK(max_abs_diff(patched.layer[l].resid_post, clean.layer[l].resid_post, BT * D) == 0,
              "layers below the patch untouched (layer %d)", l);

    /* 3b. Fig 3's rerun from the patched layer, reusing the clean pattern, gives the
     * same bits as recomputing it (every head patched, and only heads 1 and 3). */
    {
        static const int some_heads[4] = {0, 1, 0, 1};
        Activations ref;
        int variant;
        CHECK(activations_alloc(&ref, &m, B, T, 0, 1, &err) == 0, "alloc");
        for (variant = 0; variant < 2; variant++) {
            ForwardOptions o = forward_options_default();
            int same = 1;
            o.start_layer = P;
            o.v_patch_layer = P;
            o.v_patch_heads = variant ? some_heads : NULL;
            o.v_patch_resid = resid;
            o.v_patch_scale = scale;
            model_forward(&m, &ref, tokens, B, T, NULL);
            model_forward(&m, &ref, tokens, B, T, &o); /* recomputes ln1, q, k, pattern */
            model_forward(&m, &patched, tokens, B, T, NULL);
            o.reuse_attention_pattern = 1;
            model_forward(&m, &patched, tokens, B, T, &o);
            for (l = P; l < m.cfg.n_layers; l++) {
                same &= memcmp(ref.layer[l].z, patched.layer[l].z, BT * H * dh * sizeof(float)) == 0;
                same &= memcmp(ref.layer[l].result, patched.layer[l].result, BT * H * D * sizeof(float)) == 0;
                same &= memcmp(ref.layer[l].resid_post, patched.layer[l].resid_post, BT * D * sizeof(float)) == 0;
            }
            same &= memcmp(ref.logits, patched.logits, BT * 20 * sizeof(float)) == 0;
            CHECK(same, "reuse_attention_pattern gives the bits of the full rerun (%s)", variant ? "heads 1, 3" : "all heads");
            CHECK(max_abs_diff(patched.layer[P].z, clean.layer[P].z, BT * H * dh) > 0, "the patch changed z (variant %d)",
                  variant);
        }
        activations_free(&ref);
    }

    /* 4. the single-head intervention with the clean input reproduces hook_result */
    for (b = 0; b < B; b++)
        for (h = 0; h < H; h++) {
            int pos = T - 1 - b * 3;
            head_result_with_input(&m, &clean, b, 1, h, pos, clean.layer[1].ln1_normalized + ((size_t)b * T + pos) * D, out);
            CHECK(max_abs_diff(out, hook_result_at(&m, &clean, 1, h, b, pos), D) < 1e-5,
                  "head_result_with_input(clean) = hook_result (row %d head %d)", b, h);
        }
    activations_free(&clean);
    activations_free(&patched);
    model_free(&m);
    free(resid);
    free(scale);
}

static void test_thread_determinism(void) {
    Model m;
    Activations a, b;
    Error err;
    int other[B * T], i;
    check_seed(99);
    build_model(&m, 0, ACT_GELU);
    model_process(&m);
    model_prepare(&m);
    /* Allocated for one thread: the forward gives more threads their buffers itself. */
    set_thread_count(1);
    CHECK(activations_alloc(&a, &m, B, T, 1, 1, &err) == 0, "alloc");
    CHECK(activations_alloc(&b, &m, B, T, 1, 1, &err) == 0, "alloc");
    model_forward(&m, &a, tokens, B, T, NULL);
    set_thread_count(3);
    model_forward(&m, &b, tokens, B, T, NULL);
    CHECK(a.bytes == b.bytes && memcmp(a.embed, b.embed, a.bytes) == 0, "1 and 3 threads give identical activations");
    /* Other tokens, then the first again in the same activations (their buffers hold the
     * other pass's tiles): the same bits. */
    for (i = 0; i < B * T; i++) other[i] = tokens[B * T - 1 - i];
    set_thread_count(2);
    model_forward(&m, &b, other, B, T, NULL);
    model_forward(&m, &b, tokens, B, T, NULL);
    CHECK(memcmp(a.embed, b.embed, a.bytes) == 0, "a pass after another in the same activations: the same bits");
    activations_free(&a);
    activations_free(&b);
    model_free(&m);
}

static void test_attn_only_and_hooks(void) {
    Model m;
    Activations a;
    Error err;
    HookView v;
    check_seed(5);
    build_model(&m, 1, ACT_RELU);
    CHECK(activations_alloc(&a, &m, 1, T, 0, 1, &err) == 0, "alloc");
    model_forward(&m, &a, tokens, 1, T, NULL);
    CHECK(hook_lookup(&m, &a, "blocks.1.hook_resid_mid", &v, &err) != 0, "attn-only model has no resid_mid hook");
    CHECK(hook_lookup(&m, &a, "blocks.1.mlp.hook_pre", &v, &err) != 0, "attn-only model has no mlp hooks");
    CHECK(hook_lookup(&m, &a, "blocks.1.attn.hook_attn_scores", &v, &err) != 0, "scores not kept -> clear error");
    CHECK(hook_lookup(&m, &a, "blocks.7.hook_resid_pre", &v, &err) != 0, "layer out of range");
    CHECK(hook_lookup(&m, &a, "blocks.1.hook_nonsense", &v, &err) != 0, "unknown hook");
    CHECK(hook_lookup(&m, &a, "blocks.1.attn.hook_pattern", &v, &err) == 0 && v.ndim == 4 && v.shape[1] == 4 &&
              v.shape[2] == T && v.shape[3] == T,
          "pattern hook shape [B,H,T,T]");
    {
        /* resid_post = resid_pre + attn_out exactly, for attention-only blocks */
        size_t i;
        double worst = 0;
        for (i = 0; i < (size_t)T * 16; i++) {
            double diff = fabs((double)a.layer[2].resid_post[i] - (a.layer[2].resid_pre[i] + a.layer[2].attn_out[i]));
            if (diff > worst) worst = diff;
        }
        CHECK(worst < 1e-6, "attn-only resid_post = resid_pre + attn_out");
    }
    activations_free(&a);
    model_free(&m);
}

/* 1 if the per-layer hook at offset off of block l is kept in a and b with the same n floats. */
static int same_hook(const Activations *a, const Activations *b, int l, size_t off, size_t n) {
    const float *x = *(float *const *)(const void *)((const char *)&a->layer[l] + off);
    const float *y = *(float *const *)(const void *)((const char *)&b->layer[l] + off);
    return x && y && memcmp(x, y, n * sizeof(float)) == 0;
}

/* Keeping fewer hooks changes no bit of those kept: a run over several query tiles
 * (T = 150 > 2 x 64) keeping every hook (its values are checked against PyTorch in
 * test_engine.sh) against runs keeping only the always-kept hooks and the logits, and
 * the pattern of one block and z of another; at 1 and 2 threads. The smaller requests
 * allocate less (no [B,H,T,T] arrays), and a hook not kept is refused by hook_lookup.
 * Then Fig 3's rerun reusing a kept pattern (no q, k kept) against the same rerun with
 * every hook kept. */
static void test_hooks_kept_alone(void) {
    enum { TL = 150 };
    Model m;
    Activations all, few, some, tiles;
    HookRequest r_few, r_some, r_tiles;
    ForwardOptions opt = forward_options_default();
    Error err;
    HookView v;
    int tok[2 * TL], i, l, nt;
    const size_t BT = 2 * (size_t)TL, D = 16, HD = 16, TT = (size_t)TL * TL;
    float *resid = malloc(BT * D * sizeof(float)), *scale = malloc(BT * sizeof(float));
    check_seed(31);
    build_n_ctx = TL;
    build_model(&m, 0, ACT_GELU);
    build_n_ctx = 12;
    model_process(&m);
    model_prepare(&m);
    for (i = 0; i < 2 * TL; i++) tok[i] = (int)((i * 7u + 3u) % 20u);
    memset(&r_few, 0, sizeof r_few);
    memset(&r_some, 0, sizeof r_some);
    r_few.kinds = HOOK_BIT(HOOK_LOGITS);
    hook_request_add(&r_some, -1, HOOK_BIT(HOOK_LOGITS));
    hook_request_add(&r_some, 1, HOOK_BIT(HOOK_PATTERN) | HOOK_BIT(HOOK_RESULT));
    hook_request_add(&r_some, 0, HOOK_BIT(HOOK_Z));
    /* kinds the forward pass otherwise computes chunk by chunk in per-thread buffers: kept
     * alone, and mlp_pre without mlp_post (the activation then works in the buffer) */
    hook_request_add(&r_some, 0, HOOK_BIT(HOOK_ATTN_OUT) | HOOK_BIT(HOOK_LN2_NORMALIZED));
    hook_request_add(&r_some, 2, HOOK_BIT(HOOK_MLP_PRE) | HOOK_BIT(HOOK_LN1_NORMALIZED));
    r_tiles = r_few;
    hook_request_pattern_tiles(&r_tiles, 1);
    {
        HookRequest every, far, merged;
        memset(&every, 0, sizeof every);
        memset(&far, 0, sizeof far);
        memset(&merged, 0, sizeof merged);
        hook_request_pattern_tiles(&every, -1);
        hook_request_pattern_tiles(&far, 70);
        hook_request_merge(&merged, &r_tiles);
        CHECK(!every.pattern_tiles && (hook_request_kinds(&every, 2) & HOOK_BIT(HOOK_PATTERN)) && !far.pattern_tiles &&
                  (hook_request_kinds(&far, 70) & HOOK_BIT(HOOK_PATTERN)) &&
                  !(hook_request_kinds(&far, 1) & HOOK_BIT(HOOK_PATTERN)) && merged.pattern_tiles == 2u &&
                  !(hook_request_kinds(&r_tiles, 1) & HOOK_BIT(HOOK_PATTERN)),
              "pattern tiles: block 1's bit (merged too); -1 and block 70 get the pattern hook instead");
    }
    CHECK(activations_alloc(&all, &m, 2, TL, 1, 1, &err) == 0, "alloc");
    CHECK(activations_alloc_hooks(&tiles, &m, 2, TL, &r_tiles, &err) == 0, "alloc");
    CHECK(activations_alloc_hooks(&few, &m, 2, TL, &r_few, &err) == 0, "alloc");
    CHECK(activations_alloc_hooks(&some, &m, 2, TL, &r_some, &err) == 0, "alloc");
    /* T = 150: tiles of 96 and 54 queries, over 96 and 150 keys: 96^2 + 150 x 54 of 150^2 */
    CHECK(tiles.bytes - few.bytes == 2 * 4 * (96 * 96 + 150 * 54) * sizeof(float) && !tiles.layer[1].pattern &&
              !tiles.layer[0].pattern_tiles && tiles.layer[1].pattern_tiles,
          "pattern tiles: block 1 alone, %lu bytes (the hook: %lu)", (unsigned long)(tiles.bytes - few.bytes),
          (unsigned long)(2 * 4 * TT * sizeof(float)));
    CHECK(few.bytes + 3 * 2 * 2 * 4 * TT * sizeof(float) < all.bytes && some.bytes < all.bytes - 3 * 4 * 2 * TT,
          "fewer hooks, fewer bytes (%lu, %lu, every hook %lu)", (unsigned long)few.bytes, (unsigned long)some.bytes,
          (unsigned long)all.bytes);
    CHECK(!few.layer[0].pattern && !few.layer[1].q && !few.layer[2].result && !few.embed && few.logits &&
              some.layer[1].pattern && !some.layer[0].pattern && some.layer[0].z && !some.layer[1].z &&
              some.layer[0].attn_out && !some.layer[1].attn_out && some.layer[2].mlp_pre && !some.layer[2].mlp_post &&
              !few.layer[0].ln1_normalized && !few.layer[0].ln2_normalized && !few.layer[0].mlp_post,
          "only the requested hooks have room");
    CHECK(hook_lookup(&m, &few, "blocks.1.attn.hook_pattern", &v, &err) != 0 && strstr(err.msg, "not kept"),
          "a hook not kept is refused: %s", err.msg);
    set_thread_count(1);
    model_forward(&m, &all, tok, 2, TL, NULL);
    for (nt = 1; nt <= 2; nt++) {
        set_thread_count(nt);
        model_forward(&m, &few, tok, 2, TL, NULL);
        model_forward(&m, &some, tok, 2, TL, NULL);
        for (l = 0; l < 3; l++) {
            CHECK(same_hook(&all, &few, l, offsetof(LayerActivations, resid_post), BT * D) &&
                      same_hook(&all, &few, l, offsetof(LayerActivations, ln2_scale), BT) &&
                      same_hook(&all, &some, l, offsetof(LayerActivations, resid_post), BT * D),
                  "%d thread(s), layer %d: resid_post and ln2_scale identical keeping few hooks", nt, l);
        }
        CHECK(memcmp(all.logits, few.logits, BT * 20 * sizeof(float)) == 0 &&
                  memcmp(all.logits, some.logits, BT * 20 * sizeof(float)) == 0,
              "%d thread(s): logits identical keeping few hooks", nt);
        model_forward(&m, &tiles, tok, 2, TL, NULL);
        {
            int b, h, k, i0, mb, i, j, same = 1, n_tiles = 0;
            for (b = 0; b < 2; b++)
                for (h = 0; h < 4; h++)
                    for (k = 0; k < pattern_tile_count(TL); k++) {
                        const float *p = pattern_tile(&m, &tiles, 1, b, h, k, &i0, &mb);
                        n_tiles++;
                        for (i = 0; i < mb; i++)
                            for (j = 0; j < i0 + mb; j++)
                                same &= p[(size_t)j * mb + i] == all.layer[1].pattern[(((size_t)b * 4 + h) * TL + i0 + i) * TL + j] &&
                                        signbit(p[(size_t)j * mb + i]) == 0;
                    }
            CHECK(same && n_tiles == 2 * 4 * 2 && !pattern_tile(&m, &tiles, 0, 0, 0, 0, &i0, &mb),
                  "%d thread(s): pattern tiles (%d) hold the pattern hook's values, key by query", nt, n_tiles);
        }
        CHECK(same_hook(&all, &some, 1, offsetof(LayerActivations, pattern), 2 * 4 * TT) &&
                  same_hook(&all, &some, 1, offsetof(LayerActivations, result), BT * 4 * D) &&
                  same_hook(&all, &some, 0, offsetof(LayerActivations, z), BT * HD),
              "%d thread(s): a pattern, result and z kept alone are identical", nt);
        CHECK(same_hook(&all, &some, 0, offsetof(LayerActivations, attn_out), BT * D) &&
                  same_hook(&all, &some, 0, offsetof(LayerActivations, ln2_normalized), BT * D) &&
                  same_hook(&all, &some, 2, offsetof(LayerActivations, ln1_normalized), BT * D) &&
                  same_hook(&all, &some, 2, offsetof(LayerActivations, mlp_pre), BT * 32),
              "%d thread(s): attn_out, the layernorms' outputs and mlp_pre (without mlp_post) kept alone are "
              "identical", nt);
    }
    /* Fig 3's rerun at block 1 reusing its kept pattern, every value patched */
    for (i = 0; i < (int)(BT * D); i++) resid[i] = all.layer[1].resid_pre[i] * 0.5f;
    memcpy(scale, all.layer[1].ln1_scale, BT * sizeof(float));
    opt.start_layer = 1;
    opt.v_patch_layer = 1;
    opt.v_patch_resid = resid;
    opt.v_patch_scale = scale;
    opt.reuse_attention_pattern = 1;
    model_forward(&m, &all, tok, 2, TL, &opt);
    model_forward(&m, &some, tok, 2, TL, &opt);
    model_forward(&m, &tiles, tok, 2, TL, &opt);
    CHECK(memcmp(all.logits, some.logits, BT * 20 * sizeof(float)) == 0 &&
              same_hook(&all, &some, 1, offsetof(LayerActivations, result), BT * 4 * D),
          "value-patched rerun reusing a kept pattern (no q, k kept) = the same rerun keeping every hook");
    CHECK(memcmp(all.logits, tiles.logits, BT * 20 * sizeof(float)) == 0 &&
              same_hook(&all, &tiles, 2, offsetof(LayerActivations, resid_post), BT * D),
          "value-patched rerun reusing kept pattern tiles (no q, k kept) = the same rerun keeping every hook");
    activations_free(&all);
    activations_free(&few);
    activations_free(&some);
    activations_free(&tiles);
    model_free(&m);
    free(resid);
    free(scale);
}

int main(void) {
    const char *why;
    if (kernels_init(&why)) { /* the kernels users get (CLEANUP_SIMD) */
        printf("  kernels_init (CLEANUP_SIMD, CLEANUP_BF16): %s\n", why);
        return 1;
    }
    test_processing_preserves_function();
    test_interventions(1);
    test_interventions(0);
    test_thread_determinism();
    test_attn_only_and_hooks();
    test_hooks_kept_alone();
    return check_done("test_model");
}
