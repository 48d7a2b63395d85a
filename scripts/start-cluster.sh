#!/usr/bin/env bash
# start-cluster.sh: start a cflink cluster, as Flink's bin/start-cluster.sh:
# one JobManager on this host, then one TaskManager per line of
# <conf>/workers (default: one, on localhost).
#
#   start-cluster.sh [args]
#
# args (-D key=value) go to every daemon started on this host. Lines of the
# workers file other than localhost/127.0.0.1 start a TaskManager on that
# host over ssh (options in $CFLINK_SSH_OPTS), running taskmanager.sh from
# the same path, which must hold cflink there too. Pid and log files:
# see cflink-daemon.sh. Stop the cluster with stop-cluster.sh.
case "${1:-}" in
-h | --help)
    sed -n '2,12{s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
    exit 0
    ;;
esac

bin=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=cflink-daemon.sh
. "$bin/cflink-daemon.sh"
set -uo pipefail
cf_resolve_home

echo "Starting cluster."
"$bin/jobmanager.sh" start "$@" || exit 1

status=0
cf_taskmanagers start "$@" || status=1
exit "$status"
