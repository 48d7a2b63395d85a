/*
 * core.h: layer 0 of cflink: memory, errors, logging, ids, hashing and key
 * groups, clocks, and the signal that wakes a waiting thread.
 *
 * Every module may include this header; it includes nothing of cflink but
 * the public plugin ABI.
 */
#ifndef CF_CORE_H
#define CF_CORE_H

#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

/* ------------------------------------------------------------------ */
/* Memory: allocation failure aborts (logged with the size).           */
/* ------------------------------------------------------------------ */

void *cf_malloc(size_t n);
void *cf_calloc(size_t count, size_t n);
void *cf_realloc(void *p, size_t n);
char *cf_strdup(const char *s);
char *cf_strndup(const char *s, size_t n);
char *cf_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *cf_vasprintf(const char *fmt, va_list ap);
#define cf_free free
#define CF_NEW(type) ((type *)cf_calloc(1, sizeof(type)))
#define CF_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Grow an array *pp of *capp elements to hold at least need elements. */
#define CF_GROW(pp, capp, need)                                              \
    do {                                                                     \
        if ((size_t)(need) > (size_t)*(capp)) {                              \
            size_t cf__n = *(capp) ? (size_t)*(capp) * 2 : 8;                \
            while (cf__n < (size_t)(need))                                   \
                cf__n *= 2;                                                  \
            *(pp) = cf_realloc(*(pp), cf__n * sizeof(**(pp)));               \
            *(capp) = cf__n;                                                 \
        }                                                                    \
    } while (0)

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */
/*
 * Functions return 0 or a negative code: -errno for system errors, or one
 * of the project codes below. Where context matters, a cf_error_t carries
 * a message that names the thing at fault.
 */
#define CF_ERROR_MAP(XX)                                                     \
    XX(CF_EINVAL, -2001, "invalid argument")                                 \
    XX(CF_ECONFIG, -2002, "invalid configuration")                           \
    XX(CF_EPLUGIN, -2003, "invalid plugin")                                  \
    XX(CF_EABI, -2004, "plugin ABI mismatch")                                \
    XX(CF_EGRAPH, -2005, "invalid job graph")                                \
    XX(CF_ECANCELED, -2006, "canceled")                                      \
    XX(CF_EUSER, -2007, "user function failed")                              \
    XX(CF_ENOBUFS, -2008, "insufficient network buffers")                    \
    XX(CF_ESTATE, -2009, "state error")                                      \
    XX(CF_EPROTO, -2010, "protocol error")                                   \
    XX(CF_EIO, -2011, "input/output error")                                  \
    XX(CF_ENOTFOUND, -2012, "not found")

enum cf_error_code_e {
#define CF__XX(name, code, msg) name = code,
    CF_ERROR_MAP(CF__XX)
#undef CF__XX
};

/* The name of a code ("CF_ECONFIG", "ENOENT") and its message. */
const char *cf_err_name(int code);
const char *cf_strerror(int code);

typedef struct cf_error_s {
    int code;
    char *msg;
} cf_error_t;

/* Set *errp (when errp is not NULL and *errp is NULL) and return code. */
int cf_error_set(cf_error_t **errp, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int cf_error_vset(cf_error_t **errp, int code, const char *fmt, va_list ap);
/* Prepend context to an existing message: "ctx: msg". */
void cf_error_prefix(cf_error_t **errp, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
const char *cf_error_msg(const cf_error_t *err);
void cf_error_free(cf_error_t *err);

/* Always-on assertion: logs file, line and a backtrace, then aborts. */
#define CF_ASSERT(cond)                                                      \
    do {                                                                     \
        if (__builtin_expect(!(cond), 0))                                    \
            cf_assert_fail(#cond, __FILE__, __LINE__);                       \
    } while (0)
void cf_assert_fail(const char *expr, const char *file, int line)
    __attribute__((noreturn));

/* ------------------------------------------------------------------ */
/* Logging                                                             */
/* ------------------------------------------------------------------ */
/*
 * Lines look like Flink's log4j pattern:
 *   2026-11-22 10:00:00,123 INFO  [thread] file.c:42 - message
 * Thread: any. Each line is written with one write(2).
 */
enum cf_log_level_e {
    CF_LOGL_ERROR = 0,
    CF_LOGL_WARN = 1,
    CF_LOGL_INFO = 2,
    CF_LOGL_DEBUG = 3,
};

void cf_log_set_level(int level);
int cf_log_get_level(void);
int cf_log_parse_level(const char *s); /* -1 when not a level name */
/* Send logs to a file (appending) instead of standard error. */
int cf_log_open(const char *path);
void cf_log_set_fd(int fd);
void cf_log_set_thread_name(const char *name);
void cf_log_write(int level, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void cf_log_vwrite(int level, const char *file, int line, const char *fmt,
                   va_list ap);

#define cf_log__(lvl, ...)                                                   \
    do {                                                                     \
        if ((lvl) <= cf_log_get_level())                                     \
            cf_log_write((lvl), __FILE__, __LINE__, __VA_ARGS__);            \
    } while (0)
#define cf_log_error(...) cf_log__(CF_LOGL_ERROR, __VA_ARGS__)
#define cf_log_warn(...) cf_log__(CF_LOGL_WARN, __VA_ARGS__)
#define cf_log_info(...) cf_log__(CF_LOGL_INFO, __VA_ARGS__)
#define cf_log_debug(...) cf_log__(CF_LOGL_DEBUG, __VA_ARGS__)

/* ------------------------------------------------------------------ */
/* Ids: 16 bytes, printed as 32 lower-case hex characters (Flink's).   */
/* ------------------------------------------------------------------ */

typedef struct cf_id_s {
    uint8_t b[16];
} cf_id_t;

#define CF_ID_HEX_LEN 32
void cf_id_random(cf_id_t *id);
void cf_id_to_hex(const cf_id_t *id, char out[CF_ID_HEX_LEN + 1]);
int cf_id_from_hex(cf_id_t *id, const char *hex); /* 0 or CF_EINVAL */
/* Exactly 2 * n hex characters (either case) into n bytes; 0 or
 * CF_EINVAL (out may be partly written). */
int cf_hex_decode(const char *hex, size_t n, uint8_t *out);
int cf_id_equal(const cf_id_t *a, const cf_id_t *b);
int cf_id_is_zero(const cf_id_t *id);
/* Random lower-case hex characters (savepoint suffixes). */
void cf_random_hex(char *out, size_t n);

/* ------------------------------------------------------------------ */
/* Hashing and key groups                                              */
/* ------------------------------------------------------------------ */

uint32_t cf_murmur3_32(const void *data, size_t len, uint32_t seed);
void cf_murmur3_128(const void *data, size_t len, uint32_t seed,
                    uint8_t out[16]);

#define CF_MAX_PARALLELISM_UPPER 32768 /* 1 << 15, as Flink */
#define CF_MAX_PARALLELISM_DEFAULT_LOWER 128

/* Flink's KeyGroupRangeAssignment, over the murmur3 hash of the key's
 * bytes. */
static inline int
cf_keygroup_of_hash(uint32_t hash, int max_parallelism)
{
    return (int)(hash % (uint32_t)max_parallelism);
}

static inline int
cf_keygroup_to_operator(int key_group, int max_parallelism, int parallelism)
{
    return (int)((int64_t)key_group * parallelism / max_parallelism);
}

/* cf_murmur3_32(data, len, 0) with keys of 4 and 8 bytes (int and long
 * keys, the common case) hashed inline: the same result, without the
 * call and the generic block loop. */
/* murmur3's final avalanche (fmix32) of h after mixing in the length. */
static inline uint32_t
cf_murmur3_32_finish(uint32_t h, uint32_t len)
{
    h ^= len;
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
}

static inline uint32_t
cf_murmur3_32_block(uint32_t h, const uint8_t *p)
{
    uint32_t k;
    memcpy(&k, p, 4);
    k *= 0xcc9e2d51u;
    k = (k << 15) | (k >> 17);
    k *= 0x1b873593u;
    h ^= k;
    h = (h << 13) | (h >> 19);
    return h * 5 + 0xe6546b64u;
}

static inline uint32_t
cf_murmur3_32_key(const void *data, size_t len)
{
    uint32_t h;

    if (len == 8)
        h = cf_murmur3_32_block(
            cf_murmur3_32_block(0, data), (const uint8_t *)data + 4);
    else if (len == 4)
        h = cf_murmur3_32_block(0, data);
    else
        return cf_murmur3_32(data, len, 0);
    return cf_murmur3_32_finish(h, (uint32_t)len);
}

/* A key-group router for a fixed max parallelism and parallelism:
 * cf_keygroup_to_operator(cf_keygroup_of_hash(h, maxp), maxp, p) without
 * a division per record. A power-of-two max parallelism (Flink's default
 * 128, every default) takes a mask and a shift; any other one takes
 * Lemire's exact 32-bit fastmod / fastdiv ("Faster Remainder by Direct
 * Computation", 2019), where the 64-bit platform has 128-bit products,
 * else plain division. */
typedef struct cf_keygroup_router_s {
    uint32_t max_parallelism;
    uint32_t parallelism;
    int pow2;       /* max_parallelism is a power of two */
    uint32_t shift; /* log2(max_parallelism) when pow2 */
    uint64_t m;     /* UINT64_MAX / max_parallelism + 1, or 0 */
} cf_keygroup_router_t;

static inline void
cf_keygroup_router_init(cf_keygroup_router_t *r, int max_parallelism,
                        int parallelism)
{
    uint32_t d = (uint32_t)max_parallelism;

    r->max_parallelism = d;
    r->parallelism = (uint32_t)parallelism;
    r->pow2 = d > 0 && (d & (d - 1)) == 0;
    r->shift = 0;
    while (r->pow2 && (1u << r->shift) < d)
        r->shift++;
    /* fastdiv needs kg * parallelism < 2^32: max parallelism <= 65535
     * (cflink's limit is 32768); beyond that, plain division. */
    r->m = d > 1 && d <= 65535 ? UINT64_MAX / d + 1 : 0;
}

/* The operator index that owns the key group of hash. */
static inline int
cf_keygroup_router_route(const cf_keygroup_router_t *r, uint32_t hash)
{
    uint32_t d = r->max_parallelism, kg;

    if (r->pow2) {
        kg = hash & (d - 1);
        return (int)(((uint64_t)kg * r->parallelism) >> r->shift);
    }
#ifdef __SIZEOF_INT128__
    if (r->m != 0) {
        /* kg * p < d * d < 2^32: 32-bit operands, as the method needs. */
        kg = (uint32_t)(((unsigned __int128)(r->m * hash) * d) >> 64);
        return (int)(((unsigned __int128)r->m * (kg * r->parallelism)) >>
                     64);
    }
#endif
    kg = hash % d;
    return (int)((uint64_t)kg * r->parallelism / d);
}

/* The key groups [*start, *end] owned by operator index idx. */
void cf_keygroup_range(int max_parallelism, int parallelism, int idx,
                       int *start, int *end);
/* Flink's default: min(max(roundUpPow2(p + p/2), 128), 32768). */
int cf_default_max_parallelism(int parallelism);

/* ------------------------------------------------------------------ */
/* Clocks                                                              */
/* ------------------------------------------------------------------ */

int64_t cf_now_ms(void);   /* wall clock, epoch milliseconds */
int64_t cf_mono_ns(void);  /* monotonic */
int64_t cf_mono_ms(void);
void cf_sleep_ms(int64_t ms);

/* ------------------------------------------------------------------ */
/* Signal: an event count that one thread waits on and any notifies.   */
/* ------------------------------------------------------------------ */
/*
 * A task thread waits on its signal for anything: input data, a free
 * output buffer, a mail, cancellation. Notifiers bump the count; the
 * waiter sleeps only while the count is still the one it last saw, so no
 * wake-up is lost. Thread: notify from any; wait from the owner.
 */
typedef struct cf_signal_s {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t count;
    void (*hook)(void *); /* optional, see cf_signal_set_hook */
    void *hook_arg;
} cf_signal_t;

void cf_signal_init(cf_signal_t *s);
void cf_signal_deinit(cf_signal_t *s);
void cf_signal_notify(cf_signal_t *s);
/* Also call fn(arg) on every notify, after the count bump and under the
 * signal's mutex (so fn must not block; uv_async_send is the use case).
 * Once set_hook(s, NULL, NULL) returns, the old hook is not running and
 * will not run again. Thread: any. */
void cf_signal_set_hook(cf_signal_t *s, void (*fn)(void *), void *arg);
/* Wait until the count differs from *seen or until deadline (monotonic
 * ns; -1: no deadline). Updates *seen. Returns 1 if notified, 0 on
 * timeout. */
int cf_signal_wait(cf_signal_t *s, uint64_t *seen, int64_t deadline_ns);
uint64_t cf_signal_count(cf_signal_t *s);

/* ------------------------------------------------------------------ */
/* Strings                                                             */
/* ------------------------------------------------------------------ */

typedef struct cf_sbuf_s {
    char *s;
    size_t len;
    size_t cap;
} cf_sbuf_t;

void cf_sbuf_append(cf_sbuf_t *b, const char *s);
void cf_sbuf_appendn(cf_sbuf_t *b, const char *s, size_t n);
void cf_sbuf_printf(cf_sbuf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
char *cf_sbuf_take(cf_sbuf_t *b); /* returns the string, resets b */
void cf_sbuf_deinit(cf_sbuf_t *b);

/* Read a whole file; *len gets its size. NULL with errno set on error. */
char *cf_file_read(const char *path, size_t *len);
/* Directory of the running executable (for <exe>/../conf). */
int cf_exe_dir(char *out, size_t size);
/* mkdir -p: path and its missing parents, created with mode. 0 or
 * -errno. */
int cf_mkdirs(const char *path, mode_t mode);
/* rm -r: path and everything below it, links not followed. What cannot be
 * deleted is logged (a warning naming it) and skipped. 0, or -errno when
 * path itself is still there. */
int cf_rmtree(const char *path);

#endif /* CF_CORE_H */
