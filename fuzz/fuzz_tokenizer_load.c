/* fuzz_tokenizer_load.c - libFuzzer target for tokenizer.json loading
 * (tokenizer_load_json: the JSON, vocabulary, merges, added tokens, normalizer,
 * pre-tokenizer, post-processor and decoder sections).
 *
 * Oracles: a failure names the file; an accepted tokenizer has a positive
 * vocabulary size and special ids in [-1, vocab), and encoding a few fixed
 * texts either fails cleanly or gives ids in [0, vocab) that decode again. */
#include "fuzz_common.h"
#include "tokenizer.h"

static const char *const texts[] = {
    "Hello world 123 4567", "  leading and trailing  ", "<|endoftext|>x<|BOS|>", "caf\xc3\xa9 e\xcc\x81 \xef\xbc\xa1",
    "\xf0\x9f\x98\x80 emoji", "", "\n\t\r", "ab\xff"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    Error err = {"", 0};
    Tokenizer *tok = tokenizer_load_json((const char *)data, size, "fuzz/tokenizer.json", &err);
    int vocab, id;
    size_t t, k;
    if (!tok) {
        fuzz_check_error(&err, "fuzz/tokenizer.json");
        return 0;
    }
    vocab = tokenizer_vocab_size(tok);
    if (vocab <= 0) abort();
    id = tokenizer_bos_id(tok);
    if (id < -1 || id >= vocab) abort();
    id = tokenizer_eos_id(tok);
    if (id < -1 || id >= vocab) abort();
    id = tokenizer_pad_id(tok);
    if (id < -1 || id >= vocab) abort();
    for (t = 0; t < sizeof texts / sizeof texts[0]; t++) {
        int *ids = NULL;
        size_t n = 0, len;
        char *back;
        Error e2 = {"", 0};
        if (tokenizer_encode(tok, texts[t], strlen(texts[t]), &ids, &n, &e2) != 0) {
            fuzz_check_error(&e2, NULL);
            continue;
        }
        for (k = 0; k < n; k++)
            if (ids[k] < 0 || ids[k] >= vocab) {
                fprintf(stderr, "fuzz_tokenizer_load: id %d outside [0, %d)\n", ids[k], vocab);
                abort();
            }
        if (tokenizer_decode(tok, ids, n, &back, &len, &e2) == 0) free(back);
        else fuzz_check_error(&e2, NULL);
        free(ids);
    }
    tokenizer_free(tok);
    return 0;
}
