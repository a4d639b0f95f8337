#!/usr/bin/env python3
"""plugin-exporter example plugin built on the Python SDK: kernel statistics from /proc/stat.

The SDK (plugin-protocol/python/plugin_exporter_sdk.py, one file, standard library only)
does the protocol: hello, collect ids, errors, flushing, shutdown. This file only says what
to report:
  - CPU time per mode, summed over all CPUs, as a counter in seconds;
  - context switches and forks since boot (counters), runnable and blocked processes
    (gauges), the boot time (a gauge in seconds since the epoch);
  - `config` from the exporter's configuration may hold {"modes": ["user", "system", ...]}
    to report only some CPU modes; a config that is not valid makes every collect fail with
    the reason, until the plugin is restarted with a better one.

Run it by hand:
  echo '{"type":"collect","id":1,"deadline_ms":1000}' | examples/python/sdk_example.py
"""

import os
import sys

# The SDK is a single file: copy it next to your plugin, or point sys.path at it as here.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "plugin-protocol", "python"))
import plugin_exporter_sdk as sdk  # noqa: E402 (after the sys.path change)

NAME = "procstat"
VERSION = "0.1.0"
PROC_STAT = "/proc/stat"

# The columns of the `cpu` line of /proc/stat, in clock ticks.
CPU_MODES = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")


class ProcStat:
    """Keeps the configuration between collects."""

    def __init__(self):
        self.modes = list(CPU_MODES)

    def configure(self, hello, log):
        """Reads `config.modes`; raising makes every collect answer with the reason."""
        config = hello.get("config") or {}
        modes = config.get("modes", list(CPU_MODES))
        if not isinstance(modes, list):
            raise ValueError("config.modes must be a list of CPU modes")
        unknown = [m for m in modes if m not in CPU_MODES]
        if unknown:
            log.warn("ignoring unknown CPU modes: " + ", ".join(map(str, unknown)))
        self.modes = [m for m in CPU_MODES if m in modes]

    def collect(self, batch):
        """Fills one batch; an OSError here (no /proc/stat) becomes the collect's error."""
        fields = {}
        with open(PROC_STAT, encoding="ascii") as f:
            for line in f:
                key, _, rest = line.partition(" ")
                fields[key] = rest.split()

        cpu = batch.counter("procstat_cpu_seconds_total",
                            "CPU time spent in each mode, summed over all CPUs.", unit="seconds")
        ticks = fields.get("cpu", [])
        for mode, value in zip(CPU_MODES, ticks):
            if mode in self.modes:
                cpu.sample(int(value) / TICKS_PER_SECOND, {"mode": mode})

        for key, name, help_text in (
            ("ctxt", "procstat_context_switches_total", "Context switches since boot."),
            ("processes", "procstat_forks_total", "Processes and threads created since boot."),
        ):
            if key in fields:
                batch.counter(name, help_text).sample(int(fields[key][0]))
        for key, name, help_text in (
            ("procs_running", "procstat_procs_running", "Processes ready to run."),
            ("procs_blocked", "procstat_procs_blocked", "Processes blocked waiting for I/O."),
        ):
            if key in fields:
                batch.gauge(name, help_text).sample(int(fields[key][0]))
        if "btime" in fields:
            batch.gauge("procstat_boot_time_seconds",
                        "When the host booted, in seconds since the Unix epoch.",
                        unit="seconds").sample(int(fields["btime"][0]))


if __name__ == "__main__":
    plugin = ProcStat()
    sys.exit(sdk.run(NAME, VERSION, plugin.collect, configure=plugin.configure))
