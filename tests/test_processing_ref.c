/* test_processing_ref.c - TransformerLens weight processing (fold_ln,
 * center_writing_weights, center_unembed, fold_value_biases) checked directly on
 * the processed weights, against the float64 PyTorch reference values that
 * tools/make_fixtures.py wrote into tests/fixtures/models/NAME/ref_processed/
 * weights_check.json (TL layout, row-major flat index into the tensor).
 * Run from the repo root (tests/run.sh does). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "json.h"
#include "model.h"
#include "util.h"

/* The processed tensor named `name` (TransformerLens state-dict name) and its
 * element count, or NULL when the model has no such tensor. */
static const float *tensor_by_name(const Model *m, const char *name, size_t *n) {
    const ModelConfig *c = &m->cfg;
    size_t D = (size_t)c->d_model, H = (size_t)c->n_heads, dh = (size_t)c->d_head, M = (size_t)c->d_mlp;
    int l = -1, used = 0;
    char rest[64];
    if (strcmp(name, "embed.W_E") == 0) { *n = (size_t)c->d_vocab * D; return m->W_E; }
    if (strcmp(name, "pos_embed.W_pos") == 0) { *n = (size_t)c->n_ctx * D; return m->W_pos; }
    if (strcmp(name, "unembed.W_U") == 0) { *n = D * (size_t)c->d_vocab; return m->W_U; }
    if (strcmp(name, "unembed.b_U") == 0) { *n = (size_t)c->d_vocab; return m->b_U; }
    if (sscanf(name, "blocks.%d.%n", &l, &used) != 1 || l < 0 || l >= c->n_layers) return NULL;
    snprintf(rest, sizeof rest, "%s", name + used);
    {
        const LayerWeights *w = &m->layers[l];
        if (strcmp(rest, "attn.W_Q") == 0) { *n = H * D * dh; return w->W_Q; }
        if (strcmp(rest, "attn.W_K") == 0) { *n = H * D * dh; return w->W_K; }
        if (strcmp(rest, "attn.W_V") == 0) { *n = H * D * dh; return w->W_V; }
        if (strcmp(rest, "attn.b_Q") == 0) { *n = H * dh; return w->b_Q; }
        if (strcmp(rest, "attn.b_K") == 0) { *n = H * dh; return w->b_K; }
        if (strcmp(rest, "attn.b_V") == 0) { *n = H * dh; return w->b_V; }
        if (strcmp(rest, "attn.W_O") == 0) { *n = H * dh * D; return w->W_O; }
        if (strcmp(rest, "attn.b_O") == 0) { *n = D; return w->b_O; }
        if (strcmp(rest, "mlp.W_in") == 0) { *n = D * M; return w->W_in; }
        if (strcmp(rest, "mlp.b_in") == 0) { *n = M; return w->b_in; }
        if (strcmp(rest, "mlp.W_out") == 0) { *n = M * D; return w->W_out; }
        if (strcmp(rest, "mlp.b_out") == 0) { *n = D; return w->b_out; }
    }
    return NULL;
}

/* Checks every entry of DIR/ref_processed/weights_check.json against the
 * processed model loaded from DIR. Returns the number of values checked. */
static int check_model(const char *dir) {
    char path[512];
    unsigned char *text = NULL;
    size_t len = 0, i;
    Error err;
    Model m;
    JsonValue *doc;
    const JsonValue *checks;
    int checked = 0;

    memset(&m, 0, sizeof m);
    memset(&err, 0, sizeof err);
    snprintf(path, sizeof path, "%s/ref_processed/weights_check.json", dir);
    if (read_file(path, 1 << 20, &text, &len, &err) != 0) {
        CHECK(0, "%s", err.msg);
        return 0;
    }
    doc = json_parse((const char *)text, len, path, &err);
    free(text);
    CHECK(doc != NULL, "%s parses: %s", path, err.msg);
    if (!doc) return 0;
    if (model_load(dir, NULL, 1, &m, &err) != 0) {
        CHECK(0, "model_load %s: %s", dir, err.msg);
        json_free(doc);
        return 0;
    }
    checks = json_get(doc, "checks");
    CHECK(checks && checks->type == JSON_ARRAY && checks->count > 0, "%s has checks", path);
    for (i = 0; checks && checks->type == JSON_ARRAY && i < checks->count; i++) {
        const JsonValue *c = &checks->items[i];
        const char *name = json_as_string(json_get(c, "tensor"));
        long long flat = -1;
        double want = 0;
        size_t n = 0;
        const float *t = name ? tensor_by_name(&m, name, &n) : NULL;
        if (!name || !json_as_int(json_get(c, "flat"), &flat) || !json_as_double(json_get(c, "value"), &want)) {
            CHECK(0, "%s: entry %zu malformed", path, i);
            continue;
        }
        if (!t || flat < 0 || (size_t)flat >= n) {
            CHECK(0, "%s: processed model has no %s[%lld]", dir, name, flat);
            continue;
        }
        CHECK(check_close(t[flat], want, 1e-5, 1e-6), "%s: processed %s flat %lld = %.9g, reference %.9g",
              dir, name, flat, t[flat], want);
        checked++;
    }
    model_free(&m);
    json_free(doc);
    return checked;
}

int main(void) {
    static const char *models[] = {"gelu_pth", "gelu_new_st", "attn_only"};
    size_t k;
    int total = 0;
    for (k = 0; k < sizeof models / sizeof models[0]; k++) {
        char dir[256];
        snprintf(dir, sizeof dir, "tests/fixtures/models/%s", models[k]);
        total += check_model(dir);
    }
    CHECK(total >= 100, "checked %d processed weight values (expected >= 100)", total);
    return check_done("test_processing_ref");
}
