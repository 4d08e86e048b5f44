/* fuzz_common.h - helpers shared by the libFuzzer targets (developer tools, POSIX).
 *
 * Entry points that take a path get the input through a file in a private
 * temporary directory, rewritten on every iteration. Library error messages
 * are checked to be non-empty single lines; a violation aborts so libFuzzer
 * records it as a finding. */
#ifndef CLEANUP_FUZZ_COMMON_H
#define CLEANUP_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

static char fuzz_dir[256];
static char fuzz_files[8][512];
static int fuzz_nfiles;

static void fuzz_cleanup(void) {
    int i;
    for (i = 0; i < fuzz_nfiles; i++) remove(fuzz_files[i]);
    if (fuzz_dir[0]) rmdir(fuzz_dir);
}

/* Path of `name` inside the private directory (created on first use). */
static const char *fuzz_path(const char *name) {
    static char path[512];
    int i;
    if (!fuzz_dir[0]) {
        const char *t = getenv("TMPDIR");
        /* /dev/shm when present: a file write per iteration on a disk is slow. */
        if (!t || !*t) t = is_directory("/dev/shm") ? "/dev/shm" : "/tmp";
        snprintf(fuzz_dir, sizeof fuzz_dir, "%s/cleanup-fuzz-%ld", t, (long)getpid());
        if (mkdir(fuzz_dir, 0700) != 0 && !is_directory(fuzz_dir)) {
            fprintf(stderr, "fuzz: cannot create %s\n", fuzz_dir);
            abort();
        }
        atexit(fuzz_cleanup);
    }
    snprintf(path, sizeof path, "%s/%s", fuzz_dir, name);
    for (i = 0; i < fuzz_nfiles; i++)
        if (strcmp(fuzz_files[i], path) == 0) return path;
    if (fuzz_nfiles < 8) strcpy(fuzz_files[fuzz_nfiles++], path);
    return path;
}

/* Writes data to the private file `name` and returns its path. */
static const char *fuzz_write_file(const char *name, const uint8_t *data, size_t size) {
    const char *path = fuzz_path(name);
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
        fprintf(stderr, "fuzz: cannot write %s\n", path);
        abort();
    }
    return path;
}

/* A failing call must leave one non-empty line naming `must_name` (if not NULL)
 * and a valid exit code. */
static void fuzz_check_error(const Error *err, const char *must_name) {
    if (err->msg[0] == '\0' || strchr(err->msg, '\n') || (err->code != EXIT_INPUT && err->code != EXIT_INTERNAL && err->code != EXIT_IO)) {
        fprintf(stderr, "fuzz: bad error report: code %d, message \"%s\"\n", err->code, err->msg);
        abort();
    }
    if (must_name && !strstr(err->msg, must_name)) {
        fprintf(stderr, "fuzz: error message does not name %s: \"%s\"\n", must_name, err->msg);
        abort();
    }
}

/* 1 if s[0..n) is valid UTF-8 (no overlongs, surrogates or values above U+10FFFF). */
static int fuzz_utf8_valid(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i], need, k;
        unsigned long cp;
        if (c < 0x80) { i++; continue; }
        if (c >= 0xC2 && c <= 0xDF) { need = 1; cp = c & 0x1F; }
        else if (c >= 0xE0 && c <= 0xEF) { need = 2; cp = c & 0x0F; }
        else if (c >= 0xF0 && c <= 0xF4) { need = 3; cp = c & 0x07; }
        else return 0;
        if (n - i <= need) return 0;
        for (k = 1; k <= need; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return 0;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += need + 1;
    }
    return 1;
}

#endif
