/*
 * test_cli_client.c: the cflink command's client side (src/cli): option
 * parsing per action, JobID parsing, the JobManager address from -m and
 * the configuration, Flink's job list format and order, the attached
 * run's result messages, REST error texts, the message for a
 * JobManager that is not there, and the checkpoint and savepoint actions
 * (options, and their messages against a fake JobManager that answers
 * Flink's asynchronous operation JSON).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>

#include "cli.h"

/* Run fn(f) on a memory stream; returns what it wrote (free it). */
static char *
capture_list(const char *json, int running, int scheduled, int all, int *rc)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    json_error_t jerr;
    json_t *j = json_loads(json, 0, &jerr);
    assert_non_null(j);
    *rc = cf_cli_print_job_list(f, j, running, scheduled, all);
    fclose(f);
    json_decref(j);
    return buf;
}

/* ------------------------------------------------------------------ */
/* Options                                                             */
/* ------------------------------------------------------------------ */

static void
test_parse_run(void **state)
{
    (void)state;
    cf_config_t *cfg = cf_config_new();
    cf_cli_opts_t o;
    char *argv[] = {"-d",    "-p",     "4",      "-m",     "h:1",
                    "-Dparallelism.default=3", "-D",     "my.key=a=b",
                    "x.so",  "--input", "-p",    NULL};
    int argc = 11;

    assert_int_equal(cf_cli_parse(CF_CLI_RUN, argc, argv, cfg, &o), 0);
    assert_true(o.detached);
    assert_int_equal(o.parallelism, 4);
    assert_string_equal(o.jobmanager, "h:1");
    assert_string_equal(o.plugin, "x.so");
    /* Options after the plugin belong to the program. */
    assert_int_equal(o.argc, 3);
    assert_string_equal(o.argv[2], "-p");
    assert_string_equal(
        json_string_value(json_object_get(o.dynamic, "my.key")), "a=b");
    assert_string_equal(json_string_value(json_object_get(
                            o.dynamic, "parallelism.default")),
                        "3");
    assert_int_equal(cf_config_get_int(cfg, "parallelism.default", 1), 3);
    cf_cli_opts_deinit(&o);
    cf_config_destroy(cfg);
}

static void
test_parse_errors(void **state)
{
    (void)state;
    cf_config_t *cfg = cf_config_new();
    cf_cli_opts_t o;
    char *bad_p[] = {"-p", "0", "x.so", NULL};
    char *no_plugin[] = {"-d", NULL};
    char *bogus[] = {"--bogus", NULL};
    char *list_p[] = {"-p", "2", NULL};
    char *bad_d[] = {"-D", "parallelism.default=many", "x.so", NULL};
    char *help[] = {"-r", "-h", NULL};

    assert_int_equal(cf_cli_parse(CF_CLI_RUN, 3, bad_p, cfg, &o), 1);
    cf_cli_opts_deinit(&o);
    assert_int_equal(cf_cli_parse(CF_CLI_RUN, 1, no_plugin, cfg, &o), 1);
    cf_cli_opts_deinit(&o);
    assert_int_equal(cf_cli_parse(CF_CLI_LIST, 1, bogus, cfg, &o), 1);
    cf_cli_opts_deinit(&o);
    /* -p is an option of run and info, not of list. */
    assert_int_equal(cf_cli_parse(CF_CLI_LIST, 2, list_p, cfg, &o), 1);
    cf_cli_opts_deinit(&o);
    assert_int_equal(cf_cli_parse(CF_CLI_RUN, 3, bad_d, cfg, &o), 1);
    cf_cli_opts_deinit(&o);
    assert_int_equal(cf_cli_parse(CF_CLI_LIST, 2, help, cfg, &o),
                     CF_CLI_HELP_SHOWN);
    cf_cli_opts_deinit(&o);
    cf_config_destroy(cfg);
}

static void
test_parse_list_cancel(void **state)
{
    (void)state;
    cf_config_t *cfg = cf_config_new();
    cf_cli_opts_t o;
    char *list[] = {"-r", "--all", "-m", "h:2", NULL};
    /* Options may follow the job id (Flink does not stop at it). */
    char *cancel[] = {"0123456789abcdef0123456789ABCDEF", "-m", "h:3",
                      NULL};

    assert_int_equal(cf_cli_parse(CF_CLI_LIST, 4, list, cfg, &o), 0);
    assert_true(o.list_running);
    assert_false(o.list_scheduled);
    assert_true(o.list_all);
    assert_int_equal(o.argc, 0);
    cf_cli_opts_deinit(&o);

    assert_int_equal(cf_cli_parse(CF_CLI_CANCEL, 3, cancel, cfg, &o), 0);
    assert_int_equal(o.argc, 1);
    assert_string_equal(o.jobmanager, "h:3");
    char id[33];
    assert_int_equal(cf_cli_parse_job_id(o.argv[0], id), 0);
    assert_string_equal(id, "0123456789abcdef0123456789abcdef");
    cf_cli_opts_deinit(&o);
    cf_config_destroy(cfg);
}

static void
test_job_id(void **state)
{
    (void)state;
    char id[33];
    assert_int_equal(cf_cli_parse_job_id("xyz", id), CF_EINVAL);
    assert_int_equal(cf_cli_parse_job_id("", id), CF_EINVAL);
    assert_int_equal(cf_cli_parse_job_id(NULL, id), CF_EINVAL);
    assert_int_equal(
        cf_cli_parse_job_id("0123456789abcdef0123456789abcdeg", id),
        CF_EINVAL);
    assert_int_equal(
        cf_cli_parse_job_id("0123456789abcdef0123456789abcdef0", id),
        CF_EINVAL);
    assert_int_equal(
        cf_cli_parse_job_id("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF", id), 0);
    assert_string_equal(id, "ffffffffffffffffffffffffffffffff");
}

/* ------------------------------------------------------------------ */
/* Address                                                             */
/* ------------------------------------------------------------------ */

static void
expect_url(const cf_config_t *cfg, const char *m, const char *want)
{
    cf_error_t *err = NULL;
    char *url = NULL;
    int rc = cf_cli_rest_base_url(cfg, m, &url, &err);
    if (rc < 0)
        fail_msg("%s: %s", m ? m : "(config)", cf_error_msg(err));
    assert_string_equal(url, want);
    cf_free(url);
}

static void
expect_bad_m(const cf_config_t *cfg, const char *m, const char *text)
{
    cf_error_t *err = NULL;
    char *url = NULL;
    assert_true(cf_cli_rest_base_url(cfg, m, &url, &err) < 0);
    assert_null(url);
    assert_non_null(strstr(cf_error_msg(err), text));
    cf_error_free(err);
}

static void
test_base_url(void **state)
{
    (void)state;
    cf_config_t *cfg = cf_config_new();
    cf_error_t *err = NULL;

    /* Defaults: localhost:8081 (rest.address falls back to
     * jobmanager.rpc.address, which has no default). */
    expect_url(cfg, NULL, "http://localhost:8081");
    assert_int_equal(cf_config_set(cfg, "jobmanager.rpc.address", "jm1",
                                   "-D", &err),
                     0);
    expect_url(cfg, NULL, "http://jm1:8081");
    assert_int_equal(cf_config_set(cfg, "rest.address", "10.0.0.1", "-D",
                                   &err),
                     0);
    assert_int_equal(cf_config_set(cfg, "rest.port", "9000", "-D", &err), 0);
    assert_int_equal(cf_config_set(cfg, "rest.path", "/flink/", "-D", &err),
                     0);
    expect_url(cfg, NULL, "http://10.0.0.1:9000/flink");

    /* -m wins over the configuration. */
    expect_url(cfg, "127.0.0.1:1234", "http://127.0.0.1:1234");
    expect_url(cfg, "http://host:80/a/b/", "http://host:80/a/b");
    expect_url(cfg, "[::1]:8081", "http://[::1]:8081");
    expect_bad_m(cfg, "localhost", "doesn't contain a valid port");
    expect_bad_m(cfg, "localhost:", "doesn't contain a valid port");
    expect_bad_m(cfg, "localhost:99999", "doesn't contain a valid port");
    expect_bad_m(cfg, ":8081", "doesn't contain a valid port");
    expect_bad_m(cfg, "https://h:443", "https");
    cf_config_destroy(cfg);
}

/* ------------------------------------------------------------------ */
/* list                                                                */
/* ------------------------------------------------------------------ */

/* 2026-01-02 03:04:05 UTC = 1767323045000 ms. */
static const char *jobs_json =
    "{\"jobs\":["
    "{\"jid\":\"cccccccccccccccccccccccccccccccc\",\"name\":\"C\","
    "\"state\":\"RUNNING\",\"start-time\":1767323047000},"
    "{\"jid\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\",\"name\":\"A\","
    "\"state\":\"RESTARTING\",\"start-time\":1767323045000},"
    "{\"jid\":\"dddddddddddddddddddddddddddddddd\",\"name\":\"D\","
    "\"state\":\"INITIALIZING\",\"start-time\":1767323046000},"
    "{\"jid\":\"eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee\",\"name\":\"E\","
    "\"state\":\"FINISHED\",\"start-time\":1767323040000},"
    "{\"jid\":\"ffffffffffffffffffffffffffffffff\",\"name\":\"F\","
    "\"state\":\"CANCELED\",\"start-time\":1767323040000},"
    "{\"jid\":\"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\",\"name\":\"B\","
    "\"state\":\"CANCELLING\",\"start-time\":1767323045000}"
    "]}";

static void
test_list_format(void **state)
{
    (void)state;
    int rc;
    char *out;

    setenv("TZ", "UTC", 1);
    tzset();
    /* Default: running and scheduled. Ties on start time go by state
     * name (CANCELLING before RESTARTING), as Flink's sort. */
    out = capture_list(jobs_json, 1, 1, 0, &rc);
    assert_int_equal(rc, 0);
    assert_string_equal(
        out,
        "------------------ Running/Restarting Jobs -------------------\n"
        "02.01.2026 03:04:05 : bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb : B "
        "(CANCELLING)\n"
        "02.01.2026 03:04:05 : aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa : A "
        "(RESTARTING)\n"
        "02.01.2026 03:04:07 : cccccccccccccccccccccccccccccccc : C "
        "(RUNNING)\n"
        "--------------------------------------------------------------\n"
        "----------------------- Scheduled Jobs -----------------------\n"
        "02.01.2026 03:04:06 : dddddddddddddddddddddddddddddddd : D "
        "(INITIALIZING)\n"
        "--------------------------------------------------------------\n");
    free(out);

    /* -a adds the terminated jobs. */
    out = capture_list(jobs_json, 0, 0, 1, &rc);
    assert_non_null(strstr(
        out,
        "---------------------- Terminated Jobs -----------------------\n"
        "02.01.2026 03:04:00 : ffffffffffffffffffffffffffffffff : F "
        "(CANCELED)\n"
        "02.01.2026 03:04:00 : eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee : E "
        "(FINISHED)\n"
        "--------------------------------------------------------------\n"));
    free(out);

    /* No jobs. */
    out = capture_list("{\"jobs\":[]}", 1, 1, 0, &rc);
    assert_string_equal(out, "No running jobs.\nNo scheduled jobs.\n");
    free(out);
    out = capture_list("{\"jobs\":[]}", 0, 1, 0, &rc);
    assert_string_equal(out, "No scheduled jobs.\n");
    free(out);
    out = capture_list("{\"jobs\":[]}", 0, 0, 1, &rc);
    assert_string_equal(out, "No running jobs.\nNo scheduled jobs.\n");
    free(out);

    /* Not a job list. */
    out = capture_list("{\"errors\":[\"x\"]}", 1, 1, 0, &rc);
    assert_int_equal(rc, CF_EPROTO);
    free(out);
}

/* ------------------------------------------------------------------ */
/* Results and errors                                                  */
/* ------------------------------------------------------------------ */

static int
report(const char *json, char **out, char **err)
{
    size_t lo, le;
    FILE *fo = open_memstream(out, &lo);
    FILE *fe = open_memstream(err, &le);
    json_error_t jerr;
    json_t *j = json_loads(json, 0, &jerr);
    assert_non_null(j);
    int rc = cf_cli_report_result(fo, fe, "0123456789abcdef0123456789abcdef",
                                  j);
    fclose(fo);
    fclose(fe);
    json_decref(j);
    return rc;
}

static void
test_report_result(void **state)
{
    (void)state;
    char *out, *err;

    assert_int_equal(
        report("{\"status\":{\"id\":\"COMPLETED\"},\"job-execution-result\":"
               "{\"application-status\":\"SUCCEEDED\",\"net-runtime\":42}}",
               &out, &err),
        0);
    assert_string_equal(out, "Program execution finished\n"
                             "Job with JobID "
                             "0123456789abcdef0123456789abcdef has "
                             "finished.\nJob Runtime: 42 ms\n");
    assert_string_equal(err, "");
    free(out);
    free(err);

    assert_int_equal(
        report("{\"status\":{\"id\":\"COMPLETED\"},\"job-execution-result\":"
               "{\"application-status\":\"FAILED\",\"net-runtime\":1,"
               "\"failure-cause\":{\"class\":\"org.x.E\","
               "\"stack-trace\":\"bad value 5\\n\"}}}",
               &out, &err),
        1);
    assert_string_equal(out, "");
    assert_string_equal(
        err, "\n------------------------------------------------------------"
             "\n The program finished with the following exception:\n\n"
             "org.apache.flink.runtime.client.JobExecutionException: Job "
             "execution failed.\nCaused by: org.x.E: bad value 5\n");
    free(out);
    free(err);

    /* A full Flink stack trace already names its class. */
    assert_int_equal(
        report("{\"status\":{\"id\":\"COMPLETED\"},\"job-execution-result\":"
               "{\"application-status\":\"FAILED\",\"failure-cause\":"
               "{\"class\":\"org.x.E\",\"stack-trace\":\"org.x.E: m\\n\\tat "
               "a.b(c)\"}}}",
               &out, &err),
        1);
    assert_non_null(strstr(err, "Caused by: org.x.E: m\n\tat a.b(c)\n"));
    free(out);
    free(err);

    assert_int_equal(
        report("{\"status\":{\"id\":\"COMPLETED\"},\"job-execution-result\":"
               "{\"application-status\":\"CANCELED\"}}",
               &out, &err),
        1);
    assert_non_null(strstr(err, "org.apache.flink.runtime.client."
                                "JobCancellationException: Job was "
                                "cancelled.\n"));
    free(out);
    free(err);
}

static void
test_error_text(void **state)
{
    (void)state;
    cf_cli_resp_t r = {0};
    char *t;

    r.status = 404;
    r.body = json_loads("{\"errors\":[\"Job not found\",\"more\"]}", 0,
                        NULL);
    t = cf_cli_rest_error_text(&r);
    assert_string_equal(t, "[Job not found, more]");
    free(t);
    cf_cli_resp_deinit(&r);

    r.status = 502;
    r.raw = cf_strdup("<html>bad gateway</html>");
    t = cf_cli_rest_error_text(&r);
    assert_string_equal(t, "HTTP 502: <html>bad gateway</html>");
    free(t);
    cf_cli_resp_deinit(&r);

    r.status = 500;
    r.body = json_loads("{}", 0, NULL);
    r.raw = cf_strdup("{}");
    t = cf_cli_rest_error_text(&r);
    assert_string_equal(t, "HTTP 500");
    free(t);
    cf_cli_resp_deinit(&r);
}

/* A JobManager that is not there: Flink's message names the address. */
static void
test_connection_refused(void **state)
{
    (void)state;
    struct sockaddr_in sa = {0};
    socklen_t len = sizeof(sa);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    cf_config_t *cfg = cf_config_new();
    cf_cli_resp_t resp;
    cf_error_t *err = NULL;

    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(s, (struct sockaddr *)&sa, &len), 0);
    close(s); /* bound, never listened: refused */

    char *url = cf_asprintf("http://127.0.0.1:%d", ntohs(sa.sin_port));
    char *want = cf_asprintf("Could not connect to the JobManager at %s: "
                             "Connection refused",
                             url);
    cf_cli_rest_t *r = cf_cli_rest_new(url, cfg);
    assert_string_equal(cf_cli_rest_url(r), url);
    assert_true(cf_cli_rest_call(r, "GET", "/jobs/overview", NULL, &resp,
                                 &err) < 0);
    assert_string_equal(cf_error_msg(err), want);
    cf_error_free(err);
    err = NULL;
    char file[] = "/tmp/cf-test-cli-XXXXXX";
    int fd = mkstemp(file);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "x", 1), 1);
    close(fd);
    assert_true(cf_cli_rest_upload(r, "/jars/upload", file, &resp, &err) <
                0);
    unlink(file);
    assert_string_equal(cf_error_msg(err), want);
    cf_error_free(err);
    cf_cli_rest_destroy(r);
    cf_free(want);
    cf_free(url);
    cf_config_destroy(cfg);
}


/* ------------------------------------------------------------------ */
/* Checkpoints and savepoints: options                                 */
/* ------------------------------------------------------------------ */

#define JID "0123456789abcdef0123456789abcdef"

static void
test_parse_ckpt_actions(void **state)
{
    (void)state;
    cf_config_t *cfg = cf_config_new();
    cf_cli_opts_t o;
    char *run[] = {"-s", "/sp/savepoint-1", "-n", "-cm", "NO_CLAIM",
                   "x.so", NULL};
    char *sp[] = {"-type", "native", "-detached", JID, "/dir", NULL};
    char *sp_d[] = {"-d", "/sp/savepoint-2", "-j", "x.jar", NULL};
    char *stop[] = {"--savepointPath", "/dir", "-d", JID, NULL};
    char *stop_jid[] = {"-p", JID, NULL};         /* -p's value is the job */
    char *stop_flag[] = {"-p", "-d", JID, NULL};  /* -p without a value */
    char *ckpt[] = {"-full", JID, NULL};
    char *cancel_s[] = {"-s", "/dir", JID, NULL};
    char *bad_type[] = {"-type", "binary", JID, NULL};
    char *bad_cm[] = {"-cm", "steal", "x.so", NULL};
    char *no_d[] = {"-d", NULL};
    char *full_sp[] = {"-full", JID, NULL};

    assert_int_equal(cf_cli_parse(CF_CLI_RUN, 6, run, cfg, &o), 0);
    assert_string_equal(o.from_savepoint, "/sp/savepoint-1");
    assert_true(o.allow_non_restored);
    assert_string_equal(o.claim_mode, "NO_CLAIM");
    assert_string_equal(o.plugin, "x.so");
    cf_cli_opts_deinit(&o);

    assert_int_equal(cf_cli_parse(CF_CLI_SAVEPOINT, 5, sp, cfg, &o), 0);
    assert_true(o.format_native);
    assert_true(o.detached_op);
    assert_null(o.dispose);
    assert_int_equal(o.argc, 2);
    assert_string_equal(o.argv[0], JID);
    assert_string_equal(o.argv[1], "/dir");
    cf_cli_opts_deinit(&o);

    assert_int_equal(cf_cli_parse(CF_CLI_SAVEPOINT, 4, sp_d, cfg, &o), 0);
    assert_string_equal(o.dispose, "/sp/savepoint-2");
    assert_int_equal(o.argc, 0);
    cf_cli_opts_deinit(&o);

    assert_int_equal(cf_cli_parse(CF_CLI_STOP, 4, stop, cfg, &o), 0);
    assert_true(o.savepoint_flag);
    assert_string_equal(o.savepoint_dir, "/dir");
    assert_true(o.drain);
    assert_int_equal(o.argc, 1);
    cf_cli_opts_deinit(&o);

    assert_int_equal(cf_cli_parse(CF_CLI_STOP, 2, stop_jid, cfg, &o), 0);
    assert_string_equal(o.savepoint_dir, JID);
    assert_int_equal(o.argc, 0);
    cf_cli_opts_deinit(&o);

    assert_int_equal(cf_cli_parse(CF_CLI_STOP, 3, stop_flag, cfg, &o), 0);
    assert_true(o.savepoint_flag);
    assert_null(o.savepoint_dir);
    assert_true(o.drain);
    assert_int_equal(o.argc, 1);
    cf_cli_opts_deinit(&o);

    assert_int_equal(cf_cli_parse(CF_CLI_CHECKPOINT, 2, ckpt, cfg, &o), 0);
    assert_true(o.full);
    assert_int_equal(o.argc, 1);
    cf_cli_opts_deinit(&o);

    assert_int_equal(cf_cli_parse(CF_CLI_CANCEL, 3, cancel_s, cfg, &o), 0);
    assert_true(o.savepoint_flag);
    assert_string_equal(o.savepoint_dir, "/dir");
    assert_int_equal(o.argc, 1);
    cf_cli_opts_deinit(&o);

    assert_int_equal(cf_cli_parse(CF_CLI_SAVEPOINT, 3, bad_type, cfg, &o), 1);
    cf_cli_opts_deinit(&o);
    assert_int_equal(cf_cli_parse(CF_CLI_RUN, 3, bad_cm, cfg, &o), 1);
    cf_cli_opts_deinit(&o);
    /* savepoint -d needs its path */
    assert_int_equal(cf_cli_parse(CF_CLI_SAVEPOINT, 1, no_d, cfg, &o), 1);
    cf_cli_opts_deinit(&o);
    /* -full is checkpoint's, not savepoint's */
    assert_int_equal(cf_cli_parse(CF_CLI_SAVEPOINT, 2, full_sp, cfg, &o), 1);
    cf_cli_opts_deinit(&o);
    cf_config_destroy(cfg);
}

static void
test_failure_text(void **state)
{
    (void)state;
    char *cls, *msg;
    json_t *c = json_pack(
        "{ssss}", "class",
        "org.apache.flink.runtime.checkpoint.CheckpointException",
        "stack-trace",
        "org.apache.flink.runtime.checkpoint.CheckpointException: "
        "/no/dir: No such file or directory\n");

    cf_cli_failure_text(c, &cls, &msg);
    assert_string_equal(cls,
                        "org.apache.flink.runtime.checkpoint."
                        "CheckpointException");
    assert_string_equal(msg, "/no/dir: No such file or directory");
    cf_free(cls);
    cf_free(msg);
    json_decref(c);
    c = json_object();
    cf_cli_failure_text(c, &cls, &msg);
    assert_string_equal(cls, "java.lang.Exception");
    assert_string_equal(msg, "");
    cf_free(cls);
    cf_free(msg);
    json_decref(c);
}

/* ------------------------------------------------------------------ */
/* Checkpoints and savepoints: a fake JobManager                       */
/* ------------------------------------------------------------------ */

/* Canned answers by "METHOD path" prefix; a status path answers
 * IN_PROGRESS the first time, then its final body. */
typedef struct fake_route_s {
    const char *req;
    int code;
    const char *body;
    int polls;
} fake_route_t;

static struct {
    int fd, port;
    pthread_t th;
    fake_route_t *routes;
    int nroutes;
    char bodies[8][1024]; /* request bodies of POSTs, in order */
    int nbodies;
} fake;

static void *
fake_main(void *arg)
{
    (void)arg;
    for (;;) {
        char buf[8192];
        size_t n = 0;
        int c = accept(fake.fd, NULL, NULL);
        if (c < 0)
            return NULL;
        /* headers, then Content-Length bytes of body */
        for (;;) {
            ssize_t k = read(c, buf + n, sizeof buf - 1 - n);
            if (k <= 0)
                break;
            n += (size_t)k;
            buf[n] = '\0';
            char *end = strstr(buf, "\r\n\r\n");
            if (end) {
                char *cl = strcasestr(buf, "Content-Length:");
                size_t want = cl ? (size_t)atol(cl + 15) : 0;
                if (n >= (size_t)(end + 4 - buf) + want)
                    break;
            }
        }
        char method[16] = "", path[512] = "";
        sscanf(buf, "%15s %511s", method, path);
        char *body = strstr(buf, "\r\n\r\n");
        if (strcmp(method, "POST") == 0 && body && fake.nbodies < 8)
            snprintf(fake.bodies[fake.nbodies++], 1024, "%s", body + 4);
        char key[600];
        snprintf(key, sizeof key, "%s %s", method, path);
        int code = 404;
        const char *out = "{\"errors\":[\"Not found: x\"]}";
        for (int i = 0; i < fake.nroutes; i++) {
            fake_route_t *rt = &fake.routes[i];
            if (strncmp(key, rt->req, strlen(rt->req)) == 0) {
                code = rt->code;
                out = rt->body;
                if (rt->polls-- > 0)
                    out = "{\"status\":{\"id\":\"IN_PROGRESS\"}}";
                break;
            }
        }
        char *resp = cf_asprintf("HTTP/1.1 %d X\r\nContent-Type: "
                                 "application/json\r\nContent-Length: %zu"
                                 "\r\nConnection: close\r\n\r\n%s",
                                 code, strlen(out), out);
        ssize_t w = write(c, resp, strlen(resp));
        (void)w;
        cf_free(resp);
        close(c);
    }
}

static void
fake_start(fake_route_t *routes, int n)
{
    struct sockaddr_in sa = {0};
    socklen_t len = sizeof sa;
    memset(&fake, 0, sizeof fake);
    fake.routes = routes;
    fake.nroutes = n;
    fake.fd = socket(AF_INET, SOCK_STREAM, 0);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fake.fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(fake.fd, 16), 0);
    assert_int_equal(getsockname(fake.fd, (struct sockaddr *)&sa, &len), 0);
    fake.port = ntohs(sa.sin_port);
    assert_int_equal(pthread_create(&fake.th, NULL, fake_main, NULL), 0);
}

static void
fake_stop(void)
{
    shutdown(fake.fd, SHUT_RDWR);
    close(fake.fd);
    pthread_join(fake.th, NULL);
}

typedef int (*ckpt_action_fn)(cf_config_t *, cf_cli_opts_t *, FILE *,
                              FILE *);

/* Run an action with argv against the fake; *out and *err get what it
 * printed (free both). */
static int
run_action(cf_cli_action_t a, ckpt_action_fn fn, int argc, char **argv,
           char **out, char **err)
{
    cf_config_t *cfg = cf_config_new();
    cf_cli_opts_t o;
    size_t lo = 0, le = 0;
    FILE *fo = open_memstream(out, &lo), *fe = open_memstream(err, &le);
    char m[64];
    int rc;

    snprintf(m, sizeof m, "127.0.0.1:%d", fake.port);
    assert_int_equal(cf_cli_parse(a, argc, argv, cfg, &o), 0);
    o.jobmanager = m;
    rc = fn(cfg, &o, fo, fe);
    fclose(fo);
    fclose(fe);
    cf_cli_opts_deinit(&o);
    cf_config_destroy(cfg);
    return rc;
}

#define TRIG "fedcba9876543210fedcba9876543210"

static void
test_savepoint_messages(void **state)
{
    (void)state;
    fake_route_t routes[] = {
        {"POST /jobs/" JID "/savepoints", 202,
         "{\"request-id\":\"" TRIG "\"}", 0},
        {"GET /jobs/" JID "/savepoints/" TRIG, 200,
         "{\"status\":{\"id\":\"COMPLETED\"},\"operation\":{\"location\":"
         "\"/sp/savepoint-012345-abcdefabcdef\"}}",
         2},
        {"POST /savepoint-disposal", 200, "{\"request-id\":\"" TRIG "\"}",
         0},
        {"GET /savepoint-disposal/" TRIG, 200,
         "{\"status\":{\"id\":\"COMPLETED\"},\"operation\":{}}", 1},
    };
    char *argv[] = {JID, "/sp", NULL};
    char *argv_d[] = {"-d", "/sp/savepoint-012345-abcdefabcdef", NULL};
    char *argv_det[] = {"-detached", JID, NULL};
    char *none[] = {NULL};
    char *out, *err;

    fake_start(routes, 4);
    assert_int_equal(run_action(CF_CLI_SAVEPOINT, cf_cli_savepoint, 2, argv,
                                &out, &err),
                     0);
    assert_string_equal(out,
                        "Triggering savepoint for job " JID ".\n"
                        "Waiting for response...\n"
                        "Savepoint completed. Path: "
                        "/sp/savepoint-012345-abcdefabcdef\n"
                        "You can resume your program from this savepoint "
                        "with the run command.\n");
    assert_string_equal(err, "");
    /* the request body: Flink's SavepointTriggerRequestBody */
    json_t *b = json_loads(fake.bodies[0], 0, NULL);
    assert_non_null(b);
    assert_string_equal(
        json_string_value(json_object_get(b, "target-directory")), "/sp");
    assert_true(json_is_false(json_object_get(b, "cancel-job")));
    json_decref(b);
    free(out);
    free(err);

    assert_int_equal(run_action(CF_CLI_SAVEPOINT, cf_cli_savepoint, 2,
                                argv_d, &out, &err),
                     0);
    assert_string_equal(out,
                        "Disposing savepoint "
                        "'/sp/savepoint-012345-abcdefabcdef'.\n"
                        "Waiting for response...\n"
                        "Savepoint '/sp/savepoint-012345-abcdefabcdef' "
                        "disposed.\n");
    free(out);
    free(err);

    assert_int_equal(run_action(CF_CLI_SAVEPOINT, cf_cli_savepoint, 2,
                                argv_det, &out, &err),
                     0);
    assert_string_equal(out,
                        "Triggering savepoint in detached mode for job " JID
                        ".\nSuccessfully trigger manual savepoint, "
                        "triggerId: " TRIG "\n");
    free(out);
    free(err);

    assert_int_equal(run_action(CF_CLI_SAVEPOINT, cf_cli_savepoint, 0, none,
                                &out, &err),
                     1);
    assert_string_equal(err, "Missing JobID. Specify a Job ID to trigger a "
                             "savepoint.\n\nUse the help option (-h or "
                             "--help) to get help on the command.\n");
    free(out);
    free(err);
    fake_stop();
}

static void
test_stop_checkpoint_messages(void **state)
{
    (void)state;
    fake_route_t routes[] = {
        {"POST /jobs/" JID "/stop", 202, "{\"request-id\":\"" TRIG "\"}",
         0},
        {"GET /jobs/" JID "/savepoints/" TRIG, 200,
         "{\"status\":{\"id\":\"COMPLETED\"},\"operation\":{\"location\":"
         "\"/sp/savepoint-012345-000000000000\"}}",
         1},
        {"POST /jobs/" JID "/checkpoints", 202,
         "{\"request-id\":\"" TRIG "\"}", 0},
        {"GET /jobs/" JID "/checkpoints/" TRIG, 200,
         "{\"status\":{\"id\":\"COMPLETED\"},\"operation\":{\"checkpointId\""
         ":42}}",
         1},
    };
    char *stop[] = {"-d", "-p", "/sp", JID, NULL};
    char *ckpt[] = {"-full", JID, NULL};
    char *none[] = {NULL};
    char *out, *err;

    fake_start(routes, 4);
    assert_int_equal(
        run_action(CF_CLI_STOP, cf_cli_stop, 4, stop, &out, &err), 0);
    assert_string_equal(out,
                        "Draining job \"" JID "\" with a CANONICAL "
                        "savepoint.\n"
                        "Triggering stop-with-savepoint for job " JID ".\n"
                        "Waiting for response...\n"
                        "Savepoint completed. Path: "
                        "/sp/savepoint-012345-000000000000\n");
    json_t *b = json_loads(fake.bodies[0], 0, NULL);
    assert_non_null(b);
    assert_string_equal(
        json_string_value(json_object_get(b, "targetDirectory")), "/sp");
    assert_true(json_is_true(json_object_get(b, "drain")));
    json_decref(b);
    free(out);
    free(err);

    assert_int_equal(run_action(CF_CLI_CHECKPOINT, cf_cli_checkpoint, 2,
                                ckpt, &out, &err),
                     0);
    assert_string_equal(out,
                        "Triggering checkpoint for job " JID ".\n"
                        "Waiting for response...\n"
                        "Checkpoint(FULL) 42 for job " JID " completed.\n"
                        "You can resume your program from this checkpoint "
                        "with the run command.\n");
    free(out);
    free(err);

    assert_int_equal(
        run_action(CF_CLI_STOP, cf_cli_stop, 0, none, &out, &err), 1);
    assert_string_equal(err, "Missing JobId\n\nUse the help option (-h or "
                             "--help) to get help on the command.\n");
    free(out);
    free(err);
    assert_int_equal(run_action(CF_CLI_CHECKPOINT, cf_cli_checkpoint, 0,
                                none, &out, &err),
                     1);
    assert_string_equal(err, "Missing JobID. Specify a Job ID to manipulate "
                             "a checkpoint.\n\nUse the help option (-h or "
                             "--help) to get help on the command.\n");
    free(out);
    free(err);
    fake_stop();
}

static void
test_ckpt_failures(void **state)
{
    (void)state;
    fake_route_t routes[] = {
        {"POST /jobs/" JID "/savepoints", 202,
         "{\"request-id\":\"" TRIG "\"}", 0},
        {"GET /jobs/" JID "/savepoints/" TRIG, 200,
         "{\"status\":{\"id\":\"COMPLETED\"},\"operation\":{\"failure-cause\""
         ":{\"class\":\"org.apache.flink.runtime.checkpoint."
         "CheckpointException\",\"stack-trace\":\"org.apache.flink.runtime."
         "checkpoint.CheckpointException: /ro: Permission denied\","
         "\"serialized-throwable\":\"eA==\"}}}",
         0},
        {"POST /jobs/" JID "/checkpoints", 404,
         "{\"errors\":[\"Job " JID " not found\"]}", 0},
    };
    char *sp[] = {JID, "/ro", NULL};
    char *ckpt[] = {JID, NULL};
    char *out, *err;

    fake_start(routes, 3);
    assert_int_equal(
        run_action(CF_CLI_SAVEPOINT, cf_cli_savepoint, 2, sp, &out, &err),
        1);
    assert_string_equal(err,
                        "\n------------------------------------------------"
                        "------------\n The program finished with the "
                        "following exception:\n\n"
                        "org.apache.flink.util.FlinkException: Failed to "
                        "trigger a savepoint for the job " JID ".\n"
                        "Caused by: org.apache.flink.runtime.checkpoint."
                        "CheckpointException: /ro: Permission denied\n");
    free(out);
    free(err);

    assert_int_equal(run_action(CF_CLI_CHECKPOINT, cf_cli_checkpoint, 1,
                                ckpt, &out, &err),
                     1);
    assert_non_null(strstr(err, "org.apache.flink.util.FlinkException: "
                                "Failed to trigger a checkpoint for the job "
                                JID ".\nCaused by: "
                                "org.apache.flink.runtime.rest.util."
                                "RestClientException: [Job " JID
                                " not found]\n"));
    free(out);
    free(err);
    fake_stop();
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_run),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_parse_list_cancel),
        cmocka_unit_test(test_job_id),
        cmocka_unit_test(test_base_url),
        cmocka_unit_test(test_list_format),
        cmocka_unit_test(test_report_result),
        cmocka_unit_test(test_error_text),
        cmocka_unit_test(test_connection_refused),
        cmocka_unit_test(test_parse_ckpt_actions),
        cmocka_unit_test(test_failure_text),
        cmocka_unit_test(test_savepoint_messages),
        cmocka_unit_test(test_stop_checkpoint_messages),
        cmocka_unit_test(test_ckpt_failures),
    };
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
