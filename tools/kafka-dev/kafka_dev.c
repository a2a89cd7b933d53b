/*
 * eoc-kafka-dev - an IN-MEMORY DEVELOPMENT Kafka cluster.
 *
 * This program wraps librdkafka's mock cluster (rdkafka_mock.h) for tests,
 * examples and local development. It is NOT a production broker: nothing is
 * persisted, replication is simulated, only the protocol subset the mock
 * implements is served, and each partition keeps only about 5 MiB or 100000
 * batches (older records are dropped silently; `retention` reports it).
 *
 * It prints the bootstrap servers alone on one line on stdout, then serves
 * fault-injection commands (one per line, exactly one reply line each, "ok
 * ..." or "err <reason>") from stdin and from an optional UNIX control socket
 * until SIGTERM, SIGINT or `quit`. `eoc-kafka-dev --send PATH COMMAND` is the
 * matching client for scripts.
 *
 * Threads: the mock cluster and the librdkafka handles run their own threads;
 * everything in this file except the accept() wrappers runs on the main
 * thread, in one poll() loop.
 */
#include "numparse.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#define PROG                 "eoc-kafka-dev"
#define LINE_CAP             1024 /* longest command line, NUL included */
#define MAX_CLIENTS          16   /* control connections served at once */
#define MAX_WORDS            8    /* words in one command line */
#define MAX_BROKERS          64
#define MAX_PARTITIONS       10000
#define MAX_ERROR_COUNT      100000 /* `errors` / `broker-errors` COUNT */
#define WATERMARK_TIMEOUT_MS 3000   /* per step of status/retention */
#define REPLY_TIMEOUT_S      60     /* --send: how long to wait for a reply */
#define CLIENT_SEND_TIMEOUT  5      /* s: a client that stops reading is dropped */

/* ------------------------------------------------------------------ */
/* TCP_NODELAY on the mock's connections (accept interposition)        */
/* ------------------------------------------------------------------ */

/*
 * librdkafka 2.0.2's mock broker accepts client connections with plain
 * accept() (rdkafka_mock.c, rd_kafka_mock_broker_listen_io) and never sets
 * TCP_NODELAY on them. Nagle's algorithm then holds back a response while an
 * earlier one on the same connection is unacknowledged, until the client's
 * delayed ACK (~40 ms on Linux). That happens whenever requests are
 * pipelined: a 2.0.2 producer sends one ProduceRequest per partition, so
 * producing to 4 partitions and flushing took ~43 ms per round instead of
 * ~0.2 ms (200 rounds: ~8.6 s instead of ~45 ms).
 *
 * This executable therefore defines accept() and accept4(). The dynamic
 * linker binds librdkafka's calls to these definitions, which call the C
 * library's through dlsym(RTLD_NEXT) and then enable TCP_NODELAY when the new
 * socket is TCP. The control socket's accept goes through here as well; it is
 * AF_UNIX and left alone. EOC_KAFKA_DEV_NAGLE=1 disables the fix (to measure
 * it).
 *
 * librdkafka calls the wrappers without any context pointer, so their state
 * has to be file-scope: this struct is the program's only global. `nagle` is
 * written once by main() before the mock cluster starts; `nodelay_conns` is
 * incremented on the mock thread and read by the main thread (`nodelay`).
 * `listen_*` serve the bind() wrapper below (--listen).
 */
static struct {
    atomic_bool nagle;          /* true: leave Nagle's algorithm on */
    atomic_uint nodelay_conns;  /* accepted TCP sockets given TCP_NODELAY */
    atomic_uint listen_next;    /* --listen: port of the next broker; 0: off */
    atomic_uint listen_last;    /* --listen: port of the last broker */
    _Atomic uint32_t listen_ip; /* --listen: IPv4 address, network order */
} accept_hook;

_Static_assert(sizeof(void *) == sizeof(void (*)(void)),
               "dlsym() results must fit a function pointer");

/* Enables TCP_NODELAY on a freshly accepted socket when it is TCP. */
static void accept_hook_apply(int fd)
{
    int saved_errno = errno;
    int domain = 0;
    int on = 1;
    socklen_t len = sizeof(domain);

    if (fd >= 0 && !atomic_load(&accept_hook.nagle) &&
        getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) == 0 &&
        (domain == AF_INET || domain == AF_INET6) &&
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on)) == 0)
        atomic_fetch_add(&accept_hook.nodelay_conns, 1);
    errno = saved_errno;
}

/*
 * The C library's definition of `name`. Looked up on every call: accepts are
 * rare (one per connection) and this keeps the wrappers stateless.
 */
static void *next_symbol(const char *name)
{
    void *sym = dlsym(RTLD_NEXT, name);

    if (!sym)
        errno = ENOSYS;
    return sym;
}

/* glibc declares the address parameter as __SOCKADDR_ARG (a transparent union
 * under _GNU_SOURCE); the definitions must use the same type. */
int accept(int fd, __SOCKADDR_ARG addr, socklen_t *restrict addr_len)
{
    int (*real)(int, __SOCKADDR_ARG, socklen_t *restrict);
    void *sym = next_symbol("accept");
    int s;

    if (!sym)
        return -1;
    memcpy(&real, &sym, sizeof(real)); /* object to function pointer */
    s = real(fd, addr, addr_len);
    accept_hook_apply(s);
    return s;
}

int accept4(int fd, __SOCKADDR_ARG addr, socklen_t *restrict addr_len, int flags)
{
    int (*real)(int, __SOCKADDR_ARG, socklen_t *restrict, int);
    void *sym = next_symbol("accept4");
    int s;

    if (!sym)
        return -1;
    memcpy(&real, &sym, sizeof(real));
    s = real(fd, addr, addr_len, flags);
    accept_hook_apply(s);
    return s;
}

/*
 * --listen HOST:PORT. librdkafka 2.0.2's mock has no listener setting: each
 * broker binds 127.0.0.1 port 0 (rd_kafka_mock_broker_new_listener, which
 * sets SO_REUSEADDR first), then reads the port the kernel chose with
 * getsockname() and advertises that address in its Metadata and
 * FindCoordinator responses. So this bind() wrapper, armed only while
 * rd_kafka_mock_cluster_new() creates the brokers on the main thread, gives
 * the N brokers HOST:PORT .. HOST:PORT+N-1 instead; every broker then
 * advertises the address it really listens on and a client needs no
 * forwarder. Binds that name a port (a broker coming back after `broker up`
 * reuses its own address) and non-IPv4 binds pass through unchanged.
 */
int bind(int fd, __CONST_SOCKADDR_ARG addr, socklen_t addr_len)
{
    int (*real)(int, __CONST_SOCKADDR_ARG, socklen_t);
    void *sym = next_symbol("bind");
    const struct sockaddr_in *in = addr.__sockaddr_in__;
    unsigned port = atomic_load(&accept_hook.listen_next);

    if (!sym)
        return -1;
    memcpy(&real, &sym, sizeof(real));
    if (port && in && addr_len >= sizeof(*in) && in->sin_family == AF_INET && in->sin_port == 0 &&
        in->sin_addr.s_addr == htonl(INADDR_LOOPBACK) &&
        port <= atomic_load(&accept_hook.listen_last)) {
        struct sockaddr_in chosen = *in;
        __CONST_SOCKADDR_ARG chosen_arg = {.__sockaddr_in__ = &chosen};

        chosen.sin_port = htons((uint16_t)port);
        chosen.sin_addr.s_addr = atomic_load(&accept_hook.listen_ip);
        atomic_store(&accept_hook.listen_next, port + 1);
        return real(fd, chosen_arg, sizeof(chosen));
    }
    return real(fd, addr, addr_len);
}

/* ------------------------------------------------------------------ */
/* Small helpers                                                       */
/* ------------------------------------------------------------------ */

/* A growable NUL-terminated string; `failed` latches an allocation failure. */
struct strbuf {
    char *buf; /* owned; NULL until the first append */
    size_t len;
    size_t cap;
    bool failed;
};

static void sb_vaddf(struct strbuf *sb, const char *fmt, va_list ap)
{
    va_list ap2;
    int n;

    va_copy(ap2, ap);
    n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0 || sb->failed) {
        sb->failed = true;
        return;
    }
    if (sb->len + (size_t)n + 1 > sb->cap) {
        size_t cap = (sb->len + (size_t)n + 1) * 2;
        char *buf = realloc(sb->buf, cap);

        if (!buf) {
            sb->failed = true;
            return;
        }
        sb->buf = buf;
        sb->cap = cap;
    }
    vsnprintf(sb->buf + sb->len, sb->cap - sb->len, fmt, ap);
    sb->len += (size_t)n;
}

__attribute__((format(printf, 2, 3))) static void sb_addf(struct strbuf *sb, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    sb_vaddf(sb, fmt, ap);
    va_end(ap);
}

/* Appends all of `src` to `sb` (propagating an allocation failure). */
static void sb_append(struct strbuf *sb, const struct strbuf *src)
{
    if (src->failed)
        sb->failed = true;
    else if (src->len)
        sb_addf(sb, "%s", src->buf);
}

/* The text so far; "" when empty. */
static const char *sb_str(const struct strbuf *sb)
{
    return sb->buf ? sb->buf : "";
}

static void sb_free(struct strbuf *sb)
{
    free(sb->buf);
    *sb = (struct strbuf){0};
}

/* Parses a whole decimal integer within [min, max]. */
static bool parse_long(const char *s, long min, long max, long *out)
{
    int64_t v;

    if (eoc__num_i64(s, min, max, &v) != 0) /* strict: numparse.h */
        return false;
    *out = (long)v;
    return true;
}

/* Writes all of `len` bytes, retrying on EINTR and short writes. */
static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Kafka names: protocol API keys and error codes                      */
/* ------------------------------------------------------------------ */

/*
 * Kafka protocol API keys the 2.0.2 mock serves (rdkafka_mock_handlers.c);
 * librdkafka exports no name table for them. Other keys are accepted as
 * numbers.
 */
static const struct {
    const char *name;
    int16_t key;
} api_keys[] = {
    {"Produce", 0},          {"Fetch", 1},
    {"ListOffsets", 2},      {"Metadata", 3},
    {"OffsetCommit", 8},     {"OffsetFetch", 9},
    {"FindCoordinator", 10}, {"JoinGroup", 11},
    {"Heartbeat", 12},       {"LeaveGroup", 13},
    {"SyncGroup", 14},       {"ApiVersions", 18},
    {"InitProducerId", 22},  {"AddPartitionsToTxn", 24},
    {"AddOffsetsToTxn", 25}, {"EndTxn", 26},
    {"TxnOffsetCommit", 28},
};

/* An API key from its protocol name (any case) or number. */
static int parse_api(const char *s, int16_t *key, struct strbuf *err)
{
    long v;

    for (size_t i = 0; i < sizeof(api_keys) / sizeof(api_keys[0]); i++) {
        if (strcasecmp(s, api_keys[i].name) == 0) {
            *key = api_keys[i].key;
            return 0;
        }
    }
    if (parse_long(s, 0, INT16_MAX, &v)) {
        *key = (int16_t)v;
        return 0;
    }
    sb_addf(err, "unknown API '%s'", s);
    return -1;
}

/* `name` without a leading "RD_KAFKA_RESP_ERR_" and underscores. */
static const char *bare_err_name(const char *name)
{
    static const char prefix[] = "RD_KAFKA_RESP_ERR_";

    if (strncasecmp(name, prefix, sizeof(prefix) - 1) == 0)
        name += sizeof(prefix) - 1;
    while (*name == '_')
        name++;
    return name;
}

/*
 * An error code from its rd_kafka_err2name() name (any case, leading
 * underscores optional, e.g. NOT_COORDINATOR, TIMED_OUT) or number. The names
 * come from librdkafka's own table: no two differ only in leading
 * underscores.
 */
static int parse_err(const char *s, rd_kafka_resp_err_t *code, struct strbuf *err)
{
    const struct rd_kafka_err_desc *descs;
    size_t n;
    long v;

    rd_kafka_get_err_descs(&descs, &n);
    for (size_t i = 0; i < n; i++) {
        if (descs[i].name && strcasecmp(bare_err_name(s), bare_err_name(descs[i].name)) == 0) {
            *code = descs[i].code;
            return 0;
        }
    }
    if (parse_long(s, INT_MIN, INT_MAX, &v)) {
        *code = (rd_kafka_resp_err_t)v;
        return 0;
    }
    sb_addf(err, "unknown error '%s'", s);
    return -1;
}

/* ------------------------------------------------------------------ */
/* Topics created through --topic and `create`                         */
/* ------------------------------------------------------------------ */

struct topic {
    char *name; /* owned */
    int partitions;
};

struct topics {
    struct topic *v; /* owned array of `len` topics */
    size_t len;
    size_t cap;
};

/* Appends a copy of `name`. -1 on out of memory. */
static int topics_add(struct topics *t, const char *name, int partitions)
{
    char *copy;

    if (t->len == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 8;
        struct topic *v = realloc(t->v, cap * sizeof(*v));

        if (!v)
            return -1;
        t->v = v;
        t->cap = cap;
    }
    copy = strdup(name);
    if (!copy)
        return -1;
    t->v[t->len++] = (struct topic){copy, partitions};
    return 0;
}

static void topics_free(struct topics *t)
{
    for (size_t i = 0; i < t->len; i++)
        free(t->v[i].name);
    free(t->v);
    *t = (struct topics){0};
}

/*
 * Splits "NAME:PARTITIONS" (at the last colon). On success `name` holds the
 * NUL-terminated name (truncated specs are rejected).
 */
static bool parse_topic_spec(const char *spec, char *name, size_t name_size, int *partitions)
{
    const char *colon = strrchr(spec, ':');
    size_t len;
    long v;

    if (!colon || colon == spec || !parse_long(colon + 1, 1, MAX_PARTITIONS, &v))
        return false;
    len = (size_t)(colon - spec);
    if (len >= name_size)
        return false;
    memcpy(name, spec, len);
    name[len] = '\0';
    *partitions = (int)v;
    return true;
}

/* ------------------------------------------------------------------ */
/* The server                                                          */
/* ------------------------------------------------------------------ */

/* A source of command lines: stdin (replies on stdout) or a control client. */
struct conn {
    int in_fd;  /* -1: closed / slot unused */
    int out_fd; /* where replies go */
    size_t len; /* bytes of the current line in buf */
    bool too_long;
    char buf[LINE_CAP];
};

struct server {
    int brokers;
    bool broker_down[MAX_BROKERS + 1]; /* by broker ID: set down by `broker down` */
    bool quiet;
    bool stop;
    rd_kafka_t *host;                  /* dummy producer; outlives mcluster */
    rd_kafka_mock_cluster_t *mcluster; /* destroyed before host */
    rd_kafka_t *query;                 /* consumer for watermark queries */
    struct topics topics;              /* created via --topic and `create` */
    const char *control_path;          /* borrowed from argv; NULL: none */
    const char *bootstrap_file;        /* borrowed from argv; NULL: none */
    int listen_fd;                     /* control socket, -1 when none */
    int signal_fd;
    struct conn input; /* stdin */
    struct conn clients[MAX_CLIENTS];
};

/* librdkafka log callback; --quiet keeps critical lines only. */
static void log_line(const rd_kafka_t *rk, int level, const char *fac, const char *msg)
{
    const struct server *srv = rd_kafka_opaque(rk);

    if (srv->quiet && level > LOG_CRIT)
        return;
    fprintf(stderr, "%s: %s: %s: %s\n", PROG, rd_kafka_name(rk), fac, msg);
}

/*
 * Log callback of the watermark query handle: its connection failures to
 * brokers taken down on purpose are noise, and its errors reach the command's
 * reply anyway, so only critical lines pass.
 */
static void log_query_line(const rd_kafka_t *rk, int level, const char *fac, const char *msg)
{
    if (level <= LOG_CRIT)
        log_line(rk, level, fac, msg);
}

/*
 * Log callback of the host handle: like log_line(), without the warning that
 * it has no bootstrap.servers (it only hosts the mock cluster, on purpose).
 */
static void log_host_line(const rd_kafka_t *rk, int level, const char *fac, const char *msg)
{
    if (strcmp(fac, "CONFWARN") != 0)
        log_line(rk, level, fac, msg);
}

static void note(const struct server *srv, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* An informational line on stderr, unless --quiet. */
static void note(const struct server *srv, const char *fmt, ...)
{
    va_list ap;

    if (srv->quiet)
        return;
    va_start(ap, fmt);
    fprintf(stderr, "%s: ", PROG);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* A librdkafka handle logging through `log_cb`. NULL with errstr set. */
static rd_kafka_t *new_handle(struct server *srv, rd_kafka_type_t type, const char *bootstraps,
                              void (*log_cb)(const rd_kafka_t *, int, const char *, const char *),
                              char *errstr, size_t errstr_size)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char timeout[16];
    rd_kafka_t *rk;

    rd_kafka_conf_set_opaque(conf, srv);
    rd_kafka_conf_set_log_cb(conf, log_cb);
    /* Bound requests that wait for a broker, and reconnect soon after a
     * `broker up` (the default backoff grows to 10 s). */
    snprintf(timeout, sizeof(timeout), "%d", WATERMARK_TIMEOUT_MS);
    if (rd_kafka_conf_set(conf, "client.id", PROG, errstr, errstr_size) != RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "socket.timeout.ms", timeout, errstr, errstr_size) !=
            RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "reconnect.backoff.ms", "10", errstr, errstr_size) !=
            RD_KAFKA_CONF_OK ||
        rd_kafka_conf_set(conf, "reconnect.backoff.max.ms", "100", errstr, errstr_size) !=
            RD_KAFKA_CONF_OK ||
        (bootstraps && rd_kafka_conf_set(conf, "bootstrap.servers", bootstraps, errstr,
                                         errstr_size) != RD_KAFKA_CONF_OK)) {
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rk = rd_kafka_new(type, conf, errstr, errstr_size);
    if (!rk)
        rd_kafka_conf_destroy(conf);
    return rk;
}

/* Creates a mock topic and remembers it for status/retention. */
static int create_topic(struct server *srv, const char *name, int partitions, struct strbuf *err)
{
    rd_kafka_resp_err_t rc = rd_kafka_mock_topic_create(srv->mcluster, name, partitions, 1);

    if (rc) {
        sb_addf(err, "create %s: %s", name, rd_kafka_err2str(rc));
        return -1;
    }
    if (topics_add(&srv->topics, name, partitions)) {
        sb_addf(err, "out of memory");
        return -1;
    }
    return 0;
}

/*
 * Finds the leader of topic:partition in `md`. Returns NULL with *leader set,
 * or a static text saying why there is none (e.g. after `topic-error`).
 */
static const char *metadata_leader(const struct rd_kafka_metadata *md, const char *topic,
                                   int32_t partition, int32_t *leader)
{
    for (int i = 0; i < md->topic_cnt; i++) {
        const rd_kafka_metadata_topic_t *t = &md->topics[i];

        if (strcmp(t->topic, topic) != 0)
            continue;
        if (t->err)
            return rd_kafka_err2str(t->err);
        for (int j = 0; j < t->partition_cnt; j++) {
            if (t->partitions[j].id != partition)
                continue;
            *leader = t->partitions[j].leader;
            return *leader >= 0 ? NULL : "no leader";
        }
        return "partition not in metadata";
    }
    return "topic not in metadata";
}

/* Milliseconds on the monotonic clock. */
static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Fresh metadata for all topics. Right after `broker down` the handle may
 * still send the request to that broker, whose connection it has not yet
 * seen close, and then wait for it in vain: so attempts start short and
 * double, within WATERMARK_TIMEOUT_MS in all, and a retry goes to a broker
 * that is up.
 */
static rd_kafka_resp_err_t fresh_metadata(rd_kafka_t *rk, const struct rd_kafka_metadata **md)
{
    int64_t deadline = now_ms() + WATERMARK_TIMEOUT_MS;
    int64_t attempt_ms = 250;

    for (;;) {
        int64_t left = deadline - now_ms();
        rd_kafka_resp_err_t rc =
            rd_kafka_metadata(rk, 1, NULL, md, (int)(left < attempt_ms ? left : attempt_ms));

        if ((rc != RD_KAFKA_RESP_ERR__TIMED_OUT && rc != RD_KAFKA_RESP_ERR__TRANSPORT) ||
            deadline - now_ms() <= 0)
            return rc;
        attempt_ms *= 2;
    }
}

/*
 * Fails, saying why, when a created partition has no reachable leader in
 * fresh metadata (which also updates the leaders the query handle uses, and
 * `leader` may have moved them). Checked first so that a partition whose
 * leader was set down fails at once instead of after a timeout.
 */
static int check_leaders(struct server *srv, struct strbuf *err)
{
    const struct rd_kafka_metadata *md;
    rd_kafka_resp_err_t rc = fresh_metadata(srv->query, &md);
    int ret = 0;

    if (rc) {
        sb_addf(err, "metadata: %s", rd_kafka_err2str(rc));
        return -1;
    }
    for (size_t i = 0; i < srv->topics.len && ret == 0; i++) {
        const struct topic *t = &srv->topics.v[i];

        for (int32_t p = 0; p < t->partitions && ret == 0; p++) {
            int32_t leader = -1;
            const char *why = metadata_leader(md, t->name, p, &leader);

            if (!why && (leader < 1 || leader > srv->brokers || srv->broker_down[leader]))
                why = "its leader is down";
            if (why) {
                sb_addf(err, "watermarks of %s:%" PRId32 ": %s (leader %" PRId32 ")", t->name, p,
                        why, leader);
                ret = -1;
            }
        }
    }
    rd_kafka_metadata_destroy(md);
    return ret;
}

/*
 * One end of every created partition, in creation order: `end` is
 * RD_KAFKA_OFFSET_BEGINNING for the low watermarks, RD_KAFKA_OFFSET_END for
 * the high ones. rd_kafka_offsets_for_times() sends them as the ListOffsets
 * timestamps -2 (earliest) and -1 (latest). Unlike it, librdkafka 2.0.2's
 * rd_kafka_query_watermark_offsets() ignores its timeout while a broker's
 * connection state keeps changing (after `broker down`/`up`). NULL on error.
 */
static rd_kafka_topic_partition_list_t *query_ends(struct server *srv, int64_t end,
                                                   struct strbuf *err)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(1);
    rd_kafka_resp_err_t rc;

    for (size_t i = 0; i < srv->topics.len; i++) {
        for (int32_t p = 0; p < srv->topics.v[i].partitions; p++)
            rd_kafka_topic_partition_list_add(list, srv->topics.v[i].name, p)->offset = end;
    }
    rc = rd_kafka_offsets_for_times(srv->query, list, WATERMARK_TIMEOUT_MS);
    for (int i = 0; !rc && i < list->cnt; i++) {
        if (list->elems[i].err) {
            rc = list->elems[i].err;
            sb_addf(err, "watermarks of %s:%" PRId32 ": ", list->elems[i].topic,
                    list->elems[i].partition);
        }
    }
    if (rc) {
        sb_addf(err, "%s", rd_kafka_err2str(rc));
        rd_kafka_topic_partition_list_destroy(list);
        return NULL;
    }
    return list;
}

/* Called for each created partition with its watermarks. */
typedef void (*watermark_fn)(const char *topic, int32_t partition, int64_t low, int64_t high,
                             struct strbuf *out);

/*
 * Queries the watermarks of every created partition and calls `fn` for each,
 * in creation order. -1 with the reason in `err` when any query fails.
 */
static int foreach_watermark(struct server *srv, watermark_fn fn, struct strbuf *out,
                             struct strbuf *err)
{
    rd_kafka_topic_partition_list_t *lows = NULL, *highs = NULL;
    int ret = -1;

    if (srv->topics.len == 0)
        return 0;
    if (check_leaders(srv, err) == 0 && (lows = query_ends(srv, RD_KAFKA_OFFSET_BEGINNING, err)) &&
        (highs = query_ends(srv, RD_KAFKA_OFFSET_END, err))) {
        /* Both lists hold the same partitions in the same order. */
        for (int i = 0; i < lows->cnt; i++)
            fn(lows->elems[i].topic, lows->elems[i].partition, lows->elems[i].offset,
               highs->elems[i].offset, out);
        ret = 0;
    }
    if (lows)
        rd_kafka_topic_partition_list_destroy(lows);
    if (highs)
        rd_kafka_topic_partition_list_destroy(highs);
    return ret;
}

static void add_status(const char *topic, int32_t partition, int64_t low, int64_t high,
                       struct strbuf *out)
{
    sb_addf(out, "%s%s:%" PRId32 ":%" PRId64 ":%" PRId64, out->len ? " " : "", topic, partition,
            low, high);
}

static void add_lost(const char *topic, int32_t partition, int64_t low, int64_t high,
                     struct strbuf *out)
{
    (void)high;
    if (low != 0)
        sb_addf(out, " %s:%" PRId32 ":%" PRId64, topic, partition, low);
}

/*
 * Appends "lost topic:partition:low ..." to `out` when the mock dropped the
 * oldest records of any created partition; appends nothing when none.
 */
static int check_retention(struct server *srv, struct strbuf *out, struct strbuf *err)
{
    struct strbuf lost = {0};
    int rc = foreach_watermark(srv, add_lost, &lost, err);

    if (rc == 0 && (lost.len || lost.failed)) {
        sb_addf(out, "lost");
        sb_append(out, &lost);
    }
    sb_free(&lost);
    return rc;
}

/* --listen HOST:PORT, parsed. */
struct listen_addr {
    uint32_t ip;   /* IPv4 address, network order */
    unsigned port; /* 0: the kernel chooses (no --listen) */
    char text[64]; /* as given, for messages */
};

/*
 * Parses "HOST:PORT" (HOST an IPv4 address other than 0.0.0.0: a broker
 * advertises the address it is bound to, and 0.0.0.0 is nothing a client can
 * connect to; "localhost" is taken as 127.0.0.1).
 */
static bool parse_listen(const char *s, struct listen_addr *out)
{
    const char *colon = strrchr(s, ':');
    char host[64];
    struct in_addr a;
    long port;

    if (!colon || (size_t)(colon - s) >= sizeof(host) || strlen(s) >= sizeof(out->text))
        return false;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    if (strcmp(host, "localhost") == 0)
        snprintf(host, sizeof(host), "127.0.0.1");
    if (inet_pton(AF_INET, host, &a) != 1 || a.s_addr == htonl(INADDR_ANY) ||
        !parse_long(colon + 1, 1, 65535, &port))
        return false;
    out->ip = a.s_addr;
    out->port = (unsigned)port;
    snprintf(out->text, sizeof(out->text), "%s", s);
    return true;
}

/*
 * Makes sure the `brokers` ports from listen->port can be bound (the mock
 * cannot report a failed bind cleanly), so a busy port is a one-line error.
 */
static int check_listen(const struct listen_addr *la, int brokers, char *errstr, size_t errstr_size)
{
    if (la->port + (unsigned)brokers - 1 > 65535) {
        snprintf(errstr, errstr_size, "--listen %s: %d brokers need ports up to %u", la->text,
                 brokers, la->port + (unsigned)brokers - 1);
        return -1;
    }
    for (int i = 0; i < brokers; i++) {
        struct sockaddr_in sin = {.sin_family = AF_INET,
                                  .sin_port = htons((uint16_t)(la->port + (unsigned)i)),
                                  .sin_addr = {.s_addr = la->ip}};
        int on = 1;
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int rc = fd < 0 ? -1 : 0;

        if (rc == 0)
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
        if (rc == 0)
            rc = bind(fd, (struct sockaddr *)&sin, sizeof(sin));
        if (rc != 0) {
            char host[INET_ADDRSTRLEN] = "?";

            inet_ntop(AF_INET, &sin.sin_addr, host, sizeof(host));
            snprintf(errstr, errstr_size, "cannot listen on %s:%u: %s", host,
                     la->port + (unsigned)i, strerror(errno));
        }
        if (fd >= 0)
            close(fd);
        if (rc != 0)
            return -1;
    }
    return 0;
}

/* Starts the mock cluster (on `la` when given), its topics and the query handle. */
static int start_cluster(struct server *srv, const struct listen_addr *la, char *const *topic_specs,
                         size_t topic_count, char *errstr, size_t errstr_size)
{
    struct strbuf err = {0};
    char name[256];
    int partitions = 0;

    srv->host = new_handle(srv, RD_KAFKA_PRODUCER, NULL, log_host_line, errstr, errstr_size);
    if (!srv->host)
        return -1;
    if (la && la->port) {
        if (check_listen(la, srv->brokers, errstr, errstr_size) != 0)
            return -1;
        atomic_store(&accept_hook.listen_ip, la->ip);
        atomic_store(&accept_hook.listen_last, la->port + (unsigned)srv->brokers - 1);
        atomic_store(&accept_hook.listen_next, la->port);
    }
    srv->mcluster = rd_kafka_mock_cluster_new(srv->host, srv->brokers);
    atomic_store(&accept_hook.listen_next, 0);
    if (!srv->mcluster) {
        snprintf(errstr, errstr_size, "could not create the mock cluster");
        return -1;
    }
    for (size_t i = 0; i < topic_count; i++) {
        /* Specs were validated by parse_options(). */
        parse_topic_spec(topic_specs[i], name, sizeof(name), &partitions);
        if (create_topic(srv, name, partitions, &err)) {
            snprintf(errstr, errstr_size, "%s", sb_str(&err));
            sb_free(&err);
            return -1;
        }
    }
    srv->query = new_handle(srv, RD_KAFKA_CONSUMER, rd_kafka_mock_cluster_bootstraps(srv->mcluster),
                            log_query_line, errstr, errstr_size);
    return srv->query ? 0 : -1;
}

/* Writes `line` and a newline to `path` through a temp file and rename(). */
static int write_file_atomically(const char *path, const char *line, char *errstr,
                                 size_t errstr_size)
{
    size_t tmp_size = strlen(path) + 32;
    char *tmp = malloc(tmp_size);
    FILE *f;
    int rc = -1;

    if (!tmp) {
        snprintf(errstr, errstr_size, "out of memory");
        return -1;
    }
    snprintf(tmp, tmp_size, "%s.tmp.%ld", path, (long)getpid());
    f = fopen(tmp, "w");
    if (f) {
        bool ok = fprintf(f, "%s\n", line) >= 0;

        ok = (fclose(f) == 0) && ok;
        rc = ok && rename(tmp, path) == 0 ? 0 : -1;
    }
    if (rc)
        snprintf(errstr, errstr_size, "%s: %s", path, strerror(errno));
    if (rc && f)
        unlink(tmp);
    free(tmp);
    return rc;
}

/* True when something accepts connections on the UNIX socket at `path`. */
static bool socket_in_use(const char *path)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool used;

    if (fd < 0)
        return false;
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
    used = connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0;
    close(fd);
    return used;
}

/*
 * Listens on a UNIX stream socket at `path`, replacing a stale socket file
 * left by a dead instance (but not a live one, nor any other kind of file).
 */
static int listen_control(const char *path, char *errstr, size_t errstr_size)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    struct stat st;
    int fd;

    if (strlen(path) >= sizeof(addr.sun_path)) {
        snprintf(errstr, errstr_size, "%s: control socket path too long", path);
        return -1;
    }
    memcpy(addr.sun_path, path, strlen(path) + 1);
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode) || socket_in_use(path)) {
            snprintf(errstr, errstr_size, "%s: exists and is %s", path,
                     S_ISSOCK(st.st_mode) ? "in use" : "not a socket");
            return -1;
        }
        unlink(path);
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 || listen(fd, 16) != 0) {
        snprintf(errstr, errstr_size, "%s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

/* ------------------------------------------------------------------ */
/* Commands                                                            */
/* ------------------------------------------------------------------ */

/*
 * A command handler: `args` holds exactly the command's argument words.
 * Returns 0 with the text after "ok" in `out` (may stay empty), or -1 with
 * the reason in `out`.
 */
typedef int (*command_fn)(struct server *srv, char **args, struct strbuf *out);

/* A broker ID of this cluster (1..brokers). */
static int parse_broker(const struct server *srv, const char *s, int32_t *id, struct strbuf *err)
{
    long v;

    if (!parse_long(s, 1, srv->brokers, &v)) {
        sb_addf(err, "no broker '%s' (brokers are 1..%d)", s, srv->brokers);
        return -1;
    }
    *id = (int32_t)v;
    return 0;
}

static int parse_count(const char *s, long min, long max, const char *what, long *out,
                       struct strbuf *err)
{
    if (!parse_long(s, min, max, out)) {
        sb_addf(err, "bad %s '%s' (%ld..%ld)", what, s, min, max);
        return -1;
    }
    return 0;
}

/* Maps a mock API result to the handler convention. */
static int mock_result(rd_kafka_resp_err_t rc, struct strbuf *out)
{
    if (!rc)
        return 0;
    sb_addf(out, "%s", rd_kafka_err2str(rc));
    return -1;
}

/* Sets broker `id` down or up, remembering it for the watermark queries. */
static rd_kafka_resp_err_t set_broker_down(struct server *srv, int32_t id, bool down)
{
    rd_kafka_resp_err_t rc = down ? rd_kafka_mock_broker_set_down(srv->mcluster, id)
                                  : rd_kafka_mock_broker_set_up(srv->mcluster, id);

    if (!rc)
        srv->broker_down[id] = down;
    return rc;
}

static int cmd_broker_down(struct server *srv, char **args, struct strbuf *out)
{
    int32_t id;

    if (parse_broker(srv, args[0], &id, out))
        return -1;
    return mock_result(set_broker_down(srv, id, true), out);
}

static int cmd_broker_up(struct server *srv, char **args, struct strbuf *out)
{
    int32_t id;

    if (parse_broker(srv, args[0], &id, out))
        return -1;
    return mock_result(set_broker_down(srv, id, false), out);
}

static int cmd_broker_rtt(struct server *srv, char **args, struct strbuf *out)
{
    int32_t id;
    long ms;

    if (parse_broker(srv, args[0], &id, out) || parse_count(args[1], 0, INT_MAX, "MS", &ms, out))
        return -1;
    return mock_result(rd_kafka_mock_broker_set_rtt(srv->mcluster, id, (int)ms), out);
}

static int cmd_errors(struct server *srv, char **args, struct strbuf *out)
{
    rd_kafka_resp_err_t code, *codes;
    int16_t api;
    long count;

    if (parse_api(args[0], &api, out) || parse_err(args[1], &code, out) ||
        parse_count(args[2], 1, MAX_ERROR_COUNT, "COUNT", &count, out))
        return -1;
    codes = malloc((size_t)count * sizeof(*codes));
    if (!codes) {
        sb_addf(out, "out of memory");
        return -1;
    }
    for (long i = 0; i < count; i++)
        codes[i] = code;
    rd_kafka_mock_push_request_errors_array(srv->mcluster, api, (size_t)count, codes);
    free(codes);
    return 0;
}

static int cmd_broker_errors(struct server *srv, char **args, struct strbuf *out)
{
    rd_kafka_resp_err_t code;
    int32_t id;
    int16_t api;
    long rtt, count;

    if (parse_broker(srv, args[0], &id, out) || parse_api(args[1], &api, out) ||
        parse_err(args[2], &code, out) || parse_count(args[3], 0, INT_MAX, "RTT_MS", &rtt, out) ||
        parse_count(args[4], 1, MAX_ERROR_COUNT, "COUNT", &count, out))
        return -1;
    /* The variadic API takes (err, rtt) pairs: push them one at a time. */
    for (long i = 0; i < count; i++) {
        rd_kafka_resp_err_t rc =
            rd_kafka_mock_broker_push_request_error_rtts(srv->mcluster, id, api, 1, code, (int)rtt);

        if (rc)
            return mock_result(rc, out);
    }
    return 0;
}

static int cmd_leader(struct server *srv, char **args, struct strbuf *out)
{
    long partition, broker;

    /* Broker -1 makes the partition leaderless. */
    if (parse_count(args[1], 0, INT32_MAX, "PARTITION", &partition, out) ||
        parse_count(args[2], -1, srv->brokers, "BROKER", &broker, out))
        return -1;
    return mock_result(rd_kafka_mock_partition_set_leader(srv->mcluster, args[0],
                                                          (int32_t)partition, (int32_t)broker),
                       out);
}

static int cmd_coordinator(struct server *srv, char **args, struct strbuf *out)
{
    int32_t id;

    if (strcmp(args[0], "group") != 0 && strcmp(args[0], "transaction") != 0) {
        sb_addf(out, "coordinator type must be group or transaction");
        return -1;
    }
    if (parse_broker(srv, args[2], &id, out))
        return -1;
    return mock_result(rd_kafka_mock_coordinator_set(srv->mcluster, args[0], args[1], id), out);
}

static int cmd_topic_error(struct server *srv, char **args, struct strbuf *out)
{
    rd_kafka_resp_err_t code;

    if (parse_err(args[1], &code, out))
        return -1;
    rd_kafka_mock_topic_set_error(srv->mcluster, args[0], code);
    return 0;
}

static int cmd_create(struct server *srv, char **args, struct strbuf *out)
{
    long partitions;

    if (parse_count(args[1], 1, MAX_PARTITIONS, "PARTITIONS", &partitions, out))
        return -1;
    return create_topic(srv, args[0], (int)partitions, out);
}

static int cmd_status(struct server *srv, char **args, struct strbuf *out)
{
    struct strbuf status = {0}; /* kept apart: a failure replaces it */
    int rc = foreach_watermark(srv, add_status, &status, out);

    (void)args;
    if (rc == 0)
        sb_append(out, &status);
    sb_free(&status);
    return rc;
}

static int cmd_retention(struct server *srv, char **args, struct strbuf *out)
{
    (void)args;
    return check_retention(srv, out, out);
}

static int cmd_nodelay(struct server *srv, char **args, struct strbuf *out)
{
    (void)srv;
    (void)args;
    sb_addf(out, "%u", atomic_load(&accept_hook.nodelay_conns));
    return 0;
}

static int cmd_quit(struct server *srv, char **args, struct strbuf *out)
{
    (void)args;
    (void)out;
    srv->stop = true;
    return 0;
}

static int cmd_help(struct server *srv, char **args, struct strbuf *out);

static const struct command {
    const char *word;
    const char *sub; /* second word, or NULL */
    int nargs;       /* argument words after word (and sub) */
    const char *usage;
    command_fn fn;
} commands[] = {
    {"broker", "down", 1, "broker down ID", cmd_broker_down},
    {"broker", "up", 1, "broker up ID", cmd_broker_up},
    {"broker", "rtt", 2, "broker rtt ID MS", cmd_broker_rtt},
    {"errors", NULL, 3, "errors API ERR COUNT", cmd_errors},
    {"broker-errors", NULL, 5, "broker-errors ID API ERR RTT_MS COUNT", cmd_broker_errors},
    {"leader", NULL, 3, "leader TOPIC PARTITION BROKER", cmd_leader},
    {"coordinator", NULL, 3, "coordinator group|transaction KEY BROKER", cmd_coordinator},
    {"topic-error", NULL, 2, "topic-error TOPIC ERR", cmd_topic_error},
    {"create", NULL, 2, "create TOPIC PARTITIONS", cmd_create},
    {"status", NULL, 0, "status", cmd_status},
    {"retention", NULL, 0, "retention", cmd_retention},
    {"nodelay", NULL, 0, "nodelay", cmd_nodelay},
    {"help", NULL, 0, "help", cmd_help},
    {"quit", NULL, 0, "quit", cmd_quit},
};

#define COMMAND_COUNT (sizeof(commands) / sizeof(commands[0]))

static int cmd_help(struct server *srv, char **args, struct strbuf *out)
{
    (void)srv;
    (void)args;
    for (size_t i = 0; i < COMMAND_COUNT; i++)
        sb_addf(out, "%s%s", i ? "; " : "", commands[i].usage);
    return 0;
}

/* Finds the command for `words`; sets *usage when only the first word matched. */
static const struct command *find_command(char **words, int nwords, const char **usage)
{
    for (size_t i = 0; i < COMMAND_COUNT; i++) {
        const struct command *c = &commands[i];
        int skip = c->sub ? 2 : 1;

        if (strcasecmp(words[0], c->word) != 0)
            continue;
        if (!*usage)
            *usage = c->usage;
        if (c->sub && (nwords < 2 || strcasecmp(words[1], c->sub) != 0))
            continue;
        if (nwords - skip == c->nargs)
            return c;
        *usage = c->usage;
    }
    return NULL;
}

/* Runs one command line; `reply` receives the whole reply without newline. */
static void run_line(struct server *srv, char *line, struct strbuf *reply)
{
    struct strbuf out = {0};
    char *words[MAX_WORDS + 1];
    int nwords = 0;
    const char *usage = NULL;
    const struct command *c;
    char *save = NULL;
    int rc = -1;

    for (char *w = strtok_r(line, " \t\r", &save); w; w = strtok_r(NULL, " \t\r", &save)) {
        if (nwords == MAX_WORDS + 1)
            break;
        words[nwords++] = w;
    }
    if (nwords == 0)
        sb_addf(&out, "empty command");
    else if ((c = find_command(words, nwords, &usage)))
        rc = c->fn(srv, words + (c->sub ? 2 : 1), &out);
    else if (usage)
        sb_addf(&out, "usage: %s", usage);
    else
        sb_addf(&out, "unknown command '%s' (try: help)", words[0]);

    if (out.failed)
        sb_addf(reply, "err out of memory");
    else if (rc == 0)
        sb_addf(reply, "ok%s%s", out.len ? " " : "", sb_str(&out));
    else
        sb_addf(reply, "err %s", sb_str(&out));
    sb_free(&out);
}

/* ------------------------------------------------------------------ */
/* Command connections and the main loop                               */
/* ------------------------------------------------------------------ */

/* Runs the line buffered in `c` and writes its reply. */
static void conn_run_line(struct server *srv, struct conn *c)
{
    struct strbuf reply = {0};

    if (c->too_long) {
        sb_addf(&reply, "err line too long (max %d bytes)", LINE_CAP - 1);
    } else {
        c->buf[c->len] = '\0';
        run_line(srv, c->buf, &reply);
    }
    sb_addf(&reply, "\n");
    if (reply.failed || write_all(c->out_fd, reply.buf, reply.len) != 0)
        note(srv, "could not write a reply: %s", reply.failed ? "out of memory" : strerror(errno));
    sb_free(&reply);
    c->len = 0;
    c->too_long = false;
}

/*
 * Reads what is available on `c` and runs each complete line. Returns -1 at
 * end of input or on a read error (a last unterminated line is run first).
 */
static int conn_read(struct server *srv, struct conn *c)
{
    char chunk[512];
    ssize_t n = read(c->in_fd, chunk, sizeof(chunk));

    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return 0;
    if (n <= 0) {
        if (c->len || c->too_long)
            conn_run_line(srv, c);
        return -1;
    }
    for (ssize_t i = 0; i < n && !srv->stop; i++) {
        if (chunk[i] == '\n')
            conn_run_line(srv, c);
        else if (c->len + 1 < sizeof(c->buf))
            c->buf[c->len++] = chunk[i];
        else
            c->too_long = true;
    }
    return 0;
}

static void conn_close(struct conn *c)
{
    close(c->in_fd);
    c->in_fd = -1;
}

/* Accepts a control client into a free slot (or turns it away). */
static void accept_client(struct server *srv)
{
    static const char busy[] = "err too many control clients\n";
    struct timeval tv = {.tv_sec = CLIENT_SEND_TIMEOUT};
    int fd = accept4(srv->listen_fd, NULL, NULL, SOCK_CLOEXEC);

    if (fd < 0)
        return;
    /* A client that stops reading replies must not stall the loop for long. */
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    for (size_t i = 0; i < MAX_CLIENTS; i++) {
        struct conn *c = &srv->clients[i];

        if (c->in_fd < 0) {
            *c = (struct conn){.in_fd = fd, .out_fd = fd};
            return;
        }
    }
    (void)write_all(fd, busy, sizeof(busy) - 1);
    close(fd);
}

/*
 * Handles the pending signal; only SIGINT and SIGTERM are routed here. A
 * signal from anyone but the parent is reported even with --quiet: a test
 * whose broker vanished needs to know who stopped it.
 */
static void read_signal(struct server *srv)
{
    struct signalfd_siginfo si;

    if (read(srv->signal_fd, &si, sizeof(si)) != (ssize_t)sizeof(si))
        return;
    if (!srv->quiet || si.ssi_pid != (uint32_t)getppid())
        fprintf(stderr, "%s: %s from pid %" PRIu32 ": stopping\n", PROG,
                strsignal((int)si.ssi_signo), si.ssi_pid);
    srv->stop = true;
}

enum { PFD_SIGNAL, PFD_LISTEN, PFD_INPUT, PFD_CLIENTS, PFD_COUNT = PFD_CLIENTS + MAX_CLIENTS };

/* Serves commands until srv->stop. */
static int serve(struct server *srv)
{
    struct pollfd pfd[PFD_COUNT];

    while (!srv->stop) {
        pfd[PFD_SIGNAL] = (struct pollfd){.fd = srv->signal_fd, .events = POLLIN};
        pfd[PFD_LISTEN] = (struct pollfd){.fd = srv->listen_fd, .events = POLLIN};
        pfd[PFD_INPUT] = (struct pollfd){.fd = srv->input.in_fd, .events = POLLIN};
        for (size_t i = 0; i < MAX_CLIENTS; i++)
            pfd[PFD_CLIENTS + i] = (struct pollfd){.fd = srv->clients[i].in_fd, .events = POLLIN};

        if (poll(pfd, PFD_COUNT, -1) < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "%s: poll: %s\n", PROG, strerror(errno));
            return -1;
        }
        if (pfd[PFD_SIGNAL].revents)
            read_signal(srv);
        /* EOF on stdin only stops reading it (the program keeps serving). */
        if (pfd[PFD_INPUT].revents && !srv->stop && conn_read(srv, &srv->input) != 0)
            srv->input.in_fd = -1;
        for (size_t i = 0; i < MAX_CLIENTS && !srv->stop; i++) {
            if (pfd[PFD_CLIENTS + i].revents && conn_read(srv, &srv->clients[i]) != 0)
                conn_close(&srv->clients[i]);
        }
        if (pfd[PFD_LISTEN].revents && !srv->stop)
            accept_client(srv);
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Startup and shutdown                                                */
/* ------------------------------------------------------------------ */

struct options {
    int brokers;
    char **topics; /* owned array of "NAME:PARTITIONS" specs (pointing into argv) */
    size_t topic_count;
    const char *bootstrap_file;
    const char *control_path;
    struct listen_addr listen; /* --listen; port 0 when not given */
    const char *send_path;     /* client mode: --send PATH COMMAND... */
    char **send_words;
    int send_word_count;
    bool quiet;
};

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: %s [--brokers N] [--topic NAME:PARTITIONS]... [--listen HOST:PORT]\n"
            "          [--bootstrap-file PATH] [--control PATH] [--quiet]\n"
            "       %s --send PATH COMMAND...\n"
            "\n"
            "An IN-MEMORY DEVELOPMENT Kafka cluster (librdkafka's mock cluster) for tests\n"
            "and local development. NOT a production broker: nothing is persisted, and each\n"
            "partition keeps only about 5 MiB / 100000 batches (older records are silently\n"
            "dropped; the `retention` command and the exit check report it).\n"
            "\n"
            "Prints the bootstrap servers alone on one line on stdout, then serves commands,\n"
            "one per line with one reply line each (\"ok ...\" or \"err REASON\"), from stdin\n"
            "(EOF on stdin does not stop it) and from the control socket, until SIGTERM,\n"
            "SIGINT or `quit`. Brokers listen on 127.0.0.1, on ports the kernel chooses,\n"
            "unless --listen says where.\n"
            "\n"
            "  -b, --brokers N            number of brokers, IDs 1..N (default 1)\n"
            "  -t, --topic NAME:PARTS     create a topic (replication factor 1); repeatable\n"
            "  -l, --listen HOST:PORT     broker 1 listens on HOST:PORT, broker N on PORT+N-1\n"
            "                             (HOST: an IPv4 address such as 127.0.0.1; each\n"
            "                             broker advertises its own address to clients)\n"
            "      --bootstrap-file PATH  also write the bootstrap line to PATH (atomically;\n"
            "                             removed at exit)\n"
            "      --control PATH         serve commands on a UNIX stream socket at PATH\n"
            "  -q, --quiet                no informational messages on stderr (warnings,\n"
            "                             errors and critical librdkafka logs remain)\n"
            "      --send PATH COMMAND    client: send COMMAND (words joined by spaces) to the\n"
            "                             control socket at PATH, print the reply, exit 0 on ok\n"
            "  -h, --help                 this text\n"
            "\n"
            "Commands (API: Kafka API name such as Produce, FindCoordinator, or number;\n"
            "ERR: librdkafka error name such as NOT_COORDINATOR, REQUEST_TIMED_OUT, NO_ERROR,\n"
            "or number):\n",
            PROG, PROG);
    for (size_t i = 0; i < COMMAND_COUNT; i++)
        fprintf(f, "  %s\n", commands[i].usage);
    fprintf(f, "`status` replies \"ok topic:partition:low:high ...\" for every created topic;\n"
               "`retention` replies \"ok\" or \"ok lost topic:partition:low ...\"; `nodelay`\n"
               "replies \"ok N\", the number of broker connections given TCP_NODELAY.\n"
               "\n"
               "Environment: EOC_KAFKA_DEV_NAGLE=1 leaves Nagle's algorithm on for broker\n"
               "connections (as librdkafka 2.0.2's mock does): pipelined requests, such as a\n"
               "flush to several partitions, then stall ~40 ms each. Only useful to measure\n"
               "that.\n");
}

/*
 * Parses the command line; returns -1 after printing the reason, 1 for --help.
 * The caller frees o->topics in every case.
 */
static int parse_options(int argc, char **argv, struct options *o)
{
    enum { OPT_BOOTSTRAP_FILE = 256, OPT_CONTROL, OPT_SEND };
    static const struct option longopts[] = {
        {"brokers", required_argument, NULL, 'b'},
        {"topic", required_argument, NULL, 't'},
        {"listen", required_argument, NULL, 'l'},
        {"bootstrap-file", required_argument, NULL, OPT_BOOTSTRAP_FILE},
        {"control", required_argument, NULL, OPT_CONTROL},
        {"send", required_argument, NULL, OPT_SEND},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    char name[256];
    int opt, partitions;
    long v;

    *o = (struct options){.brokers = 1, .topics = calloc((size_t)argc, sizeof(char *))};
    if (!o->topics) {
        fprintf(stderr, "%s: out of memory\n", PROG);
        return -1;
    }
    /* "+": stop at the first non-option, so a --send COMMAND may hold "-1". */
    while ((opt = getopt_long(argc, argv, "+b:t:l:qh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'b':
            if (!parse_long(optarg, 1, MAX_BROKERS, &v)) {
                fprintf(stderr, "%s: --brokers must be 1..%d\n", PROG, MAX_BROKERS);
                return -1;
            }
            o->brokers = (int)v;
            break;
        case 't':
            if (!parse_topic_spec(optarg, name, sizeof(name), &partitions)) {
                fprintf(stderr, "%s: --topic wants NAME:PARTITIONS (1..%d), got '%s'\n", PROG,
                        MAX_PARTITIONS, optarg);
                return -1;
            }
            o->topics[o->topic_count++] = optarg;
            break;
        case 'l':
            if (!parse_listen(optarg, &o->listen)) {
                fprintf(stderr,
                        "%s: --listen wants IPV4ADDRESS:PORT such as 127.0.0.1:9092, got '%s'\n",
                        PROG, optarg);
                return -1;
            }
            break;
        case OPT_BOOTSTRAP_FILE:
            o->bootstrap_file = optarg;
            break;
        case OPT_CONTROL:
            o->control_path = optarg;
            break;
        case OPT_SEND:
            o->send_path = optarg;
            break;
        case 'q':
            o->quiet = true;
            break;
        case 'h':
            usage(stdout);
            return 1;
        default:
            usage(stderr);
            return -1;
        }
    }
    o->send_words = argv + optind;
    o->send_word_count = argc - optind;
    if (!o->send_path && optind < argc) {
        fprintf(stderr, "%s: unexpected argument '%s' (see --help)\n", PROG, argv[optind]);
        return -1;
    }
    if (o->send_path && optind == argc) {
        fprintf(stderr, "%s: --send needs a COMMAND\n", PROG);
        return -1;
    }
    return 0;
}

/* Makes sure fds 0..2 are open, so no socket can become "stdin". */
static void open_std_fds(void)
{
    for (int fd = 0; fd <= 2; fd++) {
        if (fcntl(fd, F_GETFD) < 0 && open("/dev/null", O_RDWR) < 0)
            return;
    }
}

/*
 * Routes SIGINT and SIGTERM to a signalfd (blocked before any thread starts,
 * so every librdkafka thread inherits the mask) and ignores SIGPIPE, so a
 * client that hangs up only fails a write.
 */
static int setup_signals(void)
{
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    if (sigprocmask(SIG_BLOCK, &set, NULL) != 0)
        return -1;
    signal(SIGPIPE, SIG_IGN);
    return signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
}

/* Everything before serving; -1 after printing the reason. */
static int server_start(struct server *srv, const struct options *o)
{
    char errstr[512];
    const char *bootstraps;

    if (start_cluster(srv, &o->listen, o->topics, o->topic_count, errstr, sizeof(errstr)) != 0)
        goto fail;
    if (o->control_path) {
        srv->listen_fd = listen_control(o->control_path, errstr, sizeof(errstr));
        if (srv->listen_fd < 0)
            goto fail;
        srv->control_path = o->control_path;
    }
    bootstraps = rd_kafka_mock_cluster_bootstraps(srv->mcluster);
    if (o->bootstrap_file) {
        if (write_file_atomically(o->bootstrap_file, bootstraps, errstr, sizeof(errstr)) != 0)
            goto fail;
        srv->bootstrap_file = o->bootstrap_file;
    }
    printf("%s\n", bootstraps);
    fflush(stdout);
    note(srv, "IN-MEMORY DEVELOPMENT Kafka, %d broker(s) at %s%s%s", srv->brokers, bootstraps,
         srv->control_path ? ", control socket " : "", srv->control_path ? srv->control_path : "");
    return 0;
fail:
    fprintf(stderr, "%s: %s\n", PROG, errstr);
    return -1;
}

/* Warns on stderr when the mock dropped records of any created partition. */
static void warn_retention(struct server *srv)
{
    struct strbuf lost = {0}, err = {0};

    /* Partition leaders must be reachable to query their watermarks. */
    for (int32_t id = 1; id <= srv->brokers; id++)
        set_broker_down(srv, id, false);
    if (check_retention(srv, &lost, &err) != 0)
        fprintf(stderr, "%s: warning: could not check retention: %s\n", PROG, sb_str(&err));
    else if (lost.len)
        fprintf(stderr,
                "%s: warning: the in-memory log dropped old records (%s); "
                "consumers starting from offset 0 missed data\n",
                PROG, sb_str(&lost));
    sb_free(&lost);
    sb_free(&err);
}

/* Releases everything server_start() and serve() acquired (also after a
 * failed start). */
static void server_stop(struct server *srv)
{
    for (size_t i = 0; i < MAX_CLIENTS; i++) {
        if (srv->clients[i].in_fd >= 0)
            conn_close(&srv->clients[i]);
    }
    if (srv->listen_fd >= 0) {
        close(srv->listen_fd);
        unlink(srv->control_path);
    }
    if (srv->bootstrap_file)
        unlink(srv->bootstrap_file);
    if (srv->query)
        rd_kafka_destroy(srv->query);
    if (srv->mcluster)
        rd_kafka_mock_cluster_destroy(srv->mcluster);
    if (srv->host)
        rd_kafka_destroy(srv->host);
    topics_free(&srv->topics);
}

/* ------------------------------------------------------------------ */
/* --send: the control client                                          */
/* ------------------------------------------------------------------ */

/* Connects to the control socket at `path`; -1 after printing the reason. */
static int connect_control(const char *path)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    struct timeval tv = {.tv_sec = REPLY_TIMEOUT_S};
    int fd;

    if (strlen(path) >= sizeof(addr.sun_path)) {
        fprintf(stderr, "%s: %s: path too long\n", PROG, path);
        return -1;
    }
    memcpy(addr.sun_path, path, strlen(path) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
        fprintf(stderr, "%s: %s: %s\n", PROG, path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

/* Reads one line (without newline) into buf; -1 on error or EOF before it. */
static int read_reply(int fd, char *buf, size_t size)
{
    size_t len = 0;

    while (len + 1 < size) {
        ssize_t n = read(fd, buf + len, 1);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        if (buf[len] == '\n')
            break;
        len++;
    }
    buf[len] = '\0';
    return 0;
}

/* Sends one command; prints the reply. Exit status: 0 on "ok", else 1. */
static int send_command(const char *path, char **words, int nwords)
{
    struct strbuf line = {0};
    char reply[64 * 1024];
    int fd, rc = 1;

    for (int i = 0; i < nwords; i++)
        sb_addf(&line, "%s%s", i ? " " : "", words[i]);
    sb_addf(&line, "\n");
    fd = line.failed ? -1 : connect_control(path);
    if (fd >= 0) {
        if (write_all(fd, line.buf, line.len) != 0 || read_reply(fd, reply, sizeof(reply)) != 0) {
            fprintf(stderr, "%s: %s: no reply\n", PROG, path);
        } else {
            printf("%s\n", reply);
            rc = strncmp(reply, "ok", 2) == 0 ? 0 : 1;
        }
        close(fd);
    }
    sb_free(&line);
    return rc;
}

/* Runs the development cluster until it is stopped; returns the exit status. */
static int run_server(const struct options *o)
{
    struct server srv = {.brokers = o->brokers, .quiet = o->quiet, .listen_fd = -1};
    const char *nagle = getenv("EOC_KAFKA_DEV_NAGLE");
    int rc = 1;

    atomic_store(&accept_hook.nagle, nagle && strcmp(nagle, "1") == 0);
    srv.input = (struct conn){.in_fd = STDIN_FILENO, .out_fd = STDOUT_FILENO};
    for (size_t i = 0; i < MAX_CLIENTS; i++)
        srv.clients[i].in_fd = -1;

    srv.signal_fd = setup_signals();
    if (srv.signal_fd < 0) {
        fprintf(stderr, "%s: signals: %s\n", PROG, strerror(errno));
        return 1;
    }
    if (server_start(&srv, o) == 0) {
        rc = serve(&srv) == 0 ? 0 : 1;
        warn_retention(&srv);
    }
    server_stop(&srv);
    close(srv.signal_fd);
    return rc;
}

int main(int argc, char **argv)
{
    struct options o;
    int rc;

    open_std_fds();
    rc = parse_options(argc, argv, &o);
    if (rc > 0) /* --help */
        rc = 0;
    else if (rc < 0)
        rc = 2;
    else if (o.send_path)
        rc = send_command(o.send_path, o.send_words, o.send_word_count);
    else
        rc = run_server(&o);
    free(o.topics);
    return rc;
}
