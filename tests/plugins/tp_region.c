/*
 * tp_region.c: test plugin for the failover strategies: an unbounded,
 * rate-limited source -> map "mapper" -> sink, chaining disabled (three
 * vertices).
 *   --edges forward   FORWARD edges only: one pipelined region per
 *                     parallel pipeline (default)
 *   --edges keyed     key_by before the map: one region
 *   --rate R          records per second over all source instances
 *                     (default 2000)
 *   --fail-once PATH  subtask --fail-subtask (default 1) of the map
 *                     fails after --after records (default 200) when PATH
 *                     does not exist, creating it first: one failure per
 *                     PATH; with --fail-subtask all, every subtask k
 *                     fails once (marker PATH.k)
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cflink/cflink.h>

static const char *g_marker;
static int64_t g_after;
static int g_fail_subtask; /* -1: all */

static int
gen(cf_ctx_t *ctx, uint64_t index)
{
    int64_t v = (int64_t)index;

    return cf_emit(ctx, &v, sizeof v, CF_NO_TIMESTAMP);
}

static int
key_of(cf_ctx_t *ctx, const cf_record_t *in, cf_key_t *key)
{
    (void)ctx;
    key->data = in->data;
    key->len = in->len;
    return CF_OK;
}

typedef struct count_s {
    int64_t n;
} count_t;

static int
mapper_open(cf_ctx_t *ctx)
{
    cf_ctx_set_local(ctx, calloc(1, sizeof(count_t)));
    return cf_ctx_local(ctx) ? CF_OK : CF_ERR;
}

static void
mapper_close(cf_ctx_t *ctx)
{
    free(cf_ctx_local(ctx));
}

static int
mapper(cf_ctx_t *ctx, const cf_record_t *in, cf_record_t *out)
{
    count_t *c = cf_ctx_local(ctx);

    *out = *in;
    c->n++;
    if (g_marker != NULL && c->n == g_after &&
        (g_fail_subtask < 0 || cf_ctx_subtask_index(ctx) == g_fail_subtask)) {
        char path[4096];
        int fd;

        if (g_fail_subtask < 0)
            snprintf(path, sizeof path, "%s.%d", g_marker,
                     cf_ctx_subtask_index(ctx));
        else
            snprintf(path, sizeof path, "%s", g_marker);
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
        if (fd >= 0) { /* the first time only */
            close(fd);
            return cf_fail(ctx,
                           "planned failure of subtask %d after %lld "
                           "records",
                           cf_ctx_subtask_index(ctx), (long long)c->n);
        }
    }
    return CF_OK;
}

static int
build(cf_env_t *env, int argc, char **argv)
{
    const char *edges = cf_param_get(argc, argv, "edges", "forward");
    double rate = atof(cf_param_get(argc, argv, "rate", "2000"));
    cf_hooks_t h = {.size = sizeof h, .open = mapper_open, .close = mapper_close};
    cf_stream_t *s;

    g_marker = cf_param_get(argc, argv, "fail-once", NULL);
    g_after = atoll(cf_param_get(argc, argv, "after", "200"));
    g_fail_subtask =
        strcmp(cf_param_get(argc, argv, "fail-subtask", "1"), "all") == 0
            ? -1
            : atoi(cf_param_get(argc, argv, "fail-subtask", "1"));
    cf_env_disable_operator_chaining(env);
    s = cf_env_datagen(env, "numbers", gen, NULL, UINT64_MAX, rate);
    if (strcmp(edges, "keyed") == 0)
        s = cf_stream_key_by(s, key_of, NULL);
    else if (strcmp(edges, "forward") == 0)
        s = cf_stream_forward(s);
    else
        return cf_env_fail(env, "--edges must be forward or keyed, not %s",
                           edges);
    s = cf_stream_map(s, "mapper", mapper, NULL);
    cf_stream_hooks(s, &h);
    s = cf_stream_forward(s);
    cf_stream_discard(s);
    return CF_OK;
}

CF_PLUGIN("Region failover test", "independent pipelines, one fails once",
          build);
