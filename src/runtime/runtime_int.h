/*
 * runtime_int.h: the runtime's private types: the StreamGraph that a
 * plugin's entry builds through the host table, the JobGraph derived from
 * it, and the run-time objects of a task (operator instances, outputs).
 */
#ifndef CF_RUNTIME_INT_H
#define CF_RUNTIME_INT_H

#include <stdatomic.h>

#include <cflink/cflink.h>

#include "config.h"
#include "core.h"
#include "net.h"
#include "runtime.h"
#include "state.h"

extern const cf_host_api_t cf_host_api;

/* ------------------------------------------------------------------ */
/* StreamGraph                                                         */
/* ------------------------------------------------------------------ */

typedef enum cf_op_kind_e {
    CF_OP_SOURCE = 1,
    CF_OP_MAP,
    CF_OP_FILTER,
    CF_OP_FLAT_MAP,
    CF_OP_PROCESS,
    CF_OP_REDUCE,
    CF_OP_SINK,
    CF_OP_SINK_2PC, /* a two-phase-commit sink (op_ckpt.c) */
    /* ABI 1.2 (event time) */
    CF_OP_TIMESTAMPS, /* assignTimestampsAndWatermarks (eventtime.c) */
    CF_OP_WINDOW,     /* the window operator (window.c) */
} cf_op_kind_t;

/* Flink's ChainingStrategy. */
enum cf_chaining_e {
    CF_CHAIN_ALWAYS = 0,
    CF_CHAIN_HEAD = 1,
    CF_CHAIN_NEVER = 2,
};

/* Ship strategies (CF_PARTITION_* of cflink.h, plus HASH). */
#define CF_PARTITION_HASH 7

const char *cf_partitioner_name(int partitioner); /* "FORWARD", ... */

typedef struct cf_sedge_s {
    int src; /* StreamNode id */
    int dst;
    int partitioner; /* 0 while unresolved */
    cf_key_fn key_fn; /* for HASH */
    void *key_udata;
    const char *tag; /* side output tag (interned in the env), or NULL */
} cf_sedge_t;

/* The window operator's configuration (window.c): set by
 * cf_stream_window and the window_* calls, completed by reduce,
 * aggregate or process. */
enum { CF_WFN_REDUCE = 1, CF_WFN_AGGREGATE = 2, CF_WFN_PROCESS = 3 };

typedef struct cf_window_conf_s {
    cf_window_assigner_t assigner;
    cf_trigger_t trigger; /* kind CF_TRIGGER_DEFAULT: the assigner's */
    cf_evictor_t evictor; /* kind 0: none */
    int64_t lateness_ms;
    const char *late_tag; /* side output of late data, or NULL */
    int fn_kind;          /* CF_WFN_* */
    cf_reduce_fn reduce;
    cf_agg_ops_t agg;
    cf_window_process_ops_t process;
    int all; /* windowAll: non-keyed, parallelism 1 */
} cf_window_conf_t;

typedef struct cf_snode_s {
    int id; /* 1-based, creation order */
    cf_op_kind_t kind;
    char *name;
    char *uid;
    int parallelism;     /* -1: default */
    int max_parallelism; /* -1: default */
    int chaining;
    int keyed; /* input is a keyed stream */
    cf_key_fn key_fn;
    void *key_udata;
    union {
        cf_map_fn map;
        cf_filter_fn filter;
        cf_flat_map_fn flat_map;
        cf_reduce_fn reduce;
    } fn;
    cf_source_ops_t source;
    cf_sink_ops_t sink;
    cf_2pc_sink_ops_t sink2pc;
    cf_process_ops_t process;
    cf_hooks_t hooks;
    /* ABI 1.2 */
    cf_wm_strategy_t wm;  /* CF_OP_TIMESTAMPS */
    cf_wm_gen_ops_t wm_gen;
    cf_window_conf_t *win; /* CF_OP_WINDOW (owned) */
    void *udata;
    cf_sedge_t *in;
    int nin, in_cap;
    int *out; /* indices into env->edges */
    int nout, out_cap;
    cf_id_t op_id;
} cf_snode_t;

/* A stream handle: the outputs of one or more nodes (several after a
 * union), with a pending partitioner and key selector. */
typedef struct cf_sref_s {
    int node;
    int partitioner;
    cf_key_fn key_fn;
    void *key_udata;
    const char *tag; /* a side output of node (interned), or NULL */
} cf_sref_t;

struct cf_stream_s {
    const cf_host_api_t *api;
    struct cf_env_s *env;
    struct cf_stream_s *next_alloc;
    cf_sref_t *refs;
    int nrefs;
    int keyed;
    int sink; /* a DataStreamSink: no further transformation */
    /* A WindowedStream / AllWindowedStream (cf_stream_window): only the
     * window_* calls apply; owned by the stream until reduce, aggregate or
     * process moves it into the node. */
    cf_window_conf_t *win;
};

struct cf_env_s {
    const cf_host_api_t *api;
    const cf_config_t *cfg;
    char *job_name;
    int parallelism;
    int max_parallelism; /* -1: per operator default */
    int chaining_enabled;
    cf_snode_t **nodes; /* nodes[i] has id i + 1 */
    int nnodes, nodes_cap;
    cf_sedge_t *edges;
    int nedges, edges_cap;
    struct cf_stream_s *streams; /* every handle, for freeing */
    char *error;                 /* the first misuse, or NULL */
    /* Side output tags, interned (cf_env_intern): sref/sedge tags point
     * here, so they outlive the plugin's strings and compare by pointer. */
    char **tags;
    int ntags, tags_cap;
    struct cf_env_block_s *owned; /* cf_env_alloc memory */
};

/* ------------------------------------------------------------------ */
/* JobGraph                                                            */
/* ------------------------------------------------------------------ */

/* An operator inside a vertex's chain. */
typedef struct cf_jop_s {
    int node; /* StreamNode id */
    int *chained; /* indices of chained successors in the vertex */
    int nchained;
    int *outputs; /* indices into the vertex's outputs */
    int noutputs;
} cf_jop_t;

/* A non-chained output of a vertex: one result partition per subtask. */
typedef struct cf_jout_s {
    int op;          /* producing operator (index in the vertex) */
    int target;      /* consuming vertex index */
    int target_gate; /* its input index */
    int partitioner;
    int edge; /* StreamGraph edge index */
} cf_jout_t;

typedef struct cf_jin_s {
    int source;  /* producing vertex index */
    int out_idx; /* index into the producer's outputs */
} cf_jin_t;

typedef struct cf_jvertex_s {
    cf_id_t id;
    char *name;
    int parallelism;
    int max_parallelism;
    cf_jop_t *ops; /* ops[0] is the head */
    int nops;
    cf_jout_t *outs;
    int nouts;
    cf_jin_t *ins;
    int nins;
} cf_jvertex_t;

struct cf_job_s {
    cf_env_t *env;
    cf_plugin_lib_t *lib;
    const cf_config_t *cfg;
    cf_id_t job_id;
    char job_id_hex[CF_ID_HEX_LEN + 1];
    cf_jvertex_t *vertices; /* topological order */
    int nvertices;
};

/* graph.c */
cf_env_t *cf_env_new(const cf_config_t *cfg, int parallelism);
void cf_env_destroy(cf_env_t *env);
int cf_env_error(cf_env_t *env, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
cf_snode_t *cf_env_node(cf_env_t *env, int id);
/* The env's copy of tag (one per distinct string, freed with the env).
 * Thread: the builder's. */
const char *cf_env_intern(cf_env_t *env, const char *tag);
int cf_jobgraph_build(cf_job_t *job, cf_error_t **errp);
/* Graph helpers for builder functions in other files (window.c, ...). */
cf_stream_t *cf_stream_new(cf_env_t *env, int nrefs);
int cf_check_input(cf_stream_t *s, const char *what);
cf_stream_t *cf_transform(cf_stream_t *s, cf_op_kind_t kind, const char *what,
                          const char *name, void *udata, cf_snode_t **out);
void cf_copy_ops(void *dst, size_t dst_size, const void *src);
/* Zeroed memory that lives as long as env (host-owned configuration of
 * operators built from other operators: join.c, interval_join.c). */
void *cf_env_alloc(cf_env_t *env, size_t size);
void cf_jobgraph_free(cf_job_t *job);
int cf_job_decode(cf_job_t *job, const uint8_t *buf, size_t len,
                  cf_error_t **errp);

/* plugin.c */
cf_entry_fn cf_plugin_entry(const cf_plugin_lib_t *lib);

/* builder functions of the host table (graph.c) */
void cf_b_env_set_parallelism(cf_env_t *env, int p);
void cf_b_env_set_max_parallelism(cf_env_t *env, int p);
void cf_b_env_set_job_name(cf_env_t *env, const char *name);
void cf_b_env_disable_chaining(cf_env_t *env);
int cf_b_env_parallelism(cf_env_t *env);
const char *cf_b_env_config(cf_env_t *env, const char *key);
int cf_b_env_fail(cf_env_t *env, const char *fmt, va_list ap);
cf_stream_t *cf_b_env_add_source(cf_env_t *env, const char *name,
                                 const cf_source_ops_t *ops, void *udata);
cf_stream_t *cf_b_map(cf_stream_t *s, const char *name, cf_map_fn fn,
                      void *udata);
cf_stream_t *cf_b_filter(cf_stream_t *s, const char *name, cf_filter_fn fn,
                         void *udata);
cf_stream_t *cf_b_flat_map(cf_stream_t *s, const char *name,
                           cf_flat_map_fn fn, void *udata);
cf_stream_t *cf_b_process(cf_stream_t *s, const char *name,
                          const cf_process_ops_t *ops, void *udata);
cf_stream_t *cf_b_key_by(cf_stream_t *s, cf_key_fn fn, void *udata);
cf_stream_t *cf_b_reduce(cf_stream_t *s, const char *name, cf_reduce_fn fn,
                         void *udata);
cf_stream_t *cf_b_union(cf_stream_t *s, cf_stream_t *const *others, int n);
cf_stream_t *cf_b_partition(cf_stream_t *s, int partitioner);
cf_stream_t *cf_b_sink(cf_stream_t *s, const char *name,
                       const cf_sink_ops_t *ops, void *udata);
cf_stream_t *cf_b_set_parallelism(cf_stream_t *s, int p);
cf_stream_t *cf_b_set_max_parallelism(cf_stream_t *s, int p);
cf_stream_t *cf_b_set_name(cf_stream_t *s, const char *name);
cf_stream_t *cf_b_set_uid(cf_stream_t *s, const char *uid);
cf_stream_t *cf_b_set_hooks(cf_stream_t *s, const cf_hooks_t *hooks);
cf_stream_t *cf_b_start_new_chain(cf_stream_t *s);
cf_stream_t *cf_b_disable_chaining(cf_stream_t *s);

/* ------------------------------------------------------------------ */
/* Run time                                                            */
/* ------------------------------------------------------------------ */

typedef struct cf_task_s cf_task_t;

typedef int (*cf_op_invoke_fn)(cf_ctx_t *ctx, const cf_record_t *r);

/* One operator instance of a chain. */
struct cf_ctx_s {
    const cf_host_api_t *api;
    cf_op_invoke_fn invoke; /* entry: sets the key, then body */
    cf_op_invoke_fn body;   /* the operator kind's record function */
    cf_task_t *task;
    cf_snode_t *node;
    struct cf_ctx_s **chained; /* chained successors */
    int nchained;
    struct cf_rw_s **writers; /* non-chained outputs */
    int nwriters;
    void *local;
    void *scratch;
    uint32_t scratch_cap;
    int opened;
    /* keyed operators */
    cf_kstate_backend_t *kstate;
    cf_key_t key;
    cf_state_t *reduce_state;
    cf_buf_t reduce_out;
    /* checkpointing (op_ckpt.c) */
    cf_opstate_backend_t *opstate; /* created on first use */
    int restored;                  /* cf_ctx_is_restored */
    struct cf_op_ckpt_s *ck;       /* 2PC sink bookkeeping, or NULL */
    /* event time (ABI 1.2) */
    struct cf_timers_s *timers;    /* keyed operators that use timers */
    int64_t cur_ts;                /* cf_ctx_timestamp */
    int64_t watermark;             /* this operator's input watermark */
    struct cf_winop_s *winop;      /* CF_OP_WINDOW (window.c) */
    struct cf_wmgen_s *wmgen;      /* CF_OP_TIMESTAMPS (eventtime.c) */
    uint64_t late_dropped;         /* interval join: late records dropped
                                    * (windows count in winop) */
    /* Side outputs (eventtime.c): the outputs whose edge carries a tag.
     * chained / writers above hold only the main (untagged) outputs, so
     * cf_emit's path does not look at tags. */
    struct cf_side_out_s *side;
    int nside;
};

/* A tagged output of an operator: a chained successor or a writer. */
typedef struct cf_side_out_s {
    const char *tag; /* interned in the env */
    struct cf_ctx_s *chained; /* or NULL */
    struct cf_rw_s *writer;   /* or NULL */
} cf_side_out_t;

/* A record writer: one non-chained output of a task. */
typedef struct cf_rw_s {
    cf_net_partition_t part;
    int partitioner;
    cf_key_fn key_fn;
    cf_ctx_t *key_ctx;
    int max_parallelism; /* of the consumer, for HASH */
    int consumers;       /* its parallelism */
    cf_keygroup_router_t router; /* HASH: hash -> consumer, precomputed */
    int rr;              /* round-robin position */
    int flush_always;    /* buffer timeout 0: ship after every record */
    int rescale_lo, rescale_n;
    uint64_t rng;
    cf_key_t key;
} cf_rw_t;

int cf_task_emit(cf_ctx_t *ctx, const void *data, uint32_t len, int64_t ts);
/* ABI 1.2 (task.c / eventtime.c): side outputs, clocks, timers. */
int cf_task_emit_side(cf_ctx_t *ctx, const char *tag, const void *data,
                      uint32_t len, int64_t ts);
int64_t cf_task_processing_time(cf_ctx_t *ctx); /* the task's clock, ms */
int cf_task_fail(cf_ctx_t *ctx, const char *fmt, va_list ap);
void cf_task_log(cf_ctx_t *ctx, int level, const char *fmt, va_list ap);
void *cf_task_udata(cf_ctx_t *ctx);
void *cf_task_local(cf_ctx_t *ctx);
void cf_task_set_local(cf_ctx_t *ctx, void *local);
int cf_task_subtask_index(cf_ctx_t *ctx);
int cf_task_parallelism(cf_ctx_t *ctx);
int cf_task_max_parallelism(cf_ctx_t *ctx);
const char *cf_task_name(cf_ctx_t *ctx);
void *cf_task_scratch(cf_ctx_t *ctx, uint32_t size);
int cf_task_current_key(cf_ctx_t *ctx, cf_slice_t *key);
const char *cf_task_config(cf_ctx_t *ctx, const char *key);
int cf_task_buf_reserve(cf_ctx_t *ctx, cf_buf_t *buf, uint32_t cap);
cf_state_t *cf_task_state_value(cf_ctx_t *ctx, const char *name);
cf_state_t *cf_task_state_list(cf_ctx_t *ctx, const char *name);
cf_state_t *cf_task_state_map(cf_ctx_t *ctx, const char *name);
cf_state_t *cf_task_state_reducing(cf_ctx_t *ctx, const char *name,
                                   cf_reduce_fn fn);

#endif /* CF_RUNTIME_INT_H */
