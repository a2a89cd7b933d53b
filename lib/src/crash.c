/* crash.c - see crash.h. The pass counter is process-wide on purpose: a
 * crash point names a place in the process, not an object, and this file
 * is compiled only into test builds. */
#include "crash.h"

#ifdef EOC_CRASH_POINTS
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static atomic_long passes;

void eoc__crash_point(const char *name)
{
    const char *at = getenv("EOC_CRASH_AT");
    if (!at)
        return;
    const char *colon = strrchr(at, ':');
    size_t n = colon ? (size_t)(colon - at) : strlen(at);
    if (strlen(name) != n || strncmp(name, at, n) != 0)
        return;
    long want = colon ? atol(colon + 1) : 1;
    if (atomic_fetch_add(&passes, 1) + 1 == want) {
        /* EOC_CRASH_SIGNAL=STOP freezes the process there instead (a
         * zombie in mid-step, resumed by SIGCONT from outside). */
        const char *sig = getenv("EOC_CRASH_SIGNAL");
        int stop = sig && strcmp(sig, "STOP") == 0;
        fprintf(stderr, "eoc: crash point %s reached (pass %ld): %s\n", name, want,
                stop ? "SIGSTOP" : "SIGKILL");
        kill(getpid(), stop ? SIGSTOP : SIGKILL);
    }
}
#else
typedef int eoc__crash_points_disabled; /* ISO C: no empty translation unit */
#endif
