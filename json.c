/* json.c - a strict RFC 8259 JSON reader (see json.h for the contract).
 *
 * Recursive descent over a byte buffer. Recursion depth is bounded by
 * JSON_MAX_DEPTH, so hostile nesting cannot overflow the C stack. Every error
 * names the source and the 0-based byte offset where the problem was found.
 */
#include "json.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const unsigned char *p; /* whole input */
    size_t len;
    size_t pos;             /* next byte to read */
    const char *source;
    Error *err;
    int depth;              /* open arrays/objects */
} Parser;

/* Records "SOURCE: byte POS: problem" and returns -1. */
static int perr(Parser *ps, size_t pos, const char *problem) {
    return error_set(ps->err, "%s: byte %lu: %s", ps->source, (unsigned long)pos, problem);
}

static int oom(Parser *ps) {
    return error_set_code(ps->err, EXIT_INTERNAL, "%s: out of memory while parsing JSON", ps->source);
}

/* JSON whitespace is exactly space, tab, LF, CR. */
static void skip_ws(Parser *ps) {
    while (ps->pos < ps->len) {
        unsigned char c = ps->p[ps->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        ps->pos++;
    }
}

/* Appends code point cp (already validated: <= 0x10FFFF, not a surrogate) as UTF-8. */
static void buf_put_cp(ByteBuffer *bf, unsigned long cp) {
    if (cp < 0x80) {
        bf->b[bf->n++] = (char)cp;
    } else if (cp < 0x800) {
        bf->b[bf->n++] = (char)(0xC0 | (cp >> 6));
        bf->b[bf->n++] = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        bf->b[bf->n++] = (char)(0xE0 | (cp >> 12));
        bf->b[bf->n++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        bf->b[bf->n++] = (char)(0x80 | (cp & 0x3F));
    } else {
        bf->b[bf->n++] = (char)(0xF0 | (cp >> 18));
        bf->b[bf->n++] = (char)(0x80 | ((cp >> 12) & 0x3F));
        bf->b[bf->n++] = (char)(0x80 | ((cp >> 6) & 0x3F));
        bf->b[bf->n++] = (char)(0x80 | (cp & 0x3F));
    }
}

/* Reads 4 hex digits at ps->pos into *out; -1 (with error) if not hex. */
static int read_hex4(Parser *ps, unsigned long *out) {
    unsigned long v = 0;
    int i;
    if (ps->len - ps->pos < 4) return perr(ps, ps->pos, "truncated \\u escape");
    for (i = 0; i < 4; i++) {
        unsigned char c = ps->p[ps->pos + i];
        int d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
        else return perr(ps, ps->pos + i, "invalid hex digit in \\u escape");
        v = v * 16 + (unsigned long)d;
    }
    ps->pos += 4;
    *out = v;
    return 0;
}

/* Parses a string starting at the opening quote; stores a malloc'ed
 * NUL-terminated copy and its length. */
static int parse_string(Parser *ps, char **out, size_t *out_len) {
    ByteBuffer bf = {NULL, 0, 0};
    ps->pos++; /* opening quote */
    for (;;) {
        size_t start = ps->pos;
        unsigned char c;
        /* Copy a run of plain bytes in one go. */
        while (ps->pos < ps->len) {
            c = ps->p[ps->pos];
            if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80) break;
            ps->pos++;
        }
        if (ps->pos > start) {
            if (bytebuf_reserve(&bf, ps->pos - start)) goto nomem;
            memcpy(bf.b + bf.n, ps->p + start, ps->pos - start);
            bf.n += ps->pos - start;
        }
        if (ps->pos >= ps->len) {
            perr(ps, ps->pos, "unterminated string");
            goto fail;
        }
        c = ps->p[ps->pos];
        if (c == '"') {
            ps->pos++;
            break;
        }
        if (c < 0x20) {
            perr(ps, ps->pos, "control character in string (must be escaped)");
            goto fail;
        }
        if (c >= 0x80) {
            size_t n = utf8_valid_len(ps->p + ps->pos, ps->len - ps->pos);
            if (n == 0) {
                perr(ps, ps->pos, "invalid UTF-8 in string");
                goto fail;
            }
            if (bytebuf_reserve(&bf, n)) goto nomem;
            memcpy(bf.b + bf.n, ps->p + ps->pos, n);
            bf.n += n;
            ps->pos += n;
            continue;
        }
        /* Backslash escape. */
        {
            size_t esc = ps->pos;
            unsigned long cp;
            ps->pos++;
            if (ps->pos >= ps->len) {
                perr(ps, esc, "unterminated escape");
                goto fail;
            }
            c = ps->p[ps->pos++];
            if (bytebuf_reserve(&bf, 4)) goto nomem;
            switch (c) {
            case '"': bf.b[bf.n++] = '"'; break;
            case '\\': bf.b[bf.n++] = '\\'; break;
            case '/': bf.b[bf.n++] = '/'; break;
            case 'b': bf.b[bf.n++] = '\b'; break;
            case 'f': bf.b[bf.n++] = '\f'; break;
            case 'n': bf.b[bf.n++] = '\n'; break;
            case 'r': bf.b[bf.n++] = '\r'; break;
            case 't': bf.b[bf.n++] = '\t'; break;
            case 'u':
                if (read_hex4(ps, &cp)) goto fail;
                if (cp >= 0xDC00 && cp <= 0xDFFF) {
                    perr(ps, esc, "lone low surrogate in \\u escape");
                    goto fail;
                }
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    unsigned long lo;
                    if (ps->len - ps->pos < 2 || ps->p[ps->pos] != '\\' || ps->p[ps->pos + 1] != 'u') {
                        perr(ps, esc, "lone high surrogate in \\u escape (not followed by a low surrogate)");
                        goto fail;
                    }
                    ps->pos += 2;
                    if (read_hex4(ps, &lo)) goto fail;
                    if (lo < 0xDC00 || lo > 0xDFFF) {
                        perr(ps, esc, "lone high surrogate in \\u escape (not followed by a low surrogate)");
                        goto fail;
                    }
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                }
                buf_put_cp(&bf, cp);
                break;
            default:
                perr(ps, esc, "invalid escape sequence in string");
                goto fail;
            }
        }
    }
    if (bytebuf_reserve(&bf, 0)) goto nomem;
    bf.b[bf.n] = '\0';
    *out = bf.b;
    *out_len = bf.n;
    return 0;
nomem:
    oom(ps);
fail:
    free(bf.b);
    return -1;
}

/* Parses a number per the RFC grammar:  -? (0 | [1-9][0-9]*) (.[0-9]+)? ([eE][+-]?[0-9]+)?  */
static int parse_number(Parser *ps, JsonValue *v) {
    size_t start = ps->pos, n;
    int neg = 0, plain = 1, overflow = 0;
    unsigned long long mag = 0;
    char small[64], *tmp;
    if (ps->p[ps->pos] == '-') {
        neg = 1;
        ps->pos++;
    }
    if (ps->pos >= ps->len || ps->p[ps->pos] < '0' || ps->p[ps->pos] > '9')
        return perr(ps, ps->pos, "invalid number (expected a digit)");
    if (ps->p[ps->pos] == '0') {
        ps->pos++;
        if (ps->pos < ps->len && ps->p[ps->pos] >= '0' && ps->p[ps->pos] <= '9')
            return perr(ps, ps->pos, "invalid number (leading zero)");
    } else {
        while (ps->pos < ps->len && ps->p[ps->pos] >= '0' && ps->p[ps->pos] <= '9') {
            unsigned d = (unsigned)(ps->p[ps->pos] - '0');
            if (mag > (ULLONG_MAX - d) / 10) overflow = 1;
            else mag = mag * 10 + d;
            ps->pos++;
        }
    }
    if (ps->pos < ps->len && ps->p[ps->pos] == '.') {
        plain = 0;
        ps->pos++;
        if (ps->pos >= ps->len || ps->p[ps->pos] < '0' || ps->p[ps->pos] > '9')
            return perr(ps, ps->pos, "invalid number (expected a digit after '.')");
        while (ps->pos < ps->len && ps->p[ps->pos] >= '0' && ps->p[ps->pos] <= '9') ps->pos++;
    }
    if (ps->pos < ps->len && (ps->p[ps->pos] == 'e' || ps->p[ps->pos] == 'E')) {
        plain = 0;
        ps->pos++;
        if (ps->pos < ps->len && (ps->p[ps->pos] == '+' || ps->p[ps->pos] == '-')) ps->pos++;
        if (ps->pos >= ps->len || ps->p[ps->pos] < '0' || ps->p[ps->pos] > '9')
            return perr(ps, ps->pos, "invalid number (expected a digit in the exponent)");
        while (ps->pos < ps->len && ps->p[ps->pos] >= '0' && ps->p[ps->pos] <= '9') ps->pos++;
    }
    /* strtod needs a NUL-terminated copy; it handles any length, giving +-HUGE_VAL
     * (inf) on overflow and 0 on underflow. The text contains only [-+.0-9eE],
     * so the C locale's decimal point is the only thing assumed. */
    n = ps->pos - start;
    tmp = n < sizeof small ? small : (char *)malloc(n + 1);
    if (!tmp) return oom(ps);
    memcpy(tmp, ps->p + start, n);
    tmp[n] = '\0';
    errno = 0;
    v->number = strtod(tmp, NULL);
    if (tmp != small) free(tmp);
    v->type = JSON_NUMBER;
    v->is_integer = 0;
    v->integer = 0;
    if (plain && !overflow) {
        if (!neg && mag <= (unsigned long long)LLONG_MAX) {
            v->is_integer = 1;
            v->integer = (long long)mag;
        } else if (neg && mag <= (unsigned long long)LLONG_MAX + 1ULL) {
            v->is_integer = 1;
            v->integer = mag == (unsigned long long)LLONG_MAX + 1ULL ? LLONG_MIN : -(long long)mag;
        }
    }
    return 0;
}

static void free_value(JsonValue *v);
static int parse_value(Parser *ps, JsonValue *v);

/* Doubles a capacity, refusing overflow of count*elem. */
static int grow(void **arr, size_t *cap, size_t elem) {
    size_t ncap = *cap ? *cap * 2 : 4, bytes;
    void *na;
    if (ncap < *cap || size_mul(ncap, elem, &bytes)) return -1;
    na = realloc(*arr, bytes);
    if (!na) return -1;
    *arr = na;
    *cap = ncap;
    return 0;
}

static int parse_array(Parser *ps, JsonValue *v) {
    size_t cap = 0;
    v->type = JSON_ARRAY;
    if (++ps->depth > JSON_MAX_DEPTH) return perr(ps, ps->pos, "nesting too deep (limit 512)");
    ps->pos++; /* [ */
    skip_ws(ps);
    if (ps->pos < ps->len && ps->p[ps->pos] == ']') {
        ps->pos++;
        ps->depth--;
        return 0;
    }
    for (;;) {
        if (v->count == cap && grow((void **)&v->items, &cap, sizeof(JsonValue))) return oom(ps);
        memset(&v->items[v->count], 0, sizeof(JsonValue));
        v->count++; /* counted before parsing so a partial element is freed on error */
        if (parse_value(ps, &v->items[v->count - 1])) return -1;
        skip_ws(ps);
        if (ps->pos >= ps->len) return perr(ps, ps->pos, "unterminated array (expected ',' or ']')");
        if (ps->p[ps->pos] == ',') {
            ps->pos++;
            continue;
        }
        if (ps->p[ps->pos] == ']') {
            ps->pos++;
            break;
        }
        return perr(ps, ps->pos, "expected ',' or ']' in array");
    }
    ps->depth--;
    return 0;
}

static int parse_object(Parser *ps, JsonValue *v) {
    size_t cap = 0, kcap = 0, lcap = 0;
    v->type = JSON_OBJECT;
    if (++ps->depth > JSON_MAX_DEPTH) return perr(ps, ps->pos, "nesting too deep (limit 512)");
    ps->pos++; /* { */
    skip_ws(ps);
    if (ps->pos < ps->len && ps->p[ps->pos] == '}') {
        ps->pos++;
        ps->depth--;
        return 0;
    }
    for (;;) {
        char *key;
        size_t klen;
        skip_ws(ps);
        if (ps->pos >= ps->len || ps->p[ps->pos] != '"') return perr(ps, ps->pos, "expected a string key in object");
        if (parse_string(ps, &key, &klen)) return -1;
        if (v->count == cap) {
            if (grow((void **)&v->items, &cap, sizeof(JsonValue)) || grow((void **)&v->keys, &kcap, sizeof(char *)) ||
                grow((void **)&v->key_lens, &lcap, sizeof(size_t))) {
                free(key);
                return oom(ps);
            }
        }
        memset(&v->items[v->count], 0, sizeof(JsonValue));
        v->keys[v->count] = key;
        v->key_lens[v->count] = klen;
        v->count++;
        skip_ws(ps);
        if (ps->pos >= ps->len || ps->p[ps->pos] != ':') return perr(ps, ps->pos, "expected ':' after object key");
        ps->pos++;
        if (parse_value(ps, &v->items[v->count - 1])) return -1;
        skip_ws(ps);
        if (ps->pos >= ps->len) return perr(ps, ps->pos, "unterminated object (expected ',' or '}')");
        if (ps->p[ps->pos] == ',') {
            ps->pos++;
            continue;
        }
        if (ps->p[ps->pos] == '}') {
            ps->pos++;
            break;
        }
        return perr(ps, ps->pos, "expected ',' or '}' in object");
    }
    ps->depth--;
    return 0;
}

/* 1 if the literal word appears at ps->pos. */
static int match_word(Parser *ps, const char *w) {
    size_t n = strlen(w);
    return ps->len - ps->pos >= n && memcmp(ps->p + ps->pos, w, n) == 0;
}

/* Parses one value (after optional whitespace) into v, which is zeroed. */
static int parse_value(Parser *ps, JsonValue *v) {
    unsigned char c;
    skip_ws(ps);
    if (ps->pos >= ps->len) return perr(ps, ps->pos, "unexpected end of input (expected a value)");
    c = ps->p[ps->pos];
    switch (c) {
    case '{': return parse_object(ps, v);
    case '[': return parse_array(ps, v);
    case '"':
        v->type = JSON_STRING;
        return parse_string(ps, &v->str, &v->len);
    case 't':
        if (!match_word(ps, "true")) break;
        v->type = JSON_TRUE;
        ps->pos += 4;
        return 0;
    case 'f':
        if (!match_word(ps, "false")) break;
        v->type = JSON_FALSE;
        ps->pos += 5;
        return 0;
    case 'n':
        if (!match_word(ps, "null")) break;
        v->type = JSON_NULL;
        ps->pos += 4;
        return 0;
    default:
        if (c == '-' || (c >= '0' && c <= '9')) return parse_number(ps, v);
        break;
    }
    return perr(ps, ps->pos, "unexpected character (expected a value)");
}

/* Frees what a value owns (not the value itself). Depth is bounded by the parser. */
static void free_value(JsonValue *v) {
    size_t i;
    if (v->type == JSON_STRING) free(v->str);
    if (v->type == JSON_ARRAY || v->type == JSON_OBJECT) {
        for (i = 0; i < v->count; i++) {
            free_value(&v->items[i]);
            if (v->keys) free(v->keys[i]);
        }
        free(v->items);
        free(v->keys);
        free(v->key_lens);
    }
}

JsonValue *json_parse(const char *text, size_t len, const char *source, Error *err) {
    Parser ps;
    JsonValue *v;
    ps.p = (const unsigned char *)text;
    ps.len = text ? len : 0;
    ps.pos = 0;
    ps.source = source ? source : "JSON";
    ps.err = err;
    ps.depth = 0;
    /* RFC 8259 section 8.1 allows a parser to ignore a UTF-8 byte order mark. */
    if (ps.len >= 3 && ps.p[0] == 0xEF && ps.p[1] == 0xBB && ps.p[2] == 0xBF) ps.pos = 3;
    v = (JsonValue *)calloc(1, sizeof *v);
    if (!v) {
        oom(&ps);
        return NULL;
    }
    if (parse_value(&ps, v)) {
        free_value(v);
        free(v);
        return NULL;
    }
    skip_ws(&ps);
    if (ps.pos != ps.len) {
        perr(&ps, ps.pos, "unexpected data after the JSON value");
        free_value(v);
        free(v);
        return NULL;
    }
    return v;
}

void json_free(JsonValue *v) {
    if (!v) return;
    free_value(v);
    free(v);
}

const JsonValue *json_get(const JsonValue *obj, const char *key) {
    size_t i, klen;
    if (!obj || obj->type != JSON_OBJECT || !key) return NULL;
    klen = strlen(key);
    /* Scan from the end so a repeated key yields its last value. */
    for (i = obj->count; i-- > 0;)
        if (obj->key_lens[i] == klen && memcmp(obj->keys[i], key, klen) == 0) return &obj->items[i];
    return NULL;
}

int json_as_int(const JsonValue *v, long long *out) {
    if (!v || v->type != JSON_NUMBER || !v->is_integer) return 0;
    if (out) *out = v->integer;
    return 1;
}

int json_as_double(const JsonValue *v, double *out) {
    if (!v || v->type != JSON_NUMBER) return 0;
    if (out) *out = v->number;
    return 1;
}

int json_as_bool(const JsonValue *v, int *out) {
    if (!v || (v->type != JSON_TRUE && v->type != JSON_FALSE)) return 0;
    if (out) *out = v->type == JSON_TRUE;
    return 1;
}

const char *json_as_string(const JsonValue *v) {
    if (!v || v->type != JSON_STRING) return NULL;
    return v->str;
}
