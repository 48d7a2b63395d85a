/*
 * ckpt_storage.c: checkpoint storage on the filesystem (ckpt.h): the
 * directory layout (<base>/<jobid>/chk-<n>, shared/, taskowned/,
 * savepoint-<6 hex>-<12 hex>), atomic file writes (temporary name, fsync,
 * rename, fsync of the directory), the framed _metadata file, discarding
 * checkpoints and disposing of savepoints.
 *
 * _metadata: [magic "CFLKMETA"][u32 BE version][u32 BE CRC-32 of the
 * body][u64 BE body length][body: cflink.CheckpointMetadata], see
 * docs/internals/checkpoint-format.md. Every error names the path at
 * fault and the reason.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <zlib.h>

#include "ckpt.h"

#define CKPT_MAGIC "CFLKMETA"
#define CKPT_HDR_LEN 24
/* A _metadata body larger than this is refused (it lists handles only). */
#define CKPT_META_MAX ((uint64_t)1 << 30)
#define CKPT_COPY_BUF (1u << 20)

/* ------------------------------------------------------------------ */
/* Paths                                                               */
/* ------------------------------------------------------------------ */

/* s without its trailing slashes (but "/" stays "/"). */
static char *
ckpt_strip(const char *s)
{
    size_t n = strlen(s);

    while (n > 1 && s[n - 1] == '/')
        n--;
    return cf_strndup(s, n);
}

static char *
ckpt_join(const char *dir, const char *name)
{
    size_t n = strlen(dir);

    while (n > 1 && dir[n - 1] == '/')
        n--;
    if (n == 1 && dir[0] == '/')
        return cf_asprintf("/%s", name);
    return cf_asprintf("%.*s/%s", (int)n, dir, name);
}

/* The directory part of path ("." when none). */
static char *
ckpt_parent(const char *path)
{
    char *p = ckpt_strip(path);
    char *slash = strrchr(p, '/');

    if (slash == NULL) {
        cf_free(p);
        return cf_strdup(".");
    }
    if (slash == p)
        slash[1] = '\0';
    else
        *slash = '\0';
    return p;
}

char *
cf_ckpt_job_dir(const char *base, const char *job_id_hex)
{
    return ckpt_join(base, job_id_hex);
}

char *
cf_ckpt_chk_dir(const char *base, const char *job_id_hex, int64_t id)
{
    char *job = cf_ckpt_job_dir(base, job_id_hex);
    char *dir = cf_asprintf("%s/chk-%lld", job, (long long)id);

    cf_free(job);
    return dir;
}

char *
cf_ckpt_savepoint_dir_new(const char *target, const char *job_id_hex)
{
    char job6[7], rnd[13], name[64];
    size_t i, jl = job_id_hex != NULL ? strlen(job_id_hex) : 0;

    /* The first 6 characters of the job id, lower case (padded with '0'
     * for a shorter id, which a valid job id never is). */
    for (i = 0; i < 6; i++) {
        char c = i < jl ? job_id_hex[i] : '0';
        job6[i] = (char)(c >= 'A' && c <= 'F' ? c - 'A' + 'a' : c);
    }
    job6[6] = '\0';
    cf_random_hex(rnd, 12);
    snprintf(name, sizeof name, "savepoint-%s-%s", job6, rnd);
    return ckpt_join(target, name);
}

/* ------------------------------------------------------------------ */
/* Directories                                                         */
/* ------------------------------------------------------------------ */

/* Explain why creating dir failed with errno err: the deepest component
 * at fault (a missing parent, a file in the way, a directory that is not
 * writable). Sets *errp and returns -err. */
static int
ckpt_mkdir_error(const char *what, const char *dir, int err, cf_error_t **errp)
{
    char *parent = ckpt_parent(dir);
    char *p = cf_strdup(dir);
    struct stat st;
    int rc = -err;

    if (err == ENOENT || err == ENOTDIR) {
        /* Find the first component that is missing or not a directory. */
        char *s = p;
        while (*s == '/')
            s++;
        for (;;) {
            char *slash = strchr(s, '/');
            if (slash != NULL)
                *slash = '\0';
            if (stat(p, &st) != 0) {
                char *pp = ckpt_parent(p);
                cf_error_set(errp, rc,
                             "cannot create %s %s: parent directory %s "
                             "does not exist",
                             what, dir, pp);
                cf_free(pp);
                goto out;
            }
            if (!S_ISDIR(st.st_mode)) {
                cf_error_set(errp, rc,
                             "cannot create %s %s: %s is in the way (it "
                             "is a file, not a directory)",
                             what, dir, p);
                goto out;
            }
            if (slash == NULL)
                break;
            *slash = '/';
            s = slash + 1;
        }
    }
    switch (err) {
    case EACCES:
    case EPERM:
        cf_error_set(errp, rc,
                     "cannot create %s %s: permission denied (%s is not "
                     "writable)",
                     what, dir, parent);
        break;
    case EEXIST:
        cf_error_set(errp, rc,
                     "cannot create %s %s: a file is in the way (it "
                     "exists and is not a directory)",
                     what, dir);
        break;
    case ENOSPC:
    case EDQUOT:
        cf_error_set(errp, rc, "cannot create %s %s: no space left on device",
                     what, dir);
        break;
    case EROFS:
        cf_error_set(errp, rc, "cannot create %s %s: read-only file system",
                     what, dir);
        break;
    default:
        cf_error_set(errp, rc, "cannot create %s %s: %s", what, dir,
                     strerror(err));
        break;
    }
out:
    cf_free(p);
    cf_free(parent);
    return rc;
}

/* mkdir dir (one level); an existing, writable directory is fine. */
static int
ckpt_mkdir_one(const char *what, const char *dir, cf_error_t **errp)
{
    struct stat st;

    if (mkdir(dir, 0755) == 0)
        return 0;
    if (errno == EEXIST) {
        if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode)) {
            if (access(dir, W_OK | X_OK) != 0)
                return cf_error_set(errp, -EACCES, "%s %s is not writable",
                                    what, dir);
            return 0;
        }
        return ckpt_mkdir_error(what, dir, EEXIST, errp);
    }
    return ckpt_mkdir_error(what, dir, errno, errp);
}

/* mkdir -p dir, explaining a failure. */
static int
ckpt_mkdirs(const char *what, const char *dir, cf_error_t **errp)
{
    struct stat st;
    int rc = cf_mkdirs(dir, 0755);

    if (rc == 0) {
        if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode))
            return 0;
        return ckpt_mkdir_error(what, dir, EEXIST, errp);
    }
    return ckpt_mkdir_error(what, dir, -rc, errp);
}

int
cf_ckpt_job_dirs_create(const char *base, const char *job_id_hex,
                        cf_error_t **errp)
{
    char *job = cf_ckpt_job_dir(base, job_id_hex);
    char *shared = ckpt_join(job, "shared");
    char *owned = ckpt_join(job, "taskowned");
    int rc;

    rc = ckpt_mkdirs("checkpoint directory", job, errp);
    if (rc == 0)
        rc = ckpt_mkdir_one("checkpoint directory", shared, errp);
    if (rc == 0)
        rc = ckpt_mkdir_one("checkpoint directory", owned, errp);
    cf_free(job);
    cf_free(shared);
    cf_free(owned);
    return rc;
}

int
cf_ckpt_dir_create(const char *dir, cf_error_t **errp)
{
    return ckpt_mkdir_one("checkpoint directory", dir, errp);
}

/* ------------------------------------------------------------------ */
/* Atomic files                                                        */
/* ------------------------------------------------------------------ */

static int
ckpt_write_all(int fd, const void *data, size_t len)
{
    const uint8_t *p = data;

    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (n == 0)
            return -EIO;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static const char *
ckpt_reason(int rc)
{
    if (rc == -ENOSPC || rc == -EDQUOT)
        return "no space left on device";
    if (rc == -EACCES || rc == -EPERM)
        return "permission denied";
    if (rc < 0 && rc > -4096)
        return strerror(-rc);
    return cf_strerror(rc);
}

/* fsync the directory that holds path (filesystems that refuse it are
 * fine). */
static int
ckpt_fsync_parent(const char *path)
{
    char *dir = ckpt_parent(path);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = 0;

    cf_free(dir);
    if (fd < 0)
        return 0;
    if (fsync(fd) != 0 && errno != EINVAL && errno != EROFS)
        rc = -errno;
    close(fd);
    return rc;
}

/* Open "<path>.inprogress" for writing. */
static int
ckpt_tmp_open(const char *path, char **tmp_out, cf_error_t **errp)
{
    char *tmp = cf_asprintf("%s.inprogress", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

    if (fd < 0) {
        int rc = -errno;
        char *dir = ckpt_parent(path);
        struct stat st;
        if (rc == -ENOENT && stat(dir, &st) != 0)
            cf_error_set(errp, rc,
                         "cannot write %s: directory %s does not exist", path,
                         dir);
        else if (rc == -EACCES)
            cf_error_set(errp, rc,
                         "cannot write %s: permission denied (%s is not "
                         "writable)",
                         path, dir);
        else
            cf_error_set(errp, rc, "cannot write %s: %s", path,
                         ckpt_reason(rc));
        cf_free(dir);
        cf_free(tmp);
        return rc;
    }
    *tmp_out = tmp;
    return fd;
}

/* fsync and close fd, rename tmp to path, fsync the directory. On
 * failure tmp is removed. Frees tmp. */
static int
ckpt_tmp_commit(int fd, char *tmp, const char *path, cf_error_t **errp)
{
    int rc = 0;

    if (fsync(fd) != 0)
        rc = -errno;
    if (close(fd) != 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -errno;
    if (rc == 0)
        rc = ckpt_fsync_parent(path);
    if (rc != 0) {
        unlink(tmp);
        cf_error_set(errp, rc, "cannot write %s: %s", path, ckpt_reason(rc));
    }
    cf_free(tmp);
    return rc;
}

int
cf_ckpt_write_file(const char *path, const void *data, size_t len,
                   cf_error_t **errp)
{
    char *tmp = NULL;
    int fd = ckpt_tmp_open(path, &tmp, errp);
    int rc;

    if (fd < 0)
        return fd;
    rc = ckpt_write_all(fd, data, len);
    if (rc != 0) {
        close(fd);
        unlink(tmp);
        cf_free(tmp);
        return cf_error_set(errp, rc, "cannot write %s: %s", path,
                            ckpt_reason(rc));
    }
    return ckpt_tmp_commit(fd, tmp, path, errp);
}

int
cf_ckpt_copy_file(const char *from, const char *to, cf_error_t **errp)
{
    char *tmp = NULL, *buf;
    int in, out, rc = 0;

    in = open(from, O_RDONLY | O_CLOEXEC);
    if (in < 0) {
        rc = -errno;
        return cf_error_set(errp, rc, "cannot copy %s to %s: %s %s", from, to,
                            from,
                            rc == -ENOENT ? "does not exist" : ckpt_reason(rc));
    }
    out = ckpt_tmp_open(to, &tmp, errp);
    if (out < 0) {
        close(in);
        return out;
    }
    buf = cf_malloc(CKPT_COPY_BUF);
    for (;;) {
        ssize_t n = read(in, buf, CKPT_COPY_BUF);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            cf_error_set(errp, rc, "cannot copy %s to %s: reading %s: %s", from,
                         to, from, ckpt_reason(rc));
            break;
        }
        if (n == 0)
            break;
        rc = ckpt_write_all(out, buf, (size_t)n);
        if (rc != 0) {
            cf_error_set(errp, rc, "cannot copy %s to %s: writing %s: %s", from,
                         to, to, ckpt_reason(rc));
            break;
        }
    }
    cf_free(buf);
    close(in);
    if (rc != 0) {
        close(out);
        unlink(tmp);
        cf_free(tmp);
        return rc;
    }
    return ckpt_tmp_commit(out, tmp, to, errp);
}

/* ------------------------------------------------------------------ */
/* _metadata                                                           */
/* ------------------------------------------------------------------ */

static void
put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t
get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           p[3];
}

static void
put_be64(uint8_t *p, uint64_t v)
{
    put_be32(p, (uint32_t)(v >> 32));
    put_be32(p + 4, (uint32_t)v);
}

static uint64_t
get_be64(const uint8_t *p)
{
    return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

static uint32_t
ckpt_crc32(const uint8_t *p, size_t len)
{
    uLong c = crc32(0L, Z_NULL, 0);

    while (len > 0) {
        uInt k = len > (1u << 30) ? (1u << 30) : (uInt)len;
        c = crc32(c, p, k);
        p += k;
        len -= k;
    }
    return (uint32_t)c;
}

int
cf_ckpt_meta_write(const char *dir, const Cflink__CheckpointMetadata *m,
                   cf_error_t **errp)
{
    size_t blen = cflink__checkpoint_metadata__get_packed_size(m);
    uint8_t *buf = cf_malloc(CKPT_HDR_LEN + blen);
    char *path = ckpt_join(dir, CF_CKPT_META_FILE);
    int rc;

    cflink__checkpoint_metadata__pack(m, buf + CKPT_HDR_LEN);
    memcpy(buf, CKPT_MAGIC, 8);
    put_be32(buf + 8, CF_CKPT_META_VERSION);
    put_be32(buf + 12, ckpt_crc32(buf + CKPT_HDR_LEN, blen));
    put_be64(buf + 16, blen);
    rc = cf_ckpt_write_file(path, buf, CKPT_HDR_LEN + blen, errp);
    cf_free(buf);
    cf_free(path);
    return rc;
}

/* Read the whole file into memory, refusing files above max bytes. */
static int
ckpt_slurp(const char *path, uint64_t max, uint8_t **out, size_t *len,
           cf_error_t **errp)
{
    struct stat st;
    uint8_t *buf;
    size_t off = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        int rc = -errno;
        if (rc == -ENOENT)
            return cf_error_set(errp, rc, "%s does not exist", path);
        return cf_error_set(errp, rc, "cannot read %s: %s", path,
                            ckpt_reason(rc));
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return cf_error_set(errp, CF_EIO, "%s is not a regular file", path);
    }
    if ((uint64_t)st.st_size > max) {
        close(fd);
        return cf_error_set(errp, CF_EIO,
                            "%s is too large (%lld bytes) for a checkpoint "
                            "metadata file",
                            path, (long long)st.st_size);
    }
    buf = cf_malloc((size_t)st.st_size + 1);
    while (off < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + off, (size_t)st.st_size - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            int rc = -errno;
            close(fd);
            cf_free(buf);
            return cf_error_set(errp, rc, "cannot read %s: %s", path,
                                ckpt_reason(rc));
        }
        if (n == 0)
            break;
        off += (size_t)n;
    }
    close(fd);
    *out = buf;
    *len = off;
    return 0;
}

/* Resolve path (a directory or its _metadata) to the metadata file and
 * its (absolute) directory. */
static int
ckpt_meta_locate(const char *path, char **file, char **dir, cf_error_t **errp)
{
    struct stat st;

    if (path == NULL || path[0] == '\0')
        return cf_error_set(errp, CF_EINVAL, "empty checkpoint path");
    if (stat(path, &st) != 0) {
        int rc = -errno;
        if (rc == -ENOENT || rc == -ENOTDIR)
            return cf_error_set(errp, CF_ENOTFOUND,
                                "checkpoint or savepoint path %s does not "
                                "exist",
                                path);
        return cf_error_set(errp, rc, "cannot access %s: %s", path,
                            ckpt_reason(rc));
    }
    if (S_ISDIR(st.st_mode)) {
        char *f = ckpt_join(path, CF_CKPT_META_FILE);
        if (stat(f, &st) != 0) {
            cf_free(f);
            return cf_error_set(errp, CF_ENOTFOUND,
                                "Cannot find meta data file '%s' in "
                                "directory '%s'. Please try to load the "
                                "checkpoint/savepoint directly from the "
                                "metadata file instead of the directory.",
                                CF_CKPT_META_FILE, path);
        }
        *file = f;
        *dir = ckpt_strip(path);
    } else {
        *file = cf_strdup(path);
        *dir = ckpt_parent(path);
    }
    /* An absolute directory, so that the handle paths made absolute
     * against it stay valid from any working directory. */
    if ((*dir)[0] != '/') {
        char *abs = realpath(*dir, NULL);
        if (abs != NULL) {
            cf_free(*dir);
            *dir = abs;
        }
    }
    return 0;
}

/* Read the metadata file and check its framing. */
static int
ckpt_meta_decode(const char *file, Cflink__CheckpointMetadata **out,
                 cf_error_t **errp)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    uint64_t blen;
    uint32_t version, crc;
    Cflink__CheckpointMetadata *m;
    int rc;

    rc = ckpt_slurp(file, CKPT_META_MAX + CKPT_HDR_LEN, &buf, &len, errp);
    if (rc != 0)
        return rc;
    if (memcmp(buf, CKPT_MAGIC, len < 8 ? len : 8) != 0) {
        rc = cf_error_set(errp, CF_EIO,
                          "%s is not a cflink checkpoint metadata file (bad "
                          "magic number)",
                          file);
        goto out;
    }
    if (len < CKPT_HDR_LEN) {
        rc = cf_error_set(errp, CF_EIO,
                          "%s is truncated (%zu bytes, the header alone has "
                          "%d)",
                          file, len, CKPT_HDR_LEN);
        goto out;
    }
    version = get_be32(buf + 8);
    crc = get_be32(buf + 12);
    blen = get_be64(buf + 16);
    if (version != CF_CKPT_META_VERSION) {
        rc = cf_error_set(errp, CF_EIO,
                          "%s: unsupported metadata version %u (this cflink "
                          "reads %d)",
                          file, version, CF_CKPT_META_VERSION);
        goto out;
    }
    if (blen > len - CKPT_HDR_LEN) {
        rc = cf_error_set(errp, CF_EIO,
                          "%s is truncated (%zu of %llu bytes of metadata)",
                          file, len - CKPT_HDR_LEN, (unsigned long long)blen);
        goto out;
    }
    if (blen < len - CKPT_HDR_LEN) {
        rc = cf_error_set(errp, CF_EIO,
                          "%s is corrupt (%zu bytes after the end of the "
                          "metadata)",
                          file, (size_t)(len - CKPT_HDR_LEN - blen));
        goto out;
    }
    if (ckpt_crc32(buf + CKPT_HDR_LEN, (size_t)blen) != crc) {
        rc = cf_error_set(errp, CF_EIO,
                          "%s: checksum mismatch (the file is corrupt)", file);
        goto out;
    }
    m = cflink__checkpoint_metadata__unpack(NULL, (size_t)blen,
                                            buf + CKPT_HDR_LEN);
    if (m == NULL) {
        rc = cf_error_set(errp, CF_EIO,
                          "%s: cannot decode the checkpoint metadata", file);
        goto out;
    }
    *out = m;
out:
    cf_free(buf);
    return rc;
}

/* Make h's path absolute against dir and check its file. */
static int
ckpt_meta_check_handle(const char *file, const char *dir,
                       const Cflink__OperatorStateMeta *op,
                       Cflink__StateHandle *h, cf_error_t **errp)
{
    struct stat st;

    if (h->path == NULL || h->path[0] == '\0')
        return cf_error_set(
            errp, CF_EIO, "%s: a state handle of operator %s has no path", file,
            op->name != NULL && op->name[0] ? op->name : "?");
    if (h->path[0] != '/') {
        char *abs = ckpt_join(dir, h->path);
        free(h->path); /* protobuf-c's default (system) allocator */
        h->path = abs;
    }
    if (stat(h->path, &st) != 0)
        return cf_error_set(errp, CF_ENOTFOUND,
                            "%s: state file %s does not exist", file, h->path);
    if ((uint64_t)st.st_size < h->size)
        return cf_error_set(errp, CF_EIO,
                            "%s: state file %s is truncated (%llu bytes, "
                            "%llu expected)",
                            file, h->path, (unsigned long long)st.st_size,
                            (unsigned long long)h->size);
    if ((uint64_t)st.st_size != h->size)
        return cf_error_set(errp, CF_EIO,
                            "%s: state file %s has %llu bytes, %llu "
                            "expected",
                            file, h->path, (unsigned long long)st.st_size,
                            (unsigned long long)h->size);
    return 0;
}

int
cf_ckpt_meta_read(const char *path, Cflink__CheckpointMetadata **out,
                  char **dir_out, cf_error_t **errp)
{
    char *file = NULL, *dir = NULL;
    Cflink__CheckpointMetadata *m = NULL;
    int rc;

    *out = NULL;
    if (dir_out != NULL)
        *dir_out = NULL;
    rc = ckpt_meta_locate(path, &file, &dir, errp);
    if (rc != 0)
        return rc;
    rc = ckpt_meta_decode(file, &m, errp);
    for (size_t i = 0; rc == 0 && i < m->n_operators; i++) {
        Cflink__OperatorStateMeta *op = m->operators[i];
        for (size_t j = 0; rc == 0 && j < op->n_handles; j++)
            rc = ckpt_meta_check_handle(file, dir, op, op->handles[j], errp);
    }
    if (rc != 0) {
        if (m != NULL)
            cflink__checkpoint_metadata__free_unpacked(m, NULL);
        cf_free(dir);
    } else {
        *out = m;
        if (dir_out != NULL)
            *dir_out = dir;
        else
            cf_free(dir);
    }
    cf_free(file);
    return rc;
}

void
cf_ckpt_relativize(Cflink__CheckpointMetadata *m, const char *dir)
{
    char *d = ckpt_strip(dir);
    size_t dlen = strlen(d);

    for (size_t i = 0; i < m->n_operators; i++) {
        Cflink__OperatorStateMeta *op = m->operators[i];
        for (size_t j = 0; j < op->n_handles; j++) {
            char *p = op->handles[j]->path;
            size_t skip;
            if (p == NULL || strncmp(p, d, dlen) != 0 || p[dlen] != '/')
                continue;
            skip = dlen;
            while (p[skip] == '/')
                skip++;
            if (p[skip] == '\0')
                continue;
            /* In place: the caller owns the string, however allocated. */
            memmove(p, p + skip, strlen(p + skip) + 1);
        }
    }
    cf_free(d);
}

/* ------------------------------------------------------------------ */
/* Discarding                                                          */
/* ------------------------------------------------------------------ */

static int
ckpt_kept(const char *path, const char *const *keep, size_t nkeep)
{
    for (size_t i = 0; i < nkeep; i++)
        if (keep[i] != NULL && strcmp(keep[i], path) == 0)
            return 1;
    return 0;
}

/* Does a kept file lie below dir? */
static int
ckpt_keeps_below(const char *dir, const char *const *keep, size_t nkeep)
{
    size_t n = strlen(dir);

    for (size_t i = 0; i < nkeep; i++)
        if (keep[i] != NULL && strncmp(keep[i], dir, n) == 0 &&
            keep[i][n] == '/')
            return 1;
    return 0;
}

static int
ckpt_discard_dir(const char *dir, const char *const *keep, size_t nkeep,
                 cf_error_t **errp)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    int rc = 0;

    if (d == NULL) {
        if (errno == ENOENT)
            return 0;
        rc = -errno;
        return cf_error_set(errp, rc, "cannot discard %s: %s", dir,
                            ckpt_reason(rc));
    }
    while ((de = readdir(d)) != NULL) {
        char *p;
        struct stat st;
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        p = ckpt_join(dir, de->d_name);
        if (lstat(p, &st) != 0) {
            cf_free(p);
            continue;
        }
        if (S_ISDIR(st.st_mode)) {
            int r;
            if (ckpt_keeps_below(p, keep, nkeep))
                r = ckpt_discard_dir(p, keep, nkeep, errp);
            else
                r = cf_rmtree(p);
            if (r != 0 && r != -ENOENT && rc == 0) {
                rc = r;
                cf_error_set(errp, r, "cannot delete %s: %s", p,
                             ckpt_reason(r));
            }
        } else if (!ckpt_kept(p, keep, nkeep)) {
            if (unlink(p) != 0 && errno != ENOENT && rc == 0) {
                rc = -errno;
                cf_error_set(errp, rc, "cannot delete %s: %s", p,
                             ckpt_reason(rc));
            }
        }
        cf_free(p);
    }
    closedir(d);
    if (rmdir(dir) != 0 && errno != ENOTEMPTY && errno != EEXIST &&
        errno != ENOENT && rc == 0) {
        rc = -errno;
        cf_error_set(errp, rc, "cannot delete %s: %s", dir, ckpt_reason(rc));
    }
    return rc;
}

int
cf_ckpt_discard(const char *dir, const char *const *keep, size_t nkeep,
                cf_error_t **errp)
{
    char *d = ckpt_strip(dir);
    int rc = ckpt_discard_dir(d, keep, nkeep, errp);

    cf_free(d);
    return rc;
}

int
cf_ckpt_dispose_savepoint(const char *path, cf_error_t **errp)
{
    char *file = NULL, *dir = NULL;
    Cflink__CheckpointMetadata *m = NULL;
    int rc;

    rc = ckpt_meta_locate(path, &file, &dir, errp);
    if (rc == 0)
        rc = ckpt_meta_decode(file, &m, errp);
    if (rc == 0) {
        cflink__checkpoint_metadata__free_unpacked(m, NULL);
        rc = cf_rmtree(dir);
        if (rc != 0)
            cf_error_set(errp, rc, "cannot dispose of savepoint %s: %s", dir,
                         ckpt_reason(rc));
    }
    cf_free(file);
    cf_free(dir);
    return rc;
}
