/*
 * session_windows.c: Flink's SessionWindowing example as a cflink job
 * plugin: sums per key in event-time session windows with a gap of 3 ms.
 *
 *   cflink run -t local build/examples/session_windows.so [--output DIR]
 *
 *   on a cluster (the JobManager's REST address):
 *   cflink run -m localhost:8081 build/examples/session_windows.so
 *
 * The source emits a fixed list of (key, timestamp, count) elements, in
 * this order:
 *
 *   (a,1,1) (b,1,1) (b,3,1) (b,5,1) (c,6,1) (a,10,1) (c,11,1)
 *
 * each with its timestamp, followed by a watermark one millisecond
 * behind it (as Flink's example source does with emitWatermark; here a
 * punctuated watermark generator), and the end of input (the MAX
 * watermark). Elements of one key closer than the gap (3 ms) to each
 * other fall into one session window: sessions [1,4) for a, [1,8) for b
 * (1, 3 and 5 merge), [6,9) for c, then [10,13) for a and [11,14) for c.
 * A session fires when the watermark passes its end - 1, and the job
 * prints the sum of its counts with the key and timestamp of its first
 * element (Flink's sum(2) on a Tuple3):
 *
 *   (a,1,1)      at watermark 4 (after b,5)
 *   (b,1,3)      at watermark 9 (after a,10)
 *   (c,6,1)      at watermark 9
 *   (a,10,1)     at the end of input
 *   (c,11,1)     at the end of input
 *
 * The job runs with parallelism 1 (env.setParallelism(1) in Flink's
 * example), so the punctuated watermarks come from one source instance.
 *
 *   in-memory-input -> timestamps (punctuated watermarks: ts - 1)
 *     -> key_by(key) -> window(session, gap 3 ms, event time)
 *     -> sum (window reduce) -> format -> print-sink | file-sink
 *
 * An element is a C struct {char key[8]; int64 ts; int32 count}; the key
 * is the NUL-terminated string at its start.
 */
#include <cflink/cflink.h>

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define SW_GAP_MS 3

typedef struct sw_elem_s {
    char key[8];
    int64_t ts;
    int32_t count;
} sw_elem_t;

/* Flink's SessionWindowingData input. */
static const sw_elem_t sw_input[] = {
    {"a", 1, 1}, {"b", 1, 1},  {"b", 3, 1},  {"b", 5, 1},
    {"c", 6, 1}, {"a", 10, 1}, {"c", 11, 1},
};

#define SW_INPUT_N (sizeof(sw_input) / sizeof(sw_input[0]))

/* The source: element index with its timestamp (collectWithTimestamp). */
static int
sw_generate(cf_ctx_t *ctx, uint64_t index)
{
    const sw_elem_t *e = &sw_input[index];
    return cf_emit(ctx, e, sizeof(*e), e->ts);
}

/* A punctuated watermark generator: after each element, the watermark
 * ts - 1 (the source's emitWatermark in Flink's example: no later
 * element is older than the one just seen). */
static int
sw_wm_on_event(cf_ctx_t *ctx, const cf_record_t *in, int64_t ts)
{
    (void)in;
    return cf_emit_watermark(ctx, ts - 1);
}

/* Nothing periodic: every watermark comes from on_event. */
static int
sw_wm_on_periodic(cf_ctx_t *ctx)
{
    (void)ctx;
    return CF_OK;
}

static const cf_wm_gen_ops_t sw_wm_gen = {
    .size = sizeof(cf_wm_gen_ops_t),
    .on_event = sw_wm_on_event,
    .on_periodic = sw_wm_on_periodic,
};

/* key_by: the key string. */
static int
sw_key(cf_ctx_t *ctx, const cf_record_t *in, cf_key_t *key)
{
    const char *k = in->data;
    (void)ctx;
    key->data = k;
    key->len = (uint32_t)strnlen(k, sizeof(((sw_elem_t *)0)->key));
    return CF_OK;
}

/* sum(2): add the counts, keep the accumulator's key and timestamp (the
 * session's first element, as Flink's SumAggregator keeps the other
 * fields of its first argument). */
static int
sw_sum(cf_ctx_t *ctx, cf_buf_t *acc, const cf_record_t *in)
{
    sw_elem_t a, b;
    (void)ctx;
    memcpy(&a, acc->data, sizeof(a));
    memcpy(&b, in->data, sizeof(b));
    a.count += b.count;
    memcpy(acc->data, &a, sizeof(a));
    return CF_OK;
}

/* format: "(key,ts,count)", as Flink prints a Tuple3. */
static int
sw_format(cf_ctx_t *ctx, const cf_record_t *in, cf_record_t *out)
{
    char *line = cf_ctx_scratch(ctx, 64);
    sw_elem_t e;
    int n;

    if (!line)
        return cf_fail(ctx, "SessionWindowing: out of memory");
    memcpy(&e, in->data, sizeof(e));
    n = snprintf(line, 64, "(%.*s,%" PRId64 ",%" PRId32 ")",
                 (int)strnlen(e.key, sizeof(e.key)), e.key, e.ts, e.count);
    out->data = line;
    out->len = (uint32_t)n;
    return CF_OK;
}

static int
sw_main(cf_env_t *env, int argc, char **argv)
{
    const char *output = cf_param_get(argc, argv, "output", NULL);
    cf_window_assigner_t sessions =
        cf_session_windows(CF_TIME_EVENT, SW_GAP_MS);
    cf_wm_strategy_t wm = cf_wm_for_generator(&sw_wm_gen);
    cf_stream_t *s;
    int i;

    for (i = 1; i < argc; i += 2) {
        const char *a = argv[i];
        if (strcmp(a, "--output") != 0 && strcmp(a, "-output") != 0) {
            fprintf(stderr, "Usage: session_windows.so [--output <dir>]\n");
            return cf_env_fail(env, "SessionWindowing: unknown argument '%s'",
                               a);
        }
        if (i + 1 >= argc || argv[i + 1][0] == '\0') {
            fprintf(stderr, "Usage: session_windows.so [--output <dir>]\n");
            return cf_env_fail(env, "SessionWindowing: --output lacks its "
                                    "value (a directory)");
        }
    }

    cf_env_set_job_name(env, "SessionWindowing");
    cf_env_set_parallelism(env, 1);

    s = cf_env_datagen(env, "in-memory-input", sw_generate, NULL, SW_INPUT_N,
                       0);
    /* Timestamps are the source's (no assigner): only the watermarks. */
    s = cf_stream_assign_timestamps_and_watermarks(s, &wm, NULL);
    cf_stream_name(s, "timestamps");
    s = cf_stream_key_by(s, sw_key, NULL);
    s = cf_stream_window(s, &sessions);
    s = cf_window_reduce(s, "sum", sw_sum, NULL);
    cf_stream_uid(s, "sum");
    s = cf_stream_map(s, "format", sw_format, NULL);
    if (output)
        cf_stream_name(cf_stream_write_text(s, output), "file-sink");
    else
        cf_stream_name(cf_stream_print(s), "print-sink");
    return CF_OK;
}

CF_PLUGIN("SessionWindowing",
          "Sums per key in event-time session windows with a 3 ms gap "
          "(Flink's SessionWindowing)",
          sw_main);
