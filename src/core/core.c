/*
 * core.c: memory, errors, ids, hashing, key groups, clocks, signals and
 * string helpers (see core.h).
 */
#include "core.h"

#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* Memory                                                              */
/* ------------------------------------------------------------------ */

static void
cf_oom(size_t n)
{
    char msg[96];
    int len = snprintf(msg, sizeof msg, "cflink: out of memory (%zu bytes)\n",
                       n);
    if (write(2, msg, (size_t)len) < 0) {
        /* Nothing left to do. */
    }
    abort();
}

void *
cf_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL)
        cf_oom(n);
    return p;
}

void *
cf_calloc(size_t count, size_t n)
{
    void *p = calloc(count ? count : 1, n ? n : 1);
    if (p == NULL)
        cf_oom(count * n);
    return p;
}

void *
cf_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL)
        cf_oom(n);
    return q;
}

char *
cf_strdup(const char *s)
{
    return cf_strndup(s, strlen(s));
}

char *
cf_strndup(const char *s, size_t n)
{
    char *p = cf_malloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *
cf_vasprintf(const char *fmt, va_list ap)
{
    va_list ap2;
    int n;
    char *p;

    va_copy(ap2, ap);
    n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        n = 0;
    p = cf_malloc((size_t)n + 1);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    return p;
}

char *
cf_asprintf(const char *fmt, ...)
{
    va_list ap;
    char *p;
    va_start(ap, fmt);
    p = cf_vasprintf(fmt, ap);
    va_end(ap);
    return p;
}

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

const char *
cf_err_name(int code)
{
    switch (code) {
#define CF__XX(name, c, msg)                                                 \
    case c:                                                                  \
        return #name;
        CF_ERROR_MAP(CF__XX)
#undef CF__XX
    default:
        break;
    }
    if (code < 0 && code > -4096) {
        const char *n = strerrorname_np(-code);
        if (n)
            return n;
    }
    return "UNKNOWN";
}

const char *
cf_strerror(int code)
{
    switch (code) {
#define CF__XX(name, c, msg)                                                 \
    case c:                                                                  \
        return msg;
        CF_ERROR_MAP(CF__XX)
#undef CF__XX
    default:
        break;
    }
    if (code < 0 && code > -4096)
        return strerror(-code);
    return "unknown error";
}

int
cf_error_vset(cf_error_t **errp, int code, const char *fmt, va_list ap)
{
    if (errp != NULL && *errp == NULL) {
        cf_error_t *e = CF_NEW(cf_error_t);
        e->code = code;
        e->msg = cf_vasprintf(fmt, ap);
        *errp = e;
    }
    return code;
}

int
cf_error_set(cf_error_t **errp, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cf_error_vset(errp, code, fmt, ap);
    va_end(ap);
    return code;
}

void
cf_error_prefix(cf_error_t **errp, const char *fmt, ...)
{
    va_list ap;
    char *pre, *msg;

    if (errp == NULL || *errp == NULL)
        return;
    va_start(ap, fmt);
    pre = cf_vasprintf(fmt, ap);
    va_end(ap);
    msg = cf_asprintf("%s: %s", pre, (*errp)->msg);
    cf_free(pre);
    cf_free((*errp)->msg);
    (*errp)->msg = msg;
}

const char *
cf_error_msg(const cf_error_t *err)
{
    return err ? err->msg : "no error";
}

void
cf_error_free(cf_error_t *err)
{
    if (err == NULL)
        return;
    cf_free(err->msg);
    cf_free(err);
}

void
cf_assert_fail(const char *expr, const char *file, int line)
{
    void *frames[64];
    int n;

    cf_log_write(CF_LOGL_ERROR, file, line, "assertion failed: %s", expr);
    n = backtrace(frames, 64);
    backtrace_symbols_fd(frames, n, 2);
    abort();
}

/* ------------------------------------------------------------------ */
/* Ids                                                                 */
/* ------------------------------------------------------------------ */

static void
cf_random_bytes(void *buf, size_t n)
{
    static __thread uint64_t st;
    uint8_t *p = buf;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);

    if (fd >= 0) {
        ssize_t r = read(fd, buf, n);
        close(fd);
        if (r == (ssize_t)n)
            return;
    }
    /* Fallback: xorshift seeded from the clock and the thread. */
    if (st == 0)
        st = (uint64_t)cf_mono_ns() ^ (uint64_t)(uintptr_t)&st;
    for (size_t i = 0; i < n; i++) {
        st ^= st << 13;
        st ^= st >> 7;
        st ^= st << 17;
        p[i] = (uint8_t)st;
    }
}

void
cf_id_random(cf_id_t *id)
{
    cf_random_bytes(id->b, sizeof id->b);
}

void
cf_id_to_hex(const cf_id_t *id, char out[CF_ID_HEX_LEN + 1])
{
    static const char hx[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) {
        out[2 * i] = hx[id->b[i] >> 4];
        out[2 * i + 1] = hx[id->b[i] & 15];
    }
    out[CF_ID_HEX_LEN] = '\0';
}

static int
cf_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int
cf_hex_decode(const char *hex, size_t n, uint8_t *out)
{
    if (hex == NULL || strlen(hex) != 2 * n)
        return CF_EINVAL;
    for (size_t i = 0; i < n; i++) {
        int hi = cf_hexval(hex[2 * i]), lo = cf_hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return CF_EINVAL;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

int
cf_id_from_hex(cf_id_t *id, const char *hex)
{
    return cf_hex_decode(hex, sizeof id->b, id->b);
}

int
cf_id_equal(const cf_id_t *a, const cf_id_t *b)
{
    return memcmp(a->b, b->b, 16) == 0;
}

int
cf_id_is_zero(const cf_id_t *id)
{
    static const cf_id_t zero;
    return cf_id_equal(id, &zero);
}

void
cf_random_hex(char *out, size_t n)
{
    static const char hx[] = "0123456789abcdef";
    uint8_t b[64];
    while (n > 0) {
        size_t k = n < sizeof b ? n : sizeof b;
        cf_random_bytes(b, k);
        for (size_t i = 0; i < k; i++)
            *out++ = hx[b[i] & 15];
        n -= k;
    }
    *out = '\0';
}

/* ------------------------------------------------------------------ */
/* Hashing: MurmurHash3 (x86_32 and x64_128), written from the public   */
/* description of the algorithm.                                       */
/* ------------------------------------------------------------------ */

static inline uint32_t
cf_rotl32(uint32_t x, int r)
{
    return (x << r) | (x >> (32 - r));
}

static inline uint64_t
cf_rotl64(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

uint32_t
cf_murmur3_32(const void *data, size_t len, uint32_t seed)
{
    const uint8_t *p = data;
    const uint32_t c1 = 0xcc9e2d51u, c2 = 0x1b873593u;
    uint32_t h = seed, k;
    size_t nblocks = len / 4;

    for (size_t i = 0; i < nblocks; i++) {
        memcpy(&k, p + 4 * i, 4);
        k *= c1;
        k = cf_rotl32(k, 15);
        k *= c2;
        h ^= k;
        h = cf_rotl32(h, 13);
        h = h * 5 + 0xe6546b64u;
    }
    k = 0;
    switch (len & 3) {
    case 3:
        k ^= (uint32_t)p[4 * nblocks + 2] << 16;
        /* fall through */
    case 2:
        k ^= (uint32_t)p[4 * nblocks + 1] << 8;
        /* fall through */
    case 1:
        k ^= p[4 * nblocks];
        k *= c1;
        k = cf_rotl32(k, 15);
        k *= c2;
        h ^= k;
    }
    return cf_murmur3_32_finish(h, (uint32_t)len);
}

static inline uint64_t
cf_fmix64(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    k ^= k >> 33;
    return k;
}

void
cf_murmur3_128(const void *data, size_t len, uint32_t seed, uint8_t out[16])
{
    const uint8_t *p = data;
    const uint64_t c1 = 0x87c37b91114253d5ULL, c2 = 0x4cf5ad432745937fULL;
    uint64_t h1 = seed, h2 = seed, k1, k2;
    size_t nblocks = len / 16;

    for (size_t i = 0; i < nblocks; i++) {
        memcpy(&k1, p + 16 * i, 8);
        memcpy(&k2, p + 16 * i + 8, 8);
        k1 *= c1;
        k1 = cf_rotl64(k1, 31);
        k1 *= c2;
        h1 ^= k1;
        h1 = cf_rotl64(h1, 27);
        h1 += h2;
        h1 = h1 * 5 + 0x52dce729;
        k2 *= c2;
        k2 = cf_rotl64(k2, 33);
        k2 *= c1;
        h2 ^= k2;
        h2 = cf_rotl64(h2, 31);
        h2 += h1;
        h2 = h2 * 5 + 0x38495ab5;
    }
    const uint8_t *t = p + 16 * nblocks;
    k1 = k2 = 0;
    switch (len & 15) {
    case 15: k2 ^= (uint64_t)t[14] << 48; /* fall through */
    case 14: k2 ^= (uint64_t)t[13] << 40; /* fall through */
    case 13: k2 ^= (uint64_t)t[12] << 32; /* fall through */
    case 12: k2 ^= (uint64_t)t[11] << 24; /* fall through */
    case 11: k2 ^= (uint64_t)t[10] << 16; /* fall through */
    case 10: k2 ^= (uint64_t)t[9] << 8; /* fall through */
    case 9:
        k2 ^= (uint64_t)t[8];
        k2 *= c2;
        k2 = cf_rotl64(k2, 33);
        k2 *= c1;
        h2 ^= k2;
        /* fall through */
    case 8: k1 ^= (uint64_t)t[7] << 56; /* fall through */
    case 7: k1 ^= (uint64_t)t[6] << 48; /* fall through */
    case 6: k1 ^= (uint64_t)t[5] << 40; /* fall through */
    case 5: k1 ^= (uint64_t)t[4] << 32; /* fall through */
    case 4: k1 ^= (uint64_t)t[3] << 24; /* fall through */
    case 3: k1 ^= (uint64_t)t[2] << 16; /* fall through */
    case 2: k1 ^= (uint64_t)t[1] << 8; /* fall through */
    case 1:
        k1 ^= (uint64_t)t[0];
        k1 *= c1;
        k1 = cf_rotl64(k1, 31);
        k1 *= c2;
        h1 ^= k1;
    }
    h1 ^= (uint64_t)len;
    h2 ^= (uint64_t)len;
    h1 += h2;
    h2 += h1;
    h1 = cf_fmix64(h1);
    h2 = cf_fmix64(h2);
    h1 += h2;
    h2 += h1;
    memcpy(out, &h1, 8);
    memcpy(out + 8, &h2, 8);
}

void
cf_keygroup_range(int max_parallelism, int parallelism, int idx, int *start,
                  int *end)
{
    /* Flink's computeKeyGroupRangeForOperatorIndex. */
    *start = (int)(((int64_t)idx * max_parallelism + parallelism - 1) /
                   parallelism);
    *end = (int)((((int64_t)idx + 1) * max_parallelism + parallelism - 1) /
                 parallelism) -
           1;
}

int
cf_default_max_parallelism(int parallelism)
{
    int64_t want = (int64_t)parallelism + parallelism / 2, p2 = 1;
    while (p2 < want)
        p2 <<= 1;
    if (p2 < CF_MAX_PARALLELISM_DEFAULT_LOWER)
        p2 = CF_MAX_PARALLELISM_DEFAULT_LOWER;
    if (p2 > CF_MAX_PARALLELISM_UPPER)
        p2 = CF_MAX_PARALLELISM_UPPER;
    return (int)p2;
}

/* ------------------------------------------------------------------ */
/* Clocks                                                              */
/* ------------------------------------------------------------------ */

int64_t
cf_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
cf_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t
cf_mono_ms(void)
{
    return cf_mono_ns() / 1000000;
}

void
cf_sleep_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

/* ------------------------------------------------------------------ */
/* Signal                                                              */
/* ------------------------------------------------------------------ */

void
cf_signal_init(cf_signal_t *s)
{
    pthread_condattr_t ca;
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cv, &ca);
    pthread_condattr_destroy(&ca);
    s->count = 0;
    s->hook = NULL;
    s->hook_arg = NULL;
}

void
cf_signal_deinit(cf_signal_t *s)
{
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
}

void
cf_signal_notify(cf_signal_t *s)
{
    pthread_mutex_lock(&s->mu);
    s->count++;
    pthread_cond_signal(&s->cv);
    if (s->hook != NULL)
        s->hook(s->hook_arg);
    pthread_mutex_unlock(&s->mu);
}

void
cf_signal_set_hook(cf_signal_t *s, void (*fn)(void *), void *arg)
{
    pthread_mutex_lock(&s->mu);
    s->hook = fn;
    s->hook_arg = arg;
    pthread_mutex_unlock(&s->mu);
}

uint64_t
cf_signal_count(cf_signal_t *s)
{
    uint64_t c;
    pthread_mutex_lock(&s->mu);
    c = s->count;
    pthread_mutex_unlock(&s->mu);
    return c;
}

int
cf_signal_wait(cf_signal_t *s, uint64_t *seen, int64_t deadline_ns)
{
    int notified = 1;

    pthread_mutex_lock(&s->mu);
    while (s->count == *seen) {
        if (deadline_ns < 0) {
            pthread_cond_wait(&s->cv, &s->mu);
        } else {
            struct timespec ts = {(time_t)(deadline_ns / 1000000000),
                                  (long)(deadline_ns % 1000000000)};
            if (pthread_cond_timedwait(&s->cv, &s->mu, &ts) != 0 &&
                s->count == *seen) {
                notified = 0;
                break;
            }
        }
    }
    *seen = s->count;
    pthread_mutex_unlock(&s->mu);
    return notified;
}

/* ------------------------------------------------------------------ */
/* Strings and files                                                   */
/* ------------------------------------------------------------------ */

void
cf_sbuf_appendn(cf_sbuf_t *b, const char *s, size_t n)
{
    CF_GROW(&b->s, &b->cap, b->len + n + 1);
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

void
cf_sbuf_append(cf_sbuf_t *b, const char *s)
{
    cf_sbuf_appendn(b, s, strlen(s));
}

void
cf_sbuf_printf(cf_sbuf_t *b, const char *fmt, ...)
{
    va_list ap;
    char *p;
    va_start(ap, fmt);
    p = cf_vasprintf(fmt, ap);
    va_end(ap);
    cf_sbuf_append(b, p);
    cf_free(p);
}

char *
cf_sbuf_take(cf_sbuf_t *b)
{
    char *s = b->s ? b->s : cf_strdup("");
    b->s = NULL;
    b->len = b->cap = 0;
    return s;
}

void
cf_sbuf_deinit(cf_sbuf_t *b)
{
    cf_free(b->s);
    b->s = NULL;
    b->len = b->cap = 0;
}

char *
cf_file_read(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    char *buf;
    size_t got = 0;

    if (fd < 0)
        return NULL;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        errno = e;
        return NULL;
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        errno = EISDIR;
        return NULL;
    }
    buf = cf_malloc((size_t)st.st_size + 1);
    while (got < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            cf_free(buf);
            close(fd);
            errno = e;
            return NULL;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    buf[got] = '\0';
    if (len)
        *len = got;
    return buf;
}

int
cf_exe_dir(char *out, size_t size)
{
    ssize_t n = readlink("/proc/self/exe", out, size - 1);
    char *slash;
    if (n <= 0)
        return -errno;
    out[n] = '\0';
    slash = strrchr(out, '/');
    if (slash)
        *slash = '\0';
    return 0;
}

int
cf_mkdirs(const char *path, mode_t mode)
{
    char *p = cf_strdup(path);
    int rc = 0;

    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, mode) < 0 && errno != EEXIST) {
            rc = -errno;
            break;
        }
        *s = '/';
    }
    if (rc == 0 && mkdir(p, mode) < 0 && errno != EEXIST)
        rc = -errno;
    cf_free(p);
    return rc;
}

static int
cf_rmtree_entry(const char *path, const struct stat *st, int flag,
                struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    if (remove(path) < 0)
        cf_log_warn("Could not delete %s: %s", path, strerror(errno));
    return 0;
}

int
cf_rmtree(const char *path)
{
    struct stat st;

    nftw(path, cf_rmtree_entry, 16, FTW_DEPTH | FTW_PHYS);
    return lstat(path, &st) == 0 ? -ENOTEMPTY
           : errno == ENOENT   ? 0
                               : -errno;
}
