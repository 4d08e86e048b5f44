/* cli_tools.c - the commands around the experiments: run, info, tokenize,
 * detokenize, synth and verify. Each parses its options, calls the library and
 * prints; the library itself never prints or exits. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "model.h"
#include "ready.h"
#include "references.h"
#include "stats.h"
#include "sha256.h"
#include "synth.h"
#include "tokenizer.h"
#include "verify.h"

#define DEFAULT_MODEL_DIR "weights/gelu-4l"
#define MAX_HOOKS 256

/* ------------------------------------------------------------------------ */
/* cleanup run                                                               */
/* ------------------------------------------------------------------------ */

static const char run_help[] =
    "usage: cleanup run [--model DIR] [--weights FILE] (--tokens 1,2,3 | --text TEXT) --hook NAME [--hook NAME ...]\n"
    "                   [--no-processing] [--bos-id ID] --out DIR\n"
    "\n"
    "Runs the model on one sequence and writes each requested hook point to DIR/NAME.dat:\n"
    "a first line \"# NAME shape d1 d2 ...\" (TransformerLens shape without the batch dimension),\n"
    "then one line per index of the leading dimensions with the last dimension's values (%.9g).\n"
    "\n"
    "  --model DIR       model directory (config.json + *.pth or *.safetensors); default " DEFAULT_MODEL_DIR "\n"
    "  --weights FILE    use this weights file instead of searching DIR\n"
    "  --tokens IDS      comma-separated token ids, used as given (include BOS yourself)\n"
    "  --text TEXT       text, tokenized with DIR/tokenizer.json, BOS prepended\n"
    "  --bos-id ID       BOS id for --text (default: from the tokenizer files; --bos ID is the same)\n"
    "  --hook NAME       a TransformerLens hook name (blocks.0.attn.hook_pattern, logits, ...) or 'all'\n"
    "  --no-processing   the raw model: no fold_ln / centering / value-bias folding\n"
    "  --out DIR         output directory (created if needed)\n";

/* Parses "1,2,3" into a new array. Dies with EXIT_USAGE on anything else. */
static int *parse_token_list(const char *s, int *count) {
    int *ids = xalloc_array(strlen(s) / 2 + 2, sizeof(int), "token list");
    char *item = xstrdup(s); /* one id at a time, for parse_long (range-checked where long is 32 bits too) */
    int n = 0;
    const char *p = s;
    while (*p) {
        size_t len = strcspn(p, ",");
        long v;
        memcpy(item, p, len);
        item[len] = '\0';
        if (parse_long(item, 0, 2147483647L, &v) != 0)
            die(EXIT_USAGE, "--tokens must be comma-separated non-negative integers, not '%s'", s);
        ids[n++] = (int)v;
        p += len;
        if (*p) p++;
    }
    free(item);
    if (n == 0) die(EXIT_USAGE, "--tokens is empty");
    *count = n;
    return ids;
}

/* Writes one hook as text, in its TransformerLens shape (HookView's strides); the batch
 * dimension (one row here) is dropped. */
static int write_hook_dat(const char *dir, const char *name, const HookView *v, Error *err) {
    char *file_name = xalloc_array(strlen(name) + 8, 1, "file name"), *path, *buf;
    size_t rows = 1, last, r, j, cap, used = 0;
    int d, rc;
    sprintf(file_name, "%s.dat", name);
    path = path_join(dir, file_name);
    free(file_name);
    last = (size_t)v->shape[v->ndim - 1];
    for (d = 1; d < v->ndim - 1; d++) rows *= (size_t)v->shape[d];
    cap = 64 + strlen(name) + rows * (last * 17 + 1);
    buf = xalloc_array(cap, 1, "hook text");
    used += (size_t)snprintf(buf + used, cap - used, "# %s shape", name);
    for (d = 1; d < v->ndim; d++) used += (size_t)snprintf(buf + used, cap - used, " %d", v->shape[d]);
    buf[used++] = '\n';
    for (r = 0; r < rows; r++) {
        const float *row = v->data;
        size_t rest = r;
        for (d = v->ndim - 2; d >= 1; d--) { /* r's index along each middle dimension */
            row += rest % (size_t)v->shape[d] * v->stride[d];
            rest /= (size_t)v->shape[d];
        }
        for (j = 0; j < last; j++)
            used += (size_t)snprintf(buf + used, cap - used, j ? " %.9g" : "%.9g", row[j * v->stride[v->ndim - 1]]);
        buf[used++] = '\n';
    }
    rc = write_file_atomic(path, buf, used, err);
    free(buf);
    free(path);
    return rc;
}

/* --text: tokenized with the model directory's tokenizer.json, BOS (--bos, else the
 * tokenizer's) prepended; must fit the model's context. Dies on error. */
static int *tokenize_text(const char *model_dir, const Model *model, const char *text, const char *bos_arg,
                          int *n_tokens) {
    char *tok_path = path_join(model_dir, "tokenizer.json");
    Tokenizer *tok;
    Error err;
    int *ids, *tokens;
    size_t n_ids;
    long bos;
    if (!path_exists(tok_path)) die(EXIT_INPUT, "%s: no tokenizer.json; use --tokens instead of --text", model_dir);
    tok = tokenizer_load(tok_path, &err);
    if (!tok) die_error(&err);
    bos = bos_arg ? arg_int(bos_arg, 0, model->cfg.d_vocab - 1, "--bos-id") : tokenizer_bos_id(tok);
    if (bos < 0) die(EXIT_INPUT, "%s: the tokenizer defines no BOS token; give --bos-id ID", tok_path);
    if (tokenizer_encode(tok, text, strlen(text), &ids, &n_ids, &err) != 0) die_error(&err);
    if (n_ids + 1 > (size_t)model->cfg.n_ctx)
        die(EXIT_INPUT, "--text: %lu tokens with BOS is more than the model's context of %d", (unsigned long)(n_ids + 1),
            model->cfg.n_ctx);
    tokens = xalloc_array(n_ids + 1, sizeof(int), "tokens");
    tokens[0] = (int)bos;
    memcpy(tokens + 1, ids, n_ids * sizeof(int));
    *n_tokens = (int)n_ids + 1;
    free(ids);
    tokenizer_free(tok);
    free(tok_path);
    return tokens;
}

int cmd_run(int argc, char **argv) {
    const char *model_dir = DEFAULT_MODEL_DIR, *weights = NULL, *tokens_arg = NULL, *text = NULL, *out = NULL, *v;
    const char *bos_arg = NULL;
    char *hooks[MAX_HOOKS];
    int n_hooks = 0, all_hooks = 0, process = 1, i, n_tokens = 0, *tokens = NULL;
    Model model;
    Activations acts;
    HookRequest keep;
    HookPoint *points;
    size_t n_points;
    char name[96];
    Error err = {"", 0};
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(run_help, stdout);
            return EXIT_OK;
        } else if (arg_value(argc, argv, &i, "--model", &model_dir)) {
        } else if (arg_value(argc, argv, &i, "--weights", &weights)) {
        } else if (arg_value(argc, argv, &i, "--tokens", &tokens_arg)) {
        } else if (arg_value(argc, argv, &i, "--text", &text)) {
        } else if (arg_value(argc, argv, &i, "--bos-id", &bos_arg) || arg_value(argc, argv, &i, "--bos", &bos_arg)) {
        } else if (arg_value(argc, argv, &i, "--out", &out)) {
        } else if (arg_value(argc, argv, &i, "--hook", &v)) {
            if (strcmp(v, "all") == 0) all_hooks = 1;
            else if (n_hooks < MAX_HOOKS) hooks[n_hooks++] = (char *)v;
            else die(EXIT_USAGE, "too many --hook options (at most %d)", MAX_HOOKS);
        } else if (strcmp(argv[i], "--no-processing") == 0) {
            process = 0;
        } else {
            static const char *const options[] = {"--model", "--weights", "--tokens", "--text", "--bos-id", "--out",
                                                  "--hook", "--no-processing", "--help", NULL};
            die_unknown_option("run", argv[i], options);
        }
    }
    if (!tokens_arg == !text) die(EXIT_USAGE, "run: give exactly one of --tokens or --text (see cleanup run --help)");
    if (!out) die(EXIT_USAGE, "run: --out DIR is required");
    if (!all_hooks && n_hooks == 0) die(EXIT_USAGE, "run: give at least one --hook NAME (or --hook all)");
    if (model_load(model_dir, weights, process, &model, &err) != 0) die_error(&err);
    if (tokens_arg) {
        tokens = parse_token_list(tokens_arg, &n_tokens);
    } else {
        tokens = tokenize_text(model_dir, &model, text, bos_arg, &n_tokens);
    }
    if (model_check_tokens(&model, tokens, (size_t)n_tokens, n_tokens, tokens_arg ? "--tokens" : "--text", &err) != 0)
        die_error(&err);
    /* Unknown names are refused before any work is done. */
    n_points = all_hooks ? hook_points(&model.cfg, NULL) : (size_t)n_hooks;
    points = xalloc_array(n_points, sizeof *points, "hook list");
    if (all_hooks) hook_points(&model.cfg, points);
    for (i = 0; !all_hooks && i < n_hooks; i++)
        if (hook_parse(&model.cfg, hooks[i], &points[i], &err) != 0) die_error(&err);
    /* The run keeps the hooks asked for, and only those. */
    memset(&keep, 0, sizeof keep);
    for (i = 0; i < (int)n_points; i++) hook_request_add(&keep, points[i].layer, HOOK_BIT(points[i].kind));
    if (activations_alloc_hooks(&acts, &model, 1, n_tokens, &keep, &err) != 0) die_error(&err);
    model_forward(&model, &acts, tokens, 1, n_tokens, NULL);
    if (make_dirs(out, &err) != 0) die_error(&err);
    for (i = 0; i < (int)n_points; i++) {
        HookView view;
        if (hook_view(&model, &acts, points[i], &view, &err) != 0) die_error(&err);
        hook_point_name(points[i], name, sizeof name);
        /* the file is named as the hook was asked for (an alias stays an alias) */
        if (write_hook_dat(out, all_hooks ? name : hooks[i], &view, &err) != 0) die_error(&err);
    }
    printf("wrote %d hook%s for %d tokens to %s\n", (int)n_points, n_points == 1 ? "" : "s", n_tokens, out);
    free(points);
    free(tokens);
    activations_free(&acts);
    model_free(&model);
    return EXIT_OK;
}

/* ------------------------------------------------------------------------ */
/* cleanup info                                                              */
/* ------------------------------------------------------------------------ */

static const char info_help[] =
    "usage: cleanup info [--model DIR] [--weights FILE] [--data FILE|DIR] [--rows N] [--seq-len T]\n"
    "                    [--bos-id ID] [--no-processing] [--model-only]\n"
    "\n"
    "Is a model directory ready to reproduce the paper? Loads the model and prints its\n"
    "configuration, parameter count, SHA-256 of config.json and the weights file and the\n"
    "weight processing, then a checklist:\n"
    "  model      config.json; the weights (every tensor, each of its shape, finite values);\n"
    "             identity from the weights: gelu-4l's fingerprints (docs/PROTOCOL.md section 7).\n"
    "             gelu-4l's shape with other weights fails: it is not the paper's model\n"
    "  tokenizer  DIR/tokenizer.json loads; its ids fit d_vocab; a BOS id; the paper's four\n"
    "             Fig 4 prompts encode with single-token answers\n"
    "  data       the rows `cleanup all` would read: N rows of T tokens, ids in range, BOS first\n"
    "and ends with `ready: yes` or `ready: no`. The options mean what they mean for `all`.\n"
    "\n"
    "  --model DIR       model directory; default " DEFAULT_MODEL_DIR "\n"
    "  --weights FILE    use this weights file instead of searching DIR\n"
    "  --data FILE|DIR   the rows to check (default: DIR's data.jsonl, else its rows-*.json)\n"
    "  --rows N          rows needed (default 300, as for `all`; --n-prompts N is the same)\n"
    "  --seq-len T       tokens per row (default n_ctx)\n"
    "  --bos-id ID       BOS id (default: the tokenizer's; --bos ID is the same)\n"
    "  --no-processing   load the raw weights (the fingerprints are measured on the processed\n"
    "                    view of the same weights either way)\n"
    "  --model-only      check the model alone (no tokenizer, no data)\n"
    "\n"
    "exit codes: 0 ready; 1 bad command line; otherwise the code of the first failed item\n"
    "(2 a missing, malformed or unfitting input; 5 out of memory), with that item on stderr.\n";

/* The model's configuration and files, as `info` has always printed them. */
static void print_model_summary(const char *model_dir, const Model *model) {
    const char *act_names[] = {"gelu", "gelu_new", "relu"};
    const ModelConfig *c = &model->cfg;
    char hex[65];
    Error err;
    printf("model directory   %s\n", model_dir);
    printf("model name        %s\n", c->model_name[0] ? c->model_name : "(not given)");
    printf("layers            %d\n", c->n_layers);
    printf("d_model           %d\n", c->d_model);
    printf("heads x d_head    %d x %d\n", c->n_heads, c->d_head);
    printf("d_mlp             %d%s\n", c->d_mlp, c->attn_only ? " (attention-only: no MLPs)" : "");
    printf("n_ctx             %d\n", c->n_ctx);
    printf("d_vocab           %d\n", c->d_vocab);
    printf("act_fn            %s (%s)\n", c->act_fn_name, act_names[c->act_fn]);
    printf("normalization     %s, eps %g\n", c->normalization == NORM_LN ? "LN" : "LNPre", (double)c->eps);
    printf("tokenizer         %s\n", c->tokenizer_name[0] ? c->tokenizer_name : "(not given)");
    printf("parameters        %lu\n", (unsigned long)model_param_count(model));
    if (sha256_file_hex(model->config_path, hex, &err) != 0) die_error(&err);
    printf("sha256            %s  %s\n", hex, model->config_path);
    printf("sha256            %s  %s\n", model->weights_sha256, model->weights_path);
    if (model->processed)
        printf("processing        TransformerLens defaults: fold_ln, center_writing_weights, center_unembed,\n"
               "                  fold_value_biases (LayerNorms become LNPre)\n");
    else
        printf("processing        none (--no-processing): LayerNorm with weight and bias, nothing folded\n");
}

/* The checklist, one line per item under its group, and the verdict. */
static void print_checklist(const ReadyReport *r) {
    const char *group = "";
    int i;
    printf("\nready to reproduce?\n");
    for (i = 0; i < r->n; i++) {
        const ReadyItem *it = &r->item[i];
        const char *mark = it->status == READY_OK ? "ok  " : it->status == READY_FAIL ? "FAIL" : "--  ";
        if (strcmp(group, it->group) != 0) printf("%s\n", it->group);
        group = it->group;
        printf("  %s  %-14s %s\n", mark, it->what, it->detail);
    }
    printf("ready: %s\n", r->ready ? "yes" : "no");
}

int cmd_info(int argc, char **argv) {
    ReadyOptions opt;
    ReadyReport report;
    Model model;
    const char *v;
    int i;
    memset(&opt, 0, sizeof opt);
    opt.model_dir = DEFAULT_MODEL_DIR;
    opt.process = 1;
    opt.bos = -1;
    opt.n_rows = 300;
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(info_help, stdout);
            return EXIT_OK;
        } else if (arg_value(argc, argv, &i, "--model", &opt.model_dir)) {
        } else if (arg_value(argc, argv, &i, "--weights", &opt.weights)) {
        } else if (arg_value(argc, argv, &i, "--data", &opt.data)) {
        } else if (arg_value(argc, argv, &i, "--rows", &v) || arg_value(argc, argv, &i, "--n-prompts", &v)) {
            opt.n_rows = (int)arg_int(v, 1, 100000000, "--rows");
        } else if (arg_value(argc, argv, &i, "--seq-len", &v)) {
            opt.seq_len = (int)arg_int(v, 1, 1 << 24, "--seq-len");
        } else if (arg_value(argc, argv, &i, "--bos-id", &v) || arg_value(argc, argv, &i, "--bos", &v)) {
            opt.bos = (int)arg_int(v, 0, 100000000, "--bos-id");
        } else if (strcmp(argv[i], "--no-processing") == 0) {
            opt.process = 0;
        } else if (strcmp(argv[i], "--model-only") == 0) {
            opt.model_only = 1;
        } else {
            static const char *const options[] = {"--model", "--weights", "--data", "--rows", "--n-prompts", "--seq-len",
                                                  "--bos-id", "--no-processing", "--model-only", "--help", NULL};
            die_unknown_option("info", argv[i], options);
        }
    }
    ready_check(&opt, &model, &report);
    if (report.model_loaded) print_model_summary(opt.model_dir, &model);
    print_checklist(&report);
    if (report.model_loaded) model_free(&model);
    if (!report.ready) {
        const ReadyItem *first = &report.item[report.first_failure];
        fflush(stdout);
        fprintf(stderr, "cleanup: not ready: %s\n", first->detail);
        return first->code;
    }
    return EXIT_OK;
}

/* ------------------------------------------------------------------------ */
/* cleanup tokenize / detokenize                                             */
/* ------------------------------------------------------------------------ */

/* A growable list of token ids. */
typedef struct {
    int *v;
    size_t n, cap;
} IdList;

static void idlist_push(IdList *l, int id) {
    if (l->n == l->cap) {
        size_t ncap = l->cap ? l->cap * 2 : 64;
        int *nv = realloc(l->v, ncap * sizeof *nv);
        if (!nv) die(EXIT_INTERNAL, "out of memory");
        l->v = nv;
        l->cap = ncap;
    }
    l->v[l->n++] = id;
}

static void tokenize_help(FILE *f) {
    fprintf(f,
            "usage: cleanup tokenize (--tokenizer FILE | --model DIR) [--bos] [--bos-id ID] (--file F | TEXT)\n"
            "\n"
            "Encodes UTF-8 text with an HF tokenizer.json (byte-level BPE; the ids are those the\n"
            "HF tokenizers library gives with add_special_tokens=False) and prints the ids\n"
            "space-separated on one line.\n"
            "\n"
            "  --tokenizer FILE  the tokenizer.json to use\n"
            "  --model DIR       use DIR/tokenizer.json (BOS/EOS/PAD come from tokenizer_config.json\n"
            "                    or special_tokens_map.json beside it when present)\n"
            "  --bos             prepend the BOS token\n"
            "  --bos-id ID       prepend token ID as BOS (implies --bos)\n"
            "  --file F          read the text from file F ('-' = standard input), byte for byte\n"
            "  TEXT              the text itself (use -- before a TEXT that starts with '-')\n"
            "\n"
            "Invalid UTF-8 is an error naming the byte offset.\n"
            "exit codes: 0 ok, 1 bad command line, 2 bad tokenizer or input, 5 out of memory\n");
}

static void detokenize_help(FILE *f) {
    fprintf(f,
            "usage: cleanup detokenize (--tokenizer FILE | --model DIR) [--file F] IDS...\n"
            "\n"
            "Decodes token ids and writes the text to standard output byte for byte (no newline\n"
            "added; special tokens included). IDS are integers separated by spaces or commas, as\n"
            "arguments or read from --file F ('-' = standard input). The exact inverse of\n"
            "`cleanup tokenize` for valid UTF-8 text.\n"
            "\n"
            "  --tokenizer FILE  the tokenizer.json to use\n"
            "  --model DIR       use DIR/tokenizer.json\n"
            "exit codes: 0 ok, 1 bad command line, 2 bad tokenizer or unknown id, 3 write error\n");
}

/* Reads a whole file, or standard input for "-". */
static int read_input(const char *path, unsigned char **data, size_t *len, Error *err) {
    ByteBuffer b = {NULL, 0, 0};
    if (strcmp(path, "-") != 0) return read_file(path, (size_t)1 << 30, data, len, err);
    for (;;) {
        size_t got;
        if (bytebuf_reserve(&b, 65536)) {
            free(b.b);
            return error_set_code(err, EXIT_INTERNAL, "standard input: out of memory");
        }
        got = fread(b.b + b.n, 1, 65536, stdin);
        b.n += got;
        if (got == 0) break;
    }
    if (ferror(stdin)) {
        free(b.b);
        return error_set(err, "standard input: read error");
    }
    b.b[b.n] = '\0';
    *data = (unsigned char *)b.b;
    *len = b.n;
    return 0;
}

/* Loads the tokenizer named by --tokenizer or --model; dies on error. */
static Tokenizer *cli_load(const char *file, const char *model_dir, const char *cmd) {
    Error err;
    Tokenizer *tok;
    char *path;
    if ((file != NULL) == (model_dir != NULL))
        die(EXIT_USAGE, "%s: give exactly one of --tokenizer FILE or --model DIR (see --help)", cmd);
    path = file ? xstrdup(file) : path_join(model_dir, "tokenizer.json");
    tok = tokenizer_load(path, &err);
    free(path);
    if (!tok) die_error(&err);
    return tok;
}

int cmd_tokenize(int argc, char **argv) {
    const char *file = NULL, *model = NULL, *input = NULL, *text = NULL, *bos_id = NULL;
    int i, want_bos = 0, rc;
    Tokenizer *tok;
    unsigned char *data = NULL;
    size_t len, n, k;
    int *ids;
    Error err;
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            tokenize_help(stdout);
            return EXIT_OK;
        }
        if (arg_value(argc, argv, &i, "--tokenizer", &file) || arg_value(argc, argv, &i, "--model", &model) ||
            arg_value(argc, argv, &i, "--file", &input) || arg_value(argc, argv, &i, "--bos-id", &bos_id))
            continue;
        if (strcmp(argv[i], "--bos") == 0) {
            want_bos = 1;
            continue;
        }
        if (strcmp(argv[i], "--") == 0 && i + 1 < argc) {
            i++;
        } else if (argv[i][0] == '-' && argv[i][1] != '\0') {
            static const char *const options[] = {"--tokenizer", "--model", "--file", "--bos", "--bos-id", "--help",
                                                  NULL};
            die_unknown_option("tokenize", argv[i], options);
        }
        if (text) die(EXIT_USAGE, "tokenize: give the TEXT as one argument (quote it)");
        text = argv[i];
    }
    if ((text != NULL) == (input != NULL)) die(EXIT_USAGE, "tokenize: give exactly one of --file F or TEXT (see --help)");
    tok = cli_load(file, model, "tokenize");
    if (bos_id) {
        tokenizer_set_bos_id(tok, (int)arg_int(bos_id, 0, tokenizer_vocab_size(tok) - 1, "--bos-id"));
        want_bos = 1;
    }
    if (want_bos && tokenizer_bos_id(tok) < 0) {
        tokenizer_free(tok);
        die(EXIT_USAGE, "tokenize: this tokenizer defines no BOS token (no tokenizer_config.json, "
                        "special_tokens_map.json or template); give --bos-id ID");
    }
    if (input) {
        if (read_input(input, &data, &len, &err)) {
            tokenizer_free(tok);
            die_error(&err);
        }
    } else {
        len = strlen(text);
    }
    rc = tokenizer_encode(tok, input ? (const char *)data : text, len, &ids, &n, &err);
    if (rc) {
        tokenizer_free(tok);
        free(data);
        if (input) {
            /* Name the file instead of "input text". */
            const char *msg = strncmp(err.msg, "input text: ", 12) == 0 ? err.msg + 12 : err.msg;
            die(err.code ? err.code : EXIT_INPUT, "%s: %s", strcmp(input, "-") == 0 ? "standard input" : input, msg);
        }
        die_error(&err);
    }
    if (want_bos) printf("%d", tokenizer_bos_id(tok));
    for (k = 0; k < n; k++) printf(k == 0 && !want_bos ? "%d" : " %d", ids[k]);
    printf("\n");
    free(ids);
    free(data);
    tokenizer_free(tok);
    if (fflush(stdout) != 0 || ferror(stdout)) die(EXIT_IO, "tokenize: cannot write to standard output");
    return EXIT_OK;
}

/* Appends the ids written in s (integers separated by spaces, tabs, newlines or commas). */
static void parse_ids(const char *s, IdList *ids, const char *what) {
    const char *p = s;
    for (;;) {
        char num[32];
        size_t n = 0;
        long v = 0;
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == ',') p++;
        if (*p == '\0') break;
        while (*p && *p != ' ' && *p != '\t' && *p != '\n' && *p != '\r' && *p != ',') {
            if (n + 1 < sizeof num) num[n] = *p;
            n++;
            p++;
        }
        if (n + 1 > sizeof num) die(EXIT_USAGE, "detokenize: %s: '%.20s...' is not a token id", what, p - n);
        num[n] = '\0';
        if (parse_long(num, 0, 2147483647L, &v)) die(EXIT_USAGE, "detokenize: %s: '%s' is not a token id", what, num);
        idlist_push(ids, (int)v);
    }
}

int cmd_detokenize(int argc, char **argv) {
    const char *file = NULL, *model = NULL, *input = NULL;
    int i;
    Tokenizer *tok;
    IdList ids = {NULL, 0, 0};
    char *text;
    size_t len;
    Error err;
    int have_args = 0;
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            detokenize_help(stdout);
            return EXIT_OK;
        }
        if (arg_value(argc, argv, &i, "--tokenizer", &file) || arg_value(argc, argv, &i, "--model", &model) ||
            arg_value(argc, argv, &i, "--file", &input))
            continue;
        if (argv[i][0] == '-' && argv[i][1] != '\0') {
            static const char *const options[] = {"--tokenizer", "--model", "--file", "--help", NULL};
            die_unknown_option("detokenize", argv[i], options);
        }
        parse_ids(argv[i], &ids, "argument");
        have_args = 1;
    }
    if (input) {
        unsigned char *data;
        size_t dl;
        if (have_args) die(EXIT_USAGE, "detokenize: give IDS as arguments or --file, not both");
        if (read_input(input, &data, &dl, &err)) die_error(&err);
        if (memchr(data, '\0', dl)) die(EXIT_USAGE, "detokenize: %s: not a list of ids (NUL byte)", input);
        parse_ids((const char *)data, &ids, input);
        free(data);
    } else if (!have_args) {
        die(EXIT_USAGE, "detokenize: no ids given (see --help)");
    }
    tok = cli_load(file, model, "detokenize");
    if (tokenizer_decode(tok, ids.v, ids.n, &text, &len, &err)) {
        tokenizer_free(tok);
        free(ids.v);
        die_error(&err);
    }
    if (len && fwrite(text, 1, len, stdout) != len) die(EXIT_IO, "detokenize: cannot write to standard output");
    free(text);
    free(ids.v);
    tokenizer_free(tok);
    if (fflush(stdout) != 0 || ferror(stdout)) die(EXIT_IO, "detokenize: cannot write to standard output");
    return EXIT_OK;
}

/* ------------------------------------------------------------------------ */
/* cleanup synth                                                             */
/* ------------------------------------------------------------------------ */

static void synth_usage(FILE *f) {
    fprintf(f,
            "usage: cleanup synth [--shape planted|gelu-4l] [--out DIR] [--seed N] [--rows N]\n"
            "                     [--writer LxHy] [--cleaners LIST] [--attn-only]\n"
            "\n"
            "Writes a model directory in the published formats (config.json,\n"
            "model.safetensors, data.jsonl; tokenizer files for the planted model).\n"
            "  --shape planted   the bundled planted model (default; out: weights/planted):\n"
            "                    gelu-4l's architecture at width 64 with a planted\n"
            "                    memory-management circuit (L0H2 writes, L2H2..L2H7 erase)\n"
            "  --shape gelu-4l   random weights of gelu-4l's exact shapes, for benchmarks\n"
            "                    (out: weights/gelu-4l-random; about 250 MB)\n"
            "  --seed N          random seed (default 0: the bundled model)\n"
            "  --rows N          data rows to write (default 300)\n"
            "  --print-checks    print the planted model's expected results and exit\n"
            "  --writer LxHy, --cleaners LIST, --attn-only\n"
            "                    a planted variant (needs --out): the circuit elsewhere, e.g.\n"
            "                    --writer L1H5 --cleaners L3H0,L3H1 (cleaners in one later layer,\n"
            "                    equal shares), and/or no MLPs; model_name cleanup-planted-variant\n"
            "Output is byte-identical for the same options on every platform.\n");
}

/* "L1H5" into layer and head (range checked by synth_plant_check); dies on anything else. */
static void synth_parse_head(const char *s, const char *what, int *layer, int *head) {
    char *end;
    long l, h;
    if (s[0] != 'L') die(EXIT_USAGE, "%s: '%s' is not a head name like L1H5", what, s);
    l = strtol(s + 1, &end, 10);
    if (end == s + 1 || *end != 'H') die(EXIT_USAGE, "%s: '%s' is not a head name like L1H5", what, s);
    h = strtol(end + 1, &end, 10);
    if (*end != '\0' || end == s || l < 0 || h < 0 || l > 1000 || h > 1000)
        die(EXIT_USAGE, "%s: '%s' is not a head name like L1H5", what, s);
    *layer = (int)l;
    *head = (int)h;
}

/* --cleaners L3H0,L3H1: heads of one layer into p. Dies on a bad list. */
static void synth_parse_cleaners(const char *list, SynthPlant *p) {
    char buf[256], *tok;
    if (strlen(list) >= sizeof buf) die(EXIT_USAGE, "--cleaners: list too long");
    strcpy(buf, list);
    p->n_cleaners = 0;
    for (tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        int l, h;
        synth_parse_head(tok, "--cleaners", &l, &h);
        if (p->n_cleaners == SYNTH_MAX_CLEANERS) die(EXIT_USAGE, "--cleaners: at most %d heads", SYNTH_MAX_CLEANERS);
        if (p->n_cleaners > 0 && l != p->clean_layer)
            die(EXIT_USAGE, "--cleaners: %s is not in layer %d like the first cleaner", tok, p->clean_layer);
        p->clean_layer = l;
        p->cleaners[p->n_cleaners++] = h;
    }
    if (p->n_cleaners == 0) die(EXIT_USAGE, "--cleaners: no heads given");
}

int cmd_synth(int argc, char **argv) {
    SynthOptions opt;
    SynthPlant plant;
    int custom_plant = 0;
    const char *out = NULL, *val;
    int i;
    Error err;
    opt.shape = SYNTH_PLANTED;
    opt.seed = 0;
    opt.rows = SYNTH_DEFAULT_ROWS;
    opt.plant = NULL;
    /* a variant starts from the bundled circuit's heads, with equal cleaner shares */
    plant.writer_layer = 0;
    plant.writer_head = 2;
    plant.clean_layer = 2;
    plant.n_cleaners = 6;
    for (i = 0; i < 6; i++) plant.cleaners[i] = 2 + i;
    plant.attn_only = 0;
    err.msg[0] = 0;
    err.code = 0;
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            synth_usage(stdout);
            return EXIT_OK;
        } else if (strcmp(argv[i], "--print-checks") == 0) {
            size_t n, k;
            const RefCheck *c = planted_checks_table(&n);
            for (k = 0; k < n; k++) printf("%s\t%.9g\t%.9g\t%s\n", c[k].metric, c[k].expected, c[k].tolerance, c[k].source);
            return EXIT_OK;
        } else if (arg_value(argc, argv, &i, "--shape", &val)) {
            if (strcmp(val, "planted") == 0) opt.shape = SYNTH_PLANTED;
            else if (strcmp(val, "gelu-4l") == 0) opt.shape = SYNTH_GELU4L;
            else die(EXIT_USAGE, "synth: --shape must be planted or gelu-4l, not '%s'", val);
        } else if (arg_value(argc, argv, &i, "--out", &val)) {
            out = val;
        } else if (arg_value(argc, argv, &i, "--seed", &val)) {
            opt.seed = (uint64_t)arg_int(val, 0, 2147483647L, "--seed");
        } else if (arg_value(argc, argv, &i, "--rows", &val)) {
            opt.rows = (int)arg_int(val, 1, 100000, "--rows");
        } else if (arg_value(argc, argv, &i, "--writer", &val)) {
            synth_parse_head(val, "--writer", &plant.writer_layer, &plant.writer_head);
            custom_plant = 1;
        } else if (arg_value(argc, argv, &i, "--cleaners", &val)) {
            synth_parse_cleaners(val, &plant);
            custom_plant = 1;
        } else if (strcmp(argv[i], "--attn-only") == 0) {
            plant.attn_only = 1;
            custom_plant = 1;
        } else {
            static const char *const options[] = {"--shape", "--out", "--seed", "--rows", "--print-checks", "--help",
                                                  NULL};
            die_unknown_option("synth", argv[i], options);
        }
    }
    if (custom_plant) {
        if (opt.shape != SYNTH_PLANTED) die(EXIT_USAGE, "synth: --writer, --cleaners and --attn-only need --shape planted");
        if (!out) die(EXIT_USAGE, "synth: a planted variant needs --out DIR (weights/planted is the bundled model)");
        if (synth_plant_check(&plant, &err) != 0) die_error(&err);
        opt.plant = &plant;
    }
    if (!out) out = opt.shape == SYNTH_PLANTED ? "weights/planted" : "weights/gelu-4l-random";
    if (synth_write(out, &opt, &err) != 0) die_error(&err);
    if (opt.plant)
        printf("wrote planted variant (writer L%dH%d, %d cleaners in layer %d%s) to %s\n", plant.writer_layer,
               plant.writer_head, plant.n_cleaners, plant.clean_layer, plant.attn_only ? ", attention-only" : "", out);
    else
        printf("wrote %s model to %s\n", opt.shape == SYNTH_PLANTED ? "planted" : "random gelu-4l-shaped", out);
    return EXIT_OK;
}

/* ------------------------------------------------------------------------ */
/* cleanup verify                                                            */
/* ------------------------------------------------------------------------ */

static void print_problem(void *ctx, const char *message) {
    (void)ctx;
    fprintf(stderr, "cleanup: verify: %s\n", message);
}

int cmd_verify(int argc, char **argv) {
    const char *dir = NULL;
    int i, problems, n_ok, quiet = 0;
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quiet") == 0 || strcmp(argv[i], "-q") == 0) {
            quiet = 1;
            continue;
        }
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: cleanup verify [--quiet] [DIR]\n"
                   "\n"
                   "Re-checks the outputs of `cleanup all` in DIR (default out/) against DIR/SHA256SUMS:\n"
                   "every listed file must exist and have the listed SHA-256. Output files of cleanup\n"
                   "(results.tsv, report.md, fig*.svg/.dat/.gp) present in DIR but not listed are reported\n"
                   "too (stale outputs of another run), as are leftover temporary files; other files\n"
                   "(e.g. PNGs drawn by gnuplot) are ignored. Prints one line per problem on stderr,\n"
                   "and one OK line on stdout unless --quiet.\n"
                   "\n"
                   "exit status: 0 all files match; 4 (EXIT_VERIFY) any problem; 1 bad command line.\n");
            return EXIT_OK;
        }
        if (argv[i][0] == '-' && argv[i][1] != '\0') {
            static const char *const options[] = {"--quiet", "--help", NULL};
            die_unknown_option("verify", argv[i], options);
        }
        if (dir) {
            die(EXIT_USAGE, "verify: only one directory can be given; see cleanup verify --help");
        }
        dir = argv[i];
    }
    if (!dir) dir = "out";
    if (!is_directory(dir)) die(EXIT_INPUT, "verify: %s: no such directory", dir);
    problems = verify_directory(dir, print_problem, NULL, &n_ok);
    if (problems) {
        fprintf(stderr, "cleanup: verify: %s: FAILED: %d problem%s (%d file%s matched)\n", dir, problems,
                problems == 1 ? "" : "s", n_ok, n_ok == 1 ? "" : "s");
        return EXIT_VERIFY;
    }
    if (!quiet) printf("%s: OK: %d files match SHA256SUMS\n", dir, n_ok);
    return EXIT_OK;
}


/* ------------------------------------------------------------------------ */
/* cleanup compare                                                           */
/* ------------------------------------------------------------------------ */

static const char compare_help[] =
    "usage: cleanup compare A B [--rtol R] [--atol A] [--sigmas K] [--subset] [--top N]\n"
    "\n"
    "Checks the metrics of run A against B. A is a run directory (its results.tsv) or a\n"
    "results.tsv. B is the same, or a reference file: NAME<TAB>VALUE<TAB>TOLERANCE[<TAB>SOURCE]\n"
    "lines ('#' comments; @KEY<TAB>VALUE configuration lines are read but not compared: `cleanup\n"
    "all --reference FILE` checks the configuration too).\n"
    "  results B: |A - B| <= atol + rtol x |B| for every metric (NaN equals NaN); both must\n"
    "             have the same metrics unless --subset (then only B's are compared)\n"
    "  reference B: each value within its own tolerance\n"
    "  --rtol R   relative tolerance (default 1e-6)      --atol A   absolute (default 1e-9)\n"
    "  --sigmas K for two runs of different rows: widen each tolerance to K x sqrt(SE_A^2 +\n"
    "             SE_B^2), with the standard errors of their uncertainty.tsv files\n"
    "  --top N    list the N worst metrics (default 10)\n"
    "Prints a one-line summary, then the worst offenders.\n"
    "\n"
    "exit codes: 0 every metric agrees, 6 some differ or are missing in A, 1 bad command line,\n"
    "2 a file cannot be read, is malformed, or the metric sets differ\n";

/* dir/results.tsv when path is a directory, else path (new string). */
static char *results_path(const char *path) {
    return is_directory(path) ? path_join(path, "results.tsv") : xstrdup(path);
}

/* 1 if the file's first data line has three or more fields or is a configuration line. */
static int is_reference_file(const char *path) {
    unsigned char *data;
    size_t len;
    char *line, *next;
    Error err;
    int ref = 0;
    if (read_file(path, (size_t)64 << 20, &data, &len, &err)) return 0;
    for (line = (char *)data; line && *line; line = next) {
        char *tab;
        next = strchr(line, '\n');
        if (next) *next++ = '\0';
        if (*line == '\0' || *line == '#' || *line == '\r') continue;
        tab = strchr(line, '\t');
        ref = *line == '@' || (tab && strchr(tab + 1, '\t'));
        break;
    }
    free(data);
    return ref;
}

/* Reads the uncertainty.tsv beside results file path into r; 1 if there was one. Dies on
 * a malformed one. */
static int read_uncertainty(const char *results_file, Results *r) {
    const char *slash = strrchr(results_file, '/');
    char *dir = slash ? xstrdup(results_file) : xstrdup(".");
    char *path;
    Error err;
    int found;
    if (slash) dir[slash - results_file] = '\0';
    path = path_join(dir, "uncertainty.tsv");
    found = path_exists(path);
    if (found && results_read_se_tsv(path, r, &err)) die_error(&err);
    free(path);
    free(dir);
    return found;
}

static int compare_by_excess(const void *x, const void *y) {
    const Comparison *a = x, *b = y;
    if (a->excess != b->excess) return a->excess < b->excess ? 1 : -1;
    return strcmp(a->name, b->name);
}

static void print_comparison(const Comparison *c) {
    if (c->outcome == REFCHECK_MISSING)
        printf("  %s: missing in A (B %.9g)\n", c->name, c->b);
    else
        printf("  %s: A %.9g, B %.9g (|A - B| = %.3g x tolerance)\n", c->name, c->a, c->b, c->excess);
}

int cmd_compare(int argc, char **argv) {
    const char *paths[2] = {NULL, NULL}, *v;
    double rtol = 1e-6, atol = 1e-9, sigmas = 0;
    int subset = 0, top = 10, n_paths = 0, i, b_is_ref;
    char *pa, *pb;
    Results a, b;
    RefSet set;
    CompareReport rep;
    Error err;
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(compare_help, stdout);
            return EXIT_OK;
        } else if (strcmp(argv[i], "--subset") == 0) {
            subset = 1;
        } else if (arg_value(argc, argv, &i, "--rtol", &v) || arg_value(argc, argv, &i, "--atol", &v) ||
                   arg_value(argc, argv, &i, "--sigmas", &v)) {
            const char *opt = strncmp(argv[i], "--", 2) == 0 ? argv[i] : argv[i - 1];
            char *end;
            double x = strtod(v, &end);
            if (*end || !(x >= 0) || x > 1e300) die(EXIT_USAGE, "compare: %.8s '%s' is not a number >= 0", opt, v);
            if (strncmp(opt, "--rtol", 6) == 0) rtol = x;
            else if (strncmp(opt, "--atol", 6) == 0) atol = x;
            else sigmas = x;
        } else if (arg_value(argc, argv, &i, "--top", &v)) {
            top = (int)arg_int(v, 0, 1000000, "--top");
        } else if (argv[i][0] == '-' && argv[i][1]) {
            static const char *const options[] = {"--rtol", "--atol", "--sigmas", "--subset", "--top", "--help", NULL};
            die_unknown_option("compare", argv[i], options);
        } else if (n_paths < 2) {
            paths[n_paths++] = argv[i];
        } else {
            die(EXIT_USAGE, "compare: give exactly two runs or files (see cleanup compare --help)");
        }
    }
    if (n_paths != 2) die(EXIT_USAGE, "compare: give exactly two runs or files (see cleanup compare --help)");
    pa = results_path(paths[0]);
    pb = results_path(paths[1]);
    if (results_read_tsv(pa, &a, &err)) die_error(&err);
    b_is_ref = is_reference_file(pb);
    results_init(&b);
    memset(&set, 0, sizeof set);
    if (b_is_ref ? refset_read(pb, &set, &err) : results_read_tsv(pb, &b, &err)) die_error(&err);
    if (sigmas > 0 && (read_uncertainty(pa, &a) + (b_is_ref ? 0 : read_uncertainty(pb, &b))) == 0)
        die(EXIT_INPUT, "compare: --sigmas needs the runs' uncertainty.tsv beside their results.tsv (none found)");
    if (compare_results(&a, &b, b_is_ref ? &set : NULL, rtol, atol, sigmas, subset, &rep, &err))
        die(EXIT_INPUT, "compare: %s vs %s: %s", pa, pb, err.msg);
    printf("compare: %s against %s: %lu metrics, %d agree, %d differ, %d missing in A", pa, pb, (unsigned long)rep.n,
           rep.n_pass, rep.n_fail, rep.n_missing);
    if (b_is_ref) printf(" (each within its reference tolerance)\n");
    else if (sigmas > 0) printf(" (tolerance %g + %g x |B|, or %g standard errors)\n", atol, rtol, sigmas);
    else printf(" (tolerance %g + %g x |B|)\n", atol, rtol);
    qsort(rep.items, rep.n, sizeof *rep.items, compare_by_excess);
    for (i = 0; i < (int)rep.n && i < top && rep.items[i].outcome != REFCHECK_PASS; i++) print_comparison(&rep.items[i]);
    if (rep.n_fail + rep.n_missing == 0 && rep.n > 0 && top > 0) {
        printf("largest difference:\n");
        print_comparison(&rep.items[0]);
    }
    i = rep.n_fail + rep.n_missing ? EXIT_CHECKS : EXIT_OK;
    compare_report_free(&rep);
    refset_free(&set);
    results_free(&a);
    results_free(&b);
    free(pa);
    free(pb);
    return i;
}
