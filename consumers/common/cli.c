/*
 * cli.c - the shared consumer command line (see cli.h).
 *
 * Parsing is two passes over argv. The first tokenizes every argument into
 * (flag, value) pairs, so that unknown flags and missing values are reported
 * before anything is applied, and handles --help and --version. Then the
 * consumer's defaults, the --config files and finally every other flag are
 * applied to a fresh eoc_conf_t, in that order: a flag always wins over the
 * file, wherever it stands.
 *
 * Ownership: the token array is freed before cli_parse returns; values
 * point into argv. The conf returned belongs to the caller until cli_run
 * takes it.
 */
#include "cli.h"
#include "numparse.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#define PROG program_invocation_short_name

/* What a common flag does with its value. */
typedef enum cli_action {
    ACT_KEY,     /* store VALUE in `key` */
    ACT_INPUT,   /* append VALUE to the input topic list */
    ACT_CONFIG,  /* load VALUE as a JSON configuration file (first) */
    ACT_SET,     /* KEY=VALUE */
    ACT_VERBOSE, /* log.level = debug */
    ACT_HELP,
    ACT_VERSION,
    ACT_PRINT_CONFIG /* print the configuration a run would use, exit */
} cli_action_t;

typedef struct cli_flag {
    const char *name; /* long name without dashes */
    char short_name;  /* -x, or 0 */
    const char *arg;  /* placeholder; NULL: no value */
    cli_action_t action;
    const char *key; /* configuration key, when the action stores one */
    const char *doc;
} cli_flag_t;

static const cli_flag_t common_flags[] = {
    {"brokers", 0, "HOST:PORT[,...]", ACT_KEY, "kafka.bootstrap.servers",
     "Kafka bootstrap servers; required to run"},
    {"group", 0, "ID", ACT_KEY, "group.id", "consumer group"},
    {"input", 0, "TOPIC[,TOPIC...]", ACT_INPUT, "input.topics", "input topic(s); repeatable"},
    {"output", 0, "TOPIC", ACT_KEY, "output.topic", "output topic"},
    {"dlq", 0, "TOPIC", ACT_KEY, "dlq.topic", "dead-letter topic (empty: <group.id>.dlq)"},
    {"data", 0, "DIR", ACT_KEY, "data.dir", "directory of the LMDB store"},
    {"config", 0, "FILE.json", ACT_CONFIG, NULL,
     "JSON configuration, applied before every other flag"},
    {"id", 0, "header:NAME|json:FIELD|key|position", ACT_KEY, "id.strategy",
     "where a record's message ID is found"},
    {"batch", 0, "N", ACT_KEY, "batch.max.records", "records per LMDB transaction"},
    {"batch-ms", 0, "MS", ACT_KEY, "batch.max.ms", "longest time a batch stays open"},
    {"set", 0, "KEY=VALUE", ACT_SET, NULL, "any configuration key below; repeatable"},
    {"metrics", 0, "HOST:PORT", ACT_KEY, "metrics.listen", "serve /metrics and /healthz"},
    {"verbose", 'v', NULL, ACT_VERBOSE, "log.level", "debug logging"},
    {"print-config", 0, NULL, ACT_PRINT_CONFIG, NULL,
     "print the KEY=VALUE lines a run would use, and exit"},
    {"help", 'h', NULL, ACT_HELP, NULL, "this text"},
    {"version", 0, NULL, ACT_VERSION, NULL, "print the version"},
};

#define COMMON_FLAGS (sizeof(common_flags) / sizeof(common_flags[0]))

/* One parsed argument: a common flag or a consumer flag, and its value. */
typedef struct cli_token {
    const cli_flag_t *flag; /* NULL when `opt` is set */
    const cli_opt_t *opt;
    const char *value; /* into argv; NULL for a switch */
} cli_token_t;

/* ------------------------------------------------------------------ */
/* Logging                                                             */
/* ------------------------------------------------------------------ */

/* Syslog level names: lower case for log.level and JSON lines, upper case for text. */
static const char *const level_lower[] = {"emerg",   "alert",  "crit", "err",
                                          "warning", "notice", "info", "debug"};
static const char *const level_upper[] = {"EMERG",   "ALERT",  "CRIT", "ERR",
                                          "WARNING", "NOTICE", "INFO", "DEBUG"};

static int level_of(const char *name)
{
    for (int i = 0; i < (int)(sizeof(level_lower) / sizeof(level_lower[0])); i++) {
        if (name && strcmp(name, level_lower[i]) == 0)
            return i;
    }
    return EOC_LOG_INFO;
}

/* Prints msg as one JSON line like the library's log.format=json. */
static int log_json(int level, const char *ts, const char *msg)
{
    cJSON *obj = cJSON_CreateObject();
    char *text = NULL;

    if (obj && cJSON_AddStringToObject(obj, "ts", ts) &&
        cJSON_AddStringToObject(obj, "level", level_lower[level & 7]) &&
        cJSON_AddStringToObject(obj, "component", PROG) &&
        cJSON_AddNumberToObject(obj, "pid", (double)getpid()) &&
        cJSON_AddStringToObject(obj, "msg", msg))
        text = cJSON_PrintUnformatted(obj);
    cJSON_Delete(obj);
    if (!text)
        return -1;
    fprintf(stderr, "%s\n", text);
    cJSON_free(text);
    return 0;
}

void cli_log(const eoc_conf_t *conf, int level, const char *fmt, ...)
{
    char msg[1024], ts[40];
    struct timespec now;
    struct tm tm;
    va_list ap;

    if (level > level_of(eoc_conf_get(conf, "log.level")))
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    size_t n = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof(ts) - n, ".%03ldZ", (long)(now.tv_nsec / 1000000));
    const char *format = eoc_conf_get(conf, "log.format");
    if (format && strcmp(format, "json") == 0 && log_json(level, ts, msg) == 0)
        return;
    fprintf(stderr, "%s %s[%ld] %s %s\n", ts, PROG, (long)getpid(), level_upper[level & 7], msg);
}

/* ------------------------------------------------------------------ */
/* --help and --version                                                */
/* ------------------------------------------------------------------ */

/*
 * A key's default as this program applies it: the value in a configuration
 * that holds the library's defaults and the consumer's own (apply_defaults,
 * the function a run starts with), so --help cannot disagree with a run.
 */
static const char *shown_default(const eoc_conf_t *defaults, const char *key)
{
    const char *v = strchr(key, '*') ? NULL : eoc_conf_get(defaults, key);

    return v == NULL ? "none" : *v == '\0' ? "\"\"" : v;
}

static void help_flag(const eoc_conf_t *defaults, const char *name, char short_name,
                      const char *arg, const char *doc, const char *key)
{
    char left[80], right[512];

    if (short_name)
        snprintf(left, sizeof(left), "-%c, --%s%s%s", short_name, name, arg ? " " : "",
                 arg ? arg : "");
    else
        snprintf(left, sizeof(left), "    --%s%s%s", name, arg ? " " : "", arg ? arg : "");
    if (key)
        snprintf(right, sizeof(right), "%s (%s, default: %s)", doc, key,
                 shown_default(defaults, key));
    else
        snprintf(right, sizeof(right), "%s", doc);
    if (strlen(left) < 34)
        printf("  %-34s %s\n", left, right);
    else
        printf("  %s\n  %-34s %s\n", left, "", right);
}

static void help_key(void *opaque, const char *key, const char *type, const char *defval,
                     const char *doc)
{
    (void)defval; /* the library's; shown_default has this program's */
    printf("  %s (%s, default: %s)\n      %s\n", key, type, shown_default(opaque, key), doc);
}

static int apply_defaults(const cli_spec_t *spec, eoc_conf_t *conf);

static void print_help(const cli_spec_t *spec)
{
    eoc_conf_t *defaults = eoc_conf_new();

    if (!defaults || apply_defaults(spec, defaults) != 0) {
        eoc_conf_destroy(defaults);
        defaults = NULL; /* shows "none"; apply_defaults has said why */
    }
    printf("Usage: %s [OPTION]...\n%s\n", PROG, spec->summary);
    if (spec->description)
        printf("\n%s\n", spec->description);
    printf("\nOptions:\n");
    for (size_t i = 0; i < COMMON_FLAGS; i++) {
        const cli_flag_t *f = &common_flags[i];
        help_flag(defaults, f->name, f->short_name, f->arg, f->doc,
                  f->action == ACT_KEY || f->action == ACT_INPUT ? f->key : NULL);
    }
    if (spec->nopts) {
        printf("\n%s options:\n", PROG);
        for (size_t i = 0; i < spec->nopts; i++)
            help_flag(defaults, spec->opts[i].name, 0, spec->opts[i].arg, spec->opts[i].doc,
                      spec->opts[i].key);
    }
    printf("\nConfiguration keys (--set KEY=VALUE, or members of --config FILE.json):\n");
    eoc_conf_describe(help_key, defaults);
    printf("\nExit status: 0 clean stop, 1 fatal runtime error, 2 usage or configuration "
           "error.\nWithout Kafka at hand, run the development Kafka eoc-kafka-dev (see "
           "README) and pass its bootstrap servers to --brokers.\n");
    eoc_conf_destroy(defaults);
}

/* --print-config: "KEY=VALUE" per documented key that has a value. */
static void print_config_key(void *opaque, const char *key, const char *type, const char *defval,
                             const char *doc)
{
    const char *v = strchr(key, '*') ? NULL : eoc_conf_get(opaque, key);

    (void)type, (void)defval, (void)doc;
    if (v)
        printf("%s=%s\n", key, v);
}

static void print_version(void)
{
    printf("%s %s (libeoc %s)\n", PROG, EOC_VERSION_STR, eoc_version());
}

/* ------------------------------------------------------------------ */
/* Pass 1: tokens                                                      */
/* ------------------------------------------------------------------ */

static const cli_flag_t *find_common(const char *name, size_t len, char short_name)
{
    for (size_t i = 0; i < COMMON_FLAGS; i++) {
        const cli_flag_t *f = &common_flags[i];

        if (short_name ? f->short_name == short_name
                       : strlen(f->name) == len && strncmp(f->name, name, len) == 0)
            return f;
    }
    return NULL;
}

static const cli_opt_t *find_opt(const cli_spec_t *spec, const char *name, size_t len)
{
    for (size_t i = 0; i < spec->nopts; i++) {
        if (strlen(spec->opts[i].name) == len && strncmp(spec->opts[i].name, name, len) == 0)
            return &spec->opts[i];
    }
    return NULL;
}

/*
 * Reads the flag at argv[*i] (and its value, which may be the next
 * argument) into *tok, advancing *i past what it consumed. Returns 0, or
 * -1 after printing the problem.
 */
static int next_token(const cli_spec_t *spec, int argc, char **argv, int *i, cli_token_t *tok)
{
    const char *a = argv[*i], *name, *eq;
    size_t len;

    memset(tok, 0, sizeof(*tok));
    if (a[0] == '-' && a[1] == '-' && a[2] != '\0') {
        name = a + 2;
        eq = strchr(name, '=');
        len = eq ? (size_t)(eq - name) : strlen(name);
        if (!(tok->flag = find_common(name, len, 0)))
            tok->opt = find_opt(spec, name, len);
    } else if (a[0] == '-' && a[1] != '\0' && a[1] != '-' && a[2] == '\0') {
        name = a + 1;
        eq = NULL;
        len = 1;
        tok->flag = find_common(NULL, 0, a[1]);
    } else {
        fprintf(stderr, "%s: unexpected argument '%s' (see --help)\n", PROG, a);
        return -1;
    }
    if (!tok->flag && !tok->opt) {
        fprintf(stderr, "%s: unknown option '%.*s%.*s' (see --help)\n", PROG, (int)(name - a), a,
                (int)len, name);
        return -1;
    }
    const char *arg = tok->flag ? tok->flag->arg : tok->opt->arg;
    if (!arg && eq) {
        fprintf(stderr, "%s: option '%s' takes no value\n", PROG, a);
        return -1;
    }
    if (arg && eq) {
        tok->value = eq + 1;
    } else if (arg) {
        if (*i + 1 >= argc) {
            fprintf(stderr, "%s: option '%s' needs a value: %s\n", PROG, a, arg);
            return -1;
        }
        tok->value = argv[++*i];
    }
    (*i)++;
    return 0;
}

/* Tokenizes argv[1..]. Returns the array (caller frees) with *n set, or NULL. */
static cli_token_t *tokenize(const cli_spec_t *spec, int argc, char **argv, size_t *n)
{
    cli_token_t *toks = calloc((size_t)(argc > 0 ? argc : 1), sizeof(*toks));

    *n = 0;
    if (!toks) {
        fprintf(stderr, "%s: out of memory\n", PROG);
        return NULL;
    }
    for (int i = 1; i < argc;) {
        if (next_token(spec, argc, argv, &i, &toks[*n]) != 0) {
            free(toks);
            return NULL;
        }
        (*n)++;
    }
    return toks;
}

/* ------------------------------------------------------------------ */
/* Pass 2: applying                                                    */
/* ------------------------------------------------------------------ */

/* Finds the type name of a configuration key (eoc_conf_describe). */
struct key_type {
    const char *key, *type;
};

static void key_type_cb(void *opaque, const char *key, const char *type, const char *defval,
                        const char *doc)
{
    struct key_type *kt = opaque;

    (void)defval;
    (void)doc;
    if (strcmp(key, kt->key) == 0)
        kt->type = type;
}

static int conf_set(eoc_conf_t *conf, const char *flag, const char *key, const char *value)
{
    char err[512], what[300];
    struct key_type kt = {key, NULL};
    int64_t v;

    /* Integers go through the one strict parser every command line uses
     * (lib/util/numparse); the configuration then checks the range. */
    eoc_conf_describe(key_type_cb, &kt);
    snprintf(what, sizeof(what), "%s%s%s", flag ? flag : "", flag ? ": " : "", key);
    if (kt.type && strcmp(kt.type, "int") == 0 &&
        eoc__num_flag_i64(PROG, what, value, INT64_MIN, INT64_MAX, &v) != 0)
        return -1;
    if (eoc_conf_set(conf, key, value, err, sizeof(err)) == EOC_OK)
        return 0;
    fprintf(stderr, "%s: %s%s%s\n", PROG, flag ? flag : "", flag ? ": " : "", err);
    return -1;
}

/* Appends a comma list to *list (malloc'd, grows). 0 or -1 (out of memory). */
static int append_list(char **list, const char *items)
{
    size_t old = *list ? strlen(*list) : 0;
    char *grown = realloc(*list, old + strlen(items) + 2);

    if (!grown)
        return -1;
    snprintf(grown + old, strlen(items) + 2, "%s%s", old ? "," : "", items);
    *list = grown;
    return 0;
}

static int apply_set(eoc_conf_t *conf, const char *kv)
{
    const char *eq = strchr(kv, '=');
    char key[256];

    if (!eq || eq == kv || (size_t)(eq - kv) >= sizeof(key)) {
        fprintf(stderr, "%s: --set wants KEY=VALUE, got '%s'\n", PROG, kv);
        return -1;
    }
    memcpy(key, kv, (size_t)(eq - kv));
    key[eq - kv] = '\0';
    return conf_set(conf, "--set", key, eq + 1);
}

/* Applies one consumer flag. */
static int apply_opt(eoc_conf_t *conf, const cli_opt_t *o, const char *value)
{
    char flag[80];

    if (o->key) {
        snprintf(flag, sizeof(flag), "--%s", o->name);
        return conf_set(conf, flag, o->key, value);
    }
    if (o->value)
        *o->value = value;
    else if (o->on)
        *o->on = 1;
    return 0;
}

/* Applies one token of pass 2 (not --config, --help, --version). */
static int apply_token(eoc_conf_t *conf, const cli_token_t *t, char **inputs)
{
    char flag[80];

    if (t->opt)
        return apply_opt(conf, t->opt, t->value);
    snprintf(flag, sizeof(flag), "--%s", t->flag->name);
    switch (t->flag->action) {
    case ACT_KEY:
        return conf_set(conf, flag, t->flag->key, t->value);
    case ACT_INPUT:
        if (append_list(inputs, t->value) != 0) {
            fprintf(stderr, "%s: out of memory\n", PROG);
            return -1;
        }
        return 0;
    case ACT_SET:
        return apply_set(conf, t->value);
    case ACT_VERBOSE:
        return conf_set(conf, flag, "log.level", "debug");
    case ACT_CONFIG:
    case ACT_HELP:
    case ACT_VERSION:
    case ACT_PRINT_CONFIG:
        break;
    }
    return 0;
}

/* The consumer's own defaults (its cli_spec_t table): what a run starts with. */
static int apply_defaults(const cli_spec_t *spec, eoc_conf_t *conf)
{
    int rc = 0;

    for (size_t i = 0; i < spec->ndefaults && rc == 0; i++)
        rc = conf_set(conf, NULL, spec->defaults[i].key, spec->defaults[i].value);
    return rc;
}

/* Defaults, then every --config file, then the other flags in order. */
static int apply_all(const cli_spec_t *spec, const cli_token_t *toks, size_t n, eoc_conf_t *conf)
{
    char err[512];
    char *inputs = NULL;
    int rc = apply_defaults(spec, conf);

    for (size_t i = 0; i < n && rc == 0; i++) {
        if (toks[i].flag && toks[i].flag->action == ACT_CONFIG &&
            eoc_conf_load_json(conf, toks[i].value, err, sizeof(err)) != EOC_OK) {
            fprintf(stderr, "%s: --config: %s\n", PROG, err);
            rc = -1;
        }
    }
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = apply_token(conf, &toks[i], &inputs);
    if (rc == 0 && inputs)
        rc = conf_set(conf, "--input", "input.topics", inputs);
    free(inputs);
    return rc;
}

static int wants_print_config(const cli_token_t *toks, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (toks[i].flag && toks[i].flag->action == ACT_PRINT_CONFIG)
            return 1;
    }
    return 0;
}

int cli_parse(const cli_spec_t *spec, int argc, char **argv, eoc_conf_t **confp)
{
    size_t n;
    cli_token_t *toks = tokenize(spec, argc, argv, &n);
    int rc = CLI_CONTINUE;

    *confp = NULL;
    if (!toks)
        return CLI_EXIT_USAGE;
    for (size_t i = 0; i < n && rc == CLI_CONTINUE; i++) {
        if (toks[i].flag && toks[i].flag->action == ACT_HELP) {
            print_help(spec);
            rc = CLI_EXIT_OK;
        } else if (toks[i].flag && toks[i].flag->action == ACT_VERSION) {
            print_version();
            rc = CLI_EXIT_OK;
        }
    }
    if (rc == CLI_CONTINUE) {
        eoc_conf_t *conf = eoc_conf_new();

        if (!conf) {
            fprintf(stderr, "%s: out of memory\n", PROG);
            rc = CLI_EXIT_USAGE;
        } else if (apply_all(spec, toks, n, conf) != 0) {
            eoc_conf_destroy(conf);
            rc = CLI_EXIT_USAGE;
        } else if (wants_print_config(toks, n)) {
            eoc_conf_describe(print_config_key, conf);
            eoc_conf_destroy(conf);
            rc = CLI_EXIT_OK;
        } else {
            *confp = conf;
        }
    }
    free(toks);
    return rc;
}

/* The flag that sets `key`, for error messages. */
static const char *flag_for(const char *key)
{
    for (size_t i = 0; i < COMMON_FLAGS; i++) {
        if (common_flags[i].key && strcmp(common_flags[i].key, key) == 0)
            return common_flags[i].name;
    }
    return NULL;
}

/* Explains how to get a Kafka when none was given. */
static void no_brokers(void)
{
    fprintf(stderr,
            "%s: no Kafka to consume from: pass --brokers HOST:PORT; for a local run start the "
            "embedded development Kafka eoc-kafka-dev (see README) and pass the bootstrap "
            "servers it prints\n",
            PROG);
}

/* Checks, in order, that every key in `keys` has a non-empty value;
 * otherwise prints "<key> is required (--flag)" (for kafka.bootstrap.servers:
 * how to run the development Kafka) and returns CLI_EXIT_USAGE. */
static int cli_require(const eoc_conf_t *conf, const char *const *keys, size_t nkeys)
{
    for (size_t i = 0; i < nkeys; i++) {
        const char *v = eoc_conf_get(conf, keys[i]);
        const char *flag = flag_for(keys[i]);

        if (v && *v)
            continue;
        if (strcmp(keys[i], "kafka.bootstrap.servers") == 0)
            no_brokers();
        else if (flag)
            fprintf(stderr, "%s: %s is required (--%s)\n", PROG, keys[i], flag);
        else
            fprintf(stderr, "%s: %s is required (--set %s=...)\n", PROG, keys[i], keys[i]);
        return CLI_EXIT_USAGE;
    }
    return CLI_CONTINUE;
}

/* ------------------------------------------------------------------ */
/* Running                                                             */
/* ------------------------------------------------------------------ */

/*
 * The worker that SIGINT/SIGTERM stop. The process's only global: a signal
 * handler has no other way to reach it. Set by cli_run before the handlers
 * are installed, cleared after they are removed; eoc_worker_stop is
 * async-signal-safe.
 */
static eoc_worker_t *cli_signal_worker;

static void on_stop_signal(int sig)
{
    (void)sig;
    if (cli_signal_worker)
        eoc_worker_stop(cli_signal_worker);
}

/* SIGINT, SIGTERM and SIGHUP (a closed terminal or session) stop with a
 * drain; SA_RESETHAND: the first signal stops gracefully, a second one kills. */
static void signals_install(void (*fn)(int))
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = fn;
    sa.sa_flags = fn == SIG_DFL ? 0 : SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}

/* Refuses to run without Kafka or the keys a consumer's worker needs
 * (every consumer emits: output.topic too). */
static int check_runnable(const eoc_conf_t *conf)
{
    static const char *const required[] = {"kafka.bootstrap.servers", "output.topic", "data.dir",
                                           "group.id", "input.topics"};

    return cli_require(conf, required, sizeof(required) / sizeof(required[0]));
}

static void log_final_stats(const eoc_conf_t *conf, eoc_worker_t *w)
{
    eoc_stats_t st;

    eoc_worker_stats(w, &st);
    cli_log(conf, EOC_LOG_INFO,
            "stopped: consumed=%" PRIu64 " applied=%" PRIu64 " duplicates=%" PRIu64
            " dead_letters=%" PRIu64 " skipped=%" PRIu64 " published=%" PRIu64
            " outbox_backlog=%" PRIu64,
            st.consumed, st.applied, st.duplicates, st.dead_letters, st.skipped, st.published,
            st.outbox_backlog);
}

int cli_run(eoc_conf_t *conf, eoc_handler_fn handler, void *opaque)
{
    char err[512];
    int rc = check_runnable(conf);
    eoc_worker_t *w;

    if (rc != CLI_CONTINUE) {
        eoc_conf_destroy(conf);
        return rc;
    }
    /* A closed stderr pipe (a log shipper gone) must not kill a worker:
     * writes then fail with EPIPE, and the log line is lost, not the run. */
    signal(SIGPIPE, SIG_IGN);
    /* Creation fails on configuration or on the environment (store
     * directory, librdkafka properties): the run never started. */
    if (!(w = eoc_worker_new(conf, handler, opaque, err, sizeof(err)))) {
        fprintf(stderr, "%s: cannot start: %s\n", PROG, err);
        eoc_conf_destroy(conf);
        return CLI_EXIT_USAGE;
    }
    /* From here the worker owns conf; it stays readable until destroy. */
    cli_signal_worker = w;
    signals_install(on_stop_signal);
    eoc_err_t run = eoc_worker_run(w);
    signals_install(SIG_DFL);
    cli_signal_worker = NULL;
    log_final_stats(conf, w);
    eoc_worker_destroy(w);
    if (run != EOC_OK) {
        fprintf(stderr, "%s: fatal: %s (details in the log above)\n", PROG, eoc_strerror(run));
        return CLI_EXIT_FATAL;
    }
    return CLI_EXIT_OK;
}
