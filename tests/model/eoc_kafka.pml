/*
 * eoc_kafka.pml - the eos.mode=kafka commit protocol, checked with spin.
 *
 * The Kafka transaction is the commit point (Kafka Streams EOS-v2,
 * KIP-447). Per batch, one transactional producer per worker process
 * commits in ONE Kafka transaction: the batch's outputs, a changelog of its
 * local writes (inbox IDs and state puts) and the consumed offsets, sent
 * with the consumer's group metadata. LMDB is the partition's warm copy and
 * is never ahead of Kafka: the batch's LMDB write transaction stays open
 * until the Kafka commit has returned, and commits only then.
 *
 * Every action below is one atomic step and names the function of lib/src
 * that will perform it (README.md, "Actions and functions"). Crashes,
 * pauses, lost disks, abortable and fencing errors can strike between any
 * two steps, within a budget of FAULTS.
 *
 * Bounds (overridable with -D): NW workers (2 or 3), NP input partitions
 * (1 or 2), FAULTS faults. Fixed: NREC = 3 records per partition (the IDs
 * below), batches of 1 or 2 records of one partition.
 *
 * Variants that must fail (run.sh checks that each yields a trail):
 *   -DBROKEN_LMDB_FIRST          LMDB commits before the Kafka transaction,
 *                                with no marker
 *   -DBROKEN_NO_GROUP_METADATA   offsets sent without group metadata: the
 *                                group coordinator cannot fence a zombie
 *   -DBROKEN_LATE_METADATA       group metadata read when the offsets are
 *                                sent instead of when the batch was polled
 *   -DBROKEN_UNSTABLE_FETCH      committed offsets fetched without
 *                                require_stable
 *   -DBROKEN_RESTORE_TO_LSO      restore reads to the read_committed end
 *                                (LSO) instead of the high watermark
 *   -DBROKEN_OFFSETS_FIRST       offsets sent before the records are
 *                                produced
 *   -DBROKEN_IGNORE_LMDB_FAIL    a failed LMDB commit after the Kafka
 *                                commit is not followed by a restore
 *   -DBROKEN_RESTORE_ONLY_NEW    an assignment restores and repositions only
 *                                the partitions the worker did not hold
 *   -DBROKEN_FENCED_NO_RESTORE   after a fencing error the producer is
 *                                re-created, the partitions are neither
 *                                restored nor repositioned
 *   -DBROKEN_NO_TXN_TIMEOUT      no transaction timeout: the open
 *                                transaction of a lost host blocks its
 *                                partition for ever (a liveness failure)
 * Fault kinds can be switched off one by one for narrower runs:
 *   -DNO_CRASH -DNO_LOST_DISK -DNO_HOST_LOSS -DNO_PAUSE -DNO_ABORTABLE
 *   -DNO_TXN_TIMEOUT (the fault; a stopped producer still times out)
 *   -DNO_LMDB_FAIL
 */

#ifndef NW
#define NW 2
#endif
#ifndef NP
#define NP 1
#endif
#ifndef FAULTS
#define FAULTS 2
#endif
#define NREC 3
#ifndef MAXCL
#define MAXCL (4 * FAULTS + 4)  /* changelog entries per partition; asserted */
#endif

#define NIDS 2    /* message IDs 0 and 1 */
#define NONE 255
#define BIT(i) (1 << (i))

/* The input. Partition 0 holds IDs [0, 0, 1]: a duplicate that a batch of
 * two meets inside itself, and one a later batch meets in the inbox.
 * Partition 1 holds [1, 0, 0]. IDs are scoped per input partition (the
 * inbox moves with the partition). */
#define INID(p, o) ((p) == 0 -> ((o) == 2 -> 1 : 0) : ((o) == 0 -> 1 : 0))

/* ---- the group coordinator -------------------------------------------- */
/* Generations are compared only for equality with the current one, so the
 * model keeps, instead of numbers, a bit per worker saying "is current";
 * every rebalance clears them all. */
byte member;            /* bit w: w is a member of the group */
byte owner[NP];         /* the member a partition is assigned to, NONE */
byte committed[NP];     /* the group's committed offset (next to consume) */
byte cfresh;            /* bit w: w's consumer joined the current generation */
byte afresh;            /* bit w: w's application took the current assignment */
byte bfresh;            /* bit w: w's in-flight batch carries group metadata
                           of the current generation */

/* ---- the transaction coordinator: one transactional.id per worker ------ */
bool tx_open[NW];       /* an open transaction (partitions or offsets added) */
bool tx_sent[NW];       /* TxnOffsetCommit accepted: offsets pending */
byte tx_p[NW];          /* the input partition of those offsets */
byte tx_to[NW];         /* the pending offset */
byte tx_from[NW];       /* ghost: first offset of the batch */
byte tx_eff[NW];        /* ghost: IDs whose effect (output) is in it */
byte bumped;            /* bit w: the coordinator bumped w's producer epoch
                           (a timeout abort); the producer's next call gets
                           INVALID_PRODUCER_EPOCH / PRODUCER_FENCED */

/* ---- the changelog: one partition per input partition ------------------
 * An entry is one applied record: its inbox ID and its state put, written
 * by one producer in one transaction. Its status is its transaction's
 * marker as a read_committed reader sees it: OPEN (at or above the LSO),
 * COMMITTED or ABORTED. */
#define OPEN      1
#define COMMITTED 2
#define ABORTED   3
#define E_ID(e) ((e) & 3)
#define E_W(e)  (((e) >> 2) & 3)
#define E_ST(e) (((e) >> 4) & 3)
#define MKE(id, w, st) ((id) | ((w) << 2) | ((st) << 4))
byte cl[NP * MAXCL];
byte cl_len[NP];        /* the high watermark */

/* ---- ghosts: what read_committed readers of the outputs see ----------- */
byte eff[NP * NIDS];    /* committed effects per (partition, ID) */
byte disp[NP * NREC];   /* committed dispositions per input record */
byte clc[NP];           /* IDs with a committed changelog entry */

/* ---- the workers -------------------------------------------------------- */
#define WP(w, p) ((w) * NP + (p))
byte down;              /* bit w: the process is dead */
byte gone;              /* bit w: ... and its host is gone for good */
byte paused;            /* bit w: the process is stopped (GC, VM, SIGSTOP) */
byte pnone;             /* bit w: no producer; create one (init_transactions) */
byte own[NW];           /* partitions the application believes it owns */
byte need[NW];          /* partitions whose LMDB must catch up (restore) */
byte ready[NW];         /* partitions positioned at the committed offset */
byte pos[NW * NP];      /* the consumer's position */
byte rst[NW];           /* the partition being restored, NONE */
byte rpos[NW];          /* restore: the changelog position read */
byte rend[NW];          /* restore: the end to reach */
/* the in-flight batch */
mtype = { idle, applying, sending_offsets, committing, lmdb_committing, aborting, fenced };
#define B_IDLE   idle
#define B_APPLY  applying
#define B_SEND   sending_offsets
#define B_COMMIT committing
#define B_LMDB   lmdb_committing
#define B_ABORT  aborting
#define B_FENCED fenced
mtype phase[NW];
byte bp[NW];            /* its partition */
byte bfrom[NW];         /* its first offset */
byte bto[NW];           /* one past its last offset */
byte bi[NW];            /* the next record to apply */
byte tinbox[NW];        /* the open LMDB transaction's inbox adds */
byte tpos[NW];          /* the open LMDB transaction's changelog position */
/* LMDB: survives a crash, not a lost disk */
byte linbox[NW * NP];   /* inbox (and state) of the partition */
byte lpos[NW * NP];     /* recorded changelog position, NONE: none */

byte faults = FAULTS;   /* faults left */

hidden byte hp, ho, hid, hi, he, hw;   /* scratch inside one atomic step */

#define RUNS(w)   (!((down | paused) & BIT(w)))
#define IDLE(w)   (RUNS(w) && phase[w] == B_IDLE)

#if NP == 1
#define ALLDONE (committed[0] == NREC)
#else
#define ALLDONE (committed[0] == NREC && committed[1] == NREC)
#endif

/* ======================================================================= */
/* properties (checked where the state they read changes)                  */
/* ======================================================================= */

/* 1. no input ID has more than one committed effect;
 * 2. every record below the group's committed offset has exactly one
 *    committed disposition, and every ID below it has its effect. */
inline check_committed(p)
{
    hi = 0;
    do
    :: hi < NIDS -> assert(eff[p * NIDS + hi] <= 1); hi++
    :: else -> break
    od;
    hi = 0;
    do
    :: hi < NREC ->
        assert(disp[p * NREC + hi] <= 1);
        if
        :: hi < committed[p] ->
            assert(disp[p * NREC + hi] == 1);
            assert(eff[p * NIDS + INID(p, hi)] == 1)
        :: else
        fi;
        hi++
    :: else -> break
    od
}

/* 3. a worker's LMDB never serves what Kafka did not commit: every inbox
 * hit it reads has a committed changelog entry (inline in apply_record). */

/* ======================================================================= */
/* the coordinators                                                        */
/* ======================================================================= */

/* Assigns partition p to some member (any: the assignor's choice). */
inline assign(p)
{
    if
    :: member & BIT(0) -> owner[p] = 0
    :: member & BIT(1) -> owner[p] = 1
#if NW > 2
    :: member & BIT(2) -> owner[p] = 2
#endif
    :: member == 0 -> owner[p] = NONE
    fi
}

/* A new generation: every member must rejoin, every batch in flight
 * carries stale metadata. */
inline rebalance()
{
    cfresh = 0;
    afresh = 0;
    bfresh = 0;
    assign(0);
#if NP > 1
    assign(1);
#endif
}

/* The transaction coordinator ends w's transaction with marker st. */
inline txn_end(w, st)
{
    hi = 0;
    do
    :: hi < NP * MAXCL ->
        he = cl[hi];
        if
        :: he != 0 && E_W(he) == w && E_ST(he) == OPEN ->
            cl[hi] = MKE(E_ID(he), w, st);
            if
            :: st == COMMITTED -> clc[hi / MAXCL] = clc[hi / MAXCL] | BIT(E_ID(he))
            :: else
            fi
        :: else
        fi;
        hi++
    :: else -> break
    od;
    if
    :: st == COMMITTED && tx_sent[w] ->
        hp = tx_p[w];
        committed[hp] = tx_to[w];
        hi = tx_from[w];
        do
        :: hi < tx_to[w] -> disp[hp * NREC + hi]++; hi++
        :: else -> break
        od;
        if
        :: tx_eff[w] & BIT(0) -> eff[hp * NIDS + 0]++
        :: else
        fi;
        if
        :: tx_eff[w] & BIT(1) -> eff[hp * NIDS + 1]++
        :: else
        fi;
        check_committed(hp)
    :: else
    fi;
    tx_open[w] = false;
    tx_sent[w] = false;
    tx_p[w] = 0;
    tx_to[w] = 0;
    tx_from[w] = 0;
    tx_eff[w] = 0
}

/* ======================================================================= */
/* worker actions                                                          */
/* ======================================================================= */

inline batch_end(w)
{
    phase[w] = B_IDLE;
    bp[w] = NONE;
    bfrom[w] = 0;
    bto[w] = 0;
    bi[w] = 0;
    tinbox[w] = 0;
    tpos[w] = 0;
    bfresh = bfresh & ~BIT(w)
}

/* Forget everything that lives in the process (a crash, or a new one). */
inline forget(w)
{
    own[w] = 0;
    need[w] = 0;
    ready[w] = 0;
    hp = 0;
    do
    :: hp < NP -> pos[WP(w, hp)] = 0; hp++
    :: else -> break
    od;
    rst[w] = NONE;
    rpos[w] = 0;
    rend[w] = 0;
    batch_end(w)
}


/* eoc__txn_init (planned): creates the transactional producer and calls
 * rd_kafka_init_transactions. The coordinator aborts the transactional.id's
 * open transaction, if any, and gives the producer a new epoch, which
 * fences every older one. */
inline producer_init(w)
{
    printf("MODEL w%d eoc__txn_init: new producer epoch (an open transaction is aborted)\n", w);
    if
    :: tx_open[w] -> txn_end(w, ABORTED)
    :: else
    fi;
    bumped = bumped & ~BIT(w);
    pnone = pnone & ~BIT(w)
}

/* eoc_worker_new + eoc_worker_run (restart after a crash): a new process
 * creates its producer, then joins the group (a new member: a rebalance). */
inline worker_start(w)
{
    printf("MODEL w%d eoc_worker_run: process started, joins the group\n", w);
    down = down & ~BIT(w);
    producer_init(w);
    member = member | BIT(w);
    rebalance();
    cfresh = cfresh | BIT(w);
    printf("MODEL group: rebalance: owners %d %d\n", owner[0], owner[NP - 1])
}

/* librdkafka's group handling (no eoc code): a worker that is no member
 * (its session expired) joins again; a member rejoins a new generation. */
inline consumer_join(w)
{
    printf("MODEL w%d consumer: joins the group again (new generation)\n", w);
    member = member | BIT(w);
    rebalance();
    cfresh = cfresh | BIT(w);
    printf("MODEL group: rebalance: owners %d %d\n", owner[0], owner[NP - 1])
}

/* eoc__on_assign (planned; the rebalance callback, between batches: it
 * waits for the batch in flight): takes the assignment and marks every
 * assigned partition for restore (a current store restores nothing). */
inline on_assign(w)
{
    he = own[w];                                /* the previous assignment */
    own[w] = 0;
    hp = 0;
    do
    :: hp < NP ->
        if
        :: owner[hp] == w -> own[w] = own[w] | BIT(hp)
        :: else
        fi;
#ifdef BROKEN_RESTORE_ONLY_NEW
        if
        :: owner[hp] == w && (he & BIT(hp))     /* kept: left as it was */
        :: else -> pos[WP(w, hp)] = 0
        fi;
#else
        pos[WP(w, hp)] = 0;
#endif
        hp++
    :: else -> break
    od;
#ifdef BROKEN_RESTORE_ONLY_NEW
    need[w] = (own[w] & ~he) | (need[w] & own[w]);
    ready[w] = ready[w] & own[w] & he;
#else
    need[w] = own[w];
    ready[w] = 0;
#endif
    rst[w] = NONE;
    rpos[w] = 0;
    rend[w] = 0;
    afresh = afresh | BIT(w);
    printf("MODEL w%d eoc__on_assign: owns partitions mask %d\n", w, own[w])
}

/* eoc__changelog_restore (planned), start: from the recorded changelog
 * position (0 when the store has none: a new or lost disk) to the end,
 * which is the high watermark (read_uncommitted) taken now. */
inline restore_begin(w, p)
{
    rst[w] = p;
    if
    :: lpos[WP(w, p)] == NONE -> rpos[w] = 0
    :: else -> rpos[w] = lpos[WP(w, p)]
    fi;
#ifdef BROKEN_RESTORE_TO_LSO
    /* the read_committed end: the first open entry */
    hi = rpos[w];
    do
    :: hi < cl_len[p] && E_ST(cl[p * MAXCL + hi]) != OPEN -> hi++
    :: else -> break
    od;
    rend[w] = hi
#else
    rend[w] = cl_len[p]
#endif
    ;
    printf("MODEL w%d eoc__changelog_restore p%d: from %d to %d\n", w, p, rpos[w], rend[w])
}

/* eoc__changelog_restore (planned), one record read with read_committed
 * (enabled only below the LSO) and written to LMDB with the position after
 * it, in one LMDB commit. */
inline restore_step(w)
{
    hp = rst[w];
    he = cl[hp * MAXCL + rpos[w]];
    if
    :: E_ST(he) == COMMITTED ->
        linbox[WP(w, hp)] = linbox[WP(w, hp)] | BIT(E_ID(he))
    :: else
    fi;
    if
    :: E_ST(he) == COMMITTED ->
        printf("MODEL w%d eoc__changelog_restore p%d: entry %d id%d committed: into LMDB\n", w, hp, rpos[w], E_ID(he))
    :: else ->
        printf("MODEL w%d eoc__changelog_restore p%d: entry %d id%d aborted: skipped\n", w, hp, rpos[w], E_ID(he))
    fi;
    rpos[w]++;
    lpos[WP(w, hp)] = rpos[w]
}

inline restore_end(w)
{
    hp = rst[w];
    if
    :: lpos[WP(w, hp)] == NONE -> lpos[WP(w, hp)] = 0   /* an empty changelog */
    :: else
    fi;
    need[w] = need[w] & ~BIT(hp);
    rst[w] = NONE;
    rpos[w] = 0;
    rend[w] = 0
}

/* eoc__offsets_fetch (planned): rd_kafka_committed with require_stable:
 * the group coordinator answers only when no open transaction has offsets
 * pending for the partition; then seek there. */
#ifdef BROKEN_UNSTABLE_FETCH
#define STABLE(p) true
#else
#define STABLE(p) (!(tx_sent[0] && tx_p[0] == (p)) && !(tx_sent[1] && tx_p[1] == (p)) && \
                   (NW < 3 || !(tx_sent[NW - 1] && tx_p[NW - 1] == (p))))
#endif

inline offsets_fetch(w, p)
{
    pos[WP(w, p)] = committed[p];
    ready[w] = ready[w] | BIT(p);
    printf("MODEL w%d eoc__offsets_fetch p%d: committed offset %d\n", w, p, committed[p])
}

/* The order of a batch's steps: apply (and produce) every record, send
 * the offsets, commit Kafka, commit LMDB. */
#if defined(BROKEN_LMDB_FIRST)
#define AFTER_POLL  B_APPLY
#define AFTER_APPLY B_LMDB
#define AFTER_SEND  B_COMMIT
#elif defined(BROKEN_OFFSETS_FIRST)
#define AFTER_POLL  B_SEND
#define AFTER_APPLY B_COMMIT
#define AFTER_SEND  B_APPLY
#else
#define AFTER_POLL  B_APPLY
#define AFTER_APPLY B_SEND
#define AFTER_SEND  B_COMMIT
#endif

/* eoc__poll_batch + eoc__txn_begin (planned): 1 or 2 records of one
 * partition; the batch keeps the group metadata of this moment
 * (rd_kafka_consumer_group_metadata), begins the Kafka transaction
 * (local) and the LMDB write transaction. */
inline poll_batch(w, p, k)
{
    bp[w] = p;
    bfrom[w] = pos[WP(w, p)];
    bto[w] = pos[WP(w, p)] + k;
    bi[w] = bfrom[w];
    pos[WP(w, p)] = bto[w];
    tinbox[w] = 0;
    tpos[w] = lpos[WP(w, p)];
    if
    :: cfresh & BIT(w) -> bfresh = bfresh | BIT(w)
    :: else -> bfresh = bfresh & ~BIT(w)
    fi;
    phase[w] = AFTER_POLL;
    printf("MODEL w%d eoc__poll_batch p%d: offsets %d..%d, group metadata current=%d\n", w, p,
           bfrom[w], bto[w] - 1, (bfresh >> w) & 1)
}


/* eoc__apply_record (planned): the inbox lookup (the open LMDB
 * transaction first, then the committed store), the handler, its LMDB
 * writes, and rd_kafka_produce of its output and its changelog entry
 * (AddPartitionsToTxn: a stale epoch is fenced here). */
inline apply_record(w)
{
    hp = bp[w];
    hid = INID(hp, bi[w]);
    if
    :: linbox[WP(w, hp)] & BIT(hid) ->
        /* property 3: the inbox hit is backed by a committed entry */
        printf("MODEL w%d eoc__apply_record p%d o%d id%d: in the LMDB inbox: duplicate\n", w, hp, bi[w], hid);
        assert(clc[hp] & BIT(hid));
        bi[w]++                                 /* duplicate: skipped */
    :: !(linbox[WP(w, hp)] & BIT(hid)) && (tinbox[w] & BIT(hid)) ->
        printf("MODEL w%d eoc__apply_record p%d o%d id%d: duplicate in the batch\n", w, hp, bi[w], hid);
        bi[w]++                                 /* duplicate in the batch */
    :: !(linbox[WP(w, hp)] & BIT(hid)) && !(tinbox[w] & BIT(hid)) && (bumped & BIT(w)) ->
        printf("MODEL w%d eoc__apply_record p%d o%d id%d: produce fenced (epoch bumped)\n", w, hp, bi[w], hid);
        phase[w] = B_FENCED
    :: !(linbox[WP(w, hp)] & BIT(hid)) && !(tinbox[w] & BIT(hid)) && !(bumped & BIT(w)) ->
        tinbox[w] = tinbox[w] | BIT(hid);
        assert(cl_len[hp] < MAXCL);             /* else raise MAXCL */
        cl[hp * MAXCL + cl_len[hp]] = MKE(hid, w, OPEN);
        cl_len[hp]++;
        tpos[w] = cl_len[hp];
        tx_open[w] = true;
        tx_eff[w] = tx_eff[w] | BIT(hid);
        printf("MODEL w%d eoc__apply_record p%d o%d id%d: applied; output and changelog entry %d produced\n",
               w, hp, bi[w], hid, cl_len[hp] - 1);
        bi[w]++
    fi;
    if
    :: phase[w] == B_APPLY && bi[w] == bto[w] -> phase[w] = AFTER_APPLY
    :: else
    fi
}

/* eoc__txn_send_offsets (planned): rd_kafka_send_offsets_to_transaction
 * with the batch's group metadata. AddOffsetsToTxn checks the epoch
 * (fatal); TxnOffsetCommit checks member and generation (abortable:
 * UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION; the worker must rejoin). */
#if defined(BROKEN_NO_GROUP_METADATA)
#define META_OK(w) true
#elif defined(BROKEN_LATE_METADATA)
#define META_OK(w) ((member & BIT(w)) && (cfresh & BIT(w)))
#else
#define META_OK(w) ((member & BIT(w)) && (bfresh & BIT(w)))
#endif

inline send_offsets(w)
{
    if
    :: bumped & BIT(w) ->
        printf("MODEL w%d eoc__txn_send_offsets: fenced (epoch bumped)\n", w);
        phase[w] = B_FENCED
    :: !(bumped & BIT(w)) && !META_OK(w) ->
        printf("MODEL w%d eoc__txn_send_offsets: ILLEGAL_GENERATION / UNKNOWN_MEMBER_ID\n", w);
        afresh = afresh & ~BIT(w);              /* rejoin before the next batch */
        phase[w] = B_ABORT
    :: !(bumped & BIT(w)) && META_OK(w) ->
        printf("MODEL w%d eoc__txn_send_offsets p%d: offset %d pending\n", w, bp[w], bto[w]);
        tx_open[w] = true;
        tx_sent[w] = true;
        tx_p[w] = bp[w];
        tx_from[w] = bfrom[w];
        tx_to[w] = bto[w];
        phase[w] = AFTER_SEND
    fi
}

/* eoc__txn_commit (planned): rd_kafka_commit_transaction (EndTxn: a
 * bumped epoch is fenced). The commit point. */
inline txn_commit(w)
{
    if
    :: bumped & BIT(w) ->
        printf("MODEL w%d eoc__txn_commit: fenced (epoch bumped)\n", w);
        phase[w] = B_FENCED
    :: else ->
        printf("MODEL w%d eoc__txn_commit p%d: COMMITTED, offset %d\n", w, tx_p[w], tx_to[w]);
        txn_end(w, COMMITTED);
#ifdef BROKEN_LMDB_FIRST
        batch_end(w)
#else
        phase[w] = B_LMDB
#endif
    fi
}

/* eoc__store_commit (planned here; exists): the LMDB transaction kept open
 * since the poll commits the inbox, the state and the changelog position
 * after the batch's last changelog entry. */
inline lmdb_commit(w)
{
    hp = bp[w];
    linbox[WP(w, hp)] = linbox[WP(w, hp)] | tinbox[w];
    lpos[WP(w, hp)] = tpos[w];
    printf("MODEL w%d eoc__store_commit p%d: inbox mask %d, changelog position %d\n", w, hp,
           linbox[WP(w, hp)], lpos[WP(w, hp)]);
#ifdef BROKEN_LMDB_FIRST
    tinbox[w] = 0;
    phase[w] = B_SEND
#else
    batch_end(w)
#endif
}

/* eoc__store_commit failing after the Kafka commit (map full, I/O): LMDB
 * is behind Kafka; the partition restores before its next batch. */
inline lmdb_fail(w)
{
    hp = bp[w];
    printf("MODEL w%d eoc__store_commit p%d: FAILS (fault)\n", w, hp);
#if defined(BROKEN_LMDB_FIRST)
    phase[w] = B_ABORT                          /* nothing sent yet: abort */
#elif defined(BROKEN_IGNORE_LMDB_FAIL)
    batch_end(w)                                /* carry on as if committed */
#else
    need[w] = need[w] | BIT(hp);
    ready[w] = ready[w] & ~BIT(hp);
    pos[WP(w, hp)] = 0;
    batch_end(w)
#endif
}

/* eoc__txn_abort (planned): rd_kafka_abort_transaction, LMDB abort, and a
 * seek back to the batch's first offset (the committed one). */
inline txn_abort(w)
{
    if
    :: bumped & BIT(w) ->
        printf("MODEL w%d eoc__txn_abort: fenced (epoch bumped)\n", w);
        phase[w] = B_FENCED
    :: else ->
        printf("MODEL w%d eoc__txn_abort: aborted, seek back to %d\n", w, bfrom[w]);
        if
        :: tx_open[w] -> txn_end(w, ABORTED)
        :: else
        fi;
        hp = bp[w];
        pos[WP(w, hp)] = bfrom[w];
        batch_end(w)
    fi
}

/* eoc__txn_fenced (planned): INVALID_PRODUCER_EPOCH / PRODUCER_FENCED are
 * fatal for the producer: drop the batch (LMDB abort), re-create the
 * producer, and restore every owned partition before its next batch. */
inline txn_fenced(w)
{
    printf("MODEL w%d eoc__txn_fenced: batch dropped, producer to re-create, partitions to restore\n", w);
    pnone = pnone | BIT(w);
#ifndef BROKEN_FENCED_NO_RESTORE
    need[w] = own[w];
    ready[w] = 0;
    hp = 0;
    do
    :: hp < NP -> pos[WP(w, hp)] = 0; hp++
    :: else -> break
    od;
#endif
    batch_end(w)
}

/* ======================================================================= */
/* processes                                                               */
/* ======================================================================= */

#define POLL(w, p, k) \
    :: atomic { IDLE(w) && !(pnone & BIT(w)) && rst[w] != (p) && (afresh & BIT(w)) && \
                (own[w] & ready[w] & ~need[w] & BIT(p)) && pos[WP(w, p)] + (k) <= NREC -> \
                poll_batch(w, p, k) }

#define RESTORE(w, p) \
    :: atomic { IDLE(w) && rst[w] == NONE && (afresh & BIT(w)) && (own[w] & need[w] & BIT(p)) -> \
                restore_begin(w, p) }

#define FETCH(w, p) \
    :: atomic { IDLE(w) && rst[w] == NONE && (afresh & BIT(w)) && \
                (own[w] & ~need[w] & ~ready[w] & BIT(p)) && STABLE(p) -> offsets_fetch(w, p) }

#ifndef NO_ABORTABLE
#define ABORTABLE(w, ph) \
    :: atomic { RUNS(w) && phase[w] == (ph) && faults > 0 -> faults--; phase[w] = B_ABORT; \
                printf("MODEL w%d FAULT: abortable error while %e\n", w, ph) }
#else
#define ABORTABLE(w, ph)
#endif

proctype worker(byte w)
{
end:
    do
    /* a dead process is started again (not a fault: always possible) */
    :: atomic { (down & ~gone & BIT(w)) -> worker_start(w) }
    /* the consumer's group membership (librdkafka) */
    :: atomic { RUNS(w) && !(member & BIT(w)) -> consumer_join(w) }
    :: atomic { RUNS(w) && (member & BIT(w)) && !(cfresh & BIT(w)) -> cfresh = cfresh | BIT(w);
                printf("MODEL w%d consumer: rejoins the new generation\n", w) }
    /* the rebalance callback, between batches */
    :: atomic { IDLE(w) && (cfresh & BIT(w)) && !(afresh & BIT(w)) -> on_assign(w) }
    :: atomic { IDLE(w) && (pnone & BIT(w)) -> producer_init(w) }
    /* restore, then fetch the committed offset */
    RESTORE(w, 0)
#if NP > 1
    RESTORE(w, 1)
#endif
    /* a restore's steps run between batches (eoc__km_restore_run): the
     * other partitions' batches interleave with them */
    :: atomic { IDLE(w) && rst[w] != NONE && rpos[w] < rend[w] &&
                E_ST(cl[rst[w] * MAXCL + rpos[w]]) != OPEN -> restore_step(w) }
    :: atomic { IDLE(w) && rst[w] != NONE && rpos[w] >= rend[w] -> restore_end(w) }
    FETCH(w, 0)
#if NP > 1
    FETCH(w, 1)
#endif
    /* one batch */
    POLL(w, 0, 1)
    POLL(w, 0, 2)
#if NP > 1
    POLL(w, 1, 1)
    POLL(w, 1, 2)
#endif
    :: atomic { RUNS(w) && phase[w] == B_APPLY -> apply_record(w) }
    ABORTABLE(w, B_APPLY)
    :: atomic { RUNS(w) && phase[w] == B_SEND -> send_offsets(w) }
    ABORTABLE(w, B_SEND)
    :: atomic { RUNS(w) && phase[w] == B_COMMIT -> txn_commit(w) }
    ABORTABLE(w, B_COMMIT)
    :: atomic { RUNS(w) && phase[w] == B_LMDB -> lmdb_commit(w) }
#ifndef NO_LMDB_FAIL
    :: atomic { RUNS(w) && phase[w] == B_LMDB && faults > 0 -> faults--; lmdb_fail(w) }
#endif
    :: atomic { RUNS(w) && phase[w] == B_ABORT -> txn_abort(w) }
    :: atomic { RUNS(w) && phase[w] == B_FENCED -> txn_fenced(w) }
    od
}

/* The environment: faults, and what time does to processes that stopped. */
#ifndef NO_CRASH
#define CRASH(w) \
    :: atomic { faults > 0 && !(down & BIT(w)) -> faults--; \
                printf("MODEL w%d FAULT: crash while %e\n", w, phase[w]); \
                down = down | BIT(w); paused = paused & ~BIT(w); forget(w) }
#else
#define CRASH(w)
#endif
#ifndef NO_LOST_DISK
#define LOST_DISK(w) \
    :: atomic { faults > 0 && !(down & BIT(w)) -> faults--; \
                printf("MODEL w%d FAULT: crash and lost disk while %e\n", w, phase[w]); \
                down = down | BIT(w); paused = paused & ~BIT(w); forget(w); \
                hp = 0; \
                do \
                :: hp < NP -> linbox[WP(w, hp)] = 0; lpos[WP(w, hp)] = NONE; hp++ \
                :: else -> break \
                od }
#else
#define LOST_DISK(w)
#endif
/* At most one host is lost for good: its process never comes back. */
#ifndef NO_HOST_LOSS
#define HOST_LOSS(w) \
    :: atomic { faults > 0 && gone == 0 && !(down & BIT(w)) -> faults--; \
                printf("MODEL w%d FAULT: host lost for good while %e\n", w, phase[w]); \
                down = down | BIT(w); gone = gone | BIT(w); paused = paused & ~BIT(w); forget(w) }
#else
#define HOST_LOSS(w)
#endif
#ifndef NO_PAUSE
#define PAUSE(w) \
    :: atomic { faults > 0 && RUNS(w) -> faults--; paused = paused | BIT(w); \
                printf("MODEL w%d FAULT: paused while %e\n", w, phase[w]) }
#else
#define PAUSE(w)
#endif
/* The transaction timeout aborts an open transaction and bumps the epoch;
 * free for a producer that stopped, a fault for one that runs. */
#ifdef BROKEN_NO_TXN_TIMEOUT
#define TXN_TIMEOUT_LIVE(w)
#define TXN_TIMEOUT_STOPPED(w)
#else
#define TXN_TIMEOUT_STOPPED(w) \
    :: atomic { tx_open[w] && ((down | paused) & BIT(w)) -> \
                printf("MODEL txn coordinator: w%d transaction timed out: aborted, epoch bumped\n", w); \
                txn_end(w, ABORTED); bumped = bumped | BIT(w) }
#ifndef NO_TXN_TIMEOUT
#define TXN_TIMEOUT_LIVE(w) \
    :: atomic { tx_open[w] && RUNS(w) && faults > 0 -> faults--; \
                printf("MODEL w%d FAULT: transaction timeout: aborted, epoch bumped\n", w); \
                txn_end(w, ABORTED); bumped = bumped | BIT(w) }
#else
#define TXN_TIMEOUT_LIVE(w)
#endif
#endif

#define ENV(w) \
    CRASH(w) \
    LOST_DISK(w) \
    HOST_LOSS(w) \
    PAUSE(w) \
    :: atomic { (paused & BIT(w)) -> paused = paused & ~BIT(w); \
                printf("MODEL w%d resumes\n", w) } \
    :: atomic { (member & BIT(w)) && ((down | paused) & BIT(w)) -> \
                member = member & ~BIT(w); rebalance(); \
                printf("MODEL group: w%d session expired; rebalance: owners %d %d\n", w, owner[0], owner[NP - 1]) } \
    TXN_TIMEOUT_STOPPED(w) \
    TXN_TIMEOUT_LIVE(w)

proctype env()
{
end:
    do
    ENV(0)
    ENV(1)
#if NW > 2
    ENV(2)
#endif
    od
}

/* Every run that stops, stops with every input processed. */
proctype watchdog()
{
    timeout -> assert(ALLDONE)
}

/* Liveness: with finitely many faults (the budget) and weak fairness of
 * every process (pan -f), every run processes every input and stays so. */
ltl done { <> [] ALLDONE }

init
{
    atomic {
        hi = 0;
        do
        :: hi < NW ->
            rst[hi] = NONE;
            bp[hi] = NONE;
            phase[hi] = B_IDLE;
            hp = 0;
            do
            :: hp < NP -> lpos[WP(hi, hp)] = NONE; hp++
            :: else -> break
            od;
            hi++
        :: else -> break
        od;
        /* every worker starts: a group of NW members, generation 1 */
        member = BIT(NW) - 1;
        rebalance();
        printf("MODEL group: generation 1: owners %d %d\n", owner[0], owner[NP - 1]);
        cfresh = member;
        hw = 0;
        do
        :: hw < NW -> run worker(hw); hw++
        :: else -> break
        od;
        run env();
#ifndef NO_WATCHDOG
        run watchdog()
#endif
    }
}
