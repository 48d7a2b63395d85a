/*
 * runtime.h: what the runtime module offers the layers above it (the CLI
 * now; the JobManager and TaskManager daemons next): loading a job
 * plugin, building its StreamGraph and JobGraph, printing the JSON plan,
 * and running a job in this process (Flink's MiniCluster, "-t local").
 */
#ifndef CF_RUNTIME_H
#define CF_RUNTIME_H

#include <signal.h>
#include <stdint.h>

#include "config.h"
#include "core.h"

/* ------------------------------------------------------------------ */
/* States with Flink's names (JobStatus, ExecutionState).              */
/* ------------------------------------------------------------------ */

#define CF_JOB_STATUS_MAP(XX)                                                \
    XX(INITIALIZING)                                                         \
    XX(CREATED)                                                              \
    XX(RUNNING)                                                              \
    XX(FAILING)                                                              \
    XX(FAILED)                                                               \
    XX(CANCELLING)                                                           \
    XX(CANCELED)                                                             \
    XX(FINISHED)                                                             \
    XX(RESTARTING)                                                           \
    XX(SUSPENDED)                                                            \
    XX(RECONCILING)

typedef enum cf_job_status_e {
#define CF__XX(n) CF_JOB_##n,
    CF_JOB_STATUS_MAP(CF__XX)
#undef CF__XX
        CF_JOB_STATUS_COUNT
} cf_job_status_t;

#define CF_EXEC_STATE_MAP(XX)                                                \
    XX(CREATED)                                                              \
    XX(SCHEDULED)                                                            \
    XX(DEPLOYING)                                                            \
    XX(RUNNING)                                                              \
    XX(FINISHED)                                                             \
    XX(CANCELING)                                                            \
    XX(CANCELED)                                                             \
    XX(FAILED)                                                               \
    XX(RECONCILING)                                                          \
    XX(INITIALIZING)

typedef enum cf_exec_state_e {
#define CF__XX(n) CF_EXEC_##n,
    CF_EXEC_STATE_MAP(CF__XX)
#undef CF__XX
        CF_EXEC_STATE_COUNT
} cf_exec_state_t;

const char *cf_job_status_name(cf_job_status_t s);
const char *cf_exec_state_name(cf_exec_state_t s);
int cf_job_status_is_globally_terminal(cf_job_status_t s);
int cf_exec_state_is_terminal(cf_exec_state_t s);
/* Whether a transition is legal (Flink's state machines). */
int cf_job_status_can_move(cf_job_status_t from, cf_job_status_t to);
int cf_exec_state_can_move(cf_exec_state_t from, cf_exec_state_t to);

/* ------------------------------------------------------------------ */
/* Plugins                                                             */
/* ------------------------------------------------------------------ */

typedef struct cf_plugin_lib_s cf_plugin_lib_t;

/* Check the file (an ELF shared library with a .cflink_abi section of a
 * compatible version) before any of its code runs, then load it. Errors
 * name the file and the reason. */
int cf_plugin_open(const char *path, cf_plugin_lib_t **out,
                   cf_error_t **errp);
void cf_plugin_close(cf_plugin_lib_t *lib);
const char *cf_plugin_name(const cf_plugin_lib_t *lib);
const char *cf_plugin_description(const cf_plugin_lib_t *lib);
const char *cf_plugin_path(const cf_plugin_lib_t *lib);
/* Only the ABI check (no loading): 0 or an error naming the file. */
int cf_plugin_check_file(const char *path, cf_error_t **errp);

/* ------------------------------------------------------------------ */
/* Jobs                                                                */
/* ------------------------------------------------------------------ */

typedef struct cf_job_s cf_job_t;

typedef struct cf_job_opts_s {
    int parallelism; /* -p; <= 0: parallelism.default */
    int argc;        /* program arguments; argv[0] is the plugin path */
    char **argv;
    const char *job_id_hex; /* NULL: random */
} cf_job_opts_t;

/* Run the plugin's entry to build the StreamGraph, then derive the
 * JobGraph (chaining). cfg is borrowed and must outlive the job. */
int cf_job_build(cf_plugin_lib_t *lib, const cf_config_t *cfg,
                 const cf_job_opts_t *opts, cf_job_t **out,
                 cf_error_t **errp);
void cf_job_destroy(cf_job_t *job);
const char *cf_job_name(const cf_job_t *job);
const char *cf_job_id_hex(const cf_job_t *job);
/* Flink's JSON plan ({"jid","name","type","nodes":[...]}); free() it. */
char *cf_job_plan_json(const cf_job_t *job, int pretty);
/* The JobGraph as a protobuf message (cflink.JobGraph); free() it. */
int cf_job_encode(const cf_job_t *job, uint8_t **buf, size_t *len);

/* ------------------------------------------------------------------ */
/* Local execution (MiniCluster)                                       */
/* ------------------------------------------------------------------ */

typedef struct cf_local_result_s {
    cf_job_status_t status; /* FINISHED, FAILED or CANCELED */
    int64_t start_ms;
    int64_t end_ms;
    char *failure; /* the root cause when FAILED (free()) */
} cf_local_result_t;

/* Run the job in this process until it ends. *cancel (set from a signal
 * handler, for instance) cancels it. */
int cf_job_run_local(cf_job_t *job, const volatile sig_atomic_t *cancel,
                     cf_local_result_t *res, cf_error_t **errp);

#endif /* CF_RUNTIME_H */
