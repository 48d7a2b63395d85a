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

#endif /* CF_DISPATCHER_INT_H */
