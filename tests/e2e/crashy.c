/*
 * eoc-crashy - a TEST-ONLY worker whose handler misbehaves on chosen records.
 *
 *   eoc-crashy --brokers B --group G --input T --output O --data DIR
 *              [--crash-value V] [--retry-value V] [any flag of the consumers]
 *
 * For a record whose value is exactly V of --crash-value (default "crash")
 * the handler calls abort(): the process dies inside the handler, before
 * the batch commits, every time it meets the record. eoc's crash-loop guard
 * must end that: after handler.max.crashes deaths at the record it is
 * dead-lettered (`handler_crash`) without calling the handler.
 *
 * For a record whose value is exactly the --retry-value (default "retry")
 * the handler always asks for a retry: after retry.max.attempts the record
 * is dead-lettered (`handler_error`).
 *
 * For a record whose value is exactly the --hang-value (none by default)
 * the handler sleeps --hang-ms milliseconds (default 15000) the first time
 * this process meets it, then applies it like any other: a handler stuck
 * past a timeout (transaction.timeout.ms, max.poll.interval.ms) once.
 *
 * Every other record is applied like examples/stateful.c: the counter of
 * the record's key (or of "-" for a record without a key) is incremented in
 * the state under "count/<key>", and "<key> <count>" is emitted to the
 * output topic, keyed by the key. One output per applied record, so that
 * `eoc-check --app generic --outputs 1` can verify the run.
 *
 * The command line is the consumers' (cli.h); the default ID strategy is
 * header:message-id.
 */
#include "cli.h"
#include "numparse.h"

#include <eoc/eoc.h>

#include <execinfo.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define COUNT_PREFIX "count/"

typedef struct crashy {
    const char *crash_value; /* points into argv */
    const char *retry_value;
    const char *hang_value;
    const char *hang_ms_arg;
    int64_t hang_ms;
    int hung; /* the hang happened (handler thread only) */
} crashy_t;

static int value_is(const eoc_record_t *rec, const char *want)
{
    size_t len;
    const void *v = eoc_record_value(rec, &len);
    return v && want && *want && len == strlen(want) && memcmp(v, want, len) == 0;
}

static eoc_result_t crashy_handle(eoc_txn_t *txn, const eoc_record_t *rec, void *opaque)
{
    crashy_t *c = opaque;
    if (!c->hung && value_is(rec, c->hang_value)) {
        c->hung = 1;
        fprintf(stderr, "eoc-crashy: hanging %" PRId64 " ms on %s[%d]@%" PRId64 " (test-only)\n",
                c->hang_ms, eoc_record_topic(rec), (int)eoc_record_partition(rec),
                eoc_record_offset(rec));
        struct timespec ts = {(time_t)(c->hang_ms / 1000), (long)(c->hang_ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0)
            ;
        fprintf(stderr, "eoc-crashy: the hang on %s[%d]@%" PRId64 " is over\n",
                eoc_record_topic(rec), (int)eoc_record_partition(rec), eoc_record_offset(rec));
    }
    if (value_is(rec, c->crash_value)) {
        fprintf(stderr, "eoc-crashy: aborting on %s[%d]@%" PRId64 " (test-only crash)\n",
                eoc_record_topic(rec), (int)eoc_record_partition(rec), eoc_record_offset(rec));
        abort();
    }
    if (value_is(rec, c->retry_value)) {
        eoc_txn_set_error(txn, "eoc-crashy: this record always fails (test-only)");
        return EOC_HANDLER_RETRY;
    }

    size_t klen;
    const void *key = eoc_record_key(rec, &klen);
    if (!key || !klen) {
        key = "-";
        klen = 1;
    }
    char skey[EOC_ID_MAX + 1];
    if (klen > EOC_ID_MAX - strlen(COUNT_PREFIX)) {
        eoc_txn_set_error(txn, "key longer than %zu bytes", EOC_ID_MAX - strlen(COUNT_PREFIX));
        return EOC_HANDLER_FAIL;
    }
    int slen = snprintf(skey, sizeof(skey), COUNT_PREFIX "%.*s", (int)klen, (const char *)key);

    uint64_t n = 0;
    const void *v;
    size_t vlen;
    eoc_err_t err = eoc_state_get(txn, skey, (size_t)slen, &v, &vlen);
    if (err == EOC_OK && vlen == sizeof(n))
        memcpy(&n, v, sizeof(n));
    else if (err != EOC_OK && err != EOC_ERR_NOT_FOUND)
        return EOC_HANDLER_RETRY;
    n++;
    if (eoc_state_put(txn, skey, (size_t)slen, &n, sizeof(n)) != EOC_OK)
        return EOC_HANDLER_RETRY;

    char out[EOC_ID_MAX + 32];
    int len = snprintf(out, sizeof(out), "%.*s %" PRIu64, (int)klen, (const char *)key, n);
    eoc_msg_t msg = {.topic = NULL, /* output.topic */
                     .partition = EOC_PARTITION_ANY,
                     .key = key,
                     .key_len = klen,
                     .value = out,
                     .value_len = (size_t)len};
    err = eoc_emit(txn, &msg);
    if (err == EOC_OK)
        return EOC_HANDLER_OK;
    return err == EOC_ERR_TOO_LARGE || err == EOC_ERR_INVALID_ARG ? EOC_HANDLER_FAIL
                                                                  : EOC_HANDLER_RETRY;
}

/* A crash of the worker itself (not the aborts asked for above) prints
 * the faulting thread's stack to stderr, which the scenarios show when a
 * host exits on a signal: a failure on a CI machine then says where.
 * backtrace() is not async-signal-safe in general; it is preloaded in
 * main() so that here it only walks the stack. */
static void on_crash(int sig)
{
    static const char head[] = "eoc-crashy: fatal signal, stack of the faulting thread:\n";
    void *frames[64];
    (void)!write(STDERR_FILENO, head, sizeof(head) - 1);
    backtrace_symbols_fd(frames, backtrace(frames, 64), STDERR_FILENO);
    signal(sig, SIG_DFL);
    raise(sig);
}

static void crash_report_install(void)
{
    void *warm[1];
    (void)backtrace(warm, 1); /* loads libgcc's unwinder now, not in the handler */
    struct sigaction sa = {0};
    sa.sa_handler = on_crash;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = (int)SA_RESETHAND;
    sigaction(SIGSEGV, &sa, NULL);
    sigaction(SIGBUS, &sa, NULL);
    sigaction(SIGFPE, &sa, NULL);
    sigaction(SIGILL, &sa, NULL);
}

int main(int argc, char **argv)
{
    crashy_t c = {"crash", "retry", NULL, NULL, 15000, 0};
    const cli_opt_t opts[] = {
        {.name = "crash-value",
         .arg = "V",
         .value = &c.crash_value,
         .doc = "abort() in the handler on a record whose value is V (default \"crash\")"},
        {.name = "retry-value",
         .arg = "V",
         .value = &c.retry_value,
         .doc = "always ask for a retry on a record whose value is V (default \"retry\")"},
        {.name = "hang-value",
         .arg = "V",
         .value = &c.hang_value,
         .doc = "sleep --hang-ms in the handler the first time a record's value is V (default: "
                "none)"},
        {.name = "hang-ms",
         .arg = "N",
         .value = &c.hang_ms_arg,
         .doc = "how long --hang-value sleeps, in ms (default 15000)"},
    };
    static const cli_default_t defaults[] = {{"id.strategy", "header:message-id"},
                                             {"group.id", "eoc-crashy"}};
    const cli_spec_t spec = {
        .summary = "TEST ONLY: a counting worker whose handler crashes or fails on chosen values.",
        .description = "Applies records like examples/stateful.c; aborts on --crash-value,\n"
                       "always retries on --retry-value, hangs once on --hang-value. For the\n"
                       "e2e fault scenarios.",
        .opts = opts,
        .nopts = sizeof(opts) / sizeof(opts[0]),
        .defaults = defaults,
        .ndefaults = sizeof(defaults) / sizeof(defaults[0]),
    };
    eoc_conf_t *conf;
    int rc = cli_parse(&spec, argc, argv, &conf);
    if (rc != CLI_CONTINUE)
        return rc;
    if (c.hang_ms_arg &&
        eoc__num_flag_i64("eoc-crashy", "--hang-ms", c.hang_ms_arg, 0, 3600000, &c.hang_ms) != 0) {
        eoc_conf_destroy(conf);
        return 2;
    }
    crash_report_install();
    return cli_run(conf, crashy_handle, &c);
}
