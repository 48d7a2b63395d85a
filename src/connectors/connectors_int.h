/*
 * connectors_int.h: helpers shared by the built-in connectors, and
 * exposed for their unit tests. Nothing here needs a running host.
 */
#ifndef CF_CONNECTORS_INT_H
#define CF_CONNECTORS_INT_H

#include <stddef.h>
#include <stdint.h>

#include "connectors.h"

/* ------------------------------------------------------------------ */
/* Memory                                                              */
/* ------------------------------------------------------------------ */

/* malloc/calloc/realloc/strdup that abort on failure (as the host's
 * allocator does). Thread: any. */
void *cf_conn_malloc(size_t n);
void *cf_conn_calloc(size_t count, size_t n);
void *cf_conn_realloc(void *p, size_t n);
char *cf_conn_strdup(const char *s);

/* Zeroed memory that lives until cf_conn_free_all(): operator
 * configurations (udata). Thread: any (takes the registry's lock). */
void *cf_conn_registry_alloc(size_t n);

/* A copy of s (NULL stays NULL) that lives until cf_conn_free_all(). */
char *cf_conn_registry_strdup(const char *s);

/* ------------------------------------------------------------------ */
/* Splitting work over parallel instances                              */
/* ------------------------------------------------------------------ */

/* Split the numbers 0..last (inclusive, so that the full uint64 range can
 * be expressed) into parts contiguous ranges whose sizes differ by at most
 * one, the larger ones first, as Flink's NumberSequenceSource does. Sets
 * [*lo, *hi] to range index (0 <= index < parts) and returns 1, or returns
 * 0 when that range is empty. Thread: any. */
int cf_conn_range_split(uint64_t last, int parts, int index, uint64_t *lo,
                        uint64_t *hi);

/* How many records a rate-limited source may have emitted after elapsed_ns
 * nanoseconds at per_second records a second: one at once, then one every
 * 1/per_second seconds. per_second <= 0 means unlimited (UINT64_MAX).
 * Thread: any. */
uint64_t cf_conn_rate_allowed(double per_second, uint64_t elapsed_ns);

/* ------------------------------------------------------------------ */
/* Line splitting                                                      */
/* ------------------------------------------------------------------ */

/* Called for each line, without its '\n' and a '\r' before it. The line
 * is valid during the call only. Return 0, or a negative code that stops
 * the splitting and is returned by cf_conn_lines_feed/_flush. */
typedef int (*cf_conn_line_cb)(void *arg, const char *line, size_t len);

/* Splits a byte stream given in pieces into '\n'-terminated lines of any
 * length. Complete lines are passed from the caller's buffer; only a line
 * that spans pieces is copied. */
typedef struct cf_conn_lines_s {
    char *buf; /* the start of a line that spans pieces */
    size_t len;
    size_t cap;
} cf_conn_lines_t;

/* Thread: the owner's. */
void cf_conn_lines_init(cf_conn_lines_t *lb);
void cf_conn_lines_deinit(cf_conn_lines_t *lb);

/* Feed the next len bytes of the stream: cb for each line they complete.
 * Returns 0 or the first negative value cb returned. */
int cf_conn_lines_feed(cf_conn_lines_t *lb, const char *data, size_t len,
                       cf_conn_line_cb cb, void *arg);

/* At the end of the stream: cb for a last line without '\n', if any. */
int cf_conn_lines_flush(cf_conn_lines_t *lb, cf_conn_line_cb cb, void *arg);

/* ------------------------------------------------------------------ */
/* Files                                                               */
/* ------------------------------------------------------------------ */

/* A random (version 4) UUID as 36 characters 8-4-4-4-12 of lower-case hex
 * and a NUL. Thread: any. */
void cf_conn_uuid_generate(char out[37]);

/* mkdir -p path (mode 0777 before umask). Returns 0 or -errno.
 * Thread: any. */
int cf_conn_mkdirs(const char *path);

/* Write all len bytes to fd, retrying short writes and EINTR. Returns 0
 * or -errno. Thread: any. */
int cf_conn_write_all(int fd, const void *data, size_t len);

/* The regular files under path (path itself when it is not a directory),
 * recursively, skipping names that start with '.' or '_' below path,
 * sorted by path. Sets *files (an array of *n strings, free with
 * cf_conn_paths_free). Returns 0 or -errno (of the first stat/opendir that
 * failed). Thread: any. */
int cf_conn_list_files(const char *path, char ***files, size_t *n);
void cf_conn_paths_free(char **files, size_t n);

/* ------------------------------------------------------------------ */
/* Positions of number sources (operator state)                       */
/* ------------------------------------------------------------------ */

/* The numbers an instance of fromSequence or the data generator still has
 * to emit: inclusive ranges [v[i][0], v[i][1]] for cur <= i < n, in
 * order; v[cur][0] is the next number. Thread: the owner's. */
typedef struct cf_conn_ranges_s {
    uint64_t (*v)[2];
    size_t n;
    size_t cap;
    size_t cur;
} cf_conn_ranges_t;

void cf_conn_ranges_add(cf_conn_ranges_t *r, uint64_t lo, uint64_t hi);
void cf_conn_ranges_free(cf_conn_ranges_t *r);

/* 1 and *out = the next number (consumed), or 0 when none is left. */
static inline int
cf_conn_ranges_take(cf_conn_ranges_t *r, uint64_t *out)
{
    if (r->cur >= r->n)
        return 0;
    *out = r->v[r->cur][0];
    if (r->v[r->cur][0] == r->v[r->cur][1])
        r->cur++;
    else
        r->v[r->cur][0]++;
    return 1;
}

static inline int
cf_conn_ranges_done(const cf_conn_ranges_t *r)
{
    return r->cur >= r->n;
}

/* An operator-state item of a range: version byte 1, then lo and hi as
 * 8-byte little-endian numbers. */
#define CF_CONN_RANGE_ITEM 17
void cf_conn_range_encode(uint8_t out[CF_CONN_RANGE_ITEM], uint64_t lo,
                          uint64_t hi);
/* 0, or -EINVAL when p/len is not such an item. */
int cf_conn_range_decode(const void *p, size_t len, uint64_t *lo, uint64_t *hi);

/* Replace the items of the operator list state st by r's remaining
 * ranges, each shifted by base (mod 2^64). Returns 0 or negative. */
int cf_conn_ranges_store(cf_state_t *st, const cf_conn_ranges_t *r,
                         uint64_t base);

/* Append the items of st (restored) to r, each shifted by -base and
 * checked to lie within [0, last]. what names the operator in messages.
 * Returns 0, or fails ctx (cf_fail) naming the bad item and returns
 * CF_ERR. */
int cf_conn_ranges_load(cf_ctx_t *ctx, cf_state_t *st, cf_conn_ranges_t *r,
                        uint64_t base, uint64_t last, const char *what);

/* Little-endian integers of state items and transactions. */
void cf_conn_put_u64(uint8_t *p, uint64_t v);
uint64_t cf_conn_get_u64(const uint8_t *p);
void cf_conn_put_u32(uint8_t *p, uint32_t v);
uint32_t cf_conn_get_u32(const uint8_t *p);

/* Whether the host has operator state (ABI 1.1): sources keep their
 * positions only then. */
static inline int
cf_conn_has_opstate(cf_ctx_t *ctx)
{
    return CF_API_HAS(ctx, op_state_list) && CF__API(ctx)->op_state_list &&
           CF_API_HAS(ctx, is_restored) && CF__API(ctx)->is_restored;
}

/* fsync the directory dir (after a rename in it). Returns 0 or -errno;
 * file systems that cannot sync a directory count as success. */
int cf_conn_fsync_dir(const char *dir);

#endif /* CF_CONNECTORS_INT_H */
