/*
 * numparse - the one strict number parser of every command line (the
 * consumers' cli, `eoc` and its subcommands). A number is its whole text:
 * an optional '-', then decimal digits, nothing else (no spaces, no '+',
 * no hex or octal prefixes, no trailing text), within the range the caller
 * gives. Durations are one or more <digits><unit> (ms, s, m, h, d).
 *
 * The _flag variants print "<prog>: <flag>: <why>" to stderr on failure and
 * return -1; the caller exits 2 (a usage error).
 */
#ifndef EOC_NUMPARSE_H
#define EOC_NUMPARSE_H

#include <stdint.h>

/** 0, EINVAL (not a decimal integer) or ERANGE (outside [min, max]). */
int eoc__num_i64(const char *s, int64_t min, int64_t max, int64_t *out);

/** Duration in milliseconds, at most max_ms: 0, EINVAL or ERANGE. */
int eoc__num_duration_ms(const char *s, int64_t max_ms, int64_t *out);

/** eoc__num_i64 for the value of `flag`; -1 after printing the reason. */
int eoc__num_flag_i64(const char *prog, const char *flag, const char *value, int64_t min,
                      int64_t max, int64_t *out);

/** eoc__num_duration_ms for the value of `flag`; -1 after printing the reason. */
int eoc__num_flag_duration_ms(const char *prog, const char *flag, const char *value,
                              int64_t max_ms, int64_t *out);

#endif
