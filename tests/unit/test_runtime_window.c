/*
 * test_runtime_window.c: the window operator (window.c) in isolation: a
 * keyed backend, a timer service and a hand-made operator context whose
 * single chained successor records what the operator emits. The test
 * plays the task: it sets the key and calls cf_winop_invoke per record,
 * and advances the watermark (or the clock) by popping due timers and
 * calling cf_winop_on_timer.
 *
 * Results are compared with oracles computed by brute force over the
 * input (every window of every element, Flink's rules written out
 * directly): tumbling and sliding event-time windows (reduce, aggregate,
 * process; panes and per-window paths) with out-of-order input within
 * and beyond the allowed lateness, late data counted or sent to a side
 * output; session windows; count triggers on global windows (plain,
 * purging, with a count evictor); count and time evictors; continuous
 * and delta triggers; processing-time windows with a manual clock and
 * end of input; a checkpoint (state file) taken in the middle and
 * restored into a new backend; the builder's validation. Records are
 * {n, sum} pairs of int64 so that every function kind yields the same
 * (count, sum) result per firing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Before cmocka.h, whose fail() macro would clash with cflink.h. */
#include "window.h"

#include <cmocka.h>

#define MAXP 128

/* window.c's test seam. */
typedef int (*cf_winop_side_fn)(cf_ctx_t *ctx, const char *tag,
                                const void *data, uint32_t len, int64_t ts);
typedef int64_t (*cf_winop_clock_fn)(cf_ctx_t *ctx);
void cf_winop_set_test_hooks(cf_winop_side_fn side, cf_winop_clock_fn clock);

/* ------------------------------------------------------------------ */
/* Output capture                                                      */
/* ------------------------------------------------------------------ */

typedef struct out_s {
    int64_t key, ts, n, sum;
} out_t;

typedef struct outs_s {
    out_t *v;
    size_t n, cap;
} outs_t;

static void
outs_add(outs_t *o, out_t x)
{
    if (o->n == o->cap) {
        o->cap = o->cap ? o->cap * 2 : 64;
        o->v = realloc(o->v, o->cap * sizeof *o->v);
    }
    o->v[o->n++] = x;
}

static int
out_cmp(const void *a, const void *b)
{
    const out_t *x = a, *y = b;
#define CMP(f)                                                                 \
    if (x->f != y->f)                                                          \
        return x->f < y->f ? -1 : 1;
    CMP(key)
    CMP(ts)
    CMP(n) CMP(sum)
#undef CMP
        return 0;
}

static void
outs_assert_equal(outs_t *got, outs_t *exp)
{
    qsort(got->v, got->n, sizeof *got->v, out_cmp);
    qsort(exp->v, exp->n, sizeof *exp->v, out_cmp);
    if (got->n != exp->n)
        fprintf(stderr, "outputs: got %zu, expected %zu\n", got->n, exp->n);
    for (size_t i = 0; i < got->n && i < exp->n; i++)
        if (out_cmp(&got->v[i], &exp->v[i]) != 0) {
            fprintf(stderr,
                    "output %zu: got key %lld ts %lld n %lld sum %lld, "
                    "expected key %lld ts %lld n %lld sum %lld\n",
                    i, (long long)got->v[i].key, (long long)got->v[i].ts,
                    (long long)got->v[i].n, (long long)got->v[i].sum,
                    (long long)exp->v[i].key, (long long)exp->v[i].ts,
                    (long long)exp->v[i].n, (long long)exp->v[i].sum);
            break;
        }
    assert_int_equal(got->n, exp->n);
    for (size_t i = 0; i < got->n; i++)
        assert_int_equal(out_cmp(&got->v[i], &exp->v[i]), 0);
}

/* ------------------------------------------------------------------ */
/* Harness: the operator without a task                                */
/* ------------------------------------------------------------------ */

typedef struct h_s {
    cf_kstate_backend_t *b;
    cf_timers_t *t;
    cf_snode_t node;
    cf_ctx_t ctx, cap;
    cf_ctx_t *chain[1];
    outs_t out;  /* main output */
    outs_t side; /* late data side output */
    uint8_t key[8];
    int64_t keyv;
} h_t;

static h_t *cur_h;
static int64_t clock_now;
static uint64_t reduce_calls, agg_adds;

static int
cap_invoke(cf_ctx_t *c, const cf_record_t *r)
{
    h_t *h = cur_h;
    cf_slice_t k;
    int64_t v[2], key = -1;
    (void)c;
    assert_int_equal(r->len, 16);
    memcpy(v, r->data, 16);
    if (cf_kstate_current_key(h->b, &k) == CF_OK && k.len == 8)
        memcpy(&key, k.data, 8);
    outs_add(&h->out, (out_t){key, r->ts, v[0], v[1]});
    return 0;
}

static int
side_hook(cf_ctx_t *c, const char *tag, const void *data, uint32_t len,
          int64_t ts)
{
    int64_t v[2];
    (void)c;
    assert_string_equal(tag, "late");
    assert_int_equal(len, 16);
    memcpy(v, data, 16);
    outs_add(&cur_h->side, (out_t){cur_h->keyv, ts, v[0], v[1]});
    return 0;
}

static int64_t
clock_hook(cf_ctx_t *c)
{
    (void)c;
    return clock_now;
}

/* The user functions: records are {n, sum}. */
static int
fn_reduce(cf_ctx_t *ctx, cf_buf_t *acc, const cf_record_t *in)
{
    int64_t a[2], b[2];
    (void)ctx;
    reduce_calls++;
    assert_int_equal(acc->len, 16);
    assert_int_equal(in->len, 16);
    memcpy(a, acc->data, 16);
    memcpy(b, in->data, 16);
    a[0] += b[0];
    a[1] += b[1];
    memcpy(acc->data, a, 16);
    return 0;
}

static int
fn_agg_add(cf_ctx_t *ctx, cf_buf_t *acc, const cf_record_t *in)
{
    int64_t a[2] = {0, 0}, b[2];
    (void)ctx;
    agg_adds++;
    if (acc->len == 0) {
        cf_kstate_buf_reserve(acc, 16);
        acc->len = 16;
    } else {
        memcpy(a, acc->data, 16);
    }
    memcpy(b, in->data, 16);
    a[0] += b[0];
    a[1] += b[1];
    memcpy(acc->data, a, 16);
    return 0;
}

static int
fn_agg_result(cf_ctx_t *ctx, const cf_slice_t *acc, cf_buf_t *out)
{
    (void)ctx;
    assert_int_equal(acc->len, 16);
    cf_kstate_buf_reserve(out, 16);
    memcpy(out->data, acc->data, 16);
    out->len = 16;
    return 0;
}

static int process_opened, process_closed;

static int
fn_process_open(cf_ctx_t *ctx)
{
    (void)ctx;
    process_opened++;
    return 0;
}

static void
fn_process_close(cf_ctx_t *ctx)
{
    (void)ctx;
    process_closed++;
}

static int
fn_process(cf_ctx_t *ctx, const cf_window_t *w, const cf_record_t *el,
           uint32_t n)
{
    int64_t s[2] = {0, 0}, v[2];
    /* The timestamp while the function runs is the window's max. */
    assert_int_equal(ctx->cur_ts, w->end == INT64_MAX ? INT64_MAX : w->end - 1);
    for (uint32_t i = 0; i < n; i++) {
        memcpy(v, el[i].data, 16);
        s[0] += v[0];
        s[1] += v[1];
        if (w->end != INT64_MAX && w->start != INT64_MIN &&
            el[i].ts != CF_NO_TIMESTAMP &&
            cur_h->node.win->assigner.time == CF_TIME_EVENT) {
            assert_true(el[i].ts >= w->start);
            assert_true(el[i].ts < w->end);
        }
    }
    return cf_task_emit(ctx, s, 16, ctx->cur_ts);
}

static const cf_agg_ops_t agg_ops = {sizeof(cf_agg_ops_t), fn_agg_add,
                                     fn_agg_result};
static const cf_window_process_ops_t proc_ops = {
    sizeof(cf_window_process_ops_t), fn_process_open, fn_process,
    fn_process_close};

static cf_window_conf_t
conf_of(cf_window_assigner_t a, int fn_kind)
{
    cf_window_conf_t c;
    memset(&c, 0, sizeof c);
    c.assigner = a;
    c.trigger.size = sizeof c.trigger;
    c.evictor.size = sizeof c.evictor;
    c.fn_kind = fn_kind;
    c.reduce = fn_reduce;
    c.agg = agg_ops;
    c.process = proc_ops;
    return c;
}

static void
h_open_on(h_t *h, const cf_window_conf_t *c, cf_kstate_backend_t *b,
          cf_timers_t *t)
{
    cf_window_conf_t *cc = malloc(sizeof *cc);
    *cc = *c;
    cc->late_tag = c->late_tag ? strdup(c->late_tag) : NULL;
    h->b = b;
    h->t = t;
    h->node.name = "Window(test)";
    h->node.kind = CF_OP_WINDOW;
    h->node.win = cc;
    h->ctx.api = &cf_host_api;
    h->ctx.node = &h->node;
    h->ctx.kstate = b;
    h->ctx.timers = t;
    h->ctx.watermark = CF_WATERMARK_MIN;
    h->ctx.cur_ts = CF_NO_TIMESTAMP;
    h->cap.api = &cf_host_api;
    h->cap.invoke = cap_invoke;
    h->chain[0] = &h->cap;
    h->ctx.chained = h->chain;
    h->ctx.nchained = 1;
    cur_h = h;
    cf_winop_set_test_hooks(side_hook, clock_hook);
    assert_int_equal(cf_winop_open(&h->ctx), 0);
}

static void
h_open(h_t *h, const cf_window_conf_t *c)
{
    cf_error_t *err = NULL;
    cf_kstate_backend_t *b =
        cf_kstate_backend_new(&cf_host_api, MAXP, 0, MAXP - 1);
    cf_timers_t *t = cf_timers_new(b, &err);
    assert_non_null(t);
    memset(h, 0, sizeof *h);
    h_open_on(h, c, b, t);
}

static void
h_close_keep_state(h_t *h)
{
    cf_winop_close(&h->ctx);
    cf_window_conf_free(h->node.win);
    h->node.win = NULL;
}

static void
h_close(h_t *h)
{
    h_close_keep_state(h);
    cf_timers_free(h->t);
    cf_kstate_backend_destroy(h->b);
    free(h->out.v);
    free(h->side.v);
    cur_h = NULL;
}

static void
h_set_key(h_t *h, int64_t key)
{
    memcpy(h->key, &key, 8);
    h->keyv = key;
    cf_kstate_set_key(h->b, h->key, 8, cf_murmur3_32_key(h->key, 8));
}

static void
h_elem(h_t *h, int64_t key, int64_t ts, int64_t v)
{
    int64_t d[2] = {1, v};
    cf_record_t r = {d, 16, ts};
    h_set_key(h, key);
    h->ctx.cur_ts = ts;
    assert_int_equal(cf_winop_invoke(&h->ctx, &r), 0);
}

/* Fire the due timers of a domain as timer_rt.c does: the popped key is
 * copied before the operator runs (the service's copy lives until its
 * next call). */
static void
h_fire(h_t *h, int domain, int64_t upto)
{
    cf_timer_view_t tv;
    while (cf_timers_pop(h->t, domain, upto, &tv) == 1) {
        assert_int_equal(tv.klen, 8);
        memcpy(h->key, tv.key, 8);
        memcpy(&h->keyv, tv.key, 8);
        cf_kstate_set_key(h->b, h->key, 8, tv.khash);
        tv.key = h->key;
        h->ctx.cur_ts = domain == CF_TIMERS_EVENT ? tv.ts : CF_NO_TIMESTAMP;
        assert_int_equal(cf_winop_on_timer(&h->ctx, domain, &tv), 0);
    }
}

static void
h_wm(h_t *h, int64_t wm)
{
    if (wm <= h->ctx.watermark)
        return;
    h->ctx.watermark = wm;
    h_fire(h, CF_TIMERS_EVENT, wm);
}

static void
h_clock(h_t *h, int64_t now)
{
    clock_now = now;
    h_fire(h, CF_TIMERS_PROCESSING, now);
}

/* ------------------------------------------------------------------ */
/* Oracle: tumbling / sliding event-time windows with lateness          */
/* ------------------------------------------------------------------ */

typedef struct owin_s {
    int64_t key, start, n, sum;
    int live;
} owin_t;

typedef struct oracle_s {
    int64_t size, slide, offset, lateness, wm;
    owin_t *w;
    size_t nw, cap;
    outs_t out;
    uint64_t dropped;
    uint64_t late_firings;
    outs_t late; /* late elements (with a side output) */
} oracle_t;

static int64_t
floordiv(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

static owin_t *
o_win(oracle_t *o, int64_t key, int64_t start)
{
    for (size_t i = 0; i < o->nw; i++)
        if (o->w[i].live && o->w[i].key == key && o->w[i].start == start)
            return &o->w[i];
    if (o->nw == o->cap) {
        o->cap = o->cap ? o->cap * 2 : 64;
        o->w = realloc(o->w, o->cap * sizeof *o->w);
    }
    o->w[o->nw] = (owin_t){key, start, 0, 0, 1};
    return &o->w[o->nw++];
}

static void
o_elem(oracle_t *o, int64_t key, int64_t ts, int64_t v)
{
    int all_late = 1;
    int64_t j0 = floordiv(ts - o->size - o->offset, o->slide) - 1;
    int64_t j1 = floordiv(ts - o->offset, o->slide) + 1;
    for (int64_t j = j0; j <= j1; j++) {
        int64_t s = o->offset + j * o->slide, max = s + o->size - 1;
        if (!(s <= ts && ts < s + o->size))
            continue;
        if (max + o->lateness <= o->wm)
            continue; /* late window */
        all_late = 0;
        owin_t *w = o_win(o, key, s);
        w->n++;
        w->sum += v;
        if (max <= o->wm) { /* late firing */
            outs_add(&o->out, (out_t){key, max, w->n, w->sum});
            o->late_firings++;
        }
    }
    if (all_late && ts + o->lateness <= o->wm) {
        o->dropped++;
        outs_add(&o->late, (out_t){key, ts, 1, v});
    }
}

static void
o_wm(oracle_t *o, int64_t wm)
{
    if (wm <= o->wm)
        return;
    for (size_t i = 0; i < o->nw; i++) {
        owin_t *w = &o->w[i];
        int64_t max = w->start + o->size - 1;
        if (!w->live)
            continue;
        if (max > o->wm && max <= wm)
            outs_add(&o->out, (out_t){w->key, max, w->n, w->sum});
        if (max + o->lateness <= wm)
            w->live = 0;
    }
    o->wm = wm;
}

static void run_random_drift(cf_window_assigner_t a, int fn_kind,
                             int64_t lateness, int side, unsigned seed, int n,
                             int64_t drift);

/* A random out-of-order run: keys 0..3, timestamps drifting up with
 * disorder up to 3 * bound, watermarks = max seen - bound every few
 * records, so some records are within the lateness and some beyond. */
static void
run_random_time_windows(cf_window_assigner_t a, int fn_kind, int64_t lateness,
                        int side, unsigned seed, int n)
{
    /* Dense (every pane has data) and sparse (gaps of empty panes and
     * windows) inputs. */
    for (int64_t drift = 3; drift <= 90; drift += 87)
        run_random_drift(a, fn_kind, lateness, side, seed, n, drift);
}

static int random_evictor; /* a CountEvictor that keeps everything */

static void
run_random_drift(cf_window_assigner_t a, int fn_kind, int64_t lateness,
                 int side, unsigned seed, int n, int64_t drift)
{
    h_t h;
    oracle_t o;
    cf_window_conf_t c = conf_of(a, fn_kind);
    if (random_evictor) {
        /* Forces the per-window element store (EvictingWindowOperator),
         * rewritten after each firing, without changing results. */
        c.evictor.kind = CF_EVICTOR_COUNT;
        c.evictor.count = INT64_C(1) << 40;
    }
    int64_t maxts = 0, bound = a.size_ms / 2 + 7;

    c.lateness_ms = lateness;
    c.late_tag = side ? "late" : NULL;
    memset(&o, 0, sizeof o);
    o.size = a.size_ms;
    o.slide = a.kind == CF_WINDOW_SLIDING ? a.slide_ms : a.size_ms;
    o.offset = a.offset_ms;
    o.lateness = lateness;
    o.wm = CF_WATERMARK_MIN;
    h_open(&h, &c);
    srand(seed);
    for (int i = 0; i < n; i++) {
        int64_t key = rand() % 4;
        int64_t ts = (int64_t)i * drift - rand() % (int)(2 * bound + lateness +
                                                         2 * drift + a.size_ms);
        int64_t v = rand() % 1000;
        if (ts > maxts)
            maxts = ts;
        h_elem(&h, key, ts, v);
        o_elem(&o, key, ts, v);
        if (rand() % 5 == 0) {
            h_wm(&h, maxts - bound);
            o_wm(&o, maxts - bound);
        }
    }
    h_wm(&h, CF_WATERMARK_MAX);
    o_wm(&o, CF_WATERMARK_MAX);
    assert_true(o.out.n > 10);
    /* The input exercises both kinds of late data. */
    assert_true(o.dropped > 0);
    if (lateness > 0)
        assert_true(o.late_firings > 0);
    outs_assert_equal(&h.out, &o.out);
    if (side) {
        assert_int_equal(cf_winop_late_dropped(&h.ctx), 0);
        outs_assert_equal(&h.side, &o.late);
    } else {
        assert_int_equal(h.side.n, 0);
        assert_int_equal(cf_winop_late_dropped(&h.ctx), o.dropped);
    }
    /* Everything was cleaned up: no window state, no timers. */
    assert_int_equal(cf_timers_count(h.t, CF_TIMERS_EVENT), 0);
    h_close(&h);
    free(o.w);
    free(o.out.v);
    free(o.late.v);
}

static void
test_tumbling_random(void **state)
{
    (void)state;
    cf_window_assigner_t a = cf_tumbling_windows(CF_TIME_EVENT, 100, 0);
    cf_window_assigner_t ao = cf_tumbling_windows(CF_TIME_EVENT, 100, -30);
    for (unsigned seed = 1; seed <= 3; seed++) {
        run_random_time_windows(a, CF_WFN_REDUCE, 0, 0, seed, 1500);
        run_random_time_windows(a, CF_WFN_REDUCE, 120, 0, seed, 1500);
        run_random_time_windows(a, CF_WFN_AGGREGATE, 120, 1, seed, 1500);
        run_random_time_windows(a, CF_WFN_PROCESS, 60, 0, seed, 1500);
        run_random_time_windows(ao, CF_WFN_REDUCE, 60, 1, seed, 1500);
    }
    random_evictor = 1;
    run_random_time_windows(a, CF_WFN_REDUCE, 120, 0, 1, 1500);
    run_random_time_windows(a, CF_WFN_AGGREGATE, 0, 1, 2, 1500);
    random_evictor = 0;
}

static void
test_sliding_random(void **state)
{
    (void)state;
    /* gcd(100, 40) = 20: panes of 20 for reduce and process; aggregate
     * keeps one accumulator per window. */
    cf_window_assigner_t a = cf_sliding_windows(CF_TIME_EVENT, 100, 40, 0);
    cf_window_assigner_t ao = cf_sliding_windows(CF_TIME_EVENT, 90, 30, 12);
    for (unsigned seed = 1; seed <= 3; seed++) {
        run_random_time_windows(a, CF_WFN_REDUCE, 0, 0, seed, 1500);
        run_random_time_windows(a, CF_WFN_REDUCE, 150, 1, seed, 1500);
        run_random_time_windows(a, CF_WFN_AGGREGATE, 150, 0, seed, 1500);
        run_random_time_windows(a, CF_WFN_PROCESS, 70, 1, seed, 1500);
        run_random_time_windows(ao, CF_WFN_PROCESS, 0, 0, seed, 1500);
        run_random_time_windows(ao, CF_WFN_REDUCE, 45, 0, seed, 1500);
    }
    random_evictor = 1;
    run_random_time_windows(a, CF_WFN_PROCESS, 150, 1, 1, 1000);
    run_random_time_windows(ao, CF_WFN_REDUCE, 0, 0, 2, 1000);
    random_evictor = 0;
}

/* A late element within the lateness fires its window again at once
 * (EventTimeTrigger.onElement), beyond it it is dropped and counted; the
 * cleanup timer removes the window's state. */
static void
test_tumbling_late_firing(void **state)
{
    h_t h;
    cf_window_conf_t c =
        conf_of(cf_tumbling_windows(CF_TIME_EVENT, 10, 0), CF_WFN_REDUCE);
    (void)state;
    c.lateness_ms = 5;
    h_open(&h, &c);
    h_elem(&h, 1, 3, 10);
    h_elem(&h, 1, 7, 20);
    h_wm(&h, 9);
    assert_int_equal(h.out.n, 1);
    assert_int_equal(h.out.v[0].ts, 9);
    assert_int_equal(h.out.v[0].sum, 30);
    h_elem(&h, 1, 5, 1); /* late, within lateness: fires again */
    assert_int_equal(h.out.n, 2);
    assert_int_equal(h.out.v[1].n, 3);
    assert_int_equal(h.out.v[1].sum, 31);
    h_wm(&h, 14); /* cleanup at 9 + 5 */
    assert_int_equal(h.out.n, 2);
    assert_int_equal(cf_timers_count(h.t, CF_TIMERS_EVENT), 0);
    h_elem(&h, 1, 2, 100); /* beyond the lateness */
    assert_int_equal(h.out.n, 2);
    assert_int_equal(cf_winop_late_dropped(&h.ctx), 1);
    h_close(&h);
}

/* ------------------------------------------------------------------ */
/* Sessions                                                            */
/* ------------------------------------------------------------------ */

typedef struct ev_s {
    int64_t key, ts, v;
} ev_t;

static int
ev_cmp(const void *a, const void *b)
{
    const ev_t *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    return 0;
}

/* Random order, one final watermark: the sessions are those of the
 * sorted timestamps (TimeWindow.intersects includes the bounds, so an
 * element exactly gap after the previous one joins it). */
static void
run_sessions(int fn_kind, cf_trigger_t *trig, unsigned seed)
{
    enum {
        N = 600
    };
    h_t h;
    outs_t exp = {0};
    ev_t ev[N];
    cf_window_conf_t c =
        conf_of(cf_session_windows(CF_TIME_EVENT, 25), fn_kind);
    (void)trig;
    srand(seed);
    for (int i = 0; i < N; i++)
        ev[i] = (ev_t){rand() % 3, rand() % 6000, rand() % 1000};
    h_open(&h, &c);
    for (int i = 0; i < N; i++)
        h_elem(&h, ev[i].key, ev[i].ts, ev[i].v);
    h_wm(&h, CF_WATERMARK_MAX);
    qsort(ev, N, sizeof ev[0], ev_cmp);
    for (int i = 0; i < N;) {
        int64_t end = ev[i].ts + 25, n = 0, sum = 0;
        int j = i;
        while (j < N && ev[j].key == ev[i].key && ev[j].ts <= end) {
            if (ev[j].ts + 25 > end)
                end = ev[j].ts + 25;
            n++;
            sum += ev[j].v;
            j++;
        }
        outs_add(&exp, (out_t){ev[i].key, end - 1, n, sum});
        i = j;
    }
    assert_true(exp.n > 50);
    outs_assert_equal(&h.out, &exp);
    assert_int_equal(cf_timers_count(h.t, CF_TIMERS_EVENT), 0);
    h_close(&h);
    free(exp.v);
}

static void
test_sessions_random(void **state)
{
    (void)state;
    for (unsigned seed = 1; seed <= 3; seed++) {
        run_sessions(CF_WFN_REDUCE, NULL, seed);
        run_sessions(CF_WFN_AGGREGATE, NULL, seed);
        run_sessions(CF_WFN_PROCESS, NULL, seed);
    }
}

/* Merging with late data: a session that already fired is extended by a
 * late element within the lateness, fires again at its new end, fires
 * at once for an element inside it after that, and is gone after its
 * cleanup. */
static void
test_sessions_late(void **state)
{
    h_t h;
    cf_window_conf_t c =
        conf_of(cf_session_windows(CF_TIME_EVENT, 10), CF_WFN_PROCESS);
    (void)state;
    c.lateness_ms = 20;
    h_open(&h, &c);
    h_elem(&h, 7, 0, 1);
    h_elem(&h, 7, 5, 2);    /* [0, 15) */
    h_elem(&h, 8, 40, 100); /* another key */
    h_wm(&h, 14);
    assert_int_equal(h.out.n, 1);
    assert_int_equal(h.out.v[0].ts, 14);
    assert_int_equal(h.out.v[0].sum, 3);
    h_elem(&h, 7, 12, 4); /* merges into [0, 22) */
    assert_int_equal(h.out.n, 1);
    h_wm(&h, 25);
    assert_int_equal(h.out.n, 2);
    assert_int_equal(h.out.v[1].ts, 21);
    assert_int_equal(h.out.v[1].n, 3);
    assert_int_equal(h.out.v[1].sum, 7);
    h_elem(&h, 7, 1, 8); /* inside [0, 22), past its end: fires at once */
    assert_int_equal(h.out.n, 3);
    assert_int_equal(h.out.v[2].ts, 21);
    assert_int_equal(h.out.v[2].sum, 15);
    h_wm(&h, 42);         /* cleanup of [0, 22) at 41 */
    h_elem(&h, 7, 3, 16); /* late beyond the lateness */
    assert_int_equal(cf_winop_late_dropped(&h.ctx), 1);
    h_wm(&h, CF_WATERMARK_MAX);
    assert_int_equal(h.out.n, 4); /* key 8's session */
    assert_int_equal(h.out.v[3].key, 8);
    assert_int_equal(h.out.v[3].ts, 49);
    assert_int_equal(cf_timers_count(h.t, CF_TIMERS_EVENT), 0);
    h_close(&h);
}

/* Two sessions bridged by one element: contents of both state windows
 * end up in one firing, the count trigger's counts merge. */
static void
test_sessions_bridge_count(void **state)
{
    h_t h;
    cf_window_conf_t c =
        conf_of(cf_session_windows(CF_TIME_EVENT, 10), CF_WFN_REDUCE);
    (void)state;
    c.trigger.kind = CF_TRIGGER_COUNT;
    c.trigger.count = 4;
    h_open(&h, &c);
    h_elem(&h, 1, 0, 1);
    h_elem(&h, 1, 30, 2);
    h_elem(&h, 1, 32, 4); /* [0,10) count 1, [30,42) count 2 */
    assert_int_equal(h.out.n, 0);
    h_elem(&h, 1, 15, 8); /* [15,25): no merge, count 1 */
    assert_int_equal(h.out.n, 0);
    h_elem(&h, 1, 22, 16); /* bridges [15,25) and [30,42): count 4 */
    assert_int_equal(h.out.n, 1);
    assert_int_equal(h.out.v[0].n, 4);
    assert_int_equal(h.out.v[0].sum, 30);
    assert_int_equal(h.out.v[0].ts, 41);
    h_close(&h);
}

/* ------------------------------------------------------------------ */
/* Count triggers, evictors, other triggers                            */
/* ------------------------------------------------------------------ */

/* countWindow(3, 2) is window(GlobalWindows).evictor(CountEvictor(3))
 * .trigger(CountTrigger(2)): every 2nd element, the last 3. Plus plain
 * and purging count triggers. */
static void
test_global_count(void **state)
{
    enum {
        N = 200
    };
    int64_t v[3][N];
    int nk[3] = {0, 0, 0};
    (void)state;
    for (int mode = 0; mode < 4; mode++) {
        h_t h;
        outs_t exp = {0};
        cf_window_conf_t c = conf_of(
            cf_global_windows(), mode == 3 ? CF_WFN_PROCESS : CF_WFN_REDUCE);
        c.trigger.kind = CF_TRIGGER_COUNT;
        c.trigger.count = mode == 0 ? 3 : 2;
        c.trigger.purging = mode == 1;
        if (mode >= 2) {
            c.evictor.kind = CF_EVICTOR_COUNT;
            c.evictor.count = 3;
        }
        h_open(&h, &c);
        srand(7 + mode);
        memset(nk, 0, sizeof nk);
        for (int i = 0; i < N; i++) {
            int64_t key = rand() % 3, x = rand() % 100;
            v[key][nk[key]++] = x;
            h_elem(&h, key, i, x);
            int n = nk[key];
            int64_t s = 0, cnt = 0;
            if (mode == 0 && n % 3 == 0) {
                for (int j = 0; j < n; j++)
                    s += v[key][j];
                outs_add(&exp, (out_t){key, INT64_MAX, n, s});
            } else if (mode == 1 && n % 2 == 0) {
                s = v[key][n - 1] + v[key][n - 2];
                outs_add(&exp, (out_t){key, INT64_MAX, 2, s});
            } else if (mode >= 2 && n % 2 == 0) {
                for (int j = n - 1; j >= 0 && j >= n - 3; j--, cnt++)
                    s += v[key][j];
                outs_add(&exp, (out_t){key, INT64_MAX, cnt, s});
            }
        }
        h_wm(&h, CF_WATERMARK_MAX); /* the global window never ends */
        outs_assert_equal(&h.out, &exp);
        h_close(&h);
        free(exp.v);
    }
}

/* Count and time evictors on tumbling windows, before and after the
 * function. */
static void
test_evictors(void **state)
{
    (void)state;
    for (int mode = 0; mode < 4; mode++) {
        h_t h;
        cf_window_conf_t c =
            conf_of(cf_tumbling_windows(CF_TIME_EVENT, 100, 0),
                    mode == 1 ? CF_WFN_AGGREGATE : CF_WFN_PROCESS);
        c.evictor.kind = mode < 2 ? CF_EVICTOR_COUNT : CF_EVICTOR_TIME;
        c.evictor.count = 2;
        c.evictor.window_ms = 30;
        c.evictor.after = mode == 3;
        c.trigger.kind = mode == 3 ? CF_TRIGGER_COUNT : CF_TRIGGER_DEFAULT;
        c.trigger.count = 2;
        h_open(&h, &c);
        /* ts 10, 50, 75, 80 (values = ts); window [0,100). */
        h_elem(&h, 1, 10, 10);
        h_elem(&h, 1, 80, 80);
        h_elem(&h, 1, 50, 50);
        h_elem(&h, 1, 75, 75);
        if (mode != 3)
            h_wm(&h, 99);
        if (mode == 0 || mode == 1) {
            /* CountEvictor(2): the last two in arrival order. */
            assert_int_equal(h.out.n, 1);
            assert_int_equal(h.out.v[0].n, 2);
            assert_int_equal(h.out.v[0].sum, 125);
        } else if (mode == 2) {
            /* TimeEvictor(30): max 80, keep ts > 50. */
            assert_int_equal(h.out.n, 1);
            assert_int_equal(h.out.v[0].n, 2);
            assert_int_equal(h.out.v[0].sum, 155);
        } else {
            /* Count trigger 2, time evictor after the function: firing 1
             * sees {10, 80} then keeps {80}; firing 2 sees {80, 50, 75}
             * and keeps {80, 75} (ts > 80 - 30 = 50). */
            assert_int_equal(h.out.n, 2);
            assert_int_equal(h.out.v[0].sum, 90);
            assert_int_equal(h.out.v[1].n, 3);
            assert_int_equal(h.out.v[1].sum, 205);
            h_elem(&h, 1, 90, 90); /* count 1 after the last firing */
            h_elem(&h, 1, 95, 95); /* fires {80, 75, 90, 95} */
            assert_int_equal(h.out.n, 3);
            assert_int_equal(h.out.v[2].n, 4);
            assert_int_equal(h.out.v[2].sum, 340);
            h_wm(&h, 99); /* the count trigger ignores time; cleanup */
            assert_int_equal(h.out.n, 3);
            h_elem(&h, 1, 98, 1); /* late now */
            assert_int_equal(h.out.n, 3);
            assert_int_equal(cf_winop_late_dropped(&h.ctx), 1);
        }
        h_close(&h);
    }
}

/* ContinuousEventTimeTrigger(25) on [0, 100): fires at 25-aligned
 * times, and at the end of the window. */
static void
test_continuous_event(void **state)
{
    h_t h;
    cf_window_conf_t c =
        conf_of(cf_tumbling_windows(CF_TIME_EVENT, 100, 0), CF_WFN_REDUCE);
    (void)state;
    c.trigger.kind = CF_TRIGGER_CONTINUOUS_EVENT;
    c.trigger.interval_ms = 25;
    h_open(&h, &c);
    h_elem(&h, 1, 10, 10);
    h_elem(&h, 1, 30, 30);
    h_wm(&h, 26);
    assert_int_equal(h.out.n, 1);
    assert_int_equal(h.out.v[0].sum, 40);
    assert_int_equal(h.out.v[0].ts, 99);
    h_elem(&h, 1, 60, 60);
    h_wm(&h, 60); /* the 50 timer */
    assert_int_equal(h.out.n, 2);
    assert_int_equal(h.out.v[1].sum, 100);
    h_wm(&h, 200); /* 75 and 99 (the next after 75 is capped at 99) */
    assert_int_equal(h.out.n, 4);
    assert_int_equal(h.out.v[3].sum, 100);
    assert_int_equal(cf_timers_count(h.t, CF_TIMERS_EVENT), 0);
    h_close(&h);
}

static double
delta_fn(cf_ctx_t *ctx, const cf_record_t *a, const cf_record_t *b)
{
    int64_t x[2], y[2];
    (void)ctx;
    memcpy(x, a->data, 16);
    memcpy(y, b->data, 16);
    return (double)(y[1] - x[1]);
}

/* DeltaTrigger(10) on a global window: fires when an element is more
 * than 10 above the last fired one (the first element only sets it). */
static void
test_delta_trigger(void **state)
{
    h_t h;
    cf_window_conf_t c = conf_of(cf_global_windows(), CF_WFN_REDUCE);
    (void)state;
    c.trigger.kind = CF_TRIGGER_DELTA;
    c.trigger.threshold = 10;
    c.trigger.delta = delta_fn;
    c.trigger.purging = 1;
    h_open(&h, &c);
    h_elem(&h, 1, 1, 5);  /* sets the reference */
    h_elem(&h, 1, 2, 12); /* 7 */
    h_elem(&h, 1, 3, 16); /* 11 > 10: fire {5, 12, 16}, purge */
    h_elem(&h, 1, 4, 20); /* 4 */
    h_elem(&h, 1, 5, 30); /* 14: fire {20, 30} */
    assert_int_equal(h.out.n, 2);
    assert_int_equal(h.out.v[0].n, 3);
    assert_int_equal(h.out.v[0].sum, 33);
    assert_int_equal(h.out.v[1].n, 2);
    assert_int_equal(h.out.v[1].sum, 50);
    h_close(&h);
}

/* ------------------------------------------------------------------ */
/* Processing time                                                     */
/* ------------------------------------------------------------------ */

static void
test_processing_time(void **state)
{
    (void)state;
    /* Tumbling with reduce, sliding (panes) with process. */
    for (int mode = 0; mode < 2; mode++) {
        h_t h;
        cf_window_conf_t c =
            mode == 0
                ? conf_of(cf_tumbling_windows(CF_TIME_PROCESSING, 100, 0),
                          CF_WFN_REDUCE)
                : conf_of(cf_sliding_windows(CF_TIME_PROCESSING, 100, 50, 0),
                          CF_WFN_PROCESS);
        process_opened = process_closed = 0;
        h_open(&h, &c);
        clock_now = 5;
        h_elem(&h, 1, CF_NO_TIMESTAMP, 1);
        h_clock(&h, 60);
        h_elem(&h, 1, 12345, 2); /* the record's own ts does not matter */
        h_elem(&h, 2, CF_NO_TIMESTAMP, 4);
        if (mode == 0) {
            h_clock(&h, 99);
            assert_int_equal(h.out.n, 2);
            h_clock(&h, 130);
            h_elem(&h, 1, CF_NO_TIMESTAMP, 8);
            assert_int_equal(cf_winop_finish(&h.ctx), 0); /* [100, 200) */
            outs_t exp = {0};
            outs_add(&exp, (out_t){1, 99, 2, 3});
            outs_add(&exp, (out_t){2, 99, 1, 4});
            outs_add(&exp, (out_t){1, 199, 1, 8});
            outs_assert_equal(&h.out, &exp);
            free(exp.v);
        } else {
            /* [-50, 50) fires at 49 with {1}; [0, 100) at 99 with all. */
            assert_int_equal(h.out.n, 1);
            assert_int_equal(h.out.v[0].sum, 1);
            h_clock(&h, 99);
            assert_int_equal(h.out.n, 3);
            assert_int_equal(cf_winop_finish(&h.ctx), 0); /* [50, 150) */
            outs_t exp = {0};
            outs_add(&exp, (out_t){1, 49, 1, 1});
            outs_add(&exp, (out_t){1, 99, 2, 3});
            outs_add(&exp, (out_t){2, 99, 1, 4});
            outs_add(&exp, (out_t){1, 149, 1, 2});
            outs_add(&exp, (out_t){2, 149, 1, 4});
            outs_assert_equal(&h.out, &exp);
            free(exp.v);
            assert_int_equal(process_opened, 1);
        }
        assert_int_equal(cf_timers_count(h.t, CF_TIMERS_PROCESSING), 0);
        h_close(&h);
        if (mode == 1)
            assert_int_equal(process_closed, 1);
    }
}

/* Processing-time sessions: merged by the clock, fired when it passes
 * their end, the open one at end of input. */
static void
test_processing_sessions(void **state)
{
    h_t h;
    cf_window_conf_t c =
        conf_of(cf_session_windows(CF_TIME_PROCESSING, 10), CF_WFN_AGGREGATE);
    (void)state;
    h_open(&h, &c);
    clock_now = 0;
    h_elem(&h, 1, CF_NO_TIMESTAMP, 1); /* [0, 10) */
    h_clock(&h, 5);
    h_elem(&h, 1, CF_NO_TIMESTAMP, 2); /* [0, 15) */
    h_elem(&h, 2, CF_NO_TIMESTAMP, 4); /* [5, 15) */
    h_clock(&h, 12);
    h_elem(&h, 1, CF_NO_TIMESTAMP, 8); /* [0, 22) */
    h_clock(&h, 15);
    assert_int_equal(h.out.n, 1); /* key 2 */
    assert_int_equal(h.out.v[0].key, 2);
    assert_int_equal(h.out.v[0].ts, 14);
    h_clock(&h, 21);
    assert_int_equal(h.out.n, 2);
    assert_int_equal(h.out.v[1].n, 3);
    assert_int_equal(h.out.v[1].sum, 11);
    h_clock(&h, 30);
    h_elem(&h, 1, CF_NO_TIMESTAMP, 16); /* [30, 40) */
    assert_int_equal(cf_winop_finish(&h.ctx), 0);
    assert_int_equal(h.out.n, 3);
    assert_int_equal(h.out.v[2].ts, 39);
    assert_int_equal(h.out.v[2].sum, 16);
    assert_int_equal(cf_timers_count(h.t, CF_TIMERS_PROCESSING), 0);
    h_close(&h);
}

/* ContinuousProcessingTimeTrigger(20) on a processing-time window. */
static void
test_continuous_processing(void **state)
{
    h_t h;
    cf_window_conf_t c =
        conf_of(cf_tumbling_windows(CF_TIME_PROCESSING, 100, 0), CF_WFN_REDUCE);
    (void)state;
    c.trigger.kind = CF_TRIGGER_CONTINUOUS_PROCESSING;
    c.trigger.interval_ms = 20;
    h_open(&h, &c);
    clock_now = 5;
    h_elem(&h, 1, 0, 1); /* next fire 20 */
    h_clock(&h, 25);     /* fires {1}, next 40 */
    h_elem(&h, 1, 0, 2);
    h_clock(&h, 45); /* fires {1, 2}, next 60 */
    assert_int_equal(h.out.n, 2);
    assert_int_equal(h.out.v[0].sum, 1);
    assert_int_equal(h.out.v[1].sum, 3);
    h_clock(&h, 100); /* 60, 80, 99; the cleanup at 99 */
    assert_int_equal(h.out.n, 5);
    assert_int_equal(cf_timers_count(h.t, CF_TIMERS_PROCESSING), 0);
    h_close(&h);
}

/* ------------------------------------------------------------------ */
/* Checkpoint in the middle                                            */
/* ------------------------------------------------------------------ */

/* Half the input, a snapshot written to a state file, a new backend and
 * timer service restored from it, the rest of the input: the same
 * results as one uninterrupted run (window contents, trigger state,
 * session sets and timers are all keyed state). */
static void
run_restore(cf_window_conf_t c, unsigned seed)
{
    enum {
        N = 800
    };
    ev_t ev[N];
    h_t a, b;
    int64_t maxts = 0;
    char path[64];
    cf_error_t *err = NULL;
    uint64_t size;

    srand(seed);
    for (int i = 0; i < N; i++) {
        int64_t ts = (int64_t)i * 3 - rand() % 60;
        if (ts > maxts)
            maxts = ts;
        ev[i] = (ev_t){rand() % 5, ts, rand() % 100};
    }
    /* Uninterrupted. */
    h_open(&a, &c);
    for (int i = 0; i < N; i++) {
        h_elem(&a, ev[i].key, ev[i].ts, ev[i].v);
        if (i % 10 == 9)
            h_wm(&a, ev[i].ts - 50);
    }
    h_wm(&a, CF_WATERMARK_MAX);
    outs_t ref = a.out;
    a.out = (outs_t){0};
    h_close(&a);

    /* Interrupted. */
    h_open(&b, &c);
    for (int i = 0; i < N / 2; i++) {
        h_elem(&b, ev[i].key, ev[i].ts, ev[i].v);
        if (i % 10 == 9)
            h_wm(&b, ev[i].ts - 50);
    }
    int64_t wm = b.ctx.watermark;
    snprintf(path, sizeof path, "/tmp/test_runtime_window.%d", (int)getpid());
    cf_kstate_snapshot_t *snap = cf_kstate_snapshot_begin(b.b);
    assert_int_equal(cf_state_file_write(path, snap, NULL, 0, &size, &err), 0);
    cf_kstate_snapshot_release(snap);
    outs_t first = b.out;
    b.out = (outs_t){0};
    h_close(&b);

    cf_kstate_backend_t *nb =
        cf_kstate_backend_new(&cf_host_api, MAXP, 0, MAXP - 1);
    assert_int_equal(cf_state_file_restore_keyed(path, nb, &err), 0);
    unlink(path);
    cf_timers_t *nt = cf_timers_new(nb, &err);
    assert_non_null(nt);
    assert_int_equal(cf_timers_restore(nt, &err), 0);
    memset(&b, 0, sizeof b);
    b.out = first;
    h_open_on(&b, &c, nb, nt);
    b.ctx.watermark = wm;
    for (int i = N / 2; i < N; i++) {
        h_elem(&b, ev[i].key, ev[i].ts, ev[i].v);
        if (i % 10 == 9)
            h_wm(&b, ev[i].ts - 50);
    }
    h_wm(&b, CF_WATERMARK_MAX);
    assert_true(ref.n > 10);
    outs_assert_equal(&b.out, &ref);
    free(ref.v);
    h_close(&b);
}

static void
test_restore(void **state)
{
    (void)state;
    cf_window_conf_t c =
        conf_of(cf_sliding_windows(CF_TIME_EVENT, 60, 20, 0), CF_WFN_REDUCE);
    c.lateness_ms = 30;
    run_restore(c, 1);
    c = conf_of(cf_session_windows(CF_TIME_EVENT, 15), CF_WFN_PROCESS);
    c.lateness_ms = 10;
    run_restore(c, 2);
    c = conf_of(cf_sliding_windows(CF_TIME_EVENT, 100, 50, 0), CF_WFN_PROCESS);
    run_restore(c, 5);
    c = conf_of(cf_tumbling_windows(CF_TIME_EVENT, 50, 0), CF_WFN_AGGREGATE);
    c.trigger.kind = CF_TRIGGER_CONTINUOUS_EVENT;
    c.trigger.interval_ms = 15;
    run_restore(c, 3);
    c = conf_of(cf_global_windows(), CF_WFN_REDUCE);
    c.trigger.kind = CF_TRIGGER_COUNT;
    c.trigger.count = 7;
    c.evictor.kind = CF_EVICTOR_COUNT;
    c.evictor.count = 4;
    run_restore(c, 4);
}

/* ------------------------------------------------------------------ */
/* Cost of sliding windows                                             */
/* ------------------------------------------------------------------ */

/* size / slide = 200 windows per element: panes keep the reduce calls
 * per element at one (plus the folds of panes at firing), where per-window
 * accumulation would do 200. */
static void
test_sliding_cost(void **state)
{
    enum {
        N = 50000
    };
    h_t h;
    cf_window_conf_t c = conf_of(
        cf_sliding_windows(CF_TIME_EVENT, 20000, 100, 0), CF_WFN_REDUCE);
    struct timespec t0, t1;
    (void)state;
    h_open(&h, &c);
    reduce_calls = 0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < N; i++)
        h_elem(&h, i % 4, i * 2, 1);
    uint64_t adds = reduce_calls;
    h_wm(&h, CF_WATERMARK_MAX);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    /* One fold per element into its pane (the first of a pane is
     * stored as is). */
    assert_true(adds <= N);
    /* Each key fires (100000 + 20000) / 100 windows. */
    assert_int_equal(h.out.n, 4 * 1200 - 4);
    /* A firing folds its 200 panes: far below 200 per element. */
    assert_true(reduce_calls < adds + 4 * 1200 * 200);
    fprintf(stderr,
            "sliding 20000/100, %d elements, 4 keys: %.1f ms "
            "(%llu reduce calls while adding, %llu in all)\n",
            N,
            (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
                (double)(t1.tv_nsec - t0.tv_nsec) / 1e6,
            (unsigned long long)adds, (unsigned long long)reduce_calls);
    h_close(&h);

    /* For comparison, the per-window accumulation that aggregate falls
     * back to (cf_agg_ops_t has no merge): size / slide adds per element,
     * on a tenth of the input. */
    c = conf_of(cf_sliding_windows(CF_TIME_EVENT, 20000, 100, 0),
                CF_WFN_AGGREGATE);
    h_open(&h, &c);
    agg_adds = 0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < N / 10; i++)
        h_elem(&h, i % 4, i * 20, 1);
    h_wm(&h, CF_WATERMARK_MAX);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_int_equal(agg_adds, (uint64_t)(N / 10) * 200);
    fprintf(stderr,
            "sliding aggregate 20000/100, %d elements: %.1f ms "
            "(%llu adds)\n",
            N / 10,
            (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
                (double)(t1.tv_nsec - t0.tv_nsec) / 1e6,
            (unsigned long long)agg_adds);
    h_close(&h);

    /* For comparison, a tumbling reduce: one map update and one
     * (no-op after the first) timer registration per element. */
    c = conf_of(cf_tumbling_windows(CF_TIME_EVENT, 1000, 0), CF_WFN_REDUCE);
    h_open(&h, &c);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < N * 4; i++)
        h_elem(&h, i % 100, i / 10, 1);
    h_wm(&h, CF_WATERMARK_MAX);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_int_equal(h.out.n, 100 * (N * 4 / 10 / 1000));
    fprintf(stderr, "tumbling 1000, %d elements, 100 keys: %.1f ms\n", N * 4,
            (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
                (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
    h_close(&h);
}

/* ------------------------------------------------------------------ */
/* Builder                                                             */
/* ------------------------------------------------------------------ */

static int
src_next(cf_ctx_t *ctx)
{
    (void)ctx;
    return CF_SOURCE_END;
}

static int
key_fn(cf_ctx_t *ctx, const cf_record_t *in, cf_key_t *key)
{
    (void)ctx;
    key->data = in->data;
    key->len = 8;
    return 0;
}

static const cf_source_ops_t src_ops = {sizeof(cf_source_ops_t), NULL, src_next,
                                        NULL};

/* cf_env_destroy frees the configurations (node->win, and s->win of
 * windowed streams never ended by a function). */
static void
free_env(cf_env_t *env)
{
    cf_env_destroy(env);
}

static const char *
build_error(cf_window_assigner_t a, int what, int64_t arg)
{
    static char msg[512];
    cf_env_t *env = cf_env_new(NULL, 2);
    cf_stream_t *s = cf_b_env_add_source(env, "src", &src_ops, NULL);
    cf_stream_t *k = cf_b_key_by(s, key_fn, NULL);
    cf_stream_t *w = cf_b_window(k, &a);
    cf_trigger_t t = {sizeof t, CF_TRIGGER_COUNT, 0, arg, arg, 0, NULL};
    cf_evictor_t e = {sizeof e, CF_EVICTOR_COUNT, 0, arg, arg, 0, NULL};
    switch (what) {
    case 1: cf_b_window_allowed_lateness(w, arg); break;
    case 2: cf_b_window_trigger(w, &t); break;
    case 3:
        t.kind = CF_TRIGGER_CONTINUOUS_EVENT;
        cf_b_window_trigger(w, &t);
        break;
    case 4: cf_b_window_evictor(w, &e); break;
    case 5: cf_b_window_trigger(s, &t); break; /* not windowed */
    case 6:
        t.kind = CF_TRIGGER_DELTA;
        t.delta = delta_fn;
        cf_b_window_trigger(w, &t);
        break;
    }
    cf_b_window_reduce(w, NULL, fn_reduce, NULL);
    snprintf(msg, sizeof msg, "%s", env->error ? env->error : "");
    free_env(env);
    return msg;
}

static void
test_builder(void **state)
{
    (void)state;
    /* A valid keyed window and a windowAll. */
    cf_env_t *env = cf_env_new(NULL, 4);
    cf_stream_t *s = cf_b_env_add_source(env, "src", &src_ops, NULL);
    cf_window_assigner_t a = cf_tumbling_windows(CF_TIME_EVENT, 5000, 0);
    cf_stream_t *k = cf_b_key_by(s, key_fn, NULL);
    cf_stream_t *w = cf_b_window(k, &a);
    cf_b_window_allowed_lateness(w, 100);
    cf_b_window_side_output_late_data(w, "late");
    cf_stream_t *r = cf_b_window_reduce(w, NULL, fn_reduce, NULL);
    assert_null(env->error);
    cf_snode_t *n = cf_env_node(env, r->refs[0].node);
    assert_int_equal(n->kind, CF_OP_WINDOW);
    assert_non_null(n->win);
    assert_int_equal(n->win->lateness_ms, 100);
    assert_string_equal(n->win->late_tag, "late");
    assert_int_equal(n->win->fn_kind, CF_WFN_REDUCE);
    assert_true(n->keyed);
    assert_string_equal(n->name, "Window(TumblingEventTimeWindows(5000), "
                                 "EventTimeTrigger, ReduceFunction)");
    assert_null(w->win);
    /* Used up: a second function on it fails. */
    cf_b_window_reduce(w, NULL, fn_reduce, NULL);
    assert_non_null(env->error);
    free_env(env);

    env = cf_env_new(NULL, 4);
    s = cf_b_env_add_source(env, "src", &src_ops, NULL);
    a = cf_sliding_windows(CF_TIME_PROCESSING, 100, 10, 0);
    w = cf_b_window(s, &a);
    r = cf_b_window_process(w, "my window", &proc_ops, NULL);
    assert_null(env->error);
    n = cf_env_node(env, r->refs[0].node);
    assert_int_equal(n->parallelism, 1);
    assert_true(n->win->all);
    assert_true(n->keyed);
    assert_non_null(n->key_fn);
    assert_string_equal(n->name, "my window");
    assert_int_equal(n->in[0].partitioner, CF_PARTITION_HASH);
    free_env(env);

    /* Validation. */
    assert_non_null(
        strstr(build_error(cf_tumbling_windows(CF_TIME_EVENT, 0, 0), 0, 0),
               "TumblingEventTimeWindows"));
    assert_non_null(
        strstr(build_error(cf_tumbling_windows(CF_TIME_EVENT, 10, 10), 0, 0),
               "abs(offset) < size"));
    assert_non_null(
        strstr(build_error(cf_sliding_windows(CF_TIME_EVENT, 10, 0, 0), 0, 0),
               "SlidingEventTimeWindows"));
    assert_non_null(strstr(
        build_error(cf_sliding_windows(CF_TIME_PROCESSING, 10, 5, -5), 0, 0),
        "SlidingProcessingTimeWindows parameters"));
    assert_non_null(
        strstr(build_error(cf_sliding_windows(CF_TIME_EVENT, 0, 5, 0), 0, 0),
               "size > 0"));
    assert_string_equal(
        build_error(cf_sliding_windows(CF_TIME_EVENT, 10, 20, 0), 0, 0), "");
    assert_non_null(
        strstr(build_error(cf_session_windows(CF_TIME_EVENT, 0), 0, 0),
               "EventTimeSessionWindows"));
    cf_window_assigner_t ok = cf_tumbling_windows(CF_TIME_EVENT, 10, 0);
    assert_non_null(strstr(build_error(ok, 1, -1), "cannot be negative"));
    assert_string_equal(build_error(ok, 1, 0), "");
    assert_non_null(strstr(build_error(ok, 2, 0), "CountTrigger"));
    assert_string_equal(build_error(ok, 2, 5), "");
    assert_non_null(
        strstr(build_error(ok, 3, 0), "ContinuousEventTimeTrigger"));
    assert_non_null(strstr(build_error(ok, 4, 0), "CountEvictor"));
    assert_non_null(strstr(build_error(ok, 5, 1), "windowed stream"));
    assert_non_null(strstr(
        build_error(cf_session_windows(CF_TIME_EVENT, 10), 6, 1), "merging"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_builder),
        cmocka_unit_test(test_tumbling_late_firing),
        cmocka_unit_test(test_tumbling_random),
        cmocka_unit_test(test_sliding_random),
        cmocka_unit_test(test_sessions_random),
        cmocka_unit_test(test_sessions_late),
        cmocka_unit_test(test_sessions_bridge_count),
        cmocka_unit_test(test_global_count),
        cmocka_unit_test(test_evictors),
        cmocka_unit_test(test_continuous_event),
        cmocka_unit_test(test_delta_trigger),
        cmocka_unit_test(test_processing_time),
        cmocka_unit_test(test_continuous_processing),
        cmocka_unit_test(test_processing_sessions),
        cmocka_unit_test(test_restore),
        cmocka_unit_test(test_sliding_cost),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
