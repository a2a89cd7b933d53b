/*
 * kafka_util.h - the Kafka side shared by `eoc replay` and `eoc dlq`:
 * a non-joining consumer handle (for watermarks, offsets for times,
 * group offset commits and reading a topic) and a topic's partition count.
 * Everything runs on the calling thread.
 */
#ifndef EOC_TOOL_KAFKA_UTIL_H
#define EOC_TOOL_KAFKA_UTIL_H

#include <librdkafka/rdkafka.h>
#include <stdint.h>

/*
 * A consumer for `brokers`, member of `group` (NULL: a private reader group) but never
 * joining it: used with assign(), committed() and commit(). NULL after
 * printing the reason to stderr. Destroy with rd_kafka_destroy.
 */
rd_kafka_t *tool_kafka_consumer(const char *brokers, const char *group);

/* tool_kafka_consumer for a client that joins a workers' group (subscribes):
 * with the workers' assignor, cooperative-sticky. */
rd_kafka_t *tool_kafka_group_member(const char *brokers, const char *group);

/*
 * A bound on the tool's Kafka calls: `ms` from now (0: none). Every call
 * made through these helpers then waits at most what is left of it.
 */
void tool_kafka_deadline(int64_t ms);
/* `ms`, or what is left of the deadline when that is less (at least 1). */
int tool_kafka_timeout(int ms);
/* Whether the deadline has passed. */
int tool_kafka_expired(void);

/* The candidate at most two edits from `word` (the nearest), or NULL. */
const char *tool_suggest(const char *word, const char *const *candidates, size_t n);

/* Partition count of `topic`, or -1 after printing the reason (a topic
 * that does not exist is named, with the nearest existing one). Never
 * creates the topic. */
int tool_kafka_partitions(rd_kafka_t *rk, const char *topic);

/*
 * Reads every partition of `topic` from its low to its high watermark
 * (taken at the start) and calls cb for each message; cb returns non-zero
 * to stop. Returns 0, or -1 after printing the reason.
 */
int tool_kafka_read_all(rd_kafka_t *rk, const char *topic,
                        int (*cb)(void *opaque, const rd_kafka_message_t *m), void *opaque);

/* The last header `name` of m as a NUL-terminated copy in buf ("" when absent). */
const char *tool_kafka_header(const rd_kafka_message_t *m, const char *name, char *buf,
                              size_t size);

#endif
