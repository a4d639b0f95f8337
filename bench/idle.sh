#!/usr/bin/env bash
# Overhead: 50 plugins collected every 15 s (interval mode, 10 series each). Exporter RSS
# after settling (target under 30 MB), and the exporter's CPU over 60 s (target under 0.5% of
# one core), once without scrapes and once scraped every 15 s, as Prometheus would.
#
# usage: bench/idle.sh [PLUGINS [SERIES_PER_PLUGIN]]   (default 50 10)
# env:   MODE=interval|push (default interval), SETTLE=seconds (default 30), WINDOW=seconds (60)
source "$(dirname "$0")/lib.sh"
plugins=${1:-50}
m=${2:-10}
mode=${MODE:-interval}
settle=${SETTLE:-30}
window=${WINDOW:-60}
ensure_packages
build
port=$(free_port)
url=http://127.0.0.1:$port/metrics
write_config "$WORK/config.yml" "$plugins" "$m" "$mode" 15s
log "$plugins plugins x $m series ($mode, 15s), exporter on :$port; settling ${settle}s"
start_exporter "$WORK/config.yml" "$port"
wait_series "$url" $((plugins * m))
sleep "$settle"
rss=$(rss_kb "$EXPORTER_PID")
window_cpu() { # window_cpu SCRAPE(0|1): CPU seconds of the exporter over $window s
  local c0 c1 t
  c0=$(cpu_s "$EXPORTER_PID")
  if [ "$1" = 1 ]; then
    for t in $(seq 0 15 $((window - 1))); do curl -s -o /dev/null "$url"; sleep 15; done
    sleep $((window % 15))
  else
    sleep "$window"
  fi
  c1=$(cpu_s "$EXPORTER_PID")
  python3 -c "print(f'{($c1 - $c0):.3f}')"
}
log "CPU over ${window}s, no scrapes"
quiet=$(window_cpu 0)
log "CPU over ${window}s, a scrape every 15s"
scraped=$(window_cpu 1)
rss_end=$(rss_kb "$EXPORTER_PID")
hwm=$(rss_kb "$EXPORTER_PID" VmHWM)
threads=$(awk '$1=="Threads:"{print $2}' "/proc/$EXPORTER_PID/status")
plugin_rss=$(for p in $(pgrep -P "$EXPORTER_PID" 2>/dev/null); do rss_kb "$p" 2>/dev/null; done | awk '{s+=$1} END {print s+0}')
python3 - "$plugins" "$m" "$mode" "$rss" "$rss_end" "$hwm" "$quiet" "$scraped" "$window" "$threads" "$plugin_rss" <<'PY'
import sys
n, m, mode, rss, rss_end, hwm, quiet, scraped, window, threads, prss = sys.argv[1:]
w = float(window)
print(f"idle overhead: {n} plugins x {m} series ({mode}, 15 s), exporter {threads} threads")
print(f"exporter RSS after settling: {int(rss)/1024:.1f} MiB ({int(rss)*1024/1e6:.1f} MB); "
      f"at the end {int(rss_end)/1024:.1f} MiB, peak {int(hwm)/1024:.1f} MiB")
print(f"plugins' RSS, all {n}: {int(prss)/1024:.1f} MiB")
for what, c in [("no scrapes", quiet), ("a scrape every 15 s", scraped)]:
    print(f"exporter CPU over {w:.0f} s, {what}: {float(c):.2f} s = {100*float(c)/w:.3f}% of a core")
ok_rss = int(rss) * 1024 < 30e6
ok_cpu = 100 * float(scraped) / w < 0.5
print(f"{'MET   ' if ok_rss else 'MISSED'} RSS under 30 MB: {int(rss)*1024/1e6:.1f} MB")
print(f"{'MET   ' if ok_cpu else 'MISSED'} CPU under 0.5% of a core (scraped every 15 s): {100*float(scraped)/w:.3f}%")
PY
