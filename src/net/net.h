/*
 * net.h: the data plane's buffers: the network memory budget, local
 * buffer pools, input gates, and the record (de)serializers that write
 * records into fixed-size buffers and read them back.
 *
 * Memory is bounded by construction: every data buffer comes from a pool
 * with a fixed number of segments reserved from the process budget
 * (taskmanager.memory.network.*) when the pool is created. A producer that
 * finds its pool empty waits until a consumer recycles a buffer: that wait
 * is backpressure. Nothing queues without a buffer, so no queue is
 * unbounded.
 *
 * Wire format of records inside a data buffer:
 *   [u32 len][i64 timestamp][len bytes]   (native byte order, unaligned)
 * The 12-byte header never straddles two buffers; the payload may span
 * any number of buffers of the same channel.
 *
 * Events (end of partition, barriers, watermarks) travel in-band
 * as buffers of their own, in order with the data: an event first ships
 * the partially filled data buffer of its subpartition. Event buffers are
 * allocated outside the pools (they are rare and small) and freed when
 * recycled.
 *
 * Threads: a pool, a partition and a reader belong to their owner task's
 * thread; cf_net_buf_recycle and cf_net_gate_push may be called from any
 * thread and wake the owner through its cf_signal_t.
 */
#ifndef CF_NET_H
#define CF_NET_H

#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include <cflink/cflink.h>

#include "core.h"

#define CF_NET_REC_HDR 12u /* u32 len + i64 ts */

enum cf_net_buf_kind_e {
    CF_NET_DATA = 0,
    CF_NET_EVENT = 1,
};

enum cf_net_event_e {
    CF_NET_EV_END_OF_PARTITION = 1,
    /* 2 is CF_NET_EV_ERROR (netmgr.h) */
    /* A checkpoint barrier (task.c, cf_barrier_t), little-endian:
     *   u8 version (1), i64 id, i64 timestamp (epoch ms), u8 kind
     *   (CF_CKPT_KIND_*), u8 drain, u32 n, n bytes of location (the
     *   checkpoint directory, no NUL). */
    CF_NET_EV_BARRIER = 3,
    /* No more records on this channel (the producer finished its input,
     * FLIP-147); barriers may still follow, then END_OF_PARTITION.
     * Payload: u8 drain: 1 at a normal end or stop-with-savepoint --drain
     * (the consumer runs finish()), 0 at a stop without drain (it does
     * not). */
    CF_NET_EV_END_OF_DATA = 4,
    /* A watermark (event time, eventtime.c): no record with a timestamp
     * <= watermark follows on this channel (Flink's Watermark). Sent by
     * every operator whose output watermark advanced, to every channel of
     * each of its outputs; CF_WATERMARK_MAX at the end of a drained
     * input. Payload, little-endian: u8 version (1), i64 watermark. */
    CF_NET_EV_WATERMARK = 5,
    /* The channel's watermark status (Flink's WatermarkStatus): an idle
     * channel is left out of the consumer's minimum until it becomes
     * active again. Sent only on changes; a channel starts active.
     * Payload: u8 version (1), u8 status (0 active, 1 idle). */
    CF_NET_EV_WATERMARK_STATUS = 6,
};

#define CF_NET_WATERMARK_VERSION 1
#define CF_NET_WATERMARK_LEN 9        /* u8 version, i64 watermark */
#define CF_NET_WATERMARK_STATUS_LEN 2 /* u8 version, u8 status */

typedef struct cf_net_env_s cf_net_env_t;
typedef struct cf_net_pool_s cf_net_pool_t;
typedef struct cf_net_gate_s cf_net_gate_t;

typedef struct cf_net_buf_s {
    struct cf_net_buf_s *next; /* queue link of the current holder */
    cf_net_pool_t *pool;       /* NULL for event buffers (freed) */
    uint8_t *data;
    uint32_t len;  /* bytes used */
    uint32_t size; /* capacity */
    uint16_t kind; /* CF_NET_DATA or CF_NET_EVENT */
    uint16_t event;
} cf_net_buf_t;

/* ------------------------------------------------------------------ */
/* Budget and pools                                                    */
/* ------------------------------------------------------------------ */

/* The network memory of a process: total_bytes / segment_size segments. */
cf_net_env_t *cf_net_env_new(int64_t total_bytes, uint32_t segment_size);
void cf_net_env_destroy(cf_net_env_t *env);
uint32_t cf_net_env_segment_size(const cf_net_env_t *env);
int64_t cf_net_env_total_segments(const cf_net_env_t *env);
int64_t cf_net_env_free_segments(cf_net_env_t *env);

/* A pool of exactly n segments reserved from env (allocated now). When
 * the budget cannot cover n, fails with CF_ENOBUFS and Flink's message
 * ("Insufficient number of network buffers: required n, but only m
 * available. ...", naming the configuration keys). owner is notified
 * whenever a buffer returns to the pool. */
cf_net_pool_t *cf_net_pool_new(cf_net_env_t *env, uint32_t n,
                               cf_signal_t *owner, cf_error_t **errp);
/* All the pool's buffers must have been recycled (asserted). */
void cf_net_pool_destroy(cf_net_pool_t *pool);
/* The owner is done with the pool: it no longer notifies the owner, and
 * it is destroyed now if every buffer is back, else by the recycle that
 * returns the last one (its segments then go back to env). Thread: any
 * (the owner's, once). */
void cf_net_pool_release(cf_net_pool_t *pool);
/* A free buffer (len 0, kind DATA), or NULL. Thread: owner. */
cf_net_buf_t *cf_net_pool_try_request(cf_net_pool_t *pool);
int cf_net_pool_has_free(cf_net_pool_t *pool);
uint32_t cf_net_pool_size(const cf_net_pool_t *pool);
/* Buffers now in the free list (a snapshot). Thread: any. */
uint32_t cf_net_pool_free_count(cf_net_pool_t *pool);

/* An event buffer carrying len bytes of payload. */
cf_net_buf_t *cf_net_event_new(uint16_t event, const void *payload,
                               uint32_t len);

/* Return a buffer to its pool (or free an event). Thread: any. */
void cf_net_buf_recycle(cf_net_buf_t *buf);

/* ------------------------------------------------------------------ */
/* Input gate: the buffers queued for one consumer task, per channel.  */
/* ------------------------------------------------------------------ */

cf_net_gate_t *cf_net_gate_new(int nchannels, cf_signal_t *owner);
/* Recycles what is still queued. */
void cf_net_gate_destroy(cf_net_gate_t *gate);
int cf_net_gate_nchannels(const cf_net_gate_t *gate);
/* Queue buf on channel ch and notify the owner. Thread: any. */
void cf_net_gate_push(cf_net_gate_t *gate, int ch, cf_net_buf_t *buf);
/* The next queued buffer and its channel, taking channels with data in
 * turn (fair); NULL when nothing is queued. Thread: owner. */
cf_net_buf_t *cf_net_gate_poll(cf_net_gate_t *gate, int *ch);
/* Buffers queued in all channels (a snapshot, for metrics such as
 * Flink's inputQueueLength). Thread: any. */
size_t cf_net_gate_queued(cf_net_gate_t *gate);
/* Barrier alignment: a blocked channel keeps what is queued (and what
 * arrives) but poll skips it until cf_net_gate_unblock_all; its producer
 * is then throttled by buffers and credits. Thread: owner. */
void cf_net_gate_block(cf_net_gate_t *gate, int ch);
void cf_net_gate_unblock_all(cf_net_gate_t *gate);
int cf_net_gate_is_blocked(cf_net_gate_t *gate, int ch);

/* ------------------------------------------------------------------ */
/* Wait meter: where a task's time goes (Flink's busy, back-pressured  */
/* and idle time)                                                      */
/* ------------------------------------------------------------------ */

/*
 * The owner task's thread brackets each blocking wait with
 * cf_net_meter_begin / cf_net_meter_end (one monotonic clock read at each
 * side, nothing per record); any thread reads the totals with
 * cf_net_meter_read, lock-free. A wait in progress is visible to the
 * reader (its start is published), so a task blocked for seconds shows
 * that time before the wait ends. A sequence counter (odd while the
 * owner updates) gives the reader a consistent snapshot, as a seqlock;
 * the owner never waits for a reader.
 */
enum {
    CF_NET_WAIT_BACKPRESSURE,
    CF_NET_WAIT_IDLE,
    CF_NET_WAIT_NKINDS
};

typedef struct cf_net_wait_meter_s {
    atomic_uint seq;
    atomic_int kind;                        /* of the wait in progress */
    _Atomic int64_t since;                  /* its start (mono ns), 0: none */
    _Atomic int64_t ns[CF_NET_WAIT_NKINDS]; /* ended waits, summed */
} cf_net_wait_meter_t;

/* A wait of kind starts at now (cf_mono_ns()). Returns the token for
 * cf_net_meter_end: 0 (nothing recorded) for a NULL meter or inside
 * another wait (the outer one already counts the time). Thread: owner. */
static inline int64_t
cf_net_meter_begin_at(cf_net_wait_meter_t *m, int kind, int64_t now)
{
    unsigned s;

    if (m == NULL || now == 0 ||
        atomic_load_explicit(&m->since, memory_order_relaxed) != 0)
        return 0;
    s = atomic_load_explicit(&m->seq, memory_order_relaxed);
    atomic_store_explicit(&m->seq, s + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&m->kind, kind, memory_order_relaxed);
    atomic_store_explicit(&m->since, now, memory_order_relaxed);
    atomic_store_explicit(&m->seq, s + 2, memory_order_release);
    return now;
}

static inline int64_t
cf_net_meter_begin(cf_net_wait_meter_t *m, int kind)
{
    return m == NULL ? 0 : cf_net_meter_begin_at(m, kind, cf_mono_ns());
}

/* The wait that cf_net_meter_begin* returned token for has ended at now
 * (cf_mono_ns(): a caller that reads the clock after the wait anyway
 * passes its reading, so metering adds no clock read). Thread: owner. */
static inline void
cf_net_meter_end_at(cf_net_wait_meter_t *m, int64_t token, int64_t now)
{
    int64_t d;
    unsigned s;
    int k;

    if (token == 0)
        return;
    d = now - token;
    k = atomic_load_explicit(&m->kind, memory_order_relaxed);
    s = atomic_load_explicit(&m->seq, memory_order_relaxed);
    atomic_store_explicit(&m->seq, s + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    /* One writer: a plain load and store, no locked add. */
    atomic_store_explicit(
        &m->ns[k],
        atomic_load_explicit(&m->ns[k], memory_order_relaxed) + (d > 0 ? d : 0),
        memory_order_relaxed);
    atomic_store_explicit(&m->since, 0, memory_order_relaxed);
    atomic_store_explicit(&m->seq, s + 2, memory_order_release);
}

static inline void
cf_net_meter_end(cf_net_wait_meter_t *m, int64_t token)
{
    if (token != 0)
        cf_net_meter_end_at(m, token, cf_mono_ns());
}

/* The time spent in waits of each kind, including the wait in progress
 * up to *now, the cf_mono_ns() taken after the snapshot (so no figure
 * lies in its future). Thread: any. */
void cf_net_meter_read(const cf_net_wait_meter_t *m,
                       int64_t ns[CF_NET_WAIT_NKINDS], int64_t *now);

/* ------------------------------------------------------------------ */
/* Result partition: one producer's output over one edge               */
/* ------------------------------------------------------------------ */

typedef struct cf_net_subpart_s {
    cf_net_buf_t *cur;   /* buffer being filled, or NULL */
    cf_net_gate_t *gate; /* the consumer's gate */
    int channel;         /* our channel index in that gate */
} cf_net_subpart_t;

typedef struct cf_net_partition_s {
    cf_net_pool_t *pool;
    cf_signal_t *owner;
    const atomic_int *cancel; /* set when the owner task is canceled */
    int n;
    cf_net_subpart_t *sub;
    uint64_t records_out;
    uint64_t bytes_out;
    int64_t wait_ns; /* time spent waiting for buffers (backpressure) */
    /* The owner task's meter (set by the task before it runs; NULL: the
     * waits are not metered): the waits for a buffer count as
     * back-pressured time there. */
    cf_net_wait_meter_t *meter;
} cf_net_partition_t;

/* owner must be the signal the pool notifies. The pool needs at least
 * n + 1 buffers (Flink's minimum for a result partition): n of them may
 * sit partly filled while the writer waits for another. cancel may be
 * NULL. */
void cf_net_partition_init(cf_net_partition_t *p, cf_net_pool_t *pool, int n,
                           cf_signal_t *owner, const atomic_int *cancel);
/* Recycles partially filled buffers. */
void cf_net_partition_deinit(cf_net_partition_t *p);
void cf_net_partition_connect(cf_net_partition_t *p, int sub,
                              cf_net_gate_t *gate, int channel);

/* Slow path of cf_net_partition_write: takes new buffers (waiting while
 * the pool is empty), ships full ones, spans large records. Returns 0 or
 * CF_ECANCELED when *cancel became set while waiting. */
int cf_net_partition_write_slow(cf_net_partition_t *p, int sub,
                                const void *data, uint32_t len, int64_t ts);

/* memcpy for the payload of a record: small ones (up to 64 bytes, the
 * common case of small records) inline with overlapping fixed-size
 * moves, instead of a library call each. */
static inline void
cf_net_copy(uint8_t *dst, const void *src, uint32_t len)
{
    const uint8_t *s = src;

    if (len > 64) {
        memcpy(dst, s, len);
    } else if (len >= 16) {
        for (uint32_t i = 0; i + 16 < len; i += 16)
            memcpy(dst + i, s + i, 16);
        memcpy(dst + len - 16, s + len - 16, 16);
    } else if (len >= 8) {
        memcpy(dst, s, 8);
        memcpy(dst + len - 8, s + len - 8, 8);
    } else if (len >= 4) {
        memcpy(dst, s, 4);
        memcpy(dst + len - 4, s + len - 4, 4);
    } else {
        for (uint32_t i = 0; i < len; i++)
            dst[i] = s[i];
    }
}

/* Append one record to subpartition sub. Thread: owner. */
static inline int
cf_net_partition_write(cf_net_partition_t *p, int sub, const void *data,
                       uint32_t len, int64_t ts)
{
    cf_net_buf_t *b = p->sub[sub].cur;
    if (b != NULL && b->size - b->len >= CF_NET_REC_HDR + len) {
        uint8_t *w = b->data + b->len;
        memcpy(w, &len, 4);
        memcpy(w + 4, &ts, 8);
        cf_net_copy(w + CF_NET_REC_HDR, data, len);
        b->len += CF_NET_REC_HDR + len;
        p->records_out++;
        p->bytes_out += CF_NET_REC_HDR + len;
        return 0;
    }
    return cf_net_partition_write_slow(p, sub, data, len, ts);
}

/* Ship the partially filled buffer of one / every subpartition. */
void cf_net_partition_flush(cf_net_partition_t *p, int sub);
void cf_net_partition_flush_all(cf_net_partition_t *p);
/* Flush every subpartition, then send the event to each. */
int cf_net_partition_broadcast_event(cf_net_partition_t *p, uint16_t event,
                                     const void *payload, uint32_t len);
/* Whether a write would not have to wait (the pool has a free buffer). */
int cf_net_partition_available(cf_net_partition_t *p);

/* ------------------------------------------------------------------ */
/* Record reader: one per input channel (a record may span buffers).   */
/* ------------------------------------------------------------------ */

typedef struct cf_net_reader_s {
    cf_net_buf_t *buf; /* current data buffer, or NULL */
    uint32_t off;
    /* reassembly of a record that spans buffers */
    uint8_t *span;
    uint32_t span_cap;
    uint32_t span_have;
    uint32_t span_need; /* 0: not inside a spanning record */
    int64_t span_ts;
    uint64_t records_in;
    uint64_t bytes_in;
} cf_net_reader_t;

void cf_net_reader_init(cf_net_reader_t *r);
/* Recycles the current buffer and frees the reassembly memory. */
void cf_net_reader_deinit(cf_net_reader_t *r);
/* Take ownership of a data buffer to read next. The previous one must be
 * exhausted (cf_net_reader_next returned 0). */
void cf_net_reader_set(cf_net_reader_t *r, cf_net_buf_t *buf);
/* Slow path of cf_net_reader_next: no buffer, an exhausted one, or a
 * record that spans buffers. */
int cf_net_reader_next_slow(cf_net_reader_t *r, cf_record_t *rec);

/* 1: *rec is the next complete record, valid until the next call.
 * 0: the buffer is exhausted and has been recycled. The common case, a
 * record lying whole in the current buffer, is inline. */
static inline int
cf_net_reader_next(cf_net_reader_t *r, cf_record_t *rec)
{
    cf_net_buf_t *b = r->buf;
    uint32_t len, off = r->off;

    if (b != NULL && r->span_need == 0 &&
        b->len - off >= CF_NET_REC_HDR) {
        memcpy(&len, b->data + off, 4);
        if (len <= b->len - off - CF_NET_REC_HDR) {
            memcpy(&rec->ts, b->data + off + 4, 8);
            rec->data = b->data + off + CF_NET_REC_HDR;
            rec->len = len;
            r->off = off + CF_NET_REC_HDR + len;
            r->records_in++;
            r->bytes_in += CF_NET_REC_HDR + (uint64_t)len;
            return 1;
        }
    }
    return cf_net_reader_next_slow(r, rec);
}
/* Whether the reader is inside a record that spans buffers (an event
 * arriving now means the stream was cut short). */
int cf_net_reader_in_record(const cf_net_reader_t *r);

#endif /* CF_NET_H */
