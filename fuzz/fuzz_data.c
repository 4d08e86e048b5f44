/* fuzz_data.c - libFuzzer target for data_load (dataset rows: token JSONL,
 * datasets-server rows JSON, text JSONL, plain text), with the committed
 * planted-model tokenizer for the text formats.
 *
 * The first two input bytes choose n_rows (1..4) and seq_len (1..16, n_ctx 16);
 * the rest is the file. Oracles: a failure names the file; success gives
 * exactly n_rows x seq_len ids, each in [0, d_vocab). */
#include "data.h"
#include "fuzz_common.h"

static Tokenizer *tok;
static int d_vocab;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    Error err = {"", 0};
    (void)argc;
    (void)argv;
    tok = tokenizer_load("fuzz/tokenizer_planted/tokenizer.json", &err);
    if (!tok) {
        fprintf(stderr, "fuzz_data: %s (run from the repo root)\n", err.msg);
        exit(1);
    }
    d_vocab = tokenizer_vocab_size(tok);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    Dataset ds;
    Error err = {"", 0};
    int n_rows, seq_len, i;
    const char *path;
    if (size < 2) return 0;
    n_rows = 1 + data[0] % 4;
    seq_len = 1 + data[1] % 16;
    path = fuzz_write_file("data.jsonl", data + 2, size - 2);
    if (data_load(path, n_rows, seq_len, 16, d_vocab, tok, &ds, &err) != 0) {
        fuzz_check_error(&err, path);
        return 0;
    }
    if (ds.n_rows != n_rows || ds.seq_len != seq_len || !ds.tokens || !ds.format) {
        fprintf(stderr, "fuzz_data: got %d x %d rows, asked %d x %d\n", ds.n_rows, ds.seq_len, n_rows, seq_len);
        abort();
    }
    for (i = 0; i < n_rows * seq_len; i++)
        if (ds.tokens[i] < 0 || ds.tokens[i] >= d_vocab) {
            fprintf(stderr, "fuzz_data: id %d outside [0, %d)\n", ds.tokens[i], d_vocab);
            abort();
        }
    data_free(&ds);
    return 0;
}
