/*
 * state.c: the heap keyed state backend: the backend and its current key,
 * state registration, clear, sizes, and the walks that tests and the
 * snapshot code use. The accessors of each state kind are in
 * state_value.c (value, list, reducing) and state_map.c (map); the tables
 * in state_table.c.
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
 * Thread: task. A backend and its states belong to one task thread; no
 * function here takes a lock.
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
    return b;
}

void
cf_kstate_entry_destroy(cf_state_t *st, cf_kstate_entry_t *e)
{
    if (st->kind == CF_STATE_MAP) {
        cf_kstate_table_t *m = (cf_kstate_table_t *)cf_kstate_entry_val(e);
        for (uint32_t i = 0; i <= m->mask; i++)
            cf_kstate_entry_free(m->slots[i].e, &st->bytes);
        cf_kstate_table_deinit(m, &st->bytes);
    } else if (st->kind == CF_STATE_REDUCING) {
        cf_buf_t *buf = (cf_buf_t *)cf_kstate_entry_val(e);
        st->bytes -= buf->cap;
        cf_free(buf->data);
    }
    cf_kstate_entry_free(e, &st->bytes);
}

static void
cf_kstate_state_destroy(cf_state_t *st)
{
    for (uint32_t i = 0; i <= st->t.mask; i++) {
        if (st->t.slots[i].e != NULL)
            cf_kstate_entry_destroy(st, st->t.slots[i].e);
    }
    cf_kstate_table_deinit(&st->t, &st->bytes);
    cf_free(st->name);
    cf_free(st);
}

void
cf_kstate_backend_destroy(cf_kstate_backend_t *b)
{
    if (b == NULL)
        return;
    for (size_t i = 0; i < b->nstates; i++)
        cf_kstate_state_destroy(b->states[i]);
    cf_free(b->states);
    cf_free(b);
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

cf_state_t *
cf_kstate_register(cf_kstate_backend_t *b, const char *name,
                   cf_state_kind_t kind, cf_reduce_fn fn, cf_ctx_t *fn_ctx,
                   cf_error_t **errp)
{
    cf_state_t *st;

    if (name == NULL || name[0] == '\0') {
        cf_error_set(errp, CF_EINVAL, "A keyed state needs a name");
        return NULL;
    }
    if (kind < CF_STATE_VALUE || kind > CF_STATE_REDUCING) {
        cf_error_set(errp, CF_EINVAL, "State '%s' has an unknown kind %d",
                     name, (int)kind);
        return NULL;
    }
    if (kind == CF_STATE_REDUCING && fn == NULL) {
        cf_error_set(errp, CF_EINVAL,
                     "ReducingState '%s' needs a reduce function", name);
        return NULL;
    }
    for (size_t i = 0; i < b->nstates; i++) {
        st = b->states[i];
        if (strcmp(st->name, name) != 0)
            continue;
        if (st->kind != kind) {
            cf_error_set(errp, CF_ESTATE,
                         "State '%s' was registered as %s and cannot be "
                         "re-registered as %s",
                         name, cf_state_kind_name(st->kind),
                         cf_state_kind_name(kind));
            return NULL;
        }
        /* A restored state learns its function when the operator opens. */
        if (kind == CF_STATE_REDUCING) {
            st->fn = fn;
            st->fn_ctx = fn_ctx;
        }
        return st;
    }

    st = CF_NEW(cf_state_t);
    st->api = b->api;
    st->b = b;
    st->kind = kind;
    st->cache_gen = CF_KSTATE_CACHE_NONE;
    st->fn = fn;
    st->fn_ctx = fn_ctx;
    st->name = cf_strdup(name);
    cf_kstate_table_init(&st->t, CF_KSTATE_STATE_CAP, &st->bytes);
    CF_GROW(&b->states, &b->states_cap, b->nstates + 1);
    b->states[b->nstates++] = st;
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
    uint64_t n = sizeof *b + b->states_cap * sizeof(cf_state_t *);

    for (size_t i = 0; i < b->nstates; i++)
        n += sizeof(cf_state_t) + strlen(b->states[i]->name) + 1 +
             b->states[i]->bytes;
    return n;
}

/* ------------------------------------------------------------------ */
/* Clear                                                               */
/* ------------------------------------------------------------------ */

void
cf_kstate_remove_slot(cf_state_t *st, uint32_t slot)
{
    cf_kstate_entry_t *e = st->t.slots[slot].e;

    cf_kstate_table_delete(&st->t, slot);
    cf_kstate_entry_destroy(st, e);
    st->cache_gen = CF_KSTATE_CACHE_NONE;
}

int
cf_kstate_clear(cf_state_t *st)
{
    uint32_t slot;
    int rc = cf_kstate_lookup(st, &slot);

    if (rc <= 0)
        return rc;
    cf_kstate_remove_slot(st, slot);
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

static void
cf_kstate_view(cf_state_t *st, const cf_kstate_slot_t *s,
               cf_kstate_entry_view_t *ev)
{
    cf_kstate_entry_t *e = s->e;

    ev->key.data = e->data;
    ev->key.len = e->klen;
    ev->hash = s->hash;
    ev->key_group = e->kg;
    ev->kind = st->kind;
    ev->entry = e;
    switch (st->kind) {
    case CF_STATE_MAP:
        ev->value.data = NULL;
        ev->value.len = 0;
        break;
    case CF_STATE_REDUCING: {
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

int
cf_kstate_foreach(cf_state_t *st, cf_kstate_entry_cb cb, void *ud)
{
    cf_kstate_entry_view_t ev;

    for (uint32_t i = 0; i <= st->t.mask; i++) {
        int rc;
        if (st->t.slots[i].e == NULL)
            continue;
        cf_kstate_view(st, &st->t.slots[i], &ev);
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
        cf_kstate_entry_t *e = st->t.slots[i].e;
        if (e != NULL) {
            CF_ASSERT(e->kg >= b->kg_start && e->kg <= b->kg_end);
            start[e->kg - b->kg_start + 1]++;
        }
    }
    for (size_t g = 0; g < nkg; g++)
        start[g + 1] += start[g];
    for (uint32_t i = 0; i <= st->t.mask; i++) {
        cf_kstate_entry_t *e = st->t.slots[i].e;
        if (e != NULL)
            order[start[e->kg - b->kg_start]++] = i;
    }
    for (uint32_t n = 0; n < st->t.count; n++) {
        cf_kstate_view(st, &st->t.slots[order[n]], &ev);
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
    m = (const cf_kstate_table_t *)cf_kstate_entry_val(
        (cf_kstate_entry_t *)ev->entry);
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
