/* progress.c - see progress.h. */
#include "progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"


static struct {
    char what[64];
    long total, last_done;
    double start, last_draw;
    int active, tty, last_tenth;
} progress;

void progress_begin(const char *what, long total) {
    memset(&progress, 0, sizeof progress);
    snprintf(progress.what, sizeof progress.what, "%s", what ? what : "working");
    progress.total = total;
    progress.start = now_seconds();
    progress.last_draw = -1;
    progress.active = 1;
    progress.tty = stderr_is_terminal();
    {
        const char *term = getenv("TERM");
        if (term && strcmp(term, "dumb") == 0) progress.tty = 0;
    }
    if (!progress.tty) {
        if (total > 0)
            fprintf(stderr, "%s: 0/%ld\n", progress.what, total);
        else
            fprintf(stderr, "%s: started\n", progress.what);
    }
    progress_update(0);
}

/* Draws the bar (terminal) at most 10 times a second, or prints a plain line
 * at each tenth of the total (otherwise). Call from one thread only. */
void progress_update(long done) {
    double now, elapsed;
    if (!progress.active) return;
    progress.last_done = done;
    now = now_seconds();
    elapsed = now - progress.start;
    if (progress.tty) {
        char bar[31];
        int i, filled = 0;
        if (progress.last_draw >= 0 && now - progress.last_draw < 0.1 && done != progress.total) return;
        progress.last_draw = now;
        if (progress.total > 0) {
            filled = (int)(30.0 * (double)done / (double)progress.total);
            if (filled > 30) filled = 30;
            if (filled < 0) filled = 0;
        }
        for (i = 0; i < 30; i++) bar[i] = i < filled ? '#' : '.';
        bar[30] = '\0';
        if (progress.total > 0) {
            double eta = done > 0 ? elapsed * (double)(progress.total - done) / (double)done : 0;
            fprintf(stderr, "\r%s [%s] %3d%% %ld/%ld %.0fs left ", progress.what, bar,
                    (int)(100.0 * (double)done / (double)progress.total), done, progress.total, eta);
        } else {
            fprintf(stderr, "\r%s: %ld done, %.0fs ", progress.what, done, elapsed);
        }
        fflush(stderr);
    } else if (progress.total > 0) {
        int tenth = (int)(10.0 * (double)done / (double)progress.total);
        if (tenth > progress.last_tenth && done < progress.total) {
            progress.last_tenth = tenth;
            fprintf(stderr, "%s: %ld/%ld (%d%%), %.1f s\n", progress.what, done, progress.total,
                    (int)(100.0 * (double)done / (double)progress.total), elapsed);
        }
    }
}

void progress_end(void) {
    double elapsed;
    if (!progress.active) return;
    elapsed = now_seconds() - progress.start;
    if (progress.tty) fprintf(stderr, "\r%-78s\r", ""); /* clear the bar */
    if (progress.total > 0)
        fprintf(stderr, "%s: done, %ld/%ld in %.1f s\n", progress.what, progress.last_done, progress.total, elapsed);
    else
        fprintf(stderr, "%s: done, %ld in %.1f s\n", progress.what, progress.last_done, elapsed);
    progress.active = 0;
}
