/*
 * cli_rest.c: the cflink command's REST client (libcurl + jansson): the
 * JobManager's base URL from -m or the configuration, JSON requests,
 * the multipart plugin upload, and error texts as Flink's
 * RestClientException shows them.
 *
 * One curl easy handle per client, reused (keep-alive) for every request.
 * No request is retried here; callers decide.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "cli.h"

struct cf_cli_rest_s {
    char *base;
    CURL *curl;
    long connect_timeout_ms;
    long timeout_ms;
};

/* ------------------------------------------------------------------ */
/* Address                                                             */
/* ------------------------------------------------------------------ */

/* "/a/b/" -> "/a/b"; "" or "/" -> "". */
static char *
cf_cli_norm_path(const char *p)
{
    size_t n;
    if (!p)
        return cf_strdup("");
    while (*p == '/')
        p++;
    n = strlen(p);
    while (n > 0 && p[n - 1] == '/')
        n--;
    if (n == 0)
        return cf_strdup("");
    char *tmp = cf_strndup(p, n);
    char *s = cf_asprintf("/%s", tmp);
    cf_free(tmp);
    return s;
}

int
cf_cli_rest_base_url(const cf_config_t *cfg, const char *m, char **url,
                     cf_error_t **errp)
{
    char *path = NULL;
    *url = NULL;

    if (m) {
        const char *hp = m, *colon, *slash, *host_end, *port_s;
        char *host, *port_str, *end;
        long port;

        if (strncmp(hp, "http://", 7) == 0) {
            hp += 7;
        } else if (strncmp(hp, "https://", 8) == 0) {
            return cf_error_set(errp, CF_EINVAL,
                                "-m %s: https (SSL) is not supported by "
                                "this cflink build",
                                m);
        }
        slash = strchr(hp, '/');
        host_end = slash ? slash : hp + strlen(hp);
        if (hp[0] == '[') { /* [ipv6]:port */
            const char *rb = memchr(hp, ']', (size_t)(host_end - hp));
            colon = rb && rb + 1 < host_end && rb[1] == ':' ? rb + 1 : NULL;
        } else {
            colon = memchr(hp, ':', (size_t)(host_end - hp));
        }
        if (!colon || colon == hp)
            return cf_error_set(errp, CF_EINVAL,
                                "The given host:port ('%s') doesn't contain "
                                "a valid port",
                                m);
        port_s = colon + 1;
        port_str = cf_strndup(port_s, (size_t)(host_end - port_s));
        port = strtol(port_str, &end, 10);
        if (*port_str == '\0' || *end || port < 1 || port > 65535) {
            cf_free(port_str);
            return cf_error_set(errp, CF_EINVAL,
                                "The given host:port ('%s') doesn't contain "
                                "a valid port",
                                m);
        }
        cf_free(port_str);
        host = cf_strndup(hp, (size_t)(colon - hp));
        path = cf_cli_norm_path(slash);
        *url = cf_asprintf("http://%s:%ld%s", host, port, path);
        cf_free(host);
    } else {
        const char *host = cf_config_get(cfg, "rest.address");
        int32_t port = cf_config_get_int(cfg, "rest.port", 8081);
        if (!host || !*host)
            host = "localhost";
        if (port < 1 || port > 65535)
            return cf_error_set(errp, CF_ECONFIG,
                                "rest.port: %d is not a port to connect to",
                                (int)port);
        path = cf_cli_norm_path(cf_config_get(cfg, "rest.path"));
        *url = cf_asprintf(strchr(host, ':') && host[0] != '['
                               ? "http://[%s]:%d%s"
                               : "http://%s:%d%s",
                           host, (int)port, path);
    }
    cf_free(path);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Client                                                              */
/* ------------------------------------------------------------------ */

cf_cli_rest_t *
cf_cli_rest_new(const char *base_url, const cf_config_t *cfg)
{
    cf_cli_rest_t *r = CF_NEW(cf_cli_rest_t);
    r->base = cf_strdup(base_url);
    r->curl = curl_easy_init();
    CF_ASSERT(r->curl != NULL);
    r->connect_timeout_ms =
        (long)cf_config_get_duration_ms(cfg, "rest.connection-timeout",
                                        15000);
    r->timeout_ms =
        (long)cf_config_get_duration_ms(cfg, "rest.idleness-timeout",
                                        300000);
    return r;
}

void
cf_cli_rest_destroy(cf_cli_rest_t *r)
{
    if (!r)
        return;
    curl_easy_cleanup(r->curl);
    cf_free(r->base);
    cf_free(r);
}

const char *
cf_cli_rest_url(const cf_cli_rest_t *r)
{
    return r->base;
}

void
cf_cli_resp_deinit(cf_cli_resp_t *resp)
{
    if (resp->body)
        json_decref(resp->body);
    cf_free(resp->raw);
    memset(resp, 0, sizeof(*resp));
}

static size_t
cf_cli_rest_write_cb(char *data, size_t size, size_t nmemb, void *ud)
{
    cf_sbuf_t *b = ud;
    cf_sbuf_appendn(b, data, size * nmemb);
    return size * nmemb;
}

/* Run the prepared request on r->curl. */
static int
cf_cli_rest_perform(cf_cli_rest_t *r, const char *method, const char *url,
                    struct curl_slist *headers, cf_cli_resp_t *resp,
                    cf_error_t **errp)
{
    char errbuf[CURL_ERROR_SIZE] = "";
    cf_sbuf_t buf = {0};
    CURLcode cc;
    long os_errno = 0;

    memset(resp, 0, sizeof(*resp));
    curl_easy_setopt(r->curl, CURLOPT_URL, url);
    curl_easy_setopt(r->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(r->curl, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(r->curl, CURLOPT_CONNECTTIMEOUT_MS,
                     r->connect_timeout_ms);
    curl_easy_setopt(r->curl, CURLOPT_TIMEOUT_MS, r->timeout_ms);
    curl_easy_setopt(r->curl, CURLOPT_WRITEFUNCTION, cf_cli_rest_write_cb);
    curl_easy_setopt(r->curl, CURLOPT_WRITEDATA, &buf);
    curl_easy_setopt(r->curl, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(r->curl, CURLOPT_USERAGENT, "cflink/" CF_CLI_VERSION);
    curl_easy_setopt(r->curl, CURLOPT_CUSTOMREQUEST,
                     strcmp(method, "GET") == 0 ||
                             strcmp(method, "POST") == 0
                         ? NULL
                         : method);
    cf_log_debug("REST %s %s", method, url);
    cc = curl_easy_perform(r->curl);
    if (cc != CURLE_OK) {
        const char *reason = errbuf[0] ? errbuf : curl_easy_strerror(cc);
        curl_easy_getinfo(r->curl, CURLINFO_OS_ERRNO, &os_errno);
        if (cc == CURLE_COULDNT_CONNECT && os_errno != 0)
            reason = strerror((int)os_errno);
        cf_sbuf_deinit(&buf);
        if (cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST ||
            (cc == CURLE_OPERATION_TIMEDOUT && os_errno == ETIMEDOUT))
            return cf_error_set(errp, CF_EIO,
                                "Could not connect to the JobManager at %s: "
                                "%s",
                                r->base, reason);
        return cf_error_set(errp, CF_EIO, "%s %s failed: %s", method, url,
                            reason);
    }
    curl_easy_getinfo(r->curl, CURLINFO_RESPONSE_CODE, &resp->status);
    resp->raw = buf.s ? cf_sbuf_take(&buf) : cf_strdup("");
    cf_sbuf_deinit(&buf);
    if (resp->raw[0]) {
        json_error_t jerr;
        resp->body = json_loads(resp->raw, 0, &jerr);
    }
    cf_log_debug("REST %s %s -> %ld %s", method, url, resp->status,
                 resp->raw);
    return 0;
}

int
cf_cli_rest_call(cf_cli_rest_t *r, const char *method, const char *path,
                 json_t *body, cf_cli_resp_t *resp, cf_error_t **errp)
{
    char *url = cf_asprintf("%s%s", r->base, path);
    char *text = NULL;
    struct curl_slist *headers = NULL;
    int rc;

    headers = curl_slist_append(headers, "Accept: application/json");
    curl_easy_setopt(r->curl, CURLOPT_MIMEPOST, NULL);
    if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(r->curl, CURLOPT_HTTPGET, 1L);
    } else {
        /* As Flink's RestClient: every other request carries a JSON
         * body, "{}" when empty. */
        text = body ? json_dumps(body, JSON_COMPACT) : strdup("{}");
        CF_ASSERT(text != NULL);
        headers = curl_slist_append(headers,
                                    "Content-Type: application/json");
        curl_easy_setopt(r->curl, CURLOPT_POSTFIELDS, text);
        curl_easy_setopt(r->curl, CURLOPT_POSTFIELDSIZE,
                         (long)strlen(text));
    }
    rc = cf_cli_rest_perform(r, method, url, headers, resp, errp);
    /* The handle is reused: drop pointers into freed memory. */
    curl_easy_setopt(r->curl, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(r->curl, CURLOPT_POSTFIELDS, NULL);
    curl_slist_free_all(headers);
    free(text);
    cf_free(url);
    return rc;
}

int
cf_cli_rest_upload(cf_cli_rest_t *r, const char *path, const char *file,
                   cf_cli_resp_t *resp, cf_error_t **errp)
{
    char *url = cf_asprintf("%s%s", r->base, path);
    const char *base = strrchr(file, '/');
    struct curl_slist *headers = NULL;
    curl_mime *mime = curl_mime_init(r->curl);
    curl_mimepart *part = curl_mime_addpart(mime);
    int rc;

    base = base ? base + 1 : file;
    curl_mime_name(part, "jarfile");
    if (curl_mime_filedata(part, file) != CURLE_OK) {
        curl_mime_free(mime);
        cf_free(url);
        return cf_error_set(errp, CF_EIO, "%s: cannot read the file", file);
    }
    curl_mime_filename(part, base);
    curl_mime_type(part, "application/octet-stream");
    headers = curl_slist_append(headers, "Accept: application/json");
    /* No "Expect: 100-continue" round trip. */
    headers = curl_slist_append(headers, "Expect:");
    curl_easy_setopt(r->curl, CURLOPT_MIMEPOST, mime);
    rc = cf_cli_rest_perform(r, "POST", url, headers, resp, errp);
    curl_easy_setopt(r->curl, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(r->curl, CURLOPT_MIMEPOST, NULL);
    curl_mime_free(mime);
    curl_slist_free_all(headers);
    cf_free(url);
    return rc;
}

char *
cf_cli_rest_error_text(const cf_cli_resp_t *resp)
{
    json_t *errs = resp->body && json_is_object(resp->body)
                       ? json_object_get(resp->body, "errors")
                       : NULL;
    if (json_is_array(errs) && json_array_size(errs) > 0) {
        cf_sbuf_t b = {0};
        size_t i;
        json_t *e;
        cf_sbuf_append(&b, "[");
        json_array_foreach(errs, i, e)
        {
            if (i > 0)
                cf_sbuf_append(&b, ", ");
            if (json_is_string(e)) {
                cf_sbuf_append(&b, json_string_value(e));
            } else {
                char *t = json_dumps(e, JSON_COMPACT | JSON_ENCODE_ANY);
                cf_sbuf_append(&b, t ? t : "?");
                free(t);
            }
        }
        cf_sbuf_append(&b, "]");
        return cf_sbuf_take(&b);
    }
    if (resp->raw && resp->raw[0] && !resp->body)
        return cf_asprintf("HTTP %ld: %.200s", resp->status, resp->raw);
    return cf_asprintf("HTTP %ld", resp->status);
}
