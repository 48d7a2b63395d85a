#!/usr/bin/env bash
# cflink quickstart: set up (packages + Release build in build/), then run
# the WordCount example locally on a bundled text and show what it printed.
#
#   scripts/quickstart.sh                 WordCount on examples/data/hamlet.txt
#   scripts/quickstart.sh --input FILE    WordCount on another text file
#   scripts/quickstart.sh --all           print every output line, not a summary
#
# The job runs as
#   build/bin/cflink run -t local -p 2 build/examples/wordcount.so --input FILE
# and its print sink writes "N> (word,count)" lines (N: the sink subtask).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

say() { printf 'cflink quickstart: %s\n' "$*"; }
die() { printf 'cflink quickstart: error: %s\n' "$*" >&2; exit 1; }

input=examples/data/hamlet.txt
all=0
while [ $# -gt 0 ]; do
    case "$1" in
    --input)
        [ $# -ge 2 ] || die "--input needs a file"
        input=$2
        shift
        ;;
    --input=*) input=${1#*=} ;;
    --all) all=1 ;;
    -h | --help)
        sed -n '2,12{s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
        exit 0
        ;;
    *) die "unknown option '$1' (see --help)" ;;
    esac
    shift
done

build_dir=build
cli=$build_dir/bin/cflink
plugin=$build_dir/examples/wordcount.so

# 1. Packages and build (build output goes to build/setup.log).
if ! scripts/setup.sh --quiet --build-dir "$build_dir" --build-type Release; then
    die "setup or build failed (see above; full log: $build_dir/setup.log)"
fi
[ -x "$cli" ] || die "$cli was not built (the CLI sources may be missing)"
[ -f "$plugin" ] || die "$plugin was not built (examples/wordcount/ may be missing)"
[ -r "$input" ] || die "input file '$input' not found or not readable"

# 2. Run the job. stdout is the print sink; logs go to stderr.
out=$build_dir/quickstart.out
log=$build_dir/quickstart.log
say "running: $cli run -t local -p 2 $plugin --input $input"
status=0
"$cli" run -t local -p 2 "$plugin" --input "$input" >"$out" 2>"$log" ||
    status=$?
if [ "$status" -ne 0 ]; then
    tail -n 40 "$log" >&2
    die "the WordCount job failed (exit status $status; log: $log, output: $out)"
fi

# 3. Show the result.
lines=$(grep -cE '^([0-9]+> )?\(' "$out" || true)
if [ "$lines" -eq 0 ]; then
    tail -n 20 "$log" >&2
    die "the job finished but printed no '(word,count)' line (output: $out)"
fi
if [ "$all" -eq 1 ]; then
    cat "$out"
else
    say "the print sink wrote $lines lines; the first ones:"
    grep -E '^([0-9]+> )?\(' "$out" | head -n 10 | sed 's/^/    /'
    say "the 10 most frequent words (highest count seen per word):"
    # "N> (word,count)": split at the last comma; a streaming count emits a
    # line per update, so keep the largest count per word.
    sed -nE 's/^([0-9]+> )?\((.*),([0-9]+)\)$/\2 \3/p' "$out" |
        awk '{ c = $NF; $NF = ""; sub(/ $/, ""); if (c + 0 > max[$0]) max[$0] = c + 0 }
             END { for (w in max) printf "%d\t%s\n", max[w], w }' |
        sort -k1,1nr -k2,2 | head -n 10 |
        awk -F '\t' '{ printf "    %-20s %d\n", $2, $1 }'
    say "all output: $out (or run with --all); job log: $log"
fi

cat <<NEXT

Next steps:
  build/bin/cflink info build/examples/wordcount.so   the job's plan as JSON
  scripts/test.sh                     build and run the whole test suite
  README.md                           a 5-minute tour, repository layout
  docs/user-guide/writing-a-job.md    write your own job plugin
  docs/user-guide/configuration.md    conf/config.yaml and -D key=value
NEXT
