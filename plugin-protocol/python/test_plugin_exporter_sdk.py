"""Tests of plugin_exporter_sdk: the batch builder in process, and plugins built on the SDK
run as real processes, driven through pipes as the exporter drives them.

Run from anywhere: python3 -m unittest discover -s plugin-protocol/python
"""

import io
import json
import os
import queue
import subprocess
import sys
import textwrap
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import plugin_exporter_sdk as sdk  # noqa: E402 (after the sys.path change)

EXAMPLE = os.path.join(HERE, "..", "..", "examples", "python", "sdk_example.py")
WAIT = 10.0  # seconds to wait for a line that should come
HELLO = {"type": "hello", "protocol": 1, "name": "t", "config": {"k": "v"}}


def collect(request_id):
    return {"type": "collect", "id": request_id, "deadline_ms": 1000}


class Plugin:
    """A plugin process with pipes on stdin, stdout and stderr, read by threads."""

    def __init__(self, argv):
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.lines = queue.Queue()
        self.stderr = []
        threading.Thread(target=self._read_stdout, daemon=True).start()
        self.stderr_done = threading.Thread(target=self._read_stderr, daemon=True)
        self.stderr_done.start()

    @classmethod
    def script(cls, body):
        """A plugin running `body` with the SDK importable as `sdk`."""
        code = "import sys\nsys.path.insert(0, %r)\nimport plugin_exporter_sdk as sdk\n" % HERE
        return cls([sys.executable, "-c", code + textwrap.dedent(body)])

    def _read_stdout(self):
        for raw in self.proc.stdout:
            self.lines.put(raw)
        self.lines.put(None)

    def _read_stderr(self):
        for raw in self.proc.stderr:
            self.stderr.append(raw.decode("utf-8", "replace"))

    def send(self, *messages):
        for m in messages:
            line = m if isinstance(m, str) else json.dumps(m)
            self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def close_stdin(self):
        self.proc.stdin.close()

    def read(self):
        """The next stdout line, parsed and checked to be one compact JSON object."""
        raw = self.lines.get(timeout=WAIT)
        assert raw is not None, "stdout closed; stderr:\n" + "".join(self.stderr)
        assert raw.endswith(b"\n"), raw
        msg = json.loads(raw)
        assert isinstance(msg, dict) and isinstance(msg.get("type"), str), raw
        return msg

    def no_more_output(self):
        """True when stdout closes without another line."""
        return self.lines.get(timeout=WAIT) is None

    def wait(self):
        """The exit status; fails if the plugin does not exit within WAIT."""
        code = self.proc.wait(timeout=WAIT)
        self.stderr_done.join(WAIT)
        return code

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            try:
                f.close()
            except OSError:
                pass


class BatchTest(unittest.TestCase):
    def test_values_and_shapes_are_written_as_the_protocol_says(self):
        b = sdk.Batch()
        b.counter("c_total", "A counter.").sample(3, {"a": "1"}).sample(4.5, [("a", 2)])
        b.gauge("g_celsius", "A gauge.", unit="celsius").sample(float("nan")) \
            .sample(float("inf"), {"s": "hot"}).sample(float("-inf"), {"s": "cold"}).sample(True, {"s": "on"})
        b.histogram("h_seconds", "A histogram.", unit="seconds") \
            .observe_buckets([(0.1, 1), (1, 3.0), (float("inf"), 4)], 2.5, 4, {"x": "y"})
        b.summary("s_seconds", "A summary.", unit="seconds") \
            .quantiles([(0.5, 0.2), (0.99, 1.3)], 120.5, 400)
        b.untyped("u", "Untyped.").sample(-0.5, {})
        line = sdk._line({"type": "metrics", "id": 3, "families": b.to_families()})
        self.assertEqual(line, "".join([
            '{"type":"metrics","id":3,"families":[',
            '{"name":"c_total","type":"counter","help":"A counter.","samples":[{"labels":{"a":"1"},"value":3},{"labels":{"a":"2"},"value":4.5}]},',
            '{"name":"g_celsius","type":"gauge","help":"A gauge.","unit":"celsius","samples":[{"value":"NaN"},{"labels":{"s":"hot"},"value":"+Inf"},{"labels":{"s":"cold"},"value":"-Inf"},{"labels":{"s":"on"},"value":1}]},',
            '{"name":"h_seconds","type":"histogram","help":"A histogram.","unit":"seconds","samples":[{"labels":{"x":"y"},"buckets":[{"le":0.1,"count":1},{"le":1,"count":3},{"le":"+Inf","count":4}],"sum":2.5,"count":4}]},',
            '{"name":"s_seconds","type":"summary","help":"A summary.","unit":"seconds","samples":[{"quantiles":[{"quantile":0.5,"value":0.2},{"quantile":0.99,"value":1.3}],"sum":120.5,"count":400}]},',
            '{"name":"u","type":"untyped","help":"Untyped.","samples":[{"value":-0.5}]}]}\n',
        ]))

    def test_asking_again_for_a_family_continues_it(self):
        b = sdk.Batch()
        for cpu in range(2):
            b.gauge("cpu_ratio", "Busy share.").sample(0.5, {"cpu": cpu})
            b.gauge("cpu_ratio", "Ignored help.").sample(0.5, {"cpu": cpu, "x": 1})
        b.counter("cpu_ratio", "Another type stays apart, for the exporter to refuse.")
        families = b.to_families()
        self.assertEqual(len(families), 2)
        self.assertEqual(families[0]["help"], "Busy share.")
        self.assertEqual(len(families[0]["samples"]), 4)
        self.assertEqual(families[0]["samples"][0]["labels"], {"cpu": "0"})

    def test_what_is_not_a_value_or_count_is_refused_at_once(self):
        g = sdk.Batch().gauge("g", "G.")
        for bad in ("1.5", "NaN", None, b"1"):
            with self.assertRaises(TypeError):
                g.sample(bad)
        h = sdk.Batch().histogram("h", "H.")
        with self.assertRaises(ValueError):
            h.observe_buckets([(1, 1)], 1.0, 1.5)
        with self.assertRaises(ValueError):
            h.observe_buckets([(1, -1)], 1.0, 1)
        with self.assertRaises(ValueError):
            sdk.Log().line("fatal", "x")

    def test_run_answers_through_streams_passed_in(self):
        host = io.BytesIO(b"".join(json.dumps(m).encode() + b"\n" for m in (HELLO, collect(1))))
        out = io.StringIO()
        status = sdk.run("t", "0.1", lambda b: b.gauge("g", "G.").sample(1), stdin=host, stdout=out)
        self.assertEqual(status, 0)
        lines = [json.loads(l) for l in out.getvalue().splitlines()]
        self.assertEqual(lines[0], {"type": "hello", "protocol": 1, "name": "t", "version": "0.1"})
        self.assertEqual(lines[1]["id"], 1)
        self.assertEqual(lines[1]["families"][0]["samples"], [{"value": 1}])


ANSWERING = """
calls = [0]

def configure(hello, log):
    log.info("config " + repr(hello["config"]))
    if "bad" in hello["config"]:
        raise ValueError("bad is not allowed")

def collect(batch):
    calls[0] += 1
    print("stray print from collect")  # must not reach the protocol
    batch.log.warn("call %d" % calls[0])
    batch.gauge("calls", "Calls so far.").sample(calls[0])
    if calls[0] == 2:
        raise RuntimeError("database is locked")
    if calls[0] == 3:
        batch.gauge("bad", "A value json cannot write.").samples.append({"value": object()})

sys.exit(sdk.run("answering", "1.2.3", collect, configure=configure))
"""


class RunTest(unittest.TestCase):
    def setUp(self):
        self.p = Plugin.script(ANSWERING)
        self.addCleanup(self.p.kill)

    def test_hello_first_then_each_collect_answered_with_its_id(self):
        self.assertEqual(self.p.read(),
                         {"type": "hello", "protocol": 1, "name": "answering", "version": "1.2.3"})
        self.p.send(HELLO)
        self.assertEqual(self.p.read(), {"type": "log", "level": "info", "message": "config {'k': 'v'}"})
        # Each answer arrives before the next request is sent: lines are flushed one by one.
        self.p.send(collect(7))
        self.assertEqual(self.p.read(), {"type": "log", "level": "warn", "message": "call 1"})
        m = self.p.read()
        self.assertEqual((m["type"], m["id"]), ("metrics", 7))
        self.assertEqual(m["families"][0]["samples"], [{"value": 1}])

    def test_a_failing_collect_is_an_error_and_the_plugin_goes_on(self):
        self.p.read()
        self.p.send(collect(1), collect(2), collect(3), collect(4))
        kinds = [(m["type"], m.get("id")) for m in (self.p.read() for _ in range(8))]
        self.assertEqual(kinds, [("log", None), ("metrics", 1), ("log", None), ("error", 2),
                                 ("log", None), ("error", 3), ("log", None), ("metrics", 4)])
        self.p.close_stdin()
        self.assertEqual(self.p.wait(), 0)
        stderr = "".join(self.p.stderr)
        self.assertIn("RuntimeError: database is locked", stderr)  # the traceback
        self.assertIn("stray print from collect", stderr)

    def test_the_error_message_names_the_exception(self):
        self.p.read()
        self.p.send(collect(1), collect(2))
        errors = [m for m in (self.p.read() for _ in range(4)) if m["type"] == "error"]
        self.assertEqual(errors, [{"type": "error", "id": 2, "message": "RuntimeError: database is locked"}])

    def test_a_bad_config_fails_every_collect_until_the_next_hello(self):
        self.p.read()
        self.p.send({"type": "hello", "protocol": 1, "name": "t", "config": {"bad": 1}}, collect(1))
        self.assertEqual(self.p.read()["level"], "info")
        self.assertEqual(self.p.read(), {"type": "log", "level": "error",
                                         "message": "configuration: ValueError: bad is not allowed"})
        self.assertEqual(self.p.read(), {"type": "error", "id": 1,
                                         "message": "configuration: ValueError: bad is not allowed"})
        self.p.send(HELLO, collect(2))
        self.p.read()
        self.p.read()
        self.assertEqual(self.p.read()["type"], "metrics")

    def test_it_exits_on_shutdown(self):
        self.p.read()
        self.p.send({"type": "shutdown"}, collect(1))
        self.assertTrue(self.p.no_more_output())
        self.assertEqual(self.p.wait(), 0)

    def test_it_exits_at_the_end_of_input(self):
        self.p.read()
        self.p.close_stdin()
        self.assertTrue(self.p.no_more_output())
        self.assertEqual(self.p.wait(), 0)

    def test_unknown_types_and_garbage_are_skipped(self):
        self.p.read()
        self.p.send({"type": "reload", "id": 1}, "not json", "[\"collect\"]", "", collect(5))
        self.p.read()  # the collect's log line
        self.assertEqual(self.p.read()["id"], 5)
        self.p.close_stdin()
        self.p.wait()
        stderr = "".join(self.p.stderr)
        self.assertIn("not json", stderr)
        self.assertNotIn("reload", stderr)

    def test_another_protocol_version_is_refused(self):
        self.p.read()
        self.p.send({"type": "hello", "protocol": 2, "name": "t", "config": {}}, collect(1))
        self.assertTrue(self.p.no_more_output())
        self.assertEqual(self.p.wait(), 1)
        self.assertIn("protocol version 2", "".join(self.p.stderr))

    def test_a_vanished_exporter_ends_the_plugin_quietly(self):
        # Its own process, with a stdout pipe whose read end is closed: nobody reads the answers.
        read_end, write_end = os.pipe()
        code = "import sys\nsys.path.insert(0, %r)\nimport plugin_exporter_sdk as sdk\n" % HERE
        proc = subprocess.Popen([sys.executable, "-c", code + textwrap.dedent(ANSWERING)],
                                stdin=subprocess.PIPE, stdout=write_end, stderr=subprocess.PIPE)
        os.close(write_end)
        os.close(read_end)
        _, stderr = proc.communicate((json.dumps(collect(1)) + "\n").encode(), timeout=WAIT)
        self.assertEqual(proc.returncode, 0, stderr)
        self.assertNotIn(b"BrokenPipeError", stderr)


PUSHING = """
pusher = sdk.Pusher("pushing", "0.2")
hello = pusher.host_hello(timeout=5)
pusher.log("info", "config " + repr(hello and hello["config"]))
n = 0
while True:
    n += 1
    print("stray print from the loop")
    batch = sdk.Batch()
    batch.gauge("pushes", "Pushes so far.").sample(n)
    pusher.push(batch)
    if not pusher.sleep(0.05):
        break
sys.exit(0)
"""


PROCESSOR = """
def process(plugin, families, log):
    if plugin == "bad":
        raise ValueError("no table for " + plugin)
    log.info("processing " + plugin)
    for family in families:
        family["name"] += "_seen"
    return families

sys.exit(sdk.run_processor("proc", "0.1", process))
"""


class ProcessorTest(unittest.TestCase):
    def setUp(self):
        self.p = Plugin.script(PROCESSOR)
        self.addCleanup(self.p.kill)

    def test_each_process_is_answered_with_its_id_and_errors_do_not_stop_it(self):
        self.assertEqual(self.p.read()["type"], "hello")
        family = {"name": "a", "type": "gauge", "help": "", "samples": [{"value": 1}]}
        self.p.send(HELLO,
                    {"type": "collect", "id": 9, "deadline_ms": 100},
                    {"type": "process", "id": 1, "plugin": "app", "deadline_ms": 100,
                     "families": [family]},
                    {"type": "process", "id": 2, "plugin": "bad", "deadline_ms": 100,
                     "families": []})
        self.assertEqual(self.p.read(), {"type": "log", "level": "info", "message": "processing app"})
        m = self.p.read()
        self.assertEqual((m["type"], m["id"], m["families"][0]["name"]), ("processed", 1, "a_seen"))
        m = self.p.read()
        self.assertEqual((m["type"], m["id"]), ("error", 2))
        self.assertIn("no table for bad", m["message"])
        self.p.send({"type": "shutdown"})
        self.assertTrue(self.p.no_more_output())
        self.assertEqual(self.p.wait(), 0)
        self.assertTrue(any("ignoring a 'collect'" in l for l in self.p.stderr), self.p.stderr)


OUTPUT = """
def write(families, log):
    if not families:
        raise ValueError("nothing to write")
    log.info("writing %d families at %r" % (len(families), families[0]["samples"][0]["timestamp"]))

sys.exit(sdk.run_output("out", "0.1", write))
"""


class OutputTest(unittest.TestCase):
    def setUp(self):
        self.p = Plugin.script(OUTPUT)
        self.addCleanup(self.p.kill)

    def test_each_write_is_acked_or_answered_with_error_by_its_id(self):
        self.assertEqual(self.p.read()["type"], "hello")
        family = {"name": "a", "type": "gauge", "help": "",
                  "samples": [{"value": 1, "timestamp": 1700000000.5}]}
        self.p.send(HELLO,
                    {"type": "process", "id": 9, "plugin": "app", "deadline_ms": 100,
                     "families": []},
                    {"type": "write", "id": 1, "families": [family]},
                    {"type": "write", "id": 2, "families": []})
        self.assertEqual(self.p.read(), {"type": "log", "level": "info",
                                         "message": "writing 1 families at 1700000000.5"})
        self.assertEqual(self.p.read(), {"type": "ack", "id": 1})
        m = self.p.read()
        self.assertEqual((m["type"], m["id"]), ("error", 2))
        self.assertIn("nothing to write", m["message"])
        self.p.send({"type": "shutdown"})
        self.assertTrue(self.p.no_more_output())
        self.assertEqual(self.p.wait(), 0)
        self.assertTrue(any("ignoring a 'process'" in l for l in self.p.stderr), self.p.stderr)


class PusherTest(unittest.TestCase):
    def setUp(self):
        self.p = Plugin.script(PUSHING)
        self.addCleanup(self.p.kill)

    def test_pushes_carry_no_id_and_shutdown_ends_them(self):
        self.assertEqual(self.p.read()["name"], "pushing")
        self.p.send(HELLO)
        self.assertEqual(self.p.read(), {"type": "log", "level": "info", "message": "config {'k': 'v'}"})
        for n in (1, 2, 3):
            m = self.p.read()
            self.assertEqual(m, {"type": "metrics", "families": [
                {"name": "pushes", "type": "gauge", "help": "Pushes so far.", "samples": [{"value": n}]}]})
        started = time.monotonic()
        self.p.send({"type": "shutdown"})
        self.assertEqual(self.p.wait(), 0)
        self.assertLess(time.monotonic() - started, 5)
        self.assertIn("stray print from the loop", "".join(self.p.stderr))

    def test_the_end_of_input_ends_them_and_a_collect_gets_a_hint(self):
        self.p.read()
        self.p.send(HELLO, collect(1))
        self.p.read()
        self.p.read()
        self.p.close_stdin()
        self.assertEqual(self.p.wait(), 0)
        self.assertIn("mode: push", "".join(self.p.stderr))

    def test_another_protocol_version_raises(self):
        self.p.read()
        self.p.send({"type": "hello", "protocol": 2, "name": "t", "config": {}})
        self.assertNotEqual(self.p.wait(), 0)
        self.assertIn("ProtocolError: the host speaks protocol version 2", "".join(self.p.stderr))


class ExampleTest(unittest.TestCase):
    def test_the_sdk_example_answers_a_collect(self):
        p = Plugin([sys.executable, EXAMPLE])
        self.addCleanup(p.kill)
        self.assertEqual(p.read()["name"], "procstat")
        p.send({"type": "hello", "protocol": 1, "name": "procstat", "config": {"modes": ["user", "idle"]}},
               collect(1))
        m = p.read()
        self.assertEqual((m["type"], m["id"]), ("metrics", 1))
        names = [f["name"] for f in m["families"]]
        self.assertIn("procstat_cpu_seconds_total", names)
        self.assertIn("procstat_context_switches_total", names)
        modes = [s["labels"]["mode"] for s in m["families"][0]["samples"]]
        self.assertEqual(modes, ["user", "idle"])
        p.send({"type": "shutdown"})
        self.assertEqual(p.wait(), 0)


if __name__ == "__main__":
    unittest.main()
