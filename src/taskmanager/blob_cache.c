/*
 * blob_cache.c: the TaskManager's plugin cache (Flink's BlobCache):
 * plugin files by content, named by their SHA-256 key, in a directory of
 * this TaskManager; missing ones are fetched from the JobManager's blob
 * store with BlobGet requests of 1 MiB.
 *
 * A fetch accumulates the chunks in memory while hashing them (the loop
 * does no file I/O); the caller writes the verified bytes to the cache on
 * a worker thread (cf_tm_blob_store: a temporary file renamed into place,
 * so a cached file is always complete). A file whose hash differs from
 * its key is never stored.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "taskmanager_int.h"

#define CF_TM_BLOB_CHUNK (1024 * 1024)
/* Plugins larger than this are refused (a corrupt total_size must not
 * make us allocate without bound). */
#define CF_TM_BLOB_MAX ((int64_t)1 << 30)

static const char cf_hex_digits[] = "0123456789abcdef";

static void
cf_tm_hex(const uint8_t *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = cf_hex_digits[b[i] >> 4];
        out[2 * i + 1] = cf_hex_digits[b[i] & 15];
    }
    out[2 * n] = '\0';
}

void
cf_tm_sha256_hex(const void *data, size_t len, char out[65])
{
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL);
    cf_tm_hex(md, 32, out);
}

int
cf_tm_blob_key_hex(const ProtobufCBinaryData *key, char out[65])
{
    if (key->len == 32) {
        cf_tm_hex(key->data, 32, out);
        return 0;
    }
    if (key->len == 64) {
        for (int i = 0; i < 64; i++) {
            int c = key->data[i];
            if (c >= 'A' && c <= 'F')
                c += 'a' - 'A';
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
                return CF_EPROTO;
            out[i] = (char)c;
        }
        out[64] = '\0';
        return 0;
    }
    return CF_EPROTO;
}

char *
cf_tm_blob_dir(const cf_config_t *cfg, const char *resource_id,
               cf_error_t **errp)
{
    const char *base = cf_config_get(cfg, "blob.storage.directory");
    char *first = NULL, *dir, *name;
    int rc;

    if (base == NULL || !*base) {
        const char *tmp = cf_config_get(cfg, "io.tmp.dirs");
        if (tmp != NULL && *tmp) {
            size_t n = strcspn(tmp, ":,");
            first = cf_strndup(tmp, n);
            base = first;
        }
    }
    if (base == NULL || !*base)
        base = getenv("TMPDIR");
    if (base == NULL || !*base)
        base = "/tmp";
    name = cf_strdup(resource_id);
    for (char *s = name; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              (*s >= '0' && *s <= '9') || *s == '.' || *s == '-' || *s == '_'))
            *s = '_';
    dir = cf_asprintf("%s/cflink-tm-blobs-%s", base, name);
    cf_free(name);
    cf_free(first);
    if ((rc = cf_mkdirs(dir, 0755)) < 0) {
        cf_error_set(errp, rc,
                     "cannot create the blob cache directory "
                     "%s: %s",
                     dir, strerror(-rc));
        cf_free(dir);
        return NULL;
    }
    return dir;
}

char *
cf_tm_blob_path(const char *dir, const char *key_hex)
{
    return cf_asprintf("%s/%s.so", dir, key_hex);
}

int
cf_tm_blob_store(const char *path, const cf_tm_blob_data_t *data,
                 cf_error_t **errp)
{
    char *tmp = cf_asprintf("%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp), rc = 0;
    size_t off = 0;

    if (fd < 0) {
        rc = -errno;
        cf_error_set(errp, rc, "cannot create %s: %s", tmp, strerror(errno));
        cf_free(tmp);
        return rc;
    }
    while (off < data->len) {
        ssize_t w = write(fd, data->data + off, data->len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            rc = w < 0 ? -errno : CF_EIO;
            cf_error_set(errp, rc, "cannot write %s: %s", tmp,
                         w < 0 ? strerror(errno) : "short write");
            break;
        }
        off += (size_t)w;
    }
    if (rc == 0 && fsync(fd) < 0) {
        rc = -errno;
        cf_error_set(errp, rc, "cannot sync %s: %s", tmp, strerror(errno));
    }
    close(fd);
    if (rc == 0 && rename(tmp, path) < 0) {
        rc = -errno;
        cf_error_set(errp, rc, "cannot rename %s to %s: %s", tmp, path,
                     strerror(errno));
    }
    if (rc < 0)
        unlink(tmp);
    cf_free(tmp);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Fetching                                                            */
/* ------------------------------------------------------------------ */

typedef struct cf_tm_fetch_s {
    cf_tm_t *tm;
    uint32_t epoch;
    uint8_t *key;
    size_t keylen;
    char key_hex[65];
    cf_tm_blob_cb cb;
    void *arg;
    EVP_MD_CTX *md;
    uint8_t *buf;
    size_t len;
    int64_t total; /* -1 until the first chunk */
    int64_t start_ms;
} cf_tm_fetch_t;

static void cf_tm_fetch_next(cf_tm_fetch_t *f);

static void
cf_tm_fetch_end(cf_tm_fetch_t *f, int status, const char *error)
{
    cf_tm_blob_data_t data = {NULL, 0};
    if (status == 0) {
        data.data = f->buf;
        data.len = f->len;
        f->buf = NULL;
    }
    f->cb(f->tm, status, error, status == 0 ? &data : NULL, f->arg);
    EVP_MD_CTX_free(f->md);
    cf_free(f->buf);
    cf_free(f->key);
    cf_free(f);
}

static void cf_tm_fetch_fail(cf_tm_fetch_t *f, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
cf_tm_fetch_fail(cf_tm_fetch_t *f, int status, const char *fmt, ...)
{
    va_list ap;
    char *m, *msg;
    va_start(ap, fmt);
    m = cf_vasprintf(fmt, ap);
    va_end(ap);
    msg = cf_asprintf("Cannot fetch plugin blob %s from the JobManager: %s",
                      f->key_hex, m);
    cf_free(m);
    cf_tm_fetch_end(f, status, msg);
    cf_free(msg);
}

static void
cf_tm_fetch_reply(cf_rpc_conn_t *c, int status, const char *error,
                  const Cflink__Envelope *reply, void *arg)
{
    cf_tm_fetch_t *f = arg;
    const Cflink__BlobData *bd;
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char got[65];

    (void)c;
    if (status < 0) {
        cf_tm_fetch_fail(f, status, "%s", error ? error : cf_strerror(status));
        return;
    }
    if (reply->body_case != CFLINK__ENVELOPE__BODY_BLOB_DATA ||
        reply->blob_data == NULL) {
        cf_tm_fetch_fail(f, CF_EPROTO, "unexpected reply %s to BlobGet",
                         cf_rpc_body_name((int)reply->body_case));
        return;
    }
    bd = reply->blob_data;
    if (bd->total_size < 0 || bd->total_size > CF_TM_BLOB_MAX ||
        (f->total >= 0 && bd->total_size != f->total)) {
        cf_tm_fetch_fail(f, CF_EPROTO, "bad total size %lld",
                         (long long)bd->total_size);
        return;
    }
    if (f->total < 0) {
        f->total = bd->total_size;
        f->buf = cf_malloc(f->total > 0 ? (size_t)f->total : 1);
    }
    if (bd->data.len > CF_TM_BLOB_CHUNK ||
        (int64_t)(f->len + bd->data.len) > f->total) {
        cf_tm_fetch_fail(f, CF_EPROTO,
                         "chunk of %zu bytes at offset %zu exceeds the "
                         "size %lld",
                         bd->data.len, f->len, (long long)f->total);
        return;
    }
    if (bd->data.len == 0 && (int64_t)f->len < f->total) {
        cf_tm_fetch_fail(f, CF_EPROTO, "empty chunk at offset %zu of %lld",
                         f->len, (long long)f->total);
        return;
    }
    if (bd->data.len > 0) {
        memcpy(f->buf + f->len, bd->data.data, bd->data.len);
        EVP_DigestUpdate(f->md, bd->data.data, bd->data.len);
        f->len += bd->data.len;
    }
    if ((int64_t)f->len < f->total) {
        cf_tm_fetch_next(f);
        return;
    }
    EVP_DigestFinal_ex(f->md, md, &mdlen);
    cf_tm_hex(md, 32, got);
    if (strcmp(got, f->key_hex) != 0) {
        cf_tm_fetch_fail(f, CF_EPROTO,
                         "SHA-256 mismatch: the received file (%zu bytes) "
                         "hashes to %s",
                         f->len, got);
        return;
    }
    cf_log_info("Downloaded plugin blob %s (%zu bytes) in %lld ms.", f->key_hex,
                f->len, (long long)(cf_mono_ms() - f->start_ms));
    cf_tm_fetch_end(f, 0, NULL);
}

static void
cf_tm_fetch_next(cf_tm_fetch_t *f)
{
    Cflink__Envelope env = CFLINK__ENVELOPE__INIT;
    Cflink__BlobGet get = CFLINK__BLOB_GET__INIT;
    int64_t want = CF_TM_BLOB_CHUNK;
    int rc;

    if (!cf_tm_conn_current(f->tm, f->epoch)) {
        cf_tm_fetch_fail(f, CF_EIO, "the JobManager connection was lost");
        return;
    }
    if (f->total >= 0 && f->total - (int64_t)f->len < want)
        want = f->total - (int64_t)f->len;
    get.key.data = f->key;
    get.key.len = f->keylen;
    get.offset = (int64_t)f->len;
    get.length = (int32_t)want;
    env.body_case = CFLINK__ENVELOPE__BODY_BLOB_GET;
    env.blob_get = &get;
    rc = cf_rpc_call(f->tm->conn, &env, f->tm->rpc_timeout_ms,
                     cf_tm_fetch_reply, f);
    if (rc < 0)
        cf_tm_fetch_fail(f, rc, "cannot send BlobGet: %s", cf_strerror(rc));
}

int
cf_tm_blob_fetch(cf_tm_t *tm, const ProtobufCBinaryData *key,
                 const char *key_hex, cf_tm_blob_cb cb, void *arg)
{
    cf_tm_fetch_t *f = CF_NEW(cf_tm_fetch_t);
    f->tm = tm;
    f->epoch = tm->epoch;
    f->keylen = key->len;
    f->key = cf_malloc(key->len ? key->len : 1);
    memcpy(f->key, key->data, key->len);
    memcpy(f->key_hex, key_hex, 65);
    f->cb = cb;
    f->arg = arg;
    f->md = EVP_MD_CTX_new();
    CF_ASSERT(f->md != NULL);
    EVP_DigestInit_ex(f->md, EVP_sha256(), NULL);
    f->total = -1;
    f->start_ms = cf_mono_ms();
    cf_log_debug("Fetching plugin blob %s from the JobManager.", key_hex);
    cf_tm_fetch_next(f);
    return 0;
}
