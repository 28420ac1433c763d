#!/usr/bin/env bash
# make bench-embed-online: the query embedding of the module against the
# mock embeddings server (t/embed-mock.pl) adding a fixed latency to every
# request.  The same query over and over (its vector comes from the cache
# after the first request: the mock must count one call for the whole
# run), a new query on every request (one call each), and the lexical
# companion without any call, for comparison; 2 workers, wrk -c2.
set -euo pipefail

nginx_bin=$1
module=$2
cli=$3
dir=$4
n=${5:-10000}
port=${BENCH_PORT:-8089}
duration=${BENCH_DURATION:-10s}
latency=${EMBED_LATENCY_MS:-20}
dim=${EMBED_DIM:-64}
repo=$(cd "$(dirname "$0")/.." && pwd)

. "$repo/bench/lib.sh"

mkdir -p "$dir/logs" "$dir/tmp"

if [ ! -f "$dir/catalog-$n.jsonl" ]; then
    "$cli" gen --n "$n" --seed 11 --out "$dir/catalog-$n.jsonl"
fi

start_mock "$dir" "$dim" "$latency"
mock_url="http://127.0.0.1:$mock_port"

# the build needs no added latency
rm -rf "$dir/index-$n"
"$cli" build --catalog "$dir/catalog-$n.jsonl" --out "$dir/index-$n" \
    --embedder openai --endpoint "$mock_url/v1/embeddings?latency_ms=0" \
    --model mock --concurrency 4 --quiet

echo "== machine"
machine
echo "$("$nginx_bin" -v 2>&1), 2 workers; mock: dim $dim, $latency ms added per call"

{ nginx_conf_head "$module"; cat <<CONF; } > "$dir/nginx.conf"
    recsys_index $dir/index-$n;
    recsys_cache_zone recsys_cache:64m;
    recsys_metrics_zone recsys_metrics:1m;
    upstream embed {
        server 127.0.0.1:$mock_port;
        keepalive 8;
    }
    server {
        listen 127.0.0.1:$port;
        location = /recs {
            recsys;
            recsys_embed_location /_embed;
            recsys_embed_timeout 1s;
        }
        location = /lexical { recsys; }
        location = /_embed {
            internal;
            proxy_pass http://embed/v1/embeddings;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
        location = /metrics { recsys_metrics; }
    }
}
CONF

"$nginx_bin" -p "$dir/" -c "$dir/nginx.conf"
trap '"$nginx_bin" -p "$dir/" -c "$dir/nginx.conf" -s stop;
      kill $mock 2>/dev/null; wait $mock 2>/dev/null || true' EXIT
sleep 1

calls() {
    curl -s "$mock_url/stats" | sed 's/.*"requests":"\{0,1\}\([0-9]*\).*/\1/'
}

run() {
    local name=$1 path=$2 script=$3
    curl -s -X POST "$mock_url/reset" > /dev/null
    wrk -t1 -c2 -d"$duration" --latency ${script:+-s "$script"} \
        "http://127.0.0.1:$port$path" > "$dir/wrk-$name.txt"
    rps=$(awk '/Requests\/sec/ {print $2}' "$dir/wrk-$name.txt")
    total=$(awk '/requests in/ {print $1}' "$dir/wrk-$name.txt")
    p50=$(awk '$1 == "50%" {print $2}' "$dir/wrk-$name.txt")
    p99=$(awk '$1 == "99%" {print $2}' "$dir/wrk-$name.txt")
    printf "%-8s %9s req/s  p50 %8s  p99 %8s  %7s requests, %6s calls\n" \
        "$name" "$rps" "$p50" "$p99" "$total" "$(calls)"
}

echo
echo "== wrk -c2, $duration each; calls counted by the mock"

# the first request embeds "running shoes"; then every one is a cache hit
curl -s -X POST "$mock_url/reset" > /dev/null
curl -s "http://127.0.0.1:$port/recs?q=running+shoes&k=8" \
    | grep -o '"embed_source":"[a-z_]*"'
echo "warm-up: $(calls) call"

run hit "/recs?q=running+shoes&k=8" ""
run lexical "/lexical?q=running+shoes&k=8" ""
BENCH_PREFIX=$(date +%s | tr 0-9 a-j) run miss /recs "$repo/bench/unique.lua"

echo
curl -s "http://127.0.0.1:$port/metrics" \
    | grep -E '^recsys_embed_(calls_total|errors_total|seconds_count)|^recsys_cache_(hits|misses)_total'
