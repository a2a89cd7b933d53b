/*
 * eoc-produce-raw - produces ONE record exactly as given, for bad-input tests.
 *
 *   eoc-produce-raw --brokers B --topic T [--partition P] [--key K]
 *                   [--header NAME=VALUE]... [--value-file F | --value S | --null-value]
 *
 * The record's key, headers and value are taken byte for byte from the
 * command line (or the file): an empty header value (`--header message-id=`)
 * stays empty, `--null-value` sends a null value (no value at all), which
 * is not the same as `--value ""` (an empty one). Without a value option the
 * value is empty. Idempotent producer, acks=all. On success prints
 * "PARTITION OFFSET" of the delivered record on stdout, so that a test can
 * find the record again (for example in dead-letter provenance headers).
 *
 * Exit status: 0 delivered, 1 not delivered, 2 usage.
 */
#include <librdkafka/rdkafka.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROG        "eoc-produce-raw"
#define MAX_HEADERS 32
#define FLUSH_MS    30000

typedef struct opts {
    const char *brokers, *topic, *key, *value, *value_file;
    const char *headers[MAX_HEADERS];
    int nheaders, null_value;
    int32_t partition;
} opts_t;

/* What the delivery report tells main(). */
typedef struct result {
    int done;
    rd_kafka_resp_err_t err;
    int32_t partition;
    int64_t offset;
} result_t;

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    result_t *r = opaque;
    r->done = 1;
    r->err = m->err;
    r->partition = m->partition;
    r->offset = m->offset;
}

/* The whole file into a malloc'ed buffer; NULL with a message. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, n;
    *len = 0;
    if (!f) {
        fprintf(stderr, PROG ": %s: %s\n", path, strerror(errno));
        return NULL;
    }
    do {
        if (*len + 65536 > cap) {
            char *bigger = realloc(buf, cap = cap * 2 + 65536);
            if (!bigger) {
                free(buf);
                fclose(f);
                fprintf(stderr, PROG ": out of memory\n");
                return NULL;
            }
            buf = bigger;
        }
        n = fread(buf + *len, 1, cap - *len, f);
        *len += n;
    } while (n > 0);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        fprintf(stderr, PROG ": reading %s failed\n", path);
        free(buf);
        return NULL;
    }
    return buf;
}

static void usage(FILE *f)
{
    fprintf(f, "Usage: " PROG " --brokers B --topic T [--partition P] [--key K]\n"
               "                       [--header NAME=VALUE]... [--value-file F | --value S |"
               " --null-value]\n\n"
               "Produces one record, byte for byte as given (an empty header value stays\n"
               "empty; --null-value sends no value at all; without a value option the value\n"
               "is empty), and prints \"PARTITION OFFSET\" of the delivered record.\n\n"
               "  --brokers B          bootstrap servers\n"
               "  --topic T            topic\n"
               "  --partition P        partition (default: by key, or any)\n"
               "  --key K              key (default: none)\n"
               "  --header NAME=VALUE  a header; repeatable, in order\n"
               "  --value S            the value\n"
               "  --value-file F       the value is the content of F\n"
               "  --null-value         a null value\n\n"
               "Exit status: 0 delivered, 1 not delivered, 2 usage.\n");
}

static int parse_args(int argc, char **argv, opts_t *o)
{
    static const struct option lo[] = {{"brokers", required_argument, NULL, 'b'},
                                       {"topic", required_argument, NULL, 't'},
                                       {"partition", required_argument, NULL, 'p'},
                                       {"key", required_argument, NULL, 'k'},
                                       {"header", required_argument, NULL, 'H'},
                                       {"value", required_argument, NULL, 'v'},
                                       {"value-file", required_argument, NULL, 'f'},
                                       {"null-value", no_argument, NULL, 'n'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
    *o = (opts_t){.partition = RD_KAFKA_PARTITION_UA};
    int c, bad = 0, values = 0;
    char *end;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case 'b':
            o->brokers = optarg;
            break;
        case 't':
            o->topic = optarg;
            break;
        case 'p':
            errno = 0;
            o->partition = (int32_t)strtol(optarg, &end, 10);
            bad |= errno || end == optarg || *end || o->partition < 0;
            break;
        case 'k':
            o->key = optarg;
            break;
        case 'H':
            if (o->nheaders == MAX_HEADERS || !strchr(optarg, '='))
                bad = 1;
            else
                o->headers[o->nheaders++] = optarg;
            break;
        case 'v':
            o->value = optarg;
            values++;
            break;
        case 'f':
            o->value_file = optarg;
            values++;
            break;
        case 'n':
            o->null_value = 1;
            values++;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            bad = 1;
        }
    }
    if (bad || optind != argc || !o->brokers || !o->topic || values > 1) {
        fprintf(stderr, PROG ": bad or missing arguments (need --brokers and --topic; at most "
                             "one of --value, --value-file, --null-value; --header NAME=VALUE)\n");
        usage(stderr);
        return -1;
    }
    return 0;
}

static rd_kafka_t *producer_new(const char *brokers, result_t *r)
{
    char err[512];
    rd_kafka_conf_t *c = rd_kafka_conf_new();
    const char *kv[][2] = {{"bootstrap.servers", brokers},
                           {"enable.idempotence", "true"},
                           {"acks", "all"},
                           {"message.max.bytes", "10000000"},
                           {"message.timeout.ms", "20000"}};
    for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++) {
        if (rd_kafka_conf_set(c, kv[i][0], kv[i][1], err, sizeof(err)) != RD_KAFKA_CONF_OK) {
            fprintf(stderr, PROG ": %s\n", err);
            rd_kafka_conf_destroy(c);
            return NULL;
        }
    }
    rd_kafka_conf_set_opaque(c, r);
    rd_kafka_conf_set_dr_msg_cb(c, on_delivery);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, c, err, sizeof(err));
    if (!rk) {
        fprintf(stderr, PROG ": %s\n", err);
        rd_kafka_conf_destroy(c);
    }
    return rk;
}

int main(int argc, char **argv)
{
    opts_t o;
    if (parse_args(argc, argv, &o))
        return 2;
    size_t vlen = 0;
    char *file = NULL;
    const void *value = "";
    if (o.value_file) {
        if (!(file = slurp(o.value_file, &vlen)))
            return 1;
        value = file;
    } else if (o.value) {
        value = o.value;
        vlen = strlen(o.value);
    } else if (o.null_value) {
        value = NULL;
    }

    rd_kafka_headers_t *hs = rd_kafka_headers_new((size_t)o.nheaders + 1);
    for (int i = 0; i < o.nheaders; i++) {
        const char *eq = strchr(o.headers[i], '=');
        rd_kafka_header_add(hs, o.headers[i], eq - o.headers[i], eq + 1, (ssize_t)strlen(eq + 1));
    }

    result_t r = {0};
    rd_kafka_t *rk = producer_new(o.brokers, &r);
    if (!rk) {
        rd_kafka_headers_destroy(hs);
        free(file);
        return 1;
    }
    /* On success the producer owns the headers. */
    rd_kafka_resp_err_t err = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(o.topic), RD_KAFKA_V_PARTITION(o.partition),
        RD_KAFKA_V_KEY(o.key, o.key ? strlen(o.key) : 0), RD_KAFKA_V_VALUE((void *)value, vlen),
        RD_KAFKA_V_HEADERS(hs), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    if (err) {
        fprintf(stderr, PROG ": produce to %s: %s\n", o.topic, rd_kafka_err2str(err));
        rd_kafka_headers_destroy(hs);
    } else {
        rd_kafka_flush(rk, FLUSH_MS);
    }
    rd_kafka_destroy(rk);
    free(file);
    if (err)
        return 1;
    if (!r.done || r.err) {
        fprintf(stderr, PROG ": not delivered to %s: %s\n", o.topic,
                r.done ? rd_kafka_err2str(r.err) : "no delivery report in time");
        return 1;
    }
    printf("%" PRId32 " %" PRId64 "\n", r.partition, r.offset);
    return 0;
}
