/* exp_fig2.c - Fig 2 (docs/PROTOCOL.md section 5.2): the projection ratio of every node (every
 * head's hook_result but the writer's, every hook_mlp_out) onto the writer, and of the
 * cleaners' summed output: the paper's headline -0.903 is the median of the latter.
 * Metrics fig2.{node}.{stat}, fig2.cleaners_sum.*, fig2.sum_of_medians, fig2.n_nan. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "experiments.h"
#include "report.h"

typedef struct {
    Samples *head;     /* [L * H] */
    Samples *mlp;      /* [L] */
    Samples cleaners;  /* PR of the cleaners' summed output */
    int L, H;
    PrPlan plan;       /* fig2_vectors' vectors before the writer's output, onto it */
    Samples **targets; /* [plan.n_values] in fig2_vectors' order */
} Fig2;

static void *fig2_begin(const ExpInputs *in, int n_rows, int T, int batch_rows) {
    const ModelConfig *c = &in->model->cfg;
    const size_t n_samples = (size_t)n_rows * T;
    const ExpHeads *hd = in->heads;
    Fig2 *f = xalloc_array(1, sizeof *f, "Fig 2");
    int n, l, h, k = 0;
    (void)batch_rows;
    f->L = c->n_layers;
    f->H = c->n_heads;
    f->head = samples_array((size_t)f->L * f->H, n_samples);
    f->mlp = samples_array((size_t)f->L, c->attn_only ? 0 : n_samples);
    samples_init(&f->cleaners);
    n = f->L * f->H - 1 + (c->attn_only ? 0 : f->L) + 1; /* fig2_vectors' vectors before the writer */
    f->targets = xalloc_array((size_t)n, sizeof *f->targets, "Fig 2");
    for (l = 0; l < f->L; l++) { /* the order of fig2_vectors */
        for (h = 0; h < f->H; h++)
            if (l != hd->writer_layer || h != hd->writer_head) f->targets[k++] = &f->head[l * f->H + h];
        if (!c->attn_only) f->targets[k++] = &f->mlp[l];
    }
    f->targets[k++] = &f->cleaners;
    pr_plan_onto_last(&f->plan, n);
    return f;
}

/* At (b, t): every head but the writer and every MLP output, layer by layer (each
 * layer's heads, then its MLP), the cleaners' summed output, then the writer's output. */
static void fig2_vectors(const void *ctx, const Activations *a, int b, int t, const float **vec, float *scratch) {
    const ExpInputs *in = ctx;
    const Model *m = in->model;
    const ExpHeads *hd = in->heads;
    const int D = m->cfg.d_model, H = m->cfg.n_heads, L = m->cfg.n_layers;
    const size_t bt = (size_t)b * a->n_pos + t;
    int l, h, n = 0;
    for (l = 0; l < L; l++) {
        for (h = 0; h < H; h++)
            if (l != hd->writer_layer || h != hd->writer_head) vec[n++] = hook_result_at(m, a, l, h, b, t);
        if (!m->cfg.attn_only) vec[n++] = a->layer[l].mlp_out + bt * D;
    }
    cleaners_output(scratch, m, hd, a, b, t);
    vec[n++] = scratch;
    vec[n] = hook_result_at(m, a, hd->writer_layer, hd->writer_head, b, t);
}

/* PR onto the writer of each of fig2_vectors' vectors before it. */
static void fig2_batch(void *state, const ExpInputs *in, ExpBatch *b) {
    Fig2 *f = state;
    collect_prs_queue(in->model, b, &f->plan, fig2_vectors, in, f->targets);
}

static void fig2_finish(void *state, const ExpInputs *in, Results *res, Points *points) {
    Fig2 *f = state;
    const ExpHeads *hd = in->heads;
    const int n = f->plan.n_values; /* the series, in f->targets' order */
    char(*name)[64] = xalloc_array((size_t)n, sizeof *name, "Fig 2");
    const char **names = xalloc_array((size_t)n, sizeof *names, "Fig 2");
    double sum_of_medians = 0, block_sum[SAMPLES_SE_GROUPS];
    int n_blocks = 0;
    size_t n_nan = 0;
    char lab[32];
    int l, h, c, k = 0;
    (void)points;
    /* The SE of the sum of the cleaners' medians: batch means over the same row blocks,
     * before results_add_quantiles_of sorts the samples. */
    for (c = 0; c < hd->n_cleaners; c++) {
        double block[SAMPLES_SE_GROUPS];
        int g;
        n_blocks = samples_block_quantiles(&f->head[hd->patched_layer * f->H + hd->cleaners[c]], 0.5, block);
        for (g = 0; g < n_blocks; g++) block_sum[g] = (c ? block_sum[g] : 0) + block[g];
    }
    for (l = 0; l < f->L; l++) { /* fig2_begin's order */
        for (h = 0; h < f->H; h++) {
            if (l == hd->writer_layer && h == hd->writer_head) continue;
            head_label(lab, sizeof lab, l, h);
            snprintf(name[k++], sizeof *name, "fig2.%s", lab);
        }
        if (!in->model->cfg.attn_only) snprintf(name[k++], sizeof *name, "fig2.MLP%d", l);
    }
    snprintf(name[k++], sizeof *name, "fig2.cleaners_sum");
    for (k = 0; k < n; k++) {
        names[k] = name[k];
        n_nan += f->targets[k]->n_nan;
    }
    /* every series at once: the threads sort different series */
    results_add_quantiles_of(res, names, f->targets, n, results_q5, results_q5_names, 5);
    for (c = 0; c < hd->n_cleaners; c++)
        sum_of_medians += samples_quantile(&f->head[hd->patched_layer * f->H + hd->cleaners[c]], 0.5);
    results_set(res, "fig2.sum_of_medians", sum_of_medians);
    results_set_se(res, "fig2.sum_of_medians", batch_means_se(block_sum, n_blocks));
    results_set(res, "fig2.n_nan", (double)n_nan);
    free(name);
    free(names);
}

static void fig2_end(void *state) {
    Fig2 *f = state;
    samples_array_free(f->head, (size_t)f->L * f->H);
    samples_array_free(f->mlp, (size_t)f->L);
    samples_free(&f->cleaners);
    pr_plan_free(&f->plan);
    free(f->targets);
    free(f);
}

/* ---- figure and report ---- */

static const char *const fig2_stats[5] = {"median", "q12_5", "q87_5", "q25", "q75"};

/* One row per node (the writer omitted; no MLP rows for attention-only models):
 * layer, is_cleaner, then fig2_stats. */
static void fig2_table(const ReportContext *c, Table *tb, Range *y) {
    int l, h, q, row = 0;
    table_init(tb, c->L * (c->H + 1) - 1, 7);
    snprintf(tb->colnames[0], LABEL_LEN, "layer");
    snprintf(tb->colnames[1], LABEL_LEN, "is_cleaner");
    for (q = 0; q < 5; q++) snprintf(tb->colnames[q + 2], LABEL_LEN, "%s", fig2_stats[q]);
    for (l = 0; l < c->L; l++)
        for (h = 0; h <= c->H; h++) {
            char node[LABEL_LEN];
            if (h < c->H)
                snprintf(node, sizeof node, "L%dH%d", l, h);
            else
                snprintf(node, sizeof node, "MLP%d", l);
            if (l == c->wl && h == c->wh) continue; /* the writer is omitted */
            if (h == c->H && isnan(metric_value(c->r, "fig2.%s.median", node)) && !has_prefix_metric(c->r, "fig2.MLP"))
                continue; /* attention-only model: no MLP nodes */
            snprintf(tb->labels[row], LABEL_LEN, "%s", node);
            *table_cell(tb, row, 0) = l;
            *table_cell(tb, row, 1) = h < c->H && report_is_cleaner(c, l, h);
            for (q = 0; q < 5; q++) *table_cell(tb, row, q + 2) = metric_value(c->r, "fig2.%s.%s", node, fig2_stats[q]);
            range_add(y, table_get(tb, row, 2));
            range_add(y, table_get(tb, row, 3));
            range_add(y, table_get(tb, row, 4));
            row++;
        }
    tb->rows = row;
}

static int fig2_dat(const ReportContext *c, const Table *tb, Text *t, Outputs *o) {
    t->len = 0;
    text_printf(t,
                "# fig2.dat - Fig 2: projection ratio PR(node, %s) of every node (every head's hook_result,\n"
                "# every hook_mlp_out) onto the writer %s, over all (prompt, position) samples. The writer is\n"
                "# omitted. Bars: median; whiskers: 12.5 and 87.5 percentiles. layer = the node's layer;\n"
                "# is_cleaner = 1 for the cleaners (%s).\n"
                "# From results.tsv: fig2.{node}.{median,q12_5,q87_5,q25,q75}. NaN = not computed.\n"
                "# fig2.cleaners_sum.median (median of the cleaners' summed PR) = ",
                c->writer, c->writer, c->cleaners);
    text_num(t, metric_value(c->r, "fig2.cleaners_sum.median"));
    text_puts(t, "\n# fig2.sum_of_medians (sum of the cleaners' medians, a different number) = ");
    text_num(t, metric_value(c->r, "fig2.sum_of_medians"));
    text_puts(t, "\n");
    table_dat(t, tb, "node");
    return outputs_emit(o, "fig2.dat", t);
}

/* The colour of layer l's bars (palette[3], red, is kept for the cleaners). */
static const char *layer_color(int l) {
    return palette[l % 10 == 3 ? 9 : l % 10];
}

/* The rrggbb digits of a "#rrggbb" colour, for gnuplot's 0xrrggbb numbers. */
static const char *rgb_digits(const char *color) {
    return color[0] == '#' ? color + 1 : color;
}

/* fig2.gp draws the bars as fig2.svg does: layer colours (layer_color), cleaners red,
 * MLP bars paler (their colour at 45% over white, as fill-opacity 0.45 on white), with a
 * key of the same entries. Whiskers come with their bars (boxerrorbars; see grouped_bars_gp). */
static int fig2_gp(const ReportContext *c, const Table *tb, Text *t, Outputs *o) {
    int k, l;
    t->len = 0;
    gp_begin(t, "fig2", "Fig 2 (fig2.dat)", 1240, 520);
    text_printf(t,
                "set title \"Fig 2: PR of every node onto the writer %s (bars: median, whiskers: 12.5-87.5%%)\"\n"
                "set xlabel \"node (the writer is omitted; red: cleaners)\"\nset ylabel \"projection ratio onto %s\"\n"
                "set xtics rotate by 90 right\nset xrange [-0.5:%d.5]\n"
                "set style fill solid 1.0 border -1\nset boxwidth 0.7\n",
                c->writer, c->writer, tb->rows - 1);
    text_puts(t, "palette_rgb(k) = ");
    for (k = 0; k < 9; k++) text_printf(t, "k == %d ? 0x%s : ", k, rgb_digits(palette[k]));
    text_printf(t, "0x%s\nlayer_rgb(l) = palette_rgb(int(l) %% 10 == 3 ? 9 : int(l) %% 10)\n", rgb_digits(palette[9]));
    text_printf(t,
                "pale_channel(v) = int(255 - 0.45 * (255 - v) + 0.5)\n"
                "pale(rgb) = pale_channel(int(rgb / 65536) %% 256) * 65536 + pale_channel(int(rgb / 256) %% 256) * 256 + "
                "pale_channel(int(rgb) %% 256)\n"
                "bar_rgb(layer, cleaner, node) = cleaner > 0 ? 0x%s : strstrt(node, \"MLP\") == 1 ? pale(layer_rgb(layer)) : "
                "layer_rgb(layer)\n",
                rgb_digits(COLOR_CLEANER));
    text_puts(t, "plot \"fig2.dat\" using 1:5:6:7:(0.7):(bar_rgb($3, $4, strcol(2))):xtic(2) with boxerrorbars "
                 "lc rgb variable notitle");
    for (l = 0; l < c->L && l < 12; l++)
        text_printf(t, ", \\\n     \"\" using 1:(NaN) with boxes lc rgb layer_rgb(%d) title \"layer %d\"", l, l);
    text_printf(t,
                ", \\\n     \"\" using 1:(NaN) with boxes lc rgb \"%s\" title \"cleaners\""
                ", \\\n     \"\" using 1:(NaN) with boxes lc rgb pale(layer_rgb(0)) title \"MLP (paler)\""
                ", \\\n     \"\" using 1:(NaN):(NaN):(NaN) with yerrorbars pt -1 lc rgb \"black\" title \"12.5-87.5%%\"\n",
                COLOR_CLEANER);
    return outputs_emit(o, "fig2.gp", t);
}

static int fig2_svg(const ReportContext *c, const Table *tb, Range y, Text *t, Outputs *o) {
    const double cs = metric_value(c->r, "fig2.cleaners_sum.median"), som = metric_value(c->r, "fig2.sum_of_medians");
    LegendItem leg[16];
    Axes a;
    char title[256], sum1[32], sum2[32], names[12][24];
    int l, row, nleg = 0;
    t->len = 0;
    snprintf(title, sizeof title, "Fig 2: projection ratio of every node onto the writer %s", c->writer);
    svg_begin(t, 1240, 520, title);
    svg_text(t, 620, 26, "middle", 16, 0, "font-weight=\"bold\"", title);
    axes_categorical(&a, 80, 70, 930, 340, tb->rows, y, 1);
    snprintf(sum1, sizeof sum1, "%.3f", cs);
    snprintf(sum2, sizeof sum2, "%.3f", som);
    snprintf(title, sizeof title, "cleaners' summed output: median PR %s; sum of the cleaners' medians %s",
             isfinite(cs) ? sum1 : "n/a", isfinite(som) ? sum2 : "n/a");
    axes_draw(t, &a, title, "node (bars: median; whiskers: 12.5 and 87.5 percentiles)", "projection ratio onto the writer",
              tb->labels, -90);
    for (row = 0; row < tb->rows; row++) {
        int layer = (int)table_get(tb, row, 0), mlp = strncmp(tb->labels[row], "MLP", 3) == 0;
        const char *color = table_get(tb, row, 1) > 0 ? COLOR_CLEANER : layer_color(layer);
        draw_bar(t, &a, row, 0.38, table_get(tb, row, 2), color, mlp ? "fill-opacity=\"0.45\"" : NULL);
        draw_whisker(t, &a, row, 0.38, table_get(tb, row, 3), table_get(tb, row, 4));
    }
    for (l = 0; l < c->L && nleg < 12; l++) {
        snprintf(names[nleg], sizeof names[nleg], "layer %d", l);
        leg[nleg] = legend_item(names[nleg], layer_color(l), LEG_BOX, 1);
        nleg++;
    }
    leg[nleg++] = legend_item("cleaners", COLOR_CLEANER, LEG_BOX, 1);
    leg[nleg++] = legend_item("MLP (paler)", palette[0], LEG_BOX, 0.45);
    leg[nleg++] = legend_item("12.5-87.5%", "black", LEG_WHISKER, 1);
    draw_legend(t, 1022, 70, leg, nleg);
    svg_end(t);
    return outputs_emit(o, "fig2.svg", t);
}

/* fig2.dat, fig2.gp, fig2.svg; nothing when Fig 2's medians are absent. */
static int fig2_write_figures(const ReportContext *c, Outputs *o) {
    Table tb;
    Range y = {0, 0, 0};
    Text t = {0};
    int rc = 0;
    fig2_table(c, &tb, &y);
    if (table_any(&tb, 2)) rc = fig2_dat(c, &tb, &t, o) || fig2_gp(c, &tb, &t, o) || fig2_svg(c, &tb, y, &t, o) ? -1 : 0;
    table_free(&tb);
    text_free(&t);
    return rc;
}

static void fig2_report_section(const ReportContext *c, ReportSection *s) {
    char intro[1024];
    int h;
    section_headline(s, "fig2.cleaners_sum.median");
    section_headline(s, "fig2.sum_of_medians");
    for (h = 0; h < c->H; h++) section_headline(s, "fig2.L%dH%d.median", c->pl, h);
    snprintf(intro, sizeof intro,
             "PR of every node's output onto the writer %s. Headline: the median of the cleaners' summed PR "
             "(cleaners %s; the paper's -0.903). The sum of the cleaners' separate medians is a different number, "
             "smaller in magnitude (`fig2.sum_of_medians`).",
             c->writer, c->cleaners);
    section_write(s, intro);
}

static const ExpOutput fig2_outputs[] = {
    {"fig2.svg", "Fig 2: every node's median PR onto the writer, 12.5-87.5 whiskers"},
    {"fig2.dat", "Fig 2 data: per node layer, cleaner flag, median and percentiles"},
    {"fig2.gp", "gnuplot script drawing Fig 2"},
    {NULL, NULL},
};
static const char *const fig2_figures[] = {"fig2", NULL};

/* Every head's output and every MLP's. */
static void fig2_hooks(const ExpInputs *in, HookRequest *req) {
    (void)in;
    hook_request_add(req, -1, HOOK_BIT(HOOK_RESULT) | HOOK_BIT(HOOK_MLP_OUT));
}

/* fig2_begin's samples, and the cleaners' sum (grown by doubling: up to twice). */
static size_t fig2_memory(const ExpInputs *in, int n_rows, int T, int batch_rows) {
    const ModelConfig *c = &in->model->cfg;
    (void)batch_rows;
    return ((size_t)c->n_layers * (c->n_heads + 1) + 2) * n_rows * T * sizeof(float);
}

const Experiment experiment_fig2 = {
    "fig2", "Fig 2: projection of every node onto the writer (-0.903)", "Fig 2: which nodes erase the writer",
    0, 0, NULL, fig2_begin, fig2_batch, fig2_finish, fig2_end, NULL,
    fig2_write_figures, fig2_report_section, fig2_outputs, fig2_figures,
    REF_MODEL | REF_PROCESSED | REF_WRITER | REF_CLEANERS | REF_ROWS | REF_SEQ_LEN,
    fig2_hooks,
    fig2_memory,
    NULL, /* not split */
};
