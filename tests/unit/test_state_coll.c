/*
 * test_state_coll.c: ListState and MapState of the heap keyed state
 * backend: append order, iteration, clear, growth of lists and user maps,
 * removal, and many entries per key.
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

static cf_state_t *
reg(cf_kstate_backend_t *b, const char *name, cf_state_kind_t kind)
{
    cf_error_t *err = NULL;
    cf_state_t *st = cf_kstate_register(b, name, kind, NULL, NULL, &err);
    if (err != NULL)
        fail_msg("register %s: %s", name, cf_error_msg(err));
    assert_non_null(st);
    return st;
}

/* ------------------------------------------------------------------ */
/* ListState                                                           */
/* ------------------------------------------------------------------ */

static void
test_list_order(void **unused)
{
    cf_kstate_backend_t *b = cf_kstate_backend_new(&api, MAXP, 0, MAXP - 1);
    cf_state_t *st = reg(b, "events", CF_STATE_LIST);
    cf_list_iter_t it;
    cf_slice_t item;
    char kb[32], ib[64];
    int n;

    /* 200 keys, items appended round-robin so the lists interleave. */
    for (int j = 0; j < 50; j++) {
        for (int i = 0; i < 200; i++) {
            set_key_n(b, kb, sizeof kb, i);
            n = snprintf(ib, sizeof ib, "item-%d-%d", i, j);
            /* Items of many lengths, including empty ones. */
            if (j % 7 == 3)
                n = 0;
            assert_int_equal(cf_kstate_list_add(st, ib, (uint32_t)n), CF_OK);
        }
    }
    assert_int_equal(cf_kstate_size(st), 200);
    for (int i = 0; i < 200; i++) {
        int j = 0;
        set_key_n(b, kb, sizeof kb, i);
        assert_int_equal(cf_kstate_list_iter(st, &it), CF_OK);
        while (cf_kstate_list_next(&it, &item)) {
            n = snprintf(ib, sizeof ib, "item-%d-%d", i, j);
            if (j % 7 == 3)
                n = 0;
            assert_int_equal(item.len, n);
            assert_memory_equal(item.data, ib, (size_t)n);
            j++;
        }
        assert_int_equal(j, 50);
        /* Exhausted stays exhausted. */
        assert_int_equal(cf_kstate_list_next(&it, &item), 0);
    }

    /* Clear one key; others intact; then start a new list. */
    set_key_n(b, kb, sizeof kb, 17);
    assert_int_equal(cf_kstate_clear(st), CF_OK);
    assert_int_equal(cf_kstate_list_iter(st, &it), CF_OK);
    assert_int_equal(cf_kstate_list_next(&it, &item), 0);
    assert_int_equal(cf_kstate_size(st), 199);
    assert_int_equal(cf_kstate_list_add(st, "again", 5), CF_OK);
    assert_int_equal(cf_kstate_list_iter(st, &it), CF_OK);
    assert_int_equal(cf_kstate_list_next(&it, &item), 1);
    assert_int_equal(item.len, 5);
    assert_memory_equal(item.data, "again", 5);
    assert_int_equal(cf_kstate_list_next(&it, &item), 0);
    cf_kstate_backend_destroy(b);
}

static void
test_list_big(void **unused)
{
    cf_kstate_backend_t *b = cf_kstate_backend_new(&api, MAXP, 0, MAXP - 1);
    cf_state_t *st = reg(b, "big", CF_STATE_LIST);
    cf_list_iter_t it;
    cf_slice_t item;
    uint32_t count = 0;
    uint64_t sum = 0;

    cf_kstate_set_key(b, "k", 1, cf_murmur3_32("k", 1, 0));
    for (uint32_t i = 0; i < 100000; i++)
        assert_int_equal(cf_kstate_list_add(st, &i, sizeof i), CF_OK);
    assert_int_equal(cf_kstate_list_iter(st, &it), CF_OK);
    while (cf_kstate_list_next(&it, &item)) {
        uint32_t v;
        assert_int_equal(item.len, sizeof v);
        memcpy(&v, item.data, sizeof v);
        assert_int_equal(v, count);
        sum += v;
        count++;
    }
    assert_int_equal(count, 100000);
    assert_int_equal(sum, 100000ull * 99999 / 2);

    /* Appending an item of the list itself (the list grows under it). */
    assert_int_equal(cf_kstate_clear(st), CF_OK);
    assert_int_equal(cf_kstate_list_add(st, "abcdefgh", 8), CF_OK);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(cf_kstate_list_iter(st, &it), CF_OK);
        assert_int_equal(cf_kstate_list_next(&it, &item), 1);
        assert_int_equal(cf_kstate_list_add(st, item.data, item.len), CF_OK);
    }
    count = 0;
    assert_int_equal(cf_kstate_list_iter(st, &it), CF_OK);
    while (cf_kstate_list_next(&it, &item)) {
        assert_int_equal(item.len, 8);
        assert_memory_equal(item.data, "abcdefgh", 8);
        count++;
    }
    assert_int_equal(count, 11);
    cf_kstate_backend_destroy(b);
}

/* ------------------------------------------------------------------ */
/* MapState                                                            */
/* ------------------------------------------------------------------ */

static void
test_map_basic(void **unused)
{
    cf_kstate_backend_t *b = cf_kstate_backend_new(&api, MAXP, 0, MAXP - 1);
    cf_state_t *st = reg(b, "m", CF_STATE_MAP);
    cf_map_iter_t it;
    cf_slice_t k, v;

    cf_kstate_set_key(b, "user", 4, cf_murmur3_32("user", 4, 0));
    assert_int_equal(cf_kstate_map_size(st), 0);
    assert_int_equal(cf_kstate_map_get(st, "a", 1, &v), 0);
    assert_int_equal(cf_kstate_map_remove(st, "a", 1), CF_OK);
    assert_int_equal(cf_kstate_map_iter(st, &it), CF_OK);
    assert_int_equal(cf_kstate_map_next(&it, &k, &v), 0);

    assert_int_equal(cf_kstate_map_put(st, "a", 1, "1", 1), CF_OK);
    assert_int_equal(cf_kstate_map_put(st, "bb", 2, "22", 2), CF_OK);
    assert_int_equal(cf_kstate_map_put(st, "", 0, "empty", 5), CF_OK);
    assert_int_equal(cf_kstate_map_put(st, "nil", 3, NULL, 0), CF_OK);
    assert_int_equal(cf_kstate_map_size(st), 4);
    assert_int_equal(cf_kstate_size(st), 1);
    assert_int_equal(cf_kstate_map_get(st, "bb", 2, &v), 1);
    assert_int_equal(v.len, 2);
    assert_memory_equal(v.data, "22", 2);
    assert_int_equal(cf_kstate_map_get(st, "", 0, &v), 1);
    assert_memory_equal(v.data, "empty", 5);
    assert_int_equal(cf_kstate_map_get(st, "nil", 3, &v), 1);
    assert_int_equal(v.len, 0);
    assert_int_equal(cf_kstate_map_get(st, "b", 1, &v), 0);

    /* Overwrite smaller (in place) and larger (reallocated). */
    assert_int_equal(cf_kstate_map_put(st, "bb", 2, "x", 1), CF_OK);
    assert_int_equal(cf_kstate_map_get(st, "bb", 2, &v), 1);
    assert_int_equal(v.len, 1);
    assert_memory_equal(v.data, "x", 1);
    assert_int_equal(cf_kstate_map_put(st, "bb", 2, "a longer value", 14),
                     CF_OK);
    assert_int_equal(cf_kstate_map_get(st, "bb", 2, &v), 1);
    assert_int_equal(v.len, 14);
    assert_memory_equal(v.data, "a longer value", 14);
    /* Put a value that is a slice of the stored one. */
    assert_int_equal(cf_kstate_map_put(st, "a", 1, v.data, v.len), CF_OK);
    assert_int_equal(cf_kstate_map_get(st, "a", 1, &v), 1);
    assert_memory_equal(v.data, "a longer value", 14);

    /* Another key has its own map. */
    cf_kstate_set_key(b, "other", 5, cf_murmur3_32("other", 5, 0));
    assert_int_equal(cf_kstate_map_size(st), 0);
    assert_int_equal(cf_kstate_map_get(st, "a", 1, &v), 0);
    assert_int_equal(cf_kstate_map_put(st, "a", 1, "o", 1), CF_OK);
    assert_int_equal(cf_kstate_size(st), 2);

    /* Removing the last user key removes the key. */
    assert_int_equal(cf_kstate_map_remove(st, "a", 1), CF_OK);
    assert_int_equal(cf_kstate_map_size(st), 0);
    assert_int_equal(cf_kstate_size(st), 1);

    cf_kstate_set_key(b, "user", 4, cf_murmur3_32("user", 4, 0));
    assert_int_equal(cf_kstate_map_remove(st, "a", 1), CF_OK);
    assert_int_equal(cf_kstate_map_get(st, "a", 1, &v), 0);
    assert_int_equal(cf_kstate_map_size(st), 3);
    assert_int_equal(cf_kstate_clear(st), CF_OK);
    assert_int_equal(cf_kstate_map_size(st), 0);
    assert_int_equal(cf_kstate_size(st), 0);
    cf_kstate_backend_destroy(b);
}

static void
test_map_many_entries(void **unused)
{
    cf_kstate_backend_t *b = cf_kstate_backend_new(&api, MAXP, 0, MAXP - 1);
    cf_state_t *st = reg(b, "m", CF_STATE_MAP);
    enum { NK = 20, NE = 5000 };
    char kb[32], ub[32];
    cf_map_iter_t it;
    cf_slice_t k, v;
    uint8_t *seen = calloc(NE, 1);
    int n;

    for (int e = 0; e < NE; e++) {
        for (int i = 0; i < NK; i++) {
            set_key_n(b, kb, sizeof kb, i);
            n = snprintf(ub, sizeof ub, "u%d", e);
            int val = i * NE + e;
            assert_int_equal(
                cf_kstate_map_put(st, ub, (uint32_t)n, &val, sizeof val),
                CF_OK);
        }
    }
    for (int i = 0; i < NK; i++) {
        int count = 0;
        set_key_n(b, kb, sizeof kb, i);
        assert_int_equal(cf_kstate_map_size(st), NE);
        memset(seen, 0, NE);
        assert_int_equal(cf_kstate_map_iter(st, &it), CF_OK);
        while (cf_kstate_map_next(&it, &k, &v)) {
            char tmp[32];
            int e, val;
            assert_true(k.len > 1 && k.len < sizeof tmp);
            memcpy(tmp, k.data, k.len);
            tmp[k.len] = '\0';
            e = atoi(tmp + 1);
            assert_true(e >= 0 && e < NE);
            assert_int_equal(seen[e], 0);
            seen[e] = 1;
            assert_int_equal(v.len, sizeof val);
            memcpy(&val, v.data, sizeof val);
            assert_int_equal(val, i * NE + e);
            count++;
        }
        assert_int_equal(count, NE);
    }
    /* Remove the odd user keys of key 3, check the rest. */
    set_key_n(b, kb, sizeof kb, 3);
    for (int e = 1; e < NE; e += 2) {
        n = snprintf(ub, sizeof ub, "u%d", e);
        assert_int_equal(cf_kstate_map_remove(st, ub, (uint32_t)n), CF_OK);
    }
    assert_int_equal(cf_kstate_map_size(st), NE / 2);
    for (int e = 0; e < NE; e++) {
        n = snprintf(ub, sizeof ub, "u%d", e);
        assert_int_equal(cf_kstate_map_get(st, ub, (uint32_t)n, &v),
                         e % 2 == 0);
    }
    /* Iteration may skip NULL outputs. */
    n = 0;
    assert_int_equal(cf_kstate_map_iter(st, &it), CF_OK);
    while (cf_kstate_map_next(&it, NULL, NULL))
        n++;
    assert_int_equal(n, NE / 2);
    free(seen);
    cf_kstate_backend_destroy(b);
}

static void
test_kind_mismatch_access(void **unused)
{
    cf_kstate_backend_t *b = cf_kstate_backend_new(&api, MAXP, 0, MAXP - 1);
    cf_state_t *l = reg(b, "l", CF_STATE_LIST);
    cf_state_t *m = reg(b, "m", CF_STATE_MAP);
    cf_list_iter_t li;
    cf_map_iter_t mi;
    cf_slice_t s;
    static char logbuf[8192];
    int log_fd;

    cf_kstate_set_key(b, "k", 1, cf_murmur3_32("k", 1, 0));
    /* The errors are logged, naming the state: capture them. */
    log_fd = memfd_create("log", 0);
    assert_true(log_fd >= 0);
    cf_log_set_fd(log_fd);
    assert_int_equal(cf_kstate_value_put(l, "a", 1), CF_ESTATE);
    assert_int_equal(cf_kstate_value_get(m, &s), CF_ESTATE);
    assert_int_equal(cf_kstate_list_add(m, "a", 1), CF_ESTATE);
    assert_int_equal(cf_kstate_list_iter(m, &li), CF_ESTATE);
    assert_int_equal(cf_kstate_list_next(&li, &s), 0);
    assert_int_equal(cf_kstate_map_put(l, "a", 1, "b", 1), CF_ESTATE);
    assert_int_equal(cf_kstate_map_iter(l, &mi), CF_ESTATE);
    assert_int_equal(cf_kstate_map_next(&mi, &s, &s), 0);
    assert_int_equal(cf_kstate_map_size(l), 0);
    assert_int_equal(cf_kstate_reducing_get(l, &s), CF_ESTATE);
    cf_log_set_fd(2);
    memset(logbuf, 0, sizeof logbuf);
    assert_true(pread(log_fd, logbuf, sizeof logbuf - 1, 0) > 0);
    close(log_fd);
    assert_non_null(
        strstr(logbuf, "Keyed state 'l' is a ListState, not a ValueState"));
    assert_non_null(
        strstr(logbuf, "Keyed state 'm' is a MapState, not a ListState"));
    assert_non_null(strstr(logbuf, "Keyed state 'l' is a ListState, not a "
                                   "ReducingState"));
    assert_int_equal(cf_kstate_size(l), 0);
    assert_int_equal(cf_kstate_size(m), 0);
    cf_kstate_backend_destroy(b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list_order),
        cmocka_unit_test(test_list_big),
        cmocka_unit_test(test_map_basic),
        cmocka_unit_test(test_map_many_entries),
        cmocka_unit_test(test_kind_mismatch_access),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
