/*
 * watch.c - `eoc watch`: follow a worker (or a replay) catching up.
 *
 *   eoc watch DIR --brokers B [--interval-ms N] [--until-caught-up] [--timeout-ms N]
 *
 * Every interval it prints, per stored partition: the store's next offset,
 * the partition's high watermark, the lag between them and the rate at
 * which the store's offset moved since the last print; then the total lag
 * and the outbox backlog. On a terminal the table is redrawn in place.
 * With --until-caught-up it exits 0 as soon as every lag is 0 and the
 * outbox is empty (1 when --timeout-ms passes first): a wait for scripts.
 * The store is opened read-only; safe while workers run.
 */
#include "kafka_util.h"
#include "numparse.h"
#include "tool.h"

#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_PARTS 4096

struct part {
    char topic[256];
    int32_t partition;
    int64_t offset, prev;
};

struct snapshot {
    struct part v[MAX_PARTS];
    int n;
};

static volatile sig_atomic_t stop_requested; /* set by SIGINT/SIGTERM only */

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static int collect(void *opaque, const eoc_position_t *pos)
{
    struct snapshot *s = opaque;
    for (int i = 0; i < s->n; i++) {
        struct part *p = &s->v[i];
        if (p->partition == pos->partition && strcmp(p->topic, pos->topic) == 0) {
            p->offset = pos->next_offset;
            return 0;
        }
    }
    if (s->n == MAX_PARTS)
        return 1;
    struct part *p = &s->v[s->n++];
    snprintf(p->topic, sizeof(p->topic), "%s", pos->topic);
    p->partition = pos->partition;
    p->offset = p->prev = pos->next_offset;
    return 0;
}

/* Prints one table; returns 1 when caught up (no lag, empty outbox). */
static int print_table(rd_kafka_t *rk, struct snapshot *s, const eoc_store_info_t *info,
                       double secs, int redraw)
{
    if (redraw)
        fputs("\033[H\033[J", stdout);
    printf("%-32s %5s %12s %12s %10s %10s\n", "topic", "part", "stored", "high", "lag", "rec/s");
    int64_t total = 0;
    int known = 1;
    for (int i = 0; i < s->n; i++) {
        struct part *p = &s->v[i];
        int64_t lo, hi;
        int ok = !tool_kafka_expired() &&
                 !rd_kafka_query_watermark_offsets(rk, p->topic, p->partition, &lo, &hi,
                                                   tool_kafka_timeout(5000));
        int64_t lag = ok ? (hi > p->offset ? hi - p->offset : 0) : -1;
        known &= ok;
        if (ok)
            total += lag;
        printf("%-32s %5d %12" PRId64 " %12" PRId64 " %10" PRId64 " %10.0f\n", p->topic,
               p->partition, p->offset, ok ? hi : -1, lag,
               secs > 0 ? (double)(p->offset - p->prev) / secs : 0.0);
        p->prev = p->offset;
    }
    printf("total lag %" PRId64 "%s, outbox backlog %" PRIu64 "\n", total,
           known ? "" : " (some partitions unknown)", info->outbox_rows);
    fflush(stdout);
    return known && total == 0 && info->outbox_rows == 0;
}

int cmd_watch(int argc, char **argv)
{
    const char *dir = NULL, *brokers = NULL;
    long interval = TOOL_WATCH_INTERVAL_MS, timeout = TOOL_WATCH_TIMEOUT_MS;
    int64_t v;
    int until = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--until-caught-up") == 0)
            until = 1;
        else if (strcmp(argv[i], "--brokers") == 0 && i + 1 < argc)
            brokers = argv[++i];
        else if (strcmp(argv[i], "--interval-ms") == 0 && i + 1 < argc) {
            if (eoc__num_flag_i64("eoc watch", argv[i], argv[i + 1], 1, 86400000, &v))
                return TOOL_EXIT_USAGE;
            interval = (long)v, i++;
        } else if (strcmp(argv[i], "--timeout-ms") == 0 && i + 1 < argc) {
            if (eoc__num_flag_i64("eoc watch", argv[i], argv[i + 1], 0, INT32_MAX, &v))
                return TOOL_EXIT_USAGE;
            timeout = (long)v, i++;
        }
        else if (argv[i][0] != '-' && !dir)
            dir = argv[i];
        else
            return tool_usage("watch");
    }
    if (!dir || !brokers || interval <= 0)
        return tool_usage("watch");
    rd_kafka_t *rk = tool_kafka_consumer(brokers, NULL);
    if (!rk)
        return TOOL_EXIT_FAIL;
    /* --timeout-ms bounds the whole wait, Kafka's answers included. */
    tool_kafka_deadline(timeout);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    struct snapshot *snap = calloc(1, sizeof(*snap));
    int redraw = isatty(STDOUT_FILENO), rc = TOOL_EXIT_FAIL;
    int64_t start = tool_now_ms(), last = start;
    while (snap && !stop_requested) {
        eoc_store_t *s = tool_store_open(dir);
        eoc_store_info_t info;
        if (!s)
            break;
        eoc_err_t err = eoc_store_offsets_foreach(s, collect, snap);
        if (!err)
            err = eoc_store_info(s, &info);
        eoc_store_close(s);
        if (err) {
            fprintf(stderr, "eoc watch: %s: %s\n", dir, eoc_strerror(err));
            break;
        }
        int64_t now = tool_now_ms();
        int done = print_table(rk, snap, &info, (double)(now - last) / 1000.0, redraw);
        last = now;
        if (until && done && snap->n > 0) {
            rc = TOOL_EXIT_OK;
            break;
        }
        if (timeout && tool_now_ms() - start >= timeout) {
            fprintf(stderr, "eoc watch: not caught up after %ld ms\n", timeout);
            break;
        }
        long nap = interval;
        if (timeout && timeout - (tool_now_ms() - start) < nap)
            nap = timeout - (tool_now_ms() - start);
        if (nap > 0)
            usleep((useconds_t)nap * 1000);
    }
    if (stop_requested)
        rc = TOOL_EXIT_OK;
    free(snap);
    rd_kafka_destroy(rk);
    return rc;
}
