/*
 * jm_fixture.h: a JobMaster fixture for the JobManager's unit tests: a
 * job of one vertex whose n subtasks are RUNNING with fresh attempt ids,
 * nothing reported yet, all in caller-owned memory (no Dispatcher, no
 * scheduling): what the REST bodies and the report handling read.
 */
#ifndef CF_TEST_JM_FIXTURE_H
#define CF_TEST_JM_FIXTURE_H

#include <string.h>

#include "jobmanager_int.h"

static inline void
jm_fixture_init(cf_jobmaster_t *jmr, cf_ejv_t *v, cf_exec_vertex_t *ev,
                int n, const char *job_name, const char *vertex_name)
{
    memset(jmr, 0, sizeof *jmr);
    memset(v, 0, sizeof *v);
    memset(ev, 0, (size_t)n * sizeof *ev);
    cf_id_random(&jmr->job_id);
    cf_id_to_hex(&jmr->job_id, jmr->job_id_hex);
    jmr->name = (char *)job_name;
    jmr->vertices = v;
    jmr->nvertices = 1;
    v->name = (char *)vertex_name;
    v->parallelism = n;
    v->subtasks = ev;
    for (int i = 0; i < n; i++) {
        ev[i].subtask = i;
        ev[i].state = CF_EXEC_RUNNING;
        cf_id_random(&ev[i].attempt_id);
    }
}

#endif /* CF_TEST_JM_FIXTURE_H */
