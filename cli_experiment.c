/* cli_experiment.c - `cleanup all` and `cleanup NAME` for one experiment unit:
 * parse the options, open the inputs (model, heads, tokenizer and prompts, data),
 * run the selected units, write the outputs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "experiments.h"
#include "report.h"
#include "synth.h"

typedef struct {
    const char *cmd;
    unsigned which;   /* EXP_* bits of the units to run */
    int is_all;       /* `all`: every unit, then the figures and report.md */
    int with_report;  /* `all` and `scan`: figures, report.md and SHA256SUMS too */
    const char *model_dir, *weights, *data, *out, *prompts_file, *writer, *cleaners;
    long n_rows, seq_len, threads, bos;
    int no_processing;
    int heads_given;  /* --writer or --cleaners on the command line */
    int scan_pairs;   /* SCAN_PAIRS_* */
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
} ExpRun;

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
               "  all    every experiment, then the figures and report.md (see `cleanup verify`)\n"
               "  scan   also writes scan.tsv, its figures, report.md and SHA256SUMS\n");
    for (i = 0; i < n; i++) fprintf(f, "  %-6s %s\n", units[i]->name, units[i]->summary);
    fprintf(f,
            "\n"
            "options:\n"
            "  --model DIR       model directory (config.json, weights, tokenizer.json, data.jsonl);\n"
            "                    default weights/gelu-4l if present, else weights/planted\n"
            "  --weights FILE    weights file (default: the *final.pth / .pth / .safetensors in DIR)\n"
            "  --data FILE|DIR   rows: {\"tokens\":[...]} JSONL, datasets-server /rows JSON, or raw\n"
            "                    text ({\"text\":...} JSONL or plain text). A directory (default: the\n"
            "                    model's) gives its data.jsonl, else all its rows-*.json, mixed in\n"
            "                    proportion to their sizes\n"
            "  --n-prompts N     number of dataset rows (default 300)\n"
            "  --seq-len T       tokens per row (default n_ctx); longer rows are truncated\n"
            "  --out DIR         output directory (default out/)\n"
            "  --threads N       worker threads (results do not depend on it)\n"
            "  --writer LxHy     the writer head (default L0H2)\n"
            "  --cleaners LIST   cleaner heads, all in one layer, the patched layer\n"
            "                    (default L2H2,L2H3,L2H4,L2H5,L2H6,L2H7)\n"
            "  --prompts FILE    Fig 4 prompts, TSV: prompt, correct, incorrect, other head\n"
            "                    (\\n, \\t, \\\\ escapes; # comments); default the paper's four\n"
            "  --bos ID          BOS token id prepended to prompts and text rows\n"
            "  --no-processing   use the raw weights (no TransformerLens folding/centering)\n"
            "  --scan-pairs M    the scan's node x node quantiles: auto (default: exact when they\n"
            "                    fit in 192 MB, else binned within 5e-4), exact or binned\n"
            "\n"
            "exit codes: 0 ok, 1 bad command line, 2 bad input, 3 cannot write, 5 out of memory\n");
}

/* ------------------------------------------------------------------------ */
/* Options                                                                   */
/* ------------------------------------------------------------------------ */

/* Fills o from argv. Returns -1 to go on, or an exit code (after --help or a bad option). */
static int parse_options(int argc, char **argv, ExpOptions *o) {
    int i;
    memset(o, 0, sizeof *o);
    o->cmd = argv[0];
    o->n_rows = 300;
    o->bos = -1;
    o->out = "out";
    o->writer = "L0H2";
    o->cleaners = "L2H2,L2H3,L2H4,L2H5,L2H6,L2H7";
    if (strcmp(o->cmd, "all") == 0) {
        o->is_all = o->with_report = 1;
        o->which = experiment_all();
    } else if (!experiment_find(o->cmd, &o->which)) {
        die(EXIT_USAGE, "unknown experiment '%s'", o->cmd);
    }
    if (o->which == EXP_SCAN) o->with_report = 1;
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
        } else if (arg_value(argc, argv, &i, "--n-prompts", &v)) {
            o->n_rows = arg_int(v, 1, 100000000, "--n-prompts");
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
        } else if (arg_value(argc, argv, &i, "--scan-pairs", &v)) {
            if (strcmp(v, "auto") == 0) o->scan_pairs = SCAN_PAIRS_AUTO;
            else if (strcmp(v, "exact") == 0) o->scan_pairs = SCAN_PAIRS_EXACT;
            else if (strcmp(v, "binned") == 0) o->scan_pairs = SCAN_PAIRS_BINNED;
            else die(EXIT_USAGE, "--scan-pairs must be auto, exact or binned, not '%s'", v);
        } else if (arg_value(argc, argv, &i, "--prompts", &v)) {
            o->prompts_file = v;
        } else if (arg_value(argc, argv, &i, "--bos", &v)) {
            o->bos = arg_int(v, 0, 100000000, "--bos");
        } else {
            fprintf(stderr, "cleanup %s: unknown option '%s'\n\n", o->cmd, argv[i]);
            print_usage(stderr);
            return EXIT_USAGE;
        }
    }
    return -1;
}

/* ------------------------------------------------------------------------ */
/* Inputs                                                                    */
/* ------------------------------------------------------------------------ */

/* The model: --model, else the paper's when it is there, else the bundled planted one. */
static void open_model(ExpOptions *o, ExpRun *run) {
    Error err;
    if (!o->model_dir) {
        if (path_exists("weights/gelu-4l/config.json")) {
            o->model_dir = "weights/gelu-4l";
            printf("model: weights/gelu-4l (the paper's model, found in weights/)\n");
        } else {
            o->model_dir = "weights/planted";
            printf("model: weights/planted - the bundled PLANTED model, not gelu-4l (weights/gelu-4l/config.json\n"
                   "       not found). It exercises the whole pipeline on a known circuit; to reproduce the\n"
                   "       paper, get gelu-4l with `make fetch` or by hand (README, \"Getting gelu-4l\").\n");
        }
    }
    if (model_load(o->model_dir, o->weights, !o->no_processing, &run->model, &err)) die_error(&err);
    run->T = o->seq_len ? (int)o->seq_len : run->model.cfg.n_ctx;
    if (run->T > run->model.cfg.n_ctx)
        die(EXIT_USAGE, "--seq-len %d is longer than the model's n_ctx %d", run->T, run->model.cfg.n_ctx);
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
    char *line, *next;
    int line_no = 0, n = 0, cap = 0;
    AdvPrompt *list = NULL;
    if (read_file(path, (size_t)16 << 20, &data, &len, err)) return -1;
    for (line = (char *)data; line && *line; line = next) {
        char *f[4];
        size_t ll;
        next = strchr(line, '\n');
        if (next) *next++ = '\0';
        line_no++;
        ll = strlen(line);
        if (ll && line[ll - 1] == '\r') line[--ll] = '\0';
        if (ll == 0 || line[0] == '#') continue;
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
    for (i = 0; i < run->n_prompts; i++) {
        PromptTokens pt;
        if (exp_tokenize_prompt(&run->model, run->tok, &prompts[i], i + 1, run->T, &pt, &err)) {
            /* The problem is in the user's prompts file: name it. */
            if (o->prompts_file) die(err.code ? err.code : EXIT_INPUT, "%s: %s", o->prompts_file, err.msg);
            die_error(&err);
        }
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
    for (i = 0; i < run->n_data_files; i++) free(run->data_files[i]);
    free(run->data_files);
}

/* ------------------------------------------------------------------------ */
/* Outputs                                                                   */
/* ------------------------------------------------------------------------ */

static int is_gelu_4l_shape(const ModelConfig *c) {
    return c->d_model == 512 && c->n_layers == 4 && c->n_heads == 8 && c->d_vocab == 48262 && c->d_mlp == 2048;
}

/* What the report says about the run, and the reference values it is checked against. */
static void fill_report_input(const ExpRun *run, const char *model_dir, const Results *res, const Points *fig5,
                              ReportInput *in) {
    const Model *m = &run->model;
    memset(in, 0, sizeof *in);
    in->results = res;
    in->fig5_x = fig5->x;
    in->fig5_y = fig5->y;
    in->fig5_n = fig5->n;
    in->model_dir = model_dir;
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
    /* The paper's values hold for gelu-4l as the authors loaded it (processed);
     * synth's random weights of the same shape are named so as not to be checked. */
    in->is_gelu_4l = is_gelu_4l_shape(&m->cfg) && strcmp(m->cfg.model_name, SYNTH_RANDOM_NAME) != 0;
    in->is_planted = synth_is_planted(m->cfg.model_name);
    if (!m->processed) {
        in->checks = NULL; /* --no-processing: the reference values do not apply */
        in->n_checks = 0;
    } else if (in->is_gelu_4l) {
        in->checks = paper_checks_table(&in->n_checks);
    } else if (in->is_planted) {
        in->checks = planted_checks_table(&in->n_checks);
    }
    in->data_path = run->data_label;
    in->n_rows = run->data.n_rows;
    in->seq_len = run->data.seq_len;
    in->writer_layer = run->heads.writer_layer;
    in->writer_head = run->heads.writer_head;
    in->patched_layer = run->heads.patched_layer;
    in->n_cleaners = run->heads.n_cleaners;
    in->cleaner_heads = run->heads.cleaners;
    in->threads = thread_count();
}

/* One line saying how the run compares with its reference values, if any. */
static void print_check_summary(const ReportInput *in, const Results *res) {
    size_t i, pass = 0, fail = 0, missing = 0;
    double value;
    if (!in->checks || in->n_checks == 0) {
        printf("checks: no reference values for this model\n");
        return;
    }
    for (i = 0; i < in->n_checks; i++) {
        int outcome = refcheck_eval(&in->checks[i], res, &value);
        if (outcome == REFCHECK_PASS) pass++;
        else if (outcome == REFCHECK_FAIL) fail++;
        else missing++;
    }
    printf("checks: %lu of %lu %s PASS, %lu FAIL, %lu missing\n", (unsigned long)pass, (unsigned long)in->n_checks,
           in->is_planted ? "planted-model expectations" : "paper reference values", (unsigned long)fail,
           (unsigned long)missing);
}

/* The checks of in that belong to the units in `which` (metric prefix "NAME."), in a new
 * array (free it); the count goes to *n. */
static RefCheck *checks_of_units(const ReportInput *in, unsigned which, size_t *n) {
    const Experiment *const *units;
    RefCheck *kept = xalloc_array(in->n_checks ? in->n_checks : 1, sizeof *kept, "checks");
    size_t i;
    int u, n_units;
    units = experiment_list(&n_units);
    *n = 0;
    for (i = 0; i < in->n_checks; i++)
        for (u = 0; u < n_units; u++) {
            size_t len = strlen(units[u]->name);
            if ((which & (1u << u)) && strncmp(in->checks[i].metric, units[u]->name, len) == 0 &&
                in->checks[i].metric[len] == '.') {
                kept[(*n)++] = in->checks[i];
                break;
            }
        }
    return kept;
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

/* `all` and `scan`: results.tsv, figures, report.md, SHA256SUMS; another experiment:
 * results.tsv alone. */
static void write_outputs(const ExpOptions *o, const ExpRun *run, const Results *res, const Points *fig5, double t0) {
    Error err;
    if (make_dirs(o->out, &err)) {
        err.code = EXIT_IO;
        die_error(&err);
    }
    if (o->with_report) {
        ReportInput in;
        RefCheck *kept = NULL;
        fill_report_input(run, o->model_dir, res, fig5, &in);
        if (!o->is_all && in.checks) { /* only the checks of the units that ran */
            kept = checks_of_units(&in, o->which, &in.n_checks);
            in.checks = kept;
        }
        in.seconds = now_seconds() - t0;
        if (report_write_all(o->out, &in, &err)) die_error(&err);
        printf("wrote %s/results.tsv (%d metrics), figures and report.md in %.1f s\n", o->out, res->count,
               now_seconds() - t0);
        print_check_summary(&in, res);
        if (o->which & EXP_SCAN) print_scan_summary(o->out);
        printf("report: %s/report.md   (check the files with: ./cleanup verify %s)\n", o->out, o->out);
        free(kept);
    } else {
        char *path = path_join(o->out, "results.tsv");
        if (results_write_tsv(res, path, &err)) {
            err.code = EXIT_IO;
            die_error(&err);
        }
        printf("wrote %s (%d metrics) in %.1f s\n", path, res->count, now_seconds() - t0);
        free(path);
    }
}

/* ------------------------------------------------------------------------ */
/* The command                                                               */
/* ------------------------------------------------------------------------ */

int cmd_experiment(int argc, char **argv) {
    ExpOptions o;
    ExpRun run;
    ExpInputs in;
    Results res;
    Points fig5;
    Error err;
    double t0 = now_seconds();
    int rc = parse_options(argc, argv, &o);
    if (rc >= 0) return rc;
    if (o.threads > 0) set_thread_count((int)o.threads);

    memset(&run, 0, sizeof run);
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
    results_init(&res);
    points_init(&fig5);
    if (experiments_run(&in, o.which, &res, &fig5, &err)) die_error(&err);
    write_outputs(&o, &run, &res, &fig5, t0);

    results_free(&res);
    points_free(&fig5);
    close_inputs(&run);
    return EXIT_OK;
}
