/*
 * main.c: the cflink command (Flink's bin/flink): picks the action and
 * hands it its options. "run" goes to a cluster through the JobManager's
 * REST API (cli_remote.c), or runs in this process with "-t local"
 * (cli_local.c); "info" is local; "list" and "cancel" are REST calls;
 * "stop", "savepoint", "checkpoint" and "cancel -s" are asynchronous
 * REST operations (cli_ckpt.c).
 */
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

#include "cli.h"

static int
cf_cli_invalid_action(const char *action)
{
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

/* run: -t local runs in-process; -t remote (the default, as Flink's
 * default CLI) submits to the JobManager. */
static int
cf_cli_run(cf_config_t *cfg, cf_cli_opts_t *o)
{
    const char *target = o->target;
    if (target == NULL)
        target = cf_config_get(cfg, "execution.target");
    if (target == NULL || strcmp(target, "remote") == 0)
        return cf_cli_run_remote(cfg, o);
    if (strcmp(target, "local") == 0) {
        /* -s and -n as Flink's execution.state-recovery.* keys. */
        if (o->from_savepoint &&
            (cf_config_set(cfg, "execution.state-recovery.path",
                           o->from_savepoint, "-s", NULL) < 0 ||
             cf_config_set(cfg,
                           "execution.state-recovery.ignore-unclaimed-state",
                           o->allow_non_restored ? "true" : "false", "-n",
                           NULL) < 0))
            return 1;
        return cf_cli_run_local(cfg, o);
    }
    fprintf(stderr,
            "cflink: target '%s' is not available in this build: use -t "
            "remote (a running cflink cluster) or -t local (this "
            "process)\n",
            target);
    return 1;
}

static int
cf_cli_action(cf_cli_action_t action, int argc, char **argv)
{
    cf_config_t *cfg;
    cf_cli_opts_t o;
    int rc;

    cfg = cf_config_new();
    if (cf_cli_load_config(cfg) < 0) {
        cf_config_destroy(cfg);
        return 1;
    }
    rc = cf_cli_parse(action, argc, argv, cfg, &o);
    if (rc == CF_CLI_HELP_SHOWN) {
        rc = 0;
    } else if (rc == 0) {
        switch (action) {
        case CF_CLI_RUN:
            rc = cf_cli_run(cfg, &o);
            break;
        case CF_CLI_INFO:
            rc = cf_cli_info(cfg, &o);
            break;
        case CF_CLI_LIST:
            rc = cf_cli_list(cfg, &o);
            break;
        case CF_CLI_CANCEL:
            rc = o.savepoint_flag
                     ? cf_cli_cancel_with_savepoint(cfg, &o, stdout, stderr)
                     : cf_cli_cancel(cfg, &o);
            break;
        case CF_CLI_STOP:
            rc = cf_cli_stop(cfg, &o, stdout, stderr);
            break;
        case CF_CLI_SAVEPOINT:
            rc = cf_cli_savepoint(cfg, &o, stdout, stderr);
            break;
        case CF_CLI_CHECKPOINT:
            rc = cf_cli_checkpoint(cfg, &o, stdout, stderr);
            break;
        default:
            rc = 1;
            break;
        }
    }
    fflush(stdout);
    cf_cli_opts_deinit(&o);
    cf_config_destroy(cfg);
    return rc;
}

int
main(int argc, char **argv)
{
    const char *action;
    int a, rc;

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
            printf("Version: %s, Commit ID: %s\n", CF_CLI_VERSION,
                   CF_GIT_COMMIT);
        else
            printf("Version: %s\n", CF_CLI_VERSION);
        return 0;
    }
    a = cf_cli_action_of(action);
    if (a < 0)
        return cf_cli_invalid_action(action);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cf_cli_action((cf_cli_action_t)a, argc - 2, argv + 2);
    curl_global_cleanup();
    return rc;
}
