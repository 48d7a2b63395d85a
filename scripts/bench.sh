#!/usr/bin/env bash
# cflink benchmarks: build a Release tree (build/ if it is already a Release
# tree, else build-bench/) and run every benchmark program in it: the
# executables named bench_* in <tree>/tests/bench/, <tree>/bench/ and
# <tree>/bin/. Each program prints its own figures (and ratios against a
# baseline measured in the same run); this script only runs them.
#
#   scripts/bench.sh                 run all benchmarks
#   scripts/bench.sh ARGS...         pass ARGS to every benchmark program
#
# Environment:
#   CF_BENCH_FILTER  a shell pattern; run only the benchmarks whose name
#                    matches (e.g. 'bench_net*')
#   CF_BUILD_DIR     build tree to use (built as Release)
#   CF_BUILD_JOBS    build parallelism, default nproc
# Exits non-zero if any benchmark program fails.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

say() { printf 'cflink bench: %s\n' "$*"; }

case "${1:-}" in
-h | --help)
    sed -n '2,17{s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
    exit 0
    ;;
esac

if [ -n "${CF_BUILD_DIR:-}" ]; then
    build_dir=$CF_BUILD_DIR
elif grep -qx 'CMAKE_BUILD_TYPE:STRING=Release' build/CMakeCache.txt \
    2>/dev/null; then
    build_dir=build
else
    build_dir=build-bench
fi

scripts/setup.sh --build-dir "$build_dir" --build-type Release

benches=()
for dir in "$build_dir/tests/bench" "$build_dir/bench" "$build_dir/bin"; do
    for prog in "$dir"/bench_*; do
        if [ ! -f "$prog" ] || [ ! -x "$prog" ] || [[ "$prog" == *.so ]]; then
            continue
        fi
        # shellcheck disable=SC2254 # CF_BENCH_FILTER is a pattern.
        case "$(basename "$prog")" in
        ${CF_BENCH_FILTER:-*}) benches+=("$prog") ;;
        esac
    done
done

if [ ${#benches[@]} -eq 0 ]; then
    say "no benchmarks built (looked for bench_* in $build_dir/tests/bench, $build_dir/bench, $build_dir/bin)"
    exit 0
fi

failed=()
for prog in "${benches[@]}"; do
    printf '\n== %s\n' "$(basename "$prog")"
    "$prog" "$@" || failed+=("$(basename "$prog")")
done

echo
if [ ${#failed[@]} -ne 0 ]; then
    say "${#failed[@]} of ${#benches[@]} benchmark(s) failed: ${failed[*]}"
    exit 1
fi
say "ran ${#benches[@]} benchmark(s)"
