/*
 * metrics - a small HTTP server for one worker: GET /metrics (Prometheus
 * text exposition format 0.0.4) and GET /healthz (200 or 503 with a JSON
 * reason). Built on libmicrohttpd; without it (EOC_HAVE_MHD undefined)
 * eoc__metrics_start() fails with "built without libmicrohttpd".
 *
 * Threads: libmicrohttpd's one internal polling thread answers every
 * request, one at a time. It only reads the worker: relaxed atomic
 * counters, the partition table under its lock, the store through short
 * read transactions and librdkafka's cached watermarks (no network).
 * eoc__metrics_start() and eoc__metrics_stop() are called by the worker's
 * owner thread.
 *
 * Ownership: the server borrows the worker, which must outlive it: stop the
 * server before eoc_worker_destroy().
 */
#ifndef EOC_METRICS_H
#define EOC_METRICS_H

#include "eoc/eoc.h"

#include <stddef.h>

typedef struct eoc__metrics eoc__metrics_t;

/**
 * Starts serving `w`'s metrics on the conf key metrics.listen: "host:port",
 * "[ipv6]:port" or ":port" (all IPv4 interfaces); port 0 picks a free one
 * (see eoc__metrics_port). Returns NULL with the reason in errstr on a bad
 * address, an address in use, or a build without libmicrohttpd.
 */
eoc__metrics_t *eoc__metrics_start(eoc_worker_t *w, char *errstr, size_t errstr_size);

/** The bound TCP port. */
int eoc__metrics_port(const eoc__metrics_t *m);

/** Stops the listener (waits for a request in progress) and frees `m`. NULL is fine. */
void eoc__metrics_stop(eoc__metrics_t *m);

#endif /* EOC_METRICS_H */
