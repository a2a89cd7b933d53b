/*
 * stateful.c - per-key counters in handler state, one output per input.
 *
 *   stateful BOOTSTRAP_SERVERS INPUT_TOPIC OUTPUT_TOPIC DATA_DIR
 *
 * For each new record (deduplicated by its `message-id` header) the counter
 * of the record's key is incremented in the worker's state, and a message
 * "<key> <count>" is emitted to OUTPUT_TOPIC. The counter, the output and
 * the consumed offset commit in one LMDB transaction: kill the process at
 * any point and restart it, and every key's counter equals the number of
 * distinct records with that key. The relay publishes the output with the
 * ID "<input-id>/0", so a downstream eoc worker drops re-publications.
 */
#include <eoc/eoc.h>

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

static eoc_worker_t *worker; /* for the signal handler only */

static void on_signal(int sig)
{
    (void)sig;
    eoc_worker_stop(worker);
}

static eoc_result_t count_key(eoc_txn_t *txn, const eoc_record_t *rec, void *opaque)
{
    (void)opaque;
    size_t klen;
    const void *key = eoc_record_key(rec, &klen);
    if (!key || !klen) {
        eoc_txn_set_error(txn, "record has no key");
        return EOC_HANDLER_FAIL; /* dead-lettered with this reason */
    }
    uint64_t n = 0;
    const void *v;
    size_t vlen;
    if (eoc_state_get(txn, key, klen, &v, &vlen) == EOC_OK && vlen == sizeof(n))
        memcpy(&n, v, sizeof(n));
    n++;
    if (eoc_state_put(txn, key, klen, &n, sizeof(n)) != EOC_OK)
        return EOC_HANDLER_RETRY;

    char out[600];
    int len = snprintf(out, sizeof(out), "%.*s %" PRIu64, (int)klen, (const char *)key, n);
    eoc_msg_t msg = {.topic = NULL, /* output.topic */
                     .partition = EOC_PARTITION_ANY,
                     .key = key,
                     .key_len = klen,
                     .value = out,
                     .value_len = (size_t)len};
    return eoc_emit(txn, &msg) == EOC_OK ? EOC_HANDLER_OK : EOC_HANDLER_FAIL;
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: %s BOOTSTRAP_SERVERS INPUT_TOPIC OUTPUT_TOPIC DATA_DIR\n", argv[0]);
        return 2;
    }
    char err[512];
    eoc_conf_t *conf = eoc_conf_new();
    const char *kv[][2] = {{"kafka.bootstrap.servers", argv[1]},
                           {"input.topics", argv[2]},
                           {"output.topic", argv[3]},
                           {"data.dir", argv[4]},
                           {"group.id", "eoc-example-stateful"}};
    for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++) {
        if (eoc_conf_set(conf, kv[i][0], kv[i][1], err, sizeof(err)) != EOC_OK) {
            fprintf(stderr, "config: %s\n", err);
            eoc_conf_destroy(conf);
            return 2;
        }
    }
    if (!(worker = eoc_worker_new(conf, count_key, NULL, err, sizeof(err)))) {
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
