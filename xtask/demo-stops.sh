#!/usr/bin/env bash
# Checks that `cargo xtask demo`, started in the background and stopped with SIGTERM, leaves no
# process and no port behind. Run from the repository root: bash xtask/demo-stops.sh
set -euo pipefail
ports=(8545 8546 4010 4020 8080)
listening() { ss -ltn | awk '{print $4}' | grep -E ":($(IFS='|'; echo "${ports[*]}"))$" || true; }
[ -z "$(listening)" ] || { echo "a demo port is already in use:"; listening; exit 1; }

log=$(mktemp)
cargo xtask demo >"$log" 2>&1 &
pid=$!
for _ in $(seq 1200); do
  grep -q "Ctrl-C stops everything" "$log" && break
  kill -0 "$pid" 2>/dev/null || { echo "the demo stopped while starting:"; tail -20 "$log"; exit 1; }
  sleep 1
done
grep -q "Ctrl-C stops everything" "$log" || { echo "the demo did not start in 20 minutes"; exit 1; }
echo "demo up (pid $pid); listening: $(listening | tr '\n' ' ')"

kill -TERM "$pid"
for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
sleep 1
left=$(pgrep -fa "anvil --port 854[56]|blockatm-sandbox|checkout-server serve|trunk serve" || true)
if [ -n "$(listening)" ] || [ -n "$left" ] || kill -0 "$pid" 2>/dev/null; then
  echo "left behind after SIGTERM:"; listening; echo "$left"; exit 1
fi
echo "demo stopped by SIGTERM: no process, no port left"
