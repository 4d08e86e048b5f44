/* plot.h - the figure toolkit: a text builder, labelled number tables written as
 * gnuplot .dat files, a small SVG plotter (axes, lines, bands, bars, whiskers,
 * legends), gnuplot script preambles, and the list of files a run writes.
 *
 * Every function formats numbers with fixed formats and no locale, clock or
 * address, so figures are byte-identical for the same numbers. Out of memory
 * while building text is fatal (the texts are at most a few MB).
 */
#ifndef CLEANUP_PLOT_H
#define CLEANUP_PLOT_H

#include <stddef.h>

#include "stats.h"
#include "util.h"

/* ---- Text: a growable string (zero-initialise; text_free when done) ---- */

typedef struct {
    char *data;
    size_t len, cap;
} Text;

/* Appends printf-formatted text. */
void text_printf(Text *t, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
void text_puts(Text *t, const char *s);
/* A number for data files: %.9g (as results.tsv); NaN/Inf spelled the same on every platform. */
void text_num(Text *t, double v);
/* Appends s with XML's five special characters escaped. */
void text_xml(Text *t, const char *s);
void text_free(Text *t);

/* ---- Metrics ---- */

/* The value of the metric named by the format, NaN when absent (r may be NULL). */
double metric_value(const Results *r, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* 1 if some metric name starts with prefix. */
int has_prefix_metric(const Results *r, const char *prefix);

/* ---- Tables: rows of numbers with a label, written as .dat files ---- */

#define LABEL_LEN 48

typedef struct {
    int rows, cols;
    char (*labels)[LABEL_LEN];   /* one per row, no spaces */
    char (*colnames)[LABEL_LEN];
    double *v;                   /* rows x cols, row-major, NaN when not set */
} Table;

void table_init(Table *tb, int rows, int cols);
void table_free(Table *tb);
double *table_cell(Table *tb, int r, int c);
double table_get(const Table *tb, int r, int c);
/* 1 if any value of column c (or of every column when c < 0) is finite. */
int table_any(const Table *tb, int c);
/* Body of a .dat file: "# columns: index LABEL col..." then one row each. */
void table_dat(Text *t, const Table *tb, const char *label_name);

/* ---- SVG plotting ---- */

extern const char *const palette[10];
#define COLOR_CLEAN "#4c72b0"
#define COLOR_PATCHED "#dd8452"
#define COLOR_CLEANER "#c44e52"

/* Range of the finite values seen (zero-initialise). */
typedef struct {
    double lo, hi;
    int any;
} Range;
void range_add(Range *r, double v);

typedef struct {
    double left, top, width, height; /* plot area in SVG units */
    double xmin, xmax, ymin, ymax;
    double xstep, ystep; /* tick spacing; 0 for a categorical x axis */
    int ncat;            /* categories 0..ncat-1 centred on integers */
} Axes;

/* SVG coordinates of data values. */
double ax_x(const Axes *a, double v);
double ax_y(const Axes *a, double v);
/* Axes with ncat categories along x and "nice" ticks covering yr (and 0 if include_zero). */
void axes_categorical(Axes *a, double left, double top, double width, double height, int ncat, Range yr,
                      int include_zero);
/* Axes with "nice" ticks covering xr and yr. */
void axes_numeric(Axes *a, double left, double top, double width, double height, Range xr, Range yr);
/* Draws grid, frame, ticks, tick labels, axis labels and the panel title.
 * Category labels (may be NULL) go under a categorical x axis, rotated by
 * `rotate` degrees (0, -45 or -90). */
void axes_draw(Text *t, const Axes *a, const char *title, const char *xlabel, const char *ylabel,
               char (*catlabels)[LABEL_LEN], double rotate);

/* Document head (white background, title) and end. */
void svg_begin(Text *t, int w, int h, const char *title);
void svg_end(Text *t);
/* Primitives; extra is raw attribute text or NULL. */
void svg_line(Text *t, double x1, double y1, double x2, double y2, const char *stroke, double width,
              const char *extra);
void svg_rect(Text *t, double x, double y, double w, double h, const char *fill, const char *extra);
/* Text at (x, y); anchor start|middle|end; rotation in degrees about (x, y). */
void svg_text(Text *t, double x, double y, const char *anchor, double size, double rotate, const char *extra,
              const char *s);

/* Polyline through (i, y[i * stride]) of a categorical axis, broken at NaN, with dots. */
void draw_series(Text *t, const Axes *a, const double *y, int n, int stride, const char *color, double width);
/* Filled band between lo and hi (same indexing as draw_series), broken at NaN. */
void draw_band(Text *t, const Axes *a, const double *lo, const double *hi, int n, int stride, const char *color,
               double opacity);
/* A bar from 0 to v centred on xc, half-width half (nothing for NaN). */
void draw_bar(Text *t, const Axes *a, double xc, double half, double v, const char *fill, const char *extra);
/* A whisker from lo to hi with caps (nothing if either is NaN). */
void draw_whisker(Text *t, const Axes *a, double xc, double half, double lo, double hi);

/* Legend samples: LEG_LINE a series (line with a dot), LEG_BOX/LEG_BAND a filled box,
 * LEG_POINT a dot, LEG_WHISKER a whisker, LEG_SOLID a plain line and LEG_DASH a dashed
 * line, both drawn with the stroke of the lines they stand for (REF_LINE_WIDTH, DASH_PATTERN). */
enum { LEG_LINE, LEG_BOX, LEG_BAND, LEG_POINT, LEG_WHISKER, LEG_DASH, LEG_SOLID };
/* Stroke of a reference line drawn over a plot (Fig 5's fitted line, Fig 4's dashed
 * clean logit difference) and of its legend sample, so the two look the same. */
#define REF_LINE_WIDTH 2.5
#define DASH_PATTERN "stroke-dasharray=\"6,3\""
typedef struct {
    const char *label;
    const char *color;
    int kind; /* LEG_* */
    double opacity;
} LegendItem;
/* A legend entry (label and color are not copied). */
LegendItem legend_item(const char *label, const char *color, int kind, double opacity);
/* The most items a figure's legend lists. */
#define MAX_LEGEND 64
/* A framed legend whose top-left corner is (x, y). */
void draw_legend(Text *t, double x, double y, const LegendItem *items, int n);

/* Grouped bar chart shared by Fig 3 and Fig 4: per row, bars for column groups
 * (value column, whisker low column, whisker high column; -1 = none). An
 * optional marker column draws a black dash over the whole group. */
typedef struct {
    const char *label;
    const char *color;
    int value, lo, hi;
} BarGroup;
void grouped_bars_svg(Text *t, const Table *tb, const BarGroup *g, int ng, int marker_col, const char *marker_label,
                      const char *whisker_label, const char *fig_title, const char *panel_title, const char *xlabel,
                      const char *ylabel, int width, double rotate);

/* ---- gnuplot scripts ---- */

/* Start of every gnuplot script: PNG by default, SVG with fmt='svg'. */
void gp_begin(Text *t, const char *stem, const char *what, int w, int h);
/* The plot lines of a grouped bar chart: clean bar (column cv, whiskers cl..ch or
 * cl <= 0 for none) left, patched bar (pv, whiskers pl..ph) right; marker column mk > 0. */
void grouped_bars_gp(Text *t, const char *dat, int nrows, int cv, int cl, int ch, int pv, int pl, int ph, int mk,
                     const char *clean_label, const char *patched_label, const char *marker_label,
                     const char *whisker_label);

/* ---- Outputs: the files of one run, in the order written ---- */

typedef struct Outputs {
    const char *dir;
    const char **written; /* names (static strings), in the order written */
    int n_written, cap;
    Error *err;
} Outputs;

void outputs_init(Outputs *o, const char *dir, Error *err);
void outputs_free(Outputs *o);
/* Writes dir/name atomically from t and records name (a static string). */
int outputs_emit(Outputs *o, const char *name, const Text *t);
/* Records a file written by other means (results.tsv). */
void outputs_record(Outputs *o, const char *name);
/* 1 if name was written in this run. */
int outputs_written(const Outputs *o, const char *name);

#endif
