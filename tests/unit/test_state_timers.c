/*
 * test_state_timers.c: the timer service (src/state/timers.h): order by
 * timestamp across keys and namespaces, FIFO within a timestamp, dedup,
 * lazy deletion (delete then pop skips, delete + register fires once),
 * the current key after a pop (and the caller's kept otherwise), the
 * timestamp encoding at INT64_MIN/MAX, independent domains, restore from
 * a state file (same order), rescaling (each backend gets exactly its
 * keys' timers), bounded memory under delete/register churn, and 100k
 * random operations against a reference model.
 */
#include <malloc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Before cmocka.h, whose fail() macro would clash with cflink.h. */
#include "state.h"
#include "timers.h"

#include <cmocka.h>

#define MAXP 128
#define NKEYS 1000
#define LONGKEY 5000 /* bigger than the largest entry size class */

static cf_host_api_t api = {.size = sizeof(cf_host_api_t)};
static char tmpdir[256];
static char *keys[NKEYS];
static uint32_t klens[NKEYS];

static int
setup(void **unused)
{
    (void)unused;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_state_timers.XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    for (int i = 0; i < NKEYS; i++) {
        if (i == 0) {
            keys[i] = cf_strdup(""); /* the empty key */
        } else if (i == 1) {
            keys[i] = cf_malloc(LONGKEY + 1);
            memset(keys[i], 'L', LONGKEY);
            keys[i][LONGKEY] = '\0';
        } else {
            keys[i] = cf_asprintf("key-%d", i);
        }
        klens[i] = (uint32_t)strlen(keys[i]);
    }
    return 0;
}

static int
teardown(void **unused)
{
    (void)unused;
    for (int i = 0; i < NKEYS; i++)
        cf_free(keys[i]);
    cf_rmtree(tmpdir);
    return 0;
}

static uint32_t
khash(int k)
{
    return cf_murmur3_32(keys[k], klens[k], 0);
}

static void
setkey(cf_kstate_backend_t *b, int k)
{
    cf_kstate_set_key(b, keys[k], klens[k], khash(k));
}

/* The key index of bytes (or -1). */
static int
key_index(const void *p, uint32_t len)
{
    for (int i = 0; i < NKEYS; i++) {
        if (klens[i] == len && memcmp(keys[i], p, len) == 0)
            return i;
    }
    return -1;
}

static int
owner(int k, int parallelism)
{
    return cf_keygroup_to_operator(cf_keygroup_of_hash(khash(k), MAXP), MAXP,
                                   parallelism);
}

static cf_kstate_backend_t *
backend(int parallelism, int idx)
{
    int s, e;

    cf_keygroup_range(MAXP, parallelism, idx, &s, &e);
    return cf_kstate_backend_new(&api, MAXP, s, e);
}

static cf_timers_t *
timers(cf_kstate_backend_t *b)
{
    cf_error_t *err = NULL;
    cf_timers_t *t = cf_timers_new(b, &err);

    if (t == NULL)
        fail_msg("cf_timers_new: %s", cf_error_msg(err));
    return t;
}

static const char *const nss[] = {"", "w1", "window-0123456789"};
#define NNS 3

static int
reg(cf_timers_t *t, cf_kstate_backend_t *b, int dom, int k, int ns, int64_t ts)
{
    setkey(b, k);
    return cf_timers_register(t, dom, ts, nss[ns], (uint32_t)strlen(nss[ns]));
}

static int
del(cf_timers_t *t, cf_kstate_backend_t *b, int dom, int k, int ns, int64_t ts)
{
    setkey(b, k);
    return cf_timers_delete(t, dom, ts, nss[ns], (uint32_t)strlen(nss[ns]));
}

/* A popped timer, decoded. */
typedef struct fired_s {
    int64_t ts;
    int key;
    int ns;
} fired_t;

static int
ns_index(const void *p, uint32_t len)
{
    for (int i = 0; i < NNS; i++) {
        if (strlen(nss[i]) == len && memcmp(nss[i], p, len) == 0)
            return i;
    }
    return -1;
}

/* Pop one timer <= upto and check the view against the backend's
 * current key. Returns 0 when there was none. */
static int
pop1(cf_timers_t *t, cf_kstate_backend_t *b, int dom, int64_t upto, fired_t *f)
{
    cf_timer_view_t v;
    cf_slice_t cur;

    memset(&v, 0, sizeof v);
    if (!cf_timers_pop(t, dom, upto, &v))
        return 0;
    assert_true(v.ts <= upto);
    f->ts = v.ts;
    f->key = key_index(v.key, v.klen);
    assert_true(f->key >= 0);
    assert_int_equal(v.khash, khash(f->key));
    f->ns = ns_index(v.ns, v.nslen);
    assert_true(f->ns >= 0);
    assert_int_equal(cf_kstate_current_key(b, &cur), 0);
    assert_ptr_equal(cur.data, v.key);
    assert_int_equal(cur.len, v.klen);
    return 1;
}

static int
fired_cmp(const void *a, const void *b)
{
    const fired_t *x = a, *y = b;

    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return x->ns - y->ns;
}

/* Pop everything of dom into out (n returned). */
static size_t
pop_all(cf_timers_t *t, cf_kstate_backend_t *b, int dom, fired_t **out)
{
    size_t n = 0, cap = 0;
    fired_t f;

    *out = NULL;
    while (pop1(t, b, dom, INT64_MAX, &f)) {
        CF_GROW(out, &cap, n + 1);
        (*out)[n++] = f;
    }
    assert_int_equal(cf_timers_count(t, dom), 0);
    assert_true(cf_timers_next(t, dom) == INT64_MAX);
    return n;
}

static void
sort_fired(fired_t *f, size_t n)
{
    if (n > 1) /* qsort's array may not be NULL, even when empty */
        qsort(f, n, sizeof *f, fired_cmp);
}

static uint64_t
rnd(uint64_t *s)
{
    /* xorshift64* */
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * UINT64_C(2685821657736338717);
}

/* ------------------------------------------------------------------ */

static void
test_order(void **unused)
{
    cf_kstate_backend_t *b = backend(1, 0);
    cf_timers_t *t = timers(b);
    int64_t ts[300];
    uint64_t s = 42;
    fired_t f;

    (void)unused;
    /* 300 distinct timestamps, registered in a shuffled order, on keys
     * and namespaces that do not follow the time order. */
    for (int i = 0; i < 300; i++)
        ts[i] = 1000 + 7 * i;
    for (int i = 299; i > 0; i--) {
        int j = (int)(rnd(&s) % (uint64_t)(i + 1));
        int64_t x = ts[i];
        ts[i] = ts[j];
        ts[j] = x;
    }
    for (int i = 0; i < 300; i++)
        assert_int_equal(reg(t, b, CF_TIMERS_EVENT, i % 37, i % NNS, ts[i]), 1);
    assert_int_equal(cf_timers_count(t, CF_TIMERS_EVENT), 300);
    assert_true(cf_timers_next(t, CF_TIMERS_EVENT) == 1000);
    /* upto bounds the pops: nothing below the first. */
    assert_int_equal(pop1(t, b, CF_TIMERS_EVENT, 999, &f), 0);
    for (int i = 0; i < 300; i++) {
        int64_t want = 1000 + 7 * i;
        int j;
        assert_true(cf_timers_next(t, CF_TIMERS_EVENT) == want);
        assert_int_equal(pop1(t, b, CF_TIMERS_EVENT, want, &f), 1);
        assert_true(f.ts == want);
        for (j = 0; ts[j] != want; j++)
            ;
        assert_int_equal(f.key, j % 37);
        assert_int_equal(f.ns, j % NNS);
        assert_int_equal(pop1(t, b, CF_TIMERS_EVENT, want, &f), 0);
        assert_int_equal(cf_timers_count(t, CF_TIMERS_EVENT),
                         (uint64_t)(299 - i));
    }
    assert_true(cf_timers_next(t, CF_TIMERS_EVENT) == INT64_MAX);
    cf_timers_free(t);
    cf_kstate_backend_destroy(b);
}

static void
test_fifo(void **unused)
{
    cf_kstate_backend_t *b = backend(1, 0);
    cf_timers_t *t = timers(b);
    fired_t f;

    (void)unused;
    /* 200 timers of one timestamp (and others around it) come out in
     * registration order, whatever their keys. */
    for (int i = 0; i < 200; i++) {
        int k = (int)((i * 7919) % 500);
        assert_int_equal(reg(t, b, CF_TIMERS_EVENT, k, i % NNS, 50), 1);
        if (i % 10 == 0) {
            assert_int_equal(reg(t, b, CF_TIMERS_EVENT, k, 0, 60 + i), 1);
            assert_int_equal(reg(t, b, CF_TIMERS_EVENT, k, 0, 40 - i), 1);
        }
    }
    for (int i = 0; i < 20; i++) {
        assert_int_equal(pop1(t, b, CF_TIMERS_EVENT, 49, &f), 1);
        assert_true(f.ts == 40 - 10 * (19 - i));
    }
    for (int i = 0; i < 200; i++) {
        assert_int_equal(pop1(t, b, CF_TIMERS_EVENT, 50, &f), 1);
        assert_true(f.ts == 50);
        assert_int_equal(f.key, (int)((i * 7919) % 500));
        assert_int_equal(f.ns, i % NNS);
    }
    assert_int_equal(pop1(t, b, CF_TIMERS_EVENT, 59, &f), 0);
    assert_int_equal(cf_timers_count(t, CF_TIMERS_EVENT), 20);
    cf_timers_free(t); /* frees the 20 left */
    cf_kstate_backend_destroy(b);
}

static void
test_dedup(void **unused)
{
    cf_kstate_backend_t *b = backend(1, 0);
    cf_timers_t *t = timers(b);
    cf_state_t *st;
    cf_error_t *err = NULL;
    fired_t f;

    (void)unused;
    assert_int_equal(reg(t, b, CF_TIMERS_EVENT, 5, 1, 100), 1);
    assert_int_equal(reg(t, b, CF_TIMERS_EVENT, 5, 1, 100), 0);
    assert_int_equal(reg(t, b, CF_TIMERS_EVENT, 5, 1, 100), 0);
    /* Another namespace, key or timestamp is another timer. */
    assert_int_equal(reg(t, b, CF_TIMERS_EVENT, 5, 2, 100), 1);
    assert_int_equal(reg(t, b, CF_TIMERS_EVENT, 6, 1, 100), 1);
    assert_int_equal(reg(t, b, CF_TIMERS_EVENT, 5, 1, 101), 1);
    assert_int_equal(cf_timers_count(t, CF_TIMERS_EVENT), 4);
    setkey(b, 5);
    assert_int_equal(cf_timers_exists(t, CF_TIMERS_EVENT, 100, "w1", 2), 1);
    assert_int_equal(cf_timers_exists(t, CF_TIMERS_EVENT, 102, "w1", 2), 0);
    /* The map state holds the current key's timers, one per (ts, ns). */
    st = cf_kstate_register(b, CF_TIMERS_STATE_EVENT, CF_STATE_MAP, NULL, NULL,
                            &err);
    assert_non_null(st);
    assert_int_equal(cf_kstate_map_size(st), 3);
    assert_int_equal(cf_kstate_size(st), 2); /* keys 5 and 6 */

    assert_int_equal(pop1(t, b, CF_TIMERS_EVENT, 100, &f), 1);
    assert_true(f.key == 5 && f.ns == 1 && f.ts == 100);
    assert_int_equal(pop1(t, b, CF_TIMERS_EVENT, 100, &f), 1);
    assert_true(f.key == 5 && f.ns == 2);
    assert_int_equal(pop1(t, b, CF_TIMERS_EVENT, 100, &f), 1);
    assert_true(f.key == 6 && f.ns == 1);
    assert_int_equal(pop1(t, b, CF_TIMERS_EVENT, 100, &f), 0);
    /* Fired: gone from the state, registering makes it new again. */
    setkey(b, 5);
    assert_int_equal(cf_timers_exists(t, CF_TIMERS_EVENT, 100, "w1", 2), 0);
    assert_int_equal(cf_kstate_map_size(st), 1);
    assert_int_equal(reg(t, b, CF_TIMERS_EVENT, 5, 1, 100), 1);
    assert_int_equal(cf_timers_count(t, CF_TIMERS_EVENT), 2);
    assert_int_equal(pop1(t, b, CF_TIMERS_EVENT, 1000, &f), 1);
    assert_true(f.ts == 100);
    assert_int_equal(pop1(t, b, CF_TIMERS_EVENT, 1000, &f), 1);
    assert_true(f.ts == 101);
    assert_int_equal(pop1(t, b, CF_TIMERS_EVENT, 1000, &f), 0);
    assert_int_equal(cf_kstate_size(st), 0);
    cf_timers_free(t);
    cf_kstate_backend_destroy(b);
}

static void
test_delete(void **unused)
{
    cf_kstate_backend_t *b = backend(1, 0);
    cf_timers_t *t = timers(b);
    fired_t f;

    (void)unused;
    for (int i = 0; i < 10; i++)
        assert_int_equal(reg(t, b, CF_TIMERS_EVENT, i, 0, 10 * i), 1);
    /* Delete the first three and two in the middle. */
    for (int i = 0; i < 3; i++)
        assert_int_equal(del(t, b, CF_TIMERS_EVENT, i, 0, 10 * i), 1);
    assert_int_equal(del(t, b, CF_TIMERS_EVENT, 5, 0, 50), 1);
    assert_int_equal(del(t, b, CF_TIMERS_EVENT, 6, 0, 60), 1);
    /* Not there (any more, or never). */
    assert_int_equal(del(t, b, CF_TIMERS_EVENT, 5, 0, 50), 0);
    assert_int_equal(del(t, b, CF_TIMERS_EVENT, 7, 0, 71), 0);
    assert_int_equal(del(t, b, CF_TIMERS_EVENT, 7, 1, 70), 0);
    assert_int_equal(del(t, b, CF_TIMERS_PROCESSING, 7, 0, 70), 0);
    assert_int_equal(del(t, b, CF_TIMERS_EVENT, 300, 0, 70), 0);
    assert_int_equal(cf_timers_count(t, CF_TIMERS_EVENT), 5);
    assert_true(cf_timers_next(t, CF_TIMERS_EVENT) == 30);
    assert_int_equal(pop1(t, b, CF_TIMERS_EVENT, 29, &f), 0);
    int want[] = {3, 4, 7, 8, 9};
    for (int i = 0; i < 5; i++) {
        assert_int_equal(pop1(t, b, CF_TIMERS_EVENT, INT64_MAX, &f), 1);
        assert_int_equal(f.key, want[i]);
        assert_true(f.ts == 10 * want[i]);
    }
    assert_int_equal(pop1(t, b, CF_TIMERS_EVENT, INT64_MAX, &f), 0);
    /* Deleting every timer: next and pop report none. */
    for (int i = 0; i < 10; i++)
        assert_int_equal(reg(t, b, CF_TIMERS_EVENT, i, 2, 5), 1);
    for (int i = 0; i < 10; i++)
        assert_int_equal(del(t, b, CF_TIMERS_EVENT, i, 2, 5), 1);
    assert_int_equal(cf_timers_count(t, CF_TIMERS_EVENT), 0);
    assert_true(cf_timers_next(t, CF_TIMERS_EVENT) == INT64_MAX);
    assert_int_equal(pop1(t, b, CF_TIMERS_EVENT, INT64_MAX, &f), 0);
    cf_timers_free(t);
    cf_kstate_backend_destroy(b);
}

static void
test_delete_reregister(void **unused)
{
    cf_kstate_backend_t *b = backend(1, 0);
    cf_timers_t *t = timers(b);
    fired_t f;

    (void)unused;
    /* R D R: one timer, fires once. */
    assert_int_equal(reg(t, b, CF_TIMERS_EVENT, 3, 1, 10), 1);
    assert_int_equal(del(t, b, CF_TIMERS_EVENT, 3, 1, 10), 1);
    assert_int_equal(reg(t, b, CF_TIMERS_EVENT, 3, 1, 10), 1);
    assert_int_equal(cf_timers_count(t, CF_TIMERS_EVENT), 1);
    /* R D R D R D R on another: fires once. */
    for (int i = 0; i < 4; i++) {
        assert_int_equal(reg(t, b, CF_TIMERS_EVENT, 4, 0, 10), 1);
        if (i < 3)
            assert_int_equal(del(t, b, CF_TIMERS_EVENT, 4, 0, 10), 1);
    }
    /* R D R D: gone. */
    for (int i = 0; i < 2; i++) {
        assert_int_equal(reg(t, b, CF_TIMERS_EVENT, 5, 0, 10), 1);
        assert_int_equal(del(t, b, CF_TIMERS_EVENT, 5, 0, 10), 1);
    }
    assert_int_equal(cf_timers_count(t, CF_TIMERS_EVENT), 2);
    assert_true(cf_timers_next(t, CF_TIMERS_EVENT) == 10);
    assert_int_equal(pop1(t, b, CF_TIMERS_EVENT, 10, &f), 1);
    assert_true(f.key == 3 && f.ns == 1);
    assert_int_equal(pop1(t, b, CF_TIMERS_EVENT, 10, &f), 1);
    assert_true(f.key == 4 && f.ns == 0);
    assert_int_equal(pop1(t, b, CF_TIMERS_EVENT, INT64_MAX, &f), 0);
    assert_int_equal(cf_timers_count(t, CF_TIMERS_EVENT), 0);

    /* Fired, registered again while its stale duplicates are still in
     * the heap: fires once more, and only once. */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(reg(t, b, CF_TIMERS_EVENT, 6, 0, 20), 1);
        assert_int_equal(del(t, b, CF_TIMERS_EVENT, 6, 0, 20), 1);
    }
    assert_int_equal(reg(t, b, CF_TIMERS_EVENT, 6, 0, 20), 1);
    assert_int_equal(reg(t, b, CF_TIMERS_EVENT, 7, 0, 20), 1);
    assert_int_equal(pop1(t, b, CF_TIMERS_EVENT, 20, &f), 1);
    assert_true(f.key == 6);
    assert_int_equal(reg(t, b, CF_TIMERS_EVENT, 6, 0, 20), 1);
    assert_int_equal(pop1(t, b, CF_TIMERS_EVENT, 20, &f), 1);
    assert_int_equal(pop1(t, b, CF_TIMERS_EVENT, 20, &f), 1);
    assert_int_equal(pop1(t, b, CF_TIMERS_EVENT, 20, &f), 0);
    assert_int_equal(cf_timers_count(t, CF_TIMERS_EVENT), 0);
    cf_timers_free(t);
    cf_kstate_backend_destroy(b);
}

static void
test_current_key(void **unused)
{
    cf_kstate_backend_t *b = backend(1, 0);
    cf_timers_t *t = timers(b);
    cf_error_t *err = NULL;
    cf_state_t *v =
        cf_kstate_register(b, "v", CF_STATE_VALUE, NULL, NULL, &err);
    char mine[16] = "the-callers-key";
    uint32_t mh = cf_murmur3_32(mine, 15, 0);
    cf_timer_view_t tv;
    cf_slice_t cur, out;

    (void)unused;
    assert_non_null(v);
    for (int k = 0; k < 20; k++) {
        char val[32];
        int n = snprintf(val, sizeof val, "value-of-%d", k);
        setkey(b, k);
        assert_int_equal(cf_kstate_value_put(v, val, (uint32_t)n), 0);
        assert_int_equal(
            cf_timers_register(t, CF_TIMERS_PROCESSING, 100 + k, "ns", 2), 1);
    }
    /* Stale entries at the top. */
    setkey(b, 0);
    assert_int_equal(cf_timers_delete(t, CF_TIMERS_PROCESSING, 100, "ns", 2),
                     1);
    setkey(b, 1);
    assert_int_equal(cf_timers_delete(t, CF_TIMERS_PROCESSING, 101, "ns", 2),
                     1);
    /* next and a pop that finds nothing keep the caller's key. */
    cf_kstate_set_key(b, mine, 15, mh);
    assert_true(cf_timers_next(t, CF_TIMERS_PROCESSING) == 102);
    assert_int_equal(cf_kstate_current_key(b, &cur), 0);
    assert_ptr_equal(cur.data, mine);
    assert_int_equal(cf_timers_pop(t, CF_TIMERS_PROCESSING, 101, &tv), 0);
    assert_int_equal(cf_kstate_current_key(b, &cur), 0);
    assert_ptr_equal(cur.data, mine);
    assert_int_equal(cf_kstate_value_get(v, &out), 0);
    /* A pop makes the timer's key current: its state is there. */
    for (int k = 2; k < 20; k++) {
        char val[32];
        int n = snprintf(val, sizeof val, "value-of-%d", k);
        cf_kstate_set_key(b, mine, 15, mh);
        assert_int_equal(cf_timers_pop(t, CF_TIMERS_PROCESSING, 1000, &tv), 1);
        assert_true(tv.ts == 100 + k);
        assert_int_equal(tv.klen, klens[k]);
        assert_memory_equal(tv.key, keys[k], klens[k]);
        assert_int_equal(tv.nslen, 2);
        assert_memory_equal(tv.ns, "ns", 2);
        assert_int_equal(cf_kstate_current_key(b, &cur), 0);
        assert_int_equal(cur.len, klens[k]);
        assert_memory_equal(cur.data, keys[k], klens[k]);
        assert_int_equal(cf_kstate_value_get(v, &out), 1);
        assert_int_equal(out.len, (uint32_t)n);
        assert_memory_equal(out.data, val, (size_t)n);
        /* on_timer registers with the view's namespace: fine. */
        assert_int_equal(
            cf_timers_register(t, CF_TIMERS_EVENT, 5, tv.ns, tv.nslen), 1);
    }
    assert_int_equal(cf_timers_count(t, CF_TIMERS_PROCESSING), 0);
    assert_int_equal(cf_timers_count(t, CF_TIMERS_EVENT), 18);
    cf_timers_free(t);
    cf_kstate_backend_destroy(b);
}

static void
test_extreme_ts(void **unused)
{
    static const int64_t want[] = {
        INT64_MIN, INT64_MIN + 1, -1000000000000, -256,          -1,       0, 1,
        255,       256,           1000000000000,  INT64_MAX - 1, INT64_MAX};
    size_t n = CF_ARRAY_LEN(want);
    cf_kstate_backend_t *b = backend(1, 0);
    cf_timers_t *t = timers(b);
    cf_error_t *err = NULL;
    cf_state_t *st;
    cf_map_iter_t it;
    cf_slice_t uk, uv;
    fired_t f;
    int seen = 0;

    (void)unused;
    for (size_t i = 0; i < n; i++) /* reverse order, two keys */
        assert_int_equal(
            reg(t, b, CF_TIMERS_EVENT, (int)(i % 2) + 2, 0, want[n - 1 - i]),
            1);
    /* The map's user keys: 8 bytes big-endian, sign bit flipped. */
    st = cf_kstate_register(b, CF_TIMERS_STATE_EVENT, CF_STATE_MAP, NULL, NULL,
                            &err);
    setkey(b, 3);
    assert_int_equal(cf_kstate_map_iter(st, &it), 0);
    while (cf_kstate_map_next(&it, &uk, &uv)) {
        static const uint8_t m1[8] = {0x7f, 0xff, 0xff, 0xff,
                                      0xff, 0xff, 0xff, 0xff};
        static const uint8_t mn[8] = {0};
        static const uint8_t p1[8] = {0x80, 0, 0, 0, 0, 0, 0, 1};
        static const uint8_t mx[8] = {0xff, 0xff, 0xff, 0xff,
                                      0xff, 0xff, 0xff, 0xff};
        assert_int_equal(uk.len, 8);
        assert_int_equal(uv.len, 0);
        seen |= memcmp(uk.data, m1, 8) == 0 ? 1 : 0;
        seen |= memcmp(uk.data, mn, 8) == 0 ? 2 : 0;
        seen |= memcmp(uk.data, p1, 8) == 0 ? 4 : 0;
        seen |= memcmp(uk.data, mx, 8) == 0 ? 8 : 0;
    }
    /* Key 3 has the even indexes of want: INT64_MIN, -1e12, -1, 1, 256
     * and INT64_MAX - 1 (INT64_MAX is key 2's). */
    assert_int_equal(seen, 7);
    assert_true(cf_timers_next(t, CF_TIMERS_EVENT) == INT64_MIN);
    assert_int_equal(pop1(t, b, CF_TIMERS_EVENT, INT64_MIN, &f), 1);
    assert_true(f.ts == INT64_MIN);
    assert_int_equal(pop1(t, b, CF_TIMERS_EVENT, INT64_MIN, &f), 0);
    for (size_t i = 1; i < n; i++) {
        assert_int_equal(pop1(t, b, CF_TIMERS_EVENT, INT64_MAX, &f), 1);
        assert_true(f.ts == want[i]);
    }
    assert_int_equal(pop1(t, b, CF_TIMERS_EVENT, INT64_MAX, &f), 0);
    cf_timers_free(t);
    cf_kstate_backend_destroy(b);
}

static void
test_domains(void **unused)
{
    cf_kstate_backend_t *b = backend(1, 0);
    cf_timers_t *t = timers(b);
    fired_t f;

    (void)unused;
    for (int i = 0; i < 10; i++) {
        assert_int_equal(reg(t, b, CF_TIMERS_EVENT, i, 1, i), 1);
        assert_int_equal(reg(t, b, CF_TIMERS_PROCESSING, i, 1, i), 1);
    }
    assert_int_equal(reg(t, b, CF_TIMERS_PROCESSING, 20, 1, -5), 1);
    assert_int_equal(del(t, b, CF_TIMERS_EVENT, 0, 1, 0), 1);
    assert_int_equal(cf_timers_count(t, CF_TIMERS_EVENT), 9);
    assert_int_equal(cf_timers_count(t, CF_TIMERS_PROCESSING), 11);
    setkey(b, 0);
    assert_int_equal(cf_timers_exists(t, CF_TIMERS_EVENT, 0, "w1", 2), 0);
    assert_int_equal(cf_timers_exists(t, CF_TIMERS_PROCESSING, 0, "w1", 2), 1);
    assert_true(cf_timers_next(t, CF_TIMERS_EVENT) == 1);
    assert_true(cf_timers_next(t, CF_TIMERS_PROCESSING) == -5);
    for (int i = 1; i < 10; i++) {
        assert_int_equal(pop1(t, b, CF_TIMERS_EVENT, INT64_MAX, &f), 1);
        assert_true(f.ts == i && f.key == i);
    }
    assert_int_equal(pop1(t, b, CF_TIMERS_EVENT, INT64_MAX, &f), 0);
    assert_int_equal(cf_timers_count(t, CF_TIMERS_PROCESSING), 11);
    assert_int_equal(pop1(t, b, CF_TIMERS_PROCESSING, INT64_MAX, &f), 1);
    assert_true(f.ts == -5 && f.key == 20);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(pop1(t, b, CF_TIMERS_PROCESSING, INT64_MAX, &f), 1);
        assert_true(f.ts == i && f.key == i);
    }
    cf_timers_free(t);
    cf_kstate_backend_destroy(b);
}

static void
test_errors(void **unused)
{
    cf_kstate_backend_t *b = backend(2, 0);
    cf_timers_t *t = timers(b);
    cf_error_t *err = NULL;
    cf_timer_view_t v;
    cf_state_t *st;
    int other = 2;

    (void)unused;
    /* No current key yet. */
    assert_true(cf_timers_register(t, CF_TIMERS_EVENT, 1, NULL, 0) < 0);
    assert_true(cf_timers_delete(t, CF_TIMERS_EVENT, 1, NULL, 0) < 0);
    assert_int_equal(cf_timers_count(t, CF_TIMERS_EVENT), 0);
    /* A key of the other half of the key groups. */
    while (owner(other, 2) == 0)
        other++;
    setkey(b, other);
    assert_true(cf_timers_register(t, CF_TIMERS_EVENT, 1, NULL, 0) < 0);
    /* Bad domains. */
    while (owner(other, 2) != 0)
        other++;
    setkey(b, other);
    assert_int_equal(cf_timers_register(t, 2, 1, NULL, 0), CF_EINVAL);
    assert_int_equal(cf_timers_register(t, -1, 1, NULL, 0), CF_EINVAL);
    assert_int_equal(cf_timers_delete(t, 7, 1, NULL, 0), CF_EINVAL);
    assert_int_equal(cf_timers_exists(t, 7, 1, NULL, 0), CF_EINVAL);
    assert_true(cf_timers_next(t, 7) == INT64_MAX);
    assert_int_equal(cf_timers_pop(t, 7, INT64_MAX, &v), 0);
    assert_int_equal(cf_timers_count(t, 7), 0);
    assert_int_equal(cf_timers_register(t, CF_TIMERS_EVENT, 1, NULL, 0), 1);
    assert_int_equal(cf_timers_count(t, CF_TIMERS_EVENT), 1);
    cf_timers_free(t);
    /* The timer names are taken by another kind: an error naming it. */
    cf_timers_free(NULL);
    cf_kstate_backend_destroy(b);
    b = backend(1, 0);
    assert_non_null(cf_kstate_register(b, CF_TIMERS_STATE_PROCESSING,
                                       CF_STATE_VALUE, NULL, NULL, &err));
    assert_null(cf_timers_new(b, &err));
    assert_non_null(err);
    assert_non_null(strstr(cf_error_msg(err), CF_TIMERS_STATE_PROCESSING));
    cf_error_free(err);
    cf_kstate_backend_destroy(b);

    /* A timer state whose user key cannot be a timer: the error names the
     * state, from cf_timers_new (restored content) and cf_timers_restore. */
    b = backend(1, 0);
    st = cf_kstate_register(b, CF_TIMERS_STATE_EVENT, CF_STATE_MAP, NULL, NULL,
                            &err);
    assert_non_null(st);
    setkey(b, 3);
    assert_int_equal(cf_kstate_map_put(st, "abc", 3, NULL, 0), 0);
    err = NULL;
    assert_null(cf_timers_new(b, &err));
    assert_non_null(err);
    assert_non_null(strstr(cf_error_msg(err), CF_TIMERS_STATE_EVENT));
    cf_error_free(err);
    assert_int_equal(cf_kstate_map_remove(st, "abc", 3), 0);
    t = timers(b);
    assert_int_equal(cf_kstate_map_put(st, "abcdefg", 7, NULL, 0), 0);
    err = NULL;
    assert_int_equal(cf_timers_restore(t, &err), CF_ESTATE);
    assert_non_null(err);
    assert_non_null(strstr(cf_error_msg(err), CF_TIMERS_STATE_EVENT));
    cf_error_free(err);
    assert_int_equal(cf_timers_count(t, CF_TIMERS_EVENT), 0);
    cf_timers_free(t);
    cf_kstate_backend_destroy(b);
}

/* ------------------------------------------------------------------ */
/* Snapshots and rescaling                                             */
/* ------------------------------------------------------------------ */

static char *
write_snapshot(cf_kstate_backend_t *b, const char *name)
{
    char *path = cf_asprintf("%s/%s", tmpdir, name);
    cf_kstate_snapshot_t *ks = cf_kstate_snapshot_begin(b);
    cf_error_t *err = NULL;
    uint64_t size = 0;

    if (cf_state_file_write(path, ks, NULL, 1, &size, &err) != 0)
        fail_msg("write %s: %s", path, cf_error_msg(err));
    cf_kstate_snapshot_release(ks);
    assert_true(size > 0);
    return path;
}

static void
restore_into(cf_kstate_backend_t *b, const char *path)
{
    cf_error_t *err = NULL;

    if (cf_state_file_restore_keyed(path, b, &err) != 0)
        fail_msg("restore %s: %s", path, cf_error_msg(err));
}

static cf_timers_t *
timers_restored(cf_kstate_backend_t *b)
{
    cf_error_t *err = NULL;
    cf_timers_t *t = timers(b);

    if (cf_timers_restore(t, &err) != 0)
        fail_msg("cf_timers_restore: %s", cf_error_msg(err));
    return t;
}

/* Timers on 600 keys, both domains; some deleted (stale heap entries in
 * the snapshot's source), some registered again. Timestamps are distinct
 * per domain, so that the pop order is fully determined. */
static void
fill_timers(cf_timers_t *t, cf_kstate_backend_t *b)
{
    for (int i = 0; i < 3000; i++) {
        int k = (i * 7) % 600;
        assert_int_equal(reg(t, b, CF_TIMERS_EVENT, k, i % NNS,
                             (int64_t)((i * 7919) % 3000) - 1500),
                         1);
        assert_int_equal(reg(t, b, CF_TIMERS_PROCESSING, k, (i + 1) % NNS,
                             1700000000000 + i),
                         1);
    }
    for (int i = 0; i < 3000; i += 3) {
        int k = (i * 7) % 600;
        assert_int_equal(del(t, b, CF_TIMERS_EVENT, k, i % NNS,
                             (int64_t)((i * 7919) % 3000) - 1500),
                         1);
    }
    for (int i = 0; i < 300; i += 3) {
        int k = (i * 7) % 600;
        assert_int_equal(reg(t, b, CF_TIMERS_EVENT, k, i % NNS,
                             (int64_t)((i * 7919) % 3000) - 1500),
                         1);
    }
}

static void
test_snapshot_restore(void **unused)
{
    cf_kstate_backend_t *b = backend(1, 0), *r = backend(1, 0);
    cf_timers_t *t = timers(b), *rt;
    fired_t *want[2], *got[2];
    size_t nw[2], ng[2];
    uint64_t cnt[2];
    char *path;

    (void)unused;
    fill_timers(t, b);
    for (int d = 0; d < 2; d++)
        cnt[d] = cf_timers_count(t, d);
    assert_int_equal(cnt[0], 2100);
    assert_int_equal(cnt[1], 3000);
    path = write_snapshot(b, "timers");
    /* The snapshot is a point in time: popping afterwards (copy on
     * write) does not change it. */
    for (int d = 0; d < 2; d++)
        nw[d] = pop_all(t, b, d, &want[d]);
    assert_int_equal(nw[0], 2100);
    assert_int_equal(nw[1], 3000);
    for (int d = 0; d < 2; d++)
        for (size_t i = 1; i < nw[d]; i++)
            assert_true(want[d][i - 1].ts < want[d][i].ts);

    /* The service made before the restore, then rebuilt. */
    rt = timers(r);
    restore_into(r, path);
    assert_int_equal(cf_timers_count(rt, 0) + cf_timers_count(rt, 1), 0);
    assert_int_equal(cf_timers_restore(rt, NULL), 0);
    for (int d = 0; d < 2; d++) {
        assert_int_equal(cf_timers_count(rt, d), cnt[d]);
        ng[d] = pop_all(rt, r, d, &got[d]);
        assert_int_equal(ng[d], nw[d]);
        for (size_t i = 0; i < nw[d]; i++)
            assert_int_equal(fired_cmp(&got[d][i], &want[d][i]), 0);
        cf_free(want[d]);
        cf_free(got[d]);
    }
    /* A restore twice rebuilds from the (now empty) state. */
    assert_int_equal(cf_timers_restore(rt, NULL), 0);
    assert_int_equal(cf_timers_count(rt, 0) + cf_timers_count(rt, 1), 0);
    cf_timers_free(rt);
    cf_timers_free(t);
    cf_kstate_backend_destroy(r);
    cf_kstate_backend_destroy(b);
    free(path);
}

static void
test_rescale(void **unused)
{
    cf_kstate_backend_t *b = backend(1, 0), *nb[2];
    cf_timers_t *t = timers(b), *nt[2];
    fired_t *want[2], *got[2][2];
    size_t nw[2], ng[2][2];
    char *path;

    (void)unused;
    fill_timers(t, b);
    path = write_snapshot(b, "rescale");
    for (int d = 0; d < 2; d++)
        nw[d] = pop_all(t, b, d, &want[d]);
    for (int j = 0; j < 2; j++) {
        nb[j] = backend(2, j);
        restore_into(nb[j], path);
        /* A service made after the restore takes the timers over by
         * itself; cf_timers_restore again does no harm. */
        nt[j] = j == 0 ? timers(nb[j]) : timers_restored(nb[j]);
    }
    for (int d = 0; d < 2; d++) {
        size_t n = 0, mine[2] = {0, 0};
        fired_t *all = cf_calloc(nw[d] + 1, sizeof *all);
        for (size_t i = 0; i < nw[d]; i++)
            mine[owner(want[d][i].key, 2)]++;
        for (int j = 0; j < 2; j++) {
            /* Exactly the timers of this subtask's keys, in order. */
            assert_int_equal(cf_timers_count(nt[j], d), mine[j]);
            ng[j][d] = pop_all(nt[j], nb[j], d, &got[j][d]);
            assert_int_equal(ng[j][d], mine[j]);
            assert_true(mine[j] > 0);
            for (size_t i = 0; i < ng[j][d]; i++) {
                assert_int_equal(owner(got[j][d][i].key, 2), j);
                if (i > 0)
                    assert_true(got[j][d][i - 1].ts < got[j][d][i].ts);
                all[n++] = got[j][d][i];
            }
            cf_free(got[j][d]);
        }
        /* Together: every timer once. */
        assert_int_equal(n, nw[d]);
        sort_fired(all, n);
        for (size_t i = 0; i < n; i++)
            assert_int_equal(fired_cmp(&all[i], &want[d][i]), 0);
        cf_free(all);
        cf_free(want[d]);
    }
    for (int j = 0; j < 2; j++) {
        cf_timers_free(nt[j]);
        cf_kstate_backend_destroy(nb[j]);
    }
    cf_timers_free(t);
    cf_kstate_backend_destroy(b);
    free(path);
}

/* ------------------------------------------------------------------ */
/* Churn and random operations                                         */
/* ------------------------------------------------------------------ */

static size_t
heap_bytes(void)
{
    return mallinfo2().uordblks;
}

static void
test_churn_bounded(void **unused)
{
    cf_kstate_backend_t *b = backend(1, 0);
    cf_timers_t *t = timers(b);
    size_t before, after;
    fired_t f;

    (void)unused;
    /* A process function moving a far timeout on every record, and one
     * deleting and registering the same timer: the stale heap entries
     * are compacted, memory stays flat. */
    for (int k = 0; k < 100; k++)
        assert_int_equal(reg(t, b, CF_TIMERS_EVENT, k, 0, 1000000 + k), 1);
    assert_int_equal(reg(t, b, CF_TIMERS_PROCESSING, 7, 2, 5), 1);
    before = heap_bytes();
    for (int i = 0; i < 200000; i++) {
        int k = i % 100;
        int64_t ts = 1000000 + i;
        assert_int_equal(del(t, b, CF_TIMERS_EVENT, k, 0, ts), 1);
        assert_int_equal(reg(t, b, CF_TIMERS_EVENT, k, 0, ts + 100), 1);
        assert_int_equal(del(t, b, CF_TIMERS_PROCESSING, 7, 2, 5), 1);
        assert_int_equal(reg(t, b, CF_TIMERS_PROCESSING, 7, 2, 5), 1);
    }
    after = heap_bytes();
    /* Without compaction: 400k entries of 64 + 24 bytes, about 35 MB. */
    assert_true(after < before + 2 * 1024 * 1024);
    assert_int_equal(cf_timers_count(t, CF_TIMERS_EVENT), 100);
    assert_int_equal(cf_timers_count(t, CF_TIMERS_PROCESSING), 1);
    assert_int_equal(pop1(t, b, CF_TIMERS_PROCESSING, INT64_MAX, &f), 1);
    assert_true(f.key == 7 && f.ts == 5);
    assert_int_equal(pop1(t, b, CF_TIMERS_PROCESSING, INT64_MAX, &f), 0);
    for (int i = 0; i < 100; i++) {
        assert_int_equal(pop1(t, b, CF_TIMERS_EVENT, INT64_MAX, &f), 1);
        assert_true(f.ts == 1000000 + 199900 + i + 100);
        assert_int_equal(f.key, i);
    }
    assert_int_equal(pop1(t, b, CF_TIMERS_EVENT, INT64_MAX, &f), 0);
    cf_timers_free(t);
    cf_kstate_backend_destroy(b);
}

/* The reference model: per domain an unordered array of the live timers,
 * and per (domain, key, ns, ts) the timer's position in it plus one (0:
 * not registered). */
typedef struct model_s {
    int nkeys;
    int64_t tsmin;
    int range;
    uint32_t *pos; /* [2][nkeys][NNS][range] */
    fired_t *items[2];
    size_t n[2], cap[2];
} model_t;

static uint32_t *
model_pos(model_t *m, int d, const fired_t *x)
{
    return &m->pos[(((size_t)d * (size_t)m->nkeys + (size_t)x->key) * NNS +
                    (size_t)x->ns) *
                       (size_t)m->range +
                   (size_t)(x->ts - m->tsmin)];
}

static void
model_add(model_t *m, int d, const fired_t *x)
{
    CF_GROW(&m->items[d], &m->cap[d], m->n[d] + 1);
    m->items[d][m->n[d]++] = *x;
    *model_pos(m, d, x) = (uint32_t)m->n[d];
}

static void
model_remove(model_t *m, int d, const fired_t *x)
{
    uint32_t *p = model_pos(m, d, x);
    size_t i = *p - 1;

    *p = 0;
    m->items[d][i] = m->items[d][--m->n[d]];
    if (i < m->n[d])
        *model_pos(m, d, &m->items[d][i]) = (uint32_t)i + 1;
}

static void
run_random(uint64_t seed, int nkeys, int64_t tsmin, int range, int nops,
           int del_pct, int pop_one_in)
{
    cf_kstate_backend_t *b = backend(1, 0);
    cf_timers_t *t = timers(b);
    model_t m = {nkeys, tsmin, range, NULL, {NULL, NULL}, {0, 0}, {0, 0}};
    fired_t *got = NULL, *exp = NULL;
    size_t gcap = 0, ecap = 0;
    /* Recently registered timers, the deletes' targets. */
    enum {
        NRECENT = 4096
    };
    fired_t recent[NRECENT];
    int recent_d[NRECENT];
    size_t nrecent = 0;
    uint64_t s = seed, fired = 0, deleted = 0;

    m.pos = cf_calloc(2 * (size_t)nkeys * NNS * (size_t)range, sizeof *m.pos);
    for (int op = 0; op < nops; op++) {
        int d = (int)(rnd(&s) % 2);
        unsigned what = (unsigned)(rnd(&s) % 100);
        fired_t x;
        x.key = (int)(rnd(&s) % (uint64_t)nkeys);
        x.ns = (int)(rnd(&s) % NNS);
        x.ts = tsmin + (int64_t)(rnd(&s) % (uint64_t)range);
        if (what < 40) {
            int absent = *model_pos(&m, d, &x) == 0;
            assert_int_equal(reg(t, b, d, x.key, x.ns, x.ts), absent);
            if (absent)
                model_add(&m, d, &x);
            recent_d[nrecent % NRECENT] = d;
            recent[nrecent++ % NRECENT] = x;
        } else if (what < 40 + (unsigned)del_pct) {
            int present;
            if (nrecent > 0 && rnd(&s) % 4 != 0) {
                size_t i = rnd(&s) % (nrecent < NRECENT ? nrecent : NRECENT);
                x = recent[i];
                d = recent_d[i];
            }
            present = *model_pos(&m, d, &x) != 0;
            assert_int_equal(del(t, b, d, x.key, x.ns, x.ts), present);
            if (present) {
                model_remove(&m, d, &x);
                deleted++;
            }
        } else if (what < 40 + (unsigned)del_pct + 10) {
            setkey(b, x.key);
            assert_int_equal(cf_timers_exists(t, d, x.ts, nss[x.ns],
                                              (uint32_t)strlen(nss[x.ns])),
                             *model_pos(&m, d, &x) != 0);
        } else if (what < 40 + (unsigned)del_pct + 15) {
            int64_t want = INT64_MAX;
            for (size_t i = 0; i < m.n[d]; i++) {
                if (m.items[d][i].ts < want)
                    want = m.items[d][i].ts;
            }
            assert_true(cf_timers_next(t, d) == want);
        } else if (rnd(&s) % (uint64_t)pop_one_in == 0) {
            /* Pop up to a timestamp; the order must be by time (the order
             * within one timestamp is checked by test_fifo). */
            int64_t upto = tsmin - 1 + (int64_t)(rnd(&s) % (uint64_t)range);
            size_t ng = 0, ne = 0;
            fired_t f;
            while (pop1(t, b, d, upto, &f)) {
                CF_GROW(&got, &gcap, ng + 1);
                if (ng > 0)
                    assert_true(got[ng - 1].ts <= f.ts);
                got[ng++] = f;
            }
            for (size_t i = 0; i < m.n[d];) {
                if (m.items[d][i].ts <= upto) {
                    CF_GROW(&exp, &ecap, ne + 1);
                    exp[ne++] = m.items[d][i];
                    model_remove(&m, d, &m.items[d][i]);
                } else {
                    i++;
                }
            }
            assert_int_equal(ng, ne);
            sort_fired(got, ng);
            sort_fired(exp, ne);
            for (size_t i = 0; i < ng; i++)
                assert_int_equal(fired_cmp(&got[i], &exp[i]), 0);
            fired += ng;
        }
        assert_int_equal(cf_timers_count(t, d), m.n[d]);
    }
    assert_true(fired > 100);
    assert_true(deleted > 1000);
    /* What is left comes out in time order, all of it. */
    for (int d = 0; d < 2; d++) {
        fired_t *rest;
        size_t n = pop_all(t, b, d, &rest);
        assert_int_equal(n, m.n[d]);
        for (size_t i = 1; i < n; i++)
            assert_true(rest[i - 1].ts <= rest[i].ts);
        sort_fired(rest, n);
        sort_fired(m.items[d], n);
        for (size_t i = 0; i < n; i++)
            assert_int_equal(fired_cmp(&rest[i], &m.items[d][i]), 0);
        cf_free(rest);
        cf_free(m.items[d]);
    }
    cf_free(got);
    cf_free(exp);
    cf_free(m.pos);
    cf_timers_free(t);
    cf_kstate_backend_destroy(b);
}

static void
test_random_dense(void **unused)
{
    (void)unused;
    /* Few keys and timestamps: many duplicates and re-registrations. */
    run_random(1, 20, -50, 100, 100000, 25, 8);
}

static void
test_random_sparse(void **unused)
{
    (void)unused;
    /* Many timestamps, as many deletes as registrations, rare pops:
     * stale entries pile up and are compacted. */
    run_random(7, 200, -2000000, 2000, 100000, 40, 400);
}

static void
test_random_churn(void **unused)
{
    (void)unused;
    /* Few timers deleted and registered again over and over between rare
     * pops: duplicate heap entries of one timer, compacted. */
    run_random(11, 10, 0, 30, 100000, 40, 64);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_order),
        cmocka_unit_test(test_fifo),
        cmocka_unit_test(test_dedup),
        cmocka_unit_test(test_delete),
        cmocka_unit_test(test_delete_reregister),
        cmocka_unit_test(test_current_key),
        cmocka_unit_test(test_extreme_ts),
        cmocka_unit_test(test_domains),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_snapshot_restore),
        cmocka_unit_test(test_rescale),
        cmocka_unit_test(test_churn_bounded),
        cmocka_unit_test(test_random_dense),
        cmocka_unit_test(test_random_sparse),
        cmocka_unit_test(test_random_churn),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
