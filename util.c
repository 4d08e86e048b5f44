/* util.c - see util.h. The only file that touches platform APIs: POSIX.1-2008
 * opendir/readdir/closedir, stat, mkdir, gettimeofday, getrusage, isatty/fileno (the
 * _WIN32 branches use the Microsoft C runtime's equivalents). */
#if !defined(_WIN32) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L
#endif
/* 64-bit file offsets, inode numbers and sizes where the ABI is 32-bit (armhf,
 * i686): without it readdir fails with EOVERFLOW on a file system that hands out
 * 64-bit directory offsets or inodes, and stat on files over 2 GB. */
#if !defined(_WIN32) && !defined(_FILE_OFFSET_BITS)
#define _FILE_OFFSET_BITS 64
#endif
#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(_WIN32)
#include <direct.h>
#include <io.h>
#include <sys/stat.h>
#define MKDIR(p) _mkdir(p)
#else
#include <dirent.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>
#define MKDIR(p) mkdir((p), 0777)
#endif

#ifdef _OPENMP
#include <omp.h>
#endif

/* Messages quote names and strings taken from input files: control characters
 * (newlines, terminal escapes) become '?' so an error stays one harmless line. */
static void error_clean(Error *err) {
    char *p;
    for (p = err->msg; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p == 0x7F) *p = '?';
}

/* Formats the message, cleans it and sets the code: the body of both setters. */
static void error_vset(Error *err, int code, const char *fmt, va_list ap) {
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    error_clean(err);
    err->code = code;
}

int error_set(Error *err, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        error_vset(err, EXIT_INPUT, fmt, ap);
        va_end(ap);
    }
    return -1;
}

int error_set_code(Error *err, int code, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        error_vset(err, code, fmt, ap);
        va_end(ap);
    }
    return -1;
}

void die_error(const Error *err) {
    fflush(stdout);
    fprintf(stderr, "cleanup: %s\n", err->msg[0] ? err->msg : "unknown error");
    exit(err->code ? err->code : EXIT_INPUT);
}

void die(int code, const char *fmt, ...) {
    Error e;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e.msg, sizeof e.msg, fmt, ap);
    va_end(ap);
    error_clean(&e);
    fflush(stdout);
    fprintf(stderr, "cleanup: %s\n", e.msg);
    exit(code);
}

int size_mul(size_t a, size_t b, size_t *out) {
    if (a != 0 && b > (size_t)-1 / a) return -1;
    *out = a * b;
    return 0;
}

void *alloc_array(size_t count, size_t size) {
    size_t n;
    if (size_mul(count, size, &n) != 0) return NULL;
    return calloc(n ? n : 1, 1);
}

void *xalloc_array(size_t count, size_t size, const char *what) {
    void *p = alloc_array(count, size);
    if (!p) die(EXIT_INTERNAL, "out of memory: %s (%lu x %lu bytes)", what, (unsigned long)count, (unsigned long)size);
    return p;
}

char *xstrdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (!p) die(EXIT_INTERNAL, "out of memory");
    memcpy(p, s, n);
    return p;
}

int bytebuf_reserve(ByteBuffer *buf, size_t extra) {
    size_t need = buf->n + extra + 1, ncap;
    char *nb;
    if (need < buf->n) return -1;
    if (need <= buf->cap) return 0;
    ncap = buf->cap ? buf->cap : 64;
    while (ncap < need) {
        if (ncap > ((size_t)-1) / 2) return -1;
        ncap *= 2;
    }
    nb = realloc(buf->b, ncap);
    if (!nb) return -1;
    buf->b = nb;
    buf->cap = ncap;
    return 0;
}

int bytebuf_put(ByteBuffer *buf, const void *data, size_t n) {
    if (bytebuf_reserve(buf, n)) return -1;
    if (n) memcpy(buf->b + buf->n, data, n);
    buf->n += n;
    buf->b[buf->n] = '\0';
    return 0;
}

size_t utf8_valid_len(const unsigned char *s, size_t avail) {
    unsigned char c = s[0];
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        if (avail < 2 || (s[1] & 0xC0) != 0x80) return 0;
        return 2;
    }
    if (c >= 0xE0 && c <= 0xEF) {
        unsigned char lo = 0x80, hi = 0xBF;
        if (c == 0xE0) lo = 0xA0;      /* no overlongs */
        if (c == 0xED) hi = 0x9F;      /* no surrogates */
        if (avail < 3 || s[1] < lo || s[1] > hi || (s[2] & 0xC0) != 0x80) return 0;
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        unsigned char lo = 0x80, hi = 0xBF;
        if (c == 0xF0) lo = 0x90;      /* no overlongs */
        if (c == 0xF4) hi = 0x8F;      /* nothing above U+10FFFF */
        if (avail < 4 || s[1] < lo || s[1] > hi || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80) return 0;
        return 4;
    }
    return 0;
}

size_t utf8_first_invalid(const unsigned char *s, size_t n) {
    size_t i = 0, len;
    while (i < n && (len = utf8_valid_len(s + i, n - i)) > 0) i += len;
    return i;
}

/* The mounted in-memory directory (memdir_mount): its path and files. */
static struct {
    char *dir;
    const MemFile *files;
    int n_files;
} memdir;

void memdir_mount(const char *dir, const MemFile *files, int n_files) {
    memdir_unmount();
    memdir.dir = xstrdup(dir);
    memdir.files = files;
    memdir.n_files = n_files;
}

void memdir_unmount(void) {
    free(memdir.dir);
    memset(&memdir, 0, sizeof memdir);
}

/* 1 if path is the mounted in-memory directory (is_directory, path_exists and
 * list_dir ask; nothing outside this file needs to). */
static int memdir_is_dir(const char *path) {
    return memdir.dir && strcmp(path, memdir.dir) == 0;
}

const MemFile *memdir_file(const char *path) {
    int i;
    if (!memdir.dir) return NULL;
    for (i = 0; i < memdir.n_files; i++) {
        char *p = path_join(memdir.dir, memdir.files[i].name);
        int same = strcmp(p, path) == 0;
        free(p);
        if (same) return &memdir.files[i];
    }
    return NULL;
}

/* read_file of an in-memory file: a copy of its bytes. */
static int read_memfile(const MemFile *mf, const char *path, size_t max_bytes, unsigned char **data, size_t *len,
                        Error *err) {
    if (mf->len > max_bytes)
        return error_set(err, "%s: file is larger than the limit of %lu bytes", path, (unsigned long)max_bytes);
    *data = malloc(mf->len + 1);
    if (!*data) return error_set_code(err, EXIT_INTERNAL, "%s: out of memory reading file", path);
    if (mf->len) memcpy(*data, mf->data, mf->len);
    (*data)[mf->len] = 0;
    *len = mf->len;
    return 0;
}

int read_file(const char *path, size_t max_bytes, unsigned char **data, size_t *len, Error *err) {
    FILE *f;
    unsigned char *buf = NULL;
    size_t cap = 0, used = 0;
    const MemFile *mf = memdir_file(path);
    *data = NULL;
    *len = 0;
    if (mf) return read_memfile(mf, path, max_bytes, data, len, err);
    if (is_directory(path)) return error_set(err, "%s: is a directory, not a file", path);
    f = fopen(path, "rb");
    if (!f) return error_set(err, "%s: cannot open: %s", path, strerror(errno));
    /* Read in growing chunks: works for pipes and does not trust a reported size. */
    for (;;) {
        size_t got;
        if (used == cap) {
            size_t ncap = cap ? cap * 2 : 65536;
            unsigned char *nb;
            if (ncap > max_bytes + 1) ncap = max_bytes + 1;
            if (ncap <= cap) {
                free(buf);
                fclose(f);
                return error_set(err, "%s: file is larger than the limit of %lu bytes", path, (unsigned long)max_bytes);
            }
            nb = realloc(buf, ncap + 1);
            if (!nb) {
                free(buf);
                fclose(f);
                return error_set_code(err, EXIT_INTERNAL, "%s: out of memory reading file", path);
            }
            buf = nb;
            cap = ncap;
        }
        got = fread(buf + used, 1, cap - used, f);
        used += got;
        if (got == 0) break;
    }
    if (ferror(f)) {
        free(buf);
        fclose(f);
        return error_set(err, "%s: read error", path);
    }
    fclose(f);
    if (used > max_bytes) {
        free(buf);
        return error_set(err, "%s: file is larger than the limit of %lu bytes", path, (unsigned long)max_bytes);
    }
    if (!buf) {
        buf = malloc(1);
        if (!buf) return error_set_code(err, EXIT_INTERNAL, "out of memory");
    }
    buf[used] = 0;
    *data = buf;
    *len = used;
    return 0;
}

int write_file_atomic(const char *path, const void *data, size_t len, Error *err) {
    size_t n = strlen(path) + 32;
    char *tmp = malloc(n);
    FILE *f;
    int ok;
    if (!tmp) return error_set_code(err, EXIT_INTERNAL, "out of memory");
    snprintf(tmp, n, "%s.tmp%ld", path, (long)(now_seconds() * 1000) % 100000);
    f = fopen(tmp, "wb");
    if (!f) {
        error_set_code(err, EXIT_IO, "%s: cannot write: %s", path, strerror(errno));
        free(tmp);
        return -1;
    }
    ok = fwrite(data, 1, len, f) == len;
    ok = (fflush(f) == 0) && ok;
    ok = (fclose(f) == 0) && ok;
    if (!ok) {
        error_set_code(err, EXIT_IO, "%s: write error: %s", path, strerror(errno));
        remove(tmp);
        free(tmp);
        return -1;
    }
    if (rename(tmp, path) != 0) {
        error_set_code(err, EXIT_IO, "%s: cannot rename temporary file into place: %s", path, strerror(errno));
        remove(tmp);
        free(tmp);
        return -1;
    }
    free(tmp);
    return 0;
}

int path_exists(const char *path) {
    struct stat st;
    if (memdir_is_dir(path) || memdir_file(path)) return 1;
    return stat(path, &st) == 0;
}

int is_directory(const char *path) {
    struct stat st;
    if (memdir_is_dir(path)) return 1;
    if (memdir_file(path)) return 0;
    if (stat(path, &st) != 0) return 0;
    #if defined(_WIN32)
    return (st.st_mode & _S_IFDIR) != 0;
#else
    return S_ISDIR(st.st_mode);
#endif
}

int make_dirs(const char *path, Error *err) {
    char *p = xstrdup(path);
    size_t i, n = strlen(p);
    for (i = 1; i <= n; i++) {
        if (p[i] == '/' || p[i] == '\0') {
            char saved = p[i];
            p[i] = '\0';
            if (!is_directory(p) && MKDIR(p) != 0 && errno != EEXIST) {
                error_set_code(err, EXIT_IO, "%s: cannot create directory: %s", p, strerror(errno));
                free(p);
                return -1;
            }
            p[i] = saved;
        }
    }
    free(p);
    if (!is_directory(path)) return error_set_code(err, EXIT_IO, "%s: not a directory", path);
    return 0;
}

static int compare_strings(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int list_dir(const char *dir, char ***names, int *count, Error *err) {
    char **list = NULL;
    int n = 0, cap = 0;
    if (memdir_is_dir(dir)) {
        list = xalloc_array((size_t)memdir.n_files + 1, sizeof *list, "directory list");
        for (n = 0; n < memdir.n_files; n++) list[n] = xstrdup(memdir.files[n].name);
        if (n > 1) qsort(list, (size_t)n, sizeof *list, compare_strings);
        *names = list;
        *count = n;
        return 0;
    }
#if defined(_WIN32)
    (void)dir;
    (void)err;
#else
    DIR *d = opendir(dir);
    struct dirent *e;
    if (!d) return error_set(err, "%s: cannot open directory: %s", dir, strerror(errno));
    /* readdir returns NULL at the end and on an error; only errno tells them apart. */
    while ((errno = 0, e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        if (n == cap) {
            char **nl;
            cap = cap ? cap * 2 : 16;
            nl = realloc(list, (size_t)cap * sizeof *list);
            if (!nl) die(EXIT_INTERNAL, "out of memory");
            list = nl;
        }
        list[n++] = xstrdup(e->d_name);
    }
    if (errno != 0) {
        int code = errno;
        closedir(d);
        free_string_list(list, n);
        return error_set(err, "%s: cannot read directory: %s", dir, strerror(code));
    }
    closedir(d);
    if (n > 1) qsort(list, (size_t)n, sizeof *list, compare_strings);
#endif
    *names = list;
    *count = n;
    return 0;
}

void free_string_list(char **list, int count) {
    int i;
    for (i = 0; i < count; i++) free(list[i]);
    free(list);
}

char *path_join(const char *dir, const char *name) {
    size_t a = strlen(dir), b = strlen(name);
    char *p = malloc(a + b + 2);
    if (!p) die(EXIT_INTERNAL, "out of memory");
    memcpy(p, dir, a);
    if (a > 0 && dir[a - 1] != '/') p[a++] = '/';
    memcpy(p + a, name, b + 1);
    return p;
}

int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

double now_seconds(void) {
#if defined(_WIN32)
    return (double)clock() / CLOCKS_PER_SEC;
#else
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + 1e-6 * (double)tv.tv_usec;
#endif
}

int stderr_is_terminal(void) {
#if defined(_WIN32)
    return _isatty(_fileno(stderr)) != 0;
#else
    return isatty(fileno(stderr)) != 0;
#endif
}

int thread_count(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

void set_thread_count(int n) {
#ifdef _OPENMP
    if (n > 0) omp_set_num_threads(n);
#else
    (void)n;
#endif
}

int arg_value(int argc, char **argv, int *i, const char *name, const char **value) {
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, name, n) != 0) return 0;
    if (a[n] == '=') {
        *value = a + n + 1;
        return 1;
    }
    if (a[n] != '\0') return 0;
    if (*i + 1 >= argc) die(EXIT_USAGE, "option %s needs a value (see --help)", name);
    *i += 1;
    *value = argv[*i];
    return 1;
}

int parse_long(const char *s, long lo, long hi, long *out) {
    char *end;
    long v;
    if (!s || !*s) return -1;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

long arg_int(const char *s, long lo, long hi, const char *what) {
    long v;
    if (parse_long(s, lo, hi, &v) != 0) die(EXIT_USAGE, "%s must be an integer from %ld to %ld, not '%s'", what, lo, hi, s);
    return v;
}

/* Levenshtein distance of a and b (both at most 63 characters are compared). */
static int edit_distance(const char *a, const char *b) {
    int d[64][64], i, j, n = (int)strlen(a), m = (int)strlen(b);
    if (n > 63) n = 63;
    if (m > 63) m = 63;
    for (i = 0; i <= n; i++) d[i][0] = i;
    for (j = 0; j <= m; j++) d[0][j] = j;
    for (i = 1; i <= n; i++)
        for (j = 1; j <= m; j++) {
            int best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < best) best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best) best = d[i][j - 1] + 1;
            d[i][j] = best;
        }
    return d[n][m];
}

void die_unknown_option(const char *cmd, const char *arg, const char *const *options) {
    const char *best = NULL, *eq = strchr(arg, '=');
    char name[64];
    int best_d = 4, i;
    snprintf(name, sizeof name, "%.*s", eq ? (int)(eq - arg) : (int)strlen(arg), arg);
    for (i = 0; options && options[i]; i++) {
        int d = strncmp(options[i], name, strlen(name)) == 0 && strlen(name) > 2 ? 1 : edit_distance(name, options[i]);
        if (d < best_d) {
            best_d = d;
            best = options[i];
        }
    }
    if (best)
        die(EXIT_USAGE, "%s: unknown option '%s' (did you mean %s?); see cleanup %s --help", cmd, arg, best, cmd);
    die(EXIT_USAGE, "%s: unknown option '%s'; see cleanup %s --help", cmd, arg, cmd);
}

char *next_text_line(char **cursor) {
    char *line = *cursor, *nl;
    size_t n;
    if (!line || !*line) return NULL;
    nl = strchr(line, '\n');
    if (nl) {
        *nl = '\0';
        *cursor = nl + 1;
    } else {
        *cursor = line + strlen(line);
    }
    n = strlen(line);
    if (n && line[n - 1] == '\r') line[n - 1] = '\0';
    return line;
}

int parse_size(const char *s, size_t *out) {
    static const char units[] = "KMGT";
    const char *p = s, *u;
    uint64_t v = 0, mult = 1;
    if (!s || *s < '0' || *s > '9') return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > (UINT64_MAX - 9) / 10) return -1;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (*p) {
        u = strchr(units, *p >= 'a' && *p <= 'z' ? *p - 'a' + 'A' : *p);
        if (!u || !*u) return -1;
        mult = (uint64_t)1 << (10 * (1 + (u - units)));
        p++;
        if (*p == 'i') p++;
        if (*p == 'B') p++;
        if (*p) return -1;
    }
    if (v == 0 || v > UINT64_MAX / mult || v * mult > (uint64_t)(size_t)-1) return -1;
    *out = (size_t)(v * mult);
    return 0;
}

size_t peak_rss_bytes(void) {
#if defined(_WIN32)
    return 0;
#else
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0 || ru.ru_maxrss <= 0) return 0;
#if defined(__APPLE__)
    return (size_t)ru.ru_maxrss; /* bytes on macOS */
#else
    return (size_t)ru.ru_maxrss * 1024; /* kilobytes on Linux and the BSDs */
#endif
#endif
}
