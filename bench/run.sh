#!/usr/bin/env bash
# The comparison table: plugin-exporter with 10 synthetic plugins of M series each, measured
# in the same run as the peers of bench/compare.sh (nginx serving the same bytes
# from a file, node_exporter's textfile collector), plus gzip.
#
# usage: bench/run.sh [SERIES_PER_PLUGIN...]      (default: 1000 10000, i.e. 10k and 100k)
# env:   REPEAT=N   whole runs, medians reported (default 1)
#        MODE=push|interval   how the plugins deliver (default push)
#        NO_BUILD=1 skip the cargo build;  KEEP_WORK=1 keep logs and raw wrk output
source "$(dirname "$0")/lib.sh"
require_peers
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1000 10000)
repeat=${REPEAT:-1}
mode=${MODE:-push}
plugins=10

ensure_packages
build
results=$WORK/results.tsv
: > "$results"
for run in $(seq "$repeat"); do
  for m in "${sizes[@]}"; do
    want=$((plugins * m))
    port=$(free_port)
    url=http://127.0.0.1:$port/metrics
    write_config "$WORK/config-$m.yml" "$plugins" "$m" "$mode" 15s
    log "run $run/$repeat: $plugins plugins x $m series ($mode), exporter on :$port"
    start_exporter "$WORK/config-$m.yml" "$port"
    wait_series "$url" "$want"
    out=$WORK/compare-$run-$m.txt
    log "running $BENCH_DIR/compare.sh $plugins $m ours=$url"
    "$BENCH_DIR/compare.sh" "$plugins" "$m" "ours=$url" | tee "$out" >&2
    # compare.sh prints: peer series p50 p99 req/s (wrk's own units)
    python3 -c '
import sys
sys.path.insert(0, sys.argv[1])
from wrkstat import ms
out, run, n, m = sys.argv[2:6]
for line in open(out):
    f = line.split()
    if len(f) == 5 and f[0] != "peer":
        print("\t".join(["row", run, n, m, f[0], f[1], str(ms(f[2])), str(ms(f[3])), f[4]]))
' "$BENCH_DIR" "$out" "$run" "$plugins" "$m" >> "$results"
    log "gzip: wrk -t1 -c1 -d10s -H 'Accept-Encoding: gzip' $url"
    enc=$(curl -s -o /dev/null -D - -H 'Accept-Encoding: gzip' "$url" | tr -d '\r' | awk -F': ' 'tolower($1)=="content-encoding"{print $2}')
    [ "$enc" = gzip ] || { echo "the exporter did not answer with gzip (got '$enc')" >&2; exit 1; }
    wrk_run "$WORK/gzip-$run-$m.txt" -t1 -c1 -d10s --timeout 30s --latency -H 'Accept-Encoding: gzip' "$url"
    read -r p50 p99 rps _ _ < <("$BENCH_DIR/wrkstat.py" "$WORK/gzip-$run-$m.txt")
    printf 'row\t%s\t%s\t%s\tours-gzip\t%s\t%s\t%s\t%s\n' "$run" "$plugins" "$m" "$(served "$url")" "$p50" "$p99" "$rps" >> "$results"
    info() { printf 'info\t%s\t%s\t%s\t%s\t%s\n' "$run" "$plugins" "$m" "$1" "$2" >> "$results"; }
    info rss_kb "$(rss_kb "$EXPORTER_PID")"
    info hwm_kb "$(rss_kb "$EXPORTER_PID" VmHWM)"
    info text_bytes "$(curl -s "$url" | wc -c)"
    "$BENCH_DIR/textfile_gen.py" "$WORK/tf" "$plugins" "$m" "$WORK/static.txt"
    info nginx_bytes "$(wc -c < "$WORK/static.txt")"
    rm -rf "$WORK/tf" "$WORK/static.txt"
    info gzip_bytes "$(curl -s -H 'Accept-Encoding: gzip' "$url" | wc -c)"
    stop_exporter
  done
done
echo
python3 "$BENCH_DIR/table.py" "$results" "$mode"
if [ -n "${RESULTS:-}" ]; then cp "$results" "$RESULTS"; fi
