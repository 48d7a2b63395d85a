/*
 * wordcount.c: Flink's streaming WordCount example as a cflink job plugin.
 *
 *   cflink run -t local -p 2 build/examples/wordcount.so \
 *       [--input PATH]... [--hostname HOST --port PORT] [--output DIR]
 *
 * Reads lines from one or more files or directories (--input, may repeat),
 * from a TCP server (--hostname/--port, e.g. `nc -lk 9999`), or, with
 * neither, from a few built-in lines of Hamlet. Splits the lines into
 * words (maximal runs of ASCII letters, lower-cased), counts each word
 * with a rolling reduce, and prints "(word,count)" after each update, or
 * writes it to part files under --output.
 *
 * The dataflow, with Flink's operator names:
 *
 *   file-input | socket | in-memory-input
 *     -> tokenizer (flat_map: line -> (1, word) records)
 *     -> key_by(word) -> counter (reduce: sums the counts)
 *     -> format (map: "(word,count)") -> print-sink | file-sink
 *
 * A (count, word) record is an 8-byte native int64 count followed by the
 * word's bytes: the word is the key and points into the record, and the
 * reduce adds counts in place (the word, and so the size, never changes).
 */
#include <cflink/cflink.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Flink's WordCountData: the start of Hamlet's soliloquy (public domain). */
static const char *const wc_default_text[] = {
    "To be, or not to be,--that is the question:--",
    "Whether 'tis nobler in the mind to suffer",
    "The slings and arrows of outrageous fortune",
    "Or to take arms against a sea of troubles,",
    "And by opposing end them?--To die,--to sleep,--",
    "No more; and by a sleep to say we end",
    "The heartache, and the thousand natural shocks",
    "That flesh is heir to,--'tis a consummation",
    "Devoutly to be wish'd. To die,--to sleep;--",
    "To sleep! perchance to dream:--ay, there's the rub;",
    "For in that sleep of death what dreams may come,",
    "When we have shuffled off this mortal coil,",
    "Must give us pause: there's the respect",
    "That makes calamity of so long life;",
    "For who would bear the whips and scorns of time,",
    "The oppressor's wrong, the proud man's contumely,",
    "The pangs of despis'd love, the law's delay,",
    "The insolence of office, and the spurns",
    "That patient merit of the unworthy takes,",
    "When he himself might his quietus make",
    "With a bare bodkin? who would these fardels bear,",
    "To grunt and sweat under a weary life,",
    "But that the dread of something after death,--",
    "The undiscover'd country, from whose bourn",
    "No traveller returns,--puzzles the will,",
    "And makes us rather bear those ills we have",
    "Than fly to others that we know not of?",
    "Thus conscience does make cowards of us all;",
    "And thus the native hue of resolution",
    "Is sicklied o'er with the pale cast of thought;",
    "And enterprises of great pith and moment,",
    "With this regard, their currents turn awry,",
    "And lose the name of action.--Soft you now!",
    "The fair Ophelia!--Nymph, in thy orisons",
    "Be all my sins remember'd.",
};

#define WC_DEFAULT_LINES (sizeof(wc_default_text) / sizeof(wc_default_text[0]))

/* The in-memory source: one line per generator index. */
static int
wc_default_line(cf_ctx_t *ctx, uint64_t index)
{
    const char *line = wc_default_text[index];
    return cf_emit(ctx, line, (uint32_t)strlen(line), CF_NO_TIMESTAMP);
}

/* tokenizer: emit (1, word) for each maximal run of ASCII letters. */
static int
wc_tokenize(cf_ctx_t *ctx, const cf_record_t *in)
{
    const unsigned char *p = in->data;
    uint32_t i = 0, n = in->len;

    while (i < n) {
        uint32_t start, len, k;
        unsigned char *rec;
        int64_t one = 1;
        int rc;

        while (i < n && !((p[i] | 0x20) >= 'a' && (p[i] | 0x20) <= 'z'))
            i++;
        if (i == n)
            break;
        start = i;
        while (i < n && (p[i] | 0x20) >= 'a' && (p[i] | 0x20) <= 'z')
            i++;
        len = i - start;
        rec = cf_ctx_scratch(ctx, 8 + len);
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
wc_word_key(cf_ctx_t *ctx, const cf_record_t *in, cf_key_t *key)
{
    (void)ctx;
    key->data = (const char *)in->data + 8;
    key->len = in->len - 8;
    return CF_OK;
}

/* counter: acc holds the same word, add the counts in place. */
static int
wc_sum(cf_ctx_t *ctx, cf_buf_t *acc, const cf_record_t *in)
{
    int64_t a, b;
    (void)ctx;
    memcpy(&a, acc->data, 8);
    memcpy(&b, in->data, 8);
    a += b;
    memcpy(acc->data, &a, 8);
    return CF_OK;
}

/* format: "(word,count)", as Flink prints a Tuple2. */
static int
wc_format(cf_ctx_t *ctx, const cf_record_t *in, cf_record_t *out)
{
    uint32_t wlen = in->len - 8;
    char *buf = cf_ctx_scratch(ctx, wlen + 32);
    int64_t count;
    int n;

    memcpy(&count, in->data, 8);
    buf[0] = '(';
    memcpy(buf + 1, (const char *)in->data + 8, wlen);
    n = snprintf(buf + 1 + wlen, 31, ",%lld)", (long long)count);
    out->data = buf;
    out->len = 1 + wlen + (uint32_t)n;
    return CF_OK;
}

static void
wc_usage(void)
{
    fprintf(stderr,
            "Usage: wordcount.so [--input <path>]... "
            "[--hostname <host> --port <port>] [--output <dir>]\n"
            "  --input     a text file or a directory of them (repeatable)\n"
            "  --hostname  read lines from this TCP server instead\n"
            "  --port      the server's port\n"
            "  --output    write the counts to part files under this "
            "directory\n"
            "              (default: print them)\n"
            "Without --input and --hostname, counts a built-in text.\n");
}

static int
wc_bad_args(cf_env_t *env, const char *what)
{
    wc_usage();
    return cf_env_fail(env, "WordCount: %s", what);
}

static int
wc_main(cf_env_t *env, int argc, char **argv)
{
    const char *host = cf_param_get(argc, argv, "hostname", NULL);
    const char *port = cf_param_get(argc, argv, "port", NULL);
    const char *output = cf_param_get(argc, argv, "output", NULL);
    cf_stream_t *text = NULL, *counts;
    int i, ninputs = 0;

    /* Every argument must be a known option with a value. */
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *name = a + (a[0] == '-' ? (a[1] == '-' ? 2 : 1) : 0);
        if (a[0] != '-' ||
            (strcmp(name, "input") != 0 && strcmp(name, "hostname") != 0 &&
             strcmp(name, "port") != 0 && strcmp(name, "output") != 0))
            return wc_bad_args(env, "unknown argument");
        if (i + 1 >= argc || argv[i + 1][0] == '\0' ||
            (argv[i + 1][0] == '-' && argv[i + 1][1] == '-'))
            return wc_bad_args(env, "an option lacks its value");
        if (strcmp(name, "input") == 0)
            ninputs++;
        i++;
    }
    if (ninputs > 0 && host)
        return wc_bad_args(env, "give either --input or --hostname");
    if ((host != NULL) != (port != NULL))
        return wc_bad_args(env, "--hostname and --port go together");

    cf_env_set_job_name(env, "WordCount");

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
            return wc_bad_args(env, "--port must be a number in 1..65535");
        text = cf_env_socket_text_stream(env, host, (int)p);
    } else {
        text = cf_env_datagen(env, "in-memory-input", wc_default_line, NULL,
                              WC_DEFAULT_LINES, 0);
        cf_stream_set_parallelism(text, 1);
    }

    counts = cf_stream_flat_map(text, "tokenizer", wc_tokenize, NULL);
    counts = cf_stream_key_by(counts, wc_word_key, NULL);
    counts = cf_stream_reduce(counts, "counter", wc_sum, NULL);
    counts = cf_stream_map(counts, "format", wc_format, NULL);
    if (output)
        cf_stream_name(cf_stream_write_text(counts, output), "file-sink");
    else
        cf_stream_name(cf_stream_print(counts), "print-sink");
    return CF_OK;
}

CF_PLUGIN("WordCount",
          "Counts words in text files, a socket or a built-in text "
          "(Flink's WordCount)",
          wc_main);
