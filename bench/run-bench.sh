#!/usr/bin/env bash
# make bench: a 100,000-item generated catalogue (HNSW), the in-process
# ceiling from "recsys-index bench", then wrk against /recs and against a
# "return 200" location of the same nginx, two workers.  The cache and
# LLM figures are bench/run-cache-bench.sh and bench/run-llm-bench.sh.
set -euo pipefail

nginx_bin=$1
module=$2
cli=$3
dir=$4
n=${5:-100000}
port=${BENCH_PORT:-8089}

. "$(dirname "$0")/lib.sh"

bench_index
bench_machine

echo
echo "== recsys-index bench (one core, no HTTP)"
"$cli" bench "$dir/index-$n" --iterations 20000

bench_nginx_start http "" "        location = /recs { recsys; }"
trap bench_nginx_stop EXIT

# two connections keep one request in each worker: service latency;
# sixteen saturate both workers (wrk shares the two cores): throughput
for conns in 2 16; do
    echo
    echo "== wrk: $conns connections, $duration, 2 workers"
    bench_wrk /ok ok "$conns"
    bench_wrk /recs recs "$conns"
    awk -v a="$rps_recs" -v b="$rps_ok" \
        'BEGIN { printf "/recs throughput is %.1f%% of return 200\n", 100 * a / b }'
done
