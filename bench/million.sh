#!/usr/bin/env bash
# 1,000,000 series from 100 plugins (push mode, 10,000 series each): served?, scrape latency
# beside nginx serving the same bytes from a file, exporter RSS against the size of the
# rendered exposition (target: RSS under 3x the body).
#
# usage: bench/million.sh [PLUGINS [SERIES_PER_PLUGIN]]   (default 100 10000)
# env:   REPEAT=N (default 1), DURATION=seconds of wrk per run (default 30), NO_BUILD, KEEP_WORK
source "$(dirname "$0")/lib.sh"
require_peers
plugins=${1:-100}
m=${2:-10000}
repeat=${REPEAT:-1}
duration=${DURATION:-30}
want=$((plugins * m))
ensure_packages
build

# The physical limit: the same series, already rendered, served from a file by nginx.
"$BENCH_DIR/textfile_gen.py" "$WORK/textfile" "$plugins" "$m" "$WORK/static.txt"
nginx_port=$(free_port)
nginx_pid=$("$BENCH_DIR/nginx_static.sh" "$WORK/static.txt" "$nginx_port" "$WORK/nginx")
_pids+=("$nginx_pid")
nginx_url=http://127.0.0.1:$nginx_port/metrics
rm -rf "$WORK/textfile"

port=$(free_port)
url=http://127.0.0.1:$port/metrics
write_config "$WORK/config.yml" "$plugins" "$m" push 15s
log "$plugins plugins x $m series, exporter on :$port"
t0=$(date +%s.%N)
start_exporter "$WORK/config.yml" "$port"
wait_series "$url" "$want" 300
t1=$(date +%s.%N)
served_n=$(served "$url")
curl -s "$url" > "$WORK/body.txt"
body=$(wc -c < "$WORK/body.txt")
om=$(curl -s -H 'Accept: application/openmetrics-text;version=1.0.0' "$url" | wc -c)
nginx_bytes=$(wc -c < "$WORK/static.txt")
rss_before=$(rss_kb "$EXPORTER_PID")
res=$WORK/res.txt
: > "$res"
for run in $(seq "$repeat"); do
  for target in nginx ours ours-gzip; do
    case $target in
      nginx) wrk_run "$WORK/w.txt" -t1 -c1 -d"${duration}s" --timeout 60s --latency "$nginx_url" ;;
      ours) wrk_run "$WORK/w.txt" -t1 -c1 -d"${duration}s" --timeout 60s --latency "$url" ;;
      ours-gzip) wrk_run "$WORK/w.txt" -t1 -c1 -d"${duration}s" --timeout 60s --latency -H 'Accept-Encoding: gzip' "$url" ;;
    esac
    echo "$target $("$BENCH_DIR/wrkstat.py" "$WORK/w.txt")" >> "$res"
    log "$target: $(tail -1 "$res")"
  done
done
rss_after=$(rss_kb "$EXPORTER_PID")
hwm=$(rss_kb "$EXPORTER_PID" VmHWM)
python3 - "$res" "$plugins" "$m" "$served_n" "$body" "$om" "$nginx_bytes" "$rss_before" "$rss_after" "$hwm" "$t0" "$t1" "$duration" <<'PY'
import statistics, sys
res, n, m, served, body, om, nb, rss0, rss1, hwm, t0, t1, dur = sys.argv[1:]
rows = {}
for line in open(res):
    f = line.split()
    rows.setdefault(f[0], []).append([float(x) for x in f[1:]])
med = lambda k, i: statistics.median(r[i] for r in rows[k])
body, om, nb = int(body), int(om), int(nb)
print(f"1M-series run: {int(n)} plugins x {int(m):,} series (push), wrk -t1 -c1 -d{dur}s, medians of {len(rows['ours'])} run(s)")
print(f"{'target':<12} {'p50 ms':>9} {'p99 ms':>9} {'req/s':>8} {'errors':>7} {'p50/nginx':>10}")
base = med("nginx", 0)
for k in ["nginx", "ours", "ours-gzip"]:
    print(f"{k:<12} {med(k,0):>9.1f} {med(k,1):>9.1f} {med(k,2):>8.2f} {int(med(k,4)):>7} {med(k,0)/base:>9.2f}x")
print(f"served: {int(served):,} of {int(n)*int(m):,} series; all served {float(t1)-float(t0):.1f} s after start")
print(f"exposition: text {body/1e6:.1f} MB (nginx file {nb/1e6:.1f} MB), OpenMetrics {om/1e6:.1f} MB")
for what, kb in [("after ingest", rss0), ("after the scrapes", rss1), ("peak (VmHWM)", hwm)]:
    r = int(kb) * 1024
    print(f"exporter RSS {what}: {r/2**20:.0f} MiB = {r/body:.2f}x the text exposition")
ok = int(hwm) * 1024 < 3 * body
print(f"{'MET   ' if ok else 'MISSED'} peak RSS under 3x the rendered exposition: {int(hwm)*1024/body:.2f}x")
PY
