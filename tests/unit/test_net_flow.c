/*
 * test_net_flow.c: a producer and a consumer on two threads over bounded
 * buffers: backpressure, ordering per channel, cancellation of a blocked
 * producer (src/net).
 */
/* Before cmocka.h, whose fail() macro clashes with cflink.h. */
#include "net.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* ------------------------------------------------------------------ */
/* Backpressure                                                        */
/* ------------------------------------------------------------------ */

#define BP_RECORDS 1000000
#define BP_NSUB 3
#define BP_POOL 8
#define BP_SEG 4096u
#define BP_BIG 10000u /* an occasional record spanning three buffers */

typedef struct bp_s {
    cf_net_env_t *env;
    cf_net_pool_t *pool;
    cf_net_gate_t *gate;
    cf_net_partition_t part;
    cf_signal_t psig; /* producer's */
    cf_signal_t csig; /* consumer's */
    atomic_int cancel;
    int prod_rc;
    /* consumer results */
    char err[256];
    uint64_t got[BP_NSUB];
    uint64_t buffers;
    int max_queued;
} bp_t;

static uint32_t
bp_len(uint64_t i)
{
    if (i % 997 == 0)
        return BP_BIG;
    return 8 + (uint32_t)((i * 2654435761u) >> 7) % 56;
}

static uint8_t
bp_byte(int ch, uint64_t seq, uint32_t i)
{
    return (uint8_t)(seq + i * 13 + (uint64_t)ch * 59);
}

static void *
bp_producer(void *arg)
{
    bp_t *bp = arg;
    uint64_t seq[BP_NSUB] = {0, 0, 0};
    uint8_t rec[BP_BIG];
    uint64_t i;
    uint32_t j;

    cf_net_partition_init(&bp->part, bp->pool, BP_NSUB, &bp->psig,
                          &bp->cancel);
    for (j = 0; j < BP_NSUB; j++)
        cf_net_partition_connect(&bp->part, (int)j, bp->gate, (int)j);
    for (i = 0; i < BP_RECORDS; i++) {
        int ch = (int)((i * 7 + i / 5) % BP_NSUB);
        uint32_t len = bp_len(i);
        memcpy(rec, &seq[ch], 8);
        for (j = 8; j < len; j++)
            rec[j] = bp_byte(ch, seq[ch], j);
        bp->prod_rc = cf_net_partition_write(&bp->part, ch, rec, len,
                                             (int64_t)seq[ch] * 3 + ch);
        if (bp->prod_rc != 0)
            return NULL;
        seq[ch]++;
    }
    bp->prod_rc = cf_net_partition_broadcast_event(
        &bp->part, CF_NET_EV_END_OF_PARTITION, NULL, 0);
    /* The pool may go only when every buffer is back. */
    for (;;) {
        uint64_t seen = cf_signal_count(&bp->psig);
        if (cf_net_pool_free_count(bp->pool) == BP_POOL)
            break;
        cf_signal_wait(&bp->psig, &seen, cf_mono_ns() + 100000000LL);
    }
    return NULL;
}

static void *
bp_consumer(void *arg)
{
    bp_t *bp = arg;
    cf_net_reader_t rd[BP_NSUB];
    int ended = 0, ch, k;
    int eop[BP_NSUB] = {0, 0, 0};
    cf_record_t rec;

    for (k = 0; k < BP_NSUB; k++)
        cf_net_reader_init(&rd[k]);
    while (ended < BP_NSUB && bp->err[0] == '\0') {
        uint64_t seen = cf_signal_count(&bp->csig);
        size_t q = cf_net_gate_queued(bp->gate);
        cf_net_buf_t *b = cf_net_gate_poll(bp->gate, &ch);

        if ((int)q > bp->max_queued)
            bp->max_queued = (int)q;
        if (b == NULL) {
            cf_signal_wait(&bp->csig, &seen, cf_mono_ns() + 100000000LL);
            continue;
        }
        if (b->kind == CF_NET_EVENT) {
            if (b->event == CF_NET_EV_END_OF_PARTITION && !eop[ch]) {
                eop[ch] = 1;
                ended++;
            }
            cf_net_buf_recycle(b);
            continue;
        }
        if (eop[ch]) {
            snprintf(bp->err, sizeof bp->err, "data after end, ch %d", ch);
            cf_net_buf_recycle(b);
            break;
        }
        /* A slow consumer: the producer must wait for buffers. */
        if (++bp->buffers % 64 == 0)
            cf_sleep_ms(1);
        cf_net_reader_set(&rd[ch], b);
        while (cf_net_reader_next(&rd[ch], &rec)) {
            uint64_t s;
            const uint8_t *p = rec.data;
            uint32_t j;

            if (rec.len < 8) {
                snprintf(bp->err, sizeof bp->err, "short record");
                break;
            }
            memcpy(&s, p, 8);
            if (s != bp->got[ch] || rec.ts != (int64_t)s * 3 + ch) {
                snprintf(bp->err, sizeof bp->err,
                         "ch %d: record %llu ts %lld, expected %llu", ch,
                         (unsigned long long)s, (long long)rec.ts,
                         (unsigned long long)bp->got[ch]);
                break;
            }
            for (j = 8; j < rec.len; j++)
                if (p[j] != bp_byte(ch, s, j)) {
                    snprintf(bp->err, sizeof bp->err,
                             "ch %d: record %llu byte %u", ch,
                             (unsigned long long)s, j);
                    break;
                }
            bp->got[ch]++;
        }
    }
    for (k = 0; k < BP_NSUB; k++)
        cf_net_reader_deinit(&rd[k]);
    if (bp->err[0] != '\0') {
        /* Do not leave the producer blocked forever. */
        atomic_store(&bp->cancel, 1);
        cf_signal_notify(&bp->psig);
    }
    return NULL;
}

static void
test_backpressure_two_threads(void **state)
{
    bp_t *bp = calloc(1, sizeof *bp);
    pthread_t prod, cons;
    uint64_t total = 0;
    int k;

    (void)state;
    cf_signal_init(&bp->psig);
    cf_signal_init(&bp->csig);
    atomic_init(&bp->cancel, 0);
    bp->env = cf_net_env_new(64 * BP_SEG, BP_SEG);
    bp->pool = cf_net_pool_new(bp->env, BP_POOL, &bp->psig, NULL);
    assert_non_null(bp->pool);
    bp->gate = cf_net_gate_new(BP_NSUB, &bp->csig);

    assert_int_equal(pthread_create(&cons, NULL, bp_consumer, bp), 0);
    assert_int_equal(pthread_create(&prod, NULL, bp_producer, bp), 0);
    pthread_join(prod, NULL);
    pthread_join(cons, NULL);

    assert_string_equal(bp->err, "");
    assert_int_equal(bp->prod_rc, 0);
    for (k = 0; k < BP_NSUB; k++)
        total += bp->got[k];
    assert_int_equal(total, BP_RECORDS);
    assert_int_equal(bp->part.records_out, BP_RECORDS);
    /* Bounded: never more queued than the pool has buffers (plus the
     * end-of-partition events, which come from outside the pool). */
    assert_true(bp->max_queued <= BP_POOL + BP_NSUB);
    /* The producer had to wait: backpressure. */
    assert_true(bp->part.wait_ns > 0);
    print_message("backpressure: %llu buffers, producer waited %.1f ms, "
                  "max queued %d\n",
                  (unsigned long long)bp->buffers,
                  (double)bp->part.wait_ns / 1e6, bp->max_queued);

    cf_net_partition_deinit(&bp->part);
    cf_net_gate_destroy(bp->gate);
    cf_net_pool_destroy(bp->pool);
    cf_net_env_destroy(bp->env);
    cf_signal_deinit(&bp->psig);
    cf_signal_deinit(&bp->csig);
    free(bp);
}

/* ------------------------------------------------------------------ */
/* Cancellation                                                        */
/* ------------------------------------------------------------------ */

typedef struct cx_s {
    cf_net_partition_t part;
    cf_signal_t sig;
    atomic_int cancel;
    atomic_int written;
    int rc;
    int64_t returned_ns;
} cx_t;

static void *
cx_producer(void *arg)
{
    cx_t *cx = arg;
    uint8_t rec[100] = {0};

    for (;;) {
        cx->rc = cf_net_partition_write(&cx->part, 0, rec, sizeof rec, 0);
        if (cx->rc != 0)
            break;
        atomic_fetch_add(&cx->written, 1);
    }
    cx->returned_ns = cf_mono_ns();
    return NULL;
}

/* Nobody consumes, so the producer blocks once its pool is empty; the
 * cancel flag must get it out promptly, with (notify) or without a
 * wake-up (it rechecks the flag at least every wait slice). */
static void
run_cancel(int notify)
{
    cf_net_env_t *env = cf_net_env_new(1 << 20, 256);
    cf_net_gate_t *gate = cf_net_gate_new(1, NULL);
    cx_t *cx = calloc(1, sizeof *cx);
    cf_net_pool_t *pool;
    pthread_t t;
    int64_t t0;
    int w;

    cf_signal_init(&cx->sig);
    pool = cf_net_pool_new(env, 2, &cx->sig, NULL);
    cf_net_partition_init(&cx->part, pool, 1, &cx->sig, &cx->cancel);
    cf_net_partition_connect(&cx->part, 0, gate, 0);
    assert_int_equal(pthread_create(&t, NULL, cx_producer, cx), 0);

    /* Wait until it is stuck: the pool is empty and nothing is written
     * any more. */
    do {
        w = atomic_load(&cx->written);
        cf_sleep_ms(130);
    } while (cf_net_pool_has_free(pool) || atomic_load(&cx->written) != w);
    /* 2 buffers of 256 bytes hold 4 records of 112 bytes. */
    assert_int_equal(w, 4);

    t0 = cf_mono_ns();
    atomic_store(&cx->cancel, 1);
    if (notify)
        cf_signal_notify(&cx->sig);
    pthread_join(t, NULL);

    assert_int_equal(cx->rc, CF_ECANCELED);
    assert_true(cx->returned_ns - t0 < (notify ? 50 : 500) * 1000000LL);
    assert_true(cx->part.wait_ns >= 100 * 1000000LL);
    print_message("cancel (%s): returned after %.2f ms, waited %.0f ms\n",
                  notify ? "notified" : "flag only",
                  (double)(cx->returned_ns - t0) / 1e6,
                  (double)cx->part.wait_ns / 1e6);

    cf_net_partition_deinit(&cx->part);
    cf_net_gate_destroy(gate);
    assert_int_equal(cf_net_pool_free_count(pool), 2);
    cf_net_pool_destroy(pool);
    cf_net_env_destroy(env);
    cf_signal_deinit(&cx->sig);
    free(cx);
}

static void
test_cancel_blocked_producer(void **state)
{
    (void)state;
    run_cancel(1);
}

static void
test_cancel_without_wakeup(void **state)
{
    (void)state;
    run_cancel(0);
}

/* ------------------------------------------------------------------ */
/* Recycling from another thread wakes a blocked producer               */
/* ------------------------------------------------------------------ */

static void *
recycler(void *arg)
{
    cf_net_gate_t *gate = arg;
    cf_net_buf_t *b;

    cf_sleep_ms(20);
    b = cf_net_gate_poll(gate, NULL);
    cf_net_buf_recycle(b);
    return NULL;
}

static void
test_recycle_wakes_producer(void **state)
{
    cf_net_env_t *env = cf_net_env_new(1 << 20, 256);
    cf_net_gate_t *gate = cf_net_gate_new(1, NULL);
    cf_net_partition_t part;
    cf_net_pool_t *pool;
    cf_signal_t sig;
    atomic_int cancel;
    uint8_t rec[244] = {0};
    pthread_t t;
    int64_t t0;

    (void)state;
    atomic_init(&cancel, 0);
    cf_signal_init(&sig);
    pool = cf_net_pool_new(env, 1, &sig, NULL);
    cf_net_partition_init(&part, pool, 1, &sig, &cancel);
    cf_net_partition_connect(&part, 0, gate, 0);
    /* Fills and ships the only buffer. */
    assert_int_equal(cf_net_partition_write(&part, 0, rec, 244, 0), 0);
    assert_false(cf_net_partition_available(&part));
    assert_int_equal(pthread_create(&t, NULL, recycler, gate), 0);
    t0 = cf_mono_ns();
    assert_int_equal(cf_net_partition_write(&part, 0, rec, 10, 0), 0);
    /* Woken by the recycle (~20 ms), not by a wait slice running out. */
    assert_true(cf_mono_ns() - t0 < 95 * 1000000LL);
    assert_true(part.wait_ns > 0);
    pthread_join(t, NULL);

    cf_net_partition_deinit(&part);
    cf_net_gate_destroy(gate);
    cf_net_pool_destroy(pool);
    cf_net_env_destroy(env);
    cf_signal_deinit(&sig);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backpressure_two_threads),
        cmocka_unit_test(test_cancel_blocked_producer),
        cmocka_unit_test(test_cancel_without_wakeup),
        cmocka_unit_test(test_recycle_wakes_producer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
