/*
 * task.h: a running subtask (Flink's StreamTask): one thread, one chain of
 * operator instances, record writers for its non-chained outputs, and an
 * input gate over all its input channels.
 */
#ifndef CF_TASK_H
#define CF_TASK_H

#include "runtime_int.h"

typedef struct cf_exec_s cf_exec_t;

struct cf_task_s {
    cf_exec_t *exec;
    cf_job_t *job;
    cf_jvertex_t *vertex;
    int vertex_idx;
    int subtask;
    char *name; /* "Source: x -> Map (1/2)#0" */
    pthread_t thread;
    int started;
    cf_signal_t sig; /* input, free buffers, cancellation */
    atomic_int cancel;
    atomic_int state; /* cf_exec_state_t */
    atomic_int user_failed;
    char *failure;

    cf_ctx_t *ctxs; /* one per operator of the vertex */
    int nctxs;
    cf_rw_t *writers; /* one per vertex output */
    int nwriters;
    cf_net_pool_t **pools;

    cf_net_gate_t *gate; /* NULL for sources */
    cf_net_reader_t *readers;
    int nchannels;
    int live_channels;
    uint32_t since_cancel_check;

    int attempt;
    cf_task_state_cb state_cb; /* cluster tasks (deploy.c), or NULL */
    void *cb_arg;
    atomic_int connected; /* output subpartitions connected so far */
    int nsubparts;        /* over all outputs */

    int64_t flush_interval_ns; /* < 0: flush only full buffers */
    int64_t next_flush_ns;
    int64_t start_ms, end_ms;
};

/* Create the task's operator instances and input gate (exec.c wires the
 * writers). Thread: executor. */
cf_task_t *cf_task_new(cf_exec_t *exec, cf_job_t *job, int vertex_idx,
                       int subtask, int attempt, int nchannels,
                       int64_t flush_ns);
/* Reserve output o's pool from net and set up its record writer (the
 * subpartitions are connected later). minimal: reserve only Flink's
 * minimum (n + 1 buffers for n subpartitions). Thread: executor. */
int cf_task_output_setup(cf_task_t *t, int o, cf_net_env_t *net,
                         int minimal, cf_error_t **errp);
/* Buffers output o of vertex v wants for n subpartitions (Flink's
 * n * buffers-per-channel + floating-buffers-per-gate, at least n + 1). */
int cf_task_output_buffers(const cf_config_t *cfg, int n);
void cf_task_destroy(cf_task_t *t);
/* The thread body. */
void *cf_task_main(void *arg);
void cf_task_cancel(cf_task_t *t);
/* Move to a new ExecutionState (checked, logged) and tell the executor. */
void cf_task_transition(cf_task_t *t, cf_exec_state_t to);

/* exec.c: a task changed state. */
void cf_exec_task_changed(cf_exec_t *exec, cf_task_t *t);

#endif /* CF_TASK_H */
