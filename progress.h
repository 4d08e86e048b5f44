/* progress.h - progress of long steps on stderr: a bar when stderr is a terminal,
 * a plain line at each tenth otherwise. The one place below the CLI that prints:
 * progress is not a result, and a user waiting minutes for the clean pass wants it.
 * One step at a time, from one thread. */
#ifndef CLEANUP_PROGRESS_H
#define CLEANUP_PROGRESS_H

void progress_begin(const char *what, long total);
void progress_update(long done);
void progress_end(void);

#endif
