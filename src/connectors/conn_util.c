/*
 * conn_util.c: helpers of the built-in connectors: allocation, the
 * registry of operator configurations (freed by cf_conn_free_all), range
 * splitting over parallel instances, rate limiting, line splitting, UUIDs
 * and file helpers.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "connectors_int.h"

/* ------------------------------------------------------------------ */
/* Memory                                                              */
/* ------------------------------------------------------------------ */

static void
oom(size_t n)
{
    fprintf(stderr, "cflink connectors: out of memory allocating %zu bytes\n",
            n);
    abort();
}

void *
cf_conn_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom(n);
    return p;
}

void *
cf_conn_calloc(size_t count, size_t n)
{
    void *p = calloc(count ? count : 1, n ? n : 1);
    if (!p)
        oom(count * n);
    return p;
}

void *
cf_conn_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom(n);
    return q;
}

char *
cf_conn_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = cf_conn_malloc(n);
    memcpy(d, s, n);
    return d;
}

/* ------------------------------------------------------------------ */
/* The registry of configurations                                      */
/* ------------------------------------------------------------------ */

struct reg_node {
    struct reg_node *next;
    alignas(max_align_t) unsigned char data[];
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct reg_node *reg_head;

void *
cf_conn_registry_alloc(size_t n)
{
    struct reg_node *node = cf_conn_calloc(1, sizeof(*node) + n);
    pthread_mutex_lock(&reg_lock);
    node->next = reg_head;
    reg_head = node;
    pthread_mutex_unlock(&reg_lock);
    return node->data;
}

char *
cf_conn_registry_strdup(const char *s)
{
    size_t n;
    char *d;
    if (!s)
        return NULL;
    n = strlen(s) + 1;
    d = cf_conn_registry_alloc(n);
    memcpy(d, s, n);
    return d;
}

void
cf_conn_free_all(void)
{
    struct reg_node *node;
    pthread_mutex_lock(&reg_lock);
    node = reg_head;
    reg_head = NULL;
    pthread_mutex_unlock(&reg_lock);
    while (node) {
        struct reg_node *next = node->next;
        free(node);
        node = next;
    }
}

/* ------------------------------------------------------------------ */
/* Splitting and rates                                                 */
/* ------------------------------------------------------------------ */

int
cf_conn_range_split(uint64_t last, int parts, int index, uint64_t *lo,
                    uint64_t *hi)
{
    uint64_t p, i, q, r, base, rem, size, start;

    if (parts <= 1) {
        *lo = 0;
        *hi = last;
        return 1;
    }
    p = (uint64_t)parts;
    i = (uint64_t)index;
    /* total = last + 1 = q * p + r + 1 may be 2^64: derive base and
     * remainder of total / p without computing total. */
    q = last / p;
    r = last % p;
    if (r + 1 == p) {
        base = q + 1;
        rem = 0;
    } else {
        base = q;
        rem = r + 1;
    }
    size = base + (i < rem ? 1 : 0);
    if (size == 0)
        return 0;
    start = i * base + (i < rem ? i : rem);
    *lo = start;
    *hi = start + (size - 1);
    return 1;
}

uint64_t
cf_conn_rate_allowed(double per_second, uint64_t elapsed_ns)
{
    double n;
    if (!(per_second > 0))
        return UINT64_MAX;
    n = (double)elapsed_ns / 1e9 * per_second + 1.0;
    if (n >= 18446744073709551615.0)
        return UINT64_MAX;
    return (uint64_t)n; /* truncation: the floor of a positive number */
}

/* ------------------------------------------------------------------ */
/* Line splitting                                                      */
/* ------------------------------------------------------------------ */

void
cf_conn_lines_init(cf_conn_lines_t *lb)
{
    lb->buf = NULL;
    lb->len = 0;
    lb->cap = 0;
}

void
cf_conn_lines_deinit(cf_conn_lines_t *lb)
{
    free(lb->buf);
    cf_conn_lines_init(lb);
}

static void
lines_append(cf_conn_lines_t *lb, const char *data, size_t len)
{
    if (lb->len + len > lb->cap) {
        size_t cap = lb->cap ? lb->cap : 256;
        while (cap < lb->len + len)
            cap *= 2;
        lb->buf = cf_conn_realloc(lb->buf, cap);
        lb->cap = cap;
    }
    memcpy(lb->buf + lb->len, data, len);
    lb->len += len;
}

static int
lines_emit(const char *line, size_t len, cf_conn_line_cb cb, void *arg)
{
    if (len > 0 && line[len - 1] == '\r')
        len--;
    return cb(arg, line, len);
}

int
cf_conn_lines_feed(cf_conn_lines_t *lb, const char *data, size_t len,
                   cf_conn_line_cb cb, void *arg)
{
    const char *p = data;
    const char *end = data + len;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        int rc;
        if (!nl) {
            lines_append(lb, p, (size_t)(end - p));
            return 0;
        }
        if (lb->len > 0) {
            /* The line began in an earlier piece: complete the copy. */
            size_t n;
            lines_append(lb, p, (size_t)(nl - p));
            n = lb->len;
            lb->len = 0;
            rc = lines_emit(lb->buf, n, cb, arg);
        } else {
            rc = lines_emit(p, (size_t)(nl - p), cb, arg);
        }
        if (rc < 0)
            return rc;
        p = nl + 1;
    }
    return 0;
}

int
cf_conn_lines_flush(cf_conn_lines_t *lb, cf_conn_line_cb cb, void *arg)
{
    size_t n = lb->len;
    if (n == 0)
        return 0;
    lb->len = 0;
    return lines_emit(lb->buf, n, cb, arg);
}

/* ------------------------------------------------------------------ */
/* Files                                                               */
/* ------------------------------------------------------------------ */

void
cf_conn_uuid_generate(char out[37])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char b[16];
    size_t got = 0;
    int i, o;

    while (got < sizeof(b)) {
        ssize_t n = getrandom(b + got, sizeof(b) - got, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        got += (size_t)n;
    }
    if (got < sizeof(b)) {
        /* No getrandom (old kernel, seccomp): time and pid are unique
         * enough for file names. */
        struct timespec ts;
        uint64_t x;
        clock_gettime(CLOCK_REALTIME, &ts);
        x = ((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec) ^
            ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)&ts;
        for (i = 0; i < 16; i++) {
            x ^= x >> 33;
            x *= 0xff51afd7ed558ccdULL;
            x ^= x >> 29;
            b[i] = (unsigned char)x;
        }
    }
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* variant 1 */
    for (i = 0, o = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[b[i] >> 4];
        out[o++] = hex[b[i] & 15];
    }
    out[o] = '\0';
}

int
cf_conn_mkdirs(const char *path)
{
    char *p = cf_conn_strdup(path);
    char *s = p;
    struct stat st;
    int rc = 0;

    for (;;) {
        char c;
        while (*s == '/')
            s++;
        while (*s && *s != '/')
            s++;
        c = *s;
        *s = '\0';
        if (mkdir(p, 0777) < 0 && errno != EEXIST) {
            rc = -errno;
            break;
        }
        *s = c;
        if (!c)
            break;
    }
    if (rc == 0) {
        if (stat(path, &st) < 0)
            rc = -errno;
        else if (!S_ISDIR(st.st_mode))
            rc = -ENOTDIR;
    }
    free(p);
    return rc;
}

int
cf_conn_write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

struct path_vec {
    char **v;
    size_t n;
    size_t cap;
};

static void
path_vec_add(struct path_vec *pv, char *path)
{
    if (pv->n == pv->cap) {
        pv->cap = pv->cap ? pv->cap * 2 : 16;
        pv->v = cf_conn_realloc(pv->v, pv->cap * sizeof(*pv->v));
    }
    pv->v[pv->n++] = path;
}

static char *
path_join(const char *dir, const char *name)
{
    size_t dl = strlen(dir), nl = strlen(name);
    char *p = cf_conn_malloc(dl + nl + 2);
    memcpy(p, dir, dl);
    if (dl == 0 || dir[dl - 1] != '/')
        p[dl++] = '/';
    memcpy(p + dl, name, nl + 1);
    return p;
}

/* Add the regular files under dir (recursively) to pv. Symbolic links to
 * files are followed; links to directories are not (no cycles). */
static int
list_dir(const char *dir, struct path_vec *pv)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int rc = 0;

    if (!d)
        return -errno;
    for (;;) {
        struct stat st;
        char *p;
        int is_link;
        errno = 0;
        de = readdir(d);
        if (!de) {
            if (errno)
                rc = -errno;
            break;
        }
        if (de->d_name[0] == '.' || de->d_name[0] == '_')
            continue;
        p = path_join(dir, de->d_name);
        if (lstat(p, &st) < 0) {
            free(p); /* removed meanwhile */
            continue;
        }
        is_link = S_ISLNK(st.st_mode);
        if (is_link && stat(p, &st) < 0) {
            free(p); /* dangling link */
            continue;
        }
        if (S_ISREG(st.st_mode)) {
            path_vec_add(pv, p);
        } else if (S_ISDIR(st.st_mode) && !is_link) {
            rc = list_dir(p, pv);
            free(p);
            if (rc < 0)
                break;
        } else {
            free(p);
        }
    }
    closedir(d);
    return rc;
}

static int
path_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int
cf_conn_list_files(const char *path, char ***files, size_t *n)
{
    struct path_vec pv = {NULL, 0, 0};
    struct stat st;
    int rc = 0;

    *files = NULL;
    *n = 0;
    if (stat(path, &st) < 0)
        return -errno;
    if (S_ISDIR(st.st_mode)) {
        rc = list_dir(path, &pv);
        if (rc < 0) {
            cf_conn_paths_free(pv.v, pv.n);
            return rc;
        }
        if (pv.n > 1)
            qsort(pv.v, pv.n, sizeof(*pv.v), path_cmp);
    } else {
        path_vec_add(&pv, cf_conn_strdup(path));
    }
    *files = pv.v;
    *n = pv.n;
    return 0;
}

void
cf_conn_paths_free(char **files, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++)
        free(files[i]);
    free(files);
}

/* ------------------------------------------------------------------ */
/* Positions of number sources                                         */
/* ------------------------------------------------------------------ */

void
cf_conn_put_u64(uint8_t *p, uint64_t v)
{
    int i;
    for (i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

uint64_t
cf_conn_get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    int i;
    for (i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

void
cf_conn_put_u32(uint8_t *p, uint32_t v)
{
    int i;
    for (i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

uint32_t
cf_conn_get_u32(const uint8_t *p)
{
    uint32_t v = 0;
    int i;
    for (i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

void
cf_conn_ranges_add(cf_conn_ranges_t *r, uint64_t lo, uint64_t hi)
{
    if (r->n == r->cap) {
        r->cap = r->cap ? r->cap * 2 : 4;
        r->v = cf_conn_realloc(r->v, r->cap * sizeof(*r->v));
    }
    r->v[r->n][0] = lo;
    r->v[r->n][1] = hi;
    r->n++;
}

void
cf_conn_ranges_free(cf_conn_ranges_t *r)
{
    free(r->v);
    memset(r, 0, sizeof(*r));
}

void
cf_conn_range_encode(uint8_t out[CF_CONN_RANGE_ITEM], uint64_t lo, uint64_t hi)
{
    out[0] = 1;
    cf_conn_put_u64(out + 1, lo);
    cf_conn_put_u64(out + 9, hi);
}

int
cf_conn_range_decode(const void *p, size_t len, uint64_t *lo, uint64_t *hi)
{
    const uint8_t *b = p;
    if (len != CF_CONN_RANGE_ITEM || b[0] != 1)
        return -EINVAL;
    *lo = cf_conn_get_u64(b + 1);
    *hi = cf_conn_get_u64(b + 9);
    return 0;
}

int
cf_conn_ranges_store(cf_state_t *st, const cf_conn_ranges_t *r, uint64_t base)
{
    uint8_t item[CF_CONN_RANGE_ITEM];
    size_t i;
    int rc = cf_state_clear(st);

    for (i = r->cur; rc >= 0 && i < r->n; i++) {
        cf_conn_range_encode(item, r->v[i][0] + base, r->v[i][1] + base);
        rc = cf_list_add(st, item, sizeof(item));
    }
    return rc < 0 ? rc : 0;
}

int
cf_conn_ranges_load(cf_ctx_t *ctx, cf_state_t *st, cf_conn_ranges_t *r,
                    uint64_t base, uint64_t last, const char *what)
{
    cf_list_iter_t it;
    cf_slice_t item;
    size_t k = 0;

    if (cf_list_iter(st, &it) < 0)
        return cf_fail(ctx, "%s: could not read the restored positions", what);
    while (cf_list_next(st, &it, &item) > 0) {
        uint64_t lo, hi;
        if (cf_conn_range_decode(item.data, item.len, &lo, &hi) < 0)
            return cf_fail(ctx,
                           "%s: restored position %zu is corrupt (%u bytes)",
                           what, k, (unsigned)item.len);
        lo -= base;
        hi -= base;
        if (lo > hi || hi > last)
            return cf_fail(ctx,
                           "%s: restored position %zu lies outside this "
                           "source's numbers (state of another job?)",
                           what, k);
        cf_conn_ranges_add(r, lo, hi);
        k++;
    }
    return 0;
}

int
cf_conn_fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = 0;
    if (fd < 0)
        return -errno;
    if (fsync(fd) < 0 && errno != EINVAL && errno != EROFS && errno != EBADF)
        rc = -errno;
    close(fd);
    return rc;
}
