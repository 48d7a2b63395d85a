/*
 * test_state_ttl.c: state TTL (Flink's StateTtlConfig, NeverReturnExpired,
 * processing time) with a fake clock: OnCreateAndWrite and
 * OnReadAndWrite for value, list, map, reducing and aggregating state;
 * expired entries are never returned and are dropped; snapshots leave
 * them out and carry the deadlines; restore with deadlines; TTL on a
 * restored state; bad arguments.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Before cmocka.h, whose fail() macro would clash with cflink.h. */
#include "state.h"

#include <cmocka.h>

#define MAXP 128

static cf_host_api_t api = {.size = sizeof(cf_host_api_t)};
static int64_t clock_now;

static int64_t
fake_now(void)
{
    return clock_now;
}

static char keybuf[32];

static void
set_key_n(cf_kstate_backend_t *b, int i)
{
    int n = snprintf(keybuf, sizeof keybuf, "key-%d", i);
    cf_kstate_set_key(b, keybuf, (uint32_t)n,
                      cf_murmur3_32(keybuf, (size_t)n, 0));
}

static cf_kstate_backend_t *
new_backend(void)
{
    cf_kstate_backend_t *b = cf_kstate_backend_new(&api, MAXP, 0, MAXP - 1);
    cf_kstate_backend_set_clock(b, fake_now);
    clock_now = 1000;
    return b;
}

static cf_state_t *
reg(cf_kstate_backend_t *b, const char *name, cf_state_kind_t kind,
    int64_t ttl, int type)
{
    cf_state_t *st = cf_kstate_register(b, name, kind, NULL, NULL, NULL);
    assert_non_null(st);
    assert_int_equal(cf_kstate_set_ttl(st, ttl, type), CF_OK);
    return st;
}

static void
put_i64(cf_state_t *st, int64_t x)
{
    assert_int_equal(cf_kstate_value_put(st, &x, sizeof x), CF_OK);
}

/* -1 when absent */
static int64_t
get_i64(cf_state_t *st)
{
    cf_slice_t v;
    int64_t x;
    int rc = cf_kstate_value_get(st, &v);
    assert_true(rc >= 0);
    if (rc == 0)
        return -1;
    memcpy(&x, v.data, 8);
    return x;
}

static int
sum_fn(cf_ctx_t *ctx, cf_buf_t *acc, const cf_record_t *in)
{
    int64_t a, x;
    (void)ctx;
    memcpy(&a, acc->data, sizeof a);
    memcpy(&x, in->data, sizeof x);
    a += x;
    memcpy(acc->data, &a, sizeof a);
    return CF_OK;
}

static int
cnt_add(cf_ctx_t *ctx, cf_buf_t *acc, const cf_record_t *in)
{
    int64_t n = 0;
    (void)ctx;
    (void)in;
    if (acc->len == 0)
        cf_kstate_buf_reserve(acc, 8);
    else
        memcpy(&n, acc->data, 8);
    n++;
    memcpy(acc->data, &n, 8);
    acc->len = 8;
    return CF_OK;
}

static int
cnt_result(cf_ctx_t *ctx, const cf_slice_t *acc, cf_buf_t *out)
{
    (void)ctx;
    cf_kstate_buf_reserve(out, 8);
    memcpy(out->data, acc->data, 8);
    out->len = 8;
    return CF_OK;
}

static const cf_agg_ops_t cnt_ops = {
    .size = sizeof(cf_agg_ops_t), .add = cnt_add, .result = cnt_result};

/* ------------------------------------------------------------------ */

static void
test_value_create_and_write(void **unused)
{
    cf_kstate_backend_t *b = new_backend();
    cf_state_t *v = reg(b, "v", CF_STATE_VALUE, 100,
                        CF_TTL_ON_CREATE_AND_WRITE);
    int created;
    int64_t *p;
    (void)unused;

    set_key_n(b, 1);
    put_i64(v, 7);
    clock_now = 1050;
    assert_int_equal(get_i64(v), 7);
    clock_now = 1099;
    assert_int_equal(get_i64(v), 7); /* a read does not renew */
    clock_now = 1100;
    assert_int_equal(get_i64(v), -1); /* deadline 1100 <= now */
    assert_int_equal(cf_kstate_size(v), 0); /* dropped */

    /* A write renews. */
    put_i64(v, 8);
    clock_now = 1190;
    put_i64(v, 9);
    clock_now = 1289;
    assert_int_equal(get_i64(v), 9);
    /* value_update is a write, and an expired value is a fresh one. */
    p = cf_kstate_value_update(v, 8, &created);
    assert_int_equal(created, 0);
    (*p)++;
    clock_now = 1388;
    assert_int_equal(get_i64(v), 10);
    clock_now = 1389;
    p = cf_kstate_value_update(v, 8, &created);
    assert_int_equal(created, 1);
    assert_int_equal(*p, 0);

    /* Other keys expire independently; clear works on a TTL state. */
    set_key_n(b, 2);
    put_i64(v, 2);
    assert_int_equal(cf_kstate_clear(v), CF_OK);
    assert_int_equal(get_i64(v), -1);
    cf_kstate_backend_destroy(b);
}

static void
test_value_read_and_write(void **unused)
{
    cf_kstate_backend_t *b = new_backend();
    cf_state_t *v = reg(b, "v", CF_STATE_VALUE, 100,
                        CF_TTL_ON_READ_AND_WRITE);
    (void)unused;

    set_key_n(b, 1);
    put_i64(v, 7);
    clock_now = 1080;
    assert_int_equal(get_i64(v), 7); /* renews to 1180 */
    clock_now = 1170;
    assert_int_equal(get_i64(v), 7); /* renews to 1270 */
    clock_now = 1269;
    assert_int_equal(get_i64(v), 7);
    clock_now = 1369;
    assert_int_equal(get_i64(v), -1);
    cf_kstate_backend_destroy(b);
}

static int
list_count(cf_state_t *l)
{
    cf_list_iter_t it;
    cf_slice_t s;
    int n = 0;
    assert_int_equal(cf_kstate_list_iter(l, &it), CF_OK);
    while (cf_kstate_list_next(&it, &s))
        n++;
    return n;
}

static void
test_list_map(void **unused)
{
    cf_kstate_backend_t *b = new_backend();
    cf_state_t *l = reg(b, "l", CF_STATE_LIST, 100,
                        CF_TTL_ON_CREATE_AND_WRITE);
    cf_state_t *m = reg(b, "m", CF_STATE_MAP, 100, CF_TTL_ON_READ_AND_WRITE);
    cf_slice_t s;
    cf_map_iter_t mi;
    (void)unused;

    set_key_n(b, 1);
    assert_int_equal(cf_kstate_list_add(l, "a", 1), CF_OK);
    clock_now = 1050;
    assert_int_equal(cf_kstate_list_add(l, "b", 1), CF_OK); /* to 1150 */
    clock_now = 1149;
    assert_int_equal(list_count(l), 2);
    clock_now = 1150; /* the whole list expires at once */
    assert_int_equal(list_count(l), 0);
    assert_int_equal(cf_kstate_list_add(l, "c", 1), CF_OK);
    assert_int_equal(list_count(l), 1);

    clock_now = 2000;
    assert_int_equal(cf_kstate_map_put(m, "x", 1, "1", 1), CF_OK);
    assert_int_equal(cf_kstate_map_put(m, "y", 1, "2", 1), CF_OK);
    clock_now = 2099;
    assert_int_equal(cf_kstate_map_get(m, "x", 1, &s), 1); /* to 2199 */
    clock_now = 2198;
    assert_int_equal(cf_kstate_map_iter(m, &mi), CF_OK); /* to 2298 */
    assert_int_equal(cf_kstate_map_size(m), 2);
    clock_now = 2298;
    assert_int_equal(cf_kstate_map_get(m, "y", 1, &s), 0);
    assert_int_equal(cf_kstate_map_size(m), 0);
    assert_int_equal(cf_kstate_size(m), 0);
    assert_int_equal(cf_kstate_map_put(m, "z", 1, "3", 1), CF_OK);
    assert_int_equal(cf_kstate_map_get(m, "x", 1, &s), 0);
    assert_int_equal(cf_kstate_map_size(m), 1);
    /* a removal is a write */
    assert_int_equal(cf_kstate_map_put(m, "w", 1, "4", 1), CF_OK);
    clock_now = 2390;
    assert_int_equal(cf_kstate_map_remove(m, "w", 1), CF_OK);
    clock_now = 2489;
    assert_int_equal(cf_kstate_map_get(m, "z", 1, &s), 1);
    cf_kstate_backend_destroy(b);
}

static void
test_reducing_aggregating(void **unused)
{
    cf_kstate_backend_t *b = new_backend();
    cf_state_t *r = cf_kstate_register(b, "r", CF_STATE_REDUCING, sum_fn,
                                       NULL, NULL);
    cf_state_t *a = cf_kstate_register_agg(b, "a", &cnt_ops, NULL, NULL);
    cf_slice_t s;
    int64_t x;
    (void)unused;

    assert_int_equal(cf_kstate_set_ttl(r, 100, CF_TTL_ON_CREATE_AND_WRITE),
                     CF_OK);
    assert_int_equal(cf_kstate_set_ttl(a, 100, CF_TTL_ON_READ_AND_WRITE),
                     CF_OK);
    set_key_n(b, 3);
    x = 5;
    assert_int_equal(cf_kstate_reducing_add(r, &x, 8, 0), CF_OK);
    assert_int_equal(cf_kstate_aggregating_add(a, &x, 8, 0), CF_OK);
    clock_now = 1050;
    x = 7;
    assert_int_equal(cf_kstate_reducing_add(r, &x, 8, 0), CF_OK); /* 1150 */
    assert_int_equal(cf_kstate_aggregating_add(a, &x, 8, 0), CF_OK);
    clock_now = 1140;
    assert_int_equal(cf_kstate_aggregating_get(a, &s), 1); /* to 1240 */
    assert_int_equal(*(const int64_t *)s.data, 2);
    clock_now = 1149;
    assert_int_equal(cf_kstate_reducing_get(r, &s), 1);
    assert_int_equal(*(const int64_t *)s.data, 12);
    clock_now = 1150;
    assert_int_equal(cf_kstate_reducing_get(r, &s), 0);
    x = 1;
    assert_int_equal(cf_kstate_reducing_add(r, &x, 8, 0), CF_OK);
    assert_int_equal(cf_kstate_reducing_get(r, &s), 1);
    assert_int_equal(*(const int64_t *)s.data, 1); /* a fresh one */
    clock_now = 1239;
    assert_int_equal(cf_kstate_aggregating_get(a, &s), 1);
    clock_now = 1339;
    assert_int_equal(cf_kstate_aggregating_get(a, &s), 0);
    assert_int_equal(cf_kstate_aggregating_add(a, &x, 8, 0), CF_OK);
    assert_int_equal(cf_kstate_aggregating_get(a, &s), 1);
    assert_int_equal(*(const int64_t *)s.data, 1);
    cf_kstate_backend_destroy(b);
}

/* ------------------------------------------------------------------ */
/* Snapshots and restore                                               */
/* ------------------------------------------------------------------ */

typedef struct snapc_s {
    int n;
    int64_t ttl;
    int64_t exp[64];
    int seen[64];
    cf_kstate_backend_t *to;
    cf_state_t *cur;
} snapc_t;

static int
snap_state_cb(void *ud, const char *name, cf_state_kind_t kind,
              int64_t ttl_ms)
{
    snapc_t *c = ud;
    c->ttl = ttl_ms;
    if (c->to != NULL)
        c->cur = cf_kstate_restore_state(c->to, name, kind, NULL);
    return 0;
}

static int
snap_cb(void *ud, const cf_kstate_entry_view_t *ev)
{
    snapc_t *c = ud;
    int id = atoi((const char *)ev->key.data + 4);
    assert_true(id >= 0 && id < 64);
    c->seen[id] = 1;
    c->exp[id] = cf_kstate_view_expires(ev);
    c->n++;
    if (c->to != NULL)
        assert_int_equal(cf_kstate_restore_put(c->cur, ev->key.data,
                                               ev->key.len, ev->hash,
                                               ev->value.data, ev->value.len,
                                               cf_kstate_view_expires(ev)),
                         CF_OK);
    return 0;
}

static void
test_snapshot_restore(void **unused)
{
    cf_kstate_backend_t *b = new_backend();
    cf_kstate_backend_t *to = cf_kstate_backend_new(&api, MAXP, 0, MAXP - 1);
    cf_state_t *v = reg(b, "v", CF_STATE_VALUE, 100,
                        CF_TTL_ON_READ_AND_WRITE);
    cf_state_t *v2;
    cf_kstate_snapshot_t *s;
    snapc_t *c = calloc(1, sizeof *c);
    (void)unused;

    cf_kstate_backend_set_clock(to, fake_now);
    /* key i written at 1000 + 10 i: deadline 1100 + 10 i */
    for (int i = 0; i < 10; i++) {
        clock_now = 1000 + 10 * i;
        set_key_n(b, i);
        put_i64(v, i);
    }
    clock_now = 1150; /* keys 0..5 have expired (deadline <= 1150) */
    s = cf_kstate_snapshot_begin(b);
    /* A read after the begin renews key 9 live; the snapshot keeps the
     * deadline of its begin. */
    clock_now = 1160;
    set_key_n(b, 9);
    assert_int_equal(get_i64(v), 9);
    c->to = to;
    assert_int_equal(cf_kstate_snapshot_walk(s, snap_state_cb, snap_cb, c),
                     CF_OK);
    assert_int_equal(c->ttl, 100);
    assert_int_equal(c->n, 4);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(c->seen[i], i >= 6);
        if (i >= 6)
            assert_int_equal(c->exp[i], 1100 + 10 * i);
    }
    cf_kstate_snapshot_release(s);

    /* The restored backend: deadlines kept; TTL set at open. */
    v2 = cf_kstate_register(to, "v", CF_STATE_VALUE, NULL, NULL, NULL);
    assert_int_equal(cf_kstate_set_ttl(v2, 100, CF_TTL_ON_CREATE_AND_WRITE),
                     CF_OK);
    clock_now = 1175; /* key 7 expires (1170), key 8 not (1180) */
    set_key_n(to, 7);
    assert_int_equal(get_i64(v2), -1);
    set_key_n(to, 8);
    assert_int_equal(get_i64(v2), 8);
    /* Restoring an already expired entry skips it. */
    assert_int_equal(cf_kstate_restore_put(v2, "key-40", 6,
                                           cf_murmur3_32("key-40", 6, 0),
                                           "12345678", 8, 1100),
                     CF_OK);
    set_key_n(to, 40);
    assert_int_equal(get_i64(v2), -1);
    cf_kstate_backend_destroy(to);
    free(c);

    /* A state restored without deadlines gets them at set_ttl. */
    to = cf_kstate_backend_new(&api, MAXP, 0, MAXP - 1);
    cf_kstate_backend_set_clock(to, fake_now);
    v2 = cf_kstate_restore_state(to, "v", CF_STATE_VALUE, NULL);
    assert_int_equal(cf_kstate_restore_put(v2, "key-1", 5,
                                           cf_murmur3_32("key-1", 5, 0),
                                           "abcdefgh", 8, 0),
                     CF_OK);
    clock_now = 5000;
    assert_int_equal(cf_kstate_set_ttl(v2, 100, CF_TTL_ON_CREATE_AND_WRITE),
                     CF_OK);
    set_key_n(to, 1);
    clock_now = 5099;
    assert_int_equal(get_i64(v2) != -1, 1);
    clock_now = 5100;
    assert_int_equal(get_i64(v2), -1);
    cf_kstate_backend_destroy(to);
    cf_kstate_backend_destroy(b);
}

static void
test_bad_ttl(void **unused)
{
    cf_kstate_backend_t *b = new_backend();
    cf_state_t *v = cf_kstate_register(b, "v", CF_STATE_VALUE, NULL, NULL,
                                       NULL);
    (void)unused;

    assert_int_equal(cf_kstate_set_ttl(v, 0, CF_TTL_ON_CREATE_AND_WRITE),
                     CF_EINVAL);
    assert_int_equal(cf_kstate_set_ttl(v, 10, 7), CF_EINVAL);
    set_key_n(b, 1);
    put_i64(v, 1);
    /* Not once the state holds entries. */
    assert_int_equal(cf_kstate_set_ttl(v, 10, CF_TTL_ON_CREATE_AND_WRITE),
                     CF_EINVAL);
    assert_int_equal(get_i64(v), 1);
    cf_kstate_backend_destroy(b);

    /* The same TTL again (a second registration) is fine. */
    b = new_backend();
    v = reg(b, "v", CF_STATE_VALUE, 10, CF_TTL_ON_CREATE_AND_WRITE);
    set_key_n(b, 1);
    put_i64(v, 1);
    assert_int_equal(cf_kstate_set_ttl(v, 10, CF_TTL_ON_CREATE_AND_WRITE),
                     CF_OK);
    assert_int_equal(cf_kstate_set_ttl(v, 20, CF_TTL_ON_CREATE_AND_WRITE),
                     CF_EINVAL);
    cf_kstate_backend_destroy(b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_value_create_and_write),
        cmocka_unit_test(test_value_read_and_write),
        cmocka_unit_test(test_list_map),
        cmocka_unit_test(test_reducing_aggregating),
        cmocka_unit_test(test_snapshot_restore),
        cmocka_unit_test(test_bad_ttl),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
