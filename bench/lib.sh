# Shared by the bench/ scripts (sourced, not run). Installs what is missing, builds the
# exporter and the synthetic plugin, writes configurations, starts and measures the exporter.
# Nothing here runs in scripts/test.

set -euo pipefail
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
# The peers (nginx serving the same bytes, node_exporter's textfile collector) are started by
# compare.sh, nginx_static.sh and textfile_gen.py beside this file.
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
EXPORTER=$TARGET_DIR/release/plugin-exporter
SYNTH=$TARGET_DIR/release/synth-plugin
CLK_TCK=$(getconf CLK_TCK)

_pids=()
WORK=$(mktemp -d "${TMPDIR:-/tmp}/plugin-exporter-bench.XXXXXX")
chmod 755 "$WORK"
_cleanup() {
  local p
  for p in "${_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${_pids[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ -n "${KEEP_WORK:-}" ]; then echo "work directory kept: $WORK" >&2; else rm -rf "$WORK"; fi
}
trap _cleanup EXIT

log() { echo "[bench $(date +%T)] $*" >&2; }

# The peers are part of bench/: nothing to check beyond the packages ensure_packages installs.
require_peers() { :; }
sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

# Debian packages for the peers and the load generator, installed when missing.
ensure_packages() {
  local missing=()
  command -v wrk >/dev/null || missing+=(wrk)
  command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
  command -v collectd >/dev/null || [ -x /usr/sbin/collectd ] || missing+=(collectd-core libprotobuf-c1 libmicrohttpd12)
  command -v prometheus-node-exporter >/dev/null || missing+=(prometheus-node-exporter)
  command -v curl >/dev/null || missing+=(curl)
  command -v python3 >/dev/null || missing+=(python3)
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing Debian packages: ${missing[*]}"
    sudo_if_needed apt-get update -q >&2
    sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
  fi
  export PATH="$PATH:/usr/sbin:/sbin"
}

build() {
  if [ -z "${NO_BUILD:-}" ]; then
    log "building (release): plugin-exporter, synth-plugin"
    (cd "$ROOT" && cargo build --release -q -p plugin-exporter -p plugin-exporter-bench-synth) >&2
  fi
  [ -x "$EXPORTER" ] && [ -x "$SYNTH" ] || { echo "missing $EXPORTER or $SYNTH" >&2; exit 1; }
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# write_config FILE PLUGINS SERIES MODE INTERVAL [EXTRA_SYNTH_ARGS...]
#   MODE push: the plugin pushes once, then every INTERVAL; interval: collected every INTERVAL.
write_config() {
  local file=$1 n=$2 m=$3 mode=$4 interval=$5; shift 5
  local synth_mode=push
  [ "$mode" = push ] || synth_mode=collect
  {
    echo "global:"
    echo "  interval: $interval"
    echo "  timeout: 10s"
    echo "  plugin_label: plugin"
    echo "  allow_root: true"
    echo "  limits:"
    echo "    max_series: $((m > 10000 ? m : 10000))"
    echo "plugins:"
    local p
    for p in $(seq 0 $((n - 1))); do
      local args="\"--series\", \"$m\", \"--mode\", \"$synth_mode\", \"--every\", \"${interval%s}\""
      local a
      for a in "$@"; do args="$args, \"${a//@P@/p$p}\""; done
      echo "  - name: p$p"
      echo "    command: [\"$SYNTH\", $args]"
      echo "    mode: $mode"
    done
  } > "$file"
}

# start_exporter CONFIG PORT: starts it in the background; sets EXPORTER_PID.
start_exporter() {
  local cfg=$1 port=$2
  "$EXPORTER" --config.file "$cfg" --web.listen-address "127.0.0.1:$port" --log.level warn \
    > "$WORK/exporter-$port.log" 2>&1 &
  EXPORTER_PID=$!
  _pids+=("$EXPORTER_PID")
}

stop_exporter() {
  kill "$EXPORTER_PID" 2>/dev/null || true
  wait "$EXPORTER_PID" 2>/dev/null || true
}

# served URL: number of bench_series_value* sample lines a scrape returns.
served() { curl -s --max-time 120 "$1" | grep -c '^bench_series_value' || true; }

# wait_series URL WANT [SECONDS]: waits until a scrape serves WANT series; fails after SECONDS.
wait_series() {
  local url=$1 want=$2 limit=${3:-120} got=0 i
  for i in $(seq "$limit"); do
    got=$(served "$url")
    [ "$got" -ge "$want" ] && return 0
    sleep 1
  done
  echo "only $got of $want series served at $url after ${limit}s; log:" >&2
  tail -20 "$WORK"/exporter-*.log >&2 || true
  return 1
}

# Resident memory in kB: rss PID [VmRSS|VmHWM]
rss_kb() { awk -v k="${2:-VmRSS}:" '$1==k{print $2}' "/proc/$1/status"; }
# CPU seconds (user + system) of a process, all its threads, not its children.
cpu_s() { awk -v t="$CLK_TCK" '{print ($14+$15)/t}' "/proc/$1/stat"; }

# wrk_run OUTFILE ARGS...: runs wrk, keeps its output.
wrk_run() { local out=$1; shift; wrk "$@" > "$out" 2>&1; }
