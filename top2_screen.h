/* top2_screen.h - the model's own two highest logits at every position of a row (Section
 * 3.2's directions), without computing most of the d_vocab logits: a bfloat16 product
 * (kernels.h: screen_product, twice the float rate) with a rigorous bound on its distance
 * from the float logits rules out every column that cannot be among the top two, and
 * only the few left (a handful a position on gelu-4l's shape) are computed exactly.
 * The indices are those of logits_top2 (experiments.h) on the logits matmul_at computes,
 * bias included: each candidate is the same float chain (kernels.h: every output of a
 * product is one fixed chain, whatever the shape), and a column ruled out is below two
 * others for certain.
 *
 * The bound, for position x (ln_final's output) and column v of W_U: the screened s and
 * the float logit f = fl(x . W_U[:,v]) + b_U[v] satisfy
 *   |s + b_U[v] - f| <= C ||x|| ||W_U[:,v]|| + Cb |b_U[v]| + A(x)
 * with C = screen_error(D) + gamma_{D+1} (the float chain's own rounding, 2^-24 a step,
 * around the exact sum), Cb = gamma_{D+1}, each with a slack of 2^-30 for the bound's own
 * double arithmetic, A the absolute terms (denormals), and sum |x| |w| <= ||x|| ||w||
 * (Cauchy-Schwarz). Column v is a candidate when its upper
 * bound reaches the second highest lower bound of any two other columns. */
#ifndef CLEANUP_TOP2_SCREEN_H
#define CLEANUP_TOP2_SCREEN_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"

/* Columns screened at once, for every position of the row (x T floats: 4 MB at T = 1024). */
#define TOP2_SCREEN_BLOCK 1024
/* Candidates a position may keep; one with more (a flat top of the distribution, or a
 * poorly conditioned row) sends the row to the exact path. */
#define TOP2_SCREEN_CAP 128
/* Columns of W_U whose candidates' exact logits one call computes: each row of W_U is
 * read in parts of 16 KB, streamed. */
#define TOP2_SCREEN_GROUP 4096

/* A position's screening so far: the two highest lower bounds, of two different columns. */
typedef struct {
    double lb1, lb2;
    int n;        /* candidates kept */
    int overflow; /* more than TOP2_SCREEN_CAP even after pruning: the row takes the exact path */
} Top2Bounds;

typedef struct {
    int T, D, V;
    uint32_t *panels;            /* W_U packed for screen_product; NULL: not set up */
    double *col;                 /* [V] C ||W_U[:,v]|| */
    double *bias_hi, *bias_lo;   /* [V] b_U[v] +- Cb |b_U[v]| */
    float *col_f, *hi_f, *lo_f;  /* the same in float, for the quick tests (within the margin) */
    double w_max, w_norm_max;    /* max |W_U|, max ||W_U[:,v]|| */
    double col_max, b_max;       /* max col, max |b_U| */
    uint32_t *rows;              /* the row's positions packed */
    float *screened;             /* [T, TOP2_SCREEN_BLOCK] a block of columns' screened products */
    double *x_norm, *x_abs;      /* [T] ||x|| (rounded up), the absolute term A(x) */
    double *margin;              /* [T] what the float tests may be off by, A(x) included */
    Top2Bounds *bounds;          /* [T] */
    int *cand;                   /* [T, TOP2_SCREEN_CAP] each position's candidates, ascending */
    double *cand_ub;             /* [T, TOP2_SCREEN_CAP] their upper bounds */
    float *cand_logit;           /* [T, TOP2_SCREEN_CAP] their exact logits */
    uint64_t *order;             /* candidates grouped by TOP2_SCREEN_GROUP columns, each group by
                                    column: column << 32 | t * TOP2_SCREEN_CAP + slot */
    int *q_pos, *q_col;          /* the same candidates' positions and columns, in that order */
    float *q_logit;              /* and their exact logits */
    int *group_start;            /* [groups + 1] where each group starts in order */
} Top2Screen;

/* Bytes top2_screen_init allocates for rows of T positions of model m (0 when the
 * screening is off: kernels.h screen_name NULL), for the memory budget. */
size_t top2_screen_bytes(const Model *m, int T);

/* Sets s up for rows of T positions: packs W_U (threads share the work). Returns 1, or 0
 * (s then holds nothing) when the screening is off, the vocabulary has fewer than two
 * columns, or W_U or b_U hold a value that is not finite or not below 2^100 in magnitude:
 * then every row takes the exact path. */
int top2_screen_init(Top2Screen *s, const Model *m, int T);
void top2_screen_free(Top2Screen *s);

/* top1[t], top2[t] for t < T: logits_top2's indices on x[t] W_U + b_U (x [T, D], the
 * row's ln_final output; xt the same transposed, x[t, d] at xt[d * ldxt + t], as the
 * exact path's matmul_at reads it: the candidates' logits read it too). Returns 0, or -1
 * with nothing set when this row must take the exact path (a value of x not finite or
 * too large, or a position with more than TOP2_SCREEN_CAP candidates). Threads share the
 * work. */
int top2_screen_row(Top2Screen *s, const Model *m, const float *x, const float *xt, int ldxt, int *top1, int *top2);

#endif
