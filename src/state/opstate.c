/*
 * opstate.c: operator (non-keyed) state of one operator instance: list
 * state (SPLIT and UNION redistribution) and broadcast map state, their
 * synchronous snapshot (a deep copy), the walk the state file writer
 * uses, and the restore helpers.
 *
 * An operator-state backend wraps a keyed backend of max parallelism 1
 * whose current key is fixed to the empty key, so a handle from
 * cf_opstate_register is an ordinary cf_state_t (a ListState or a
 * MapState) and the accessors of state.h (the host table's list_add,
 * map_put, ...) work on it unchanged; cf_state_t.opmode tells the
 * redistribution mode.
 *
 * Thread: task, except cf_opstate_snapshot_walk and
 * cf_opstate_snapshot_free (any thread; a snapshot is immutable).
 */
#include "state_int.h"

#include <stdlib.h>
#include <string.h>

struct cf_opstate_backend_s {
    cf_kstate_backend_t *kb;
};

/* One state in a snapshot: its list block ([u32 len][bytes] items) or
 * its map as a block of [u32 klen][k][u32 vlen][v] records. */
typedef struct cf_opstate_snap_rec_s {
    char *name;
    cf_opstate_mode_t mode;
    uint64_t n;
    uint8_t *block;
    size_t len;
} cf_opstate_snap_rec_t;

struct cf_opstate_snapshot_s {
    cf_opstate_snap_rec_t *recs;
    int n;
};

static const char cf_opstate_key[1] = {0};

static const char *
cf_opstate_mode_name(int mode)
{
    switch (mode) {
    case CF_OPSTATE_MODE_SPLIT:
        return "split list";
    case CF_OPSTATE_MODE_UNION:
        return "union list";
    case CF_OPSTATE_MODE_BROADCAST:
        return "broadcast";
    }
    return "unknown";
}

cf_opstate_backend_t *
cf_opstate_backend_new(const cf_host_api_t *api)
{
    cf_opstate_backend_t *o = CF_NEW(cf_opstate_backend_t);

    o->kb = cf_kstate_backend_new(api, 1, 0, 0);
    /* The fixed current key of every access: empty, hash 0, group 0. */
    cf_kstate_set_key(o->kb, cf_opstate_key, 0, 0);
    return o;
}

void
cf_opstate_backend_destroy(cf_opstate_backend_t *o)
{
    if (o == NULL)
        return;
    cf_kstate_backend_destroy(o->kb);
    cf_free(o);
}

cf_state_t *
cf_opstate_register(cf_opstate_backend_t *o, const char *name,
                    cf_opstate_mode_t mode, cf_error_t **errp)
{
    cf_kstate_backend_t *kb = o->kb;
    cf_state_kind_t kind;
    cf_state_t *st;

    if (name == NULL || name[0] == '\0') {
        cf_error_set(errp, CF_EINVAL, "An operator state needs a name");
        return NULL;
    }
    if (mode != CF_OPSTATE_MODE_SPLIT && mode != CF_OPSTATE_MODE_UNION &&
        mode != CF_OPSTATE_MODE_BROADCAST) {
        cf_error_set(errp, CF_EINVAL,
                     "Operator state '%s' has an unknown mode %d", name,
                     (int)mode);
        return NULL;
    }
    for (size_t i = 0; i < kb->nstates; i++) {
        st = kb->states[i];
        if (strcmp(st->name, name) != 0)
            continue;
        if (st->opmode != (int)mode) {
            cf_error_set(errp, CF_ESTATE,
                         "Operator state '%s' was registered as %s state "
                         "and cannot be re-registered as %s state",
                         name, cf_opstate_mode_name(st->opmode),
                         cf_opstate_mode_name(mode));
            return NULL;
        }
        return st;
    }
    kind = mode == CF_OPSTATE_MODE_BROADCAST ? CF_STATE_MAP : CF_STATE_LIST;
    st = cf_kstate_register(kb, name, kind, NULL, NULL, errp);
    if (st != NULL)
        st->opmode = (int)mode;
    return st;
}

int
cf_opstate_count(cf_opstate_backend_t *o)
{
    return (int)o->kb->nstates;
}

int
cf_opstate_mode(cf_state_t *st)
{
    return st->opmode >= 0 ? st->opmode : CF_EINVAL;
}

/* ------------------------------------------------------------------ */
/* Snapshot                                                            */
/* ------------------------------------------------------------------ */

static void
cf_opstate_append(cf_opstate_snap_rec_t *r, size_t *cap, const void *p,
                  size_t n)
{
    if (r->len + n > *cap) {
        size_t c = *cap ? *cap * 2 : 64;
        while (c < r->len + n)
            c *= 2;
        r->block = cf_realloc(r->block, c);
        *cap = c;
    }
    if (n > 0)
        memcpy(r->block + r->len, p, n);
    r->len += n;
}

/* The one entry (the empty key's) of an operator state, or NULL. */
static cf_kstate_entry_t *
cf_opstate_entry(cf_state_t *st)
{
    uint32_t slot;
    cf_kstate_slot_t *sp;

    if (st->t.count == 0 ||
        !cf_kstate_pt_probe(&st->t, 0, cf_opstate_key, 0, &slot, &sp))
        return NULL;
    return sp->e;
}

cf_opstate_snapshot_t *
cf_opstate_snapshot(cf_opstate_backend_t *o)
{
    cf_kstate_backend_t *kb = o->kb;
    cf_opstate_snapshot_t *s = CF_NEW(cf_opstate_snapshot_t);

    s->n = (int)kb->nstates;
    s->recs = cf_calloc(kb->nstates ? kb->nstates : 1, sizeof *s->recs);
    for (size_t i = 0; i < kb->nstates; i++) {
        cf_state_t *st = kb->states[i];
        cf_opstate_snap_rec_t *r = &s->recs[i];
        cf_kstate_entry_t *e = cf_opstate_entry(st);
        size_t cap = 0;

        r->name = cf_strdup(st->name);
        r->mode = (cf_opstate_mode_t)st->opmode;
        if (e == NULL)
            continue;
        if (st->kind == CF_STATE_LIST) {
            const uint8_t *p = cf_kstate_entry_val(e);
            uint32_t off = 0, len;
            cf_opstate_append(r, &cap, p, e->vlen);
            while (off + 4 <= e->vlen) {
                memcpy(&len, p + off, 4);
                off += 4 + len;
                r->n++;
            }
        } else {
            const cf_kstate_table_t *m =
                (const cf_kstate_table_t *)cf_kstate_entry_val(e);
            for (uint32_t j = 0; j <= m->mask; j++) {
                const cf_kstate_entry_t *me = m->slots[j].e;
                if (me == NULL)
                    continue;
                cf_opstate_append(r, &cap, &me->klen, 4);
                cf_opstate_append(r, &cap, me->data, me->klen);
                cf_opstate_append(r, &cap, &me->vlen, 4);
                cf_opstate_append(r, &cap, cf_kstate_entry_val(me),
                                  me->vlen);
                r->n++;
            }
        }
    }
    return s;
}

void
cf_opstate_snapshot_free(cf_opstate_snapshot_t *s)
{
    if (s == NULL)
        return;
    for (int i = 0; i < s->n; i++) {
        cf_free(s->recs[i].name);
        cf_free(s->recs[i].block);
    }
    cf_free(s->recs);
    cf_free(s);
}

int
cf_opstate_snapshot_count(const cf_opstate_snapshot_t *s)
{
    return s->n;
}

int
cf_opstate_snapshot_walk(const cf_opstate_snapshot_t *s,
                         cf_opstate_snap_state_cb st_cb,
                         cf_opstate_item_cb item_cb,
                         cf_opstate_entry_cb entry_cb, void *ud)
{
    for (int i = 0; i < s->n; i++) {
        const cf_opstate_snap_rec_t *r = &s->recs[i];
        const uint8_t *p = r->block, *end = r->block + r->len;
        int rc;

        if (st_cb != NULL && (rc = st_cb(ud, r->name, r->mode, r->n)) < 0)
            return rc;
        while (p != NULL && p < end) {
            uint32_t klen, vlen;
            memcpy(&klen, p, 4);
            if (r->mode != CF_OPSTATE_MODE_BROADCAST) {
                rc = item_cb != NULL ? item_cb(ud, p + 4, klen) : 0;
                p += 4 + klen;
            } else {
                memcpy(&vlen, p + 4 + klen, 4);
                rc = entry_cb != NULL ? entry_cb(ud, p + 4, klen,
                                                 p + 8 + klen, vlen)
                                      : 0;
                p += 8 + klen + vlen;
            }
            if (rc < 0)
                return rc;
        }
    }
    return CF_OK;
}

/* ------------------------------------------------------------------ */
/* Restore                                                             */
/* ------------------------------------------------------------------ */

int
cf_opstate_restore_add(cf_state_t *st, const void *data, uint32_t len)
{
    if (st->opmode != CF_OPSTATE_MODE_SPLIT &&
        st->opmode != CF_OPSTATE_MODE_UNION) {
        cf_log_error("State '%s' is not an operator list state", st->name);
        return CF_EINVAL;
    }
    return cf_kstate_list_add(st, data, len);
}

int
cf_opstate_restore_put(cf_state_t *st, const void *k, uint32_t klen,
                       const void *v, uint32_t vlen)
{
    if (st->opmode != CF_OPSTATE_MODE_BROADCAST) {
        cf_log_error("State '%s' is not an operator broadcast state",
                     st->name);
        return CF_EINVAL;
    }
    return cf_kstate_map_put(st, k, klen, v, vlen);
}
