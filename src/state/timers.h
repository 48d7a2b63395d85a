/*
 * timers.h: the timer service of a keyed operator instance (Flink's
 * InternalTimerService with its HeapPriorityQueue), both time domains.
 *
 * A timer is (key, namespace, time domain, timestamp), unique: registering
 * it again does nothing. The namespace is bytes chosen by the operator (a
 * window's 16 bytes for the window operator, empty for user timers of a
 * process function).
 *
 * Timers are keyed state: each domain is a map state of the backend,
 * "_cflink_timers_event" and "_cflink_timers_processing", whose user key
 * is the 8-byte big-endian timestamp (sign bit flipped, so that byte order
 * is time order) followed by the namespace, with an empty value. So they
 * are snapshotted with the keyed state (copy-on-write, per key group),
 * restored with it, and move with their key groups on rescaling. Beside
 * the map states an in-memory binary min-heap per domain orders them by
 * timestamp for firing; it is rebuilt from the map states after a restore
 * (cf_timers_restore). Deletion removes the map entry; the heap entry is
 * dropped lazily when it reaches the top.
 *
 * Thread: the task's. Memory: the heap holds a copy of key and namespace
 * per timer.
 */
#ifndef CF_TIMERS_H
#define CF_TIMERS_H

#include <stdint.h>

#include "core.h"
#include "state.h"

#define CF_TIMERS_EVENT 0      /* CF_TIME_EVENT of cflink.h */
#define CF_TIMERS_PROCESSING 1 /* CF_TIME_PROCESSING */

#define CF_TIMERS_STATE_EVENT "_cflink_timers_event"
#define CF_TIMERS_STATE_PROCESSING "_cflink_timers_processing"

typedef struct cf_timers_s cf_timers_t;

/* A timer taken off the queue: key and ns point into memory of the
 * service, valid until the next call on it. */
typedef struct cf_timer_view_s {
    int64_t ts;
    const void *key;
    uint32_t klen;
    uint32_t khash; /* the key's hash, as cf_kstate_set_key takes it */
    const void *ns;
    uint32_t nslen;
} cf_timer_view_t;

/* Registers the two map states on b (or takes them over when a restore
 * created them). NULL and *errp on failure. */
cf_timers_t *cf_timers_new(cf_kstate_backend_t *b, cf_error_t **errp);
void cf_timers_free(cf_timers_t *t);

/* Register / delete a timer of the backend's current key. Returns 1 when
 * it was added (removed), 0 when it existed (did not exist), < 0 on
 * error (no current key, bad domain). */
int cf_timers_register(cf_timers_t *t, int domain, int64_t ts,
                       const void *ns, uint32_t nslen);
int cf_timers_delete(cf_timers_t *t, int domain, int64_t ts,
                     const void *ns, uint32_t nslen);

/* The earliest live timer's timestamp of domain, or INT64_MAX when there
 * is none (deleted timers at the top are dropped first). */
int64_t cf_timers_next(cf_timers_t *t, int domain);

/* Take the earliest timer of domain with ts <= upto off the queue and out
 * of the map state: 1 and *out, or 0 when there is none. The backend's
 * current key is set to the timer's key (as on_timer needs). Timers with
 * the same timestamp come out in registration order. */
int cf_timers_pop(cf_timers_t *t, int domain, int64_t upto,
                  cf_timer_view_t *out);

/* Whether a timer exists (the current key's). */
int cf_timers_exists(cf_timers_t *t, int domain, int64_t ts, const void *ns,
                     uint32_t nslen);

/* Rebuild the heaps from the map states (after the backend was restored
 * from a snapshot; before any record or watermark). */
int cf_timers_restore(cf_timers_t *t, cf_error_t **errp);

/* Live timers of domain. */
uint64_t cf_timers_count(const cf_timers_t *t, int domain);

#endif /* CF_TIMERS_H */
