/*
 * rest_common.c: helpers shared by the REST handler files
 * (rest_handlers.c, rest_checkpoints.c, rest_ops.c, rest_vertex.c):
 * path parameters and Flink's errors about them, and the aggregate state
 * of a job vertex. Kept apart so that a handler file (and its unit test)
 * links these without the rest of rest_handlers.c.
 *
 * Thread: loop.
 */
#include <ctype.h>

#include "dispatcher_int.h"
#include "jobmanager_int.h"

json_t *
cf_rest_bad_path_param(int *status, const char *key, const char *value)
{
    return cf_rest_error(status, 400,
                         "Bad request, could not parse parameters: Cannot "
                         "resolve path parameter (%s) from value \"%s\".",
                         key, value);
}

int
cf_rest_is_hex32(const char *s)
{
    size_t n = 0;

    for (; s[n]; n++)
        if (!isxdigit((unsigned char)s[n]))
            return 0;
    return n == CF_ID_HEX_LEN;
}

/* The job of path parameter idx, or NULL with *err set (400 or 404). */
cf_jobmaster_t *
cf_rest_job_param(cf_jm_t *jm, const cf_rest_req_t *req, int idx, int *status,
                  json_t **err)
{
    const char *hex = idx < req->nparams ? req->params[idx] : "";
    cf_jobmaster_t *jmr;
    cf_id_t id;

    if (!cf_rest_is_hex32(hex) || cf_id_from_hex(&id, hex) < 0) {
        *err = cf_rest_bad_path_param(status, "jobid", hex);
        return NULL;
    }
    jmr = jm->dispatcher != NULL ? cf_dispatcher_find_job(jm->dispatcher, &id)
                                 : NULL;
    if (jmr == NULL) {
        char low[CF_ID_HEX_LEN + 1];
        cf_id_to_hex(&id, low);
        *err = cf_rest_error(status, 404, "Job %s not found", low);
    }
    return jmr;
}

/* Flink's ExecutionJobVertex.getAggregateJobVertexState. */
cf_exec_state_t
cf_rest_vertex_state(const int counts[CF_EXEC_STATE_COUNT], int parallelism)
{
    if (counts[CF_EXEC_FAILED] > 0)
        return CF_EXEC_FAILED;
    if (counts[CF_EXEC_CANCELING] > 0)
        return CF_EXEC_CANCELING;
    if (counts[CF_EXEC_CANCELED] > 0)
        return CF_EXEC_CANCELED;
    if (counts[CF_EXEC_INITIALIZING] > 0)
        return CF_EXEC_INITIALIZING;
    if (counts[CF_EXEC_RUNNING] > 0)
        return CF_EXEC_RUNNING;
    if (counts[CF_EXEC_FINISHED] > 0)
        return counts[CF_EXEC_FINISHED] == parallelism ? CF_EXEC_FINISHED
                                                       : CF_EXEC_RUNNING;
    return CF_EXEC_CREATED;
}
