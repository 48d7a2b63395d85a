/*
 * net_record.c: result partitions (the record writer) and record readers
 * (see net.h).
 *
 * Writer. The fast path (cf_net_partition_write, inline in net.h) appends
 * a record that fits whole into the current buffer. Everything else comes
 * here: there is no current buffer, the buffer cannot hold the 12-byte
 * header (it is shipped), or the payload does not fit. A payload that
 * does not fit is split: the header and as many bytes as fit go into the
 * current buffer, which ships, and the rest continues at the start of the
 * next buffers of the same subpartition. A buffer ships as soon as it is
 * full; one with less than a header's room left ships on the next write.
 *
 * Waiting for a buffer is backpressure. The writer waits on its owner's
 * signal, which the pool notifies on every recycle, with a short deadline
 * so that a lost notification costs at most CF_NET_WAIT_SLICE_NS. On each
 * deadline that passes without a buffer it ships the partial buffers of
 * the other subpartitions (as Flink's output flusher would while the task
 * is blocked): their consumers then have everything written so far and
 * cannot wait on data stuck behind this task's wait. The whole wait is
 * metered as back-pressured time on the partition's meter (the owner
 * task's cf_net_wait_meter_t), when it has one.
 *
 * Reader. A record whose payload lies whole in the buffer is returned in
 * place (zero copy; cf_net_reader_next, inline in net.h, does that). A
 * spanning record is copied into the reader's reassembly buffer across as
 * many buffers of its channel as it takes.
 * A buffer is recycled when next() finds it exhausted, so the record
 * returned last stays valid until the following call.
 */
#include "net.h"

#include <sched.h>
#include <stdlib.h>

#define CF_NET_WAIT_SLICE_NS (100 * 1000000LL) /* 100 ms */

/* ------------------------------------------------------------------ */
/* Partition                                                           */
/* ------------------------------------------------------------------ */

void
cf_net_partition_init(cf_net_partition_t *p, cf_net_pool_t *pool, int n,
                      cf_signal_t *owner, const atomic_int *cancel)
{
    CF_ASSERT(n > 0);
    memset(p, 0, sizeof *p);
    p->pool = pool;
    p->owner = owner;
    p->cancel = cancel;
    p->n = n;
    p->sub = cf_calloc((size_t)n, sizeof(cf_net_subpart_t));
}

void
cf_net_partition_deinit(cf_net_partition_t *p)
{
    int i;

    if (p->sub == NULL)
        return;
    for (i = 0; i < p->n; i++) {
        cf_net_buf_recycle(p->sub[i].cur);
        p->sub[i].cur = NULL;
    }
    cf_free(p->sub);
    p->sub = NULL;
}

void
cf_net_partition_connect(cf_net_partition_t *p, int sub, cf_net_gate_t *gate,
                         int channel)
{
    CF_ASSERT(sub >= 0 && sub < p->n);
    CF_ASSERT(channel >= 0 && channel < cf_net_gate_nchannels(gate));
    p->sub[sub].gate = gate;
    p->sub[sub].channel = channel;
}

/* Hand the current buffer of s to its consumer. */
static void
cf_net_subpart_ship(cf_net_subpart_t *s)
{
    cf_net_buf_t *b = s->cur;

    CF_ASSERT(s->gate != NULL); /* not connected */
    s->cur = NULL;
    cf_net_gate_push(s->gate, s->channel, b);
}

/* A fresh buffer from the pool, waiting while it is empty. */
static int
cf_net_partition_request(cf_net_partition_t *p, cf_net_buf_t **out)
{
    cf_net_buf_t *b;
    int64_t t0, t1, tok;
    int rc = 0;

    b = cf_net_pool_try_request(p->pool);
    if (b != NULL) {
        *out = b;
        return 0;
    }
    t0 = cf_mono_ns();
    tok = 0;
    for (;;) {
        uint64_t seen;

        if (p->cancel != NULL && atomic_load(p->cancel)) {
            rc = CF_ECANCELED;
            break;
        }
        /* Read the count before retrying: a recycle after this point
         * changes it, so the wait below cannot miss it. */
        seen = p->owner != NULL ? cf_signal_count(p->owner) : 0;
        b = cf_net_pool_try_request(p->pool);
        if (b != NULL)
            break;
        if (p->owner == NULL) {
            cf_sleep_ms(1);
            continue;
        }
        /* Metered from t0, once the task really blocks (a retry that
         * finds a recycled buffer costs the meter nothing). */
        if (tok == 0)
            tok = cf_net_meter_begin_at(p->meter, CF_NET_WAIT_BACKPRESSURE,
                                        t0);
        if (!cf_signal_wait(p->owner, &seen,
                            cf_mono_ns() + CF_NET_WAIT_SLICE_NS))
            cf_net_partition_flush_all(p);
    }
    /* One clock read ends both figures: a wait is often a single retry
     * (a buffer recycled meanwhile), and there the reads are the cost. */
    t1 = cf_mono_ns();
    cf_net_meter_end_at(p->meter, tok, t1);
    p->wait_ns += t1 - t0;
    *out = b;
    return rc;
}

int
cf_net_partition_write_slow(cf_net_partition_t *p, int sub, const void *data,
                            uint32_t len, int64_t ts)
{
    cf_net_subpart_t *s = &p->sub[sub];
    const uint8_t *src = data;
    uint32_t left = len;
    cf_net_buf_t *b;
    uint32_t room, take;
    int rc;

    b = s->cur;
    if (b != NULL && b->size - b->len < CF_NET_REC_HDR) {
        cf_net_subpart_ship(s);
        b = NULL;
    }
    if (b == NULL) {
        rc = cf_net_partition_request(p, &b);
        if (rc < 0)
            return rc;
        s->cur = b;
    }

    /* Header, then as much of the payload as fits. */
    memcpy(b->data + b->len, &len, 4);
    memcpy(b->data + b->len + 4, &ts, 8);
    b->len += CF_NET_REC_HDR;
    for (;;) {
        room = b->size - b->len;
        take = left < room ? left : room;
        if (take > 0) {
            memcpy(b->data + b->len, src, take);
            b->len += take;
            src += take;
            left -= take;
        }
        if (b->len == b->size)
            cf_net_subpart_ship(s);
        if (left == 0)
            break;
        /* The rest continues in the next buffer. A cancellation here
         * leaves a truncated record behind: the consumer is being
         * canceled too, or will be when the failover region restarts. */
        rc = cf_net_partition_request(p, &b);
        if (rc < 0)
            return rc;
        s->cur = b;
    }
    p->records_out++;
    p->bytes_out += CF_NET_REC_HDR + (uint64_t)len;
    return 0;
}

void
cf_net_partition_flush(cf_net_partition_t *p, int sub)
{
    cf_net_subpart_t *s = &p->sub[sub];

    if (s->cur != NULL && s->cur->len > 0)
        cf_net_subpart_ship(s);
}

void
cf_net_partition_flush_all(cf_net_partition_t *p)
{
    int i;

    for (i = 0; i < p->n; i++)
        cf_net_partition_flush(p, i);
}

int
cf_net_partition_broadcast_event(cf_net_partition_t *p, uint16_t event,
                                 const void *payload, uint32_t len)
{
    int i;

    cf_net_partition_flush_all(p);
    for (i = 0; i < p->n; i++) {
        cf_net_subpart_t *s = &p->sub[i];
        CF_ASSERT(s->gate != NULL);
        cf_net_gate_push(s->gate, s->channel,
                         cf_net_event_new(event, payload, len));
    }
    return 0;
}

int
cf_net_partition_available(cf_net_partition_t *p)
{
    return cf_net_pool_has_free(p->pool);
}

/* ------------------------------------------------------------------ */
/* Wait meter                                                          */
/* ------------------------------------------------------------------ */

void
cf_net_meter_read(const cf_net_wait_meter_t *m, int64_t ns[CF_NET_WAIT_NKINDS],
                  int64_t *now)
{
    /* The loads are on a const object: C11 atomics take non-const
     * pointers, and nothing is written here. */
    cf_net_wait_meter_t *w = (cf_net_wait_meter_t *)m;
    int64_t since, t;
    unsigned s;
    int kind;

    for (int spins = 0;; spins++) {
        s = atomic_load_explicit(&w->seq, memory_order_acquire);
        if (s & 1) { /* the owner is inside an update of a few stores */
            if (spins > 64) /* ... and was preempted there */
                sched_yield();
            continue;
        }
        kind = atomic_load_explicit(&w->kind, memory_order_relaxed);
        since = atomic_load_explicit(&w->since, memory_order_relaxed);
        for (int k = 0; k < CF_NET_WAIT_NKINDS; k++)
            ns[k] = atomic_load_explicit(&w->ns[k], memory_order_relaxed);
        /* The clock inside the checked section: a wait in progress that
         * ends before this reading changes the sequence, so a reader
         * delayed here never stretches a wait past its end. */
        t = cf_mono_ns();
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&w->seq, memory_order_relaxed) == s)
            break;
    }
    *now = t;
    if (since != 0 && kind >= 0 && kind < CF_NET_WAIT_NKINDS &&
        *now > since)
        ns[kind] += *now - since;
}

/* ------------------------------------------------------------------ */
/* Reader                                                              */
/* ------------------------------------------------------------------ */

void
cf_net_reader_init(cf_net_reader_t *r)
{
    memset(r, 0, sizeof *r);
}

void
cf_net_reader_deinit(cf_net_reader_t *r)
{
    cf_net_buf_recycle(r->buf);
    cf_free(r->span);
    memset(r, 0, sizeof *r);
}

void
cf_net_reader_set(cf_net_reader_t *r, cf_net_buf_t *buf)
{
    CF_ASSERT(r->buf == NULL); /* the previous one is not exhausted */
    CF_ASSERT(buf->kind == CF_NET_DATA);
    r->buf = buf;
    r->off = 0;
}

int
cf_net_reader_in_record(const cf_net_reader_t *r)
{
    return r->span_need > 0;
}

/* Recycle the exhausted current buffer. */
static int
cf_net_reader_done(cf_net_reader_t *r)
{
    cf_net_buf_recycle(r->buf);
    r->buf = NULL;
    r->off = 0;
    return 0;
}

int
cf_net_reader_next_slow(cf_net_reader_t *r, cf_record_t *rec)
{
    cf_net_buf_t *b = r->buf;
    uint32_t len, avail, take;
    int64_t ts;

    if (b == NULL)
        return 0;

    if (r->span_need > 0) {
        /* Continue a record that spans buffers. */
        avail = b->len - r->off;
        take = r->span_need - r->span_have;
        if (take > avail)
            take = avail;
        memcpy(r->span + r->span_have, b->data + r->off, take);
        r->off += take;
        r->span_have += take;
        if (r->span_have < r->span_need)
            return cf_net_reader_done(r);
        rec->data = r->span;
        rec->len = r->span_need;
        rec->ts = r->span_ts;
        r->records_in++;
        r->bytes_in += CF_NET_REC_HDR + (uint64_t)r->span_need;
        r->span_need = 0;
        r->span_have = 0;
        return 1;
    }

    if (r->off >= b->len)
        return cf_net_reader_done(r);
    /* The writer never splits a header. */
    CF_ASSERT(b->len - r->off >= CF_NET_REC_HDR);
    memcpy(&len, b->data + r->off, 4);
    memcpy(&ts, b->data + r->off + 4, 8);
    r->off += CF_NET_REC_HDR;
    avail = b->len - r->off;
    if (len <= avail) {
        rec->data = b->data + r->off;
        rec->len = len;
        rec->ts = ts;
        r->off += len;
        r->records_in++;
        r->bytes_in += CF_NET_REC_HDR + (uint64_t)len;
        return 1;
    }

    /* The payload goes on in the next buffers of this channel. */
    if (len > r->span_cap) {
        r->span = cf_realloc(r->span, len);
        r->span_cap = len;
    }
    memcpy(r->span, b->data + r->off, avail);
    r->span_have = avail;
    r->span_need = len;
    r->span_ts = ts;
    r->off = b->len;
    return cf_net_reader_done(r);
}
