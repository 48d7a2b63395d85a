/*
 * blob.c: the JobManager's blob store (Flink's BlobServer, for plugin
 * files only): files kept by content under <dir>/<sha256 hex>, served to
 * TaskManagers in chunks over the RPC (BlobGet -> BlobData).
 *
 * A put moves the file into the store (rename, or copy then unlink when
 * the file is on another file system); a key already stored keeps its
 * file and the new copy is dropped (same content). Keys are the SHA-256
 * of the content (libcrypto EVP), so a TaskManager verifies what it got.
 *
 * Threads: loop (the store is touched only by the JobManager's loop).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "jobmanager_int.h"

#define CF_BLOB_CHUNK_MAX (1024 * 1024)

struct cf_blob_store_s {
    char *dir;
    char path[4096]; /* scratch for cf_blob_store_path */
};

cf_blob_store_t *
cf_blob_store_new(const char *dir, cf_error_t **errp)
{
    cf_blob_store_t *b;
    struct stat st;
    int rc;

    if ((rc = cf_mkdirs(dir, 0700)) < 0) {
        cf_error_set(errp, rc, "cannot create blob directory %s: %s", dir,
                     strerror(-rc));
        return NULL;
    }
    if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
        cf_error_set(errp, CF_EIO, "blob directory %s is not a directory",
                     dir);
        return NULL;
    }
    b = CF_NEW(cf_blob_store_t);
    b->dir = cf_strdup(dir);
    cf_log_info("Created BLOB server storage directory %s", dir);
    return b;
}

void
cf_blob_store_destroy(cf_blob_store_t *b)
{
    if (b == NULL)
        return;
    cf_free(b->dir);
    cf_free(b);
}

static int
cf_blob_key_valid(const char *key)
{
    size_t n = 0;

    for (; key[n]; n++) {
        char c = key[n];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return 0;
    }
    return n == 64;
}

int
cf_blob_sha256_file(const char *path, char key_hex[65])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    unsigned char buf[65536];
    EVP_MD_CTX *ctx;
    ssize_t n;
    int fd, rc = 0;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ctx = EVP_MD_CTX_new();
    if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        rc = CF_EIO;
        goto out;
    }
    for (;;) {
        n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = -errno;
            goto out;
        }
        if (n == 0)
            break;
        if (EVP_DigestUpdate(ctx, buf, (size_t)n) != 1) {
            rc = CF_EIO;
            goto out;
        }
    }
    if (EVP_DigestFinal_ex(ctx, md, &mdlen) != 1 || mdlen != 32) {
        rc = CF_EIO;
        goto out;
    }
    for (unsigned int i = 0; i < mdlen; i++) {
        key_hex[2 * i] = hex[md[i] >> 4];
        key_hex[2 * i + 1] = hex[md[i] & 15];
    }
    key_hex[64] = '\0';
out:
    EVP_MD_CTX_free(ctx);
    close(fd);
    return rc;
}

/* Copy src to dst (created exclusively, 0600). */
static int
cf_blob_copy(const char *src, const char *dst)
{
    char buf[65536];
    int in, out, rc = 0;
    ssize_t n;

    in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return -errno;
    out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
               0600);
    if (out < 0) {
        rc = -errno;
        close(in);
        return rc;
    }
    for (;;) {
        n = read(in, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n < 0)
                rc = -errno;
            break;
        }
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0) {
                rc = -errno;
                goto done;
            }
            off += w;
        }
    }
done:
    if (close(out) < 0 && rc == 0)
        rc = -errno;
    close(in);
    if (rc < 0)
        unlink(dst);
    return rc;
}

int
cf_blob_store_put(cf_blob_store_t *b, const char *path, char key_hex[65],
                  cf_error_t **errp)
{
    char *dst, *tmp;
    struct stat st;
    int rc;

    if ((rc = cf_blob_sha256_file(path, key_hex)) < 0)
        return cf_error_set(errp, rc, "cannot hash %s: %s", path,
                            cf_strerror(rc));
    dst = cf_asprintf("%s/%s", b->dir, key_hex);
    if (stat(dst, &st) == 0 && S_ISREG(st.st_mode)) {
        /* Same content already stored. */
        unlink(path);
        cf_free(dst);
        return 0;
    }
    if (rename(path, dst) == 0) {
        cf_free(dst);
        return 0;
    }
    if (errno != EXDEV) {
        rc = -errno;
        cf_error_set(errp, rc, "cannot move %s to %s: %s", path, dst,
                     strerror(errno));
        cf_free(dst);
        return rc;
    }
    /* Another file system: copy to a temporary name, then rename. */
    tmp = cf_asprintf("%s/.%s.tmp", b->dir, key_hex);
    unlink(tmp);
    if ((rc = cf_blob_copy(path, tmp)) < 0 || rename(tmp, dst) < 0) {
        if (rc == 0)
            rc = -errno;
        cf_error_set(errp, rc, "cannot copy %s to %s: %s", path, dst,
                     cf_strerror(rc));
        unlink(tmp);
    } else {
        unlink(path);
    }
    cf_free(tmp);
    cf_free(dst);
    return rc;
}

const char *
cf_blob_store_path(cf_blob_store_t *b, const char *key_hex)
{
    struct stat st;

    if (key_hex == NULL || !cf_blob_key_valid(key_hex))
        return NULL;
    snprintf(b->path, sizeof b->path, "%s/%s", b->dir, key_hex);
    if (stat(b->path, &st) < 0 || !S_ISREG(st.st_mode))
        return NULL;
    return b->path;
}

/* The key of a request: 64 hex characters, or the 32 raw digest bytes. */
static int
cf_blob_key_from(const ProtobufCBinaryData *k, char key_hex[65])
{
    static const char hex[] = "0123456789abcdef";

    if (k->len == 64) {
        memcpy(key_hex, k->data, 64);
        key_hex[64] = '\0';
        for (int i = 0; i < 64; i++)
            if (key_hex[i] >= 'A' && key_hex[i] <= 'F')
                key_hex[i] = (char)(key_hex[i] - 'A' + 'a');
        return cf_blob_key_valid(key_hex) ? 0 : CF_EINVAL;
    }
    if (k->len == 32) {
        for (int i = 0; i < 32; i++) {
            key_hex[2 * i] = hex[k->data[i] >> 4];
            key_hex[2 * i + 1] = hex[k->data[i] & 15];
        }
        key_hex[64] = '\0';
        return 0;
    }
    return CF_EINVAL;
}

void
cf_blob_store_on_get(cf_blob_store_t *b, cf_rpc_conn_t *c, uint64_t req_id,
                     const Cflink__BlobGet *get)
{
    Cflink__Envelope env = CFLINK__ENVELOPE__INIT;
    Cflink__BlobData data = CFLINK__BLOB_DATA__INIT;
    char key[65];
    const char *path;
    struct stat st;
    int64_t len;
    uint8_t *buf = NULL;
    int fd;

    if (req_id == 0) /* a one-way BlobGet cannot be answered */
        return;
    if (get == NULL || cf_blob_key_from(&get->key, key) < 0) {
        cf_rpc_reply_error(c, req_id, "BlobGet: malformed blob key (%zu "
                           "bytes)", get ? get->key.len : (size_t)0);
        return;
    }
    path = cf_blob_store_path(b, key);
    if (path == NULL) {
        cf_rpc_reply_error(c, req_id, "BlobGet: unknown blob key %s", key);
        return;
    }
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) < 0) {
        cf_rpc_reply_error(c, req_id, "BlobGet: cannot read blob %s: %s",
                           key, strerror(errno));
        if (fd >= 0)
            close(fd);
        return;
    }
    len = get->length <= 0 || get->length > CF_BLOB_CHUNK_MAX
              ? CF_BLOB_CHUNK_MAX
              : get->length;
    if (get->offset < 0 || get->offset > (int64_t)st.st_size) {
        cf_rpc_reply_error(c, req_id,
                           "BlobGet: offset %lld out of range for blob %s "
                           "of %lld bytes",
                           (long long)get->offset, key,
                           (long long)st.st_size);
        close(fd);
        return;
    }
    if (len > (int64_t)st.st_size - get->offset)
        len = (int64_t)st.st_size - get->offset;
    if (len > 0) {
        ssize_t got = 0;
        buf = cf_malloc((size_t)len);
        while (got < len) {
            ssize_t n = pread(fd, buf + got, (size_t)(len - got),
                              get->offset + got);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                cf_rpc_reply_error(c, req_id,
                                   "BlobGet: cannot read blob %s: %s", key,
                                   n < 0 ? strerror(errno)
                                         : "file shrank");
                cf_free(buf);
                close(fd);
                return;
            }
            got += n;
        }
    }
    close(fd);
    data.key.data = (uint8_t *)get->key.data;
    data.key.len = get->key.len;
    data.total_size = (int64_t)st.st_size;
    data.data.data = buf;
    data.data.len = (size_t)len;
    env.body_case = CFLINK__ENVELOPE__BODY_BLOB_DATA;
    env.blob_data = &data;
    cf_rpc_reply(c, req_id, &env);
    cf_free(buf);
}
