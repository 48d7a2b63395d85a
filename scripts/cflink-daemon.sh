#!/usr/bin/env bash
# cflink-daemon.sh: start and stop cflink daemons, as Flink's
# flink-daemon.sh and flink-console.sh. Used by jobmanager.sh,
# taskmanager.sh, start-cluster.sh and stop-cluster.sh; sourced by them for
# its functions, or run directly:
#
#   cflink-daemon.sh (start|start-foreground|stop|stop-all) \
#       (jobmanager|taskmanager) [args]
#
# Directories (first match wins):
#   install  $CFLINK_HOME; else the directory holding bin/cflink-jobmanager
#            found from this script: <dir>/.. when the daemons are beside
#            it (an installed bin/), <dir>/../bin, or <dir>/../build/bin (a
#            source checkout: scripts/ next to build/)
#   conf     $CFLINK_CONF_DIR, else <install>/conf
#   pids     -D env.pid.dir=DIR, $CFLINK_PID_DIR, env.pid.dir in
#            <conf>/config.yaml, else /tmp
#   logs     -D env.log.dir=DIR, $CFLINK_LOG_DIR, env.log.dir in
#            <conf>/config.yaml, else <install>/log
# Pid file: <pids>/cflink-<user>-<jobmanager|taskmanager>.pid, one pid per
# line (several daemons of a kind append). Logs:
# <logs>/cflink-<user>-<kind>-<n>-<host>.log (the daemon's log, --log-file)
# and .out (its stdout and stderr: print sinks, crashes); earlier files are
# rotated to .1, .2, ... ($CFLINK_LOG_MAX files kept, default 10).
# <user> is $CFLINK_IDENT_STRING, else $USER, else `id -un`.
#
# stop sends SIGTERM to the last daemon of the pid file and waits up to
# $CFLINK_STOP_TIMEOUT seconds (default 10) for it to exit, then SIGKILL.
# stop-all does the same for every daemon of the pid file.

CF_DAEMON_USAGE="Usage: cflink-daemon.sh (start|start-foreground|stop|stop-all) (jobmanager|taskmanager) [args]"

cf_die() {
    printf '%s\n' "$*" >&2
    exit 1
}

# cf_resolve_home: set CF_HOME (bin/ and conf/ inside) and CF_BIN_DIR.
cf_resolve_home() {
    local here
    here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
    if [ -n "${CFLINK_HOME:-}" ]; then
        [ -d "$CFLINK_HOME/bin" ] ||
            cf_die "CFLINK_HOME=$CFLINK_HOME has no bin/ directory."
        CF_HOME=$(cd "$CFLINK_HOME" && pwd)
    elif [ -x "$here/cflink-jobmanager" ] || [ -x "$here/cflink-taskmanager" ]; then
        CF_HOME=$(cd "$here/.." && pwd)
    elif [ -x "$here/../bin/cflink-jobmanager" ] ||
        [ -x "$here/../bin/cflink-taskmanager" ]; then
        CF_HOME=$(cd "$here/.." && pwd)
    elif [ -d "$here/../build/bin" ]; then
        CF_HOME=$(cd "$here/../build" && pwd)
    else
        cf_die "Cannot find the cflink daemons (cflink-jobmanager, cflink-taskmanager) beside $here, in $here/../bin or in $here/../build/bin; set CFLINK_HOME to the install or build directory."
    fi
    CF_BIN_DIR=$CF_HOME/bin
    CF_CONF_DIR=${CFLINK_CONF_DIR:-$CF_HOME/conf}
}

# cf_conf_get KEY FILE: print the value of KEY in a config.yaml (nested or
# flat dotted keys, as the daemons read it), or nothing. Enough YAML for
# scalar settings: lists and multi-line values are not read.
cf_conf_get() {
    [ -r "$2" ] || return 0
    awk -v want="$1" '
    function unquote(v,   q) {
        q = substr(v, 1, 1)
        if ((q == "\"" || q == "\047") && length(v) >= 2) {
            v = substr(v, 2)
            sub(q ".*$", "", v)
            return v
        }
        sub(/[ \t]+#.*$/, "", v)
        sub(/[ \t]+$/, "", v)
        return v
    }
    /^[ \t]*(#|$)/ { next }
    /^[ \t]*-/ { next }
    {
        line = $0
        match(line, /^ */)
        ind = RLENGTH
        rest = substr(line, ind + 1)
        c = index(rest, ":")
        if (c == 0) next
        key = substr(rest, 1, c - 1)
        sub(/[ \t]+$/, "", key)
        if (key ~ /^["\047]/) key = substr(key, 2, length(key) - 2)
        val = substr(rest, c + 1)
        sub(/^[ \t]+/, "", val)
        while (n > 0 && inds[n] >= ind) n--
        full = key
        for (i = n; i >= 1; i--) full = keys[i] "." full
        v = unquote(val)
        if (v == "" || v == "~" || v == "null") {
            n++
            inds[n] = ind
            keys[n] = key
            next
        }
        if (full == want) { print v; exit }
    }' "$2"
}

# cf_arg_get KEY ARGS...: the value of the last "-D KEY=v" / "-DKEY=v".
cf_arg_get() {
    local want=$1 val="" a
    shift
    while [ $# -gt 0 ]; do
        a=$1
        if [ "$a" = "-D" ] && [ $# -ge 2 ]; then
            a="-D$2"
            shift
        fi
        case "$a" in
        -D"$want"=*) val=${a#-D"$want"=} ;;
        esac
        shift
    done
    printf '%s' "$val"
}

# cf_resolve_dirs ARGS...: CF_PID_DIR, CF_LOG_DIR, CF_IDENT, CF_HOST.
cf_resolve_dirs() {
    local v conf=$CF_CONF_DIR/config.yaml
    v=$(cf_arg_get env.pid.dir "$@")
    [ -n "$v" ] || v=${CFLINK_PID_DIR:-}
    [ -n "$v" ] || v=$(cf_conf_get env.pid.dir "$conf")
    CF_PID_DIR=${v:-/tmp}
    v=$(cf_arg_get env.log.dir "$@")
    [ -n "$v" ] || v=${CFLINK_LOG_DIR:-}
    [ -n "$v" ] || v=$(cf_conf_get env.log.dir "$conf")
    CF_LOG_DIR=${v:-$CF_HOME/log}
    CF_IDENT=${CFLINK_IDENT_STRING:-${USER:-}}
    [ -n "$CF_IDENT" ] || CF_IDENT=$(id -un 2>/dev/null || echo cflink)
    CF_HOST=${HOSTNAME:-$(hostname 2>/dev/null || echo localhost)}
}

# cf_alive PID: the process runs (not a zombie) and is a cflink program
# (a pid file line left behind may name a reused pid).
cf_alive() {
    local st
    case "$1" in '' | *[!0-9]*) return 1 ;; esac
    kill -0 "$1" 2>/dev/null || return 1
    if [ -r "/proc/$1/stat" ]; then
        st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
        [ "$st" != Z ] || return 1
        tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -q cflink ||
            return 1
    fi
    return 0
}

# cf_rotate FILE: FILE -> FILE.1 -> FILE.2 ... (CFLINK_LOG_MAX kept).
cf_rotate() {
    local f=$1 max=${CFLINK_LOG_MAX:-10} i
    [ -e "$f" ] || return 0
    i=$((max - 1))
    while [ "$i" -ge 1 ]; do
        [ ! -e "$f.$i" ] || mv -f "$f.$i" "$f.$((i + 1))"
        i=$((i - 1))
    done
    mv -f "$f" "$f.1"
}

# cf_lock / cf_unlock: serialize pid file updates (as Flink, flock on the
# pid directory, when flock is there).
cf_lock() {
    if command -v flock >/dev/null 2>&1; then
        exec 200<"$CF_PID_DIR"
        flock 200
    fi
}
cf_unlock() {
    if command -v flock >/dev/null 2>&1; then
        flock -u 200 2>/dev/null || true
        exec 200<&-
    fi
}

# cf_prune_pidfile FILE: drop lines of daemons that are gone; remove an
# empty file. Call with the lock held.
cf_prune_pidfile() {
    local f=$1 p keep=()
    [ -f "$f" ] || return 0
    while IFS='' read -r p || [ -n "$p" ]; do
        p=${p//[[:space:]]/}
        if cf_alive "$p"; then
            keep+=("$p")
        fi
    done <"$f"
    if [ ${#keep[@]} -eq 0 ]; then
        rm -f "$f"
    else
        printf '%s\n' "${keep[@]}" >"$f.tmp" && mv -f "$f.tmp" "$f"
    fi
}

# cf_wait_stop NAME PID...: wait for the processes to exit, up to
# CFLINK_STOP_TIMEOUT seconds, then SIGKILL those left.
cf_wait_stop() {
    local name=$1 timeout=${CFLINK_STOP_TIMEOUT:-10} ticks=0 left p
    shift
    while :; do
        left=()
        for p in "$@"; do
            cf_alive "$p" && left+=("$p")
        done
        [ ${#left[@]} -gt 0 ] || return 0
        [ "$ticks" -lt $((timeout * 10)) ] || break
        sleep 0.1
        ticks=$((ticks + 1))
        set -- "${left[@]}"
    done
    for p in "${left[@]}"; do
        echo "$name daemon (pid: $p) did not stop within $timeout seconds; killing it (SIGKILL) on host $CF_HOST."
        kill -9 "$p" 2>/dev/null || true
    done
    return 0
}

# cf_daemon (start|start-foreground|stop|stop-all) (jobmanager|taskmanager)
#           [args]
cf_daemon() {
    local op=${1:-} kind=${2:-} name exe pid id log out mypid count p i
    local args=("${@:3}")
    case "$kind" in
    jobmanager) name=standalonesession ;;
    taskmanager) name=taskexecutor ;;
    *) cf_die "Unknown daemon '$kind'. $CF_DAEMON_USAGE." ;;
    esac
    cf_resolve_home
    cf_resolve_dirs "${args[@]}"
    exe=$CF_BIN_DIR/cflink-$kind
    pid=$CF_PID_DIR/cflink-$CF_IDENT-$kind.pid

    case "$op" in
    start | start-foreground)
        [ -x "$exe" ] || cf_die "$exe not found or not executable (build it, or set CFLINK_HOME)."
        mkdir -p "$CF_PID_DIR" || cf_die "Cannot create the pid directory $CF_PID_DIR."
        cf_lock
        cf_prune_pidfile "$pid"
        count=0
        [ ! -f "$pid" ] || count=$(grep -c . "$pid")
        id=$count
        if [ "$count" -gt 0 ]; then
            echo "[INFO] $count instance(s) of $name are already running on $CF_HOST."
        fi
        if [ "$op" = start-foreground ]; then
            echo "Starting $name as a console application on host $CF_HOST."
            echo $$ >>"$pid"
            cf_unlock
            exec "$exe" --configDir "$CF_CONF_DIR" "${args[@]}"
        fi
        mkdir -p "$CF_LOG_DIR" || cf_die "Cannot create the log directory $CF_LOG_DIR."
        log=$CF_LOG_DIR/cflink-$CF_IDENT-$kind-$id-$CF_HOST.log
        out=$CF_LOG_DIR/cflink-$CF_IDENT-$kind-$id-$CF_HOST.out
        cf_rotate "$log"
        cf_rotate "$out"
        echo "Starting $name daemon on host $CF_HOST."
        nohup "$exe" --configDir "$CF_CONF_DIR" --log-file "$log" \
            "${args[@]}" >"$out" 2>&1 </dev/null 200<&- &
        mypid=$!
        # A daemon that cannot start (a bad option or configuration) exits
        # at once: report it instead of recording its pid. Wait until it
        # exits or logs that it is up (its configuration is valid by
        # then): a slow start (a loaded machine, a sanitizer build) must
        # not pass for a good one. At most 10 s.
        for ((i = 0; i < 100; i++)); do
            kill -0 "$mypid" 2>/dev/null || break
            grep -qE 'Rest endpoint listening at|Starting TaskManager with ResourceID' \
                "$log" 2>/dev/null && break
            sleep 0.1
        done
        if kill -0 "$mypid" 2>/dev/null; then
            echo "$mypid" >>"$pid"
            cf_unlock
        else
            cf_unlock
            echo "Error starting $name daemon. Its output ($out):" >&2
            tail -n 20 "$out" >&2 2>/dev/null || true
            [ ! -s "$log" ] || tail -n 20 "$log" >&2
            return 1
        fi
        ;;

    stop)
        if [ ! -d "$CF_PID_DIR" ]; then
            echo "No $name daemon to stop on host $CF_HOST."
            return 0
        fi
        cf_lock
        p=""
        if [ -f "$pid" ]; then
            # Remove blank lines; take the last daemon.
            grep . "$pid" >"$pid.tmp" 2>/dev/null || true
            p=$(tail -n 1 "$pid.tmp")
            sed '$d' "$pid.tmp" >"$pid.tmp2"
            rm -f "$pid.tmp"
            if [ -s "$pid.tmp2" ]; then
                mv -f "$pid.tmp2" "$pid"
            else
                rm -f "$pid.tmp2" "$pid"
            fi
        fi
        cf_unlock
        p=${p//[[:space:]]/}
        if [ -z "$p" ]; then
            echo "No $name daemon to stop on host $CF_HOST."
        elif cf_alive "$p"; then
            echo "Stopping $name daemon (pid: $p) on host $CF_HOST."
            kill -TERM "$p" 2>/dev/null || true
            cf_wait_stop "$name" "$p"
        else
            echo "No $name daemon (pid: $p) is running anymore on $CF_HOST."
        fi
        ;;

    stop-all)
        if [ ! -f "$pid" ]; then
            echo "No $name daemon to stop on host $CF_HOST."
            return 0
        fi
        cf_lock
        local to_stop=() stopping=()
        if [ -f "$pid" ]; then
            while IFS='' read -r p || [ -n "$p" ]; do
                p=${p//[[:space:]]/}
                [ -z "$p" ] || to_stop+=("$p")
            done <"$pid"
            rm -f "$pid"
        fi
        cf_unlock
        for p in "${to_stop[@]}"; do
            if cf_alive "$p"; then
                echo "Stopping $name daemon (pid: $p) on host $CF_HOST."
                kill -TERM "$p" 2>/dev/null || true
                stopping+=("$p")
            else
                echo "Skipping $name daemon (pid: $p), because it is not running anymore on $CF_HOST."
            fi
        done
        [ ${#stopping[@]} -eq 0 ] || cf_wait_stop "$name" "${stopping[@]}"
        ;;

    *)
        cf_die "Unexpected argument '$op'. $CF_DAEMON_USAGE."
        ;;
    esac
}

# cf_workers: print the hosts of <conf>/workers (comments and blank lines
# dropped); "localhost" when there is no such file.
cf_workers() {
    local f=$CF_CONF_DIR/workers line
    if [ ! -f "$f" ]; then
        echo "No workers file $f; using one worker: localhost." >&2
        echo localhost
        return 0
    fi
    while IFS='' read -r line || [ -n "$line" ]; do
        line=${line%%#*}
        line=${line//[[:space:]]/}
        [ -z "$line" ] || printf '%s\n' "$line"
    done <"$f"
}

# cf_is_local HOST: a worker line that means this host.
cf_is_local() {
    case "$1" in
    localhost | 127.0.0.1 | ::1 | localhost.localdomain) return 0 ;;
    esac
    return 1
}

# cf_taskmanagers ACTION [args]: taskmanager.sh ACTION on every host of
# cf_workers: here with args, on another host over ssh (as Flink's
# start-cluster.sh and stop-cluster.sh). Returns 1 when one failed.
cf_taskmanagers() {
    local action=$1 worker status=0 bin
    shift
    bin=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
    while IFS='' read -r worker; do
        if cf_is_local "$worker"; then
            "$bin/taskmanager.sh" "$action" "$@" || status=1
        else
            # shellcheck disable=SC2086
            ssh -n ${CFLINK_SSH_OPTS:-} "$worker" -- \
                "nohup /bin/bash -l \"$bin/taskmanager.sh\" $action &" ||
                status=1
        fi
    done < <(cf_workers)
    return "$status"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -uo pipefail
    [ $# -ge 2 ] || cf_die "$CF_DAEMON_USAGE."
    cf_daemon "$@"
fi
