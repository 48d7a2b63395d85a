/*
 * test_jobmanager_restart.c: the restart strategies (src/jobmanager/
 * restart.c) on a fake clock: none, fixed-delay (attempts, delay),
 * failure-rate (the sliding window), exponential-delay (growth, cap,
 * reset, jitter bounds, attempts before reset, merged failures), the
 * default type with and without checkpointing, Flink's defaults and
 * descriptions, and errors naming the key of a bad value.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "jobmanager_int.h"

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

/* A config with the given "key=value" settings (NULL-terminated). */
static cf_config_t *
cfg_with(const char *kv, ...)
{
    cf_config_t *cfg = cf_config_new();
    va_list ap;

    va_start(ap, kv);
    for (const char *s = kv; s != NULL; s = va_arg(ap, const char *)) {
        cf_error_t *err = NULL;

        if (cf_config_set_kv(cfg, s, &err) != 0) {
            fprintf(stderr, "cannot set %s: %s\n", s, cf_error_msg(err));
            cf_error_free(err);
            fail();
        }
    }
    va_end(ap);
    return cfg;
}

static cf_restart_t *
strategy(cf_config_t *cfg)
{
    cf_error_t *err = NULL;
    cf_restart_t *r = cf_restart_new(cfg, &err);

    if (r == NULL) {
        fprintf(stderr, "cf_restart_new: %s\n", cf_error_msg(err));
        cf_error_free(err);
        fail();
    }
    cf_config_destroy(cfg);
    return r;
}

/* The error of a strategy that must not build; caller frees. */
static char *
strategy_error(cf_config_t *cfg)
{
    cf_error_t *err = NULL;
    cf_restart_t *r = cf_restart_new(cfg, &err);
    char *msg;

    cf_config_destroy(cfg);
    assert_null(r);
    assert_non_null(err);
    assert_int_equal(err->code, CF_ECONFIG);
    msg = cf_strdup(cf_error_msg(err));
    cf_error_free(err);
    return msg;
}

/* ------------------------------------------------------------------ */
/* Flink's defaults in the key table                                   */
/* ------------------------------------------------------------------ */

static void
test_key_defaults(void **state)
{
    cf_config_t *cfg = cf_config_new();

    (void)state;
    assert_null(cf_config_get(cfg, "restart-strategy.type"));
    assert_int_equal(
        cf_config_get_int(cfg, "restart-strategy.fixed-delay.attempts", -9),
        1);
    assert_int_equal(cf_config_get_duration_ms(
                         cfg, "restart-strategy.fixed-delay.delay", -9),
                     1000);
    assert_int_equal(
        cf_config_get_int(
            cfg, "restart-strategy.failure-rate.max-failures-per-interval",
            -9),
        1);
    assert_int_equal(
        cf_config_get_duration_ms(
            cfg, "restart-strategy.failure-rate.failure-rate-interval", -9),
        60000);
    assert_int_equal(cf_config_get_duration_ms(
                         cfg, "restart-strategy.failure-rate.delay", -9),
                     1000);
    assert_int_equal(
        cf_config_get_duration_ms(
            cfg, "restart-strategy.exponential-delay.initial-backoff", -9),
        1000);
    assert_int_equal(
        cf_config_get_duration_ms(
            cfg, "restart-strategy.exponential-delay.max-backoff", -9),
        60000);
    assert_true(cf_config_get_double(
                    cfg, "restart-strategy.exponential-delay."
                         "backoff-multiplier", -9) == 1.5);
    assert_int_equal(
        cf_config_get_duration_ms(
            cfg, "restart-strategy.exponential-delay.reset-backoff-threshold",
            -9),
        3600000);
    assert_true(cf_config_get_double(
                    cfg, "restart-strategy.exponential-delay.jitter-factor",
                    -9) == 0.1);
    assert_int_equal(
        cf_config_get_int(cfg,
                          "restart-strategy.exponential-delay."
                          "attempts-before-reset-backoff",
                          -9),
        2147483647);
    cf_config_destroy(cfg);
}

/* ------------------------------------------------------------------ */
/* none                                                                */
/* ------------------------------------------------------------------ */

static void
test_none(void **state)
{
    static const char *const names[] = {"none", "off", "disable", "NONE"};
    int64_t delay = 123;

    (void)state;
    /* Unset without checkpointing: none. */
    {
        cf_restart_t *r = strategy(cf_config_new());

        assert_string_equal(cf_restart_describe(r),
                            "NoRestartBackoffTimeStrategy");
        assert_int_equal(cf_restart_can_restart(r, 1000, &delay), 0);
        assert_int_equal(delay, 0);
        cf_restart_destroy(r);
    }
    /* A checkpointing interval of 0 is checkpointing disabled. */
    {
        cf_restart_t *r = strategy(
            cfg_with("execution.checkpointing.interval=0", NULL));

        assert_string_equal(cf_restart_describe(r),
                            "NoRestartBackoffTimeStrategy");
        cf_restart_destroy(r);
    }
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char kv[64];
        cf_restart_t *r;

        snprintf(kv, sizeof kv, "restart-strategy.type=%s", names[i]);
        r = strategy(cfg_with(kv, "execution.checkpointing.interval=10 s",
                              NULL));
        assert_string_equal(cf_restart_describe(r),
                            "NoRestartBackoffTimeStrategy");
        for (int k = 0; k < 3; k++)
            assert_int_equal(cf_restart_can_restart(r, k * 1000, &delay), 0);
        cf_restart_destroy(r);
    }
    cf_restart_destroy(NULL);
}

/* ------------------------------------------------------------------ */
/* fixed-delay                                                         */
/* ------------------------------------------------------------------ */

static void
test_fixed_delay_defaults(void **state)
{
    cf_restart_t *r;
    int64_t delay = -1;

    (void)state;
    r = strategy(cfg_with("restart-strategy.type=fixed-delay", NULL));
    assert_string_equal(cf_restart_describe(r),
                        "FixedDelayRestartBackoffTimeStrategy("
                        "maxNumberRestartAttempts=1, backoffTimeMS=1000)");
    assert_int_equal(cf_restart_can_restart(r, 0, &delay), 1);
    assert_int_equal(delay, 1000);
    assert_int_equal(cf_restart_can_restart(r, 100000000, &delay), 0);
    cf_restart_destroy(r);
}

static void
test_fixed_delay_attempts(void **state)
{
    cf_restart_t *r;
    int64_t delay = -1;

    (void)state;
    /* The old key name and the alias spelling of the type. */
    r = strategy(cfg_with("restart-strategy=fixeddelay",
                          "restart-strategy.fixed-delay.attempts=3",
                          "restart-strategy.fixed-delay.delay=250 ms", NULL));
    assert_string_equal(cf_restart_describe(r),
                        "FixedDelayRestartBackoffTimeStrategy("
                        "maxNumberRestartAttempts=3, backoffTimeMS=250)");
    for (int i = 0; i < 3; i++) {
        delay = -1;
        assert_int_equal(cf_restart_can_restart(r, i * 10, &delay), 1);
        assert_int_equal(delay, 250);
    }
    assert_int_equal(cf_restart_can_restart(r, 40, &delay), 0);
    assert_int_equal(cf_restart_can_restart(r, 50, &delay), 0);
    cf_restart_destroy(r);

    /* 0 attempts: the first failure fails the job. */
    r = strategy(cfg_with("restart-strategy.type=fixed-delay",
                          "restart-strategy.fixed-delay.attempts=0", NULL));
    assert_int_equal(cf_restart_can_restart(r, 0, &delay), 0);
    cf_restart_destroy(r);

    /* A delay of 0 restarts at once. */
    r = strategy(cfg_with("restart-strategy.type=fixed-delay",
                          "restart-strategy.fixed-delay.attempts=2",
                          "restart-strategy.fixed-delay.delay=0", NULL));
    assert_int_equal(cf_restart_can_restart(r, 0, &delay), 1);
    assert_int_equal(delay, 0);
    cf_restart_destroy(r);
}

/* ------------------------------------------------------------------ */
/* failure-rate                                                        */
/* ------------------------------------------------------------------ */

static void
test_failure_rate_defaults(void **state)
{
    cf_restart_t *r;
    int64_t delay = -1;

    (void)state;
    r = strategy(cfg_with("restart-strategy.type=failure-rate", NULL));
    assert_string_equal(
        cf_restart_describe(r),
        "FailureRateRestartBackoffTimeStrategy("
        "FailureRateRestartBackoffTimeStrategy(failuresIntervalMS=60000,"
        "backoffTimeMS=1000,maxFailuresPerInterval=1)");
    /* One failure per minute is tolerated, a second within it is not. */
    assert_int_equal(cf_restart_can_restart(r, 1000, &delay), 1);
    assert_int_equal(delay, 1000);
    assert_int_equal(cf_restart_can_restart(r, 61000, &delay), 0);
    cf_restart_destroy(r);

    r = strategy(cfg_with("restart-strategy.type=failurerate", NULL));
    assert_int_equal(cf_restart_can_restart(r, 1000, &delay), 1);
    /* More than the interval after the first: allowed again. */
    assert_int_equal(cf_restart_can_restart(r, 61001, &delay), 1);
    assert_int_equal(cf_restart_can_restart(r, 130000, &delay), 1);
    assert_int_equal(cf_restart_can_restart(r, 130001, &delay), 0);
    cf_restart_destroy(r);
}

static void
test_failure_rate_window(void **state)
{
    cf_restart_t *r;
    int64_t delay = -1;

    (void)state;
    r = strategy(cfg_with(
        "restart-strategy.type=failure-rate",
        "restart-strategy.failure-rate.max-failures-per-interval=2",
        "restart-strategy.failure-rate.failure-rate-interval=10 s",
        "restart-strategy.failure-rate.delay=500 ms", NULL));
    assert_string_equal(
        cf_restart_describe(r),
        "FailureRateRestartBackoffTimeStrategy("
        "FailureRateRestartBackoffTimeStrategy(failuresIntervalMS=10000,"
        "backoffTimeMS=500,maxFailuresPerInterval=2)");
    assert_int_equal(cf_restart_can_restart(r, 0, &delay), 1);
    assert_int_equal(delay, 500);
    assert_int_equal(cf_restart_can_restart(r, 1000, &delay), 1);
    /* The window slides: the failure at 0 is out of [1001, 11001]. */
    assert_int_equal(cf_restart_can_restart(r, 11001, &delay), 1);
    assert_int_equal(cf_restart_can_restart(r, 12000, &delay), 1);
    /* 11001, 12000, 13000: three within 10 s. */
    assert_int_equal(cf_restart_can_restart(r, 13000, &delay), 0);
    cf_restart_destroy(r);

    r = strategy(cfg_with(
        "restart-strategy.type=failure-rate",
        "restart-strategy.failure-rate.max-failures-per-interval=2",
        "restart-strategy.failure-rate.failure-rate-interval=10 s", NULL));
    assert_int_equal(cf_restart_can_restart(r, 0, &delay), 1);
    assert_int_equal(cf_restart_can_restart(r, 1000, &delay), 1);
    assert_int_equal(cf_restart_can_restart(r, 2000, &delay), 0);
    cf_restart_destroy(r);
}

/* ------------------------------------------------------------------ */
/* exponential-delay                                                   */
/* ------------------------------------------------------------------ */

static void
test_exponential_default_with_checkpointing(void **state)
{
    cf_restart_t *r;
    int64_t delay = -1;

    (void)state;
    r = strategy(cfg_with("execution.checkpointing.interval=10 s", NULL));
    assert_string_equal(
        cf_restart_describe(r),
        "ExponentialDelayRestartBackoffTimeStrategy(initialBackoffMS=1000, "
        "maxBackoffMS=60000, backoffMultiplier=1.5, "
        "resetBackoffThresholdMS=3600000, jitterFactor=0.1, "
        "attemptsBeforeResetBackoff=2147483647, currentRestartAttempt=0, "
        "nextRestartTimestamp=-2147483648)");
    /* 1000 + jitter in [-100, 100], never below the initial backoff. */
    assert_int_equal(cf_restart_can_restart(r, 5000, &delay), 1);
    assert_in_range(delay, 1000, 1100);
    /* 1500 +- 150 */
    assert_int_equal(cf_restart_can_restart(r, 5000 + delay + 1, &delay), 1);
    assert_in_range(delay, 1350, 1650);
    assert_non_null(strstr(cf_restart_describe(r),
                           "currentRestartAttempt=2, "));
    cf_restart_destroy(r);
}

static void
test_exponential_growth_cap_reset(void **state)
{
    static const int64_t want[] = {1000, 2000, 4000, 8000, 10000, 10000};
    cf_restart_t *r;
    int64_t now = 1000000, delay = -1;

    (void)state;
    /* Flink's documented example: 1 s, x2, max 10 s. */
    r = strategy(cfg_with(
        "restart-strategy.type=exponentialdelay",
        "restart-strategy.exponential-delay.initial-backoff=1 s",
        "restart-strategy.exponential-delay.max-backoff=10 s",
        "restart-strategy.exponential-delay.backoff-multiplier=2",
        "restart-strategy.exponential-delay.jitter-factor=0",
        "restart-strategy.exponential-delay.reset-backoff-threshold=1 min",
        NULL));
    assert_non_null(strstr(cf_restart_describe(r),
                           "backoffMultiplier=2.0, resetBackoffThresholdMS="
                           "60000, jitterFactor=0.0, "));
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        assert_int_equal(cf_restart_can_restart(r, now, &delay), 1);
        assert_int_equal(delay, want[i]);
        now += delay + 5000; /* runs 5 s, then fails again */
    }
    /* A minute without failure (after the restart) resets the backoff. */
    now += 60000;
    assert_int_equal(cf_restart_can_restart(r, now, &delay), 1);
    assert_int_equal(delay, 1000);
    now += delay + 10;
    assert_int_equal(cf_restart_can_restart(r, now, &delay), 1);
    assert_int_equal(delay, 2000);
    /* Just under the threshold: no reset. */
    now += delay + 59999;
    assert_int_equal(cf_restart_can_restart(r, now, &delay), 1);
    assert_int_equal(delay, 4000);
    cf_restart_destroy(r);
}

static void
test_exponential_merge_pending(void **state)
{
    cf_restart_t *r;
    int64_t delay = -1;

    (void)state;
    r = strategy(cfg_with(
        "restart-strategy.type=exponential-delay",
        "restart-strategy.exponential-delay.initial-backoff=1 s",
        "restart-strategy.exponential-delay.backoff-multiplier=2",
        "restart-strategy.exponential-delay.jitter-factor=0", NULL));
    assert_int_equal(cf_restart_can_restart(r, 10000, &delay), 1);
    assert_int_equal(delay, 1000);
    /* Another failure before the restart happened joins that attempt. */
    assert_int_equal(cf_restart_can_restart(r, 10400, &delay), 1);
    assert_int_equal(delay, 600);
    assert_non_null(strstr(cf_restart_describe(r),
                           "currentRestartAttempt=1, "
                           "nextRestartTimestamp=11000)"));
    assert_int_equal(cf_restart_can_restart(r, 11001, &delay), 1);
    assert_int_equal(delay, 2000);
    cf_restart_destroy(r);
}

static void
test_exponential_jitter_bounds(void **state)
{
    int64_t lo = INT64_MAX, hi = 0;

    (void)state;
    /* Flink's example: the 3rd delay (4 s) with jitter 0.1 lies in
     * [3.6, 4.4] s. Many strategies: the bounds hold and the jitter
     * actually varies. */
    for (int k = 0; k < 300; k++) {
        cf_restart_t *r = strategy(cfg_with(
            "restart-strategy.type=exponential-delay",
            "restart-strategy.exponential-delay.initial-backoff=1 s",
            "restart-strategy.exponential-delay.max-backoff=10 s",
            "restart-strategy.exponential-delay.backoff-multiplier=2",
            "restart-strategy.exponential-delay.jitter-factor=0.1", NULL));
        int64_t now = 0, delay = -1;

        assert_int_equal(cf_restart_can_restart(r, now, &delay), 1);
        assert_in_range(delay, 1000, 1100);
        now += delay + 1;
        assert_int_equal(cf_restart_can_restart(r, now, &delay), 1);
        assert_in_range(delay, 1800, 2200);
        now += delay + 1;
        assert_int_equal(cf_restart_can_restart(r, now, &delay), 1);
        assert_in_range(delay, 3600, 4400);
        if (delay < lo)
            lo = delay;
        if (delay > hi)
            hi = delay;
        /* 8 s +- 0.8: capped at 10 s; then 16 s +- 1.6 is capped. */
        now += delay + 1;
        assert_int_equal(cf_restart_can_restart(r, now, &delay), 1);
        assert_in_range(delay, 7200, 8800);
        now += delay + 1;
        assert_int_equal(cf_restart_can_restart(r, now, &delay), 1);
        assert_int_equal(delay, 10000);
        cf_restart_destroy(r);
    }
    assert_true(hi - lo > 200);

    /* A jitter of 1: anywhere in [initial, 2 * current], clamped. */
    for (int k = 0; k < 100; k++) {
        cf_restart_t *r = strategy(cfg_with(
            "restart-strategy.type=exponential-delay",
            "restart-strategy.exponential-delay.initial-backoff=100 ms",
            "restart-strategy.exponential-delay.max-backoff=1 s",
            "restart-strategy.exponential-delay.jitter-factor=1", NULL));
        int64_t delay = -1;

        assert_int_equal(cf_restart_can_restart(r, 0, &delay), 1);
        assert_in_range(delay, 100, 200);
        cf_restart_destroy(r);
    }
}

static void
test_exponential_attempts_before_reset(void **state)
{
    cf_restart_t *r;
    int64_t now = 0, delay = -1;

    (void)state;
    r = strategy(cfg_with(
        "restart-strategy.type=exponential-delay",
        "restart-strategy.exponential-delay.jitter-factor=0",
        "restart-strategy.exponential-delay.reset-backoff-threshold=1 min",
        "restart-strategy.exponential-delay.attempts-before-reset-backoff=2",
        NULL));
    assert_non_null(strstr(cf_restart_describe(r),
                           "attemptsBeforeResetBackoff=2, "));
    assert_int_equal(cf_restart_can_restart(r, now, &delay), 1);
    assert_int_equal(delay, 1000);
    now += delay + 1;
    assert_int_equal(cf_restart_can_restart(r, now, &delay), 1);
    assert_int_equal(delay, 1500);
    now += delay + 1;
    assert_int_equal(cf_restart_can_restart(r, now, &delay), 0);
    assert_int_equal(delay, 0);
    cf_restart_destroy(r);

    /* The counter resets with the backoff. */
    r = strategy(cfg_with(
        "restart-strategy.type=exponential-delay",
        "restart-strategy.exponential-delay.jitter-factor=0",
        "restart-strategy.exponential-delay.reset-backoff-threshold=1 min",
        "restart-strategy.exponential-delay.attempts-before-reset-backoff=1",
        NULL));
    now = 0;
    assert_int_equal(cf_restart_can_restart(r, now, &delay), 1);
    now += delay + 60000;
    assert_int_equal(cf_restart_can_restart(r, now, &delay), 1);
    assert_int_equal(delay, 1000);
    cf_restart_destroy(r);
}

/* ------------------------------------------------------------------ */
/* Bad values                                                          */
/* ------------------------------------------------------------------ */

static void
test_bad_values(void **state)
{
    static const struct {
        const char *type, *kv, *key;
    } cases[] = {
        {"fixed-delay", "restart-strategy.fixed-delay.attempts=-1",
         "restart-strategy.fixed-delay.attempts"},
        {"failure-rate",
         "restart-strategy.failure-rate.max-failures-per-interval=0",
         "restart-strategy.failure-rate.max-failures-per-interval"},
        {"failure-rate",
         "restart-strategy.failure-rate.failure-rate-interval=0",
         "restart-strategy.failure-rate.failure-rate-interval"},
        {"exponential-delay",
         "restart-strategy.exponential-delay.initial-backoff=2 min",
         "restart-strategy.exponential-delay.initial-backoff"},
        {"exponential-delay",
         "restart-strategy.exponential-delay.initial-backoff=0",
         "restart-strategy.exponential-delay.initial-backoff"},
        {"exponential-delay",
         "restart-strategy.exponential-delay.backoff-multiplier=1.0",
         "restart-strategy.exponential-delay.backoff-multiplier"},
        {"exponential-delay",
         "restart-strategy.exponential-delay.jitter-factor=1.5",
         "restart-strategy.exponential-delay.jitter-factor"},
        {"exponential-delay",
         "restart-strategy.exponential-delay.jitter-factor=-0.1",
         "restart-strategy.exponential-delay.jitter-factor"},
        {"exponential-delay",
         "restart-strategy.exponential-delay.reset-backoff-threshold=0",
         "restart-strategy.exponential-delay.reset-backoff-threshold"},
        {"exponential-delay",
         "restart-strategy.exponential-delay."
         "attempts-before-reset-backoff=0",
         "restart-strategy.exponential-delay."
         "attempts-before-reset-backoff"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char kv[96];
        char *msg;

        snprintf(kv, sizeof kv, "restart-strategy.type=%s", cases[i].type);
        msg = strategy_error(cfg_with(kv, cases[i].kv, NULL));
        if (strstr(msg, cases[i].key) == NULL)
            fail_msg("error for %s does not name the key: %s", cases[i].kv,
                     msg);
        cf_free(msg);
    }

    /* An unknown type is refused by the configuration already. */
    {
        cf_config_t *cfg = cf_config_new();
        cf_error_t *err = NULL;

        assert_true(cf_config_set(cfg, "restart-strategy.type", "sometimes",
                                  "-D", &err) < 0);
        assert_non_null(strstr(cf_error_msg(err), "restart-strategy.type"));
        cf_error_free(err);
        cf_config_destroy(cfg);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_defaults),
        cmocka_unit_test(test_none),
        cmocka_unit_test(test_fixed_delay_defaults),
        cmocka_unit_test(test_fixed_delay_attempts),
        cmocka_unit_test(test_failure_rate_defaults),
        cmocka_unit_test(test_failure_rate_window),
        cmocka_unit_test(test_exponential_default_with_checkpointing),
        cmocka_unit_test(test_exponential_growth_cap_reset),
        cmocka_unit_test(test_exponential_merge_pending),
        cmocka_unit_test(test_exponential_jitter_bounds),
        cmocka_unit_test(test_exponential_attempts_before_reset),
        cmocka_unit_test(test_bad_values),
    };

    cf_log_set_level(CF_LOGL_WARN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
