/* test_json.c - the JSON reader against hand-derived expectations (RFC 8259),
 * including malformed inputs and their error messages. */
#include <limits.h>
#include <string.h>

#include "check.h"
#include "json.h"

/* Parses a C string; returns the value or NULL (error text in err). */
static JsonValue *P(const char *s, Error *err) {
    err->msg[0] = '\0';
    return json_parse(s, strlen(s), "t.json", err);
}

/* Expects s to be rejected with a message containing want (e.g. "byte 3: "). */
static void expect_error(const char *s, const char *want, int line) {
    Error err;
    JsonValue *v = P(s, &err);
    check_report(v == NULL, __FILE__, line, "expected an error for [%s]", s);
    if (v) {
        json_free(v);
        return;
    }
    check_report(strncmp(err.msg, "t.json: byte ", 13) == 0, __FILE__, line, "error format for [%s]: %s", s, err.msg);
    if (want)
        check_report(strstr(err.msg, want) != NULL, __FILE__, line, "error for [%s] should contain '%s', got: %s", s,
                     want, err.msg);
}
#define EXPECT_ERROR(s, want) expect_error(s, want, __LINE__)

/* Parses s, expects one string value equal to want[0..wlen). */
static void expect_string(const char *s, const char *want, size_t wlen, int line) {
    Error err;
    JsonValue *v = P(s, &err);
    check_report(v && v->type == JSON_STRING, __FILE__, line, "string [%s]: %s", s, v ? "wrong type" : err.msg);
    if (v && v->type == JSON_STRING)
        check_report(v->len == wlen && memcmp(v->str, want, wlen) == 0 && v->str[wlen] == '\0', __FILE__, line,
                     "string [%s] decoded wrongly (len %lu, want %lu)", s, (unsigned long)v->len,
                     (unsigned long)wlen);
    json_free(v);
}
#define EXPECT_STRING(s, want, wlen) expect_string(s, want, wlen, __LINE__)

static void test_scalars(void) {
    Error err;
    JsonValue *v;
    long long i;
    double d;
    int b;

    v = P(" \t\r\n null \n", &err);
    CHECK(v && v->type == JSON_NULL, "null with whitespace");
    json_free(v);
    v = P("true", &err);
    CHECK(v && json_as_bool(v, &b) && b == 1, "true");
    json_free(v);
    v = P("false", &err);
    CHECK(v && json_as_bool(v, &b) && b == 0, "false");
    CHECK(!json_as_int(v, &i) && !json_as_string(v), "false is not an int or string");
    json_free(v);

    v = P("0", &err);
    CHECK(v && json_as_int(v, &i) && i == 0, "0");
    json_free(v);
    v = P("-0", &err);
    CHECK(v && json_as_int(v, &i) && i == 0 && v->number == 0.0, "-0");
    json_free(v);
    v = P("48262", &err);
    CHECK(v && json_as_int(v, &i) && i == 48262 && v->number == 48262.0, "48262");
    json_free(v);
    v = P("-17", &err);
    CHECK(v && json_as_int(v, &i) && i == -17, "-17");
    json_free(v);
    v = P("9223372036854775807", &err);
    CHECK(v && json_as_int(v, &i) && i == LLONG_MAX, "LLONG_MAX is an integer");
    json_free(v);
    v = P("-9223372036854775808", &err);
    CHECK(v && json_as_int(v, &i) && i == LLONG_MIN, "LLONG_MIN is an integer");
    json_free(v);
    v = P("9223372036854775808", &err);
    CHECK(v && v->type == JSON_NUMBER && !v->is_integer && !json_as_int(v, &i), "2^63 is not a long long");
    CHECK(v && v->number == 9223372036854775808.0, "2^63 as a double");
    json_free(v);
    v = P("123456789012345678901234567890", &err);
    CHECK(v && !v->is_integer && check_close(v->number, 1.2345678901234568e29, 1e-15, 0), "30-digit integer");
    json_free(v);
    v = P("1.5", &err);
    CHECK(v && !v->is_integer && json_as_double(v, &d) && d == 1.5, "1.5 is a non-integer double");
    json_free(v);
    v = P("2e3", &err);
    CHECK(v && !v->is_integer && v->number == 2000.0, "2e3 = 2000, flagged not-integer (has exponent)");
    json_free(v);
    v = P("-1.25E-2", &err);
    CHECK(v && v->number == -0.0125, "-1.25E-2");
    json_free(v);
    v = P("1e+2", &err);
    CHECK(v && v->number == 100.0, "1e+2");
    json_free(v);
    v = P("1e999", &err);
    CHECK(v && v->type == JSON_NUMBER && isinf(v->number) && v->number > 0 && !v->is_integer, "1e999 -> +inf");
    json_free(v);
    v = P("-1e999", &err);
    CHECK(v && isinf(v->number) && v->number < 0, "-1e999 -> -inf");
    json_free(v);
    v = P("1e-999", &err);
    CHECK(v && v->number == 0.0, "1e-999 underflows to 0");
    json_free(v);
    {
        /* A 400-digit integer: larger than DBL_MAX (~1.8e308) -> +inf, accepted. */
        char big[402];
        memset(big, '9', 400);
        big[400] = '\0';
        v = P(big, &err);
        CHECK(v && isinf(v->number) && !v->is_integer, "400-digit number -> inf, not integer");
        json_free(v);
    }
}

static void test_strings(void) {
    EXPECT_STRING("\"\"", "", 0);
    EXPECT_STRING("\"abc\"", "abc", 3);
    EXPECT_STRING("\"a\\\"b\\\\c\\/d\"", "a\"b\\c/d", 7);
    EXPECT_STRING("\"\\b\\f\\n\\r\\t\"", "\b\f\n\r\t", 5);
    EXPECT_STRING("\"\\u0041\\u00e9\"", "A\xC3\xA9", 3);       /* U+00E9 = C3 A9 */
    EXPECT_STRING("\"\\u20AC\"", "\xE2\x82\xAC", 3);            /* euro sign */
    EXPECT_STRING("\"\\u0120\"", "\xC4\xA0", 2);                /* GPT-2 byte-level space 'Ġ' */
    EXPECT_STRING("\"\\uD83D\\uDE00\"", "\xF0\x9F\x98\x80", 4); /* U+1F600 from a surrogate pair */
    EXPECT_STRING("\"\\udbff\\udfff\"", "\xF4\x8F\xBF\xBF", 4); /* U+10FFFF */
    EXPECT_STRING("\"a\\u0000b\"", "a\0b", 3);                  /* embedded NUL kept with length */
    EXPECT_STRING("\"\xE4\xB8\xAD\xF0\x9F\x91\x8D\"", "\xE4\xB8\xAD\xF0\x9F\x91\x8D", 7); /* raw UTF-8 */
    EXPECT_STRING("\"\x7F\"", "\x7F", 1); /* DEL need not be escaped */
}

static void test_containers(void) {
    Error err;
    JsonValue *v;
    const JsonValue *m;
    long long i;

    v = P("[]", &err);
    CHECK(v && v->type == JSON_ARRAY && v->count == 0, "empty array");
    json_free(v);
    v = P("{}", &err);
    CHECK(v && v->type == JSON_OBJECT && v->count == 0 && json_get(v, "a") == NULL, "empty object");
    json_free(v);
    v = P("[1, \"two\", [3], {\"four\": 4}, null]", &err);
    CHECK(v && v->type == JSON_ARRAY && v->count == 5, "array of 5");
    if (v && v->count == 5) {
        CHECK(json_as_int(&v->items[0], &i) && i == 1, "items[0] = 1");
        CHECK(json_as_string(&v->items[1]) && strcmp(v->items[1].str, "two") == 0, "items[1] = two");
        CHECK(v->items[2].type == JSON_ARRAY && v->items[2].count == 1, "items[2] = [3]");
        CHECK(json_as_int(json_get(&v->items[3], "four"), &i) && i == 4, "items[3].four = 4");
        CHECK(v->items[4].type == JSON_NULL, "items[4] = null");
    }
    CHECK(json_get(v, "x") == NULL, "json_get on an array is NULL");
    json_free(v);

    /* Duplicate keys: all kept in order, json_get returns the last. */
    v = P("{\"a\": 1, \"b\": 2, \"a\": 3}", &err);
    CHECK(v && v->count == 3, "duplicate keys are all kept");
    if (v && v->count == 3) {
        CHECK(strcmp(v->keys[0], "a") == 0 && strcmp(v->keys[1], "b") == 0 && strcmp(v->keys[2], "a") == 0,
              "keys kept in order");
        CHECK(v->key_lens[0] == 1, "key length");
    }
    m = json_get(v, "a");
    CHECK(json_as_int(m, &i) && i == 3, "json_get returns the last duplicate (3)");
    CHECK(json_as_int(json_get(v, "b"), &i) && i == 2, "b = 2");
    CHECK(json_get(v, "c") == NULL && json_get(NULL, "a") == NULL, "missing key / NULL object");
    json_free(v);

    /* Keys with escapes and an embedded NUL: "a\u0000b" must not match "a". */
    v = P("{\"a\\u0000b\": 1, \"\\u00e9\": 2}", &err);
    CHECK(v && v->count == 2 && v->key_lens[0] == 3, "key with NUL has length 3");
    CHECK(json_get(v, "a") == NULL, "key a\\0b does not match a");
    CHECK(json_as_int(json_get(v, "\xC3\xA9"), &i) && i == 2, "escaped key matches its UTF-8");
    json_free(v);

    /* Nesting exactly at the limit is fine; one more is an error (no stack overflow). */
    {
        char *s = (char *)malloc(2 * (JSON_MAX_DEPTH + 1) + 1);
        int k;
        for (k = 0; k < JSON_MAX_DEPTH; k++) s[k] = '[';
        for (k = 0; k < JSON_MAX_DEPTH; k++) s[JSON_MAX_DEPTH + k] = ']';
        s[2 * JSON_MAX_DEPTH] = '\0';
        v = P(s, &err);
        CHECK(v != NULL, "depth %d accepted: %s", JSON_MAX_DEPTH, v ? "" : err.msg);
        json_free(v);
        for (k = 0; k < JSON_MAX_DEPTH + 1; k++) s[k] = '[';
        for (k = 0; k < JSON_MAX_DEPTH + 1; k++) s[JSON_MAX_DEPTH + 1 + k] = ']';
        s[2 * (JSON_MAX_DEPTH + 1)] = '\0';
        v = P(s, &err);
        /* The 513th '[' is at byte 512. */
        CHECK(v == NULL && strstr(err.msg, "byte 512: nesting too deep") != NULL, "depth 513 rejected: %s", err.msg);
        json_free(v);
        free(s);
    }
    {
        /* A million '[' : must fail cleanly at the limit, not crash. */
        size_t n = 1000000;
        char *s = (char *)malloc(n + 1);
        memset(s, '[', n);
        s[n] = '\0';
        v = P(s, &err);
        CHECK(v == NULL && strstr(err.msg, "nesting too deep") != NULL, "1e6 '[' rejected");
        free(s);
    }
    {
        /* Not NUL-terminated input: only len bytes are read. */
        const char buf[] = {'[', '1', ']', 'x'};
        v = json_parse(buf, 3, "t.json", &err);
        CHECK(v && v->type == JSON_ARRAY && v->count == 1, "length-bounded parse ignores bytes past len");
        json_free(v);
    }
    /* UTF-8 BOM is ignored (RFC 8259 section 8.1 allows it). */
    v = P("\xEF\xBB\xBF{\"k\":true}", &err);
    CHECK(v && v->type == JSON_OBJECT, "leading BOM ignored");
    json_free(v);
}

static void test_errors(void) {
    /* Offsets are 0-based byte positions of the offending byte. */
    EXPECT_ERROR("", "byte 0: unexpected end of input");
    EXPECT_ERROR("   ", "byte 3: unexpected end of input");
    EXPECT_ERROR("[1,]", "byte 3: unexpected character");
    EXPECT_ERROR("[1 2]", "byte 3: expected ',' or ']'");
    EXPECT_ERROR("{\"a\" 1}", "byte 5: expected ':'");
    EXPECT_ERROR("{\"a\":1,}", "byte 7: expected a string key");
    EXPECT_ERROR("{a:1}", "byte 1: expected a string key");
    EXPECT_ERROR("{\"a\":1", "byte 6: unterminated object");
    EXPECT_ERROR("[1", "byte 2: unterminated array");
    EXPECT_ERROR("1 2", "byte 2: unexpected data after");
    EXPECT_ERROR("nul", "byte 0: unexpected character");
    EXPECT_ERROR("True", "byte 0");
    EXPECT_ERROR("NaN", "byte 0");
    EXPECT_ERROR("Infinity", "byte 0");
    EXPECT_ERROR("'a'", "byte 0");
    EXPECT_ERROR("01", "byte 1: invalid number (leading zero)");
    EXPECT_ERROR("-", "byte 1: invalid number");
    EXPECT_ERROR("+1", "byte 0");
    EXPECT_ERROR(".5", "byte 0");
    EXPECT_ERROR("1.", "byte 2: invalid number");
    EXPECT_ERROR("1.e5", "byte 2");
    EXPECT_ERROR("1e", "byte 2: invalid number");
    EXPECT_ERROR("1e+", "byte 3");
    EXPECT_ERROR("0x10", "byte 1: unexpected data");
    EXPECT_ERROR("\"abc", "byte 4: unterminated string");
    EXPECT_ERROR("\"a\nb\"", "byte 2: control character");
    EXPECT_ERROR("\"a\tb\"", "byte 2: control character");
    EXPECT_ERROR("\"\\x41\"", "byte 1: invalid escape");
    EXPECT_ERROR("\"\\u12zz\"", "byte 5: invalid hex digit");
    EXPECT_ERROR("\"\\u12", "byte 3: truncated");
    EXPECT_ERROR("\"\\uD83D\"", "byte 1: lone high surrogate");
    EXPECT_ERROR("\"\\uD83Dx\"", "byte 1: lone high surrogate");
    EXPECT_ERROR("\"\\uD83D\\u0041\"", "byte 1: lone high surrogate");
    EXPECT_ERROR("\"ab\\uDE00\"", "byte 3: lone low surrogate");
    EXPECT_ERROR("\"\\", "byte 1: unterminated escape");
    /* Invalid UTF-8 inside strings. */
    EXPECT_ERROR("\"\xC3\"", "byte 1: invalid UTF-8");          /* truncated 2-byte sequence */
    EXPECT_ERROR("\"\xC0\xAF\"", "byte 1: invalid UTF-8");      /* overlong '/' */
    EXPECT_ERROR("\"\xE0\x80\xAF\"", "byte 1: invalid UTF-8");  /* overlong 3-byte */
    EXPECT_ERROR("\"x\xED\xA0\x80\"", "byte 2: invalid UTF-8"); /* encoded surrogate U+D800 */
    EXPECT_ERROR("\"\xF4\x90\x80\x80\"", "byte 1: invalid UTF-8"); /* U+110000 */
    EXPECT_ERROR("\"\xFF\"", "byte 1: invalid UTF-8");
    EXPECT_ERROR("\"\x80\"", "byte 1: invalid UTF-8"); /* stray continuation byte */
    EXPECT_ERROR("\xEF\xBB", "byte 0");                 /* half a BOM */
    {
        /* An embedded NUL byte outside a string is an error at its offset. */
        Error err;
        const char buf[] = {'[', '1', ']', '\0'};
        JsonValue *v = json_parse(buf, 4, "t.json", &err);
        CHECK(v == NULL && strstr(err.msg, "t.json: byte 3: unexpected data") != NULL, "NUL after value: %s",
              err.msg);
        json_free(v);
    }
}

int main(void) {
    test_scalars();
    test_strings();
    test_containers();
    test_errors();
    return check_done("test_json");
}
