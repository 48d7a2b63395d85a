#!/usr/bin/env bash
# cflink setup: install the Debian packages cflink needs (only the missing
# ones), then configure and build a tree (Release in build/ by default).
#
#   scripts/setup.sh                      packages + Release build in build/
#   scripts/setup.sh --no-build           packages only
#   scripts/setup.sh --build-dir DIR      build somewhere else (relative to
#                                         the repository root, or absolute)
#   scripts/setup.sh --build-type T       Release, RelWithDebInfo, Debug, ...
#   scripts/setup.sh --sanitize           add -DCF_SANITIZE=ON (ASan + UBSan)
#   scripts/setup.sh --quiet              send cmake output to DIR/setup.log,
#                                         print it only if the build fails
#   scripts/setup.sh --test-tools         also chromium, wrk, Node.js and the
#                                         browser test's npm packages
#
# Environment: CF_BUILD_JOBS (default: nproc) sets the build parallelism.
# Idempotent: a second run installs nothing and rebuilds only what changed.
# Works from any directory.
#
# With --test-tools (scripts/test.sh passes it) it also installs what the
# browser test and the REST benchmark use: chromium, wrk, and Node.js with
# npm (Debian's nodejs and npm, only when node or npm is not on PATH);
# then, when tests/browser/package-lock.json exists, the test's npm
# packages (npm ci into tests/browser/node_modules; a failure is a
# warning: that test then skips). The quickstart does not need them.
set -euo pipefail

# Keep in step with docs/ and ARCHITECTURE.md section 10. procps,
# netcat-openbsd and curl are used by the integration tests (pgrep/pkill,
# nc, REST calls); systemd provides systemd-analyze, which verifies the
# systemd units (tests/integration/ops.sh).
CF_PACKAGES=(
    build-essential cmake pkg-config git
    libuv1-dev libprotobuf-c-dev protobuf-c-compiler libmicrohttpd-dev
    libjansson-dev libyaml-dev libcurl4-openssl-dev librdkafka-dev
    zlib1g-dev libcmocka-dev
    python3 procps netcat-openbsd curl systemd
)
# The web UI's browser test (tests/browser, it.webui_browser) drives
# chromium through playwright-core; scripts/bench/rest_latency.sh loads
# the REST API with wrk. nodejs and npm are added below only when node or
# npm is missing (a machine may have Node.js from elsewhere).
CF_TEST_PACKAGES=(chromium wrk)

say() { printf 'cflink setup: %s\n' "$*"; }
die() { printf 'cflink setup: error: %s\n' "$*" >&2; exit 1; }

usage() {
    sed -n '2,25{s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
}

build=1
build_dir=build
build_type=Release
sanitize=0
quiet=0
test_tools=0
while [ $# -gt 0 ]; do
    case "$1" in
    --no-build) build=0 ;;
    --build-dir)
        [ $# -ge 2 ] || die "--build-dir needs a directory"
        build_dir=$2
        shift
        ;;
    --build-dir=*) build_dir=${1#*=} ;;
    --build-type)
        [ $# -ge 2 ] || die "--build-type needs a value (e.g. Release)"
        build_type=$2
        shift
        ;;
    --build-type=*) build_type=${1#*=} ;;
    --sanitize) sanitize=1 ;;
    --test-tools) test_tools=1 ;;
    -q | --quiet) quiet=1 ;;
    -h | --help)
        usage
        exit 0
        ;;
    *) die "unknown option '$1' (see --help)" ;;
    esac
    shift
done
[ -n "$build_dir" ] || die "--build-dir must not be empty"
[ -n "$build_type" ] || die "--build-type must not be empty"

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

# --- packages --------------------------------------------------------------

installed() {
    [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" = \
        "install ok installed" ]
}

install_packages() {
    command -v dpkg-query >/dev/null 2>&1 ||
        die "dpkg-query not found: this script supports Debian 12 (and derivatives) only"

    local missing=() pkg wanted=("${CF_PACKAGES[@]}")
    if [ "$test_tools" -eq 1 ]; then
        wanted+=("${CF_TEST_PACKAGES[@]}")
        if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
            wanted+=(nodejs npm)
        fi
    fi
    for pkg in "${wanted[@]}"; do
        installed "$pkg" || missing+=("$pkg")
    done
    if [ ${#missing[@]} -eq 0 ]; then
        say "all ${#wanted[@]} packages are installed, nothing to do"
        return 0
    fi

    local as_root=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 ||
            die "missing packages (${missing[*]}) and not root, and sudo is not available; install them as root"
        as_root=(sudo)
    fi

    local log
    log=$(mktemp "${TMPDIR:-/tmp}/cflink-setup.XXXXXX")
    say "missing: ${missing[*]}"
    say "apt-get update ..."
    if ! "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get update -q >"$log" 2>&1; then
        tail -n 20 "$log" >&2
        say "warning: apt-get update failed (see above); trying to install anyway"
    fi
    for pkg in "${missing[@]}"; do
        say "installing $pkg ..."
    done
    if ! "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends "${missing[@]}" \
        >>"$log" 2>&1; then
        tail -n 40 "$log" >&2
        die "apt-get install failed for: ${missing[*]} (full log: $log)"
    fi
    rm -f "$log"

    for pkg in "${missing[@]}"; do
        installed "$pkg" || die "$pkg is still not installed after apt-get install"
    done
    say "installed ${#missing[@]} package(s): ${missing[*]}"
}

# The browser test's npm packages (playwright-core, which drives the
# system chromium: no browser download). Skipped when they are there and
# not older than the lock file, so a second run costs nothing.
install_browser_test_modules() {
    local dir=tests/browser lock=tests/browser/package-lock.json log
    [ -f "$lock" ] || return 0
    if [ -d "$dir/node_modules/playwright-core" ] &&
        ! [ "$lock" -nt "$dir/node_modules/.package-lock.json" ]; then
        return 0
    fi
    if ! command -v npm >/dev/null 2>&1; then
        say "warning: npm not found; the browser test (it.webui_browser) will be skipped"
        return 0
    fi
    log=$(mktemp "${TMPDIR:-/tmp}/cflink-setup-npm.XXXXXX")
    say "npm ci in $dir ..."
    if PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefix "$dir" \
        --no-audit --no-fund --loglevel=error >"$log" 2>&1; then
        rm -f "$log"
        say "installed the npm packages of $dir"
    else
        tail -n 20 "$log" >&2
        say "warning: npm ci failed in $dir (full log: $log); the browser test (it.webui_browser) will be skipped"
    fi
}

install_packages
if [ "$test_tools" -eq 1 ]; then
    install_browser_test_modules
fi

# --- build -----------------------------------------------------------------

[ "$build" -eq 1 ] || exit 0

jobs=${CF_BUILD_JOBS:-$(nproc 2>/dev/null || echo 2)}
cmake_args=(-S . -B "$build_dir" -DCMAKE_BUILD_TYPE="$build_type")
if [ "$sanitize" -eq 1 ]; then
    cmake_args+=(-DCF_SANITIZE=ON)
fi

say "configuring $build_dir ($build_type$([ "$sanitize" -eq 1 ] && echo ', sanitizers'))"
if [ "$quiet" -eq 1 ]; then
    mkdir -p "$build_dir"
    log="$build_dir/setup.log"
    : >"$log"
    if ! cmake "${cmake_args[@]}" >>"$log" 2>&1; then
        tail -n 60 "$log" >&2
        die "cmake configure failed (full log: $log)"
    fi
    say "building $build_dir with $jobs job(s)"
    if ! cmake --build "$build_dir" -j "$jobs" >>"$log" 2>&1; then
        # The first errors, then the end of the log (make -j interleaves).
        grep -E -A4 ': (fatal )?error:|undefined reference|Error [0-9]' "$log" |
            head -n 60 >&2 || true
        echo "..." >&2
        tail -n 20 "$log" >&2
        die "build failed (full log: $log)"
    fi
else
    cmake "${cmake_args[@]}" || die "cmake configure failed"
    say "building $build_dir with $jobs job(s)"
    cmake --build "$build_dir" -j "$jobs" || die "build failed"
fi
say "build ready in $build_dir"
