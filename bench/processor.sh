#!/usr/bin/env bash
# The round trip through a processor: PLUGINS push plugins of SERIES series each push PUSHES
# batches back to back, once straight into the exporter and once through a processor (the
# example rollup-processor, grouping by every series' own label so it keeps every series:
# the whole batch is written to it, parsed, rebuilt and read back). Reports CPU per million
# samples of the exporter, and of the processor, and the wall-clock time per batch.
#
# usage: bench/processor.sh [PLUGINS [SERIES [PUSHES]]]   (default 10 10000 10)
# env:   NO_BUILD, KEEP_WORK
source "$(dirname "$0")/lib.sh"
plugins=${1:-10}
m=${2:-10000}
pushes=${3:-10}
ROLLUP=$TARGET_DIR/release/rollup-processor
if [ -z "${NO_BUILD:-}" ]; then
  build
  (cd "$ROOT" && cargo build --release -q -p plugin-exporter-sysinfo --bin rollup-processor) >&2
fi
[ -x "$ROLLUP" ] || { echo "missing $ROLLUP" >&2; exit 1; }

# run NAME WITH_PROCESSOR: one ingest run; prints "exporter_cpu processor_cpu seconds".
run() {
  local with=$1 port cfg="$WORK/config-$1.yml"
  rm -f "$WORK"/go "$WORK"/done-*
  write_config "$cfg" "$plugins" "$m" push 15s \
    --pushes "$pushes" --vary --wait-file "$WORK/go" --done-file "$WORK/done-@P@"
  sed -i 's/"--every", "15"/"--every", "0"/' "$cfg"
  if [ "$with" = yes ]; then
    sed -i 's/^    mode: push$/    mode: push\n    processors: [rollup]/' "$cfg"
    {
      echo "  - name: rollup"
      echo "    role: processor"
      echo "    command: [\"$ROLLUP\"]"
      echo "    timeout: 30s"
      echo "    config: {by: [series]}"
    } >> "$cfg"
  fi
  port=$(free_port)
  start_exporter "$cfg" "$port"
  for _ in $(seq 100); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/-/ready")" = 200 ] && break
    sleep 0.2
  done
  sleep 2
  local proc_pid="" p0=0 p1=0
  if [ "$with" = yes ]; then
    proc_pid=$(pgrep -f "^$ROLLUP" | head -1)
    p0=$(cpu_s "$proc_pid")
  fi
  local c0 c1 t0 t1 prev now
  c0=$(cpu_s "$EXPORTER_PID"); t0=$(date +%s.%N)
  touch "$WORK/go"
  while [ "$(ls "$WORK"/done-* 2>/dev/null | wc -l)" -lt "$plugins" ]; do sleep 0.05; done
  prev=$(cpu_s "$EXPORTER_PID")
  while sleep 0.3; do
    now=$(cpu_s "$EXPORTER_PID")
    python3 -c "import sys; sys.exit(0 if $now - $prev < 0.02 else 1)" && break
    prev=$now
  done
  c1=$(cpu_s "$EXPORTER_PID"); t1=$(date +%s.%N)
  [ -n "$proc_pid" ] && p1=$(cpu_s "$proc_pid")
  local served_n
  served_n=$(served "http://127.0.0.1:$port/metrics")
  stop_exporter
  echo "$(python3 -c "print($c1 - $c0, $p1 - $p0, $t1 - $t0)") $served_n"
}

log "without a processor"
read -r e0 _ w0 s0 < <(run no)
log "through the rollup processor"
read -r e1 p1 w1 s1 < <(run yes)
python3 - "$plugins" "$m" "$pushes" "$e0" "$w0" "$s0" "$e1" "$p1" "$w1" "$s1" <<'PY'
import sys
n, m, k = map(int, sys.argv[1:4])
e0, w0, s0, e1, p1, w1, s1 = map(float, sys.argv[4:])
mil = n * m * k / 1e6
batches = n * k
print(f"processor round trip: {n} plugins x {m:,} series x {k} pushes = {mil:.1f} M samples")
print(f"without: exporter {e0 / mil:.3f} CPU-s per million, {w0 / batches * 1000:.1f} ms per batch wall, {s0:.0f} served")
print(f"through: exporter {e1 / mil:.3f} CPU-s per million, processor {p1 / mil:.3f} CPU-s per million, "
      f"{w1 / batches * 1000:.1f} ms per batch wall, {s1:.0f} served")
print(f"the round trip adds {(e1 - e0) / mil:.3f} CPU-s per million in the exporter "
      f"({e1 / max(e0, 1e-9):.2f}x) and {(w1 - w0) / batches * 1000:.1f} ms per batch")
PY
