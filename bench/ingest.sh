#!/usr/bin/env bash
# Ingest end to end: the exporter's CPU seconds per million samples when plugins push big
# batches back to back (target: at most 1 CPU-second per million: JSON-lines parse,
# validation and rendering to both formats, plus reading the pipes).
#
# usage: bench/ingest.sh [PLUGINS [SERIES_PER_PLUGIN [PUSHES]]]   (default 10 10000 20: 2M samples)
# env:   REPEAT=N (default 1), NO_BUILD, KEEP_WORK
source "$(dirname "$0")/lib.sh"
plugins=${1:-10}
m=${2:-10000}
pushes=${3:-20}
repeat=${REPEAT:-1}
ensure_packages
build
res=$WORK/res.txt
: > "$res"
for run in $(seq "$repeat"); do
  rm -f "$WORK"/go "$WORK"/done-*
  port=$(free_port)
  write_config "$WORK/config.yml" "$plugins" "$m" push 15s \
    --pushes "$pushes" --vary --wait-file "$WORK/go" --done-file "$WORK/done-@P@"
  # back to back: --every 0 instead of the interval
  sed -i 's/"--every", "15"/"--every", "0"/' "$WORK/config.yml"
  start_exporter "$WORK/config.yml" "$port"
  for _ in $(seq 100); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/-/ready")" = 200 ] && break
    sleep 0.2
  done
  sleep 2
  b0=$(cpu_s "$EXPORTER_PID"); sleep 3; b1=$(cpu_s "$EXPORTER_PID")
  c0=$(cpu_s "$EXPORTER_PID"); t0=$(date +%s.%N)
  touch "$WORK/go"
  while [ "$(ls "$WORK"/done-* 2>/dev/null | wc -l)" -lt "$plugins" ]; do sleep 0.05; done
  # the last lines may still sit in the pipes: wait until the exporter's CPU time stops moving
  prev=$(cpu_s "$EXPORTER_PID")
  while sleep 0.3; do
    now=$(cpu_s "$EXPORTER_PID")
    python3 -c "import sys; sys.exit(0 if $now - $prev < 0.02 else 1)" && break
    prev=$now
  done
  c1=$(cpu_s "$EXPORTER_PID"); t1=$(date +%s.%N)
  served_n=$(served "http://127.0.0.1:$port/metrics")
  echo "$c0 $c1 $t0 $t1 $b0 $b1 $served_n" >> "$res"
  log "run $run: $(tail -1 "$res")"
  stop_exporter
done
python3 - "$res" "$plugins" "$m" "$pushes" <<'PY'
import statistics, sys
res, n, m, k = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
samples = n * m * k
per_m, idle, rates = [], [], []
for line in open(res):
    c0, c1, t0, t1, b0, b1, served = map(float, line.split())
    per_m.append((c1 - c0) / (samples / 1e6))
    idle.append((b1 - b0) / 3)
    rates.append(samples / (t1 - t0))
print(f"ingest: {n} plugins x {m:,} series x {k} pushes back to back = {samples:,} samples; "
      f"median of {len(per_m)} run(s)")
med = statistics.median(per_m)
print(f"exporter CPU per million samples: {med:.3f} s (runs: {', '.join(f'{x:.3f}' for x in per_m)}); "
      f"idle CPU before: {statistics.median(idle)*100:.2f}% of a core")
print(f"wall-clock ingest rate: {statistics.median(rates)/1e6:.2f} M samples/s (plugins serialize on the same 2 cores)")
print(f"{'MET   ' if med <= 1.0 else 'MISSED'} at most 1 CPU-second per million samples (end to end): {med:.3f}")
PY
