/* check.h - the tests' tiny assertion helper. Each test program prints one
 * line per failed check and a summary; it exits 0 if all checks passed,
 * 1 if any failed, 77 if it skipped (with a reason on stdout). */
#ifndef CLEANUP_TESTS_CHECK_H
#define CLEANUP_TESTS_CHECK_H

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#define CHECK_SKIP 77

static int check_total, check_failed;

static inline void check_report(int ok, const char *file, int line, const char *fmt, ...) {
    check_total++;
    if (!ok) {
        va_list ap;
        check_failed++;
        fprintf(stdout, "  FAIL %s:%d: ", file, line);
        va_start(ap, fmt);
        vfprintf(stdout, fmt, ap);
        va_end(ap);
        fputc('\n', stdout);
    }
}

/* CHECK(condition, printf-style description of what was expected). */
#define CHECK(cond, ...) check_report((cond) ? 1 : 0, __FILE__, __LINE__, __VA_ARGS__)

/* 1 if |a-b| <= atol + rtol |b|. */
static inline int check_close(double a, double b, double rtol, double atol) {
    if (isnan(a) || isnan(b)) return isnan(a) && isnan(b);
    return fabs(a - b) <= atol + rtol * fabs(b);
}

/* Test data: a splitmix64 stream, uniform in (-1, 1). Each test program seeds it
 * once (check_seed) so its own values stay fixed whatever other tests do. */
static unsigned long long check_rng_state = 0x9E3779B97F4A7C15ULL;

static inline void check_seed(unsigned long long seed) { check_rng_state = seed; }

static inline float check_rnd(void) {
    unsigned long long z = (check_rng_state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    return (float)((double)(z >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

/* p[i] = offset + scale * check_rnd() for i < n. */
static inline void check_fill(float *p, size_t n, float scale, float offset) {
    size_t i;
    for (i = 0; i < n; i++) p[i] = offset + scale * check_rnd();
}

static inline int check_done(const char *name) {
    printf("  %s: %d checks, %d failed\n", name, check_total, check_failed);
    return check_failed ? 1 : 0;
}

#endif
