/* exp_fig3.c - Fig 3 (docs/PROTOCOL.md section 5.3): the value-input patch. Every head of the
 * cleaners' layer reads resid_pre - writer output as its value input (queries, keys and
 * the value path's ln1 scale stay clean). If the clean-up depends on the writer, the
 * writer's direction survives in the patched run. Metrics fig3.{clean,patched}.{location
 * or head of the patched layer}.{stat}: PR onto the writer's clean output. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "experiments.h"
#include "report.h"

struct Fig3;

/* What fig3_vectors reads at each position. */
typedef struct {
    const ExpInputs *in;
    const struct Fig3 *f;
    int patched; /* the patched run: the writer's clean output from f->writer */
} Fig3Position;

typedef struct Fig3 {
    int n_loc, H;
    Samples *loc[2];   /* [n_loc], clean and patched */
    Samples *head[2];  /* [H] heads of the patched layer, clean and patched */
    float *patch_resid; /* [B*T*D] the value input: resid_pre - writer */
    float *patch_scale; /* [B*T] the clean ln1 scale of the patched layer */
    float *writer;      /* [B*T*D] the writer's clean output, packed */
    PrPlan plan;        /* fig3_vectors' locations and heads onto the writer */
    Samples **targets[2]; /* [n_loc + H] per run: the locations, then the heads */
    Fig3Position position; /* fig3_vectors' context */
} Fig3;

static void *fig3_begin(const ExpInputs *in, int n_rows, int T, int batch_rows) {
    const ModelConfig *c = &in->model->cfg;
    const size_t n_samples = (size_t)n_rows * T, BT = (size_t)batch_rows * T;
    Fig3 *f = xalloc_array(1, sizeof *f, "Fig 3");
    int run, k;
    f->n_loc = resid_location_count(c->n_layers, c->attn_only);
    f->H = c->n_heads;
    for (run = 0; run < 2; run++) {
        f->loc[run] = samples_array((size_t)f->n_loc, n_samples);
        f->head[run] = samples_array((size_t)f->H, n_samples);
        f->targets[run] = xalloc_array((size_t)f->n_loc + f->H, sizeof **f->targets, "Fig 3");
        for (k = 0; k < f->n_loc; k++) f->targets[run][k] = &f->loc[run][k];
        for (k = 0; k < f->H; k++) f->targets[run][f->n_loc + k] = &f->head[run][k];
    }
    pr_plan_onto_last(&f->plan, f->n_loc + f->H);
    f->patch_resid = xalloc_array(BT * c->d_model, sizeof(float), "Fig 3 patch");
    f->patch_scale = xalloc_array(BT, sizeof(float), "Fig 3 patch");
    f->writer = xalloc_array(BT * c->d_model, sizeof(float), "Fig 3 patch");
    return f;
}


/* At (b, t): every location, every head of the patched layer, then the writer's clean
 * output (the clean run's hook, the very array the other units read, so the queue
 * shares it; f->writer, its copy, in the patched run). */
static void fig3_vectors(const void *ctx, const Activations *a, int b, int t, const float **vec, float *scratch) {
    const Fig3Position *p = ctx;
    const Model *m = p->in->model;
    const int D = m->cfg.d_model, H = m->cfg.n_heads, n_loc = p->f->n_loc;
    const size_t bt = (size_t)b * a->n_pos + t;
    int k, h;
    (void)scratch;
    for (k = 0; k < n_loc; k++) vec[k] = resid_location_data(m, a, k) + bt * D;
    for (h = 0; h < H; h++) vec[n_loc + h] = hook_result_at(m, a, p->in->heads->patched_layer, h, b, t);
    vec[n_loc + H] = p->patched ? p->f->writer + bt * D
                                : hook_result_at(m, a, p->in->heads->writer_layer, p->in->heads->writer_head, b, t);
}

/* The statistics of one run (clean: which 0, patched: 1): PR onto the writer's clean
 * output of every location, then of every head of the patched layer. The clean run's
 * join the other units' queued ones (collect_prs_queue), computed before the rerun. */
static void fig3_collect(Fig3 *f, const ExpInputs *in, ExpBatch *b, int which) {
    f->position.in = in;
    f->position.f = f;
    f->position.patched = which;
    if (which == 0) {
        collect_prs_queue(in->model, b, &f->plan, fig3_vectors, &f->position, f->targets[0]);
        collect_prs_flush(in->model, b);
    } else {
        collect_prs(in->model, b->acts, &f->plan, fig3_vectors, &f->position, f->targets[1]);
    }
}

ForwardOptions fig3_rerun_options(int patched_layer, const float *patch_resid, const float *patch_scale) {
    ForwardOptions opt = forward_options_default();
    opt.start_layer = patched_layer;
    opt.compute_logits = 0;
    opt.v_patch_layer = patched_layer;
    opt.v_patch_heads = NULL; /* every head of the layer */
    opt.v_patch_resid = patch_resid;
    opt.v_patch_scale = patch_scale;
    opt.reuse_attention_pattern = 1; /* the clean run of the batch is in the activations */
    return opt;
}

/* Collects the clean statistics, then reruns the model from the patched layer with every
 * head's value input = resid_pre - writer output, normalised with the clean ln1 scale
 * (frozen); queries and keys stay clean, and the layers below are the clean run's
 * (start_layer). The writer lives in a layer below the patched one, so the patched run
 * leaves it untouched. Overwrites the batch's activations from the patched layer up:
 * the clean pass runs it last (overwrites_activations). */
static void fig3_batch(void *state, const ExpInputs *in, ExpBatch *b) {
    Fig3 *f = state;
    const Model *m = in->model;
    const ExpHeads *hd = in->heads;
    Activations *a = b->acts;
    const int D = m->cfg.d_model, T = a->n_pos, p = hd->patched_layer, n_bt = a->n_rows * T;
    int i;
    ForwardOptions opt;
#ifdef _OPENMP
#pragma omp parallel for schedule(static)
#endif
    for (i = 0; i < n_bt; i++) {
        const size_t bt = (size_t)i;
        const float *w = hook_result_at(m, a, hd->writer_layer, hd->writer_head, i / T, i % T);
        const float *x = a->layer[p].resid_pre + bt * D;
        int d;
        memcpy(f->writer + bt * D, w, (size_t)D * sizeof(float));
        for (d = 0; d < D; d++) f->patch_resid[bt * D + d] = x[d] - w[d];
        f->patch_scale[bt] = a->layer[p].ln1_scale[bt];
    }
    fig3_collect(f, in, b, 0);
    opt = fig3_rerun_options(p, f->patch_resid, f->patch_scale);
    model_forward(m, a, NULL, a->n_rows, T, &opt);
    fig3_collect(f, in, b, 1);
}

static void fig3_finish(void *state, const ExpInputs *in, Results *res, Points *points) {
    Fig3 *f = state;
    const ModelConfig *c = &in->model->cfg;
    const int per_run = f->n_loc + f->H, n = 2 * per_run; /* f->targets[run]'s order, run by run */
    char(*name)[64] = xalloc_array((size_t)n, sizeof *name, "Fig 3");
    const char **names = xalloc_array((size_t)n, sizeof *names, "Fig 3");
    Samples **series = xalloc_array((size_t)n, sizeof *series, "Fig 3");
    char loc[32], lab[32];
    int run, k, h;
    (void)points;
    for (run = 0; run < 2; run++) {
        const char *which = run ? "patched" : "clean";
        for (k = 0; k < f->n_loc; k++) {
            resid_location_name(c->attn_only, k, loc, sizeof loc);
            snprintf(name[run * per_run + k], sizeof *name, "fig3.%s.%s", which, loc);
        }
        for (h = 0; h < f->H; h++) {
            head_label(lab, sizeof lab, in->heads->patched_layer, h);
            snprintf(name[run * per_run + f->n_loc + h], sizeof *name, "fig3.%s.%s", which, lab);
        }
        for (k = 0; k < per_run; k++) series[run * per_run + k] = f->targets[run][k];
    }
    for (k = 0; k < n; k++) names[k] = name[k];
    /* every series at once: the threads sort different series */
    results_add_quantiles_of(res, names, series, n, results_q5, results_q5_names, 5);
    free(name);
    free(names);
    free(series);
}

static void fig3_end(void *state) {
    Fig3 *f = state;
    int run;
    for (run = 0; run < 2; run++) {
        samples_array_free(f->loc[run], (size_t)f->n_loc);
        samples_array_free(f->head[run], (size_t)f->H);
        free(f->targets[run]);
    }
    pr_plan_free(&f->plan);
    free(f->patch_resid);
    free(f->patch_scale);
    free(f->writer);
    free(f);
}

/* ---- figure and report ---- */

static const char *const fig3_stats[3] = {"median", "q12_5", "q87_5"};
static const BarGroup fig3_groups[2] = {{"clean", COLOR_CLEAN, 0, 1, 2}, {"patched", COLOR_PATCHED, 3, 4, 5}};

/* Panel a: one row per residual location; panel b: one per head of the patched layer.
 * Columns: clean and patched median, q12_5, q87_5. */
static void fig3_tables(const ReportContext *c, Table *ta, Table *tb) {
    int i, h, q;
    table_init(ta, c->n_locs, 6);
    table_init(tb, c->H, 6);
    for (q = 0; q < 3; q++) {
        snprintf(ta->colnames[q], LABEL_LEN, "clean_%s", fig3_stats[q]);
        snprintf(ta->colnames[q + 3], LABEL_LEN, "patched_%s", fig3_stats[q]);
        snprintf(tb->colnames[q], LABEL_LEN, "clean_%s", fig3_stats[q]);
        snprintf(tb->colnames[q + 3], LABEL_LEN, "patched_%s", fig3_stats[q]);
    }
    for (i = 0; i < c->n_locs; i++) {
        snprintf(ta->labels[i], LABEL_LEN, "%s", c->locs[i]);
        for (q = 0; q < 3; q++) {
            *table_cell(ta, i, q) = metric_value(c->r, "fig3.clean.%s.%s", c->locs[i], fig3_stats[q]);
            *table_cell(ta, i, q + 3) = metric_value(c->r, "fig3.patched.%s.%s", c->locs[i], fig3_stats[q]);
        }
    }
    for (h = 0; h < c->H; h++) {
        snprintf(tb->labels[h], LABEL_LEN, "L%dH%d", c->pl, h);
        for (q = 0; q < 3; q++) {
            *table_cell(tb, h, q) = metric_value(c->r, "fig3.clean.L%dH%d.%s", c->pl, h, fig3_stats[q]);
            *table_cell(tb, h, q + 3) = metric_value(c->r, "fig3.patched.L%dH%d.%s", c->pl, h, fig3_stats[q]);
        }
    }
}

/* fig3a.dat, fig3a.gp, fig3a.svg: the residual locations. */
static int fig3a_write(const ReportContext *c, const Table *ta, Text *t, Outputs *o) {
    char title[256], panel[400];
    t->len = 0;
    text_printf(t,
                "# fig3a.dat - Fig 3a: PR(resid, %s) onto the writer's clean output at every residual location, clean\n"
                "# run vs the run whose layer-%d heads read resid_pre%d - %s as value input (queries, keys and\n"
                "# the ln1 scale of the value path stay clean). Median, 12.5 and 87.5 percentiles.\n"
                "# From results.tsv: fig3.{clean,patched}.{location}.{median,q12_5,q87_5}. NaN = not computed.\n",
                c->writer, c->pl, c->pl, c->writer);
    table_dat(t, ta, "location");
    if (outputs_emit(o, "fig3a.dat", t) != 0) return -1;
    t->len = 0;
    gp_begin(t, "fig3a", "Fig 3a (fig3a.dat)", 980, 520);
    text_printf(t,
                "set title \"Fig 3a: PR(resid, %s), clean vs value input of layer %d patched\"\n"
                "set xlabel \"residual location\"\nset ylabel \"projection ratio onto %s\"\n"
                "set xtics rotate by 40 right\n",
                c->writer, c->pl, c->writer);
    grouped_bars_gp(t, "fig3a.dat", c->n_locs, 3, 4, 5, 6, 7, 8, -1, "clean (median)", "patched (median)", NULL,
                    "12.5-87.5%");
    if (outputs_emit(o, "fig3a.gp", t) != 0) return -1;
    t->len = 0;
    snprintf(title, sizeof title, "Fig 3a: the residual stream's projection onto %s, clean vs patched", c->writer);
    snprintf(panel, sizeof panel, "patched: layer-%d heads read resid_pre%d - %s as value input", c->pl, c->pl,
             c->writer);
    grouped_bars_svg(t, ta, fig3_groups, 2, -1, NULL, "12.5-87.5%", title, panel, "residual location",
                     "projection ratio onto the writer (median)", 980, -40);
    return outputs_emit(o, "fig3a.svg", t);
}

/* fig3b.dat, fig3b.gp, fig3b.svg: the heads of the patched layer. */
static int fig3b_write(const ReportContext *c, const Table *tb, Text *t, Outputs *o) {
    char title[256], panel[400];
    t->len = 0;
    text_printf(t,
                "# fig3b.dat - Fig 3b: PR(head output, %s) of every head of layer %d, clean vs patched (value input\n"
                "# resid_pre%d - %s). Cleaners: %s. Median, 12.5 and 87.5 percentiles.\n"
                "# From results.tsv: fig3.{clean,patched}.L%dH{h}.{median,q12_5,q87_5}. NaN = not computed.\n",
                c->writer, c->pl, c->pl, c->writer, c->cleaners, c->pl);
    table_dat(t, tb, "head");
    if (outputs_emit(o, "fig3b.dat", t) != 0) return -1;
    t->len = 0;
    gp_begin(t, "fig3b", "Fig 3b (fig3b.dat)", 980, 520);
    text_printf(t,
                "set title \"Fig 3b: PR(L%dHh, %s), clean vs value input patched\"\n"
                "set xlabel \"head of layer %d\"\nset ylabel \"projection ratio onto %s\"\n",
                c->pl, c->writer, c->pl, c->writer);
    grouped_bars_gp(t, "fig3b.dat", c->H, 3, 4, 5, 6, 7, 8, -1, "clean (median)", "patched (median)", NULL,
                    "12.5-87.5%");
    if (outputs_emit(o, "fig3b.gp", t) != 0) return -1;
    t->len = 0;
    snprintf(title, sizeof title, "Fig 3b: layer-%d heads' projection onto %s, clean vs patched", c->pl, c->writer);
    snprintf(panel, sizeof panel, "cleaners: %s", c->cleaners);
    grouped_bars_svg(t, tb, fig3_groups, 2, -1, NULL, "12.5-87.5%", title, panel, "head",
                     "projection ratio onto the writer (median)", 980, 0);
    return outputs_emit(o, "fig3b.svg", t);
}

/* Each panel's files when its metrics exist. */
static int fig3_write_figures(const ReportContext *c, Outputs *o) {
    Table ta, tb;
    Text t = {0};
    int rc = 0;
    fig3_tables(c, &ta, &tb);
    if (table_any(&ta, -1)) rc = fig3a_write(c, &ta, &t, o);
    if (rc == 0 && table_any(&tb, -1)) rc = fig3b_write(c, &tb, &t, o);
    table_free(&ta);
    table_free(&tb);
    text_free(&t);
    return rc;
}

static void fig3_report_section(const ReportContext *c, ReportSection *s) {
    char intro[1024];
    int k, h;
    /* the locations from the patched layer on */
    for (k = resid_location_count(c->pl, c->in->attn_only); k < c->n_locs; k++) {
        section_headline(s, "fig3.clean.%s.median", c->locs[k]);
        section_headline(s, "fig3.patched.%s.median", c->locs[k]);
    }
    for (h = 0; h < c->H; h++) {
        section_headline(s, "fig3.clean.L%dH%d.median", c->pl, h);
        section_headline(s, "fig3.patched.L%dH%d.median", c->pl, h);
    }
    snprintf(intro, sizeof intro,
             "Value-input patch: every head of layer %d reads resid_pre%d - %s as value input (queries, keys and the "
             "value path's ln1 scale stay clean). If the clean-up depends on the writer, the writer's direction "
             "survives in the patched run.",
             c->pl, c->pl, c->writer);
    section_write(s, intro);
}

static const ExpOutput fig3_outputs[] = {
    {"fig3a.svg", "Fig 3a: residual stream PR onto the writer, clean vs value-input patched"},
    {"fig3a.dat", "Fig 3a data"},
    {"fig3a.gp", "gnuplot script drawing Fig 3a"},
    {"fig3b.svg", "Fig 3b: the patched layer's heads' PR onto the writer, clean vs patched"},
    {"fig3b.dat", "Fig 3b data"},
    {"fig3b.gp", "gnuplot script drawing Fig 3b"},
    {NULL, NULL},
};
static const char *const fig3_figures[] = {"fig3a", "fig3b", NULL};

/* The residual locations, the writer's and the patched layer's head outputs, and the
 * patched layer's pattern tiles (the patched rerun reuses them: reuse_attention_pattern). */
static void fig3_hooks(const ExpInputs *in, HookRequest *req) {
    exp_hooks_resid_locations(in->model, req);
    hook_request_add(req, in->heads->writer_layer, HOOK_BIT(HOOK_RESULT));
    hook_request_add(req, in->heads->patched_layer, HOOK_BIT(HOOK_RESULT));
    hook_request_pattern_tiles(req, in->heads->patched_layer);
}

/* fig3_begin's samples (clean and patched) and its per-batch patch buffers. */
static size_t fig3_memory(const ExpInputs *in, int n_rows, int T, int batch_rows) {
    const ModelConfig *c = &in->model->cfg;
    const size_t series = 2 * ((size_t)resid_location_count(c->n_layers, c->attn_only) + c->n_heads);
    return (series * n_rows * T + (size_t)batch_rows * T * (2 * (size_t)c->d_model + 1)) * sizeof(float);
}

const Experiment experiment_fig3 = {
    "fig3", "Fig 3: value-input patch of the cleaners' layer", "Fig 3: the clean-up depends on the writer",
    0, 1, NULL, fig3_begin, fig3_batch, fig3_finish, fig3_end, NULL,
    fig3_write_figures, fig3_report_section, fig3_outputs, fig3_figures,
    REF_MODEL | REF_PROCESSED | REF_WRITER | REF_CLEANERS | REF_ROWS | REF_SEQ_LEN,
    fig3_hooks,
    fig3_memory,
    NULL, /* not split */
};
