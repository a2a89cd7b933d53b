/*
 * cli.h - the command line shared by every eoc consumer.
 *
 * One parser turns a consumer's flags into an eoc_conf_t: the common flags
 * (--brokers, --group, --input, --output, --dlq, --data, --config, --id,
 * --batch, --batch-ms, --set, --metrics, -v, --print-config, --help,
 * --version) plus a small table of flags the consumer declares itself
 * (cli_opt_t). The configuration file given with --config is applied
 * first, whatever its place on the command line; every other flag
 * overrides it, in command line order.
 *
 * cli_run() then runs a worker until SIGINT/SIGTERM and maps the outcome
 * to the exit status shared by all consumers:
 *   0 (CLI_EXIT_OK)    clean stop, or --help/--version
 *   1 (CLI_EXIT_FATAL) fatal runtime error, reason on one stderr line
 *   2 (CLI_EXIT_USAGE) usage or configuration error
 *
 * Messages are prefixed with the program's name (program_invocation_short_name).
 * Everything here runs on the main thread; nothing keeps state between calls
 * except cli_run's signal handler target (see cli.c).
 */
#ifndef EOC_CONSUMERS_CLI_H
#define EOC_CONSUMERS_CLI_H

#include <eoc/eoc.h>

#include <stddef.h>

#define CLI_EXIT_OK    0
#define CLI_EXIT_FATAL 1
#define CLI_EXIT_USAGE 2

/** cli_parse: the command line was fine, go on with *confp. */
#define CLI_CONTINUE (-1)

/**
 * A consumer-specific flag, `--name` or `--name VALUE` (`--name=VALUE`).
 * Exactly one destination is used, the first that is set:
 *  - `key`:   VALUE is stored in that configuration key (e.g. --output-brokers
 *             -> relay.kafka.bootstrap.servers); it overrides the file.
 *  - `value`: VALUE (a pointer into argv) is stored in *value;
 *  - `on`:    a switch without VALUE sets *on to 1.
 * The pointed-to variables belong to the caller and must outlive cli_parse.
 */
typedef struct cli_opt {
    const char *name;   /**< long name without the dashes */
    const char *arg;    /**< placeholder shown in --help; NULL for a switch */
    const char *key;    /**< configuration key receiving VALUE, or NULL */
    const char **value; /**< receives VALUE when key is NULL */
    int *on;            /**< a switch sets *on = 1 */
    const char *doc;    /**< one line for --help */
} cli_opt_t;

/** A configuration default the consumer sets before the file and the flags. */
typedef struct cli_default {
    const char *key;
    const char *value;
} cli_default_t;

/** What a consumer tells the parser about itself. All static data. */
typedef struct cli_spec {
    const char *summary;     /**< one line for --help */
    const char *description; /**< paragraph for --help, or NULL */
    const cli_opt_t *opts;   /**< the consumer's own flags, may be NULL */
    size_t nopts;
    const cli_default_t *defaults; /**< may be NULL */
    size_t ndefaults;
} cli_spec_t;

/**
 * Parses argv. Returns CLI_CONTINUE with a new configuration in *confp
 * (the caller owns it), or an exit status with *confp NULL: CLI_EXIT_OK
 * after printing --help or --version to stdout, CLI_EXIT_USAGE after
 * printing one line naming the problem to stderr.
 */
int cli_parse(const cli_spec_t *spec, int argc, char **argv, eoc_conf_t **confp);

/**
 * Logs one line to stderr at `level` (EOC_LOG_*) when the configuration's
 * log.level lets it through, in the configured log.format. For consumer
 * messages that are not the library's.
 */
void cli_log(const eoc_conf_t *conf, int level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/**
 * Runs a worker for `conf` (taken over in every case: freed on failure)
 * with `handler`/`opaque` until SIGINT or SIGTERM (a second signal kills
 * the process the default way), then logs the final counters at info
 * level. Returns the exit status: CLI_EXIT_USAGE without
 * kafka.bootstrap.servers, output.topic, data.dir, group.id or
 * input.topics (reported in that order), or when
 * eoc_worker_new refuses the configuration or the store (the run never
 * started); CLI_EXIT_FATAL when the worker stopped on a fatal error;
 * CLI_EXIT_OK after a clean stop. Not reentrant: one cli_run per process
 * at a time.
 */
int cli_run(eoc_conf_t *conf, eoc_handler_fn handler, void *opaque);

#endif /* EOC_CONSUMERS_CLI_H */
