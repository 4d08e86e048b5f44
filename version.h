/* version.h - what program wrote an output: a release constant and, when built from a
 * git checkout, its commit (the Makefile passes it). */
#ifndef CLEANUP_VERSION_H
#define CLEANUP_VERSION_H

#define CLEANUP_VERSION "0.3.0"

/* "0.3.0 (commit 1a2b3c4d5e6f)", "0.3.0 (commit 1a2b3c4d5e6f, modified)" or "0.3.0". */
const char *cleanup_version(void);

#endif
