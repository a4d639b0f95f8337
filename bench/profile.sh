#!/usr/bin/env bash
# Profiles the scrape path: the exporter (release build with debug symbols, in its own target
# dir target/profile) holding 10 plugins x M series, sampled by perf (cpu-clock, DWARF call
# graphs) while wrk scrapes it back to back, once for text and once with gzip. Prints the top
# symbols by self time and the exporter's own functions by inclusive time.
#
# Why perf's cpu-clock and not callgrind: this VM has no hardware counters
# (`perf stat -e instructions true` says <not supported>), and under valgrind the exporter
# cannot start plugins (setrlimit/close_range in the spawned child fail with EPERM). The
# in-process parts alone (merge, own metrics, gzip) can be run under callgrind through the
# criterion bench: see BENCHMARKS.md.
#
# usage: bench/profile.sh [SERIES_PER_PLUGIN]   (default 10000, i.e. 100k series)
# env:   PLUGINS (default 10), DURATION (default 10), NO_BUILD, KEEP_WORK, PROF_TARGET (default target/profile)
source "$(dirname "$0")/lib.sh"
m=${1:-10000}
plugins=${PLUGINS:-10}
duration=${DURATION:-10}
ensure_packages
command -v perf >/dev/null || sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -q linux-perf >&2
build
PROF_TARGET=${PROF_TARGET:-$ROOT/target/profile}
if [ -z "${NO_BUILD:-}" ]; then
  log "building plugin-exporter (release + debug symbols) into $PROF_TARGET"
  (cd "$ROOT" && CARGO_PROFILE_RELEASE_DEBUG=true CARGO_TARGET_DIR=$PROF_TARGET cargo build --release -q -p plugin-exporter) >&2
fi
EXPORTER=$PROF_TARGET/release/plugin-exporter
port=$(free_port)
url=http://127.0.0.1:$port/metrics
write_config "$WORK/config.yml" "$plugins" "$m" push 15s
start_exporter "$WORK/config.yml" "$port"
wait_series "$url" $((plugins * m))
sleep 2
set +o pipefail # the reports below end in `head`
for kind in text gzip; do
  hdr=()
  [ "$kind" = gzip ] && hdr=(-H 'Accept-Encoding: gzip')
  data=$WORK/perf-$kind.data
  perf record -q -e cpu-clock -F 499 --call-graph dwarf,32768 -p "$EXPORTER_PID" -o "$data" \
    -- sleep $((duration + 2)) >/dev/null 2>&1 &
  perf_pid=$!
  sleep 1
  wrk -t1 -c1 -d"${duration}s" --latency "${hdr[@]}" "$url" > "$WORK/wrk-$kind.txt"
  wait "$perf_pid" || true
  echo "== $kind scrapes of $((plugins * m)) series: $("$BENCH_DIR/wrkstat.py" "$WORK/wrk-$kind.txt" | awk '{print "p50 " $1 " ms, p99 " $2 " ms, " $3 " req/s"}')"
  echo "-- self time by symbol (share of all exporter samples)"
  perf report -i "$data" --no-children --sort dso,symbol --stdio 2>/dev/null \
    | grep -E '^ +[0-9.]+%' | head -25 | cut -c1-160
  echo "-- inclusive time of the exporter's own functions"
  perf report -i "$data" --children --sort symbol --stdio 2>/dev/null \
    | grep -E '^ +[0-9.]+% +[0-9.]+%' \
    | grep -E 'plugin_exporter::|prometheus::registry::Registry::gather|miniz_oxide::deflate::core::compress_inner|tcp_sendmsg_locked|asm_exc_page_fault|_int_malloc|__x64_sys_openat|__x64_sys_munmap' \
    | grep -vE 'serve::|handle::|respond::|metrics_response::' | head -30 | cut -c1-160
done
if [ -n "${KEEP_WORK:-}" ]; then echo "perf data: $WORK/perf-*.data" >&2; fi
