/* kafka.c - see kafka.h. */
#include "kafka.h"

#include "conf.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- property scope, from rd_kafka_conf_properties_show's table ---- */

typedef struct prop {
    char *name;
    char scope; /* 'C', 'P' or '*' */
} prop_t;

static prop_t *props;
static size_t nprops;
static pthread_once_t props_once = PTHREAD_ONCE_INIT;

/* Reads "name | C/P | ..." rows of the Markdown tables librdkafka prints. */
static void props_load(void)
{
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    if (!f)
        return;
    rd_kafka_conf_properties_show(f);
    fclose(f);
    size_t cap = 0;
    for (char *line = text, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        char *bar = strchr(line, '|');
        if (!bar || line[0] == '-' || line[0] == '#' || strncmp(line, "Property", 8) == 0)
            continue;
        char *e = bar;
        while (e > line && e[-1] == ' ')
            e--;
        char *sc = bar + 1;
        while (*sc == ' ')
            sc++;
        if (e == line || (*sc != 'C' && *sc != 'P' && *sc != '*'))
            continue;
        if (nprops == cap) {
            cap = cap ? cap * 2 : 256;
            prop_t *v = realloc(props, cap * sizeof(*v));
            if (!v)
                break;
            props = v;
        }
        props[nprops].name = strndup(line, (size_t)(e - line));
        props[nprops].scope = *sc;
        if (props[nprops].name)
            nprops++;
    }
    free(text);
}

int eoc__kafka_prop_applies(const char *name, int consumer)
{
    pthread_once(&props_once, props_load);
    for (size_t i = 0; i < nprops; i++)
        if (strcmp(props[i].name, name) == 0)
            return props[i].scope == '*' || props[i].scope == (consumer ? 'C' : 'P');
    return 1;
}

/* ---- applying keys ---- */

struct apply_ctx {
    rd_kafka_conf_t *kc;
    const char *prefix;
    int scope; /* -1: every key; 1: consumer properties; 0: producer properties */
    char *errstr;
    size_t errstr_size;
};

static int apply_one(void *opaque, const char *key, const char *value)
{
    struct apply_ctx *ctx = opaque;
    char err[256];
    if (strcmp(ctx->prefix, "kafka.") == 0 && strncmp(key, "consumer.", 9) == 0)
        return 0; /* kafka.consumer.*: the consumer's own prefix */
    if (ctx->scope >= 0 && !eoc__kafka_prop_applies(key, ctx->scope))
        return 0;
    if (rd_kafka_conf_set(ctx->kc, key, value, err, sizeof(err)) != RD_KAFKA_CONF_OK) {
        snprintf(ctx->errstr, ctx->errstr_size, "%s%s: %s", ctx->prefix, key, err);
        return -1;
    }
    return 0;
}

static int apply_prefix(rd_kafka_conf_t *kc, const eoc_conf_t *conf, const char *prefix, int scope,
                        char *errstr, size_t errstr_size)
{
    struct apply_ctx ctx = {kc, prefix, scope, errstr, errstr_size};
    return eoc__conf_foreach_prefix(conf, prefix, apply_one, &ctx) ? -1 : 0;
}

int eoc__kafka_conf_apply(rd_kafka_conf_t *kc, const eoc_conf_t *conf, const char *prefix,
                          char *errstr, size_t errstr_size)
{
    return apply_prefix(kc, conf, prefix, -1, errstr, errstr_size);
}

int eoc__kafka_conf_build(rd_kafka_conf_t *kc, const eoc_conf_t *conf, eoc_kafka_client_t client,
                          char *errstr, size_t errstr_size)
{
    int consumer = client == EOC_KAFKA_CONSUMER;
    const char *own = consumer ? "kafka.consumer." : "relay.kafka.";
    if (apply_prefix(kc, conf, "kafka.", consumer, errstr, errstr_size) ||
        (client != EOC_KAFKA_TX_PRODUCER &&
         apply_prefix(kc, conf, own, -1, errstr, errstr_size)))
        return -1;
    eoc__settings_t st;
    eoc__settings_read(conf, &st);
    if (st.kafka_conf_cb) {
        char why[256] = "";
        if (st.kafka_conf_cb(st.kafka_conf_opaque, client, kc, why, sizeof(why)) != EOC_OK) {
            snprintf(errstr, errstr_size, "the kafka conf callback refused the %s: %s",
                     consumer ? "consumer" : "producer", why[0] ? why : "no reason given");
            return -1;
        }
    }
    return 0;
}

static void log_line(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    const eoc_log_t *_Atomic *owner = rd_kafka_opaque(rk);
    const eoc_log_t *lg = owner ? atomic_load(owner) : NULL;
    /* Brokers without KIP-464 (the development Kafka among them) say on
     * every metadata request that they may auto-create topics. eoc does
     * not rely on allow.auto.create.topics=false alone: a worker checks
     * its input topics at start and the tools check theirs. */
    if (strcmp(fac, "AUTOCREATE") == 0)
        level = EOC_LOG_DEBUG;
    if (lg)
        eoc__log(lg, level < EOC_LOG_ERR ? EOC_LOG_ERR : level, "kafka %s: %s", fac, buf);
}

void eoc__kafka_conf_log(rd_kafka_conf_t *kc)
{
    rd_kafka_conf_set_log_cb(kc, log_line);
}
