#!/usr/bin/env bash
# make bench-cache: the result cache's tiers on the 100,000-item index,
# the same /recs workload (the 32 queries, k=8) three ways: a hit in the
# shared memory zone (recsys_cache on, recsys_cache_zone), a hit in Redis
# (recsys_cache on, recsys_redis and no zone: every request asks Redis),
# and a miss (recsys_cache off: every request searches).  First wrk at 2
# and 16 connections (throughput), then bench-paced at a fixed 1,000
# requests/s (latency, where the Redis round trip shows).  A real
# redis-server on a spare port; nginx with two workers.
set -euo pipefail

nginx_bin=$1
module=$2
cli=$3
paced=$4
dir=$5
n=${6:-100000}
port=${BENCH_PORT:-8089}
redis_port=${BENCH_REDIS_PORT:-$((port + 2))}
rate=${BENCH_RATE:-1000}

. "$(dirname "$0")/lib.sh"

bench_index
bench_machine
echo "redis: $(redis-server --version | awk '{print $3}')"

mkdir -p "$dir/redis"
redis-server --port "$redis_port" --bind 127.0.0.1 --save "" \
    --appendonly no --dir "$dir/redis" --logfile "$dir/redis/redis.log" \
    < /dev/null > /dev/null 2>&1 &
redis=$!

bench_stop_on_exit "$redis"

for _ in $(seq 50); do
    redis-cli -p "$redis_port" ping > /dev/null 2>&1 && break
    sleep 0.1
done

locations='
        location = /recs {
            recsys;
            recsys_cache on;
            add_header X-Cache $recsys_cache_status;
        }
        location = /recs-miss {
            recsys;
            add_header X-Cache $recsys_cache_status;
        }'

# the zone's nginx on $port, Redis's on $port + 3: both run, so the paced
# runs can alternate between them
shm_port=$port
redis_nginx_port=$((port + 3))

bench_nginx_start cache-shm "    recsys_cache_zone recsys_cache:64m;" \
    "$locations"
port=$redis_nginx_port bench_nginx_start cache-redis \
    "    recsys_redis 127.0.0.1:$redis_port;" "$locations"

# every query once, then one of them must say the expected status
warm() {
    local status

    while read -r q; do
        curl -s -o /dev/null "http://127.0.0.1:$1/recs?q=$q&k=8"
    done < "$bench_queries"

    status=$(curl -s -o /dev/null -D - \
                 "http://127.0.0.1:$1$2?q=camping+tent&k=8" \
             | awk -F': ' 'tolower($1) == "x-cache" {print $2}' | tr -d '\r')

    if [ "$status" != "$3" ]; then
        echo "expected X-Cache \"$3\" on port $1 $2, got \"$status\"" >&2
        exit 1
    fi
}

warm "$shm_port" /recs HIT
warm "$shm_port" /recs-miss ""
warm "$redis_nginx_port" /recs HIT
redis-cli -p "$redis_port" config resetstat > /dev/null

echo
echo "== wrk, $duration each: shm hit, Redis hit (no zone), miss (recsys_cache off)"

for conns in 2 16; do
    bench_wrk /recs "shm_$conns" "$conns"
    port=$redis_nginx_port bench_wrk /recs "redis_$conns" "$conns"
    bench_wrk /recs-miss "miss_$conns" "$conns"
done

echo
echo "== bench-paced at $rate requests/s, 16 connections, 20 s each, in turn"

bench_paths /recs > "$dir/paths-recs.txt"

for i in 1 2 3; do
    bench_paced "shm_paced_$i" "$rate" 20 16 "$dir/paths-recs.txt"
    port=$redis_nginx_port \
        bench_paced "redis_paced_$i" "$rate" 20 16 "$dir/paths-recs.txt"
done

requests=$(awk '/requests in/ {n += $1} END {print n}' \
               "$dir"/wrk-redis_*.txt)
echo "Redis GETs: $(redis-cli -p "$redis_port" info commandstats \
    | awk -F'[:=,]' '/^cmdstat_get:/ {print $3}') for" \
    "$requests wrk requests and $((3 * 22 * rate)) paced ones"

bench_nginx_stop

echo
echo "== summary"
for conns in 2 16; do
    eval "s=\$rps_shm_$conns r=\$rps_redis_$conns m=\$rps_miss_$conns"
    awk -v s="$s" -v r="$r" -v m="$m" -v c="$conns" 'BEGIN {
        printf "%2d conns: shm hit %s, Redis hit %s, miss %s req/s", c, s, r, m
        printf " (shm %.1fx, Redis %.1fx the miss)\n", s / m, r / m }'
done
awk -v s="$p99_shm_paced_1 $p99_shm_paced_2 $p99_shm_paced_3" \
    -v r="$p99_redis_paced_1 $p99_redis_paced_2 $p99_redis_paced_3" \
    -v rate="$rate" '
    function median(list,    a, n, i, j, t) {
        n = split(list, a)
        for (i = 1; i <= n; i++)
            for (j = i + 1; j <= n; j++)
                if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
        return a[int((n + 1) / 2)]
    }
    BEGIN {
        ms = median(s); mr = median(r)
        printf "p99 at %d req/s, median of three: shm hit %.3f ms, Redis hit %.3f ms: Redis adds %.3f ms\n",
               rate, ms, mr, mr - ms
    }'
