/*
 * state_map.c: the accessors of MapState for the current key (see
 * state.h).
 *
 * The payload of a MapState entry is a cf_kstate_table_t of its own: the
 * same open-addressing table as a state's key table, over entries that
 * hold a user key and its value (hash: murmur3 of the user key). Removing
 * the last user key removes the key's entry, as Flink's heap MapState
 * does, so cf_kstate_size counts keys with a non-empty map.
 *
 * Copy-on-write: the unit is the key's whole entry. The first change of a
 * map that a snapshot can see copies the entry with its user table and
 * user entries (cf_kstate_entry_clone keeps the slot positions).
 *
 * Thread: task.
 */
#include "state_int.h"

#include <stdlib.h>
#include <string.h>

#define CF_KSTATE_MAP_CAP 8u /* initial capacity of a user map */

static inline uint32_t
cf_kstate_map_hash(const void *k, uint32_t klen)
{
    return cf_murmur3_32(k, klen, 0);
}

/* The current key's user map for reading, or NULL (rc: 0 absent,
 * negative error). */
static inline cf_kstate_table_t *
cf_kstate_map_of(cf_state_t *st, int *rc)
{
    uint32_t slot;
    cf_kstate_slot_t *sp;

    if (__builtin_expect(st->kind != CF_STATE_MAP, 0)) {
        *rc = cf_kstate_err_kind(st, CF_STATE_MAP);
        return NULL;
    }
    *rc = cf_kstate_lookup_rd(st, &slot, &sp);
    if (*rc <= 0)
        return NULL;
    return (cf_kstate_table_t *)cf_kstate_entry_val(sp->e);
}

int
cf_kstate_map_get(cf_state_t *st, const void *k, uint32_t klen,
                  cf_slice_t *out)
{
    int rc;
    uint32_t j;
    cf_kstate_table_t *m = cf_kstate_map_of(st, &rc);
    cf_kstate_entry_t *me;

    if (m == NULL)
        return rc;
    if (!cf_kstate_table_probe(m, cf_kstate_map_hash(k, klen), k, klen, &j))
        return 0;
    me = m->slots[j].e;
    out->data = cf_kstate_entry_val(me);
    out->len = me->vlen;
    return 1;
}

int
cf_kstate_map_put(cf_state_t *st, const void *k, uint32_t klen,
                  const void *v, uint32_t vlen)
{
    cf_kstate_backend_t *b = st->b;
    uint32_t slot, j, h;
    cf_kstate_slot_t *sp;
    int rc;
    cf_kstate_entry_t *e, *me;
    cf_kstate_table_t *m;

    if (__builtin_expect(st->kind != CF_STATE_MAP, 0))
        return cf_kstate_err_kind(st, CF_STATE_MAP);
    rc = cf_kstate_lookup(st, &slot, &sp);
    if (rc < 0)
        return rc;
    if (rc == 0) {
        e = cf_kstate_entry_new(b->key, b->key_len, sizeof(cf_kstate_table_t),
                                cf_kstate_new_flags(st), &st->bytes);
        e->vlen = sizeof(cf_kstate_table_t);
        m = (cf_kstate_table_t *)cf_kstate_entry_val(e);
        cf_kstate_table_init(m, CF_KSTATE_MAP_CAP, &st->bytes);
        cf_kstate_insert_current(st, slot, e);
    } else {
        /* k and v may point into a shared entry: it is retired, not
         * freed, so they stay valid. */
        e = cf_kstate_wentry(st, slot, sp, 0);
        m = (cf_kstate_table_t *)cf_kstate_entry_val(e);
    }

    h = cf_kstate_map_hash(k, klen);
    if (cf_kstate_table_probe(m, h, k, klen, &j)) {
        me = m->slots[j].e;
        if (vlen <= me->vcap) {
            if (vlen > 0)
                memmove(cf_kstate_entry_val(me), v, vlen);
            me->vlen = vlen;
            return CF_OK;
        }
        /* A new entry, then free the old one: v may point into it. */
        e = cf_kstate_entry_new(k, klen, vlen, 0, &st->bytes);
        memcpy(cf_kstate_entry_val(e), v, vlen);
        e->vlen = vlen;
        m->slots[j].e = e;
        cf_kstate_entry_free(me, &st->bytes);
        return CF_OK;
    }
    me = cf_kstate_entry_new(k, klen, vlen, 0, &st->bytes);
    if (vlen > 0)
        memcpy(cf_kstate_entry_val(me), v, vlen);
    me->vlen = vlen;
    cf_kstate_table_insert(m, j, h, me, &st->bytes);
    return CF_OK;
}

int
cf_kstate_map_remove(cf_state_t *st, const void *k, uint32_t klen)
{
    uint32_t slot, j;
    cf_kstate_slot_t *sp;
    int rc;
    cf_kstate_entry_t *me, *e;
    cf_kstate_table_t *m;

    if (__builtin_expect(st->kind != CF_STATE_MAP, 0))
        return cf_kstate_err_kind(st, CF_STATE_MAP);
    rc = cf_kstate_lookup(st, &slot, &sp);
    if (rc <= 0)
        return rc;
    m = (cf_kstate_table_t *)cf_kstate_entry_val(sp->e);
    if (!cf_kstate_table_probe(m, cf_kstate_map_hash(k, klen), k, klen, &j))
        return CF_OK;
    if (m->count == 1) {
        /* The last user key: the key's entry goes. */
        cf_kstate_remove_slot(st, slot);
        return CF_OK;
    }
    /* The copy keeps the slot positions: j stays valid. */
    e = cf_kstate_wentry(st, slot, sp, 0);
    m = (cf_kstate_table_t *)cf_kstate_entry_val(e);
    me = m->slots[j].e;
    cf_kstate_table_delete(m, j);
    cf_kstate_entry_free(me, &st->bytes);
    return CF_OK;
}

int
cf_kstate_map_iter(cf_state_t *st, cf_map_iter_t *it)
{
    int rc;
    cf_kstate_table_t *m;

    memset(it, 0, sizeof *it);
    m = cf_kstate_map_of(st, &rc);
    if (m == NULL)
        return rc;
    it->p[0] = m->slots;
    it->i[0] = 0;
    it->i[1] = (uint64_t)m->mask + 1;
    return CF_OK;
}

int
cf_kstate_map_next(cf_map_iter_t *it, cf_slice_t *k, cf_slice_t *v)
{
    const cf_kstate_slot_t *slots = it->p[0];

    while (it->i[0] < it->i[1]) {
        cf_kstate_entry_t *me = slots[it->i[0]++].e;
        if (me == NULL)
            continue;
        if (k != NULL) {
            k->data = me->data;
            k->len = me->klen;
        }
        if (v != NULL) {
            v->data = cf_kstate_entry_val(me);
            v->len = me->vlen;
        }
        return 1;
    }
    return 0;
}

uint64_t
cf_kstate_map_size(cf_state_t *st)
{
    int rc;
    cf_kstate_table_t *m = cf_kstate_map_of(st, &rc);

    return m == NULL ? 0 : m->count;
}
