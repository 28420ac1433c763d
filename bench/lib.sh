# Sourced by the bench scripts: what they share.  $repo is the project.

# the machine, for the figures' record
machine() {
    echo "$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
}


# start_mock DIR DIM LATENCY_MS: the mock embeddings server on a free
# port, stopped when the script exits; sets mock (its pid) and mock_port
start_mock() {
    rm -f "$1/mock.port"
    perl "$repo/t/embed-mock.pl" --port 0 --port-file "$1/mock.port" \
        --state "$1/mock-state" --dim "$2" --latency-ms "$3" --quiet &
    mock=$!
    trap 'kill $mock 2>/dev/null; wait $mock 2>/dev/null || true' EXIT

    for _ in $(seq 100); do
        [ -f "$1/mock.port" ] && break
        sleep 0.05
    done

    mock_port=$(cat "$1/mock.port")
}


# the top of a benchmark's nginx.conf, up to inside its http block: two
# workers, the prefix's logs and temporary files
nginx_conf_head() {
    cat <<CONF
load_module $1;
worker_processes 2;
error_log logs/error.log warn;
pid logs/nginx.pid;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path tmp/client_body;
    proxy_temp_path tmp/proxy;
    fastcgi_temp_path tmp/fastcgi;
    uwsgi_temp_path tmp/uwsgi;
    scgi_temp_path tmp/scgi;
CONF
}


# What the HTTP, cache and LLM benchmark scripts share; sourced after
# they set nginx_bin, module, cli, dir, n and port.  Every nginx runs with two
# workers and a prefix under $dir; every figure comes with the machine.

bench_repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
duration=${BENCH_DURATION:-10s}
bench_nginx_running=()

# nginx runs in a prefix of its own: the paths it is given must not be
# relative (the offline embedding run has no module)
if [ -n "${module:-}" ]; then
    module=$(realpath "$module")
fi
dir=$(realpath -m "$dir")

# the 32 shopper queries every HTTP run rotates over
bench_queries=$bench_repo/bench/queries.txt


# the generated catalogue and its HNSW index, made once per size
bench_index() {
    mkdir -p "$dir"

    if [ ! -f "$dir/catalog-$n.jsonl" ]; then
        "$cli" gen --n "$n" --seed 11 --out "$dir/catalog-$n.jsonl"
    fi

    if [ ! -f "$dir/index-$n/manifest.json" ]; then
        "$cli" build --catalog "$dir/catalog-$n.jsonl" --out "$dir/index-$n" \
            --index hnsw
    fi
}


bench_machine() {
    echo "== machine"
    echo "$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
    echo "$(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -sr), $("$nginx_bin" -v 2>&1)"
}


# bench_nginx_start NAME HTTP_CONFIG SERVER_CONFIG: nginx in $dir/NAME,
# listening on $port, with the index loaded and the given http-level and
# server-level lines; several may run at once (on different ports).
# "reuseport": without it the connections wrk opens at once mostly land
# on one worker (EPOLLEXCLUSIVE wakes one), which halves the throughput
# of a run at random; with it the kernel spreads them.  A connection
# lasts the run (keepalive_requests), so the spread stays as it began.
bench_nginx_start() {
    local prefix=$dir/$1

    mkdir -p "$prefix/logs" "$prefix/tmp"

    cat > "$prefix/nginx.conf" <<CONF
load_module $module;
worker_processes 2;
worker_rlimit_nofile 16384;
error_log logs/error.log warn;
pid logs/nginx.pid;
events { worker_connections 8192; }
http {
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path tmp/client_body;
    proxy_temp_path tmp/proxy;
    fastcgi_temp_path tmp/fastcgi;
    uwsgi_temp_path tmp/uwsgi;
    scgi_temp_path tmp/scgi;
    recsys_index $dir/index-$n;
$2
    server {
        listen 127.0.0.1:$port reuseport;
        location = /ok { return 200 "ok\n"; }
$3
    }
}
CONF

    : > "$prefix/logs/error.log"
    "$nginx_bin" -p "$prefix/" -c "$prefix/nginx.conf"
    bench_nginx_running+=("$prefix")
    sleep 1
}


# bench_stop_on_exit PID: at exit, stop every nginx started and the
# helper PID (Redis, the mock model) the script started
bench_stop_on_exit() {
    bench_helper=$1
    trap bench_stop_all EXIT
}


bench_stop_all() {
    bench_nginx_stop
    kill "$bench_helper" 2>/dev/null
    wait "$bench_helper" 2>/dev/null || true
}


# bench_nginx_stop [NAME]: stops that nginx (default: every one started)
# and says whether its error log has anything worse than a warning
bench_nginx_stop() {
    local prefix keep=()

    for prefix in "${bench_nginx_running[@]}"; do
        if [ $# -gt 0 ] && [ "$prefix" != "$dir/$1" ]; then
            keep+=("$prefix")
            continue
        fi

        "$nginx_bin" -p "$prefix/" -c "$prefix/nginx.conf" -s stop
        sleep 1

        if grep -E '\[(error|crit|alert|emerg)\]|signal [0-9]+' \
                "$prefix/logs/error.log" > "$prefix/logs/problems.txt"; then
            echo "!! $(wc -l < "$prefix/logs/problems.txt") error lines in" \
                 "$prefix/logs/error.log, the first:"
            head -3 "$prefix/logs/problems.txt"
        fi
    done

    bench_nginx_running=("${keep[@]}")
}


# the master pid of the running nginx that listens on $port
bench_master() {
    local prefix

    for prefix in "${bench_nginx_running[@]}"; do
        if grep -q "listen 127.0.0.1:$port " "$prefix/nginx.conf"; then
            cat "$prefix/logs/nginx.pid"
            return
        fi
    done
}


# bench_spread PID: how the connections of client PID to $port are spread
# over the nginx processes, most first: "9+7"
bench_spread() {
    { ss -tnpH state established "( dport = :$port )" | grep "pid=$1,"
      echo --
      ss -tnpH state established "( sport = :$port )"; } \
    | awk '$1 == "--" { server = 1; next }
           !server { client[$3] = 1; next }
           ($4 in client) && match($0, /pid=[0-9]+/) {
               n[substr($0, RSTART, RLENGTH)]++ }
           END { for (p in n) print n[p] }' \
    | sort -rn | paste -sd+
}


# bench_wrk PATH LABEL CONNS [SCRIPT ARGS...]: one wrk run over the
# queries (rotate.lua unless a script is given); prints a line (with how
# the connections were spread over the workers: "9+7") and sets
# rps_LABEL, p50_LABEL, p99_LABEL (latencies as wrk prints them) and
# cpu_LABEL, the CPU time nginx's workers spent per request in
# microseconds (steadier than the rate on a shared machine)
bench_wrk() {
    local path=$1 label=$2 conns=$3 out master cpu0 cpu1 try wrk spread
    shift 3

    if [ $# -eq 0 ]; then
        set -- "$bench_repo/bench/rotate.lua" "$bench_queries"
    fi

    out=$dir/wrk-$label-$conns.txt
    master=$(bench_master)

    # two connections are meant to be one in each worker: a run where
    # the kernel gave both to one worker starts again (five tries)
    for try in 1 2 3 4 5; do
        cpu0=$(bench_cpu "$master")
        wrk -t1 -c"$conns" -d"$duration" --latency -s "$1" \
            "http://127.0.0.1:$port$path" -- "${@:2}" > "$out" &
        wrk=$!

        sleep 0.5
        spread=$(bench_spread "$wrk")

        if [ "$conns" -ne 2 ] || [ "$spread" = "1+1" ] || [ "$try" = 5 ]; then
            wait "$wrk"
            break
        fi

        kill "$wrk"
        wait "$wrk" 2>/dev/null || true
    done

    cpu1=$(bench_cpu "$master")
    eval "rps_$label=$(awk '/Requests\/sec/ {print $2}' "$out")"
    eval "p50_$label=$(awk '$1 == "50%" {print $2}' "$out")"
    eval "p99_$label=$(awk '$1 == "99%" {print $2}' "$out")"
    eval "cpu_$label=$(awk -v a="$cpu0" -v b="$cpu1" \
        '/requests in/ {printf "%.0f", 1e6 * (b - a) / $1}' "$out")"

    printf "%-16s %3s conns (%5s) %9s req/s  p50 %8s  p99 %8s  CPU %5s us/req%s\n" \
        "$label" "$conns" "$spread" "$(eval echo "\$rps_$label")" \
        "$(eval echo "\$p50_$label")" "$(eval echo "\$p99_$label")" \
        "$(eval echo "\$cpu_$label")" \
        "$(awk '/Non-2xx|Socket errors/ {printf "   (%s)", $0}' "$out")"
}


# bench_paced LABEL RATE SECONDS CONNS PATHS_FILE: bench-paced at a fixed
# rate; prints its line and sets p99_LABEL (ms)
bench_paced() {
    local label=$1 out

    out=$dir/paced-$label.txt
    "$paced" --port "$port" --rate "$2" --duration "$3" --warmup 2 \
        --connections "$4" --paths "$5" > "$out"

    printf "%-22s %s\n" "$label" "$(cat "$out")"
    eval "p99_$label=$(awk '{for (i = 1; i < NF; i++) if ($i == "p99") print $(i + 1)}' "$out")"
}


# bench_paths PREFIX: the 32 queries as paths under PREFIX, k=8
bench_paths() {
    sed "s|^|$1?q=|; s|\$|\&k=8|" "$bench_queries"
}


# bench_tail_paths PREFIX FIRST COUNT: COUNT distinct queries (a query, a
# modifier and k from 5 to 12: 10,240 in all) from the FIRST-th on, as
# paths under PREFIX; distinct queries have distinct cache keys
bench_tail_paths() {
    local mods="black blue red green white grey pink brown small large
                compact premium budget durable portable classic modern kids
                mens womens outdoor travel professional beginner wireless
                leather cotton steel wooden organic vintage deluxe lightweight
                heavy waterproof foldable slim quiet eco family"

    for k in 5 6 7 8 9 10 11 12; do
        for m in $mods; do
            sed "s|^|$1?q=|; s|\$|+$m\&k=$k|" "$bench_queries"
        done
    done | awk -v first="$2" -v count="$3" \
               'NR > first && NR <= first + count'  # reads all: no SIGPIPE
}


# bench_cpu PID...: the CPU seconds (user and system, with the children
# they have reaped) the processes and their live children have used
bench_cpu() {
    local pids=("$@") p

    for p in "$@"; do
        pids+=($(pgrep -P "$p" || true))
    done

    for p in "${pids[@]}"; do
        cat "/proc/$p/stat" 2>/dev/null || true
    done | sed 's/^.*) //' | awk -v hz="$(getconf CLK_TCK)" '
        { t += $12 + $13 + $14 + $15 }     # utime stime cutime cstime
        END { printf "%.2f\n", t / hz }'
}
