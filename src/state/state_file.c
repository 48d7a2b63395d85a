/*
 * state_file.c: the state file of one operator, subtask and checkpoint
 * (state.h "State files"): writing a keyed copy-on-write snapshot and an
 * operator-state snapshot, restoring the key groups of a backend's range,
 * and restoring operator state with Flink's redistribution.
 *
 * Layout (integers little-endian; docs/internals/checkpoint-format.md):
 *
 *   header   32 bytes: "CFLKSTAT", u32 version, u32 flags (1 compressed,
 *            2 keyed, 4 operator), i32 max parallelism, i32 kg_start,
 *            i32 kg_end, u32 CRC-32 of the 28 bytes before it
 *   operator section: chunks of records (state, item, map entry)
 *   keyed section: for each state, for each key group of the range,
 *            the chunks of that state's entries of that key group
 *   index    one chunk: the state directory (name, kind, TTL, the
 *            offset of every key group's run) and the operator section's
 *            extent
 *   footer   32 bytes: u64 index offset, u64 index bytes, u32 reserved,
 *            u32 CRC-32 of the 20 bytes before it, "CFLKSEND"
 *
 * A chunk is [u32 raw length][u32 stored length][u32 CRC-32 of the two
 * lengths and the stored bytes][stored bytes]; stored bytes are zlib
 * (deflate level 1) when the file is compressed and that made them
 * smaller, else the raw bytes. A chunk holds whole records and never
 * spans two key groups, so a restore seeks to the key groups of its range
 * and reads nothing else. The snapshot walk visits a state's entries in
 * key group order, which is why the keyed section is state-major: the key
 * groups of a range are one contiguous run per state.
 *
 * Robustness: every length read from a file is checked against the
 * extent that holds it (and thus the file size) before it is used, every
 * chunk's CRC is checked before it is decoded, a chunk inflates to at
 * most 1032 times its stored size (deflate's limit): a corrupt file gives
 * an error naming it, never a crash or an unbounded allocation.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <zlib.h>

#include "state.h"
#include "state_int.h"

#define SF_MAGIC "CFLKSTAT"
#define SF_END_MAGIC "CFLKSEND"
#define SF_VERSION 1u
#define SF_HDR_LEN 32u
#define SF_FOOTER_LEN 32u
#define SF_CHUNK_HDR 12u
#define SF_F_COMPRESSED 1u
#define SF_F_KEYED 2u
#define SF_F_OPERATOR 4u
/* A chunk is cut once its records reach this size. */
#define SF_CHUNK_TARGET (256u << 10)
/* Writes go through a buffer of this size (larger chunks bypass it). */
#define SF_OUT_BUF (1u << 20)
/* Writeback of the written bytes is started every this many bytes, so
 * that the disk works while the snapshot is walked and the final fsync
 * has little left to do. */
#define SF_WRITEBACK (16u << 20)
/* Reads fill a window of at least this size. */
#define SF_IN_BUF (1u << 20)
/* Deflate never expands more than 1032:1. */
#define SF_MAX_RATIO 1032u
/* Largest raw chunk the writer produces (a chunk length is a u32). */
#define SF_CHUNK_MAX (UINT32_MAX - 64u)

/* Operator-state records. */
#define SF_OP_STATE 1
#define SF_OP_ITEM 2
#define SF_OP_ENTRY 3

/* ------------------------------------------------------------------ */
/* Little-endian integers                                              */
/* ------------------------------------------------------------------ */

static inline void
le32_put(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static inline void
le64_put(uint8_t *p, uint64_t v)
{
    le32_put(p, (uint32_t)v);
    le32_put(p + 4, (uint32_t)(v >> 32));
}

static inline uint32_t
le32_get(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static inline uint64_t
le64_get(const uint8_t *p)
{
    return (uint64_t)le32_get(p) | (uint64_t)le32_get(p + 4) << 32;
}

static uint32_t
sf_crc(uint32_t c, const uint8_t *p, size_t len)
{
    while (len > 0) {
        uInt k = len > (1u << 30) ? (1u << 30) : (uInt)len;
        c = (uint32_t)crc32(c, p, k);
        p += k;
        len -= k;
    }
    return c;
}

/* The CRC of a chunk: its two lengths, then its stored bytes. */
static uint32_t
sf_chunk_crc(const uint8_t *lens, const uint8_t *stored, size_t n)
{
    uint32_t c = sf_crc((uint32_t)crc32(0L, Z_NULL, 0), lens, 8);
    return sf_crc(c, stored, n);
}

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#error "state files store list blocks in the backend's (little-endian) order"
#endif

/* ------------------------------------------------------------------ */
/* Writing                                                             */
/* ------------------------------------------------------------------ */

typedef struct sf_wstate_s {
    char *name;
    cf_state_kind_t kind;
    int64_t ttl_ms;
    uint64_t *off; /* nkg + 1 */
} sf_wstate_t;

typedef struct sf_writer_s {
    const char *path;
    int fd;
    int rc;
    cf_error_t **errp;
    uint64_t pos;    /* bytes of the file so far (written or buffered) */
    uint64_t wpos;   /* bytes written to the file */
    uint64_t synced; /* bytes whose writeback was started */
    uint8_t *out;    /* SF_OUT_BUF */
    size_t out_len;
    /* The current chunk: SF_CHUNK_HDR reserved bytes, then records. */
    uint8_t *raw;
    size_t raw_len;
    size_t raw_cap;
    uint8_t *z; /* compressed chunk, with its header room */
    size_t z_cap;
    int compress;
    z_stream zs;
    int zs_ok;
    /* Keyed walk. */
    int kg_start;
    int kg_end;
    int nkg;
    int cur_kg;
    sf_wstate_t *states;
    size_t nstates;
    size_t states_cap;
} sf_writer_t;

static int
sf_werr(sf_writer_t *w, int rc, const char *what)
{
    if (w->rc == 0) {
        w->rc = rc;
        if (rc == -ENOSPC || rc == -EDQUOT)
            cf_error_set(w->errp, rc,
                         "cannot write %s: no space left on "
                         "device",
                         w->path);
        else if (rc < 0 && rc > -4096)
            cf_error_set(w->errp, rc, "cannot write %s: %s", w->path,
                         strerror(-rc));
        else
            cf_error_set(w->errp, rc, "cannot write %s: %s", w->path, what);
    }
    return w->rc;
}

static int
sf_write_fd(sf_writer_t *w, const uint8_t *p, size_t len)
{
    while (len > 0) {
        ssize_t n = write(w->fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return sf_werr(w, -errno, NULL);
        }
        if (n == 0)
            return sf_werr(w, CF_EIO, "short write");
        p += n;
        len -= (size_t)n;
        w->wpos += (uint64_t)n;
    }
    if (w->wpos - w->synced >= SF_WRITEBACK) {
        /* Start writeback, without waiting (best effort). */
        (void)sync_file_range(w->fd, (off64_t)w->synced,
                              (off64_t)(w->wpos - w->synced),
                              SYNC_FILE_RANGE_WRITE);
        w->synced = w->wpos;
    }
    return 0;
}

static int
sf_out_flush(sf_writer_t *w)
{
    int rc = 0;

    if (w->out_len > 0)
        rc = sf_write_fd(w, w->out, w->out_len);
    w->out_len = 0;
    return rc;
}

static int
sf_out(sf_writer_t *w, const uint8_t *p, size_t len)
{
    if (w->rc != 0)
        return w->rc;
    w->pos += len;
    if (len >= SF_OUT_BUF / 2) {
        if (sf_out_flush(w) != 0)
            return w->rc;
        return sf_write_fd(w, p, len);
    }
    if (w->out_len + len > SF_OUT_BUF && sf_out_flush(w) != 0)
        return w->rc;
    memcpy(w->out + w->out_len, p, len);
    w->out_len += len;
    return 0;
}

/* Room for n more bytes in the current chunk. */
static uint8_t *
sf_raw(sf_writer_t *w, size_t n)
{
    if (w->raw_len + n > w->raw_cap) {
        size_t cap = w->raw_cap * 2;
        while (cap < w->raw_len + n)
            cap *= 2;
        w->raw = cf_realloc(w->raw, cap);
        w->raw_cap = cap;
    }
    w->raw_len += n;
    return w->raw + w->raw_len - n;
}

/* Write the current chunk (if it holds records). */
static int
sf_chunk_flush(sf_writer_t *w)
{
    size_t n = w->raw_len - SF_CHUNK_HDR;
    uint8_t *chunk = w->raw;
    size_t stored = n;

    if (n == 0 || w->rc != 0) {
        w->raw_len = SF_CHUNK_HDR;
        return w->rc;
    }
    if (n > SF_CHUNK_MAX)
        return sf_werr(w, CF_EINVAL, "a state entry is too large");
    if (w->compress) {
        size_t bound = SF_CHUNK_HDR + deflateBound(&w->zs, (uLong)n);
        if (bound > w->z_cap) {
            w->z = cf_realloc(w->z, bound);
            w->z_cap = bound;
        }
        deflateReset(&w->zs);
        w->zs.next_in = w->raw + SF_CHUNK_HDR;
        w->zs.avail_in = (uInt)n;
        w->zs.next_out = w->z + SF_CHUNK_HDR;
        w->zs.avail_out = (uInt)(bound - SF_CHUNK_HDR);
        if (deflate(&w->zs, Z_FINISH) != Z_STREAM_END)
            return sf_werr(w, CF_EIO, "compression failed");
        if (w->zs.total_out < n) {
            chunk = w->z;
            stored = w->zs.total_out;
        }
    }
    le32_put(chunk, (uint32_t)n);
    le32_put(chunk + 4, (uint32_t)stored);
    le32_put(chunk + 8, sf_chunk_crc(chunk, chunk + SF_CHUNK_HDR, stored));
    w->raw_len = SF_CHUNK_HDR;
    return sf_out(w, chunk, SF_CHUNK_HDR + stored);
}

static int
sf_chunk_maybe_flush(sf_writer_t *w)
{
    if (w->raw_len - SF_CHUNK_HDR >= SF_CHUNK_TARGET)
        return sf_chunk_flush(w);
    return w->rc;
}

static void
sf_raw_bytes(sf_writer_t *w, const void *p, uint32_t len)
{
    uint8_t *d = sf_raw(w, 4 + (size_t)len);
    le32_put(d, len);
    if (len > 0)
        memcpy(d + 4, p, len);
}

/* The offsets of key groups [cur_kg + 1, upto] start at pos. */
static void
sf_kg_fill(sf_writer_t *w, int upto)
{
    sf_wstate_t *s = &w->states[w->nstates - 1];

    for (int k = w->cur_kg + 1; k <= upto; k++)
        s->off[k - w->kg_start] = w->pos;
    w->cur_kg = upto;
}

static int
sf_state_end(sf_writer_t *w)
{
    if (w->nstates == 0)
        return w->rc;
    if (sf_chunk_flush(w) != 0)
        return w->rc;
    sf_kg_fill(w, w->kg_end);
    w->states[w->nstates - 1].off[w->nkg] = w->pos;
    return 0;
}

static int
sf_w_state(void *ud, const char *name, cf_state_kind_t kind, int64_t ttl_ms)
{
    sf_writer_t *w = ud;
    sf_wstate_t *s;

    if (sf_state_end(w) != 0)
        return w->rc;
    if (strlen(name) > UINT16_MAX)
        return sf_werr(w, CF_EINVAL, "a state name is too long");
    CF_GROW(&w->states, &w->states_cap, w->nstates + 1);
    s = &w->states[w->nstates++];
    s->name = cf_strdup(name);
    s->kind = kind;
    s->ttl_ms = ttl_ms;
    s->off = cf_calloc((size_t)w->nkg + 1, sizeof(uint64_t));
    w->cur_kg = w->kg_start - 1;
    return 0;
}

static int
sf_w_entry(void *ud, const cf_kstate_entry_view_t *ev)
{
    sf_writer_t *w = ud;
    sf_wstate_t *s;
    int kg = ev->key_group;

    if (w->rc != 0)
        return w->rc;
    if (w->nstates == 0 || kg < w->kg_start || kg > w->kg_end ||
        kg < w->cur_kg) {
        cf_log_error("state file %s: snapshot entry of key group %d out of "
                     "order or outside [%d, %d]",
                     w->path, kg, w->kg_start, w->kg_end);
        return sf_werr(w, CF_ESTATE,
                       "the snapshot walk is not in key group "
                       "order");
    }
    s = &w->states[w->nstates - 1];
    if (kg != w->cur_kg) {
        if (sf_chunk_flush(w) != 0)
            return w->rc;
        sf_kg_fill(w, kg);
    }
    sf_raw_bytes(w, ev->key.data, ev->key.len);
    if (s->ttl_ms > 0)
        le64_put(sf_raw(w, 8), (uint64_t)cf_kstate_view_expires(ev));
    if (s->kind == CF_STATE_MAP) {
        cf_map_iter_t it;
        cf_slice_t k, v;
        size_t at = w->raw_len;
        uint32_t n = 0;
        sf_raw(w, 4);
        if (cf_kstate_view_map_iter(ev, &it) == 0) {
            while (cf_kstate_map_next(&it, &k, &v) == 1) {
                sf_raw_bytes(w, k.data, k.len);
                sf_raw_bytes(w, v.data, v.len);
                n++;
            }
        }
        le32_put(w->raw + at, n);
    } else {
        sf_raw_bytes(w, ev->value.data, ev->value.len);
    }
    return sf_chunk_maybe_flush(w);
}

static int
sf_w_op_state(void *ud, const char *name, cf_opstate_mode_t mode, uint64_t n)
{
    sf_writer_t *w = ud;
    size_t len = strlen(name);
    uint8_t *p;

    if (w->rc != 0)
        return w->rc;
    if (len > UINT16_MAX)
        return sf_werr(w, CF_EINVAL, "an operator state name is too long");
    p = sf_raw(w, 1 + 2 + len + 1 + 8);
    p[0] = SF_OP_STATE;
    p[1] = (uint8_t)len;
    p[2] = (uint8_t)(len >> 8);
    memcpy(p + 3, name, len);
    p[3 + len] = (uint8_t)mode;
    le64_put(p + 4 + len, n);
    return sf_chunk_maybe_flush(w);
}

static int
sf_w_op_item(void *ud, const void *data, uint32_t len)
{
    sf_writer_t *w = ud;

    if (w->rc != 0)
        return w->rc;
    *sf_raw(w, 1) = SF_OP_ITEM;
    sf_raw_bytes(w, data, len);
    return sf_chunk_maybe_flush(w);
}

static int
sf_w_op_entry(void *ud, const void *k, uint32_t klen, const void *v,
              uint32_t vlen)
{
    sf_writer_t *w = ud;

    if (w->rc != 0)
        return w->rc;
    *sf_raw(w, 1) = SF_OP_ENTRY;
    sf_raw_bytes(w, k, klen);
    sf_raw_bytes(w, v, vlen);
    return sf_chunk_maybe_flush(w);
}

/* The index chunk: the state directory and the operator extent. */
static int
sf_w_index(sf_writer_t *w, uint64_t op_off, uint64_t op_end)
{
    le32_put(sf_raw(w, 4), (uint32_t)w->nstates);
    for (size_t i = 0; i < w->nstates; i++) {
        sf_wstate_t *s = &w->states[i];
        size_t len = strlen(s->name);
        uint8_t *p = sf_raw(w, 2 + len + 1 + 8);
        p[0] = (uint8_t)len;
        p[1] = (uint8_t)(len >> 8);
        memcpy(p + 2, s->name, len);
        p[2 + len] = (uint8_t)s->kind;
        le64_put(p + 3 + len, (uint64_t)s->ttl_ms);
        p = sf_raw(w, 8 * ((size_t)w->nkg + 1));
        for (int k = 0; k <= w->nkg; k++)
            le64_put(p + 8 * k, s->off[k]);
    }
    le64_put(sf_raw(w, 8), op_off);
    le64_put(sf_raw(w, 8), op_end);
    return sf_chunk_flush(w);
}

static void
sf_writer_free(sf_writer_t *w)
{
    for (size_t i = 0; i < w->nstates; i++) {
        cf_free(w->states[i].name);
        cf_free(w->states[i].off);
    }
    cf_free(w->states);
    cf_free(w->out);
    cf_free(w->raw);
    cf_free(w->z);
    if (w->zs_ok)
        deflateEnd(&w->zs);
}

static char *
sf_parent(const char *path)
{
    const char *slash = strrchr(path, '/');

    if (slash == NULL)
        return cf_strdup(".");
    if (slash == path)
        return cf_strdup("/");
    return cf_strndup(path, (size_t)(slash - path));
}

int
cf_state_file_write(const char *path, cf_kstate_snapshot_t *keyed,
                    cf_opstate_snapshot_t *ops, int compress, uint64_t *size,
                    cf_error_t **errp)
{
    sf_writer_t w;
    uint8_t hdr[SF_HDR_LEN], foot[SF_FOOTER_LEN];
    uint64_t op_off = 0, op_end = 0, idx_off;
    uint32_t flags = 0;
    char *tmp = cf_asprintf("%s.inprogress", path);
    int rc;

    memset(&w, 0, sizeof w);
    w.path = path;
    w.errp = errp;
    w.compress = compress != 0;
    if (size != NULL)
        *size = 0;
    w.fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (w.fd < 0) {
        char *dir = sf_parent(path);
        struct stat st;
        rc = -errno;
        if (rc == -ENOENT && stat(dir, &st) != 0)
            cf_error_set(errp, rc,
                         "cannot write %s: directory %s does not "
                         "exist",
                         path, dir);
        else if (rc == -EACCES)
            cf_error_set(errp, rc,
                         "cannot write %s: permission denied (%s "
                         "is not writable)",
                         path, dir);
        else if (rc == -ENOSPC)
            cf_error_set(errp, rc,
                         "cannot write %s: no space left on "
                         "device",
                         path);
        else
            cf_error_set(errp, rc, "cannot write %s: %s", path, strerror(-rc));
        cf_free(dir);
        cf_free(tmp);
        return rc;
    }
    w.out = cf_malloc(SF_OUT_BUF);
    w.raw_cap = SF_CHUNK_TARGET + (64u << 10);
    w.raw = cf_malloc(w.raw_cap);
    w.raw_len = SF_CHUNK_HDR;
    if (w.compress) {
        if (deflateInit(&w.zs, 1) != Z_OK) {
            sf_werr(&w, CF_EIO, "zlib initialisation failed");
            goto fail;
        }
        w.zs_ok = 1;
    }

    /* Header. */
    if (w.compress)
        flags |= SF_F_COMPRESSED;
    if (keyed != NULL) {
        flags |= SF_F_KEYED;
        w.kg_start = cf_kstate_snapshot_kg_start(keyed);
        w.kg_end = cf_kstate_snapshot_kg_end(keyed);
        w.nkg = w.kg_end - w.kg_start + 1;
        if (w.nkg <= 0) {
            sf_werr(&w, CF_EINVAL, "the snapshot has no key groups");
            goto fail;
        }
    }
    if (ops != NULL && cf_opstate_snapshot_count(ops) > 0)
        flags |= SF_F_OPERATOR;
    memset(hdr, 0, sizeof hdr);
    memcpy(hdr, SF_MAGIC, 8);
    le32_put(hdr + 8, SF_VERSION);
    le32_put(hdr + 12, flags);
    le32_put(hdr + 16, keyed != NULL
                           ? (uint32_t)cf_kstate_snapshot_max_parallelism(keyed)
                           : 0);
    le32_put(hdr + 20, (uint32_t)w.kg_start);
    le32_put(hdr + 24, (uint32_t)w.kg_end);
    le32_put(hdr + 28, sf_crc((uint32_t)crc32(0L, Z_NULL, 0), hdr, 28));
    sf_out(&w, hdr, sizeof hdr);

    /* Operator section. */
    if (flags & SF_F_OPERATOR) {
        op_off = w.pos;
        rc = cf_opstate_snapshot_walk(ops, sf_w_op_state, sf_w_op_item,
                                      sf_w_op_entry, &w);
        if (rc != 0 && w.rc == 0)
            sf_werr(&w, rc, "walking the operator state failed");
        sf_chunk_flush(&w);
        op_end = w.pos;
    }

    /* Keyed section. */
    if (keyed != NULL && w.rc == 0) {
        rc = cf_kstate_snapshot_walk(keyed, sf_w_state, sf_w_entry, &w);
        if (rc != 0 && w.rc == 0)
            sf_werr(&w, rc, "walking the keyed state snapshot failed");
        sf_state_end(&w);
    }

    /* Index and footer. */
    idx_off = w.pos;
    sf_w_index(&w, op_off, op_end);
    memset(foot, 0, sizeof foot);
    le64_put(foot, idx_off);
    le64_put(foot + 8, w.pos - idx_off);
    le32_put(foot + 20, sf_crc((uint32_t)crc32(0L, Z_NULL, 0), foot, 20));
    memcpy(foot + 24, SF_END_MAGIC, 8);
    sf_out(&w, foot, sizeof foot);
    sf_out_flush(&w);
    if (w.rc != 0)
        goto fail;
    if (fsync(w.fd) != 0) {
        sf_werr(&w, -errno, NULL);
        goto fail;
    }
    rc = close(w.fd);
    w.fd = -1;
    if (rc != 0) {
        sf_werr(&w, -errno, NULL);
        goto fail;
    }
    if (rename(tmp, path) != 0) {
        sf_werr(&w, -errno, NULL);
        goto fail;
    }
    {
        char *dir = sf_parent(path);
        int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd >= 0) {
            (void)fsync(dfd);
            close(dfd);
        }
        cf_free(dir);
    }
    if (size != NULL)
        *size = w.pos;
    sf_writer_free(&w);
    cf_free(tmp);
    return 0;
fail:
    if (w.fd >= 0)
        close(w.fd);
    unlink(tmp);
    cf_free(tmp);
    rc = w.rc;
    sf_writer_free(&w);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Reading                                                             */
/* ------------------------------------------------------------------ */

typedef struct sf_rstate_s {
    const uint8_t *name; /* in the index buffer */
    uint16_t name_len;
    cf_state_kind_t kind;
    int64_t ttl_ms;
    const uint8_t *off; /* nkg + 1 u64 in the index buffer */
} sf_rstate_t;

typedef struct sf_reader_s {
    const char *path;
    cf_error_t **errp;
    int fd;
    uint64_t size;
    /* A window of the file. */
    uint8_t *buf;
    size_t buf_cap;
    uint64_t buf_off;
    size_t buf_len;
    /* The inflated chunk. */
    uint8_t *raw;
    size_t raw_cap;
    /* Header. */
    uint32_t flags;
    int maxp;
    int kg_start;
    int kg_end;
    int nkg;
    /* Index (owned copy). */
    uint8_t *idx;
    size_t idx_len;
    sf_rstate_t *states;
    uint32_t nstates;
    uint64_t op_off;
    uint64_t op_end;
} sf_reader_t;

static int sf_rerr(sf_reader_t *r, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
sf_rerr(sf_reader_t *r, int code, const char *fmt, ...)
{
    va_list ap;
    char *msg;

    va_start(ap, fmt);
    msg = cf_vasprintf(fmt, ap);
    va_end(ap);
    cf_error_set(r->errp, code, "%s: %s", r->path, msg);
    cf_free(msg);
    return code;
}

static int
sf_truncated(sf_reader_t *r)
{
    return sf_rerr(r, CF_EIO, "truncated");
}

/* Bytes [off, off + len) of the file, inside the file. *p is valid until
 * the next call. */
static int
sf_read_at(sf_reader_t *r, uint64_t off, size_t len, const uint8_t **p)
{
    size_t want, got = 0;

    if (off > r->size || len > r->size - off)
        return sf_truncated(r);
    if (off >= r->buf_off && off + len <= r->buf_off + r->buf_len) {
        *p = r->buf + (off - r->buf_off);
        return 0;
    }
    want = len > SF_IN_BUF ? len : SF_IN_BUF;
    if (want > r->size - off)
        want = (size_t)(r->size - off);
    if (want > r->buf_cap) {
        cf_free(r->buf);
        r->buf = cf_malloc(want);
        r->buf_cap = want;
    }
    r->buf_len = 0;
    while (got < want) {
        ssize_t n = pread(r->fd, r->buf + got, want - got, (off_t)(off + got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return sf_rerr(r, -errno, "read failed: %s", strerror(errno));
        if (n == 0)
            break;
        got += (size_t)n;
    }
    if (got < len)
        return sf_truncated(r);
    r->buf_off = off;
    r->buf_len = got;
    *p = r->buf;
    return 0;
}

/* Read the chunk at *off, which must end by end; *off moves past it.
 * data and len get its raw bytes (valid until the next read). where
 * names the block for errors. */
static int
sf_read_chunk(sf_reader_t *r, uint64_t *off, uint64_t end, const uint8_t **data,
              size_t *len, const char *where)
{
    const uint8_t *h, *s;
    uint32_t raw_len, stored_len, crc;
    uLongf dlen;
    int rc;

    if (end - *off < SF_CHUNK_HDR)
        return sf_rerr(r, CF_EIO,
                       "corrupt %s (a chunk header crosses its "
                       "end)",
                       where);
    if ((rc = sf_read_at(r, *off, SF_CHUNK_HDR, &h)) != 0)
        return rc;
    raw_len = le32_get(h);
    stored_len = le32_get(h + 4);
    crc = le32_get(h + 8);
    if (stored_len > end - *off - SF_CHUNK_HDR)
        return sf_rerr(r, CF_EIO,
                       "corrupt %s (a chunk of %u bytes crosses "
                       "its end)",
                       where, stored_len);
    if ((rc = sf_read_at(r, *off, SF_CHUNK_HDR + (size_t)stored_len, &h)) != 0)
        return rc;
    s = h + SF_CHUNK_HDR;
    if (sf_chunk_crc(h, s, stored_len) != crc)
        return sf_rerr(r, CF_EIO, "checksum mismatch in %s", where);
    *off += SF_CHUNK_HDR + (uint64_t)stored_len;
    if (stored_len == raw_len) {
        *data = s;
        *len = raw_len;
        return 0;
    }
    if (!(r->flags & SF_F_COMPRESSED) || stored_len > raw_len ||
        (uint64_t)raw_len > (uint64_t)stored_len * SF_MAX_RATIO + 64)
        return sf_rerr(r, CF_EIO, "corrupt %s (chunk lengths %u/%u)", where,
                       raw_len, stored_len);
    if (raw_len > r->raw_cap) {
        cf_free(r->raw);
        r->raw = cf_malloc(raw_len);
        r->raw_cap = raw_len;
    }
    dlen = raw_len;
    if (uncompress(r->raw, &dlen, s, stored_len) != Z_OK || dlen != raw_len)
        return sf_rerr(r, CF_EIO, "corrupt %s (cannot decompress)", where);
    *data = r->raw;
    *len = raw_len;
    return 0;
}

static void
sf_reader_close(sf_reader_t *r)
{
    if (r->fd >= 0)
        close(r->fd);
    r->fd = -1;
    cf_free(r->buf);
    cf_free(r->raw);
    cf_free(r->idx);
    cf_free(r->states);
    memset(r, 0, sizeof *r);
    r->fd = -1;
}

/* Parse the index chunk (already CRC-checked). */
static int
sf_parse_index(sf_reader_t *r, const uint8_t *p, size_t len)
{
    size_t at = 0;
    uint32_t n;

    r->idx = cf_malloc(len ? len : 1);
    memcpy(r->idx, p, len);
    r->idx_len = len;
    p = r->idx;
    if (len < 4)
        return sf_rerr(r, CF_EIO, "corrupt index");
    n = le32_get(p);
    at = 4;
    /* Every state takes at least 11 + 8 (nkg + 1) bytes: bounds n. */
    if (n > (len - 4) / (11 + 8 * ((size_t)r->nkg + 1)))
        return sf_rerr(r, CF_EIO, "corrupt index (%u states)", n);
    if (n > 0 && !(r->flags & SF_F_KEYED))
        return sf_rerr(r, CF_EIO,
                       "corrupt index (states without a keyed "
                       "section)");
    r->states = cf_calloc(n ? n : 1, sizeof(sf_rstate_t));
    r->nstates = n;
    for (uint32_t i = 0; i < n; i++) {
        sf_rstate_t *s = &r->states[i];
        size_t need;
        if (len - at < 2)
            return sf_rerr(r, CF_EIO, "corrupt index");
        s->name_len = (uint16_t)(p[at] | p[at + 1] << 8);
        at += 2;
        need = (size_t)s->name_len + 1 + 8 + 8 * ((size_t)r->nkg + 1);
        if (len - at < need)
            return sf_rerr(r, CF_EIO, "corrupt index");
        s->name = p + at;
        at += s->name_len;
        s->kind = (cf_state_kind_t)p[at++];
        if (s->kind < CF_STATE_VALUE || s->kind > CF_STATE_AGGREGATING)
            return sf_rerr(r, CF_EIO, "corrupt index (state kind %d)",
                           (int)s->kind);
        s->ttl_ms = (int64_t)le64_get(p + at);
        at += 8;
        s->off = p + at;
        at += 8 * ((size_t)r->nkg + 1);
    }
    if (len - at != 16)
        return sf_rerr(r, CF_EIO, "corrupt index");
    r->op_off = le64_get(p + at);
    r->op_end = le64_get(p + at + 8);
    return 0;
}

/* Open path and check its header, footer and index. */
static int
sf_open(sf_reader_t *r, const char *path, cf_error_t **errp)
{
    struct stat st;
    const uint8_t *h, *data;
    uint8_t hdr[SF_HDR_LEN];
    uint64_t idx_off, idx_len, off;
    size_t len;
    int rc;

    memset(r, 0, sizeof *r);
    r->path = path;
    r->errp = errp;
    r->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (r->fd < 0) {
        if (errno == ENOENT)
            return sf_rerr(r, CF_ENOTFOUND, "does not exist");
        return sf_rerr(r, -errno, "cannot open: %s", strerror(errno));
    }
    if (fstat(r->fd, &st) != 0 || !S_ISREG(st.st_mode))
        return sf_rerr(r, CF_EIO, "not a regular file");
    r->size = (uint64_t)st.st_size;
    if (r->size > 0) {
        size_t m = r->size < 8 ? (size_t)r->size : 8;
        if ((rc = sf_read_at(r, 0, m, &h)) != 0)
            return rc;
        if (memcmp(h, SF_MAGIC, m) != 0)
            return sf_rerr(r, CF_EIO, "not a cflink state file");
    }
    if (r->size < SF_HDR_LEN + SF_FOOTER_LEN)
        return sf_truncated(r);
    if ((rc = sf_read_at(r, 0, SF_HDR_LEN, &h)) != 0)
        return rc;
    memcpy(hdr, h, SF_HDR_LEN);
    if (sf_crc((uint32_t)crc32(0L, Z_NULL, 0), hdr, 28) != le32_get(hdr + 28))
        return sf_rerr(r, CF_EIO, "checksum mismatch in the header");
    if (le32_get(hdr + 8) != SF_VERSION)
        return sf_rerr(r, CF_EIO,
                       "unsupported state file version %u (this "
                       "cflink reads %u)",
                       le32_get(hdr + 8), SF_VERSION);
    r->flags = le32_get(hdr + 12);
    r->maxp = (int)le32_get(hdr + 16);
    r->kg_start = (int)le32_get(hdr + 20);
    r->kg_end = (int)le32_get(hdr + 24);
    if (r->flags & ~(SF_F_COMPRESSED | SF_F_KEYED | SF_F_OPERATOR))
        return sf_rerr(r, CF_EIO, "unknown flags 0x%x", r->flags);
    if (r->flags & SF_F_KEYED) {
        if (r->maxp <= 0 || r->maxp > CF_MAX_PARALLELISM_UPPER ||
            r->kg_start < 0 || r->kg_end < r->kg_start || r->kg_end >= r->maxp)
            return sf_rerr(r, CF_EIO,
                           "corrupt header (key groups %d-%d of "
                           "%d)",
                           r->kg_start, r->kg_end, r->maxp);
        r->nkg = r->kg_end - r->kg_start + 1;
    }

    if ((rc = sf_read_at(r, r->size - SF_FOOTER_LEN, SF_FOOTER_LEN, &h)) != 0)
        return rc;
    if (memcmp(h + 24, SF_END_MAGIC, 8) != 0)
        return sf_rerr(r, CF_EIO,
                       "truncated (the footer is missing or "
                       "damaged)");
    if (sf_crc((uint32_t)crc32(0L, Z_NULL, 0), h, 20) != le32_get(h + 20))
        return sf_rerr(r, CF_EIO, "checksum mismatch in the footer");
    idx_off = le64_get(h);
    idx_len = le64_get(h + 8);
    if (idx_off < SF_HDR_LEN || idx_off > r->size - SF_FOOTER_LEN ||
        idx_len != r->size - SF_FOOTER_LEN - idx_off)
        return sf_rerr(r, CF_EIO,
                       "corrupt footer (index at %llu, %llu "
                       "bytes, file of %llu bytes)",
                       (unsigned long long)idx_off, (unsigned long long)idx_len,
                       (unsigned long long)r->size);
    off = idx_off;
    rc = sf_read_chunk(r, &off, idx_off + idx_len, &data, &len, "the index");
    if (rc != 0)
        return rc;
    if (off != idx_off + idx_len)
        return sf_rerr(r, CF_EIO, "corrupt index (trailing bytes)");
    if ((rc = sf_parse_index(r, data, len)) != 0)
        return rc;
    /* Extents: inside [header, index], ascending. */
    if (r->op_off > r->op_end || r->op_end > idx_off ||
        (r->op_end > r->op_off && r->op_off < SF_HDR_LEN) ||
        (r->op_end > r->op_off && !(r->flags & SF_F_OPERATOR)))
        return sf_rerr(r, CF_EIO, "corrupt index (operator section)");
    for (uint32_t i = 0; i < r->nstates; i++) {
        uint64_t prev = SF_HDR_LEN;
        for (int k = 0; k <= r->nkg; k++) {
            uint64_t o = le64_get(r->states[i].off + 8 * (size_t)k);
            if (o < prev || o > idx_off)
                return sf_rerr(r, CF_EIO,
                               "corrupt index (offset of key "
                               "group %d)",
                               r->kg_start + k);
            prev = o;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Keyed restore                                                       */
/* ------------------------------------------------------------------ */

typedef struct sf_cur_s {
    const uint8_t *p;
    size_t len;
    size_t at;
} sf_cur_t;

static int
sf_cur_bytes(sf_cur_t *c, const uint8_t **p, uint32_t *len)
{
    uint32_t n;

    if (c->len - c->at < 4)
        return -1;
    n = le32_get(c->p + c->at);
    c->at += 4;
    if (n > c->len - c->at)
        return -1;
    *p = c->p + c->at;
    *len = n;
    c->at += n;
    return 0;
}

static int
sf_cur_u64(sf_cur_t *c, uint64_t *v)
{
    if (c->len - c->at < 8)
        return -1;
    *v = le64_get(c->p + c->at);
    c->at += 8;
    return 0;
}

static int
sf_cur_u32(sf_cur_t *c, uint32_t *v)
{
    if (c->len - c->at < 4)
        return -1;
    *v = le32_get(c->p + c->at);
    c->at += 4;
    return 0;
}

/* Whether p is a well-formed list block. */
static int
sf_list_ok(const uint8_t *p, uint32_t n)
{
    uint32_t at = 0;

    while (at < n) {
        uint32_t len;
        if (n - at < 4)
            return 0;
        len = le32_get(p + at);
        at += 4;
        if (len > n - at)
            return 0;
        at += len;
    }
    return 1;
}

/* Restore the records of one chunk of state s, key group kg. */
static int
sf_restore_records(sf_reader_t *r, const sf_rstate_t *s, cf_state_t *st, int kg,
                   const uint8_t *data, size_t len)
{
    sf_cur_t c = {data, len, 0};

    while (c.at < c.len) {
        const uint8_t *key, *v, *uk;
        uint32_t klen, vlen, uklen, hash, n;
        uint64_t exp = 0;
        int rc;

        if (sf_cur_bytes(&c, &key, &klen) != 0 ||
            (s->ttl_ms > 0 && sf_cur_u64(&c, &exp) != 0))
            goto corrupt;
        hash = cf_murmur3_32_key(key, klen);
        if (cf_keygroup_of_hash(hash, r->maxp) != kg)
            return sf_rerr(r, CF_EIO,
                           "corrupt key group %d of state '%.*s' "
                           "(it holds a key of key group %d)",
                           kg, (int)s->name_len, (const char *)s->name,
                           cf_keygroup_of_hash(hash, r->maxp));
        if (s->kind == CF_STATE_MAP) {
            if (sf_cur_u32(&c, &n) != 0)
                goto corrupt;
            for (uint32_t i = 0; i < n; i++) {
                if (sf_cur_bytes(&c, &uk, &uklen) != 0 ||
                    sf_cur_bytes(&c, &v, &vlen) != 0)
                    goto corrupt;
                rc = cf_kstate_restore_map_put(st, key, klen, hash, uk, uklen,
                                               v, vlen, (int64_t)exp);
                if (rc != 0)
                    return sf_rerr(r, rc, "cannot restore state '%.*s' (%s)",
                                   (int)s->name_len, (const char *)s->name,
                                   cf_strerror(rc));
            }
            continue;
        }
        if (sf_cur_bytes(&c, &v, &vlen) != 0)
            goto corrupt;
        if (s->kind == CF_STATE_LIST && !sf_list_ok(v, vlen))
            goto corrupt;
        rc = cf_kstate_restore_put(st, key, klen, hash, v, vlen, (int64_t)exp);
        if (rc != 0)
            return sf_rerr(r, rc, "cannot restore state '%.*s' (%s)",
                           (int)s->name_len, (const char *)s->name,
                           cf_strerror(rc));
    }
    return 0;
corrupt:
    return sf_rerr(r, CF_EIO,
                   "corrupt record in key group %d of state "
                   "'%.*s'",
                   kg, (int)s->name_len, (const char *)s->name);
}

int
cf_state_file_restore_keyed(const char *path, cf_kstate_backend_t *b,
                            cf_error_t **errp)
{
    sf_reader_t r;
    int rc, lo, hi, bmaxp = cf_kstate_backend_max_parallelism(b);
    char where[96];

    rc = sf_open(&r, path, errp);
    if (rc != 0)
        goto out;
    if (!(r.flags & SF_F_KEYED))
        goto out;
    if (r.maxp != bmaxp) {
        rc = sf_rerr(&r, CF_ESTATE,
                     "the state was written with max "
                     "parallelism %d, the job now has %d (changing the max "
                     "parallelism of an operator with keyed state is not "
                     "supported)",
                     r.maxp, bmaxp);
        goto out;
    }
    lo = r.kg_start > b->kg_start ? r.kg_start : b->kg_start;
    hi = r.kg_end < b->kg_end ? r.kg_end : b->kg_end;
    for (uint32_t i = 0; i < r.nstates && rc == 0; i++) {
        const sf_rstate_t *s = &r.states[i];
        char *name = cf_strndup((const char *)s->name, s->name_len);
        cf_error_t *err = NULL;
        cf_state_t *st = cf_kstate_restore_state(b, name, s->kind, &err);
        cf_free(name);
        if (st == NULL) {
            rc = sf_rerr(&r, err != NULL ? err->code : CF_ESTATE, "%s",
                         err != NULL ? cf_error_msg(err)
                                     : "cannot create a state");
            cf_error_free(err);
            break;
        }
        for (int kg = lo; kg <= hi && rc == 0; kg++) {
            uint64_t off = le64_get(s->off + 8 * (size_t)(kg - r.kg_start));
            uint64_t end = le64_get(s->off + 8 * (size_t)(kg - r.kg_start + 1));
            snprintf(where, sizeof where, "key group %d", kg);
            while (off < end && rc == 0) {
                const uint8_t *data;
                size_t len;
                rc = sf_read_chunk(&r, &off, end, &data, &len, where);
                if (rc == 0)
                    rc = sf_restore_records(&r, s, st, kg, data, len);
            }
        }
    }
out:
    sf_reader_close(&r);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Operator restore                                                    */
/* ------------------------------------------------------------------ */

typedef struct sf_opitem_s {
    const uint8_t *k;
    const uint8_t *v;
    uint32_t klen;
    uint32_t vlen;
} sf_opitem_t;

typedef struct sf_opst_s {
    char *name;
    int mode;
    sf_opitem_t *items;
    size_t n;
    size_t cap;
} sf_opst_t;

typedef struct sf_opfile_s {
    sf_opst_t *states;
    size_t n;
    size_t cap;
    uint8_t **bufs; /* the chunks the items point into */
    size_t nbufs;
    size_t bufs_cap;
} sf_opfile_t;

static void
sf_opfile_free(sf_opfile_t *f)
{
    for (size_t i = 0; i < f->n; i++) {
        cf_free(f->states[i].name);
        cf_free(f->states[i].items);
    }
    for (size_t i = 0; i < f->nbufs; i++)
        cf_free(f->bufs[i]);
    cf_free(f->states);
    cf_free(f->bufs);
    memset(f, 0, sizeof *f);
}

static sf_opst_t *
sf_opfile_find(sf_opfile_t *f, const char *name)
{
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->states[i].name, name) == 0)
            return &f->states[i];
    return NULL;
}

static int
sf_op_parse(sf_reader_t *r, sf_opfile_t *f, const uint8_t *p, size_t len)
{
    sf_cur_t c = {p, len, 0};
    sf_opst_t *cur = f->n > 0 ? &f->states[f->n - 1] : NULL;

    while (c.at < c.len) {
        uint8_t tag = p[c.at++];
        sf_opitem_t it = {0};
        if (tag == SF_OP_STATE) {
            uint16_t nl;
            uint64_t n;
            char *name;
            if (c.len - c.at < 2)
                goto corrupt;
            nl = (uint16_t)(p[c.at] | p[c.at + 1] << 8);
            c.at += 2;
            if (c.len - c.at < (size_t)nl + 1)
                goto corrupt;
            name = cf_strndup((const char *)p + c.at, nl);
            c.at += nl;
            if (p[c.at] > CF_OPSTATE_MODE_BROADCAST || strlen(name) != nl ||
                sf_opfile_find(f, name) != NULL) {
                cf_free(name);
                goto corrupt;
            }
            CF_GROW(&f->states, &f->cap, f->n + 1);
            cur = &f->states[f->n++];
            memset(cur, 0, sizeof *cur);
            cur->name = name;
            cur->mode = p[c.at++];
            if (sf_cur_u64(&c, &n) != 0)
                goto corrupt;
            continue;
        }
        if (cur == NULL)
            goto corrupt;
        if (tag == SF_OP_ITEM && cur->mode != CF_OPSTATE_MODE_BROADCAST) {
            if (sf_cur_bytes(&c, &it.v, &it.vlen) != 0)
                goto corrupt;
        } else if (tag == SF_OP_ENTRY &&
                   cur->mode == CF_OPSTATE_MODE_BROADCAST) {
            if (sf_cur_bytes(&c, &it.k, &it.klen) != 0 ||
                sf_cur_bytes(&c, &it.v, &it.vlen) != 0)
                goto corrupt;
        } else {
            goto corrupt;
        }
        CF_GROW(&cur->items, &cur->cap, cur->n + 1);
        cur->items[cur->n++] = it;
    }
    return 0;
corrupt:
    return sf_rerr(r, CF_EIO, "corrupt record in the operator state");
}

/* Load the operator section of path into f. */
static int
sf_op_load(const char *path, sf_opfile_t *f, cf_error_t **errp)
{
    sf_reader_t r;
    uint64_t off;
    int rc = sf_open(&r, path, errp);

    if (rc != 0)
        goto out;
    off = r.op_off;
    while (off < r.op_end && rc == 0) {
        const uint8_t *data;
        size_t len;
        uint8_t *copy;
        rc = sf_read_chunk(&r, &off, r.op_end, &data, &len,
                           "the operator state");
        if (rc != 0)
            break;
        copy = cf_malloc(len ? len : 1);
        memcpy(copy, data, len);
        CF_GROW(&f->bufs, &f->bufs_cap, f->nbufs + 1);
        f->bufs[f->nbufs++] = copy;
        rc = sf_op_parse(&r, f, copy, len);
    }
out:
    sf_reader_close(&r);
    return rc;
}

static const char *
sf_mode_name(int mode)
{
    switch (mode) {
    case CF_OPSTATE_MODE_SPLIT: return "SPLIT_DISTRIBUTE";
    case CF_OPSTATE_MODE_UNION: return "UNION";
    default: return "BROADCAST";
    }
}

static int
sf_op_add(cf_state_t *st, int mode, const sf_opitem_t *it, const char *name,
          cf_error_t **errp)
{
    int rc = mode == CF_OPSTATE_MODE_BROADCAST
                 ? cf_opstate_restore_put(st, it->k, it->klen, it->v, it->vlen)
                 : cf_opstate_restore_add(st, it->v, it->vlen);
    if (rc != 0)
        return cf_error_set(errp, rc,
                            "cannot restore operator state '%s' "
                            "(%s)",
                            name, cf_strerror(rc));
    return 0;
}

/* Restore one state (by name) from the loaded files into o. */
static int
sf_op_restore_one(cf_opstate_backend_t *o, sf_opfile_t *files,
                  const char *const *paths, int n, const char *name, int index,
                  int parallelism, cf_error_t **errp)
{
    int mode = -1, first = -1, rc = 0;
    uint64_t total = 0;
    cf_state_t *st;

    for (int i = 0; i < n; i++) {
        sf_opst_t *s = sf_opfile_find(&files[i], name);
        if (s == NULL)
            continue;
        if (mode >= 0 && s->mode != mode)
            return cf_error_set(errp, CF_ESTATE,
                                "operator state '%s' is "
                                "%s in %s but %s in %s",
                                name, sf_mode_name(mode), paths[first],
                                sf_mode_name(s->mode), paths[i]);
        if (first < 0)
            first = i;
        mode = s->mode;
        total += s->n;
    }
    st = cf_opstate_register(o, name, (cf_opstate_mode_t)mode, errp);
    if (st == NULL)
        return CF_ESTATE;
    if (mode == CF_OPSTATE_MODE_BROADCAST) {
        sf_opst_t *s = sf_opfile_find(&files[first], name);
        for (size_t j = 0; j < s->n && rc == 0; j++)
            rc = sf_op_add(st, mode, &s->items[j], name, errp);
    } else if (mode == CF_OPSTATE_MODE_UNION) {
        for (int i = 0; i < n && rc == 0; i++) {
            sf_opst_t *s = sf_opfile_find(&files[i], name);
            for (size_t j = 0; s != NULL && j < s->n && rc == 0; j++)
                rc = sf_op_add(st, mode, &s->items[j], name, errp);
        }
    } else if (n == parallelism) {
        sf_opst_t *s = sf_opfile_find(&files[index], name);
        for (size_t j = 0; s != NULL && j < s->n && rc == 0; j++)
            rc = sf_op_add(st, mode, &s->items[j], name, errp);
    } else {
        /* Contiguous ranges over the concatenation, the first total % p
         * of them one item longer (Flink's round-robin repartitioner). */
        uint64_t base = total / (uint64_t)parallelism;
        uint64_t rem = total % (uint64_t)parallelism;
        uint64_t ix = (uint64_t)index;
        uint64_t start = ix * base + (ix < rem ? ix : rem);
        uint64_t cnt = base + (ix < rem ? 1 : 0), seen = 0;
        for (int i = 0; i < n && rc == 0 && cnt > 0; i++) {
            sf_opst_t *s = sf_opfile_find(&files[i], name);
            for (size_t j = 0; s != NULL && j < s->n && rc == 0; j++) {
                if (seen >= start && seen < start + cnt)
                    rc = sf_op_add(st, mode, &s->items[j], name, errp);
                seen++;
            }
        }
    }
    return rc;
}

int
cf_state_file_restore_operator(cf_opstate_backend_t *o,
                               const char *const *paths, int n, int index,
                               int parallelism, cf_error_t **errp)
{
    sf_opfile_t *files;
    int rc = 0;

    if (n < 0 || parallelism <= 0 || index < 0 || index >= parallelism)
        return cf_error_set(errp, CF_EINVAL,
                            "operator state restore: bad "
                            "subtask %d of %d (old parallelism %d)",
                            index, parallelism, n);
    if (n == 0)
        return 0;
    files = cf_calloc((size_t)n, sizeof *files);
    for (int i = 0; i < n && rc == 0; i++)
        if (paths[i] != NULL)
            rc = sf_op_load(paths[i], &files[i], errp);
    /* Every state in order of first appearance. */
    for (int i = 0; i < n && rc == 0; i++) {
        for (size_t j = 0; j < files[i].n && rc == 0; j++) {
            const char *name = files[i].states[j].name;
            int seen = 0;
            for (int k = 0; k < i && !seen; k++)
                seen = sf_opfile_find(&files[k], name) != NULL;
            if (!seen)
                rc = sf_op_restore_one(o, files, paths, n, name, index,
                                       parallelism, errp);
        }
    }
    for (int i = 0; i < n; i++)
        sf_opfile_free(&files[i]);
    cf_free(files);
    return rc;
}
