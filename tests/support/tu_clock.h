/*
 * tu_clock - the tests' clocks, header-only so that every test and support
 * file can use them without linking testutil.c (which needs cmocka):
 * testutil.h includes it.
 */
#ifndef EOC_TEST_TU_CLOCK_H
#define EOC_TEST_TU_CLOCK_H

#include <errno.h>
#include <stdint.h>
#include <time.h>

/** Monotonic milliseconds. */
static inline int64_t tu_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/** Sleeps `ms` milliseconds (through signals). */
static inline void tu_sleep_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

#endif
