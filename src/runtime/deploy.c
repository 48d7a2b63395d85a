/*
 * deploy.c: subtasks deployed one by one (the TaskManager side of the
 * cluster) and the checks on a JobGraph received from the network.
 *
 * The local executor (exec.c) wires every task of a job at once. A
 * TaskManager gets one subtask at a time in a deployment descriptor: the
 * task is created with its output partitions (pools reserved from the
 * TaskManager's budget) and its input gate; the network manager connects
 * them to their peers; the task thread waits until every output
 * subpartition has its consumer before it runs the chain.
 *
 * A JobGraph from the network is untrusted: cf_job_bind checks every
 * index and count before anything uses it, so a malformed graph fails
 * the deployment with a message instead of crashing the TaskManager.
 */
#include <string.h>

#include "task.h"

#define CF_MAX_PARALLELISM_LIMIT 32768

/* The writer of output o: pool, partition, partitioner and key selector. */
int
cf_task_output_buffers(const cf_config_t *cfg, int n)
{
    int bpc = cf_config_get_int(
        cfg, "taskmanager.network.memory.buffers-per-channel", 2);
    int floating = cf_config_get_int(
        cfg, "taskmanager.network.memory.floating-buffers-per-gate", 8);
    int need = n * bpc + floating;
    return need < n + 1 ? n + 1 : need;
}

int
cf_task_output_setup(cf_task_t *t, int o, cf_net_env_t *net, int minimal,
                     cf_error_t **errp)
{
    cf_job_t *job = t->job;
    cf_jvertex_t *jv = t->vertex;
    cf_jout_t *out = &jv->outs[o];
    cf_jvertex_t *tv = &job->vertices[out->target];
    cf_snode_t *consumer = cf_env_node(job->env, tv->ops[0].node);
    cf_rw_t *w = &t->writers[o];
    int lo, n, need;

    cf_job_edge_consumers(out->partitioner, jv->parallelism, tv->parallelism,
                          t->subtask, &lo, &n);
    need = minimal ? n + 1 : cf_task_output_buffers(job->cfg, n);
    /* Flink's result partition pool lies between n + 1 buffers (enough to
     * make progress) and n * buffers-per-channel + floating; cflink
     * reserves a fixed pool: the full size while the budget allows, else
     * the minimum, so a wide job degrades instead of failing. */
    t->pools[o] = cf_net_pool_new(net, (uint32_t)need, &t->sig, NULL);
    if (t->pools[o] == NULL && need > n + 1) {
        cf_log_info("%s: the network budget cannot reserve %d buffers for "
                    "output %d; using the minimum of %d",
                    t->name, need, o, n + 1);
        t->pools[o] = cf_net_pool_new(net, (uint32_t)(n + 1), &t->sig, errp);
    } else if (t->pools[o] == NULL) {
        t->pools[o] = cf_net_pool_new(net, (uint32_t)need, &t->sig, errp);
    }
    if (t->pools[o] == NULL)
        return CF_ENOBUFS;
    cf_net_partition_init(&w->part, t->pools[o], n, &t->sig, &t->cancel);
    t->nsubparts += n;
    w->partitioner = out->partitioner;
    w->consumers = tv->parallelism;
    w->max_parallelism = tv->max_parallelism;
    cf_keygroup_router_init(&w->router, w->max_parallelism, w->consumers);
    /* The key selector of the HASH edge itself (a union of keyed streams
     * feeds a non-keyed consumer). */
    w->key_fn = consumer->key_fn;
    if (out->edge >= 0 && out->edge < job->env->nedges) {
        /* The output's own edge (cf_job_decode matched it). */
        if (job->env->edges[out->edge].key_fn != NULL)
            w->key_fn = job->env->edges[out->edge].key_fn;
    } else {
        for (int e = 0; e < job->env->nedges; e++) {
            cf_sedge_t *se = &job->env->edges[e];
            if (se->src == jv->ops[out->op].node &&
                se->dst == consumer->id && se->key_fn != NULL)
                w->key_fn = se->key_fn;
        }
    }
    if (out->partitioner == CF_PARTITION_HASH && w->key_fn == NULL)
        return cf_error_set(errp, CF_EGRAPH,
                            "HASH edge into '%s' has no key selector",
                            consumer->name);
    w->key_ctx = &t->ctxs[out->op];
    w->flush_always = t->flush_interval_ns == 0;
    w->rr = n > 1 ? t->subtask % n : 0;
    w->rng = 0x9e3779b97f4a7c15ULL ^ (uint64_t)(t->subtask + 1) * 7919;
    return 0;
}

/* Every index of the decoded graph within bounds, chains acyclic, edges
 * consistent on both ends. */
static int
cf_job_check(cf_job_t *job, cf_error_t **errp)
{
    int nv = job->nvertices;

    if (nv <= 0)
        return cf_error_set(errp, CF_EGRAPH, "JobGraph has no vertices");
    for (int v = 0; v < nv; v++) {
        cf_jvertex_t *jv = &job->vertices[v];
        if (jv->parallelism < 1 ||
            jv->parallelism > CF_MAX_PARALLELISM_LIMIT ||
            jv->max_parallelism < jv->parallelism ||
            jv->max_parallelism > CF_MAX_PARALLELISM_LIMIT)
            return cf_error_set(errp, CF_EGRAPH,
                                "vertex '%s': parallelism %d / max "
                                "parallelism %d out of range",
                                jv->name, jv->parallelism,
                                jv->max_parallelism);
        if (jv->nops < 1)
            return cf_error_set(errp, CF_EGRAPH,
                                "vertex '%s' has no operators", jv->name);
        for (int k = 0; k < jv->nops; k++) {
            cf_jop_t *op = &jv->ops[k];
            for (int c = 0; c < op->nchained; c++)
                if (op->chained[c] <= k || op->chained[c] >= jv->nops)
                    return cf_error_set(errp, CF_EGRAPH,
                                        "vertex '%s': bad chained operator "
                                        "index %d",
                                        jv->name, op->chained[c]);
            for (int c = 0; c < op->noutputs; c++)
                if (op->outputs[c] < 0 || op->outputs[c] >= jv->nouts)
                    return cf_error_set(errp, CF_EGRAPH,
                                        "vertex '%s': bad output index %d",
                                        jv->name, op->outputs[c]);
        }
        for (int o = 0; o < jv->nouts; o++) {
            cf_jout_t *out = &jv->outs[o];
            cf_jvertex_t *tv;
            if (out->op < 0 || out->op >= jv->nops || out->target <= v ||
                out->target >= nv || out->partitioner < 1 ||
                out->partitioner > CF_PARTITION_HASH)
                return cf_error_set(errp, CF_EGRAPH,
                                    "vertex '%s': bad output %d", jv->name,
                                    o);
            tv = &job->vertices[out->target];
            if (out->target_gate < 0 || out->target_gate >= tv->nins ||
                tv->ins[out->target_gate].source != v ||
                tv->ins[out->target_gate].out_idx != o)
                return cf_error_set(errp, CF_EGRAPH,
                                    "vertex '%s': output %d does not match "
                                    "the input of '%s'",
                                    jv->name, o, tv->name);
        }
        for (int in = 0; in < jv->nins; in++) {
            cf_jin_t *ji = &jv->ins[in];
            if (ji->source < 0 || ji->source >= v ||
                ji->out_idx < 0 ||
                ji->out_idx >= job->vertices[ji->source].nouts ||
                job->vertices[ji->source].outs[ji->out_idx].target != v)
                return cf_error_set(errp, CF_EGRAPH,
                                    "vertex '%s': bad input %d", jv->name,
                                    in);
        }
    }
    return 0;
}

int
cf_job_bind(cf_job_t *job, const uint8_t *buf, size_t len, cf_error_t **errp)
{
    int rc = cf_job_decode(job, buf, len, errp);
    if (rc < 0)
        return rc;
    return cf_job_check(job, errp);
}

cf_task_t *
cf_task_deploy(cf_job_t *job, const cf_task_spec_t *spec, cf_error_t **errp)
{
    cf_task_t *t;
    cf_jvertex_t *jv;
    int rc = 0;

    if (spec->vertex < 0 || spec->vertex >= job->nvertices) {
        cf_error_set(errp, CF_EINVAL, "job %s has no vertex %d",
                     job->job_id_hex, spec->vertex);
        return NULL;
    }
    jv = &job->vertices[spec->vertex];
    if (spec->subtask < 0 || spec->subtask >= jv->parallelism) {
        cf_error_set(errp, CF_EINVAL,
                     "vertex '%s' has no subtask %d (parallelism %d)",
                     jv->name, spec->subtask, jv->parallelism);
        return NULL;
    }
    if (spec->nchannels < 0 || (jv->nins > 0) != (spec->nchannels > 0)) {
        cf_error_set(errp, CF_EINVAL,
                     "vertex '%s' has %d inputs but %d input channels were "
                     "given",
                     jv->name, jv->nins, spec->nchannels);
        return NULL;
    }
    {
        /* The channels the graph implies: a wrong count would leave the
         * task waiting for a channel that never delivers. */
        int want = 0;
        for (int in = 0; in < jv->nins; in++) {
            cf_jvertex_t *src = &job->vertices[jv->ins[in].source];
            int part = src->outs[jv->ins[in].out_idx].partitioner;
            for (int i = 0; i < src->parallelism; i++) {
                int lo, n;
                cf_job_edge_consumers(part, src->parallelism,
                                      jv->parallelism, i, &lo, &n);
                want += spec->subtask >= lo && spec->subtask < lo + n;
            }
        }
        if (want != spec->nchannels) {
            cf_error_set(errp, CF_EINVAL,
                         "subtask %d of vertex '%s' reads %d input "
                         "channels, but %d were given",
                         spec->subtask, jv->name, want, spec->nchannels);
            return NULL;
        }
    }
    t = cf_task_new(NULL, job, spec->vertex, spec->subtask, spec->attempt,
                    spec->nchannels, cf_runtime_flush_ns(job->cfg));
    t->state_cb = spec->state_cb;
    t->cb_arg = spec->cb_arg;
    t->ckpt_on = spec->checkpointing != 0;
    t->exactly_once = spec->exactly_once != 0;
    t->compress = spec->compress != 0;
    t->ckpt_cbs = spec->ckpt_cbs;
    t->restore = cf_task_restore_copy(spec->restore);
    for (int o = 0; o < t->nwriters && rc == 0; o++)
        rc = cf_task_output_setup(t, o, spec->net, 0, errp);
    if (rc < 0) {
        cf_task_free(t);
        return NULL;
    }
    cf_task_transition(t, CF_EXEC_SCHEDULED);
    return t;
}

int
cf_task_noutputs(const cf_task_t *t)
{
    return t->nwriters;
}

cf_net_partition_t *
cf_task_output(cf_task_t *t, int o)
{
    return o >= 0 && o < t->nwriters ? &t->writers[o].part : NULL;
}

cf_net_gate_t *
cf_task_gate(cf_task_t *t)
{
    return t->gate;
}

int
cf_task_subpartitions(const cf_task_t *t)
{
    return t->nsubparts;
}

atomic_int *
cf_task_connected(cf_task_t *t)
{
    return &t->connected;
}

cf_signal_t *
cf_task_signal(cf_task_t *t)
{
    return &t->sig;
}

const char *
cf_task_name_get(const cf_task_t *t)
{
    return t->name;
}

cf_exec_state_t
cf_task_state(const cf_task_t *t)
{
    return (cf_exec_state_t)atomic_load(&((cf_task_t *)t)->state);
}

void
cf_task_counters(const cf_task_t *t, int64_t *records_in,
                 int64_t *records_out, int64_t *bytes_in, int64_t *bytes_out)
{
    int64_t ri = 0, ro = 0, bi = 0, bo = 0;
    /* Racy reads of plain counters: good enough for metrics. */
    for (int c = 0; c < t->nchannels; c++) {
        ri += (int64_t)t->readers[c].records_in;
        bi += (int64_t)t->readers[c].bytes_in;
    }
    for (int o = 0; o < t->nwriters; o++) {
        if (t->pools[o] == NULL)
            continue;
        ro += (int64_t)t->writers[o].part.records_out;
        bo += (int64_t)t->writers[o].part.bytes_out;
    }
    *records_in = ri;
    *records_out = ro;
    *bytes_in = bi;
    *bytes_out = bo;
}

int
cf_task_start(cf_task_t *t, cf_error_t **errp)
{
    cf_task_transition(t, CF_EXEC_DEPLOYING);
    if (pthread_create(&t->thread, NULL, cf_task_main, t) != 0)
        return cf_error_set(errp, CF_EIO, "cannot start the thread of %s",
                            t->name);
    t->started = 1;
    return 0;
}

void
cf_task_join(cf_task_t *t)
{
    if (t->started) {
        pthread_join(t->thread, NULL);
        t->started = 0;
    }
}

void
cf_task_free(cf_task_t *t)
{
    if (t == NULL)
        return;
    cf_task_join(t);
    if (t->gate != NULL) {
        cf_net_gate_destroy(t->gate);
        t->gate = NULL;
    }
    for (int c = 0; c < t->nchannels; c++)
        cf_net_reader_deinit(&t->readers[c]);
    for (int o = 0; o < t->nwriters; o++) {
        if (t->pools[o] == NULL)
            continue;
        cf_net_partition_deinit(&t->writers[o].part);
        /* A local consumer may still hold some of its buffers: the pool
         * goes when the last one comes back. */
        cf_net_pool_release(t->pools[o]);
        t->pools[o] = NULL;
    }
    cf_task_destroy(t);
}
