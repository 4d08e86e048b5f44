/* exp_fig5.c - Fig 5 (docs/PROTOCOL.md section 5.5; the authors' script): rows < 10, positions
 * 32..T-2. For each position, the writer's DLA along W_U[:, next token] against the DLA
 * of its V-composition through the cleaners (no attention weights, no biases), with a
 * least-squares line and Pearson r. Metrics fig5.{n_points,slope,intercept,r}. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "experiments.h"
#include "report.h"

#define FIG5_ROWS 10
#define FIG5_FIRST_POS 32

typedef struct {
    VCompBuffers w;
    double *dla; /* [2 * T] one row's (writer, V-composition) DLA values */
    Points points;
} Fig5;

static int fig5_check(const ExpInputs *in, Error *err) {
    const int T = in->data->seq_len;
    if (T <= FIG5_FIRST_POS + 1)
        return error_set_code(err, EXIT_USAGE,
                              "Fig 5 uses positions %d..T-2 and needs rows of T > %d tokens (T = %d; pass a longer "
                              "--seq-len, or longer rows)",
                              FIG5_FIRST_POS, FIG5_FIRST_POS + 1, T);
    return 0;
}

static void *fig5_begin(const ExpInputs *in, int n_rows, int T, int batch_rows) {
    Fig5 *f = xalloc_array(1, sizeof *f, "Fig 5");
    (void)n_rows;
    (void)batch_rows;
    vcomp_alloc(&f->w, in->model, T);
    f->dla = xalloc_array((size_t)2 * T, sizeof(double), "work");
    points_init(&f->points);
    return f;
}

/* The positions' DLAs are computed in parallel into f->dla, then added in order. */
static void fig5_batch(void *state, const ExpInputs *in, ExpBatch *batch) {
    Fig5 *f = state;
    const Model *m = in->model;
    const Activations *a = batch->acts;
    const int D = m->cfg.d_model, T = a->n_pos, n = T - 1 - FIG5_FIRST_POS;
    int b, i;
    for (b = 0; b < a->n_rows && batch->first_row + b < FIG5_ROWS; b++) {
        v_composition(&f->w, m, in->heads, a, b, FIG5_FIRST_POS, n, 0);
#ifdef _OPENMP
#pragma omp parallel
#endif
        {
            float *u = xalloc_array((size_t)D, sizeof *u, "Fig 5 scratch");
            int j;
#ifdef _OPENMP
#pragma omp for schedule(static)
#endif
            for (j = 0; j < n; j++) {
                const int pos = FIG5_FIRST_POS + j;
                const size_t bt = (size_t)b * T + pos;
                const float s = a->lnf_scale[bt];
                unembed_direction(m, batch->tokens[bt + 1], -1, u);
                f->dla[2 * (size_t)j] = direct_logit_attribution(
                    hook_result_at(m, a, in->heads->writer_layer, in->heads->writer_head, b, pos), D, s, m->lnf_w, u);
                f->dla[2 * (size_t)j + 1] = direct_logit_attribution(f->w.v + (size_t)j * D, D, s, m->lnf_w, u);
            }
            free(u);
        }
        for (i = 0; i < n; i++) points_add(&f->points, f->dla[2 * (size_t)i], f->dla[2 * (size_t)i + 1]);
    }
}

static void fig5_finish(void *state, const ExpInputs *in, Results *res, Points *points) {
    Fig5 *f = state;
    double slope, intercept, se_slope, se_intercept, se_r;
    least_squares(f->points.x, f->points.y, f->points.n, &slope, &intercept);
    results_set(res, "fig5.n_points", (double)f->points.n);
    results_set(res, "fig5.slope", slope);
    results_set(res, "fig5.intercept", intercept);
    results_set(res, "fig5.r", pearson_r(f->points.x, f->points.y, f->points.n));
    /* rows are the unit of sampling: every row gives T - 1 - FIG5_FIRST_POS points */
    regression_jackknife_se(f->points.x, f->points.y, f->points.n, (size_t)(in->data->seq_len - 1 - FIG5_FIRST_POS),
                            &se_slope, &se_intercept, &se_r);
    results_set_se(res, "fig5.slope", se_slope);
    results_set_se(res, "fig5.intercept", se_intercept);
    results_set_se(res, "fig5.r", se_r);
    if (points) { /* the figure plots them: hand them over */
        points_free(points);
        *points = f->points;
        points_init(&f->points);
    }
}

static void fig5_end(void *state) {
    Fig5 *f = state;
    vcomp_free(&f->w);
    free(f->dla);
    points_free(&f->points);
    free(f);
}

/* ---- figure and report ---- */

/* The least-squares line of results.tsv; has_fit 0 when slope or intercept is absent. */
typedef struct {
    double slope, intercept, r;
    int has_fit;
    char label[160];
} Fig5Fit;

static void fig5_fit(const ReportContext *c, Fig5Fit *f) {
    f->slope = metric_value(c->r, "fig5.slope");
    f->intercept = metric_value(c->r, "fig5.intercept");
    f->r = metric_value(c->r, "fig5.r");
    f->has_fit = isfinite(f->slope) && isfinite(f->intercept);
    if (f->has_fit)
        snprintf(f->label, sizeof f->label, "fit: y = %.3f x %s %.3f, r = %.3f", f->slope, f->intercept < 0 ? "-" : "+",
                 fabs(f->intercept), f->r);
    else
        snprintf(f->label, sizeof f->label, "no fit (fig5.slope absent)");
}

static int fig5_dat(const ReportContext *c, const Fig5Fit *fit, Text *t, Outputs *o) {
    const ReportInput *in = c->in;
    size_t i;
    t->len = 0;
    text_printf(t,
                "# fig5.dat - Fig 5 (the authors' regression): one point per (row, position) of the first rows,\n"
                "# positions 32..T-2. x = DLA of the writer %s at position i along W_U[:, next token];\n"
                "# y = DLA of its V-composition through the cleaners (%s), no attention weights.\n"
                "# Least-squares fit from results.tsv: fig5.slope = ",
                c->writer, c->cleaners);
    text_num(t, fit->slope);
    text_puts(t, ", fig5.intercept = ");
    text_num(t, fit->intercept);
    text_puts(t, ", fig5.r = ");
    text_num(t, fit->r);
    text_printf(t, ", points = %lu\n# columns: writer_dla vcomp_dla\n", (unsigned long)in->fig5_n);
    for (i = 0; i < in->fig5_n; i++) {
        text_num(t, in->fig5_x[i]);
        text_puts(t, " ");
        text_num(t, in->fig5_y[i]);
        text_puts(t, "\n");
    }
    return outputs_emit(o, "fig5.dat", t);
}

/* The fit's equation goes into the title (as fig5.svg's panel title): in the key, outside
 * the plot, a label that long squeezed the plot into half the width. */
static int fig5_gp(const ReportContext *c, const Fig5Fit *fit, Text *t, Outputs *o) {
    const unsigned long n = (unsigned long)c->in->fig5_n;
    t->len = 0;
    gp_begin(t, "fig5", "Fig 5 (fig5.dat)", 900, 640);
    text_printf(t,
                "set title \"Fig 5: writer DLA vs its V-composition through the cleaners\\n%s\"\n"
                "set xlabel \"DLA of the writer %s\"\nset ylabel \"DLA of the V-composition (cleaners)\"\nset grid xtics\n",
                fit->label, c->writer);
    if (fit->has_fit) {
        text_printf(t, "slope = %.9g\nintercept = %.9g\n", fit->slope, fit->intercept);
        text_printf(t,
                    "plot \"fig5.dat\" using 1:2 with points pt 7 ps 0.4 lc rgb \"%s\" title \"positions (n=%lu)\", \\\n"
                    "     slope * x + intercept with lines lw %.1f lc rgb \"%s\" title \"least-squares line\"\n",
                    palette[0], n, REF_LINE_WIDTH, COLOR_CLEANER);
    } else {
        text_printf(t, "plot \"fig5.dat\" using 1:2 with points pt 7 ps 0.4 lc rgb \"%s\" title \"positions (n=%lu)\"\n",
                    palette[0], n);
    }
    return outputs_emit(o, "fig5.gp", t);
}

static int fig5_svg(const ReportContext *c, const Fig5Fit *fit, Text *t, Outputs *o) {
    const ReportInput *in = c->in;
    const char *title = "Fig 5: writer DLA vs its V-composition through the cleaners";
    Range xr = {0, 0, 0}, yr = {0, 0, 0};
    LegendItem leg[2];
    Axes a;
    size_t i;
    for (i = 0; i < in->fig5_n; i++) {
        range_add(&xr, in->fig5_x[i]);
        range_add(&yr, in->fig5_y[i]);
    }
    t->len = 0;
    svg_begin(t, 900, 640, title);
    svg_text(t, 450, 26, "middle", 16, 0, "font-weight=\"bold\"", title);
    axes_numeric(&a, 80, 70, 560, 480, xr, yr);
    axes_draw(t, &a, fit->label, "DLA of the writer along W_U[:, next token]", "DLA of the V-composition", NULL, 0);
    text_puts(t, "<defs><clipPath id=\"plotarea\">");
    text_printf(t, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\"/>", a.left, a.top, a.width, a.height);
    text_puts(t, "</clipPath></defs>\n<g clip-path=\"url(#plotarea)\">\n");
    text_printf(t, "<g fill=\"%s\" fill-opacity=\"0.35\">\n", palette[0]);
    for (i = 0; i < in->fig5_n; i++)
        if (isfinite(in->fig5_x[i]) && isfinite(in->fig5_y[i]))
            text_printf(t, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"1.8\"/>\n", ax_x(&a, in->fig5_x[i]), ax_y(&a, in->fig5_y[i]));
    text_puts(t, "</g>\n");
    if (fit->has_fit)
        svg_line(t, ax_x(&a, a.xmin), ax_y(&a, fit->slope * a.xmin + fit->intercept), ax_x(&a, a.xmax),
                 ax_y(&a, fit->slope * a.xmax + fit->intercept), COLOR_CLEANER, REF_LINE_WIDTH, NULL);
    text_puts(t, "</g>\n");
    leg[0] = legend_item("one (row, position)", palette[0], LEG_POINT, 0.6);
    leg[1] = legend_item("least-squares line", COLOR_CLEANER, LEG_SOLID, 1);
    draw_legend(t, 652, 70, leg, fit->has_fit ? 2 : 1);
    svg_end(t);
    return outputs_emit(o, "fig5.svg", t);
}

/* fig5.dat, fig5.gp, fig5.svg from the run's points; nothing without points. */
static int fig5_write_figures(const ReportContext *c, Outputs *o) {
    const ReportInput *in = c->in;
    Fig5Fit fit;
    Text t = {0};
    int rc;
    if (in->fig5_n == 0 || !in->fig5_x || !in->fig5_y) return 0;
    fig5_fit(c, &fit);
    rc = fig5_dat(c, &fit, &t, o) || fig5_gp(c, &fit, &t, o) || fig5_svg(c, &fit, &t, o) ? -1 : 0;
    text_free(&t);
    return rc;
}

static void fig5_report_section(const ReportContext *c, ReportSection *s) {
    section_headline(s, "fig5.n_points");
    section_headline(s, "fig5.slope");
    section_headline(s, "fig5.intercept");
    section_headline(s, "fig5.r");
    section_write(s, "First rows, positions 32..T-2: DLA of the writer along the next token's unembedding against the DLA "
                     "of its V-composition through the cleaners (no attention weights, no biases); least-squares line "
                     "and Pearson r. The authors report slope -0.723 +- 0.013, intercept 0.052 +- 0.003.");
    if (!section_has_figures(s) && has_prefix_metric(c->r, "fig5."))
        section_note(s, "\nThe scatter points were not provided, so `fig5.svg`, `fig5.dat` and `fig5.gp` were not written.\n");
}

static const ExpOutput fig5_outputs[] = {
    {"fig5.svg", "Fig 5: writer DLA against its V-composition through the cleaners, with the fitted line"},
    {"fig5.dat", "Fig 5 points (writer DLA, V-composition DLA)"},
    {"fig5.gp", "gnuplot script drawing Fig 5"},
    {NULL, NULL},
};
static const char *const fig5_figures[] = {"fig5", NULL};

/* The writer's output (ln_final's and the patched layer's ln1 scales are always kept). */
static void fig5_hooks(const ExpInputs *in, HookRequest *req) {
    hook_request_add(req, in->heads->writer_layer, HOOK_BIT(HOOK_RESULT));
}

/* fig5_begin's work buffers (the points are a few per row of its first rows). */
static size_t fig5_memory(const ExpInputs *in, int n_rows, int T, int batch_rows) {
    (void)n_rows;
    (void)batch_rows;
    return vcomp_bytes(in->model, T) + (size_t)2 * T * sizeof(double);
}

const Experiment experiment_fig5 = {
    "fig5", "Fig 5: writer DLA against its V-composition",
    "Fig 5: writer DLA against its V-composition (the authors' regression)",
    FIG5_ROWS, 0, fig5_check, fig5_begin, fig5_batch, fig5_finish, fig5_end, NULL,
    fig5_write_figures, fig5_report_section, fig5_outputs, fig5_figures,
    REF_MODEL | REF_PROCESSED | REF_WRITER | REF_CLEANERS | REF_ROWS | REF_SEQ_LEN,
    fig5_hooks,
    fig5_memory,
    NULL, /* not split */
};
