#!/usr/bin/env python3
"""plugin-exporter example output (role: output) on the Python SDK: appends every sample the
exporter collects to a file, one JSON object a line, rotating the file by size.

`config` in the exporter's configuration:
  path:      the file to append to (required)
  max_bytes: once the file is larger, it is renamed to `path.1` (replacing an older one) and
             a new file is started (default 10485760; 0 never rotates)

Each line: {"name": ..., "type": ..., "labels": {...}, "value": ..., "timestamp": ...} for
counters, gauges and the like; histograms and summaries carry their `buckets` or `quantiles`,
`sum` and `count` instead of `value`. The write is acknowledged once its lines are flushed.

Run it by hand:
  printf '%s\\n' '{"type":"hello","protocol":1,"name":"jsonl","config":{"path":"/tmp/samples.jsonl"}}' \\
    '{"type":"write","id":1,"families":[{"name":"up","type":"gauge","help":"","samples":[{"labels":{"plugin":"app"},"value":1,"timestamp":1700000000.0}]}]}' \\
    | examples/outputs/jsonl_file.py
"""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "plugin-protocol", "python"))
import plugin_exporter_sdk as sdk  # noqa: E402 (after the sys.path change)

NAME = "jsonl-file"
VERSION = "0.1.0"


class JsonlFile:
    def __init__(self):
        self.path = None
        self.max_bytes = 10 * 1024 * 1024

    def configure(self, hello, log):
        config = hello.get("config") or {}
        path = config.get("path")
        if not isinstance(path, str) or not path:
            raise ValueError("config.path (the file to write) is required")
        max_bytes = config.get("max_bytes", self.max_bytes)
        if not isinstance(max_bytes, int) or isinstance(max_bytes, bool) or max_bytes < 0:
            raise ValueError("config.max_bytes must be a whole number of bytes, not %r" % (max_bytes,))
        self.path, self.max_bytes = path, max_bytes
        log.info("writing samples to %s" % path)

    def rotate_if_full(self, log):
        try:
            size = os.path.getsize(self.path)
        except FileNotFoundError:
            return
        if self.max_bytes and size > self.max_bytes:
            os.replace(self.path, self.path + ".1")
            log.info("rotated %s (%d bytes) to %s.1" % (self.path, size, self.path))

    def write(self, families, log):
        self.rotate_if_full(log)
        lines = []
        for family in families:
            for sample in family.get("samples", []):
                line = {"name": family["name"], "type": family["type"],
                        "labels": sample.get("labels", {})}
                for key in ("value", "buckets", "quantiles", "sum", "count", "timestamp"):
                    if key in sample:
                        line[key] = sample[key]
                lines.append(json.dumps(line, separators=(",", ":")) + "\n")
        with open(self.path, "a", encoding="utf-8") as f:
            f.writelines(lines)
            f.flush()


def main():
    out = JsonlFile()
    return sdk.run_output(NAME, VERSION, out.write, configure=out.configure)


if __name__ == "__main__":
    sys.exit(main())
