#!/usr/bin/env bash
# cflink quickstart: set up (packages + Release build in build/), start a
# local cluster (one JobManager, two TaskManagers with two slots each),
# submit the WordCount example through the CLI at parallelism 4 on a
# bundled text, and show its result and the cluster's web address.
#
#   scripts/quickstart.sh                 WordCount on examples/data/hamlet.txt
#   scripts/quickstart.sh --input FILE    WordCount on another text file
#   scripts/quickstart.sh --all           print every output line, not a summary
#   scripts/quickstart.sh --local         run in one process (-t local) instead
#   scripts/quickstart.sh --stop          stop the quickstart cluster
#
# The cluster keeps running afterwards (web UI and REST API at
# http://localhost:8081); its pid and log files are in build/quickstart/.
# The job runs as
#   build/bin/cflink run -m localhost:8081 -p 4 build/examples/wordcount.so \
#       --input FILE --output build/quickstart/out
# and writes "(word,count)" updates into part files under --output.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

say() { printf 'cflink quickstart: %s\n' "$*"; }
die() { printf 'cflink quickstart: error: %s\n' "$*" >&2; exit 1; }

input=examples/data/hamlet.txt
all=0
local=0
stop=0
while [ $# -gt 0 ]; do
    case "$1" in
    --input)
        [ $# -ge 2 ] || die "--input needs a file"
        input=$2
        shift
        ;;
    --input=*) input=${1#*=} ;;
    --all) all=1 ;;
    --local) local=1 ;;
    --stop) stop=1 ;;
    -h | --help)
        sed -n '2,19{s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
        exit 0
        ;;
    *) die "unknown option '$1' (see --help)" ;;
    esac
    shift
done

build_dir=build
cli=$build_dir/bin/cflink
plugin=$build_dir/examples/wordcount.so

qs=$build_dir/quickstart
daemon_opts=(-D "env.pid.dir=$root/$qs" -D "env.log.dir=$root/$qs/log")
stop_cluster() {
    CFLINK_HOME= scripts/taskmanager.sh stop-all "${daemon_opts[@]}" >/dev/null 2>&1 || true
    CFLINK_HOME= scripts/jobmanager.sh stop-all "${daemon_opts[@]}" >/dev/null 2>&1 || true
}
if [ "$stop" -eq 1 ]; then
    stop_cluster
    say "quickstart cluster stopped"
    exit 0
fi

# 1. Packages and build (build output goes to build/setup.log).
if ! scripts/setup.sh --quiet --build-dir "$build_dir" --build-type Release; then
    die "setup or build failed (see above; full log: $build_dir/setup.log)"
fi
[ -x "$cli" ] || die "$cli was not built (the CLI sources may be missing)"
[ -f "$plugin" ] || die "$plugin was not built (examples/wordcount/ may be missing)"
[ -r "$input" ] || die "input file '$input' not found or not readable"

# 2. Run the job. Logs go to files; the part files hold the result.
mkdir -p "$qs"
out=$qs/out
log=$qs/client.log
rm -rf "$out"
status=0
if [ "$local" -eq 1 ]; then
    say "running: $cli run -t local -p 2 $plugin --input $input --output $out"
    "$cli" run -t local -p 2 "$plugin" --input "$input" --output "$out" \
        >"$log" 2>&1 || status=$?
else
    # A cluster from an earlier quickstart is replaced by a fresh one.
    stop_cluster
    jm_log_glob="$qs/log/cflink-*-jobmanager-*.log"
    say "starting a JobManager and two TaskManagers (logs: $qs/log/)"
    scripts/jobmanager.sh start "${daemon_opts[@]}" >/dev/null ||
        die "the JobManager did not start (see $qs/log/)"
    for _ in 1 2; do
        scripts/taskmanager.sh start "${daemon_opts[@]}" \
            -D taskmanager.numberOfTaskSlots=2 >/dev/null ||
            die "a TaskManager did not start (see $qs/log/)"
    done
    # Wait until both TaskManagers have registered (at most 10 s).
    for _ in $(seq 100); do
        # shellcheck disable=SC2086 # the glob names one file.
        n=$(cat $jm_log_glob 2>/dev/null | grep -c 'Registering TaskManager with ResourceID' || true)
        [ "${n:-0}" -ge 2 ] && break
        sleep 0.1
    done
    [ "${n:-0}" -ge 2 ] || die "the TaskManagers did not register within 10 s (see $qs/log/)"
    say "running: $cli run -m localhost:8081 -p 4 $plugin --input $input --output $out"
    "$cli" run -m localhost:8081 -p 4 "$plugin" --input "$input" \
        --output "$out" >"$log" 2>&1 || status=$?
    sed 's/^/    /' "$log"
fi
if [ "$status" -ne 0 ]; then
    tail -n 40 "$log" >&2
    die "the WordCount job failed (exit status $status; client log: $log, daemon logs: $qs/log/)"
fi
# The part files: "(word,count)" per update, one file per sink subtask.
all_out=$qs/wordcount.out
find "$out" -type f ! -name '.*' -exec cat {} + >"$all_out" 2>/dev/null || true

# 3. Show the result.
out=$all_out
lines=$(grep -cE '^([0-9]+> )?\(' "$out" || true)
if [ "$lines" -eq 0 ]; then
    tail -n 20 "$log" >&2
    die "the job finished but printed no '(word,count)' line (output: $out)"
fi
if [ "$all" -eq 1 ]; then
    cat "$out"
else
    say "the sink wrote $lines lines; the first ones:"
    grep -E '^([0-9]+> )?\(' "$out" | head -n 10 | sed 's/^/    /'
    say "the 10 most frequent words (highest count seen per word):"
    # "N> (word,count)": split at the last comma; a streaming count emits a
    # line per update, so keep the largest count per word.
    sed -nE 's/^([0-9]+> )?\((.*),([0-9]+)\)$/\2 \3/p' "$out" |
        awk '{ c = $NF; $NF = ""; sub(/ $/, ""); if (c + 0 > max[$0]) max[$0] = c + 0 }
             END { for (w in max) printf "%d\t%s\n", max[w], w }' |
        sort -k1,1nr -k2,2 | head -n 10 |
        awk -F '\t' '{ printf "    %-20s %d\n", $2, $1 }'
    say "all output: $out (or run with --all); client log: $log"
fi
if [ "$local" -eq 0 ]; then
    say "the cluster keeps running: web UI and REST API at http://localhost:8081"
    say "  build/bin/cflink list -a            jobs of the cluster"
    say "  scripts/quickstart.sh --stop        stop it"
fi

cat <<NEXT

Next steps:
  build/bin/cflink info build/examples/wordcount.so   the job's plan as JSON
  docs/user-guide/monitoring.md       the web UI, metrics and Prometheus
  docs/user-guide/cluster.md          run a cluster on one or several hosts
  scripts/test.sh                     build and run the whole test suite
  README.md                           a 5-minute tour, repository layout
  docs/user-guide/writing-a-job.md    write your own job plugin
  docs/user-guide/configuration.md    conf/config.yaml and -D key=value
NEXT
