/*
 * state_snapshot.c: copy-on-write asynchronous snapshots of the heap
 * keyed state backend: begin (task thread), the walk by key group (any
 * thread), release (any thread) and the reclamation of what released
 * snapshots kept alive (task thread, cf_kstate_backend_maintain).
 *
 * Begin copies, per state, the page directory of its table (one pointer
 * per 1024 slots) and stamps the snapshot with the backend's version;
 * the version then moves on, so every page and entry the snapshot sees
 * has ver <= the snapshot's version, and the task copies such a page or
 * entry before it writes it (state_table.c, state_value.c,
 * state_map.c). The walker therefore reads memory that nobody writes:
 * the pages and entries were written before begin (the hand-over of the
 * snapshot to the writer thread orders them), and the task frees them
 * only after the release, which it learns under b->mu.
 *
 * Memory replaced while snapshots were alive sits on the backend's
 * retire list with the version of its retirement R; it is freed once
 * every live snapshot is at least R (none needs it).
 *
 * Thread: see each function.
 */
#include "state_int.h"

#include <stdlib.h>
#include <string.h>

void
cf_kstate_snapshot_free_record(cf_kstate_snapshot_t *s)
{
    for (size_t i = 0; i < s->nstates; i++)
        cf_free(s->states[i].dir);
    cf_free(s->states);
    cf_free(s);
}

/* Whether retired memory that no live snapshot needs is queued. */
static inline int
cf_kstate_ret_freeable(const cf_kstate_backend_t *b)
{
    const cf_kstate_ret_block_t *blk = b->ret_first;

    return blk != NULL && blk->head < blk->n &&
           blk->it[blk->head].tag <= b->ret_free_ver;
}

/* Free at most budget items of the retired memory that no live snapshot
 * needs: tags <= b->ret_free_ver. Returns whether such memory is left. */
static int
cf_kstate_free_retired(cf_kstate_backend_t *b, size_t budget)
{
    cf_kstate_ret_block_t *blk;
    size_t freed = budget;

    while ((blk = b->ret_first) != NULL && budget > 0) {
        while (blk->head < blk->n && budget > 0 &&
               blk->it[blk->head].tag <= b->ret_free_ver) {
            cf_kstate_retired_t *r = &blk->it[blk->head++];
            budget--;
            if (r->what == CF_KSTATE_RET_ENTRY) {
                cf_kstate_entry_destroy(r->st, r->p);
            } else {
                cf_kstate_page_t *pg = r->p;
                r->st->bytes -= sizeof *pg + (uint64_t)pg->nslots *
                                                 sizeof(cf_kstate_slot_t);
                cf_free(pg);
            }
        }
        if (blk->head < blk->n)
            break; /* still needed, or out of budget */
        /* A drained block: keep one for reuse while more are queued. */
        b->ret_first = blk->next;
        if (b->ret_first == NULL)
            b->ret_last = NULL;
        if (b->ret_spare == NULL && b->ret_first != NULL) {
            b->ret_spare = blk;
        } else {
            cf_free(blk);
            b->ret_blocks--;
        }
    }
    freed -= budget;
    if (freed > 0) {
        /* glibc puts freed chunks on an unsorted list that the next
         * malloc not served by a per-size cache sorts, all of it at
         * once: after a snapshot's memory went, that was the next
         * snapshot begin (milliseconds of pause). A large request here
         * sorts what this call freed, so the cost stays bounded too. */
        void *volatile p = malloc(64 * 1024); /* volatile: not elided */
        free(p);
    }
    if (b->ret_first == NULL && b->ret_spare != NULL) {
        /* Nothing retired: no memory kept for it either. */
        cf_free(b->ret_spare);
        b->ret_spare = NULL;
        b->ret_blocks--;
    }
    return cf_kstate_ret_freeable(b);
}

int
cf_kstate_reclaim(cf_kstate_backend_t *b, size_t budget)
{
    uint32_t min_ver = UINT32_MAX, max_ver = 0;
    size_t n = 0;

    pthread_mutex_lock(&b->mu);
    for (size_t i = 0; i < b->nsnaps; i++) {
        cf_kstate_snapshot_t *s = b->snaps[i];
        if (s->released) {
            b->snap_bytes -= s->bytes;
            cf_kstate_snapshot_free_record(s);
            continue;
        }
        if (s->ver < min_ver)
            min_ver = s->ver;
        if (s->ver > max_ver)
            max_ver = s->ver;
        b->snaps[n++] = s;
    }
    b->nsnaps = n;
    atomic_store_explicit(&b->nreleased, 0, memory_order_relaxed);
    pthread_mutex_unlock(&b->mu);
    b->cow_ver = max_ver;
    cf_kstate_update_wlimits(b);
    /* Something retired at R is needed by snapshots older than R only.
     * With no live snapshot, everything retired so far is free (a later
     * snapshot is newer than every tag). */
    b->ret_free_ver = n == 0 ? b->cur_ver : min_ver;
    return cf_kstate_free_retired(b, budget);
}

int
cf_kstate_backend_maintain(cf_kstate_backend_t *b)
{
    if (atomic_load_explicit(&b->nreleased, memory_order_relaxed) != 0)
        return cf_kstate_reclaim(b, CF_KSTATE_RECLAIM_BUDGET);
    if (cf_kstate_ret_freeable(b))
        return cf_kstate_free_retired(b, CF_KSTATE_RECLAIM_BUDGET);
    return 0;
}

cf_kstate_snapshot_t *
cf_kstate_snapshot_begin(cf_kstate_backend_t *b)
{
    cf_kstate_snapshot_t *s = CF_NEW(cf_kstate_snapshot_t);
    int any_ttl = 0;

    /* Forget released snapshots (their versions bound cow_ver) but free
     * nothing here: this is the synchronous pause; later maintains free
     * what they kept alive, a bounded amount at a time. */
    if (atomic_load_explicit(&b->nreleased, memory_order_relaxed) != 0)
        (void)cf_kstate_reclaim(b, 0);
    s->b = b;
    s->kg_start = b->kg_start;
    s->kg_end = b->kg_end;
    s->max_parallelism = b->max_parallelism;
    s->nstates = b->nstates;
    s->states = cf_calloc(b->nstates ? b->nstates : 1, sizeof *s->states);
    s->bytes = sizeof *s + b->nstates * sizeof *s->states;
    for (size_t i = 0; i < b->nstates; i++) {
        cf_state_t *st = b->states[i];
        cf_kstate_snap_state_t *ss = &s->states[i];
        size_t n = (size_t)st->t.npages * sizeof *ss->dir;
        ss->name = st->name;
        ss->kind = st->kind;
        ss->ttl_ms = st->ttl_ms;
        ss->npages = st->t.npages;
        ss->count = st->t.count;
        ss->dir = cf_malloc(n);
        memcpy(ss->dir, st->t.dir, n);
        s->bytes += n;
        any_ttl |= st->ttl_ms > 0;
    }
    s->now_ms = any_ttl ? b->now_ms() : 0;
    /* Everything made so far has ver <= s->ver and is now shared. */
    s->ver = b->cur_ver;
    b->cow_ver = s->ver;
    b->cur_ver++;
    cf_kstate_update_wlimits(b);
    CF_ASSERT(b->cur_ver != 0);
    b->snap_bytes += s->bytes;
    pthread_mutex_lock(&b->mu);
    CF_GROW(&b->snaps, &b->snaps_cap, b->nsnaps + 1);
    b->snaps[b->nsnaps++] = s;
    pthread_mutex_unlock(&b->mu);
    return s;
}

void
cf_kstate_snapshot_release(cf_kstate_snapshot_t *s)
{
    cf_kstate_backend_t *b;
    int last = 0;

    if (s == NULL)
        return;
    b = s->b;
    pthread_mutex_lock(&b->mu);
    CF_ASSERT(!s->released);
    s->released = 1;
    atomic_fetch_add_explicit(&b->nreleased, 1, memory_order_relaxed);
    if (b->dead) {
        last = 1;
        for (size_t i = 0; i < b->nsnaps; i++)
            last &= b->snaps[i]->released;
    }
    pthread_mutex_unlock(&b->mu);
    /* Neither s nor (unless last) b may be touched from here on: the task
     * may reclaim them. The task destroyed the backend while we were
     * writing: the last snapshot frees it. */
    if (last)
        cf_kstate_backend_free_all(b);
}

int
cf_kstate_snapshot_kg_start(const cf_kstate_snapshot_t *s)
{
    return s->kg_start;
}

int
cf_kstate_snapshot_kg_end(const cf_kstate_snapshot_t *s)
{
    return s->kg_end;
}

int
cf_kstate_snapshot_max_parallelism(const cf_kstate_snapshot_t *s)
{
    return s->max_parallelism;
}

static inline const cf_kstate_slot_t *
cf_kstate_snap_slot(const cf_kstate_snap_state_t *ss, uint32_t i)
{
    return &ss->dir[i >> CF_KSTATE_PAGE_SHIFT]
                ->slots[i & CF_KSTATE_PAGE_MASK];
}

/* Whether entry e is in the snapshot (TTL: not expired at begin). */
static inline int
cf_kstate_snap_live(const cf_kstate_snapshot_t *s,
                    const cf_kstate_snap_state_t *ss,
                    const cf_kstate_entry_t *e)
{
    return ss->ttl_ms <= 0 || !(e->flags & CF_KSTATE_F_TTL) ||
           cf_kstate_entry_deadline(e) > s->now_ms;
}

/* The key group of slot sl, from its hash alone when liveness needs no
 * look at the entry (no TTL): the counting passes then read the slot
 * array sequentially and touch no entry. -1: not in the snapshot. */
static inline int
cf_kstate_snap_kg(const cf_kstate_snapshot_t *s,
                  const cf_kstate_snap_state_t *ss, const cf_kstate_slot_t *sl)
{
    const cf_kstate_entry_t *e = sl->e;
    int kg;

    if (e == NULL)
        return -1;
    if (ss->ttl_ms > 0) {
        if (!cf_kstate_snap_live(s, ss, e))
            return -1;
        kg = e->kg;
    } else {
        uint32_t mp = (uint32_t)s->max_parallelism;
        kg = (mp & (mp - 1)) == 0 ? (int)(sl->hash & (mp - 1))
                                  : cf_keygroup_of_hash(sl->hash, (int)mp);
#ifndef NDEBUG
        CF_ASSERT(kg == e->kg); /* reads the entry: debug builds only */
#endif
    }
    CF_ASSERT(kg >= s->kg_start && kg <= s->kg_end);
    return kg - s->kg_start;
}

/* One state's entries by ascending key group: a counting sort over the
 * snapshot's slots (4 bytes of temporary memory per entry). The last
 * pass visits entries in key-group order, which is random in memory: the
 * slot 64 ahead and the first two cache lines of the entry 32 ahead
 * are prefetched (a miss costs hundreds of ns under virtualisation). */
static int
cf_kstate_snap_walk_state(const cf_kstate_snapshot_t *s,
                          const cf_kstate_snap_state_t *ss,
                          cf_kstate_entry_cb cb, void *ud)
{
    size_t nkg = (size_t)(s->kg_end - s->kg_start + 1);
    uint32_t nslots, n = 0, *start, *order;
    cf_kstate_entry_view_t ev;
    int rc = CF_OK, kg;

    if (ss->count == 0)
        return CF_OK;
    nslots = ss->npages * ss->dir[0]->nslots;
    start = cf_calloc(nkg + 1, sizeof *start);
    for (uint32_t i = 0; i < nslots; i++) {
        if ((kg = cf_kstate_snap_kg(s, ss, cf_kstate_snap_slot(ss, i))) >= 0) {
            start[kg + 1]++;
            n++;
        }
    }
    for (size_t g = 0; g < nkg; g++)
        start[g + 1] += start[g];
    order = cf_malloc((size_t)(n ? n : 1) * sizeof *order);
    for (uint32_t i = 0; i < nslots; i++) {
        if ((kg = cf_kstate_snap_kg(s, ss, cf_kstate_snap_slot(ss, i))) >= 0)
            order[start[kg]++] = i;
    }
    for (uint32_t k = 0; k < n; k++) {
        const cf_kstate_slot_t *sl = cf_kstate_snap_slot(ss, order[k]);
        if (k + 64 < n)
            __builtin_prefetch(cf_kstate_snap_slot(ss, order[k + 64]));
        if (k + 32 < n) {
            const char *e = (const char *)cf_kstate_snap_slot(ss, order[k + 32])->e;
            __builtin_prefetch(e);
            __builtin_prefetch(e + 64);
        }
        cf_kstate_view_of(ss->kind, sl->hash, sl->e, &ev);
        rc = cb(ud, &ev);
        if (rc < 0)
            break;
    }
    cf_free(order);
    cf_free(start);
    return rc < 0 ? rc : CF_OK;
}

int
cf_kstate_snapshot_walk(cf_kstate_snapshot_t *s,
                        cf_kstate_snap_state_cb st_cb, cf_kstate_entry_cb cb,
                        void *ud)
{
    for (size_t i = 0; i < s->nstates; i++) {
        const cf_kstate_snap_state_t *ss = &s->states[i];
        int rc;
        if (st_cb != NULL &&
            (rc = st_cb(ud, ss->name, ss->kind, ss->ttl_ms)) < 0)
            return rc;
        if (cb != NULL && (rc = cf_kstate_snap_walk_state(s, ss, cb, ud)) < 0)
            return rc;
    }
    return CF_OK;
}
