/*
 * state_value.c: the accessors of ValueState, ListState, ReducingState
 * and AggregatingState for the current key (see state.h).
 *
 * A value lives in its entry, after the key, 8-byte aligned; a put that
 * fits the allocated payload overwrites in place, and value_update hands
 * out a pointer into the entry. A list is one growable block of
 * [u32 len][len bytes] items in the entry (doubling on growth). A reducing
 * state's entry holds a cf_buf_t over a separate malloc block, which the
 * reduce function may realloc through cf_kstate_buf_reserve; an
 * aggregating state's likewise (the aggregate function's accumulator).
 *
 * Copy-on-write: a mutator first makes the current key's entry private
 * (cf_kstate_wentry: one compare of the slot's version while no snapshot
 * is alive); a growth of a shared entry is folded into its copy.
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

    return x >= a &&
           x < a + cf_kstate_entry_bytes(e) - cf_kstate_pre(e->flags);
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
    cf_kstate_slot_t *sp;
    int rc;
    cf_kstate_entry_t *e;

    if (__builtin_expect(st->kind != CF_STATE_VALUE, 0))
        return cf_kstate_err_kind(st, CF_STATE_VALUE);
    rc = cf_kstate_lookup_rd(st, &slot, &sp);
    if (rc <= 0)
        return rc;
    e = sp->e;
    out->data = cf_kstate_entry_val(e);
    out->len = e->vlen;
    return 1;
}

/* A new entry for the current key with a payload of vcap bytes. */
static cf_kstate_entry_t *
cf_kstate_new_current(cf_state_t *st, uint32_t slot, uint32_t vcap)
{
    cf_kstate_backend_t *b = st->b;
    cf_kstate_entry_t *e = cf_kstate_entry_new(
        b->key, b->key_len, vcap, cf_kstate_new_flags(st), &st->bytes);

    return cf_kstate_insert_current(st, slot, e);
}

/* Make room for len payload bytes in the private entry e at slot;
 * returns the entry (moved when it grew). The payload beyond the old
 * length is undefined. */
static cf_kstate_entry_t *
cf_kstate_reserve_at(cf_state_t *st, uint32_t slot, cf_kstate_entry_t *e,
                     uint32_t len)
{
    if (len > e->vcap) {
        e = cf_kstate_entry_resize(e, cf_kstate_round8(len), &st->bytes);
        cf_kstate_replace_entry(st, slot, e);
    }
    return e;
}

int
cf_kstate_value_put(cf_state_t *st, const void *data, uint32_t len)
{
    uint32_t slot;
    cf_kstate_slot_t *sp;
    int rc;
    cf_kstate_entry_t *e;

    if (__builtin_expect(st->kind != CF_STATE_VALUE, 0))
        return cf_kstate_err_kind(st, CF_STATE_VALUE);
    rc = cf_kstate_lookup(st, &slot, &sp);
    if (rc < 0)
        return rc;
    if (rc == 0) {
        e = cf_kstate_new_current(st, slot, cf_kstate_round8(len));
        if (len > 0)
            memcpy(cf_kstate_entry_val(e), data, len);
        e->vlen = len;
        return CF_OK;
    }
    /* A snapshot may see e: write a copy (data, even when it points into
     * e, stays valid: e is retired, not freed). */
    e = cf_kstate_wentry(st, slot, sp,
                         len > sp->e->vcap ? cf_kstate_round8(len) : 0);
    if (len > e->vcap) {
        if (cf_kstate_in_entry(e, data)) {
            /* Growing would free data: copy it out first (rare). */
            void *copy = cf_malloc(len);
            memcpy(copy, data, len);
            e = cf_kstate_reserve_at(st, slot, e, len);
            memcpy(cf_kstate_entry_val(e), copy, len);
            cf_free(copy);
            e->vlen = len;
            return CF_OK;
        }
        e = cf_kstate_reserve_at(st, slot, e, len);
    }
    /* In place; memmove: data may be a slice of this very value. */
    if (len > 0)
        memmove(cf_kstate_entry_val(e), data, len);
    e->vlen = len;
    return CF_OK;
}

void *
cf_kstate_value_update(cf_state_t *st, uint32_t len, int *created)
{
    uint32_t slot;
    cf_kstate_slot_t *sp;
    int rc;
    cf_kstate_entry_t *e;
    uint8_t *v;

    if (created != NULL)
        *created = 0;
    if (__builtin_expect(st->kind != CF_STATE_VALUE, 0)) {
        cf_kstate_err_kind(st, CF_STATE_VALUE);
        return NULL;
    }
    rc = cf_kstate_lookup(st, &slot, &sp);
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
    e = cf_kstate_wentry(st, slot, sp, 0);
    if (__builtin_expect(len != e->vlen, 0)) {
        uint32_t old = e->vlen;
        e = cf_kstate_reserve_at(st, slot, e, len);
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
    cf_kstate_slot_t *sp;
    uint64_t need;
    int rc;
    cf_kstate_entry_t *e;
    uint8_t *p;

    if (__builtin_expect(st->kind != CF_STATE_LIST, 0))
        return cf_kstate_err_kind(st, CF_STATE_LIST);
    rc = cf_kstate_lookup(st, &slot, &sp);
    if (rc < 0)
        return rc;
    if (rc == 0) {
        if ((uint64_t)len + 4 > UINT32_MAX)
            goto too_big;
        e = cf_kstate_new_current(st, slot, len + 4);
    } else {
        uint64_t cap = 0;
        e = sp->e;
        need = (uint64_t)e->vlen + 4 + len;
        if (need > UINT32_MAX)
            goto too_big;
        if (need > e->vcap) {
            cap = (uint64_t)e->vcap * 2;
            if (cap < need)
                cap = need;
            if (cap > UINT32_MAX)
                cap = UINT32_MAX;
        }
        if (__builtin_expect(sp->ver <= st->wlimit, 0)) {
            /* data stays valid: a shared block is retired, not freed */
            e = cf_kstate_wentry_slow(st, slot, sp, (uint32_t)cap);
            cap = need > e->vcap ? cap : 0;
        }
        if (cap > 0) {
            size_t off = 0;
            int inside = cf_kstate_in_entry(e, data);
            if (inside)
                off = (size_t)((const uint8_t *)data - (const uint8_t *)e);
            e = cf_kstate_entry_resize(e, (uint32_t)cap, &st->bytes);
            cf_kstate_replace_entry(st, slot, e);
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
    cf_kstate_slot_t *sp;
    int rc;
    cf_kstate_entry_t *e;

    memset(it, 0, sizeof *it);
    if (__builtin_expect(st->kind != CF_STATE_LIST, 0))
        return cf_kstate_err_kind(st, CF_STATE_LIST);
    rc = cf_kstate_lookup_rd(st, &slot, &sp);
    if (rc <= 0)
        return rc;
    e = sp->e;
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
/* ReducingState and AggregatingState                                  */
/* ------------------------------------------------------------------ */

/* The accumulator of the current key for a fold: created empty for an
 * absent key (*created = 1), else made private. */
static cf_buf_t *
cf_kstate_acc_of(cf_state_t *st, int rc, uint32_t slot, cf_kstate_slot_t *sp)
{
    cf_kstate_entry_t *e;
    cf_buf_t *acc;

    if (rc == 0) {
        e = cf_kstate_new_current(st, slot, sizeof(cf_buf_t));
        e->vlen = sizeof(cf_buf_t);
        acc = (cf_buf_t *)cf_kstate_entry_val(e);
        acc->data = NULL;
        acc->len = 0;
        acc->cap = 0;
        return acc;
    }
    e = cf_kstate_wentry(st, slot, sp, 0);
    return (cf_buf_t *)cf_kstate_entry_val(e);
}

/* After a user function folded into acc (capacity was ocap). */
static int
cf_kstate_acc_done(cf_state_t *st, cf_buf_t *acc, uint32_t ocap, int rc)
{
    st->bytes += acc->cap;
    st->bytes -= ocap;
    if (acc->len > acc->cap) {
        cf_log_error("%s '%s': the user function set a length of %u bytes "
                     "beyond its buffer of %u",
                     cf_state_kind_name(st->kind), st->name, acc->len,
                     acc->cap);
        acc->len = acc->cap;
        return rc < 0 ? rc : CF_EUSER;
    }
    return rc < 0 ? rc : CF_OK;
}

int
cf_kstate_reducing_add(cf_state_t *st, const void *data, uint32_t len,
                       int64_t ts)
{
    uint32_t slot;
    cf_kstate_slot_t *sp;
    int rc;
    cf_buf_t *acc;
    cf_record_t rec;

    if (__builtin_expect(st->kind != CF_STATE_REDUCING, 0))
        return cf_kstate_err_kind(st, CF_STATE_REDUCING);
    if (__builtin_expect(st->fn == NULL, 0)) {
        cf_log_error("ReducingState '%s' has no reduce function (restored "
                     "but not registered)",
                     st->name);
        return CF_ESTATE;
    }
    rc = cf_kstate_lookup(st, &slot, &sp);
    if (rc < 0)
        return rc;
    acc = cf_kstate_acc_of(st, rc, slot, sp);
    if (rc == 0) {
        /* The first value is stored as is. */
        acc->data = cf_malloc(len);
        if (len > 0)
            memcpy(acc->data, data, len);
        acc->len = len;
        acc->cap = len;
        st->bytes += len;
        return CF_OK;
    }
    rec.data = data;
    rec.len = len;
    rec.ts = ts;
    /* The function folds into the stored buffer itself; whatever it
     * returns, the buffer it leaves (maybe realloc'ed) is the state's. */
    {
        uint32_t ocap = acc->cap;
        rc = st->fn(st->fn_ctx, acc, &rec);
        return cf_kstate_acc_done(st, acc, ocap, rc);
    }
}

int
cf_kstate_reducing_get(cf_state_t *st, cf_slice_t *out)
{
    uint32_t slot;
    cf_kstate_slot_t *sp;
    int rc;
    const cf_buf_t *acc;

    if (__builtin_expect(st->kind != CF_STATE_REDUCING, 0))
        return cf_kstate_err_kind(st, CF_STATE_REDUCING);
    rc = cf_kstate_lookup_rd(st, &slot, &sp);
    if (rc <= 0)
        return rc;
    acc = (const cf_buf_t *)cf_kstate_entry_val(sp->e);
    out->data = acc->data;
    out->len = acc->len;
    return 1;
}

int
cf_kstate_aggregating_add(cf_state_t *st, const void *data, uint32_t len,
                          int64_t ts)
{
    uint32_t slot, ocap;
    cf_kstate_slot_t *sp;
    int rc;
    cf_buf_t *acc;
    cf_record_t rec;

    if (__builtin_expect(st->kind != CF_STATE_AGGREGATING, 0))
        return cf_kstate_err_kind(st, CF_STATE_AGGREGATING);
    if (__builtin_expect(st->agg == NULL, 0)) {
        cf_log_error("AggregatingState '%s' has no aggregate functions "
                     "(restored but not registered)",
                     st->name);
        return CF_ESTATE;
    }
    rc = cf_kstate_lookup(st, &slot, &sp);
    if (rc < 0)
        return rc;
    acc = cf_kstate_acc_of(st, rc, slot, sp);
    rec.data = data;
    rec.len = len;
    rec.ts = ts;
    ocap = acc->cap;
    rc = st->agg->add(st->fn_ctx, acc, &rec);
    return cf_kstate_acc_done(st, acc, ocap, rc);
}

int
cf_kstate_aggregating_get(cf_state_t *st, cf_slice_t *out)
{
    uint32_t slot;
    cf_kstate_slot_t *sp;
    int rc;
    const cf_buf_t *acc;
    cf_slice_t a;

    if (__builtin_expect(st->kind != CF_STATE_AGGREGATING, 0))
        return cf_kstate_err_kind(st, CF_STATE_AGGREGATING);
    if (__builtin_expect(st->agg == NULL, 0)) {
        cf_log_error("AggregatingState '%s' has no aggregate functions "
                     "(restored but not registered)",
                     st->name);
        return CF_ESTATE;
    }
    rc = cf_kstate_lookup_rd(st, &slot, &sp);
    if (rc <= 0)
        return rc;
    acc = (const cf_buf_t *)cf_kstate_entry_val(sp->e);
    a.data = acc->data;
    a.len = acc->len;
    st->out.len = 0;
    rc = st->agg->result(st->fn_ctx, &a, &st->out);
    if (rc < 0)
        return rc;
    if (st->out.len > st->out.cap) {
        cf_log_error("AggregatingState '%s': the result function set a "
                     "length of %u bytes beyond its buffer of %u",
                     st->name, st->out.len, st->out.cap);
        return CF_EUSER;
    }
    out->data = st->out.data;
    out->len = st->out.len;
    return 1;
}
