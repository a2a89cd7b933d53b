/*
 * dlq.c - `eoc dlq`: look at dead letters and send chosen ones back.
 *
 *   eoc dlq list --brokers B --topic DLQ [--reason R] [--json]
 *   eoc dlq resubmit --brokers B --topic DLQ (--id ID | --reason R | --all)... [--dry-run]
 *
 * `list` prints, per dead letter: its DLQ position, the reason, the source
 * position and message ID, and the error text.
 *
 * `resubmit` produces each chosen dead letter back to its source topic
 * (from its header eoc-source) with its key, value and original headers, the
 * header `message-id` set to its source ID and `eoc-resubmitted: 1`. A
 * worker processes a resubmitted record whose earlier disposition was
 * dead-lettered once; a resubmission of an applied record stays a
 * duplicate. Dead letters without a payload (too_large) are refused.
 */
#include "jsontext.h"
#include "kafka_util.h"
#include "numparse.h"
#include "tool.h"

#include <cjson/cJSON.h>

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define HDR 1024

struct dlq_args {
    const char *brokers, *topic, *reason;
    const char **ids;
    long *id_hits; /* per --id: dead letters it chose */
    int nids, all, json, dry_run;
};

struct dlq_ctx {
    const struct dlq_args *a;
    rd_kafka_t *producer; /* resubmit only */
    long matched, sent, refused;
};

/* The last header `name` of m as bytes (NULL, 0 when absent). */
static const void *header(const rd_kafka_message_t *m, const char *name, size_t *len)
{
    rd_kafka_headers_t *hs;
    const void *v = NULL;

    *len = 0;
    if (rd_kafka_message_headers(m, &hs) || rd_kafka_header_get_last(hs, name, &v, len))
        return NULL;
    return v;
}

static int chosen(const struct dlq_args *a, const rd_kafka_message_t *m)
{
    char buf[HDR];
    if (a->reason && strcmp(tool_kafka_header(m, "eoc-dlq-reason", buf, sizeof(buf)), a->reason))
        return 0;
    if (a->nids) {
        size_t len;
        const void *id = header(m, "eoc-source-id", &len);
        int hit = 0;
        for (int i = 0; i < a->nids; i++)
            if (id && len == strlen(a->ids[i]) && memcmp(id, a->ids[i], len) == 0) {
                a->id_hits[i]++;
                hit = 1;
            }
        return hit;
    }
    return 1;
}

/* Where the dead letter's record was (its header eoc-source): 0, or -1
 * with topic "" when it has none or not of that form. */
static int source(const rd_kafka_message_t *m, char *topic, size_t size, int32_t *partition,
                  int64_t *offset)
{
    size_t len;
    const void *v = header(m, EOC_HEADER_SOURCE, &len);
    if (v && eoc_source_parse(v, len, topic, size, partition, offset) == 0)
        return 0;
    *topic = 0;
    return -1;
}

/*
 * Writes `"name":<value>` for the `len` bytes at v: a JSON string when
 * they are UTF-8 (every byte kept, control bytes and NUL escaped);
 * otherwise the string with U+FFFD for each byte that is not UTF-8, plus
 * `"name_hex"` with all its bytes in hex. null when v is NULL.
 */
static void json_bytes(FILE *out, const char *name, const unsigned char *v, size_t len)
{
    fprintf(out, ",\"%s\":", name);
    if (!v) {
        fputs("null", out);
        return;
    }
    char *q = malloc(EOC__JSON_QUOTED_MAX(3 * len)), *fixed = malloc(3 * len + 1);
    if (!q || !fixed) {
        fputs("null", out);
        free(q);
        free(fixed);
        return;
    }
    int valid = eoc__utf8_valid(v, len);
    size_t n = 0;
    for (size_t i = 0; i < len;) { /* each byte that starts no valid sequence: U+FFFD */
        size_t k = 1;
        while (k <= 4 && i + k <= len && !eoc__utf8_valid(v + i, k))
            k++;
        if (k <= 4 && i + k <= len) {
            memcpy(fixed + n, v + i, k);
            n += k;
            i += k;
        } else {
            memcpy(fixed + n, "\xef\xbf\xbd", 3);
            n += 3;
            i++;
        }
    }
    eoc__json_quote(q, fixed, n);
    fputs(q, out);
    if (!valid) {
        fprintf(out, ",\"%s_hex\":\"", name);
        for (size_t i = 0; i < len; i++)
            fprintf(out, "%02x", v[i]);
        fputc('"', out);
    }
    free(q);
    free(fixed);
}

/* json_bytes of the header `hname` of m. */
static void json_str(FILE *out, const char *name, const rd_kafka_message_t *m, const char *hname)
{
    size_t len;
    const unsigned char *v = header(m, hname, &len);
    json_bytes(out, name, v, len);
}

static int list_one(void *opaque, const rd_kafka_message_t *m)
{
    struct dlq_ctx *c = opaque;
    if (!chosen(c->a, m))
        return 0;
    c->matched++;
    if (c->a->json) {
        printf("{\"dlq_partition\":%d,\"dlq_offset\":%" PRId64, (int)m->partition, m->offset);
        char st[HDR];
        int32_t sp;
        int64_t so;
        int known = source(m, st, sizeof(st), &sp, &so) == 0;
        json_str(stdout, "reason", m, "eoc-dlq-reason");
        json_bytes(stdout, "source_topic", known ? (const unsigned char *)st : NULL, strlen(st));
        if (known)
            printf(",\"source_partition\":%" PRId32 ",\"source_offset\":%" PRId64, sp, so);
        else
            fputs(",\"source_partition\":null,\"source_offset\":null", stdout);
        json_str(stdout, "id", m, "eoc-source-id");
        json_str(stdout, "error", m, "eoc-error");
        puts("}");
        return 0;
    }
    char reason[HDR], st[HDR];
    int32_t sp;
    int64_t so;
    size_t id_len, error_len;
    const void *id = header(m, "eoc-source-id", &id_len);
    const void *error = header(m, "eoc-error", &error_len);
    tool_kafka_header(m, "eoc-dlq-reason", reason, sizeof(reason));
    if (source(m, st, sizeof(st), &sp, &so) == 0)
        printf("%d@%" PRId64 "  %-14s %s[%" PRId32 "]@%" PRId64 "  id=", (int)m->partition,
               m->offset, reason, st, sp, so);
    else
        printf("%d@%" PRId64 "  %-14s []@  id=", (int)m->partition, m->offset, reason);
    tool_escape(stdout, id ? id : "", id_len, 80, NULL);
    if (error_len) {
        fputs("  ", stdout);
        tool_escape(stdout, error, error_len, 120, NULL);
    }
    putchar('\n');
    return 0;
}

/* The dead letter's headers minus eoc's own and message-id, plus the two
 * that make it a resubmission. */
static rd_kafka_headers_t *resubmit_headers(const rd_kafka_message_t *m, const void *id,
                                            size_t id_len)
{
    rd_kafka_headers_t *in, *out = rd_kafka_headers_new(8);
    if (!rd_kafka_message_headers(m, &in)) {
        const char *name;
        const void *v;
        size_t n;
        for (size_t i = 0; !rd_kafka_header_get_all(in, i, &name, &v, &n); i++)
            if (strncmp(name, "eoc-", 4) != 0 && strcmp(name, "message-id") != 0)
                rd_kafka_header_add(out, name, -1, v, (ssize_t)n);
    }
    rd_kafka_header_add(out, "message-id", -1, id, (ssize_t)id_len);
    rd_kafka_header_add(out, "eoc-resubmitted", -1, "1", 1);
    return out;
}

static int resubmit_one(void *opaque, const rd_kafka_message_t *m)
{
    struct dlq_ctx *c = opaque;
    if (!chosen(c->a, m))
        return 0;
    c->matched++;
    char reason[HDR], st[HDR];
    int32_t sp;
    int64_t so;
    size_t id_len;
    const void *id = header(m, "eoc-source-id", &id_len);
    tool_kafka_header(m, "eoc-dlq-reason", reason, sizeof(reason));
    source(m, st, sizeof(st), &sp, &so);
    if (!*st || !id_len || (!m->payload && strcmp(reason, "too_large") == 0)) {
        fprintf(stderr, "eoc dlq: %d@%" PRId64 " (%s) cannot be resubmitted: %s\n",
                (int)m->partition, m->offset, reason,
                *st && id_len ? "its payload is not in the dead letter" : "no source recorded");
        c->refused++;
        return 0;
    }
    printf("%s %d@%" PRId64 " -> %s id=", c->a->dry_run ? "would resubmit" : "resubmit",
           (int)m->partition, m->offset, st);
    tool_escape(stdout, id, id_len, 0, NULL);
    putchar('\n');
    if (c->a->dry_run)
        return 0;
    rd_kafka_headers_t *hs = resubmit_headers(m, id, id_len);
    rd_kafka_resp_err_t e = rd_kafka_producev(
        c->producer, RD_KAFKA_V_TOPIC(st), RD_KAFKA_V_KEY(m->key, m->key_len),
        RD_KAFKA_V_VALUE(m->payload, m->len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_HEADERS(hs), RD_KAFKA_V_END);
    if (e) {
        rd_kafka_headers_destroy(hs);
        fprintf(stderr, "eoc dlq: produce to %s: %s\n", st, rd_kafka_err2str(e));
        return 1;
    }
    c->sent++;
    rd_kafka_poll(c->producer, 0);
    return 0;
}

static rd_kafka_t *make_producer(const char *brokers)
{
    char err[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, err, sizeof(err)) ||
        rd_kafka_conf_set(conf, "enable.idempotence", "true", err, sizeof(err)) ||
        /* resubmitting never creates a topic (a producer's default would) */
        rd_kafka_conf_set(conf, "allow.auto.create.topics", "false", err, sizeof(err))) {
        fprintf(stderr, "eoc dlq: %s\n", err);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_t *p = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof(err));
    if (!p) {
        fprintf(stderr, "eoc dlq: %s\n", err);
        rd_kafka_conf_destroy(conf);
    }
    return p;
}

/* The reasons a worker writes (README, "Dead letters"). */
static const char *const reasons[] = {"missing_id",  "invalid_id",    "id_collision", "empty_value",
                                      "too_large",   "handler_error", "handler_crash"};

/* 0 when `r` is a documented reason; else prints why (and the nearest one). */
static int check_reason(const char *r)
{
    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
        if (strcmp(r, reasons[i]) == 0)
            return 0;
    const char *near = tool_suggest(r, reasons, sizeof(reasons) / sizeof(reasons[0]));
    fprintf(stderr, "eoc dlq: unknown reason \"%s\"%s%s%s; the reasons are missing_id, "
                    "invalid_id, id_collision, empty_value, too_large, handler_error, "
                    "handler_crash\n",
            r, near ? " (did you mean \"" : "", near ? near : "", near ? "\"?)" : "");
    return -1;
}

static int parse_args(int argc, char **argv, struct dlq_args *a)
{
    memset(a, 0, sizeof(*a));
    a->ids = calloc((size_t)argc, sizeof(*a->ids));
    a->id_hits = calloc((size_t)argc, sizeof(*a->id_hits));
    if (!a->ids || !a->id_hits)
        return -1;
    for (int i = 2; i < argc; i++) {
        const char *o = argv[i];
        int has_value = i + 1 < argc;
        if (strcmp(o, "--all") == 0)
            a->all = 1;
        else if (strcmp(o, "--json") == 0)
            a->json = 1;
        else if (strcmp(o, "--dry-run") == 0)
            a->dry_run = 1;
        else if (has_value && strcmp(o, "--brokers") == 0)
            a->brokers = argv[++i];
        else if (has_value && strcmp(o, "--topic") == 0)
            a->topic = argv[++i];
        else if (has_value && strcmp(o, "--reason") == 0) {
            a->reason = argv[++i];
            if (check_reason(a->reason))
                return -2;
        }
        else if (has_value && strcmp(o, "--id") == 0)
            a->ids[a->nids++] = argv[++i];
        else {
            fprintf(stderr, "eoc dlq: unexpected argument '%s'\n", o);
            return -1;
        }
    }
    return a->brokers && a->topic ? 0 : -1;
}

int cmd_dlq(int argc, char **argv)
{
    struct dlq_args a = {0};
    int resubmit = argc > 1 && strcmp(argv[1], "resubmit") == 0;
    if (argc < 2 || (!resubmit && strcmp(argv[1], "list") != 0) || parse_args(argc, argv, &a)) {
        free(a.ids);
        free(a.id_hits);
        return tool_usage("dlq");
    }
    if (resubmit && !a.all && !a.reason && !a.nids) {
        fprintf(stderr, "eoc dlq resubmit: choose with --id, --reason or --all\n");
        free(a.ids);
        free(a.id_hits);
        return TOOL_EXIT_USAGE;
    }
    struct dlq_ctx c = {&a, NULL, 0, 0, 0};
    int rc = TOOL_EXIT_FAIL;
    rd_kafka_t *rk = tool_kafka_consumer(a.brokers, NULL);
    if (rk && (!resubmit || a.dry_run || (c.producer = make_producer(a.brokers)))) {
        if (tool_kafka_read_all(rk, a.topic, resubmit ? resubmit_one : list_one, &c) == 0)
            rc = TOOL_EXIT_OK;
        if (c.producer) {
            rd_kafka_flush(c.producer, 30000);
            if (rd_kafka_outq_len(c.producer) > 0) {
                fprintf(stderr, "eoc dlq: %d resubmission(s) not delivered\n",
                        rd_kafka_outq_len(c.producer));
                rc = TOOL_EXIT_FAIL;
            }
            rd_kafka_destroy(c.producer);
        }
        if (resubmit)
            fprintf(stderr, "%ld matched, %ld %s, %ld refused\n", c.matched,
                    a.dry_run ? c.matched - c.refused : c.sent,
                    a.dry_run ? "would be resubmitted" : "resubmitted", c.refused);
        else if (!a.json)
            fprintf(stderr, "%ld dead letter(s)\n", c.matched);
        if (c.refused)
            rc = TOOL_EXIT_FAIL;
        for (int i = 0; i < a.nids && rc == TOOL_EXIT_OK; i++)
            if (!a.id_hits[i]) { /* a resubmission that did not happen is a failure */
                fprintf(stderr, "eoc dlq: no dead letter with id '%s' in %s\n", a.ids[i],
                        a.topic);
                rc = TOOL_EXIT_FAIL;
            }
    }
    if (rk)
        rd_kafka_destroy(rk);
    free(a.ids);
    free(a.id_hits);
    return rc;
}
