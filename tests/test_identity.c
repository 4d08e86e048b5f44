/* test_identity.c - gelu-4l's fingerprints (identity.h) against values built in:
 *   - a processed model whose layer 2 neuron 50 and layer 3 neuron 833 are set to
 *     gelu-4l's published values matches all three fingerprints (and is not
 *     identified: its shape is not gelu-4l's); moving any value by 2e-5, or putting a
 *     larger b_in elsewhere, breaks exactly that fingerprint;
 *   - on an unprocessed LayerNorm model the processed view gives the same bits as
 *     model_process followed by the measurement, and matches fold_ln + centring
 *     written out here in double;
 *   - a gelu-4l-shaped model with the fingerprint values set is identified, and is
 *     not with one value off.
 * That random gelu-4l-shaped weights (cleanup synth --shape gelu-4l) are not
 * identified is tested end to end in tests/test_info.sh. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "identity.h"

static void alloc_model(Model *m, int L, int D, int M, int V, int n_ctx, NormKind norm) {
    ModelConfig c;
    Error err;
    memset(&c, 0, sizeof c);
    c.n_layers = L;
    c.d_model = D;
    c.n_heads = D == 512 ? 8 : 1;
    c.d_head = D == 512 ? 64 : D;
    c.d_mlp = M;
    c.n_ctx = n_ctx;
    c.d_vocab = V;
    c.act_fn = ACT_GELU;
    c.normalization = norm;
    c.eps = 1e-5f;
    if (model_alloc_weights(m, &c, &err) != 0) {
        printf("alloc failed: %s\n", err.msg);
        exit(1);
    }
}

/* Writes gelu-4l's fingerprint values into a processed model: W_in[:,50] of layer 2
 * is e_0, W_out[50,:] is (c, sqrt(1 - c^2), 0, ...) so their cosine is c. */
static void plant_fingerprints(Model *m, double c, float b_in_2_50, float b_in_3_833) {
    int D = m->cfg.d_model, M = m->cfg.d_mlp, d;
    LayerWeights *w2 = &m->layers[2];
    for (d = 0; d < D; d++) {
        w2->W_in[(size_t)d * M + 50] = d == 0 ? 1.0f : 0.0f;
        w2->W_out[(size_t)50 * D + d] = d == 0 ? (float)c : d == 1 ? (float)sqrt(1.0 - c * c) : 0.0f;
    }
    w2->b_in[50] = b_in_2_50;
    m->layers[3].b_in[833] = b_in_3_833;
}

/* The cosine of the planted vectors, from the stored floats. */
static double planted_cos(const Model *m) {
    int D = m->cfg.d_model, M = m->cfg.d_mlp, d;
    double dot = 0, a = 0, b = 0;
    for (d = 0; d < D; d++) {
        double x = m->layers[2].W_in[(size_t)d * M + 50], y = m->layers[2].W_out[(size_t)50 * D + d];
        dot += x * y;
        a += x * x;
        b += y * y;
    }
    return dot / sqrt(a * b);
}

static void test_planted_values(void) {
    Model m;
    ModelIdentity id;
    int l;
    alloc_model(&m, 4, 4, 1024, 3, 2, NORM_LNPRE);
    for (l = 0; l < 4; l++) check_fill(m.layers[l].b_in, 1024, 1.0f, 0.0f); /* all below 6.4 */
    m.processed = 1;
    plant_fingerprints(&m, -0.856783, 0.318265f, 6.415825f);
    CHECK(model_fingerprints(&m, &id) == 3, "3 fingerprints match, got %d", id.matched);
    CHECK(id.total == 3, "3 fingerprints, got %d", id.total);
    CHECK(!id.shape_matches && !id.identified, "a 4-wide model is not gelu-4l's shape, nor identified");
    CHECK(fabs(id.result[0].value - planted_cos(&m)) < 1e-12, "cos %.9f, direct %.9f", id.result[0].value,
          planted_cos(&m));
    CHECK(fabs(id.result[0].value - -0.856783) < 1e-7, "cos %.9f is the planted -0.856783", id.result[0].value);
    CHECK(id.result[1].value == (double)0.318265f, "b_in[2][50] %.9f", id.result[1].value);
    CHECK(id.result[2].value == (double)6.415825f && id.result[2].layer == 3 && id.result[2].neuron == 833,
          "largest b_in %.9f at L%d N%d", id.result[2].value, id.result[2].layer, id.result[2].neuron);

    /* each value 2e-5 off (twice the tolerance): only that fingerprint fails */
    plant_fingerprints(&m, -0.856803, 0.318265f, 6.415825f);
    model_fingerprints(&m, &id);
    CHECK(id.matched == 2 && !id.result[0].matches, "cos 2e-5 off: 2 match, got %d", id.matched);
    plant_fingerprints(&m, -0.856783, 0.318285f, 6.415825f);
    model_fingerprints(&m, &id);
    CHECK(id.matched == 2 && !id.result[1].matches, "b_in 2e-5 off: 2 match, got %d", id.matched);
    plant_fingerprints(&m, -0.856783, 0.318265f, 6.415845f);
    model_fingerprints(&m, &id);
    CHECK(id.matched == 2 && !id.result[2].matches, "largest b_in 2e-5 off: 2 match, got %d", id.matched);
    /* the largest b_in elsewhere: the value is right but the place is not */
    plant_fingerprints(&m, -0.856783, 0.318265f, 6.415825f);
    m.layers[1].b_in[7] = 7.0f;
    model_fingerprints(&m, &id);
    CHECK(id.matched == 2 && !id.result[2].matches && id.result[2].layer == 1 && id.result[2].neuron == 7,
          "a larger b_in at layer 1 neuron 7 is found and breaks the third fingerprint");
    /* a model without the neurons: NaN, no match, no crash */
    model_free(&m);
    alloc_model(&m, 2, 4, 16, 3, 2, NORM_LNPRE);
    m.processed = 1;
    CHECK(model_fingerprints(&m, &id) == 0 && isnan(id.result[0].value) && isnan(id.result[2].value),
          "2 layers of 16 neurons: nothing to measure");
    model_free(&m);
}

/* fold_ln + centring written out in double: the processed cos and b_in of neuron n. */
static void direct_processed(const Model *m, int l, int n, double *cosine, double *b_in) {
    const LayerWeights *w = &m->layers[l];
    int D = m->cfg.d_model, M = m->cfg.d_mlp, d;
    double *a = malloc((size_t)D * sizeof *a), *b = malloc((size_t)D * sizeof *b), ma = 0, mb = 0, dot = 0, na = 0,
           nb = 0, bias = w->b_in[n];
    for (d = 0; d < D; d++) {
        bias += (double)w->ln2_b[d] * w->W_in[(size_t)d * M + n];
        a[d] = (double)w->W_in[(size_t)d * M + n] * w->ln2_w[d];
        b[d] = w->W_out[(size_t)n * D + d];
        ma += a[d] / D;
        mb += b[d] / D;
    }
    for (d = 0; d < D; d++) {
        dot += (a[d] - ma) * (b[d] - mb);
        na += (a[d] - ma) * (a[d] - ma);
        nb += (b[d] - mb) * (b[d] - mb);
    }
    *cosine = dot / sqrt(na * nb);
    *b_in = bias;
    free(a);
    free(b);
}

static void fill_raw(Model *m) {
    int l, D = m->cfg.d_model, M = m->cfg.d_mlp;
    for (l = 0; l < m->cfg.n_layers; l++) {
        LayerWeights *w = &m->layers[l];
        check_fill(w->W_in, (size_t)D * M, 1.0f, 0.3f); /* non-zero column means: centring matters */
        check_fill(w->W_out, (size_t)M * D, 1.0f, -0.2f);
        check_fill(w->b_in, (size_t)M, 1.0f, 0.0f);
        check_fill(w->ln2_w, (size_t)D, 0.5f, 1.0f);
        check_fill(w->ln2_b, (size_t)D, 0.5f, 0.1f);
    }
}

static void test_processed_view(void) {
    static const Fingerprint table[] = {
        {FP_COS_IN_OUT, 1, 3, 0.0, "cos of layer 1 neuron 3"},
        {FP_B_IN, 2, 5, 0.0, "b_in of layer 2 neuron 5"},
        {FP_MAX_B_IN, 0, 0, 0.0, "largest b_in"},
    };
    FingerprintResult raw[3], processed[3];
    Model a, b;
    double cosine, bias;
    unsigned long long seed = check_rng_state;
    alloc_model(&a, 3, 16, 24, 5, 4, NORM_LN);
    fill_raw(&a);
    check_seed(seed);
    alloc_model(&b, 3, 16, 24, 5, 4, NORM_LN);
    fill_raw(&b);
    fingerprints_measure(&a, table, 3, raw);
    model_process(&b);
    fingerprints_measure(&b, table, 3, processed);
    CHECK(raw[0].value == processed[0].value, "cos: view %.9g, processed %.9g", raw[0].value, processed[0].value);
    CHECK(raw[1].value == processed[1].value, "b_in: view %.9g, processed %.9g", raw[1].value, processed[1].value);
    CHECK(raw[2].value == processed[2].value && raw[2].layer == processed[2].layer &&
              raw[2].neuron == processed[2].neuron,
          "largest b_in: view %.9g at L%dN%d, processed %.9g at L%dN%d", raw[2].value, raw[2].layer, raw[2].neuron,
          processed[2].value, processed[2].layer, processed[2].neuron);
    direct_processed(&a, 1, 3, &cosine, &bias);
    CHECK(fabs(raw[0].value - cosine) < 1e-6, "cos %.9g, fold_ln + centring in double %.9g", raw[0].value, cosine);
    direct_processed(&a, 2, 5, &cosine, &bias);
    CHECK(fabs(raw[1].value - bias) < 1e-6, "b_in %.9g, fold_ln in double %.9g", raw[1].value, bias);
    CHECK(fabs(raw[1].value - a.layers[2].b_in[5]) > 1e-3, "the fold changes b_in (else the test proves nothing)");
    model_free(&a);
    model_free(&b);
}

/* gelu-4l's shape, zero weights (pages never written stay unallocated) except the
 * fingerprint neurons. */
static void test_gelu4l_shape(void) {
    Model m;
    ModelIdentity id;
    alloc_model(&m, 4, 512, 2048, 48262, 1024, NORM_LNPRE);
    m.processed = 1;
    CHECK(model_has_gelu4l_shape(&m.cfg), "gelu-4l's shape");
    plant_fingerprints(&m, -0.856783, 0.318265f, 6.415825f);
    model_fingerprints(&m, &id);
    CHECK(id.shape_matches && id.matched == 3 && id.identified, "identified: shape %d, %d of 3", id.shape_matches,
          id.matched);
    plant_fingerprints(&m, -0.856783, 0.318265f, 6.0f);
    model_fingerprints(&m, &id);
    CHECK(id.shape_matches && id.matched == 2 && !id.identified, "one off: not identified (%d of 3)", id.matched);
    m.cfg.attn_only = 1;
    CHECK(!model_has_gelu4l_shape(&m.cfg), "attention-only is not gelu-4l's shape");
    model_free(&m);
}

int main(void) {
    check_seed(0x243F6A8885A308D3ULL);
    test_planted_values();
    test_processed_view();
    test_gelu4l_shape();
    return check_done("test_identity");
}
