# Sourced by the benchmark scripts: start_server BIN DIR PORT starts a
# one-member server (oxcd's or etcd's, same flags) on 127.0.0.1:PORT (peers
# on PORT+1), logging to DIR.log, waits until /health answers, and sets
# SERVER_PID. SERVER_PREFIX is put before BIN (a valgrind command line,
# say); SERVER_WAIT is how many tenths of a second to wait (default 100).
start_server() {
    local bin=$1 dir=$2 port=$3
    # shellcheck disable=SC2086 # SERVER_PREFIX is a command line
    ${SERVER_PREFIX:-} "$bin" --data-dir "$dir" --listen-client-urls "http://127.0.0.1:$port" \
        --advertise-client-urls "http://127.0.0.1:$port" \
        --listen-peer-urls "http://127.0.0.1:$((port + 1))" \
        --initial-advertise-peer-urls "http://127.0.0.1:$((port + 1))" \
        --initial-cluster "default=http://127.0.0.1:$((port + 1))" >"$dir.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq "${SERVER_WAIT:-100}"); do
        curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "server $bin did not become healthy; see $dir.log" >&2
    return 1
}

# start_cluster BIN DIR PORT N starts an N-member cluster on loopback:
# member i serves clients on PORT+10*i and peers on PORT+10*i+1; waits
# until every member's /health answers, and sets CLUSTER_PIDS and
# CLUSTER_ENDPOINTS.
start_cluster() {
    local bin=$1 dir=$2 port=$3 n=$4 i cluster=""
    for ((i = 0; i < n; i++)); do
        cluster+="${cluster:+,}m$i=http://127.0.0.1:$((port + 10 * i + 1))"
    done
    CLUSTER_PIDS=(); CLUSTER_ENDPOINTS=()
    for ((i = 0; i < n; i++)); do
        local c=$((port + 10 * i)) p=$((port + 10 * i + 1))
        "$bin" --name "m$i" --data-dir "$dir-m$i" \
            --listen-client-urls "http://127.0.0.1:$c" \
            --advertise-client-urls "http://127.0.0.1:$c" \
            --listen-peer-urls "http://127.0.0.1:$p" \
            --initial-advertise-peer-urls "http://127.0.0.1:$p" \
            --initial-cluster "$cluster" --initial-cluster-state new >"$dir-m$i.log" 2>&1 &
        CLUSTER_PIDS+=("$!"); CLUSTER_ENDPOINTS+=("127.0.0.1:$c")
    done
    for ((i = 0; i < n; i++)); do
        local ok=""
        for _ in $(seq 200); do
            curl -sf "http://${CLUSTER_ENDPOINTS[$i]}/health" >/dev/null 2>&1 && { ok=1; break; }
            sleep 0.1
        done
        [ -n "$ok" ] || { echo "member $i of $bin did not become healthy; see $dir-m$i.log" >&2; return 1; }
    done
}
