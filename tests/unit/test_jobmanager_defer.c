/*
 * test_jobmanager_defer.c: deferred REST answers (cf_rest_defer,
 * cf_rest_complete, cf_rest_complete_raw in src/jobmanager/rest.c) on a
 * real cf_rest_t served by a loop thread, with libcurl clients:
 *   - completed later from a loop timer (JSON and text bodies),
 *   - completed inside the deferring handler,
 *   - not completed in time: 504 naming what was awaited, and the late
 *     completion dropped (no use of the finished request: ASan),
 *   - other requests answered while one is suspended,
 *   - the server destroyed with a request suspended: 503, the pending
 *     object freed by the caller's late completion (LeakSanitizer).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "config.h"
#include "core.h"
#include "loop.h"
#include "rest.h"

static cf_loop_t *loop;
static cf_config_t *cfg;
static cf_rest_t *rest;
static pthread_t loop_thread;
static int port;
static atomic_int held_ready;
static cf_rest_pending_t *held; /* loop thread only */
static atomic_int late_done;

static void *
loop_main(void *arg)
{
    (void)arg;
    cf_loop_run(loop);
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Handlers                                                            */
/* ------------------------------------------------------------------ */

static void
complete_json_cb(void *arg)
{
    cf_rest_complete(arg, 200, json_pack("{s:s}", "answer", "later"));
}

static void
complete_raw_cb(void *arg)
{
    char *s = strdup("plain text answer\n");
    cf_rest_complete_raw(arg, 200, "text/plain; charset=UTF-8", s, strlen(s));
}

static json_t *
h_later(cf_rest_req_t *req, void *arg, int *status)
{
    cf_rest_pending_t *p = cf_rest_defer(req, 5000, "the test timer");

    (void)arg;
    (void)status;
    cf_loop_timer(loop, 100, 0, complete_json_cb, p);
    return NULL;
}

static json_t *
h_raw(cf_rest_req_t *req, void *arg, int *status)
{
    cf_rest_pending_t *p = cf_rest_defer(req, 5000, "the test timer");

    (void)arg;
    (void)status;
    cf_loop_timer(loop, 50, 0, complete_raw_cb, p);
    return NULL;
}

static json_t *
h_now(cf_rest_req_t *req, void *arg, int *status)
{
    cf_rest_pending_t *p = cf_rest_defer(req, 5000, "nothing");

    (void)arg;
    *status = 999; /* ignored once deferred */
    cf_rest_complete(p, 404, json_pack("{s:[s]}", "errors", "inline"));
    return json_pack("{s:s}", "ignored", "yes");
}

static void
late_cb(void *arg)
{
    assert_int_equal(cf_rest_pending_alive(arg), 0);
    cf_rest_complete(arg, 200, json_pack("{s:s}", "too", "late"));
    atomic_store(&late_done, 1);
}

static json_t *
h_slow(cf_rest_req_t *req, void *arg, int *status)
{
    cf_rest_pending_t *p = cf_rest_defer(req, 200, "TaskManager tm-x");

    (void)arg;
    (void)status;
    assert_int_equal(cf_rest_pending_alive(p), 1);
    cf_loop_timer(loop, 600, 0, late_cb, p); /* after the 504 */
    return NULL;
}

static json_t *
h_hold(cf_rest_req_t *req, void *arg, int *status)
{
    (void)arg;
    (void)status;
    held = cf_rest_defer(req, 60000, "the held answer");
    atomic_store(&held_ready, 1);
    return NULL;
}

static json_t *
h_quick(cf_rest_req_t *req, void *arg, int *status)
{
    (void)req;
    (void)arg;
    *status = 200;
    return json_pack("{s:i}", "pending", cf_rest_pending_count(rest));
}

/* ------------------------------------------------------------------ */
/* HTTP                                                                */
/* ------------------------------------------------------------------ */

typedef struct resp_s {
    long status;
    cf_sbuf_t body;
    char ctype[128];
    double seconds;
} resp_t;

static size_t
on_body(char *p, size_t sz, size_t n, void *ud)
{
    resp_t *r = ud;
    cf_sbuf_appendn(&r->body, p, sz * n);
    return sz * n;
}

static void
http_get(const char *path, resp_t *r, long timeout_s)
{
    CURL *c = curl_easy_init();
    char url[512];
    char *ct = NULL;

    memset(r, 0, sizeof *r);
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout_s);
    if (curl_easy_perform(c) == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
        curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
        if (ct != NULL)
            snprintf(r->ctype, sizeof r->ctype, "%s", ct);
        curl_easy_getinfo(c, CURLINFO_TOTAL_TIME, &r->seconds);
    }
    curl_easy_cleanup(c);
    if (r->body.s == NULL)
        cf_sbuf_append(&r->body, "");
}

static json_t *
body_json(const resp_t *r)
{
    json_t *j = json_loads(r->body.s, 0, NULL);
    assert_non_null(j);
    return j;
}

static int
pending_now(void)
{
    resp_t r;
    json_t *j;
    int n;

    http_get("/quick", &r, 5);
    assert_int_equal(r.status, 200);
    j = body_json(&r);
    n = (int)json_integer_value(json_object_get(j, "pending"));
    json_decref(j);
    cf_sbuf_deinit(&r.body);
    return n;
}

/* ------------------------------------------------------------------ */
/* Tests                                                               */
/* ------------------------------------------------------------------ */

static void
test_later(void **state)
{
    resp_t r;
    json_t *j;

    (void)state;
    http_get("/later", &r, 5);
    assert_int_equal(r.status, 200);
    assert_true(r.seconds >= 0.09);
    assert_string_equal(r.ctype, "application/json; charset=UTF-8");
    j = body_json(&r);
    assert_string_equal(json_string_value(json_object_get(j, "answer")),
                        "later");
    json_decref(j);
    cf_sbuf_deinit(&r.body);
    assert_int_equal(pending_now(), 0);
}

static void
test_raw(void **state)
{
    resp_t r;

    (void)state;
    http_get("/raw", &r, 5);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.ctype, "text/plain; charset=UTF-8");
    assert_string_equal(r.body.s, "plain text answer\n");
    cf_sbuf_deinit(&r.body);
}

static void
test_inline(void **state)
{
    resp_t r;
    json_t *j;

    (void)state;
    http_get("/now", &r, 5);
    assert_int_equal(r.status, 404);
    j = body_json(&r);
    assert_string_equal(
        json_string_value(json_array_get(json_object_get(j, "errors"), 0)),
        "inline");
    assert_null(json_object_get(j, "ignored"));
    json_decref(j);
    cf_sbuf_deinit(&r.body);
    assert_int_equal(pending_now(), 0);
}

/* Several deferred requests at once, and a quick one meanwhile. */
typedef struct par_s {
    resp_t r;
    pthread_t t;
} par_t;

static void *
par_main(void *arg)
{
    par_t *p = arg;
    http_get("/later", &p->r, 5);
    return NULL;
}

static void
test_concurrent(void **state)
{
    par_t ps[4];

    (void)state;
    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&ps[i].t, NULL, par_main, &ps[i]), 0);
    usleep(30000);
    /* The loop is not blocked by the suspended requests. */
    assert_true(pending_now() >= 0);
    for (int i = 0; i < 4; i++) {
        pthread_join(ps[i].t, NULL);
        assert_int_equal(ps[i].r.status, 200);
        cf_sbuf_deinit(&ps[i].r.body);
    }
}

static void
test_timeout(void **state)
{
    resp_t r;
    json_t *j;

    (void)state;
    atomic_store(&late_done, 0);
    http_get("/slow", &r, 5);
    assert_int_equal(r.status, 504);
    assert_true(r.seconds >= 0.19 && r.seconds < 2.0);
    j = body_json(&r);
    assert_string_equal(
        json_string_value(json_array_get(json_object_get(j, "errors"), 0)),
        "Timed out after 200 ms waiting for TaskManager tm-x.");
    json_decref(j);
    cf_sbuf_deinit(&r.body);
    /* The late completion runs and is dropped. */
    for (int i = 0; i < 200 && !atomic_load(&late_done); i++)
        usleep(10000);
    assert_int_equal(atomic_load(&late_done), 1);
    assert_int_equal(pending_now(), 0);
}

static void *
hold_main(void *arg)
{
    http_get("/hold", arg, 20);
    return NULL;
}

static void
destroy_cb(void *arg)
{
    (void)arg;
    cf_rest_destroy(rest);
    rest = NULL;
    /* The caller completes after the server is gone: dropped, freed. */
    assert_int_equal(cf_rest_pending_alive(held), 0);
    cf_rest_complete(held, 200, json_pack("{s:s}", "after", "shutdown"));
    held = NULL;
}

/* Last: the server goes away with a request suspended. */
static void
test_shutdown(void **state)
{
    resp_t r;
    pthread_t t;

    (void)state;
    assert_int_equal(pthread_create(&t, NULL, hold_main, &r), 0);
    for (int i = 0; i < 500 && !atomic_load(&held_ready); i++)
        usleep(10000);
    assert_int_equal(atomic_load(&held_ready), 1);
    cf_loop_post(loop, destroy_cb, NULL);
    pthread_join(t, NULL);
    assert_int_equal(r.status, 503);
    assert_non_null(strstr(r.body.s, "shutting down"));
    cf_sbuf_deinit(&r.body);
}

/* ------------------------------------------------------------------ */

static int
setup_all(void **state)
{
    cf_error_t *err = NULL;

    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    cfg = cf_config_new();
    if (cf_config_set(cfg, "rest.bind-address", "127.0.0.1", "test", &err) ||
        cf_config_set(cfg, "rest.bind-port", "0", "test", &err)) {
        fprintf(stderr, "config: %s\n", cf_error_msg(err));
        return -1;
    }
    loop = cf_loop_new("defer-test");
    rest = cf_rest_new(loop, cfg, NULL, &err);
    if (rest == NULL) {
        fprintf(stderr, "rest: %s\n", cf_error_msg(err));
        return -1;
    }
    port = cf_rest_port(rest);
    cf_rest_route(rest, "GET", "/later", h_later, NULL);
    cf_rest_route(rest, "GET", "/raw", h_raw, NULL);
    cf_rest_route(rest, "GET", "/now", h_now, NULL);
    cf_rest_route(rest, "GET", "/slow", h_slow, NULL);
    cf_rest_route(rest, "GET", "/hold", h_hold, NULL);
    cf_rest_route(rest, "GET", "/quick", h_quick, NULL);
    if (pthread_create(&loop_thread, NULL, loop_main, NULL) != 0)
        return -1;
    return 0;
}

static int
teardown_all(void **state)
{
    (void)state;
    cf_loop_stop_async(loop);
    pthread_join(loop_thread, NULL);
    cf_rest_destroy(rest);
    cf_loop_destroy(loop);
    cf_config_destroy(cfg);
    curl_global_cleanup();
    return 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_later),   cmocka_unit_test(test_raw),
        cmocka_unit_test(test_inline),  cmocka_unit_test(test_concurrent),
        cmocka_unit_test(test_timeout), cmocka_unit_test(test_shutdown),
    };
    return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
