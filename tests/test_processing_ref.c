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
 * element count, or NULL when the model has no such tensor (or it was folded). */
static const float *tensor_by_name(const Model *m, const char *name, size_t *n) {
    int layer, dims[3], d, nd;
    const TensorSpec *t = model_tensor_find(name, m->cfg.n_layers, &layer);
    if (!t || !model_tensor_present(t, &m->cfg)) return NULL;
    nd = model_tensor_shape(t, &m->cfg, dims);
    for (*n = 1, d = 0; d < nd; d++) *n *= (size_t)dims[d];
    return *model_tensor_field((Model *)m, t, layer);
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
