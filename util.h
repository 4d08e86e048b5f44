/* util.h - errors, checked allocation, files, directories, command-line helpers.
 *
 * Conventions used everywhere in cleanup:
 *   - A function that can fail returns 0 on success and -1 on failure, after
 *     writing one human-readable line into an Error ("FILE: problem").
 *   - Library code never exits and never prints; only the CLI (cleanup.c and the
 *     cmd_* functions) prints the error and chooses the exit code below.
 *   - Every size read from a file is checked before it is used to allocate.
 */
#ifndef CLEANUP_UTIL_H
#define CLEANUP_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Exit codes of the cleanup program (documented in --help and README). */
#define EXIT_OK 0
#define EXIT_USAGE 1    /* bad command line */
#define EXIT_INPUT 2    /* a missing, malformed or inconsistent input file */
#define EXIT_IO 3       /* cannot write an output */
#define EXIT_VERIFY 4   /* `verify` found a mismatch or a missing file */
#define EXIT_INTERNAL 5 /* out of memory or an internal limit */
#define EXIT_CHECKS 6   /* the run completed, but a check against its reference failed or is missing */

typedef struct {
    char msg[1024];
    int code; /* one of the EXIT_* codes; error_set defaults it to EXIT_INPUT */
} Error;

/* Formats the message into err (if err is not NULL), sets code EXIT_INPUT, returns -1. */
int error_set(Error *err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Same, with an explicit exit code. Returns -1. */
int error_set_code(Error *err, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Prints "cleanup: MSG" on stderr and exits with err->code (EXIT_INPUT if 0). */
void die_error(const Error *err);
/* Prints "cleanup: MSG" on stderr and exits with `code`. */
void die(int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Stores a*b in *out and returns 0, or returns -1 if it overflows size_t. */
int size_mul(size_t a, size_t b, size_t *out);
/* Allocates count*size bytes (zeroed); NULL on overflow or failure. */
void *alloc_array(size_t count, size_t size);
/* Like alloc_array but dies with EXIT_INTERNAL ("out of memory: WHAT") on failure. */
void *xalloc_array(size_t count, size_t size, const char *what);
/* strdup for C99; dies on out of memory. */
char *xstrdup(const char *s);

/* A growable byte string (used for decoded JSON strings, normalized text, ...).
 * Zero-initialise; free(b) when done. */
typedef struct {
    char *b;
    size_t n, cap;
} ByteBuffer;

/* Ensures room for `extra` more bytes plus a terminating NUL; -1 on overflow or
 * out of memory (the buffer is left as it was). */
int bytebuf_reserve(ByteBuffer *buf, size_t extra);
/* Appends n bytes (and keeps a NUL after them); -1 on overflow or out of memory. */
int bytebuf_put(ByteBuffer *buf, const void *data, size_t n);

/* UTF-8 as RFC 3629 defines it: no overlong forms, no surrogates (U+D800..DFFF),
 * nothing above U+10FFFF, no truncated sequences. */
/* Length (1 to 4) of the valid UTF-8 sequence starting at s[0] (avail >= 1 bytes
 * readable), or 0 if the bytes there are not one. */
size_t utf8_valid_len(const unsigned char *s, size_t avail);
/* Offset of the first byte of s[0..n) where no valid sequence starts, or n if
 * all of it is valid UTF-8. */
size_t utf8_first_invalid(const unsigned char *s, size_t n);

/* Reads a whole file. Refuses files larger than max_bytes. The buffer gets one
 * extra NUL byte after the data (not counted in *len). */
int read_file(const char *path, size_t max_bytes, unsigned char **data, size_t *len, Error *err);
/* Writes data to path via a temporary file in the same directory and rename(),
 * so a reader never sees a half-written file. */
int write_file_atomic(const char *path, const void *data, size_t len, Error *err);
/* 1 if path names an existing regular file or directory that can be opened. */
int path_exists(const char *path);
int is_directory(const char *path);
/* Creates a directory and its parents (like mkdir -p). */
int make_dirs(const char *path, Error *err);
/* Lists the names (not paths) of the entries of a directory, sorted, without
 * "." and "..". A directory that cannot be opened or read (readdir's error,
 * not its end) is an error (-1, err set). On platforms without a directory
 * API, returns 0 entries. Free with free_string_list. */
int list_dir(const char *dir, char ***names, int *count, Error *err);
void free_string_list(char **list, int count);
/* Splits the next line off *cursor, a NUL-terminated text modified in place: returns it
 * without its "\n" or "\r\n" and advances *cursor past it; NULL at the end of the text. */
char *next_text_line(char **cursor);
/* An in-memory directory: files that exist only in memory (the planted model `cleanup
 * all` builds when no model directory is on disk). While one is mounted at DIR,
 * read_file, path_exists, is_directory, list_dir and sha256_file_hex see DIR as a
 * directory holding exactly those files (DIR/NAME, as path_join spells it) before they
 * look at the file system, so every reader parses the same bytes as from files. One
 * directory at a time; the caller keeps the bytes alive and unchanged until
 * memdir_unmount. Mount before starting threads. */
typedef struct {
    const char *name;
    const unsigned char *data;
    size_t len;
} MemFile;
void memdir_mount(const char *dir, const MemFile *files, int n_files);
void memdir_unmount(void);
/* The in-memory file at path, or NULL (none mounted there). */
const MemFile *memdir_file(const char *path);

/* Joins a directory and a file name into a newly allocated string. */
char *path_join(const char *dir, const char *name);
/* 1 if s ends with suffix. */
int ends_with(const char *s, const char *suffix);

/* Wall-clock seconds since an arbitrary origin (for timing and progress). */
double now_seconds(void);
/* 1 if standard error is a terminal (progress lines redraw in place), else 0. */
int stderr_is_terminal(void);
/* Number of worker threads in effect (1 without OpenMP). */
int thread_count(void);
/* Sets the number of worker threads (no effect without OpenMP). */
void set_thread_count(int n);

/* Command-line parsing. If argv[*i] is "--name" followed by a value, or
 * "--name=value", stores the value, advances *i past it and returns 1.
 * Returns 0 if argv[*i] is not that option. Dies with EXIT_USAGE if the
 * value is missing. */
int arg_value(int argc, char **argv, int *i, const char *name, const char **value);
/* Parses a whole decimal integer in [lo, hi]; dies with EXIT_USAGE naming `what` otherwise. */
long arg_int(const char *s, long lo, long hi, const char *what);
/* Dies with EXIT_USAGE: "cleanup: CMD: unknown option 'ARG' (did you mean --X?); see
 * cleanup CMD --help", suggesting the option of `options` (NULL-terminated) nearest to
 * ARG by edit distance (at most 3 edits, or one it begins), if any. */
void die_unknown_option(const char *cmd, const char *arg, const char *const *options);
/* Parses a size in bytes: digits with an optional suffix K, M, G or T (powers of 1024;
 * "KiB", "KB", "k" and the like mean the same): "64M", "1G", "512MiB", "1000000".
 * Returns -1 (no message) if s is not one, is 0, or does not fit a size_t. */
int parse_size(const char *s, size_t *out);
/* The process's peak resident set size in bytes (getrusage), or 0 where unknown. */
size_t peak_rss_bytes(void);
/* Parses an integer in [lo, hi] into *out; returns -1 (no message) if s is not one. */
int parse_long(const char *s, long lo, long hi, long *out);

#endif
