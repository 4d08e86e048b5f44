/* exp_fig1.c - Fig 1 (docs/PROTOCOL.md section 5.1): the residual stream projected onto the
 * layer-0 heads. For every (row, position) sample and every residual location,
 * PR(resid, L0Hh) = (resid . head)/(head . head); metrics fig1.L0H{h}.{location}.{stat}.
 * The writer's direction appears at resid_mid0 and, in gelu-4l, largely disappears
 * after layer 2. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "experiments.h"
#include "report.h"

typedef struct {
    int n_loc;
    size_t n_pr;
    Samples *pr; /* [n_pr = H * n_loc]: L0H{h} onto location k at h * n_loc + k */
    PrPlan plan;       /* per head h: the locations onto it, values h * n_loc + k (fig1_vectors) */
    Samples **targets; /* [n_pr]: &pr[s] */
} Fig1;

static void *fig1_begin(const ExpInputs *in, int n_rows, int T, int batch_rows) {
    const ModelConfig *c = &in->model->cfg;
    Fig1 *f = xalloc_array(1, sizeof *f, "Fig 1");
    size_t s;
    int h, k;
    (void)batch_rows;
    f->n_loc = resid_location_count(c->n_layers, c->attn_only);
    f->n_pr = (size_t)c->n_heads * f->n_loc;
    f->pr = samples_array(f->n_pr, (size_t)n_rows * T);
    f->targets = xalloc_array(f->n_pr, sizeof *f->targets, "Fig 1");
    for (s = 0; s < f->n_pr; s++) f->targets[s] = &f->pr[s];
    pr_plan_init(&f->plan, f->n_loc + c->n_heads, c->n_heads, (int)f->n_pr);
    for (h = 0; h < c->n_heads; h++) {
        pr_plan_group(&f->plan, f->n_loc + h);
        for (k = 0; k < f->n_loc; k++) pr_plan_target(&f->plan, k);
    }
    return f;
}

/* At (b, t): the residual locations, then the layer-0 heads' outputs. */
static void fig1_vectors(const void *ctx, const Activations *a, int b, int t, const float **vec, float *scratch) {
    const Model *m = ((const ExpInputs *)ctx)->model;
    const int D = m->cfg.d_model, H = m->cfg.n_heads, n_loc = resid_location_count(m->cfg.n_layers, m->cfg.attn_only);
    const size_t bt = (size_t)b * a->n_pos + t;
    int h, k;
    (void)scratch;
    for (k = 0; k < n_loc; k++) vec[k] = resid_location_data(m, a, k) + bt * D;
    for (h = 0; h < H; h++) vec[n_loc + h] = hook_result_at(m, a, 0, h, b, t);
}

/* PR of every residual location onto each layer-0 head: value h * n_loc + k. */
static void fig1_batch(void *state, const ExpInputs *in, ExpBatch *b) {
    Fig1 *f = state;
    collect_prs_queue(in->model, b, &f->plan, fig1_vectors, in, f->targets);
}

static void fig1_finish(void *state, const ExpInputs *in, Results *res, Points *points) {
    Fig1 *f = state;
    const ModelConfig *c = &in->model->cfg;
    const int n = c->n_heads * f->n_loc;
    char(*name)[64] = xalloc_array((size_t)n, sizeof *name, "Fig 1");
    const char **names = xalloc_array((size_t)n, sizeof *names, "Fig 1");
    Samples **series = xalloc_array((size_t)n, sizeof *series, "Fig 1");
    size_t n_nan = 0;
    char loc[32];
    int h, k;
    (void)points;
    for (h = 0; h < c->n_heads; h++)
        for (k = 0; k < f->n_loc; k++) {
            const int j = h * f->n_loc + k;
            resid_location_name(c->attn_only, k, loc, sizeof loc);
            snprintf(name[j], sizeof name[j], "fig1.L0H%d.%s", h, loc);
            names[j] = name[j];
            series[j] = &f->pr[j];
            n_nan += f->pr[j].n_nan;
        }
    results_add_quantiles_of(res, names, series, n, results_q5, results_q5_names, 5);
    results_set(res, "fig1.n_nan", (double)n_nan);
    free(name);
    free(names);
    free(series);
}

static void fig1_end(void *state) {
    Fig1 *f = state;
    samples_array_free(f->pr, f->n_pr);
    pr_plan_free(&f->plan);
    free(f->targets);
    free(f);
}

/* ---- figure and report ---- */

/* The layer whose heads Fig 1 shows and the head of its panel b. docs/PROTOCOL.md names Fig 1's
 * metrics after layer 0 (fig1.L0H{h}); a writer in another layer keeps layer 0 unless
 * its own layer's metrics exist. Panel b shows the writer if it is in that layer, else
 * the paper's head 2. */
typedef struct {
    int layer, head;
    char name[24];
} Fig1Panel;

static void fig1_panel(const ReportContext *c, Fig1Panel *p) {
    char prefix[32];
    snprintf(prefix, sizeof prefix, "fig1.L%dH", c->wl);
    p->layer = has_prefix_metric(c->r, prefix) ? c->wl : 0;
    p->head = p->layer == c->wl ? c->wh : (c->H > 2 ? 2 : 0);
    snprintf(p->name, sizeof p->name, "L%dH%d", p->layer, p->head);
}

/* Panel a: the median per location of every head of the panel's layer; panel b: the
 * panel head's median and percentiles. */
typedef struct {
    Fig1Panel p;
    Table a, b;
    Range ya, yb;
} Fig1Tables;

static const char *const fig1_stats[5] = {"median", "q12_5", "q25", "q75", "q87_5"};

static void fig1_tables(const ReportContext *c, Fig1Tables *f) {
    int i, h, q;
    memset(f, 0, sizeof *f);
    fig1_panel(c, &f->p);
    table_init(&f->a, c->n_locs, c->H);
    table_init(&f->b, c->n_locs, 5);
    for (h = 0; h < c->H; h++) snprintf(f->a.colnames[h], LABEL_LEN, "L%dH%d", f->p.layer, h);
    for (q = 0; q < 5; q++) snprintf(f->b.colnames[q], LABEL_LEN, "%s", fig1_stats[q]);
    for (i = 0; i < c->n_locs; i++) {
        snprintf(f->a.labels[i], LABEL_LEN, "%s", c->locs[i]);
        snprintf(f->b.labels[i], LABEL_LEN, "%s", c->locs[i]);
        for (h = 0; h < c->H; h++) {
            *table_cell(&f->a, i, h) = metric_value(c->r, "fig1.L%dH%d.%s.median", f->p.layer, h, c->locs[i]);
            range_add(&f->ya, table_get(&f->a, i, h));
        }
        for (q = 0; q < 5; q++) {
            *table_cell(&f->b, i, q) =
                metric_value(c->r, "fig1.L%dH%d.%s.%s", f->p.layer, f->p.head, c->locs[i], fig1_stats[q]);
            range_add(&f->yb, table_get(&f->b, i, q));
        }
    }
}

static int fig1_dat(const Fig1Tables *f, Text *t, Outputs *o) {
    t->len = 0;
    text_printf(t,
                "# fig1a.dat - Fig 1, left panel: for every layer-%d head h, the median over all (prompt, position)\n"
                "# samples of PR(resid, L%dHh) = (resid . head)/(head . head) at each residual location.\n"
                "# From results.tsv: fig1.L%dH{h}.{location}.median. NaN = not computed.\n",
                f->p.layer, f->p.layer, f->p.layer);
    table_dat(t, &f->a, "location");
    if (outputs_emit(o, "fig1a.dat", t) != 0) return -1;
    t->len = 0;
    text_printf(t,
                "# fig1b.dat - Fig 1, right panel: PR(resid, %s) at each residual location: median and the\n"
                "# 12.5/25/75/87.5 percentiles over all (prompt, position) samples (type-7 quantiles).\n"
                "# From results.tsv: fig1.%s.{location}.{median,q12_5,q25,q75,q87_5}. NaN = not computed.\n",
                f->p.name, f->p.name);
    table_dat(t, &f->b, "location");
    return outputs_emit(o, "fig1b.dat", t);
}

static int fig1_gp(const ReportContext *c, const Fig1Tables *f, Text *t, Outputs *o) {
    int h;
    t->len = 0;
    gp_begin(t, "fig1", "Fig 1 (two panels: fig1a.dat, fig1b.dat)", 1320, 520);
    text_printf(t, "set multiplot layout 1,2 title \"Fig 1: projection of the residual stream onto the layer-%d heads\"\n",
                f->p.layer);
    text_printf(t,
                "set title \"Median PR(resid, L%dHh) per head\"\n"
                "set xlabel \"residual location\"\nset ylabel \"median projection ratio\"\n"
                "set xtics rotate by 40 right\nset xrange [-0.5:%d.5]\n",
                f->p.layer, c->n_locs - 1);
    text_puts(t, "plot ");
    /* the SVG's colours and line widths (the writer's line thicker) */
    for (h = 0; h < c->H; h++)
        text_printf(t, "%s\"fig1a.dat\" using 1:%d%s with linespoints pt 7 ps 0.6 lw %.1f lc rgb \"%s\" title \"L%dH%d\"",
                    h ? ", \\\n     " : "", h + 3, h == 0 ? ":xtic(2)" : "", h == f->p.head ? 2.5 : 1.5, palette[h % 10],
                    f->p.layer, h);
    text_printf(t,
                "\nset title \"PR(resid, %s): median with percentile bands\"\n"
                "plot \"fig1b.dat\" using 1:4:7 with filledcurves fs solid 0.25 lc rgb \"%s\" title \"12.5-87.5%%\", \\\n"
                "     \"\" using 1:5:6 with filledcurves fs solid 0.45 lc rgb \"%s\" title \"25-75%%\", \\\n"
                "     \"\" using 1:3:xtic(2) with linespoints pt 7 ps 0.6 lw 2.5 lc rgb \"%s\" title \"median\"\n"
                "unset multiplot\n",
                f->p.name, COLOR_CLEAN, COLOR_CLEAN, COLOR_CLEAN);
    return outputs_emit(o, "fig1.gp", t);
}

static int fig1_svg(const ReportContext *c, const Fig1Tables *f, Text *t, Outputs *o) {
    LegendItem leg[MAX_LEGEND];
    char title[160];
    Axes a;
    int h, n_leg = c->H < MAX_LEGEND ? c->H : MAX_LEGEND;
    t->len = 0;
    snprintf(title, sizeof title, "Fig 1: projection of the residual stream onto the layer-%d heads", f->p.layer);
    svg_begin(t, 1320, 520, title);
    svg_text(t, 660, 26, "middle", 16, 0, "font-weight=\"bold\"", title);
    axes_categorical(&a, 80, 70, 430, 330, c->n_locs, f->ya, 1);
    snprintf(title, sizeof title, "(a) median PR(resid, L%dHh) for every head h", f->p.layer);
    axes_draw(t, &a, title, "residual location", "median projection ratio", f->a.labels, -40);
    for (h = 0; h < c->H; h++) {
        draw_series(t, &a, f->a.v + h, c->n_locs, c->H, palette[h % 10], h == f->p.head ? 2.5 : 1.5);
        if (h < n_leg) leg[h] = legend_item(f->a.colnames[h], palette[h % 10], LEG_LINE, 1);
    }
    draw_legend(t, 522, 70, leg, n_leg);
    axes_categorical(&a, 720, 70, 430, 330, c->n_locs, f->yb, 1);
    snprintf(title, sizeof title, "(b) PR(resid, %s): median and percentile bands", f->p.name);
    axes_draw(t, &a, title, "residual location", "projection ratio", f->b.labels, -40);
    draw_band(t, &a, f->b.v + 1, f->b.v + 4, c->n_locs, 5, COLOR_CLEAN, 0.18);
    draw_band(t, &a, f->b.v + 2, f->b.v + 3, c->n_locs, 5, COLOR_CLEAN, 0.30);
    draw_series(t, &a, f->b.v + 0, c->n_locs, 5, COLOR_CLEAN, 2.5);
    leg[0] = legend_item("median", COLOR_CLEAN, LEG_LINE, 1);
    leg[1] = legend_item("25-75% band", COLOR_CLEAN, LEG_BAND, 0.45);
    leg[2] = legend_item("12.5-87.5% band", COLOR_CLEAN, LEG_BAND, 0.18);
    draw_legend(t, 1162, 70, leg, 3);
    svg_end(t);
    return outputs_emit(o, "fig1.svg", t);
}

/* fig1a.dat, fig1b.dat, fig1.gp, fig1.svg; nothing when Fig 1's metrics are absent. */
static int fig1_write_figures(const ReportContext *c, Outputs *o) {
    Fig1Tables f;
    Text t = {0};
    int rc = 0;
    fig1_tables(c, &f);
    if (table_any(&f.a, -1) || table_any(&f.b, -1))
        rc = fig1_dat(&f, &t, o) || fig1_gp(c, &f, &t, o) || fig1_svg(c, &f, &t, o) ? -1 : 0;
    table_free(&f.a);
    table_free(&f.b);
    text_free(&t);
    return rc;
}

static void fig1_report_section(const ReportContext *c, ReportSection *s) {
    Fig1Panel p;
    char intro[1024];
    int k;
    fig1_panel(c, &p);
    for (k = 0; k < c->n_locs; k++) section_headline(s, "fig1.%s.%s.median", p.name, c->locs[k]);
    snprintf(intro, sizeof intro,
             "Projection ratio PR(resid, %s) = (resid . head)/(head . head) at every residual location, over all "
             "(prompt, position) samples. The head's direction appears at resid_mid%d and, in gelu-4l, largely "
             "disappears after layer 2.",
             p.name, p.layer);
    section_write(s, intro);
}

static const ExpOutput fig1_outputs[] = {
    {"fig1.svg", "Fig 1, both panels: residual stream projected onto the writer's layer heads"},
    {"fig1a.dat", "Fig 1 left panel data: median PR per residual location, one column per head"},
    {"fig1b.dat", "Fig 1 right panel data: the writer's median and 12.5/25/75/87.5 percentiles"},
    {"fig1.gp", "gnuplot script drawing Fig 1 from fig1a.dat and fig1b.dat"},
    {NULL, NULL},
};
static const char *const fig1_figures[] = {"fig1", NULL};

/* The residual locations and layer 0's head outputs. */
static void fig1_hooks(const ExpInputs *in, HookRequest *req) {
    exp_hooks_resid_locations(in->model, req);
    hook_request_add(req, 0, HOOK_BIT(HOOK_RESULT));
}

/* fig1_begin's samples. */
static size_t fig1_memory(const ExpInputs *in, int n_rows, int T, int batch_rows) {
    const ModelConfig *c = &in->model->cfg;
    (void)batch_rows;
    return (size_t)c->n_heads * resid_location_count(c->n_layers, c->attn_only) * n_rows * T * sizeof(float);
}

const Experiment experiment_fig1 = {
    "fig1", "Fig 1: residual stream projected onto the layer-0 heads", "Fig 1: residual stream onto the writer",
    0, 0, NULL, fig1_begin, fig1_batch, fig1_finish, fig1_end, NULL,
    fig1_write_figures, fig1_report_section, fig1_outputs, fig1_figures,
    REF_MODEL | REF_PROCESSED | REF_ROWS | REF_SEQ_LEN,
    fig1_hooks,
    fig1_memory,
    NULL, /* not split */
};
