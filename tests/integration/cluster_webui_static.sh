#!/usr/bin/env bash
# The JobManager serves the web UI's files at "/" from cflink.web.dir:
#   - a JobManager started with -D cflink.web.dir=<temp dir> serves
#     index.html at / (text/html), .js with a JavaScript type, .css as
#     text/css, files in subdirectories; HEAD works; an unknown file is a
#     404 with Flink's {"errors": [...]} body;
#   - no request reaches a file outside the directory: "..", encoded once
#     (%2e%2e, ..%2f) or twice (%252e%252e), and symbolic links in the
#     directory that point outside (to a file, to a directory);
#   - REST routes win over files: a file named "overview" in the directory
#     does not hide GET /overview;
#   - cflink.web.dir set to a missing path or to a regular file stops the
#     JobManager at start-up (exit status non-zero) with an error naming
#     the key and the path; an empty value turns the UI off;
#   - with the key unset, a build-tree JobManager serves the source tree's
#     src/webui (when it has an index.html), else logs that no UI is
#     served.
#
# Exits 77 (skipped) when the daemons are not built.
source "$(dirname "$0")/common.bash"
source "$(dirname "$0")/cluster.bash"

cluster_require_bins
cluster_trap

# --- the directory served, and files outside it ---------------------------

UI="$WORK/webui"
mkdir -p "$UI/sub" "$WORK/outside"
printf '<!doctype html><title>cflink test ui</title>MARK-INDEX\n' >"$UI/index.html"
printf 'console.log("MARK-JS");\n' >"$UI/app.js"
printf 'body { color: red; } /* MARK-CSS */\n' >"$UI/style.css"
printf 'MARK-SUB\n' >"$UI/sub/page.txt"
printf '<p>MARK-SUBINDEX</p>\n' >"$UI/sub/index.html"
printf 'MARK-STATIC-OVERVIEW\n' >"$UI/overview"
# Secrets outside the directory, reachable by "../" from it.
printf 'MARK-SECRET\n' >"$WORK/secret.txt"
printf 'MARK-SECRET\n' >"$WORK/outside/secret.txt"
ln -s "$WORK/secret.txt" "$UI/leak.txt"
ln -s ../secret.txt "$UI/leak-rel.txt"
ln -s "$WORK/outside" "$UI/leakdir"

# fetch METHOD PATH: HTTP_CODE, body in $WORK/body, headers in $WORK/hdr.
# --path-as-is: curl must not resolve the ".." itself.
fetch() {
    HTTP_CODE=$(curl -s --path-as-is -X "$1" -D "$WORK/hdr" -o "$WORK/body" \
        -w '%{http_code}' --max-time 10 "$REST_URL$2") || HTTP_CODE=000
}
head_req() {
    HTTP_CODE=$(curl -s --path-as-is -I -D "$WORK/hdr" -o "$WORK/body" \
        -w '%{http_code}' --max-time 10 "$REST_URL$1") || HTTP_CODE=000
}
ctype() {
    tr -d '\r' <"$WORK/hdr" | awk -F': *' 'tolower($1) == "content-type" {print $2}' |
        tail -1
}
body_has() { grep -qF -- "$1" "$WORK/body"; }
# expect_body NAME TEXT: the last body has TEXT.
expect_body() {
    if body_has "$2"; then
        ok "$1"
    else
        fail "$1: '$2' not in: $(head -c 200 "$WORK/body")"
    fi
}

cluster_start_jm -D cflink.web.dir="$UI" || {
    fail "JobManager with cflink.web.dir did not start"
    finish
    exit 1
}
expect_contains "log names the web directory" "$JM_LOG" \
    "Web frontend served from $UI"

# --- files ------------------------------------------------------------------

fetch GET /
expect_eq "GET / status" 200 "$HTTP_CODE"
expect_body "GET / is index.html" MARK-INDEX
case "$(ctype)" in text/html*) ok "GET / Content-Type $(ctype)" ;;
*) fail "GET / Content-Type: '$(ctype)'" ;; esac

fetch GET /index.html
expect_eq "GET /index.html" "200 yes" "$HTTP_CODE $(body_has MARK-INDEX && echo yes)"

fetch GET /app.js
expect_eq "GET /app.js status" 200 "$HTTP_CODE"
expect_body "GET /app.js body" MARK-JS
case "$(ctype)" in application/javascript* | text/javascript*) ok "app.js Content-Type $(ctype)" ;;
*) fail "app.js Content-Type: '$(ctype)'" ;; esac

fetch GET /style.css
expect_eq "GET /style.css status" 200 "$HTTP_CODE"
expect_body "GET /style.css body" MARK-CSS
case "$(ctype)" in text/css*) ok "style.css Content-Type $(ctype)" ;;
*) fail "style.css Content-Type: '$(ctype)'" ;; esac

fetch GET /sub/page.txt
expect_eq "GET /sub/page.txt" "200 yes" "$HTTP_CODE $(body_has MARK-SUB && echo yes)"
fetch GET /sub/
expect_eq "GET /sub/ is sub/index.html" "200 yes" \
    "$HTTP_CODE $(body_has MARK-SUBINDEX && echo yes)"

# Revalidation: Last-Modified and Cache-Control: no-cache on a file; the
# same date in If-Modified-Since answers 304 without the body, another
# date the file.
fetch GET /app.js
lastmod=$(tr -d '\r' <"$WORK/hdr" | sed -n 's/^[Ll]ast-[Mm]odified: *//p' | tail -1)
cachectl=$(tr -d '\r' <"$WORK/hdr" | sed -n 's/^[Cc]ache-[Cc]ontrol: *//p' | tail -1)
expect_eq "app.js Cache-Control" "no-cache" "$cachectl"
if [ -n "$lastmod" ]; then ok "app.js Last-Modified: $lastmod"; else fail "app.js has no Last-Modified"; fi
rm -f "$WORK/body" # curl writes no file for an empty body
HTTP_CODE=$(curl -s -D "$WORK/hdr" -o "$WORK/body" -w '%{http_code}' --max-time 10 \
    -H "If-Modified-Since: $lastmod" "$REST_URL/app.js") || HTTP_CODE=000
expect_eq "app.js unchanged: 304" 304 "$HTTP_CODE"
if body_has MARK-JS; then fail "304 sent the body"; else ok "304 has no body"; fi
HTTP_CODE=$(curl -s -D "$WORK/hdr" -o "$WORK/body" -w '%{http_code}' --max-time 10 \
    -H "If-Modified-Since: Mon, 01 Jan 2001 00:00:00 GMT" "$REST_URL/app.js") || HTTP_CODE=000
expect_eq "app.js with another date: 200 and the file" "200 yes" \
    "$HTTP_CODE $(body_has MARK-JS && echo yes)"

# A page's files come over one keep-alive connection (an answer queued
# before MHD read the whole request would close it).
if curl -sv -o /dev/null -o /dev/null -o /dev/null --max-time 10 \
    "$REST_URL/" "$REST_URL/app.js" "$REST_URL/style.css" 2>&1 |
    grep -c "Re-using existing connection" | grep -qx 2; then
    ok "static files on one keep-alive connection"
else
    fail "static files closed the connection"
fi

head_req /
expect_eq "HEAD / status" 200 "$HTTP_CODE"
case "$(ctype)" in text/html*) ok "HEAD / Content-Type $(ctype)" ;;
*) fail "HEAD / Content-Type: '$(ctype)'" ;; esac
# curl -I writes the headers where the body would go: no file content.
if body_has MARK-INDEX; then fail "HEAD / sent the body"; else ok "HEAD / has no body"; fi
head_req /app.js
expect_eq "HEAD /app.js status" 200 "$HTTP_CODE"

fetch GET /no-such-file.js
expect_eq "unknown file status" 404 "$HTTP_CODE"
errs=$(json_py "$WORK/body" '"yes" if isinstance(d.get("errors"), list) and d["errors"] else "no"' 2>/dev/null || echo "not JSON: $(head -c 100 "$WORK/body")")
expect_eq "unknown file: {\"errors\": [...]}" yes "$errs"

# --- nothing outside the directory ------------------------------------------

for p in /../secret.txt /../../../../../../etc/passwd /sub/../../secret.txt \
    /%2e%2e/secret.txt /%2E%2E/secret.txt /%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd \
    /%252e%252e/secret.txt /%252e%252e/%252e%252e/etc/passwd \
    /a/..%2f..%2fetc/passwd /sub/..%2f..%2fsecret.txt /..%2fsecret.txt \
    /.%2e/secret.txt /sub%2f..%2f..%2fsecret.txt '/..\secret.txt' \
    '/%5c..%5csecret.txt' /leak.txt /leak-rel.txt /leakdir/secret.txt \
    "/$WORK/secret.txt" "//$WORK/secret.txt"; do
    fetch GET "$p"
    if [ "$HTTP_CODE" = 200 ] || body_has MARK-SECRET || body_has 'root:'; then
        fail "GET $p leaked (HTTP $HTTP_CODE): $(head -c 100 "$WORK/body")"
    elif [ "$HTTP_CODE" = 000 ] || [ "$HTTP_CODE" -ge 500 ]; then
        fail "GET $p: HTTP $HTTP_CODE"
    else
        ok "GET $p refused (HTTP $HTTP_CODE)"
    fi
done
# The JobManager survived all that.
fetch GET /
expect_eq "GET / after the traversal attempts" 200 "$HTTP_CODE"

# --- REST routes win over files ---------------------------------------------

fetch GET /overview
expect_eq "GET /overview status" 200 "$HTTP_CODE"
got=$(json_py "$WORK/body" '"yes" if "taskmanagers" in d else "no"' 2>/dev/null || echo "not JSON")
expect_eq "GET /overview is the REST route, not the file" yes "$got"
fetch GET /v1/overview
got=$(json_py "$WORK/body" '"yes" if "taskmanagers" in d else "no"' 2>/dev/null || echo "not JSON")
expect_eq "GET /v1/overview is the REST route" "200 yes" "$HTTP_CODE $got"

cluster_stop

# --- bad values stop the start-up -------------------------------------------

# jm_must_fail NAME VALUE: a JobManager with cflink.web.dir=VALUE exits
# non-zero within 15 s, naming the key and the value.
jm_must_fail() {
    local name=$1 value=$2 rc
    set +e
    timeout -k 2 15 "$JM_BIN" -D rest.port=0 -D rest.bind-port=0 \
        -D rest.bind-address=127.0.0.1 -D jobmanager.rpc.port=0 \
        -D jobmanager.bind-host=127.0.0.1 -D web.tmpdir="$WORK" \
        -D cflink.web.dir="$value" --log-file "$WORK/jm-$name.log" \
        >"$WORK/jm-$name.out" 2>&1
    rc=$?
    set -e
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        fail "$name: the JobManager kept running"
    elif [ "$rc" -eq 0 ]; then
        fail "$name: exit status 0"
    else
        ok "$name: exit status $rc"
    fi
    cat "$WORK/jm-$name.out" "$WORK/jm-$name.log" >"$WORK/jm-$name.all" 2>/dev/null || true
    if grep -F -- "cflink.web.dir" "$WORK/jm-$name.all" | grep -qF -- "$value"; then
        ok "$name: the error names the key and the path"
    else
        fail "$name: no error naming cflink.web.dir and $value:"
        sed 's/^/    /' "$WORK/jm-$name.all" | tail -5 >&2
    fi
}
jm_must_fail missing /nonexistent
jm_must_fail regular-file "$UI/index.html"

# An empty value: no UI, the REST API works.
# cluster_start_jm waits for lines in jobmanager.log: start each afresh.
rm -f "$WORK/jobmanager.log" "$WORK/jobmanager.out"
cluster_start_jm -D cflink.web.dir= || { fail "JobManager (empty cflink.web.dir) did not start"; finish; exit 1; }
fetch GET /
expect_eq "empty cflink.web.dir: GET / is 404" 404 "$HTTP_CODE"
fetch GET /overview
expect_eq "empty cflink.web.dir: REST works" 200 "$HTTP_CODE"
cluster_stop

# --- unset: the build tree serves src/webui ---------------------------------

rm -f "$WORK/jobmanager.log" "$WORK/jobmanager.out"
cluster_start_jm || { fail "JobManager (cflink.web.dir unset) did not start"; finish; exit 1; }
SRC_UI="$CF_SOURCE_DIR/src/webui"
if [ -f "$SRC_UI/index.html" ]; then
    fetch GET /
    if [ "$HTTP_CODE" = 200 ] && cmp -s "$WORK/body" "$SRC_UI/index.html"; then
        ok "unset: GET / serves src/webui/index.html"
    else
        fail "unset: GET / (HTTP $HTTP_CODE) is not src/webui/index.html"
    fi
    expect_contains "unset: log names src/webui" "$JM_LOG" \
        "Web frontend served from $(cd "$SRC_UI" && pwd -P)"
elif [ -d "$SRC_UI" ]; then
    expect_contains "unset: log names src/webui" "$JM_LOG" \
        "Web frontend served from $(cd "$SRC_UI" && pwd -P)"
else
    expect_contains "unset, no UI: a warning" "$JM_LOG" "Web frontend not served"
    fetch GET /overview
    expect_eq "unset, no UI: REST works" 200 "$HTTP_CODE"
fi
cluster_stop

finish
