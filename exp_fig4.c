/* exp_fig4.c - Fig 4 (docs/PROTOCOL.md section 5.4): the adversarial prompts. For each prompt:
 * the clean logit difference (correct - incorrect), whether the two answers are the
 * model's top two, and the direct logit attribution of the writer and of the prompt's
 * "other head" at the last position, clean and resample-patched (the head's input at
 * the last position taken from each dataset row). Metrics fig4.p{k}.*. Runs on its own,
 * not in the clean pass. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "experiments.h"
#include "report.h"

static const AdvPrompt paper_prompts[] = {
    {"It's in the cupboard, either on the top or on the", " bottom", " top", 3, 1},
    {"I went to university at Michigan", " State", " University", 2, 1},
    {"class MyClass:\n\tdef", " __", " get", 3, 5},
    {"The church I go to is the Seventh-day Adventist", " Church", " church", 2, 2},
};

const AdvPrompt *exp_paper_prompts(int *count) {
    *count = (int)(sizeof paper_prompts / sizeof paper_prompts[0]);
    return paper_prompts;
}

static int answer_token(Tokenizer *tok, const char *answer, int k, const char *what, int *id, Error *err) {
    int *ids = NULL;
    size_t n = 0;
    if (tokenizer_encode(tok, answer, strlen(answer), &ids, &n, err)) return -1;
    if (n != 1) {
        free(ids);
        return error_set(err, "Fig 4 prompt %d: the %s answer '%s' is %zu tokens, not one", k, what, answer, n);
    }
    *id = ids[0];
    free(ids);
    return 0;
}

int exp_tokenize_prompt(const Model *m, Tokenizer *tok, const AdvPrompt *p, int k, int max_len, PromptTokens *pt,
                           Error *err) {
    int *ids = NULL, bos = tokenizer_bos_id(tok);
    size_t n = 0;
    char src[64];
    memset(pt, 0, sizeof *pt);
    if (bos < 0) return error_set(err, "the tokenizer defines no BOS token (pass --bos ID)");
    if (p->other_layer < 0 || p->other_layer >= m->cfg.n_layers || p->other_head < 0 ||
        p->other_head >= m->cfg.n_heads)
        return error_set_code(err, EXIT_USAGE, "Fig 4 prompt %d: head L%dH%d does not exist in this model", k,
                              p->other_layer, p->other_head);
    if (answer_token(tok, p->correct, k, "correct", &pt->correct, err) ||
        answer_token(tok, p->incorrect, k, "incorrect", &pt->incorrect, err))
        return -1;
    if (tokenizer_encode(tok, p->prompt, strlen(p->prompt), &ids, &n, err)) return -1;
    if (n + 1 > (size_t)max_len) {
        free(ids);
        return error_set(err, "Fig 4 prompt %d is %zu tokens with BOS, longer than the %d-token dataset rows", k, n + 1,
                         max_len);
    }
    pt->n = (int)n + 1;
    pt->tokens = xalloc_array((size_t)pt->n, sizeof(int), "prompt");
    pt->tokens[0] = bos;
    if (n) memcpy(pt->tokens + 1, ids, n * sizeof(int));
    free(ids);
    snprintf(src, sizeof src, "Fig 4 prompt %d", k);
    if (model_check_tokens(m, pt->tokens, (size_t)pt->n, pt->n, src, err) ||
        model_check_tokens(m, &pt->correct, 1, 1, src, err) || model_check_tokens(m, &pt->incorrect, 1, 1, src, err)) {
        free(pt->tokens);
        pt->tokens = NULL;
        return -1;
    }
    return 0;
}

int exp_fig4_prompt(const Model *m, const Dataset *ds, const ExpHeads *hd, const PromptTokens *pt, int other_layer,
                    int other_head, int k, Results *res, Error *err, size_t max_memory) {
    const ModelConfig *c = &m->cfg;
    int D = c->d_model, V = c->d_vocab, T = pt->n, last = T - 1, n_heads, hi, batch, row, b;
    int layers[2], heads[2], top1 = 0, top2 = -1, stop_layer;
    Activations ap, ar;
    ForwardOptions opt;
    Samples patched[2];
    float *u = NULL, *out = NULL;
    int *rows_tokens = NULL;
    const float *lg;
    char name[256], lab[32];
    float s;

    /* The clean run of the prompt, with logits. */
    if (T < 1 || T > ds->seq_len || T > c->n_ctx)
        return error_set(err, "Fig 4 prompt %d: %d tokens do not fit the %d-token dataset rows", k, T, ds->seq_len);
    if (other_layer < 0 || other_layer >= c->n_layers || other_head < 0 || other_head >= c->n_heads)
        return error_set_code(err, EXIT_USAGE, "Fig 4 prompt %d: head L%dH%d does not exist in this model", k,
                              other_layer, other_head);
    if (activations_alloc(&ap, m, 1, T, 0, 1, err)) return -1;
    model_forward(m, &ap, pt->tokens, 1, T, NULL);
    lg = ap.logits + (size_t)last * V;
    snprintf(name, sizeof name, "fig4.p%d.logit_diff", k);
    results_set(res, name, (double)lg[pt->correct] - (double)lg[pt->incorrect]);
    logits_top2(lg, V, &top1, &top2);
    snprintf(name, sizeof name, "fig4.p%d.top2", k);
    results_set(res, name,
                ((top1 == pt->correct && top2 == pt->incorrect) || (top1 == pt->incorrect && top2 == pt->correct)) ? 1.0
                                                                                                                  : 0.0);

    /* DLA along W_U[:,c] - W_U[:,i] with the clean ln_final scale at T-1. */
    u = xalloc_array((size_t)D, sizeof(float), "fig4");
    out = xalloc_array((size_t)D, sizeof(float), "fig4");
    unembed_direction(m, pt->correct, pt->incorrect, u);
    s = ap.lnf_scale[last];
    layers[0] = hd->writer_layer;
    heads[0] = hd->writer_head;
    layers[1] = other_layer;
    heads[1] = other_head;
    n_heads = (layers[1] == layers[0] && heads[1] == heads[0]) ? 1 : 2;
    for (hi = 0; hi < n_heads; hi++) {
        head_label(lab, sizeof lab, layers[hi], heads[hi]);
        snprintf(name, sizeof name, "fig4.p%d.%s.clean", k, lab);
        results_set(res, name,
                    direct_logit_attribution(hook_result_at(m, &ap, layers[hi], heads[hi], 0, last), D, s, m->lnf_w, u));
        samples_init(&patched[hi]);
    }

    /* Patched: each dataset row, truncated to T, supplies the head's ln1-normalized
     * input at T-1; only the layers up to the highest patched head are run. */
    stop_layer = layers[0] > layers[1] ? layers[0] : layers[1];
    /* As many rows per forward as fit in exp_batch_bytes() (prompts are short, but
     * --prompts may bring long ones), at most 64. */
    if (activations_alloc(&ar, m, 1, T, 0, 0, err)) {
        activations_free(&ap);
        free(u);
        free(out);
        return -1;
    }
    batch = (int)(exp_batch_bytes(m, ds, max_memory) / (ar.bytes ? ar.bytes : 1));
    if (batch > 64) batch = 64;
    if (batch > ds->n_rows) batch = ds->n_rows;
    if (batch > 1) {
        activations_free(&ar);
        if (activations_alloc(&ar, m, batch, T, 0, 0, err)) {
            activations_free(&ap);
            free(u);
            free(out);
            return -1;
        }
    } else {
        batch = 1;
    }
    rows_tokens = xalloc_array((size_t)batch * T, sizeof(int), "fig4 rows");
    opt = forward_options_default();
    opt.stop_after_layer = stop_layer;
    opt.compute_logits = 0;
    for (row = 0; row < ds->n_rows; row += batch) {
        int n = ds->n_rows - row < batch ? ds->n_rows - row : batch;
        for (b = 0; b < n; b++)
            memcpy(rows_tokens + (size_t)b * T, ds->tokens + (size_t)(row + b) * ds->seq_len, (size_t)T * sizeof(int));
        model_forward(m, &ar, rows_tokens, n, T, &opt);
        for (b = 0; b < n; b++)
            for (hi = 0; hi < n_heads; hi++) {
                const float *input = ar.layer[layers[hi]].ln1_normalized + ((size_t)b * T + last) * D;
                head_result_with_input(m, &ap, 0, layers[hi], heads[hi], last, input, out);
                samples_add(&patched[hi], (float)direct_logit_attribution(out, D, s, m->lnf_w, u));
            }
    }
    for (hi = 0; hi < n_heads; hi++) {
        head_label(lab, sizeof lab, layers[hi], heads[hi]);
        snprintf(name, sizeof name, "fig4.p%d.%s.patched", k, lab);
        add_quantiles3(res, name, &patched[hi]);
        samples_free(&patched[hi]);
    }
    free(rows_tokens);
    free(u);
    free(out);
    activations_free(&ar);
    activations_free(&ap);
    return 0;
}

int exp_fig4(const Model *m, const Dataset *ds, const ExpHeads *hd, Tokenizer *tok, const AdvPrompt *prompts,
             int n_prompts, Results *res, Error *err, size_t max_memory) {
    int k;
    if (exp_heads_check(m, hd, err)) return -1;
    for (k = 0; k < n_prompts; k++) {
        PromptTokens pt;
        int rc;
        if (exp_tokenize_prompt(m, tok, &prompts[k], k + 1, ds->seq_len, &pt, err)) return -1;
        rc = exp_fig4_prompt(m, ds, hd, &pt, prompts[k].other_layer, prompts[k].other_head, k + 1, res, err,
                             max_memory);
        free(pt.tokens);
        if (rc) return -1;
    }
    return 0;
}

static int fig4_check(const ExpInputs *in, Error *err) {
    if (!in->tokenizer)
        return error_set(err, "Fig 4 needs the model's tokenizer (tokenizer.json) to tokenize its prompts");
    return 0;
}

static int fig4_run(const ExpInputs *in, Results *res, Error *err) {
    int n = in->n_prompts;
    const AdvPrompt *prompts = in->prompts ? in->prompts : exp_paper_prompts(&n);
    return exp_fig4(in->model, in->data, in->heads, in->tokenizer, prompts, n, res, err, in->max_memory);
}

/* ---- figure and report ---- */

#define MAX_PROMPTS 256

/* The prompts with metrics and each one's "other head" ("" if none). */
typedef struct {
    int n_prompts;
    char other[MAX_PROMPTS][24];
} Fig4Heads;

/* Finds prompt k's "other head": a head other than the writer that has
 * fig4.p{k}.{head}.clean or .patched.* metrics (the smallest name if several). */
static void find_other_head(const Results *r, int k, const char *writer, char *out, size_t n) {
    char prefix[32];
    size_t plen;
    int i;
    out[0] = '\0';
    snprintf(prefix, sizeof prefix, "fig4.p%d.", k);
    plen = strlen(prefix);
    for (i = 0; i < r->count; i++) {
        const char *name = r->items[i].name, *head, *dot;
        char cand[24];
        size_t hl;
        int a, b, used = 0;
        if (strncmp(name, prefix, plen) != 0) continue;
        head = name + plen;
        dot = strchr(head, '.');
        if (!dot || (strcmp(dot, ".clean") != 0 && strncmp(dot, ".patched.", 9) != 0)) continue;
        hl = (size_t)(dot - head);
        if (hl >= sizeof cand) continue;
        memcpy(cand, head, hl);
        cand[hl] = '\0';
        if (sscanf(cand, "L%dH%d%n", &a, &b, &used) != 2 || (size_t)used != hl) continue;
        if (strcmp(cand, writer) == 0) continue;
        if (out[0] == '\0' || strcmp(cand, out) < 0) snprintf(out, n, "%s", cand);
    }
}

static void fig4_heads(const ReportContext *c, Fig4Heads *fh) {
    int k;
    fh->n_prompts = 0;
    for (k = 1; k <= MAX_PROMPTS; k++) {
        char prefix[32];
        snprintf(prefix, sizeof prefix, "fig4.p%d.", k);
        if (!has_prefix_metric(c->r, prefix)) break;
        find_other_head(c->r, k, c->writer, fh->other[k - 1], sizeof fh->other[k - 1]);
        fh->n_prompts = k;
    }
}

/* One row per prompt: the head's clean DLA and patched median, q12_5, q87_5 (NaN when
 * the prompt has no such head), the clean logit difference and the top-2 flag. Panel
 * which = 0 shows the writer (4a), 1 each prompt's other head (4b). */
static void fig4_table(const ReportContext *c, const Fig4Heads *fh, int which, Table *tb) {
    static const char *const cols[6] = {"clean", "patched_median", "patched_q12_5", "patched_q87_5", "logit_diff",
                                        "top2"};
    int k, j;
    table_init(tb, fh->n_prompts, 6);
    for (j = 0; j < 6; j++) snprintf(tb->colnames[j], LABEL_LEN, "%s", cols[j]);
    for (k = 0; k < fh->n_prompts; k++) {
        const char *head = which ? fh->other[k] : c->writer;
        if (which)
            snprintf(tb->labels[k], LABEL_LEN, "P%d_%s", k + 1, head[0] ? head : "none");
        else
            snprintf(tb->labels[k], LABEL_LEN, "P%d", k + 1);
        if (head[0]) {
            *table_cell(tb, k, 0) = metric_value(c->r, "fig4.p%d.%s.clean", k + 1, head);
            *table_cell(tb, k, 1) = metric_value(c->r, "fig4.p%d.%s.patched.median", k + 1, head);
            *table_cell(tb, k, 2) = metric_value(c->r, "fig4.p%d.%s.patched.q12_5", k + 1, head);
            *table_cell(tb, k, 3) = metric_value(c->r, "fig4.p%d.%s.patched.q87_5", k + 1, head);
        }
        *table_cell(tb, k, 4) = metric_value(c->r, "fig4.p%d.logit_diff", k + 1);
        *table_cell(tb, k, 5) = metric_value(c->r, "fig4.p%d.top2", k + 1);
    }
}

/* s with newline, tab and backslash written as \n, \t, \\ (one line of a .dat header). */
static void text_escaped(Text *t, const char *s) {
    for (; *s; s++) {
        if (*s == '\n') text_puts(t, "\\n");
        else if (*s == '\t') text_puts(t, "\\t");
        else if (*s == '\\') text_puts(t, "\\\\");
        else {
            char ch[2];
            ch[0] = *s;
            ch[1] = '\0';
            text_puts(t, ch);
        }
    }
}

/* The prompts as run, one header line each: text, answers and their token ids. */
static void dat_prompts(const ReportInput *in, Text *t) {
    int k;
    for (k = 0; in->prompts && k < in->n_prompts; k++) {
        const PromptRecord *p = &in->prompts[k];
        text_printf(t, "# prompt P%d (%d tokens with BOS, other head L%dH%d): \"", k + 1, p->n_tokens, p->other_layer,
                    p->other_head);
        text_escaped(t, p->prompt);
        text_puts(t, "\" -> correct \"");
        text_escaped(t, p->correct);
        text_printf(t, "\" (id %d), incorrect \"", p->correct_id);
        text_escaped(t, p->incorrect);
        text_printf(t, "\" (id %d)\n", p->incorrect_id);
    }
}

/* fig4a.* (which = 0) or fig4b.* (which = 1): .dat, .gp, .svg. */
static int fig4_write_panel(const ReportContext *c, const Table *tb, int which, Text *t, Outputs *o) {
    static const BarGroup groups[2] = {{"clean DLA", COLOR_CLEAN, 0, -1, -1},
                                       {"patched DLA (median)", COLOR_PATCHED, 1, 2, 3}};
    const char *stem = which ? "fig4b" : "fig4a";
    char title[256];
    t->len = 0;
    text_printf(t,
                "# %s.dat - Fig 4%s: direct logit attribution (DLA) of %s at the last position along\n"
                "# W_U[:,correct] - W_U[:,incorrect] for each adversarial prompt: clean, and resample-patched\n"
                "# (the head's query/key/value input at the last position taken from each data row; median,\n"
                "# 12.5 and 87.5 percentiles over rows). logit_diff = clean logit difference (b_U included);\n"
                "# top2 = 1 if the two answers are the model's two highest logits.\n"
                "# From results.tsv: fig4.p{k}.{head}.clean, fig4.p{k}.{head}.patched.{median,q12_5,q87_5},\n"
                "# fig4.p{k}.logit_diff, fig4.p{k}.top2. NaN = not computed.\n",
                stem, which ? "b" : "a", which ? "each prompt's other head" : c->writer);
    dat_prompts(c->in, t);
    table_dat(t, tb, which ? "prompt_head" : "prompt");
    if (outputs_emit(o, which ? "fig4b.dat" : "fig4a.dat", t) != 0) return -1;

    t->len = 0;
    if (which)
        snprintf(title, sizeof title, "Fig 4b: DLA of each prompt's other head, clean vs resample-patched");
    else
        snprintf(title, sizeof title, "Fig 4a: DLA of the writer %s, clean vs resample-patched", c->writer);
    gp_begin(t, stem, which ? "Fig 4b (fig4b.dat)" : "Fig 4a (fig4a.dat)", 900, 520);
    text_printf(t, "set title \"%s\"\nset xlabel \"%s\"\nset ylabel \"DLA (logit difference units)\"\n", title,
                which ? "prompt and head" : "prompt");
    grouped_bars_gp(t, which ? "fig4b.dat" : "fig4a.dat", tb->rows, 3, -1, -1, 4, 5, 6, 7, "clean DLA",
                    "patched DLA (median)", "clean logit difference", "12.5-87.5% (patched)");
    if (outputs_emit(o, which ? "fig4b.gp" : "fig4a.gp", t) != 0) return -1;

    t->len = 0;
    grouped_bars_svg(t, tb, groups, 2, 4, "clean logit difference", "12.5-87.5% (patched)", title,
                     "direction W_U[:,correct] - W_U[:,incorrect] at the last position",
                     which ? "prompt and head" : "prompt", "DLA (logit difference units)", 900, 0);
    return outputs_emit(o, which ? "fig4b.svg" : "fig4a.svg", t);
}

/* Both panels, each when its DLA metrics exist. */
static int fig4_write_figures(const ReportContext *c, Outputs *o) {
    Fig4Heads fh;
    Text t = {0};
    int which, rc = 0;
    fig4_heads(c, &fh);
    if (fh.n_prompts == 0) return 0;
    for (which = 0; which < 2 && rc == 0; which++) {
        Table tb;
        fig4_table(c, &fh, which, &tb);
        if (table_any(&tb, 0) || table_any(&tb, 1)) rc = fig4_write_panel(c, &tb, which, &t, o);
        table_free(&tb);
    }
    text_free(&t);
    return rc;
}

static void fig4_report_section(const ReportContext *c, ReportSection *s) {
    Fig4Heads fh;
    int k, j;
    fig4_heads(c, &fh);
    for (k = 1; k <= fh.n_prompts; k++) {
        const char *heads[2];
        heads[0] = c->writer;
        heads[1] = fh.other[k - 1];
        section_headline(s, "fig4.p%d.logit_diff", k);
        section_headline(s, "fig4.p%d.top2", k);
        for (j = 0; j < 2; j++) {
            if (!heads[j][0]) continue;
            section_headline(s, "fig4.p%d.%s.clean", k, heads[j]);
            section_headline(s, "fig4.p%d.%s.patched.median", k, heads[j]);
            section_headline(s, "fig4.p%d.%s.patched.q12_5", k, heads[j]);
            section_headline(s, "fig4.p%d.%s.patched.q87_5", k, heads[j]);
        }
    }
    section_write(s, "For each prompt: the clean logit difference (correct - incorrect, b_U included), whether the two "
                     "answers are the model's top two (`top2`), and the DLA of the writer and of the prompt's other head "
                     "at the last position, clean and resample-patched (median, 12.5 and 87.5 percentiles over rows).");
}

static const ExpOutput fig4_outputs[] = {
    {"fig4a.svg", "Fig 4a: the writer's DLA on the adversarial prompts, clean vs resample-patched"},
    {"fig4a.dat", "Fig 4a data (with logit differences and the top-2 flag)"},
    {"fig4a.gp", "gnuplot script drawing Fig 4a"},
    {"fig4b.svg", "Fig 4b: each prompt's other head, clean vs resample-patched DLA"},
    {"fig4b.dat", "Fig 4b data"},
    {"fig4b.gp", "gnuplot script drawing Fig 4b"},
    {NULL, NULL},
};
static const char *const fig4_figures[] = {"fig4a", "fig4b", NULL};

const Experiment experiment_fig4 = {
    "fig4", "Fig 4: adversarial prompts, clean and patched DLA", "Fig 4: adversarial prompts",
    0, 0, fig4_check, NULL, NULL, NULL, NULL, fig4_run,
    fig4_write_figures, fig4_report_section, fig4_outputs, fig4_figures,
    REF_MODEL | REF_PROCESSED | REF_WRITER | REF_PROMPTS | REF_ROWS,
    NULL, /* runs on its own, outside the clean pass */
    NULL,
    NULL,
};
