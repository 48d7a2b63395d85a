/*
 * cli_opts.c: the command line of the cflink command: the options of each
 * action (Flink's CliFrontendParser names), the help texts, usage errors,
 * Flink's error banner, JobID parsing, client configuration and logging,
 * and the interrupt handling.
 */
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cli.h"

static const char *const cf_cli_action_names[CF_CLI_NACTIONS] = {
    "run", "info", "list", "cancel", "stop", "savepoint", "checkpoint",
};

int
cf_cli_action_of(const char *name)
{
    for (int i = 0; i < CF_CLI_NACTIONS; i++)
        if (strcmp(name, cf_cli_action_names[i]) == 0)
            return i;
    return -1;
}

const char *
cf_cli_action_name(cf_cli_action_t a)
{
    return a < CF_CLI_NACTIONS ? cf_cli_action_names[a] : "?";
}

/* ------------------------------------------------------------------ */
/* Help                                                                */
/* ------------------------------------------------------------------ */

/* One option row: the name in a 33-column field after 5 spaces, the
 * description wrapped at 80 columns under itself. */
static void
cf_cli_opt(FILE *f, const char *name, const char *desc)
{
    const int indent = 38, width = 80;
    int col = fprintf(f, "     %-33s", name);
    const char *p = desc;

    if (col > indent) {
        fprintf(f, "\n%*s", indent, "");
        col = indent;
    }
    while (*p) {
        const char *sp = strchr(p, ' ');
        int wlen = sp ? (int)(sp - p) : (int)strlen(p);
        if (col > indent && col + 1 + wlen > width) {
            fprintf(f, "\n%*s", indent, "");
            col = indent;
        } else if (col > indent) {
            fputc(' ', f);
            col++;
        }
        fwrite(p, 1, (size_t)wlen, f);
        col += wlen;
        p += wlen;
        while (*p == ' ')
            p++;
    }
    fputc('\n', f);
}

static void
cf_cli_help_cluster_opts(FILE *f, int with_target)
{
    fprintf(f, "  Options for Generic CLI mode:\n");
    cf_cli_opt(f, "-D <property=value>",
               "Allows specifying multiple generic configuration options. "
               "The available options can be found at "
               "docs/user-guide/configuration.md.");
    if (with_target)
        cf_cli_opt(f, "-t,--target <target>",
                   "The deployment target for the execution: \"remote\" "
                   "(a running cflink cluster, the default) or \"local\" "
                   "(in this process, as Flink's MiniCluster).");
    fprintf(f, "\n  Options for default mode:\n");
    cf_cli_opt(f, "-m,--jobmanager <arg>",
               "Address of the JobManager (host:port) to which to "
               "connect. Use this flag to connect to a different "
               "JobManager than the one specified in the configuration "
               "(rest.address and rest.port).");
}

static void
cf_cli_help_type(FILE *f)
{
    cf_cli_opt(f, "-type,--type <arg>",
               "Describes the binary format in which a savepoint should be "
               "taken. Supported options: [canonical - Canonical format "
               "that is common for all state backends and allows changing "
               "state backends, native = Specific format for the chosen "
               "state backend, might be faster to take and restore from.] "
               "cflink writes one format: both name it.");
}

void
cf_cli_help_action(FILE *f, cf_cli_action_t a)
{
    switch (a) {
    case CF_CLI_RUN:
        fprintf(f, "\nAction \"run\" compiles and runs a program.\n\n"
                   "  Syntax: run [OPTIONS] <plugin-file> <arguments>\n"
                   "  \"run\" action options:\n");
        cf_cli_opt(f, "-c,--class <classname>",
                   "Accepted and ignored: a plugin has a single entry.");
        cf_cli_opt(f, "-d,--detached",
                   "If present, runs the job in detached mode");
        cf_cli_opt(f, "-cm,--claimMode <arg>",
                   "Defines how should we restore from the given "
                   "savepoint. Supported options: [claim, no_claim "
                   "(default), legacy]; cflink never deletes the files "
                   "of the savepoint it restores from (no_claim).");
        cf_cli_opt(f, "-n,--allowNonRestoredState",
                   "Allow to skip savepoint state that cannot be restored. "
                   "You need to allow this if you removed an operator "
                   "from your program that was part of the program when "
                   "the savepoint was triggered.");
        cf_cli_opt(f, "-p,--parallelism <parallelism>",
                   "The parallelism with which to run the program. "
                   "Optional flag to override the default value specified "
                   "in the configuration.");
        cf_cli_opt(f, "-s,--fromSavepoint <savepointPath>",
                   "Path to a savepoint to restore the job from (for "
                   "example /data/savepoints/savepoint-1537).");
        cf_cli_opt(f, "-sae,--shutdownOnAttachedExit",
                   "If the job is submitted in attached mode, cancel the "
                   "job when the CLI is terminated abruptly, e.g., in "
                   "response to a user interrupt, such as typing Ctrl + C.");
        cf_cli_help_cluster_opts(f, 1);
        break;
    case CF_CLI_INFO:
        fprintf(f, "\nAction \"info\" shows the optimized execution plan of "
                   "the program (JSON).\n\n"
                   "  Syntax: info [OPTIONS] <plugin-file> <arguments>\n"
                   "  \"info\" action options:\n");
        cf_cli_opt(f, "-c,--class <classname>",
                   "Accepted and ignored: a plugin has a single entry.");
        cf_cli_opt(f, "-p,--parallelism <parallelism>",
                   "The parallelism with which to run the program. "
                   "Optional flag to override the default value specified "
                   "in the configuration.");
        fprintf(f, "  Options for Generic CLI mode:\n");
        cf_cli_opt(f, "-D <property=value>",
                   "Allows specifying multiple generic configuration "
                   "options.");
        break;
    case CF_CLI_LIST:
        fprintf(f, "\nAction \"list\" lists running and scheduled "
                   "programs.\n\n"
                   "  Syntax: list [OPTIONS]\n"
                   "  \"list\" action options:\n");
        cf_cli_opt(f, "-a,--all", "Show all programs and their JobIDs");
        cf_cli_opt(f, "-r,--running",
                   "Show only running programs and their JobIDs");
        cf_cli_opt(f, "-s,--scheduled",
                   "Show only scheduled programs and their JobIDs");
        cf_cli_help_cluster_opts(f, 0);
        break;
    case CF_CLI_CANCEL:
        fprintf(f, "\nAction \"cancel\" cancels a running program.\n\n"
                   "  Syntax: cancel [OPTIONS] <Job ID>\n"
                   "  \"cancel\" action options:\n");
        cf_cli_opt(f, "-s,--withSavepoint <targetDirectory>",
                   "**DEPRECATION WARNING**: Cancelling a job with "
                   "savepoint is deprecated. Use \"stop\" instead. Trigger "
                   "savepoint and cancel job. The target directory is "
                   "optional. If no directory is specified, the configured "
                   "default directory "
                   "(execution.checkpointing.savepoint-dir) is used.");
        cf_cli_help_type(f);
        cf_cli_help_cluster_opts(f, 0);
        break;
    case CF_CLI_STOP:
        fprintf(f, "\nAction \"stop\" stops a running program with a "
                   "savepoint (streaming jobs only).\n\n"
                   "  Syntax: stop [OPTIONS] <Job ID>\n"
                   "  \"stop\" action options:\n");
        cf_cli_opt(f, "-d,--drain",
                   "Send MAX_WATERMARK before taking the savepoint and "
                   "stopping the pipelne.");
        cf_cli_opt(f, "-detached", "Stopping savepoint in detached mode.");
        cf_cli_opt(f, "-p,--savepointPath <savepointPath>",
                   "Path to the savepoint (for example "
                   "/data/savepoints/savepoint-1537). If no directory is "
                   "specified, the configured default will be used "
                   "(\"execution.checkpointing.savepoint-dir\").");
        cf_cli_help_type(f);
        cf_cli_help_cluster_opts(f, 0);
        break;
    case CF_CLI_SAVEPOINT:
        fprintf(f, "\nAction \"savepoint\" triggers savepoints for a "
                   "running job or disposes existing ones.\n\n"
                   "  Syntax: savepoint [OPTIONS] <Job ID> [<target "
                   "directory>]\n"
                   "  \"savepoint\" action options:\n");
        cf_cli_opt(f, "-d,--dispose <arg>", "Path of savepoint to dispose.");
        cf_cli_opt(f, "-detached", "Triggering savepoint in detached mode.");
        cf_cli_opt(f, "-j,--jarfile <jarfile>",
                   "Accepted and ignored (Flink's program JAR file).");
        cf_cli_help_type(f);
        cf_cli_help_cluster_opts(f, 0);
        break;
    case CF_CLI_CHECKPOINT:
        fprintf(f, "\nAction \"checkpoint\" triggers checkpoints for a "
                   "running job.\n\n"
                   "  Syntax: checkpoint [OPTIONS] <Job ID>\n"
                   "  \"checkpoint\" action options:\n");
        cf_cli_opt(f, "-full,--full", "Trigger a full checkpoint.");
        cf_cli_help_cluster_opts(f, 0);
        break;
    default:
        break;
    }
}

void
cf_cli_help(FILE *f)
{
    fprintf(f, "./cflink <ACTION> [OPTIONS] [ARGUMENTS]\n"
               "\n"
               "The following actions are available:\n");
    cf_cli_help_action(f, CF_CLI_RUN);
    cf_cli_help_action(f, CF_CLI_INFO);
    cf_cli_help_action(f, CF_CLI_LIST);
    cf_cli_help_action(f, CF_CLI_STOP);
    cf_cli_help_action(f, CF_CLI_CANCEL);
    cf_cli_help_action(f, CF_CLI_SAVEPOINT);
    cf_cli_help_action(f, CF_CLI_CHECKPOINT);
    fprintf(f, "\nOptions for all actions:\n");
    cf_cli_opt(f, "-h,--help",
               "Show the help message for the CLI Frontend or the action.");
    cf_cli_opt(f, "-v,--version", "Print version and commit id.");
}

/* ------------------------------------------------------------------ */
/* Messages                                                            */
/* ------------------------------------------------------------------ */

int
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

void
cf_cli_fbanner(FILE *f, const char *exception, const char *msg,
               const char *cause_exc, const char *cause_msg)
{
    fprintf(f, "\n------------------------------------------------------------"
               "\n The program finished with the following exception:\n\n"
               "%s: %s\n",
            exception, msg);
    if (cause_exc)
        fprintf(f, "Caused by: %s: %s\n", cause_exc,
                cause_msg ? cause_msg : "");
    fflush(f);
}

void
cf_cli_banner(const char *exception, const char *msg, const char *cause_exc,
              const char *cause_msg)
{
    fflush(stdout);
    cf_cli_fbanner(stderr, exception, msg, cause_exc, cause_msg);
}

/* ------------------------------------------------------------------ */
/* Options                                                             */
/* ------------------------------------------------------------------ */

void
cf_cli_opts_deinit(cf_cli_opts_t *o)
{
    if (o->dynamic)
        json_decref(o->dynamic);
    cf_free(o->owned_argv);
    memset(o, 0, sizeof(*o));
}

static int
cf_cli_is(const char *a, const char *shortn, const char *longn)
{
    return strcmp(a, shortn) == 0 || (longn && strcmp(a, longn) == 0);
}

/* -D key=value (or -Dkey=value): into cfg (validated) and o->dynamic. */
static int
cf_cli_dynamic(const char *kv, cf_config_t *cfg, cf_cli_opts_t *o)
{
    cf_error_t *err = NULL;
    const char *eq;

    if (cf_config_set_kv(cfg, kv, &err) < 0) {
        fprintf(stderr, "cflink: %s\n", cf_error_msg(err));
        cf_error_free(err);
        return 1;
    }
    eq = strchr(kv, '=');
    if (eq) {
        char *key = cf_strndup(kv, (size_t)(eq - kv));
        json_object_set_new(o->dynamic, key, json_string(eq + 1));
        cf_free(key);
    }
    return 0;
}

int
cf_cli_parse(cf_cli_action_t action, int argc, char **argv, cf_config_t *cfg,
             cf_cli_opts_t *o)
{
    const int program = action == CF_CLI_RUN || action == CF_CLI_INFO;
    const int with_type = action == CF_CLI_CANCEL || action == CF_CLI_STOP ||
                          action == CF_CLI_SAVEPOINT;
    int npos = 0;
    int i;

    memset(o, 0, sizeof(*o));
    o->action = action;
    o->dynamic = json_object();
    o->owned_argv = cf_calloc((size_t)argc + 1, sizeof(char *));

    for (i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char *val = NULL;

        if (a[0] != '-' || a[1] == '\0') {
            if (program)
                break; /* the plugin: the rest are its arguments */
            o->owned_argv[npos++] = argv[i];
            continue;
        }
        if (strcmp(a, "--") == 0) {
            i++;
            if (program)
                break;
            while (i < argc)
                o->owned_argv[npos++] = argv[i++];
            break;
        }
        if (cf_cli_is(a, "-h", "--help")) {
            printf("./cflink <ACTION> [OPTIONS] [ARGUMENTS]\n");
            cf_cli_help_action(stdout, action);
            return CF_CLI_HELP_SHOWN;
        }
        if (strncmp(a, "-D", 2) == 0) {
            if (a[2] == '\0' && i + 1 >= argc)
                return cf_cli_usage_error("Missing argument for option: "
                                          "-D");
            if (cf_cli_dynamic(a[2] ? a + 2 : argv[++i], cfg, o) != 0)
                return 1;
            continue;
        }
        /* Options with a value. */
        if (cf_cli_is(a, "-m", "--jobmanager") ||
            cf_cli_is(a, "-t", "--target") ||
            (program && (cf_cli_is(a, "-p", "--parallelism") ||
                         cf_cli_is(a, "-c", "--class") ||
                         cf_cli_is(a, "-s", "--fromSavepoint") ||
                         cf_cli_is(a, "-cm", "--claimMode") ||
                         cf_cli_is(a, "-rm", "--restoreMode"))) ||
            (action == CF_CLI_SAVEPOINT &&
             (cf_cli_is(a, "-d", "--dispose") ||
              cf_cli_is(a, "-j", "--jarfile"))) ||
            (with_type && cf_cli_is(a, "-type", "--type"))) {
            if (i + 1 >= argc)
                return cf_cli_usage_error("Missing argument for option: %s",
                                          a);
            val = argv[++i];
            if (cf_cli_is(a, "-m", "--jobmanager")) {
                o->jobmanager = val;
            } else if (cf_cli_is(a, "-t", "--target")) {
                o->target = val;
            } else if (cf_cli_is(a, "-p", "--parallelism")) {
                char *end;
                long p = strtol(val, &end, 10);
                if (*end || end == val || p < 1)
                    return cf_cli_usage_error(
                        "The parallelism must be a positive number: %s",
                        val);
                if (p > 32768)
                    return cf_cli_usage_error(
                        "The parallelism %s is above the maximum of 32768",
                        val);
                o->parallelism = (int)p;
            } else if (cf_cli_is(a, "-s", "--fromSavepoint")) {
                o->from_savepoint = val;
            } else if (cf_cli_is(a, "-cm", "--claimMode") ||
                       cf_cli_is(a, "-rm", "--restoreMode")) {
                if (strcasecmp(val, "claim") != 0 &&
                    strcasecmp(val, "no_claim") != 0 &&
                    strcasecmp(val, "legacy") != 0)
                    return cf_cli_usage_error(
                        "Could not parse value '%s' for option %s: "
                        "expected one of [claim, no_claim, legacy].",
                        val, a);
                o->claim_mode = val;
            } else if (cf_cli_is(a, "-d", "--dispose")) {
                o->dispose = val;
            } else if (cf_cli_is(a, "-type", "--type")) {
                if (strcasecmp(val, "canonical") == 0)
                    o->format_native = 0;
                else if (strcasecmp(val, "native") == 0)
                    o->format_native = 1;
                else
                    return cf_cli_usage_error(
                        "Could not parse value '%s' for option %s: "
                        "expected one of [canonical, native].",
                        val, a);
            }
            /* -c: a plugin has one entry; -j: no jars. Accepted and
             * ignored. */
            continue;
        }
        /* Options with an optional value (commons-cli: the next argument
         * unless it is an option). */
        if ((action == CF_CLI_STOP && cf_cli_is(a, "-p", "--savepointPath")) ||
            (action == CF_CLI_CANCEL &&
             cf_cli_is(a, "-s", "--withSavepoint"))) {
            o->savepoint_flag = 1;
            if (i + 1 < argc && argv[i + 1][0] != '-')
                o->savepoint_dir = argv[++i];
            continue;
        }
        if (program && cf_cli_is(a, "-d", "--detached")) {
            o->detached = 1;
        } else if (program && cf_cli_is(a, "-n", "--allowNonRestoredState")) {
            o->allow_non_restored = 1;
        } else if (program &&
                   cf_cli_is(a, "-sae", "--shutdownOnAttachedExit")) {
            o->shutdown_on_exit = 1;
        } else if (action == CF_CLI_LIST && cf_cli_is(a, "-r", "--running")) {
            o->list_running = 1;
        } else if (action == CF_CLI_LIST &&
                   cf_cli_is(a, "-s", "--scheduled")) {
            o->list_scheduled = 1;
        } else if (action == CF_CLI_LIST && cf_cli_is(a, "-a", "--all")) {
            o->list_all = 1;
        } else if (action == CF_CLI_STOP && cf_cli_is(a, "-d", "--drain")) {
            o->drain = 1;
        } else if ((action == CF_CLI_STOP || action == CF_CLI_SAVEPOINT) &&
                   cf_cli_is(a, "-detached", "--detached")) {
            o->detached_op = 1;
        } else if (action == CF_CLI_CHECKPOINT &&
                   cf_cli_is(a, "-full", "--full")) {
            o->full = 1;
        } else {
            return cf_cli_usage_error("Unrecognized option: %s", a);
        }
    }
    if (program) {
        if (i >= argc)
            return cf_cli_usage_error("No plugin file specified.");
        o->plugin = argv[i];
        o->argc = argc - i;
        o->argv = argv + i;
    } else {
        o->argc = npos;
        o->argv = o->owned_argv;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* JobIDs, configuration, logging, signals                             */
/* ------------------------------------------------------------------ */

int
cf_cli_parse_job_id(const char *s, char out[33])
{
    size_t n = s ? strlen(s) : 0;
    if (n != 32)
        return CF_EINVAL;
    for (size_t k = 0; k < n; k++) {
        if (!isxdigit((unsigned char)s[k]))
            return CF_EINVAL;
        out[k] = (char)tolower((unsigned char)s[k]);
    }
    out[32] = '\0';
    return 0;
}

int
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
void
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

volatile sig_atomic_t cf_cli_interrupted;

static void
cf_cli_on_signal(int sig)
{
    (void)sig;
    if (cf_cli_interrupted)
        _exit(130); /* a second Ctrl-C: hard stop */
    cf_cli_interrupted = 1;
}

void
cf_cli_install_signals(int restart)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = cf_cli_on_signal;
    sigemptyset(&sa.sa_mask);
    /* Without SA_RESTART a sleep between polls ends at once; the local
     * runtime's threads keep SA_RESTART (as signal() set it before). */
    sa.sa_flags = restart ? SA_RESTART : 0;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}
