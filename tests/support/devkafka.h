/*
 * devkafka - spawn and drive eoc-kafka-dev (the in-memory development Kafka)
 * from test programs, e2e drivers and benchmarks.
 *
 * Each devkafka_t owns one child process, a fresh temp directory holding its
 * control socket, and the bootstrap string. No global state: several
 * instances may run at once. A handle is used from one thread at a time.
 *
 * The child gets PR_SET_PDEATHSIG(SIGTERM): it stops when the thread that
 * called devkafka_start() exits, so a crashed test leaves no broker behind.
 * Call devkafka_start() from the thread that outlives the cluster (normally
 * the main thread).
 *
 * With EOC_TEST_KAFKA=real in the environment, devkafka_start() starts an
 * Apache Kafka cluster instead (scripts/real-kafka.sh under
 * EOC_SOURCE_ROOT, in the temp dir; the topics created with min(N, 3)
 * replicas), devkafka_stop() takes it down, and devkafka_cmd() fails: the
 * development Kafka's control commands do not exist there.
 */
#ifndef EOC_TESTS_DEVKAFKA_H
#define EOC_TESTS_DEVKAFKA_H

#include <stddef.h>

typedef struct devkafka devkafka_t;

/**
 * Spawns `exe` (the path of eoc-kafka-dev) with --brokers `brokers`, one
 * --topic per entry of `topics` ("name:partitions" strings, NULL-terminated;
 * `topics` itself may be NULL) and a --control socket in a fresh temp dir,
 * then waits (at most 10 s) for the bootstrap line. The child's stdin is
 * /dev/null, its stderr is the caller's.
 *
 * Returns a handle the caller frees with devkafka_stop(), or NULL with the
 * reason in errstr.
 */
devkafka_t *devkafka_start(const char *exe, int brokers, const char *const *topics, char *errstr,
                           size_t errstr_size);

/** "host:port,..." of the brokers; owned by `dk`, valid until devkafka_stop(). */
const char *devkafka_bootstraps(const devkafka_t *dk);

/** Path of the control socket; owned by `dk`, valid until devkafka_stop(). */
const char *devkafka_control_path(const devkafka_t *dk);

/**
 * Sends one command (printf format, no newline) over the control socket and
 * copies the reply line, without its newline, into `reply` (truncated to
 * reply_size; `reply` may be NULL when reply_size is 0). Returns 0 when the
 * reply starts with "ok", -1 otherwise (including connection errors, whose
 * reason then goes into `reply` as "err ...").
 */
int devkafka_cmd(devkafka_t *dk, char *reply, size_t reply_size, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/**
 * Stops the child (SIGTERM, then SIGKILL if it has not exited within 10 s),
 * reaps it, removes the temp dir and frees `dk`. NULL is fine.
 */
void devkafka_stop(devkafka_t *dk);

/** The eoc-kafka-dev path meson passes to tests (EOC_KAFKA_DEV), or NULL. */
const char *devkafka_exe_from_env(void);

#endif /* EOC_TESTS_DEVKAFKA_H */
