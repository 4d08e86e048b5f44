/* data.h - dataset rows for the experiments (docs/PROTOCOL.md section 4).
 *
 * Accepted inputs, detected from the content:
 *   - JSONL, one object per line: {"tokens":[id,...]} (rows already start with BOS);
 *   - the JSON a datasets-server /rows request returns:
 *     {"rows":[{"row_idx":0,"row":{"tokens":[...]}, "truncated_cells":[]}, ...]};
 *   - raw text: JSONL {"text":"..."} (one document per line), or any other file as plain
 *     text with one document per line (as datasets' "text" loader reads it). A file whose
 *     first non-blank line starts with '{' is JSONL: that line must parse and hold "tokens"
 *     or a "text" string, so a damaged token file is refused instead of read as text. Documents are
 *     tokenized and cut into rows like TransformerLens' tokenize_and_concatenate.
 */
#ifndef CLEANUP_DATA_H
#define CLEANUP_DATA_H

#include "tokenizer.h"
#include "util.h"

typedef struct {
    int *tokens;   /* [n_rows, seq_len] row-major */
    int n_rows, seq_len;
    const char *format; /* "tokens-jsonl", "rows-json", "text-jsonl", "text" */
} Dataset;

/* Loads the first n_rows rows of `path`, each truncated to seq_len tokens.
 * Errors (naming the file and the line or row): fewer than n_rows rows, a row
 * shorter than seq_len, an id outside [0, d_vocab), malformed JSON.
 * Raw text needs `tok` (NULL: error saying a tokenizer.json is needed) and is chunked
 * with chunk_len = n_ctx tokens per row (n_ctx - 1 text tokens after BOS) before
 * truncation to seq_len. Returns 0, or -1 with err. */
int data_load(const char *path, int n_rows, int seq_len, int n_ctx, int d_vocab, Tokenizer *tok, Dataset *ds,
              Error *err);
void data_free(Dataset *ds);

/* Like data_load over several files: every file's rows (up to n_rows each) are mixed
 * in proportion to the files' row counts (row k comes from the file furthest behind
 * its share), then the first n_rows are kept. With 240 C4 and 60 code rows, every
 * fifth row is code, as in the authors' shuffled mix on average. One file: data_load. */
int data_load_files(char *const *paths, int n_paths, int n_rows, int seq_len, int n_ctx, int d_vocab, Tokenizer *tok,
                    Dataset *ds, Error *err);

/* The data files of a model directory: DIR/data.jsonl if it exists, else every
 * DIR/rows-*.json (datasets-server answers, as `make fetch` saves them) in name order.
 * *paths is malloc'ed (free each and the array). */
int data_find_files(const char *dir, char ***paths, int *n_paths, Error *err);

/* TransformerLens tokenize_and_concatenate on one batch of documents (the
 * datasets library maps it over batches of 1000): the documents are joined with
 * the EOS token's text, the joined text is cut into 20 pieces of equal length in
 * code points, each piece is tokenized, PAD ids are dropped, the ids are cut into
 * rows of chunk_len - 1 (the remainder dropped) and BOS is prepended to each row.
 * Appends the rows to *rows (a growable [*n_rows, chunk_len] array with capacity
 * *cap_rows rows), stopping once max_rows rows exist. */
int data_tokenize_and_concatenate(Tokenizer *tok, const char *const *docs, const size_t *doc_lens, size_t n_docs,
                                  int chunk_len, int max_rows, int **rows, int *n_rows, int *cap_rows, Error *err);

#endif
