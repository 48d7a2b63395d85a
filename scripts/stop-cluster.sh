#!/usr/bin/env bash
# stop-cluster.sh: stop a cflink cluster started by start-cluster.sh, as
# Flink's bin/stop-cluster.sh: one TaskManager per line of <conf>/workers
# (over ssh for other hosts, as start-cluster.sh), then the JobManager.
# Each daemon gets SIGTERM and up to $CFLINK_STOP_TIMEOUT seconds (default
# 10) to shut down, then SIGKILL.
case "${1:-}" in
-h | --help)
    sed -n '2,6{s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
    exit 0
    ;;
esac

bin=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=cflink-daemon.sh
. "$bin/cflink-daemon.sh"
set -uo pipefail
cf_resolve_home

status=0
cf_taskmanagers stop "$@" || status=1

"$bin/jobmanager.sh" stop "$@" || status=1
exit "$status"
