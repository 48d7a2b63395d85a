/*
 * test_state_snapshot.c: copy-on-write asynchronous snapshots of the heap
 * keyed state backend: a snapshot shows the state as of its begin while
 * the task changes values, adds and removes keys and grows tables, for
 * every state kind; several snapshots at once; memory returns to the live
 * size after release and maintain; a walk on another thread while the
 * task mutates; a backend destroyed while a snapshot is still written;
 * aggregating state; the restore helpers (a snapshot restored into a new
 * backend); and the time of a begin over 2 M keys (printed).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Before cmocka.h, whose fail() macro would clash with cflink.h. */
#include "state.h"

#include <cmocka.h>

#define MAXP 128

static cf_host_api_t api = {.size = sizeof(cf_host_api_t)};

static char keybuf[32];

static void
set_key_n(cf_kstate_backend_t *b, int i)
{
    int n = snprintf(keybuf, sizeof keybuf, "key-%d", i);
    cf_kstate_set_key(b, keybuf, (uint32_t)n,
                      cf_murmur3_32(keybuf, (size_t)n, 0));
}

static int
key_id(const cf_slice_t *k)
{
    char tmp[32];
    assert_true(k->len < sizeof tmp && k->len > 4);
    memcpy(tmp, k->data, k->len);
    tmp[k->len] = '\0';
    assert_memory_equal(tmp, "key-", 4);
    return atoi(tmp + 4);
}

static void
put_i64(cf_state_t *st, int64_t x)
{
    assert_int_equal(cf_kstate_value_put(st, &x, sizeof x), CF_OK);
}

static int64_t
get_i64(cf_state_t *st, int *found)
{
    cf_slice_t v;
    int64_t x = 0;
    int rc = cf_kstate_value_get(st, &v);
    assert_true(rc >= 0);
    *found = rc;
    if (rc == 1) {
        assert_int_equal(v.len, 8);
        memcpy(&x, v.data, 8);
    }
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

/* Average: accumulator {sum, count} (grown from empty), result sum/count. */
static int
avg_add(cf_ctx_t *ctx, cf_buf_t *acc, const cf_record_t *in)
{
    int64_t a[2] = {0, 0}, x;
    (void)ctx;
    if (acc->len == 0)
        cf_kstate_buf_reserve(acc, sizeof a);
    else
        memcpy(a, acc->data, sizeof a);
    memcpy(&x, in->data, sizeof x);
    a[0] += x;
    a[1]++;
    memcpy(acc->data, a, sizeof a);
    acc->len = sizeof a;
    return CF_OK;
}

static int
avg_result(cf_ctx_t *ctx, const cf_slice_t *acc, cf_buf_t *out)
{
    int64_t a[2], r;
    (void)ctx;
    memcpy(a, acc->data, sizeof a);
    r = a[1] ? a[0] / a[1] : 0;
    cf_kstate_buf_reserve(out, sizeof r);
    memcpy(out->data, &r, sizeof r);
    out->len = sizeof r;
    return CF_OK;
}

static const cf_agg_ops_t avg_ops = {
    .size = sizeof(cf_agg_ops_t), .add = avg_add, .result = avg_result};

/* ------------------------------------------------------------------ */
/* A collector of ValueState walks: values by key id                   */
/* ------------------------------------------------------------------ */

#define MAXKEYS 40000

typedef struct coll_s {
    int64_t val[MAXKEYS];
    uint8_t seen[MAXKEYS];
    int n;
    int last_kg;
    int nstates;
    char names[8][32];
} coll_t;

static int
coll_state_cb(void *ud, const char *name, cf_state_kind_t kind,
              int64_t ttl_ms)
{
    coll_t *c = ud;
    (void)kind;
    (void)ttl_ms;
    assert_true(c->nstates < 8);
    snprintf(c->names[c->nstates++], 32, "%s", name);
    c->last_kg = -1;
    return 0;
}

static int
coll_cb(void *ud, const cf_kstate_entry_view_t *ev)
{
    coll_t *c = ud;
    int id = key_id(&ev->key);

    assert_true(id >= 0 && id < MAXKEYS);
    assert_false(c->seen[id]);
    assert_int_equal(ev->kind, CF_STATE_VALUE);
    assert_int_equal(ev->hash, cf_murmur3_32(ev->key.data, ev->key.len, 0));
    assert_int_equal(ev->key_group, (int)(ev->hash % MAXP));
    assert_true(ev->key_group >= c->last_kg); /* ascending key groups */
    c->last_kg = ev->key_group;
    assert_int_equal(ev->value.len, 8);
    memcpy(&c->val[id], ev->value.data, 8);
    c->seen[id] = 1;
    c->n++;
    return 0;
}

static coll_t *
walk_values(cf_kstate_snapshot_t *s)
{
    coll_t *c = calloc(1, sizeof *c);
    assert_int_equal(cf_kstate_snapshot_walk(s, coll_state_cb, coll_cb, c),
                     CF_OK);
    return c;
}

/* ------------------------------------------------------------------ */
/* ValueState: changes, removals, additions, growth                    */
/* ------------------------------------------------------------------ */

/* The operations of the test, applied to b (with or without snapshots
 * in between); phase 0 builds, phase 1 mutates, phase 2 mutates more. */
static void
value_ops(cf_kstate_backend_t *b, cf_state_t *v, int phase)
{
    if (phase == 0) {
        for (int i = 0; i < 1000; i++) {
            set_key_n(b, i);
            put_i64(v, i);
        }
    } else if (phase == 1) {
        for (int i = 0; i < 1000; i++) {
            set_key_n(b, i);
            if (i % 3 == 0) {
                int64_t *p = cf_kstate_value_update(v, 8, NULL);
                assert_non_null(p);
                *p += 1000000;
            } else if (i % 3 == 1) {
                assert_int_equal(cf_kstate_clear(v), CF_OK);
            }
        }
        /* Growth: 64 slots at first, 32768 at the end (32 pages). */
        for (int i = 1000; i < 20000; i++) {
            set_key_n(b, i);
            put_i64(v, i);
        }
    } else {
        for (int i = 0; i < 20000; i += 2) {
            set_key_n(b, i);
            if (i % 3 == 2) {
                /* A larger value: the entry grows. */
                char big[40];
                int64_t x = -i;
                memset(big, 'x', sizeof big);
                memcpy(big, &x, 8);
                assert_int_equal(cf_kstate_value_put(v, big, sizeof big),
                                 CF_OK);
                /* and back to 8 bytes, from its own bytes */
                cf_slice_t cur;
                assert_int_equal(cf_kstate_value_get(v, &cur), 1);
                assert_int_equal(cf_kstate_value_put(v, cur.data, 8), CF_OK);
            } else if (i >= 1000) {
                assert_int_equal(cf_kstate_clear(v), CF_OK);
            }
        }
    }
}

static void
check_phase0(const coll_t *c)
{
    assert_int_equal(c->n, 1000);
    for (int i = 0; i < 1000; i++) {
        assert_true(c->seen[i]);
        assert_int_equal(c->val[i], i);
    }
}

static void
check_phase1(const coll_t *c)
{
    int n = 0;
    for (int i = 0; i < 20000; i++) {
        int want = i >= 1000 || i % 3 != 1;
        assert_int_equal(c->seen[i], want);
        if (!want)
            continue;
        n++;
        assert_int_equal(c->val[i], i < 1000 && i % 3 == 0 ? i + 1000000 : i);
    }
    assert_int_equal(c->n, n);
}

static void
test_value_cow(void **unused)
{
    cf_kstate_backend_t *b = cf_kstate_backend_new(&api, MAXP, 0, MAXP - 1);
    cf_kstate_backend_t *ref = cf_kstate_backend_new(&api, MAXP, 0, MAXP - 1);
    cf_state_t *v = cf_kstate_register(b, "v", CF_STATE_VALUE, NULL, NULL,
                                       NULL);
    cf_state_t *rv = cf_kstate_register(ref, "v", CF_STATE_VALUE, NULL, NULL,
                                        NULL);
    cf_kstate_snapshot_t *s1, *s2;
    coll_t *c;
    int found;
    (void)unused;

    value_ops(b, v, 0);
    value_ops(ref, rv, 0);
    assert_int_equal(cf_kstate_backend_bytes(b), cf_kstate_backend_bytes(ref));

    s1 = cf_kstate_snapshot_begin(b);
    assert_int_equal(cf_kstate_snapshot_kg_start(s1), 0);
    assert_int_equal(cf_kstate_snapshot_kg_end(s1), MAXP - 1);
    assert_int_equal(cf_kstate_snapshot_max_parallelism(s1), MAXP);
    value_ops(b, v, 1);
    value_ops(ref, rv, 1);

    /* The live state has the new content. */
    for (int i = 0; i < 1000; i++) {
        int64_t x;
        set_key_n(b, i);
        x = get_i64(v, &found);
        assert_int_equal(found, i % 3 != 1);
        if (found)
            assert_int_equal(x, i % 3 == 0 ? i + 1000000 : i);
    }
    assert_int_equal(cf_kstate_size(v), cf_kstate_size(rv));

    /* The snapshot has the content at its begin. */
    c = walk_values(s1);
    assert_int_equal(c->nstates, 1);
    assert_string_equal(c->names[0], "v");
    check_phase0(c);
    free(c);

    s2 = cf_kstate_snapshot_begin(b);
    value_ops(b, v, 2);
    value_ops(ref, rv, 2);
    c = walk_values(s2);
    check_phase1(c);
    free(c);
    c = walk_values(s1); /* still intact */
    check_phase0(c);
    free(c);

    /* Memory: more than the live state while the snapshots are held... */
    assert_true(cf_kstate_backend_bytes(b) > cf_kstate_backend_bytes(ref));
    cf_kstate_snapshot_release(s1);
    while (cf_kstate_backend_maintain(b))
        ;
    assert_true(cf_kstate_backend_bytes(b) > cf_kstate_backend_bytes(ref));
    c = walk_values(s2); /* s1's memory went, s2's stays */
    check_phase1(c);
    free(c);
    /* ... and back to exactly the live size once all are released. */
    cf_kstate_snapshot_release(s2);
    assert_true(cf_kstate_backend_bytes(b) > cf_kstate_backend_bytes(ref));
    /* Reclamation is bounded per call (more than the budget is retired
     * here): the first call leaves work and says so. */
    assert_int_equal(cf_kstate_backend_maintain(b), 1);
    assert_true(cf_kstate_backend_bytes(b) > cf_kstate_backend_bytes(ref));
    while (cf_kstate_backend_maintain(b))
        ;
    assert_int_equal(cf_kstate_backend_maintain(b), 0);
    assert_int_equal(cf_kstate_backend_bytes(b), cf_kstate_backend_bytes(ref));

    /* Live content equals the reference. */
    for (int i = 0; i < 20000; i++) {
        int f2;
        int64_t x, y;
        set_key_n(b, i);
        x = get_i64(v, &found);
        set_key_n(ref, i);
        y = get_i64(rv, &f2);
        assert_int_equal(found, f2);
        assert_int_equal(x, y);
    }
    /* No snapshot alive: updates are in place again (no copy). */
    {
        uint64_t before = cf_kstate_backend_bytes(b);
        int64_t *p;
        set_key_n(b, 0);
        p = cf_kstate_value_update(v, 8, NULL);
        (*p)++;
        assert_int_equal(cf_kstate_backend_bytes(b), before);
        assert_ptr_equal(cf_kstate_value_update(v, 8, NULL), p);
    }
    cf_kstate_backend_destroy(b);
    cf_kstate_backend_destroy(ref);
}

/* ------------------------------------------------------------------ */
/* List, map, reducing, aggregating entries                            */
/* ------------------------------------------------------------------ */

typedef struct kinds_s {
    int list_items[4];
    char list_text[4][64];
    int nmap[4];
    char map_text[4][128];
    int64_t red[4];
    int64_t agg_sum[4], agg_cnt[4];
    int seen[4][5];
    cf_state_kind_t kind;
} kinds_t;

static int
kinds_state_cb(void *ud, const char *name, cf_state_kind_t kind,
               int64_t ttl_ms)
{
    kinds_t *k = ud;
    (void)name;
    assert_int_equal(ttl_ms, 0);
    k->kind = kind;
    return 0;
}

/* Map entries sorted by user key, as "k=v;" text. */
static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
map_text(cf_map_iter_t *it, char *out, size_t size, int *n)
{
    char items[16][64], *ptrs[16];
    cf_slice_t k, v;
    int cnt = 0;

    while (cf_kstate_map_next(it, &k, &v)) {
        assert_true(cnt < 16);
        snprintf(items[cnt], 64, "%.*s=%.*s;", (int)k.len,
                 (const char *)k.data, (int)v.len, (const char *)v.data);
        ptrs[cnt] = items[cnt];
        cnt++;
    }
    qsort(ptrs, (size_t)cnt, sizeof ptrs[0], cmp_str);
    out[0] = '\0';
    for (int i = 0; i < cnt; i++)
        strncat(out, ptrs[i], size - strlen(out) - 1);
    *n = cnt;
}

static void
list_text(const uint8_t *p, uint32_t n, char *out, size_t size, int *items)
{
    uint32_t off = 0, len;
    out[0] = '\0';
    *items = 0;
    while (off < n) {
        memcpy(&len, p + off, 4);
        strncat(out, (const char *)p + off + 4,
                len < size - strlen(out) - 1 ? len : size - strlen(out) - 1);
        strncat(out, ",", size - strlen(out) - 1);
        off += 4 + len;
        (*items)++;
    }
}

static int
kinds_cb(void *ud, const cf_kstate_entry_view_t *ev)
{
    kinds_t *k = ud;
    int id = key_id(&ev->key);

    assert_true(id >= 0 && id < 4);
    k->seen[id][ev->kind - 1]++;
    switch (ev->kind) {
    case CF_STATE_LIST:
        list_text(ev->value.data, ev->value.len, k->list_text[id], 64,
                  &k->list_items[id]);
        break;
    case CF_STATE_MAP: {
        cf_map_iter_t it;
        assert_int_equal(cf_kstate_view_map_iter(ev, &it), CF_OK);
        map_text(&it, k->map_text[id], 128, &k->nmap[id]);
        break;
    }
    case CF_STATE_REDUCING:
        assert_int_equal(ev->value.len, 8);
        memcpy(&k->red[id], ev->value.data, 8);
        break;
    case CF_STATE_AGGREGATING:
        assert_int_equal(ev->value.len, 16);
        memcpy(&k->agg_sum[id], ev->value.data, 8);
        memcpy(&k->agg_cnt[id], (const uint8_t *)ev->value.data + 8, 8);
        break;
    default:
        fail();
    }
    return 0;
}

static void
add_str(cf_state_t *l, const char *s)
{
    assert_int_equal(cf_kstate_list_add(l, s, (uint32_t)strlen(s)), CF_OK);
}

static void
map_put_s(cf_state_t *m, const char *k, const char *v)
{
    assert_int_equal(cf_kstate_map_put(m, k, (uint32_t)strlen(k), v,
                                       (uint32_t)strlen(v)),
                     CF_OK);
}

static void
test_kinds_cow(void **unused)
{
    cf_kstate_backend_t *b = cf_kstate_backend_new(&api, MAXP, 0, MAXP - 1);
    cf_state_t *l = cf_kstate_register(b, "l", CF_STATE_LIST, NULL, NULL,
                                       NULL);
    cf_state_t *m = cf_kstate_register(b, "m", CF_STATE_MAP, NULL, NULL,
                                       NULL);
    cf_state_t *r = cf_kstate_register(b, "r", CF_STATE_REDUCING, sum_fn,
                                       NULL, NULL);
    cf_state_t *a = cf_kstate_register_agg(b, "a", &avg_ops, NULL, NULL);
    cf_kstate_snapshot_t *s;
    kinds_t *k;
    cf_list_iter_t li;
    cf_map_iter_t mi;
    cf_slice_t sl;
    char text[128];
    int n;
    (void)unused;

    assert_non_null(a);
    for (int i = 0; i < 3; i++) {
        int64_t x = 10 * (i + 1);
        set_key_n(b, i);
        add_str(l, "a");
        add_str(l, "b");
        map_put_s(m, "x", "1");
        map_put_s(m, "y", "2");
        assert_int_equal(cf_kstate_reducing_add(r, &x, 8, 0), CF_OK);
        assert_int_equal(cf_kstate_aggregating_add(a, &x, 8, 0), CF_OK);
        x += 2;
        assert_int_equal(cf_kstate_aggregating_add(a, &x, 8, 0), CF_OK);
    }
    s = cf_kstate_snapshot_begin(b);

    /* key 0: everything modified in place after the begin */
    set_key_n(b, 0);
    for (int i = 0; i < 20; i++)
        add_str(l, "c"); /* grows the list block */
    map_put_s(m, "x", "100");
    map_put_s(m, "z", "3");
    map_put_s(m, "y", "a-much-longer-value-than-before");
    assert_int_equal(cf_kstate_map_remove(m, "x", 1), CF_OK);
    {
        int64_t x = 5;
        assert_int_equal(cf_kstate_reducing_add(r, &x, 8, 0), CF_OK);
        x = 100;
        assert_int_equal(cf_kstate_aggregating_add(a, &x, 8, 0), CF_OK);
    }
    /* key 1: cleared, map emptied user key by user key */
    set_key_n(b, 1);
    assert_int_equal(cf_kstate_clear(l), CF_OK);
    assert_int_equal(cf_kstate_map_remove(m, "x", 1), CF_OK);
    assert_int_equal(cf_kstate_map_remove(m, "y", 1), CF_OK);
    assert_int_equal(cf_kstate_clear(r), CF_OK);
    assert_int_equal(cf_kstate_clear(a), CF_OK);
    /* key 3: new after the begin */
    set_key_n(b, 3);
    add_str(l, "new");
    map_put_s(m, "n", "1");

    /* Live content. */
    set_key_n(b, 0);
    assert_int_equal(cf_kstate_list_iter(l, &li), CF_OK);
    n = 0;
    while (cf_kstate_list_next(&li, &sl))
        n++;
    assert_int_equal(n, 22);
    assert_int_equal(cf_kstate_map_iter(m, &mi), CF_OK);
    map_text(&mi, text, sizeof text, &n);
    assert_string_equal(text, "y=a-much-longer-value-than-before;z=3;");
    assert_int_equal(cf_kstate_reducing_get(r, &sl), 1);
    assert_int_equal(*(const int64_t *)sl.data, 15);
    assert_int_equal(cf_kstate_aggregating_get(a, &sl), 1);
    assert_int_equal(*(const int64_t *)sl.data, (10 + 12 + 100) / 3);
    set_key_n(b, 1);
    assert_int_equal(cf_kstate_list_iter(l, &li), CF_OK);
    assert_int_equal(cf_kstate_list_next(&li, &sl), 0);
    assert_int_equal(cf_kstate_map_size(m), 0);
    assert_int_equal(cf_kstate_reducing_get(r, &sl), 0);
    assert_int_equal(cf_kstate_aggregating_get(a, &sl), 0);

    /* The snapshot: every state as at begin. */
    k = calloc(1, sizeof *k);
    assert_int_equal(cf_kstate_snapshot_walk(s, kinds_state_cb, kinds_cb, k),
                     CF_OK);
    for (int i = 0; i < 3; i++) {
        for (int kind = CF_STATE_LIST; kind <= CF_STATE_AGGREGATING; kind++)
            assert_int_equal(k->seen[i][kind - 1], 1);
        assert_string_equal(k->list_text[i], "a,b,");
        assert_string_equal(k->map_text[i], "x=1;y=2;");
        assert_int_equal(k->red[i], 10 * (i + 1));
        assert_int_equal(k->agg_sum[i], 20 * (i + 1) + 2);
        assert_int_equal(k->agg_cnt[i], 2);
    }
    assert_int_equal(k->seen[3][CF_STATE_LIST - 1], 0);
    assert_int_equal(k->seen[3][CF_STATE_MAP - 1], 0);
    free(k);
    cf_kstate_snapshot_release(s);
    while (cf_kstate_backend_maintain(b))
        ;

    /* A second snapshot shows the new content. */
    s = cf_kstate_snapshot_begin(b);
    k = calloc(1, sizeof *k);
    assert_int_equal(cf_kstate_snapshot_walk(s, kinds_state_cb, kinds_cb, k),
                     CF_OK);
    assert_int_equal(k->list_items[0], 22);
    assert_string_equal(k->map_text[0],
                        "y=a-much-longer-value-than-before;z=3;");
    assert_int_equal(k->seen[1][CF_STATE_LIST - 1], 0);
    assert_int_equal(k->seen[1][CF_STATE_MAP - 1], 0);
    assert_int_equal(k->seen[1][CF_STATE_REDUCING - 1], 0);
    assert_int_equal(k->red[0], 15);
    assert_int_equal(k->agg_cnt[0], 3);
    assert_string_equal(k->list_text[3], "new,");
    free(k);
    cf_kstate_snapshot_release(s);
    cf_kstate_backend_destroy(b);
}

/* ------------------------------------------------------------------ */
/* A walk on another thread while the task mutates                     */
/* ------------------------------------------------------------------ */

typedef struct conc_s {
    cf_kstate_snapshot_t *s;
    int round;
    int expect_n;
    int bad;
    int n;
    int last_kg;
} conc_t;

static int
conc_cb(void *ud, const cf_kstate_entry_view_t *ev)
{
    conc_t *c = ud;
    int64_t x;
    char tmp[32];
    int id;

    memcpy(&x, ev->value.data, 8);
    memcpy(tmp, ev->key.data, ev->key.len);
    tmp[ev->key.len] = '\0';
    id = atoi(tmp + 4);
    /* Every value is from the round of the begin. */
    if (x != (int64_t)c->round * 1000000 + id)
        c->bad++;
    if (ev->key_group < c->last_kg)
        c->bad++;
    c->last_kg = ev->key_group;
    c->n++;
    return 0;
}

static void *
conc_walker(void *arg)
{
    conc_t *c = arg;
    c->last_kg = -1;
    cf_kstate_snapshot_walk(c->s, NULL, conc_cb, c);
    /* Release from this thread. */
    cf_kstate_snapshot_release(c->s);
    return NULL;
}

static void
test_concurrent_walk(void **unused)
{
    cf_kstate_backend_t *b = cf_kstate_backend_new(&api, MAXP, 0, MAXP - 1);
    cf_state_t *v = cf_kstate_register(b, "v", CF_STATE_VALUE, NULL, NULL,
                                       NULL);
    static uint8_t alive[200000];
    int next = 0, nalive = 0, rounds = 40;
    (void)unused;

    for (; next < 5000; next++) {
        set_key_n(b, next);
        put_i64(v, next);
        alive[next] = 1;
        nalive++;
    }
    for (int r = 0; r < rounds; r++) {
        conc_t c = {0};
        pthread_t th;
        c.s = cf_kstate_snapshot_begin(b);
        c.round = r;
        c.expect_n = nalive;
        assert_int_equal(pthread_create(&th, NULL, conc_walker, &c), 0);
        /* Mutate everything while the walker reads. */
        for (int i = 0; i < next; i++) {
            if (!alive[i])
                continue;
            set_key_n(b, i);
            if (i % 37 == r % 37) {
                assert_int_equal(cf_kstate_clear(v), CF_OK);
                alive[i] = 0;
                nalive--;
                continue;
            }
            int64_t *p = cf_kstate_value_update(v, 8, NULL);
            *p = (int64_t)(r + 1) * 1000000 + i;
            if ((i & 255) == 0)
                while (cf_kstate_backend_maintain(b))
        ;
        }
        for (int j = 0; j < 500; j++, next++) {
            set_key_n(b, next);
            put_i64(v, (int64_t)(r + 1) * 1000000 + next);
            alive[next] = 1;
            nalive++;
        }
        assert_int_equal(pthread_join(th, NULL), 0);
        while (cf_kstate_backend_maintain(b))
        ;
        assert_int_equal(c.bad, 0);
        assert_int_equal(c.n, c.expect_n);
    }
    assert_int_equal(cf_kstate_size(v), nalive);
    cf_kstate_backend_destroy(b);
}

/* ------------------------------------------------------------------ */
/* Several snapshots, released out of order; destroy while writing      */
/* ------------------------------------------------------------------ */

static void
test_many_snapshots(void **unused)
{
    cf_kstate_backend_t *b = cf_kstate_backend_new(&api, MAXP, 0, MAXP - 1);
    cf_state_t *v = cf_kstate_register(b, "v", CF_STATE_VALUE, NULL, NULL,
                                       NULL);
    cf_kstate_snapshot_t *s[6];
    (void)unused;

    for (int k = 0; k < 6; k++) {
        /* Round k: keys 0..999 hold k, keys 1000+k*300.. are added. */
        for (int i = 0; i < 1000; i++) {
            set_key_n(b, i);
            put_i64(v, k);
        }
        for (int i = 0; i < 300; i++) {
            set_key_n(b, 1000 + k * 300 + i);
            put_i64(v, -1);
        }
        s[k] = cf_kstate_snapshot_begin(b);
    }
    for (int i = 0; i < 1000; i++) {
        set_key_n(b, i);
        assert_int_equal(cf_kstate_clear(v), CF_OK);
    }
    /* Release in the order 2, 5, 0, 3, 1, 4, walking the others each
     * time after a maintain. */
    {
        int order[6] = {2, 5, 0, 3, 1, 4}, gone[6] = {0};
        for (int o = 0; o < 6; o++) {
            cf_kstate_snapshot_release(s[order[o]]);
            gone[order[o]] = 1;
            while (cf_kstate_backend_maintain(b))
        ;
            for (int k = 0; k < 6; k++) {
                coll_t *c;
                if (gone[k])
                    continue;
                c = walk_values(s[k]);
                assert_int_equal(c->n, 1000 + (k + 1) * 300);
                for (int i = 0; i < 1000; i++)
                    assert_int_equal(c->val[i], k);
                free(c);
            }
        }
    }
    assert_int_equal(cf_kstate_size(v), 1800);
    cf_kstate_backend_destroy(b);
}

static void *
release_later(void *arg)
{
    cf_kstate_snapshot_t *s = arg;
    coll_t *c = walk_values(s);
    assert_int_equal(c->n, 100);
    free(c);
    cf_kstate_snapshot_release(s);
    return NULL;
}

static void
test_destroy_while_writing(void **unused)
{
    cf_kstate_backend_t *b = cf_kstate_backend_new(&api, MAXP, 0, MAXP - 1);
    cf_state_t *v = cf_kstate_register(b, "v", CF_STATE_VALUE, NULL, NULL,
                                       NULL);
    cf_kstate_snapshot_t *s;
    pthread_t th;
    (void)unused;

    for (int i = 0; i < 100; i++) {
        set_key_n(b, i);
        put_i64(v, i);
    }
    s = cf_kstate_snapshot_begin(b);
    for (int i = 0; i < 100; i++) {
        set_key_n(b, i);
        put_i64(v, i + 1);
    }
    /* The task ends first; the writer's release frees the backend (the
     * sanitizers check that nothing leaks or is used after free). */
    cf_kstate_backend_destroy(b);
    assert_int_equal(pthread_create(&th, NULL, release_later, s), 0);
    assert_int_equal(pthread_join(th, NULL), 0);
}

/* ------------------------------------------------------------------ */
/* Aggregating state                                                   */
/* ------------------------------------------------------------------ */

static void
test_aggregating(void **unused)
{
    cf_kstate_backend_t *b = cf_kstate_backend_new(&api, MAXP, 0, MAXP - 1);
    cf_error_t *err = NULL;
    cf_state_t *a, *a2, *x;
    cf_slice_t out;
    int64_t v;
    (void)unused;

    assert_string_equal(cf_state_kind_name(CF_STATE_AGGREGATING),
                        "AggregatingState");
    /* The plain registration cannot make one (no functions). */
    x = cf_kstate_register(b, "avg", CF_STATE_AGGREGATING, NULL, NULL, &err);
    assert_null(x);
    assert_int_equal(err->code, CF_EINVAL);
    cf_error_free(err);
    err = NULL;
    {
        cf_agg_ops_t bad = {.size = sizeof bad, .add = avg_add};
        assert_null(cf_kstate_register_agg(b, "avg", &bad, NULL, &err));
        cf_error_free(err);
        err = NULL;
    }
    a = cf_kstate_register_agg(b, "avg", &avg_ops, NULL, &err);
    assert_non_null(a);
    assert_int_equal(cf_kstate_kind(a), CF_STATE_AGGREGATING);
    a2 = cf_kstate_register_agg(b, "avg", &avg_ops, NULL, &err);
    assert_ptr_equal(a, a2);
    x = cf_kstate_register(b, "avg", CF_STATE_VALUE, NULL, NULL, &err);
    assert_null(x);
    assert_string_equal(cf_error_msg(err),
                        "State 'avg' was registered as AggregatingState and "
                        "cannot be re-registered as ValueState");
    cf_error_free(err);

    set_key_n(b, 1);
    assert_int_equal(cf_kstate_aggregating_get(a, &out), 0);
    for (v = 1; v <= 9; v++)
        assert_int_equal(cf_kstate_aggregating_add(a, &v, 8, 0), CF_OK);
    assert_int_equal(cf_kstate_aggregating_get(a, &out), 1);
    assert_int_equal(out.len, 8);
    assert_int_equal(*(const int64_t *)out.data, 5);
    set_key_n(b, 2);
    v = 40;
    assert_int_equal(cf_kstate_aggregating_add(a, &v, 8, 0), CF_OK);
    assert_int_equal(cf_kstate_aggregating_get(a, &out), 1);
    assert_int_equal(*(const int64_t *)out.data, 40);
    assert_int_equal(cf_kstate_size(a), 2);
    /* Other kinds' accessors refuse it. */
    assert_int_equal(cf_kstate_reducing_add(a, &v, 8, 0), CF_ESTATE);
    assert_int_equal(cf_kstate_value_get(a, &out), CF_ESTATE);
    assert_int_equal(cf_kstate_clear(a), CF_OK);
    assert_int_equal(cf_kstate_aggregating_get(a, &out), 0);
    cf_kstate_backend_destroy(b);
}

/* ------------------------------------------------------------------ */
/* Restore helpers: a snapshot written into a new backend               */
/* ------------------------------------------------------------------ */

typedef struct copy_s {
    cf_kstate_backend_t *to;
    cf_state_t *cur;
    int entries;
} copy_t;

static int
copy_state_cb(void *ud, const char *name, cf_state_kind_t kind,
              int64_t ttl_ms)
{
    copy_t *c = ud;
    cf_error_t *err = NULL;
    (void)ttl_ms;
    c->cur = cf_kstate_restore_state(c->to, name, kind, &err);
    assert_non_null(c->cur);
    return 0;
}

static int
copy_cb(void *ud, const cf_kstate_entry_view_t *ev)
{
    copy_t *c = ud;
    c->entries++;
    if (ev->kind == CF_STATE_MAP) {
        cf_map_iter_t it;
        cf_slice_t k, v;
        assert_int_equal(cf_kstate_view_map_iter(ev, &it), CF_OK);
        while (cf_kstate_map_next(&it, &k, &v))
            assert_int_equal(cf_kstate_restore_map_put(
                                 c->cur, ev->key.data, ev->key.len, ev->hash,
                                 k.data, k.len, v.data, v.len,
                                 cf_kstate_view_expires(ev)),
                             CF_OK);
        return 0;
    }
    return cf_kstate_restore_put(c->cur, ev->key.data, ev->key.len, ev->hash,
                                 ev->value.data, ev->value.len,
                                 cf_kstate_view_expires(ev));
}

static void
test_restore(void **unused)
{
    cf_kstate_backend_t *b = cf_kstate_backend_new(&api, MAXP, 0, MAXP - 1);
    cf_kstate_backend_t *half = cf_kstate_backend_new(&api, MAXP, 0, 63);
    cf_state_t *v = cf_kstate_register(b, "v", CF_STATE_VALUE, NULL, NULL,
                                       NULL);
    cf_state_t *l = cf_kstate_register(b, "l", CF_STATE_LIST, NULL, NULL,
                                       NULL);
    cf_state_t *m = cf_kstate_register(b, "m", CF_STATE_MAP, NULL, NULL,
                                       NULL);
    cf_state_t *r = cf_kstate_register(b, "r", CF_STATE_REDUCING, sum_fn,
                                       NULL, NULL);
    cf_state_t *a = cf_kstate_register_agg(b, "a", &avg_ops, NULL, NULL);
    cf_state_t *v2, *r2, *a2, *l2, *m2;
    cf_kstate_backend_t *to = cf_kstate_backend_new(&api, MAXP, 0, MAXP - 1);
    cf_kstate_snapshot_t *s;
    cf_error_t *err = NULL;
    copy_t c = {.to = to};
    cf_slice_t out;
    cf_list_iter_t li;
    int n = 0;
    (void)unused;

    for (int i = 0; i < 500; i++) {
        int64_t x = i;
        char mk[16];
        set_key_n(b, i);
        put_i64(v, i);
        add_str(l, "p");
        add_str(l, "q");
        snprintf(mk, sizeof mk, "u%d", i);
        map_put_s(m, mk, "w");
        map_put_s(m, "common", mk);
        assert_int_equal(cf_kstate_reducing_add(r, &x, 8, 0), CF_OK);
        assert_int_equal(cf_kstate_aggregating_add(a, &x, 8, 0), CF_OK);
    }
    s = cf_kstate_snapshot_begin(b);
    assert_int_equal(cf_kstate_snapshot_walk(s, copy_state_cb, copy_cb, &c),
                     CF_OK);
    assert_int_equal(c.entries, 2500);
    cf_kstate_snapshot_release(s);

    /* The registrations from open take the restored states over. */
    v2 = cf_kstate_register(to, "v", CF_STATE_VALUE, NULL, NULL, &err);
    l2 = cf_kstate_register(to, "l", CF_STATE_LIST, NULL, NULL, &err);
    m2 = cf_kstate_register(to, "m", CF_STATE_MAP, NULL, NULL, &err);
    /* Restored without a function: refused until registered. */
    r2 = cf_kstate_restore_state(to, "r", CF_STATE_REDUCING, &err);
    set_key_n(to, 7);
    {
        int64_t one = 1;
        assert_int_equal(cf_kstate_reducing_add(r2, &one, 8, 0), CF_ESTATE);
    }
    assert_ptr_equal(cf_kstate_register(to, "r", CF_STATE_REDUCING, sum_fn,
                                        NULL, &err),
                     r2);
    a2 = cf_kstate_register_agg(to, "a", &avg_ops, NULL, &err);
    assert_null(err);
    assert_int_equal(cf_kstate_size(v2), 500);
    assert_int_equal(cf_kstate_size(m2), 500);
    for (int i = 0; i < 500; i++) {
        int found;
        int64_t one = 1;
        char mk[16];
        set_key_n(to, i);
        assert_int_equal(get_i64(v2, &found), i);
        assert_int_equal(cf_kstate_list_iter(l2, &li), CF_OK);
        n = 0;
        while (cf_kstate_list_next(&li, &out))
            n++;
        assert_int_equal(n, 2);
        snprintf(mk, sizeof mk, "u%d", i);
        assert_int_equal(cf_kstate_map_get(m2, mk, (uint32_t)strlen(mk), &out),
                         1);
        assert_int_equal(cf_kstate_map_get(m2, "common", 6, &out), 1);
        assert_int_equal(out.len, strlen(mk));
        assert_int_equal(cf_kstate_reducing_add(r2, &one, 8, 0), CF_OK);
        assert_int_equal(cf_kstate_reducing_get(r2, &out), 1);
        assert_int_equal(*(const int64_t *)out.data, i + 1);
        assert_int_equal(cf_kstate_aggregating_get(a2, &out), 1);
        assert_int_equal(*(const int64_t *)out.data, i);
    }

    /* Bad input: a restored key outside the range, a malformed list
     * block, a map payload through restore_put, a kind clash. */
    {
        cf_state_t *hv = cf_kstate_restore_state(half, "v", CF_STATE_VALUE,
                                                 &err);
        cf_state_t *hl = cf_kstate_restore_state(half, "l", CF_STATE_LIST,
                                                 &err);
        cf_state_t *hm = cf_kstate_restore_state(half, "m", CF_STATE_MAP,
                                                 &err);
        uint8_t blk[8] = {200, 0, 0, 0, 'x', 'y', 'z', 0};
        uint32_t h = 64; /* key group 64: not ours */
        assert_int_equal(cf_kstate_restore_put(hv, "k", 1, h, "v", 1, 0),
                         CF_EINVAL);
        assert_int_equal(cf_kstate_restore_put(hl, "k", 1, 3, blk, 8, 0),
                         CF_EINVAL);
        assert_int_equal(cf_kstate_restore_put(hl, "k", 1, 3, blk, 3, 0),
                         CF_EINVAL);
        assert_int_equal(cf_kstate_restore_put(hm, "k", 1, 3, "v", 1, 0),
                         CF_EINVAL);
        assert_int_equal(
            cf_kstate_restore_map_put(hv, "k", 1, 3, "a", 1, "b", 1, 0),
            CF_EINVAL);
        assert_null(cf_kstate_restore_state(half, "v", CF_STATE_LIST, &err));
        assert_non_null(err);
        cf_error_free(err);
        assert_int_equal(cf_kstate_size(hv), 0);
        assert_int_equal(cf_kstate_size(hl), 0);
    }
    cf_kstate_backend_destroy(b);
    cf_kstate_backend_destroy(to);
    cf_kstate_backend_destroy(half);
}

/* ------------------------------------------------------------------ */
/* The synchronous part over 2 M keys                                   */
/* ------------------------------------------------------------------ */

static double
now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void
test_begin_time(void **unused)
{
    const int n = 2000000;
    cf_kstate_backend_t *b = cf_kstate_backend_new(&api, MAXP, 0, MAXP - 1);
    cf_state_t *v = cf_kstate_register(b, "v", CF_STATE_VALUE, NULL, NULL,
                                       NULL);
    cf_kstate_snapshot_t *s;
    double t0, t1, t2;
    uint64_t live;
    (void)unused;

    for (int64_t i = 0; i < n; i++) {
        cf_kstate_set_key(b, &i, 8, cf_murmur3_32(&i, 8, 0));
        put_i64(v, i);
    }
    live = cf_kstate_backend_bytes(b);
    t0 = now_us();
    s = cf_kstate_snapshot_begin(b);
    t1 = now_us();
    /* The first updates after the begin pay the copies. */
    for (int64_t i = 0; i < 1000; i++) {
        int64_t *p;
        cf_kstate_set_key(b, &i, 8, cf_murmur3_32(&i, 8, 0));
        p = cf_kstate_value_update(v, 8, NULL);
        (*p)++;
    }
    t2 = now_us();
    print_message("snapshot begin over %d keys (%.0f MB): %.1f us; 1000 "
                  "updates after it: %.1f us\n",
                  n, (double)live / 1e6, t1 - t0, t2 - t1);
    cf_kstate_snapshot_release(s);
    while (cf_kstate_backend_maintain(b))
        ;
    assert_int_equal(cf_kstate_backend_bytes(b), live);
    cf_kstate_backend_destroy(b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_value_cow),
        cmocka_unit_test(test_kinds_cow),
        cmocka_unit_test(test_concurrent_walk),
        cmocka_unit_test(test_many_snapshots),
        cmocka_unit_test(test_destroy_while_writing),
        cmocka_unit_test(test_aggregating),
        cmocka_unit_test(test_restore),
        cmocka_unit_test(test_begin_time),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
