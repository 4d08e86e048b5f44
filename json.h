/* json.h - a strict RFC 8259 JSON reader (no writer; outputs are written with printf).
 *
 * Robust to anything: nesting is limited (JSON_MAX_DEPTH) instead of overflowing
 * the stack, numbers of any length are accepted (huge ones become +-inf in
 * `number` and are flagged not-integer), strings are validated UTF-8 with
 * escapes and surrogate pairs decoded, lone surrogates are an error, duplicate
 * object keys are kept in order and json_get returns the LAST one (as Python
 * and serde_json maps do).
 */
#ifndef CLEANUP_JSON_H
#define CLEANUP_JSON_H

#include <stddef.h>
#include "util.h"

#define JSON_MAX_DEPTH 512

typedef enum { JSON_NULL, JSON_FALSE, JSON_TRUE, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT } JsonType;

typedef struct JsonValue {
    JsonType type;
    double number;        /* JSON_NUMBER: value as a double */
    int is_integer;       /* JSON_NUMBER: written without fraction/exponent and fits in long long */
    long long integer;    /* JSON_NUMBER: exact value when is_integer */
    char *str;            /* JSON_STRING: UTF-8 bytes, NUL-terminated (may contain NUL from \u0000) */
    size_t len;           /* JSON_STRING: byte length of str */
    size_t count;         /* JSON_ARRAY / JSON_OBJECT: number of elements / members */
    struct JsonValue *items; /* JSON_ARRAY: elements; JSON_OBJECT: member values */
    char **keys;          /* JSON_OBJECT: member keys, NUL-terminated UTF-8 */
    size_t *key_lens;     /* JSON_OBJECT: byte lengths of keys */
} JsonValue;

/* Parses text[0..len) as one JSON value (surrounding whitespace allowed).
 * source names the file in error messages ("SOURCE: byte N: problem").
 * Returns NULL and fills err on any error. Free with json_free. */
JsonValue *json_parse(const char *text, size_t len, const char *source, Error *err);
void json_free(JsonValue *v);

/* Member `key` of an object (the last one if the key is repeated), or NULL if
 * obj is NULL, not an object, or has no such key. */
const JsonValue *json_get(const JsonValue *obj, const char *key);
/* Convenience accessors: 1 if v exists and has the type, storing the value. */
int json_as_int(const JsonValue *v, long long *out);   /* integer numbers only */
int json_as_double(const JsonValue *v, double *out);
int json_as_bool(const JsonValue *v, int *out);
const char *json_as_string(const JsonValue *v);        /* NULL unless a string */

#endif
