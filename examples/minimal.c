/*
 * minimal.c - the smallest eoc worker: prints every new record once.
 *
 *   minimal BOOTSTRAP_SERVERS TOPIC DATA_DIR
 *
 * Records are deduplicated by their `message-id` header, so a re-sent
 * record, a replay or a restart never prints a record twice. (The handler
 * itself can run again if the process dies before its batch commits:
 * printing is an effect outside the transaction. Effects that must be
 * exactly once go through eoc_state_put / eoc_emit, see stateful.c.)
 * Stop it with Ctrl-C or SIGTERM: it commits and leaves cleanly.
 */
#include <eoc/eoc.h>

#include <signal.h>
#include <stdio.h>

static eoc_worker_t *worker; /* for the signal handler only */

static void on_signal(int sig)
{
    (void)sig;
    eoc_worker_stop(worker); /* async-signal-safe */
}

static eoc_result_t print_record(eoc_txn_t *txn, const eoc_record_t *rec, void *opaque)
{
    (void)txn;
    (void)opaque;
    size_t id_len, len;
    const char *id = eoc_record_id(rec, &id_len);
    const char *value = eoc_record_value(rec, &len);
    printf("%s[%d]@%lld %.*s: %.*s\n", eoc_record_topic(rec), (int)eoc_record_partition(rec),
           (long long)eoc_record_offset(rec), (int)id_len, id, (int)len, value);
    fflush(stdout);
    return EOC_HANDLER_OK;
}

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s BOOTSTRAP_SERVERS TOPIC DATA_DIR\n", argv[0]);
        return 2;
    }
    char err[512];
    eoc_conf_t *conf = eoc_conf_new();
    if (eoc_conf_set(conf, "kafka.bootstrap.servers", argv[1], err, sizeof(err)) ||
        eoc_conf_set(conf, "input.topics", argv[2], err, sizeof(err)) ||
        eoc_conf_set(conf, "data.dir", argv[3], err, sizeof(err)) ||
        eoc_conf_set(conf, "group.id", "eoc-example-minimal", err, sizeof(err)) ||
        eoc_conf_set(conf, "relay.enable", "false", err, sizeof(err))) {
        fprintf(stderr, "config: %s\n", err);
        eoc_conf_destroy(conf);
        return 2;
    }
    if (!(worker = eoc_worker_new(conf, print_record, NULL, err, sizeof(err)))) {
        fprintf(stderr, "%s\n", err);
        eoc_conf_destroy(conf);
        return 1;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    eoc_err_t rc = eoc_worker_run(worker);
    eoc_worker_destroy(worker);
    return rc == EOC_OK ? 0 : 1;
}
