/*
 * jobmanager_main.c: the cflink-jobmanager daemon (Flink's
 * StandaloneSessionClusterEntrypoint): start-up (options, configuration,
 * logging: the shared core/daemon.c), the work directory, start-up of the
 * components in order (blob store, ResourceManager, Dispatcher, RPC
 * endpoint, REST endpoint), the RPC routing between them, and the
 * shutdown on SIGTERM/SIGINT.
 *
 *   cflink-jobmanager [-c|--configDir <dir>] [-D key=value]...
 *                     [--log-file <path>] [-h] [--version]
 *
 * The RPC endpoint binds to jobmanager.bind-host (Flink's default when
 * unset: 0.0.0.0, every interface) on jobmanager.rpc.bind-port, else
 * jobmanager.rpc.port (6123; 0: an ephemeral port). It logs "RPC endpoint
 * listening at <jobmanager.rpc.address or bind host>:<port>"; the REST
 * endpoint logs "Rest endpoint listening at ..." itself.
 * With metrics.reporter.prom.factory.class set, the Prometheus reporter
 * (metrics_prom.c) starts after the REST endpoint; when it cannot, the
 * error is logged and the JobManager runs on without it.
 *
 * Work directory: <web.tmpdir | io.tmp.dirs | $TMPDIR | /tmp>/
 * cflink-jm-<6 hex> (0700), holding flink-web-upload/ (unless
 * web.upload.dir) and blobStore/ (unless blob.storage.directory); it is
 * removed at shutdown.
 *
 * Web UI: the REST endpoint serves the files of one directory at "/"
 * (paths that match no REST route; cf_rest_set_static_dir). It is
 * cflink.web.dir when set (not a readable directory: start-up fails; an
 * empty value: no web UI), else the first that exists of
 * <dir of the executable>/../share/cflink/webui (the installed layout,
 * `cmake --install`) and the source tree's src/webui (CF_WEBUI_SOURCE_DIR,
 * for a build tree). With none, a warning says the UI is not served; the
 * REST API works all the same. "Web frontend served from <dir>" tells
 * which one is used.
 *
 * SIGTERM or SIGINT shuts down gracefully: REST closed, JobMasters
 * destroyed (their tasks cancelled best effort), RPC closed, exit 0; a
 * second signal exits at once with status 1.
 */
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "daemon.h"
#include "dispatcher_int.h"
#include "metrics_prom.h"

/* Time given to messages queued at shutdown (CancelTask, FreeSlot) to
 * leave before the RPC connections close. */
#define CF_JM_SHUTDOWN_FLUSH_MS 200

typedef struct cf_jm_main_s {
    cf_jm_t jm;
    int own_work_dir; /* remove it at exit */
    cf_jm_prom_t *prom; /* metrics.reporter.prom.*, or NULL */
} cf_jm_main_t;

/* ------------------------------------------------------------------ */
/* RPC routing                                                         */
/* ------------------------------------------------------------------ */

static void
cf_jm_to_job(cf_jm_t *jm, cf_rpc_conn_t *c, uint64_t req_id,
             const Cflink__Envelope *msg, const ProtobufCBinaryData *jid)
{
    char hex[CF_ID_HEX_LEN + 1];
    cf_jobmaster_t *jmr = NULL;
    cf_id_t id;

    if (cf_rpc_id_get(jid, &id) < 0) {
        cf_log_warn("%s from %s: malformed job id (%zu bytes)",
                    cf_rpc_body_name(msg->body_case), cf_rpc_conn_peer(c),
                    jid->len);
        if (req_id)
            cf_rpc_reply_error(c, req_id, "malformed job id (%zu bytes)",
                               jid->len);
        return;
    }
    if (jm->dispatcher)
        jmr = cf_dispatcher_find_job(jm->dispatcher, &id);
    if (jmr == NULL) {
        cf_id_to_hex(&id, hex);
        cf_log_debug("%s from %s for unknown job %s",
                     cf_rpc_body_name(msg->body_case), cf_rpc_conn_peer(c),
                     hex);
        if (req_id)
            cf_rpc_reply_error(c, req_id, "Unknown job %s", hex);
        return;
    }
    cf_jobmaster_on_message(jmr, c, req_id, msg);
}

static void
cf_jm_rpc_open(cf_rpc_conn_t *c, const Cflink__Hello *hello, void *arg)
{
    cf_log_debug("RPC connection from %s (%s %s, version %s)",
                 cf_rpc_conn_peer(c), hello ? hello->role : "?",
                 hello ? hello->id : "?", hello ? hello->version : "?");
}

static void
cf_jm_rpc_message(cf_rpc_conn_t *c, uint64_t req_id,
                  const Cflink__Envelope *msg, void *arg)
{
    cf_jm_t *jm = arg;

    switch (msg->body_case) {
    case CFLINK__ENVELOPE__BODY_OFFER_SLOTS:
        if (msg->offer_slots)
            cf_jm_to_job(jm, c, req_id, msg, &msg->offer_slots->job_id);
        return;
    case CFLINK__ENVELOPE__BODY_UPDATE_TASK_EXECUTION_STATE:
        if (msg->update_task_execution_state)
            cf_jm_to_job(jm, c, req_id, msg,
                         &msg->update_task_execution_state->job_id);
        return;
    case CFLINK__ENVELOPE__BODY_ACKNOWLEDGE_CHECKPOINT:
        if (msg->acknowledge_checkpoint)
            cf_jm_to_job(jm, c, req_id, msg,
                         &msg->acknowledge_checkpoint->job_id);
        return;
    case CFLINK__ENVELOPE__BODY_DECLINE_CHECKPOINT:
        if (msg->decline_checkpoint)
            cf_jm_to_job(jm, c, req_id, msg,
                         &msg->decline_checkpoint->job_id);
        return;
    case CFLINK__ENVELOPE__BODY_BLOB_GET:
        cf_blob_store_on_get(jm->blobs, c, req_id, msg->blob_get);
        return;
    case CFLINK__ENVELOPE__BODY_REGISTER_TASK_EXECUTOR:
    case CFLINK__ENVELOPE__BODY_HEARTBEAT_REQUEST:
    case CFLINK__ENVELOPE__BODY_HEARTBEAT_RESPONSE:
    case CFLINK__ENVELOPE__BODY_DISCONNECT:
        if (jm->shutting_down || jm->rm == NULL) {
            if (req_id)
                cf_rpc_reply_error(c, req_id,
                                   "The JobManager is shutting down.");
            return;
        }
        cf_rm_on_message(jm->rm, c, req_id, msg);
        return;
    default:
        cf_log_warn("Unexpected %s from %s",
                    cf_rpc_body_name(msg->body_case), cf_rpc_conn_peer(c));
        if (req_id)
            cf_rpc_reply_error(c, req_id,
                               "The JobManager does not handle %s",
                               cf_rpc_body_name(msg->body_case));
    }
}

static void
cf_jm_rpc_close(cf_rpc_conn_t *c, const char *reason, void *arg)
{
    cf_jm_t *jm = arg;

    if (jm->rm)
        cf_rm_on_close(jm->rm, c, reason);
}

static const cf_rpc_handler_t cf_jm_rpc_handler = {
    cf_jm_rpc_open,
    cf_jm_rpc_message,
    cf_jm_rpc_close,
};

/* ------------------------------------------------------------------ */
/* Shutdown                                                            */
/* ------------------------------------------------------------------ */

static void
cf_jm_hard_exit(int sig)
{
    (void)sig;
    _exit(1);
}

/* Free the Dispatcher, ResourceManager and blob store. */
static void
cf_jm_destroy_components(cf_jm_t *jm)
{
    cf_dispatcher_destroy(jm->dispatcher);
    jm->dispatcher = NULL;
    cf_rm_destroy(jm->rm);
    jm->rm = NULL;
    cf_blob_store_destroy(jm->blobs);
    jm->blobs = NULL;
}

/* Last step: everything is closed; free the components, stop the loop. */
static void
cf_jm_shutdown_final(void *arg)
{
    cf_jm_t *jm = arg;

    cf_jm_destroy_components(jm);
    cf_loop_stop(jm->loop);
}

/* Messages queued by the JobMasters had their time: close the RPC. */
static void
cf_jm_shutdown_rpc(void *arg)
{
    cf_jm_t *jm = arg;

    cf_log_info("Stopping the RPC endpoint.");
    cf_rpc_server_destroy(jm->rpc);
    jm->rpc = NULL;
    /* Let the connections' close callbacks run first. */
    cf_loop_timer(jm->loop, 20, 0, cf_jm_shutdown_final, jm);
}

/* The first SIGTERM or SIGINT (cf_loop_on_shutdown_signals()). */
static void
cf_jm_on_shutdown(void *arg)
{
    cf_jm_main_t *m = arg;
    cf_jm_t *jm = &m->jm;
    struct sigaction sa;
    cf_jobmaster_t *j;

    /* A second signal ends the process even if the loop is stuck. */
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = cf_jm_hard_exit;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    jm->shutting_down = 1;
    cf_log_info("Shutting down rest endpoint.");
    cf_rest_destroy(jm->rest);
    jm->rest = NULL;
    cf_jm_prom_destroy(m->prom);
    m->prom = NULL;
    /* JobMasters cancel their tasks (best effort) as they are destroyed;
     * the Dispatcher itself goes last (the RM still reports to it). */
    while ((j = cf_dispatcher_jobs(jm->dispatcher)) != NULL) {
        cf_log_info("Stopping the JobMaster of job %s (%s).", j->job_id_hex,
                    cf_job_status_name(j->status));
        cf_dispatcher_remove_job(jm->dispatcher, j);
        cf_jobmaster_destroy(j);
    }
    cf_loop_timer(jm->loop, CF_JM_SHUTDOWN_FLUSH_MS, 0, cf_jm_shutdown_rpc,
                  jm);
}

static cf_jm_main_t cf_jm_main;

/* ------------------------------------------------------------------ */
/* Start-up                                                            */
/* ------------------------------------------------------------------ */

/* A host name or address as a numeric IPv4 address for binding. */
static int
cf_jm_resolve(const char *host, const char *key, char *out, size_t size,
              cf_error_t **errp)
{
    struct addrinfo hints, *res = NULL;
    int rc;

    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    rc = getaddrinfo(host, NULL, &hints, &res);
    if (rc != 0 || res == NULL)
        return cf_error_set(errp, CF_ECONFIG, "%s: cannot resolve '%s': %s",
                            key, host, gai_strerror(rc));
    inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)res->ai_addr)->sin_addr,
              out, (socklen_t)size);
    freeaddrinfo(res);
    return 0;
}

static int
cf_jm_make_work_dir(cf_jm_main_t *m, cf_error_t **errp)
{
    cf_jm_t *jm = &m->jm;
    const char *base = cf_config_get(jm->cfg, "web.tmpdir");
    char *first = NULL, rnd[7];

    if (base == NULL || *base == '\0') {
        const char *dirs = cf_config_get(jm->cfg, "io.tmp.dirs");
        if (dirs && *dirs) {
            const char *colon = strchr(dirs, ':');
            first = colon ? cf_strndup(dirs, (size_t)(colon - dirs))
                          : cf_strdup(dirs);
            base = first;
        }
    }
    if (base == NULL || *base == '\0')
        base = getenv("TMPDIR");
    if (base == NULL || *base == '\0')
        base = "/tmp";
    for (int tries = 0; tries < 10; tries++) {
        cf_random_hex(rnd, 6);
        cf_free(jm->work_dir);
        jm->work_dir = cf_asprintf("%s/cflink-jm-%s", base, rnd);
        if (mkdir(jm->work_dir, 0700) == 0) {
            m->own_work_dir = 1;
            cf_free(first);
            cf_log_info("Work directory: %s", jm->work_dir);
            return 0;
        }
        if (errno != EEXIST)
            break;
    }
    cf_error_set(errp, -errno, "cannot create the work directory %s "
                 "(web.tmpdir / io.tmp.dirs): %s", jm->work_dir,
                 strerror(errno));
    cf_free(first);
    return -1;
}

/* Whether path is a directory this process can list and read. */
static int
cf_jm_is_readable_dir(const char *path, int *err)
{
    struct stat st;

    if (stat(path, &st) != 0) {
        *err = errno;
        return 0;
    }
    if (!S_ISDIR(st.st_mode)) {
        *err = ENOTDIR;
        return 0;
    }
    if (access(path, R_OK | X_OK) != 0) {
        *err = errno;
        return 0;
    }
    return 1;
}

/* Choose the web UI's directory (see the top of the file) and hand it to
 * the REST endpoint. Fails only when cflink.web.dir names something that
 * is not a readable directory: a typo there should not go unnoticed
 * behind a cluster that runs without its UI. */
static int
cf_jm_setup_web_dir(cf_jm_t *jm, cf_error_t **errp)
{
    const char *key = "cflink.web.dir";
    const char *dir = cf_config_get(jm->cfg, key);
    char exe[PATH_MAX];
    char *installed = NULL;
    const char *chosen = NULL, *how = NULL;
    int err = 0;
#ifdef CF_WEBUI_SOURCE_DIR
    static const char source_dir[] = CF_WEBUI_SOURCE_DIR;
#else
    static const char source_dir[] = "";
#endif

    if (dir != NULL) {
        if (*dir == '\0') {
            cf_log_info("Web frontend disabled (%s is empty); the REST API "
                        "is served alone.", key);
            return 0;
        }
        if (!cf_jm_is_readable_dir(dir, &err))
            return cf_error_set(errp, CF_ECONFIG,
                                "%s: '%s' is not a readable directory: %s",
                                key, dir, strerror(err));
        cf_rest_set_static_dir(jm->rest, dir);
        cf_log_info("Web frontend served from %s (%s).", dir, key);
        return 0;
    }
    if (cf_exe_dir(exe, sizeof exe) == 0) {
        installed = cf_asprintf("%s/../share/cflink/webui", exe);
        if (cf_jm_is_readable_dir(installed, &err)) {
            chosen = installed;
            how = "installed";
        }
    }
    if (chosen == NULL && source_dir[0] != '\0' &&
        cf_jm_is_readable_dir(source_dir, &err)) {
        chosen = source_dir;
        how = "source tree";
    }
    if (chosen == NULL) {
        cf_log_warn("Web frontend not served: no web UI directory found "
                    "(looked for %s%s%s); set %s to serve one. The REST API "
                    "works without it.",
                    installed ? installed : "<exe>/../share/cflink/webui",
                    source_dir[0] ? " and " : "", source_dir, key);
        cf_free(installed);
        return 0;
    }
    {
        /* Log the resolved path, not ".../bin/../share/...". */
        char *real = realpath(chosen, NULL);
        cf_rest_set_static_dir(jm->rest, chosen);
        cf_log_info("Web frontend served from %s (%s; %s is unset).",
                    real ? real : chosen, how, key);
        free(real);
    }
    cf_free(installed);
    return 0;
}

static int
cf_jm_start(cf_jm_main_t *m, cf_error_t **errp)
{
    cf_jm_t *jm = &m->jm;
    const char *bind = cf_config_get(jm->cfg, "jobmanager.bind-host");
    const char *addr = cf_config_get(jm->cfg, "jobmanager.rpc.address");
    const char *blob_dir = cf_config_get(jm->cfg, "blob.storage.directory");
    const char *port_key = "jobmanager.rpc.port";
    cf_rpc_ident_t ident;
    char host[64], *dir;
    int port;

    cf_random_hex(jm->resource_id, 32);
    jm->start_ms = cf_now_ms();
    if (cf_jm_make_work_dir(m, errp) < 0)
        return -1;
    jm->loop = cf_loop_new("jobmanager");
    if (jm->loop == NULL)
        return cf_error_set(errp, CF_EIO, "cannot create the control loop");

    dir = blob_dir && *blob_dir ? cf_strdup(blob_dir)
                                : cf_asprintf("%s/blobStore", jm->work_dir);
    jm->blobs = cf_blob_store_new(dir, errp);
    cf_free(dir);
    if (jm->blobs == NULL)
        return -1;
    jm->rm = cf_rm_new(jm);
    if (jm->rm == NULL)
        return cf_error_set(errp, CF_EIO,
                            "cannot start the ResourceManager");
    if ((jm->dispatcher = cf_dispatcher_new(jm, errp)) == NULL)
        return -1;

    if (bind == NULL || *bind == '\0')
        bind = "0.0.0.0";
    if (cf_jm_resolve(bind, "jobmanager.bind-host", host, sizeof host,
                      errp) < 0)
        return -1;
    if (cf_config_get(jm->cfg, "jobmanager.rpc.bind-port") != NULL)
        port_key = "jobmanager.rpc.bind-port";
    port = cf_config_get_int(jm->cfg, port_key, 6123);
    if (port < 0 || port > 65535)
        return cf_error_set(errp, CF_ECONFIG,
                            "%s: %d is not a port number", port_key, port);
    ident.role = "jobmanager";
    ident.id = jm->resource_id;
    ident.version = CF_VERSION;
    jm->rpc = cf_rpc_server_new(jm->loop, host, port, &ident,
                                &cf_jm_rpc_handler, jm, errp);
    if (jm->rpc == NULL) {
        cf_error_prefix(errp, "%s %d", port_key, port);
        return -1;
    }
    cf_log_info("RPC endpoint listening at %s:%d",
                addr && *addr ? addr : bind, cf_rpc_server_port(jm->rpc));

    jm->rest = cf_rest_new(jm->loop, jm->cfg,
                           cf_dispatcher_upload_dir(jm->dispatcher), errp);
    if (jm->rest == NULL) {
        const char *k = cf_config_is_set(jm->cfg, "rest.bind-port")
                            ? "rest.bind-port"
                            : "rest.port";
        const char *v = cf_config_get(jm->cfg, k);
        cf_error_prefix(errp, "%s %s", k, v ? v : "8081");
        return -1;
    }
    cf_rest_handlers_register(jm);
    if (cf_jm_setup_web_dir(jm, errp) < 0)
        return -1;
    /* Optional: a reporter that cannot start is logged, not fatal. */
    m->prom = cf_jm_prom_start(jm);
    cf_loop_on_shutdown_signals(jm->loop, cf_jm_on_shutdown, m);
    jm->shutdown_fn = cf_jm_on_shutdown;
    jm->shutdown_arg = m;
    cf_log_info("JobManager %s started.", jm->resource_id);
    return 0;
}

/* Free what a failed start-up left (the loop is not running). */
static void
cf_jm_cleanup(cf_jm_main_t *m)
{
    cf_jm_t *jm = &m->jm;

    cf_jm_prom_destroy(m->prom);
    m->prom = NULL;
    if (jm->rest)
        cf_rest_destroy(jm->rest);
    jm->rest = NULL;
    jm->shutting_down = 1;
    if (jm->rpc)
        cf_rpc_server_destroy(jm->rpc);
    jm->rpc = NULL;
    if (jm->loop) {
        /* Let close callbacks run before the components go. */
        uv_run(cf_loop_uv(jm->loop), UV_RUN_NOWAIT);
    }
    cf_jm_destroy_components(jm);
}

int
main(int argc, char **argv)
{
    cf_daemon_t d = {
        .prog = "cflink-jobmanager",
        .about = "Starts a cflink JobManager: the REST API (rest.port), the "
                 "RPC endpoint\n"
                 "TaskManagers register with (jobmanager.rpc.port), and one "
                 "JobMaster per job.\n",
        .entry = "StandaloneSessionClusterEntrypoint",
        .role = "JobManager",
        .version = CF_VERSION,
        .commit = CF_GIT_COMMIT,
    };
    cf_jm_main_t *m = &cf_jm_main;
    cf_jm_t *jm = &m->jm;
    cf_error_t *err = NULL;
    int rc = cf_daemon_init(&d, argc, argv, &err);

    jm->cfg = d.cfg;
    if (rc <= 0) {
        rc = -rc;
        goto out;
    }
    rc = 1;
    if (cf_jm_start(m, &err) < 0) {
        if (err == NULL)
            cf_error_set(&err, CF_EIO, "start-up failed");
        cf_jm_cleanup(m);
        goto out;
    }
    cf_loop_run(jm->loop);
    cf_jm_cleanup(m); /* no-op after a graceful shutdown */
    cf_log_info("Terminating cluster entrypoint process "
                "StandaloneSessionClusterEntrypoint with exit code 0.");
    rc = 0;

out:
    cf_daemon_fail(&d, err);
    if (jm->loop != NULL)
        cf_loop_destroy(jm->loop);
    if (m->own_work_dir && jm->work_dir)
        cf_rmtree(jm->work_dir);
    cf_free(jm->work_dir);
    cf_config_destroy(jm->cfg);
    return rc;
}
