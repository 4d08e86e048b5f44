/* plot.c - see plot.h. Moved out of report.c unchanged in output: every byte
 * the figures contain is formatted here or in the experiment units. */
#include "plot.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ */
/* Text buffer                                                         */
/* ------------------------------------------------------------------ */

/* Makes room for `extra` more bytes plus a NUL; dies on out of memory (the
 * texts are at most a few MB). */
static void text_reserve(Text *t, size_t extra) {
    size_t need = t->len + extra + 1, ncap;
    char *nd;
    if (need <= t->cap) return;
    ncap = t->cap ? t->cap : 4096;
    while (ncap < need) {
        if (ncap > ((size_t)-1) / 2) die(EXIT_INTERNAL, "report text too large");
        ncap *= 2;
    }
    nd = realloc(t->data, ncap);
    if (!nd) die(EXIT_INTERNAL, "out of memory building the report");
    t->data = nd;
    t->cap = ncap;
}

/* Appends printf-formatted text. */
void text_printf(Text *t, const char *fmt, ...) {
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    text_reserve(t, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(t->data + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    t->len += (size_t)n;
}

void text_puts(Text *t, const char *s) {
    size_t n = strlen(s);
    text_reserve(t, n);
    memcpy(t->data + t->len, s, n + 1);
    t->len += n;
}

/* A number for data files: %.9g (as results.tsv), and NaN/Inf spelled the
 * same on every platform (printf's spelling of NaN varies: nan, -nan, NaN). */
void text_num(Text *t, double v) {
    if (isnan(v))
        text_puts(t, "NaN");
    else if (isinf(v))
        text_puts(t, v > 0 ? "Inf" : "-Inf");
    else
        text_printf(t, "%.9g", v);
}

/* XML character escaping for text and attribute values. */
void text_xml(Text *t, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '&': text_puts(t, "&amp;"); break;
        case '<': text_puts(t, "&lt;"); break;
        case '>': text_puts(t, "&gt;"); break;
        case '"': text_puts(t, "&quot;"); break;
        case '\'': text_puts(t, "&apos;"); break;
        default: {
            char c[2];
            c[0] = *s;
            c[1] = '\0';
            text_puts(t, c);
        }
        }
    }
}

void text_free(Text *t) {
    free(t->data);
    memset(t, 0, sizeof *t);
}
/* ------------------------------------------------------------------ */
/* Metric access                                                       */
/* ------------------------------------------------------------------ */

/* The value of the metric named by the format, NaN when absent. */
double metric_value(const Results *r, const char *fmt, ...) {
    char name[256];
    double v;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    if (r && results_get(r, name, &v)) return v;
    return NAN;
}

/* 1 if some metric name starts with prefix. */
int has_prefix_metric(const Results *r, const char *prefix) {
    int i;
    size_t n = strlen(prefix);
    for (i = 0; r && i < r->count; i++)
        if (strncmp(r->items[i].name, prefix, n) == 0) return 1;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Tables: rows of numbers with a label, written as gnuplot .dat files */

void table_init(Table *tb, int rows, int cols) {
    int i;
    tb->rows = rows;
    tb->cols = cols;
    tb->labels = xalloc_array((size_t)(rows > 0 ? rows : 1), sizeof *tb->labels, "table labels");
    tb->colnames = xalloc_array((size_t)(cols > 0 ? cols : 1), sizeof *tb->colnames, "table columns");
    tb->v = xalloc_array((size_t)(rows > 0 ? rows : 1) * (size_t)(cols > 0 ? cols : 1), sizeof *tb->v, "table");
    for (i = 0; i < rows * cols; i++) tb->v[i] = NAN;
}

void table_free(Table *tb) {
    free(tb->labels);
    free(tb->colnames);
    free(tb->v);
    memset(tb, 0, sizeof *tb);
}

double *table_cell(Table *tb, int r, int c) {
    return &tb->v[(size_t)r * (size_t)tb->cols + (size_t)c];
}

double table_get(const Table *tb, int r, int c) {
    return tb->v[(size_t)r * (size_t)tb->cols + (size_t)c];
}

/* 1 if any value of column c (or of every column when c < 0) is finite. */
int table_any(const Table *tb, int c) {
    int r, k;
    for (r = 0; r < tb->rows; r++)
        for (k = 0; k < tb->cols; k++)
            if ((c < 0 || k == c) && isfinite(table_get(tb, r, k))) return 1;
    return 0;
}

/* Body of a .dat file: "# columns: index LABEL col..." then one row each. */
void table_dat(Text *t, const Table *tb, const char *label_name) {
    int r, c;
    text_printf(t, "# columns: index %s", label_name);
    for (c = 0; c < tb->cols; c++) text_printf(t, " %s", tb->colnames[c]);
    text_puts(t, "\n");
    for (r = 0; r < tb->rows; r++) {
        text_printf(t, "%d %s", r, tb->labels[r]);
        for (c = 0; c < tb->cols; c++) {
            text_puts(t, " ");
            text_num(t, table_get(tb, r, c));
        }
        text_puts(t, "\n");
    }
}

/* ------------------------------------------------------------------ */
/* SVG plotting                                                        */
/* ------------------------------------------------------------------ */

const char *const palette[10] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                 "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};

void range_add(Range *r, double v) {
    if (!isfinite(v)) return;
    if (!r->any) {
        r->lo = r->hi = v;
        r->any = 1;
    } else {
        if (v < r->lo) r->lo = v;
        if (v > r->hi) r->hi = v;
    }
}

/* Rounds a data range out to "nice" ticks (1, 2 or 5 times a power of ten),
 * about five intervals. Non-finite or empty ranges become [0, 1]. */
static void nice_range(Range r, int include_zero, double *lo, double *hi, double *step) {
    double a = r.any ? r.lo : 0, b = r.any ? r.hi : 1, raw, mag, f, s;
    if (include_zero) {
        if (a > 0) a = 0;
        if (b < 0) b = 0;
    }
    if (!(b - a > 1e-12 * (fabs(a) + fabs(b)))) {
        double pad = fabs(a) > 0 ? fabs(a) * 0.1 : 0.5;
        a -= pad;
        b += pad;
    }
    {
        /* 3% headroom so that no point or whisker sits on the frame; a zero
         * baseline of a bar chart stays on its end. */
        double pad = 0.03 * (b - a);
        if (!(include_zero && a == 0)) a -= pad;
        if (!(include_zero && b == 0)) b += pad;
    }
    raw = (b - a) / 5;
    mag = pow(10, floor(log10(raw)));
    f = raw / mag;
    s = (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
    *lo = floor(a / s) * s;
    *hi = ceil(b / s) * s;
    *step = s;
}

double ax_x(const Axes *a, double v) {
    return a->left + (v - a->xmin) / (a->xmax - a->xmin) * a->width;
}

double ax_y(const Axes *a, double v) {
    return a->top + (a->ymax - v) / (a->ymax - a->ymin) * a->height;
}

void axes_categorical(Axes *a, double left, double top, double width, double height, int ncat, Range yr,
                             int include_zero) {
    memset(a, 0, sizeof *a);
    a->left = left;
    a->top = top;
    a->width = width;
    a->height = height;
    a->ncat = ncat;
    a->xmin = -0.5;
    a->xmax = (ncat > 0 ? ncat : 1) - 0.5;
    nice_range(yr, include_zero, &a->ymin, &a->ymax, &a->ystep);
}

void axes_numeric(Axes *a, double left, double top, double width, double height, Range xr, Range yr) {
    memset(a, 0, sizeof *a);
    a->left = left;
    a->top = top;
    a->width = width;
    a->height = height;
    nice_range(xr, 0, &a->xmin, &a->xmax, &a->xstep);
    nice_range(yr, 0, &a->ymin, &a->ymax, &a->ystep);
}

void svg_begin(Text *t, int w, int h, const char *title) {
    text_puts(t, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    text_printf(t,
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
                "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\" font-size=\"12\">\n",
                w, h, w, h);
    text_puts(t, "<title>");
    text_xml(t, title);
    text_puts(t, "</title>\n");
    text_puts(t, "<rect x=\"0\" y=\"0\" width=\"100%\" height=\"100%\" fill=\"white\"/>\n");
}

void svg_end(Text *t) {
    text_puts(t, "</svg>\n");
}

void svg_line(Text *t, double x1, double y1, double x2, double y2, const char *stroke, double width,
                     const char *extra) {
    text_printf(t, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"%s\" stroke-width=\"%.2f\"%s%s/>\n",
                x1, y1, x2, y2, stroke, width, extra ? " " : "", extra ? extra : "");
}

void svg_rect(Text *t, double x, double y, double w, double h, const char *fill, const char *extra) {
    if (w < 0) {
        x += w;
        w = -w;
    }
    if (h < 0) {
        y += h;
        h = -h;
    }
    text_printf(t, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"%s\"%s%s/>\n", x, y, w, h, fill,
                extra ? " " : "", extra ? extra : "");
}

/* Text at (x, y); anchor start|middle|end; rotation in degrees about (x, y). */
void svg_text(Text *t, double x, double y, const char *anchor, double size, double rotate, const char *extra,
                     const char *s) {
    text_printf(t, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"%s\" font-size=\"%.1f\"", x, y, anchor, size);
    if (rotate != 0) text_printf(t, " transform=\"rotate(%.1f %.2f %.2f)\"", rotate, x, y);
    if (extra) text_printf(t, " %s", extra);
    text_puts(t, ">");
    text_xml(t, s);
    text_puts(t, "</text>\n");
}

/* Tick label for v with enough decimals for the step; never "-0". */
static void tick_label(double v, double step, char *buf, size_t n) {
    int decimals = 0;
    if (fabs(v) < step * 1e-6) v = 0;
    if (step < 1) decimals = (int)ceil(-log10(step) - 1e-9);
    if (decimals > 10) decimals = 10;
    if (fabs(v) >= 1e6 || (v != 0 && fabs(v) < 1e-4))
        snprintf(buf, n, "%.3g", v);
    else
        snprintf(buf, n, "%.*f", decimals, v);
}

/* Draws grid, frame, ticks, tick labels, axis labels and the panel title.
 * Category labels (may be NULL) go under a categorical x axis, rotated by
 * `rotate` degrees (0, -45 or -90). */
void axes_draw(Text *t, const Axes *a, const char *title, const char *xlabel, const char *ylabel,
                      char (*catlabels)[LABEL_LEN], double rotate) {
    char buf[64];
    int i, n;
    double bottom = a->top + a->height, right = a->left + a->width, label_drop = 18;
    /* horizontal grid and y ticks */
    n = (int)floor((a->ymax - a->ymin) / a->ystep + 0.5);
    if (n > 100) n = 100;
    for (i = 0; i <= n; i++) {
        double v = a->ymin + i * a->ystep, y = ax_y(a, v);
        svg_line(t, a->left, y, right, y, fabs(v) < a->ystep * 1e-6 ? "#999999" : "#e4e4e4", 1, NULL);
        svg_line(t, a->left - 5, y, a->left, y, "black", 1, NULL);
        tick_label(v, a->ystep, buf, sizeof buf);
        svg_text(t, a->left - 8, y + 4, "end", 11, 0, NULL, buf);
    }
    if (a->ncat > 0) {
        size_t maxlen = 0;
        for (i = 0; i < a->ncat; i++) {
            double x = ax_x(a, i);
            svg_line(t, x, bottom, x, bottom + 5, "black", 1, NULL);
            if (!catlabels) continue;
            if (strlen(catlabels[i]) > maxlen) maxlen = strlen(catlabels[i]);
            if (rotate == 0)
                svg_text(t, x, bottom + 18, "middle", 11, 0, NULL, catlabels[i]);
            else
                svg_text(t, x + 4, bottom + 12, "end", 11, rotate, NULL, catlabels[i]);
        }
        if (catlabels && rotate != 0)
            label_drop = 14 + (double)maxlen * 6.8 * sin(fabs(rotate) * 3.14159265358979 / 180);
    } else {
        n = (int)floor((a->xmax - a->xmin) / a->xstep + 0.5);
        if (n > 100) n = 100;
        for (i = 0; i <= n; i++) {
            double v = a->xmin + i * a->xstep, x = ax_x(a, v);
            svg_line(t, x, a->top, x, bottom, fabs(v) < a->xstep * 1e-6 ? "#999999" : "#e4e4e4", 1, NULL);
            svg_line(t, x, bottom, x, bottom + 5, "black", 1, NULL);
            tick_label(v, a->xstep, buf, sizeof buf);
            svg_text(t, x, bottom + 18, "middle", 11, 0, NULL, buf);
        }
    }
    text_printf(t, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"none\" stroke=\"black\"/>\n",
                a->left, a->top, a->width, a->height);
    if (xlabel) svg_text(t, a->left + a->width / 2, bottom + label_drop + 18, "middle", 13, 0, NULL, xlabel);
    if (ylabel) svg_text(t, a->left - 48, a->top + a->height / 2, "middle", 13, -90, NULL, ylabel);
    if (title) svg_text(t, a->left + a->width / 2, a->top - 12, "middle", 14, 0, "font-weight=\"bold\"", title);
}

/* Polyline through (i, y[i]) of a categorical axis, broken at NaN, with dots. */
void draw_series(Text *t, const Axes *a, const double *y, int n, int stride, const char *color, double width) {
    int i, in_run = 0;
    for (i = 0; i < n; i++) {
        double v = y[(size_t)i * (size_t)stride];
        if (!isfinite(v)) {
            if (in_run) text_puts(t, "\"/>\n");
            in_run = 0;
            continue;
        }
        if (!in_run) text_printf(t, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"%.1f\" points=\"", color, width);
        text_printf(t, "%s%.2f,%.2f", in_run ? " " : "", ax_x(a, i), ax_y(a, v));
        in_run = 1;
    }
    if (in_run) text_puts(t, "\"/>\n");
    for (i = 0; i < n; i++) {
        double v = y[(size_t)i * (size_t)stride];
        if (isfinite(v))
            text_printf(t, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"3\" fill=\"%s\"/>\n", ax_x(a, i), ax_y(a, v), color);
    }
}

/* Filled band between lo[i] and hi[i] over each run of finite pairs. */
void draw_band(Text *t, const Axes *a, const double *lo, const double *hi, int n, int stride, const char *color,
                      double opacity) {
    int start = 0, i;
    while (start < n) {
        int end;
        size_t s = (size_t)start * (size_t)stride;
        if (!isfinite(lo[s]) || !isfinite(hi[s])) {
            start++;
            continue;
        }
        end = start;
        while (end + 1 < n && isfinite(lo[(size_t)(end + 1) * (size_t)stride]) &&
               isfinite(hi[(size_t)(end + 1) * (size_t)stride]))
            end++;
        text_printf(t, "<polygon fill=\"%s\" fill-opacity=\"%.2f\" stroke=\"none\" points=\"", color, opacity);
        for (i = start; i <= end; i++)
            text_printf(t, "%s%.2f,%.2f", i == start ? "" : " ", ax_x(a, i), ax_y(a, hi[(size_t)i * (size_t)stride]));
        for (i = end; i >= start; i--)
            text_printf(t, " %.2f,%.2f", ax_x(a, i), ax_y(a, lo[(size_t)i * (size_t)stride]));
        text_puts(t, "\"/>\n");
        start = end + 1;
    }
}

/* A bar from 0 to v centred at xc, half-width `half` in axis units. */
void draw_bar(Text *t, const Axes *a, double xc, double half, double v, const char *fill, const char *extra) {
    double y0, y1;
    if (!isfinite(v)) return;
    y0 = ax_y(a, 0);
    y1 = ax_y(a, v);
    svg_rect(t, ax_x(a, xc - half), y1, ax_x(a, xc + half) - ax_x(a, xc - half), y0 - y1, fill, extra);
}

/* A whisker from lo to hi at xc with caps. */
void draw_whisker(Text *t, const Axes *a, double xc, double half, double lo, double hi) {
    double x = ax_x(a, xc), cap;
    if (!isfinite(lo) || !isfinite(hi)) return;
    cap = (ax_x(a, xc + half) - ax_x(a, xc - half)) * 0.3;
    if (cap < 2) cap = 2;
    svg_line(t, x, ax_y(a, lo), x, ax_y(a, hi), "black", 1.2, NULL);
    svg_line(t, x - cap, ax_y(a, lo), x + cap, ax_y(a, lo), "black", 1.2, NULL);
    svg_line(t, x - cap, ax_y(a, hi), x + cap, ax_y(a, hi), "black", 1.2, NULL);
}

LegendItem legend_item(const char *label, const char *color, int kind, double opacity) {
    LegendItem it;
    it.label = label;
    it.color = color;
    it.kind = kind;
    it.opacity = opacity;
    return it;
}

/* A framed legend whose top-left corner is (x, y). */
void draw_legend(Text *t, double x, double y, const LegendItem *items, int n) {
    int i;
    size_t maxlen = 0;
    double w, h = 8 + 18.0 * n;
    for (i = 0; i < n; i++)
        if (strlen(items[i].label) > maxlen) maxlen = strlen(items[i].label);
    w = 44 + 6.6 * (double)maxlen;
    text_printf(t, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"white\" stroke=\"#888888\"/>\n", x,
                y, w, h);
    for (i = 0; i < n; i++) {
        double cy = y + 14 + 18.0 * i, sx = x + 8;
        const LegendItem *it = &items[i];
        char op[48];
        snprintf(op, sizeof op, "fill-opacity=\"%.2f\"", it->opacity > 0 ? it->opacity : 1.0);
        switch (it->kind) {
        case LEG_LINE:
            svg_line(t, sx, cy, sx + 24, cy, it->color, 2, NULL);
            text_printf(t, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"3\" fill=\"%s\"/>\n", sx + 12, cy, it->color);
            break;
        case LEG_BOX:
        case LEG_BAND: svg_rect(t, sx, cy - 6, 24, 12, it->color, op); break;
        case LEG_POINT:
            text_printf(t, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"3\" fill=\"%s\" %s/>\n", sx + 12, cy, it->color, op);
            break;
        case LEG_WHISKER:
            svg_line(t, sx + 12, cy - 7, sx + 12, cy + 7, "black", 1.2, NULL);
            svg_line(t, sx + 8, cy - 7, sx + 16, cy - 7, "black", 1.2, NULL);
            svg_line(t, sx + 8, cy + 7, sx + 16, cy + 7, "black", 1.2, NULL);
            break;
        case LEG_DASH: svg_line(t, sx, cy, sx + 24, cy, it->color, REF_LINE_WIDTH, DASH_PATTERN); break;
        default: svg_line(t, sx, cy, sx + 24, cy, it->color, REF_LINE_WIDTH, NULL); break;
        }
        svg_text(t, sx + 32, cy + 4, "start", 12, 0, NULL, it->label);
    }
}

/* ------------------------------------------------------------------ */
/* Output files                                                        */
/* ------------------------------------------------------------------ */

void outputs_init(Outputs *o, const char *dir, Error *err) {
    memset(o, 0, sizeof *o);
    o->dir = dir;
    o->err = err;
}

void outputs_free(Outputs *o) {
    free(o->written);
    memset(o, 0, sizeof *o);
}

void outputs_record(Outputs *o, const char *name) {
    if (o->n_written == o->cap) {
        int ncap = o->cap ? o->cap * 2 : 32;
        const char **nw = realloc((void *)o->written, (size_t)ncap * sizeof *nw);
        if (!nw) die(EXIT_INTERNAL, "out of memory listing the outputs");
        o->written = nw;
        o->cap = ncap;
    }
    o->written[o->n_written++] = name;
}

int outputs_emit(Outputs *o, const char *name, const Text *t) {
    char *path = path_join(o->dir, name);
    int rc = write_file_atomic(path, t->data ? t->data : "", t->len, o->err);
    free(path);
    if (rc == 0) outputs_record(o, name);
    return rc;
}

int outputs_written(const Outputs *o, const char *name) {
    int i;
    for (i = 0; i < o->n_written; i++)
        if (strcmp(o->written[i], name) == 0) return 1;
    return 0;
}

/* Start of every gnuplot script: PNG by default, SVG with fmt='svg'. */
void gp_begin(Text *t, const char *stem, const char *what, int w, int h) {
    text_printf(t,
                "# %s.gp - draws %s with gnuplot from the .dat files of this directory.\n"
                "# Optional: the program already drew %s.svg itself. Run inside this directory:\n"
                "#   gnuplot %s.gp                   -> %s.png\n"
                "#   gnuplot -e \"fmt='svg'\" %s.gp    -> %s.gnuplot.svg\n"
                "if (!exists(\"fmt\")) fmt = \"png\"\n"
                "if (fmt eq \"svg\") {\n"
                "    set terminal svg size %d,%d dynamic\n"
                "    set output \"%s.gnuplot.svg\"\n"
                "} else {\n"
                "    set terminal png size %d,%d\n"
                "    set output \"%s.png\"\n"
                "}\n"
                "set termoption noenhanced\n"
                "set grid ytics\n"
                "set key outside right top\n",
                stem, what, stem, stem, stem, stem, stem, w, h, stem, w, h, stem);
}

/* Grouped bar chart shared by Fig 3 and Fig 4: per row, bars for column groups
 * (value column, whisker low column, whisker high column; -1 = none). An
 * optional marker column draws a black dash over the whole group. */
void grouped_bars_svg(Text *t, const Table *tb, const BarGroup *g, int ng, int marker_col, const char *marker_label,
                             const char *whisker_label, const char *fig_title, const char *panel_title, const char *xlabel, const char *ylabel,
                             int width, double rotate) {
    Axes a;
    Range y = {0, 0, 0};
    LegendItem leg[8];
    int r, k, nleg = 0;
    double gw = 0.8, bw = gw / ng, plot_w = width - 80 - 240;
    int height = rotate == 0 ? 470 : 520;
    for (r = 0; r < tb->rows; r++) {
        for (k = 0; k < ng; k++) {
            range_add(&y, table_get(tb, r, g[k].value));
            if (g[k].lo >= 0) range_add(&y, table_get(tb, r, g[k].lo));
            if (g[k].hi >= 0) range_add(&y, table_get(tb, r, g[k].hi));
        }
        if (marker_col >= 0) range_add(&y, table_get(tb, r, marker_col));
    }
    svg_begin(t, width, height, fig_title);
    svg_text(t, width / 2.0, 26, "middle", 16, 0, "font-weight=\"bold\"", fig_title);
    axes_categorical(&a, 80, 70, plot_w, 330, tb->rows, y, 1);
    axes_draw(t, &a, panel_title, xlabel, ylabel, tb->labels, rotate);
    for (r = 0; r < tb->rows; r++) {
        for (k = 0; k < ng; k++) {
            double xc = r - gw / 2 + (k + 0.5) * bw;
            draw_bar(t, &a, xc, bw * 0.45, table_get(tb, r, g[k].value), g[k].color, NULL);
            if (g[k].lo >= 0 && g[k].hi >= 0) draw_whisker(t, &a, xc, bw * 0.45, table_get(tb, r, g[k].lo), table_get(tb, r, g[k].hi));
        }
        if (marker_col >= 0 && isfinite(table_get(tb, r, marker_col))) {
            double yv = ax_y(&a, table_get(tb, r, marker_col));
            svg_line(t, ax_x(&a, r - gw / 2), yv, ax_x(&a, r + gw / 2), yv, "black", REF_LINE_WIDTH, DASH_PATTERN);
        }
    }
    for (k = 0; k < ng && nleg < 6; k++) {
        leg[nleg].label = g[k].label;
        leg[nleg].color = g[k].color;
        leg[nleg].kind = LEG_BOX;
        leg[nleg].opacity = 1;
        nleg++;
    }
    leg[nleg].label = whisker_label;
    leg[nleg].color = "black";
    leg[nleg].kind = LEG_WHISKER;
    leg[nleg].opacity = 1;
    nleg++;
    if (marker_col >= 0) {
        leg[nleg].label = marker_label;
        leg[nleg].color = "black";
        leg[nleg].kind = LEG_DASH;
        leg[nleg].opacity = 1;
        nleg++;
    }
    draw_legend(t, 80 + plot_w + 12, 70, leg, nleg);
    svg_end(t);
}

/* The gnuplot lines of a grouped bar chart: clean bar (column cv) left,
 * patched bar (pv with whiskers pl..ph) right; optional marker column.
 * Whiskers come with their bars (boxerrorbars): gnuplot's yerrorbars style
 * blanks a disc at each median, drawn as scale(0.00) in SVG when the point
 * size is 0, which SVG renderers refuse. The whisker's key entry is an empty
 * yerrorbars plot without points, the marker a dashed line over the group as
 * in the SVG (the PNG terminal draws it solid, key and plot alike). */
void grouped_bars_gp(Text *t, const char *dat, int nrows, int cv, int cl, int ch, int pv, int pl, int ph, int mk,
                            const char *clean_label, const char *patched_label, const char *marker_label,
                            const char *whisker_label) {
    text_printf(t,
                "set xrange [-0.5:%d.5]\nset style fill solid 1.0 border -1\nset boxwidth 0.38\n"
                "plot \"%s\" using 1:(NaN):xtic(2) notitle, \\\n",
                nrows - 1, dat);
    if (cl > 0)
        text_printf(t, "     \"\" using ($1-0.2):%d:%d:%d:(0.38) with boxerrorbars lc rgb \"%s\" title \"%s\", \\\n", cv,
                    cl, ch, COLOR_CLEAN, clean_label);
    else
        text_printf(t, "     \"\" using ($1-0.2):%d with boxes lc rgb \"%s\" title \"%s\", \\\n", cv, COLOR_CLEAN,
                    clean_label);
    text_printf(t,
                "     \"\" using ($1+0.2):%d:%d:%d:(0.38) with boxerrorbars lc rgb \"%s\" title \"%s\", \\\n"
                "     \"\" using 1:(NaN):(NaN):(NaN) with yerrorbars pt -1 lc rgb \"black\" title \"%s\"",
                pv, pl, ph, COLOR_PATCHED, patched_label, whisker_label);
    if (mk > 0)
        text_printf(t,
                    ", \\\n     \"\" using ($1-0.4):%d:(0.8):(0) with vectors nohead lw %.1f dt (6,3) lc rgb \"black\" "
                    "title \"%s\"",
                    mk, REF_LINE_WIDTH, marker_label);
    text_puts(t, "\n");
}
