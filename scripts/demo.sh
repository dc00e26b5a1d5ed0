#!/usr/bin/env bash
# Runs the gateway on its embedded default configuration with the example
# services (greeter, and the chain orders -> inventory -> pricing) on a static
# registry, all on loopback. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=bin
mkdir -p "$bin"
echo "building..." >&2
go build -o "$bin/" ./cmd/gateway ./examples/greeter ./examples/orders ./examples/inventory ./examples/pricing

pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT INT TERM

mkdir -p "$bin/logs"
"$bin/greeter"   -listen 127.0.0.1:9101                                    2>"$bin/logs/greeter.log"   & pids+=($!)
"$bin/orders"    -listen 127.0.0.1:9102 -peers inventory=127.0.0.1:9103   2>"$bin/logs/orders.log"    & pids+=($!)
"$bin/inventory" -listen 127.0.0.1:9103 -peers pricing=127.0.0.1:9104     2>"$bin/logs/inventory.log" & pids+=($!)
"$bin/pricing"   -listen 127.0.0.1:9104                                    2>"$bin/logs/pricing.log"   & pids+=($!)
"$bin/gateway" >"$bin/logs/gateway.log" 2>&1 & pids+=($!)

# Wait, bounded, until every process accepts connections (bash's /dev/tcp:
# no curl needed).
up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for port in 9101 9102 9103 9104 8080 9901; do
  for _ in $(seq 1 100); do up "$port" && break; sleep 0.1; done
  up "$port" || { echo "nothing listens on 127.0.0.1:$port; see $bin/logs/" >&2; exit 1; }
done

cat <<'TXT'
Sluice is serving on http://127.0.0.1:8080 (logs in bin/logs/). Try:

  # RPC through the gateway: GET /greet/{name} calls Greeter.Hello
  curl -s http://127.0.0.1:8080/greet/Ada

  # The chain orders -> inventory -> pricing: each hop reports the budget it received
  curl -s http://127.0.0.1:8080/orders/widget

  # Ask for a smaller budget (here 200ms) and make pricing slow: 504 after ~200ms
  curl -s -H 'Sluice-Budget: ms=200' 'http://127.0.0.1:8080/orders/widget?slow=1s'

  # Ask for more than the route's max (5s): the budget is clamped to it
  curl -s -H 'Sluice-Budget: ms=60000' http://127.0.0.1:8080/orders/widget

  # Below the route's min (50ms): refused at once with 504, no backend is called
  curl -s -H 'Sluice-Budget: ms=10' http://127.0.0.1:8080/orders/widget

  # Plain HTTP pass-through with a prefix rewrite
  curl -s http://127.0.0.1:8080/greeter/hello/Ada

  # A backend called directly, under the RPC convention
  curl -s -H 'Content-Type: application/json' -d '{"name":"Ada"}' http://127.0.0.1:9101/rpc/Greeter.Hello

  # Metrics
  curl -s http://127.0.0.1:9901/metrics | grep sluice_

Press Ctrl-C to stop.
TXT
wait
