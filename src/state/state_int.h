/*
 * state_int.h: private structures of the heap keyed state backend, shared
 * by the files of src/state (see docs/internals/state.md).
 *
 * Layout, from the state down:
 *
 *   cf_state_t --- table: dir[npages] -> page {ver, slots[<= 1024]}
 *                                      slot = {u32 hash, u32 ver, entry *}
 *                                                                 |
 *   entry (one malloc block): [8-byte TTL deadline, TTL states only]
 *                             [16-byte header][key][pad to 8][payload]
 *
 * The payload depends on the state's kind: the value bytes (value), the
 * list block [u32 len][bytes]... (list), a nested flat table whose
 * entries hold user key and value (map), or a cf_buf_t whose data is a
 * separate malloc block that a reduce or aggregate function may realloc
 * (reducing, aggregating).
 *
 * Copy-on-write: the backend has a version counter (cur_ver). A page and
 * a slot remember the version at which the live table made them. A
 * snapshot taken at version v shares the pages (a copy of the page
 * directory) and the entries; the task copies a page whose ver <= cow_ver
 * (the newest live snapshot's version) before writing it, and copies an
 * entry whose slot ver <= cow_ver before modifying it. Replaced pages and
 * entries are retired and freed once no live snapshot is older than
 * their retirement.
 *
 * Thread: task (the owner of the backend), except the snapshot walk
 * (state_snapshot.c), which only reads pages and entries that the task
 * no longer writes.
 */
#ifndef CF_STATE_INT_H
#define CF_STATE_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "state.h"

#define CF_KSTATE_F_TTL 1u /* entry: an 8-byte deadline precedes payload */

/* One key (or, in a map, one user key) and its payload. */
typedef struct cf_kstate_entry_s {
    uint32_t klen;
    uint32_t vlen;   /* payload bytes in use */
    uint32_t vcap;   /* payload bytes allocated */
    uint16_t kg;     /* key group (unused in map entries) */
    uint16_t flags;  /* CF_KSTATE_F_TTL */
    uint8_t data[];  /* key, padded to 8 bytes, then the payload */
} cf_kstate_entry_t;

/* A table slot: the hash is kept here so that a probe compares entries
 * only when the hashes match. ver: the copy-on-write version at which the
 * live table created or copied the entry (top-level tables only). */
typedef struct cf_kstate_slot_s {
    uint32_t hash;
    uint32_t ver;
    cf_kstate_entry_t *e; /* NULL: empty */
} cf_kstate_slot_t;

/* Open addressing, linear probing, power-of-two capacity, deletion by
 * backward shift (no tombstones). The home slot is the high bits of
 * hash * 2^32/phi: the key group already uses the low bits of the hash,
 * and a backend holds a range of key groups only, so the low bits of its
 * keys' hashes are far from uniform. This flat form is the user map of a
 * MapState entry (copied as a whole on copy-on-write). */
typedef struct cf_kstate_table_s {
    cf_kstate_slot_t *slots;
    uint32_t mask;    /* capacity - 1 */
    uint32_t count;
    uint32_t grow_at; /* 3/4 of the capacity */
    uint32_t shift;   /* 32 - log2(capacity) */
} cf_kstate_table_t;

/* A state's key table: the same hashing, with the slots split into pages
 * of up to CF_KSTATE_PAGE_SLOTS (a table smaller than a page has one page
 * of its capacity) so that a snapshot shares them page by page. */
#define CF_KSTATE_PAGE_SHIFT 10u
#define CF_KSTATE_PAGE_SLOTS (1u << CF_KSTATE_PAGE_SHIFT)
#define CF_KSTATE_PAGE_MASK (CF_KSTATE_PAGE_SLOTS - 1)

typedef struct cf_kstate_page_s {
    uint32_t ver;    /* version at which the live table made it */
    uint32_t nslots;
    cf_kstate_slot_t slots[];
} cf_kstate_page_t;

typedef struct cf_kstate_ptable_s {
    cf_kstate_page_t **dir;
    uint32_t npages;
    uint32_t mask;
    uint32_t count;
    uint32_t grow_at;
    uint32_t shift;
} cf_kstate_ptable_t;

#define CF_KSTATE_CACHE_NONE UINT64_MAX
#define CF_KSTATE_MIN_CAP 8u
#define CF_KSTATE_STATE_CAP 64u /* initial capacity of a state's table */

struct cf_state_s {
    const cf_host_api_t *api; /* first: read by the plugin's wrappers */
    cf_kstate_backend_t *b;
    cf_state_kind_t kind;
    /* Lookup cache: the slot of the current key, valid while cache_gen
     * equals the backend's key generation. cache_sp points at the live
     * slot when cache_found. */
    int cache_found;
    uint32_t cache_slot;
    uint64_t cache_gen;
    cf_kstate_slot_t *cache_sp;
    /* Writes of an entry whose slot ver <= wlimit take the slow path
     * (copy-on-write, TTL renewal): the backend's cow_ver, or UINT32_MAX
     * for a TTL state. One compare on the hot path. */
    uint32_t wlimit;
    int64_t ttl_ms;     /* 0: no TTL */
    int ttl_rw;         /* CF_TTL_ON_READ_AND_WRITE */
    int restored;       /* created by cf_kstate_restore_state */
    int opmode;         /* operator state: cf_opstate_mode_t; keyed: -1 */
    uint64_t probes; /* lookups that missed the cache */
    cf_kstate_ptable_t t;
    uint64_t bytes; /* entries, payloads, tables, retired memory */
    cf_reduce_fn fn;
    const cf_agg_ops_t *agg;
    cf_ctx_t *fn_ctx;
    cf_buf_t out; /* aggregating: the result of the last get */
    char *name;
};

/* Memory replaced while a snapshot could see it. */
enum { CF_KSTATE_RET_ENTRY = 1, CF_KSTATE_RET_PAGE = 2 };

typedef struct cf_kstate_retired_s {
    uint32_t tag;  /* cur_ver when retired: needed by snapshots < tag */
    uint32_t what; /* CF_KSTATE_RET_* */
    cf_state_t *st;
    void *p;
} cf_kstate_retired_t;

/* The retire list is a queue of fixed-size blocks: appending and freeing
 * never move or reallocate what is queued (a single array would need an
 * O(n) compaction or reallocation on the task thread). */
#define CF_KSTATE_RET_BLOCK 2000
typedef struct cf_kstate_ret_block_s {
    struct cf_kstate_ret_block_s *next;
    uint32_t head, n; /* items [head, n) are queued */
    cf_kstate_retired_t it[CF_KSTATE_RET_BLOCK];
} cf_kstate_ret_block_t;

struct cf_kstate_backend_s {
    const cf_host_api_t *api;
    /* The current key, borrowed until the next cf_kstate_set_key. */
    uint64_t gen; /* bumped by every set_key; 0: no key yet */
    const void *key;
    uint32_t key_len;
    uint32_t key_hash;
    int key_group;
    int key_ok; /* a key is set and its key group is ours */
    /* Copy-on-write (task thread): cur_ver stamps what the live table
     * makes; cow_ver is the version of the newest live snapshot (0:
     * none), so "ver <= cow_ver" means "a snapshot may see it". */
    uint32_t cur_ver;
    uint32_t cow_ver;
    int max_parallelism;
    int kg_pow2;      /* max_parallelism is a power of two */
    uint32_t kg_mask; /* max_parallelism - 1 */
    int kg_start;
    int kg_end;
    cf_state_t **states;
    size_t nstates;
    size_t states_cap;
    int64_t (*now_ms)(void);
    /* Retired memory, in tag order (a block queue). Tags <= ret_free_ver
     * are no longer needed by any live snapshot (the oldest live
     * snapshot's version when maintain last looked; it only grows, as
     * new snapshots are newer than every tag). */
    cf_kstate_ret_block_t *ret_first, *ret_last;
    cf_kstate_ret_block_t *ret_spare; /* one empty block kept for reuse */
    size_t ret_blocks;                /* allocated, spare included */
    uint32_t ret_free_ver;
    uint64_t snap_bytes; /* directories held by snapshots */
    /* Snapshots not yet freed (mu guards the list, the released flags
     * and dead; release may run on any thread). */
    pthread_mutex_t mu;
    struct cf_kstate_snapshot_s **snaps;
    size_t nsnaps, snaps_cap;
    atomic_int nreleased; /* released, not yet reclaimed by maintain */
    int dead; /* destroyed by the task while snapshots were alive */
};

static inline uint32_t
cf_kstate_home(uint32_t hash, uint32_t shift)
{
    return (hash * 0x9e3779b9u) >> shift;
}

static inline size_t
cf_kstate_koff(uint32_t klen)
{
    return ((size_t)klen + 7) & ~(size_t)7;
}

/* Bytes of the TTL deadline, kept just before the entry header (so that
 * the payload offset does not depend on it): the malloc block starts
 * there. */
static inline size_t
cf_kstate_pre(uint32_t flags)
{
    return (size_t)(flags & CF_KSTATE_F_TTL) << 3;
}

static inline uint8_t *
cf_kstate_entry_val(const cf_kstate_entry_t *e)
{
    return (uint8_t *)e->data + cf_kstate_koff(e->klen);
}

/* The malloc'ed bytes of an entry (deadline included). */
static inline size_t
cf_kstate_entry_size(uint32_t klen, uint32_t vcap, uint32_t flags)
{
    return sizeof(cf_kstate_entry_t) + cf_kstate_koff(klen) +
           cf_kstate_pre(flags) + vcap;
}

static inline size_t
cf_kstate_entry_bytes(const cf_kstate_entry_t *e)
{
    return cf_kstate_entry_size(e->klen, e->vcap, e->flags);
}

/* The start of e's malloc block. */
static inline void *
cf_kstate_entry_base(const cf_kstate_entry_t *e)
{
    return (uint8_t *)e - cf_kstate_pre(e->flags);
}

static inline int64_t
cf_kstate_entry_deadline(const cf_kstate_entry_t *e)
{
    int64_t d;

    if (!(e->flags & CF_KSTATE_F_TTL))
        return 0;
    memcpy(&d, (const uint8_t *)e - 8, 8);
    return d;
}

static inline void
cf_kstate_entry_set_deadline(cf_kstate_entry_t *e, int64_t d)
{
    memcpy((uint8_t *)e - 8, &d, 8);
}

/* ------------------------------------------------------------------ */
/* Flat tables (user maps)                                             */
/* ------------------------------------------------------------------ */

/* The slot of key in t: returns 1 and its slot, or 0 and the empty slot
 * where it would be inserted. */
static inline int
cf_kstate_table_probe(const cf_kstate_table_t *t, uint32_t hash,
                      const void *key, uint32_t klen, uint32_t *slot)
{
    uint32_t i = cf_kstate_home(hash, t->shift);

    for (;;) {
        const cf_kstate_slot_t *s = &t->slots[i];
        if (s->e == NULL) {
            *slot = i;
            return 0;
        }
        if (s->hash == hash && s->e->klen == klen &&
            (klen == 0 || memcmp(s->e->data, key, klen) == 0)) {
            *slot = i;
            return 1;
        }
        i = (i + 1) & t->mask;
    }
}

/* Tables: *bytes is the byte counter that their slot arrays count in. */
void cf_kstate_table_init(cf_kstate_table_t *t, uint32_t cap,
                          uint64_t *bytes);
void cf_kstate_table_deinit(cf_kstate_table_t *t, uint64_t *bytes);
/* Insert e (absent) with hash at slot (from a probe), growing the table
 * first when it is full; returns the slot e went to. */
uint32_t cf_kstate_table_insert(cf_kstate_table_t *t, uint32_t slot,
                                uint32_t hash, cf_kstate_entry_t *e,
                                uint64_t *bytes);
/* Empty slot i, shifting back the entries of its probe run. */
void cf_kstate_table_delete(cf_kstate_table_t *t, uint32_t i);

/* ------------------------------------------------------------------ */
/* Paged tables (a state's keys)                                       */
/* ------------------------------------------------------------------ */

static inline cf_kstate_slot_t *
cf_kstate_pt_slot(const cf_kstate_ptable_t *t, uint32_t i)
{
    return &t->dir[i >> CF_KSTATE_PAGE_SHIFT]->slots[i & CF_KSTATE_PAGE_MASK];
}

static inline int
cf_kstate_pt_probe(const cf_kstate_ptable_t *t, uint32_t hash,
                   const void *key, uint32_t klen, uint32_t *slot,
                   cf_kstate_slot_t **sp)
{
    uint32_t i = cf_kstate_home(hash, t->shift);
    cf_kstate_slot_t *s = cf_kstate_pt_slot(t, i);

    for (;;) {
        if (s->e == NULL) {
            *slot = i;
            *sp = s;
            return 0;
        }
        if (s->hash == hash && s->e->klen == klen &&
            (klen == 0 || memcmp(s->e->data, key, klen) == 0)) {
            *slot = i;
            *sp = s;
            return 1;
        }
        i = (i + 1) & t->mask;
        /* The next slot of the page, or (at a page boundary or the wrap
         * around of a one-page table) through the directory. */
        if (__builtin_expect((i & CF_KSTATE_PAGE_MASK) != 0, 1))
            s++;
        else
            s = cf_kstate_pt_slot(t, i);
    }
}

void cf_kstate_pt_init(cf_state_t *st, uint32_t cap);
/* Free the pages and directory (no snapshot may hold them). */
void cf_kstate_pt_deinit(cf_state_t *st);
/* Copy page p of st's table for writing (it is shared with a snapshot);
 * returns the live copy. */
cf_kstate_page_t *cf_kstate_pt_cow_page(cf_state_t *st, uint32_t p);

/* Slot i of st's table for writing: copies its page first when a live
 * snapshot holds it. */
static inline cf_kstate_slot_t *
cf_kstate_pt_wslot(cf_state_t *st, uint32_t i)
{
    cf_kstate_page_t *pg = st->t.dir[i >> CF_KSTATE_PAGE_SHIFT];

    if (__builtin_expect(pg->ver <= st->b->cow_ver, 0))
        pg = cf_kstate_pt_cow_page(st, i >> CF_KSTATE_PAGE_SHIFT);
    return &pg->slots[i & CF_KSTATE_PAGE_MASK];
}

/* Insert e (absent) with hash at slot (from a probe), growing the table
 * first when it is full; returns the slot e went to. */
uint32_t cf_kstate_pt_insert(cf_state_t *st, uint32_t slot, uint32_t hash,
                             cf_kstate_entry_t *e);
/* Empty slot i, shifting back the entries of its probe run. */
void cf_kstate_pt_delete(cf_state_t *st, uint32_t i);

/* ------------------------------------------------------------------ */
/* Entries                                                             */
/* ------------------------------------------------------------------ */

/* A new entry holding key, with vcap payload bytes (vlen 0). */
cf_kstate_entry_t *cf_kstate_entry_new(const void *key, uint32_t klen,
                                       uint32_t vcap, uint32_t flags,
                                       uint64_t *bytes);
/* Resize e's payload capacity to vcap (realloc: e moves). */
cf_kstate_entry_t *cf_kstate_entry_resize(cf_kstate_entry_t *e,
                                          uint32_t vcap, uint64_t *bytes);
void cf_kstate_entry_free(cf_kstate_entry_t *e, uint64_t *bytes);

/* Free an entry of st together with what its payload owns. */
void cf_kstate_entry_destroy(cf_state_t *st, cf_kstate_entry_t *e);
/* A deep copy of e (of st's kind) with a payload capacity of at least
 * vcap: the nested user map and its entries, the accumulator block. */
cf_kstate_entry_t *cf_kstate_entry_clone(cf_state_t *st,
                                         const cf_kstate_entry_t *e,
                                         uint32_t vcap);

/* Retire memory a snapshot may still read (freed later); or free it now
 * when no snapshot can see it. */
void cf_kstate_retire(cf_state_t *st, uint32_t what, void *p);

/* The entry at slot i (the live slot sp) of st, made private for an in
 * place modification: copied (with a payload capacity of at least vcap)
 * when a snapshot can see it. Returns the entry to modify. */
cf_kstate_entry_t *cf_kstate_cow_entry(cf_state_t *st, uint32_t i,
                                       uint32_t vcap);

/* The slow path of cf_kstate_wentry: copy-on-write and TTL renewal. */
cf_kstate_entry_t *cf_kstate_wentry_slow(cf_state_t *st, uint32_t i,
                                         cf_kstate_slot_t *sp, uint32_t vcap);

/* The current key's entry at slot i (live slot sp), made ready for an in
 * place modification: copied first (with a payload capacity of at least
 * vcap) when a snapshot can see it, its TTL deadline renewed. */
static inline cf_kstate_entry_t *
cf_kstate_wentry(cf_state_t *st, uint32_t i, cf_kstate_slot_t *sp,
                 uint32_t vcap)
{
    if (__builtin_expect(sp->ver <= st->wlimit, 0))
        return cf_kstate_wentry_slow(st, i, sp, vcap);
    return sp->e;
}

/* Recompute wlimit of every state of b (after cow_ver or a TTL changed). */
void cf_kstate_update_wlimits(cf_kstate_backend_t *b);

/* Point slot i (holding an entry of st) at e (the same key). */
void cf_kstate_replace_entry(cf_state_t *st, uint32_t i,
                             cf_kstate_entry_t *e);

/* Errors of the accessors (logged, naming the state). */
int cf_kstate_err_no_key(cf_state_t *st);
int cf_kstate_err_kind(cf_state_t *st, cf_state_kind_t want);

/* TTL (state.c), the lookup of a TTL state (never cached): found tells
 * whether the probe found the current key at *slot. An expired entry is
 * dropped and the probe repeated (then 0 and the insert slot); a read
 * (rd) with CF_TTL_ON_READ_AND_WRITE renews the deadline. */
int cf_kstate_ttl_lookup(cf_state_t *st, int found, int rd, uint32_t *slot,
                         cf_kstate_slot_t **sp);
/* Set the deadline of st's entry e (private) to now + ttl. */
void cf_kstate_ttl_touch(cf_state_t *st, cf_kstate_entry_t *e);

static inline uint32_t
cf_kstate_new_flags(const cf_state_t *st)
{
    return st->ttl_ms > 0 ? CF_KSTATE_F_TTL : 0;
}

/* The current key's slot in st: 1 found, 0 absent (*slot and *sp are
 * then where to insert), or CF_ESTATE without a current key. rd: the
 * caller only reads (a constant). Cached until the next set_key or a
 * structural change of the table, except for TTL states, whose lookups
 * check the deadline each time (an expired entry is dropped here and
 * reported absent). */
static inline int
cf_kstate_lookup_x(cf_state_t *st, uint32_t *slot, cf_kstate_slot_t **sp,
                   int rd)
{
    cf_kstate_backend_t *b = st->b;
    int found;

    if (st->cache_gen == b->gen) {
        *slot = st->cache_slot;
        *sp = st->cache_sp;
        return st->cache_found;
    }
    if (__builtin_expect(!b->key_ok, 0)) {
        *slot = 0;
        *sp = NULL;
        return cf_kstate_err_no_key(st);
    }
    found = cf_kstate_pt_probe(&st->t, b->key_hash, b->key, b->key_len, slot,
                               sp);
    st->probes++;
    if (__builtin_expect(st->ttl_ms != 0, 0))
        return cf_kstate_ttl_lookup(st, found, rd, slot, sp);
    st->cache_gen = b->gen;
    st->cache_slot = *slot;
    st->cache_sp = *sp;
    st->cache_found = found;
    return found;
}

static inline int
cf_kstate_lookup(cf_state_t *st, uint32_t *slot, cf_kstate_slot_t **sp)
{
    return cf_kstate_lookup_x(st, slot, sp, 0);
}

static inline int
cf_kstate_lookup_rd(cf_state_t *st, uint32_t *slot, cf_kstate_slot_t **sp)
{
    return cf_kstate_lookup_x(st, slot, sp, 1);
}

/* Insert a new entry for the current key at slot (absent, from
 * cf_kstate_lookup); keeps the cache pointing at it. */
cf_kstate_entry_t *cf_kstate_insert_current(cf_state_t *st, uint32_t slot,
                                            cf_kstate_entry_t *e);

/* Remove the entry at slot (the current key's) and invalidate the cache. */
void cf_kstate_remove_slot(cf_state_t *st, uint32_t slot);

/* A view of entry e (hash, kind) for the walks. */
void cf_kstate_view_of(cf_state_kind_t kind, uint32_t hash,
                       const cf_kstate_entry_t *e,
                       cf_kstate_entry_view_t *ev);

/* A snapshot's view of one state (state_snapshot.c). */
typedef struct cf_kstate_snap_state_s {
    const char *name; /* the state's (immutable, lives with the backend) */
    cf_state_kind_t kind;
    int64_t ttl_ms;
    cf_kstate_page_t **dir; /* a copy of the directory at begin */
    uint32_t npages;
    uint32_t count;
} cf_kstate_snap_state_t;

struct cf_kstate_snapshot_s {
    cf_kstate_backend_t *b;
    uint32_t ver;     /* cur_ver at begin */
    int released;     /* guarded by b->mu */
    int64_t now_ms;   /* TTL: entries with a deadline <= now are out */
    int kg_start;
    int kg_end;
    int max_parallelism;
    cf_kstate_snap_state_t *states;
    size_t nstates;
    uint64_t bytes;   /* counted in b->snap_bytes */
};

/* Free a snapshot's own record (not the pages and entries it shares). */
void cf_kstate_snapshot_free_record(struct cf_kstate_snapshot_s *s);

/* Reclaim released snapshots and the memory only they needed (task
 * thread, or the last release of a destroyed backend). */
/* Items of retired memory freed per cf_kstate_backend_maintain: bounds
 * the task's pause (well under 1 ms); the rest waits for the next call. */
#define CF_KSTATE_RECLAIM_BUDGET 2048
int cf_kstate_reclaim(cf_kstate_backend_t *b, size_t budget);
/* Free everything of b (states, retired memory, snapshot records). */
void cf_kstate_backend_free_all(cf_kstate_backend_t *b);

#endif /* CF_STATE_INT_H */
