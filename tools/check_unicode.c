/* check_unicode.c - dev tool: compares unicode_data.c and the tokenizer's normalizer
 * with (1) the dump of tools/unicode_parity.js (how HF tokenizers classifies and
 * normalizes every single code point) and (2) the UCD's NormalizationTest.txt.
 *
 *   cc -std=c99 -I. tools/check_unicode.c tokenizer.c json.c unicode_data.c util.c -lm -o /tmp/check_unicode
 *   node tools/unicode_parity.js > /tmp/hf_unicode.txt
 *   bzip2 -dc /usr/share/unicode/NormalizationTest.txt.bz2 > /tmp/NormalizationTest.txt
 *   /tmp/check_unicode /tmp/hf_unicode.txt /tmp/NormalizationTest.txt
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer.h"
#include "unicode_data.h"

static size_t enc(unsigned long cp, char *o) {
    if (cp < 0x80) { o[0] = (char)cp; return 1; }
    if (cp < 0x800) { o[0] = (char)(0xC0 | (cp >> 6)); o[1] = (char)(0x80 | (cp & 63)); return 2; }
    if (cp < 0x10000) { o[0] = (char)(0xE0 | (cp >> 12)); o[1] = (char)(0x80 | ((cp >> 6) & 63)); o[2] = (char)(0x80 | (cp & 63)); return 3; }
    o[0] = (char)(0xF0 | (cp >> 18)); o[1] = (char)(0x80 | ((cp >> 12) & 63)); o[2] = (char)(0x80 | ((cp >> 6) & 63)); o[3] = (char)(0x80 | (cp & 63)); return 4;
}

/* Parses hex code points separated by spaces into UTF-8. */
static size_t hexs_to_utf8(const char *s, char *out) {
    size_t n = 0;
    char *end;
    for (;;) {
        unsigned long cp = strtoul(s, &end, 16);
        if (end == s) break;
        n += enc(cp, out + n);
        s = end;
    }
    out[n] = 0;
    return n;
}

static long bad = 0;

static void check_norm(const char *form, const char *in, size_t inl, const char *want, size_t wl, const char *what) {
    char *got;
    size_t gl;
    Error err;
    if (tokenizer_normalize(form, in, inl, &got, &gl, &err)) { printf("%s: %s error %s\n", what, form, err.msg); bad++; return; }
    if (gl != wl || memcmp(got, want, wl) != 0) {
        if (bad < 40) printf("%s: %s differs\n", what, form);
        bad++;
    }
    free(got);
}

int main(int argc, char **argv) {
    static char line[4096];
    FILE *f;
    long n_cls = 0, n_norm = 0, n_test = 0;
    char src[64];
    unsigned long cp;
    if (argc < 2) return 1;
    f = fopen(argv[1], "r");
    if (!f) return 1;
    /* Single code points: classes and the four normal forms (unchanged ones are not listed,
     * so every code point not listed must normalize to itself). */
    {
        static unsigned char listed[4][0x110000];
        const char *forms[4] = {"NFC", "NFD", "NFKC", "NFKD"};
        int k;
        while (fgets(line, sizeof line, f)) {
            if (line[0] == 'C') {
                int L, N, W, D;
                unsigned fl;
                sscanf(line + 2, "%lx %d %d %d %d", &cp, &L, &N, &W, &D);
                fl = uni_flags(cp);
                if (!!(fl & UNI_L) != L || !!(fl & UNI_N) != N || (!L && !N && !!(fl & UNI_WS) != W) || uni_is_numeric(cp) != D) {
                    if (bad < 40) printf("U+%04lX classes: HF L%d N%d W%d D%d, ours %x\n", cp, L, N, W, D, fl);
                    bad++;
                }
                n_cls++;
            } else if (line[0] == 'W') {
                int w, sp;
                unsigned fl;
                sscanf(line + 2, "%lx %d %d", &cp, &w, &sp);
                fl = uni_flags(cp);
                /* The lstrip probe cannot tell for 'x' (the token itself) and 'y' (in the vocabulary). */
                if (cp == 'x' || cp == 'y') sp = !!(fl & UNI_WS);
                if (!!(fl & UNI_WORD) != w || !!(fl & UNI_WS) != sp) {
                    if (bad < 40) printf("U+%04lX word/space: HF %d %d, ours %x\n", cp, w, sp, fl);
                    bad++;
                }
                n_cls++;
            } else {
                char form[8], want[256];
                size_t wl, sl;
                char *sp = strchr(line, ' ');
                if (!sp || sp - line > 5) continue;
                memcpy(form, line, (size_t)(sp - line));
                form[sp - line] = 0;
                cp = strtoul(sp + 1, &sp, 16);
                wl = hexs_to_utf8(sp, want);
                sl = enc(cp, src);
                for (k = 0; k < 4; k++) if (strcmp(forms[k], form) == 0) listed[k][cp] = 1;
                check_norm(form, src, sl, want, wl, "single");
                n_norm++;
            }
        }
        fclose(f);
        for (cp = 0; cp < 0x110000; cp++) {
            if (cp >= 0xD800 && cp < 0xE000) continue;
            for (k = 0; k < 4; k++)
                if (!listed[k][cp]) {
                    size_t sl = enc(cp, src);
                    { char w[32]; sprintf(w, "identity U+%04lX", cp); check_norm(forms[k], src, sl, src, sl, w); }
                }
        }
    }
    /* NormalizationTest.txt: c1;c2;c3;c4;c5 with NFC(c1)=c2, NFD(c1)=c3, NFKC(c1)=c4, NFKD(c1)=c5. */
    if (argc > 2 && (f = fopen(argv[2], "r")) != NULL) {
        while (fgets(line, sizeof line, f)) {
            char col[5][1024];
            size_t len[5];
            char *p = line;
            int k;
            if (line[0] == '#' || line[0] == '@' || line[0] == '\n') continue;
            for (k = 0; k < 5; k++) {
                char *semi = strchr(p, ';'), tmp[512];
                if (!semi) break;
                memcpy(tmp, p, (size_t)(semi - p));
                tmp[semi - p] = 0;
                len[k] = hexs_to_utf8(tmp, col[k]);
                p = semi + 1;
            }
            if (k < 5) continue;
            check_norm("NFC", col[0], len[0], col[1], len[1], line);
            check_norm("NFD", col[0], len[0], col[2], len[2], line);
            check_norm("NFKC", col[0], len[0], col[3], len[3], line);
            check_norm("NFKD", col[0], len[0], col[4], len[4], line);
            n_test++;
        }
        fclose(f);
    }
    printf("%ld class rows, %ld single-code-point normalizations, %ld NormalizationTest rows: %ld mismatches\n", n_cls,
           n_norm, n_test, bad);
    return bad ? 1 : 0;
}
