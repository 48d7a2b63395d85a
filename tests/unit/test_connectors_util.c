/*
 * test_connectors_util.c: the connectors' helpers that need no host: range
 * splitting, the rate schedule, line splitting, UUIDs and file listing.
 */
/* cflink.h first: cmocka.h defines a fail() macro that would rewrite the
 * host table's fail member in cflink.h's inline wrappers. */
#include "connectors_int.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

/* ------------------------------------------------------------------ */
/* Range splitting                                                     */
/* ------------------------------------------------------------------ */

/* The ranges of all parts cover 0..last exactly once, in order, and their
 * sizes differ by at most one (larger first). */
static void
check_split(uint64_t last, int parts)
{
    uint64_t expect = 0, lo, hi, prev_size = UINT64_MAX;
    int i, seen_end = 0;

    for (i = 0; i < parts; i++) {
        if (!cf_conn_range_split(last, parts, i, &lo, &hi)) {
            seen_end = 1;
            continue;
        }
        assert_false(seen_end); /* empty ranges only at the end */
        assert_int_equal(lo, expect);
        assert_true(hi >= lo);
        assert_true(hi - lo + 1 <= prev_size);
        if (prev_size != UINT64_MAX)
            assert_true(prev_size - (hi - lo + 1) <= 1);
        prev_size = hi - lo + 1;
        expect = hi + 1;
        if (hi == last)
            seen_end = 1;
    }
    assert_true(seen_end);
}

static void
test_range_split_small(void **state)
{
    uint64_t lo, hi;
    (void)state;

    /* 10 numbers over 3: 4, 3, 3 (NumberSequenceSource's split). */
    assert_int_equal(cf_conn_range_split(9, 3, 0, &lo, &hi), 1);
    assert_int_equal(lo, 0);
    assert_int_equal(hi, 3);
    assert_int_equal(cf_conn_range_split(9, 3, 1, &lo, &hi), 1);
    assert_int_equal(lo, 4);
    assert_int_equal(hi, 6);
    assert_int_equal(cf_conn_range_split(9, 3, 2, &lo, &hi), 1);
    assert_int_equal(lo, 7);
    assert_int_equal(hi, 9);

    /* 3 numbers over 5: the last two parts are empty. */
    assert_int_equal(cf_conn_range_split(2, 5, 2, &lo, &hi), 1);
    assert_int_equal(lo, 2);
    assert_int_equal(hi, 2);
    assert_int_equal(cf_conn_range_split(2, 5, 3, &lo, &hi), 0);
    assert_int_equal(cf_conn_range_split(2, 5, 4, &lo, &hi), 0);

    /* One part gets everything, even 2^64 numbers. */
    assert_int_equal(cf_conn_range_split(UINT64_MAX, 1, 0, &lo, &hi), 1);
    assert_int_equal(lo, 0);
    assert_true(hi == UINT64_MAX);
}

static void
test_range_split_cover(void **state)
{
    uint64_t lasts[] = {
        0, 1, 2, 7, 99, 100, 101, 4095, 1000003, UINT64_MAX - 1, UINT64_MAX};
    int parts[] = {1, 2, 3, 4, 7, 8, 13, 128};
    size_t i, j;
    (void)state;

    for (i = 0; i < sizeof(lasts) / sizeof(lasts[0]); i++)
        for (j = 0; j < sizeof(parts) / sizeof(parts[0]); j++)
            check_split(lasts[i], parts[j]);
}

static void
test_range_split_full_range(void **state)
{
    uint64_t lo, hi;
    (void)state;

    /* 2^64 numbers over 2 and 3 parts. */
    assert_int_equal(cf_conn_range_split(UINT64_MAX, 2, 0, &lo, &hi), 1);
    assert_true(lo == 0 && hi == UINT64_MAX / 2);
    assert_int_equal(cf_conn_range_split(UINT64_MAX, 2, 1, &lo, &hi), 1);
    assert_true(lo == UINT64_MAX / 2 + 1 && hi == UINT64_MAX);
    /* 2^64 = 3 * 6148914691236517205 + 1 */
    assert_int_equal(cf_conn_range_split(UINT64_MAX, 3, 0, &lo, &hi), 1);
    assert_true(lo == 0 && hi == 6148914691236517205ULL);
    assert_int_equal(cf_conn_range_split(UINT64_MAX, 3, 2, &lo, &hi), 1);
    assert_true(hi == UINT64_MAX);
}

static void
test_rate_allowed(void **state)
{
    (void)state;
    assert_true(cf_conn_rate_allowed(0, 12345) == UINT64_MAX);
    assert_true(cf_conn_rate_allowed(-1, 0) == UINT64_MAX);
    assert_int_equal(cf_conn_rate_allowed(10, 0), 1);
    assert_int_equal(cf_conn_rate_allowed(10, 99999999), 1);
    assert_int_equal(cf_conn_rate_allowed(10, 100000000), 2);
    assert_int_equal(cf_conn_rate_allowed(10, 1000000000), 11);
    assert_int_equal(cf_conn_rate_allowed(0.5, 1999999999), 1);
    assert_int_equal(cf_conn_rate_allowed(0.5, 2000000000), 2);
    assert_int_equal(cf_conn_rate_allowed(1e6, 3000000000u), 3000001);
    assert_true(cf_conn_rate_allowed(1e30, UINT64_MAX) == UINT64_MAX);
}

/* ------------------------------------------------------------------ */
/* Line splitting                                                      */
/* ------------------------------------------------------------------ */

typedef struct collected_s {
    char *lines[64];
    size_t lens[64];
    int n;
    int stop_at; /* return -7 on this line (0: never) */
} collected_t;

static int
collect(void *arg, const char *line, size_t len)
{
    collected_t *c = arg;
    if (c->stop_at && c->n + 1 == c->stop_at)
        return -7;
    assert_true(c->n < 64);
    c->lines[c->n] = malloc(len + 1);
    memcpy(c->lines[c->n], line, len);
    c->lines[c->n][len] = '\0';
    c->lens[c->n] = len;
    c->n++;
    return 0;
}

static void
collected_free(collected_t *c)
{
    int i;
    for (i = 0; i < c->n; i++)
        free(c->lines[i]);
    c->n = 0;
}

/* Feed text in pieces of step bytes and check the lines. */
static void
check_lines(const char *text, size_t step, const char *const *expect, int n)
{
    cf_conn_lines_t lb;
    collected_t c;
    size_t len = strlen(text), off;
    int i;

    memset(&c, 0, sizeof(c));
    cf_conn_lines_init(&lb);
    for (off = 0; off < len; off += step) {
        size_t k = len - off < step ? len - off : step;
        assert_int_equal(cf_conn_lines_feed(&lb, text + off, k, collect, &c),
                         0);
    }
    assert_int_equal(cf_conn_lines_flush(&lb, collect, &c), 0);
    assert_int_equal(c.n, n);
    for (i = 0; i < n; i++)
        assert_string_equal(c.lines[i], expect[i]);
    collected_free(&c);
    cf_conn_lines_deinit(&lb);
}

static void
test_lines(void **state)
{
    static const char *const e1[] = {"to be", "", "or not", "to be"};
    static const char *const e2[] = {"a", "b"};
    static const char *const e3[] = {"", ""};
    static const char *const e4[] = {"x\ry", "last\r\rline"};
    size_t step;
    (void)state;

    for (step = 1; step <= 20; step++) {
        check_lines("to be\n\nor not\r\nto be", step, e1, 4);
        check_lines("a\nb\n", step, e2, 2);
        check_lines("\n\r\n", step, e3, 2);
        check_lines("x\ry\nlast\r\rline\r", step, e4, 2);
        check_lines("", step, NULL, 0);
    }
}

static void
test_lines_long(void **state)
{
    cf_conn_lines_t lb;
    collected_t c;
    size_t n = 3 * 1024 * 1024 + 17, off;
    char *text = malloc(n + 3);
    (void)state;

    memset(text, 'w', n);
    memcpy(text + n, "\nz", 3);
    memset(&c, 0, sizeof(c));
    cf_conn_lines_init(&lb);
    for (off = 0; off < n + 2; off += 65536) {
        size_t k = n + 2 - off < 65536 ? n + 2 - off : 65536;
        assert_int_equal(cf_conn_lines_feed(&lb, text + off, k, collect, &c),
                         0);
    }
    assert_int_equal(cf_conn_lines_flush(&lb, collect, &c), 0);
    assert_int_equal(c.n, 2);
    assert_int_equal(c.lens[0], n);
    assert_int_equal(memcmp(c.lines[0], text, n), 0);
    assert_string_equal(c.lines[1], "z");
    collected_free(&c);
    cf_conn_lines_deinit(&lb);
    free(text);
}

static void
test_lines_stop(void **state)
{
    cf_conn_lines_t lb;
    collected_t c;
    (void)state;

    memset(&c, 0, sizeof(c));
    c.stop_at = 2;
    cf_conn_lines_init(&lb);
    assert_int_equal(cf_conn_lines_feed(&lb, "a\nb\nc\n", 6, collect, &c), -7);
    assert_int_equal(c.n, 1);
    collected_free(&c);
    cf_conn_lines_deinit(&lb);
}

/* ------------------------------------------------------------------ */
/* UUIDs and files                                                     */
/* ------------------------------------------------------------------ */

static void
test_uuid(void **state)
{
    char a[37], b[37];
    int i;
    (void)state;

    cf_conn_uuid_generate(a);
    cf_conn_uuid_generate(b);
    assert_int_equal(strlen(a), 36);
    assert_string_not_equal(a, b);
    for (i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23)
            assert_int_equal(a[i], '-');
        else
            assert_non_null(strchr("0123456789abcdef", a[i]));
    }
    assert_int_equal(a[14], '4');
    assert_non_null(strchr("89ab", a[19]));
}

static void
write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void
test_files(void **state)
{
    char dir[] = "/tmp/cf-conn-util-XXXXXX";
    char p[512], **files;
    size_t n;
    (void)state;

    assert_non_null(mkdtemp(dir));
    snprintf(p, sizeof(p), "%s/x/y/z", dir);
    assert_int_equal(cf_conn_mkdirs(p), 0);
    assert_int_equal(cf_conn_mkdirs(p), 0); /* exists: fine */
    snprintf(p, sizeof(p), "%s/x/y/z/", dir);
    assert_int_equal(cf_conn_mkdirs(p), 0);

    snprintf(p, sizeof(p), "%s/b.txt", dir);
    write_file(p, "b");
    snprintf(p, sizeof(p), "%s/a.txt", dir);
    write_file(p, "a");
    snprintf(p, sizeof(p), "%s/.hidden", dir);
    write_file(p, "h");
    snprintf(p, sizeof(p), "%s/_SUCCESS", dir);
    write_file(p, "s");
    snprintf(p, sizeof(p), "%s/x/y/c.txt", dir);
    write_file(p, "c");
    snprintf(p, sizeof(p), "%s/link", dir);
    assert_int_equal(symlink("x", p), 0); /* a link to a directory */

    snprintf(p, sizeof(p), "%s/a.txt", dir);
    assert_int_equal(cf_conn_mkdirs(p), -ENOTDIR);

    assert_int_equal(cf_conn_list_files(dir, &files, &n), 0);
    assert_int_equal(n, 3);
    snprintf(p, sizeof(p), "%s/a.txt", dir);
    assert_string_equal(files[0], p);
    snprintf(p, sizeof(p), "%s/b.txt", dir);
    assert_string_equal(files[1], p);
    snprintf(p, sizeof(p), "%s/x/y/c.txt", dir);
    assert_string_equal(files[2], p);
    cf_conn_paths_free(files, n);

    /* A file is listed as itself, even a hidden one. */
    snprintf(p, sizeof(p), "%s/.hidden", dir);
    assert_int_equal(cf_conn_list_files(p, &files, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(files[0], p);
    cf_conn_paths_free(files, n);

    snprintf(p, sizeof(p), "%s/missing", dir);
    assert_int_equal(cf_conn_list_files(p, &files, &n), -ENOENT);
    assert_null(files);
    assert_int_equal(n, 0);

    snprintf(p, sizeof(p), "rm -rf '%s'", dir);
    assert_int_equal(system(p), 0);
}

static void
test_registry(void **state)
{
    char *s;
    uint64_t *u;
    (void)state;

    s = cf_conn_registry_strdup("hello");
    assert_string_equal(s, "hello");
    assert_null(cf_conn_registry_strdup(NULL));
    u = cf_conn_registry_alloc(sizeof(*u) * 4);
    assert_true(((uintptr_t)u % _Alignof(max_align_t)) == 0);
    assert_true(u[0] == 0 && u[3] == 0);
    cf_conn_free_all();
    cf_conn_free_all(); /* twice is fine */
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_range_split_small),
        cmocka_unit_test(test_range_split_cover),
        cmocka_unit_test(test_range_split_full_range),
        cmocka_unit_test(test_rate_allowed),
        cmocka_unit_test(test_lines),
        cmocka_unit_test(test_lines_long),
        cmocka_unit_test(test_lines_stop),
        cmocka_unit_test(test_uuid),
        cmocka_unit_test(test_files),
        cmocka_unit_test(test_registry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
