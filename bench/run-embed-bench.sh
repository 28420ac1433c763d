#!/usr/bin/env bash
# make bench-embed: offline embedding throughput of "recsys-index build
# --embedder openai" against the mock embeddings server (t/embed-mock.pl)
# adding a fixed latency to every request, at one and at four requests in
# flight.  Each run starts from an empty directory, so nothing comes from
# a checkpoint.
set -euo pipefail

cli=$1
dir=$2
n=${3:-10000}
latency=${EMBED_LATENCY_MS:-20}
dim=${EMBED_DIM:-64}
batch=${EMBED_BATCH:-64}
repo=$(cd "$(dirname "$0")/.." && pwd)

. "$repo/bench/lib.sh"

mkdir -p "$dir"

if [ ! -f "$dir/catalog-$n.jsonl" ]; then
    "$cli" gen --n "$n" --seed 11 --out "$dir/catalog-$n.jsonl"
fi

start_mock "$dir" "$dim" "$latency"
url="http://127.0.0.1:$mock_port/v1/embeddings"

echo "== machine"
machine
echo "mock: dim $dim, $latency ms added per request"
echo "$n items in batches of $batch"

TIMEFORMAT="recsys-index: %R s wall, %U s user, %S s system"

for c in 1 4; do
    rm -rf "$dir/index-c$c"
    echo
    echo "== --concurrency $c"
    time "$cli" build --catalog "$dir/catalog-$n.jsonl" \
        --out "$dir/index-c$c" --embedder openai --endpoint "$url" \
        --model mock --batch "$batch" --concurrency "$c" --index flat \
        2> "$dir/build.log"
    grep "items embedded" "$dir/build.log"
done
