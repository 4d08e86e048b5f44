/* bench_tokenizer.c - single-threaded tokenizer speed in MB/s (`make bench-tokenizer`).
 *
 * usage: bench_tokenizer [TOKENIZER_JSON [TEXT_FILE]]
 * Defaults: ../shared/data/20B_tokenizer.json and 8 MB of English-like text made of
 * words drawn (fixed seed) from the English prose in tests/fixtures/tokenizer/parity_texts.json.
 * Prints wall-clock and CPU-time throughput (the machine may be shared: CPU time is
 * the fairer number). Exits 77 when the tokenizer file is absent. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "json.h"
#include "tokenizer.h"

#define TARGET_BYTES (8u << 20)

/* Appends the words (runs of ASCII letters, digits and punctuation) of prose-like texts. */
static int collect_words(const JsonValue *texts, char ***words, size_t *n) {
    size_t i, cap = 0;
    *words = NULL;
    *n = 0;
    for (i = 0; i < texts->count; i++) {
        const char *s = texts->items[i].str;
        size_t j = 0, len = texts->items[i].len, ascii = 0, letters = 0;
        for (j = 0; j < len; j++) {
            ascii += (unsigned char)s[j] < 0x80;
            letters += (s[j] >= 'a' && s[j] <= 'z');
        }
        if (len < 200 || ascii < len || letters * 10 < len * 6) continue; /* keep long English-looking texts */
        for (j = 0; j < len;) {
            size_t k = j;
            while (k < len && s[k] != ' ' && s[k] != '\n' && s[k] != '\t' && s[k] != '\r') k++;
            if (k > j) {
                if (*n == cap) {
                    char **nw;
                    cap = cap ? cap * 2 : 1024;
                    nw = (char **)realloc(*words, cap * sizeof(char *));
                    if (!nw) return -1;
                    *words = nw;
                }
                (*words)[*n] = (char *)malloc(k - j + 1);
                if (!(*words)[*n]) return -1;
                memcpy((*words)[*n], s + j, k - j);
                (*words)[*n][k - j] = '\0';
                (*n)++;
            }
            j = k + 1;
        }
    }
    return 0;
}

int main(int argc, char **argv) {
    const char *tok_path = argc > 1 ? argv[1] : "../shared/data/20B_tokenizer.json";
    Error err;
    Tokenizer *tok;
    unsigned char *text = NULL;
    size_t len = 0, n_ids, i;
    int *ids;
    double t0, t1;
    clock_t c0, c1;
    if (!path_exists(tok_path)) {
        printf("SKIP bench_tokenizer: %s not found\n", tok_path);
        return 77;
    }
    tok = tokenizer_load(tok_path, &err);
    if (!tok) {
        printf("%s\n", err.msg);
        return 1;
    }
    if (argc > 2) {
        if (read_file(argv[2], (size_t)1 << 30, &text, &len, &err)) {
            printf("%s\n", err.msg);
            return 1;
        }
    } else {
        unsigned char *raw;
        size_t raw_len, n_words;
        char **words;
        JsonValue *root;
        unsigned long long s = 12345;
        if (read_file("tests/fixtures/tokenizer/parity_texts.json", 64u << 20, &raw, &raw_len, &err)) {
            printf("%s\n", err.msg);
            return 1;
        }
        root = json_parse((const char *)raw, raw_len, "parity_texts.json", &err);
        free(raw);
        if (!root || collect_words(json_get(root, "texts"), &words, &n_words) || n_words == 0) {
            printf("cannot build the benchmark text\n");
            return 1;
        }
        text = (unsigned char *)malloc(TARGET_BYTES + 64);
        if (!text) return 1;
        while (len < TARGET_BYTES) {
            const char *w;
            size_t wl;
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            w = words[s % n_words];
            wl = strlen(w);
            if (len + wl + 1 > TARGET_BYTES) break;
            memcpy(text + len, w, wl);
            len += wl;
            text[len++] = (s >> 40) % 12 == 0 ? '\n' : ' ';
        }
        for (i = 0; i < n_words; i++) free(words[i]);
        free(words);
        json_free(root);
    }
    c0 = clock();
    t0 = now_seconds();
    if (tokenizer_encode(tok, (const char *)text, len, &ids, &n_ids, &err)) {
        printf("%s\n", err.msg);
        return 1;
    }
    t1 = now_seconds();
    c1 = clock();
    printf("tokenizer: %.2f MB -> %lu tokens; %.1f MB/s wall, %.1f MB/s CPU (single thread)\n", len / 1e6,
           (unsigned long)n_ids, len / 1e6 / (t1 - t0), len / 1e6 / ((double)(c1 - c0) / CLOCKS_PER_SEC));
    free(ids);
    free(text);
    tokenizer_free(tok);
    return 0;
}
