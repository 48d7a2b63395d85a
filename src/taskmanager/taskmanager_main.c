/*
 * taskmanager_main.c: the cflink-taskmanager daemon (Flink's
 * TaskManagerRunner): start-up (options, configuration, logging: the
 * shared core/daemon.c), the control loop and the shutdown on a signal;
 * the TaskExecutor itself is task_executor.c.
 *
 *   cflink-taskmanager [-c|--configDir <dir>] [-D key=value]...
 *                      [--log-file <path>] [-h] [--version]
 *
 * SIGTERM or SIGINT shuts down gracefully (tasks cancelled, at most a few
 * seconds to end, goodbye to the JobManager, exit 0); a second one exits
 * at once with status 1.
 *
 * With metrics.reporter.prom.factory.class set, the Prometheus reporter
 * (metrics_prom.c) starts once the TaskExecutor exists; when it cannot,
 * the error is logged and the TaskManager runs on without it.
 */
#include "daemon.h"
#include "metrics_prom.h"
#include "taskmanager_int.h"

#ifndef CF_GIT_COMMIT
#define CF_GIT_COMMIT ""
#endif

/* How long a graceful shutdown waits for the tasks to end. */
#define CF_TM_SHUTDOWN_TIMEOUT_MS 5000

static void
cf_tm_on_shutdown(void *arg)
{
    cf_tm_shutdown(arg, CF_TM_SHUTDOWN_TIMEOUT_MS);
}

int
main(int argc, char **argv)
{
    cf_daemon_t d = {
        .prog = "cflink-taskmanager",
        .about = "Starts a cflink TaskManager that registers with the "
                 "JobManager at\n"
                 "jobmanager.rpc.address:jobmanager.rpc.port and runs the "
                 "tasks it is given.\n",
        .entry = "TaskManager",
        .role = "TaskManager",
        .version = CF_VERSION,
        .commit = CF_GIT_COMMIT,
    };
    cf_error_t *err = NULL;
    cf_loop_t *loop = NULL;
    cf_tm_t *tm = NULL;
    cf_tm_prom_t *prom = NULL;
    int rc = cf_daemon_init(&d, argc, argv, &err);

    if (rc <= 0) {
        rc = -rc;
        goto out;
    }
    rc = 1;
    loop = cf_loop_new("taskmanager");
    if (loop == NULL) {
        cf_error_set(&err, CF_EIO, "cannot create the control loop");
        goto out;
    }
    if ((tm = cf_tm_new(loop, d.cfg, &err)) == NULL)
        goto out;
    cf_loop_on_shutdown_signals(loop, cf_tm_on_shutdown, tm);
    /* Optional: a reporter that cannot start is logged, not fatal. */
    prom = cf_tm_prom_start(tm);
    if (cf_tm_start(tm) < 0) {
        cf_error_set(&err, CF_EIO,
                     "cannot connect to the JobManager at "
                     "%s:%d",
                     tm->jm_host, tm->jm_port);
        goto out;
    }
    cf_loop_run(loop);
    cf_log_info("TaskManager %s stopped.", tm->resource_id);
    rc = 0;

out:
    cf_daemon_fail(&d, err);
    cf_tm_prom_destroy(prom); /* before the tasks it reads go */
    cf_tm_destroy(tm);
    if (loop != NULL)
        cf_loop_destroy(loop);
    cf_config_destroy(d.cfg);
    return rc;
}
