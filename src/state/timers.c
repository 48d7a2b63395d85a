/*
 * timers.c: the timer service of a keyed operator instance (timers.h),
 * Flink's InternalTimerService over a heap priority queue, for the event
 * and the processing time domain.
 *
 * Design. The truth is the keyed state: per domain a MapState of the
 * backend whose user key is the timer's timestamp (8 bytes big-endian,
 * sign bit flipped, so that byte order is time order) followed by the
 * namespace, with an empty value. Snapshots, restore and rescaling of
 * timers are therefore those of keyed state. Beside it, per domain, a
 * binary min-heap of (timestamp, sequence number, entry) orders the
 * timers for firing; an entry is one block holding the key's bytes, its
 * hash and the map's user key (timestamp + namespace), so that checking
 * or removing the timer needs no encoding. Entries are recycled through
 * size-class free lists, so steady registration and firing do not call
 * malloc.
 *
 * Registration looks the user key up in the map first and pushes a heap
 * entry only when the timer is new. Deletion removes the map entry only:
 * the heap entry stays and is recognised as stale when it reaches the
 * top (its map entry is gone), then dropped. A timer deleted and
 * registered again before its old heap entry left has two heap entries
 * for one map entry; whichever comes first fires and removes the map
 * entry, so the other is then stale: a timer fires at most once per
 * registration that found it absent. The number of stale entries is
 * exactly "heap entries - live timers" (every live timer has at least one
 * heap entry), so when there is none (the usual case) the top is live
 * without a lookup. When stale entries outnumber live ones (a process
 * function that moves a far timeout on every record), the heap is
 * compacted: stale and duplicate entries are dropped and the heap rebuilt
 * in O(n), which keeps memory within twice the live timers and costs
 * amortised O(1) per delete.
 *
 * Checking an entry sets the backend's current key to the entry's key;
 * cf_timers_next and a cf_timers_pop that finds nothing put the caller's
 * key back. A pop leaves the timer's key current, copied into a buffer of
 * the service (the backend borrows the key bytes).
 *
 * Thread: task (the backend's).
 */
#include "timers.h"

#include <stdlib.h>
#include <string.h>

#include "state_int.h"

#define CF_TIMERS_TSLEN 8 /* the encoded timestamp in front of a user key */

/* Entry size classes: CF_TIMERS_CLASS_MIN << c bytes, c < CF_TIMERS_NCLASS;
 * bigger entries are allocated exactly and freed at once. */
#define CF_TIMERS_CLASS_MIN 64u
#define CF_TIMERS_NCLASS 7
#define CF_TIMERS_EXACT 0xffu
/* Bytes of free entries kept for reuse: enough for bursts of firing and
 * registration without malloc, small next to what was live before. */
#define CF_TIMERS_POOL_MAX (256u * 1024u)
/* Compact a heap when its stale entries are more than its live timers
 * and at least this many (below it a compaction is not worth its walk). */
#define CF_TIMERS_COMPACT_MIN 1024u

/* One heap entry: [header][key][timestamp (8)][namespace]. */
typedef struct cf_timer_ent_s {
    struct cf_timer_ent_s *next; /* free list */
    uint32_t khash;
    uint32_t klen;
    uint32_t nslen;
    uint32_t cls; /* size class, or CF_TIMERS_EXACT */
    uint8_t data[];
} cf_timer_ent_t;

/* The heap orders (ts, seq) slots; ts and seq are inline so that sifting
 * does not touch the entries. */
typedef struct cf_timer_slot_s {
    int64_t ts;
    uint64_t seq;
    cf_timer_ent_t *e;
} cf_timer_slot_t;

typedef struct cf_timers_dom_s {
    cf_state_t *st;
    const char *name;
    cf_timer_slot_t *heap;
    size_t n, cap;
    uint64_t live; /* map entries: timers registered and not fired */
} cf_timers_dom_t;

struct cf_timers_s {
    cf_kstate_backend_t *b;
    cf_timers_dom_t dom[2];
    uint64_t seq;
    cf_timer_ent_t *free[CF_TIMERS_NCLASS];
    size_t pool_bytes;
    /* The user key being registered, deleted or looked up. */
    uint8_t *ukey;
    uint32_t ukey_cap;
    /* The last popped timer: key then namespace. The backend's current
     * key points here after a pop. */
    uint8_t *view;
    uint32_t view_cap;
};

/* ------------------------------------------------------------------ */
/* Encoding                                                            */
/* ------------------------------------------------------------------ */

static void
cf_timers_enc_ts(uint8_t *p, int64_t ts)
{
    uint64_t u = (uint64_t)ts ^ (UINT64_C(1) << 63);

    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)u;
        u >>= 8;
    }
}

static int64_t
cf_timers_dec_ts(const uint8_t *p)
{
    uint64_t u = 0;

    for (int i = 0; i < 8; i++)
        u = (u << 8) | p[i];
    return (int64_t)(u ^ (UINT64_C(1) << 63));
}

static void
cf_timers_reserve(uint8_t **p, uint32_t *cap, uint64_t need)
{
    CF_ASSERT(need <= UINT32_MAX);
    if (need > *cap) {
        uint64_t n = *cap ? *cap : 64;
        while (n < need)
            n *= 2;
        if (n > UINT32_MAX)
            n = UINT32_MAX;
        *p = cf_realloc(*p, (size_t)n);
        *cap = (uint32_t)n;
    }
}

/* The user key (ts, ns) in t->ukey; returns its length. */
static uint32_t
cf_timers_ukey(cf_timers_t *t, int64_t ts, const void *ns, uint32_t nslen)
{
    cf_timers_reserve(&t->ukey, &t->ukey_cap,
                      (uint64_t)CF_TIMERS_TSLEN + nslen);
    cf_timers_enc_ts(t->ukey, ts);
    if (nslen > 0)
        memcpy(t->ukey + CF_TIMERS_TSLEN, ns, nslen);
    return CF_TIMERS_TSLEN + nslen;
}

/* ------------------------------------------------------------------ */
/* Entries                                                             */
/* ------------------------------------------------------------------ */

static inline const uint8_t *
cf_timers_ent_ukey(const cf_timer_ent_t *e)
{
    return e->data + e->klen;
}

static inline uint32_t
cf_timers_ent_uklen(const cf_timer_ent_t *e)
{
    return CF_TIMERS_TSLEN + e->nslen;
}

/* An entry for key (klen, khash) and user key uk (ts + namespace). */
static cf_timer_ent_t *
cf_timers_ent_new(cf_timers_t *t, const void *key, uint32_t klen,
                  uint32_t khash, const uint8_t *uk, uint32_t uklen)
{
    size_t need = sizeof(cf_timer_ent_t) + (size_t)klen + uklen;
    cf_timer_ent_t *e = NULL;
    uint32_t cls = CF_TIMERS_EXACT;

    for (uint32_t c = 0; c < CF_TIMERS_NCLASS; c++) {
        if (need <= (size_t)CF_TIMERS_CLASS_MIN << c) {
            cls = c;
            break;
        }
    }
    if (cls != CF_TIMERS_EXACT && t->free[cls] != NULL) {
        e = t->free[cls];
        t->free[cls] = e->next;
        t->pool_bytes -= (size_t)CF_TIMERS_CLASS_MIN << cls;
    } else if (cls != CF_TIMERS_EXACT) {
        e = cf_malloc((size_t)CF_TIMERS_CLASS_MIN << cls);
    } else {
        e = cf_malloc(need);
    }
    e->next = NULL;
    e->khash = khash;
    e->klen = klen;
    e->nslen = uklen - CF_TIMERS_TSLEN;
    e->cls = cls;
    if (klen > 0)
        memcpy(e->data, key, klen);
    memcpy(e->data + klen, uk, uklen);
    return e;
}

static void
cf_timers_ent_free(cf_timers_t *t, cf_timer_ent_t *e)
{
    size_t sz;

    if (e->cls == CF_TIMERS_EXACT) {
        cf_free(e);
        return;
    }
    sz = (size_t)CF_TIMERS_CLASS_MIN << e->cls;
    if (t->pool_bytes + sz > CF_TIMERS_POOL_MAX) {
        cf_free(e);
        return;
    }
    e->next = t->free[e->cls];
    t->free[e->cls] = e;
    t->pool_bytes += sz;
}

/* ------------------------------------------------------------------ */
/* Heaps                                                               */
/* ------------------------------------------------------------------ */

static inline int
cf_timers_less(const cf_timer_slot_t *a, const cf_timer_slot_t *b)
{
    return a->ts < b->ts || (a->ts == b->ts && a->seq < b->seq);
}

static void
cf_timers_sift_up(cf_timer_slot_t *h, size_t i)
{
    cf_timer_slot_t x = h[i];

    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!cf_timers_less(&x, &h[p]))
            break;
        h[i] = h[p];
        i = p;
    }
    h[i] = x;
}

static void
cf_timers_sift_down(cf_timer_slot_t *h, size_t n, size_t i)
{
    cf_timer_slot_t x = h[i];

    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && cf_timers_less(&h[c + 1], &h[c]))
            c++;
        if (!cf_timers_less(&h[c], &x))
            break;
        h[i] = h[c];
        i = c;
    }
    h[i] = x;
}

static void
cf_timers_heapify(cf_timers_dom_t *d)
{
    for (size_t i = d->n / 2; i-- > 0;)
        cf_timers_sift_down(d->heap, d->n, i);
}

static void
cf_timers_push(cf_timers_t *t, cf_timers_dom_t *d, int64_t ts,
               cf_timer_ent_t *e)
{
    CF_GROW(&d->heap, &d->cap, d->n + 1);
    d->heap[d->n].ts = ts;
    d->heap[d->n].seq = t->seq++;
    d->heap[d->n].e = e;
    cf_timers_sift_up(d->heap, d->n);
    d->n++;
}

/* Give back the array of a heap that shrank to a quarter after a burst. */
static void
cf_timers_shrink(cf_timers_dom_t *d)
{
    if (d->cap > 1024 && d->n < d->cap / 4) {
        d->cap /= 2;
        d->heap = cf_realloc(d->heap, d->cap * sizeof *d->heap);
    }
}

/* Remove the top slot (its entry is the caller's). */
static void
cf_timers_remove_top(cf_timers_dom_t *d)
{
    d->n--;
    if (d->n > 0) {
        d->heap[0] = d->heap[d->n];
        cf_timers_sift_down(d->heap, d->n, 0);
    }
    cf_timers_shrink(d);
}

/* ------------------------------------------------------------------ */
/* The current key                                                     */
/* ------------------------------------------------------------------ */

typedef struct cf_timers_key_s {
    int had;
    const void *key;
    uint32_t len, hash;
} cf_timers_key_t;

static void
cf_timers_save_key(cf_timers_t *t, cf_timers_key_t *k)
{
    k->had = t->b->gen != 0;
    k->key = t->b->key;
    k->len = t->b->key_len;
    k->hash = t->b->key_hash;
}

/* Put the caller's key back. Without one before (no record yet), the
 * last checked timer's key stays: every record sets its own. */
static void
cf_timers_restore_key(cf_timers_t *t, const cf_timers_key_t *k)
{
    if (k->had)
        cf_kstate_set_key(t->b, k->key, k->len, k->hash);
}

/* Whether slot s's timer is live (its map entry exists); sets the
 * backend's current key to the timer's key. */
static int
cf_timers_slot_live(cf_timers_t *t, cf_timers_dom_t *d,
                    const cf_timer_slot_t *s)
{
    const cf_timer_ent_t *e = s->e;
    cf_slice_t out;
    int rc;

    cf_kstate_set_key(t->b, e->data, e->klen, e->khash);
    rc = cf_kstate_map_get(d->st, cf_timers_ent_ukey(e), cf_timers_ent_uklen(e),
                           &out);
    if (rc < 0) {
        /* Cannot happen: the key was ours when the timer was made. */
        cf_log_error("Timer state '%s': lookup of a timer failed (%s); "
                     "dropping it",
                     d->name, cf_err_name(rc));
        return 0;
    }
    return rc;
}

/* ------------------------------------------------------------------ */
/* Compaction                                                          */
/* ------------------------------------------------------------------ */

static uint32_t
cf_timers_ent_hash(const cf_timer_ent_t *e)
{
    return e->khash ^ (cf_murmur3_32(cf_timers_ent_ukey(e),
                                     cf_timers_ent_uklen(e), 0x9747b28cu) *
                       0x9e3779b9u);
}

static int
cf_timers_ent_same(const cf_timer_ent_t *a, const cf_timer_ent_t *b)
{
    return a->khash == b->khash && a->klen == b->klen && a->nslen == b->nslen &&
           memcmp(a->data, b->data,
                  (size_t)a->klen + CF_TIMERS_TSLEN + a->nslen) == 0;
}

/* Drop the stale entries of d, and of several entries of one timer (it
 * was deleted and registered again) all but the earliest, then rebuild
 * the heap: afterwards d->n == d->live. */
static void
cf_timers_compact(cf_timers_t *t, cf_timers_dom_t *d)
{
    cf_timers_key_t saved;
    uint32_t *set, mask, cap = 16;
    size_t n = 0;

    cf_timers_save_key(t, &saved);
    while (cap < 2 * d->live + 2)
        cap *= 2;
    mask = cap - 1;
    set = cf_malloc((size_t)cap * sizeof *set);
    memset(set, 0xff, (size_t)cap * sizeof *set);
    for (size_t i = 0; i < d->n; i++) {
        cf_timer_slot_t s = d->heap[i];
        uint32_t j;
        if (!cf_timers_slot_live(t, d, &s)) {
            cf_timers_ent_free(t, s.e);
            continue;
        }
        for (j = cf_timers_ent_hash(s.e) & mask; set[j] != UINT32_MAX;
             j = (j + 1) & mask) {
            if (cf_timers_ent_same(d->heap[set[j]].e, s.e))
                break;
        }
        if (set[j] == UINT32_MAX) {
            CF_ASSERT(n < cap / 2);
            set[j] = (uint32_t)n;
            d->heap[n++] = s;
        } else {
            cf_timer_slot_t *o = &d->heap[set[j]];
            /* The earlier one fires, as it would have without compaction. */
            if (cf_timers_less(&s, o)) {
                cf_timers_ent_free(t, o->e);
                *o = s;
            } else {
                cf_timers_ent_free(t, s.e);
            }
        }
    }
    cf_free(set);
    CF_ASSERT(n == d->live);
    d->n = n;
    cf_timers_heapify(d);
    while (d->cap > 1024 && d->n < d->cap / 4)
        cf_timers_shrink(d);
    cf_timers_restore_key(t, &saved);
}

/* ------------------------------------------------------------------ */
/* API                                                                 */
/* ------------------------------------------------------------------ */

static cf_timers_dom_t *
cf_timers_dom(cf_timers_t *t, int domain)
{
    if (domain != CF_TIMERS_EVENT && domain != CF_TIMERS_PROCESSING) {
        cf_log_error("Timer service: unknown time domain %d", domain);
        return NULL;
    }
    return &t->dom[domain];
}

cf_timers_t *
cf_timers_new(cf_kstate_backend_t *b, cf_error_t **errp)
{
    static const char *const names[2] = {CF_TIMERS_STATE_EVENT,
                                         CF_TIMERS_STATE_PROCESSING};
    cf_timers_t *t = CF_NEW(cf_timers_t);

    t->b = b;
    for (int i = 0; i < 2; i++) {
        /* A restored state of that name is returned as is, content
         * included (cf_timers_restore then builds the heap). */
        t->dom[i].st =
            cf_kstate_register(b, names[i], CF_STATE_MAP, NULL, NULL, errp);
        if (t->dom[i].st == NULL) {
            cf_error_prefix(errp, "Timer service");
            cf_free(t);
            return NULL;
        }
        t->dom[i].name = cf_kstate_name(t->dom[i].st);
    }
    /* Timers restored before the service was made: their heaps now (a
     * later cf_timers_restore rebuilds them again, at no harm). */
    if ((cf_kstate_size(t->dom[0].st) > 0 ||
         cf_kstate_size(t->dom[1].st) > 0) &&
        cf_timers_restore(t, errp) < 0) {
        cf_timers_free(t);
        return NULL;
    }
    return t;
}

void
cf_timers_free(cf_timers_t *t)
{
    if (t == NULL)
        return;
    for (int i = 0; i < 2; i++) {
        for (size_t j = 0; j < t->dom[i].n; j++)
            cf_free(t->dom[i].heap[j].e);
        cf_free(t->dom[i].heap);
    }
    for (int c = 0; c < CF_TIMERS_NCLASS; c++) {
        while (t->free[c] != NULL) {
            cf_timer_ent_t *e = t->free[c];
            t->free[c] = e->next;
            cf_free(e);
        }
    }
    cf_free(t->ukey);
    cf_free(t->view);
    cf_free(t);
}

int
cf_timers_register(cf_timers_t *t, int domain, int64_t ts, const void *ns,
                   uint32_t nslen)
{
    cf_timers_dom_t *d = cf_timers_dom(t, domain);
    cf_kstate_backend_t *b = t->b;
    cf_slice_t out;
    uint32_t uklen;
    int rc;

    if (d == NULL)
        return CF_EINVAL;
    uklen = cf_timers_ukey(t, ts, ns, nslen);
    rc = cf_kstate_map_get(d->st, t->ukey, uklen, &out);
    if (rc != 0)
        return rc < 0 ? rc : 0; /* no current key, or already there */
    rc = cf_kstate_map_put(d->st, t->ukey, uklen, NULL, 0);
    if (rc < 0)
        return rc;
    d->live++;
    cf_timers_push(
        t, d, ts,
        cf_timers_ent_new(t, b->key, b->key_len, b->key_hash, t->ukey, uklen));
    return 1;
}

int
cf_timers_delete(cf_timers_t *t, int domain, int64_t ts, const void *ns,
                 uint32_t nslen)
{
    cf_timers_dom_t *d = cf_timers_dom(t, domain);
    cf_slice_t out;
    uint32_t uklen;
    int rc;

    if (d == NULL)
        return CF_EINVAL;
    uklen = cf_timers_ukey(t, ts, ns, nslen);
    rc = cf_kstate_map_get(d->st, t->ukey, uklen, &out);
    if (rc <= 0)
        return rc;
    rc = cf_kstate_map_remove(d->st, t->ukey, uklen);
    if (rc < 0)
        return rc;
    /* A timer in the map state that the heap does not know means that a
     * restore into the backend was not followed by cf_timers_restore. */
    CF_ASSERT(d->live > 0);
    d->live--;
    /* The heap entry stays until it reaches the top, unless stale entries
     * now dominate the heap. */
    if (d->n - d->live >= CF_TIMERS_COMPACT_MIN && d->n - d->live > d->live)
        cf_timers_compact(t, d);
    return 1;
}

int
cf_timers_exists(cf_timers_t *t, int domain, int64_t ts, const void *ns,
                 uint32_t nslen)
{
    cf_timers_dom_t *d = cf_timers_dom(t, domain);
    cf_slice_t out;
    uint32_t uklen;

    if (d == NULL)
        return CF_EINVAL;
    uklen = cf_timers_ukey(t, ts, ns, nslen);
    return cf_kstate_map_get(d->st, t->ukey, uklen, &out);
}

/* With no live timer every entry left is stale: free them without a
 * lookup. */
static void
cf_timers_drop_all(cf_timers_t *t, cf_timers_dom_t *d)
{
    for (size_t j = 0; j < d->n; j++)
        cf_timers_ent_free(t, d->heap[j].e);
    d->n = 0;
    while (d->cap > 1024)
        cf_timers_shrink(d);
}

/* Drop stale entries from the top of d until a live one (or none) is
 * there. The current key may be left changed (the caller restores it). */
static void
cf_timers_settle(cf_timers_t *t, cf_timers_dom_t *d)
{
    /* With no stale entry in the heap the top is live: no lookup. */
    while (d->n > d->live) {
        cf_timer_slot_t top = d->heap[0];
        if (cf_timers_slot_live(t, d, &top))
            return;
        cf_timers_remove_top(d);
        cf_timers_ent_free(t, top.e);
    }
}

int64_t
cf_timers_next(cf_timers_t *t, int domain)
{
    cf_timers_dom_t *d = cf_timers_dom(t, domain);
    cf_timers_key_t saved;

    if (d == NULL)
        return INT64_MAX;
    if (d->live == 0) {
        cf_timers_drop_all(t, d);
        return INT64_MAX;
    }
    if (d->n > d->live) {
        cf_timers_save_key(t, &saved);
        cf_timers_settle(t, d);
        cf_timers_restore_key(t, &saved);
    }
    return d->heap[0].ts;
}

int
cf_timers_pop(cf_timers_t *t, int domain, int64_t upto, cf_timer_view_t *out)
{
    cf_timers_dom_t *d = cf_timers_dom(t, domain);
    cf_timers_key_t saved;
    cf_timer_slot_t top;
    cf_timer_ent_t *e;
    int rc;

    if (d == NULL)
        return 0;
    if (d->live == 0) {
        cf_timers_drop_all(t, d);
        return 0;
    }
    if (d->heap[0].ts > upto)
        return 0;
    cf_timers_save_key(t, &saved);
    cf_timers_settle(t, d);
    if (d->heap[0].ts > upto) {
        cf_timers_restore_key(t, &saved);
        return 0;
    }
    top = d->heap[0];
    e = top.e;
    cf_timers_remove_top(d);
    /* The timer leaves the map state (its key current now). */
    cf_kstate_set_key(t->b, e->data, e->klen, e->khash);
    rc = cf_kstate_map_remove(d->st, cf_timers_ent_ukey(e),
                              cf_timers_ent_uklen(e));
    CF_ASSERT(rc == CF_OK);
    d->live--;
    /* The view and the backend's current key live in t->view, as the
     * entry goes back to the pool. */
    cf_timers_reserve(&t->view, &t->view_cap, (uint64_t)e->klen + e->nslen + 1);
    if (e->klen > 0)
        memcpy(t->view, e->data, e->klen);
    if (e->nslen > 0)
        memcpy(t->view + e->klen, cf_timers_ent_ukey(e) + CF_TIMERS_TSLEN,
               e->nslen);
    out->ts = top.ts;
    out->key = t->view;
    out->klen = e->klen;
    out->khash = e->khash;
    out->ns = t->view + e->klen;
    out->nslen = e->nslen;
    cf_kstate_set_key(t->b, t->view, e->klen, e->khash);
    cf_timers_ent_free(t, e);
    return 1;
}

uint64_t
cf_timers_count(const cf_timers_t *t, int domain)
{
    if (domain != CF_TIMERS_EVENT && domain != CF_TIMERS_PROCESSING)
        return 0;
    return t->dom[domain].live;
}

/* ------------------------------------------------------------------ */
/* Restore                                                             */
/* ------------------------------------------------------------------ */

typedef struct cf_timers_rctx_s {
    cf_timers_t *t;
    cf_timers_dom_t *d;
    cf_error_t **errp;
} cf_timers_rctx_t;

static int
cf_timers_restore_key_cb(void *ud, const cf_kstate_entry_view_t *ev)
{
    cf_timers_rctx_t *r = ud;
    cf_timers_dom_t *d = r->d;
    cf_map_iter_t it;
    cf_slice_t uk;
    int rc = cf_kstate_view_map_iter(ev, &it);

    if (rc < 0)
        return cf_error_set(r->errp, rc, "Timer state '%s' is not a MapState",
                            d->name);
    while (cf_kstate_map_next(&it, &uk, NULL)) {
        cf_timer_ent_t *e;
        if (uk.len < CF_TIMERS_TSLEN)
            return cf_error_set(r->errp, CF_ESTATE,
                                "Timer state '%s': a timer of key group %d "
                                "has a user key of %u bytes (at least 8 "
                                "expected)",
                                d->name, ev->key_group, (unsigned)uk.len);
        e = cf_timers_ent_new(r->t, ev->key.data, ev->key.len, ev->hash,
                              uk.data, uk.len);
        /* Appended, heapified at the end: O(n). */
        CF_GROW(&d->heap, &d->cap, d->n + 1);
        d->heap[d->n].ts = cf_timers_dec_ts(uk.data);
        d->heap[d->n].seq = r->t->seq++;
        d->heap[d->n].e = e;
        d->n++;
        d->live++;
    }
    return CF_OK;
}

int
cf_timers_restore(cf_timers_t *t, cf_error_t **errp)
{
    for (int i = 0; i < 2; i++) {
        cf_timers_dom_t *d = &t->dom[i];
        cf_timers_rctx_t r = {t, d, errp};
        int rc;

        cf_timers_drop_all(t, d);
        d->live = 0;
        /* Key group order: the same snapshot gives the same order of
         * timers of one timestamp. */
        rc =
            cf_kstate_foreach_by_key_group(d->st, cf_timers_restore_key_cb, &r);
        if (rc < 0) {
            cf_timers_drop_all(t, d);
            d->live = 0;
            return rc;
        }
        cf_timers_heapify(d);
    }
    return CF_OK;
}
