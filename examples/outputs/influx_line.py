#!/usr/bin/env python3
"""plugin-exporter example output (role: output) on the Python SDK: writes every sample the
exporter collects in InfluxDB line protocol, to a file or to standard output.

`config` in the exporter's configuration:
  path: the file to append to (a named pipe works too, for `influx write` to read); without
        it the lines go to standard output as Python sees it (`sys.stdout`)

The SDK keeps the real stdout for protocol lines and points `sys.stdout` at stderr, so without
`path` the lines come out on stderr: run by hand, pipe them on with

  printf '%s\n' '{"type":"hello","protocol":1,"name":"influx","config":{}}' \
    '{"type":"write","id":1,"families":[{"name":"up","type":"gauge","help":"","samples":[{"labels":{"plugin":"app"},"value":1,"timestamp":1700000000.0}]}]}' \
    | examples/outputs/influx_line.py 2>&1 >/dev/null | influx write --bucket metrics

Under the exporter (whose log gets a plugin's stderr) set `path`.

Each sample is one line: measurement = metric name, tags = labels (sorted), field
`value=<float>`, timestamp in nanoseconds. Histograms write one line per bucket (name
`<name>_bucket`, tag `le`) plus `<name>_sum` and `<name>_count`; summaries one per quantile
(tag `quantile`) plus `_sum` and `_count`. NaN and the infinities, which InfluxDB cannot
store, are left out.
"""

import math
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "..", "plugin-protocol", "python"))
import plugin_exporter_sdk as sdk  # noqa: E402 (after the sys.path change)

NAME = "influx-line"
VERSION = "0.1.0"


def _escape_key(text):
    """Measurement names, tag keys and tag values: commas, spaces and equals signs escaped."""
    return (text.replace("\\", "\\\\").replace(",", "\\,").replace(" ", "\\ ")
            .replace("=", "\\="))


def _number(v):
    if isinstance(v, str):
        return None  # "NaN", "+Inf", "-Inf"
    v = float(v)
    return v if math.isfinite(v) else None


def _bound(v):
    return "+Inf" if v == "+Inf" else repr(float(v))


def lines(families):
    """The InfluxDB lines for one write."""
    out = []
    for family in families:
        name = family["name"]
        for sample in family.get("samples", []):
            labels = dict(sample.get("labels") or {})
            ts = sample.get("timestamp")
            # Milliseconds first: the collect time has no more, and floats would blur the ns.
            ts = int(round(float(ts) * 1000)) * 1000000 if ts is not None else None
            points = []
            if "buckets" in sample:
                for b in sample["buckets"]:
                    points.append((name + "_bucket", {"le": _bound(b["le"])}, b["count"]))
            if "quantiles" in sample:
                for q in sample["quantiles"]:
                    points.append((name, {"quantile": repr(float(q["quantile"]))}, q["value"]))
            for key in ("sum", "count"):
                if key in sample:
                    points.append((name + "_" + key, {}, sample[key]))
            if "value" in sample:
                points.append((name, {}, sample["value"]))
            for measurement, extra, value in points:
                value = _number(value)
                if value is None:
                    continue
                tags = dict(labels, **extra)
                tag_text = "".join(",%s=%s" % (_escape_key(k), _escape_key(str(v)))
                                   for k, v in sorted(tags.items()) if v != "")
                line = "%s%s value=%s" % (_escape_key(measurement), tag_text, repr(value))
                if ts is not None:
                    line += " %d" % ts
                out.append(line + "\n")
    return out


class InfluxLine:
    def __init__(self):
        self.path = None

    def configure(self, hello, log):
        path = (hello.get("config") or {}).get("path")
        if path is not None and (not isinstance(path, str) or not path):
            raise ValueError("config.path must be a file name")
        self.path = path
        log.info("writing line protocol to %s" % (path or "stdout (stderr under the SDK)"))

    def write(self, families, log):
        text = "".join(lines(families))
        if self.path is None:
            # The SDK keeps the real stdout for the protocol; sys.stdout is stderr here.
            sys.stdout.write(text)
            sys.stdout.flush()
            return
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(text)


def main():
    out = InfluxLine()
    return sdk.run_output(NAME, VERSION, out.write, configure=out.configure)


if __name__ == "__main__":
    sys.exit(main())
