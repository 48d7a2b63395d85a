/*
 * state_value.c: the accessors of ValueState, ListState and
 * ReducingState for the current key (see state.h).
 *
 * A value lives in its entry, after the key, 8-byte aligned; a put that
 * fits the allocated payload overwrites in place, and value_update hands
 * out a pointer into the entry. A list is one growable block of
 * [u32 len][len bytes] items in the entry (doubling on growth). A reducing
 * state's entry holds a cf_buf_t over a separate malloc block, which the
 * reduce function may realloc through cf_kstate_buf_reserve.
 *
 * Thread: task.
 */
#include "state_int.h"

#include <stdlib.h>
#include <string.h>

/* Whether p points into the block of e (a value handed back to us). */
static inline int
cf_kstate_in_entry(const cf_kstate_entry_t *e, const void *p)
{
    uintptr_t a = (uintptr_t)e;
    uintptr_t x = (uintptr_t)p;

    return x >= a && x < a + cf_kstate_entry_size(e->klen, e->vcap);
}

static inline uint32_t
cf_kstate_round8(uint32_t n)
{
    return n > UINT32_MAX - 7 ? UINT32_MAX : (n + 7) & ~7u;
}

/* ------------------------------------------------------------------ */
/* ValueState                                                          */
/* ------------------------------------------------------------------ */

int
cf_kstate_value_get(cf_state_t *st, cf_slice_t *out)
{
    uint32_t slot;
    int rc;
    cf_kstate_entry_t *e;

    if (__builtin_expect(st->kind != CF_STATE_VALUE, 0))
        return cf_kstate_err_kind(st, CF_STATE_VALUE);
    rc = cf_kstate_lookup(st, &slot);
    if (rc <= 0)
        return rc;
    e = st->t.slots[slot].e;
    out->data = cf_kstate_entry_val(e);
    out->len = e->vlen;
    return 1;
}

/* A new entry for the current key with a payload of vcap bytes. */
static cf_kstate_entry_t *
cf_kstate_new_current(cf_state_t *st, uint32_t slot, uint32_t vcap)
{
    cf_kstate_backend_t *b = st->b;
    cf_kstate_entry_t *e =
        cf_kstate_entry_new(b->key, b->key_len, vcap, &st->bytes);

    return cf_kstate_insert_current(st, slot, e);
}

/* Make room for len payload bytes in the entry at slot; returns the entry
 * (moved when it grew). The payload beyond the old length is undefined. */
static cf_kstate_entry_t *
cf_kstate_reserve_at(cf_state_t *st, uint32_t slot, uint32_t len)
{
    cf_kstate_entry_t *e = st->t.slots[slot].e;

    if (len > e->vcap) {
        e = cf_kstate_entry_resize(e, cf_kstate_round8(len), &st->bytes);
        st->t.slots[slot].e = e;
    }
    return e;
}

int
cf_kstate_value_put(cf_state_t *st, const void *data, uint32_t len)
{
    uint32_t slot;
    int rc;
    cf_kstate_entry_t *e;

    if (__builtin_expect(st->kind != CF_STATE_VALUE, 0))
        return cf_kstate_err_kind(st, CF_STATE_VALUE);
    rc = cf_kstate_lookup(st, &slot);
    if (rc < 0)
        return rc;
    if (rc == 0) {
        e = cf_kstate_new_current(st, slot, cf_kstate_round8(len));
        if (len > 0)
            memcpy(cf_kstate_entry_val(e), data, len);
        e->vlen = len;
        return CF_OK;
    }
    e = st->t.slots[slot].e;
    if (len <= e->vcap) {
        /* In place; memmove: data may be a slice of this very value. */
        if (len > 0)
            memmove(cf_kstate_entry_val(e), data, len);
        e->vlen = len;
        return CF_OK;
    }
    if (cf_kstate_in_entry(e, data)) {
        /* Growing would free data: copy it out first (rare). */
        void *copy = cf_malloc(len);
        memcpy(copy, data, len);
        e = cf_kstate_reserve_at(st, slot, len);
        memcpy(cf_kstate_entry_val(e), copy, len);
        cf_free(copy);
    } else {
        e = cf_kstate_reserve_at(st, slot, len);
        memcpy(cf_kstate_entry_val(e), data, len);
    }
    e->vlen = len;
    return CF_OK;
}

void *
cf_kstate_value_update(cf_state_t *st, uint32_t len, int *created)
{
    uint32_t slot;
    int rc;
    cf_kstate_entry_t *e;
    uint8_t *v;

    if (created != NULL)
        *created = 0;
    if (__builtin_expect(st->kind != CF_STATE_VALUE, 0)) {
        cf_kstate_err_kind(st, CF_STATE_VALUE);
        return NULL;
    }
    rc = cf_kstate_lookup(st, &slot);
    if (rc < 0)
        return NULL;
    if (rc == 0) {
        e = cf_kstate_new_current(st, slot, cf_kstate_round8(len));
        v = cf_kstate_entry_val(e);
        if (len > 0)
            memset(v, 0, len);
        e->vlen = len;
        if (created != NULL)
            *created = 1;
        return v;
    }
    e = st->t.slots[slot].e;
    if (__builtin_expect(len != e->vlen, 0)) {
        uint32_t old = e->vlen;
        e = cf_kstate_reserve_at(st, slot, len);
        if (len > old)
            memset(cf_kstate_entry_val(e) + old, 0, len - old);
        e->vlen = len;
    }
    return cf_kstate_entry_val(e);
}

/* ------------------------------------------------------------------ */
/* ListState                                                           */
/* ------------------------------------------------------------------ */

int
cf_kstate_list_add(cf_state_t *st, const void *data, uint32_t len)
{
    uint32_t slot, n32 = len;
    uint64_t need;
    int rc;
    cf_kstate_entry_t *e;
    uint8_t *p;

    if (__builtin_expect(st->kind != CF_STATE_LIST, 0))
        return cf_kstate_err_kind(st, CF_STATE_LIST);
    rc = cf_kstate_lookup(st, &slot);
    if (rc < 0)
        return rc;
    if (rc == 0) {
        if ((uint64_t)len + 4 > UINT32_MAX)
            goto too_big;
        e = cf_kstate_new_current(st, slot, len + 4);
    } else {
        e = st->t.slots[slot].e;
        need = (uint64_t)e->vlen + 4 + len;
        if (need > UINT32_MAX)
            goto too_big;
        if (need > e->vcap) {
            uint64_t cap = (uint64_t)e->vcap * 2;
            size_t off = 0;
            int inside = cf_kstate_in_entry(e, data);
            if (inside)
                off = (size_t)((const uint8_t *)data - (const uint8_t *)e);
            if (cap < need)
                cap = need;
            if (cap > UINT32_MAX)
                cap = UINT32_MAX;
            e = cf_kstate_entry_resize(e, (uint32_t)cap, &st->bytes);
            st->t.slots[slot].e = e;
            if (inside)
                data = (const uint8_t *)e + off;
        }
    }
    p = cf_kstate_entry_val(e) + e->vlen;
    memcpy(p, &n32, 4);
    if (len > 0)
        memcpy(p + 4, data, len);
    e->vlen += 4 + len;
    return CF_OK;

too_big:
    cf_log_error("ListState '%s': the list of the current key would exceed "
                 "4 GiB",
                 st->name);
    return CF_EINVAL;
}

int
cf_kstate_list_iter(cf_state_t *st, cf_list_iter_t *it)
{
    uint32_t slot;
    int rc;
    cf_kstate_entry_t *e;

    memset(it, 0, sizeof *it);
    if (__builtin_expect(st->kind != CF_STATE_LIST, 0))
        return cf_kstate_err_kind(st, CF_STATE_LIST);
    rc = cf_kstate_lookup(st, &slot);
    if (rc <= 0)
        return rc;
    e = st->t.slots[slot].e;
    it->p[0] = cf_kstate_entry_val(e);
    it->p[1] = cf_kstate_entry_val(e) + e->vlen;
    return CF_OK;
}

int
cf_kstate_list_next(cf_list_iter_t *it, cf_slice_t *item)
{
    const uint8_t *p = it->p[0];
    uint32_t len;

    if (p == NULL || p >= (const uint8_t *)it->p[1])
        return 0;
    memcpy(&len, p, 4);
    item->data = p + 4;
    item->len = len;
    it->p[0] = p + 4 + len;
    return 1;
}

/* ------------------------------------------------------------------ */
/* ReducingState                                                       */
/* ------------------------------------------------------------------ */

int
cf_kstate_reducing_add(cf_state_t *st, const void *data, uint32_t len,
                       int64_t ts)
{
    uint32_t slot, ocap;
    int rc;
    cf_kstate_entry_t *e;
    cf_buf_t *acc;
    cf_record_t rec;

    if (__builtin_expect(st->kind != CF_STATE_REDUCING, 0))
        return cf_kstate_err_kind(st, CF_STATE_REDUCING);
    rc = cf_kstate_lookup(st, &slot);
    if (rc < 0)
        return rc;
    if (rc == 0) {
        e = cf_kstate_new_current(st, slot, sizeof(cf_buf_t));
        e->vlen = sizeof(cf_buf_t);
        acc = (cf_buf_t *)cf_kstate_entry_val(e);
        acc->data = cf_malloc(len);
        if (len > 0)
            memcpy(acc->data, data, len);
        acc->len = len;
        acc->cap = len;
        st->bytes += len;
        return CF_OK;
    }
    e = st->t.slots[slot].e;
    acc = (cf_buf_t *)cf_kstate_entry_val(e);
    ocap = acc->cap;
    rec.data = data;
    rec.len = len;
    rec.ts = ts;
    /* The function folds into the stored buffer itself; whatever it
     * returns, the buffer it leaves (maybe realloc'ed) is the state's. */
    rc = st->fn(st->fn_ctx, acc, &rec);
    st->bytes += acc->cap;
    st->bytes -= ocap;
    if (acc->len > acc->cap) {
        cf_log_error("ReducingState '%s': the reduce function set a length "
                     "of %u bytes beyond its buffer of %u",
                     st->name, acc->len, acc->cap);
        acc->len = acc->cap;
        return rc < 0 ? rc : CF_EUSER;
    }
    return rc < 0 ? rc : CF_OK;
}

int
cf_kstate_reducing_get(cf_state_t *st, cf_slice_t *out)
{
    uint32_t slot;
    int rc;
    const cf_buf_t *acc;

    if (__builtin_expect(st->kind != CF_STATE_REDUCING, 0))
        return cf_kstate_err_kind(st, CF_STATE_REDUCING);
    rc = cf_kstate_lookup(st, &slot);
    if (rc <= 0)
        return rc;
    acc = (const cf_buf_t *)cf_kstate_entry_val(st->t.slots[slot].e);
    out->data = acc->data;
    out->len = acc->len;
    return 1;
}
