/*
 * taskmanager_main.c: the cflink-taskmanager daemon (Flink's
 * TaskManagerRunner): options, configuration, logging, signals; the
 * TaskExecutor itself is task_executor.c.
 *
 *   cflink-taskmanager [-c|--configDir <dir>] [-D key=value]...
 *                      [--log-file <path>] [-h] [--version]
 *
 * SIGTERM or SIGINT shuts down gracefully (tasks cancelled, at most a few
 * seconds to end, goodbye to the JobManager, exit 0); a second one exits
 * at once with status 1.
 */
#include <getopt.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "taskmanager_int.h"

#ifndef CF_GIT_COMMIT
#define CF_GIT_COMMIT ""
#endif

/* How long a graceful shutdown waits for the tasks to end. */
#define CF_TM_SHUTDOWN_TIMEOUT_MS 5000

typedef struct cf_tm_main_s {
    cf_tm_t *tm;
    cf_loop_t *loop;
    int signals;
} cf_tm_main_t;

static void
cf_tm_usage(FILE *out)
{
    fprintf(out, "Usage: cflink-taskmanager [options]\n"
                 "\n"
                 "Starts a cflink TaskManager that registers with the "
                 "JobManager at\n"
                 "jobmanager.rpc.address:jobmanager.rpc.port and runs the "
                 "tasks it is given.\n"
                 "\n"
                 "Options:\n"
                 "  -c,--configDir <dir>   Directory of config.yaml (default: "
                 "$CFLINK_CONF_DIR,\n"
                 "                         else <install dir>/conf)\n"
                 "  -D <key=value>         Set a configuration value "
                 "(repeatable)\n"
                 "     --log-file <path>   Append the log to this file "
                 "instead of stderr\n"
                 "  -h,--help              Print this help and exit\n"
                 "     --version           Print the version and exit\n");
}

static void
cf_tm_on_signal(void *arg, const char *name, int signum)
{
    cf_tm_main_t *m = arg;
    if (m->signals++ > 0) {
        cf_log_warn("RECEIVED SIGNAL %d: %s again. Exiting immediately.",
                    signum, name);
        _exit(1);
    }
    cf_log_info("RECEIVED SIGNAL %d: %s. Shutting down as requested.", signum,
                name);
    cf_tm_shutdown(m->tm, CF_TM_SHUTDOWN_TIMEOUT_MS);
}

static void
cf_tm_on_sigterm(void *arg)
{
    cf_tm_on_signal(arg, "SIGTERM", SIGTERM);
}

static void
cf_tm_on_sigint(void *arg)
{
    cf_tm_on_signal(arg, "SIGINT", SIGINT);
}

int
main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"configDir", required_argument, NULL, 'c'},
        {"log-file", required_argument, NULL, 'L'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    const char *conf_dir = NULL, *log_file = NULL, *lvl;
    char **defs = cf_calloc((size_t)argc + 1, sizeof(char *));
    int ndefs = 0, opt, rc = 1;
    cf_config_t *cfg = NULL;
    cf_error_t *err = NULL;
    cf_tm_main_t m;

    memset(&m, 0, sizeof m);
    while ((opt = getopt_long(argc, argv, "c:D:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c': conf_dir = optarg; break;
        case 'D': defs[ndefs++] = optarg; break;
        case 'L': log_file = optarg; break;
        case 'h':
            cf_tm_usage(stdout);
            cf_free(defs);
            return 0;
        case 'V':
            if (*CF_GIT_COMMIT)
                printf("Version: %s, Commit ID: %s\n", CF_VERSION,
                       CF_GIT_COMMIT);
            else
                printf("Version: %s\n", CF_VERSION);
            cf_free(defs);
            return 0;
        default:
            cf_tm_usage(stderr);
            cf_free(defs);
            return 1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "cflink-taskmanager: unexpected argument '%s'\n",
                argv[optind]);
        cf_tm_usage(stderr);
        cf_free(defs);
        return 1;
    }
    if (log_file != NULL && cf_log_open(log_file) < 0) {
        fprintf(stderr, "cflink-taskmanager: cannot open log file %s\n",
                log_file);
        cf_free(defs);
        return 1;
    }
    cf_log_set_thread_name("main");

    cfg = cf_config_new();
    if ((conf_dir != NULL ? cf_config_load_dir(cfg, conf_dir, &err)
                          : cf_config_load_default(cfg, &err)) < 0)
        goto out;
    for (int i = 0; i < ndefs; i++)
        if (cf_config_set_kv(cfg, defs[i], &err) < 0)
            goto out;
    lvl = cf_config_get(cfg, "cflink.log.level");
    if (lvl != NULL && cf_log_parse_level(lvl) >= 0)
        cf_log_set_level(cf_log_parse_level(lvl));

    cf_log_info("------------------------------------------------------"
                "--------------------------");
    cf_log_info(" Starting TaskManager (Version: %s, Rev:%s)", CF_VERSION,
                *CF_GIT_COMMIT ? CF_GIT_COMMIT : "unknown");
    cf_log_info(" PID: %d", (int)getpid());
    cf_log_info("------------------------------------------------------"
                "--------------------------");
    cf_config_log(cfg);
    signal(SIGPIPE, SIG_IGN);

    m.loop = cf_loop_new("taskmanager");
    if (m.loop == NULL) {
        cf_error_set(&err, CF_EIO, "cannot create the control loop");
        goto out;
    }
    if ((m.tm = cf_tm_new(m.loop, cfg, &err)) == NULL)
        goto out;
    cf_loop_on_signal(m.loop, SIGTERM, cf_tm_on_sigterm, &m);
    cf_loop_on_signal(m.loop, SIGINT, cf_tm_on_sigint, &m);
    if (cf_tm_start(m.tm) < 0) {
        cf_error_set(&err, CF_EIO,
                     "cannot connect to the JobManager at "
                     "%s:%d",
                     m.tm->jm_host, m.tm->jm_port);
        goto out;
    }
    cf_loop_run(m.loop);
    cf_log_info("TaskManager %s stopped.", m.tm->resource_id);
    rc = 0;

out:
    if (err != NULL) {
        cf_log_error("Could not start the TaskManager: %s", cf_error_msg(err));
        if (log_file != NULL)
            fprintf(stderr, "cflink-taskmanager: %s\n", cf_error_msg(err));
        cf_error_free(err);
    }
    cf_tm_destroy(m.tm);
    if (m.loop != NULL)
        cf_loop_destroy(m.loop);
    cf_config_destroy(cfg);
    cf_free(defs);
    return rc;
}
