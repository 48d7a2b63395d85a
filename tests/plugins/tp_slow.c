/*
 * tp_slow.c: test plugin for backpressure: a fast source of large records
 * and a slow sink.
 *   --records N   number of records (default 1000000)
 *   --size B      record size in bytes (default 1024)
 *   --every M     the sink sleeps 1 ms every M records (default 1000;
 *                 0: never)
 * The sink prints one line at the end: "received N bytes=B".
 */
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <time.h>

#include <cflink/cflink.h>

typedef struct conf_s {
    uint64_t size, every;
} conf_t;

static conf_t g_conf;

static int
gen(cf_ctx_t *ctx, uint64_t index)
{
    const conf_t *c = cf_ctx_udata(ctx);
    uint8_t *buf = cf_ctx_scratch(ctx, (uint32_t)c->size);
    memcpy(buf, &index, c->size < 8 ? c->size : 8);
    return cf_emit(ctx, buf, (uint32_t)c->size, CF_NO_TIMESTAMP);
}

typedef struct counts_s {
    uint64_t n, bytes;
} counts_t;

static int
sink_open(cf_ctx_t *ctx)
{
    cf_ctx_set_local(ctx, calloc(1, sizeof(counts_t)));
    return CF_OK;
}

static int
sink_invoke(cf_ctx_t *ctx, const cf_record_t *in)
{
    const conf_t *c = cf_ctx_udata(ctx);
    counts_t *k = cf_ctx_local(ctx);
    k->n++;
    k->bytes += in->len;
    if (c->every && k->n % c->every == 0) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    return CF_OK;
}

static int
sink_finish(cf_ctx_t *ctx)
{
    counts_t *k = cf_ctx_local(ctx);
    cf_log(ctx, CF_LOG_INFO, "sink done");
    /* Print through stdout directly: this is the job's result. */
    return k ? (printf("received %llu bytes=%llu\n",
                       (unsigned long long)k->n,
                       (unsigned long long)k->bytes),
                fflush(stdout), CF_OK)
             : CF_OK;
}

static void
sink_close(cf_ctx_t *ctx)
{
    free(cf_ctx_local(ctx));
}

static const cf_sink_ops_t sink_ops = {
    .size = sizeof(cf_sink_ops_t),
    .open = sink_open,
    .invoke = sink_invoke,
    .finish = sink_finish,
    .close = sink_close,
};

static int
build(cf_env_t *env, int argc, char **argv)
{
    uint64_t n = strtoull(cf_param_get(argc, argv, "records", "1000000"),
                          NULL, 10);
    cf_stream_t *s;
    g_conf.size = strtoull(cf_param_get(argc, argv, "size", "1024"), NULL, 10);
    g_conf.every = strtoull(cf_param_get(argc, argv, "every", "1000"), NULL,
                            10);
    s = cf_env_datagen(env, "fast", gen, &g_conf, n, 0);
    s = cf_stream_rebalance(s);
    s = cf_stream_sink(s, "slow", &sink_ops, &g_conf);
    cf_stream_set_parallelism(s, 1);
    return CF_OK;
}

CF_PLUGIN("Backpressure test", "fast source, slow sink", build);
