/* fuzz_tokenizer_encode.c - libFuzzer target: encoding arbitrary bytes with a
 * real tokenizer. Loads $CLEANUP_FUZZ_TOKENIZER, else ../shared/data/20B_tokenizer.json
 * (gelu-4l's tokenizer) when it exists, else the committed planted-model
 * tokenizer fuzz/tokenizer_planted/tokenizer.json (paths relative to the repo root).
 *
 * Oracles (independent of tokenizer.c):
 *   - input that is not valid UTF-8 is refused with a message naming a byte;
 *   - valid input encodes; every id is in [0, vocab); the ids decode;
 *   - decode(encode(x)) = y is a fixed point: encode(y) gives the same ids
 *     (NFC is idempotent), and y = x when x is ASCII (NFC changes no ASCII). */
#include "fuzz_common.h"
#include "tokenizer.h"

static Tokenizer *tok;
static int vocab;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    const char *path = getenv("CLEANUP_FUZZ_TOKENIZER");
    Error err = {"", 0};
    (void)argc;
    (void)argv;
    if (!path || !*path) path = path_exists("../shared/data/20B_tokenizer.json") ? "../shared/data/20B_tokenizer.json"
                                                                               : "fuzz/tokenizer_planted/tokenizer.json";
    tok = tokenizer_load(path, &err);
    if (!tok) {
        fprintf(stderr, "fuzz_tokenizer_encode: %s (run from the repo root)\n", err.msg);
        exit(1);
    }
    vocab = tokenizer_vocab_size(tok);
    fprintf(stderr, "fuzz_tokenizer_encode: tokenizer %s, %d ids\n", path, vocab);
    return 0;
}

static void fail(const char *what) {
    fprintf(stderr, "fuzz_tokenizer_encode: %s\n", what);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    Error err = {"", 0};
    int *ids = NULL, *ids2 = NULL;
    size_t n = 0, n2 = 0, len, k;
    char *back = NULL;
    int valid = fuzz_utf8_valid(data, size), ascii = 1;
    if (size > 4096) return 0; /* BPE cost grows with piece length; long inputs add nothing new */
    for (k = 0; k < size; k++)
        if (data[k] >= 0x80) ascii = 0;
    if (tokenizer_encode(tok, (const char *)data, size, &ids, &n, &err) != 0) {
        fuzz_check_error(&err, NULL);
        if (valid) {
            fprintf(stderr, "fuzz_tokenizer_encode: valid UTF-8 refused: %s\n", err.msg);
            abort();
        }
        if (!strstr(err.msg, "byte")) fail("UTF-8 error does not name the byte offset");
        return 0;
    }
    if (!valid) fail("invalid UTF-8 accepted");
    for (k = 0; k < n; k++)
        if (ids[k] < 0 || ids[k] >= vocab) fail("id outside the vocabulary");
    if (tokenizer_decode(tok, ids, n, &back, &len, &err) != 0) fail("decode of encode failed");
    if (back[len] != '\0') fail("decode output not NUL-terminated");
    if (ascii && (len != size || memcmp(back, data, size) != 0)) fail("ASCII text does not round-trip");
    if (!fuzz_utf8_valid((const unsigned char *)back, len)) fail("decode produced invalid UTF-8");
    if (tokenizer_encode(tok, back, len, &ids2, &n2, &err) != 0) fail("re-encode of the decoded text failed");
    if (n2 != n || (n && memcmp(ids, ids2, n * sizeof *ids) != 0)) fail("encode(decode(encode(x))) != encode(x)");
    free(ids);
    free(ids2);
    free(back);
    return 0;
}
