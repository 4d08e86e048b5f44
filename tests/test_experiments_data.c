/* test_experiments_data.c - data.c: the three input formats, truncation, and the errors
 * the experiments promise (fewer rows than asked, short rows, ids outside the
 * vocabulary, malformed lines), each naming the file and the line or row.
 * Raw text is checked with the GPT-NeoX tokenizer of ../shared when present: the ids
 * after each row's BOS must decode back to the documents joined with EOS (decoding
 * inverts encoding whatever the chunking), rows hold n_ctx tokens, and their number is
 * floor(tokens / (n_ctx - 1)).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "data.h"

static const char *TMP = "test_experiments_data.tmp";

static void write_text(const char *path, const char *text) {
    Error err;
    if (write_file_atomic(path, text, strlen(text), &err)) {
        printf("cannot write %s: %s\n", path, err.msg);
        exit(1);
    }
}

/* Loads `text` as a data file; returns data_load's status with the message in err. */
static int load(const char *text, int rows, int seq_len, Dataset *ds, Error *err) {
    write_text(TMP, text);
    memset(err, 0, sizeof *err);
    return data_load(TMP, rows, seq_len, 16, 100, NULL, ds, err);
}

static void test_tokens_jsonl(void) {
    Dataset ds;
    Error err;
    const char *three = "{\"tokens\":[1,5,6,7,8,9]}\n\n{\"tokens\":[1,10,11,12,13,14]}\n{\"tokens\":[1,2,3,4,5,6]}\n";
    CHECK(load(three, 2, 5, &ds, &err) == 0, "2 rows of 5 from 3 rows of 6 (%s)", err.msg);
    if (ds.tokens) {
        static const int expect[10] = {1, 5, 6, 7, 8, 1, 10, 11, 12, 13};
        CHECK(memcmp(ds.tokens, expect, sizeof expect) == 0, "rows truncated to seq_len, in order");
        CHECK(ds.n_rows == 2 && ds.seq_len == 5 && strcmp(ds.format, "tokens-jsonl") == 0, "shape and format");
    }
    data_free(&ds);
    CHECK(load(three, 4, 5, &ds, &err) != 0 && strstr(err.msg, "only 3 rows") && strstr(err.msg, TMP),
          "fewer rows than asked: %s", err.msg);
    CHECK(load(three, 2, 7, &ds, &err) != 0 && strstr(err.msg, "line 1") && strstr(err.msg, "6 tokens"),
          "short row: %s", err.msg);
    CHECK(load("{\"tokens\":[1,2,3]}\n{\"tokens\":[1,100,3]}\n", 2, 3, &ds, &err) != 0 && strstr(err.msg, "line 2") &&
              strstr(err.msg, "100"),
          "id >= d_vocab: %s", err.msg);
    CHECK(load("{\"tokens\":[1,2,3]}\n{\"tokens\":[1,-2,3]}\n", 2, 3, &ds, &err) != 0 && strstr(err.msg, "line 2"),
          "negative id: %s", err.msg);
    CHECK(load("{\"tokens\":[1,2,3]}\n{\"tokens\":[1,2.5,3]}\n", 2, 3, &ds, &err) != 0 && strstr(err.msg, "line 2"),
          "non-integer id: %s", err.msg);
    CHECK(load("{\"tokens\":[1,2,3]}\n{\"tokens\":[1,2,3\n", 2, 3, &ds, &err) != 0 && strstr(err.msg, "line 2"),
          "malformed line: %s", err.msg);
    CHECK(load("{\"tokens\":[1,2,3]}\n", 1, 17, &ds, &err) != 0 && strstr(err.msg, "n_ctx"),
          "seq_len above n_ctx: %s", err.msg);
}

static void test_rows_json(void) {
    Dataset ds;
    Error err;
    const char *rows = "{\"features\":[{\"name\":\"tokens\"}],\n \"rows\":[\n"
                       "  {\"row_idx\":0,\"row\":{\"tokens\":[1,20,21,22]},\"truncated_cells\":[]},\n"
                       "  {\"row_idx\":1,\"row\":{\"tokens\":[1,30,31,32]},\"truncated_cells\":[]}],\n"
                       " \"num_rows_total\":2}\n";
    CHECK(load(rows, 2, 3, &ds, &err) == 0, "datasets-server /rows JSON (%s)", err.msg);
    if (ds.tokens) {
        static const int expect[6] = {1, 20, 21, 1, 30, 31};
        CHECK(memcmp(ds.tokens, expect, sizeof expect) == 0, "rows' tokens in order");
        CHECK(strcmp(ds.format, "rows-json") == 0, "format rows-json");
    }
    data_free(&ds);
    CHECK(load(rows, 3, 3, &ds, &err) != 0 && strstr(err.msg, "only 2 rows"), "fewer rows: %s", err.msg);
    CHECK(load("{\"rows\":[{\"row\":{\"tokens\":[1,2]},\"truncated_cells\":[\"tokens\"]}]}", 1, 2, &ds, &err) != 0 &&
              strstr(err.msg, "rows[0]") && strstr(err.msg, "truncated"),
          "truncated cells: %s", err.msg);
    CHECK(load("{\"rows\":[{\"row\":{\"tokens\":[1,2,3]}},{\"row\":{\"tokens\":[1,99,100]}}]}", 2, 3, &ds, &err) != 0 &&
              strstr(err.msg, "rows[1]"),
          "bad row named by index: %s", err.msg);
}

/* A model directory with datasets-server answers rows-*.json: mixed in proportion. */
static void test_rows_files(void) {
    const char *dir = "test_experiments_data.rows";
    char **paths = NULL;
    int n_paths = 0, i;
    Dataset ds;
    Error err;
    make_dirs(dir, &err);
    write_text("test_experiments_data.rows/rows-a.json",
               "{\"rows\":[{\"row\":{\"tokens\":[1,10]}},{\"row\":{\"tokens\":[1,11]}},"
               "{\"row\":{\"tokens\":[1,12]}},{\"row\":{\"tokens\":[1,13]}}]}");
    write_text("test_experiments_data.rows/rows-b.json", "{\"rows\":[{\"row\":{\"tokens\":[1,20]}}]}");
    write_text("test_experiments_data.rows/other.json", "not data");
    CHECK(data_find_files(dir, &paths, &n_paths, &err) == 0 && n_paths == 2 && strstr(paths[0], "rows-a.json") &&
              strstr(paths[1], "rows-b.json"),
          "rows-*.json found in name order (%d files)", n_paths);
    /* 4 rows of a and 1 of b: row k from the file furthest behind (k+1) count/5, by hand:
     * k=0 a (0.8 vs 0.2), k=1 a (0.6 vs 0.4), k=2 b (0.4 vs 0.6), k=3 a, k=4 a. */
    if (n_paths == 2 && data_load_files(paths, n_paths, 5, 2, 16, 100, NULL, &ds, &err) == 0) {
        static const int expect[10] = {1, 10, 1, 11, 1, 20, 1, 12, 1, 13};
        CHECK(memcmp(ds.tokens, expect, sizeof expect) == 0, "files mixed in proportion: a a b a a");
        data_free(&ds);
    } else {
        CHECK(0, "rows files load: %s", err.msg);
    }
    CHECK(n_paths == 2 && data_load_files(paths, n_paths, 6, 2, 16, 100, NULL, &ds, &err) != 0 &&
              strstr(err.msg, "only 5 rows in total"),
          "fewer rows in all files than asked: %s", err.msg);
    for (i = 0; i < n_paths; i++) free(paths[i]);
    free(paths);
    write_text("test_experiments_data.rows/data.jsonl", "{\"tokens\":[1,30]}\n");
    CHECK(data_find_files(dir, &paths, &n_paths, &err) == 0 && n_paths == 1 && strstr(paths[0], "data.jsonl"),
          "data.jsonl is preferred");
    for (i = 0; i < n_paths; i++) free(paths[i]);
    free(paths);
    remove("test_experiments_data.rows/data.jsonl");
    remove("test_experiments_data.rows/rows-a.json");
    remove("test_experiments_data.rows/rows-b.json");
    remove("test_experiments_data.rows/other.json");
    CHECK(data_find_files(dir, &paths, &n_paths, &err) != 0 && strstr(err.msg, "no data.jsonl"),
          "no data files: %s", err.msg);
    remove(dir);
}

static void test_text_without_tokenizer(void) {
    Dataset ds;
    Error err;
    CHECK(load("{\"text\":\"hello world\"}\n", 1, 4, &ds, &err) != 0 && strstr(err.msg, "tokenizer"),
          "text JSONL needs a tokenizer: %s", err.msg);
    CHECK(load("just some plain text\nand more\n", 1, 4, &ds, &err) != 0 && strstr(err.msg, "tokenizer"),
          "plain text needs a tokenizer: %s", err.msg);
}

/* Raw text against the real tokenizer: decode(row ids after BOS, concatenated) must be
 * a prefix of the documents joined with the EOS text. */
static int test_text_with_tokenizer(void) {
    const char *shared = "../shared/data/20B_tokenizer.json";
    const char *dir = "test_experiments_data.dir", *path = "test_experiments_data.dir/tokenizer.json";
    const char *special = "test_experiments_data.dir/special_tokens_map.json";
    unsigned char *bytes;
    size_t n_bytes;
    Tokenizer *tok;
    Error err;
    Dataset ds;
    char docs[4096], *joined, *decoded = NULL;
    size_t dlen = 0, n_ids;
    int *all, r, n_ctx = 16, ok;
    char *eos_text = NULL;
    size_t eos_len;
    int eos;
    if (!path_exists(shared)) {
        printf("  skip raw text: %s not found\n", shared);
        return 0;
    }
    /* A model directory as published: tokenizer.json plus the special tokens' map (EOS). */
    if (make_dirs(dir, &err) || read_file(shared, (size_t)64 << 20, &bytes, &n_bytes, &err) ||
        write_file_atomic(path, bytes, n_bytes, &err)) {
        CHECK(0, "tokenizer copy: %s", err.msg);
        return 1;
    }
    free(bytes);
    write_text(special, "{\"bos_token\": \"<|endoftext|>\", \"eos_token\": \"<|endoftext|>\"}\n");
    tok = tokenizer_load(path, &err);
    remove(path);
    remove(special);
    remove(dir);
    if (!tok) {
        CHECK(0, "tokenizer loads: %s", err.msg);
        return 1;
    }
    if (tokenizer_bos_id(tok) < 0) tokenizer_set_bos_id(tok, 0);
    eos = tokenizer_eos_id(tok);
    CHECK(eos >= 0 && tokenizer_decode(tok, &eos, 1, &eos_text, &eos_len, &err) == 0, "EOS decodes");
    strcpy(docs, "{\"text\":\"The quick brown fox jumps over the lazy dog.\"}\n"
                 "{\"text\":\"int main(void) {\\n\\treturn 0;\\n}\"}\n"
                 "{\"text\":\"Caf\\u00e9 na\\u00efve r\\u00e9sum\\u00e9 \\u2014 12345 tokens.\"}\n");
    write_text(TMP, docs);
    ok = data_load(TMP, 3, 10, n_ctx, tokenizer_vocab_size(tok), tok, &ds, &err) == 0;
    CHECK(ok, "3 rows of text (%s)", err.msg);
    if (ok && eos_text) {
        all = xalloc_array((size_t)3 * (n_ctx - 1), sizeof(int), "ids");
        n_ids = 0;
        for (r = 0; r < 3; r++) {
            CHECK(ds.tokens[r * 10] == tokenizer_bos_id(tok), "row %d starts with BOS", r);
            memcpy(all + n_ids, ds.tokens + r * 10 + 1, 9 * sizeof(int));
            n_ids += 9;
        }
        /* Only the first 9 ids of each 15 survive truncation; check row 0 fully. */
        joined = xalloc_array(4096, 1, "joined");
        snprintf(joined, 4096, "The quick brown fox jumps over the lazy dog.%sint main(void) {\n\treturn 0;\n}%s", eos_text,
                 eos_text);
        CHECK(tokenizer_decode(tok, all, 9, &decoded, &dlen, &err) == 0 && strncmp(decoded, joined, dlen) == 0 &&
                  dlen > 10,
              "row 0 decodes to the start of the joined documents ('%s')", decoded ? decoded : "");
        free(decoded);
        free(joined);
        free(all);
    }
    data_free(&ds);
    /* Rows are whole n_ctx - 1 chunks only: the three short documents make few rows. */
    CHECK(data_load(TMP, 50, 10, n_ctx, tokenizer_vocab_size(tok), tok, &ds, &err) != 0 &&
              strstr(err.msg, "text makes only"),
          "too little text for the rows asked: %s", err.msg);
    free(eos_text);
    tokenizer_free(tok);
    return 0;
}

int main(void) {
    test_tokens_jsonl();
    test_rows_json();
    test_rows_files();
    test_text_without_tokenizer();
    test_text_with_tokenizer();
    remove(TMP);
    return check_done("test_experiments_data");
}
