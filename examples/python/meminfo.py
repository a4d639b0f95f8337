#!/usr/bin/env python3
"""plugin-exporter example plugin: memory statistics from /proc/meminfo.

Python 3 standard library only. Shows the parts of the protocol a typical plugin uses:
  - a `hello` announcing protocol 1 and the plugin's version;
  - the host's `hello`, whose `config` may hold {"fields": ["MemTotal", ...]} to report
    only some of the known /proc/meminfo fields (unknown ones are reported with a `log`);
  - `collect` answered by `metrics` echoing the request id, or by `error` when
    /proc/meminfo cannot be read;
  - gauges in base units (bytes), a counter (`..._total`) and a histogram;
  - one JSON object per line on stdout, flushed after each line; diagnostics on stderr;
  - exit on `shutdown` or when stdin closes.

Run it by hand:
  echo '{"type":"collect","id":1,"deadline_ms":1000}' | examples/python/meminfo.py
"""

import json
import os
import sys
import time

PROTOCOL = 1
VERSION = "0.1.0"
MEMINFO = "/proc/meminfo"

# /proc/meminfo field -> (metric name without prefix and unit, HELP text). All are in kB there.
FIELDS = {
    "MemTotal": ("mem_total", "Usable RAM: physical memory less reserved and kernel code"),
    "MemFree": ("mem_free", "RAM not used for anything"),
    "MemAvailable": ("mem_available", "Estimate of RAM available to start new applications without swapping"),
    "Buffers": ("buffers", "Memory in raw disk block buffers"),
    "Cached": ("cached", "Memory in the page cache, without the swap cache"),
    "SwapCached": ("swap_cached", "Memory that was swapped out and back in and is still in the swap file"),
    "Active": ("active", "Memory used recently, usually not reclaimed"),
    "Inactive": ("inactive", "Memory not used recently, first to be reclaimed"),
    "Dirty": ("dirty", "Memory waiting to be written back to disk"),
    "Writeback": ("writeback", "Memory being written back to disk"),
    "AnonPages": ("anon_pages", "Memory in anonymous pages mapped into user space"),
    "Mapped": ("mapped", "Memory in files mapped into user space"),
    "Shmem": ("shmem", "Memory in shared memory and tmpfs"),
    "Slab": ("slab", "Memory in kernel slab caches"),
    "SReclaimable": ("slab_reclaimable", "Memory in slab caches that can be reclaimed"),
    "SUnreclaim": ("slab_unreclaimable", "Memory in slab caches that cannot be reclaimed"),
    "SwapTotal": ("swap_total", "Total swap space"),
    "SwapFree": ("swap_free", "Unused swap space"),
    "CommitLimit": ("commit_limit", "Memory that can be committed under strict overcommit accounting"),
    "Committed_AS": ("committed_as", "Memory currently committed by all processes"),
}

# Upper bounds (seconds) of the buckets of the read-duration histogram.
BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01)


def send(msg):
    """Writes one protocol line and flushes it, so the host sees it at once."""
    sys.stdout.write(json.dumps(msg, separators=(",", ":"), allow_nan=False) + "\n")
    sys.stdout.flush()


def log(text):
    """Diagnostics go to stderr: the host forwards them to its log with the plugin's name."""
    print("meminfo: " + text, file=sys.stderr, flush=True)


def read_meminfo():
    """Returns {field: bytes} for the fields of /proc/meminfo given in kB."""
    out = {}
    with open(MEMINFO, encoding="ascii") as f:
        for line in f:
            key, _, rest = line.partition(":")
            parts = rest.split()
            if len(parts) == 2 and parts[1] == "kB":
                out[key] = int(parts[0]) * 1024
    return out


class Plugin:
    def __init__(self):
        self.fields = list(FIELDS)
        self.collects = 0
        self.bucket_counts = [0] * len(BUCKETS)
        self.duration_sum = 0.0
        self.duration_count = 0

    def configure(self, config):
        """Applies the `config` object of the host's hello."""
        wanted = config.get("fields") if isinstance(config, dict) else None
        if wanted is None:
            return
        if not isinstance(wanted, list):
            send({"type": "log", "level": "warn", "message": "config.fields must be a list of /proc/meminfo fields"})
            return
        unknown = [f for f in wanted if f not in FIELDS]
        if unknown:
            send({"type": "log", "level": "warn",
                  "message": "ignoring unknown meminfo fields: " + ", ".join(map(str, unknown))})
        self.fields = [f for f in wanted if f in FIELDS]

    def observe(self, seconds):
        self.duration_sum += seconds
        self.duration_count += 1
        for i, le in enumerate(BUCKETS):
            if seconds <= le:
                self.bucket_counts[i] += 1

    def collect(self, request_id):
        """Answers one collect: a `metrics` line with the same id, or an `error` line."""
        start = time.perf_counter()
        try:
            values = read_meminfo()
        except (OSError, ValueError) as e:
            send({"type": "error", "id": request_id, "message": "reading %s: %s" % (MEMINFO, e)})
            return
        self.observe(time.perf_counter() - start)
        self.collects += 1

        families = []
        for field in self.fields:
            if field not in values:
                continue  # not every kernel has every field
            name, help_text = FIELDS[field]
            families.append({
                "name": "meminfo_%s_bytes" % name,
                "type": "gauge",
                "help": "%s (%s in /proc/meminfo)." % (help_text, field),
                "unit": "bytes",
                "samples": [{"value": values[field]}],
            })
        families.append({
            "name": "meminfo_plugin_collects_total",
            "type": "counter",
            "help": "Collect requests this plugin process answered with metrics.",
            "samples": [{"value": self.collects}],
        })
        buckets = [{"le": le, "count": c} for le, c in zip(BUCKETS, self.bucket_counts)]
        buckets.append({"le": "+Inf", "count": self.duration_count})
        families.append({
            "name": "meminfo_plugin_read_duration_seconds",
            "type": "histogram",
            "help": "Time this plugin process took to read and parse /proc/meminfo.",
            "unit": "seconds",
            "samples": [{"buckets": buckets, "sum": self.duration_sum, "count": self.duration_count}],
        })
        send({"type": "metrics", "id": request_id, "families": families})


def main():
    plugin = Plugin()
    send({"type": "hello", "protocol": PROTOCOL, "name": "meminfo", "version": VERSION})
    for raw in sys.stdin.buffer:  # yields each line as soon as it arrives; ends at EOF
        try:
            msg = json.loads(raw)
            kind = msg.get("type")
        except (ValueError, AttributeError):
            log("ignoring a line that is not a JSON object: %r" % raw[:200])
            continue
        if kind == "collect":
            plugin.collect(msg.get("id"))
        elif kind == "hello":
            if msg.get("protocol") != PROTOCOL:
                log("host speaks protocol %r, this plugin only %d" % (msg.get("protocol"), PROTOCOL))
                return 1
            plugin.configure(msg.get("config") or {})
        elif kind == "shutdown":
            return 0
        # Other types are ignored: later protocol versions may add some.
    return 0  # stdin closed: same as shutdown


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:
        # The host is gone; nothing left to tell it. Point stdout at /dev/null so the
        # interpreter's final flush does not complain about the broken pipe as well.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
    except KeyboardInterrupt:
        sys.exit(130)
