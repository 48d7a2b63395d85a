/*
 * test_state_file.c: the state file format (state.h "State files"):
 * round trips of every keyed state kind with TTL deadlines, compressed
 * and not; restore into other key-group ranges (rescaling 2 -> 3 gives
 * every entry exactly once); operator state redistribution (SPLIT, UNION,
 * BROADCAST) with the parallelism unchanged, up and down; corrupt and
 * truncated files give an error naming the file, never a crash.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Before cmocka.h, whose fail() macro would clash with cflink.h. */
#include "state.h"

#include <cmocka.h>

#define MAXP 128
#define NKEYS 3000
#define T0 1000000000LL
#define TTL_MS 60000

static cf_host_api_t api = {.size = sizeof(cf_host_api_t)};
static char tmpdir[256];

static int64_t
fixed_clock(void)
{
    return T0;
}

static int
sum_reduce(cf_ctx_t *ctx, cf_buf_t *acc, const cf_record_t *in)
{
    uint64_t a, b;
    (void)ctx;
    memcpy(&a, acc->data, 8);
    memcpy(&b, in->data, 8);
    a += b;
    memcpy(acc->data, &a, 8);
    return 0;
}

static int
agg_add(cf_ctx_t *ctx, cf_buf_t *acc, const cf_record_t *in)
{
    uint64_t a = 0;
    (void)ctx;
    if (acc->len == 8)
        memcpy(&a, acc->data, 8);
    if (acc->cap < 8)
        cf_kstate_buf_reserve(acc, 8);
    a += in->len;
    memcpy(acc->data, &a, 8);
    acc->len = 8;
    return 0;
}

static int
agg_result(cf_ctx_t *ctx, const cf_slice_t *acc, cf_buf_t *out)
{
    (void)ctx;
    if (out->cap < acc->len)
        cf_kstate_buf_reserve(out, acc->len);
    memcpy(out->data, acc->data, acc->len);
    out->len = acc->len;
    return 0;
}

static const cf_agg_ops_t agg_ops = {sizeof(cf_agg_ops_t), agg_add, agg_result};

static int
setup(void **unused)
{
    (void)unused;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_state_file.XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    return 0;
}

static int
teardown(void **unused)
{
    (void)unused;
    cf_rmtree(tmpdir);
    return 0;
}

static char *
tpath(const char *name)
{
    return cf_asprintf("%s/%s", tmpdir, name);
}

/* ------------------------------------------------------------------ */
/* Keyed state content                                                 */
/* ------------------------------------------------------------------ */

typedef struct states_s {
    cf_state_t *v, *l, *m, *r, *a, *t;
} states_t;

static cf_state_t *
reg(cf_kstate_backend_t *b, const char *name, cf_state_kind_t kind)
{
    cf_error_t *err = NULL;
    cf_state_t *st = cf_kstate_register(
        b, name, kind, kind == CF_STATE_REDUCING ? sum_reduce : NULL, NULL,
        &err);
    if (err != NULL)
        fail_msg("register %s: %s", name, cf_error_msg(err));
    assert_non_null(st);
    return st;
}

static void
reg_all(cf_kstate_backend_t *b, states_t *s)
{
    cf_error_t *err = NULL;

    s->v = reg(b, "value", CF_STATE_VALUE);
    s->l = reg(b, "list", CF_STATE_LIST);
    s->m = reg(b, "map", CF_STATE_MAP);
    s->r = reg(b, "reducing", CF_STATE_REDUCING);
    s->a = cf_kstate_register_agg(b, "aggregating", &agg_ops, NULL, &err);
    assert_null(err);
    assert_non_null(s->a);
    s->t = reg(b, "ttl", CF_STATE_VALUE);
    assert_int_equal(
        cf_kstate_set_ttl(s->t, TTL_MS, CF_TTL_ON_CREATE_AND_WRITE), 0);
}

static int
key_of(int i, char *buf, size_t size)
{
    if (i == 0)
        return 0; /* the empty key */
    if (i == 1) {
        memset(buf, 'L', 700);
        return 700;
    }
    return snprintf(buf, size, "key-%d", i);
}

/* Put key i's content into b (which must own it). */
static void
fill_key(cf_kstate_backend_t *b, states_t *s, int i)
{
    char key[1024] = {0}, v[256];
    int kl = key_of(i, key, sizeof key), n;
    uint64_t x = (uint64_t)i;

    cf_kstate_set_key(b, key, (uint32_t)kl, cf_murmur3_32(key, (size_t)kl, 0));
    n = snprintf(v, sizeof v, "value-%d-%.*s", i, i % 50,
                 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
    assert_int_equal(cf_kstate_value_put(s->v, v, (uint32_t)n), 0);
    for (int j = 0; j < i % 5; j++) {
        n = snprintf(v, sizeof v, "item-%d-%d", i, j);
        assert_int_equal(cf_kstate_list_add(s->l, v, (uint32_t)n), 0);
    }
    for (int j = 0; j < i % 4; j++) {
        char uk[32];
        int ukl = snprintf(uk, sizeof uk, "uk-%d", j);
        n = snprintf(v, sizeof v, "uv-%d-%d", i, j);
        assert_int_equal(
            cf_kstate_map_put(s->m, uk, (uint32_t)ukl, v, (uint32_t)n), 0);
    }
    assert_int_equal(cf_kstate_reducing_add(s->r, &x, 8, 0), 0);
    assert_int_equal(cf_kstate_reducing_add(s->r, &x, 8, 0), 0);
    assert_int_equal(cf_kstate_aggregating_add(s->a, v, (uint32_t)n, 0), 0);
    if (i % 3 == 0)
        assert_int_equal(cf_kstate_value_put(s->t, "t", 1), 0);
}

static int
owner(int i, int parallelism)
{
    char key[1024];
    int kl = key_of(i, key, sizeof key);
    uint32_t h = cf_murmur3_32(key, (size_t)kl, 0);
    return cf_keygroup_to_operator(cf_keygroup_of_hash(h, MAXP), MAXP,
                                   parallelism);
}

static cf_kstate_backend_t *
backend(int parallelism, int idx)
{
    int s, e;
    cf_kstate_backend_t *b;

    cf_keygroup_range(MAXP, parallelism, idx, &s, &e);
    b = cf_kstate_backend_new(&api, MAXP, s, e);
    cf_kstate_backend_set_clock(b, fixed_clock);
    return b;
}

/* A canonical dump of a backend: one line per (state, key), sorted. */
typedef struct dump_s {
    char **lines;
    size_t n, cap;
} dump_t;

static void
hex(cf_sbuf_t *sb, const void *p, uint32_t len)
{
    const uint8_t *b = p;
    for (uint32_t i = 0; i < len; i++)
        cf_sbuf_printf(sb, "%02x", b[i]);
}

static int
cmpstr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
dump_entry(void *ud, const cf_kstate_entry_view_t *ev)
{
    void **u = ud;
    dump_t *d = u[0];
    cf_state_t *st = u[1];
    cf_sbuf_t sb = {0};

    cf_sbuf_printf(&sb, "%s|", cf_kstate_name(st));
    hex(&sb, ev->key.data, ev->key.len);
    cf_sbuf_printf(&sb, "|kg%d|exp%lld|", ev->key_group,
                   (long long)cf_kstate_view_expires(ev));
    if (ev->kind == CF_STATE_MAP) {
        cf_map_iter_t it;
        cf_slice_t k, v;
        char **ents = NULL;
        size_t n = 0, cap = 0;
        assert_int_equal(cf_kstate_view_map_iter(ev, &it), 0);
        while (cf_kstate_map_next(&it, &k, &v) == 1) {
            cf_sbuf_t e = {0};
            hex(&e, k.data, k.len);
            cf_sbuf_append(&e, "=");
            hex(&e, v.data, v.len);
            CF_GROW(&ents, &cap, n + 1);
            ents[n++] = cf_sbuf_take(&e);
        }
        qsort(ents, n, sizeof *ents, cmpstr);
        for (size_t i = 0; i < n; i++) {
            cf_sbuf_printf(&sb, "%s,", ents[i]);
            free(ents[i]);
        }
        free(ents);
    } else {
        hex(&sb, ev->value.data, ev->value.len);
    }
    CF_GROW(&d->lines, &d->cap, d->n + 1);
    d->lines[d->n++] = cf_sbuf_take(&sb);
    return 0;
}

static int
dump_state(void *ud, cf_state_t *st)
{
    void *u[2] = {ud, st};
    return cf_kstate_foreach(st, dump_entry, u);
}

static void
dump_add(dump_t *d, cf_kstate_backend_t *b)
{
    assert_int_equal(cf_kstate_backend_foreach_state(b, dump_state, d), 0);
}

static void
dump_sort(dump_t *d)
{
    qsort(d->lines, d->n, sizeof *d->lines, cmpstr);
}

static void
dump_free(dump_t *d)
{
    for (size_t i = 0; i < d->n; i++)
        free(d->lines[i]);
    free(d->lines);
    memset(d, 0, sizeof *d);
}

static void
dump_assert_equal(dump_t *a, dump_t *b)
{
    dump_sort(a);
    dump_sort(b);
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->lines[i], b->lines[i]) != 0)
            fail_msg("entry %zu differs:\n  %s\n  %s", i, a->lines[i],
                     b->lines[i]);
}

/* Write b's snapshot (and ops, may be NULL) to path. */
static uint64_t
write_file(const char *path, cf_kstate_backend_t *b, cf_opstate_backend_t *o,
           int compress)
{
    cf_error_t *err = NULL;
    cf_kstate_snapshot_t *ks = b != NULL ? cf_kstate_snapshot_begin(b) : NULL;
    cf_opstate_snapshot_t *os = o != NULL ? cf_opstate_snapshot(o) : NULL;
    uint64_t size = 0;
    struct stat st;

    if (cf_state_file_write(path, ks, os, compress, &size, &err) != 0)
        fail_msg("write %s: %s", path, cf_error_msg(err));
    if (ks != NULL)
        cf_kstate_snapshot_release(ks);
    if (os != NULL)
        cf_opstate_snapshot_free(os);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal((uint64_t)st.st_size, size);
    return size;
}

static void
restore_ok(const char *path, cf_kstate_backend_t *b)
{
    cf_error_t *err = NULL;
    if (cf_state_file_restore_keyed(path, b, &err) != 0)
        fail_msg("restore %s: %s", path, cf_error_msg(err));
}

static void
round_trip(int compress)
{
    cf_kstate_backend_t *b = backend(1, 0), *r = backend(1, 0);
    char *path = tpath(compress ? "rt-z" : "rt");
    char *inprog = cf_asprintf("%s.inprogress", path);
    states_t s, s2;
    dump_t d1 = {0}, d2 = {0};
    cf_slice_t out;
    char key[16];
    uint64_t size;

    reg_all(b, &s);
    for (int i = 0; i < NKEYS; i++)
        fill_key(b, &s, i);
    size = write_file(path, b, NULL, compress);
    assert_int_equal(access(inprog, F_OK), -1);
    restore_ok(path, r);
    dump_add(&d1, b);
    dump_add(&d2, r);
    /* Every key of every state, TTL deadlines included. */
    assert_int_equal(d1.n, (size_t)NKEYS * 3 + NKEYS / 5 * 4 + NKEYS / 4 * 3 +
                               NKEYS / 3);
    dump_assert_equal(&d1, &d2);
    for (size_t i = 0; i < d2.n; i++)
        if (strncmp(d2.lines[i], "ttl|", 4) == 0)
            assert_non_null(strstr(d2.lines[i], "|exp1000060000|"));

    /* The accessors of the restored states (registration from open
     * finds them, with their functions). */
    reg_all(r, &s2);
    snprintf(key, sizeof key, "key-%d", 42);
    cf_kstate_set_key(r, key, (uint32_t)strlen(key),
                      cf_murmur3_32(key, strlen(key), 0));
    assert_int_equal(cf_kstate_value_get(s2.v, &out), 1);
    assert_memory_equal(out.data, "value-42-", 9);
    assert_int_equal(cf_kstate_reducing_get(s2.r, &out), 1);
    assert_int_equal(out.len, 8);
    assert_int_equal(*(const uint64_t *)out.data, 84);
    assert_int_equal(cf_kstate_map_get(s2.m, "uk-1", 4, &out), 1);
    assert_memory_equal(out.data, "uv-42-1", 7);
    assert_int_equal(cf_kstate_value_get(s2.t, &out), 1);
    {
        uint64_t x = 1;
        assert_int_equal(cf_kstate_reducing_add(s2.r, &x, 8, 0), 0);
        assert_int_equal(cf_kstate_reducing_get(s2.r, &out), 1);
        assert_int_equal(*(const uint64_t *)out.data, 85);
    }
    cf_log_info("round trip (compress %d): %llu bytes", compress,
                (unsigned long long)size);

    dump_free(&d1);
    dump_free(&d2);
    cf_kstate_backend_destroy(b);
    cf_kstate_backend_destroy(r);
    free(path);
    free(inprog);
}

static void
test_round_trip(void **unused)
{
    (void)unused;
    round_trip(0);
}

static void
test_round_trip_compressed(void **unused)
{
    (void)unused;
    round_trip(1);
}

/* Compression makes compressible state smaller. */
static void
test_compression_shrinks(void **unused)
{
    cf_kstate_backend_t *b = backend(1, 0);
    cf_state_t *v;
    char *p1 = tpath("c0"), *p2 = tpath("c1");
    char val[200];
    uint64_t s1, s2;

    (void)unused;
    v = reg(b, "v", CF_STATE_VALUE);
    memset(val, 'a', sizeof val);
    for (int i = 0; i < 5000; i++) {
        char key[16];
        int n = snprintf(key, sizeof key, "%d", i);
        cf_kstate_set_key(b, key, (uint32_t)n, cf_murmur3_32(key, n, 0));
        assert_int_equal(cf_kstate_value_put(v, val, sizeof val), 0);
    }
    s1 = write_file(p1, b, NULL, 0);
    s2 = write_file(p2, b, NULL, 1);
    assert_true(s1 > 5000 * 200);
    assert_true(s2 * 4 < s1);
    cf_kstate_backend_destroy(b);
    free(p1);
    free(p2);
}

/* A snapshot shows the state as of its beginning. */
static void
test_snapshot_point_in_time(void **unused)
{
    cf_kstate_backend_t *b = backend(1, 0), *r = backend(1, 0);
    cf_state_t *v = reg(b, "v", CF_STATE_VALUE), *v2;
    cf_kstate_snapshot_t *ks;
    cf_error_t *err = NULL;
    char *path = tpath("pit");
    cf_slice_t out;
    uint64_t size;

    (void)unused;
    cf_kstate_set_key(b, "k", 1, cf_murmur3_32("k", 1, 0));
    assert_int_equal(cf_kstate_value_put(v, "old", 3), 0);
    ks = cf_kstate_snapshot_begin(b);
    assert_int_equal(cf_kstate_value_put(v, "new!", 4), 0);
    cf_kstate_set_key(b, "k2", 2, cf_murmur3_32("k2", 2, 0));
    assert_int_equal(cf_kstate_value_put(v, "x", 1), 0);
    assert_int_equal(cf_state_file_write(path, ks, NULL, 0, &size, &err), 0);
    cf_kstate_snapshot_release(ks);
    restore_ok(path, r);
    v2 = reg(r, "v", CF_STATE_VALUE);
    assert_int_equal(cf_kstate_size(v2), 1);
    cf_kstate_set_key(r, "k", 1, cf_murmur3_32("k", 1, 0));
    assert_int_equal(cf_kstate_value_get(v2, &out), 1);
    assert_int_equal(out.len, 3);
    assert_memory_equal(out.data, "old", 3);
    cf_kstate_backend_destroy(b);
    cf_kstate_backend_destroy(r);
    free(path);
}

/* 2 files of parallelism 2 into 3 backends of parallelism 3 (and back
 * into 1): every entry exactly once overall. */
static void
test_rescale(void **unused)
{
    cf_kstate_backend_t *old[2], *nb[3], *one;
    states_t s[2];
    char *paths[2];
    dump_t orig = {0}, got = {0}, got1 = {0};
    size_t per[3];

    (void)unused;
    for (int i = 0; i < 2; i++) {
        old[i] = backend(2, i);
        reg_all(old[i], &s[i]);
    }
    for (int i = 0; i < NKEYS; i++) {
        int o = owner(i, 2);
        fill_key(old[o], &s[o], i);
    }
    for (int i = 0; i < 2; i++) {
        char name[32];
        snprintf(name, sizeof name, "rescale-%d", i);
        paths[i] = tpath(name);
        write_file(paths[i], old[i], NULL, i); /* one compressed */
        dump_add(&orig, old[i]);
    }
    for (int j = 0; j < 3; j++) {
        size_t before = got.n;
        nb[j] = backend(3, j);
        for (int i = 0; i < 2; i++)
            restore_ok(paths[i], nb[j]);
        dump_add(&got, nb[j]);
        per[j] = got.n - before;
        assert_true(per[j] > 0);
    }
    dump_assert_equal(&orig, &got);
    one = backend(1, 0);
    for (int i = 0; i < 2; i++)
        restore_ok(paths[i], one);
    dump_add(&got1, one);
    dump_assert_equal(&orig, &got1);

    dump_free(&orig);
    dump_free(&got);
    dump_free(&got1);
    for (int i = 0; i < 2; i++) {
        cf_kstate_backend_destroy(old[i]);
        free(paths[i]);
    }
    for (int j = 0; j < 3; j++)
        cf_kstate_backend_destroy(nb[j]);
    cf_kstate_backend_destroy(one);
}

static void
test_max_parallelism_mismatch(void **unused)
{
    cf_kstate_backend_t *b = backend(1, 0);
    cf_kstate_backend_t *r = cf_kstate_backend_new(&api, 256, 0, 255);
    states_t s;
    cf_error_t *err = NULL;
    char *path = tpath("maxp");

    (void)unused;
    reg_all(b, &s);
    fill_key(b, &s, 7);
    write_file(path, b, NULL, 0);
    assert_int_not_equal(cf_state_file_restore_keyed(path, r, &err), 0);
    assert_non_null(err);
    assert_non_null(strstr(cf_error_msg(err), path));
    assert_non_null(strstr(cf_error_msg(err), "max parallelism 128"));
    cf_error_free(err);
    cf_kstate_backend_destroy(b);
    cf_kstate_backend_destroy(r);
    free(path);
}

static void
expect_error(const char *path, const char *what)
{
    cf_kstate_backend_t *r = backend(1, 0);
    cf_error_t *err = NULL;

    assert_int_not_equal(cf_state_file_restore_keyed(path, r, &err), 0);
    assert_non_null(err);
    assert_non_null(strstr(cf_error_msg(err), path));
    if (strstr(cf_error_msg(err), what) == NULL)
        fail_msg("'%s' lacks '%s'", cf_error_msg(err), what);
    cf_error_free(err);
    cf_kstate_backend_destroy(r);
}

static void
test_bad_files(void **unused)
{
    char *missing = tpath("no-such-file");
    char *junk = tpath("junk"), *empty = tpath("empty");
    int fd;

    (void)unused;
    expect_error(missing, "does not exist");
    fd = open(junk, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(write(fd, "hello, this is not a state file at all, no", 42) ==
                42);
    close(fd);
    expect_error(junk, "not a cflink state file");
    fd = open(empty, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    close(fd);
    expect_error(empty, "truncated");
    free(missing);
    free(junk);
    free(empty);
}

/* ------------------------------------------------------------------ */
/* Operator state                                                      */
/* ------------------------------------------------------------------ */

static cf_state_t *
opreg(cf_opstate_backend_t *o, const char *name, cf_opstate_mode_t mode)
{
    cf_error_t *err = NULL;
    cf_state_t *st = cf_opstate_register(o, name, mode, &err);
    if (st == NULL)
        fail_msg("register %s: %s", name, cf_error_msg(err));
    return st;
}

/* Old subtask i of n: SPLIT "split" holds 3 * i + 1 items "s<i>.<j>",
 * UNION "union" holds 2 items "u<i>.<j>", BROADCAST "bc" a map whose
 * values name the subtask. */
static cf_opstate_backend_t *
op_old(int i)
{
    cf_opstate_backend_t *o = cf_opstate_backend_new(&api);
    cf_state_t *sp = opreg(o, "split", CF_OPSTATE_MODE_SPLIT);
    cf_state_t *un = opreg(o, "union", CF_OPSTATE_MODE_UNION);
    cf_state_t *bc = opreg(o, "bc", CF_OPSTATE_MODE_BROADCAST);
    char buf[32];

    for (int j = 0; j < 3 * i + 1; j++) {
        int n = snprintf(buf, sizeof buf, "s%d.%d", i, j);
        assert_int_equal(cf_kstate_list_add(sp, buf, (uint32_t)n), 0);
    }
    for (int j = 0; j < 2; j++) {
        int n = snprintf(buf, sizeof buf, "u%d.%d", i, j);
        assert_int_equal(cf_kstate_list_add(un, buf, (uint32_t)n), 0);
    }
    for (int j = 0; j < 3; j++) {
        char k[8];
        int kn = snprintf(k, sizeof k, "k%d", j);
        int n = snprintf(buf, sizeof buf, "from%d", i);
        assert_int_equal(
            cf_kstate_map_put(bc, k, (uint32_t)kn, buf, (uint32_t)n), 0);
    }
    return o;
}

typedef struct opdump_s {
    cf_sbuf_t split, uni, bc;
    int cur; /* 0 split, 1 union, 2 bc */
    char **bcents;
    size_t nbc, capbc;
} opdump_t;

static int
od_state(void *ud, const char *name, cf_opstate_mode_t mode, uint64_t n)
{
    opdump_t *d = ud;
    (void)n;
    d->cur = strcmp(name, "split") == 0   ? 0
             : strcmp(name, "union") == 0 ? 1
                                          : 2;
    assert_int_equal((int)mode, d->cur);
    return 0;
}

static int
od_item(void *ud, const void *data, uint32_t len)
{
    opdump_t *d = ud;
    cf_sbuf_t *sb = d->cur == 0 ? &d->split : &d->uni;
    cf_sbuf_appendn(sb, data, len);
    cf_sbuf_append(sb, " ");
    return 0;
}

static int
od_entry(void *ud, const void *k, uint32_t klen, const void *v, uint32_t vlen)
{
    opdump_t *d = ud;
    CF_GROW(&d->bcents, &d->capbc, d->nbc + 1);
    d->bcents[d->nbc++] = cf_asprintf("%.*s=%.*s", (int)klen, (const char *)k,
                                      (int)vlen, (const char *)v);
    return 0;
}

static void
op_dump(cf_opstate_backend_t *o, opdump_t *d)
{
    cf_opstate_snapshot_t *s = cf_opstate_snapshot(o);
    memset(d, 0, sizeof *d);
    cf_sbuf_append(&d->split, "");
    cf_sbuf_append(&d->uni, "");
    assert_int_equal(
        cf_opstate_snapshot_walk(s, od_state, od_item, od_entry, d), 0);
    qsort(d->bcents, d->nbc, sizeof *d->bcents, cmpstr);
    for (size_t i = 0; i < d->nbc; i++) {
        cf_sbuf_printf(&d->bc, "%s ", d->bcents[i]);
        free(d->bcents[i]);
    }
    free(d->bcents);
    cf_sbuf_append(&d->bc, "");
    cf_opstate_snapshot_free(s);
}

static void
op_dump_free(opdump_t *d)
{
    cf_sbuf_deinit(&d->split);
    cf_sbuf_deinit(&d->uni);
    cf_sbuf_deinit(&d->bc);
}

static size_t
count_items(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == ' ';
    return n;
}

static void
op_redistribute(int n, int p, int compress)
{
    char **paths = calloc((size_t)n, sizeof *paths);
    cf_sbuf_t all_split = {0}, all_union = {0}, got_split = {0};
    size_t minc = SIZE_MAX, maxc = 0;

    cf_sbuf_append(&all_split, "");
    cf_sbuf_append(&all_union, "");
    cf_sbuf_append(&got_split, "");
    for (int i = 0; i < n; i++) {
        char name[64];
        cf_opstate_backend_t *o = op_old(i);
        opdump_t d;
        snprintf(name, sizeof name, "op-%d-%d-%d", n, p, i);
        paths[i] = tpath(name);
        write_file(paths[i], NULL, o, compress);
        op_dump(o, &d);
        cf_sbuf_append(&all_split, d.split.s);
        cf_sbuf_append(&all_union, d.uni.s);
        op_dump_free(&d);
        cf_opstate_backend_destroy(o);
    }
    for (int j = 0; j < p; j++) {
        cf_opstate_backend_t *o = cf_opstate_backend_new(&api);
        cf_error_t *err = NULL;
        opdump_t d;
        size_t c;
        if (cf_state_file_restore_operator(o, (const char *const *)paths, n, j,
                                           p, &err) != 0)
            fail_msg("restore: %s", cf_error_msg(err));
        op_dump(o, &d);
        c = count_items(d.split.s);
        if (c < minc)
            minc = c;
        if (c > maxc)
            maxc = c;
        if (n == p) {
            /* Unchanged parallelism: each keeps its own items. */
            char first[32];
            snprintf(first, sizeof first, "s%d.0 ", j);
            assert_int_equal(strncmp(d.split.s, first, strlen(first)), 0);
            assert_int_equal(c, (size_t)(3 * j + 1));
        }
        cf_sbuf_append(&got_split, d.split.s);
        assert_string_equal(d.uni.s, all_union.s);
        assert_string_equal(d.bc.s, "k0=from0 k1=from0 k2=from0 ");
        assert_int_equal(cf_opstate_count(o), 3);
        op_dump_free(&d);
        cf_opstate_backend_destroy(o);
    }
    /* The SPLIT items of all, in order, exactly once. */
    assert_string_equal(got_split.s, all_split.s);
    if (n != p)
        assert_true(maxc - minc <= 1);
    for (int i = 0; i < n; i++)
        free(paths[i]);
    free(paths);
    cf_sbuf_deinit(&all_split);
    cf_sbuf_deinit(&all_union);
    cf_sbuf_deinit(&got_split);
}

static void
test_op_unchanged(void **unused)
{
    (void)unused;
    op_redistribute(3, 3, 0);
}

static void
test_op_scale_up(void **unused)
{
    (void)unused;
    op_redistribute(2, 5, 1);
    op_redistribute(1, 4, 0);
}

static void
test_op_scale_down(void **unused)
{
    (void)unused;
    op_redistribute(5, 2, 0);
    op_redistribute(4, 1, 1);
}

/* A subtask without a file, and files with both sections. */
static void
test_op_missing_and_mixed(void **unused)
{
    cf_opstate_backend_t *o0 = op_old(0), *r = cf_opstate_backend_new(&api);
    cf_kstate_backend_t *b = backend(1, 0), *rb = backend(1, 0);
    states_t s;
    char *p0 = tpath("mixed-0");
    const char *paths[2];
    cf_error_t *err = NULL;
    opdump_t d;
    dump_t d1 = {0}, d2 = {0};

    (void)unused;
    reg_all(b, &s);
    for (int i = 0; i < 100; i++)
        fill_key(b, &s, i);
    write_file(p0, b, o0, 1);
    paths[0] = p0;
    paths[1] = NULL;
    assert_int_equal(cf_state_file_restore_operator(r, paths, 2, 0, 2, &err),
                     0);
    op_dump(r, &d);
    assert_string_equal(d.split.s, "s0.0 ");
    assert_string_equal(d.uni.s, "u0.0 u0.1 ");
    op_dump_free(&d);
    restore_ok(p0, rb);
    dump_add(&d1, b);
    dump_add(&d2, rb);
    dump_assert_equal(&d1, &d2);
    dump_free(&d1);
    dump_free(&d2);
    cf_opstate_backend_destroy(o0);
    cf_opstate_backend_destroy(r);
    cf_kstate_backend_destroy(b);
    cf_kstate_backend_destroy(rb);
    free(p0);
}

/* ------------------------------------------------------------------ */
/* Corruption                                                          */
/* ------------------------------------------------------------------ */

static uint8_t *
slurp(const char *path, size_t *len)
{
    uint8_t *p = (uint8_t *)cf_file_read(path, len);
    assert_non_null(p);
    return p;
}

static void
spit(const char *path, const uint8_t *p, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_true(write(fd, p, len) == (ssize_t)len);
    close(fd);
}

/* Restore path keyed and operator; returns how many failed (each error
 * must name the file). */
static int
try_restore(const char *path)
{
    cf_kstate_backend_t *r = backend(1, 0);
    cf_opstate_backend_t *o = cf_opstate_backend_new(&api);
    cf_error_t *err = NULL;
    const char *paths[1] = {path};
    int failed = 0;

    if (cf_state_file_restore_keyed(path, r, &err) != 0) {
        assert_non_null(err);
        if (strstr(cf_error_msg(err), path) == NULL)
            fail_msg("error does not name the file: %s", cf_error_msg(err));
        failed++;
    }
    cf_error_free(err);
    err = NULL;
    if (cf_state_file_restore_operator(o, paths, 1, 0, 1, &err) != 0) {
        assert_non_null(err);
        if (strstr(cf_error_msg(err), path) == NULL)
            fail_msg("error does not name the file: %s", cf_error_msg(err));
        failed++;
    }
    cf_error_free(err);
    cf_kstate_backend_destroy(r);
    cf_opstate_backend_destroy(o);
    return failed;
}

static void
corruption(int compress)
{
    cf_kstate_backend_t *b = backend(1, 0);
    cf_opstate_backend_t *o = op_old(2);
    states_t s;
    char *good = tpath(compress ? "good-z" : "good");
    char *bad = tpath(compress ? "bad-z" : "bad");
    uint8_t *orig, *copy;
    size_t len, step;
    int checked = 0;

    reg_all(b, &s);
    for (int i = 0; i < 300; i++)
        fill_key(b, &s, i);
    write_file(good, b, o, compress);
    orig = slurp(good, &len);
    copy = malloc(len);
    assert_int_equal(try_restore(good), 0);

    /* Truncated at many offsets: every restore fails naming the file. */
    step = len / 300 + 1;
    for (size_t cut = 0; cut < len;
         cut += (cut < 96 || cut > len - 96) ? 1 : step) {
        spit(bad, orig, cut);
        assert_int_equal(try_restore(bad), 2);
        checked++;
    }
    /* A flipped byte anywhere is detected by one of the two restores. */
    for (size_t at = 0; at < len; at += (at < 96 || at > len - 96) ? 1 : step) {
        static const uint8_t masks[] = {0x01, 0xff};
        for (size_t m = 0; m < CF_ARRAY_LEN(masks); m++) {
            memcpy(copy, orig, len);
            copy[at] ^= masks[m];
            spit(bad, copy, len);
            if (try_restore(bad) == 0)
                fail_msg("flip 0x%02x at %zu of %zu not detected", masks[m], at,
                         len);
            checked++;
        }
    }
    /* Appended garbage. */
    memcpy(copy, orig, len);
    spit(bad, copy, len);
    {
        int fd = open(bad, O_WRONLY | O_APPEND);
        assert_true(write(fd, "garbage", 7) == 7);
        close(fd);
    }
    assert_int_equal(try_restore(bad), 2);
    expect_error(bad, "truncated");
    /* A checksum mismatch in a key group block names the key group. */
    memcpy(copy, orig, len);
    copy[len / 2] ^= 0x10;
    spit(bad, copy, len);
    expect_error(bad, "checksum mismatch in key group");
    cf_log_info("corruption (compress %d): %d variants of a %zu byte file",
                compress, checked, len);

    free(orig);
    free(copy);
    free(good);
    free(bad);
    cf_kstate_backend_destroy(b);
    cf_opstate_backend_destroy(o);
}

static void
test_corruption(void **unused)
{
    (void)unused;
    corruption(0);
}

static void
test_corruption_compressed(void **unused)
{
    (void)unused;
    corruption(1);
}

static void
test_write_errors(void **unused)
{
    cf_kstate_backend_t *b = backend(1, 0);
    cf_kstate_snapshot_t *ks;
    cf_error_t *err = NULL;
    char *file = tpath("a-file");
    char *under = cf_asprintf("%s/x/state", tmpdir);
    char *in_file = cf_asprintf("%s/state", file);
    uint64_t size = 7;

    (void)unused;
    reg(b, "v", CF_STATE_VALUE);
    ks = cf_kstate_snapshot_begin(b);
    assert_int_not_equal(cf_state_file_write(under, ks, NULL, 0, &size, &err),
                         0);
    assert_non_null(strstr(cf_error_msg(err), under));
    assert_non_null(strstr(cf_error_msg(err), "does not exist"));
    cf_error_free(err);
    err = NULL;
    spit(file, (const uint8_t *)"x", 1);
    assert_int_not_equal(cf_state_file_write(in_file, ks, NULL, 0, &size, &err),
                         0);
    assert_non_null(strstr(cf_error_msg(err), in_file));
    cf_error_free(err);
    cf_kstate_snapshot_release(ks);
    cf_kstate_backend_destroy(b);
    free(file);
    free(under);
    free(in_file);
}

/* An empty backend and an empty file (no sections) round trip. */
static void
test_empty(void **unused)
{
    cf_kstate_backend_t *b = backend(4, 1), *r = backend(4, 1);
    cf_opstate_backend_t *o = cf_opstate_backend_new(&api);
    char *p1 = tpath("empty-keyed"), *p2 = tpath("nothing");
    cf_error_t *err = NULL;
    uint64_t size;
    const char *paths[1];

    (void)unused;
    reg(b, "v", CF_STATE_VALUE);
    write_file(p1, b, NULL, 1);
    restore_ok(p1, r);
    assert_int_equal(cf_state_file_write(p2, NULL, NULL, 0, &size, &err), 0);
    restore_ok(p2, r);
    paths[0] = p2;
    assert_int_equal(cf_state_file_restore_operator(o, paths, 1, 0, 1, &err),
                     0);
    assert_int_equal(cf_opstate_count(o), 0);
    cf_kstate_backend_destroy(b);
    cf_kstate_backend_destroy(r);
    cf_opstate_backend_destroy(o);
    free(p1);
    free(p2);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_round_trip_compressed),
        cmocka_unit_test(test_compression_shrinks),
        cmocka_unit_test(test_snapshot_point_in_time),
        cmocka_unit_test(test_rescale),
        cmocka_unit_test(test_max_parallelism_mismatch),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_op_unchanged),
        cmocka_unit_test(test_op_scale_up),
        cmocka_unit_test(test_op_scale_down),
        cmocka_unit_test(test_op_missing_and_mixed),
        cmocka_unit_test(test_corruption),
        cmocka_unit_test(test_corruption_compressed),
        cmocka_unit_test(test_write_errors),
        cmocka_unit_test(test_empty),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
