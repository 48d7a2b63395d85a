/*
 * test_jobmanager_rest.c: the JobManager's HTTP server plumbing
 * (src/jobmanager/rest.c) driven for real: the server runs on a cf_loop
 * in a thread, the test thread sends requests with libcurl (and a raw
 * socket for the slow client). Covers routing (parameters, /v1, trailing
 * slash, literal over parameter), query arguments, 404/405 bodies, JSON
 * bodies, the content length limit (by Content-Length and while
 * streaming chunked bodies), multipart uploads with hostile names, static
 * files and path traversal, malformed input and idle connections.
 * Also the bodies of the task metric endpoints (watermarks, vertex,
 * subtask and aggregated subtask metrics) over subtasks whose event-time
 * figures come through cf_jobmaster_update_counters, and their wire form.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "config.h"
#include "core.h"
#include "jobmanager_int.h"
#include "jm_fixture.h"
#include "loop.h"
#include "rest.h"
#include "rest_checkpoints.h"

#define MAX_LEN 65536

/* ------------------------------------------------------------------ */
/* Fixture: a server on a loop thread                                  */
/* ------------------------------------------------------------------ */

static char tmp_dir[] = "/tmp/cf-test-rest-XXXXXX";
static char upload_dir[512];
static char static_dir[512];
static cf_loop_t *loop;
static cf_rest_t *rest;
static cf_config_t *cfg;
static pthread_t loop_thread;
static int port;
static char log_text[4096];

/* What the last handler call saw (written on the loop thread). */
static pthread_mutex_t seen_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
    int calls;
    char route[64];
    char method[16];
    char path[256];
    char params[CF_REST_MAX_PARAMS][64];
    int nparams;
    char *body;
    size_t body_len;
    char upload_path[512];
    char upload_name[256];
    int has_upload;
    char query_q[64];
    int has_query_q;
} seen;

static json_t *
record(cf_rest_req_t *req, const char *route)
{
    const char *q;

    pthread_mutex_lock(&seen_mu);
    seen.calls++;
    snprintf(seen.route, sizeof seen.route, "%s", route);
    snprintf(seen.method, sizeof seen.method, "%s", req->method);
    snprintf(seen.path, sizeof seen.path, "%s", req->path);
    seen.nparams = req->nparams;
    for (int i = 0; i < req->nparams; i++)
        snprintf(seen.params[i], sizeof seen.params[i], "%s", req->params[i]);
    free(seen.body);
    seen.body = malloc(req->body_len + 1);
    memcpy(seen.body, req->body, req->body_len + 1);
    seen.body_len = req->body_len;
    seen.has_upload = req->upload_path != NULL;
    snprintf(seen.upload_path, sizeof seen.upload_path, "%s",
             req->upload_path ? req->upload_path : "");
    snprintf(seen.upload_name, sizeof seen.upload_name, "%s",
             req->upload_name ? req->upload_name : "");
    q = cf_rest_query(req, "q");
    seen.has_query_q = q != NULL;
    snprintf(seen.query_q, sizeof seen.query_q, "%s", q ? q : "");
    pthread_mutex_unlock(&seen_mu);
    return json_pack("{s:s}", "route", route);
}

static json_t *
h_job(cf_rest_req_t *req, void *arg, int *status)
{
    (void)arg;
    (void)status;
    return record(req, "job");
}

static json_t *
h_overview(cf_rest_req_t *req, void *arg, int *status)
{
    (void)arg;
    (void)status;
    return record(req, "overview");
}

static json_t *
h_plan(cf_rest_req_t *req, void *arg, int *status)
{
    (void)arg;
    (void)status;
    return record(req, "plan");
}

static json_t *
h_vertex(cf_rest_req_t *req, void *arg, int *status)
{
    (void)arg;
    (void)status;
    return record(req, "vertex");
}

static json_t *
h_cancel(cf_rest_req_t *req, void *arg, int *status)
{
    (void)arg;
    *status = 202;
    json_decref(record(req, "cancel"));
    return json_object();
}

static json_t *
h_echo(cf_rest_req_t *req, void *arg, int *status)
{
    json_t *in;

    (void)arg;
    json_decref(record(req, "echo"));
    in = json_loadb(req->body, req->body_len, 0, NULL);
    if (in == NULL)
        return cf_rest_error(status, 400, "Bad JSON in %s.", req->path);
    *status = 201;
    return json_pack("{s:o}", "got", in);
}

static json_t *
h_upload(cf_rest_req_t *req, void *arg, int *status)
{
    (void)arg;
    (void)status;
    return record(req, "upload");
}

static json_t *
h_empty(cf_rest_req_t *req, void *arg, int *status)
{
    (void)arg;
    json_decref(record(req, "empty"));
    *status = 204;
    return NULL;
}

static void *
loop_main(void *arg)
{
    (void)arg;
    cf_loop_run(loop);
    return NULL;
}

static void
write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int
setup_all(void **state)
{
    cf_error_t *err = NULL;
    char path[600];
    int logfd;
    ssize_t n;

    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (mkdtemp(tmp_dir) == NULL)
        return -1;
    snprintf(upload_dir, sizeof upload_dir, "%s/up/load", tmp_dir);
    snprintf(static_dir, sizeof static_dir, "%s/web", tmp_dir);
    mkdir(static_dir, 0755);
    snprintf(path, sizeof path, "%s/sub", static_dir);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/index.html", static_dir);
    write_text(path, "<html>cflink</html>");
    snprintf(path, sizeof path, "%s/app.js", static_dir);
    write_text(path, "var x = 1;");
    snprintf(path, sizeof path, "%s/sub/index.html", static_dir);
    write_text(path, "sub index");
    snprintf(path, sizeof path, "%s/secret.txt", tmp_dir);
    write_text(path, "TOP SECRET");
    {
        char link[600];
        snprintf(link, sizeof link, "%s/leak.txt", static_dir);
        if (symlink(path, link) != 0)
            return -1;
    }

    cfg = cf_config_new();
    if (cf_config_set(cfg, "rest.bind-address", "127.0.0.1", "test", &err) !=
            0 ||
        cf_config_set(cfg, "rest.bind-port", "0", "test", &err) != 0 ||
        cf_config_set(cfg, "rest.server.max-content-length", "65536", "test",
                      &err) != 0 ||
        cf_config_set(cfg, "rest.idleness-timeout", "1 s", "test", &err) != 0) {
        fprintf(stderr, "config: %s\n", cf_error_msg(err));
        return -1;
    }

    /* Capture the start-up log line. */
    snprintf(path, sizeof path, "%s/log.txt", tmp_dir);
    logfd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (logfd < 0)
        return -1;
    cf_log_set_fd(logfd);
    loop = cf_loop_new("rest-test");
    rest = cf_rest_new(loop, cfg, upload_dir, &err);
    cf_log_set_fd(2);
    n = pread(logfd, log_text, sizeof log_text - 1, 0);
    log_text[n > 0 ? n : 0] = '\0';
    close(logfd);
    if (rest == NULL) {
        fprintf(stderr, "rest: %s\n", cf_error_msg(err));
        return -1;
    }
    port = cf_rest_port(rest);

    cf_rest_route(rest, "GET", "/jobs/:jobid", h_job, NULL);
    cf_rest_route(rest, "PATCH", "/jobs/:jobid", h_cancel, NULL);
    cf_rest_route(rest, "GET", "/jobs/overview", h_overview, NULL);
    cf_rest_route(rest, "GET", "/jobs/:jobid/plan", h_plan, NULL);
    cf_rest_route(rest, "GET", "/jobs/:jobid/vertices/:vertexid", h_vertex,
                  NULL);
    cf_rest_route(rest, "POST", "/echo", h_echo, NULL);
    cf_rest_route(rest, "POST", "/jars/upload", h_upload, NULL);
    cf_rest_route(rest, "DELETE", "/empty", h_empty, NULL);
    cf_rest_set_static_dir(rest, static_dir);

    if (pthread_create(&loop_thread, NULL, loop_main, NULL) != 0)
        return -1;
    return 0;
}

static int
teardown_all(void **state)
{
    char cmd[600];

    (void)state;
    cf_loop_stop_async(loop);
    pthread_join(loop_thread, NULL);
    cf_rest_destroy(rest);
    cf_loop_destroy(loop);
    cf_config_destroy(cfg);
    free(seen.body);
    curl_global_cleanup();
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* ------------------------------------------------------------------ */
/* HTTP helpers                                                        */
/* ------------------------------------------------------------------ */

typedef struct resp_s {
    long status;
    cf_sbuf_t body;
    char ctype[128];
    char allow[128];
    char cors[64];
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
    static const struct {
        const char *name;
        size_t off;
    } want[] = {
        {"content-type:", offsetof(resp_t, ctype)},
        {"allow:", offsetof(resp_t, allow)},
        {"access-control-allow-origin:", offsetof(resp_t, cors)},
    };

    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        size_t wl = strlen(want[i].name);
        if (len > wl && strncasecmp(p, want[i].name, wl) == 0) {
            char *dst = (char *)r + want[i].off;
            const char *v = p + wl;
            size_t vl = len - wl;
            while (vl > 0 && *v == ' ')
                v++, vl--;
            while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == '\n'))
                vl--;
            if (vl > 127)
                vl = 127;
            memcpy(dst, v, vl);
            dst[vl] = '\0';
        }
    }
    return len;
}

static CURL *
easy(const char *path, resp_t *r)
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
    return c;
}

static void
perform(CURL *c, resp_t *r)
{
    CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK)
        fail_msg("curl: %s", curl_easy_strerror(rc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_cleanup(c);
}

static void
request(const char *method, const char *path, const char *body, size_t body_len,
        resp_t *r)
{
    CURL *c = easy(path, r);
    struct curl_slist *h = NULL;

    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    if (body != NULL) {
        h = curl_slist_append(h, "Content-Type: application/json");
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)body_len);
    }
    perform(c, r);
    curl_slist_free_all(h);
}

static void
resp_free(resp_t *r)
{
    cf_sbuf_deinit(&r->body);
}

/* errors[0] of an error body. */
static void
assert_error_body(resp_t *r, const char *prefix)
{
    json_t *j = json_loads(r->body.s ? r->body.s : "", 0, NULL);
    const char *msg;

    assert_non_null(j);
    assert_true(json_is_array(json_object_get(j, "errors")));
    msg = json_string_value(json_array_get(json_object_get(j, "errors"), 0));
    assert_non_null(msg);
    if (strncmp(msg, prefix, strlen(prefix)) != 0)
        fail_msg("error '%s' does not start with '%s'", msg, prefix);
    json_decref(j);
}

static int
calls(void)
{
    int n;
    pthread_mutex_lock(&seen_mu);
    n = seen.calls;
    pthread_mutex_unlock(&seen_mu);
    return n;
}

static int
count_files(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    assert_non_null(d);
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

/* ------------------------------------------------------------------ */
/* Tests                                                               */
/* ------------------------------------------------------------------ */

static void
test_listen_log(void **state)
{
    char want[128];

    (void)state;
    assert_true(port > 0);
    snprintf(want, sizeof want, "Rest endpoint listening at localhost:%d\n",
             port);
    if (strstr(log_text, want) == NULL)
        fail_msg("no '%s' in the log:\n%s", want, log_text);
    /* The upload directory was created, private. */
    struct stat st;
    assert_int_equal(stat(upload_dir, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0700);
}

static void
test_routing(void **state)
{
    resp_t r;

    (void)state;
    request("GET", "/jobs/abc", NULL, 0, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.ctype, "application/json; charset=UTF-8");
    assert_string_equal(r.cors, "*");
    assert_string_equal(r.body.s, "{\"route\":\"job\"}");
    assert_string_equal(seen.route, "job");
    assert_string_equal(seen.path, "/jobs/abc");
    assert_int_equal(seen.nparams, 1);
    assert_string_equal(seen.params[0], "abc");
    assert_false(seen.has_upload);
    assert_int_equal(seen.body_len, 0);
    assert_string_equal(seen.body, "");
    resp_free(&r);

    /* A literal segment wins over a parameter, in any order of
     * registration. */
    request("GET", "/jobs/overview", NULL, 0, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(seen.route, "overview");
    assert_int_equal(seen.nparams, 0);
    resp_free(&r);

    /* /v1 prefix, trailing slash, query string. */
    request("GET", "/v1/jobs/j1/plan/?q=hello%20world&x=1", NULL, 0, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(seen.route, "plan");
    assert_string_equal(seen.params[0], "j1");
    assert_true(seen.has_query_q);
    assert_string_equal(seen.query_q, "hello world");
    assert_string_equal(seen.path, "/jobs/j1/plan/");
    resp_free(&r);

    request("GET", "/v1/jobs/j2/vertices/v7", NULL, 0, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(seen.route, "vertex");
    assert_int_equal(seen.nparams, 2);
    assert_string_equal(seen.params[0], "j2");
    assert_string_equal(seen.params[1], "v7");
    assert_false(seen.has_query_q);
    resp_free(&r);

    /* Percent-decoding keeps "%00": a NUL would cut the parameter
     * ("/jobs/abc%00x" must not act on job "abc"); other escapes are
     * decoded, in the path and in query values. */
    request("GET", "/jobs/abc%00x?q=a%00b%41", NULL, 0, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(seen.route, "job");
    assert_string_equal(seen.params[0], "abc%00x");
    assert_string_equal(seen.query_q, "a%00bA");
    resp_free(&r);
    request("GET", "/jobs/%61%62c", NULL, 0, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(seen.params[0], "abc");
    resp_free(&r);

    /* Another method on the same pattern, with a status of its own. */
    request("PATCH", "/jobs/j3?mode=cancel", NULL, 0, &r);
    assert_int_equal(r.status, 202);
    assert_string_equal(seen.route, "cancel");
    assert_string_equal(seen.method, "PATCH");
    assert_string_equal(r.body.s, "{}");
    resp_free(&r);

    /* A NULL body is an empty response. */
    request("DELETE", "/empty", NULL, 0, &r);
    assert_int_equal(r.status, 204);
    assert_true(r.body.len == 0);
    resp_free(&r);

    /* HEAD uses the GET route; no body comes back. */
    request("HEAD", "/jobs/abc", NULL, 0, &r);
    assert_int_equal(r.status, 200);
    assert_true(r.body.len == 0);
    resp_free(&r);

    /* OPTIONS lists the methods of a known path. */
    request("OPTIONS", "/jobs/abc", NULL, 0, &r);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.allow, "GET"));
    assert_non_null(strstr(r.allow, "PATCH"));
    resp_free(&r);
}

static void
test_not_found(void **state)
{
    resp_t r;
    int before;

    (void)state;
    before = calls();
    request("GET", "/nope", NULL, 0, &r);
    assert_int_equal(r.status, 404);
    assert_string_equal(r.body.s, "{\"errors\":[\"Not found: /nope\"]}");
    assert_string_equal(r.ctype, "application/json; charset=UTF-8");
    resp_free(&r);

    /* Flink's message carries the URI as sent, query included. */
    request("GET", "/v1/jobs/a/b/c?x=1", NULL, 0, &r);
    assert_int_equal(r.status, 404);
    assert_string_equal(r.body.s,
                        "{\"errors\":[\"Not found: /v1/jobs/a/b/c?x=1\"]}");
    resp_free(&r);

    /* Another version prefix is not stripped. */
    request("GET", "/v2/jobs/abc", NULL, 0, &r);
    assert_int_equal(r.status, 404);
    resp_free(&r);

    /* Known path, other method: 405 with Allow. */
    request("DELETE", "/jobs/abc", NULL, 0, &r);
    assert_int_equal(r.status, 405);
    assert_error_body(&r, "Not found: /jobs/abc");
    assert_non_null(strstr(r.allow, "GET"));
    assert_non_null(strstr(r.allow, "PATCH"));
    resp_free(&r);

    request("GET", "/jars/upload", NULL, 0, &r);
    assert_int_equal(r.status, 405);
    resp_free(&r);

    request("OPTIONS", "/nope", NULL, 0, &r);
    assert_int_equal(r.status, 404);
    resp_free(&r);

    assert_int_equal(calls(), before);
}

static void
test_json_body(void **state)
{
    resp_t r;
    const char *body = "{\"a\":[1,2,{\"b\":\"\\u00e9\"}],\"c\":null}";

    (void)state;
    request("POST", "/v1/echo", body, strlen(body), &r);
    assert_int_equal(r.status, 201);
    assert_string_equal(seen.route, "echo");
    assert_int_equal(seen.body_len, strlen(body));
    assert_string_equal(seen.body, body);
    assert_string_equal(r.body.s, "{\"got\":{\"a\":[1,2,{\"b\":\"\xc3\xa9\"}],"
                                  "\"c\":null}}");
    resp_free(&r);

    /* The handler's own error. */
    request("POST", "/echo", "{bad", 4, &r);
    assert_int_equal(r.status, 400);
    assert_string_equal(r.body.s, "{\"errors\":[\"Bad JSON in /echo.\"]}");
    resp_free(&r);

    /* Exactly at the limit is accepted (raw bytes, not JSON). */
    {
        char *big = malloc(MAX_LEN);
        memset(big, 'x', MAX_LEN);
        request("POST", "/echo", big, MAX_LEN, &r);
        assert_int_equal(r.status, 400); /* reached the handler */
        assert_int_equal(seen.body_len, MAX_LEN);
        resp_free(&r);
        free(big);
    }
}

static void
test_too_large(void **state)
{
    resp_t r;
    char *big = malloc(MAX_LEN + 1);
    int before;

    (void)state;
    memset(big, 'x', MAX_LEN + 1);
    before = calls();
    request("POST", "/echo", big, MAX_LEN + 1, &r);
    assert_int_equal(r.status, 413);
    assert_error_body(&r, "Request of 65537 bytes is larger than the limit");
    resp_free(&r);
    assert_int_equal(calls(), before);
    free(big);
}

/* A chunked body (no Content-Length) read from a counter. */
typedef struct chunk_src_s {
    size_t left;
    int multipart_garbage;
} chunk_src_t;

static size_t
chunk_read(char *buf, size_t sz, size_t n, void *ud)
{
    chunk_src_t *s = ud;
    size_t k = sz * n;

    if (k > s->left)
        k = s->left;
    if (k > 8192)
        k = 8192;
    memset(buf, 'y', k);
    s->left -= k;
    return k;
}

static void
test_too_large_chunked(void **state)
{
    resp_t r;
    CURL *c;
    struct curl_slist *h = NULL;
    chunk_src_t src = {MAX_LEN + 10000, 0};
    int before = calls();

    (void)state;
    c = easy("/echo", &r);
    h = curl_slist_append(h, "Transfer-Encoding: chunked");
    h = curl_slist_append(h, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, chunk_read);
    curl_easy_setopt(c, CURLOPT_READDATA, &src);
    perform(c, &r);
    curl_slist_free_all(h);
    assert_int_equal(r.status, 413);
    assert_error_body(&r, "Request of ");
    resp_free(&r);
    assert_int_equal(calls(), before);
}

/* A multipart POST to /jars/upload; file data from data (len bytes)
 * under field and client file name fname (NULL: no file part). */
static void
upload(const char *field, const char *fname, const char *data, size_t len,
       const char *request_json, int nfiles, resp_t *r)
{
    CURL *c = easy("/v1/jars/upload", r);
    curl_mime *m = curl_mime_init(c);
    curl_mimepart *p;

    for (int i = 0; i < nfiles; i++) {
        p = curl_mime_addpart(m);
        curl_mime_name(p, field);
        curl_mime_data(p, data, len);
        curl_mime_filename(p, fname);
        curl_mime_type(p, "application/octet-stream");
    }
    if (request_json != NULL) {
        p = curl_mime_addpart(m);
        curl_mime_name(p, "request");
        curl_mime_data(p, request_json, CURL_ZERO_TERMINATED);
    }
    curl_easy_setopt(c, CURLOPT_MIMEPOST, m);
    perform(c, r);
    curl_mime_free(m);
}

static void
test_upload(void **state)
{
    resp_t r;
    char data[3000];
    char *stored;
    size_t n;
    struct stat st;
    const char *base;

    (void)state;
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (char)(i * 7 + 3);
    upload("jarfile", "../../etc/passwd", data, sizeof data, "{\"x\":1}", 1,
           &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body.s, "{\"route\":\"upload\"}");
    resp_free(&r);
    assert_string_equal(seen.route, "upload");
    assert_true(seen.has_upload);
    assert_string_equal(seen.upload_name, "passwd");
    assert_string_equal(seen.body, "{\"x\":1}");
    /* Stored under the upload dir with a server-made name. */
    assert_int_equal(strncmp(seen.upload_path, upload_dir, strlen(upload_dir)),
                     0);
    base = seen.upload_path + strlen(upload_dir);
    assert_int_equal(base[0], '/');
    base++;
    assert_int_equal(strlen(base), 32 + strlen(".upload"));
    assert_int_equal(strspn(base, "0123456789abcdef"), 32);
    assert_string_equal(base + 32, ".upload");
    assert_int_equal(stat(seen.upload_path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    stored = cf_file_read(seen.upload_path, &n);
    assert_non_null(stored);
    assert_int_equal(n, sizeof data);
    assert_memory_equal(stored, data, sizeof data);
    free(stored);
    /* The handler owns the file: the server left it. */
    assert_int_equal(count_files(upload_dir), 1);
    unlink(seen.upload_path);
    assert_int_equal(count_files(upload_dir), 0);

    /* Windows separators and an empty file. */
    upload("jarfile", "C:\\x\\job.so", "", 0, NULL, 1, &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    assert_string_equal(seen.upload_name, "job.so");
    assert_int_equal(stat(seen.upload_path, &st), 0);
    assert_int_equal(st.st_size, 0);
    unlink(seen.upload_path);

    /* Multipart without a jarfile part: the handler gets no upload. */
    upload("jarfile", "x.so", data, 10, "{\"y\":2}", 0, &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    assert_false(seen.has_upload);
    assert_string_equal(seen.body, "{\"y\":2}");

    /* A file under another field name is not stored. */
    upload("other", "x.so", data, 10, NULL, 1, &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
    assert_false(seen.has_upload);
    assert_int_equal(count_files(upload_dir), 0);
}

static void
test_upload_rejected(void **state)
{
    resp_t r;
    char data[100];
    int before = calls();
    static const char *bad[] = {"..", "a/..", ".", "/", "-rf", "a\tb"};

    (void)state;
    memset(data, 'z', sizeof data);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        upload("jarfile", bad[i], data, sizeof data, NULL, 1, &r);
        if (r.status != 400)
            fail_msg("file name '%s': status %ld", bad[i], r.status);
        assert_error_body(&r, "Invalid name of the uploaded file.");
        resp_free(&r);
    }
    /* Two files. */
    upload("jarfile", "a.so", data, sizeof data, NULL, 2, &r);
    assert_int_equal(r.status, 400);
    assert_error_body(&r, "Exactly 1 file must be sent, received 2.");
    resp_free(&r);
    /* An unknown attribute. */
    {
        CURL *c = easy("/jars/upload", &r);
        curl_mime *m = curl_mime_init(c);
        curl_mimepart *p = curl_mime_addpart(m);
        curl_mime_name(p, "evil");
        curl_mime_data(p, "1", CURL_ZERO_TERMINATED);
        curl_easy_setopt(c, CURLOPT_MIMEPOST, m);
        perform(c, &r);
        curl_mime_free(m);
        assert_int_equal(r.status, 400);
        assert_error_body(&r, "Received unknown attribute evil.");
        resp_free(&r);
    }
    assert_int_equal(calls(), before);
    assert_int_equal(count_files(upload_dir), 0);
}

static void
test_upload_too_large(void **state)
{
    resp_t r;
    char *data = malloc(MAX_LEN);
    int before = calls();

    (void)state;
    memset(data, 'q', MAX_LEN);
    /* With Content-Length: refused before any byte is read. */
    upload("jarfile", "big.so", data, MAX_LEN, NULL, 1, &r);
    assert_int_equal(r.status, 413);
    assert_error_body(&r, "Request of ");
    resp_free(&r);
    assert_int_equal(count_files(upload_dir), 0);
    free(data);

    /* Chunked: the file is being written when the limit is crossed; it
     * is deleted. */
    {
        CURL *c = easy("/jars/upload", &r);
        curl_mime *m = curl_mime_init(c);
        curl_mimepart *p = curl_mime_addpart(m);
        chunk_src_t src = {MAX_LEN + 5000, 0};
        curl_mime_name(p, "jarfile");
        curl_mime_filename(p, "big.so");
        curl_mime_data_cb(p, -1, chunk_read, NULL, NULL, &src);
        curl_easy_setopt(c, CURLOPT_MIMEPOST, m);
        perform(c, &r);
        curl_mime_free(m);
        assert_int_equal(r.status, 413);
        resp_free(&r);
    }
    assert_int_equal(count_files(upload_dir), 0);
    assert_int_equal(calls(), before);
}

static void
test_malformed_multipart(void **state)
{
    resp_t r;
    CURL *c;
    struct curl_slist *h = NULL;
    const char *body = "--XYZ\r\nContent-Disposition: form-data; "
                       "name=\"jarfile\"; filename=\"a.so\"\r\n\r\n"
                       "abc\r\n--XY"; /* no closing boundary */
    int before = calls();

    (void)state;
    c = easy("/jars/upload", &r);
    h = curl_slist_append(h, "Content-Type: multipart/form-data; "
                             "boundary=XYZ");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    perform(c, &r);
    curl_slist_free_all(h);
    assert_int_equal(r.status, 400);
    assert_error_body(&r, "Malformed multipart request");
    resp_free(&r);

    /* No boundary at all. */
    h = NULL;
    c = easy("/jars/upload", &r);
    h = curl_slist_append(h, "Content-Type: multipart/form-data");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, "garbage");
    perform(c, &r);
    curl_slist_free_all(h);
    assert_int_equal(r.status, 400);
    resp_free(&r);

    assert_int_equal(calls(), before);
    assert_int_equal(count_files(upload_dir), 0);

    /* The server still answers. */
    request("GET", "/jobs/ok", NULL, 0, &r);
    assert_int_equal(r.status, 200);
    resp_free(&r);
}

static void
test_static(void **state)
{
    resp_t r;

    (void)state;
    request("GET", "/", NULL, 0, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body.s, "<html>cflink</html>");
    assert_string_equal(r.ctype, "text/html; charset=UTF-8");
    resp_free(&r);

    request("GET", "/app.js", NULL, 0, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body.s, "var x = 1;");
    assert_non_null(strstr(r.ctype, "javascript"));
    resp_free(&r);

    request("GET", "/sub/", NULL, 0, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body.s, "sub index");
    resp_free(&r);

    /* Traversal, plain and percent-encoded, and a symlink out. */
    static const char *evil[] = {
        "/../secret.txt",       "/%2e%2e/secret.txt", "/sub/../../secret.txt",
        "/%2e%2e%2fsecret.txt", "/leak.txt",          "/sub",
        "/missing.html",
    };
    for (size_t i = 0; i < sizeof evil / sizeof evil[0]; i++) {
        request("GET", evil[i], NULL, 0, &r);
        if (r.status != 404)
            fail_msg("%s: status %ld", evil[i], r.status);
        assert_null(strstr(r.body.s ? r.body.s : "", "SECRET"));
        assert_error_body(&r, "Not found: ");
        resp_free(&r);
    }

    /* Static files only answer GET. */
    request("POST", "/app.js", "{}", 2, &r);
    assert_int_equal(r.status, 404);
    resp_free(&r);
}

static void
test_bad_clients(void **state)
{
    resp_t r;
    CURL *c;
    struct curl_slist *h = NULL;
    char *hdr = malloc(200 * 1024);
    struct sockaddr_in sa;
    int fd;
    struct pollfd pfd;
    char buf[256];
    int64_t t0;
    ssize_t n;

    (void)state;
    /* A huge header is refused, not a crash. */
    memcpy(hdr, "X-Big: ", 7);
    memset(hdr + 7, 'a', 200 * 1024 - 8);
    hdr[200 * 1024 - 1] = '\0';
    c = easy("/jobs/abc", &r);
    h = curl_slist_append(h, hdr);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_easy_cleanup(c);
    curl_slist_free_all(h);
    free(hdr);
    assert_true(r.status == 0 || r.status >= 400);
    resp_free(&r);

    /* A slow client that never finishes its headers is dropped after
     * rest.idleness-timeout (1 s here). */
    fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(write(fd, "GET /jobs/abc HTTP/1.1\r\nHost: x\r\n", 33),
                     33);
    t0 = cf_mono_ms();
    pfd.fd = fd;
    pfd.events = POLLIN;
    assert_int_equal(poll(&pfd, 1, 5000), 1);
    n = read(fd, buf, sizeof buf);
    assert_true(n <= 0);
    assert_true(cf_mono_ms() - t0 < 4000);
    close(fd);

    /* Garbage request line. */
    fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(write(fd, "\x01\x02 \xff\xfe HTTP/9\r\n\r\n", 16), 16);
    pfd.fd = fd;
    assert_int_equal(poll(&pfd, 1, 5000), 1);
    n = read(fd, buf, sizeof buf - 1);
    if (n > 0) {
        buf[n] = '\0';
        assert_non_null(strstr(buf, " 4"));
    }
    close(fd);

    /* Still alive. */
    request("GET", "/jobs/alive", NULL, 0, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(seen.params[0], "alive");
    resp_free(&r);
}

static void
test_error_helper(void **state)
{
    int st = 0;
    json_t *j;
    char *s;

    (void)state;
    j = cf_rest_error(&st, 409, "Job %s is %s.", "abc", "FINISHED");
    assert_int_equal(st, 409);
    s = json_dumps(j, JSON_COMPACT);
    assert_string_equal(s, "{\"errors\":[\"Job abc is FINISHED.\"]}");
    free(s);
    json_decref(j);
}

static void
test_bad_config(void **state)
{
    cf_config_t *c = cf_config_new();
    cf_error_t *err = NULL;
    cf_loop_t *l = cf_loop_new("rest-bad");
    cf_rest_t *r;
    char dir[600];

    (void)state;
    assert_int_equal(cf_config_set(c, "rest.bind-port", "80x", "test", &err),
                     0);
    r = cf_rest_new(l, c, NULL, &err);
    assert_null(r);
    assert_non_null(err);
    assert_non_null(strstr(cf_error_msg(err), "rest.bind-port"));
    cf_error_free(err);
    err = NULL;

    /* The port in use: the range moves on to the next port. */
    {
        char spec[64];
        snprintf(spec, sizeof spec, "%d-%d", port, port + 200);
        assert_int_equal(cf_config_set(c, "rest.bind-port", spec, "test", &err),
                         0);
        assert_int_equal(
            cf_config_set(c, "rest.bind-address", "127.0.0.1", "test", &err),
            0);
        r = cf_rest_new(l, c, NULL, &err);
        assert_non_null(r);
        assert_true(cf_rest_port(r) > port);
        cf_rest_destroy(r);
        snprintf(spec, sizeof spec, "%d", port);
        assert_int_equal(cf_config_set(c, "rest.bind-port", spec, "test", &err),
                         0);
        r = cf_rest_new(l, c, NULL, &err);
        assert_null(r);
        assert_non_null(strstr(cf_error_msg(err), "Could not start rest"));
        cf_error_free(err);
        err = NULL;
    }

    /* An upload dir that cannot be made. */
    snprintf(dir, sizeof dir, "%s/web/index.html/up", tmp_dir);
    assert_int_equal(cf_config_set(c, "rest.bind-port", "0", "test", &err), 0);
    r = cf_rest_new(l, c, dir, &err);
    assert_null(r);
    assert_non_null(strstr(cf_error_msg(err), dir));
    cf_error_free(err);

    cf_loop_destroy(l);
    cf_config_destroy(c);
}


/* ------------------------------------------------------------------ */
/* Checkpoint JSON (rest_checkpoints.c) on a hand-made view            */
/* ------------------------------------------------------------------ */

static char *
dump(const json_t *j)
{
    return json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
}

static void
expect_json(const json_t *j, const char *want)
{
    char *got = dump(j);
    assert_string_equal(got, want);
    free(got);
}

static void
test_ckpt_summary(void **state)
{
    (void)state;
    int64_t v[10] = {10, 1, 9, 2, 8, 3, 7, 4, 6, 5};
    json_t *o = cf_rest_ckpt_summary_dto(v, 10);

    /* Commons Math legacy percentiles: p * (n + 1), interpolated. */
    assert_int_equal(json_integer_value(json_object_get(o, "min")), 1);
    assert_int_equal(json_integer_value(json_object_get(o, "max")), 10);
    assert_int_equal(json_integer_value(json_object_get(o, "avg")), 5);
    assert_true(json_real_value(json_object_get(o, "p50")) == 5.5);
    assert_true(json_real_value(json_object_get(o, "p90")) > 9.89 &&
                json_real_value(json_object_get(o, "p90")) < 9.91);
    assert_true(json_real_value(json_object_get(o, "p99")) == 10.0);
    assert_true(json_real_value(json_object_get(o, "p999")) == 10.0);
    assert_int_equal(v[0], 10); /* the samples are not reordered */
    json_decref(o);

    o = cf_rest_ckpt_summary_dto(v, 1);
    assert_true(json_real_value(json_object_get(o, "p50")) == 10.0);
    json_decref(o);

    o = cf_rest_ckpt_summary_dto(NULL, 0);
    expect_json(o, "{\"avg\":0,\"max\":0,\"min\":0,\"p50\":\"NaN\","
                   "\"p90\":\"NaN\",\"p95\":\"NaN\",\"p99\":\"NaN\","
                   "\"p999\":\"NaN\"}");
    json_decref(o);
}

static void
test_ckpt_statistics(void **state)
{
    (void)state;
    int64_t ack_ts[2] = {1000250, 0};
    uint64_t sub_size[2] = {4096, 0};
    int64_t sync_ms[2] = {1, 0}, async_ms[2] = {7, 0}, al[2] = {3, 0};
    cf_ckpt_vertex_stats_t vs = {
        .num_subtasks = 2, .num_acked = 1, .latest_ack_ts = 1000250,
        .state_size = 4096, .ack_ts = ack_ts, .sub_state_size = sub_size,
        .sub_sync_ms = sync_ms, .sub_async_ms = async_ms,
        .sub_alignment_ms = al};
    cf_ckpt_stats_t pending = {
        .id = 7, .status = CF_CKPT_IN_PROGRESS,
        .kind = CF_CKPT_KIND_CHECKPOINT, .trigger_ts = 1000000,
        .latest_ack_ts = 1000250, .state_size = 4096, .num_subtasks = 2,
        .num_acked = 1, .vertices = &vs};
    cf_ckpt_stats_t failed = {
        .id = 6, .status = CF_CKPT_FAILED, .kind = CF_CKPT_KIND_CHECKPOINT,
        .trigger_ts = 900000, .end_ts = 900400, .num_subtasks = 2,
        .failure = "Checkpoint expired before completing."};
    cf_ckpt_stats_t sp = {
        .id = 5, .status = CF_CKPT_COMPLETED, .kind = CF_CKPT_KIND_SAVEPOINT,
        .trigger_ts = 800000, .latest_ack_ts = 800090, .end_ts = 800100,
        .state_size = 8192, .processed_data = 12, .num_subtasks = 2,
        .num_acked = 2, .external_path = "/sp/savepoint-012345-abcdefabcdef"};
    int64_t durations[2] = {100, 300};
    uint64_t sizes[2] = {8192, 4096}, processed[2] = {12, 0};
    cf_ckpt_view_t v;
    cf_ejv_t ejv;
    json_t *o, *e;

    pending.next = &failed;
    failed.next = &sp;
    memset(&v, 0, sizeof v);
    v.enabled = 1;
    v.restored_id = -1;
    v.total = 3;
    v.in_progress = 1;
    v.completed = 1;
    v.failed = 1;
    v.history = &pending;
    v.latest_completed = &sp;
    v.latest_savepoint = &sp;
    v.latest_failed = &failed;
    v.durations = durations;
    v.sizes = sizes;
    v.processed = processed;
    v.nsamples = 2;

    o = cf_rest_ckpt_statistics(&v);
    expect_json(json_object_get(o, "counts"),
                "{\"completed\":1,\"failed\":1,\"in_progress\":1,"
                "\"restored\":0,\"total\":3}");
    e = json_object_get(json_object_get(o, "summary"), "end_to_end_duration");
    assert_int_equal(json_integer_value(json_object_get(e, "avg")), 200);
    assert_true(json_real_value(json_object_get(e, "p50")) == 200.0);
    assert_true(json_is_null(json_object_get(json_object_get(o, "latest"),
                                             "restored")));
    e = json_object_get(o, "history");
    assert_int_equal(json_array_size(e), 3);
    /* in progress: end-to-end to the latest acknowledgement */
    expect_json(json_array_get(e, 0),
                "{\"alignment_buffered\":0,\"checkpoint_type\":"
                "\"CHECKPOINT\",\"checkpointed_size\":4096,\"className\":"
                "\"in_progress\",\"end_to_end_duration\":250,\"id\":7,"
                "\"is_savepoint\":false,\"latest_ack_timestamp\":1000250,"
                "\"num_acknowledged_subtasks\":1,\"num_subtasks\":2,"
                "\"persisted_data\":0,\"processed_data\":0,"
                "\"savepointFormat\":null,\"state_size\":4096,\"status\":"
                "\"IN_PROGRESS\",\"tasks\":{},\"trigger_timestamp\":"
                "1000000}");
    expect_json(json_array_get(e, 1),
                "{\"alignment_buffered\":0,\"checkpoint_type\":"
                "\"CHECKPOINT\",\"checkpointed_size\":0,\"className\":"
                "\"failed\",\"end_to_end_duration\":400,"
                "\"failure_message\":\"Checkpoint expired before "
                "completing.\",\"failure_timestamp\":900400,\"id\":6,"
                "\"is_savepoint\":false,\"latest_ack_timestamp\":-1,"
                "\"num_acknowledged_subtasks\":0,\"num_subtasks\":2,"
                "\"persisted_data\":0,\"processed_data\":0,"
                "\"savepointFormat\":null,\"state_size\":0,\"status\":"
                "\"FAILED\",\"tasks\":{},\"trigger_timestamp\":900000}");
    expect_json(json_object_get(json_object_get(o, "latest"), "savepoint"),
                "{\"alignment_buffered\":0,\"checkpoint_type\":"
                "\"SAVEPOINT\",\"checkpointed_size\":8192,\"className\":"
                "\"completed\",\"discarded\":false,\"end_to_end_duration\":"
                "100,\"external_path\":\"/sp/savepoint-012345-abcdefabcdef\","
                "\"id\":5,\"is_savepoint\":true,\"latest_ack_timestamp\":"
                "800090,\"num_acknowledged_subtasks\":2,\"num_subtasks\":2,"
                "\"persisted_data\":0,\"processed_data\":12,"
                "\"savepointFormat\":\"CANONICAL\",\"state_size\":8192,"
                "\"status\":\"COMPLETED\",\"tasks\":{},"
                "\"trigger_timestamp\":800000}");
    json_decref(o);

    /* restored */
    v.restored_id = 5;
    v.restore_ts = 1234;
    v.restored_is_savepoint = 1;
    v.restored_path = "/sp/savepoint-012345-abcdefabcdef";
    o = cf_rest_ckpt_statistics(&v);
    expect_json(json_object_get(json_object_get(o, "latest"), "restored"),
                "{\"external_path\":\"/sp/savepoint-012345-abcdefabcdef\","
                "\"id\":5,\"is_savepoint\":true,\"restore_timestamp\":1234}");
    json_decref(o);

    /* details: tasks by vertex id */
    memset(&ejv, 0, sizeof ejv);
    strcpy(ejv.id_hex, "00112233445566778899aabbccddeeff");
    o = cf_rest_ckpt_entry(&pending, &ejv, 1, 1);
    expect_json(json_object_get(json_object_get(o, "tasks"),
                                "00112233445566778899aabbccddeeff"),
                "{\"alignment_buffered\":0,\"checkpointed_size\":4096,"
                "\"end_to_end_duration\":250,\"id\":7,"
                "\"latest_ack_timestamp\":1000250,"
                "\"num_acknowledged_subtasks\":1,\"num_subtasks\":2,"
                "\"persisted_data\":0,\"processed_data\":0,\"state_size\":"
                "4096,\"status\":\"IN_PROGRESS\"}");
    json_decref(o);

    /* subtasks: one acknowledged, one pending */
    o = cf_rest_ckpt_task_details(&pending, 0);
    e = json_object_get(o, "subtasks");
    expect_json(json_array_get(e, 1),
                "{\"className\":\"pending\",\"index\":1,\"status\":"
                "\"pending_or_failed\"}");
    expect_json(json_array_get(e, 0),
                "{\"aborted\":false,\"ack_timestamp\":1000250,\"alignment\":"
                "{\"buffered\":0,\"duration\":3,\"persisted\":0,"
                "\"processed\":0},\"checkpoint\":{\"async\":7,\"sync\":1},"
                "\"checkpointed_size\":4096,\"className\":\"completed\","
                "\"end_to_end_duration\":250,\"index\":0,\"start_delay\":0,"
                "\"state_size\":4096,\"status\":\"completed\","
                "\"unaligned_checkpoint\":false}");
    e = json_object_get(json_object_get(o, "summary"), "checkpoint_duration");
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(e, "async"),
                                           "max")),
        7);
    json_decref(o);
}

static void
test_ckpt_config_and_failure(void **state)
{
    (void)state;
    cf_ckpt_view_t v;
    json_t *o;

    memset(&v, 0, sizeof v);
    v.enabled = 1;
    v.exactly_once = 0;
    v.interval_ms = 200;
    v.timeout_ms = 600000;
    v.max_concurrent = 1;
    v.delete_on_cancellation = 1;
    v.dir = "/chk";
    o = cf_rest_ckpt_config(&v, NULL);
    expect_json(o, "{\"aligned_checkpoint_timeout\":0,"
                   "\"changelog_periodic_materialization_interval\":600000,"
                   "\"changelog_storage\":\"memory\","
                   "\"checkpoint_storage\":\"FileSystemCheckpointStorage\","
                   "\"checkpoints_after_tasks_finish\":true,"
                   "\"externalization\":{\"delete_on_cancellation\":true,"
                   "\"enabled\":false},\"interval\":200,"
                   "\"max_concurrent\":1,\"min_pause\":0,\"mode\":"
                   "\"at_least_once\",\"state_backend\":\"hashmap\","
                   "\"state_changelog_enabled\":false,\"timeout\":600000,"
                   "\"tolerable_failed_checkpoints\":0,"
                   "\"unaligned_checkpoints\":false}");
    json_decref(o);

    o = cf_rest_ckpt_failure_cause("java.io.IOException", "x: gone");
    expect_json(o, "{\"class\":\"java.io.IOException\","
                   "\"serialized-throwable\":"
                   "\"amF2YS5pby5JT0V4Y2VwdGlvbjogeDogZ29uZQ==\","
                   "\"stack-trace\":\"java.io.IOException: x: gone\"}");
    json_decref(o);
}

/* ------------------------------------------------------------------ */
/* Task metrics and watermarks (event time)                            */
/* ------------------------------------------------------------------ */

/* A job with one vertex of three subtasks, running, nothing reported. */
typedef struct wm_fx_s {
    cf_jobmaster_t jmr;
    cf_ejv_t v;
    cf_exec_vertex_t ev[3];
} wm_fx_t;

static void
wm_fx_init(wm_fx_t *fx)
{
    jm_fixture_init(&fx->jmr, &fx->v, fx->ev, 3, "event time job",
                    "Window");
}

/* A heartbeat task report of subtask k: with event-time figures when
 * et is set (a TaskManager that predates them sends none). */
static void
wm_report(wm_fx_t *fx, int k, int et, int64_t wm, uint64_t late)
{
    Cflink__UpdateTaskExecutionState u =
        CFLINK__UPDATE_TASK_EXECUTION_STATE__INIT;
    Cflink__TaskEventTime t = CFLINK__TASK_EVENT_TIME__INIT;

    u.job_id = cf_rpc_id_bytes(&fx->jmr.job_id);
    u.attempt_id = cf_rpc_id_bytes(&fx->ev[k].attempt_id);
    u.state = CF_EXEC_RUNNING;
    t.input_watermark = wm;
    t.late_records_dropped = late;
    u.event_time = et ? &t : NULL;
    cf_jobmaster_update_counters(&fx->jmr, &u);
}

static void
expect_dto(json_t *j, const char *want)
{
    expect_json(j, want);
    json_decref(j);
}

static void
test_watermarks_dto(void **state)
{
    (void)state;
    wm_fx_t fx;

    wm_fx_init(&fx);
    /* Nothing reported: no metric at all, as Flink's empty store. */
    expect_dto(cf_rest_watermarks_dto(&fx.v), "[]");
    wm_report(&fx, 2, 0, 0, 0); /* an old TaskManager's report */
    expect_dto(cf_rest_watermarks_dto(&fx.v), "[]");

    /* Running without a watermark yet: Long.MIN_VALUE, as a string. */
    wm_report(&fx, 0, 1, INT64_MIN, 0);
    wm_report(&fx, 1, 1, 1700000000123, 2);
    expect_dto(cf_rest_watermarks_dto(&fx.v),
               "[{\"id\":\"0.currentInputWatermark\","
               "\"value\":\"-9223372036854775808\"},"
               "{\"id\":\"1.currentInputWatermark\","
               "\"value\":\"1700000000123\"}]");

    /* Watermarks advance; an older report lowers neither figure; a
     * report without the figures keeps them. */
    wm_report(&fx, 0, 1, 5000, 1);
    wm_report(&fx, 0, 1, 4000, 0);
    wm_report(&fx, 0, 0, 0, 0);
    wm_report(&fx, 1, 1, 1700000000500, 7);
    wm_report(&fx, 2, 1, -3, 0); /* negative watermarks are legal */
    assert_int_equal(fx.ev[0].input_watermark, 5000);
    assert_int_equal(fx.ev[0].late_records_dropped, 1);
    assert_int_equal(fx.ev[1].late_records_dropped, 7);
    expect_dto(cf_rest_watermarks_dto(&fx.v),
               "[{\"id\":\"0.currentInputWatermark\",\"value\":\"5000\"},"
               "{\"id\":\"1.currentInputWatermark\","
               "\"value\":\"1700000000500\"},"
               "{\"id\":\"2.currentInputWatermark\",\"value\":\"-3\"}]");

    /* Another job's report and a stale attempt's are ignored. */
    {
        cf_id_t stale = fx.ev[2].attempt_id;
        cf_id_random(&fx.ev[2].attempt_id); /* subtask 2 restarted */
        fx.ev[2].has_event_time = 0;
        fx.ev[2].input_watermark = INT64_MIN;
        Cflink__UpdateTaskExecutionState u =
            CFLINK__UPDATE_TASK_EXECUTION_STATE__INIT;
        Cflink__TaskEventTime t = CFLINK__TASK_EVENT_TIME__INIT;
        t.input_watermark = 99;
        u.job_id = cf_rpc_id_bytes(&fx.jmr.job_id);
        u.attempt_id = cf_rpc_id_bytes(&stale);
        u.event_time = &t;
        cf_jobmaster_update_counters(&fx.jmr, &u);
        assert_false(fx.ev[2].has_event_time);
    }
}

static void
test_task_metrics_dto(void **state)
{
    (void)state;
    wm_fx_t fx;

    wm_fx_init(&fx);
    wm_report(&fx, 0, 1, 100, 0);
    wm_report(&fx, 2, 1, INT64_MIN, 42);

    /* Vertex metrics: ids prefixed with the subtask index. */
    /* Every reported subtask also has its IO counters and rates (no
     * times: these reports carry none). */
    expect_dto(cf_rest_vertex_metrics_dto(&fx.v, NULL),
               "[{\"id\":\"0.currentInputWatermark\"},"
               "{\"id\":\"0.numLateRecordsDropped\"},"
               "{\"id\":\"0.numRecordsIn\"},{\"id\":\"0.numRecordsOut\"},"
               "{\"id\":\"0.numBytesIn\"},{\"id\":\"0.numBytesOut\"},"
               "{\"id\":\"0.numRecordsInPerSecond\"},"
               "{\"id\":\"0.numRecordsOutPerSecond\"},"
               "{\"id\":\"0.numBytesInPerSecond\"},"
               "{\"id\":\"0.numBytesOutPerSecond\"},"
               "{\"id\":\"2.currentInputWatermark\"},"
               "{\"id\":\"2.numLateRecordsDropped\"},"
               "{\"id\":\"2.numRecordsIn\"},{\"id\":\"2.numRecordsOut\"},"
               "{\"id\":\"2.numBytesIn\"},{\"id\":\"2.numBytesOut\"},"
               "{\"id\":\"2.numRecordsInPerSecond\"},"
               "{\"id\":\"2.numRecordsOutPerSecond\"},"
               "{\"id\":\"2.numBytesInPerSecond\"},"
               "{\"id\":\"2.numBytesOutPerSecond\"}]");
    /* Unknown, unreported, non-canonical and repeated ids are left out. */
    expect_dto(cf_rest_vertex_metrics_dto(
                   &fx.v, "2.numLateRecordsDropped,0.currentInputWatermark,"
                          "1.currentInputWatermark,00.currentInputWatermark,"
                          "3.currentInputWatermark,currentInputWatermark,"
                          "0.busyTimeMsPerSecond,,2.numLateRecordsDropped"),
               "[{\"id\":\"2.numLateRecordsDropped\",\"value\":\"42\"},"
               "{\"id\":\"0.currentInputWatermark\",\"value\":\"100\"}]");
    expect_dto(cf_rest_vertex_metrics_dto(&fx.v, "nope"), "[]");

    /* One subtask's metrics: the names alone. */
    expect_dto(cf_rest_subtask_metrics_dto(&fx.ev[2], ""),
               "[{\"id\":\"currentInputWatermark\"},"
               "{\"id\":\"numLateRecordsDropped\"},"
               "{\"id\":\"numRecordsIn\"},{\"id\":\"numRecordsOut\"},"
               "{\"id\":\"numBytesIn\"},{\"id\":\"numBytesOut\"},"
               "{\"id\":\"numRecordsInPerSecond\"},"
               "{\"id\":\"numRecordsOutPerSecond\"},"
               "{\"id\":\"numBytesInPerSecond\"},"
               "{\"id\":\"numBytesOutPerSecond\"}]");
    expect_dto(cf_rest_subtask_metrics_dto(
                   &fx.ev[2], "currentInputWatermark,numLateRecordsDropped"),
               "[{\"id\":\"currentInputWatermark\","
               "\"value\":\"-9223372036854775808\"},"
               "{\"id\":\"numLateRecordsDropped\",\"value\":\"42\"}]");
    expect_dto(cf_rest_subtask_metrics_dto(&fx.ev[1],
                                           "currentInputWatermark"),
               "[]");
    expect_dto(cf_rest_subtask_metrics_dto(&fx.ev[1], NULL), "[]");
}

static void
test_subtasks_metrics_dto(void **state)
{
    (void)state;
    wm_fx_t fx;
    int status = 0;
    json_t *o;

    wm_fx_init(&fx);
    expect_dto(cf_rest_subtasks_metrics_dto(&fx.v, NULL, NULL, NULL,
                                            &status),
               "[]");
    assert_int_equal(status, 200);
    wm_report(&fx, 0, 1, 1000, 0);
    wm_report(&fx, 1, 1, 3000, 4);
    expect_dto(cf_rest_subtasks_metrics_dto(&fx.v, NULL, NULL, NULL,
                                            &status),
               "[{\"id\":\"currentInputWatermark\"},"
               "{\"id\":\"numLateRecordsDropped\"},"
               "{\"id\":\"numRecordsIn\"},{\"id\":\"numRecordsOut\"},"
               "{\"id\":\"numBytesIn\"},{\"id\":\"numBytesOut\"},"
               "{\"id\":\"numRecordsInPerSecond\"},"
               "{\"id\":\"numRecordsOutPerSecond\"},"
               "{\"id\":\"numBytesInPerSecond\"},"
               "{\"id\":\"numBytesOutPerSecond\"}]");
    /* Over the subtasks that have the metric (2 has not reported). */
    expect_dto(cf_rest_subtasks_metrics_dto(&fx.v, "currentInputWatermark",
                                            NULL, NULL, &status),
               "[{\"avg\":2000.0,\"id\":\"currentInputWatermark\","
               "\"max\":3000.0,\"min\":1000.0,\"skew\":50.0,"
               "\"sum\":4000.0}]");
    expect_dto(cf_rest_subtasks_metrics_dto(&fx.v, "numLateRecordsDropped",
                                            "MAX,sum", "1", &status),
               "[{\"id\":\"numLateRecordsDropped\",\"max\":4.0,"
               "\"sum\":4.0}]");
    expect_dto(cf_rest_subtasks_metrics_dto(&fx.v, "currentInputWatermark",
                                            "min", "0,2-5", &status),
               "[{\"id\":\"currentInputWatermark\",\"min\":1000.0}]");
    /* A requested metric without values empties the answer (Flink). */
    expect_dto(cf_rest_subtasks_metrics_dto(
                   &fx.v, "currentInputWatermark,busyTimeMsPerSecond", NULL,
                   NULL, &status),
               "[]");
    assert_int_equal(status, 200);
    o = cf_rest_subtasks_metrics_dto(&fx.v, "currentInputWatermark", "median",
                                     NULL, &status);
    assert_int_equal(status, 400);
    assert_non_null(strstr(json_string_value(json_array_get(
                               json_object_get(o, "errors"), 0)),
                           "query parameter (agg)"));
    json_decref(o);
    o = cf_rest_subtasks_metrics_dto(&fx.v, NULL, NULL, "1-x", &status);
    assert_int_equal(status, 400);
    json_decref(o);
}

/* The wire: a TaskManager that predates the figures sends no
 * event_time; the minimum watermark survives encoding. */
static void
test_event_time_wire(void **state)
{
    (void)state;
    Cflink__UpdateTaskExecutionState u =
        CFLINK__UPDATE_TASK_EXECUTION_STATE__INIT, *d;
    Cflink__TaskEventTime t = CFLINK__TASK_EVENT_TIME__INIT;
    uint8_t buf[256];
    size_t n;

    u.records_in = 5;
    n = cflink__update_task_execution_state__pack(&u, buf);
    d = cflink__update_task_execution_state__unpack(NULL, n, buf);
    assert_non_null(d);
    assert_null(d->event_time);
    cflink__update_task_execution_state__free_unpacked(d, NULL);

    t.input_watermark = INT64_MIN;
    t.late_records_dropped = UINT64_MAX;
    u.event_time = &t;
    n = cflink__update_task_execution_state__pack(&u, buf);
    d = cflink__update_task_execution_state__unpack(NULL, n, buf);
    assert_non_null(d);
    assert_non_null(d->event_time);
    assert_true(d->event_time->input_watermark == INT64_MIN);
    assert_true(d->event_time->late_records_dropped == UINT64_MAX);
    assert_int_equal(d->records_in, 5);
    cflink__update_task_execution_state__free_unpacked(d, NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_listen_log),
        cmocka_unit_test(test_routing),
        cmocka_unit_test(test_not_found),
        cmocka_unit_test(test_json_body),
        cmocka_unit_test(test_too_large),
        cmocka_unit_test(test_too_large_chunked),
        cmocka_unit_test(test_upload),
        cmocka_unit_test(test_upload_rejected),
        cmocka_unit_test(test_upload_too_large),
        cmocka_unit_test(test_malformed_multipart),
        cmocka_unit_test(test_static),
        cmocka_unit_test(test_bad_clients),
        cmocka_unit_test(test_error_helper),
        cmocka_unit_test(test_bad_config),
        cmocka_unit_test(test_ckpt_summary),
        cmocka_unit_test(test_ckpt_statistics),
        cmocka_unit_test(test_ckpt_config_and_failure),
        cmocka_unit_test(test_watermarks_dto),
        cmocka_unit_test(test_task_metrics_dto),
        cmocka_unit_test(test_subtasks_metrics_dto),
        cmocka_unit_test(test_event_time_wire),
    };
    return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
