#!/usr/bin/env bash
# Savepoints through the CLI, as Flink's SavepointITCase and the
# test_resume_savepoint e2e test, on a JobManager and two TaskManagers
# (2 slots each) running the exactly-once job pair
# (tests/plugins/tp_exactly_once.c):
#   1. `cflink savepoint <jobid> <dir>` (Flink's messages, a
#      savepoint-<6 hex>-<12 hex> directory with _metadata), cancel, then
#      `cflink run -s <path>` at parallelism 3 instead of 4: the keyed
#      checker continues where it stopped (zero alerts) and the committed
#      output of both runs together holds every sequence number of every
#      key exactly once;
#   2. `cflink stop --savepointPath <dir>` (no drain) of the pair with
#      DrainBuffer (--drain-test: every record is kept in operator state
#      and emitted only in finish()): the job ends FINISHED and nothing
#      was emitted (finish() is skipped without drain); run -s at
#      parallelism 2 restores the buffered records too and the output is
#      exactly once;
#   3. `cflink stop --drain` of the same job: finish() runs, the buffered
#      records reach the committed output (each key from 0 on, once);
#   4. `cflink savepoint` without a directory uses
#      execution.checkpointing.savepoint-dir; `cflink savepoint -d <path>`
#      disposes it;
#   5. run -s with a path that does not exist fails naming the path, and
#      no job is left restarting;
#   6. state of an operator the new program lacks (a savepoint with
#      DrainBuffer restored without it): refused without -n (naming
#      --allowNonRestoredState), accepted with -n;
#   7. savepoint of an unknown job: Flink's error naming the job id.
#
# Exits 77 (skipped) when the daemons or the plugin are not built.
source "$(dirname "$0")/common.bash"
source "$(dirname "$0")/cluster.bash"
source "$(dirname "$0")/checkpoint.bash"

cluster_require_bins
PLUGIN=$(ckpt_plugin tp_exactly_once)
cluster_trap

# 8 keys, 2000 per key, 1000 records/s per source instance: 4 s at -p 4.
KEYS=${CKPT_SP_KEYS:-8}
EVENTS=${CKPT_SP_EVENTS:-2000} # per key
RATE=${CKPT_SP_RATE:-1000}     # records/s per source instance
CK="$WORK/checkpoints"
SPD="$WORK/savepoints"         # explicit target directory
SPDEF="$WORK/savepoints-default" # execution.checkpointing.savepoint-dir
mkdir -p "$CK" "$SPD" "$SPDEF"
M=(-m "127.0.0.1:0") # set after the JobManager started

ckpt_start_cluster -D execution.checkpointing.dir="$CK" \
    -D execution.checkpointing.savepoint-dir="$SPDEF" \
    -D restart-strategy.type=fixed-delay \
    -D restart-strategy.fixed-delay.attempts=3 \
    -D restart-strategy.fixed-delay.delay=200ms ||
    { fail "cluster start"; finish; exit 1; }
M=(-m "127.0.0.1:$REST_PORT")
INTERVAL=(-D execution.checkpointing.interval=200ms)

# eo_args OUT [more...]: the plugin's arguments.
eo_args() {
    local out=$1
    shift
    echo "$PLUGIN" --keys "$KEYS" --events "$EVENTS" --rate "$RATE" \
        --out "$out" "$@"
}

# sp_path FILE: the path of "Savepoint completed. Path: <p>" (a file:
# scheme removed).
sp_path() {
    sed -nE 's/^Savepoint completed\. Path: (file:)?(.*)$/\2/p' "$1" | head -1
}

# wait_progress JID: a completed checkpoint, or (without periodic
# checkpoints) some committed-free progress time.
wait_progress() {
    if ! cluster_wait_running "$1" 30; then
        fail "job $1 running"
        return 1
    fi
    sleep "${2:-1.5}"
}

alerts() {
    (cat "$WORK"/taskmanager-*.out 2>/dev/null
     find "$@" -type f -print0 | xargs -0 -r cat) |
        grep -c ALERT || true
}

# ---- 1. savepoint -> cancel -> run -s at another parallelism --------
OUT1="$WORK/out1"
mkdir -p "$OUT1"
# No periodic checkpoints in this pair: the savepoint is the only commit
# point, so the two runs' committed output must add up exactly.
# Slower than the resumed run: it must still be running when it is
# cancelled, also under sanitizers on a loaded machine (about 27 s).
ckpt_submit "$WORK/r1.out" "$WORK/r1.err" -p 4 $(RATE=150 eo_args "$OUT1")
expect_eq "run 1 exit code" 0 "$RC"
JID1=$JID
wait_progress "$JID1"
run_cf "$WORK/sp1.out" "$WORK/sp1.err" 60 savepoint "${M[@]}" "$JID1" "$SPD"
expect_eq "savepoint exit code" 0 "$RC"
expect_contains "savepoint: triggering" "$WORK/sp1.out" \
    "Triggering savepoint for job $JID1."
expect_contains "savepoint: waiting" "$WORK/sp1.out" "Waiting for response..."
expect_contains "savepoint: resume hint" "$WORK/sp1.out" \
    "You can resume your program from this savepoint with the run command."
SP1=$(sp_path "$WORK/sp1.out")
if [[ "$(basename "${SP1:-x}")" =~ ^savepoint-${JID1:0:6}-[0-9a-f]{12}$ ]] &&
    [ "$(dirname "$SP1")" = "$SPD" ]; then
    ok "savepoint directory $(basename "$SP1") in the target directory"
else
    fail "savepoint path '$SP1' (stdout: $(cat "$WORK/sp1.out" "$WORK/sp1.err"))"
fi
if [ -f "$SP1/_metadata" ]; then ok "savepoint has _metadata"; else
    fail "no $SP1/_metadata"; fi
nfiles=$(find "$SP1" -type f ! -name _metadata | wc -l)
if [ "$nfiles" -ge 1 ]; then ok "savepoint is self-contained ($nfiles state files)"; else
    fail "no state files in $SP1"; fi
expect_eq "job still running after the savepoint" RUNNING "$(ckpt_job_state "$JID1")"
run_cf "$WORK/c1.out" "$WORK/c1.err" 30 cancel "${M[@]}" "$JID1"
expect_eq "cancel exit code" 0 "$RC"
ckpt_wait_state "$JID1" CANCELED 20 >/dev/null || fail "job 1 not CANCELED"

ckpt_submit "$WORK/r2.out" "$WORK/r2.err" -p 3 -s "$SP1" $(eo_args "$OUT1")
expect_eq "run -s -p 3 exit code" 0 "$RC"
JID2=$JID
res=$(cluster_wait_job_done "$JID2" 60) || true
expect_eq "restored job (p=3) result" SUCCEEDED "$res"
rest_call GET "/jobs/$JID2/checkpoints" "$WORK/ck2.json"
rid=$(json_py "$WORK/ck2.json" '((d.get("latest") or {}).get("restored") or {}).get("external_path", "")' 2>/dev/null || true)
case "$rid" in *"$(basename "$SP1")"*) ok "REST latest.restored names the savepoint" ;;
*) fail "latest.restored: '$rid'" ;; esac
ckpt_committed "$OUT1" | grep -v ALERT >"$WORK/c1.txt" || true
if msg=$(ckpt_check_seq "$WORK/c1.txt" "$KEYS" "$EVENTS"); then
    ok "savepoint -> cancel -> -p 3: exactly once: ${msg##*$'\n'}"
else
    fail "savepoint -> cancel -> -p 3: not exactly once:"
    echo "$msg" | sed 's/^/    /' >&2
fi
# The second run really started from the savepoint: it wrote fewer
# lines than a full run.
n2=$(find "$OUT1" -type f -name 'part-*' -newer "$WORK/r2.out" -print0 |
    xargs -0 -r cat | wc -l)
if [ "$n2" -gt 0 ] && [ "$n2" -lt $((KEYS * EVENTS)) ]; then
    ok "run -s wrote $n2 of $((KEYS * EVENTS)) lines"
else
    fail "run -s wrote $n2 lines (expected some, fewer than $((KEYS * EVENTS)))"
fi
expect_eq "alerts after savepoint/cancel/resume" 0 "$(alerts "$OUT1")"

# ---- 2. stop --savepointPath (no drain), resume at -p 2 -------------
OUT2="$WORK/out2"
mkdir -p "$OUT2"
ckpt_submit "$WORK/r3.out" "$WORK/r3.err" -p 4 "${INTERVAL[@]}" \
    $(eo_args "$OUT2" --drain-test)
expect_eq "run 3 exit code" 0 "$RC"
JID3=$JID
wait_progress "$JID3"
ckpt_wait_completed "$JID3" 0 20 >/dev/null || fail "no checkpoint of job 3"
run_cf "$WORK/st.out" "$WORK/st.err" 60 stop "${M[@]}" --savepointPath "$SPD" "$JID3"
expect_eq "stop exit code" 0 "$RC"
expect_contains "stop: suspending" "$WORK/st.out" \
    "Suspending job \"$JID3\" with a CANONICAL savepoint."
expect_contains "stop: triggering" "$WORK/st.out" \
    "Triggering stop-with-savepoint for job $JID3."
SP2=$(sp_path "$WORK/st.out")
if [ -n "$SP2" ] && [ -f "$SP2/_metadata" ]; then ok "stop: savepoint $SP2"; else
    fail "stop: no savepoint ($(cat "$WORK/st.out" "$WORK/st.err"))"; fi
expect_eq "stopped job state" FINISHED "$(ckpt_wait_state "$JID3" FINISHED 20)"
nf=$(ckpt_committed "$OUT2" | wc -l)
expect_eq "no finish() output without --drain" 0 "$nf"
ckpt_submit "$WORK/r4.out" "$WORK/r4.err" -p 2 -s "$SP2" "${INTERVAL[@]}" \
    $(eo_args "$OUT2" --drain-test)
expect_eq "run -s -p 2 exit code" 0 "$RC"
res=$(cluster_wait_job_done "$JID" 60) || true
expect_eq "restored job (p=2) result" SUCCEEDED "$res"
ckpt_committed "$OUT2" | grep -v ALERT >"$WORK/c2.txt" || true
if msg=$(ckpt_check_seq "$WORK/c2.txt" "$KEYS" "$EVENTS"); then
    ok "stop-with-savepoint -> -p 2: exactly once: ${msg##*$'\n'}"
else
    fail "stop-with-savepoint -> -p 2: not exactly once:"
    echo "$msg" | sed 's/^/    /' >&2
fi
expect_eq "alerts after stop/resume" 0 "$(alerts "$OUT2")"

# ---- 3. stop --drain: finish() output is flushed ---------------------
OUT3="$WORK/out3"
mkdir -p "$OUT3"
ckpt_submit "$WORK/r5.out" "$WORK/r5.err" -p 4 "${INTERVAL[@]}" \
    $(eo_args "$OUT3" --drain-test)
JID5=$JID
wait_progress "$JID5" 1
run_cf "$WORK/dr.out" "$WORK/dr.err" 60 stop "${M[@]}" --drain -p "$SPD" "$JID5"
expect_eq "stop --drain exit code" 0 "$RC"
expect_contains "stop --drain: draining" "$WORK/dr.out" \
    "Draining job \"$JID5\" with a CANONICAL savepoint."
SP3=$(sp_path "$WORK/dr.out")
expect_eq "drained job state" FINISHED "$(ckpt_wait_state "$JID5" FINISHED 20)"
ckpt_committed "$OUT3" >"$WORK/c3.txt" || true
if [ -s "$WORK/c3.txt" ] && msg=$(ckpt_check_prefix "$WORK/c3.txt" "$KEYS"); then
    ok "stop --drain flushed the buffered records: $msg"
else
    fail "stop --drain: committed output $(wc -l <"$WORK/c3.txt") lines: ${msg:-}"
fi
expect_eq "alerts after stop --drain" 0 "$(alerts "$OUT3")"

# ---- 4. default directory, disposal ---------------------------------
OUT4="$WORK/out4"
mkdir -p "$OUT4"
ckpt_submit "$WORK/r6.out" "$WORK/r6.err" -p 2 $(eo_args "$OUT4" --drain-test)
JID6=$JID
wait_progress "$JID6" 0.5
run_cf "$WORK/sp6.out" "$WORK/sp6.err" 60 savepoint "${M[@]}" "$JID6"
expect_eq "savepoint (default dir) exit code" 0 "$RC"
SP6=$(sp_path "$WORK/sp6.out")
expect_eq "savepoint in execution.checkpointing.savepoint-dir" "$SPDEF" \
    "$(dirname "${SP6:-/x/y}")"
run_cf "$WORK/d.out" "$WORK/d.err" 30 savepoint "${M[@]}" -d "$SP6"
expect_eq "dispose exit code" 0 "$RC"
expect_contains "dispose: disposing" "$WORK/d.out" "Disposing savepoint '$SP6'."
expect_contains "dispose: disposed" "$WORK/d.out" "Savepoint '$SP6' disposed."
if [ -n "$SP6" ] && [ ! -e "$SP6" ]; then ok "savepoint directory removed"; else
    fail "$SP6 still exists"; fi

# ---- 6. operator state the new program lacks (-n) --------------------
run_cf "$WORK/sp7.out" "$WORK/sp7.err" 60 savepoint "${M[@]}" "$JID6" "$SPD"
SP7=$(sp_path "$WORK/sp7.out")
run_cf "$WORK/c6.out" "$WORK/c6.err" 30 cancel "${M[@]}" "$JID6"
ckpt_wait_state "$JID6" CANCELED 20 >/dev/null || fail "job 6 not CANCELED"
ckpt_submit "$WORK/r8.out" "$WORK/r8.err" -p 2 -s "$SP7" \
    $(eo_args "$WORK/out8")
st=
if [ "$RC" -ne 0 ]; then
    st=refused
    cat "$WORK/r8.out" "$WORK/r8.err" >"$WORK/r8.all"
elif [ -n "$JID" ]; then
    st=$(ckpt_wait_state "$JID" FAILED 20) || true
    rest_call GET "/jobs/$JID/exceptions" "$WORK/r8.all"
fi
if [ "$st" = refused ] || [ "$st" = FAILED ]; then
    ok "restore with state of a missing operator refused ($st)"
    expect_contains "the refusal names --allowNonRestoredState" "$WORK/r8.all" \
        "allowNonRestoredState"
else
    fail "restore with state of a missing operator: $st"
fi
ckpt_submit "$WORK/r9.out" "$WORK/r9.err" -p 2 -n -s "$SP7" \
    $(eo_args "$WORK/out9")
expect_eq "run -n exit code" 0 "$RC"
res=$(cluster_wait_job_done "$JID" 60) || true
expect_eq "job with --allowNonRestoredState" SUCCEEDED "$res"

# ---- 5. missing path -------------------------------------------------
before=$(ckpt_grep_count 'RESTARTING' "$JM_LOG")
ckpt_submit "$WORK/r7.out" "$WORK/r7.err" -p 2 -s "$WORK/no/such/savepoint" \
    $(eo_args "$WORK/out7")
if [ "$RC" -ne 0 ]; then ok "run -s <missing> fails (exit $RC)"; else
    fail "run -s <missing> exit code 0"; fi
expect_contains "the error names the path" "$WORK/r7.err" "$WORK/no/such/savepoint"
sleep 1
rest_call GET /jobs/overview "$WORK/ov.json"
nlive=$(json_py "$WORK/ov.json" 'len([j for j in d["jobs"] if j["state"] not in ("FINISHED", "FAILED", "CANCELED")])')
expect_eq "no job left running or restarting" 0 "$nlive"
expect_eq "no restart for the missing path" "$before" \
    "$(ckpt_grep_count 'RESTARTING' "$JM_LOG")"

# ---- 7. unknown job ---------------------------------------------------
run_cf "$WORK/u.out" "$WORK/u.err" 30 savepoint "${M[@]}" \
    0123456789abcdef0123456789abcdef "$SPD"
if [ "$RC" -ne 0 ]; then ok "savepoint of an unknown job fails"; else
    fail "savepoint of an unknown job: exit 0"; fi
expect_contains "unknown job: Flink's message" "$WORK/u.err" \
    "Failed to trigger a savepoint for the job 0123456789abcdef0123456789abcdef."
run_cf "$WORK/u2.out" "$WORK/u2.err" 30 stop "${M[@]}" "$JID3"
if [ "$RC" -ne 0 ]; then ok "stop of a finished job fails"; else
    fail "stop of a finished job: exit 0"; fi

if kill -0 "$JM_PID" 2>/dev/null; then ok "JobManager alive"; else fail "JobManager died"; fi
finish
