/* test_model_tables.c - the model's tensor and hook tables (model.h) against
 * references made outside this program:
 *   - the state dict of a config is exactly the tensors of the fixture files
 *     tools/make_fixtures.py wrote with PyTorch (same keys, same shapes), LN
 *     and attention-only models included, and the parameter count is the sum
 *     of their sizes;
 *   - the hook points of a model are exactly the hooks the float64 reference
 *     (tools/tlref.py) wrote into ref_raw/, and in TransformerLens' forward order;
 *   - names parse back to their points, the logits alias is accepted, and what
 *     an attention-only model or this run lacks is refused;
 *   - activations keep exactly the hooks that exist (and scores/logits only
 *     when asked for).
 * Run from the repo root (tests/run.sh does). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "formats.h"
#include "model.h"
#include "util.h"

#define FIX "tests/fixtures/models/"

static int is_buffer(const char *key) {
    return ends_with(key, ".mask") || ends_with(key, ".IGNORE");
}

/* model_state_dict of the fixture's config against its weights file. */
static void check_state_dict(const char *name) {
    char dir[256], *cfg_path, *weights;
    ModelConfig c;
    Model m;
    TensorFile tf;
    TensorRef *refs;
    Error err = {"", 0};
    size_t n, k, file_params = 0;
    int i, file_tensors = 0;
    snprintf(dir, sizeof dir, FIX "%s", name);
    cfg_path = path_join(dir, "config.json");
    weights = model_find_weights(dir, &err);
    if (model_load_config(cfg_path, &c, &err) != 0 || !weights || tensorfile_open(weights, &tf, &err) != 0) {
        CHECK(0, "%s: %s", name, err.msg);
        free(cfg_path);
        free(weights);
        return;
    }
    n = model_state_dict(&c, NULL);
    refs = calloc(n, sizeof *refs);
    model_state_dict(&c, refs);
    for (i = 0; i < tf.count; i++) {
        if (is_buffer(tf.tensors[i].name)) continue;
        file_tensors++;
        file_params += (size_t)tf.tensors[i].numel;
    }
    CHECK((size_t)file_tensors == n, "%s: the file has %d tensors, the table lists %lu", name, file_tensors,
          (unsigned long)n);
    for (k = 0; k < n; k++) {
        char key[96];
        int dims[3], nd = model_tensor_shape(refs[k].spec, &c, dims), d, same;
        const TensorEntry *t;
        int layer = -2;
        model_tensor_key(refs[k].spec, refs[k].layer, key, sizeof key);
        t = tensorfile_find(&tf, key);
        CHECK(t != NULL, "%s: the file has '%s'", name, key);
        if (!t) continue;
        same = t->ndim == nd;
        for (d = 0; d < nd && same; d++) same = t->shape[d] == dims[d];
        CHECK(same, "%s: '%s' has the file's shape", name, key);
        CHECK(model_tensor_find(key, c.n_layers, &layer) == refs[k].spec && layer == refs[k].layer,
              "%s: '%s' is found back in the table", name, key);
    }
    memset(&m, 0, sizeof m);
    m.cfg = c;
    CHECK(model_param_count(&m) == file_params, "%s: parameter count %lu, the file holds %lu", name,
          (unsigned long)model_param_count(&m), (unsigned long)file_params);
    free(refs);
    tensorfile_close(&tf);
    free(cfg_path);
    free(weights);
}

static void test_tensor_table(void) {
    int layer = 0;
    check_state_dict("gelu_pth");    /* LN, with MLPs, .pth */
    check_state_dict("attn_only");   /* LN, attention-only */
    check_state_dict("gelu_new_st"); /* safetensors */
    check_state_dict("relu_half_st");
    CHECK(model_tensor_find("blocks.2.attn.W_Q", 2, &layer) == NULL, "a block beyond n_layers is no tensor");
    CHECK(model_tensor_find("blocks.0.attn.mask", 2, &layer) == NULL, "buffers are no tensors");
    CHECK(model_tensor_find("attn.W_Q", 2, &layer) == NULL, "a per-layer name needs its block");
}

/* Collects the names of ref_raw/ (one NAME.dat per hook the reference wrote). */
static int ref_hook_names(const char *model, char ***names, int *count) {
    char dir[256];
    Error err = {"", 0};
    int i;
    snprintf(dir, sizeof dir, FIX "%s/ref_raw", model);
    if (list_dir(dir, names, count, &err) != 0) return -1;
    for (i = 0; i < *count; i++)
        if (ends_with((*names)[i], ".dat")) (*names)[i][strlen((*names)[i]) - 4] = '\0';
    return 0;
}

/* hook_points of the fixture's config against the hooks of its ref_raw/. */
static void check_hook_points(const char *model) {
    char cfg_path[256], name[96], **ref = NULL;
    ModelConfig c;
    Error err = {"", 0};
    HookPoint *points;
    size_t n, k;
    int n_ref = 0, i, found;
    snprintf(cfg_path, sizeof cfg_path, FIX "%s/config.json", model);
    if (model_load_config(cfg_path, &c, &err) != 0 || ref_hook_names(model, &ref, &n_ref) != 0) {
        CHECK(0, "%s: %s", model, err.msg);
        return;
    }
    n = hook_points(&c, NULL);
    points = calloc(n, sizeof *points);
    hook_points(&c, points);
    CHECK(n == (size_t)n_ref, "%s: %lu hook points, the reference wrote %d", model, (unsigned long)n, n_ref);
    for (k = 0; k < n; k++) {
        HookPoint back = {HOOK_COUNT, -2};
        hook_point_name(points[k], name, sizeof name);
        for (found = 0, i = 0; i < n_ref && !found; i++) found = strcmp(ref[i], name) == 0;
        CHECK(found, "%s: hook '%s' is one the reference wrote", model, name);
        CHECK(hook_parse(&c, name, &back, &err) == 0 && back.kind == points[k].kind && back.layer == points[k].layer,
              "%s: '%s' parses back to its point", model, name);
    }
    free(points);
    free_string_list(ref, n_ref);
}

static ModelConfig small_config(int attn_only) {
    ModelConfig c;
    memset(&c, 0, sizeof c);
    c.n_layers = 1, c.d_model = 8, c.n_heads = 2, c.d_head = 4, c.d_mlp = 16, c.n_ctx = 6, c.d_vocab = 10;
    c.normalization = NORM_LN, c.attn_only = attn_only, c.eps = 1e-5f;
    return c;
}

static void test_hook_table(void) {
    /* TransformerLens' forward order of a 1-layer model (HookedTransformer.hook_dict). */
    static const char *const forward[] = {
        "hook_embed", "hook_pos_embed", "blocks.0.hook_resid_pre", "blocks.0.ln1.hook_scale",
        "blocks.0.ln1.hook_normalized", "blocks.0.attn.hook_q", "blocks.0.attn.hook_k", "blocks.0.attn.hook_v",
        "blocks.0.attn.hook_attn_scores", "blocks.0.attn.hook_pattern", "blocks.0.attn.hook_z",
        "blocks.0.attn.hook_result", "blocks.0.hook_attn_out", "blocks.0.hook_resid_mid", "blocks.0.ln2.hook_scale",
        "blocks.0.ln2.hook_normalized", "blocks.0.mlp.hook_pre", "blocks.0.mlp.hook_post", "blocks.0.hook_mlp_out",
        "blocks.0.hook_resid_post", "ln_final.hook_scale", "ln_final.hook_normalized", "logits"};
    ModelConfig c = small_config(0), ao = small_config(1);
    HookPoint points[32], p;
    Error err = {"", 0};
    char name[96];
    size_t n = hook_points(&c, NULL), k;
    CHECK(model_hook_count() == HOOK_COUNT && HOOK_COUNT == 23, "23 hook kinds");
    CHECK(n == sizeof forward / sizeof forward[0], "a 1-layer model has %lu hook points", (unsigned long)n);
    hook_points(&c, points);
    for (k = 0; k < n && k < sizeof forward / sizeof forward[0]; k++) {
        hook_point_name(points[k], name, sizeof name);
        CHECK(strcmp(name, forward[k]) == 0, "hook %lu is %s (got %s)", (unsigned long)k, forward[k], name);
    }
    CHECK(hook_points(&ao, NULL) == 17, "an attention-only 1-layer model has 17 hook points");
    CHECK(hook_parse(&c, "unembed.hook_out", &p, &err) == 0 && p.kind == HOOK_LOGITS && p.layer == -1,
          "unembed.hook_out is logits");
    CHECK(hook_parse(&ao, "blocks.0.hook_resid_mid", &p, &err) != 0 && err.code == EXIT_USAGE &&
              strstr(err.msg, "attention-only"),
          "an attention-only model has no hook_resid_mid: %s", err.msg);
    CHECK(hook_parse(&c, "blocks.1.hook_resid_pre", &p, &err) != 0 && strstr(err.msg, "unknown hook"),
          "a block beyond n_layers: %s", err.msg);
    CHECK(hook_parse(&c, "blocks.0.hook_embed", &p, &err) != 0, "a global hook has no block");
    CHECK(hook_parse(&c, "hook_resid_pre", &p, &err) != 0, "a per-layer hook needs its block");
    check_hook_points("gelu_pth");
    check_hook_points("attn_only");
}

/* Every existing hook of a forward run has a buffer with its shape; scores and
 * logits only when asked for; what the model lacks has none. */
static void check_activations(int attn_only, int want_scores, int want_logits) {
    ModelConfig c = small_config(attn_only);
    Model m;
    Activations a;
    Error err = {"", 0};
    int tokens[6] = {1, 2, 3, 4, 5, 6}, k;
    if (model_alloc_weights(&m, &c, &err) != 0) {
        CHECK(0, "model_alloc_weights: %s", err.msg);
        return;
    }
    model_prepare(&m);
    if (activations_alloc(&a, &m, 2, 6, want_scores, want_logits, &err) != 0) {
        CHECK(0, "activations_alloc: %s", err.msg);
        model_free(&m);
        return;
    }
    model_forward(&m, &a, tokens, 1, 6, NULL);
    for (k = 0; k < HOOK_COUNT; k++) {
        HookPoint p;
        HookView v;
        int ok, expect;
        p.kind = (HookKind)k;
        p.layer = hook_kind_per_layer(p.kind) ? 0 : -1;
        ok = hook_view(&m, &a, p, &v, &err) == 0;
        expect = hook_kind_exists(p.kind, &c) && (k != HOOK_ATTN_SCORES || want_scores) && (k != HOOK_LOGITS || want_logits);
        CHECK(ok == expect, "attn_only %d scores %d logits %d: hook %s %s", attn_only, want_scores, want_logits,
              hook_kind_name(p.kind), expect ? "kept" : "refused");
        if (ok) CHECK(v.data != NULL && v.shape[0] == 1 && v.shape[1] == (k == HOOK_ATTN_SCORES || k == HOOK_PATTERN ? 2 : 6),
                      "hook %s: a buffer of the batch's shape", hook_kind_name(p.kind));
    }
    CHECK(attn_only || a.layer[0].resid_mid != NULL, "resid_mid kept with MLPs");
    CHECK(!attn_only || (a.layer[0].resid_mid == NULL && a.layer[0].mlp_out == NULL), "attention-only: no MLP buffers");
    activations_free(&a);
    model_free(&m);
}

int main(void) {
    test_tensor_table();
    test_hook_table();
    check_activations(0, 1, 1);
    check_activations(0, 0, 0);
    check_activations(1, 1, 0);
    return check_done("test_model_tables");
}
