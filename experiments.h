/* experiments.h - the paper's experiments (PROTOCOL sections 3-6): Fig 1, Fig 2, Fig 3,
 * Fig 4, Fig 5 and Section 3.2, each filling metrics of results.tsv.
 *
 * Figures 1, 2, 3, 5 and Section 3.2 share one clean pass over the dataset rows,
 * streamed a few rows at a time: per batch only per-sample scalars (projection
 * ratios, DLA values) are kept, in Samples, so memory does not grow with the
 * activations of all rows. Fig 4 runs the adversarial prompts and, per dataset
 * row, only the layers below the heads it patches.
 */
#ifndef CLEANUP_EXPERIMENTS_H
#define CLEANUP_EXPERIMENTS_H

#include <stddef.h>

#include "data.h"
#include "model.h"
#include "stats.h"
#include "tokenizer.h"
#include "util.h"

#define EXP_MAX_CLEANERS 64

/* The heads the experiments are about (defaults L0H2 and L2H2..L2H7). */
typedef struct {
    int writer_layer, writer_head;
    int patched_layer;                 /* the cleaners' layer */
    int n_cleaners;
    int cleaners[EXP_MAX_CLEANERS];    /* heads of patched_layer */
} ExpHeads;

/* One adversarial prompt of Fig 4 (strings owned by whoever filled them). */
typedef struct {
    const char *prompt, *correct, *incorrect; /* UTF-8, escapes already decoded */
    int other_layer, other_head;
} AdvPrompt;

/* Parts of the clean pass. */
enum { EXP_FIG1 = 1, EXP_FIG2 = 2, EXP_FIG3 = 4, EXP_FIG5 = 8, EXP_SEC32 = 16 };

/* Points of a scatter plot (Fig 5: writer DLA x, V-composition DLA y). */
typedef struct {
    double *x, *y;
    size_t n, cap;
} Points;

void points_init(Points *p);
void points_add(Points *p, double x, double y);
void points_free(Points *p);

/* PR(a, b) = (a.b)/(b.b) over D (double sums); NaN when b is zero. */
double projection_ratio(const float *a, const float *b, int D);
/* DLA of r along u: ((r - mean_D r) / scale) . u, with the ln_final weight folded into
 * the direction when the model is unprocessed (lnf_w not NULL). */
double direct_logit_attribution(const float *r, int D, float scale, const float *lnf_w, const float *u);
/* The largest and second largest of lg[0..V) (first index on ties; *top2 = -1 when V is 1),
 * exactly the indices of the two scans: top1 = 0, then j = 1..V-1 takes top1 if
 * lg[j] > lg[top1]; top2 = -1, then every j != top1 in order takes top2 if top2 < 0 or
 * lg[j] > lg[top2] (NaNs included). */
void logits_top2(const float *lg, int V, int *top1, int *top2);
/* u[d] = W_U[d, c] - W_U[d, i] (i < 0: just the column c). */
void unembed_direction(const Model *m, int c, int i, float *u);

/* Parses "L0H2" into layer and head, checked against the model; -1 with err otherwise. */
int parse_head(const Model *m, const char *s, int *layer, int *head, Error *err);
/* Checks the configured heads exist and the writer's layer is below the cleaners'. */
int exp_heads_check(const Model *m, const ExpHeads *heads, Error *err);

/* The clean pass over ds feeding the experiments in `which` (EXP_* bits), adding their
 * metrics to res; Fig 5's points go to fig5 when not NULL. Needs ds->seq_len > 33
 * for Fig 5. Returns 0, or -1 with err. */
int exp_clean_pass(const Model *m, const Dataset *ds, const ExpHeads *heads, unsigned which, Results *res,
                   Points *fig5, Error *err);

/* Fig 4 on the given prompts: logit difference, top-2 check, clean DLA of the writer
 * and the prompt's other head, and their DLA when the head's input at the last
 * position comes from each dataset row. Prompts are tokenized with BOS prepended;
 * answers must be single tokens. Returns 0, or -1 with err. */
int exp_fig4(const Model *m, const Dataset *ds, const ExpHeads *heads, Tokenizer *tok, const AdvPrompt *prompts,
             int n_prompts, Results *res, Error *err);

/* A prompt's tokens (BOS first) and its two answers as single ids. */
typedef struct {
    int *tokens;
    int n;
    int correct, incorrect;
} PromptTokens;

/* Fig 4 for one tokenized prompt, metrics fig4.p{k}.*: the writer's and the other
 * head's clean DLA at the last position, and their patched DLA with each dataset
 * row (truncated to the prompt's length) supplying the head's input there. */
int exp_fig4_prompt(const Model *m, const Dataset *ds, const ExpHeads *heads, const PromptTokens *pt, int other_layer,
                    int other_head, int k, Results *res, Error *err);

/* The paper's four prompts (PROTOCOL section 5, Fig 4). */
const AdvPrompt *exp_paper_prompts(int *count);

/* CLI: `cleanup all|fig1|fig2|fig3|fig4|fig5|sec32 [options]`; argv[0] is the experiment. */
int cmd_experiment(int argc, char **argv);

#endif
