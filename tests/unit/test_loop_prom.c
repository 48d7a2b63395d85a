/*
 * test_loop_prom.c: the Prometheus reporter's shared part
 * (src/loop/prom_server.c): port specifications, the HTTP endpoint
 * (GET /metrics with the 0.0.4 content type, 404 and 405, the snapshot
 * swap, the first free port of a list with a busy one, a busy single
 * port as an error naming the key), the configuration
 * (metrics.reporter.prom.*: disabled, Flink's factory class and the
 * short form, bad values named), process metrics and the text format
 * (families, label filtering and escaping, integer values).
 */
#include "prom_server.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cmocka.h>

#include "config.h"
#include "core.h"

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

/* One HTTP/1.0 exchange with 127.0.0.1:port; the whole response, or
 * NULL. */
static char *
http(int port, const char *method, const char *path)
{
    struct sockaddr_in sa;
    char req[256], *buf = cf_calloc(1, 65536);
    size_t len = 0;
    ssize_t n;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        if (fd >= 0)
            close(fd);
        cf_free(buf);
        return NULL;
    }
    snprintf(req, sizeof req, "%s %s HTTP/1.0\r\nHost: x\r\n\r\n", method,
             path);
    if (write(fd, req, strlen(req)) != (ssize_t)strlen(req)) {
        close(fd);
        cf_free(buf);
        return NULL;
    }
    while (len < 65535 && (n = read(fd, buf + len, 65535 - len)) > 0)
        len += (size_t)n;
    buf[len] = '\0';
    close(fd);
    return buf;
}

static const char *
body_of(const char *resp)
{
    const char *b = strstr(resp, "\r\n\r\n");
    return b ? b + 4 : "";
}

/* A listening socket on 127.0.0.1 and an ephemeral port. */
static int
listener(int *port)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(fd, 4), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

/* ------------------------------------------------------------------ */
/* Ports                                                               */
/* ------------------------------------------------------------------ */

static void
test_parse_ports(void **state)
{
    int r[4][2];

    (void)state;
    assert_int_equal(cf_prom_parse_ports("9249", r, 4), 1);
    assert_int_equal(r[0][0], 9249);
    assert_int_equal(r[0][1], 9249);
    assert_int_equal(cf_prom_parse_ports("9250-9260", r, 4), 1);
    assert_int_equal(r[0][0], 9250);
    assert_int_equal(r[0][1], 9260);
    assert_int_equal(cf_prom_parse_ports(" 9250 - 9252 , 9300,0", r, 4), 3);
    assert_int_equal(r[0][1], 9252);
    assert_int_equal(r[1][0], 9300);
    assert_int_equal(r[1][1], 9300);
    assert_int_equal(r[2][0], 0);

    /* Malformed. */
    assert_int_equal(cf_prom_parse_ports(NULL, r, 4), -1);
    assert_int_equal(cf_prom_parse_ports("", r, 4), -1);
    assert_int_equal(cf_prom_parse_ports("abc", r, 4), -1);
    assert_int_equal(cf_prom_parse_ports("9249x", r, 4), -1);
    assert_int_equal(cf_prom_parse_ports("9260-9250", r, 4), -1);
    assert_int_equal(cf_prom_parse_ports("70000", r, 4), -1);
    assert_int_equal(cf_prom_parse_ports("-5", r, 4), -1);
    assert_int_equal(cf_prom_parse_ports("9250-", r, 4), -1);
    assert_int_equal(cf_prom_parse_ports("99999999999999999999", r, 4), -1);
    /* More ranges than room. */
    assert_int_equal(cf_prom_parse_ports("1,2,3,4,5", r, 4), -1);
}

/* ------------------------------------------------------------------ */
/* HTTP endpoint                                                       */
/* ------------------------------------------------------------------ */

static void
test_server_serves_snapshot(void **state)
{
    cf_error_t *err = NULL;
    cf_prom_server_t *s;
    char *resp;
    int port;

    (void)state;
    s = cf_prom_server_new("127.0.0.1", "0", NULL, &err);
    assert_non_null(s);
    port = cf_prom_server_port(s);
    assert_true(port > 0);

    /* Before the first snapshot: 200 and an empty body. */
    resp = http(port, "GET", "/metrics");
    assert_non_null(resp);
    assert_non_null(strstr(resp, " 200 "));
    assert_string_equal(body_of(resp), "");
    cf_free(resp);

    cf_prom_server_set(s, "a 1\n", 4);
    resp = http(port, "GET", "/metrics");
    assert_non_null(resp);
    assert_non_null(strstr(resp, " 200 "));
    assert_non_null(
        strcasestr(resp, "Content-Type: " CF_PROM_CONTENT_TYPE "\r\n"));
    assert_string_equal(body_of(resp), "a 1\n");
    cf_free(resp);

    /* A later snapshot replaces the text; "/" is served too. */
    cf_prom_server_set(s, "b 2\nc 3\n", 8);
    resp = http(port, "GET", "/");
    assert_string_equal(body_of(resp), "b 2\nc 3\n");
    cf_free(resp);

    /* Other paths and methods. */
    resp = http(port, "GET", "/nope");
    assert_non_null(strstr(resp, " 404 "));
    cf_free(resp);
    resp = http(port, "POST", "/metrics");
    assert_non_null(strstr(resp, " 405 "));
    assert_non_null(strcasestr(resp, "Allow: GET, HEAD"));
    cf_free(resp);
    assert_int_equal(cf_prom_server_scrapes(s), 3);

    cf_prom_server_destroy(s);
    /* Closed: nobody listens any more. */
    assert_null(http(port, "GET", "/metrics"));
    cf_prom_server_destroy(NULL);
}

static void
test_server_skips_busy_port(void **state)
{
    cf_error_t *err = NULL;
    cf_prom_server_t *s;
    char spec[64];
    int busy, fd = listener(&busy);

    (void)state;
    /* The busy port alone: an error naming the key and the ports. */
    snprintf(spec, sizeof spec, "%d", busy);
    s = cf_prom_server_new("127.0.0.1", spec, "metrics.reporter.prom.port",
                           &err);
    assert_null(s);
    assert_non_null(err);
    assert_int_equal(err->code, CF_EIO);
    assert_non_null(strstr(cf_error_msg(err), "metrics.reporter.prom.port"));
    assert_non_null(strstr(cf_error_msg(err), spec));
    cf_error_free(err);
    err = NULL;

    /* A list: the busy port is skipped, the next entry taken. */
    snprintf(spec, sizeof spec, "%d,0", busy);
    s = cf_prom_server_new("127.0.0.1", spec, NULL, &err);
    assert_non_null(s);
    assert_int_not_equal(cf_prom_server_port(s), busy);
    assert_true(cf_prom_server_port(s) > 0);
    cf_prom_server_destroy(s);

    /* A malformed specification and an unknown host. */
    s = cf_prom_server_new("127.0.0.1", "92a9", "metrics.reporter.prom.port",
                           &err);
    assert_null(s);
    assert_int_equal(err->code, CF_ECONFIG);
    assert_non_null(strstr(cf_error_msg(err), "'92a9'"));
    cf_error_free(err);
    err = NULL;
    s = cf_prom_server_new("no-such-host.invalid", "0", NULL, &err);
    assert_null(s);
    assert_non_null(strstr(cf_error_msg(err), "metrics.reporter.prom.host"));
    cf_error_free(err);
    close(fd);
}

/* ------------------------------------------------------------------ */
/* Configuration                                                       */
/* ------------------------------------------------------------------ */

static cf_config_t *
conf_with(const char *factory, const char *port, const char *filter)
{
    cf_config_t *cfg = cf_config_new();
    cf_error_t *err = NULL;

    if (factory)
        assert_int_equal(cf_config_set(cfg,
                                       "metrics.reporter.prom.factory.class",
                                       factory, "-D", &err),
                         0);
    if (port)
        assert_int_equal(
            cf_config_set(cfg, "metrics.reporter.prom.port", port, "-D", &err),
            0);
    if (filter)
        assert_int_equal(
            cf_config_set(cfg,
                          "metrics.reporter.prom.filterLabelValueCharacters",
                          filter, "-D", &err),
            0);
    return cfg;
}

static void
test_conf(void **state)
{
    cf_prom_conf_t c;
    cf_prom_server_t *s = (cf_prom_server_t *)1;
    cf_error_t *err = NULL;
    cf_config_t *cfg;

    (void)state;
    /* Not configured: disabled, nothing started. */
    cfg = conf_with(NULL, NULL, NULL);
    assert_int_equal(cf_prom_conf_read(cfg, &c, &err), 0);
    assert_false(c.enabled);
    assert_int_equal(cf_prom_start(cfg, &s, NULL, &err), 0);
    assert_null(s);
    cf_config_destroy(cfg);

    /* Flink's factory class; the default port and filtering. */
    cfg = conf_with(CF_PROM_FACTORY_CLASS, NULL, NULL);
    assert_int_equal(cf_prom_conf_read(cfg, &c, &err), 0);
    assert_true(c.enabled);
    assert_string_equal(c.ports, "9249");
    assert_true(c.filter_label_values);
    assert_null(c.host);
    cf_config_destroy(cfg);

    /* The short form, a range, no filtering. */
    cfg = conf_with("prometheus", "9250-9260", "false");
    assert_int_equal(cf_prom_conf_read(cfg, &c, &err), 0);
    assert_true(c.enabled);
    assert_string_equal(c.ports, "9250-9260");
    assert_false(c.filter_label_values);
    cf_config_destroy(cfg);

    /* Started on an ephemeral port. */
    cfg = conf_with("prometheus", "0", NULL);
    assert_int_equal(cf_prom_start(cfg, &s, &c, &err), 0);
    assert_non_null(s);
    assert_true(cf_prom_server_port(s) > 0);
    cf_prom_server_destroy(s);
    cf_config_destroy(cfg);

    /* Bad values name their key. */
    cfg = conf_with("org.example.OtherReporterFactory", NULL, NULL);
    assert_int_equal(cf_prom_conf_read(cfg, &c, &err), CF_ECONFIG);
    assert_non_null(
        strstr(cf_error_msg(err), "metrics.reporter.prom.factory.class"));
    cf_error_free(err);
    err = NULL;
    assert_int_equal(cf_prom_start(cfg, &s, NULL, &err), CF_ECONFIG);
    assert_null(s);
    cf_error_free(err);
    err = NULL;
    cf_config_destroy(cfg);

    cfg = conf_with("prometheus", "9260-9250", NULL);
    assert_int_equal(cf_prom_conf_read(cfg, &c, &err), CF_ECONFIG);
    assert_non_null(strstr(cf_error_msg(err), "metrics.reporter.prom.port"));
    assert_non_null(strstr(cf_error_msg(err), "9260-9250"));
    cf_error_free(err);
    cf_config_destroy(cfg);
}

/* ------------------------------------------------------------------ */
/* Process metrics                                                     */
/* ------------------------------------------------------------------ */

static void
test_proc(void **state)
{
    cf_prom_proc_t a, b;
    cf_prom_server_t *s;
    cf_error_t *err = NULL;
    volatile double x = 0;

    (void)state;
    assert_int_equal(cf_prom_proc_read(&a), 0);
    assert_true(a.rss_bytes > 1024 * 1024 / 4);
    assert_true(a.threads >= 1);
    assert_true(a.cpu_seconds >= 0);
    /* The endpoint's polling thread shows in the thread count. */
    s = cf_prom_server_new("127.0.0.1", "0", NULL, &err);
    assert_non_null(s);
    assert_int_equal(cf_prom_proc_read(&b), 0);
    assert_true(b.threads > a.threads);
    cf_prom_server_destroy(s);
    /* CPU time moves with work (a few ticks of spinning). */
    int64_t t0 = cf_mono_ms();
    while (cf_mono_ms() - t0 < 60)
        x += 1.0;
    assert_int_equal(cf_prom_proc_read(&b), 0);
    assert_true(b.cpu_seconds > a.cpu_seconds);
}

/* ------------------------------------------------------------------ */
/* Text format                                                         */
/* ------------------------------------------------------------------ */

static void
test_text(void **state)
{
    cf_prom_text_t t = {0};
    const char *l[] = {"job_id", "ab12", "task_name", "Source: \"x\"\\y\nz",
                       NULL};

    (void)state;
    cf_prom_text_family(&t, "flink_x", "help \\ with\nnewline");
    cf_prom_text_sample(&t, "flink_x", NULL, 1, 3.0);
    cf_prom_text_sample(&t, "flink_x", NULL, 1, 0.5);
    cf_prom_text_sample_i64(&t, "flink_x", l, 1, INT64_MIN);
    cf_prom_text_sample_i64(&t, "flink_x", l, 0, 42);
    assert_string_equal(
        t.buf,
        "# HELP flink_x help \\\\ with\\nnewline\n"
        "# TYPE flink_x gauge\n"
        "flink_x 3\n"
        "flink_x 0.5\n"
        "flink_x{job_id=\"ab12\",task_name=\"Source:__x__y_z\"} "
        "-9223372036854775808\n"
        "flink_x{job_id=\"ab12\",task_name=\"Source: \\\"x\\\"\\\\y\\nz\"} "
        "42\n");
    /* Reset keeps the buffer; long text grows it. */
    cf_prom_text_reset(&t);
    assert_int_equal(t.len, 0);
    for (int i = 0; i < 2000; i++)
        cf_prom_text_printf(&t, "line %d\n", i);
    assert_non_null(strstr(t.buf, "line 1999\n"));
    assert_int_equal(strlen(t.buf), t.len);
    cf_prom_text_free(&t);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_ports),
        cmocka_unit_test(test_server_serves_snapshot),
        cmocka_unit_test(test_server_skips_busy_port),
        cmocka_unit_test(test_conf),
        cmocka_unit_test(test_proc),
        cmocka_unit_test(test_text),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
