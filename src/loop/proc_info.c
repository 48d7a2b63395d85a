/*
 * proc_info.c: the process's own log files, threads and figures from
 * /proc/self, shared by the JobManager's REST handlers (rest_ops.c) and
 * the TaskManager's info requests (tm_ops.c). See proc_info.h.
 *
 * Reads are bounded: a directory listing keeps at most the caller's
 * count, a file read at most the caller's byte count, /proc files are
 * read into fixed buffers. Nothing here keeps state between calls except
 * what the caller owns (cf_proc_cpu_load_t).
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proc_info.h"
#include "prom_server.h"

/* ------------------------------------------------------------------ */
/* Log files                                                           */
/* ------------------------------------------------------------------ */

char *
cf_proc_cmdline(size_t *len)
{
    int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
    cf_sbuf_t b = {0};
    char buf[4096];
    ssize_t n;

    *len = 0;
    if (fd < 0)
        return NULL;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        cf_sbuf_appendn(&b, buf, (size_t)n);
    close(fd);
    *len = b.len;
    if (b.len == 0) {
        cf_sbuf_deinit(&b);
        return NULL;
    }
    return cf_sbuf_take(&b);
}

char *
cf_proc_log_file(const char *configured)
{
    char *cmd = NULL, *res = NULL;
    size_t len = 0, i = 0;

    if (configured != NULL && *configured != '\0')
        res = cf_strdup(configured);
    else
        cmd = cf_proc_cmdline(&len);
    while (cmd != NULL && i < len) {
        const char *a = cmd + i;
        size_t al = strlen(a);
        if (strcmp(a, "--log-file") == 0 && i + al + 1 < len) {
            res = cf_strdup(a + al + 1);
            break;
        }
        if (strncmp(a, "--log-file=", 11) == 0) {
            res = cf_strdup(a + 11);
            break;
        }
        i += al + 1;
    }
    cf_free(cmd);
    if (res != NULL && *res != '/') {
        /* Relative (a configured path or --log-file) to where the
         * daemon started (it never changes its working directory). */
        char *cwd = getcwd(NULL, 0);
        if (cwd != NULL) {
            char *abs = cf_asprintf("%s/%s", cwd, res);
            free(cwd);
            cf_free(res);
            res = abs;
        }
    }
    return res;
}

char *
cf_proc_log_dir(const char *log_file, const cf_config_t *cfg)
{
    const char *d;

    if (log_file != NULL) {
        const char *slash = strrchr(log_file, '/');
        if (slash != NULL) {
            size_t n = slash == log_file ? 1 : (size_t)(slash - log_file);
            char *r = cf_malloc(n + 1);
            memcpy(r, log_file, n);
            r[n] = '\0';
            return r;
        }
    }
    d = cfg != NULL ? cf_config_get(cfg, "env.log.dir") : NULL;
    return d != NULL && *d != '\0' ? cf_strdup(d) : NULL;
}

char *
cf_proc_out_file(const char *log_file)
{
    size_t n;

    if (log_file == NULL)
        return NULL;
    n = strlen(log_file);
    if (n > 4 && strcmp(log_file + n - 4, ".log") == 0)
        return cf_asprintf("%.*s.out", (int)(n - 4), log_file);
    return cf_asprintf("%s.out", log_file);
}

static int
cf_proc_file_cmp(const void *a, const void *b)
{
    return strcmp(((const cf_proc_file_t *)a)->name,
                  ((const cf_proc_file_t *)b)->name);
}

size_t
cf_proc_list_dir(const char *dir, size_t max, cf_proc_file_t **out)
{
    DIR *d = dir != NULL ? opendir(dir) : NULL;
    struct dirent *e;
    cf_proc_file_t *v = NULL;
    int cap = 0;
    size_t n = 0;

    *out = NULL;
    if (d == NULL)
        return 0;
    while ((e = readdir(d)) != NULL && n < max) {
        struct stat st;
        size_t nl = strlen(e->d_name);

        if (e->d_name[0] == '.' &&
            (e->d_name[1] == '\0' ||
             (e->d_name[1] == '.' && e->d_name[2] == '\0')))
            continue;
        if (nl > CF_PROC_MAX_NAME ||
            fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
            !S_ISREG(st.st_mode))
            continue;
        CF_GROW(&v, &cap, (int)n + 1);
        memcpy(v[n].name, e->d_name, nl + 1);
        v[n].size = (int64_t)st.st_size;
        v[n].mtime_ms =
            (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
        n++;
    }
    closedir(d);
    if (n > 1)
        qsort(v, n, sizeof *v, cf_proc_file_cmp);
    *out = v;
    return n;
}

int
cf_proc_plain_name(const char *s)
{
    size_t n = 0;

    if (s == NULL || strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return 0;
    for (; s[n]; n++) {
        unsigned char c = (unsigned char)s[n];
        if (c < 0x20 || c == 0x7f || c == '/' || c == '\\' || c == '%')
            return 0;
        if (n >= CF_PROC_MAX_NAME)
            return 0;
    }
    return n > 0;
}

int
cf_proc_file_range(int fd, int64_t offset, int64_t max, int64_t *off,
                   int64_t *len, int64_t *total)
{
    struct stat st;
    int64_t size;

    *off = *len = *total = 0;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
        return CF_ENOTFOUND;
    size = (int64_t)st.st_size;
    *total = size;
    if (max < 0)
        max = 0;
    if (offset < 0)
        offset = size > max ? size - max : 0;
    if (offset > size)
        offset = size;
    *off = offset;
    *len = size - offset < max ? size - offset : max;
    return 0;
}

int
cf_proc_read_fd(int fd, int64_t offset, int64_t max, char **data, size_t *len,
                int64_t *total)
{
    int64_t n;
    char *buf;
    size_t got = 0;

    *data = NULL;
    *len = 0;
    if (cf_proc_file_range(fd, offset, max, &offset, &n, total) < 0) {
        close(fd);
        return CF_ENOTFOUND;
    }
    buf = cf_malloc((size_t)n + 1);
    while ((int64_t)got < n) {
        ssize_t r = pread(fd, buf + got, (size_t)n - got,
                          (off_t)(offset + (int64_t)got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break; /* truncated meanwhile: what was read */
        got += (size_t)r;
    }
    close(fd);
    buf[got] = '\0';
    *data = buf;
    *len = got;
    return 0;
}

int
cf_proc_open_named(const char *dir, const char *name)
{
    int dfd, fd;

    /* What cf_proc_list_dir lists, checked for this one name (no scan of
     * the directory): a plain name (no '/', '.', '..', '%', control
     * characters) of at most CF_PROC_MAX_NAME bytes, opened relative to
     * dir without following a symlink (the regular-file check is
     * cf_proc_file_range's). Never a path built from the request. */
    if (dir == NULL || !cf_proc_plain_name(name) ||
        strlen(name) > CF_PROC_MAX_NAME)
        return CF_ENOTFOUND;
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return CF_ENOTFOUND;
    fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    close(dfd);
    return fd < 0 ? CF_ENOTFOUND : fd;
}

int
cf_proc_read_named(const char *dir, const char *name, int64_t offset,
                   int64_t max, char **data, size_t *len, int64_t *total)
{
    int fd = cf_proc_open_named(dir, name);

    *data = NULL;
    *len = 0;
    *total = 0;
    if (fd < 0)
        return fd;
    return cf_proc_read_fd(fd, offset, max, data, len, total);
}

/* ------------------------------------------------------------------ */
/* Threads                                                             */
/* ------------------------------------------------------------------ */

const char *
cf_proc_thread_state(char c)
{
    switch (c) {
    case 'R': return "RUNNABLE";
    case 'S': return "WAITING";
    case 'D': return "BLOCKED";
    case 'T':
    case 't': return "STOPPED";
    case 'Z':
    case 'X': return "TERMINATED";
    default: return "UNKNOWN";
    }
}

/* Read a small /proc file into buf (NUL-terminated); bytes or -1. */
static ssize_t
cf_proc_read_small(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n;

    if (fd < 0)
        return -1;
    n = read(fd, buf, size - 1);
    close(fd);
    if (n < 0)
        return -1;
    buf[n] = '\0';
    return n;
}

static int
cf_proc_tid_cmp(const void *a, const void *b)
{
    long x = atol(*(const char *const *)a), y = atol(*(const char *const *)b);
    return x < y ? -1 : x > y;
}

size_t
cf_proc_threads(cf_proc_thread_t **out)
{
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    long tick = sysconf(_SC_CLK_TCK);
    char **tids = NULL;
    int cap = 0, ntid = 0;
    cf_proc_thread_t *v = NULL;
    size_t n = 0;

    *out = NULL;
    if (d == NULL)
        return 0;
    if (tick <= 0)
        tick = 100;
    while ((e = readdir(d)) != NULL) {
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        CF_GROW(&tids, &cap, ntid + 1);
        tids[ntid++] = cf_strdup(e->d_name);
    }
    closedir(d);
    if (ntid > 1)
        qsort(tids, (size_t)ntid, sizeof *tids, cf_proc_tid_cmp);
    if (ntid > 0)
        v = cf_calloc((size_t)ntid, sizeof *v);
    for (int i = 0; i < ntid; i++) {
        char path[300], comm[64], stat[1024], wchan[128];
        char *rp, state = '?';
        unsigned long long ut = 0, st = 0;
        cf_sbuf_t b = {0};

        snprintf(path, sizeof path, "/proc/self/task/%s/comm", tids[i]);
        if (cf_proc_read_small(path, comm, sizeof comm) < 0)
            continue; /* the thread ended meanwhile */
        comm[strcspn(comm, "\n")] = '\0';
        snprintf(path, sizeof path, "/proc/self/task/%s/stat", tids[i]);
        if (cf_proc_read_small(path, stat, sizeof stat) > 0 &&
            (rp = strrchr(stat, ')')) != NULL) {
            /* After "pid (comm)": state is field 3, utime 14, stime 15. */
            if (sscanf(rp + 1,
                       " %c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu "
                       "%llu",
                       &state, &ut, &st) < 1)
                state = '?';
        }
        snprintf(path, sizeof path, "/proc/self/task/%s/wchan", tids[i]);
        if (cf_proc_read_small(path, wchan, sizeof wchan) <= 0)
            wchan[0] = '\0';
        cf_sbuf_printf(&b,
                       "\"%s\" Id=%s %s\n\tcpu user=%llu ms, system=%llu "
                       "ms\n",
                       comm, tids[i], cf_proc_thread_state(state),
                       ut * 1000ULL / (unsigned long long)tick,
                       st * 1000ULL / (unsigned long long)tick);
        if (wchan[0] != '\0' && strcmp(wchan, "0") != 0)
            cf_sbuf_printf(&b, "\twaiting in %s\n", wchan);
        cf_sbuf_append(&b, "\n");
        memcpy(v[n].name, comm, sizeof comm);
        v[n].info = cf_sbuf_take(&b);
        n++;
    }
    for (int i = 0; i < ntid; i++)
        cf_free(tids[i]);
    cf_free(tids);
    if (n == 0) {
        cf_free(v);
        v = NULL;
    }
    *out = v;
    return n;
}

void
cf_proc_threads_free(cf_proc_thread_t *t, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cf_free(t[i].info);
    cf_free(t);
}

/* ------------------------------------------------------------------ */
/* Figures                                                             */
/* ------------------------------------------------------------------ */

int
cf_proc_stats_read(cf_proc_stats_t *s)
{
    cf_prom_proc_t p;
    char buf[256];
    long long vpages = 0;
    long pagesz = sysconf(_SC_PAGESIZE);
    DIR *d;
    struct dirent *e;
    int rc;

    memset(s, 0, sizeof *s);
    rc = cf_prom_proc_read(&p);
    if (rc < 0)
        return rc;
    s->cpu_seconds = p.cpu_seconds;
    s->rss_bytes = p.rss_bytes;
    s->threads = p.threads;
    /* statm: size (pages) first. */
    if (cf_proc_read_small("/proc/self/statm", buf, sizeof buf) > 0 &&
        sscanf(buf, "%lld", &vpages) == 1)
        s->virtual_bytes = vpages * (pagesz > 0 ? pagesz : 4096);
    d = opendir("/proc/self/fd");
    if (d != NULL) {
        while ((e = readdir(d)) != NULL)
            if (isdigit((unsigned char)e->d_name[0]))
                s->fds++;
        closedir(d);
        if (s->fds > 0)
            s->fds--; /* the directory's own descriptor */
    }
    return 0;
}

/* Seconds since the process started (from /proc/self/stat's starttime
 * and /proc/uptime), or 0. */
static double
cf_proc_age_s(void)
{
    char buf[1024], *rp;
    unsigned long long start = 0;
    double up = 0;
    long tick = sysconf(_SC_CLK_TCK);

    if (tick <= 0)
        tick = 100;
    if (cf_proc_read_small("/proc/self/stat", buf, sizeof buf) <= 0 ||
        (rp = strrchr(buf, ')')) == NULL)
        return 0;
    /* starttime is field 22: the 20th after the ')'. */
    if (sscanf(rp + 2,
               "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d "
               "%*d %*d %*d %*d %*d %llu",
               &start) != 1)
        return 0;
    if (cf_proc_read_small("/proc/uptime", buf, sizeof buf) <= 0 ||
        sscanf(buf, "%lf", &up) != 1)
        return 0;
    up -= (double)start / (double)tick;
    return up > 0 ? up : 0;
}

double
cf_proc_cpu_load(cf_proc_cpu_load_t *l, double cpu_s, int64_t now_ms)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    double wall_s, used;

    if (ncpu <= 0)
        ncpu = 1;
    if (l->last_mono_ms == 0) {
        wall_s = cf_proc_age_s();
        used = cpu_s;
    } else {
        if (now_ms - l->last_mono_ms < 250)
            return l->load;
        wall_s = (double)(now_ms - l->last_mono_ms) / 1000.0;
        used = cpu_s - l->last_cpu_s;
    }
    l->last_cpu_s = cpu_s;
    l->last_mono_ms = now_ms;
    if (wall_s > 0 && used >= 0) {
        l->load = used / wall_s / (double)ncpu;
        if (l->load > 1.0)
            l->load = 1.0;
    }
    return l->load;
}
