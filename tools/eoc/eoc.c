/*
 * eoc - operate on a worker's store: inspect it, list its pending outbox
 * and its state, or run its outbox relay on its own.
 *
 *   eoc inspect DIR [--json] [--brokers HOST:PORT[,...]]
 *   eoc outbox DIR [--limit N] [--drop SEQ [--execute]]
 *   eoc state DIR [PREFIX]
 *   eoc relay DIR --brokers HOST:PORT[,...] [--config FILE] [--set K=V]... [-v]
 *
 * inspect, outbox and state open the store read-only through the public
 * API (eoc_store_open_readonly): they never write and are safe while a
 * worker runs; each prints one consistent snapshot per table.
 *
 * The subcommands are the rows of EOC_TOOL_COMMANDS (tool.h); this file
 * dispatches to them and holds the shared helpers and the four above.
 */
#include "kafka_util.h"
#include "numparse.h"
#include "tool.h"

#include <cjson/cJSON.h>

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>
#include <time.h>

#define TOOL_VALUE_MAX 80 /* bytes of a key or value `eoc outbox` shows */

/* ------------------------------------------------------------------ */
/* The subcommand table                                                */
/* ------------------------------------------------------------------ */

typedef struct tool_command {
    const char *name;
    const char *args;
    const char *summary;
    const char *options;
    int (*run)(int argc, char **argv);
} tool_command_t;

#define TOOL_ROW(name, args, summary, options) {#name, args, summary, options, cmd_##name},
static const tool_command_t tool_commands[] = {EOC_TOOL_COMMANDS(TOOL_ROW)};
#undef TOOL_ROW

#define TOOL_COMMAND_COUNT (sizeof(tool_commands) / sizeof(tool_commands[0]))

static const tool_command_t *command_find(const char *name)
{
    for (size_t i = 0; i < TOOL_COMMAND_COUNT; i++) {
        if (strcmp(tool_commands[i].name, name) == 0)
            return &tool_commands[i];
    }
    return NULL;
}

static void print_help(FILE *out)
{
    fprintf(out, "Usage: eoc COMMAND [ARGUMENT]...\n"
                 "Operates on the LMDB store of an eoc worker (its data.dir).\n\nCommands:\n");
    for (size_t i = 0; i < TOOL_COMMAND_COUNT; i++)
        fprintf(out, "  eoc %s %s\n      %s\n", tool_commands[i].name, tool_commands[i].args,
                tool_commands[i].summary);
    fprintf(out, "\n  eoc COMMAND --help   the usage of one command\n"
                 "  eoc --version\n\n"
                 "Read-only commands are safe while a worker runs.\n\n"
                 "Exit status: 0 done, 1 runtime error, 2 usage.\n");
}

/* `eoc NAME --help`, in the consumers' style: usage, summary, options, exit status. */
static void print_command_help(const tool_command_t *c)
{
    printf("Usage: eoc %s %s\n%s\n", c->name, c->args, c->summary);
    if (*c->options)
        printf("\nOptions:\n%s", c->options);
    printf("  -h, --help                 this text\n"
           "\nExit status: 0 done, 1 runtime error, 2 usage.\n");
}

int tool_usage(const char *name)
{
    const tool_command_t *c = command_find(name);

    if (c)
        fprintf(stderr, "Usage: eoc %s %s\n(eoc %s --help explains it)\n", c->name, c->args,
                c->name);
    return TOOL_EXIT_USAGE;
}

/* 1 when a subcommand's arguments ask for its usage. */
static int wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    const tool_command_t *c;

    if (argc < 2) {
        print_help(stderr);
        return TOOL_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        print_help(stdout);
        return TOOL_EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("eoc %s (libeoc %s)\n", EOC_VERSION_STR, eoc_version());
        return TOOL_EXIT_OK;
    }
    if (!(c = command_find(argv[1]))) {
        fprintf(stderr, "eoc: unknown command '%s'\n\n", argv[1]);
        print_help(stderr);
        return TOOL_EXIT_USAGE;
    }
    if (wants_help(argc - 1, argv + 1)) {
        print_command_help(c);
        return TOOL_EXIT_OK;
    }
    return c->run(argc - 1, argv + 1);
}

/* ------------------------------------------------------------------ */
/* Helpers (tool.h)                                                    */
/* ------------------------------------------------------------------ */

eoc_store_t *tool_store_open(const char *dir)
{
    char err[512];
    char path[4096];
    struct stat sb;

    /* A mistyped directory is a usage error, and nothing is created. */
    snprintf(path, sizeof(path), "%s/data.mdb", dir);
    if (stat(path, &sb) != 0 && errno == ENOENT) {
        fprintf(stderr, "eoc: no store in %s (a worker creates it)\n", dir);
        exit(TOOL_EXIT_USAGE);
    }
    eoc_store_t *s = eoc_store_open_readonly(dir, err, sizeof(err));

    if (!s)
        fprintf(stderr, "eoc: %s\n", err); /* names the directory */
    return s;
}

int64_t tool_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void tool_format_age(int64_t ms, char *buf, size_t size)
{
    int64_t s = ms > 0 ? ms / 1000 : 0;

    if (ms < 0)
        ms = 0;
    if (ms < 1000)
        snprintf(buf, size, "%" PRId64 "ms", ms);
    else if (ms < 60000)
        snprintf(buf, size, "%" PRId64 ".%" PRId64 "s", s, (ms % 1000) / 100);
    else if (s < 3600)
        snprintf(buf, size, "%" PRId64 "m%02" PRId64 "s", s / 60, s % 60);
    else if (s < 86400)
        snprintf(buf, size, "%" PRId64 "h%02" PRId64 "m", s / 3600, (s % 3600) / 60);
    else
        snprintf(buf, size, "%" PRId64 "d%02" PRId64 "h", s / 86400, (s % 86400) / 3600);
}

void tool_escape(FILE *out, const void *p, size_t len, size_t max, const char *also)
{
    const unsigned char *b = p;
    size_t n = max && len > max ? max : len;

    if (!p) {
        fputs("null", out);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (b[i] < 0x20 || b[i] > 0x7e || b[i] == '\\' || (also && b[i] && strchr(also, b[i])))
            fprintf(out, "\\x%02x", b[i]);
        else
            fputc(b[i], out);
    }
    if (n < len)
        fprintf(out, "...(%zu bytes)", len);
}

/* ------------------------------------------------------------------ */
/* eoc inspect                                                         */
/* ------------------------------------------------------------------ */

/* What `inspect` gathers before printing it either way. */
typedef struct inspect {
    const char *dir;
    const char *brokers; /* --brokers: changelog ends are looked up; NULL: not */
    eoc_store_info_t info;
    cJSON *offsets;   /* array of {topic, partition, next_offset}; owned */
    cJSON *changelog; /* eos.mode=kafka: array of {topic, partition, position}; owned */
    int oom;          /* collect_offset ran out of memory */
    int64_t now_ms;
} inspect_t;

static int collect_offset(void *opaque, const eoc_position_t *pos)
{
    inspect_t *in = opaque;
    cJSON *o = cJSON_CreateObject();

    if (!o || !cJSON_AddStringToObject(o, "topic", pos->topic) ||
        !cJSON_AddNumberToObject(o, "partition", pos->partition) ||
        !cJSON_AddNumberToObject(o, "next_offset", (double)pos->next_offset) ||
        !cJSON_AddItemToArray(in->offsets, o)) {
        cJSON_Delete(o);
        in->oom = 1;
        return 1;
    }
    return 0;
}

static int collect_changelog(void *opaque, const eoc_position_t *pos)
{
    inspect_t *in = opaque;
    cJSON *o = cJSON_CreateObject();

    if (!o || !cJSON_AddStringToObject(o, "topic", pos->topic) ||
        !cJSON_AddNumberToObject(o, "partition", pos->partition) ||
        !cJSON_AddNumberToObject(o, "position", (double)pos->next_offset) ||
        !cJSON_AddItemToArray(in->changelog, o)) {
        cJSON_Delete(o);
        in->oom = 1;
        return 1;
    }
    return 0;
}

/* With --brokers: each changelog partition's start and end (its low and
 * high watermarks) and whether the store's copy is current. A current store's position is the
 * offset after its last changelog record, followed by that transaction's
 * commit marker: end - position <= 1. More is an upper bound of what a
 * restore would read (markers and aborted records take offsets too).
 * Returns 0, or -1 after printing the reason. */
static int changelog_ends(inspect_t *in)
{
    rd_kafka_t *rk = tool_kafka_consumer(in->brokers, NULL);
    if (!rk)
        return -1;
    int rc = 0;
    cJSON *o;
    cJSON_ArrayForEach(o, in->changelog)
    {
        const char *topic = cJSON_GetObjectItem(o, "topic")->valuestring;
        int32_t partition = cJSON_GetObjectItem(o, "partition")->valueint;
        int64_t lo, hi;
        rd_kafka_resp_err_t e = rd_kafka_query_watermark_offsets(rk, topic, partition, &lo, &hi,
                                                                 tool_kafka_timeout(10000));
        if (e) {
            fprintf(stderr, "eoc: %s[%d]: end offset: %s\n", topic, partition,
                    rd_kafka_err2str(e));
            rc = -1;
            break;
        }
        int64_t pos = (int64_t)cJSON_GetObjectItem(o, "position")->valuedouble;
        if (!cJSON_AddNumberToObject(o, "start", (double)lo) ||
            !cJSON_AddNumberToObject(o, "end", (double)hi) ||
            !cJSON_AddBoolToObject(o, "current", hi - pos <= 1 && pos <= hi)) {
            in->oom = 1;
            rc = -1;
            break;
        }
    }
    rd_kafka_destroy(rk);
    return rc;
}

static int64_t age_of(const inspect_t *in, int64_t since_ms)
{
    return since_ms > 0 && in->now_ms > since_ms ? in->now_ms - since_ms : 0;
}

static double map_usage(const eoc_store_info_t *info)
{
    return info->map_size ? (double)info->map_used / (double)info->map_size : 0.0;
}

/* Adds an empty object member `name` to `parent`; NULL when out of memory. */
static cJSON *add_object(cJSON *parent, const char *name)
{
    cJSON *o = cJSON_CreateObject();

    if (o && !cJSON_AddItemToObject(parent, name, o)) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

static cJSON *inspect_json(const inspect_t *in)
{
    const eoc_store_info_t *i = &in->info;
    cJSON *root = cJSON_CreateObject(), *o;
    int ok = root && cJSON_AddStringToObject(root, "dir", in->dir) &&
             cJSON_AddNumberToObject(root, "schema_version", i->schema_version);

    /* A reference: in->offsets stays owned by the caller. */
    ok = ok && cJSON_AddItemReferenceToObject(root, "offsets", in->offsets);
    ok = ok && cJSON_AddItemReferenceToObject(root, "changelog", in->changelog);
    ok = ok && (o = add_object(root, "inbox")) &&
         cJSON_AddNumberToObject(o, "entries", (double)i->inbox_entries) &&
         cJSON_AddNumberToObject(o, "applied", (double)i->inbox_applied) &&
         cJSON_AddNumberToObject(o, "dead_lettered", (double)i->inbox_dead_lettered) &&
         cJSON_AddNumberToObject(o, "oldest_ms", (double)i->inbox_oldest_ms) &&
         cJSON_AddNumberToObject(o, "oldest_age_ms", (double)age_of(in, i->inbox_oldest_ms));
    ok = ok && (o = add_object(root, "outbox")) &&
         cJSON_AddNumberToObject(o, "backlog", (double)i->outbox_rows) &&
         cJSON_AddNumberToObject(o, "oldest_ms", (double)i->outbox_oldest_ms) &&
         cJSON_AddNumberToObject(o, "oldest_age_ms", (double)age_of(in, i->outbox_oldest_ms));
    ok = ok && (o = add_object(root, "state")) &&
         cJSON_AddNumberToObject(o, "entries", (double)i->state_entries);
    ok = ok && (o = add_object(root, "map")) &&
         cJSON_AddNumberToObject(o, "size", (double)i->map_size) &&
         cJSON_AddNumberToObject(o, "used", (double)i->map_used) &&
         cJSON_AddNumberToObject(o, "usage", map_usage(i));
    if (!ok) {
        cJSON_Delete(root);
        return NULL;
    }
    return root;
}

static int inspect_print_json(const inspect_t *in)
{
    cJSON *root = inspect_json(in);
    char *text = root ? cJSON_Print(root) : NULL;

    cJSON_Delete(root);
    if (!text) {
        fprintf(stderr, "eoc: out of memory\n");
        return TOOL_EXIT_FAIL;
    }
    printf("%s\n", text);
    cJSON_free(text);
    return TOOL_EXIT_OK;
}

static void inspect_print_text(const inspect_t *in)
{
    const eoc_store_info_t *i = &in->info;
    const cJSON *o;
    char age[32];

    printf("store          %s\nschema         version %" PRIu32 "\n", in->dir, i->schema_version);
    printf("map            %" PRIu64 " of %" PRIu64 " bytes used (%.2f%%)\n", i->map_used,
           i->map_size, 100.0 * map_usage(i));
    printf("offsets        %d partition(s), next offset to consume:\n",
           cJSON_GetArraySize(in->offsets));
    cJSON_ArrayForEach(o, in->offsets)
    {
        printf("  %s[%d] %.0f\n", cJSON_GetObjectItem(o, "topic")->valuestring,
               cJSON_GetObjectItem(o, "partition")->valueint,
               cJSON_GetObjectItem(o, "next_offset")->valuedouble);
    }
    if (cJSON_GetArraySize(in->changelog))
        printf("changelog      %d partition(s), recorded position (eos.mode=kafka):\n",
               cJSON_GetArraySize(in->changelog));
    cJSON_ArrayForEach(o, in->changelog)
    {
        const cJSON *end = cJSON_GetObjectItem(o, "end");
        double pos = cJSON_GetObjectItem(o, "position")->valuedouble;
        printf("  %s[%d] %.0f", cJSON_GetObjectItem(o, "topic")->valuestring,
               cJSON_GetObjectItem(o, "partition")->valueint, pos);
        if (!end)
            printf("\n");
        else if (cJSON_IsTrue(cJSON_GetObjectItem(o, "current")))
            printf(" of %.0f: current\n", end->valuedouble);
        else if (end->valuedouble < pos)
            printf(" of %.0f: AHEAD of the changelog (a full restore follows)\n", end->valuedouble);
        else if (cJSON_GetObjectItem(o, "start")->valuedouble > pos)
            printf(" of %.0f: below the changelog's start %.0f (a full restore follows)\n",
                   end->valuedouble, cJSON_GetObjectItem(o, "start")->valuedouble);
        else
            printf(" of %.0f: behind by at most %.0f offsets (restored on assignment)\n",
                   end->valuedouble, end->valuedouble - pos);
    }
    tool_format_age(age_of(in, i->inbox_oldest_ms), age, sizeof(age));
    printf("inbox          %" PRIu64 " entries: %" PRIu64 " applied, %" PRIu64
           " dead-lettered; oldest %s%s\n",
           i->inbox_entries, i->inbox_applied, i->inbox_dead_lettered, i->inbox_entries ? age : "-",
           i->inbox_entries ? " ago" : "");
    tool_format_age(age_of(in, i->outbox_oldest_ms), age, sizeof(age));
    printf("outbox         %" PRIu64 " pending; oldest %s%s\n", i->outbox_rows,
           i->outbox_rows ? age : "-", i->outbox_rows ? " ago" : "");
    printf("state          %" PRIu64 " entries\n", i->state_entries);
}

int cmd_inspect(int argc, char **argv)
{
    inspect_t in = {0};
    int json = 0, rc = TOOL_EXIT_FAIL;
    eoc_store_t *s;
    eoc_err_t err;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0)
            json = 1;
        else if (strcmp(argv[i], "--brokers") == 0 && i + 1 < argc)
            in.brokers = argv[++i];
        else if (argv[i][0] != '-' && !in.dir)
            in.dir = argv[i];
        else
            return tool_usage(argv[0]);
    }
    if (!in.dir)
        return tool_usage(argv[0]);
    if (!(s = tool_store_open(in.dir)))
        return TOOL_EXIT_FAIL;
    in.offsets = cJSON_CreateArray();
    in.changelog = cJSON_CreateArray();
    if (!in.offsets || !in.changelog)
        err = EOC_ERR_NOMEM;
    else if ((err = eoc_store_info(s, &in.info)) == EOC_OK &&
             (err = eoc_store_offsets_foreach(s, collect_offset, &in)) == EOC_OK)
        err = eoc_store_changelog_foreach(s, collect_changelog, &in);
    if (err == EOC_OK && in.oom)
        err = EOC_ERR_NOMEM;
    in.now_ms = tool_now_ms();
    eoc_store_close(s);
    if (err != EOC_OK) {
        fprintf(stderr, "eoc: %s: %s\n", in.dir, eoc_strerror(err));
    } else if (in.brokers && changelog_ends(&in) != 0) {
        if (in.oom)
            fprintf(stderr, "eoc: out of memory\n");
    } else if (json) {
        rc = inspect_print_json(&in);
    } else {
        inspect_print_text(&in);
        rc = TOOL_EXIT_OK;
    }
    cJSON_Delete(in.offsets);
    cJSON_Delete(in.changelog);
    return rc;
}

/* ------------------------------------------------------------------ */
/* eoc outbox                                                          */
/* ------------------------------------------------------------------ */

typedef struct outbox_walk {
    long long limit; /* 0: all */
    int only;        /* show only row `seq` */
    uint64_t seq;
    int found;
    long long shown;
    int64_t now_ms;
} outbox_walk_t;

/*
 * One block per row: a line "seq=N id=ID topic=T partition=P age=A", then
 * the key, the value and each header on a line of its own.
 */
static int print_outbox_row(void *opaque, const eoc_outbox_row_t *row)
{
    outbox_walk_t *w = opaque;
    char age[32];

    if (w->only && row->seq != w->seq)
        return row->seq > w->seq;
    if (w->only)
        w->found = 1;
    else if (w->limit && w->shown >= w->limit)
        return 1;
    tool_format_age(w->now_ms - row->created_ms, age, sizeof(age));
    printf("seq=%" PRIu64 " id=", row->seq);
    tool_escape(stdout, row->id, strlen(row->id), 0, " ");
    printf(" topic=");
    tool_escape(stdout, row->topic, strlen(row->topic), 0, " ");
    if (row->partition == EOC_PARTITION_ANY)
        printf(" partition=any age=%s\n  key    ", age);
    else
        printf(" partition=%" PRId32 " age=%s\n  key    ", row->partition, age);
    tool_escape(stdout, row->key, row->key_len, TOOL_VALUE_MAX, NULL);
    printf("\n  value  ");
    tool_escape(stdout, row->value, row->value_len, TOOL_VALUE_MAX, NULL);
    putchar('\n');
    for (size_t i = 0; i < row->header_count; i++) {
        printf("  header ");
        tool_escape(stdout, row->headers[i].name, strlen(row->headers[i].name), 0, ":");
        printf(": ");
        tool_escape(stdout, row->headers[i].value, row->headers[i].len, TOOL_VALUE_MAX, NULL);
        putchar('\n');
    }
    w->shown++;
    return 0;
}

/*
 * `eoc outbox DIR --drop SEQ [--execute]`: shows row SEQ; with --execute
 * drops it unpublished under the store's exclusive lock, and says so on
 * stderr and to syslog (the audit trail: who, which row, which store).
 */
static int outbox_drop(const char *dir, outbox_walk_t *w, int execute)
{
    char err[512];
    eoc_store_t *s = tool_store_open(dir);
    if (!s)
        return TOOL_EXIT_FAIL;
    w->now_ms = tool_now_ms();
    eoc_err_t e = eoc_store_outbox_foreach(s, print_outbox_row, w);
    eoc_store_close(s);
    if (e != EOC_OK) {
        fprintf(stderr, "eoc: %s: %s\n", dir, eoc_strerror(e));
        return TOOL_EXIT_FAIL;
    }
    if (!w->found) {
        fprintf(stderr, "eoc outbox: %s: no outbox row %" PRIu64 "\n", dir, w->seq);
        return TOOL_EXIT_FAIL;
    }
    if (!execute) {
        printf("dry run: --execute drops row %" PRIu64 " unpublished\n", w->seq);
        return TOOL_EXIT_OK;
    }
    eoc_store_admin_t *a = eoc_store_admin_open(dir, err, sizeof(err));
    if (!a) {
        fprintf(stderr, "eoc outbox: %s\n", err);
        return TOOL_EXIT_FAIL;
    }
    e = eoc_store_admin_outbox_drop(a, w->seq, err, sizeof(err));
    eoc_store_admin_close(a);
    if (e != EOC_OK) {
        fprintf(stderr, "eoc outbox: %s: %s\n", dir, err);
        return TOOL_EXIT_FAIL;
    }
    fprintf(stderr, "eoc outbox: AUDIT: dropped outbox row %" PRIu64 " of %s unpublished (uid %ld)\n",
            w->seq, dir, (long)getuid());
    openlog("eoc", LOG_PID, LOG_USER);
    syslog(LOG_NOTICE, "AUDIT: dropped outbox row %" PRIu64 " of %s unpublished (uid %ld)", w->seq,
           dir, (long)getuid());
    closelog();
    return TOOL_EXIT_OK;
}

int cmd_outbox(int argc, char **argv)
{
    outbox_walk_t w = {.limit = TOOL_OUTBOX_LIMIT};
    int execute = 0;
    const char *dir = NULL;
    eoc_store_info_t info;
    eoc_store_t *s;
    eoc_err_t err;

    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--limit") == 0 && i + 1 < argc) {
            int64_t v;
            if (eoc__num_flag_i64("eoc outbox", argv[i], argv[i + 1], 0, INT64_MAX, &v))
                return TOOL_EXIT_USAGE;
            w.limit = (long long)v;
            i++;
        } else if (strcmp(argv[i], "--drop") == 0 && i + 1 < argc) {
            int64_t v;
            if (eoc__num_flag_i64("eoc outbox", argv[i], argv[i + 1], 0, INT64_MAX, &v))
                return TOOL_EXIT_USAGE;
            w.only = 1;
            w.seq = (uint64_t)v;
            i++;
        } else if (strcmp(argv[i], "--execute") == 0) {
            execute = 1;
        } else if (argv[i][0] != '-' && !dir) {
            dir = argv[i];
        } else {
            return tool_usage(argv[0]);
        }
    }
    if (!dir || (execute && !w.only))
        return tool_usage(argv[0]);
    if (w.only)
        return outbox_drop(dir, &w, execute);
    if (!(s = tool_store_open(dir)))
        return TOOL_EXIT_FAIL;
    w.now_ms = tool_now_ms();
    err = eoc_store_outbox_foreach(s, print_outbox_row, &w);
    if (err == EOC_OK)
        err = eoc_store_info(s, &info);
    eoc_store_close(s);
    if (err != EOC_OK) {
        fprintf(stderr, "eoc: %s: %s\n", dir, eoc_strerror(err));
        return TOOL_EXIT_FAIL;
    }
    if (w.limit && info.outbox_rows > (uint64_t)w.shown)
        printf("... about %" PRIu64 " more pending (--limit 0 shows all)\n",
               info.outbox_rows - (uint64_t)w.shown);
    return TOOL_EXIT_OK;
}

/* ------------------------------------------------------------------ */
/* eoc state                                                           */
/* ------------------------------------------------------------------ */

/* "<key> <value>" per line; spaces in keys are escaped, values are whole. */
static int print_state(void *opaque, const void *key, size_t key_len, const void *value, size_t len)
{
    (void)opaque;
    tool_escape(stdout, key, key_len, 0, " ");
    putchar(' ');
    tool_escape(stdout, value, len, 0, NULL);
    putchar('\n');
    return 0;
}

int cmd_state(int argc, char **argv)
{
    const char *dir = NULL, *prefix = NULL;
    eoc_store_t *s;
    eoc_err_t err;

    for (int i = 1; i < argc; i++) {
        if (argv[i][0] == '-' && argv[i][1] != '\0')
            return tool_usage(argv[0]);
        if (!dir)
            dir = argv[i];
        else if (!prefix)
            prefix = argv[i];
        else
            return tool_usage(argv[0]);
    }
    if (!dir)
        return tool_usage(argv[0]);
    if (!(s = tool_store_open(dir)))
        return TOOL_EXIT_FAIL;
    err = eoc_store_state_foreach(s, prefix, prefix ? strlen(prefix) : 0, print_state, NULL);
    eoc_store_close(s);
    if (err != EOC_OK) {
        fprintf(stderr, "eoc: %s: %s\n", dir, eoc_strerror(err));
        return TOOL_EXIT_FAIL;
    }
    return TOOL_EXIT_OK;
}

/* ------------------------------------------------------------------ */
/* eoc relay                                                           */
/* ------------------------------------------------------------------ */

/*
 * The relay SIGINT/SIGTERM/SIGHUP stop: a signal handler has no other way to
 * reach it. Set before the handlers are installed, cleared after they are
 * removed; eoc_relay_stop is async-signal-safe.
 */
static eoc_relay_t *relay_to_stop;

static void on_stop_signal(int sig)
{
    (void)sig;
    if (relay_to_stop)
        eoc_relay_stop(relay_to_stop);
}

static void relay_signals(void (*fn)(int))
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = fn;
    sa.sa_flags = fn == SIG_DFL ? 0 : SA_RESETHAND; /* a second signal kills */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL); /* a closed session stops with a drain too */
}

static int relay_set(eoc_conf_t *conf, const char *key, const char *value)
{
    char err[512];

    if (eoc_conf_set(conf, key, value, err, sizeof(err)) == EOC_OK)
        return 0;
    fprintf(stderr, "eoc relay: %s\n", err);
    return -1;
}

/* --set KEY=VALUE */
static int relay_set_kv(eoc_conf_t *conf, const char *kv)
{
    const char *eq = strchr(kv, '=');
    char key[256];

    if (!eq || eq == kv || (size_t)(eq - kv) >= sizeof(key)) {
        fprintf(stderr, "eoc relay: --set wants KEY=VALUE, got '%s'\n", kv);
        return -1;
    }
    memcpy(key, kv, (size_t)(eq - kv));
    key[eq - kv] = '\0';
    return relay_set(conf, key, eq + 1);
}

/*
 * Builds the relay's configuration: --config first, then the flags in
 * order. NULL after printing the problem.
 */
static eoc_conf_t *relay_conf(int argc, char **argv)
{
    eoc_conf_t *conf = eoc_conf_new();
    char err[512];
    int rc = conf ? 0 : -1;

    for (int i = 1; i < argc && rc == 0; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc &&
            eoc_conf_load_json(conf, argv[++i], err, sizeof(err)) != EOC_OK) {
            fprintf(stderr, "eoc relay: --config: %s\n", err);
            rc = -1;
        }
    }
    for (int i = 1; i < argc && rc == 0; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (strcmp(a, "-v") == 0) {
            rc = relay_set(conf, "log.level", "debug");
            continue;
        }
        if (a[0] != '-') { /* DIR, like the other subcommands; --data DIR says the same */
            rc = relay_set(conf, "data.dir", a);
            continue;
        }
        if (!v || (strcmp(a, "--data") && strcmp(a, "--brokers") && strcmp(a, "--config") &&
                   strcmp(a, "--set"))) {
            tool_usage("relay");
            rc = -1;
            break;
        }
        i++;
        if (strcmp(a, "--data") == 0)
            rc = relay_set(conf, "data.dir", v);
        else if (strcmp(a, "--brokers") == 0)
            rc = relay_set(conf, "kafka.bootstrap.servers", v);
        else if (strcmp(a, "--set") == 0)
            rc = relay_set_kv(conf, v);
    }
    if (rc != 0) {
        eoc_conf_destroy(conf);
        return NULL;
    }
    return conf;
}

int cmd_relay(int argc, char **argv)
{
    static const char *const required[] = {"data.dir", "kafka.bootstrap.servers"};
    eoc_conf_t *conf = relay_conf(argc, argv);
    char err[512];
    eoc_relay_t *r;

    if (!conf)
        return TOOL_EXIT_USAGE;
    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
        const char *v = eoc_conf_get(conf, required[i]);

        if (!v || !*v) {
            fprintf(stderr, "eoc relay: %s is required (%s)\n", required[i],
                    i ? "--brokers HOST:PORT; for a local run: eoc-kafka-dev" : "DIR");
            eoc_conf_destroy(conf);
            return TOOL_EXIT_USAGE;
        }
    }
    if (!(r = eoc_relay_new(conf, err, sizeof(err)))) {
        fprintf(stderr, "eoc relay: cannot start: %s\n", err);
        eoc_conf_destroy(conf);
        return TOOL_EXIT_USAGE;
    }
    signal(SIGPIPE, SIG_IGN); /* a closed stderr pipe must not kill the relay */
    relay_to_stop = r;        /* r owns conf from here */
    relay_signals(on_stop_signal);
    eoc_err_t rc = eoc_relay_run(r);
    relay_signals(SIG_DFL);
    relay_to_stop = NULL;
    eoc_relay_destroy(r);
    if (rc != EOC_OK) {
        fprintf(stderr, "eoc relay: fatal: %s (details in the log above)\n", eoc_strerror(rc));
        return TOOL_EXIT_FAIL;
    }
    return TOOL_EXIT_OK;
}
