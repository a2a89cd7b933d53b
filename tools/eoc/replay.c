/*
 * replay.c - `eoc replay`: rewind a worker group safely.
 *
 *   eoc replay DIR --brokers B --group G --topic T [--partition P]
 *              (--to-beginning | --to-offset N | --to-time ISO-8601 | --by-duration 1h30m)
 *              [--execute | --dry-run] [--wait DURATION]
 *
 * For each partition it computes the target offset (the low watermark, N,
 * or the first offset at/after the time via rd_kafka_offsets_for_times),
 * prints from where to where and how many records will be re-read; that
 * plan is all it does unless --execute is given (like kafka-consumer-groups
 * --reset-offsets; --dry-run names the default). With --execute it moves
 * BOTH positions back: first the group's committed
 * offsets in Kafka, then the store's (so Kafka's is never ahead of the
 * store's, even if the second step fails). It holds the store's worker lock
 * throughout, so it refuses while a worker runs on this store, and it
 * refuses while the group has live members anywhere (asked with
 * DescribeConsumerGroups; where the broker cannot answer, by joining with
 * the workers' assignor and committing only when it holds every
 * partition of the topic). --wait gives members that stopped without a
 * clean leave (killed, or cut off from the coordinator) up to DURATION to
 * expire (they stay until their session.timeout.ms). Only backwards: a target
 * ahead of the current position is left alone (it would skip records).
 * After a replay the worker re-reads those records and counts every one it
 * already applied as a duplicate: nothing is applied twice.
 */
#include "kafka_util.h"
#include "numparse.h"
#include "tool.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TIMEOUT_MS 10000

enum target_kind { TO_NONE, TO_BEGINNING, TO_OFFSET, TO_TIME };

struct replay_args {
    const char *dir, *brokers, *group, *topic;
    int32_t partition; /* -1: all */
    enum target_kind kind;
    int64_t value; /* offset, or time in ms */
    int dry_run; /* the default; --execute clears it */
    int execute, dry_flag;
    int64_t wait_ms; /* --wait: how long live members may take to go; 0 refuses at once */
};

/* Parses YYYY-MM-DDTHH:MM:SS[.fff](Z|+HH:MM|-HH:MM) into ms since the
 * epoch; -1 when bad. */
static int64_t parse_time(const char *s)
{
    struct tm tm = {0};
    const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!p)
        return -1;
    int64_t ms = 0;
    if (*p == '.') {
        int digits = 0;
        for (p++; isdigit((unsigned char)*p); p++, digits++)
            if (digits < 3)
                ms = ms * 10 + (*p - '0');
        for (; digits < 3; digits++)
            ms *= 10;
    }
    int64_t offset_s = 0;
    if (*p == 'Z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int hh, mm;
        if (sscanf(p + 1, "%2d:%2d", &hh, &mm) != 2)
            return -1;
        offset_s = (hh * 3600 + mm * 60) * (*p == '+' ? 1 : -1);
        p += 6;
    } else {
        return -1; /* a time without a zone is ambiguous */
    }
    if (*p)
        return -1;
    return ((int64_t)timegm(&tm) - offset_s) * 1000 + ms;
}

/* Records which flag chose the target; a second one is a usage error. */
static int target_set(struct replay_args *a, const char **chosen_by, const char *flag,
                      enum target_kind kind)
{
    if (*chosen_by) {
        fprintf(stderr, "eoc replay: %s and %s both choose the target; give one of them\n",
                *chosen_by, flag);
        return -1;
    }
    *chosen_by = flag;
    a->kind = kind;
    return 0;
}

/* Every number goes through the one strict parser (lib/util/numparse):
 * a bad value names its flag and is a usage error (exit 2). */
static int parse_args(int argc, char **argv, struct replay_args *a)
{
    const char *chosen_by = NULL;
    int64_t v;

    memset(a, 0, sizeof(*a));
    a->partition = -1;
    a->dry_run = 1;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(o, "--dry-run") == 0) {
            a->dry_flag = 1;
        } else if (strcmp(o, "--execute") == 0) {
            a->execute = 1;
        } else if (strcmp(o, "--to-beginning") == 0) {
            if (target_set(a, &chosen_by, o, TO_BEGINNING))
                return -1;
        } else if (!val && o[0] == '-') {
            fprintf(stderr, "eoc replay: %s needs a value\n", o);
            return -1;
        } else if (strcmp(o, "--brokers") == 0) {
            a->brokers = argv[++i];
        } else if (strcmp(o, "--group") == 0) {
            a->group = argv[++i];
        } else if (strcmp(o, "--topic") == 0) {
            a->topic = argv[++i];
        } else if (strcmp(o, "--partition") == 0) {
            if (eoc__num_flag_i64("eoc replay", o, argv[++i], 0, INT32_MAX, &v))
                return -1;
            a->partition = (int32_t)v;
        } else if (strcmp(o, "--to-offset") == 0) {
            if (target_set(a, &chosen_by, o, TO_OFFSET) ||
                eoc__num_flag_i64("eoc replay", o, argv[++i], 0, INT64_MAX, &a->value))
                return -1;
        } else if (strcmp(o, "--to-time") == 0) {
            if (target_set(a, &chosen_by, o, TO_TIME))
                return -1;
            if ((a->value = parse_time(argv[++i])) < 0) {
                fprintf(stderr, "eoc replay: --to-time wants ISO-8601 with a zone, e.g. "
                                "2026-11-29T08:00:00Z\n");
                return -1;
            }
        } else if (strcmp(o, "--wait") == 0) {
            if (eoc__num_flag_duration_ms("eoc replay", o, argv[++i], 24 * 3600 * 1000LL,
                                          &a->wait_ms))
                return -1;
        } else if (strcmp(o, "--by-duration") == 0) {
            int64_t now = tool_now_ms();
            if (target_set(a, &chosen_by, o, TO_TIME) ||
                eoc__num_flag_duration_ms("eoc replay", o, argv[++i], now, &v))
                return -1;
            a->value = now - v;
        } else if (o[0] != '-' && !a->dir) {
            a->dir = o;
        } else {
            fprintf(stderr, "eoc replay: unexpected argument '%s'\n", o);
            return -1;
        }
    }
    if (a->execute && a->dry_flag) {
        fprintf(stderr, "eoc replay: --execute and --dry-run contradict each other\n");
        return -1;
    }
    a->dry_run = !a->execute;
    if (!a->dir || !a->brokers || !a->group || !a->topic || a->kind == TO_NONE)
        return -1;
    return 0;
}

/* The first offset in [from, hi) whose record's timestamp is >= ts (hi if
 * none), by reading the partition; -1 on a read error. */
static int64_t first_at_or_after(rd_kafka_t *rk, const char *topic, int32_t partition, int64_t from,
                                 int64_t hi, int64_t ts)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(l, topic, partition)->offset = from;
    rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    int64_t found = -1, next = from;
    while (found < 0 && next < hi) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, TIMEOUT_MS);
        if (!m)
            break;
        if (!m->err && m->partition == partition) {
            next = m->offset + 1;
            if (rd_kafka_message_timestamp(m, NULL) >= ts)
                found = m->offset;
        } else if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            next = hi;
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_assign(rk, NULL);
    if (found < 0 && next < hi)
        return -1;
    return found < 0 ? hi : found;
}

/* The broker's answer to a time query, checked against the record before
 * it; a broker that ignores timestamps (librdkafka's mock cluster answers
 * the end) is caught, and the partition is read instead. */
static int64_t offset_for_time(rd_kafka_t *rk, const char *topic, int32_t partition, int64_t answer,
                               int64_t lo, int64_t hi, int64_t ts)
{
    int64_t off = answer < 0 ? hi : answer;
    if (off > lo && first_at_or_after(rk, topic, partition, off - 1, off, ts) == off - 1) {
        fprintf(stderr,
                "eoc replay: %s[%d]: the broker's time index disagrees with the "
                "records; reading the partition instead\n",
                topic, partition);
        off = first_at_or_after(rk, topic, partition, lo, hi, ts);
    }
    return off;
}

struct pos_ctx {
    const char *topic;
    rd_kafka_topic_partition_list_t *stored; /* offsets from the store */
};

static int collect_pos(void *opaque, const eoc_position_t *pos)
{
    struct pos_ctx *c = opaque;
    if (strcmp(pos->topic, c->topic) == 0)
        rd_kafka_topic_partition_list_add(c->stored, pos->topic, pos->partition)->offset =
            pos->next_offset;
    return 0;
}

/* One partition's plan: where it is and where it goes. */
struct plan {
    int32_t partition;
    int64_t current; /* store's offset, else Kafka committed, else -1 */
    int64_t target;
    int in_store;
};

static int make_plans(rd_kafka_t *rk, const struct replay_args *a, struct plan *plans, int n)
{
    char err[512];
    eoc_store_t *s = tool_store_open(a->dir);
    if (!s)
        return -1;
    struct pos_ctx pc = {a->topic, rd_kafka_topic_partition_list_new(n)};
    eoc_store_offsets_foreach(s, collect_pos, &pc);
    eoc_store_close(s);

    rd_kafka_topic_partition_list_t *committed = rd_kafka_topic_partition_list_new(n);
    rd_kafka_topic_partition_list_t *times = rd_kafka_topic_partition_list_new(n);
    for (int i = 0; i < n; i++) {
        rd_kafka_topic_partition_list_add(committed, a->topic, plans[i].partition);
        rd_kafka_topic_partition_list_add(times, a->topic, plans[i].partition)->offset = a->value;
    }
    rd_kafka_resp_err_t e = rd_kafka_committed(rk, committed, TIMEOUT_MS);
    if (!e && a->kind == TO_TIME)
        e = rd_kafka_offsets_for_times(rk, times, TIMEOUT_MS);
    int rc = 0;
    for (int i = 0; i < n && !e; i++) {
        struct plan *p = &plans[i];
        int64_t lo, hi;
        if ((e = rd_kafka_query_watermark_offsets(rk, a->topic, p->partition, &lo, &hi,
                                                  TIMEOUT_MS)))
            break;
        rd_kafka_topic_partition_t *st =
            rd_kafka_topic_partition_list_find(pc.stored, a->topic, p->partition);
        p->in_store = st != NULL;
        p->current = st                                ? st->offset
                     : committed->elems[i].offset >= 0 ? committed->elems[i].offset
                                                       : -1;
        switch (a->kind) {
        case TO_BEGINNING:
            p->target = lo;
            break;
        case TO_OFFSET:
            p->target = a->value < lo ? lo : a->value > hi ? hi : a->value;
            break;
        default:
            p->target = offset_for_time(rk, a->topic, p->partition, times->elems[i].offset, lo, hi,
                                        a->value);
            if (p->target < 0)
                e = RD_KAFKA_RESP_ERR__TIMED_OUT;
            break;
        }
    }
    if (e) {
        snprintf(err, sizeof(err), "%s", rd_kafka_err2str(e));
        fprintf(stderr, "eoc replay: %s: %s\n", a->topic, err);
        rc = -1;
    }
    rd_kafka_topic_partition_list_destroy(pc.stored);
    rd_kafka_topic_partition_list_destroy(committed);
    rd_kafka_topic_partition_list_destroy(times);
    return rc;
}

/*
 * Asks the broker about the group (DescribeConsumerGroups) through `rk`.
 * Returns 1 when it has members (the reason printed when `say`), 0 when it
 * has none, -1 when the broker cannot tell (librdkafka's mock cluster,
 * hence eoc-kafka-dev, does not implement the request): commit_as_member
 * then finds out by joining.
 */
static int group_has_members(rd_kafka_t *rk, const char *group, int say)
{
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    const char *groups[] = {group};
    int rc = -1;

    rd_kafka_DescribeConsumerGroups(rk, groups, 1, NULL, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, TIMEOUT_MS);
    const rd_kafka_DescribeConsumerGroups_result_t *res =
        ev ? rd_kafka_event_DescribeConsumerGroups_result(ev) : NULL;
    size_t n = 0;
    const rd_kafka_ConsumerGroupDescription_t **gs =
        res && !rd_kafka_event_error(ev) ? rd_kafka_DescribeConsumerGroups_result_groups(res, &n)
                                         : NULL;
    if (gs && n == 1 && !rd_kafka_ConsumerGroupDescription_error(gs[0])) {
        size_t members = rd_kafka_ConsumerGroupDescription_member_count(gs[0]);
        rd_kafka_consumer_group_state_t st = rd_kafka_ConsumerGroupDescription_state(gs[0]);
        rc = members > 0 || (st != RD_KAFKA_CONSUMER_GROUP_STATE_EMPTY &&
                             st != RD_KAFKA_CONSUMER_GROUP_STATE_DEAD);
        if (rc && say)
            fprintf(stderr,
                    "eoc replay: group %s has %zu live member(s) (state %s): stop every worker "
                    "of the group first; nothing was changed\n",
                    group, members, rd_kafka_consumer_group_state_name(st));
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    return rc;
}

/*
 * 1 when the group still has live members after a->wait_ms (the reason
 * printed), else 0 (-1 from group_has_members counts as 0: the join in
 * commit_as_member decides). A member that stopped without a clean leave
 * stays until its session times out; --wait lets it go instead of
 * refusing. One client asks every second.
 */
static int group_is_busy(const struct replay_args *a)
{
    /* A client of its own: on the consumer, the request left a later
     * commit from outside the group waiting forever (librdkafka 2.0.2). */
    char err[512];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    rd_kafka_t *rk = NULL;
    if (rd_kafka_conf_set(c, "bootstrap.servers", a->brokers, err, sizeof(err)) == 0)
        rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof(err));
    if (!rk) {
        rd_kafka_conf_destroy(c);
        return 0;
    }
    int64_t deadline = tool_now_ms() + a->wait_ms;
    int rc;
    for (int tries = 0;; tries++) {
        int last = tool_now_ms() >= deadline;
        rc = group_has_members(rk, a->group, last);
        if (rc != 1 || last)
            break;
        if (!tries)
            fprintf(stderr, "eoc replay: group %s has live members; waiting up to %" PRId64
                            " s for them to leave\n",
                    a->group, (a->wait_ms + 999) / 1000);
        struct timespec ts = {1, 0};
        nanosleep(&ts, NULL);
    }
    /* After a broker that does not support the request, librdkafka 2.0.2
     * never finishes destroying the client (rd_kafka_destroy waits on a
     * thread forever): the tool exits soon, so that client is left behind. */
    if (rc != -1)
        rd_kafka_destroy(rk);
    return rc == 1;
}

/*
 * Commits `l` for the group as a member, for brokers that refuse commits
 * from outside the group (librdkafka's mock cluster does), and that cannot
 * say whether the group has members: joins with the workers' assignor
 * (cooperative-sticky; another one brings the mock cluster down), and
 * commits only once it holds every one of the topic's `nparts` partitions,
 * i.e. no other member is alive. When others still hold some after 60 s,
 * it leaves without committing. Returns the error, or
 * RD_KAFKA_RESP_ERR__STATE after printing that members are alive.
 */
static rd_kafka_resp_err_t commit_as_member(const struct replay_args *a, int nparts,
                                            rd_kafka_topic_partition_list_t *l)
{
    if (nparts <= 0)
        return RD_KAFKA_RESP_ERR__FAIL; /* tool_kafka_partitions said why */
    rd_kafka_t *rk = tool_kafka_group_member(a->brokers, a->group);
    if (!rk)
        return RD_KAFKA_RESP_ERR__FAIL;
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, a->topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(rk, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    int64_t deadline = tool_now_ms() + 60000;
    int held = 0;
    while (!e && tool_now_ms() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (m)
            rd_kafka_message_destroy(m);
        rd_kafka_topic_partition_list_t *mine = NULL;
        held = 0;
        if (!rd_kafka_assignment(rk, &mine))
            for (int i = 0; i < mine->cnt; i++)
                held += strcmp(mine->elems[i].topic, a->topic) == 0;
        if (mine)
            rd_kafka_topic_partition_list_destroy(mine);
        if (held >= nparts)
            break;
    }
    if (!e && held < nparts) {
        fprintf(stderr,
                "eoc replay: other members of group %s still hold %d of the %d partitions of %s "
                "after 60 s: stop every worker of the group first; nothing was changed\n",
                a->group, nparts - held, nparts, a->topic);
        e = RD_KAFKA_RESP_ERR__STATE;
    }
    if (!e)
        e = rd_kafka_commit(rk, l, 0);
    rd_kafka_consumer_close(rk);
    /* A member that never got its assignment has no assignor state, and
     * librdkafka 2.0.2's cooperative-sticky assignor asserts on that when
     * the client is destroyed (rd_kafka_sticky_assignor_state_destroy).
     * The group was left above and the tool exits right after a refusal:
     * that client is left behind. */
    if (e != RD_KAFKA_RESP_ERR__STATE)
        rd_kafka_destroy(rk);
    return e;
}

/* Kafka first (never ahead of the store), then the store. */
static int apply_plans(rd_kafka_t *rk, const struct replay_args *a, const struct plan *plans, int n)
{
    char err[512];
    eoc_store_admin_t *adm = eoc_store_admin_open(a->dir, err, sizeof(err));
    if (!adm) {
        fprintf(stderr, "eoc replay: %s\n", err);
        return -1;
    }
    /* Never while the group has members: they would commit over the rewind
     * (and a join beside them could take partitions away mid-batch). */
    if (group_is_busy(a)) {
        eoc_store_admin_close(adm);
        return -1;
    }
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(n);
    for (int i = 0; i < n; i++)
        if (plans[i].current < 0 || plans[i].target < plans[i].current)
            rd_kafka_topic_partition_list_add(l, a->topic, plans[i].partition)->offset =
                plans[i].target;
    int rc = 0;
    rd_kafka_resp_err_t e = l->cnt ? rd_kafka_commit(rk, l, 0) : RD_KAFKA_RESP_ERR_NO_ERROR;
    if (e == RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID || e == RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION)
        e = commit_as_member(a, tool_kafka_partitions(rk, a->topic), l);
    if (e == RD_KAFKA_RESP_ERR__STATE) {
        rc = -1; /* live members, said */
    } else if (e) {
        fprintf(stderr,
                "eoc replay: committing the group's offsets failed: %s (is a member of group %s "
                "still running elsewhere?)\n",
                rd_kafka_err2str(e), a->group);
        rc = -1;
    }
    for (int i = 0; i < n && !rc; i++) {
        const struct plan *p = &plans[i];
        if (!p->in_store || p->target >= p->current)
            continue;
        if (eoc_store_admin_rewind(adm, a->topic, p->partition, p->target, err, sizeof(err))) {
            fprintf(stderr, "eoc replay: %s\n", err);
            rc = -1;
        }
    }
    rd_kafka_topic_partition_list_destroy(l);
    eoc_store_admin_close(adm);
    return rc;
}

int cmd_replay(int argc, char **argv)
{
    struct replay_args a;
    if (parse_args(argc, argv, &a) != 0)
        return tool_usage("replay");
    rd_kafka_t *rk = tool_kafka_consumer(a.brokers, a.group);
    if (!rk)
        return TOOL_EXIT_FAIL;
    /* The topic must exist (a typo is an error, and is never created). */
    int n = tool_kafka_partitions(rk, a.topic);
    if (n > 0 && a.partition >= n) {
        fprintf(stderr, "eoc replay: %s has %d partition(s): no partition %d\n", a.topic, n,
                (int)a.partition);
        n = -1;
    } else if (n > 0 && a.partition >= 0) {
        n = 1;
    }
    int rc = TOOL_EXIT_FAIL;
    struct plan *plans = n > 0 ? calloc((size_t)n, sizeof(*plans)) : NULL;
    if (plans) {
        for (int i = 0; i < n; i++)
            plans[i].partition = a.partition >= 0 ? a.partition : i;
        if (make_plans(rk, &a, plans, n) == 0) {
            int64_t total = 0;
            for (int i = 0; i < n; i++) {
                const struct plan *p = &plans[i];
                int64_t reread = p->current > p->target ? p->current - p->target : 0;
                total += reread;
                printf(
                    "%s[%d]: %s %" PRId64 " -> %" PRId64 ": %" PRId64 " record(s) to re-read%s\n",
                    a.topic, p->partition, p->in_store ? "store" : "kafka", p->current, p->target,
                    reread,
                    p->current >= 0 && p->target > p->current ? " (target ahead: left alone)" : "");
            }
            printf("%s: %" PRId64 " record(s) to re-read in %d partition(s)%s\n", a.topic, total, n,
                   a.dry_run ? " (plan only, nothing changed: add --execute to apply it)" : "");
            rc = a.dry_run || apply_plans(rk, &a, plans, n) == 0 ? TOOL_EXIT_OK : TOOL_EXIT_FAIL;
        }
    }
    free(plans);
    rd_kafka_destroy(rk);
    return rc;
}
