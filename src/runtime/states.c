/*
 * states.c: JobStatus and ExecutionState with Flink's names, and the
 * legal transitions of each (Flink's JobStatus / ExecutionState state
 * machines).
 */
#include "runtime.h"

static const char *const cf_job_status_names[] = {
#define CF__XX(n) #n,
    CF_JOB_STATUS_MAP(CF__XX)
#undef CF__XX
};

static const char *const cf_exec_state_names[] = {
#define CF__XX(n) #n,
    CF_EXEC_STATE_MAP(CF__XX)
#undef CF__XX
};

const char *
cf_job_status_name(cf_job_status_t s)
{
    return (unsigned)s < CF_JOB_STATUS_COUNT ? cf_job_status_names[s]
                                             : "UNKNOWN";
}

const char *
cf_exec_state_name(cf_exec_state_t s)
{
    return (unsigned)s < CF_EXEC_STATE_COUNT ? cf_exec_state_names[s]
                                             : "UNKNOWN";
}

int
cf_job_status_is_globally_terminal(cf_job_status_t s)
{
    return s == CF_JOB_FAILED || s == CF_JOB_CANCELED || s == CF_JOB_FINISHED;
}

int
cf_exec_state_is_terminal(cf_exec_state_t s)
{
    return s == CF_EXEC_FINISHED || s == CF_EXEC_CANCELED ||
           s == CF_EXEC_FAILED;
}

int
cf_job_status_can_move(cf_job_status_t from, cf_job_status_t to)
{
    if (cf_job_status_is_globally_terminal(from))
        return 0;
    switch (to) {
    case CF_JOB_INITIALIZING:
        return 0;
    case CF_JOB_CREATED:
        return from == CF_JOB_INITIALIZING || from == CF_JOB_RESTARTING;
    case CF_JOB_RUNNING:
        return from == CF_JOB_CREATED || from == CF_JOB_RECONCILING ||
               from == CF_JOB_RESTARTING;
    case CF_JOB_FAILING:
        return from == CF_JOB_RUNNING || from == CF_JOB_CREATED ||
               from == CF_JOB_RESTARTING;
    case CF_JOB_RESTARTING:
        return from == CF_JOB_RUNNING || from == CF_JOB_CREATED ||
               from == CF_JOB_FAILING;
    case CF_JOB_FINISHED:
        return from == CF_JOB_RUNNING;
    case CF_JOB_CANCELLING:
        return from != CF_JOB_SUSPENDED;
    case CF_JOB_CANCELED:
        return from == CF_JOB_CANCELLING || from == CF_JOB_CREATED ||
               from == CF_JOB_RESTARTING || from == CF_JOB_INITIALIZING;
    case CF_JOB_FAILED:
        return from == CF_JOB_FAILING || from == CF_JOB_CREATED ||
               from == CF_JOB_RUNNING || from == CF_JOB_RESTARTING ||
               from == CF_JOB_INITIALIZING;
    case CF_JOB_SUSPENDED:
    case CF_JOB_RECONCILING:
        return 1;
    default:
        return 0;
    }
}

int
cf_exec_state_can_move(cf_exec_state_t from, cf_exec_state_t to)
{
    if (cf_exec_state_is_terminal(from))
        return 0;
    switch (to) {
    case CF_EXEC_CREATED:
        return 0;
    case CF_EXEC_SCHEDULED:
        return from == CF_EXEC_CREATED;
    case CF_EXEC_DEPLOYING:
        return from == CF_EXEC_SCHEDULED;
    case CF_EXEC_INITIALIZING:
        return from == CF_EXEC_DEPLOYING;
    case CF_EXEC_RUNNING:
        return from == CF_EXEC_INITIALIZING || from == CF_EXEC_DEPLOYING ||
               from == CF_EXEC_RECONCILING;
    case CF_EXEC_FINISHED:
        return from == CF_EXEC_RUNNING;
    case CF_EXEC_CANCELING:
        return 1;
    case CF_EXEC_CANCELED:
    case CF_EXEC_FAILED:
        return 1;
    case CF_EXEC_RECONCILING:
        return from == CF_EXEC_CREATED;
    default:
        return 0;
    }
}
