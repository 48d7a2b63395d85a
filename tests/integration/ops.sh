#!/usr/bin/env bash
# Operations: the daemon scripts (scripts/jobmanager.sh, taskmanager.sh,
# start-cluster.sh, stop-cluster.sh) start and stop real daemons with pid
# files in a temporary env.pid.dir and logs in a temporary env.log.dir,
# from a build tree (CFLINK_HOME), an installed tree (bin/ with the
# scripts beside the daemons) and a source checkout (scripts/ next to
# build/); and the systemd units pass `systemd-analyze verify`.
#
# systemd-analyze verify checks that ExecStart names an executable, so the
# test verifies copies of conf/systemd/*.service whose /usr/local/bin/ is
# replaced by the build's bin/ directory; everything else is unchanged.
#
# Exits 77 (skipped) when the daemons are not built.
source "$(dirname "$0")/common.bash"

JM_BIN=$CF_BUILD_DIR/bin/cflink-jobmanager
TM_BIN=$CF_BUILD_DIR/bin/cflink-taskmanager
if [ ! -x "$JM_BIN" ] || [ ! -x "$TM_BIN" ]; then
    echo "SKIP: $JM_BIN or $TM_BIN is not built"
    exit 77
fi

SCRIPTS=$CF_SOURCE_DIR/scripts
CF_USER=${USER:-}
[ -n "$CF_USER" ] || CF_USER=$(id -un)
HOST=${HOSTNAME:-$(hostname)}
PIDS=$WORK/pids
LOGS=$WORK/logs
JM_PIDFILE=$PIDS/cflink-$CF_USER-jobmanager.pid
TM_PIDFILE=$PIDS/cflink-$CF_USER-taskmanager.pid

# Whatever a failed check leaves running is killed on exit.
cleanup() {
    local f p
    for f in "$WORK"/pids*/*.pid "$WORK"/inst/pids/*.pid; do
        [ -f "$f" ] || continue
        while read -r p; do
            [ -z "$p" ] || kill -9 "$p" 2>/dev/null || true
        done <"$f"
    done
    [ -z "${FG_PID:-}" ] || kill -9 "$FG_PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

# alive PID: the process exists and is not a zombie.
alive() {
    kill -0 "$1" 2>/dev/null || return 1
    [ "$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)" != Z ]
}

# wait_for FILE REGEX SECONDS: wait until a line of FILE matches.
wait_for() {
    local i
    for ((i = 0; i < $3 * 10; i++)); do
        if [ -f "$1" ] && grep -qE -- "$2" "$1"; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

# port_of FILE WHAT: the port of the "<WHAT> endpoint listening at
# <addr>:<port>" line.
port_of() {
    sed -nE "s/.*$2 endpoint listening at .*:([0-9]+).*/\\1/p" "$1" \
        2>/dev/null | tail -n 1 || true
}

lines() { # FILE: number of non-empty lines (0 when missing)
    if [ -f "$1" ]; then grep -c . "$1" || true; else echo 0; fi
}

# rest_taskmanagers PORT SECONDS: wait until /overview reports the
# expected number of TaskManagers ($3); print the last number seen.
rest_taskmanagers() {
    local i n=""
    for ((i = 0; i < $2 * 5; i++)); do
        n=$(curl -sf "http://127.0.0.1:$1/overview" 2>/dev/null |
            python3 -c 'import json,sys; print(json.load(sys.stdin)["taskmanagers"])' \
                2>/dev/null || true)
        [ "$n" != "$3" ] || break
        sleep 0.2
    done
    echo "${n:-none}"
}

# A configuration in the style of the shipped file: env.* nested (read by
# the scripts' YAML reader), the rest flat; everything on 127.0.0.1.
write_conf() { # DIR PIDDIR [LOGDIR] [extra lines...]
    local dir=$1 piddir=$2 logdir=${3:-}
    shift 3 || shift $#
    mkdir -p "$dir"
    {
        echo "env:"
        echo "  pid:"
        echo "    dir: \"$piddir\"   # pid files"
        [ -z "$logdir" ] || echo "  log.dir: $logdir"
        echo "jobmanager.rpc.address: 127.0.0.1"
        echo "jobmanager.bind-host: 127.0.0.1"
        echo "rest.address: 127.0.0.1"
        echo "rest.bind-address: 127.0.0.1"
        echo "taskmanager.host: 127.0.0.1"
        echo "taskmanager.bind-host: 127.0.0.1"
        echo "taskmanager.numberOfTaskSlots: 2"
        echo "heartbeat.interval: 1 s"
        echo "heartbeat.timeout: 5 s"
        printf '%s\n' "$@"
    } >"$dir/config.yaml"
}

EPHEMERAL=(-D rest.port=0 -D jobmanager.rpc.port=0)

# ---------------------------------------------------------------------
# 1. systemd units.
if command -v systemd-analyze >/dev/null 2>&1; then
    mkdir -p "$WORK/systemd"
    for unit in "$CF_SOURCE_DIR"/conf/systemd/*.service; do
        sed "s#/usr/local/bin/#$CF_BUILD_DIR/bin/#g" "$unit" \
            >"$WORK/systemd/$(basename "$unit")"
    done
    cp "$WORK/systemd/cflink-taskmanager@.service" \
        "$WORK/systemd/cflink-taskmanager@1.service"
    for unit in cflink-jobmanager.service cflink-taskmanager@.service \
        cflink-taskmanager@1.service; do
        if [ ! -f "$WORK/systemd/$unit" ]; then
            fail "conf/systemd/$unit is missing"
            continue
        fi
        set +e
        (cd "$WORK/systemd" && systemd-analyze verify "./$unit") \
            >"$WORK/verify.out" 2>&1
        rc=$?
        set -e
        # Warnings (unknown keys, bad values) do not change the exit code:
        # any line about our unit fails too.
        if [ "$rc" -eq 0 ] && ! grep -q cflink "$WORK/verify.out"; then
            ok "systemd-analyze verify $unit"
        else
            fail "systemd-analyze verify $unit (exit $rc): $(cat "$WORK/verify.out")"
        fi
    done
    for unit in "$CF_SOURCE_DIR"/conf/systemd/*.service; do
        for want in "^Type=(simple|notify)$" "^Restart=on-failure$" \
            "^User=cflink$" "^Environment=CFLINK_CONF_DIR=/etc/cflink$" \
            "^ExecStart=/usr/local/bin/cflink-[a-z]+ --log-file /var/log/cflink/" \
            "^KillSignal=SIGTERM$" "^StandardOutput=journal$" \
            "^TimeoutStopSec=" "^LimitNOFILE=" "^NoNewPrivileges=yes$" \
            "^ProtectSystem=full$" "^PrivateTmp=yes$"; do
            if grep -qE "$want" "$unit"; then
                ok "$(basename "$unit") has $want"
            else
                fail "$(basename "$unit") lacks $want"
            fi
        done
    done
else
    fail "systemd-analyze is not installed (scripts/setup.sh installs systemd)"
fi

# ---------------------------------------------------------------------
# 2. jobmanager.sh / taskmanager.sh from the build tree (CFLINK_HOME),
# pid and log directories from a temporary config.yaml.
export CFLINK_HOME=$CF_BUILD_DIR
export CFLINK_CONF_DIR=$WORK/conf
unset CFLINK_PID_DIR CFLINK_LOG_DIR CFLINK_IDENT_STRING
write_conf "$WORK/conf" "$PIDS" "$LOGS"

"$SCRIPTS/jobmanager.sh" stop >"$WORK/out" 2>&1
expect_contains "stop with nothing running" "$WORK/out" \
    "No standalonesession daemon to stop on host $HOST."

set +e
"$SCRIPTS/jobmanager.sh" start "${EPHEMERAL[@]}" >"$WORK/out" 2>&1
rc=$?
set -e
expect_eq "jobmanager.sh start exit code" 0 "$rc"
expect_contains "jobmanager.sh start message" "$WORK/out" \
    "Starting standalonesession daemon on host $HOST."
JM_LOG=$LOGS/cflink-$CF_USER-jobmanager-0-$HOST.log
JM_OUT=$LOGS/cflink-$CF_USER-jobmanager-0-$HOST.out
expect_eq "jobmanager pid file" 1 "$(lines "$JM_PIDFILE")"
JM_PID=$(head -n 1 "$JM_PIDFILE" 2>/dev/null || echo 0)
if wait_for "$JM_LOG" "Rest endpoint listening at" 30; then
    ok "jobmanager log file has the REST endpoint"
else
    fail "no 'Rest endpoint listening' in $JM_LOG within 30 s"
    sed 's/^/    /' "$JM_LOG" "$JM_OUT" >&2 2>/dev/null | tail -30 || true
fi
wait_for "$JM_LOG" "RPC endpoint listening at" 10 || true
REST_PORT=$(port_of "$JM_LOG" Rest)
RPC_PORT=$(port_of "$JM_LOG" RPC)
[ -f "$JM_OUT" ] && ok "jobmanager .out file" || fail "no $JM_OUT"
if alive "$JM_PID"; then ok "jobmanager runs"; else fail "jobmanager $JM_PID is not running"; fi
[ -n "$RPC_PORT" ] && ok "RPC port $RPC_PORT" || fail "no RPC port in $JM_LOG"

# Two TaskManagers; the second gets index 1 in its file names.
for i in 0 1; do
    set +e
    "$SCRIPTS/taskmanager.sh" start -D "jobmanager.rpc.port=${RPC_PORT:-6123}" \
        >"$WORK/out" 2>&1
    rc=$?
    set -e
    expect_eq "taskmanager.sh start $i exit code" 0 "$rc"
    expect_contains "taskmanager.sh start $i message" "$WORK/out" \
        "Starting taskexecutor daemon on host $HOST."
done
expect_contains "second TaskManager noticed the first" "$WORK/out" \
    "[INFO] 1 instance(s) of taskexecutor are already running on $HOST."
expect_eq "taskmanager pid file" 2 "$(lines "$TM_PIDFILE")"
for i in 0 1; do
    f=$LOGS/cflink-$CF_USER-taskmanager-$i-$HOST
    [ -f "$f.log" ] && [ -f "$f.out" ] && ok "taskmanager $i log files" ||
        fail "no $f.log / $f.out"
done
if command -v curl >/dev/null && [ -n "$REST_PORT" ]; then
    expect_eq "TaskManagers registered (REST /overview)" 2 \
        "$(rest_taskmanagers "$REST_PORT" 30 2)"
fi

# stop: the last TaskManager, gracefully (no SIGKILL needed).
mapfile -t TM_PIDS < <(cat "$TM_PIDFILE" 2>/dev/null || true)
TM_PIDS+=(0 0) # a failed start leaves fewer lines
"$SCRIPTS/taskmanager.sh" stop >"$WORK/out" 2>&1
expect_contains "taskmanager.sh stop message" "$WORK/out" \
    "Stopping taskexecutor daemon (pid: ${TM_PIDS[1]}) on host $HOST."
if grep -q SIGKILL "$WORK/out"; then
    fail "taskmanager did not stop on SIGTERM within 10 s"
fi
alive "${TM_PIDS[1]}" && fail "taskmanager ${TM_PIDS[1]} still runs" ||
    ok "stopped taskmanager is gone"
alive "${TM_PIDS[0]}" && ok "other taskmanager still runs" ||
    fail "taskmanager ${TM_PIDS[0]} died"
expect_eq "taskmanager pid file after stop" 1 "$(lines "$TM_PIDFILE")"

# A stale line (a daemon that died) is skipped by stop-all.
echo 999999 >>"$TM_PIDFILE"
"$SCRIPTS/taskmanager.sh" stop-all >"$WORK/out" 2>&1
expect_contains "stop-all stops" "$WORK/out" \
    "Stopping taskexecutor daemon (pid: ${TM_PIDS[0]}) on host $HOST."
expect_contains "stop-all skips a stale pid" "$WORK/out" \
    "Skipping taskexecutor daemon (pid: 999999), because it is not running anymore on $HOST."
[ -e "$TM_PIDFILE" ] && fail "taskmanager pid file left" ||
    ok "taskmanager pid file removed"
alive "${TM_PIDS[0]}" && fail "taskmanager ${TM_PIDS[0]} still runs" ||
    ok "all taskmanagers gone"
"$SCRIPTS/taskmanager.sh" stop >"$WORK/out" 2>&1
expect_contains "taskmanager stop with none left" "$WORK/out" \
    "No taskexecutor daemon to stop on host $HOST."

"$SCRIPTS/jobmanager.sh" stop >"$WORK/out" 2>&1
expect_contains "jobmanager.sh stop message" "$WORK/out" \
    "Stopping standalonesession daemon (pid: $JM_PID) on host $HOST."
grep -q SIGKILL "$WORK/out" && fail "jobmanager did not stop on SIGTERM within 10 s"
[ -e "$JM_PIDFILE" ] && fail "jobmanager pid file left" ||
    ok "jobmanager pid file removed"
alive "$JM_PID" && fail "jobmanager $JM_PID still runs" || ok "jobmanager gone"

# A second start rotates the log of the first.
"$SCRIPTS/jobmanager.sh" start "${EPHEMERAL[@]}" >"$WORK/out" 2>&1 || true
wait_for "$JM_LOG" "Rest endpoint listening at" 30 || true
[ -f "$JM_LOG.1" ] && ok "previous log rotated to .1" || fail "no $JM_LOG.1"
"$SCRIPTS/jobmanager.sh" stop >"$WORK/out" 2>&1
expect_contains "jobmanager stop after restart" "$WORK/out" \
    "Stopping standalonesession daemon (pid:"

# A daemon that cannot start: reported, no pid recorded.
set +e
"$SCRIPTS/jobmanager.sh" start -D parallelism.default=four >"$WORK/out" 2>&1
rc=$?
set -e
expect_eq "start with a bad option fails" 1 "$rc"
expect_contains "start failure message" "$WORK/out" \
    "Error starting standalonesession daemon."
[ -e "$JM_PIDFILE" ] && fail "pid recorded for a daemon that did not start" ||
    ok "no pid recorded for a failed start"

# start-foreground: the script becomes the daemon (its pid is recorded),
# which logs to the console; stop ends it with SIGTERM.
"$SCRIPTS/jobmanager.sh" start-foreground "${EPHEMERAL[@]}" \
    >"$WORK/fg.out" 2>&1 &
FG_PID=$!
if wait_for "$WORK/fg.out" "Rest endpoint listening at" 30; then
    ok "start-foreground logs to the console"
else
    fail "start-foreground: no REST line: $(tail -5 "$WORK/fg.out")"
fi
expect_contains "start-foreground message" "$WORK/fg.out" \
    "Starting standalonesession as a console application on host $HOST."
expect_eq "start-foreground pid" "$FG_PID" "$(cat "$JM_PIDFILE" 2>/dev/null)"
"$SCRIPTS/jobmanager.sh" stop >"$WORK/out" 2>&1
set +e
wait "$FG_PID"
rc=$?
set -e
FG_PID=
[ "$rc" -ne 137 ] && ok "foreground daemon ended on SIGTERM (exit $rc)" ||
    fail "foreground daemon was killed"
[ -e "$JM_PIDFILE" ] && fail "pid file left after foreground stop" ||
    ok "pid file removed after foreground stop"

# ---------------------------------------------------------------------
# 3. start-cluster.sh / stop-cluster.sh: a JobManager and one TaskManager
# per "localhost" line of conf/workers. Fixed ports: the TaskManagers find
# the JobManager through jobmanager.rpc.port.
REST_PORT=$(free_port)
RPC_PORT=$(free_port)
while [ "$RPC_PORT" = "$REST_PORT" ]; do RPC_PORT=$(free_port); done
export CFLINK_CONF_DIR=$WORK/conf2
write_conf "$WORK/conf2" "$WORK/pids2" "$WORK/logs2" \
    "rest.port: $REST_PORT" "jobmanager.rpc.port: $RPC_PORT"
printf '# two TaskManagers here\nlocalhost\n\n127.0.0.1  # the second\n' \
    >"$WORK/conf2/workers"
"$SCRIPTS/start-cluster.sh" >"$WORK/out" 2>&1 || fail "start-cluster.sh failed: $(cat "$WORK/out")"
expect_contains "start-cluster message" "$WORK/out" "Starting cluster."
expect_eq "start-cluster: one jobmanager" 1 \
    "$(lines "$WORK/pids2/cflink-$CF_USER-jobmanager.pid")"
expect_eq "start-cluster: two taskmanagers" 2 \
    "$(lines "$WORK/pids2/cflink-$CF_USER-taskmanager.pid")"
ALL_PIDS=$(cat "$WORK"/pids2/*.pid 2>/dev/null || true)
if command -v curl >/dev/null; then
    expect_eq "start-cluster: TaskManagers registered" 2 \
        "$(rest_taskmanagers "$REST_PORT" 30 2)"
fi
"$SCRIPTS/stop-cluster.sh" >"$WORK/out" 2>&1 || fail "stop-cluster.sh failed: $(cat "$WORK/out")"
expect_eq "stop-cluster: stopped three daemons" 3 \
    "$(grep -c '^Stopping .* daemon (pid: ' "$WORK/out" || true)"
grep -q SIGKILL "$WORK/out" && fail "stop-cluster needed SIGKILL: $(cat "$WORK/out")"
left=0
for p in $ALL_PIDS; do alive "$p" && left=$((left + 1)); done
expect_eq "stop-cluster: no daemon left" 0 "$left"
expect_eq "stop-cluster: pid files removed" "" "$(ls "$WORK/pids2")"

# ---------------------------------------------------------------------
# 4. An installed tree: <inst>/bin holds the daemons and the scripts,
# <inst>/conf the configuration, logs go to <inst>/log by default.
unset CFLINK_HOME CFLINK_CONF_DIR
INST=$WORK/inst
mkdir -p "$INST/bin"
ln -s "$JM_BIN" "$INST/bin/cflink-jobmanager"
ln -s "$TM_BIN" "$INST/bin/cflink-taskmanager"
cp "$SCRIPTS"/{cflink-daemon.sh,jobmanager.sh,taskmanager.sh} "$INST/bin/"
write_conf "$INST/conf" "$INST/pids" ""
"$INST/bin/jobmanager.sh" start "${EPHEMERAL[@]}" >"$WORK/out" 2>&1 ||
    fail "installed jobmanager.sh start: $(cat "$WORK/out")"
INST_LOG=$INST/log/cflink-$CF_USER-jobmanager-0-$HOST.log
if wait_for "$INST_LOG" "Rest endpoint listening at" 30; then
    ok "installed tree: log in <install>/log, conf from <install>/conf"
else
    fail "installed tree: no REST line in $INST_LOG"
fi
"$INST/bin/jobmanager.sh" stop >"$WORK/out" 2>&1
expect_contains "installed tree: stop" "$WORK/out" \
    "Stopping standalonesession daemon (pid:"

# ---------------------------------------------------------------------
# 5. A source checkout: scripts/ next to build/ (no CFLINK_HOME).
SRC=$WORK/src
mkdir -p "$SRC/scripts"
ln -s "$CF_BUILD_DIR" "$SRC/build"
cp "$SCRIPTS"/{cflink-daemon.sh,jobmanager.sh,taskmanager.sh} "$SRC/scripts/"
export CFLINK_CONF_DIR=$WORK/conf3
write_conf "$WORK/conf3" "$WORK/pids3" "$WORK/logs3"
"$SRC/scripts/taskmanager.sh" start -D jobmanager.rpc.port=1 >"$WORK/out" 2>&1 ||
    fail "source checkout taskmanager.sh start: $(cat "$WORK/out")"
expect_eq "source checkout: taskmanager started" 1 \
    "$(lines "$WORK/pids3/cflink-$CF_USER-taskmanager.pid")"
"$SRC/scripts/taskmanager.sh" stop >"$WORK/out" 2>&1
expect_contains "source checkout: stop" "$WORK/out" \
    "Stopping taskexecutor daemon (pid:"

# No daemon crashed or reported a sanitizer error on the way (their
# stdout and stderr are the .out files).
bad=$(grep -lE 'Sanitizer|runtime error:|Segmentation fault|Aborted' \
    "$WORK"/logs*/*.out "$INST"/log/*.out "$WORK/fg.out" 2>/dev/null || true)
if [ -z "$bad" ]; then
    ok "no crash or sanitizer report in the .out files"
else
    for f in $bad; do
        fail "crash or sanitizer report in $f:"
        head -30 "$f" | sed 's/^/    /' >&2
    done
fi

finish
