#!/usr/bin/env bash
# make bench-llm: the LLM narrative modes on the 100,000-item index with
# the mock model (t/mock-llm.pl) answering every call after 2 s.
#
#   async:      wrk on recsys_narrative off and on async in turn, three
#               times, with a hot set (the 32 queries) and a long tail
#               (every 10th request a query never asked before), so
#               misses and background calls go on for the whole run; the
#               calls the mock received; then off again while
#               bench/mock-load.pl keeps the mock as busy as the async
#               runs did (the control: the mock's share of the two cores)
#   sync:       wrk (2 connections) on a recsys_narrative sync location
#               over queries whose narratives are cached (no call),
#               alone, then beside a paced stream of 20 requests/s of new
#               queries to the same location, each waiting for the model,
#               and beside the same stream to a location that calls no
#               model (the control: the same work without the waiting)
#   keep-alive: a client sending two requests, the first of which starts
#               a background call: the module's answer (Connection: close
#               and a half-close) against what keep-alive behind a
#               background subrequest costs (nginx's mirror, which keeps
#               the connection), and against no call at all
#
# The mock forks a Perl process per connection and shares the two cores
# with nginx and wrk: it spends 1 to 3 ms of CPU on a call.
set -euo pipefail

nginx_bin=$1
module=$2
cli=$3
paced=$4
dir=$5
n=${6:-100000}
port=${BENCH_PORT:-8089}
mock_port=${BENCH_LLM_PORT:-$((port + 1))}
delay=${BENCH_LLM_DELAY:-2}
every=${BENCH_LLM_EVERY:-10}
stream=${BENCH_LLM_STREAM:-20}

. "$(dirname "$0")/lib.sh"

bench_index
bench_machine

mkdir -p "$dir/llm"
: > "$dir/llm/mock.log"
perl "$bench_repo/t/mock-llm.pl" --port "$mock_port" --delay "$delay" \
    --log "$dir/llm/mock.log" < /dev/null > "$dir/llm/mock.out" 2>&1 &
mock=$!

bench_stop_on_exit "$mock"

for _ in $(seq 50); do
    curl -sf "http://127.0.0.1:$mock_port/health" > /dev/null && break
    sleep 0.1
done

echo "mock: t/mock-llm.pl --delay $delay"

# the mock logs a line per call (its /_stats would parse the whole log)
mock_calls() {
    wc -l < "$dir/llm/mock.log"
}

llm='        recsys_llm_location /_llm;
            recsys_llm_model mock;'

bench_nginx_start llm "
    recsys_cache_zone recsys_cache:64m;
    recsys_cache_ttl 1h;
    upstream llm {
        server 127.0.0.1:$mock_port;
        keepalive 1024;
    }" "
        location = /recs-off { recsys; recsys_narrative off; }
        location = /recs-template { recsys; recsys_narrative template; }
        location = /recs-async {
            recsys;
            recsys_narrative async;
    $llm
        }
        location = /recs-sync {
            recsys;
            recsys_narrative sync;
    $llm
            add_header X-Narrative \$recsys_narrative_source;
        }
        location = /recs-mirror {
            recsys;
            mirror /_mirror;
        }
        location = /_llm {
            internal;
            proxy_pass http://llm/v1/chat/completions;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
            proxy_set_header Cookie \"\";
            proxy_read_timeout 10s;
        }
        location = /_mirror {
            internal;
            proxy_method POST;
            proxy_set_header Content-Type application/json;
            proxy_set_body '{\"model\":\"mock\",\"messages\":[{\"role\":\"user\",\"content\":\"probe\"}]}';
            proxy_pass http://llm/v1/chat/completions;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
            proxy_read_timeout 10s;
        }"

# --- async against off

echo
echo "== async: wrk, 16 connections, $duration each, every ${every}th request a new query"

# one wrk run over the hot set and the RUN-th slice of the long tail
tail_run() {
    local mode=$1 run=$2 m0 m1 c0 calls requests

    m0=$(bench_cpu "$mock")
    c0=$(mock_calls)

    bench_wrk "/recs-$mode" "${mode}_$run" 16 \
        "$bench_repo/bench/tail.lua" "$bench_queries" \
        "$dir/llm/tail-$run.txt" "$every"

    # the calls started in the run are answered after it
    sleep $((delay + 2))
    m1=$(bench_cpu "$mock")
    calls=$(( $(mock_calls) - c0 ))
    eval "calls_${mode}_$run=$calls"

    requests=$(awk '/requests in/ {print $1}' "$dir/wrk-${mode}_$run-16.txt")
    awk -v r="$requests" -v m0="$m0" -v m1="$m1" -v c="$calls" \
        -v e="$every" 'BEGIN {
        printf "    %d requests (%d new queries), %d LLM calls, mock CPU %.1f s\n",
               r, int(r / e), c, m1 - m0 }'
}

secs=${duration%s}

for run in 1 2 3; do
    bench_tail_paths "" $(( (run - 1) * 2500 )) 2500 > "$dir/llm/tail-$run.txt"
    tail_run off "$run"
    tail_run async "$run"
    eval "o=\$rps_off_$run a=\$rps_async_$run"
    awk -v o="$o" -v a="$a" -v r="$run" 'BEGIN {
        printf "run %d: async is %.1f%% of off\n", r, 100 * a / o }'
done

# The control: off again, while the mock is kept as busy as in the async
# runs (as many calls a second, the same prompt) by a client of its own:
# what the mock's share of the two cores costs, the module aside
perl -MJSON::PP -ne 'print JSON::PP->new->utf8->canonical->encode(
        JSON::PP->new->utf8->decode($_)->{request}); exit' \
    "$dir/llm/mock.log" > "$dir/llm/prompt.json"
load=$(( (calls_async_1 + calls_async_2 + calls_async_3) * delay / (3 * secs) ))

perl "$bench_repo/bench/mock-load.pl" --port "$mock_port" \
    --body "$dir/llm/prompt.json" --connections "$load" \
    --seconds $((secs + 2)) > "$dir/llm/mock-load.txt" &
loader=$!
sleep 1
cp "$dir/llm/tail-1.txt" "$dir/llm/tail-load.txt"
tail_run off load
wait "$loader"
echo "    beside bench/mock-load.pl: $(cat "$dir/llm/mock-load.txt")" \
     "on $load connections"

# --- sync: the requests that call no model keep their latency

echo
echo "== sync: wrk on /recs-sync over the 32 queries, 2 connections, $duration;"
echo "   their narratives are cached (the async runs), so none calls the model;"
echo "   beside a stream of $stream new queries a second to /recs-template, then /recs-sync"

source=$(curl -s -o /dev/null -D - \
             "http://127.0.0.1:$port/recs-sync?q=camping+tent&k=8" \
         | awk -F': ' 'tolower($1) == "x-narrative" {print $2}' | tr -d '\r')
[ "$source" = cache ] || echo "!! /recs-sync answered from \"$source\", not the cache"

# queries the async runs did not ask (their narratives are cached)
bench_tail_paths /recs-sync 7500 1000 > "$dir/llm/stream-sync.txt"
bench_tail_paths /recs-template 7500 1000 > "$dir/llm/stream-template.txt"

# wrk on /recs-sync while the stream of STREAM_FILE runs
beside() {
    "$paced" --port "$port" --rate "$stream" --duration "$((secs + 4))" \
        --connections 128 --timeout 10 --paths "$2" \
        > "$dir/paced-stream-$1.txt" &
    local p=$!

    sleep 2
    bench_wrk /recs-sync "$1" 2
    wait "$p"
    printf "%-22s %s\n" "  its stream" "$(cat "$dir/paced-stream-$1.txt")"
}

bench_wrk /recs-sync alone 2
beside control "$dir/llm/stream-template.txt"
beside sync "$dir/llm/stream-sync.txt"

# every request of the stream must have waited for the model
awk '{for (i = 1; i < NF; i++) if ($i == "p50" && $(i + 1) < 1400)
          print "!! the sync stream did not wait for the model"}' \
    "$dir/paced-stream-sync.txt"
sleep $((delay + 1))

# --- keep-alive

echo
echo "== keep-alive: two requests, the first starts a background call"

ka() {
    echo "-- $1"
    perl "$bench_repo/bench/keepalive.pl" --port "$port" --rounds 10 \
        --first "$2" --second "/recs-template?q=camping+tent&k=8" \
        | tail -4
}

ka "no background call (/recs-template twice)" \
    "/recs-template?q=camping+tent+r%d&k=8"
ka "recsys_narrative async, a miss: Connection: close and a half-close" \
    "/recs-async?q=camping+tent+r%d&k=8"
ka "a background subrequest that keeps the connection (mirror)" \
    "/recs-mirror?q=camping+tent+r%d&k=8"

echo
echo "== summary"
awk -v o="$rps_off_1 $rps_off_2 $rps_off_3" \
    -v a="$rps_async_1 $rps_async_2 $rps_async_3" \
    -v co="$cpu_off_1 $cpu_off_2 $cpu_off_3" \
    -v ca="$cpu_async_1 $cpu_async_2 $cpu_async_3" 'BEGIN {
    split(o, O); split(a, A); split(co, CO); split(ca, CA)
    for (i = 1; i <= 3; i++) {
        so += O[i]; sa += A[i]; sco += CO[i]; sca += CA[i]
    }
    printf "async/off throughput: %.1f%%, %.1f%%, %.1f%%; of the sums %.1f%%\n",
           100 * A[1] / O[1], 100 * A[2] / O[2], 100 * A[3] / O[3],
           100 * sa / so
    printf "nginx CPU per request: off %.0f us, async %.0f us (means of three)\n",
           sco / 3, sca / 3 }'
awk -v l="$rps_off_load" -v a="$rps_async_1 $rps_async_2 $rps_async_3" 'BEGIN {
    split(a, A)
    printf "off beside the mock kept busy: %s req/s, async (mean) %.0f req/s: %.1f%%\n",
           l, (A[1] + A[2] + A[3]) / 3, 100 * (A[1] + A[2] + A[3]) / 3 / l }'
echo "p99 of cached /recs-sync: alone $p99_alone, beside the template stream" \
     "$p99_control, beside the stream waiting on the model $p99_sync"
