/*
 * test_net_remote.c: the network manager (src/net/netmgr.c). Two
 * cf_netmgr instances in one process, each with its own network budget,
 * play two TaskManagers on 127.0.0.1; producer and consumer tasks are
 * plain threads writing and reading records. Covers remote and local
 * channels, ordering, connection sharing, both orders of publish and
 * subscribe, credit-based backpressure with bounded memory, floating
 * buffers shared by the remote channels of a gate, connection
 * loss, cancellation, and bad input from the network.
 */
/* Before cmocka.h, whose fail() macro clashes with cflink.h. */
#include "netmgr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#define SEG 4096u
#define MAXCH 4
#define BIG 10000u

/* ------------------------------------------------------------------ */
/* TaskManagers, done callbacks                                        */
/* ------------------------------------------------------------------ */

typedef struct tm_s {
    cf_net_env_t *env;
    cf_netmgr_t *nm;
    int port;
} tm_t;

static void
tm_start(tm_t *t, int64_t segments)
{
    cf_error_t *err = NULL;

    t->env = cf_net_env_new(segments * SEG, SEG);
    t->nm = cf_netmgr_new(t->env, "127.0.0.1", 0, "127.0.0.1", &err);
    if (t->nm == NULL)
        fprintf(stderr, "netmgr: %s\n", cf_error_msg(err));
    assert_non_null(t->nm);
    t->port = cf_netmgr_port(t->nm);
    assert_true(t->port > 0);
}

/* Destroys the manager, then the budget (which asserts that every pool
 * has been destroyed, i.e. all segments are back). */
static void
tm_stop(tm_t *t)
{
    cf_netmgr_destroy(t->nm);
    t->nm = NULL;
    assert_int_equal(cf_net_env_free_segments(t->env),
                     cf_net_env_total_segments(t->env));
    cf_net_env_destroy(t->env);
}

typedef struct waiter_s {
    cf_signal_t sig;
    atomic_int n;
} waiter_t;

static void
waiter_init(waiter_t *w)
{
    cf_signal_init(&w->sig);
    atomic_init(&w->n, 0);
}

static void
done_cb(void *arg)
{
    waiter_t *w = arg;

    atomic_fetch_add(&w->n, 1);
    cf_signal_notify(&w->sig);
}

/* 1 when w->n reached n within ms. */
static int
waiter_wait(waiter_t *w, int n, int ms)
{
    int64_t deadline = cf_mono_ns() + (int64_t)ms * 1000000;

    for (;;) {
        uint64_t seen = cf_signal_count(&w->sig);
        if (atomic_load(&w->n) >= n)
            return 1;
        if (cf_mono_ns() >= deadline)
            return 0;
        cf_signal_wait(&w->sig, &seen, cf_mono_ns() + 10000000);
    }
}

/* ------------------------------------------------------------------ */
/* Records                                                             */
/* ------------------------------------------------------------------ */

static uint32_t
rec_len(uint64_t i)
{
    if (i % 997 == 0)
        return BIG; /* spans three buffers */
    if (i % 101 == 0)
        return SEG - 16; /* nearly a whole buffer: spans two */
    return 8 + (uint32_t)((i * 2654435761u) >> 7) % 56;
}

static uint8_t
rec_byte(int tag, uint64_t seq, uint32_t j)
{
    return (uint8_t)(seq * 7 + j * 13 + (uint64_t)tag * 59);
}

/* ------------------------------------------------------------------ */
/* Producer task                                                       */
/* ------------------------------------------------------------------ */

typedef struct prod_s {
    tm_t *tm;
    cf_net_pid_t pid;
    int nsub;
    int tag0;           /* subpartition k carries tag tag0 + k */
    uint64_t nrec;      /* per subpartition */
    uint32_t fixed_len; /* 0: rec_len() */
    int no_eop;
    cf_net_pool_t *pool;
    cf_net_partition_t part;
    cf_signal_t sig;
    atomic_int connected;
    atomic_int cancel;
    atomic_uint_fast64_t written;
    atomic_int finished;
    int rc;
    pthread_t th;
} prod_t;

static void
prod_init(prod_t *p, tm_t *tm, int nsub, int tag0, uint32_t pool_n,
          uint64_t nrec)
{
    memset(p, 0, sizeof *p);
    p->tm = tm;
    cf_id_random(&p->pid.attempt);
    p->pid.output = tag0;
    p->nsub = nsub;
    p->tag0 = tag0;
    p->nrec = nrec;
    cf_signal_init(&p->sig);
    atomic_init(&p->connected, 0);
    atomic_init(&p->cancel, 0);
    atomic_init(&p->written, 0);
    atomic_init(&p->finished, 0);
    p->pool = cf_net_pool_new(tm->env, pool_n, &p->sig, NULL);
    assert_non_null(p->pool);
    cf_net_partition_init(&p->part, p->pool, nsub, &p->sig, &p->cancel);
}

static void
prod_publish(prod_t *p)
{
    cf_netmgr_publish(p->tm->nm, &p->pid, &p->part, &p->connected, &p->sig);
}

static void *
prod_main(void *arg)
{
    prod_t *p = arg;
    static __thread uint8_t rec[BIG];
    int64_t deadline = cf_mono_ns() + 5000000000LL;
    uint64_t i;
    uint32_t j;
    int k;

    /* A task writes only once every subpartition is attached. */
    for (;;) {
        uint64_t seen = cf_signal_count(&p->sig);
        if (atomic_load_explicit(&p->connected, memory_order_acquire) ==
            p->nsub)
            break;
        if (cf_mono_ns() > deadline) {
            p->rc = -1;
            goto out;
        }
        cf_signal_wait(&p->sig, &seen, cf_mono_ns() + 10000000);
    }
    for (i = 0; i < p->nrec; i++) {
        for (k = 0; k < p->nsub; k++) {
            int tag = p->tag0 + k;
            uint32_t len = p->fixed_len ? p->fixed_len : rec_len(i);
            memcpy(rec, &i, 8);
            for (j = 8; j < len; j++)
                rec[j] = rec_byte(tag, i, j);
            p->rc = cf_net_partition_write(&p->part, k, rec, len,
                                           (int64_t)i * 3 + tag);
            if (p->rc != 0)
                goto out;
            atomic_fetch_add(&p->written, 1);
        }
    }
    cf_net_partition_flush_all(&p->part);
    if (!p->no_eop)
        cf_net_partition_broadcast_event(&p->part, CF_NET_EV_END_OF_PARTITION,
                                         NULL, 0);
out:
    atomic_store(&p->finished, 1);
    return NULL;
}

static void
prod_start(prod_t *p)
{
    assert_int_equal(pthread_create(&p->th, NULL, prod_main, p), 0);
}

/* Join, release the partition (done callback counted in w), free. */
static void
prod_finish(prod_t *p, int discard, waiter_t *w, int expect_done)
{
    pthread_join(p->th, NULL);
    cf_netmgr_release_partition(p->tm->nm, &p->pid, discard, done_cb, w);
    assert_true(waiter_wait(w, expect_done, 5000));
    cf_net_partition_deinit(&p->part);
    /* A local consumer's gate may still hold some buffers. */
    cf_net_pool_release(p->pool);
    cf_signal_deinit(&p->sig);
}

/* ------------------------------------------------------------------ */
/* Consumer task                                                       */
/* ------------------------------------------------------------------ */

typedef struct cons_s {
    tm_t *tm;
    int nch;
    int tag[MAXCH];
    uint64_t nrec; /* expected per channel */
    cf_net_gate_t *gate;
    cf_signal_t sig;
    cf_net_pool_t *expect_pool; /* local: buffers come by pointer */
    atomic_int hold;            /* do not read while set */
    atomic_uint_fast64_t got_total;
    uint64_t got[MAXCH];
    int ended[MAXCH];
    char err[512];
    int nerr;
    char bad[256];
    int nbad;
    int timeout;
    pthread_t th;
} cons_t;

static void
cons_init(cons_t *c, tm_t *tm, int nch, uint64_t nrec)
{
    memset(c, 0, sizeof *c);
    c->tm = tm;
    c->nch = nch;
    c->nrec = nrec;
    cf_signal_init(&c->sig);
    atomic_init(&c->hold, 0);
    atomic_init(&c->got_total, 0);
    c->gate = cf_net_gate_new(nch, &c->sig);
}

static void
cons_subscribe(cons_t *c, int ch, prod_t *p, int sub, int credits)
{
    c->tag[ch] = p->tag0 + sub;
    cf_netmgr_subscribe(c->tm->nm, &p->pid, sub, "127.0.0.1", p->tm->port,
                        c->gate, ch, credits);
}

static void
cons_bad(cons_t *c, const char *fmt, ...)
{
    va_list ap;

    if (c->nbad++ > 0)
        return;
    va_start(ap, fmt);
    vsnprintf(c->bad, sizeof c->bad, fmt, ap);
    va_end(ap);
}

static void
cons_check(cons_t *c, int ch, const cf_record_t *rec)
{
    uint64_t seq = c->got[ch], s;
    int tag = c->tag[ch];
    uint32_t j, len = rec_len(seq);

    if (rec->len != len) {
        cons_bad(c, "ch %d rec %llu: len %u, want %u", ch,
                 (unsigned long long)seq, rec->len, len);
        return;
    }
    memcpy(&s, rec->data, 8);
    if (s != seq || rec->ts != (int64_t)seq * 3 + tag) {
        cons_bad(c, "ch %d rec %llu: got seq %llu ts %lld", ch,
                 (unsigned long long)seq, (unsigned long long)s,
                 (long long)rec->ts);
        return;
    }
    for (j = 8; j < len; j++) {
        if (((const uint8_t *)rec->data)[j] != rec_byte(tag, seq, j)) {
            cons_bad(c, "ch %d rec %llu: byte %u differs", ch,
                     (unsigned long long)seq, j);
            return;
        }
    }
}

static void *
cons_main(void *arg)
{
    cons_t *c = arg;
    cf_net_reader_t rd[MAXCH];
    int64_t deadline = cf_mono_ns() + 9000000000LL;
    int i, nended = 0;

    for (i = 0; i < c->nch; i++)
        cf_net_reader_init(&rd[i]);
    while (nended < c->nch) {
        uint64_t seen = cf_signal_count(&c->sig);
        cf_net_buf_t *b = NULL;
        cf_record_t rec;
        int ch;

        if (!atomic_load(&c->hold))
            b = cf_net_gate_poll(c->gate, &ch);
        if (b == NULL) {
            if (cf_mono_ns() > deadline) {
                c->timeout = 1;
                break;
            }
            cf_signal_wait(&c->sig, &seen, cf_mono_ns() + 20000000);
            continue;
        }
        if (b->kind == CF_NET_EVENT) {
            if (b->event == CF_NET_EV_END_OF_PARTITION) {
                if (cf_net_reader_in_record(&rd[ch]))
                    cons_bad(c, "ch %d: end inside a record", ch);
                c->ended[ch] = 1;
                nended++;
            } else if (b->event == CF_NET_EV_ERROR) {
                size_t n =
                    b->len < sizeof c->err - 1 ? b->len : sizeof c->err - 1;
                memcpy(c->err, b->data, n);
                c->err[n] = '\0';
                c->nerr++;
                cf_net_buf_recycle(b);
                break;
            }
            cf_net_buf_recycle(b);
            continue;
        }
        if (c->expect_pool != NULL && b->pool != c->expect_pool)
            cons_bad(c, "ch %d: buffer not from the producer's pool", ch);
        cf_net_reader_set(&rd[ch], b);
        while (cf_net_reader_next(&rd[ch], &rec)) {
            if (c->nrec > 0)
                cons_check(c, ch, &rec);
            c->got[ch]++;
            atomic_fetch_add(&c->got_total, 1);
        }
    }
    for (i = 0; i < c->nch; i++)
        cf_net_reader_deinit(&rd[i]);
    return NULL;
}

static void
cons_start(cons_t *c)
{
    assert_int_equal(pthread_create(&c->th, NULL, cons_main, c), 0);
}

static void
cons_assert_complete(cons_t *c)
{
    int i;

    if (c->nbad > 0)
        fprintf(stderr, "consumer: %s\n", c->bad);
    if (c->nerr > 0)
        fprintf(stderr, "consumer error: %s\n", c->err);
    assert_int_equal(c->nbad, 0);
    assert_int_equal(c->nerr, 0);
    assert_int_equal(c->timeout, 0);
    for (i = 0; i < c->nch; i++) {
        assert_int_equal(c->got[i], c->nrec);
        assert_true(c->ended[i]);
    }
}

/* ------------------------------------------------------------------ */
/* Remote channel: 1,000,000 records in order                          */
/* ------------------------------------------------------------------ */

static void
test_remote_million(void **state)
{
    tm_t a, b;
    prod_t p;
    cons_t c;
    waiter_t w;
    cf_netmgr_stats_t sa, sb;

    (void)state;
    tm_start(&a, 64);
    tm_start(&b, 64);
    waiter_init(&w);
    prod_init(&p, &a, 1, 5, 8, 1000000);
    cons_init(&c, &b, 1, 1000000);
    prod_publish(&p);
    cons_subscribe(&c, 0, &p, 0, 2);
    prod_start(&p);
    cons_start(&c);
    pthread_join(c.th, NULL);
    cons_assert_complete(&c);
    assert_int_equal(p.rc, 0);

    cf_netmgr_stats(a.nm, &sa);
    cf_netmgr_stats(b.nm, &sb);
    assert_int_equal(sa.connections, 1);
    assert_int_equal(sb.connections, 1);
    assert_int_equal(sa.published, 1);
    assert_int_equal(sb.subscriptions, 1);
    assert_true(sa.buffers_sent > 1000);
    assert_true(sa.bytes_sent >= p.part.bytes_out);
    assert_true(sb.bytes_received >= p.part.bytes_out);

    prod_finish(&p, 0, &w, 1);
    cf_netmgr_release_gate(b.nm, c.gate, done_cb, &w);
    assert_true(waiter_wait(&w, 2, 5000));
    cf_net_gate_destroy(c.gate);
    cf_signal_deinit(&c.sig);
    cf_netmgr_stats(a.nm, &sa);
    cf_netmgr_stats(b.nm, &sb);
    assert_int_equal(sa.published, 0);
    assert_int_equal(sb.subscriptions, 0);
    tm_stop(&a);
    tm_stop(&b);
}

/* ------------------------------------------------------------------ */
/* 2 producers x 2 consumers over one connection                       */
/* ------------------------------------------------------------------ */

static void
test_all_to_all_shared_connection(void **state)
{
    tm_t a, b;
    prod_t p[2];
    cons_t c[2];
    waiter_t w;
    cf_netmgr_stats_t sa, sb;
    int i, k;

    (void)state;
    tm_start(&a, 64);
    tm_start(&b, 64);
    waiter_init(&w);
    for (i = 0; i < 2; i++) {
        prod_init(&p[i], &a, 2, 10 * (i + 1), 6, 60000);
        cons_init(&c[i], &b, 2, 60000);
    }
    /* Half the subscriptions before the publications, half after. */
    for (k = 0; k < 2; k++)
        cons_subscribe(&c[k], 0, &p[0], k, 2);
    for (i = 0; i < 2; i++)
        prod_publish(&p[i]);
    for (k = 0; k < 2; k++)
        cons_subscribe(&c[k], 1, &p[1], k, 3);
    for (i = 0; i < 2; i++) {
        prod_start(&p[i]);
        cons_start(&c[i]);
    }
    for (k = 0; k < 2; k++) {
        pthread_join(c[k].th, NULL);
        cons_assert_complete(&c[k]);
    }
    cf_netmgr_stats(a.nm, &sa);
    cf_netmgr_stats(b.nm, &sb);
    assert_int_equal(sa.connections, 1);
    assert_int_equal(sb.connections, 1);
    assert_int_equal(sa.published, 2);
    assert_int_equal(sb.subscriptions, 4);
    for (i = 0; i < 2; i++) {
        prod_finish(&p[i], 0, &w, i + 1);
        assert_int_equal(p[i].rc, 0);
    }
    for (k = 0; k < 2; k++) {
        cf_netmgr_release_gate(b.nm, c[k].gate, done_cb, &w);
        assert_true(waiter_wait(&w, 3 + k, 5000));
        cf_net_gate_destroy(c[k].gate);
        cf_signal_deinit(&c[k].sig);
    }
    tm_stop(&a);
    tm_stop(&b);
}

/* ------------------------------------------------------------------ */
/* Orders of publish and subscribe; local channels by pointer          */
/* ------------------------------------------------------------------ */

static void
run_pair(int local, int subscribe_first)
{
    tm_t a, b;
    tm_t *ct;
    prod_t p;
    cons_t c;
    waiter_t w;
    cf_netmgr_stats_t s;

    tm_start(&a, 32);
    tm_start(&b, 32);
    ct = local ? &a : &b;
    waiter_init(&w);
    prod_init(&p, &a, 1, 3, 4, 20000);
    cons_init(&c, ct, 1, 20000);
    if (local)
        c.expect_pool = p.pool;
    prod_start(&p); /* waits until attached */
    cons_start(&c);
    if (subscribe_first) {
        cons_subscribe(&c, 0, &p, 0, 2);
        cf_sleep_ms(100);
        assert_int_equal(atomic_load(&p.connected), 0);
        prod_publish(&p);
    } else {
        prod_publish(&p);
        cf_sleep_ms(100);
        assert_int_equal(atomic_load(&p.connected), 0);
        cons_subscribe(&c, 0, &p, 0, 2);
    }
    pthread_join(c.th, NULL);
    cons_assert_complete(&c);
    cf_netmgr_stats(a.nm, &s);
    assert_int_equal(s.connections, local ? 0 : 1);
    if (local) {
        /* Nothing crossed the network, and the consumer's budget (b's)
         * was not touched. */
        assert_int_equal(s.buffers_sent, 0);
        assert_int_equal(cf_net_env_free_segments(a.env), 32 - 4);
    }
    prod_finish(&p, 0, &w, 1);
    assert_int_equal(p.rc, 0);
    cf_netmgr_release_gate(ct->nm, c.gate, done_cb, &w);
    assert_true(waiter_wait(&w, 2, 5000));
    cf_net_gate_destroy(c.gate);
    cf_signal_deinit(&c.sig);
    tm_stop(&a);
    tm_stop(&b);
}

static void
test_remote_subscribe_first(void **state)
{
    (void)state;
    run_pair(0, 1);
}

static void
test_remote_publish_first(void **state)
{
    (void)state;
    run_pair(0, 0);
}

static void
test_local_subscribe_first(void **state)
{
    (void)state;
    run_pair(1, 1);
}

static void
test_local_publish_first(void **state)
{
    (void)state;
    run_pair(1, 0);
}

/* A local gate released while its producer still runs: done waits for
 * the producer's release (its last push). A pending remote subscription
 * to a partition never published is dropped at once. */
static void
test_release_waits_for_local_producer(void **state)
{
    tm_t a, b;
    prod_t p;
    cf_net_pid_t ghost;
    cf_net_gate_t *gate, *g2;
    cf_signal_t sig;
    waiter_t w;

    (void)state;
    tm_start(&a, 32);
    tm_start(&b, 32);
    waiter_init(&w);
    cf_signal_init(&sig);
    prod_init(&p, &a, 1, 1, 4, 0);
    gate = cf_net_gate_new(1, &sig);
    prod_publish(&p);
    cf_netmgr_subscribe(a.nm, &p.pid, 0, NULL, 0, gate, 0, 2);
    cf_netmgr_release_gate(a.nm, gate, done_cb, &w);
    assert_false(waiter_wait(&w, 1, 200));
    cf_netmgr_release_partition(a.nm, &p.pid, 0, done_cb, &w);
    assert_true(waiter_wait(&w, 2, 2000));
    cf_net_partition_deinit(&p.part);
    cf_net_pool_release(p.pool);
    cf_net_gate_destroy(gate);

    /* b subscribes to a partition a never publishes. */
    cf_id_random(&ghost.attempt);
    ghost.output = 0;
    g2 = cf_net_gate_new(1, &sig);
    cf_netmgr_subscribe(b.nm, &ghost, 0, "127.0.0.1", a.port, g2, 0, 4);
    cf_sleep_ms(50);
    assert_int_equal(cf_net_env_free_segments(b.env), 32 - 4);
    cf_netmgr_release_gate(b.nm, g2, done_cb, &w);
    assert_true(waiter_wait(&w, 3, 2000));
    assert_int_equal(cf_net_env_free_segments(b.env), 32);
    cf_net_gate_destroy(g2);
    cf_signal_deinit(&sig);
    cf_signal_deinit(&p.sig);
    tm_stop(&a);
    tm_stop(&b);
}

/* ------------------------------------------------------------------ */
/* Credit-based backpressure with bounded memory                       */
/* ------------------------------------------------------------------ */

#define BP_POOL 4
#define BP_CREDITS 2
#define BP_LEN 1012u /* 4 records of 12 + 1012 bytes fill a buffer exactly */
#define BP_PER_BUF 4

static void
test_backpressure_bounded(void **state)
{
    tm_t a, b;
    prod_t p;
    cons_t c;
    waiter_t w;
    uint64_t before;
    uint64_t bound = (BP_POOL + BP_CREDITS) * BP_PER_BUF;

    (void)state;
    tm_start(&a, 16);
    tm_start(&b, 16);
    waiter_init(&w);
    prod_init(&p, &a, 1, 7, BP_POOL, 5000);
    p.fixed_len = BP_LEN;
    cons_init(&c, &b, 1, 0); /* content not checked (fixed length) */
    atomic_store(&c.hold, 1);
    prod_publish(&p);
    cons_subscribe(&c, 0, &p, 0, BP_CREDITS);
    prod_start(&p);
    cons_start(&c);

    /* The producer stops making progress: its writes block. */
    do {
        before = atomic_load(&p.written);
        cf_sleep_ms(300);
    } while (atomic_load(&p.written) != before);
    assert_false(atomic_load(&p.finished));
    assert_true(before <= bound);
    assert_true(before >= bound - BP_PER_BUF);
    /* The consumer's gate holds exactly its credits; the producer's pool
     * is all in flight; no budget beyond the pools was used. */
    assert_int_equal(cf_net_gate_queued(c.gate), BP_CREDITS);
    assert_int_equal(cf_net_pool_free_count(p.pool), 0);
    assert_int_equal(cf_net_env_free_segments(a.env), 16 - BP_POOL);
    assert_int_equal(cf_net_env_free_segments(b.env), 16 - BP_CREDITS);

    /* Reading again drains everything. */
    atomic_store(&c.hold, 0);
    cf_signal_notify(&c.sig);
    pthread_join(c.th, NULL);
    assert_int_equal(c.got[0], 5000);
    assert_true(c.ended[0]);
    assert_int_equal(c.nerr, 0);
    prod_finish(&p, 0, &w, 1);
    assert_int_equal(p.rc, 0);
    assert_true(p.part.wait_ns > 200000000); /* it waited >= 0.2 s */
    cf_netmgr_release_gate(b.nm, c.gate, done_cb, &w);
    assert_true(waiter_wait(&w, 2, 5000));
    cf_net_gate_destroy(c.gate);
    cf_signal_deinit(&c.sig);
    tm_stop(&a);
    tm_stop(&b);
}

/* ------------------------------------------------------------------ */
/* Floating buffers                                                    */
/* ------------------------------------------------------------------ */

/* Two remote channels of one gate, 1 exclusive buffer each, share 4
 * floating buffers. While the consumer does not read, the producers'
 * backlog draws every floating buffer as extra credit, and not one buffer
 * more; then all records arrive in order, and everything returns to the
 * budget. The gate's floating buffers are set between the two
 * subscriptions (a channel subscribed before gets them too). */
static void
test_floating_buffers(void **state)
{
    tm_t a, b;
    prod_t p[2];
    cons_t c;
    waiter_t w;
    int64_t deadline;
    int i;

    (void)state;
    tm_start(&a, 64);
    tm_start(&b, 16);
    waiter_init(&w);
    cons_init(&c, &b, 2, 6000);
    atomic_store(&c.hold, 1);
    for (i = 0; i < 2; i++) {
        prod_init(&p[i], &a, 1, 20 + i, 12, 6000);
        prod_publish(&p[i]);
    }
    cons_subscribe(&c, 0, &p[0], 0, 1);
    cf_netmgr_gate_floating(b.nm, c.gate, 4);
    cons_subscribe(&c, 1, &p[1], 0, 1);
    for (i = 0; i < 2; i++)
        prod_start(&p[i]);
    cons_start(&c);

    /* 2 exclusive + 4 floating buffers fill up, then nothing more. */
    deadline = cf_mono_ns() + 5000000000LL;
    while (cf_net_gate_queued(c.gate) < 6 && cf_mono_ns() < deadline)
        cf_sleep_ms(5);
    assert_int_equal(cf_net_gate_queued(c.gate), 6);
    cf_sleep_ms(200);
    assert_int_equal(cf_net_gate_queued(c.gate), 6);
    assert_int_equal(cf_net_env_free_segments(b.env), 16 - 2 - 4);
    for (i = 0; i < 2; i++)
        assert_false(atomic_load(&p[i].finished));

    atomic_store(&c.hold, 0);
    cf_signal_notify(&c.sig);
    pthread_join(c.th, NULL);
    cons_assert_complete(&c);
    for (i = 0; i < 2; i++) {
        prod_finish(&p[i], 0, &w, i + 1);
        assert_int_equal(p[i].rc, 0);
    }
    cf_netmgr_release_gate(b.nm, c.gate, done_cb, &w);
    assert_true(waiter_wait(&w, 3, 5000));
    cf_net_gate_destroy(c.gate);
    cf_signal_deinit(&c.sig);
    assert_int_equal(cf_net_env_free_segments(b.env), 16);
    tm_stop(&a);
    tm_stop(&b);
}

/* A budget that cannot cover the floating buffers: the channel runs on
 * its exclusive buffers alone. Floating buffers of a gate with only
 * local channels are never reserved. */
static void
test_floating_budget_too_small(void **state)
{
    tm_t a, b;
    prod_t p, q;
    cons_t c, l;
    waiter_t w;

    (void)state;
    tm_start(&a, 32);
    tm_start(&b, 2);
    waiter_init(&w);
    prod_init(&p, &a, 1, 30, 8, 20000);
    prod_publish(&p);
    cons_init(&c, &b, 1, 20000);
    cf_netmgr_gate_floating(b.nm, c.gate, 8);
    cons_subscribe(&c, 0, &p, 0, 2);
    /* Local: a's own consumer of q. */
    prod_init(&q, &a, 1, 31, 8, 20000);
    prod_publish(&q);
    cons_init(&l, &a, 1, 20000);
    l.expect_pool = q.pool;
    cf_netmgr_gate_floating(a.nm, l.gate, 8);
    cons_subscribe(&l, 0, &q, 0, 2);
    prod_start(&p);
    prod_start(&q);
    cons_start(&c);
    cons_start(&l);
    pthread_join(c.th, NULL);
    pthread_join(l.th, NULL);
    cons_assert_complete(&c);
    cons_assert_complete(&l);
    /* a: only the two producer pools. */
    assert_int_equal(cf_net_env_free_segments(a.env), 32 - 16);
    prod_finish(&p, 0, &w, 1);
    prod_finish(&q, 0, &w, 2);
    cf_netmgr_release_gate(b.nm, c.gate, done_cb, &w);
    cf_netmgr_release_gate(a.nm, l.gate, done_cb, &w);
    assert_true(waiter_wait(&w, 4, 5000));
    cf_net_gate_destroy(c.gate);
    cf_net_gate_destroy(l.gate);
    cf_signal_deinit(&c.sig);
    cf_signal_deinit(&l.sig);
    tm_stop(&a);
    tm_stop(&b);
}

/* ------------------------------------------------------------------ */
/* Connection loss and cancellation                                    */
/* ------------------------------------------------------------------ */

/* The producer's TaskManager goes away: the consumer fails with Flink's
 * message naming it. */
static void
test_producer_lost(void **state)
{
    tm_t a, b;
    prod_t p;
    cons_t c;
    waiter_t w;
    char want[256];

    (void)state;
    tm_start(&a, 32);
    tm_start(&b, 32);
    waiter_init(&w);
    prod_init(&p, &a, 1, 2, 4, 1000);
    p.no_eop = 1;
    cons_init(&c, &b, 1, 1000);
    prod_publish(&p);
    cons_subscribe(&c, 0, &p, 0, 2);
    prod_start(&p);
    cons_start(&c);
    while (atomic_load(&c.got_total) < 1000)
        cf_sleep_ms(5);
    prod_finish(&p, 1, &w, 1);
    snprintf(want, sizeof want,
             "Connection unexpectedly closed by remote task manager "
             "'127.0.0.1:%d'. This might indicate that the remote task "
             "manager was lost.",
             a.port);
    tm_stop(&a);
    pthread_join(c.th, NULL);
    assert_int_equal(c.nbad, 0);
    assert_int_equal(c.nerr, 1);
    assert_string_equal(c.err, want);
    assert_int_equal(c.got[0], 1000);
    cf_netmgr_release_gate(b.nm, c.gate, done_cb, &w);
    assert_true(waiter_wait(&w, 2, 5000));
    cf_net_gate_destroy(c.gate);
    cf_signal_deinit(&c.sig);
    tm_stop(&b);
}

/* Connecting to a TaskManager that is not there. */
static void
test_connect_refused(void **state)
{
    tm_t b;
    cf_net_pid_t pid;
    cf_net_gate_t *gate;
    cf_signal_t sig;
    waiter_t w;
    cf_net_buf_t *buf = NULL;
    int64_t deadline = cf_mono_ns() + 5000000000LL;
    int port, fd, ch;
    struct sockaddr_in sin;
    socklen_t sl = sizeof sin;
    char want[256];

    (void)state;
    /* A port nobody listens on. */
    fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
    getsockname(fd, (struct sockaddr *)&sin, &sl);
    port = ntohs(sin.sin_port);
    close(fd);

    tm_start(&b, 8);
    waiter_init(&w);
    cf_signal_init(&sig);
    gate = cf_net_gate_new(1, &sig);
    cf_id_random(&pid.attempt);
    pid.output = 0;
    cf_netmgr_subscribe(b.nm, &pid, 0, "127.0.0.1", port, gate, 0, 2);
    while (buf == NULL && cf_mono_ns() < deadline) {
        uint64_t seen = cf_signal_count(&sig);
        buf = cf_net_gate_poll(gate, &ch);
        if (buf == NULL)
            cf_signal_wait(&sig, &seen, cf_mono_ns() + 20000000);
    }
    assert_non_null(buf);
    assert_int_equal(buf->kind, CF_NET_EVENT);
    assert_int_equal(buf->event, CF_NET_EV_ERROR);
    snprintf(want, sizeof want,
             "Connecting to remote task manager '127.0.0.1:%d' has failed. "
             "This might indicate that the remote task manager has been "
             "lost.",
             port);
    assert_int_equal(buf->len, strlen(want));
    assert_memory_equal(buf->data, want, buf->len);
    cf_net_buf_recycle(buf);
    cf_netmgr_release_gate(b.nm, gate, done_cb, &w);
    assert_true(waiter_wait(&w, 1, 2000));
    cf_net_gate_destroy(gate);
    cf_signal_deinit(&sig);
    tm_stop(&b);
}

/* The consumer cancels its request: the producer is not held up by it,
 * and its buffers are recycled. */
static void
test_consumer_cancels(void **state)
{
    tm_t a, b;
    prod_t p;
    cons_t c;
    waiter_t w;

    (void)state;
    tm_start(&a, 32);
    tm_start(&b, 32);
    waiter_init(&w);
    prod_init(&p, &a, 1, 4, 4, 300000);
    cons_init(&c, &b, 1, 0);
    atomic_store(&c.hold, 1);
    prod_publish(&p);
    cons_subscribe(&c, 0, &p, 0, 2);
    prod_start(&p);
    cons_start(&c);
    cf_sleep_ms(200);
    assert_false(atomic_load(&p.finished)); /* blocked on credit */
    cf_netmgr_release_gate(b.nm, c.gate, done_cb, &w);
    assert_true(waiter_wait(&w, 1, 2000));
    pthread_join(p.th, NULL); /* completes without a consumer */
    assert_int_equal(p.rc, 0);
    assert_int_equal(atomic_load(&p.written), 300000);
    cf_netmgr_release_partition(a.nm, &p.pid, 0, done_cb, &w);
    assert_true(waiter_wait(&w, 2, 5000));
    cf_net_partition_deinit(&p.part);
    cf_net_pool_release(p.pool);
    cf_signal_deinit(&p.sig);

    atomic_store(&c.hold, 0);
    atomic_store(&c.got_total, 0);
    cf_signal_notify(&c.sig);
    /* The consumer sees what arrived before the cancel, then times out
     * or ends; stop it by pushing an end event for it. */
    cf_net_gate_push(c.gate, 0,
                     cf_net_event_new(CF_NET_EV_END_OF_PARTITION, NULL, 0));
    pthread_join(c.th, NULL);
    cf_net_gate_destroy(c.gate);
    cf_signal_deinit(&c.sig);
    tm_stop(&a);
    tm_stop(&b);
}

/* ------------------------------------------------------------------ */
/* Raw clients: the wire protocol, a peer that vanishes, bad input     */
/* ------------------------------------------------------------------ */

static int
raw_connect(int port)
{
    struct sockaddr_in sin;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t)port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof sin), 0);
    return fd;
}

static void
raw_send(int fd, const void *p, size_t n)
{
    assert_int_equal(send(fd, p, n, MSG_NOSIGNAL), (ssize_t)n);
}

static void
put32(uint8_t *p, uint32_t v)
{
    v = htonl(v);
    memcpy(p, &v, 4);
}

static uint32_t
get32(const uint8_t *p)
{
    uint32_t v;

    memcpy(&v, p, 4);
    return ntohl(v);
}

/* A frame: [u32 len][u8 type][body]. Returns its size. */
static size_t
frame(uint8_t *out, uint8_t type, const void *body, uint32_t n)
{
    put32(out, n + 1);
    out[4] = type;
    memcpy(out + 5, body, n);
    return 5 + n;
}

static size_t
hello(uint8_t *out, const char *addr, uint32_t magic)
{
    uint8_t b[64];
    uint16_t n = (uint16_t)strlen(addr);

    put32(b, magic);
    b[4] = 0;
    b[5] = 2; /* protocol version */
    b[6] = (uint8_t)(n >> 8);
    b[7] = (uint8_t)n;
    memcpy(b + 8, addr, n);
    return frame(out, 1, b, 8u + n);
}

/* Read until EOF or error; 1 if the peer closed within ms. */
static int
raw_wait_closed(int fd, int ms)
{
    int64_t deadline = cf_mono_ns() + (int64_t)ms * 1000000;
    uint8_t buf[65536];

    while (cf_mono_ns() < deadline) {
        struct pollfd pfd = {fd, POLLIN, 0};
        ssize_t n;
        if (poll(&pfd, 1, 50) <= 0)
            continue;
        n = recv(fd, buf, sizeof buf, 0);
        if (n <= 0)
            return 1;
    }
    return 0;
}

/* Read exactly n bytes within 2 s. */
static int
raw_read(int fd, uint8_t *p, size_t n)
{
    int64_t deadline = cf_mono_ns() + 2000000000LL;
    size_t have = 0;

    while (have < n && cf_mono_ns() < deadline) {
        struct pollfd pfd = {fd, POLLIN, 0};
        ssize_t r;
        if (poll(&pfd, 1, 50) <= 0)
            continue;
        r = recv(fd, p + have, n - have, 0);
        if (r <= 0)
            return -1;
        have += (size_t)r;
    }
    return have == n ? 0 : -1;
}

/* A hand-written consumer: its request is served with the credit it
 * grants; when it vanishes, the producer is not blocked. */
static void
test_raw_consumer_vanishes(void **state)
{
    tm_t a;
    prod_t p;
    waiter_t w;
    uint8_t out[256], req[32], in[64];
    size_t n;
    int fd, credits = 3, got = 0;

    (void)state;
    tm_start(&a, 32);
    waiter_init(&w);
    prod_init(&p, &a, 1, 9, 4, 200000);
    prod_publish(&p);
    prod_start(&p);

    fd = raw_connect(a.port);
    n = hello(out, "10.0.0.1:1", 0x43464e4du);
    memcpy(req, p.pid.attempt.b, 16);
    put32(req + 16, (uint32_t)p.pid.output);
    /* First a subpartition that does not exist (receiver id 1)... */
    put32(req + 20, 7);
    put32(req + 24, 1);
    put32(req + 28, (uint32_t)credits);
    n += frame(out + n, 2, req, sizeof req);
    /* ... then subpartition 0 (receiver id 2). */
    put32(req + 20, 0);
    put32(req + 24, 2);
    n += frame(out + n, 2, req, sizeof req);
    raw_send(fd, out, n);

    /* The producer's hello, an error for receiver 1, then exactly
     * `credits` data buffers for receiver 2. */
    assert_int_equal(raw_read(fd, in, 5), 0);
    assert_int_equal(in[4], 1);
    {
        uint8_t skip[512];
        uint32_t len = get32(in) - 1;
        assert_true(len < sizeof skip);
        assert_int_equal(raw_read(fd, skip, len), 0);
        assert_int_equal(raw_read(fd, in, 5), 0);
        assert_int_equal(in[4], 6); /* ERROR */
        len = get32(in) - 1;
        assert_true(len > 4 && len < sizeof skip - 1);
        assert_int_equal(raw_read(fd, skip, len), 0);
        assert_int_equal(get32(skip), 1);
        skip[len] = '\0';
        assert_non_null(strstr((char *)skip + 4, "Subpartition 7 of "
                                                 "partition"));
        assert_non_null(strstr((char *)skip + 4, "does not exist"));
    }
    while (got < credits) {
        uint8_t payload[SEG];
        uint32_t len;
        assert_int_equal(raw_read(fd, in, 17), 0);
        assert_int_equal(in[4], 3);         /* BUFFER */
        assert_int_equal(get32(in + 5), 2); /* our receiver id */
        assert_int_equal(in[9] << 8 | in[10], CF_NET_DATA);
        /* The backlog: at most the rest of the producer's pool. */
        assert_true(get32(in + 13) < 9);
        len = get32(in) - 13;
        assert_true(len > 0 && len <= SEG);
        assert_int_equal(raw_read(fd, payload, len), 0);
        got++;
    }
    /* No credit left: nothing more comes. */
    {
        struct pollfd pfd = {fd, POLLIN, 0};
        assert_int_equal(poll(&pfd, 1, 200), 0);
    }
    assert_false(atomic_load(&p.finished));
    close(fd);
    /* The peer is gone: the producer runs to the end. */
    pthread_join(p.th, NULL);
    assert_int_equal(p.rc, 0);
    assert_int_equal(atomic_load(&p.written), 200000);
    cf_netmgr_release_partition(a.nm, &p.pid, 0, done_cb, &w);
    assert_true(waiter_wait(&w, 1, 5000));
    cf_net_partition_deinit(&p.part);
    cf_net_pool_release(p.pool);
    cf_signal_deinit(&p.sig);
    tm_stop(&a);
}

static void
test_bad_input_closes_connection(void **state)
{
    tm_t a;
    uint8_t out[256], body[16];
    size_t n;
    int fd;
    cf_netmgr_stats_t s;
    int64_t deadline;

    (void)state;
    tm_start(&a, 8);

    /* A frame before the hello. */
    fd = raw_connect(a.port);
    n = frame(out, 4, "\0\0\0\1\0\0\0\1", 8);
    raw_send(fd, out, n);
    assert_true(raw_wait_closed(fd, 2000));
    close(fd);

    /* Not our magic. */
    fd = raw_connect(a.port);
    raw_send(fd, out, hello(out, "x:1", 0x48545450u));
    assert_true(raw_wait_closed(fd, 2000));
    close(fd);

    /* A bad frame type, split over two sends. */
    fd = raw_connect(a.port);
    n = hello(out, "x:1", 0x43464e4du);
    n += frame(out + n, 99, "abc", 3);
    raw_send(fd, out, n - 4);
    cf_sleep_ms(20);
    raw_send(fd, out + n - 4, 4);
    assert_true(raw_wait_closed(fd, 2000));
    close(fd);

    /* A buffer longer than a segment. */
    fd = raw_connect(a.port);
    n = hello(out, "x:1", 0x43464e4du);
    put32(out + n, 1 + 12 + SEG + 1);
    out[n + 4] = 3;
    n += 5;
    raw_send(fd, out, n);
    assert_true(raw_wait_closed(fd, 2000));
    close(fd);

    /* A buffer for a receiver id never assigned. */
    fd = raw_connect(a.port);
    n = hello(out, "x:1", 0x43464e4du);
    memset(body, 0, sizeof body);
    put32(body, 77);
    n += frame(out + n, 3, body, 12); /* rid, kind, event, backlog */
    raw_send(fd, out, n);
    assert_true(raw_wait_closed(fd, 2000));
    close(fd);

    /* Credit for a receiver id never requested. */
    fd = raw_connect(a.port);
    n = hello(out, "x:1", 0x43464e4du);
    put32(body, 5);
    put32(body + 4, 1);
    n += frame(out + n, 4, body, 8);
    raw_send(fd, out, n);
    assert_true(raw_wait_closed(fd, 2000));
    close(fd);

    /* The manager is fine: every connection is gone. */
    deadline = cf_mono_ns() + 2000000000LL;
    do {
        cf_netmgr_stats(a.nm, &s);
        if (s.connections == 0)
            break;
        cf_sleep_ms(10);
    } while (cf_mono_ns() < deadline);
    assert_int_equal(s.connections, 0);
    tm_stop(&a);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_remote_million),
        cmocka_unit_test(test_all_to_all_shared_connection),
        cmocka_unit_test(test_remote_subscribe_first),
        cmocka_unit_test(test_remote_publish_first),
        cmocka_unit_test(test_local_subscribe_first),
        cmocka_unit_test(test_local_publish_first),
        cmocka_unit_test(test_release_waits_for_local_producer),
        cmocka_unit_test(test_backpressure_bounded),
        cmocka_unit_test(test_floating_buffers),
        cmocka_unit_test(test_floating_budget_too_small),
        cmocka_unit_test(test_producer_lost),
        cmocka_unit_test(test_connect_refused),
        cmocka_unit_test(test_consumer_cancels),
        cmocka_unit_test(test_raw_consumer_vanishes),
        cmocka_unit_test(test_bad_input_closes_connection),
    };

    signal(SIGPIPE, SIG_IGN);
    cf_log_set_level(CF_LOGL_WARN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
