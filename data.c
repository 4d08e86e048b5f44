/* data.c - see data.h. */
#include "data.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

/* Largest data file read (the paper's 300 x 1024 rows are about 2 MB as JSONL). */
#define DATA_MAX_BYTES ((size_t)1 << 30)
/* Documents per tokenize_and_concatenate batch: datasets' Dataset.map default. */
#define TEXT_BATCH_DOCS 1000
/* Pieces the joined text is cut into before tokenizing (TransformerLens' num_chunks). */
#define TEXT_PIECES 20

/* Growable row store shared by every format. */
typedef struct {
    int *rows;
    int n_rows, cap_rows, row_len;
} RowStore;

static int rows_reserve(int **rows, int *cap_rows, int need, int row_len, Error *err) {
    int ncap;
    int *nr;
    size_t bytes;
    if (need <= *cap_rows) return 0;
    ncap = *cap_rows ? *cap_rows : 16;
    while (ncap < need) ncap = ncap > (1 << 28) ? need : ncap * 2;
    if (size_mul((size_t)ncap, (size_t)row_len, &bytes) || size_mul(bytes, sizeof(int), &bytes))
        return error_set_code(err, EXIT_INTERNAL, "data: too many rows");
    nr = realloc(*rows, bytes);
    if (!nr) return error_set_code(err, EXIT_INTERNAL, "out of memory reading data rows");
    *rows = nr;
    *cap_rows = ncap;
    return 0;
}

/* Copies one JSON array of token ids (truncated to seq_len) into the store.
 * `where` names the row for messages ("FILE: line 12" / "FILE: rows[3]"). */
static int add_token_row(RowStore *st, const JsonValue *arr, int d_vocab, const char *where, Error *err) {
    int j;
    int *dst;
    if (!arr || arr->type != JSON_ARRAY) return error_set(err, "%s: \"tokens\" is missing or not an array", where);
    if (arr->count < (size_t)st->row_len)
        return error_set(err, "%s: row has %zu tokens, fewer than the %d asked (--seq-len)", where, arr->count,
                         st->row_len);
    if (rows_reserve(&st->rows, &st->cap_rows, st->n_rows + 1, st->row_len, err)) return -1;
    dst = st->rows + (size_t)st->n_rows * (size_t)st->row_len;
    for (j = 0; j < st->row_len; j++) {
        long long id;
        if (!json_as_int(&arr->items[j], &id))
            return error_set(err, "%s: token %d is not an integer", where, j);
        if (id < 0 || id >= d_vocab)
            return error_set(err, "%s: token %d is id %lld, outside the vocabulary [0, %d)", where, j, id, d_vocab);
        dst[j] = (int)id;
    }
    st->n_rows++;
    return 0;
}

/* Number of UTF-8 code points in s[0..len) (bytes that are not continuation bytes). */
static size_t count_code_points(const char *s, size_t len) {
    size_t i, n = 0;
    for (i = 0; i < len; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80) n++;
    return n;
}

/* Byte offset of code point number `cp` in s[0..len) (len if past the end). */
static size_t code_point_offset(const char *s, size_t len, size_t cp) {
    size_t i, n = 0;
    for (i = 0; i < len; i++) {
        if (((unsigned char)s[i] & 0xC0) != 0x80) {
            if (n == cp) return i;
            n++;
        }
    }
    return len;
}

int data_tokenize_and_concatenate(Tokenizer *tok, const char *const *docs, const size_t *doc_lens, size_t n_docs,
                                  int chunk_len, int max_rows, int **rows, int *n_rows, int *cap_rows, Error *err) {
    int eos = tokenizer_eos_id(tok), bos = tokenizer_bos_id(tok), pad = tokenizer_pad_id(tok);
    char *eos_text = NULL, *joined = NULL;
    size_t eos_len = 0, total = 0, i, n_cp, piece_cp, pos;
    int *ids = NULL;
    size_t n_ids = 0, cap_ids = 0;
    int text_len = chunk_len - 1, rc = -1, p;

    if (eos < 0) return error_set(err, "tokenizer: no EOS token to join documents with");
    if (bos < 0) return error_set(err, "tokenizer: no BOS token to start rows with (pass --bos ID)");
    if (text_len < 1) return error_set(err, "data: rows of %d tokens leave no room after BOS", chunk_len);
    if (tokenizer_decode(tok, &eos, 1, &eos_text, &eos_len, err)) return -1;
    for (i = 0; i < n_docs; i++) total += doc_lens[i] + (i ? eos_len : 0);
    joined = malloc(total + 1);
    if (!joined) goto oom;
    for (i = 0, pos = 0; i < n_docs; i++) {
        if (i) {
            memcpy(joined + pos, eos_text, eos_len);
            pos += eos_len;
        }
        memcpy(joined + pos, docs[i], doc_lens[i]);
        pos += doc_lens[i];
    }
    joined[total] = '\0';
    /* Python: chunk_length = (len(full_text) - 1) // num_chunks + 1, in code points. */
    n_cp = count_code_points(joined, total);
    piece_cp = n_cp ? (n_cp - 1) / TEXT_PIECES + 1 : 1;
    for (p = 0; p < TEXT_PIECES; p++) {
        size_t a = code_point_offset(joined, total, (size_t)p * piece_cp);
        size_t b = code_point_offset(joined, total, (size_t)(p + 1) * piece_cp);
        int *piece = NULL;
        size_t n_piece = 0, k;
        if (a >= b) continue;
        if (tokenizer_encode(tok, joined + a, b - a, &piece, &n_piece, err)) goto done;
        if (n_ids + n_piece > cap_ids) {
            size_t ncap = (n_ids + n_piece) * 2;
            int *ni = realloc(ids, ncap * sizeof *ids);
            if (!ni) {
                free(piece);
                goto oom;
            }
            ids = ni;
            cap_ids = ncap;
        }
        for (k = 0; k < n_piece; k++)
            if (piece[k] != pad) ids[n_ids++] = piece[k]; /* padding removal drops PAD ids */
        free(piece);
    }
    for (pos = 0; pos + (size_t)text_len <= n_ids && *n_rows < max_rows; pos += (size_t)text_len) {
        int *dst;
        if (rows_reserve(rows, cap_rows, *n_rows + 1, chunk_len, err)) goto done;
        dst = *rows + (size_t)*n_rows * (size_t)chunk_len;
        dst[0] = bos;
        memcpy(dst + 1, ids + pos, (size_t)text_len * sizeof *ids);
        (*n_rows)++;
    }
    rc = 0;
    goto done;
oom:
    error_set_code(err, EXIT_INTERNAL, "out of memory tokenizing data");
done:
    free(eos_text);
    free(joined);
    free(ids);
    return rc;
}

/* Raw-text documents collected batch by batch, tokenized as TransformerLens does. */
typedef struct {
    const char *docs[TEXT_BATCH_DOCS];
    size_t lens[TEXT_BATCH_DOCS];
    char *owned[TEXT_BATCH_DOCS]; /* JSON-decoded strings kept alive until the batch is tokenized */
    int n;
    int *chunks; /* [n_chunks, n_ctx] */
    int n_chunks, cap_chunks;
} TextBatch;

static int text_flush(TextBatch *tb, Tokenizer *tok, int n_ctx, int max_rows, Error *err) {
    int i, rc = 0;
    if (tb->n > 0)
        rc = data_tokenize_and_concatenate(tok, tb->docs, tb->lens, (size_t)tb->n, n_ctx, max_rows, &tb->chunks,
                                           &tb->n_chunks, &tb->cap_chunks, err);
    for (i = 0; i < tb->n; i++) free(tb->owned[i]);
    tb->n = 0;
    return rc;
}

/* Adds one document; tokenizes the batch when it is full. `owned` is freed after use. */
static int text_add(TextBatch *tb, const char *doc, size_t len, char *owned, Tokenizer *tok, int n_ctx, int max_rows,
                    Error *err) {
    tb->docs[tb->n] = doc;
    tb->lens[tb->n] = len;
    tb->owned[tb->n] = owned;
    tb->n++;
    if (tb->n == TEXT_BATCH_DOCS) return text_flush(tb, tok, n_ctx, max_rows, err);
    return 0;
}

/* Moves the text rows (n_ctx long) into the store, truncated to its row length. */
static int text_rows_to_store(TextBatch *tb, RowStore *st, int n_ctx, int d_vocab, const char *path, Error *err) {
    int r, j;
    for (r = 0; r < tb->n_chunks; r++) {
        const int *src = tb->chunks + (size_t)r * (size_t)n_ctx;
        if (rows_reserve(&st->rows, &st->cap_rows, st->n_rows + 1, st->row_len, err)) return -1;
        for (j = 0; j < st->row_len; j++)
            if (src[j] < 0 || src[j] >= d_vocab)
                return error_set(err, "%s: text row %d: token id %d is outside the model's vocabulary [0, %d)", path,
                                 r, src[j], d_vocab);
        memcpy(st->rows + (size_t)st->n_rows * (size_t)st->row_len, src, (size_t)st->row_len * sizeof(int));
        st->n_rows++;
    }
    return 0;
}

/* Messages from the tokenizer do not know the file: put its name in front (once). */
static void name_the_file(Error *err, const char *path) {
    char msg[sizeof err->msg];
    size_t n = strlen(path);
    if (!err || (strncmp(err->msg, path, n) == 0 && err->msg[n] == ':')) return;
    snprintf(msg, sizeof msg, "%s: %.900s", path, err->msg);
    memcpy(err->msg, msg, sizeof msg);
}

static const char *skip_ws(const char *s, const char *end) {
    while (s < end && (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')) s++;
    return s;
}

/* data_load's body; with allow_fewer, fewer than n_rows rows is not an error
 * (ds->n_rows says how many there were). */
static int load_rows(const char *path, int n_rows, int allow_fewer, int seq_len, int n_ctx, int d_vocab, Tokenizer *tok,
                     Dataset *ds, Error *err) {
    unsigned char *data = NULL;
    size_t len;
    const char *text, *end, *line;
    RowStore st;
    TextBatch *tb = NULL;
    JsonValue *whole = NULL;
    int line_no = 0, mode = 0; /* 0 unknown, 1 tokens JSONL, 2 text JSONL, 3 plain text */
    char where[1200];

    memset(ds, 0, sizeof *ds);
    memset(&st, 0, sizeof st);
    st.row_len = seq_len;
    if (n_rows < 1 || seq_len < 1) return error_set(err, "%s: asked for %d rows of %d tokens", path, n_rows, seq_len);
    if (seq_len > n_ctx) return error_set(err, "--seq-len %d is longer than the model's n_ctx %d", seq_len, n_ctx);
    if (read_file(path, DATA_MAX_BYTES, &data, &len, err)) return -1;
    text = (const char *)data;
    end = text + len;

    /* A single JSON document holding "rows" is a datasets-server /rows answer. */
    line = skip_ws(text, end);
    if (line < end && *line == '{') {
        Error ignored;
        whole = json_parse(text, len, path, &ignored);
        if (whole && json_get(whole, "rows")) {
            const JsonValue *rows_v = json_get(whole, "rows");
            size_t r;
            if (rows_v->type != JSON_ARRAY) {
                error_set(err, "%s: \"rows\" is not an array", path);
                goto fail;
            }
            for (r = 0; r < rows_v->count && st.n_rows < n_rows; r++) {
                const JsonValue *row = json_get(&rows_v->items[r], "row");
                const JsonValue *trunc = json_get(&rows_v->items[r], "truncated_cells");
                snprintf(where, sizeof where, "%s: rows[%zu]", path, r);
                if (!row || row->type != JSON_OBJECT) {
                    error_set(err, "%s: no \"row\" object", where);
                    goto fail;
                }
                if (trunc && trunc->type == JSON_ARRAY && trunc->count > 0) {
                    error_set(err, "%s: the server truncated this row's cells; request rows without truncation", where);
                    goto fail;
                }
                if (add_token_row(&st, json_get(row, "tokens"), d_vocab, where, err)) goto fail;
            }
            ds->format = "rows-json";
            goto finish;
        }
    }
    json_free(whole);
    whole = NULL;

    /* Otherwise line by line: JSONL of {"tokens":...} or {"text":...}, else plain text. */
    for (line = text; line < end && st.n_rows < n_rows;) {
        const char *nl = memchr(line, '\n', (size_t)(end - line));
        const char *stop = nl ? nl : end;
        size_t llen = (size_t)(stop - line);
        line_no++;
        if (llen > 0 && line[llen - 1] == '\r') llen--;
        if (mode == 0) {
            const char *s = skip_ws(line, line + llen);
            if (s == line + llen) { /* blank first lines: decide on the first non-blank one */
                line = nl ? nl + 1 : end;
                continue;
            }
            mode = 3;
            if (*s == '{') {
                /* A first line that looks like JSON must be a row: a damaged token file must
                 * not silently run on the text of its own JSON. */
                Error why;
                JsonValue *v;
                snprintf(where, sizeof where, "%s: line %d", path, line_no);
                v = json_parse(line, llen, where, &why);
                if (v && json_get(v, "tokens")) mode = 1;
                else if (v && json_as_string(json_get(v, "text"))) mode = 2;
                json_free(v);
                if (mode == 3) {
                    if (v) error_set(err, "%s: a JSON object without \"tokens\" or a \"text\" string", where);
                    else error_set(err, "%s (a data file whose first line starts with '{' must be JSONL rows)", why.msg);
                    goto fail;
                }
            }
            if (mode == 3) { /* plain text: every line is a document, from the first one */
                line_no = 0;
                line = text;
            }
            if (mode >= 2) {
                if (!tok) {
                    error_set(err, "%s: raw text needs the model's tokenizer.json to be tokenized", path);
                    goto fail;
                }
                tb = calloc(1, sizeof *tb);
                if (!tb) {
                    error_set_code(err, EXIT_INTERNAL, "out of memory");
                    goto fail;
                }
            }
            if (mode == 3) continue;
        }
        snprintf(where, sizeof where, "%s: line %d", path, line_no);
        if (mode == 1) {
            JsonValue *v;
            if (skip_ws(line, line + llen) == line + llen) { /* blank lines between rows are allowed */
                line = nl ? nl + 1 : end;
                continue;
            }
            v = json_parse(line, llen, where, err);
            if (!v) goto fail;
            if (add_token_row(&st, json_get(v, "tokens"), d_vocab, where, err)) {
                json_free(v);
                goto fail;
            }
            json_free(v);
        } else if (mode == 2) {
            JsonValue *v;
            const JsonValue *t;
            char *copy;
            size_t doc_len;
            if (skip_ws(line, line + llen) == line + llen) {
                line = nl ? nl + 1 : end;
                continue;
            }
            v = json_parse(line, llen, where, err);
            if (!v) goto fail;
            t = json_get(v, "text");
            if (!json_as_string(t)) {
                json_free(v);
                error_set(err, "%s: no \"text\" string", where);
                goto fail;
            }
            copy = malloc(t->len + 1);
            if (!copy) {
                json_free(v);
                error_set_code(err, EXIT_INTERNAL, "out of memory");
                goto fail;
            }
            memcpy(copy, t->str, t->len + 1);
            doc_len = t->len; /* t belongs to v: read it before freeing v */
            json_free(v);
            if (text_add(tb, copy, doc_len, copy, tok, n_ctx, n_rows - st.n_rows, err)) goto fail;
        } else {
            size_t bad;
            if (!nl && llen == 0) break; /* no empty document after the final newline */
            bad = utf8_first_invalid((const unsigned char *)line, llen);
            if (bad < llen) {
                error_set(err, "%s: line %d: byte %lu is not valid UTF-8 (0x%02X); text data must be UTF-8", path,
                          line_no, (unsigned long)bad, (unsigned)(unsigned char)line[bad]);
                goto fail;
            }
            if (text_add(tb, line, llen, NULL, tok, n_ctx, n_rows - st.n_rows, err)) goto fail;
        }
        if (tb && tb->n_chunks > 0) {
            if (text_rows_to_store(tb, &st, n_ctx, d_vocab, path, err)) goto fail;
            tb->n_chunks = 0;
        }
        line = nl ? nl + 1 : end;
    }
    if (tb) {
        if (text_flush(tb, tok, n_ctx, n_rows - st.n_rows, err)) goto fail;
        if (text_rows_to_store(tb, &st, n_ctx, d_vocab, path, err)) goto fail;
    }
    ds->format = mode == 1 ? "tokens-jsonl" : mode == 2 ? "text-jsonl" : "text";

finish:
    if (st.n_rows < n_rows && !(allow_fewer && st.n_rows > 0)) {
        if (tb)
            error_set(err, "%s: the text makes only %d rows of %d tokens, %d asked (--rows)", path, st.n_rows,
                      n_ctx, n_rows);
        else
            error_set(err, "%s: only %d rows, %d asked (--rows)", path, st.n_rows, n_rows);
        goto fail;
    }
    ds->tokens = st.rows;
    ds->n_rows = st.n_rows < n_rows ? st.n_rows : n_rows;
    ds->seq_len = seq_len;
    json_free(whole);
    if (tb) {
        free(tb->chunks);
        free(tb);
    }
    free(data);
    return 0;
fail:
    if (tb) {
        int i;
        for (i = 0; i < tb->n; i++) free(tb->owned[i]);
        free(tb->chunks);
        free(tb);
    }
    json_free(whole);
    free(st.rows);
    free(data);
    memset(ds, 0, sizeof *ds);
    name_the_file(err, path);
    return -1;
}

int data_load(const char *path, int n_rows, int seq_len, int n_ctx, int d_vocab, Tokenizer *tok, Dataset *ds,
              Error *err) {
    return load_rows(path, n_rows, 0, seq_len, n_ctx, d_vocab, tok, ds, err);
}

int data_load_files(char *const *paths, int n_paths, int n_rows, int seq_len, int n_ctx, int d_vocab, Tokenizer *tok,
                    Dataset *ds, Error *err) {
    Dataset *parts;
    int *taken, i, k, total = 0, rc = -1;
    if (n_paths == 1) return data_load(paths[0], n_rows, seq_len, n_ctx, d_vocab, tok, ds, err);
    memset(ds, 0, sizeof *ds);
    if (n_paths < 1) return error_set(err, "data: no files given");
    parts = xalloc_array((size_t)n_paths, sizeof *parts, "data files");
    taken = xalloc_array((size_t)n_paths, sizeof *taken, "data files");
    for (i = 0; i < n_paths; i++) {
        if (load_rows(paths[i], n_rows, 1, seq_len, n_ctx, d_vocab, tok, &parts[i], err)) goto done;
        total += parts[i].n_rows;
    }
    if (total < n_rows) {
        error_set(err, "%s and %d other file(s): only %d rows in total, %d asked (--rows)", paths[0], n_paths - 1,
                  total, n_rows);
        goto done;
    }
    ds->tokens = xalloc_array((size_t)n_rows * (size_t)seq_len, sizeof(int), "data rows");
    ds->n_rows = n_rows;
    ds->seq_len = seq_len;
    ds->format = parts[0].format;
    /* Row k comes from the file furthest behind its share (k+1) count_i / total: the
     * files are mixed in proportion, as a shuffle would on average. */
    for (k = 0; k < n_rows; k++) {
        int best = -1;
        double best_deficit = 0;
        for (i = 0; i < n_paths; i++) {
            double deficit = (double)(k + 1) * parts[i].n_rows / total - taken[i];
            if (taken[i] < parts[i].n_rows && (best < 0 || deficit > best_deficit)) {
                best = i;
                best_deficit = deficit;
            }
        }
        memcpy(ds->tokens + (size_t)k * seq_len, parts[best].tokens + (size_t)taken[best] * seq_len,
               (size_t)seq_len * sizeof(int));
        taken[best]++;
    }
    rc = 0;
done:
    for (i = 0; i < n_paths; i++) data_free(&parts[i]);
    free(parts);
    free(taken);
    return rc;
}

int data_find_files(const char *dir, char ***paths, int *n_paths, Error *err) {
    char **names;
    int count, i, n = 0;
    char *single = path_join(dir, "data.jsonl");
    *paths = NULL;
    *n_paths = 0;
    if (path_exists(single)) {
        *paths = xalloc_array(1, sizeof **paths, "paths");
        (*paths)[0] = single;
        *n_paths = 1;
        return 0;
    }
    free(single);
    if (list_dir(dir, &names, &count, err)) return -1;
    *paths = xalloc_array((size_t)(count ? count : 1), sizeof **paths, "paths");
    for (i = 0; i < count; i++)
        if (strncmp(names[i], "rows-", 5) == 0 && ends_with(names[i], ".json")) (*paths)[n++] = path_join(dir, names[i]);
    free_string_list(names, count);
    if (n == 0) {
        free(*paths);
        *paths = NULL;
        return error_set(err, "%s: no data.jsonl and no rows-*.json files (pass --data FILE)", dir);
    }
    *n_paths = n;
    return 0;
}

void data_free(Dataset *ds) {
    free(ds->tokens);
    memset(ds, 0, sizeof *ds);
}
