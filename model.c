/* model.c - config, weights, TransformerLens processing, forward pass, hooks,
 * interventions. See model.h and docs/PROTOCOL.md sections 1-2. */
#include "model.h"

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats.h"
#include "json.h"
#include "kernels.h"
#include "sha256.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* The masked attention score of docs/PROTOCOL.md section 2 (TransformerLens' IGNORE). */
#define MASKED_SCORE (-100000.0f)

/* ------------------------------------------------------------------------ */
/* Configuration                                                             */
/* ------------------------------------------------------------------------ */

/* Reads an integer config key into *out; missing keys leave *out untouched
 * and return 0 so the caller can decide whether the key is required. */
static int config_int(const JsonValue *root, const char *key, int *out, const char *path, Error *err) {
    const JsonValue *v = json_get(root, key);
    long long x;
    if (!v || v->type == JSON_NULL) return 0;
    if (!json_as_int(v, &x)) return error_set(err, "%s: \"%s\" must be an integer", path, key);
    if (x < 0 || x > 100000000) return error_set(err, "%s: \"%s\" = %lld is out of range", path, key, x);
    *out = (int)x;
    return 0;
}

/* 1 if the boolean key is present and true (missing or null counts as false). */
static int config_flag(const JsonValue *root, const char *key) {
    const JsonValue *v = json_get(root, key);
    int b = 0;
    return v && json_as_bool(v, &b) && b;
}

static void copy_string(char *dst, size_t cap, const char *src) {
    size_t n = src ? strlen(src) : 0;
    if (n >= cap) n = cap - 1;
    if (n) memcpy(dst, src, n);
    dst[n] = '\0';
}

int model_load_config(const char *path, ModelConfig *cfg, Error *err) {
    unsigned char *text;
    size_t len;
    JsonValue *root;
    const char *s;
    const JsonValue *v;
    int rc = -1, d_vocab_out = -1;
    memset(cfg, 0, sizeof *cfg);
    cfg->eps = 1e-5f;
    cfg->d_head = -1;
    if (read_file(path, 1 << 20, &text, &len, err) != 0) return -1;
    root = json_parse((const char *)text, len, path, err);
    free(text);
    if (!root) return -1;
    if (root->type != JSON_OBJECT) {
        error_set(err, "%s: expected a JSON object", path);
        goto done;
    }
    if (config_int(root, "d_model", &cfg->d_model, path, err) || config_int(root, "n_layers", &cfg->n_layers, path, err) ||
        config_int(root, "n_heads", &cfg->n_heads, path, err) || config_int(root, "d_head", &cfg->d_head, path, err) ||
        config_int(root, "d_mlp", &cfg->d_mlp, path, err) || config_int(root, "n_ctx", &cfg->n_ctx, path, err) ||
        config_int(root, "d_vocab", &cfg->d_vocab, path, err) || config_int(root, "d_vocab_out", &d_vocab_out, path, err))
        goto done;
    if (cfg->d_model <= 0 || cfg->n_layers <= 0 || cfg->n_heads <= 0 || cfg->n_ctx <= 0 || cfg->d_vocab <= 0) {
        error_set(err, "%s: d_model, n_layers, n_heads, n_ctx and d_vocab must all be given and positive", path);
        goto done;
    }
    if (cfg->d_head < 0) cfg->d_head = cfg->d_model / cfg->n_heads;
    if (cfg->d_head <= 0) {
        error_set(err, "%s: d_head must be positive", path);
        goto done;
    }
    if (d_vocab_out >= 0 && d_vocab_out != cfg->d_vocab) {
        error_set(err, "%s: d_vocab_out (%d) differs from d_vocab (%d); not supported", path, d_vocab_out, cfg->d_vocab);
        goto done;
    }
    if ((long long)cfg->d_model * cfg->d_vocab > 2000000000LL || (long long)cfg->n_ctx * cfg->d_model > 2000000000LL ||
        (long long)cfg->d_model * cfg->d_mlp > 2000000000LL || (long long)cfg->n_heads * cfg->d_head > 2000000000LL / cfg->d_model ||
        cfg->n_layers > 1000 || cfg->n_ctx > 1000000) {
        error_set(err, "%s: model dimensions are too large for this program", path);
        goto done;
    }
    cfg->attn_only = config_flag(root, "attn_only");
    if (!cfg->attn_only && cfg->d_mlp <= 0) {
        error_set(err, "%s: d_mlp must be given and positive (or attn_only true)", path);
        goto done;
    }
    v = json_get(root, "eps");
    if (v && v->type != JSON_NULL) {
        double e;
        /* Checked as the float it becomes: 1e-50 > 0 as a double but rounds to 0. */
        if (!json_as_double(v, &e) || !(e > 0 && e < 1) || !((float)e > 0)) {
            error_set(err, "%s: \"eps\" must be a small positive number", path);
            goto done;
        }
        cfg->eps = (float)e;
    }
    s = json_as_string(json_get(root, "act_fn"));
    if (!s && !cfg->attn_only) {
        error_set(err, "%s: \"act_fn\" is missing", path);
        goto done;
    }
    if (!s || strcmp(s, "gelu") == 0) cfg->act_fn = ACT_GELU;
    else if (strcmp(s, "gelu_new") == 0 || strcmp(s, "gelu_fast") == 0) cfg->act_fn = ACT_GELU_NEW;
    else if (strcmp(s, "relu") == 0) cfg->act_fn = ACT_RELU;
    else {
        error_set(err, "%s: act_fn \"%s\" is not supported (gelu, gelu_new, gelu_fast, relu)", path, s);
        goto done;
    }
    copy_string(cfg->act_fn_name, sizeof cfg->act_fn_name, s ? s : "gelu");
    /* Neel-style configs say "normalization", TransformerLens ones "normalization_type". */
    s = json_as_string(json_get(root, "normalization_type"));
    if (!s) s = json_as_string(json_get(root, "normalization"));
    if (!s || strcmp(s, "LN") == 0) cfg->normalization = NORM_LN;
    else if (strcmp(s, "LNPre") == 0) cfg->normalization = NORM_LNPRE;
    else {
        error_set(err, "%s: normalization \"%s\" is not supported (LN or LNPre)", path, s);
        goto done;
    }
    if (config_flag(root, "final_rms")) {
        error_set(err, "%s: final_rms models are not supported", path);
        goto done;
    }
    if (config_flag(root, "shortformer_pos")) {
        error_set(err, "%s: shortformer_pos models are not supported (learned absolute positions only)", path);
        goto done;
    }
    if (config_flag(root, "parallel_attn_mlp")) {
        error_set(err, "%s: parallel attention/MLP blocks are not supported", path);
        goto done;
    }
    s = json_as_string(json_get(root, "positional_embedding_type"));
    if (s && strcmp(s, "standard") != 0) {
        error_set(err, "%s: positional_embedding_type \"%s\" is not supported (standard only)", path, s);
        goto done;
    }
    v = json_get(root, "n_key_value_heads");
    if (v && v->type != JSON_NULL) {
        long long kv;
        if (!json_as_int(v, &kv) || kv != cfg->n_heads) {
            error_set(err, "%s: grouped-query attention (n_key_value_heads) is not supported", path);
            goto done;
        }
    }
    s = json_as_string(json_get(root, "model_name"));
    if (!s) s = json_as_string(json_get(root, "name"));
    copy_string(cfg->model_name, sizeof cfg->model_name, s);
    copy_string(cfg->tokenizer_name, sizeof cfg->tokenizer_name, json_as_string(json_get(root, "tokenizer_name")));
    rc = 0;
done:
    json_free(root);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* The tensor table                                                          */
/* ------------------------------------------------------------------------ */

/* Size of dimension d for config c, in a batch of B rows of T positions. */
static int dim_size(ModelDim d, const ModelConfig *c, int B, int T) {
    switch (d) {
    case DIM_VOCAB: return c->d_vocab;
    case DIM_CTX: return c->n_ctx;
    case DIM_MODEL: return c->d_model;
    case DIM_HEADS: return c->n_heads;
    case DIM_HEAD: return c->d_head;
    case DIM_MLP: return c->d_mlp;
    case DIM_ROWS: return B;
    case DIM_POS: return T;
    case DIM_ONE: return 1;
    }
    return 0;
}

/* Position p of a table's walk order: entries [0, g0), then the per-layer
 * entries [g0, g1) for block 0, 1, ..., n_layers-1, then entries [g1, n). The
 * tensors' state-dict order and the hooks' forward order are such walks. */
static void walk_at(size_t p, int g0, int g1, int n_layers, int *index, int *layer) {
    size_t g = (size_t)(g1 - g0), in_blocks = g * (size_t)n_layers;
    if (p < (size_t)g0) {
        *index = (int)p;
        *layer = -1;
    } else if (p < (size_t)g0 + in_blocks) {
        *index = g0 + (int)((p - (size_t)g0) % g);
        *layer = (int)((p - (size_t)g0) / g);
    } else {
        *index = (int)(p - in_blocks + g);
        *layer = -1;
    }
}

/* Number of positions of that walk over a table of n entries. */
static size_t walk_length(int n, int g0, int g1, int n_layers) {
    return (size_t)(n - (g1 - g0)) + (size_t)(g1 - g0) * (size_t)n_layers;
}

#define MODEL_FIELD(f) offsetof(Model, f)
#define LAYER_FIELD(f) offsetof(LayerWeights, f)

/* Every weight tensor, in the order synth writes them (a file may order them
 * otherwise: the loader looks each up by name). Per-layer entries are
 * contiguous (tensor_group). */
static const TensorSpec tensor_table[] = {
    {"embed.W_E", 0, TENSOR_MATRIX, 0, 2, {DIM_VOCAB, DIM_MODEL}, MODEL_FIELD(W_E)},
    {"pos_embed.W_pos", 0, TENSOR_MATRIX, 0, 2, {DIM_CTX, DIM_MODEL}, MODEL_FIELD(W_pos)},
    {"ln1.w", 1, TENSOR_LN_WEIGHT, 0, 1, {DIM_MODEL}, LAYER_FIELD(ln1_w)},
    {"ln1.b", 1, TENSOR_LN_BIAS, 0, 1, {DIM_MODEL}, LAYER_FIELD(ln1_b)},
    {"ln2.w", 1, TENSOR_LN_WEIGHT, 1, 1, {DIM_MODEL}, LAYER_FIELD(ln2_w)},
    {"ln2.b", 1, TENSOR_LN_BIAS, 1, 1, {DIM_MODEL}, LAYER_FIELD(ln2_b)},
    {"attn.W_Q", 1, TENSOR_MATRIX, 0, 3, {DIM_HEADS, DIM_MODEL, DIM_HEAD}, LAYER_FIELD(W_Q)},
    {"attn.W_O", 1, TENSOR_MATRIX, 0, 3, {DIM_HEADS, DIM_HEAD, DIM_MODEL}, LAYER_FIELD(W_O)},
    {"attn.W_K", 1, TENSOR_MATRIX, 0, 3, {DIM_HEADS, DIM_MODEL, DIM_HEAD}, LAYER_FIELD(W_K)},
    {"attn.W_V", 1, TENSOR_MATRIX, 0, 3, {DIM_HEADS, DIM_MODEL, DIM_HEAD}, LAYER_FIELD(W_V)},
    {"attn.b_Q", 1, TENSOR_BIAS, 0, 2, {DIM_HEADS, DIM_HEAD}, LAYER_FIELD(b_Q)},
    {"attn.b_O", 1, TENSOR_BIAS, 0, 1, {DIM_MODEL}, LAYER_FIELD(b_O)},
    {"attn.b_K", 1, TENSOR_BIAS, 0, 2, {DIM_HEADS, DIM_HEAD}, LAYER_FIELD(b_K)},
    {"attn.b_V", 1, TENSOR_BIAS, 0, 2, {DIM_HEADS, DIM_HEAD}, LAYER_FIELD(b_V)},
    {"mlp.W_in", 1, TENSOR_MATRIX, 1, 2, {DIM_MODEL, DIM_MLP}, LAYER_FIELD(W_in)},
    {"mlp.b_in", 1, TENSOR_BIAS, 1, 1, {DIM_MLP}, LAYER_FIELD(b_in)},
    {"mlp.W_out", 1, TENSOR_MATRIX, 1, 2, {DIM_MLP, DIM_MODEL}, LAYER_FIELD(W_out)},
    {"mlp.b_out", 1, TENSOR_BIAS, 1, 1, {DIM_MODEL}, LAYER_FIELD(b_out)},
    {"ln_final.w", 0, TENSOR_LN_WEIGHT, 0, 1, {DIM_MODEL}, MODEL_FIELD(lnf_w)},
    {"ln_final.b", 0, TENSOR_LN_BIAS, 0, 1, {DIM_MODEL}, MODEL_FIELD(lnf_b)},
    {"unembed.W_U", 0, TENSOR_MATRIX, 0, 2, {DIM_MODEL, DIM_VOCAB}, MODEL_FIELD(W_U)},
    {"unembed.b_U", 0, TENSOR_BIAS, 0, 1, {DIM_VOCAB}, MODEL_FIELD(b_U)},
};

#define N_TENSORS ((int)(sizeof tensor_table / sizeof tensor_table[0]))

/* The per-layer entries [*g0, *g1) of the tensor table. */
static void tensor_group(int *g0, int *g1) {
    int i = 0;
    while (i < N_TENSORS && !tensor_table[i].per_layer) i++;
    *g0 = i;
    while (i < N_TENSORS && tensor_table[i].per_layer) i++;
    *g1 = i;
}

int model_tensor_present(const TensorSpec *t, const ModelConfig *c) {
    int is_ln = t->role == TENSOR_LN_WEIGHT || t->role == TENSOR_LN_BIAS;
    return !(is_ln && c->normalization != NORM_LN) && !(t->needs_mlp && c->attn_only);
}

int model_tensor_shape(const TensorSpec *t, const ModelConfig *c, int dims[3]) {
    int d;
    for (d = 0; d < t->ndim; d++) dims[d] = dim_size(t->dims[d], c, 0, 0);
    return t->ndim;
}

void model_tensor_key(const TensorSpec *t, int layer, char *buf, size_t cap) {
    if (t->per_layer) snprintf(buf, cap, "blocks.%d.%s", layer, t->name);
    else snprintf(buf, cap, "%s", t->name);
}

const TensorSpec *model_tensor_find(const char *key, int n_layers, int *layer) {
    int i, l, consumed = 0;
    for (i = 0; i < N_TENSORS; i++)
        if (!tensor_table[i].per_layer && strcmp(key, tensor_table[i].name) == 0) {
            *layer = -1;
            return &tensor_table[i];
        }
    if (sscanf(key, "blocks.%d.%n", &l, &consumed) == 1 && consumed > 0 && l >= 0 && l < n_layers)
        for (i = 0; i < N_TENSORS; i++)
            if (tensor_table[i].per_layer && strcmp(key + consumed, tensor_table[i].name) == 0) {
                *layer = l;
                return &tensor_table[i];
            }
    return NULL;
}

float **model_tensor_field(Model *m, const TensorSpec *t, int layer) {
    char *base = t->per_layer ? (char *)&m->layers[layer] : (char *)m;
    return (float **)(void *)(base + t->field);
}

size_t model_state_dict(const ModelConfig *c, TensorRef *out) {
    size_t p, n = 0;
    int g0, g1, index, layer;
    tensor_group(&g0, &g1);
    for (p = 0; p < walk_length(N_TENSORS, g0, g1, c->n_layers); p++) {
        walk_at(p, g0, g1, c->n_layers, &index, &layer);
        if (!model_tensor_present(&tensor_table[index], c)) continue;
        if (out) {
            out[n].spec = &tensor_table[index];
            out[n].layer = layer;
        }
        n++;
    }
    return n;
}

/* Number of elements of tensor t for config c. */
static size_t tensor_elements(const TensorSpec *t, const ModelConfig *c) {
    int dims[3], d, nd = model_tensor_shape(t, c, dims);
    size_t n = 1;
    for (d = 0; d < nd; d++) n *= (size_t)dims[d];
    return n;
}

/* ------------------------------------------------------------------------ */
/* Weights                                                                   */
/* ------------------------------------------------------------------------ */

char *model_find_weights(const char *dir, Error *err) {
    static const char *const fallback[] = {"model_final.pth", "final.pth", "model.pth", "model.safetensors"};
    static const char *const suffixes[] = {"final.pth", ".pth", ".safetensors"};
    char **names;
    int count, i;
    size_t s;
    if (!is_directory(dir)) {
        error_set(err, "%s: model directory not found", dir);
        return NULL;
    }
    if (list_dir(dir, &names, &count, err) != 0) return NULL;
    for (s = 0; s < sizeof suffixes / sizeof suffixes[0]; s++)
        for (i = 0; i < count; i++)
            if (ends_with(names[i], suffixes[s])) {
                char *p = path_join(dir, names[i]);
                free_string_list(names, count);
                return p;
            }
    free_string_list(names, count);
    for (s = 0; s < sizeof fallback / sizeof fallback[0]; s++) {
        char *p = path_join(dir, fallback[s]);
        if (path_exists(p)) return p;
        free(p);
    }
    error_set(err, "%s: no weights file (*final.pth, *.pth or *.safetensors) in the model directory", dir);
    return NULL;
}

/* Adds p (from malloc) to the buffers model_free releases; frees p and
 * returns NULL if the list cannot grow. */
static float *model_register(Model *m, float *p) {
    if (m->n_owned == m->cap_owned) {
        int ncap = m->cap_owned ? m->cap_owned * 2 : 64;
        float **no = realloc(m->owned, (size_t)ncap * sizeof *no);
        if (!no) {
            free(p);
            return NULL;
        }
        m->owned = no;
        m->cap_owned = ncap;
    }
    m->owned[m->n_owned++] = p;
    return p;
}

static float *model_own(Model *m, size_t count) {
    float *p = alloc_array(count, sizeof(float));
    return p ? model_register(m, p) : NULL;
}

/* A tensor to convert into the model (load_weights plans them all, then
 * converts them in parallel). */
typedef struct {
    const TensorEntry *t;
    float **dst;                  /* the model's pointer to set */
    float *buf;                   /* where the float32 values go */
    size_t count;
    const unsigned char *src;     /* bytes the tensor is read from (a bound: */
    size_t src_len;               /* the whole storage unless contiguous) */
    int contiguous;               /* row-major and dense */
    int in_place;                 /* F32, contiguous, aligned, overlapping no other
                                     tensor: decoded where it lies in the file buffer */
} ConvertJob;

/* Finds tensor `name`, checks it has the expected shape (ndim dims of `dims`)
 * and appends its conversion into *out to jobs[*n_jobs] (room is the
 * caller's: one job per tensor the model has). Buffers come later (place_jobs). */
static int plan_tensor(const TensorFile *tf, const char *name, int ndim, const int *dims, float **out, ConvertJob *jobs,
                       int *n_jobs, Error *err) {
    const TensorEntry *t = tensorfile_find(tf, name);
    ConvertJob *j = &jobs[*n_jobs];
    char want[128], got[128];
    size_t count = 1, esz;
    int64_t expect = 1;
    int d, shape_ok;
    if (!t) return error_set(err, "%s: missing tensor '%s'", tf->path, name);
    shape_ok = t->ndim == ndim;
    for (d = 0; d < ndim && shape_ok; d++) shape_ok = t->shape[d] == dims[d];
    if (!shape_ok) {
        size_t w = 0, g = 0;
        want[0] = got[0] = '\0';
        for (d = 0; d < ndim; d++) w += (size_t)snprintf(want + w, sizeof want - w, "%s%d", d ? "," : "", dims[d]);
        for (d = 0; d < t->ndim && d < TENSOR_MAX_DIMS; d++)
            g += (size_t)snprintf(got + g, sizeof got - g, "%s%lld", d ? "," : "", (long long)t->shape[d]);
        return error_set(err, "%s: tensor '%s' has shape [%s] but config.json implies [%s]", tf->path, name, got, want);
    }
    for (d = 0; d < ndim; d++) count *= (size_t)dims[d];
    memset(j, 0, sizeof *j);
    j->t = t;
    j->dst = out;
    j->count = count;
    j->contiguous = 1;
    for (d = ndim - 1; d >= 0; d--) {
        if (t->shape[d] != 1 && t->stride[d] != expect) j->contiguous = 0;
        expect *= t->shape[d];
    }
    esz = dtype_size(t->dtype);
    if (j->contiguous && t->storage && count > 0) {
        j->src = t->storage + (size_t)t->offset * esz;
        j->src_len = count * esz;
    } else {
        j->src = t->storage;
        j->src_len = t->storage_bytes;
    }
    (*n_jobs)++;
    return 0;
}

/* Orders jobs by the first byte they read (qsort on pointers to jobs). */
static int job_src_cmp(const void *a, const void *b) {
    const ConvertJob *x = *(const ConvertJob *const *)a, *y = *(const ConvertJob *const *)b;
    return x->src < y->src ? -1 : x->src > y->src ? 1 : 0;
}

/* Gives every job its destination. With in_place_ok (the caller lets the file
 * buffer be overwritten and kept), a contiguous, 4-byte-aligned F32 tensor
 * whose bytes overlap no other planned tensor's is decoded where it lies:
 * no second 250 MB buffer to fault in and fill. Others get an owned buffer.
 * Overlaps are found in one pass over the jobs sorted by first byte: job k
 * overlaps another iff an earlier one ends after k starts or the next one
 * starts before k ends. Sets *any_in_place. */
static int place_jobs(Model *m, const TensorFile *tf, ConvertJob *jobs, int n, int in_place_ok, int *any_in_place,
                      Error *err) {
    ConvertJob **by_src = alloc_array((size_t)n + 1, sizeof *by_src);
    const unsigned char *max_end = NULL;
    int i, ns = 0;
    *any_in_place = 0;
    if (!by_src) return error_set_code(err, EXIT_INTERNAL, "%s: out of memory", tf->path);
    for (i = 0; i < n; i++) {
        ConvertJob *j = &jobs[i];
        j->in_place = in_place_ok && j->contiguous && j->t->dtype == DT_F32 && j->count > 0 && j->src &&
                      (size_t)(j->src - tf->file_data) % sizeof(float) == 0;
        if (j->src) by_src[ns++] = j;
    }
    qsort(by_src, (size_t)ns, sizeof *by_src, job_src_cmp);
    for (i = 0; i < ns; i++) {
        ConvertJob *j = by_src[i];
        const unsigned char *end = j->src + j->src_len;
        if ((max_end && max_end > j->src) || (i + 1 < ns && by_src[i + 1]->src < end)) j->in_place = 0;
        if (!max_end || end > max_end) max_end = end;
    }
    free(by_src);
    for (i = 0; i < n; i++) {
        ConvertJob *j = &jobs[i];
        if (j->in_place) {
            j->buf = (float *)(void *)(tf->file_data + (j->src - tf->file_data));
            *any_in_place = 1;
        } else {
            j->buf = model_own(m, j->count);
            if (!j->buf) return error_set_code(err, EXIT_INTERNAL, "%s: out of memory loading '%s'", tf->path, j->t->name);
        }
        *j->dst = j->buf;
    }
    return 0;
}

/* Elements converted at a time for contiguous tensors, then checked while
 * still in cache. */
#define CONVERT_CHUNK 16384

/* Converts one planned tensor to float32; every element must be finite. */
static int convert_job(const TensorFile *tf, const ConvertJob *j, Error *err) {
    size_t i, start = 0, n = j->count;
    TensorEntry piece = *j->t;
    if (!j->contiguous) {
        if (tensor_to_f32(tf, j->t, j->buf, err) != 0) return -1;
    }
    while (start < j->count) {
        if (j->contiguous) {
            /* a 1-D view of the next chunk */
            n = j->count - start < CONVERT_CHUNK ? j->count - start : CONVERT_CHUNK;
            piece.ndim = 1;
            piece.shape[0] = (int64_t)n;
            piece.stride[0] = 1;
            piece.numel = (int64_t)n;
            piece.offset = j->t->offset + (int64_t)start;
            if (tensor_to_f32(tf, &piece, j->buf + start, err) != 0) return -1;
        }
        for (i = start; i < start + n; i++)
            if (!isfinite(j->buf[i]))
                return error_set(err, "%s: tensor '%s' contains %s at element %lu", tf->path, j->t->name,
                                 isnan(j->buf[i]) ? "NaN" : "Inf", (unsigned long)i);
        start += n;
    }
    return 0;
}

/* Runs every job, spread over the threads (each tensor converted by one
 * thread: the same bits whatever the count). On failure the error is that of
 * the first failing job in plan order, so the message does not depend on
 * the thread count either. Each job keeps its own message: an in-place job
 * cannot be re-run for it (its bytes are already decoded). */
static int convert_jobs(const TensorFile *tf, const ConvertJob *jobs, int n, Error *err) {
    int i, first_bad = n;
    Error *errs = alloc_array((size_t)n + 1, sizeof *errs);
    if (!errs) return error_set_code(err, EXIT_INTERNAL, "%s: out of memory", tf->path);
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 1) reduction(min : first_bad)
#endif
    for (i = 0; i < n; i++)
        if (convert_job(tf, &jobs[i], &errs[i]) != 0 && i < first_bad) first_bad = i;
    if (first_bad < n) *err = errs[first_bad];
    free(errs);
    return first_bad < n ? -1 : 0;
}

/* Buffers that carry no weights (the causal mask and the IGNORE constant). */
static int key_is_buffer(const char *key) {
    return ends_with(key, ".mask") || ends_with(key, ".IGNORE");
}

/* Checks the state dict against the config, plans every tensor, gives each
 * its buffer (in place in tf's bytes when in_place_ok allows: *any_in_place
 * then says whether the model now points into them) and converts. */
static int load_weights(Model *m, const TensorFile *tf, int in_place_ok, int *any_in_place, Error *err) {
    const ModelConfig *c = &m->cfg;
    int has_ln = c->normalization == NORM_LN;
    int i, layer, nj = 0, rc = -1;
    size_t k, n_refs = model_state_dict(c, NULL);
    TensorRef *refs;
    ConvertJob *J;
    *any_in_place = 0;
    for (i = 0; i < tf->count; i++) {
        const char *name = tf->tensors[i].name;
        const TensorSpec *t;
        if (key_is_buffer(name)) continue;
        t = model_tensor_find(name, c->n_layers, &layer);
        if (!t)
            return error_set(err, "%s: unexpected tensor '%s' (not part of a %d-layer %s model described by config.json)",
                             tf->path, name, c->n_layers, c->attn_only ? "attention-only" : "transformer");
        if (!has_ln && (t->role == TENSOR_LN_WEIGHT || t->role == TENSOR_LN_BIAS))
            return error_set(err, "%s: tensor '%s' is a LayerNorm weight but config.json says LNPre", tf->path, name);
        if (c->attn_only && t->needs_mlp)
            return error_set(err, "%s: tensor '%s' is an MLP weight but config.json says attn_only", tf->path, name);
    }
    refs = alloc_array(n_refs + 1, sizeof *refs);
    J = alloc_array(n_refs + 1, sizeof *J); /* one per tensor the model has */
    if (!refs || !J) {
        free(refs);
        free(J);
        return error_set_code(err, EXIT_INTERNAL, "out of memory");
    }
    model_state_dict(c, refs);
    for (k = 0; k < n_refs; k++) {
        char key[96];
        int dims[3], nd = model_tensor_shape(refs[k].spec, c, dims);
        model_tensor_key(refs[k].spec, refs[k].layer, key, sizeof key);
        if (plan_tensor(tf, key, nd, dims, model_tensor_field(m, refs[k].spec, refs[k].layer), J, &nj, err) != 0) goto done;
    }
    m->has_ln_weights = has_ln;
    rc = place_jobs(m, tf, J, nj, in_place_ok, any_in_place, err);
    if (rc == 0) rc = convert_jobs(tf, J, nj, err);
done:
    free(refs);
    free(J);
    return rc;
}

/* Bytes read per fread while the hasher follows: small enough that hashing
 * starts at once, large enough that the publishing costs nothing. */
#define LOAD_CHUNK ((size_t)1 << 18)

/* What the reader publishes to the hasher in load_and_hash. buf[0, avail) is
 * read and never written again; finished = 1 once avail is final. Both are
 * written and read with OpenMP atomics, each paired with a flush so the bytes
 * are visible before the count that covers them. */
typedef struct {
    const unsigned char *buf;
    size_t avail;
    int finished;
} ReadProgress;

/* Adds `got` newly read bytes (and sets finished when `finished`). Atomic
 * updates rather than atomic writes: gcc 12 warns about parameters used only
 * in an atomic write. */
static void progress_publish(ReadProgress *rp, size_t got, int finished) {
#ifdef _OPENMP
#pragma omp flush
#pragma omp atomic
    rp->avail += got;
#pragma omp flush
#pragma omp atomic
    rp->finished |= finished;
#pragma omp flush
#else
    rp->avail += got;
    rp->finished |= finished;
#endif
}

/* Hashes the bytes as the reader publishes them, until it has finished: the
 * digest does not depend on how the bytes arrive (any split of a message into
 * sha256_update calls gives the same digest). Spins while it waits: the reader
 * fills a chunk in well under a millisecond, the hasher is the slower side. */
static void hash_following(ReadProgress *rp, char hex[65]) {
    Sha256 s;
    size_t done = 0, avail;
    int finished;
    sha256_init(&s);
    for (;;) {
#ifdef _OPENMP
#pragma omp atomic read
        finished = rp->finished;
#pragma omp flush
#pragma omp atomic read
        avail = rp->avail;
#pragma omp flush
#else
        finished = rp->finished;
        avail = rp->avail;
#endif
        if (avail > done) {
            sha256_update(&s, rp->buf + done, avail - done);
            done = avail;
        } else if (finished) {
            break;
        }
    }
    sha256_final_hex(&s, hex);
}

/* Reads `size` bytes of f (already opened, `size` from its reported length)
 * into buf in chunks, publishing progress; then checks the file ended there.
 * Always publishes finished, so the hasher stops even on a read error. */
static int read_published(FILE *f, const char *path, unsigned char *buf, size_t size, ReadProgress *rp, size_t *len,
                          Error *err) {
    size_t used = 0;
    int rc = 0;
    while (used < size) {
        size_t want = size - used < LOAD_CHUNK ? size - used : LOAD_CHUNK;
        size_t got = fread(buf + used, 1, want, f);
        used += got;
        progress_publish(rp, got, 0);
        if (got < want) break;
    }
    if (ferror(f)) rc = error_set(err, "%s: read error", path);
    else if (used < size) rc = error_set(err, "%s: file shrank while it was being read", path);
    else if (fgetc(f) != EOF) rc = error_set(err, "%s: file grew while it was being read", path);
    progress_publish(rp, 0, 1);
    *len = used;
    return rc;
}

/* Weights, processing and packing once the bytes are in tf. With in_place_ok,
 * tf's bytes (from malloc, not owned by tf) may become the model's: then
 * they are registered with the model and *kept is 1 (the caller must not
 * free them); on failure they are left to the caller. */
static int load_processed(Model *m, const TensorFile *tf, int process, int in_place_ok, int *kept, Error *err) {
    int any = 0;
    *kept = 0;
    if (load_weights(m, tf, in_place_ok, &any, err) != 0) return -1;
    if (any) {
        *kept = 1; /* registered, or freed by model_register when it cannot be */
        if (!model_register(m, (float *)(void *)tf->file_data))
            return error_set_code(err, EXIT_INTERNAL, "%s: out of memory", tf->path);
    }
    if (process) model_process(m);
    model_prepare(m);
    return 0;
}

/* The size of a weights file to read in one go, or 0 when the plain path
 * (tensorfile_open: growing reads, its own messages) should handle it: not a
 * regular file of known size, too short or too large, or its first bytes are
 * no tensor file format. f is left at the start of the file. */
static size_t weights_size(FILE *f) {
    unsigned char head[9];
    long end;
    if (fseek(f, 0, SEEK_END) != 0) return 0;
    end = ftell(f);
    if (fseek(f, 0, SEEK_SET) != 0) return 0;
    if (end < (long)sizeof head || (unsigned long)end > TENSORFILE_MAX_BYTES) return 0;
    if (fread(head, 1, sizeof head, f) != sizeof head || !tensorfile_sniff(head, sizeof head)) return 0;
    if (fseek(f, 0, SEEK_SET) != 0) return 0;
    return (size_t)end;
}

/* Reads the weights file, loads, processes (when `process`) and prepares the
 * weights, and hashes the file's bytes into m->weights_sha256, each byte read
 * once. With OpenMP and two threads allowed, the hash runs on the second
 * thread, following the reader chunk by chunk. With the portable SHA-256
 * (~300 MB/s, the longest single task) it then keeps going while the first
 * thread parses, converts and processes alone. With the CPU's SHA
 * instructions the hash keeps pace with the reader, so both threads meet after
 * the read and parse (CRC-32s), convert and process together (parallel loops
 * inside). Each weight is computed by one thread in a fixed order either way:
 * the results are the same bits whatever the thread count. */
static int load_and_hash(Model *m, const char *path, int process, Error *err) {
    TensorFile tf;
    ReadProgress rp;
    unsigned char *buf;
    size_t size, len = 0;
    int rc = 0, nthreads = 1, kept = 0;
    FILE *f = is_directory(path) ? NULL : fopen(path, "rb");
    size = f ? weights_size(f) : 0;
    buf = size ? malloc(size) : NULL;
    if (!buf) {
        /* The plain path: growing reads, tensorfile_open's messages. */
        if (f) fclose(f);
        if (tensorfile_open(path, &tf, err) != 0) return -1;
        rc = load_processed(m, &tf, process, 0, &kept, err);
        sha256_hex(tf.file_data, tf.file_len, m->weights_sha256);
        tensorfile_close(&tf);
        return rc;
    }
    memset(&rp, 0, sizeof rp);
    rp.buf = buf;
    memset(&tf, 0, sizeof tf);
#ifdef _OPENMP
    int hash_waits = !sha256_accelerated();
    nthreads = omp_get_max_threads() >= 2 ? 2 : 1;
#pragma omp parallel num_threads(nthreads)
    {
        if (omp_get_num_threads() == 2) {
            if (omp_get_thread_num() == 1) {
                hash_following(&rp, m->weights_sha256);
            } else {
                /* While the hasher may still read buf, nothing may write it:
                 * no in-place conversion here. */
                rc = read_published(f, path, buf, size, &rp, &len, err);
                if (rc == 0 && hash_waits) rc = tensorfile_open_view(path, buf, len, &tf, err);
                if (rc == 0 && hash_waits) rc = load_processed(m, &tf, process, 0, &kept, err);
            }
        } else {
#pragma omp single
            nthreads = 1;
        }
    }
    if (nthreads == 2 && rc == 0 && !hash_waits) {
        rc = tensorfile_open_view(path, buf, len, &tf, err);
        if (rc == 0) rc = load_processed(m, &tf, process, 1, &kept, err);
    }
#endif
    if (nthreads == 1) {
        rc = read_published(f, path, buf, size, &rp, &len, err);
        hash_following(&rp, m->weights_sha256); /* before the bytes may change */
        if (rc == 0) rc = tensorfile_open_view(path, buf, len, &tf, err);
        if (rc == 0) rc = load_processed(m, &tf, process, 1, &kept, err);
    }
    tensorfile_close(&tf);
    if (!kept) free(buf);
    fclose(f);
    return rc;
}

int model_load(const char *dir, const char *weights_path, int process, Model *m, Error *err) {
    char *wpath;
    memset(m, 0, sizeof *m);
    m->config_path = path_join(dir, "config.json");
    if (!is_directory(dir)) {
        error_set(err, "%s: model directory not found", dir);
        model_free(m);
        return -1;
    }
    if (model_load_config(m->config_path, &m->cfg, err) != 0) {
        model_free(m);
        return -1;
    }
    wpath = weights_path ? xstrdup(weights_path) : model_find_weights(dir, err);
    if (!wpath) {
        model_free(m);
        return -1;
    }
    m->weights_path = wpath;
    m->layers = alloc_array((size_t)m->cfg.n_layers, sizeof *m->layers);
    if (!m->layers) {
        model_free(m);
        return error_set_code(err, EXIT_INTERNAL, "out of memory");
    }
    if (load_and_hash(m, wpath, process, err) != 0) {
        model_free(m);
        return -1;
    }
    return 0;
}

int model_alloc_weights(Model *m, const ModelConfig *cfg, Error *err) {
    size_t k, n_refs = model_state_dict(cfg, NULL);
    TensorRef *refs = alloc_array(n_refs + 1, sizeof *refs);
    int ok = refs != NULL;
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    m->layers = alloc_array((size_t)cfg->n_layers, sizeof *m->layers);
    ok = ok && m->layers;
    if (ok) model_state_dict(cfg, refs);
    for (k = 0; k < n_refs && ok; k++) {
        float **field = model_tensor_field(m, refs[k].spec, refs[k].layer);
        ok = (*field = model_own(m, tensor_elements(refs[k].spec, cfg))) != NULL;
    }
    free(refs);
    m->has_ln_weights = cfg->normalization == NORM_LN;
    if (!ok) {
        model_free(m);
        return error_set_code(err, EXIT_INTERNAL, "out of memory allocating model weights");
    }
    return 0;
}

void model_free(Model *m) {
    int i;
    for (i = 0; i < m->n_owned; i++) free(m->owned[i]);
    free(m->owned);
    for (i = 0; m->layers && i < m->cfg.n_layers; i++) free(m->layers[i].W_O_packed);
    free(m->layers);
    free(m->weights_path);
    free(m->config_path);
    memset(m, 0, sizeof *m);
}

size_t model_param_count(const Model *m) {
    const ModelConfig *c = &m->cfg;
    size_t n = 0;
    int i;
    for (i = 0; i < N_TENSORS; i++)
        if (model_tensor_present(&tensor_table[i], c))
            n += tensor_elements(&tensor_table[i], c) * (tensor_table[i].per_layer ? (size_t)c->n_layers : 1);
    return n;
}

/* ------------------------------------------------------------------------ */
/* TransformerLens processing (docs/PROTOCOL.md section 1)                  */
/* ------------------------------------------------------------------------ */

/* Columns handled together by fold_and_center: a [D, 64] block of floats
 * (128 KB at D = 512) stays in cache between the two passes over it. */
#define FOLD_BLOCK 64

/* Folds a LayerNorm (w, b) into the matrix it feeds and centres its columns.
 * W is `groups` blocks of [D, cols] (one per head, or one for the MLP/unembed),
 * bias is [groups, cols]. With w and b (fold_ln): bias += b . W; W[d,:] *= w[d].
 * Then (both cases) each column is centred over d: the input is centred by
 * LayerNorm, so the column mean is dead weight. Works on blocks of FOLD_BLOCK
 * columns walked row by row (each column strided by cols floats would miss the
 * cache at every element for W_U); every column still sums over d in
 * increasing order, in double, so the result does not depend on the blocking. */
static void fold_and_center(float *W, float *bias, const float *w, const float *b, int groups, int D, int cols) {
    long nblocks = (cols + FOLD_BLOCK - 1) / FOLD_BLOCK, k;
    /* Blocks are independent: spread over the threads when there is enough
     * work (W_U, W_in); each block is done by one thread, so same bits.
     * Dynamic: on a shared machine a descheduled thread does not hold up
     * the other at the end of the loop. */
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 4) if ((double)groups * D * cols > 1e6)
#endif
    for (k = 0; k < groups * nblocks; k++) {
        double acc[FOLD_BLOCK], mean[FOLD_BLOCK];
        int g = (int)(k / nblocks), e0 = (int)(k % nblocks) * FOLD_BLOCK, d, e;
        int n = cols - e0 < FOLD_BLOCK ? cols - e0 : FOLD_BLOCK;
        float *Wg = W + (size_t)g * D * cols;
        float *bg = bias ? bias + (size_t)g * cols : NULL;
        for (e = 0; e < n; e++) acc[e] = mean[e] = 0.0;
        for (d = 0; d < D; d++) {
            float *row = Wg + (size_t)d * cols + e0;
            if (w) {
                for (e = 0; e < n; e++) {
                    acc[e] += (double)b[d] * row[e];
                    row[e] *= w[d];
                    mean[e] += row[e];
                }
            } else {
                for (e = 0; e < n; e++) mean[e] += row[e];
            }
        }
        if (w)
            for (e = 0; e < n; e++) bg[e0 + e] = (float)(bg[e0 + e] + acc[e]);
        for (e = 0; e < n; e++) mean[e] /= D;
        for (d = 0; d < D; d++) {
            float *row = Wg + (size_t)d * cols + e0;
            for (e = 0; e < n; e++) row[e] = (float)(row[e] - mean[e]);
        }
    }
}

/* Subtracts from each of `rows` rows of length n its mean: writes to the
 * residual stream are only ever read through a LayerNorm, which removes it. */
static void center_rows(float *W, size_t rows, int n) {
    long r;
    /* Rows are independent: one thread per row, same bits whatever the count
     * (dynamic, as in fold_and_center). */
#ifdef _OPENMP
#pragma omp parallel for schedule(dynamic, 16) if ((double)rows * n > 1e6)
#endif
    for (r = 0; r < (long)rows; r++) {
        float *row = W + (size_t)r * n;
        double mean = 0.0;
        int j;
        for (j = 0; j < n; j++) mean += row[j];
        mean /= n;
        for (j = 0; j < n; j++) row[j] = (float)(row[j] - mean);
    }
}

void model_process(Model *m) {
    const ModelConfig *c = &m->cfg;
    int D = c->d_model, H = c->n_heads, dh = c->d_head, M = c->d_mlp, V = c->d_vocab;
    int l, d, d0;
    size_t r;
    if (m->processed) return;
    /* 1. fold_ln */
    for (l = 0; l < c->n_layers; l++) {
        LayerWeights *w = &m->layers[l];
        const float *ln1_w = m->has_ln_weights ? w->ln1_w : NULL, *ln1_b = m->has_ln_weights ? w->ln1_b : NULL;
        const float *ln2_w = m->has_ln_weights ? w->ln2_w : NULL, *ln2_b = m->has_ln_weights ? w->ln2_b : NULL;
        fold_and_center(w->W_Q, w->b_Q, ln1_w, ln1_b, H, D, dh);
        fold_and_center(w->W_K, w->b_K, ln1_w, ln1_b, H, D, dh);
        fold_and_center(w->W_V, w->b_V, ln1_w, ln1_b, H, D, dh);
        if (!c->attn_only) fold_and_center(w->W_in, w->b_in, ln2_w, ln2_b, 1, D, M);
        w->ln1_w = w->ln1_b = w->ln2_w = w->ln2_b = NULL;
    }
    fold_and_center(m->W_U, m->b_U, m->has_ln_weights ? m->lnf_w : NULL, m->has_ln_weights ? m->lnf_b : NULL, 1, D, V);
    m->lnf_w = m->lnf_b = NULL;
    m->has_ln_weights = 0;
    /* 2. center_writing_weights */
    center_rows(m->W_E, (size_t)V, D);
    center_rows(m->W_pos, (size_t)c->n_ctx, D);
    for (l = 0; l < c->n_layers; l++) {
        LayerWeights *w = &m->layers[l];
        center_rows(w->W_O, (size_t)H * dh, D);
        center_rows(w->b_O, 1, D);
        if (!c->attn_only) {
            center_rows(w->W_out, (size_t)M, D);
            center_rows(w->b_out, 1, D);
        }
    }
    /* 3. center_unembed */
    center_rows(m->W_U, (size_t)D, V);
    center_rows(m->b_U, 1, V);
    /* 4. fold_value_biases: b_O += sum_h b_V[h] @ W_O[h]; b_V = 0 */
    for (l = 0; l < c->n_layers; l++) {
        LayerWeights *w = &m->layers[l];
        /* Row by row of W_O over blocks of columns (cache-friendly); each
         * output still sums over the H*dh rows in increasing order. */
        for (d0 = 0; d0 < D; d0 += FOLD_BLOCK) {
            double acc[FOLD_BLOCK];
            int n = D - d0 < FOLD_BLOCK ? D - d0 : FOLD_BLOCK;
            for (d = 0; d < n; d++) acc[d] = 0.0;
            for (r = 0; r < (size_t)H * dh; r++) {
                const float *row = w->W_O + r * D + d0;
                double bv = w->b_V[r];
                for (d = 0; d < n; d++) acc[d] += bv * row[d];
            }
            for (d = 0; d < n; d++) w->b_O[d0 + d] = (float)(w->b_O[d0 + d] + acc[d]);
        }
        memset(w->b_V, 0, (size_t)H * dh * sizeof(float));
    }
    m->processed = 1;
}

/* W_packed[d, h*dh + e] = W[h, d, e]: one [D, H*dh] matrix for all heads. */
static void pack_heads(float *packed, const float *W, int H, int D, int dh) {
    int h, d, e;
    for (h = 0; h < H; h++)
        for (d = 0; d < D; d++)
            for (e = 0; e < dh; e++) packed[(size_t)d * H * dh + (size_t)h * dh + e] = W[((size_t)h * D + d) * dh + e];
}

/* p = w [K, N] packed for the active kernels into a buffer the model owns (p's own
 * while large enough; without memory, dies as the other packed copies do). */
static void model_pack(Model *m, PackedWeights *p, const float *w, int K, int N) {
    const size_t need = packed_weights_floats(K, N);
    float *panels = p->panels && p->cap >= need ? p->panels : NULL;
    if (!panels && need && !(panels = model_own(m, need))) die(EXIT_INTERNAL, "out of memory packing weights");
    pack_weights(p, panels, panels == p->panels ? p->cap : need, w, N, K, N);
}

/* W_O[h] [dh, D] of each head packed for the active kernels into one buffer the model
 * owns (reused while large enough; other kernels may need more: a new one). Head 0's
 * cap is the whole buffer's (what the next call and model_packed_floats read). */
static void pack_w_o(Model *m, LayerWeights *w) {
    const ModelConfig *c = &m->cfg;
    const size_t per_head = packed_weights_floats(c->d_head, c->d_model);
    float *panels = w->W_O_packed[0].panels;
    int h;
    if (!panels || w->W_O_packed[0].cap < per_head * c->n_heads) {
        panels = model_own(m, per_head * c->n_heads);
        if (!panels) die(EXIT_INTERNAL, "out of memory packing weights");
    }
    for (h = 0; h < c->n_heads; h++)
        pack_weights(&w->W_O_packed[h], panels + per_head * h, h == 0 ? per_head * c->n_heads : per_head,
                     w->W_O + (size_t)h * c->d_head * c->d_model, c->d_model, c->d_head, c->d_model);
}

void model_prepare(Model *m) {
    const ModelConfig *c = &m->cfg;
    size_t n = (size_t)c->d_model * c->n_heads * c->d_head;
    int l;
    for (l = 0; l < c->n_layers; l++) {
        LayerWeights *w = &m->layers[l];
        if (!w->W_Q_packed) {
            w->W_Q_packed = model_own(m, n);
            w->W_K_packed = model_own(m, n);
            w->W_V_packed = model_own(m, n);
            w->W_O_packed = alloc_array((size_t)c->n_heads, sizeof *w->W_O_packed);
            if (!w->W_Q_packed || !w->W_K_packed || !w->W_V_packed || !w->W_O_packed)
                die(EXIT_INTERNAL, "out of memory packing weights");
        }
        pack_heads(w->W_Q_packed, w->W_Q, c->n_heads, c->d_model, c->d_head);
        pack_heads(w->W_K_packed, w->W_K, c->n_heads, c->d_model, c->d_head);
        pack_heads(w->W_V_packed, w->W_V, c->n_heads, c->d_model, c->d_head);
        pack_w_o(m, w);
        model_pack(m, &w->W_Q_panels, w->W_Q_packed, c->d_model, c->n_heads * c->d_head);
        model_pack(m, &w->W_K_panels, w->W_K_packed, c->d_model, c->n_heads * c->d_head);
        model_pack(m, &w->W_V_panels, w->W_V_packed, c->d_model, c->n_heads * c->d_head);
        if (w->W_in) {
            model_pack(m, &w->W_in_packed, w->W_in, c->d_model, c->d_mlp);
            model_pack(m, &w->W_out_packed, w->W_out, c->d_mlp, c->d_model);
        }
    }
}

size_t model_packed_floats(const Model *m) {
    const ModelConfig *c = &m->cfg;
    size_t n = 0;
    int l;
    for (l = 0; l < c->n_layers; l++) {
        const LayerWeights *w = &m->layers[l];
        if (w->W_Q_packed) n += (size_t)3 * c->d_model * c->n_heads * c->d_head;
        if (w->W_O_packed) n += w->W_O_packed[0].cap;
        n += w->W_Q_panels.cap + w->W_K_panels.cap + w->W_V_panels.cap + w->W_in_packed.cap + w->W_out_packed.cap;
    }
    return n;
}

/* ------------------------------------------------------------------------ */
/* Hook points                                                               */
/* ------------------------------------------------------------------------ */

/* When activations keep a hook that exists for the model (HookRequest). */
typedef enum {
    KEPT_IF_ASKED, /* when requested; else not stored at all (tiles or chunks in cache, or not needed) */
    KEPT_ALWAYS,   /* always: the forward pass needs it whole across blocks (residual stream, scales) */
    KEPT_OR_WORK   /* when requested; else computed in work space shared by the blocks */
} HookKept;

typedef struct {
    const char *name;  /* full name, or the part after "blocks.L." when per-layer */
    const char *alias; /* another name TransformerLens accepts, or NULL */
    int needs_mlp;     /* 1: absent from attention-only models */
    HookKept kept;
    int ndim;          /* with the batch dimension */
    ModelDim dims[4];
    size_t field;      /* offsetof the float * in Activations, or in LayerActivations */
} HookSpec;

#define ACTS_FIELD(f) offsetof(Activations, f)
#define LACTS_FIELD(f) offsetof(LayerActivations, f)
#define BTD {DIM_ROWS, DIM_POS, DIM_MODEL}
#define BT1 {DIM_ROWS, DIM_POS, DIM_ONE}
#define BTHd {DIM_ROWS, DIM_POS, DIM_HEADS, DIM_HEAD}
#define BHTT {DIM_ROWS, DIM_HEADS, DIM_POS, DIM_POS}

/* Every hook point, indexed by HookKind (forward order; the per-layer kinds are
 * HOOK_FIRST_PER_LAYER..HOOK_LAST_PER_LAYER). Activations are laid out in this order. */
static const HookSpec hook_table[HOOK_COUNT] = {
    [HOOK_EMBED] = {"hook_embed", NULL, 0, KEPT_IF_ASKED, 3, BTD, ACTS_FIELD(embed)},
    [HOOK_POS_EMBED] = {"hook_pos_embed", NULL, 0, KEPT_IF_ASKED, 3, BTD, ACTS_FIELD(pos_embed)},
    [HOOK_RESID_PRE] = {"hook_resid_pre", NULL, 0, KEPT_ALWAYS, 3, BTD, LACTS_FIELD(resid_pre)},
    [HOOK_LN1_SCALE] = {"ln1.hook_scale", NULL, 0, KEPT_ALWAYS, 3, BT1, LACTS_FIELD(ln1_scale)},
    [HOOK_LN1_NORMALIZED] = {"ln1.hook_normalized", NULL, 0, KEPT_IF_ASKED, 3, BTD, LACTS_FIELD(ln1_normalized)},
    [HOOK_Q] = {"attn.hook_q", NULL, 0, KEPT_OR_WORK, 4, BTHd, LACTS_FIELD(q)},
    [HOOK_K] = {"attn.hook_k", NULL, 0, KEPT_OR_WORK, 4, BTHd, LACTS_FIELD(k)},
    [HOOK_V] = {"attn.hook_v", NULL, 0, KEPT_OR_WORK, 4, BTHd, LACTS_FIELD(v)},
    [HOOK_ATTN_SCORES] = {"attn.hook_attn_scores", NULL, 0, KEPT_IF_ASKED, 4, BHTT, LACTS_FIELD(attn_scores)},
    [HOOK_PATTERN] = {"attn.hook_pattern", NULL, 0, KEPT_IF_ASKED, 4, BHTT, LACTS_FIELD(pattern)},
    [HOOK_Z] = {"attn.hook_z", NULL, 0, KEPT_IF_ASKED, 4, BTHd, LACTS_FIELD(z)},
    [HOOK_RESULT] = {"attn.hook_result", NULL, 0, KEPT_IF_ASKED, 4, {DIM_ROWS, DIM_POS, DIM_HEADS, DIM_MODEL},
                     LACTS_FIELD(result)},
    [HOOK_ATTN_OUT] = {"hook_attn_out", NULL, 0, KEPT_IF_ASKED, 3, BTD, LACTS_FIELD(attn_out)},
    [HOOK_RESID_MID] = {"hook_resid_mid", NULL, 1, KEPT_OR_WORK, 3, BTD, LACTS_FIELD(resid_mid)},
    [HOOK_LN2_SCALE] = {"ln2.hook_scale", NULL, 1, KEPT_ALWAYS, 3, BT1, LACTS_FIELD(ln2_scale)},
    [HOOK_LN2_NORMALIZED] = {"ln2.hook_normalized", NULL, 1, KEPT_IF_ASKED, 3, BTD, LACTS_FIELD(ln2_normalized)},
    [HOOK_MLP_PRE] = {"mlp.hook_pre", NULL, 1, KEPT_IF_ASKED, 3, {DIM_ROWS, DIM_POS, DIM_MLP}, LACTS_FIELD(mlp_pre)},
    [HOOK_MLP_POST] = {"mlp.hook_post", NULL, 1, KEPT_IF_ASKED, 3, {DIM_ROWS, DIM_POS, DIM_MLP}, LACTS_FIELD(mlp_post)},
    [HOOK_MLP_OUT] = {"hook_mlp_out", NULL, 1, KEPT_OR_WORK, 3, BTD, LACTS_FIELD(mlp_out)},
    [HOOK_RESID_POST] = {"hook_resid_post", NULL, 0, KEPT_ALWAYS, 3, BTD, LACTS_FIELD(resid_post)},
    [HOOK_LNF_SCALE] = {"ln_final.hook_scale", NULL, 0, KEPT_ALWAYS, 3, BT1, ACTS_FIELD(lnf_scale)},
    [HOOK_LNF_NORMALIZED] = {"ln_final.hook_normalized", NULL, 0, KEPT_ALWAYS, 3, BTD, ACTS_FIELD(lnf_normalized)},
    [HOOK_LOGITS] = {"logits", "unembed.hook_out", 0, KEPT_IF_ASKED, 3, {DIM_ROWS, DIM_POS, DIM_VOCAB},
                     ACTS_FIELD(logits)},
};

/* A set of kinds must fit a HookMask (model.h): fails to compile otherwise. */
typedef char hook_kinds_fit_a_mask[HOOK_COUNT <= 32 && HOOK_COUNT <= HOOK_COUNT_MAX ? 1 : -1];

int model_hook_count(void) {
    return HOOK_COUNT;
}

const char *hook_kind_name(HookKind kind) {
    return hook_table[kind].name;
}

int hook_kind_per_layer(HookKind kind) {
    return kind >= HOOK_FIRST_PER_LAYER && kind <= HOOK_LAST_PER_LAYER;
}

int hook_kind_exists(HookKind kind, const ModelConfig *c) {
    return !(hook_table[kind].needs_mlp && c->attn_only);
}

/* Number of hook points in forward order for config c, counting those the
 * model lacks (the walk hook_walk_at steps through). */
static size_t hook_walk_length(const ModelConfig *c) {
    return walk_length(HOOK_COUNT, HOOK_FIRST_PER_LAYER, HOOK_LAST_PER_LAYER + 1, c->n_layers);
}

/* Hook point i of that walk. */
static HookPoint hook_walk_at(const ModelConfig *c, size_t i) {
    HookPoint p;
    int kind;
    walk_at(i, HOOK_FIRST_PER_LAYER, HOOK_LAST_PER_LAYER + 1, c->n_layers, &kind, &p.layer);
    p.kind = (HookKind)kind;
    return p;
}

size_t hook_points(const ModelConfig *c, HookPoint *out) {
    size_t i, n = 0;
    for (i = 0; i < hook_walk_length(c); i++) {
        HookPoint p = hook_walk_at(c, i);
        if (!hook_kind_exists(p.kind, c)) continue;
        if (out) out[n] = p;
        n++;
    }
    return n;
}

void hook_point_name(HookPoint p, char *buf, size_t cap) {
    if (hook_kind_per_layer(p.kind)) snprintf(buf, cap, "blocks.%d.%s", p.layer, hook_table[p.kind].name);
    else snprintf(buf, cap, "%s", hook_table[p.kind].name);
}

/* 1 if `name` is the hook's name or its alias. */
static int hook_named(const HookSpec *h, const char *name) {
    return strcmp(name, h->name) == 0 || (h->alias && strcmp(name, h->alias) == 0);
}

int hook_parse(const ModelConfig *c, const char *name, HookPoint *p, Error *err) {
    int k, l = -1, consumed = 0;
    for (k = 0; k < HOOK_COUNT; k++)
        if (!hook_kind_per_layer((HookKind)k) && hook_named(&hook_table[k], name)) {
            p->kind = (HookKind)k;
            p->layer = -1;
            return 0;
        }
    if (sscanf(name, "blocks.%d.%n", &l, &consumed) == 1 && consumed > 0 && l >= 0 && l < c->n_layers &&
        name[consumed - 1] == '.')
        for (k = HOOK_FIRST_PER_LAYER; k <= HOOK_LAST_PER_LAYER; k++)
            if (hook_named(&hook_table[k], name + consumed)) {
                if (!hook_kind_exists((HookKind)k, c))
                    return error_set_code(err, EXIT_USAGE, "hook '%s' does not exist in an attention-only model", name);
                p->kind = (HookKind)k;
                p->layer = l;
                return 0;
            }
    return error_set_code(err, EXIT_USAGE, "unknown hook '%s' (use --hook all, or a TransformerLens hook name)", name);
}

/* Where a keeps hook point p (a->layer must exist for per-layer kinds). */
static float **hook_field(Activations *a, HookPoint p) {
    char *base = hook_kind_per_layer(p.kind) ? (char *)&a->layer[p.layer] : (char *)a;
    return (float **)(void *)(base + hook_table[p.kind].field);
}

/* Writes hook kind k's shape for B rows of T positions into shape[5]; returns ndim. */
static int hook_shape(HookKind k, const ModelConfig *c, int B, int T, int shape[5]) {
    int d;
    for (d = 0; d < 5; d++) shape[d] = d < hook_table[k].ndim ? dim_size(hook_table[k].dims[d], c, B, T) : 0;
    return hook_table[k].ndim;
}

/* Where hook_result keeps head h's vector at (row b, position t) of a batch of T positions:
 * head by head, [B,H,T,D] (hook_result_at, model.h). The one place that knows the layout. */
static size_t result_offset(int H, int T, int D, int b, int t, int h) {
    return (((size_t)b * H + h) * T + t) * D;
}

/* hook_view, with `name` (as the caller spelled it) in the messages. */
static int hook_view_named(const Model *m, const Activations *a, HookPoint p, const char *name, HookView *view,
                           Error *err) {
    size_t step;
    int d;
    if (!hook_kind_exists(p.kind, &m->cfg))
        return error_set_code(err, EXIT_USAGE, "hook '%s' does not exist in an attention-only model", name);
    view->data = *hook_field((Activations *)a, p);
    if (!view->data)
        return error_set_code(err, EXIT_USAGE, "hook '%s' was not kept in this run", name);
    view->ndim = hook_shape(p.kind, &m->cfg, a->n_rows, a->n_pos, view->shape);
    for (d = view->ndim - 1, step = 1; d >= 0; step *= (size_t)view->shape[d--]) view->stride[d] = step;
    for (d = view->ndim; d < 5; d++) view->stride[d] = 0;
    if (p.kind == HOOK_RESULT) { /* [B,T,H,D] on result_offset's storage */
        const int H = m->cfg.n_heads, D = m->cfg.d_model, T = a->n_pos;
        view->stride[0] = result_offset(H, T, D, 1, 0, 0);
        view->stride[1] = result_offset(H, T, D, 0, 1, 0);
        view->stride[2] = result_offset(H, T, D, 0, 0, 1);
    }
    return 0;
}

const float *hook_result_at(const Model *m, const Activations *a, int l, int h, int b, int t) {
    return a->layer[l].result + result_offset(m->cfg.n_heads, a->n_pos, m->cfg.d_model, b, t, h);
}

int hook_view(const Model *m, const Activations *a, HookPoint p, HookView *view, Error *err) {
    char name[96];
    hook_point_name(p, name, sizeof name);
    return hook_view_named(m, a, p, name, view, err);
}

int hook_lookup(const Model *m, const Activations *a, const char *name, HookView *view, Error *err) {
    HookPoint p;
    if (hook_parse(&m->cfg, name, &p, err) != 0) return -1;
    return hook_view_named(m, a, p, name, view, err);
}

/* ------------------------------------------------------------------------ */
/* Activations                                                               */
/* ------------------------------------------------------------------------ */

/* Hands out consecutive pieces of one block; sizes are in floats. */
typedef struct {
    float *base;
    size_t used, total;
} Arena;

static float *arena_take(Arena *a, size_t n) {
    float *p = a->base ? a->base + a->used : NULL;
    a->used += n;
    return p;
}

/* n rounded up to a multiple of 16 floats (64 bytes, a cache line). */
static size_t round_up16(size_t n) {
    return (n + 15) / 16 * 16;
}

/* The calling thread's number in the current parallel region (0 outside one). */
static int thread_index(void) {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

/* The kinds kept whatever the request. */
HookMask hooks_always_kept(void) {
    HookMask m = 0;
    int k;
    for (k = 0; k < HOOK_COUNT; k++)
        if (hook_table[k].kept == KEPT_ALWAYS) m |= HOOK_BIT(k);
    return m;
}

/* The per-layer kinds of mask. */
static HookMask per_layer_kinds(HookMask mask) {
    HookMask m = 0;
    int k;
    for (k = HOOK_FIRST_PER_LAYER; k <= HOOK_LAST_PER_LAYER; k++) m |= mask & HOOK_BIT(k);
    return m;
}

void hook_request_add(HookRequest *r, int layer, HookMask kinds) {
    HookMask local = layer < 0 ? 0 : per_layer_kinds(kinds);
    int i;
    r->kinds |= kinds & ~local;
    if (!local) return;
    for (i = 0; i < r->n_layers; i++)
        if (r->layer[i] == layer) {
            r->layer_kinds[i] |= local;
            return;
        }
    if (r->n_layers == HOOK_REQUEST_LAYERS) {
        r->kinds |= local; /* no room for another block: every block keeps them */
        return;
    }
    r->layer[r->n_layers] = layer;
    r->layer_kinds[r->n_layers++] = local;
}

void hook_request_pattern_tiles(HookRequest *r, int layer) {
    if (layer >= 0 && layer < HOOK_TILE_LAYERS) r->pattern_tiles |= (uint64_t)1 << layer;
    else hook_request_add(r, layer, HOOK_BIT(HOOK_PATTERN));
}

void hook_request_merge(HookRequest *r, const HookRequest *from) {
    int i;
    hook_request_add(r, -1, from->kinds);
    for (i = 0; i < from->n_layers; i++) hook_request_add(r, from->layer[i], from->layer_kinds[i]);
    r->pattern_tiles |= from->pattern_tiles;
}

HookMask hook_request_kinds(const HookRequest *r, int layer) {
    HookMask m = hooks_always_kept();
    int i;
    if (layer < 0) return (m | r->kinds) & ~per_layer_kinds(HOOKS_ALL);
    m = per_layer_kinds(m | r->kinds);
    for (i = 0; i < r->n_layers; i++)
        if (r->layer[i] == layer) m |= r->layer_kinds[i];
    return m;
}

/* 1 if activations a keep hook point p of a model with config c. */
static int hook_kept(HookPoint p, const ModelConfig *c, const Activations *a) {
    const HookMask kept = hook_kind_per_layer(p.kind) ? a->layer[p.layer].kept : a->kept;
    return hook_kind_exists(p.kind, c) && (kept & HOOK_BIT(p.kind));
}

/* Floats of hook kind k for a batch of a's capacity. */
static size_t hook_capacity(HookKind k, const ModelConfig *c, const Activations *a) {
    int shape[5], d, nd = hook_shape(k, c, a->max_rows, a->max_pos, shape);
    size_t count = 1;
    for (d = 0; d < nd; d++) count *= (size_t)shape[d];
    return count;
}

/* The row stride of the transposed keys: T and 16 floats, so that the rows a product
 * reads in place, one per step of d_head, do not all fall into one set of the L1 cache
 * (T floats apart, 4 KB at T = 1024, they did: 3-7% slower products, measured). */
static size_t key_stride(int T) {
    return (size_t)T + 16;
}

/* Query rows per tile of the attention (the last tile may have fewer): the diagonal
 * tile is computed in full, so a tile of QB rows wastes about QB/2 of T keys. A
 * multiple of every kernel copy's register tile rows (12 and 6): 64 left a partial
 * register tile (4 rows computed as 12) in every product of a tile's queries. 48 to 384
 * rows (with 1-4 tiles a task) were alike at gelu-4l's shape (BENCHMARKS.md session 17). */
#ifndef ATTN_QB
#define ATTN_QB 96
#endif

int pattern_tile_count(int T) {
    return (T + ATTN_QB - 1) / ATTN_QB;
}

/* Query tile qt of T positions: its first position (*i0) and its rows (returned; the last
 * tile may have fewer than ATTN_QB). */
static int query_tile(int qt, int T, int *i0) {
    *i0 = qt * ATTN_QB;
    return T - *i0 < ATTN_QB ? T - *i0 : ATTN_QB;
}

/* Where the tile of queries from i0 (a multiple of ATTN_QB) starts among its (row,
 * head)'s pattern tiles: every tile before it is full, tile k holding (k + 1) QB x QB. */
static size_t pattern_tile_offset(int i0) {
    const size_t k = (size_t)(i0 / ATTN_QB);
    return (size_t)ATTN_QB * ATTN_QB * k * (k + 1) / 2;
}

/* The floats of one (row, head)'s pattern tiles at T positions. */
static size_t pattern_tiles_floats(int T) {
    const int last = (pattern_tile_count(T) - 1) * ATTN_QB; /* the last tile's first query */
    return pattern_tile_offset(last) + (size_t)T * (T - last);
}

const float *pattern_tile(const Model *m, const Activations *a, int layer, int b, int h, int k, int *i0, int *mb) {
    const LayerActivations *X = &a->layer[layer];
    const int T = a->n_pos;
    if (!X->pattern_tiles) return NULL;
    if (b < 0 || b >= a->n_rows || h < 0 || h >= m->cfg.n_heads || k < 0 || k >= pattern_tile_count(T))
        die(EXIT_INTERNAL, "internal: pattern tile %d of row %d, head %d: the batch has %d rows, %d heads, %d tiles", k, b,
            h, a->n_rows, m->cfg.n_heads, pattern_tile_count(T));
    *mb = query_tile(k, T, i0);
    return X->pattern_tiles + ((size_t)b * m->cfg.n_heads + h) * pattern_tiles_floats(T) + pattern_tile_offset(*i0);
}

/* Lays out every activation buffer in the arena (a sizing pass when base is
 * NULL), in forward order; hooks not kept get NULL. Then the forward pass's
 * work space: one buffer per KEPT_OR_WORK kind some block does not keep (the
 * blocks run one after the other), the transposed keys and packed values, the
 * value patch's scratch. embed comes first when kept, so the arena's address is in a->base. */
static void layout_activations(Activations *a, const ModelConfig *c, Arena *ar) {
    size_t BT = (size_t)a->max_rows * a->max_pos, i;
    size_t D = (size_t)c->d_model, HD = (size_t)c->n_heads * c->d_head;
    int k, l;
    for (i = 0; i < hook_walk_length(c); i++) {
        HookPoint hp = hook_walk_at(c, i);
        *hook_field(a, hp) = hook_kept(hp, c, a) ? arena_take(ar, hook_capacity(hp.kind, c, a)) : NULL;
    }
    for (l = 0; l < c->n_layers; l++)
        a->layer[l].pattern_tiles =
            a->layer[l].keeps_pattern_tiles
                ? arena_take(ar, (size_t)a->max_rows * c->n_heads * pattern_tiles_floats(a->max_pos))
                : NULL;
    for (k = 0; k < HOOK_COUNT; k++) {
        a->work[k] = NULL;
        if (hook_table[k].kept != KEPT_OR_WORK || !hook_kind_exists((HookKind)k, c)) continue;
        for (l = 0; l < c->n_layers; l++)
            if (!(a->layer[l].kept & HOOK_BIT(k))) break;
        if (l < c->n_layers) a->work[k] = arena_take(ar, hook_capacity((HookKind)k, c, a));
    }
    a->key_t = arena_take(ar, (size_t)a->max_rows * (size_t)c->n_heads * c->d_head * key_stride(a->max_pos));
    a->value_panel_floats = packed_weights_floats(a->max_pos, c->d_head);
    a->value_panels = arena_take(ar, (size_t)a->max_rows * c->n_heads * a->value_panel_floats);
    /* the value patch's normalised input [BT, D] and its values [BT, H*dh] */
    a->scratch = arena_take(ar, BT * D + BT * HD);
}

static int alloc_thread_work(Activations *a, const ModelConfig *c, int n_threads);

int activations_alloc_hooks(Activations *a, const Model *m, int max_rows, int max_pos, const HookRequest *keep,
                            Error *err) {
    const ModelConfig *c = &m->cfg;
    Arena sizing = {NULL, 0, 0}, ar;
    HookRequest all;
    double estimate;
    int l;
    memset(a, 0, sizeof *a);
    memset(&all, 0, sizeof all);
    all.kinds = HOOKS_ALL;
    if (!keep) keep = &all;
    if (max_rows <= 0 || max_pos <= 0 || max_pos > c->n_ctx)
        return error_set_code(err, EXIT_USAGE, "activations: need 1..%d positions, got %d", c->n_ctx, max_pos);
    /* Refuse before any size arithmetic could overflow size_t (an upper bound: every hook kept). */
    estimate = (double)max_rows * max_pos *
               ((double)c->n_layers * (c->n_heads * (double)max_pos * 3 + 16.0 * c->d_model + 2.0 * c->d_mlp +
                                       c->n_heads * (double)c->d_model) +
                (double)c->d_vocab + 12.0 * c->d_model + 2.0 * c->d_mlp);
    if (estimate * sizeof(float) > 1e13)
        return error_set_code(err, EXIT_INTERNAL, "activations for %d x %d tokens would need %.3g GB", max_rows, max_pos,
                              estimate * sizeof(float) / 1e9);
    a->max_rows = max_rows;
    a->max_pos = max_pos;
    a->layer = alloc_array((size_t)c->n_layers, sizeof *a->layer);
    if (!a->layer) return error_set_code(err, EXIT_INTERNAL, "out of memory");
    a->kept = hook_request_kinds(keep, -1);
    for (l = 0; l < c->n_layers; l++) {
        a->layer[l].kept = hook_request_kinds(keep, l);
        a->layer[l].keeps_pattern_tiles = l < HOOK_TILE_LAYERS && ((keep->pattern_tiles >> l) & 1u);
        if (a->layer[l].kept & HOOK_BIT(HOOK_ATTN_SCORES)) a->has_scores = 1;
    }
    a->has_logits = (a->kept & HOOK_BIT(HOOK_LOGITS)) != 0;
    layout_activations(a, c, &sizing);
    ar.base = alloc_array(sizing.used, sizeof(float));
    if (!ar.base) {
        free(a->layer);
        a->layer = NULL;
        return error_set_code(err, EXIT_INTERNAL, "out of memory: activations for %d x %d tokens need %.1f MB", max_rows,
                              max_pos, sizing.used * 4.0 / 1e6);
    }
    ar.used = 0;
    ar.total = sizing.used;
    layout_activations(a, c, &ar);
    a->base = ar.base;
    a->bytes = ar.total * sizeof(float);
    if (alloc_thread_work(a, c, thread_count()) != 0) {
        activations_free(a);
        return error_set_code(err, EXIT_INTERNAL, "out of memory: the forward pass's buffers for %d threads",
                              thread_count());
    }
    return 0;
}

int activations_alloc(Activations *a, const Model *m, int max_rows, int max_pos, int want_scores, int want_logits,
                      Error *err) {
    HookRequest keep;
    memset(&keep, 0, sizeof keep);
    keep.kinds = HOOKS_ALL;
    if (!want_scores) keep.kinds &= ~HOOK_BIT(HOOK_ATTN_SCORES);
    if (!want_logits) keep.kinds &= ~HOOK_BIT(HOOK_LOGITS);
    return activations_alloc_hooks(a, m, max_rows, max_pos, &keep, err);
}

void activations_free(Activations *a) {
    free(a->base);
    free(a->thread_work);
    free(a->layer);
    memset(a, 0, sizeof *a);
}

/* ------------------------------------------------------------------------ */
/* Forward pass                                                              */
/* ------------------------------------------------------------------------ */

ForwardOptions forward_options_default(void) {
    ForwardOptions o;
    memset(&o, 0, sizeof o);
    o.stop_after_layer = -1;
    o.compute_logits = 1;
    o.v_patch_layer = -1;
    return o;
}

int model_check_tokens(const Model *m, const int *tokens, size_t n, int n_pos, const char *source, Error *err) {
    size_t i;
    if (n_pos > m->cfg.n_ctx)
        return error_set(err, "%s: %d tokens is more than the model's context of %d", source, n_pos, m->cfg.n_ctx);
    for (i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= m->cfg.d_vocab)
            return error_set(err, "%s: token id %d (at index %lu) is outside the vocabulary [0, %d)", source, tokens[i],
                             (unsigned long)i, m->cfg.d_vocab);
    return 0;
}

/* resid_pre of layer 0 = hook_embed + hook_pos_embed (each stored when kept). */
static void embed_tokens(const Model *m, Activations *a, const int *tokens, int B, int T) {
    const int D = m->cfg.d_model, BT = B * T;
    float *resid = a->layer[0].resid_pre;
    int row;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (BT >= 64)
#endif
    for (row = 0; row < BT; row++) {
        const float *e = m->W_E + (size_t)tokens[row] * D;
        const float *p = m->W_pos + (size_t)(row % T) * D;
        if (a->embed) memcpy(a->embed + (size_t)row * D, e, (size_t)D * sizeof(float));
        if (a->pos_embed) memcpy(a->pos_embed + (size_t)row * D, p, (size_t)D * sizeof(float));
        add_floats(resid + (size_t)row * D, e, p, (size_t)D);
    }
}

/* (x - mean x) / scale[r] for each row, with a given (frozen) scale; then * w + b when w is given. */
static void normalize_with_scale(float *out, const float *x, const float *scale, const float *w, const float *b, size_t rows, int D) {
    long r;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (rows >= 64)
#endif
    for (r = 0; r < (long)rows; r++) {
        const float *xr = x + (size_t)r * D;
        double mean = 0.0;
        int d;
        for (d = 0; d < D; d++) mean += xr[d];
        mean /= D;
        for (d = 0; d < D; d++) {
            float v = (float)(xr[d] - mean) / scale[r];
            if (w) v = v * w[d] + b[d];
            out[(size_t)r * D + d] = v;
        }
    }
}

/* Rows of a block's row-wise parts computed together (a layernorm and the products that
 * read it; the MLP): the MLP's [CHUNK_ROWS, M] hidden activations (384 KB for gelu-4l)
 * stay in L2 from the product with W_in through the activation function to the product
 * with W_out, and a layernorm's rows are still in cache for the products. Each chunk goes
 * to the next thread free: shares fixed in advance kept one thread waiting whenever the
 * host slowed the other (the two threads' times in the MLP differed by up to 10%, either
 * way, run to run); 1024 rows make 22 chunks, the last ones dealt in smaller pieces
 * (chunks_in_ready_order). Every element is the same chain as in one product over all rows,
 * and the layernorms and activations are row by row or elementwise: the same bits
 * whatever the chunks and whoever computes them. */
#ifndef CHUNK_ROWS
#define CHUNK_ROWS 48
#endif

/* The chunks of rows [0, BT): how many, and chunk k's first row (*r0) and rows (returned). */
static int chunk_count(int BT) {
    return (BT + CHUNK_ROWS - 1) / CHUNK_ROWS;
}

static int chunk_rows(int k, int BT, int *r0) {
    *r0 = k * CHUNK_ROWS;
    return BT - *r0 < CHUNK_ROWS ? BT - *r0 : CHUNK_ROWS;
}

/* ln1 and the attention's inputs of the rows [r0, r0 + n) (a chunk): ln1_normalized, q and
 * k (with_qk), v (with_v); the products read ln1_normalized as it is when with_qk is 0 (Fig
 * 3's rerun keeps the clean ones). When the hook is not kept, the normalized rows live in
 * `rows`, the thread's own [CHUNK_ROWS, D] buffer (a shared [B,T,D] array only sent them to
 * memory and back). */
static void attention_input_rows(const ModelConfig *c, const LayerWeights *w, const LayerActivations *X, int r0, int n,
                                 int with_qk, int with_v, float *rows) {
    const int D = c->d_model, HD = c->n_heads * c->d_head;
    /* without with_qk the products read the kept hook (run_block checks it is kept) */
    float *x = X->ln1_normalized ? X->ln1_normalized + (size_t)r0 * D : with_qk ? rows : NULL;
    if (with_qk) {
        layernorm(x, X->ln1_scale + r0, X->resid_pre + (size_t)r0 * D, w->ln1_w, w->ln1_b, n, D, c->eps);
        matmul_packed(X->q + (size_t)r0 * HD, HD, x, D, &w->W_Q_panels, w->b_Q, n);
        matmul_packed(X->k + (size_t)r0 * HD, HD, x, D, &w->W_K_panels, w->b_K, n);
    }
    if (with_v) matmul_packed(X->v + (size_t)r0 * HD, HD, x, D, &w->W_V_panels, w->b_V, n);
}

/* ln2, the MLP and resid_post of the rows [r0, r0 + n): ln2_normalized, mlp_pre =
 * ln2_normalized W_in + b_in (in mlp_post when mlp_pre is not kept), mlp_post =
 * act(mlp_pre), mlp_out = mlp_post W_out + b_out, resid_post = resid_mid + mlp_out.
 * ln2_normalized and mlp_post, when not kept, are the thread's own buffers `rows` [CHUNK_ROWS,
 * D] and `hidden` [CHUNK_ROWS, M] (96 and 384 KB for gelu-4l, in L2): shared [B,T,M] arrays
 * (8 MB a row) sent every chunk to memory and back (the MLP's samples 5% fewer in a 60-row
 * profile; the same bits). */
static void mlp_rows(const ModelConfig *c, const LayerWeights *w, const LayerActivations *X, int r0, int n, float *hidden,
                     float *rows) {
    const int D = c->d_model, M = c->d_mlp;
    const size_t at = (size_t)r0 * D;
    float *post = X->mlp_post ? X->mlp_post + (size_t)r0 * M : hidden;
    float *pre = X->mlp_pre ? X->mlp_pre + (size_t)r0 * M : post;
    float *x = X->ln2_normalized ? X->ln2_normalized + at : rows;
    layernorm(x, X->ln2_scale + r0, X->resid_mid + at, w->ln2_w, w->ln2_b, n, D, c->eps);
    matmul_packed(pre, M, x, D, &w->W_in_packed, w->b_in, n);
    if (X->mlp_pre) memcpy(post, pre, (size_t)n * M * sizeof(float));
    if (c->act_fn == ACT_GELU) gelu_erf(post, (size_t)n * M);
    else if (c->act_fn == ACT_GELU_NEW) gelu_tanh(post, (size_t)n * M);
    else relu(post, (size_t)n * M);
    matmul_packed(X->mlp_out + at, D, post, M, &w->W_out_packed, w->b_out, n);
    add_floats(X->resid_post + at, X->resid_mid + at, X->mlp_out + at, (size_t)n * D);
}

/* The next block's attention inputs, computed chunk by chunk inside this block's attention
 * region right after the MLP of the same rows (see attention): its weights, its arrays, and
 * which inputs it computes (attention_input_rows). */
typedef struct {
    const LayerWeights *w;
    LayerActivations X;
    int with_qk, with_v;
} NextInputs;

/* Query tiles an attention task holds: neighbours, each head's turn for all of them before
 * the next head's, so that the head's transposed keys, packed values and W_O panel, read
 * from L3 by the first tile, are still in L2 for the second (BENCHMARKS.md session 15). */
#ifndef TILES_PER_TASK
#define TILES_PER_TASK 2
#endif

/* The attention's tasks, one per (row b, group g of TILES_PER_TASK query tiles from the
 * last), are dealt largest first (the threads then finish together): task g * B + b.
 * attention_task_tiles gives a task's row (*b), its first query tile (returned, the
 * largest) and how many (*n_tiles: first, first - 1, ...); attention_task_of_row the task
 * holding flattened row r; the chunks' waits rely on the two agreeing. */
static int attention_task_count(int B, int n_qb) {
    return B * ((n_qb + TILES_PER_TASK - 1) / TILES_PER_TASK);
}

static int attention_task_tiles(int task, int B, int n_qb, int *b, int *n_tiles) {
    const int first = n_qb - 1 - task / B * TILES_PER_TASK;
    *b = task % B;
    *n_tiles = first + 1 < TILES_PER_TASK ? first + 1 : TILES_PER_TASK;
    return first;
}

static int attention_task_of_row(int r, int B, int T, int n_qb) {
    return (n_qb - 1 - (r % T) / ATTN_QB) / TILES_PER_TASK * B + r / T;
}

/* A chunk of rows [r0, r0 + n) can go on (its MLP) once the tasks of every tile holding one
 * of its rows are done: the largest of those task numbers. */
static int chunk_ready_after(int r0, int n, int B, int T, int n_qb) {
    int r, last = 0;
    for (r = r0; r < r0 + n; r++) {
        const int t = attention_task_of_row(r, B, T, n_qb);
        if (t > last) last = t;
    }
    return last;
}

/* Rows [r0, r0 + n) of a batch: a chunk. */
typedef struct {
    int r0, n;
} RowRange;

/* The chunks of rows [0, B*T) in the order their attention tiles finish (the task they
 * wait for, then the chunk): the first chunks dealt out are the first that can go on. The
 * last two are cut in TAIL_PIECES pieces (12 rows for CHUNK_ROWS 48, one register tile high), so
 * that the other thread waits for less at the region's end (a 60-row profile, four runs
 * each: 22% fewer samples waiting there than with halves). *count gets the number of
 * chunks. */
#define TAIL_PIECES 4
static RowRange *chunks_in_ready_order(int B, int T, int n_qb, int *count) {
    const int BT = B * T, n = chunk_count(BT), tail = n >= 2 ? 2 : 0;
    int *order = xalloc_array((size_t)n, sizeof *order, "attention"), *after = xalloc_array((size_t)n, sizeof *after, "attention");
    RowRange *out = xalloc_array((size_t)n + (size_t)tail * TAIL_PIECES, sizeof *out, "attention");
    int k, j, m = 0;
    for (k = 0; k < n; k++) {
        int r0;
        const int rows = chunk_rows(k, BT, &r0);
        after[k] = chunk_ready_after(r0, rows, B, T, n_qb);
    }
    for (k = 0; k < n; k++) { /* insertion sort by (after, k): a few dozen chunks a row */
        for (j = k; j > 0 && after[order[j - 1]] > after[k]; j--) order[j] = order[j - 1];
        order[j] = k;
    }
    for (k = 0; k < n; k++) {
        int r0, pieces = k >= n - tail ? TAIL_PIECES : 1, p, at = 0;
        const int rows = chunk_rows(order[k], BT, &r0);
        if (pieces > rows) pieces = rows;
        for (p = 0; p < pieces; p++) {
            const int len = (rows - at) / (pieces - p);
            out[m].r0 = r0 + at;
            out[m++].n = len;
            at += len;
        }
    }
    free(order);
    free(after);
    *count = m;
    return out;
}

/* Task t of the attention is done: its rows of resid_after are written (flushed before the
 * flag, so a thread that sees the flag sees them). */
static void mark_task_done(int *done, int t) {
#ifdef _OPENMP
#pragma omp flush
#pragma omp atomic write
#endif
    done[t] = 1;
}

/* Waits until every attention task holding a row of [r0, r0 + n) is done (another thread is
 * finishing it: every task is dealt out before any chunk, and tasks wait on nothing). */
static void wait_for_rows(int *done, int r0, int n, int B, int T, int n_qb) {
    int r;
    for (r = r0; r < r0 + n; r++) {
        const int t = attention_task_of_row(r, B, T, n_qb);
        int flag;
        do {
#ifdef _OPENMP
#pragma omp atomic read
#endif
            flag = done[t];
        } while (!flag);
    }
#ifdef _OPENMP
#pragma omp flush
#endif
}

/* One thread's tiles of the attention (z: when the block does not keep the hook; pattern:
 * when it keeps no pattern tiles, which the tiles are computed in instead). */
typedef struct {
    float *pattern; /* [T, ATTN_QB] scores, then pattern, of one head's query tile, key by query */
    float *query_t; /* [dh, ATTN_QB] the tile's queries of one head, transposed */
    float *z;       /* [ATTN_QB, dh] */
    float *out;     /* [TILES_PER_TASK, ATTN_QB, D] the task's tiles of attn_out, when the block does not keep it */
} AttentionTiles;

/* One thread's buffers in the forward pass's parallel regions: its attention tiles, and
 * the MLP's hidden activations [CHUNK_ROWS, M] and a chunk's normalised rows [CHUNK_ROWS,
 * D] (when the block does not keep those hooks). Slices of a->thread_work, made once per
 * activations and reused by every pass. Malloc'ed per call (1.3 MB a thread and block for
 * gelu-4l), they were new pages whenever malloc had given the memory back to the system in
 * between, as it did for passes run back to back (a timing harness: 2,000 page faults a
 * row's clean pass and rerun, at 10-14 us each on the hosts of BENCHMARKS.md, session 17). */
typedef struct {
    AttentionTiles tiles;
    float *hidden, *rows;
} ThreadBuffers;

/* Lays out one thread's ThreadBuffers for up to T positions in ar (a sizing pass when
 * ar->base is NULL), each piece a multiple of 16 floats. */
static void layout_thread_buffers(Arena *ar, const ModelConfig *c, int T, ThreadBuffers *tb) {
    const size_t qb = ATTN_QB;
    tb->tiles.pattern = arena_take(ar, round_up16(qb * T));
    tb->tiles.query_t = arena_take(ar, round_up16(qb * c->d_head));
    tb->tiles.z = arena_take(ar, round_up16(qb * c->d_head));
    tb->tiles.out = arena_take(ar, round_up16((size_t)TILES_PER_TASK * qb * c->d_model));
    tb->hidden = arena_take(ar, round_up16((size_t)CHUNK_ROWS * c->d_mlp));
    tb->rows = arena_take(ar, round_up16((size_t)CHUNK_ROWS * c->d_model));
}

static size_t thread_buffer_floats(const ModelConfig *c, int T) {
    Arena sizing = {NULL, 0, 0};
    ThreadBuffers tb;
    layout_thread_buffers(&sizing, c, T, &tb);
    return sizing.used;
}

/* a->thread_work with room for n_threads threads' buffers (the old block freed). Returns
 * 0, or -1 when memory is short (a left as it was). */
static int alloc_thread_work(Activations *a, const ModelConfig *c, int n_threads) {
    const size_t floats = thread_buffer_floats(c, a->max_pos);
    float *block = alloc_array((size_t)n_threads * floats, sizeof(float));
    if (!block) return -1;
    free(a->thread_work);
    a->thread_work = block;
    a->thread_work_floats = floats;
    a->thread_work_threads = n_threads;
    return 0;
}

/* Room in a->thread_work for every thread a parallel region may now start (thread_count):
 * activations_alloc_hooks made it for the threads of its time; more threads since then
 * get a larger block here, before any region. */
static void reserve_thread_work(Activations *a, const ModelConfig *c) {
    const int n = thread_count();
    if (a->thread_work_threads < n && alloc_thread_work(a, c, n) != 0)
        die(EXIT_INTERNAL, "out of memory: the forward pass's buffers for %d threads", n);
}

/* The calling thread's buffers (inside a parallel region of the forward pass). */
static ThreadBuffers thread_buffers(const Activations *a, const ModelConfig *c) {
    const int t = thread_index();
    Arena ar;
    ThreadBuffers tb;
    if (t >= a->thread_work_threads)
        die(EXIT_INTERNAL, "internal: thread %d of a forward pass has no buffers (room for %d)", t,
            a->thread_work_threads);
    ar.base = a->thread_work + (size_t)t * a->thread_work_floats;
    ar.used = 0;
    ar.total = a->thread_work_floats;
    layout_thread_buffers(&ar, c, a->max_pos, &tb);
    return tb;
}

/* Each (row b, head h)'s keys and values made ready once for the products of all its
 * query tiles (inside a parallel region: shares the (row, head)s; ends with a barrier):
 * key_t[b, h] = k[b, :, h, :] transposed, key_t[((b*H + h)*dh + e)*ldk + j] = k[b, j, h, e]
 * (ldk = key_stride(T); not when key_t is NULL: a rerun reading kept pattern tiles),
 * read in place by the product with the queries; vp[b*H + h] the
 * values v[b, :, h, :] [T, dh] packed into a's value panels (each tile packed them again
 * for its first nk keys before). */
static void prepare_heads(float *key_t, PackedWeights *vp, const Activations *a, const float *k, const float *v,
                          int B, int T, int H, int dh) {
    const int HD = H * dh;
    int bh;
    /* (row, head)s to the next thread free: a batch row has only H of them, and halves
     * fixed in advance kept one thread waiting whenever the host slowed the other */
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 1)
#endif
    for (bh = 0; bh < B * H; bh++) {
        const size_t at = (size_t)(bh / H) * T * HD + (size_t)(bh % H) * dh;
        if (key_t) transpose_floats(key_t + (size_t)bh * dh * key_stride(T), (int)key_stride(T), k + at, HD, T, dh);
        pack_weights(&vp[bh], a->value_panels + (size_t)bh * a->value_panel_floats, a->value_panel_floats, v + at, HD,
                     T, dh);
    }
}

/* Whether s is a power of two (then x * s is exact for normal x and results). */
static int scale_is_power_of_two(float s) {
    int e;
    return s > 0 && frexpf(s, &e) == 0.5f;
}

/* Scores and pattern of query rows [i0, i0+mb) of (row b, head h), over keys
 * 0..nk-1 (nk = i0+mb), key by query: pt [nk, mb] gets the pattern transposed (a
 * pattern tile, pattern_tile),
 * zeros past each query's own key (the layout the pattern's product with the values
 * reads as a plain copy, and the softmax vectorizes across queries). The kept hooks
 * (NULL when not kept) get the query rows: scores [mb, T] the scaled scores with the
 * mask, pattern [mb, T] the pattern with zeros past each query's key.
 * query_t: [dh, mb] scratch. */
static void attention_pattern_tile(float *pt, float *query_t, float *scores, float *pattern, const float *q,
                                   const float *key_t, int ldk, int i0, int mb, int T, int HD, int dh) {
    const float inv_scale = 1.0f / sqrtf((float)dh);
    const int nk = i0 + mb;
    int i, j, e;
    /* raw dot products k.q in e order, one multiply-add per step (q.k, the same
     * chain): pt = keys [nk, dh] @ queries^T [dh, mb], the keys given transposed */
    transpose_floats(query_t, mb, q, HD, mb, dh);
    if (scale_is_power_of_two(inv_scale)) {
        /* Scaling by a power of two commutes with every rounding of the chain (the
         * scaled queries' chain is the scaled chain, bit for bit, short of values
         * below 2^-120 or so): scale the dh x mb queries instead of the nk x mb
         * scores (d_head 64: 1/8). */
        for (e = 0; e < dh; e++)
            for (i = 0; i < mb; i++) query_t[(size_t)e * mb + i] *= inv_scale;
        matmul_at(pt, mb, key_t, ldk, query_t, mb, NULL, nk, dh, mb);
    } else {
        matmul_at(pt, mb, key_t, ldk, query_t, mb, NULL, nk, dh, mb);
        for (j = 0; j < nk; j++) {
            float *r = pt + (size_t)j * mb;
            for (i = 0; i < mb; i++) r[i] = r[i] * inv_scale; /* past the diagonal too: the softmax drops them */
        }
    }
    if (scores) {
        transpose_floats(scores, T, pt, mb, nk, mb);
        for (i = 0; i < mb; i++)
            for (j = i0 + i + 1; j < T; j++) scores[(size_t)i * T + j] = MASKED_SCORE;
    }
    /* exp(-1e5 - max) is exactly 0 in float32, so the masked entries
     * contribute nothing and are written as 0. */
    softmax_causal_columns(pt, mb, nk, mb, i0);
    if (pattern) {
        transpose_floats(pattern, T, pt, mb, nk, mb);
        for (i = 0; i < mb; i++)
            for (j = nk; j < T; j++) pattern[(size_t)i * T + j] = 0.0f;
    }
}

/* What every task of one attention call reads: the block's arrays and weights, the keys and
 * values prepare_heads made ready, and where the pattern comes from (computed; read from
 * kept pattern tiles, read_tiles; read from the kept pattern hook, read_pattern). */
typedef struct {
    const LayerWeights *w;
    const LayerActivations *X;
    const float *key_t;
    const PackedWeights *vp;
    int T, H, dh, D, read_tiles, read_pattern;
} AttentionJob;

/* The rows of attn_out that query tile qt of row b adds up in, the k-th tile of its task:
 * the hook's own rows, or the thread's buffer when the block does not keep it. */
static float *tile_out(const AttentionJob *j, const AttentionTiles *tl, int b, int qt, int k) {
    int i0;
    query_tile(qt, j->T, &i0);
    return tl->out ? tl->out + (size_t)k * ATTN_QB * j->D : j->X->attn_out + ((size_t)b * j->T + i0) * j->D;
}

/* Head h's turn on query tile qt of row b (the k-th tile of its task): the tile's pattern
 * (computed, or read when reused), z tile [mb, dh] = pattern tile [mb, nk] @ v [nk, dh],
 * result tile [mb, D] = z tile @ W_O[h] [dh, D], and the tile's attn_out rows = b_O +
 * result_0 + result_1 + ... (head by head, in order: h = 0 starts them), straight from the
 * products when the result is not kept (x + y is y + x, bit for bit). */
static void head_tile(const AttentionJob *j, AttentionTiles *tl, int b, int h, int qt, int k) {
    const LayerActivations *X = j->X;
    const int T = j->T, H = j->H, dh = j->dh, D = j->D, HD = H * dh;
    int i0;
    const int mb = query_tile(qt, T, &i0), nk = i0 + mb;
    const size_t row0 = (size_t)b * T + i0; /* first (row, position) of the tile */
    const size_t bh = (size_t)b * H + h;
    float *out = tile_out(j, tl, b, qt, k);
    float *kept_p = X->pattern ? X->pattern + (bh * T + i0) * T : NULL;
    float *tile = X->pattern_tiles ? X->pattern_tiles + bh * pattern_tiles_floats(T) + pattern_tile_offset(i0) : tl->pattern;
    const float *vh = X->v + (size_t)b * T * HD + (size_t)h * dh;
    float *z = X->z ? X->z + row0 * HD + (size_t)h * dh : tl->z;
    const int ldz = X->z ? HD : dh;
    float *r;
    int i;
    if (j->read_pattern) {
        matmul_strided(z, ldz, kept_p, T, vh, HD, NULL, mb, nk, dh);
    } else {
        if (!j->read_tiles)
            attention_pattern_tile(tile, tl->query_t, X->attn_scores ? X->attn_scores + (bh * T + i0) * T : NULL,
                                   kept_p, X->q + row0 * HD + (size_t)h * dh, j->key_t + bh * dh * key_stride(T),
                                   (int)key_stride(T), i0, mb, T, HD, dh);
        matmul_at_packed(z, ldz, tile, mb, &j->vp[bh], nk, mb);
    }
    if (!X->result) {
        if (h == 0) matmul_packed(out, D, z, ldz, &j->w->W_O_packed[h], j->w->b_O, mb);
        else matmul_packed_add(out, D, z, ldz, &j->w->W_O_packed[h], mb);
        return;
    }
    r = X->result + result_offset(H, T, D, b, i0, h); /* the tile's rows of head h, one block */
    matmul_packed(r, D, z, ldz, &j->w->W_O_packed[h], NULL, mb);
    for (i = 0; i < mb; i++) /* (b_O + result_0 is result_0 + b_O, bit for bit) */
        add_floats(out + (size_t)i * D, h == 0 ? j->w->b_O : out + (size_t)i * D, r + (size_t)i * D, (size_t)D);
}

/* Causal attention of one block, its output hook_attn_out = sum_h z_h @ W_O[h] + b_O,
 * and resid_after = resid_pre + attn_out (resid_mid, or resid_post of an
 * attention-only block).
 * q,k,v,z [B,T,H,dh] (X holds the block's arrays: its kept hooks, work space for
 * the others, NULL for z, result, scores and pattern when not kept); scores,
 * pattern [B,H,T,T]; result [B,H,T,D] (hook_result_at); attn_out, resid_pre, resid_after [B,T,D];
 * a's key_t and value_panels the work space of prepare_heads.
 *
 * Fused per task (row b, TILES_PER_TASK neighbouring tiles of ATTN_QB queries), head by
 * head, each of the task's tiles in turn (head_tile): the tile's
 * raw scores by one matmul against the keys 0..i0+QB-1 (the causal lower
 * triangle plus the diagonal tile), stored key by query, scale, mask and softmax
 * query by query (vectorized across them), z tile = pattern tile @ v,
 * result tile = z tile @ W_O[h], attn_out rows += result tile. Both products of a
 * tile read their larger operand as it is: the keys transposed and the values packed
 * once per (row, head), the pattern tile in place (matmul_at, matmul_at_packed).
 * The tiles stay in cache; scores, pattern, z and result reach memory only when
 * the block keeps them. matmul sums each output in k order with one multiply-add
 * per step, so every dot product, z and result element is the same float chain
 * as the plain loops
 *     dot += q[e] * k[e];   z[e] += p[j] * v[j][e];   r[d] += z[e] * W_O[e][d]
 * (the zeros above the diagonal add exactly nothing), and attn_out is
 * b_O + result_0 + result_1 + ... in head order: the same bits whatever is kept.
 * Each task is computed by one thread from its inputs alone, so the result does
 * not depend on the thread count. A block that keeps its pattern tiles computes each
 * pattern tile where it is kept. With reuse (the pattern kept from the same batch's
 * run), the pattern is read instead of recomputed: its tiles as the product reads
 * them, or else the pattern hook. attn_out, when the block does not keep it (NULL), is the
 * task's tiles in the thread's own buffer until the residual sum reads them.
 *
 * Then, in the same parallel region, the block's MLP (mlp_rows; not in an attention-only
 * block) and, when next is not NULL, the next block's resid_pre (a copy of this one's
 * resid_post) and attention inputs (attention_input_rows), chunk by chunk: a thread that has
 * no tile left goes on with the chunks whose tiles are done (the order they finish in),
 * instead of waiting at the end of the attention, the MLP and a copy for the other thread's
 * last task (about 4% of both threads' time at paper scale went to such waits). The next
 * block's inputs may share work arrays (q, k, v) with this block's: a chunk's rows of them
 * are rewritten only after every tile reading them is done (a tile reads its own queries,
 * and its keys and values from key_t and the value panels, copies made before any chunk;
 * it leaves the next block alone when the tiles read v itself: a kept pattern reused).
 * Each row is computed by the same operations as before, whoever computes it: the same
 * bits whatever the order and the thread count. Returns 1 when it computed the next
 * block's resid_pre and inputs, 0 when the caller still has to. */
static int attention(const ModelConfig *c, const LayerWeights *w, LayerActivations *X, float *resid_after,
                     Activations *a, int B, int T, int reuse, const NextInputs *next) {
    const int H = c->n_heads, dh = c->d_head, D = c->d_model;
    const int n_qb = pattern_tile_count(T), read_tiles = reuse && X->pattern_tiles;
    const int read_pattern = reuse && !read_tiles && X->pattern;
    const int with_mlp = !c->attn_only;
    float *key_t = a->key_t;
    PackedWeights *vp = xalloc_array((size_t)B * H, sizeof *vp, "attention");
    const AttentionJob job = {w, X, key_t, vp, T, H, dh, D, read_tiles, read_pattern};
    const int n_tasks = attention_task_count(B, n_qb);
    int *task_done = xalloc_array((size_t)n_tasks, sizeof *task_done, "attention");
    int n_chunks = 0;
    RowRange *chunks = with_mlp ? chunks_in_ready_order(B, T, n_qb, &n_chunks) : NULL;
    const int need_rows = with_mlp && (!X->ln2_normalized || (next && next->with_qk && !next->X.ln1_normalized));
    int task, i;
    /* The next block's inputs need the MLP's chunks, and tiles that leave v alone once
     * they start (a reused kept pattern reads v itself: no next block then). */
    if (!with_mlp || read_pattern) next = NULL;
#ifdef _OPENMP
#pragma omp parallel
#endif
    {
        const ThreadBuffers tb = thread_buffers(a, c);
        AttentionTiles tl = tb.tiles;
        float *hidden = with_mlp && !X->mlp_post ? tb.hidden : NULL;
        float *rows = need_rows ? tb.rows : NULL;
        if (X->pattern_tiles) tl.pattern = NULL;
        if (X->z) tl.z = NULL;
        if (X->attn_out) tl.out = NULL;
        if (!read_pattern) prepare_heads(read_tiles ? NULL : key_t, vp, a, X->k, X->v, B, T, H, dh); /* a barrier */
        /* Tiles with the most keys first (attention_task_tiles). */
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 1) nowait
#endif
        for (task = 0; task < n_tasks; task++) {
            int b, n_tiles, h, k;
            const int first = attention_task_tiles(task, B, n_qb, &b, &n_tiles);
            for (h = 0; h < H; h++)
                for (k = 0; k < n_tiles; k++) head_tile(&job, &tl, b, h, first - k, k);
            for (k = 0; k < n_tiles; k++) {
                int i0;
                const int mb = query_tile(first - k, T, &i0);
                const size_t row0 = (size_t)b * T + i0;
                add_floats(resid_after + row0 * D, X->resid_pre + row0 * D, tile_out(&job, &tl, b, first - k, k),
                           (size_t)mb * D);
            }
            mark_task_done(task_done, task);
        }
        /* (no barrier: the chunks wait for their own tiles) */
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 1)
#endif
        for (i = 0; i < n_chunks; i++) {
            const int r0 = chunks[i].r0, n = chunks[i].n;
            wait_for_rows(task_done, r0, n, B, T, n_qb);
            mlp_rows(c, w, X, r0, n, hidden, rows);
            if (next) {
                memcpy(next->X.resid_pre + (size_t)r0 * D, X->resid_post + (size_t)r0 * D, (size_t)n * D * sizeof(float));
                attention_input_rows(c, next->w, &next->X, r0, n, next->with_qk, next->with_v, rows);
            }
        }
    }
    free(vp);
    free(task_done);
    free(chunks);
    return next != NULL;
}

/* ln1 and the attention's inputs of rows [0, BT) (attention_input_rows), by chunks, in one
 * parallel region (there were four). */
static void attention_inputs(const ModelConfig *c, const LayerWeights *w, LayerActivations *X, const Activations *a,
                             int BT, int with_qk, int with_v) {
    const int n_chunks = chunk_count(BT);
    int chunk;
#ifdef _OPENMP
#pragma omp parallel if (n_chunks > 1)
#endif
    {
        float *rows = X->ln1_normalized || !with_qk ? NULL : thread_buffers(a, c).rows;
#ifdef _OPENMP
#pragma omp for schedule(dynamic, 1)
#endif
        for (chunk = 0; chunk < n_chunks; chunk++) {
            int r0;
            const int n = chunk_rows(chunk, BT, &r0);
            attention_input_rows(c, w, X, r0, n, with_qk, with_v, rows);
        }
    }
}

/* out = x over n floats, elementwise, shared between the threads (one thread copying a
 * batch's residual stream kept the other waiting). */
static void copy_floats(float *out, const float *x, size_t n) {
    size_t i;
#ifdef _OPENMP
#pragma omp parallel for schedule(static) if (n > 65536)
#endif
    for (i = 0; i < n; i++) out[i] = x[i];
}

/* Block l's arrays for its forward pass: its kept hooks, and the work space for
 * those it does not keep but the pass needs whole (KEPT_OR_WORK kinds). */
static LayerActivations block_arrays(Activations *a, int l) {
    LayerActivations X = a->layer[l];
    if (!X.q) X.q = a->work[HOOK_Q];
    if (!X.k) X.k = a->work[HOOK_K];
    if (!X.v) X.v = a->work[HOOK_V];
    if (!X.resid_mid) X.resid_mid = a->work[HOOK_RESID_MID];
    if (!X.mlp_out) X.mlp_out = a->work[HOOK_MLP_OUT];
    return X;
}

/* The value path of a value-patched block (Fig 3): v of the patched heads from the
 * patched residual, normalised with the frozen scale. v [B,T,H,dh]. */
static void patch_values(const ModelConfig *c, const LayerWeights *w, Activations *a, float *v, size_t BT,
                         const ForwardOptions *opt) {
    const int D = c->d_model, H = c->n_heads, dh = c->d_head, HD = H * dh;
    float *n_patched = a->scratch, *v_patched = a->scratch + BT * D;
    int h;
    size_t r;
    normalize_with_scale(n_patched, opt->v_patch_resid, opt->v_patch_scale, w->ln1_w, w->ln1_b, BT, D);
    if (!opt->v_patch_heads) {
        matmul_packed(v, HD, n_patched, D, &w->W_V_panels, w->b_V, (int)BT);
        return;
    }
    matmul_packed(v_patched, HD, n_patched, D, &w->W_V_panels, w->b_V, (int)BT);
    for (h = 0; h < H; h++) {
        if (!opt->v_patch_heads[h]) continue;
        for (r = 0; r < BT; r++)
            memcpy(v + r * HD + (size_t)h * dh, v_patched + r * HD + (size_t)h * dh, (size_t)dh * sizeof(float));
    }
}

/* Which of block l's attention inputs its forward computes: q and k unless Fig 3's patched
 * rerun keeps the clean queries, keys and pattern it already has (its first block), v
 * unless every head's values are patched (patch_values makes them). */
static void block_inputs(const ForwardOptions *opt, int l, int *with_qk, int *with_v) {
    *with_qk = !(opt->reuse_attention_pattern && l == opt->start_layer);
    *with_v = !(opt->v_patch_layer == l && !opt->v_patch_heads);
}

/* One transformer block: ln1 and the attention's inputs (unless the previous block computed
 * them: inputs_done), attention, (ln2, MLP), filling the hooks layer l keeps; and, when l is
 * not the last block and nothing prevents it, the next block's resid_pre and attention
 * inputs with the MLP (attention): returns 1 when it did.
 * b_Q/b_K/b_V [H,dh] are already the packed [H*dh] bias of the packed matrices. */
static int run_block(const Model *m, Activations *a, int l, int B, int T, const ForwardOptions *opt, int inputs_done,
                     int last) {
    const ModelConfig *c = &m->cfg;
    const LayerWeights *w = &m->layers[l];
    LayerActivations X = block_arrays(a, l);
    size_t BT = (size_t)B * T;
    int with_qk, with_v;
    const int reuse = opt->reuse_attention_pattern && l == opt->start_layer;
    NextInputs next;
    block_inputs(opt, l, &with_qk, &with_v);
    if (reuse && !(X.pattern_tiles || X.pattern || (a->layer[l].q && a->layer[l].k)))
        die(EXIT_INTERNAL, "internal: reusing layer %d's attention needs its pattern tiles, its pattern or q and k kept",
            l);
    if (reuse && with_v && !a->layer[l].ln1_normalized)
        die(EXIT_INTERNAL, "internal: reusing layer %d's attention needs its ln1_normalized kept", l);

    if (!inputs_done) attention_inputs(c, w, &X, a, (int)BT, with_qk, with_v);
    if (opt->v_patch_layer == l) patch_values(c, w, a, X.v, BT, opt);
    if (l < last) {
        next.w = &m->layers[l + 1];
        next.X = block_arrays(a, l + 1);
        block_inputs(opt, l + 1, &next.with_qk, &next.with_v);
    }
    /* An attention-only block has no resid_mid (nor a buffer for it): its sum is resid_post. */
    return attention(c, w, &X, c->attn_only ? X.resid_post : X.resid_mid, a, B, T, reuse, l < last ? &next : NULL);
}

void model_forward(const Model *m, Activations *a, const int *tokens, int n_rows, int n_pos, const ForwardOptions *opt) {
    const ModelConfig *c = &m->cfg;
    ForwardOptions plain = forward_options_default();
    int last = c->n_layers - 1, l, inputs_done = 0;
    size_t BT = (size_t)n_rows * n_pos;
    if (!opt) opt = &plain;
    if (n_rows > a->max_rows || n_pos > a->max_pos || n_rows <= 0 || n_pos <= 0)
        die(EXIT_INTERNAL, "internal: forward of %d x %d tokens into activations for %d x %d", n_rows, n_pos, a->max_rows,
            a->max_pos);
    a->n_rows = n_rows;
    a->n_pos = n_pos;
    reserve_thread_work(a, c);
    if (opt->stop_after_layer >= 0 && opt->stop_after_layer < last) last = opt->stop_after_layer;
    if (opt->start_layer == 0) embed_tokens(m, a, tokens, n_rows, n_pos);
    for (l = opt->start_layer; l <= last; l++) {
        if (l > opt->start_layer && !inputs_done)
            copy_floats(a->layer[l].resid_pre, a->layer[l - 1].resid_post, BT * c->d_model);
        inputs_done = run_block(m, a, l, n_rows, n_pos, opt, inputs_done, last);
    }
    if (last != c->n_layers - 1) return;
    layernorm(a->lnf_normalized, a->lnf_scale, a->layer[last].resid_post, m->lnf_w, m->lnf_b, (int)BT, c->d_model, c->eps);
    if (opt->compute_logits && a->logits) matmul(a->logits, a->lnf_normalized, m->W_U, m->b_U, (int)BT, c->d_model, c->d_vocab);
}

void head_result_with_input(const Model *m, const Activations *a, int row, int layer, int head, int pos,
                            const float *normalized_override, float *out_result) {
    const ModelConfig *c = &m->cfg;
    const LayerWeights *w = &m->layers[layer];
    const LayerActivations *L = &a->layer[layer];
    int D = c->d_model, dh = c->d_head, HD = c->n_heads * dh, T = a->n_pos;
    float *scratch;
    if (!L->k || !L->v) die(EXIT_INTERNAL, "internal: head_result_with_input needs layer %d's k and v kept", layer);
    scratch = xalloc_array((size_t)3 * dh + (size_t)pos + 1, sizeof(float), "head scratch");
    float *q = scratch, *k = scratch + dh, *v = scratch + 2 * dh, *p = scratch + 3 * dh;
    float inv_scale = 1.0f / sqrtf((float)dh), *z = k; /* k is dead once the scores exist */
    const float *Wq = w->W_Q + (size_t)head * D * dh, *Wk = w->W_K + (size_t)head * D * dh, *Wv = w->W_V + (size_t)head * D * dh;
    int d, e, j;
    /* q, k, v of the overridden input: n @ W[head] + b[head] */
    for (e = 0; e < dh; e++) {
        q[e] = w->b_Q[head * dh + e];
        k[e] = w->b_K[head * dh + e];
        v[e] = w->b_V[head * dh + e];
    }
    for (d = 0; d < D; d++) {
        float x = normalized_override[d];
        for (e = 0; e < dh; e++) {
            q[e] += x * Wq[(size_t)d * dh + e];
            k[e] += x * Wk[(size_t)d * dh + e];
            v[e] += x * Wv[(size_t)d * dh + e];
        }
    }
    for (j = 0; j <= pos; j++) {
        const float *kj = j == pos ? k : L->k + ((size_t)row * T + j) * HD + (size_t)head * dh;
        float dot = 0.0f;
        for (e = 0; e < dh; e++) dot += q[e] * kj[e];
        p[j] = dot * inv_scale;
    }
    softmax_row(p, pos + 1);
    for (e = 0; e < dh; e++) z[e] = 0.0f;
    for (j = 0; j <= pos; j++) {
        const float *vj = j == pos ? v : L->v + ((size_t)row * T + j) * HD + (size_t)head * dh;
        for (e = 0; e < dh; e++) z[e] += p[j] * vj[e];
    }
    for (d = 0; d < D; d++) {
        float acc = 0.0f;
        for (e = 0; e < dh; e++) acc += z[e] * w->W_O[((size_t)head * dh + e) * D + d];
        out_result[d] = acc;
    }
    free(scratch);
}
