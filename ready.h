/* ready.h - "is this model directory ready to reproduce the paper?": the checks behind
 * `cleanup info`, as a checklist the CLI prints (the library never prints).
 *
 * model      config.json reads; the weights load (every tensor the config implies,
 *            each of its shape, every value finite); identity from the weights
 *            (identity.h): gelu-4l's shape with other weights FAILS (`all` would
 *            check the paper's numbers on a model that is not the paper's);
 * tokenizer  DIR/tokenizer.json loads; its ids fit d_vocab; it has a BOS id inside
 *            d_vocab; the paper's four Fig 4 prompts encode within the row length
 *            with single-token answers;
 * data       the rows `all` would read (DIR/data.jsonl or DIR/rows-*.json, or --data)
 *            are there: n_rows of seq_len tokens, ids in [0, d_vocab), each row
 *            starting with the BOS id.
 * Ready means no item failed: `cleanup all` on the same options runs every
 * experiment on inputs of the right kind.
 */
#ifndef CLEANUP_READY_H
#define CLEANUP_READY_H

#include "identity.h"
#include "model.h"
#include "util.h"

typedef enum {
    READY_OK,   /* checked and fine */
    READY_FAIL, /* checked and wrong: not ready */
    READY_NOTE  /* information, or not checked because an earlier item failed */
} ReadyStatus;

typedef struct {
    const char *group; /* "model", "tokenizer", "data" */
    const char *what;  /* "config", "weights", "identity", "loads", ... */
    ReadyStatus status;
    int code;          /* EXIT_* of a failure (its Error's code) */
    char detail[1100];
} ReadyItem;

#define READY_MAX_ITEMS 12

typedef struct {
    ReadyItem item[READY_MAX_ITEMS];
    int n;
    int ready;          /* 1 if no item failed */
    int first_failure;  /* index of the first failed item, -1 if none */
    int model_loaded;   /* the Model passed to ready_check holds the loaded model: model_free it */
    ModelIdentity identity; /* valid when model_loaded */
} ReadyReport;

typedef struct {
    const char *model_dir;   /* the model directory */
    const char *weights;     /* weights file, or NULL to search model_dir */
    const char *data;        /* data file or directory, or NULL for model_dir */
    int process;             /* 1: TransformerLens processing, as `all` does by default */
    int bos;                 /* BOS id, or -1 for the tokenizer's */
    int n_rows;              /* rows `all` would read (its default: 300) */
    int seq_len;             /* tokens per row, or 0 for n_ctx */
    int model_only;          /* 1: check the model alone (no tokenizer, no data) */
} ReadyOptions;

/* Runs every check in the order above into *r and loads the model into *m (when
 * r->model_loaded, the caller frees it with model_free). Never prints; every problem
 * of the inputs, however bad, becomes a failed item (with its Error's exit code). */
void ready_check(const ReadyOptions *opt, Model *m, ReadyReport *r);

#endif
