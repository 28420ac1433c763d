#!/usr/bin/env bash
# make demo: nginx in the foreground on 127.0.0.1:8080 with the JSON API
# example (lua-free-examples/json-api/nginx.conf), its prefix under
# build/demo laid out as lua-free-examples/README.md describes: the Makefile
# has built the index in PREFIX/index, this links the module into
# PREFIX/modules.  Ctrl-C stops it.
set -euo pipefail

nginx_bin=$1
module=$2
prefix=$3
repo=$(cd "$(dirname "$0")/.." && pwd)
conf=$repo/lua-free-examples/json-api/nginx.conf

mkdir -p "$prefix/modules" "$prefix/logs" "$prefix/tmp"
ln -sf "$module" "$prefix/modules/ngx_http_recsys_module.so"

# in the foreground, errors on the terminal as well as in logs/error.log
globals='daemon off; error_log stderr notice;'

"$nginx_bin" -t -q -p "$prefix/" -c "$conf" -g "$globals"

cat <<MSG

ngx_recsys demo: $(grep -c '' "$prefix/catalog.jsonl") generated products on http://127.0.0.1:8080

  curl '127.0.0.1:8080/recs?q=running+shoes+under+100'
  curl '127.0.0.1:8080/recs?q=running+shoes&max_price=100&in_stock=1&explain=1'
  curl '127.0.0.1:8080/similar/SKU-000042'

Access log: $prefix/logs/access.log.  Ctrl-C stops it.

MSG

exec "$nginx_bin" -p "$prefix/" -c "$conf" -g "$globals"
