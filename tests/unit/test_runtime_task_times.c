/*
 * test_runtime_task_times.c: busy, back-pressured and idle time of tasks
 * (cf_task_times) and the per-second rates derived from them
 * (cf_task_rates_feed).
 *
 * Two deployed tasks (the TaskManager path, as test_runtime_deploy.c),
 * source -> sink over a local channel:
 *  - a fast source into a slow sink (1 ms per record): the source is
 *    back-pressured almost all the time and the sink busy;
 *  - a source with nothing to emit (CF_SOURCE_IDLE): both are idle;
 *  - the measurement switched off: no times.
 * In each, busy + back-pressured + idle is the RUNNING wall time, and the
 * figures read while the tasks run never decrease. The record writer's
 * own wait for a buffer (inside a write) is metered on its partition's
 * meter, checked without tasks.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include "runtime_int.h"

#include <cmocka.h>

/* The source stops (CF_SOURCE_END) once stop is set. */
static atomic_int stop;
static atomic_int emitted;
/* What the source does: 0 emits 1 KiB records as fast as it can, 1 has
 * nothing (CF_SOURCE_IDLE). */
static int src_mode;

static int
src_next(cf_ctx_t *ctx)
{
    static uint8_t rec[1024];

    if (atomic_load(&stop))
        return CF_SOURCE_END;
    if (src_mode == 1)
        return CF_SOURCE_IDLE;
    atomic_fetch_add(&emitted, 1);
    return cf_task_emit(ctx, rec, sizeof rec, 0);
}

/* 1 ms per record: work, so busy time (as a slow Flink operator). */
static int
slow_sink_invoke(cf_ctx_t *ctx, const cf_record_t *in)
{
    (void)ctx;
    (void)in;
    cf_sleep_ms(1);
    return CF_OK;
}

static int
key_all(cf_ctx_t *ctx, const cf_record_t *in, cf_key_t *key)
{
    (void)ctx;
    key->data = in->data;
    key->len = in->len;
    return CF_OK;
}

static const cf_source_ops_t src_ops = {sizeof(cf_source_ops_t), NULL, src_next,
                                        NULL};
static const cf_sink_ops_t sink_ops = {sizeof(cf_sink_ops_t), NULL,
                                       slow_sink_invoke, NULL, NULL};

typedef struct fx_s {
    cf_config_t *cfg;
    cf_job_t *job;
    cf_net_env_t *net;
    cf_task_t *src, *snk;
    int64_t t0_ns;
} fx_t;

static void
fx_start(fx_t *fx, int mode)
{
    cf_error_t *err = NULL;
    cf_task_spec_t spec;
    cf_stream_t *s;

    memset(fx, 0, sizeof *fx);
    src_mode = mode;
    atomic_store(&stop, 0);
    atomic_store(&emitted, 0);
    fx->cfg = cf_config_new();
    fx->job = CF_NEW(cf_job_t);
    fx->job->env = cf_env_new(fx->cfg, 1);
    fx->job->cfg = fx->cfg;
    cf_id_random(&fx->job->job_id);
    cf_id_to_hex(&fx->job->job_id, fx->job->job_id_hex);
    s = cf_b_env_add_source(fx->job->env, "src", &src_ops, NULL);
    s = cf_b_key_by(s, key_all, NULL);
    cf_b_sink(s, "out", &sink_ops, NULL);
    assert_int_equal(cf_jobgraph_build(fx->job, &err), 0);
    /* 4 KiB buffers: the sink takes ~4 ms per buffer, so the source's
     * pool is empty nearly all the time. */
    fx->net = cf_net_env_new(4 << 20, 4096);

    memset(&spec, 0, sizeof spec);
    spec.net = fx->net;
    spec.vertex = 1;
    spec.nchannels = 1;
    fx->snk = cf_task_deploy(fx->job, &spec, &err);
    spec.vertex = 0;
    spec.nchannels = 0;
    fx->src = cf_task_deploy(fx->job, &spec, &err);
    assert_non_null(fx->snk);
    assert_non_null(fx->src);
    cf_net_partition_connect(cf_task_output(fx->src, 0), 0,
                             cf_task_gate(fx->snk), 0);
    atomic_fetch_add(cf_task_connected(fx->src), 1);
    fx->t0_ns = cf_mono_ns();
    assert_int_equal(cf_task_start(fx->snk, &err), 0);
    assert_int_equal(cf_task_start(fx->src, &err), 0);
}

/* Ends both tasks; they stay readable until fx_free. */
static void
fx_join(fx_t *fx)
{
    atomic_store(&stop, 1);
    cf_signal_notify(cf_task_signal(fx->src));
    cf_task_join(fx->src);
    cf_task_join(fx->snk);
}

static void
fx_free(fx_t *fx)
{
    cf_task_free(fx->src);
    cf_task_free(fx->snk);
    cf_net_env_destroy(fx->net);
    cf_jobgraph_free(fx->job);
    cf_env_destroy(fx->job->env);
    cf_free(fx->job);
    cf_config_destroy(fx->cfg);
}

static void
fx_stop(fx_t *fx)
{
    fx_join(fx);
    fx_free(fx);
}

static uint64_t
times_sum(const cf_task_times_t *x)
{
    return x->busy_ms + x->back_pressured_ms + x->idle_ms;
}

/* Read both tasks every 5 ms for ms: no figure ever decreases, and the
 * sum never exceeds the time since the tasks started. */
static void
watch(fx_t *fx, int ms, cf_task_times_t *src, cf_task_times_t *snk)
{
    cf_task_times_t ps = {0, 0, 0}, pk = {0, 0, 0};
    int64_t end = cf_mono_ns() + (int64_t)ms * 1000000;

    while (cf_mono_ns() < end) {
        cf_task_t *tasks[2] = {fx->src, fx->snk};
        cf_task_times_t *prev[2] = {&ps, &pk};
        for (int i = 0; i < 2; i++) {
            cf_task_times_t x;
            int64_t since_ms;
            if (!cf_task_times(tasks[i], &x))
                continue; /* not RUNNING yet */
            since_ms = (cf_mono_ns() - fx->t0_ns) / 1000000;
            assert_true(x.busy_ms >= prev[i]->busy_ms);
            assert_true(x.back_pressured_ms >= prev[i]->back_pressured_ms);
            assert_true(x.idle_ms >= prev[i]->idle_ms);
            assert_true(times_sum(&x) <= (uint64_t)since_ms);
            *prev[i] = x;
        }
        cf_sleep_ms(5);
    }
    *src = ps;
    *snk = pk;
}

static void
print_times(const char *what, const cf_task_times_t *x)
{
    print_message("%s: busy %llu ms, back-pressured %llu ms, idle %llu ms\n",
                  what, (unsigned long long)x->busy_ms,
                  (unsigned long long)x->back_pressured_ms,
                  (unsigned long long)x->idle_ms);
}

/* A fast source into a slow sink: the source waits for buffers (back
 * pressure), the sink works. */
static void
test_backpressured_source(void **st)
{
    fx_t fx;
    cf_task_times_t s, k;
    uint64_t wall;
    (void)st;

    fx_start(&fx, 0);
    watch(&fx, 800, &s, &k);
    wall = (uint64_t)((cf_mono_ns() - fx.t0_ns) / 1000000);
    print_times("source", &s);
    print_times("sink", &k);
    assert_true(atomic_load(&emitted) > 0);
    /* Both ran most of the time (the sum is the RUNNING wall time;
     * starting a thread may take a while on a loaded machine). */
    assert_true(times_sum(&s) * 2 >= wall);
    assert_true(times_sum(&k) * 2 >= wall);
    /* The source: mostly back-pressured, barely idle. */
    assert_true(s.back_pressured_ms * 10 >= times_sum(&s) * 7);
    assert_true(s.idle_ms * 10 <= times_sum(&s));
    /* The sink: mostly busy (it never waits for a buffer: no output). */
    assert_true(k.busy_ms * 10 >= times_sum(&k) * 7);
    assert_int_equal(k.back_pressured_ms, 0);
    fx_join(&fx);
    /* Ended: the figures stand still, their sum the RUNNING time. */
    assert_int_equal(cf_task_times(fx.src, &s), 1);
    cf_sleep_ms(30);
    assert_int_equal(cf_task_times(fx.src, &k), 1);
    assert_true(times_sum(&s) == times_sum(&k));
    fx_free(&fx);
}

/* Nothing to read anywhere: both tasks idle, the sink even while its
 * wait (up to the buffer timeout) has not ended yet. */
static void
test_idle_tasks(void **st)
{
    fx_t fx;
    cf_task_times_t s, k;
    (void)st;

    fx_start(&fx, 1);
    watch(&fx, 600, &s, &k);
    print_times("idle source", &s);
    print_times("idle sink", &k);
    assert_true(times_sum(&s) >= 300);
    assert_true(times_sum(&k) >= 300);
    assert_true(s.idle_ms * 10 >= times_sum(&s) * 8);
    assert_true(k.idle_ms * 10 >= times_sum(&k) * 8);
    assert_true(s.back_pressured_ms * 10 <= times_sum(&s));
    assert_true(k.back_pressured_ms * 10 <= times_sum(&k));
    fx_stop(&fx);
}

/* The benchmark's switch: tasks started with it off have no times. */
static void
test_switch_off(void **st)
{
    fx_t fx;
    cf_task_times_t x;
    (void)st;

    assert_true(cf_runtime_task_times_enabled());
    cf_runtime_task_times_enable(0);
    fx_start(&fx, 0);
    cf_sleep_ms(200);
    assert_int_equal(cf_task_times(fx.src, &x), 0);
    assert_int_equal(times_sum(&x), 0);
    assert_int_equal(cf_task_times(fx.snk, &x), 0);
    assert_true(atomic_load(&emitted) > 0);
    fx_stop(&fx);
    cf_runtime_task_times_enable(1);
    assert_true(cf_runtime_task_times_enabled());
}

/* The record writer's wait for a buffer, inside a write, lands on the
 * partition's meter as back-pressured time, and is visible while it
 * lasts. */
typedef struct wfx_s {
    cf_net_partition_t part;
    cf_net_wait_meter_t meter;
    int64_t mid_bp; /* read by the main thread during the wait */
} wfx_t;

static void *
writer(void *arg)
{
    wfx_t *w = arg;
    uint8_t rec[200] = {0};
    /* The pool's only buffer is full and shipped: this write waits. */
    assert_int_equal(cf_net_partition_write(&w->part, 0, rec, 10, 0), 0);
    return NULL;
}

static void
test_writer_wait_metered(void **st)
{
    cf_net_env_t *env = cf_net_env_new(1 << 20, 256);
    cf_net_gate_t *gate = cf_net_gate_new(1, NULL);
    cf_net_pool_t *pool;
    cf_signal_t sig;
    atomic_int cancel;
    uint8_t rec[244] = {0};
    wfx_t w;
    pthread_t t;
    int64_t ns[CF_NET_WAIT_NKINDS], now;
    (void)st;

    memset(&w, 0, sizeof w);
    atomic_init(&cancel, 0);
    cf_signal_init(&sig);
    pool = cf_net_pool_new(env, 1, &sig, NULL);
    cf_net_partition_init(&w.part, pool, 1, &sig, &cancel);
    cf_net_partition_connect(&w.part, 0, gate, 0);
    w.part.meter = &w.meter;
    assert_int_equal(cf_net_partition_write(&w.part, 0, rec, 244, 0), 0);
    assert_int_equal(pthread_create(&t, NULL, writer, &w), 0);
    /* Once the writer is inside its wait (it may start late on a loaded
     * machine), let it wait 150 ms. */
    while (atomic_load(&w.meter.since) == 0)
        cf_sleep_ms(1);
    cf_sleep_ms(150);
    /* Still waiting: the wait in progress counts. */
    cf_net_meter_read(&w.meter, ns, &now);
    assert_true(ns[CF_NET_WAIT_BACKPRESSURE] >= 150 * 1000000LL);
    assert_int_equal(ns[CF_NET_WAIT_IDLE], 0);
    w.mid_bp = ns[CF_NET_WAIT_BACKPRESSURE];
    cf_net_buf_recycle(cf_net_gate_poll(gate, NULL));
    pthread_join(t, NULL);
    cf_net_meter_read(&w.meter, ns, &now);
    assert_true(ns[CF_NET_WAIT_BACKPRESSURE] >= w.mid_bp);
    assert_true(ns[CF_NET_WAIT_BACKPRESSURE] < 2000 * 1000000LL);
    assert_int_equal(atomic_load(&w.meter.since), 0);
    /* Nested waits count once (the outer one). */
    {
        int64_t a = cf_net_meter_begin(&w.meter, CF_NET_WAIT_IDLE);
        int64_t b = cf_net_meter_begin(&w.meter, CF_NET_WAIT_BACKPRESSURE);
        assert_true(a != 0);
        assert_int_equal(b, 0);
        cf_sleep_ms(20);
        cf_net_meter_end(&w.meter, b);
        cf_net_meter_end(&w.meter, a);
        cf_net_meter_read(&w.meter, ns, &now);
        assert_true(ns[CF_NET_WAIT_IDLE] >= 20 * 1000000LL);
    }
    cf_net_partition_deinit(&w.part);
    cf_net_gate_destroy(gate);
    cf_net_pool_destroy(pool);
    cf_net_env_destroy(env);
    cf_signal_deinit(&sig);
}

/* Rates from successive samples: a window of at least window_ms (closer
 * samples keep the older one), the task's own time as the clock when
 * both samples carry times, clamping. */
static void
test_rates(void **st)
{
    cf_task_rates_t r;
    cf_task_sample_t s;
    (void)st;

    cf_task_rates_reset(&r);
    memset(&s, 0, sizeof s);
    s.t_ms = 10000;
    s.has_times = 1;
    s.counts[0] = 100;
    s.times = (cf_task_times_t){100, 50, 50};
    cf_task_rates_feed(&r, &s, 1000);
    assert_false(r.valid);
    for (int k = 0; k < CF_RATE_COUNT; k++)
        assert_true(r.rate[k] == 0.0);

    /* 500 ms later: too close, the first sample stays. */
    s.t_ms = 10500;
    s.counts[0] = 600;
    s.times = (cf_task_times_t){400, 150, 150};
    cf_task_rates_feed(&r, &s, 1000);
    assert_false(r.valid);
    assert_int_equal(r.kept.counts[0], 100);

    /* 2 s of task time after the first (whatever the transport did to
     * t_ms): 2000 records in, busy 1500 ms, bp 300, idle 200. */
    s.t_ms = 11000; /* the report arrived "1 s" later */
    s.counts[0] = 4100;
    s.counts[1] = 50;
    s.counts[2] = 1 << 20;
    s.times = (cf_task_times_t){1600, 350, 250};
    cf_task_rates_feed(&r, &s, 1000);
    assert_true(r.valid);
    assert_true(r.rate[CF_RATE_RECORDS_IN] == 2000.0);
    assert_true(r.rate[CF_RATE_RECORDS_OUT] == 25.0);
    assert_true(r.rate[CF_RATE_BYTES_IN] == (double)(1 << 20) / 2);
    assert_true(r.rate[CF_RATE_BUSY] == 750.0);
    assert_true(r.rate[CF_RATE_BACKPRESSURED] == 150.0);
    assert_true(r.rate[CF_RATE_IDLE] == 100.0);
    assert_int_equal(r.kept.counts[0], 4100);

    /* A task that ended: its time stands still, the rates stay. */
    s.t_ms = 15000;
    cf_task_rates_feed(&r, &s, 1000);
    assert_true(r.rate[CF_RATE_BUSY] == 750.0);

    /* Without times (an old TaskManager): t_ms is the clock; time rates
     * 0; a counter that went backwards gives 0, not a negative rate. */
    cf_task_rates_reset(&r);
    memset(&s, 0, sizeof s);
    s.t_ms = 1000;
    s.counts[3] = 5000;
    cf_task_rates_feed(&r, &s, 1000);
    s.t_ms = 3000;
    s.counts[3] = 1000;
    s.counts[1] = 3000;
    cf_task_rates_feed(&r, &s, 1000);
    assert_true(r.valid);
    assert_true(r.rate[CF_RATE_BYTES_OUT] == 0.0);
    assert_true(r.rate[CF_RATE_RECORDS_OUT] == 1500.0);
    assert_true(r.rate[CF_RATE_BUSY] == 0.0);

    /* The first reading with times after one without (a report from
     * before RUNNING): the window starts there, so the next reading a
     * window later has time rates, not zeros. */
    s.has_times = 1;
    s.t_ms = 3100;
    s.times = (cf_task_times_t){100, 0, 0};
    cf_task_rates_feed(&r, &s, 1000);
    assert_true(r.kept.has_times);
    s.t_ms = 4200;
    s.times = (cf_task_times_t){600, 400, 100};
    cf_task_rates_feed(&r, &s, 1000);
    assert_true(r.rate[CF_RATE_BACKPRESSURED] == 400.0);
    assert_true(r.rate[CF_RATE_IDLE] == 100.0);
    assert_true(r.rate[CF_RATE_BUSY] == 500.0);

    /* Clamped to 1000 ms per second. */
    cf_task_rates_reset(&r);
    memset(&s, 0, sizeof s);
    s.has_times = 1;
    s.times = (cf_task_times_t){0, 0, 0};
    cf_task_rates_feed(&r, &s, 1000);
    s.times = (cf_task_times_t){1000, 0, 0};
    cf_task_rates_feed(&r, &s, 1000);
    assert_true(r.rate[CF_RATE_BUSY] == 1000.0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rates),
        cmocka_unit_test(test_writer_wait_metered),
        cmocka_unit_test(test_backpressured_source),
        cmocka_unit_test(test_idle_tasks),
        cmocka_unit_test(test_switch_off),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
