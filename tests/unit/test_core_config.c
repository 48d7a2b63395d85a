/*
 * test_core_config.c: the configuration module (src/core/config.c): the
 * key table, Flink's value formats, YAML loading, -D overrides, logging,
 * the shipped conf/config.yaml and the key list in the user guide.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

static char tmp_dir[] = "/tmp/cf-test-config-XXXXXX";
static int tmp_count;

static int
setup_all(void **state)
{
    (void)state;
    if (mkdtemp(tmp_dir) == NULL)
        return -1;
    return 0;
}

static int
teardown_all(void **state)
{
    char cmd[128];

    (void)state;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Write text to a new file in the temporary directory; caller frees. */
static char *
write_file(const char *name, const char *text)
{
    char *path;
    FILE *f;

    if (name != NULL)
        path = cf_asprintf("%s/%s", tmp_dir, name);
    else
        path = cf_asprintf("%s/c%d.yaml", tmp_dir, ++tmp_count);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

/* Load text as a YAML file; returns the result, *errp the error. */
static int
load_text(cf_config_t *cfg, const char *text, char **pathp,
          cf_error_t **errp)
{
    char *path = write_file(NULL, text);
    int r = cf_config_load_file(cfg, path, errp);

    if (pathp != NULL)
        *pathp = path;
    else
        cf_free(path);
    return r;
}

/* Load text expecting an error; returns the message (caller frees). */
static char *
load_error(const char *text, char **pathp)
{
    cf_config_t *cfg = cf_config_new();
    cf_error_t *err = NULL;
    char *msg;

    assert_int_equal(load_text(cfg, text, pathp, &err), CF_ECONFIG);
    assert_non_null(err);
    assert_int_equal(err->code, CF_ECONFIG);
    msg = cf_strdup(err->msg);
    cf_error_free(err);
    /* A file with an error changes nothing. */
    assert_int_equal(cf_config_is_set(cfg, "parallelism.default"), 0);
    cf_config_destroy(cfg);
    return msg;
}

/* Assert that loading text fails with exactly "<path>:<rest>". */
static void
assert_load_error(const char *text, const char *rest)
{
    char *path, *msg = load_error(text, &path);
    char *want = cf_asprintf("%s:%s", path, rest);

    assert_string_equal(msg, want);
    cf_free(want);
    cf_free(msg);
    cf_free(path);
}

static void
dump_cb(const char *key, const char *value, int is_set, void *ud)
{
    cf_sbuf_printf(ud, "%s=%s%s\n", key, value, is_set ? " (set)" : "");
}

static char *
dump(const cf_config_t *cfg)
{
    cf_sbuf_t b = {0};

    cf_config_foreach(cfg, dump_cb, &b);
    return cf_sbuf_take(&b);
}

/* The source tree: $CF_SOURCE_DIR, else from this file's path. */
static char *
source_dir(void)
{
    const char *env = getenv("CF_SOURCE_DIR");
    const char *file = __FILE__;
    const char *tail = strstr(file, "/tests/unit/test_core_config.c");

    if (env != NULL && env[0] != '\0')
        return cf_strdup(env);
    if (tail != NULL && file[0] == '/')
        return cf_strndup(file, (size_t)(tail - file));
    return cf_strdup("../..");
}

/* ------------------------------------------------------------------ */
/* The key table and defaults                                          */
/* ------------------------------------------------------------------ */

static void
test_table_is_consistent(void **state)
{
    int n;
    const cf_config_key_t *keys = cf_config_keys(&n);

    (void)state;
    assert_true(n > 100);
    for (int i = 0; i < n; i++) {
        const cf_config_key_t *k = &keys[i];
        cf_config_t *cfg = cf_config_new();
        cf_error_t *err = NULL;

        assert_non_null(k->doc);
        assert_true(strlen(k->doc) > 0);
        assert_ptr_equal(cf_config_key_find(k->key), k);
        assert_true((k->type == CF_CFG_ENUM) == (k->enum_values != NULL));
        for (int j = 0; j < i; j++)
            assert_string_not_equal(keys[j].key, k->key);
        /* Every default is a valid value of its key. */
        if (k->def != NULL &&
            cf_config_set(cfg, k->key, k->def, "test", &err) != 0)
            fail_msg("default of %s: %s", k->key, cf_error_msg(err));
        /* A deprecated name is not a current name. */
        if (k->aliases != NULL) {
            char *a = cf_strdup(k->aliases), *save = NULL;
            for (char *t = strtok_r(a, "|", &save); t != NULL;
                 t = strtok_r(NULL, "|", &save)) {
                const cf_config_key_t *f = cf_config_key_find(t);
                assert_non_null(f);
                assert_string_not_equal(f->key, t);
            }
            cf_free(a);
        }
        cf_config_destroy(cfg);
    }
    assert_null(cf_config_key_find("no.such.key"));
    assert_string_equal(cf_config_type_name(CF_CFG_MEMORY), "MemorySize");
}

static void
test_defaults(void **state)
{
    cf_config_t *cfg = cf_config_new();

    (void)state;
    assert_int_equal(cf_config_get_int(cfg, "parallelism.default", 0), 1);
    assert_int_equal(cf_config_get_int(cfg, "pipeline.max-parallelism", 0),
                     -1);
    assert_int_equal(
        cf_config_get_int(cfg, "taskmanager.numberOfTaskSlots", 0), 1);
    assert_int_equal(cf_config_get_int(cfg, "jobmanager.rpc.port", 0), 6123);
    assert_int_equal(cf_config_get_int(cfg, "rest.port", 0), 8081);
    assert_string_equal(cf_config_get(cfg, "rest.bind-port"), "8081");
    assert_string_equal(cf_config_get(cfg, "taskmanager.rpc.port"), "0");
    assert_int_equal(cf_config_get_int(cfg, "taskmanager.data.port", 9), 0);
    assert_null(cf_config_get(cfg, "jobmanager.rpc.address"));
    assert_null(cf_config_get(cfg, "rest.address"));
    assert_null(cf_config_get(cfg, "pipeline.name"));
    assert_int_equal(cf_config_get_bool(cfg, "pipeline.object-reuse", 1), 0);
    assert_int_equal(cf_config_get_duration_ms(
                         cfg, "pipeline.auto-watermark-interval", 0), 200);
    assert_int_equal(cf_config_get_bool(cfg,
                                        "execution.buffer-timeout.enabled",
                                        0), 1);
    assert_int_equal(cf_config_get_duration_ms(
                         cfg, "execution.buffer-timeout.interval", 0), 100);
    assert_int_equal(cf_config_get_enum(cfg, "execution.runtime-mode"), 0);
    assert_string_equal(cf_config_get(cfg, "execution.runtime-mode"),
                        "STREAMING");
    assert_int_equal(cf_config_get_memory(cfg,
                                          "taskmanager.memory.network.min",
                                          0), 64LL << 20);
    assert_int_equal(cf_config_get_memory(cfg,
                                          "taskmanager.memory.network.max",
                                          0), INT64_MAX);
    assert_true(cf_config_get_double(
                    cfg, "taskmanager.memory.network.fraction", 0) == 0.1);
    assert_int_equal(cf_config_get_memory(
                         cfg, "taskmanager.memory.segment-size", 0), 32768);
    assert_int_equal(
        cf_config_get_int(cfg,
                          "taskmanager.network.memory.buffers-per-channel",
                          0), 2);
    assert_int_equal(
        cf_config_get_int(
            cfg, "taskmanager.network.memory.floating-buffers-per-gate", 0),
        8);
    assert_int_equal(cf_config_get_memory(
                         cfg, "taskmanager.memory.process.size", -5), -5);
    assert_int_equal(cf_config_get_duration_ms(cfg, "heartbeat.interval", 0),
                     10000);
    assert_int_equal(cf_config_get_duration_ms(cfg, "heartbeat.timeout", 0),
                     50000);
    assert_int_equal(cf_config_get_duration_ms(
                         cfg, "execution.checkpointing.interval", -1), -1);
    assert_int_equal(cf_config_get_duration_ms(
                         cfg, "execution.checkpointing.timeout", 0), 600000);
    assert_int_equal(cf_config_get_enum(cfg, "execution.checkpointing.mode"),
                     0);
    assert_int_equal(cf_config_get_memory(
                         cfg, "execution.checkpointing.data-inline-threshold",
                         0), 20 * 1024);
    assert_string_equal(cf_config_get(cfg, "state.backend.type"), "hashmap");
    assert_int_equal(cf_config_get_enum(cfg, "restart-strategy.type"), -1);
    assert_true(
        cf_config_get_double(
            cfg, "restart-strategy.exponential-delay.backoff-multiplier",
            0) == 1.5);
    assert_int_equal(
        cf_config_get_int(
            cfg,
            "restart-strategy.exponential-delay.attempts-before-reset-backoff",
            0),
        INT32_MAX);
    assert_string_equal(cf_config_get(cfg, "cflink.log.level"), "INFO");
    assert_string_equal(cf_config_get(cfg, "jobmanager.scheduler"),
                        "Default");
    assert_string_equal(
        cf_config_get(cfg, "jobmanager.execution.failover-strategy"),
        "region");
    assert_int_equal(cf_config_get_int(cfg, "web.checkpoints.history", 0),
                     10);
    assert_int_equal(cf_config_get_duration_ms(cfg, "web.refresh-interval",
                                               0), 3000);
    assert_int_equal(cf_config_is_set(cfg, "parallelism.default"), 0);
    /* No value and no default: def. */
    assert_int_equal(cf_config_get_int(cfg, "jobmanager.rpc.bind-port", 77),
                     77);
    cf_config_destroy(cfg);
}

/* ------------------------------------------------------------------ */
/* Value formats                                                       */
/* ------------------------------------------------------------------ */

static void
test_parse_duration(void **state)
{
    static const struct {
        const char *s;
        int64_t ms;
    } ok[] = {
        {"10 s", 10000},        {"10s", 10000},
        {"3min", 180000},       {"3 m", 180000},
        {"1 h", 3600000},       {"500 ms", 500},
        {"100ms", 100},         {"2 d", 172800000},
        {"100", 100},           {"0", 0},
        {"  42  ", 42},         {"5 seconds", 5000},
        {"1 second", 1000},     {"7 sec", 7000},
        {"7 secs", 7000},       {"3 milli", 3},
        {"3 millis", 3},        {"4 milliseconds", 4},
        {"2 minutes", 120000},  {"1 minute", 60000},
        {"2 hours", 7200000},   {"1 day", 86400000},
        {"3 days", 259200000},  {"10 S", 10000},
        {"1 MIN", 60000},       {"1500 us", 1},
        {"1500 \xc2\xb5s", 1},  {"2000000 ns", 2},
        {"999 nanos", 0},       {"5000 micros", 5},
        {"9223372036854775807", INT64_MAX},
        {"106751991167 d", 106751991167LL * 86400000},
    };
    static const char *const bad[] = {
        "",      "  ",     "abc", "s",         "-1",  "-1 s", "+1 s",
        "1.5 s", "10 sx",  "10 y", "1 s 2 ms", "1e3", "10 w",
        "9223372036854775808", "106751991168 d", "ten seconds",
    };
    int64_t v;

    (void)state;
    for (size_t i = 0; i < CF_ARRAY_LEN(ok); i++) {
        v = -7;
        if (cf_parse_duration_ms(ok[i].s, &v) != 0 || v != ok[i].ms)
            fail_msg("duration '%s': got %lld", ok[i].s, (long long)v);
    }
    for (size_t i = 0; i < CF_ARRAY_LEN(bad); i++)
        if (cf_parse_duration_ms(bad[i], &v) != CF_EINVAL)
            fail_msg("duration '%s' accepted", bad[i]);
}

static void
test_parse_memory(void **state)
{
    static const struct {
        const char *s;
        int64_t bytes;
    } ok[] = {
        {"1728m", 1728LL << 20},    {"1 gb", 1LL << 30},
        {"20kb", 20 << 10},         {"64 mb", 64LL << 20},
        {"32 kb", 32 << 10},        {"1t", 1LL << 40},
        {"1 tb", 1LL << 40},        {"100", 100},
        {"100 b", 100},             {"100 bytes", 100},
        {"2 k", 2048},              {"3 kibibytes", 3072},
        {"1 mebibytes", 1 << 20},   {"1 gibibytes", 1LL << 30},
        {"1 tebibytes", 1LL << 40}, {"1 GB", 1LL << 30},
        {"1 Mb", 1 << 20},          {"1G", 1LL << 30},
        {"0", 0},                   {"infinite", INT64_MAX},
        {"Infinite", INT64_MAX},    {"8388607 t", 8388607LL << 40},
    };
    static const char *const bad[] = {
        "",      "mb",   "-1",   "-1 mb", "1.5 gb", "1 pb", "1 kib",
        "1 gbs", "1 g b", "8388608 t", "99999999999999999999", "1 mbx",
        "one mb",
    };
    int64_t v;

    (void)state;
    for (size_t i = 0; i < CF_ARRAY_LEN(ok); i++) {
        v = -7;
        if (cf_parse_memory(ok[i].s, &v) != 0 || v != ok[i].bytes)
            fail_msg("memory '%s': got %lld", ok[i].s, (long long)v);
    }
    for (size_t i = 0; i < CF_ARRAY_LEN(bad); i++)
        if (cf_parse_memory(bad[i], &v) != CF_EINVAL)
            fail_msg("memory '%s' accepted", bad[i]);
}

static void
test_parse_bool_long(void **state)
{
    int b = -1;
    int64_t v;

    (void)state;
    assert_int_equal(cf_parse_bool("true", &b), 0);
    assert_int_equal(b, 1);
    assert_int_equal(cf_parse_bool("FALSE", &b), 0);
    assert_int_equal(b, 0);
    assert_int_equal(cf_parse_bool("True", &b), 0);
    assert_int_equal(b, 1);
    assert_int_equal(cf_parse_bool("yes", &b), CF_EINVAL);
    assert_int_equal(cf_parse_bool("1", &b), CF_EINVAL);
    assert_int_equal(cf_parse_bool("", &b), CF_EINVAL);
    assert_int_equal(cf_parse_bool("truee", &b), CF_EINVAL);

    assert_int_equal(cf_parse_long("42", &v), 0);
    assert_int_equal(v, 42);
    assert_int_equal(cf_parse_long("-42", &v), 0);
    assert_int_equal(v, -42);
    assert_int_equal(cf_parse_long("+7", &v), 0);
    assert_int_equal(v, 7);
    assert_int_equal(cf_parse_long("9223372036854775807", &v), 0);
    assert_int_equal(v, INT64_MAX);
    assert_int_equal(cf_parse_long("-9223372036854775808", &v), 0);
    assert_true(v == INT64_MIN);
    assert_int_equal(cf_parse_long("9223372036854775808", &v), CF_EINVAL);
    assert_int_equal(cf_parse_long("-9223372036854775809", &v), CF_EINVAL);
    assert_int_equal(cf_parse_long("12a", &v), CF_EINVAL);
    assert_int_equal(cf_parse_long("", &v), CF_EINVAL);
    assert_int_equal(cf_parse_long("-", &v), CF_EINVAL);
    assert_int_equal(cf_parse_long("1 2", &v), CF_EINVAL);
}

static void
test_set_validates_types(void **state)
{
    static const struct {
        const char *key;
        const char *value;
        const char *why;
    } bad[] = {
        {"parallelism.default", "abc", "expected an integer"},
        {"parallelism.default", "2147483648",
         "expected an integer between -2147483648 and 2147483647"},
        {"parallelism.default", "1.5", "expected an integer"},
        {"pipeline.object-reuse", "yes", "expected true or false"},
        {"taskmanager.memory.network.fraction", "a lot",
         "expected a number"},
        {"heartbeat.interval", "10 years", "unknown unit 'years' (use ns, "
                                           "us, ms, s, min, h or d)"},
        {"heartbeat.interval", "soon",
         "expected a duration such as '10 s', '3 min' or '500 ms'"},
        {"taskmanager.memory.segment-size", "32 kib",
         "unknown unit 'kib' (use b, kb, mb, gb or tb)"},
        {"taskmanager.memory.segment-size", "big",
         "expected a memory size such as '64 mb', '1 gb' or '1728m'"},
        {"execution.runtime-mode", "FAST",
         "expected one of STREAMING, BATCH, AUTOMATIC"},
        {"execution.checkpointing.mode", "ONCE",
         "expected one of EXACTLY_ONCE, AT_LEAST_ONCE"},
        {"cflink.log.level", "TRACE",
         "expected one of ERROR, WARN, INFO, DEBUG"},
    };
    cf_config_t *cfg = cf_config_new();

    (void)state;
    for (size_t i = 0; i < CF_ARRAY_LEN(bad); i++) {
        cf_error_t *err = NULL;
        char *want = cf_asprintf("-D: invalid value '%s' for key '%s': %s",
                                 bad[i].value, bad[i].key, bad[i].why);
        assert_int_equal(cf_config_set(cfg, bad[i].key, bad[i].value, "-D",
                                       &err),
                         CF_ECONFIG);
        assert_non_null(err);
        assert_string_equal(err->msg, want);
        cf_error_free(err);
        cf_free(want);
        assert_int_equal(cf_config_is_set(cfg, bad[i].key), 0);
    }
    /* Enums match case-insensitively and keep the text as written. */
    assert_int_equal(cf_config_set(cfg, "execution.runtime-mode", "batch",
                                   NULL, NULL), 0);
    assert_int_equal(cf_config_get_enum(cfg, "execution.runtime-mode"), 1);
    assert_string_equal(cf_config_get(cfg, "execution.runtime-mode"),
                        "batch");
    assert_int_equal(cf_config_set(cfg, "restart-strategy.type",
                                   "fixeddelay", NULL, NULL), 0);
    assert_int_equal(cf_config_get_enum(cfg, "restart-strategy.type"), 4);
    /* Error without an origin has no prefix. */
    {
        cf_error_t *err = NULL;
        assert_int_equal(cf_config_set(cfg, "rest.port", "x", NULL, &err),
                         CF_ECONFIG);
        assert_string_equal(err->msg, "invalid value 'x' for key "
                                      "'rest.port': expected an integer");
        cf_error_free(err);
    }
    cf_config_destroy(cfg);
}

/* ------------------------------------------------------------------ */
/* YAML files                                                          */
/* ------------------------------------------------------------------ */

static void
test_nested_and_flat_are_equal(void **state)
{
    const char *nested =
        "# nested\n"
        "taskmanager:\n"
        "  numberOfTaskSlots: 2\n"
        "  memory:\n"
        "    process:\n"
        "      size: 1728m\n"
        "    network: {min: 32 mb, max: 1gb}\n"
        "jobmanager:\n"
        "  rpc:\n"
        "    address: localhost\n"
        "    port: 6124\n"
        "execution.checkpointing:\n"
        "  interval: 3min\n"
        "my:\n"
        "  job:\n"
        "    param: 'hello: world'\n";
    const char *flat =
        "taskmanager.numberOfTaskSlots: 2\n"
        "taskmanager.memory.process.size: 1728m\n"
        "taskmanager.memory.network.min: 32 mb\n"
        "taskmanager.memory.network.max: 1gb\n"
        "jobmanager.rpc.address: localhost\n"
        "jobmanager.rpc.port: 6124\n"
        "execution.checkpointing.interval: 3min\n"
        "my.job.param: \"hello: world\"\n";
    cf_config_t *a = cf_config_new(), *b = cf_config_new();
    char *da, *db;

    (void)state;
    assert_int_equal(load_text(a, nested, NULL, NULL), 0);
    assert_int_equal(load_text(b, flat, NULL, NULL), 0);
    da = dump(a);
    db = dump(b);
    assert_string_equal(da, db);
    assert_int_equal(
        cf_config_get_int(a, "taskmanager.numberOfTaskSlots", 0), 2);
    assert_int_equal(cf_config_get_memory(a,
                                          "taskmanager.memory.process.size",
                                          0), 1728LL << 20);
    assert_int_equal(cf_config_get_memory(a,
                                          "taskmanager.memory.network.max",
                                          0), 1LL << 30);
    assert_int_equal(cf_config_get_duration_ms(
                         a, "execution.checkpointing.interval", 0), 180000);
    assert_string_equal(cf_config_get(a, "my.job.param"), "hello: world");
    assert_true(strstr(da, "taskmanager.numberOfTaskSlots=2 (set)\n"));
    assert_true(strstr(da, "parallelism.default=1\n"));
    cf_free(da);
    cf_free(db);
    cf_config_destroy(a);
    cf_config_destroy(b);
}

static void
test_yaml_lists_and_nulls(void **state)
{
    const char *text =
        "io.tmp.dirs: [/data1/tmp, /data2/tmp]\n"
        "my.list:\n"
        "  - a\n"
        "  - 'b c'\n"
        "  - 3\n"
        "my.empty.list: []\n"
        "pipeline.name: ~\n"
        "rest.address:\n"
        "web.tmpdir: null\n"
        "my.empty: ''\n"
        "my.quoted.null: 'null'\n"
        "env.log.dir: !!null x\n";
    cf_config_t *cfg = cf_config_new();

    (void)state;
    assert_int_equal(load_text(cfg, text, NULL, NULL), 0);
    assert_string_equal(cf_config_get(cfg, "io.tmp.dirs"),
                        "/data1/tmp;/data2/tmp");
    assert_string_equal(cf_config_get(cfg, "my.list"), "a;b c;3");
    assert_string_equal(cf_config_get(cfg, "my.empty.list"), "");
    assert_int_equal(cf_config_is_set(cfg, "pipeline.name"), 0);
    assert_int_equal(cf_config_is_set(cfg, "rest.address"), 0);
    assert_int_equal(cf_config_is_set(cfg, "web.tmpdir"), 0);
    assert_int_equal(cf_config_is_set(cfg, "env.log.dir"), 0);
    assert_string_equal(cf_config_get(cfg, "my.empty"), "");
    assert_string_equal(cf_config_get(cfg, "my.quoted.null"), "null");
    cf_config_destroy(cfg);

    /* A list of a non-list key is checked as text. */
    assert_load_error("parallelism.default: [1, 2]\n",
                      "1: invalid value '1;2' for key 'parallelism.default':"
                      " expected an integer");
    assert_load_error("my.list:\n  - a\n  - {b: 1}\n",
                      "3: invalid value for key 'my.list': list items must "
                      "be plain values");
}

static void
test_bad_values_name_file_line_key(void **state)
{
    (void)state;
    assert_load_error("# comment\n"
                      "rest.port: 8081\n"
                      "parallelism.default: abc\n",
                      "3: invalid value 'abc' for key 'parallelism.default':"
                      " expected an integer");
    assert_load_error("parallelism.default: 4\n"
                      "pipeline:\n"
                      "  object-reuse: maybe\n",
                      "3: invalid value 'maybe' for key "
                      "'pipeline.object-reuse': expected true or false");
    assert_load_error("parallelism.default: 4\n"
                      "taskmanager:\n"
                      "  numberOfTaskSlots: 99999999999\n",
                      "3: invalid value '99999999999' for key "
                      "'taskmanager.numberOfTaskSlots': expected an integer "
                      "between -2147483648 and 2147483647");
    assert_load_error("parallelism.default: 4\n"
                      "heartbeat.timeout: 50 sec\n"
                      "heartbeat.interval: 10 fortnights\n",
                      "3: invalid value '10 fortnights' for key "
                      "'heartbeat.interval': unknown unit 'fortnights' (use "
                      "ns, us, ms, s, min, h or d)");
    /* Under a deprecated name, the error names the key as written. */
    assert_load_error("parallelism.default: 4\n"
                      "state.checkpoints.num-retained: many\n",
                      "2: invalid value 'many' for key "
                      "'state.checkpoints.num-retained': expected an "
                      "integer");
}

static void
test_duplicate_keys(void **state)
{
    (void)state;
    assert_load_error("parallelism.default: 1\n"
                      "rest.port: 1\n"
                      "parallelism.default: 2\n",
                      "3: duplicate key 'parallelism.default' (first set at "
                      "line 1)");
    assert_load_error("taskmanager:\n"
                      "  numberOfTaskSlots: 2\n"
                      "taskmanager.numberOfTaskSlots: 3\n",
                      "3: duplicate key 'taskmanager.numberOfTaskSlots' "
                      "(first set at line 2)");
    /* The same key twice in one mapping, even with different contents. */
    assert_load_error("a:\n"
                      "  b: 1\n"
                      "a:\n"
                      "  c: 2\n",
                      "3: duplicate key 'a' (first set at line 1)");
    assert_load_error("a: 1\n"
                      "a:\n"
                      "  c: 2\n",
                      "2: duplicate key 'a' (first set at line 1)");
    /* Null values count too. */
    assert_load_error("pipeline:\n"
                      "  name: ~\n"
                      "pipeline.name: x\n",
                      "3: duplicate key 'pipeline.name' (first set at line "
                      "2)");

    /* Different mappings that share a prefix are fine. */
    {
        cf_config_t *cfg = cf_config_new();
        assert_int_equal(load_text(cfg,
                                   "taskmanager:\n"
                                   "  memory:\n"
                                   "    process.size: 1g\n"
                                   "taskmanager.memory:\n"
                                   "  flink.size: 1g\n",
                                   NULL, NULL),
                         0);
        assert_int_equal(cf_config_get_memory(
                             cfg, "taskmanager.memory.flink.size", 0),
                         1LL << 30);
        cf_config_destroy(cfg);
    }
}

static void
test_malformed_yaml(void **state)
{
    char *path, *msg, *want;
    cf_config_t *cfg;
    cf_error_t *err = NULL;

    (void)state;
    msg = load_error("parallelism.default: 1\n"
                     "rest:\n"
                     "  port: 8081\n"
                     " address: [localhost\n",
                     &path);
    want = cf_asprintf("%s:4: malformed YAML: ", path);
    assert_true(strncmp(msg, want, strlen(want)) == 0);
    cf_free(want);
    cf_free(msg);
    cf_free(path);

    msg = load_error("parallelism.default: 1\n"
                     "rest.port: 8081\n"
                     "key: value: other\n",
                     &path);
    want = cf_asprintf("%s:3: malformed YAML: ", path);
    assert_true(strncmp(msg, want, strlen(want)) == 0);
    cf_free(want);
    cf_free(msg);
    cf_free(path);

    msg = load_error("parallelism.default: 1\n"
                     "\trest.port: 8081\n",
                     &path);
    want = cf_asprintf("%s:2: malformed YAML: ", path);
    assert_true(strncmp(msg, want, strlen(want)) == 0);
    cf_free(want);
    cf_free(msg);
    cf_free(path);

    assert_load_error("- a\n- b\n",
                      "1: expected a mapping of keys to values");
    assert_load_error("just text\n",
                      "1: expected a mapping of keys to values");
    assert_load_error("a: 1\n---\nb: 2\n",
                      "3: more than one YAML document");
    assert_load_error("? [a, b]\n: 1\n",
                      "1: a key must be a plain value, not a list or "
                      "mapping");
    assert_load_error("a: &x\n  b: *x\n",
                      "1: mappings nested too deep at "
                      "'a.b.b.b.b.b.b.b.b.b.b.b.b.b.b.b.b.b.b.b.b.b.b.b.b."
                      "b.b.b.b.b.b.b.b'");

    /* An empty file, or only comments: defaults. */
    cfg = cf_config_new();
    assert_int_equal(load_text(cfg, "", NULL, NULL), 0);
    assert_int_equal(load_text(cfg, "# nothing\n", NULL, NULL), 0);
    assert_int_equal(load_text(cfg, "---\n", NULL, NULL), 0);

    /* A missing file is an error naming it; a missing dir file is not. */
    assert_int_equal(cf_config_load_file(cfg, "/nonexistent/config.yaml",
                                         &err),
                     -ENOENT);
    assert_string_equal(err->msg,
                        "cannot read configuration file "
                        "'/nonexistent/config.yaml': No such file or "
                        "directory");
    cf_error_free(err);
    assert_int_equal(cf_config_load_dir(cfg, "/nonexistent", NULL), 0);
    assert_int_equal(cf_config_get_int(cfg, "parallelism.default", 0), 1);
    cf_config_destroy(cfg);
}

static void
test_unknown_keys_kept(void **state)
{
    cf_config_t *cfg = cf_config_new();
    char *d;

    (void)state;
    assert_int_equal(load_text(cfg,
                               "my.job:\n"
                               "  threshold: 42\n"
                               "  window: 5 min\n"
                               "  bad.number: x\n"
                               "parallelism.default: 3\n",
                               NULL, NULL),
                     0);
    assert_string_equal(cf_config_get(cfg, "my.job.threshold"), "42");
    assert_int_equal(cf_config_is_set(cfg, "my.job.threshold"), 1);
    assert_int_equal(cf_config_get_int(cfg, "my.job.threshold", 0), 42);
    assert_int_equal(cf_config_get_long(cfg, "my.job.threshold", 0), 42);
    assert_int_equal(cf_config_get_duration_ms(cfg, "my.job.window", 0),
                     300000);
    /* Not a number: the getter's default. */
    assert_int_equal(cf_config_get_int(cfg, "my.job.bad.number", 9), 9);
    assert_null(cf_config_get(cfg, "my.job.missing"));
    assert_int_equal(cf_config_get_int(cfg, "my.job.missing", 5), 5);
    d = dump(cfg);
    assert_true(strstr(d, "my.job.threshold=42 (set)\n") != NULL);
    assert_true(strstr(d, "parallelism.default=3 (set)\n") != NULL);
    cf_free(d);
    cf_config_destroy(cfg);
}

/* ------------------------------------------------------------------ */
/* Deprecated names and fallbacks                                      */
/* ------------------------------------------------------------------ */

static void
test_deprecated_names(void **state)
{
    cf_config_t *cfg = cf_config_new();
    char *d;

    (void)state;
    assert_string_equal(cf_config_key_find("state.checkpoints.dir")->key,
                        "execution.checkpointing.dir");
    assert_int_equal(load_text(cfg,
                               "state.checkpoints.dir: file:///ckpt\n"
                               "execution.buffer-timeout: 5 ms\n"
                               "state.backend: hashmap\n"
                               "taskmanager.network.memory.min: 128mb\n",
                               NULL, NULL),
                     0);
    assert_string_equal(cf_config_get(cfg, "execution.checkpointing.dir"),
                        "file:///ckpt");
    assert_string_equal(cf_config_get(cfg, "state.checkpoints.dir"),
                        "file:///ckpt");
    assert_int_equal(cf_config_is_set(cfg, "execution.checkpointing.dir"),
                     1);
    assert_int_equal(cf_config_get_duration_ms(
                         cfg, "execution.buffer-timeout.interval", 0), 5);
    assert_int_equal(cf_config_get_memory(cfg,
                                          "taskmanager.memory.network.min",
                                          0), 128LL << 20);
    /* Stored under the current name only. */
    d = dump(cfg);
    assert_null(strstr(d, "state.checkpoints.dir"));
    assert_null(strstr(d, "execution.buffer-timeout="));
    assert_true(strstr(d, "execution.checkpointing.dir=file:///ckpt (set)")
                != NULL);
    cf_free(d);
    cf_config_destroy(cfg);

    /* The current name wins, whatever the order. */
    cfg = cf_config_new();
    assert_int_equal(load_text(cfg,
                               "execution.checkpointing.dir: /new\n"
                               "state.checkpoints.dir: /old\n",
                               NULL, NULL),
                     0);
    assert_string_equal(cf_config_get(cfg, "execution.checkpointing.dir"),
                        "/new");
    cf_config_destroy(cfg);
    cfg = cf_config_new();
    assert_int_equal(load_text(cfg,
                               "state.checkpoints.dir: /old\n"
                               "execution.checkpointing.dir: /new\n",
                               NULL, NULL),
                     0);
    assert_string_equal(cf_config_get(cfg, "execution.checkpointing.dir"),
                        "/new");
    assert_int_equal(cf_config_set_kv(cfg, "state.checkpoints.dir=/dash-d",
                                      NULL), 0);
    assert_string_equal(cf_config_get(cfg, "execution.checkpointing.dir"),
                        "/new");
    cf_config_destroy(cfg);

    /* One deprecated name of two keys sets both. */
    cfg = cf_config_new();
    assert_int_equal(cf_config_set_kv(cfg,
                                      "state.backend.local-recovery=true",
                                      NULL), 0);
    assert_int_equal(cf_config_get_bool(
                         cfg, "execution.checkpointing.local-backup.enabled",
                         0), 1);
    assert_int_equal(cf_config_get_bool(
                         cfg, "execution.state-recovery.from-local", 0), 1);
    cf_config_destroy(cfg);
}

static void
test_fallback_keys(void **state)
{
    cf_config_t *cfg = cf_config_new();

    (void)state;
    assert_int_equal(cf_config_set(cfg, "jobmanager.rpc.address", "jm1",
                                   NULL, NULL), 0);
    assert_string_equal(cf_config_get(cfg, "rest.address"), "jm1");
    assert_int_equal(cf_config_is_set(cfg, "rest.address"), 0);
    assert_int_equal(cf_config_set(cfg, "rest.address", "web1", NULL, NULL),
                     0);
    assert_string_equal(cf_config_get(cfg, "rest.address"), "web1");

    assert_string_equal(cf_config_get(cfg, "rest.bind-port"), "8081");
    assert_int_equal(cf_config_set(cfg, "rest.port", "9000", NULL, NULL), 0);
    assert_string_equal(cf_config_get(cfg, "rest.bind-port"), "9000");
    assert_int_equal(cf_config_set(cfg, "web.port", "8080-8090", NULL, NULL),
                     0);
    assert_string_equal(cf_config_get(cfg, "rest.bind-port"), "8080-8090");
    assert_int_equal(cf_config_get_int(cfg, "rest.port", 0), 9000);
    cf_config_destroy(cfg);
}

/* ------------------------------------------------------------------ */
/* -D overrides                                                        */
/* ------------------------------------------------------------------ */

static void
test_dash_d(void **state)
{
    cf_config_t *cfg = cf_config_new();
    cf_error_t *err = NULL;

    (void)state;
    assert_int_equal(load_text(cfg, "parallelism.default: 2\n", NULL, NULL),
                     0);
    assert_int_equal(cf_config_set_kv(cfg, "parallelism.default=8", &err),
                     0);
    assert_null(err);
    assert_int_equal(cf_config_get_int(cfg, "parallelism.default", 0), 8);
    assert_int_equal(cf_config_set_kv(cfg, " heartbeat.timeout =2 min",
                                      NULL), 0);
    assert_int_equal(cf_config_get_duration_ms(cfg, "heartbeat.timeout", 0),
                     120000);
    assert_int_equal(cf_config_set_kv(cfg, "my.expr=a=b", NULL), 0);
    assert_string_equal(cf_config_get(cfg, "my.expr"), "a=b");
    assert_int_equal(cf_config_set_kv(cfg, "my.empty=", NULL), 0);
    assert_string_equal(cf_config_get(cfg, "my.empty"), "");

    assert_int_equal(cf_config_set_kv(cfg, "parallelism.default", &err),
                     CF_ECONFIG);
    assert_string_equal(err->msg, "-D: invalid option 'parallelism.default':"
                                  " expected key=value");
    cf_error_free(err);
    err = NULL;
    assert_int_equal(cf_config_set_kv(cfg, "=4", &err), CF_ECONFIG);
    assert_string_equal(err->msg, "-D: invalid option '=4': empty key");
    cf_error_free(err);
    err = NULL;
    assert_int_equal(cf_config_set_kv(cfg, "parallelism.default=four", &err),
                     CF_ECONFIG);
    assert_string_equal(err->msg, "-D: invalid value 'four' for key "
                                  "'parallelism.default': expected an "
                                  "integer");
    cf_error_free(err);
    err = NULL;
    assert_int_equal(cf_config_set_kv(cfg, "execution.buffer-timeout=-1",
                                      &err),
                     CF_ECONFIG);
    assert_string_equal(err->msg, "-D: invalid value '-1' for key "
                                  "'execution.buffer-timeout': expected a "
                                  "duration such as '10 s', '3 min' or "
                                  "'500 ms'");
    cf_error_free(err);
    /* The failed overrides changed nothing. */
    assert_int_equal(cf_config_get_int(cfg, "parallelism.default", 0), 8);

    /* NULL removes a setting. */
    assert_int_equal(cf_config_set(cfg, "parallelism.default", NULL, NULL,
                                   NULL), 0);
    assert_int_equal(cf_config_is_set(cfg, "parallelism.default"), 0);
    assert_int_equal(cf_config_get_int(cfg, "parallelism.default", 0), 1);
    cf_config_destroy(cfg);
}

static void
test_copy(void **state)
{
    cf_config_t *a = cf_config_new(), *b;
    char *da, *db;

    (void)state;
    assert_int_equal(cf_config_set_kv(a, "parallelism.default=3", NULL), 0);
    assert_int_equal(cf_config_set_kv(a, "my.key=v", NULL), 0);
    b = cf_config_copy(a);
    da = dump(a);
    db = dump(b);
    assert_string_equal(da, db);
    assert_int_equal(cf_config_set_kv(b, "parallelism.default=5", NULL), 0);
    assert_int_equal(cf_config_get_int(a, "parallelism.default", 0), 3);
    assert_int_equal(cf_config_get_int(b, "parallelism.default", 0), 5);
    cf_free(da);
    cf_free(db);
    cf_config_destroy(a);
    cf_config_destroy(b);
    cf_config_destroy(NULL);
}

/* ------------------------------------------------------------------ */
/* Logging, sensitive values, wrong-type getters                       */
/* ------------------------------------------------------------------ */

static void
test_log_masks_and_warns(void **state)
{
    cf_config_t *cfg = cf_config_new();
    char buf[16384];
    ssize_t n;
    int fds[2];

    (void)state;
    assert_int_equal(cf_config_set_kv(cfg, "parallelism.default=4", NULL),
                     0);
    assert_int_equal(cf_config_set_kv(cfg, "my.db.password=hunter2", NULL),
                     0);
    assert_int_equal(cf_config_set_kv(cfg, "s3.Secret-Key=abc", NULL), 0);
    assert_int_equal(cf_config_set_kv(cfg, "my.job.param=1", NULL), 0);
    assert_true(cf_config_key_is_sensitive("a.PASSWORD"));
    assert_true(cf_config_key_is_sensitive("x.token"));
    assert_false(cf_config_key_is_sensitive("parallelism.default"));

    assert_int_equal(pipe(fds), 0);
    cf_log_set_fd(fds[1]);
    cf_config_log(cfg);
    cf_log_set_fd(2);
    close(fds[1]);
    n = read(fds[0], buf, sizeof buf - 1);
    close(fds[0]);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_non_null(strstr(buf, "INFO  [main] config.c"));
    assert_non_null(strstr(buf,
                           "Loading configuration property: "
                           "parallelism.default, 4\n"));
    assert_non_null(strstr(buf, "Loading configuration property: "
                                "my.db.password, ******\n"));
    assert_non_null(strstr(buf, "Loading configuration property: "
                                "s3.Secret-Key, ******\n"));
    assert_null(strstr(buf, "hunter2"));
    assert_null(strstr(buf, "abc"));
    assert_non_null(strstr(buf, "Unknown configuration key 'my.job.param' "
                                "(kept for jobs)"));
    assert_non_null(strstr(buf, "WARN"));
    assert_null(strstr(buf, "Unknown configuration key "
                            "'parallelism.default'"));
    /* Defaults are not listed. */
    assert_null(strstr(buf, "rest.port"));
    cf_config_destroy(cfg);
}

/* Run fn in a child process; returns its wait status. */
static int
run_child(void (*fn)(void))
{
    pid_t pid = fork();
    int status = 0;

    assert_true(pid >= 0);
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 2);
        cf_log_set_fd(null);
        fn();
        _exit(0);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return status;
}

static void
wrong_int(void)
{
    cf_config_t *cfg = cf_config_new();
    (void)cf_config_get_int(cfg, "heartbeat.interval", 0);
}

static void
wrong_memory(void)
{
    cf_config_t *cfg = cf_config_new();
    (void)cf_config_get_memory(cfg, "parallelism.default", 0);
}

static void
wrong_enum(void)
{
    cf_config_t *cfg = cf_config_new();
    (void)cf_config_get_enum(cfg, "parallelism.default");
}

static void
right_type(void)
{
    cf_config_t *cfg = cf_config_new();
    (void)cf_config_get_duration_ms(cfg, "heartbeat.interval", 0);
    cf_config_destroy(cfg);
}

static void
test_wrong_type_getter_asserts(void **state)
{
    int st;

    (void)state;
    st = run_child(wrong_int);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
    st = run_child(wrong_memory);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
    st = run_child(wrong_enum);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);
    st = run_child(right_type);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* ------------------------------------------------------------------ */
/* The conf directory, the shipped file, the user guide                */
/* ------------------------------------------------------------------ */

static void
test_conf_dir(void **state)
{
    char dir[PATH_MAX], tiny[4];
    const char *old = getenv("CFLINK_CONF_DIR");
    char *saved = old ? cf_strdup(old) : NULL;
    size_t n;

    (void)state;
    setenv("CFLINK_CONF_DIR", "/etc/cflink", 1);
    assert_int_equal(cf_config_conf_dir(dir, sizeof dir), 0);
    assert_string_equal(dir, "/etc/cflink");
    assert_int_equal(cf_config_conf_dir(tiny, sizeof tiny), -ENAMETOOLONG);
    unsetenv("CFLINK_CONF_DIR");
    assert_int_equal(cf_config_conf_dir(dir, sizeof dir), 0);
    n = strlen(dir);
    assert_true(n > 5 && strcmp(dir + n - 5, "/conf") == 0);
    if (saved != NULL) {
        setenv("CFLINK_CONF_DIR", saved, 1);
        cf_free(saved);
    }
}

static void
check_shipped(const cf_config_t *cfg)
{
    assert_string_equal(cf_config_get(cfg, "jobmanager.rpc.address"),
                        "localhost");
    assert_string_equal(cf_config_get(cfg, "jobmanager.bind-host"),
                        "localhost");
    assert_int_equal(cf_config_get_int(cfg, "jobmanager.rpc.port", 0), 6123);
    assert_int_equal(cf_config_get_memory(cfg,
                                          "jobmanager.memory.process.size",
                                          0), 1600LL << 20);
    assert_string_equal(
        cf_config_get(cfg, "jobmanager.execution.failover-strategy"),
        "region");
    assert_string_equal(cf_config_get(cfg, "taskmanager.bind-host"),
                        "localhost");
    assert_string_equal(cf_config_get(cfg, "taskmanager.host"), "localhost");
    assert_int_equal(
        cf_config_get_int(cfg, "taskmanager.numberOfTaskSlots", 0), 1);
    assert_int_equal(cf_config_get_memory(cfg,
                                          "taskmanager.memory.process.size",
                                          0), 1728LL << 20);
    assert_int_equal(cf_config_get_int(cfg, "parallelism.default", 0), 1);
    assert_string_equal(cf_config_get(cfg, "rest.address"), "localhost");
    assert_int_equal(cf_config_get_int(cfg, "rest.port", 0), 8081);
}

static void
no_unknown_cb(const char *key, const char *value, int is_set, void *ud)
{
    (void)value;
    (void)ud;
    if (is_set && cf_config_key_find(key) == NULL)
        fail_msg("shipped config.yaml sets unknown key '%s'", key);
}

static void
test_shipped_config(void **state)
{
    char *src = source_dir(), *conf = cf_asprintf("%s/conf", src);
    char *path = cf_asprintf("%s/config.yaml", conf);
    const char *old = getenv("CFLINK_CONF_DIR");
    char *saved = old ? cf_strdup(old) : NULL;
    cf_config_t *cfg;
    cf_error_t *err = NULL;

    (void)state;
    if (access(path, R_OK) != 0) {
        cf_free(src);
        cf_free(conf);
        cf_free(path);
        cf_free(saved);
        skip();
    }
    cfg = cf_config_new();
    if (cf_config_load_file(cfg, path, &err) != 0)
        fail_msg("%s", cf_error_msg(err));
    check_shipped(cfg);
    cf_config_foreach(cfg, no_unknown_cb, NULL);
    cf_config_destroy(cfg);

    /* Through CFLINK_CONF_DIR, with a -D override on top. */
    setenv("CFLINK_CONF_DIR", conf, 1);
    cfg = cf_config_new();
    assert_int_equal(cf_config_load_default(cfg, NULL), 0);
    check_shipped(cfg);
    assert_int_equal(cf_config_set_kv(cfg, "parallelism.default=6", NULL),
                     0);
    assert_int_equal(cf_config_get_int(cfg, "parallelism.default", 0), 6);
    cf_config_destroy(cfg);
    if (saved != NULL)
        setenv("CFLINK_CONF_DIR", saved, 1);
    else
        unsetenv("CFLINK_CONF_DIR");
    cf_free(saved);
    cf_free(src);
    cf_free(conf);
    cf_free(path);
}

static void
test_user_guide_lists_every_key(void **state)
{
    char *src = source_dir();
    char *path = cf_asprintf("%s/docs/user-guide/configuration.md", src);
    size_t len;
    char *doc = cf_file_read(path, &len);
    int n;
    const cf_config_key_t *keys = cf_config_keys(&n);

    (void)state;
    cf_free(src);
    cf_free(path);
    if (doc == NULL)
        skip();
    for (int i = 0; i < n; i++) {
        char *row = cf_asprintf("| `%s` | %s |", keys[i].key,
                                cf_config_type_name(keys[i].type));
        if (strstr(doc, row) == NULL)
            fail_msg("configuration.md lacks the row of '%s'", keys[i].key);
        cf_free(row);
    }
    cf_free(doc);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_is_consistent),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_parse_duration),
        cmocka_unit_test(test_parse_memory),
        cmocka_unit_test(test_parse_bool_long),
        cmocka_unit_test(test_set_validates_types),
        cmocka_unit_test(test_nested_and_flat_are_equal),
        cmocka_unit_test(test_yaml_lists_and_nulls),
        cmocka_unit_test(test_bad_values_name_file_line_key),
        cmocka_unit_test(test_duplicate_keys),
        cmocka_unit_test(test_malformed_yaml),
        cmocka_unit_test(test_unknown_keys_kept),
        cmocka_unit_test(test_deprecated_names),
        cmocka_unit_test(test_fallback_keys),
        cmocka_unit_test(test_dash_d),
        cmocka_unit_test(test_copy),
        cmocka_unit_test(test_log_masks_and_warns),
        cmocka_unit_test(test_wrong_type_getter_asserts),
        cmocka_unit_test(test_conf_dir),
        cmocka_unit_test(test_shipped_config),
        cmocka_unit_test(test_user_guide_lists_every_key),
    };

    /* Deprecation warnings go to /dev/null; test_log captures its own. */
    cf_log_set_level(CF_LOGL_INFO);
    return cmocka_run_group_tests(tests, setup_all, teardown_all);
}
