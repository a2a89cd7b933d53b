/*
 * util - small helpers every module of the library shares: the error-text
 * formatter, the printf-format attribute, COUNTOF and the clocks.
 *
 * Thread rules: all of it is callable from any thread.
 */
#ifndef EOC_UTIL_H
#define EOC_UTIL_H

#include "eoc/eoc.h"

#include <stddef.h>
#include <stdint.h>

/** Marks a printf-like function: argument `fmt` is the format, `args` the
 *  first variadic argument (0 for a va_list). */
#define EOC__PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))

/** The number of elements of an array (not a pointer). */
#define COUNTOF(a) (sizeof(a) / sizeof((a)[0]))

/**
 * Writes the formatted message into errstr (errstr may be NULL or size 0:
 * nothing is written) and returns `err`, so a failing function can end with
 * `return eoc__errf(errstr, size, EOC_ERR_CONFIG, "...", ...)`.
 */
eoc_err_t eoc__errf(char *errstr, size_t errstr_size, eoc_err_t err, const char *fmt, ...)
    EOC__PRINTF(4, 5);

/**
 * Room for one more element in array `v` (capacity *cap, n elements of
 * `size` bytes): `v` itself while n < *cap, else a copy twice as large
 * (`first` elements the first time) with *cap updated. NULL when out of
 * memory (then `v` and *cap are unchanged).
 */
void *eoc__grow(void *v, size_t *cap, size_t n, size_t size, size_t first);

/** Wall-clock milliseconds: for times that are stored or shown. */
int64_t eoc__now_ms(void);
/** Monotonic milliseconds: for intervals, ages and deadlines, which a step
 *  of the wall clock must not stretch or cut. */
int64_t eoc__mono_ms(void);
/** Monotonic seconds with nanosecond resolution: for short durations. */
double eoc__mono_s(void);
/** Sleeps `ms` milliseconds (through signals). */
void eoc__sleep_ms(int64_t ms);

#endif /* EOC_UTIL_H */
