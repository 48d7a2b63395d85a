/*
 * state_table.c: the open-addressing tables and the entries of the heap
 * keyed state backend (see state_int.h). A state's key table and the user
 * map of a MapState entry are the same structure.
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

cf_kstate_entry_t *
cf_kstate_entry_new(const void *key, uint32_t klen, uint32_t vcap,
                    uint64_t *bytes)
{
    size_t size = cf_kstate_entry_size(klen, vcap);
    cf_kstate_entry_t *e = cf_malloc(size);

    e->klen = klen;
    e->vlen = 0;
    e->vcap = vcap;
    e->kg = 0;
    e->flags = 0;
    if (klen > 0)
        memcpy(e->data, key, klen);
    *bytes += size;
    return e;
}

cf_kstate_entry_t *
cf_kstate_entry_resize(cf_kstate_entry_t *e, uint32_t vcap, uint64_t *bytes)
{
    size_t old = cf_kstate_entry_size(e->klen, e->vcap);
    size_t size = cf_kstate_entry_size(e->klen, vcap);

    e = cf_realloc(e, size);
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
    *bytes -= cf_kstate_entry_size(e->klen, e->vcap);
    cf_free(e);
}
