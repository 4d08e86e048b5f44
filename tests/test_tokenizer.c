/* test_tokenizer.c - the tokenizer against hand-derived ids on small fixtures
 * (tests/fixtures/tokenizer/, one component each), normalization examples from
 * UAX #15, and error handling. Parity with HF tokenizers on the GPT-NeoX-20B
 * tokenizer is tests/test_tokenizer_parity.c (it needs ../shared). */
#include <string.h>

#include "check.h"
#include "json.h"
#include "tokenizer.h"
#include "unicode_data.h"

#define FIX "tests/fixtures/tokenizer/"

static Tokenizer *load(const char *path) {
    Error err;
    Tokenizer *t = tokenizer_load(path, &err);
    if (!t) printf("  cannot load %s: %s\n", path, err.msg);
    return t;
}

/* Builds a tokenizer from inline JSON (for fixtures small enough to read in place). */
static Tokenizer *load_str(const char *json) {
    Error err;
    Tokenizer *t = tokenizer_load_json(json, strlen(json), "inline.json", &err);
    if (!t) printf("  cannot load inline fixture: %s\n", err.msg);
    return t;
}

/* Encodes text[0..len) and compares with want[0..n). */
static void expect_ids_n(Tokenizer *t, const char *text, size_t len, const int *want, size_t n, const char *what,
                         int line) {
    int *ids = NULL;
    size_t got = 0, i;
    Error err;
    int ok;
    if (!t) {
        check_report(0, __FILE__, line, "%s: no tokenizer", what);
        return;
    }
    if (tokenizer_encode(t, text, len, &ids, &got, &err)) {
        check_report(0, __FILE__, line, "%s: encode failed: %s", what, err.msg);
        return;
    }
    ok = got == n;
    for (i = 0; ok && i < n; i++) ok = ids[i] == want[i];
    if (!ok) {
        char buf[600];
        size_t o = 0;
        for (i = 0; i < got && o < 500; i++) o += (size_t)sprintf(buf + o, " %d", ids[i]);
        buf[o] = '\0';
        check_report(0, __FILE__, line, "%s: got%s", what, buf);
    } else {
        check_report(1, __FILE__, line, "%s", what);
    }
    free(ids);
}

#define EXPECT_IDS(t, text, ...)                                                                 \
    do {                                                                                         \
        static const int want_[] = {__VA_ARGS__};                                                \
        expect_ids_n(t, text, strlen(text), want_, sizeof want_ / sizeof want_[0], text, __LINE__); \
    } while (0)

static void expect_none(Tokenizer *t, const char *text, int line) {
    expect_ids_n(t, text, strlen(text), NULL, 0, text, line);
}

/* Decodes ids and compares with want (byte-exact). */
static void expect_decode(Tokenizer *t, const int *ids, size_t n, const char *want, size_t wlen, int line) {
    char *text;
    size_t len;
    Error err;
    if (!t) return;
    if (tokenizer_decode(t, ids, n, &text, &len, &err)) {
        check_report(0, __FILE__, line, "decode failed: %s", err.msg);
        return;
    }
    check_report(len == wlen && memcmp(text, want, wlen) == 0, __FILE__, line, "decode gave [%s], want [%s]", text, want);
    free(text);
}

/* ------------------------------------------------------------------------ */
/* Hand-written fixtures: expected ids derived by reasoning from HF semantics */

static void test_bpe(void) {
    Tokenizer *t = load(FIX "bpe_merges.json");
    /* merges a+b (rank 0), ab+c (1), c+d (2), abc+d (3) */
    EXPECT_IDS(t, "abcd", 8);       /* ab, then abc, then (c,d) is stale, then abcd */
    EXPECT_IDS(t, "cdab", 7, 4);    /* ab (rank 0) before cd (rank 2); no cd+ab merge */
    EXPECT_IDS(t, "bcd", 1, 7);     /* no b+c merge in this file */
    EXPECT_IDS(t, "axb", 4);        /* x is unknown and dropped (no unk); a b then merge */
    EXPECT_IDS(t, "abab", 4, 4);
    expect_none(t, "", __LINE__);
    expect_none(t, "xyz", __LINE__);
    {
        static const int ids[] = {8, 7};
        expect_decode(t, ids, 2, "abcd cd", 7, __LINE__); /* no decoder: HF joins tokens with spaces */
    }
    CHECK(t && tokenizer_vocab_size(t) == 9 && tokenizer_bos_id(t) == -1, "vocab size 9, no BOS");
    tokenizer_free(t);

    t = load(FIX "bpe_pairs.json"); /* ["b","c"] rank 0, ["a","b"] rank 1, ["abc","d"] rank 2 */
    EXPECT_IDS(t, "abcd", 0, 5, 3); /* bc first; then (a,b) is stale; a+bc is no merge */
    EXPECT_IDS(t, "ab", 4);
    tokenizer_free(t);

    /* A legacy "#version" line is not a merge and takes no rank (HF filters it). */
    t = load_str("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"c\":2,\"ab\":3,\"bc\":4},"
                 "\"merges\":[\"#version: 0.2\",\"b c\",\"a b\"]}}");
    EXPECT_IDS(t, "abc", 0, 4); /* b+c has rank 0 */
    tokenizer_free(t);

    t = load(FIX "bpe_unk.json");
    EXPECT_IDS(t, "axyb", 1, 0, 0, 2);
    tokenizer_free(t);
    t = load(FIX "bpe_unk_fused.json");
    EXPECT_IDS(t, "axyb", 1, 0, 2);
    EXPECT_IDS(t, "xa", 0, 1);
    tokenizer_free(t);

    t = load(FIX "bpe_byte_fallback.json");
    EXPECT_IDS(t, "ax\xC3\xA9", 4, 1, 2, 3); /* x -> <0x78>, e-acute -> <0xC3> <0xA9> */
    EXPECT_IDS(t, "aq", 4, 0);               /* no <0x71>: unk */
    tokenizer_free(t);

    /* byte_fallback spells the prefixed string "##x" byte by byte, prefix included (as HF). */
    t = load_str("{\"model\":{\"type\":\"BPE\",\"byte_fallback\":true,\"continuing_subword_prefix\":\"##\","
                 "\"vocab\":{\"a\":0,\"<0x23>\":1,\"<0x78>\":2},\"merges\":[]}}");
    EXPECT_IDS(t, "ax", 0, 1, 1, 2);
    tokenizer_free(t);

    t = load(FIX "bpe_affixes.json"); /* prefix "##", suffix "</w>", merge a + ##b -> ab */
    EXPECT_IDS(t, "abc", 3, 2);       /* a ##b ##c</w> -> ab ##c</w> */
    EXPECT_IDS(t, "a", 4);            /* first and last: a</w> */
    EXPECT_IDS(t, "ab", 0, 5);        /* a ##b</w>: no merge for that pair */
    tokenizer_free(t);

    t = load(FIX "bpe_ignore_merges.json");
    EXPECT_IDS(t, "abc", 4);          /* the whole word is in the vocabulary */
    EXPECT_IDS(t, "abca", 3, 2, 0);   /* not in the vocabulary: BPE as usual */
    tokenizer_free(t);
}

static void test_bytelevel(void) {
    Tokenizer *t = load(FIX "bytelevel.json"); /* ByteLevel(add_prefix_space, regex) */
    EXPECT_IDS(t, "hi", 4);                    /* " hi" -> Ġhi */
    EXPECT_IDS(t, "hi's", 4, 8);               /* " hi" | "'s" */
    EXPECT_IDS(t, "hi  hi", 4, 0, 4);          /* " hi" | " " | " hi" (\s+(?!\S) leaves one space) */
    EXPECT_IDS(t, "  hi", 0, 4);               /* starts with a space: no prefix added */
    EXPECT_IDS(t, "hi\n", 4, 9);               /* trailing newline -> Ċ */
    EXPECT_IDS(t, "\thi", 0, 10, 1, 2);        /* " \thi": " " | "\t" | "hi" (no h+i merge) */
    EXPECT_IDS(t, "12", 13, 12);               /* " 12" -> Ġ1 2 */
    EXPECT_IDS(t, "\xC3\xA9", 0, 17);          /* " é" -> Ġ Ã© */
    EXPECT_IDS(t, "hi!!", 4, 5, 5);            /* "!!" is one piece; no "!!" token or ! merge */
    {
        static const int ids[] = {4, 8, 9, 17};
        expect_decode(t, ids, 4, " hi's\n\xC3\xA9", 8, __LINE__);
    }
    tokenizer_free(t);
}

static void test_split_digits(void) {
    static const char *behaviors[] = {"Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous"};
    /* Expected pieces of "a-b--c" split on "-" (ids: a0 b1 c2 -3 a-4 b-5 -b6 -c7 --8). */
    static const int want[5][6] = {{0, 1, 2}, {0, 3, 1, 3, 3, 2}, {4, 5, 3, 2}, {0, 6, 3, 7}, {0, 3, 1, 8, 2}};
    static const size_t nwant[5] = {3, 6, 4, 4, 5};
    int b;
    Tokenizer *t = load(FIX "split_digits.json"); /* Split("-", Removed) then Digits(contiguous) */
    EXPECT_IDS(t, "ab-123-1", 7, 6, 2);
    EXPECT_IDS(t, "a1b", 0, 2, 1);
    EXPECT_IDS(t, "12ab3", 5, 7, 4);
    tokenizer_free(t);
    for (b = 0; b < 5; b++) {
        char json[1024];
        sprintf(json,
                "{\"model\":{\"type\":\"BPE\",\"ignore_merges\":true,\"merges\":[],\"vocab\":{\"a\":0,\"b\":1,\"c\":2,"
                "\"-\":3,\"a-\":4,\"b-\":5,\"-b\":6,\"-c\":7,\"--\":8}},\"pre_tokenizer\":{\"type\":\"Split\","
                "\"pattern\":{\"String\":\"-\"},\"behavior\":\"%s\",\"invert\":false}}",
                behaviors[b]);
        t = load_str(json);
        expect_ids_n(t, "a-b--c", 6, want[b], nwant[b], behaviors[b], __LINE__);
        tokenizer_free(t);
    }
    /* Individual digits: every digit alone. */
    t = load_str("{\"model\":{\"type\":\"BPE\",\"ignore_merges\":true,\"merges\":[],\"vocab\":{\"1\":0,\"2\":1,\"12\":2,"
                 "\"x\":3}},\"pre_tokenizer\":{\"type\":\"Digits\",\"individual_digits\":true}}");
    EXPECT_IDS(t, "12x12", 0, 1, 3, 0, 1);
    tokenizer_free(t);
}

static void test_added_tokens(void) {
    Tokenizer *t = load(FIX "added_tokens.json"); /* NFKC; <s> special raw, hello normalized, [L] lstrip, [R] rstrip, cat single_word */
    EXPECT_IDS(t, "a<s>b", 0, 11, 1);
    EXPECT_IDS(t, "hello", 12);
    EXPECT_IDS(t, "\xEF\xBD\x88\xEF\xBD\x85\xEF\xBD\x8C\xEF\xBD\x8C\xEF\xBD\x8F x", 12, 5, 10); /* fullwidth: NFKC -> hello */
    EXPECT_IDS(t, "\xEF\xBC\x9Cs\xEF\xBC\x9E", 3); /* fullwidth <s>: not raw <s>; <s> is not a normalized token */
    EXPECT_IDS(t, "a  [L]b", 0, 13, 1);            /* lstrip eats the spaces before */
    EXPECT_IDS(t, "a[R]  b", 0, 14, 1);            /* rstrip eats the spaces after */
    EXPECT_IDS(t, "cat", 15);
    EXPECT_IDS(t, "cats", 2, 0, 4, 3);             /* single_word: followed by a word character */
    EXPECT_IDS(t, "xcat", 10, 2, 0, 4);
    EXPECT_IDS(t, "a cat.", 0, 5, 15);             /* "." is unknown and dropped */
    {
        static const int ids[] = {11, 12};
        expect_decode(t, ids, 2, "<s> hello", 9, __LINE__);
    }
    CHECK(t && tokenizer_vocab_size(t) == 16, "11 model ids + 5 added");
    tokenizer_free(t);
}

static void test_special_config(void) {
    Tokenizer *t = load(FIX "with_config/tokenizer.json");
    /* special_tokens_map.json says bos "</s>" and wins over tokenizer_config.json's
     * bos {"content":"<s>"}, as in transformers' from_pretrained. */
    CHECK(t && tokenizer_bos_id(t) == 0, "BOS </s> = 0 from special_tokens_map.json");
    CHECK(t && tokenizer_eos_id(t) == 0, "EOS </s> = 0 from special_tokens_map.json");
    CHECK(t && tokenizer_pad_id(t) == 2, "PAD <pad> = 2");
    if (t) {
        tokenizer_set_bos_id(t, 3);
        CHECK(tokenizer_bos_id(t) == 3, "BOS override");
    }
    EXPECT_IDS(t, "<s>a</s>", 1, 3, 0);
    tokenizer_free(t);
    t = load(FIX "config_only/tokenizer.json"); /* only tokenizer_config.json: bos {"content"}, eos string, pad null */
    CHECK(t && tokenizer_bos_id(t) == 1 && tokenizer_eos_id(t) == 0 && tokenizer_pad_id(t) == -1,
          "BOS/EOS from tokenizer_config.json alone, no PAD");
    tokenizer_free(t);
    t = load(FIX "config_new/tokenizer.json"); /* newer transformers config (added_tokens_decoder) wins */
    CHECK(t && tokenizer_bos_id(t) == 1 && tokenizer_eos_id(t) == 0 && tokenizer_pad_id(t) == 2,
          "BOS <s> from a tokenizer_config.json with added_tokens_decoder; PAD filled from the map");
    tokenizer_free(t);
    t = load(FIX "template_bos.json");
    CHECK(t && tokenizer_bos_id(t) == 1 && tokenizer_eos_id(t) == -1, "BOS from TemplateProcessing");
    tokenizer_free(t);
}

/* Normalization examples from UAX #15 and the UCD (decompositions, reordering,
 * composition exclusions, Hangul). */
static void expect_norm(const char *form, const char *in, const char *want, int line) {
    char *out;
    size_t n;
    Error err;
    if (tokenizer_normalize(form, in, strlen(in), &out, &n, &err)) {
        check_report(0, __FILE__, line, "%s failed: %s", form, err.msg);
        return;
    }
    check_report(n == strlen(want) && memcmp(out, want, n) == 0, __FILE__, line, "%s of [%s] gave [%s], want [%s]", form,
                 in, out, want);
    free(out);
}

static void test_normalization(void) {
    expect_norm("NFC", "e\xCC\x81", "\xC3\xA9", __LINE__);                    /* e + U+0301 -> U+00E9 */
    expect_norm("NFD", "\xC3\xA9", "e\xCC\x81", __LINE__);
    expect_norm("NFC", "\xE2\x84\xAB", "\xC3\x85", __LINE__);                 /* U+212B ANGSTROM -> U+00C5 */
    expect_norm("NFC", "A\xCC\x8A", "\xC3\x85", __LINE__);
    expect_norm("NFC", "\xEF\xAC\x81", "\xEF\xAC\x81", __LINE__);             /* fi ligature kept by NFC */
    expect_norm("NFKC", "\xEF\xAC\x81", "fi", __LINE__);
    expect_norm("NFKD", "\xEF\xAC\x81", "fi", __LINE__);
    /* UAX #15 figure: U+1E9B U+0323 */
    expect_norm("NFC", "\xE1\xBA\x9B\xCC\xA3", "\xE1\xBA\x9B\xCC\xA3", __LINE__);
    expect_norm("NFD", "\xE1\xBA\x9B\xCC\xA3", "\xC5\xBF\xCC\xA3\xCC\x87", __LINE__);
    expect_norm("NFKC", "\xE1\xBA\x9B\xCC\xA3", "\xE1\xB9\xA9", __LINE__);    /* U+1E69 */
    expect_norm("NFKD", "\xE1\xBA\x9B\xCC\xA3", "s\xCC\xA3\xCC\x87", __LINE__);
    /* Canonical ordering: U+0301 (ccc 230) after U+0316 (ccc 220). */
    expect_norm("NFD", "a\xCC\x81\xCC\x96", "a\xCC\x96\xCC\x81", __LINE__);
    expect_norm("NFC", "a\xCC\x81\xCC\x96", "\xC3\xA1\xCC\x96", __LINE__);    /* a-acute + U+0316 */
    /* Composition exclusion: U+0958 DEVANAGARI QA stays decomposed. */
    expect_norm("NFC", "\xE0\xA5\x98", "\xE0\xA4\x95\xE0\xA4\xBC", __LINE__);
    /* Hangul: U+D55C <-> U+1112 U+1161 U+11AB */
    expect_norm("NFD", "\xED\x95\x9C", "\xE1\x84\x92\xE1\x85\xA1\xE1\x86\xAB", __LINE__);
    expect_norm("NFC", "\xE1\x84\x92\xE1\x85\xA1\xE1\x86\xAB", "\xED\x95\x9C", __LINE__);
    /* A leading combining mark does not compose with anything before it. */
    expect_norm("NFC", "\xCC\x81" "e", "\xCC\x81" "e", __LINE__);
    expect_norm("NFKC", "\xE2\x91\xA0 \xC2\xBD", "1 1\xE2\x81\x84" "2", __LINE__); /* circled 1, one half */
    {
        char *out;
        size_t n;
        Error err;
        CHECK(tokenizer_normalize("NFX", "a", 1, &out, &n, &err) == -1, "unknown form rejected");
        CHECK(tokenizer_normalize("NFC", "a\xFF", 2, &out, &n, &err) == -1 && strstr(err.msg, "byte 1") != NULL,
              "invalid UTF-8 rejected: %s", err.msg);
    }
}

/* Loading a JSON text that must fail with a message containing want. */
static void expect_load_error(const char *json, const char *want, int line) {
    Error err;
    Tokenizer *t = tokenizer_load_json(json, strlen(json), "bad.json", &err);
    check_report(t == NULL && strstr(err.msg, want) != NULL, __FILE__, line, "load error should contain '%s', got '%s'",
                 want, t ? "(loaded)" : err.msg);
    tokenizer_free(t);
}

static void test_errors(void) {
    Tokenizer *t;
    Error err;
    int *ids = NULL;
    size_t n;
    const char *model = "\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1},\"merges\":[]}";
    char json[512];
    expect_load_error("{\"model\":", "bad.json: byte 9: unexpected end of input", __LINE__);
    expect_load_error("[]", "not a tokenizer.json", __LINE__);
    expect_load_error("{}", "no \"model\" object", __LINE__);
    expect_load_error("{\"model\":{\"type\":\"WordPiece\",\"vocab\":{}}}", "model type 'WordPiece' is not supported", __LINE__);
    expect_load_error("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":-1},\"merges\":[]}}", "must be an integer id", __LINE__);
    expect_load_error("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[\"a b\"]}}", "merge 0: token", __LINE__);
    expect_load_error("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[\"a a a\"]}}", "merge 0 must be", __LINE__);
    expect_load_error("{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[\"a a\"]}}", "merged token 'aa'", __LINE__);
    expect_load_error("{\"model\":{\"type\":\"BPE\",\"dropout\":0.1,\"vocab\":{},\"merges\":[]}}", "dropout", __LINE__);
    sprintf(json, "{%s,\"normalizer\":{\"type\":\"Lowercase\"}}", model);
    expect_load_error(json, "normalizer type 'Lowercase' is not supported", __LINE__);
    sprintf(json, "{%s,\"normalizer\":{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"NFC\"},{\"type\":\"Strip\"}]}}", model);
    expect_load_error(json, "normalizer type 'Strip' is not supported", __LINE__);
    sprintf(json, "{%s,\"pre_tokenizer\":{\"type\":\"Whitespace\"}}", model);
    expect_load_error(json, "pre_tokenizer type 'Whitespace' is not supported", __LINE__);
    sprintf(json, "{%s,\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"Regex\":\"\\\\s+\"},\"behavior\":\"Isolated\",\"invert\":false}}", model);
    expect_load_error(json, "Split regex", __LINE__);
    sprintf(json, "{%s,\"decoder\":{\"type\":\"WordPiece\"}}", model);
    expect_load_error(json, "decoder type 'WordPiece' is not supported", __LINE__);
    sprintf(json, "{%s,\"added_tokens\":[{\"id\":5}]}", model);
    expect_load_error(json, "added_tokens[0] needs a string \"content\"", __LINE__);

    t = tokenizer_load("tests/fixtures/tokenizer/no_such_file.json", &err);
    CHECK(t == NULL && strstr(err.msg, "no_such_file.json") != NULL, "missing file: %s", err.msg);

    t = load(FIX "bpe_merges.json");
    if (!t) return;
    CHECK(tokenizer_encode(t, "ab\xFF", 3, &ids, &n, &err) == -1 && strstr(err.msg, "byte 2: invalid UTF-8") != NULL,
          "invalid byte at offset 2: %s", err.msg);
    CHECK(tokenizer_encode(t, "\xE4\xB8", 2, &ids, &n, &err) == -1 && strstr(err.msg, "byte 0: invalid UTF-8") != NULL,
          "truncated sequence at offset 0: %s", err.msg);
    CHECK(tokenizer_encode(t, "a\xED\xA0\x80", 4, &ids, &n, &err) == -1 && strstr(err.msg, "byte 1") != NULL,
          "encoded surrogate at offset 1: %s", err.msg);
    CHECK(tokenizer_encode(t, "ab\xC0\xAF", 4, &ids, &n, &err) == -1 && strstr(err.msg, "byte 2") != NULL,
          "overlong at offset 2: %s", err.msg);
    {
        static const int bad_ids[] = {0, 9};
        char *text;
        size_t len;
        CHECK(tokenizer_decode(t, bad_ids, 2, &text, &len, &err) == -1 && strstr(err.msg, "token id 9") != NULL,
              "decode of id 9 (vocab 0..8) fails: %s", err.msg);
        CHECK(tokenizer_decode(t, bad_ids, 0, &text, &len, &err) == 0 && len == 0 && text[0] == '\0',
              "decode of no ids is empty");
        free(text);
    }
    {
        /* Embedded NUL is valid UTF-8: encoded, not an error (dropped here: not in the vocabulary). */
        static const char s[] = {'a', '\0', 'b'};
        static const int want[] = {4};
        expect_ids_n(t, s, 3, want, 1, "a NUL b", __LINE__);
    }
    tokenizer_free(t);
}

int main(void) {
    (void)check_close;
    test_bpe();
    test_bytelevel();
    test_split_digits();
    test_added_tokens();
    test_special_config();
    test_normalization();
    test_errors();
    return check_done("test_tokenizer");
}
