#!/usr/bin/env bash
# The physical limit: nginx serving a file at /metrics. Prints nginx's master pid.
# usage: nginx_static.sh FILE PORT DIR   (DIR holds nginx's config, logs and pid file)
set -euo pipefail
file=$(readlink -f "$1"); port=$2; dir=$3
mkdir -p "$dir"
cat > "$dir/nginx.conf" <<CONF
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  keepalive_requests 1000000;
  types { text/plain prom; }
  server {
    listen 127.0.0.1:$port;
    location = /metrics { default_type "text/plain; version=0.0.4"; alias $file; }
  }
}
CONF
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
"$nginx_bin" -c "$dir/nginx.conf" -p "$dir" -g 'daemon on;'
for _ in $(seq 50); do [ -s "$dir/nginx.pid" ] && break; sleep 0.1; done
cat "$dir/nginx.pid"
