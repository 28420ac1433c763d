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
