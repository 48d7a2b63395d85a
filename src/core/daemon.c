/*
 * daemon.c: the start-up the cflink daemons share: options, log file,
 * configuration, log level, banner (see daemon.h).
 */
#include "daemon.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

static void
cf_daemon_usage(const cf_daemon_t *d, FILE *out)
{
    fprintf(out,
            "Usage: %s [options]\n"
            "\n"
            "%s"
            "\n"
            "Options:\n"
            "  -c,--configDir <dir>   Directory of config.yaml (default: "
            "$CFLINK_CONF_DIR,\n"
            "                         else <install dir>/conf)\n"
            "  -D <key=value>         Set a configuration value "
            "(repeatable)\n"
            "     --log-file <path>   Append the log to this file "
            "instead of stderr\n"
            "  -h,--help              Print this help and exit\n"
            "     --version           Print the version and exit\n",
            d->prog, d->about);
}

/* Options into *conf_dir, defs and d->log_file. Returns 1 to go on, else
 * like cf_daemon_init(). */
static int
cf_daemon_parse(cf_daemon_t *d, int argc, char **argv, const char **conf_dir,
                char **defs, int *ndefs)
{
    static const struct option longopts[] = {
        {"configDir", required_argument, NULL, 'c'},
        {"log-file", required_argument, NULL, 'L'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    int opt;

    while ((opt = getopt_long(argc, argv, "c:D:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            *conf_dir = optarg;
            break;
        case 'D':
            defs[(*ndefs)++] = optarg;
            break;
        case 'L':
            d->log_file = optarg;
            break;
        case 'h':
            cf_daemon_usage(d, stdout);
            return 0;
        case 'V':
            if (*d->commit)
                printf("Version: %s, Commit ID: %s\n", d->version, d->commit);
            else
                printf("Version: %s\n", d->version);
            return 0;
        default:
            cf_daemon_usage(d, stderr);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "%s: unexpected argument '%s'\n", d->prog,
                argv[optind]);
        cf_daemon_usage(d, stderr);
        return -1;
    }
    return 1;
}

int
cf_daemon_init(cf_daemon_t *d, int argc, char **argv, cf_error_t **errp)
{
    char **defs = cf_calloc((size_t)argc + 1, sizeof(char *));
    const char *conf_dir = NULL, *lvl;
    int ndefs = 0, rc;

    d->log_file = NULL;
    d->cfg = NULL;
    rc = cf_daemon_parse(d, argc, argv, &conf_dir, defs, &ndefs);
    if (rc <= 0)
        goto out;
    rc = -1;
    if (d->log_file != NULL && cf_log_open(d->log_file) < 0) {
        fprintf(stderr, "%s: cannot open log file %s: %s\n", d->prog,
                d->log_file, strerror(errno));
        goto out;
    }
    cf_log_set_thread_name("main");
    signal(SIGPIPE, SIG_IGN);

    d->cfg = cf_config_new();
    if ((conf_dir != NULL ? cf_config_load_dir(d->cfg, conf_dir, errp)
                          : cf_config_load_default(d->cfg, errp)) < 0)
        goto out;
    for (int i = 0; i < ndefs; i++)
        if (cf_config_set_kv(d->cfg, defs[i], errp) < 0)
            goto out;
    lvl = cf_config_get(d->cfg, "cflink.log.level");
    if (lvl != NULL && cf_log_parse_level(lvl) >= 0)
        cf_log_set_level(cf_log_parse_level(lvl));

    cf_log_info("------------------------------------------------------"
                "--------------------------");
    cf_log_info(" Starting %s (Version: %s, Rev:%s)", d->entry, d->version,
                *d->commit ? d->commit : "unknown");
    cf_log_info(" PID: %d", (int)getpid());
    cf_log_info("------------------------------------------------------"
                "--------------------------");
    cf_config_log(d->cfg);
    rc = 1;
out:
    cf_free(defs);
    return rc;
}

void
cf_daemon_fail(const cf_daemon_t *d, cf_error_t *err)
{
    if (err == NULL)
        return;
    cf_log_error("Could not start the %s: %s", d->role, cf_error_msg(err));
    if (d->log_file != NULL)
        fprintf(stderr, "%s: %s\n", d->prog, cf_error_msg(err));
    cf_error_free(err);
}
