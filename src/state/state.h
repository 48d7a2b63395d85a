/*
 * state.h: the heap ("hashmap") keyed state backend of one operator
 * instance: value, list, map, reducing and aggregating state, held per
 * key group, with TTL, copy-on-write snapshots and restore; and operator
 * state (non-keyed) on the same machinery.
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
 * Thread: a backend and its states belong to one task thread, except a
 * snapshot's walk and release (any thread, see below).
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
    CF_STATE_AGGREGATING = 5,
} cf_state_kind_t;

const char *cf_state_kind_name(cf_state_kind_t kind); /* "ValueState", ... */

typedef struct cf_kstate_backend_s cf_kstate_backend_t;

/* A backend for the key groups [kg_start, kg_end] of max_parallelism.
 * api is stored in every cf_state_t handle (its first member), so the
 * plugin's inline wrappers reach the host table through it. */
cf_kstate_backend_t *cf_kstate_backend_new(const cf_host_api_t *api,
                                           int max_parallelism, int kg_start,
                                           int kg_end);
/* Snapshots still alive keep the memory: the last
 * cf_kstate_snapshot_release then frees the backend (on its thread). */
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

/* ------------------------------------------------------------------ */
/* Aggregating state and TTL (checkpoint issue)                        */
/* ------------------------------------------------------------------ */

/* Register aggregating state (ops and fn_ctx borrowed for the backend's
 * life). Stored like reducing state: the accumulator bytes. */
cf_state_t *cf_kstate_register_agg(cf_kstate_backend_t *b, const char *name,
                                   const cf_agg_ops_t *ops, cf_ctx_t *fn_ctx,
                                   cf_error_t **errp);
int cf_kstate_aggregating_add(cf_state_t *st, const void *data, uint32_t len,
                              int64_t ts);
int cf_kstate_aggregating_get(cf_state_t *st, cf_slice_t *out);

/* TTL of st's entries (cflink.h cf_state_ttl): ttl_ms > 0, update_type
 * CF_TTL_ON_CREATE_AND_WRITE or CF_TTL_ON_READ_AND_WRITE. Only before the
 * state holds entries (else CF_EINVAL, logged naming the state). The
 * clock is cf_kstate_backend_set_clock's, default cf_now_ms. */
int cf_kstate_set_ttl(cf_state_t *st, int64_t ttl_ms, int update_type);
/* Tests: a clock for TTL (NULL: cf_now_ms). */
void cf_kstate_backend_set_clock(cf_kstate_backend_t *b,
                                 int64_t (*now_ms)(void));

/* Restore support: find or create a state by name and kind without its
 * function (set later by the registration from open, which then takes
 * the restored content), and insert one key's raw payload (as a
 * cf_kstate_entry_view_t gives it: value bytes, accumulator bytes or the
 * list block) for key with hash; for MapState insert user entries with
 * cf_kstate_restore_map_put. expires_ms: the entry's TTL deadline (0:
 * none). Thread: task, before the operator opens. */
cf_state_t *cf_kstate_restore_state(cf_kstate_backend_t *b, const char *name,
                                    cf_state_kind_t kind, cf_error_t **errp);
int cf_kstate_restore_put(cf_state_t *st, const void *key, uint32_t klen,
                          uint32_t hash, const void *payload, uint32_t plen,
                          int64_t expires_ms);
int cf_kstate_restore_map_put(cf_state_t *st, const void *key, uint32_t klen,
                              uint32_t hash, const void *uk, uint32_t uklen,
                              const void *uv, uint32_t uvlen,
                              int64_t expires_ms);

/* ------------------------------------------------------------------ */
/* Asynchronous snapshots (copy-on-write)                              */
/* ------------------------------------------------------------------ */
/*
 * cf_kstate_snapshot_begin is the synchronous part of a checkpoint, on
 * the task thread: it must not copy entries, only O(states + table
 * pages) of bookkeeping, so that it stays in the microseconds to low
 * milliseconds for gigabytes of state. Afterwards the task keeps
 * mutating the backend while a writer thread walks the snapshot: an entry
 * (or table page) that a live snapshot can see is copied before it is
 * modified, and freed only when no snapshot needs it any more. The
 * snapshot shows every state's entries as of begin (expired TTL entries
 * excluded), by key group.
 */
typedef struct cf_kstate_snapshot_s cf_kstate_snapshot_t;

/* Thread: task. Several snapshots may be alive at once. */
cf_kstate_snapshot_t *cf_kstate_snapshot_begin(cf_kstate_backend_t *b);
/* Walk the snapshot (thread: any, typically a writer thread; one walker
 * at a time per snapshot): for each state in registration order, st_cb
 * once (name, kind, TTL), then its entries in ascending key group order
 * through cb. The views are as cf_kstate_foreach gives them (for a
 * MapState, iterate the user map with cf_kstate_view_map_iter). */
typedef int (*cf_kstate_snap_state_cb)(void *ud, const char *name,
                                       cf_state_kind_t kind, int64_t ttl_ms);
int cf_kstate_snapshot_walk(cf_kstate_snapshot_t *s,
                            cf_kstate_snap_state_cb st_cb,
                            cf_kstate_entry_cb cb, void *ud);
/* The TTL deadline of an entry of a view (0: none). */
int64_t cf_kstate_view_expires(const cf_kstate_entry_view_t *ev);
int cf_kstate_snapshot_kg_start(const cf_kstate_snapshot_t *s);
int cf_kstate_snapshot_kg_end(const cf_kstate_snapshot_t *s);
int cf_kstate_snapshot_max_parallelism(const cf_kstate_snapshot_t *s);
/* Thread: any. Memory only the snapshot kept alive is freed now or at the
 * task's next cf_kstate_backend_maintain. */
void cf_kstate_snapshot_release(cf_kstate_snapshot_t *s);
/* Task thread, between records (cheap when there is nothing to do): free
 * what released snapshots no longer need, at most
 * CF_KSTATE_RECLAIM_BUDGET items per call so the pause stays short.
 * Returns 1 when more can be freed now (call again soon), else 0. */
int cf_kstate_backend_maintain(cf_kstate_backend_t *b);

/* ------------------------------------------------------------------ */
/* Operator state (non-keyed)                                          */
/* ------------------------------------------------------------------ */

typedef enum cf_opstate_mode_e {
    CF_OPSTATE_MODE_SPLIT = 0,     /* CF_OPSTATE_SPLIT */
    CF_OPSTATE_MODE_UNION = 1,     /* CF_OPSTATE_UNION */
    CF_OPSTATE_MODE_BROADCAST = 2, /* cf_op_state_broadcast: a map */
} cf_opstate_mode_t;

typedef struct cf_opstate_backend_s cf_opstate_backend_t;

/* Per operator instance. The states are cf_state_t handles (list, or map
 * for broadcast) usable with the keyed accessors (cf_kstate_list_add,
 * cf_kstate_map_put, ...) without a current key. Thread: task. */
cf_opstate_backend_t *cf_opstate_backend_new(const cf_host_api_t *api);
void cf_opstate_backend_destroy(cf_opstate_backend_t *o);
/* Find or create; a second registration with another mode fails naming
 * the state. Restored content (cf_state_file_read_operator) is there. */
cf_state_t *cf_opstate_register(cf_opstate_backend_t *o, const char *name,
                                cf_opstate_mode_t mode, cf_error_t **errp);
int cf_opstate_count(cf_opstate_backend_t *o); /* registered states */

/* Synchronous copy of all operator state (it is small), thread: task. */
typedef struct cf_opstate_snapshot_s cf_opstate_snapshot_t;
cf_opstate_snapshot_t *cf_opstate_snapshot(cf_opstate_backend_t *o);
void cf_opstate_snapshot_free(cf_opstate_snapshot_t *s); /* any thread */

/* The mode a state was registered with (CF_EINVAL for a handle that is
 * not operator state). */
int cf_opstate_mode(cf_state_t *st);

/* Walk an operator-state snapshot (thread: any; the snapshot is
 * immutable): for each state in registration order, st_cb once with its
 * name, mode and n (its number of list items, or of map entries for
 * BROADCAST), then for a SPLIT/UNION state item_cb once per item in list
 * order, for a BROADCAST state entry_cb once per map entry (unspecified
 * order). A callback returns 0 to go on or a negative code to stop (the
 * walk returns it). Everything is borrowed for the callback. */
typedef int (*cf_opstate_snap_state_cb)(void *ud, const char *name,
                                        cf_opstate_mode_t mode, uint64_t n);
typedef int (*cf_opstate_item_cb)(void *ud, const void *data, uint32_t len);
typedef int (*cf_opstate_entry_cb)(void *ud, const void *k, uint32_t klen,
                                   const void *v, uint32_t vlen);
int cf_opstate_snapshot_walk(const cf_opstate_snapshot_t *s,
                             cf_opstate_snap_state_cb st_cb,
                             cf_opstate_item_cb item_cb,
                             cf_opstate_entry_cb entry_cb, void *ud);
/* Number of states in the snapshot (0: no operator state to write). */
int cf_opstate_snapshot_count(const cf_opstate_snapshot_t *s);

/* Restore (thread: task, before open): create or find the state with
 * cf_opstate_register (name + mode; the registration from open later
 * returns the same handle with the restored content), then append list
 * items in order with cf_opstate_restore_add (SPLIT/UNION) or put map
 * entries with cf_opstate_restore_put (BROADCAST). Calling one on a state
 * of the other mode fails with CF_EINVAL. */
int cf_opstate_restore_add(cf_state_t *st, const void *data, uint32_t len);
int cf_opstate_restore_put(cf_state_t *st, const void *k, uint32_t klen,
                           const void *v, uint32_t vlen);

/* ------------------------------------------------------------------ */
/* State files (one per operator, subtask and checkpoint)              */
/* ------------------------------------------------------------------ */
/*
 * A file holds an operator-state section and/or a keyed-state section
 * whose key groups are indexed, so that a restore reads only the key
 * groups of its range. Every block carries a CRC-32; blocks are
 * zlib-compressed when asked (execution.checkpointing.snapshot-
 * compression). Written to "<path>.inprogress", fsynced, renamed.
 * Format: docs/internals/checkpoint-format.md.
 */

/* Write keyed (may be NULL) and ops (may be NULL) to path. *size gets
 * the file's bytes. Errors name the path (ENOSPC, EACCES, ...). Thread:
 * any (a writer thread). */
int cf_state_file_write(const char *path, cf_kstate_snapshot_t *keyed,
                        cf_opstate_snapshot_t *ops, int compress,
                        uint64_t *size, cf_error_t **errp);

/* Restore into b the key groups of b's range found in the keyed section
 * of path (states created with cf_kstate_restore_state). A missing,
 * truncated or corrupt file, or a max parallelism other than b's, fails
 * with a message naming the file. Thread: task. */
int cf_state_file_restore_keyed(const char *path, cf_kstate_backend_t *b,
                                cf_error_t **errp);

/* Restore operator state into o from the files of every old subtask of
 * the operator (paths[i] of old subtask i, NULL when it had none; n is
 * the old parallelism), for subtask index of parallelism (Flink's
 * repartitioning): SPLIT states keep their own items when the
 * parallelism is unchanged, else the items of all old subtasks, in
 * subtask order, are cut into parallelism contiguous ranges of sizes
 * differing by at most one; UNION states get every item; BROADCAST
 * states get the map of the first old subtask that has it. Thread: task. */
int cf_state_file_restore_operator(cf_opstate_backend_t *o,
                                   const char *const *paths, int n,
                                   int index, int parallelism,
                                   cf_error_t **errp);

#endif /* CF_STATE_H */
