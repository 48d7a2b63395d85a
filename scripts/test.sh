#!/usr/bin/env bash
# cflink tests: set up (packages + a Release build in build/, the same tree
# scripts/quickstart.sh uses, so switching between them rebuilds nothing),
# then run the whole test suite with ctest.
#
#   scripts/test.sh                 everything (unit + integration)
#   scripts/test.sh -L unit         only the unit tests (ctest labels: unit,
#                                   integration)
#   scripts/test.sh -R it.wordcount any other ctest arguments pass through
#
# Environment:
#   CF_TEST_JOBS   tests run in parallel (ctest -j), default 2
#   CF_BUILD_JOBS  build parallelism, default nproc
#   CF_BUILD_DIR   build tree, default build
#   CF_BUILD_TYPE  build type, default Release (the sanitizer run in .ci/run
#                  covers Debug with assertions on)
# Exits with ctest's status. A run that finds no test fails (--no-tests=error).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

build_dir=${CF_BUILD_DIR:-build}
build_type=${CF_BUILD_TYPE:-Release}
jobs=${CF_TEST_JOBS:-2}

case "${1:-}" in
-h | --help)
    sed -n '2,17{s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
    exit 0
    ;;
esac

scripts/setup.sh --build-dir "$build_dir" --build-type "$build_type" --test-tools

printf 'cflink test: ctest in %s (-j%s)\n' "$build_dir" "$jobs"
status=0
ctest --test-dir "$build_dir" --output-on-failure --no-tests=error \
    -j "$jobs" "$@" || status=$?
if [ "$status" -ne 0 ]; then
    printf 'cflink test: FAILED (ctest exit status %s)\n' "$status" >&2
fi
exit "$status"
