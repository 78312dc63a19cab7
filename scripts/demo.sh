#!/bin/sh
# demo.sh - `make demo`: run the example daemon under libgmr, ask it for a
# Guru Meditation Report with SIGUSR2, print the report, stop the daemon.
set -eu
build=${BUILD:-build}
lib=$(cd "$build" && pwd)/libgmr.so
dir=$(mktemp -d /tmp/gmr-demo.XXXXXX)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT

GMR_LOG_DIR="$dir" LD_PRELOAD="$lib" "$build/examples/demo" --lifetime 30 >"$dir/.out" &
pid=$!
for _ in $(seq 100); do grep -q ready "$dir/.out" 2>/dev/null && break; sleep 0.05; done
sleep 0.3 # let the workers park

echo "\$ LD_PRELOAD=$lib GMR_LOG_DIR=$dir $build/examples/demo &"
echo "\$ kill -USR2 $pid"
kill -USR2 "$pid"
for _ in $(seq 200); do
    report=$(ls "$dir"/demo_gurumeditation_* 2>/dev/null | head -n 1)
    [ -n "$report" ] && break
    sleep 0.05
done
[ -n "$report" ] || { echo "demo: no report appeared" >&2; exit 1; }
echo "\$ cat $report"
cat "$report"
kill -0 "$pid" && echo "(the daemon is still running; stopping it)"
