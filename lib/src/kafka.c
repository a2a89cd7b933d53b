/* kafka.c - see kafka.h. */
#include "kafka.h"

#include "conf.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

struct apply_ctx {
    rd_kafka_conf_t *kc;
    const char *prefix;
    char *errstr;
    size_t errstr_size;
};

static int apply_one(void *opaque, const char *key, const char *value)
{
    struct apply_ctx *ctx = opaque;
    char err[256];
    if (rd_kafka_conf_set(ctx->kc, key, value, err, sizeof(err)) != RD_KAFKA_CONF_OK) {
        snprintf(ctx->errstr, ctx->errstr_size, "%s%s: %s", ctx->prefix, key, err);
        return -1;
    }
    return 0;
}

int eoc__kafka_conf_apply(rd_kafka_conf_t *kc, const eoc_conf_t *conf, const char *prefix,
                          char *errstr, size_t errstr_size)
{
    struct apply_ctx ctx = {kc, prefix, errstr, errstr_size};
    return eoc__conf_foreach_prefix(conf, prefix, apply_one, &ctx) ? -1 : 0;
}

static void log_line(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    const eoc_log_t *_Atomic *owner = rd_kafka_opaque(rk);
    const eoc_log_t *lg = owner ? atomic_load(owner) : NULL;
    if (lg)
        eoc__log(lg, level < EOC_LOG_ERR ? EOC_LOG_ERR : level, "kafka %s: %s", fac, buf);
}

void eoc__kafka_conf_log(rd_kafka_conf_t *kc)
{
    rd_kafka_conf_set_log_cb(kc, log_line);
}
