#!/usr/bin/env bash
# The cflink command: help, version, actions and the JSON plan.
source "$(dirname "$0")/common.bash"

run_cf "$WORK/out" "$WORK/err" 10 -v
expect_eq "-v exit code" 0 "$RC"
if grep -qE '^Version: [0-9]+\.[0-9]+\.[0-9]+(, Commit ID: [0-9a-f]+)?$' "$WORK/out"; then
    ok "-v format"
else
    fail "-v format: $(cat "$WORK/out")"
fi
run_cf "$WORK/out" "$WORK/err" 10 -h
expect_eq "-h exit code" 0 "$RC"
expect_contains "-h usage" "$WORK/out" "./cflink <ACTION> [OPTIONS] [ARGUMENTS]"
run_cf "$WORK/out" "$WORK/err" 10
expect_eq "no action exit code" 1 "$RC"
expect_contains "no action message" "$WORK/out" "Please specify an action."
run_cf "$WORK/out" "$WORK/err" 10 frobnicate
expect_eq "bad action exit code" 1 "$RC"
expect_contains "bad action message" "$WORK/err" '"frobnicate" is not a valid action.'

# info: Flink's plan shape and the chaining rule.
plan() { # args... -> prints "vertices|ship strategies|descriptions"
    run_cf "$WORK/out" "$WORK/err" 30 info "$@" >&2
    [ "$RC" -eq 0 ] || { echo "info failed with exit code $RC"; return; }
    sed -n '/^-* Execution Plan -*$/,/^-\{62\}$/p' "$WORK/out" | sed '1d;$d' > "$WORK/plan.json"
    python3 - "$WORK/plan.json" <<'PY'
import json, re, sys
p = json.load(open(sys.argv[1]))
assert set(p) >= {"jid", "name", "type", "nodes"}, p.keys()
assert re.fullmatch(r"[0-9a-f]{32}", p["jid"])
ids = [n["id"] for n in p["nodes"]]
for n in p["nodes"]:
    assert re.fullmatch(r"[0-9a-f]{32}", n["id"])
    assert isinstance(n["parallelism"], int)
    assert n["operator"] == "" and "description" in n
    for i in n.get("inputs", []):
        assert i["id"] in ids and i["exchange"] == "pipelined_bounded"
ships = [i["ship_strategy"] for n in p["nodes"] for i in n.get("inputs", [])]
print("%d|%s|%s" % (len(p["nodes"]), ",".join(ships),
                    " / ".join(n["description"] for n in p["nodes"])))
PY
}
expect_eq "chained pipeline" \
    "1||Source: Sequence Source -&gt; double -&gt; multiple-of-3 -&gt; format -&gt; Sink: Print to Std. Out" \
    "$(plan "$PLUGINS/tp_pipeline.so")"
expect_eq "rebalance splits the chain" \
    "2|REBALANCE|Source: Sequence Source -&gt; double / multiple-of-3 -&gt; format -&gt; Sink: Print to Std. Out" \
    "$(plan "$PLUGINS/tp_pipeline.so" --rebalance)"
expect_eq "chaining disabled" "5|FORWARD,FORWARD,FORWARD,FORWARD" \
    "$(plan "$PLUGINS/tp_pipeline.so" --nochain | cut -d'|' -f1,2)"
expect_eq "key_by is a HASH edge" "2|HASH" \
    "$(plan "$PLUGINS/tp_keyed.so" | cut -d'|' -f1,2)"
finish
