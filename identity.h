/* identity.h - which checkpoint a model is, told by its weights rather than its shape.
 *
 * A model with gelu-4l's shape is the published checkpoint (NeelNanda/GELU_4L512W_C4_Code)
 * only when its weights carry gelu-4l's fingerprints: facts of its PROCESSED weights
 * (docs/PROTOCOL.md section 7) that random or retrained weights of the same shape do
 * not reproduce to 1e-5:
 *   - layer 2 neuron 50: cos(W_in[:,50], W_out[50,:]) = -0.856783;
 *   - layer 2 neuron 50: b_in[50] = 0.318265;
 *   - the largest b_in of the whole model is layer 3 neuron 833, = 6.415825.
 *
 * The fingerprints are defined on the processed weights (TransformerLens processing,
 * docs/PROTOCOL.md section 1). For a model loaded with --no-processing they are computed
 * on a processed VIEW of the few weights involved (fold_ln of ln2 into W_in and b_in,
 * then the centring of W_in's columns and W_out's rows, exactly as model_process does
 * it), so a model's identity does not depend on --no-processing.
 */
#ifndef CLEANUP_IDENTITY_H
#define CLEANUP_IDENTITY_H

#include "model.h"

/* A fingerprint matches when |value - expected| <= FINGERPRINT_TOLERANCE. */
#define FINGERPRINT_TOLERANCE 1e-5
#define MAX_FINGERPRINTS 8

typedef enum {
    FP_COS_IN_OUT, /* cos(W_in[:,neuron], W_out[neuron,:]) of `layer` */
    FP_B_IN,       /* b_in[neuron] of `layer` */
    FP_MAX_B_IN    /* the largest b_in over every layer and neuron: it must be at
                      (layer, neuron) and equal `expected` */
} FingerprintKind;

typedef struct {
    FingerprintKind kind;
    int layer, neuron;
    double expected;
    const char *what; /* e.g. "cos(W_in[:,50], W_out[50,:]) of layer 2" */
} Fingerprint;

/* One fingerprint measured on a model. */
typedef struct {
    double value;      /* NaN when it cannot be computed (no such layer or neuron, no
                          MLPs, a zero vector in a cosine) */
    int layer, neuron; /* where the value was read (FP_MAX_B_IN: the argmax found) */
    int matches;       /* 1: at the expected place and within FINGERPRINT_TOLERANCE */
} FingerprintResult;

typedef struct {
    int shape_matches;  /* the config has gelu-4l's shape (model_has_gelu4l_shape) */
    int matched, total; /* fingerprints that match, of how many */
    int identified;     /* shape_matches and every fingerprint matches */
    FingerprintResult result[MAX_FINGERPRINTS];
} ModelIdentity;

/* gelu-4l's fingerprints (above); *count gets their number (<= MAX_FINGERPRINTS). */
const Fingerprint *gelu4l_fingerprints(int *count);

/* 1 if cfg has gelu-4l's shape: 4 layers, d_model 512, 8 heads of 64, d_mlp 2048,
 * n_ctx 1024, d_vocab 48262, with MLPs. The shape alone does not make it gelu-4l. */
int model_has_gelu4l_shape(const ModelConfig *cfg);

/* Measures fingerprints fp[0..n) on m's processed weights (a processed view when m
 * is unprocessed, see above) into out[0..n). Any model: a fingerprint whose layer
 * or neuron the model lacks is NaN and does not match. Returns how many match. */
int fingerprints_measure(const Model *m, const Fingerprint *fp, int n, FingerprintResult *out);

/* gelu-4l's fingerprints on m: fills *id and returns id->matched. The weights are
 * the published gelu-4l exactly when id->identified. Reads O(L * D * d_mlp) floats;
 * never fails, prints nothing. */
int model_fingerprints(const Model *m, ModelIdentity *id);

#endif
