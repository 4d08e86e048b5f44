/* tokenizer.c - HF tokenizer.json byte-level BPE, id-exact with HF tokenizers.
 *
 * The encode pipeline mirrors HF tokenizers 0.22 (tokenizers/src/tokenizer/mod.rs):
 *   1. added tokens that are not `normalized` are matched in the raw text
 *      (leftmost-longest over a byte trie; single_word / lstrip / rstrip as in
 *      AddedVocabulary::find_matches);
 *   2. every remaining piece is normalized (NFC, NFD, NFKC, NFKD, Sequence), then
 *      the `normalized` added tokens are matched in it;
 *   3. the pre-tokenizers split the remaining pieces (ByteLevel with the GPT-2
 *      regex written out by hand, Digits, Split, Sequence); empty pieces vanish;
 *   4. the BPE model turns each piece into ids (merge by rank with a heap, stale
 *      entries skipped, as HF's Word::merge_all), through a word cache.
 * Steps 3-4 stream piece by piece (pretok_chain recurses one level per
 * pre-tokenizer), so memory stays small whatever the text length. Normalization
 * only touches the stretches around characters that can change.
 * Unicode data (unicode_data.c) follows the Unicode versions HF itself uses (see
 * tools/gen_unicode.py); tools/unicode_parity.js + tools/check_unicode.c check every
 * code point against HF, tools/tokenizer_parity.js writes the parity test's ids.
 */
#include "tokenizer.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "unicode_data.h"

#define MAX_TOKEN_ID 16000000L     /* refuse absurd ids before allocating id tables */
#define MAX_TOKENIZER_FILE (1UL << 30)
#define MAX_NORMALIZERS 16
#define MAX_PRETOKENIZERS 16
#define CACHE_MAX_WORD 256         /* like HF: words this long or longer are not cached */
#define CACHE_MAX_ENTRIES 32768

/* ------------------------------------------------------------------------ */
/* Small growable buffers                                                    */

/* ByteBuffer (util.h) holds normalized and pre-tokenized text. */

typedef struct {
    int *v;
    size_t n, cap;
} Ints;

static int ints_push(Ints *x, int id) {
    if (x->n == x->cap) {
        size_t ncap = x->cap ? x->cap * 2 : 64, bytes;
        int *nv;
        if (ncap < x->cap || size_mul(ncap, sizeof(int), &bytes)) return -1;
        nv = (int *)realloc(x->v, bytes);
        if (!nv) return -1;
        x->v = nv;
        x->cap = ncap;
    }
    x->v[x->n++] = id;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* UTF-8                                                                     */

/* Decodes the (already validated) UTF-8 sequence at s[0..n); stores the code
 * point and returns its length (1 for a stray byte, defensively). */
static size_t utf8_dec(const unsigned char *s, size_t n, unsigned long *cp) {
    unsigned char c = s[0];
    if (c < 0x80 || n < 2) {
        *cp = c;
        return 1;
    }
    if (c < 0xE0) {
        *cp = ((unsigned long)(c & 0x1F) << 6) | (s[1] & 0x3F);
        return 2;
    }
    if (c < 0xF0 || n < 4) {
        if (n < 3) {
            *cp = c;
            return 1;
        }
        *cp = ((unsigned long)(c & 0x0F) << 12) | ((unsigned long)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
        return 3;
    }
    *cp = ((unsigned long)(c & 0x07) << 18) | ((unsigned long)(s[1] & 0x3F) << 12) |
          ((unsigned long)(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
    return 4;
}

/* Writes cp as UTF-8 into out (>= 4 bytes); returns the length. */
static size_t utf8_enc(unsigned long cp, char *out) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* ------------------------------------------------------------------------ */
/* Hash maps                                                                 */

static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    size_t i;
    for (i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h ^ (h >> 29);
}

/* String -> int map, open addressing; keys point at memory owned elsewhere. */
typedef struct {
    const char *key;
    size_t len;
    int value;
    int used;
} StrSlot;

typedef struct {
    StrSlot *slots;
    size_t cap, count; /* cap is a power of two */
} StrMap;

static int strmap_init(StrMap *m, size_t expected) {
    size_t cap = 16;
    while (cap < expected * 2 + 16) cap *= 2;
    m->slots = (StrSlot *)alloc_array(cap, sizeof(StrSlot));
    m->cap = cap;
    m->count = 0;
    return m->slots ? 0 : -1;
}

static StrSlot *strmap_slot(const StrMap *m, const char *key, size_t len) {
    size_t i = (size_t)hash_bytes(key, len) & (m->cap - 1);
    for (;;) {
        StrSlot *s = &m->slots[i];
        if (!s->used || (s->len == len && memcmp(s->key, key, len) == 0)) return s;
        i = (i + 1) & (m->cap - 1);
    }
}

/* Inserts or overwrites (later wins, like building a Rust HashMap). */
static int strmap_put(StrMap *m, const char *key, size_t len, int value) {
    StrSlot *s;
    if ((m->count + 1) * 2 > m->cap) {
        StrMap bigger;
        size_t i;
        if (strmap_init(&bigger, m->cap)) return -1;
        for (i = 0; i < m->cap; i++)
            if (m->slots[i].used) *strmap_slot(&bigger, m->slots[i].key, m->slots[i].len) = m->slots[i];
        bigger.count = m->count;
        free(m->slots);
        *m = bigger;
    }
    s = strmap_slot(m, key, len);
    if (!s->used) m->count++;
    s->key = key;
    s->len = len;
    s->value = value;
    s->used = 1;
    return 0;
}

/* Returns the value or -1. */
static int strmap_get(const StrMap *m, const char *key, size_t len) {
    const StrSlot *s;
    if (!m->slots) return -1;
    s = strmap_slot(m, key, len);
    return s->used ? s->value : -1;
}

/* Merge table: (left id, right id) -> (rank, merged id). */
typedef struct {
    uint64_t key; /* (a << 32 | b) + 1; 0 = empty */
    int rank, new_id;
} MergeSlot;

typedef struct {
    MergeSlot *slots;
    size_t cap, count;
} MergeMap;

static size_t merge_hash(uint64_t k) {
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    return (size_t)k;
}

static MergeSlot *merge_slot(const MergeMap *m, uint64_t key) {
    size_t i = merge_hash(key) & (m->cap - 1);
    while (m->slots[i].key && m->slots[i].key != key) i = (i + 1) & (m->cap - 1);
    return &m->slots[i];
}

static const MergeSlot *merge_find(const MergeMap *m, int a, int b) {
    const MergeSlot *s;
    if (!m->slots) return NULL;
    s = merge_slot(m, (((uint64_t)(uint32_t)a << 32) | (uint32_t)b) + 1);
    return s->key ? s : NULL;
}

/* ------------------------------------------------------------------------ */
/* The tokenizer                                                             */

enum { NORM_NFC, NORM_NFD, NORM_NFKC, NORM_NFKD };
enum { PRE_BYTELEVEL, PRE_DIGITS, PRE_SPLIT };
enum { SPLIT_REMOVED, SPLIT_ISOLATED, SPLIT_MERGED_PREV, SPLIT_MERGED_NEXT, SPLIT_CONTIGUOUS };

typedef struct {
    int type;
    int add_prefix_space, use_regex;  /* ByteLevel */
    int individual_digits;            /* Digits */
    char *pattern;                    /* Split: a literal string, or NULL for the GPT-2 regex */
    size_t pattern_len;
    int behavior, invert;             /* Split */
} PreTok;

typedef struct {
    char *content;   /* as written in tokenizer.json */
    size_t len;
    char *pattern;   /* what is matched: content, normalized when `normalized` */
    size_t pattern_len;
    int id;
    int special, normalized, lstrip, rstrip, single_word;
} AddedTok;

/* One set of added tokens matched together (HF's split_trie / split_normalized_trie):
 * a byte trie of their patterns, children as sibling lists. */
typedef struct {
    int child, sibling; /* node indices, -1 for none */
    int tok;            /* index into Tokenizer.added of the pattern ending here, or -1 */
    unsigned char byte;
} TrieNode;

typedef struct {
    TrieNode *nodes;
    int n_nodes, cap;
    int root[256];      /* first-level node for each byte, or -1 */
    int n_tokens;
} Matcher;

/* A word cache slot, kept to 16 bytes so the table stays small and cache-friendly.
 * Offsets fit in 32 bits because the cache is cleared when it holds
 * CACHE_MAX_ENTRIES words of fewer than CACHE_MAX_WORD bytes. key_len 0 = empty. */
typedef struct {
    uint32_t hash, key_off, ids_off;
    uint16_t key_len, n_ids;
} CacheSlot;

struct Tokenizer {
    char *path;
    /* BPE model */
    StrMap vocab;          /* token string -> id */
    char *vocab_arena;     /* all vocab strings, NUL-terminated, back to back */
    const char **model_tok; /* id -> token string of the model vocab (NULL if none) */
    size_t *model_tok_len;
    int n_ids;             /* 1 + largest id, model and added tokens */
    int model_vocab_count; /* number of vocab entries (HF get_vocab_size) */
    MergeMap merges;
    char *unk_token, *prefix, *suffix;
    size_t prefix_len, suffix_len;
    int fuse_unk, byte_fallback, ignore_merges;
    /* added tokens */
    AddedTok *added;
    int n_added;
    StrMap added_map;      /* content -> id */
    int *added_by_id;      /* id -> index into added, or -1 */
    Matcher raw, norm;
    /* pipeline */
    int normalizers[MAX_NORMALIZERS];
    int n_normalizers;
    PreTok pre[MAX_PRETOKENIZERS];
    int n_pre;
    int decoder_bytelevel; /* 1 ByteLevel, 0 none (tokens joined by spaces, as HF) */
    /* byte-level alphabet */
    char byte_char[256][3]; /* UTF-8 of the char standing for each byte */
    unsigned char byte_char_len[256];
    short char_byte[512];   /* code point (< 512) -> byte, or -1 */
    int bos, eos, pad;
    /* word cache */
    CacheSlot *cache;
    size_t cache_cap, cache_count;
    ByteBuffer cache_keys;
    Ints cache_ids;
};

int tokenizer_vocab_size(const Tokenizer *tok) { return tok->n_ids; }
int tokenizer_bos_id(const Tokenizer *tok) { return tok->bos; }
int tokenizer_eos_id(const Tokenizer *tok) { return tok->eos; }
int tokenizer_pad_id(const Tokenizer *tok) { return tok->pad; }
void tokenizer_set_bos_id(Tokenizer *tok, int id) { tok->bos = id; }

void tokenizer_free(Tokenizer *tok) {
    int i;
    if (!tok) return;
    free(tok->path);
    free(tok->vocab.slots);
    free(tok->vocab_arena);
    free((void *)tok->model_tok);
    free(tok->model_tok_len);
    free(tok->merges.slots);
    free(tok->unk_token);
    free(tok->prefix);
    free(tok->suffix);
    for (i = 0; i < tok->n_added; i++) {
        free(tok->added[i].content);
        free(tok->added[i].pattern);
    }
    free(tok->added);
    free(tok->added_map.slots);
    free(tok->added_by_id);
    free(tok->raw.nodes);
    free(tok->norm.nodes);
    for (i = 0; i < tok->n_pre; i++) free(tok->pre[i].pattern);
    free(tok->cache);
    free(tok->cache_keys.b);
    free(tok->cache_ids.v);
    free(tok);
}

/* GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves, the
 * other 68 bytes map to U+0100.. in byte order. */
static void init_byte_alphabet(Tokenizer *tok) {
    int b, n = 0;
    for (b = 0; b < 512; b++) tok->char_byte[b] = -1;
    for (b = 0; b < 256; b++) {
        unsigned long cp;
        int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        cp = printable ? (unsigned long)b : 256UL + (unsigned long)n++;
        tok->byte_char_len[b] = (unsigned char)utf8_enc(cp, tok->byte_char[b]);
        tok->char_byte[cp] = (short)b;
    }
}

/* ------------------------------------------------------------------------ */
/* Normalization (UAX #15)                                                   */

#define HANGUL_S 0xAC00UL
#define HANGUL_L 0x1100UL
#define HANGUL_V 0x1161UL
#define HANGUL_T 0x11A7UL
#define HANGUL_LCOUNT 19UL
#define HANGUL_VCOUNT 21UL
#define HANGUL_TCOUNT 28UL
#define HANGUL_SCOUNT 11172UL

typedef struct {
    unsigned long *v;
    size_t n, cap;
} Cps;

static int cps_push(Cps *c, unsigned long cp) {
    if (c->n == c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 64, bytes;
        unsigned long *nv;
        if (ncap < c->cap || size_mul(ncap, sizeof(unsigned long), &bytes)) return -1;
        nv = (unsigned long *)realloc(c->v, bytes);
        if (!nv) return -1;
        c->v = nv;
        c->cap = ncap;
    }
    c->v[c->n++] = cp;
    return 0;
}

static unsigned long compose_pair(unsigned long a, unsigned long b) {
    if (a >= HANGUL_L && a < HANGUL_L + HANGUL_LCOUNT && b >= HANGUL_V && b < HANGUL_V + HANGUL_VCOUNT)
        return HANGUL_S + ((a - HANGUL_L) * HANGUL_VCOUNT + (b - HANGUL_V)) * HANGUL_TCOUNT;
    if (a >= HANGUL_S && a < HANGUL_S + HANGUL_SCOUNT && (a - HANGUL_S) % HANGUL_TCOUNT == 0 && b > HANGUL_T &&
        b < HANGUL_T + HANGUL_TCOUNT)
        return a + (b - HANGUL_T);
    return uni_compose_pair(a, b);
}

/* Normalizes s[0..n) with form `form` (decompose, reorder, compose) and appends
 * the result to out. */
static int normalize_full(int form, const char *s, size_t n, ByteBuffer *out) {
    int compat = form == NORM_NFKC || form == NORM_NFKD;
    int compose = form == NORM_NFC || form == NORM_NFKC;
    const unsigned char *u = (const unsigned char *)s;
    size_t i, k;
    Cps c = {NULL, 0, 0};
    int rc = -1;
    /* Full decomposition. */
    for (i = 0; i < n;) {
        unsigned long cp;
        const unsigned int *d;
        int dl, j;
        i += utf8_dec(u + i, n - i, &cp);
        if (cp >= HANGUL_S && cp < HANGUL_S + HANGUL_SCOUNT) {
            unsigned long si = cp - HANGUL_S, t = si % HANGUL_TCOUNT;
            if (cps_push(&c, HANGUL_L + si / (HANGUL_VCOUNT * HANGUL_TCOUNT)) ||
                cps_push(&c, HANGUL_V + (si % (HANGUL_VCOUNT * HANGUL_TCOUNT)) / HANGUL_TCOUNT))
                goto done;
            if (t && cps_push(&c, HANGUL_T + t)) goto done;
            continue;
        }
        dl = uni_decompose(cp, compat, &d);
        if (dl == 0) {
            if (cps_push(&c, cp)) goto done;
        } else {
            for (j = 0; j < dl; j++)
                if (cps_push(&c, d[j])) goto done;
        }
    }
    /* Canonical ordering: stable sort of each run of non-starters by class. */
    for (i = 1; i < c.n; i++) {
        unsigned cc = uni_ccc(c.v[i]);
        if (cc == 0) continue;
        for (k = i; k > 0; k--) {
            unsigned pc = uni_ccc(c.v[k - 1]);
            unsigned long t;
            if (pc == 0 || pc <= cc) break;
            t = c.v[k];
            c.v[k] = c.v[k - 1];
            c.v[k - 1] = t;
        }
    }
    /* Canonical composition. */
    if (compose && c.n > 0) {
        size_t starter = 0, w = 1;
        unsigned last = uni_ccc(c.v[0]) ? 256 : 0;
        for (i = 1; i < c.n; i++) {
            unsigned long ch = c.v[i], comp;
            unsigned cc = uni_ccc(ch);
            comp = compose_pair(c.v[starter], ch);
            if (comp && (last < cc || last == 0) && !(last == 256)) {
                c.v[starter] = comp;
            } else {
                if (cc == 0) {
                    starter = w;
                    last = 0;
                } else {
                    last = cc;
                }
                c.v[w++] = ch;
            }
        }
        c.n = w;
    }
    for (i = 0; i < c.n; i++) {
        char buf[4];
        if (bytebuf_put(out, buf, utf8_enc(c.v[i], buf))) goto done;
    }
    rc = 0;
done:
    free(c.v);
    return rc;
}

/* Normalizes s[0..n) with form `form` and appends the result to out. Only the
 * stretches around characters that can change are normalized: a character whose
 * quick-check flag is clear (quick check Yes, combining class 0) is a boundary
 * that normalization never moves across, so text between such stretches is
 * copied as is. Each stretch starts at the last stable character before it, which
 * may compose with what follows. */
static int normalize_append(int form, const char *s, size_t n, ByteBuffer *out) {
    unsigned flag = form == NORM_NFC ? UNI_NFC : form == NORM_NFD ? UNI_NFD : form == NORM_NFKC ? UNI_NFKC : UNI_NFKD;
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, done = 0, last_stable = 0;
    while (i < n) {
        unsigned long cp;
        size_t l, e;
        if (u[i] < 0x80) {
            last_stable = i++;
            continue;
        }
        l = utf8_dec(u + i, n - i, &cp);
        if (!(uni_flags(cp) & flag)) {
            last_stable = i;
            i += l;
            continue;
        }
        for (e = i + l; e < n;) {
            size_t l2 = u[e] < 0x80 ? 1 : utf8_dec(u + e, n - e, &cp);
            if (u[e] < 0x80 || !(uni_flags(cp) & flag)) break;
            e += l2;
        }
        if (bytebuf_put(out, s + done, last_stable - done) || normalize_full(form, s + last_stable, e - last_stable, out))
            return -1;
        done = last_stable = i = e;
    }
    return bytebuf_put(out, s + done, n - done);
}

int tokenizer_normalize(const char *form, const char *text, size_t len, char **out, size_t *out_len, Error *err) {
    ByteBuffer b = {NULL, 0, 0};
    int f;
    size_t bad;
    *out = NULL;
    *out_len = 0;
    if (strcmp(form, "NFC") == 0) f = NORM_NFC;
    else if (strcmp(form, "NFD") == 0) f = NORM_NFD;
    else if (strcmp(form, "NFKC") == 0) f = NORM_NFKC;
    else if (strcmp(form, "NFKD") == 0) f = NORM_NFKD;
    else return error_set(err, "unknown normalization form '%s'", form);
    bad = utf8_first_invalid((const unsigned char *)text, len);
    if (bad < len) return error_set(err, "input text: byte %lu: invalid UTF-8", (unsigned long)bad);
    if (bytebuf_reserve(&b, 0) || normalize_append(f, text, len, &b)) {
        free(b.b);
        return error_set_code(err, EXIT_INTERNAL, "out of memory while normalizing");
    }
    b.b[b.n] = '\0';
    *out = b.b;
    *out_len = b.n;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Segments: the text around added tokens                                   */

typedef struct {
    const char *p; /* text: p[0..len), pointing into the caller's buffer */
    size_t len;
    int id;        /* >= 0: an added token already resolved; -1: text */
} Seg;

typedef struct {
    Seg *v;
    size_t n, cap;
} Segs;

static int segs_push(Segs *s, const char *p, size_t len, int id) {
    if (id < 0 && len == 0) return 0; /* HF drops empty splits */
    if (s->n == s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 16, bytes;
        Seg *nv;
        if (ncap < s->cap || size_mul(ncap, sizeof(Seg), &bytes)) return -1;
        nv = (Seg *)realloc(s->v, bytes);
        if (!nv) return -1;
        s->v = nv;
        s->cap = ncap;
    }
    s->v[s->n].p = p;
    s->v[s->n].len = len;
    s->v[s->n].id = id;
    s->n++;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Added tokens                                                              */

/* Rust regex \w at the end of s[0..n) (ends_with_word) / at its start. */
static int ends_with_word(const char *s, size_t n) {
    size_t i = n;
    unsigned long cp;
    if (n == 0) return 0;
    while (i > 0 && ((unsigned char)s[i - 1] & 0xC0) == 0x80) i--;
    if (i > 0) i--;
    while (i > 0 && ((unsigned char)s[i] & 0xC0) == 0x80) i--;
    utf8_dec((const unsigned char *)s + i, n - i, &cp);
    return (uni_flags(cp) & UNI_WORD) != 0;
}

static int starts_with_word(const char *s, size_t n) {
    unsigned long cp;
    if (n == 0) return 0;
    utf8_dec((const unsigned char *)s, n, &cp);
    return (uni_flags(cp) & UNI_WORD) != 0;
}

/* Start of the run of White_Space characters that ends s[0..n). */
static size_t leftmost_space_at_end(const char *s, size_t n) {
    size_t i = n;
    while (i > 0) {
        size_t j = i - 1;
        unsigned long cp;
        while (j > 0 && ((unsigned char)s[j] & 0xC0) == 0x80) j--;
        utf8_dec((const unsigned char *)s + j, i - j, &cp);
        if (!(uni_flags(cp) & UNI_WS)) break;
        i = j;
    }
    return i;
}

/* Length of the run of White_Space characters that starts s[0..n). */
static size_t space_run_at_start(const char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned long cp;
        size_t l = utf8_dec((const unsigned char *)s + i, n - i, &cp);
        if (!(uni_flags(cp) & UNI_WS)) break;
        i += l;
    }
    return i;
}

/* Splits text t[0..n) around the added tokens of matcher m, exactly like HF's
 * AddedVocabulary::find_matches: leftmost-longest non-overlapping matches (the
 * earlier token wins a tie), then single_word filtering and lstrip/rstrip. */
static int split_added(const Tokenizer *tok, const Matcher *m, const char *t, size_t n, Segs *out) {
    size_t pos = 0, start_offset = 0;
    const unsigned char *u = (const unsigned char *)t;
    if (m->n_tokens == 0) return segs_push(out, t, n, -1);
    while (pos < n) {
        int best = -1, cur = m->root[u[pos]];
        size_t start, stop, best_len = 0, j = pos;
        const AddedTok *a;
        /* Walk the trie as far as the text allows; the last pattern end seen is the longest match here. */
        while (cur >= 0) {
            if (m->nodes[cur].tok >= 0) {
                best = m->nodes[cur].tok;
                best_len = j + 1 - pos;
            }
            if (++j >= n) break;
            cur = m->nodes[cur].child;
            while (cur >= 0 && m->nodes[cur].byte != u[j]) cur = m->nodes[cur].sibling;
        }
        if (best < 0) {
            pos++;
            continue;
        }
        a = &tok->added[best];
        start = pos;
        stop = pos + best_len;
        pos = stop; /* the automaton resumes after the match, whatever happens below */
        if (a->single_word) {
            int start_space = start == 0 || !ends_with_word(t, start);
            int stop_space = stop == n || !starts_with_word(t + stop, n - stop);
            if (!start_space || !stop_space) continue;
        }
        if (a->lstrip) {
            size_t ns = leftmost_space_at_end(t, start);
            start = ns > start_offset ? ns : start_offset;
        }
        if (a->rstrip) stop += space_run_at_start(t + stop, n - stop);
        if (start_offset < start && segs_push(out, t + start_offset, start - start_offset, -1)) return -1;
        if (segs_push(out, NULL, 0, a->id)) return -1;
        start_offset = stop;
    }
    if (start_offset < n && segs_push(out, t + start_offset, n - start_offset, -1)) return -1;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Pre-tokenizers                                                            */

enum { CL_OTHER, CL_L, CL_N, CL_WS };

static int char_class(unsigned long cp) {
    unsigned f;
    if (cp < 0x80) {
        if ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z')) return CL_L;
        if (cp >= '0' && cp <= '9') return CL_N;
        if (cp == ' ' || (cp >= 9 && cp <= 13)) return CL_WS;
        return CL_OTHER;
    }
    f = uni_flags(cp);
    if (f & UNI_WS) return CL_WS;
    if (f & UNI_L) return CL_L;
    if (f & UNI_N) return CL_N;
    return CL_OTHER;
}

/* Rust's char::is_numeric (categories Nd, Nl, No), used by the Digits pre-tokenizer. */
static int is_numeric(unsigned long cp) {
    if (cp < 0x80) return cp >= '0' && cp <= '9';
    return uni_is_numeric(cp);
}

/* Length of the GPT-2 regex match at s[0..n) (n > 0):
 *   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * Alternatives are tried in order (leftmost-first), each greedy. Every
 * position matches, so consecutive matches tile the string. */
static size_t gpt2_match(const unsigned char *s, size_t n) {
    unsigned long cp, cp2;
    size_t l = utf8_dec(s, n, &cp), i, k;
    int cl = char_class(cp), cl2;
    if (cp == '\'' && n >= 2) {
        unsigned char c1 = s[1];
        if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') return 2;
        if (n >= 3 && ((c1 == 'r' && s[2] == 'e') || (c1 == 'v' && s[2] == 'e') || (c1 == 'l' && s[2] == 'l')))
            return 3;
    }
    /* ` ?X+` for X in letters, numbers, others: an optional space, then a run of one class. */
    k = 0;
    cl2 = cl;
    if (cp == ' ' && n > 1) {
        utf8_dec(s + 1, n - 1, &cp2);
        cl2 = char_class(cp2);
        if (cl2 != CL_WS) k = 1;
    }
    if (k == 1 || cl != CL_WS) {
        i = k;
        while (i < n) {
            unsigned long c;
            size_t cl_len = utf8_dec(s + i, n - i, &c);
            if (char_class(c) != cl2) break;
            i += cl_len;
        }
        return i;
    }
    /* Whitespace: the run, minus its last character when non-space follows. */
    i = 0;
    k = 0; /* start of the last whitespace character */
    while (i < n) {
        unsigned long c;
        size_t cl_len = utf8_dec(s + i, n - i, &c);
        if (char_class(c) != CL_WS) break;
        k = i;
        i += cl_len;
    }
    if (i == n) return n;   /* \s+(?!\S) at the end */
    if (k > 0) return k;    /* \s+(?!\S) backs off one character */
    (void)l;
    return i;               /* \s+ : a single whitespace before non-space */
}

/* A piece of a split: [s, e) and whether it is a pattern match. */
typedef struct {
    size_t s, e;
    int is_match;
} Part;

typedef struct {
    Part *v;
    size_t n, cap;
} Parts;

static int parts_push(Parts *x, size_t s, size_t e, int is_match) {
    if (s == e) return 0;
    if (x->n == x->cap) {
        size_t ncap = x->cap ? x->cap * 2 : 64, bytes;
        Part *nv;
        if (ncap < x->cap || size_mul(ncap, sizeof(Part), &bytes)) return -1;
        nv = (Part *)realloc(x->v, bytes);
        if (!nv) return -1;
        x->v = nv;
        x->cap = ncap;
    }
    x->v[x->n].s = s;
    x->v[x->n].e = e;
    x->v[x->n].is_match = is_match;
    x->n++;
    return 0;
}

/* Turns the tiling `in` (matches and gaps, in order) into the pieces HF's
 * NormalizedString::split gives for `behavior`, written to out. */
static int apply_behavior(const Parts *in, int behavior, Parts *out) {
    size_t i;
    int prev_match = 0;
    out->n = 0;
    if (behavior == SPLIT_ISOLATED || behavior == SPLIT_REMOVED) {
        for (i = 0; i < in->n; i++)
            if ((behavior == SPLIT_ISOLATED || !in->v[i].is_match) && parts_push(out, in->v[i].s, in->v[i].e, 0))
                return -1;
        return 0;
    }
    if (behavior == SPLIT_MERGED_NEXT) {
        /* Walk backwards: a match joins the piece on its right unless that is a match too. */
        size_t a, b;
        for (i = in->n; i-- > 0;) {
            if (in->v[i].is_match && !prev_match && out->n > 0) out->v[out->n - 1].s = in->v[i].s;
            else if (parts_push(out, in->v[i].s, in->v[i].e, 0)) return -1;
            prev_match = in->v[i].is_match;
        }
        for (a = 0, b = out->n; a + 1 < b; a++, b--) {
            Part t = out->v[a];
            out->v[a] = out->v[b - 1];
            out->v[b - 1] = t;
        }
        return 0;
    }
    /* MergedWithPrevious: a match joins the piece on its left unless that is a match.
     * Contiguous: runs of matches (and runs of gaps) become one piece. */
    for (i = 0; i < in->n; i++) {
        int join = out->n > 0 && (behavior == SPLIT_MERGED_PREV ? in->v[i].is_match && !prev_match
                                                                 : in->v[i].is_match == prev_match);
        if (join) out->v[out->n - 1].e = in->v[i].e;
        else if (parts_push(out, in->v[i].s, in->v[i].e, 0)) return -1;
        prev_match = in->v[i].is_match;
    }
    return 0;
}

/* Scratch space of one pre-tokenizer level (levels recurse into each other). */
typedef struct {
    Parts tiling, pieces;
    ByteBuffer prefixed, mapped;
} Level;

typedef struct {
    Tokenizer *tok;
    Ints *out;
    Error *err;
    Level lv[MAX_PRETOKENIZERS];
} EncodeState;

static int bpe_cached(Tokenizer *tok, const char *w, size_t n, Ints *out, Error *err);

/* Runs pre-tokenizers k.. on piece p[0..n) and the model on what comes out.
 * Streaming piece by piece keeps memory small whatever the text length. */
static int pretok_chain(EncodeState *st, int k, const char *p, size_t n) {
    Tokenizer *tok = st->tok;
    const PreTok *pt;
    Level *lv;
    const unsigned char *u;
    size_t i;
    if (n == 0) return 0; /* HF drops empty pieces */
    if (k == tok->n_pre) return bpe_cached(tok, p, n, st->out, st->err);
    pt = &tok->pre[k];
    lv = &st->lv[k];
    u = (const unsigned char *)p;
    if (pt->type == PRE_BYTELEVEL) {
        /* Optional prefix space, the GPT-2 regex split, then bytes -> alphabet characters. */
        const char *q = p;
        size_t qn = n;
        if (pt->add_prefix_space && p[0] != ' ') {
            lv->prefixed.n = 0;
            if (bytebuf_put(&lv->prefixed, " ", 1) || bytebuf_put(&lv->prefixed, p, n)) goto oom;
            q = lv->prefixed.b;
            qn = lv->prefixed.n;
        }
        for (i = 0; i < qn;) {
            size_t l = pt->use_regex ? gpt2_match((const unsigned char *)q + i, qn - i) : qn - i, j;
            lv->mapped.n = 0;
            if (bytebuf_reserve(&lv->mapped, 2 * l)) goto oom;
            for (j = i; j < i + l; j++) {
                unsigned char b = (unsigned char)q[j];
                memcpy(lv->mapped.b + lv->mapped.n, tok->byte_char[b], tok->byte_char_len[b]);
                lv->mapped.n += tok->byte_char_len[b];
            }
            /* Deeper levels have their own scratch, so lv->mapped stays valid during the call. */
            if (pretok_chain(st, k + 1, lv->mapped.b, lv->mapped.n)) return -1;
            i += l;
        }
        return 0;
    }
    if (pt->type == PRE_DIGITS) {
        /* Rust char::is_numeric; each digit alone (individual_digits) or runs of digits. */
        for (i = 0; i < n;) {
            unsigned long cp;
            size_t l = utf8_dec(u + i, n - i, &cp), j = i + l;
            int num = is_numeric(cp);
            if (!pt->individual_digits || !num) {
                while (j < n) {
                    size_t l2 = utf8_dec(u + j, n - j, &cp);
                    if (is_numeric(cp) != num) break;
                    j += l2;
                }
            }
            if (pretok_chain(st, k + 1, p + i, j - i)) return -1;
            i = j;
        }
        return 0;
    }
    /* Split: tile the piece into matches and gaps, apply the behavior, recurse on each piece. */
    lv->tiling.n = 0;
    if (pt->pattern) {
        size_t pl = pt->pattern_len, last = 0;
        i = 0;
        while (pl > 0 && i + pl <= n) {
            if (memcmp(p + i, pt->pattern, pl) == 0) {
                if (parts_push(&lv->tiling, last, i, pt->invert) || parts_push(&lv->tiling, i, i + pl, !pt->invert)) goto oom;
                i += pl;
                last = i;
            } else {
                i++;
            }
        }
        if (parts_push(&lv->tiling, last, n, pt->invert)) goto oom;
    } else {
        for (i = 0; i < n;) {
            size_t l = gpt2_match(u + i, n - i);
            if (parts_push(&lv->tiling, i, i + l, !pt->invert)) goto oom;
            i += l;
        }
    }
    if (apply_behavior(&lv->tiling, pt->behavior, &lv->pieces)) goto oom;
    for (i = 0; i < lv->pieces.n; i++)
        if (pretok_chain(st, k + 1, p + lv->pieces.v[i].s, lv->pieces.v[i].e - lv->pieces.v[i].s)) return -1;
    return 0;
oom:
    return error_set_code(st->err, EXIT_INTERNAL, "%s: out of memory while encoding", tok->path);
}

/* ------------------------------------------------------------------------ */
/* BPE                                                                       */

typedef struct {
    int c;          /* token id */
    int prev, next; /* neighbours, -1 at the ends */
    size_t len;     /* byte length; 0 = merged away */
} Sym;

typedef struct {
    int rank, pos, new_id;
} HeapItem;

/* Min-heap order: lower rank first, then leftmost position (HF's Merge::cmp). */
static int heap_less(const HeapItem *a, const HeapItem *b) {
    return a->rank != b->rank ? a->rank < b->rank : a->pos < b->pos;
}

static void heap_push(HeapItem *h, size_t *n, HeapItem it) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!heap_less(&it, &h[p])) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = it;
}

static HeapItem heap_pop(HeapItem *h, size_t *n) {
    HeapItem top = h[0], last = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        const HeapItem *best = &last;
        if (l < *n && heap_less(&h[l], best)) {
            m = l;
            best = &h[l];
        }
        if (r < *n && heap_less(&h[r], best)) m = r;
        if (m == i) break;
        h[i] = h[m];
        i = m;
    }
    if (*n > 0) h[i] = last;
    return top;
}

/* Appends a symbol to the doubly linked word. */
static void add_sym(Sym *sym, size_t *ns, int id, size_t len) {
    size_t i = (*ns)++;
    sym[i].c = id;
    sym[i].len = len;
    sym[i].prev = i == 0 ? -1 : (int)i - 1;
    sym[i].next = -1;
    if (i > 0) sym[i - 1].next = (int)i;
}

/* Looks a string up in the model vocabulary. */
static int vocab_id(const Tokenizer *tok, const char *s, size_t n) { return strmap_get(&tok->vocab, s, n); }

/* Runs HF's BPE::merge_word on piece w[0..n) and appends the ids to out. */
static int bpe_word(const Tokenizer *tok, const char *w, size_t n, Ints *out, Error *err) {
    const unsigned char *u = (const unsigned char *)w;
    Sym *sym = NULL;
    HeapItem *heap = NULL;
    size_t ns = 0, nh = 0, i, cap;
    int unk_id = -1, have_unk = 0, rc = -1;
    size_t unk_len = 0;
    ByteBuffer tmp = {NULL, 0, 0};

    if (tok->ignore_merges) {
        int id = vocab_id(tok, w, n);
        if (id >= 0) return ints_push(out, id);
    }
    /* At most one symbol per byte; with byte_fallback a character may become one
     * symbol per byte of prefix + character + suffix. */
    cap = n + 1;
    if (tok->byte_fallback) {
        size_t per = 4 + tok->prefix_len + tok->suffix_len;
        if (per < 4 || size_mul(n + 1, per, &cap)) goto oom;
    }
    sym = (Sym *)alloc_array(cap, sizeof(Sym));
    if (!sym) goto oom;

    for (i = 0; i < n;) {
        unsigned long cp;
        size_t l = utf8_dec(u + i, n - i, &cp);
        int is_first = i == 0, is_last = i + l >= n, id;
        const char *s = w + i;
        size_t sl = l;
        if ((!is_first && tok->prefix) || (is_last && tok->suffix)) {
            tmp.n = 0;
            if ((!is_first && tok->prefix && bytebuf_put(&tmp, tok->prefix, tok->prefix_len)) || bytebuf_put(&tmp, w + i, l) ||
                (is_last && tok->suffix && bytebuf_put(&tmp, tok->suffix, tok->suffix_len)))
                goto oom;
            s = tmp.b;
            sl = tmp.n;
        }
        id = vocab_id(tok, s, sl);
        if (id >= 0) {
            if (have_unk) {
                add_sym(sym, &ns, unk_id, unk_len);
                have_unk = 0;
            }
            add_sym(sym, &ns, id, l);
        } else {
            int done = 0;
            if (tok->byte_fallback) {
                /* <0xXX> for every byte of s (prefix and suffix included, as HF does), all or nothing. */
                size_t j;
                int ok = 1;
                for (j = 0; j < sl && ok; j++) {
                    char name[8];
                    sprintf(name, "<0x%02X>", (unsigned char)s[j]);
                    ok = vocab_id(tok, name, 6) >= 0;
                }
                if (ok) {
                    for (j = 0; j < sl; j++) {
                        char name[8];
                        sprintf(name, "<0x%02X>", (unsigned char)s[j]);
                        add_sym(sym, &ns, vocab_id(tok, name, 6), 1);
                    }
                    done = 1;
                }
            }
            if (!done && tok->unk_token) {
                int uid = vocab_id(tok, tok->unk_token, strlen(tok->unk_token));
                if (uid < 0) {
                    error_set(err, "%s: unk_token '%s' is not in the vocabulary", tok->path, tok->unk_token);
                    goto fail;
                }
                if (have_unk && tok->fuse_unk) {
                    unk_len += l;
                } else {
                    if (have_unk) add_sym(sym, &ns, unk_id, unk_len);
                    unk_id = uid;
                    unk_len = l;
                    have_unk = 1;
                }
            }
        }
        i += l;
    }
    if (have_unk) add_sym(sym, &ns, unk_id, unk_len);

    /* Merge by rank: the lowest-ranked pair first, leftmost among equals. Stale
     * heap entries (a side already merged) are skipped, as in HF. */
    if (ns > 1 && tok->merges.slots) {
        heap = (HeapItem *)alloc_array(4 * ns + 4, sizeof(HeapItem));
        if (!heap) goto oom;
        {
            size_t heap_cap = 4 * ns + 4;
            for (i = 0; i + 1 < ns; i++) {
                const MergeSlot *m = merge_find(&tok->merges, sym[i].c, sym[i + 1].c);
                if (m) {
                    HeapItem it;
                    it.rank = m->rank;
                    it.pos = (int)i;
                    it.new_id = m->new_id;
                    heap_push(heap, &nh, it);
                }
            }
            while (nh > 0) {
                HeapItem top = heap_pop(heap, &nh);
                int p = top.pos, nx;
                const MergeSlot *m;
                if (sym[p].len == 0 || sym[p].next < 0) continue;
                nx = sym[p].next;
                m = merge_find(&tok->merges, sym[p].c, sym[nx].c);
                if (!m || m->new_id != top.new_id) continue;
                sym[p].c = top.new_id;
                sym[p].len += sym[nx].len;
                sym[p].next = sym[nx].next;
                sym[nx].len = 0;
                if (sym[nx].next >= 0) sym[sym[nx].next].prev = p;
                if (nh + 2 > heap_cap) { /* cannot happen: each merge adds at most 2 entries and removes 1 symbol */
                    error_set_code(err, EXIT_INTERNAL, "%s: BPE heap overflow", tok->path);
                    goto fail;
                }
                if (sym[p].prev >= 0) {
                    m = merge_find(&tok->merges, sym[sym[p].prev].c, sym[p].c);
                    if (m) {
                        HeapItem it;
                        it.rank = m->rank;
                        it.pos = sym[p].prev;
                        it.new_id = m->new_id;
                        heap_push(heap, &nh, it);
                    }
                }
                if (sym[p].next >= 0) {
                    m = merge_find(&tok->merges, sym[p].c, sym[sym[p].next].c);
                    if (m) {
                        HeapItem it;
                        it.rank = m->rank;
                        it.pos = p;
                        it.new_id = m->new_id;
                        heap_push(heap, &nh, it);
                    }
                }
            }
        }
    }
    for (i = 0; i < ns; i++)
        if (sym[i].len > 0 && ints_push(out, sym[i].c)) goto oom;
    rc = 0;
    goto fail;
oom:
    error_set_code(err, EXIT_INTERNAL, "%s: out of memory in BPE", tok->path);
fail:
    free(sym);
    free(heap);
    free(tmp.b);
    return rc;
}

/* Clears the word cache (kept bounded instead of growing without limit). */
static void cache_clear(Tokenizer *tok) {
    if (tok->cache) memset(tok->cache, 0, tok->cache_cap * sizeof(CacheSlot));
    tok->cache_count = 0;
    tok->cache_keys.n = 0;
    tok->cache_ids.n = 0;
}

/* BPE with a word cache: a piece seen before returns its stored ids. */
static int bpe_cached(Tokenizer *tok, const char *w, size_t n, Ints *out, Error *err) {
    uint32_t h;
    size_t i, before, k;
    CacheSlot *s;
    if (n >= CACHE_MAX_WORD) return bpe_word(tok, w, n, out, err);
    if (!tok->cache) {
        tok->cache_cap = 2 * CACHE_MAX_ENTRIES;
        tok->cache = (CacheSlot *)alloc_array(tok->cache_cap, sizeof(CacheSlot));
        if (!tok->cache) return bpe_word(tok, w, n, out, err);
    }
    h = (uint32_t)hash_bytes(w, n);
    i = (size_t)h & (tok->cache_cap - 1);
    for (;;) {
        s = &tok->cache[i];
        if (s->key_len == 0) break;
        if (s->hash == h && s->key_len == n && memcmp(tok->cache_keys.b + s->key_off, w, n) == 0) {
            for (k = 0; k < s->n_ids; k++)
                if (ints_push(out, tok->cache_ids.v[s->ids_off + k]))
                    return error_set_code(err, EXIT_INTERNAL, "%s: out of memory", tok->path);
            return 0;
        }
        i = (i + 1) & (tok->cache_cap - 1);
    }
    before = out->n;
    if (bpe_word(tok, w, n, out, err)) return -1;
    if (tok->cache_count >= CACHE_MAX_ENTRIES || out->n - before > 65535) {
        if (tok->cache_count >= CACHE_MAX_ENTRIES) cache_clear(tok);
        return 0; /* the slot found above may be stale now; insert on a later miss */
    }
    {
        size_t key_off = tok->cache_keys.n, ids_off = tok->cache_ids.n;
        if (bytebuf_put(&tok->cache_keys, w, n)) return 0; /* caching is optional */
        for (k = before; k < out->n; k++)
            if (ints_push(&tok->cache_ids, out->v[k])) {
                tok->cache_ids.n = ids_off;
                return 0;
            }
        s->hash = h;
        s->key_off = (uint32_t)key_off;
        s->key_len = (uint16_t)n;
        s->ids_off = (uint32_t)ids_off;
        s->n_ids = (uint16_t)(out->n - before);
        tok->cache_count++;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Encode / decode                                                           */

int tokenizer_encode(Tokenizer *tok, const char *text, size_t len, int **ids, size_t *n_ids, Error *err) {
    Segs raw = {NULL, 0, 0}, normed = {NULL, 0, 0};
    Ints out = {NULL, 0, 0};
    ByteBuffer norm = {NULL, 0, 0}, tmp = {NULL, 0, 0};
    EncodeState st;
    size_t bad, i, j;
    int k, rc = -1;
    *ids = NULL;
    *n_ids = 0;
    if (!text) {
        text = "";
        len = 0;
    }
    bad = utf8_first_invalid((const unsigned char *)text, len);
    if (bad < len)
        return error_set(err, "input text: byte %lu: invalid UTF-8 (byte 0x%02X); the tokenizer accepts only valid UTF-8",
                         (unsigned long)bad, (unsigned)(unsigned char)text[bad]);
    memset(&st, 0, sizeof st);
    st.tok = tok;
    st.out = &out;
    st.err = err;
    /* 1. Added tokens that are not normalized, matched in the raw text. */
    if (split_added(tok, &tok->raw, text, len, &raw)) goto oom;
    for (i = 0; i < raw.n; i++) {
        const char *p = raw.v[i].p;
        size_t pn = raw.v[i].len;
        if (raw.v[i].id >= 0) {
            if (ints_push(&out, raw.v[i].id)) goto oom;
            continue;
        }
        /* 2. Normalize the piece (a Sequence applies each normalizer in turn), then
         * match the normalized added tokens in it. */
        for (k = 0; k < tok->n_normalizers; k++) {
            ByteBuffer t;
            tmp.n = 0;
            if (bytebuf_reserve(&tmp, pn) || normalize_append(tok->normalizers[k], p, pn, &tmp)) goto oom;
            t = norm;
            norm = tmp;
            tmp = t;
            p = norm.b;
            pn = norm.n;
        }
        normed.n = 0;
        if (split_added(tok, &tok->norm, p, pn, &normed)) goto oom;
        /* 3-4. Pre-tokenizers and the model, piece by piece. */
        for (j = 0; j < normed.n; j++) {
            if (normed.v[j].id >= 0) {
                if (ints_push(&out, normed.v[j].id)) goto oom;
            } else if (pretok_chain(&st, 0, normed.v[j].p, normed.v[j].len)) {
                goto done;
            }
        }
    }
    *ids = out.v;
    *n_ids = out.n;
    out.v = NULL;
    rc = 0;
    goto done;
oom:
    error_set_code(err, EXIT_INTERNAL, "%s: out of memory while encoding", tok->path);
done:
    for (k = 0; k < MAX_PRETOKENIZERS; k++) {
        free(st.lv[k].tiling.v);
        free(st.lv[k].pieces.v);
        free(st.lv[k].prefixed.b);
        free(st.lv[k].mapped.b);
    }
    free(raw.v);
    free(normed.v);
    free(out.v);
    free(norm.b);
    free(tmp.b);
    return rc;
}

int tokenizer_decode(const Tokenizer *tok, const int *ids, size_t n_ids, char **text, size_t *len, Error *err) {
    ByteBuffer out = {NULL, 0, 0};
    size_t i;
    *text = NULL;
    *len = 0;
    if (bytebuf_reserve(&out, 0)) goto oom;
    out.b[0] = '\0';
    for (i = 0; i < n_ids; i++) {
        const char *t;
        size_t tl, j;
        int id = ids[i];
        if (id < 0 || id >= tok->n_ids) {
            free(out.b);
            return error_set(err, "%s: token id %d is outside the vocabulary (0..%d)", tok->path, id, tok->n_ids - 1);
        }
        if (tok->added_by_id[id] >= 0) {
            t = tok->added[tok->added_by_id[id]].content;
            tl = tok->added[tok->added_by_id[id]].len;
        } else if (tok->model_tok[id]) {
            t = tok->model_tok[id];
            tl = tok->model_tok_len[id];
        } else {
            free(out.b);
            return error_set(err, "%s: token id %d is not in the vocabulary", tok->path, id);
        }
        if (!tok->decoder_bytelevel) {
            /* No decoder: HF joins the tokens with spaces. */
            if ((i > 0 && bytebuf_put(&out, " ", 1)) || bytebuf_put(&out, t, tl)) goto oom;
            continue;
        }
        /* ByteLevel: map every character back to its byte; a token with a
         * character outside the alphabet is copied unchanged (as HF does). */
        {
            size_t start = out.n;
            int ok = 1;
            for (j = 0; j < tl && ok;) {
                unsigned long cp;
                size_t l = utf8_dec((const unsigned char *)t + j, tl - j, &cp);
                if (cp >= 512 || tok->char_byte[cp] < 0) {
                    ok = 0;
                } else {
                    char c = (char)tok->char_byte[cp];
                    if (bytebuf_put(&out, &c, 1)) goto oom;
                }
                j += l;
            }
            if (!ok) {
                out.n = start;
                if (bytebuf_put(&out, t, tl)) goto oom;
            }
        }
    }
    *text = out.b;
    *len = out.n;
    return 0;
oom:
    free(out.b);
    return error_set_code(err, EXIT_INTERNAL, "%s: out of memory while decoding", tok->path);
}

/* ------------------------------------------------------------------------ */
/* Loading tokenizer.json                                                    */

static const char GPT2_PATTERN[] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

/* Reads an optional boolean member; absent or null gives dflt. */
static int get_bool(const JsonValue *obj, const char *key, int dflt, int *out, const char *path, const char *what,
                    Error *err) {
    const JsonValue *v = json_get(obj, key);
    if (!v || v->type == JSON_NULL) {
        *out = dflt;
        return 0;
    }
    if (!json_as_bool(v, out)) return error_set(err, "%s: %s.%s must be true or false", path, what, key);
    return 0;
}

/* Reads an optional string member (NULL when absent or null) into a malloc'ed copy. */
static int get_opt_string(const JsonValue *obj, const char *key, char **out, size_t *len, const char *path,
                          const char *what, Error *err) {
    const JsonValue *v = json_get(obj, key);
    *out = NULL;
    if (len) *len = 0;
    if (!v || v->type == JSON_NULL) return 0;
    if (v->type != JSON_STRING) return error_set(err, "%s: %s.%s must be a string or null", path, what, key);
    *out = (char *)malloc(v->len + 1);
    if (!*out) return error_set_code(err, EXIT_INTERNAL, "%s: out of memory", path);
    memcpy(*out, v->str, v->len + 1);
    if (len) *len = v->len;
    return 0;
}

static int parse_normalizer(Tokenizer *tok, const JsonValue *n, int depth, Error *err) {
    const char *type;
    if (!n || n->type == JSON_NULL) return 0;
    type = json_as_string(json_get(n, "type"));
    if (n->type != JSON_OBJECT || !type) return error_set(err, "%s: normalizer must be an object with a \"type\"", tok->path);
    if (strcmp(type, "Sequence") == 0) {
        const JsonValue *list = json_get(n, "normalizers");
        size_t i;
        if (!list || list->type != JSON_ARRAY)
            return error_set(err, "%s: normalizer Sequence needs a \"normalizers\" array", tok->path);
        if (depth > 8) return error_set(err, "%s: normalizer Sequence nested too deeply", tok->path);
        for (i = 0; i < list->count; i++)
            if (parse_normalizer(tok, &list->items[i], depth + 1, err)) return -1;
        return 0;
    }
    if (tok->n_normalizers >= MAX_NORMALIZERS) return error_set(err, "%s: more than %d normalizers", tok->path, MAX_NORMALIZERS);
    if (strcmp(type, "NFC") == 0) tok->normalizers[tok->n_normalizers++] = NORM_NFC;
    else if (strcmp(type, "NFD") == 0) tok->normalizers[tok->n_normalizers++] = NORM_NFD;
    else if (strcmp(type, "NFKC") == 0) tok->normalizers[tok->n_normalizers++] = NORM_NFKC;
    else if (strcmp(type, "NFKD") == 0) tok->normalizers[tok->n_normalizers++] = NORM_NFKD;
    else
        return error_set(err, "%s: normalizer type '%s' is not supported (supported: NFC, NFD, NFKC, NFKD, Sequence)",
                         tok->path, type);
    return 0;
}

static int parse_pretokenizer(Tokenizer *tok, const JsonValue *p, int depth, Error *err) {
    const char *type;
    PreTok *pt;
    if (!p || p->type == JSON_NULL) return 0;
    type = json_as_string(json_get(p, "type"));
    if (p->type != JSON_OBJECT || !type)
        return error_set(err, "%s: pre_tokenizer must be an object with a \"type\"", tok->path);
    if (strcmp(type, "Sequence") == 0) {
        const JsonValue *list = json_get(p, "pretokenizers");
        size_t i;
        if (!list || list->type != JSON_ARRAY)
            return error_set(err, "%s: pre_tokenizer Sequence needs a \"pretokenizers\" array", tok->path);
        if (depth > 8) return error_set(err, "%s: pre_tokenizer Sequence nested too deeply", tok->path);
        for (i = 0; i < list->count; i++)
            if (parse_pretokenizer(tok, &list->items[i], depth + 1, err)) return -1;
        return 0;
    }
    if (tok->n_pre >= MAX_PRETOKENIZERS) return error_set(err, "%s: more than %d pre-tokenizers", tok->path, MAX_PRETOKENIZERS);
    pt = &tok->pre[tok->n_pre];
    memset(pt, 0, sizeof *pt);
    if (strcmp(type, "ByteLevel") == 0) {
        pt->type = PRE_BYTELEVEL;
        if (get_bool(p, "add_prefix_space", 1, &pt->add_prefix_space, tok->path, "ByteLevel", err) ||
            get_bool(p, "use_regex", 1, &pt->use_regex, tok->path, "ByteLevel", err))
            return -1;
    } else if (strcmp(type, "Digits") == 0) {
        pt->type = PRE_DIGITS;
        if (get_bool(p, "individual_digits", 0, &pt->individual_digits, tok->path, "Digits", err)) return -1;
    } else if (strcmp(type, "Split") == 0) {
        const JsonValue *pat = json_get(p, "pattern");
        const char *beh = json_as_string(json_get(p, "behavior"));
        const JsonValue *ps = json_get(pat, "String"), *pr = json_get(pat, "Regex");
        pt->type = PRE_SPLIT;
        if (!beh) return error_set(err, "%s: Split pre_tokenizer needs a \"behavior\"", tok->path);
        if (strcmp(beh, "Removed") == 0) pt->behavior = SPLIT_REMOVED;
        else if (strcmp(beh, "Isolated") == 0) pt->behavior = SPLIT_ISOLATED;
        else if (strcmp(beh, "MergedWithPrevious") == 0) pt->behavior = SPLIT_MERGED_PREV;
        else if (strcmp(beh, "MergedWithNext") == 0) pt->behavior = SPLIT_MERGED_NEXT;
        else if (strcmp(beh, "Contiguous") == 0) pt->behavior = SPLIT_CONTIGUOUS;
        else return error_set(err, "%s: Split behavior '%s' is not known", tok->path, beh);
        if (get_bool(p, "invert", 0, &pt->invert, tok->path, "Split", err)) return -1;
        if (ps && ps->type == JSON_STRING) {
            pt->pattern = (char *)malloc(ps->len + 1);
            if (!pt->pattern) return error_set_code(err, EXIT_INTERNAL, "%s: out of memory", tok->path);
            memcpy(pt->pattern, ps->str, ps->len + 1);
            pt->pattern_len = ps->len;
        } else if (pr && pr->type == JSON_STRING) {
            if (strcmp(pr->str, GPT2_PATTERN) != 0)
                return error_set(err,
                                 "%s: Split regex '%s' is not supported (only literal strings and the GPT-2 pattern)",
                                 tok->path, pr->str);
        } else {
            return error_set(err, "%s: Split pattern must be {\"String\": ...} or {\"Regex\": ...}", tok->path);
        }
    } else {
        return error_set(err, "%s: pre_tokenizer type '%s' is not supported (supported: ByteLevel, Digits, Split, Sequence)",
                         tok->path, type);
    }
    tok->n_pre++;
    return 0;
}

/* Token string -> id: added tokens first, then the model vocabulary (HF token_to_id). */
static int token_to_id(const Tokenizer *tok, const char *s, size_t n) {
    int id = strmap_get(&tok->added_map, s, n);
    return id >= 0 ? id : strmap_get(&tok->vocab, s, n);
}

/* The BOS token of a post_processor, if it names one: the first SpecialToken of a
 * TemplateProcessing `single` template, the cls of Roberta/Bert processing. */
static int post_processor_bos(const Tokenizer *tok, const JsonValue *pp, int depth) {
    const char *type = json_as_string(json_get(pp, "type"));
    if (!type || depth > 8) return -1;
    if (strcmp(type, "Sequence") == 0) {
        const JsonValue *list = json_get(pp, "processors");
        size_t i;
        if (list && list->type == JSON_ARRAY)
            for (i = 0; i < list->count; i++) {
                int id = post_processor_bos(tok, &list->items[i], depth + 1);
                if (id >= 0) return id;
            }
        return -1;
    }
    if (strcmp(type, "TemplateProcessing") == 0) {
        const JsonValue *single = json_get(pp, "single"), *st, *name, *spec, *ids;
        long long id;
        if (!single || single->type != JSON_ARRAY || single->count == 0) return -1;
        st = json_get(&single->items[0], "SpecialToken");
        name = json_get(st, "id");
        if (!name || name->type != JSON_STRING) return -1;
        spec = json_get(json_get(pp, "special_tokens"), name->str);
        ids = json_get(spec, "ids");
        /* Only a non-empty array has an items[0] ("ids": [] or a number has none). */
        if (ids && ids->type == JSON_ARRAY && ids->count > 0 && json_as_int(&ids->items[0], &id) && id >= 0 &&
            id < tok->n_ids)
            return (int)id;
        return token_to_id(tok, name->str, name->len);
    }
    if (strcmp(type, "RobertaProcessing") == 0 || strcmp(type, "BertProcessing") == 0) {
        const JsonValue *cls = json_get(pp, "cls");
        long long id;
        if (cls && cls->type == JSON_ARRAY && cls->count == 2 && json_as_int(&cls->items[1], &id) && id >= 0 &&
            id < tok->n_ids)
            return (int)id;
    }
    return -1;
}

/* A special token entry of tokenizer_config.json / special_tokens_map.json:
 * a string or {"content": ...}. Returns its id, -2 if the key is absent, -1 if unknown. */
static int config_token(const Tokenizer *tok, const JsonValue *cfg, const char *key) {
    const JsonValue *v = json_get(cfg, key);
    if (!v || v->type == JSON_NULL) return -2;
    if (v->type == JSON_OBJECT) v = json_get(v, "content");
    if (!v || v->type != JSON_STRING) return -2;
    return token_to_id(tok, v->str, v->len);
}

/* Parses the JSON file `name` in dir; *root is NULL when the file does not exist. */
static int read_config(const char *dir, const char *name, JsonValue **root, Error *err) {
    char *p = path_join(dir, name);
    unsigned char *data = NULL;
    size_t len;
    *root = NULL;
    if (!path_exists(p)) {
        free(p);
        return 0;
    }
    if (read_file(p, 64UL << 20, &data, &len, err)) {
        free(p);
        return -1;
    }
    *root = json_parse((const char *)data, len, p, err);
    free(data);
    free(p);
    return *root ? 0 : -1;
}

/* Fills BOS/EOS/PAD still unset from a special-tokens config object. */
static void apply_special_config(Tokenizer *tok, const JsonValue *root) {
    int id;
    if (!root) return;
    if (tok->bos < 0 && (id = config_token(tok, root, "bos_token")) >= 0) tok->bos = id;
    if (tok->eos < 0 && (id = config_token(tok, root, "eos_token")) >= 0) tok->eos = id;
    if (tok->pad < 0 && (id = config_token(tok, root, "pad_token")) >= 0) tok->pad = id;
}

/* BOS/EOS/PAD from tokenizer_config.json and special_tokens_map.json in dir, with
 * transformers' precedence: special_tokens_map.json wins, except that a
 * tokenizer_config.json written by newer transformers (it has "added_tokens_decoder")
 * is used on its own terms first. Missing files are fine; malformed ones are errors. */
static int read_special_configs(Tokenizer *tok, const char *dir, Error *err) {
    JsonValue *cfg = NULL, *map = NULL;
    if (read_config(dir, "tokenizer_config.json", &cfg, err) || read_config(dir, "special_tokens_map.json", &map, err)) {
        json_free(cfg);
        return -1;
    }
    if (cfg && json_get(cfg, "added_tokens_decoder")) {
        apply_special_config(tok, cfg);
        apply_special_config(tok, map);
    } else {
        apply_special_config(tok, map);
        apply_special_config(tok, cfg);
    }
    json_free(cfg);
    json_free(map);
    return 0;
}

static int load_model(Tokenizer *tok, const JsonValue *model, Error *err) {
    const JsonValue *vocab = json_get(model, "vocab"), *merges = json_get(model, "merges"), *v;
    const char *type = json_as_string(json_get(model, "type"));
    size_t i, total = 0, off = 0, cap;
    long long max_id = -1;
    double dropout;
    int rank = 0;
    char *buf = NULL;
    size_t buf_cap = 0;

    if (!model || model->type != JSON_OBJECT) return error_set(err, "%s: no \"model\" object", tok->path);
    if (type && strcmp(type, "BPE") != 0)
        return error_set(err, "%s: model type '%s' is not supported (only BPE)", tok->path, type);
    if (!vocab || vocab->type != JSON_OBJECT) return error_set(err, "%s: model.vocab must be an object", tok->path);
    if (!merges || merges->type != JSON_ARRAY) return error_set(err, "%s: model.merges must be an array", tok->path);
    v = json_get(model, "dropout");
    if (json_as_double(v, &dropout) && dropout > 0.0)
        return error_set(err, "%s: BPE dropout %g is not supported (it makes encoding random)", tok->path, dropout);
    if (get_opt_string(model, "unk_token", &tok->unk_token, NULL, tok->path, "model", err) ||
        get_opt_string(model, "continuing_subword_prefix", &tok->prefix, &tok->prefix_len, tok->path, "model", err) ||
        get_opt_string(model, "end_of_word_suffix", &tok->suffix, &tok->suffix_len, tok->path, "model", err) ||
        get_bool(model, "fuse_unk", 0, &tok->fuse_unk, tok->path, "model", err) ||
        get_bool(model, "byte_fallback", 0, &tok->byte_fallback, tok->path, "model", err) ||
        get_bool(model, "ignore_merges", 0, &tok->ignore_merges, tok->path, "model", err))
        return -1;

    for (i = 0; i < vocab->count; i++) {
        long long id;
        if (!json_as_int(&vocab->items[i], &id) || id < 0 || id > MAX_TOKEN_ID)
            return error_set(err, "%s: model.vocab[\"%s\"] must be an integer id in 0..%ld", tok->path, vocab->keys[i],
                             MAX_TOKEN_ID);
        if (id > max_id) max_id = id;
        total += vocab->key_lens[i] + 1;
    }
    tok->n_ids = (int)(max_id + 1);
    tok->model_vocab_count = (int)vocab->count;
    tok->vocab_arena = (char *)malloc(total + 1);
    tok->model_tok = (const char **)alloc_array((size_t)tok->n_ids + 1, sizeof(char *));
    tok->model_tok_len = (size_t *)alloc_array((size_t)tok->n_ids + 1, sizeof(size_t));
    if (!tok->vocab_arena || !tok->model_tok || !tok->model_tok_len || strmap_init(&tok->vocab, vocab->count))
        return error_set_code(err, EXIT_INTERNAL, "%s: out of memory", tok->path);
    for (i = 0; i < vocab->count; i++) {
        char *s = tok->vocab_arena + off;
        int id = (int)vocab->items[i].integer;
        memcpy(s, vocab->keys[i], vocab->key_lens[i] + 1);
        off += vocab->key_lens[i] + 1;
        if (strmap_put(&tok->vocab, s, vocab->key_lens[i], id))
            return error_set_code(err, EXIT_INTERNAL, "%s: out of memory", tok->path);
        tok->model_tok[id] = s;
        tok->model_tok_len[id] = vocab->key_lens[i];
    }

    cap = 16;
    while (cap < merges->count * 2 + 16) cap *= 2;
    tok->merges.slots = (MergeSlot *)alloc_array(cap, sizeof(MergeSlot));
    tok->merges.cap = cap;
    if (!tok->merges.slots) return error_set_code(err, EXIT_INTERNAL, "%s: out of memory", tok->path);
    for (i = 0; i < merges->count; i++) {
        const JsonValue *m = &merges->items[i];
        const char *a, *b;
        size_t al, bl, need;
        int ia, ib, inew;
        MergeSlot *slot;
        uint64_t key;
        /* HF drops "#version" header lines of the legacy merges format before numbering ranks. */
        if (m->type == JSON_STRING && m->len >= 8 && memcmp(m->str, "#version", 8) == 0) continue;
        if (m->type == JSON_STRING) {
            const char *sp = (const char *)memchr(m->str, ' ', m->len);
            if (!sp || memchr(sp + 1, ' ', m->len - (size_t)(sp + 1 - m->str)))
                goto bad_merge;
            a = m->str;
            al = (size_t)(sp - m->str);
            b = sp + 1;
            bl = m->len - al - 1;
        } else if (m->type == JSON_ARRAY && m->count == 2 && m->items[0].type == JSON_STRING &&
                   m->items[1].type == JSON_STRING) {
            a = m->items[0].str;
            al = m->items[0].len;
            b = m->items[1].str;
            bl = m->items[1].len;
        } else {
            goto bad_merge;
        }
        ia = vocab_id(tok, a, al);
        ib = vocab_id(tok, b, bl);
        if (ia < 0 || ib < 0) {
            free(buf);
            return error_set(err, "%s: merge %lu: token '%s' is not in the vocabulary", tok->path, (unsigned long)i,
                             ia < 0 ? (m->type == JSON_STRING ? "(left part)" : m->items[0].str)
                                    : (m->type == JSON_STRING ? "(right part)" : m->items[1].str));
        }
        if (bl < tok->prefix_len) goto bad_merge;
        need = al + bl - tok->prefix_len;
        if (need > buf_cap) {
            char *nb = (char *)realloc(buf, need + 1);
            if (!nb) {
                free(buf);
                return error_set_code(err, EXIT_INTERNAL, "%s: out of memory", tok->path);
            }
            buf = nb;
            buf_cap = need;
        }
        memcpy(buf, a, al);
        memcpy(buf + al, b + tok->prefix_len, bl - tok->prefix_len);
        inew = vocab_id(tok, buf, need);
        if (inew < 0) {
            buf[need] = '\0';
            error_set(err, "%s: merge %lu: merged token '%s' is not in the vocabulary", tok->path, (unsigned long)i, buf);
            free(buf);
            return -1;
        }
        key = (((uint64_t)(uint32_t)ia << 32) | (uint32_t)ib) + 1;
        slot = merge_slot(&tok->merges, key);
        if (!slot->key) tok->merges.count++;
        slot->key = key;
        slot->rank = rank++; /* a repeated pair keeps its last rank, as a Rust HashMap would */
        slot->new_id = inew;
    }
    free(buf);
    return 0;
bad_merge:
    free(buf);
    return error_set(err, "%s: merge %lu must be \"a b\" (one space) or [\"a\", \"b\"]", tok->path, (unsigned long)i);
}

/* Adds pattern p[0..n) of added token `index` to trie m; an identical earlier pattern wins. */
static int trie_add(Matcher *m, const char *p, size_t n, int index) {
    int *link = &m->root[(unsigned char)p[0]], cur = -1;
    size_t i;
    for (i = 0; i < n; i++) {
        int c = *link;
        while (c >= 0 && m->nodes[c].byte != (unsigned char)p[i]) c = m->nodes[c].sibling;
        if (c < 0) {
            if (m->n_nodes == m->cap) {
                int ncap = m->cap ? m->cap * 2 : 64;
                TrieNode *nn;
                if (ncap <= m->cap || ncap > 100000000) return -1;
                nn = (TrieNode *)realloc(m->nodes, (size_t)ncap * sizeof(TrieNode));
                if (!nn) return -1;
                m->nodes = nn;
                m->cap = ncap;
                /* `link` may point into the old array: recompute it. */
                link = cur < 0 ? &m->root[(unsigned char)p[0]] : &m->nodes[cur].child;
            }
            c = m->n_nodes++;
            m->nodes[c].child = -1;
            m->nodes[c].tok = -1;
            m->nodes[c].byte = (unsigned char)p[i];
            m->nodes[c].sibling = *link;
            *link = c;
        }
        cur = c;
        link = &m->nodes[cur].child;
    }
    if (m->nodes[cur].tok < 0) m->nodes[cur].tok = index;
    m->n_tokens++;
    return 0;
}

/* Builds the two matchers: specials first, then the others, as HF's refresh does. */
static int build_matchers(Tokenizer *tok, Error *err) {
    int pass, i;
    for (i = 0; i < 256; i++) tok->raw.root[i] = tok->norm.root[i] = -1;
    for (pass = 0; pass < 2; pass++)
        for (i = 0; i < tok->n_added; i++) {
            AddedTok *a = &tok->added[i];
            Matcher *m = a->normalized ? &tok->norm : &tok->raw;
            if (a->special != (pass == 0) || a->pattern_len == 0) continue;
            if (trie_add(m, a->pattern, a->pattern_len, i))
                return error_set_code(err, EXIT_INTERNAL, "%s: out of memory", tok->path);
        }
    return 0;
}

static int load_added_tokens(Tokenizer *tok, const JsonValue *list, Error *err) {
    size_t i;
    int next_id = tok->model_vocab_count, max_id = tok->n_ids - 1, old_n_ids = tok->n_ids, k;
    if (!list || list->type == JSON_NULL) list = NULL;
    else if (list->type != JSON_ARRAY) return error_set(err, "%s: added_tokens must be an array", tok->path);
    if (strmap_init(&tok->added_map, list ? list->count : 0))
        return error_set_code(err, EXIT_INTERNAL, "%s: out of memory", tok->path);
    if (list) {
        tok->added = (AddedTok *)alloc_array(list->count + 1, sizeof(AddedTok));
        if (!tok->added) return error_set_code(err, EXIT_INTERNAL, "%s: out of memory", tok->path);
    }
    for (i = 0; list && i < list->count; i++) {
        const JsonValue *t = &list->items[i];
        AddedTok *a = &tok->added[tok->n_added];
        const JsonValue *content = json_get(t, "content");
        int id, dup = 0;
        if (t->type != JSON_OBJECT || !content || content->type != JSON_STRING)
            return error_set(err, "%s: added_tokens[%lu] needs a string \"content\"", tok->path, (unsigned long)i);
        if (content->len == 0) continue; /* HF ignores empty tokens */
        memset(a, 0, sizeof *a);
        if (get_bool(t, "special", 0, &a->special, tok->path, "added_tokens[]", err) ||
            get_bool(t, "single_word", 0, &a->single_word, tok->path, "added_tokens[]", err) ||
            get_bool(t, "lstrip", 0, &a->lstrip, tok->path, "added_tokens[]", err) ||
            get_bool(t, "rstrip", 0, &a->rstrip, tok->path, "added_tokens[]", err) ||
            get_bool(t, "normalized", !a->special, &a->normalized, tok->path, "added_tokens[]", err))
            return -1;
        /* An identical token listed twice is ignored (HF keeps a set). */
        for (k = 0; k < tok->n_added; k++) {
            const AddedTok *o = &tok->added[k];
            if (o->len == content->len && memcmp(o->content, content->str, o->len) == 0 && o->special == a->special &&
                o->single_word == a->single_word && o->lstrip == a->lstrip && o->rstrip == a->rstrip &&
                o->normalized == a->normalized)
                dup = 1;
        }
        if (dup) continue;
        /* HF gives an added token the id it already has (added map, then model
         * vocab), else the next free id; the "id" written in the file only
         * triggers a warning in HF when it differs. */
        id = token_to_id(tok, content->str, content->len);
        if (id < 0) {
            if (next_id > MAX_TOKEN_ID) return error_set(err, "%s: too many added tokens", tok->path);
            id = next_id++;
        }
        a->content = (char *)malloc(content->len + 1);
        if (!a->content) return error_set_code(err, EXIT_INTERNAL, "%s: out of memory", tok->path);
        memcpy(a->content, content->str, content->len + 1);
        a->len = content->len;
        a->id = id;
        if (strmap_put(&tok->added_map, a->content, a->len, id))
            return error_set_code(err, EXIT_INTERNAL, "%s: out of memory", tok->path);
        if (id > max_id) max_id = id;
        tok->n_added++;
    }
    tok->n_ids = max_id + 1;
    /* Grow the id tables to cover added ids. */
    {
        const char **mt = (const char **)realloc((void *)tok->model_tok, ((size_t)tok->n_ids + 1) * sizeof(char *));
        size_t *ml;
        int j;
        if (!mt) return error_set_code(err, EXIT_INTERNAL, "%s: out of memory", tok->path);
        tok->model_tok = mt;
        ml = (size_t *)realloc(tok->model_tok_len, ((size_t)tok->n_ids + 1) * sizeof(size_t));
        if (!ml) return error_set_code(err, EXIT_INTERNAL, "%s: out of memory", tok->path);
        tok->model_tok_len = ml;
        for (j = old_n_ids; j <= tok->n_ids; j++) {
            tok->model_tok[j] = NULL;
            tok->model_tok_len[j] = 0;
        }
        tok->added_by_id = (int *)alloc_array((size_t)tok->n_ids + 1, sizeof(int));
        if (!tok->added_by_id) return error_set_code(err, EXIT_INTERNAL, "%s: out of memory", tok->path);
        for (j = 0; j < tok->n_ids; j++) tok->added_by_id[j] = -1;
        for (j = 0; j < tok->n_added; j++) tok->added_by_id[tok->added[j].id] = j; /* the last one wins */
    }
    return 0;
}

/* Builds a tokenizer from tokenizer.json text. `name` is used in messages; when
 * dir is not NULL, BOS/EOS/PAD are also read from the config files in dir. */
static Tokenizer *load_json(const char *text, size_t len, const char *name, const char *dir, Error *err) {
    JsonValue *root = NULL;
    Tokenizer *tok;
    const JsonValue *dec, *pp;
    int i;

    tok = (Tokenizer *)calloc(1, sizeof *tok);
    if (!tok) {
        error_set_code(err, EXIT_INTERNAL, "out of memory");
        return NULL;
    }
    tok->bos = tok->eos = tok->pad = -1;
    tok->path = xstrdup(name);
    init_byte_alphabet(tok);
    root = json_parse(text, len, name, err);
    if (!root) goto fail;
    if (root->type != JSON_OBJECT) {
        error_set(err, "%s: not a tokenizer.json (the top level is not an object)", name);
        goto fail;
    }
    if (load_model(tok, json_get(root, "model"), err)) goto fail;
    if (parse_normalizer(tok, json_get(root, "normalizer"), 0, err)) goto fail;
    if (parse_pretokenizer(tok, json_get(root, "pre_tokenizer"), 0, err)) goto fail;
    dec = json_get(root, "decoder");
    if (dec && dec->type != JSON_NULL) {
        const char *type = json_as_string(json_get(dec, "type"));
        if (!type || strcmp(type, "ByteLevel") != 0) {
            error_set(err, "%s: decoder type '%s' is not supported (only ByteLevel)", name, type ? type : "?");
            goto fail;
        }
        tok->decoder_bytelevel = 1;
    }
    if (load_added_tokens(tok, json_get(root, "added_tokens"), err)) goto fail;
    /* Normalized added tokens are matched by their normalized form. */
    for (i = 0; i < tok->n_added; i++) {
        AddedTok *a = &tok->added[i];
        ByteBuffer cur = {NULL, 0, 0};
        int k;
        if (bytebuf_put(&cur, a->content, a->len)) goto oom;
        if (a->normalized)
            for (k = 0; k < tok->n_normalizers; k++) {
                ByteBuffer nx = {NULL, 0, 0};
                if (normalize_append(tok->normalizers[k], cur.b, cur.n, &nx)) {
                    free(cur.b);
                    free(nx.b);
                    goto oom;
                }
                free(cur.b);
                cur = nx;
            }
        a->pattern = cur.b;
        a->pattern_len = cur.n;
    }
    if (build_matchers(tok, err)) goto fail;
    /* Special tokens from the config files, else BOS from the post-processor's template. */
    if (dir && read_special_configs(tok, dir, err)) goto fail;
    pp = json_get(root, "post_processor");
    if (tok->bos < 0 && pp) tok->bos = post_processor_bos(tok, pp, 0);
    json_free(root);
    return tok;
oom:
    error_set_code(err, EXIT_INTERNAL, "%s: out of memory", name);
fail:
    json_free(root);
    tokenizer_free(tok);
    return NULL;
}

Tokenizer *tokenizer_load_json(const char *text, size_t len, const char *name, Error *err) {
    return load_json(text, len, name ? name : "tokenizer.json", NULL, err);
}

Tokenizer *tokenizer_load(const char *path, Error *err) {
    unsigned char *data = NULL;
    size_t len, dl;
    Tokenizer *tok;
    char *dir;
    const char *slash = strrchr(path, '/'), *bslash = strrchr(path, '\\');
    if (read_file(path, MAX_TOKENIZER_FILE, &data, &len, err)) return NULL;
    /* The directory holding tokenizer.json, for tokenizer_config.json and special_tokens_map.json. */
    if (bslash && (!slash || bslash > slash)) slash = bslash;
    if (slash) {
        dl = slash == path ? 1 : (size_t)(slash - path); /* keep "/" for a file in the root */
        dir = (char *)malloc(dl + 1);
        if (!dir) {
            free(data);
            error_set_code(err, EXIT_INTERNAL, "out of memory");
            return NULL;
        }
        memcpy(dir, path, dl);
        dir[dl] = '\0';
    } else {
        dir = xstrdup(".");
    }
    tok = load_json((const char *)data, len, path, dir, err);
    free(data);
    free(dir);
    return tok;
}
