/*
 * cli.h: internals of the cflink command (Flink's bin/flink), shared by
 * its files:
 *   cli_opts.c    option parsing, help texts, messages, the error banner
 *   cli_local.c   "run -t local" (in-process) and "info"
 *   cli_rest.c    the REST client (libcurl + jansson)
 *   cli_remote.c  "run", "list", "cancel" against a JobManager
 *   cli_ckpt.c    "savepoint", "stop", "checkpoint", "cancel -s"
 *   main.c        the action dispatch
 *
 * Everything but main() is in the cf_cli library so that unit tests
 * (tests/unit/test_cli_*.c) can call it.
 *
 * Thread: main only. Output: the job's and the actions' progress lines go
 * to standard output, errors and the banner to standard error.
 */
#ifndef CF_CLI_H
#define CF_CLI_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "config.h"
#include "core.h"

#define CF_CLI_VERSION "0.1.0"
#define CF_CLI_LINE62                                                        \
    "--------------------------------------------------------------"

/* Exception names shown in the banner (Flink's classes). */
#define CF_CLI_EXC_FLINK "org.apache.flink.util.FlinkException"
#define CF_CLI_EXC_PROGRAM                                                   \
    "org.apache.flink.client.program.ProgramInvocationException"
#define CF_CLI_EXC_EXECUTION                                                 \
    "org.apache.flink.runtime.client.JobExecutionException"
#define CF_CLI_EXC_CANCELLATION                                              \
    "org.apache.flink.runtime.client.JobCancellationException"
#define CF_CLI_EXC_REST "org.apache.flink.runtime.rest.util.RestClientException"
#define CF_CLI_EXC_CONNECT "java.net.ConnectException"
#define CF_CLI_EXC_IO "java.io.IOException"

/* Return values of cf_cli_parse besides 0. */
#define CF_CLI_HELP_SHOWN 2 /* -h was given: help printed, exit 0 */

typedef enum cf_cli_action_e {
    CF_CLI_RUN,
    CF_CLI_INFO,
    CF_CLI_LIST,
    CF_CLI_CANCEL,
    CF_CLI_STOP,
    CF_CLI_SAVEPOINT,
    CF_CLI_CHECKPOINT,
    CF_CLI_NACTIONS
} cf_cli_action_t;

/* The parsed command line of one action. */
typedef struct cf_cli_opts_s {
    cf_cli_action_t action;
    const char *target;     /* -t, or NULL */
    const char *jobmanager; /* -m host:port, or NULL */
    int parallelism;        /* -p, 0 when not given */
    int detached;           /* -d */
    int allow_non_restored; /* -n */
    int shutdown_on_exit;   /* -sae */
    int list_running;       /* -r */
    int list_scheduled;     /* -s (list) */
    int list_all;           /* -a */
    /* checkpoints and savepoints */
    const char *from_savepoint; /* run -s,--fromSavepoint */
    const char *claim_mode;     /* run -cm,--claimMode (accepted) */
    const char *dispose;        /* savepoint -d,--dispose */
    int savepoint_flag;         /* stop -p / cancel -s given */
    const char *savepoint_dir;  /* their optional value, or NULL */
    int drain;                  /* stop -d,--drain */
    int format_native;          /* -type native */
    int full;                   /* checkpoint -full */
    int detached_op;            /* stop/savepoint -detached */
    json_t *dynamic;        /* -D key=value, in order: {"key": "value"} */
    /* run/info: the plugin and its arguments (argv[0] is the plugin);
     * other actions: the positional arguments. */
    const char *plugin;
    int argc;
    char **argv;
    char **owned_argv; /* positional array owned by opts (other actions) */
} cf_cli_opts_t;

/* The action of a name, or -1. */
int cf_cli_action_of(const char *name);
const char *cf_cli_action_name(cf_cli_action_t a);

/* Parse the options of an action (argv after the action name); -D goes
 * into cfg (validated) and o->dynamic. Returns 0, 1 after printing a
 * usage or configuration error, or CF_CLI_HELP_SHOWN after printing the
 * action's help. Call cf_cli_opts_deinit() in every case. */
int cf_cli_parse(cf_cli_action_t action, int argc, char **argv,
                 cf_config_t *cfg, cf_cli_opts_t *o);
void cf_cli_opts_deinit(cf_cli_opts_t *o);

/* Help: the whole command's (all actions) or one action's. */
void cf_cli_help(FILE *f);
void cf_cli_help_action(FILE *f, cf_cli_action_t a);

/* A usage error: the message, a blank line and Flink's hint, on standard
 * error. Returns 1. */
int cf_cli_usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* Flink's error banner: a blank line, the banner lines, then
 * "<exception>: <msg>" and, for a cause (cause_exc not NULL),
 * "Caused by: <cause_exc>: <cause_msg>". cf_cli_banner writes to
 * standard error. */
void cf_cli_fbanner(FILE *f, const char *exception, const char *msg,
                    const char *cause_exc, const char *cause_msg);
void cf_cli_banner(const char *exception, const char *msg,
                   const char *cause_exc, const char *cause_msg);

/* Load the default configuration; prints the error. 0 or -1. */
int cf_cli_load_config(cf_config_t *cfg);
/* Client logging from cflink.log.level and env.log.dir. */
void cf_cli_setup_log(const cf_config_t *cfg);

/* Parse a JobID as Flink's JobID.fromHexString (32 hex digits, either
 * case) into 32 lower-case hex digits. 0, or CF_EINVAL. */
int cf_cli_parse_job_id(const char *s, char out[33]);

/* SIGINT/SIGTERM: the first sets cf_cli_interrupted, a second exits 130
 * at once. restart: SA_RESTART (interrupted system calls resume). */
extern volatile sig_atomic_t cf_cli_interrupted;
void cf_cli_install_signals(int restart);

/* ------------------------------------------------------------------ */
/* Actions                                                             */
/* ------------------------------------------------------------------ */

int cf_cli_run_local(cf_config_t *cfg, cf_cli_opts_t *o);
int cf_cli_info(cf_config_t *cfg, cf_cli_opts_t *o);
int cf_cli_run_remote(cf_config_t *cfg, cf_cli_opts_t *o);
int cf_cli_list(cf_config_t *cfg, cf_cli_opts_t *o);
int cf_cli_cancel(cf_config_t *cfg, cf_cli_opts_t *o);

/* savepoint [-d path], stop, checkpoint and cancel -s: progress lines on
 * out, usage errors and Flink's banner on err. 0 or 1. */
int cf_cli_savepoint(cf_config_t *cfg, cf_cli_opts_t *o, FILE *out,
                     FILE *err);
int cf_cli_stop(cf_config_t *cfg, cf_cli_opts_t *o, FILE *out, FILE *err);
int cf_cli_checkpoint(cf_config_t *cfg, cf_cli_opts_t *o, FILE *out,
                      FILE *err);
int cf_cli_cancel_with_savepoint(cf_config_t *cfg, cf_cli_opts_t *o,
                                 FILE *out, FILE *err);

/* The "class: message" of a failure cause (Flink's SerializedThrowable
 * JSON): *cls and *msg (free both) from "class" and the first line of
 * "stack-trace" (without its "class: " prefix). */
void cf_cli_failure_text(const json_t *cause, char **cls, char **msg);

/* ------------------------------------------------------------------ */
/* REST client                                                         */
/* ------------------------------------------------------------------ */

/* The JobManager's REST base URL, "http://host:port[/path]": from -m
 * ("host:port", an optional "http://" scheme and path) when m is not
 * NULL, else rest.address (falling back to jobmanager.rpc.address, then
 * "localhost"), rest.port and rest.path. Errors name the address. */
int cf_cli_rest_base_url(const cf_config_t *cfg, const char *m, char **url,
                         cf_error_t **errp);

typedef struct cf_cli_rest_s cf_cli_rest_t;

/* A client of the REST API at base_url; timeouts from
 * rest.connection-timeout (connect) and rest.idleness-timeout (a whole
 * request). */
cf_cli_rest_t *cf_cli_rest_new(const char *base_url, const cf_config_t *cfg);
void cf_cli_rest_destroy(cf_cli_rest_t *r);
const char *cf_cli_rest_url(const cf_cli_rest_t *r);

/* The result of one request. */
typedef struct cf_cli_resp_s {
    long status;   /* HTTP status */
    json_t *body;  /* parsed JSON body, or NULL (not JSON, or empty) */
    char *raw;     /* the body as received (NUL-terminated) */
} cf_cli_resp_t;

void cf_cli_resp_deinit(cf_cli_resp_t *resp);

/* Send method path (joined to the base URL) with an optional JSON body
 * (not stolen). 0 when a response arrived (whatever its status), or a
 * negative code when none did: *errp is then "Could not connect to the
 * JobManager at <url>: <reason>" (or names the failing request). */
int cf_cli_rest_call(cf_cli_rest_t *r, const char *method, const char *path,
                     json_t *body, cf_cli_resp_t *resp, cf_error_t **errp);

/* POST path as multipart/form-data with the file in field "jarfile"
 * (named by its basename). Same results as cf_cli_rest_call. */
int cf_cli_rest_upload(cf_cli_rest_t *r, const char *path, const char *file,
                       cf_cli_resp_t *resp, cf_error_t **errp);

/* The error text of a response, as Flink's RestClientException message:
 * "[first error, second error]" from {"errors": [...]}, else the raw body
 * or "HTTP <status>". Free it. */
char *cf_cli_rest_error_text(const cf_cli_resp_t *resp);

/* Print Flink's job list ("list" after "Waiting for response...") for a
 * /jobs/overview response, with the given sections. Times are local
 * times. 0, or CF_EPROTO when the body has no "jobs" array. */
int cf_cli_print_job_list(FILE *f, const json_t *overview, int running,
                          int scheduled, int all);

/* The outcome of an attached run from a COMPLETED execution-result body:
 * prints Flink's success lines on out or the banner on err, and returns
 * the exit code (0 or 1). */
int cf_cli_report_result(FILE *out, FILE *err, const char *job_id,
                         const json_t *execution_result);

#endif /* CF_CLI_H */
