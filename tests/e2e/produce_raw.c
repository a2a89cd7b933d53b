/*
 * eoc-produce-raw - produces records exactly as given, for bad-input tests.
 *
 *   eoc-produce-raw --brokers B --topic T [--partition P] [--key K]
 *                   [--header NAME=VALUE]...
 *                   [--value-file F | --value S | --null-value | --lines F]
 *
 * The record's key, headers and value are taken byte for byte from the
 * command line (or the file): an empty header value (`--header message-id=`)
 * stays empty, `--null-value` sends a null value (no value at all), which
 * is not the same as `--value ""` (an empty one). Without a value option the
 * value is empty. `--lines F` produces one record per line of F (the line
 * without its newline is the value; key, headers and partition as given),
 * in order. Idempotent producer, acks=all. On success prints
 * "PARTITION OFFSET" of each delivered record, one line per record in the
 * order produced, so that a test can find the records again (for example
 * in dead-letter provenance headers).
 *
 * Exit status: 0 delivered, 1 not delivered, 2 usage.
 */
#include "kclient.h"

#include <librdkafka/rdkafka.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define PROG        "eoc-produce-raw"
#define MAX_HEADERS 32
#define FLUSH_MS    60000

typedef struct opts {
    const char *brokers, *topic, *key, *value, *value_file, *lines;
    const char *headers[MAX_HEADERS];
    int nheaders, null_value;
    int32_t partition;
} opts_t;

/* What the delivery report of one record tells main(). */
typedef struct result {
    int done;
    rd_kafka_resp_err_t err;
    int32_t partition;
    int64_t offset;
} result_t;

/* The results of all records, indexed by the record's message opaque. */
typedef struct results {
    result_t *r;
    size_t n, cap;
} results_t;

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    results_t *rs = opaque;
    size_t i = (size_t)(uintptr_t)m->_private;
    if (i >= rs->n)
        return;
    result_t *r = &rs->r[i];
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
               "                       [--header NAME=VALUE]...\n"
               "                       [--value-file F | --value S | --null-value | --lines F]\n\n"
               "Produces one record, byte for byte as given (an empty header value stays\n"
               "empty; --null-value sends no value at all; without a value option the value\n"
               "is empty), or one record per line of --lines F, and prints \"PARTITION OFFSET\"\n"
               "of each delivered record, in the order produced.\n\n"
               "  --brokers B          bootstrap servers\n"
               "  --topic T            topic\n"
               "  --partition P        partition (default: by key, or any)\n"
               "  --key K              key (default: none)\n"
               "  --header NAME=VALUE  a header; repeatable, in order\n"
               "  --value S            the value\n"
               "  --value-file F       the value is the content of F\n"
               "  --null-value         a null value\n"
               "  --lines F            one record per line of F (the line is the value)\n\n"
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
                                       {"lines", required_argument, NULL, 'l'},
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
        case 'l':
            o->lines = optarg;
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
        fprintf(stderr,
                PROG ": bad or missing arguments (need --brokers and --topic; at most "
                     "one of --value, --value-file, --null-value, --lines; --header NAME=VALUE)\n");
        usage(stderr);
        return -1;
    }
    return 0;
}

static rd_kafka_t *producer_new(const char *brokers, results_t *r)
{
    char err[512];
    const char *const kv[][2] = {{"bootstrap.servers", brokers},
                                 {"enable.idempotence", "true"},
                                 {"acks", "all"},
                                 {"message.max.bytes", "10000000"},
                                 {"message.timeout.ms", "20000"}};
    rd_kafka_t *rk = kc_client_new(RD_KAFKA_PRODUCER, kv, sizeof(kv) / sizeof(kv[0]), on_delivery,
                                   r, err, sizeof(err));
    if (!rk)
        fprintf(stderr, PROG ": %s\n", err);
    return rk;
}

/* Appends one result slot; its index, or -1 on out of memory. */
static long slot_new(results_t *rs)
{
    if (rs->n == rs->cap) {
        size_t cap = rs->cap ? rs->cap * 2 : 64;
        result_t *bigger = realloc(rs->r, cap * sizeof(*bigger));
        if (!bigger)
            return -1;
        rs->r = bigger;
        rs->cap = cap;
    }
    rs->r[rs->n] = (result_t){0};
    return (long)rs->n++;
}

/* Enqueues one record (copied), waiting while the local queue is full.
 * 0, or -1 after printing the error. */
static int produce_one(rd_kafka_t *rk, const opts_t *o, results_t *rs, const void *value,
                       size_t vlen)
{
    long i = slot_new(rs);
    if (i < 0) {
        fprintf(stderr, PROG ": out of memory\n");
        return -1;
    }
    for (;;) {
        rd_kafka_headers_t *hs = rd_kafka_headers_new((size_t)o->nheaders + 1);
        for (int h = 0; h < o->nheaders; h++) {
            const char *eq = strchr(o->headers[h], '=');
            rd_kafka_header_add(hs, o->headers[h], eq - o->headers[h], eq + 1,
                                (ssize_t)strlen(eq + 1));
        }
        /* On success the producer owns the headers. */
        rd_kafka_resp_err_t err =
            rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(o->topic), RD_KAFKA_V_PARTITION(o->partition),
                              RD_KAFKA_V_KEY(o->key, o->key ? strlen(o->key) : 0),
                              RD_KAFKA_V_VALUE((void *)value, vlen), RD_KAFKA_V_HEADERS(hs),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                              RD_KAFKA_V_OPAQUE((void *)(uintptr_t)i), RD_KAFKA_V_END);
        if (!err) {
            rd_kafka_poll(rk, 0);
            return 0;
        }
        rd_kafka_headers_destroy(hs);
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            fprintf(stderr, PROG ": produce to %s: %s\n", o->topic, rd_kafka_err2str(err));
            return -1;
        }
        rd_kafka_poll(rk, 50);
    }
}

/* One record per line of the file. 0, or -1 after printing the error. */
static int produce_lines(rd_kafka_t *rk, const opts_t *o, results_t *rs)
{
    FILE *f = fopen(o->lines, "rb");
    if (!f) {
        fprintf(stderr, PROG ": %s: %s\n", o->lines, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int rc = 0;
    while (!rc && (n = getline(&line, &cap, f)) >= 0) {
        if (n > 0 && line[n - 1] == '\n')
            n--;
        rc = produce_one(rk, o, rs, line, (size_t)n);
    }
    if (!rc && ferror(f)) {
        fprintf(stderr, PROG ": reading %s failed\n", o->lines);
        rc = -1;
    }
    free(line);
    fclose(f);
    return rc;
}

int main(int argc, char **argv)
{
    opts_t o;
    if (parse_args(argc, argv, &o))
        return 2;
    results_t rs = {0};
    rd_kafka_t *rk = producer_new(o.brokers, &rs);
    if (!rk)
        return 1;
    int rc;
    if (o.lines) {
        rc = produce_lines(rk, &o, &rs);
    } else if (o.value_file) {
        size_t vlen;
        char *file = slurp(o.value_file, &vlen);
        rc = file ? produce_one(rk, &o, &rs, file, vlen) : -1;
        free(file);
    } else if (o.null_value) {
        rc = produce_one(rk, &o, &rs, NULL, 0);
    } else {
        rc = produce_one(rk, &o, &rs, o.value ? o.value : "", o.value ? strlen(o.value) : 0);
    }
    rd_kafka_flush(rk, FLUSH_MS);
    rd_kafka_destroy(rk);
    size_t failed = 0;
    for (size_t i = 0; i < rs.n; i++) {
        const result_t *r = &rs.r[i];
        if (!r->done || r->err) {
            if (failed++ < 5)
                fprintf(stderr, PROG ": record %zu not delivered to %s: %s\n", i, o.topic,
                        r->done ? rd_kafka_err2str(r->err) : "no delivery report in time");
        } else if (!rc) {
            printf("%" PRId32 " %" PRId64 "\n", r->partition, r->offset);
        }
    }
    free(rs.r);
    return rc || failed ? 1 : 0;
}
