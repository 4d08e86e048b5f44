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
#include <stdint.h>

#include "kernels.h"
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
    /* W_O[h] packed once per head for the active kernels (model_prepare; kernels.h:
     * PackedWeights): the attention multiplies each tile of queries by it */
    PackedWeights *W_O_packed;    /* [H] */
    /* W_in and W_out packed likewise (the MLP runs a few rows at a time, model.c: mlp) */
    PackedWeights W_in_packed, W_out_packed;
    /* W_Q/K/V_packed above packed likewise, for the products of all the block's rows */
    PackedWeights W_Q_panels, W_K_panels, W_V_panels;
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

/* The sizes a tensor or hook shape is made of: the config's dimensions, and a
 * batch's rows (B) and positions (T). DIM_ONE is 1 (the scale hooks' last dim). */
typedef enum { DIM_VOCAB, DIM_CTX, DIM_MODEL, DIM_HEADS, DIM_HEAD, DIM_MLP, DIM_ROWS, DIM_POS, DIM_ONE } ModelDim;

/* What a weight tensor is (the part of its role the code needs to know). */
typedef enum { TENSOR_MATRIX, TENSOR_BIAS, TENSOR_LN_WEIGHT, TENSOR_LN_BIAS } TensorRole;

/* One entry of the model's tensor table: every weight tensor a gelu-4l-family
 * state dict can hold, described once for loading, allocation, counting and
 * synth. "State-dict order" below is the table's: the globals before the
 * blocks, each block's tensors in turn, the globals after (the order synth
 * writes; files may order keys otherwise, the loader finds each by name). */
typedef struct {
    const char *name;   /* state-dict key ("embed.W_E"); for per-layer tensors the
                           part after "blocks.L." ("attn.W_Q") */
    int per_layer;      /* 1: one per block, in LayerWeights; 0: one, in Model */
    TensorRole role;    /* LayerNorm tensors exist only in LN (not LNPre) files */
    int needs_mlp;      /* 1: absent from attn_only models (mlp.*, ln2.*) */
    int ndim;
    ModelDim dims[3];   /* TransformerLens shape */
    size_t field;       /* offsetof the float * in Model, or in LayerWeights */
} TensorSpec;

/* A tensor of one particular model: its table entry and block (-1: not per layer). */
typedef struct {
    const TensorSpec *spec;
    int layer;
} TensorRef;

/* 1 if a model with config c has tensor t in its state dict (LayerNorm weights
 * only when c->normalization is LN, MLP weights only without attn_only). */
int model_tensor_present(const TensorSpec *t, const ModelConfig *c);
/* Writes t's shape for config c into dims; returns its number of dimensions. */
int model_tensor_shape(const TensorSpec *t, const ModelConfig *c, int dims[3]);
/* The state-dict key of t in block `layer` ("blocks.2.attn.W_Q", "unembed.W_U"). */
void model_tensor_key(const TensorSpec *t, int layer, char *buf, size_t cap);
/* The table entry of a state-dict key of a model with n_layers blocks, with its
 * block in *layer (-1 if not per layer); NULL if the key is no tensor's. */
const TensorSpec *model_tensor_find(const char *key, int n_layers, int *layer);
/* Where m keeps tensor t of block `layer` (m->layers must exist for per-layer t). */
float **model_tensor_field(Model *m, const TensorSpec *t, int layer);
/* Lists the tensors a model with config c has, in state-dict order, into out
 * (room for all, or NULL to count); returns how many. */
size_t model_state_dict(const ModelConfig *c, TensorRef *out);

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
/* Builds the packed forward-pass copies; call after changing weights (and after
 * choosing the kernels: the copies of W_O, W_in and W_out are packed for the active
 * ones; under others the forward pass reads the weights themselves, the same bits). */
void model_prepare(Model *m);
/* The floats of the packed copies model_prepare made (for the memory budget). */
size_t model_packed_floats(const Model *m);
/* Number of weight parameters (as in the state dict, buffers excluded). */
size_t model_param_count(const Model *m);

/* Room for every hook kind (HOOK_COUNT <= HOOK_COUNT_MAX, checked in model.c). */
#define HOOK_COUNT_MAX 32

/* A set of hook kinds (HookKind, below): bit 1u << kind. */
typedef uint32_t HookMask;
#define HOOK_BIT(kind) ((HookMask)1u << (kind))
#define HOOKS_ALL ((HookMask)0xffffffffu)

/* Blocks a HookRequest can give kinds of their own (beyond its every-block kinds). */
#define HOOK_REQUEST_LAYERS 8
/* Blocks whose pattern tiles a request can ask for (the bits of HookRequest.pattern_tiles). */
#define HOOK_TILE_LAYERS 64

/* The hook points a batch's activations keep for the caller. Zero-initialised: only
 * the ones every run keeps (hooks_always_kept: the residual stream at each block's
 * input and output and the LayerNorm scales; the forward pass needs them itself).
 * What is not kept is neither allocated nor stored: the forward pass computes it in
 * work space shared by the blocks (q, k, v, resid_mid, mlp_out), chunk by chunk of rows
 * in each thread's own buffer (the layernorms' outputs, mlp_post), or (attention scores,
 * pattern, z, result, attn_out) tile by tile in cache. Fill with hook_request_add. */
typedef struct {
    HookMask kinds;                          /* global kinds, and per-layer kinds kept in every block */
    int n_layers;                            /* blocks listed below */
    int layer[HOOK_REQUEST_LAYERS];          /* a block ... */
    HookMask layer_kinds[HOOK_REQUEST_LAYERS]; /* ... and the per-layer kinds kept in it alone */
    uint64_t pattern_tiles;                  /* bit l: block l keeps its attention pattern in the
                                                attention's own query tiles (pattern_tile; not a
                                                hook point). Set with hook_request_pattern_tiles */
} HookRequest;

/* Adds `kinds` to r: in block `layer` alone, or (layer -1, or global kinds) in every
 * block. When r already lists HOOK_REQUEST_LAYERS other blocks, per-layer kinds go to
 * every block instead (more memory, never less data). */
void hook_request_add(HookRequest *r, int layer, HookMask kinds);
/* Asks r for block `layer`'s pattern tiles (pattern_tile): what a rerun reusing the
 * block's pattern (ForwardOptions.reuse_attention_pattern) or a reader of whole rows of
 * the pattern needs, at no transposition and about half the hook's memory. Layer -1, or
 * a block from HOOK_TILE_LAYERS on, gets the pattern hook instead (every block for -1):
 * never less data. */
void hook_request_pattern_tiles(HookRequest *r, int layer);
/* Adds every kind of `from` to r (its every-block kinds and its blocks' own, its
 * pattern tiles). */
void hook_request_merge(HookRequest *r, const HookRequest *from);
/* The kinds a block keeps under r: per-layer kinds of block `layer`, or the global
 * kinds for layer -1 (always-kept kinds included). */
HookMask hook_request_kinds(const HookRequest *r, int layer);
/* The kinds every run keeps whatever the request. */
HookMask hooks_always_kept(void);

/* Activations of one block for the current batch, the TransformerLens hook points
 * of docs/PROTOCOL.md section 2 (batch dim first, current n_rows x n_pos). A pointer is
 * NULL when its hook is not kept (see HookRequest). */
typedef struct {
    float *resid_pre;      /* [B,T,D] always kept */
    float *ln1_scale;      /* [B,T] always kept */
    float *ln1_normalized; /* [B,T,D] */
    float *q, *k, *v;      /* [B,T,H,dh] */
    float *attn_scores;    /* [B,H,T,T] */
    float *pattern;        /* [B,H,T,T] */
    float *z;              /* [B,T,H,dh] */
    float *result;         /* TransformerLens' [B,T,H,D], stored [B,H,T,D]: hook_result_at */
    float *attn_out;       /* [B,T,D] */
    float *resid_mid;      /* [B,T,D] */
    float *ln2_scale;      /* [B,T] always kept */
    float *ln2_normalized; /* [B,T,D] */
    float *mlp_pre;        /* [B,T,M] */
    float *mlp_post;       /* [B,T,M] */
    float *mlp_out;        /* [B,T,D] */
    float *resid_post;     /* [B,T,D] always kept */
    HookMask kept;         /* the per-layer kinds kept in this block */
    float *pattern_tiles;  /* the pattern by query tiles (pattern_tile), when requested */
    int keeps_pattern_tiles; /* internal: requested (HookRequest.pattern_tiles) */
} LayerActivations;

typedef struct {
    int max_rows, max_pos;       /* capacity fixed at allocation */
    int n_rows, n_pos;           /* shape of the batch last run: strides use n_pos */
    int has_scores, has_logits;  /* attn_scores kept in some block; logits kept */
    float *embed, *pos_embed;    /* [B,T,D] */
    LayerActivations *layer;     /* [L] */
    float *lnf_scale;            /* [B,T] always kept */
    float *lnf_normalized;       /* [B,T,D] always kept */
    float *logits;               /* [B,T,V] */
    HookMask kept;               /* the global kinds kept */
    float *work[HOOK_COUNT_MAX]; /* internal: per kind, the forward pass's work space for
                                    blocks that do not keep it (NULL if all do) */
    float *key_t;                /* internal: keys transposed per (row, head) [B,H,dh,T + 16] */
    float *value_panels;         /* internal: per (row, head) its values packed (pack_weights) */
    size_t value_panel_floats;   /* internal: the floats of each (row, head)'s in value_panels */
    float *scratch;              /* internal: the value patch's input and values */
    float *thread_work;          /* internal: each forward thread's own buffers (attention
                                    tiles, MLP chunks), thread_work_floats a thread, for
                                    thread_work_threads threads; kept between passes */
    size_t thread_work_floats;
    int thread_work_threads;
    float *base;                 /* internal: the one block all of the above live in */
    size_t bytes;                /* bytes of the block above (thread_work comes on top) */
} Activations;

/* Allocates activations for up to max_rows x max_pos tokens, once, up front, keeping
 * the hooks of `keep` (NULL: every hook). Returns -1 with err (EXIT_INTERNAL) if
 * memory is short or sizes overflow. */
int activations_alloc_hooks(Activations *a, const Model *m, int max_rows, int max_pos, const HookRequest *keep,
                            Error *err);
/* activations_alloc_hooks keeping every hook but the attention scores (unless
 * want_scores) and the logits (unless want_logits). */
int activations_alloc(Activations *a, const Model *m, int max_rows, int max_pos,
                      int want_scores, int want_logits, Error *err);
void activations_free(Activations *a);

/* What a forward pass does beyond the plain run. Zero-initialise, then set fields
 * (forward_options_default gives the plain full run). The hooks it keeps are those
 * its activations were allocated for (activations_alloc_hooks): a hook is stored
 * exactly when it has room, so no hook holds data of another run. */
typedef struct {
    int start_layer;      /* 0: from the tokens. l > 0: layer[l].resid_pre already holds
                             the input (e.g. copied from a clean run); layers < l untouched */
    int stop_after_layer; /* -1 or L-1: all layers. l: stop after layer l's resid_post */
    int compute_logits;   /* 1: ln_final and unembed (needs the logits kept); 0: stop at resid_post */
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
     * bits as recomputing them; for a value patch at start_layer (Fig 3). Needs
     * that block to keep its pattern tiles, its pattern or q and k, and
     * ln1_normalized unless every head is patched. */
    int reuse_attention_pattern;
} ForwardOptions;

ForwardOptions forward_options_default(void);

/* Runs tokens [n_rows, n_pos] (ids < d_vocab, n_pos <= n_ctx, checked by the
 * caller: see model_check_tokens) and fills every activation. */
void model_forward(const Model *m, Activations *a, const int *tokens, int n_rows, int n_pos,
                   const ForwardOptions *opt);

/* The attention computes each (row, head)'s pattern by tiles of query rows, key by
 * query. A block asked for its pattern tiles (hook_request_pattern_tiles) keeps them as
 * they are: pattern_tile_count(T) tiles per (row, head), tile k for queries i0 .. i0 +
 * mb - 1 (consecutive tiles, in order) over keys 0 .. i0 + mb - 1:
 *     tile[j * mb + i] = pattern[b, h, i0 + i, j]   (0 past query i0 + i's own key),
 * about half of the hook's [T, T] (no keys past a tile's last query). pattern_tile
 * returns tile k of row b, head h of the batch last run, its i0 and mb; NULL when the
 * block does not keep its tiles (k, b or h out of range: an internal error). */
int pattern_tile_count(int T);
const float *pattern_tile(const Model *m, const Activations *a, int layer, int b, int h, int k, int *i0, int *mb);

/* 0 if every id is in [0, d_vocab) and n_pos <= n_ctx; else -1 naming `source`. */
int model_check_tokens(const Model *m, const int *tokens, size_t n, int n_pos, const char *source, Error *err);

/* hook_result of head h of layer l at (row b, position t) of the batch a last ran: D
 * floats (the block must keep hook_result); the one accessor of the hook for its readers.
 * The hook is stored head by head, [B,H,T,D], so that the attention writes each head's
 * rows of a query tile as one contiguous block (written 16 KB apart, between the other
 * heads' rows, the W_O products and sums took about 10% longer and the paper-scale run
 * 2.4 s longer: BENCHMARKS.md session 15); hook_view presents it as [B,T,H,D]. */
const float *hook_result_at(const Model *m, const Activations *a, int l, int h, int b, int t);

/* Intervention for Fig 4: hook_result of head `head` of layer `layer` at position
 * `pos` of row `row`, when that head's query, key and value input (the
 * ln1-normalised vector, i.e. hook_normalized) at `pos` is replaced by
 * `normalized_override` [D]; positions < pos use the clean a->layer[layer].ln1_normalized.
 * Writes out_result [D]. Runs only that head (O(pos * D * dh)); a must keep that
 * layer's k and v. */
void head_result_with_input(const Model *m, const Activations *a, int row, int layer, int head,
                            int pos, const float *normalized_override, float *out_result);

/* Every TransformerLens hook point of the forward pass, in forward order. The
 * per-layer kinds (HOOK_RESID_PRE..HOOK_RESID_POST) exist once per block, named
 * "blocks.L." + their name; the others once per model. HOOK_COUNT <= 32, so a set
 * of kinds (e.g. the hooks a caller wants a forward pass to keep) fits a uint32_t
 * bitmask with bit 1u << kind; per-layer sets, one such mask per layer. */
typedef enum {
    HOOK_EMBED, HOOK_POS_EMBED,
    HOOK_RESID_PRE, HOOK_LN1_SCALE, HOOK_LN1_NORMALIZED, HOOK_Q, HOOK_K, HOOK_V, HOOK_ATTN_SCORES, HOOK_PATTERN,
    HOOK_Z, HOOK_RESULT, HOOK_ATTN_OUT, HOOK_RESID_MID, HOOK_LN2_SCALE, HOOK_LN2_NORMALIZED, HOOK_MLP_PRE,
    HOOK_MLP_POST, HOOK_MLP_OUT, HOOK_RESID_POST,
    HOOK_LNF_SCALE, HOOK_LNF_NORMALIZED, HOOK_LOGITS,
    HOOK_COUNT
} HookKind;

#define HOOK_FIRST_PER_LAYER HOOK_RESID_PRE
#define HOOK_LAST_PER_LAYER HOOK_RESID_POST

/* One hook point of a particular model: kind and block (-1 for global kinds). */
typedef struct {
    HookKind kind;
    int layer;
} HookPoint;

/* Number of hook kinds (HOOK_COUNT). */
int model_hook_count(void);
/* TransformerLens name of a kind: the full name of a global hook ("hook_embed",
 * "logits"), the part after "blocks.L." of a per-layer one ("attn.hook_pattern"). */
const char *hook_kind_name(HookKind kind);
/* 1 for the per-layer kinds. */
int hook_kind_per_layer(HookKind kind);
/* 1 if a model with config c has this hook (attention-only models have no MLP
 * hooks, ln2 hooks or hook_resid_mid, as in TransformerLens). */
int hook_kind_exists(HookKind kind, const ModelConfig *c);
/* Lists every hook point of a model with config c in forward order into out
 * (room for all, or NULL to count); returns how many. */
size_t hook_points(const ModelConfig *c, HookPoint *out);
/* The full TransformerLens name of p ("blocks.1.attn.hook_z"). */
void hook_point_name(HookPoint p, char *buf, size_t cap);
/* Parses a TransformerLens hook name ("blocks.1.attn.hook_pattern", "logits" or
 * its alias "unembed.hook_out", "hook_embed", ...) into *p. Returns -1 with err
 * (EXIT_USAGE) for names that are no hook of a model with config c. */
int hook_parse(const ModelConfig *c, const char *name, HookPoint *p, Error *err);

/* A hook point's data in the current batch, for `cleanup run` and tests: element
 * (i0, i1, ...) of the TransformerLens shape is data[i0 * stride[0] + i1 * stride[1] + ...]
 * (row-major strides for every hook but hook_result, which is stored head by head). */
typedef struct {
    float *data;
    int ndim;          /* including the batch dimension */
    int shape[5];
    size_t stride[5];  /* in floats */
} HookView;

/* The data of hook point p in the batch a last ran (shape with the batch
 * dimension first; scale hooks have shape [B,T,1]). Returns -1 with err
 * (EXIT_USAGE) for a hook the model lacks or this run did not keep. */
int hook_view(const Model *m, const Activations *a, HookPoint p, HookView *view, Error *err);
/* hook_parse, then hook_view. */
int hook_lookup(const Model *m, const Activations *a, const char *name, HookView *view, Error *err);

#endif
