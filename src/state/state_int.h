/*
 * state_int.h: private structures of the heap keyed state backend, shared
 * by the files of src/state (see docs/internals/state.md).
 *
 * Layout, from the state down:
 *
 *   cf_state_t --- table: slots[cap] = {u32 hash, u32 ver, entry *}
 *                                                 |
 *   entry (one malloc block): [16-byte header][key][pad to 8][payload]
 *
 * The payload depends on the state's kind: the value bytes (value), the
 * list block [u32 len][bytes]... (list), a nested table of the same shape
 * whose entries hold user key and value (map), or a cf_buf_t whose data is
 * a separate malloc block that a reduce function may realloc (reducing).
 *
 * Thread: task (the owner of the backend).
 */
#ifndef CF_STATE_INT_H
#define CF_STATE_INT_H

#include <stdint.h>
#include <string.h>

#include "state.h"

/* One key (or, in a map, one user key) and its payload. */
typedef struct cf_kstate_entry_s {
    uint32_t klen;
    uint32_t vlen;   /* payload bytes in use */
    uint32_t vcap;   /* payload bytes allocated */
    uint16_t kg;     /* key group (unused in map entries) */
    uint16_t flags;  /* reserved */
    uint8_t data[];  /* key, padded to 8 bytes, then the payload */
} cf_kstate_entry_t;

/* A table slot: the hash is kept here so that a probe compares entries
 * only when the hashes match. ver is reserved for the copy-on-write
 * version stamp of asynchronous snapshots. */
typedef struct cf_kstate_slot_s {
    uint32_t hash;
    uint32_t ver;
    cf_kstate_entry_t *e; /* NULL: empty */
} cf_kstate_slot_t;

/* Open addressing, linear probing, power-of-two capacity, deletion by
 * backward shift (no tombstones). The home slot is the high bits of
 * hash * 2^32/phi: the key group already uses the low bits of the hash,
 * and a backend holds a range of key groups only, so the low bits of its
 * keys' hashes are far from uniform. */
typedef struct cf_kstate_table_s {
    cf_kstate_slot_t *slots;
    uint32_t mask;    /* capacity - 1 */
    uint32_t count;
    uint32_t grow_at; /* 3/4 of the capacity */
    uint32_t shift;   /* 32 - log2(capacity) */
} cf_kstate_table_t;

#define CF_KSTATE_CACHE_NONE UINT64_MAX
#define CF_KSTATE_MIN_CAP 8u
#define CF_KSTATE_STATE_CAP 64u /* initial capacity of a state's table */

struct cf_state_s {
    const cf_host_api_t *api; /* first: read by the plugin's wrappers */
    cf_kstate_backend_t *b;
    cf_state_kind_t kind;
    /* Lookup cache: the slot of the current key, valid while cache_gen
     * equals the backend's key generation. */
    int cache_found;
    uint32_t cache_slot;
    uint64_t cache_gen;
    uint64_t probes; /* lookups that missed the cache */
    cf_kstate_table_t t;
    uint64_t bytes; /* entries, payloads and tables of this state */
    cf_reduce_fn fn;
    cf_ctx_t *fn_ctx;
    char *name;
};

struct cf_kstate_backend_s {
    const cf_host_api_t *api;
    /* The current key, borrowed until the next cf_kstate_set_key. */
    uint64_t gen; /* bumped by every set_key; 0: no key yet */
    const void *key;
    uint32_t key_len;
    uint32_t key_hash;
    int key_group;
    int key_ok; /* a key is set and its key group is ours */
    int max_parallelism;
    int kg_pow2;      /* max_parallelism is a power of two */
    uint32_t kg_mask; /* max_parallelism - 1 */
    int kg_start;
    int kg_end;
    cf_state_t **states;
    size_t nstates;
    size_t states_cap;
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

static inline uint8_t *
cf_kstate_entry_val(cf_kstate_entry_t *e)
{
    return e->data + cf_kstate_koff(e->klen);
}

static inline size_t
cf_kstate_entry_size(uint32_t klen, uint32_t vcap)
{
    return sizeof(cf_kstate_entry_t) + cf_kstate_koff(klen) + vcap;
}

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

/* A new entry holding key, with vcap payload bytes (vlen 0). */
cf_kstate_entry_t *cf_kstate_entry_new(const void *key, uint32_t klen,
                                       uint32_t vcap, uint64_t *bytes);
/* Resize e's payload capacity to vcap (realloc: e moves). */
cf_kstate_entry_t *cf_kstate_entry_resize(cf_kstate_entry_t *e,
                                          uint32_t vcap, uint64_t *bytes);
void cf_kstate_entry_free(cf_kstate_entry_t *e, uint64_t *bytes);

/* Free an entry of st together with what its payload owns. */
void cf_kstate_entry_destroy(cf_state_t *st, cf_kstate_entry_t *e);

/* Errors of the accessors (logged, naming the state). */
int cf_kstate_err_no_key(cf_state_t *st);
int cf_kstate_err_kind(cf_state_t *st, cf_state_kind_t want);

/* The current key's slot in st: 1 found, 0 absent (*slot is then where to
 * insert), or CF_ESTATE without a current key. Cached until the next
 * set_key or a structural change of the table. */
static inline int
cf_kstate_lookup(cf_state_t *st, uint32_t *slot)
{
    cf_kstate_backend_t *b = st->b;
    int found;

    if (st->cache_gen == b->gen) {
        *slot = st->cache_slot;
        return st->cache_found;
    }
    if (__builtin_expect(!b->key_ok, 0)) {
        *slot = 0;
        return cf_kstate_err_no_key(st);
    }
    found = cf_kstate_table_probe(&st->t, b->key_hash, b->key, b->key_len,
                                  slot);
    st->probes++;
    st->cache_gen = b->gen;
    st->cache_slot = *slot;
    st->cache_found = found;
    return found;
}

/* Insert a new entry for the current key at slot (absent, from
 * cf_kstate_lookup); keeps the cache pointing at it. */
static inline cf_kstate_entry_t *
cf_kstate_insert_current(cf_state_t *st, uint32_t slot, cf_kstate_entry_t *e)
{
    cf_kstate_backend_t *b = st->b;

    e->kg = (uint16_t)b->key_group;
    slot = cf_kstate_table_insert(&st->t, slot, b->key_hash, e, &st->bytes);
    st->cache_gen = b->gen;
    st->cache_slot = slot;
    st->cache_found = 1;
    return e;
}

/* Remove the entry at slot (the current key's) and invalidate the cache. */
void cf_kstate_remove_slot(cf_state_t *st, uint32_t slot);

#endif /* CF_STATE_INT_H */
