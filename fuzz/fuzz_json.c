/* fuzz_json.c - libFuzzer target for json_parse.
 *
 * Oracles beyond "no crash, no sanitizer report":
 *   - a failure leaves one message line that names the source;
 *   - every decoded string and key is valid UTF-8 (checked independently);
 *   - json_get(obj, key) returns the LAST member with that key;
 *   - round trip: the tree is written back as JSON by an independent writer,
 *     parsed again, and must come back identical (types, numbers bit for bit,
 *     integer flags, strings byte for byte, keys and order). */
#include <math.h>

#include "fuzz_common.h"
#include "json.h"

typedef struct {
    char *b;
    size_t n, cap;
} Out;

static void out_put(Out *o, const char *s, size_t n) {
    if (o->n + n + 1 > o->cap) {
        size_t ncap = (o->n + n + 1) * 2;
        o->b = realloc(o->b, ncap);
        if (!o->b) abort();
        o->cap = ncap;
    }
    memcpy(o->b + o->n, s, n);
    o->n += n;
}

static void out_string(Out *o, const char *s, size_t n) {
    size_t i;
    out_put(o, "\"", 1);
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char e[8];
        if (c < 0x20 || c == '"' || c == '\\') {
            snprintf(e, sizeof e, "\\u%04x", c);
            out_put(o, e, 6);
        } else {
            out_put(o, (const char *)&s[i], 1);
        }
    }
    out_put(o, "\"", 1);
}

static void out_value(Out *o, const JsonValue *v) {
    char num[64];
    size_t i;
    switch (v->type) {
    case JSON_NULL: out_put(o, "null", 4); break;
    case JSON_FALSE: out_put(o, "false", 5); break;
    case JSON_TRUE: out_put(o, "true", 4); break;
    case JSON_NUMBER:
        if (v->is_integer) snprintf(num, sizeof num, "%lld", v->integer);
        else if (isinf(v->number)) snprintf(num, sizeof num, "%s1e99999", v->number < 0 ? "-" : "");
        else {
            snprintf(num, sizeof num, "%.17g", v->number);
            if (!strpbrk(num, ".e")) strcat(num, ".0");
        }
        out_put(o, num, strlen(num));
        break;
    case JSON_STRING: out_string(o, v->str, v->len); break;
    case JSON_ARRAY:
        out_put(o, "[", 1);
        for (i = 0; i < v->count; i++) {
            if (i) out_put(o, ",", 1);
            out_value(o, &v->items[i]);
        }
        out_put(o, "]", 1);
        break;
    case JSON_OBJECT:
        out_put(o, "{", 1);
        for (i = 0; i < v->count; i++) {
            if (i) out_put(o, ",", 1);
            out_string(o, v->keys[i], v->key_lens[i]);
            out_put(o, ":", 1);
            out_value(o, &v->items[i]);
        }
        out_put(o, "}", 1);
        break;
    }
}

static void fail(const char *what) {
    fprintf(stderr, "fuzz_json: %s\n", what);
    abort();
}

/* Structural equality; numbers compared bit for bit (as doubles). */
static void same(const JsonValue *a, const JsonValue *b) {
    size_t i;
    if (a->type != b->type) fail("round trip changed a type");
    switch (a->type) {
    case JSON_NUMBER:
        if (a->is_integer != b->is_integer) fail("round trip changed is_integer");
        if (a->is_integer && a->integer != b->integer) fail("round trip changed an integer");
        if (memcmp(&a->number, &b->number, sizeof a->number) != 0 && !(a->number == 0 && b->number == 0))
            fail("round trip changed a number");
        if (a->is_integer && a->number != (double)a->integer) fail("integer and number disagree");
        break;
    case JSON_STRING:
        if (a->len != b->len || memcmp(a->str, b->str, a->len) != 0) fail("round trip changed a string");
        break;
    case JSON_ARRAY:
    case JSON_OBJECT:
        if (a->count != b->count) fail("round trip changed a count");
        for (i = 0; i < a->count; i++) {
            if (a->type == JSON_OBJECT &&
                (a->key_lens[i] != b->key_lens[i] || memcmp(a->keys[i], b->keys[i], a->key_lens[i]) != 0))
                fail("round trip changed a key");
            same(&a->items[i], &b->items[i]);
        }
        break;
    default: break;
    }
}

/* Invariants of one parsed tree. */
static void check_tree(const JsonValue *v) {
    size_t i, j;
    switch (v->type) {
    case JSON_STRING:
        if (!v->str || v->str[v->len] != '\0') fail("string not NUL-terminated");
        if (!fuzz_utf8_valid((const unsigned char *)v->str, v->len)) fail("string is not valid UTF-8");
        if (json_as_string(v) != v->str) fail("json_as_string");
        break;
    case JSON_OBJECT:
        for (i = 0; i < v->count; i++) {
            const JsonValue *last = NULL;
            if (v->keys[i][v->key_lens[i]] != '\0') fail("key not NUL-terminated");
            if (!fuzz_utf8_valid((const unsigned char *)v->keys[i], v->key_lens[i])) fail("key is not valid UTF-8");
            if (strlen(v->keys[i]) != v->key_lens[i]) continue; /* embedded NUL: not reachable by json_get */
            for (j = 0; j < v->count; j++)
                if (v->key_lens[j] == v->key_lens[i] && memcmp(v->keys[j], v->keys[i], v->key_lens[i]) == 0)
                    last = &v->items[j];
            if (json_get(v, v->keys[i]) != last) fail("json_get did not return the last duplicate");
        }
        /* fall through */
    case JSON_ARRAY:
        for (i = 0; i < v->count; i++) check_tree(&v->items[i]);
        break;
    default: break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    Error err = {"", 0};
    JsonValue *v = json_parse((const char *)data, size, "fuzz.json", &err), *w;
    Out o = {NULL, 0, 0};
    if (!v) {
        fuzz_check_error(&err, "fuzz.json: ");
        return 0;
    }
    check_tree(v);
    out_value(&o, v);
    w = json_parse(o.b, o.n, "roundtrip.json", &err);
    if (!w) {
        fprintf(stderr, "fuzz_json: re-parse failed: %s\n", err.msg);
        abort();
    }
    same(v, w);
    json_free(w);
    json_free(v);
    free(o.b);
    return 0;
}
