/* identity.c - gelu-4l's fingerprints (identity.h). */
#include <math.h>
#include <stdlib.h>

#include "identity.h"

static const Fingerprint gelu4l_table[] = {
    {FP_COS_IN_OUT, 2, 50, -0.856783, "cos(W_in[:,50], W_out[50,:]) of layer 2"},
    {FP_B_IN, 2, 50, 0.318265, "b_in[50] of layer 2"},
    {FP_MAX_B_IN, 3, 833, 6.415825, "largest b_in: layer 3 neuron 833"},
};

const Fingerprint *gelu4l_fingerprints(int *count) {
    *count = (int)(sizeof gelu4l_table / sizeof gelu4l_table[0]);
    return gelu4l_table;
}

int model_has_gelu4l_shape(const ModelConfig *c) {
    return c->n_layers == 4 && c->d_model == 512 && c->n_heads == 8 && c->d_head == 64 && c->d_mlp == 2048 &&
           c->n_ctx == 1024 && c->d_vocab == 48262 && !c->attn_only;
}

/* The processed b_in of neuron n of layer l. An unprocessed model gets fold_ln's
 * b_in + ln2.b . W_in[:,n], summed and rounded as model_process does, so the value is
 * the same bits as after processing. */
static double processed_b_in(const Model *m, int l, int n) {
    const LayerWeights *w = &m->layers[l];
    int D = m->cfg.d_model, M = m->cfg.d_mlp, d;
    double acc = 0.0;
    if (m->processed || !m->has_ln_weights || !w->ln2_b) return w->b_in[n];
    for (d = 0; d < D; d++) acc += (double)w->ln2_b[d] * w->W_in[(size_t)d * M + n];
    return (float)(w->b_in[n] + acc);
}

/* Centres v[0..n) as model_process does (mean in double, each element rounded to float). */
static void center_floats(float *v, int n) {
    double mean = 0.0;
    int i;
    for (i = 0; i < n; i++) mean += v[i];
    mean /= n;
    for (i = 0; i < n; i++) v[i] = (float)(v[i] - mean);
}

/* cos(W_in[:,n], W_out[n,:]) of layer l on the processed weights: when unprocessed,
 * W_in's column gets fold_ln's ln2.w and is centred over d, W_out's row is centred
 * over D (center_writing_weights), as in model_process. NaN for a zero vector. */
static double processed_cos_in_out(const Model *m, int l, int n) {
    const LayerWeights *w = &m->layers[l];
    int D = m->cfg.d_model, M = m->cfg.d_mlp, d;
    float *col = malloc((size_t)D * sizeof *col), *row = malloc((size_t)D * sizeof *row);
    double dot = 0.0, nin = 0.0, nout = 0.0, cosine;
    if (!col || !row) {
        free(col);
        free(row);
        return NAN;
    }
    for (d = 0; d < D; d++) {
        col[d] = w->W_in[(size_t)d * M + n];
        row[d] = w->W_out[(size_t)n * D + d];
    }
    if (!m->processed) {
        if (m->has_ln_weights && w->ln2_w)
            for (d = 0; d < D; d++) col[d] *= w->ln2_w[d];
        center_floats(col, D);
        center_floats(row, D);
    }
    for (d = 0; d < D; d++) {
        dot += (double)col[d] * row[d];
        nin += (double)col[d] * col[d];
        nout += (double)row[d] * row[d];
    }
    free(col);
    free(row);
    cosine = nin > 0.0 && nout > 0.0 ? dot / sqrt(nin * nout) : NAN;
    return cosine;
}

int fingerprints_measure(const Model *m, const Fingerprint *fp, int n, FingerprintResult *out) {
    const ModelConfig *c = &m->cfg;
    int i, matched = 0;
    for (i = 0; i < n; i++) {
        FingerprintResult *r = &out[i];
        int has_neuron = !c->attn_only && fp[i].layer >= 0 && fp[i].layer < c->n_layers && fp[i].neuron >= 0 &&
                         fp[i].neuron < c->d_mlp;
        r->value = NAN;
        r->layer = fp[i].layer;
        r->neuron = fp[i].neuron;
        r->matches = 0;
        if (!has_neuron) continue;
        if (fp[i].kind == FP_COS_IN_OUT) {
            r->value = processed_cos_in_out(m, fp[i].layer, fp[i].neuron);
        } else if (fp[i].kind == FP_B_IN) {
            r->value = processed_b_in(m, fp[i].layer, fp[i].neuron);
        } else {
            /* the first largest in (layer, neuron) order */
            int l, k;
            for (l = 0; l < c->n_layers; l++)
                for (k = 0; k < c->d_mlp; k++) {
                    double b = processed_b_in(m, l, k);
                    if (isnan(r->value) || b > r->value) {
                        r->value = b;
                        r->layer = l;
                        r->neuron = k;
                    }
                }
        }
        r->matches = r->layer == fp[i].layer && r->neuron == fp[i].neuron && !isnan(r->value) &&
                     fabs(r->value - fp[i].expected) <= FINGERPRINT_TOLERANCE;
        matched += r->matches;
    }
    return matched;
}

int model_fingerprints(const Model *m, ModelIdentity *id) {
    const Fingerprint *fp = gelu4l_fingerprints(&id->total);
    id->shape_matches = model_has_gelu4l_shape(&m->cfg);
    id->matched = fingerprints_measure(m, fp, id->total, id->result);
    id->identified = id->shape_matches && id->matched == id->total;
    return id->matched;
}
