#!/usr/bin/env bash
# Checkpoint faults and bad state files, on a JobManager and two
# TaskManagers (2 slots each) running the exactly-once job pair
# (tests/plugins/tp_exactly_once.c). Root ignores permissions, so a path
# is made unusable by putting a regular file where a directory must go:
#   1. checkpoint directories of later checkpoints blocked by files
#      (tolerable-failed-checkpoints high): those checkpoints fail with a
#      message naming the path, the job keeps running, the checkpoint
#      completed before is intact (same _metadata bytes), and once the
#      files are gone checkpoints complete again;
#   2. the checkpoint base directory is a file, tolerable-failed-
#      checkpoints 2, no restarts: the job keeps running through the
#      first failures, then fails with Flink's "Exceeded checkpoint
#      tolerable failure threshold." message;
#   3. restore (-s) from a savepoint whose _metadata is truncated, empty
#      or garbage, or whose state file is corrupt or truncated: a clear
#      error naming the file, the job does not run on (FAILED, no
#      restart loop), every daemon alive.
#
# Exits 77 (skipped) when the daemons or the plugin are not built.
source "$(dirname "$0")/common.bash"
source "$(dirname "$0")/cluster.bash"
source "$(dirname "$0")/checkpoint.bash"

cluster_require_bins
PLUGIN=$(ckpt_plugin tp_exactly_once)
cluster_trap

KEYS=4
RATE=${CKPT_BAD_RATE:-1000} # records/s per source instance
CK="$WORK/checkpoints"
SPD="$WORK/savepoints"
mkdir -p "$CK" "$SPD"
ckpt_start_cluster -D execution.checkpointing.dir="$CK" \
    -D restart-strategy.type=fixed-delay \
    -D restart-strategy.fixed-delay.attempts=2 \
    -D restart-strategy.fixed-delay.delay=100ms ||
    { fail "cluster start"; finish; exit 1; }
M=(-m "127.0.0.1:$REST_PORT")

# eo_args OUT EVENTS [more...]
eo_args() {
    local out=$1 ev=$2
    shift 2
    echo "$PLUGIN" --keys "$KEYS" --events "$ev" --rate "$RATE" \
        --out "$out" "$@"
}

# failure_text JID: what the REST API says about the job's failed
# checkpoints and its exceptions (not the logs), into $WORK/fail-JID.txt.
failure_text() {
    local f="$WORK/fail-$1.txt"
    : >"$f"
    rest_call GET "/jobs/$1/checkpoints" "$WORK/.c.json"
    cat "$WORK/.c.json" >>"$f"
    rest_call GET "/jobs/$1/exceptions" "$WORK/.e.json"
    cat "$WORK/.e.json" >>"$f"
    echo "$f"
}

# ---- 1. later checkpoint directories blocked --------------------------
ckpt_submit "$WORK/r1.out" "$WORK/r1.err" -p 4 \
    -D execution.checkpointing.interval=200ms \
    -D execution.checkpointing.tolerable-failed-checkpoints=1000 \
    $(eo_args "$WORK/out1" 0)
expect_eq "run 1 exit code" 0 "$RC"
JID1=$JID
cluster_wait_running "$JID1" 30 || fail "job 1 running"
id=$(ckpt_wait_completed "$JID1" 0 30) || fail "no checkpoint of job 1"
id=${id:-0}
# Block the directories of checkpoints id+2 .. id+200 (id+1 may already
# be under way; on a slow machine a later one may be too: those
# directories exist already and are skipped).
for ((n = id + 2; n <= id + 200; n++)); do
    [ -e "$CK/$JID1/chk-$n" ] || : >"$CK/$JID1/chk-$n" 2>/dev/null || true
done
sleep 0.5
good=$(ckpt_stats "$JID1" | awk '{print $2}')
meta="$CK/$JID1/chk-$good/_metadata"
sum0=$(md5sum <"$meta" 2>/dev/null || echo none)
failed0=$(ckpt_stats "$JID1" | awk '{print $4}')
sleep 2
s=$(ckpt_stats "$JID1")
failed1=$(awk '{print $4}' <<<"$s")
if [ "${failed1:-0}" -gt "${failed0:-0}" ] 2>/dev/null; then
    ok "checkpoints fail while their directories are blocked ($failed0 -> $failed1)"
else
    fail "no failed checkpoints counted: $s"
fi
expect_eq "job 1 keeps running" RUNNING "$(ckpt_job_state "$JID1")"
expect_eq "latest completed checkpoint unchanged" "$good" "$(awk '{print $2}' <<<"$s")"
expect_eq "checkpoint $good intact" "$sum0" "$(md5sum <"$meta" 2>/dev/null || echo gone)"
rest_call GET "/jobs/$JID1/checkpoints" "$WORK/c1.json"
fid=$(json_py "$WORK/c1.json" 'str(((d.get("latest") or {}).get("failed") or {}).get("id", -1))')
fmsg=$(json_py "$WORK/c1.json" '((d.get("latest") or {}).get("failed") or {}).get("failure_message", "")')
if [ "$fid" -gt "$good" ] 2>/dev/null && [[ "$fmsg" == *"$CK/$JID1/chk-$fid"* ]]; then
    ok "latest.failed ($fid) names its blocked path: $fmsg"
else
    fail "latest.failed $fid: '$fmsg' does not name $CK/$JID1/chk-$fid"
fi
find "$CK/$JID1" -maxdepth 1 -type f -name 'chk-*' -delete
if ckpt_wait_completed "$JID1" "$good" 20 >/dev/null; then
    ok "checkpoints complete again once the path is free"
else
    fail "no checkpoint after the path was freed: $(ckpt_stats "$JID1")"
fi
run_cf "$WORK/c1.out" "$WORK/c1.err" 30 cancel "${M[@]}" "$JID1"
ckpt_wait_state "$JID1" CANCELED 20 >/dev/null || fail "job 1 not CANCELED"

# ---- 2. base directory is a file: tolerable failures exceeded ---------
: >"$WORK/not-a-dir"
ckpt_submit "$WORK/r2.out" "$WORK/r2.err" -p 2 \
    -D execution.checkpointing.interval=1s \
    -D execution.checkpointing.dir="$WORK/not-a-dir" \
    -D execution.checkpointing.tolerable-failed-checkpoints=2 \
    -D restart-strategy.type=none \
    $(eo_args "$WORK/out2" 0)
expect_eq "run 2 exit code" 0 "$RC"
JID2=$JID
# The job survives the first failed checkpoints and fails at the third
# (tolerable 2): it is FAILED with at least 3 failed checkpoints counted.
expect_eq "job 2 fails" FAILED "$(ckpt_wait_state "$JID2" FAILED 30)"
fc=$(ckpt_stats "$JID2" | awk '{print $4}')
if [[ "$fc" =~ ^[0-9]+$ ]] && [ "$fc" -ge 3 ]; then
    ok "job 2 kept running over 2 failed checkpoints ($fc failed in all)"
else
    fail "job 2: $fc failed checkpoints counted, expected at least 3"
fi
f=$(failure_text "$JID2")
expect_contains "Flink's threshold message" "$f" \
    "Exceeded checkpoint tolerable failure threshold."
expect_contains "the failure names the path" "$f" "$WORK/not-a-dir"

# ---- 3. corrupt state on restore ---------------------------------------
ckpt_submit "$WORK/r3.out" "$WORK/r3.err" -p 2 $(eo_args "$WORK/out3" 0)
JID3=$JID
cluster_wait_running "$JID3" 30 || fail "job 3 running"
sleep 0.5
run_cf "$WORK/sp.out" "$WORK/sp.err" 60 savepoint "${M[@]}" "$JID3" "$SPD"
SP=$(sed -nE 's/^Savepoint completed\. Path: (file:)?(.*)$/\2/p' "$WORK/sp.out" | head -1)
run_cf "$WORK/c3.out" "$WORK/c3.err" 30 cancel "${M[@]}" "$JID3"
if [ -z "$SP" ] || [ ! -f "$SP/_metadata" ]; then
    fail "no savepoint to corrupt: $(cat "$WORK/sp.out" "$WORK/sp.err")"
    finish
    exit 1
fi
ok "savepoint $SP"
statef=$(find "$SP" -type f ! -name _metadata -size +0 | sort | head -1)

# bad_restore NAME FILE-IN-COPY MUTATION: copy the savepoint, damage one
# file of the copy, run -s from it: the submission or the job must fail,
# naming the damaged file.
bad_restore() {
    local name=$1 rel=$2 how=$3 dir="$WORK/bad-$1"
    cp -a "$SP" "$dir"
    local f="$dir/$rel" sz
    sz=$(stat -c %s "$f")
    case "$how" in
    truncate) truncate -s $((sz / 2)) "$f" ;;
    empty) : >"$f" ;;
    garbage) head -c 4096 /dev/urandom >"$f" ;;
    flip) # flip bytes in the middle, size unchanged
        printf '\xde\xad\xbe\xef\xde\xad\xbe\xef' |
            dd of="$f" bs=1 seek=$((sz / 2)) conv=notrunc status=none ;;
    esac
    ckpt_submit "$WORK/b-$name.out" "$WORK/b-$name.err" -p 2 -s "$dir" \
        $(eo_args "$WORK/out-$name" 0)
    local all="$WORK/b-$name.all" st=
    cat "$WORK/b-$name.out" "$WORK/b-$name.err" >"$all"
    if [ "$RC" -ne 0 ]; then
        st="refused at submission"
    elif [ -n "$JID" ]; then
        st=$(ckpt_wait_state "$JID" FAILED 30) || true
        rest_call GET "/jobs/$JID/exceptions" "$WORK/.e.json"
        cat "$WORK/.e.json" >>"$all"
        [ "$st" = FAILED ] && st="job FAILED"
    fi
    case "$st" in
    "refused at submission" | "job FAILED") ok "$name: $st" ;;
    *) fail "$name: restore from a damaged file ended '$st'" ;;
    esac
    if grep -qF -- "$f" "$all"; then ok "$name: the error names $rel"; else
        fail "$name: no error naming $f"
        grep -iE 'error|fail|corrupt|checksum' "$all" | head -5 | sed 's/^/    /' >&2
    fi
}
bad_restore meta-truncated _metadata truncate
bad_restore meta-empty _metadata empty
bad_restore meta-garbage _metadata garbage
if [ -n "$statef" ]; then
    rel=${statef#"$SP"/}
    bad_restore state-flipped "$rel" flip
    bad_restore state-truncated "$rel" truncate
else
    fail "the savepoint has no state file"
fi

# Nobody crashed.
alive=0
for n in a b; do kill -0 "${TM_PIDS[$n]}" 2>/dev/null && alive=$((alive + 1)); done
expect_eq "TaskManagers alive" 2 "$alive"
if kill -0 "$JM_PID" 2>/dev/null; then ok "JobManager alive"; else fail "JobManager died"; fi
if ! grep -qE 'Assertion|AddressSanitizer|runtime error|Segmentation' \
    "$WORK"/*.log "$WORK"/*.out 2>/dev/null; then
    ok "no crash reports in the logs"
else
    fail "crash reports:"
    grep -hE 'Assertion|AddressSanitizer|runtime error|Segmentation' \
        "$WORK"/*.log "$WORK"/*.out | head -5 >&2
fi
finish
