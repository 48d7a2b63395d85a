/*
 * test_connectors_ops.c: the built-in connectors driven through their
 * operator functions by a mock host: a function table that records what
 * the constructors build (env_add_source, stream_sink, parallelism) and a
 * context per parallel instance that collects emitted records.
 */
/* cflink.h first: cmocka.h defines a fail() macro that would rewrite the
 * host table's fail member in cflink.h's inline wrappers. */
#include "connectors_int.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

/* ------------------------------------------------------------------ */
/* The mock host                                                       */
/* ------------------------------------------------------------------ */

typedef struct mock_op_s {
    char name[64];
    const cf_source_ops_t *src;
    const cf_sink_ops_t *sink;
    const cf_2pc_sink_ops_t *sink2pc;
    cf_hooks_t hooks; /* set with cf_stream_hooks */
    int has_hooks;
    void *udata;
    int parallelism; /* 0: the default */
} mock_op_t;

/* Operator list state of the mock: items in memory. */
typedef struct item_s {
    uint8_t *data;
    uint32_t len;
} item_t;

struct cf_state_s {
    const cf_host_api_t *api;
    char name[64];
    int mode;
    int registered;
    item_t *items;
    size_t n;
    size_t cap;
};

#define MOCK_OPSTATES 4

struct cf_env_s {
    const cf_host_api_t *api;
    int failed;
    char msg[512];
    mock_op_t ops[8];
    int nops;
};

struct cf_stream_s {
    const cf_host_api_t *api;
    cf_env_t *env;
    int op;
};

typedef struct rec_s {
    char *data;
    uint32_t len;
    int64_t ts;
} rec_t;

struct cf_ctx_s {
    const cf_host_api_t *api;
    void *udata;
    void *local;
    int index;
    int parallelism;
    rec_t *recs;
    size_t n;
    size_t cap;
    int failed;
    char msg[512];
    void *scratch;
    int restored;
    cf_state_t opst[MOCK_OPSTATES]; /* by name; preloaded on restore */
    int nopst;
};

static cf_host_api_t host;
static cf_stream_t streams[16];
static int nstreams;

static cf_stream_t *
new_stream(cf_env_t *env, int op)
{
    cf_stream_t *s;
    assert_true(nstreams < 16);
    s = &streams[nstreams++];
    s->api = &host;
    s->env = env;
    s->op = op;
    return s;
}

static int
m_env_fail(cf_env_t *env, const char *fmt, va_list ap)
{
    if (!env->failed)
        vsnprintf(env->msg, sizeof(env->msg), fmt, ap);
    env->failed = 1;
    return CF_ERR;
}

static cf_stream_t *
m_add_source(cf_env_t *env, const char *name, const cf_source_ops_t *ops,
             void *udata)
{
    mock_op_t *op = &env->ops[env->nops];
    assert_true(env->nops < 8);
    assert_int_equal(ops->size, sizeof(cf_source_ops_t));
    snprintf(op->name, sizeof(op->name), "%s", name);
    op->src = ops;
    op->udata = udata;
    return new_stream(env, env->nops++);
}

static cf_stream_t *
m_sink(cf_stream_t *s, const char *name, const cf_sink_ops_t *ops, void *udata)
{
    cf_env_t *env = s->env;
    mock_op_t *op = &env->ops[env->nops];
    assert_int_equal(ops->size, sizeof(cf_sink_ops_t));
    snprintf(op->name, sizeof(op->name), "%s", name);
    op->sink = ops;
    op->udata = udata;
    return new_stream(env, env->nops++);
}

static cf_stream_t *
m_set_parallelism(cf_stream_t *s, int p)
{
    s->env->ops[s->op].parallelism = p;
    return s;
}

static int
m_emit(cf_ctx_t *ctx, const void *data, uint32_t len, int64_t ts)
{
    rec_t *r;
    if (ctx->n == ctx->cap) {
        ctx->cap = ctx->cap ? ctx->cap * 2 : 64;
        ctx->recs = realloc(ctx->recs, ctx->cap * sizeof(*ctx->recs));
    }
    r = &ctx->recs[ctx->n++];
    r->data = malloc(len ? len : 1);
    memcpy(r->data, data, len);
    r->len = len;
    r->ts = ts;
    return CF_OK;
}

static int
m_fail(cf_ctx_t *ctx, const char *fmt, va_list ap)
{
    if (!ctx->failed)
        vsnprintf(ctx->msg, sizeof(ctx->msg), fmt, ap);
    ctx->failed = 1;
    return CF_ERR;
}

static void *
m_udata(cf_ctx_t *ctx)
{
    return ctx->udata;
}

static void *
m_local(cf_ctx_t *ctx)
{
    return ctx->local;
}

static void
m_set_local(cf_ctx_t *ctx, void *local)
{
    ctx->local = local;
}

static int
m_subtask_index(cf_ctx_t *ctx)
{
    return ctx->index;
}

static int
m_parallelism(cf_ctx_t *ctx)
{
    return ctx->parallelism;
}

static void *
m_scratch(cf_ctx_t *ctx, uint32_t size)
{
    ctx->scratch = realloc(ctx->scratch, size);
    return ctx->scratch;
}

static cf_stream_t *
m_sink_2pc(cf_stream_t *s, const char *name, const cf_2pc_sink_ops_t *ops,
           void *udata)
{
    cf_env_t *env = s->env;
    mock_op_t *op = &env->ops[env->nops];
    assert_int_equal(ops->size, sizeof(cf_2pc_sink_ops_t));
    snprintf(op->name, sizeof(op->name), "%s", name);
    op->sink2pc = ops;
    op->udata = udata;
    return new_stream(env, env->nops++);
}

static cf_stream_t *
m_set_hooks(cf_stream_t *s, const cf_hooks_t *hooks)
{
    mock_op_t *op = &s->env->ops[s->op];
    assert_int_equal(hooks->size, sizeof(cf_hooks_t));
    op->hooks = *hooks;
    op->has_hooks = 1;
    return s;
}

static void
m_log(cf_ctx_t *ctx, int level, const char *fmt, va_list ap)
{
    (void)ctx;
    (void)level;
    (void)fmt;
    (void)ap;
}

static int
m_buf_reserve(cf_ctx_t *ctx, cf_buf_t *buf, uint32_t cap)
{
    (void)ctx;
    if (buf->cap < cap) {
        buf->data = realloc(buf->data, cap);
        buf->cap = cap;
    }
    return CF_OK;
}

static int
m_is_restored(cf_ctx_t *ctx)
{
    return ctx->restored;
}

static cf_state_t *
opst_find(cf_ctx_t *ctx, const char *name)
{
    int i;
    for (i = 0; i < ctx->nopst; i++)
        if (strcmp(ctx->opst[i].name, name) == 0)
            return &ctx->opst[i];
    assert_true(ctx->nopst < MOCK_OPSTATES);
    memset(&ctx->opst[i], 0, sizeof(ctx->opst[i]));
    ctx->opst[i].api = &host;
    snprintf(ctx->opst[i].name, sizeof(ctx->opst[i].name), "%s", name);
    ctx->nopst++;
    return &ctx->opst[i];
}

static cf_state_t *
m_op_state_list(cf_ctx_t *ctx, const char *name, int mode)
{
    cf_state_t *st = opst_find(ctx, name);
    assert_false(st->registered); /* once per name */
    st->registered = 1;
    st->mode = mode;
    return st;
}

static void
opst_add(cf_state_t *st, const void *data, uint32_t len)
{
    if (st->n == st->cap) {
        st->cap = st->cap ? st->cap * 2 : 8;
        st->items = realloc(st->items, st->cap * sizeof(*st->items));
    }
    st->items[st->n].data = malloc(len ? len : 1);
    memcpy(st->items[st->n].data, data, len);
    st->items[st->n].len = len;
    st->n++;
}

static int
m_list_add(cf_state_t *st, const void *data, uint32_t len)
{
    opst_add(st, data, len);
    return CF_OK;
}

static int
m_state_clear(cf_state_t *st)
{
    size_t i;
    for (i = 0; i < st->n; i++)
        free(st->items[i].data);
    st->n = 0;
    return CF_OK;
}

static int
m_list_iter(cf_state_t *st, cf_list_iter_t *it)
{
    it->p[0] = st;
    it->p[1] = (const void *)(uintptr_t)0;
    return CF_OK;
}

static int
m_list_next(cf_list_iter_t *it, cf_slice_t *item)
{
    const cf_state_t *st = it->p[0];
    size_t i = (size_t)(uintptr_t)it->p[1];
    if (i >= st->n)
        return 0;
    item->data = st->items[i].data;
    item->len = st->items[i].len;
    it->p[1] = (const void *)(uintptr_t)(i + 1);
    return 1;
}

static void
opst_free_all(cf_ctx_t *ctx)
{
    int i;
    for (i = 0; i < ctx->nopst; i++) {
        m_state_clear(&ctx->opst[i]);
        free(ctx->opst[i].items);
    }
    ctx->nopst = 0;
}

static void
env_init(cf_env_t *env)
{
    memset(&host, 0, sizeof(host));
    host.size = sizeof(host);
    host.major = CF_ABI_MAJOR;
    host.minor = CF_ABI_MINOR;
    host.env_fail = m_env_fail;
    host.env_add_source = m_add_source;
    host.stream_sink = m_sink;
    host.stream_set_parallelism = m_set_parallelism;
    host.emit = m_emit;
    host.ctx_fail = m_fail;
    host.udata = m_udata;
    host.local = m_local;
    host.set_local = m_set_local;
    host.subtask_index = m_subtask_index;
    host.parallelism = m_parallelism;
    host.scratch = m_scratch;
    host.stream_sink_2pc = m_sink_2pc;
    host.stream_set_hooks = m_set_hooks;
    host.log = m_log;
    host.buf_reserve = m_buf_reserve;
    host.is_restored = m_is_restored;
    host.op_state_list = m_op_state_list;
    host.list_add = m_list_add;
    host.list_iter = m_list_iter;
    host.list_next = m_list_next;
    host.state_clear = m_state_clear;
    memset(env, 0, sizeof(*env));
    env->api = &host;
    nstreams = 0;
}

static void
ctx_init(cf_ctx_t *ctx, const mock_op_t *op, int index, int parallelism)
{
    memset(ctx, 0, sizeof(*ctx));
    ctx->api = &host;
    ctx->udata = op->udata;
    ctx->index = index;
    ctx->parallelism = parallelism;
}

static void
ctx_deinit(cf_ctx_t *ctx)
{
    size_t i;
    assert_null(ctx->local); /* close freed and cleared it */
    for (i = 0; i < ctx->n; i++)
        free(ctx->recs[i].data);
    free(ctx->recs);
    free(ctx->scratch);
    opst_free_all(ctx);
    memset(ctx, 0, sizeof(*ctx));
}

/* Run instance index of a source to its end; returns the last next()
 * result (CF_SOURCE_END, or negative). */
static int
run_source(cf_ctx_t *ctx, const mock_op_t *op, int index, int parallelism)
{
    int rc, calls = 0;
    ctx_init(ctx, op, index, parallelism);
    rc = op->src->open(ctx);
    if (rc == CF_OK) {
        do {
            rc = op->src->next(ctx);
            assert_true(++calls < 1000000);
        } while (rc == CF_SOURCE_MORE || rc == CF_SOURCE_IDLE);
    }
    op->src->close(ctx);
    return rc;
}

static int
teardown(void **state)
{
    (void)state;
    cf_conn_free_all();
    return 0;
}

static int64_t
rec_i64(const rec_t *r)
{
    int64_t v;
    assert_int_equal(r->len, 8);
    memcpy(&v, r->data, 8);
    return v;
}

/* ------------------------------------------------------------------ */
/* fromSequence                                                        */
/* ------------------------------------------------------------------ */

static void
test_sequence(void **state)
{
    cf_env_t env;
    cf_ctx_t ctx;
    int64_t expect = -3;
    int i;
    size_t k;
    (void)state;

    env_init(&env);
    cf_conn_from_sequence(&env, -3, 6);
    assert_false(env.failed);
    assert_string_equal(env.ops[0].name, "Sequence Source");
    /* 10 numbers over 3 instances: -3..0, 1..3, 4..6. */
    for (i = 0; i < 3; i++) {
        assert_int_equal(run_source(&ctx, &env.ops[0], i, 3), CF_SOURCE_END);
        assert_int_equal(ctx.n, i == 0 ? 4 : 3);
        for (k = 0; k < ctx.n; k++) {
            assert_true(rec_i64(&ctx.recs[k]) == expect++);
            assert_true(ctx.recs[k].ts == CF_NO_TIMESTAMP);
        }
        ctx_deinit(&ctx);
    }
    assert_true(expect == 7);

    /* More instances than numbers. */
    assert_int_equal(run_source(&ctx, &env.ops[0], 11, 12), CF_SOURCE_END);
    assert_int_equal(ctx.n, 0);
    ctx_deinit(&ctx);
}

static void
test_sequence_batches(void **state)
{
    cf_env_t env;
    cf_ctx_t ctx;
    const mock_op_t *op;
    (void)state;

    env_init(&env);
    cf_conn_from_sequence(&env, INT64_MAX - 9999, INT64_MAX);
    op = &env.ops[0];
    ctx_init(&ctx, op, 0, 1);
    assert_int_equal(op->src->open(&ctx), CF_OK);
    assert_int_equal(op->src->next(&ctx), CF_SOURCE_MORE);
    assert_int_equal(ctx.n, 4096);
    assert_int_equal(op->src->next(&ctx), CF_SOURCE_MORE);
    assert_int_equal(op->src->next(&ctx), CF_SOURCE_END);
    assert_int_equal(ctx.n, 10000);
    assert_true(rec_i64(&ctx.recs[9999]) == INT64_MAX);
    assert_int_equal(op->src->next(&ctx), CF_SOURCE_END);
    op->src->close(&ctx);
    ctx_deinit(&ctx);

    /* The single value INT64_MIN. */
    env_init(&env);
    cf_conn_from_sequence(&env, INT64_MIN, INT64_MIN);
    assert_int_equal(run_source(&ctx, &env.ops[0], 0, 1), CF_SOURCE_END);
    assert_int_equal(ctx.n, 1);
    assert_true(rec_i64(&ctx.recs[0]) == INT64_MIN);
    ctx_deinit(&ctx);
}

static void
test_sequence_bad(void **state)
{
    cf_env_t env;
    cf_ctx_t ctx;
    (void)state;

    env_init(&env);
    assert_non_null(cf_conn_from_sequence(&env, 5, 4));
    assert_true(env.failed);
    assert_string_equal(env.msg, "fromSequence: from (5) must not be greater "
                                 "than to (4)");
    assert_int_equal(run_source(&ctx, &env.ops[0], 0, 1), CF_SOURCE_END);
    assert_int_equal(ctx.n, 0);
    ctx_deinit(&ctx);
}

/* ------------------------------------------------------------------ */
/* DataGeneratorSource                                                 */
/* ------------------------------------------------------------------ */

static int gen_user_data = 42;

static int
gen_fn(cf_ctx_t *ctx, uint64_t index)
{
    uint64_t rec[2];
    int *calls;
    /* gen sees its own udata and local slot. */
    assert_ptr_equal(cf_ctx_udata(ctx), &gen_user_data);
    calls = cf_ctx_local(ctx);
    if (!calls) {
        static int slots[4];
        calls = &slots[cf_ctx_subtask_index(ctx)];
        *calls = 0;
        cf_ctx_set_local(ctx, calls);
    }
    (*calls)++;
    rec[0] = index;
    rec[1] = (uint64_t)*calls;
    return cf_emit(ctx, rec, sizeof(rec), (int64_t)index * 1000);
}

static void
test_datagen(void **state)
{
    cf_env_t env;
    cf_ctx_t ctx;
    uint64_t expect = 0, rec[2];
    int i;
    size_t k;
    (void)state;

    env_init(&env);
    cf_conn_datagen(&env, NULL, gen_fn, &gen_user_data, 11, 0);
    assert_false(env.failed);
    assert_string_equal(env.ops[0].name, "DataGeneratorSource");
    for (i = 0; i < 4; i++) {
        assert_int_equal(run_source(&ctx, &env.ops[0], i, 4), CF_SOURCE_END);
        assert_int_equal(ctx.n, i < 3 ? 3 : 2);
        for (k = 0; k < ctx.n; k++) {
            memcpy(rec, ctx.recs[k].data, sizeof(rec));
            assert_true(rec[0] == expect);
            assert_true(rec[1] == k + 1); /* gen's local counter */
            assert_true(ctx.recs[k].ts == (int64_t)expect * 1000);
            expect++;
        }
        ctx_deinit(&ctx);
    }
    assert_true(expect == 11);

    env_init(&env);
    cf_conn_datagen(&env, "empty", gen_fn, &gen_user_data, 0, 0);
    assert_string_equal(env.ops[0].name, "empty");
    assert_int_equal(run_source(&ctx, &env.ops[0], 0, 1), CF_SOURCE_END);
    assert_int_equal(ctx.n, 0);
    ctx_deinit(&ctx);
}

static int
gen_fail_fn(cf_ctx_t *ctx, uint64_t index)
{
    if (index == 3)
        return cf_fail(ctx, "bad index %llu", (unsigned long long)index);
    return cf_emit(ctx, "x", 1, CF_NO_TIMESTAMP);
}

static void
test_datagen_fail(void **state)
{
    cf_env_t env;
    cf_ctx_t ctx;
    (void)state;

    env_init(&env);
    cf_conn_datagen(&env, "g", gen_fail_fn, NULL, UINT64_MAX, 0);
    assert_int_equal(run_source(&ctx, &env.ops[0], 0, 1), CF_ERR);
    assert_int_equal(ctx.n, 3);
    assert_true(ctx.failed);
    assert_string_equal(ctx.msg, "bad index 3"); /* reached the real ctx */
    ctx_deinit(&ctx);

    env_init(&env);
    cf_conn_datagen(&env, "g", NULL, NULL, 1, 0);
    assert_true(env.failed);
    env_init(&env);
    cf_conn_datagen(&env, "g", gen_fail_fn, NULL, 1, -1);
    assert_true(env.failed);
}

static uint64_t
now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void
test_datagen_rate(void **state)
{
    cf_env_t env;
    cf_ctx_t ctx;
    const mock_op_t *op;
    uint64_t t0, dt;
    int rc, idle = 0;
    (void)state;

    /* 200 a second over 2 instances: 100 a second each; 21 records take
     * 0.2 s (the first is immediate). */
    env_init(&env);
    cf_conn_datagen(&env, "rated", gen_fn, &gen_user_data, 42, 200);
    op = &env.ops[0];
    ctx_init(&ctx, op, 1, 2);
    assert_int_equal(op->src->open(&ctx), CF_OK);
    t0 = now_ns();
    do {
        rc = op->src->next(&ctx);
        if (rc == CF_SOURCE_IDLE) {
            struct timespec ms = {0, 1000000};
            idle++;
            nanosleep(&ms, NULL);
        }
    } while (rc == CF_SOURCE_MORE || rc == CF_SOURCE_IDLE);
    dt = now_ns() - t0;
    assert_int_equal(rc, CF_SOURCE_END);
    assert_int_equal(ctx.n, 21);
    assert_true(idle > 0);
    assert_true(dt >= 190000000u);
    assert_true(dt < 2000000000u);
    op->src->close(&ctx);
    ctx_deinit(&ctx);
}

/* ------------------------------------------------------------------ */
/* Text files                                                          */
/* ------------------------------------------------------------------ */

static void
write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
}

static void
rm_rf(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void
assert_rec(const rec_t *r, const char *s)
{
    assert_int_equal(r->len, strlen(s));
    assert_memory_equal(r->data, s, r->len);
    assert_true(r->ts == CF_NO_TIMESTAMP);
}

static void
test_text_file(void **state)
{
    char dir[] = "/tmp/cf-conn-file-XXXXXX";
    char p[512];
    cf_env_t env;
    cf_ctx_t ctx;
    size_t big = 200000;
    char *text;
    (void)state;

    assert_non_null(mkdtemp(dir));
    snprintf(p, sizeof(p), "%s/a.txt", dir);
    write_file(p, "one\r\n\ntwo\nthree", 15);
    snprintf(p, sizeof(p), "%s/b.txt", dir);
    write_file(p, "", 0);
    snprintf(p, sizeof(p), "%s/c.txt", dir);
    text = malloc(big + 4);
    memset(text, 'q', big);
    memcpy(text + big, "\nz\n", 3);
    write_file(p, text, big + 3);
    snprintf(p, sizeof(p), "%s/.hidden", dir);
    write_file(p, "hidden\n", 7);
    snprintf(p, sizeof(p), "%s/_tmp", dir);
    write_file(p, "tmp\n", 4);

    /* A single file: read by instance 0 only. */
    env_init(&env);
    snprintf(p, sizeof(p), "%s/a.txt", dir);
    cf_conn_read_text_file(&env, p);
    assert_false(env.failed);
    assert_string_equal(env.ops[0].name, "file-input");
    assert_int_equal(run_source(&ctx, &env.ops[0], 0, 2), CF_SOURCE_END);
    assert_int_equal(ctx.n, 4);
    assert_rec(&ctx.recs[0], "one");
    assert_rec(&ctx.recs[1], "");
    assert_rec(&ctx.recs[2], "two");
    assert_rec(&ctx.recs[3], "three");
    ctx_deinit(&ctx);
    assert_int_equal(run_source(&ctx, &env.ops[0], 1, 2), CF_SOURCE_END);
    assert_int_equal(ctx.n, 0);
    ctx_deinit(&ctx);

    /* A directory over 2 instances: a.txt and c.txt to 0, b.txt to 1. */
    env_init(&env);
    cf_conn_read_text_file(&env, dir);
    assert_false(env.failed);
    assert_int_equal(run_source(&ctx, &env.ops[0], 0, 2), CF_SOURCE_END);
    assert_int_equal(ctx.n, 6);
    assert_rec(&ctx.recs[3], "three");
    assert_int_equal(ctx.recs[4].len, big);
    assert_memory_equal(ctx.recs[4].data, text, big);
    assert_rec(&ctx.recs[5], "z");
    ctx_deinit(&ctx);
    assert_int_equal(run_source(&ctx, &env.ops[0], 1, 2), CF_SOURCE_END);
    assert_int_equal(ctx.n, 0);
    ctx_deinit(&ctx);

    /* The file vanished between build and run. */
    snprintf(p, sizeof(p), "%s/a.txt", dir);
    env_init(&env);
    cf_conn_read_text_file(&env, p);
    unlink(p);
    assert_int_equal(run_source(&ctx, &env.ops[0], 0, 1), CF_ERR);
    assert_true(ctx.failed);
    assert_non_null(strstr(ctx.msg, "a.txt' does not exist"));
    ctx_deinit(&ctx);

    /* Unreadable at run time (as a user other than root). */
    snprintf(p, sizeof(p), "%s/c.txt", dir);
    chmod(p, 0);
    if (access(p, R_OK) != 0) {
        env_init(&env);
        cf_conn_read_text_file(&env, p);
        assert_int_equal(run_source(&ctx, &env.ops[0], 0, 1), CF_ERR);
        assert_non_null(strstr(ctx.msg, "Could not open input file"));
        assert_non_null(strstr(ctx.msg, "Permission denied"));
        ctx_deinit(&ctx);
    }

    /* Missing at build time. */
    snprintf(p, sizeof(p), "%s/missing", dir);
    env_init(&env);
    assert_non_null(cf_conn_read_text_file(&env, p));
    assert_true(env.failed);
    snprintf(p, sizeof(p), "Input path '%s/missing' does not exist", dir);
    assert_string_equal(env.msg, p);

    free(text);
    rm_rf(dir);
}

/* ------------------------------------------------------------------ */
/* Socket text stream                                                  */
/* ------------------------------------------------------------------ */

static int
listen_local(int *port)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(fd, 4), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

/* Call next() until it returns something else than IDLE, at most 2 s. */
static int
next_busy(const mock_op_t *op, cf_ctx_t *ctx)
{
    int i, rc = CF_SOURCE_IDLE;
    for (i = 0; i < 100 && rc == CF_SOURCE_IDLE; i++)
        rc = op->src->next(ctx);
    return rc;
}

static void
test_socket(void **state)
{
    cf_env_t env;
    cf_ctx_t ctx;
    const mock_op_t *op;
    int lfd, cfd, port, rc;
    uint64_t t0;
    (void)state;

    lfd = listen_local(&port);
    env_init(&env);
    cf_conn_socket_text_stream(&env, "127.0.0.1", port);
    assert_false(env.failed);
    op = &env.ops[0];
    assert_string_equal(op->name, "Socket Stream");
    assert_int_equal(op->parallelism, 1);

    ctx_init(&ctx, op, 0, 1);
    assert_int_equal(op->src->open(&ctx), CF_OK);
    cfd = accept(lfd, NULL, NULL);
    assert_true(cfd >= 0);

    /* Nothing yet: IDLE after at most the poll timeout. */
    t0 = now_ns();
    assert_int_equal(op->src->next(&ctx), CF_SOURCE_IDLE);
    assert_true(now_ns() - t0 < 60000000u);

    assert_int_equal(write(cfd, "hello\nwor", 9), 9);
    assert_int_equal(next_busy(op, &ctx), CF_SOURCE_MORE);
    assert_int_equal(ctx.n, 1);
    assert_rec(&ctx.recs[0], "hello");
    assert_int_equal(write(cfd, "ld\r\n\npartial", 12), 12);
    assert_int_equal(next_busy(op, &ctx), CF_SOURCE_MORE);
    assert_int_equal(ctx.n, 3);
    assert_rec(&ctx.recs[1], "world");
    assert_rec(&ctx.recs[2], "");
    close(cfd);
    do {
        rc = next_busy(op, &ctx);
    } while (rc == CF_SOURCE_MORE);
    assert_int_equal(rc, CF_SOURCE_END);
    assert_int_equal(ctx.n, 4);
    assert_rec(&ctx.recs[3], "partial");
    op->src->close(&ctx);
    ctx_deinit(&ctx);

    /* Nobody listens any more. */
    close(lfd);
    assert_int_equal(run_source(&ctx, op, 0, 1), CF_ERR);
    {
        char expect[128];
        snprintf(expect, sizeof(expect),
                 "Could not connect to socket 127.0.0.1:%d: "
                 "Connection refused",
                 port);
        assert_string_equal(ctx.msg, expect);
    }
    ctx_deinit(&ctx);

    env_init(&env);
    cf_conn_socket_text_stream(&env, "localhost", 70000);
    assert_true(env.failed);
    assert_non_null(strstr(env.msg, "70000"));
}

/* ------------------------------------------------------------------ */
/* Sinks                                                               */
/* ------------------------------------------------------------------ */

static int
invoke(const mock_op_t *op, cf_ctx_t *ctx, const void *data, uint32_t len)
{
    cf_record_t r;
    r.data = data;
    r.len = len;
    r.ts = CF_NO_TIMESTAMP;
    return op->sink->invoke(ctx, &r);
}

static char *
read_all(const char *path, size_t *len)
{
    FILE *f = fopen(path, "r");
    char *buf;
    long n;
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static void
test_print(void **state)
{
    char path[] = "/tmp/cf-conn-print-XXXXXX";
    cf_env_t env;
    cf_stream_t *in;
    cf_ctx_t a, b, c;
    const mock_op_t *op;
    int fd, saved;
    size_t len, big = 40000;
    char *out, *bigrec, *expect;
    (void)state;

    env_init(&env);
    in = new_stream(&env, 0);
    cf_conn_print(in);
    op = &env.ops[0];
    assert_string_equal(op->name, "Print to Std. Out");

    fd = mkstemp(path);
    assert_true(fd >= 0);
    fflush(stdout);
    saved = dup(1);
    dup2(fd, 1);

    ctx_init(&a, op, 0, 2);
    ctx_init(&b, op, 1, 2);
    ctx_init(&c, op, 0, 1);
    assert_int_equal(op->sink->open(&a), CF_OK);
    assert_int_equal(op->sink->open(&b), CF_OK);
    assert_int_equal(op->sink->open(&c), CF_OK);
    assert_int_equal(invoke(op, &a, "(to,1)", 6), CF_OK);
    assert_int_equal(invoke(op, &b, "(be,1)", 6), CF_OK);
    assert_int_equal(invoke(op, &c, "", 0), CF_OK);
    bigrec = malloc(big);
    memset(bigrec, 'b', big);
    assert_int_equal(invoke(op, &b, bigrec, (uint32_t)big), CF_OK);
    assert_int_equal(op->sink->finish(&a), CF_OK);
    assert_int_equal(op->sink->finish(&b), CF_OK);
    op->sink->close(&a);
    op->sink->close(&b);
    op->sink->close(&c);

    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    close(fd);

    out = read_all(path, &len);
    expect = malloc(big + 64);
    memcpy(expect, "1> (to,1)\n2> (be,1)\n\n2> ", 24);
    memcpy(expect + 24, bigrec, big);
    expect[24 + big] = '\n';
    assert_int_equal(len, big + 25);
    assert_memory_equal(out, expect, len);
    free(out);
    free(expect);
    free(bigrec);
    unlink(path);
    ctx_deinit(&a);
    ctx_deinit(&b);
    ctx_deinit(&c);
}

static void
test_discard(void **state)
{
    cf_env_t env;
    cf_ctx_t ctx;
    const mock_op_t *op;
    (void)state;

    env_init(&env);
    cf_conn_discard(new_stream(&env, 0));
    op = &env.ops[0];
    assert_string_equal(op->name, "Discard");
    assert_null(op->sink->open);
    assert_null(op->sink->finish);
    assert_null(op->sink->close);
    ctx_init(&ctx, op, 0, 1);
    assert_int_equal(invoke(op, &ctx, "x", 1), CF_OK);
    ctx_deinit(&ctx);
}

/* The one file in dir whose name starts with prefix (NULL: none). */
static char *
find_file(const char *dir, const char *prefix, const char *suffix)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char *found = NULL;
    assert_non_null(d);
    while ((de = readdir(d))) {
        size_t n = strlen(de->d_name), sl = strlen(suffix);
        if (strncmp(de->d_name, prefix, strlen(prefix)) == 0 && n >= sl &&
            strcmp(de->d_name + n - sl, suffix) == 0) {
            assert_null(found);
            found = malloc(strlen(dir) + n + 2);
            sprintf(found, "%s/%s", dir, de->d_name);
        }
    }
    closedir(d);
    return found;
}

/* The number of files in dir whose name starts with prefix. */
static int
count_files(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int n = 0;
    assert_non_null(d);
    while ((de = readdir(d)))
        if (strncmp(de->d_name, prefix, strlen(prefix)) == 0)
            n++;
    closedir(d);
    return n;
}

static int
invoke2(const mock_op_t *op, cf_ctx_t *ctx, const void *data, uint32_t len)
{
    cf_record_t r;
    r.data = data;
    r.len = len;
    r.ts = CF_NO_TIMESTAMP;
    return op->sink2pc->invoke(ctx, &r);
}

static void
test_write_text(void **state)
{
    char root[] = "/tmp/cf-conn-sink-XXXXXX";
    char dir[256], p[600];
    cf_env_t env;
    cf_ctx_t a, b;
    const mock_op_t *op;
    cf_buf_t ta = {NULL, 0, 0}, tb = {NULL, 0, 0};
    char *tmp0, *tmp1, *pend0, *part0, *part1, *data, *big, *expect;
    size_t len, nbig = 100000;
    (void)state;

    assert_non_null(mkdtemp(root));
    snprintf(dir, sizeof(dir), "%s/out/nested", root);
    env_init(&env);
    cf_conn_write_text(new_stream(&env, 0), dir);
    op = &env.ops[0];
    assert_string_equal(op->name, "File Sink");
    assert_null(op->sink);
    assert_non_null(op->sink2pc);
    assert_null(op->sink2pc->finish);

    ctx_init(&a, op, 0, 2);
    ctx_init(&b, op, 1, 2);
    assert_int_equal(op->sink2pc->open(&a), CF_OK);
    assert_int_equal(op->sink2pc->open(&b), CF_OK);
    /* Files are created with the first record. */
    assert_int_equal(count_files(dir, ".part-"), 0);

    big = malloc(nbig);
    memset(big, 'x', nbig);
    for (int i = 0; i < 10000; i++)
        assert_int_equal(invoke2(op, &a, "(hamlet,1)", 10), CF_OK);
    assert_int_equal(invoke2(op, &a, big, (uint32_t)nbig), CF_OK);
    assert_int_equal(invoke2(op, &a, "", 0), CF_OK);
    assert_int_equal(invoke2(op, &b, "only", 4), CF_OK);
    tmp0 = find_file(dir, ".part-", "-0-0.inprogress");
    tmp1 = find_file(dir, ".part-", "-1-0.inprogress");
    assert_non_null(tmp0);
    assert_non_null(tmp1);
    assert_int_equal(strlen(tmp0), strlen(dir) + 1 + 6 + 36 + 15);
    /* A uuid per instance (and per open). */
    assert_memory_not_equal(tmp0, tmp1, strlen(dir) + 1 + 6 + 36);

    /* Pre-commit: in-progress -> pending (hidden), the txn names it. */
    assert_int_equal(op->sink2pc->pre_commit(&a, 1, &ta), CF_OK);
    assert_true(ta.len > 0);
    assert_int_equal(access(tmp0, F_OK), -1);
    pend0 = find_file(dir, ".part-", "-0-0.pending");
    assert_non_null(pend0);
    assert_memory_equal(pend0, tmp0, strlen(dir) + 1 + 6 + 36);
    assert_null(find_file(dir, "part-", "-0-0"));
    assert_non_null(memmem(ta.data, ta.len, pend0, strlen(pend0)));

    /* Commit: pending -> final, visible. */
    assert_int_equal(op->sink2pc->commit(&a, ta.data, ta.len), CF_OK);
    assert_int_equal(access(pend0, F_OK), -1);
    part0 = find_file(dir, "part-", "-0-0");
    assert_non_null(part0);
    snprintf(p, sizeof(p), "%s/part-%.36s-0-0", dir,
             tmp0 + strlen(dir) + 1 + 6);
    assert_string_equal(part0, p);
    data = read_all(part0, &len);
    assert_int_equal(len, 10000 * 11 + nbig + 2);
    expect = malloc(len);
    for (int i = 0; i < 10000; i++)
        memcpy(expect + i * 11, "(hamlet,1)\n", 11);
    memcpy(expect + 110000, big, nbig);
    memcpy(expect + 110000 + nbig, "\n\n", 2);
    assert_memory_equal(data, expect, len);
    free(data);
    free(expect);

    /* Idempotent: again, and from another instance (after a restore). */
    assert_int_equal(op->sink2pc->commit(&a, ta.data, ta.len), CF_OK);
    assert_int_equal(op->sink2pc->commit(&b, ta.data, ta.len), CF_OK);
    assert_false(a.failed || b.failed);

    /* An empty transaction: no file, empty bytes, commit does nothing. */
    assert_int_equal(op->sink2pc->pre_commit(&a, 2, &ta), CF_OK);
    assert_int_equal(ta.len, 0);
    assert_int_equal(op->sink2pc->commit(&a, ta.data, 0), CF_OK);
    assert_int_equal(count_files(dir, "part-"), 1);

    /* The next transaction of a has n = 1. */
    assert_int_equal(invoke2(op, &a, "second", 6), CF_OK);
    assert_int_equal(op->sink2pc->pre_commit(&a, 3, &ta), CF_OK);
    assert_int_equal(op->sink2pc->commit(&a, ta.data, ta.len), CF_OK);
    part1 = find_file(dir, "part-", "-0-1");
    assert_non_null(part1);
    data = read_all(part1, &len);
    assert_int_equal(len, 7);
    assert_memory_equal(data, "second\n", 7);
    free(data);

    /* Both the pending and the final file gone: an error naming it. */
    unlink(part1);
    assert_int_equal(op->sink2pc->commit(&a, ta.data, ta.len), CF_ERR);
    assert_non_null(strstr(a.msg, "cannot commit part file"));
    assert_non_null(strstr(a.msg, part1 + strlen(dir) + 1));
    a.failed = 0;

    /* A corrupt transaction. */
    ta.data[0] = 'X';
    assert_int_equal(op->sink2pc->commit(&a, ta.data, ta.len), CF_ERR);
    assert_non_null(strstr(a.msg, "corrupt transaction"));
    a.failed = 0;
    assert_int_equal(op->sink2pc->commit(&a, ta.data, 5), CF_ERR);
    a.failed = 0;

    /* b: pre-committed, then aborted with its txn: the pending file goes;
     * a committed part file is never removed by abort. */
    assert_int_equal(op->sink2pc->pre_commit(&b, 1, &tb), CF_OK);
    assert_int_equal(count_files(dir, ".part-"), 1);
    free(tmp1);
    tmp1 = find_file(dir, ".part-", "-1-0.pending");
    assert_non_null(tmp1);
    op->sink2pc->abort(&b, tb.data, tb.len);
    assert_int_equal(count_files(dir, ".part-"), 0);
    assert_int_equal(op->sink2pc->commit(&b, tb.data, tb.len), CF_ERR);
    b.failed = 0;

    /* The open transaction aborted (no txn bytes): the in-progress file
     * goes; the next record starts part n + 1. */
    assert_int_equal(invoke2(op, &b, "lost", 4), CF_OK);
    assert_int_equal(count_files(dir, ".part-"), 1);
    op->sink2pc->abort(&b, NULL, 0);
    assert_int_equal(count_files(dir, ".part-"), 0);
    assert_int_equal(invoke2(op, &b, "kept", 4), CF_OK);
    free(tmp1);
    tmp1 = find_file(dir, ".part-", "-1-2.inprogress");
    assert_non_null(tmp1);

    /* Close without pre-commit (failure): the in-progress file goes. */
    op->sink2pc->close(&a);
    op->sink2pc->close(&b);
    assert_int_equal(count_files(dir, ".part-"), 0);
    assert_int_equal(count_files(dir, "part-"), 1); /* part0 */

    free(tmp0);
    free(tmp1);
    free(pend0);
    free(part0);
    free(part1);
    free(big);
    free(ta.data);
    free(tb.data);
    memset(&ta, 0, sizeof(ta));
    ctx_deinit(&a);
    ctx_deinit(&b);

    /* A batch job (no checkpointing): the runtime pre-commits and
     * commits at the end of the input: part-<uuid>-<i>-0 is the name. */
    rm_rf(dir);
    env_init(&env);
    cf_conn_write_text(new_stream(&env, 0), dir);
    op = &env.ops[0];
    ctx_init(&a, op, 3, 4);
    assert_int_equal(op->sink2pc->open(&a), CF_OK);
    assert_int_equal(invoke2(op, &a, "(to,2)", 6), CF_OK);
    assert_int_equal(op->sink2pc->pre_commit(&a, 0, &ta), CF_OK);
    assert_int_equal(op->sink2pc->commit(&a, ta.data, ta.len), CF_OK);
    op->sink2pc->close(&a);
    part0 = find_file(dir, "part-", "-3-0");
    assert_non_null(part0);
    assert_int_equal(strlen(part0), strlen(dir) + 1 + 5 + 36 + 4);
    assert_int_equal(count_files(dir, ".part-"), 0);
    free(part0);
    free(ta.data);
    ctx_deinit(&a);

    /* A file where the directory should be. */
    snprintf(p, sizeof(p), "%s/file", root);
    write_file(p, "x", 1);
    env_init(&env);
    cf_conn_write_text(new_stream(&env, 0), p);
    ctx_init(&a, &env.ops[0], 0, 1);
    assert_int_equal(env.ops[0].sink2pc->open(&a), CF_ERR);
    assert_non_null(strstr(a.msg, "Could not create output directory"));
    assert_non_null(strstr(a.msg, "Not a directory"));
    env.ops[0].sink2pc->close(&a);
    ctx_deinit(&a);

    rm_rf(root);
}

/* ------------------------------------------------------------------ */
/* Checkpointed positions of the sources                               */
/* ------------------------------------------------------------------ */

/* The items of one operator state over all instances of a checkpoint. */
typedef struct snap_s {
    item_t *items;
    size_t n;
    size_t cap;
} snap_t;

/* A checkpoint of instances ctxs[0..n): their snapshot hooks, then a copy
 * of the state name of each, in subtask order. */
static void
snap_take(snap_t *sn, const mock_op_t *op, cf_ctx_t *ctxs, int n,
          const char *name, int64_t id)
{
    int i;
    size_t k;
    memset(sn, 0, sizeof(*sn));
    assert_true(op->has_hooks);
    assert_non_null(op->hooks.snapshot);
    for (i = 0; i < n; i++) {
        cf_state_t *st;
        assert_int_equal(op->hooks.snapshot(&ctxs[i], id), CF_OK);
        st = opst_find(&ctxs[i], name);
        assert_true(st->registered);
        assert_int_equal(st->mode, CF_OPSTATE_SPLIT);
        for (k = 0; k < st->n; k++) {
            if (sn->n == sn->cap) {
                sn->cap = sn->cap ? sn->cap * 2 : 8;
                sn->items = realloc(sn->items, sn->cap * sizeof(item_t));
            }
            sn->items[sn->n].data = malloc(st->items[k].len);
            memcpy(sn->items[sn->n].data, st->items[k].data, st->items[k].len);
            sn->items[sn->n].len = st->items[k].len;
            sn->n++;
        }
    }
}

static void
snap_free(snap_t *sn)
{
    size_t k;
    for (k = 0; k < sn->n; k++)
        free(sn->items[k].data);
    free(sn->items);
    memset(sn, 0, sizeof(*sn));
}

/* A restored instance index of parallelism: the SPLIT share of sn's items
 * (round-robin, as the runtime's redistribution may do). */
static void
ctx_restore(cf_ctx_t *ctx, const mock_op_t *op, int index, int parallelism,
            const char *name, const snap_t *sn)
{
    cf_state_t *st;
    size_t k;
    ctx_init(ctx, op, index, parallelism);
    ctx->restored = 1;
    st = opst_find(ctx, name);
    for (k = (size_t)index; k < sn->n; k += (size_t)parallelism)
        opst_add(st, sn->items[k].data, sn->items[k].len);
}

/* Run an opened instance to its end (or error). */
static int
run_opened(const mock_op_t *op, cf_ctx_t *ctx)
{
    int rc, calls = 0;
    do {
        rc = op->src->next(ctx);
        assert_true(++calls < 1000000);
    } while (rc == CF_SOURCE_MORE || rc == CF_SOURCE_IDLE);
    return rc;
}

/* Count records [0, upto) (8-byte numbers, base..base+total-1) into
 * seen. */
static void
count_nums(const cf_ctx_t *ctx, size_t upto, int64_t base, int *seen,
           size_t total)
{
    size_t k;
    for (k = 0; k < upto; k++) {
        int64_t v = rec_i64(&ctx->recs[k]) - base;
        assert_true(v >= 0 && (size_t)v < total);
        seen[v]++;
    }
}

/* Checkpoint a number source at p=2 after one next() per instance, lose
 * what follows, restore at parallelism np: every number exactly once.
 * Returns the number of records the restored instances emitted. */
static size_t
number_source_restore(const mock_op_t *op, const char *name, int64_t base,
                      size_t total, int np)
{
    cf_ctx_t c[2], r[4];
    snap_t sn;
    int *seen = calloc(total, sizeof(int));
    size_t keep[2], k, restored = 0;
    int i;

    for (i = 0; i < 2; i++) {
        ctx_init(&c[i], op, i, 2);
        assert_int_equal(op->src->open(&c[i]), CF_OK);
        assert_int_equal(op->src->next(&c[i]), CF_SOURCE_MORE);
        keep[i] = c[i].n;
        assert_true(keep[i] > 0);
    }
    snap_take(&sn, op, c, 2, name, 7);
    assert_int_equal(sn.n, 2); /* one remaining range per instance */
    for (i = 0; i < 2; i++) {
        /* Emitted after the checkpoint, then the task fails: lost. */
        assert_true(op->src->next(&c[i]) >= 0);
        assert_true(c[i].n > keep[i]);
        count_nums(&c[i], keep[i], base, seen, total);
        op->src->close(&c[i]);
        ctx_deinit(&c[i]);
    }
    for (i = 0; i < np; i++) {
        ctx_restore(&r[i], op, i, np, name, &sn);
        assert_int_equal(op->src->open(&r[i]), CF_OK);
        assert_int_equal(run_opened(op, &r[i]), CF_SOURCE_END);
        count_nums(&r[i], r[i].n, base, seen, total);
        restored += r[i].n;
    }
    for (k = 0; k < total; k++)
        if (seen[k] != 1)
            fail_msg("number %zu seen %d times (np %d)", k, seen[k], np);
    /* A checkpoint of the finished instances holds no position: restored
     * from it, they emit nothing. */
    {
        snap_t done;
        cf_ctx_t z;
        snap_take(&done, op, r, np, name, 8);
        assert_int_equal(done.n, 0);
        ctx_restore(&z, op, 0, 1, name, &done);
        assert_int_equal(op->src->open(&z), CF_OK);
        assert_int_equal(run_opened(op, &z), CF_SOURCE_END);
        assert_int_equal(z.n, 0);
        op->src->close(&z);
        ctx_deinit(&z);
        snap_free(&done);
    }
    for (i = 0; i < np; i++) {
        op->src->close(&r[i]);
        ctx_deinit(&r[i]);
    }
    snap_free(&sn);
    free(seen);
    return restored;
}

static void
test_sequence_restore(void **state)
{
    cf_env_t env;
    cf_ctx_t ctx;
    snap_t sn;
    uint8_t item[CF_CONN_RANGE_ITEM];
    int np;
    (void)state;

    for (np = 1; np <= 3; np++) {
        env_init(&env);
        cf_conn_from_sequence(&env, 100, 10099);
        number_source_restore(&env.ops[0], "sequence-positions", 100, 10000,
                              np);
    }

    /* Positions outside the sequence (another job's state): an error. */
    env_init(&env);
    cf_conn_from_sequence(&env, 100, 10099);
    memset(&sn, 0, sizeof(sn));
    sn.items = calloc(1, sizeof(item_t));
    sn.n = sn.cap = 1;
    cf_conn_range_encode(item, 5, 7);
    sn.items[0].data = malloc(sizeof(item));
    memcpy(sn.items[0].data, item, sizeof(item));
    sn.items[0].len = sizeof(item);
    ctx_restore(&ctx, &env.ops[0], 0, 1, "sequence-positions", &sn);
    assert_int_equal(env.ops[0].src->open(&ctx), CF_ERR);
    assert_non_null(strstr(ctx.msg, "Sequence Source: restored position 0"));
    env.ops[0].src->close(&ctx);
    ctx_deinit(&ctx);
    /* A corrupt item. */
    sn.items[0].len = 9;
    ctx_restore(&ctx, &env.ops[0], 0, 1, "sequence-positions", &sn);
    assert_int_equal(env.ops[0].src->open(&ctx), CF_ERR);
    assert_non_null(strstr(ctx.msg, "corrupt"));
    env.ops[0].src->close(&ctx);
    ctx_deinit(&ctx);
    snap_free(&sn);

    /* A host without operator state (ABI 1.0): no state, still works. */
    env_init(&env);
    host.size = (uint32_t)offsetof(cf_host_api_t, stream_sink_2pc);
    cf_conn_from_sequence(&env, 1, 5);
    assert_int_equal(run_source(&ctx, &env.ops[0], 0, 1), CF_SOURCE_END);
    assert_int_equal(ctx.n, 5);
    assert_int_equal(ctx.nopst, 0);
    ctx_deinit(&ctx);
}

static size_t gen_restored_calls, gen_fresh_calls;

static int
gen_idx_fn(cf_ctx_t *ctx, uint64_t index)
{
    int64_t v = (int64_t)index;
    /* ABI 1.1 context calls reach the real context through the shim. */
    if (cf_ctx_is_restored(ctx))
        gen_restored_calls++;
    else
        gen_fresh_calls++;
    return cf_emit(ctx, &v, sizeof(v), CF_NO_TIMESTAMP);
}

static void
test_datagen_restore(void **state)
{
    cf_env_t env;
    int np;
    size_t restored;
    (void)state;

    for (np = 1; np <= 3; np++) {
        env_init(&env);
        cf_conn_datagen(&env, "gen", gen_idx_fn, NULL, 10000, 0);
        gen_restored_calls = gen_fresh_calls = 0;
        restored = number_source_restore(&env.ops[0], "datagen-positions", 0,
                                         10000, np);
        assert_true(restored > 0);
        assert_int_equal(gen_restored_calls, restored);
        assert_int_equal(gen_fresh_calls, 10000); /* 2 x (4096 + 904) */
    }
}

/* Lines of the text-file test: "<tag>-<n>". */
static void
write_lines(const char *path, const char *tag, int n, int last_nl)
{
    FILE *f = fopen(path, "w");
    int i;
    assert_non_null(f);
    for (i = 0; i < n; i++)
        fprintf(f, "%s-%05d%s", tag, i, (i + 1 < n || last_nl) ? "\n" : "");
    fclose(f);
}

static int
str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
add_lines(char ***v, size_t *n, const cf_ctx_t *ctx, size_t upto)
{
    size_t k;
    for (k = 0; k < upto; k++) {
        char *l = malloc(ctx->recs[k].len + 1);
        memcpy(l, ctx->recs[k].data, ctx->recs[k].len);
        l[ctx->recs[k].len] = '\0';
        if ((*n & (*n - 1)) == 0) /* 0, 1, 2, 4...: double the room */
            *v = realloc(*v, (*n ? *n * 2 : 1) * sizeof(char *));
        (*v)[(*n)++] = l;
    }
}

static void
test_text_file_restore(void **state)
{
    char dir[] = "/tmp/cf-conn-frest-XXXXXX";
    char p[512];
    cf_env_t env;
    const mock_op_t *op;
    cf_ctx_t c[2], r[3];
    snap_t sn;
    char **got = NULL;
    size_t ngot = 0, keep[2], k;
    int np, i;
    (void)state;

    assert_non_null(mkdtemp(dir));
    snprintf(p, sizeof(p), "%s/a.txt", dir);
    write_lines(p, "a", 20000, 1); /* 160000 bytes: 3 reads */
    snprintf(p, sizeof(p), "%s/b.txt", dir);
    write_lines(p, "b", 5, 0); /* the last line without '\n' */
    snprintf(p, sizeof(p), "%s/c.txt", dir);
    write_lines(p, "c", 30000, 1);

    for (np = 1; np <= 3; np++) {
        env_init(&env);
        cf_conn_read_text_file(&env, dir);
        op = &env.ops[0];
        /* p=2: instance 0 reads a and c, instance 1 reads b. */
        for (i = 0; i < 2; i++) {
            ctx_init(&c[i], op, i, 2);
            assert_int_equal(op->src->open(&c[i]), CF_OK);
        }
        assert_int_equal(op->src->next(&c[0]), CF_SOURCE_MORE);
        assert_int_equal(op->src->next(&c[0]), CF_SOURCE_MORE);
        assert_int_equal(op->src->next(&c[1]), CF_SOURCE_MORE);
        assert_int_equal(c[1].n, 4); /* "b-00004" is held back */
        keep[0] = c[0].n;
        keep[1] = c[1].n;
        snap_take(&sn, op, c, 2, "file-positions", 1);
        assert_int_equal(sn.n, 3); /* a (middle), c (0), b (last line) */
        add_lines(&got, &ngot, &c[0], keep[0]);
        add_lines(&got, &ngot, &c[1], keep[1]);
        /* More is read after the checkpoint, then the job fails. */
        assert_int_equal(op->src->next(&c[0]), CF_SOURCE_MORE);
        for (i = 0; i < 2; i++) {
            op->src->close(&c[i]);
            ctx_deinit(&c[i]);
        }
        for (i = 0; i < np; i++) {
            ctx_restore(&r[i], op, i, np, "file-positions", &sn);
            assert_int_equal(op->src->open(&r[i]), CF_OK);
            assert_int_equal(run_opened(op, &r[i]), CF_SOURCE_END);
            add_lines(&got, &ngot, &r[i], r[i].n);
            op->src->close(&r[i]);
            ctx_deinit(&r[i]);
        }
        snap_free(&sn);
        /* Every line exactly once. */
        assert_int_equal(ngot, 20000 + 5 + 30000);
        qsort(got, ngot, sizeof(char *), str_cmp);
        for (k = 0; k < ngot; k++) {
            char want[32];
            if (k < 20000)
                snprintf(want, sizeof(want), "a-%05zu", k);
            else if (k < 20005)
                snprintf(want, sizeof(want), "b-%05zu", k - 20000);
            else
                snprintf(want, sizeof(want), "c-%05zu", k - 20005);
            assert_string_equal(got[k], want);
            free(got[k]);
        }
        free(got);
        got = NULL;
        ngot = 0;
    }

    /* A restored file that is gone: the error names it. */
    env_init(&env);
    cf_conn_read_text_file(&env, dir);
    op = &env.ops[0];
    ctx_init(&c[0], op, 0, 1);
    assert_int_equal(op->src->open(&c[0]), CF_OK);
    snap_take(&sn, op, c, 1, "file-positions", 1);
    assert_int_equal(sn.n, 3);
    op->src->close(&c[0]);
    ctx_deinit(&c[0]);
    snprintf(p, sizeof(p), "%s/a.txt", dir);
    unlink(p);
    ctx_restore(&r[0], op, 0, 1, "file-positions", &sn);
    assert_int_equal(op->src->open(&r[0]), CF_OK);
    assert_int_equal(run_opened(op, &r[0]), CF_ERR);
    assert_non_null(strstr(r[0].msg, "a.txt' does not exist"));
    op->src->close(&r[0]);
    ctx_deinit(&r[0]);
    /* A corrupt item. */
    sn.items[1].data[0] = 9;
    ctx_restore(&r[0], op, 0, 1, "file-positions", &sn);
    assert_int_equal(op->src->open(&r[0]), CF_ERR);
    assert_non_null(strstr(r[0].msg, "file-input: restored position 1 is "
                                     "corrupt"));
    op->src->close(&r[0]);
    ctx_deinit(&r[0]);
    snap_free(&sn);
    rm_rf(dir);
}

/* The socket source is not replayable: no state, no snapshot hook. */
static void
test_socket_no_state(void **state)
{
    cf_env_t env;
    (void)state;
    env_init(&env);
    cf_conn_socket_text_stream(&env, "127.0.0.1", 9);
    assert_false(env.ops[0].has_hooks);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_sequence, teardown),
        cmocka_unit_test_teardown(test_sequence_batches, teardown),
        cmocka_unit_test_teardown(test_sequence_bad, teardown),
        cmocka_unit_test_teardown(test_datagen, teardown),
        cmocka_unit_test_teardown(test_datagen_fail, teardown),
        cmocka_unit_test_teardown(test_datagen_rate, teardown),
        cmocka_unit_test_teardown(test_text_file, teardown),
        cmocka_unit_test_teardown(test_socket, teardown),
        cmocka_unit_test_teardown(test_print, teardown),
        cmocka_unit_test_teardown(test_discard, teardown),
        cmocka_unit_test_teardown(test_write_text, teardown),
        cmocka_unit_test_teardown(test_sequence_restore, teardown),
        cmocka_unit_test_teardown(test_datagen_restore, teardown),
        cmocka_unit_test_teardown(test_text_file_restore, teardown),
        cmocka_unit_test_teardown(test_socket_no_state, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
