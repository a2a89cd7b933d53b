/*
 * eoc-ledger-gen - produces a ledger workload and its ground truth.
 *
 *   eoc-ledger-gen --brokers B --topic T --count N [--accounts A] [--dup-ratio R]
 *                  [--malformed K] [--seed S] [--expect FILE]
 *
 * N records in all: unique transfers {"id", "account", "amount"} with
 * random UUID-like IDs, a random account among A and a random non-zero
 * amount in [-1000, 1000]; about R of the well-formed records are re-sends
 * of an earlier transfer (same ID, same bytes) and K malformed records are
 * spread through the stream. Records are keyed by account, so a re-send
 * lands in its original's partition at a later offset. Everything random
 * comes from one seeded generator: the same seed gives the same records.
 *
 * The producer is idempotent with acks=all; any failed delivery makes the
 * exit status non-zero. --expect writes the ground truth as JSON:
 *   {"seed", "unique", "duplicates", "malformed", "records",
 *    "balances": {"<account>": <sum>, ...}, "malformed_ids": [...]}
 * with one balance per line ("  \"acct-00042\": -1234,") so that shell
 * scripts can read the balances without a JSON parser.
 */
#include "kclient.h"

#include <librdkafka/rdkafka.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PROG            "eoc-ledger-gen"
#define ID_LEN          36
#define AMOUNT_MAX      1000
#define FLUSH_MS        120000
#define MALFORMED_KINDS 6

typedef struct opts {
    const char *brokers, *topic, *expect;
    int64_t count, accounts, malformed;
    double dup_ratio;
    uint64_t seed;
} opts_t;

/* One unique transfer, kept to re-send it byte for byte. */
typedef struct transfer {
    char id[ID_LEN + 1];
    uint32_t account;
    int32_t amount;
} transfer_t;

typedef struct gen {
    const opts_t *o;
    uint64_t rng;
    rd_kafka_t *rk;
    transfer_t *t; /* unique transfers so far, owned */
    size_t nt;
    int64_t *balance; /* per account, owned */
    char **bad_ids;   /* IDs of malformed records that have one, owned */
    size_t nbad;
    int64_t duplicates, malformed, produced;
    int64_t failed; /* delivery reports with an error (written by the DR callback) */
} gen_t;

/* ------------------------------------------------------------------ */
/* randomness (splitmix64: small, seedable, good enough for workloads) */
/* ------------------------------------------------------------------ */

static uint64_t next_u64(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t below(uint64_t *s, uint64_t n)
{
    return n ? next_u64(s) % n : 0;
}

static double unit(uint64_t *s)
{
    return (double)(next_u64(s) >> 11) / 9007199254740992.0;
}

/* An 8-4-4-4-12 lower-case hex ID (version-4 look), NUL-terminated. */
static void make_id(uint64_t *s, char out[ID_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    uint64_t a = next_u64(s), b = next_u64(s);
    int k = 0;
    for (int i = 0; i < 32; i++) {
        if (i == 8 || i == 12 || i == 16 || i == 20)
            out[k++] = '-';
        uint64_t *w = i < 16 ? &a : &b;
        int nib = (int)(*w & 15);
        *w >>= 4;
        if (i == 12)
            nib = 4;
        else if (i == 16)
            nib = 8 | (nib & 3);
        out[k++] = hex[nib];
    }
    out[k] = 0;
}

static int account_name(char *buf, size_t n, uint32_t account)
{
    return snprintf(buf, n, "acct-%05" PRIu32, account);
}

/* ------------------------------------------------------------------ */
/* producing                                                           */
/* ------------------------------------------------------------------ */

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    gen_t *g = opaque;
    if (m->err) {
        if (g->failed++ < 5)
            fprintf(stderr, PROG ": delivery failed: %s\n", rd_kafka_err2str(m->err));
    }
}

static rd_kafka_t *producer_new(gen_t *g)
{
    char err[512];
    const char *const kv[][2] = {{"bootstrap.servers", g->o->brokers},
                                 {"enable.idempotence", "true"},
                                 {"acks", "all"},
                                 {"linger.ms", "20"},
                                 {"batch.num.messages", "10000"},
                                 {"batch.size", "1000000"},
                                 {"queue.buffering.max.messages", "1000000"},
                                 {"queue.buffering.max.kbytes", "1048576"},
                                 {"message.timeout.ms", "60000"}};
    rd_kafka_t *rk = kc_client_new(RD_KAFKA_PRODUCER, kv, sizeof(kv) / sizeof(kv[0]), on_delivery,
                                   g, err, sizeof(err));
    if (!rk)
        fprintf(stderr, PROG ": %s\n", err);
    return rk;
}

/* Enqueues one record (copied), waiting while the local queue is full. */
static int produce_one(gen_t *g, const char *key, const char *value, int len)
{
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            g->rk, RD_KAFKA_V_TOPIC(g->o->topic), RD_KAFKA_V_KEY(key, strlen(key)),
            RD_KAFKA_V_VALUE((void *)value, (size_t)len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            g->produced++;
            rd_kafka_poll(g->rk, 0);
            return 0;
        }
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            fprintf(stderr, PROG ": produce: %s\n", rd_kafka_err2str(err));
            return -1;
        }
        rd_kafka_poll(g->rk, 50);
    }
}

/* ------------------------------------------------------------------ */
/* records                                                             */
/* ------------------------------------------------------------------ */

static int transfer_json(const transfer_t *t, char *buf, size_t n)
{
    char acct[32];
    account_name(acct, sizeof(acct), t->account);
    return snprintf(buf, n, "{\"id\":\"%s\",\"account\":\"%s\",\"amount\":%" PRId32 "}", t->id,
                    acct, t->amount);
}

static int send_transfer(gen_t *g, const transfer_t *t)
{
    char acct[32], val[160];
    account_name(acct, sizeof(acct), t->account);
    return produce_one(g, acct, val, transfer_json(t, val, sizeof(val)));
}

static int new_transfer(gen_t *g)
{
    transfer_t *t = &g->t[g->nt++];
    make_id(&g->rng, t->id);
    t->account = (uint32_t)below(&g->rng, (uint64_t)g->o->accounts);
    int32_t a = (int32_t)below(&g->rng, 2 * AMOUNT_MAX) - AMOUNT_MAX; /* [-1000, 999] */
    t->amount = a >= 0 ? a + 1 : a;                                   /* no 0, up to 1000 */
    g->balance[t->account] += t->amount;
    return send_transfer(g, t);
}

static int resend(gen_t *g)
{
    g->duplicates++;
    return send_transfer(g, &g->t[below(&g->rng, g->nt)]);
}

/* Malformed record number `j`, of kind j % MALFORMED_KINDS. */
static int send_malformed(gen_t *g, int64_t j)
{
    char id[ID_LEN + 1], acct[32], val[200];
    make_id(&g->rng, id);
    account_name(acct, sizeof(acct), (uint32_t)below(&g->rng, (uint64_t)g->o->accounts));
    int kind = (int)(j % MALFORMED_KINDS), n;
    switch (kind) {
    case 0:
        n = snprintf(val, sizeof(val), "this is not JSON #%" PRId64, j);
        break;
    case 1:
        n = snprintf(val, sizeof(val), "{\"account\":\"%s\",\"amount\":5}", acct);
        break;
    case 2:
        n = snprintf(val, sizeof(val), "{\"id\":\"%s\",\"account\":\"%s\"}", id, acct);
        break;
    case 3:
        n = snprintf(val, sizeof(val), "{\"id\":\"%s\",\"account\":\"%s\",\"amount\":1.5}", id,
                     acct);
        break;
    case 4:
        n = snprintf(val, sizeof(val), "{\"id\":\"%s\",\"account\":\"%s\",\"amount\":\"10\"}", id,
                     acct);
        break;
    default:
        n = snprintf(val, sizeof(val), "{\"id\":\"%s\",\"account\":\"\",\"amount\":7}", id);
        break;
    }
    if (kind >= 2 && !(g->bad_ids[g->nbad++] = strdup(id)))
        return -1;
    g->malformed++;
    return produce_one(g, acct, val, n);
}

/* Produces the whole stream: K malformed records, one in each of K equal
 * stretches at a random place, and well-formed records around them. */
static int generate(gen_t *g)
{
    const opts_t *o = g->o;
    int64_t k = o->malformed, n = o->count;
    int64_t stretch = k ? n / k : 0, next_bad = -1, j = 0;
    for (int64_t i = 0; i < n; i++) {
        if (j < k && next_bad < 0)
            next_bad = j * stretch + (int64_t)below(&g->rng, (uint64_t)stretch);
        int rc;
        if (i == next_bad) {
            rc = send_malformed(g, j++);
            next_bad = -1;
        } else if (g->nt && unit(&g->rng) < o->dup_ratio) {
            rc = resend(g);
        } else {
            rc = new_transfer(g);
        }
        if (rc)
            return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* ground truth                                                        */
/* ------------------------------------------------------------------ */

static int write_expect(const gen_t *g, const char *path)
{
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        fprintf(stderr, PROG ": %s: %s\n", tmp, strerror(errno));
        return -1;
    }
    fprintf(f,
            "{\"seed\": %" PRIu64 ", \"unique\": %zu, \"duplicates\": %" PRId64
            ", \"malformed\": %" PRId64 ", \"records\": %" PRId64 ",\n \"balances\": {",
            g->o->seed, g->nt, g->duplicates, g->malformed, g->produced);
    const char *sep = "";
    char *used = calloc((size_t)g->o->accounts, 1);
    for (size_t i = 0; used && i < g->nt; i++)
        used[g->t[i].account] = 1;
    for (int64_t a = 0; used && a < g->o->accounts; a++) {
        char acct[32];
        if (!used[a])
            continue;
        account_name(acct, sizeof(acct), (uint32_t)a);
        fprintf(f, "%s\n  \"%s\": %" PRId64, sep, acct, g->balance[a]);
        sep = ",";
    }
    fprintf(f, "\n },\n \"malformed_ids\": [");
    for (size_t i = 0; i < g->nbad; i++)
        fprintf(f, "%s\"%s\"", i ? ", " : "", g->bad_ids[i]);
    fprintf(f, "]}\n");
    int bad = !used || ferror(f);
    free(used);
    if (fclose(f) != 0 || bad || rename(tmp, path) != 0) {
        fprintf(stderr, PROG ": cannot write %s\n", path);
        remove(tmp);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* command line                                                        */
/* ------------------------------------------------------------------ */

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: " PROG " --brokers B --topic T --count N [--accounts A] [--dup-ratio R]\n"
            "                      [--malformed K] [--seed S] [--expect FILE]\n\n"
            "Produces N ledger records to T: unique transfers {\"id\", \"account\", \"amount\"}\n"
            "(random 36-character IDs, one of A accounts, amount in [-1000, 1000] but not 0),\n"
            "about R of the well-formed records re-sent (same ID, same bytes) later, and K\n"
            "malformed records (not JSON, no id, no amount, amount 1.5, amount \"10\", empty\n"
            "account). Keys are accounts. Idempotent producer, acks=all.\n\n"
            "  -b, --brokers B      bootstrap servers\n"
            "  -t, --topic T        topic to produce to\n"
            "  -n, --count N        records in all\n"
            "  -a, --accounts A     number of accounts (default 1000)\n"
            "  -d, --dup-ratio R    share of re-sends among well-formed records (default 0.10)\n"
            "  -m, --malformed K    malformed records (default 20)\n"
            "  -s, --seed S         random seed (default: from the clock; always printed)\n"
            "  -e, --expect FILE    write the ground truth as JSON\n"
            "  -h, --help           this text\n\n"
            "Exit status: 0 when every record was delivered, 1 otherwise, 2 on usage errors.\n");
}

static int parse_num(const char *s, int64_t lo, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo)
        return -1;
    *out = v;
    return 0;
}

static int parse_args(int argc, char **argv, opts_t *o)
{
    static const struct option lo[] = {{"brokers", required_argument, NULL, 'b'},
                                       {"topic", required_argument, NULL, 't'},
                                       {"count", required_argument, NULL, 'n'},
                                       {"accounts", required_argument, NULL, 'a'},
                                       {"dup-ratio", required_argument, NULL, 'd'},
                                       {"malformed", required_argument, NULL, 'm'},
                                       {"seed", required_argument, NULL, 's'},
                                       {"expect", required_argument, NULL, 'e'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
    *o = (opts_t){.accounts = 1000,
                  .malformed = 20,
                  .dup_ratio = 0.10,
                  .count = -1,
                  .seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20)};
    int c, bad = 0;
    int64_t seed;
    char *end;
    while ((c = getopt_long(argc, argv, "b:t:n:a:d:m:s:e:h", lo, NULL)) != -1) {
        switch (c) {
        case 'b':
            o->brokers = optarg;
            break;
        case 't':
            o->topic = optarg;
            break;
        case 'e':
            o->expect = optarg;
            break;
        case 'n':
            bad |= parse_num(optarg, 1, &o->count);
            break;
        case 'a':
            bad |= parse_num(optarg, 1, &o->accounts);
            break;
        case 'm':
            bad |= parse_num(optarg, 0, &o->malformed);
            break;
        case 's':
            bad |= parse_num(optarg, 0, &seed);
            o->seed = (uint64_t)seed;
            break;
        case 'd':
            o->dup_ratio = strtod(optarg, &end);
            bad |= *end || end == optarg || o->dup_ratio < 0 || o->dup_ratio >= 1;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            bad = 1;
        }
    }
    if (bad || optind != argc || !o->brokers || !o->topic || o->count < 1 ||
        o->malformed > o->count || o->accounts > 99999) {
        fprintf(stderr, PROG ": bad or missing arguments (need --brokers, --topic, --count; "
                             "--malformed <= --count; --accounts <= 99999)\n");
        usage(stderr);
        return -1;
    }
    return 0;
}

static void gen_free(gen_t *g)
{
    if (g->rk)
        rd_kafka_destroy(g->rk);
    for (size_t i = 0; i < g->nbad; i++)
        free(g->bad_ids[i]);
    free(g->bad_ids);
    free(g->t);
    free(g->balance);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    opts_t o;
    if (parse_args(argc, argv, &o))
        return 2;
    fprintf(stderr, PROG ": seed %" PRIu64 " (--seed %" PRIu64 " replays this workload)\n", o.seed,
            o.seed);
    gen_t g = {.o = &o, .rng = o.seed};
    g.t = malloc((size_t)o.count * sizeof(*g.t));
    g.balance = calloc((size_t)o.accounts, sizeof(*g.balance));
    g.bad_ids = calloc((size_t)o.malformed + 1, sizeof(*g.bad_ids));
    if (!g.t || !g.balance || !g.bad_ids || !(g.rk = producer_new(&g))) {
        gen_free(&g);
        return 1;
    }
    double t0 = now_s();
    int rc = generate(&g);
    rd_kafka_resp_err_t ferr = rd_kafka_flush(g.rk, FLUSH_MS);
    double secs = now_s() - t0;
    if (ferr)
        fprintf(stderr, PROG ": flush: %s (%d records undelivered)\n", rd_kafka_err2str(ferr),
                rd_kafka_outq_len(g.rk));
    if (!rc && o.expect)
        rc = write_expect(&g, o.expect);
    printf("%" PRId64 " records to %s (%zu unique, %" PRId64 " duplicates, %" PRId64
           " malformed) in %.2f s, %.0f records/s, %" PRId64 " delivery failures, seed %" PRIu64
           "\n",
           g.produced, o.topic, g.nt, g.duplicates, g.malformed, secs,
           secs > 0 ? (double)g.produced / secs : 0.0, g.failed, o.seed);
    int ok = !rc && !ferr && !g.failed && g.produced == o.count;
    gen_free(&g);
    return ok ? 0 : 1;
}
