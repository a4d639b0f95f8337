#!/usr/bin/env node
// plugin-exporter example plugin in Node.js, without dependencies: host and plugin uptime,
// load averages and a collect counter.
//
// It reads the host's lines from stdin with readline, answers each `collect` with a `metrics`
// line echoing its `id` (or an `error` line when collecting throws), and exits on `shutdown`
// or when stdin closes. stdout carries protocol lines only, one JSON object per line;
// diagnostics go to stderr, which the exporter forwards to its log.
//
// Run it by hand:
//   echo '{"type":"collect","id":1,"deadline_ms":1000}' | examples/node/uptime.js
'use strict';

const os = require('os');
const readline = require('readline');

const PROTOCOL = 1;
const NAME = 'uptime';
const VERSION = '0.1.0';

let collects = 0;

// Writes one protocol line. Writes to a pipe are synchronous in Node on Linux, so the line
// has reached the exporter when this returns: nothing to flush.
function send(msg) {
  process.stdout.write(JSON.stringify(msg) + '\n');
}

function log(text) {
  process.stderr.write(`${NAME}: ${text}\n`);
}

// A protocol value: JSON has no NaN or infinities, the protocol writes them as strings.
function value(v) {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return v;
}

function gauge(name, help, v, unit) {
  return { name, type: 'gauge', help, ...(unit ? { unit } : {}), samples: [{ value: value(v) }] };
}

// One complete batch of families.
function collect() {
  collects += 1;
  const [load1, load5, load15] = os.loadavg();
  return [
    gauge('uptime_host_uptime_seconds', 'Time since the host booted.', os.uptime(), 'seconds'),
    gauge('uptime_plugin_uptime_seconds', 'Time since this plugin process started.',
      process.uptime(), 'seconds'),
    gauge('uptime_host_load1', '1-minute load average, as Node reports it.', load1),
    gauge('uptime_host_load5', '5-minute load average, as Node reports it.', load5),
    gauge('uptime_host_load15', '15-minute load average, as Node reports it.', load15),
    {
      name: 'uptime_plugin_collects_total',
      type: 'counter',
      help: 'Collect requests this plugin process answered.',
      samples: [{ value: collects }],
    },
  ];
}

// Answers one collect with `metrics`, or `error` when collecting throws; echoes its id.
function answer(id) {
  const withId = (type) => (id === undefined ? { type } : { type, id });
  let families;
  try {
    families = collect();
  } catch (e) {
    log(`collect failed: ${e && e.stack ? e.stack : e}`);
    send({ ...withId('error'), message: String(e && e.message ? e.message : e) });
    return;
  }
  send({ ...withId('metrics'), families });
}

// The exporter has gone: there is nobody left to answer.
process.stdout.on('error', (e) => process.exit(e.code === 'EPIPE' ? 0 : 1));

send({ type: 'hello', protocol: PROTOCOL, name: NAME, version: VERSION });

const input = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
input.on('line', (line) => {
  let msg;
  try {
    msg = JSON.parse(line);
  } catch (e) {
    msg = undefined;
  }
  if (msg === null || typeof msg !== 'object' || Array.isArray(msg)) {
    if (line.trim() !== '') log(`ignoring a line that is not a JSON object: ${line.slice(0, 200)}`);
    return;
  }
  switch (msg.type) {
    case 'hello':
      if (msg.protocol !== PROTOCOL) {
        log(`the host speaks protocol version ${msg.protocol}, this plugin only ${PROTOCOL}`);
        process.exit(1);
      }
      break;
    case 'collect':
      answer(msg.id);
      break;
    case 'shutdown':
      process.exit(0);
      break;
    default:
      // A message type of a later protocol version: ignore it.
      break;
  }
});
// stdin closed: the same as shutdown.
input.on('close', () => process.exit(0));
