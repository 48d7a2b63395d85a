/*
 * prom_server.h: the daemon-independent part of the Prometheus reporter
 * (Flink's PrometheusReporter): an HTTP endpoint serving GET /metrics in
 * the Prometheus text format 0.0.4 from a text snapshot, the reporter's
 * configuration (metrics.reporter.prom.*), port ranges, process metrics
 * from /proc/self and the text format's escaping.
 *
 * The daemons build the exposition text on their control loop (a timer,
 * once a second) and hand it over with cf_prom_server_set(); the HTTP
 * server (libmicrohttpd, its own polling thread) serves the last snapshot
 * under a mutex, so a scrape never touches loop-owned structures.
 *
 * Threads: cf_prom_server_set() and the text helpers: any thread;
 * cf_prom_server_new/_destroy(): the owner's thread (the loop).
 */
#ifndef CF_LOOP_PROM_SERVER_H
#define CF_LOOP_PROM_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "core.h"

/* Flink's default port of the PrometheusReporter. */
#define CF_PROM_DEFAULT_PORT "9249"
/* Flink's factory class; "prometheus" is accepted as a short form. */
#define CF_PROM_FACTORY_CLASS                                                  \
    "org.apache.flink.metrics.prometheus.PrometheusReporterFactory"
/* The content type of the text format 0.0.4. */
#define CF_PROM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

typedef struct cf_prom_server_s cf_prom_server_t;

/* Parse a port specification: a port, a range "9250-9260" or a list of
 * both separated by commas (Flink's NetUtils.getPortRangeFromString).
 * Fills at most max ranges [lo, hi] (0 <= lo <= hi <= 65535). Returns the
 * number of ranges, or -1 when spec is malformed. */
int cf_prom_parse_ports(const char *spec, int (*ranges)[2], int max);

/* Start an endpoint bound to host (numeric or resolvable; NULL or "":
 * 0.0.0.0) on the first port of ports that is free ("0": an ephemeral
 * port). The body is empty until cf_prom_server_set(). Errors name
 * port_key (the configuration key ports came from). */
cf_prom_server_t *cf_prom_server_new(const char *host, const char *ports,
                                     const char *port_key, cf_error_t **errp);
/* The port actually bound. */
int cf_prom_server_port(const cf_prom_server_t *s);
/* Replace the served text with a copy of text[0..len). Thread: any. */
void cf_prom_server_set(cf_prom_server_t *s, const char *text, size_t len);
/* How many scrapes were answered (tests). Thread: any. */
uint64_t cf_prom_server_scrapes(cf_prom_server_t *s);
/* Stop the HTTP thread and free everything. NULL is fine. */
void cf_prom_server_destroy(cf_prom_server_t *s);

/* The reporter's settings from a configuration. */
typedef struct cf_prom_conf_s {
    int enabled;             /* factory.class names the PrometheusReporter */
    const char *host;        /* metrics.reporter.prom.host, or NULL */
    const char *ports;       /* metrics.reporter.prom.port, or the default */
    int filter_label_values; /* filterLabelValueCharacters (true) */
} cf_prom_conf_t;

/* Read metrics.reporter.prom.*: 0 (conf filled, enabled or not), or
 * CF_ECONFIG with a message naming the key (an unknown factory class, a
 * malformed port range, a non-boolean filter flag). */
int cf_prom_conf_read(const cf_config_t *cfg, cf_prom_conf_t *conf,
                      cf_error_t **errp);

/* Start the reporter of a daemon as configured: *out is NULL when the
 * reporter is not configured; else the started server, which logs
 * "Started PrometheusReporter on port N". Returns 0, or a negative code
 * with *errp naming the key (the daemon carries on without it, as
 * Flink's reporters fail alone). */
int cf_prom_start(const cf_config_t *cfg, cf_prom_server_t **out,
                  cf_prom_conf_t *conf, cf_error_t **errp);

/* Process figures from /proc/self (Flink's Status.JVM.* stand-ins). */
typedef struct cf_prom_proc_s {
    double cpu_seconds; /* user + system time */
    int64_t rss_bytes;
    int64_t threads;
} cf_prom_proc_t;
int cf_prom_proc_read(cf_prom_proc_t *p);

/* A growing text buffer for the exposition text (the caller keeps one
 * and reuses it, so a snapshot allocates nothing in the steady state). */
typedef struct cf_prom_text_s {
    char *buf;
    size_t len, cap;
} cf_prom_text_t;
void cf_prom_text_reset(cf_prom_text_t *t);
void cf_prom_text_free(cf_prom_text_t *t);
void cf_prom_text_printf(cf_prom_text_t *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* "# HELP name help\n# TYPE name gauge\n" (Flink reports counters and
 * gauges as Prometheus gauges). */
void cf_prom_text_family(cf_prom_text_t *t, const char *name, const char *help);
/* A label value: with filter, every character outside [a-zA-Z0-9:_]
 * becomes '_' (Flink's filterLabelValueCharacters); without, '\\', '"'
 * and newline are escaped as the text format requires. */
void cf_prom_text_label_value(cf_prom_text_t *t, const char *v, int filter);
/* A sample line: name{labels} value, where labels is a NULL-terminated
 * array of name, value pairs (NULL: no labels). Values are written as
 * integers when integral. */
void cf_prom_text_sample(cf_prom_text_t *t, const char *name,
                         const char *const *labels, int filter, double value);
/* The same with an exact 64-bit value (counters, watermarks). */
void cf_prom_text_sample_i64(cf_prom_text_t *t, const char *name,
                             const char *const *labels, int filter,
                             int64_t value);

#endif /* CF_LOOP_PROM_SERVER_H */
