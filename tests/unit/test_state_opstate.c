/*
 * test_state_opstate.c: operator (non-keyed) state: registration (same
 * handle, mode mismatch, bad mode), the keyed accessors on its handles
 * without a current key, the synchronous snapshot (a deep copy that
 * later changes do not touch), its walk, and the restore helpers (a
 * snapshot restored into a new backend).
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

static cf_host_api_t api = {.size = sizeof(cf_host_api_t)};

static void
add_str(cf_state_t *l, const char *s)
{
    assert_int_equal(cf_kstate_list_add(l, s, (uint32_t)strlen(s)), CF_OK);
}

static void
test_register(void **unused)
{
    cf_opstate_backend_t *o = cf_opstate_backend_new(&api);
    cf_error_t *err = NULL;
    cf_state_t *a, *a2, *u, *bc, *x;
    (void)unused;

    assert_int_equal(cf_opstate_count(o), 0);
    a = cf_opstate_register(o, "offsets", CF_OPSTATE_MODE_SPLIT, &err);
    assert_non_null(a);
    assert_null(err);
    /* The handle starts with the host table, like a keyed one. */
    assert_ptr_equal(*(const cf_host_api_t *const *)a, &api);
    assert_int_equal(cf_kstate_kind(a), CF_STATE_LIST);
    assert_int_equal(cf_opstate_mode(a), CF_OPSTATE_MODE_SPLIT);
    a2 = cf_opstate_register(o, "offsets", CF_OPSTATE_MODE_SPLIT, &err);
    assert_ptr_equal(a, a2);

    x = cf_opstate_register(o, "offsets", CF_OPSTATE_MODE_UNION, &err);
    assert_null(x);
    assert_int_equal(err->code, CF_ESTATE);
    assert_string_equal(cf_error_msg(err),
                        "Operator state 'offsets' was registered as split "
                        "list state and cannot be re-registered as union "
                        "list state");
    cf_error_free(err);
    err = NULL;
    x = cf_opstate_register(o, "offsets", CF_OPSTATE_MODE_BROADCAST, &err);
    assert_null(x);
    cf_error_free(err);
    err = NULL;
    x = cf_opstate_register(o, "bad", (cf_opstate_mode_t)9, &err);
    assert_null(x);
    assert_int_equal(err->code, CF_EINVAL);
    cf_error_free(err);
    err = NULL;
    x = cf_opstate_register(o, "", CF_OPSTATE_MODE_SPLIT, &err);
    assert_null(x);
    cf_error_free(err);
    err = NULL;

    u = cf_opstate_register(o, "all", CF_OPSTATE_MODE_UNION, &err);
    bc = cf_opstate_register(o, "rules", CF_OPSTATE_MODE_BROADCAST, &err);
    assert_non_null(u);
    assert_non_null(bc);
    assert_int_equal(cf_kstate_kind(bc), CF_STATE_MAP);
    assert_int_equal(cf_opstate_mode(bc), CF_OPSTATE_MODE_BROADCAST);
    assert_int_equal(cf_opstate_count(o), 3);

    /* A keyed state handle has no mode; operator state has no TTL. */
    {
        cf_kstate_backend_t *kb = cf_kstate_backend_new(&api, 128, 0, 127);
        cf_state_t *k = cf_kstate_register(kb, "k", CF_STATE_VALUE, NULL,
                                           NULL, NULL);
        assert_int_equal(cf_opstate_mode(k), CF_EINVAL);
        cf_kstate_backend_destroy(kb);
    }
    assert_int_equal(cf_kstate_set_ttl(a, 10, CF_TTL_ON_CREATE_AND_WRITE),
                     CF_EINVAL);
    cf_opstate_backend_destroy(o);
}

static void
test_accessors(void **unused)
{
    cf_opstate_backend_t *o = cf_opstate_backend_new(&api);
    cf_state_t *l = cf_opstate_register(o, "l", CF_OPSTATE_MODE_SPLIT, NULL);
    cf_state_t *m = cf_opstate_register(o, "m", CF_OPSTATE_MODE_BROADCAST,
                                        NULL);
    cf_list_iter_t it;
    cf_slice_t s;
    int n = 0;
    (void)unused;

    /* No current key needed. */
    add_str(l, "one");
    add_str(l, "two");
    assert_int_equal(cf_kstate_list_iter(l, &it), CF_OK);
    while (cf_kstate_list_next(&it, &s))
        n++;
    assert_int_equal(n, 2);
    assert_int_equal(cf_kstate_clear(l), CF_OK);
    assert_int_equal(cf_kstate_list_iter(l, &it), CF_OK);
    assert_int_equal(cf_kstate_list_next(&it, &s), 0);
    assert_int_equal(cf_kstate_map_put(m, "k", 1, "v", 1), CF_OK);
    assert_int_equal(cf_kstate_map_get(m, "k", 1, &s), 1);
    assert_int_equal(cf_kstate_map_size(m), 1);
    /* The wrong kind of accessor. */
    assert_int_equal(cf_kstate_map_put(l, "k", 1, "v", 1), CF_ESTATE);
    cf_opstate_backend_destroy(o);
}

/* A walk into text: "name/mode/n:item,item;" or "k=v," for maps. */
typedef struct wt_s {
    char text[512];
    cf_opstate_backend_t *to; /* restore into it, when set */
    cf_state_t *cur;
} wt_t;

static int
wt_state(void *ud, const char *name, cf_opstate_mode_t mode, uint64_t n)
{
    wt_t *w = ud;
    char tmp[64];
    snprintf(tmp, sizeof tmp, "%s/%d/%llu:", name, (int)mode,
             (unsigned long long)n);
    strncat(w->text, tmp, sizeof w->text - strlen(w->text) - 1);
    if (w->to != NULL) {
        w->cur = cf_opstate_register(w->to, name, mode, NULL);
        assert_non_null(w->cur);
    }
    return 0;
}

static int
wt_item(void *ud, const void *data, uint32_t len)
{
    wt_t *w = ud;
    char tmp[64];
    snprintf(tmp, sizeof tmp, "%.*s,", (int)len, (const char *)data);
    strncat(w->text, tmp, sizeof w->text - strlen(w->text) - 1);
    if (w->to != NULL)
        assert_int_equal(cf_opstate_restore_add(w->cur, data, len), CF_OK);
    return 0;
}

static int
wt_entry(void *ud, const void *k, uint32_t klen, const void *v, uint32_t vlen)
{
    wt_t *w = ud;
    char tmp[64];
    snprintf(tmp, sizeof tmp, "%.*s=%.*s,", (int)klen, (const char *)k,
             (int)vlen, (const char *)v);
    strncat(w->text, tmp, sizeof w->text - strlen(w->text) - 1);
    if (w->to != NULL)
        assert_int_equal(cf_opstate_restore_put(w->cur, k, klen, v, vlen),
                         CF_OK);
    return 0;
}

static int
wt_stop(void *ud, const void *data, uint32_t len)
{
    (void)ud;
    (void)data;
    (void)len;
    return -77;
}

static void
test_snapshot(void **unused)
{
    cf_opstate_backend_t *o = cf_opstate_backend_new(&api);
    cf_state_t *l = cf_opstate_register(o, "pos", CF_OPSTATE_MODE_SPLIT, NULL);
    cf_state_t *u = cf_opstate_register(o, "u", CF_OPSTATE_MODE_UNION, NULL);
    cf_state_t *m = cf_opstate_register(o, "b", CF_OPSTATE_MODE_BROADCAST,
                                        NULL);
    cf_opstate_snapshot_t *s;
    cf_opstate_backend_t *to;
    wt_t *w = calloc(1, sizeof *w), *w2 = calloc(1, sizeof *w2);
    (void)unused;

    (void)cf_opstate_register(o, "empty", CF_OPSTATE_MODE_SPLIT, NULL);
    add_str(l, "p0");
    add_str(l, "p1");
    add_str(l, "");
    add_str(u, "all");
    assert_int_equal(cf_kstate_map_put(m, "r", 1, "1", 1), CF_OK);
    s = cf_opstate_snapshot(o);
    assert_int_equal(cf_opstate_snapshot_count(s), 4);
    /* Changes after the snapshot do not show in it. */
    add_str(l, "p2");
    assert_int_equal(cf_kstate_clear(u), CF_OK);
    assert_int_equal(cf_kstate_map_put(m, "r", 1, "changed", 7), CF_OK);
    assert_int_equal(cf_kstate_map_put(m, "s", 1, "2", 1), CF_OK);
    /* The backend may go before the snapshot (written on another
     * thread). */
    cf_opstate_backend_destroy(o);

    assert_int_equal(cf_opstate_snapshot_walk(s, wt_state, wt_item, wt_entry,
                                              w),
                     CF_OK);
    assert_string_equal(w->text,
                        "pos/0/3:p0,p1,,u/1/1:all,b/2/1:r=1,empty/0/0:");
    assert_int_equal(cf_opstate_snapshot_walk(s, NULL, wt_stop, NULL, NULL),
                     -77);

    /* Restore into a new backend, then snapshot that: the same. */
    to = cf_opstate_backend_new(&api);
    w2->to = to;
    assert_int_equal(cf_opstate_snapshot_walk(s, wt_state, wt_item, wt_entry,
                                              w2),
                     CF_OK);
    cf_opstate_snapshot_free(s);
    {
        cf_state_t *pos = cf_opstate_register(to, "pos",
                                              CF_OPSTATE_MODE_SPLIT, NULL);
        cf_state_t *bb = cf_opstate_register(to, "b", CF_OPSTATE_MODE_BROADCAST,
                                             NULL);
        wt_t *w3 = calloc(1, sizeof *w3);
        assert_int_equal(cf_opstate_restore_put(pos, "k", 1, "v", 1),
                         CF_EINVAL);
        assert_int_equal(cf_opstate_restore_add(bb, "k", 1), CF_EINVAL);
        s = cf_opstate_snapshot(to);
        assert_int_equal(cf_opstate_snapshot_walk(s, wt_state, wt_item,
                                                  wt_entry, w3),
                         CF_OK);
        assert_string_equal(w3->text, w->text);
        cf_opstate_snapshot_free(s);
        free(w3);
    }
    cf_opstate_backend_destroy(to);
    free(w);
    free(w2);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_register),
        cmocka_unit_test(test_accessors),
        cmocka_unit_test(test_snapshot),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
