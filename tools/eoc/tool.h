/*
 * tool.h - what the subcommands of the `eoc` command share.
 *
 * A subcommand is one row of EOC_TOOL_COMMANDS and one function
 *
 *     int cmd_<name>(int argc, char **argv);
 *
 * in its own file (listed in tools/eoc/meson.build) or in eoc.c. argv[0]
 * is the subcommand's name, the rest its arguments; it returns the exit
 * status (TOOL_EXIT_*). eoc.c's dispatcher prints the row's usage for
 * `eoc NAME --help` before calling it, and lists the rows in `eoc --help`.
 *
 * Everything runs on the main thread. The helpers print to the FILE given
 * (or stdout/stderr as stated) and keep no state.
 */
#ifndef EOC_TOOL_H
#define EOC_TOOL_H

#include <eoc/eoc.h>

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define TOOL_EXIT_OK    0 /* done */
#define TOOL_EXIT_FAIL  1 /* runtime error (no store, I/O, ...), one line on stderr */
#define TOOL_EXIT_USAGE 2 /* bad arguments */

/* Defaults of subcommand options: the code and the --help text below use these. */
#define TOOL_OUTBOX_LIMIT      100  /* rows `eoc outbox` shows */
#define TOOL_WATCH_INTERVAL_MS 1000 /* `eoc watch` redraw interval */
#define TOOL_WATCH_TIMEOUT_MS  0    /* `eoc watch --until-caught-up` limit; 0: none */

#define TOOL_STR_(x)             #x
#define TOOL_STR(x)              TOOL_STR_(x)
#define TOOL_OUTBOX_LIMIT_S      TOOL_STR(TOOL_OUTBOX_LIMIT)
#define TOOL_WATCH_INTERVAL_MS_S TOOL_STR(TOOL_WATCH_INTERVAL_MS)
#define TOOL_WATCH_TIMEOUT_MS_S  TOOL_STR(TOOL_WATCH_TIMEOUT_MS)

/*
 * X(name, arguments, one-line summary, options): one row per subcommand, in
 * --help order. `options` are the lines of `eoc NAME --help` under
 * "Options:", each "  --flag ARG  what it does (default: X)" when it has a
 * default; "" when none.
 */
#define EOC_TOOL_COMMANDS(X)                                                                       \
    X(inspect, "DIR [--json] [--brokers B]",                                                      \
      "offsets, inbox, outbox backlog, state and map usage of a store",                            \
      "  DIR                        the worker's data.dir (opened read-only)\n"                    \
      "  --json                     one JSON object instead of text\n"                             \
      "  --brokers B                eos.mode=kafka: whether each changelog copy is current\n")     \
    X(outbox, "DIR [--limit N] [--drop SEQ [--execute]]",                                        \
      "pending outbox rows, oldest first; drop one the broker refuses",                            \
      "  DIR                        the worker's data.dir (opened read-only)\n"                    \
      "  --limit N                  rows to show, 0: all (default: " TOOL_OUTBOX_LIMIT_S ")\n"     \
      "  --drop SEQ                 show row SEQ, to be dropped unpublished (no worker or\n"       \
      "                             relay may run on the store)\n"                                 \
      "  --execute                  with --drop: drop it (logged to stderr and syslog)\n")         \
    X(state, "DIR [PREFIX]", "state keys and values, in key order",                                \
      "  DIR                        the worker's data.dir (opened read-only)\n"                    \
      "  PREFIX                     only keys starting with PREFIX (default: all)\n")              \
    X(relay, "DIR --brokers HOST:PORT[,...] [--config FILE] [--set KEY=VALUE]... [-v]",            \
      "run a standalone outbox relay for a store until SIGINT/SIGTERM",                            \
      "  DIR                        the worker's data.dir (also: --data DIR)\n"                    \
      "  --brokers HOST:PORT[,...]  Kafka to publish to (kafka.bootstrap.servers)\n"               \
      "  --config FILE              JSON configuration, applied before the other flags\n"          \
      "  --set KEY=VALUE            a configuration key (eoc-ledger --help lists them)\n"          \
      "  -v                         debug logging (log.level=debug; default: info)\n")             \
    X(replay,                                                                                      \
      "DIR --brokers B --group G --topic T [--partition P] (--to-beginning | --to-offset N | "     \
      "--to-time ISO-8601 | --by-duration 1h30m) [--execute | --dry-run] [--wait DURATION]",                         \
      "plan, and with --execute apply, the rewind of a stopped worker group (Kafka and store "     \
      "offsets); re-read records are duplicates",                                                  \
      "  DIR                        the group's data.dir (the worker must be stopped)\n"           \
      "  --brokers B                Kafka bootstrap servers\n"                                     \
      "  --group G                  the worker's group.id\n"                                       \
      "  --topic T                  the input topic to rewind\n"                                   \
      "  --partition P              one partition (default: all)\n"                                \
      "  --to-beginning             to the oldest offset Kafka still has\n"                        \
      "  --to-offset N              to offset N\n"                                                 \
      "  --to-time ISO-8601         to the first record at or after the time\n"                    \
      "  --by-duration 1h30m        to the first record of the last 1h30m (d, h, m, s, ms)\n"      \
      "  --execute                  apply the plan (default: print it, change nothing)\n"          \
      "  --dry-run                  print the plan, change nothing (the default)\n"               \
      "  --wait DURATION            let live members leave for up to DURATION (e.g. 30s) "        \
      "instead of refusing at once\n")                                                            \
    X(watch, "DIR --brokers B [--interval-ms N] [--until-caught-up] [--timeout-ms N]",             \
      "per-partition lag and progress of a store, redrawn until Ctrl-C (or caught up)",            \
      "  DIR                        the worker's data.dir (opened read-only)\n"                    \
      "  --brokers B                Kafka bootstrap servers\n"                                     \
      "  --interval-ms N            redraw interval (default: " TOOL_WATCH_INTERVAL_MS_S ")\n"     \
      "  --until-caught-up          exit 0 once every lag is 0 and the outbox is empty\n"          \
      "  --timeout-ms N             with --until-caught-up: exit 1 after N ms, 0: never "          \
      "(default: " TOOL_WATCH_TIMEOUT_MS_S ")\n")                                                  \
    X(dlq,                                                                                         \
      "list --brokers B --topic DLQ [--reason R] [--json] | resubmit --brokers B --topic DLQ "     \
      "(--id ID | --reason R | --all)... [--dry-run]",                                             \
      "list dead letters, or send chosen ones back to their source topic",                         \
      "  --brokers B                Kafka bootstrap servers\n"                                     \
      "  --topic DLQ                the dead-letter topic (a worker's default: <group.id>.dlq)\n"  \
      "  --reason R                 only dead letters with this reason (default: all): "            \
      "missing_id, invalid_id, id_collision, empty_value, too_large, handler_error, "              \
      "handler_crash\n"                                                                           \
      "  --json                     list: one JSON object per line\n"                              \
      "  --id ID                    resubmit: the dead letter of this message ID; repeatable\n"    \
      "  --all                      resubmit: every dead letter\n"                                 \
      "  --dry-run                  resubmit: print what would be sent, send nothing\n")

#define TOOL_DECLARE(name, args, summary, options) int cmd_##name(int argc, char **argv);
EOC_TOOL_COMMANDS(TOOL_DECLARE)
#undef TOOL_DECLARE

/*
 * Prints "usage: eoc NAME ARGS" of the row named `name` to stderr and
 * returns TOOL_EXIT_USAGE. For a subcommand's argument errors.
 */
int tool_usage(const char *name);

/*
 * Opens the store in `dir` read-only (safe while a worker runs). NULL
 * after printing the reason to stderr. The caller closes it with
 * eoc_store_close.
 */
eoc_store_t *tool_store_open(const char *dir);

/* Milliseconds since the epoch (CLOCK_REALTIME, like the store's times). */
int64_t tool_now_ms(void);

/* An age in ms as "850ms", "3.2s", "5m12s", "2h03m" or "3d04h". */
void tool_format_age(int64_t ms, char *buf, size_t size);

/*
 * Writes `len` bytes of `p`: printable ASCII as is, every other byte, the
 * backslash and each byte found in `also` (may be NULL) as \xHH. When
 * `max` is not 0 and len > max, only `max` bytes are written, followed by
 * "...(<len> bytes)". A NULL `p` is written as `null`.
 */
void tool_escape(FILE *out, const void *p, size_t len, size_t max, const char *also);

#endif /* EOC_TOOL_H */
