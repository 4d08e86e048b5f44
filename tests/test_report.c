/* test_report.c - the report module: figures, .dat/.gp files, report.md
 * checks, SHA256SUMS and `verify`, on a synthetic Results table whose values
 * the test chooses (so every number it reads back is known in advance).
 *
 *   test_report              runs the checks (in a temporary directory)
 *   test_report --write DIR  writes the synthetic report into DIR (for tests/test_report.sh)
 *   test_report --verify DIR runs verify_directory on DIR (exit status as `cleanup verify`)
 */
#if !defined(_WIN32) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "kernels.h"
#include "report.h"
#include "progress.h"
#include "stats.h"
#include "util.h"
#include "verify.h"

#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>
#define PROCESS_ID() ((long)getpid())
#else
#define PROCESS_ID() ((long)time(NULL))
#endif

/* ---- the synthetic run: 4 layers, 8 heads, writer L0H2, cleaners L2H2..L2H7 ---- */

static const char *const LOCS[9] = {"resid_pre0", "resid_mid0", "resid_post0", "resid_mid1", "resid_post1",
                                    "resid_mid2", "resid_post2", "resid_mid3", "resid_post3"};
/* The writer's Fig 1 values are the paper's (docs/PROTOCOL.md section 7), so the paper checks pass. */
static const double W_MED[9] = {0.0119, 0.9604, 1.0448, 1.0108, 1.0195, 0.1027, 0.0929, 0.0489, 0.0548};
static const double W_Q25[9] = {-0.0052, 0.8632, 0.9587, 0.9305, 0.9382, -0.1220, -0.0531, -0.1646, -0.1771};
static const double W_Q75[9] = {0.0380, 1.0960, 1.1546, 1.1243, 1.1243, 0.3073, 0.2426, 0.2696, 0.2792};
static const double L2_MED[8] = {0.000, -0.009, -0.143, -0.035, -0.117, -0.264, -0.177, -0.140};
static const double L2_PATCHED[8] = {0.001, 0.003, -0.019, -0.009, -0.001, -0.033, -0.028, -0.010};
static const double LOC_PATCHED[9] = {0.0119, 0.9604, 1.0448, 1.0108, 1.0195, 0.883, 0.646, 0.573, 0.484};
static const int CLEANERS[6] = {2, 3, 4, 5, 6, 7};

/* The value chosen for fig1.L0H{h}.{LOCS[i]}.median. */
static double fig1_median(int h, int i) {
    if (h == 2) return W_MED[i];
    return 0.1 * (h % 4) - 0.02 * i + 0.001 * h;
}

/* The value chosen for fig2.{node}.median (l, h; h == 8 is MLP l). */
static double fig2_median(int l, int h) {
    if (h == 8) return 0.04 * l - 0.05;
    if (l == 2) return L2_MED[h];
    return 0.003 * (h - 3) * (l + 1);
}

#define N_FIG5 400
static double fig5_x[N_FIG5], fig5_y[N_FIG5];

static void set_q(Results *r, const char *base, double med, double q125, double q25, double q75, double q875) {
    char name[200];
    snprintf(name, sizeof name, "%s.median", base);
    results_set(r, name, med);
    snprintf(name, sizeof name, "%s.q12_5", base);
    results_set(r, name, q125);
    snprintf(name, sizeof name, "%s.q25", base);
    results_set(r, name, q25);
    snprintf(name, sizeof name, "%s.q75", base);
    results_set(r, name, q75);
    snprintf(name, sizeof name, "%s.q87_5", base);
    results_set(r, name, q875);
}

/* Fills r with every metric of docs/PROTOCOL.md section 6 (plus fig3.clean.L2H*,
 * fig2.sum_of_medians and fig4.p*.top2); with_fig4 = 0 leaves Fig 4 out. */
static void build_results(Results *r, int with_fig4) {
    static const char *const other[4] = {"L3H1", "L2H1", "L3H5", "L2H2"};
    static const double ld[4] = {1.07, 1.89, 3.02, 0.94};
    static const double wc[4] = {0.595, 0.837, 0.949, 0.246}, wp[4][3] = {{0.598, 0.583, 0.637}, {0.814, 0.811, 0.834},
                                                                          {0.973, 0.965, 0.996}, {0.247, 0.245, 0.253}};
    static const double oc[4] = {1.134, 0.841, 2.289, 0.524}, op[4][3] = {{0.084, 0.066, 0.137}, {0.033, -0.151, 0.261},
                                                                          {0.708, 0.166, 1.548}, {0.165, -0.061, 0.473}};
    char base[200];
    int h, i, l, k;
    unsigned long seed = 12345;
    double sum = 0;
    results_init(r);
    for (h = 0; h < 8; h++)
        for (i = 0; i < 9; i++) {
            double m = fig1_median(h, i);
            snprintf(base, sizeof base, "fig1.L0H%d.%s", h, LOCS[i]);
            if (h == 2)
                set_q(r, base, m, W_Q25[i] - 0.1, W_Q25[i], W_Q75[i], W_Q75[i] + 0.1);
            else
                set_q(r, base, m, m - 0.25, m - 0.1, m + 0.1, m + 0.3);
        }
    for (l = 0; l < 4; l++)
        for (h = 0; h <= 8; h++) {
            double m = fig2_median(l, h);
            if (h == 8)
                snprintf(base, sizeof base, "fig2.MLP%d", l);
            else
                snprintf(base, sizeof base, "fig2.L%dH%d", l, h);
            set_q(r, base, m, m - 0.08 - 0.01 * h, m - 0.04, m + 0.04, m + 0.1);
        }
    for (k = 0; k < 6; k++) sum += L2_MED[CLEANERS[k]];
    results_set(r, "fig2.cleaners_sum.median", -0.903);
    results_set(r, "fig2.sum_of_medians", sum);
    for (i = 0; i < 9; i++) {
        snprintf(base, sizeof base, "fig3.clean.%s", LOCS[i]);
        set_q(r, base, W_MED[i], W_MED[i] - 0.2, W_Q25[i], W_Q75[i], W_MED[i] + 0.2);
        snprintf(base, sizeof base, "fig3.patched.%s", LOCS[i]);
        set_q(r, base, LOC_PATCHED[i], LOC_PATCHED[i] - 0.2, LOC_PATCHED[i] - 0.1, LOC_PATCHED[i] + 0.1,
              LOC_PATCHED[i] + 0.2);
    }
    for (h = 0; h < 8; h++) {
        snprintf(base, sizeof base, "fig3.clean.L2H%d", h);
        set_q(r, base, L2_MED[h], L2_MED[h] - 0.1, L2_MED[h] - 0.05, L2_MED[h] + 0.05, L2_MED[h] + 0.1);
        snprintf(base, sizeof base, "fig3.patched.L2H%d", h);
        set_q(r, base, L2_PATCHED[h], L2_PATCHED[h] - 0.05, L2_PATCHED[h] - 0.02, L2_PATCHED[h] + 0.02,
              L2_PATCHED[h] + 0.05);
    }
    if (with_fig4)
        for (k = 0; k < 4; k++) {
            snprintf(base, sizeof base, "fig4.p%d.logit_diff", k + 1);
            results_set(r, base, ld[k]);
            snprintf(base, sizeof base, "fig4.p%d.top2", k + 1);
            results_set(r, base, k == 2 ? 0 : 1);
            snprintf(base, sizeof base, "fig4.p%d.L0H2.clean", k + 1);
            results_set(r, base, wc[k]);
            snprintf(base, sizeof base, "fig4.p%d.L0H2.patched.median", k + 1);
            results_set(r, base, wp[k][0]);
            snprintf(base, sizeof base, "fig4.p%d.L0H2.patched.q12_5", k + 1);
            results_set(r, base, wp[k][1]);
            snprintf(base, sizeof base, "fig4.p%d.L0H2.patched.q87_5", k + 1);
            results_set(r, base, wp[k][2]);
            snprintf(base, sizeof base, "fig4.p%d.%s.clean", k + 1, other[k]);
            results_set(r, base, oc[k]);
            snprintf(base, sizeof base, "fig4.p%d.%s.patched.median", k + 1, other[k]);
            results_set(r, base, op[k][0]);
            snprintf(base, sizeof base, "fig4.p%d.%s.patched.q12_5", k + 1, other[k]);
            results_set(r, base, op[k][1]);
            snprintf(base, sizeof base, "fig4.p%d.%s.patched.q87_5", k + 1, other[k]);
            results_set(r, base, op[k][2]);
        }
    /* Fig 5 points: y = -0.723 x + 0.052 + noise, x in [-1, 2] (a small LCG, fixed seed). */
    for (i = 0; i < N_FIG5; i++) {
        double u, v;
        seed = seed * 1103515245ul + 12345ul;
        u = (double)((seed >> 16) & 0x7fff) / 32767.0;
        seed = seed * 1103515245ul + 12345ul;
        v = (double)((seed >> 16) & 0x7fff) / 32767.0 - 0.5;
        fig5_x[i] = -1 + 3 * u;
        fig5_y[i] = -0.723 * fig5_x[i] + 0.052 + 0.6 * v;
    }
    results_set(r, "fig5.n_points", N_FIG5);
    results_set(r, "fig5.slope", -0.723);
    results_set(r, "fig5.intercept", 0.052);
    results_set(r, "fig5.r", -0.745);
    results_set(r, "sec32.n_points", 30720);
    results_set(r, "sec32.r_cleaners", -0.159);
    results_set(r, "sec32.r_vcomp", -0.716);
    results_set(r, "sec32.slope_vcomp", -0.61);
}

static void build_input(ReportInput *in, const Results *r, int with_fig5) {
    memset(in, 0, sizeof *in);
    in->results = r;
    in->fig5_x = with_fig5 ? fig5_x : NULL;
    in->fig5_y = with_fig5 ? fig5_y : NULL;
    in->fig5_n = with_fig5 ? N_FIG5 : 0;
    in->model_dir = "weights/planted";
    in->config_path = "tests/check.h"; /* any existing file: its checksum goes into report.md */
    in->weights_path = "tests/run.sh";
    in->model_name = "synthetic-test-model";
    in->n_layers = 4;
    in->n_heads = 8;
    in->d_model = 64;
    in->d_head = 8;
    in->d_mlp = 256;
    in->n_ctx = 128;
    in->d_vocab = 300;
    in->act_fn = "gelu";
    in->processed = 1;
    in->data_path = "tests/check.h";
    in->n_rows = 12;
    in->seq_len = 128;
    in->writer_layer = 0;
    in->writer_head = 2;
    in->patched_layer = 2;
    in->n_cleaners = 6;
    in->cleaner_heads = CLEANERS;
    in->threads = 2;
    in->seconds = 1.25;
}

/* Expectations with known outcomes on the values above. */
static const RefCheck planted[] = {
    {"fig2.cleaners_sum.median", -0.903, 0.03, "planted: cleaners erase the writer", 0, 0}, /* value -0.903: PASS */
    {"fig5.slope", -0.5, 0.05, "planted: wrong on purpose", 0, 0},                         /* -0.723: FAIL */
    {"fig9.not_computed", 1.0, 0.1, "planted: absent metric", 0, 0},                       /* MISSING */
    {"fig5.n_points", 400.5, 0.5, "planted: exact boundary", 0, 0},                       /* |400 - 400.5| = 0.5: PASS */
};

/* ---- small file helpers ---- */

static char *slurp(const char *dir, const char *name, size_t *len) {
    char *path = path_join(dir, name);
    unsigned char *data = NULL;
    size_t n = 0;
    Error e;
    if (read_file(path, (size_t)64 << 20, &data, &n, &e) != 0) data = NULL;
    free(path);
    if (len) *len = n;
    return (char *)data;
}

/* ---- SVG element helpers (for the legend checks) ---- */

/* The value of attribute name of the element starting at elem, "" when absent. */
static void svg_attr(const char *elem, const char *name, char *out, size_t n) {
    const char *end = strchr(elem, '>'), *p = elem;
    size_t k = strlen(name);
    out[0] = '\0';
    while (end && (p = strstr(p, name)) != NULL && p < end) {
        if (p[-1] == ' ' && p[k] == '=' && p[k + 1] == '"') {
            const char *v = p + k + 2, *q = strchr(v, '"');
            size_t m = q ? (size_t)(q - v) : 0;
            if (m >= n) m = n - 1;
            memcpy(out, v, m);
            out[m] = '\0';
            return;
        }
        p += k;
    }
}

/* 1 if the <line> elements at a and b have the same stroke, stroke-width and
 * stroke-dasharray (the look of a line); why says how they differ. */
static int same_stroke(const char *a, const char *b, char *why, size_t n) {
    static const char *const attrs[] = {"stroke", "stroke-width", "stroke-dasharray"};
    int i;
    for (i = 0; i < 3; i++) {
        char va[64], vb[64];
        svg_attr(a, attrs[i], va, sizeof va);
        svg_attr(b, attrs[i], vb, sizeof vb);
        if (strcmp(va, vb) != 0) {
            snprintf(why, n, "%s \"%s\" vs \"%s\"", attrs[i], va, vb);
            return 0;
        }
    }
    snprintf(why, n, "same");
    return 1;
}

/* The last <line> element before the legend text >label</text>, NULL if none. */
static const char *legend_sample(const char *svg, const char *label) {
    char needle[128];
    const char *text, *p, *last = NULL;
    snprintf(needle, sizeof needle, ">%s</text>", label);
    text = strstr(svg, needle);
    for (p = svg; text && (p = strstr(p, "<line ")) != NULL && p < text; p++) last = p;
    return text ? last : NULL;
}

/* The first <line> element containing every one of the attribute texts a1, a2. */
static const char *first_line_with(const char *svg, const char *a1, const char *a2) {
    const char *p;
    for (p = svg; (p = strstr(p, "<line ")) != NULL; p++) {
        const char *end = strchr(p, '>');
        const char *h1 = strstr(p, a1), *h2 = strstr(p, a2);
        if (end && h1 && h1 < end && h2 && h2 < end) return p;
    }
    return NULL;
}

static int file_exists_in(const char *dir, const char *name) {
    char *path = path_join(dir, name);
    int ok = path_exists(path);
    free(path);
    return ok;
}

static void remove_tree(const char *dir) {
    char **names;
    int n, i;
    Error e;
    if (list_dir(dir, &names, &n, &e) == 0) {
        for (i = 0; i < n; i++) {
            char *p = path_join(dir, names[i]);
            remove(p);
            free(p);
        }
        free_string_list(names, n);
    }
    remove(dir);
}

/* Prints a problem as `cleanup verify` does. */
static void print_problem(void *ctx, const char *message) {
    (void)ctx;
    fprintf(stderr, "cleanup: verify: %s\n", message);
}

/* verify_directory with `cleanup verify --quiet`'s messages and exit status. */
static int run_verify(const char *dir) {
    int n_ok, problems = verify_directory(dir, print_problem, NULL, &n_ok);
    if (problems) {
        fprintf(stderr, "cleanup: verify: %s: FAILED: %d problem%s (%d file%s matched)\n", dir, problems,
                problems == 1 ? "" : "s", n_ok, n_ok == 1 ? "" : "s");
        return EXIT_VERIFY;
    }
    return EXIT_OK;
}

/* stderr goes to a log file during the tests (set up in main), so that the
 * messages of verify and progress can be checked. */
static char stderr_log[700];
static long stderr_mark;

/* Starts a new stretch of stderr to inspect. */
static void stderr_begin(void) {
    fflush(stderr);
    stderr_mark = ftell(stderr);
}

/* What was written to stderr since stderr_begin (caller frees). */
static char *stderr_since(void) {
    unsigned char *data;
    size_t len;
    Error e;
    char *out;
    fflush(stderr);
    if (read_file(stderr_log, (size_t)16 << 20, &data, &len, &e) != 0) return NULL;
    if (stderr_mark < 0 || (size_t)stderr_mark > len) stderr_mark = 0;
    out = xstrdup((char *)data + stderr_mark);
    free(data);
    return out;
}

/* Runs verify and checks its exit status and that stderr mentions `needle`. */
static void expect_verify(const char *dir, int want, const char *needle, const char *what) {
    char *msg;
    int rc;
    stderr_begin();
    rc = run_verify(dir);
    msg = stderr_since();
    CHECK(rc == want, "verify exits %d %s (got %d)", want, what, rc);
    if (needle) CHECK(msg && strstr(msg, needle), "verify says '%s' %s (said: %s)", needle, what, msg ? msg : "");
    if (want == 0) CHECK(msg && msg[0] == '\0', "verify prints nothing on stderr %s (said: %s)", what, msg ? msg : "");
    free(msg);
}

/* The value in a .dat file at the row labelled `label` and the column named
 * `col` (names from the "# columns:" header). NaN if not found. */
static double dat_value(const char *dir, const char *file, const char *label, const char *col) {
    char *text = slurp(dir, file, NULL), *line, *next, names[64][64];
    int ncols = 0, want = -1, i;
    double result = NAN;
    if (!text) return NAN;
    for (line = text; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = '\0';
        if (strncmp(line, "# columns:", 10) == 0) {
            char *tok = strtok(line + 10, " ");
            while (tok && ncols < 64) {
                snprintf(names[ncols], sizeof names[ncols], "%s", tok);
                if (strcmp(tok, col) == 0) want = ncols;
                ncols++;
                tok = strtok(NULL, " ");
            }
            continue;
        }
        if (line[0] == '#' || want < 0) continue;
        {
            char *tok = strtok(line, " ");
            int is_row = 0;
            for (i = 0; tok; i++, tok = strtok(NULL, " ")) {
                if (i == 1 && strcmp(tok, label) == 0) is_row = 1;
                if (is_row && i == want) {
                    result = strtod(tok, NULL);
                    break;
                }
            }
            if (is_row) break;
        }
    }
    free(text);
    return result;
}

/* ---- an XML well-formedness checker (elements, attributes, entities, comments, PIs) ---- */

static int name_start(int c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' || c == ':' || c >= 0x80;
}

static int name_char(int c) {
    return name_start(c) || (c >= '0' && c <= '9') || c == '-' || c == '.';
}

static int is_ws(int c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Length of a valid entity reference at p ("&amp;", "&#38;", "&#x26;"), 0 if invalid. */
static size_t entity_len(const char *p) {
    static const char *const named[5] = {"&lt;", "&gt;", "&amp;", "&quot;", "&apos;"};
    size_t i;
    for (i = 0; i < 5; i++)
        if (strncmp(p, named[i], strlen(named[i])) == 0) return strlen(named[i]);
    if (p[1] == '#') {
        const char *q = p + 2;
        int hex = 0, digits = 0;
        if (*q == 'x') {
            hex = 1;
            q++;
        }
        while ((*q >= '0' && *q <= '9') || (hex && ((*q >= 'a' && *q <= 'f') || (*q >= 'A' && *q <= 'F')))) {
            q++;
            digits++;
        }
        if (digits > 0 && *q == ';') return (size_t)(q - p) + 1;
    }
    return 0;
}

/* 1 if s is a well-formed XML document; else 0 and a reason in why. */
static int xml_well_formed(const char *s, char *why, size_t whylen) {
    const char *stack[512], *p = s;
    size_t stack_len[512];
    int depth = 0, root_seen = 0;
#define XML_FAIL(...)                                                                                                  \
    do {                                                                                                               \
        snprintf(why, whylen, __VA_ARGS__);                                                                            \
        return 0;                                                                                                      \
    } while (0)
    while (*p) {
        if (*p == '<') {
            if (strncmp(p, "<?", 2) == 0) {
                const char *e = strstr(p + 2, "?>");
                if (!e) XML_FAIL("unterminated processing instruction at offset %ld", (long)(p - s));
                p = e + 2;
            } else if (strncmp(p, "<!--", 4) == 0) {
                const char *e = strstr(p + 4, "--");
                if (!e || e[2] != '>') XML_FAIL("bad comment at offset %ld", (long)(p - s));
                p = e + 3;
            } else if (strncmp(p, "<![CDATA[", 9) == 0) {
                const char *e = strstr(p + 9, "]]>");
                if (depth == 0) XML_FAIL("CDATA outside the root element");
                if (!e) XML_FAIL("unterminated CDATA");
                p = e + 3;
            } else if (p[1] == '/') {
                const char *n = p + 2;
                size_t len;
                if (!name_start((unsigned char)*n)) XML_FAIL("bad end tag at offset %ld", (long)(p - s));
                while (name_char((unsigned char)*n)) n++;
                len = (size_t)(n - (p + 2));
                while (is_ws((unsigned char)*n)) n++;
                if (*n != '>') XML_FAIL("end tag not closed at offset %ld", (long)(p - s));
                if (depth == 0) XML_FAIL("end tag without start tag at offset %ld", (long)(p - s));
                depth--;
                if (stack_len[depth] != len || strncmp(stack[depth], p + 2, len) != 0)
                    XML_FAIL("end tag </%.*s> does not match <%.*s> at offset %ld", (int)len, p + 2,
                             (int)stack_len[depth], stack[depth], (long)(p - s));
                p = n + 1;
            } else {
                const char *n = p + 1, *attr_names[64];
                size_t attr_lens[64], len;
                int n_attr = 0, i, empty = 0;
                if (!name_start((unsigned char)*n)) XML_FAIL("bad start tag at offset %ld", (long)(p - s));
                if (depth == 0 && root_seen) XML_FAIL("second root element at offset %ld", (long)(p - s));
                while (name_char((unsigned char)*n)) n++;
                len = (size_t)(n - (p + 1));
                for (;;) {
                    const char *an;
                    size_t alen;
                    char quote;
                    int had_ws = 0;
                    while (is_ws((unsigned char)*n)) {
                        n++;
                        had_ws = 1;
                    }
                    if (*n == '>') break;
                    if (n[0] == '/' && n[1] == '>') {
                        empty = 1;
                        n++;
                        break;
                    }
                    if (!had_ws || !name_start((unsigned char)*n))
                        XML_FAIL("bad attribute in <%.*s> at offset %ld", (int)len, p + 1, (long)(n - s));
                    an = n;
                    while (name_char((unsigned char)*n)) n++;
                    alen = (size_t)(n - an);
                    for (i = 0; i < n_attr; i++)
                        if (attr_lens[i] == alen && strncmp(attr_names[i], an, alen) == 0)
                            XML_FAIL("duplicate attribute %.*s at offset %ld", (int)alen, an, (long)(an - s));
                    if (n_attr < 64) {
                        attr_names[n_attr] = an;
                        attr_lens[n_attr++] = alen;
                    }
                    while (is_ws((unsigned char)*n)) n++;
                    if (*n != '=') XML_FAIL("attribute %.*s without value at offset %ld", (int)alen, an, (long)(an - s));
                    n++;
                    while (is_ws((unsigned char)*n)) n++;
                    if (*n != '"' && *n != '\'') XML_FAIL("unquoted attribute value at offset %ld", (long)(n - s));
                    quote = *n++;
                    while (*n && *n != quote) {
                        if (*n == '<') XML_FAIL("'<' in attribute value at offset %ld", (long)(n - s));
                        if (*n == '&') {
                            size_t el = entity_len(n);
                            if (!el) XML_FAIL("bad entity in attribute value at offset %ld", (long)(n - s));
                            n += el;
                        } else
                            n++;
                    }
                    if (!*n) XML_FAIL("unterminated attribute value");
                    n++;
                }
                if (!*n) XML_FAIL("unterminated start tag");
                root_seen = 1;
                if (!empty) {
                    if (depth == 512) XML_FAIL("elements nested too deeply");
                    stack[depth] = p + 1;
                    stack_len[depth] = len;
                    depth++;
                }
                p = n + 1;
            }
        } else if (*p == '&') {
            size_t el = entity_len(p);
            if (!el) XML_FAIL("bad entity at offset %ld", (long)(p - s));
            if (depth == 0) XML_FAIL("text outside the root element at offset %ld", (long)(p - s));
            p += el;
        } else {
            if (depth == 0 && !is_ws((unsigned char)*p)) XML_FAIL("text outside the root element at offset %ld", (long)(p - s));
            p++;
        }
    }
    if (depth != 0) XML_FAIL("%d element(s) not closed, innermost <%.*s>", depth, (int)stack_len[depth - 1], stack[depth - 1]);
    if (!root_seen) XML_FAIL("no root element");
#undef XML_FAIL
    return 1;
}

static void test_xml_checker(void) {
    static const char *const good[] = {"<?xml version=\"1.0\"?>\n<a x=\"1\" y='2'><b/>t &amp; &#38; &#x26;<!-- c --></a>\n",
                                       "<svg><g><text>a &lt; b</text></g></svg>", "<a/>"};
    static const char *const bad[] = {"<a><b></a>",     "<a x=1/>",        "<a>&foo;</a>", "<a>&amp</a>",
                                      "<a x=\"1\" x=\"2\"/>", "<a></a><b/>",     "<a>",          "text<a/>",
                                      "<a x=\"<\"/>",    "<a x=\"1\"y=\"2\"/>", "",            "<a><!-- x -- y --></a>"};
    char why[256];
    size_t i;
    for (i = 0; i < sizeof good / sizeof good[0]; i++)
        CHECK(xml_well_formed(good[i], why, sizeof why), "XML checker accepts good document %lu (%s)", (unsigned long)i, why);
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(!xml_well_formed(bad[i], why, sizeof why), "XML checker rejects bad document '%s'", bad[i]);
}

/* ---- tests ---- */

static const char *const FULL_FILES[] = {"results.tsv", "report.md", "SHA256SUMS", "fig1.svg",  "fig1a.dat", "fig1b.dat",
                                         "fig1.gp",     "fig2.svg",  "fig2.dat",   "fig2.gp",   "fig3a.svg", "fig3a.dat",
                                         "fig3a.gp",    "fig3b.svg", "fig3b.dat",  "fig3b.gp",  "fig4a.svg", "fig4a.dat",
                                         "fig4a.gp",    "fig4b.svg", "fig4b.dat",  "fig4b.gp",  "fig5.svg",  "fig5.dat",
                                         "fig5.gp",     NULL};

/* The line of text that contains needle (a copy), or NULL. */
static char *line_with(const char *text, const char *needle) {
    const char *p = text ? strstr(text, needle) : NULL, *a, *b;
    char *out;
    if (!p) return NULL;
    for (a = p; a > text && a[-1] != '\n'; a--) {
    }
    b = strchr(p, '\n');
    if (!b) b = p + strlen(p);
    out = malloc((size_t)(b - a) + 1);
    if (!out) return NULL;
    memcpy(out, a, (size_t)(b - a));
    out[b - a] = '\0';
    return out;
}

static void check_line(const char *text, const char *needle, const char *want, int present) {
    char *line = line_with(text, needle);
    CHECK(line != NULL, "report.md has a line with %s", needle);
    if (line) CHECK((strstr(line, want) != NULL) == present, "line of %s %s '%s': %s", needle, present ? "contains" : "lacks", want, line);
    free(line);
}

static void test_full(const char *dir) {
    Results r;
    ReportInput in;
    Error err;
    char why[256];
    int i, rc;
    size_t len;
    char *sums, *md, *t;
    build_results(&r, 1);
    build_input(&in, &r, 1);
    in.is_planted = 1;
    in.checks = planted;
    in.n_checks = sizeof planted / sizeof planted[0];
    rc = report_write_all(dir, &in, &err);
    CHECK(rc == 0, "report_write_all succeeds (%s)", rc ? err.msg : "");
    for (i = 0; FULL_FILES[i]; i++) CHECK(file_exists_in(dir, FULL_FILES[i]), "%s/%s exists", dir, FULL_FILES[i]);

    /* every SVG is well-formed XML and has an <svg> root with a viewBox */
    for (i = 0; FULL_FILES[i]; i++) {
        if (!ends_with(FULL_FILES[i], ".svg")) continue;
        t = slurp(dir, FULL_FILES[i], &len);
        CHECK(t && xml_well_formed(t, why, sizeof why), "%s is well-formed XML (%s)", FULL_FILES[i], t ? why : "unreadable");
        CHECK(t && strstr(t, "<svg xmlns=\"http://www.w3.org/2000/svg\"") && strstr(t, "viewBox"), "%s has an svg root", FULL_FILES[i]);
        free(t);
    }
    t = slurp(dir, "fig1.svg", NULL);
    CHECK(t && strstr(t, ">resid_post3</text>") && strstr(t, ">L0H7</text>"), "fig1.svg labels locations and heads");
    free(t);
    t = slurp(dir, "fig2.svg", NULL);
    CHECK(t && strstr(t, ">MLP3</text>") && !strstr(t, ">L0H2</text>"), "fig2.svg has MLP3 and omits the writer L0H2");
    CHECK(t && strstr(t, "-0.903"), "fig2.svg states the cleaners' summed median");
    free(t);
    /* Legend samples look like the lines they name: Fig 4's dashed clean logit difference,
     * Fig 5's plain fitted line (each figure's first such line is in the plot, before the legend). */
    t = slurp(dir, "fig4a.svg", NULL);
    if (t) {
        const char *mark = first_line_with(t, "stroke-dasharray=", "stroke=\"black\"");
        const char *leg = legend_sample(t, "clean logit difference");
        CHECK(mark && leg && mark < leg, "fig4a.svg has dashed markers and a legend sample for them");
        if (mark && leg) CHECK(same_stroke(mark, leg, why, sizeof why), "fig4a.svg: legend sample drawn as the markers (%s)", why);
    }
    free(t);
    t = slurp(dir, "fig5.svg", NULL);
    if (t) {
        const char *fit = first_line_with(t, "stroke=\"" COLOR_CLEANER "\"", "stroke-width=");
        const char *leg = legend_sample(t, "least-squares line");
        CHECK(fit && leg && fit < leg, "fig5.svg has a fitted line and a legend sample for it");
        if (fit && leg) CHECK(same_stroke(fit, leg, why, sizeof why), "fig5.svg: legend sample drawn as the line (%s)", why);
    }
    free(t);

    /* .dat numbers are the chosen metric values */
    CHECK(check_close(dat_value(dir, "fig1a.dat", "resid_post1", "L0H5"), fig1_median(5, 4), 1e-9, 0),
          "fig1a.dat resid_post1/L0H5 = %g", fig1_median(5, 4));
    CHECK(check_close(dat_value(dir, "fig1b.dat", "resid_mid0", "q75"), 1.0960, 1e-9, 0), "fig1b.dat resid_mid0 q75");
    CHECK(check_close(dat_value(dir, "fig1b.dat", "resid_mid2", "median"), 0.1027, 1e-9, 0), "fig1b.dat resid_mid2 median");
    CHECK(check_close(dat_value(dir, "fig2.dat", "L2H5", "median"), -0.264, 1e-9, 0), "fig2.dat L2H5 median");
    CHECK(check_close(dat_value(dir, "fig2.dat", "L2H5", "is_cleaner"), 1, 0, 0), "fig2.dat L2H5 is a cleaner");
    CHECK(check_close(dat_value(dir, "fig2.dat", "L2H1", "is_cleaner"), 0, 0, 0), "fig2.dat L2H1 is not a cleaner");
    CHECK(check_close(dat_value(dir, "fig2.dat", "MLP3", "median"), 0.04 * 3 - 0.05, 1e-9, 0), "fig2.dat MLP3 median");
    CHECK(check_close(dat_value(dir, "fig2.dat", "L3H0", "q12_5"), fig2_median(3, 0) - 0.08, 1e-9, 0), "fig2.dat L3H0 q12_5");
    CHECK(isnan(dat_value(dir, "fig2.dat", "L0H2", "median")), "fig2.dat omits the writer");
    CHECK(check_close(dat_value(dir, "fig3a.dat", "resid_post2", "patched_median"), 0.646, 1e-9, 0), "fig3a.dat patched resid_post2");
    CHECK(check_close(dat_value(dir, "fig3a.dat", "resid_post2", "clean_median"), 0.0929, 1e-9, 0), "fig3a.dat clean resid_post2");
    CHECK(check_close(dat_value(dir, "fig3b.dat", "L2H6", "patched_q87_5"), -0.028 + 0.05, 1e-9, 0), "fig3b.dat L2H6 q87_5");
    CHECK(check_close(dat_value(dir, "fig4a.dat", "P3", "patched_q87_5"), 0.996, 1e-9, 0), "fig4a.dat P3 q87_5");
    CHECK(check_close(dat_value(dir, "fig4a.dat", "P4", "logit_diff"), 0.94, 1e-9, 0), "fig4a.dat P4 logit diff");
    CHECK(check_close(dat_value(dir, "fig4b.dat", "P3_L3H5", "clean"), 2.289, 1e-9, 0), "fig4b.dat P3 other head L3H5");
    CHECK(check_close(dat_value(dir, "fig4b.dat", "P2_L2H1", "patched_q12_5"), -0.151, 1e-9, 0), "fig4b.dat P2 L2H1 q12_5");
    CHECK(check_close(dat_value(dir, "fig4a.dat", "P3", "top2"), 0, 0, 0), "fig4a.dat P3 top2 = 0");
    t = slurp(dir, "fig5.dat", NULL);
    if (t) {
        int lines = 0;
        char *p, *first = NULL;
        for (p = t; *p; p++)
            if (*p == '\n') lines++;
        for (p = t; p && *p == '#'; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        }
        first = p;
        CHECK(strstr(t, "fig5.slope = -0.723") != NULL, "fig5.dat header names the fit");
        CHECK(lines == N_FIG5 + 5, "fig5.dat has %d point lines plus 5 header lines (%d lines)", N_FIG5, lines);
        if (first) {
            char *end;
            double x = strtod(first, &end), y = strtod(end, NULL);
            CHECK(check_close(x, fig5_x[0], 1e-8, 0) && check_close(y, fig5_y[0], 1e-8, 0), "fig5.dat first point");
        }
    } else
        CHECK(0, "fig5.dat readable");
    free(t);

    /* results.tsv is the stats module's; spot-check a line */
    t = slurp(dir, "results.tsv", NULL);
    CHECK(t && strstr(t, "fig2.cleaners_sum.median\t-0.903\n"), "results.tsv holds fig2.cleaners_sum.median");
    free(t);

    /* .gp scripts reference their data */
    t = slurp(dir, "fig1.gp", NULL);
    CHECK(t && strstr(t, "\"fig1a.dat\"") && strstr(t, "\"fig1b.dat\"") && strstr(t, "set output \"fig1.png\""), "fig1.gp draws both panels to fig1.png");
    free(t);

    /* SHA256SUMS: one "HEX  NAME" line per other output, sorted, not itself */
    sums = slurp(dir, "SHA256SUMS", &len);
    CHECK(sums != NULL, "SHA256SUMS readable");
    if (sums) {
        int lines = 0, ok = 1;
        char *p = sums, prev[64] = "";
        while (*p) {
            char *nl = strchr(p, '\n');
            size_t n = nl ? (size_t)(nl - p) : strlen(p);
            char name[64];
            int k;
            for (k = 0; k < 64; k++)
                if (!((p[k] >= '0' && p[k] <= '9') || (p[k] >= 'a' && p[k] <= 'f'))) ok = 0;
            if (n < 67 || p[64] != ' ' || p[65] != ' ' || n - 66 >= sizeof name) ok = 0;
            if (ok) {
                memcpy(name, p + 66, n - 66);
                name[n - 66] = '\0';
                if (strcmp(name, prev) <= 0 || strcmp(name, "SHA256SUMS") == 0) ok = 0;
                snprintf(prev, sizeof prev, "%s", name);
            }
            lines++;
            if (!nl) break;
            p = nl + 1;
        }
        CHECK(ok, "SHA256SUMS lines are 'HEX  NAME', sorted, without itself");
        CHECK(lines == 25, "SHA256SUMS lists the 25 other outputs (%d)", lines);
    }
    free(sums);

    /* report.md: planted note, PASS/FAIL/MISSING on the chosen values, run facts */
    md = slurp(dir, "report.md", NULL);
    CHECK(md != NULL, "report.md readable");
    CHECK(md && strstr(md, "This is not gelu-4l") && strstr(md, "make fetch") && strstr(md, "NeelNanda/GELU_4L512W_C4_Code"),
          "report.md says plainly the model is not gelu-4l and how to get it");
    check_line(md, "`fig2.cleaners_sum.median`", "PASS", 1);
    check_line(md, "`fig5.slope`", "FAIL", 1);
    check_line(md, "`fig9.not_computed`", "MISSING", 1);
    check_line(md, "`fig5.n_points`", "PASS", 1);
    check_line(md, "`fig1.L0H2.resid_mid0.median`", "no reference", 1);
    check_line(md, "comparable checks pass", "2 of 4 comparable checks pass, 1 fail, 1 missing", 1);
    check_line(md, "Verdict:", "NOT REPRODUCED", 1);
    check_line(md, "Run time, thread count and kernels", "run.txt", 1);
    {
        /* run time and threads live in run.txt, outside SHA256SUMS */
        char *run = slurp(dir, "run.txt", NULL);
        char want[160];
        snprintf(want, sizeof want, "run time: 1.2 s\nthreads: 2\nkernels: %s (CLEANUP_SIMD)\nscreening: %s (CLEANUP_BF16)\n",
                 kernels_name(), screen_name() ? screen_name() : "off");
        CHECK(run && strncmp(run, "program: cleanup ", 17) == 0 && strlen(run) > strlen(want) &&
                  strcmp(run + strlen(run) - strlen(want), want) == 0,
              "run.txt has the program, run time, threads, kernels and screening: %s", run ? run : "(missing)"); /* 1.25 printed with %.1f */
        free(run);
    }
    check_line(md, "`fig4.p3.top2`", "| no |", 1);
    CHECK(md && strstr(md, "bit-identical"), "report.md states what is deterministic");
    check_line(md, "Config: n_layers 4", "d_vocab 300", 1);
    free(md);
    results_free(&r);
}

/* Flips one byte of every output in turn: verify must fail naming the file,
 * then pass again after restoring it; a deleted file, a tampered, malformed
 * or missing SHA256SUMS and a missing directory must fail too. */
static void test_verify(const char *dir) {
    int i;
    char *path, msg[200];
    expect_verify(dir, 0, NULL, "on a fresh output directory");
    for (i = 0; FULL_FILES[i]; i++) {
        size_t len;
        unsigned char *data;
        Error e;
        if (strcmp(FULL_FILES[i], "SHA256SUMS") == 0) continue;
        path = path_join(dir, FULL_FILES[i]);
        if (read_file(path, (size_t)64 << 20, &data, &len, &e) != 0 || len == 0) {
            CHECK(0, "%s readable", path);
            free(path);
            continue;
        }
        data[len / 2] ^= 0x01;
        write_file_atomic(path, data, len, &e);
        snprintf(msg, sizeof msg, "%s: SHA-256 mismatch", FULL_FILES[i]);
        expect_verify(dir, EXIT_VERIFY, msg, "after one byte changed");
        data[len / 2] ^= 0x01;
        write_file_atomic(path, data, len, &e);
        expect_verify(dir, 0, NULL, "once the file is restored");
        free(data);
        free(path);
    }
    {
        size_t len;
        char *keep = slurp(dir, "fig3b.dat", &len);
        Error e;
        path = path_join(dir, "fig3b.dat");
        remove(path);
        expect_verify(dir, EXIT_VERIFY, "fig3b.dat: listed in SHA256SUMS but missing", "after fig3b.dat is deleted");
        write_file_atomic(path, keep, len, &e);
        free(keep);
        free(path);
    }
    {
        size_t len;
        char *keep = slurp(dir, "SHA256SUMS", &len), *bad;
        Error e;
        path = path_join(dir, "SHA256SUMS");
        bad = malloc(len + 1);
        memcpy(bad, keep, len + 1);
        bad[3] = bad[3] == 'a' ? 'b' : 'a';
        write_file_atomic(path, bad, len, &e);
        expect_verify(dir, EXIT_VERIFY, "SHA-256 mismatch", "after a checksum in SHA256SUMS changed");
        memcpy(bad, "not a checksum line\n", 20);
        write_file_atomic(path, bad, len, &e);
        expect_verify(dir, EXIT_VERIFY, "SHA256SUMS: line 1: not", "on a malformed SHA256SUMS line");
        memcpy(bad, keep, len + 1);
        memcpy(bad + 66, "../x", 4);
        write_file_atomic(path, bad, len, &e);
        expect_verify(dir, EXIT_VERIFY, "not a plain file name", "on a path in SHA256SUMS");
        write_file_atomic(path, "", 0, &e);
        expect_verify(dir, EXIT_VERIFY, "lists no files", "on an empty SHA256SUMS");
        remove(path);
        expect_verify(dir, EXIT_VERIFY, "SHA256SUMS: missing or unreadable", "without SHA256SUMS");
        write_file_atomic(path, keep, len, &e);
        expect_verify(dir, 0, NULL, "with SHA256SUMS restored");
        free(bad);
        free(keep);
        free(path);
    }
    {
        char *missing = path_join(dir, "no-such-dir");
        expect_verify(missing, EXIT_VERIFY, "no such directory", "on a missing directory");
        free(missing);
    }
    {
        Error e;
        path = path_join(dir, "fig1.png");
        write_file_atomic(path, "png", 3, &e);
        expect_verify(dir, 0, NULL, "with a file that is not a cleanup output (fig1.png)");
        remove(path);
        free(path);
    }
}

/* Without Fig 4 metrics and Fig 5 points, into the same directory: the fig4
 * and fig5 files disappear, the report says so, verify passes; a stale
 * output added afterwards is caught. */
static void test_degraded(const char *dir) {
    static const char *const gone[] = {"fig4a.svg", "fig4a.dat", "fig4a.gp", "fig4b.svg", "fig4b.dat",
                                       "fig4b.gp",  "fig5.svg",  "fig5.dat", "fig5.gp",   NULL};
    Results r;
    ReportInput in;
    Error err;
    char *md, *path;
    int i, rc;
    build_results(&r, 0);
    build_input(&in, &r, 0);
    rc = report_write_all(dir, &in, &err);
    CHECK(rc == 0, "report_write_all without fig4/fig5 succeeds (%s)", rc ? err.msg : "");
    for (i = 0; gone[i]; i++) CHECK(!file_exists_in(dir, gone[i]), "%s is not written (and the stale one removed)", gone[i]);
    CHECK(file_exists_in(dir, "fig3b.svg") && file_exists_in(dir, "SHA256SUMS"), "the other figures are written");
    md = slurp(dir, "report.md", NULL);
    CHECK(md && strstr(md, "Not run**: results.tsv has no `fig4.*` metrics"), "report.md says Fig 4 was not run");
    CHECK(md && strstr(md, "Figures skipped (their metrics are absent): fig4a fig4b fig5"), "report.md lists the skipped figures");
    CHECK(md && strstr(md, "scatter points were not provided"), "report.md says why fig5 is missing");
    CHECK(md && strstr(md, "no reference") && !strstr(md, "PASS") && !strstr(md, "FAIL"),
          "without checks the report says 'no reference' and never PASS/FAIL");
    CHECK(md && !strstr(md, "This is not gelu-4l"), "no planted note for a model that is not the planted one");
    free(md);
    expect_verify(dir, 0, NULL, "on the degraded output");
    {
        path = path_join(dir, "fig4a.svg");
        write_file_atomic(path, "<svg/>", 6, &err);
        expect_verify(dir, EXIT_VERIFY, "fig4a.svg: an output file not listed in SHA256SUMS",
                      "on an output file that SHA256SUMS does not list");
        remove(path);
        free(path);
        path = path_join(dir, "fig2.svg.tmp123");
        write_file_atomic(path, "x", 1, &err);
        expect_verify(dir, EXIT_VERIFY, "fig2.svg.tmp123: leftover temporary file", "on a leftover temporary file");
        remove(path);
        free(path);
    }
    results_free(&r);
}

/* An attention-only model (no fig2.MLP* metrics), a NaN metric, NaN counts,
 * and a writer outside layer 0 (Fig 1 stays on layer 0's metrics). */
static void test_variants(const char *dir) {
    Results full, r;
    ReportInput in;
    Error err;
    char *md, *t;
    int i, rc;
    build_results(&full, 1);
    results_init(&r);
    for (i = 0; i < full.count; i++)
        if (strncmp(full.items[i].name, "fig2.MLP", 8) != 0) results_set(&r, full.items[i].name, full.items[i].value);
    results_set(&r, "fig1.L0H3.resid_mid1.median", NAN);
    results_set(&r, "fig1.n_nan", 7);
    results_set(&r, "fig2.n_nan", 0);
    build_input(&in, &r, 1);
    in.writer_layer = 1;
    in.writer_head = 3;
    rc = report_write_all(dir, &in, &err);
    CHECK(rc == 0, "report_write_all for an attention-only model with writer L1H3 (%s)", rc ? err.msg : "");
    CHECK(isnan(dat_value(dir, "fig2.dat", "MLP1", "median")), "fig2.dat has no MLP rows without MLP metrics");
    CHECK(check_close(dat_value(dir, "fig2.dat", "L0H2", "median"), fig2_median(0, 2), 1e-9, 0),
          "fig2.dat keeps L0H2 when the writer is L1H3");
    CHECK(isnan(dat_value(dir, "fig2.dat", "L1H3", "median")), "fig2.dat omits the writer L1H3");
    t = slurp(dir, "fig2.svg", NULL);
    CHECK(t && !strstr(t, ">MLP0</text>") && strstr(t, ">L0H2</text>"), "fig2.svg: no MLP bars, L0H2 present");
    free(t);
    t = slurp(dir, "fig1a.dat", NULL);
    CHECK(t && strstr(t, "\n3 resid_mid1 -0.06 0.041 1.0108 NaN -0.056 "), "fig1a.dat writes the NaN cell as NaN");
    free(t);
    CHECK(check_close(dat_value(dir, "fig1b.dat", "resid_mid0", "median"), 0.9604, 1e-9, 0),
          "fig1 panel b falls back to L0H2 when the writer is not in layer 0");
    md = slurp(dir, "report.md", NULL);
    check_line(md, "`fig1.n_nan`", ": 7", 1);
    check_line(md, "`fig2.n_nan`", ": 0", 1);
    check_line(md, "`fig1.L0H2.resid_mid0.median`", "0.9604", 1);
    CHECK(md && strstr(md, "1 metrics are NaN"), "report.md counts NaN metrics");
    free(md);
    CHECK(run_verify(dir) == 0, "verify passes");
    results_free(&r);
    results_free(&full);
}

/* No metrics at all: only results.tsv, uncertainty.tsv, report.md and SHA256SUMS; verify passes. */
static void test_empty(const char *dir) {
    Results r;
    ReportInput in;
    Error err;
    char **names;
    int n, rc;
    char *md;
    results_init(&r);
    build_input(&in, &r, 0);
    rc = report_write_all(dir, &in, &err);
    CHECK(rc == 0, "report_write_all with no metrics (%s)", rc ? err.msg : "");
    CHECK(list_dir(dir, &names, &n, &err) == 0 && n == 5 && strcmp(names[0], "SHA256SUMS") == 0 &&
              strcmp(names[1], "report.md") == 0 && strcmp(names[2], "results.tsv") == 0 &&
              strcmp(names[3], "run.txt") == 0 && strcmp(names[4], "uncertainty.tsv") == 0,
          "only SHA256SUMS, report.md, results.tsv, run.txt and uncertainty.tsv are written (%d files)", n);
    free_string_list(names, n);
    md = slurp(dir, "report.md", NULL);
    CHECK(md && strstr(md, "Figures written: none") && strstr(md, "**Not run**: results.tsv has no `sec32.*` metrics"),
          "report.md says nothing was run");
    free(md);
    expect_verify(dir, 0, NULL, "on an output without figures");
}

/* gelu-4l with no checks supplied: the paper's checks are used. */
static void test_paper_mode(const char *dir) {
    Results r;
    ReportInput in;
    Error err;
    char *md;
    build_results(&r, 1);
    build_input(&in, &r, 1);
    in.is_gelu_4l = 1;
    CHECK(report_write_all(dir, &in, &err) == 0, "report_write_all in gelu-4l mode");
    md = slurp(dir, "report.md", NULL);
    check_line(md, "`fig1.L0H2.resid_mid0.median`", "PASS", 1);
    check_line(md, "`fig1.L0H2.resid_mid0.median`", "0.9604", 1);
    check_line(md, "`fig4.p3.L3H5.patched.q87_5`", "PASS", 1);
    check_line(md, "`sec32.r_vcomp`", "PASS", 1);
    check_line(md, "`sec32.slope_vcomp`", "no reference", 1);
    CHECK(md && strstr(md, "88 of 1060 comparable checks pass, 0 fail, 972 missing"),
          "all 88 paper checks pass on the paper's own values (the 972 scan values have no metrics here)");
    CHECK(md && !strstr(md, "This is not gelu-4l"), "no planted note for gelu-4l");
    free(md);
    results_free(&r);
}

/* The scan's published values on gelu-4l: sampling-aware at 6 standard errors
 * (REF_SIGMAS_SCAN), values typed from the published data (paper_scan_reference.tsv). */
static void test_scan_checks(const char *dir) {
    Results r;
    ReportInput in;
    Error err;
    char *md;
    build_results(&r, 1);
    build_input(&in, &r, 1);
    in.is_gelu_4l = 1;
    /* published -0.158699855; SE 0.001: +-6 x sqrt2 x 0.001 = 0.0085, tighter than 0.03 */
    results_set(&r, "scan.L0H0.resid_pre0.q25", -0.158699855 + 0.008);
    results_set_se(&r, "scan.L0H0.resid_pre0.q25", 0.001);
    /* published -2.78415728; SE 0.02: +-0.170, so 0.1 away passes */
    results_set(&r, "scan.L0H1.resid_post3.q25", -2.78415728 + 0.1);
    results_set_se(&r, "scan.L0H1.resid_post3.q25", 0.02);
    /* published -1.44146347; SE 0.005: +-0.0424, so 0.1 away fails */
    results_set(&r, "scan.L0H1.resid_post3.median", -1.44146347 - 0.1);
    results_set_se(&r, "scan.L0H1.resid_post3.median", 0.005);
    /* published 0.00309348106; no SE: the fixed +-0.03 */
    results_set(&r, "scan.L0H1.resid_pre0.median", 0.00309348106 + 0.029);
    CHECK(report_write_all(dir, &in, &err) == 0, "report_write_all in gelu-4l mode with scan metrics");
    md = slurp(dir, "report.md", NULL);
    check_line(md, "`scan.L0H0.resid_pre0.q25`", "PASS", 1);
    check_line(md, "`scan.L0H0.resid_pre0.q25`", "+-0.0085 (6 x sqrt2 x SE)", 1);
    check_line(md, "`scan.L0H1.resid_post3.q25`", "PASS", 1);
    check_line(md, "`scan.L0H1.resid_post3.q25`", "+-0.17 (6 x sqrt2 x SE)", 1);
    check_line(md, "`scan.L0H1.resid_post3.median`", "**FAIL**", 1);
    check_line(md, "`scan.L0H1.resid_post3.median`", "+-0.042 (6 x sqrt2 x SE)", 1);
    check_line(md, "`scan.L0H1.resid_pre0.median`", "PASS", 1);
    check_line(md, "`scan.L0H1.resid_pre0.median`", "+-0.03 |", 1);
    CHECK(md && strstr(md, "91 of 1060 comparable checks pass, 1 fail, 968 missing"), "3 of the 4 scan checks pass");
    CHECK(md && strstr(md, "2 of them have a tolerance looser than PROTOCOL section 7's +-0.03 (their SE exceeds "
                           "0.0035; the widest +-0.17)"),
          "the scan section counts the tolerances looser than +-0.03");
    free(md);
    results_free(&r);
}

/* The paper's reference table (docs/PROTOCOL.md section 7), typed in independently. */
static void test_paper_checks(void) {
    static const struct {
        const char *metric;
        double expected, tol;
    } want[] = {{"fig1.L0H2.resid_pre0.median", 0.0119, 0.03}, {"fig1.L0H2.resid_post3.q75", 0.2792, 0.03},
                {"fig1.L0H2.resid_mid2.q25", -0.1220, 0.03},   {"fig2.L2H5.median", -0.264, 0.03},
                {"fig2.cleaners_sum.median", -0.903, 0.03},    {"fig3.patched.resid_post3.median", 0.484, 0.05},
                {"fig3.patched.L2H5.median", -0.033, 0.05},    {"fig4.p3.logit_diff", 3.02, 0.01},
                {"fig4.p1.L3H1.clean", 1.134, 0.01},           {"fig4.p4.L2H2.patched.q12_5", -0.061, 0.05},
                {"fig5.slope", -0.723, 0.05},                  {"sec32.r_cleaners", -0.159, 0.05}};
    size_t n, i, j;
    const RefCheck *c = paper_checks_table(&n);
    for (i = j = 0; i < n; i++) j += strncmp(c[i].metric, "scan.", 5) != 0;
    CHECK(j == 88, "88 paper checks besides the scan's 972: 27 Fig 1, 9 Fig 2, 12 Fig 3, 36 Fig 4, 2 Fig 5 (r is not "
                   "scored), 2 sec 3.2 (got %lu)", (unsigned long)j);
    for (i = 0; i < sizeof want / sizeof want[0]; i++) {
        int found = 0;
        for (j = 0; j < n; j++)
            if (strcmp(c[j].metric, want[i].metric) == 0) {
                found = 1;
                CHECK(c[j].expected == want[i].expected && c[j].tolerance == want[i].tol, "%s = %g +- %g", want[i].metric,
                      want[i].expected, want[i].tol);
            }
        CHECK(found, "paper checks include %s", want[i].metric);
    }
    {
        int dups = 0;
        for (i = 0; i < n; i++)
            for (j = i + 1; j < n; j++) dups += strcmp(c[i].metric, c[j].metric) == 0;
        CHECK(dups == 0, "every paper check names a different metric (%d duplicates)", dups);
    }
}

static void test_refcheck_eval(void) {
    Results r;
    RefCheck c = {"m", 0.9604, 0.03, "test", 0, 0};
    double v;
    results_init(&r);
    CHECK(refcheck_eval(&c, &r, &v) == REFCHECK_MISSING && isnan(v), "absent metric: MISSING, value NaN");
    results_set(&r, "m", 0.9904);
    CHECK(refcheck_eval(&c, &r, &v) == REFCHECK_PASS && v == 0.9904, "0.9904 vs 0.9604 +- 0.03: PASS at the boundary");
    results_set(&r, "m", 0.9305);
    CHECK(refcheck_eval(&c, &r, NULL) == REFCHECK_PASS, "0.9305 vs 0.9604 +- 0.03: PASS");
    results_set(&r, "m", 0.9905);
    CHECK(refcheck_eval(&c, &r, NULL) == REFCHECK_FAIL, "0.9905 vs 0.9604 +- 0.03: FAIL");
    results_set(&r, "m", 0.9303);
    CHECK(refcheck_eval(&c, &r, NULL) == REFCHECK_FAIL, "0.9303 vs 0.9604 +- 0.03: FAIL");
    results_set(&r, "m", NAN);
    CHECK(refcheck_eval(&c, &r, NULL) == REFCHECK_FAIL, "NaN: FAIL");
    results_set(&r, "m", INFINITY);
    CHECK(refcheck_eval(&c, &r, NULL) == REFCHECK_FAIL, "Inf: FAIL");
    results_free(&r);
}

/* Two runs into two directories: every file identical byte for byte. */
static void test_determinism(const char *d1, const char *d2) {
    Results r;
    ReportInput in;
    Error err;
    int i;
    build_results(&r, 1);
    build_input(&in, &r, 1);
    CHECK(report_write_all(d1, &in, &err) == 0 && report_write_all(d2, &in, &err) == 0, "two runs write");
    for (i = 0; FULL_FILES[i]; i++) {
        size_t l1, l2;
        char *a = slurp(d1, FULL_FILES[i], &l1), *b = slurp(d2, FULL_FILES[i], &l2);
        CHECK(a && b && l1 == l2 && memcmp(a, b, l1) == 0, "%s identical across runs", FULL_FILES[i]);
        free(a);
        free(b);
    }
    results_free(&r);
}

static void test_bad_input(const char *dir) {
    Results r;
    ReportInput in;
    Error err;
    build_results(&r, 1);
    build_input(&in, &r, 1);
    in.writer_head = 8;
    CHECK(report_write_all(dir, &in, &err) != 0 && strstr(err.msg, "L0H8"), "a writer outside the model is refused");
    build_input(&in, &r, 1);
    in.fig5_x = NULL;
    CHECK(report_write_all(dir, &in, &err) != 0, "fig5_n without points is refused");
    results_free(&r);
}

/* Progress lines go to stderr, which is a log file here, so they must be
 * plain lines (no carriage returns), a handful, ending in "done". */
static void test_progress(void) {
    long i;
    int lines = 0;
    char *msg, *p;
    stderr_begin();
    progress_begin("testing progress", 1000);
    for (i = 1; i <= 1000; i++) progress_update(i);
    progress_end();
    msg = stderr_since();
    CHECK(msg != NULL, "progress output readable");
    if (!msg) return;
    for (p = msg; *p; p++) lines += *p == '\n';
    CHECK(strchr(msg, '\r') == NULL, "no carriage returns when stderr is not a terminal");
    CHECK(lines >= 3 && lines <= 12, "occasional plain lines (%d)", lines);
    CHECK(strstr(msg, "testing progress: 500/1000 (50%)") != NULL, "a line at 50%%: %s", msg);
    CHECK(strstr(msg, "testing progress: done, 1000/1000") != NULL, "a final 'done' line: %s", msg);
    free(msg);
}

/* An attention-only model has no resid_mid locations (TransformerLens creates no
 * hook_resid_mid without MLPs): Fig 1 and Fig 3 use resid_pre0, resid_post0, ...,
 * and their .dat files have exactly those rows, none of them NaN. */
static void test_attn_only(const char *dir) {
    static const char *const locs[3] = {"resid_pre0", "resid_post0", "resid_post1"};
    static const double med[3] = {0.01, 0.98, 0.12};
    Results r;
    ReportInput in;
    Error err;
    char name[128], *t;
    int k, h, rc;
    results_init(&r);
    for (k = 0; k < 3; k++)
        for (h = 0; h < 4; h++) {
            snprintf(name, sizeof name, "fig1.L0H%d.%s.median", h, locs[k]);
            results_set(&r, name, med[k] + 0.001 * h);
            snprintf(name, sizeof name, "fig3.clean.%s.median", locs[k]);
            results_set(&r, name, med[k]);
        }
    build_input(&in, &r, 0);
    in.n_layers = 2;
    in.n_heads = 4;
    in.attn_only = 1;
    in.writer_layer = 0;
    in.writer_head = 2;
    in.patched_layer = 1;
    in.n_cleaners = 1;
    rc = report_write_all(dir, &in, &err);
    CHECK(rc == 0, "report_write_all for an attention-only model (%s)", rc ? err.msg : "");
    for (k = 0; k < 3; k++) {
        CHECK(check_close(dat_value(dir, "fig1b.dat", locs[k], "median"), med[k] + 0.002, 1e-9, 0),
              "attention-only fig1b.dat: %s is the writer's median", locs[k]);
        CHECK(check_close(dat_value(dir, "fig3a.dat", locs[k], "clean_median"), med[k], 1e-9, 0),
              "attention-only fig3a.dat: %s is its median", locs[k]);
    }
    t = slurp(dir, "fig1b.dat", NULL);
    CHECK(t && !strstr(t, "resid_mid") && !strstr(t, "\n3 "), "attention-only fig1b.dat: rows 0-2 only, no resid_mid");
    free(t);
    CHECK(run_verify(dir) == 0, "verify passes");
    results_free(&r);
}

int main(int argc, char **argv) {
    char base[512], d1[600], d2[600], d3[600], d4[600], d5[600], d6[600];
    const char *tmp = getenv("TMPDIR");
    Error err;
    if (argc == 3 && strcmp(argv[1], "--write") == 0) {
        Results r;
        ReportInput in;
        build_results(&r, 1);
        build_input(&in, &r, 1);
        in.is_planted = 1;
        in.checks = planted;
        in.n_checks = sizeof planted / sizeof planted[0];
        if (report_write_all(argv[2], &in, &err) != 0) {
            fprintf(stderr, "test_report: %s\n", err.msg);
            return 1;
        }
        results_free(&r);
        return 0;
    }
    if (argc == 3 && strcmp(argv[1], "--verify") == 0) return run_verify(argv[2]);

    snprintf(base, sizeof base, "%s/cleanup_test_report_%ld", tmp && *tmp ? tmp : "/tmp", PROCESS_ID());
    if (make_dirs(base, &err) != 0) {
        printf("SKIP: cannot create a temporary directory: %s\n", err.msg);
        return CHECK_SKIP;
    }
    snprintf(d1, sizeof d1, "%s/full", base);
    snprintf(d2, sizeof d2, "%s/paper", base);
    snprintf(d3, sizeof d3, "%s/det1", base);
    snprintf(d4, sizeof d4, "%s/det2", base);
    snprintf(d5, sizeof d5, "%s/bad", base);
    snprintf(d6, sizeof d6, "%s/variants", base);
    snprintf(stderr_log, sizeof stderr_log, "%s/stderr.log", base);
    fflush(stderr);
    if (!freopen(stderr_log, "w", stderr)) {
        printf("SKIP: cannot redirect stderr to %s\n", stderr_log);
        return CHECK_SKIP;
    }
    test_xml_checker();
    test_refcheck_eval();
    test_paper_checks();
    test_full(d1);
    test_verify(d1);
    test_degraded(d1);
    test_paper_mode(d2);
    test_scan_checks(d2);
    test_determinism(d3, d4);
    test_bad_input(d5);
    test_variants(d6);
    test_attn_only(d6);
    test_empty(d5);
    test_progress();
    remove_tree(d1);
    remove_tree(d2);
    remove_tree(d3);
    remove_tree(d4);
    remove_tree(d5);
    remove_tree(d6);
    fclose(stderr);
    remove(stderr_log);
    remove_tree(base);
    return check_done("test_report");
}
