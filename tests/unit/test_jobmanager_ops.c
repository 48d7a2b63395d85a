/*
 * test_jobmanager_ops.c: the JobManager's operational REST endpoints
 * (src/jobmanager/rest_ops.c) served for real: a cf_rest_t on a loop
 * thread with only cf_rest_ops_register's routes, requests with libcurl.
 * Covers each endpoint's JSON shape (environment, logs listing, thread
 * dump, job config, log URLs), the text bodies of log/stdout/logs/:name
 * (content type, the tail when a file exceeds the limit, 404 with
 * {"errors"} when absent) and the file name checks: "..", "%2e%2e",
 * "%252f", absolute paths, symlinks and names not in the listing.
 *
 * The Dispatcher is replaced by a fake cf_dispatcher_find_job (the static
 * library's dispatcher.o is then not linked) that knows one job.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "config.h"
#include "core.h"
#include "jobmanager_int.h"
#include "loop.h"
#include "rest.h"

/* Present once rest.c can send text bodies. */

#define JOB_HEX "0123456789abcdef0123456789abcdef"
#define MAX_LEN 4096

static char tmp_dir[] = "/tmp/cf-test-ops-XXXXXX";
static char log_dir[600];
static char log_path[700];
static cf_loop_t *loop;
static cf_config_t *cfg;
static cf_config_t *job_cfg;
static cf_jm_t jm;
static cf_jobmaster_t job;
static pthread_t loop_thread;
static int port;

/* The fake Dispatcher: one job. */
cf_jobmaster_t *
cf_dispatcher_find_job(cf_dispatcher_t *d, const cf_id_t *job_id)
{
    (void)d;
    return cf_id_equal(job_id, &job.job_id) ? &job : NULL;
}

static void *
loop_main(void *arg)
{
    (void)arg;
    cf_loop_run(loop);
    return NULL;
}

static void
write_file(const char *dir, const char *name, const char *text)
{
    char path[900];
    FILE *f;

    snprintf(path, sizeof path, "%s/%s", dir, name);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int
setup_all(void **state)
{
    cf_error_t *err = NULL;
    char path[900], big[MAX_LEN + 1024];

    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (mkdtemp(tmp_dir) == NULL)
        return -1;
    snprintf(log_dir, sizeof log_dir, "%s/log", tmp_dir);
    mkdir(log_dir, 0755);
    snprintf(log_path, sizeof log_path, "%s/cflink-jm.log", log_dir);
    write_file(log_dir, "cflink-jm.log", "INFO Starting StandaloneSession\n");
    write_file(log_dir, "cflink-jm.out", "printed to stdout\n");
    write_file(log_dir, "gc.log", "older log\n");
    /* Over the limit: only the last MAX_LEN bytes are sent. */
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    memcpy(big + sizeof big - 5, "END", 4);
    write_file(log_dir, "big.log", big);
    snprintf(path, sizeof path, "%s/sub", log_dir);
    mkdir(path, 0755);
    write_file(tmp_dir, "secret.txt", "TOP SECRET");
    snprintf(path, sizeof path, "%s/link.log", log_dir);
    {
        char target[900];
        snprintf(target, sizeof target, "%s/secret.txt", tmp_dir);
        if (symlink(target, path) != 0)
            return -1;
    }

    cfg = cf_config_new();
    if (cf_config_set(cfg, "rest.bind-address", "127.0.0.1", "test", &err) ||
        cf_config_set(cfg, "rest.bind-port", "0", "test", &err) ||
        cf_config_set(cfg, "rest.address", "jm.example", "test", &err) ||
        cf_config_set(cfg, "rest.server.max-content-length", "4096", "test",
                      &err) ||
        cf_config_set(cfg, "web.log.path", log_path, "test", &err)) {
        fprintf(stderr, "config: %s\n", cf_error_msg(err));
        return -1;
    }
    job_cfg = cf_config_new();
    if (cf_config_set(job_cfg, "parallelism.default", "3", "test", &err) ||
        cf_config_set(job_cfg, "s3.secret-key", "hunter2", "test", &err)) {
        fprintf(stderr, "config: %s\n", cf_error_msg(err));
        return -1;
    }
    cf_id_from_hex(&job.job_id, JOB_HEX);
    snprintf(job.job_id_hex, sizeof job.job_id_hex, "%s", JOB_HEX);
    job.job_cfg = job_cfg;

    loop = cf_loop_new("ops-test");
    jm.loop = loop;
    jm.cfg = cfg;
    jm.work_dir = tmp_dir;
    jm.dispatcher = (cf_dispatcher_t *)&job; /* only passed to the fake */
    jm.rest = cf_rest_new(loop, cfg, tmp_dir, &err);
    if (jm.rest == NULL) {
        fprintf(stderr, "rest: %s\n", cf_error_msg(err));
        return -1;
    }
    port = cf_rest_port(jm.rest);
    cf_rest_ops_register(&jm);
    if (pthread_create(&loop_thread, NULL, loop_main, NULL) != 0)
        return -1;
    return 0;
}

static int
teardown_all(void **state)
{
    char cmd[700];

    (void)state;
    cf_loop_stop_async(loop);
    pthread_join(loop_thread, NULL);
    cf_rest_destroy(jm.rest);
    cf_loop_destroy(loop);
    cf_config_destroy(cfg);
    cf_config_destroy(job_cfg);
    curl_global_cleanup();
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ------------------------------------------------------------------ */
/* HTTP                                                                */
/* ------------------------------------------------------------------ */

typedef struct resp_s {
    long status;
    cf_sbuf_t body;
    char ctype[128];
} resp_t;

static size_t
on_body(char *p, size_t sz, size_t n, void *ud)
{
    resp_t *r = ud;
    cf_sbuf_appendn(&r->body, p, sz * n);
    return sz * n;
}

static size_t
on_header(char *p, size_t sz, size_t n, void *ud)
{
    resp_t *r = ud;
    size_t len = sz * n;
    static const char ct[] = "content-type:";

    if (len > sizeof ct - 1 && strncasecmp(p, ct, sizeof ct - 1) == 0) {
        const char *v = p + sizeof ct - 1;
        size_t vl = len - (sizeof ct - 1);
        while (vl > 0 && *v == ' ')
            v++, vl--;
        while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == '\n'))
            vl--;
        if (vl > sizeof r->ctype - 1)
            vl = sizeof r->ctype - 1;
        memcpy(r->ctype, v, vl);
        r->ctype[vl] = '\0';
    }
    return len;
}

/* GET path as sent (no normalisation by curl). */
static void
get(const char *path, resp_t *r)
{
    CURL *c = curl_easy_init();
    char url[1024];

    memset(r, 0, sizeof *r);
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_cleanup(c);
}

static json_t *
get_json(const char *path, long want_status)
{
    resp_t r;
    json_t *j;

    get(path, &r);
    if (r.status != want_status)
        fprintf(stderr, "%s: %ld %s\n", path, r.status,
                r.body.s ? r.body.s : "");
    assert_int_equal(r.status, want_status);
    assert_true(strncmp(r.ctype, "application/json", 16) == 0);
    j = json_loadb(r.body.s ? r.body.s : "", r.body.len, 0, NULL);
    assert_non_null(j);
    cf_sbuf_deinit(&r.body);
    return j;
}

/* An error body: {"errors":[non-empty string]} with the status. */
static void
expect_error(const char *path, long want_status)
{
    json_t *j = get_json(path, want_status);
    json_t *e = json_object_get(j, "errors");

    assert_true(json_is_array(e));
    assert_int_equal(json_array_size(e), 1);
    assert_true(json_is_string(json_array_get(e, 0)));
    assert_true(strlen(json_string_value(json_array_get(e, 0))) > 0);
    assert_int_equal(json_object_size(j), 1);
    json_decref(j);
}

/* ------------------------------------------------------------------ */
/* Tests                                                               */
/* ------------------------------------------------------------------ */

static void
test_environment(void **state)
{
    const char *paths[] = {"/jobmanager/environment",
                           "/v1/jobs/" JOB_HEX "/jobmanager/environment"};

    (void)state;
    for (size_t i = 0; i < 2; i++) {
        json_t *j = get_json(paths[i], 200), *jvm = json_object_get(j, "jvm");
        json_t *opts = json_object_get(jvm, "options");

        assert_true(json_is_object(jvm));
        assert_non_null(strstr(json_string_value(json_object_get(
                                   jvm, "version")),
                               "cflink"));
        assert_true(json_is_string(json_object_get(jvm, "arch")));
        assert_true(strlen(json_string_value(json_object_get(jvm, "arch"))) >
                    0);
        /* The process's argv: this program's name first. */
        assert_true(json_is_array(opts));
        assert_true(json_array_size(opts) >= 1);
        assert_non_null(strstr(json_string_value(json_array_get(opts, 0)),
                               "test_jobmanager_ops"));
        assert_true(json_is_array(json_object_get(j, "classpath")));
        json_decref(j);
    }
    expect_error("/jobs/ffffffffffffffffffffffffffffffff/jobmanager/"
                 "environment",
                 404);
    expect_error("/jobs/nothex/jobmanager/environment", 400);
}

static void
test_logs_listing(void **state)
{
    json_t *j = get_json("/jobmanager/logs", 200);
    json_t *logs = json_object_get(j, "logs");
    const char *want[] = {"big.log", "cflink-jm.log", "cflink-jm.out",
                          "gc.log"};

    (void)state;
    /* Regular files only (no "sub" directory, no symlink), sorted. */
    assert_true(json_is_array(logs));
    assert_int_equal(json_array_size(logs), 4);
    for (size_t i = 0; i < 4; i++) {
        json_t *e = json_array_get(logs, i);
        assert_string_equal(json_string_value(json_object_get(e, "name")),
                            want[i]);
        assert_true(json_is_integer(json_object_get(e, "size")));
        assert_true(json_is_integer(json_object_get(e, "mtime")));
        /* Milliseconds since the epoch: after 2020. */
        assert_true(json_integer_value(json_object_get(e, "mtime")) >
                    1577836800000LL);
        assert_int_equal(json_object_size(e), 3);
    }
    assert_int_equal(
        json_integer_value(json_object_get(json_array_get(logs, 3), "size")),
        10);
    json_decref(j);
}

static void
expect_text(const char *path, const char *want)
{
    resp_t r;

    get(path, &r);
    assert_int_equal(r.status, 200);
    assert_true(strncmp(r.ctype, "text/plain", 10) == 0);
    assert_non_null(r.body.s);
    assert_string_equal(r.body.s, want);
    cf_sbuf_deinit(&r.body);
}

static void
test_log_and_stdout(void **state)
{
    resp_t r;

    (void)state;
    expect_text("/jobmanager/log", "INFO Starting StandaloneSession\n");
    expect_text("/jobmanager/stdout", "printed to stdout\n");
    expect_text("/jobmanager/logs/gc.log", "older log\n");
    expect_text("/jobmanager/logs/cflink-jm.out", "printed to stdout\n");
    /* Over rest.server.max-content-length: the tail. */
    get("/jobmanager/logs/big.log", &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body.len, MAX_LEN);
    assert_int_equal(r.body.s[0], 'a');
    assert_string_equal(r.body.s + r.body.len - 4, "aEND");
    cf_sbuf_deinit(&r.body);
}

static void
test_missing_files(void **state)
{
    char path[900];

    (void)state;
    snprintf(path, sizeof path, "%s/cflink-jm.out", log_dir);
    rename(path, "/tmp/cf-test-ops-moved.out");
    expect_error("/jobmanager/stdout", 404);
    rename("/tmp/cf-test-ops-moved.out", path);
    expect_error("/jobmanager/logs/nope.log", 404);
}

static void
test_bad_file_names(void **state)
{
    /* Each is refused with 400 (not a plain name) or 404 (router: more
     * segments, or a name not in the listing), always with {"errors"}. */
    static const struct {
        const char *path;
        long status;
    } cases[] = {
        {"/jobmanager/logs/..", 400},
        {"/jobmanager/logs/%2e%2e", 400},             /* ".." after decoding */
        {"/jobmanager/logs/%2E%2E", 400},
        {"/jobmanager/logs/..%2f..%2fsecret.txt", 404}, /* "/" splits */
        {"/jobmanager/logs/..%252f..%252fsecret.txt", 400}, /* "%2f" left */
        {"/jobmanager/logs/%252e%252e", 400},
        {"/jobmanager/logs/..%5csecret.txt", 400},     /* backslash */
        {"/jobmanager/logs/%2fetc%2fpasswd", 404},     /* absolute */
        {"/jobmanager/logs/link.log", 404},            /* symlink: unlisted */
        {"/jobmanager/logs/sub", 404},                 /* directory */
        {"/jobmanager/logs/secret.txt", 404},          /* outside */
        {"/jobmanager/logs/gc.log%00.txt", 400},       /* literal %00 */
        {"/jobmanager/logs/a%0ab", 400},               /* control char */
        {"/jobmanager/logs/.", 400},
    };

    (void)state;
    for (size_t i = 0; i < CF_ARRAY_LEN(cases); i++) {
        json_t *j;
        resp_t r;

        get(cases[i].path, &r);
        if (r.status != cases[i].status)
            fprintf(stderr, "%s: %ld %s\n", cases[i].path, r.status,
                    r.body.s ? r.body.s : "");
        assert_int_equal(r.status, cases[i].status);
        assert_null(strstr(r.body.s ? r.body.s : "", "TOP SECRET"));
        j = json_loadb(r.body.s ? r.body.s : "", r.body.len, 0, NULL);
        assert_non_null(j);
        assert_true(json_is_array(json_object_get(j, "errors")));
        json_decref(j);
        cf_sbuf_deinit(&r.body);
    }
}

static void
test_thread_dump(void **state)
{
    json_t *j = get_json("/jobmanager/thread-dump", 200);
    json_t *t = json_object_get(j, "threadInfos");
    int saw_loop = 0;

    (void)state;
    assert_true(json_is_array(t));
    /* The test's main thread and the loop thread at least. */
    assert_true(json_array_size(t) >= 2);
    for (size_t i = 0; i < json_array_size(t); i++) {
        json_t *e = json_array_get(t, i);
        const char *name = json_string_value(json_object_get(e, "threadName"));
        const char *info =
            json_string_value(json_object_get(e, "stringifiedThreadInfo"));
        char head[128];

        assert_non_null(name);
        assert_non_null(info);
        assert_int_equal(json_object_size(e), 2);
        snprintf(head, sizeof head, "\"%s\" Id=", name);
        assert_true(strncmp(info, head, strlen(head)) == 0);
        saw_loop |= strstr(info, "RUNNABLE") != NULL ||
                    strstr(info, "WAITING") != NULL;
    }
    assert_true(saw_loop);
    json_decref(j);
}

static void
test_job_config(void **state)
{
    json_t *j = get_json("/jobs/" JOB_HEX "/jobmanager/config", 200);
    int saw_par = 0, saw_secret = 0;

    (void)state;
    assert_true(json_is_array(j));
    for (size_t i = 0; i < json_array_size(j); i++) {
        json_t *e = json_array_get(j, i);
        const char *k = json_string_value(json_object_get(e, "key"));
        const char *v = json_string_value(json_object_get(e, "value"));
        assert_non_null(k);
        assert_non_null(v);
        assert_int_equal(json_object_size(e), 2);
        if (strcmp(k, "parallelism.default") == 0) {
            assert_string_equal(v, "3");
            saw_par = 1;
        }
        if (strcmp(k, "s3.secret-key") == 0) {
            assert_string_equal(v, "******");
            saw_secret = 1;
        }
        /* The job's configuration, not the cluster's. */
        assert_string_not_equal(k, "web.log.path");
    }
    assert_true(saw_par && saw_secret);
    json_decref(j);
    expect_error("/jobs/" JOB_HEX "0/jobmanager/config", 400);
    expect_error("/jobs/%2e%2e/jobmanager/config", 400);
    expect_error("/jobs/00000000000000000000000000000000/jobmanager/config",
                 404);
    /* Wrong method: the router's 405. */
    {
        CURL *c = curl_easy_init();
        char url[256];
        long st = 0;
        resp_t r;
        memset(&r, 0, sizeof r);
        snprintf(url, sizeof url,
                 "http://127.0.0.1:%d/jobs/" JOB_HEX "/jobmanager/config",
                 port);
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "DELETE");
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &r);
        assert_int_equal(curl_easy_perform(c), CURLE_OK);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &st);
        curl_easy_cleanup(c);
        assert_int_equal(st, 405);
        assert_non_null(strstr(r.body.s, "\"errors\""));
        cf_sbuf_deinit(&r.body);
    }
}

static void
test_log_urls(void **state)
{
    char want[256];
    json_t *j;

    (void)state;
    j = get_json("/jobs/" JOB_HEX "/jobmanager/log-url", 200);
    snprintf(want, sizeof want, "http://jm.example:%d/#/job-manager/logs",
             port);
    assert_string_equal(json_string_value(json_object_get(j, "url")), want);
    assert_int_equal(json_object_size(j), 1);
    json_decref(j);

    j = get_json("/jobs/" JOB_HEX "/taskmanagers/tm-1.host_2:6122/log-url",
                 200);
    snprintf(want, sizeof want,
             "http://jm.example:%d/#/task-manager/tm-1.host_2:6122/logs",
             port);
    assert_string_equal(json_string_value(json_object_get(j, "url")), want);
    json_decref(j);

    expect_error("/jobs/" JOB_HEX "/taskmanagers/a%252fb/log-url", 400);
    expect_error("/jobs/" JOB_HEX "/taskmanagers/%3cscript%3e/log-url", 400);
    expect_error("/jobs/nothex/jobmanager/log-url", 400);
    expect_error("/jobs/00000000000000000000000000000000/jobmanager/log-url",
                 404);
    expect_error("/jobs/00000000000000000000000000000000/taskmanagers/tm/"
                 "log-url",
                 404);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_environment),
        cmocka_unit_test(test_logs_listing),
        cmocka_unit_test(test_log_and_stdout),
        cmocka_unit_test(test_missing_files),
        cmocka_unit_test(test_bad_file_names),
        cmocka_unit_test(test_thread_dump),
        cmocka_unit_test(test_job_config),
        cmocka_unit_test(test_log_urls),
    };
    return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
