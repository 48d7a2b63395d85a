/*
 * test_state_ckpt.c: checkpoint storage (ckpt.h): directory names and
 * creation errors naming the path and the reason, the _metadata round
 * trip (relative handle paths, reading a directory or its _metadata),
 * corrupt and truncated _metadata, missing or resized state files,
 * discarding with a keep list, savepoint disposal, atomic writes.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Before cmocka.h, whose fail() macro would clash with cflink.h. */
#include "ckpt.h"

#include <cmocka.h>

#define JOB "0123abcdef0123456789abcdef012345"

static char tmpdir[256];

static int
setup(void **unused)
{
    (void)unused;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/test_state_ckpt.XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    return 0;
}

static int
teardown(void **unused)
{
    (void)unused;
    chmod(tmpdir, 0755);
    cf_rmtree(tmpdir);
    return 0;
}

static char *
tpath(const char *name)
{
    return cf_asprintf("%s/%s", tmpdir, name);
}

static int
is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int
exists(const char *p)
{
    struct stat st;
    return lstat(p, &st) == 0;
}

static void
spit(const char *path, const void *p, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_true(write(fd, p, len) == (ssize_t)len);
    close(fd);
}

static void
assert_msg_has(cf_error_t *err, const char *a, const char *b)
{
    assert_non_null(err);
    if (a != NULL && strstr(cf_error_msg(err), a) == NULL)
        fail_msg("'%s' lacks '%s'", cf_error_msg(err), a);
    if (b != NULL && strstr(cf_error_msg(err), b) == NULL)
        fail_msg("'%s' lacks '%s'", cf_error_msg(err), b);
}

/* ------------------------------------------------------------------ */
/* Paths and directories                                               */
/* ------------------------------------------------------------------ */

static void
test_paths(void **unused)
{
    char *j = cf_ckpt_job_dir("/ck/", JOB);
    char *c = cf_ckpt_chk_dir("/ck", JOB, 17);
    char *s1 = cf_ckpt_savepoint_dir_new("/sp/", JOB);
    char *s2 = cf_ckpt_savepoint_dir_new("/sp", "ABCDEF0123");
    const char *base;

    (void)unused;
    assert_string_equal(j, "/ck/" JOB);
    assert_string_equal(c, "/ck/" JOB "/chk-17");
    /* savepoint-<6 hex of the job id>-<12 random hex> */
    assert_int_equal(strncmp(s1, "/sp/savepoint-0123ab-", 21), 0);
    base = s1 + 21;
    assert_int_equal(strlen(base), 12);
    for (int i = 0; i < 12; i++)
        assert_non_null(strchr("0123456789abcdef", base[i]));
    assert_int_equal(strncmp(s2, "/sp/savepoint-abcdef-", 21), 0);
    assert_int_equal(strlen(s2), 21 + 12);
    assert_string_not_equal(s1 + 21, s2 + 21);
    free(j);
    free(c);
    free(s1);
    free(s2);
}

static void
test_dirs_create(void **unused)
{
    cf_error_t *err = NULL;
    char *base = tpath("ckpts/deeper");
    char *job = cf_ckpt_job_dir(base, JOB);
    char *shared = cf_asprintf("%s/shared", job);
    char *owned = cf_asprintf("%s/taskowned", job);
    char *chk = cf_ckpt_chk_dir(base, JOB, 3);

    (void)unused;
    assert_int_equal(cf_ckpt_job_dirs_create(base, JOB, &err), 0);
    assert_true(is_dir(shared));
    assert_true(is_dir(owned));
    /* Again: fine. */
    assert_int_equal(cf_ckpt_job_dirs_create(base, JOB, &err), 0);
    assert_int_equal(cf_ckpt_dir_create(chk, &err), 0);
    assert_true(is_dir(chk));
    assert_int_equal(cf_ckpt_dir_create(chk, &err), 0);
    assert_null(err);
    free(base);
    free(job);
    free(shared);
    free(owned);
    free(chk);
}

static void
test_dir_errors(void **unused)
{
    cf_error_t *err = NULL;
    char *missing = tpath("nope/chk-1");
    char *parent = tpath("nope");
    char *file = tpath("plainfile");
    char *under = tpath("plainfile/chk-1");
    char *under2 = tpath("plainfile/x/y");
    char *ro = tpath("readonly");
    char *ro_chk = tpath("readonly/chk-1");

    (void)unused;
    /* A missing parent. */
    assert_int_not_equal(cf_ckpt_dir_create(missing, &err), 0);
    assert_msg_has(err, missing, "does not exist");
    assert_msg_has(err, parent, NULL);
    assert_false(exists(missing));
    cf_error_free(err);
    err = NULL;

    /* A file in the way: the directory itself, or a parent. */
    spit(file, "x", 1);
    assert_int_not_equal(cf_ckpt_dir_create(file, &err), 0);
    assert_msg_has(err, file, "in the way");
    cf_error_free(err);
    err = NULL;
    assert_int_not_equal(cf_ckpt_dir_create(under, &err), 0);
    assert_msg_has(err, under, "in the way");
    cf_error_free(err);
    err = NULL;
    assert_int_not_equal(cf_ckpt_job_dirs_create(under2, JOB, &err), 0);
    assert_msg_has(err, file, "in the way");
    cf_error_free(err);
    err = NULL;

    /* Not writable (root ignores modes: skipped there). */
    if (geteuid() != 0) {
        assert_int_equal(mkdir(ro, 0555), 0);
        assert_int_not_equal(cf_ckpt_dir_create(ro_chk, &err), 0);
        assert_msg_has(err, ro_chk, "permission denied");
        cf_error_free(err);
        err = NULL;
        assert_int_not_equal(cf_ckpt_dir_create(ro, &err), 0);
        assert_msg_has(err, ro, "not writable");
        cf_error_free(err);
        err = NULL;
        chmod(ro, 0755);
    }
    free(missing);
    free(parent);
    free(file);
    free(under);
    free(under2);
    free(ro);
    free(ro_chk);
}

/* ------------------------------------------------------------------ */
/* _metadata                                                           */
/* ------------------------------------------------------------------ */

typedef struct meta_s {
    Cflink__CheckpointMetadata m;
    Cflink__OperatorStateMeta ops[2];
    Cflink__OperatorStateMeta *opp[2];
    Cflink__StateHandle h[3];
    Cflink__StateHandle *hp0[2];
    Cflink__StateHandle *hp1[1];
    uint8_t opid[2][16];
    uint8_t jobid[16];
    char *paths[3]; /* the handles' (relativized in place) */
    char *abs[3];   /* the absolute paths */
} meta_t;

/* Metadata of checkpoint 5 in dir: operator 0 with two handles (files
 * in dir), operator 1 with one absolute handle outside dir. */
static void
meta_build(meta_t *t, const char *dir, const char *outside)
{
    static const char *const names[] = {"op-a-0", "op-a-1", NULL};

    memset(t, 0, sizeof *t);
    cflink__checkpoint_metadata__init(&t->m);
    t->m.version = CF_CKPT_META_VERSION;
    memset(t->jobid, 0xab, 16);
    t->m.job_id.data = t->jobid;
    t->m.job_id.len = 16;
    t->m.job_name = (char *)"a job";
    t->m.checkpoint_id = 5;
    t->m.trigger_timestamp = 1700000000000;
    t->m.completion_timestamp = 1700000000123;
    t->m.format = (char *)"CANONICAL";
    for (int i = 0; i < 3; i++) {
        char data[100];
        cflink__state_handle__init(&t->h[i]);
        t->paths[i] = names[i] != NULL ? cf_asprintf("%s/%s", dir, names[i])
                                       : cf_strdup(outside);
        t->abs[i] = cf_strdup(t->paths[i]);
        memset(data, 'a' + i, sizeof data);
        spit(t->paths[i], data, (size_t)(10 + 20 * i));
        t->h[i].path = t->paths[i];
        t->h[i].size = (uint64_t)(10 + 20 * i);
        t->h[i].subtask = i == 2 ? 0 : i;
        t->h[i].has_keyed = i < 2;
        t->h[i].kg_start = i * 64;
        t->h[i].kg_end = i * 64 + 63;
        t->h[i].has_operator = i == 2;
    }
    t->hp0[0] = &t->h[0];
    t->hp0[1] = &t->h[1];
    t->hp1[0] = &t->h[2];
    for (int i = 0; i < 2; i++) {
        cflink__operator_state_meta__init(&t->ops[i]);
        memset(t->opid[i], 0x10 + i, 16);
        t->ops[i].operator_id.data = t->opid[i];
        t->ops[i].operator_id.len = 16;
        t->ops[i].uid = (char *)(i == 0 ? "counter" : "");
        t->ops[i].name = (char *)(i == 0 ? "Count" : "Source");
        t->ops[i].parallelism = i == 0 ? 2 : 1;
        t->ops[i].max_parallelism = 128;
        t->opp[i] = &t->ops[i];
    }
    t->ops[0].handles = t->hp0;
    t->ops[0].n_handles = 2;
    t->ops[1].handles = t->hp1;
    t->ops[1].n_handles = 1;
    t->ops[1].fully_finished = 1;
    t->m.operators = t->opp;
    t->m.n_operators = 2;
}

static void
meta_free(meta_t *t)
{
    for (int i = 0; i < 3; i++) {
        free(t->paths[i]);
        free(t->abs[i]);
    }
}

static void
test_meta_round_trip(void **unused)
{
    cf_error_t *err = NULL;
    char *dir = tpath("chk-5");
    char *outside = tpath("elsewhere-state");
    char *mfile = cf_asprintf("%s/_metadata", dir);
    Cflink__CheckpointMetadata *m = NULL;
    meta_t t;
    char *dir_out = NULL;
    char cwd[512];

    (void)unused;
    assert_int_equal(mkdir(dir, 0755), 0);
    meta_build(&t, dir, outside);
    cf_ckpt_relativize(&t.m, dir);
    assert_string_equal(t.h[0].path, "op-a-0");
    assert_string_equal(t.h[1].path, "op-a-1");
    assert_string_equal(t.h[2].path, outside);
    assert_int_equal(cf_ckpt_meta_write(dir, &t.m, &err), 0);
    {
        char *inprog = cf_asprintf("%s.inprogress", mfile);
        assert_false(exists(inprog));
        free(inprog);
    }

    /* By directory, and by _metadata file. */
    for (int k = 0; k < 3; k++) {
        const char *p = k == 0 ? dir : mfile;
        if (k == 2) {
            /* A relative path, from the parent directory. */
            assert_non_null(getcwd(cwd, sizeof cwd));
            assert_int_equal(chdir(tmpdir), 0);
            p = "chk-5";
        }
        if (cf_ckpt_meta_read(p, &m, &dir_out, &err) != 0)
            fail_msg("read %s: %s", p, cf_error_msg(err));
        if (k == 2)
            assert_int_equal(chdir(cwd), 0);
        assert_non_null(dir_out);
        if (k < 2)
            assert_string_equal(dir_out, dir);
        else
            assert_int_equal(dir_out[0], '/');
        assert_int_equal(m->version, 1);
        assert_int_equal(m->checkpoint_id, 5);
        assert_int_equal(m->trigger_timestamp, 1700000000000);
        assert_int_equal(m->completion_timestamp, 1700000000123);
        assert_string_equal(m->job_name, "a job");
        assert_string_equal(m->format, "CANONICAL");
        assert_int_equal(m->job_id.len, 16);
        assert_int_equal(m->n_operators, 2);
        assert_string_equal(m->operators[0]->uid, "counter");
        assert_int_equal(m->operators[0]->parallelism, 2);
        assert_int_equal(m->operators[0]->n_handles, 2);
        assert_int_equal(m->operators[1]->fully_finished, 1);
        if (k < 2) {
            assert_string_equal(m->operators[0]->handles[0]->path, t.abs[0]);
            assert_string_equal(m->operators[0]->handles[1]->path, t.abs[1]);
        } else {
            assert_int_equal(m->operators[0]->handles[0]->path[0], '/');
            assert_non_null(
                strstr(m->operators[0]->handles[0]->path, "/chk-5/op-a-0"));
        }
        assert_int_equal(m->operators[0]->handles[1]->kg_start, 64);
        assert_int_equal(m->operators[0]->handles[1]->kg_end, 127);
        assert_int_equal(m->operators[0]->handles[1]->size, 30);
        assert_string_equal(m->operators[1]->handles[0]->path, outside);
        assert_true(m->operators[1]->handles[0]->has_operator);
        cflink__checkpoint_metadata__free_unpacked(m, NULL);
        free(dir_out);
        m = NULL;
        dir_out = NULL;
    }
    meta_free(&t);
    free(dir);
    free(outside);
    free(mfile);
}

static void
expect_read_error(const char *path, const char *a, const char *b)
{
    cf_error_t *err = NULL;
    Cflink__CheckpointMetadata *m = NULL;
    char *d = NULL;

    assert_int_not_equal(cf_ckpt_meta_read(path, &m, &d, &err), 0);
    assert_null(m);
    assert_null(d);
    assert_msg_has(err, a, b);
    cf_error_free(err);
}

static void
test_meta_corrupt(void **unused)
{
    cf_error_t *err = NULL;
    char *dir = tpath("chk-9");
    char *outside = tpath("outside-9");
    char *mfile = cf_asprintf("%s/_metadata", dir);
    uint8_t *orig, *copy;
    size_t len;
    meta_t t;

    (void)unused;
    assert_int_equal(mkdir(dir, 0755), 0);
    meta_build(&t, dir, outside);
    cf_ckpt_relativize(&t.m, dir);
    assert_int_equal(cf_ckpt_meta_write(dir, &t.m, &err), 0);
    orig = (uint8_t *)cf_file_read(mfile, &len);
    assert_non_null(orig);
    assert_memory_equal(orig, "CFLKMETA", 8);
    copy = malloc(len + 8);

    /* Every truncation. */
    for (size_t cut = 0; cut < len; cut++) {
        spit(mfile, orig, cut);
        expect_read_error(dir, mfile, NULL);
    }
    spit(mfile, orig, 30);
    expect_read_error(dir, mfile, "truncated");
    /* Every flipped byte. */
    for (size_t at = 0; at < len; at++) {
        memcpy(copy, orig, len);
        copy[at] ^= 0x04;
        spit(mfile, copy, len);
        expect_read_error(mfile, mfile, NULL);
    }
    memcpy(copy, orig, len);
    copy[len - 3] ^= 0x40;
    spit(mfile, copy, len);
    expect_read_error(dir, mfile, "checksum mismatch");
    memcpy(copy, orig, len);
    copy[0] = 'X';
    spit(mfile, copy, len);
    expect_read_error(dir, mfile, "not a cflink checkpoint metadata file");
    /* A newer version. */
    memcpy(copy, orig, len);
    copy[11] = 2;
    spit(mfile, copy, len);
    expect_read_error(dir, mfile,
                      "unsupported metadata version 2 (this cflink reads 1)");
    /* Trailing bytes. */
    memcpy(copy, orig, len);
    memcpy(copy + len, "garbage!", 8);
    spit(mfile, copy, len + 8);
    expect_read_error(dir, mfile, "corrupt");

    /* Intact again, but a state file missing or resized. */
    spit(mfile, orig, len);
    assert_int_equal(unlink(t.abs[1]), 0);
    expect_read_error(dir, t.abs[1], "does not exist");
    spit(t.abs[1], "short", 5);
    expect_read_error(dir, t.abs[1], "truncated");
    spit(t.abs[1], orig, 31);
    expect_read_error(dir, t.abs[1], "31 bytes");

    free(orig);
    free(copy);
    meta_free(&t);
    free(dir);
    free(outside);
    free(mfile);
}

static void
test_meta_missing(void **unused)
{
    char *none = tpath("does-not-exist");
    char *empty = tpath("empty-dir");

    (void)unused;
    expect_read_error(none, none, "does not exist");
    assert_int_equal(mkdir(empty, 0755), 0);
    expect_read_error(empty, empty, "Cannot find meta data file '_metadata'");
    free(none);
    free(empty);
}

/* ------------------------------------------------------------------ */
/* Discard, disposal, atomic files                                     */
/* ------------------------------------------------------------------ */

static void
test_discard_keep(void **unused)
{
    cf_error_t *err = NULL;
    char *dir = tpath("chk-1");
    char *a = tpath("chk-1/a"), *b = tpath("chk-1/b"), *c = tpath("chk-1/c");
    char *sub = tpath("chk-1/sub"), *subf = tpath("chk-1/sub/f");
    char *subk = tpath("chk-1/sub/kept");
    const char *keep[] = {b, subk};

    (void)unused;
    assert_int_equal(mkdir(dir, 0755), 0);
    assert_int_equal(mkdir(sub, 0755), 0);
    spit(a, "a", 1);
    spit(b, "b", 1);
    spit(c, "c", 1);
    spit(subf, "f", 1);
    spit(subk, "k", 1);
    assert_int_equal(cf_ckpt_discard(dir, keep, 2, &err), 0);
    assert_false(exists(a));
    assert_true(exists(b));
    assert_false(exists(c));
    assert_false(exists(subf));
    assert_true(exists(subk));
    assert_true(is_dir(dir));
    /* Nothing kept any more: the directory goes. */
    assert_int_equal(cf_ckpt_discard(dir, NULL, 0, &err), 0);
    assert_false(exists(dir));
    /* Missing: fine. */
    assert_int_equal(cf_ckpt_discard(dir, NULL, 0, &err), 0);
    assert_null(err);
    free(dir);
    free(a);
    free(b);
    free(c);
    free(sub);
    free(subf);
    free(subk);
}

static void
test_dispose_savepoint(void **unused)
{
    cf_error_t *err = NULL;
    char *sp = cf_ckpt_savepoint_dir_new(tmpdir, JOB);
    char *outside = tpath("outside-sp");
    char *mfile;
    char *bare = tpath("bare");
    meta_t t;

    (void)unused;
    /* Without _metadata: refused, nothing removed. */
    assert_int_equal(mkdir(bare, 0755), 0);
    assert_int_not_equal(cf_ckpt_dispose_savepoint(bare, &err), 0);
    assert_msg_has(err, bare, NULL);
    cf_error_free(err);
    err = NULL;
    assert_true(is_dir(bare));
    /* A corrupt _metadata: refused. */
    spit(mfile = cf_asprintf("%s/_metadata", bare), "CFLKMETAjunk", 12);
    assert_int_not_equal(cf_ckpt_dispose_savepoint(bare, &err), 0);
    assert_msg_has(err, mfile, NULL);
    cf_error_free(err);
    err = NULL;
    assert_true(is_dir(bare));
    free(mfile);

    assert_int_equal(cf_ckpt_dir_create(sp, &err), 0);
    meta_build(&t, sp, outside);
    cf_ckpt_relativize(&t.m, sp);
    assert_int_equal(cf_ckpt_meta_write(sp, &t.m, &err), 0);
    mfile = cf_asprintf("%s/_metadata", sp);
    /* By its _metadata path. */
    assert_int_equal(cf_ckpt_dispose_savepoint(mfile, &err), 0);
    assert_null(err);
    assert_false(exists(sp));
    meta_free(&t);
    free(sp);
    free(outside);
    free(mfile);
    free(bare);
}

static void
test_write_and_copy(void **unused)
{
    cf_error_t *err = NULL;
    char *f = tpath("file"), *g = tpath("copy");
    char *bad = tpath("no-dir/file"), *badin = tpath("no-dir/file.inprogress");
    char *missing = tpath("missing-src");
    size_t n, big = 3u << 20;
    char *data = malloc(big), *back;

    (void)unused;
    for (size_t i = 0; i < big; i++)
        data[i] = (char)(i * 7 + i / 4096);
    assert_int_equal(cf_ckpt_write_file(f, data, big, &err), 0);
    assert_int_equal(cf_ckpt_copy_file(f, g, &err), 0);
    back = cf_file_read(g, &n);
    assert_int_equal(n, big);
    assert_memory_equal(back, data, big);
    free(back);
    assert_int_not_equal(cf_ckpt_write_file(bad, "x", 1, &err), 0);
    assert_msg_has(err, bad, "does not exist");
    cf_error_free(err);
    err = NULL;
    assert_false(exists(badin));
    assert_int_not_equal(cf_ckpt_copy_file(missing, g, &err), 0);
    assert_msg_has(err, missing, "does not exist");
    cf_error_free(err);
    free(data);
    free(f);
    free(g);
    free(bad);
    free(badin);
    free(missing);
}

/* ENOSPC when /dev/full exists: the message says so and names the path. */
static void
test_no_space(void **unused)
{
    cf_error_t *err = NULL;
    char *link = tpath("full.inprogress"), *path = tpath("full");

    (void)unused;
    if (access("/dev/full", W_OK) != 0)
        skip();
    /* The temporary name is a symbolic link to /dev/full. */
    assert_int_equal(symlink("/dev/full", link), 0);
    assert_int_not_equal(cf_ckpt_write_file(path, "abc", 3, &err), 0);
    assert_msg_has(err, path, "no space left on device");
    cf_error_free(err);
    unlink(link);
    free(link);
    free(path);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_paths),
        cmocka_unit_test(test_dirs_create),
        cmocka_unit_test(test_dir_errors),
        cmocka_unit_test(test_meta_round_trip),
        cmocka_unit_test(test_meta_corrupt),
        cmocka_unit_test(test_meta_missing),
        cmocka_unit_test(test_discard_keep),
        cmocka_unit_test(test_dispose_savepoint),
        cmocka_unit_test(test_write_and_copy),
        cmocka_unit_test(test_no_space),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
