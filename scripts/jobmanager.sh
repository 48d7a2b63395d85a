#!/usr/bin/env bash
# jobmanager.sh: start or stop the cflink JobManager on this host, as
# Flink's bin/jobmanager.sh.
#
#   jobmanager.sh start [args]             start a daemon (background)
#   jobmanager.sh start-foreground [args]  run in the foreground, logging
#                                          to the console (systemd,
#                                          containers)
#   jobmanager.sh stop                     stop the last one started
#   jobmanager.sh stop-all                 stop every JobManager started here
#
# args go to cflink-jobmanager, e.g. -D rest.port=8082. Pid and log files,
# directories and the environment: see cflink-daemon.sh.
USAGE="Usage: jobmanager.sh ((start|start-foreground) [args])|stop|stop-all"

STARTSTOP=${1:-}
case "$STARTSTOP" in
start | start-foreground | stop | stop-all) ;;
-h | --help)
    sed -n '2,13{s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
    exit 0
    ;;
*)
    echo "$USAGE"
    exit 1
    ;;
esac
shift

# shellcheck source=cflink-daemon.sh
. "$(dirname "${BASH_SOURCE[0]}")/cflink-daemon.sh"
set -uo pipefail
cf_daemon "$STARTSTOP" jobmanager "$@"
