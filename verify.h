/* verify.h - re-checking an output directory against its SHA256SUMS. */
#ifndef CLEANUP_VERIFY_H
#define CLEANUP_VERIFY_H

/* Called once per problem found, with one line of text (no newline). */
typedef void (*VerifyProblem)(void *ctx, const char *message);

/* Verifies dir against dir/SHA256SUMS: every listed file must exist and have the
 * listed SHA-256; output files of cleanup (report_output_names) present in dir but
 * not listed, and leftover temporaries of an interrupted write, are problems too;
 * other files are ignored. A missing directory, a missing, unreadable or malformed
 * SHA256SUMS, or one that lists nothing are problems. Returns the number of problems;
 * *n_ok gets the number of matching files. */
int verify_directory(const char *dir, VerifyProblem problem, void *ctx, int *n_ok);

#endif
