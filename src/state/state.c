/*
 * state.c: the heap keyed state backend: the backend and its current key,
 * state registration (aggregating included), insert/remove/clear, sizes,
 * TTL, the restore helpers, and the walks that tests and the snapshot
 * code use. The accessors of each state kind are in state_value.c (value,
 * list, reducing, aggregating) and state_map.c (map); the tables and the
 * copy-on-write of pages and entries in state_table.c; snapshots in
 * state_snapshot.c.
 *
 * Design. Every registered state has its own open-addressing table of the
 * keys that hold a value in it; an entry is one malloc block with the key
 * and the payload, and remembers its key group, so a snapshot can write
 * the state per key group (cf_kstate_foreach_by_key_group). The runtime
 * sets the current key once per record with its precomputed murmur3 hash;
 * set_key only bumps a generation counter, and each state caches the slot
 * of its last lookup under that generation, so a get followed by a put
 * probes once. See docs/internals/state.md.
 *
 * Thread: task. A backend and its states belong to one task thread; the
 * backend's mutex (taken by destroy here, and by the snapshot functions)
 * only guards the list of snapshots.
 */
#include "state_int.h"

#include <stdlib.h>
#include <string.h>

const char *
cf_state_kind_name(cf_state_kind_t kind)
{
    switch (kind) {
    case CF_STATE_VALUE:
        return "ValueState";
    case CF_STATE_LIST:
        return "ListState";
    case CF_STATE_MAP:
        return "MapState";
    case CF_STATE_REDUCING:
        return "ReducingState";
    case CF_STATE_AGGREGATING:
        return "AggregatingState";
    }
    return "UnknownState";
}

/* ------------------------------------------------------------------ */
/* Backend and current key                                             */
/* ------------------------------------------------------------------ */

cf_kstate_backend_t *
cf_kstate_backend_new(const cf_host_api_t *api, int max_parallelism,
                      int kg_start, int kg_end)
{
    cf_kstate_backend_t *b;

    CF_ASSERT(max_parallelism >= 1 &&
              max_parallelism <= CF_MAX_PARALLELISM_UPPER);
    CF_ASSERT(kg_start >= 0 && kg_start <= kg_end &&
              kg_end < max_parallelism);
    b = CF_NEW(cf_kstate_backend_t);
    b->api = api;
    b->max_parallelism = max_parallelism;
    b->kg_pow2 = (max_parallelism & (max_parallelism - 1)) == 0;
    b->kg_mask = (uint32_t)max_parallelism - 1;
    b->kg_start = kg_start;
    b->kg_end = kg_end;
    b->key_group = -1;
    b->cur_ver = 1;
    b->now_ms = cf_now_ms;
    pthread_mutex_init(&b->mu, NULL);
    return b;
}

static void
cf_kstate_state_destroy(cf_state_t *st)
{
    for (uint32_t p = 0; st->t.dir != NULL && p < st->t.npages; p++) {
        cf_kstate_page_t *pg = st->t.dir[p];
        for (uint32_t i = 0; i < pg->nslots; i++) {
            if (pg->slots[i].e != NULL)
                cf_kstate_entry_destroy(st, pg->slots[i].e);
        }
    }
    cf_kstate_pt_deinit(st);
    cf_free(st->out.data);
    cf_free(st->name);
    cf_free(st);
}

void
cf_kstate_backend_free_all(cf_kstate_backend_t *b)
{
    /* Retired memory first: it refers to the states. */
    for (cf_kstate_ret_block_t *blk = b->ret_first, *next; blk; blk = next) {
        for (uint32_t i = blk->head; i < blk->n; i++) {
            cf_kstate_retired_t *r = &blk->it[i];
            if (r->what == CF_KSTATE_RET_ENTRY)
                cf_kstate_entry_destroy(r->st, r->p);
            else
                cf_free(r->p);
        }
        next = blk->next;
        cf_free(blk);
    }
    cf_free(b->ret_spare);
    for (size_t i = 0; i < b->nsnaps; i++)
        cf_kstate_snapshot_free_record(b->snaps[i]);
    cf_free(b->snaps);
    for (size_t i = 0; i < b->nstates; i++)
        cf_kstate_state_destroy(b->states[i]);
    cf_free(b->states);
    pthread_mutex_destroy(&b->mu);
    cf_free(b);
}

void
cf_kstate_backend_destroy(cf_kstate_backend_t *b)
{
    int alive = 0;

    if (b == NULL)
        return;
    pthread_mutex_lock(&b->mu);
    for (size_t i = 0; i < b->nsnaps; i++)
        alive += !b->snaps[i]->released;
    if (alive > 0)
        b->dead = 1; /* the last cf_kstate_snapshot_release frees b */
    pthread_mutex_unlock(&b->mu);
    if (alive == 0)
        cf_kstate_backend_free_all(b);
}

void
cf_kstate_set_key(cf_kstate_backend_t *b, const void *key, uint32_t len,
                  uint32_t hash)
{
    /* hash % max_parallelism, without a division in the usual case. */
    int kg = b->kg_pow2 ? (int)(hash & b->kg_mask)
                        : cf_keygroup_of_hash(hash, b->max_parallelism);

    b->gen++;
    b->key = key;
    b->key_len = len;
    b->key_hash = hash;
    b->key_group = kg;
    b->key_ok = kg >= b->kg_start && kg <= b->kg_end;
}

int
cf_kstate_current_key(cf_kstate_backend_t *b, cf_slice_t *key)
{
    if (b->gen == 0) {
        key->data = NULL;
        key->len = 0;
        return CF_ESTATE;
    }
    key->data = b->key;
    key->len = b->key_len;
    return CF_OK;
}

int
cf_kstate_current_key_group(cf_kstate_backend_t *b)
{
    return b->gen == 0 ? -1 : b->key_group;
}

int
cf_kstate_backend_max_parallelism(cf_kstate_backend_t *b)
{
    return b->max_parallelism;
}

int
cf_kstate_err_no_key(cf_state_t *st)
{
    cf_kstate_backend_t *b = st->b;

    if (b->gen == 0)
        cf_log_error("Keyed state '%s' accessed without a current key",
                     st->name);
    else
        cf_log_error("Keyed state '%s' accessed with a key in key group %d, "
                     "outside this backend's key groups [%d, %d] (is the key "
                     "selector deterministic?)",
                     st->name, b->key_group, b->kg_start, b->kg_end);
    return CF_ESTATE;
}

int
cf_kstate_err_kind(cf_state_t *st, cf_state_kind_t want)
{
    cf_log_error("Keyed state '%s' is a %s, not a %s", st->name,
                 cf_state_kind_name(st->kind), cf_state_kind_name(want));
    return CF_ESTATE;
}

/* ------------------------------------------------------------------ */
/* Registration                                                        */
/* ------------------------------------------------------------------ */

static cf_state_t *
cf_kstate_find(cf_kstate_backend_t *b, const char *name)
{
    for (size_t i = 0; i < b->nstates; i++) {
        if (strcmp(b->states[i]->name, name) == 0)
            return b->states[i];
    }
    return NULL;
}

static cf_state_t *
cf_kstate_create(cf_kstate_backend_t *b, const char *name,
                 cf_state_kind_t kind)
{
    cf_state_t *st = CF_NEW(cf_state_t);

    st->api = b->api;
    st->b = b;
    st->kind = kind;
    st->opmode = -1;
    st->wlimit = b->cow_ver;
    st->cache_gen = CF_KSTATE_CACHE_NONE;
    st->name = cf_strdup(name);
    cf_kstate_pt_init(st, CF_KSTATE_STATE_CAP);
    CF_GROW(&b->states, &b->states_cap, b->nstates + 1);
    b->states[b->nstates++] = st;
    return st;
}

/* Find st by name with kind, or create it; NULL and *errp when the name
 * is taken by another kind. */
static cf_state_t *
cf_kstate_find_or_create(cf_kstate_backend_t *b, const char *name,
                         cf_state_kind_t kind, cf_error_t **errp)
{
    cf_state_t *st;

    if (name == NULL || name[0] == '\0') {
        cf_error_set(errp, CF_EINVAL, "A keyed state needs a name");
        return NULL;
    }
    if (kind < CF_STATE_VALUE || kind > CF_STATE_AGGREGATING) {
        cf_error_set(errp, CF_EINVAL, "State '%s' has an unknown kind %d",
                     name, (int)kind);
        return NULL;
    }
    st = cf_kstate_find(b, name);
    if (st == NULL)
        return cf_kstate_create(b, name, kind);
    if (st->kind != kind) {
        cf_error_set(errp, CF_ESTATE,
                     "State '%s' was registered as %s and cannot be "
                     "re-registered as %s",
                     name, cf_state_kind_name(st->kind),
                     cf_state_kind_name(kind));
        return NULL;
    }
    return st;
}

cf_state_t *
cf_kstate_register(cf_kstate_backend_t *b, const char *name,
                   cf_state_kind_t kind, cf_reduce_fn fn, cf_ctx_t *fn_ctx,
                   cf_error_t **errp)
{
    cf_state_t *st;

    if (kind == CF_STATE_REDUCING && fn == NULL) {
        cf_error_set(errp, CF_EINVAL,
                     "ReducingState '%s' needs a reduce function",
                     name ? name : "");
        return NULL;
    }
    if (kind == CF_STATE_AGGREGATING) {
        cf_error_set(errp, CF_EINVAL,
                     "AggregatingState '%s' needs aggregate functions "
                     "(cf_kstate_register_agg)",
                     name ? name : "");
        return NULL;
    }
    st = cf_kstate_find_or_create(b, name, kind, errp);
    /* A restored state learns its function when the operator opens. */
    if (st != NULL && kind == CF_STATE_REDUCING) {
        st->fn = fn;
        st->fn_ctx = fn_ctx;
    }
    return st;
}

cf_state_t *
cf_kstate_register_agg(cf_kstate_backend_t *b, const char *name,
                       const cf_agg_ops_t *ops, cf_ctx_t *fn_ctx,
                       cf_error_t **errp)
{
    cf_state_t *st;

    if (ops == NULL ||
        ops->size < offsetof(cf_agg_ops_t, result) + sizeof ops->result ||
        ops->add == NULL || ops->result == NULL) {
        cf_error_set(errp, CF_EINVAL,
                     "AggregatingState '%s' needs add and result functions",
                     name ? name : "");
        return NULL;
    }
    st = cf_kstate_find_or_create(b, name, CF_STATE_AGGREGATING, errp);
    if (st != NULL) {
        st->agg = ops;
        st->fn_ctx = fn_ctx;
    }
    return st;
}

const char *
cf_kstate_name(cf_state_t *st)
{
    return st->name;
}

cf_state_kind_t
cf_kstate_kind(cf_state_t *st)
{
    return st->kind;
}

uint64_t
cf_kstate_probe_count(cf_state_t *st)
{
    return st->probes;
}

uint64_t
cf_kstate_size(cf_state_t *st)
{
    return st->t.count;
}

uint64_t
cf_kstate_backend_bytes(cf_kstate_backend_t *b)
{
    uint64_t n = sizeof *b + b->states_cap * sizeof(cf_state_t *) +
                 b->ret_blocks * sizeof(cf_kstate_ret_block_t) +
                 b->snap_bytes;

    for (size_t i = 0; i < b->nstates; i++)
        n += sizeof(cf_state_t) + strlen(b->states[i]->name) + 1 +
             b->states[i]->bytes;
    return n;
}

/* ------------------------------------------------------------------ */
/* Insert, remove, clear                                               */
/* ------------------------------------------------------------------ */

cf_kstate_entry_t *
cf_kstate_insert_current(cf_state_t *st, uint32_t slot, cf_kstate_entry_t *e)
{
    cf_kstate_backend_t *b = st->b;

    e->kg = (uint16_t)b->key_group;
    if (e->flags & CF_KSTATE_F_TTL)
        cf_kstate_entry_set_deadline(e, b->now_ms() + st->ttl_ms);
    slot = cf_kstate_pt_insert(st, slot, b->key_hash, e);
    /* TTL states are not cached (their lookups check the deadline). */
    st->cache_gen = st->ttl_ms != 0 ? CF_KSTATE_CACHE_NONE : b->gen;
    st->cache_slot = slot;
    st->cache_sp = cf_kstate_pt_slot(&st->t, slot);
    st->cache_found = 1;
    return e;
}

void
cf_kstate_remove_slot(cf_state_t *st, uint32_t slot)
{
    cf_kstate_slot_t *s = cf_kstate_pt_slot(&st->t, slot);
    cf_kstate_entry_t *e = s->e;
    int shared = s->ver <= st->b->cow_ver;

    cf_kstate_pt_delete(st, slot);
    if (shared)
        cf_kstate_retire(st, CF_KSTATE_RET_ENTRY, e);
    else
        cf_kstate_entry_destroy(st, e);
    st->cache_gen = CF_KSTATE_CACHE_NONE;
}

int
cf_kstate_clear(cf_state_t *st)
{
    uint32_t slot;
    cf_kstate_slot_t *sp;
    int rc = cf_kstate_lookup(st, &slot, &sp);

    if (rc <= 0)
        return rc;
    cf_kstate_remove_slot(st, slot);
    return CF_OK;
}

/* ------------------------------------------------------------------ */
/* TTL                                                                 */
/* ------------------------------------------------------------------ */

int
cf_kstate_ttl_lookup(cf_state_t *st, int found, int rd, uint32_t *slot,
                     cf_kstate_slot_t **sp)
{
    cf_kstate_backend_t *b = st->b;
    cf_kstate_entry_t *e;

    /* Never cached: the deadline is checked at every access. */
    st->cache_gen = CF_KSTATE_CACHE_NONE;
    if (!found)
        return 0;
    e = (*sp)->e;
    if (!(e->flags & CF_KSTATE_F_TTL))
        return 1;
    if (cf_kstate_entry_deadline(e) <= b->now_ms()) {
        /* Expired: never returned again (NeverReturnExpired); dropped. */
        cf_kstate_remove_slot(st, *slot);
        found = cf_kstate_pt_probe(&st->t, b->key_hash, b->key, b->key_len,
                                   slot, sp);
        CF_ASSERT(!found);
        return 0;
    }
    if (rd && st->ttl_rw) {
        cf_kstate_wentry_slow(st, *slot, *sp, 0);
        *sp = cf_kstate_pt_slot(&st->t, *slot); /* its page may be new */
    }
    return 1;
}

void
cf_kstate_ttl_touch(cf_state_t *st, cf_kstate_entry_t *e)
{
    if (e->flags & CF_KSTATE_F_TTL)
        cf_kstate_entry_set_deadline(e, st->b->now_ms() + st->ttl_ms);
}

cf_kstate_entry_t *
cf_kstate_wentry_slow(cf_state_t *st, uint32_t i, cf_kstate_slot_t *sp,
                      uint32_t vcap)
{
    cf_kstate_entry_t *e = sp->e;

    if (sp->ver <= st->b->cow_ver)
        e = cf_kstate_cow_entry(st, i, vcap);
    if (st->ttl_ms != 0)
        cf_kstate_ttl_touch(st, e);
    return e;
}

void
cf_kstate_update_wlimits(cf_kstate_backend_t *b)
{
    for (size_t i = 0; i < b->nstates; i++) {
        cf_state_t *st = b->states[i];
        st->wlimit = st->ttl_ms != 0 ? UINT32_MAX : b->cow_ver;
    }
}

int
cf_kstate_set_ttl(cf_state_t *st, int64_t ttl_ms, int update_type)
{
    cf_kstate_backend_t *b = st->b;

    if (ttl_ms <= 0 || (update_type != CF_TTL_ON_CREATE_AND_WRITE &&
                        update_type != CF_TTL_ON_READ_AND_WRITE)) {
        cf_log_error("State '%s': invalid TTL (%lld ms, update type %d)",
                     st->name, (long long)ttl_ms, update_type);
        return CF_EINVAL;
    }
    if (st->opmode >= 0) {
        cf_log_error("Operator state '%s' cannot have a TTL", st->name);
        return CF_EINVAL;
    }
    if (st->t.count > 0 && !st->restored &&
        (st->ttl_ms != ttl_ms ||
         st->ttl_rw != (update_type == CF_TTL_ON_READ_AND_WRITE))) {
        cf_log_error("State '%s': a TTL can only be set before the state "
                     "holds entries",
                     st->name);
        return CF_EINVAL;
    }
    if (st->t.count > 0 && b->cow_ver != 0) {
        cf_log_error("State '%s': a TTL cannot be set while a snapshot is "
                     "running",
                     st->name);
        return CF_EINVAL;
    }
    /* Restored entries without a deadline get one now (a state restored
     * from a job without TTL). */
    for (uint32_t p = 0; st->t.count > 0 && p < st->t.npages; p++) {
        for (uint32_t i = 0; i < st->t.dir[p]->nslots; i++) {
            cf_kstate_slot_t *s = &st->t.dir[p]->slots[i];
            cf_kstate_entry_t *o = s->e, *e;
            size_t koff;
            if (o == NULL || (o->flags & CF_KSTATE_F_TTL))
                continue;
            koff = cf_kstate_koff(o->klen);
            e = cf_kstate_entry_new(o->data, o->klen, o->vcap,
                                    CF_KSTATE_F_TTL, &st->bytes);
            e->kg = o->kg;
            e->vlen = o->vlen;
            /* The payload moves bitwise: what it owns goes with it. */
            memcpy(e->data + koff, o->data + koff, o->vlen);
            cf_kstate_entry_set_deadline(e, b->now_ms() + ttl_ms);
            cf_kstate_entry_free(o, &st->bytes);
            cf_kstate_replace_entry(st, p * CF_KSTATE_PAGE_SLOTS + i, e);
        }
    }
    st->ttl_ms = ttl_ms;
    st->ttl_rw = update_type == CF_TTL_ON_READ_AND_WRITE;
    st->cache_gen = CF_KSTATE_CACHE_NONE;
    cf_kstate_update_wlimits(b);
    return CF_OK;
}

void
cf_kstate_backend_set_clock(cf_kstate_backend_t *b, int64_t (*now_ms)(void))
{
    b->now_ms = now_ms != NULL ? now_ms : cf_now_ms;
}

/* ------------------------------------------------------------------ */
/* Restore                                                             */
/* ------------------------------------------------------------------ */

cf_state_t *
cf_kstate_restore_state(cf_kstate_backend_t *b, const char *name,
                        cf_state_kind_t kind, cf_error_t **errp)
{
    cf_state_t *st = cf_kstate_find_or_create(b, name, kind, errp);

    if (st != NULL)
        st->restored = 1;
    return st;
}

/* The key group of a restored key, or -1 (logged) outside b's range. */
static int
cf_kstate_restore_kg(cf_state_t *st, uint32_t hash)
{
    cf_kstate_backend_t *b = st->b;
    int kg = cf_keygroup_of_hash(hash, b->max_parallelism);

    if (kg < b->kg_start || kg > b->kg_end) {
        cf_log_error("State '%s': a restored key of key group %d is outside "
                     "this backend's key groups [%d, %d]",
                     st->name, kg, b->kg_start, b->kg_end);
        return -1;
    }
    return kg;
}

static uint32_t
cf_kstate_restore_flags(int64_t expires_ms)
{
    return expires_ms != 0 ? CF_KSTATE_F_TTL : 0;
}

/* Insert e (absent, probe gave slot) for a restored key. */
static void
cf_kstate_restore_insert(cf_state_t *st, uint32_t slot, uint32_t hash,
                         int kg, cf_kstate_entry_t *e, int64_t expires_ms)
{
    e->kg = (uint16_t)kg;
    if (e->flags & CF_KSTATE_F_TTL)
        cf_kstate_entry_set_deadline(e, expires_ms);
    cf_kstate_pt_insert(st, slot, hash, e);
    st->cache_gen = CF_KSTATE_CACHE_NONE;
}

/* Whether block is a well-formed list block of [u32 len][bytes] items. */
static int
cf_kstate_list_block_ok(const uint8_t *p, uint32_t n)
{
    uint32_t off = 0, len;

    while (off < n) {
        if (n - off < 4)
            return 0;
        memcpy(&len, p + off, 4);
        off += 4;
        if (len > n - off)
            return 0;
        off += len;
    }
    return 1;
}

int
cf_kstate_restore_put(cf_state_t *st, const void *key, uint32_t klen,
                      uint32_t hash, const void *payload, uint32_t plen,
                      int64_t expires_ms)
{
    uint32_t slot, vcap;
    cf_kstate_slot_t *sp;
    cf_kstate_entry_t *e;
    int kg;

    if (st->kind == CF_STATE_MAP) {
        cf_log_error("State '%s' is a MapState: restore its entries with "
                     "cf_kstate_restore_map_put",
                     st->name);
        return CF_EINVAL;
    }
    if ((kg = cf_kstate_restore_kg(st, hash)) < 0)
        return CF_EINVAL;
    if (plen > 0 && payload == NULL)
        return CF_EINVAL;
    if (st->kind == CF_STATE_LIST && !cf_kstate_list_block_ok(payload, plen)) {
        cf_log_error("ListState '%s': a restored list block of %u bytes is "
                     "malformed",
                     st->name, plen);
        return CF_EINVAL;
    }
    if (expires_ms != 0 && expires_ms <= st->b->now_ms())
        return CF_OK; /* expired: never returned, not restored */
    if (cf_kstate_pt_probe(&st->t, hash, key, klen, &slot, &sp)) {
        /* A key twice (last wins). */
        cf_kstate_remove_slot(st, slot);
        cf_kstate_pt_probe(&st->t, hash, key, klen, &slot, &sp);
    }
    vcap = st->kind == CF_STATE_REDUCING || st->kind == CF_STATE_AGGREGATING
               ? (uint32_t)sizeof(cf_buf_t)
               : plen;
    e = cf_kstate_entry_new(key, klen, vcap,
                            cf_kstate_restore_flags(expires_ms), &st->bytes);
    if (st->kind == CF_STATE_REDUCING || st->kind == CF_STATE_AGGREGATING) {
        cf_buf_t *acc = (cf_buf_t *)cf_kstate_entry_val(e);
        acc->data = plen ? cf_malloc(plen) : NULL;
        if (plen > 0)
            memcpy(acc->data, payload, plen);
        acc->len = acc->cap = plen;
        st->bytes += plen;
        e->vlen = sizeof(cf_buf_t);
    } else {
        if (plen > 0)
            memcpy(cf_kstate_entry_val(e), payload, plen);
        e->vlen = plen;
    }
    cf_kstate_restore_insert(st, slot, hash, kg, e, expires_ms);
    return CF_OK;
}

int
cf_kstate_restore_map_put(cf_state_t *st, const void *key, uint32_t klen,
                          uint32_t hash, const void *uk, uint32_t uklen,
                          const void *uv, uint32_t uvlen, int64_t expires_ms)
{
    uint32_t slot, j, h;
    cf_kstate_slot_t *sp;
    cf_kstate_entry_t *e, *me;
    cf_kstate_table_t *m;
    int kg;

    if (st->kind != CF_STATE_MAP) {
        cf_log_error("State '%s' is a %s, not a MapState", st->name,
                     cf_state_kind_name(st->kind));
        return CF_EINVAL;
    }
    if ((kg = cf_kstate_restore_kg(st, hash)) < 0)
        return CF_EINVAL;
    if ((uklen > 0 && uk == NULL) || (uvlen > 0 && uv == NULL))
        return CF_EINVAL;
    if (expires_ms != 0 && expires_ms <= st->b->now_ms())
        return CF_OK;
    if (cf_kstate_pt_probe(&st->t, hash, key, klen, &slot, &sp)) {
        e = sp->ver <= st->b->cow_ver ? cf_kstate_cow_entry(st, slot, 0)
                                      : sp->e;
        if (expires_ms != 0 && (e->flags & CF_KSTATE_F_TTL))
            cf_kstate_entry_set_deadline(e, expires_ms);
    } else {
        e = cf_kstate_entry_new(key, klen, sizeof(cf_kstate_table_t),
                                cf_kstate_restore_flags(expires_ms),
                                &st->bytes);
        e->vlen = sizeof(cf_kstate_table_t);
        cf_kstate_table_init((cf_kstate_table_t *)cf_kstate_entry_val(e),
                             8, &st->bytes);
        cf_kstate_restore_insert(st, slot, hash, kg, e, expires_ms);
    }
    m = (cf_kstate_table_t *)cf_kstate_entry_val(e);
    h = cf_murmur3_32(uk, uklen, 0);
    if (cf_kstate_table_probe(m, h, uk, uklen, &j)) {
        me = m->slots[j].e;
        cf_kstate_table_delete(m, j);
        cf_kstate_entry_free(me, &st->bytes);
        cf_kstate_table_probe(m, h, uk, uklen, &j);
    }
    me = cf_kstate_entry_new(uk, uklen, uvlen, 0, &st->bytes);
    if (uvlen > 0)
        memcpy(cf_kstate_entry_val(me), uv, uvlen);
    me->vlen = uvlen;
    cf_kstate_table_insert(m, j, h, me, &st->bytes);
    st->cache_gen = CF_KSTATE_CACHE_NONE;
    return CF_OK;
}

/* ------------------------------------------------------------------ */
/* Buffers of reduce functions                                         */
/* ------------------------------------------------------------------ */

int
cf_kstate_buf_reserve(cf_buf_t *buf, uint32_t cap)
{
    uint64_t n;

    if (cap <= buf->cap)
        return CF_OK;
    n = (uint64_t)buf->cap * 2;
    if (n < cap)
        n = cap;
    if (n > UINT32_MAX)
        n = UINT32_MAX;
    buf->data = cf_realloc(buf->data, (size_t)n);
    buf->cap = (uint32_t)n;
    return CF_OK;
}

/* ------------------------------------------------------------------ */
/* Walks                                                               */
/* ------------------------------------------------------------------ */

void
cf_kstate_view_of(cf_state_kind_t kind, uint32_t hash,
                  const cf_kstate_entry_t *e, cf_kstate_entry_view_t *ev)
{
    ev->key.data = e->data;
    ev->key.len = e->klen;
    ev->hash = hash;
    ev->key_group = e->kg;
    ev->kind = kind;
    ev->entry = e;
    switch (kind) {
    case CF_STATE_MAP:
        ev->value.data = NULL;
        ev->value.len = 0;
        break;
    case CF_STATE_REDUCING:
    case CF_STATE_AGGREGATING: {
        const cf_buf_t *buf = (const cf_buf_t *)cf_kstate_entry_val(e);
        ev->value.data = buf->data;
        ev->value.len = buf->len;
        break;
    }
    default:
        ev->value.data = cf_kstate_entry_val(e);
        ev->value.len = e->vlen;
        break;
    }
}

int64_t
cf_kstate_view_expires(const cf_kstate_entry_view_t *ev)
{
    return cf_kstate_entry_deadline(ev->entry);
}

int
cf_kstate_foreach(cf_state_t *st, cf_kstate_entry_cb cb, void *ud)
{
    cf_kstate_entry_view_t ev;

    for (uint32_t i = 0; i <= st->t.mask; i++) {
        const cf_kstate_slot_t *s = cf_kstate_pt_slot(&st->t, i);
        int rc;
        if (s->e == NULL)
            continue;
        cf_kstate_view_of(st->kind, s->hash, s->e, &ev);
        rc = cb(ud, &ev);
        if (rc < 0)
            return rc;
    }
    return CF_OK;
}

int
cf_kstate_foreach_by_key_group(cf_state_t *st, cf_kstate_entry_cb cb,
                               void *ud)
{
    cf_kstate_backend_t *b = st->b;
    size_t nkg = (size_t)(b->kg_end - b->kg_start + 1);
    uint32_t *start, *order;
    cf_kstate_entry_view_t ev;
    int rc = CF_OK;

    if (st->t.count == 0)
        return CF_OK;
    /* Counting sort of the occupied slots by key group. */
    start = cf_calloc(nkg + 1, sizeof *start);
    order = cf_malloc((size_t)st->t.count * sizeof *order);
    for (uint32_t i = 0; i <= st->t.mask; i++) {
        cf_kstate_entry_t *e = cf_kstate_pt_slot(&st->t, i)->e;
        if (e != NULL) {
            CF_ASSERT(e->kg >= b->kg_start && e->kg <= b->kg_end);
            start[e->kg - b->kg_start + 1]++;
        }
    }
    for (size_t g = 0; g < nkg; g++)
        start[g + 1] += start[g];
    for (uint32_t i = 0; i <= st->t.mask; i++) {
        cf_kstate_entry_t *e = cf_kstate_pt_slot(&st->t, i)->e;
        if (e != NULL)
            order[start[e->kg - b->kg_start]++] = i;
    }
    for (uint32_t n = 0; n < st->t.count; n++) {
        const cf_kstate_slot_t *s = cf_kstate_pt_slot(&st->t, order[n]);
        cf_kstate_view_of(st->kind, s->hash, s->e, &ev);
        rc = cb(ud, &ev);
        if (rc < 0)
            break;
    }
    cf_free(order);
    cf_free(start);
    return rc < 0 ? rc : CF_OK;
}

int
cf_kstate_view_map_iter(const cf_kstate_entry_view_t *ev, cf_map_iter_t *it)
{
    const cf_kstate_table_t *m;

    memset(it, 0, sizeof *it);
    if (ev->kind != CF_STATE_MAP)
        return CF_EINVAL;
    m = (const cf_kstate_table_t *)cf_kstate_entry_val(ev->entry);
    it->p[0] = m->slots;
    it->i[0] = 0;
    it->i[1] = (uint64_t)m->mask + 1;
    return CF_OK;
}

int
cf_kstate_backend_foreach_state(cf_kstate_backend_t *b,
                                cf_kstate_state_cb cb, void *ud)
{
    for (size_t i = 0; i < b->nstates; i++) {
        int rc = cb(ud, b->states[i]);
        if (rc < 0)
            return rc;
    }
    return CF_OK;
}
