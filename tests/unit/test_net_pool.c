/*
 * test_net_pool.c: the network memory budget, buffer pools, event buffers
 * and input gates (src/net).
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

static void
test_budget_accounting(void **state)
{
    cf_net_env_t *env;
    cf_net_pool_t *a, *b;
    cf_signal_t sig;

    (void)state;
    cf_signal_init(&sig);
    /* 10.5 segments: the half is not a segment. */
    env = cf_net_env_new(10 * 256 + 128, 256);
    assert_int_equal(cf_net_env_segment_size(env), 256);
    assert_int_equal(cf_net_env_total_segments(env), 10);
    assert_int_equal(cf_net_env_free_segments(env), 10);

    a = cf_net_pool_new(env, 6, &sig, NULL);
    assert_non_null(a);
    assert_int_equal(cf_net_pool_size(a), 6);
    assert_int_equal(cf_net_pool_free_count(a), 6);
    assert_int_equal(cf_net_env_free_segments(env), 4);

    b = cf_net_pool_new(env, 4, &sig, NULL);
    assert_non_null(b);
    assert_int_equal(cf_net_env_free_segments(env), 0);
    cf_net_pool_destroy(b);
    assert_int_equal(cf_net_env_free_segments(env), 4);

    /* An empty pool is legal and costs nothing. */
    b = cf_net_pool_new(env, 0, &sig, NULL);
    assert_non_null(b);
    assert_null(cf_net_pool_try_request(b));
    assert_false(cf_net_pool_has_free(b));
    cf_net_pool_destroy(b);

    cf_net_pool_destroy(a);
    assert_int_equal(cf_net_env_free_segments(env), 10);
    cf_net_pool_destroy(NULL);
    cf_net_env_destroy(env);
    cf_net_env_destroy(NULL);
    cf_signal_deinit(&sig);
}

static void
test_enobufs_message(void **state)
{
    cf_net_env_t *env;
    cf_net_pool_t *a, *b;
    cf_error_t *err = NULL;

    (void)state;
    env = cf_net_env_new(10 * 32768, 32768);
    a = cf_net_pool_new(env, 7, NULL, NULL);
    assert_non_null(a);

    b = cf_net_pool_new(env, 4, NULL, &err);
    assert_null(b);
    assert_non_null(err);
    assert_int_equal(err->code, CF_ENOBUFS);
    assert_string_equal(
        cf_error_msg(err),
        "Insufficient number of network buffers: required 4, but only 3 "
        "available. The total number of network buffers is currently set "
        "to 10 of 32768 bytes each. You can increase this number by "
        "setting the configuration keys "
        "'taskmanager.memory.network.fraction', "
        "'taskmanager.memory.network.min', and "
        "'taskmanager.memory.network.max'.");
    cf_error_free(err);
    /* A failed request reserves nothing. */
    assert_int_equal(cf_net_env_free_segments(env), 3);
    /* errp may be NULL. */
    assert_null(cf_net_pool_new(env, 4, NULL, NULL));

    cf_net_pool_destroy(a);
    b = cf_net_pool_new(env, 10, NULL, NULL);
    assert_non_null(b);
    cf_net_pool_destroy(b);
    cf_net_env_destroy(env);
}

static void
test_pool_request_recycle(void **state)
{
    cf_net_env_t *env;
    cf_net_pool_t *pool;
    cf_net_buf_t *bufs[4];
    cf_signal_t sig;
    uint64_t c0;
    int i, j;

    (void)state;
    cf_signal_init(&sig);
    env = cf_net_env_new(1 << 20, 256);
    pool = cf_net_pool_new(env, 4, &sig, NULL);
    for (i = 0; i < 4; i++) {
        bufs[i] = cf_net_pool_try_request(pool);
        assert_non_null(bufs[i]);
        assert_ptr_equal(bufs[i]->pool, pool);
        assert_int_equal(bufs[i]->len, 0);
        assert_int_equal(bufs[i]->size, 256);
        assert_int_equal(bufs[i]->kind, CF_NET_DATA);
        assert_int_equal((uintptr_t)bufs[i]->data % 64, 0);
        /* Segments do not overlap. */
        for (j = 0; j < i; j++)
            assert_true(bufs[i]->data + 256 <= bufs[j]->data ||
                        bufs[j]->data + 256 <= bufs[i]->data);
        memset(bufs[i]->data, i, 256);
        bufs[i]->len = 100;
    }
    assert_null(cf_net_pool_try_request(pool));
    assert_false(cf_net_pool_has_free(pool));

    /* Recycling notifies the owner. */
    c0 = cf_signal_count(&sig);
    cf_net_buf_recycle(bufs[2]);
    assert_true(cf_signal_count(&sig) > c0);
    assert_true(cf_net_pool_has_free(pool));
    assert_int_equal(cf_net_pool_free_count(pool), 1);
    bufs[2] = cf_net_pool_try_request(pool);
    assert_non_null(bufs[2]);
    assert_int_equal(bufs[2]->len, 0); /* reset */

    for (i = 0; i < 4; i++)
        cf_net_buf_recycle(bufs[i]);
    cf_net_buf_recycle(NULL);
    assert_int_equal(cf_net_pool_free_count(pool), 4);
    cf_net_pool_destroy(pool);
    cf_net_env_destroy(env);
    cf_signal_deinit(&sig);
}

static void
test_event_buffers(void **state)
{
    cf_net_buf_t *ev;

    (void)state;
    ev = cf_net_event_new(CF_NET_EV_END_OF_PARTITION, "abc", 3);
    assert_null(ev->pool);
    assert_int_equal(ev->kind, CF_NET_EVENT);
    assert_int_equal(ev->event, CF_NET_EV_END_OF_PARTITION);
    assert_int_equal(ev->len, 3);
    assert_memory_equal(ev->data, "abc", 3);
    cf_net_buf_recycle(ev); /* freed: the leak checker would tell */

    ev = cf_net_event_new(CF_NET_EV_END_OF_PARTITION, NULL, 0);
    assert_int_equal(ev->len, 0);
    cf_net_buf_recycle(ev);
}

static void
test_gate_fifo_and_fairness(void **state)
{
    cf_net_gate_t *gate;
    cf_net_buf_t *ev[8];
    cf_net_buf_t *b;
    cf_signal_t sig;
    uint64_t c0;
    int i, ch;
    /* Buffer i goes to channel push_ch[i]: ch0 holds 0 1 4, ch1 holds 2,
     * ch2 holds 3 5. Channels are served one buffer each, in the order
     * they got data, a channel with more going to the end of the line. */
    static const int push_ch[] = {0, 0, 1, 2, 0, 2};
    static const int want_id[] = {0, 2, 3, 1, 5, 4};
    static const int want_ch[] = {0, 1, 2, 0, 2, 0};

    (void)state;
    cf_signal_init(&sig);
    gate = cf_net_gate_new(3, &sig);
    assert_int_equal(cf_net_gate_nchannels(gate), 3);
    assert_null(cf_net_gate_poll(gate, &ch));

    c0 = cf_signal_count(&sig);
    for (i = 0; i < 6; i++) {
        uint8_t id = (uint8_t)i;
        ev[i] = cf_net_event_new(1, &id, 1);
        cf_net_gate_push(gate, push_ch[i], ev[i]);
    }
    assert_int_equal(cf_signal_count(&sig), c0 + 6);
    assert_int_equal(cf_net_gate_queued(gate), 6);
    for (i = 0; i < 6; i++) {
        int id;
        b = cf_net_gate_poll(gate, &ch);
        assert_non_null(b);
        id = b->data[0];
        assert_int_equal(ch, want_ch[i]);
        assert_int_equal(id, want_id[i]);
        cf_net_buf_recycle(b);
    }
    assert_null(cf_net_gate_poll(gate, &ch));
    assert_int_equal(cf_net_gate_queued(gate), 0);

    /* Order within a channel is FIFO. */
    for (i = 0; i < 5; i++) {
        uint8_t id = (uint8_t)i;
        cf_net_gate_push(gate, 1, cf_net_event_new(1, &id, 1));
    }
    for (i = 0; i < 5; i++) {
        b = cf_net_gate_poll(gate, &ch);
        assert_int_equal(ch, 1);
        assert_int_equal(b->data[0], i);
        cf_net_buf_recycle(b);
    }

    /* Destroy recycles what is still queued. */
    for (i = 0; i < 4; i++)
        cf_net_gate_push(gate, i % 3, cf_net_event_new(1, "x", 1));
    cf_net_gate_destroy(gate);
    cf_net_gate_destroy(NULL);
    cf_signal_deinit(&sig);
}

static void
test_gate_round_robin_exact(void **state)
{
    cf_net_gate_t *gate;
    cf_net_buf_t *b;
    int ch, i;
    /* ch2 gets data first, then ch0, then ch1; ch2 has 3 buffers, ch0 2,
     * ch1 1: expect 2 0 1 2 0 2. */
    static const int push_ch[] = {2, 0, 1, 2, 0, 2};
    static const int want_ch[] = {2, 0, 1, 2, 0, 2};
    int seq[3] = {0, 0, 0};

    (void)state;
    gate = cf_net_gate_new(3, NULL);
    for (i = 0; i < 6; i++) {
        uint8_t n = (uint8_t)seq[push_ch[i]]++;
        cf_net_gate_push(gate, push_ch[i], cf_net_event_new(1, &n, 1));
    }
    memset(seq, 0, sizeof seq);
    for (i = 0; i < 6; i++) {
        b = cf_net_gate_poll(gate, &ch);
        assert_non_null(b);
        assert_int_equal(ch, want_ch[i]);
        assert_int_equal(b->data[0], seq[ch]++);
        cf_net_buf_recycle(b);
    }
    assert_null(cf_net_gate_poll(gate, NULL));
    cf_net_gate_destroy(gate);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_budget_accounting),
        cmocka_unit_test(test_enobufs_message),
        cmocka_unit_test(test_pool_request_recycle),
        cmocka_unit_test(test_event_buffers),
        cmocka_unit_test(test_gate_fifo_and_fairness),
        cmocka_unit_test(test_gate_round_robin_exact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
