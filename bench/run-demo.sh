#!/usr/bin/env bash
# make demo: nginx in the foreground on 127.0.0.1:8080 with basic.conf,
# its prefix under build/demo.  Ctrl-C stops it.
set -euo pipefail

nginx_bin=$1
prefix=$3
repo=$(cd "$(dirname "$0")/.." && pwd)
conf=$repo/lua-free-examples/basic.conf

mkdir -p "$prefix/logs" "$prefix/tmp"

"$nginx_bin" -t -q -p "$prefix/" -c "$conf"

cat <<MSG

ngx_recsys demo: $(grep -c '' "$prefix/catalog.jsonl") generated products on http://127.0.0.1:8080

  curl '127.0.0.1:8080/recs?q=running+shoes+under+100'
  curl '127.0.0.1:8080/recs?q=running+shoes&max_price=100&in_stock=1&explain=1'
  curl '127.0.0.1:8080/similar/SKU-000042'

Ctrl-C stops it.

MSG

exec "$nginx_bin" -p "$prefix/" -c "$conf"
