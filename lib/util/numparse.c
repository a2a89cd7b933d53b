/* numparse.c - see numparse.h. */
#include "numparse.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

/* Reads [-]digits from *p, advancing it; 0, EINVAL or ERANGE (outside int64). */
static int digits(const char **p, int allow_sign, int64_t *out)
{
    const char *s = *p;
    int neg = allow_sign && *s == '-';
    uint64_t v = 0, limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    int range = 0;

    s += neg;
    if (*s < '0' || *s > '9')
        return EINVAL;
    for (; *s >= '0' && *s <= '9'; s++) {
        unsigned d = (unsigned)(*s - '0');
        if (v > (limit - d) / 10)
            range = 1;
        else
            v = v * 10 + d;
    }
    *p = s;
    if (range)
        return ERANGE;
    *out = neg ? (v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v) : (int64_t)v;
    return 0;
}

int eoc__num_i64(const char *s, int64_t min, int64_t max, int64_t *out)
{
    int64_t v;
    int rc;

    if (!s)
        return EINVAL;
    rc = digits(&s, 1, &v);
    if (rc == EINVAL || *s != '\0')
        return EINVAL;
    if (rc == ERANGE || v < min || v > max)
        return ERANGE;
    *out = v;
    return 0;
}

int eoc__num_duration_ms(const char *s, int64_t max_ms, int64_t *out)
{
    int64_t total = 0;
    int range = 0;

    if (!s || !*s)
        return EINVAL;
    while (*s) {
        int64_t n, unit;
        int rc = digits(&s, 0, &n);
        if (rc == EINVAL)
            return EINVAL;
        if (s[0] == 'm' && s[1] == 's')
            unit = 1, s += 2;
        else if (*s == 's')
            unit = 1000, s++;
        else if (*s == 'm')
            unit = 60000, s++;
        else if (*s == 'h')
            unit = 3600000, s++;
        else if (*s == 'd')
            unit = 86400000, s++;
        else
            return EINVAL;
        if (rc == ERANGE || n > (INT64_MAX - total) / unit)
            range = 1;
        else
            total += n * unit;
    }
    if (range || total > max_ms)
        return ERANGE;
    *out = total;
    return 0;
}

int eoc__num_flag_i64(const char *prog, const char *flag, const char *value, int64_t min,
                      int64_t max, int64_t *out)
{
    int rc = eoc__num_i64(value, min, max, out);

    if (rc == EINVAL)
        fprintf(stderr, "%s: %s: '%s' is not a decimal integer\n", prog, flag,
                value ? value : "");
    else if (rc == ERANGE)
        fprintf(stderr, "%s: %s: %s is outside %" PRId64 "..%" PRId64 "\n", prog, flag, value,
                min, max);
    return rc ? -1 : 0;
}

int eoc__num_flag_duration_ms(const char *prog, const char *flag, const char *value,
                              int64_t max_ms, int64_t *out)
{
    int rc = eoc__num_duration_ms(value, max_ms, out);

    if (rc == EINVAL)
        fprintf(stderr, "%s: %s: '%s' is not a duration (e.g. 500ms, 90s, 15m, 1h30m, 2d)\n",
                prog, flag, value ? value : "");
    else if (rc == ERANGE)
        fprintf(stderr, "%s: %s: %s is longer than %" PRId64 " ms\n", prog, flag, value, max_ms);
    return rc ? -1 : 0;
}
