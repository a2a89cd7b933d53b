/* kafka_util.c - see kafka_util.h. */
#include "kafka_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TIMEOUT_MS 10000

static int64_t deadline_ms; /* tool_kafka_deadline; 0: none */

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void tool_kafka_deadline(int64_t ms_from_now)
{
    deadline_ms = ms_from_now > 0 ? mono_ms() + ms_from_now : 0;
}

int tool_kafka_timeout(int ms)
{
    if (!deadline_ms)
        return ms;
    int64_t left = deadline_ms - mono_ms();
    return left <= 0 ? 1 : left < ms ? (int)left : ms;
}

int tool_kafka_expired(void)
{
    return deadline_ms && mono_ms() >= deadline_ms;
}

/* Edit distance of two short strings. */
static size_t distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), row[256];
    if (la > 250 || lb > 250)
        return (size_t)-1;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j], best = diag + (a[i - 1] != b[j - 1]);
            if (up + 1 < best)
                best = up + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

const char *tool_suggest(const char *word, const char *const *candidates, size_t n)
{
    const char *best = NULL;
    size_t bd = 3; /* at most two edits away */
    for (size_t i = 0; i < n; i++) {
        size_t d = distance(word, candidates[i]);
        if (d < bd) {
            bd = d;
            best = candidates[i];
        }
    }
    return best;
}

static rd_kafka_t *consumer_new(const char *brokers, const char *group, const char *assignor)
{
    char err[512];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    if (rd_kafka_conf_set(c, "bootstrap.servers", brokers, err, sizeof(err)) ||
        rd_kafka_conf_set(c, "enable.auto.commit", "false", err, sizeof(err)) ||
        rd_kafka_conf_set(c, "enable.partition.eof", "true", err, sizeof(err)) ||
        /* A tool never creates a topic, not even by asking about it. */
        rd_kafka_conf_set(c, "allow.auto.create.topics", "false", err, sizeof(err)) ||
        /* When a tool must join (eoc replay on a broker that refuses
         * commits from outside the group), a short session lets the
         * workers' next join go through quickly even if the broker keeps
         * departed members until their session expires. */
        rd_kafka_conf_set(c, "session.timeout.ms", "6000", err, sizeof(err)) ||
        (assignor && rd_kafka_conf_set(c, "partition.assignment.strategy", assignor, err,
                                       sizeof(err))) ||
        /* librdkafka's consumer API wants a group even for assign(); a
         * reader never joins it and commits nothing. */
        rd_kafka_conf_set(c, "group.id", group ? group : "eoc-tool-reader", err, sizeof(err))) {
        fprintf(stderr, "eoc: %s\n", err);
        rd_kafka_conf_destroy(c);
        return NULL;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, c, err, sizeof(err));
    if (!rk) {
        fprintf(stderr, "eoc: cannot create a Kafka client: %s\n", err);
        rd_kafka_conf_destroy(c);
    }
    return rk;
}

rd_kafka_t *tool_kafka_consumer(const char *brokers, const char *group)
{
    return consumer_new(brokers, group, NULL);
}

rd_kafka_t *tool_kafka_group_member(const char *brokers, const char *group)
{
    /* The workers' assignor: a member with another one cannot join their
     * group (librdkafka's mock cluster, eoc-kafka-dev, even asserts in
     * rd_kafka_mock_cgrp_elect_leader and goes down). */
    return consumer_new(brokers, group, "cooperative-sticky");
}

int tool_kafka_partitions(rd_kafka_t *rk, const char *topic)
{
    /* Every topic's metadata, so that a broker that creates topics it is
     * asked about (without KIP-464, e.g. the development Kafka) is not
     * asked about this one before it is known to exist. */
    const struct rd_kafka_metadata *md;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 1, NULL, &md, tool_kafka_timeout(TIMEOUT_MS));
    if (e) {
        fprintf(stderr, "eoc: metadata for %s: %s\n", topic, rd_kafka_err2str(e));
        return -1;
    }
    int n = -1;
    const char **names = calloc((size_t)md->topic_cnt + 1, sizeof(*names));
    for (int i = 0; i < md->topic_cnt; i++) {
        if (names)
            names[i] = md->topics[i].topic;
        if (strcmp(md->topics[i].topic, topic) != 0)
            continue;
        if (md->topics[i].err)
            fprintf(stderr, "eoc: topic %s: %s\n", topic, rd_kafka_err2str(md->topics[i].err));
        else
            n = md->topics[i].partition_cnt;
    }
    if (n < 0 && names) {
        const char *near = tool_suggest(topic, names, (size_t)md->topic_cnt);
        fprintf(stderr, "eoc: topic \"%s\" does not exist%s%s%s\n", topic,
                near ? " (did you mean \"" : "", near ? near : "", near ? "\"?)" : "");
    }
    free(names);
    rd_kafka_metadata_destroy(md);
    return n;
}

int tool_kafka_read_all(rd_kafka_t *rk, const char *topic,
                        int (*cb)(void *opaque, const rd_kafka_message_t *m), void *opaque)
{
    int n = tool_kafka_partitions(rk, topic);
    if (n < 0)
        return -1;
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(n);
    int pending = 0;
    for (int p = 0; p < n; p++) {
        int64_t lo, hi;
        rd_kafka_resp_err_t e =
            rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, tool_kafka_timeout(TIMEOUT_MS));
        if (e) {
            fprintf(stderr, "eoc: watermarks of %s[%d]: %s\n", topic, p, rd_kafka_err2str(e));
            rd_kafka_topic_partition_list_destroy(l);
            return -1;
        }
        if (hi > lo) {
            rd_kafka_topic_partition_list_add(l, topic, p)->offset = lo;
            pending++;
        }
    }
    rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    int rc = 0, stop = 0;
    while (pending > 0 && !stop) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, TIMEOUT_MS);
        if (!m) {
            fprintf(stderr, "eoc: %s: no data for %d s\n", topic, TIMEOUT_MS / 1000);
            rc = -1;
            break;
        }
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
            pending--;
        else if (m->err)
            fprintf(stderr, "eoc: %s: %s\n", topic, rd_kafka_message_errstr(m));
        else
            stop = cb(opaque, m);
        rd_kafka_message_destroy(m);
    }
    rd_kafka_assign(rk, NULL);
    return rc;
}

const char *tool_kafka_header(const rd_kafka_message_t *m, const char *name, char *buf, size_t size)
{
    rd_kafka_headers_t *hs;
    const void *v;
    size_t n = 0;
    buf[0] = 0;
    if (rd_kafka_message_headers(m, &hs) || rd_kafka_header_get_last(hs, name, &v, &n) || !v)
        return buf;
    if (n >= size)
        n = size - 1;
    memcpy(buf, v, n);
    buf[n] = 0;
    return buf;
}
