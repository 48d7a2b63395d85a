/*
 * log.c: the daemon and CLI log (see core.h). One write(2) per line, so
 * lines from several threads never interleave.
 */
#include "core.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static atomic_int cf_log_level = CF_LOGL_INFO;
static atomic_int cf_log_fd = 2;
static __thread char cf_log_thread[32];

static const char *const cf_log_names[] = {"ERROR", "WARN", "INFO", "DEBUG"};

void
cf_log_set_level(int level)
{
    if (level < CF_LOGL_ERROR)
        level = CF_LOGL_ERROR;
    if (level > CF_LOGL_DEBUG)
        level = CF_LOGL_DEBUG;
    atomic_store(&cf_log_level, level);
}

int
cf_log_get_level(void)
{
    return atomic_load_explicit(&cf_log_level, memory_order_relaxed);
}

int
cf_log_parse_level(const char *s)
{
    for (int i = 0; i < (int)CF_ARRAY_LEN(cf_log_names); i++)
        if (strcasecmp(s, cf_log_names[i]) == 0)
            return i;
    if (strcasecmp(s, "WARNING") == 0)
        return CF_LOGL_WARN;
    return -1;
}

int
cf_log_open(const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    int old = atomic_exchange(&cf_log_fd, fd);
    if (old > 2)
        close(old);
    return 0;
}

void
cf_log_set_fd(int fd)
{
    atomic_store(&cf_log_fd, fd);
}

void
cf_log_set_thread_name(const char *name)
{
    snprintf(cf_log_thread, sizeof cf_log_thread, "%s", name);
}

void
cf_log_vwrite(int level, const char *file, int line, const char *fmt,
              va_list ap)
{
    char buf[2048];
    struct timeval tv;
    struct tm tm;
    const char *base = strrchr(file, '/');
    size_t n;
    int r;

    gettimeofday(&tv, NULL);
    localtime_r(&tv.tv_sec, &tm);
    n = strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
    r = snprintf(buf + n, sizeof buf - n, ",%03d %-5s [%s] %s:%d - ",
                 (int)(tv.tv_usec / 1000),
                 cf_log_names[level < 0 ? 0 : level > 3 ? 3 : level],
                 cf_log_thread[0] ? cf_log_thread : "main",
                 base ? base + 1 : file, line);
    if (r > 0)
        n += (size_t)r;
    if (n < sizeof buf - 1) {
        r = vsnprintf(buf + n, sizeof buf - n, fmt, ap);
        if (r > 0)
            n += (size_t)r;
    }
    if (n > sizeof buf - 2)
        n = sizeof buf - 2;
    buf[n++] = '\n';
    if (write(atomic_load(&cf_log_fd), buf, n) < 0) {
        /* A log that cannot be written is dropped. */
    }
}

void
cf_log_write(int level, const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cf_log_vwrite(level, file, line, fmt, ap);
    va_end(ap);
}
