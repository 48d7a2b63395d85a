/*
 * graph.c: the StreamGraph a plugin builds through the host table, and the
 * JobGraph derived from it.
 *
 * StreamGraph: one node per operator (ids in creation order, so ascending
 * ids are a topological order), edges with partitioners. Builder misuse
 * is recorded in the environment (the first message wins) and fails the
 * submission; builder calls always return a usable handle so that the
 * plugin's entry can run to its end.
 *
 * JobGraph: operators chained into vertices by Flink's rule (an edge is
 * chainable when the downstream node has exactly this one input, the
 * partitioner is FORWARD, both sides have the same parallelism, the
 * upstream may chain (not NEVER), the downstream chains to its input
 * (ALWAYS), and chaining is enabled for the job). A chain is a tree rooted
 * at its head; every external input of a vertex enters at its head.
 * Vertices are ordered by their heads' ids, which is topological.
 *
 * The JobGraph is encoded as a protobuf message (proto/jobgraph.proto);
 * decoding binds each operator back to the StreamGraph node of the same id
 * (built by running the plugin's entry again, as a TaskManager does).
 */
#include <string.h>

#include <jansson.h>

#include "jobgraph.pb-c.h"
#include "op_ckpt.h"
#include "runtime_int.h"
#include "window.h"

/* ------------------------------------------------------------------ */
/* Environment and nodes                                               */
/* ------------------------------------------------------------------ */

const char *
cf_partitioner_name(int partitioner)
{
    switch (partitioner) {
    case CF_PARTITION_FORWARD: return "FORWARD";
    case CF_PARTITION_REBALANCE: return "REBALANCE";
    case CF_PARTITION_RESCALE: return "RESCALE";
    case CF_PARTITION_BROADCAST: return "BROADCAST";
    case CF_PARTITION_SHUFFLE: return "SHUFFLE";
    case CF_PARTITION_GLOBAL: return "GLOBAL";
    case CF_PARTITION_HASH: return "HASH";
    default: return "UNKNOWN";
    }
}

cf_env_t *
cf_env_new(const cf_config_t *cfg, int parallelism)
{
    cf_env_t *env = CF_NEW(cf_env_t);
    env->api = &cf_host_api;
    env->cfg = cfg;
    env->parallelism = parallelism > 0 ? parallelism : 1;
    env->max_parallelism =
        cfg ? cf_config_get_int(cfg, "pipeline.max-parallelism", -1) : -1;
    env->chaining_enabled = 1;
    return env;
}

struct cf_env_block_s {
    struct cf_env_block_s *next;
    max_align_t data[]; /* aligned for any type */
};

void *
cf_env_alloc(cf_env_t *env, size_t size)
{
    struct cf_env_block_s *b = cf_calloc(1, sizeof *b + size);
    b->next = env->owned;
    env->owned = b;
    return b->data;
}

void
cf_env_destroy(cf_env_t *env)
{
    if (env == NULL)
        return;
    for (struct cf_env_block_s *b = env->owned, *nb; b != NULL; b = nb) {
        nb = b->next;
        cf_free(b);
    }
    for (int i = 0; i < env->nnodes; i++) {
        cf_snode_t *n = env->nodes[i];
        cf_free(n->name);
        cf_free(n->uid);
        cf_free(n->in);
        cf_free(n->out);
        if (n->win != NULL)
            cf_window_conf_free(n->win);
        cf_free(n);
    }
    cf_free(env->nodes);
    cf_free(env->edges);
    while (env->streams) {
        cf_stream_t *s = env->streams;
        env->streams = s->next_alloc;
        if (s->win != NULL)
            cf_window_conf_free(s->win);
        cf_free(s->refs);
        cf_free(s);
    }
    for (int i = 0; i < env->ntags; i++)
        cf_free(env->tags[i]);
    cf_free(env->tags);
    cf_free(env->job_name);
    cf_free(env->error);
    cf_free(env);
}

int
cf_env_error(cf_env_t *env, const char *fmt, ...)
{
    va_list ap;
    if (env->error == NULL) {
        va_start(ap, fmt);
        env->error = cf_vasprintf(fmt, ap);
        va_end(ap);
    }
    return CF_ERR;
}

const char *
cf_env_intern(cf_env_t *env, const char *tag)
{
    for (int i = 0; i < env->ntags; i++)
        if (strcmp(env->tags[i], tag) == 0)
            return env->tags[i];
    CF_GROW(&env->tags, &env->tags_cap, env->ntags + 1);
    env->tags[env->ntags] = cf_strdup(tag);
    return env->tags[env->ntags++];
}

cf_snode_t *
cf_env_node(cf_env_t *env, int id)
{
    if (id < 1 || id > env->nnodes)
        return NULL;
    return env->nodes[id - 1];
}

static const char *
cf_op_default_name(cf_op_kind_t kind, int keyed)
{
    switch (kind) {
    case CF_OP_SOURCE: return "Custom Source";
    case CF_OP_MAP: return "Map";
    case CF_OP_FILTER: return "Filter";
    case CF_OP_FLAT_MAP: return "Flat Map";
    case CF_OP_PROCESS: return keyed ? "KeyedProcess" : "Process";
    case CF_OP_REDUCE: return "Keyed Reduce";
    case CF_OP_SINK: return "Unnamed";
    case CF_OP_SINK_2PC: return "Unnamed";
    case CF_OP_TIMESTAMPS: return "Timestamps/Watermarks";
    case CF_OP_WINDOW: return "Window";
    }
    return "Unnamed";
}

/* The name shown in the job graph ("Source: x", "Sink: y", "Map"). */
static char *
cf_op_display_name(cf_op_kind_t kind, const char *name)
{
    if (kind == CF_OP_SOURCE)
        return cf_asprintf("Source: %s", name);
    if (kind == CF_OP_SINK || kind == CF_OP_SINK_2PC)
        return cf_asprintf("Sink: %s", name);
    return cf_strdup(name);
}

static cf_snode_t *
cf_node_new(cf_env_t *env, cf_op_kind_t kind, const char *name, int keyed)
{
    cf_snode_t *n = CF_NEW(cf_snode_t);
    CF_GROW(&env->nodes, &env->nodes_cap, env->nnodes + 1);
    env->nodes[env->nnodes++] = n;
    n->id = env->nnodes;
    n->kind = kind;
    n->keyed = keyed;
    n->name = cf_op_display_name(
        kind, name && *name ? name : cf_op_default_name(kind, keyed));
    n->parallelism = -1;
    n->max_parallelism = -1;
    n->chaining = kind == CF_OP_SOURCE ? CF_CHAIN_HEAD : CF_CHAIN_ALWAYS;
    n->hooks.size = sizeof n->hooks;
    return n;
}

cf_stream_t *
cf_stream_new(cf_env_t *env, int nrefs)
{
    cf_stream_t *s = CF_NEW(cf_stream_t);
    s->api = &cf_host_api;
    s->env = env;
    s->refs = cf_calloc((size_t)(nrefs ? nrefs : 1), sizeof *s->refs);
    s->nrefs = nrefs;
    s->next_alloc = env->streams;
    env->streams = s;
    return s;
}

static cf_stream_t *
cf_stream_of_node(cf_env_t *env, cf_snode_t *n)
{
    cf_stream_t *s = cf_stream_new(env, 1);
    s->refs[0].node = n->id;
    s->sink = n->kind == CF_OP_SINK || n->kind == CF_OP_SINK_2PC;
    return s;
}

/* Connect every upstream of s to dst. */
static void
cf_connect(cf_stream_t *s, cf_snode_t *dst)
{
    cf_env_t *env = s->env;
    for (int i = 0; i < s->nrefs; i++) {
        cf_sref_t *r = &s->refs[i];
        cf_snode_t *src = cf_env_node(env, r->node);
        cf_sedge_t e = {r->node, dst->id, r->partitioner, r->key_fn,
                        r->key_udata, r->tag};
        CF_GROW(&env->edges, &env->edges_cap, env->nedges + 1);
        env->edges[env->nedges] = e;
        CF_GROW(&src->out, &src->out_cap, src->nout + 1);
        src->out[src->nout++] = env->nedges;
        CF_GROW(&dst->in, &dst->in_cap, dst->nin + 1);
        dst->in[dst->nin++] = e;
        env->nedges++;
    }
    if (s->keyed) {
        dst->keyed = 1;
        dst->key_fn = s->refs[0].key_fn;
        dst->key_udata = s->refs[0].key_udata;
    }
}

/* Common checks of a transformation's input. */
int
cf_check_input(cf_stream_t *s, const char *what)
{
    if (s->sink)
        return cf_env_error(s->env,
                            "%s() cannot be applied to a sink ('%s')", what,
                            cf_env_node(s->env, s->refs[0].node)->name);
    return 0;
}

cf_stream_t *
cf_transform(cf_stream_t *s, cf_op_kind_t kind, const char *what,
             const char *name, void *udata, cf_snode_t **out)
{
    cf_snode_t *n;
    cf_check_input(s, what);
    n = cf_node_new(s->env, kind, name, s->keyed);
    n->udata = udata;
    cf_connect(s, n);
    *out = n;
    return cf_stream_of_node(s->env, n);
}

/* ------------------------------------------------------------------ */
/* Builder functions of the host table                                 */
/* ------------------------------------------------------------------ */

void
cf_b_env_set_parallelism(cf_env_t *env, int p)
{
    if (p < 1) {
        cf_env_error(env, "The parallelism of an operator must be at least "
                          "1 (setParallelism(%d) on the environment).",
                     p);
        return;
    }
    env->parallelism = p;
}

void
cf_b_env_set_max_parallelism(cf_env_t *env, int p)
{
    if (p < 1 || p > CF_MAX_PARALLELISM_UPPER) {
        cf_env_error(env,
                     "Maximum parallelism must be between 1 and %d. Found: "
                     "%d.",
                     CF_MAX_PARALLELISM_UPPER, p);
        return;
    }
    env->max_parallelism = p;
}

void
cf_b_env_set_job_name(cf_env_t *env, const char *name)
{
    cf_free(env->job_name);
    env->job_name = cf_strdup(name ? name : "");
}

void
cf_b_env_disable_chaining(cf_env_t *env)
{
    env->chaining_enabled = 0;
}

int
cf_b_env_parallelism(cf_env_t *env)
{
    return env->parallelism;
}

const char *
cf_b_env_config(cf_env_t *env, const char *key)
{
    return env->cfg ? cf_config_get(env->cfg, key) : NULL;
}

int
cf_b_env_fail(cf_env_t *env, const char *fmt, va_list ap)
{
    if (env->error == NULL)
        env->error = cf_vasprintf(fmt, ap);
    return CF_ERR;
}

/* Copy a size-prefixed ops struct of the plugin: fields the plugin's
 * (older) header did not have stay zero. */
void
cf_copy_ops(void *dst, size_t dst_size, const void *src)
{
    uint32_t n;
    memset(dst, 0, dst_size);
    if (src == NULL)
        return;
    memcpy(&n, src, sizeof n);
    if (n > dst_size)
        n = (uint32_t)dst_size;
    memcpy(dst, src, n);
    memcpy(dst, &(uint32_t){(uint32_t)dst_size}, sizeof n);
}

cf_stream_t *
cf_b_env_add_source(cf_env_t *env, const char *name,
                    const cf_source_ops_t *ops, void *udata)
{
    cf_snode_t *n = cf_node_new(env, CF_OP_SOURCE, name, 0);
    cf_copy_ops(&n->source, sizeof n->source, ops);
    n->udata = udata;
    if (ops == NULL || n->source.next == NULL)
        cf_env_error(env, "Source '%s' has no next() function", n->name);
    return cf_stream_of_node(env, n);
}

cf_stream_t *
cf_b_map(cf_stream_t *s, const char *name, cf_map_fn fn, void *udata)
{
    cf_snode_t *n;
    cf_stream_t *r = cf_transform(s, CF_OP_MAP, "map", name, udata, &n);
    n->fn.map = fn;
    if (fn == NULL)
        cf_env_error(s->env, "map '%s' has no function", n->name);
    return r;
}

cf_stream_t *
cf_b_filter(cf_stream_t *s, const char *name, cf_filter_fn fn, void *udata)
{
    cf_snode_t *n;
    cf_stream_t *r = cf_transform(s, CF_OP_FILTER, "filter", name, udata, &n);
    n->fn.filter = fn;
    if (fn == NULL)
        cf_env_error(s->env, "filter '%s' has no function", n->name);
    return r;
}

cf_stream_t *
cf_b_flat_map(cf_stream_t *s, const char *name, cf_flat_map_fn fn,
              void *udata)
{
    cf_snode_t *n;
    cf_stream_t *r =
        cf_transform(s, CF_OP_FLAT_MAP, "flatMap", name, udata, &n);
    n->fn.flat_map = fn;
    if (fn == NULL)
        cf_env_error(s->env, "flatMap '%s' has no function", n->name);
    return r;
}

cf_stream_t *
cf_b_process(cf_stream_t *s, const char *name, const cf_process_ops_t *ops,
             void *udata)
{
    cf_snode_t *n;
    cf_stream_t *r =
        cf_transform(s, CF_OP_PROCESS, "process", name, udata, &n);
    cf_copy_ops(&n->process, sizeof n->process, ops);
    if (ops == NULL || n->process.process == NULL)
        cf_env_error(s->env, "process '%s' has no process() function",
                     n->name);
    return r;
}

cf_stream_t *
cf_b_key_by(cf_stream_t *s, cf_key_fn fn, void *udata)
{
    cf_stream_t *k;
    cf_check_input(s, "keyBy");
    if (fn == NULL)
        cf_env_error(s->env, "keyBy() needs a key selector");
    k = cf_stream_new(s->env, s->nrefs);
    for (int i = 0; i < s->nrefs; i++) {
        k->refs[i] = s->refs[i];
        k->refs[i].partitioner = CF_PARTITION_HASH;
        k->refs[i].key_fn = fn;
        k->refs[i].key_udata = udata;
    }
    k->keyed = 1;
    return k;
}

cf_stream_t *
cf_b_reduce(cf_stream_t *s, const char *name, cf_reduce_fn fn, void *udata)
{
    cf_snode_t *n;
    cf_stream_t *r;
    if (!s->keyed)
        cf_env_error(s->env, "reduce() requires a keyed stream: call "
                             "key_by() first");
    r = cf_transform(s, CF_OP_REDUCE, "reduce", name, udata, &n);
    n->fn.reduce = fn;
    if (fn == NULL)
        cf_env_error(s->env, "reduce '%s' has no function", n->name);
    return r;
}

cf_stream_t *
cf_b_union(cf_stream_t *s, cf_stream_t *const *others, int n)
{
    cf_stream_t *u;
    int total = s->nrefs, k = 0;

    cf_check_input(s, "union");
    for (int i = 0; i < n; i++) {
        if (others[i] == NULL || others[i]->env != s->env) {
            cf_env_error(s->env, "union() of streams from different "
                                 "environments");
            return s;
        }
        cf_check_input(others[i], "union");
        total += others[i]->nrefs;
    }
    u = cf_stream_new(s->env, total);
    for (int i = 0; i < s->nrefs; i++)
        u->refs[k++] = s->refs[i];
    for (int i = 0; i < n; i++)
        for (int j = 0; j < others[i]->nrefs; j++)
            u->refs[k++] = others[i]->refs[j];
    return u;
}

cf_stream_t *
cf_b_partition(cf_stream_t *s, int partitioner)
{
    cf_stream_t *p;
    cf_check_input(s, "partition");
    if (partitioner < CF_PARTITION_FORWARD ||
        partitioner > CF_PARTITION_GLOBAL) {
        cf_env_error(s->env, "Unknown partitioner %d", partitioner);
        partitioner = CF_PARTITION_REBALANCE;
    }
    p = cf_stream_new(s->env, s->nrefs);
    for (int i = 0; i < s->nrefs; i++) {
        p->refs[i] = s->refs[i];
        p->refs[i].partitioner = partitioner;
        p->refs[i].key_fn = NULL;
        p->refs[i].key_udata = NULL;
    }
    return p;
}

cf_stream_t *
cf_b_sink(cf_stream_t *s, const char *name, const cf_sink_ops_t *ops,
          void *udata)
{
    cf_snode_t *n;
    cf_stream_t *r = cf_transform(s, CF_OP_SINK, "sinkTo", name, udata, &n);
    cf_copy_ops(&n->sink, sizeof n->sink, ops);
    if (ops == NULL || n->sink.invoke == NULL)
        cf_env_error(s->env, "Sink '%s' has no invoke() function", n->name);
    return r;
}

cf_stream_t *
cf_b_sink_2pc(cf_stream_t *s, const char *name, const cf_2pc_sink_ops_t *ops,
              void *udata)
{
    cf_snode_t *n;
    cf_stream_t *r =
        cf_transform(s, CF_OP_SINK_2PC, "sinkTo", name, udata, &n);
    cf_copy_ops(&n->sink2pc, sizeof n->sink2pc, ops);
    if (ops == NULL || n->sink2pc.invoke == NULL)
        cf_env_error(s->env,
                     "Two-phase-commit sink '%s' has no invoke() function",
                     n->name);
    else if (n->sink2pc.pre_commit == NULL)
        cf_env_error(s->env,
                     "Two-phase-commit sink '%s' has no pre_commit() "
                     "function",
                     n->name);
    else if (n->sink2pc.commit == NULL)
        cf_env_error(s->env,
                     "Two-phase-commit sink '%s' has no commit() function",
                     n->name);
    return r;
}

/* The operator a setting applies to: the stream must be an operator's
 * direct output (not a union, partitioned, keyed or side output stream:
 * a side output has no settings of its own, as Flink's getSideOutput
 * returns a plain DataStream). */
static cf_snode_t *
cf_setting_target(cf_stream_t *s, const char *what)
{
    if (s->nrefs != 1 || s->refs[0].partitioner != 0 || s->keyed ||
        s->refs[0].tag != NULL) {
        cf_env_error(s->env,
                     "%s() applies to an operator, not to a union, "
                     "partitioned, keyed or side output stream",
                     what);
        return NULL;
    }
    return cf_env_node(s->env, s->refs[0].node);
}

cf_stream_t *
cf_b_set_parallelism(cf_stream_t *s, int p)
{
    cf_snode_t *n = cf_setting_target(s, "setParallelism");
    if (n == NULL)
        return s;
    if (p < 1) {
        cf_env_error(s->env,
                     "The parallelism of an operator must be at least 1 "
                     "(operator '%s', parallelism %d).",
                     n->name, p);
        return s;
    }
    n->parallelism = p;
    return s;
}

cf_stream_t *
cf_b_set_max_parallelism(cf_stream_t *s, int p)
{
    cf_snode_t *n = cf_setting_target(s, "setMaxParallelism");
    if (n == NULL)
        return s;
    if (p < 1 || p > CF_MAX_PARALLELISM_UPPER) {
        cf_env_error(s->env,
                     "Maximum parallelism of operator '%s' must be between "
                     "1 and %d. Found: %d.",
                     n->name, CF_MAX_PARALLELISM_UPPER, p);
        return s;
    }
    n->max_parallelism = p;
    return s;
}

cf_stream_t *
cf_b_set_name(cf_stream_t *s, const char *name)
{
    cf_snode_t *n = cf_setting_target(s, "name");
    if (n == NULL || name == NULL || *name == '\0')
        return s;
    cf_free(n->name);
    n->name = cf_op_display_name(n->kind, name);
    return s;
}

cf_stream_t *
cf_b_set_uid(cf_stream_t *s, const char *uid)
{
    cf_snode_t *n = cf_setting_target(s, "uid");
    if (n == NULL)
        return s;
    if (uid == NULL || *uid == '\0') {
        cf_env_error(s->env, "uid of operator '%s' must not be empty",
                     n->name);
        return s;
    }
    cf_free(n->uid);
    n->uid = cf_strdup(uid);
    return s;
}

cf_stream_t *
cf_b_set_hooks(cf_stream_t *s, const cf_hooks_t *hooks)
{
    cf_snode_t *n = cf_setting_target(s, "hooks");
    if (n != NULL)
        cf_copy_ops(&n->hooks, sizeof n->hooks, hooks);
    return s;
}

cf_stream_t *
cf_b_start_new_chain(cf_stream_t *s)
{
    cf_snode_t *n = cf_setting_target(s, "startNewChain");
    if (n != NULL && n->chaining == CF_CHAIN_ALWAYS)
        n->chaining = CF_CHAIN_HEAD;
    return s;
}

cf_stream_t *
cf_b_disable_chaining(cf_stream_t *s)
{
    cf_snode_t *n = cf_setting_target(s, "disableChaining");
    if (n != NULL)
        n->chaining = CF_CHAIN_NEVER;
    return s;
}

/* ------------------------------------------------------------------ */
/* JobGraph                                                            */
/* ------------------------------------------------------------------ */

static int
cf_edge_chainable(cf_env_t *env, const cf_sedge_t *e)
{
    cf_snode_t *src = cf_env_node(env, e->src);
    cf_snode_t *dst = cf_env_node(env, e->dst);
    return env->chaining_enabled && dst->nin == 1 &&
           e->partitioner == CF_PARTITION_FORWARD &&
           src->chaining != CF_CHAIN_NEVER &&
           dst->chaining == CF_CHAIN_ALWAYS &&
           src->parallelism == dst->parallelism;
}

/* Flink's createChainedName: "a -> b", or "a -> (b, c)" on a fan-out. */
static void
cf_chained_name(cf_env_t *env, cf_snode_t *n, cf_sbuf_t *out)
{
    int nchained = 0;
    cf_sbuf_append(out, n->name);
    for (int i = 0; i < n->nout; i++)
        nchained += cf_edge_chainable(env, &env->edges[n->out[i]]);
    if (nchained == 0)
        return;
    cf_sbuf_append(out, nchained > 1 ? " -> (" : " -> ");
    for (int i = 0, k = 0; i < n->nout; i++) {
        cf_sedge_t *e = &env->edges[n->out[i]];
        if (!cf_edge_chainable(env, e))
            continue;
        if (k++ > 0)
            cf_sbuf_append(out, ", ");
        cf_chained_name(env, cf_env_node(env, e->dst), out);
    }
    if (nchained > 1)
        cf_sbuf_append(out, ")");
}

/* Add n and its chained successors to vertex v (pre-order). */
static int
cf_chain_collect(cf_env_t *env, cf_jvertex_t *v, int *vertex_of, int vi,
                 cf_snode_t *n, int *cap)
{
    int idx = v->nops;
    CF_GROW(&v->ops, cap, v->nops + 1);
    memset(&v->ops[idx], 0, sizeof v->ops[idx]);
    v->ops[idx].node = n->id;
    v->nops++;
    vertex_of[n->id] = vi;
    for (int i = 0; i < n->nout; i++) {
        cf_sedge_t *e = &env->edges[n->out[i]];
        if (!cf_edge_chainable(env, e))
            continue;
        int child = cf_chain_collect(env, v, vertex_of, vi,
                                     cf_env_node(env, e->dst), cap);
        cf_jop_t *op = &v->ops[idx];
        op->chained = cf_realloc(op->chained,
                                 sizeof(int) * (size_t)(op->nchained + 1));
        op->chained[op->nchained++] = child;
    }
    return idx;
}

static void
cf_node_op_id(cf_env_t *env, cf_snode_t *n)
{
    cf_sbuf_t b = {0};
    if (n->uid) {
        cf_murmur3_128(n->uid, strlen(n->uid), 0, n->op_id.b);
        return;
    }
    /* Deterministic for the same graph: position, kind and inputs. */
    cf_sbuf_printf(&b, "node:%d|%d|%d", n->id, (int)n->kind, n->nin);
    for (int i = 0; i < n->nin; i++) {
        char hex[CF_ID_HEX_LEN + 1];
        cf_id_to_hex(&cf_env_node(env, n->in[i].src)->op_id, hex);
        cf_sbuf_printf(&b, "|%s:%d", hex, n->in[i].partitioner);
    }
    cf_murmur3_128(b.s, b.len, 0x5f1f, n->op_id.b);
    cf_sbuf_deinit(&b);
}

void
cf_jobgraph_free(cf_job_t *job)
{
    for (int i = 0; i < job->nvertices; i++) {
        cf_jvertex_t *v = &job->vertices[i];
        for (int j = 0; j < v->nops; j++) {
            cf_free(v->ops[j].chained);
            cf_free(v->ops[j].outputs);
        }
        cf_free(v->ops);
        cf_free(v->outs);
        cf_free(v->ins);
        cf_free(v->name);
    }
    cf_free(job->vertices);
    job->vertices = NULL;
    job->nvertices = 0;
}

/* Resolve parallelism, max parallelism and partitioners; validate. */
static int
cf_stream_graph_resolve(cf_env_t *env, cf_error_t **errp)
{
    if (env->nnodes == 0)
        return cf_error_set(errp, CF_EGRAPH,
                            "No operators defined in streaming topology. "
                            "Cannot execute.");
    for (int i = 0; i < env->nnodes; i++) {
        cf_snode_t *n = env->nodes[i];
        if (n->parallelism < 1)
            n->parallelism = env->parallelism;
        if (n->max_parallelism < 1)
            n->max_parallelism = env->max_parallelism > 0
                                     ? env->max_parallelism
                                     : cf_default_max_parallelism(
                                           n->parallelism);
        if (n->parallelism > n->max_parallelism)
            return cf_error_set(
                errp, CF_EGRAPH,
                "The parallelism (%d) of operator '%s' must not exceed its "
                "maximum parallelism (%d)",
                n->parallelism, n->name, n->max_parallelism);
        if (n->kind == CF_OP_SOURCE && n->nin > 0)
            return cf_error_set(errp, CF_EGRAPH, "Source '%s' has inputs",
                                n->name);
        if (n->kind != CF_OP_SOURCE && n->nin == 0)
            return cf_error_set(errp, CF_EGRAPH, "Operator '%s' has no input",
                                n->name);
    }
    for (int i = 0; i < env->nedges; i++) {
        cf_sedge_t *e = &env->edges[i];
        cf_snode_t *src = cf_env_node(env, e->src);
        cf_snode_t *dst = cf_env_node(env, e->dst);
        if (e->partitioner == 0)
            e->partitioner = src->parallelism == dst->parallelism
                                 ? CF_PARTITION_FORWARD
                                 : CF_PARTITION_REBALANCE;
        if (e->partitioner == CF_PARTITION_FORWARD &&
            src->parallelism != dst->parallelism)
            return cf_error_set(
                errp, CF_EGRAPH,
                "Forward partitioning does not allow change of parallelism. "
                "Upstream operation: %s parallelism: %d, downstream "
                "operation: %s parallelism: %d You must use another "
                "partitioning strategy, such as broadcast, rebalance, "
                "shuffle or global.",
                src->name, src->parallelism, dst->name, dst->parallelism);
    }
    /* Keep the node's copy of its input edges in sync. */
    for (int i = 0; i < env->nnodes; i++)
        env->nodes[i]->nin = 0;
    for (int i = 0; i < env->nedges; i++) {
        cf_snode_t *dst = cf_env_node(env, env->edges[i].dst);
        dst->in[dst->nin++] = env->edges[i];
    }
    for (int i = 0; i < env->nnodes; i++) {
        cf_node_op_id(env, env->nodes[i]);
        for (int j = 0; j < i; j++)
            if (cf_id_equal(&env->nodes[i]->op_id, &env->nodes[j]->op_id))
                return cf_error_set(
                    errp, CF_EGRAPH,
                    "Hash collision on user-specified ID \"%s\". Most likely "
                    "cause is a non-unique ID. Please check that all IDs "
                    "specified via uid() are unique.",
                    env->nodes[i]->uid ? env->nodes[i]->uid : "");
    }
    return 0;
}

int
cf_jobgraph_build(cf_job_t *job, cf_error_t **errp)
{
    cf_env_t *env = job->env;
    int *vertex_of, *gate_count;
    int rc;

    if ((rc = cf_stream_graph_resolve(env, errp)) < 0)
        return rc;
    vertex_of = cf_calloc((size_t)env->nnodes + 1, sizeof(int));
    for (int i = 0; i <= env->nnodes; i++)
        vertex_of[i] = -1;

    /* Heads in id order: a node without a chainable input. */
    for (int i = 0; i < env->nnodes; i++) {
        cf_snode_t *n = env->nodes[i];
        if (n->nin == 1 && cf_edge_chainable(env, &n->in[0]))
            continue;
        job->vertices = cf_realloc(job->vertices,
                                   sizeof(cf_jvertex_t) *
                                       (size_t)(job->nvertices + 1));
        cf_jvertex_t *v = &job->vertices[job->nvertices];
        memset(v, 0, sizeof *v);
        int cap = 0;
        cf_sbuf_t name = {0};
        cf_chain_collect(env, v, vertex_of, job->nvertices, n, &cap);
        cf_chained_name(env, n, &name);
        v->name = cf_sbuf_take(&name);
        v->id = n->op_id;
        v->parallelism = n->parallelism;
        v->max_parallelism = n->max_parallelism;
        job->nvertices++;
    }

    /* Non-chained edges become vertex outputs and inputs. */
    gate_count = cf_calloc((size_t)job->nvertices, sizeof(int));
    for (int vi = 0; vi < job->nvertices; vi++) {
        cf_jvertex_t *v = &job->vertices[vi];
        for (int oi = 0; oi < v->nops; oi++) {
            cf_snode_t *n = cf_env_node(env, v->ops[oi].node);
            for (int k = 0; k < n->nout; k++) {
                cf_sedge_t *e = &env->edges[n->out[k]];
                if (cf_edge_chainable(env, e))
                    continue;
                int tv = vertex_of[e->dst];
                cf_jvertex_t *t = &job->vertices[tv];
                CF_ASSERT(tv > vi);
                v->outs = cf_realloc(v->outs, sizeof(cf_jout_t) *
                                                  (size_t)(v->nouts + 1));
                v->outs[v->nouts] = (cf_jout_t){oi, tv, gate_count[tv],
                                                e->partitioner, n->out[k]};
                cf_jop_t *op = &v->ops[oi];
                op->outputs = cf_realloc(
                    op->outputs, sizeof(int) * (size_t)(op->noutputs + 1));
                op->outputs[op->noutputs++] = v->nouts;
                t->ins = cf_realloc(t->ins,
                                    sizeof(cf_jin_t) * (size_t)(t->nins + 1));
                t->ins[t->nins++] = (cf_jin_t){vi, v->nouts};
                gate_count[tv]++;
                v->nouts++;
            }
        }
    }
    cf_free(gate_count);
    cf_free(vertex_of);
    return 0;
}

/* ------------------------------------------------------------------ */
/* JSON plan (Flink's JsonPlanGenerator shape)                         */
/* ------------------------------------------------------------------ */

/* HTML-escape as Flink's plan does (escapeHtml4, "\n" -> "<br/>"). */
static char *
cf_html_escape(const char *s)
{
    cf_sbuf_t b = {0};
    cf_sbuf_append(&b, "");
    for (; *s; s++) {
        switch (*s) {
        case '<': cf_sbuf_append(&b, "&lt;"); break;
        case '>': cf_sbuf_append(&b, "&gt;"); break;
        case '&': cf_sbuf_append(&b, "&amp;"); break;
        case '"': cf_sbuf_append(&b, "&quot;"); break;
        case '\n': cf_sbuf_append(&b, "<br/>"); break;
        case '\\': cf_sbuf_append(&b, "&#92;"); break;
        default: cf_sbuf_appendn(&b, s, 1);
        }
    }
    return cf_sbuf_take(&b);
}

char *
cf_job_plan_json(const cf_job_t *job, int pretty)
{
    json_t *plan = json_object(), *nodes = json_array();
    char *out, *s;

    json_object_set_new(plan, "jid", json_string(job->job_id_hex));
    json_object_set_new(plan, "name", json_string(cf_job_name(job)));
    json_object_set_new(plan, "type", json_string("STREAMING"));
    for (int i = 0; i < job->nvertices; i++) {
        const cf_jvertex_t *v = &job->vertices[i];
        json_t *node = json_object(), *inputs = json_array();
        char hex[CF_ID_HEX_LEN + 1];
        cf_id_to_hex(&v->id, hex);
        json_object_set_new(node, "id", json_string(hex));
        json_object_set_new(node, "parallelism", json_integer(v->parallelism));
        json_object_set_new(node, "operator", json_string(""));
        json_object_set_new(node, "operator_strategy", json_string(""));
        s = cf_html_escape(v->name);
        json_object_set_new(node, "description", json_string(s));
        cf_free(s);
        for (int k = 0; k < v->nins; k++) {
            const cf_jvertex_t *src = &job->vertices[v->ins[k].source];
            const cf_jout_t *o = &src->outs[v->ins[k].out_idx];
            json_t *in = json_object();
            cf_id_to_hex(&src->id, hex);
            json_object_set_new(in, "num", json_integer(k));
            json_object_set_new(in, "id", json_string(hex));
            json_object_set_new(in, "ship_strategy",
                                json_string(cf_partitioner_name(o->partitioner)));
            json_object_set_new(in, "exchange",
                                json_string("pipelined_bounded"));
            json_array_append_new(inputs, in);
        }
        if (v->nins > 0)
            json_object_set_new(node, "inputs", inputs);
        else
            json_decref(inputs);
        json_object_set_new(node, "optimizer_properties", json_object());
        json_array_append_new(nodes, node);
    }
    json_object_set_new(plan, "nodes", nodes);
    s = json_dumps(plan, pretty ? JSON_INDENT(2) | JSON_PRESERVE_ORDER
                                : JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(plan);
    out = cf_strdup(s);
    free(s);
    return out;
}

/* ------------------------------------------------------------------ */
/* Protobuf                                                            */
/* ------------------------------------------------------------------ */

int
cf_job_encode(const cf_job_t *job, uint8_t **buf, size_t *len)
{
    Cflink__JobGraph jg = CFLINK__JOB_GRAPH__INIT;
    Cflink__JobVertex *vs, **vps;
    cf_env_t *env = job->env;
    size_t nops = 0, nouts = 0, nins = 0;

    for (int i = 0; i < job->nvertices; i++) {
        nops += (size_t)job->vertices[i].nops;
        nouts += (size_t)job->vertices[i].nouts;
        nins += (size_t)job->vertices[i].nins;
    }
    vs = cf_calloc((size_t)job->nvertices + 1, sizeof *vs);
    vps = cf_calloc((size_t)job->nvertices + 1, sizeof *vps);
    Cflink__JobOperator *ops = cf_calloc(nops + 1, sizeof *ops);
    Cflink__JobOperator **opps = cf_calloc(nops + 1, sizeof *opps);
    Cflink__JobOutput *outs = cf_calloc(nouts + 1, sizeof *outs);
    Cflink__JobOutput **outps = cf_calloc(nouts + 1, sizeof *outps);
    Cflink__JobInput *ins = cf_calloc(nins + 1, sizeof *ins);
    Cflink__JobInput **inps = cf_calloc(nins + 1, sizeof *inps);
    size_t po = 0, pu = 0, pi = 0;

    jg.version = 1;
    jg.job_id.data = (uint8_t *)job->job_id.b;
    jg.job_id.len = 16;
    jg.name = (char *)cf_job_name(job);
    jg.plugin_name = (char *)(job->lib ? cf_plugin_name(job->lib) : "");
    jg.n_vertices = (size_t)job->nvertices;
    jg.vertices = vps;
    for (int i = 0; i < job->nvertices; i++) {
        const cf_jvertex_t *v = &job->vertices[i];
        Cflink__JobVertex *pv = &vs[i];
        cflink__job_vertex__init(pv);
        vps[i] = pv;
        pv->id.data = (uint8_t *)v->id.b;
        pv->id.len = 16;
        pv->name = v->name;
        pv->parallelism = v->parallelism;
        pv->max_parallelism = v->max_parallelism;
        pv->n_operators = (size_t)v->nops;
        pv->operators = &opps[po];
        for (int k = 0; k < v->nops; k++) {
            cf_snode_t *n = cf_env_node(env, v->ops[k].node);
            Cflink__JobOperator *o = &ops[po];
            cflink__job_operator__init(o);
            opps[po++] = o;
            o->node_id = n->id;
            o->operator_id.data = n->op_id.b;
            o->operator_id.len = 16;
            o->uid = n->uid ? n->uid : "";
            o->name = n->name;
            o->kind = (int32_t)n->kind;
            o->n_chained = (size_t)v->ops[k].nchained;
            o->chained = (int32_t *)v->ops[k].chained;
            o->n_outputs = (size_t)v->ops[k].noutputs;
            o->outputs = (int32_t *)v->ops[k].outputs;
        }
        pv->n_outputs = (size_t)v->nouts;
        pv->outputs = &outps[pu];
        for (int k = 0; k < v->nouts; k++) {
            Cflink__JobOutput *o = &outs[pu];
            cflink__job_output__init(o);
            outps[pu++] = o;
            o->operator_ = v->outs[k].op;
            o->target_vertex = v->outs[k].target;
            o->target_input = v->outs[k].target_gate;
            o->partitioner = v->outs[k].partitioner;
            o->ship_strategy = (char *)cf_partitioner_name(v->outs[k].partitioner);
        }
        pv->n_inputs = (size_t)v->nins;
        pv->inputs = &inps[pi];
        for (int k = 0; k < v->nins; k++) {
            Cflink__JobInput *in = &ins[pi];
            cflink__job_input__init(in);
            inps[pi++] = in;
            in->source_vertex = v->ins[k].source;
            in->source_output = v->ins[k].out_idx;
        }
    }
    *len = cflink__job_graph__get_packed_size(&jg);
    *buf = cf_malloc(*len ? *len : 1);
    cflink__job_graph__pack(&jg, *buf);
    cf_free(vs);
    cf_free(vps);
    cf_free(ops);
    cf_free(opps);
    cf_free(outs);
    cf_free(outps);
    cf_free(ins);
    cf_free(inps);
    return 0;
}

/* The StreamGraph edge of each vertex output of a decoded graph (the
 * message does not carry it): the k-th output of operator n into vertex
 * T is the k-th edge from n to T's head, since cf_jobgraph_build made
 * them in edge order. The edge gives the output its key selector and
 * side output tag. Indices are checked here: the graph is untrusted. */
static void
cf_job_match_edges(cf_job_t *job)
{
    cf_env_t *env = job->env;

    for (int vi = 0; vi < job->nvertices; vi++) {
        cf_jvertex_t *v = &job->vertices[vi];
        for (int o = 0; o < v->nouts; o++) {
            cf_jout_t *out = &v->outs[o];
            cf_snode_t *n;
            int head, before = 0;

            out->edge = -1;
            if (out->op < 0 || out->op >= v->nops || out->target < 0 ||
                out->target >= job->nvertices ||
                job->vertices[out->target].nops < 1)
                continue;
            n = cf_env_node(env, v->ops[out->op].node);
            head = job->vertices[out->target].ops[0].node;
            if (n == NULL)
                continue;
            for (int p = 0; p < o; p++)
                before += v->outs[p].op == out->op &&
                          v->outs[p].target == out->target;
            for (int k = 0; k < n->nout; k++) {
                int e = n->out[k];
                if (e < 0 || e >= env->nedges || env->edges[e].dst != head)
                    continue;
                if (before-- == 0) {
                    out->edge = e;
                    break;
                }
            }
        }
    }
}

/* Rebuild job->vertices from an encoded JobGraph, binding operators to
 * the nodes of job->env by node id (and checking that they match). */
int
cf_job_decode(cf_job_t *job, const uint8_t *buf, size_t len,
              cf_error_t **errp)
{
    Cflink__JobGraph *jg = cflink__job_graph__unpack(NULL, len, buf);
    int rc = 0;

    if (jg == NULL)
        return cf_error_set(errp, CF_EPROTO, "malformed JobGraph message");
    if (jg->version != 1 || jg->job_id.len != 16) {
        rc = cf_error_set(errp, CF_EPROTO, "unsupported JobGraph version %u",
                          jg->version);
        goto out;
    }
    cf_jobgraph_free(job);
    memcpy(job->job_id.b, jg->job_id.data, 16);
    cf_id_to_hex(&job->job_id, job->job_id_hex);
    job->vertices = cf_calloc(jg->n_vertices + 1, sizeof(cf_jvertex_t));
    job->nvertices = (int)jg->n_vertices;
    for (size_t i = 0; i < jg->n_vertices; i++) {
        Cflink__JobVertex *pv = jg->vertices[i];
        cf_jvertex_t *v = &job->vertices[i];
        if (pv->id.len != 16) {
            rc = cf_error_set(errp, CF_EPROTO, "vertex %zu: bad id", i);
            goto out;
        }
        memcpy(v->id.b, pv->id.data, 16);
        v->name = cf_strdup(pv->name);
        v->parallelism = pv->parallelism;
        v->max_parallelism = pv->max_parallelism;
        v->nops = (int)pv->n_operators;
        v->ops = cf_calloc(pv->n_operators + 1, sizeof(cf_jop_t));
        for (size_t k = 0; k < pv->n_operators; k++) {
            Cflink__JobOperator *po = pv->operators[k];
            cf_snode_t *n = cf_env_node(job->env, po->node_id);
            cf_jop_t *op = &v->ops[k];
            if (n == NULL || (int32_t)n->kind != po->kind ||
                po->operator_id.len != 16 ||
                memcmp(n->op_id.b, po->operator_id.data, 16) != 0) {
                rc = cf_error_set(
                    errp, CF_EGRAPH,
                    "operator '%s' (node %d) does not match the plugin's "
                    "graph: the entry must build the same graph every time",
                    po->name, po->node_id);
                goto out;
            }
            op->node = po->node_id;
            op->nchained = (int)po->n_chained;
            op->chained = cf_calloc(po->n_chained + 1, sizeof(int));
            for (size_t c = 0; c < po->n_chained; c++)
                op->chained[c] = po->chained[c];
            op->noutputs = (int)po->n_outputs;
            op->outputs = cf_calloc(po->n_outputs + 1, sizeof(int));
            for (size_t c = 0; c < po->n_outputs; c++)
                op->outputs[c] = po->outputs[c];
        }
        v->nouts = (int)pv->n_outputs;
        v->outs = cf_calloc(pv->n_outputs + 1, sizeof(cf_jout_t));
        for (size_t k = 0; k < pv->n_outputs; k++) {
            Cflink__JobOutput *o = pv->outputs[k];
            v->outs[k] = (cf_jout_t){o->operator_, o->target_vertex,
                                     o->target_input, o->partitioner, -1};
        }
        v->nins = (int)pv->n_inputs;
        v->ins = cf_calloc(pv->n_inputs + 1, sizeof(cf_jin_t));
        for (size_t k = 0; k < pv->n_inputs; k++)
            v->ins[k] = (cf_jin_t){pv->inputs[k]->source_vertex,
                                   pv->inputs[k]->source_output};
    }
    cf_job_match_edges(job);
out:
    cflink__job_graph__free_unpacked(jg, NULL);
    return rc;
}
