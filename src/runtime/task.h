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

    /* Mailbox (Flink's MailboxProcessor): mails posted by any thread,
     * drained by the task thread between buffers / next() calls. nmail
     * is the hot-path check (one relaxed load). */
    pthread_mutex_t mail_mu;
    struct cf_mail_s *mails; /* FIFO, mail_len from mail_head */
    int mail_head, mail_len, mail_cap;
    int mail_closed; /* the thread ended: triggers are declined */
    atomic_int nmail;

    /* Checkpointing (cf_task_spec_t; zero for local runs) */
    int ckpt_on, exactly_once, compress;
    const cf_task_ckpt_cbs_t *ckpt_cbs;
    cf_task_restore_t *restore; /* deep copy, or NULL */
    atomic_int snap_inflight;   /* async parts not yet done */
    int kstate_dirty; /* a snapshot was released: maintain backends */

    /* Input channels: 0 live, 1 END_OF_DATA, 2 END_OF_PARTITION */
    uint8_t *ch_end;
    int eod_channels; /* channels with END_OF_DATA or END_OF_PARTITION */
    int eod_nodrain;  /* an END_OF_DATA said drain = 0 */

    /* Barrier alignment (one pending checkpoint) */
    int64_t align_id; /* 0: none */
    int64_t align_ts;
    int align_kind, align_drain;
    char *align_loc;
    uint8_t *align_seen; /* per channel */
    int align_nseen;
    int64_t align_start_ns;
    uint64_t align_bytes0;
    int64_t last_barrier_id; /* newest checkpoint handled or aborted */
    struct cf_mail_s *deferred; /* trigger waiting for the inputs' end */

    /* End of input and the final checkpoint (FLIP-147) */
    int input_ended;      /* finish ran, END_OF_DATA sent */
    int64_t final_id;     /* first barrier after the end of input */
    int64_t last_sync_sp; /* sync savepoint awaiting its notification */
    int64_t last_completed; /* newest completed checkpoint notified */
    int stop_nodrain;     /* source: stop without drain at last_sync_sp */
    int finished_on_restore; /* every operator had finished */

    /* Event time (eventtime.c). Input side, per channel: the channel's
     * last watermark and its status (CF_ET_CH_* flags); the task's input
     * watermark is the minimum over the active, aligned channels that
     * have not ended, and only advances. */
    int64_t *ch_wm;
    uint8_t *ch_wmflags;
    int64_t in_wm;  /* the watermark given to the head operator */
    int in_idle;    /* every live input channel is idle */
    /* Operators with work on a clock: periodic watermark generators
     * (CF_OP_TIMESTAMPS) and operators that may hold processing-time
     * timers (windows, keyed process functions with on_timer). */
    int *et_gens, net_gens;
    int *et_timers, net_timers;
    int *et_wins, net_wins;
    int et_poll;               /* any of them: the loop calls cf_et_poll */
    int64_t wm_interval_ns;    /* pipeline.auto-watermark-interval, 0 off */
    int64_t et_next_periodic_ns;
    int64_t et_wake_ns;        /* the loop wakes up by then (monotonic) */
    int64_t pt_next;           /* earliest processing-time timer seen */
    int64_t pt_wake_ns;        /* when it is due (monotonic estimate) */
    /* Metrics (cf_task_input_watermark, cf_task_late_records_dropped):
     * written by the task thread, read by any. */
    _Atomic int64_t wm_metric;
    _Atomic uint64_t late_metric;
    /* Busy / back-pressured / idle time (cf_task_times, Flink's
     * TaskIOMetricGroup timers): the loop's waits and the record
     * writers' waits for a buffer are metered on meter (read by any
     * thread) when times_on (cf_runtime_task_times_enable, read once
     * when the task starts RUNNING). run_start_ns / run_end_ns
     * (monotonic, 0: not yet) bound the RUNNING time. */
    cf_net_wait_meter_t meter;
    int times_on;
    _Atomic int64_t run_start_ns, run_end_ns;
};

/* Channel watermark flags (t->ch_wmflags). */
#define CF_ET_CH_IDLE 1      /* the producer said idle */
#define CF_ET_CH_UNALIGNED 2 /* active again, still behind in_wm */

/* eventtime.c: the task side of event time. Thread: the task's. */
/* Set up the per-channel state and the lists of clocked operators (end
 * of cf_task_new), and free them. */
void cf_et_task_init(cf_task_t *t);
void cf_et_task_free(cf_task_t *t);
/* A CF_NET_EV_WATERMARK or CF_NET_EV_WATERMARK_STATUS event on channel
 * ch of an input task. */
int cf_et_on_event(cf_task_t *t, int ch, const cf_net_buf_t *buf);
/* Channel ch ended (END_OF_DATA / END_OF_PARTITION): it no longer holds
 * back the input watermark. */
int cf_et_channel_ended(cf_task_t *t, int ch);
/* A drained end of input: CF_WATERMARK_MAX through the chain (before
 * finish). */
int cf_et_end_of_input(cf_task_t *t);
/* Periodic watermarks, idleness and processing-time timers that are due
 * (t->et_poll only). */
int cf_et_poll(cf_task_t *t);
/* numLateRecordsDropped of the window operators and interval joins into
 * t->late_metric. */
void cf_et_update_late(cf_task_t *t);
/* ctx's input watermark advanced to wm (or a MAX): fire its event-time
 * timers, then pass wm on to its outputs. */
int cf_ctx_on_watermark(cf_ctx_t *ctx, int64_t wm);
/* The CF_OP_TIMESTAMPS operator. */
int cf_et_timestamps_open(cf_ctx_t *ctx);
int cf_et_timestamps_invoke(cf_ctx_t *ctx, const cf_record_t *r);
void cf_et_timestamps_close(cf_ctx_t *ctx);

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
/* A deep copy of a restore description (NULL for NULL). */
cf_task_restore_t *cf_task_restore_copy(const cf_task_restore_t *r);
/* The thread body. */
void *cf_task_main(void *arg);
void cf_task_cancel(cf_task_t *t);
/* Move to a new ExecutionState (checked, logged) and tell the executor. */
void cf_task_transition(cf_task_t *t, cf_exec_state_t to);

/* exec.c: a task changed state. */
void cf_exec_task_changed(cf_exec_t *exec, cf_task_t *t);

#endif /* CF_TASK_H */
