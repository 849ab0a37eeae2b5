#!/usr/bin/env bash
# How much machine code a warm gateway runs to proxy one chat completion: the distinct 64-byte
# lines and 4 KiB pages of code executed (valgrind's callgrind, every thread of the process),
# with the instructions. A request that finds its code out of the caches (c=1, a stream paced
# like a model's tokens) pays for each line and page it touches, so this is the figure behind
# the c=1 rows of `cargo bench --bench load`: instruction counts say how much runs, this says
# over how much code it is spread.
#
#   benches/code-footprint.sh [--bare] [BINARY...]
#
# BINARY defaults to target/release/sluice, and target/pgo/release/sluice when deploy/pgo-build
# has made it. --bare also measures the load bench's bare Pingora proxy (building the bench).
# Each gateway serves one OpenAI passthrough (a key check, logs off) in front of `sluice mock`;
# 20 requests warm it up, then the counts are reset and one request is counted.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
need_packages valgrind:valgrind curl:curl python3:python3

bare=false
if [ "${1:-}" = "--bare" ]; then
    bare=true
    shift
fi
binaries=("$@")
if [ ${#binaries[@]} -eq 0 ]; then
    binaries=(target/release/sluice)
    [ -x target/pgo/release/sluice ] && binaries+=(target/pgo/release/sluice)
fi
for bin in "${binaries[@]}"; do
    [ -x "$bin" ] || {
        echo "benches/code-footprint.sh: no $bin (cargo build --release)" >&2
        exit 1
    }
done

work=$(mktemp -d)
pids=()
cleanup() {
    kill -9 "${pids[@]}" 2>/dev/null || true
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

mock_port=$(free_port)
"${binaries[0]}" mock --kind openai --listen "127.0.0.1:$mock_port" --threads 1 >/dev/null 2>&1 &
pids+=($!)
body='{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hello in five words."}]}'

chat() {
    curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/v1/chat/completions" \
        -H "Authorization: Bearer sk-footprint" -H "content-type: application/json" -d "$body"
}

# The distinct lines and pages of the addresses in a callgrind dump made with --dump-instr.
count() {
    python3 - "$1" <<'EOF'
import sys
addresses, instructions, addr = set(), 0, 0
for line in open(sys.argv[1]):
    if line.startswith("summary:"):
        instructions = int(line.split()[1])
    if not line or line[0] not in "0123456789+-*":
        continue
    pos = line.split()[0]
    if pos.startswith("0x"):
        addr = int(pos, 16)
    elif pos[0] in "+-":
        addr += int(pos)
    elif pos != "*":
        continue
    addresses.add(addr >> 6)
print(f"{len(addresses):6d} lines ({len(addresses) * 64 // 1024:4d} KiB)  "
      f"{len({a >> 6 for a in addresses}):5d} pages  {instructions:8d} instructions")
EOF
}

# Runs COMMAND... (listening on PORT) under callgrind and prints the footprint of one request.
measure() {
    local name=$1 port=$2
    shift 2
    local out="$work/$port.callgrind"
    valgrind --tool=callgrind --dump-instr=yes --callgrind-out-file="$out" "$@" \
        >"$work/$port.log" 2>&1 &
    local pid=$!
    pids+=("$pid")
    # valgrind starts a gateway slowly: up to a minute.
    wait_http "http://127.0.0.1:$port/" 600 || {
        echo "benches/code-footprint.sh: $name did not start listening on $port" >&2
        exit 1
    }
    for _ in $(seq 1 20); do
        [ "$(chat "$port")" = 200 ] || {
            echo "benches/code-footprint.sh: $name did not answer 200" >&2
            exit 1
        }
    done
    callgrind_control -z "$pid" >/dev/null 2>&1
    chat "$port" >/dev/null
    callgrind_control -d "$pid" >/dev/null 2>&1
    for _ in $(seq 1 100); do
        [ -s "$out.1" ] && break
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    printf '%-34s %s\n' "$name" "$(count "$out.1")"
}

for bin in "${binaries[@]}"; do
    port=$(free_port)
    cat >"$work/sluice.yaml" <<EOF
listen: 127.0.0.1:$port
server: {threads: 1, pid_file: $work/sluice.pid, upgrade_sock: $work/sluice.sock}
providers:
  openai: {kind: openai, endpoints: [{url: "http://127.0.0.1:$mock_port"}], api_keys: [sk-upstream]}
models:
  - {name: gpt-4o-mini, targets: [{provider: openai, model: gpt-4o-mini}]}
keys:
  - {name: footprint, key: sk-footprint}
state: {path: $work/state-$port}
EOF
    RUST_LOG=error measure "$bin" "$port" "$bin" serve -c "$work/sluice.yaml"
done

if $bare; then
    bench=$(cargo bench --bench load --no-run --message-format=json 2>/dev/null |
        python3 -c 'import sys, json
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "load" and m.get("executable"):
        print(m["executable"])')
    port=$(free_port)
    SLUICE_BENCH_BARE="127.0.0.1:$port,127.0.0.1:$mock_port" RUST_LOG=error \
        measure "bare Pingora (benches/load.rs)" "$port" "$bench"
fi
