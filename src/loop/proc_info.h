/*
 * proc_info.h: what both daemons tell about their own process, read from
 * /proc/self: the log file and its directory, the files of that
 * directory, bounded reads of one of them, the threads (for Flink's
 * thread dump) and the process figures that stand in for Flink's
 * Status.JVM.* metrics (Status.Process.*).
 *
 * The JobManager serves these directly over REST (rest_ops.c); the
 * TaskManager answers them over RPC (tm_ops.c) and the JobManager's REST
 * API relays the answer.
 *
 * Threads: any (no shared state; cf_proc_cpu_load_t belongs to its
 * caller).
 */
#ifndef CF_LOOP_PROC_INFO_H
#define CF_LOOP_PROC_INFO_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "core.h"

/* Longest file name served from a log directory. */
#define CF_PROC_MAX_NAME 255

/* The daemon's log file (cf_malloc'd), or NULL when it logs to stderr:
 * configured (a key such as web.log.path; NULL or "": not set), else
 * the --log-file argument the daemon was started with (read from
 * /proc/self/cmdline), made absolute against the working directory. */
char *cf_proc_log_file(const char *configured);
/* The log file's directory, else env.log.dir of cfg (cf_malloc'd), or
 * NULL. log_file may be NULL. */
char *cf_proc_log_dir(const char *log_file, const cf_config_t *cfg);
/* The stdout file of a log file: ".log" replaced by ".out" (or ".out"
 * appended), as scripts/cflink-daemon.sh names it. cf_malloc'd; NULL for
 * a NULL log_file. */
char *cf_proc_out_file(const char *log_file);

/* /proc/self/cmdline as NUL-separated arguments (cf_malloc'd, *len
 * bytes), or NULL. */
char *cf_proc_cmdline(size_t *len);

/* One regular file of a log directory. */
typedef struct cf_proc_file_s {
    char name[CF_PROC_MAX_NAME + 1];
    int64_t size;
    int64_t mtime_ms;
} cf_proc_file_t;

/* The regular files of dir (symlinks, directories and names longer than
 * CF_PROC_MAX_NAME left out), sorted by name, at most max of them.
 * *out (cf_free) gets the array; returns the count, 0 with *out NULL
 * when dir is NULL, missing or empty. */
size_t cf_proc_list_dir(const char *dir, size_t max, cf_proc_file_t **out);

/* Whether a (decoded) file name is a plain name: not empty, at most
 * CF_PROC_MAX_NAME bytes, no '/', '\', '%' (a doubly encoded "%252f"
 * arrives as "%2f"), control character, and not "." or "..". */
int cf_proc_plain_name(const char *s);

/* Read from the regular file fd (closed here): at offset >= 0, at most
 * max bytes from there; offset < 0: the last max bytes (the tail). *data
 * (cf_free) gets the bytes, *len their count, *total the file's size.
 * 0, or a negative code (CF_ENOTFOUND: not a regular file). */
/* The bytes of the open file fd such a read covers: *off and *len (at
 * most max from offset, or the last max bytes when offset < 0), *total
 * the file's size. 0, or CF_ENOTFOUND when fd is not a regular file
 * (fd stays open). */
int cf_proc_file_range(int fd, int64_t offset, int64_t max, int64_t *off,
                       int64_t *len, int64_t *total);
int cf_proc_read_fd(int fd, int64_t offset, int64_t max, char **data,
                    size_t *len, int64_t *total);
/* The same for the plain name in dir, which must be a name
 * cf_proc_list_dir would list (a regular file directly in dir, not a
 * symlink; else CF_ENOTFOUND); opened relative to dir with O_NOFOLLOW,
 * without scanning the directory. */
/* The plain name in dir opened for reading as cf_proc_read_named does,
 * or CF_ENOTFOUND. */
int cf_proc_open_named(const char *dir, const char *name);
int cf_proc_read_named(const char *dir, const char *name, int64_t offset,
                       int64_t max, char **data, size_t *len, int64_t *total);

/* One thread of the process, as Flink's ThreadDumpInfo.ThreadInfo. */
typedef struct cf_proc_thread_s {
    char name[64];
    char *info; /* Flink's stringifiedThreadInfo (cf_malloc'd) */
} cf_proc_thread_t;

/* The threads of this process from /proc/self/task/<tid>/{comm,stat,
 * wchan}, in tid order: "\"name\" Id=<tid> <STATE>\n\tcpu user=.. ms,
 * system=.. ms\n\twaiting in <wchan>\n\n". Returns the count; free with
 * cf_proc_threads_free. */
size_t cf_proc_threads(cf_proc_thread_t **out);
void cf_proc_threads_free(cf_proc_thread_t *t, size_t n);
/* Flink's Thread.State for a /proc state letter. */
const char *cf_proc_thread_state(char c);

/* Process figures (Status.Process.*). */
typedef struct cf_proc_stats_s {
    double cpu_seconds; /* user + system */
    int64_t rss_bytes;
    int64_t virtual_bytes;
    int64_t threads;
    int64_t fds; /* open file descriptors */
} cf_proc_stats_t;
/* 0, or a negative code when /proc/self/stat cannot be read. */
int cf_proc_stats_read(cf_proc_stats_t *s);

/* Status.Process.CPU.Load: the process's share of the machine's CPU
 * time (0..1, as Flink's Status.JVM.CPU.Load, the JVM's
 * getProcessCpuLoad) since the previous sample. The caller keeps one per
 * daemon; the first sample gives the average since the process started. */
typedef struct cf_proc_cpu_load_s {
    double last_cpu_s;
    int64_t last_mono_ms;
    double load;
} cf_proc_cpu_load_t;
/* Update with a fresh sample (cpu seconds, monotonic ms) and return the
 * load; samples closer than 250 ms to the previous keep its value. */
double cf_proc_cpu_load(cf_proc_cpu_load_t *l, double cpu_s, int64_t now_ms);

#endif /* CF_LOOP_PROC_INFO_H */
