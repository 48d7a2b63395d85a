/*
 * rest_ops.c: the JobManager's operational REST endpoints, with Flink's
 * paths and JSON (FLINK_INTERFACES.md; rest_v1_dispatcher.yml):
 *
 *   GET /jobmanager/environment            EnvironmentInfo
 *   GET /jobs/:jobid/jobmanager/environment
 *   GET /jobmanager/log                    the daemon's log (text/plain)
 *   GET /jobmanager/stdout                 its .out file (text/plain)
 *   GET /jobmanager/logs                   LogListInfo of the log directory
 *   GET /jobmanager/logs/:filename         one file of that listing
 *   GET /jobmanager/thread-dump            ThreadDumpInfo from /proc
 *   GET /jobs/:jobid/jobmanager/config     the job's configuration
 *   GET /jobs/:jobid/jobmanager/log-url    LogUrlResponse
 *   GET /jobs/:jobid/taskmanagers/:taskmanagerid/log-url
 *
 * Where the log is (Flink's WebMonitorUtils.LogFileLocation): web.log.path
 * when set, else the --log-file the daemon was started with (read from
 * /proc/self/cmdline, so no start-up state has to be handed over); the
 * stdout file is the log's path with ".log" replaced by ".out" (the
 * daemon script redirects the daemon's stdout and stderr there); the log
 * directory is the log file's directory, else env.log.dir.
 *
 * File names (CVE-2020-17519, RELIABILITY.md): the server percent-decodes
 * the path exactly once; a name that still holds '%', '/', '\', a control
 * character or is "." / ".." is refused with 400, and only a name equal
 * to a regular file of the directory's listing is served (404 else). The
 * file is opened relative to the directory with O_NOFOLLOW and checked to
 * be a regular file again, so a symlink planted in the directory is not
 * followed. Responses hold at most the last min(64 MiB,
 * rest.server.max-content-length) bytes of a file (Flink sends it whole;
 * the tail is what an operator wants from a huge log and keeps memory
 * bounded).
 *
 * Threads: loop only.
 */

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "dispatcher_int.h"
#include "jobmanager_int.h"
#include "rest.h"

#define CF_RO_MAX_FILE ((int64_t)64 << 20)
#define CF_RO_MAX_NAME 255
#define CF_RO_MAX_TMID 128
#define CF_RO_TEXT_TYPE "text/plain; charset=UTF-8"
#define CF_RO_NO_FILE "This file does not exist in JobManager log dir."

/* ------------------------------------------------------------------ */
/* Helpers                                                             */
/* ------------------------------------------------------------------ */

/* A TaskManager id as cflink makes them (resource ids: letters, digits,
 * '-', '_', '.', ':'), bounded. */
static int
cf_ro_tmid_ok(const char *s)
{
    size_t n = 0;

    for (; s[n]; n++) {
        unsigned char c = (unsigned char)s[n];
        if (!isalnum(c) && c != '-' && c != '_' && c != '.' && c != ':')
            return 0;
    }
    return n > 0 && n <= CF_RO_MAX_TMID;
}

/* /proc/self/cmdline as NUL-separated arguments (cf_malloc'd, *len
 * bytes), or NULL. */
static char *
cf_ro_cmdline(size_t *len)
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
    return b.len > 0 ? cf_sbuf_take(&b) : (cf_sbuf_deinit(&b), NULL);
}

/* The JobManager's log file (cf_malloc'd), or NULL when it logs to
 * stderr. */
static char *
cf_ro_log_file(const cf_jm_t *jm)
{
    const char *p = cf_config_get(jm->cfg, "web.log.path");
    char *cmd, *res = NULL;
    size_t len, i = 0;

    if (p != NULL && *p != '\0')
        return cf_strdup(p);
    cmd = cf_ro_cmdline(&len);
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
        /* Relative to where the daemon started: keep it usable if the
         * working directory is the same (it is never changed). */
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

/* The log directory (cf_malloc'd), or NULL. */
static char *
cf_ro_log_dir(const cf_jm_t *jm)
{
    char *f = cf_ro_log_file(jm);
    const char *d;

    if (f != NULL) {
        char *slash = strrchr(f, '/');
        if (slash != NULL) {
            if (slash == f)
                slash[1] = '\0';
            else
                *slash = '\0';
            return f;
        }
        cf_free(f);
    }
    d = cf_config_get(jm->cfg, "env.log.dir");
    return d != NULL && *d != '\0' ? cf_strdup(d) : NULL;
}

static int64_t
cf_ro_max_body(const cf_jm_t *jm)
{
    int64_t m = cf_config_get_int(jm->cfg, "rest.server.max-content-length",
                                  104857600);
    return m > 0 && m < CF_RO_MAX_FILE ? m : CF_RO_MAX_FILE;
}

/* Answer with the tail of the open file fd (closed here). */
static json_t *
cf_ro_send_fd(cf_jm_t *jm, cf_rest_req_t *req, int fd, int *status)
{
    struct stat st;
    int64_t max = cf_ro_max_body(jm), off = 0, size;
    char *data;
    size_t got = 0;

    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return cf_rest_error(status, 404, CF_RO_NO_FILE);
    }
    size = st.st_size;
    if (size > max) {
        off = size - max;
        size = max;
    }
    data = cf_malloc((size_t)size + 1);
    while ((int64_t)got < size) {
        ssize_t n = pread(fd, data + got, (size_t)size - got,
                          (off_t)(off + (int64_t)got));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; /* truncated meanwhile: send what was read */
        got += (size_t)n;
    }
    close(fd);
    *status = 200;
    cf_rest_respond_raw(req, CF_RO_TEXT_TYPE, data, got);
    return NULL;
}

/* Answer with the file at path, or 404. */
static json_t *
cf_ro_send_path(cf_jm_t *jm, cf_rest_req_t *req, const char *path,
                int *status)
{
    int fd = path != NULL ? open(path, O_RDONLY | O_CLOEXEC) : -1;

    if (fd < 0)
        return cf_rest_error(status, 404, CF_RO_NO_FILE);
    return cf_ro_send_fd(jm, req, fd, status);
}

static int
cf_ro_name_cmp(const void *a, const void *b)
{
    return strcmp(json_string_value(json_object_get(*(json_t *const *)a,
                                                    "name")),
                  json_string_value(json_object_get(*(json_t *const *)b,
                                                    "name")));
}

/* The LogInfo entries of the regular files of dir (symlinks, directories
 * and others left out), sorted by name. */
static json_t *
cf_ro_list_dir(const char *dir)
{
    json_t *arr = json_array();
    DIR *d = dir != NULL ? opendir(dir) : NULL;
    struct dirent *e;
    json_t **v;
    size_t n;

    if (d == NULL)
        return arr;
    while ((e = readdir(d)) != NULL) {
        struct stat st;
        json_t *o;

        if (e->d_name[0] == '.' &&
            (e->d_name[1] == '\0' ||
             (e->d_name[1] == '.' && e->d_name[2] == '\0')))
            continue;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
            !S_ISREG(st.st_mode))
            continue;
        o = json_object();
        json_object_set_new(o, "name", json_string(e->d_name));
        json_object_set_new(o, "size", json_integer((json_int_t)st.st_size));
        json_object_set_new(
            o, "mtime",
            json_integer((json_int_t)st.st_mtim.tv_sec * 1000 +
                         st.st_mtim.tv_nsec / 1000000));
        json_array_append_new(arr, o);
    }
    closedir(d);
    /* Sort in place through the array's items. */
    n = json_array_size(arr);
    if (n > 1) {
        json_t *sorted = json_array();
        v = cf_calloc(n, sizeof *v);
        for (size_t i = 0; i < n; i++)
            v[i] = json_array_get(arr, i);
        qsort(v, n, sizeof *v, cf_ro_name_cmp);
        for (size_t i = 0; i < n; i++)
            json_array_append(sorted, v[i]);
        cf_free(v);
        json_decref(arr);
        arr = sorted;
    }
    return arr;
}

/* Whether a (once decoded) file name parameter is a plain name: no
 * separator, no '%' left (a doubly encoded "%252f" arrives as "%2f"), no
 * control character, not "." or "..". */
static int
cf_ro_plain_name(const char *s)
{
    size_t n = 0;

    if (strcmp(s, ".") == 0 || strcmp(s, "..") == 0)
        return 0;
    for (; s[n]; n++) {
        unsigned char c = (unsigned char)s[n];
        if (c < 0x20 || c == 0x7f || c == '/' || c == '\\' || c == '%')
            return 0;
    }
    return n > 0 && n <= CF_RO_MAX_NAME;
}

/* ------------------------------------------------------------------ */
/* Handlers                                                            */
/* ------------------------------------------------------------------ */

static json_t *
cf_ro_environment_dto(void)
{
    json_t *o = json_object(), *jvm = json_object(), *opts = json_array();
    struct utsname u;
    char *cmd;
    size_t len, i = 0;

    json_object_set_new(jvm, "version",
                        json_string("cflink " CF_VERSION " (C11, no JVM)"));
    json_object_set_new(jvm, "arch",
                        json_string(uname(&u) == 0 ? u.machine : "unknown"));
    /* The process's arguments stand for the JVM options. */
    cmd = cf_ro_cmdline(&len);
    while (cmd != NULL && i < len) {
        json_array_append_new(opts, json_string(cmd + i));
        i += strlen(cmd + i) + 1;
    }
    cf_free(cmd);
    json_object_set_new(jvm, "options", opts);
    json_object_set_new(o, "jvm", jvm);
    json_object_set_new(o, "classpath", json_array());
    return o;
}

static json_t *
cf_ro_environment(cf_rest_req_t *req, cf_jm_t *jm, int *status)
{
    (void)req;
    (void)jm;
    *status = 200;
    return cf_ro_environment_dto();
}

static json_t *
cf_ro_job_environment(cf_rest_req_t *req, cf_jm_t *jm, int *status)
{
    json_t *err = NULL;

    if (cf_rest_job_param(jm, req, 0, status, &err) == NULL)
        return err;
    *status = 200;
    return cf_ro_environment_dto();
}

static json_t *
cf_ro_log(cf_rest_req_t *req, cf_jm_t *jm, int *status)
{
    char *f = cf_ro_log_file(jm);
    json_t *r = cf_ro_send_path(jm, req, f, status);

    cf_free(f);
    return r;
}

static json_t *
cf_ro_stdout(cf_rest_req_t *req, cf_jm_t *jm, int *status)
{
    char *f = cf_ro_log_file(jm), *out = NULL;
    json_t *r;

    if (f != NULL) {
        size_t n = strlen(f);
        if (n > 4 && strcmp(f + n - 4, ".log") == 0)
            out = cf_asprintf("%.*s.out", (int)(n - 4), f);
        else
            out = cf_asprintf("%s.out", f);
    }
    r = cf_ro_send_path(jm, req, out, status);
    cf_free(out);
    cf_free(f);
    return r;
}

static json_t *
cf_ro_logs(cf_rest_req_t *req, cf_jm_t *jm, int *status)
{
    char *dir = cf_ro_log_dir(jm);
    json_t *o = json_object();

    (void)req;
    json_object_set_new(o, "logs", cf_ro_list_dir(dir));
    cf_free(dir);
    *status = 200;
    return o;
}

static json_t *
cf_ro_log_named(cf_rest_req_t *req, cf_jm_t *jm, int *status)
{
    const char *name = req->nparams > 0 ? req->params[0] : "";
    char *dir;
    json_t *list;
    int found = 0, dfd, fd;

    if (!cf_ro_plain_name(name))
        return cf_rest_bad_path_param(status, "filename", name);
    dir = cf_ro_log_dir(jm);
    if (dir == NULL)
        return cf_rest_error(status, 404, CF_RO_NO_FILE);
    /* Only a name of the listing: never a path built from the request. */
    list = cf_ro_list_dir(dir);
    for (size_t i = 0; i < json_array_size(list) && !found; i++)
        found = strcmp(json_string_value(json_object_get(
                           json_array_get(list, i), "name")),
                       name) == 0;
    json_decref(list);
    if (!found) {
        cf_free(dir);
        return cf_rest_error(status, 404, CF_RO_NO_FILE);
    }
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    cf_free(dir);
    fd = dfd >= 0 ? openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC) : -1;
    if (dfd >= 0)
        close(dfd);
    if (fd < 0)
        return cf_rest_error(status, 404, CF_RO_NO_FILE);
    return cf_ro_send_fd(jm, req, fd, status);
}

static const char *
cf_ro_thread_state(char c)
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
cf_ro_read_small(const char *path, char *buf, size_t size)
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

static json_t *
cf_ro_thread_dump(cf_rest_req_t *req, cf_jm_t *jm, int *status)
{
    json_t *o = json_object(), *arr = json_array();
    DIR *d = opendir("/proc/self/task");
    struct dirent *e;
    long tick = sysconf(_SC_CLK_TCK);

    (void)req;
    (void)jm;
    if (tick <= 0)
        tick = 100;
    while (d != NULL && (e = readdir(d)) != NULL) {
        char path[300], comm[64], stat[1024];
        char *rp, state = '?';
        unsigned long long ut = 0, st = 0;
        json_t *t;
        char *info;

        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        if (cf_ro_read_small(path, comm, sizeof comm) < 0)
            continue; /* the thread ended meanwhile */
        comm[strcspn(comm, "\n")] = '\0';
        snprintf(path, sizeof path, "/proc/self/task/%s/stat", e->d_name);
        if (cf_ro_read_small(path, stat, sizeof stat) > 0 &&
            (rp = strrchr(stat, ')')) != NULL) {
            /* After "pid (comm)": state is field 3, utime 14, stime 15. */
            if (sscanf(rp + 1,
                       " %c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu "
                       "%llu",
                       &state, &ut, &st) < 1)
                state = '?';
        }
        info = cf_asprintf("\"%s\" Id=%s %s\n\tcpu user=%llu ms, "
                           "system=%llu ms\n\n",
                           comm, e->d_name, cf_ro_thread_state(state),
                           ut * 1000ULL / (unsigned long long)tick,
                           st * 1000ULL / (unsigned long long)tick);
        t = json_object();
        json_object_set_new(t, "threadName", json_string(comm));
        json_object_set_new(t, "stringifiedThreadInfo", json_string(info));
        cf_free(info);
        json_array_append_new(arr, t);
    }
    if (d != NULL)
        closedir(d);
    json_object_set_new(o, "threadInfos", arr);
    *status = 200;
    return o;
}

static void
cf_ro_cfg_each(const char *key, const char *value, int is_set, void *ud)
{
    json_t *e;

    if (!is_set)
        return;
    e = json_object();
    json_object_set_new(e, "key", json_string(key));
    json_object_set_new(e, "value",
                        json_string(cf_config_key_is_sensitive(key)
                                        ? CF_CONFIG_HIDDEN_VALUE
                                        : (value ? value : "")));
    json_array_append_new(ud, e);
}

static json_t *
cf_ro_job_config(cf_rest_req_t *req, cf_jm_t *jm, int *status)
{
    json_t *err = NULL, *arr;
    cf_jobmaster_t *j = cf_rest_job_param(jm, req, 0, status, &err);

    if (j == NULL)
        return err;
    arr = json_array();
    cf_config_foreach(j->job_cfg != NULL ? j->job_cfg : jm->cfg,
                      cf_ro_cfg_each, arr);
    *status = 200;
    return arr;
}

/* "<rest base url>": http://rest.address:port. */
static char *
cf_ro_base_url(const cf_jm_t *jm)
{
    const char *a = cf_config_get(jm->cfg, "rest.address");

    if (a == NULL || *a == '\0')
        a = "localhost";
    return cf_asprintf("http://%s:%d", a, cf_rest_port(jm->rest));
}

static json_t *
cf_ro_jm_log_url(cf_rest_req_t *req, cf_jm_t *jm, int *status)
{
    json_t *err = NULL, *o;
    char *base, *url;

    if (cf_rest_job_param(jm, req, 0, status, &err) == NULL)
        return err;
    base = cf_ro_base_url(jm);
    url = cf_asprintf("%s/#/job-manager/logs", base);
    o = json_pack("{s:s}", "url", url);
    cf_free(url);
    cf_free(base);
    *status = 200;
    return o;
}

static json_t *
cf_ro_tm_log_url(cf_rest_req_t *req, cf_jm_t *jm, int *status)
{
    json_t *err = NULL, *o;
    const char *tm = req->nparams > 1 ? req->params[1] : "";
    char *base, *url;

    if (cf_rest_job_param(jm, req, 0, status, &err) == NULL)
        return err;
    if (!cf_ro_tmid_ok(tm))
        return cf_rest_bad_path_param(status, "taskmanagerid", tm);
    base = cf_ro_base_url(jm);
    url = cf_asprintf("%s/#/task-manager/%s/logs", base, tm);
    o = json_pack("{s:s}", "url", url);
    cf_free(url);
    cf_free(base);
    *status = 200;
    return o;
}

/* ------------------------------------------------------------------ */
/* Registration                                                        */
/* ------------------------------------------------------------------ */

typedef json_t *(*cf_ro_fn)(cf_rest_req_t *req, cf_jm_t *jm, int *status);

typedef struct cf_ro_entry_s {
    const char *method;
    const char *pattern;
    cf_ro_fn fn;
    cf_jm_t *jm;
} cf_ro_entry_t;

static json_t *
cf_ro_dispatch(cf_rest_req_t *req, void *arg, int *status)
{
    cf_ro_entry_t *en = arg;

    /* AbstractHandler: no file parts here. */
    if (req->upload_path != NULL) {
        unlink(req->upload_path);
        return cf_rest_error(status, 400, "File uploads not allowed.");
    }
    *status = 200;
    return en->fn(req, en->jm, status);
}

static cf_ro_entry_t cf_ro_routes[] = {
    {"GET", "/jobmanager/environment", cf_ro_environment, NULL},
    {"GET", "/jobmanager/log", cf_ro_log, NULL},
    {"GET", "/jobmanager/stdout", cf_ro_stdout, NULL},
    {"GET", "/jobmanager/logs", cf_ro_logs, NULL},
    {"GET", "/jobmanager/logs/:filename", cf_ro_log_named, NULL},
    {"GET", "/jobmanager/thread-dump", cf_ro_thread_dump, NULL},
    {"GET", "/jobs/:jobid/jobmanager/config", cf_ro_job_config, NULL},
    {"GET", "/jobs/:jobid/jobmanager/environment", cf_ro_job_environment,
     NULL},
    {"GET", "/jobs/:jobid/jobmanager/log-url", cf_ro_jm_log_url, NULL},
    {"GET", "/jobs/:jobid/taskmanagers/:taskmanagerid/log-url",
     cf_ro_tm_log_url, NULL},
};

void
cf_rest_ops_register(cf_jm_t *jm)
{
    for (size_t i = 0; i < CF_ARRAY_LEN(cf_ro_routes); i++) {
        cf_ro_routes[i].jm = jm;
        cf_rest_route(jm->rest, cf_ro_routes[i].method,
                      cf_ro_routes[i].pattern, cf_ro_dispatch,
                      &cf_ro_routes[i]);
    }
}
