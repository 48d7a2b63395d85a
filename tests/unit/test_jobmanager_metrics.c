/*
 * test_jobmanager_metrics.c: the metric query helpers of the REST API
 * (src/jobmanager/rest_metrics.c: "get" and "agg" parsing, Flink's bodies
 * and aggregation, the job metric table) and the process helpers both
 * daemons share (src/loop/proc_info.c: plain file names, bounded reads,
 * log directory listing, threads, process figures).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "jobmanager_int.h"
#include "proc_info.h"
#include "rest_metrics.h"

static char *
dumps(json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return s;
}

static void
test_parse_get(void **state)
{
    cf_rest_get_t g;
    char big[CF_REST_METRICS_MAX_NAME + 2];
    cf_sbuf_t many = {0};

    (void)state;
    assert_int_equal(cf_rest_metrics_parse_get(NULL, &g), 0);
    assert_int_equal(g.n, 0);
    assert_int_equal(cf_rest_metrics_parse_get("a,,b,a,c,", &g), 0);
    assert_int_equal(g.n, 3);
    assert_string_equal(g.names[0], "a");
    assert_string_equal(g.names[1], "b");
    assert_string_equal(g.names[2], "c");
    cf_rest_get_free(&g);
    assert_int_equal(g.n, 0);
    assert_int_equal(cf_rest_metrics_parse_get("a\nb", &g), -1);
    assert_int_equal(g.n, 0);
    assert_int_equal(cf_rest_metrics_parse_get("ok,\x7f", &g), -1);
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(cf_rest_metrics_parse_get(big, &g), -1);
    big[sizeof big - 2] = '\0'; /* exactly the limit */
    assert_int_equal(cf_rest_metrics_parse_get(big, &g), 0);
    cf_rest_get_free(&g);
    for (int i = 0; i <= CF_REST_METRICS_MAX_NAMES; i++)
        cf_sbuf_printf(&many, "m%d,", i);
    assert_int_equal(cf_rest_metrics_parse_get(many.s, &g), -1);
    cf_sbuf_deinit(&many);
}

static void
test_parse_agg(void **state)
{
    (void)state;
    assert_int_equal(cf_rest_metrics_parse_agg(NULL), CF_REST_AGG_ALL);
    assert_int_equal(cf_rest_metrics_parse_agg(""), CF_REST_AGG_ALL);
    assert_int_equal(cf_rest_metrics_parse_agg("min"), CF_REST_AGG_MIN);
    assert_int_equal(cf_rest_metrics_parse_agg("SUM,skew"),
                     CF_REST_AGG_SUM | CF_REST_AGG_SKEW);
    assert_int_equal(cf_rest_metrics_parse_agg("median"), -1);
    assert_int_equal(cf_rest_metrics_parse_agg("min,"), -1);
    assert_int_equal(cf_rest_metrics_parse_agg("mi"), -1);
}

static void
test_body_and_aggregate(void **state)
{
    cf_rest_metric_t m[3] = {{"a", "1"}, {"b", "2.5"}, {"c", "x"}};
    cf_rest_get_t g;
    double x[] = {1, 2, 3, 6};
    char *s;
    int st = 0;
    json_t *e;

    (void)state;
    s = dumps(cf_rest_metrics_body(m, 3, NULL));
    assert_string_equal(s, "[{\"id\":\"a\"},{\"id\":\"b\"},{\"id\":\"c\"}]");
    free(s);
    assert_int_equal(cf_rest_metrics_parse_get("c,zz,a", &g), 0);
    s = dumps(cf_rest_metrics_body(m, 3, &g));
    assert_string_equal(
        s, "[{\"id\":\"c\",\"value\":\"x\"},{\"id\":\"a\",\"value\":\"1\"}]");
    free(s);
    cf_rest_get_free(&g);

    /* mean 3, mean absolute deviation (2+1+0+3)/4 = 1.5: 50 %. */
    assert_true(fabs(cf_rest_metrics_skew(x, 4) - 50.0) < 1e-9);
    assert_true(cf_rest_metrics_skew(x, 0) == 0.0);
    s = dumps(cf_rest_metrics_aggregate("n", x, 4, CF_REST_AGG_ALL));
    assert_string_equal(s, "{\"id\":\"n\",\"min\":1.0,\"max\":6.0,\"avg\":3.0,"
                           "\"sum\":12.0,\"skew\":50.0}");
    free(s);
    s = dumps(cf_rest_metrics_aggregate("n", x, 4, CF_REST_AGG_SUM));
    assert_string_equal(s, "{\"id\":\"n\",\"sum\":12.0}");
    free(s);

    {
        double v;
        assert_int_equal(cf_rest_metrics_number("2.5", &v), 1);
        assert_true(v == 2.5);
        assert_int_equal(cf_rest_metrics_number("-1", &v), 1);
        assert_int_equal(cf_rest_metrics_number("n/a", &v), 0);
        assert_int_equal(cf_rest_metrics_number("1x", &v), 0);
        assert_int_equal(cf_rest_metrics_number("", &v), 0);
        assert_int_equal(cf_rest_metrics_number("nan", &v), 0);
    }
    e = cf_rest_metrics_bad_query(&st, "agg", "median");
    assert_int_equal(st, 400);
    s = dumps(e);
    assert_string_equal(s, "{\"errors\":[\"Bad request, could not parse "
                           "parameters: Cannot resolve query parameter "
                           "(agg) from value \\\"median\\\".\"]}");
    free(s);
}

static const char *
metric(const cf_rest_metric_t *m, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(m[i].id, id) == 0)
            return m[i].value;
    return NULL;
}

static void
test_job_metrics(void **state)
{
    cf_jobmaster_t j;
    cf_rest_metric_t m[CF_REST_METRICS_TABLE_MAX];
    size_t n;

    (void)state;
    memset(&j, 0, sizeof j);
    j.status = CF_JOB_RUNNING;
    j.status_ts[CF_JOB_RUNNING] = 10000;
    j.num_restarts = 2;
    n = cf_rest_job_metrics(&j, 15000, m, CF_ARRAY_LEN(m));
    assert_string_equal(metric(m, n, "uptime"), "5000");
    assert_string_equal(metric(m, n, "downtime"), "0");
    assert_string_equal(metric(m, n, "numRestarts"), "2");
    assert_string_equal(metric(m, n, "fullRestarts"), "2");
    assert_string_equal(metric(m, n, "restartingTime"), "0");
    assert_string_equal(metric(m, n, "lastCheckpointDuration"), "-1");
    assert_string_equal(metric(m, n, "lastCheckpointSize"), "-1");
    assert_string_equal(metric(m, n, "numberOfCompletedCheckpoints"), "0");
    assert_string_equal(metric(m, n, "lastCheckpointRestoreTimestamp"), "-1");
    assert_non_null(metric(m, n, "totalNumberOfCheckpoints"));

    /* Restarting since 20000: downtime and restartingTime grow. */
    j.status = CF_JOB_RESTARTING;
    j.status_ts[CF_JOB_RESTARTING] = 20000;
    n = cf_rest_job_metrics(&j, 20750, m, CF_ARRAY_LEN(m));
    assert_string_equal(metric(m, n, "uptime"), "0");
    assert_string_equal(metric(m, n, "downtime"), "750");
    assert_string_equal(metric(m, n, "restartingTime"), "750");
    /* Running again since 21000: restartingTime keeps the last one. */
    j.status = CF_JOB_RUNNING;
    j.status_ts[CF_JOB_RUNNING] = 21000;
    n = cf_rest_job_metrics(&j, 22000, m, CF_ARRAY_LEN(m));
    assert_string_equal(metric(m, n, "uptime"), "1000");
    assert_string_equal(metric(m, n, "restartingTime"), "1000");
    /* Globally terminal: -1 as Flink's gauges. */
    j.status = CF_JOB_FINISHED;
    n = cf_rest_job_metrics(&j, 30000, m, CF_ARRAY_LEN(m));
    assert_string_equal(metric(m, n, "uptime"), "-1");
    assert_string_equal(metric(m, n, "downtime"), "-1");
    /* A short table is cut, never overrun. */
    assert_int_equal(cf_rest_job_metrics(&j, 30000, m, 2), 2);
}

/* ------------------------------------------------------------------ */
/* proc_info.c                                                         */
/* ------------------------------------------------------------------ */

static char tmp_dir[] = "/tmp/cf-test-procinfo-XXXXXX";

static void
write_file(const char *name, const char *text)
{
    char path[600];
    FILE *f;

    snprintf(path, sizeof path, "%s/%s", tmp_dir, name);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void
test_plain_name(void **state)
{
    char big[CF_PROC_MAX_NAME + 2];

    (void)state;
    assert_true(cf_proc_plain_name("taskmanager.log"));
    assert_true(cf_proc_plain_name("a..b"));
    assert_false(cf_proc_plain_name(""));
    assert_false(cf_proc_plain_name(NULL));
    assert_false(cf_proc_plain_name("."));
    assert_false(cf_proc_plain_name(".."));
    assert_false(cf_proc_plain_name("../x"));
    assert_false(cf_proc_plain_name("a/b"));
    assert_false(cf_proc_plain_name("a\\b"));
    assert_false(cf_proc_plain_name("%2e%2e"));
    assert_false(cf_proc_plain_name("a\nb"));
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_false(cf_proc_plain_name(big));
    big[sizeof big - 2] = '\0';
    assert_true(cf_proc_plain_name(big));
}

static void
test_files(void **state)
{
    cf_proc_file_t *files;
    size_t n, len;
    char *data, path[600];
    int64_t total;

    (void)state;
    assert_non_null(mkdtemp(tmp_dir));
    write_file("b.log", "0123456789");
    write_file("a.out", "out");
    snprintf(path, sizeof path, "%s/sub", tmp_dir);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/link.log", tmp_dir);
    assert_int_equal(symlink("/etc/passwd", path), 0);

    n = cf_proc_list_dir(tmp_dir, 100, &files);
    assert_int_equal(n, 2); /* no directory, no symlink */
    assert_string_equal(files[0].name, "a.out");
    assert_string_equal(files[1].name, "b.log");
    assert_int_equal(files[1].size, 10);
    assert_true(files[1].mtime_ms > 1600000000000LL);
    cf_free(files);
    assert_int_equal(cf_proc_list_dir(tmp_dir, 1, &files), 1);
    cf_free(files);
    assert_int_equal(cf_proc_list_dir("/nonexistent-dir", 10, &files), 0);
    assert_null(files);

    /* The tail, an offset, a bound. */
    assert_int_equal(
        cf_proc_read_named(tmp_dir, "b.log", -1, 4, &data, &len, &total), 0);
    assert_int_equal(len, 4);
    assert_memory_equal(data, "6789", 4);
    assert_int_equal(total, 10);
    cf_free(data);
    assert_int_equal(
        cf_proc_read_named(tmp_dir, "b.log", 2, 3, &data, &len, &total), 0);
    assert_memory_equal(data, "234", 3);
    cf_free(data);
    assert_int_equal(
        cf_proc_read_named(tmp_dir, "b.log", 50, 3, &data, &len, &total), 0);
    assert_int_equal(len, 0);
    cf_free(data);
    /* Only names of the listing. */
    assert_int_equal(
        cf_proc_read_named(tmp_dir, "link.log", -1, 100, &data, &len, &total),
        CF_ENOTFOUND);
    assert_int_equal(
        cf_proc_read_named(tmp_dir, "sub", -1, 100, &data, &len, &total),
        CF_ENOTFOUND);
    assert_int_equal(cf_proc_read_named(tmp_dir, "../etc/passwd", -1, 100,
                                        &data, &len, &total),
                     CF_ENOTFOUND);
    assert_int_equal(
        cf_proc_read_named(tmp_dir, "c.log", -1, 100, &data, &len, &total),
        CF_ENOTFOUND);

    /* Log file names. */
    {
        char *o = cf_proc_out_file("/x/y/tm.log");
        char *d = cf_proc_log_dir("/x/y/tm.log", NULL);
        char *r = cf_proc_log_dir("/tm.log", NULL);
        char *c = cf_proc_log_file("/configured.log");
        assert_string_equal(o, "/x/y/tm.out");
        assert_string_equal(d, "/x/y");
        assert_string_equal(r, "/");
        assert_string_equal(c, "/configured.log");
        cf_free(o);
        cf_free(d);
        cf_free(r);
        cf_free(c);
        o = cf_proc_out_file("/x/y/tm.txt");
        assert_string_equal(o, "/x/y/tm.txt.out");
        cf_free(o);
        /* This test program has no --log-file. */
        assert_null(cf_proc_log_file(NULL));
    }
    snprintf(path, sizeof path, "rm -rf '%s'", tmp_dir);
    assert_int_equal(system(path), 0);
}

static void *
sleeper(void *arg)
{
    (void)arg;
    pthread_setname_np(pthread_self(), "cf-test-sleep");
    usleep(300000);
    return NULL;
}

static void
test_threads_and_stats(void **state)
{
    cf_proc_thread_t *th;
    size_t n;
    pthread_t t;
    int found = 0;
    char want[128];
    cf_proc_stats_t ps;
    cf_proc_cpu_load_t load = {0};

    (void)state;
    assert_int_equal(pthread_create(&t, NULL, sleeper, NULL), 0);
    usleep(50000);
    n = cf_proc_threads(&th);
    assert_true(n >= 2);
    snprintf(want, sizeof want, "\"%s\" Id=%d ", th[0].name, (int)getpid());
    assert_true(strncmp(th[0].info, want, strlen(want)) == 0);
    for (size_t i = 0; i < n; i++)
        if (strcmp(th[i].name, "cf-test-sleep") == 0) {
            found = 1;
            assert_non_null(strstr(th[i].info, " WAITING\n"));
        }
    assert_true(found);
    cf_proc_threads_free(th, n);
    pthread_join(t, NULL);

    assert_int_equal(cf_proc_stats_read(&ps), 0);
    assert_true(ps.rss_bytes > 1000000);
    assert_true(ps.virtual_bytes >= ps.rss_bytes);
    assert_true(ps.threads >= 1);
    assert_true(ps.fds >= 3);
    assert_true(ps.cpu_seconds >= 0);
    {
        double l = cf_proc_cpu_load(&load, ps.cpu_seconds, 1000);
        assert_true(l >= 0.0 && l <= 1.0);
        /* A sample 1 s later with 0.5 s of CPU on n cores. */
        l = cf_proc_cpu_load(&load, ps.cpu_seconds + 0.5, 2000);
        assert_true(fabs(l - 0.5 / (double)sysconf(_SC_NPROCESSORS_ONLN)) <
                    1e-9);
        /* Too close: unchanged. */
        assert_true(cf_proc_cpu_load(&load, ps.cpu_seconds + 5, 2100) == l);
    }
    {
        assert_string_equal(cf_proc_thread_state('R'), "RUNNABLE");
        assert_string_equal(cf_proc_thread_state('S'), "WAITING");
        assert_string_equal(cf_proc_thread_state('?'), "UNKNOWN");
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_get),
        cmocka_unit_test(test_parse_agg),
        cmocka_unit_test(test_body_and_aggregate),
        cmocka_unit_test(test_job_metrics),
        cmocka_unit_test(test_plain_name),
        cmocka_unit_test(test_files),
        cmocka_unit_test(test_threads_and_stats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
