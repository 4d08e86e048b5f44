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

static inline int check_done(const char *name) {
    printf("  %s: %d checks, %d failed\n", name, check_total, check_failed);
    return check_failed ? 1 : 0;
}

#endif
