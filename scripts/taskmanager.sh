#!/usr/bin/env bash
# taskmanager.sh: start or stop a cflink TaskManager on this host, as
# Flink's bin/taskmanager.sh.
#
#   taskmanager.sh start [args]             start a daemon (background)
#   taskmanager.sh start-foreground [args]  run in the foreground, logging
#                                           to the console (systemd,
#                                           containers)
#   taskmanager.sh stop                     stop the last one started
#   taskmanager.sh stop-all                 stop every TaskManager started
#                                           here
#
# args go to cflink-taskmanager, e.g. -D taskmanager.numberOfTaskSlots=2.
# Pid and log files, directories and the environment: see cflink-daemon.sh.
USAGE="Usage: taskmanager.sh (start|start-foreground|stop|stop-all)"

STARTSTOP=${1:-}
case "$STARTSTOP" in
start | start-foreground | stop | stop-all) ;;
-h | --help)
    sed -n '2,14{s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
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
cf_daemon "$STARTSTOP" taskmanager "$@"
