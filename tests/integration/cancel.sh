#!/usr/bin/env bash
# SIGINT cancels a running job cleanly (CANCELED, exit code 130).
source "$(dirname "$0")/common.bash"

"$CFLINK" run -t local -p 2 "$PLUGINS/tp_fail.so" --mode map --at -1 --unbounded \
    >"$WORK/out" 2>"$WORK/err" &
pid=$!
for _ in $(seq 100); do
    grep -q "Job has been submitted" "$WORK/out" && break
    sleep 0.05
done
sleep 0.5
kill -INT "$pid"
start=$(date +%s%N)
set +e
wait "$pid"
rc=$?
set -e
ms=$(( ($(date +%s%N) - start) / 1000000 ))
expect_eq "exit code after SIGINT" 130 "$rc"
expect_contains "cancellation message" "$WORK/err" "Job was cancelled."
if [ "$ms" -lt 5000 ]; then ok "cancelled in ${ms} ms"; else fail "cancel took ${ms} ms"; fi
finish
