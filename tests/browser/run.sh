#!/usr/bin/env bash
# Browser test of the bundled web UI (src/webui): a JobManager serving the
# UI from the source tree (cflink.web.dir), one TaskManager with 2 slots,
# checkpointing on; then tests/browser/webui.test.mjs drives Chromium
# through Playwright: overview, submit (upload + run), running list, live
# job graph, vertex detail, checkpoints + details, TaskManagers,
# JobManager, cancel, and an unknown job's error notification.
#
# Usage: bash tests/browser/run.sh <build-dir>   (ctest sets CF_BUILD_DIR
# and CF_SOURCE_DIR). Exit 77 (skipped) without Chromium, without
# `npm install --prefix tests/browser` or without the daemons.
# Screenshots: <build-dir>/test-artifacts/webui/*.png.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export CF_SOURCE_DIR=${CF_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
if [ $# -ge 1 ]; then
    export CF_BUILD_DIR=$(cd "$1" && pwd)
fi
: "${CF_BUILD_DIR:?usage: run.sh <build-dir>}"

CHROMIUM=${CF_CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$CHROMIUM" ]; then
    echo "SKIP: no Chromium at $CHROMIUM"
    exit 77
fi
if [ ! -f "$CF_SOURCE_DIR/tests/browser/node_modules/playwright-core/package.json" ]; then
    echo "SKIP: playwright-core is not installed (npm install --prefix $CF_SOURCE_DIR/tests/browser)"
    exit 77
fi
if ! command -v node >/dev/null 2>&1; then
    echo "SKIP: node is not installed"
    exit 77
fi

# shellcheck source=../integration/common.bash
source "$CF_SOURCE_DIR/tests/integration/common.bash"
# shellcheck source=../integration/cluster.bash
source "$CF_SOURCE_DIR/tests/integration/cluster.bash"
cluster_require_bins

# tp_stateful: an unbounded, rate-limited keyed counter whose source
# checkpoints its position, so checkpoints complete every interval.
PLUGIN="$PLUGINS/tp_stateful.so"
if [ ! -f "$PLUGIN" ]; then
    echo "SKIP: $PLUGIN is not built"
    exit 77
fi

cluster_trap
ART="$CF_BUILD_DIR/test-artifacts/webui"
rm -rf "$ART"
mkdir -p "$ART"

# The job configuration is a copy of the cluster's, so checkpointing is
# set here for every job. A refresh interval of 1 s keeps the test short.
cluster_start_jm -D "cflink.web.dir=$CF_SOURCE_DIR/src/webui" \
    -D web.refresh-interval=1000 \
    -D execution.checkpointing.interval=500ms \
    -D "execution.checkpointing.dir=file://$WORK/checkpoints" \
    -D "execution.checkpointing.savepoint-dir=file://$WORK/savepoints" \
    -D web.checkpoints.history=100
cluster_start_tm tm1 -D taskmanager.numberOfTaskSlots=2
cluster_wait_tms 1

rest_call GET / "$WORK/index.html"
if [ "$HTTP_CODE" != 200 ] || ! grep -q 'app.js' "$WORK/index.html"; then
    fail "GET / did not serve src/webui/index.html (HTTP $HTTP_CODE): is cflink.web.dir supported?"
    grep -i 'web' "$JM_LOG" | head -5 >&2 || true
    finish
fi
ok "the JobManager serves the web UI"

set +e
CF_REST_URL="$REST_URL" CF_PLUGIN="$PLUGIN" \
    CF_PLUGIN_ARGS="--keys 8 --rate 400 --discard" \
    CF_ARTIFACT_DIR="$ART" CF_CHROMIUM="$CHROMIUM" \
    timeout -k 5 240 node "$CF_SOURCE_DIR/tests/browser/webui.test.mjs"
rc=$?
set -e
if [ "$rc" -eq 0 ]; then
    ok "browser test (screenshots in $ART)"
else
    fail "browser test exited with $rc (screenshots in $ART)"
    echo "--- last lines of the JobManager log ---" >&2
    tail -20 "$JM_LOG" >&2 || true
fi
finish
