/*
 * eoc-forward - copies records from the input topics to the output topic,
 * exactly once.
 *
 * Each new record (deduplicated by its message ID, --id header:message-id
 * unless told otherwise) is copied with its key, value, headers and
 * timestamp to output.topic. Every original header travels except
 * `message-id`, which eoc owns: eoc_emit drops the copy and the relay sends
 * the deterministic output ID "<input-id>/0" in its place, so a
 * re-publication or a replay is dropped by a downstream eoc worker. The
 * input's own ID travels as `eoc-source-id` (replacing one the input may
 * carry from an earlier copy), next to eoc's provenance header
 * (eoc-source: topic/partition/offset).
 *
 * Partitions: when an input topic and the output topic have the same
 * number of partitions (looked up once at start), a copy goes to its
 * input's partition, so per-partition order and placement survive whatever
 * partitioner the producer used; otherwise it is placed by key (the Java
 * client's murmur2). A lookup that fails falls back to the key, with a
 * warning; so does a source partition the output topic does not have.
 * Restart eoc-forward after changing partition counts.
 *
 * --output-brokers sends the copies (and the dead letters: both go through
 * the relay) to another cluster (relay.kafka.bootstrap.servers); the input
 * stays on --brokers.
 */
#include "cli.h"

#include <eoc/eoc.h>

#include <librdkafka/rdkafka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SOURCE_ID_HEADER "eoc-source-id"
#define METADATA_MS      10000
#define MAX_INPUTS       64

/* Input topics whose copies keep their partition (the handler's opaque). */
typedef struct same_partitions {
    struct {
        char *topic;
        int32_t partitions; /* the output's count, equal to this input's */
    } in[MAX_INPUTS];
    size_t n;
} same_partitions_t;

/* The partition a copy of `rec` goes to. */
static int32_t output_partition(const same_partitions_t *same, const eoc_record_t *rec)
{
    const char *topic = eoc_record_topic(rec);
    int32_t p = eoc_record_partition(rec);

    for (size_t i = 0; i < same->n; i++) {
        if (strcmp(same->in[i].topic, topic) == 0 && p >= 0 && p < same->in[i].partitions)
            return p;
    }
    return EOC_PARTITION_ANY;
}

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

        if (eoc_record_header_at(rec, i, &h->name, &h->value, &h->len) == EOC_OK &&
            strcmp(h->name, SOURCE_ID_HEADER) != 0)
            n++;
    }
    return n;
}

static eoc_result_t forward_handle(eoc_txn_t *txn, const eoc_record_t *rec, void *opaque)
{
    size_t count = eoc_record_header_count(rec);
    eoc_header_t *headers = malloc((count + 1) * sizeof(*headers));
    eoc_msg_t msg = {.topic = NULL, /* output.topic */
                     .partition = output_partition(opaque, rec)};
    size_t id_len;
    const char *id = eoc_record_id(rec, &id_len);

    if (!headers) {
        eoc_txn_set_error(txn, "out of memory copying %zu headers", count);
        return EOC_HANDLER_RETRY;
    }
    msg.key = eoc_record_key(rec, &msg.key_len);
    msg.value = eoc_record_value(rec, &msg.value_len);
    msg.headers = headers;
    msg.header_count = copy_headers(rec, headers);
    headers[msg.header_count++] = (eoc_header_t){SOURCE_ID_HEADER, id, id_len};
    /* eoc_emit_at copies everything; a timestamp <= 0 (none) is the relay's clock */
    eoc_err_t err = eoc_emit_at(txn, &msg, eoc_record_timestamp(rec));
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

/*
 * The cluster's topics (all of them: asking for one topic by name could
 * create it on a broker that creates topics on demand). NULL after logging.
 */
static const struct rd_kafka_metadata *cluster_topics(const eoc_conf_t *conf, rd_kafka_t *rk)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 1, NULL, &md, METADATA_MS);

    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        cli_log(conf, EOC_LOG_WARNING, "partition lookup: %s", rd_kafka_err2str(err));
        return NULL;
    }
    return md;
}

/* Partitions of `topic` (len bytes) in `md`; -1 when unknown. */
static int32_t partition_count(const struct rd_kafka_metadata *md, const char *topic, size_t len)
{
    for (int i = 0; md && i < md->topic_cnt; i++) {
        const rd_kafka_metadata_topic_t *t = &md->topics[i];

        if (t->err == RD_KAFKA_RESP_ERR_NO_ERROR && strlen(t->topic) == len &&
            memcmp(t->topic, topic, len) == 0)
            return t->partition_cnt;
    }
    return -1;
}

/* A metadata client of `brokers`; NULL after logging why. */
static rd_kafka_t *metadata_client(const eoc_conf_t *conf, const char *brokers)
{
    char err[512];
    rd_kafka_conf_t *kc = rd_kafka_conf_new();
    rd_kafka_t *rk = NULL;

    if (kc &&
        rd_kafka_conf_set(kc, "bootstrap.servers", brokers, err, sizeof(err)) == RD_KAFKA_CONF_OK &&
        rd_kafka_conf_set(kc, "log_level", "3", err, sizeof(err)) == RD_KAFKA_CONF_OK)
        rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, err, sizeof(err));
    else
        rd_kafka_conf_destroy(kc);
    if (!rk)
        cli_log(conf, EOC_LOG_WARNING, "partition lookup: %s", err);
    return rk;
}

/*
 * Finds the input topics with as many partitions as the output topic
 * (output on relay.kafka.bootstrap.servers when set). Failures leave them
 * out, with a warning: their copies are placed by key.
 */
static void find_same_partitions(const eoc_conf_t *conf, same_partitions_t *same)
{
    const char *in_brokers = eoc_conf_get(conf, "kafka.bootstrap.servers");
    const char *out_brokers = eoc_conf_get(conf, "relay.kafka.bootstrap.servers");
    const char *out_topic = eoc_conf_get(conf, "output.topic");
    const char *inputs = eoc_conf_get(conf, "input.topics");
    const struct rd_kafka_metadata *in_md = NULL, *out_md = NULL;
    rd_kafka_t *in_rk = NULL, *out_rk = NULL;
    int32_t out_n = -1;

    if (!in_brokers || !*in_brokers || !out_topic || !*out_topic || !inputs || !*inputs)
        return; /* cli_run refuses to start and says why */
    if (!out_brokers || !*out_brokers)
        out_brokers = in_brokers;
    if ((in_rk = metadata_client(conf, in_brokers)))
        in_md = cluster_topics(conf, in_rk);
    if (strcmp(out_brokers, in_brokers) == 0)
        out_md = in_md;
    else if ((out_rk = metadata_client(conf, out_brokers)))
        out_md = cluster_topics(conf, out_rk);
    if (in_md && out_md && (out_n = partition_count(out_md, out_topic, strlen(out_topic))) < 0)
        cli_log(conf, EOC_LOG_INFO, "output topic %s not found yet: copies are placed by key",
                out_topic);
    for (const char *p = inputs; out_n > 0 && *p && same->n < MAX_INPUTS;) {
        size_t len = strcspn(p, ",");
        int32_t in_n = partition_count(in_md, p, len);
        char *topic = in_n == out_n ? strndup(p, len) : NULL;

        if (topic) {
            same->in[same->n].topic = topic;
            same->in[same->n++].partitions = out_n;
            cli_log(conf, EOC_LOG_INFO, "copies of %s keep their partition (%d in both)", topic,
                    (int)out_n);
        } else {
            cli_log(conf, EOC_LOG_INFO,
                    "copies of %.*s are placed by key (%d partitions, %s has %d)", (int)len, p,
                    (int)in_n, out_topic, (int)out_n);
        }
        p += len + (p[len] == ',');
    }
    if (out_md && out_md != in_md)
        rd_kafka_metadata_destroy(out_md);
    if (in_md)
        rd_kafka_metadata_destroy(in_md);
    if (out_rk)
        rd_kafka_destroy(out_rk);
    if (in_rk)
        rd_kafka_destroy(in_rk);
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
        .description = "Key, value, headers and timestamp are kept, and the partition when the\n"
                       "output topic has as many as the input. The message-id header becomes\n"
                       "the deterministic output ID \"<input-id>/0\"; the input's ID travels as\n"
                       "eoc-source-id.",
        .opts = opts,
        .nopts = sizeof(opts) / sizeof(opts[0]),
        .defaults = defaults,
        .ndefaults = sizeof(defaults) / sizeof(defaults[0]),
    };
    static same_partitions_t same; /* outlives cli_run: the handler's opaque */
    eoc_conf_t *conf;
    int rc = cli_parse(&spec, argc, argv, &conf);

    if (rc != CLI_CONTINUE)
        return rc;
    find_same_partitions(conf, &same);
    rc = cli_run(conf, forward_handle, &same);
    for (size_t i = 0; i < same.n; i++)
        free(same.in[i].topic);
    return rc;
}
