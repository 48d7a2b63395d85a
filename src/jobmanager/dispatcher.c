/*
 * dispatcher.c: the JobManager's Dispatcher: the uploaded plugins (Flink's
 * jars), the submission path (plugin -> JobGraph -> blob -> JobMaster) and
 * the list of jobs the REST API shows.
 *
 * Submission runs the plugin's entry in this process to build the
 * StreamGraph and JobGraph, as Flink's JarRunHandler runs the user's
 * main(); the JobMaster then keeps only the encoded JobGraph, the JSON
 * plan and the blob key of a copy of the plugin, so the uploaded file may
 * be deleted while the job runs. Finished jobs stay listed, up to
 * jobstore.max-capacity (default 1000), oldest dropped first.
 *
 * Threads: loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dispatcher_int.h"

#define CF_JOBSTORE_DEFAULT 1000

struct cf_dispatcher_s {
    cf_jm_t *jm;
    char *upload_dir;
    cf_jar_t *jars;
    cf_jobmaster_t *jobs;
    long max_finished;
};

cf_dispatcher_t *
cf_dispatcher_new(cf_jm_t *jm, cf_error_t **errp)
{
    const char *dir = cf_config_get(jm->cfg, "web.upload.dir");
    const char *cap = cf_config_get(jm->cfg, "jobstore.max-capacity");
    cf_dispatcher_t *d;
    int64_t n;
    int rc;

    d = CF_NEW(cf_dispatcher_t);
    d->jm = jm;
    d->upload_dir = dir && *dir
                        ? cf_strdup(dir)
                        : cf_asprintf("%s/flink-web-upload", jm->work_dir);
    d->max_finished = CF_JOBSTORE_DEFAULT;
    if (cap != NULL) {
        if (cf_parse_long(cap, &n) < 0 || n < 0) {
            cf_error_set(errp, CF_ECONFIG,
                         "jobstore.max-capacity: '%s' is not a number of "
                         "jobs",
                         cap);
            goto fail;
        }
        d->max_finished = n > LONG_MAX ? LONG_MAX : (long)n;
    }
    if ((rc = cf_mkdirs(d->upload_dir, 0700)) < 0) {
        cf_error_set(errp, rc, "cannot create upload directory %s "
                     "(web.upload.dir): %s", d->upload_dir, strerror(-rc));
        goto fail;
    }
    cf_log_info("Using directory %s for file uploads.", d->upload_dir);
    return d;
fail:
    cf_free(d->upload_dir);
    cf_free(d);
    return NULL;
}

static void
cf_jar_free(cf_jar_t *j)
{
    cf_free(j->name);
    cf_free(j->path);
    cf_free(j->plugin_name);
    cf_free(j->description);
    cf_free(j);
}

void
cf_dispatcher_destroy(cf_dispatcher_t *d)
{
    if (d == NULL)
        return;
    while (d->jobs) {
        cf_jobmaster_t *j = d->jobs;
        d->jobs = j->next;
        j->next = NULL;
        cf_jobmaster_destroy(j);
    }
    while (d->jars) {
        cf_jar_t *j = d->jars;
        d->jars = j->next;
        cf_jar_free(j);
    }
    cf_free(d->upload_dir);
    cf_free(d);
}

const char *
cf_dispatcher_upload_dir(const cf_dispatcher_t *d)
{
    return d->upload_dir;
}

cf_jobmaster_t *
cf_dispatcher_jobs(cf_dispatcher_t *d)
{
    return d->jobs;
}

cf_jobmaster_t *
cf_dispatcher_find_job(cf_dispatcher_t *d, const cf_id_t *job_id)
{
    for (cf_jobmaster_t *j = d->jobs; j; j = j->next)
        if (cf_id_equal(&j->job_id, job_id))
            return j;
    return NULL;
}

void
cf_dispatcher_remove_job(cf_dispatcher_t *d, cf_jobmaster_t *jmr)
{
    for (cf_jobmaster_t **pp = &d->jobs; *pp; pp = &(*pp)->next) {
        if (*pp == jmr) {
            *pp = jmr->next;
            jmr->next = NULL;
            return;
        }
    }
}

/* Drop the oldest globally terminal jobs beyond jobstore.max-capacity,
 * never keep (a JobMaster that may be on the stack). */
static void
cf_dispatcher_trim(cf_dispatcher_t *d, const cf_jobmaster_t *keep)
{
    long finished = 0;
    cf_jobmaster_t **pp = &d->jobs;

    while (*pp) {
        cf_jobmaster_t *j = *pp;
        if (cf_job_status_is_globally_terminal(j->status) &&
            ++finished > d->max_finished && j != keep) {
            *pp = j->next;
            j->next = NULL;
            cf_log_info("Removing job %s (%s) from the job store "
                        "(jobstore.max-capacity %ld).",
                        j->job_id_hex, j->name ? j->name : "",
                        d->max_finished);
            cf_jobmaster_destroy(j);
            continue;
        }
        pp = &j->next;
    }
}

void
cf_dispatcher_job_terminated(cf_dispatcher_t *d, cf_jobmaster_t *jmr)
{
    cf_log_info("Job %s reached terminal state %s.", jmr->job_id_hex,
                cf_job_status_name(jmr->status));
    cf_dispatcher_trim(d, jmr);
}

void
cf_dispatcher_tm_lost(cf_dispatcher_t *d, const char *resource_id,
                      const char *reason)
{
    cf_jobmaster_t *j;
    cf_id_t *ids;
    int n = 0, cap = 0;

    /* A JobMaster told of the loss may end its job, and ending a job may
     * trim the finished-job store: look each job up again by id. */
    for (j = d->jobs; j; j = j->next)
        cap++;
    ids = cf_calloc((size_t)cap + 1, sizeof *ids);
    for (j = d->jobs; j; j = j->next)
        if (!cf_job_status_is_globally_terminal(j->status))
            ids[n++] = j->job_id;
    for (int i = 0; i < n; i++) {
        j = cf_dispatcher_find_job(d, &ids[i]);
        if (j != NULL && !cf_job_status_is_globally_terminal(j->status))
            cf_jobmaster_tm_lost(j, resource_id, reason);
    }
    cf_free(ids);
}

/* ------------------------------------------------------------------ */
/* Jars                                                                */
/* ------------------------------------------------------------------ */

cf_jar_t *
cf_dispatcher_jars(cf_dispatcher_t *d)
{
    return d->jars;
}

cf_jar_t *
cf_dispatcher_find_jar(cf_dispatcher_t *d, const char *id)
{
    for (cf_jar_t *j = d->jars; j; j = j->next)
        if (strcmp(j->id, id) == 0)
            return j;
    return NULL;
}

/* Flink's UUID.randomUUID() text: 8-4-4-4-12 hex, version 4. */
static void
cf_disp_uuid(char out[37])
{
    char h[33];
    static const char var[] = "89ab";

    cf_random_hex(h, 32);
    h[12] = '4';
    h[16] = var[(h[16] >= 'a' ? h[16] - 'a' + 10 : h[16] - '0') & 3];
    snprintf(out, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", h, h + 8, h + 12,
             h + 16, h + 20);
}

/* The checks of RELIABILITY.md 10.4 on a client's file name; name is
 * already reduced to its basename. */
static int
cf_disp_check_name(const char *name, cf_error_t **errp)
{
    size_t n = strlen(name);

    if (n == 0 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return cf_error_set(errp, CF_EINVAL,
                            "Invalid file name '%s'.", name);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c < 0x20 || c == 0x7f)
            return cf_error_set(errp, CF_EINVAL,
                                "Invalid file name: it contains control "
                                "characters.");
    }
    if (name[0] == '-')
        return cf_error_set(errp, CF_EINVAL,
                            "Invalid file name '%s': it starts with '-'.",
                            name);
    if (n > CF_JAR_NAME_MAX)
        return cf_error_set(errp, CF_EINVAL,
                            "Invalid file name: longer than %d characters.",
                            CF_JAR_NAME_MAX);
    if (n < 4 || strcmp(name + n - 3, ".so") != 0)
        return cf_error_set(errp, CF_EINVAL,
                            "Only cflink plugins (.so shared libraries) are "
                            "allowed: '%s'.",
                            name);
    return 0;
}

/* A message about tmp_path, with the path replaced by the client's name
 * (the server-made name means nothing to the client). */
static int
cf_disp_refuse(cf_error_t **errp, cf_error_t *err, const char *tmp_path,
               const char *name)
{
    const char *m = cf_error_msg(err);
    size_t tl = strlen(tmp_path);
    int code = err->code;

    if (strncmp(m, tmp_path, tl) == 0)
        cf_error_set(errp, code, "%s%s", name, m + tl);
    else
        cf_error_set(errp, code, "%s: %s", name, m);
    cf_error_free(err);
    return code;
}

int
cf_dispatcher_jar_add(cf_dispatcher_t *d, const char *tmp_path,
                      const char *name_in, cf_jar_t **out, cf_error_t **errp)
{
    const char *name = name_in ? name_in : "";
    const char *s;
    cf_error_t *err = NULL;
    cf_plugin_lib_t *lib = NULL;
    char uuid[37];
    cf_jar_t *jar;
    char *dst;
    int rc;

    *out = NULL;
    for (s = name; *s; s++)
        if (*s == '/' || *s == '\\')
            name = s + 1;
    if ((rc = cf_disp_check_name(name, errp)) < 0) {
        unlink(tmp_path);
        return rc;
    }
    if ((rc = cf_plugin_check_file(tmp_path, &err)) < 0) {
        unlink(tmp_path);
        return cf_disp_refuse(errp, err, tmp_path, name);
    }
    cf_disp_uuid(uuid);
    jar = CF_NEW(cf_jar_t);
    snprintf(jar->id, sizeof jar->id, "%s_%s", uuid, name);
    dst = cf_asprintf("%s/%s", d->upload_dir, jar->id);
    if (rename(tmp_path, dst) < 0) {
        rc = cf_error_set(errp, -errno, "cannot store upload %s: %s", name,
                          strerror(errno));
        unlink(tmp_path);
        cf_free(dst);
        cf_free(jar);
        return rc;
    }
    /* Load it once for its descriptor: refuse what cannot be loaded. */
    if ((rc = cf_plugin_open(dst, &lib, &err)) < 0) {
        unlink(dst);
        rc = cf_disp_refuse(errp, err, dst, name);
        cf_free(dst);
        cf_free(jar);
        return rc;
    }
    jar->name = cf_strdup(name);
    jar->path = dst;
    jar->uploaded_ms = cf_now_ms();
    jar->plugin_name = cf_strdup(cf_plugin_name(lib) ? cf_plugin_name(lib)
                                                     : name);
    jar->description = cf_plugin_description(lib)
                           ? cf_strdup(cf_plugin_description(lib))
                           : NULL;
    cf_plugin_close(lib);
    jar->next = d->jars;
    d->jars = jar;
    cf_log_info("Uploaded plugin %s as %s.", name, dst);
    *out = jar;
    return 0;
}

int
cf_dispatcher_jar_delete(cf_dispatcher_t *d, const char *id)
{
    for (cf_jar_t **pp = &d->jars; *pp; pp = &(*pp)->next) {
        cf_jar_t *j = *pp;
        if (strcmp(j->id, id) != 0)
            continue;
        *pp = j->next;
        if (unlink(j->path) < 0 && errno != ENOENT)
            cf_log_warn("Could not delete %s: %s", j->path,
                        strerror(errno));
        cf_log_info("Deleted plugin %s.", j->id);
        cf_jar_free(j);
        return 0;
    }
    return CF_ENOTFOUND;
}

/* ------------------------------------------------------------------ */
/* Submission                                                          */
/* ------------------------------------------------------------------ */

typedef struct cf_disp_build_s {
    cf_jar_t *jar;
    cf_config_t *cfg;
    cf_plugin_lib_t *lib;
    cf_job_t *job;
    char **argv;
    int parallelism;
} cf_disp_build_t;

static void
cf_disp_build_free(cf_disp_build_t *b)
{
    cf_job_destroy(b->job); /* before cfg, which it borrows */
    cf_plugin_close(b->lib);
    cf_config_destroy(b->cfg);
    cf_free(b->argv);
    memset(b, 0, sizeof *b);
}

static int
cf_disp_build(cf_dispatcher_t *d, const cf_jar_run_t *run,
              cf_disp_build_t *b, cf_error_t **errp)
{
    cf_job_opts_t opts;
    cf_id_t id;
    int rc, p;

    memset(b, 0, sizeof *b);
    b->jar = cf_dispatcher_find_jar(d, run->jar_id);
    if (b->jar == NULL)
        return cf_error_set(errp, CF_ENOTFOUND,
                            "Jar file %s/%s does not exist", d->upload_dir,
                            run->jar_id);
    if (run->job_id_hex) {
        if (cf_id_from_hex(&id, run->job_id_hex) < 0)
            return cf_error_set(errp, CF_EINVAL, "Invalid job id '%s'.",
                                run->job_id_hex);
        if (cf_dispatcher_find_job(d, &id))
            return cf_error_set(errp, CF_ESTATE,
                                "Job has already been submitted.");
    }
    b->cfg = cf_config_copy(d->jm->cfg);
    for (int i = 0; i < run->nconf; i++) {
        if ((rc = cf_config_set(b->cfg, run->conf_keys[i],
                                run->conf_values[i], "flinkConfiguration",
                                errp)) < 0) {
            cf_disp_build_free(b);
            return CF_ECONFIG;
        }
    }
    p = run->parallelism;
    if (p == CF_PARALLELISM_DEFAULT)
        p = cf_config_get_int(b->cfg, "parallelism.default", 1);
    if (p <= 0 && p != CF_PARALLELISM_DEFAULT) {
        cf_disp_build_free(b);
        return cf_error_set(errp, CF_EINVAL,
                            "The parallelism must be at least one, or "
                            "ExecutionConfig.PARALLELISM_DEFAULT (use system "
                            "default).");
    }
    if (p > CF_MAX_PARALLELISM_UPPER) {
        cf_disp_build_free(b);
        return cf_error_set(errp, CF_EINVAL,
                            "The parallelism %d is higher than the maximum "
                            "parallelism %d.",
                            p, CF_MAX_PARALLELISM_UPPER);
    }
    b->parallelism = p;
    if ((rc = cf_plugin_open(b->jar->path, &b->lib, errp)) < 0) {
        cf_disp_build_free(b);
        return rc == CF_ENOTFOUND ? CF_EPLUGIN : rc;
    }
    b->argv = cf_calloc((size_t)run->nargs + 2, sizeof(char *));
    b->argv[0] = b->jar->path;
    for (int i = 0; i < run->nargs; i++)
        b->argv[i + 1] = run->args[i];
    opts.parallelism = p;
    opts.argc = run->nargs + 1;
    opts.argv = b->argv;
    opts.job_id_hex = run->job_id_hex;
    if ((rc = cf_job_build(b->lib, b->cfg, &opts, &b->job, errp)) < 0) {
        cf_disp_build_free(b);
        /* Keep the codes with a meaning for the REST handler apart. */
        return rc == CF_ENOTFOUND || rc == CF_ESTATE || rc == CF_ECONFIG ||
                       rc == CF_EINVAL
                   ? CF_EGRAPH
                   : rc;
    }
    return 0;
}

int
cf_dispatcher_plan(cf_dispatcher_t *d, const cf_jar_run_t *run,
                   char **plan_json, cf_error_t **errp)
{
    cf_disp_build_t b;
    int rc;

    *plan_json = NULL;
    if ((rc = cf_disp_build(d, run, &b, errp)) < 0)
        return rc;
    *plan_json = cf_job_plan_json(b.job, 0);
    cf_disp_build_free(&b);
    return 0;
}

/* Put a copy of the jar into the blob store (the jar stays uploaded). */
static int
cf_disp_blob_put(cf_dispatcher_t *d, const cf_jar_t *jar, char key[65],
                 cf_error_t **errp)
{
    char buf[65536], rnd[13];
    char *tmp;
    int in, outfd, rc = 0;
    ssize_t n;

    if ((rc = cf_blob_sha256_file(jar->path, key)) < 0)
        return cf_error_set(errp, rc, "cannot read %s: %s", jar->path,
                            cf_strerror(rc));
    if (cf_blob_store_path(d->jm->blobs, key) != NULL)
        return 0;
    cf_random_hex(rnd, 12);
    tmp = cf_asprintf("%s/.blob-%s.tmp", d->upload_dir, rnd);
    in = open(jar->path, O_RDONLY | O_CLOEXEC);
    outfd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
                 0600);
    if (in < 0 || outfd < 0) {
        rc = -errno;
        goto out;
    }
    while ((n = read(in, buf, sizeof buf)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = -errno;
            goto out;
        }
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(outfd, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0) {
                rc = -errno;
                goto out;
            }
            off += w;
        }
    }
out:
    if (outfd >= 0 && close(outfd) < 0 && rc == 0)
        rc = -errno;
    if (in >= 0)
        close(in);
    if (rc < 0) {
        cf_error_set(errp, rc, "cannot copy %s to the blob store: %s",
                     jar->path, cf_strerror(rc));
        unlink(tmp);
    } else {
        char k2[65];
        rc = cf_blob_store_put(d->jm->blobs, tmp, k2, errp);
        if (rc == 0 && strcmp(k2, key) != 0)
            rc = cf_error_set(errp, CF_EIO, "%s changed while copied",
                              jar->path);
        if (rc < 0)
            unlink(tmp);
    }
    cf_free(tmp);
    return rc;
}

int
cf_dispatcher_submit(cf_dispatcher_t *d, const cf_jar_run_t *run,
                     cf_jobmaster_t **out, cf_error_t **errp)
{
    cf_jobmaster_spec_t spec;
    cf_disp_build_t b;
    cf_jobmaster_t *jmr;
    uint8_t *graph = NULL;
    size_t graph_len = 0;
    char *plan = NULL;
    char key[65];
    cf_id_t id;
    int rc;

    *out = NULL;
    if ((rc = cf_disp_build(d, run, &b, errp)) < 0)
        return rc;
    cf_id_from_hex(&id, cf_job_id_hex(b.job));
    if (cf_dispatcher_find_job(d, &id)) {
        rc = cf_error_set(errp, CF_ESTATE, "Job has already been submitted.");
        goto out;
    }
    if ((rc = cf_job_encode(b.job, &graph, &graph_len)) < 0) {
        rc = cf_error_set(errp, rc, "cannot encode the job graph: %s",
                          cf_strerror(rc));
        goto out;
    }
    plan = cf_job_plan_json(b.job, 0);
    if ((rc = cf_disp_blob_put(d, b.jar, key, errp)) < 0)
        goto out;
    memset(&spec, 0, sizeof spec);
    spec.job_id = &id;
    spec.name = cf_job_name(b.job);
    spec.graph_pb = graph;
    spec.graph_len = graph_len;
    spec.plan_json = plan;
    spec.plugin_key = key;
    spec.plugin_name = b.jar->name;
    spec.jar_id = b.jar->id;
    spec.args = run->args;
    spec.nargs = run->nargs;
    spec.parallelism = b.parallelism;
    spec.job_cfg = b.cfg;
    /* Restore (savepointPath / -s, allowNonRestoredState): Flink's
     * execution.state-recovery.* keys of the job's configuration. A
     * snapshot that cannot be read or mapped fails the submission with
     * the coordinator's message (no JobMaster, no restart loop). */
    spec.savepoint_path =
        cf_config_get(b.cfg, "execution.state-recovery.path");
    spec.allow_non_restored = cf_config_get_bool(
        b.cfg, "execution.state-recovery.ignore-unclaimed-state", 0);
    jmr = cf_jobmaster_new(d->jm, &spec, errp);
    if (jmr == NULL) {
        rc = CF_EGRAPH;
        goto out;
    }
    cf_dispatcher_trim(d, NULL);
    jmr->next = d->jobs;
    d->jobs = jmr;
    cf_log_info("Submitting job '%s' (%s) from %s with parallelism %d.",
                jmr->name ? jmr->name : "", jmr->job_id_hex, b.jar->name,
                b.parallelism);
    *out = jmr;
    cf_jobmaster_start(jmr);
out:
    free(graph);
    free(plan);
    cf_disp_build_free(&b);
    return rc;
}
