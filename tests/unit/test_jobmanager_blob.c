/*
 * test_jobmanager_blob.c: the JobManager's blob store (src/jobmanager/
 * blob.c: SHA-256 keys, put by move, deduplication, key validation) and
 * the Dispatcher's upload checks (dispatcher.c: file names, non-ELF and
 * non-plugin files refused and deleted, unknown jars on run and plan).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dispatcher_int.h"

static char tmpdir[256];

static void
write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int
exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static int
rm_cb(const char *p, const struct stat *st, int fl, struct FTW *ftw)
{
    (void)st;
    (void)fl;
    (void)ftw;
    remove(p);
    return 0;
}

static int
setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/cf-test-blob-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    nftw(tmpdir, rm_cb, 8, FTW_DEPTH | FTW_PHYS);
    return 0;
}

static void
test_sha256(void **state)
{
    char path[512], key[65];

    (void)state;
    snprintf(path, sizeof path, "%s/abc", tmpdir);
    write_file(path, "abc");
    assert_int_equal(cf_blob_sha256_file(path, key), 0);
    assert_string_equal(key, "ba7816bf8f01cfea414140de5dae2223"
                             "b00361a396177a9cb410ff61f20015ad");
    write_file(path, "");
    assert_int_equal(cf_blob_sha256_file(path, key), 0);
    assert_string_equal(key, "e3b0c44298fc1c149afbf4c8996fb924"
                             "27ae41e4649b934ca495991b7852b855");
    snprintf(path, sizeof path, "%s/missing", tmpdir);
    assert_true(cf_blob_sha256_file(path, key) < 0);
}

static void
test_put_and_dedupe(void **state)
{
    char dir[512], src[512], key[65], key2[65];
    cf_error_t *err = NULL;
    cf_blob_store_t *b;
    const char *p;
    size_t len;
    char *data;

    (void)state;
    snprintf(dir, sizeof dir, "%s/store/nested", tmpdir);
    b = cf_blob_store_new(dir, &err);
    assert_non_null(b);
    snprintf(src, sizeof src, "%s/plugin.so", tmpdir);
    write_file(src, "plugin bytes");
    assert_int_equal(cf_blob_store_put(b, src, key, &err), 0);
    assert_false(exists(src)); /* moved */
    p = cf_blob_store_path(b, key);
    assert_non_null(p);
    data = cf_file_read(p, &len);
    assert_non_null(data);
    assert_int_equal(len, 12);
    assert_memory_equal(data, "plugin bytes", 12);
    free(data);

    /* The same content again: one stored file, the new copy dropped. */
    write_file(src, "plugin bytes");
    assert_int_equal(cf_blob_store_put(b, src, key2, &err), 0);
    assert_string_equal(key, key2);
    assert_false(exists(src));

    /* Keys that are not 64 lower-case hex characters find nothing. */
    assert_null(cf_blob_store_path(b, "../../etc/passwd"));
    assert_null(cf_blob_store_path(b, "abc"));
    key2[0] = key2[0] == 'a' ? 'b' : 'a';
    assert_null(cf_blob_store_path(b, key2));
    assert_null(cf_blob_store_path(b, NULL));

    /* A file that cannot be read is an error naming it. */
    assert_true(cf_blob_store_put(b, src, key2, &err) < 0);
    assert_non_null(err);
    assert_non_null(strstr(cf_error_msg(err), src));
    cf_error_free(err);
    cf_blob_store_destroy(b);
}

static void
test_blob_dir_not_creatable(void **state)
{
    char dir[512], file[512];
    cf_error_t *err = NULL;

    (void)state;
    snprintf(file, sizeof file, "%s/afile", tmpdir);
    write_file(file, "x");
    snprintf(dir, sizeof dir, "%s/afile/sub", tmpdir);
    assert_null(cf_blob_store_new(dir, &err));
    assert_non_null(err);
    assert_non_null(strstr(cf_error_msg(err), dir));
    cf_error_free(err);
}

/* A JobManager shell with what the Dispatcher needs. */
static void
jm_init(cf_jm_t *jm)
{
    cf_error_t *err = NULL;
    char dir[512];

    memset(jm, 0, sizeof *jm);
    jm->cfg = cf_config_new();
    jm->work_dir = tmpdir;
    snprintf(dir, sizeof dir, "%s/blobs", tmpdir);
    jm->blobs = cf_blob_store_new(dir, &err);
    assert_non_null(jm->blobs);
    jm->dispatcher = cf_dispatcher_new(jm, &err);
    assert_non_null(jm->dispatcher);
}

static void
jm_deinit(cf_jm_t *jm)
{
    cf_dispatcher_destroy(jm->dispatcher);
    cf_blob_store_destroy(jm->blobs);
    cf_config_destroy(jm->cfg);
}

/* Upload a file with text under the client name; expect refusal with
 * code and a message containing want; the file must be gone. */
static void
refused(cf_jm_t *jm, const char *name, const char *text, int code,
        const char *want)
{
    char path[512];
    cf_error_t *err = NULL;
    cf_jar_t *jar = (cf_jar_t *)1;

    snprintf(path, sizeof path, "%s/flink-web-upload/x.upload", tmpdir);
    write_file(path, text);
    assert_int_equal(cf_dispatcher_jar_add(jm->dispatcher, path, name, &jar,
                                           &err),
                     code);
    assert_null(jar);
    assert_non_null(err);
    if (strstr(cf_error_msg(err), want) == NULL)
        fail_msg("'%s' not in '%s'", want, cf_error_msg(err));
    cf_error_free(err);
    assert_false(exists(path));
}

static void
test_upload_refused(void **state)
{
    char dir[512];
    cf_jm_t jm;

    (void)state;
    jm_init(&jm);
    snprintf(dir, sizeof dir, "%s/flink-web-upload",
             tmpdir);
    assert_string_equal(cf_dispatcher_upload_dir(jm.dispatcher), dir);
    refused(&jm, "notes.txt", "\x7f" "ELF", CF_EINVAL, "Only cflink plugins");
    refused(&jm, "..", "x", CF_EINVAL, "Invalid file name");
    refused(&jm, "", "x", CF_EINVAL, "Invalid file name");
    refused(&jm, "-rf.so", "x", CF_EINVAL, "starts with '-'");
    refused(&jm, "a\nb.so", "x", CF_EINVAL, "control characters");
    refused(&jm, "a/b/../../evil\\x.so", "text", CF_EPLUGIN,
            "x.so: not a shared library (not an ELF file)");
    refused(&jm, "text.so", "just text", CF_EPLUGIN, "text.so: not a shared");
    refused(&jm,
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.so",
            "x", CF_EINVAL, "longer than");
    assert_null(cf_dispatcher_jars(jm.dispatcher));
    assert_int_equal(cf_dispatcher_jar_delete(jm.dispatcher, "nope.so"),
                     CF_ENOTFOUND);
    jm_deinit(&jm);
}

static void
test_run_unknown_jar(void **state)
{
    cf_jar_run_t run;
    cf_error_t *err = NULL;
    cf_jobmaster_t *jmr = (cf_jobmaster_t *)1;
    char *plan = (char *)1;
    cf_jm_t jm;

    (void)state;
    jm_init(&jm);
    memset(&run, 0, sizeof run);
    run.jar_id = "0000_missing.so";
    run.parallelism = CF_PARALLELISM_DEFAULT;
    assert_int_equal(cf_dispatcher_submit(jm.dispatcher, &run, &jmr, &err),
                     CF_ENOTFOUND);
    assert_null(jmr);
    assert_non_null(strstr(cf_error_msg(err), "0000_missing.so does not "
                                              "exist"));
    cf_error_free(err);
    err = NULL;
    assert_int_equal(cf_dispatcher_plan(jm.dispatcher, &run, &plan, &err),
                     CF_ENOTFOUND);
    assert_null(plan);
    cf_error_free(err);
    assert_null(cf_dispatcher_jobs(jm.dispatcher));
    jm_deinit(&jm);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sha256, setup, teardown),
        cmocka_unit_test_setup_teardown(test_put_and_dedupe, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_blob_dir_not_creatable, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_upload_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_run_unknown_jar, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
