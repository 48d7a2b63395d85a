/*
 * prom_server.c: the Prometheus reporter's HTTP endpoint (Flink's
 * PrometheusReporter, which serves its registry with the Prometheus
 * client's HTTPServer), its configuration, process metrics and the text
 * format helpers.
 *
 * Design: the endpoint knows nothing about metrics. A daemon renders the
 * whole exposition text on its loop thread (where its structures live)
 * and swaps it in under a mutex; the libmicrohttpd thread copies the
 * current text into each response. A scrape therefore costs the daemon
 * nothing but the periodic rendering, and a slow scraper never blocks
 * the loop for longer than one memcpy.
 */
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>

#include "prom_server.h"

/* Scrapers are few (a Prometheus server or two); a bound keeps a
 * misbehaving client from exhausting the process's descriptors. */
#define CF_PROM_MAX_CONNECTIONS 16
#define CF_PROM_CONN_TIMEOUT_S 30

struct cf_prom_server_s {
    struct MHD_Daemon *mhd;
    int port;
    pthread_mutex_t mu;
    char *text; /* guarded by mu */
    size_t len;
    uint64_t scrapes;
};

/* ------------------------------------------------------------------ */
/* Ports                                                               */
/* ------------------------------------------------------------------ */

int
cf_prom_parse_ports(const char *spec, int (*ranges)[2], int max)
{
    const char *p = spec;
    int n = 0;

    if (spec == NULL)
        return -1;
    while (*p != '\0') {
        long lo, hi;
        char *end;

        while (*p == ' ' || *p == ',')
            p++;
        if (*p == '\0')
            break;
        if (*p < '0' || *p > '9')
            return -1;
        errno = 0;
        lo = strtol(p, &end, 10);
        if (errno != 0)
            return -1;
        p = end;
        hi = lo;
        while (*p == ' ')
            p++;
        if (*p == '-') {
            p++;
            while (*p == ' ')
                p++;
            if (*p < '0' || *p > '9')
                return -1;
            errno = 0;
            hi = strtol(p, &end, 10);
            if (errno != 0)
                return -1;
            p = end;
        }
        while (*p == ' ')
            p++;
        if (*p != '\0' && *p != ',')
            return -1;
        if (lo < 0 || hi > 65535 || lo > hi || n == max)
            return -1;
        ranges[n][0] = (int)lo;
        ranges[n][1] = (int)hi;
        n++;
    }
    return n > 0 ? n : -1;
}

/* ------------------------------------------------------------------ */
/* HTTP                                                                */
/* ------------------------------------------------------------------ */

static enum MHD_Result
cf_prom_reply(struct MHD_Connection *conn, unsigned status, const char *type,
              const char *body, size_t len)
{
    struct MHD_Response *resp;
    enum MHD_Result rc;

    resp = MHD_create_response_from_buffer(len, (void *)body,
                                           MHD_RESPMEM_MUST_COPY);
    if (resp == NULL)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    rc = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return rc;
}

static enum MHD_Result
cf_prom_access_cb(void *cls, struct MHD_Connection *conn, const char *url,
                  const char *method, const char *version,
                  const char *upload_data, size_t *upload_data_size,
                  void **con_cls)
{
    static const char nf[] = "Not found: use /metrics\n";
    static const char na[] = "Method not allowed\n";
    cf_prom_server_t *s = cls;
    enum MHD_Result rc;

    (void)version;
    (void)upload_data;
    /* First call per request: headers only. Answer on the second, after
     * any (ignored) body has been consumed. */
    if (*con_cls == NULL) {
        *con_cls = s;
        return MHD_YES;
    }
    if (*upload_data_size != 0) {
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (strcmp(url, "/metrics") != 0 && strcmp(url, "/") != 0)
        return cf_prom_reply(conn, MHD_HTTP_NOT_FOUND, "text/plain", nf,
                             sizeof nf - 1);
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
        return cf_prom_reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain",
                             na, sizeof na - 1);
    /* The copy is made under the lock: the loop may swap the text at any
     * time. */
    pthread_mutex_lock(&s->mu);
    rc = cf_prom_reply(conn, MHD_HTTP_OK, CF_PROM_CONTENT_TYPE,
                       s->text ? s->text : "", s->len);
    s->scrapes++;
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static struct MHD_Daemon *
cf_prom_start_one(cf_prom_server_t *s, const struct addrinfo *ai, int port)
{
    struct sockaddr_storage ss;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD;

    memset(&ss, 0, sizeof ss);
    memcpy(&ss, ai->ai_addr, ai->ai_addrlen);
    if (ai->ai_family == AF_INET6) {
        ((struct sockaddr_in6 *)(void *)&ss)->sin6_port = htons((uint16_t)port);
        flags |= MHD_USE_IPv6;
    } else {
        ((struct sockaddr_in *)(void *)&ss)->sin_port = htons((uint16_t)port);
    }
    /* No MHD_USE_ERROR_LOG: a busy port of a range is expected and is
     * reported once, for the whole range, by the caller. */
    return MHD_start_daemon(flags, (uint16_t)port, NULL, NULL,
                            cf_prom_access_cb, s, MHD_OPTION_SOCK_ADDR,
                            (struct sockaddr *)&ss, MHD_OPTION_CONNECTION_LIMIT,
                            (unsigned)CF_PROM_MAX_CONNECTIONS,
                            MHD_OPTION_CONNECTION_TIMEOUT,
                            (unsigned)CF_PROM_CONN_TIMEOUT_S, MHD_OPTION_END);
}

cf_prom_server_t *
cf_prom_server_new(const char *host, const char *ports, const char *port_key,
                   cf_error_t **errp)
{
    cf_prom_server_t *s;
    struct addrinfo hints, *res = NULL;
    const union MHD_DaemonInfo *di;
    int ranges[16][2];
    int nr, gai;

    if (port_key == NULL)
        port_key = "metrics.reporter.prom.port";
    if (host == NULL || *host == '\0')
        host = "0.0.0.0";
    if (ports == NULL)
        ports = CF_PROM_DEFAULT_PORT;
    nr = cf_prom_parse_ports(ports, ranges, (int)CF_ARRAY_LEN(ranges));
    if (nr < 0) {
        cf_error_set(errp, CF_ECONFIG,
                     "%s: invalid port or port range '%s' (expected a port "
                     "such as 9249 or a range such as 9250-9260)",
                     port_key, ports);
        return NULL;
    }
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    gai = getaddrinfo(host, NULL, &hints, &res);
    if (gai != 0 || res == NULL) {
        cf_error_set(errp, CF_ECONFIG,
                     "metrics.reporter.prom.host: cannot resolve '%s': %s",
                     host, gai_strerror(gai));
        return NULL;
    }
    s = CF_NEW(cf_prom_server_t);
    pthread_mutex_init(&s->mu, NULL);
    for (int i = 0; i < nr && s->mhd == NULL; i++) {
        for (int port = ranges[i][0]; port <= ranges[i][1] && !s->mhd; port++) {
            /* IPv4 first ("localhost" binds 127.0.0.1). */
            for (int fam = 0; fam < 2 && s->mhd == NULL; fam++) {
                for (struct addrinfo *ai = res; ai != NULL && !s->mhd;
                     ai = ai->ai_next) {
                    if ((fam == 0) != (ai->ai_family == AF_INET))
                        continue;
                    if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
                        continue;
                    s->mhd = cf_prom_start_one(s, ai, port);
                }
            }
        }
    }
    freeaddrinfo(res);
    if (s->mhd == NULL) {
        cf_error_set(errp, CF_EIO,
                     "%s: could not start the Prometheus endpoint on any "
                     "port of '%s' at %s (all busy or not permitted)",
                     port_key, ports, host);
        cf_prom_server_destroy(s);
        return NULL;
    }
    di = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_LISTEN_FD);
    if (di != NULL) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        if (getsockname(di->listen_fd, (struct sockaddr *)&ss, &sl) == 0)
            s->port =
                ntohs(ss.ss_family == AF_INET6
                          ? ((struct sockaddr_in6 *)(void *)&ss)->sin6_port
                          : ((struct sockaddr_in *)(void *)&ss)->sin_port);
    }
    return s;
}

int
cf_prom_server_port(const cf_prom_server_t *s)
{
    return s->port;
}

void
cf_prom_server_set(cf_prom_server_t *s, const char *text, size_t len)
{
    char *copy = cf_malloc(len + 1), *old;

    memcpy(copy, text, len);
    copy[len] = '\0';
    pthread_mutex_lock(&s->mu);
    old = s->text;
    s->text = copy;
    s->len = len;
    pthread_mutex_unlock(&s->mu);
    cf_free(old);
}

uint64_t
cf_prom_server_scrapes(cf_prom_server_t *s)
{
    uint64_t n;

    pthread_mutex_lock(&s->mu);
    n = s->scrapes;
    pthread_mutex_unlock(&s->mu);
    return n;
}

void
cf_prom_server_destroy(cf_prom_server_t *s)
{
    if (s == NULL)
        return;
    if (s->mhd != NULL)
        MHD_stop_daemon(s->mhd); /* joins the HTTP thread */
    pthread_mutex_destroy(&s->mu);
    cf_free(s->text);
    cf_free(s);
}

/* ------------------------------------------------------------------ */
/* Configuration                                                       */
/* ------------------------------------------------------------------ */

int
cf_prom_conf_read(const cf_config_t *cfg, cf_prom_conf_t *conf,
                  cf_error_t **errp)
{
    const char *fc = cf_config_get(cfg, "metrics.reporter.prom.factory.class");
    const char *filter;
    int ranges[16][2];

    memset(conf, 0, sizeof *conf);
    conf->filter_label_values = 1;
    if (fc == NULL || *fc == '\0')
        return 0;
    if (strcmp(fc, CF_PROM_FACTORY_CLASS) != 0 &&
        strcasecmp(fc, "prometheus") != 0)
        return cf_error_set(errp, CF_ECONFIG,
                            "metrics.reporter.prom.factory.class: unknown "
                            "reporter factory '%s' (cflink provides %s, "
                            "or 'prometheus')",
                            fc, CF_PROM_FACTORY_CLASS);
    conf->enabled = 1;
    conf->host = cf_config_get(cfg, "metrics.reporter.prom.host");
    conf->ports = cf_config_get(cfg, "metrics.reporter.prom.port");
    if (conf->ports == NULL || *conf->ports == '\0')
        conf->ports = CF_PROM_DEFAULT_PORT;
    if (cf_prom_parse_ports(conf->ports, ranges, (int)CF_ARRAY_LEN(ranges)) < 0)
        return cf_error_set(errp, CF_ECONFIG,
                            "metrics.reporter.prom.port: invalid port or "
                            "port range '%s' (expected a port such as 9249 "
                            "or a range such as 9250-9260)",
                            conf->ports);
    /* Read as text: the key table validates it when it is known, but a
     * bad value must not be a reason to stop the daemon. */
    filter =
        cf_config_get(cfg, "metrics.reporter.prom.filterLabelValueCharacters");
    if (filter != NULL && *filter != '\0') {
        if (strcasecmp(filter, "true") == 0)
            conf->filter_label_values = 1;
        else if (strcasecmp(filter, "false") == 0)
            conf->filter_label_values = 0;
        else
            return cf_error_set(
                errp, CF_ECONFIG,
                "metrics.reporter.prom.filterLabelValueCharacters: '%s' is "
                "not a boolean (true or false)",
                filter);
    }
    return 0;
}

int
cf_prom_start(const cf_config_t *cfg, cf_prom_server_t **out,
              cf_prom_conf_t *conf, cf_error_t **errp)
{
    cf_prom_conf_t local;

    if (conf == NULL)
        conf = &local;
    *out = NULL;
    if (cf_prom_conf_read(cfg, conf, errp) < 0)
        return CF_ECONFIG;
    if (!conf->enabled)
        return 0;
    *out = cf_prom_server_new(conf->host, conf->ports,
                              "metrics.reporter.prom.port", errp);
    if (*out == NULL)
        return CF_EIO;
    cf_log_info("Started PrometheusReporter on port %d.",
                cf_prom_server_port(*out));
    return 0;
}

/* ------------------------------------------------------------------ */
/* Process metrics                                                     */
/* ------------------------------------------------------------------ */

int
cf_prom_proc_read(cf_prom_proc_t *p)
{
    char buf[1024], *s;
    FILE *f;
    unsigned long long ut = 0, st = 0;
    long ticks = sysconf(_SC_CLK_TCK);
    long pagesz = sysconf(_SC_PAGESIZE);
    long long threads = 0, rss = 0;
    size_t n;

    memset(p, 0, sizeof *p);
    f = fopen("/proc/self/stat", "r");
    if (f == NULL)
        return -errno;
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* The command name may hold spaces and ')': fields start after the
     * last ')'. Then: state(3) ... utime(14) stime(15) ...
     * num_threads(20) ... rss(24), counted from 1. */
    s = strrchr(buf, ')');
    if (s == NULL)
        return CF_EIO;
    if (sscanf(s + 2,
               "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu "
               "%*d %*d %*d %*d %lld %*d %*u %*u %lld",
               &ut, &st, &threads, &rss) != 4)
        return CF_EIO;
    p->cpu_seconds = ticks > 0 ? (double)(ut + st) / (double)ticks : 0.0;
    p->threads = threads;
    p->rss_bytes = rss * (pagesz > 0 ? pagesz : 4096);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Text format                                                         */
/* ------------------------------------------------------------------ */

static void
cf_prom_text_grow(cf_prom_text_t *t, size_t more)
{
    size_t need = t->len + more + 1;

    if (need <= t->cap)
        return;
    if (t->cap == 0)
        t->cap = 4096;
    while (t->cap < need)
        t->cap *= 2;
    t->buf = cf_realloc(t->buf, t->cap);
}

void
cf_prom_text_reset(cf_prom_text_t *t)
{
    t->len = 0;
    if (t->buf)
        t->buf[0] = '\0';
}

void
cf_prom_text_free(cf_prom_text_t *t)
{
    cf_free(t->buf);
    memset(t, 0, sizeof *t);
}

void
cf_prom_text_printf(cf_prom_text_t *t, const char *fmt, ...)
{
    va_list ap;
    int n;

    cf_prom_text_grow(t, 128);
    va_start(ap, fmt);
    n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= t->cap - t->len) {
        cf_prom_text_grow(t, (size_t)n);
        va_start(ap, fmt);
        vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
    }
    t->len += (size_t)n;
}

static void
cf_prom_text_putc(cf_prom_text_t *t, char c)
{
    cf_prom_text_grow(t, 1);
    t->buf[t->len++] = c;
    t->buf[t->len] = '\0';
}

void
cf_prom_text_family(cf_prom_text_t *t, const char *name, const char *help)
{
    cf_prom_text_printf(t, "# HELP %s ", name);
    /* HELP text escapes '\' and newline (not '"'). */
    for (const char *p = help; *p; p++) {
        if (*p == '\\')
            cf_prom_text_printf(t, "\\\\");
        else if (*p == '\n')
            cf_prom_text_printf(t, "\\n");
        else
            cf_prom_text_putc(t, *p);
    }
    cf_prom_text_printf(t, "\n# TYPE %s gauge\n", name);
}

void
cf_prom_text_label_value(cf_prom_text_t *t, const char *v, int filter)
{
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        unsigned char c = *p;
        if (filter) {
            int okc = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                      (c >= '0' && c <= '9') || c == ':' || c == '_';
            cf_prom_text_putc(t, okc ? (char)c : '_');
        } else if (c == '\\') {
            cf_prom_text_printf(t, "\\\\");
        } else if (c == '"') {
            cf_prom_text_printf(t, "\\\"");
        } else if (c == '\n') {
            cf_prom_text_printf(t, "\\n");
        } else {
            cf_prom_text_putc(t, (char)c);
        }
    }
}

static void
cf_prom_text_labels(cf_prom_text_t *t, const char *name,
                    const char *const *labels, int filter)
{
    cf_prom_text_printf(t, "%s", name);
    if (labels == NULL || labels[0] == NULL)
        return;
    cf_prom_text_putc(t, '{');
    for (int i = 0; labels[i] != NULL && labels[i + 1] != NULL; i += 2) {
        if (i > 0)
            cf_prom_text_putc(t, ',');
        cf_prom_text_printf(t, "%s=\"", labels[i]);
        cf_prom_text_label_value(t, labels[i + 1], filter);
        cf_prom_text_putc(t, '"');
    }
    cf_prom_text_putc(t, '}');
}

void
cf_prom_text_sample(cf_prom_text_t *t, const char *name,
                    const char *const *labels, int filter, double value)
{
    cf_prom_text_labels(t, name, labels, filter);
    if (value != value)
        cf_prom_text_printf(t, " NaN\n");
    else if (value == (double)(int64_t)value && value < 9.2e18 &&
             value > -9.2e18)
        cf_prom_text_printf(t, " %lld\n", (long long)value);
    else
        cf_prom_text_printf(t, " %.17g\n", value);
}

void
cf_prom_text_sample_i64(cf_prom_text_t *t, const char *name,
                        const char *const *labels, int filter, int64_t value)
{
    cf_prom_text_labels(t, name, labels, filter);
    cf_prom_text_printf(t, " %lld\n", (long long)value);
}
