/*
 * cflink.h: the public job plugin API (the plugin ABI).
 *
 * A job plugin is a shared library that includes this header and nothing
 * else of cflink. It exports one descriptor (CF_PLUGIN below) whose entry
 * function builds a dataflow with the DataStream-like builder in this file,
 * as a Flink program's main() does with a StreamExecutionEnvironment.
 *
 * ABI rules.
 *  - The plugin links no host symbol. Every call below is a static inline
 *    wrapper that goes through the host function table (cf_host_api_t),
 *    reached from the first member of every handle.
 *  - The host checks the ABI section (.cflink_abi) of the file before it
 *    loads it: a plugin built for another major version, or for a newer
 *    minor version than the host's, is refused without running its code.
 *  - cf_host_api_t only grows at its end; its first member is its size, so
 *    a wrapper for a function added in a later minor version can test that
 *    the host has it (CF_API_HAS).
 *  - Structs a plugin passes in (cf_source_ops_t, ...) start with a size
 *    field for the same reason.
 *
 * Records are byte slices with an int64 timestamp. A plugin chooses its own
 * encoding (a C struct, text, ...). Emitted bytes are copied by the host (or
 * handed to the next chained operator by pointer), so a function may emit
 * from its stack: no allocation per record is forced on the user.
 *
 * Threads. The entry runs once on the submitting thread (and, on a
 * TaskManager, once more to bind operators to functions: it must build the
 * same graph every time). User functions of one parallel instance (subtask)
 * are called on that subtask's thread only; instances of the same operator
 * run concurrently, so the udata given at build time is shared and must be
 * treated as read-only. Per-instance mutable data goes in the local pointer
 * (cf_ctx_set_local), typically allocated in open and freed in close.
 */
#ifndef CFLINK_CFLINK_H
#define CFLINK_CFLINK_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------ */
/* Versions                                                            */
/* ------------------------------------------------------------------ */

#define CF_ABI_MAGIC 0x4b4c4643u /* "CFLK" */
#define CF_ABI_MAJOR 1
#define CF_ABI_MINOR 2

/* ------------------------------------------------------------------ */
/* Basic types                                                         */
/* ------------------------------------------------------------------ */

/* A record has no timestamp. */
#define CF_NO_TIMESTAMP INT64_MIN

/* Return codes of user functions. Any negative value fails the task;
 * cf_fail() sets the message and returns CF_ERR. */
#define CF_OK 0
#define CF_ERR (-1)

/* Return codes of a source's next(). */
#define CF_SOURCE_MORE 0 /* call next() again soon */
#define CF_SOURCE_IDLE 1 /* nothing available now; the host waits a little */
#define CF_SOURCE_END 2  /* the source is exhausted (bounded input) */

/* A filter's verdicts. */
#define CF_FILTER_DROP 0
#define CF_FILTER_KEEP 1

/* Log levels for cf_log(). */
#define CF_LOG_ERROR 0
#define CF_LOG_WARN 1
#define CF_LOG_INFO 2
#define CF_LOG_DEBUG 3

typedef struct cf_record_s {
    const void *data;
    uint32_t len;
    int64_t ts; /* event timestamp, or CF_NO_TIMESTAMP */
} cf_record_t;

/* A read-only byte slice, borrowed from the host or from a record. */
typedef struct cf_slice_s {
    const void *data;
    uint32_t len;
} cf_slice_t;

/* A growable byte buffer owned by the host (see cf_buf_reserve). A user
 * function may write data[0..cap) and set len. */
typedef struct cf_buf_s {
    uint8_t *data;
    uint32_t len;
    uint32_t cap;
} cf_buf_t;

/* The key a key selector produces: either data points into the record (the
 * cheap case), or the selector writes up to sizeof(scratch) bytes into
 * scratch and points data at it. */
#define CF_KEY_SCRATCH 112
typedef struct cf_key_s {
    const void *data;
    uint32_t len;
    uint8_t scratch[CF_KEY_SCRATCH];
} cf_key_t;

/* Opaque handles. Each begins with a pointer to the host function table. */
typedef struct cf_env_s cf_env_t;       /* the execution environment */
typedef struct cf_stream_s cf_stream_t; /* a DataStream (or KeyedStream) */
typedef struct cf_ctx_s cf_ctx_t;       /* one operator instance at run time */
typedef struct cf_state_s cf_state_t;   /* a keyed state of one instance */

/* ------------------------------------------------------------------ */
/* User functions                                                      */
/* ------------------------------------------------------------------ */

/* map: exactly one output per input. Set *out to the result; out->data may
 * point into in->data or into cf_ctx_scratch() memory. out->ts starts as
 * in->ts. */
typedef int (*cf_map_fn)(cf_ctx_t *ctx, const cf_record_t *in,
                         cf_record_t *out);

/* filter: CF_FILTER_KEEP, CF_FILTER_DROP, or negative on error. */
typedef int (*cf_filter_fn)(cf_ctx_t *ctx, const cf_record_t *in);

/* flat_map and process: emit zero or more records with cf_emit(). */
typedef int (*cf_flat_map_fn)(cf_ctx_t *ctx, const cf_record_t *in);

/* key selector: fill key (see cf_key_t). Called with ctx of the operator
 * on either side of the exchange; it must be a pure function of the
 * record. */
typedef int (*cf_key_fn)(cf_ctx_t *ctx, const cf_record_t *in, cf_key_t *key);

/* reduce: fold in into acc (acc holds the bytes of the previous result,
 * in place; use cf_buf_reserve to grow it). */
typedef int (*cf_reduce_fn)(cf_ctx_t *ctx, cf_buf_t *acc,
                            const cf_record_t *in);

/* Lifecycle hooks, per parallel instance. open runs before the first
 * record; finish runs at the end of a bounded input and may emit; close
 * always runs last (also after failure or cancellation) and must only
 * release resources. */
typedef int (*cf_open_fn)(cf_ctx_t *ctx);
typedef int (*cf_finish_fn)(cf_ctx_t *ctx);
typedef void (*cf_close_fn)(cf_ctx_t *ctx);

/* Checkpointing hooks (ABI 1.1), Flink's CheckpointedFunction and
 * CheckpointListener. snapshot runs on the task thread when the
 * checkpoint's barrier reaches the operator, before the barrier goes on:
 * it puts what the instance keeps outside host state (a read position,
 * say) into operator state (cf_op_state_list); it must not emit. Keyed
 * and operator state are snapshotted by the host without a hook.
 * notify_complete runs when the checkpoint is complete on every task
 * (the JobManager wrote its _metadata), notify_aborted when it will not
 * complete; both are best effort (a later complete checkpoint subsumes an
 * earlier one whose notification was lost). */
typedef int (*cf_snapshot_fn)(cf_ctx_t *ctx, int64_t checkpoint_id);
typedef void (*cf_checkpoint_fn)(cf_ctx_t *ctx, int64_t checkpoint_id);

typedef struct cf_hooks_s {
    uint32_t size; /* sizeof(cf_hooks_t) */
    cf_open_fn open;
    cf_finish_fn finish;
    cf_close_fn close;
    /* ABI 1.1 */
    cf_snapshot_fn snapshot;
    cf_checkpoint_fn notify_complete;
    cf_checkpoint_fn notify_aborted;
} cf_hooks_t;

/* A source. Each parallel instance calls next() in a loop; next emits any
 * number of records (a few thousand at most per call keeps latency low)
 * and returns CF_SOURCE_MORE, CF_SOURCE_IDLE or CF_SOURCE_END. next() may
 * block briefly (tens of milliseconds) waiting for input, never longer:
 * between calls the task handles cancellation and checkpoints. */
typedef struct cf_source_ops_s {
    uint32_t size; /* sizeof(cf_source_ops_t) */
    cf_open_fn open;
    int (*next)(cf_ctx_t *ctx);
    cf_close_fn close;
} cf_source_ops_t;

/* A sink. */
typedef struct cf_sink_ops_s {
    uint32_t size; /* sizeof(cf_sink_ops_t) */
    cf_open_fn open;
    int (*invoke)(cf_ctx_t *ctx, const cf_record_t *in);
    cf_finish_fn finish;
    cf_close_fn close;
} cf_sink_ops_t;

/* A process function (keyed or not). On a keyed stream, keyed state and
 * cf_ctx_key() refer to the key of the record being processed. */
typedef struct cf_process_ops_s {
    uint32_t size; /* sizeof(cf_process_ops_t) */
    cf_open_fn open;
    int (*process)(cf_ctx_t *ctx, const cf_record_t *in);
    cf_finish_fn finish;
    cf_close_fn close;
    /* ABI 1.2: timers fired (cf_timer_register); NULL: none are used.
     * The typedef is cf_on_timer_fn (declared with event time below). */
    int (*on_timer)(cf_ctx_t *ctx, int64_t ts, int time_domain);
} cf_process_ops_t;

/* A two-phase-commit sink (ABI 1.1; Flink's TwoPhaseCommitSinkFunction
 * and the committer of its Sink V2). Records go into the current
 * transaction (invoke). At a checkpoint barrier the host calls
 * pre_commit: end the current transaction (flush and close what it wrote,
 * so that it survives a crash), describe it in txn (bytes the host stores
 * in the checkpoint), and start the next one lazily. When the checkpoint
 * completes, the host calls commit for every transaction pre-committed up
 * to it, in order. After a failure, the subtasks that restore a checkpoint
 * get commit for the transactions stored in it again: commit must be
 * idempotent (committing a committed transaction succeeds). A commit that
 * fails fails the task, and is retried after recovery. abort (optional)
 * drops a transaction that will never be committed: the open one at
 * close after a failure or cancellation. Without checkpointing, the last
 * transaction is pre-committed and committed at the end of the input. */
typedef struct cf_2pc_sink_ops_s {
    uint32_t size; /* sizeof(cf_2pc_sink_ops_t) */
    cf_open_fn open;
    int (*invoke)(cf_ctx_t *ctx, const cf_record_t *in);
    int (*pre_commit)(cf_ctx_t *ctx, int64_t checkpoint_id, cf_buf_t *txn);
    int (*commit)(cf_ctx_t *ctx, const void *txn, uint32_t len);
    void (*abort)(cf_ctx_t *ctx, const void *txn, uint32_t len);
    cf_finish_fn finish;
    cf_close_fn close;
} cf_2pc_sink_ops_t;

/* An aggregate function (Flink's AggregateFunction) for aggregating
 * state (ABI 1.1). add folds in into the accumulator acc (empty, len 0,
 * for a key without one: create it there); result writes the result of
 * acc into out. Both may grow their buffer with cf_buf_reserve. */
typedef struct cf_agg_ops_s {
    uint32_t size; /* sizeof(cf_agg_ops_t) */
    int (*add)(cf_ctx_t *ctx, cf_buf_t *acc, const cf_record_t *in);
    int (*result)(cf_ctx_t *ctx, const cf_slice_t *acc, cf_buf_t *out);
} cf_agg_ops_t;

/* Operator state redistribution modes (cf_op_state_list). */
#define CF_OPSTATE_SPLIT 0 /* getListState: items split over instances */
#define CF_OPSTATE_UNION 1 /* getUnionListState: every instance gets all */

/* State TTL update types (cf_state_ttl), Flink's StateTtlConfig. */
#define CF_TTL_ON_CREATE_AND_WRITE 1
#define CF_TTL_ON_READ_AND_WRITE 2

/* ------------------------------------------------------------------ */
/* Event time (ABI 1.2): timestamps, watermarks, timers, windows       */
/* ------------------------------------------------------------------ */

/* Flink's Long.MIN_VALUE / Long.MAX_VALUE watermarks: none yet / the end
 * of event time (emitted at the end of a bounded input: every event-time
 * timer and window fires). */
#define CF_WATERMARK_MIN INT64_MIN
#define CF_WATERMARK_MAX INT64_MAX

/* Time domains of timers and window assigners. */
#define CF_TIME_EVENT 0
#define CF_TIME_PROCESSING 1

/* A timestamp assigner (Flink's TimestampAssigner): the event time of in
 * in milliseconds. in->ts is the timestamp the record already has (or
 * CF_NO_TIMESTAMP). */
typedef int64_t (*cf_timestamp_fn)(cf_ctx_t *ctx, const cf_record_t *in);

/* A custom watermark generator (Flink's WatermarkGenerator). on_event
 * sees every record with its assigned timestamp and may emit a watermark
 * at once (punctuated) with cf_emit_watermark; on_periodic runs every
 * pipeline.auto-watermark-interval (default 200 ms) and may emit one. */
typedef struct cf_wm_gen_ops_s {
    uint32_t size; /* sizeof(cf_wm_gen_ops_t) */
    int (*on_event)(cf_ctx_t *ctx, const cf_record_t *in, int64_t ts);
    int (*on_periodic)(cf_ctx_t *ctx);
} cf_wm_gen_ops_t;

/* Watermark strategy kinds. */
#define CF_WM_NONE 0       /* timestamps only, no watermarks */
#define CF_WM_MONOTONOUS 1 /* forMonotonousTimestamps: max ts - 1 */
#define CF_WM_BOUNDED 2    /* forBoundedOutOfOrderness: max ts - bound - 1 */
#define CF_WM_CUSTOM 3     /* forGenerator: gen */

/* Flink's WatermarkStrategy. Periodic watermarks (MONOTONOUS, BOUNDED)
 * are emitted every pipeline.auto-watermark-interval when they advance.
 * idle_timeout_ms > 0 (withIdleness): an instance that saw no record for
 * that long is marked idle, and downstream tasks leave it out of their
 * minimum until it emits again. */
typedef struct cf_wm_strategy_s {
    uint32_t size; /* sizeof(cf_wm_strategy_t) */
    int kind;      /* CF_WM_* */
    int64_t max_out_of_orderness_ms; /* BOUNDED */
    int64_t idle_timeout_ms;         /* 0: never idle */
    cf_timestamp_fn timestamp;       /* NULL: keep in->ts */
    const cf_wm_gen_ops_t *gen;      /* CUSTOM */
} cf_wm_strategy_t;

/* A time window [start, end): max_timestamp = end - 1. Global windows
 * are [INT64_MIN, INT64_MAX). */
typedef struct cf_window_s {
    int64_t start;
    int64_t end;
} cf_window_t;

/* Window assigner kinds. */
#define CF_WINDOW_TUMBLING 1
#define CF_WINDOW_SLIDING 2
#define CF_WINDOW_SESSION 3
#define CF_WINDOW_GLOBAL 4

/* Flink's WindowAssigner: Tumbling/Sliding/EventTimeSessionWindows and
 * their processing-time twins, GlobalWindows. Windows are aligned to the
 * epoch plus offset_ms (TimeWindow.getWindowStartWithOffset). The default
 * trigger fires at the end of the window in its time domain; global
 * windows have a never-firing default trigger (set one). */
typedef struct cf_window_assigner_s {
    uint32_t size; /* sizeof(cf_window_assigner_t) */
    int kind;      /* CF_WINDOW_* */
    int time;      /* CF_TIME_EVENT or CF_TIME_PROCESSING */
    int64_t size_ms;   /* TUMBLING, SLIDING */
    int64_t slide_ms;  /* SLIDING */
    int64_t offset_ms; /* TUMBLING, SLIDING; |offset| < slide or size */
    int64_t gap_ms;    /* SESSION */
} cf_window_assigner_t;

/* A delta function (DeltaTrigger, DeltaEvictor): the distance between two
 * elements. */
typedef double (*cf_delta_fn)(cf_ctx_t *ctx, const cf_record_t *a,
                              const cf_record_t *b);

/* Trigger kinds (Flink's built-in triggers). */
#define CF_TRIGGER_DEFAULT 0          /* the assigner's default */
#define CF_TRIGGER_EVENT_TIME 1       /* EventTimeTrigger */
#define CF_TRIGGER_PROCESSING_TIME 2  /* ProcessingTimeTrigger */
#define CF_TRIGGER_COUNT 3            /* CountTrigger.of(count) */
#define CF_TRIGGER_CONTINUOUS_EVENT 4 /* ContinuousEventTimeTrigger(interval) */
#define CF_TRIGGER_CONTINUOUS_PROCESSING 5 /* ContinuousProcessingTime... */
#define CF_TRIGGER_DELTA 6 /* DeltaTrigger.of(threshold, delta) */

typedef struct cf_trigger_s {
    uint32_t size; /* sizeof(cf_trigger_t) */
    int kind;      /* CF_TRIGGER_* */
    int purging;   /* PurgingTrigger.of(...): clear the window on FIRE */
    int64_t count;       /* COUNT */
    int64_t interval_ms; /* CONTINUOUS_* */
    double threshold;    /* DELTA: fires when delta(last fired, in) > it */
    cf_delta_fn delta;   /* DELTA */
} cf_trigger_t;

/* Evictor kinds. */
#define CF_EVICTOR_COUNT 1 /* CountEvictor.of(count): keep the last count */
#define CF_EVICTOR_TIME 2  /* TimeEvictor.of(ms): keep max ts - ms .. */
#define CF_EVICTOR_DELTA 3 /* DeltaEvictor.of(threshold, delta) */

typedef struct cf_evictor_s {
    uint32_t size; /* sizeof(cf_evictor_t) */
    int kind;      /* CF_EVICTOR_* */
    int after;     /* evict after the function (doEvictAfter) */
    int64_t count;      /* COUNT */
    int64_t window_ms;  /* TIME */
    double threshold;   /* DELTA */
    cf_delta_fn delta;  /* DELTA */
} cf_evictor_t;

/* A window function (ProcessWindowFunction): called when a window fires,
 * with all its elements (in arrival order; after eviction) and its
 * bounds; the current key is the window's key (keyed windows). It emits
 * with cf_emit; cf_ctx_timestamp() is the window's max timestamp, which
 * is also the default timestamp of what it emits. Keyed state of the
 * operator is global state of the key (ProcessWindowFunction.Context's
 * globalState). */
typedef struct cf_window_process_ops_s {
    uint32_t size; /* sizeof(cf_window_process_ops_t) */
    cf_open_fn open;
    int (*process)(cf_ctx_t *ctx, const cf_window_t *w,
                   const cf_record_t *elements, uint32_t n);
    cf_close_fn close;
} cf_window_process_ops_t;

/* Flink's ProcessFunction.onTimer / KeyedProcessFunction.onTimer: a timer
 * registered with cf_timer_register fired; the current key is the
 * timer's key, cf_ctx_timestamp() is ts for event-time timers. */
typedef int (*cf_on_timer_fn)(cf_ctx_t *ctx, int64_t ts, int time_domain);

/* A two-input process function (CoProcessFunction, and
 * KeyedCoProcessFunction when both inputs are keyed the same way):
 * process1 gets the records of the first stream, process2 of the second;
 * both share keyed state and timers. */
typedef struct cf_co_process_ops_s {
    uint32_t size; /* sizeof(cf_co_process_ops_t) */
    cf_open_fn open;
    int (*process1)(cf_ctx_t *ctx, const cf_record_t *in);
    int (*process2)(cf_ctx_t *ctx, const cf_record_t *in);
    cf_on_timer_fn on_timer;
    cf_finish_fn finish;
    cf_close_fn close;
} cf_co_process_ops_t;

/* A join function (JoinFunction / ProcessJoinFunction): one pair of
 * matching elements; emit zero or more results with cf_emit. The
 * default timestamp of a result is the window's max timestamp (window
 * join) or max(left ts, right ts) (interval join). */
typedef int (*cf_join_fn)(cf_ctx_t *ctx, const cf_record_t *left,
                          const cf_record_t *right);

/* A data generator for cf_env_datagen: emit the record number index of
 * this source (0-based, over all instances). */
typedef int (*cf_gen_fn)(cf_ctx_t *ctx, uint64_t index);

/* The plugin entry: build the job on env. argc/argv are the program
 * arguments (argv[0] is the plugin's file name). Return CF_OK, or fail
 * with cf_env_fail(). */
typedef int (*cf_entry_fn)(cf_env_t *env, int argc, char **argv);

/* ------------------------------------------------------------------ */
/* The plugin descriptor                                               */
/* ------------------------------------------------------------------ */

/* Read by the host from the file, before the library is loaded. */
typedef struct cf_plugin_abi_s {
    uint32_t magic; /* CF_ABI_MAGIC */
    uint32_t major; /* CF_ABI_MAJOR */
    uint32_t minor; /* CF_ABI_MINOR */
    uint32_t reserved;
} cf_plugin_abi_t;

typedef struct cf_plugin_s {
    uint32_t size; /* sizeof(cf_plugin_t) */
    const char *name;
    const char *description;
    cf_entry_fn entry;
} cf_plugin_t;

#define CF__STR(x) #x
#define CF__XSTR(x) CF__STR(x)

/* Declare the plugin, once, in one file of the plugin:
 *   CF_PLUGIN("WordCount", "Counts words", wordcount_main);
 */
#define CF_PLUGIN(NAME, DESCRIPTION, ENTRY)                                  \
    __attribute__((used, section(".cflink_abi"),                             \
                   visibility("default"))) const cf_plugin_abi_t              \
        cf_plugin_abi = {CF_ABI_MAGIC, CF_ABI_MAJOR, CF_ABI_MINOR, 0};       \
    __attribute__((visibility("default"))) const cf_plugin_t cf_plugin = {   \
        sizeof(cf_plugin_t), (NAME), (DESCRIPTION), (ENTRY)}

/* ------------------------------------------------------------------ */
/* The host function table                                             */
/* ------------------------------------------------------------------ */

typedef struct cf_list_iter_s {
    const void *p[4];
} cf_list_iter_t;

typedef struct cf_map_iter_s {
    const void *p[4];
    uint64_t i[2];
} cf_map_iter_t;

typedef struct cf_host_api_s {
    uint32_t size;  /* sizeof the host's table: fields past it are absent */
    uint32_t major; /* host ABI version */
    uint32_t minor;
    uint32_t reserved;

    /* environment */
    void (*env_set_parallelism)(cf_env_t *env, int parallelism);
    void (*env_set_max_parallelism)(cf_env_t *env, int max_parallelism);
    void (*env_set_job_name)(cf_env_t *env, const char *name);
    void (*env_disable_chaining)(cf_env_t *env);
    int (*env_parallelism)(cf_env_t *env);
    const char *(*env_config)(cf_env_t *env, const char *key);
    int (*env_fail)(cf_env_t *env, const char *fmt, va_list ap);

    /* sources */
    cf_stream_t *(*env_add_source)(cf_env_t *env, const char *name,
                                   const cf_source_ops_t *ops, void *udata);
    cf_stream_t *(*env_from_sequence)(cf_env_t *env, int64_t from,
                                      int64_t to);
    cf_stream_t *(*env_datagen)(cf_env_t *env, const char *name,
                                cf_gen_fn gen, void *udata, uint64_t count,
                                double records_per_second);
    cf_stream_t *(*env_read_text_file)(cf_env_t *env, const char *path);
    cf_stream_t *(*env_socket_text_stream)(cf_env_t *env, const char *host,
                                           int port);

    /* transformations */
    cf_stream_t *(*stream_map)(cf_stream_t *s, const char *name, cf_map_fn fn,
                               void *udata);
    cf_stream_t *(*stream_filter)(cf_stream_t *s, const char *name,
                                  cf_filter_fn fn, void *udata);
    cf_stream_t *(*stream_flat_map)(cf_stream_t *s, const char *name,
                                    cf_flat_map_fn fn, void *udata);
    cf_stream_t *(*stream_process)(cf_stream_t *s, const char *name,
                                   const cf_process_ops_t *ops, void *udata);
    cf_stream_t *(*stream_key_by)(cf_stream_t *s, cf_key_fn fn, void *udata);
    cf_stream_t *(*stream_reduce)(cf_stream_t *keyed, const char *name,
                                  cf_reduce_fn fn, void *udata);
    cf_stream_t *(*stream_union)(cf_stream_t *s, cf_stream_t *const *others,
                                 int n);
    cf_stream_t *(*stream_partition)(cf_stream_t *s, int partitioner);
    cf_stream_t *(*stream_sink)(cf_stream_t *s, const char *name,
                                const cf_sink_ops_t *ops, void *udata);
    cf_stream_t *(*stream_print)(cf_stream_t *s);
    cf_stream_t *(*stream_discard)(cf_stream_t *s);
    cf_stream_t *(*stream_write_text)(cf_stream_t *s, const char *dir);

    /* operator settings (apply to the operator that produced s) */
    cf_stream_t *(*stream_set_parallelism)(cf_stream_t *s, int parallelism);
    cf_stream_t *(*stream_set_max_parallelism)(cf_stream_t *s, int max);
    cf_stream_t *(*stream_set_name)(cf_stream_t *s, const char *name);
    cf_stream_t *(*stream_set_uid)(cf_stream_t *s, const char *uid);
    cf_stream_t *(*stream_set_hooks)(cf_stream_t *s, const cf_hooks_t *hooks);
    cf_stream_t *(*stream_start_new_chain)(cf_stream_t *s);
    cf_stream_t *(*stream_disable_chaining)(cf_stream_t *s);

    /* run time: context */
    int (*emit)(cf_ctx_t *ctx, const void *data, uint32_t len, int64_t ts);
    int (*ctx_fail)(cf_ctx_t *ctx, const char *fmt, va_list ap);
    void (*log)(cf_ctx_t *ctx, int level, const char *fmt, va_list ap);
    void *(*udata)(cf_ctx_t *ctx);
    void *(*local)(cf_ctx_t *ctx);
    void (*set_local)(cf_ctx_t *ctx, void *local);
    int (*subtask_index)(cf_ctx_t *ctx);
    int (*parallelism)(cf_ctx_t *ctx);
    int (*max_parallelism)(cf_ctx_t *ctx);
    const char *(*task_name)(cf_ctx_t *ctx);
    void *(*scratch)(cf_ctx_t *ctx, uint32_t size);
    int (*current_key)(cf_ctx_t *ctx, cf_slice_t *key);
    const char *(*config)(cf_ctx_t *ctx, const char *key);
    int (*buf_reserve)(cf_ctx_t *ctx, cf_buf_t *buf, uint32_t cap);

    /* run time: keyed state (registered in open) */
    cf_state_t *(*state_value)(cf_ctx_t *ctx, const char *name);
    cf_state_t *(*state_list)(cf_ctx_t *ctx, const char *name);
    cf_state_t *(*state_map)(cf_ctx_t *ctx, const char *name);
    cf_state_t *(*state_reducing)(cf_ctx_t *ctx, const char *name,
                                  cf_reduce_fn fn);

    int (*value_get)(cf_state_t *st, cf_slice_t *out);
    int (*value_put)(cf_state_t *st, const void *data, uint32_t len);
    void *(*value_update)(cf_state_t *st, uint32_t len, int *created);
    int (*state_clear)(cf_state_t *st);

    int (*list_add)(cf_state_t *st, const void *data, uint32_t len);
    int (*list_iter)(cf_state_t *st, cf_list_iter_t *it);
    int (*list_next)(cf_list_iter_t *it, cf_slice_t *item);

    int (*map_get)(cf_state_t *st, const void *k, uint32_t klen,
                   cf_slice_t *out);
    int (*map_put)(cf_state_t *st, const void *k, uint32_t klen,
                   const void *v, uint32_t vlen);
    int (*map_remove)(cf_state_t *st, const void *k, uint32_t klen);
    int (*map_iter)(cf_state_t *st, cf_map_iter_t *it);
    int (*map_next)(cf_map_iter_t *it, cf_slice_t *k, cf_slice_t *v);
    uint64_t (*map_size)(cf_state_t *st);

    int (*reducing_add)(cf_state_t *st, const void *data, uint32_t len,
                        int64_t ts);
    int (*reducing_get)(cf_state_t *st, cf_slice_t *out);

    /* ABI 1.1: checkpointing, operator state, aggregating state, TTL */
    cf_stream_t *(*stream_sink_2pc)(cf_stream_t *s, const char *name,
                                    const cf_2pc_sink_ops_t *ops,
                                    void *udata);
    int (*is_restored)(cf_ctx_t *ctx);
    cf_state_t *(*op_state_list)(cf_ctx_t *ctx, const char *name, int mode);
    cf_state_t *(*op_state_broadcast)(cf_ctx_t *ctx, const char *name);
    cf_state_t *(*state_aggregating)(cf_ctx_t *ctx, const char *name,
                                     const cf_agg_ops_t *ops);
    int (*aggregating_add)(cf_state_t *st, const void *data, uint32_t len,
                           int64_t ts);
    int (*aggregating_get)(cf_state_t *st, cf_slice_t *out);
    int (*state_ttl)(cf_state_t *st, int64_t ttl_ms, int update_type);

    /* ABI 1.2: event time, timers, windows, side outputs, two inputs */
    cf_stream_t *(*stream_assign_watermarks)(cf_stream_t *s,
                                             const cf_wm_strategy_t *st,
                                             void *udata);
    int (*emit_watermark)(cf_ctx_t *ctx, int64_t watermark);
    int64_t (*current_watermark)(cf_ctx_t *ctx);
    int64_t (*timestamp)(cf_ctx_t *ctx);
    int64_t (*processing_time)(cf_ctx_t *ctx);
    int (*timer_register)(cf_ctx_t *ctx, int time_domain, int64_t ts);
    int (*timer_delete)(cf_ctx_t *ctx, int time_domain, int64_t ts);
    int (*emit_side)(cf_ctx_t *ctx, const char *tag, const void *data,
                     uint32_t len, int64_t ts);
    cf_stream_t *(*stream_side_output)(cf_stream_t *s, const char *tag);
    cf_stream_t *(*stream_window)(cf_stream_t *s,
                                  const cf_window_assigner_t *a);
    cf_stream_t *(*window_trigger)(cf_stream_t *w, const cf_trigger_t *t);
    cf_stream_t *(*window_evictor)(cf_stream_t *w, const cf_evictor_t *e);
    cf_stream_t *(*window_allowed_lateness)(cf_stream_t *w, int64_t ms);
    cf_stream_t *(*window_side_output_late_data)(cf_stream_t *w,
                                                 const char *tag);
    cf_stream_t *(*window_reduce)(cf_stream_t *w, const char *name,
                                  cf_reduce_fn fn, void *udata);
    cf_stream_t *(*window_aggregate)(cf_stream_t *w, const char *name,
                                     const cf_agg_ops_t *ops, void *udata);
    cf_stream_t *(*window_process)(cf_stream_t *w, const char *name,
                                   const cf_window_process_ops_t *ops,
                                   void *udata);
    cf_stream_t *(*stream_connect_process)(cf_stream_t *a, cf_stream_t *b,
                                           const char *name,
                                           const cf_co_process_ops_t *ops,
                                           void *udata);
    cf_stream_t *(*stream_window_join)(cf_stream_t *a, cf_stream_t *b,
                                       const cf_window_assigner_t *w,
                                       const char *name, cf_join_fn fn,
                                       void *udata);
    cf_stream_t *(*stream_interval_join)(cf_stream_t *a, cf_stream_t *b,
                                         int64_t lower_ms, int64_t upper_ms,
                                         const char *name, cf_join_fn fn,
                                         void *udata);
} cf_host_api_t;

struct cf_handle_s {
    const cf_host_api_t *api;
};

#define CF__API(h) (((const struct cf_handle_s *)(const void *)(h))->api)

/* Whether the host that runs this plugin has the table entry FIELD. */
#define CF_API_HAS(h, FIELD)                                                 \
    (CF__API(h)->size >= offsetof(cf_host_api_t, FIELD) +                     \
                             sizeof(((cf_host_api_t *)0)->FIELD))

/* Partitioners for cf_stream_partition (ship strategies). */
#define CF_PARTITION_FORWARD 1
#define CF_PARTITION_REBALANCE 2
#define CF_PARTITION_RESCALE 3
#define CF_PARTITION_BROADCAST 4
#define CF_PARTITION_SHUFFLE 5
#define CF_PARTITION_GLOBAL 6

/* ------------------------------------------------------------------ */
/* The builder (StreamExecutionEnvironment, DataStream)                */
/* ------------------------------------------------------------------ */
/*
 * Builder calls never return NULL for a valid stream argument. A misuse
 * (bad parallelism, key_by twice, reduce on a non-keyed stream...) is
 * recorded in the environment and fails the job submission with a message
 * naming the operator; the returned handle is still usable so that the
 * entry can run to its end.
 */

static inline void
cf_env_set_parallelism(cf_env_t *env, int parallelism)
{
    CF__API(env)->env_set_parallelism(env, parallelism);
}

static inline void
cf_env_set_max_parallelism(cf_env_t *env, int max_parallelism)
{
    CF__API(env)->env_set_max_parallelism(env, max_parallelism);
}

static inline void
cf_env_set_job_name(cf_env_t *env, const char *name)
{
    CF__API(env)->env_set_job_name(env, name);
}

static inline void
cf_env_disable_operator_chaining(cf_env_t *env)
{
    CF__API(env)->env_disable_chaining(env);
}

static inline int
cf_env_parallelism(cf_env_t *env)
{
    return CF__API(env)->env_parallelism(env);
}

/* The value of a configuration key (config.yaml or -D), or NULL. Unknown
 * keys are kept for jobs to read. */
static inline const char *
cf_env_config(cf_env_t *env, const char *key)
{
    return CF__API(env)->env_config(env, key);
}

__attribute__((format(printf, 2, 3))) static inline int
cf_env_fail(cf_env_t *env, const char *fmt, ...)
{
    va_list ap;
    int rc;
    va_start(ap, fmt);
    rc = CF__API(env)->env_fail(env, fmt, ap);
    va_end(ap);
    return rc;
}

static inline cf_stream_t *
cf_env_add_source(cf_env_t *env, const char *name, const cf_source_ops_t *ops,
                  void *udata)
{
    return CF__API(env)->env_add_source(env, name, ops, udata);
}

/* Flink's fromSequence: the int64 values from..to (inclusive) as 8-byte
 * native-endian records, split over the source's instances. */
static inline cf_stream_t *
cf_env_from_sequence(cf_env_t *env, int64_t from, int64_t to)
{
    return CF__API(env)->env_from_sequence(env, from, to);
}

/* Flink's DataGeneratorSource: gen(index) for index 0..count-1 (count
 * UINT64_MAX: unbounded), at most records_per_second over all instances
 * (0: as fast as possible). */
static inline cf_stream_t *
cf_env_datagen(cf_env_t *env, const char *name, cf_gen_fn gen, void *udata,
               uint64_t count, double records_per_second)
{
    return CF__API(env)->env_datagen(env, name, gen, udata, count,
                                     records_per_second);
}

/* Lines of a text file, or of every file in a directory (one record per
 * line, without the line end). */
static inline cf_stream_t *
cf_env_read_text_file(cf_env_t *env, const char *path)
{
    return CF__API(env)->env_read_text_file(env, path);
}

/* Lines read from a TCP server (Flink's socketTextStream), parallelism 1. */
static inline cf_stream_t *
cf_env_socket_text_stream(cf_env_t *env, const char *host, int port)
{
    return CF__API(env)->env_socket_text_stream(env, host, port);
}

static inline cf_stream_t *
cf_stream_map(cf_stream_t *s, const char *name, cf_map_fn fn, void *udata)
{
    return CF__API(s)->stream_map(s, name, fn, udata);
}

static inline cf_stream_t *
cf_stream_filter(cf_stream_t *s, const char *name, cf_filter_fn fn,
                 void *udata)
{
    return CF__API(s)->stream_filter(s, name, fn, udata);
}

static inline cf_stream_t *
cf_stream_flat_map(cf_stream_t *s, const char *name, cf_flat_map_fn fn,
                   void *udata)
{
    return CF__API(s)->stream_flat_map(s, name, fn, udata);
}

/* A process function; keyed when s is a keyed stream. */
static inline cf_stream_t *
cf_stream_process(cf_stream_t *s, const char *name,
                  const cf_process_ops_t *ops, void *udata)
{
    return CF__API(s)->stream_process(s, name, ops, udata);
}

/* Partition by key (hash of the key into key groups). Returns a keyed
 * stream. */
static inline cf_stream_t *
cf_stream_key_by(cf_stream_t *s, cf_key_fn fn, void *udata)
{
    return CF__API(s)->stream_key_by(s, fn, udata);
}

/* Rolling reduce on a keyed stream: emits the new result per record. */
static inline cf_stream_t *
cf_stream_reduce(cf_stream_t *keyed, const char *name, cf_reduce_fn fn,
                 void *udata)
{
    return CF__API(keyed)->stream_reduce(keyed, name, fn, udata);
}

static inline cf_stream_t *
cf_stream_union(cf_stream_t *s, cf_stream_t *const *others, int n)
{
    return CF__API(s)->stream_union(s, others, n);
}

static inline cf_stream_t *
cf_stream_union2(cf_stream_t *a, cf_stream_t *b)
{
    return CF__API(a)->stream_union(a, &b, 1);
}

static inline cf_stream_t *
cf_stream_rebalance(cf_stream_t *s)
{
    return CF__API(s)->stream_partition(s, CF_PARTITION_REBALANCE);
}

static inline cf_stream_t *
cf_stream_rescale(cf_stream_t *s)
{
    return CF__API(s)->stream_partition(s, CF_PARTITION_RESCALE);
}

static inline cf_stream_t *
cf_stream_broadcast(cf_stream_t *s)
{
    return CF__API(s)->stream_partition(s, CF_PARTITION_BROADCAST);
}

static inline cf_stream_t *
cf_stream_forward(cf_stream_t *s)
{
    return CF__API(s)->stream_partition(s, CF_PARTITION_FORWARD);
}

static inline cf_stream_t *
cf_stream_shuffle(cf_stream_t *s)
{
    return CF__API(s)->stream_partition(s, CF_PARTITION_SHUFFLE);
}

static inline cf_stream_t *
cf_stream_global(cf_stream_t *s)
{
    return CF__API(s)->stream_partition(s, CF_PARTITION_GLOBAL);
}

static inline cf_stream_t *
cf_stream_sink(cf_stream_t *s, const char *name, const cf_sink_ops_t *ops,
               void *udata)
{
    return CF__API(s)->stream_sink(s, name, ops, udata);
}

/* Flink's print(): each record's bytes and a newline on standard output,
 * prefixed "N> " (N = instance index + 1) when the sink's parallelism is
 * above 1. */
static inline cf_stream_t *
cf_stream_print(cf_stream_t *s)
{
    return CF__API(s)->stream_print(s);
}

static inline cf_stream_t *
cf_stream_discard(cf_stream_t *s)
{
    return CF__API(s)->stream_discard(s);
}

/* One part file per sink instance under dir, a record and a newline per
 * line. */
static inline cf_stream_t *
cf_stream_write_text(cf_stream_t *s, const char *dir)
{
    return CF__API(s)->stream_write_text(s, dir);
}

static inline cf_stream_t *
cf_stream_set_parallelism(cf_stream_t *s, int parallelism)
{
    return CF__API(s)->stream_set_parallelism(s, parallelism);
}

static inline cf_stream_t *
cf_stream_set_max_parallelism(cf_stream_t *s, int max_parallelism)
{
    return CF__API(s)->stream_set_max_parallelism(s, max_parallelism);
}

static inline cf_stream_t *
cf_stream_name(cf_stream_t *s, const char *name)
{
    return CF__API(s)->stream_set_name(s, name);
}

/* A stable operator id, used to match state on restore. */
static inline cf_stream_t *
cf_stream_uid(cf_stream_t *s, const char *uid)
{
    return CF__API(s)->stream_set_uid(s, uid);
}

static inline cf_stream_t *
cf_stream_hooks(cf_stream_t *s, const cf_hooks_t *hooks)
{
    return CF__API(s)->stream_set_hooks(s, hooks);
}

static inline cf_stream_t *
cf_stream_start_new_chain(cf_stream_t *s)
{
    return CF__API(s)->stream_start_new_chain(s);
}

static inline cf_stream_t *
cf_stream_disable_chaining(cf_stream_t *s)
{
    return CF__API(s)->stream_disable_chaining(s);
}

/* ------------------------------------------------------------------ */
/* Run time                                                            */
/* ------------------------------------------------------------------ */

/* Send a record downstream. The bytes are copied (or handed to the next
 * chained operator, which must not keep the pointer). Returns CF_OK or a
 * negative code that the caller must return. */
static inline int
cf_emit(cf_ctx_t *ctx, const void *data, uint32_t len, int64_t ts)
{
    return CF__API(ctx)->emit(ctx, data, len, ts);
}

/* Fail the task with a message; returns CF_ERR. */
__attribute__((format(printf, 2, 3))) static inline int
cf_fail(cf_ctx_t *ctx, const char *fmt, ...)
{
    va_list ap;
    int rc;
    va_start(ap, fmt);
    rc = CF__API(ctx)->ctx_fail(ctx, fmt, ap);
    va_end(ap);
    return rc;
}

__attribute__((format(printf, 3, 4))) static inline void
cf_log(cf_ctx_t *ctx, int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    CF__API(ctx)->log(ctx, level, fmt, ap);
    va_end(ap);
}

static inline void *
cf_ctx_udata(cf_ctx_t *ctx)
{
    return CF__API(ctx)->udata(ctx);
}

static inline void *
cf_ctx_local(cf_ctx_t *ctx)
{
    return CF__API(ctx)->local(ctx);
}

static inline void
cf_ctx_set_local(cf_ctx_t *ctx, void *local)
{
    CF__API(ctx)->set_local(ctx, local);
}

static inline int
cf_ctx_subtask_index(cf_ctx_t *ctx)
{
    return CF__API(ctx)->subtask_index(ctx);
}

static inline int
cf_ctx_parallelism(cf_ctx_t *ctx)
{
    return CF__API(ctx)->parallelism(ctx);
}

static inline int
cf_ctx_max_parallelism(cf_ctx_t *ctx)
{
    return CF__API(ctx)->max_parallelism(ctx);
}

static inline const char *
cf_ctx_task_name(cf_ctx_t *ctx)
{
    return CF__API(ctx)->task_name(ctx);
}

/* A per-instance buffer of at least size bytes, reused from call to call
 * (its contents are kept until the next call with a larger size). */
static inline void *
cf_ctx_scratch(cf_ctx_t *ctx, uint32_t size)
{
    return CF__API(ctx)->scratch(ctx, size);
}

/* The key of the record being processed by a keyed function. */
static inline int
cf_ctx_key(cf_ctx_t *ctx, cf_slice_t *key)
{
    return CF__API(ctx)->current_key(ctx, key);
}

static inline const char *
cf_ctx_config(cf_ctx_t *ctx, const char *key)
{
    return CF__API(ctx)->config(ctx, key);
}

/* Grow buf (host-owned, e.g. a reduce accumulator) to at least cap bytes,
 * keeping its contents. */
static inline int
cf_buf_reserve(cf_ctx_t *ctx, cf_buf_t *buf, uint32_t cap)
{
    return CF__API(ctx)->buf_reserve(ctx, buf, cap);
}

/* ------------------------------------------------------------------ */
/* Keyed state                                                         */
/* ------------------------------------------------------------------ */
/*
 * Register states in open(), by name (the name identifies the state in
 * checkpoints). Every access refers to the current key. Slices returned by
 * the getters point into state memory: valid until the next call on the
 * same state.
 */

static inline cf_state_t *
cf_state_value(cf_ctx_t *ctx, const char *name)
{
    return CF__API(ctx)->state_value(ctx, name);
}

static inline cf_state_t *
cf_state_list(cf_ctx_t *ctx, const char *name)
{
    return CF__API(ctx)->state_list(ctx, name);
}

static inline cf_state_t *
cf_state_map(cf_ctx_t *ctx, const char *name)
{
    return CF__API(ctx)->state_map(ctx, name);
}

static inline cf_state_t *
cf_state_reducing(cf_ctx_t *ctx, const char *name, cf_reduce_fn fn)
{
    return CF__API(ctx)->state_reducing(ctx, name, fn);
}

/* 1 and *out set when there is a value, 0 when there is none. */
static inline int
cf_value_get(cf_state_t *st, cf_slice_t *out)
{
    return CF__API(st)->value_get(st, out);
}

static inline int
cf_value_put(cf_state_t *st, const void *data, uint32_t len)
{
    return CF__API(st)->value_put(st, data, len);
}

/* In-place update: a writable pointer to the value, resized to len bytes
 * (created zero-filled when absent; *created, if not NULL, tells). Valid
 * until the next call on the state. */
static inline void *
cf_value_update(cf_state_t *st, uint32_t len, int *created)
{
    return CF__API(st)->value_update(st, len, created);
}

/* Clear any state kind for the current key. */
static inline int
cf_state_clear(cf_state_t *st)
{
    return CF__API(st)->state_clear(st);
}

static inline int
cf_list_add(cf_state_t *st, const void *data, uint32_t len)
{
    return CF__API(st)->list_add(st, data, len);
}

/* for (cf_list_iter(st, &it); cf_list_next(st, &it, &item);) ... */
static inline int
cf_list_iter(cf_state_t *st, cf_list_iter_t *it)
{
    return CF__API(st)->list_iter(st, it);
}

static inline int
cf_list_next(cf_state_t *st, cf_list_iter_t *it, cf_slice_t *item)
{
    return CF__API(st)->list_next(it, item);
}

static inline int
cf_map_get(cf_state_t *st, const void *k, uint32_t klen, cf_slice_t *out)
{
    return CF__API(st)->map_get(st, k, klen, out);
}

static inline int
cf_map_put(cf_state_t *st, const void *k, uint32_t klen, const void *v,
           uint32_t vlen)
{
    return CF__API(st)->map_put(st, k, klen, v, vlen);
}

static inline int
cf_map_remove(cf_state_t *st, const void *k, uint32_t klen)
{
    return CF__API(st)->map_remove(st, k, klen);
}

static inline int
cf_map_iter(cf_state_t *st, cf_map_iter_t *it)
{
    return CF__API(st)->map_iter(st, it);
}

static inline int
cf_map_next(cf_state_t *st, cf_map_iter_t *it, cf_slice_t *k, cf_slice_t *v)
{
    return CF__API(st)->map_next(it, k, v);
}

static inline uint64_t
cf_map_size(cf_state_t *st)
{
    return CF__API(st)->map_size(st);
}

static inline int
cf_reducing_add(cf_state_t *st, const void *data, uint32_t len, int64_t ts)
{
    return CF__API(st)->reducing_add(st, data, len, ts);
}

static inline int
cf_reducing_get(cf_state_t *st, cf_slice_t *out)
{
    return CF__API(st)->reducing_get(st, out);
}

/* ------------------------------------------------------------------ */
/* Checkpointing, operator state, aggregating state, TTL (ABI 1.1)     */
/* ------------------------------------------------------------------ */

/* A two-phase-commit sink (see cf_2pc_sink_ops_t): exactly-once output
 * when checkpointing is on. */
static inline cf_stream_t *
cf_stream_sink_2pc(cf_stream_t *s, const char *name,
                   const cf_2pc_sink_ops_t *ops, void *udata)
{
    return CF__API(s)->stream_sink_2pc(s, name, ops, udata);
}

/* Whether this instance started from a checkpoint or savepoint (Flink's
 * FunctionInitializationContext.isRestored). Valid from open on. */
static inline int
cf_ctx_is_restored(cf_ctx_t *ctx)
{
    return CF__API(ctx)->is_restored(ctx);
}

/* Operator (non-keyed) list state, registered in open: Flink's
 * getListState (mode CF_OPSTATE_SPLIT: on restore with another
 * parallelism the items of all instances are split over the new ones) or
 * getUnionListState (CF_OPSTATE_UNION: every instance gets every item).
 * Use cf_list_add, cf_list_iter/next and cf_state_clear on it; it holds
 * the restored items after a restore. Snapshotted at every checkpoint. */
static inline cf_state_t *
cf_op_state_list(cf_ctx_t *ctx, const char *name, int mode)
{
    return CF__API(ctx)->op_state_list(ctx, name, mode);
}

/* Broadcast state (Flink's getBroadcastState): a map, meant to be the
 * same on every instance; restored to every instance from the first. Use
 * the cf_map_* calls on it. */
static inline cf_state_t *
cf_op_state_broadcast(cf_ctx_t *ctx, const char *name)
{
    return CF__API(ctx)->op_state_broadcast(ctx, name);
}

/* Keyed aggregating state (Flink's AggregatingState). */
static inline cf_state_t *
cf_state_aggregating(cf_ctx_t *ctx, const char *name, const cf_agg_ops_t *ops)
{
    return CF__API(ctx)->state_aggregating(ctx, name, ops);
}

static inline int
cf_aggregating_add(cf_state_t *st, const void *data, uint32_t len, int64_t ts)
{
    return CF__API(st)->aggregating_add(st, data, len, ts);
}

/* 1 and *out (the result, valid until the next call on st) when the key
 * has an accumulator, 0 when it has none. */
static inline int
cf_aggregating_get(cf_state_t *st, cf_slice_t *out)
{
    return CF__API(st)->aggregating_get(st, out);
}

/* Time-to-live of a keyed state's entries (Flink's StateTtlConfig with
 * NeverReturnExpired, processing time): an entry not written (or, with
 * CF_TTL_ON_READ_AND_WRITE, not read or written) for ttl_ms is never
 * returned again and is dropped from snapshots. Call in open, right after
 * registering the state. For list and map state the whole entry of a key
 * expires at once. */
static inline int
cf_state_ttl(cf_state_t *st, int64_t ttl_ms, int update_type)
{
    return CF__API(st)->state_ttl(st, ttl_ms, update_type);
}

/* ------------------------------------------------------------------ */
/* Event time (ABI 1.2)                                                */
/* ------------------------------------------------------------------ */

/* Flink's WatermarkStrategy.forMonotonousTimestamps(). */
static inline cf_wm_strategy_t
cf_wm_for_monotonous_timestamps(void)
{
    cf_wm_strategy_t w = {sizeof(cf_wm_strategy_t), CF_WM_MONOTONOUS, 0, 0,
                          NULL, NULL};
    return w;
}

/* Flink's WatermarkStrategy.forBoundedOutOfOrderness(Duration). */
static inline cf_wm_strategy_t
cf_wm_for_bounded_out_of_orderness(int64_t max_out_of_orderness_ms)
{
    cf_wm_strategy_t w = {sizeof(cf_wm_strategy_t), CF_WM_BOUNDED,
                          max_out_of_orderness_ms, 0, NULL, NULL};
    return w;
}

/* Flink's WatermarkStrategy.forGenerator(...). */
static inline cf_wm_strategy_t
cf_wm_for_generator(const cf_wm_gen_ops_t *gen)
{
    cf_wm_strategy_t w = {sizeof(cf_wm_strategy_t), CF_WM_CUSTOM, 0, 0,
                          NULL, gen};
    return w;
}

/* Flink's assignTimestampsAndWatermarks: a chained operator that sets each
 * record's timestamp (st->timestamp, or keeps it) and generates
 * watermarks. Set st->timestamp (withTimestampAssigner) and
 * st->idle_timeout_ms (withIdleness) on the strategy before. udata is
 * given to the timestamp function and generator (cf_ctx_udata). */
static inline cf_stream_t *
cf_stream_assign_timestamps_and_watermarks(cf_stream_t *s,
                                           const cf_wm_strategy_t *st,
                                           void *udata)
{
    return CF__API(s)->stream_assign_watermarks(s, st, udata);
}

/* A custom generator's watermark (ignored unless it advances). */
static inline int
cf_emit_watermark(cf_ctx_t *ctx, int64_t watermark)
{
    return CF__API(ctx)->emit_watermark(ctx, watermark);
}

/* The operator's current watermark (its input's; CF_WATERMARK_MIN before
 * the first one). */
static inline int64_t
cf_ctx_current_watermark(cf_ctx_t *ctx)
{
    return CF__API(ctx)->current_watermark(ctx);
}

/* The timestamp of the record being processed, or of the timer firing
 * (event time), or CF_NO_TIMESTAMP. */
static inline int64_t
cf_ctx_timestamp(cf_ctx_t *ctx)
{
    return CF__API(ctx)->timestamp(ctx);
}

/* The processing-time service's now, in epoch milliseconds. */
static inline int64_t
cf_ctx_processing_time(cf_ctx_t *ctx)
{
    return CF__API(ctx)->processing_time(ctx);
}

/* Flink's TimerService.registerEventTimeTimer /
 * registerProcessingTimeTimer, for the current key (keyed operators) or
 * the instance. A timer is unique per key and timestamp (registering it
 * again does nothing); on_timer runs once when the watermark (event time)
 * or the clock (processing time) passes ts. Timers are checkpointed. */
static inline int
cf_timer_register(cf_ctx_t *ctx, int time_domain, int64_t ts)
{
    return CF__API(ctx)->timer_register(ctx, time_domain, ts);
}

static inline int
cf_timer_delete(cf_ctx_t *ctx, int time_domain, int64_t ts)
{
    return CF__API(ctx)->timer_delete(ctx, time_domain, ts);
}

/* Flink's ctx.output(OutputTag, value): a record to the side output named
 * tag; cf_stream_side_output(s, tag) is that output as a stream
 * (getSideOutput). Records to a tag nobody reads are dropped. */
static inline int
cf_emit_side(cf_ctx_t *ctx, const char *tag, const void *data, uint32_t len,
             int64_t ts)
{
    return CF__API(ctx)->emit_side(ctx, tag, data, len, ts);
}

static inline cf_stream_t *
cf_stream_side_output(cf_stream_t *s, const char *tag)
{
    return CF__API(s)->stream_side_output(s, tag);
}

/* Assigners (Flink's TumblingEventTimeWindows.of(size, offset), ...). */
static inline cf_window_assigner_t
cf_tumbling_windows(int time_domain, int64_t size_ms, int64_t offset_ms)
{
    cf_window_assigner_t a = {sizeof(cf_window_assigner_t),
                              CF_WINDOW_TUMBLING, time_domain, size_ms, 0,
                              offset_ms, 0};
    return a;
}

static inline cf_window_assigner_t
cf_sliding_windows(int time_domain, int64_t size_ms, int64_t slide_ms,
                   int64_t offset_ms)
{
    cf_window_assigner_t a = {sizeof(cf_window_assigner_t),
                              CF_WINDOW_SLIDING, time_domain, size_ms,
                              slide_ms, offset_ms, 0};
    return a;
}

static inline cf_window_assigner_t
cf_session_windows(int time_domain, int64_t gap_ms)
{
    cf_window_assigner_t a = {sizeof(cf_window_assigner_t),
                              CF_WINDOW_SESSION, time_domain, 0, 0, 0,
                              gap_ms};
    return a;
}

static inline cf_window_assigner_t
cf_global_windows(void)
{
    cf_window_assigner_t a = {sizeof(cf_window_assigner_t),
                              CF_WINDOW_GLOBAL, CF_TIME_EVENT, 0, 0, 0, 0};
    return a;
}

/* keyed.window(assigner) on a keyed stream, or windowAll (parallelism 1)
 * on a non-keyed one: a windowed stream, configured with the calls
 * below and ended by reduce, aggregate or process. Invalid parameters
 * (size <= 0, slide <= 0, |offset| >= slide, gap <= 0, negative
 * lateness) fail the submission with a message naming the operator. */
static inline cf_stream_t *
cf_stream_window(cf_stream_t *s, const cf_window_assigner_t *a)
{
    return CF__API(s)->stream_window(s, a);
}

static inline cf_stream_t *
cf_window_trigger(cf_stream_t *w, const cf_trigger_t *t)
{
    return CF__API(w)->window_trigger(w, t);
}

static inline cf_stream_t *
cf_window_evictor(cf_stream_t *w, const cf_evictor_t *e)
{
    return CF__API(w)->window_evictor(w, e);
}

/* allowedLateness: elements up to ms behind the watermark still update
 * their window and fire it again (late firing); later ones are dropped
 * and counted (numLateRecordsDropped), or go to the late-data side
 * output. */
static inline cf_stream_t *
cf_window_allowed_lateness(cf_stream_t *w, int64_t ms)
{
    return CF__API(w)->window_allowed_lateness(w, ms);
}

static inline cf_stream_t *
cf_window_side_output_late_data(cf_stream_t *w, const char *tag)
{
    return CF__API(w)->window_side_output_late_data(w, tag);
}

/* Incremental: fn folds each element into the window's accumulator; the
 * result (emitted at each firing) has the window's max timestamp. */
static inline cf_stream_t *
cf_window_reduce(cf_stream_t *w, const char *name, cf_reduce_fn fn,
                 void *udata)
{
    return CF__API(w)->window_reduce(w, name, fn, udata);
}

static inline cf_stream_t *
cf_window_aggregate(cf_stream_t *w, const char *name, const cf_agg_ops_t *ops,
                    void *udata)
{
    return CF__API(w)->window_aggregate(w, name, ops, udata);
}

static inline cf_stream_t *
cf_window_process(cf_stream_t *w, const char *name,
                  const cf_window_process_ops_t *ops, void *udata)
{
    return CF__API(w)->window_process(w, name, ops, udata);
}

/* a.connect(b).process(...): a two-input operator; when a and b are both
 * keyed, keyed state and timers are shared per key. */
static inline cf_stream_t *
cf_stream_connect_process(cf_stream_t *a, cf_stream_t *b, const char *name,
                          const cf_co_process_ops_t *ops, void *udata)
{
    return CF__API(a)->stream_connect_process(a, b, name, ops, udata);
}

/* a.join(b).where(key of a).equalTo(key of b).window(w).apply(fn): a and
 * b are keyed streams (their key selectors are where/equalTo); fn gets
 * every pair of one window with the same key. */
static inline cf_stream_t *
cf_stream_window_join(cf_stream_t *a, cf_stream_t *b,
                      const cf_window_assigner_t *w, const char *name,
                      cf_join_fn fn, void *udata)
{
    return CF__API(a)->stream_window_join(a, b, w, name, fn, udata);
}

/* a.intervalJoin(b).between(lower, upper).process(fn) on keyed streams
 * in event time: pairs with b.ts in [a.ts + lower, a.ts + upper]. */
static inline cf_stream_t *
cf_stream_interval_join(cf_stream_t *a, cf_stream_t *b, int64_t lower_ms,
                        int64_t upper_ms, const char *name, cf_join_fn fn,
                        void *udata)
{
    return CF__API(a)->stream_interval_join(a, b, lower_ms, upper_ms, name,
                                            fn, udata);
}

/* ------------------------------------------------------------------ */
/* Helpers that need no host                                          */
/* ------------------------------------------------------------------ */

/* Flink's ParameterTool.get: the value after "--name" (or "-name") in
 * argv, or def. A flag with no value yields "". */
static inline const char *
cf_param_get(int argc, char **argv, const char *name, const char *def)
{
    int i;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *n = name;
        if (a[0] != '-')
            continue;
        a += (a[1] == '-') ? 2 : 1;
        while (*n && *a == *n) {
            a++;
            n++;
        }
        if (*n || *a)
            continue;
        if (i + 1 < argc && !(argv[i + 1][0] == '-' && argv[i + 1][1] == '-'))
            return argv[i + 1];
        return "";
    }
    return def;
}

#ifdef __cplusplus
}
#endif

#endif /* CFLINK_CFLINK_H */
