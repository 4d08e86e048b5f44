/* cleanup.c - the command line: `cleanup COMMAND [options]`.
 *
 * Each command is a function cmd_NAME(argc, argv) that returns an exit code;
 * argv[0] is the command name. This file only dispatches and prints help.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "experiments.h"
#include "model.h"
#include "report.h"
#include "sha256.h"
#include "synth.h"
#include "tokenizer.h"
#include "kernels.h"
#include "util.h"

#define DEFAULT_MODEL_DIR "weights/gelu-4l"
#define MAX_HOOKS 256

/* ------------------------------------------------------------------------ */
/* cleanup run                                                               */
/* ------------------------------------------------------------------------ */

static const char run_help[] =
    "usage: cleanup run [--model DIR] [--weights FILE] (--tokens 1,2,3 | --text TEXT) --hook NAME [--hook NAME ...]\n"
    "                   [--no-processing] [--bos ID] --out DIR\n"
    "\n"
    "Runs the model on one sequence and writes each requested hook point to DIR/NAME.dat:\n"
    "a first line \"# NAME shape d1 d2 ...\" (TransformerLens shape without the batch dimension),\n"
    "then one line per index of the leading dimensions with the last dimension's values (%.9g).\n"
    "\n"
    "  --model DIR       model directory (config.json + *.pth or *.safetensors); default " DEFAULT_MODEL_DIR "\n"
    "  --weights FILE    use this weights file instead of searching DIR\n"
    "  --tokens IDS      comma-separated token ids, used as given (include BOS yourself)\n"
    "  --text TEXT       text, tokenized with DIR/tokenizer.json, BOS prepended\n"
    "  --bos ID          BOS id for --text (default: from the tokenizer files)\n"
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

typedef struct {
    char **names;
    int count;
} HookList;

static void collect_hook(const char *name, void *ctx) {
    HookList *list = ctx;
    if (list->count < MAX_HOOKS) list->names[list->count++] = xstrdup(name);
}

/* Writes one hook as text; the batch dimension (one row here) is dropped. */
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
        for (j = 0; j < last; j++)
            used += (size_t)snprintf(buf + used, cap - used, j ? " %.9g" : "%.9g", v->data[r * last + j]);
        buf[used++] = '\n';
    }
    rc = write_file_atomic(path, buf, used, err);
    free(buf);
    free(path);
    return rc;
}

static int cmd_run(int argc, char **argv) {
    const char *model_dir = DEFAULT_MODEL_DIR, *weights = NULL, *tokens_arg = NULL, *text = NULL, *out = NULL, *v;
    const char *bos_arg = NULL;
    char *hooks[MAX_HOOKS];
    int n_hooks = 0, all_hooks = 0, process = 1, i, n_tokens = 0, *tokens = NULL;
    Model model;
    Activations acts;
    HookList list;
    Error err = {"", 0};
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(run_help, stdout);
            return EXIT_OK;
        } else if (arg_value(argc, argv, &i, "--model", &model_dir)) {
        } else if (arg_value(argc, argv, &i, "--weights", &weights)) {
        } else if (arg_value(argc, argv, &i, "--tokens", &tokens_arg)) {
        } else if (arg_value(argc, argv, &i, "--text", &text)) {
        } else if (arg_value(argc, argv, &i, "--bos", &bos_arg)) {
        } else if (arg_value(argc, argv, &i, "--out", &out)) {
        } else if (arg_value(argc, argv, &i, "--hook", &v)) {
            if (strcmp(v, "all") == 0) all_hooks = 1;
            else if (n_hooks < MAX_HOOKS) hooks[n_hooks++] = (char *)v;
            else die(EXIT_USAGE, "too many --hook options (at most %d)", MAX_HOOKS);
        } else if (strcmp(argv[i], "--no-processing") == 0) {
            process = 0;
        } else {
            die(EXIT_USAGE, "run: unknown option '%s' (see cleanup run --help)", argv[i]);
        }
    }
    if (!tokens_arg == !text) die(EXIT_USAGE, "run: give exactly one of --tokens or --text (see cleanup run --help)");
    if (!out) die(EXIT_USAGE, "run: --out DIR is required");
    if (!all_hooks && n_hooks == 0) die(EXIT_USAGE, "run: give at least one --hook NAME (or --hook all)");
    if (model_load(model_dir, weights, process, &model, &err) != 0) die_error(&err);
    if (tokens_arg) {
        tokens = parse_token_list(tokens_arg, &n_tokens);
    } else {
        char *tok_path = path_join(model_dir, "tokenizer.json");
        Tokenizer *tok;
        int *ids;
        size_t n_ids;
        long bos;
        if (!path_exists(tok_path)) die(EXIT_INPUT, "%s: no tokenizer.json; use --tokens instead of --text", model_dir);
        tok = tokenizer_load(tok_path, &err);
        if (!tok) die_error(&err);
        bos = bos_arg ? arg_int(bos_arg, 0, 2147483647L, "--bos") : tokenizer_bos_id(tok);
        if (bos < 0) die(EXIT_INPUT, "%s: the tokenizer defines no BOS token; give --bos ID", tok_path);
        if (tokenizer_encode(tok, text, strlen(text), &ids, &n_ids, &err) != 0) die_error(&err);
        if (n_ids + 1 > (size_t)model.cfg.n_ctx)
            die(EXIT_INPUT, "--text: %lu tokens with BOS is more than the model's context of %d", (unsigned long)(n_ids + 1),
                model.cfg.n_ctx);
        tokens = xalloc_array(n_ids + 1, sizeof(int), "tokens");
        tokens[0] = (int)bos;
        memcpy(tokens + 1, ids, n_ids * sizeof(int));
        n_tokens = (int)n_ids + 1;
        free(ids);
        tokenizer_free(tok);
        free(tok_path);
    }
    if (model_check_tokens(&model, tokens, (size_t)n_tokens, n_tokens, tokens_arg ? "--tokens" : "--text", &err) != 0)
        die_error(&err);
    if (activations_alloc(&acts, &model, 1, n_tokens, 1, 1, &err) != 0) die_error(&err);
    list.names = hooks;
    list.count = n_hooks;
    if (all_hooks) {
        list.count = 0;
        hook_names(&model, collect_hook, &list);
    } else {
        /* Unknown names are refused before any work is done. */
        for (i = 0; i < n_hooks; i++) {
            HookView view;
            acts.n_rows = 1;
            acts.n_pos = n_tokens;
            if (hook_lookup(&model, &acts, hooks[i], &view, &err) != 0) die_error(&err);
        }
    }
    model_forward(&model, &acts, tokens, 1, n_tokens, NULL);
    if (make_dirs(out, &err) != 0) die_error(&err);
    for (i = 0; i < list.count; i++) {
        HookView view;
        if (hook_lookup(&model, &acts, list.names[i], &view, &err) != 0) die_error(&err);
        if (write_hook_dat(out, list.names[i], &view, &err) != 0) die_error(&err);
    }
    printf("wrote %d hook%s for %d tokens to %s\n", list.count, list.count == 1 ? "" : "s", n_tokens, out);
    if (all_hooks)
        for (i = 0; i < list.count; i++) free(list.names[i]);
    free(tokens);
    activations_free(&acts);
    model_free(&model);
    return EXIT_OK;
}

/* ------------------------------------------------------------------------ */
/* cleanup info                                                              */
/* ------------------------------------------------------------------------ */

static const char info_help[] =
    "usage: cleanup info [--model DIR] [--weights FILE] [--no-processing]\n"
    "\n"
    "Loads a model directory (checking every shape against config.json) and prints its\n"
    "configuration, parameter count, SHA-256 of config.json and the weights file, and the\n"
    "weight processing that `run` and the experiments apply.\n";

static int cmd_info(int argc, char **argv) {
    const char *model_dir = DEFAULT_MODEL_DIR, *weights = NULL;
    const char *act_names[] = {"gelu", "gelu_new", "relu"};
    int process = 1, i;
    char hex[65];
    Model model;
    Error err = {"", 0};
    const ModelConfig *c;
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(info_help, stdout);
            return EXIT_OK;
        } else if (arg_value(argc, argv, &i, "--model", &model_dir)) {
        } else if (arg_value(argc, argv, &i, "--weights", &weights)) {
        } else if (strcmp(argv[i], "--no-processing") == 0) {
            process = 0;
        } else {
            die(EXIT_USAGE, "info: unknown option '%s' (see cleanup info --help)", argv[i]);
        }
    }
    if (model_load(model_dir, weights, process, &model, &err) != 0) die_error(&err);
    c = &model.cfg;
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
    printf("parameters        %lu\n", (unsigned long)model_param_count(&model));
    if (sha256_file_hex(model.config_path, hex, &err) != 0) die_error(&err);
    printf("sha256            %s  %s\n", hex, model.config_path);
    printf("sha256            %s  %s\n", model.weights_sha256, model.weights_path);
    if (process)
        printf("processing        TransformerLens defaults: fold_ln, center_writing_weights, center_unembed,\n"
               "                  fold_value_biases (LayerNorms become LNPre)\n");
    else
        printf("processing        none (--no-processing): LayerNorm with weight and bias, nothing folded\n");
    model_free(&model);
    return EXIT_OK;
}

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} Command;

static const Command commands[] = {
    {"all", cmd_experiment, "run every experiment: results.tsv, figures, report.md"},
    {"fig1", cmd_experiment, "Fig 1: residual stream projected onto the layer-0 heads"},
    {"fig2", cmd_experiment, "Fig 2: projection of every node onto the writer (-0.903)"},
    {"fig3", cmd_experiment, "Fig 3: value-input patch of the cleaners' layer"},
    {"fig4", cmd_experiment, "Fig 4: adversarial prompts, clean and patched DLA"},
    {"fig5", cmd_experiment, "Fig 5: writer DLA against its V-composition"},
    {"sec32", cmd_experiment, "Section 3.2: the paper's two correlations"},
    {"run", cmd_run, "run a model on tokens or text and write hook activations"},
    {"info", cmd_info, "describe a model directory: config, parameters, checksums, processing"},
    {"tokenize", cmd_tokenize, "text -> token ids with an HF tokenizer.json (byte-level BPE)"},
    {"detokenize", cmd_detokenize, "token ids -> text, byte-exact"},
    {"synth", cmd_synth, "write the bundled planted model (or random gelu-4l-shaped weights)"},
    {"verify", cmd_verify, "re-check an output directory (default out/) against its SHA256SUMS"},
};

static void print_help(FILE *f) {
    size_t i;
    fprintf(f,
            "cleanup - reproduce \"An adversarial example for Direct Logit Attribution:\n"
            "memory management in gelu-4l\" (Dao, Lau, Rager, Janiak, 2023) in portable C.\n"
            "\n"
            "usage: cleanup COMMAND [options]      cleanup COMMAND --help for details\n"
            "\n"
            "commands:\n");
    for (i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
    fprintf(f,
            "\n"
            "environment:\n"
            "  CLEANUP_SIMD  auto (default): AVX2+FMA kernels when the CPU has them, else baseline;\n"
            "                baseline or avx2 to choose (results differ in the last bits; run.txt says which)\n"
            "\n"
            "exit codes:\n"
            "  0 success   1 bad command line   2 bad or missing input file\n"
            "  3 cannot write output   4 verify found a mismatch   5 out of memory / internal limit\n");
}

int main(int argc, char **argv) {
    size_t i;
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
        print_help(stdout);
        return argc < 2 ? EXIT_USAGE : EXIT_OK;
    }
    for (i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0) {
            const char *why;
            int rc;
            if (kernels_init(&why)) {
                fprintf(stderr, "cleanup: CLEANUP_SIMD=%s: %s\n", getenv("CLEANUP_SIMD"), why);
                return EXIT_USAGE;
            }
            rc = commands[i].run(argc - 1, argv + 1);
            /* Output that could not be written (disk full, /dev/full) must not look like success. */
            if (fflush(stdout) != 0 || ferror(stdout)) {
                fprintf(stderr, "cleanup: standard output: write error\n");
                return rc != EXIT_OK ? rc : EXIT_IO;
            }
            return rc;
        }
    fprintf(stderr, "cleanup: unknown command '%s' (try cleanup --help)\n", argv[1]);
    return EXIT_USAGE;
}
