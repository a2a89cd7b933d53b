/*
 * parts.c - the partitions a worker has seen: looked up by the polling
 * thread for every record (the last one found is tried first), created on
 * first sight and published to the metrics (metrics.h). They live as long
 * as the worker: batches and the metrics server point at them.
 */
#include "worker_int.h"

#include "util.h"

#include <stdlib.h>
#include <string.h>

static eoc__part_t *part_new(eoc_worker_t *w, const char *topic, int32_t partition)
{
    eoc__part_t **v = eoc__grow(w->parts, &w->capparts, w->nparts, sizeof(*v), 32);
    if (!v)
        return NULL;
    w->parts = v;
    eoc__part_t *p = calloc(1, sizeof(*p));
    if (!p || !(p->st.topic = strdup(topic))) {
        free(p);
        return NULL;
    }
    p->st.partition = partition;
    atomic_init(&p->st.committed, -1);
    p->bidx[0] = p->bidx[1] = -1;
    p->careful_until = -1;
    p->polled = -1;
    if (eoc__stats_add_part(&w->stats, &p->st) != 0) {
        free(p->st.topic);
        free(p);
        return NULL;
    }
    w->parts[w->nparts] = p;
    w->lastpart = w->nparts++;
    return p;
}

eoc__part_t *eoc__parts_get(eoc_worker_t *w, const char *topic, int32_t partition)
{
    if (w->lastpart < w->nparts && w->parts[w->lastpart]->st.partition == partition &&
        strcmp(w->parts[w->lastpart]->st.topic, topic) == 0)
        return w->parts[w->lastpart];
    for (size_t i = 0; i < w->nparts; i++) {
        if (w->parts[i]->st.partition == partition && strcmp(w->parts[i]->st.topic, topic) == 0) {
            w->lastpart = i;
            return w->parts[i];
        }
    }
    return part_new(w, topic, partition);
}

void eoc__parts_free(eoc_worker_t *w)
{
    for (size_t i = 0; i < w->nparts; i++) {
        free(w->parts[i]->st.topic);
        free(w->parts[i]);
    }
    free(w->parts);
    w->parts = NULL;
    w->nparts = w->capparts = 0;
    eoc__stats_free(&w->stats);
}
