#!/usr/bin/env bash
# The arena from the `wasmtime` CLI: single calls on arena-standalone.wasm (the arena with its
# in-memory storage inside; each `--invoke` is a fresh instance), then the composed test driver's
# multi-step scenario. Run from the repository root after `cargo test` has built the components.
set -euo pipefail
wasmtime=${WASMTIME:-wasmtime}
dir=target/wasm-guests/wasm32-wasip2/wasm-release
standalone=$dir/arena-standalone.wasm
driver=$dir/test-driver-standalone.wasm
passed=0
failed=0

# expect NAME REGEX ARGS...: runs `wasmtime run ARGS...` and matches its output against REGEX.
expect() {
  local name=$1 pattern=$2
  shift 2
  local out
  out=$("$wasmtime" run "$@" 2>&1) || true
  if grep -qE "$pattern" <<<"$out"; then
    passed=$((passed + 1))
    echo "ok   $name"
  else
    failed=$((failed + 1))
    echo "FAIL $name: $out"
  fi
}

expect "create prints the new arena's id" '^ok\("[0-9a-f-]{36}"\)$' \
  --invoke 'create({goal: "from the CLI", total-steps: 3, strategy: peer("lead"), participants: [{agent: "lead", role: coordinator, permissions: none}], created-by: "cli"})' \
  "$standalone"
expect "a create without a coordinator is refused" '^err\(invalid-input\(' \
  --invoke 'create({goal: "g", total-steps: 3, strategy: peer("lead"), participants: [{agent: "w", role: worker, permissions: none}], created-by: "cli"})' \
  "$standalone"
expect "a pipeline whose stages form a cycle is refused" '^err\(invalid-input\(".*cycle: lead → lead' \
  --invoke 'create({goal: "g", total-steps: 1, strategy: pipeline({coordinator: "lead", stages: [{agent: "lead", steps: [{first: 1, last: 1}], depends-on: ["lead"]}]}), participants: [{agent: "lead", role: coordinator, permissions: none}], created-by: "cli"})' \
  "$standalone"
expect "an unknown arena is not found" '^err\(not-found\)$' \
  --invoke 'get("01934b5e-0000-7000-8000-000000000000")' "$standalone"
expect "a fresh instance lists no arenas" '^ok\(\[\]\)$' --invoke 'list-arenas(none, 10)' "$standalone"
expect "the composed test driver's scenario passes" '^14 passed, 0 failed$' "$driver"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
