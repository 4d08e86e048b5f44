/* synth.c - the bundled planted model and random gelu-4l-shaped weights.
 *
 * The planted model (`cleanup synth`, run by `make` into weights/planted/)
 * ======================================================================
 * What it is. gelu-4l's architecture (4 layers, 8 heads, exact-GELU MLPs,
 * LayerNorm with weight and bias, learned absolute positions) at width 64:
 * d_model 64, d_head 8, d_mlp 256, n_ctx 64, d_vocab 663. Its own byte-level
 * BPE tokenizer (EOS 0, BOS 1, PAD 2 as gelu-4l's, the 256 GPT-2 byte symbols,
 * then merges trained on the four adversarial prompts' words and common
 * English/code pieces until each is one token, so " bottom", " top", " State",
 * " University", " __", " get", " Church", " church" are single tokens). 300
 * data rows of 64 tokens from a fixed random Markov chain. Files: config.json
 * (model_name "cleanup-planted"), model.safetensors, tokenizer.json (+
 * tokenizer_config.json, special_tokens_map.json), data.jsonl.
 *
 * What is planted. Stated for the weights as TransformerLens processing leaves
 * them: the file has random LayerNorm weights and biases, and its raw weights
 * are "unfolded" (W_raw = W / ln.w, b_raw = b - ln.b W_raw) so that fold_ln
 * gives back exactly these.
 *  - Three reserved unit directions, orthogonal to each other and to the
 *    all-ones vector: u (the writer's direction) and s1, s2 (a positional plane).
 *  - Every W_pos row has (1 + 0.25 n1) s1 + 0.25 n2 s2 (n1, n2 random per
 *    position): a large positional component common to all positions plus
 *    jitter. Token embeddings have none of s1, s2.
 *  - Writer L0H2: value dimension 0 reads 0.28 s1 and its W_O row writes +u;
 *    its other value dimensions are small. Its queries and keys are random like
 *    every head's. So L0H2 writes a mostly positional signal along u (norm
 *    about 1.5, two thirds of the norm of resid_mid0).
 *  - Cleaners L2H2..L2H7: value dimension 0 reads beta_c u and its W_O row
 *    writes -u, beta = 0.358 x (0.15, 0.07, 0.12, 0.26, 0.18, 0.14) / 0.92 (the
 *    relative sizes of the paper's Fig 2 bars); their other value dimensions
 *    are random but do not read u. The cleaners see u / s2 with the layer-2
 *    ln1 scale s2 ~ 0.36, so together they write about -1.0 x the writer's u
 *    component at the same position and, averaged over the earlier positions
 *    they attend to, about -0.9 x the writer (0.358 was calibrated once so that
 *    the bundled model's fig2.cleaners_sum.median is -0.90; seeds 1-3 give
 *    -0.87 to -0.98).
 *  - Everything else is random and writes little into u: every other head's
 *    W_O rows, the MLPs' W_out rows, embeddings and biases keep half of their
 *    natural u component and none of s1, s2; nothing else reads s1, s2.
 *  - The unembedding is random, except that the u component of each Fig 4
 *    prompt's correct / incorrect answer column is set to +0.15 / -0.15, so
 *    L0H2 has a positive direct logit attribution (about 0.9) on every answer
 *    pair, which the cleaners erase.
 *
 * Why. It is the paper's mechanism in miniature with a known ground truth: a
 * head writes a direction that later heads erase (memory management), so the
 * writer's DLA overstates what it does. Every experiment's outcome is known in
 * advance, and `make test` checks that the program recovers it.
 *
 * Expected outcomes (bundled model, seed 0; `cleanup all` and the independent
 * numpy reference tools/check_planted.py agree on all 750 metrics the latter
 * computes to 1e-4):
 *  - Fig 1: median PR(resid, L0H2) ~ 0 at resid_pre0 (0.000), ~ 1 from
 *    resid_mid0 to resid_post1 (1.02, 0.99, 0.93, 0.94), ~ 0 from resid_mid2 on
 *    (0.00, 0.01, 0.05, 0.04). Paper: 0.01, 0.96, 1.04, 1.01, 1.02, 0.10, ...
 *  - Fig 2: cleaners_sum median -0.90 (paper -0.903); the cleaners
 *    -0.15 -0.12 -0.10 -0.24 -0.15 -0.14 (design -0.15 -0.07 -0.12 -0.25 -0.18
 *    -0.14; their attention patterns shift the shares a little); every other
 *    node within 0.05 of 0.
 *  - Fig 3: patched resid_mid2 0.95 and resid_post2 0.97, i.e. resid_pre2's
 *    0.94 kept: without L0H2 in their value input the cleaners erase nothing;
 *    the patched cleaners are within 0.05 of 0. (Paper 0.88, 0.65: in gelu-4l
 *    MLP2 and layer 3 clean too; here nothing after layer 2 does.)
 *  - Fig 4: L0H2's clean DLA is about +0.9 on all four answer pairs (0.85,
 *    1.01, 0.94, 0.99) and the patched medians are the same (0.90, 1.00, 0.96,
 *    0.95): the writer's output is positional, so it does not depend on the
 *    prompt (seeds 1-3: 0.82 to 1.47, patched within 0.12 of clean). The
 *    logit differences (0.39, 1.19, 0.26, -0.01) are those of a random model:
 *    the writer's contribution is erased. The other heads are random.
 *  - Fig 5: slope -0.99, r -0.996 (the same-position V-composition is
 *    -beta/s2 ~ -1 times the writer's u part).
 *  - Section 3.2: r_vcomp -0.99 (paper -0.716), slope -0.96; r_cleaners -0.58
 *    (paper -0.159; the cleaners' random dimensions add their own DLA).
 * planted_checks_table() (references.c) lists these with tolerances (`cleanup synth
 * --print-checks`); report.md checks them.
 *
 * Determinism: every random number comes from a splitmix64 stream keyed by
 * (seed, tensor name); normals are Irwin-Hall sums of four uniforms (only
 * + - * on doubles, no libm), and the construction uses only + - * / sqrt,
 * which IEEE 754 rounds exactly. So the files are byte-identical on every
 * platform with IEEE doubles evaluated in double precision (FLT_EVAL_METHOD 0)
 * and no fused multiply-add contraction (gcc -std=c99 does not contract;
 * clang is told not to below).
 */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#include "synth.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats.h"
#include "model.h"

/* ------------------------------------------------------------------------ */
/* Random numbers                                                           */

typedef struct {
    uint64_t state;
} Rng;

/* splitmix64 (Steele, Lea, Flood 2014): one 64-bit output per call. */
static uint64_t rng_next(Rng *r) {
    uint64_t z = (r->state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

/* An independent stream for (seed, name): adding a tensor never shifts the
 * numbers of another. */
static Rng rng_stream(uint64_t seed, const char *name) {
    Rng r;
    uint64_t h = 0xCBF29CE484222325ULL; /* FNV-1a */
    const unsigned char *p;
    for (p = (const unsigned char *)name; *p; p++) {
        h ^= *p;
        h *= 0x100000001B3ULL;
    }
    r.state = seed * 0xD1B54A32D192ED03ULL + h;
    (void)rng_next(&r);
    return r;
}

/* Uniform in [0, 1) on the 2^-53 grid (exact). */
static double rng_uniform(Rng *r) {
    return (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

/* Approximately standard normal: Irwin-Hall sum of four uniforms, centred and
 * scaled to unit variance (bounded by +-3.46; no libm, so bit-reproducible). */
static double rng_normal(Rng *r) {
    double s = rng_uniform(r) + rng_uniform(r) + rng_uniform(r) + rng_uniform(r);
    return (s - 2.0) * 1.7320508075688772;
}

/* Uniform integer in [0, n), n > 0 (modulo bias below 2^-40 for our n). */
static int rng_below(Rng *r, int n) {
    return (int)(rng_next(r) % (uint64_t)n);
}

/* ------------------------------------------------------------------------ */
/* Growable text buffer for the JSON files                                  */

typedef struct {
    char *data;
    size_t len, cap;
    int failed; /* an allocation failed; the buffer is unusable */
} Buf;

/* Appends printf-style text; on allocation failure sets b->failed. */
static void buf_printf(Buf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
static void buf_printf(Buf *b, const char *fmt, ...) {
    va_list ap, ap2;
    int n;
    if (b->failed) return;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = 1;
        va_end(ap2);
        return;
    }
    if (b->len + (size_t)n + 1 > b->cap) {
        size_t ncap = b->cap ? b->cap : 4096;
        char *nd;
        while (ncap < b->len + (size_t)n + 1) ncap *= 2;
        nd = realloc(b->data, ncap);
        if (!nd) {
            b->failed = 1;
            va_end(ap2);
            return;
        }
        b->data = nd;
        b->cap = ncap;
    }
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    b->len += (size_t)n;
}

/* Appends s as a JSON string literal (s is valid UTF-8). */
static void buf_json_string(Buf *b, const char *s) {
    const unsigned char *p;
    buf_printf(b, "\"");
    for (p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') buf_printf(b, "\\%c", *p);
        else if (*p < 0x20) buf_printf(b, "\\u%04x", *p);
        else buf_printf(b, "%c", *p);
    }
    buf_printf(b, "\"");
}

/* Moves the buffer's text into files as `name` (the buffer is left empty). */
static int buf_take(Buf *b, SynthFiles *files, const char *name, Error *err) {
    SynthFile *f;
    if (b->failed || files->count >= SYNTH_MAX_FILES) {
        free(b->data);
        memset(b, 0, sizeof *b);
        return error_set_code(err, EXIT_INTERNAL, "%s: out of memory", name);
    }
    f = &files->files[files->count++];
    snprintf(f->name, sizeof f->name, "%s", name);
    f->data = (unsigned char *)(b->data ? b->data : calloc(1, 1));
    f->len = b->len;
    memset(b, 0, sizeof *b);
    if (!f->data) {
        files->count--;
        return error_set_code(err, EXIT_INTERNAL, "%s: out of memory", name);
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Shapes and the list of tensors to write                                  */

#define SYNTH_MAX_TENSORS 128

typedef struct {
    int count;
    char names[SYNTH_MAX_TENSORS][64];
    int ndims[SYNTH_MAX_TENSORS];
    int64_t shapes[SYNTH_MAX_TENSORS][TENSOR_MAX_DIMS];
    float *data[SYNTH_MAX_TENSORS];
    const TensorSpec *specs[SYNTH_MAX_TENSORS]; /* the model's tensor table entry of each */
} TensorList;

/* Adds a zeroed tensor (up to 3 dims; pass 0 for unused trailing dims) and
 * returns its buffer, or NULL on out of memory / too many tensors. */
static float *tl_add(TensorList *tl, const char *name, int64_t d0, int64_t d1, int64_t d2) {
    int i = tl->count, nd = d2 ? 3 : d1 ? 2 : 1;
    size_t n = (size_t)d0 * (size_t)(d1 ? d1 : 1) * (size_t)(d2 ? d2 : 1);
    if (i >= SYNTH_MAX_TENSORS) return NULL;
    tl->data[i] = alloc_array(n, sizeof(float));
    if (!tl->data[i]) return NULL;
    snprintf(tl->names[i], sizeof tl->names[i], "%s", name);
    tl->ndims[i] = nd;
    memset(tl->shapes[i], 0, sizeof tl->shapes[i]);
    tl->shapes[i][0] = d0;
    tl->shapes[i][1] = d1;
    tl->shapes[i][2] = d2;
    tl->count++;
    return tl->data[i];
}

/* Adds every tensor of a model with config c to tl, zeroed, in state-dict
 * order, and points view's weights at them (view->layers is allocated: free it;
 * the buffers are tl's). Returns -1 on out of memory or too many tensors. */
static int tl_add_model(TensorList *tl, const ModelConfig *c, Model *view) {
    size_t k, n = model_state_dict(c, NULL);
    TensorRef *refs = alloc_array(n, sizeof *refs);
    int rc = 0;
    memset(view, 0, sizeof *view);
    view->cfg = *c;
    view->layers = alloc_array((size_t)c->n_layers, sizeof *view->layers);
    if (!refs || !view->layers) rc = -1;
    else model_state_dict(c, refs);
    for (k = 0; k < n && rc == 0; k++) {
        char key[64];
        int dims[3] = {0, 0, 0};
        float **field = model_tensor_field(view, refs[k].spec, refs[k].layer);
        model_tensor_shape(refs[k].spec, c, dims);
        model_tensor_key(refs[k].spec, refs[k].layer, key, sizeof key);
        *field = tl_add(tl, key, dims[0], dims[1], dims[2]);
        if (!*field) rc = -1;
        else tl->specs[tl->count - 1] = refs[k].spec;
    }
    free(refs);
    return rc;
}

static void tl_free(TensorList *tl) {
    int i;
    for (i = 0; i < tl->count; i++) free(tl->data[i]);
    tl->count = 0;
}

/* Adds model.safetensors with tl's tensors to files. */
static int tl_encode(const TensorList *tl, SynthFiles *files, const char *const *metadata, Error *err) {
    const char *names[SYNTH_MAX_TENSORS];
    const float *data[SYNTH_MAX_TENSORS];
    SynthFile *f;
    int i;
    if (files->count >= SYNTH_MAX_FILES) return error_set_code(err, EXIT_INTERNAL, "too many synthesized files");
    for (i = 0; i < tl->count; i++) {
        names[i] = tl->names[i];
        data[i] = tl->data[i];
    }
    f = &files->files[files->count];
    snprintf(f->name, sizeof f->name, "model.safetensors");
    if (safetensors_encode(f->name, tl->count, names, tl->ndims, (const int64_t(*)[TENSOR_MAX_DIMS])tl->shapes, data,
                           metadata, &f->data, &f->len, err) != 0)
        return -1;
    files->count++;
    return 0;
}

/* Fills n floats with sigma * normal from the stream (seed, name). */
static void fill_normal(float *x, size_t n, double sigma, uint64_t seed, const char *name) {
    Rng r = rng_stream(seed, name);
    size_t i;
    for (i = 0; i < n; i++) x[i] = (float)(sigma * rng_normal(&r));
}

/* Fills n floats with base + sigma * normal (LayerNorm weights). */
static void fill_around(float *x, size_t n, double base, double sigma, uint64_t seed, const char *name) {
    Rng r = rng_stream(seed, name);
    size_t i;
    for (i = 0; i < n; i++) x[i] = (float)(base + sigma * rng_normal(&r));
}

/* ------------------------------------------------------------------------ */
/* The planted model                                                        */

/* Design constants (the plant; see the header comment). All in the
 * processed ("effective") weights that TransformerLens processing yields. */
#define P_LAYERS 4
#define P_D 64
#define P_H 8
#define P_DH 8
#define P_M 256
#define P_CTX 64
#define P_WRITER_LAYER 0
#define P_WRITER_HEAD 2
#define P_CLEAN_LAYER 2
#define P_CLEAN_FIRST 2 /* cleaners are heads P_CLEAN_FIRST..P_H-1 of layer 2 */
typedef char planted_shape_matches_header[P_LAYERS == SYNTH_PLANTED_LAYERS && P_H == SYNTH_PLANTED_HEADS ? 1 : -1];

static const double p_sigma_E = 0.125;    /* token embedding, per component (norm ~1) */
static const double p_sigma_P = 0.0625;   /* positional embedding, generic part */
static const double p_mu = 1.0;           /* positional component along s1, common to all positions */
static const double p_rho = 0.25;         /* per-position jitter in the s1/s2 plane */
static const double p_keep_u = 0.5;       /* fraction of the u component kept in generic writes */
static const double p_sigma_QK = 0.15;
static const double p_sigma_V = 0.1;
static const double p_sigma_O = 0.035;
static const double p_alpha = 0.28;       /* writer: reads alpha*s1, writes +u */
static const double p_sigma_V_writer = 0.03;
static const double p_sigma_O_writer = 0.02;
static const double p_beta_total = 0.358;  /* sum over cleaners of their u -> -u gain */
/* Relative shares of the cleaners L2H2..L2H7 (the paper's Fig 2 medians, rounded). */
static const double p_share[6] = {0.15, 0.07, 0.12, 0.26, 0.18, 0.14};
static const double p_sigma_in = 0.125;
static const double p_sigma_bin = 0.1;
static const double p_sigma_out = 0.006;
static const double p_sigma_U = 0.05;
static const double p_sigma_bias = 0.01;
static const double p_ln_w_sigma = 0.1;
static const double p_ln_b_sigma = 0.05;
/* The unembedding direction u is tilted towards each Fig 4 prompt's correct
 * answer and away from its incorrect one by this much (+-gamma u per column),
 * so L0H2 has a large positive direct logit attribution that the cleaners erase. */
static const double p_gamma = 0.15;

static double dot(const double *a, const double *b, int n) {
    double s = 0;
    int i;
    for (i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* v -= (v.dir) dir * (1 - keep): keeps a fraction `keep` of v's component along unit dir. */
static void keep_along(double *v, const double *dir, double keep, int n) {
    double c = dot(v, dir, n) * (1.0 - keep);
    int i;
    for (i = 0; i < n; i++) v[i] -= c * dir[i];
}

static void remove_mean(double *v, int n) {
    double m = 0;
    int i;
    for (i = 0; i < n; i++) m += v[i];
    m /= n;
    for (i = 0; i < n; i++) v[i] -= m;
}

/* The planted basis: u (the writer's direction), s1, s2 (the positional plane
 * the writer reads), orthonormal and orthogonal to the all-ones vector. */
typedef struct {
    double u[P_D], s1[P_D], s2[P_D];
} PlantBasis;

static void plant_basis(PlantBasis *b, uint64_t seed) {
    Rng r = rng_stream(seed, "plant.basis");
    double *vs[3];
    int k, j, i, pass;
    vs[0] = b->u;
    vs[1] = b->s1;
    vs[2] = b->s2;
    for (k = 0; k < 3; k++) {
        double nrm;
        for (i = 0; i < P_D; i++) vs[k][i] = rng_normal(&r);
        /* Gram-Schmidt twice against the ones vector and the earlier vectors. */
        for (pass = 0; pass < 2; pass++) {
            remove_mean(vs[k], P_D);
            for (j = 0; j < k; j++) keep_along(vs[k], vs[j], 0.0, P_D);
        }
        nrm = sqrt(dot(vs[k], vs[k], P_D));
        for (i = 0; i < P_D; i++) vs[k][i] /= nrm;
    }
}

/* A generic written vector: sigma * normal, zero mean, u component scaled by
 * p_keep_u, no s1/s2 component (so only the writer reads the positional plane). */
static void generic_write(double *v, Rng *r, double sigma, const PlantBasis *b) {
    int i;
    for (i = 0; i < P_D; i++) v[i] = sigma * rng_normal(r);
    remove_mean(v, P_D);
    keep_along(v, b->u, p_keep_u, P_D);
    keep_along(v, b->s1, 0.0, P_D);
    keep_along(v, b->s2, 0.0, P_D);
}

static void store(float *dst, const double *v, int n) {
    int i;
    for (i = 0; i < n; i++) dst[i] = (float)v[i];
}

/* Turns effective (folded) input weights W[n_mat][D][n_out], bias[n_mat][n_out]
 * into raw weights for a LayerNorm with weight lw and bias lb, so that
 * TransformerLens' fold_ln gives back W (up to its column centring, which does
 * not change the function) and bias:
 *   W_raw[d] = W[d] / lw[d];   bias_raw = bias - sum_d lb[d] W_raw[d]. */
static void unfold_ln(float *W, float *bias, const float *lw, const float *lb, int n_mat, int D, int n_out) {
    int m, d, o;
    for (m = 0; m < n_mat; m++) {
        for (d = 0; d < D; d++)
            for (o = 0; o < n_out; o++) {
                float *w = &W[((size_t)m * D + d) * n_out + o];
                *w = (float)((double)*w / (double)lw[d]);
            }
        for (o = 0; o < n_out; o++) {
            double acc = 0;
            for (d = 0; d < D; d++) acc += (double)lb[d] * (double)W[((size_t)m * D + d) * n_out + o];
            bias[(size_t)m * n_out + o] = (float)((double)bias[(size_t)m * n_out + o] - acc);
        }
    }
}

/* answers[2k], answers[2k+1]: token ids of prompt k's correct and incorrect answer. */
/* Head h of layer l is the plant's writer (pl NULL: the bundled model's L0H2). */
static int plant_is_writer(const SynthPlant *pl, int l, int h) {
    if (!pl) return l == P_WRITER_LAYER && h == P_WRITER_HEAD;
    return l == pl->writer_layer && h == pl->writer_head;
}

/* 1 and the cleaner's share num / den of the total gain if head h of layer l is one of the
 * plant's cleaners (the bundled model: p_share[h - 2] / share_sum for L2H2..L2H7). */
static int plant_cleaner_share(const SynthPlant *pl, int l, int h, double share_sum, double *num, double *den) {
    int c;
    if (!pl) {
        *num = p_share[h - P_CLEAN_FIRST < 0 ? 0 : h - P_CLEAN_FIRST];
        *den = share_sum;
        return l == P_CLEAN_LAYER && h >= P_CLEAN_FIRST;
    }
    *num = 1.0;
    *den = pl->n_cleaners;
    if (l != pl->clean_layer) return 0;
    for (c = 0; c < pl->n_cleaners; c++)
        if (pl->cleaners[c] == h) return 1;
    return 0;
}

int synth_plant_check(const SynthPlant *p, Error *err) {
    int c, j;
    if (p->writer_layer < 0 || p->writer_layer >= P_LAYERS || p->writer_head < 0 || p->writer_head >= P_H)
        return error_set_code(err, EXIT_USAGE, "--writer: L%dH%d is not a head of the planted model (L0H0..L%dH%d)",
                              p->writer_layer, p->writer_head, P_LAYERS - 1, P_H - 1);
    if (p->n_cleaners < 1 || p->n_cleaners > SYNTH_MAX_CLEANERS)
        return error_set_code(err, EXIT_USAGE, "--cleaners: give 1 to %d heads", SYNTH_MAX_CLEANERS);
    if (p->clean_layer <= p->writer_layer || p->clean_layer >= P_LAYERS)
        return error_set_code(err, EXIT_USAGE, "--cleaners: must be in a layer after the writer's (%d) and below %d",
                              p->writer_layer, P_LAYERS);
    for (c = 0; c < p->n_cleaners; c++) {
        if (p->cleaners[c] < 0 || p->cleaners[c] >= P_H)
            return error_set_code(err, EXIT_USAGE, "--cleaners: head %d does not exist (0..%d)", p->cleaners[c], P_H - 1);
        for (j = 0; j < c; j++)
            if (p->cleaners[j] == p->cleaners[c])
                return error_set_code(err, EXIT_USAGE, "--cleaners: L%dH%d is listed twice", p->clean_layer,
                                      p->cleaners[c]);
    }
    return 0;
}

static int planted_weights(TensorList *tl, const ModelConfig *s, uint64_t seed, const int answers[8],
                           const SynthPlant *pl, Error *err) {
    PlantBasis b;
    double v[P_D];
    char name[64];
    int l, h, d, e, i, t, p;
    float *W_E, *W_pos, *lnf_w, *lnf_b, *W_U, *b_U;
    const int D = P_D, H = P_H, dh = P_DH, M = P_M, V = s->d_vocab, attn_only = pl && pl->attn_only;
    double share_sum = 0, share_num, share_den;
    Model pm; /* the planted weights, in tl's buffers */
    Rng r;

    if (tl_add_model(tl, s, &pm) != 0) {
        free(pm.layers);
        return error_set_code(err, EXIT_INTERNAL, "out of memory building the planted model");
    }
    W_E = pm.W_E;
    W_pos = pm.W_pos;
    lnf_w = pm.lnf_w;
    lnf_b = pm.lnf_b;
    W_U = pm.W_U;
    b_U = pm.b_U;
    for (i = 0; i < 6; i++) share_sum += p_share[i];
    plant_basis(&b, seed);

    /* Tokens: generic vectors with a little of u (the writer's direction) and
     * none of the positional plane. */
    r = rng_stream(seed, "embed.W_E");
    for (t = 0; t < V; t++) {
        generic_write(v, &r, p_sigma_E, &b);
        store(W_E + (size_t)t * D, v, D);
    }
    /* Positions: generic part plus (mu + rho n1) s1 + rho n2 s2 - the
     * positional signal the writer copies into u. */
    r = rng_stream(seed, "pos_embed.W_pos");
    for (p = 0; p < P_CTX; p++) {
        double n1, n2;
        generic_write(v, &r, p_sigma_P, &b);
        n1 = rng_normal(&r);
        n2 = rng_normal(&r);
        for (d = 0; d < D; d++) v[d] += (p_mu + p_rho * n1) * b.s1[d] + p_rho * n2 * b.s2[d];
        store(W_pos + (size_t)p * D, v, D);
    }

    for (l = 0; l < P_LAYERS; l++) {
        const LayerWeights *w = &pm.layers[l];
        float *ln1_w = w->ln1_w, *ln1_b = w->ln1_b, *ln2_w = w->ln2_w, *ln2_b = w->ln2_b;
        float *W_Q = w->W_Q, *W_K = w->W_K, *W_V = w->W_V, *W_O = w->W_O;
        float *b_Q = w->b_Q, *b_K = w->b_K, *b_V = w->b_V, *b_O = w->b_O;
        float *W_in = w->W_in, *b_in = w->b_in, *W_out = w->W_out, *b_out = w->b_out;
        snprintf(name, sizeof name, "blocks.%d.ln1.w", l);
        fill_around(ln1_w, D, 1.0, p_ln_w_sigma, seed, name);
        snprintf(name, sizeof name, "blocks.%d.ln1.b", l);
        fill_normal(ln1_b, D, p_ln_b_sigma, seed, name);
        if (!attn_only) {
            snprintf(name, sizeof name, "blocks.%d.ln2.w", l);
            fill_around(ln2_w, D, 1.0, p_ln_w_sigma, seed, name);
            snprintf(name, sizeof name, "blocks.%d.ln2.b", l);
            fill_normal(ln2_b, D, p_ln_b_sigma, seed, name);
        }

        /* Queries and keys: random for every head (attention patterns are not planted). */
        snprintf(name, sizeof name, "blocks.%d.attn.W_Q", l);
        fill_normal(W_Q, (size_t)H * D * dh, p_sigma_QK, seed, name);
        snprintf(name, sizeof name, "blocks.%d.attn.W_K", l);
        fill_normal(W_K, (size_t)H * D * dh, p_sigma_QK, seed, name);
        snprintf(name, sizeof name, "blocks.%d.attn.b_Q", l);
        fill_normal(b_Q, (size_t)H * dh, p_sigma_bias, seed, name);
        snprintf(name, sizeof name, "blocks.%d.attn.b_K", l);
        fill_normal(b_K, (size_t)H * dh, p_sigma_bias, seed, name);
        /* b_V stays 0 (it is folded into b_O anyway). */

        /* Values and outputs: generic, except the planted ones. */
        snprintf(name, sizeof name, "blocks.%d.attn.W_V", l);
        r = rng_stream(seed, name);
        for (h = 0; h < H; h++)
            for (e = 0; e < dh; e++) {
                int writer = plant_is_writer(pl, l, h);
                int cleaner = plant_cleaner_share(pl, l, h, share_sum, &share_num, &share_den);
                double sig = writer ? p_sigma_V_writer : p_sigma_V;
                for (d = 0; d < D; d++) v[d] = sig * rng_normal(&r);
                /* The cleaners' other value dimensions do not read u: what they
                 * do with the writer's output is exactly the planted -u. */
                if (cleaner) keep_along(v, b.u, 0.0, D);
                if (e == 0 && writer)
                    for (d = 0; d < D; d++) v[d] = p_alpha * b.s1[d];
                if (e == 0 && cleaner)
                    for (d = 0; d < D; d++) v[d] = p_beta_total * share_num / share_den * b.u[d];
                for (d = 0; d < D; d++) W_V[((size_t)h * D + d) * dh + e] = (float)v[d];
            }
        snprintf(name, sizeof name, "blocks.%d.attn.W_O", l);
        r = rng_stream(seed, name);
        for (h = 0; h < H; h++)
            for (e = 0; e < dh; e++) {
                int writer = plant_is_writer(pl, l, h);
                int cleaner = plant_cleaner_share(pl, l, h, share_sum, &share_num, &share_den);
                generic_write(v, &r, writer ? p_sigma_O_writer : p_sigma_O, &b);
                if (e == 0 && writer)
                    for (d = 0; d < D; d++) v[d] = b.u[d];
                if (e == 0 && cleaner)
                    for (d = 0; d < D; d++) v[d] = -b.u[d];
                store(W_O + ((size_t)h * dh + e) * D, v, D);
            }
        snprintf(name, sizeof name, "blocks.%d.attn.b_O", l);
        r = rng_stream(seed, name);
        generic_write(v, &r, p_sigma_bias, &b);
        store(b_O, v, D);

        /* MLP: reads everything, writes generic vectors. */
        if (!attn_only) {
            snprintf(name, sizeof name, "blocks.%d.mlp.W_in", l);
            fill_normal(W_in, (size_t)D * M, p_sigma_in, seed, name);
            snprintf(name, sizeof name, "blocks.%d.mlp.b_in", l);
            fill_normal(b_in, (size_t)M, p_sigma_bin, seed, name);
            snprintf(name, sizeof name, "blocks.%d.mlp.W_out", l);
            r = rng_stream(seed, name);
            for (i = 0; i < M; i++) {
                generic_write(v, &r, p_sigma_out, &b);
                store(W_out + (size_t)i * D, v, D);
            }
            snprintf(name, sizeof name, "blocks.%d.mlp.b_out", l);
            r = rng_stream(seed, name);
            generic_write(v, &r, p_sigma_bias, &b);
            store(b_out, v, D);
        }

        /* Raw weights whose processing gives the above. */
        unfold_ln(W_Q, b_Q, ln1_w, ln1_b, H, D, dh);
        unfold_ln(W_K, b_K, ln1_w, ln1_b, H, D, dh);
        unfold_ln(W_V, b_V, ln1_w, ln1_b, H, D, dh);
        if (!attn_only) unfold_ln(W_in, b_in, ln2_w, ln2_b, 1, D, M);
    }

    fill_around(lnf_w, D, 1.0, p_ln_w_sigma, seed, "ln_final.w");
    fill_normal(lnf_b, D, p_ln_b_sigma, seed, "ln_final.b");
    /* The unembedding reads every direction, u included, so the writer has a
     * direct logit effect for the cleaners to cancel. */
    fill_normal(W_U, (size_t)D * V, p_sigma_U, seed, "unembed.W_U");
    /* Answer columns: u component set to exactly +gamma (correct) / -gamma (incorrect). */
    for (i = 0; i < 8; i++) {
        double c = 0;
        for (d = 0; d < D; d++) c += (double)W_U[(size_t)d * V + answers[i]] * b.u[d];
        for (d = 0; d < D; d++)
            W_U[(size_t)d * V + answers[i]] =
                (float)((double)W_U[(size_t)d * V + answers[i]] + ((i % 2 == 0 ? p_gamma : -p_gamma) - c) * b.u[d]);
    }
    fill_normal(b_U, (size_t)V, p_sigma_bias, seed, "unembed.b_U");
    unfold_ln(W_U, b_U, lnf_w, lnf_b, 1, D, V);
    free(pm.layers);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Random weights of any shape (gelu-4l's for benchmarks)                   */

/* Each tensor of the random weights is base + sigma * normal, from the stream
 * named by its key: LayerNorm weights around 1, the token embedding larger
 * than the other matrices, biases smaller. */
static int random_weights(TensorList *tl, const ModelConfig *s, uint64_t seed, Error *err) {
    Model view;
    int i, rc = tl_add_model(tl, s, &view);
    for (i = 0; i < tl->count && rc == 0; i++) {
        const TensorSpec *t = tl->specs[i];
        size_t n = (size_t)tl->shapes[i][0] * (size_t)(tl->ndims[i] > 1 ? tl->shapes[i][1] : 1) *
                   (size_t)(tl->ndims[i] > 2 ? tl->shapes[i][2] : 1);
        double base = t->role == TENSOR_LN_WEIGHT ? 1.0 : 0.0, sigma;
        if (t->role == TENSOR_LN_WEIGHT) sigma = 0.05;
        else if (t->role == TENSOR_LN_BIAS) sigma = 0.02;
        else if (t->role == TENSOR_BIAS) sigma = 0.01;
        else sigma = tl->data[i] == view.W_E ? 0.1 : 0.02;
        fill_around(tl->data[i], n, base, sigma, seed, tl->names[i]);
    }
    free(view.layers);
    return rc == 0 ? 0 : error_set_code(err, EXIT_INTERNAL, "out of memory building random weights");
}

/* ------------------------------------------------------------------------ */
/* The planted model's tokenizer: a small GPT-NeoX-style byte-level BPE       */

/* Special tokens, as gelu-4l's tokenizer numbers them. */
#define TOK_EOS 0
#define TOK_BOS 1
#define TOK_PAD 2
#define TOK_FIRST_BYTE 3
static const char *const special_tokens[3] = {"<|endoftext|>", "<|BOS|>", "<|PAD|>"};

/* Pre-tokens (as the GPT-2 regex splits text) the BPE is trained on, with
 * weights. Training continues until each of them is one token, so the four
 * adversarial prompts' answers are single tokens. */
typedef struct {
    const char *text;
    int weight;
} CorpusWord;

static const CorpusWord corpus[] = {
    /* the answers of the four prompts (docs/PROTOCOL.md section 5.4, Fig 4) */
    {" bottom", 1000}, {" top", 1000}, {" State", 1000}, {" University", 1000},
    {" __", 1000}, {" get", 1000}, {" Church", 1000}, {" church", 1000},
    /* the prompts' other pieces */
    {"It", 300}, {"'s", 300}, {" in", 300}, {" the", 300}, {" cupboard", 300}, {",", 300},
    {" either", 300}, {" on", 300}, {" or", 300}, {"I", 300}, {" went", 300}, {" to", 300},
    {" university", 300}, {" at", 300}, {" Michigan", 300}, {"class", 300}, {" My", 300},
    {"Class", 300}, {":", 300}, {"\n", 300}, {"\t", 300}, {"def", 300}, {"The", 300}, {" go", 300},
    {" is", 300}, {" I", 300}, {" Seventh", 300}, {"-", 300}, {"day", 300}, {" Adventist", 300},
    /* common English */
    {" of", 200}, {" and", 200}, {" a", 200}, {" that", 190}, {" for", 190}, {" it", 190},
    {" with", 180}, {" as", 180}, {" was", 180}, {" he", 170}, {" be", 170}, {" by", 170},
    {" this", 160}, {" have", 160}, {" from", 160}, {" not", 150}, {" are", 150}, {" but", 150},
    {" all", 140}, {" they", 140}, {" we", 140}, {" his", 130}, {" which", 130}, {" one", 130},
    {" you", 120}, {" were", 120}, {" her", 120}, {" there", 110}, {" been", 110},
    {" would", 110}, {" their", 100}, {" has", 100}, {" more", 100}, {" when", 90},
    {" will", 90}, {" who", 90}, {" if", 80}, {" out", 80}, {" so", 80}, {" said", 70},
    {" what", 70}, {" up", 70}, {" its", 60}, {" about", 60}, {" into", 60}, {" than", 50},
    {" them", 50}, {" can", 50}, {" only", 50}, {" other", 50}, {" new", 50}, {" some", 50},
    {" could", 40}, {" time", 40}, {" these", 40}, {" two", 40}, {" may", 40}, {" then", 40},
    {" do", 40}, {" first", 40}, {" any", 40}, {" my", 40}, {" now", 40}, {" such", 40},
    {" like", 30}, {" our", 30}, {" over", 30}, {" man", 30}, {" me", 30}, {" even", 30},
    {" most", 30}, {" made", 30}, {" after", 30}, {" also", 30}, {" did", 30}, {" many", 30},
    {" before", 20}, {" must", 20}, {" through", 20}, {" back", 20}, {" years", 20},
    {" where", 20}, {" much", 20}, {" your", 20}, {" way", 20}, {" well", 20}, {" down", 20},
    {" should", 20}, {" because", 20}, {" each", 20}, {" just", 20}, {" those", 20},
    {" people", 20}, {" how", 20}, {" too", 20}, {" little", 20}, {" good", 20}, {" very", 20},
    {" make", 20}, {" world", 20}, {" still", 20}, {" see", 20}, {" work", 20}, {" long", 20},
    {" here", 20}, {" between", 10}, {" both", 10}, {" life", 10}, {" being", 10},
    {" under", 10}, {" never", 10}, {" same", 10}, {" another", 10}, {" know", 10},
    {" while", 10}, {" last", 10}, {" might", 10}, {" great", 10}, {" old", 10}, {" year", 10},
    {" off", 10}, {" come", 10}, {" since", 10}, {" against", 10}, {" right", 10},
    {" used", 10}, {" take", 10}, {" three", 10}, {" school", 10}, {" home", 10},
    {" water", 10}, {" house", 10}, {" city", 10}, {" church", 10}, {" state", 10},
    {" bottle", 10}, {" table", 10}, {" kitchen", 10}, {" door", 10}, {" room", 10},
    {"The", 10}, {"In", 10}, {"He", 10}, {"This", 10}, {"We", 10}, {"A", 10},
    {".", 200}, {" (", 50}, {")", 50}, {"\"", 50}, {" \"", 50}, {"'", 30}, {";", 30},
    {"\n\n", 50}, {" ", 50},
    /* code */
    {" return", 30}, {" self", 30}, {" import", 20}, {" print", 20}, {" def", 20},
    {" else", 20}, {" range", 10}, {"()", 20}, {"):", 20}, {" =", 30}, {" ==", 10},
    {"\t\t", 20}, {"\n   ", 20}, {"\n       ", 10}, {" None", 10}, {" True", 10},
    {" False", 10}, {"__", 20}, {"init", 10}, {" 1", 10}, {" 0", 10}, {"0", 10}, {"1", 10},
    {"2", 10}, {" x", 10}, {" i", 10},
};

/* GPT-2's bytes_to_unicode: the code point that stands for byte b in the
 * vocabulary, and the order of the 256 byte symbols. */
static void byte_symbols(unsigned int cp[256], int order[256]) {
    int n = 0, extra = 0, b, seen[256];
    memset(seen, 0, sizeof seen);
    for (b = 0; b < 256; b++)
        if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255)) {
            cp[b] = (unsigned)b;
            order[n++] = b;
            seen[b] = 1;
        }
    for (b = 0; b < 256; b++)
        if (!seen[b]) {
            cp[b] = 256u + (unsigned)extra++;
            order[n++] = b;
        }
}

/* Encodes code point c (< 0x800 here) as UTF-8 into out; returns the length. */
static int utf8_put(unsigned int c, char *out) {
    if (c < 0x80) {
        out[0] = (char)c;
        return 1;
    }
    out[0] = (char)(0xC0 | (c >> 6));
    out[1] = (char)(0x80 | (c & 0x3F));
    return 2;
}

typedef struct {
    char **str;     /* [n] token strings (byte-level unicode, UTF-8) */
    int n, cap;
    int (*merges)[2];
    int n_merges;
    int byte_id[256]; /* token id of each byte */
} Bpe;

static void bpe_free(Bpe *t) {
    int i;
    for (i = 0; i < t->n; i++) free(t->str[i]);
    free(t->str);
    free(t->merges);
    memset(t, 0, sizeof *t);
}

/* Appends a token string (taking ownership); returns its id or -1 on OOM. */
static int bpe_add(Bpe *t, char *s) {
    if (!s) return -1;
    if (t->n == t->cap) {
        int ncap = t->cap ? 2 * t->cap : 512;
        char **ns = realloc(t->str, (size_t)ncap * sizeof *ns);
        if (!ns) {
            free(s);
            return -1;
        }
        t->str = ns;
        t->cap = ncap;
    }
    t->str[t->n] = s;
    return t->n++;
}

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p) memcpy(p, s, n);
    return p;
}

typedef struct {
    int a, b;
    long weight;
} PairCount;

static int pair_cmp(const void *x, const void *y) {
    const PairCount *p = x, *q = y;
    if (p->a != q->a) return p->a < q->a ? -1 : 1;
    if (p->b != q->b) return p->b < q->b ? -1 : 1;
    return 0;
}

/* Trains the BPE on `corpus`: repeatedly merges the most frequent adjacent
 * pair (ties: the smallest pair of ids) until every corpus word is one token. */
static int bpe_train(Bpe *t, Error *err) {
    unsigned int cp[256];
    int order[256], i, j, k, n_words = (int)(sizeof corpus / sizeof corpus[0]);
    int **words = NULL, *lens = NULL, total = 0, rc = -1, merges_cap = 0;
    PairCount *pairs = NULL;

    memset(t, 0, sizeof *t);
    for (i = 0; i < 3; i++)
        if (bpe_add(t, dup_str(special_tokens[i])) < 0) goto oom;
    byte_symbols(cp, order);
    for (i = 0; i < 256; i++) {
        char buf[4] = {0, 0, 0, 0};
        utf8_put(cp[order[i]], buf);
        t->byte_id[order[i]] = t->n;
        if (bpe_add(t, dup_str(buf)) < 0) goto oom;
    }
    words = alloc_array((size_t)n_words, sizeof *words);
    lens = alloc_array((size_t)n_words, sizeof *lens);
    if (!words || !lens) goto oom;
    for (i = 0; i < n_words; i++) {
        const unsigned char *s = (const unsigned char *)corpus[i].text;
        lens[i] = (int)strlen(corpus[i].text);
        words[i] = alloc_array((size_t)lens[i], sizeof(int));
        if (!words[i]) goto oom;
        for (j = 0; j < lens[i]; j++) words[i][j] = t->byte_id[s[j]];
        total += lens[i];
    }
    pairs = alloc_array((size_t)total + 1, sizeof *pairs);
    if (!pairs) goto oom;
    for (;;) {
        int np = 0, best = -1, na, a, b, id;
        char *merged;
        /* Count pairs: list them all, sort, add up equal neighbours. */
        for (i = 0; i < n_words; i++)
            for (j = 0; j + 1 < lens[i]; j++) {
                pairs[np].a = words[i][j];
                pairs[np].b = words[i][j + 1];
                pairs[np].weight = corpus[i].weight;
                np++;
            }
        if (np == 0) break;
        qsort(pairs, (size_t)np, sizeof *pairs, pair_cmp);
        for (i = 0, na = 0; i < np; i++) {
            if (na > 0 && pair_cmp(&pairs[na - 1], &pairs[i]) == 0) pairs[na - 1].weight += pairs[i].weight;
            else pairs[na++] = pairs[i];
        }
        for (i = 0; i < na; i++)
            if (best < 0 || pairs[i].weight > pairs[best].weight) best = i; /* first max = smallest ids */
        a = pairs[best].a;
        b = pairs[best].b;
        /* The merged token (reuse the id if the string already exists). */
        merged = malloc(strlen(t->str[a]) + strlen(t->str[b]) + 1);
        if (!merged) goto oom;
        strcpy(merged, t->str[a]);
        strcat(merged, t->str[b]);
        for (id = 0; id < t->n; id++)
            if (strcmp(t->str[id], merged) == 0) break;
        if (id < t->n) free(merged);
        else if ((id = bpe_add(t, merged)) < 0) goto oom;
        if (t->n_merges == merges_cap) {
            int ncap = merges_cap ? 2 * merges_cap : 512;
            int (*nm)[2] = realloc(t->merges, (size_t)ncap * sizeof *nm);
            if (!nm) goto oom;
            t->merges = nm;
            merges_cap = ncap;
        }
        t->merges[t->n_merges][0] = a;
        t->merges[t->n_merges][1] = b;
        t->n_merges++;
        /* Apply it to every word, left to right, non-overlapping. */
        for (i = 0; i < n_words; i++) {
            for (j = 0, k = 0; j < lens[i]; j++) {
                if (j + 1 < lens[i] && words[i][j] == a && words[i][j + 1] == b) {
                    words[i][k++] = id;
                    j++;
                } else {
                    words[i][k++] = words[i][j];
                }
            }
            lens[i] = k;
        }
    }
    rc = 0;
    goto done;
oom:
    error_set_code(err, EXIT_INTERNAL, "out of memory training the planted tokenizer");
done:
    if (words)
        for (i = 0; i < n_words; i++) free(words[i]);
    free(words);
    free(lens);
    free(pairs);
    if (rc != 0) bpe_free(t);
    return rc;
}

/* The id of the token whose text (raw bytes) is `text`, or -1. */
static int bpe_token_id(const Bpe *t, const char *text) {
    unsigned int cp[256];
    int order[256], id;
    char sym[256];
    size_t n = 0;
    const unsigned char *p;
    byte_symbols(cp, order);
    for (p = (const unsigned char *)text; *p && n + 3 < sizeof sym; p++) n += (size_t)utf8_put(cp[*p], sym + n);
    sym[n] = 0;
    for (id = TOK_FIRST_BYTE; id < t->n; id++)
        if (strcmp(t->str[id], sym) == 0) return id;
    return -1;
}

static int write_tokenizer(const Bpe *t, SynthFiles *dir, int n_ctx, Error *err) {
    Buf b = {NULL, 0, 0, 0};
    int i;
    const char *bl = "{\"type\": \"ByteLevel\", \"add_prefix_space\": false, \"trim_offsets\": true, \"use_regex\": true}";
    buf_printf(&b, "{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n  \"added_tokens\": [\n");
    for (i = 0; i < 3; i++) {
        buf_printf(&b, "    {\"id\": %d, \"content\": ", i);
        buf_json_string(&b, special_tokens[i]);
        buf_printf(&b, ", \"single_word\": false, \"lstrip\": false, \"rstrip\": false, \"normalized\": false, "
                       "\"special\": true}%s\n", i < 2 ? "," : "");
    }
    buf_printf(&b, "  ],\n  \"normalizer\": {\"type\": \"NFC\"},\n");
    buf_printf(&b, "  \"pre_tokenizer\": %s,\n  \"post_processor\": %s,\n  \"decoder\": %s,\n", bl, bl, bl);
    buf_printf(&b, "  \"model\": {\n    \"type\": \"BPE\",\n    \"dropout\": null,\n    \"unk_token\": null,\n"
                   "    \"continuing_subword_prefix\": null,\n    \"end_of_word_suffix\": null,\n"
                   "    \"fuse_unk\": false,\n    \"byte_fallback\": false,\n    \"vocab\": {\n");
    for (i = 0; i < t->n; i++) {
        buf_printf(&b, "      ");
        buf_json_string(&b, t->str[i]);
        buf_printf(&b, ": %d%s\n", i, i + 1 < t->n ? "," : "");
    }
    buf_printf(&b, "    },\n    \"merges\": [\n");
    for (i = 0; i < t->n_merges; i++) {
        char *pair = malloc(strlen(t->str[t->merges[i][0]]) + strlen(t->str[t->merges[i][1]]) + 2);
        if (!pair) {
            b.failed = 1;
            break;
        }
        sprintf(pair, "%s %s", t->str[t->merges[i][0]], t->str[t->merges[i][1]]);
        buf_printf(&b, "      ");
        buf_json_string(&b, pair);
        buf_printf(&b, "%s\n", i + 1 < t->n_merges ? "," : "");
        free(pair);
    }
    buf_printf(&b, "    ]\n  }\n}\n");
    if (buf_take(&b, dir, "tokenizer.json", err) != 0) return -1;

    buf_printf(&b, "{\n  \"bos_token\": \"%s\",\n  \"eos_token\": \"%s\",\n  \"pad_token\": \"%s\",\n"
                   "  \"unk_token\": \"%s\"\n}\n",
               special_tokens[TOK_BOS], special_tokens[TOK_EOS], special_tokens[TOK_PAD], special_tokens[TOK_EOS]);
    if (buf_take(&b, dir, "special_tokens_map.json", err) != 0) return -1;

    buf_printf(&b, "{\n  \"add_bos_token\": false,\n  \"add_eos_token\": false,\n  \"bos_token\": \"%s\",\n"
                   "  \"eos_token\": \"%s\",\n  \"pad_token\": \"%s\",\n  \"unk_token\": \"%s\",\n"
                   "  \"model_max_length\": %d,\n  \"tokenizer_class\": \"GPTNeoXTokenizer\"\n}\n",
               special_tokens[TOK_BOS], special_tokens[TOK_EOS], special_tokens[TOK_PAD], special_tokens[TOK_EOS], n_ctx);
    return buf_take(&b, dir, "tokenizer_config.json", err);
}

/* ------------------------------------------------------------------------ */
/* config.json and data.jsonl                                               */

static int write_config(const ModelConfig *s, const char *model_name, const char *tokenizer_name, uint64_t seed,
                        int attn_only, SynthFiles *dir, Error *err) {
    Buf b = {NULL, 0, 0, 0};
    buf_printf(&b,
               "{\n  \"model_name\": \"%s\",\n  \"n_layers\": %d,\n  \"d_model\": %d,\n  \"d_mlp\": %d,\n"
               "  \"d_head\": %d,\n  \"n_heads\": %d,\n  \"n_ctx\": %d,\n  \"d_vocab\": %d,\n"
               "  \"act_fn\": \"gelu\",\n  \"normalization\": \"LN\",\n  \"attn_only\": %s,\n"
               "  \"shortformer_pos\": false,\n  \"ln_eps\": 1e-05,\n  \"tokenizer_name\": \"%s\",\n"
               "  \"seed\": %lu,\n  \"generated_by\": \"cleanup synth\"\n}\n",
               model_name, s->n_layers, s->d_model, s->d_mlp, s->d_head, s->n_heads, s->n_ctx, s->d_vocab,
               attn_only ? "true" : "false", tokenizer_name, (unsigned long)seed);
    return buf_take(&b, dir, "config.json", err);
}

/* Rows of n_ctx tokens starting with BOS. markov: a fixed random Markov chain
 * over the non-special tokens (each token has 4 preferred successors, taken 3
 * times out of 4), so the data has structure; otherwise uniform tokens. */
static int write_data(SynthFiles *dir, int rows, int n_ctx, int vocab, int markov, uint64_t seed, Error *err) {
    Buf b = {NULL, 0, 0, 0};
    Rng r = rng_stream(seed, "data");
    int *succ = NULL, row, p, n_ord = vocab - TOK_FIRST_BYTE, t;
    if (markov) {
        succ = alloc_array((size_t)vocab * 4, sizeof(int));
        if (!succ) return error_set_code(err, EXIT_INTERNAL, "out of memory");
        for (t = 0; t < vocab * 4; t++) succ[t] = TOK_FIRST_BYTE + rng_below(&r, n_ord);
    }
    for (row = 0; row < rows; row++) {
        int cur = TOK_FIRST_BYTE + rng_below(&r, n_ord);
        buf_printf(&b, "{\"tokens\":[%d", TOK_BOS);
        for (p = 1; p < n_ctx; p++) {
            buf_printf(&b, ",%d", cur);
            if (markov && rng_below(&r, 4) != 0) cur = succ[cur * 4 + rng_below(&r, 4)];
            else cur = TOK_FIRST_BYTE + rng_below(&r, n_ord);
        }
        buf_printf(&b, "]}\n");
    }
    free(succ);
    return buf_take(&b, dir, "data.jsonl", err);
}

/* ------------------------------------------------------------------------ */

int synth_is_planted(const char *model_name) {
    return model_name && strcmp(model_name, SYNTH_PLANTED_NAME) == 0;
}

int synth_build(const SynthOptions *opt, SynthFiles *files, Error *err) {
    TensorList *tl;
    ModelConfig s;
    Bpe bpe;
    int rc = -1, have_bpe = 0, i, answers[8];
    static const char *const answer_text[8] = {" bottom", " top", " State", " University",
                                               " __", " get", " Church", " church"};
    char seed_str[32];
    const char *metadata[7];

    memset(files, 0, sizeof *files);
    tl = alloc_array(1, sizeof *tl);
    if (!tl) return error_set_code(err, EXIT_INTERNAL, "out of memory");
    snprintf(seed_str, sizeof seed_str, "%lu", (unsigned long)opt->seed);
    metadata[0] = "format";
    metadata[1] = "pt";
    metadata[2] = "generated_by";
    metadata[3] = "cleanup synth";
    metadata[4] = "seed";
    metadata[5] = seed_str;
    metadata[6] = NULL;
    /* Both models are what write_config says: LN, GELU, with MLPs. */
    memset(&s, 0, sizeof s);
    s.normalization = NORM_LN;
    s.act_fn = ACT_GELU;

    if (opt->shape == SYNTH_PLANTED) {
        if (bpe_train(&bpe, err) != 0) goto done;
        have_bpe = 1;
        s.n_layers = P_LAYERS;
        s.d_model = P_D;
        s.n_heads = P_H;
        s.d_head = P_DH;
        s.d_mlp = P_M;
        s.n_ctx = P_CTX;
        s.d_vocab = bpe.n;
        s.attn_only = opt->plant && opt->plant->attn_only;
        for (i = 0; i < 8; i++) {
            answers[i] = bpe_token_id(&bpe, answer_text[i]);
            if (answers[i] < 0) {
                error_set_code(err, EXIT_INTERNAL, "planted tokenizer: '%s' is not one token", answer_text[i]);
                goto done;
            }
        }
        if (opt->plant && synth_plant_check(opt->plant, err) != 0) goto done;
        if (planted_weights(tl, &s, opt->seed, answers, opt->plant, err) != 0) goto done;
        if (write_tokenizer(&bpe, files, s.n_ctx, err) != 0) goto done;
        if (write_data(files, opt->rows, s.n_ctx, s.d_vocab, 1, opt->seed, err) != 0) goto done;
    } else {
        s.n_layers = 4;
        s.d_model = 512;
        s.n_heads = 8;
        s.d_head = 64;
        s.d_mlp = 2048;
        s.n_ctx = 1024;
        s.d_vocab = 48262;
        if (random_weights(tl, &s, opt->seed, err) != 0) goto done;
        if (write_data(files, opt->rows, s.n_ctx, s.d_vocab, 0, opt->seed, err) != 0) goto done;
    }
    if (tl_encode(tl, files, metadata, err) != 0) goto done;
    /* config.json last: synth_write writes it last, so its presence means the directory is
     * complete (make's target). */
    if (write_config(&s,
                     opt->shape != SYNTH_PLANTED ? SYNTH_RANDOM_NAME
                                                 : opt->plant ? SYNTH_VARIANT_NAME : SYNTH_PLANTED_NAME,
                     opt->shape == SYNTH_PLANTED ? "cleanup-planted-bpe" : "NeelNanda/gpt-neox-tokenizer-digits",
                     opt->seed, opt->shape == SYNTH_PLANTED && opt->plant && opt->plant->attn_only, files, err) != 0)
        goto done;
    rc = 0;
done:
    if (have_bpe) bpe_free(&bpe);
    tl_free(tl);
    free(tl);
    if (rc != 0) synth_files_free(files);
    return rc;
}

void synth_files_free(SynthFiles *files) {
    int i;
    for (i = 0; i < files->count; i++) free(files->files[i].data);
    memset(files, 0, sizeof *files);
}

int synth_write(const char *out_dir, const SynthOptions *opt, Error *err) {
    SynthFiles files;
    int i, rc = 0;
    if (make_dirs(out_dir, err) != 0) {
        err->code = EXIT_IO;
        return -1;
    }
    if (synth_build(opt, &files, err) != 0) return -1;
    for (i = 0; i < files.count && rc == 0; i++) {
        char *path = path_join(out_dir, files.files[i].name);
        rc = write_file_atomic(path, files.files[i].data, files.files[i].len, err);
        if (rc != 0) err->code = EXIT_IO;
        free(path);
    }
    synth_files_free(&files);
    return rc;
}
