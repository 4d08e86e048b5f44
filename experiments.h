/* experiments.h - the paper's experiments (docs/PROTOCOL.md sections 3-6; EXPERIMENTS.md) as
 * units, and the clean pass that feeds them.
 *
 * Each experiment is one unit, one file (exp_fig1.c ... exp_sec32.c), described by an
 * Experiment: its name, the work it does per batch of the clean pass (or on its own,
 * as Fig 4), the metrics it adds to results.tsv, its figure files and its report.md
 * section. The table experiment_list() holds them in the paper's order; the command
 * list, usage text, clean pass, report.md, SHA256SUMS and `verify` iterate over it.
 *
 * The clean pass streams the dataset rows a few at a time through the model: per
 * batch each unit keeps only per-sample scalars (projection ratios, DLA values), so
 * memory does not grow with the activations of all rows.
 *
 * Adding an experiment: write exp_NAME.c with its descriptor (see exp_fig2.c for a
 * clean-pass unit, exp_fig4.c for one that runs on its own), add one line to the
 * table in experiments.c and an EXP_* bit here. CONTRIBUTING.md has the details.
 */
#ifndef CLEANUP_EXPERIMENTS_H
#define CLEANUP_EXPERIMENTS_H

#include <stddef.h>

#include "data.h"
#include "model.h"
#include "references.h"
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

/* Points of a scatter plot (Fig 5: writer DLA x, V-composition DLA y). */
typedef struct {
    double *x, *y;
    size_t n, cap;
} Points;

void points_init(Points *p);
void points_add(Points *p, double x, double y);
void points_free(Points *p);

/* ------------------------------------------------------------------------ */
/* Experiment units                                                          */
/* ------------------------------------------------------------------------ */

/* Bit i selects experiment_list()[i] (the order of the table in experiments.c). */
enum { EXP_FIG1 = 1, EXP_FIG2 = 2, EXP_FIG3 = 4, EXP_FIG4 = 8, EXP_FIG5 = 16, EXP_SEC32 = 32, EXP_SCAN = 64 };

/* How the scan stores its node x node pairs (exp_scan.c): exactly when they fit in
 * scan_exact_bytes (AUTO), always exactly, or always as 16-bit codes (half the memory;
 * quantiles within 1.2e-4). */
enum { SCAN_PAIRS_AUTO = 0, SCAN_PAIRS_EXACT = 1, SCAN_PAIRS_COMPACT = 2 };

/* What a unit reads of the run. */
typedef struct {
    const Model *model;
    const Dataset *data;
    const ExpHeads *heads;
    Tokenizer *tokenizer;        /* Fig 4's prompts; NULL when the model has none */
    const AdvPrompt *prompts;    /* Fig 4 */
    int n_prompts;
    int scan_pairs;              /* SCAN_PAIRS_*; 0 (AUTO) by default */
    size_t scan_exact_bytes;     /* AUTO's budget for exact pairs; 0: the default (192 MB) */
    size_t max_memory;           /* the memory budget in bytes (--max-memory); 0: exp_default_budget */
    int part_first, part_end;    /* the parts (Experiment.parts) of a unit that can be split in this
                                    pass, [first, end); end 0: all. Set by experiments_run, which splits
                                    such a unit (the scan: its sources) over several passes over the
                                    rows when its stores do not fit the budget (same results) */
    struct ExpMemory *memory;    /* when not NULL, experiments_run says here how it used the budget */
} ExpInputs;

/* The most tokens a clean-pass batch holds (rows of T tokens: 1024 / T of them, at least
 * one). A product of 1024 rows already runs the matmul at full speed, while every larger
 * batch touches more fresh memory: on gelu-4l at 30 rows (1 thread) batches of 1, 2, 4
 * and 6 rows took 30.0, 32.6, 35.8 and 34.3 CPU-s (BENCHMARKS.md). */
#define EXP_BATCH_TOKENS 1024

/* How a run used its memory budget. What the budget counts: 16 MB for the program itself,
 * the weights and data rows (fixed), the units' stores (samples kept for the whole clean
 * pass, per-batch buffers) and the activations of one batch. The batch is the largest
 * that fits, up to EXP_BATCH_TOKENS tokens (at least one row); the scan is split into
 * passes when it must be; the results depend on neither. */
typedef struct ExpMemory {
    size_t budget;          /* bytes */
    size_t fixed;           /* the program's allowance, weights (with their packed copies), data rows */
    size_t stores;          /* the clean-pass units' stores at the chosen batch (the scan's largest pass) */
    size_t activations;     /* one clean-pass batch's activations */
    size_t row_bytes;       /* activations + per-batch buffers of one more row */
    int batch_rows;         /* rows per clean-pass batch (0: no clean pass) */
    int passes;             /* passes over the rows: more than 1 when the scan is split */
} ExpMemory;

struct PrQueue; /* below */

/* One batch of the clean pass: rows [first_row, first_row + acts->n_rows). */
typedef struct {
    Activations *acts;           /* the clean run of the batch */
    const int *tokens;           /* [n_rows, T] */
    int first_row;
    struct PrQueue *prs;         /* projection ratios asked for, not computed yet (collect_prs_queue) */
} ExpBatch;

/* A file a unit may write, with its line in report.md's file list. */
typedef struct {
    const char *name;
    const char *what;
} ExpOutput;

struct ReportContext; /* report.h */
struct ReportSection;
struct Outputs;

typedef struct {
    const char *name;    /* command name and metric prefix without the dot: "fig2" */
    const char *summary; /* one line for the command list and usage */
    const char *heading; /* report.md section heading */

    /* Clean-pass units (begin != NULL). rows_needed: only the first rows (0: all).
     * A unit that overwrites the batch's activations (Fig 3's patched rerun) runs
     * after the others of each batch, and calls collect_prs_flush before it does. */
    int rows_needed;
    int overwrites_activations;
    /* Checks what the unit needs of the inputs beyond the heads (e.g. row length),
     * before any work; NULL if nothing. Returns 0, or -1 with err. */
    int (*check)(const ExpInputs *in, Error *err);
    /* Allocates the unit's state for a pass over n_rows rows of T tokens, at most
     * batch_rows at a time. Dies on out of memory (as xalloc_array). */
    void *(*begin)(const ExpInputs *in, int n_rows, int T, int batch_rows);
    void (*batch)(void *state, const ExpInputs *in, ExpBatch *b);
    /* Adds the unit's metrics; a unit whose figure plots samples (Fig 5) hands
     * them to points when it is not NULL. */
    void (*finish)(void *state, const ExpInputs *in, Results *res, Points *points);
    void (*end)(void *state);

    /* Units outside the clean pass (Fig 4). Returns 0, or -1 with err. */
    int (*run)(const ExpInputs *in, Results *res, Error *err);

    /* The report: figure files (from the metrics in ctx; a figure whose metrics are
     * absent is not written) and the report.md section. */
    int (*write_figures)(const struct ReportContext *ctx, struct Outputs *out);
    void (*report_section)(const struct ReportContext *ctx, struct ReportSection *section);
    const ExpOutput *outputs;   /* every file write_figures can write, {NULL} last */
    const char *const *figures; /* figure stems, NULL last: "fig3a" is written when fig3a.svg is */

    /* What the unit's metrics depend on (REF_* bits of references.h): a reference value
     * measured under another model, heads, prompts, ... does not apply to them. */
    unsigned depends_on;

    /* The hook points its batch step reads of the clean pass's activations: adds them
     * to req (model.h: hook_request_add; those of hooks_always_kept need no mention).
     * The clean pass keeps the union over the selected units, and nothing else: what no
     * unit asks for is neither stored nor allocated (Fig 3's and Section 3.2's pattern
     * of the cleaners' layer, not every layer's [B,H,T,T] pattern).
     * NULL (a descriptor that does not set it, e.g. positional initialisers written
     * before this field): the clean pass keeps every hook but the attention scores and
     * logits, as it did before units declared theirs. Safe for a unit that reads
     * anything, at the cost of memory; declare the hooks to save it. This field is
     * last so that such descriptors still compile. */
    void (*hooks)(const ExpInputs *in, HookRequest *req);
    /* The bytes begin allocates for a pass over n_rows rows of T tokens, batch_rows at
     * a time (samples kept for the whole pass, per-batch buffers), for the memory budget;
     * NULL: negligible. Also last, for the same reason as hooks. */
    size_t (*memory)(const ExpInputs *in, int n_rows, int T, int batch_rows);
    /* The number of parts its work splits into, each with stores of its own (the scan: one
     * per source): when its stores do not fit the budget, passes over the rows after the
     * first run it alone on further parts (ExpInputs.part_first/part_end; memory counts
     * only those). NULL: it cannot be split. One unit at most sets it. */
    int (*parts)(const ExpInputs *in);
} Experiment;

/* The memory budget when none is given: the fixed costs (program, weights, data rows) plus 44 MB
 * plus 4.5 times the weights (at most 1.125 GB more), so it grows with the model: the planted
 * model's `all` stays under 64 MB of RSS, and gelu-4l's at 300 x 1024 runs in one pass
 * over the rows (1.41 GB; the scan's samples alone are about 790 MB). The clean pass raises it to what the run
 * needs at least (the fixed costs, the stores of every unit but the scan, the scan's
 * largest source, one row, and 8 MB) when that is more. */
size_t exp_default_budget(const Model *m, const Dataset *ds);
/* The fixed costs the budget counts: an allowance of 16 MB for the program itself (code,
 * libraries, thread stacks, tokenizer, scratch), the weights with their packed copies, the
 * data rows. */
size_t exp_fixed_bytes(const Model *m, const Dataset *ds);
/* Bytes of activations a unit outside the clean pass (Fig 4) may use for one batch:
 * the budget max_memory (0: exp_default_budget) less the fixed costs; at least 1. */
size_t exp_batch_bytes(const Model *m, const Dataset *ds, size_t max_memory);

/* The units in the paper's order (bit i of EXP_* selects entry i); *count gets the number. */
const Experiment *const *experiment_list(int *count);
/* The unit named name ("fig2"), or NULL; *bit gets its EXP_* bit when found. */
const Experiment *experiment_find(const char *name, unsigned *bit);
/* EXP_* bits of every unit. */
unsigned experiment_all(void);
/* The REF_* keys a metric depends on: those of the unit its name starts with
 * ("fig2.L2H5.median": fig2), every key for a name of no unit. */
unsigned experiment_depends_on(const char *metric);

/* Runs the units selected by `which` (EXP_* bits) on in, adding their metrics to res:
 * first one clean pass for the clean-pass units, then the others. Fig 5's points go
 * to points when not NULL. Checks every unit's needs before any work. Returns 0,
 * or -1 with err. */
int experiments_run(const ExpInputs *in, unsigned which, Results *res, Points *points, Error *err);

/* The clean pass alone over ds for the clean-pass units in `which`. Returns 0, or -1 with err. */
int exp_clean_pass(const Model *m, const Dataset *ds, const ExpHeads *heads, unsigned which, Results *res,
                   Points *fig5, Error *err);

/* ------------------------------------------------------------------------ */
/* Measurements shared by the units                                          */
/* ------------------------------------------------------------------------ */

/* PR(a, b) = (a.b)/(b.b) over D; NaN when b is zero. Each dot product in double in
 * dot_rows' order (kernels.h: 8 chains along d, combined pairwise), so the projection
 * ratios a unit collects (collect_prs) are this function's values bit for bit. */
double projection_ratio(const float *a, const float *b, int D);
/* DLA of r along u: ((r - mean_D r) / scale) . u, with the ln_final weight folded into
 * the direction when the model is unprocessed (lnf_w not NULL). */
double direct_logit_attribution(const float *r, int D, float scale, const float *lnf_w, const float *u);
/* The largest and second largest of lg[0..V) (first index on ties; *top2 = -1 when V is 1),
 * exactly the indices of the two scans: top1 = 0, then j = 1..V-1 takes top1 if
 * lg[j] > lg[top1]; top2 = -1, then every j != top1 in order takes top2 if top2 < 0 or
 * lg[j] > lg[top2] (NaNs included). */
void logits_top2(const float *lg, int V, int *top1, int *top2);
/* logits_top2's scan in steps over consecutive spans of the logits (computed a block of
 * columns at a time): top2_start with lg[0], then top2_scan on lg[j0..j0+n) for j0 = 1
 * and each next span in order; top1 and top2 are then logits_top2's indices. */
typedef struct {
    int top1, top2;     /* the indices so far (top2 -1: none yet) */
    float v1, v2;       /* lg[top1], lg[top2] */
} Top2Scan;
void top2_start(Top2Scan *s, float lg0);
/* span[0..n) holds lg[j0..j0+n). */
void top2_scan(Top2Scan *s, const float *span, int j0, int n);
/* u[d] = W_U[d, c] - W_U[d, i] (i < 0: just the column c). */
void unembed_direction(const Model *m, int c, int i, float *u);
/* The same for n directions into u [n, D]: u[p] = W_U[:, c[p]] - W_U[:, i[p]] (i NULL or
 * i[p] < 0: the column c[p]). W_U is read a block of its rows at a time, each block once
 * for all n while in cache (a column's elements lie d_vocab floats apart: gathered one
 * direction at a time, every element was a miss of its own); threads share the blocks. */
void unembed_directions(const Model *m, const int *c, const int *i, int n, float *u);

/* Parses "L0H2" into layer and head, checked against the model; -1 with err otherwise. */
int parse_head(const Model *m, const char *s, int *layer, int *head, Error *err);
/* Parses "L2H2,L2H3" into hd's cleaners (all in one layer, which becomes the patched layer). */
int parse_cleaners(const Model *m, const char *list, ExpHeads *hd, Error *err);
/* Checks the configured heads exist and the writer's layer is below the cleaners'. */
int exp_heads_check(const Model *m, const ExpHeads *heads, Error *err);

/* Residual locations of docs/PROTOCOL.md section 3, in order: resid_pre0, resid_mid0, resid_post0,
 * ..., resid_post{L-1}; attention-only blocks have no resid_mid (TransformerLens creates
 * no hook_resid_mid for them): resid_pre0, resid_post0, ... */
int resid_location_count(int n_layers, int attn_only);
void resid_location_name(int attn_only, int k, char *buf, size_t size);
/* The [B,T,D] array of location k in a batch's activations. */
const float *resid_location_data(const Model *m, const Activations *a, int k);
/* Asks req for the residual locations' hooks (hook_resid_mid of every block; the others are always kept). */
void exp_hooks_resid_locations(const Model *m, HookRequest *req);
/* The hooks the clean pass keeps for the clean-pass units in `which` (EXP_* bits): the
 * union of their declarations (every hook but scores and logits if one has none). */
void exp_clean_pass_hooks(const ExpInputs *in, unsigned which, HookRequest *req);
/* out [D] = 0 + the cleaners' hook_result at (b, t), added in hd's order (the summed
 * cleaner of Fig 2, the cleaners' actual output of Section 3.2). */
void cleaners_output(float *out, const Model *m, const ExpHeads *hd, const Activations *a, int b, int t);
/* "L2H5" */
void head_label(char *buf, size_t size, int l, int h);

/* n Samples, each with room for `reserve` values up front (the pass knows how many it
 * will add, so the lists never grow by doubling). Free with samples_array_free. */
Samples *samples_array(size_t n, size_t reserve);
void samples_array_free(Samples *s, size_t n);
/* Adds NAME.median, NAME.q12_5 and NAME.q87_5 of s (with their standard errors). */
void add_quantiles3(Results *res, const char *name, Samples *s);
/* Those three quantiles and suffixes, for results_add_quantiles_of. */
extern const double quantiles3[3];
extern const char *const quantiles3_names[3];

/* The projection ratios a unit takes at every position of a batch. At each position the
 * unit names n_vectors vectors (PositionVectors); the plan groups them: group g projects
 * each of its targets onto its direction, and its values are numbered start[g] ..
 * start[g+1]-1 in target order. Every position gets the same plan (the same groups): a
 * run of groups with the same targets is one dot_rows call a position (kernels.h). */
typedef struct {
    int n_vectors;
    int n_groups, n_values;
    int *direction; /* [n_groups] */
    int *start;     /* [n_groups + 1] */
    int *target;    /* [n_values] */
    int cap_groups, cap_values;
} PrPlan;

/* An empty plan over n_vectors vectors per position, with room for max_groups groups of
 * max_values values in all (more is an internal error). */
void pr_plan_init(PrPlan *p, int n_vectors, int max_groups, int max_values);
/* Starts a group projecting onto vector `direction`; pr_plan_target adds its targets. */
void pr_plan_group(PrPlan *p, int direction);
void pr_plan_target(PrPlan *p, int vector);
/* A plan of one group: vectors 0..n-1 projected onto vector n (n + 1 vectors a position). */
void pr_plan_onto_last(PrPlan *p, int n);
void pr_plan_free(PrPlan *p);

/* The vectors of position (b, t) into vec[0..n_vectors) (pointers into the activations,
 * or into scratch: d_model floats of the caller's, for one vector the unit computes,
 * valid until the next call with the same scratch). The queue merges plans by these
 * pointers: two vectors (of one plan or two) that are the same array at a batch's first
 * position are read once, so they must be the same array at every position (a hook's
 * row, as every unit's are; an internal error otherwise). */
typedef void (*PositionVectors)(const void *ctx, const Activations *a, int b, int t, const float **vec,
                                float *scratch);

/* The plan's values at every (b, t) of the batch, computed in parallel: value s at a
 * position is (float)projection_ratio(target, direction, D), bit for bit, and is
 * appended to targets[s] (plan->n_values distinct Samples: the threads append to
 * different ones at once) in (b, t) order: each Samples receives the same values in the
 * same order whatever the thread count. */
void collect_prs(const Model *m, const Activations *a, const PrPlan *plan, PositionVectors fn, const void *ctx,
                 Samples *const *targets);

/* The projection ratios of several plans on one batch, computed together by
 * collect_prs_flush as one merged plan: a vector several plans read (Figs 1, 2, 3 and the
 * scan read the same hooks) is converted once per block of positions, and a (direction,
 * target) pair several plans ask for (Fig 1's and Fig 3's clean values are among the
 * scan's) is computed once. Each plan's values are collect_prs's, bit for bit, appended
 * in the same order. */
#define EXP_MAX_QUEUED 8
typedef struct PrQueue {
    int n;
    struct {
        const PrPlan *plan;
        PositionVectors fn;
        const void *ctx;
        Samples *const *targets;
    } req[EXP_MAX_QUEUED];
} PrQueue;

/* Adds collect_prs(m, b->acts, plan, fn, ctx, targets) to the batch's queue, computed at
 * the next collect_prs_flush (the clean pass flushes after every unit's batch step; a unit
 * that overwrites the activations flushes before it does); plan, ctx and targets must
 * live until then. A batch without a queue (b->prs NULL) computes it now. */
void collect_prs_queue(const Model *m, ExpBatch *b, const PrPlan *plan, PositionVectors fn, const void *ctx,
                       Samples *const *targets);
/* Computes and empties the batch's queue. */
void collect_prs_flush(const Model *m, ExpBatch *b);

/* Work buffers of v_composition for rows of up to T positions. */
typedef struct {
    float *x, *y, *z, *v, *tmp; /* [T,D] [T,dh] [T,dh] [T,D] [T,D] */
} VCompBuffers;
void vcomp_alloc(VCompBuffers *w, const Model *m, int T);
/* The bytes vcomp_alloc allocates (for the units' memory budget). */
size_t vcomp_bytes(const Model *m, int T);
void vcomp_free(VCompBuffers *w);
/* V-composition of the writer through the cleaners for positions [from, from+n) of row b
 * of the batch: w->v[i] = sum_c x[i] W_V[c] W_O[c] with x[i] = writer[i] / s2[i] (ln1 of
 * the patched layer, its weight when unprocessed), no biases. With attention_weighted
 * (Section 3.2), x is first mixed by the clean pattern: sum_{j<=i} A_c[i,j] x[j] (from = 0). */
void v_composition(VCompBuffers *w, const Model *m, const ExpHeads *hd, const Activations *a, int b, int from, int n,
                   int attention_weighted);

/* ------------------------------------------------------------------------ */
/* Fig 4's prompts                                                           */
/* ------------------------------------------------------------------------ */

/* A prompt's tokens (BOS first) and its two answers as single ids. */
typedef struct {
    int *tokens;
    int n;
    int correct, incorrect;
} PromptTokens;

/* The paper's four prompts (docs/PROTOCOL.md section 5.4, Fig 4). */
const AdvPrompt *exp_paper_prompts(int *count);
/* Tokenizes prompt k (1-based, for messages) with BOS prepended and checks it fits
 * max_len tokens and its answers are single tokens. Free pt->tokens. */
int exp_tokenize_prompt(const Model *m, Tokenizer *tok, const AdvPrompt *p, int k, int max_len, PromptTokens *pt,
                        Error *err);
/* Fig 4 on the given prompts: logit difference, top-2 check, clean DLA of the writer
 * and the prompt's other head, and their DLA when the head's input at the last
 * position comes from each dataset row. Returns 0, or -1 with err. */
int exp_fig4(const Model *m, const Dataset *ds, const ExpHeads *heads, Tokenizer *tok, const AdvPrompt *prompts,
             int n_prompts, Results *res, Error *err, size_t max_memory);
/* Fig 4 for one tokenized prompt, metrics fig4.p{k}.*: the writer's and the other
 * head's clean DLA at the last position, and their patched DLA with each dataset
 * row (truncated to the prompt's length) supplying the head's input there. */
int exp_fig4_prompt(const Model *m, const Dataset *ds, const ExpHeads *heads, const PromptTokens *pt, int other_layer,
                    int other_head, int k, Results *res, Error *err, size_t max_memory);

/* The units (exp_*.c). */
extern const Experiment experiment_fig1, experiment_fig2, experiment_fig3, experiment_fig4, experiment_fig5,
    experiment_sec32, experiment_scan;

/* Fig 3's patched rerun (exp_fig3.c): from patched_layer, every head of it reading
 * patch_resid [B,T,D] (resid_pre - the writer's output) as its value input, normalised
 * with the frozen clean scale patch_scale [B,T]; queries, keys and the pattern the clean
 * run's (kept in the activations), no logits. bench.c times the same rerun. */
ForwardOptions fig3_rerun_options(int patched_layer, const float *patch_resid, const float *patch_scale);

#endif
