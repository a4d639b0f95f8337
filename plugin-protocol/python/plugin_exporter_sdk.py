"""A small SDK for plugin-exporter plugins written in Python.

Python 3.8 or later, standard library only: copy this one file next to your plugin and
import it. The protocol it speaks is specified in plugin-protocol/PROTOCOL.md.

A plugin answering collects (scrape and interval modes)::

    import sys
    import plugin_exporter_sdk as sdk

    def collect(batch):
        batch.counter("app_jobs_done_total", "Jobs finished.").sample(10, {"queue": "mail"})
        batch.gauge("app_queue_length", "Jobs waiting.").sample(2, {"queue": "mail"})

    if __name__ == "__main__":
        sys.exit(sdk.run("app", "1.0.0", collect))

A processor (``role: processor``), which gets other plugins' batches and returns new ones::

    def process(plugin, families, log):
        for family in families:
            for sample in family["samples"]:
                sample.setdefault("labels", {})["source"] = plugin
        return families

    sys.exit(sdk.run_processor("tagger", "1.0.0", process))

An output (``role: output``), which gets every collect's families, each sample with its
``timestamp``, and delivers them; returning acknowledges the write, raising answers ``error``
and the exporter retries it::

    def write(families, log):
        with open("/var/lib/metrics/out.jsonl", "a") as f:
            for family in families:
                f.write(json.dumps(family) + "\n")

    sys.exit(sdk.run_output("archive", "1.0.0", write))

A plugin pushing on its own schedule (push mode)::

    pusher = sdk.Pusher("backup", "1.0.0")
    while True:
        batch = sdk.Batch()
        batch.gauge("backup_last_success_timestamp_seconds", "When the last backup finished.",
                    unit="seconds").sample(last_backup_time())
        pusher.push(batch)
        if not pusher.sleep(30):
            break   # the exporter said shutdown or closed stdin

What the SDK takes care of: the plugin's ``hello``; echoing each collect's ``id``; a collect
function that raises is answered with an ``error`` (its traceback goes to stderr) and the
plugin keeps running; one compact JSON line per message, flushed at once; NaN and the
infinities as the protocol's ``"NaN"``, ``"+Inf"``, ``"-Inf"``; ignoring message types of
later protocol versions; refusing a host that speaks another version (exit status 1); exiting
on ``shutdown`` and at the end of stdin; a vanished exporter (broken pipe) ends the plugin
quietly. Unless you pass your own streams, stdout is kept for protocol lines only: whatever
else the plugin prints (``print()``, child processes) goes to stderr, which the exporter
forwards to its log.

Names, labels and values are not validated beyond their JSON types: the exporter checks every
batch and counts what it drops.
"""

import io
import json
import math
import os
import sys
import threading
import time
import traceback

__all__ = ["PROTOCOL_VERSION", "ProtocolError", "Batch", "Family", "Log", "run", "run_processor",
           "run_output", "Pusher"]

#: The protocol version this SDK speaks.
PROTOCOL_VERSION = 1

_LEVELS = ("debug", "info", "warn", "error")
_KNOWN_HOST_TYPES = ("hello", "collect", "shutdown", "process", "write")


class ProtocolError(Exception):
    """The exporter speaks a protocol version this SDK does not know."""


def _value(v):
    """A sample value as the protocol writes it: a number, or "NaN", "+Inf", "-Inf"."""
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return v
    if isinstance(v, (str, bytes)) or v is None:
        raise TypeError("a sample value must be a number, not %r" % (v,))
    f = float(v)  # also takes Decimal, Fraction, numpy numbers
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    return f


def _count(n):
    """A count: a non-negative integer (an integral float is fine)."""
    if isinstance(n, bool) or isinstance(n, (str, bytes)) or n is None:
        raise TypeError("a count must be a non-negative integer, not %r" % (n,))
    if isinstance(n, float):
        if not n.is_integer():
            raise ValueError("a count must be a non-negative integer, not %r" % (n,))
        n = int(n)
    n = int(n)
    if n < 0:
        raise ValueError("a count must be a non-negative integer, not %r" % (n,))
    return n


def _labels(labels):
    """Labels as a dict of strings; accepts a dict or (name, value) pairs."""
    if not labels:
        return None
    pairs = labels.items() if isinstance(labels, dict) else labels
    return {str(k): str(v) for k, v in pairs}


class Log:
    """``log`` lines waiting to be sent to the exporter, which writes them to its log tagged
    with the plugin's name. The structured alternative to printing to stderr."""

    def __init__(self):
        self.lines = []

    def line(self, level, message):
        """Queues a line at ``level`` ("debug", "info", "warn" or "error")."""
        if level not in _LEVELS:
            raise ValueError("log level must be one of %s, not %r" % (", ".join(_LEVELS), level))
        self.lines.append({"type": "log", "level": level, "message": str(message)})
        return self

    def debug(self, message):
        """Queues a ``debug`` line."""
        return self.line("debug", message)

    def info(self, message):
        """Queues an ``info`` line."""
        return self.line("info", message)

    def warn(self, message):
        """Queues a ``warn`` line."""
        return self.line("warn", message)

    def error(self, message):
        """Queues an ``error`` line."""
        return self.line("error", message)


class Family:
    """One metric family of a :class:`Batch`; returned by :meth:`Batch.gauge` and its siblings.

    Use the method matching the family's type: :meth:`sample` for counters, gauges and untyped
    families, :meth:`observe_buckets` for histograms, :meth:`quantiles` for summaries. Each
    returns the family, so calls chain.
    """

    def __init__(self, name, kind, help_text, unit=None):
        self.name = str(name)
        self.kind = kind
        self.help = str(help_text)
        self.unit = unit
        self.samples = []

    def sample(self, value, labels=None):
        """Adds a counter, gauge or untyped series: ``value`` a number (NaN and the
        infinities allowed), ``labels`` a dict of label names to values."""
        s = {}
        labels = _labels(labels)
        if labels:
            s["labels"] = labels
        s["value"] = _value(value)
        self.samples.append(s)
        return self

    def observe_buckets(self, buckets, sum, count, labels=None):
        """Adds a histogram series: ``buckets`` cumulative ``(le, count)`` pairs in increasing
        ``le`` (the ``+Inf`` bucket may be left out), the ``sum`` and ``count`` of all
        observations."""
        s = {}
        labels = _labels(labels)
        if labels:
            s["labels"] = labels
        s["buckets"] = [{"le": _value(le), "count": _count(n)} for le, n in buckets]
        s["sum"] = _value(sum)
        s["count"] = _count(count)
        self.samples.append(s)
        return self

    def quantiles(self, quantiles, sum, count, labels=None):
        """Adds a summary series: ``quantiles`` ``(quantile, value)`` pairs in increasing
        quantile (0 to 1), the ``sum`` and ``count`` of all observations."""
        s = {}
        labels = _labels(labels)
        if labels:
            s["labels"] = labels
        s["quantiles"] = [{"quantile": _value(q), "value": _value(v)} for q, v in quantiles]
        s["sum"] = _value(sum)
        s["count"] = _count(count)
        self.samples.append(s)
        return self

    def to_dict(self):
        """The family as the protocol's JSON object."""
        d = {"name": self.name, "type": self.kind, "help": self.help}
        if self.unit:
            d["unit"] = self.unit
        d["samples"] = self.samples
        return d


class Batch:
    """One complete set of metric families: the answer to one collect, or one push.

    Asking twice for the same name and type continues the family already in the batch (its
    first help and unit stay). ``log`` holds :class:`Log` lines sent with the batch, before
    its metrics. ``deadline`` is the ``time.monotonic()`` time when the exporter stops waiting
    for the answer (``None`` for a push).
    """

    def __init__(self, deadline=None):
        self.families = []
        self.log = Log()
        self.deadline = deadline

    def _family(self, kind, name, help_text, unit):
        for f in self.families:
            if f.name == name and f.kind == kind:
                return f
        f = Family(name, kind, help_text, unit)
        self.families.append(f)
        return f

    def counter(self, name, help_text, unit=None):
        """A counter family; its name ends in ``_total``."""
        return self._family("counter", name, help_text, unit)

    def gauge(self, name, help_text, unit=None):
        """A gauge family."""
        return self._family("gauge", name, help_text, unit)

    def untyped(self, name, help_text, unit=None):
        """An untyped family."""
        return self._family("untyped", name, help_text, unit)

    def histogram(self, name, help_text, unit=None):
        """A histogram family; add series with :meth:`Family.observe_buckets`."""
        return self._family("histogram", name, help_text, unit)

    def summary(self, name, help_text, unit=None):
        """A summary family; add series with :meth:`Family.quantiles`."""
        return self._family("summary", name, help_text, unit)

    def to_families(self):
        """The families as the protocol's JSON objects."""
        return [f.to_dict() for f in self.families]


def _line(msg):
    """One message as one compact JSON line (non-ASCII escaped, so any stdout encoding
    works)."""
    return json.dumps(msg, separators=(",", ":"), allow_nan=False) + "\n"


def _hello(name, version):
    return {"type": "hello", "protocol": PROTOCOL_VERSION, "name": name, "version": version}


class _Out:
    """The protocol stream: whole lines, flushed one by one, from any thread."""

    def __init__(self, stream):
        self.protecting = stream is None
        if stream is None:
            # Keep a private copy of stdout for the protocol and point file descriptor 1 at
            # stderr, so print() and child processes cannot write into the protocol.
            sys.stdout.flush()
            fd = os.dup(1)
            os.dup2(2, 1)
            stream = io.open(fd, "w", encoding="utf-8", newline="\n")
        self.stream = stream
        self.lock = threading.Lock()

    def send(self, *lines):
        with self.lock:
            for line in lines:
                self.stream.write(line)
                self.stream.flush()

    def abandon(self):
        """The reader has gone: drop what is buffered so exiting does not complain."""
        if not self.protecting:
            return
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), self.stream.fileno())
        except OSError:
            pass


def _read_lines(stdin):
    """Yields the host's lines as they arrive, until the end of input."""
    if stdin is None:
        stdin = sys.stdin.buffer
    while True:
        line = stdin.readline()
        if not line:
            return
        yield line


def _parse(name, raw):
    """A message from the host, or None for a line to skip (quietly for message types of
    later protocol versions)."""
    try:
        msg = json.loads(raw)
    except ValueError:
        msg = None
    if not isinstance(msg, dict) or not isinstance(msg.get("type"), str):
        if raw.strip():
            _note(name, "ignoring a line from the host that is not a message: %r" % (raw[:200],))
        return None
    if msg["type"] not in _KNOWN_HOST_TYPES:
        return None
    return msg


def _note(name, text):
    print("%s: %s" % (name, text), file=sys.stderr, flush=True)


def _check_version(hello):
    if hello.get("protocol") != PROTOCOL_VERSION:
        raise ProtocolError("the host speaks protocol version %r, this plugin only %d"
                            % (hello.get("protocol"), PROTOCOL_VERSION))


def _answer(kind, request_id, **members):
    """A ``metrics`` or ``error`` message answering the collect ``request_id``."""
    msg = {"type": kind}
    if request_id is not None:
        msg["id"] = request_id
    msg.update(members)
    return msg


def _describe(exc):
    text = str(exc)
    return "%s: %s" % (type(exc).__name__, text) if text else type(exc).__name__


def run(name, version, collect, configure=None, stdin=None, stdout=None):
    """Runs a plugin answering collects until ``shutdown`` or the end of stdin; returns the
    exit status for ``sys.exit``.

    ``collect(batch)`` fills a fresh :class:`Batch` for each collect; if it raises, the
    collect is answered with an ``error`` (the traceback goes to stderr) and the plugin goes
    on. ``configure(hello, log)``, when given, is called with each ``hello`` of the host (a
    dict; ``hello["config"]`` is the plugin's ``config`` from the exporter's configuration)
    and a :class:`Log`; if it raises, every collect is answered with an ``error`` naming the
    problem until the next ``hello``, so the plugin shows as down with the reason.

    ``stdin`` and ``stdout`` replace the process's streams (tests): ``stdin`` any object with
    ``readline()``, ``stdout`` a text stream.

    Returns 0 on ``shutdown``, at the end of input and when the exporter has gone, 1 when the
    host speaks another protocol version (after saying so on stderr).
    """
    def answer(msg, config_error):
        request_id = msg.get("id")
        deadline_ms = msg.get("deadline_ms")
        deadline = None
        if isinstance(deadline_ms, (int, float)):
            deadline = time.monotonic() + deadline_ms / 1000.0
        batch = Batch(deadline)
        if config_error is not None:
            answer = _line(_answer("error", request_id, message=config_error))
        else:
            try:
                collect(batch)
                # Inside the try: a value json cannot write is the collect's failure too.
                answer = _line(_answer("metrics", request_id, families=batch.to_families()))
            except Exception as e:
                traceback.print_exc(file=sys.stderr)
                answer = _line(_answer("error", request_id, message=_describe(e)))
        return [_line(m) for m in batch.log.lines] + [answer]

    return _serve(name, version, "collect", answer, configure, stdin, stdout)


def run_processor(name, version, process, configure=None, stdin=None, stdout=None):
    """Runs a processor (``role: processor`` in the exporter's configuration) until
    ``shutdown`` or the end of stdin; returns the exit status for ``sys.exit``.

    ``process(plugin, families, log)`` gets the name of the collector a batch comes from, the
    batch as a list of family dicts (the protocol's family model, see PROTOCOL.md) and a
    :class:`Log`, and returns the new list of families, which replaces the batch. If it
    raises, the batch is answered with an ``error`` and the exporter serves it as the
    processor's ``on_error`` says. ``configure``, ``stdin``, ``stdout`` and the exit status
    are as for :func:`run`.
    """
    def answer(msg, config_error):
        request_id = msg.get("id")
        log = Log()
        if config_error is not None:
            answer = _line(_answer("error", request_id, message=config_error))
        else:
            try:
                families = process(msg.get("plugin", ""), msg.get("families") or [], log)
                answer = _line(_answer("processed", request_id, families=list(families)))
            except Exception as e:
                traceback.print_exc(file=sys.stderr)
                answer = _line(_answer("error", request_id, message=_describe(e)))
        return [_line(m) for m in log.lines] + [answer]

    return _serve(name, version, "process", answer, configure, stdin, stdout)


def run_output(name, version, write, configure=None, stdin=None, stdout=None):
    """Runs an output (``role: output`` in the exporter's configuration) until ``shutdown`` or
    the end of stdin; returns the exit status for ``sys.exit``.

    ``write(families, log)`` gets one collect's families as a list of family dicts (the
    protocol's family model, see PROTOCOL.md; every sample has its ``timestamp`` in seconds)
    and a :class:`Log`. When it returns, the write is answered with ``ack``; if it raises,
    with an ``error`` (the traceback goes to stderr), and the exporter retries the write with
    backoff up to the output's ``max_retries``. ``configure``, ``stdin``, ``stdout`` and the
    exit status are as for :func:`run`.
    """
    def answer(msg, config_error):
        request_id = msg.get("id")
        log = Log()
        if config_error is not None:
            answer = _line(_answer("error", request_id, message=config_error))
        else:
            try:
                write(msg.get("families") or [], log)
                answer = _line(_answer("ack", request_id))
            except Exception as e:
                traceback.print_exc(file=sys.stderr)
                answer = _line(_answer("error", request_id, message=_describe(e)))
        return [_line(m) for m in log.lines] + [answer]

    return _serve(name, version, "write", answer, configure, stdin, stdout)


def _serve(name, version, request, answer, configure, stdin, stdout):
    """The loop of :func:`run` and :func:`run_processor`: ``hello`` both ways, each message
    of type ``request`` answered with the lines ``answer(msg, config_error)`` returns."""
    out = _Out(stdout)
    try:
        out.send(_line(_hello(name, version)))
        config_error = None
        for raw in _read_lines(stdin):
            msg = _parse(name, raw)
            if msg is None:
                continue
            kind = msg["type"]
            if kind == "shutdown":
                return 0
            if kind == "hello":
                try:
                    _check_version(msg)
                except ProtocolError as e:
                    _note(name, str(e))
                    return 1
                log = Log()
                config_error = None
                if configure is not None:
                    try:
                        configure(msg, log)
                    except Exception as e:
                        traceback.print_exc(file=sys.stderr)
                        config_error = "configuration: " + _describe(e)
                        log.error(config_error)
                out.send(*(_line(m) for m in log.lines))
                continue
            if kind != request:
                _note(name, "ignoring a %r: this plugin answers %r only" % (kind, request))
                continue
            out.send(*answer(msg, config_error))
        return 0
    except BrokenPipeError:
        out.abandon()
        return 0


class Pusher:
    """Sends batches on the plugin's own schedule, for plugins in ``mode: push``.

    Creating it sends the plugin's ``hello`` and starts a thread reading the host's lines, so
    the plugin notices ``shutdown`` and the end of stdin: :meth:`sleep` returns False then,
    which ends the plugin's loop. ``stdin`` and ``stdout`` replace the process's streams, as
    for :func:`run`.
    """

    def __init__(self, name, version, stdin=None, stdout=None):
        self.name = name
        self._out = _Out(stdout)
        self._changed = threading.Condition()
        self._hello = None
        self._stopped = False
        self._refused = None
        self._send(_line(_hello(name, version)))
        t = threading.Thread(target=self._listen, args=(stdin,), name="plugin-host-reader")
        t.daemon = True
        t.start()

    def _update(self, **fields):
        with self._changed:
            for k, v in fields.items():
                setattr(self, k, v)
            self._changed.notify_all()

    def _listen(self, stdin):
        told_about_collect = False
        try:
            for raw in _read_lines(stdin):
                msg = _parse(self.name, raw)
                if msg is None:
                    continue
                if msg["type"] == "shutdown":
                    break
                if msg["type"] == "hello":
                    try:
                        _check_version(msg)
                    except ProtocolError as e:
                        self._update(_refused=str(e), _stopped=True)
                        return
                    self._update(_hello=msg)
                elif not told_about_collect:
                    _note(self.name, "this plugin pushes and answers no collect: "
                                     "configure it with `mode: push`")
                    told_about_collect = True
        except (OSError, ValueError) as e:
            _note(self.name, "reading from the host: %s" % (e,))
        self._update(_stopped=True)

    def _send(self, *lines):
        try:
            self._out.send(*lines)
        except BrokenPipeError:
            # The exporter has gone: nothing more to tell it.
            self._out.abandon()
            self._update(_stopped=True)

    def push(self, batch):
        """Sends the batch's log lines, then its families as a push (``metrics`` without
        ``id``), which replaces everything pushed before. Build a new batch for each push."""
        line = _line({"type": "metrics", "families": batch.to_families()})
        self._send(*([_line(m) for m in batch.log.lines] + [line]))

    def log(self, level, message):
        """Sends one ``log`` line at ``level`` ("debug", "info", "warn" or "error")."""
        self._send(*(_line(m) for m in Log().line(level, message).lines))

    def _wait(self, seconds, done):
        end = time.monotonic() + seconds
        with self._changed:
            while True:
                if self._refused is not None:
                    raise ProtocolError(self._refused)
                if done():
                    return True
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)

    def sleep(self, seconds):
        """Waits ``seconds``, or less if the host says stop. True: push again; False: the host
        sent ``shutdown``, closed stdin or has gone, so the plugin should exit. Raises
        :class:`ProtocolError` when the host speaks another protocol version."""
        return not self._wait(seconds, lambda: self._stopped)

    def host_hello(self, timeout=1.0):
        """The host's ``hello`` (a dict; ``["config"]`` is the plugin's ``config``), waiting up
        to ``timeout`` seconds for it; None when it did not come. Raises
        :class:`ProtocolError` when the host speaks another protocol version."""
        self._wait(timeout, lambda: self._hello is not None or self._stopped)
        return self._hello

    @property
    def stopped(self):
        """True once the host said stop (see :meth:`sleep`)."""
        return self._stopped
