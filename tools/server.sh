# Sourced by the benchmark scripts: start_server BIN DIR PORT starts a
# one-member server (oxcd's or etcd's, same flags) on 127.0.0.1:PORT (peers
# on PORT+1), logging to DIR.log, waits until /health answers, and sets
# SERVER_PID.
start_server() {
    local bin=$1 dir=$2 port=$3
    "$bin" --data-dir "$dir" --listen-client-urls "http://127.0.0.1:$port" \
        --advertise-client-urls "http://127.0.0.1:$port" \
        --listen-peer-urls "http://127.0.0.1:$((port + 1))" \
        --initial-advertise-peer-urls "http://127.0.0.1:$((port + 1))" \
        --initial-cluster "default=http://127.0.0.1:$((port + 1))" >"$dir.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 100); do
        curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "server $bin did not become healthy; see $dir.log" >&2
    return 1
}
