/* test_utf8.c - the one UTF-8 validator (util.h) that json.c, tokenizer.c and
 * data.c share, against
 *   - known valid and invalid sequences (Markus Kuhn's UTF-8 decoder stress
 *     test: overlongs, surrogates, > U+10FFFF, truncated, stray bytes), and
 *   - every 1-, 2- and 3-byte sequence and a large set of 4-byte ones, against
 *     a reference written from RFC 3629's definition (decode the bits, then
 *     the code point must need exactly that many bytes, be no surrogate and be
 *     at most U+10FFFF) rather than from the table of allowed byte ranges the
 *     validator uses. */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "util.h"

/* RFC 3629 from its definition. */
static size_t reference_len(const unsigned char *s, size_t avail) {
    unsigned long cp, min;
    size_t n, k;
    if (s[0] < 0x80) return 1;
    if ((s[0] & 0xE0) == 0xC0) n = 2, cp = s[0] & 0x1Fu, min = 0x80;
    else if ((s[0] & 0xF0) == 0xE0) n = 3, cp = s[0] & 0x0Fu, min = 0x800;
    else if ((s[0] & 0xF8) == 0xF0) n = 4, cp = s[0] & 0x07u, min = 0x10000;
    else return 0;
    if (avail < n) return 0;
    for (k = 1; k < n; k++) {
        if ((s[k] & 0xC0) != 0x80) return 0;
        cp = cp << 6 | (s[k] & 0x3Fu);
    }
    if (cp < min || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) return 0;
    return n;
}

static void test_known_sequences(void) {
    static const struct {
        const char *bytes;
        size_t len;   /* expected utf8_valid_len */
        const char *what;
    } cases[] = {
        {"a", 1, "ASCII"},
        {"\x7F", 1, "U+007F"},
        {"\xC2\x80", 2, "U+0080, the first 2-byte"},
        {"\xDF\xBF", 2, "U+07FF, the last 2-byte"},
        {"\xE0\xA0\x80", 3, "U+0800, the first 3-byte"},
        {"\xED\x9F\xBF", 3, "U+D7FF, just below the surrogates"},
        {"\xEE\x80\x80", 3, "U+E000, just above the surrogates"},
        {"\xEF\xBF\xBD", 3, "U+FFFD"},
        {"\xEF\xBF\xBF", 3, "U+FFFF"},
        {"\xF0\x90\x80\x80", 4, "U+10000, the first 4-byte"},
        {"\xF4\x8F\xBF\xBF", 4, "U+10FFFF, the last code point"},
        {"\xC0\x80", 0, "overlong U+0000"},
        {"\xC1\xBF", 0, "overlong U+007F"},
        {"\xE0\x80\xAF", 0, "overlong '/' in 3 bytes"},
        {"\xE0\x9F\xBF", 0, "overlong U+07FF"},
        {"\xF0\x80\x80\xAF", 0, "overlong '/' in 4 bytes"},
        {"\xF0\x8F\xBF\xBF", 0, "overlong U+FFFF"},
        {"\xED\xA0\x80", 0, "surrogate U+D800"},
        {"\xED\xAD\xBF", 0, "surrogate U+DB7F"},
        {"\xED\xBF\xBF", 0, "surrogate U+DFFF"},
        {"\xF4\x90\x80\x80", 0, "U+110000, above the last code point"},
        {"\xF5\x80\x80\x80", 0, "lead byte F5"},
        {"\xF8\x88\x80\x80\x80", 0, "5-byte form"},
        {"\xFE", 0, "byte FE"},
        {"\xFF", 0, "byte FF"},
        {"\x80", 0, "lone continuation byte"},
        {"\xBF", 0, "lone continuation byte BF"},
        {"\xC2", 0, "truncated 2-byte"},
        {"\xE2\x82", 0, "truncated 3-byte (euro sign)"},
        {"\xF0\x9F\x98", 0, "truncated 4-byte"},
        {"\xC2\x41", 0, "2-byte with an ASCII second byte"},
        {"\xE2\x28\xA1", 0, "3-byte with a bad second byte"},
        {"\xE2\x82\x28", 0, "3-byte with a bad third byte"},
        {"\xF0\x90\x28\xBC", 0, "4-byte with a bad third byte"},
        {"\xF0\x90\x8C\x28", 0, "4-byte with a bad fourth byte"},
    };
    size_t i;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const unsigned char *s = (const unsigned char *)cases[i].bytes;
        size_t n = strlen(cases[i].bytes), got = utf8_valid_len(s, n);
        CHECK(got == cases[i].len, "utf8_valid_len(%s) = %lu, expected %lu", cases[i].what, (unsigned long)got,
              (unsigned long)cases[i].len);
        got = utf8_first_invalid(s, n);
        CHECK(got == (cases[i].len ? n : 0), "utf8_first_invalid(%s) = %lu", cases[i].what, (unsigned long)got);
    }
}

static void test_first_invalid(void) {
    static const struct {
        const char *bytes;
        size_t at;
    } cases[] = {
        {"", 0},
        {"plain ascii", 11},
        {"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80", 14},
        {"ab\xC3\xA9\xFFx", 4},
        {"ab\xC3\xA9\xE2\x82", 4},          /* truncated at the end */
        {"\xE2\x82\xAC\xED\xA0\x80z", 3},  /* a surrogate after a valid euro */
        {"x\xC0\xAF", 1},
    };
    size_t i;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t got = utf8_first_invalid((const unsigned char *)cases[i].bytes, strlen(cases[i].bytes));
        CHECK(got == cases[i].at, "utf8_first_invalid(case %lu) = %lu, expected %lu", (unsigned long)i,
              (unsigned long)got, (unsigned long)cases[i].at);
    }
}

/* Every sequence of up to 3 bytes, with each shorter prefix (a truncation), and
 * 4-byte sequences whose last two bytes sweep the byte classes' edges. */
static void test_against_definition(void) {
    static const unsigned char edges[] = {0x00, 0x3F, 0x7F, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xFF};
    unsigned char s[4];
    unsigned long bad = 0, checked = 0, a, b, c, d;
    size_t avail;
    for (a = 0; a < 256; a++)
        for (b = 0; b < 256; b++)
            for (c = 0; c < 256; c++) {
                s[0] = (unsigned char)a, s[1] = (unsigned char)b, s[2] = (unsigned char)c;
                for (avail = 1; avail <= 3; avail++, checked++)
                    if (utf8_valid_len(s, avail) != reference_len(s, avail)) bad++;
            }
    for (a = 0xF0; a < 256; a++)
        for (b = 0; b < 256; b++)
            for (c = 0; c < sizeof edges; c++)
                for (d = 0; d < sizeof edges; d++) {
                    s[0] = (unsigned char)a, s[1] = (unsigned char)b, s[2] = edges[c], s[3] = edges[d];
                    checked++;
                    if (utf8_valid_len(s, 4) != reference_len(s, 4)) bad++;
                }
    CHECK(bad == 0, "utf8_valid_len agrees with RFC 3629's definition on %lu sequences (%lu differ)", checked, bad);
}

int main(void) {
    test_known_sequences();
    test_first_invalid();
    test_against_definition();
    return check_done("test_utf8");
}
