/*
 * test_state_kv.c: ValueState and ReducingState of the heap keyed state
 * backend: get/put/update/clear over many keys, table growth, in-place
 * updates, empty and long keys, reduce functions that grow their buffer
 * or fail, and access without a current key.
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
#define NKEYS 100000

static cf_host_api_t api = {.size = sizeof(cf_host_api_t)};

/* The key of number i, in buf; sets it as the current key. */
static void
set_key_n(cf_kstate_backend_t *b, char *buf, size_t size, int i)
{
    int n = snprintf(buf, size, "key-%d", i);
    cf_kstate_set_key(b, buf, (uint32_t)n, cf_murmur3_32(buf, (size_t)n, 0));
}

static void
set_key_bytes(cf_kstate_backend_t *b, const void *key, uint32_t len)
{
    cf_kstate_set_key(b, key, len, cf_murmur3_32(key, len, 0));
}

static cf_state_t *
reg(cf_kstate_backend_t *b, const char *name, cf_state_kind_t kind,
    cf_reduce_fn fn)
{
    cf_error_t *err = NULL;
    cf_state_t *st = cf_kstate_register(b, name, kind, fn, NULL, &err);
    if (err != NULL)
        fail_msg("register %s: %s", name, cf_error_msg(err));
    assert_non_null(st);
    return st;
}

/* Capture the log into a memory file while fn runs. */
static int log_fd = -1;

static void
log_capture_begin(void)
{
    log_fd = memfd_create("log", 0);
    assert_true(log_fd >= 0);
    cf_log_set_fd(log_fd);
}

static char *
log_capture_end(void)
{
    off_t n = lseek(log_fd, 0, SEEK_END);
    char *s = calloc(1, (size_t)n + 1);
    assert_int_equal(pread(log_fd, s, (size_t)n, 0), n);
    cf_log_set_fd(2);
    close(log_fd);
    log_fd = -1;
    return s;
}

static void
test_value_many_keys(void **unused)
{
    cf_kstate_backend_t *b = cf_kstate_backend_new(&api, MAXP, 0, MAXP - 1);
    cf_state_t *st = reg(b, "count", CF_STATE_VALUE, NULL);
    char kb[32];
    cf_slice_t out;
    uint64_t v;

    for (int i = 0; i < NKEYS; i++) {
        set_key_n(b, kb, sizeof kb, i);
        assert_int_equal(cf_kstate_value_get(st, &out), 0);
        v = (uint64_t)i * 3;
        assert_int_equal(cf_kstate_value_put(st, &v, sizeof v), CF_OK);
        /* A get right after the put sees it (served by the cache). */
        assert_int_equal(cf_kstate_value_get(st, &out), 1);
        assert_int_equal(out.len, sizeof v);
    }
    assert_int_equal(cf_kstate_size(st), NKEYS);
    /* Growth (64 slots to 256k) kept every value. */
    for (int i = 0; i < NKEYS; i++) {
        set_key_n(b, kb, sizeof kb, i);
        assert_int_equal(cf_kstate_value_get(st, &out), 1);
        assert_int_equal(out.len, sizeof v);
        memcpy(&v, out.data, sizeof v);
        assert_int_equal(v, (uint64_t)i * 3);
    }
    /* Clear every other key; the rest survive the backward shifts. */
    for (int i = 0; i < NKEYS; i += 2) {
        set_key_n(b, kb, sizeof kb, i);
        assert_int_equal(cf_kstate_clear(st), CF_OK);
        assert_int_equal(cf_kstate_value_get(st, &out), 0);
        /* Clearing an absent key is fine. */
        assert_int_equal(cf_kstate_clear(st), CF_OK);
    }
    assert_int_equal(cf_kstate_size(st), NKEYS / 2);
    for (int i = 0; i < NKEYS; i++) {
        set_key_n(b, kb, sizeof kb, i);
        int rc = cf_kstate_value_get(st, &out);
        if (i % 2 == 0) {
            assert_int_equal(rc, 0);
        } else {
            assert_int_equal(rc, 1);
            memcpy(&v, out.data, sizeof v);
            assert_int_equal(v, (uint64_t)i * 3);
        }
    }
    /* And put back. */
    for (int i = 0; i < NKEYS; i += 2) {
        set_key_n(b, kb, sizeof kb, i);
        v = (uint64_t)i;
        assert_int_equal(cf_kstate_value_put(st, &v, sizeof v), CF_OK);
    }
    assert_int_equal(cf_kstate_size(st), NKEYS);
    assert_true(cf_kstate_backend_bytes(b) > (uint64_t)NKEYS * 24);
    cf_kstate_backend_destroy(b);
}

static void
test_value_update_in_place(void **unused)
{
    cf_kstate_backend_t *b = cf_kstate_backend_new(&api, MAXP, 0, MAXP - 1);
    cf_state_t *st = reg(b, "counter", CF_STATE_VALUE, NULL);
    char kb[32];
    int created;

    /* A counter per key, 5 increments each, keys interleaved. */
    for (int round = 0; round < 5; round++) {
        for (int i = 0; i < 1000; i++) {
            set_key_n(b, kb, sizeof kb, i);
            uint64_t *c = cf_kstate_value_update(st, sizeof *c, &created);
            assert_non_null(c);
            assert_true(((uintptr_t)c & 7) == 0);
            assert_int_equal(created, round == 0);
            if (created)
                assert_int_equal(*c, 0);
            *c += (uint64_t)i;
        }
    }
    for (int i = 0; i < 1000; i++) {
        cf_slice_t out;
        uint64_t v;
        set_key_n(b, kb, sizeof kb, i);
        assert_int_equal(cf_kstate_value_get(st, &out), 1);
        memcpy(&v, out.data, sizeof v);
        assert_int_equal(v, (uint64_t)i * 5);
    }

    /* Same key: the pointer is stable while the size fits. */
    set_key_n(b, kb, sizeof kb, 7);
    uint8_t *p1 = cf_kstate_value_update(st, 8, NULL);
    uint8_t *p2 = cf_kstate_value_update(st, 8, NULL);
    assert_ptr_equal(p1, p2);
    /* Shrink, then grow: the regrown bytes are zero. */
    p1 = cf_kstate_value_update(st, 2, &created);
    assert_int_equal(created, 0);
    p1 = cf_kstate_value_update(st, 64, &created);
    assert_int_equal(created, 0);
    for (int i = 2; i < 64; i++)
        assert_int_equal(p1[i], 0);
    memset(p1, 0xab, 64);
    p1 = cf_kstate_value_update(st, 100, NULL);
    for (int i = 0; i < 64; i++)
        assert_int_equal(p1[i], 0xab);
    for (int i = 64; i < 100; i++)
        assert_int_equal(p1[i], 0);
    cf_kstate_backend_destroy(b);
}

static void
test_value_put_sizes(void **unused)
{
    cf_kstate_backend_t *b = cf_kstate_backend_new(&api, MAXP, 0, MAXP - 1);
    cf_state_t *st = reg(b, "v", CF_STATE_VALUE, NULL);
    char big[5000];
    cf_slice_t out;

    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)(i * 7);
    set_key_bytes(b, "k", 1);
    assert_int_equal(cf_kstate_value_put(st, "abc", 3), CF_OK);
    assert_int_equal(cf_kstate_value_get(st, &out), 1);
    assert_int_equal(out.len, 3);
    assert_memory_equal(out.data, "abc", 3);
    /* Smaller in place, then larger (the entry grows). */
    assert_int_equal(cf_kstate_value_put(st, "z", 1), CF_OK);
    assert_int_equal(cf_kstate_value_get(st, &out), 1);
    assert_int_equal(out.len, 1);
    assert_memory_equal(out.data, "z", 1);
    assert_int_equal(cf_kstate_value_put(st, big, sizeof big), CF_OK);
    assert_int_equal(cf_kstate_value_get(st, &out), 1);
    assert_int_equal(out.len, sizeof big);
    assert_memory_equal(out.data, big, sizeof big);
    /* An empty value is a value. */
    assert_int_equal(cf_kstate_value_put(st, NULL, 0), CF_OK);
    assert_int_equal(cf_kstate_value_get(st, &out), 1);
    assert_int_equal(out.len, 0);
    /* Putting back a slice of the value itself. */
    assert_int_equal(cf_kstate_value_put(st, big, 100), CF_OK);
    assert_int_equal(cf_kstate_value_get(st, &out), 1);
    assert_int_equal(cf_kstate_value_put(st, (const char *)out.data + 10,
                                         50),
                     CF_OK);
    assert_int_equal(cf_kstate_value_get(st, &out), 1);
    assert_int_equal(out.len, 50);
    assert_memory_equal(out.data, big + 10, 50);
    cf_kstate_backend_destroy(b);
}

static void
test_value_empty_and_long_keys(void **unused)
{
    cf_kstate_backend_t *b = cf_kstate_backend_new(&api, MAXP, 0, MAXP - 1);
    cf_state_t *st = reg(b, "v", CF_STATE_VALUE, NULL);
    size_t big = 1u << 20;
    char *k1 = malloc(big), *k2 = malloc(big), *k3 = malloc(big);
    cf_slice_t out, key;

    /* The empty key (also with a NULL pointer) is a key. */
    cf_kstate_set_key(b, NULL, 0, cf_murmur3_32("", 0, 0));
    assert_int_equal(cf_kstate_value_get(st, &out), 0);
    assert_int_equal(cf_kstate_value_put(st, "empty", 5), CF_OK);
    set_key_bytes(b, "", 0);
    assert_int_equal(cf_kstate_value_get(st, &out), 1);
    assert_memory_equal(out.data, "empty", 5);
    assert_int_equal(cf_kstate_current_key(b, &key), CF_OK);
    assert_int_equal(key.len, 0);

    /* Two 1 MiB keys differing only in their last byte. */
    memset(k1, 'x', big);
    memcpy(k2, k1, big);
    k2[big - 1] = 'y';
    set_key_bytes(b, k1, (uint32_t)big);
    assert_int_equal(cf_kstate_value_put(st, "one", 3), CF_OK);
    set_key_bytes(b, k2, (uint32_t)big);
    assert_int_equal(cf_kstate_value_get(st, &out), 0);
    assert_int_equal(cf_kstate_value_put(st, "two", 3), CF_OK);
    /* The backend copied the key: the caller's bytes may change. */
    memset(k1, 0, big);
    memset(k3, 'x', big);
    set_key_bytes(b, k3, (uint32_t)big);
    assert_int_equal(cf_kstate_value_get(st, &out), 1);
    assert_memory_equal(out.data, "one", 3);
    set_key_bytes(b, k2, (uint32_t)big);
    assert_int_equal(cf_kstate_value_get(st, &out), 1);
    assert_memory_equal(out.data, "two", 3);
    /* Same hash, other length: a prefix of the key is another key. */
    cf_kstate_set_key(b, k3, 1000, cf_murmur3_32(k3, big, 0));
    assert_int_equal(cf_kstate_value_get(st, &out), 0);
    assert_int_equal(cf_kstate_size(st), 3);
    assert_true(cf_kstate_backend_bytes(b) > 2 * big);
    free(k1);
    free(k2);
    free(k3);
    cf_kstate_backend_destroy(b);
}

static void
test_same_hash_keys(void **unused)
{
    cf_kstate_backend_t *b = cf_kstate_backend_new(&api, MAXP, 0, MAXP - 1);
    cf_state_t *st = reg(b, "v", CF_STATE_VALUE, NULL);
    char kb[32];
    cf_slice_t out;

    /* Every key with the same (forged) hash: one long probe run. */
    for (int i = 0; i < 300; i++) {
        int n = snprintf(kb, sizeof kb, "c%d", i);
        cf_kstate_set_key(b, kb, (uint32_t)n, 42);
        assert_int_equal(cf_kstate_value_put(st, &i, sizeof i), CF_OK);
    }
    for (int i = 0; i < 300; i += 3) {
        int n = snprintf(kb, sizeof kb, "c%d", i);
        cf_kstate_set_key(b, kb, (uint32_t)n, 42);
        assert_int_equal(cf_kstate_clear(st), CF_OK);
    }
    for (int i = 0; i < 300; i++) {
        int n = snprintf(kb, sizeof kb, "c%d", i), v;
        cf_kstate_set_key(b, kb, (uint32_t)n, 42);
        assert_int_equal(cf_kstate_value_get(st, &out), i % 3 != 0);
        if (i % 3 != 0) {
            memcpy(&v, out.data, sizeof v);
            assert_int_equal(v, i);
        }
    }
    assert_int_equal(cf_kstate_size(st), 200);
    cf_kstate_backend_destroy(b);
}

static void
test_no_current_key(void **unused)
{
    cf_kstate_backend_t *b = cf_kstate_backend_new(&api, MAXP, 0, MAXP - 1);
    cf_state_t *st = reg(b, "x", CF_STATE_VALUE, NULL);
    cf_slice_t out;
    char *log;

    assert_int_equal(cf_kstate_current_key_group(b), -1);
    assert_int_equal(cf_kstate_current_key(b, &out), CF_ESTATE);
    log_capture_begin();
    assert_int_equal(cf_kstate_value_get(st, &out), CF_ESTATE);
    assert_int_equal(cf_kstate_value_put(st, "a", 1), CF_ESTATE);
    assert_null(cf_kstate_value_update(st, 8, NULL));
    assert_int_equal(cf_kstate_clear(st), CF_ESTATE);
    log = log_capture_end();
    assert_non_null(
        strstr(log, "Keyed state 'x' accessed without a current key"));
    assert_non_null(strstr(log, "ERROR"));
    free(log);
    assert_int_equal(cf_kstate_size(st), 0);
    cf_kstate_backend_destroy(b);
}

/* A reduce function summing int64 records. */
static int
sum_fn(cf_ctx_t *ctx, cf_buf_t *acc, const cf_record_t *in)
{
    int64_t a, x;

    assert_null(ctx);
    assert_int_equal(acc->len, sizeof a);
    assert_int_equal(in->len, sizeof x);
    memcpy(&a, acc->data, sizeof a);
    memcpy(&x, in->data, sizeof x);
    a += x;
    memcpy(acc->data, &a, sizeof a);
    return CF_OK;
}

/* A reduce function concatenating records (grows its buffer). */
static int
concat_fn(cf_ctx_t *ctx, cf_buf_t *acc, const cf_record_t *in)
{
    int rc = cf_kstate_buf_reserve(acc, acc->len + in->len);
    if (rc < 0)
        return rc;
    assert_true(acc->cap >= acc->len + in->len);
    memcpy(acc->data + acc->len, in->data, in->len);
    acc->len += in->len;
    return CF_OK;
}

/* A reduce function that fails on a negative record. */
static int
picky_fn(cf_ctx_t *ctx, cf_buf_t *acc, const cf_record_t *in)
{
    int64_t x;
    memcpy(&x, in->data, sizeof x);
    if (x < 0)
        return -77;
    return sum_fn(ctx, acc, in);
}

static void
test_reducing_sum(void **unused)
{
    cf_kstate_backend_t *b = cf_kstate_backend_new(&api, MAXP, 0, MAXP - 1);
    cf_state_t *st = reg(b, "sum", CF_STATE_REDUCING, sum_fn);
    char kb[32];
    cf_slice_t out;
    int64_t v;

    for (int round = 1; round <= 10; round++) {
        for (int i = 0; i < 5000; i++) {
            set_key_n(b, kb, sizeof kb, i);
            v = i + round;
            assert_int_equal(cf_kstate_reducing_add(st, &v, sizeof v, 0),
                             CF_OK);
        }
    }
    assert_int_equal(cf_kstate_size(st), 5000);
    for (int i = 0; i < 5000; i++) {
        set_key_n(b, kb, sizeof kb, i);
        assert_int_equal(cf_kstate_reducing_get(st, &out), 1);
        assert_int_equal(out.len, sizeof v);
        memcpy(&v, out.data, sizeof v);
        assert_int_equal(v, (int64_t)i * 10 + 55);
    }
    set_key_n(b, kb, sizeof kb, 3);
    assert_int_equal(cf_kstate_clear(st), CF_OK);
    assert_int_equal(cf_kstate_reducing_get(st, &out), 0);
    v = 9;
    assert_int_equal(cf_kstate_reducing_add(st, &v, sizeof v, 0), CF_OK);
    assert_int_equal(cf_kstate_reducing_get(st, &out), 1);
    memcpy(&v, out.data, sizeof v);
    assert_int_equal(v, 9);
    cf_kstate_backend_destroy(b);
}

static void
test_reducing_grow_and_fail(void **unused)
{
    cf_kstate_backend_t *b = cf_kstate_backend_new(&api, MAXP, 0, MAXP - 1);
    cf_state_t *cat = reg(b, "cat", CF_STATE_REDUCING, concat_fn);
    cf_state_t *picky = reg(b, "picky", CF_STATE_REDUCING, picky_fn);
    cf_slice_t out;
    char expect[1000];
    uint64_t before;
    int64_t v;

    set_key_bytes(b, "k", 1);
    for (int i = 0; i < 1000; i++) {
        char c = (char)('a' + i % 26);
        expect[i] = c;
        assert_int_equal(cf_kstate_reducing_add(cat, &c, 1, i), CF_OK);
    }
    assert_int_equal(cf_kstate_reducing_get(cat, &out), 1);
    assert_int_equal(out.len, 1000);
    assert_memory_equal(out.data, expect, 1000);

    before = cf_kstate_backend_bytes(b);
    v = 5;
    assert_int_equal(cf_kstate_reducing_add(picky, &v, sizeof v, 0), CF_OK);
    assert_int_equal(cf_kstate_reducing_add(picky, &v, sizeof v, 0), CF_OK);
    assert_true(cf_kstate_backend_bytes(b) > before);
    v = -1;
    assert_int_equal(cf_kstate_reducing_add(picky, &v, sizeof v, 0), -77);
    assert_int_equal(cf_kstate_reducing_get(picky, &out), 1);
    memcpy(&v, out.data, sizeof v);
    assert_int_equal(v, 10);
    cf_kstate_backend_destroy(b);
}

static void
test_buf_reserve(void **unused)
{
    cf_buf_t buf = {NULL, 0, 0};

    assert_int_equal(cf_kstate_buf_reserve(&buf, 10), CF_OK);
    assert_non_null(buf.data);
    assert_true(buf.cap >= 10);
    memcpy(buf.data, "0123456789", 10);
    buf.len = 10;
    assert_int_equal(cf_kstate_buf_reserve(&buf, 5), CF_OK);
    assert_int_equal(cf_kstate_buf_reserve(&buf, 11), CF_OK);
    assert_true(buf.cap >= 20); /* geometric */
    assert_memory_equal(buf.data, "0123456789", 10);
    free(buf.data);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_value_many_keys),
        cmocka_unit_test(test_value_update_in_place),
        cmocka_unit_test(test_value_put_sizes),
        cmocka_unit_test(test_value_empty_and_long_keys),
        cmocka_unit_test(test_same_hash_keys),
        cmocka_unit_test(test_no_current_key),
        cmocka_unit_test(test_reducing_sum),
        cmocka_unit_test(test_reducing_grow_and_fail),
        cmocka_unit_test(test_buf_reserve),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
