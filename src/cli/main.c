/*
 * main.c: the cflink command (Flink's bin/flink): actions, options and
 * printed messages as Flink's CliFrontend.
 *
 * This build runs jobs in-process with "-t local" (Flink's MiniCluster)
 * and prints plans with "info"; the cluster actions (run against a
 * JobManager, list, cancel, stop, savepoint, checkpoint) talk to the
 * JobManager's REST API once the cluster daemons exist.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "connectors.h"
#include "core.h"
#include "runtime.h"

#define CF_VERSION "0.1.0"
#define CF_LINE62 "--------------------------------------------------------------"

static volatile sig_atomic_t cf_cli_cancel;

static void
cf_cli_on_sigint(int sig)
{
    (void)sig;
    if (cf_cli_cancel)
        _exit(130); /* a second Ctrl-C: hard stop */
    cf_cli_cancel = 1;
}

static void
cf_cli_help(FILE *f)
{
    fprintf(f,
            "./cflink <ACTION> [OPTIONS] [ARGUMENTS]\n"
            "\n"
            "The following actions are available:\n"
            "\n"
            "Action \"run\" compiles and runs a program.\n"
            "\n"
            "  Syntax: run [OPTIONS] <plugin-file> <arguments>\n"
            "  \"run\" action options:\n"
            "     -p,--parallelism <parallelism>   The parallelism with which "
            "to run the\n"
            "                                      program. Optional flag to "
            "override the\n"
            "                                      default value specified in "
            "the\n"
            "                                      configuration.\n"
            "     -t,--target <target>             The deployment target: "
            "\"local\" runs the\n"
            "                                      job in this process "
            "(Flink's MiniCluster).\n"
            "     -D <property=value>              Allows specifying multiple "
            "generic\n"
            "                                      configuration options.\n"
            "\n"
            "Action \"info\" shows the optimized execution plan of the "
            "program (JSON).\n"
            "\n"
            "  Syntax: info [OPTIONS] <plugin-file> <arguments>\n"
            "  \"info\" action options:\n"
            "     -p,--parallelism <parallelism>   The parallelism with which "
            "to run the\n"
            "                                      program.\n"
            "\n"
            "Options for all actions:\n"
            "     -h,--help                        Show the help message for "
            "the CLI\n"
            "                                      Frontend or the action.\n"
            "     -v,--version                     Print version and commit "
            "id.\n");
}

static int
cf_cli_usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n\nUse the help option (-h or --help) to get help on "
                    "the command.\n");
    return 1;
}

/* Flink's error banner. */
static void
cf_cli_banner(const char *exception, const char *msg)
{
    fprintf(stderr,
            "\n" "------------------------------------------------------------"
            "\n The program finished with the following exception:\n\n"
            "%s: %s\n",
            exception, msg);
}

typedef struct cf_cli_opts_s {
    const char *target;
    int parallelism;
    int detached;
    const char *plugin;
    int argc; /* program arguments, argv[0] = plugin */
    char **argv;
} cf_cli_opts_t;

/* Parse options of run/info; -D goes into cfg. */
static int
cf_cli_parse(int argc, char **argv, cf_config_t *cfg, cf_cli_opts_t *o)
{
    int i;
    for (i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *val = NULL;
        if (a[0] != '-' || a[1] == '\0')
            break;
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
#define CF_OPTVAL(shortn, longn)                                             \
    (strcmp(a, shortn) == 0 || strcmp(a, longn) == 0)
        if (CF_OPTVAL("-p", "--parallelism") || CF_OPTVAL("-t", "--target") ||
            CF_OPTVAL("-m", "--jobmanager") || CF_OPTVAL("-c", "--class") ||
            CF_OPTVAL("-s", "--fromSavepoint")) {
            if (i + 1 >= argc)
                return cf_cli_usage_error("Missing argument for option: %s",
                                          a);
            val = argv[++i];
            if (CF_OPTVAL("-p", "--parallelism")) {
                char *end;
                long p = strtol(val, &end, 10);
                if (*end || p < 1 || p > 32768)
                    return cf_cli_usage_error(
                        "The parallelism must be a positive number: %s",
                        val);
                o->parallelism = (int)p;
            } else if (CF_OPTVAL("-t", "--target")) {
                o->target = val;
            } else if (CF_OPTVAL("-m", "--jobmanager")) {
                return cf_cli_usage_error(
                    "-m %s: this cflink build runs jobs locally only; use "
                    "-t local",
                    val);
            } else if (CF_OPTVAL("-s", "--fromSavepoint")) {
                return cf_cli_usage_error(
                    "-s %s: restoring from savepoints is not available in "
                    "this build",
                    val);
            }
            /* -c: a plugin has one entry; accepted and ignored. */
        } else if (strncmp(a, "-D", 2) == 0) {
            cf_error_t *err = NULL;
            const char *kv = a[2] ? a + 2 : (i + 1 < argc ? argv[++i] : "");
            if (cf_config_set_kv(cfg, kv, &err) < 0) {
                fprintf(stderr, "cflink: %s\n", cf_error_msg(err));
                cf_error_free(err);
                return 1;
            }
        } else if (CF_OPTVAL("-d", "--detached")) {
            o->detached = 1;
        } else if (CF_OPTVAL("-n", "--allowNonRestoredState") ||
                   CF_OPTVAL("-sae", "--shutdownOnAttachedExit")) {
            /* Accepted for compatibility. */
        } else {
            return cf_cli_usage_error("Unrecognized option: %s", a);
        }
#undef CF_OPTVAL
    }
    if (i >= argc)
        return cf_cli_usage_error("No plugin file specified.");
    o->plugin = argv[i];
    o->argc = argc - i;
    o->argv = argv + i;
    return 0;
}

static int
cf_cli_load_config(cf_config_t *cfg)
{
    cf_error_t *err = NULL;
    if (cf_config_load_default(cfg, &err) < 0) {
        fprintf(stderr, "cflink: %s\n", cf_error_msg(err));
        cf_error_free(err);
        return -1;
    }
    return 0;
}

/* Logging of the CLI: WARN and above on standard error unless
 * cflink.log.level says otherwise; env.log.dir sends it to a file. */
static void
cf_cli_setup_log(const cf_config_t *cfg)
{
    const char *lvl = cf_config_is_set(cfg, "cflink.log.level")
                          ? cf_config_get(cfg, "cflink.log.level")
                          : NULL;
    const char *dir = cf_config_get(cfg, "env.log.dir");
    cf_log_set_level(lvl ? cf_log_parse_level(lvl) : CF_LOGL_WARN);
    if (dir && *dir) {
        char *path = cf_asprintf("%s/cflink-client.log", dir);
        if (cf_log_open(path) < 0)
            fprintf(stderr, "cflink: cannot open log file %s: %s\n", path,
                    strerror(errno));
        cf_free(path);
    }
}

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

static int
cf_cli_info(int argc, char **argv)
{
    cf_config_t *cfg = cf_config_new();
    cf_cli_opts_t o = {0};
    cf_plugin_lib_t *lib = NULL;
    cf_job_t *job = NULL;
    int rc = 1;

    if (cf_cli_load_config(cfg) < 0)
        goto out;
    if (cf_cli_parse(argc, argv, cfg, &o) != 0)
        goto out;
    cf_cli_setup_log(cfg);
    if (cf_cli_build(cfg, &o, &lib, &job) < 0)
        goto out;
    char *plan = cf_job_plan_json(job, 1);
    printf("----------------------- Execution Plan -----------------------\n"
           "%s\n" CF_LINE62 "\n\n",
           plan);
    const char *desc = cf_plugin_description(lib);
    printf("%s\n", desc && *desc ? desc : "No description provided.");
    free(plan);
    rc = 0;
out:
    cf_job_destroy(job);
    cf_conn_free_all();
    cf_plugin_close(lib);
    cf_config_destroy(cfg);
    return rc;
}

static int
cf_cli_run(int argc, char **argv)
{
    cf_config_t *cfg = cf_config_new();
    cf_cli_opts_t o = {0};
    cf_plugin_lib_t *lib = NULL;
    cf_job_t *job = NULL;
    cf_local_result_t res = {0};
    cf_error_t *err = NULL;
    int rc = 1;

    if (cf_cli_load_config(cfg) < 0)
        goto out;
    if (cf_cli_parse(argc, argv, cfg, &o) != 0)
        goto out;
    if (o.target == NULL)
        o.target = cf_config_get(cfg, "execution.target");
    if (o.target == NULL || strcmp(o.target, "local") != 0) {
        fprintf(stderr,
                "cflink: target '%s' is not available in this build: run "
                "the job in-process with -t local\n",
                o.target ? o.target : "remote");
        goto out;
    }
    if (o.detached) {
        fprintf(stderr, "cflink: -d (detached) needs a cluster; -t local "
                        "runs attached\n");
        goto out;
    }
    cf_cli_setup_log(cfg);
    cf_config_log(cfg);
    if (cf_cli_build(cfg, &o, &lib, &job) < 0)
        goto out;

    signal(SIGINT, cf_cli_on_sigint);
    signal(SIGTERM, cf_cli_on_sigint);
    printf("Job has been submitted with JobID %s\n", cf_job_id_hex(job));
    fflush(stdout);
    if (cf_job_run_local(job, &cf_cli_cancel, &res, &err) < 0 &&
        res.failure == NULL) {
        fflush(stdout);
        cf_cli_banner("org.apache.flink.client.program."
                      "ProgramInvocationException",
                      cf_error_msg(err));
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
        cf_cli_banner("org.apache.flink.runtime.client."
                      "JobCancellationException",
                      "Job was cancelled.");
        rc = 130;
        break;
    default: {
        char *m = cf_asprintf("Job execution failed.\nCaused by: %s",
                              res.failure ? res.failure : "unknown cause");
        cf_cli_banner("org.apache.flink.runtime.client."
                      "JobExecutionException",
                      m);
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
    cf_config_destroy(cfg);
    return rc;
}

int
main(int argc, char **argv)
{
    const char *action;

    if (argc < 2) {
        cf_cli_help(stdout);
        printf("\nPlease specify an action.\n");
        return 1;
    }
    action = argv[1];
    if (strcmp(action, "-h") == 0 || strcmp(action, "--help") == 0) {
        cf_cli_help(stdout);
        return 0;
    }
    if (strcmp(action, "-v") == 0 || strcmp(action, "--version") == 0) {
        if (*CF_GIT_COMMIT)
            printf("Version: %s, Commit ID: %s\n", CF_VERSION, CF_GIT_COMMIT);
        else
            printf("Version: %s\n", CF_VERSION);
        return 0;
    }
    /* "run -h": the action's help; a -h after the plugin belongs to
     * the program. */
    if (argc > 2 &&
        (strcmp(argv[2], "-h") == 0 || strcmp(argv[2], "--help") == 0)) {
        cf_cli_help(stdout);
        return 0;
    }
    if (strcmp(action, "run") == 0)
        return cf_cli_run(argc - 2, argv + 2);
    if (strcmp(action, "info") == 0)
        return cf_cli_info(argc - 2, argv + 2);
    if (strcmp(action, "list") == 0 || strcmp(action, "cancel") == 0 ||
        strcmp(action, "stop") == 0 || strcmp(action, "savepoint") == 0 ||
        strcmp(action, "checkpoint") == 0) {
        fprintf(stderr,
                "cflink: \"%s\" needs a running cflink cluster, which this "
                "build does not have yet; run jobs with \"run -t local\".\n",
                action);
        return 1;
    }
    fprintf(stderr,
            "\"%s\" is not a valid action.\n\n"
            "Valid actions are \"run\", \"list\", \"info\", \"savepoint\", "
            "\"stop\", or \"cancel\".\n\n"
            "Specify the version option (-v or --version) to print Flink "
            "version.\n\n"
            "Specify the help option (-h or --help) to get help on the "
            "command.\n",
            action);
    return 1;
}
