/* ready.c - the readiness checklist of `cleanup info` (ready.h). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data.h"
#include "experiments.h"
#include "ready.h"
#include "synth.h"
#include "tokenizer.h"

/* Adds an item; a failure takes its exit code from `code` (EXIT_INPUT when 0). */
static void add(ReadyReport *r, const char *group, const char *what, ReadyStatus status, int code, const char *fmt,
                ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 6, 7)))
#endif
    ;
static void add(ReadyReport *r, const char *group, const char *what, ReadyStatus status, int code, const char *fmt,
                ...) {
    ReadyItem *it;
    va_list ap;
    if (r->n == READY_MAX_ITEMS) return;
    it = &r->item[r->n];
    it->group = group;
    it->what = what;
    it->status = status;
    it->code = status == READY_FAIL ? (code ? code : EXIT_INPUT) : EXIT_OK;
    va_start(ap, fmt);
    vsnprintf(it->detail, sizeof it->detail, fmt, ap);
    va_end(ap);
    if (status == READY_FAIL) {
        r->ready = 0;
        if (r->first_failure < 0) r->first_failure = r->n;
    }
    r->n++;
}

/* The file name part of a path, for short lines. */
static const char *base_name(const char *path) {
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

static void check_identity(const Model *m, ReadyReport *r) {
    const ModelIdentity *id = &r->identity;
    int n, k;
    model_fingerprints(m, &r->identity);
    if (id->identified)
        add(r, "model", "identity", READY_OK, 0,
            "gelu-4l: the weights match %d of %d fingerprints of the published checkpoint", id->matched, id->total);
    else if (id->shape_matches) {
        /* the first fingerprint that differs, to tell a near miss from other weights */
        const Fingerprint *fp = gelu4l_fingerprints(&n);
        char differs[200];
        for (k = 0; k < n - 1 && id->result[k].matches; k++) {
        }
        if (fp[k].kind == FP_MAX_B_IN)
            snprintf(differs, sizeof differs,
                     "the largest b_in is %.6f at layer %d neuron %d, not %.6f at layer %d neuron %d",
                     id->result[k].value, id->result[k].layer, id->result[k].neuron, fp[k].expected, fp[k].layer,
                     fp[k].neuron);
        else
            snprintf(differs, sizeof differs, "%s is %.6f, not %.6f", fp[k].what, id->result[k].value, fp[k].expected);
        add(r, "model", "identity", READY_FAIL, EXIT_INPUT,
            "%s: gelu-4l's shape, but the weights are not the published checkpoint (%d of %d fingerprints match; %s)",
            m->weights_path, id->matched, id->total, differs);
    }
    else if (synth_is_planted(m->cfg.model_name))
        add(r, "model", "identity", READY_NOTE, 0,
            "the bundled planted model, not gelu-4l: `all` checks it against its own expectations");
    else
        add(r, "model", "identity", READY_NOTE, 0,
            "not gelu-4l (its shape differs): `all` reports its numbers without reference values");
}

/* config, weights, identity. 0 if the model loaded. */
static int check_model(const ReadyOptions *opt, Model *m, ReadyReport *r) {
    ModelConfig cfg;
    Error err;
    char *config_path = path_join(opt->model_dir, "config.json");
    int rc = model_load_config(config_path, &cfg, &err);
    free(config_path);
    if (rc) {
        add(r, "model", "config", READY_FAIL, err.code, "%s", err.msg);
        return -1;
    }
    add(r, "model", "config", READY_OK, 0, "%d layers, %d heads x %d, d_model %d, d_mlp %d%s, n_ctx %d, d_vocab %d",
        cfg.n_layers, cfg.n_heads, cfg.d_head, cfg.d_model, cfg.d_mlp, cfg.attn_only ? " (attention-only)" : "",
        cfg.n_ctx, cfg.d_vocab);
    if (model_load(opt->model_dir, opt->weights, opt->process, m, &err)) {
        add(r, "model", "weights", READY_FAIL, err.code, "%s", err.msg);
        return -1;
    }
    r->model_loaded = 1;
    add(r, "model", "weights", READY_OK, 0,
        "%s: every tensor config.json implies, each of its shape, every value finite (%lu parameters)",
        base_name(m->weights_path), (unsigned long)model_param_count(m));
    check_identity(m, r);
    return 0;
}

/* The tokenizer and the paper's prompts. Returns the tokenizer (NULL if it did not load). */
static Tokenizer *check_tokenizer(const ReadyOptions *opt, const Model *m, int T, ReadyReport *r) {
    char *path = path_join(opt->model_dir, "tokenizer.json");
    Tokenizer *tok;
    Error err;
    const AdvPrompt *prompts;
    int n_prompts, i, bos, n_ids, V = m ? m->cfg.d_vocab : 0, min_len = 0, max_len = 0;
    if (!path_exists(path)) {
        add(r, "tokenizer", "loads", READY_FAIL, EXIT_INPUT,
            "%s: not found (Fig 4 needs it to tokenize its prompts)", path);
        free(path);
        return NULL;
    }
    tok = tokenizer_load(path, &err);
    free(path);
    if (!tok) {
        add(r, "tokenizer", "loads", READY_FAIL, err.code, "%s", err.msg);
        return NULL;
    }
    if (opt->bos >= 0) tokenizer_set_bos_id(tok, opt->bos);
    n_ids = tokenizer_vocab_size(tok);
    bos = tokenizer_bos_id(tok);
    add(r, "tokenizer", "loads", READY_OK, 0, "tokenizer.json: %d ids; special tokens BOS %d, EOS %d, PAD %d", n_ids,
        bos, tokenizer_eos_id(tok), tokenizer_pad_id(tok));
    if (!m) {
        add(r, "tokenizer", "vocabulary", READY_NOTE, 0, "not checked: the model did not load");
        return tok;
    }
    if (n_ids > V)
        add(r, "tokenizer", "vocabulary", READY_FAIL, EXIT_INPUT,
            "the tokenizer's ids go up to %d, beyond the model's d_vocab %d: not this model's tokenizer", n_ids - 1, V);
    else
        add(r, "tokenizer", "vocabulary", READY_OK, 0, "%d ids, d_vocab %d%s", n_ids, V,
            n_ids < V ? " (the model has unused rows, as padded vocabularies do)" : "");
    if (bos < 0 || bos >= V) {
        add(r, "tokenizer", "BOS", READY_FAIL, EXIT_INPUT,
            bos < 0 ? "the tokenizer defines no BOS token (give --bos ID)" : "BOS id %d is outside d_vocab %d", bos, V);
        return tok;
    }
    add(r, "tokenizer", "BOS", READY_OK, 0, "id %d, prepended to prompts; dataset rows must start with it", bos);
    prompts = exp_paper_prompts(&n_prompts);
    for (i = 0; i < n_prompts; i++) {
        PromptTokens pt;
        if (exp_tokenize_prompt(m, tok, &prompts[i], i + 1, T, &pt, &err)) {
            add(r, "tokenizer", "paper prompts", READY_FAIL, err.code == EXIT_USAGE ? EXIT_INPUT : err.code, "%s",
                err.msg);
            return tok;
        }
        if (i == 0 || pt.n < min_len) min_len = pt.n;
        if (i == 0 || pt.n > max_len) max_len = pt.n;
        free(pt.tokens);
    }
    add(r, "tokenizer", "paper prompts", READY_OK, 0,
        "the %d Fig 4 prompts encode (%d to %d tokens with BOS), every answer a single token", n_prompts, min_len,
        max_len);
    return tok;
}

/* The rows `all` would read, and their first token. */
static void check_data(const ReadyOptions *opt, const Model *m, Tokenizer *tok, int T, ReadyReport *r) {
    char **paths = NULL;
    int n_paths = 0, i, row, bos = tok ? tokenizer_bos_id(tok) : opt->bos, not_bos = 0, first_bad = -1;
    Dataset ds;
    Error err;
    if (!m) {
        add(r, "data", "rows", READY_NOTE, 0, "not checked: the model did not load");
        return;
    }
    if (opt->data && !is_directory(opt->data)) {
        if (!path_exists(opt->data)) {
            add(r, "data", "rows", READY_FAIL, EXIT_INPUT, "%s: not found", opt->data);
            return;
        }
        paths = malloc(sizeof *paths);
        if (!paths) {
            add(r, "data", "rows", READY_FAIL, EXIT_INTERNAL, "out of memory");
            return;
        }
        paths[0] = xstrdup(opt->data);
        n_paths = 1;
    } else if (data_find_files(opt->data ? opt->data : opt->model_dir, &paths, &n_paths, &err)) {
        add(r, "data", "rows", READY_FAIL, err.code, "%s", err.msg);
        return;
    }
    memset(&ds, 0, sizeof ds);
    if (data_load_files(paths, n_paths, opt->n_rows, T, m->cfg.n_ctx, m->cfg.d_vocab, tok, &ds, &err)) {
        add(r, "data", "rows", READY_FAIL, err.code, "%s", err.msg);
    } else {
        add(r, "data", "rows", READY_OK, 0, "%d rows of %d tokens from %s%s (%s), every id in [0, %d)", ds.n_rows,
            ds.seq_len, base_name(paths[0]), n_paths > 1 ? " and more files" : "", ds.format, m->cfg.d_vocab);
        for (row = 0; row < ds.n_rows; row++)
            if (ds.tokens[(size_t)row * ds.seq_len] != bos) {
                if (first_bad < 0) first_bad = row;
                not_bos++;
            }
        if (bos < 0)
            add(r, "data", "BOS first", READY_NOTE, 0, "not checked: no BOS id");
        else if (not_bos)
            add(r, "data", "BOS first", READY_FAIL, EXIT_INPUT,
                "%s: %d of %d rows do not start with BOS (id %d); row %d starts with %d", base_name(paths[0]), not_bos,
                ds.n_rows, bos, first_bad, ds.tokens[(size_t)first_bad * ds.seq_len]);
        else
            add(r, "data", "BOS first", READY_OK, 0, "every row starts with BOS (id %d)", bos);
        data_free(&ds);
    }
    for (i = 0; i < n_paths; i++) free(paths[i]);
    free(paths);
}

void ready_check(const ReadyOptions *opt, Model *m, ReadyReport *r) {
    Tokenizer *tok;
    int T;
    memset(r, 0, sizeof *r);
    r->ready = 1;
    r->first_failure = -1;
    check_model(opt, m, r);
    if (opt->model_only) return;
    T = r->model_loaded ? (opt->seq_len > 0 ? opt->seq_len : m->cfg.n_ctx) : 0;
    if (r->model_loaded && T > m->cfg.n_ctx) {
        add(r, "data", "rows", READY_FAIL, EXIT_USAGE, "--seq-len %d is longer than the model's n_ctx %d", T,
            m->cfg.n_ctx);
        return;
    }
    tok = check_tokenizer(opt, r->model_loaded ? m : NULL, T, r);
    check_data(opt, r->model_loaded ? m : NULL, tok, T, r);
    if (tok) tokenizer_free(tok);
}
