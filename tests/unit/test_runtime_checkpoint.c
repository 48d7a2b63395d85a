/*
 * test_runtime_checkpoint.c: checkpoints at tasks, white-box: gate
 * blocking for barrier alignment; tasks deployed in-process (as a
 * TaskManager does, wired with local channels) taking checkpoints
 * triggered at their sources: exactly-once alignment (each snapshot sees
 * exactly the records its sources had emitted before theirs), a newer
 * barrier subsuming an older one, the final checkpoint after the end of
 * input, stop-with-savepoint with and without drain, and keyed and
 * operator state written at a checkpoint and restored into a new
 * deployment.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "op_ckpt.h"
#include "runtime_int.h"

#include <cmocka.h>

#define MAXSRC 2
#define MAXCK 16
#define NKEYS 10

/* ------------------------------------------------------------------ */
/* The gate's blocking (alignment)                                     */
/* ------------------------------------------------------------------ */

static cf_net_buf_t *
tok(int v)
{
    return cf_net_event_new(100, &v, sizeof v);
}

static int
tok_val(cf_net_buf_t *b)
{
    int v;
    memcpy(&v, b->data, sizeof v);
    cf_net_buf_recycle(b);
    return v;
}

static void
test_gate_block(void **st)
{
    cf_signal_t sig;
    cf_net_gate_t *g;
    cf_net_buf_t *b;
    int ch, seen0 = 0, seen1 = 0, seen2 = 0;
    (void)st;

    cf_signal_init(&sig);
    g = cf_net_gate_new(3, &sig);
    for (int i = 0; i < 3; i++) {
        cf_net_gate_push(g, 0, tok(i));
        cf_net_gate_push(g, 1, tok(10 + i));
        cf_net_gate_push(g, 2, tok(20 + i));
    }
    /* Channel 0 is in the ring when it is blocked: poll drops it. */
    cf_net_gate_block(g, 0);
    assert_true(cf_net_gate_is_blocked(g, 0));
    assert_false(cf_net_gate_is_blocked(g, 1));
    while ((b = cf_net_gate_poll(g, &ch)) != NULL) {
        int v = tok_val(b);
        assert_int_not_equal(ch, 0);
        if (ch == 1)
            assert_int_equal(v, 10 + seen1++);
        else
            assert_int_equal(v, 20 + seen2++);
        if (v == 10) /* block channel 1 after its first buffer */
            cf_net_gate_block(g, 1);
    }
    assert_int_equal(seen1, 1);
    assert_int_equal(seen2, 3);
    /* Arrivals on a blocked channel wait too; the buffers stay queued. */
    cf_net_gate_push(g, 0, tok(3));
    assert_null(cf_net_gate_poll(g, &ch));
    assert_int_equal(cf_net_gate_queued(g), 6);
    cf_net_gate_unblock_all(g);
    assert_false(cf_net_gate_is_blocked(g, 0));
    while ((b = cf_net_gate_poll(g, &ch)) != NULL) {
        int v = tok_val(b);
        if (ch == 0)
            assert_int_equal(v, seen0++);
        else if (ch == 1)
            assert_int_equal(v, 10 + seen1++);
        else
            fail_msg("channel 2 is empty");
    }
    assert_int_equal(seen0, 4);
    assert_int_equal(seen1, 3);
    /* An empty blocked channel is not listed when data arrives. */
    cf_net_gate_block(g, 2);
    cf_net_gate_push(g, 2, tok(7));
    cf_net_gate_push(g, 1, tok(8));
    b = cf_net_gate_poll(g, &ch);
    assert_int_equal(ch, 1);
    assert_int_equal(tok_val(b), 8);
    assert_null(cf_net_gate_poll(g, &ch));
    cf_net_gate_unblock_all(g);
    b = cf_net_gate_poll(g, &ch);
    assert_int_equal(ch, 2);
    assert_int_equal(tok_val(b), 7);
    /* What is queued at destroy is recycled (ASan: no leak). */
    cf_net_gate_push(g, 0, tok(9));
    cf_net_gate_block(g, 0);
    cf_net_gate_destroy(g);
    cf_signal_deinit(&sig);
}

/* ------------------------------------------------------------------ */
/* Acks and declines                                                   */
/* ------------------------------------------------------------------ */

typedef struct got_s {
    cf_task_t *t;
    int64_t id;
    cf_task_ack_t *ack; /* NULL: declined */
    char *reason;
} got_t;

static pthread_mutex_t got_mu = PTHREAD_MUTEX_INITIALIZER;
static got_t got[256];
static int ngot;

static void
ack_cb(cf_task_t *t, cf_task_ack_t *ack, void *arg)
{
    (void)arg;
    pthread_mutex_lock(&got_mu);
    if (ngot < 256)
        got[ngot++] = (got_t){t, ack->checkpoint_id, ack, NULL};
    else
        cf_task_ack_free(ack);
    pthread_mutex_unlock(&got_mu);
}

static void
decline_cb(cf_task_t *t, int64_t id, const char *reason, void *arg)
{
    (void)arg;
    pthread_mutex_lock(&got_mu);
    if (ngot < 256)
        got[ngot++] = (got_t){t, id, NULL, cf_strdup(reason)};
    pthread_mutex_unlock(&got_mu);
}

static const cf_task_ckpt_cbs_t cbs = {ack_cb, decline_cb};

static void
got_reset(void)
{
    pthread_mutex_lock(&got_mu);
    for (int i = 0; i < ngot; i++) {
        cf_task_ack_free(got[i].ack);
        cf_free(got[i].reason);
    }
    ngot = 0;
    pthread_mutex_unlock(&got_mu);
}

/* The ack (or, with declined, the decline) of t for id, or NULL. */
static got_t *
got_find(cf_task_t *t, int64_t id, int declined)
{
    got_t *r = NULL;
    pthread_mutex_lock(&got_mu);
    for (int i = 0; i < ngot && r == NULL; i++)
        if (got[i].t == t && got[i].id == id &&
            (got[i].ack == NULL) == (declined != 0))
            r = &got[i];
    pthread_mutex_unlock(&got_mu);
    return r;
}

static got_t *
wait_got(cf_task_t *t, int64_t id, int declined)
{
    got_t *g;
    for (int i = 0; i < 1000; i++) {
        if ((g = got_find(t, id, declined)) != NULL)
            return g;
        cf_sleep_ms(5);
    }
    fail_msg("%s: no %s for checkpoint %lld", cf_task_name_get(t),
             declined ? "decline" : "ack", (long long)id);
    return NULL;
}

/* ------------------------------------------------------------------ */
/* The test job's functions                                            */
/* ------------------------------------------------------------------ */

typedef struct rec_s {
    uint32_t src; /* source subtask */
    uint32_t key;
    uint64_t seq;
} rec_t;

typedef struct src_conf_s {
    int use_opstate;
} src_conf_t;

typedef struct src_local_s {
    uint64_t seq;
    cf_state_t *pos;
} src_local_t;

static atomic_llong src_limit;  /* records per source subtask, <0: none */
static atomic_llong src_emitted[MAXSRC];
static int64_t src_at_ckpt[MAXSRC][MAXCK];
static atomic_llong sink_seen[MAXSRC];
static int64_t sink_at_ckpt[MAXSRC][MAXCK];
static atomic_int sink_finished;
static atomic_int src_restored;

static int
src_open(cf_ctx_t *ctx)
{
    src_conf_t *conf = cf_ctx_udata(ctx);
    src_local_t *l = cf_calloc(1, sizeof *l);
    cf_ctx_set_local(ctx, l);
    if (conf != NULL && conf->use_opstate) {
        cf_list_iter_t it;
        cf_slice_t item;
        l->pos = cf_op_state_list(ctx, "pos", CF_OPSTATE_SPLIT);
        if (l->pos == NULL)
            return CF_ERR;
        for (cf_list_iter(l->pos, &it); cf_list_next(l->pos, &it, &item);)
            if (item.len == sizeof l->seq)
                memcpy(&l->seq, item.data, sizeof l->seq);
        if (cf_ctx_is_restored(ctx))
            atomic_fetch_add(&src_restored, 1);
    }
    return CF_OK;
}

static int
src_next(cf_ctx_t *ctx)
{
    src_local_t *l = cf_ctx_local(ctx);
    int idx = cf_ctx_subtask_index(ctx);
    long long lim = atomic_load(&src_limit);
    rec_t r;

    for (int i = 0; i < 64; i++) {
        if (lim >= 0 && (long long)l->seq >= lim)
            return CF_SOURCE_END;
        r.src = (uint32_t)idx;
        r.key = (uint32_t)(l->seq % NKEYS);
        r.seq = l->seq;
        int rc = cf_emit(ctx, &r, sizeof r, CF_NO_TIMESTAMP);
        if (rc < 0)
            return rc;
        l->seq++;
        if (idx < MAXSRC)
            atomic_store(&src_emitted[idx], (long long)l->seq);
    }
    cf_sleep_ms(1);
    return CF_SOURCE_MORE;
}

static void
src_close(cf_ctx_t *ctx)
{
    cf_free(cf_ctx_local(ctx));
    cf_ctx_set_local(ctx, NULL);
}

static int
src_snapshot(cf_ctx_t *ctx, int64_t id)
{
    src_local_t *l = cf_ctx_local(ctx);
    int idx = cf_ctx_subtask_index(ctx);
    if (id >= 0 && id < MAXCK && idx < MAXSRC)
        src_at_ckpt[idx][id] = (int64_t)l->seq;
    if (l->pos != NULL) {
        cf_state_clear(l->pos);
        return cf_list_add(l->pos, &l->seq, sizeof l->seq);
    }
    return CF_OK;
}

static int
key_of(cf_ctx_t *ctx, const cf_record_t *in, cf_key_t *key)
{
    (void)ctx;
    key->data = (const uint8_t *)in->data + offsetof(rec_t, key);
    key->len = sizeof(uint32_t);
    return CF_OK;
}

static int
sink_invoke(cf_ctx_t *ctx, const cf_record_t *in)
{
    rec_t r;
    (void)ctx;
    if (in->len != sizeof r)
        return CF_OK; /* the counting map's output: see cnt_sink */
    memcpy(&r, in->data, sizeof r);
    if (r.src < MAXSRC)
        atomic_fetch_add(&sink_seen[r.src], 1);
    return CF_OK;
}

static int
sink_finish(cf_ctx_t *ctx)
{
    (void)ctx;
    atomic_fetch_add(&sink_finished, 1);
    return CF_OK;
}

static int
sink_snapshot(cf_ctx_t *ctx, int64_t id)
{
    (void)ctx;
    if (id >= 0 && id < MAXCK)
        for (int s = 0; s < MAXSRC; s++)
            sink_at_ckpt[s][id] = atomic_load(&sink_seen[s]);
    return CF_OK;
}

static const cf_source_ops_t src_ops = {sizeof(cf_source_ops_t), src_open,
                                        src_next, src_close};
static const cf_sink_ops_t sink_ops = {sizeof(cf_sink_ops_t), NULL,
                                       sink_invoke, sink_finish, NULL};
static const cf_hooks_t src_hooks = {sizeof(cf_hooks_t), NULL, NULL, NULL,
                                     src_snapshot, NULL, NULL};
static const cf_hooks_t sink_hooks = {sizeof(cf_hooks_t), NULL, NULL, NULL,
                                      sink_snapshot, NULL, NULL};

/* The keyed counting map: value state "n" per key, emits (key, n). */
typedef struct cnt_s {
    uint32_t key;
    uint32_t pad;
    uint64_t n;
} cnt_t;

static int
cnt_map(cf_ctx_t *ctx, const cf_record_t *in, cf_record_t *out)
{
    cf_state_t *st = cf_state_value(ctx, "n");
    cnt_t *c = cf_ctx_scratch(ctx, sizeof *c);
    cf_slice_t v;
    rec_t r;
    if (st == NULL)
        return CF_ERR;
    memcpy(&r, in->data, sizeof r);
    memset(c, 0, sizeof *c);
    c->key = r.key;
    if (cf_value_get(st, &v) == 1 && v.len == sizeof c->n)
        memcpy(&c->n, v.data, sizeof c->n);
    c->n++;
    if (cf_value_put(st, &c->n, sizeof c->n) < 0)
        return CF_ERR;
    out->data = c;
    out->len = sizeof *c;
    return CF_OK;
}

/* The counting job's sink: per key the counts seen, each must be the
 * previous + 1 (state continues exactly). */
static pthread_mutex_t cnt_mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t cnt_first[NKEYS], cnt_last[NKEYS];
static atomic_int cnt_gaps;
static atomic_llong cnt_total;

static int
cnt_sink_invoke(cf_ctx_t *ctx, const cf_record_t *in)
{
    cnt_t c;
    (void)ctx;
    if (in->len != sizeof c)
        return CF_ERR;
    memcpy(&c, in->data, sizeof c);
    if (c.key >= NKEYS)
        return CF_ERR;
    pthread_mutex_lock(&cnt_mu);
    if (cnt_first[c.key] == 0)
        cnt_first[c.key] = c.n;
    else if (c.n != cnt_last[c.key] + 1)
        atomic_fetch_add(&cnt_gaps, 1);
    cnt_last[c.key] = c.n;
    pthread_mutex_unlock(&cnt_mu);
    atomic_fetch_add(&cnt_total, 1);
    return CF_OK;
}

static const cf_sink_ops_t cnt_sink_ops = {sizeof(cf_sink_ops_t), NULL,
                                           cnt_sink_invoke, NULL, NULL};

/* ------------------------------------------------------------------ */
/* Jobs and in-process deployment                                      */
/* ------------------------------------------------------------------ */

static src_conf_t conf_plain = {0};
static src_conf_t conf_opstate = {1};

/* nsrc sources -> keyBy -> sink (p 1) */
static cf_job_t *
job_align(cf_config_t *cfg, int nsrc)
{
    cf_job_t *job = CF_NEW(cf_job_t);
    cf_stream_t *s;
    cf_error_t *err = NULL;

    job->env = cf_env_new(cfg, 1);
    job->cfg = cfg;
    cf_id_random(&job->job_id);
    cf_id_to_hex(&job->job_id, job->job_id_hex);
    s = cf_b_env_add_source(job->env, "src", &src_ops, &conf_plain);
    cf_b_set_parallelism(s, nsrc);
    cf_b_set_hooks(s, &src_hooks);
    s = cf_b_key_by(s, key_of, NULL);
    s = cf_b_sink(s, "out", &sink_ops, NULL);
    cf_b_set_hooks(s, &sink_hooks);
    assert_null(job->env->error);
    assert_int_equal(cf_jobgraph_build(job, &err), 0);
    assert_int_equal(job->nvertices, 2);
    return job;
}

/* source (op state) -> keyBy -> counting map (p 2) -> sink (p 1) */
static cf_job_t *
job_count(cf_config_t *cfg)
{
    cf_job_t *job = CF_NEW(cf_job_t);
    cf_stream_t *s;
    cf_error_t *err = NULL;

    job->env = cf_env_new(cfg, 1);
    job->cfg = cfg;
    cf_id_random(&job->job_id);
    cf_id_to_hex(&job->job_id, job->job_id_hex);
    s = cf_b_env_add_source(job->env, "src", &src_ops, &conf_opstate);
    cf_b_set_uid(s, "src");
    cf_b_set_hooks(s, &src_hooks);
    s = cf_b_key_by(s, key_of, NULL);
    s = cf_b_map(s, "count", cnt_map, NULL);
    cf_b_set_uid(s, "count");
    cf_b_set_parallelism(s, 2);
    s = cf_b_sink(s, "out", &cnt_sink_ops, NULL);
    cf_b_set_uid(s, "out");
    assert_null(job->env->error);
    assert_int_equal(cf_jobgraph_build(job, &err), 0);
    assert_int_equal(job->nvertices, 3);
    return job;
}

static void
job_free(cf_job_t *job)
{
    cf_jobgraph_free(job);
    cf_env_destroy(job->env);
    cf_free(job);
}

typedef struct dep_s {
    cf_job_t *job;
    cf_net_env_t *net;
    cf_task_t *t[4][4]; /* [vertex][subtask] */
} dep_t;

static int
connected(int part, int P, int C, int i, int k)
{
    int lo, n;
    cf_job_edge_consumers(part, P, C, i, &lo, &n);
    return k >= lo && k < lo + n;
}

/* Deploy every subtask of job with spec's checkpoint settings, wire the
 * local channels as exec.c does, start consumers first. */
static void
deploy(dep_t *d, cf_job_t *job, const cf_task_spec_t *proto)
{
    cf_error_t *err = NULL;

    memset(d, 0, sizeof *d);
    d->job = job;
    d->net = cf_net_env_new(16 << 20, 32 * 1024);
    for (int v = 0; v < job->nvertices; v++) {
        cf_jvertex_t *jv = &job->vertices[v];
        for (int k = 0; k < jv->parallelism; k++) {
            cf_task_spec_t spec = *proto;
            spec.vertex = v;
            spec.subtask = k;
            spec.net = d->net;
            spec.nchannels = 0;
            for (int in = 0; in < jv->nins; in++) {
                cf_jvertex_t *src = &job->vertices[jv->ins[in].source];
                int part = src->outs[jv->ins[in].out_idx].partitioner;
                for (int i = 0; i < src->parallelism; i++)
                    spec.nchannels += connected(part, src->parallelism,
                                                jv->parallelism, i, k);
            }
            d->t[v][k] = cf_task_deploy(job, &spec, &err);
            if (d->t[v][k] == NULL)
                fail_msg("deploy: %s", cf_error_msg(err));
        }
    }
    for (int v = 0; v < job->nvertices; v++) {
        cf_jvertex_t *jv = &job->vertices[v];
        for (int i = 0; i < jv->parallelism; i++) {
            for (int o = 0; o < jv->nouts; o++) {
                cf_jout_t *out = &jv->outs[o];
                cf_jvertex_t *tv = &job->vertices[out->target];
                int lo, n;
                assert_int_equal(tv->nins, 1);
                cf_job_edge_consumers(out->partitioner, jv->parallelism,
                                      tv->parallelism, i, &lo, &n);
                for (int s = 0; s < n; s++) {
                    int k = lo + s, ch = 0;
                    for (int j = 0; j < i; j++)
                        ch += connected(out->partitioner, jv->parallelism,
                                        tv->parallelism, j, k);
                    cf_net_partition_connect(
                        cf_task_output(d->t[v][i], o), s,
                        cf_task_gate(d->t[out->target][k]), ch);
                }
                atomic_fetch_add(cf_task_connected(d->t[v][i]), n);
            }
        }
    }
    for (int v = job->nvertices - 1; v >= 0; v--)
        for (int k = 0; k < job->vertices[v].parallelism; k++)
            assert_int_equal(cf_task_start(d->t[v][k], &err), 0);
}

static void
undeploy(dep_t *d)
{
    cf_job_t *job = d->job;
    for (int v = 0; v < job->nvertices; v++)
        for (int k = 0; k < job->vertices[v].parallelism; k++)
            cf_task_cancel(d->t[v][k]);
    for (int v = 0; v < job->nvertices; v++)
        for (int k = 0; k < job->vertices[v].parallelism; k++)
            cf_task_join(d->t[v][k]);
    for (int v = 0; v < job->nvertices; v++)
        for (int k = 0; k < job->vertices[v].parallelism; k++)
            cf_task_free(d->t[v][k]);
    assert_int_equal(cf_net_env_free_segments(d->net),
                     cf_net_env_total_segments(d->net));
    cf_net_env_destroy(d->net);
}

static void
wait_state(cf_task_t *t, cf_exec_state_t s)
{
    for (int i = 0; i < 1000 && cf_task_state(t) != s; i++)
        cf_sleep_ms(5);
    if (cf_task_state(t) != s)
        fail_msg("%s is %s, not %s", cf_task_name_get(t),
                 cf_exec_state_name(cf_task_state(t)),
                 cf_exec_state_name(s));
}

static void
wait_count(atomic_llong *c, long long n)
{
    for (int i = 0; i < 1000 && atomic_load(c) < n; i++)
        cf_sleep_ms(5);
    if (atomic_load(c) < n)
        fail_msg("count %lld < %lld", (long long)atomic_load(c), n);
}

static void
trigger(cf_task_t *t, int64_t id, int kind, int drain, const char *loc)
{
    cf_barrier_t b = {id, cf_now_ms(), kind, drain, loc};
    cf_task_trigger_checkpoint(t, &b);
}

static void
counters_reset(void)
{
    got_reset();
    for (int s = 0; s < MAXSRC; s++) {
        atomic_store(&src_emitted[s], 0);
        atomic_store(&sink_seen[s], 0);
    }
    memset(src_at_ckpt, 0xff, sizeof src_at_ckpt);
    memset(sink_at_ckpt, 0xff, sizeof sink_at_ckpt);
    atomic_store(&sink_finished, 0);
    atomic_store(&src_limit, -1);
}

/* ------------------------------------------------------------------ */
/* Alignment, acks, subsumption                                        */
/* ------------------------------------------------------------------ */

static void
run_align(int exactly_once)
{
    cf_config_t *cfg = cf_config_new();
    cf_job_t *job = job_align(cfg, 2);
    cf_task_spec_t spec;
    dep_t d;
    cf_task_t *s0, *s1, *snk;
    got_t *g;

    counters_reset();
    memset(&spec, 0, sizeof spec);
    spec.checkpointing = 1;
    spec.exactly_once = exactly_once;
    spec.ckpt_cbs = &cbs;
    deploy(&d, job, &spec);
    s0 = d.t[0][0];
    s1 = d.t[0][1];
    snk = d.t[1][0];
    wait_state(snk, CF_EXEC_RUNNING);
    wait_count(&sink_seen[0], 1000);
    wait_count(&sink_seen[1], 1000);

    /* Checkpoints 1..3 triggered at both sources. */
    for (int64_t id = 1; id <= 3; id++) {
        trigger(s0, id, CF_CKPT_KIND_CHECKPOINT, 0, "/nonexistent");
        cf_sleep_ms(id * 7); /* the barriers travel apart */
        trigger(s1, id, CF_CKPT_KIND_CHECKPOINT, 0, "/nonexistent");
        wait_got(s0, id, 0);
        wait_got(s1, id, 0);
        g = wait_got(snk, id, 0);
        /* Nothing of this job has state: the acks have no handles. */
        assert_int_equal(g->ack->nops, 0);
        assert_int_equal(g->ack->finished, 0);
        assert_true(g->ack->sync_ms >= 0 && g->ack->async_ms >= 0);
        assert_true(g->ack->alignment_ms >= 0);
        for (int s = 0; s < 2; s++) {
            assert_true(src_at_ckpt[s][id] > 0);
            if (exactly_once)
                assert_int_equal(sink_at_ckpt[s][id], src_at_ckpt[s][id]);
            else /* records after the barrier may be in */
                assert_true(sink_at_ckpt[s][id] >= src_at_ckpt[s][id]);
        }
        for (cf_task_t *t = s0; t; t = t == s0 ? s1 : t == s1 ? snk : NULL)
            cf_task_notify_checkpoint(t, id, 0);
    }

    /* Checkpoint 5 reaches the sink from source 0 only; 6 from both:
     * 5 is declined as subsumed, 6 acked. */
    trigger(s0, 5, CF_CKPT_KIND_CHECKPOINT, 0, "/x");
    wait_got(s0, 5, 0);
    if (exactly_once) {
        /* The sink blocked source 0's channel at barrier 5. */
        for (int i = 0; i < 400 && !cf_net_gate_is_blocked(
                                       cf_task_gate(snk), 0);
             i++)
            cf_sleep_ms(5);
        assert_true(cf_net_gate_is_blocked(cf_task_gate(snk), 0));
        {
            long long a = atomic_load(&sink_seen[0]);
            cf_sleep_ms(50);
            assert_int_equal(atomic_load(&sink_seen[0]), a);
        }
    } else {
        cf_sleep_ms(50);
    }
    trigger(s1, 6, CF_CKPT_KIND_CHECKPOINT, 0, "/x");
    trigger(s0, 6, CF_CKPT_KIND_CHECKPOINT, 0, "/x");
    g = wait_got(snk, 5, 1);
    assert_non_null(strstr(g->reason, "subsumed"));
    wait_got(snk, 6, 0);
    assert_null(got_find(snk, 5, 0));
    if (exactly_once)
        for (int s = 0; s < 2; s++)
            assert_int_equal(sink_at_ckpt[s][6], src_at_ckpt[s][6]);
    /* An old trigger is declined. */
    trigger(s1, 4, CF_CKPT_KIND_CHECKPOINT, 0, "/x");
    wait_got(s1, 4, 1);

    undeploy(&d);
    got_reset();
    job_free(job);
    cf_config_destroy(cfg);
}

static void
test_align_exactly_once(void **st)
{
    (void)st;
    run_align(1);
}

static void
test_align_at_least_once(void **st)
{
    (void)st;
    run_align(0);
}

/* ------------------------------------------------------------------ */
/* End of input, final checkpoint, stop-with-savepoint                 */
/* ------------------------------------------------------------------ */

static void
test_final_checkpoint(void **st)
{
    cf_config_t *cfg = cf_config_new();
    cf_job_t *job = job_align(cfg, 1);
    cf_task_spec_t spec;
    dep_t d;
    cf_task_t *src, *snk;
    got_t *g;
    (void)st;

    counters_reset();
    atomic_store(&src_limit, 3000);
    memset(&spec, 0, sizeof spec);
    spec.checkpointing = 1;
    spec.exactly_once = 1;
    spec.ckpt_cbs = &cbs;
    deploy(&d, job, &spec);
    src = d.t[0][0];
    snk = d.t[1][0];
    wait_count(&sink_seen[0], 3000);
    wait_state(snk, CF_EXEC_RUNNING);
    for (int i = 0; i < 400 && atomic_load(&sink_finished) == 0; i++)
        cf_sleep_ms(5);
    /* Both ended their input (the sink ran finish) but wait for a
     * checkpoint taken after it. */
    assert_int_equal(atomic_load(&sink_finished), 1);
    cf_sleep_ms(100);
    assert_int_equal(cf_task_state(src), CF_EXEC_RUNNING);
    assert_int_equal(cf_task_state(snk), CF_EXEC_RUNNING);

    trigger(src, 1, CF_CKPT_KIND_CHECKPOINT, 0, "/x");
    g = wait_got(src, 1, 0);
    assert_int_equal(g->ack->finished, 1);
    g = wait_got(snk, 1, 0);
    assert_int_equal(g->ack->finished, 1);
    assert_int_equal(sink_at_ckpt[0][1], 3000);
    /* Aborted: still waiting; the next one completes. */
    cf_task_notify_checkpoint(src, 1, 1);
    cf_task_notify_checkpoint(snk, 1, 1);
    cf_sleep_ms(50);
    assert_int_equal(cf_task_state(src), CF_EXEC_RUNNING);
    assert_int_equal(cf_task_state(snk), CF_EXEC_RUNNING);
    trigger(src, 2, CF_CKPT_KIND_CHECKPOINT, 0, "/x");
    wait_got(src, 2, 0);
    wait_got(snk, 2, 0);
    /* The sink's notification first: it still waits for its input's
     * end of partition. */
    cf_task_notify_checkpoint(snk, 2, 0);
    cf_sleep_ms(50);
    assert_int_equal(cf_task_state(snk), CF_EXEC_RUNNING);
    cf_task_notify_checkpoint(src, 2, 0);
    wait_state(src, CF_EXEC_FINISHED);
    wait_state(snk, CF_EXEC_FINISHED);
    assert_int_equal(atomic_load(&sink_finished), 1);
    /* A trigger for a finished task is declined. */
    trigger(src, 3, CF_CKPT_KIND_CHECKPOINT, 0, "/x");
    wait_got(src, 3, 1);
    undeploy(&d);
    got_reset();
    job_free(job);
    cf_config_destroy(cfg);
}

static void
test_stop_with_savepoint(void **st)
{
    cf_config_t *cfg = cf_config_new();
    cf_task_spec_t spec;
    (void)st;

    for (int drain = 1; drain >= 0; drain--) {
        cf_job_t *job = job_align(cfg, 1);
        dep_t d;
        cf_task_t *src, *snk;
        got_t *g;

        counters_reset();
        memset(&spec, 0, sizeof spec);
        spec.checkpointing = drain; /* either way */
        spec.exactly_once = 1;
        spec.ckpt_cbs = &cbs;
        deploy(&d, job, &spec);
        src = d.t[0][0];
        snk = d.t[1][0];
        wait_count(&sink_seen[0], 2000);
        if (!drain) {
            /* A failed stop: the source resumes. */
            trigger(src, 3, CF_CKPT_KIND_SYNC_SAVEPOINT, 0, "/x");
            wait_got(src, 3, 0);
            wait_got(snk, 3, 0);
            {
                long long a = atomic_load(&sink_seen[0]);
                cf_sleep_ms(60);
                assert_int_equal(atomic_load(&sink_seen[0]), a);
                cf_task_notify_checkpoint(src, 3, 1);
                cf_task_notify_checkpoint(snk, 3, 1);
                wait_count(&sink_seen[0], a + 1000);
            }
        }
        trigger(src, 4, CF_CKPT_KIND_SYNC_SAVEPOINT, drain, "/x");
        g = wait_got(src, 4, 0);
        assert_int_equal(g->ack->finished, drain);
        g = wait_got(snk, 4, 0);
        assert_int_equal(g->ack->finished, drain);
        assert_int_equal(sink_at_ckpt[0][4], src_at_ckpt[0][4]);
        cf_sleep_ms(50);
        /* Drain: finish ran before the savepoint; no drain: not. */
        assert_int_equal(atomic_load(&sink_finished), drain);
        assert_int_equal(atomic_load(&sink_seen[0]), src_at_ckpt[0][4]);
        assert_int_equal(cf_task_state(src), CF_EXEC_RUNNING);
        assert_int_equal(cf_task_state(snk), CF_EXEC_RUNNING);
        cf_task_notify_checkpoint(snk, 4, 0);
        cf_task_notify_checkpoint(src, 4, 0);
        wait_state(src, CF_EXEC_FINISHED);
        wait_state(snk, CF_EXEC_FINISHED);
        assert_int_equal(atomic_load(&sink_finished), drain);
        assert_int_equal(atomic_load(&sink_seen[0]), src_at_ckpt[0][4]);
        undeploy(&d);
        got_reset();
        job_free(job);
    }
    cf_config_destroy(cfg);
}

/* ------------------------------------------------------------------ */
/* State: checkpoint, then restore into a new deployment               */
/* ------------------------------------------------------------------ */

static void
restore_from_acks(cf_task_restore_t *r, int64_t id, cf_task_t **ts, int nts,
                  cf_job_t *job)
{
    memset(r, 0, sizeof *r);
    r->checkpoint_id = id;
    r->ops = cf_calloc(8, sizeof(cf_op_restore_t));
    for (int i = 0; i < nts; i++) {
        got_t *g = got_find(ts[i], id, 0);
        assert_non_null(g);
        for (int k = 0; k < g->ack->nops; k++) {
            cf_op_restore_t *o = NULL;
            for (int j = 0; j < r->nops; j++)
                if (cf_id_equal(&r->ops[j].op_id, &g->ack->op_ids[k]))
                    o = &r->ops[j];
            if (o == NULL) {
                assert_true(r->nops < 8);
                o = &r->ops[r->nops++];
                o->op_id = g->ack->op_ids[k];
                o->handles = cf_calloc(8, sizeof(cf_state_handle_t));
                for (int v = 0; v < job->nvertices; v++)
                    for (int x = 0; x < job->vertices[v].nops; x++)
                        if (cf_id_equal(
                                &cf_env_node(job->env,
                                             job->vertices[v].ops[x].node)
                                     ->op_id,
                                &o->op_id))
                            o->old_parallelism =
                                job->vertices[v].parallelism;
            }
            assert_true(o->nhandles < 8);
            o->handles[o->nhandles++] = g->ack->handles[k];
        }
    }
}

static pthread_mutex_t fail_mu = PTHREAD_MUTEX_INITIALIZER;
static char fail_msg_buf[1024];

static void
fail_cb(cf_task_t *t, cf_exec_state_t s, const char *failure, void *arg)
{
    (void)t;
    (void)arg;
    if (s != CF_EXEC_FAILED || failure == NULL)
        return;
    pthread_mutex_lock(&fail_mu);
    if (fail_msg_buf[0] == '\0')
        snprintf(fail_msg_buf, sizeof fail_msg_buf, "%s", failure);
    pthread_mutex_unlock(&fail_mu);
}

/* Drop the acks, keeping the handle paths (now owned by a restore). */
static void
got_reset_keep_handles(void)
{
    pthread_mutex_lock(&got_mu);
    for (int i = 0; i < ngot; i++) {
        if (got[i].ack != NULL) {
            for (int k = 0; k < got[i].ack->nops; k++)
                got[i].ack->handles[k].path = NULL;
            cf_task_ack_free(got[i].ack);
        }
        cf_free(got[i].reason);
    }
    ngot = 0;
    pthread_mutex_unlock(&got_mu);
}

static void
test_state_restore(void **st)
{
    cf_config_t *cfg = cf_config_new();
    cf_job_t *job = job_count(cfg);
    cf_task_spec_t spec;
    cf_task_restore_t r;
    char dir[] = "/tmp/cf_ckpt_test_XXXXXX";
    dep_t d;
    cf_task_t *all[4], *ckpt2[4];
    got_t *g;
    (void)st;

    assert_non_null(mkdtemp(dir));
    counters_reset();
    memset(cnt_first, 0, sizeof cnt_first);
    memset(cnt_last, 0, sizeof cnt_last);
    atomic_store(&cnt_gaps, 0);
    atomic_store(&cnt_total, 0);
    atomic_store(&src_restored, 0);
    atomic_store(&src_limit, 1000);
    memset(&spec, 0, sizeof spec);
    spec.checkpointing = 1;
    spec.exactly_once = 1;
    spec.ckpt_cbs = &cbs;
    deploy(&d, job, &spec);
    all[0] = d.t[0][0];
    all[1] = d.t[1][0];
    all[2] = d.t[1][1];
    all[3] = d.t[2][0];
    wait_count(&cnt_total, 1000);
    trigger(all[0], 1, CF_CKPT_KIND_CHECKPOINT, 0, dir);
    for (int i = 0; i < 4; i++) {
        g = wait_got(all[i], 1, 0);
        /* source: operator state; maps: keyed state; sink: none */
        assert_int_equal(g->ack->nops, i == 3 ? 0 : 1);
        if (i < 3) {
            assert_non_null(g->ack->handles[0].path);
            assert_true(g->ack->handles[0].size > 0);
            assert_int_equal(access(g->ack->handles[0].path, R_OK), 0);
            assert_int_equal(g->ack->handles[0].has_keyed, i > 0);
            assert_int_equal(g->ack->handles[0].has_operator, i == 0);
        }
    }
    assert_int_equal(src_at_ckpt[0][1], 1000);
    for (int i = 0; i < 4; i++)
        cf_task_notify_checkpoint(all[i], 1, 0);
    for (int i = 0; i < 4; i++)
        wait_state(all[i], CF_EXEC_FINISHED);
    for (int k = 0; k < NKEYS; k++) {
        assert_int_equal(cnt_first[k], 1);
        assert_int_equal(cnt_last[k], 1000 / NKEYS);
    }

    /* A new deployment (attempt 1) restores checkpoint 1 and goes on to
     * 1500 records: the counts continue at 101. */
    restore_from_acks(&r, 1, all, 4, job);
    undeploy(&d);
    fail_msg_buf[0] = '\0';
    memset(cnt_first, 0, sizeof cnt_first);
    atomic_store(&cnt_total, 0);
    atomic_store(&src_limit, 1500);
    spec.attempt = 1;
    spec.restore = &r;
    deploy(&d, job, &spec);
    /* cf_task_deploy copied the restore description */
    for (int j = 0; j < r.nops; j++)
        cf_free(r.ops[j].handles);
    cf_free(r.ops);
    got_reset();
    all[0] = d.t[0][0];
    all[3] = d.t[2][0];
    wait_count(&cnt_total, 500);
    trigger(all[0], 2, CF_CKPT_KIND_CHECKPOINT, 0, dir);
    for (int i = 0; i < 3; i++)
        wait_got(d.t[i == 0 ? 0 : 1][i == 0 ? 0 : i - 1], 2, 0);
    wait_got(all[3], 2, 0);
    cf_task_notify_checkpoint(d.t[0][0], 2, 0);
    cf_task_notify_checkpoint(d.t[1][0], 2, 0);
    cf_task_notify_checkpoint(d.t[1][1], 2, 0);
    cf_task_notify_checkpoint(d.t[2][0], 2, 0);
    wait_state(all[3], CF_EXEC_FINISHED);
    ckpt2[0] = d.t[0][0];
    ckpt2[1] = d.t[1][0];
    ckpt2[2] = d.t[1][1];
    ckpt2[3] = d.t[2][0];
    assert_int_equal(atomic_load(&src_restored), 1);
    assert_int_equal(atomic_load(&cnt_total), 500);
    assert_int_equal(atomic_load(&cnt_gaps), 0);
    for (int k = 0; k < NKEYS; k++) {
        assert_int_equal(cnt_first[k], 1000 / NKEYS + 1);
        assert_int_equal(cnt_last[k], 1500 / NKEYS);
    }
    undeploy(&d);

    /* A corrupt state file fails the restoring task, naming the file. */
    {
        cf_task_t *ts[4] = {d.t[0][0], d.t[1][0], d.t[1][1], d.t[2][0]};
        char cmd[512];
        const char *bad;
        FILE *f;
        (void)ts;
        restore_from_acks(&r, 2, ckpt2, 4, job);
        got_reset_keep_handles();
        bad = NULL;
        for (int j = 0; j < r.nops; j++)
            for (int h = 0; h < r.ops[j].nhandles; h++)
                if (r.ops[j].handles[h].has_keyed)
                    bad = r.ops[j].handles[h].path;
        assert_non_null(bad);
        f = fopen(bad, "r+b");
        assert_non_null(f);
        fseek(f, 20, SEEK_SET);
        fputs("garbage garbage garbage", f);
        fclose(f);
        atomic_store(&src_limit, -1);
        spec.attempt = 2;
        spec.state_cb = fail_cb;
        deploy(&d, job, &spec);
        for (int i = 0; i < 1000 && fail_msg_buf[0] == '\0'; i++)
            cf_sleep_ms(5);
        pthread_mutex_lock(&fail_mu);
        if (strstr(fail_msg_buf, bad) == NULL)
            fail_msg("failure '%s' does not name %s", fail_msg_buf, bad);
        pthread_mutex_unlock(&fail_mu);
        undeploy(&d);
        for (int j = 0; j < r.nops; j++) {
            for (int h = 0; h < r.ops[j].nhandles; h++)
                cf_free(r.ops[j].handles[h].path);
            cf_free(r.ops[j].handles);
        }
        cf_free(r.ops);
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        assert_int_equal(system(cmd), 0);
    }
    job_free(job);
    cf_config_destroy(cfg);
}

/* ------------------------------------------------------------------ */
/* A two-phase-commit sink in the task loop                            */
/* ------------------------------------------------------------------ */

static atomic_llong tpc_open_n;    /* records in the open transaction */
static atomic_llong tpc_committed; /* records of committed ones */
static atomic_int tpc_commits, tpc_opened, tpc_finished, tpc_closed;

static int
tpc_open(cf_ctx_t *ctx)
{
    (void)ctx;
    atomic_fetch_add(&tpc_opened, 1);
    return CF_OK;
}

static int
tpc_invoke(cf_ctx_t *ctx, const cf_record_t *in)
{
    (void)ctx;
    (void)in;
    atomic_fetch_add(&tpc_open_n, 1);
    return CF_OK;
}

static int
tpc_pre_commit(cf_ctx_t *ctx, int64_t id, cf_buf_t *txn)
{
    long long n = atomic_exchange(&tpc_open_n, 0);
    (void)id;
    if (cf_buf_reserve(ctx, txn, sizeof n) < 0)
        return CF_ERR;
    memcpy(txn->data, &n, sizeof n);
    txn->len = sizeof n;
    return CF_OK;
}

static int
tpc_commit(cf_ctx_t *ctx, const void *txn, uint32_t len)
{
    long long n;
    (void)ctx;
    if (len != sizeof n)
        return CF_ERR;
    memcpy(&n, txn, sizeof n);
    atomic_fetch_add(&tpc_committed, n);
    atomic_fetch_add(&tpc_commits, 1);
    return CF_OK;
}

static int
tpc_finish(cf_ctx_t *ctx)
{
    (void)ctx;
    atomic_fetch_add(&tpc_finished, 1);
    return CF_OK;
}

static void
tpc_close(cf_ctx_t *ctx)
{
    (void)ctx;
    atomic_fetch_add(&tpc_closed, 1);
}

static const cf_2pc_sink_ops_t tpc_ops = {
    sizeof(cf_2pc_sink_ops_t), tpc_open, tpc_invoke, tpc_pre_commit,
    tpc_commit, NULL, tpc_finish, tpc_close};

static void
test_sink_2pc(void **st)
{
    cf_config_t *cfg = cf_config_new();
    cf_task_spec_t spec;
    char dir[] = "/tmp/cf_ckpt_2pc_XXXXXX";
    char cmd[128];
    (void)st;

    assert_non_null(mkdtemp(dir));
    for (int ck = 0; ck <= 1; ck++) {
        cf_job_t *job = CF_NEW(cf_job_t);
        cf_error_t *err = NULL;
        cf_stream_t *s;
        dep_t d;

        job->env = cf_env_new(cfg, 1);
        job->cfg = cfg;
        cf_id_random(&job->job_id);
        cf_id_to_hex(&job->job_id, job->job_id_hex);
        s = cf_b_env_add_source(job->env, "src", &src_ops, &conf_plain);
        s = cf_b_key_by(s, key_of, NULL);
        cf_b_sink_2pc(s, "tpc", &tpc_ops, NULL);
        assert_null(job->env->error);
        assert_int_equal(cf_jobgraph_build(job, &err), 0);

        counters_reset();
        atomic_store(&src_limit, 700);
        atomic_store(&tpc_open_n, 0);
        atomic_store(&tpc_committed, 0);
        atomic_store(&tpc_commits, 0);
        atomic_store(&tpc_opened, 0);
        atomic_store(&tpc_finished, 0);
        atomic_store(&tpc_closed, 0);
        memset(&spec, 0, sizeof spec);
        spec.checkpointing = ck;
        spec.exactly_once = 1;
        spec.ckpt_cbs = &cbs;
        deploy(&d, job, &spec);
        if (ck) {
            /* Nothing is committed before a checkpoint completes. */
            for (int i = 0; i < 400 && atomic_load(&tpc_finished) == 0; i++)
                cf_sleep_ms(5);
            assert_int_equal(atomic_load(&tpc_finished), 1);
            assert_int_equal(atomic_load(&tpc_commits), 0);
            /* A directory that does not exist: declined, naming it. */
            trigger(d.t[0][0], 1, CF_CKPT_KIND_CHECKPOINT, 0,
                    "/nonexistent-cf-dir");
            assert_non_null(strstr(wait_got(d.t[1][0], 1, 1)->reason,
                                   "/nonexistent-cf-dir"));
            cf_task_notify_checkpoint(d.t[1][0], 1, 1);
            cf_task_notify_checkpoint(d.t[0][0], 1, 1);
            trigger(d.t[0][0], 2, CF_CKPT_KIND_CHECKPOINT, 0, dir);
            assert_int_equal(wait_got(d.t[1][0], 2, 0)->ack->nops, 1);
            assert_int_equal(atomic_load(&tpc_commits), 0);
            cf_task_notify_checkpoint(d.t[1][0], 2, 0);
            cf_task_notify_checkpoint(d.t[0][0], 2, 0);
        }
        wait_state(d.t[1][0], CF_EXEC_FINISHED);
        /* Without checkpointing the end of input commits; with it, the
         * final checkpoint's completion (the transaction pre-committed
         * at the aborted checkpoint 1 goes with 2). */
        assert_int_equal(atomic_load(&tpc_committed), 700);
        assert_int_equal(atomic_load(&tpc_commits), ck ? 2 : 1);
        assert_int_equal(atomic_load(&tpc_opened), 1);
        assert_int_equal(atomic_load(&tpc_finished), 1);
        assert_int_equal(atomic_load(&tpc_closed), 1);
        undeploy(&d);
        got_reset();
        job_free(job);
    }
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    cf_config_destroy(cfg);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gate_block),
        cmocka_unit_test(test_align_exactly_once),
        cmocka_unit_test(test_align_at_least_once),
        cmocka_unit_test(test_final_checkpoint),
        cmocka_unit_test(test_stop_with_savepoint),
        cmocka_unit_test(test_state_restore),
        cmocka_unit_test(test_sink_2pc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
