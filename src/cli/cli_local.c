/*
 * cli_local.c: the actions that need no cluster: "run -t local" runs the
 * job inside this process (Flink's MiniCluster) and "info" prints the
 * job's plan. Both load the plugin and run its entry here.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "connectors.h"
#include "runtime.h"

static int
cf_cli_build(cf_config_t *cfg, cf_cli_opts_t *o, cf_plugin_lib_t **lib,
             cf_job_t **job)
{
    cf_error_t *err = NULL;
    cf_job_opts_t jo = {o->parallelism, o->argc, o->argv, NULL};

    if (cf_plugin_open(o->plugin, lib, &err) < 0) {
        fprintf(stderr, "cflink: %s\n", cf_error_msg(err));
        cf_error_free(err);
        return -1;
    }
    if (cf_job_build(*lib, cfg, &jo, job, &err) < 0) {
        fprintf(stderr, "cflink: %s: %s\n", o->plugin, cf_error_msg(err));
        cf_error_free(err);
        return -1;
    }
    return 0;
}

int
cf_cli_info(cf_config_t *cfg, cf_cli_opts_t *o)
{
    cf_plugin_lib_t *lib = NULL;
    cf_job_t *job = NULL;
    int rc = 1;

    cf_cli_setup_log(cfg);
    if (cf_cli_build(cfg, o, &lib, &job) < 0)
        goto out;
    char *plan = cf_job_plan_json(job, 1);
    printf("----------------------- Execution Plan -----------------------\n"
           "%s\n" CF_CLI_LINE62 "\n\n",
           plan);
    const char *desc = cf_plugin_description(lib);
    printf("%s\n", desc && *desc ? desc : "No description provided.");
    free(plan);
    rc = 0;
out:
    cf_job_destroy(job);
    cf_conn_free_all();
    cf_plugin_close(lib);
    return rc;
}

int
cf_cli_run_local(cf_config_t *cfg, cf_cli_opts_t *o)
{
    cf_plugin_lib_t *lib = NULL;
    cf_job_t *job = NULL;
    cf_local_result_t res = {0};
    cf_error_t *err = NULL;
    int rc = 1;

    if (o->detached) {
        fprintf(stderr, "cflink: -d (detached) needs a cluster; -t local "
                        "runs attached\n");
        return 1;
    }
    cf_cli_setup_log(cfg);
    cf_config_log(cfg);
    if (cf_cli_build(cfg, o, &lib, &job) < 0)
        goto out;

    cf_cli_install_signals(1);
    printf("Job has been submitted with JobID %s\n", cf_job_id_hex(job));
    fflush(stdout);
    if (cf_job_run_local(job, &cf_cli_interrupted, &res, &err) < 0 &&
        res.failure == NULL) {
        cf_cli_banner(CF_CLI_EXC_PROGRAM, cf_error_msg(err), NULL, NULL);
        goto out;
    }
    fflush(stdout);
    switch (res.status) {
    case CF_JOB_FINISHED:
        printf("Program execution finished\n"
               "Job with JobID %s has finished.\n"
               "Job Runtime: %lld ms\n",
               cf_job_id_hex(job), (long long)(res.end_ms - res.start_ms));
        rc = 0;
        break;
    case CF_JOB_CANCELED:
        cf_cli_banner(CF_CLI_EXC_CANCELLATION, "Job was cancelled.", NULL,
                      NULL);
        rc = 130;
        break;
    default: {
        char *m = cf_asprintf("Job execution failed.\nCaused by: %s",
                              res.failure ? res.failure : "unknown cause");
        cf_cli_banner(CF_CLI_EXC_EXECUTION, m, NULL, NULL);
        cf_free(m);
        break;
    }
    }
out:
    fflush(stdout);
    free(res.failure);
    cf_error_free(err);
    cf_job_destroy(job);
    cf_conn_free_all();
    cf_plugin_close(lib);
    return rc;
}
