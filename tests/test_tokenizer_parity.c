/* test_tokenizer_parity.c - token ids identical to the HF tokenizers library.
 *
 * tests/fixtures/tokenizer/parity_expected.json holds the ids (and decoded text) that
 * HF tokenizers 0.22.2 gives for every text of parity_texts.json with
 * ../shared/data/20B_tokenizer.json (GPT-NeoX-20B) and with its digits variant (the
 * pre_tokenizer replaced by Sequence[Digits(individual_digits), ByteLevel], the
 * structure of gelu-4l's tokenizer); tools/tokenizer_parity.js wrote it. This test
 * encodes the same texts, compares the ids, and checks that decoding gives HF's text.
 * Exits 77 (skip) with a visible reason when ../shared is absent. */
#include <string.h>

#include "check.h"
#include "json.h"
#include "tokenizer.h"

#define FIX "tests/fixtures/tokenizer/"
#define SHARED_20B "../shared/data/20B_tokenizer.json"

/* ------------------------------------------------------------------------ */
/* Parity with HF tokenizers                                                */

/* Returns the 20B tokenizer.json text with its "pre_tokenizer" object replaced. */
static char *replace_pre_tokenizer(const char *json, size_t len, const char *repl, size_t *out_len) {
    const char *k = strstr(json, "\"pre_tokenizer\""), *p, *end;
    int depth = 0, in_str = 0;
    char *out;
    if (!k) return NULL;
    p = strchr(k + 15, '{');
    if (!p) return NULL;
    for (end = p; end < json + len; end++) {
        if (in_str) {
            if (*end == '\\') end++;
            else if (*end == '"') in_str = 0;
            continue;
        }
        if (*end == '"') in_str = 1;
        else if (*end == '{') depth++;
        else if (*end == '}' && --depth == 0) break;
    }
    if (end >= json + len) return NULL;
    end++;
    *out_len = (size_t)(p - json) + strlen(repl) + (size_t)(json + len - end);
    out = (char *)malloc(*out_len + 1);
    if (!out) return NULL;
    memcpy(out, json, (size_t)(p - json));
    memcpy(out + (p - json), repl, strlen(repl));
    memcpy(out + (p - json) + strlen(repl), end, (size_t)(json + len - end));
    out[*out_len] = '\0';
    return out;
}

/* Compares encode and decode of every parity text with HF's ids and decoded text. */
static int run_parity(Tokenizer *t, const JsonValue *texts, const JsonValue *ids, const JsonValue *dec, const char *name) {
    size_t i, same = 0;
    for (i = 0; i < texts->count; i++) {
        const JsonValue *txt = &texts->items[i], *want = &ids->items[i];
        int *got = NULL;
        size_t n = 0, j;
        Error err;
        int ok;
        if (tokenizer_encode(t, txt->str, txt->len, &got, &n, &err)) {
            CHECK(0, "%s case %lu: encode failed: %s", name, (unsigned long)i, err.msg);
            continue;
        }
        ok = n == want->count;
        for (j = 0; ok && j < n; j++) ok = got[j] == (int)want->items[j].integer;
        CHECK(ok, "%s case %lu (%s): %lu ids, HF gives %lu", name, (unsigned long)i, txt->str, (unsigned long)n,
              (unsigned long)want->count);
        if (ok) {
            char *text;
            size_t len;
            same++;
            /* Round trip: HF's decode of these ids (the NFC form of the text). */
            if (tokenizer_decode(t, got, n, &text, &len, &err) == 0) {
                CHECK(len == dec->items[i].len && memcmp(text, dec->items[i].str, len) == 0,
                      "%s case %lu: decode differs from HF", name, (unsigned long)i);
                free(text);
            } else {
                CHECK(0, "%s case %lu: decode failed: %s", name, (unsigned long)i, err.msg);
            }
        }
        free(got);
    }
    printf("  parity %s: %lu/%lu cases identical to HF tokenizers\n", name, (unsigned long)same,
           (unsigned long)texts->count);
    return 0;
}

/* Returns 1 if the parity checks ran, 0 if they were skipped. */
static int test_parity(void) {
    unsigned char *raw = NULL, *exp = NULL, *txt = NULL;
    size_t raw_len, exp_len, txt_len, dlen;
    JsonValue *E = NULL, *T = NULL;
    Error err;
    Tokenizer *t;
    char *digits, *pre;
    const JsonValue *texts;
    if (!path_exists(SHARED_20B)) {
        printf("  SKIP parity: %s not found (the HF parity checks need ../shared)\n", SHARED_20B);
        return 0;
    }
    if (read_file(SHARED_20B, 64UL << 20, &raw, &raw_len, &err) ||
        read_file(FIX "parity_expected.json", 64UL << 20, &exp, &exp_len, &err) ||
        read_file(FIX "parity_texts.json", 64UL << 20, &txt, &txt_len, &err)) {
        CHECK(0, "reading parity files: %s", err.msg);
        goto done;
    }
    E = json_parse((const char *)exp, exp_len, "parity_expected.json", &err);
    T = json_parse((const char *)txt, txt_len, "parity_texts.json", &err);
    CHECK(E && T, "parity JSON parses: %s", err.msg);
    if (!E || !T) goto done;
    texts = json_get(T, "texts");
    CHECK(texts && json_get(E, "ids_20B") && json_get(E, "ids_20B")->count == texts->count, "parity case counts agree");
    if (!texts || !json_get(E, "ids_20B") || json_get(E, "ids_20B")->count != texts->count) goto done;

    t = tokenizer_load_json((const char *)raw, raw_len, SHARED_20B, &err);
    CHECK(t != NULL, "load 20B: %s", t ? "" : err.msg);
    if (t) {
        CHECK(tokenizer_vocab_size(t) == 50281, "20B vocab size 50281 (ids 0..50280), got %d", tokenizer_vocab_size(t));
        run_parity(t, texts, json_get(E, "ids_20B"), json_get(E, "decoded_20B"), "20B");
        tokenizer_free(t);
    }
    /* The digits variant: same file, pre_tokenizer replaced (as the node script does). */
    pre = "{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"Digits\",\"individual_digits\":true},"
          "{\"type\":\"ByteLevel\",\"add_prefix_space\":false,\"trim_offsets\":true,\"use_regex\":true}]}";
    digits = replace_pre_tokenizer((const char *)raw, raw_len, pre, &dlen);
    CHECK(digits != NULL, "build the digits variant");
    if (digits) {
        t = tokenizer_load_json(digits, dlen, "20B digits variant", &err);
        CHECK(t != NULL, "load digits variant: %s", t ? "" : err.msg);
        if (t) {
            run_parity(t, texts, json_get(E, "ids_digits"), json_get(E, "decoded_digits"), "digits");
            tokenizer_free(t);
        }
        free(digits);
    }
done:
    json_free(E);
    json_free(T);
    free(raw);
    free(exp);
    free(txt);
    return 1;
}

int main(void) {
    (void)check_close;
    if (!test_parity()) return CHECK_SKIP;
    return check_done("test_tokenizer_parity");
}
