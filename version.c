/* version.c - see version.h. CLEANUP_COMMIT is set by the Makefile from `git describe`
 * when the source is a git checkout ("" otherwise). */
#include "version.h"

#ifndef CLEANUP_COMMIT
#define CLEANUP_COMMIT ""
#endif

const char *cleanup_version(void) {
    return CLEANUP_COMMIT[0] ? CLEANUP_VERSION " (commit " CLEANUP_COMMIT ")" : CLEANUP_VERSION;
}
