/* report.c - see report.h.
 *
 * report_write_all writes results.tsv, asks every experiment unit for its figure files
 * and its report.md section, then writes report.md, SHA256SUMS and run.txt. All numbers
 * come from the Results table (metric names of EXPERIMENTS.md), so the figures and the
 * report are exactly what results.tsv says. Output is deterministic: no clocks, no
 * addresses, fixed formats; the run time and thread count go to run.txt only.
 */
#include "report.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "experiments.h"
#include "kernels.h"
#include "sha256.h"
#include "version.h"

int report_is_cleaner(const ReportContext *c, int l, int h) {
    int i;
    if (l != c->pl || !c->in->cleaner_heads) return 0;
    for (i = 0; i < c->in->n_cleaners; i++)
        if (c->in->cleaner_heads[i] == h) return 1;
    return 0;
}

/* 1 if unit i of the table was run (in->units, 0 meaning all). */
static int unit_included(const ReportInput *in, int i) {
    return in->units == 0 || (in->units & (1u << i)) != 0;
}

/* Text "L2H2, L2H3, ..." of the cleaners, "none" without. */
static void cleaners_text(const ReportInput *in, char *buf, size_t n) {
    int i;
    size_t used = 0;
    buf[0] = '\0';
    for (i = 0; in->cleaner_heads && i < in->n_cleaners && used + 16 < n; i++)
        used += (size_t)snprintf(buf + used, n - used, "%sL%dH%d", i ? ", " : "", in->patched_layer,
                                 in->cleaner_heads[i]);
    if (used == 0) snprintf(buf, n, "none");
}

/* ------------------------------------------------------------------ */
/* report.md: tables of metrics and checks                             */
/* ------------------------------------------------------------------ */

/* A value for humans: integers as integers, else 4 decimals. */
static void human(double v, char *buf, size_t n) {
    if (isnan(v))
        snprintf(buf, n, "NaN");
    else if (isinf(v))
        snprintf(buf, n, v > 0 ? "Inf" : "-Inf");
    else if (v == floor(v) && fabs(v) < 1e9)
        snprintf(buf, n, "%.0f", v);
    else if (fabs(v) >= 1e-3 && fabs(v) < 1e5)
        snprintf(buf, n, "%.4f", v);
    else
        snprintf(buf, n, "%.4g", v);
}

typedef struct {
    const RefCheck *checks;
    size_t n;
    const CheckOutcome *outcomes; /* [n] */
    unsigned char *shown;         /* per check: already printed in a table */
} CheckSet;

static void md_table_head(Text *t) {
    text_puts(t, "| metric | value | SE | reference | tolerance | result | source |\n");
    text_puts(t, "|---|---:|---:|---:|---:|---|---|\n");
}

/* One table row for a metric: its value and, if a check names it, the reference,
 * tolerance and PASS/FAIL/MISSING/not comparable. Returns 1 if printed. */
static int md_metric_row(Text *t, const Results *r, CheckSet *cs, const char *name) {
    size_t i;
    const RefCheck *c = NULL;
    const CheckOutcome *out = NULL;
    double v;
    int present = results_get(r, name, &v);
    char vb[48], eb[48], tb[48], sb[48];
    for (i = 0; i < cs->n; i++)
        if (strcmp(cs->checks[i].metric, name) == 0) {
            if (!c) {
                c = &cs->checks[i];
                out = &cs->outcomes[i];
            }
            cs->shown[i] = 1;
        }
    if (!present && !c) return 0;
    if (present)
        human(v, vb, sizeof vb);
    else
        snprintf(vb, sizeof vb, "absent");
    if (present && ends_with(name, ".top2")) snprintf(vb, sizeof vb, "%s", v == 1 ? "yes" : v == 0 ? "no" : "NaN");
    if (present && !isnan(results_get_se(r, name))) snprintf(sb, sizeof sb, "%.2g", results_get_se(r, name));
    else snprintf(sb, sizeof sb, "-");
    text_printf(t, "| `%s` | %s | %s |", name, vb, sb);
    if (c && out->outcome == REFCHECK_NOT_COMPARABLE) {
        human(c->expected, eb, sizeof eb);
        text_printf(t, " %s | - | not comparable | %s |\n", eb, out->why);
    } else if (c) {
        human(c->expected, eb, sizeof eb);
        if (c->precision > 0 && !isnan(out->se))
            snprintf(tb, sizeof tb, "+-%.2g (%g x sqrt2 x SE)", out->tolerance, c->sigmas > 0 ? c->sigmas : REF_SIGMAS);
        else
            snprintf(tb, sizeof tb, "+-%.2g", out->tolerance);
        if (c->precision > 0 && !isnan(out->se) && out->tolerance == c->precision)
            snprintf(tb, sizeof tb, "+-%.2g (precision)", out->tolerance);
        text_printf(t, " %s | %s | %s | %s |\n", eb, tb,
                    out->outcome == REFCHECK_PASS   ? "PASS"
                    : out->outcome == REFCHECK_FAIL ? "**FAIL**"
                                                    : "**MISSING**",
                    c->source ? c->source : "");
    } else {
        text_puts(t, " - | - | no reference | |\n");
    }
    return 1;
}

typedef struct {
    char (*names)[128];
    int n, cap;
} NameList;

/* Appends a formatted name. */
static void names_vadd(NameList *l, const char *fmt, va_list ap) {
    if (l->n == l->cap) {
        int ncap = l->cap ? l->cap * 2 : 64;
        char(*nn)[128] = realloc(l->names, (size_t)ncap * sizeof *nn);
        if (!nn) die(EXIT_INTERNAL, "out of memory building the report");
        l->names = nn;
        l->cap = ncap;
    }
    vsnprintf(l->names[l->n], sizeof l->names[l->n], fmt, ap);
    l->n++;
}

struct ReportSection {
    Text *t;
    const Results *r;
    CheckSet *cs;
    NameList *hl;             /* the section's headline metrics */
    const Experiment *unit;
    const Outputs *o;
};

void section_headline(ReportSection *s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    names_vadd(s->hl, fmt, ap);
    va_end(ap);
}

int section_has_figures(const ReportSection *s) {
    const char *const *f;
    for (f = s->unit->figures; *f; f++) {
        char svg[64];
        snprintf(svg, sizeof svg, "%s.svg", *f);
        if (outputs_written(s->o, svg)) return 1;
    }
    return 0;
}

/* The section: heading, intro, files, then a table of the headline metrics and of
 * every check whose metric starts with the unit's prefix "NAME.". */
void section_write(ReportSection *s, const char *intro) {
    Text *t = s->t;
    const Results *r = s->r;
    CheckSet *cs = s->cs;
    NameList *headlines = s->hl;
    char prefix[64];
    size_t i, plen;
    int j, rows = 0;
    snprintf(prefix, sizeof prefix, "%s.", s->unit->name);
    plen = strlen(prefix);
    text_printf(t, "\n### %s\n\n", s->unit->heading);
    if (!has_prefix_metric(r, prefix))
        text_printf(t, "**Not run**: results.tsv has no `%s*` metrics, so no files were written for it.\n\n", prefix);
    else {
        text_printf(t, "%s\n\n", intro);
        if (section_has_figures(s)) {
            const ExpOutput *f;
            text_puts(t, "Files: ");
            for (f = s->unit->outputs; f->name; f++) text_printf(t, "%s`%s`", f == s->unit->outputs ? "" : ", ", f->name);
            text_puts(t, ".\n\n");
        }
    }
    for (j = 0; j < headlines->n; j++) {
        double v;
        int needed = results_get(r, headlines->names[j], &v);
        for (i = 0; !needed && i < cs->n; i++)
            if (strcmp(cs->checks[i].metric, headlines->names[j]) == 0) needed = 1;
        if (!needed) continue;
        if (rows == 0) md_table_head(t);
        rows += md_metric_row(t, r, cs, headlines->names[j]);
    }
    for (i = 0; i < cs->n; i++)
        if (!cs->shown[i] && strncmp(cs->checks[i].metric, prefix, plen) == 0) {
            if (rows == 0) md_table_head(t);
            rows += md_metric_row(t, r, cs, cs->checks[i].metric);
        }
    headlines->n = 0;
}

size_t section_checks(const ReportSection *s, const RefCheck **checks, const CheckOutcome **outcomes) {
    *checks = s->cs->checks;
    *outcomes = s->cs->outcomes;
    return s->cs->n;
}

void section_note(ReportSection *s, const char *text) {
    text_puts(s->t, text);
}

/* ------------------------------------------------------------------ */
/* report.md                                                           */
/* ------------------------------------------------------------------ */

/* What a file is, for report.md's file list. */
static const char *describe(const char *name) {
    const Experiment *const *units;
    const ExpOutput *f;
    int i, n;
    if (strcmp(name, "results.tsv") == 0) return "every metric, `name<TAB>value`, sorted by name, `%.9g` (docs/PROTOCOL.md section 6)";
    if (strcmp(name, "report.md") == 0) return "this report";
    if (strcmp(name, "uncertainty.tsv") == 0)
        return "the standard error of every statistic estimated from the run's own rows (`name<TAB>SE`; batch means over "
               "row blocks, jackknife over rows for the regressions)";
    if (strcmp(name, "SHA256SUMS") == 0) return "SHA-256 of every other file (`sha256sum -c` format), written last";
    units = experiment_list(&n);
    for (i = 0; i < n; i++)
        for (f = units[i]->outputs; f->name; f++)
            if (strcmp(f->name, name) == 0) return f->what;
    return "";
}

/* 1 if some figure was written (written = 1) or was not (written = 0). */
static int any_figure(const ReportInput *in, const Outputs *o, int written) {
    const Experiment *const *units;
    const char *const *f;
    int i, n;
    char svg[64];
    units = experiment_list(&n);
    for (i = 0; i < n; i++)
        for (f = units[i]->figures; unit_included(in, i) && *f; f++) {
            snprintf(svg, sizeof svg, "%s.svg", *f);
            if (outputs_written(o, svg) == written) return 1;
        }
    return 0;
}

/* The figures written (written = 1) or not, each followed by a space but the last of all. */
static void list_figures(const ReportInput *in, Text *t, const Outputs *o, int written) {
    const Experiment *const *units;
    const char *const *f;
    const char *last = NULL;
    int i, n;
    char svg[64];
    units = experiment_list(&n);
    for (i = 0; i < n; i++)
        for (f = units[i]->figures; unit_included(in, i) && *f; f++) last = *f;
    for (i = 0; i < n; i++)
        for (f = units[i]->figures; unit_included(in, i) && *f; f++) {
            snprintf(svg, sizeof svg, "%s.svg", *f);
            if (outputs_written(o, svg) == written) text_printf(t, "%s%s", *f, *f == last ? "" : " ");
        }
}

/* s as inline code in a table cell: backquotes and | escaped, newline and tab spelled \n, \t. */
static void md_code(Text *t, const char *s) {
    text_puts(t, "`");
    for (; *s; s++) {
        if (*s == '\n') text_puts(t, "\\n");
        else if (*s == '\t') text_puts(t, "\\t");
        else if (*s == '|') text_puts(t, "\\|");
        else if (*s == '`') text_puts(t, "'");
        else {
            char ch[2];
            ch[0] = *s;
            ch[1] = '\0';
            text_puts(t, ch);
        }
    }
    text_puts(t, "`");
}

/* "SHA-256 `hex`" of a file, or why not; known_hex (may be NULL) saves reading it again. */
static void md_file_hash(Text *t, const char *label, const char *path, const char *known_hex) {
    char hex[65];
    Error e;
    if (!path) {
        text_printf(t, "- %s: unknown\n", label);
        return;
    }
    text_printf(t, "- %s: `%s`", label, path);
    if (known_hex && known_hex[0])
        text_printf(t, "  \n  SHA-256 `%s`\n", known_hex);
    else if (is_directory(path))
        text_puts(t, " (a directory: no single checksum)\n");
    else if (sha256_file_hex(path, hex, &e) == 0)
        text_printf(t, "  \n  SHA-256 `%s`\n", hex);
    else
        text_printf(t, " (checksum unavailable: %s)\n", e.msg);
}

/* Title, the planted model's warning, and the summary: model, checks, figures. */
static void md_summary(const ReportContext *c, const Outputs *o, const Verdict *v, Text *t) {
    const ReportInput *in = c->in;
    const int n_pass = v->n_pass, n_fail = v->n_fail, n_missing = v->n_missing;
    const size_t n_checks = v->set ? v->set->n : 0;
    text_puts(t, "# cleanup report\n\n");
    text_puts(t,
              "Reproduction of \"An adversarial example for Direct Logit Attribution: memory management in gelu-4l\"\n"
              "(Dao, Lau, Rager, Janiak, 2023): a layer-0 head writes a direction that later heads erase, so the\n"
              "writer's direct logit attribution overstates its effect.\n\n");
    if (in->is_planted)
        text_printf(t,
                    "> **This is not gelu-4l.** These numbers come from the planted model bundled with cleanup (built\n"
                    "> deterministically by `./cleanup synth` into `weights/planted/`): gelu-4l's architecture at a small\n"
                    "> width, random weights and a planted circuit (%s writes a mostly positional direction; %s read it\n"
                    "> and write its negative). They test the pipeline and say nothing about gelu-4l. To reproduce the\n"
                    "> paper, get gelu-4l: `make fetch` (needs network and curl) downloads `config.json` and\n"
                    "> `model_final.pth` of NeelNanda/GELU_4L512W_C4_Code, the tokenizer of\n"
                    "> NeelNanda/gpt-neox-tokenizer-digits and 240 rows of NeelNanda/c4-tokenized-2b plus 60 of\n"
                    "> NeelNanda/code-tokenized into `weights/gelu-4l/` (the README's \"Getting gelu-4l\" lists the URLs\n"
                    "> for copying by hand to a machine without network); then run `./cleanup all` again.\n\n",
                    c->writer, c->cleaners);

    text_puts(t, "## Summary\n\n");
    text_printf(t, "- Model: %s%s\n", in->model_name ? in->model_name : "unknown",
                in->is_gelu_4l ? " (gelu-4l, identified by the fingerprints of its weights)"
                               : in->is_planted ? " (the bundled planted model, NOT gelu-4l)" : " (not gelu-4l)");
    if (!v->set && in->not_reproduced) {
        text_printf(t, "- Verdict: **NOT REPRODUCED**. %s\n", in->no_checks_reason ? in->no_checks_reason : "");
    } else if (!v->set) {
        text_printf(t, "- Checks: none. %s\n",
                    in->no_checks_reason ? in->no_checks_reason
                                         : "This model is neither gelu-4l nor the planted model, so its numbers are "
                                           "reported without expected values.");
    } else {
        const int comparable = (int)n_checks - v->n_not_comparable;
        text_printf(t, "- Verdict: **%s** against %s: %d of %d comparable checks pass, %d fail, %d missing",
                    verdict_failed(v) ? "NOT REPRODUCED" : comparable ? "REPRODUCED" : "NOT ASSESSED", v->set->name,
                    n_pass, comparable, n_fail, n_missing);
        if (v->n_not_comparable)
            text_printf(t, "; %d not comparable (the run's configuration differs from the reference's)",
                        v->n_not_comparable);
        text_puts(t, ". A check passes when |value - reference| <= tolerance.\n");
    }
    if (!any_figure(in, o, 1))
        text_puts(t, "- Figures written: none\n");
    else {
        text_puts(t, "- Figures written: ");
        list_figures(in, t, o, 1);
        text_puts(t, "\n");
    }
    if (any_figure(in, o, 0)) {
        text_puts(t, "- Figures skipped (their metrics are absent): ");
        list_figures(in, t, o, 0);
        text_puts(t, "\n");
    }

}

/* Fig 4's prompts as run: text, answers and their token ids. */
static void md_prompts(const ReportInput *in, Text *t) {
    int k;
    if (in->prompts_path) md_file_hash(t, "Fig 4 prompts file", in->prompts_path, NULL);
    if (in->n_prompts <= 0 || !in->prompts) return;
    text_puts(t, "- Fig 4 prompts (BOS prepended; answers are single tokens):\n\n");
    text_puts(t, "| # | prompt | correct (id) | incorrect (id) | tokens | other head |\n|---|---|---|---|---:|---|\n");
    for (k = 0; k < in->n_prompts; k++) {
        const PromptRecord *p = &in->prompts[k];
        text_printf(t, "| %d | ", k + 1);
        md_code(t, p->prompt);
        text_puts(t, " | ");
        md_code(t, p->correct);
        text_printf(t, " (%d) | ", p->correct_id);
        md_code(t, p->incorrect);
        text_printf(t, " (%d) | %d | L%dH%d |\n", p->incorrect_id, p->n_tokens, p->other_layer, p->other_head);
    }
}

/* The model, the data and the experiment configuration. */
static void md_inputs(const ReportContext *c, Text *t) {
    const ReportInput *in = c->in;
    text_puts(t, "\n## Model\n\n");
    text_printf(t, "- Name: %s\n", in->model_name ? in->model_name : "unknown");
    text_printf(t, "- Directory: `%s`\n", in->model_dir ? in->model_dir : "unknown");
    if (in->model_source)
        text_printf(t,
                    "- Source: %s.\n"
                    "  No input files: the files below exist only in memory, byte for byte what `cleanup synth`\n"
                    "  writes into `weights/planted/`, so their SHA-256 are those files' too.\n",
                    in->model_source);
    text_printf(t,
                "- Config: n_layers %d, n_heads %d, d_model %d, d_head %d, d_mlp %d, n_ctx %d, d_vocab %d, act_fn %s\n",
                in->n_layers, in->n_heads, in->d_model, in->d_head, in->d_mlp, in->n_ctx, in->d_vocab,
                in->act_fn ? in->act_fn : "unknown");
    if (in->gelu4l_shape && in->fingerprints_total > 0) {
        if (in->fingerprints_matched == in->fingerprints_total)
            text_printf(t, "- Identity: gelu-4l (weights match %d fingerprints)\n", in->fingerprints_matched);
        else
            text_printf(t,
                        "- Identity: gelu-4l's shape, but the weights are not the published checkpoint (%d of %d\n"
                        "  fingerprints match)\n",
                        in->fingerprints_matched, in->fingerprints_total);
    }
    md_file_hash(t, "Config file", in->config_path, NULL);
    md_file_hash(t, "Weights file", in->weights_path, in->weights_sha256);
    if (in->processed)
        text_puts(t, "- Processing: TransformerLens default processing applied, in this order: fold_ln,\n"
                     "  center_writing_weights, center_unembed, fold_value_biases (docs/PROTOCOL.md section 1).\n"
                     "  Every number of the paper depends on it.\n");
    else
        text_puts(t, "- Processing: none (`--no-processing`): raw weights, LayerNorm with its weight and bias. The\n"
                     "  paper's numbers are not expected to match.\n");

    if (in->tokenizer_path) md_file_hash(t, "Tokenizer", in->tokenizer_path, NULL);

    text_puts(t, "\n## Data\n\n");
    if (in->data_files && in->n_data_files > 0) {
        int k;
        if (in->n_data_files > 1)
            text_printf(t, "- %d files, mixed in proportion to their sizes:\n", in->n_data_files);
        for (k = 0; k < in->n_data_files; k++) md_file_hash(t, "File", in->data_files[k], NULL);
    } else {
        md_file_hash(t, "File", in->data_path, NULL);
    }
    text_printf(t, "- Rows: %d; positions per row: %d; samples per statistic (rows x positions): %.0f\n", in->n_rows,
                in->seq_len, (double)in->n_rows * (double)in->seq_len);

    text_puts(t, "\n## Experiment configuration\n\n");
    text_printf(t, "- Writer: %s; cleaners: %s; patched layer: %d\n", c->writer, c->cleaners, c->pl);
    text_puts(t, "- Statistics: type-7 quantiles over all (prompt, position) samples; NaN samples are skipped.\n");
    text_puts(t, "- Error bars and bands are the 12.5 and 87.5 percentiles (the paper's), not the quartiles.\n");
    md_prompts(in, t);
}

/* Every unit's section, checks outside them, and the NaN bookkeeping. */
static void md_results(const ReportContext *c, const Outputs *o, CheckSet *cs, Text *t) {
    const Results *r = c->r;
    const Experiment *const *units;
    NameList hl = {NULL, 0, 0};
    char v1[48];
    size_t i;
    int k, u, n_units, n_nan = 0, nan_note = 0, n_other = 0;
    text_puts(t, "\n## Results\n\n");
    if (cs->n)
        text_printf(t,
                    "Each table lists the headline numbers and every check of that experiment.\n"
                    "result PASS: |value - reference| <= tolerance; FAIL otherwise; MISSING: the metric was not computed;\n"
                    "not comparable: the reference was measured under another configuration (the reason is given).\n");
    else
        text_puts(t, "No reference values for this model: every number is listed as \"no reference\".\n");

    /* one section per experiment unit */
    units = experiment_list(&n_units);
    for (u = 0; u < n_units; u++) {
        ReportSection s;
        if (!unit_included(c->in, u)) continue;
        s.t = t;
        s.r = r;
        s.cs = cs;
        s.hl = &hl;
        s.unit = units[u];
        s.o = o;
        units[u]->report_section(c, &s);
    }
    /* checks on metrics outside the experiments above */
    for (i = 0; i < cs->n; i++)
        if (!cs->shown[i]) {
            if (n_other++ == 0) text_puts(t, "\n### Other checks\n\n");
            if (n_other == 1) md_table_head(t);
            md_metric_row(t, r, cs, cs->checks[i].metric);
        }
    /* NaN bookkeeping */
    for (k = 0; k < r->count; k++) {
        if (isnan(r->items[k].value)) n_nan++;
        if (ends_with(r->items[k].name, ".n_nan")) {
            if (!nan_note)
                text_puts(t, "\n### Samples skipped as NaN\n\n"
                             "Projection ratios with a zero denominator are NaN and left out of the statistics:\n\n");
            nan_note = 1;
            human(r->items[k].value, v1, sizeof v1);
            text_printf(t, "- `%s`: %s\n", r->items[k].name, v1);
        }
    }
    if (n_nan) text_printf(t, "\n%d metrics are NaN (not computable, e.g. no samples or zero variance).\n", n_nan);

    free(hl.names);
}

/* The list of files and how the run can be checked. */
static void md_files_and_run(const ReportInput *in, const Outputs *o, Text *t) {
    int k;
    text_puts(t, "\n## Files\n\n");
    for (k = 0; k < o->n_written; k++) text_printf(t, "- `%s`: %s\n", o->written[k], describe(o->written[k]));
    text_printf(t, "- `report.md`: %s\n", describe("report.md"));
    text_printf(t, "- `SHA256SUMS`: %s\n", describe("SHA256SUMS"));
    text_puts(t,
              "\nThe `.gp` scripts are optional (gnuplot is not needed): run `gnuplot figN.gp` inside this directory for\n"
              "`figN.png`, or `gnuplot -e \"fmt='svg'\" figN.gp` for `figN.gnuplot.svg`.\n");

    text_puts(t, "\n## Run\n\n");
    text_printf(t, "- Program: cleanup %s\n", cleanup_version());
    if (in->command_line) {
        text_puts(t, "- Command line: ");
        md_code(t, in->command_line);
        text_puts(t, "\n");
    }
    if (in->n_settings > 0) {
        int k;
        text_puts(t, "- Settings in effect:");
        for (k = 0; k < in->n_settings; k++) {
            text_puts(t, k ? ", " : " ");
            md_code(t, in->settings[k]);
        }
        text_puts(t, "\n");
    }
    text_puts(t,
              "- Run time, thread count and kernels are in `run.txt`, the one output that varies from run to run and\n"
              "  so is not listed in `SHA256SUMS`.\n"
              "- Determinism: every other file (`results.tsv`, this report, the figure files and `SHA256SUMS`) is\n"
              "  bit-identical across runs and thread counts for the same model, data, options and kernels. The\n"
              "  AVX2 + FMA and AVX-512 kernels (chosen automatically where the CPU and OS support them) may round\n"
              "  differently from the baseline ones in the last bits; `CLEANUP_SIMD=baseline` selects the baseline\n"
              "  kernels on any machine (run.txt names the kernels of this run).\n"
              "- Integrity: `./cleanup verify DIR` (or `sha256sum -c SHA256SUMS` inside this directory) re-checks every\n"
              "  file against `SHA256SUMS`.\n");
}

static void build_report_md(const ReportContext *c, const Outputs *o, Text *t) {
    const ReportInput *in = c->in;
    CheckSet cs;
    RefSet given;
    Verdict own;
    const Verdict *v = in->verdict;
    if (!v) { /* in->checks, all applicable */
        memset(&given, 0, sizeof given);
        given.name = in->is_gelu_4l ? "the paper's reference values"
                     : in->is_planted ? "the planted model's expectations" : "the supplied expectations";
        given.checks = in->checks;
        given.n = in->checks ? in->n_checks : 0;
        if (!given.checks && in->is_gelu_4l) given.checks = paper_checks_table(&given.n);
        given.config.processed = -1;
        verdict_evaluate(given.n ? &given : NULL, &given.config, c->r, &own);
        v = &own;
    }
    cs.checks = v->set ? v->set->checks : NULL;
    cs.n = v->set ? v->set->n : 0;
    cs.outcomes = v->items;
    cs.shown = xalloc_array(cs.n ? cs.n : 1, 1, "report checks");
    md_summary(c, o, v, t);
    md_inputs(c, t);
    md_results(c, o, &cs, t);
    md_files_and_run(in, o, t);
    free(cs.shown);
    if (v == &own) verdict_free(&own);
}

/* ------------------------------------------------------------------ */
/* Output names and report_write_all                                   */
/* ------------------------------------------------------------------ */

const char *const *report_output_names(int *count) {
    static const char *names[256];
    static int n_names = 0;
    if (n_names == 0) {
        const Experiment *const *units;
        const ExpOutput *f;
        int i, n, k = 0;
        units = experiment_list(&n);
        names[k++] = "results.tsv";
        names[k++] = "uncertainty.tsv";
        names[k++] = "report.md";
        for (i = 0; i < n; i++)
            for (f = units[i]->outputs; f->name; f++) {
                if (k >= (int)(sizeof names / sizeof names[0]) - 1) die(EXIT_INTERNAL, "report: too many output files");
                names[k++] = f->name;
            }
        names[k++] = "SHA256SUMS";
        n_names = k;
    }
    *count = n_names;
    return names;
}

static int compare_names(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Refuses a ReportInput the report cannot describe. */
static int check_input(const ReportInput *in, Error *err) {
    if (!in || !in->results) return error_set_code(err, EXIT_INTERNAL, "report: no results to write");
    if (in->n_layers < 1 || in->n_layers > 1000 || in->n_heads < 1 || in->n_heads > 1000)
        return error_set_code(err, EXIT_INTERNAL, "report: implausible model shape (%d layers, %d heads)", in->n_layers,
                              in->n_heads);
    if (in->writer_layer < 0 || in->writer_layer >= in->n_layers || in->writer_head < 0 ||
        in->writer_head >= in->n_heads || in->patched_layer < 0 || in->patched_layer >= in->n_layers)
        return error_set_code(err, EXIT_INTERNAL, "report: writer L%dH%d or patched layer %d outside the model",
                              in->writer_layer, in->writer_head, in->patched_layer);
    if (in->fig5_n > 0 && (!in->fig5_x || !in->fig5_y))
        return error_set_code(err, EXIT_INTERNAL, "report: fig5_n is %lu but the points are missing",
                              (unsigned long)in->fig5_n);
    return 0;
}

/* Removes dir/name if it exists. */
static int remove_output(const char *dir, const char *name, const char *what, Error *err) {
    char *path = path_join(dir, name);
    int rc = 0;
    if (path_exists(path) && remove(path) != 0)
        rc = error_set_code(err, EXIT_IO, "%s: cannot remove %s: %s", path, what, strerror(errno));
    free(path);
    return rc;
}

/* What the figure writers and sections see; free c->locs. */
static void build_context(const ReportInput *in, ReportContext *c) {
    int i;
    memset(c, 0, sizeof *c);
    c->in = in;
    c->r = in->results;
    c->L = in->n_layers;
    c->H = in->n_heads;
    c->n_locs = resid_location_count(c->L, in->attn_only);
    c->wl = in->writer_layer;
    c->wh = in->writer_head;
    c->pl = in->patched_layer;
    head_label(c->writer, sizeof c->writer, c->wl, c->wh);
    cleaners_text(in, c->cleaners, sizeof c->cleaners);
    c->locs = xalloc_array((size_t)c->n_locs, sizeof *c->locs, "locations");
    for (i = 0; i < c->n_locs; i++) resid_location_name(in->attn_only, i, c->locs[i], LABEL_LEN);
}

/* SHA256SUMS over every file written, as they are on disk, sorted by name. */
static int write_checksums(Outputs *o, Error *err) {
    const char **sorted = xalloc_array((size_t)o->n_written, sizeof *sorted, "output names");
    Text t = {0};
    int i, rc = 0, n = o->n_written;
    memcpy((void *)sorted, o->written, (size_t)n * sizeof *sorted);
    qsort((void *)sorted, (size_t)n, sizeof *sorted, compare_names);
    for (i = 0; i < n && rc == 0; i++) {
        char hex[65], *path = path_join(o->dir, sorted[i]);
        rc = sha256_file_hex(path, hex, err);
        free(path);
        if (rc == 0) text_printf(&t, "%s  %s\n", hex, sorted[i]);
    }
    if (rc == 0) rc = outputs_emit(o, "SHA256SUMS", &t);
    free((void *)sorted);
    text_free(&t);
    return rc;
}

/* run.txt: wall time, threads and kernels differ between runs, so they stay out of
 * the checksummed files. */
static int write_run_txt(const char *out_dir, const ReportInput *in, Error *err) {
    Text t = {0};
    char *path = path_join(out_dir, "run.txt");
    int rc, k;
    text_printf(&t, "program: cleanup %s\n", cleanup_version());
    if (in->command_line_full) text_printf(&t, "command: %s\n", in->command_line_full);
    if (in->model_source) text_printf(&t, "model: %s (no input files)\n", in->model_source);
    for (k = 0; k < in->n_settings; k++) text_printf(&t, "setting: %s\n", in->settings[k]);
    text_printf(&t, "run time: %.1f s\nthreads: %d\nkernels: %s (CLEANUP_SIMD)\nscreening: %s (CLEANUP_BF16)\n",
                in->seconds, in->threads, kernels_name(), screen_name() ? screen_name() : "off");
    if (in->memory_budget)
        text_printf(&t, "memory budget: %.1f MB (%s)\nbatch: %d rows\npasses over the rows: %d\n",
                    (double)in->memory_budget / 1048576.0, in->memory_budget_from ? in->memory_budget_from : "default",
                    in->batch_rows, in->passes > 0 ? in->passes : 1);
    if (in->peak_rss) text_printf(&t, "peak RSS: %.1f MB (getrusage)\n", (double)in->peak_rss / 1048576.0);
    rc = write_file_atomic(path, t.data, t.len, err);
    free(path);
    text_free(&t);
    return rc;
}

int report_write_all(const char *out_dir, const ReportInput *in, Error *err) {
    Outputs o;
    ReportContext c;
    Text t = {0};
    char *path;
    const Experiment *const *units;
    const char *const *names;
    int i, k, n_units, n_names, rc = -1;

    if (check_input(in, err) || make_dirs(out_dir, err)) return -1;
    /* No SHA256SUMS until every file is in place: an interrupted run fails verify. */
    if (remove_output(out_dir, "SHA256SUMS", "the old checksum file", err)) return -1;
    path = path_join(out_dir, "results.tsv");
    k = results_write_tsv(in->results, path, err);
    free(path);
    if (k != 0) return -1;
    path = path_join(out_dir, "uncertainty.tsv");
    k = results_write_se_tsv(in->results, path, err);
    free(path);
    if (k != 0) return -1;
    outputs_init(&o, out_dir, err);
    outputs_record(&o, "results.tsv");
    outputs_record(&o, "uncertainty.tsv");
    build_context(in, &c);

    units = experiment_list(&n_units);
    for (i = 0; i < n_units; i++)
        if (unit_included(in, i) && units[i]->write_figures && units[i]->write_figures(&c, &o) != 0) goto done;
    build_report_md(&c, &o, &t);
    if (outputs_emit(&o, "report.md", &t) != 0) goto done;
    /* Outputs of an earlier run that this run did not produce would be stale. */
    names = report_output_names(&n_names);
    for (i = 0; i < n_names; i++)
        if (strcmp(names[i], "SHA256SUMS") != 0 && !outputs_written(&o, names[i]) &&
            remove_output(out_dir, names[i], "stale output of an earlier run", err))
            goto done;
    if (write_checksums(&o, err) || write_run_txt(out_dir, in, err)) goto done;
    rc = 0;
done:
    free(c.locs);
    outputs_free(&o);
    text_free(&t);
    return rc;
}

