/*
 * eoc_bench.c - what exactly-once costs, end to end, in one run.
 *
 * One development Kafka (eoc-kafka-dev, the librdkafka mock cluster in its
 * own process), or with --bootstrap an Apache Kafka cluster that is
 * already running (bench/run.sh --broker real starts one node with
 * scripts/real-kafka.sh), holds one pre-produced input topic: --records records of
 * 100-byte values, each with a random 36-character `message-id` header,
 * spread evenly over 32 partitions. Every mode reads all of it with a fresh
 * consumer group:
 *
 *   A      plain librdkafka high-level consumer, enable.auto.commit=true
 *          (at-least-once, no outputs): the baseline;
 *   B1000  librdkafka consume-transform-produce transactions (Kafka's own
 *   B100   exactly-once): one output per input, offsets sent to the
 *          transaction, a commit every 1000 / 100 records (with a delivery
 *          report callback, as applications have: without one,
 *          commit_transaction's flush polls in 10 ms steps);
 *   C1M    the eoc worker (public API) with a handler that emits one output
 *   C10M   per input, durable LMDB commits, relay on, in a store whose inbox
 *          already holds 1M / 10M earlier IDs (pre-filled through the
 *          internal store API, once, then copied per repetition);
 *   D      the eoc worker with a handler that emits nothing (1M earlier IDs);
 *   K      the eoc worker in eos.mode=kafka (a Kafka transaction per batch
 *          commits its outputs, the changelog of its inbox writes and the
 *          consumed offsets): C1M's handler and settings, but an EMPTY store
 *          and changelog, as B1000 starts with no state (a pre-filled store
 *          of this mode would be a changelog to restore first: R measures
 *          that). Outputs commit in the transaction of their input's
 *          disposition: counted as applied, not by delivery report;
 *   R      restore throughput: once per run, an eos.mode=kafka worker
 *          consumes --restore-records records of a 1-partition topic
 *          (bench-restore), putting one state key per record (its ID ->
 *          its value), so changelog partition 0 holds N inbox IDs and N
 *          state keys as that mode writes them; then each repetition starts
 *          a fresh worker of that group on an EMPTY data directory, which
 *          restores the partition on assignment (changelog.c, the worker's
 *          own code path). Time runs from the restore's start to its last
 *          LMDB commit (the worker's restore counters); it prints records/s
 *          and MiB/s (changelog keys and values) and compares the restore's
 *          time with the time consuming the N records took.
 *
 * K and R need Apache Kafka (--bootstrap): the development Kafka does not
 * keep the offsets of transactions (TxnOffsetCommit) nor filter aborted
 * records, so they are skipped on it with a one-line reason; with
 * --bootstrap they are in the default mode set.
 *
 * Each repetition of each mode runs in a forked child process, so CPU time
 * (user + system of that process, all its threads) and peak RSS (VmHWM)
 * are per mode; the dev Kafka's own CPU is not included. Timing starts at
 * the first record received and ends when every record has its outcome
 * (A: consumed; B: its transaction committed; C/D: disposition committed
 * and the outbox drained). Outputs copy the input's value into the same
 * partition of a new topic per mode and repetition. The run FAILS when a
 * mode gets fewer records than were produced or the dev Kafka dropped any
 * input record (`retention`); outputs are counted by delivery report.
 *
 * Nothing here asserts on time: it prints medians and ratios, ending with
 *   summary: C/A=<r> C/B1000=<r> C/B100=<r> growth10M/1M=<r> D/A=<r> cpuC/cpuB1000=<r>
 * (with K selected, then K/B1000=<r>, K's throughput over B1000's) where
 * C/X and D/A are throughput ratios (records/s, higher is better: the
 * bar is C/A >= 0.3 and C/B >= 0.8), growth10M/1M is C's cost per record
 * with 10M earlier IDs over its cost with 1M (flat is 1.0), and
 * cpuC/cpuB1000 is C's CPU per record over B1000's (lower is better).
 * Before it, eoc's CPU per record by stage (stages.h), and with R a
 * `restore:` line.
 */
#include "devkafka.h"
#include "eoc/eoc.h"
#include "kclient.h"
#include "prefill.h"
#include "store.h"
#include "metrics.h"
#include "stages.h"
#include "txn.h"

#include <librdkafka/rdkafka.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <pthread.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PARTITIONS      32
#define VALUE_LEN       100
#define IN_TOPIC        "bench-in"
#define EARLIER_TOPIC   "bench-earlier" /* source of pre-filled IDs; never consumed */
#define MAP_SIZE        (8ull << 30)    /* the worker's default store.map.size */
#define STALL_S         60.0            /* a mode fails after this long without progress */
#define WATCH_MS        5               /* eoc stats polling interval */
#define JOIN_S          30              /* longest wait for a stopped worker */
#define REPLY_CAP       65536
#define MAX_REPS        50
#define DEFAULT_RECORDS 1000000
#define RECORD_BYTES    256          /* a record as the dev Kafka keeps it, at most */
#define PARTITION_KEEP  (5ull << 20) /* the dev Kafka keeps ~5 MiB per partition */
#define KAFKA_BUDGET    (4ull << 30) /* restart the dev Kafka before it holds more */
#define QUICK_RECORDS   200000
#define RESTORE_TOPIC   "bench-restore" /* R's input: one partition, one changelog partition */
#define RESTORE_GROUP   "bench-R"       /* R's group: changelog bench-R.bench-restore.changelog */

extern char **environ;

/* ------------------------------------------------------------------ */
/* modes                                                               */
/* ------------------------------------------------------------------ */

enum kind { KIND_PLAIN, KIND_TXN, KIND_EOC, KIND_RESTORE };

struct mode {
    const char *name; /* --modes token */
    enum kind kind;
    int txn_records; /* KIND_TXN: records per transaction */
    size_t prefill;  /* KIND_EOC: earlier IDs already in the inbox (0: an empty store) */
    int emit;        /* outputs per input (0 or 1) */
    int state;       /* state keys put per input (0 or 1) */
    const char *eos; /* eoc's eos.mode; NULL: its default (local). "kafka" needs --bootstrap */
    const char *what;
};

static const struct mode modes[] = {
    {"A", KIND_PLAIN, 0, 0, 0, 0, NULL,
     "librdkafka consumer, enable.auto.commit=true (at-least-once)"},
    {"B1000", KIND_TXN, 1000, 0, 1, 0, NULL,
     "librdkafka transactions, 1 output/record, commit every 1000"},
    {"B100", KIND_TXN, 100, 0, 1, 0, NULL,
     "librdkafka transactions, 1 output/record, commit every 100"},
    {"C1M", KIND_EOC, 0, 1000000, 1, 0, NULL,
     "eoc worker, 1 output/record, relay, inbox holds 1M IDs"},
    {"C10M", KIND_EOC, 0, 10000000, 1, 0, NULL,
     "eoc worker, 1 output/record, relay, inbox holds 10M IDs"},
    {"D", KIND_EOC, 0, 1000000, 0, 0, NULL,
     "eoc worker, no output, inbox holds 1M IDs"},
    {"K", KIND_EOC, 0, 0, 1, 0, "kafka",
     "eoc worker, eos.mode=kafka, 1 output/record, empty store"},
    {"R", KIND_RESTORE, 0, 0, 0, 1, "kafka",
     "eos.mode=kafka restore of 1 changelog partition, empty store"},
};
#define NMODES ((int)(sizeof(modes) / sizeof(modes[0])))

static int mode_index(const char *name)
{
    for (int i = 0; i < NMODES; i++)
        if (strcmp(modes[i].name, name) == 0)
            return i;
    return -1;
}

/* ------------------------------------------------------------------ */
/* options                                                             */
/* ------------------------------------------------------------------ */

/* Command-line settings; strings are borrowed (argv, environ, main's buffer). */
#define MAX_SETS 32

struct opts {
    size_t records;
    size_t restore_records; /* R: input records, so 2x changelog records */
    int reps;
    unsigned modes; /* bit i: modes[i] */
    uint64_t seed;
    const char *parent;    /* where the work directory goes */
    const char *kafka_dev; /* eoc-kafka-dev executable */
    const char *bootstrap; /* a real cluster instead (--bootstrap) */
    const char *sets[MAX_SETS]; /* --set KEY=VALUE for the eoc worker (argv) */
    int nsets;
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: eoc-bench [--records N] [--reps N] [--modes LIST] [--quick] [--seed S]\n"
            "                 [--dir PARENT] [--kafka-dev PATH | --bootstrap HOST:PORT]\n"
            "                 [--set KEY=VALUE]... [--restore-records N]\n"
            "  --records N      input records (default %d; --quick: %d)\n"
            "  --reps N         repetitions per mode, medians are printed (default 3; --quick: 1)\n"
            "  --modes LIST     comma-separated subset of A,B1000,B100,C1M,C10M,D,K,R (default\n"
            "                   all; K and R only with --bootstrap, skipped without it)\n"
            "                   K: C1M's workload in eos.mode=kafka, from an empty store and\n"
            "                   changelog (as B1000 starts with no state)\n"
            "                   R: a fresh eos.mode=kafka worker on an empty store restores one\n"
            "                   changelog partition of N inbox IDs and N state keys; compared\n"
            "                   with the time consuming the N records took\n"
            "  --restore-records N  R's records (default %d; --quick: %d)\n"
            "  --quick          a short run: %d records, 1 repetition (explicit flags win)\n"
            "  --seed S         ID and value generator seed (default from the clock)\n"
            "  --dir PARENT     where the temporary work directory goes (default /tmp)\n"
            "  --kafka-dev PATH the eoc-kafka-dev executable (default $EOC_KAFKA_DEV, then\n"
            "                   ../tools/kafka-dev/eoc-kafka-dev next to this program)\n"
            "  --bootstrap H:P  a running Apache Kafka cluster instead, with no topic\n"
            "                   bench-in yet (bench/run.sh --broker real starts one)\n"
            "  --set KEY=VALUE  an eoc configuration setting for C, D, K and R, e.g.\n"
            "                   --set batch.max.records=5000 (default: eoc's defaults)\n",
            DEFAULT_RECORDS, QUICK_RECORDS, DEFAULT_RECORDS, QUICK_RECORDS, QUICK_RECORDS);
}

static int parse_modes(const char *list, unsigned *out)
{
    char buf[256];
    char *save = NULL;
    snprintf(buf, sizeof(buf), "%s", list);
    *out = 0;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        int i = mode_index(t);
        if (i < 0) {
            fprintf(stderr, "eoc-bench: unknown mode '%s' (A,B1000,B100,C1M,C10M,D,K,R)\n", t);
            return -1;
        }
        *out |= 1u << i;
    }
    return *out ? 0 : -1;
}

static int parse_count(const char *s, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max) {
        fprintf(stderr, "eoc-bench: '%s' is not a number in %ld..%ld\n", s, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

/* The dev Kafka next to this program: <dir of exe>/../tools/kafka-dev/. */
static const char *sibling_kafka_dev(char *buf, size_t size)
{
    char self[PATH_MAX - 64];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0)
        return NULL;
    self[n] = 0;
    char *slash = strrchr(self, '/');
    if (!slash)
        return NULL;
    *slash = 0;
    snprintf(buf, size, "%s/../tools/kafka-dev/eoc-kafka-dev", self);
    return access(buf, X_OK) == 0 ? buf : NULL;
}

/* Without --bootstrap, drops the eos.mode=kafka modes from o->modes: named
 * ones with a one-line reason. Returns -1 when no mode is left. */
static int drop_kafka_modes(struct opts *o, int named)
{
    for (int i = 0; i < NMODES; i++) {
        if (!modes[i].eos || !(o->modes >> i & 1u))
            continue;
        o->modes &= ~(1u << i);
        if (named)
            printf("eoc-bench: mode %s skipped: eos.mode=kafka needs Apache Kafka (--bootstrap); "
                   "the development Kafka drops transactions' offsets and keeps aborted records\n",
                   modes[i].name);
    }
    if (!o->modes)
        fprintf(stderr, "eoc-bench: no mode left to run\n");
    return o->modes ? 0 : -1;
}

/* Returns 0, 1 after --help, -1 on a bad command line. */
static int parse_opts(int argc, char **argv, struct opts *o, char *exe_buf, size_t exe_size)
{
    long records = -1, reps = -1, restore = -1, v;
    int quick = 0, named = 0;
    o->modes = (1u << NMODES) - 1;
    o->seed = (uint64_t)time(NULL);
    o->parent = "/tmp";
    o->kafka_dev = getenv("EOC_KAFKA_DEV");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 1;
        } else if (strcmp(a, "--quick") == 0) {
            quick = 1;
            continue;
        } else if (!val) {
            usage(stderr);
            return -1;
        }
        i++;
        if (strcmp(a, "--records") == 0) {
            if (parse_count(val, PARTITIONS, 100000000, &records))
                return -1;
        } else if (strcmp(a, "--reps") == 0) {
            if (parse_count(val, 1, MAX_REPS, &reps))
                return -1;
        } else if (strcmp(a, "--modes") == 0) {
            if (parse_modes(val, &o->modes))
                return -1;
            named = 1;
        } else if (strcmp(a, "--restore-records") == 0) {
            if (parse_count(val, 1, 100000000, &restore))
                return -1;
        } else if (strcmp(a, "--seed") == 0) {
            if (parse_count(val, 0, LONG_MAX, &v))
                return -1;
            o->seed = (uint64_t)v;
        } else if (strcmp(a, "--dir") == 0) {
            o->parent = val;
        } else if (strcmp(a, "--kafka-dev") == 0) {
            o->kafka_dev = val;
        } else if (strcmp(a, "--bootstrap") == 0) {
            o->bootstrap = val;
        } else if (strcmp(a, "--set") == 0 && strchr(val, '=') && o->nsets < MAX_SETS) {
            o->sets[o->nsets++] = val;
        } else {
            usage(stderr);
            return -1;
        }
    }
    o->records = (size_t)(records > 0 ? records : quick ? QUICK_RECORDS : DEFAULT_RECORDS);
    o->restore_records =
        (size_t)(restore > 0 ? restore : quick ? QUICK_RECORDS : DEFAULT_RECORDS);
    o->reps = (int)(reps > 0 ? reps : quick ? 1 : 3);
    if (o->bootstrap)
        return 0;
    if (drop_kafka_modes(o, named) != 0)
        return -1;
    if (!o->kafka_dev || !*o->kafka_dev)
        o->kafka_dev = sibling_kafka_dev(exe_buf, exe_size);
    if (!o->kafka_dev) {
        fprintf(stderr,
                "eoc-bench: no eoc-kafka-dev: pass --kafka-dev PATH or set EOC_KAFKA_DEV\n");
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* measuring                                                           */
/* ------------------------------------------------------------------ */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* CPU seconds and minor page faults of this process so far. */
static double cpu_s(long *minflt)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    *minflt = ru.ru_minflt;
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* Peak resident set of this process in KiB (VmHWM), 0 when unknown. */
static long peak_rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = 0;
    while (f && fgets(line, sizeof(line), f))
        if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb;
}

/* What a child reports to the parent (through a pipe). */
struct result {
    int ok;
    char err[512];
    uint64_t records; /* input records that got their outcome */
    uint64_t outputs; /* output records delivered */
    uint64_t bytes;   /* produce: payload bytes */
    double wall_s, cpu_s, open_s;
    long minflt;      /* minor page faults while measured */
    uint64_t batches; /* eoc: batches committed while measured */
    double commit_s;  /* eoc: time spent in those durable LMDB commits */
    double stage_s[EOC__STAGE_N]; /* eoc: time per stage while measured (stages.h) */
    long rss_kb;
};

static void fail(struct result *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct result *r, const char *fmt, ...)
{
    if (!r->ok && r->err[0])
        return; /* keep the first reason */
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err, sizeof(r->err), fmt, ap);
    va_end(ap);
    r->ok = 0;
}

/* Wall clock and CPU time of the measured section. */
struct meter {
    int started;
    double t0, c0;
    long f0;
};

static void meter_start(struct meter *m)
{
    m->started = 1;
    m->t0 = now_s();
    m->c0 = cpu_s(&m->f0);
}

static void meter_stop(const struct meter *m, struct result *r)
{
    r->wall_s = now_s() - m->t0;
    r->cpu_s = cpu_s(&r->minflt) - m->c0;
    r->minflt -= m->f0;
    if (r->wall_s <= 0)
        r->wall_s = 1e-9; /* a rate, never a division by zero */
}

/* No progress for STALL_S seconds: a lost record or a stuck client. */
struct stall {
    uint64_t seen;
    double since;
};

static int stalled(struct stall *s, uint64_t progress)
{
    double t = now_s();
    if (progress != s->seen || s->since == 0) {
        s->seen = progress;
        s->since = t;
        return 0;
    }
    return t - s->since > STALL_S;
}

/* ------------------------------------------------------------------ */
/* jobs run in a child process                                         */
/* ------------------------------------------------------------------ */

/* Everything a child needs; filled by the parent before fork. */
struct job {
    const struct mode *m;   /* static table entry; NULL for produce/prefill */
    const char *bootstraps; /* borrowed from the devkafka handle */
    const char *in_topic;   /* static: IN_TOPIC, or RESTORE_TOPIC for R */
    int partitions;         /* produce: of in_topic */
    char group[64], out_topic[64], tid[96];
    char dir[PATH_MAX];
    size_t records;
    uint64_t seed;
    int64_t high[PARTITIONS]; /* input end offset per partition */
    const struct opts *opts;  /* --set settings for C and D */
};

struct deliveries {
    uint64_t ok, failed;
    rd_kafka_resp_err_t first_err;
};

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    struct deliveries *d = opaque;
    if (m->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        d->ok++;
    } else if (!d->failed++) {
        d->first_err = m->err;
    }
}

/* A client of type `type` with settings kv, delivery reports counted in dr
 * (NULL: none); NULL with the reason in r. */
static rd_kafka_t *new_client(rd_kafka_type_t type, const char *const (*kv)[2], size_t n,
                              struct deliveries *dr, struct result *r)
{
    char err[512];
    rd_kafka_t *rk = kc_client_new(type, kv, n, dr ? on_delivery : NULL, dr, err, sizeof(err));
    if (!rk)
        fail(r, "librdkafka client: %s", err);
    return rk;
}

/* ---- produce the input --------------------------------------------- */

/* 100 random hex characters. */
static void make_value(uint64_t *rng, char *out)
{
    static const char hex[] = "0123456789abcdef";
    uint64_t v = 0;
    for (int i = 0; i < VALUE_LEN; i++) {
        if (i % 16 == 0)
            v = bench_rand(rng);
        out[i] = hex[v & 15];
        v >>= 4;
    }
}

static int produce_one(rd_kafka_t *p, const char *topic, int32_t partition, const char *value,
                       const char *id)
{
    for (;;) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(partition),
            RD_KAFKA_V_VALUE((void *)value, VALUE_LEN), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_HEADER("message-id", id, BENCH_ID_LEN), RD_KAFKA_V_END);
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            return e == RD_KAFKA_RESP_ERR_NO_ERROR ? 0 : -1;
        rd_kafka_poll(p, 10);
    }
}

/* Produces j->records records to j->in_topic, round-robin over its
 * j->partitions partitions. */
static void job_produce(const struct job *j, struct result *r)
{
    const char *const kv[][2] = {
        {"bootstrap.servers", j->bootstraps},
        {"enable.idempotence", "true"},
        {"linger.ms", "50"},
        {"batch.num.messages", "100000"},
        {"queue.buffering.max.messages", "1000000"},
    };
    struct deliveries d = {0};
    rd_kafka_t *p = new_client(RD_KAFKA_PRODUCER, kv, sizeof(kv) / sizeof(kv[0]), &d, r);
    if (!p)
        return;
    uint64_t rng = j->seed;
    char id[BENCH_ID_LEN], value[VALUE_LEN];
    struct meter mt;
    meter_start(&mt);
    for (size_t i = 0; i < j->records && r->ok; i++) {
        bench_make_id(&rng, id);
        make_value(&rng, value);
        if (produce_one(p, j->in_topic, (int32_t)(i % (size_t)j->partitions), value, id) != 0)
            fail(r, "produce failed at record %zu", i);
        if (i % 10000 == 0)
            rd_kafka_poll(p, 0);
    }
    if (rd_kafka_flush(p, 120000) != RD_KAFKA_RESP_ERR_NO_ERROR)
        fail(r, "flush timed out");
    meter_stop(&mt, r);
    if (d.failed)
        fail(r, "%" PRIu64 " deliveries failed: %s", d.failed, rd_kafka_err2str(d.first_err));
    r->records = d.ok;
    r->bytes = d.ok * (VALUE_LEN + BENCH_ID_LEN);
    rd_kafka_destroy(p);
}

/* ---- pre-fill an inbox --------------------------------------------- */

static void job_prefill(const struct job *j, struct result *r)
{
    eoc__store_t *s;
    char err[512];
    if (eoc__store_open(j->dir, MAP_SIZE, 0, NULL, &s, err, sizeof(err)) != EOC_OK) {
        fail(r, "%s", err);
        return;
    }
    int64_t next[PARTITIONS] = {0};
    bench_target_t t = {EARLIER_TOPIC, PARTITIONS, next};
    uint64_t rng = j->seed;
    size_t dups = 0;
    const char *what = "";
    struct meter mt;
    meter_start(&mt);
    eoc_err_t e = bench_prefill(s, &t, j->records, &rng, &dups, &what);
    meter_stop(&mt, r);
    if (e != EOC_OK)
        fail(r, "prefill: %s: %s", what, eoc_strerror(e));
    r->records = j->records - dups;
    eoc__store_close(s);
}

/* ---- A and B: librdkafka consumers --------------------------------- */

/* Which input records have been seen, by per-partition position. */
struct progress {
    int64_t next[PARTITIONS];
    const int64_t *high;
    int left; /* partitions not yet at their end */
    uint64_t msgs;
};

static void progress_init(struct progress *pg, const int64_t *high)
{
    memset(pg, 0, sizeof(*pg));
    pg->high = high;
    for (int p = 0; p < PARTITIONS; p++)
        pg->left += high[p] > 0;
}

/* Counts m; returns 1 once every partition reached its end. */
static int progress_add(struct progress *pg, const rd_kafka_message_t *m)
{
    int32_t p = m->partition;
    pg->msgs++;
    if (p >= 0 && p < PARTITIONS && m->offset + 1 > pg->next[p]) {
        int was_short = pg->next[p] < pg->high[p];
        pg->next[p] = m->offset + 1;
        if (was_short && pg->next[p] >= pg->high[p])
            pg->left--;
    }
    return pg->left == 0;
}

static rd_kafka_t *new_consumer(const struct job *j, int auto_commit, struct result *r)
{
    const char *const kv[][2] = {
        {"bootstrap.servers", j->bootstraps},
        {"group.id", j->group},
        {"auto.offset.reset", "earliest"},
        {"enable.auto.commit", auto_commit ? "true" : "false"},
        {"enable.partition.eof", "false"},
        {"isolation.level", "read_committed"},
        /* eoc's consumer default, for a like-for-like comparison: B pauses
         * polling while it commits, as eoc does (see lib/src/worker.c) */
        {"queued.min.messages", "1000000"},
    };
    rd_kafka_t *c = new_client(RD_KAFKA_CONSUMER, kv, sizeof(kv) / sizeof(kv[0]), NULL, r);
    if (!c)
        return NULL;
    rd_kafka_poll_set_consumer(c);
    rd_kafka_topic_partition_list_t *sub = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(sub, IN_TOPIC, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(c, sub);
    rd_kafka_topic_partition_list_destroy(sub);
    if (e) {
        fail(r, "subscribe: %s", rd_kafka_err2str(e));
        rd_kafka_destroy(c);
        return NULL;
    }
    return c;
}

/* The next input record, or NULL after a poll timeout or a failure. */
static rd_kafka_message_t *next_record(rd_kafka_t *c, struct stall *st, uint64_t progress,
                                       struct result *r)
{
    rd_kafka_message_t *m = rd_kafka_consumer_poll(c, 100);
    if (m && m->err) {
        if (m->err == RD_KAFKA_RESP_ERR__FATAL)
            fail(r, "consumer: %s", rd_kafka_message_errstr(m));
        rd_kafka_message_destroy(m);
        m = NULL;
    }
    if (!m && stalled(st, progress))
        fail(r, "no input for %.0f s after %" PRIu64 " records", STALL_S, progress);
    return m;
}

/* Leaves the group and frees c; after a failure (perhaps a dead broker,
 * where closing blocks) nothing is torn down: the child exits anyway. */
static void close_consumer(rd_kafka_t *c, const struct result *r)
{
    if (!r->ok)
        return;
    rd_kafka_consumer_close(c);
    rd_kafka_destroy(c);
}

/* A: consume everything, auto commit. */
static void job_plain(const struct job *j, struct result *r)
{
    rd_kafka_t *c = new_consumer(j, 1, r);
    if (!c)
        return;
    struct progress pg;
    struct stall st = {0};
    struct meter mt = {0};
    uint64_t value_bytes = 0;
    progress_init(&pg, j->high);
    int done = pg.left == 0;
    while (!done && r->ok) {
        rd_kafka_message_t *m = next_record(c, &st, pg.msgs, r);
        if (!m)
            continue;
        if (!mt.started)
            meter_start(&mt);
        value_bytes += m->len;
        done = progress_add(&pg, m);
        rd_kafka_message_destroy(m);
    }
    if (mt.started)
        meter_stop(&mt, r);
    r->records = pg.msgs;
    r->bytes = value_bytes;
    close_consumer(c, r);
}

/* B's state: the consumer, the transactional producer, the open
 * transaction's offsets. */
struct txn {
    rd_kafka_t *c, *p;        /* owned: consumer, transactional producer */
    const char *out_topic;    /* borrowed from the job */
    int64_t next[PARTITIONS]; /* -1: not touched by the open transaction */
    int in_txn;
    uint64_t outputs;     /* in committed transactions */
    struct deliveries dr; /* the producer's delivery reports */
};

static int txn_error(struct result *r, const char *what, rd_kafka_error_t *e)
{
    fail(r, "%s: %s", what, rd_kafka_error_string(e));
    rd_kafka_error_destroy(e);
    return -1;
}

/* One output for input m: same value and partition, message-id "<input id>/0". */
static int txn_produce(struct txn *t, const rd_kafka_message_t *m, struct result *r)
{
    rd_kafka_headers_t *hs;
    const void *id = NULL;
    size_t id_len = 0;
    char out_id[EOC_ID_MAX + 3];
    if (rd_kafka_message_headers(m, &hs) == RD_KAFKA_RESP_ERR_NO_ERROR)
        rd_kafka_header_get_last(hs, "message-id", &id, &id_len);
    int n = snprintf(out_id, sizeof(out_id), "%.*s/0", (int)id_len, id ? (const char *)id : "");
    for (;;) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            t->p, RD_KAFKA_V_TOPIC(t->out_topic), RD_KAFKA_V_PARTITION(m->partition),
            RD_KAFKA_V_VALUE(m->payload, m->len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_HEADER("message-id", out_id, (ssize_t)n), RD_KAFKA_V_END);
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR)
            break;
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            fail(r, "transactional produce: %s", rd_kafka_err2str(e));
            return -1;
        }
        rd_kafka_poll(t->p, 10);
    }
    t->next[m->partition] = m->offset + 1;
    t->in_txn++;
    return 0;
}

/* Sends the consumed offsets to the transaction, commits it, begins the next. */
static int txn_commit(struct txn *t, struct result *r)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(PARTITIONS);
    for (int p = 0; p < PARTITIONS; p++)
        if (t->next[p] >= 0)
            rd_kafka_topic_partition_list_add(l, IN_TOPIC, p)->offset = t->next[p];
    rd_kafka_consumer_group_metadata_t *g = rd_kafka_consumer_group_metadata(t->c);
    rd_kafka_error_t *e = rd_kafka_send_offsets_to_transaction(t->p, l, g, -1);
    rd_kafka_consumer_group_metadata_destroy(g);
    rd_kafka_topic_partition_list_destroy(l);
    if (e)
        return txn_error(r, "send_offsets_to_transaction", e);
    if ((e = rd_kafka_commit_transaction(t->p, -1)))
        return txn_error(r, "commit_transaction", e);
    t->outputs += (uint64_t)t->in_txn;
    t->in_txn = 0;
    for (int p = 0; p < PARTITIONS; p++)
        t->next[p] = -1;
    if ((e = rd_kafka_begin_transaction(t->p)))
        return txn_error(r, "begin_transaction", e);
    return 0;
}

/* A transactional producer with an open transaction. Delivery reports are
 * counted in dr: with a delivery callback, commit_transaction's flush
 * returns at the last report instead of polling in 10 ms steps. */
static rd_kafka_t *new_txn_producer(const struct job *j, struct deliveries *dr, struct result *r)
{
    const char *const kv[][2] = {
        {"bootstrap.servers", j->bootstraps},
        {"transactional.id", j->tid},
        {"linger.ms", "5"}, /* as eoc's relay */
    };
    rd_kafka_t *p = new_client(RD_KAFKA_PRODUCER, kv, sizeof(kv) / sizeof(kv[0]), dr, r);
    rd_kafka_error_t *e;
    if (p && (e = rd_kafka_init_transactions(p, 30000))) {
        txn_error(r, "init_transactions", e);
    } else if (p && (e = rd_kafka_begin_transaction(p))) {
        txn_error(r, "begin_transaction", e);
    } else {
        return p;
    }
    rd_kafka_destroy(p);
    return NULL;
}

/* The consume-transform-produce loop; returns with the last commit done. */
static void txn_loop(struct txn *t, const struct job *j, struct result *r)
{
    struct progress pg;
    struct stall st = {0};
    struct meter mt = {0};
    progress_init(&pg, j->high);
    int done = pg.left == 0;
    while (!done && r->ok) {
        rd_kafka_message_t *m = next_record(t->c, &st, pg.msgs, r);
        if (!m)
            continue;
        if (!mt.started)
            meter_start(&mt);
        done = progress_add(&pg, m);
        if (txn_produce(t, m, r) == 0 && (t->in_txn >= j->m->txn_records || done))
            txn_commit(t, r);
        rd_kafka_message_destroy(m);
    }
    if (mt.started)
        meter_stop(&mt, r);
    r->records = pg.msgs;
}

/* B: exactly-once with Kafka transactions. */
static void job_txn(const struct job *j, struct result *r)
{
    struct txn t = {0};
    t.out_topic = j->out_topic;
    for (int p = 0; p < PARTITIONS; p++)
        t.next[p] = -1;
    if (!(t.c = new_consumer(j, 0, r)))
        return;
    if ((t.p = new_txn_producer(j, &t.dr, r)))
        txn_loop(&t, j, r);
    r->outputs = t.dr.ok;
    if (r->ok && (t.dr.failed || t.dr.ok != t.outputs))
        fail(r, "%" PRIu64 " outputs committed, %" PRIu64 " delivered, %" PRIu64 " failed",
             t.outputs, t.dr.ok, t.dr.failed);
    if (t.p && r->ok)
        rd_kafka_destroy(t.p);
    close_consumer(t.c, r);
}

/* ---- C and D: the eoc worker ---------------------------------------- */

static eoc_result_t handle_emit(eoc_txn_t *txn, const eoc_record_t *rec, void *opaque)
{
    (void)opaque;
    size_t len;
    const void *value = eoc_record_value(rec, &len);
    eoc_msg_t out = {NULL, eoc_record_partition(rec), NULL, 0, value, len, NULL, 0};
    return eoc_emit(txn, &out) == EOC_OK ? EOC_HANDLER_OK : EOC_HANDLER_FAIL;
}

/* R's fill: one state key per record, its ID -> its value. */
static eoc_result_t handle_state(eoc_txn_t *txn, const eoc_record_t *rec, void *opaque)
{
    (void)opaque;
    size_t id_len, len;
    const char *id = eoc_record_id(rec, &id_len);
    const void *value = eoc_record_value(rec, &len);
    return eoc_state_put(txn, id, id_len, value, len) == EOC_OK ? EOC_HANDLER_OK
                                                                 : EOC_HANDLER_FAIL;
}

static eoc_result_t handle_nothing(eoc_txn_t *txn, const eoc_record_t *rec, void *opaque)
{
    (void)txn;
    (void)rec;
    (void)opaque;
    return EOC_HANDLER_OK;
}

/* The worker's configuration: defaults, plus where things are. */
static eoc_conf_t *eoc_bench_conf(const struct job *j, struct result *r)
{
    const char *const kv[][2] = {
        {"data.dir", j->dir},           {"group.id", j->group},
        {"input.topics", j->in_topic},  {"kafka.bootstrap.servers", j->bootstraps},
        {"output.topic", j->out_topic}, {"log.level", "warning"},
        {"eos.mode", j->m->eos ? j->m->eos : "local"},
    };
    char err[512];
    eoc_conf_t *conf = eoc_conf_new();
    for (size_t i = 0; conf && i < sizeof(kv) / sizeof(kv[0]); i++) {
        if (eoc_conf_set(conf, kv[i][0], kv[i][1], err, sizeof(err)) != EOC_OK) {
            fail(r, "conf: %s", err);
            eoc_conf_destroy(conf);
            return NULL;
        }
    }
    for (int i = 0; conf && j->opts && i < j->opts->nsets; i++) {
        char key[256];
        const char *kv = j->opts->sets[i], *eq = strchr(kv, '=');
        snprintf(key, sizeof(key), "%.*s", (int)(eq - kv), kv);
        if (eoc_conf_set(conf, key, eq + 1, err, sizeof(err)) != EOC_OK) {
            fail(r, "--set %s: %s", kv, err);
            eoc_conf_destroy(conf);
            return NULL;
        }
    }
    if (!conf)
        fail(r, "out of memory");
    return conf;
}

/* A worker running on its own thread. */
struct run {
    eoc_worker_t *w; /* owned; destroyed after the thread is joined */
    pthread_t thread;
    atomic_int returned;
    eoc_err_t rc;
};

static void *run_worker(void *arg)
{
    struct run *run = arg;
    run->rc = eoc_worker_run(run->w);
    atomic_store(&run->returned, 1);
    return NULL;
}

static uint64_t dispositions(const eoc_stats_t *s)
{
    return s->applied + s->duplicates + s->dead_letters + s->skipped;
}

/* Batches and commit time: the worker's commit latency histogram (the
 * durable LMDB commit), in eos.mode=kafka its transaction's (the Kafka
 * commit point, the LMDB commit after it not included). */
struct commits {
    uint64_t batches, us;
};

static const eoc__stats_t *internal_stats(eoc_worker_t *w)
{
    eoc__metrics_src_t src;
    eoc__worker_metrics_src(w, &src);
    return src.stats;
}

static struct commits commits_now(eoc_worker_t *w, const struct mode *m)
{
    const eoc__stats_t *s = internal_stats(w);
    const eoc__histo_t *h = m->eos ? &s->km_txn_latency : &s->commit_latency;
    struct commits c = {atomic_load(&h->count), atomic_load(&h->sum_us)};
    return c;
}

/* The outcome of a worker run: every record applied once, outputs out. */
static void check_worker(const eoc_stats_t *s, const struct job *j, struct result *r)
{
    r->records = s->applied;
    /* eos.mode=kafka has no relay: an output commits in the transaction
     * of its input's disposition */
    r->outputs = j->m->eos ? s->applied * (uint64_t)j->m->emit : s->published;
    if (r->ok && (s->applied != j->records || s->dead_letters || s->duplicates))
        fail(r,
             "%" PRIu64 " applied, %" PRIu64 " duplicates, %" PRIu64
             " dead letters; expected %zu applied",
             s->applied, s->duplicates, s->dead_letters, j->records);
    if (r->ok && r->outputs < j->records * (size_t)j->m->emit)
        fail(r, "%" PRIu64 " outputs published, expected %zu", r->outputs, j->records);
}

/* Polls the worker's stats until every record has its disposition and the
 * outbox is drained; the meter runs from the first consumed record. */
static void watch_worker(struct run *run, const struct job *j, struct result *r)
{
    struct meter mt = {0};
    struct stall st = {0};
    struct commits c0 = {0, 0}, c1;
    uint64_t st0[EOC__STAGE_N] = {0}, st1[EOC__STAGE_N];
    eoc_stats_t s;
    for (;;) {
        eoc_worker_stats(run->w, &s);
        if (!mt.started && s.consumed > 0) {
            meter_start(&mt);
            c0 = commits_now(run->w, j->m);
            eoc__worker_stages(run->w, st0);
        }
        if (dispositions(&s) >= j->records && s.outbox_backlog == 0)
            break;
        if (atomic_load(&run->returned)) {
            fail(r, "worker stopped early: %s", eoc_strerror(run->rc));
            break;
        }
        if (stalled(&st, dispositions(&s) + s.published)) {
            fail(r, "no progress for %.0f s: %" PRIu64 " dispositions, %" PRIu64 " published",
                 STALL_S, dispositions(&s), s.published);
            break;
        }
        sleep_ms(WATCH_MS);
    }
    if (mt.started)
        meter_stop(&mt, r);
    c1 = commits_now(run->w, j->m);
    eoc__worker_stages(run->w, st1);
    for (int i = 0; i < EOC__STAGE_N; i++)
        r->stage_s[i] = (double)(st1[i] - st0[i]) / 1e9;
    r->batches = c1.batches - c0.batches;
    r->commit_s = (double)(c1.us - c0.us) / 1e6;
    check_worker(&s, j, r);
}

/* Joins the worker thread within JOIN_S seconds (its drain can block on a
 * dead broker); -1 on timeout. */
static int join_worker(struct run *run)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += JOIN_S;
    return pthread_timedjoin_np(run->thread, NULL, &until) == 0 ? 0 : -1;
}

/* Creates the worker of job j (its mode's handler) and runs it on its own
 * thread; -1 with the reason in r. */
static int start_worker(const struct job *j, struct run *run, struct result *r)
{
    eoc_handler_fn *fn = j->m->emit ? handle_emit : j->m->state ? handle_state : handle_nothing;
    eoc_conf_t *conf = eoc_bench_conf(j, r);
    if (!conf)
        return -1;
    char err[512];
    double t0 = now_s();
    run->w = eoc_worker_new(conf, fn, NULL, err, sizeof(err));
    r->open_s = now_s() - t0;
    if (!run->w) {
        eoc_conf_destroy(conf); /* not taken on failure */
        fail(r, "eoc_worker_new: %s", err);
        return -1;
    }
    if (pthread_create(&run->thread, NULL, run_worker, run) != 0) {
        fail(r, "pthread_create failed");
        eoc_worker_destroy(run->w);
        return -1;
    }
    return 0;
}

/* Stops and frees a started worker. */
static void stop_worker(struct run *run, struct result *r)
{
    eoc_worker_stop(run->w);
    if (join_worker(run) != 0) {
        fail(r, "the worker did not stop within %d s", JOIN_S);
        return; /* the child exits: nothing to tear down */
    }
    if (run->rc != EOC_OK)
        fail(r, "eoc_worker_run: %s", eoc_strerror(run->rc));
    eoc_worker_destroy(run->w);
}

/* C, D and K (and R's fill): one worker on a copy of the pre-filled store,
 * or on an empty one. */
static void job_eoc(const struct job *j, struct result *r)
{
    struct run run = {0};
    if (start_worker(j, &run, r) != 0)
        return;
    watch_worker(&run, j, r);
    stop_worker(&run, r);
}

/*
 * Polls the worker's restore counters (changelog.c) until j->records
 * changelog records are restored; the meter runs from the restore's start
 * (its counter, taken after the changelog's watermarks were read) to the
 * count of the last LMDB commit of the restore.
 */
static void watch_restore(struct run *run, const struct job *j, struct result *r)
{
    const eoc__stats_t *s = internal_stats(run->w);
    struct meter mt = {0};
    struct stall st = {0};
    uint64_t restores = 0, restored = 0;
    for (;;) {
        restores = atomic_load(&s->km_restores);
        restored = atomic_load(&s->km_restored_records);
        if (!mt.started && restores > 0)
            meter_start(&mt);
        if (restored >= j->records)
            break;
        if (atomic_load(&run->returned)) {
            fail(r, "worker stopped early: %s", eoc_strerror(run->rc));
            break;
        }
        if (stalled(&st, restores + restored)) {
            fail(r, "no restore progress for %.0f s: %" PRIu64 " restores, %" PRIu64 " records",
                 STALL_S, restores, restored);
            break;
        }
        sleep_ms(WATCH_MS);
    }
    if (mt.started)
        meter_stop(&mt, r);
    r->records = restored;
    if (r->ok && (restores != 1 || restored != j->records))
        fail(r, "%" PRIu64 " restore(s) of %" PRIu64 " records; expected 1 of %zu", restores,
             restored, j->records);
}

/* Keys and values of R's changelog records, per record on average: an
 * inbox row ("i\0<id>" -> 17 bytes, changelog.c) and a state row
 * ("s\0<id>" -> the record's value) per input record. */
static double changelog_record_bytes(void)
{
    return (double)(2 * (2 + BENCH_ID_LEN) + 17 + VALUE_LEN) / 2;
}

/* R: a fresh eos.mode=kafka worker on an empty data directory, in the group
 * whose changelog the fill wrote, restores it on assignment. */
static void job_restore(const struct job *j, struct result *r)
{
    struct run run = {0};
    if (start_worker(j, &run, r) != 0)
        return;
    watch_restore(&run, j, r);
    r->bytes = (uint64_t)((double)r->records * changelog_record_bytes());
    stop_worker(&run, r);
}

/* ---- fork, run, report ---------------------------------------------- */

typedef void (*job_fn)(const struct job *j, struct result *r);

static int write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Is the dev Kafka still there? Asked while a child runs. */
typedef int (*alive_fn)(void *ctx);

/*
 * Reads the child's result; every second without it, asks alive(ctx) and
 * kills the child (SIGKILL, it is ours) when the answer is no. Returns the
 * bytes read; *dead is set when the dev Kafka was gone.
 */
static size_t await_result(int fd, pid_t pid, struct result *out, alive_fn alive, void *ctx,
                           int *dead)
{
    char *p = (char *)out;
    size_t got = 0;
    while (got < sizeof(*out)) {
        struct pollfd pfd = {fd, POLLIN, 0};
        int n = poll(&pfd, 1, 1000);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            break;
        if (n == 0) {
            if (alive(ctx))
                continue;
            *dead = 1;
            kill(pid, SIGKILL);
            break;
        }
        ssize_t k = read(fd, p + got, sizeof(*out) - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        got += (size_t)k;
    }
    return got;
}

/*
 * Runs fn(j) in a forked child and returns its result. The parent holds no
 * threads and no librdkafka or LMDB handles, so the child starts clean;
 * it leaves with _exit (nothing of the parent's is torn down twice).
 * Returns 1 when the dev Kafka disappeared meanwhile (out then says so).
 */
static int run_child(job_fn fn, const struct job *j, struct result *out, alive_fn alive, void *ctx)
{
    int fds[2], dead = 0;
    memset(out, 0, sizeof(*out));
    fflush(NULL);
    if (pipe(fds) != 0) {
        fail(out, "pipe: %s", strerror(errno));
        return 0;
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        struct result r = {0};
        r.ok = 1;
        fn(j, &r);
        r.rss_kb = peak_rss_kb();
        fflush(NULL);
        _exit(write_all(fds[1], &r, sizeof(r)) == 0 ? 0 : 1);
    }
    close(fds[1]);
    size_t got = pid > 0 ? await_result(fds[0], pid, out, alive, ctx, &dead) : 0;
    close(fds[0]);
    int status = 0;
    if (pid > 0)
        waitpid(pid, &status, 0);
    if (pid < 0)
        fail(out, "fork: %s", strerror(errno));
    else if (dead)
        fail(out, "the dev Kafka exited while the mode ran");
    else if (got != sizeof(*out) || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        fail(out, "child process died (status 0x%x)", (unsigned)status);
    return dead;
}

/* ------------------------------------------------------------------ */
/* the parent: dev Kafka, input, templates, repetitions, report        */
/* ------------------------------------------------------------------ */

struct bench {
    struct opts o;
    devkafka_t *dk;         /* owned: the running dev Kafka */
    rd_kafka_t *admin;      /* owned: with --bootstrap, for topics and watermarks */
    char work[1024];        /* temporary directory, removed at the end */
    char tmpl[2][PATH_MAX]; /* pre-filled stores: [0] 1M IDs, [1] 10M IDs */
    int64_t high[PARTITIONS];
    int produced;      /* times the input was produced (dev Kafka restarts) */
    uint64_t held;     /* bytes the dev Kafka holds in memory, estimated */
    uint64_t out_lost; /* output partitions the dev Kafka trimmed */
    struct result fill; /* R: the eos.mode=kafka run that wrote the changelog */
    struct result res[NMODES][MAX_REPS];
};

static int spawn_wait(char *const argv[])
{
    pid_t pid;
    int status;
    if (posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ) != 0)
        return -1;
    if (waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static int rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)type;
    (void)ftw;
    return remove(path);
}

static void rm_tree(const char *dir)
{
    if (access(dir, F_OK) == 0 && nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0)
        fprintf(stderr, "eoc-bench: could not remove %s: %s\n", dir, strerror(errno));
}

/* Writes a copied store to disk before the worker runs: otherwise its
 * first durable commit (or the kernel's writeback) flushes the whole copy
 * while the run is measured. */
static int sync_store(const char *dir)
{
    char path[PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/data.mdb", dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    int rc = fd >= 0 ? fdatasync(fd) : -1;
    if (fd >= 0)
        close(fd);
    return rc;
}

/* Size of a store's data file in MiB. */
static double store_mib(const char *dir)
{
    char path[PATH_MAX + 16];
    struct stat st;
    snprintf(path, sizeof(path), "%s/data.mdb", dir);
    return stat(path, &st) == 0 ? (double)st.st_blocks * 512 / (1 << 20) : 0;
}

static int dk_cmd(struct bench *b, char *reply, size_t n, const char *cmd)
{
    if (devkafka_cmd(b->dk, reply, n, "%s", cmd) != 0 || strncmp(reply, "ok", 2) != 0) {
        fprintf(stderr, "eoc-bench: dev Kafka '%s': %s\n", cmd, reply);
        return -1;
    }
    return 0;
}

/* The brokers every client of the run connects to. */
static const char *bootstraps(const struct bench *b)
{
    return b->o.bootstrap ? b->o.bootstrap : devkafka_bootstraps(b->dk);
}

/* --bootstrap: creates `topic` with `partitions` partitions on the cluster
 * (the broker's default replication factor; compact: cleanup.policy=compact),
 * through the admin API. */
static int real_create_topic(struct bench *b, const char *topic, int partitions, int compact)
{
    char err[512];
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(topic, partitions, -1, err, sizeof(err));
    if (nt && compact)
        rd_kafka_NewTopic_set_config(nt, "cleanup.policy", "compact");
    rd_kafka_queue_t *q = rd_kafka_queue_new(b->admin);
    int rc = -1;
    if (!nt || !q) {
        fprintf(stderr, "eoc-bench: topic %s: %s\n", topic, nt ? "no queue" : err);
    } else {
        rd_kafka_CreateTopics(b->admin, &nt, 1, NULL, q);
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, 60000);
        const rd_kafka_CreateTopics_result_t *res = ev ? rd_kafka_event_CreateTopics_result(ev) : NULL;
        size_t n = 0;
        const rd_kafka_topic_result_t **tr = res ? rd_kafka_CreateTopics_result_topics(res, &n) : NULL;
        if (!ev || rd_kafka_event_error(ev))
            fprintf(stderr, "eoc-bench: creating %s: %s\n", topic,
                    ev ? rd_kafka_event_error_string(ev) : "no answer within 60 s");
        else if (n != 1 || rd_kafka_topic_result_error(tr[0]))
            fprintf(stderr, "eoc-bench: creating %s: %s\n", topic,
                    n == 1 ? rd_kafka_topic_result_error_string(tr[0]) : "no result");
        else
            rc = 0;
        if (ev)
            rd_kafka_event_destroy(ev);
    }
    if (nt)
        rd_kafka_NewTopic_destroy(nt);
    if (q)
        rd_kafka_queue_destroy(q);
    /* Created is the controller's word; wait until the brokers' metadata
     * has a leader for every partition (a metadata request for the topic
     * itself: the client's cache would not look again for minutes). */
    for (int i = 0; rc == 0 && i < 100; i++) {
        const rd_kafka_metadata_t *md = NULL;
        rd_kafka_topic_t *t = rd_kafka_topic_new(b->admin, topic, NULL);
        int ok = 0;
        if (t && rd_kafka_metadata(b->admin, 0, t, &md, 5000) == RD_KAFKA_RESP_ERR_NO_ERROR &&
            md->topic_cnt == 1 && !md->topics[0].err &&
            md->topics[0].partition_cnt == partitions) {
            ok = 1;
            for (int p = 0; p < partitions; p++)
                ok &= md->topics[0].partitions[p].leader >= 0 && !md->topics[0].partitions[p].err;
        }
        if (md)
            rd_kafka_metadata_destroy(md);
        if (t)
            rd_kafka_topic_destroy(t);
        if (ok)
            return 0;
        usleep(100000);
    }
    return rc ? -1 : (fprintf(stderr, "eoc-bench: %s has no leader\n", topic), -1);
}

/* --bootstrap: the input's watermarks; with `low`, fails when the broker
 * deleted any input record. */
static int real_ends(struct bench *b, int low_check)
{
    for (int p = 0; p < PARTITIONS; p++) {
        int64_t lo, hi;
        rd_kafka_resp_err_t e =
            rd_kafka_query_watermark_offsets(b->admin, IN_TOPIC, p, &lo, &hi, 10000);
        if (e) {
            fprintf(stderr, "eoc-bench: watermarks of %s[%d]: %s\n", IN_TOPIC, p, rd_kafka_err2str(e));
            return -1;
        }
        if (low_check && lo > 0) {
            fprintf(stderr, "eoc-bench: FAIL: the broker deleted input %s[%d] below %" PRId64 "\n",
                    IN_TOPIC, p, lo);
            return -1;
        }
        b->high[p] = hi;
    }
    return 0;
}

static int create_topic(struct bench *b, const char *topic)
{
    if (b->o.bootstrap)
        return real_create_topic(b, topic, PARTITIONS, 0);
    char cmd[128], reply[512];
    snprintf(cmd, sizeof(cmd), "create %s %d", topic, PARTITIONS);
    return dk_cmd(b, reply, sizeof(reply), cmd);
}

/* Reads the input's end offsets from `status` ("ok t:p:low:high ..."). */
static int input_ends(struct bench *b)
{
    if (b->o.bootstrap)
        return real_ends(b, 0);
    char *reply = malloc(REPLY_CAP), *save = NULL;
    int found = 0;
    if (!reply || dk_cmd(b, reply, REPLY_CAP, "status") != 0) {
        free(reply);
        return -1;
    }
    for (char *t = strtok_r(reply + 2, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
        char topic[128];
        int p;
        long long low, high;
        if (sscanf(t, "%127[^:]:%d:%lld:%lld", topic, &p, &low, &high) == 4 &&
            strcmp(topic, IN_TOPIC) == 0 && p >= 0 && p < PARTITIONS) {
            b->high[p] = high;
            found++;
        }
    }
    free(reply);
    return found == PARTITIONS ? 0 : -1;
}

/*
 * Asks the dev Kafka whether it dropped old records (`retention`). Input
 * lost: -1 (the run is invalid). Partitions of `out_topic` (NULL: none)
 * that were trimmed are counted in b->out_lost: outputs are never read
 * back, only their delivery counts.
 */
static int check_retention(struct bench *b, const char *out_topic)
{
    if (b->o.bootstrap) /* outputs are on disk, kept by the broker's retention (7 days) */
        return real_ends(b, 1);
    char *reply = malloc(REPLY_CAP), *save = NULL;
    int rc = 0;
    if (!reply || dk_cmd(b, reply, REPLY_CAP, "retention") != 0) {
        free(reply);
        return -1;
    }
    for (char *t = strtok_r(reply + 2, " ", &save); t; t = strtok_r(NULL, " ", &save)) {
        char topic[128];
        int p;
        long long low;
        if (sscanf(t, "%127[^:]:%d:%lld", topic, &p, &low) != 3)
            continue;
        if (strcmp(topic, IN_TOPIC) == 0) {
            fprintf(stderr, "eoc-bench: FAIL: the dev Kafka dropped input %s[%d] below %lld\n",
                    topic, p, low);
            rc = -1;
        } else if (out_topic && strcmp(topic, out_topic) == 0) {
            b->out_lost++;
        }
    }
    free(reply);
    return rc;
}

/* What the dev Kafka keeps of a topic of `records` records (it trims each
 * partition to about PARTITION_KEEP). */
static uint64_t topic_bytes(size_t records)
{
    uint64_t bytes = (uint64_t)records * RECORD_BYTES, cap = PARTITIONS * PARTITION_KEEP;
    return bytes < cap ? bytes : cap;
}

/* alive_fn: the dev Kafka answers a command that does not touch the cluster. */
static int kafka_alive(void *ctx)
{
    struct bench *b = ctx;
    char reply[256];
    if (b->o.bootstrap)
        return 1; /* not ours to watch: a stall fails the mode */
    return devkafka_cmd(b->dk, reply, sizeof(reply), "nodelay") == 0;
}

static int start_kafka(struct bench *b)
{
    static const char *const topics[] = {IN_TOPIC ":32", NULL};
    char err[512];
    if (b->o.bootstrap) {
        const char *const kv[][2] = {{"bootstrap.servers", b->o.bootstrap}};
        b->admin = kc_client_new(RD_KAFKA_PRODUCER, kv, 1, NULL, NULL, err, sizeof(err));
        if (!b->admin)
            fprintf(stderr, "eoc-bench: %s\n", err);
        return b->admin ? create_topic(b, IN_TOPIC) : -1;
    }
    b->dk = devkafka_start(b->o.kafka_dev, 1, topics, err, sizeof(err));
    if (!b->dk)
        fprintf(stderr, "eoc-bench: dev Kafka: %s\n", err);
    return b->dk ? 0 : -1;
}

/* Produces the input (in a child) and checks the dev Kafka holds all of it. */
static int produce_input(struct bench *b)
{
    struct job j = {0};
    struct result r;
    j.bootstraps = bootstraps(b);
    j.in_topic = IN_TOPIC;
    j.partitions = PARTITIONS;
    j.records = b->o.records;
    j.seed = b->o.seed;
    run_child(job_produce, &j, &r, kafka_alive, b);
    if (!r.ok) {
        fprintf(stderr, "eoc-bench: FAIL: producing the input: %s\n", r.err);
        return -1;
    }
    int64_t total = 0;
    if (input_ends(b) != 0 || check_retention(b, NULL) != 0)
        return -1;
    for (int p = 0; p < PARTITIONS; p++)
        total += b->high[p];
    printf("produce: %" PRIu64 " records (%.1f MiB of values and IDs) in %.2f s: %.0f rec/s, "
           "%.1f MiB/s (idempotent producer, linger.ms=50, batch.num.messages=100000)\n",
           r.records, (double)r.bytes / (1 << 20), r.wall_s, (double)r.records / r.wall_s,
           (double)r.bytes / (1 << 20) / r.wall_s);
    if ((size_t)total != b->o.records || r.records != b->o.records) {
        fprintf(stderr, "eoc-bench: FAIL: %zu records produced, the topic holds %" PRId64 "\n",
                b->o.records, total);
        return -1;
    }
    b->produced++;
    b->held = topic_bytes(b->o.records);
    return 0;
}

/* A fresh dev Kafka with the same input (same seed: the same records). */
static int restart_kafka(struct bench *b)
{
    devkafka_stop(b->dk);
    b->dk = NULL;
    return start_kafka(b) != 0 || produce_input(b) != 0 ? -1 : 0;
}

/*
 * Before a topic of `records` outputs is created: when the dev Kafka would
 * then hold more than KAFKA_BUDGET in memory, restart it and produce the
 * input again (it never frees a topic).
 */
static int make_room(struct bench *b, size_t records)
{
    if (b->o.bootstrap)
        return 0; /* a real broker keeps topics on disk */
    if (b->held + topic_bytes(records) > KAFKA_BUDGET) {
        printf("restarting the dev Kafka (it holds ~%.0f MiB of topics in memory)\n",
               (double)b->held / (1 << 20));
        if (restart_kafka(b) != 0)
            return -1;
    }
    b->held += topic_bytes(records);
    return 0;
}

/*
 * Creates the changelog of job j's group and input (compacted, as the
 * worker would) and waits until every partition answers a watermark query.
 * The worker creates a missing one itself but restores at once, and a
 * partition its broker does not serve yet (even with a leader in the
 * metadata) fails the restore's watermark query with "Not leader for
 * partition", which stops the worker: seen on a fresh single-node cluster.
 */
static int create_changelog(struct bench *b, const struct job *j, int partitions)
{
    char name[600];
    eoc__km_changelog_name(name, sizeof(name), j->group, j->in_topic);
    if (real_create_topic(b, name, partitions, 1) != 0)
        return -1;
    for (int p = 0, tries = 0; p < partitions; tries++) {
        int64_t lo, hi;
        rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(b->admin, name, p, &lo, &hi, 5000);
        if (!e) {
            p++;
        } else if (tries >= 300) {
            fprintf(stderr, "eoc-bench: watermarks of %s[%d]: %s\n", name, p, rd_kafka_err2str(e));
            return -1;
        } else {
            usleep(100000);
        }
    }
    return 0;
}

/*
 * R's changelog, once per run (--bootstrap only): RESTORE_TOPIC with one
 * partition holding --restore-records records, consumed by an
 * eos.mode=kafka worker of RESTORE_GROUP that puts one state key per
 * record, so its changelog partition 0 holds N inbox IDs and N state keys
 * as the mode writes them. How long that consuming took is what R's
 * restore is compared with (b->fill).
 */
static int make_restore_fill(struct bench *b)
{
    struct job j = {0};
    struct result r;
    j.m = &modes[mode_index("R")];
    j.bootstraps = bootstraps(b);
    j.in_topic = RESTORE_TOPIC;
    j.partitions = 1;
    j.records = b->o.restore_records;
    j.seed = b->o.seed ^ 0x4e5704eull;
    j.opts = &b->o;
    snprintf(j.group, sizeof(j.group), "%s", RESTORE_GROUP);
    snprintf(j.dir, sizeof(j.dir), "%s/R-fill", b->work);
    if (real_create_topic(b, RESTORE_TOPIC, 1, 0) != 0 || create_changelog(b, &j, 1) != 0)
        return -1;
    run_child(job_produce, &j, &r, kafka_alive, b);
    if (!r.ok) {
        fprintf(stderr, "eoc-bench: FAIL: producing R's input: %s\n", r.err);
        return -1;
    }
    run_child(job_eoc, &j, &b->fill, kafka_alive, b);
    rm_tree(j.dir);
    if (!b->fill.ok) {
        fprintf(stderr, "eoc-bench: FAIL: filling R's changelog: %s\n", b->fill.err);
        return -1;
    }
    printf("restore fill: an eos.mode=kafka worker consumed %" PRIu64 " records of %s[0] "
           "(1 state key/record) in %.2f s: %.0f rec/s, %" PRIu64
           " transactions; %s.%s.changelog[0] holds %zu inbox IDs and %zu state keys\n",
           b->fill.records, RESTORE_TOPIC, b->fill.wall_s, (double)b->fill.records / b->fill.wall_s,
           b->fill.batches, RESTORE_GROUP, RESTORE_TOPIC, j.records, j.records);
    return 0;
}

static int template_slot(size_t prefill)
{
    return prefill > 1000000 ? 1 : 0;
}

/* Pre-fills the template store for `prefill` IDs (in a child), once. */
static int make_template(struct bench *b, size_t prefill)
{
    int slot = template_slot(prefill);
    if (!prefill || b->tmpl[slot][0])
        return 0;
    struct job j = {0};
    struct result r;
    snprintf(j.dir, sizeof(j.dir), "%s/template-%zu", b->work, prefill);
    j.records = prefill;
    j.seed = b->o.seed ^ 0x5eed5eed5eedull ^ prefill;
    run_child(job_prefill, &j, &r, kafka_alive, b);
    if (!r.ok) {
        fprintf(stderr, "eoc-bench: FAIL: pre-filling %zu IDs: %s\n", prefill, r.err);
        return -1;
    }
    snprintf(b->tmpl[slot], sizeof(b->tmpl[slot]), "%s", j.dir);
    printf("prefill: %zu earlier IDs in batches of %d in %.1f s (store %.0f MiB), copied per "
           "repetition\n",
           prefill, BENCH_PREFILL_BATCH, r.wall_s, store_mib(j.dir));
    return 0;
}

/* The job of one repetition of mode mi; creates its output topic and data dir. */
static int prepare_job(struct bench *b, int mi, int rep, struct job *j)
{
    const struct mode *m = &modes[mi];
    memset(j, 0, sizeof(*j));
    if (m->emit && make_room(b, b->o.records) != 0)
        return -1;
    j->m = m;
    j->bootstraps = bootstraps(b);
    j->in_topic = IN_TOPIC;
    j->records = b->o.records;
    j->opts = &b->o;
    memcpy(j->high, b->high, sizeof(j->high));
    snprintf(j->group, sizeof(j->group), "bench-%s-r%d-%d", m->name, rep, b->produced);
    snprintf(j->tid, sizeof(j->tid), "%s-%ld", j->group, (long)getpid());
    if (m->emit) {
        snprintf(j->out_topic, sizeof(j->out_topic), "out-%s-rep%d-%d", m->name, rep, b->produced);
        if (create_topic(b, j->out_topic) != 0)
            return -1;
    }
    if (m->kind == KIND_RESTORE) {
        j->in_topic = RESTORE_TOPIC;
        j->records = 2 * b->o.restore_records; /* changelog records */
        snprintf(j->group, sizeof(j->group), "%s", RESTORE_GROUP);
    }
    if (m->kind != KIND_EOC && m->kind != KIND_RESTORE)
        return 0;
    if (m->kind == KIND_EOC && m->eos && create_changelog(b, j, PARTITIONS) != 0)
        return -1;
    snprintf(j->dir, sizeof(j->dir), "%s/%s-rep%d", b->work, m->name, rep);
    if (!m->prefill)
        return 0; /* an empty store: the worker creates it */
    char *const cp[] = {"cp",   "-r", "--reflink=auto", b->tmpl[template_slot(m->prefill)],
                        j->dir, NULL};
    if (spawn_wait(cp) != 0 || sync_store(j->dir) != 0) {
        fprintf(stderr, "eoc-bench: copying the template store to %s failed\n", j->dir);
        return -1;
    }
    return 0;
}

static void print_rep(const struct mode *m, int rep, const struct result *r)
{
    printf("  %-6s rep %d: %8" PRIu64 " records %7.2f s %9.0f rec/s %7.2f us/rec  cpu %6.2f s "
           "%6.2f us/rec  peak RSS %5.0f MiB  faults/rec %.3f",
           m->name, rep, r->records, r->wall_s, (double)r->records / r->wall_s,
           r->wall_s * 1e6 / (double)r->records, r->cpu_s, r->cpu_s * 1e6 / (double)r->records,
           (double)r->rss_kb / 1024, (double)r->minflt / (double)r->records);
    if (m->emit)
        printf("  outputs %" PRIu64, r->outputs);
    if (m->kind == KIND_EOC)
        printf("  open %.2f s  %" PRIu64 " batches, %.2f s in %s", r->open_s, r->batches,
               r->commit_s, m->eos ? "transaction commits" : "durable commits");
    if (m->kind == KIND_RESTORE)
        printf("  %.1f MiB/s of changelog keys and values",
               (double)r->bytes / (1 << 20) / r->wall_s);
    printf("\n");
    if (m->kind == KIND_EOC) {
        printf("         stages cpu us/rec:");
        for (int i = 0; i < EOC__STAGE_N; i++)
            printf(" %s %.2f", eoc__stage_names[i], r->stage_s[i] * 1e6 / (double)r->records);
        printf("\n");
    }
}

/* One repetition of one mode, in a child. Returns 1 when the dev Kafka
 * disappeared meanwhile, -1 on failure. */
static int run_rep_once(struct bench *b, int mi, int rep)
{
    static const job_fn fns[] = {[KIND_PLAIN] = job_plain,
                                 [KIND_TXN] = job_txn,
                                 [KIND_EOC] = job_eoc,
                                 [KIND_RESTORE] = job_restore};
    struct job j;
    struct result *r = &b->res[mi][rep - 1];
    if (prepare_job(b, mi, rep, &j) != 0)
        return -1;
    int dead = run_child(fns[modes[mi].kind], &j, r, kafka_alive, b);
    if (j.dir[0])
        rm_tree(j.dir);
    if (dead)
        return 1;
    if (!r->ok) {
        fprintf(stderr, "eoc-bench: FAIL: mode %s rep %d: %s\n", modes[mi].name, rep, r->err);
        return -1;
    }
    if (r->records < j.records) {
        fprintf(stderr, "eoc-bench: FAIL: mode %s read %" PRIu64 " of %zu records\n",
                modes[mi].name, r->records, j.records);
        return -1;
    }
    print_rep(&modes[mi], rep, r);
    return check_retention(b, j.out_topic[0] ? j.out_topic : NULL);
}

/*
 * Runs a repetition; when the dev Kafka disappeared under it (something
 * outside this program stopped it), restarts it with the same input and
 * runs the repetition once more.
 */
static int run_rep(struct bench *b, int mi, int rep)
{
    int rc = run_rep_once(b, mi, rep);
    if (rc != 1)
        return rc;
    printf("the dev Kafka exited during %s rep %d (not stopped by eoc-bench): restarting it, "
           "running the repetition again\n",
           modes[mi].name, rep);
    if (restart_kafka(b) != 0)
        return -1;
    rc = run_rep_once(b, mi, rep);
    if (rc == 1)
        fprintf(stderr, "eoc-bench: FAIL: the dev Kafka exited again during %s rep %d\n",
                modes[mi].name, rep);
    return rc == 0 ? 0 : -1;
}

/* ---- medians and the report ---------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Median over the repetitions of a per-result quantity. */
static double median(const struct bench *b, int mi, double (*f)(const struct result *))
{
    double v[MAX_REPS];
    int n = b->o.reps;
    for (int i = 0; i < n; i++)
        v[i] = f(&b->res[mi][i]);
    qsort(v, (size_t)n, sizeof(v[0]), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double f_rate(const struct result *r)
{
    return (double)r->records / r->wall_s;
}

static double f_us(const struct result *r)
{
    return r->wall_s * 1e6 / (double)r->records;
}

static double f_cpu(const struct result *r)
{
    return r->cpu_s;
}

static double f_cpu_us(const struct result *r)
{
    return r->cpu_s * 1e6 / (double)r->records;
}

static double f_rss(const struct result *r)
{
    return (double)r->rss_kb / 1024;
}

static double f_open(const struct result *r)
{
    return r->open_s;
}

static double f_commit(const struct result *r)
{
    return r->commit_s;
}

static double f_wall(const struct result *r)
{
    return r->wall_s;
}

static double f_mibs(const struct result *r)
{
    return (double)r->bytes / (1 << 20) / r->wall_s;
}

static int selected(const struct bench *b, int mi)
{
    return mi >= 0 && (b->o.modes >> mi & 1u);
}

static void print_table(const struct bench *b)
{
    printf("\nmedians of %d repetition(s), %zu records each:\n", b->o.reps, b->o.records);
    printf("%-6s %10s %9s %8s %11s %13s %7s %9s  %s\n", "mode", "rec/s", "us/rec", "cpu s",
           "cpu us/rec", "peak RSS MiB", "open s", "commit s", "what");
    for (int mi = 0; mi < NMODES; mi++) {
        if (!selected(b, mi))
            continue;
        printf("%-6s %10.0f %9.2f %8.2f %11.2f %13.0f ", modes[mi].name, median(b, mi, f_rate),
               median(b, mi, f_us), median(b, mi, f_cpu), median(b, mi, f_cpu_us),
               median(b, mi, f_rss));
        if (modes[mi].kind == KIND_EOC)
            printf("%7.2f %9.2f", median(b, mi, f_open), median(b, mi, f_commit));
        else
            printf("%7s %9s", "-", "-");
        printf("  %s\n", modes[mi].what);
    }
}

/* Median over the repetitions of stage i's time per record. */
static double stage_median(const struct bench *b, int mi, int stage)
{
    double v[MAX_REPS];
    int n = b->o.reps;
    for (int i = 0; i < n; i++)
        v[i] = b->res[mi][i].stage_s[stage] * 1e6 / (double)b->res[mi][i].records;
    qsort(v, (size_t)n, sizeof(v[0]), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Where eoc's CPU goes: thread CPU us per record in each stage, charged
 * by the thread that runs it (polling thread: consume, id+hash, hand-off;
 * apply thread: apply, removal, commit; relay: relay-read, produce,
 * delivery, and removal when the worker left it to the relay); "other" is
 * the rest of the process's CPU: librdkafka's own threads. */
static void print_stages(const struct bench *b)
{
    int any = 0;
    for (int mi = 0; mi < NMODES; mi++) {
        if (!selected(b, mi) || modes[mi].kind != KIND_EOC)
            continue;
        if (!any++) {
            printf("\nwhere eoc's CPU goes (medians, thread CPU us/rec per stage):\n");
            printf("%-6s", "mode");
            for (int i = 0; i < EOC__STAGE_N; i++)
                printf(" %10s", eoc__stage_names[i]);
            printf(" %10s\n", "other");
        }
        printf("%-6s", modes[mi].name);
        double sum = 0;
        for (int i = 0; i < EOC__STAGE_N; i++) {
            printf(" %10.2f", stage_median(b, mi, i));
            sum += stage_median(b, mi, i);
        }
        printf(" %10.2f\n", median(b, mi, f_cpu_us) - sum);
    }
}

/* Ratio of median per-record costs (f) of modes x and y, as text. */
static const char *ratio(const struct bench *b, const char *x, const char *y,
                         double (*f)(const struct result *), char *buf, size_t n)
{
    int xi = mode_index(x), yi = mode_index(y);
    if (!selected(b, xi) || !selected(b, yi))
        return "n/a";
    snprintf(buf, n, "%.2f", median(b, xi, f) / median(b, yi, f));
    return buf;
}

/* One line of print_ratios: mode x (shown as `label`) against mode y. */
static void print_against(const struct bench *b, const char *label, const char *x, const char *y)
{
    char w[32], c[32], t[32];
    printf("  %s/%-6s throughput %6s   cost: wall %6s  cpu %6s\n", label, y,
           ratio(b, x, y, f_rate, t, sizeof(t)), ratio(b, x, y, f_us, w, sizeof(w)),
           ratio(b, x, y, f_cpu_us, c, sizeof(c)));
}

static void print_ratios(const struct bench *b)
{
    static const char *const base[] = {"A", "B1000", "B100"};
    char w[32], c[32];
    printf("\neoc (C1M) against the others: throughput ratio (rec/s, higher is better), and "
           "ratios of per-record cost (wall-clock us/rec; cpu us/rec):\n");
    for (size_t i = 0; i < sizeof(base) / sizeof(base[0]); i++)
        print_against(b, "C", "C1M", base[i]);
    printf("  D/A      wall %6s  cpu %6s   (eoc without outputs)\n",
           ratio(b, "D", "A", f_us, w, sizeof(w)), ratio(b, "D", "A", f_cpu_us, c, sizeof(c)));
    printf("  C/D      wall %6s  cpu %6s   (what one output per record adds)\n",
           ratio(b, "C1M", "D", f_us, w, sizeof(w)), ratio(b, "C1M", "D", f_cpu_us, c, sizeof(c)));
    int c1 = mode_index("C1M"), c10 = mode_index("C10M");
    if (selected(b, c1) && selected(b, c10))
        printf("inbox growth: C costs %.2f us/rec with 1M earlier IDs, %.2f us/rec with 10M "
               "(x%s; cpu x%s); store open %.2f s vs %.2f s\n",
               median(b, c1, f_us), median(b, c10, f_us),
               ratio(b, "C10M", "C1M", f_us, w, sizeof(w)),
               ratio(b, "C10M", "C1M", f_cpu_us, c, sizeof(c)), median(b, c1, f_open),
               median(b, c10, f_open));
    if (selected(b, mode_index("K"))) {
        printf("eoc in eos.mode=kafka (K) against Kafka transactions and eos.mode=local:\n");
        print_against(b, "K", "K", "B1000");
        print_against(b, "K", "K", "C1M");
    }
}

/* R: the restore against the consuming that wrote its changelog. */
static void print_restore(const struct bench *b)
{
    int ri = mode_index("R");
    if (!selected(b, ri))
        return;
    size_t n = b->o.restore_records;
    double t = median(b, ri, f_wall), consume = b->fill.wall_s;
    printf("restore: %zu changelog records (%zu inbox IDs + %zu state keys, %.1f MiB of keys and "
           "values) of one partition into an empty store in %.2f s: %.0f rec/s, %.1f MiB/s; "
           "consuming the %zu records that wrote them (eos.mode=kafka, 1 state key/record) took "
           "%.2f s (%.0f rec/s): restore/consume time ratio %.2f\n",
           2 * n, n, n, (double)n * 2 * changelog_record_bytes() / (1 << 20), t,
           median(b, ri, f_rate), median(b, ri, f_mibs), n, consume, (double)n / consume,
           t / consume);
}

static void print_summary(const struct bench *b)
{
    char r1[32], r2[32], r3[32], r4[32], r5[32], r6[32];
    if (b->out_lost)
        printf("note: the dev Kafka trimmed the oldest records of %" PRIu64
               " output partition(s): it keeps ~5 MiB per partition and an eoc output carries "
               "the headers message-id and eoc-source; outputs are counted by delivery report, not read back\n",
               b->out_lost);
    printf("summary: C/A=%s C/B1000=%s C/B100=%s growth10M/1M=%s D/A=%s cpuC/cpuB1000=%s",
           ratio(b, "C1M", "A", f_rate, r1, sizeof(r1)),
           ratio(b, "C1M", "B1000", f_rate, r2, sizeof(r2)),
           ratio(b, "C1M", "B100", f_rate, r3, sizeof(r3)),
           ratio(b, "C10M", "C1M", f_us, r4, sizeof(r4)), ratio(b, "D", "A", f_rate, r5, sizeof(r5)),
           ratio(b, "C1M", "B1000", f_cpu_us, r6, sizeof(r6)));
    if (selected(b, mode_index("K"))) {
        printf(" K/B1000=%s", ratio(b, "K", "B1000", f_rate, r1, sizeof(r1)));
    }
    printf("\n");
}

/* ---- main ------------------------------------------------------------ */

static void print_header(const struct bench *b)
{
    if (b->o.bootstrap)
        printf("eoc-bench: end-to-end cost per record on Apache Kafka at %s (librdkafka %s)\n",
               b->o.bootstrap, rd_kafka_version_str());
    else
        printf("eoc-bench: end-to-end cost per record on the development Kafka (librdkafka %s "
               "mock cluster, its own process)\n",
               rd_kafka_version_str());
    printf("input: %zu records, %d-byte values, random %d-char message-id header, %d "
           "partitions; %d repetition(s); seed %" PRIu64 "\n",
           b->o.records, VALUE_LEN, BENCH_ID_LEN, PARTITIONS, b->o.reps, b->o.seed);
    printf("each mode runs in its own process with a fresh consumer group; time runs from the "
           "first record received until every record has its outcome\n");
    printf("eoc settings (C, D): defaults");
    for (int i = 0; i < b->o.nsets; i++)
        printf("%s%s", i ? ", " : " except ", b->o.sets[i]);
    printf("; every consumer has queued.min.messages=1000000 (eoc's default)\n");
    if (selected(b, mode_index("K")))
        printf("K: eos.mode=kafka, the same settings, from an empty store and a new changelog per "
               "repetition (C1M's inbox holds 1M IDs)\n");
    if (selected(b, mode_index("R")))
        printf("R: eos.mode=kafka, the same settings; restores the changelog of %zu records (%zu "
               "inbox IDs + %zu state keys) into an empty store per repetition\n",
               b->o.restore_records, b->o.restore_records, b->o.restore_records);
    printf("work directory: %s\n", b->work);
    fflush(stdout);
}

static int prepare(struct bench *b)
{
    for (int mi = 0; mi < NMODES; mi++)
        if (selected(b, mi) && modes[mi].kind == KIND_EOC &&
            make_template(b, modes[mi].prefill) != 0)
            return -1;
    return selected(b, mode_index("R")) ? make_restore_fill(b) : 0;
}

static int run_all(struct bench *b)
{
    if (start_kafka(b) != 0 || produce_input(b) != 0 || prepare(b) != 0)
        return -1;
    for (int rep = 1; rep <= b->o.reps; rep++) {
        printf("repetition %d of %d\n", rep, b->o.reps);
        for (int mi = 0; mi < NMODES; mi++)
            if (selected(b, mi) && run_rep(b, mi, rep) != 0)
                return -1;
    }
    print_table(b);
    print_stages(b);
    print_ratios(b);
    print_restore(b);
    print_summary(b);
    return 0;
}

int main(int argc, char **argv)
{
    struct bench *b = calloc(1, sizeof(*b)); /* owned here: holds every result */
    char exe[PATH_MAX];
    if (!b)
        return 1;
    int rc = parse_opts(argc, argv, &b->o, exe, sizeof(exe));
    if (rc != 0) {
        free(b);
        return rc > 0 ? 0 : 2;
    }
    snprintf(b->work, sizeof(b->work), "%s/eoc-bench-XXXXXX", b->o.parent);
    if (!mkdtemp(b->work)) {
        fprintf(stderr, "eoc-bench: %s: %s\n", b->work, strerror(errno));
        free(b);
        return 1;
    }
    print_header(b);
    double t0 = now_s();
    rc = run_all(b);
    if (b->dk)
        devkafka_stop(b->dk);
    if (b->admin)
        rd_kafka_destroy(b->admin);
    rm_tree(b->work);
    printf("total run time %.0f s%s\n", now_s() - t0, rc ? " (FAILED)" : "");
    free(b);
    return rc ? 1 : 0;
}
