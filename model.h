/* model.h - a gelu-4l-family transformer: configuration, weights, TransformerLens
 * weight processing, and a forward pass that keeps every TransformerLens hook point.
 *
 * Shapes below use TransformerLens names: B rows, T positions, L layers, H heads,
 * D d_model, dh d_head, M d_mlp, V d_vocab. All weights are float32, row-major,
 * in TransformerLens layout (W_Q [H,D,dh] means W_Q[(h*D + d)*dh + e]).
 * See docs/PROTOCOL.md sections 1-2 for the exact semantics.
 */
#ifndef CLEANUP_MODEL_H
#define CLEANUP_MODEL_H

#include <stddef.h>
#include "util.h"

typedef enum { ACT_GELU, ACT_GELU_NEW, ACT_RELU } ActFn;
typedef enum { NORM_LN, NORM_LNPRE } NormKind;

typedef struct {
    int n_layers, d_model, n_heads, d_head, d_mlp, n_ctx, d_vocab;
    ActFn act_fn;
    NormKind normalization; /* of the file as published; processing makes it LNPre */
    int attn_only;          /* 1: no MLPs */
    float eps;              /* LayerNorm epsilon (1e-5) */
    char act_fn_name[32];
    char model_name[128];   /* config "model_name" / "name", or "" */
    char tokenizer_name[128];
} ModelConfig;

/* Weights of one block. ln*_w/ln*_b are NULL once folded (processed model, or
 * an LNPre model). MLP pointers are NULL for attn_only models. */
typedef struct {
    float *ln1_w, *ln1_b;         /* [D] */
    float *W_Q, *W_K, *W_V;       /* [H,D,dh] */
    float *b_Q, *b_K, *b_V;       /* [H,dh] */
    float *W_O;                   /* [H,dh,D] */
    float *b_O;                   /* [D] */
    float *ln2_w, *ln2_b;         /* [D] */
    float *W_in;                  /* [D,M] */
    float *b_in;                  /* [M] */
    float *W_out;                 /* [M,D] */
    float *b_out;                 /* [D] */
    /* Forward-pass copies packed for one matmul per projection (made by
     * model_prepare): W_*_packed[d, h*dh + e] = W_*[h, d, e], b_*_packed likewise. */
    float *W_Q_packed, *W_K_packed, *W_V_packed; /* [D, H*dh] */
} LayerWeights;

typedef struct {
    ModelConfig cfg;
    float *W_E;                   /* [V,D] */
    float *W_pos;                 /* [n_ctx,D] */
    LayerWeights *layers;         /* [L] */
    float *lnf_w, *lnf_b;         /* [D], NULL once folded */
    float *W_U;                   /* [D,V] */
    float *b_U;                   /* [V] */
    int processed;                /* 1 after model_process */
    int has_ln_weights;           /* 1 while LayerNorms carry w,b (unprocessed LN model) */
    char *weights_path;           /* the file the weights came from */
    char weights_sha256[65];      /* its SHA-256 (hex), hashed from the bytes loaded: no second read */
    char *config_path;
    float **owned;                /* every buffer the model owns (freed by model_free) */
    int n_owned, cap_owned;
} Model;

/* Reads config.json (Neel-style or TransformerLens keys) into cfg; refuses
 * what the forward pass cannot run (rotary, parallel attn/MLP, RMSNorm, ...). */
int model_load_config(const char *path, ModelConfig *cfg, Error *err);

/* Finds the weights file of a model directory: *final.pth, else *.pth, else
 * *.safetensors (the first in name order). Returns a malloc'ed path or NULL with err. */
char *model_find_weights(const char *dir, Error *err);

/* Loads config.json and weights from `dir` (weights_path overrides the file
 * search when not NULL), checks every shape against the config, and, when
 * `process` is 1, applies model_process. Then calls model_prepare. */
int model_load(const char *dir, const char *weights_path, int process, Model *m, Error *err);
void model_free(Model *m);
/* Allocates zeroed weights for cfg (LayerNorm w/b too when cfg->normalization
 * is LN), for building models in memory (tests, synth, benchmarks). Call
 * model_prepare after filling them. */
int model_alloc_weights(Model *m, const ModelConfig *cfg, Error *err);

/* TransformerLens processing, in order: fold_ln, center_writing_weights,
 * center_unembed, fold_value_biases (docs/PROTOCOL.md section 1). */
void model_process(Model *m);
/* Builds the packed forward-pass copies; call after changing weights. */
void model_prepare(Model *m);
/* Number of weight parameters (as in the state dict, buffers excluded). */
size_t model_param_count(const Model *m);

/* Activations of one block for the current batch, every TransformerLens hook
 * point of docs/PROTOCOL.md section 2 (batch dim first, current n_rows x n_pos). */
typedef struct {
    float *resid_pre;      /* [B,T,D] */
    float *ln1_scale;      /* [B,T] */
    float *ln1_normalized; /* [B,T,D] */
    float *q, *k, *v;      /* [B,T,H,dh] */
    float *attn_scores;    /* [B,H,T,T]; NULL unless allocated with want_scores */
    float *pattern;        /* [B,H,T,T] */
    float *z;              /* [B,T,H,dh] */
    float *result;         /* [B,T,H,D] */
    float *attn_out;       /* [B,T,D] */
    float *resid_mid;      /* [B,T,D] */
    float *ln2_scale;      /* [B,T] */
    float *ln2_normalized; /* [B,T,D] */
    float *mlp_pre;        /* [B,T,M] */
    float *mlp_post;       /* [B,T,M] */
    float *mlp_out;        /* [B,T,D] */
    float *resid_post;     /* [B,T,D] */
} LayerActivations;

typedef struct {
    int max_rows, max_pos;       /* capacity fixed at allocation */
    int n_rows, n_pos;           /* shape of the batch last run: strides use n_pos */
    int has_scores, has_logits;
    float *embed, *pos_embed;    /* [B,T,D] */
    LayerActivations *layer;     /* [L] */
    float *lnf_scale;            /* [B,T] */
    float *lnf_normalized;       /* [B,T,D] */
    float *logits;               /* [B,T,V]; NULL unless allocated with want_logits */
    float *scratch;              /* internal work space */
    size_t bytes;                /* total bytes allocated */
} Activations;

/* Allocates activations for up to max_rows x max_pos tokens, once, up front.
 * Returns -1 with err (EXIT_INTERNAL) if memory is short or sizes overflow. */
int activations_alloc(Activations *a, const Model *m, int max_rows, int max_pos,
                      int want_scores, int want_logits, Error *err);
void activations_free(Activations *a);

/* What a forward pass does beyond the plain run. Zero-initialise, then set fields
 * (forward_options_default gives the plain full run). */
typedef struct {
    int start_layer;      /* 0: from the tokens. l > 0: layer[l].resid_pre already holds
                             the input (e.g. copied from a clean run); layers < l untouched */
    int stop_after_layer; /* -1 or L-1: all layers. l: stop after layer l's resid_post */
    int compute_logits;   /* 1: ln_final and unembed (needs want_logits); 0: stop at resid_post */
    /* Value-input patch (Fig 3): at layer v_patch_layer (-1: none), the value
     * path of every head h with v_patch_heads[h] != 0 (all heads when
     * v_patch_heads is NULL) reads v_patch_resid [B,T,D] instead of resid_pre,
     * normalised with the frozen scale v_patch_scale [B,T] instead of its own.
     * Queries and keys stay clean. */
    int v_patch_layer;
    const int *v_patch_heads;
    const float *v_patch_resid;
    const float *v_patch_scale;
    /* 1: the activations already hold this batch's run of layer start_layer (same
     * tokens, same resid_pre), so its ln1, queries, keys, scores and pattern are
     * kept rather than recomputed: only the values and what follows are. Same
     * bits as recomputing them; for a value patch at start_layer (Fig 3). */
    int reuse_attention_pattern;
} ForwardOptions;

ForwardOptions forward_options_default(void);

/* Runs tokens [n_rows, n_pos] (ids < d_vocab, n_pos <= n_ctx, checked by the
 * caller: see model_check_tokens) and fills every activation. */
void model_forward(const Model *m, Activations *a, const int *tokens, int n_rows, int n_pos,
                   const ForwardOptions *opt);

/* 0 if every id is in [0, d_vocab) and n_pos <= n_ctx; else -1 naming `source`. */
int model_check_tokens(const Model *m, const int *tokens, size_t n, int n_pos, const char *source, Error *err);

/* Intervention for Fig 4: hook_result of head `head` of layer `layer` at position
 * `pos` of row `row`, when that head's query, key and value input (the
 * ln1-normalised vector, i.e. hook_normalized) at `pos` is replaced by
 * `normalized_override` [D]; positions < pos use the clean a->layer[layer].ln1_normalized.
 * Writes out_result [D]. Runs only that head (O(pos * D * dh)). */
void head_result_with_input(const Model *m, const Activations *a, int row, int layer, int head,
                            int pos, const float *normalized_override, float *out_result);

/* A hook point's data in the current batch, for `cleanup run` and tests. */
typedef struct {
    float *data;
    int ndim;       /* including the batch dimension */
    int shape[5];
} HookView;

/* Looks up a TransformerLens hook name ("blocks.1.attn.hook_pattern", "logits",
 * "hook_embed", "ln_final.hook_scale", ...). Scale hooks have shape [B,T,1].
 * Returns -1 with err for unknown names or hooks not computed in this run. */
int hook_lookup(const Model *m, const Activations *a, const char *name, HookView *view, Error *err);
/* Calls fn for every hook name that exists for this model, in forward order. */
void hook_names(const Model *m, void (*fn)(const char *name, void *ctx), void *ctx);

#endif
