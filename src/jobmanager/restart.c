/*
 * restart.c: restart strategies (Flink's RestartBackoffTimeStrategy):
 * none, fixed-delay, failure-rate and exponential-delay, configured by
 * restart-strategy.type and the restart-strategy.<type>.* keys with
 * Flink's defaults.
 *
 * A JobMaster calls cf_restart_can_restart() once per failover with the
 * current time; the strategy records the failure (Flink's notifyFailure)
 * and answers whether to restart (canRestart) and after which delay
 * (getBackoffTime). Time is passed in, so tests drive a fake clock.
 *
 * When restart-strategy.type is unset, the strategy is none without
 * checkpointing (execution.checkpointing.interval unset or 0) and
 * exponential-delay with it, as Flink 1.19+.
 *
 * Threads: a strategy belongs to one JobMaster (the JobManager's loop).
 * This file depends on nothing else of the JobManager, so the unit test
 * links it alone.
 */
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "jobmanager_int.h"

#define T_TYPE "restart-strategy.type"
#define K_FD_ATTEMPTS "restart-strategy.fixed-delay.attempts"
#define K_FD_DELAY "restart-strategy.fixed-delay.delay"
#define K_FR_MAX "restart-strategy.failure-rate.max-failures-per-interval"
#define K_FR_INTERVAL "restart-strategy.failure-rate.failure-rate-interval"
#define K_FR_DELAY "restart-strategy.failure-rate.delay"
#define K_ED_INITIAL "restart-strategy.exponential-delay.initial-backoff"
#define K_ED_MAX "restart-strategy.exponential-delay.max-backoff"
#define K_ED_MULT "restart-strategy.exponential-delay.backoff-multiplier"
#define K_ED_RESET "restart-strategy.exponential-delay.reset-backoff-threshold"
#define K_ED_JITTER "restart-strategy.exponential-delay.jitter-factor"
#define K_ED_ATTEMPTS                                                        \
    "restart-strategy.exponential-delay.attempts-before-reset-backoff"

typedef enum cf_restart_kind_e {
    CF_RESTART_NONE,
    CF_RESTART_FIXED_DELAY,
    CF_RESTART_FAILURE_RATE,
    CF_RESTART_EXPONENTIAL_DELAY,
} cf_restart_kind_t;

struct cf_restart_s {
    cf_restart_kind_t kind;
    /* fixed-delay */
    int max_attempts;
    int64_t attempt; /* failures seen */
    /* fixed-delay, failure-rate */
    int64_t backoff_ms;
    /* failure-rate: a ring of the last max_failures + 1 failure times */
    int max_failures;
    int64_t interval_ms;
    int64_t *ring;
    int ring_head, ring_len;
    /* exponential-delay */
    int64_t initial_ms, max_ms, reset_ms;
    double multiplier, jitter;
    int attempts_before_reset;
    int64_t next_restart_ms; /* INT32_MIN before the first failure */
    uint64_t rng;
    char desc[512];
};

/* ------------------------------------------------------------------ */
/* Randomness for the jitter (xorshift64*, seeded per strategy).       */
/* ------------------------------------------------------------------ */

static uint64_t
rng_next(cf_restart_t *r)
{
    uint64_t x = r->rng;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    r->rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* Uniform in [lo, hi]. */
static int64_t
rng_range(cf_restart_t *r, int64_t lo, int64_t hi)
{
    uint64_t span = (uint64_t)(hi - lo) + 1;

    return lo + (int64_t)(rng_next(r) % span);
}

/* ------------------------------------------------------------------ */
/* Descriptions (Flink's toString)                                     */
/* ------------------------------------------------------------------ */

/* A double as Java's Double.toString for ordinary values. */
static void
java_double(double v, char *out, size_t size)
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(out, size, "%.*g", prec, v);
        if (strtod(out, NULL) == v)
            break;
    }
    if (strpbrk(out, ".eEn") == NULL && strlen(out) + 3 <= size)
        strcat(out, ".0");
}

static void
describe_update(cf_restart_t *r)
{
    switch (r->kind) {
    case CF_RESTART_NONE:
        snprintf(r->desc, sizeof r->desc, "NoRestartBackoffTimeStrategy");
        break;
    case CF_RESTART_FIXED_DELAY:
        snprintf(r->desc, sizeof r->desc,
                 "FixedDelayRestartBackoffTimeStrategy("
                 "maxNumberRestartAttempts=%d, backoffTimeMS=%" PRId64 ")",
                 r->max_attempts, r->backoff_ms);
        break;
    case CF_RESTART_FAILURE_RATE:
        snprintf(r->desc, sizeof r->desc,
                 "FailureRateRestartBackoffTimeStrategy("
                 "FailureRateRestartBackoffTimeStrategy(failuresIntervalMS="
                 "%" PRId64 ",backoffTimeMS=%" PRId64
                 ",maxFailuresPerInterval=%d)",
                 r->interval_ms, r->backoff_ms, r->max_failures);
        break;
    case CF_RESTART_EXPONENTIAL_DELAY:
        /* Java prints doubles in their shortest form with at least one
         * decimal ("1.5", "2.0", "0.1"). */
        {
            char mult[40], jit[40];

            java_double(r->multiplier, mult, sizeof mult);
            java_double(r->jitter, jit, sizeof jit);
            snprintf(r->desc, sizeof r->desc,
                     "ExponentialDelayRestartBackoffTimeStrategy("
                     "initialBackoffMS=%" PRId64 ", maxBackoffMS=%" PRId64
                     ", backoffMultiplier=%s, resetBackoffThresholdMS="
                     "%" PRId64 ", jitterFactor=%s, "
                     "attemptsBeforeResetBackoff=%d, "
                     "currentRestartAttempt=%" PRId64
                     ", nextRestartTimestamp=%" PRId64 ")",
                     r->initial_ms, r->max_ms, mult, r->reset_ms, jit,
                     r->attempts_before_reset, r->attempt,
                     r->next_restart_ms);
        }
        break;
    }
}

const char *
cf_restart_describe(const cf_restart_t *r)
{
    return r != NULL ? r->desc : "NoRestartBackoffTimeStrategy";
}

/* ------------------------------------------------------------------ */
/* Construction                                                        */
/* ------------------------------------------------------------------ */

static int
checkpointing_enabled(const cf_config_t *cfg)
{
    return cf_config_get_duration_ms(cfg, "execution.checkpointing.interval",
                                     0) > 0;
}

cf_restart_t *
cf_restart_new(const cf_config_t *cfg, cf_error_t **errp)
{
    cf_restart_t *r;
    int idx;

    r = CF_NEW(cf_restart_t);
    r->next_restart_ms = INT32_MIN;
    r->rng = (uint64_t)cf_mono_ns() ^ ((uint64_t)(uintptr_t)r << 17) ^
             0x9E3779B97F4A7C15ULL;
    if (r->rng == 0)
        r->rng = 1;

    /* none|off|disable|fixed-delay|fixeddelay|failure-rate|failurerate|
     * exponential-delay|exponentialdelay */
    idx = cf_config_get_enum(cfg, T_TYPE);
    if (idx < 0)
        r->kind = checkpointing_enabled(cfg) ? CF_RESTART_EXPONENTIAL_DELAY
                                             : CF_RESTART_NONE;
    else if (idx <= 2)
        r->kind = CF_RESTART_NONE;
    else if (idx <= 4)
        r->kind = CF_RESTART_FIXED_DELAY;
    else if (idx <= 6)
        r->kind = CF_RESTART_FAILURE_RATE;
    else
        r->kind = CF_RESTART_EXPONENTIAL_DELAY;

    switch (r->kind) {
    case CF_RESTART_NONE:
        break;
    case CF_RESTART_FIXED_DELAY:
        r->max_attempts = cf_config_get_int(cfg, K_FD_ATTEMPTS, 1);
        r->backoff_ms = cf_config_get_duration_ms(cfg, K_FD_DELAY, 1000);
        if (r->max_attempts < 0) {
            cf_error_set(errp, CF_ECONFIG,
                         "%s: the maximum number of restart attempts must "
                         "be at least 0, got %d",
                         K_FD_ATTEMPTS, r->max_attempts);
            goto fail;
        }
        if (r->backoff_ms < 0) {
            cf_error_set(errp, CF_ECONFIG,
                         "%s: the backoff time between restart attempts "
                         "must be at least 0 ms",
                         K_FD_DELAY);
            goto fail;
        }
        break;
    case CF_RESTART_FAILURE_RATE:
        r->max_failures = cf_config_get_int(cfg, K_FR_MAX, 1);
        r->interval_ms = cf_config_get_duration_ms(cfg, K_FR_INTERVAL, 60000);
        r->backoff_ms = cf_config_get_duration_ms(cfg, K_FR_DELAY, 1000);
        if (r->max_failures <= 0 || r->max_failures > 1000000) {
            cf_error_set(errp, CF_ECONFIG,
                         "%s: the maximum number of restart attempts per "
                         "time unit must be greater than 0 (and at most "
                         "1000000), got %d",
                         K_FR_MAX, r->max_failures);
            goto fail;
        }
        if (r->interval_ms <= 0) {
            cf_error_set(errp, CF_ECONFIG,
                         "%s: the failures interval must be greater than "
                         "0 ms",
                         K_FR_INTERVAL);
            goto fail;
        }
        if (r->backoff_ms < 0) {
            cf_error_set(errp, CF_ECONFIG,
                         "%s: the backoff time must be at least 0 ms",
                         K_FR_DELAY);
            goto fail;
        }
        r->ring = cf_calloc((size_t)r->max_failures + 1, sizeof(int64_t));
        break;
    case CF_RESTART_EXPONENTIAL_DELAY:
        r->initial_ms = cf_config_get_duration_ms(cfg, K_ED_INITIAL, 1000);
        r->max_ms = cf_config_get_duration_ms(cfg, K_ED_MAX, 60000);
        r->multiplier = cf_config_get_double(cfg, K_ED_MULT, 1.5);
        r->reset_ms = cf_config_get_duration_ms(cfg, K_ED_RESET, 3600000);
        r->jitter = cf_config_get_double(cfg, K_ED_JITTER, 0.1);
        r->attempts_before_reset =
            cf_config_get_int(cfg, K_ED_ATTEMPTS, INT32_MAX);
        if (r->initial_ms < 1) {
            cf_error_set(errp, CF_ECONFIG,
                         "%s: the initial backoff must be at least 1 ms",
                         K_ED_INITIAL);
            goto fail;
        }
        if (r->max_ms < 1) {
            cf_error_set(errp, CF_ECONFIG,
                         "%s: the maximum backoff must be at least 1 ms",
                         K_ED_MAX);
            goto fail;
        }
        if (r->initial_ms > r->max_ms) {
            cf_error_set(errp, CF_ECONFIG,
                         "%s (%" PRId64 " ms) cannot be higher than %s "
                         "(%" PRId64 " ms)",
                         K_ED_INITIAL, r->initial_ms, K_ED_MAX, r->max_ms);
            goto fail;
        }
        if (!(r->multiplier > 1.0) || !(r->multiplier < 1e9)) {
            cf_error_set(errp, CF_ECONFIG,
                         "%s: the backoff multiplier must be greater than "
                         "1, got %g",
                         K_ED_MULT, r->multiplier);
            goto fail;
        }
        if (r->reset_ms < 1) {
            cf_error_set(errp, CF_ECONFIG,
                         "%s: the threshold for resetting the backoff must "
                         "be at least 1 ms",
                         K_ED_RESET);
            goto fail;
        }
        if (!(r->jitter >= 0.0 && r->jitter <= 1.0)) {
            cf_error_set(errp, CF_ECONFIG,
                         "%s: the jitter factor must be >= 0 and <= 1, "
                         "got %g",
                         K_ED_JITTER, r->jitter);
            goto fail;
        }
        if (r->attempts_before_reset < 1) {
            cf_error_set(errp, CF_ECONFIG,
                         "%s: must be at least 1, got %d", K_ED_ATTEMPTS,
                         r->attempts_before_reset);
            goto fail;
        }
        break;
    }
    describe_update(r);
    return r;

fail:
    cf_restart_destroy(r);
    return NULL;
}

void
cf_restart_destroy(cf_restart_t *r)
{
    if (r == NULL)
        return;
    cf_free(r->ring);
    cf_free(r);
}

/* ------------------------------------------------------------------ */
/* Decisions                                                           */
/* ------------------------------------------------------------------ */

/* Flink's ExponentialDelayRestartBackoffTimeStrategy (1.19): the backoff
 * of attempt n (0-based since the last reset) is
 * initial * multiplier^n with a jitter of +-(jitter * that), clamped to
 * [initial, max]. */
static int64_t
exp_backoff(cf_restart_t *r)
{
    double b = (double)r->initial_ms;
    int64_t cur, off, val;

    /* initial * multiplier^attempt, without libm; past 4 * max the
     * exact value no longer matters (the result is clamped to max). */
    for (int64_t i = 0; i < r->attempt && b <= 4.0 * (double)r->max_ms; i++)
        b *= r->multiplier;
    cur = (int64_t)b;
    off = 0;
    if (r->jitter > 0.0) {
        int64_t o = (int64_t)((double)cur * r->jitter);

        off = rng_range(r, -o, o);
    }
    val = cur + off;
    if (val > r->max_ms)
        val = r->max_ms;
    if (val < r->initial_ms)
        val = r->initial_ms;
    return val;
}

int
cf_restart_can_restart(cf_restart_t *r, int64_t now_ms, int64_t *delay_ms)
{
    int ok = 0;
    int64_t delay = 0;

    switch (r->kind) {
    case CF_RESTART_NONE:
        ok = 0;
        break;
    case CF_RESTART_FIXED_DELAY:
        r->attempt++;
        ok = r->attempt <= r->max_attempts;
        delay = r->backoff_ms;
        break;
    case CF_RESTART_FAILURE_RATE: {
        int cap = r->max_failures + 1;

        /* notifyFailure: keep the last max_failures + 1 times. */
        if (r->ring_len == cap) {
            r->ring_head = (r->ring_head + 1) % cap;
            r->ring_len--;
        }
        r->ring[(r->ring_head + r->ring_len) % cap] = now_ms;
        r->ring_len++;
        /* canRestart: more than max failures queued and the earliest
         * within the interval: no. */
        if (r->ring_len > r->max_failures)
            ok = now_ms - r->ring[r->ring_head] > r->interval_ms;
        else
            ok = 1;
        delay = r->backoff_ms;
        break;
    }
    case CF_RESTART_EXPONENTIAL_DELAY:
        if (now_ms <= r->next_restart_ms) {
            /* A failure while a restart is pending joins that attempt. */
            ok = r->attempt <= r->attempts_before_reset;
            delay = r->next_restart_ms - now_ms;
            break;
        }
        if (now_ms - r->next_restart_ms >= r->reset_ms)
            r->attempt = 0;
        r->next_restart_ms = now_ms + exp_backoff(r);
        r->attempt++;
        ok = r->attempt <= r->attempts_before_reset;
        delay = r->next_restart_ms - now_ms;
        break;
    }
    describe_update(r);
    if (delay_ms != NULL)
        *delay_ms = ok ? delay : 0;
    return ok;
}
