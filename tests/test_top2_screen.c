/* test_top2_screen.c - top2_screen.h against the exact path it replaces: for every row,
 * logits_top2 of the float logits matmul_at computes (bias included) must give the same
 * two indices as top2_screen_row, under every screening this machine runs ("portable"
 * everywhere, "bf16" on AVX512_BF16 CPUs) and every kernel copy (each copy's own float
 * chains). Cases that a loose screen would get wrong: exact ties between columns (equal
 * logits: the first index wins), near ties (a column one float step away), a dominant
 * column; and the refusals: a row with a NaN or a huge value, W_U with an infinity, and
 * a flat row with every column a candidate (the exact path). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "experiments.h"
#include "kernels.h"
#include "top2_screen.h"

enum { T = 75, D = 41, V = 2600 };

/* The exact path: matmul_at's logits, logits_top2 per position. */
static void exact_top2(const Model *m, const float *xt, int *top1, int *top2) {
    float *lg = malloc(sizeof(float) * T * V);
    int t;
    matmul_at(lg, V, xt, T, m->W_U, V, m->b_U, T, D, V);
    for (t = 0; t < T; t++) logits_top2(lg + (size_t)t * V, V, &top1[t], &top2[t]);
    free(lg);
}

/* One row against the exact path; returns top2_screen_row's code. */
static int check_row(Top2Screen *s, const Model *m, const float *x, const char *what) {
    float *xt = malloc(sizeof(float) * D * T);
    int want1[T], want2[T], got1[T], got2[T], t, d, same = 1, rc;
    for (t = 0; t < T; t++)
        for (d = 0; d < D; d++) xt[(size_t)d * T + t] = x[(size_t)t * D + d];
    exact_top2(m, xt, want1, want2);
    rc = top2_screen_row(s, m, x, xt, T, got1, got2);
    free(xt);
    if (rc == 0) {
        for (t = 0; t < T; t++)
            if (got1[t] != want1[t] || got2[t] != want2[t]) {
                if (same)
                    printf("  %s: position %d: screened (%d, %d), exact (%d, %d)\n", what, t, got1[t], got2[t], want1[t],
                           want2[t]);
                same = 0;
            }
        CHECK(same, "%s (%s, %s kernels): the exact path's top-2 at every position", what, screen_name(), kernels_name());
    }
    return rc;
}

static void run_cases(void) {
    Model m;
    Top2Screen s;
    float *W = malloc(sizeof(float) * D * V), *b = malloc(sizeof(float) * V), *x = malloc(sizeof(float) * T * D);
    int d, v, t;
    memset(&m, 0, sizeof m);
    m.cfg.d_model = D;
    m.cfg.d_vocab = V;
    m.W_U = W;
    m.b_U = b;
    check_fill(W, (size_t)D * V, 1.0f, 0.0f);
    check_fill(b, V, 0.5f, 0.0f);
    /* ties and near ties: column 2500 a copy of column 7 (equal logits everywhere), column
     * 1500 a copy of 700 one float step up in one weight, column 9 of 2400 with the bias a
     * step away */
    for (d = 0; d < D; d++) {
        W[(size_t)d * V + 2500] = W[(size_t)d * V + 7];
        W[(size_t)d * V + 1500] = W[(size_t)d * V + 700];
        W[(size_t)d * V + 9] = W[(size_t)d * V + 2400];
    }
    b[2500] = b[7];
    W[(size_t)3 * V + 1500] = nextafterf(W[(size_t)3 * V + 700], 2.0f);
    b[1500] = b[700];
    b[9] = nextafterf(b[2400], 2.0f);
    CHECK(top2_screen_init(&s, &m, T) == 1, "set up on finite weights (%s)", screen_name());
    check_fill(x, (size_t)T * D, 1.0f, 0.0f);
    /* positions pointing at the tied columns: x along them, so that they lead */
    for (t = 0; t < 12; t++) {
        const int c = t % 3 == 0 ? 7 : t % 3 == 1 ? 700 : 2400;
        for (d = 0; d < D; d++) x[(size_t)t * D + d] = 3.0f * W[(size_t)d * V + c];
    }
    CHECK(check_row(&s, &m, x, "uniform values, ties") == 0, "an ordinary row is screened (%s)", screen_name());
    for (t = 0; t < T; t++)
        for (d = 0; d < D; d++) x[(size_t)t * D + d] = (float)ldexp(x[(size_t)t * D + d], (t * 7 + d) % 21 - 10);
    CHECK(check_row(&s, &m, x, "values from 2^-10 to 2^10") == 0, "a row of mixed magnitudes is screened");
    x[5 * D + 3] = NAN;
    CHECK(check_row(&s, &m, x, "a NaN") == -1, "a row with a NaN takes the exact path");
    x[5 * D + 3] = 0x1p110f;
    CHECK(check_row(&s, &m, x, "a huge value") == -1, "a row with a value near overflow takes the exact path");
    top2_screen_free(&s);

    /* flat: every logit equal, every column a candidate: more than TOP2_SCREEN_CAP */
    memset(W, 0, sizeof(float) * D * V);
    for (v = 0; v < V; v++) b[v] = 0.25f;
    CHECK(top2_screen_init(&s, &m, T) == 1, "set up on zero weights");
    CHECK(check_row(&s, &m, x, "flat") == -1, "a flat row (every column tied) takes the exact path");
    top2_screen_free(&s);

    W[17] = INFINITY;
    CHECK(top2_screen_init(&s, &m, T) == 0 && s.panels == NULL, "W_U with an infinity: not set up");
    W[17] = 0.0f;
    b[3] = NAN;
    CHECK(top2_screen_init(&s, &m, T) == 0, "b_U with a NaN: not set up");
    free(W);
    free(b);
    free(x);
}

int main(void) {
    static const char *const kernels[] = {"baseline", "avx2", "avx512"};
    static const char *const screens[] = {"portable", "bf16"};
    size_t k, i;
    check_seed(20261206);
    for (k = 0; k < sizeof kernels / sizeof kernels[0]; k++) {
        if (kernels_use(kernels[k]) != 0) continue;
        for (i = 0; i < sizeof screens / sizeof screens[0]; i++) {
            if (screen_use(screens[i]) != 0) {
                printf("  %s kernels: screening %s not on this machine\n", kernels[k], screens[i]);
                continue;
            }
            run_cases();
        }
    }
    screen_use("off");
    {
        Model m;
        Top2Screen s;
        float w[4] = {1, 2, 3, 4}, bias[2] = {0, 0};
        memset(&m, 0, sizeof m);
        m.cfg.d_model = 2;
        m.cfg.d_vocab = 2;
        m.W_U = w;
        m.b_U = bias;
        CHECK(top2_screen_init(&s, &m, 4) == 0, "with the screening off, nothing is set up");
    }
    return check_done("test_top2_screen");
}
