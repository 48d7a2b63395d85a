/*
 * state_table.c: the open-addressing tables and the entries of the heap
 * keyed state backend (see state_int.h): the flat table of a MapState
 * entry's user map, the paged table of a state's keys with its
 * copy-on-write of pages and entries, entry allocation, deep copies and
 * the retire list.
 *
 * Linear probing keeps a probe run in one or two cache lines (a slot is
 * 16 bytes); the hash in the slot avoids touching an entry whose hash
 * differs; the table grows by doubling at a load of 3/4, re-placing slots
 * by their stored hash without touching any entry. Deletion shifts the
 * rest of the probe run back, so there are no tombstones and a lookup of
 * an absent key stops at the first empty slot.
 */
#include "state_int.h"

#include <stdlib.h>
#include <string.h>

static void
cf_kstate_table_alloc(cf_kstate_table_t *t, uint32_t cap, uint64_t *bytes)
{
    uint32_t log2 = 0;

    CF_ASSERT(cap >= CF_KSTATE_MIN_CAP && (cap & (cap - 1)) == 0);
    CF_ASSERT(cap <= (1u << 31));
    while ((1u << log2) < cap)
        log2++;
    t->slots = cf_calloc(cap, sizeof(cf_kstate_slot_t));
    t->mask = cap - 1;
    t->shift = 32 - log2;
    t->grow_at = cap - cap / 4;
    *bytes += (uint64_t)cap * sizeof(cf_kstate_slot_t);
}

void
cf_kstate_table_init(cf_kstate_table_t *t, uint32_t cap, uint64_t *bytes)
{
    t->count = 0;
    cf_kstate_table_alloc(t, cap, bytes);
}

void
cf_kstate_table_deinit(cf_kstate_table_t *t, uint64_t *bytes)
{
    if (t->slots != NULL)
        *bytes -= ((uint64_t)t->mask + 1) * sizeof(cf_kstate_slot_t);
    cf_free(t->slots);
    memset(t, 0, sizeof *t);
}

static uint32_t
cf_kstate_table_empty_slot(const cf_kstate_table_t *t, uint32_t hash)
{
    uint32_t i = cf_kstate_home(hash, t->shift);

    while (t->slots[i].e != NULL)
        i = (i + 1) & t->mask;
    return i;
}

static void
cf_kstate_table_grow(cf_kstate_table_t *t, uint64_t *bytes)
{
    cf_kstate_table_t old = *t;
    uint32_t ocap = old.mask + 1;

    CF_ASSERT(ocap < (1u << 31));
    cf_kstate_table_alloc(t, ocap * 2, bytes);
    for (uint32_t i = 0; i < ocap; i++) {
        if (old.slots[i].e != NULL)
            t->slots[cf_kstate_table_empty_slot(t, old.slots[i].hash)] =
                old.slots[i];
    }
    cf_free(old.slots);
    *bytes -= (uint64_t)ocap * sizeof(cf_kstate_slot_t);
}

uint32_t
cf_kstate_table_insert(cf_kstate_table_t *t, uint32_t slot, uint32_t hash,
                       cf_kstate_entry_t *e, uint64_t *bytes)
{
    if (t->count >= t->grow_at) {
        cf_kstate_table_grow(t, bytes);
        slot = cf_kstate_table_empty_slot(t, hash);
    }
    t->slots[slot].hash = hash;
    t->slots[slot].ver = 0;
    t->slots[slot].e = e;
    t->count++;
    return slot;
}

void
cf_kstate_table_delete(cf_kstate_table_t *t, uint32_t i)
{
    uint32_t j = i;

    CF_ASSERT(t->slots[i].e != NULL && t->count > 0);
    for (;;) {
        uint32_t k;
        j = (j + 1) & t->mask;
        if (t->slots[j].e == NULL)
            break;
        k = cf_kstate_home(t->slots[j].hash, t->shift);
        /* The entry at j may move to the hole at i unless its home lies
         * cyclically in (i, j]. */
        if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
            continue;
        t->slots[i] = t->slots[j];
        i = j;
    }
    t->slots[i].e = NULL;
    t->slots[i].hash = 0;
    t->slots[i].ver = 0;
    t->count--;
}


/* ------------------------------------------------------------------ */
/* Paged tables                                                        */
/* ------------------------------------------------------------------ */

static size_t
cf_kstate_page_size(uint32_t nslots)
{
    return sizeof(cf_kstate_page_t) + (size_t)nslots * sizeof(cf_kstate_slot_t);
}

static cf_kstate_page_t *
cf_kstate_page_new(cf_state_t *st, uint32_t nslots)
{
    size_t size = cf_kstate_page_size(nslots);
    cf_kstate_page_t *pg = cf_calloc(1, size);

    pg->ver = st->b->cur_ver;
    pg->nslots = nslots;
    st->bytes += size;
    return pg;
}

static void
cf_kstate_page_free(cf_state_t *st, cf_kstate_page_t *pg)
{
    st->bytes -= cf_kstate_page_size(pg->nslots);
    cf_free(pg);
}

/* A page that leaves the live table: retired while a snapshot holds it. */
static void
cf_kstate_page_drop(cf_state_t *st, cf_kstate_page_t *pg)
{
    if (pg->ver <= st->b->cow_ver)
        cf_kstate_retire(st, CF_KSTATE_RET_PAGE, pg);
    else
        cf_kstate_page_free(st, pg);
}

static void
cf_kstate_pt_alloc(cf_state_t *st, cf_kstate_ptable_t *t, uint32_t cap)
{
    uint32_t log2 = 0, per;

    CF_ASSERT(cap >= CF_KSTATE_MIN_CAP && (cap & (cap - 1)) == 0);
    CF_ASSERT(cap <= (1u << 31));
    while ((1u << log2) < cap)
        log2++;
    per = cap < CF_KSTATE_PAGE_SLOTS ? cap : CF_KSTATE_PAGE_SLOTS;
    t->npages = cap / per;
    t->dir = cf_malloc((size_t)t->npages * sizeof *t->dir);
    for (uint32_t p = 0; p < t->npages; p++)
        t->dir[p] = cf_kstate_page_new(st, per);
    st->bytes += (uint64_t)t->npages * sizeof *t->dir;
    t->mask = cap - 1;
    t->shift = 32 - log2;
    t->grow_at = cap - cap / 4;
}

void
cf_kstate_pt_init(cf_state_t *st, uint32_t cap)
{
    st->t.count = 0;
    cf_kstate_pt_alloc(st, &st->t, cap);
}

void
cf_kstate_pt_deinit(cf_state_t *st)
{
    cf_kstate_ptable_t *t = &st->t;

    if (t->dir == NULL)
        return;
    for (uint32_t p = 0; p < t->npages; p++)
        cf_kstate_page_free(st, t->dir[p]);
    st->bytes -= (uint64_t)t->npages * sizeof *t->dir;
    cf_free(t->dir);
    memset(t, 0, sizeof *t);
}

cf_kstate_page_t *
cf_kstate_pt_cow_page(cf_state_t *st, uint32_t p)
{
    cf_kstate_page_t *old = st->t.dir[p];
    cf_kstate_page_t *pg = cf_malloc(cf_kstate_page_size(old->nslots));

    memcpy(pg, old, cf_kstate_page_size(old->nslots));
    pg->ver = st->b->cur_ver;
    st->bytes += cf_kstate_page_size(pg->nslots);
    st->t.dir[p] = pg;
    /* The cached slot of the current key moves with its page. */
    if ((st->cache_slot >> CF_KSTATE_PAGE_SHIFT) == p &&
        st->cache_gen != CF_KSTATE_CACHE_NONE)
        st->cache_sp = &pg->slots[st->cache_slot & CF_KSTATE_PAGE_MASK];
    cf_kstate_retire(st, CF_KSTATE_RET_PAGE, old);
    return pg;
}

static uint32_t
cf_kstate_pt_empty_slot(const cf_kstate_ptable_t *t, uint32_t hash)
{
    uint32_t i = cf_kstate_home(hash, t->shift);

    while (cf_kstate_pt_slot(t, i)->e != NULL)
        i = (i + 1) & t->mask;
    return i;
}

/* Double the capacity. The new pages are private; the old ones stay
 * intact for the snapshots that hold them (retired), and entries are
 * not touched (slots keep their versions). */
static void
cf_kstate_pt_grow(cf_state_t *st)
{
    cf_kstate_ptable_t old = st->t;
    uint32_t ocap = old.mask + 1;

    CF_ASSERT(ocap < (1u << 31));
    cf_kstate_pt_alloc(st, &st->t, ocap * 2);
    for (uint32_t p = 0; p < old.npages; p++) {
        cf_kstate_page_t *pg = old.dir[p];
        for (uint32_t i = 0; i < pg->nslots; i++) {
            if (pg->slots[i].e != NULL)
                *cf_kstate_pt_slot(&st->t, cf_kstate_pt_empty_slot(
                                               &st->t, pg->slots[i].hash)) =
                    pg->slots[i];
        }
        cf_kstate_page_drop(st, pg);
    }
    cf_free(old.dir);
    st->bytes -= (uint64_t)old.npages * sizeof *old.dir;
    st->cache_gen = CF_KSTATE_CACHE_NONE;
}

uint32_t
cf_kstate_pt_insert(cf_state_t *st, uint32_t slot, uint32_t hash,
                    cf_kstate_entry_t *e)
{
    cf_kstate_slot_t *s;

    if (st->t.count >= st->t.grow_at) {
        cf_kstate_pt_grow(st);
        slot = cf_kstate_pt_empty_slot(&st->t, hash);
    }
    s = cf_kstate_pt_wslot(st, slot);
    s->hash = hash;
    s->ver = st->b->cur_ver;
    s->e = e;
    st->t.count++;
    return slot;
}

void
cf_kstate_pt_delete(cf_state_t *st, uint32_t i)
{
    cf_kstate_ptable_t *t = &st->t;
    cf_kstate_slot_t *s;
    uint32_t j = i;

    CF_ASSERT(cf_kstate_pt_slot(t, i)->e != NULL && t->count > 0);
    for (;;) {
        cf_kstate_slot_t moved;
        uint32_t k;
        j = (j + 1) & t->mask;
        s = cf_kstate_pt_slot(t, j);
        if (s->e == NULL)
            break;
        k = cf_kstate_home(s->hash, t->shift);
        /* The entry at j may move to the hole at i unless its home lies
         * cyclically in (i, j]. */
        if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
            continue;
        moved = *s;
        *cf_kstate_pt_wslot(st, i) = moved;
        i = j;
    }
    s = cf_kstate_pt_wslot(st, i);
    s->e = NULL;
    s->hash = 0;
    s->ver = 0;
    t->count--;
}

/* ------------------------------------------------------------------ */
/* Entries                                                             */
/* ------------------------------------------------------------------ */

cf_kstate_entry_t *
cf_kstate_entry_new(const void *key, uint32_t klen, uint32_t vcap,
                    uint32_t flags, uint64_t *bytes)
{
    size_t size = cf_kstate_entry_size(klen, vcap, flags);
    cf_kstate_entry_t *e =
        (cf_kstate_entry_t *)((uint8_t *)cf_malloc(size) +
                              cf_kstate_pre(flags));

    e->klen = klen;
    e->vlen = 0;
    e->vcap = vcap;
    e->kg = 0;
    e->flags = (uint16_t)flags;
    if (klen > 0)
        memcpy(e->data, key, klen);
    if (flags & CF_KSTATE_F_TTL)
        cf_kstate_entry_set_deadline(e, 0);
    *bytes += size;
    return e;
}

cf_kstate_entry_t *
cf_kstate_entry_resize(cf_kstate_entry_t *e, uint32_t vcap, uint64_t *bytes)
{
    size_t old = cf_kstate_entry_bytes(e);
    size_t size = cf_kstate_entry_size(e->klen, vcap, e->flags);
    size_t pre = cf_kstate_pre(e->flags);

    e = (cf_kstate_entry_t *)((uint8_t *)cf_realloc(cf_kstate_entry_base(e),
                                                    size) +
                              pre);
    e->vcap = vcap;
    if (e->vlen > vcap)
        e->vlen = vcap;
    *bytes += size;
    *bytes -= old;
    return e;
}

void
cf_kstate_entry_free(cf_kstate_entry_t *e, uint64_t *bytes)
{
    if (e == NULL)
        return;
    *bytes -= cf_kstate_entry_bytes(e);
    cf_free(cf_kstate_entry_base(e));
}

void
cf_kstate_entry_destroy(cf_state_t *st, cf_kstate_entry_t *e)
{
    if (st->kind == CF_STATE_MAP) {
        cf_kstate_table_t *m = (cf_kstate_table_t *)cf_kstate_entry_val(e);
        for (uint32_t i = 0; i <= m->mask; i++)
            cf_kstate_entry_free(m->slots[i].e, &st->bytes);
        cf_kstate_table_deinit(m, &st->bytes);
    } else if (st->kind == CF_STATE_REDUCING ||
               st->kind == CF_STATE_AGGREGATING) {
        cf_buf_t *buf = (cf_buf_t *)cf_kstate_entry_val(e);
        st->bytes -= buf->cap;
        cf_free(buf->data);
    }
    cf_kstate_entry_free(e, &st->bytes);
}

cf_kstate_entry_t *
cf_kstate_entry_clone(cf_state_t *st, const cf_kstate_entry_t *e,
                      uint32_t vcap)
{
    cf_kstate_entry_t *c;
    size_t head, pre;

    if (vcap < e->vcap)
        vcap = e->vcap;
    pre = cf_kstate_pre(e->flags);
    c = (cf_kstate_entry_t *)((uint8_t *)cf_malloc(
                                  cf_kstate_entry_size(e->klen, vcap,
                                                       e->flags)) +
                              pre);
    /* Deadline, header, key and the payload in use. */
    head = sizeof *e + cf_kstate_koff(e->klen);
    memcpy((uint8_t *)c - pre, (const uint8_t *)e - pre, pre + head + e->vlen);
    c->vcap = vcap;
    st->bytes += cf_kstate_entry_bytes(c);
    if (st->kind == CF_STATE_MAP) {
        const cf_kstate_table_t *m =
            (const cf_kstate_table_t *)cf_kstate_entry_val(e);
        cf_kstate_table_t *n = (cf_kstate_table_t *)cf_kstate_entry_val(c);
        /* Same capacity and positions: slot indices stay valid. */
        cf_kstate_table_init(n, m->mask + 1, &st->bytes);
        n->count = m->count;
        for (uint32_t i = 0; i <= m->mask; i++) {
            const cf_kstate_entry_t *me = m->slots[i].e;
            cf_kstate_entry_t *ne;
            if (me == NULL)
                continue;
            ne = cf_kstate_entry_new(me->data, me->klen, me->vcap, 0,
                                     &st->bytes);
            memcpy(cf_kstate_entry_val(ne), cf_kstate_entry_val(me),
                   me->vlen);
            ne->vlen = me->vlen;
            n->slots[i] = m->slots[i];
            n->slots[i].e = ne;
        }
    } else if (st->kind == CF_STATE_REDUCING ||
               st->kind == CF_STATE_AGGREGATING) {
        const cf_buf_t *a = (const cf_buf_t *)cf_kstate_entry_val(e);
        cf_buf_t *b = (cf_buf_t *)cf_kstate_entry_val(c);
        b->data = a->cap ? cf_malloc(a->cap) : NULL;
        if (a->len > 0)
            memcpy(b->data, a->data, a->len);
        b->len = a->len;
        b->cap = a->cap;
        st->bytes += a->cap;
    }
    return c;
}

/* ------------------------------------------------------------------ */
/* Copy-on-write of entries, retire list                               */
/* ------------------------------------------------------------------ */

void
cf_kstate_retire(cf_state_t *st, uint32_t what, void *p)
{
    cf_kstate_backend_t *b = st->b;
    cf_kstate_ret_block_t *blk = b->ret_last;
    cf_kstate_retired_t *r;

    if (blk == NULL || blk->n == CF_KSTATE_RET_BLOCK) {
        if (b->ret_spare != NULL) {
            blk = b->ret_spare;
            b->ret_spare = NULL;
        } else {
            blk = cf_malloc(sizeof *blk);
            b->ret_blocks++;
        }
        blk->next = NULL;
        blk->head = blk->n = 0;
        if (b->ret_last != NULL)
            b->ret_last->next = blk;
        else
            b->ret_first = blk;
        b->ret_last = blk;
    }
    r = &blk->it[blk->n++];
    r->tag = b->cur_ver;
    r->what = what;
    r->st = st;
    r->p = p;
}

cf_kstate_entry_t *
cf_kstate_cow_entry(cf_state_t *st, uint32_t i, uint32_t vcap)
{
    cf_kstate_slot_t *s = cf_kstate_pt_slot(&st->t, i);
    cf_kstate_entry_t *old = s->e;
    cf_kstate_entry_t *e = cf_kstate_entry_clone(st, old, vcap);

    s = cf_kstate_pt_wslot(st, i);
    s->e = e;
    s->ver = st->b->cur_ver;
    cf_kstate_retire(st, CF_KSTATE_RET_ENTRY, old);
    return e;
}

void
cf_kstate_replace_entry(cf_state_t *st, uint32_t i, cf_kstate_entry_t *e)
{
    cf_kstate_pt_wslot(st, i)->e = e;
}
