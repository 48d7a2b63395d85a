/*
 * test_runtime_opckpt.c: operator-level checkpointing (op_ckpt.c) and
 * the ABI 1.1 plugin calls: snapshots written into a directory and
 * restored into fresh operator instances at the same and another
 * parallelism (keyed state by key group, operator state split, union and
 * broadcast), the two-phase-commit sink's ordering and idempotent
 * re-commit after restore, hooks of ABI 1.0 plugins (short cf_hooks_t),
 * builder validation, and a plugin compiled for ABI 1.0 run end to end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "op_ckpt.h"
#include "task.h"

#include <cmocka.h>

#define MAXP 16
#define NKEYS 50

/* ------------------------------------------------------------------ */
/* Fixtures                                                            */
/* ------------------------------------------------------------------ */

static char tmpdir[256];

static void
tmpdir_make(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/cf-opckpt-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
}

static void
tmpdir_remove(void)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    assert_int_equal(system(cmd), 0);
}

static int
src_next(cf_ctx_t *ctx)
{
    (void)ctx;
    return CF_SOURCE_END;
}

static const cf_source_ops_t src_ops = {sizeof(cf_source_ops_t), NULL,
                                        src_next, NULL};

static int
id_map(cf_ctx_t *ctx, const cf_record_t *in, cf_record_t *out)
{
    (void)ctx;
    *out = *in;
    return CF_OK;
}

static int
key_all(cf_ctx_t *ctx, const cf_record_t *in, cf_key_t *key)
{
    (void)ctx;
    key->data = in->data;
    key->len = in->len;
    return CF_OK;
}

static int
proc_fn(cf_ctx_t *ctx, const cf_record_t *in)
{
    (void)ctx;
    (void)in;
    return CF_OK;
}

static const cf_process_ops_t proc_ops = {sizeof(cf_process_ops_t), NULL,
                                          proc_fn, NULL, NULL, NULL};

static cf_job_t *
job_new(int parallelism)
{
    cf_job_t *job = CF_NEW(cf_job_t);
    job->env = cf_env_new(NULL, parallelism);
    cf_id_random(&job->job_id);
    cf_id_to_hex(&job->job_id, job->job_id_hex);
    return job;
}

static void
job_free(cf_job_t *job)
{
    cf_jobgraph_free(job);
    cf_env_destroy(job->env);
    cf_free(job);
}

/* The vertex whose head has this operator name prefix. */
static int
vertex_of(cf_job_t *job, const char *name)
{
    for (int i = 0; i < job->nvertices; i++)
        if (strncmp(job->vertices[i].name, name, strlen(name)) == 0)
            return i;
    fail_msg("no vertex '%s'", name);
    return -1;
}

static void
task_free(cf_task_t *t)
{
    for (int i = 0; i < t->nctxs; i++)
        cf_op_ckpt_close(&t->ctxs[i], 0);
    cf_task_destroy(t);
}

static void
handles_free(cf_state_handle_t *h, int n)
{
    for (int i = 0; i < n; i++)
        cf_free(h[i].path);
}

/* Sync + async snapshot of ctx into tmpdir. Returns 1 with *h filled, 0
 * when the operator had nothing. */
typedef void (*between_fn)(cf_ctx_t *ctx);

/* The same; between runs after the synchronous part (the copy-on-write
 * snapshot must not see what it does). */
static int
snapshot2(cf_ctx_t *ctx, int64_t id, cf_state_handle_t *h,
          between_fn between)
{
    cf_op_snap_t *s = NULL;
    cf_error_t *err = NULL;
    char dir[300];
    int rc;

    assert_int_equal(cf_op_snapshot_sync(ctx, id, &s), 0);
    if (s == NULL)
        return 0;
    if (between)
        between(ctx);
    /* One directory per checkpoint, as chk-<id>. */
    snprintf(dir, sizeof dir, "%s/chk-%lld", tmpdir, (long long)id);
    mkdir(dir, 0755);
    rc = cf_op_snapshot_write(s, dir, id % 2, h, &err);
    if (rc < 0)
        fail_msg("write: %s", cf_error_msg(err));
    cf_op_snapshot_free(s);
    assert_non_null(h->path);
    assert_true(h->path[0] == '/');
    assert_true(h->size > 0);
    return 1;
}

static int
snapshot(cf_ctx_t *ctx, int64_t id, cf_state_handle_t *h)
{
    return snapshot2(ctx, id, h, NULL);
}

/* ------------------------------------------------------------------ */
/* Keyed and operator state: snapshot, restore, rescale                */
/* ------------------------------------------------------------------ */

/* source -> map "ops" (operator state) -> keyBy -> process "keyed" */
static cf_job_t *
state_job(int p)
{
    cf_job_t *job = job_new(p);
    cf_error_t *err = NULL;
    cf_stream_t *s;

    cf_b_env_set_max_parallelism(job->env, MAXP);
    s = cf_b_env_add_source(job->env, "src", &src_ops, NULL);
    cf_b_set_uid(s, "src");
    s = cf_b_map(s, "ops", id_map, NULL);
    cf_b_set_uid(s, "ops");
    cf_b_disable_chaining(s);
    s = cf_b_key_by(s, key_all, NULL);
    s = cf_b_process(s, "keyed", &proc_ops, NULL);
    cf_b_set_uid(s, "keyed");
    assert_null(job->env->error);
    if (cf_jobgraph_build(job, &err) < 0)
        fail_msg("%s", cf_error_msg(err));
    return job;
}

static void
key_name(int k, char *buf, size_t n)
{
    snprintf(buf, n, "key-%d", k);
}

static int
key_group(int k)
{
    char kb[32];
    key_name(k, kb, sizeof kb);
    return (int)(cf_murmur3_32_key(kb, strlen(kb)) % MAXP);
}

/* The backend borrows the key bytes until the next set_key. */
static void
set_key(cf_ctx_t *ctx, int k)
{
    static char kb[32];
    key_name(k, kb, sizeof kb);
    cf_kstate_set_key(ctx->kstate, kb, (uint32_t)strlen(kb),
                      cf_murmur3_32_key(kb, strlen(kb)));
}

static int
agg_add(cf_ctx_t *ctx, cf_buf_t *acc, const cf_record_t *in)
{
    int64_t sum = 0, v;
    if (acc->len == 8)
        memcpy(&sum, acc->data, 8);
    memcpy(&v, in->data, 8);
    sum += v;
    cf_task_buf_reserve(ctx, acc, 8);
    memcpy(acc->data, &sum, 8);
    acc->len = 8;
    return CF_OK;
}

static int
agg_result(cf_ctx_t *ctx, const cf_slice_t *acc, cf_buf_t *out)
{
    int64_t sum;
    memcpy(&sum, acc->data, 8);
    sum *= 10;
    cf_task_buf_reserve(ctx, out, 8);
    memcpy(out->data, &sum, 8);
    out->len = 8;
    return CF_OK;
}

static const cf_agg_ops_t agg_ops = {sizeof(cf_agg_ops_t), agg_add,
                                     agg_result};

/* Fill subtask sub of the keyed operator: value "count" = k for every
 * key k of its range, aggregating "agg" = k + 2k. */
static void
fill_keyed(cf_ctx_t *ctx, int *nkeys)
{
    cf_state_t *count = cf_task_state_value(ctx, "count");
    cf_state_t *agg = cf_task_state_aggregating(ctx, "agg", &agg_ops);
    int lo, hi;

    assert_non_null(count);
    assert_non_null(agg);
    cf_keygroup_range(MAXP, cf_task_parallelism(ctx),
                      cf_task_subtask_index(ctx), &lo, &hi);
    for (int k = 0; k < NKEYS; k++) {
        int64_t v = k, w = 2 * k;
        if (key_group(k) < lo || key_group(k) > hi)
            continue;
        set_key(ctx, k);
        assert_int_equal(cf_kstate_value_put(count, &v, sizeof v), 0);
        assert_int_equal(cf_kstate_aggregating_add(agg, &v, 8, 0), 0);
        assert_int_equal(cf_kstate_aggregating_add(agg, &w, 8, 0), 0);
        (*nkeys)++;
    }
}

/* Check every key of ctx's range; returns how many it holds. */
static int
check_keyed(cf_ctx_t *ctx)
{
    cf_state_t *count = cf_task_state_value(ctx, "count");
    cf_state_t *agg = cf_task_state_aggregating(ctx, "agg", &agg_ops);
    int lo, hi, n = 0;

    assert_non_null(count);
    assert_non_null(agg);
    cf_keygroup_range(MAXP, cf_task_parallelism(ctx),
                      cf_task_subtask_index(ctx), &lo, &hi);
    for (int k = 0; k < NKEYS; k++) {
        cf_slice_t v;
        int64_t x;
        if (key_group(k) < lo || key_group(k) > hi)
            continue;
        set_key(ctx, k);
        assert_int_equal(cf_kstate_value_get(count, &v), 1);
        assert_int_equal(v.len, 8);
        memcpy(&x, v.data, 8);
        assert_int_equal(x, k);
        assert_int_equal(cf_kstate_aggregating_get(agg, &v), 1);
        memcpy(&x, v.data, 8);
        assert_int_equal(x, 30 * k);
        n++;
    }
    return n;
}

/* Operator state of subtask sub: SPLIT "pos" with sub + 1 items
 * "s<sub>-<i>", UNION "u" with "u<sub>", BROADCAST "b" with rule=1. */
static void
fill_ops(cf_ctx_t *ctx)
{
    int sub = cf_task_subtask_index(ctx);
    cf_state_t *pos = cf_task_op_state_list(ctx, "pos", CF_OPSTATE_SPLIT);
    cf_state_t *u = cf_task_op_state_list(ctx, "u", CF_OPSTATE_UNION);
    cf_state_t *b = cf_task_op_state_broadcast(ctx, "b");
    char item[32];

    assert_non_null(pos);
    assert_non_null(u);
    assert_non_null(b);
    for (int i = 0; i <= sub; i++) {
        snprintf(item, sizeof item, "s%d-%d", sub, i);
        assert_int_equal(cf_kstate_list_add(pos, item, strlen(item)), 0);
    }
    snprintf(item, sizeof item, "u%d", sub);
    assert_int_equal(cf_kstate_list_add(u, item, strlen(item)), 0);
    assert_int_equal(cf_kstate_map_put(b, "rule", 4, "1", 1), 0);
}

/* The items of list state name, joined with ','. */
static void
list_items(cf_ctx_t *ctx, const char *name, int mode, char *out, size_t n)
{
    cf_state_t *st = cf_task_op_state_list(ctx, name, mode);
    cf_list_iter_t it;
    cf_slice_t item;
    size_t len = 0;

    assert_non_null(st);
    out[0] = '\0';
    assert_int_equal(cf_kstate_list_iter(st, &it), 0);
    while (cf_kstate_list_next(&it, &item)) {
        len += (size_t)snprintf(out + len, n - len, "%s%.*s",
                                len ? "," : "", (int)item.len,
                                (const char *)item.data);
        assert_true(len < n);
    }
}

/* After the sync part: overwrite every key of the range, add an item. */
static void
mutate_keyed(cf_ctx_t *ctx)
{
    cf_state_t *count = cf_task_state_value(ctx, "count");
    int lo, hi;
    int64_t junk = -1;
    cf_keygroup_range(MAXP, cf_task_parallelism(ctx),
                      cf_task_subtask_index(ctx), &lo, &hi);
    for (int k = 0; k < NKEYS; k++) {
        if (key_group(k) < lo || key_group(k) > hi)
            continue;
        set_key(ctx, k);
        assert_int_equal(cf_kstate_value_put(count, &junk, sizeof junk), 0);
    }
    set_key(ctx, 0);
}

static void
mutate_ops(cf_ctx_t *ctx)
{
    cf_state_t *pos = cf_task_op_state_list(ctx, "pos", CF_OPSTATE_SPLIT);
    assert_int_equal(cf_kstate_list_add(pos, "late", 4), 0);
}

/* Snapshot both operators of every subtask at parallelism p_old, then
 * restore into parallelism p_new and check everything. */
static void
rescale(int p_old, int p_new)
{
    cf_job_t *job = state_job(p_old), *job2;
    int vo = vertex_of(job, "ops"), vk = vertex_of(job, "keyed");
    cf_state_handle_t ho[8], hk[8];
    int nkeys = 0, restored_keys = 0, nsplit = 0;
    char buf[256], want[512];

    tmpdir_make();
    for (int s = 0; s < p_old; s++) {
        cf_task_t *to = cf_task_new(NULL, job, vo, s, 0, 0, -1);
        cf_task_t *tk = cf_task_new(NULL, job, vk, s, 0, 0, -1);
        memset(&ho[s], 0, sizeof ho[s]);
        memset(&hk[s], 0, sizeof hk[s]);
        /* Nothing registered yet: no state, no handle. */
        assert_int_equal(snapshot(&to->ctxs[0], 7, &ho[s]), 0);
        assert_int_equal(snapshot(&tk->ctxs[0], 7, &hk[s]), 0);
        fill_ops(&to->ctxs[0]);
        fill_keyed(&tk->ctxs[0], &nkeys);
        assert_int_equal(snapshot2(&to->ctxs[0], 8, &ho[s], mutate_ops), 1);
        assert_int_equal(snapshot2(&tk->ctxs[0], 8, &hk[s], mutate_keyed),
                         1);
        assert_true(ho[s].has_operator && !ho[s].has_keyed);
        assert_true(hk[s].has_keyed && !hk[s].has_operator);
        assert_int_equal(ho[s].subtask, s);
        int lo, hi;
        cf_keygroup_range(MAXP, p_old, s, &lo, &hi);
        assert_int_equal(hk[s].kg_start, lo);
        assert_int_equal(hk[s].kg_end, hi);
        /* File name: <operator id hex>-<subtask>-<attempt>. */
        char hex[CF_ID_HEX_LEN + 1];
        cf_id_to_hex(&to->ctxs[0].node->op_id, hex);
        snprintf(want, sizeof want, "%s/chk-8/%s-%d-0", tmpdir, hex, s);
        assert_string_equal(ho[s].path, want);
        assert_int_equal(cf_task_is_restored(&tk->ctxs[0]), 0);
        task_free(to);
        task_free(tk);
    }
    assert_int_equal(nkeys, NKEYS);

    job2 = state_job(p_new);
    vo = vertex_of(job2, "ops");
    vk = vertex_of(job2, "keyed");
    assert_true(cf_id_equal(&cf_env_node(job->env, 2)->op_id,
                            &cf_env_node(job2->env, 2)->op_id));
    for (int s = 0; s < p_new; s++) {
        cf_task_t *to = cf_task_new(NULL, job2, vo, s, 1, 0, -1);
        cf_task_t *tk = cf_task_new(NULL, job2, vk, s, 1, 0, -1);
        cf_op_restore_t ro = {to->ctxs[0].node->op_id, p_old, ho, p_old, 0};
        cf_op_restore_t rk = {tk->ctxs[0].node->op_id, p_old, hk, p_old, 0};
        cf_error_t *err = NULL;

        if (cf_op_restore(&to->ctxs[0], &ro, s, p_new, &err) < 0)
            fail_msg("restore: %s", cf_error_msg(err));
        if (cf_op_restore(&tk->ctxs[0], &rk, s, p_new, &err) < 0)
            fail_msg("restore: %s", cf_error_msg(err));
        assert_int_equal(cf_task_is_restored(&to->ctxs[0]), 1);
        assert_int_equal(cf_task_is_restored(&tk->ctxs[0]), 1);
        assert_int_equal(cf_op_restored_finished(&tk->ctxs[0]), 0);
        restored_keys += check_keyed(&tk->ctxs[0]);

        /* UNION: every item of every old subtask. */
        list_items(&to->ctxs[0], "u", CF_OPSTATE_UNION, buf, sizeof buf);
        want[0] = '\0';
        for (int o = 0; o < p_old; o++)
            snprintf(want + strlen(want), sizeof want - strlen(want),
                     "%su%d", o ? "," : "", o);
        assert_string_equal(buf, want);
        /* BROADCAST: the map of the first. */
        {
            cf_slice_t v;
            cf_state_t *b = cf_task_op_state_broadcast(&to->ctxs[0], "b");
            assert_int_equal(cf_kstate_map_get(b, "rule", 4, &v), 1);
            assert_memory_equal(v.data, "1", 1);
        }
        /* SPLIT: own items at the same parallelism, else a contiguous
         * share of all. */
        list_items(&to->ctxs[0], "pos", CF_OPSTATE_SPLIT, buf, sizeof buf);
        if (p_old == p_new) {
            want[0] = '\0';
            for (int i = 0; i <= s; i++)
                snprintf(want + strlen(want), sizeof want - strlen(want),
                         "%ss%d-%d", i ? "," : "", s, i);
            assert_string_equal(buf, want);
        }
        assert_null(strstr(buf, "late"));
        for (char *p = buf; *p; p++)
            nsplit += *p == ',';
        nsplit += buf[0] != '\0';
        task_free(to);
        task_free(tk);
    }
    assert_int_equal(restored_keys, NKEYS);
    assert_int_equal(nsplit, p_old * (p_old + 1) / 2);
    handles_free(ho, p_old);
    handles_free(hk, p_old);
    job_free(job);
    job_free(job2);
    tmpdir_remove();
}

static void
test_restore_same_parallelism(void **st)
{
    (void)st;
    rescale(2, 2);
}

static void
test_restore_rescaled(void **st)
{
    (void)st;
    rescale(2, 3);
    rescale(3, 1);
}

/* ------------------------------------------------------------------ */
/* Plugin API errors, TTL, corrupt files                               */
/* ------------------------------------------------------------------ */

static void
test_api_errors(void **st)
{
    cf_job_t *job = state_job(1);
    int vo = vertex_of(job, "ops"), vk = vertex_of(job, "keyed");
    cf_task_t *to = cf_task_new(NULL, job, vo, 0, 0, 0, -1);
    cf_task_t *tk = cf_task_new(NULL, job, vk, 0, 0, 0, -1);
    cf_state_t *v;
    (void)st;

    /* Aggregating state on a non-keyed operator. */
    assert_null(cf_task_state_aggregating(&to->ctxs[0], "a", &agg_ops));
    assert_non_null(to->failure);
    assert_non_null(strstr(to->failure, "Keyed state can only be used"));
    assert_non_null(strstr(to->failure, "'ops'"));
    cf_free(to->failure);
    to->failure = NULL;
    atomic_store(&to->user_failed, 0);

    /* Reserved names, unknown modes. */
    assert_null(cf_task_op_state_list(&to->ctxs[0], "_cflink_2pc_pending",
                                      CF_OPSTATE_SPLIT));
    assert_non_null(strstr(to->failure, "reserved"));
    cf_free(to->failure);
    to->failure = NULL;
    assert_null(cf_task_op_state_list(&to->ctxs[0], "x", 9));
    assert_non_null(strstr(to->failure, "mode 9"));
    cf_free(to->failure);
    to->failure = NULL;

    /* Aggregating state without functions. */
    cf_agg_ops_t bad = {sizeof bad, agg_add, NULL};
    assert_null(cf_task_state_aggregating(&tk->ctxs[0], "a", &bad));
    assert_non_null(strstr(tk->failure, "'a'"));

    /* TTL through the host table entry. */
    v = cf_task_state_value(&tk->ctxs[0], "ttl");
    assert_non_null(v);
    assert_true(cf_task_state_ttl(v, 1000, 99) < 0);
    assert_int_equal(cf_task_state_ttl(v, 1000, CF_TTL_ON_READ_AND_WRITE),
                     0);
    assert_true(cf_task_state_ttl(NULL, 1000, 1) < 0);

    /* The table has the ABI 1.1 entries. */
    assert_int_equal(cf_host_api.minor, CF_ABI_MINOR);
    assert_true(CF_API_HAS(&to->ctxs[0], state_ttl));
    assert_ptr_equal(cf_host_api.is_restored, cf_task_is_restored);
    assert_ptr_equal(cf_host_api.stream_sink_2pc, cf_b_sink_2pc);
    assert_non_null(cf_host_api.aggregating_add);
    assert_non_null(cf_host_api.aggregating_get);
    assert_non_null(cf_host_api.op_state_broadcast);
    task_free(to);
    task_free(tk);
    job_free(job);
}

static void
test_restore_corrupt(void **st)
{
    cf_job_t *job = state_job(1);
    int vk = vertex_of(job, "keyed");
    cf_task_t *tk = cf_task_new(NULL, job, vk, 0, 0, 0, -1);
    cf_state_handle_t h = {0};
    cf_error_t *err = NULL;
    int nkeys = 0;
    (void)st;

    tmpdir_make();
    fill_keyed(&tk->ctxs[0], &nkeys);
    assert_int_equal(snapshot(&tk->ctxs[0], 1, &h), 1);
    task_free(tk);
    assert_int_equal(truncate(h.path, (off_t)(h.size / 2)), 0);

    tk = cf_task_new(NULL, job, vk, 0, 1, 0, -1);
    cf_op_restore_t r = {tk->ctxs[0].node->op_id, 1, &h, 1, 0};
    assert_true(cf_op_restore(&tk->ctxs[0], &r, 0, 1, &err) < 0);
    assert_non_null(err);
    assert_non_null(strstr(cf_error_msg(err), h.path));
    cf_error_free(err);
    err = NULL;

    /* A handle of an old subtask beyond the old parallelism. */
    h.has_keyed = 0;
    h.has_operator = 1;
    h.subtask = 3;
    assert_true(cf_op_restore(&tk->ctxs[0], &r, 0, 1, &err) < 0);
    assert_non_null(strstr(cf_error_msg(err), "subtask 3"));
    cf_error_free(err);
    err = NULL;

    /* A directory that does not exist: the message names the path. */
    fill_keyed(&tk->ctxs[0], &nkeys);
    {
        cf_op_snap_t *s = NULL;
        cf_state_handle_t h2;
        char dir[300];
        assert_int_equal(cf_op_snapshot_sync(&tk->ctxs[0], 2, &s), 0);
        assert_non_null(s);
        snprintf(dir, sizeof dir, "%s/missing/dir", tmpdir);
        assert_true(cf_op_snapshot_write(s, dir, 0, &h2, &err) < 0);
        assert_non_null(strstr(cf_error_msg(err), dir));
        assert_null(h2.path);
        cf_error_free(err);
        cf_op_snapshot_free(s);
    }
    /* A finished operator. */
    {
        cf_op_restore_t rf = {tk->ctxs[0].node->op_id, 1, NULL, 0, 1};
        assert_int_equal(cf_op_restore(&tk->ctxs[0], &rf, 0, 1, &err), 0);
        assert_int_equal(cf_op_restored_finished(&tk->ctxs[0]), 1);
        assert_int_equal(cf_op_restore(&tk->ctxs[0], NULL, 0, 1, &err), 0);
    }
    task_free(tk);
    cf_free(h.path);
    job_free(job);
    tmpdir_remove();
}

/* ------------------------------------------------------------------ */
/* Two-phase commit                                                    */
/* ------------------------------------------------------------------ */

/* The sink's transactions are "t<id>:<records>"; commit and abort write
 * to a log; committing a committed transaction is a no-op that is
 * logged as such. */
static char txlog[2048];
static char committed[2048];
static int fail_commit;

typedef struct sink_local_s {
    char cur[256];
} sink_local_t;

static void
logf_(const char *fmt, ...)
{
    va_list ap;
    size_t n = strlen(txlog);
    va_start(ap, fmt);
    vsnprintf(txlog + n, sizeof txlog - n, fmt, ap);
    va_end(ap);
}

static int
tx_open(cf_ctx_t *ctx)
{
    cf_ctx_set_local(ctx, cf_calloc(1, sizeof(sink_local_t)));
    return CF_OK;
}

static void
tx_close(cf_ctx_t *ctx)
{
    cf_free(cf_ctx_local(ctx));
    cf_ctx_set_local(ctx, NULL);
}

static int
tx_invoke(cf_ctx_t *ctx, const cf_record_t *in)
{
    sink_local_t *l = cf_ctx_local(ctx);
    size_t n = strlen(l->cur);
    snprintf(l->cur + n, sizeof l->cur - n, "%.*s", (int)in->len,
             (const char *)in->data);
    return CF_OK;
}

static int
tx_pre_commit(cf_ctx_t *ctx, int64_t id, cf_buf_t *txn)
{
    sink_local_t *l = cf_ctx_local(ctx);
    char d[300];
    int n;
    if (l->cur[0] == '\0')
        return CF_OK; /* nothing written: no transaction */
    n = snprintf(d, sizeof d, "t%lld:%s",
                 id == INT64_MAX ? -1LL : (long long)id, l->cur);
    cf_buf_reserve(ctx, txn, (uint32_t)n);
    memcpy(txn->data, d, (size_t)n);
    txn->len = (uint32_t)n;
    l->cur[0] = '\0';
    logf_("pre(%lld) ", id == INT64_MAX ? -1LL : (long long)id);
    return CF_OK;
}

static int
tx_commit(cf_ctx_t *ctx, const void *txn, uint32_t len)
{
    char t[300];
    (void)ctx;
    if (fail_commit)
        return -5;
    snprintf(t, sizeof t, "[%.*s]", (int)len, (const char *)txn);
    if (strstr(committed, t)) {
        logf_("again%s ", t);
        return CF_OK;
    }
    strcat(committed, t);
    logf_("commit%s ", t);
    return CF_OK;
}

static void
tx_abort(cf_ctx_t *ctx, const void *txn, uint32_t len)
{
    (void)ctx;
    logf_("abort(%s,%u) ", txn ? "txn" : "open", len);
}

static const cf_2pc_sink_ops_t tx_ops = {
    sizeof(cf_2pc_sink_ops_t), tx_open, tx_invoke, tx_pre_commit, tx_commit,
    tx_abort, NULL, tx_close};

static cf_job_t *
tx_job(void)
{
    cf_job_t *job = job_new(1);
    cf_error_t *err = NULL;
    cf_stream_t *s = cf_b_env_add_source(job->env, "src", &src_ops, NULL);
    cf_b_sink_2pc(s, "tx", &tx_ops, NULL);
    assert_null(job->env->error);
    if (cf_jobgraph_build(job, &err) < 0)
        fail_msg("%s", cf_error_msg(err));
    return job;
}

static cf_ctx_t *
tx_ctx(cf_task_t *t)
{
    for (int i = 0; i < t->nctxs; i++)
        if (t->ctxs[i].node->kind == CF_OP_SINK_2PC) {
            t->ctxs[i].body = cf_op_sink_2pc_invoke;
            return &t->ctxs[i];
        }
    fail_msg("no 2PC sink");
    return NULL;
}

static void
tx_open_ctx(cf_ctx_t *c)
{
    assert_int_equal(tx_open(c), 0);
    c->opened = 1;
}

static void
tx_rec(cf_ctx_t *c, const char *s)
{
    cf_record_t r = {s, (uint32_t)strlen(s), 0};
    assert_int_equal(cf_op_sink_2pc_invoke(c, &r), 0);
}

static void
tx_close_ctx(cf_ctx_t *c, int failed)
{
    cf_op_ckpt_close(c, failed);
    tx_close(c);
    c->opened = 0;
}

static void
test_2pc(void **st)
{
    cf_job_t *job = tx_job();
    cf_task_t *t = cf_task_new(NULL, job, 0, 0, 0, 0, -1), *t2;
    cf_ctx_t *c = tx_ctx(t), *c2;
    cf_state_handle_t h1 = {0}, h2 = {0}, h3 = {0};
    cf_error_t *err = NULL;
    (void)st;

    tmpdir_make();
    txlog[0] = committed[0] = '\0';
    tx_open_ctx(c);
    assert_int_equal(cf_op_ckpt_open(c), 0); /* not restored: nothing */
    tx_rec(c, "a");
    assert_int_equal(snapshot(c, 1, &h1), 1);
    tx_rec(c, "b");
    tx_rec(c, "c");
    assert_int_equal(snapshot(c, 2, &h2), 1);
    assert_string_equal(txlog, "pre(1) pre(2) ");
    /* Checkpoint 2 completes: 1 then 2, in order. */
    assert_int_equal(cf_op_notify_complete(c, 2), 0);
    assert_string_equal(txlog, "pre(1) pre(2) commit[t1:a] commit[t2:bc] ");
    /* Nothing left to commit. */
    assert_int_equal(cf_op_notify_complete(c, 2), 0);
    /* Aborted checkpoint 3: its transaction is committed with 4. */
    txlog[0] = '\0';
    tx_rec(c, "d");
    assert_int_equal(snapshot(c, 3, &h3), 1);
    cf_op_notify_aborted(c, 3);
    tx_rec(c, "e");
    cf_state_handle_t h4 = {0};
    assert_int_equal(snapshot(c, 4, &h4), 1);
    cf_free(h4.path);
    /* A notification of an older checkpoint commits only up to it. */
    assert_int_equal(cf_op_notify_complete(c, 3), 0);
    assert_string_equal(txlog, "pre(3) pre(4) commit[t3:d] ");
    assert_int_equal(cf_op_notify_complete(c, 4), 0);
    assert_string_equal(txlog, "pre(3) pre(4) commit[t3:d] commit[t4:e] ");
    /* A failure: the open transaction is aborted. */
    txlog[0] = '\0';
    tx_rec(c, "f");
    tx_close_ctx(c, 1);
    assert_string_equal(txlog, "abort(open,0) ");
    assert_null(c->ck);
    assert_null(c->opstate);
    task_free(t);

    /* Restore checkpoint 2 (pending t1, t2): both committed again, in
     * order, idempotently, at open; nothing at the next checkpoint. */
    txlog[0] = '\0';
    t2 = cf_task_new(NULL, job, 0, 0, 1, 0, -1);
    c2 = tx_ctx(t2);
    {
        cf_op_restore_t r = {c2->node->op_id, 1, &h2, 1, 0};
        if (cf_op_restore(c2, &r, 0, 1, &err) < 0)
            fail_msg("%s", cf_error_msg(err));
    }
    assert_int_equal(cf_task_is_restored(c2), 1);
    tx_open_ctx(c2);
    assert_int_equal(cf_op_ckpt_open(c2), 0);
    assert_string_equal(txlog, "again[t1:a] again[t2:bc] ");
    txlog[0] = '\0';
    tx_rec(c2, "g");
    cf_state_handle_t h5 = {0};
    assert_int_equal(snapshot(c2, 5, &h5), 1);
    assert_int_equal(cf_op_notify_complete(c2, 5), 0);
    assert_string_equal(txlog, "pre(5) commit[t5:g] ");
    tx_close_ctx(c2, 0);
    task_free(t2);

    /* Checkpoint 5 was taken before its own commit: t5 is in it. */
    txlog[0] = '\0';
    t2 = cf_task_new(NULL, job, 0, 0, 2, 0, -1);
    c2 = tx_ctx(t2);
    {
        cf_op_restore_t r = {c2->node->op_id, 1, &h5, 1, 0};
        assert_int_equal(cf_op_restore(c2, &r, 0, 1, &err), 0);
    }
    tx_open_ctx(c2);
    assert_int_equal(cf_op_ckpt_open(c2), 0);
    assert_string_equal(txlog, "again[t5:g] ");
    txlog[0] = '\0';
    /* Restoring checkpoint 3 after 3 was aborted: t3 was pending in it. */
    tx_close_ctx(c2, 0);
    task_free(t2);
    t2 = cf_task_new(NULL, job, 0, 0, 3, 0, -1);
    c2 = tx_ctx(t2);
    {
        cf_op_restore_t r = {c2->node->op_id, 1, &h3, 1, 0};
        assert_int_equal(cf_op_restore(c2, &r, 0, 1, &err), 0);
    }
    tx_open_ctx(c2);
    assert_int_equal(cf_op_ckpt_open(c2), 0);
    assert_string_equal(txlog, "again[t3:d] ");
    /* A failing commit fails the task, naming the operator. */
    tx_rec(c2, "h");
    cf_state_handle_t h6 = {0};
    assert_int_equal(snapshot(c2, 6, &h6), 1);
    fail_commit = 1;
    assert_true(cf_op_notify_complete(c2, 6) < 0);
    fail_commit = 0;
    assert_string_equal(t2->failure,
                        "commit of operator 'Sink: tx' failed (code -5)");
    tx_close_ctx(c2, 1);
    task_free(t2);
    cf_free(h6.path);

    /* Without checkpointing: pre-commit and commit at end of input. */
    txlog[0] = '\0';
    t2 = cf_task_new(NULL, job, 0, 0, 4, 0, -1);
    c2 = tx_ctx(t2);
    tx_open_ctx(c2);
    tx_rec(c2, "x");
    tx_rec(c2, "y");
    assert_int_equal(cf_op_ckpt_end_input(c2), 0);
    assert_string_equal(txlog, "pre(-1) commit[t-1:xy] ");
    tx_close_ctx(c2, 0);
    task_free(t2);

    cf_free(h1.path);
    cf_free(h2.path);
    cf_free(h3.path);
    cf_free(h5.path);
    job_free(job);
    tmpdir_remove();
}

static int
tx_fail_invoke(cf_ctx_t *ctx, const cf_record_t *in)
{
    (void)ctx;
    (void)in;
    return -3;
}

static void
test_2pc_rescaled_and_invoke_failure(void **st)
{
    /* Pending transactions of 2 subtasks restored at parallelism 1: the
     * one new subtask commits both. */
    cf_job_t *job = job_new(2), *job1;
    cf_state_handle_t h[2];
    cf_error_t *err = NULL;
    cf_stream_t *s;
    (void)st;

    tmpdir_make();
    txlog[0] = committed[0] = '\0';
    s = cf_b_env_add_source(job->env, "src", &src_ops, NULL);
    s = cf_b_sink_2pc(s, "tx", &tx_ops, NULL);
    cf_b_set_uid(s, "tx");
    assert_int_equal(cf_jobgraph_build(job, &err), 0);
    for (int i = 0; i < 2; i++) {
        cf_task_t *t = cf_task_new(NULL, job, 0, i, 0, 0, -1);
        cf_ctx_t *c = tx_ctx(t);
        tx_open_ctx(c);
        tx_rec(c, i ? "B" : "A");
        memset(&h[i], 0, sizeof h[i]);
        assert_int_equal(snapshot(c, 9, &h[i]), 1);
        tx_close_ctx(c, 1);
        task_free(t);
    }
    job1 = job_new(1);
    s = cf_b_env_add_source(job1->env, "src", &src_ops, NULL);
    s = cf_b_sink_2pc(s, "tx", &tx_ops, NULL);
    cf_b_set_uid(s, "tx");
    assert_int_equal(cf_jobgraph_build(job1, &err), 0);
    txlog[0] = '\0';
    {
        cf_task_t *t = cf_task_new(NULL, job1, 0, 0, 1, 0, -1);
        cf_ctx_t *c = tx_ctx(t);
        cf_op_restore_t r = {c->node->op_id, 2, h, 2, 0};
        assert_int_equal(cf_op_restore(c, &r, 0, 1, &err), 0);
        tx_open_ctx(c);
        assert_int_equal(cf_op_ckpt_open(c), 0);
        assert_string_equal(txlog, "commit[t9:A] commit[t9:B] ");
        /* invoke failures name the sink. */
        c->node->sink2pc.invoke = tx_fail_invoke;
        cf_record_t rec = {"z", 1, 0};
        assert_int_equal(cf_op_sink_2pc_invoke(c, &rec), -3);
        assert_string_equal(t->failure,
                            "sink of operator 'Sink: tx' failed (code -3)");
        c->node->sink2pc.invoke = tx_invoke;
        tx_close_ctx(c, 1);
        task_free(t);
    }
    handles_free(h, 2);
    job_free(job);
    job_free(job1);
    tmpdir_remove();
}

/* ------------------------------------------------------------------ */
/* Builder: validation, naming, protobuf round trip                    */
/* ------------------------------------------------------------------ */

static void
check_sink_error(cf_2pc_sink_ops_t ops, const char *want)
{
    cf_job_t *job = job_new(1);
    cf_stream_t *s = cf_b_env_add_source(job->env, "src", &src_ops, NULL);
    cf_b_sink_2pc(s, "tx", &ops, NULL);
    assert_non_null(job->env->error);
    assert_string_equal(job->env->error, want);
    job_free(job);
}

static void
test_builder(void **st)
{
    cf_2pc_sink_ops_t ops = tx_ops;
    cf_job_t *job = tx_job(), *job2;
    cf_error_t *err = NULL;
    uint8_t *buf;
    size_t len;
    char *plan;
    cf_stream_t *s, *r;
    (void)st;

    ops.invoke = NULL;
    check_sink_error(ops, "Two-phase-commit sink 'Sink: tx' has no invoke() "
                          "function");
    ops = tx_ops;
    ops.pre_commit = NULL;
    check_sink_error(ops, "Two-phase-commit sink 'Sink: tx' has no "
                          "pre_commit() function");
    ops = tx_ops;
    ops.commit = NULL;
    check_sink_error(ops, "Two-phase-commit sink 'Sink: tx' has no commit() "
                          "function");
    /* An ops struct of a smaller size: the missing fields stay NULL. */
    ops = tx_ops;
    ops.size = offsetof(cf_2pc_sink_ops_t, commit);
    check_sink_error(ops, "Two-phase-commit sink 'Sink: tx' has no commit() "
                          "function");

    /* Naming, plan, and nothing may follow a sink. */
    assert_int_equal(job->nvertices, 1);
    assert_string_equal(job->vertices[0].name, "Source: src -> Sink: tx");
    plan = cf_job_plan_json(job, 0);
    assert_non_null(strstr(plan, "Source: src -&gt; Sink: tx"));
    cf_free(plan);
    /* Protobuf round trip binds the 2PC kind. */
    assert_int_equal(cf_job_encode(job, &buf, &len), 0);
    job2 = tx_job();
    assert_int_equal(cf_job_decode(job2, buf, len, &err), 0);
    assert_int_equal(
        cf_env_node(job2->env, job2->vertices[0].ops[1].node)->kind,
        CF_OP_SINK_2PC);
    free(buf);
    job_free(job2);
    job_free(job);

    job = job_new(1);
    s = cf_b_env_add_source(job->env, "src", &src_ops, NULL);
    r = cf_b_sink_2pc(s, NULL, &tx_ops, NULL);
    assert_string_equal(cf_env_node(job->env, 2)->name, "Sink: Unnamed");
    cf_b_map(r, "m", id_map, NULL);
    assert_non_null(job->env->error);
    assert_non_null(strstr(job->env->error, "cannot be applied to a sink"));
    job_free(job);
}

/* ------------------------------------------------------------------ */
/* Hooks: ABI 1.0 (short struct) and 1.1                               */
/* ------------------------------------------------------------------ */

static int hook_snapshots, hook_completes, hook_aborts;
static int64_t hook_last;

static int
hook_snapshot(cf_ctx_t *ctx, int64_t id)
{
    cf_state_t *pos = cf_op_state_list(ctx, "pos", CF_OPSTATE_SPLIT);
    assert_non_null(pos);
    cf_state_clear(pos);
    assert_int_equal(cf_list_add(pos, &id, sizeof id), 0);
    hook_snapshots++;
    hook_last = id;
    return CF_OK;
}

static void
hook_complete(cf_ctx_t *ctx, int64_t id)
{
    (void)ctx;
    hook_completes++;
    hook_last = id;
}

static void
hook_aborted(cf_ctx_t *ctx, int64_t id)
{
    (void)ctx;
    hook_aborts++;
    hook_last = id;
}

static int
hook_fail(cf_ctx_t *ctx, int64_t id)
{
    (void)ctx;
    (void)id;
    return -9;
}

static cf_job_t *
hooks_job(const cf_hooks_t *hooks)
{
    cf_job_t *job = job_new(1);
    cf_error_t *err = NULL;
    cf_stream_t *s = cf_b_env_add_source(job->env, "src", &src_ops, NULL);
    cf_b_set_hooks(s, hooks);
    assert_int_equal(cf_jobgraph_build(job, &err), 0);
    return job;
}

static void
test_hooks(void **st)
{
    cf_hooks_t h = {sizeof h,      NULL,          NULL,        NULL,
                    hook_snapshot, hook_complete, hook_aborted};
    cf_job_t *job;
    cf_task_t *t;
    cf_state_handle_t hd = {0};
    cf_op_snap_t *s;
    (void)st;

    tmpdir_make();
    /* ABI 1.1: every hook runs, operator state written by the snapshot
     * hook is in the checkpoint. */
    hook_snapshots = hook_completes = hook_aborts = 0;
    job = hooks_job(&h);
    t = cf_task_new(NULL, job, 0, 0, 0, 0, -1);
    assert_int_equal(snapshot(&t->ctxs[0], 11, &hd), 1);
    assert_int_equal(hook_snapshots, 1);
    assert_true(hd.has_operator);
    assert_int_equal(cf_op_notify_complete(&t->ctxs[0], 11), 0);
    assert_int_equal(hook_completes, 1);
    cf_op_notify_aborted(&t->ctxs[0], 12);
    assert_int_equal(hook_aborts, 1);
    assert_int_equal(hook_last, 12);
    task_free(t);
    t = cf_task_new(NULL, job, 0, 0, 1, 0, -1);
    {
        cf_op_restore_t r = {t->ctxs[0].node->op_id, 1, &hd, 1, 0};
        cf_error_t *err = NULL;
        cf_list_iter_t it;
        cf_slice_t item;
        int64_t v;
        assert_int_equal(cf_op_restore(&t->ctxs[0], &r, 0, 1, &err), 0);
        assert_int_equal(cf_task_is_restored(&t->ctxs[0]), 1);
        cf_state_t *pos =
            cf_task_op_state_list(&t->ctxs[0], "pos", CF_OPSTATE_SPLIT);
        assert_int_equal(cf_kstate_list_iter(pos, &it), 0);
        assert_int_equal(cf_kstate_list_next(&it, &item), 1);
        assert_int_equal(item.len, 8);
        memcpy(&v, item.data, 8);
        assert_int_equal(v, 11);
        assert_int_equal(cf_kstate_list_next(&it, &item), 0);
    }
    task_free(t);
    cf_free(hd.path);
    job_free(job);

    /* ABI 1.0: the struct ends before snapshot; whatever follows it in
     * the plugin's memory is never called. */
    h.size = offsetof(cf_hooks_t, snapshot);
    hook_snapshots = hook_completes = hook_aborts = 0;
    job = hooks_job(&h);
    assert_null(cf_env_node(job->env, 1)->hooks.snapshot);
    t = cf_task_new(NULL, job, 0, 0, 0, 0, -1);
    assert_int_equal(cf_op_snapshot_sync(&t->ctxs[0], 1, &s), 0);
    assert_null(s); /* no state at all */
    assert_int_equal(cf_op_notify_complete(&t->ctxs[0], 1), 0);
    cf_op_notify_aborted(&t->ctxs[0], 2);
    assert_int_equal(hook_snapshots + hook_completes + hook_aborts, 0);
    task_free(t);
    job_free(job);

    /* A failing snapshot hook fails, naming the operator. */
    h.size = sizeof h;
    h.snapshot = hook_fail;
    job = hooks_job(&h);
    t = cf_task_new(NULL, job, 0, 0, 0, 0, -1);
    assert_int_equal(cf_op_snapshot_sync(&t->ctxs[0], 1, &s), -9);
    assert_null(s);
    assert_string_equal(t->failure,
                        "snapshot of operator 'Source: src' failed (code -9)");
    task_free(t);
    job_free(job);
    tmpdir_remove();
}

/* ------------------------------------------------------------------ */
/* A plugin compiled for ABI 1.0                                       */
/* ------------------------------------------------------------------ */

static void
test_abi10_plugin(void **st)
{
    char exe[512], path[600];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    cf_plugin_lib_t *lib = NULL;
    cf_error_t *err = NULL;
    cf_job_t *job = NULL;
    cf_local_result_t res = {0};
    cf_job_opts_t opts = {0};
    cf_config_t *cfg;
    volatile sig_atomic_t cancel = 0;
    (void)st;

    assert_true(n > 0);
    exe[n] = '\0';
    *strrchr(exe, '/') = '\0';
    snprintf(path, sizeof path, "%s/plugins/tp_abi10.so", exe);
    if (access(path, R_OK) != 0)
        skip();
    if (cf_plugin_open(path, &lib, &err) < 0)
        fail_msg("%s", cf_error_msg(err));
    opts.parallelism = 2;
    cfg = cf_config_new();
    if (cf_job_build(lib, cfg, &opts, &job, &err) < 0)
        fail_msg("%s", cf_error_msg(err));
    /* Its hooks structs ended before snapshot (the built-in source may
     * have hooks of its own). */
    for (int i = 1, seen = 0; i <= job->env->nnodes || seen != 2; i++) {
        cf_snode_t *nd = cf_env_node(job->env, i);
        assert_non_null(nd);
        if (strcmp(nd->name, "count") != 0 &&
            strcmp(nd->name, "keyed count") != 0)
            continue;
        seen++;
        assert_non_null(nd->hooks.open);
        assert_int_equal(nd->hooks.size, sizeof(cf_hooks_t));
        assert_null(nd->hooks.snapshot);
        assert_null(nd->hooks.notify_complete);
        assert_null(nd->hooks.notify_aborted);
    }
    if (cf_job_run_local(job, &cancel, &res, &err) < 0)
        fail_msg("%s", cf_error_msg(err));
    if (res.status != CF_JOB_FINISHED)
        fail_msg("status %d: %s", (int)res.status,
                 res.failure ? res.failure : "");
    free(res.failure);
    cf_job_destroy(job);
    cf_config_destroy(cfg);
    cf_plugin_close(lib);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_restore_same_parallelism),
        cmocka_unit_test(test_restore_rescaled),
        cmocka_unit_test(test_api_errors),
        cmocka_unit_test(test_restore_corrupt),
        cmocka_unit_test(test_2pc),
        cmocka_unit_test(test_2pc_rescaled_and_invoke_failure),
        cmocka_unit_test(test_builder),
        cmocka_unit_test(test_hooks),
        cmocka_unit_test(test_abi10_plugin),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
