/*
 * eoc-forward - copies records from the input topics to the output topic,
 * exactly once.
 *
 * Each new record (deduplicated by its message ID, --id header:message-id
 * unless told otherwise) is copied with its key, value and headers to
 * output.topic, partitioned by key. Every original header travels except
 * `message-id`, which eoc owns: eoc_emit drops the copy and the relay sends
 * the deterministic output ID "<input-id>/0" in its place, so a
 * re-publication or a replay is dropped by a downstream eoc worker. eoc adds
 * its provenance headers (eoc-source-topic, -partition, -offset).
 *
 * --output-brokers sends the copies (and the dead letters: both go through
 * the relay) to another cluster (relay.kafka.bootstrap.servers); the input
 * stays on --brokers.
 */
#include "cli.h"

#include <eoc/eoc.h>

#include <stdlib.h>

/*
 * Fills `out` (room for every header of `rec`) with the record's headers,
 * in their order. Returns how many. The pointers are the record's: valid
 * during the handler call.
 */
static size_t copy_headers(const eoc_record_t *rec, eoc_header_t *out)
{
    size_t n = 0, count = eoc_record_header_count(rec);

    for (size_t i = 0; i < count; i++) {
        eoc_header_t *h = &out[n];

        if (eoc_record_header_at(rec, i, &h->name, &h->value, &h->len) == EOC_OK)
            n++;
    }
    return n;
}

static eoc_result_t forward_handle(eoc_txn_t *txn, const eoc_record_t *rec, void *opaque)
{
    size_t count = eoc_record_header_count(rec);
    eoc_header_t *headers = count ? malloc(count * sizeof(*headers)) : NULL;
    eoc_msg_t msg = {.topic = NULL, /* output.topic */
                     .partition = EOC_PARTITION_ANY};

    (void)opaque;
    if (count && !headers) {
        eoc_txn_set_error(txn, "out of memory copying %zu headers", count);
        return EOC_HANDLER_RETRY;
    }
    msg.key = eoc_record_key(rec, &msg.key_len);
    msg.value = eoc_record_value(rec, &msg.value_len);
    msg.headers = headers;
    msg.header_count = copy_headers(rec, headers);
    eoc_err_t err = eoc_emit(txn, &msg); /* copies everything */
    free(headers);
    if (err == EOC_OK)
        return EOC_HANDLER_OK;
    if (err == EOC_ERR_TOO_LARGE)
        return EOC_HANDLER_FAIL; /* eoc_emit has set the reason */
    if (err == EOC_ERR_INVALID_ARG) {
        eoc_txn_set_error(txn, "the output was refused (%zu headers): %s", msg.header_count,
                          eoc_strerror(err));
        return EOC_HANDLER_FAIL;
    }
    return EOC_HANDLER_RETRY; /* a store error: the worker fails the batch */
}

int main(int argc, char **argv)
{
    static const cli_opt_t opts[] = {
        {.name = "output-brokers",
         .arg = "HOST:PORT[,...]",
         .key = "relay.kafka.bootstrap.servers",
         .doc = "publish to this cluster instead of --brokers"},
    };
    static const cli_default_t defaults[] = {{"group.id", "eoc-forward"}};
    static const cli_spec_t spec = {
        .summary = "Copies records from the input topics to the output topic, exactly once.",
        .description = "Key, value and headers are kept; the message-id header becomes the\n"
                       "deterministic output ID \"<input-id>/0\".",
        .opts = opts,
        .nopts = sizeof(opts) / sizeof(opts[0]),
        .defaults = defaults,
        .ndefaults = sizeof(defaults) / sizeof(defaults[0]),
    };
    eoc_conf_t *conf;
    int rc = cli_parse(&spec, argc, argv, &conf);

    if (rc != CLI_CONTINUE)
        return rc;
    return cli_run(conf, forward_handle, NULL);
}
