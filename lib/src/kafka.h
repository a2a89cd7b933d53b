/*
 * kafka - the boundary with librdkafka's configuration and logging.
 *
 * Log routing: the opaque of every rd_kafka_t that eoc creates is a struct
 * whose FIRST member is `const eoc_log_t *_Atomic` (the worker, the
 * relay), so librdkafka's log lines reach the owner's logger; NULL turns
 * them off.
 */
#ifndef EOC_KAFKA_H
#define EOC_KAFKA_H

#include "eoc/eoc.h"
#include "log.h"

#include <librdkafka/rdkafka.h>

/** Applies every set key starting with `prefix` (minus the prefix) to kc.
 *  Returns 0, or -1 with errstr naming the eoc key. */
int eoc__kafka_conf_apply(rd_kafka_conf_t *kc, const eoc_conf_t *conf, const char *prefix,
                          char *errstr, size_t errstr_size);

/** Routes librdkafka's logs to the owner's logger (see above). */
void eoc__kafka_conf_log(rd_kafka_conf_t *kc);

#endif
