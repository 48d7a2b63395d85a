/*
 * dispatcher_int.h: the Dispatcher's plugin (jar) store and submission
 * path, for the REST handlers (rest_handlers.c) and main(). The rest of
 * the Dispatcher's gateway is in jobmanager_int.h.
 *
 * Threads: loop only.
 */
#ifndef CF_DISPATCHER_INT_H
#define CF_DISPATCHER_INT_H

#include "jobmanager_int.h"

/* Set by CMake for the jobmanager targets; fallbacks for other builds. */
#ifndef CF_VERSION
#define CF_VERSION "0.1.0"
#endif
#ifndef CF_GIT_COMMIT
#define CF_GIT_COMMIT ""
#endif

/* Flink's ExecutionConfig.PARALLELISM_DEFAULT: use parallelism.default. */
#define CF_PARALLELISM_DEFAULT (-1)

/* Longest accepted upload file name (the jar id "<uuid>_<name>" must fit
 * cf_jar_t.id). */
#define CF_JAR_NAME_MAX 90

/* Where uploads live: web.upload.dir, else <work_dir>/flink-web-upload. */
const char *cf_dispatcher_upload_dir(const cf_dispatcher_t *d);

cf_jar_t *cf_dispatcher_jars(cf_dispatcher_t *d); /* newest first */
cf_jar_t *cf_dispatcher_find_jar(cf_dispatcher_t *d, const char *id);

/* Accept an uploaded file: name is the client's file name (reduced to its
 * basename here too). The file at tmp_path is checked (name, ELF, cflink
 * ABI, loadable), then moved to <upload dir>/<uuid>_<name>; refused, it
 * is deleted. Either way the caller no longer owns tmp_path. Errors name
 * the reason (CF_EINVAL: bad name; CF_EPLUGIN/CF_EABI: not a plugin). */
int cf_dispatcher_jar_add(cf_dispatcher_t *d, const char *tmp_path,
                          const char *name, cf_jar_t **out,
                          cf_error_t **errp);
/* Delete a jar (its file too). CF_ENOTFOUND when unknown. */
int cf_dispatcher_jar_delete(cf_dispatcher_t *d, const char *id);

/* Take a job off the list without destroying it (shutdown). */
void cf_dispatcher_remove_job(cf_dispatcher_t *d, cf_jobmaster_t *jmr);

/* A run (or plan) request, as parsed from Flink's parameters. */
typedef struct cf_jar_run_s {
    const char *jar_id;
    int parallelism;        /* CF_PARALLELISM_DEFAULT: parallelism.default */
    char **args;            /* program arguments (without argv[0]) */
    int nargs;
    const char *job_id_hex; /* NULL: random */
    const char **conf_keys; /* flinkConfiguration */
    const char **conf_values;
    int nconf;
} cf_jar_run_t;

/* Build the job of the jar and hand it to a new JobMaster, started.
 * Errors: CF_ENOTFOUND (no such jar), CF_ESTATE (job id already
 * submitted), CF_ECONFIG (bad flinkConfiguration), CF_EINVAL (bad
 * parallelism or job id); any other code: the program could not be
 * built (plugin refused, entry failed, invalid graph). */
int cf_dispatcher_submit(cf_dispatcher_t *d, const cf_jar_run_t *run,
                         cf_jobmaster_t **out, cf_error_t **errp);
/* Build the job without running it; *plan_json (free()) gets Flink's
 * plan. Errors as cf_dispatcher_submit. */
int cf_dispatcher_plan(cf_dispatcher_t *d, const cf_jar_run_t *run,
                       char **plan_json, cf_error_t **errp);

/* ------------------------------------------------------------------ */
/* TaskManager information (resourcemanager.c), for rest_ops.c          */
/* ------------------------------------------------------------------ */

/* The answer to a TaskManagerInfoRequest: status 0 with resp (valid
 * only during the call), or < 0 with error naming the cause: the
 * TaskManager's own error (CF_EPROTO: e.g. an unknown file), -ETIMEDOUT,
 * CF_EIO when its connection closed (also at shutdown). */
typedef void (*cf_rm_tm_info_cb)(int status, const char *error,
                                 const Cflink__TaskManagerInfoResponse *resp,
                                 void *arg);
/* Send rq to the registered TaskManager resource_id. Returns
 * CF_ENOTFOUND (cb not called) when it is not registered or its
 * connection is not open; else 0 and cb runs exactly once, within
 * timeout_ms (<= 0: pekko.ask.timeout). */
int cf_rm_tm_info(cf_rm_t *rm, const char *resource_id,
                  const Cflink__TaskManagerInfoRequest *rq,
                  int64_t timeout_ms, cf_rm_tm_info_cb cb, void *arg);
/* pekko.ask.timeout as the ResourceManager read it. */
int64_t cf_rm_ask_timeout_ms(const cf_rm_t *rm);

/* What the REST monitoring handlers (rest_ops.c, rest_metrics.c) need of
 * the ResourceManager, the Dispatcher and the CheckpointCoordinator,
 * reached through this table so that those handlers' objects reference
 * none of them: tests link them with a fake Dispatcher (see
 * tests/unit/test_jobmanager_ops.c). cf_rm_new sets cf_rest_ops_backend
 * (defined in rest_ops.c); while it is NULL the TaskManager endpoints
 * answer 404 and the counts are 0. */
typedef struct cf_rest_ops_backend_s {
    cf_rm_tm_t *(*find_tm)(cf_rm_t *rm, const char *resource_id);
    cf_rm_tm_t *(*tms)(cf_rm_t *rm);
    int (*tm_count)(cf_rm_t *rm);
    int (*slots_total)(cf_rm_t *rm);
    int (*slots_free)(cf_rm_t *rm);
    int (*tm_info)(cf_rm_t *rm, const char *resource_id,
                   const Cflink__TaskManagerInfoRequest *rq,
                   int64_t timeout_ms, cf_rm_tm_info_cb cb, void *arg);
    int64_t (*ask_timeout_ms)(const cf_rm_t *rm);
    cf_jobmaster_t *(*jobs)(cf_dispatcher_t *d);
    const cf_ckpt_view_t *(*ckpt_view)(const cf_ckpt_coord_t *cc);
} cf_rest_ops_backend_t;
extern const cf_rest_ops_backend_t *cf_rest_ops_backend;

#endif /* CF_DISPATCHER_INT_H */
