/* batch.c - see batch.h. */
#include "batch.h"
#include "worker_int.h"

#include <stdlib.h>
#include <string.h>

int eoc__batch_init(eoc__batch_t *b, int slot, size_t cap)
{
    memset(b, 0, sizeof(*b));
    b->slot = slot;
    b->cap = cap;
    b->msgs = calloc(cap, sizeof(*b->msgs));
    b->parts = calloc(cap, sizeof(*b->parts));
    b->keys = calloc(cap, sizeof(*b->keys));
    b->isolate = calloc(cap, 1);
    b->pos = calloc(cap, sizeof(*b->pos));
    if (!b->msgs || !b->parts || !b->keys || !b->isolate || !b->pos) {
        eoc__batch_free(b);
        return -1;
    }
    return 0;
}

void eoc__batch_free(eoc__batch_t *b)
{
    if (b->msgs)
        eoc__batch_drop(b);
    free(b->msgs);
    free(b->parts);
    free(b->keys);
    free(b->isolate);
    free(b->pos);
    eoc__buf_free(&b->ids);
    memset(b, 0, sizeof(*b));
}

/* Destroys what eoc__batch_done left. */
static void reclaim(eoc__batch_t *b)
{
    for (size_t i = 0; i < b->nspent; i++)
        rd_kafka_message_destroy(b->msgs[i]);
    b->nspent = 0;
}

int eoc__batch_add(eoc__batch_t *b, rd_kafka_message_t *m, eoc__part_t *p, const eoc__key_t *k,
                   const char *id, int64_t now_ms)
{
    if (b->nspent)
        reclaim(b);
    size_t i = b->n;
    if (i == b->cap)
        return -1; /* the worker hands a full batch off first */
    b->keys[i] = *k;
    b->keys[i].id_off = (uint32_t)b->ids.len;
    if (k->st == EOC__ID_FOUND) {
        eoc__buf_put(&b->ids, id, k->id_len);
        if (b->ids.oom)
            return -1;
    }
    int at = p->bidx[b->slot];
    if (at < 0) {
        at = (int)b->npos++;
        p->bidx[b->slot] = at;
        b->pos[at] = (eoc__bpos_t){p, m->offset, m->offset + 1};
    }
    b->pos[at].next = m->offset + 1;
    if (!i)
        b->first_ms = now_ms;
    b->msgs[i] = m;
    b->parts[i] = p;
    b->isolate[i] = 0;
    b->n = i + 1;
    return 0;
}

void eoc__batch_drop(eoc__batch_t *b)
{
    eoc__batch_done(b);
    reclaim(b);
}

void eoc__batch_done(eoc__batch_t *b)
{
    b->nspent += b->n; /* one of the two is 0: adding reclaims first */
    for (size_t i = 0; i < b->npos; i++)
        b->pos[i].part->bidx[b->slot] = -1;
    b->n = b->npos = 0;
    b->isolate_all = 0;
    eoc__buf_reset(&b->ids);
}

rd_kafka_topic_partition_list_t *eoc__batch_list(const eoc__batch_t *b, int first)
{
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new((int)b->npos + 1);
    for (size_t i = 0; i < b->npos; i++) {
        const eoc__bpos_t *ps = &b->pos[i];
        rd_kafka_topic_partition_list_add(l, ps->part->st.topic, ps->part->st.partition)->offset =
            first ? ps->first : ps->next;
    }
    return l;
}
