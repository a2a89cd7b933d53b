/*
 * kafka - the boundary with librdkafka's configuration and logging.
 *
 * Log routing: the opaque of every rd_kafka_t that eoc creates is a struct
 * whose FIRST member is `const eoc_log_t *_Atomic` (the worker, the
 * relay), so librdkafka's log lines reach the owner's logger; NULL turns
 * them off.
 *
 * Property scope: librdkafka warns (CONFWARN) about a consumer property
 * given to a producer and the other way round. `kafka.*` is meant for
 * every client, so each client is given only the `kafka.*` properties of
 * its kind (librdkafka's own table of properties, its C/P column, decides; a name
 * it does not know goes to every client, which then rejects it).
 */
#ifndef EOC_KAFKA_H
#define EOC_KAFKA_H

#include "eoc/eoc.h"
#include "log.h"

#include <librdkafka/rdkafka.h>

/** Applies every set key starting with `prefix` (minus the prefix) to kc.
 *  With prefix "kafka." the keys of `kafka.consumer.*` are left out.
 *  Returns 0, or -1 with errstr naming the eoc key. */
int eoc__kafka_conf_apply(rd_kafka_conf_t *kc, const eoc_conf_t *conf, const char *prefix,
                          char *errstr, size_t errstr_size);

/**
 * Applies the configuration of a client of kind `client`: the `kafka.*`
 * properties that apply to it, then its own prefix (`kafka.consumer.*` for
 * the consumer, `relay.kafka.*` for the relay's producer), then the user's
 * eoc_kafka_conf_cb. Returns 0, or -1 with the reason in errstr.
 */
int eoc__kafka_conf_build(rd_kafka_conf_t *kc, const eoc_conf_t *conf, eoc_kafka_client_t client,
                          char *errstr, size_t errstr_size);

/** Whether librdkafka's property `name` applies to a consumer (`consumer`
 *  1) or a producer (0). Unknown names apply to both. */
int eoc__kafka_prop_applies(const char *name, int consumer);

/** Routes librdkafka's logs to the owner's logger (see above). */
void eoc__kafka_conf_log(rd_kafka_conf_t *kc);

#endif
