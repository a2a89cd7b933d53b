/*
 * eoc-txn-copy - copies a topic into another one through a transactional
 * producer, with aborted transactions in between: transactional input for
 * the read_committed scenario of the 'real' suite.
 *
 *   eoc-txn-copy --brokers B --from T1 --to T2 --count N
 *                [--txn K] [--poison M] [--open]
 *
 * Reads the N records of T1 (read_committed, from the beginning) and
 * produces each one (key, value, headers) to the same partition of T2 in
 * transactions of K records (default 500) that commit. After every commit
 * it runs a transaction of M poison records (default 20, spread over T2's
 * partitions) that aborts: ledger transfers with fresh IDs to the account
 * "aborted" of +1000000 each, which no ground truth contains. T2 then
 * holds control records (a marker after every transaction) and the aborted
 * records, so its offsets have gaps for a read_committed reader. With
 * --open the last poison transaction is left open, neither committed nor
 * aborted, until the process is killed (the last stable offset stays below
 * it; a read_committed reader must not pass it).
 *
 * Prints "copied N records in C committed transactions; P poison records
 * in A aborted transactions". Exit status: 0 done, 1 failed, 2 usage.
 */
#include "kclient.h"

#include <librdkafka/rdkafka.h>

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PROG "eoc-txn-copy"
#define TXN_TIMEOUT_MS 30000

static int check(rd_kafka_error_t *e, const char *what)
{
    if (!e)
        return 0;
    fprintf(stderr, PROG ": %s: %s\n", what, rd_kafka_error_string(e));
    rd_kafka_error_destroy(e);
    return -1;
}

static int partitions_of(rd_kafka_t *rk, const char *topic)
{
    const rd_kafka_metadata_t *md = NULL;
    rd_kafka_topic_t *t = rd_kafka_topic_new(rk, topic, NULL);
    int n = -1;
    if (t && rd_kafka_metadata(rk, 0, t, &md, 10000) == RD_KAFKA_RESP_ERR_NO_ERROR &&
        md->topic_cnt == 1 && !md->topics[0].err)
        n = md->topics[0].partition_cnt;
    if (md)
        rd_kafka_metadata_destroy(md);
    if (t)
        rd_kafka_topic_destroy(t);
    return n;
}

static int produce(rd_kafka_t *p, const char *topic, int32_t part, const char *key,
                   const void *value, size_t len, rd_kafka_headers_t *hdrs)
{
    rd_kafka_resp_err_t err;
    rd_kafka_headers_t *h = hdrs ? rd_kafka_headers_copy(hdrs) : NULL;
    for (int tries = 0; tries < 100; tries++) {
        err = rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(part),
                                RD_KAFKA_V_KEY(key, key ? strlen(key) : 0),
                                RD_KAFKA_V_VALUE((void *)value, len),
                                RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                                h ? RD_KAFKA_V_HEADERS(h) : RD_KAFKA_V_END, RD_KAFKA_V_END);
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            break;
        rd_kafka_poll(p, 100);
    }
    if (err) {
        if (h)
            rd_kafka_headers_destroy(h);
        fprintf(stderr, PROG ": produce to %s[%d]: %s\n", topic, part, rd_kafka_err2str(err));
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {
        {"brokers", required_argument, NULL, 'b'}, {"from", required_argument, NULL, 'f'},
        {"to", required_argument, NULL, 't'},      {"count", required_argument, NULL, 'n'},
        {"txn", required_argument, NULL, 'k'},     {"poison", required_argument, NULL, 'p'},
        {"open", no_argument, NULL, 'o'},          {NULL, 0, NULL, 0}};
    const char *brokers = NULL, *from = NULL, *to = NULL;
    long count = -1, txn = 500, poison = 20;
    int open_last = 0, c;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case 'b': brokers = optarg; break;
        case 'f': from = optarg; break;
        case 't': to = optarg; break;
        case 'n': count = atol(optarg); break;
        case 'k': txn = atol(optarg); break;
        case 'p': poison = atol(optarg); break;
        case 'o': open_last = 1; break;
        default: return 2;
        }
    }
    if (!brokers || !from || !to || count < 0 || txn < 1 || poison < 0) {
        fprintf(stderr, "usage: " PROG " --brokers B --from T1 --to T2 --count N [--txn K] "
                        "[--poison M] [--open]\n");
        return 2;
    }

    kmsgs_t in = {0};
    kc_read_topic(brokers, from, (size_t)count, 60000, &in);
    if ((long)in.n != count) {
        fprintf(stderr, PROG ": read %zu records of %s, not %ld\n", in.n, from, count);
        return 1;
    }

    char err[512], tid[64];
    snprintf(tid, sizeof(tid), PROG "-%d", (int)getpid());
    const char *const kv[][2] = {{"bootstrap.servers", brokers},
                                 {"transactional.id", tid},
                                 {"transaction.timeout.ms", "60000"},
                                 {"linger.ms", "5"}};
    rd_kafka_t *p =
        kc_client_new(RD_KAFKA_PRODUCER, kv, sizeof(kv) / sizeof(kv[0]), NULL, NULL, err, sizeof(err));
    if (!p) {
        fprintf(stderr, PROG ": %s\n", err);
        return 1;
    }
    int nparts = partitions_of(p, to);
    if (nparts < 1 || check(rd_kafka_init_transactions(p, TXN_TIMEOUT_MS), "init_transactions")) {
        fprintf(stderr, PROG ": no partitions for %s, or no transactions\n", to);
        return 1;
    }

    long committed = 0, aborted = 0, npoison = 0;
    size_t i = 0;
    while (i < in.n) {
        if (check(rd_kafka_begin_transaction(p), "begin_transaction"))
            return 1;
        for (long k = 0; k < txn && i < in.n; k++, i++) {
            const kmsg_t *m = &in.v[i];
            if (produce(p, to, m->partition, m->key, m->value, m->value ? m->value_len : 0,
                        m->headers))
                return 1;
        }
        if (check(rd_kafka_commit_transaction(p, TXN_TIMEOUT_MS), "commit_transaction"))
            return 1;
        committed++;
        if (poison == 0)
            continue;
        if (check(rd_kafka_begin_transaction(p), "begin_transaction"))
            return 1;
        for (long k = 0; k < poison; k++, npoison++) {
            char id[64], v[160];
            snprintf(id, sizeof(id), "aborted-%d-%ld", (int)getpid(), npoison);
            int n = snprintf(v, sizeof(v), "{\"id\": \"%s\", \"account\": \"aborted\", \"amount\": 1000000}", id);
            if (produce(p, to, (int32_t)(npoison % nparts), "aborted", v, (size_t)n, NULL))
                return 1;
        }
        /* Written before the abort: aborting purges what is still queued,
         * and the log would hold no aborted records at all. */
        if (rd_kafka_flush(p, TXN_TIMEOUT_MS) != RD_KAFKA_RESP_ERR_NO_ERROR) {
            fprintf(stderr, PROG ": the poison records were not written\n");
            return 1;
        }
        if (open_last && i >= in.n) {
            printf("copied %zu records in %ld committed transactions; %ld poison records in %ld "
                   "aborted transactions and one open one\n",
                   in.n, committed, npoison - poison, aborted);
            fflush(stdout);
            pause(); /* the transaction stays open until the process is killed */
        }
        if (check(rd_kafka_abort_transaction(p, TXN_TIMEOUT_MS), "abort_transaction"))
            return 1;
        aborted++;
    }
    printf("copied %zu records in %ld committed transactions; %ld poison records in %ld aborted "
           "transactions\n",
           in.n, committed, npoison, aborted);
    rd_kafka_destroy(p);
    kc_msgs_free(&in);
    return 0;
}
