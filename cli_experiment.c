/* cli_experiment.c - `cleanup all` and `cleanup NAME` for one experiment unit:
 * parse the options, open the inputs (model, heads, tokenizer and prompts, data),
 * run the selected units, write the outputs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "experiments.h"
#include "references.h"
#include "identity.h"
#include "report.h"
#include "sha256.h"
#include "synth.h"
#include "verify.h"
#include "version.h"

typedef struct {
    const char *cmd;
    unsigned requested; /* EXP_* bits of the units asked for */
    unsigned which;     /* those that run (`all` skips Fig 4 without a tokenizer) */
    int is_all;         /* `all`: every unit */
    unsigned skipped;   /* EXP_* bits of --skip LIST (`all` only; repeats add up): units not to run */
    const char *model_dir, *weights, *data, *out, *prompts_file, *writer, *cleaners, *checks, *reference;
    long n_rows, seq_len, threads, bos;
    int no_processing;
    int argc;
    char **argv;        /* the command line, argv[0] the command */
    char default_out[64];
    int heads_given;    /* --writer or --cleaners on the command line */
    int scan_pairs;     /* SCAN_PAIRS_* */
    size_t max_memory;  /* --max-memory, else CLEANUP_MAX_MEMORY; 0: the default budget */
    const char *max_memory_from; /* which of them, or "default" */
} ExpOptions;

/* Everything a run reads, opened and checked. */
typedef struct {
    Model model;
    int T;                       /* tokens per row */
    ExpHeads heads;
    Tokenizer *tok;              /* NULL when the model directory has none */
    AdvPrompt *file_prompts;     /* --prompts FILE, else NULL (the paper's) */
    char *prompts_text;          /* keeps file_prompts' strings alive */
    int n_prompts;
    Dataset data;
    char **data_files;
    int n_data_files;
    char *data_label;            /* the data file, or "FILE and N more files (...)" */
    ModelIdentity identity;      /* gelu-4l's fingerprints on the weights */
    PromptRecord *prompt_records; /* Fig 4's prompts as tokenized, for the report */
    char *tok_path;              /* tokenizer.json when loaded */
    SynthFiles memory_model;     /* the planted model's files when built in memory (count 0: not) */
    MemFile memory_files[SYNTH_MAX_FILES]; /* the same, mounted as MEMORY_MODEL_DIR */
    char memory_source[160];     /* what report.md and run.txt say about it */
} ExpRun;

/* Where the planted model built in memory is mounted (util.h: memdir_mount): the name
 * its files go by in messages and in report.md. */
#define MEMORY_MODEL_DIR "planted (built in memory)"

static void print_usage(FILE *f) {
    const Experiment *const *units;
    int i, n;
    fprintf(f, "usage: cleanup all");
    units = experiment_list(&n);
    for (i = 0; i < n; i++) fprintf(f, "|%s", units[i]->name);
    fprintf(f, " [options]\n"
               "\n"
               "Runs the paper's experiments (EXPERIMENTS.md) and writes OUT/results.tsv\n"
               "(one name<TAB>value line per metric, sorted).\n"
               "  all    every experiment, then the figures and report.md (see `cleanup verify`)\n");
    for (i = 0; i < n; i++) fprintf(f, "  %-6s %s\n", units[i]->name, units[i]->summary);
    fprintf(f,
            "\n"
            "options:\n"
            "  --model DIR       model directory (config.json, weights, tokenizer.json, data.jsonl);\n"
            "                    default weights/gelu-4l if present, else weights/planted, else the\n"
            "                    planted model built in memory (no files needed)\n"
            "  --weights FILE    weights file (default: the *final.pth / .pth / .safetensors in DIR)\n"
            "  --data FILE|DIR   rows: {\"tokens\":[...]} JSONL, datasets-server /rows JSON, or raw\n"
            "                    text ({\"text\":...} JSONL or plain text). A directory (default: the\n"
            "                    model's) gives its data.jsonl, else all its rows-*.json, mixed in\n"
            "                    proportion to their sizes\n"
            "  --rows N          number of dataset rows (default 300; --n-prompts N is the same)\n"
            "  --seq-len T       tokens per row (default n_ctx); longer rows are truncated\n"
            "  --out DIR         output directory (default ./out, in the current directory)\n"
            "  --threads N       worker threads (results do not depend on it)\n"
            "  --writer LxHy     the writer head (default L0H2)\n"
            "  --cleaners LIST   cleaner heads, all in one layer, the patched layer\n"
            "                    (default L2H2,L2H3,L2H4,L2H5,L2H6,L2H7)\n"
            "  --prompts FILE    Fig 4 prompts, TSV: prompt, correct, incorrect, other head\n"
            "                    (\\n, \\t, \\\\ escapes; # comments); default the paper's four\n"
            "  --bos-id ID       BOS token id prepended to prompts and text rows (default: the\n"
            "                    tokenizer's; --bos ID is the same)\n"
            "  --no-processing   use the raw weights (no TransformerLens folding/centering)\n"
            "  --checks auto|none  auto (default): check the run against the reference values of\n"
            "                    its model (the paper's for gelu-4l, the planted model's expectations);\n"
            "                    none: report the numbers without a verdict\n"
            "  --reference FILE  check against FILE instead (NAME<TAB>VALUE<TAB>TOLERANCE[<TAB>SOURCE]\n"
            "                    lines, @KEY<TAB>VALUE configuration lines; README)\n"
            "  --skip LIST       (all only) experiments not to run, comma-separated, repeatable (scan:\n"
            "                    about a tenth of the paper-scale run and half its memory); their\n"
            "                    metrics, figures and checks are left out\n"
            "  --scan-pairs M    how the scan keeps its node x node samples: auto (default: exact\n"
            "                    when they fit in 192 MB, else compact), exact, or compact (16-bit\n"
            "                    codes, half the memory: quantiles within 1.2e-4, the cleaners'\n"
            "                    summed PR within 1e-3)\n"
            "  --max-memory SIZE memory budget (64M, 1G, 512MiB, bytes; K/M/G/T are powers of 1024):\n"
            "                    weights, data rows, samples and one batch of activations; the batch\n"
            "                    is the largest that fits, up to 1024 tokens (at least one row), and\n"
            "                    the scan runs in several passes over the rows when its samples do\n"
            "                    not (the results do not depend on either). Default:\n"
            "                    $CLEANUP_MAX_MEMORY (the option wins), else the weights and data,\n"
            "                    44 MB and 4.5x the weights (README, \"Memory\")\n"
            "\n"
            "The scan ranks writers by score = gone / spread: gone = median PR(resid, w) right after\n"
            "w minus at the last location, spread = q87.5 - q12.5 of PR there (consistent erasure;\n"
            "gone alone ranks noisy random heads first). EXPERIMENTS.md \"Scan\".\n"
            "\n"
            "Outputs: results.tsv, the figures (scan.tsv too for the scan), report.md and SHA256SUMS\n"
            "in --out (default out/ for `all`, out/NAME for one experiment); `cleanup verify DIR`\n"
            "re-checks them.\n"
            "exit codes: 0 ok (every comparable check passed, or none applies), 1 bad command line,\n"
            "2 bad input, 3 cannot write, 5 out of memory (or a --max-memory too small for one row),\n"
            "6 a check failed or is missing (the outputs are complete; report.md says which)\n");
}

/* ------------------------------------------------------------------------ */
/* Options                                                                   */
/* ------------------------------------------------------------------------ */

/* The names of the units in bits, in the units' order, sep between them. */
static void unit_names(unsigned bits, const char *sep, char *buf, size_t size) {
    const Experiment *const *units;
    size_t used = 0;
    int i, n;
    units = experiment_list(&n);
    buf[0] = '\0';
    for (i = 0; i < n; i++)
        if ((bits & (1u << i)) && used + strlen(sep) + strlen(units[i]->name) < size)
            used += (size_t)snprintf(buf + used, size - used, "%s%s", used ? sep : "", units[i]->name);
}

/* --skip LIST: adds its units to o->skipped (parse_options then takes them out of the run,
 * their metrics and checks too). Only `all` takes it. */
static void skip_units(ExpOptions *o, const char *list) {
    const char *p = list;
    if (!o->is_all) die(EXIT_USAGE, "--skip is for `cleanup all` (`cleanup %s` runs one experiment)", o->cmd);
    for (;;) {
        const char *end = strchr(p, ',');
        const size_t len = end ? (size_t)(end - p) : strlen(p);
        char name[32];
        unsigned bit = 0;
        snprintf(name, sizeof name, "%.*s", (int)(len < sizeof name ? len : sizeof name - 1), p);
        if (len == 0 || len >= sizeof name || !experiment_find(name, &bit)) {
            char known[256];
            unit_names(experiment_all(), ", ", known, sizeof known);
            die(EXIT_USAGE, "--skip: '%.*s' is not an experiment (%s)", (int)(len < 64 ? len : 64), p, known);
        }
        o->skipped |= bit;
        if (!end) break;
        p = end + 1;
    }
}

/* Fills o from argv. Returns -1 to go on, or an exit code (after --help or a bad option). */
static int parse_options(int argc, char **argv, ExpOptions *o) {
    int i;
    memset(o, 0, sizeof *o);
    o->cmd = argv[0];
    o->argc = argc;
    o->argv = argv;
    o->n_rows = 300;
    o->bos = -1;
    o->checks = "auto";
    o->writer = "L0H2";
    o->cleaners = "L2H2,L2H3,L2H4,L2H5,L2H6,L2H7";
    if (strcmp(o->cmd, "all") == 0) {
        o->is_all = 1;
        o->which = experiment_all();
        o->out = "out";
    } else if (!experiment_find(o->cmd, &o->which)) {
        die(EXIT_USAGE, "unknown experiment '%s'", o->cmd);
    } else {
        snprintf(o->default_out, sizeof o->default_out, "out/%s", o->cmd);
        o->out = o->default_out;
    }
    o->requested = o->which;
    for (i = 1; i < argc; i++) {
        const char *v;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            print_usage(stdout);
            return EXIT_OK;
        } else if (strcmp(argv[i], "--no-processing") == 0) {
            o->no_processing = 1;
        } else if (arg_value(argc, argv, &i, "--model", &v)) {
            o->model_dir = v;
        } else if (arg_value(argc, argv, &i, "--weights", &v)) {
            o->weights = v;
        } else if (arg_value(argc, argv, &i, "--data", &v)) {
            o->data = v;
        } else if (arg_value(argc, argv, &i, "--rows", &v) || arg_value(argc, argv, &i, "--n-prompts", &v)) {
            o->n_rows = arg_int(v, 1, 100000000, "--rows");
        } else if (arg_value(argc, argv, &i, "--seq-len", &v)) {
            o->seq_len = arg_int(v, 1, 1 << 24, "--seq-len");
        } else if (arg_value(argc, argv, &i, "--out", &v)) {
            o->out = v;
        } else if (arg_value(argc, argv, &i, "--threads", &v)) {
            o->threads = arg_int(v, 1, 4096, "--threads");
        } else if (arg_value(argc, argv, &i, "--writer", &v)) {
            o->writer = v;
            o->heads_given = 1;
        } else if (arg_value(argc, argv, &i, "--cleaners", &v)) {
            o->cleaners = v;
            o->heads_given = 1;
        } else if (arg_value(argc, argv, &i, "--skip", &v)) {
            skip_units(o, v);
        } else if (arg_value(argc, argv, &i, "--scan-pairs", &v)) {
            if (strcmp(v, "auto") == 0) o->scan_pairs = SCAN_PAIRS_AUTO;
            else if (strcmp(v, "exact") == 0) o->scan_pairs = SCAN_PAIRS_EXACT;
            else if (strcmp(v, "compact") == 0) o->scan_pairs = SCAN_PAIRS_COMPACT;
            else die(EXIT_USAGE, "--scan-pairs must be auto, exact or compact, not '%s'", v);
        } else if (arg_value(argc, argv, &i, "--max-memory", &v)) {
            if (parse_size(v, &o->max_memory))
                die(EXIT_USAGE, "--max-memory: '%s' is not a size (bytes, or a number with K, M, G or T: 64M, 1G)", v);
            o->max_memory_from = "--max-memory";
        } else if (arg_value(argc, argv, &i, "--prompts", &v)) {
            o->prompts_file = v;
        } else if (arg_value(argc, argv, &i, "--bos-id", &v) || arg_value(argc, argv, &i, "--bos", &v)) {
            o->bos = arg_int(v, 0, 100000000, "--bos-id");
        } else if (arg_value(argc, argv, &i, "--checks", &v)) {
            if (strcmp(v, "auto") != 0 && strcmp(v, "none") != 0)
                die(EXIT_USAGE, "--checks: '%s' is not auto or none (--reference FILE checks against a file)", v);
            o->checks = v;
        } else if (arg_value(argc, argv, &i, "--reference", &v)) {
            o->reference = v;
        } else {
            static const char *const options[] = {"--model", "--weights", "--data", "--rows", "--n-prompts", "--seq-len",
                                                  "--out", "--threads", "--writer", "--cleaners", "--prompts",
                                                  "--bos-id", "--no-processing", "--checks", "--reference",
                                                  "--scan-pairs", "--max-memory", "--skip", "--help", NULL};
            die_unknown_option(o->cmd, argv[i], options);
        }
    }
    if (o->skipped) {
        char names[256];
        o->which &= ~o->skipped;
        o->requested = o->which;
        unit_names(o->skipped, ",", names, sizeof names);
        if (!o->which) die(EXIT_USAGE, "--skip %s leaves no experiment to run", names);
    }
    if (o->reference && strcmp(o->checks, "none") == 0)
        die(EXIT_USAGE, "--reference and --checks none contradict each other");
    if (!o->max_memory_from && getenv("CLEANUP_MAX_MEMORY") && *getenv("CLEANUP_MAX_MEMORY")) {
        if (parse_size(getenv("CLEANUP_MAX_MEMORY"), &o->max_memory))
            die(EXIT_USAGE, "CLEANUP_MAX_MEMORY: '%s' is not a size (bytes, or a number with K, M, G or T: 64M, 1G)",
                getenv("CLEANUP_MAX_MEMORY"));
        o->max_memory_from = "CLEANUP_MAX_MEMORY";
    }
    if (!o->max_memory_from) o->max_memory_from = "default";
    return -1;
}

/* The nearest existing directory at or above path (path itself when it exists). */
static char *existing_ancestor(const char *path) {
    char *p = xstrdup(path);
    for (;;) {
        char *slash;
        size_t n = strlen(p);
        if (path_exists(p)) return p;
        while (n > 1 && p[n - 1] == '/') p[--n] = '\0';
        slash = strrchr(p, '/');
        if (!slash) {
            strcpy(p, ".");
            return p;
        }
        if (slash == p) slash[1] = '\0';
        else *slash = '\0';
    }
}

/* The output directory, checked before any work: an existing directory, or one that can
 * be created, that can be written (tried with a file that is removed at once). It is
 * created only when the outputs are written, so a run that fails leaves nothing. A
 * directory holding another command's complete run (its SHA256SUMS lists files this run
 * would not write) is refused rather than mixed; otherwise the previous SHA256SUMS is
 * removed at once, so nothing in the directory verifies until this run completes. */
static void prepare_out(const ExpOptions *o) {
    const Experiment *const *units;
    const ExpOutput *f;
    char *dir = existing_ancestor(o->out), *probe, *sums;
    unsigned char *data;
    size_t len;
    int i, n;
    Error err;
    if (!is_directory(dir))
        die(EXIT_IO, "--out %s: %s is not a directory", o->out, strcmp(dir, o->out) == 0 ? "it" : dir);
    probe = path_join(dir, ".cleanup-write-test");
    if (write_file_atomic(probe, "", 0, &err)) die(EXIT_IO, "--out %s: cannot write in %s (%s)", o->out, dir, err.msg);
    remove(probe);
    free(probe);
    free(dir);
    sums = path_join(o->out, "SHA256SUMS");
    if (read_file(sums, (size_t)1 << 20, &data, &len, &err) == 0) {
        units = experiment_list(&n);
        for (i = 0; i < n; i++)
            for (f = units[i]->outputs; !(o->requested & (1u << i)) && f->name; f++)
                if (strstr((char *)data, f->name)) {
                    char skipped[140];
                    unit_names(o->skipped, ",", skipped, sizeof skipped);
                    die(EXIT_USAGE,
                        "--out %s holds another run (its SHA256SUMS lists %s, which `cleanup %s%s%s` does not "
                        "write); give another --out",
                        o->out, f->name, o->cmd, o->skipped ? " --skip " : "", skipped);
                }
        free(data);
        if (remove(sums) != 0) die(EXIT_IO, "%s: cannot remove the previous run's checksums", sums);
    }
    free(sums);
}

/* ------------------------------------------------------------------------ */
/* Inputs                                                                    */
/* ------------------------------------------------------------------------ */

/* The bundled planted model when weights/planted is not there (a binary run outside the
 * repository): synth_build makes its files in memory, byte for byte what `make` writes
 * into weights/planted, and they are mounted as the directory MEMORY_MODEL_DIR, so the
 * model, tokenizer and data are read exactly as from those files (same bits). */
static void build_planted_in_memory(ExpRun *run) {
    SynthOptions opt;
    Error err;
    int i;
    memset(&opt, 0, sizeof opt);
    opt.shape = SYNTH_PLANTED;
    opt.rows = SYNTH_DEFAULT_ROWS;
    if (synth_build(&opt, &run->memory_model, &err)) die_error(&err);
    for (i = 0; i < run->memory_model.count; i++) {
        run->memory_files[i].name = run->memory_model.files[i].name;
        run->memory_files[i].data = run->memory_model.files[i].data;
        run->memory_files[i].len = run->memory_model.files[i].len;
    }
    memdir_mount(MEMORY_MODEL_DIR, run->memory_files, run->memory_model.count);
    snprintf(run->memory_source, sizeof run->memory_source, "planted model, built in memory by cleanup %s",
             cleanup_version());
}

/* The model: --model, else the paper's when it is there, else the bundled planted one
 * (from weights/planted, or built in memory when that is absent). */
static void open_model(ExpOptions *o, ExpRun *run) {
    Error err;
    if (!o->model_dir) {
        if (path_exists("weights/gelu-4l/config.json")) {
            o->model_dir = "weights/gelu-4l";
            printf("model: weights/gelu-4l (the paper's model, found in weights/)\n");
        } else {
            const int on_disk = path_exists("weights/planted/config.json");
            if (on_disk) o->model_dir = "weights/planted";
            else build_planted_in_memory(run);
            if (!on_disk) o->model_dir = MEMORY_MODEL_DIR;
            printf("model: %s, not gelu-4l (weights/gelu-4l/config.json\n"
                   "       not found). It exercises the whole pipeline on a known circuit; to reproduce the\n"
                   "       paper, get gelu-4l with `make fetch` or by hand (README, \"Getting gelu-4l\").\n",
                   on_disk ? "weights/planted - the bundled PLANTED model"
                           : "the bundled PLANTED model, built in memory (no weights/planted here)");
        }
    }
    if (model_load(o->model_dir, o->weights, !o->no_processing, &run->model, &err)) die_error(&err);
    model_fingerprints(&run->model, &run->identity);
    run->T = o->seq_len ? (int)o->seq_len : run->model.cfg.n_ctx;
    if (run->T > run->model.cfg.n_ctx)
        die(EXIT_USAGE, "--seq-len %d is longer than the model's n_ctx %d", run->T, run->model.cfg.n_ctx);
    if (o->bos >= run->model.cfg.d_vocab)
        die(EXIT_USAGE, "--bos-id %ld is not a token id of this model (d_vocab %d)", o->bos, run->model.cfg.d_vocab);
}

/* --writer and --cleaners, checked against the model. The scan alone does not use them:
 * without the options, heads the model has stand in (the paper's if it has them). */
static void open_heads(ExpOptions *o, ExpRun *run) {
    Error err;
    memset(&run->heads, 0, sizeof run->heads);
    if (o->which == EXP_SCAN && !o->heads_given) {
        const ModelConfig *c = &run->model.cfg;
        if (c->n_layers < 2)
            die(EXIT_INPUT, "%s: the scan needs a model with at least 2 layers (this one has %d: no node has a later "
                "layer to erase it)", o->model_dir, c->n_layers);
        if (c->n_layers < 3 || c->n_heads < 8) {
            o->writer = "L0H0";
            o->cleaners = "L1H0";
        }
    }
    if (parse_head(&run->model, o->writer, &run->heads.writer_layer, &run->heads.writer_head, &err))
        die(EXIT_USAGE, "--writer: %s", err.msg);
    if (parse_cleaners(&run->model, o->cleaners, &run->heads, &err)) die(EXIT_USAGE, "--cleaners: %s", err.msg);
    if (exp_heads_check(&run->model, &run->heads, &err)) die_error(&err);
}

/* Decodes \n, \t, \\ in place (other backslashes are kept). */
static void unescape(char *s) {
    char *o = s;
    for (; *s; s++) {
        if (*s == '\\' && (s[1] == 'n' || s[1] == 't' || s[1] == '\\')) {
            s++;
            *o++ = *s == 'n' ? '\n' : *s == 't' ? '\t' : '\\';
        } else {
            *o++ = *s;
        }
    }
    *o = '\0';
}

/* Splits one line of a --prompts file into its four tab-separated fields; 0 if it has
 * another number of fields. */
static int split_prompt_line(char *line, char **f) {
    int nf = 0;
    char *p;
    for (p = line; p && nf < 4; nf++) {
        f[nf] = p;
        p = strchr(p, '\t');
        if (p) *p++ = '\0';
        if (nf == 3 && p) return 0; /* more than four fields */
    }
    return nf == 4;
}

/* Reads a --prompts TSV file into run->file_prompts (run->prompts_text keeps the strings). */
static int read_prompts(const Model *m, const char *path, ExpRun *run, Error *err) {
    unsigned char *data;
    size_t len;
    char *line, *cursor;
    int line_no = 0, n = 0, cap = 0;
    AdvPrompt *list = NULL;
    if (read_file(path, (size_t)16 << 20, &data, &len, err)) return -1;
    cursor = (char *)data;
    while ((line = next_text_line(&cursor)) != NULL) {
        char *f[4];
        line_no++;
        if (line[0] == '\0' || line[0] == '#') continue;
        if (!split_prompt_line(line, f)) {
            error_set(err, "%s: line %d: expected 4 tab-separated fields (prompt, correct, incorrect, head)", path,
                      line_no);
            goto fail;
        }
        if (n == cap) {
            AdvPrompt *nl;
            cap = cap ? cap * 2 : 8;
            nl = realloc(list, (size_t)cap * sizeof *nl);
            if (!nl) die(EXIT_INTERNAL, "out of memory");
            list = nl;
        }
        unescape(f[0]);
        unescape(f[1]);
        unescape(f[2]);
        list[n].prompt = f[0];
        list[n].correct = f[1];
        list[n].incorrect = f[2];
        if (parse_head(m, f[3], &list[n].other_layer, &list[n].other_head, err)) {
            char msg[sizeof err->msg];
            snprintf(msg, sizeof msg, "%s", err->msg);
            error_set(err, "%s: line %d: %s", path, line_no, msg);
            goto fail;
        }
        n++;
    }
    if (n == 0) {
        error_set(err, "%s: no prompts", path);
        goto fail;
    }
    run->file_prompts = list;
    run->n_prompts = n;
    run->prompts_text = (char *)data;
    return 0;
fail:
    free(list);
    free(data);
    return -1;
}

/* The tokenizer (Fig 4's prompts, raw-text data) and Fig 4's prompts, tokenized and
 * checked now rather than after the long clean pass. `all` without a tokenizer skips
 * Fig 4 with a warning. */
static void open_tokenizer_and_prompts(ExpOptions *o, ExpRun *run) {
    char *tok_path = path_join(o->model_dir, "tokenizer.json");
    const AdvPrompt *prompts;
    Error err;
    int i;
    if (path_exists(tok_path)) {
        run->tok = tokenizer_load(tok_path, &err);
        if (!run->tok) die_error(&err);
        if (o->bos >= 0) tokenizer_set_bos_id(run->tok, (int)o->bos);
        run->tok_path = xstrdup(tok_path);
    }
    if ((o->which & EXP_FIG4) && !run->tok) {
        if (!o->is_all)
            die(EXIT_INPUT, "%s: not found; Fig 4 needs the model's tokenizer to tokenize its prompts", tok_path);
        fprintf(stderr, "cleanup: warning: %s not found: skipping Fig 4 (its prompts cannot be tokenized)\n", tok_path);
        o->which &= ~(unsigned)EXP_FIG4;
    }
    free(tok_path);
    if (!(o->which & EXP_FIG4)) return;
    if (o->prompts_file) {
        if (read_prompts(&run->model, o->prompts_file, run, &err)) die_error(&err);
        prompts = run->file_prompts;
    } else {
        prompts = exp_paper_prompts(&run->n_prompts);
    }
    run->prompt_records = xalloc_array((size_t)run->n_prompts, sizeof *run->prompt_records, "prompts");
    for (i = 0; i < run->n_prompts; i++) {
        PromptTokens pt;
        PromptRecord *rec = &run->prompt_records[i];
        if (exp_tokenize_prompt(&run->model, run->tok, &prompts[i], i + 1, run->T, &pt, &err)) {
            /* The problem is in the user's prompts file: name it. */
            if (o->prompts_file) die(err.code ? err.code : EXIT_INPUT, "%s: %s", o->prompts_file, err.msg);
            die_error(&err);
        }
        rec->prompt = prompts[i].prompt;
        rec->correct = prompts[i].correct;
        rec->incorrect = prompts[i].incorrect;
        rec->n_tokens = pt.n;
        rec->correct_id = pt.correct;
        rec->incorrect_id = pt.incorrect;
        rec->other_layer = prompts[i].other_layer;
        rec->other_head = prompts[i].other_head;
        free(pt.tokens);
    }
}

/* The data: --data FILE, or a directory's data.jsonl / rows-*.json files. */
static void open_data(const ExpOptions *o, ExpRun *run) {
    const ModelConfig *c = &run->model.cfg;
    Error err;
    if (o->data && !is_directory(o->data)) {
        if (!path_exists(o->data)) die(EXIT_INPUT, "%s: not found", o->data);
        run->data_files = xalloc_array(1, sizeof *run->data_files, "paths");
        run->data_files[0] = xstrdup(o->data);
        run->n_data_files = 1;
    } else if (data_find_files(o->data ? o->data : o->model_dir, &run->data_files, &run->n_data_files, &err)) {
        die_error(&err);
    }
    if (data_load_files(run->data_files, run->n_data_files, (int)o->n_rows, run->T, c->n_ctx, c->d_vocab, run->tok,
                        &run->data, &err))
        die_error(&err);
    run->data_label = xalloc_array(strlen(run->data_files[0]) + 64, 1, "data path");
    if (run->n_data_files == 1) strcpy(run->data_label, run->data_files[0]);
    else
        sprintf(run->data_label, "%s and %d more files (mixed in proportion)", run->data_files[0],
                run->n_data_files - 1);
}

static void close_inputs(ExpRun *run) {
    int i;
    data_free(&run->data);
    if (run->tok) tokenizer_free(run->tok);
    model_free(&run->model);
    free(run->file_prompts);
    free(run->prompts_text);
    free(run->data_label);
    free(run->prompt_records);
    free(run->tok_path);
    for (i = 0; i < run->n_data_files; i++) free(run->data_files[i]);
    free(run->data_files);
    if (run->memory_model.count) memdir_unmount();
    synth_files_free(&run->memory_model);
}

/* ------------------------------------------------------------------------ */
/* Outputs                                                                   */
/* ------------------------------------------------------------------------ */

/* Which model this is, in the terms of the reference sets: "gelu-4l" when the weights
 * carry gelu-4l's fingerprints (identity.h), "cleanup-planted", else the config's
 * model_name. The shape alone makes nothing gelu-4l. */
static const char *model_identity(const ExpRun *run) {
    if (run->identity.identified) return "gelu-4l";
    if (synth_is_planted(run->model.cfg.model_name)) return SYNTH_PLANTED_NAME;
    return run->model.cfg.model_name;
}

/* A checkpoint that has gelu-4l's shape but not its weights, other than synth's random
 * weights (named so): the user asked for the paper and did not get it. */
static int is_impostor(const ExpRun *run) {
    return run->identity.shape_matches && !run->identity.identified &&
           strcmp(run->model.cfg.model_name, SYNTH_RANDOM_NAME) != 0;
}

/* The run's configuration in the terms of a reference set (strings in bufs). */
static void run_config(const ExpOptions *o, const ExpRun *run, RefConfig *c, char *writer, char *cleaners, size_t n) {
    int i;
    size_t used = 0;
    memset(c, 0, sizeof *c);
    c->model = model_identity(run);
    snprintf(writer, n, "L%dH%d", run->heads.writer_layer, run->heads.writer_head);
    c->writer = writer;
    cleaners[0] = '\0';
    for (i = 0; i < run->heads.n_cleaners && used + 16 < n; i++)
        used += (size_t)snprintf(cleaners + used, n - used, "%sL%dH%d", i ? "," : "", run->heads.patched_layer,
                                 run->heads.cleaners[i]);
    c->cleaners = cleaners;
    c->prompts = o->prompts_file ? o->prompts_file : "paper";
    c->rows = run->data.n_rows;
    c->seq_len = run->data.seq_len;
    c->processed = run->model.processed;
}

/* The reference set the run is checked against (NULL: none, *why says why): --reference
 * FILE, else the model's own (the paper's for gelu-4l, the plant's for the planted model).
 * Checks of experiments that were not asked for are left out. */
static const RefSet *choose_reference(const ExpOptions *o, const ExpRun *run, RefSet *file_set, RefSet *subset,
                                      const char **why) {
    const RefSet *set = NULL;
    Error err;
    size_t i;
    *why = NULL;
    if (strcmp(o->checks, "none") == 0) {
        *why = "Not requested (`--checks none`).";
        return NULL;
    }
    if (o->reference) {
        if (refset_read(o->reference, file_set, &err)) die_error(&err);
        set = file_set;
    } else if (strcmp(model_identity(run), "gelu-4l") == 0) {
        set = paper_reference();
    } else if (strcmp(model_identity(run), SYNTH_PLANTED_NAME) == 0) {
        set = planted_reference();
    } else if (is_impostor(run)) {
        *why = "The model has gelu-4l's shape, but its weights are not the published checkpoint (see Model): the "
               "paper's values do not apply, and this run does not reproduce the paper.";
        return NULL;
    } else {
        *why = "This model is neither gelu-4l nor the planted model, and no `--reference FILE` was given.";
        return NULL;
    }
    *subset = *set;
    subset->owned = NULL;
    subset->checks = xalloc_array(set->n ? set->n : 1, sizeof *subset->checks, "checks");
    subset->n = 0;
    for (i = 0; i < set->n; i++) {
        const char *dot = strchr(set->checks[i].metric, '.');
        char unit[32];
        unsigned bit = 0;
        snprintf(unit, sizeof unit, "%.*s", dot ? (int)(dot - set->checks[i].metric) : 0, set->checks[i].metric);
        if (!experiment_find(unit, &bit) || (o->requested & bit))
            ((RefCheck *)subset->checks)[subset->n++] = set->checks[i];
    }
    return subset;
}

/* The command line as typed, each argument quoted when the shell would need it;
 * skip_out_threads leaves --out, --threads and --max-memory out (they change no number). */
static char *command_line(const ExpOptions *o, int skip_out_threads) {
    size_t cap = 64, used;
    char *s;
    int i;
    for (i = 0; i < o->argc; i++) cap += strlen(o->argv[i]) * 4 + 3;
    s = xalloc_array(cap, 1, "command line");
    used = (size_t)snprintf(s, cap, "cleanup");
    for (i = 0; i < o->argc; i++) {
        const char *a = o->argv[i], *p;
        if (skip_out_threads && i + 1 < o->argc &&
            (strcmp(a, "--out") == 0 || strcmp(a, "--threads") == 0 || strcmp(a, "--max-memory") == 0)) {
            i++;
            continue;
        }
        if (skip_out_threads && (strncmp(a, "--out=", 6) == 0 || strncmp(a, "--threads=", 10) == 0 ||
                                 strncmp(a, "--max-memory=", 13) == 0))
            continue;
        if (*a && strspn(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=./,:+@%") == strlen(a)) {
            used += (size_t)snprintf(s + used, cap - used, " %s", a);
            continue;
        }
        used += (size_t)snprintf(s + used, cap - used, " '");
        for (p = a; *p; p++)
            used += (size_t)snprintf(s + used, cap - used, *p == '\'' ? "'\\''" : "%c", *p);
        used += (size_t)snprintf(s + used, cap - used, "'");
    }
    return s;
}

/* Every option's effective value that can change a number ("--name value"). */
static int settings(const ExpOptions *o, const ExpRun *run, char lines[][160]) {
    int n = 0;
    snprintf(lines[n++], 160, "--model %s", o->model_dir);
    snprintf(lines[n++], 160, "--weights %s", run->model.weights_path ? run->model.weights_path : "(found in --model)");
    snprintf(lines[n++], 160, "--data %s", o->data ? o->data : o->model_dir);
    snprintf(lines[n++], 160, "--rows %d", run->data.n_rows);
    snprintf(lines[n++], 160, "--seq-len %d", run->data.seq_len);
    snprintf(lines[n++], 160, "--writer %s", o->writer);
    snprintf(lines[n++], 160, "--cleaners %s", o->cleaners);
    snprintf(lines[n++], 160, "--prompts %s", o->prompts_file ? o->prompts_file : "(the paper's four)");
    if (run->tok) snprintf(lines[n++], 160, "--bos-id %d", tokenizer_bos_id(run->tok));
    snprintf(lines[n++], 160, "%s", run->model.processed ? "processing: TransformerLens" : "--no-processing");
    snprintf(lines[n++], 160, "--checks %s", o->reference ? o->reference : o->checks);
    if (o->skipped) {
        char names[140];
        unit_names(o->skipped, ",", names, sizeof names);
        snprintf(lines[n++], 160, "--skip %s", names);
    }
    return n;
}

/* What the report says about the run. */
static void fill_report_input(const ExpOptions *o, const ExpRun *run, const Results *res, const Points *fig5,
                              ReportInput *in) {
    const Model *m = &run->model;
    memset(in, 0, sizeof *in);
    in->results = res;
    in->fig5_x = fig5->x;
    in->fig5_y = fig5->y;
    in->fig5_n = fig5->n;
    in->model_dir = o->model_dir;
    in->model_source = run->memory_model.count ? run->memory_source : NULL;
    in->config_path = m->config_path;
    in->weights_path = m->weights_path;
    in->weights_sha256 = m->weights_sha256;
    in->model_name = m->cfg.model_name;
    in->n_layers = m->cfg.n_layers;
    in->n_heads = m->cfg.n_heads;
    in->d_model = m->cfg.d_model;
    in->d_head = m->cfg.d_head;
    in->d_mlp = m->cfg.d_mlp;
    in->n_ctx = m->cfg.n_ctx;
    in->d_vocab = m->cfg.d_vocab;
    in->attn_only = m->cfg.attn_only;
    in->act_fn = m->cfg.act_fn_name;
    in->processed = m->processed;
    in->is_gelu_4l = strcmp(model_identity(run), "gelu-4l") == 0;
    in->is_planted = strcmp(model_identity(run), SYNTH_PLANTED_NAME) == 0;
    in->not_reproduced = is_impostor(run) && !o->reference && strcmp(o->checks, "none") != 0;
    in->gelu4l_shape = run->identity.shape_matches;
    in->fingerprints_matched = run->identity.matched;
    in->fingerprints_total = run->identity.total;
    in->data_path = run->data_label;
    in->data_files = (const char *const *)run->data_files;
    in->n_data_files = run->n_data_files;
    in->tokenizer_path = run->tok_path;
    in->prompts_path = o->prompts_file;
    in->prompts = run->prompt_records;
    in->n_prompts = run->prompt_records ? run->n_prompts : 0;
    in->n_rows = run->data.n_rows;
    in->seq_len = run->data.seq_len;
    in->writer_layer = run->heads.writer_layer;
    in->writer_head = run->heads.writer_head;
    in->patched_layer = run->heads.patched_layer;
    in->n_cleaners = run->heads.n_cleaners;
    in->cleaner_heads = run->heads.cleaners;
    in->threads = thread_count();
    in->units = o->requested;
}

/* One line with the verdict, as report.md's summary says it. */
static void print_verdict(const Verdict *v, const char *why_none) {
    int comparable;
    if (!v->set) {
        printf("checks: none. %s\n", why_none);
        return;
    }
    comparable = (int)v->set->n - v->n_not_comparable;
    printf("checks against %s: %d of %d comparable checks PASS, %d FAIL, %d missing", v->set->name, v->n_pass,
           comparable, v->n_fail, v->n_missing);
    if (v->n_not_comparable) printf("; %d not comparable (the run's configuration differs)", v->n_not_comparable);
    printf("\nverdict: %s\n", verdict_failed(v) ? "NOT REPRODUCED (exit status 6)"
                              : comparable      ? "REPRODUCED"
                                                : "not assessed (no check applies to this configuration)");
}

/* The scan's top writers (scan.tsv) and how to study one with `all`. */
static void print_scan_summary(const char *out) {
    char *path = path_join(out, "scan.tsv");
    FILE *f = fopen(path, "r");
    char line[1024];
    int n = 0;
    if (f) {
        printf("top writers (rank, writer, after, PR after, PR at the end, gone, spread at the end, score = gone / spread,\n"
               " n_cleaners, cleaners' summed PR, "
               "cleaners):\n");
        while (fgets(line, sizeof line, f) && n++ < 6)
            if (n > 1) printf("  %s", line);
        fclose(f);
        printf("all writers: %s. Study one with `cleanup all --writer W --cleaners C1,C2,...` taken from it\n"
               "(the cleaners of --cleaners must be heads of one layer).\n",
               path);
    }
    free(path);
}

/* Writes results.tsv, the figures, report.md and SHA256SUMS; returns the exit status:
 * EXIT_CHECKS when a comparable check failed or is missing. */
static int write_outputs(const ExpOptions *o, const ExpRun *run, const Results *res, const Points *fig5,
                         const ExpMemory *memory, double t0) {
    ReportInput in;
    RefSet file_set, subset;
    RefConfig config;
    Verdict v;
    const RefSet *set;
    const char *why_none;
    char writer[24], cleaners[1024], lines[16][160];
    const char *setting_ptrs[16];
    char *cmd_full = command_line(o, 0), *cmd_report = command_line(o, 1);
    Error err;
    int i, n_settings, failed;

    memset(&file_set, 0, sizeof file_set);
    memset(&subset, 0, sizeof subset);
    run_config(o, run, &config, writer, cleaners, sizeof cleaners);
    set = choose_reference(o, run, &file_set, &subset, &why_none);
    verdict_evaluate(set, &config, res, &v);
    fill_report_input(o, run, res, fig5, &in);
    in.verdict = &v;
    in.no_checks_reason = why_none;
    in.command_line = cmd_report;
    in.command_line_full = cmd_full;
    n_settings = settings(o, run, lines);
    for (i = 0; i < n_settings; i++) setting_ptrs[i] = lines[i];
    in.settings = setting_ptrs;
    in.n_settings = n_settings;
    in.seconds = now_seconds() - t0;
    in.memory_budget = memory->budget;
    in.memory_budget_from = o->max_memory_from;
    in.batch_rows = memory->batch_rows;
    in.passes = memory->passes;
    in.peak_rss = peak_rss_bytes();
    if (report_write_all(o->out, &in, &err)) die_error(&err);
    printf("wrote %s/results.tsv (%d metrics), figures and report.md in %.1f s\n", o->out, res->count,
           now_seconds() - t0);
    print_verdict(&v, why_none);
    if (o->which & EXP_SCAN) print_scan_summary(o->out);
    if (in.not_reproduced) printf("verdict: NOT REPRODUCED (exit status 6)\n");
    printf("report: %s/report.md   (check the files with: ./cleanup verify %s)\n", o->out, o->out);
    failed = verdict_failed(&v) || in.not_reproduced;
    verdict_free(&v);
    free((void *)subset.checks);
    refset_free(&file_set);
    free(cmd_full);
    free(cmd_report);
    return failed ? EXIT_CHECKS : EXIT_OK;
}

/* ------------------------------------------------------------------------ */
/* The command                                                               */
/* ------------------------------------------------------------------------ */

int cmd_experiment(int argc, char **argv) {
    ExpOptions o;
    ExpRun run;
    ExpInputs in;
    ExpMemory memory;
    Results res;
    Points fig5;
    Error err;
    double t0 = now_seconds();
    int rc = parse_options(argc, argv, &o);
    if (rc >= 0) return rc;
    if (o.threads > 0) set_thread_count((int)o.threads);

    memset(&run, 0, sizeof run);
    prepare_out(&o);
    open_model(&o, &run);
    open_heads(&o, &run);
    open_tokenizer_and_prompts(&o, &run);
    open_data(&o, &run);
    printf("data: %s (%s), %d rows x %d tokens\n", run.data_label, run.data.format, run.data.n_rows,
           run.data.seq_len);
    printf("heads: writer L%dH%d, %d cleaners in layer %d; %d thread(s)\n", run.heads.writer_layer,
           run.heads.writer_head, run.heads.n_cleaners, run.heads.patched_layer, thread_count());
    fflush(stdout);

    memset(&in, 0, sizeof in);
    in.model = &run.model;
    in.data = &run.data;
    in.heads = &run.heads;
    in.tokenizer = run.tok;
    in.prompts = run.file_prompts;
    in.n_prompts = run.n_prompts;
    in.scan_pairs = o.scan_pairs;
    in.max_memory = o.max_memory;
    in.memory = &memory;
    memset(&memory, 0, sizeof memory);
    results_init(&res);
    points_init(&fig5);
    if (experiments_run(&in, o.which, &res, &fig5, &err)) die_error(&err);
    rc = write_outputs(&o, &run, &res, &fig5, &memory, t0);

    results_free(&res);
    points_free(&fig5);
    close_inputs(&run);
    return rc;
}
