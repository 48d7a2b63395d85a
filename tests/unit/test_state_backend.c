/*
 * test_state_backend.c: the heap keyed state backend as a whole:
 * registration (same handle, kind mismatch), the handle's api pointer,
 * key groups, walks over entries (table order and by key group), walks
 * over states, key groups outside the backend's range, and bytes held.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* Before cmocka.h, whose fail() macro would clash with cflink.h. */
#include "state.h"

#include <cmocka.h>

#define MAXP 128

static cf_host_api_t api = {.size = sizeof(cf_host_api_t)};

static void
set_key_n(cf_kstate_backend_t *b, char *buf, size_t size, int i)
{
    int n = snprintf(buf, size, "key-%d", i);
    cf_kstate_set_key(b, buf, (uint32_t)n, cf_murmur3_32(buf, (size_t)n, 0));
}

static int
sum_fn(cf_ctx_t *ctx, cf_buf_t *acc, const cf_record_t *in)
{
    int64_t a, x;
    memcpy(&a, acc->data, sizeof a);
    memcpy(&x, in->data, sizeof x);
    a += x;
    memcpy(acc->data, &a, sizeof a);
    return CF_OK;
}

static void
test_register(void **unused)
{
    cf_kstate_backend_t *b = cf_kstate_backend_new(&api, MAXP, 0, MAXP - 1);
    cf_error_t *err = NULL;
    cf_state_t *v, *v2, *l, *x;

    v = cf_kstate_register(b, "count", CF_STATE_VALUE, NULL, NULL, &err);
    assert_non_null(v);
    assert_null(err);
    /* The handle begins with the host table (the plugin ABI needs it). */
    assert_ptr_equal(*(const cf_host_api_t *const *)v, &api);
    assert_string_equal(cf_kstate_name(v), "count");
    assert_int_equal(cf_kstate_kind(v), CF_STATE_VALUE);

    v2 = cf_kstate_register(b, "count", CF_STATE_VALUE, NULL, NULL, &err);
    assert_ptr_equal(v, v2);
    assert_null(err);

    l = cf_kstate_register(b, "count", CF_STATE_LIST, NULL, NULL, &err);
    assert_null(l);
    assert_non_null(err);
    assert_int_equal(err->code, CF_ESTATE);
    assert_string_equal(cf_error_msg(err),
                        "State 'count' was registered as ValueState and "
                        "cannot be re-registered as ListState");
    cf_error_free(err);
    err = NULL;

    l = cf_kstate_register(b, "items", CF_STATE_LIST, NULL, NULL, &err);
    assert_non_null(l);
    assert_ptr_not_equal(l, v);
    x = cf_kstate_register(b, "items", CF_STATE_MAP, NULL, NULL, &err);
    assert_null(x);
    assert_string_equal(cf_error_msg(err),
                        "State 'items' was registered as ListState and "
                        "cannot be re-registered as MapState");
    cf_error_free(err);
    err = NULL;

    x = cf_kstate_register(b, "r", CF_STATE_REDUCING, sum_fn, NULL, &err);
    assert_non_null(x);
    assert_ptr_equal(
        cf_kstate_register(b, "r", CF_STATE_REDUCING, sum_fn, NULL, &err), x);
    assert_null(cf_kstate_register(b, "r", CF_STATE_VALUE, NULL, NULL, &err));
    assert_string_equal(cf_error_msg(err),
                        "State 'r' was registered as ReducingState and "
                        "cannot be re-registered as ValueState");
    cf_error_free(err);
    err = NULL;

    /* A reducing state needs its function; a state needs a name. */
    assert_null(
        cf_kstate_register(b, "r2", CF_STATE_REDUCING, NULL, NULL, &err));
    assert_int_equal(err->code, CF_EINVAL);
    assert_non_null(strstr(cf_error_msg(err), "'r2'"));
    cf_error_free(err);
    err = NULL;
    assert_null(cf_kstate_register(b, "", CF_STATE_VALUE, NULL, NULL, &err));
    assert_int_equal(err->code, CF_EINVAL);
    cf_error_free(err);
    err = NULL;
    /* errp may be NULL. */
    assert_null(cf_kstate_register(b, "count", CF_STATE_MAP, NULL, NULL,
                                   NULL));

    assert_string_equal(cf_state_kind_name(CF_STATE_VALUE), "ValueState");
    assert_string_equal(cf_state_kind_name(CF_STATE_LIST), "ListState");
    assert_string_equal(cf_state_kind_name(CF_STATE_MAP), "MapState");
    assert_string_equal(cf_state_kind_name(CF_STATE_REDUCING),
                        "ReducingState");
    cf_kstate_backend_destroy(b);
    cf_kstate_backend_destroy(NULL);
}

/* ------------------------------------------------------------------ */
/* Key groups and walks                                                */
/* ------------------------------------------------------------------ */

typedef struct walk_s {
    int max_parallelism;
    int n;
    int last_kg;
    int sorted; /* expect ascending key groups */
    uint64_t sum;
    int *kg_count;
    int stop_after;
} walk_t;

static int
walk_cb(void *ud, const cf_kstate_entry_view_t *ev)
{
    walk_t *w = ud;
    char tmp[32];
    uint64_t v;

    assert_int_equal(ev->hash, cf_murmur3_32(ev->key.data, ev->key.len, 0));
    assert_int_equal(ev->key_group,
                     (int)(ev->hash % (uint32_t)w->max_parallelism));
    if (w->sorted)
        assert_true(ev->key_group >= w->last_kg);
    w->last_kg = ev->key_group;
    w->kg_count[ev->key_group]++;
    assert_true(ev->key.len < sizeof tmp);
    memcpy(tmp, ev->key.data, ev->key.len);
    tmp[ev->key.len] = '\0';
    assert_int_equal(strncmp(tmp, "key-", 4), 0);
    assert_int_equal(ev->kind, CF_STATE_VALUE);
    assert_int_equal(ev->value.len, sizeof v);
    memcpy(&v, ev->value.data, sizeof v);
    assert_int_equal(v, (uint64_t)atoi(tmp + 4));
    w->sum += v;
    w->n++;
    if (w->stop_after > 0 && w->n == w->stop_after)
        return -42;
    return 0;
}

static void
test_key_groups_and_foreach(void **unused)
{
    /* Key groups 32..63 of 128: parallelism 4, index 1. */
    cf_kstate_backend_t *b = cf_kstate_backend_new(&api, MAXP, 32, 63);
    cf_state_t *st =
        cf_kstate_register(b, "v", CF_STATE_VALUE, NULL, NULL, NULL);
    int expect[MAXP] = {0}, got[MAXP] = {0};
    walk_t w = {.max_parallelism = MAXP, .kg_count = got};
    char kb[32];
    int n = 0;
    uint64_t sum = 0;

    assert_int_equal(cf_kstate_backend_max_parallelism(b), MAXP);
    for (int i = 0; n < 20000; i++) {
        int len = snprintf(kb, sizeof kb, "key-%d", i);
        uint32_t h = cf_murmur3_32(kb, (size_t)len, 0);
        int kg = (int)(h % MAXP);
        if (kg < 32 || kg > 63)
            continue; /* routed to another subtask */
        cf_kstate_set_key(b, kb, (uint32_t)len, h);
        assert_int_equal(cf_kstate_current_key_group(b), kg);
        uint64_t v = (uint64_t)i;
        assert_int_equal(cf_kstate_value_put(st, &v, sizeof v), CF_OK);
        expect[kg]++;
        sum += v;
        n++;
    }
    assert_int_equal(cf_kstate_size(st), 20000);

    assert_int_equal(cf_kstate_foreach(st, walk_cb, &w), CF_OK);
    assert_int_equal(w.n, 20000);
    assert_int_equal(w.sum, sum);
    assert_memory_equal(got, expect, sizeof got);

    memset(got, 0, sizeof got);
    memset(&w, 0, sizeof w);
    w.max_parallelism = MAXP;
    w.kg_count = got;
    w.sorted = 1;
    assert_int_equal(cf_kstate_foreach_by_key_group(st, walk_cb, &w), CF_OK);
    assert_int_equal(w.n, 20000);
    assert_int_equal(w.sum, sum);
    assert_memory_equal(got, expect, sizeof got);
    for (int g = 0; g < MAXP; g++)
        assert_true((g >= 32 && g <= 63) || expect[g] == 0);

    /* A callback stops a walk with a negative code. */
    memset(&w, 0, sizeof w);
    w.max_parallelism = MAXP;
    w.kg_count = got;
    w.stop_after = 10;
    assert_int_equal(cf_kstate_foreach(st, walk_cb, &w), -42);
    assert_int_equal(w.n, 10);
    w.n = 0;
    assert_int_equal(cf_kstate_foreach_by_key_group(st, walk_cb, &w), -42);
    assert_int_equal(w.n, 10);
    cf_kstate_backend_destroy(b);
}

static void
test_key_groups_not_pow2(void **unused)
{
    /* max parallelism 100 (not a power of two), all key groups. */
    cf_kstate_backend_t *b = cf_kstate_backend_new(&api, 100, 0, 99);
    cf_state_t *st =
        cf_kstate_register(b, "v", CF_STATE_VALUE, NULL, NULL, NULL);
    int got[MAXP] = {0};
    walk_t w = {.max_parallelism = 100, .kg_count = got, .sorted = 1};
    char kb[32];

    for (int i = 0; i < 3000; i++) {
        uint64_t v = (uint64_t)i;
        set_key_n(b, kb, sizeof kb, i);
        assert_int_equal(cf_kstate_current_key_group(b),
                         (int)(cf_murmur3_32(kb, strlen(kb), 0) % 100));
        assert_int_equal(cf_kstate_value_put(st, &v, sizeof v), CF_OK);
    }
    assert_int_equal(cf_kstate_foreach_by_key_group(st, walk_cb, &w), CF_OK);
    assert_int_equal(w.n, 3000);
    for (int g = 0; g < 100; g++)
        assert_true(got[g] > 0);
    cf_kstate_backend_destroy(b);

    /* Max parallelism 1: one key group. */
    b = cf_kstate_backend_new(&api, 1, 0, 0);
    st = cf_kstate_register(b, "v", CF_STATE_VALUE, NULL, NULL, NULL);
    set_key_n(b, kb, sizeof kb, 7);
    assert_int_equal(cf_kstate_current_key_group(b), 0);
    assert_int_equal(cf_kstate_value_put(st, "x", 1), CF_OK);
    cf_kstate_backend_destroy(b);
}

static int log_fd = -1;

static void
test_key_group_out_of_range(void **unused)
{
    cf_kstate_backend_t *b = cf_kstate_backend_new(&api, MAXP, 0, 9);
    cf_state_t *st =
        cf_kstate_register(b, "v", CF_STATE_VALUE, NULL, NULL, NULL);
    char kb[32];
    cf_slice_t out;
    char logbuf[4096] = "";
    int i = 0, len;
    uint32_t h;

    do {
        len = snprintf(kb, sizeof kb, "key-%d", i++);
        h = cf_murmur3_32(kb, (size_t)len, 0);
    } while (h % MAXP <= 9);
    cf_kstate_set_key(b, kb, (uint32_t)len, h);
    log_fd = memfd_create("log", 0);
    cf_log_set_fd(log_fd);
    assert_int_equal(cf_kstate_value_put(st, "x", 1), CF_ESTATE);
    cf_log_set_fd(2);
    assert_true(pread(log_fd, logbuf, sizeof logbuf - 1, 0) > 0);
    close(log_fd);
    assert_non_null(strstr(logbuf, "Keyed state 'v'"));
    assert_non_null(strstr(logbuf, "outside this backend's key groups "
                                   "[0, 9]"));
    assert_int_equal(cf_kstate_current_key_group(b), (int)(h % MAXP));
    /* The key is still reported (the runtime may name it in an error). */
    assert_int_equal(cf_kstate_current_key(b, &out), CF_OK);
    assert_int_equal(out.len, len);
    assert_int_equal(cf_kstate_size(st), 0);
    cf_kstate_backend_destroy(b);
}

typedef struct map_walk_s {
    int keys;
    int entries;
} map_walk_t;

static int
map_walk_cb(void *ud, const cf_kstate_entry_view_t *ev)
{
    map_walk_t *w = ud;
    cf_map_iter_t it;
    cf_slice_t k, v;

    assert_int_equal(ev->kind, CF_STATE_MAP);
    assert_int_equal(ev->value.len, 0);
    assert_int_equal(cf_kstate_view_map_iter(ev, &it), CF_OK);
    while (cf_kstate_map_next(&it, &k, &v)) {
        assert_int_equal(k.len, 1);
        assert_int_equal(v.len, ev->key.len);
        assert_memory_equal(v.data, ev->key.data, v.len);
        w->entries++;
    }
    w->keys++;
    return 0;
}

typedef struct raw_walk_s {
    int n;
    uint32_t bytes;
} raw_walk_t;

static int
raw_walk_cb(void *ud, const cf_kstate_entry_view_t *ev)
{
    raw_walk_t *w = ud;
    cf_map_iter_t it;

    /* Not a map: no user map to walk. */
    assert_int_equal(cf_kstate_view_map_iter(ev, &it), CF_EINVAL);
    w->n++;
    w->bytes += ev->value.len;
    return 0;
}

static int
state_cb(void *ud, cf_state_t *st)
{
    cf_sbuf_t *names = ud;
    cf_sbuf_printf(names, "%s:%s,", cf_kstate_name(st),
                   cf_state_kind_name(cf_kstate_kind(st)));
    return 0;
}

static int
state_stop_cb(void *ud, cf_state_t *st)
{
    (*(int *)ud)++;
    return -5;
}

/* 100 keys in a value, a list, a map and a reducing state. */
static void
fill(cf_kstate_backend_t *b, cf_state_t *v, cf_state_t *l, cf_state_t *m,
     cf_state_t *r)
{
    char kb[32];

    for (int i = 0; i < 100; i++) {
        int64_t x = i;
        set_key_n(b, kb, sizeof kb, i);
        uint32_t klen = (uint32_t)strlen(kb);
        assert_int_equal(cf_kstate_value_put(v, &x, sizeof x), CF_OK);
        assert_int_equal(cf_kstate_list_add(l, "ab", 2), CF_OK);
        assert_int_equal(cf_kstate_list_add(l, "c", 1), CF_OK);
        for (char c = 'a'; c < 'a' + 3; c++)
            assert_int_equal(cf_kstate_map_put(m, &c, 1, kb, klen), CF_OK);
        assert_int_equal(cf_kstate_reducing_add(r, &x, sizeof x, 0), CF_OK);
        assert_int_equal(cf_kstate_reducing_add(r, &x, sizeof x, 0), CF_OK);
    }
}

static void
test_walk_kinds(void **unused)
{
    cf_kstate_backend_t *b = cf_kstate_backend_new(&api, MAXP, 0, MAXP - 1);
    cf_state_t *v = cf_kstate_register(b, "v", CF_STATE_VALUE, NULL, NULL,
                                       NULL);
    cf_state_t *l = cf_kstate_register(b, "l", CF_STATE_LIST, NULL, NULL,
                                       NULL);
    cf_state_t *m = cf_kstate_register(b, "m", CF_STATE_MAP, NULL, NULL,
                                       NULL);
    cf_state_t *r = cf_kstate_register(b, "r", CF_STATE_REDUCING, sum_fn,
                                       NULL, NULL);
    map_walk_t mw = {0};
    raw_walk_t rw = {0};
    cf_sbuf_t names = {0};
    char kb[32];
    uint64_t bytes0 = cf_kstate_backend_bytes(b), bytes1;
    int calls = 0;

    fill(b, v, l, m, r);
    bytes1 = cf_kstate_backend_bytes(b);
    assert_true(bytes1 > bytes0 + 100 * (8 + 11 + 3 * 16 + 8));

    assert_int_equal(cf_kstate_foreach(m, map_walk_cb, &mw), CF_OK);
    assert_int_equal(mw.keys, 100);
    assert_int_equal(mw.entries, 300);
    memset(&mw, 0, sizeof mw);
    assert_int_equal(cf_kstate_foreach_by_key_group(m, map_walk_cb, &mw),
                     CF_OK);
    assert_int_equal(mw.entries, 300);
    /* The raw list block is [u32 len][bytes] items: 4+2 + 4+1. */
    assert_int_equal(cf_kstate_foreach(l, raw_walk_cb, &rw), CF_OK);
    assert_int_equal(rw.n, 100);
    assert_int_equal(rw.bytes, 100 * 11);
    memset(&rw, 0, sizeof rw);
    assert_int_equal(cf_kstate_foreach(r, raw_walk_cb, &rw), CF_OK);
    assert_int_equal(rw.bytes, 100 * 8);

    assert_int_equal(cf_kstate_backend_foreach_state(b, state_cb, &names),
                     CF_OK);
    assert_string_equal(names.s, "v:ValueState,l:ListState,m:MapState,"
                                 "r:ReducingState,");
    cf_sbuf_deinit(&names);
    assert_int_equal(cf_kstate_backend_foreach_state(b, state_stop_cb,
                                                     &calls),
                     -5);
    assert_int_equal(calls, 1);

    /* Clearing every key of every state returns the bytes of the entries
     * (tables keep their size): a second fill and clear ends equal. */
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 100; i++) {
            set_key_n(b, kb, sizeof kb, i);
            assert_int_equal(cf_kstate_clear(v), CF_OK);
            assert_int_equal(cf_kstate_clear(l), CF_OK);
            assert_int_equal(cf_kstate_clear(m), CF_OK);
            assert_int_equal(cf_kstate_clear(r), CF_OK);
        }
        assert_int_equal(cf_kstate_size(v) + cf_kstate_size(l) +
                             cf_kstate_size(m) + cf_kstate_size(r),
                         0);
        if (round == 0) {
            bytes0 = cf_kstate_backend_bytes(b);
            assert_true(bytes0 < bytes1);
        } else {
            assert_int_equal(cf_kstate_backend_bytes(b), bytes0);
            break;
        }
        fill(b, v, l, m, r);
        assert_int_equal(cf_kstate_backend_bytes(b), bytes1);
    }
    /* An empty state walks nothing. */
    assert_int_equal(cf_kstate_foreach_by_key_group(l, raw_walk_cb, &rw),
                     CF_OK);
    cf_kstate_backend_destroy(b);
}

static void
test_get_put_same_key_probes_once(void **unused)
{
    /* Not timed: checks that the cache survives a get, an insert with
     * table growth, and a clear, across several states. */
    cf_kstate_backend_t *b = cf_kstate_backend_new(&api, MAXP, 0, MAXP - 1);
    cf_state_t *a = cf_kstate_register(b, "a", CF_STATE_VALUE, NULL, NULL,
                                       NULL);
    cf_state_t *c = cf_kstate_register(b, "c", CF_STATE_VALUE, NULL, NULL,
                                       NULL);
    char kb[32];
    cf_slice_t out;

    for (int i = 0; i < 1000; i++) {
        set_key_n(b, kb, sizeof kb, i);
        assert_int_equal(cf_kstate_value_get(a, &out), 0);
        assert_int_equal(cf_kstate_value_put(a, &i, sizeof i), CF_OK);
        assert_int_equal(cf_kstate_value_get(c, &out), 0);
        assert_int_equal(cf_kstate_value_get(a, &out), 1);
        assert_int_equal(*(const int *)out.data, i);
        if (i % 10 == 0) {
            assert_int_equal(cf_kstate_clear(a), CF_OK);
            assert_int_equal(cf_kstate_value_get(a, &out), 0);
            assert_int_equal(cf_kstate_value_put(a, &i, sizeof i), CF_OK);
        }
    }
    /* One probe per key and state, whatever follows on the same key. */
    {
        uint64_t p0 = cf_kstate_probe_count(a);
        set_key_n(b, kb, sizeof kb, 5000);
        assert_int_equal(cf_kstate_value_get(a, &out), 0);
        assert_int_equal(cf_kstate_probe_count(a), p0 + 1);
        assert_int_equal(cf_kstate_value_put(a, "abcd", 4), CF_OK);
        assert_int_equal(cf_kstate_value_get(a, &out), 1);
        assert_non_null(cf_kstate_value_update(a, 16, NULL));
        assert_int_equal(cf_kstate_value_put(a, "abcd", 4), CF_OK);
        assert_int_equal(cf_kstate_probe_count(a), p0 + 1);
        /* A clear forgets the slot (the run may have shifted). */
        assert_int_equal(cf_kstate_clear(a), CF_OK);
        assert_int_equal(cf_kstate_value_get(a, &out), 0);
        assert_int_equal(cf_kstate_probe_count(a), p0 + 2);
        /* An insert that grows the table keeps the new slot cached. */
        for (int i = 0; i < 5000; i++) {
            set_key_n(b, kb, sizeof kb, 10000 + i);
            assert_int_equal(cf_kstate_value_get(a, &out), 0);
            assert_int_equal(cf_kstate_value_put(a, &i, sizeof i), CF_OK);
            assert_int_equal(cf_kstate_value_get(a, &out), 1);
            assert_int_equal(*(const int *)out.data, i);
        }
        assert_int_equal(cf_kstate_probe_count(a), p0 + 2 + 5000);
    }
    /* Same bytes, set again: still found. */
    for (int i = 0; i < 1000; i++) {
        set_key_n(b, kb, sizeof kb, i);
        set_key_n(b, kb, sizeof kb, i);
        assert_int_equal(cf_kstate_value_get(a, &out), 1);
        assert_int_equal(*(const int *)out.data, i);
    }
    cf_kstate_backend_destroy(b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_register),
        cmocka_unit_test(test_key_groups_and_foreach),
        cmocka_unit_test(test_key_groups_not_pow2),
        cmocka_unit_test(test_key_group_out_of_range),
        cmocka_unit_test(test_walk_kinds),
        cmocka_unit_test(test_get_put_same_key_probes_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
