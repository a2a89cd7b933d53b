/*
 * stages.h - where a worker's CPU goes, stage by stage: nanoseconds of
 * thread CPU time (CLOCK_THREAD_CPUTIME_ID: on a shared machine a stage is
 * not charged for the time its thread was not running) summed per stage
 * by the thread that runs it (the polling thread, the apply thread, the
 * relay). Clocks are read per batch or per relay pass, not per record:
 * the per-record stages (ID and hash, produce) time one record in
 * EOC__STAGE_SAMPLE (eoc__stage_tick) and count it that many times. The commit's wall-clock
 * time (the disk) is the commit latency histogram's. eoc-bench prints the
 * sums per record (eoc__worker_stages); what is left of the process's CPU
 * is librdkafka's own threads.
 */
#ifndef EOC_STAGES_H
#define EOC_STAGES_H

#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

enum {
    EOC__STAGE_CONSUME,    /* polling thread: rd_kafka_consumer_poll, buffering */
    EOC__STAGE_ID,         /* polling thread: message ID, its hash, the payload digest (sampled) */
    EOC__STAGE_HANDOFF,    /* polling thread: waiting for the apply thread */
    EOC__STAGE_APPLY,      /* apply thread: dedupe, handler, inbox and outbox rows */
    EOC__STAGE_REMOVE,     /* apply thread or relay: removing delivered outbox rows */
    EOC__STAGE_COMMIT,     /* apply thread: the durable LMDB commit */
    EOC__STAGE_RELAY_READ, /* relay: outbox scan and decode, disk settle */
    EOC__STAGE_PRODUCE,    /* relay: rd_kafka_producev (sampled) */
    EOC__STAGE_DELIVERY,   /* relay: rd_kafka_poll, delivery reports */
    EOC__STAGE_N
};

#define EOC__STAGE_IDLE   EOC__STAGE_N /* time that is no stage's (not reported) */
#define EOC__STAGE_SAMPLE 16 /* a power of two */
/* A sampled record that took longer was interrupted (preempted, a page
 * fault: on a shared machine for up to milliseconds) rather than working:
 * counted 16 times it would swamp the stage, so it is dropped. A record's
 * ID or produce takes well under a microsecond. */
#define EOC__STAGE_SAMPLE_MAX_NS 5000

typedef struct eoc__stages {
    atomic_uint_fast64_t ns[EOC__STAGE_N + 1]; /* last: EOC__STAGE_IDLE */
} eoc__stages_t;

static inline uint64_t eoc__stage_clock(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* For the sampled per-record stages: the monotonic clock (vDSO, ~20 ns;
 * the thread CPU clock is a system call, ~200 ns, which would swamp a
 * record's microsecond). A window that short is rarely preempted. */
static inline uint64_t eoc__stage_tick(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline void eoc__stage_add(eoc__stages_t *s, int stage, uint64_t ns)
{
    atomic_fetch_add_explicit(&s->ns[stage], ns, memory_order_relaxed);
}

/* Counts a sampled record's time (since t0, eoc__stage_tick) for the
 * EOC__STAGE_SAMPLE records it stands for. */
static inline void eoc__stage_sample(eoc__stages_t *s, int stage, uint64_t t0)
{
    uint64_t ns = eoc__stage_tick() - t0;
    if (ns <= EOC__STAGE_SAMPLE_MAX_NS)
        eoc__stage_add(s, stage, ns * EOC__STAGE_SAMPLE);
}

/* Adds the time since *t0 to `stage` and moves *t0 to now. */
static inline void eoc__stage_lap(eoc__stages_t *s, int stage, uint64_t *t0)
{
    uint64_t t = eoc__stage_clock();
    eoc__stage_add(s, stage, t - *t0);
    *t0 = t;
}

/* The same, less what `inner` gained since *inner0 (a sampled stage timed
 * inside this one); moves *inner0 on too. */
static inline void eoc__stage_lap_outer(eoc__stages_t *s, int stage, uint64_t *t0, int inner,
                                        uint64_t *inner0)
{
    uint64_t t = eoc__stage_clock();
    uint64_t in = atomic_load_explicit(&s->ns[inner], memory_order_relaxed);
    uint64_t d = t - *t0, di = in - *inner0;
    eoc__stage_add(s, stage, d > di ? d - di : 0);
    *t0 = t;
    *inner0 = in;
}

extern const char *const eoc__stage_names[EOC__STAGE_N];

typedef struct eoc_worker eoc_worker_t;
/** The worker's (and its relay's) stage sums so far, in ns. */
void eoc__worker_stages(eoc_worker_t *w, uint64_t ns[EOC__STAGE_N]);

#endif
