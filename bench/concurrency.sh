#!/usr/bin/env bash
# 64 concurrent scrapers for 30 s against 100,000 series (10 plugins x 10,000, push mode):
# no error allowed, p99 reported; nginx serving the same bytes under the same load beside it.
#
# usage: bench/concurrency.sh [PLUGINS [SERIES_PER_PLUGIN]]   (default 10 10000)
# env:   CONNECTIONS (64), THREADS (2), DURATION (30), REPEAT (1), NO_BUILD, KEEP_WORK
source "$(dirname "$0")/lib.sh"
require_peers
plugins=${1:-10}
m=${2:-10000}
conns=${CONNECTIONS:-64}
threads=${THREADS:-2}
duration=${DURATION:-30}
repeat=${REPEAT:-1}
ensure_packages
build
"$BENCH_DIR/textfile_gen.py" "$WORK/textfile" "$plugins" "$m" "$WORK/static.txt"
nginx_port=$(free_port)
_pids+=("$("$BENCH_DIR/nginx_static.sh" "$WORK/static.txt" "$nginx_port" "$WORK/nginx")")
port=$(free_port)
url=http://127.0.0.1:$port/metrics
write_config "$WORK/config.yml" "$plugins" "$m" push 15s
start_exporter "$WORK/config.yml" "$port"
wait_series "$url" $((plugins * m))
res=$WORK/res.txt
: > "$res"
for run in $(seq "$repeat"); do
  for target in nginx ours ours-gzip; do
    case $target in
      nginx) args=("http://127.0.0.1:$nginx_port/metrics") ;;
      ours) args=("$url") ;;
      ours-gzip) args=(-H 'Accept-Encoding: gzip' "$url") ;;
    esac
    log "run $run: $target: wrk -t$threads -c$conns -d${duration}s --latency"
    wrk_run "$WORK/w-$run-$target.txt" -t"$threads" -c"$conns" -d"${duration}s" --timeout 30s --latency "${args[@]}"
    echo "$target $("$BENCH_DIR/wrkstat.py" "$WORK/w-$run-$target.txt")" >> "$res"
  done
done
hwm=$(rss_kb "$EXPORTER_PID" VmHWM)
python3 - "$res" "$conns" "$threads" "$duration" "$((plugins * m))" "$hwm" <<'PY'
import statistics, sys
res, conns, threads, dur, total, hwm = sys.argv[1:]
rows = {}
for line in open(res):
    f = line.split()
    rows.setdefault(f[0], []).append([float(x) for x in f[1:]])
print(f"concurrency: wrk -t{threads} -c{conns} -d{dur}s against {int(total):,} series; medians of {len(rows['ours'])} run(s)")
print(f"{'target':<10} {'p50 ms':>9} {'p99 ms':>9} {'req/s':>9} {'requests':>9} {'errors':>7}")
for k in ["nginx", "ours", "ours-gzip"]:
    r = rows[k]
    med = lambda i: statistics.median(x[i] for x in r)
    print(f"{k:<10} {med(0):>9.1f} {med(1):>9.1f} {med(2):>9.1f} {int(med(3)):>9} {int(max(x[4] for x in r)):>7}")
errs = max(x[4] for x in rows["ours"] + rows["ours-gzip"])
print(f"exporter peak RSS: {int(hwm)/1024:.0f} MiB")
print(f"{'MET   ' if errs == 0 else 'MISSED'} no error under {conns} concurrent scrapers (errors: {int(errs)})")
PY
