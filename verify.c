/* verify.c - see verify.h. */
#include "verify.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"
#include "sha256.h"

/* Formats one problem and hands it to the caller's callback. */
static void say(VerifyProblem problem, void *ctx, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static void say(VerifyProblem problem, void *ctx, const char *fmt, ...) {
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (problem) problem(ctx, msg);
}

static int is_known_output(const char *name) {
    int i, n;
    const char *const *names = report_output_names(&n);
    for (i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0) return 1;
    return 0;
}

/* 1 if name is "KNOWN.tmp..." - what write_file_atomic leaves if interrupted. */
static int is_leftover_temp(const char *name) {
    int i, n;
    const char *const *names = report_output_names(&n);
    for (i = 0; i < n; i++) {
        size_t len = strlen(names[i]);
        if (strncmp(name, names[i], len) == 0 && strncmp(name + len, ".tmp", 4) == 0) return 1;
    }
    return 0;
}

static char tolower_ascii(char ch) {
    return ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
}

static int hex_value(int ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/* One listed file: present, and with the listed SHA-256. Returns the problems (0 or 1). */
static int check_listed_file(const char *dir, const char *name, const char *hex, VerifyProblem problem, void *ctx,
                             int *n_ok) {
    char *path = path_join(dir, name), got[65];
    int problems = 1;
    Error e;
    if (!path_exists(path))
        say(problem, ctx, "%s: listed in SHA256SUMS but missing", path);
    else if (sha256_file_hex(path, got, &e) != 0)
        say(problem, ctx, "%s", e.msg);
    else if (strcmp(got, hex) != 0)
        say(problem, ctx, "%s: SHA-256 mismatch: the file changed after the run (expected %.12s..., got %.12s...)", path,
            hex, got);
    else {
        problems = 0;
        (*n_ok)++;
    }
    free(path);
    return problems;
}

/* Outputs in dir that SHA256SUMS does not list, and leftover temporaries. A directory
 * that cannot be listed is a problem too (the check could not be made). */
static int check_unlisted(const char *dir, char **listed, int n_listed, VerifyProblem problem, void *ctx) {
    char **entries = NULL;
    int n_entries = 0, problems = 0, i, j;
    Error e;
    if (list_dir(dir, &entries, &n_entries, &e) != 0) {
        say(problem, ctx, "%s: cannot list the directory to look for unlisted outputs: %s", dir, e.msg);
        return 1;
    }
    for (i = 0; i < n_entries; i++) {
        const char *name = entries[i];
        if (strcmp(name, "SHA256SUMS") == 0) continue;
        if (is_leftover_temp(name)) {
            say(problem, ctx, "%s/%s: leftover temporary file of an interrupted write", dir, name);
            problems++;
            continue;
        }
        if (!is_known_output(name)) continue;
        for (j = 0; j < n_listed; j++)
            if (strcmp(listed[j], name) == 0) break;
        if (j == n_listed) {
            say(problem, ctx, "%s/%s: an output file not listed in SHA256SUMS (stale or added later)", dir, name);
            problems++;
        }
    }
    free_string_list(entries, n_entries);
    return problems;
}

/* Line "HEX  NAME" (or "HEX *NAME") of SHA256SUMS into hex (lower case) and *name; 0, or
 * -1 with the problem said. */
static int parse_sums_line(char *line, const char *sums, int line_no, char *hex, char **name, VerifyProblem problem,
                           void *ctx) {
    size_t n = strlen(line);
    int i;
    for (i = 0; i < 64 && i < (int)n && hex_value((unsigned char)line[i]) >= 0; i++) hex[i] = tolower_ascii(line[i]);
    if (i != 64 || n < 67 || line[64] != ' ' || (line[65] != ' ' && line[65] != '*')) {
        say(problem, ctx, "%s: line %d: not \"SHA256  NAME\"", sums, line_no);
        return -1;
    }
    hex[64] = '\0';
    *name = line + 66;
    if (strchr(*name, '/') || strchr(*name, '\\') || strcmp(*name, ".") == 0 || strcmp(*name, "..") == 0) {
        say(problem, ctx, "%s: line %d: '%s' is not a plain file name in this directory", sums, line_no, *name);
        return -1;
    }
    return 0;
}

int verify_directory(const char *dir, VerifyProblem problem, void *ctx, int *n_ok) {
    unsigned char *data = NULL;
    size_t len;
    char *sums = path_join(dir, "SHA256SUMS"), *line, *cursor, **listed = NULL;
    int problems = 0, n_listed = 0, cap = 0, line_no = 0, j;
    Error e;
    *n_ok = 0;
    if (!is_directory(dir)) {
        say(problem, ctx, "%s: no such directory", dir);
        free(sums);
        return 1;
    }
    if (read_file(sums, (size_t)1 << 20, &data, &len, &e) != 0) {
        say(problem, ctx, "%s: missing or unreadable (%s); a run that did not finish writes none", sums, e.msg);
        free(sums);
        return 1;
    }
    cursor = (char *)data;
    while ((line = next_text_line(&cursor)) != NULL) {
        char hex[65], *name;
        line_no++;
        if (parse_sums_line(line, sums, line_no, hex, &name, problem, ctx)) {
            problems++;
            continue;
        }
        for (j = 0; j < n_listed; j++)
            if (strcmp(listed[j], name) == 0) break;
        if (j < n_listed) {
            say(problem, ctx, "%s: line %d: %s is listed twice", sums, line_no, name);
            problems++;
            continue;
        }
        if (n_listed == cap) {
            char **nl;
            cap = cap ? cap * 2 : 32;
            nl = realloc(listed, (size_t)cap * sizeof *nl);
            if (!nl) die(EXIT_INTERNAL, "out of memory");
            listed = nl;
        }
        listed[n_listed++] = xstrdup(name);
        problems += check_listed_file(dir, name, hex, problem, ctx, n_ok);
    }
    if (n_listed == 0 && problems == 0) {
        say(problem, ctx, "%s: lists no files", sums);
        problems++;
    }
    problems += check_unlisted(dir, listed, n_listed, problem, ctx);
    free_string_list(listed, n_listed);
    free(data);
    free(sums);
    return problems;
}
