/*
 * exec.c: the local executor (Flink's MiniCluster): runs every subtask of
 * a job as a thread of this process, connected by local channels that
 * hand buffers over by pointer.
 *
 * Memory: one network budget (taskmanager.memory.network.*, segments of
 * taskmanager.memory.segment-size); every result partition (a task's
 * non-chained output) gets a pool of subpartitions x
 * buffers-per-channel + floating-buffers-per-gate segments from it, fixed
 * for the job's life. Consumers read producers' buffers in place and
 * recycle them, so these pools are all the data memory there is.
 *
 * Connections: all-to-all for HASH, REBALANCE, SHUFFLE, BROADCAST and
 * GLOBAL edges; pointwise for FORWARD and RESCALE (Flink's
 * DistributionPattern.POINTWISE, see cf_job_edge_consumers).
 *
 * Local runs do not checkpoint: tasks are created without checkpoint
 * settings (cf_task_spec_t's fields stay zero), so a task ends as soon as
 * its input ended (END_OF_DATA, then END_OF_PARTITION downstream).
 *
 * Job status follows Flink: CREATED -> RUNNING -> FINISHED, or FAILING ->
 * FAILED when a task fails (the others are cancelled), or CANCELLING ->
 * CANCELED.
 */
#include <string.h>

#include "task.h"

struct cf_exec_s {
    cf_job_t *job;
    cf_net_env_t *net;
    cf_task_t **tasks;
    int ntasks;
    cf_signal_t sig; /* a task changed state */
    cf_job_status_t status;
    pthread_mutex_t mu; /* failure */
    char *failure;
};

static int
cf_edge_pointwise(int partitioner)
{
    return partitioner == CF_PARTITION_FORWARD ||
           partitioner == CF_PARTITION_RESCALE;
}

/* Consumers [*lo, *lo + *n) of producer i, as Flink's
 * EdgeManagerBuildUtil.connectPointwise: with P >= C, consumer k reads
 * producers [k*P/C, (k+1)*P/C); with P < C, producer i feeds consumers
 * [ceil(i*C/P), ceil((i+1)*C/P)). */
void
cf_job_edge_consumers(int partitioner, int P, int C, int i, int *lo, int *n)
{
    if (!cf_edge_pointwise(partitioner)) {
        *lo = 0;
        *n = C;
    } else if (P >= C) {
        /* The k whose producer range holds i (floor(i*C/P) is at most
         * one below it). */
        int64_t k = (int64_t)i * C / P;
        while (k + 1 < C && (k + 1) * P / C <= i)
            k++;
        *lo = (int)k;
        *n = 1;
    } else {
        *lo = (int)(((int64_t)i * C + P - 1) / P);
        *n = (int)(((int64_t)(i + 1) * C + P - 1) / P) - *lo;
    }
}

static int
cf_edge_connected(int partitioner, int P, int C, int i, int k)
{
    int lo, n;
    cf_job_edge_consumers(partitioner, P, C, i, &lo, &n);
    return k >= lo && k < lo + n;
}

/* The network memory budget from taskmanager.memory.network.* (Flink's
 * derivation: fraction of the total Flink memory, within [min, max]). */
int64_t
cf_runtime_network_bytes(const cf_config_t *cfg)
{
    int64_t mn = cf_config_get_memory(cfg, "taskmanager.memory.network.min",
                                      64LL << 20);
    int64_t mx = cf_config_get_memory(cfg, "taskmanager.memory.network.max",
                                      INT64_MAX);
    double fr = cf_config_get_double(cfg, "taskmanager.memory.network.fraction",
                                     0.1);
    int64_t flink = cf_config_get_memory(cfg, "taskmanager.memory.flink.size",
                                         -1);
    int64_t net;

    if (flink <= 0) {
        int64_t proc = cf_config_get_memory(
            cfg, "taskmanager.memory.process.size", 1728LL << 20);
        int64_t overhead = (int64_t)((double)proc * 0.1);
        if (overhead < (192LL << 20))
            overhead = 192LL << 20;
        if (overhead > (1LL << 30))
            overhead = 1LL << 30;
        flink = proc - overhead - (256LL << 20);
    }
    net = (int64_t)((double)flink * fr);
    if (net < mn)
        net = mn;
    if (net > mx)
        net = mx;
    return net;
}

int64_t
cf_runtime_flush_ns(const cf_config_t *cfg)
{
    int64_t ms;
    if (!cf_config_get_bool(cfg, "execution.buffer-timeout.enabled", 1))
        return -1;
    ms = cf_config_get_duration_ms(cfg, "execution.buffer-timeout.interval",
                                   100);
    return ms < 0 ? -1 : ms * 1000000LL;
}

static void
cf_exec_set_status(cf_exec_t *ex, cf_job_status_t to)
{
    cf_job_t *job = ex->job;
    if (ex->status == to)
        return;
    if (!cf_job_status_can_move(ex->status, to)) {
        cf_log_warn("Job %s: illegal transition %s -> %s ignored",
                    job->job_id_hex, cf_job_status_name(ex->status),
                    cf_job_status_name(to));
        return;
    }
    cf_log_info("Job %s (%s) switched from state %s to %s.",
                cf_job_name(job), job->job_id_hex,
                cf_job_status_name(ex->status), cf_job_status_name(to));
    ex->status = to;
}

void
cf_exec_task_changed(cf_exec_t *ex, cf_task_t *t)
{
    if (atomic_load(&t->state) == CF_EXEC_FAILED) {
        pthread_mutex_lock(&ex->mu);
        if (ex->failure == NULL)
            ex->failure = cf_asprintf("%s: %s", t->name,
                                      t->failure ? t->failure : "failed");
        pthread_mutex_unlock(&ex->mu);
    }
    cf_signal_notify(&ex->sig);
}

/* Build the tasks and wire their outputs to their consumers' gates. */
static int
cf_exec_deploy(cf_exec_t *ex, cf_error_t **errp)
{
    cf_job_t *job = ex->job;
    const cf_config_t *cfg = job->cfg;
    int64_t flush_ns = cf_runtime_flush_ns(cfg);
    int minimal = 0;
    int **base = cf_calloc((size_t)job->nvertices, sizeof(int *));
    int *first = cf_calloc((size_t)job->nvertices + 1, sizeof(int));
    int rc = 0;

    for (int v = 0; v < job->nvertices; v++) {
        first[v] = ex->ntasks;
        ex->ntasks += job->vertices[v].parallelism;
    }
    first[job->nvertices] = ex->ntasks;
    ex->tasks = cf_calloc((size_t)ex->ntasks, sizeof(cf_task_t *));

    /* Channels of each consumer subtask: its inputs in order; per input
     * the connected producers in index order. base[v][k * nins + in] is
     * the first channel of input `in` of subtask k. */
    for (int v = 0; v < job->nvertices; v++) {
        cf_jvertex_t *jv = &job->vertices[v];
        base[v] = cf_calloc((size_t)(jv->parallelism * (jv->nins + 1)),
                            sizeof(int));
        for (int k = 0; k < jv->parallelism; k++) {
            int nch = 0;
            for (int in = 0; in < jv->nins; in++) {
                cf_jvertex_t *src = &job->vertices[jv->ins[in].source];
                int part = src->outs[jv->ins[in].out_idx].partitioner;
                base[v][k * (jv->nins + 1) + in] = nch;
                for (int i = 0; i < src->parallelism; i++)
                    nch += cf_edge_connected(part, src->parallelism,
                                             jv->parallelism, i, k);
            }
            base[v][k * (jv->nins + 1) + jv->nins] = nch;
            ex->tasks[first[v] + k] =
                cf_task_new(ex, job, v, k, 0, nch, flush_ns);
        }
    }

    /* Every pool at its full size if the budget covers them all, else
     * every pool at Flink's minimum (n + 1), decided once for the job. */
    {
        int64_t want = 0;
        for (int v = 0; v < job->nvertices; v++) {
            cf_jvertex_t *jv = &job->vertices[v];
            for (int i = 0; i < jv->parallelism; i++)
                for (int o = 0; o < jv->nouts; o++) {
                    int lo, n;
                    cf_job_edge_consumers(
                        jv->outs[o].partitioner, jv->parallelism,
                        job->vertices[jv->outs[o].target].parallelism, i,
                        &lo, &n);
                    want += cf_task_output_buffers(cfg, n);
                }
        }
        if (want > cf_net_env_free_segments(ex->net)) {
            minimal = 1;
            cf_log_info("The network budget (%lld buffers) cannot hold the "
                        "full pools of this job (%lld buffers): every "
                        "result partition gets Flink's minimum of one "
                        "buffer per subpartition plus one.",
                        (long long)cf_net_env_free_segments(ex->net),
                        (long long)want);
        }
    }

    /* Writers: one result partition per output per producer subtask. */
    for (int v = 0; v < job->nvertices && rc == 0; v++) {
        cf_jvertex_t *jv = &job->vertices[v];
        for (int i = 0; i < jv->parallelism && rc == 0; i++) {
            cf_task_t *t = ex->tasks[first[v] + i];
            for (int o = 0; o < jv->nouts; o++) {
                cf_jout_t *out = &jv->outs[o];
                cf_jvertex_t *tv = &job->vertices[out->target];
                cf_rw_t *w = &t->writers[o];
                int lo, n;

                cf_job_edge_consumers(out->partitioner, jv->parallelism,
                                      tv->parallelism, i, &lo, &n);
                if ((rc = cf_task_output_setup(t, o, ex->net, minimal,
                                               errp)) < 0)
                    break;
                for (int s = 0; s < n; s++) {
                    int k = lo + s, ch = 0;
                    cf_task_t *c = ex->tasks[first[out->target] + k];
                    for (int j = 0; j < i; j++)
                        ch += cf_edge_connected(out->partitioner,
                                                jv->parallelism,
                                                tv->parallelism, j, k);
                    ch += base[out->target][k * (tv->nins + 1) +
                                            out->target_gate];
                    cf_net_partition_connect(&w->part, s, c->gate, ch);
                }
                /* Local wiring is complete before any task starts. */
                atomic_fetch_add(&t->connected, n);
            }
        }
    }
    for (int v = 0; v < job->nvertices; v++)
        cf_free(base[v]);
    cf_free(base);
    cf_free(first);
    return rc;
}

static void
cf_exec_teardown(cf_exec_t *ex)
{
    /* Phase 1: give every buffer back to its pool. */
    for (int i = 0; i < ex->ntasks; i++) {
        cf_task_t *t = ex->tasks[i];
        if (t == NULL)
            continue;
        if (t->gate)
            cf_net_gate_destroy(t->gate);
        for (int c = 0; c < t->nchannels; c++)
            cf_net_reader_deinit(&t->readers[c]);
        for (int w = 0; w < t->nwriters; w++)
            if (t->pools[w])
                cf_net_partition_deinit(&t->writers[w].part);
    }
    /* Phase 2: pools and tasks. */
    for (int i = 0; i < ex->ntasks; i++)
        cf_task_destroy(ex->tasks[i]);
    cf_free(ex->tasks);
}

static void
cf_exec_cancel_all(cf_exec_t *ex)
{
    for (int i = 0; i < ex->ntasks; i++) {
        cf_task_t *t = ex->tasks[i];
        if (!cf_exec_state_is_terminal((cf_exec_state_t)atomic_load(&t->state)))
            cf_task_cancel(t);
    }
}

int
cf_job_run_local(cf_job_t *job, const volatile sig_atomic_t *cancel,
                 cf_local_result_t *res, cf_error_t **errp)
{
    cf_exec_t ex;
    uint8_t *pb = NULL;
    size_t pblen = 0;
    int rc, cancelled = 0;
    uint64_t seen = 0;

    memset(res, 0, sizeof *res);
    memset(&ex, 0, sizeof ex);
    ex.job = job;
    ex.status = CF_JOB_INITIALIZING;
    cf_signal_init(&ex.sig);
    pthread_mutex_init(&ex.mu, NULL);
    res->start_ms = cf_now_ms();

    /* Deploy from the encoded JobGraph, as a TaskManager will. */
    cf_job_encode(job, &pb, &pblen);
    rc = cf_job_decode(job, pb, pblen, errp);
    cf_free(pb);
    if (rc < 0)
        goto out;

    ex.net = cf_net_env_new(
        cf_runtime_network_bytes(job->cfg),
        (uint32_t)cf_config_get_memory(job->cfg,
                                       "taskmanager.memory.segment-size",
                                       32 * 1024));
    cf_exec_set_status(&ex, CF_JOB_CREATED);
    if ((rc = cf_exec_deploy(&ex, errp)) < 0) {
        cf_exec_set_status(&ex, CF_JOB_FAILED);
        goto teardown;
    }
    for (int i = 0; i < ex.ntasks; i++) {
        cf_task_transition(ex.tasks[i], CF_EXEC_SCHEDULED);
        cf_task_transition(ex.tasks[i], CF_EXEC_DEPLOYING);
    }
    cf_exec_set_status(&ex, CF_JOB_RUNNING);
    for (int i = 0; i < ex.ntasks; i++) {
        cf_task_t *t = ex.tasks[i];
        if (pthread_create(&t->thread, NULL, cf_task_main, t) != 0) {
            rc = cf_error_set(errp, CF_EIO, "cannot start thread for %s",
                              t->name);
            cf_exec_set_status(&ex, CF_JOB_FAILING);
            cf_exec_cancel_all(&ex);
            break;
        }
        t->started = 1;
    }

    /* Wait for every task to end; react to failures and cancellation. */
    for (;;) {
        int done = 0, failed = 0;
        seen = cf_signal_count(&ex.sig);
        for (int i = 0; i < ex.ntasks; i++) {
            cf_exec_state_t s =
                (cf_exec_state_t)atomic_load(&ex.tasks[i]->state);
            if (!ex.tasks[i]->started || cf_exec_state_is_terminal(s))
                done++;
            failed += s == CF_EXEC_FAILED;
        }
        if (failed && ex.status == CF_JOB_RUNNING) {
            cf_exec_set_status(&ex, CF_JOB_FAILING);
            cf_exec_cancel_all(&ex);
        }
        if (!cancelled && cancel && *cancel) {
            cancelled = 1;
            if (ex.status == CF_JOB_RUNNING)
                cf_exec_set_status(&ex, CF_JOB_CANCELLING);
            cf_exec_cancel_all(&ex);
        }
        if (done == ex.ntasks)
            break;
        cf_signal_wait(&ex.sig, &seen, cf_mono_ns() + 100 * 1000000LL);
    }
    for (int i = 0; i < ex.ntasks; i++)
        if (ex.tasks[i]->started)
            pthread_join(ex.tasks[i]->thread, NULL);

    if (ex.status == CF_JOB_FAILING)
        cf_exec_set_status(&ex, CF_JOB_FAILED);
    else if (ex.status == CF_JOB_CANCELLING)
        cf_exec_set_status(&ex, CF_JOB_CANCELED);
    else if (ex.status == CF_JOB_RUNNING)
        cf_exec_set_status(&ex, CF_JOB_FINISHED);

teardown:
    cf_exec_teardown(&ex);
    cf_net_env_destroy(ex.net);
out:
    res->end_ms = cf_now_ms();
    res->status = ex.status == CF_JOB_INITIALIZING ? CF_JOB_FAILED
                                                   : ex.status;
    if (res->status == CF_JOB_FAILED) {
        if (ex.failure)
            res->failure = cf_strdup(ex.failure);
        else if (errp && *errp)
            res->failure = cf_strdup(cf_error_msg(*errp));
    }
    cf_free(ex.failure);
    pthread_mutex_destroy(&ex.mu);
    cf_signal_deinit(&ex.sig);
    return rc;
}
