#!/usr/bin/env bash
# make bench: a 100,000-item generated catalogue (HNSW), the in-process
# ceiling from "recsys-index bench", then wrk against /recs and against a
# "return 200" location of the same nginx, two workers.
set -euo pipefail

nginx_bin=$1
module=$2
cli=$3
dir=$4
n=${5:-100000}
port=${BENCH_PORT:-8089}
duration=${BENCH_DURATION:-10s}
repo=$(cd "$(dirname "$0")/.." && pwd)

. "$repo/bench/lib.sh"

mkdir -p "$dir/logs" "$dir/tmp"

if [ ! -f "$dir/catalog-$n.jsonl" ]; then
    "$cli" gen --n "$n" --seed 11 --out "$dir/catalog-$n.jsonl"
fi

if [ ! -f "$dir/index-$n/manifest.json" ]; then
    "$cli" build --catalog "$dir/catalog-$n.jsonl" --out "$dir/index-$n" \
        --index hnsw
fi

echo "== machine"
machine
echo "$(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -sr), $("$nginx_bin" -v 2>&1)"

echo
echo "== recsys-index bench (one core, no HTTP)"
"$cli" bench "$dir/index-$n" --iterations 20000

{ nginx_conf_head "$module"; cat <<CONF; } > "$dir/nginx.conf"
    recsys_index $dir/index-$n;
    server {
        listen 127.0.0.1:$port;
        location = /recs { recsys; }
        location = /ok { return 200 "ok\n"; }
    }
}
CONF

"$nginx_bin" -p "$dir/" -c "$dir/nginx.conf"
trap '"$nginx_bin" -p "$dir/" -c "$dir/nginx.conf" -s stop' EXIT
sleep 1

run() {
    wrk -t1 -c"$3" -d"$duration" --latency -s "$repo/bench/rotate.lua" \
        "http://127.0.0.1:$port$1" > "$dir/wrk-$2-$3.txt"
    rps=$(awk '/Requests\/sec/ {print $2}' "$dir/wrk-$2-$3.txt")
    p50=$(awk '$1 == "50%" {print $2}' "$dir/wrk-$2-$3.txt")
    p99=$(awk '$1 == "99%" {print $2}' "$dir/wrk-$2-$3.txt")
    printf "%-6s %3s conns %10s req/s   p50 %8s   p99 %8s\n" \
        "$1" "$3" "$rps" "$p50" "$p99"
    eval "rps_$2=$rps"
}

# two connections keep one request in each worker: service latency;
# sixteen saturate both workers (wrk shares the two cores): throughput
for conns in 2 16; do
    echo
    echo "== wrk: $conns connections, $duration, 2 workers"
    run /ok ok "$conns"
    run /recs recs "$conns"
    awk -v a="$rps_recs" -v b="$rps_ok" \
        'BEGIN { printf "/recs throughput is %.1f%% of return 200\n", 100 * a / b }'
done
