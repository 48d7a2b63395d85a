/*
 * daemon.h: the start-up the cflink daemons share (cflink-jobmanager,
 * cflink-taskmanager, like Flink's entrypoints): command-line options,
 * log file, configuration, log level and the start-up banner.
 *
 *   <prog> [-c|--configDir <dir>] [-D key=value]... [--log-file <path>]
 *          [-h|--help] [--version]
 *
 * The shutdown signals are the loop's: cf_loop_on_shutdown_signals().
 */
#ifndef CF_DAEMON_H
#define CF_DAEMON_H

#include "config.h"
#include "core.h"

typedef struct cf_daemon_s {
    /* Set by the caller. */
    const char *prog;    /* "cflink-taskmanager": usage, stderr messages */
    const char *about;   /* usage text between "Usage:" and "Options:" */
    const char *entry;   /* banner: " Starting <entry> (Version: ..." */
    const char *role;    /* "TaskManager": "Could not start the <role>" */
    const char *version; /* CF_VERSION */
    const char *commit;  /* CF_GIT_COMMIT, "" when unknown */
    /* Set by cf_daemon_init(). */
    const char *log_file; /* --log-file, or NULL (stderr) */
    cf_config_t *cfg;     /* the configuration; the caller destroys it */
} cf_daemon_t;

/* Parses the options, opens the log file, loads the configuration
 * (--configDir, else the default) with the -D values over it, applies
 * cflink.log.level, logs the banner and the configuration, ignores
 * SIGPIPE. Returns 1 when the daemon should start; 0 when it should exit
 * with status 0 (--help, --version); -1 when it should exit with status
 * 1: with *errp set when the configuration is at fault (give it to
 * cf_daemon_fail()), else the message is already printed. */
int cf_daemon_init(cf_daemon_t *d, int argc, char **argv, cf_error_t **errp);

/* Logs "Could not start the <role>: <message>" (also on stderr when the
 * log goes to a file) and frees err (NULL: nothing). */
void cf_daemon_fail(const cf_daemon_t *d, cf_error_t *err);

#endif /* CF_DAEMON_H */
