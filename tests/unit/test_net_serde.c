/*
 * test_net_serde.c: records written by a result partition and read back
 * through an input gate by record readers, on one thread: spanning
 * records, edge sizes, several channels, events in order (src/net).
 */
/* Before cmocka.h, whose fail() macro clashes with cflink.h. */
#include "net.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define SEG 256u
#define MAXCH 4

static uint64_t rng_state;

static uint32_t
rng(void)
{
    /* xorshift64 */
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}

/* The payload of record seq of channel ch. */
static void
fill(uint8_t *p, uint32_t len, int ch, uint64_t seq)
{
    uint32_t i;
    for (i = 0; i < len; i++)
        p[i] = (uint8_t)(seq * 31 + (uint64_t)i * 7 + (uint64_t)ch * 101);
}

static int64_t
ts_of(int ch, uint64_t seq)
{
    return (int64_t)seq * 1000 - 7 + ch - ((int64_t)1 << 40);
}

/* One producer side and one consumer side over a gate of nch channels,
 * all on this thread. */
typedef struct fx_s {
    cf_signal_t sig;
    cf_net_env_t *env;
    cf_net_pool_t *pool;
    cf_net_gate_t *gate;
    cf_net_partition_t part;
    cf_net_reader_t rd[MAXCH];
    int nch;
    /* what the consumer expects next, per channel */
    uint64_t want_seq[MAXCH];
    uint32_t *want_len[MAXCH];
    uint64_t nwritten[MAXCH];
    uint64_t zero_copy;
    int events[MAXCH];
    uint8_t *scratch;
} fx_t;

static void
fx_init(fx_t *fx, int nch, uint32_t seg, uint32_t nbufs, uint64_t maxrec)
{
    int i;

    memset(fx, 0, sizeof *fx);
    cf_signal_init(&fx->sig);
    fx->nch = nch;
    fx->env = cf_net_env_new((int64_t)seg * nbufs, seg);
    fx->pool = cf_net_pool_new(fx->env, nbufs, &fx->sig, NULL);
    assert_non_null(fx->pool);
    fx->gate = cf_net_gate_new(nch, &fx->sig);
    cf_net_partition_init(&fx->part, fx->pool, nch, &fx->sig, NULL);
    for (i = 0; i < nch; i++) {
        cf_net_partition_connect(&fx->part, i, fx->gate, i);
        cf_net_reader_init(&fx->rd[i]);
        fx->want_len[i] = calloc(maxrec, sizeof(uint32_t));
    }
}

static void
fx_deinit(fx_t *fx)
{
    int i;

    cf_net_partition_deinit(&fx->part);
    cf_net_gate_destroy(fx->gate);
    for (i = 0; i < fx->nch; i++) {
        cf_net_reader_deinit(&fx->rd[i]);
        free(fx->want_len[i]);
    }
    free(fx->scratch);
    assert_int_equal(cf_net_pool_free_count(fx->pool),
                     cf_net_pool_size(fx->pool));
    cf_net_pool_destroy(fx->pool);
    cf_net_env_destroy(fx->env);
    cf_signal_deinit(&fx->sig);
}

static void
fx_write(fx_t *fx, int ch, uint32_t len)
{
    uint64_t seq = fx->nwritten[ch];

    fx->scratch = realloc(fx->scratch, len ? len : 1);
    fill(fx->scratch, len, ch, seq);
    fx->want_len[ch][seq] = len;
    fx->nwritten[ch]++;
    assert_int_equal(cf_net_partition_write(&fx->part, ch, fx->scratch, len,
                                            ts_of(ch, seq)),
                     0);
}

static void
check_record(fx_t *fx, int ch, const cf_record_t *rec)
{
    uint64_t seq = fx->want_seq[ch]++;
    uint32_t i;
    const uint8_t *p = rec->data;

    assert_true(seq < fx->nwritten[ch]);
    assert_int_equal(rec->len, fx->want_len[ch][seq]);
    assert_int_equal(rec->ts, ts_of(ch, seq));
    for (i = 0; i < rec->len; i++)
        if (p[i] != (uint8_t)(seq * 31 + (uint64_t)i * 7 + (uint64_t)ch * 101))
            fail_msg("ch %d record %llu byte %u differs", ch,
                     (unsigned long long)seq, i);
}

/* Take everything queued in the gate and read it. */
static void
fx_drain(fx_t *fx)
{
    cf_net_buf_t *b;
    cf_record_t rec;
    int ch;

    while ((b = cf_net_gate_poll(fx->gate, &ch)) != NULL) {
        cf_net_reader_t *r = &fx->rd[ch];
        if (b->kind == CF_NET_EVENT) {
            assert_false(cf_net_reader_in_record(r));
            fx->events[ch]++;
            cf_net_buf_recycle(b);
            continue;
        }
        assert_int_equal(fx->events[ch], 0); /* no data after an event */
        cf_net_reader_set(r, b);
        while (cf_net_reader_next(r, &rec)) {
            if (rec.len > 0 && (const uint8_t *)rec.data != r->span)
                fx->zero_copy++;
            check_record(fx, ch, &rec);
        }
        assert_null(r->buf);
    }
}

static void
test_roundtrip_random(void **state)
{
    enum { N = 3000 };
    fx_t fx;
    uint64_t bytes = 0;
    int i;

    (void)state;
    rng_state = 0x9e3779b97f4a7c15ULL;
    fx_init(&fx, 1, SEG, 16, N);
    for (i = 0; i < N; i++) {
        uint32_t len = rng() % (5 * SEG + 1);
        if (i % 50 == 0)
            len = 0;
        fx_write(&fx, 0, len);
        bytes += CF_NET_REC_HDR + len;
        fx_drain(&fx);
        /* The consumer has everything but what sits in the current
         * buffer, and never waited: nothing leaked. */
        assert_true(cf_net_pool_free_count(fx.pool) >= 15);
    }
    cf_net_partition_flush_all(&fx.part);
    fx_drain(&fx);
    assert_int_equal(fx.want_seq[0], N);
    assert_int_equal(fx.part.records_out, N);
    assert_int_equal(fx.part.bytes_out, bytes);
    assert_int_equal(fx.rd[0].records_in, N);
    assert_int_equal(fx.rd[0].bytes_in, bytes);
    assert_true(fx.zero_copy > 0);
    assert_int_equal(fx.part.wait_ns, 0);
    fx_deinit(&fx);
}

static void
test_edge_sizes(void **state)
{
    fx_t fx;
    cf_net_buf_t *b;
    cf_record_t rec;
    size_t q;
    int ch;

    (void)state;
    fx_init(&fx, 1, SEG, 8, 64);

    /* A record exactly filling a buffer ships it at once. */
    fx_write(&fx, 0, SEG - CF_NET_REC_HDR);
    assert_null(fx.part.sub[0].cur);
    assert_int_equal(cf_net_gate_queued(fx.gate), 1);
    b = cf_net_gate_poll(fx.gate, &ch);
    assert_int_equal(b->len, SEG);
    cf_net_reader_set(&fx.rd[0], b);
    assert_int_equal(cf_net_reader_next(&fx.rd[0], &rec), 1);
    assert_ptr_equal(rec.data, b->data + CF_NET_REC_HDR); /* in place */
    check_record(&fx, 0, &rec);
    assert_int_equal(cf_net_reader_next(&fx.rd[0], &rec), 0);
    assert_int_equal(cf_net_pool_free_count(fx.pool), 8);

    /* Leaves exactly a header's room: the next header goes there, its
     * payload entirely into the next buffer. */
    fx_write(&fx, 0, SEG - 2 * CF_NET_REC_HDR);
    assert_int_equal(cf_net_gate_queued(fx.gate), 0);
    fx_write(&fx, 0, 100);
    assert_int_equal(cf_net_gate_queued(fx.gate), 1);
    assert_int_equal(fx.part.sub[0].cur->len, 100);
    fx_drain(&fx);
    assert_true(cf_net_reader_in_record(&fx.rd[0]));
    cf_net_partition_flush(&fx.part, 0);
    fx_drain(&fx);
    assert_false(cf_net_reader_in_record(&fx.rd[0]));

    /* Leaves less than a header's room: the next write ships the buffer
     * and starts a new one. */
    fx_write(&fx, 0, SEG - 2 * CF_NET_REC_HDR + 1);
    assert_int_equal(fx.part.sub[0].cur->len, SEG - CF_NET_REC_HDR + 1);
    fx_write(&fx, 0, 5);
    assert_int_equal(cf_net_gate_queued(fx.gate), 1);
    assert_int_equal(fx.part.sub[0].cur->len, CF_NET_REC_HDR + 5);

    /* Zero-length records, and one that exactly fills the buffer on the
     * fast path: that buffer waits for the next write to ship it. */
    fx_write(&fx, 0, 0);
    fx_write(&fx, 0, SEG - 3 * CF_NET_REC_HDR - 5);
    assert_int_equal(fx.part.sub[0].cur->len, SEG);
    q = cf_net_gate_queued(fx.gate);
    fx_write(&fx, 0, 0);
    assert_int_equal(cf_net_gate_queued(fx.gate), q + 1);
    assert_int_equal(fx.part.sub[0].cur->len, CF_NET_REC_HDR);
    fx_write(&fx, 0, 0);
    cf_net_partition_flush_all(&fx.part);
    fx_drain(&fx);

    /* A payload of exactly one buffer spans by the header's length; the
     * next record then ends a buffer exactly, which ships it. */
    fx_write(&fx, 0, SEG);
    assert_int_equal(fx.part.sub[0].cur->len, CF_NET_REC_HDR);
    fx_write(&fx, 0, 2 * SEG - 2 * CF_NET_REC_HDR);
    assert_null(fx.part.sub[0].cur);
    fx_drain(&fx);
    assert_int_equal(fx.want_seq[0], fx.nwritten[0]);

    /* Flush ships nothing for an empty current buffer, and keeps it. */
    b = cf_net_pool_try_request(fx.pool);
    fx.part.sub[0].cur = b;
    cf_net_partition_flush_all(&fx.part);
    assert_int_equal(cf_net_gate_queued(fx.gate), 0);
    assert_ptr_equal(fx.part.sub[0].cur, b);

    fx_write(&fx, 0, 1);
    cf_net_partition_flush_all(&fx.part);
    fx_drain(&fx);
    assert_int_equal(fx.want_seq[0], fx.nwritten[0]);
    assert_int_equal(fx.rd[0].records_in, fx.part.records_out);
    assert_int_equal(fx.rd[0].bytes_in, fx.part.bytes_out);
    fx_deinit(&fx);
}

static void
test_multi_megabyte_record(void **state)
{
    const uint32_t seg = 1024;
    const uint32_t big = 5u * 1024 * 1024 + 17;
    fx_t fx;

    (void)state;
    /* The writer holds the whole record in flight: size the pool so. */
    fx_init(&fx, 1, seg, big / (seg - CF_NET_REC_HDR) + 8, 8);
    fx_write(&fx, 0, 3);
    fx_write(&fx, 0, big);
    assert_true(cf_net_gate_queued(fx.gate) >= big / seg);
    fx_drain(&fx);
    assert_true(cf_net_reader_in_record(&fx.rd[0]));
    fx_write(&fx, 0, 0);
    fx_write(&fx, 0, big / 3);
    fx_drain(&fx);
    cf_net_partition_flush_all(&fx.part);
    fx_drain(&fx);
    assert_int_equal(fx.want_seq[0], 4);
    assert_true(fx.rd[0].span_cap >= big);
    fx_deinit(&fx);
}

static void
test_channels_interleaved(void **state)
{
    enum { N = 6000, NCH = 3 };
    fx_t fx;
    uint64_t total = 0;
    int i, c;

    (void)state;
    rng_state = 0x1234567887654321ULL;
    fx_init(&fx, NCH, SEG, 24, N);
    for (i = 0; i < N; i++) {
        int ch = (int)(rng() % NCH);
        uint32_t len = rng() % (5 * SEG + 1);
        fx_write(&fx, ch, len);
        /* Drain only now and then so that buffers of several channels
         * (and parts of spanning records) interleave in the gate. */
        if (rng() % 3 == 0)
            fx_drain(&fx);
        if (cf_net_pool_free_count(fx.pool) < 8)
            fx_drain(&fx);
    }
    assert_int_equal(cf_net_partition_broadcast_event(
                         &fx.part, CF_NET_EV_END_OF_PARTITION, NULL, 0),
                     0);
    fx_drain(&fx);
    for (c = 0; c < NCH; c++) {
        assert_int_equal(fx.want_seq[c], fx.nwritten[c]);
        assert_int_equal(fx.events[c], 1);
        total += fx.rd[c].records_in;
    }
    assert_int_equal(total, N);
    fx_deinit(&fx);
}

static void
test_events_in_order(void **state)
{
    static const char payload[] = "end\0of\0partition\xff";
    fx_t fx;
    cf_net_buf_t *b;
    cf_record_t rec;
    int ch, i, n[2] = {0, 0};
    int seen_ev[2] = {0, 0};

    (void)state;
    fx_init(&fx, 2, SEG, 8, 64);
    for (i = 0; i < 20; i++)
        fx_write(&fx, i % 2, 30); /* partial buffers on both channels */
    assert_int_equal(cf_net_partition_broadcast_event(
                         &fx.part, CF_NET_EV_END_OF_PARTITION, payload,
                         sizeof payload),
                     0);
    assert_null(fx.part.sub[0].cur); /* the event shipped the data */
    assert_null(fx.part.sub[1].cur);
    while ((b = cf_net_gate_poll(fx.gate, &ch)) != NULL) {
        if (b->kind == CF_NET_EVENT) {
            assert_int_equal(b->event, CF_NET_EV_END_OF_PARTITION);
            assert_int_equal(b->len, sizeof payload);
            assert_memory_equal(b->data, payload, sizeof payload);
            assert_int_equal(n[ch], 10); /* after all the data */
            seen_ev[ch]++;
            cf_net_buf_recycle(b);
            continue;
        }
        assert_int_equal(seen_ev[ch], 0);
        cf_net_reader_set(&fx.rd[ch], b);
        while (cf_net_reader_next(&fx.rd[ch], &rec)) {
            check_record(&fx, ch, &rec);
            n[ch]++;
        }
    }
    assert_int_equal(seen_ev[0], 1);
    assert_int_equal(seen_ev[1], 1);

    /* An event with nothing buffered before it. */
    assert_int_equal(
        cf_net_partition_broadcast_event(&fx.part, 7, NULL, 0), 0);
    assert_int_equal(cf_net_gate_queued(fx.gate), 2);
    fx_deinit(&fx); /* the gate frees the queued events */
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_random),
        cmocka_unit_test(test_edge_sizes),
        cmocka_unit_test(test_multi_megabyte_record),
        cmocka_unit_test(test_channels_interleaved),
        cmocka_unit_test(test_events_in_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
