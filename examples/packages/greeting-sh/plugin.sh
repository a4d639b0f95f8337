#!/bin/sh
# greeting-sh: answers each collect with one gauge. Protocol: plugin-protocol/PROTOCOL.md.
greeting=hello
while IFS= read -r line; do
  case "$line" in
    '{"type":"hello"'*)
      g=$(printf '%s' "$line" | sed -n 's/.*"greeting":"\([^"]*\)".*/\1/p')
      [ -n "$g" ] && greeting=$g
      printf '{"type":"hello","protocol":1,"name":"greeting-sh","version":"0.1.0"}\n' ;;
    '{"type":"collect"'*)
      id=$(printf '%s' "$line" | sed -n 's/.*"id":\([0-9]*\).*/\1/p')
      printf '{"type":"metrics","id":%s,"families":[{"name":"greeting_sh_up","type":"gauge","help":"1 while greeting-sh runs.","samples":[{"labels":{"greeting":"%s"},"value":1}]}]}\n' "${id:-0}" "$greeting" ;;
    '{"type":"shutdown"'*) exit 0 ;;
  esac
done
