/*
 * test_core_basics.c: murmur3 test vectors, Flink's key-group arithmetic,
 * ids, errors and the signal.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include "core.h"

#include <cmocka.h>

static void
test_murmur3_vectors(void **st)
{
    (void)st;
    /* Published MurmurHash3_x86_32 vectors. */
    assert_int_equal(cf_murmur3_32("", 0, 0), 0);
    assert_int_equal(cf_murmur3_32("", 0, 1), 0x514e28b7);
    assert_int_equal(cf_murmur3_32("hello", 5, 0), 0x248bfa47);
    assert_int_equal(cf_murmur3_32("The quick brown fox jumps over the lazy dog",
                                   43, 0),
                     0x2e4ff723);
}

static void
test_keygroups(void **st)
{
    int lo, hi;
    (void)st;
    /* Flink's computeKeyGroupRangeForOperatorIndex(128, 3, i). */
    cf_keygroup_range(128, 3, 0, &lo, &hi);
    assert_int_equal(lo, 0);
    assert_int_equal(hi, 42);
    cf_keygroup_range(128, 3, 1, &lo, &hi);
    assert_int_equal(lo, 43);
    assert_int_equal(hi, 85);
    cf_keygroup_range(128, 3, 2, &lo, &hi);
    assert_int_equal(lo, 86);
    assert_int_equal(hi, 127);
    /* Every key group maps to the operator whose range holds it. */
    for (int p = 1; p <= 7; p++)
        for (int kg = 0; kg < 128; kg++) {
            int op = cf_keygroup_to_operator(kg, 128, p);
            cf_keygroup_range(128, p, op, &lo, &hi);
            assert_true(kg >= lo && kg <= hi);
        }
    assert_int_equal(cf_default_max_parallelism(1), 128);
    assert_int_equal(cf_default_max_parallelism(100), 256);
    assert_int_equal(cf_default_max_parallelism(30000), 32768);
}

static void
test_ids_and_errors(void **st)
{
    cf_id_t a, b;
    char hex[CF_ID_HEX_LEN + 1];
    cf_error_t *err = NULL;
    (void)st;
    cf_id_random(&a);
    cf_id_to_hex(&a, hex);
    assert_int_equal(strlen(hex), 32);
    assert_int_equal(cf_id_from_hex(&b, hex), 0);
    assert_true(cf_id_equal(&a, &b));
    assert_int_equal(cf_id_from_hex(&b, "xyz"), CF_EINVAL);
    assert_int_equal(cf_error_set(&err, CF_ECONFIG, "key %s", "k"),
                     CF_ECONFIG);
    cf_error_set(&err, CF_EIO, "ignored: the first error wins");
    cf_error_prefix(&err, "file %d", 3);
    assert_string_equal(cf_error_msg(err), "file 3: key k");
    assert_string_equal(cf_err_name(CF_ECONFIG), "CF_ECONFIG");
    cf_error_free(err);
}

static cf_signal_t g_sig;

static void *
notifier(void *arg)
{
    (void)arg;
    cf_sleep_ms(20);
    cf_signal_notify(&g_sig);
    return NULL;
}

static void
test_signal(void **st)
{
    pthread_t th;
    uint64_t seen;
    (void)st;
    cf_signal_init(&g_sig);
    seen = cf_signal_count(&g_sig);
    /* A timeout when nothing happens. */
    assert_int_equal(cf_signal_wait(&g_sig, &seen, cf_mono_ns() + 10000000),
                     0);
    /* A notification that came before the wait is not lost. */
    cf_signal_notify(&g_sig);
    assert_int_equal(cf_signal_wait(&g_sig, &seen, cf_mono_ns() + 1000000),
                     1);
    pthread_create(&th, NULL, notifier, NULL);
    assert_int_equal(cf_signal_wait(&g_sig, &seen, -1), 1);
    pthread_join(th, NULL);
    cf_signal_deinit(&g_sig);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_murmur3_vectors),
        cmocka_unit_test(test_keygroups),
        cmocka_unit_test(test_ids_and_errors),
        cmocka_unit_test(test_signal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
