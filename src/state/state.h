/*
 * state.h: the heap ("hashmap") keyed state backend of one operator
 * instance: value, list, map and reducing state, held per key group.
 *
 * The runtime sets the current key (bytes, their murmur3 hash and key
 * group) once per record; every state access then refers to that key.
 * Entries remember their key group so that a snapshot (the checkpoint
 * issue) can write state per key group and a restore can redistribute key
 * groups to another parallelism.
 *
 * Hot path: looking up the current key's entry is one hash probe with the
 * precomputed hash; value_update returns a pointer into the entry so that
 * a counter is updated in place; nothing is allocated per access once a
 * key exists.
 *
 * Thread: a backend and its states belong to one task thread.
 */
#ifndef CF_STATE_H
#define CF_STATE_H

#include <stdint.h>

#include <cflink/cflink.h>

#include "core.h"

typedef enum cf_state_kind_e {
    CF_STATE_VALUE = 1,
    CF_STATE_LIST = 2,
    CF_STATE_MAP = 3,
    CF_STATE_REDUCING = 4,
} cf_state_kind_t;

const char *cf_state_kind_name(cf_state_kind_t kind); /* "ValueState", ... */

typedef struct cf_kstate_backend_s cf_kstate_backend_t;

/* A backend for the key groups [kg_start, kg_end] of max_parallelism.
 * api is stored in every cf_state_t handle (its first member), so the
 * plugin's inline wrappers reach the host table through it. */
cf_kstate_backend_t *cf_kstate_backend_new(const cf_host_api_t *api,
                                           int max_parallelism, int kg_start,
                                           int kg_end);
void cf_kstate_backend_destroy(cf_kstate_backend_t *b);

/* Set the current key. The bytes are borrowed until the next call (the
 * backend copies them only when it creates an entry). hash is
 * cf_murmur3_32(key, len, 0); the key group is hash % max_parallelism. */
void cf_kstate_set_key(cf_kstate_backend_t *b, const void *key, uint32_t len,
                       uint32_t hash);
int cf_kstate_current_key(cf_kstate_backend_t *b, cf_slice_t *key);
int cf_kstate_current_key_group(cf_kstate_backend_t *b);

/* Register (or find) a state by name. A second registration with the same
 * name and kind returns the same handle; with another kind it fails with
 * an error naming the state. For CF_STATE_REDUCING, fn and fn_ctx are the
 * reduce function and the ctx it is called with. */
cf_state_t *cf_kstate_register(cf_kstate_backend_t *b, const char *name,
                               cf_state_kind_t kind, cf_reduce_fn fn,
                               cf_ctx_t *fn_ctx, cf_error_t **errp);

/* Number of keys with a value in a state (tests, metrics). */
uint64_t cf_kstate_size(cf_state_t *st);
/* Total bytes held by the backend (keys, values, tables). */
uint64_t cf_kstate_backend_bytes(cf_kstate_backend_t *b);

/*
 * Accessors with the host table's signatures (the runtime puts them in
 * cf_host_api_t). All refer to the current key. Return values follow
 * cflink.h: getters return 1 (found) or 0 (absent); mutators CF_OK or a
 * negative code. Calling one on a state of another kind fails with
 * CF_ESTATE (and logs the state's name).
 */
int cf_kstate_value_get(cf_state_t *st, cf_slice_t *out);
int cf_kstate_value_put(cf_state_t *st, const void *data, uint32_t len);
void *cf_kstate_value_update(cf_state_t *st, uint32_t len, int *created);
int cf_kstate_clear(cf_state_t *st);

int cf_kstate_list_add(cf_state_t *st, const void *data, uint32_t len);
int cf_kstate_list_iter(cf_state_t *st, cf_list_iter_t *it);
int cf_kstate_list_next(cf_list_iter_t *it, cf_slice_t *item);

int cf_kstate_map_get(cf_state_t *st, const void *k, uint32_t klen,
                      cf_slice_t *out);
int cf_kstate_map_put(cf_state_t *st, const void *k, uint32_t klen,
                      const void *v, uint32_t vlen);
int cf_kstate_map_remove(cf_state_t *st, const void *k, uint32_t klen);
int cf_kstate_map_iter(cf_state_t *st, cf_map_iter_t *it);
int cf_kstate_map_next(cf_map_iter_t *it, cf_slice_t *k, cf_slice_t *v);
uint64_t cf_kstate_map_size(cf_state_t *st);

/* Reducing: the first value is stored as is; later ones are folded with
 * fn(fn_ctx, acc, in) where acc is a cf_buf_t over the stored value (the
 * function may grow it with cf_buf_reserve, i.e. realloc). */
int cf_kstate_reducing_add(cf_state_t *st, const void *data, uint32_t len,
                           int64_t ts);
int cf_kstate_reducing_get(cf_state_t *st, cf_slice_t *out);

/* Grow buf to at least cap bytes with realloc on buf->data, keeping its
 * contents (geometric growth). This is the host's cf_buf_reserve for a
 * reduce accumulator. Returns CF_OK; allocation failure aborts. Thread:
 * any (buf is the caller's). */
int cf_kstate_buf_reserve(cf_buf_t *buf, uint32_t cap);

/* ------------------------------------------------------------------ */
/* Introspection and iteration (snapshots, tests, metrics)             */
/* ------------------------------------------------------------------ */

const char *cf_kstate_name(cf_state_t *st);
cf_state_kind_t cf_kstate_kind(cf_state_t *st);
int cf_kstate_backend_max_parallelism(cf_kstate_backend_t *b);
/* Lookups of the current key in st's table that the per-state cache did
 * not answer (tests, metrics). */
uint64_t cf_kstate_probe_count(cf_state_t *st);

/* One key's entry of a state, as given to a foreach callback. value is
 * the raw payload: the value bytes (ValueState), the accumulator bytes
 * (ReducingState), the list block of [u32 len][len bytes] items in native
 * byte order (ListState), or empty for a MapState (walk it with
 * cf_kstate_view_map_iter). Everything is borrowed for the callback. */
typedef struct cf_kstate_entry_view_s {
    cf_slice_t key;
    uint32_t hash; /* murmur3 of the key */
    int key_group; /* hash % max_parallelism */
    cf_state_kind_t kind;
    cf_slice_t value;
    const void *entry; /* private */
} cf_kstate_entry_view_t;

/* A callback returns 0 to go on, or a negative code to stop the walk
 * (which then returns that code). It must not modify the state. */
typedef int (*cf_kstate_entry_cb)(void *ud, const cf_kstate_entry_view_t *ev);
typedef int (*cf_kstate_state_cb)(void *ud, cf_state_t *st);

/* Every entry of st in table order (key groups mixed). */
int cf_kstate_foreach(cf_state_t *st, cf_kstate_entry_cb cb, void *ud);
/* Every entry of st in ascending key group order (a counting sort over
 * the table: one pass, 4 bytes of temporary memory per entry). This is the
 * order in which a snapshot writes a key-group-partitioned state. */
int cf_kstate_foreach_by_key_group(cf_state_t *st, cf_kstate_entry_cb cb,
                                   void *ud);
/* Iterate the user map of a MapState entry with cf_kstate_map_next.
 * CF_EINVAL when ev is not a MapState entry. */
int cf_kstate_view_map_iter(const cf_kstate_entry_view_t *ev,
                            cf_map_iter_t *it);
/* Every registered state, in registration order. */
int cf_kstate_backend_foreach_state(cf_kstate_backend_t *b,
                                    cf_kstate_state_cb cb, void *ud);

#endif /* CF_STATE_H */
