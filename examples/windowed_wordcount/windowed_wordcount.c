/*
 * windowed_wordcount.c: word counts per event-time tumbling window, as a
 * cflink job plugin (Flink's WindowWordCount, in event time).
 *
 *   cflink run -t local -p 2 build/examples/windowed_wordcount.so \
 *       [--input PATH]... [--hostname HOST --port PORT] [--output DIR] \
 *       [--window MS] [--out-of-orderness MS] [--allowed-lateness MS]
 *
 *   on a cluster (the JobManager's REST address):
 *   cflink run -m localhost:8081 -p 4 build/examples/windowed_wordcount.so \
 *       --input /data/timestamped.txt --output /tmp/wwc
 *
 * Reads lines "<epoch ms> <text>" from one or more files or directories
 * (--input, may repeat; e.g. examples/data/timestamped.txt), from a TCP
 * server (--hostname/--port, e.g. `nc -lk 9999`, then type lines), or,
 * with neither, from a few built-in lines. The leading number is the line's
 * event time. The lines may arrive slightly out of order: watermarks
 * trail the largest timestamp seen by --out-of-orderness milliseconds
 * (default 2000; Flink's forBoundedOutOfOrderness). The words of each
 * line (maximal runs of ASCII letters, lower-cased) are counted per
 * tumbling event-time window of --window milliseconds (default 10000,
 * aligned to the epoch) with an incremental reduce. When the watermark
 * passes the end of a window, one line per word of that window is
 * printed (or written to part files under --output):
 *
 *   (1700000000000,say,4)        (window start, word, count)
 *
 * A word that arrives after its window has fired (more than
 * --allowed-lateness ms behind the watermark, default 0) is not
 * counted: it goes to the "late-words" side output and is printed as
 *
 *   (late,1700000003001,sea)     (the word's timestamp, the word)
 *
 * The dataflow, with its operator names:
 *
 *   file-input | Socket Stream | in-memory-input
 *     -> timestamps (assignTimestampsAndWatermarks: ts from the line,
 *                    bounded out-of-orderness watermarks)
 *     -> tokenizer (flat_map: line -> (1, word) records, same ts)
 *     -> key_by(word) -> window(tumbling event time)
 *     -> counter (window reduce: sums the counts)
 *     -> format (map: "(start,word,count)") --------------+
 *   counter's side output "late-words" -> format-late ----+-> print | file
 *
 * A (count, word) record is an 8-byte native int64 count followed by the
 * word's bytes, as in the wordcount example. The reduce's result carries
 * the window's max timestamp (end - 1), from which format derives the
 * window's start (end - size): no window function is needed.
 */
#include <cflink/cflink.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The job's parameters. udata must outlive the job and the ABI has no
 * destructor for it, so they live in static storage; the entry runs again
 * in the same process (to bind functions) with the same arguments and
 * writes the same values. Read-only at run time. */
typedef struct wwc_conf_s {
    int64_t window_ms;
} wwc_conf_t;

static wwc_conf_t wwc_conf;

#define WWC_LATE_TAG "late-words"

/* Built-in input: a minute of lines, two of them out of order. */
static const char *const wwc_default_text[] = {
    "1700000000500 to be or not to be",
    "1700000003000 that is the question",
    "1700000009999 whether tis nobler in the mind to suffer",
    "1700000008000 the slings and arrows",
    "1700000012000 of outrageous fortune",
    "1700000021000 or to take arms against a sea of troubles",
    "1700000019500 and by opposing end them",
    "1700000030000 to die to sleep",
    "1700000041000 no more and by a sleep to say we end",
    "1700000052000 the heartache and the thousand natural shocks",
};

#define WWC_DEFAULT_LINES                                                      \
    (sizeof(wwc_default_text) / sizeof(wwc_default_text[0]))

static int
wwc_default_line(cf_ctx_t *ctx, uint64_t index)
{
    const char *line = wwc_default_text[index];
    return cf_emit(ctx, line, (uint32_t)strlen(line), CF_NO_TIMESTAMP);
}

/* ------------------------------------------------------------------ */
/* Timestamps                                                          */
/* ------------------------------------------------------------------ */

/* The timestamp assigner: the leading decimal number of the line (after
 * optional blanks), which must be followed by a blank or the line's end.
 * A line without one gets CF_NO_TIMESTAMP, which the tokenizer reports
 * (an assigner cannot fail). */
static int64_t
wwc_line_timestamp(cf_ctx_t *ctx, const cf_record_t *in)
{
    const char *p = in->data;
    uint32_t i = 0, n = in->len;
    int64_t v = 0;
    int neg = 0, digits = 0;

    (void)ctx;
    while (i < n && (p[i] == ' ' || p[i] == '\t'))
        i++;
    if (i < n && p[i] == '-') {
        neg = 1;
        i++;
    }
    for (; i < n && p[i] >= '0' && p[i] <= '9'; i++, digits++) {
        if (v > (INT64_MAX - (p[i] - '0')) / 10)
            return CF_NO_TIMESTAMP; /* does not fit */
        v = v * 10 + (p[i] - '0');
    }
    if (digits == 0 || (i < n && p[i] != ' ' && p[i] != '\t' && p[i] != '\r'))
        return CF_NO_TIMESTAMP;
    return neg ? -v : v;
}

/* ------------------------------------------------------------------ */
/* Tokenizer, key, reduce, format                                      */
/* ------------------------------------------------------------------ */

static int
wwc_is_letter(unsigned char c)
{
    return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
}

/* tokenizer: emit (1, word) for each word after the timestamp, with the
 * line's timestamp. Blank lines are skipped; a line without a timestamp
 * fails the job, naming the line. */
static int
wwc_tokenize(cf_ctx_t *ctx, const cf_record_t *in)
{
    const unsigned char *p = in->data;
    uint32_t i = 0, n = in->len;

    if (in->ts == CF_NO_TIMESTAMP) {
        for (i = 0; i < n; i++)
            if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
                return cf_fail(ctx,
                               "WindowWordCount: a line must start with its "
                               "timestamp (epoch milliseconds), not '%.*s'",
                               (int)(n > 80 ? 80 : n), (const char *)p);
        return CF_OK; /* blank line */
    }
    /* Skip the timestamp itself (digits are not letters anyway). */
    while (i < n) {
        uint32_t start, len, k;
        unsigned char *rec;
        int64_t one = 1;
        int rc;

        while (i < n && !wwc_is_letter(p[i]))
            i++;
        if (i == n)
            break;
        start = i;
        while (i < n && wwc_is_letter(p[i]))
            i++;
        len = i - start;
        rec = cf_ctx_scratch(ctx, 8 + len);
        if (!rec)
            return cf_fail(ctx, "WindowWordCount: out of memory");
        memcpy(rec, &one, 8);
        for (k = 0; k < len; k++)
            rec[8 + k] = (unsigned char)(p[start + k] | 0x20);
        rc = cf_emit(ctx, rec, 8 + len, in->ts);
        if (rc < 0)
            return rc;
    }
    return CF_OK;
}

/* key_by: the word, in place. */
static int
wwc_word_key(cf_ctx_t *ctx, const cf_record_t *in, cf_key_t *key)
{
    (void)ctx;
    key->data = (const char *)in->data + 8;
    key->len = in->len - 8;
    return CF_OK;
}

/* counter: the accumulator holds the same word; add the counts in
 * place. */
static int
wwc_sum(cf_ctx_t *ctx, cf_buf_t *acc, const cf_record_t *in)
{
    int64_t a, b;
    (void)ctx;
    memcpy(&a, acc->data, 8);
    memcpy(&b, in->data, 8);
    a += b;
    memcpy(acc->data, &a, 8);
    return CF_OK;
}

/* Write "(<number>,<word>" + tail into scratch memory as out. */
static int
wwc_format_line(cf_ctx_t *ctx, const cf_record_t *in, int64_t first,
                const char *tail, cf_record_t *out)
{
    uint32_t wlen = in->len - 8;
    char *buf = cf_ctx_scratch(ctx, wlen + 64);
    int a, b;

    if (!buf)
        return cf_fail(ctx, "WindowWordCount: out of memory");
    a = snprintf(buf, 32, "(%" PRId64 ",", first);
    memcpy(buf + a, (const char *)in->data + 8, wlen);
    b = snprintf(buf + a + wlen, 32, "%s", tail);
    out->data = buf;
    out->len = (uint32_t)a + wlen + (uint32_t)b;
    return CF_OK;
}

/* format: "(start,word,count)". The reduce's result has the window's
 * max timestamp, end - 1; start = end - size for tumbling windows. */
static int
wwc_format(cf_ctx_t *ctx, const cf_record_t *in, cf_record_t *out)
{
    const wwc_conf_t *conf = cf_ctx_udata(ctx);
    char tail[32];
    int64_t count;

    memcpy(&count, in->data, 8);
    snprintf(tail, sizeof(tail), ",%" PRId64 ")", count);
    return wwc_format_line(ctx, in, in->ts + 1 - conf->window_ms, tail, out);
}

/* format-late: "(late,ts,word)" for a word that missed its window. */
static int
wwc_format_late(cf_ctx_t *ctx, const cf_record_t *in, cf_record_t *out)
{
    uint32_t wlen = in->len - 8;
    char *buf = cf_ctx_scratch(ctx, wlen + 48);
    int a;

    if (!buf)
        return cf_fail(ctx, "WindowWordCount: out of memory");
    a = snprintf(buf, 40, "(late,%" PRId64 ",", in->ts);
    memcpy(buf + a, (const char *)in->data + 8, wlen);
    buf[a + wlen] = ')';
    out->data = buf;
    out->len = (uint32_t)a + wlen + 1;
    return CF_OK;
}

/* ------------------------------------------------------------------ */
/* The job                                                             */
/* ------------------------------------------------------------------ */

static int
wwc_usage(cf_env_t *env, const char *what)
{
    fprintf(stderr,
            "Usage: windowed_wordcount.so [--input <path>]... "
            "[--hostname <host> --port <port>]\n"
            "                             [--output <dir>] [--window <ms>] "
            "[--out-of-orderness <ms>]\n"
            "                             [--allowed-lateness <ms>]\n"
            "  --input             a file or directory of lines "
            "\"<epoch ms> <text>\" (repeatable;\n"
            "                      default: a few built-in lines)\n"
            "  --hostname          read the lines from this TCP server "
            "instead\n"
            "  --port              the server's port\n"
            "  --output            write the counts to part files under "
            "this directory\n"
            "                      (default: print them)\n"
            "  --window            the tumbling window size in ms "
            "(default 10000)\n"
            "  --out-of-orderness  how far behind the largest timestamp "
            "the watermark\n"
            "                      trails, in ms (default 2000)\n"
            "  --allowed-lateness  how long a fired window still accepts "
            "late words, in ms\n"
            "                      (default 0)\n");
    return cf_env_fail(env, "WindowWordCount: %s", what);
}

/* A decimal integer option within [min, max]: 0, or -1 (bad). */
static int
wwc_parse_ms(int argc, char **argv, const char *name, int64_t def, int64_t min,
             int64_t max, int64_t *out)
{
    const char *v = cf_param_get(argc, argv, name, NULL);
    char *end;
    long long x;

    if (!v) {
        *out = def;
        return 0;
    }
    if (!((*v >= '0' && *v <= '9') || *v == '-'))
        return -1;
    errno = 0;
    x = strtoll(v, &end, 10);
    if (*end || errno || x < min || x > max)
        return -1;
    *out = x;
    return 0;
}

static int
wwc_main(cf_env_t *env, int argc, char **argv)
{
    static const char *const known[] = {
        "input",           "hostname", "port",
        "output",          "window",   "out-of-orderness",
        "allowed-lateness"};
    const char *output = cf_param_get(argc, argv, "output", NULL);
    const char *host = cf_param_get(argc, argv, "hostname", NULL);
    const char *port = cf_param_get(argc, argv, "port", NULL);
    cf_stream_t *text = NULL, *words, *win, *counts, *late;
    cf_wm_strategy_t wm;
    cf_window_assigner_t tumbling;
    int64_t window_ms, ooo_ms, lateness_ms;
    char msg[160];
    int i, k, ninputs = 0;

    /* Every argument must be a known option with a value. */
    for (i = 1; i < argc; i += 2) {
        const char *a = argv[i];
        const char *name = a + (a[0] == '-' ? (a[1] == '-' ? 2 : 1) : 0);
        int found = 0;
        for (k = 0; k < (int)(sizeof(known) / sizeof(known[0])); k++)
            found |= strcmp(name, known[k]) == 0;
        if (a[0] != '-' || !found) {
            snprintf(msg, sizeof(msg), "unknown argument '%.100s'", a);
            return wwc_usage(env, msg);
        }
        if (i + 1 >= argc || argv[i + 1][0] == '\0' ||
            (argv[i + 1][0] == '-' && argv[i + 1][1] == '-')) {
            snprintf(msg, sizeof(msg), "%.100s lacks its value", a);
            return wwc_usage(env, msg);
        }
        if (strcmp(name, "input") == 0)
            ninputs++;
    }
    /* The upper bounds keep start + size and ts + lateness far from
     * overflow. */
    if (wwc_parse_ms(argc, argv, "window", 10000, 1, INT64_C(1) << 50,
                     &window_ms) < 0)
        return wwc_usage(env, "--window must be a number of milliseconds >= 1");
    if (wwc_parse_ms(argc, argv, "out-of-orderness", 2000, 0, INT64_C(1) << 50,
                     &ooo_ms) < 0)
        return wwc_usage(env, "--out-of-orderness must be a number of "
                              "milliseconds >= 0");
    if (wwc_parse_ms(argc, argv, "allowed-lateness", 0, 0, INT64_C(1) << 50,
                     &lateness_ms) < 0)
        return wwc_usage(env, "--allowed-lateness must be a number of "
                              "milliseconds >= 0");
    if (ninputs > 0 && host)
        return wwc_usage(env, "give either --input or --hostname");
    if ((host != NULL) != (port != NULL))
        return wwc_usage(env, "--hostname and --port go together");
    wwc_conf.window_ms = window_ms;

    cf_env_set_job_name(env, "WindowWordCount");

    if (ninputs > 0) {
        /* One file-input per --input, united. */
        for (i = 1; i + 1 < argc; i += 2) {
            const char *name = argv[i] + (argv[i][1] == '-' ? 2 : 1);
            cf_stream_t *s;
            if (strcmp(name, "input") != 0)
                continue;
            s = cf_env_read_text_file(env, argv[i + 1]);
            text = text ? cf_stream_union2(text, s) : s;
        }
    } else if (host) {
        char *end;
        long p = strtol(port, &end, 10);
        if (*end || p <= 0 || p > 65535)
            return wwc_usage(env, "--port must be a number in 1..65535");
        text = cf_env_socket_text_stream(env, host, (int)p);
    } else {
        text = cf_env_datagen(env, "in-memory-input", wwc_default_line, NULL,
                              WWC_DEFAULT_LINES, 0);
        cf_stream_set_parallelism(text, 1);
    }

    /* WatermarkStrategy.forBoundedOutOfOrderness(ooo)
     *     .withTimestampAssigner(leading number of the line) */
    wm = cf_wm_for_bounded_out_of_orderness(ooo_ms);
    wm.timestamp = wwc_line_timestamp;
    text = cf_stream_assign_timestamps_and_watermarks(text, &wm, NULL);
    cf_stream_name(text, "timestamps");

    words = cf_stream_flat_map(text, "tokenizer", wwc_tokenize, NULL);
    words = cf_stream_key_by(words, wwc_word_key, NULL);

    tumbling = cf_tumbling_windows(CF_TIME_EVENT, window_ms, 0);
    win = cf_stream_window(words, &tumbling);
    if (lateness_ms > 0)
        win = cf_window_allowed_lateness(win, lateness_ms);
    win = cf_window_side_output_late_data(win, WWC_LATE_TAG);
    counts = cf_window_reduce(win, "counter", wwc_sum, NULL);
    cf_stream_uid(counts, "counter");

    late = cf_stream_side_output(counts, WWC_LATE_TAG);
    late = cf_stream_map(late, "format-late", wwc_format_late, NULL);
    counts = cf_stream_map(counts, "format", wwc_format, &wwc_conf);
    counts = cf_stream_union2(counts, late);

    if (output)
        cf_stream_name(cf_stream_write_text(counts, output), "file-sink");
    else
        cf_stream_name(cf_stream_print(counts), "print-sink");
    return CF_OK;
}

CF_PLUGIN("WindowWordCount",
          "Counts words per event-time tumbling window in lines "
          "\"<epoch ms> <text>\" (Flink's WindowWordCount, event time)",
          wwc_main);
