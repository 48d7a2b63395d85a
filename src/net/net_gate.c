/*
 * net_gate.c: input gates (see net.h).
 *
 * A gate holds one FIFO of buffers per input channel and, like Flink's
 * SingleInputGate.inputChannelsWithData, a FIFO of the channels that have
 * data. A channel is in that FIFO exactly when its queue is not empty, so
 * the FIFO is a ring of nchannels slots that never overflows. poll takes
 * one buffer from the channel at the head and puts the channel back at the
 * tail if it still has data: channels are served round robin, one buffer
 * each, and a fast producer cannot starve the others.
 *
 * Barrier alignment (exactly-once checkpoints) blocks channels: a blocked
 * channel keeps its queue but leaves the ring, so poll skips it; its
 * producer stops when it runs out of buffers or credits, which is the
 * backpressure Flink's aligned checkpoints exert. Unblocking puts the
 * channels that still hold data back into the ring. A channel is in the
 * ring exactly when it has data, is not blocked and is marked inring
 * (poll drops a channel that was blocked while it sat in the ring).
 *
 * One mutex guards everything. push notifies the owner while holding it
 * and destroy takes it, so a producer that pushes the last buffer (say,
 * end of partition) has left the gate before the consumer can destroy it.
 */
#include "net.h"

#include <pthread.h>
#include <stdlib.h>

typedef struct cf_net_chan_s {
    cf_net_buf_t *head;
    cf_net_buf_t *tail;
    uint8_t blocked; /* alignment: skipped by poll */
    uint8_t inring;  /* listed in avail */
} cf_net_chan_t;

struct cf_net_gate_s {
    pthread_mutex_t mu;
    cf_signal_t *owner;
    int n;
    cf_net_chan_t *chans;
    /* Channels with data: a ring of n slots. */
    int *avail;
    int avail_head;
    int avail_len;
    atomic_size_t queued; /* buffers queued in all channels */
};

cf_net_gate_t *
cf_net_gate_new(int nchannels, cf_signal_t *owner)
{
    cf_net_gate_t *gate;

    CF_ASSERT(nchannels > 0);
    gate = CF_NEW(cf_net_gate_t);
    pthread_mutex_init(&gate->mu, NULL);
    gate->owner = owner;
    gate->n = nchannels;
    gate->chans = cf_calloc((size_t)nchannels, sizeof(cf_net_chan_t));
    gate->avail = cf_calloc((size_t)nchannels, sizeof(int));
    atomic_init(&gate->queued, 0);
    return gate;
}

void
cf_net_gate_destroy(cf_net_gate_t *gate)
{
    int i;

    if (gate == NULL)
        return;
    /* Wait out a producer that is still inside push. */
    pthread_mutex_lock(&gate->mu);
    pthread_mutex_unlock(&gate->mu);
    for (i = 0; i < gate->n; i++) {
        cf_net_buf_t *b = gate->chans[i].head;
        while (b != NULL) {
            cf_net_buf_t *next = b->next;
            cf_net_buf_recycle(b);
            b = next;
        }
    }
    pthread_mutex_destroy(&gate->mu);
    cf_free(gate->chans);
    cf_free(gate->avail);
    cf_free(gate);
}

int
cf_net_gate_nchannels(const cf_net_gate_t *gate)
{
    return gate->n;
}

size_t
cf_net_gate_queued(cf_net_gate_t *gate)
{
    return atomic_load_explicit(&gate->queued, memory_order_relaxed);
}

/* Append channel ch to the ring of channels with data. Lock held. */
static void
cf_net_gate_ring_add(cf_net_gate_t *gate, int ch)
{
    CF_ASSERT(gate->avail_len < gate->n);
    gate->avail[(gate->avail_head + gate->avail_len) % gate->n] = ch;
    gate->avail_len++;
    gate->chans[ch].inring = 1;
}

void
cf_net_gate_push(cf_net_gate_t *gate, int ch, cf_net_buf_t *buf)
{
    cf_net_chan_t *c;

    CF_ASSERT(ch >= 0 && ch < gate->n);
    buf->next = NULL;
    pthread_mutex_lock(&gate->mu);
    c = &gate->chans[ch];
    if (c->tail == NULL)
        c->head = buf;
    else
        c->tail->next = buf;
    c->tail = buf;
    if (!c->inring && !c->blocked)
        cf_net_gate_ring_add(gate, ch);
    atomic_fetch_add_explicit(&gate->queued, 1, memory_order_relaxed);
    if (gate->owner != NULL)
        cf_signal_notify(gate->owner);
    pthread_mutex_unlock(&gate->mu);
}

cf_net_buf_t *
cf_net_gate_poll(cf_net_gate_t *gate, int *ch)
{
    cf_net_chan_t *c;
    cf_net_buf_t *b;
    int i;

    if (atomic_load_explicit(&gate->queued, memory_order_relaxed) == 0)
        return NULL;
    pthread_mutex_lock(&gate->mu);
    for (;;) {
        if (gate->avail_len == 0) {
            pthread_mutex_unlock(&gate->mu);
            return NULL;
        }
        i = gate->avail[gate->avail_head];
        gate->avail_head = (gate->avail_head + 1) % gate->n;
        gate->avail_len--;
        c = &gate->chans[i];
        c->inring = 0;
        if (!c->blocked)
            break;
        /* Blocked while listed: dropped now, re-listed by unblock. */
    }
    b = c->head;
    CF_ASSERT(b != NULL);
    c->head = b->next;
    if (c->head == NULL)
        c->tail = NULL;
    else /* Still has data: back to the end of the line. */
        cf_net_gate_ring_add(gate, i);
    atomic_fetch_sub_explicit(&gate->queued, 1, memory_order_relaxed);
    pthread_mutex_unlock(&gate->mu);
    b->next = NULL;
    if (ch != NULL)
        *ch = i;
    return b;
}

void
cf_net_gate_block(cf_net_gate_t *gate, int ch)
{
    CF_ASSERT(ch >= 0 && ch < gate->n);
    pthread_mutex_lock(&gate->mu);
    gate->chans[ch].blocked = 1;
    pthread_mutex_unlock(&gate->mu);
}

void
cf_net_gate_unblock_all(cf_net_gate_t *gate)
{
    pthread_mutex_lock(&gate->mu);
    for (int i = 0; i < gate->n; i++) {
        cf_net_chan_t *c = &gate->chans[i];
        if (!c->blocked)
            continue;
        c->blocked = 0;
        if (c->head != NULL && !c->inring)
            cf_net_gate_ring_add(gate, i);
    }
    pthread_mutex_unlock(&gate->mu);
}

int
cf_net_gate_is_blocked(cf_net_gate_t *gate, int ch)
{
    int b;
    CF_ASSERT(ch >= 0 && ch < gate->n);
    pthread_mutex_lock(&gate->mu);
    b = gate->chans[ch].blocked;
    pthread_mutex_unlock(&gate->mu);
    return b;
}
