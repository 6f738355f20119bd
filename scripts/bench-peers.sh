#!/usr/bin/env bash
# Side-by-side benchmark: Chatty against nats-server, Redis pub/sub and ngIRCd.
#
# Installs the peers from Debian packages if they are missing, writes their
# configurations to a temporary directory, starts every server on 127.0.0.1
# only (single servers for fan-out and idle scale, three-server set-ups for
# chat, and for the join storm one Chatty server and three clustered ones),
# builds Chatty and the load generator in release mode, runs `compare`
# (bench/src/bin/compare/) once over everything, then the mass-failover
# benchmark (bench/src/bin/massfail/) if asked for, and kills every server
# on exit.
# The tables go to stdout; progress to stderr. BENCHMARKS.md explains each
# setting. Bounded: the generator gets at most BENCH_TIMEOUT seconds (600,
# or 1500 with the idle workload: two 20,000-client join storms per Chatty
# binary), massfail at most BENCH_MASSFAIL_TIMEOUT (900).
#
# Usage: scripts/bench-peers.sh [extra options for the generator, e.g. --duration 2,
#        or --rounds 5: each fan-out row five times, alternating the order]
#   BENCH_SYSTEMS="chatty nats redis irc chatty-irc"  which systems to run
#                                          (chatty-irc: Chatty's IRC gateway, on the
#                                          IRC workload beside ngIRCd)
#   BENCH_WORKLOADS="fanout chat idle"     which workloads to run; also "massfail"
#                                          (mass failover; Chatty only, its own servers
#                                          on free loopback ports)
#   BENCH_MASSFAIL_RUNS=5                  massfail runs per Chatty binary
#   BENCH_MASSFAIL_ARGS="--clients 300"    further massfail options (see its --help)
#   BENCH_PORT_BASE=24000                  first of 55 consecutive TCP/UDP ports used
#   BENCH_BASELINE=/path/to/old/chatty     also run this Chatty binary, labelled
#                                          "chatty (baseline)", beside the one built
#                                          here: an A/B of two builds in one run (every
#                                          workload, the join storms and massfail too;
#                                          with chatty-irc, its gateway's idle clients)
set -euo pipefail

cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/sbin:/sbin"
SYSTEMS=${BENCH_SYSTEMS:-"chatty nats redis irc chatty-irc"}
WORKLOADS=${BENCH_WORKLOADS:-"fanout chat idle"}
BASE=${BENCH_PORT_BASE:-24000}
IDLE_CLIENTS=${BENCH_IDLE_CLIENTS:-20000}

has() { [[ " $SYSTEMS " == *" $1 "* ]]; }
runs() { [[ " $WORKLOADS " == *" $1 "* ]]; }
if runs idle; then LIMIT=${BENCH_TIMEOUT:-1500}; else LIMIT=${BENCH_TIMEOUT:-600}; fi

# ---------------------------------------------------------------- install
missing=()
has nats && ! command -v nats-server >/dev/null && missing+=(nats-server)
has redis && ! command -v redis-server >/dev/null && missing+=(redis-server)
has irc && ! command -v ngircd >/dev/null && missing+=(ngircd)
if ((${#missing[@]})); then
    echo "installing ${missing[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

# The idle workload holds IDLE_CLIENTS connections in the generator and as
# many in the server; both inherit this limit. Without CAP_SYS_RESOURCE the
# hard limit cannot be raised, and the clients are capped below it.
want=$((IDLE_CLIENTS + 1024))
if (($(ulimit -Hn) < want)); then ulimit -Hn "$want" 2>/dev/null || true; fi
hard=$(ulimit -Hn)
ulimit -n $((hard < want ? hard : want))
if (($(ulimit -n) < IDLE_CLIENTS + 100)); then
    IDLE_CLIENTS=$(($(ulimit -n) - 100))
    echo "open-file hard limit $(ulimit -n): idle workload reduced to $IDLE_CLIENTS clients" >&2
fi

# ---------------------------------------------------------------- build
echo "building (release)…" >&2
bins=(--bin chatty --bin compare)
runs massfail && bins+=(--bin massfail)
cargo build --release --quiet -p chatty -p chatty-bench "${bins[@]}"
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
CHATTY="$TARGET_DIR/release/chatty"
GEN="$TARGET_DIR/release/compare"
MASSFAIL="$TARGET_DIR/release/massfail"

# ---------------------------------------------------------------- servers
TMP=$(mktemp -d /tmp/bench-peers.XXXXXX)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port() { echo $((BASE + $1)); }
for i in $(seq 0 54); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$(port "$i")") 2>/dev/null; then
        echo "port $(port "$i") is in use; set BENCH_PORT_BASE" >&2
        exit 1
    fi
done

# Starts a server in the background; records its pid in LAST_PID.
start() {
    local name=$1
    shift
    "$@" >"$TMP/$name.log" 2>&1 &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
}

wait_port() {
    local p=$1 pid=$2 name=$3
    for _ in $(seq 200); do
        (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && return 0
        kill -0 "$pid" 2>/dev/null || { echo "$name died:" >&2; cat "$TMP/$name.log" >&2; exit 1; }
        sleep 0.05
    done
    echo "$name is not listening on $p" >&2
    exit 1
}

FANOUT=() CHAT=() IDLE=()

# Chatty: no flood limit (--rate-limit 0), no history replay on join, the
# default 1,024-frame client queue. Every simulated client comes from
# 127.0.0.1, so the per-address cap is off (--max-per-ip 0) and the total
# cap is raised above the idle workload. Discovery multicast stays on
# loopback in a private group per set-up.
#
# Chatty also runs a second time with `--threads 1` (one worker thread
# instead of one per core), shown as "chatty (1 thread)": on these 2 cores,
# shared with the load generator, one thread avoids cross-thread wake-ups.
# The ratio columns are to the default configuration.
chatty_server() { # name listen-port group-port [extra flags…]
    chatty_binary "$CHATTY" "$@"
}
chatty_binary() { # binary name listen-port group-port [extra flags…]
    local bin=$1 name=$2 listen=$3 group=$4
    shift 4
    RUST_LOG=warn start "$name" "$bin" server --listen "127.0.0.1:$listen" --rate-limit 0 --history 0 \
        --max-per-ip 0 --max-connections $((IDLE_CLIENTS + 1000)) \
        --iface 127.0.0.1 --group "239.255.77.77:$group" "$@"
    wait_port "$listen" "$LAST_PID" "$name"
}
# The join storm spread over three clustered servers (clients round-robin):
# a set of its own, ports FIRST..FIRST+2, group FIRST+3.
idle3() { # name binary first-port label
    local name=$1 bin=$2 first=$3 label=$4 spec=""
    for i in 0 1 2; do
        chatty_binary "$bin" "$name-idle3-$i" "$(port $((first + i)))" "$(port $((first + 3)))"
        spec+="${spec:+,}127.0.0.1:$(port $((first + i)))@$LAST_PID"
    done
    IDLE+=("--idle" "chatty:$label=$spec")
}
if has chatty; then
    chatty_server chatty-fanout "$(port 0)" "$(port 1)"
    FANOUT+=("--fanout" "chatty=127.0.0.1:$(port 0)@$LAST_PID")
    chatty_server chatty-fanout-1t "$(port 8)" "$(port 9)" --threads 1
    FANOUT+=("--fanout" "chatty:1 thread=127.0.0.1:$(port 8)@$LAST_PID")
    spec=""
    spec1=""
    for i in 0 1 2; do
        chatty_server "chatty-chat$i" "$(port $((2 + i)))" "$(port 5)"
        spec+="${spec:+,}127.0.0.1:$(port $((2 + i)))@$LAST_PID"
        chatty_server "chatty-chat$i-1t" "$(port $((21 + i)))" "$(port 24)" --threads 1
        spec1+="${spec1:+,}127.0.0.1:$(port $((21 + i)))@$LAST_PID"
    done
    CHAT+=("--chat" "chatty=$spec" "--chat" "chatty:1 thread=$spec1")
    # And all 1,000 chat clients on one server, as on Redis: what the
    # three-server set-up costs shows in the difference.
    chatty_server chatty-chat-one "$(port 53)" "$(port 54)"
    CHAT+=("--chat" "chatty:1 server=127.0.0.1:$(port 53)@$LAST_PID")
    chatty_server chatty-idle "$(port 6)" "$(port 7)"
    IDLE+=("--idle" "chatty=127.0.0.1:$(port 6)@$LAST_PID")
    idle3 chatty "$CHATTY" 40 "3 servers"
fi
# The baseline build, for an A/B: fan-out and chat beside the default
# configuration above, on ports 30-39.
if has chatty && [[ -n ${BENCH_BASELINE:-} ]]; then
    chatty_binary "$BENCH_BASELINE" base-fanout "$(port 30)" "$(port 31)"
    FANOUT+=("--fanout" "chatty:baseline=127.0.0.1:$(port 30)@$LAST_PID")
    spec=""
    for i in 0 1 2; do
        chatty_binary "$BENCH_BASELINE" "base-chat$i" "$(port $((32 + i)))" "$(port 35)"
        spec+="${spec:+,}127.0.0.1:$(port $((32 + i)))@$LAST_PID"
    done
    CHAT+=("--chat" "chatty:baseline=$spec")
    chatty_binary "$BENCH_BASELINE" base-idle "$(port 36)" "$(port 37)"
    IDLE+=("--idle" "chatty:baseline=127.0.0.1:$(port 36)@$LAST_PID")
    idle3 base "$BENCH_BASELINE" 44 "baseline, 3 servers"
fi

# Chatty's IRC gateway: the Chatty servers above, each also with --irc and
# --irc-no-lobby (the IRC clients join only #bench, as on ngIRCd), on the
# IRC workload; fan-out on one server, chat across three clustered ones.
if has chatty-irc; then
    chatty_server chatty-irc-fanout "$(port 25)" "$(port 27)" --irc "127.0.0.1:$(port 26)" --irc-no-lobby
    wait_port "$(port 26)" "$LAST_PID" chatty-irc-fanout
    FANOUT+=("--fanout" "chatty-irc=127.0.0.1:$(port 26)@$LAST_PID")
    spec=""
    irc_ports=(28 29 38)
    for i in 0 1 2; do
        chatty_server "chatty-irc-chat$i" "$(port $((16 + i)))" "$(port 39)" \
            --irc "127.0.0.1:$(port "${irc_ports[$i]}")" --irc-no-lobby
        wait_port "$(port "${irc_ports[$i]}")" "$LAST_PID" "chatty-irc-chat$i"
        spec+="${spec:+,}127.0.0.1:$(port "${irc_ports[$i]}")@$LAST_PID"
    done
    CHAT+=("--chat" "chatty-irc=$spec")
    # Idle IRC clients (run with BENCH_IDLE_CLIENTS=1000: every JOIN is
    # announced to the channel, so 20,000 would not fit the time bound).
    chatty_server chatty-irc-idle "$(port 48)" "$(port 23)" --irc "127.0.0.1:$(port 49)" --irc-no-lobby
    wait_port "$(port 49)" "$LAST_PID" chatty-irc-idle
    IDLE+=("--idle" "chatty-irc=127.0.0.1:$(port 49)@$LAST_PID")
    # And the baseline build's gateway beside it, on ports 50-52.
    if [[ -n ${BENCH_BASELINE:-} ]]; then
        chatty_binary "$BENCH_BASELINE" base-irc-idle "$(port 50)" "$(port 51)" \
            --irc "127.0.0.1:$(port 52)" --irc-no-lobby
        wait_port "$(port 52)" "$LAST_PID" base-irc-idle
        IDLE+=("--idle" "chatty-irc:baseline=127.0.0.1:$(port 52)@$LAST_PID")
    fi
fi

# nats-server: 1 MiB payloads, 1 GiB pending per connection before a slow
# consumer is cut, 60 s write deadline, no connection cap below 100,000.
nats_conf() { # file client-port [cluster-port route-ports…]
    local file=$1 client=$2
    shift 2
    {
        echo "listen: 127.0.0.1:$client"
        echo "max_payload: 1048576"
        echo "max_pending: 1073741824"
        echo "write_deadline: \"60s\""
        echo "max_connections: 100000"
        if (($#)); then
            local cport=$1 routes=""
            shift
            for r in "$@"; do routes+="${routes:+, }nats-route://127.0.0.1:$r"; done
            echo "server_name: n$client"
            echo "cluster { name: bench, listen: 127.0.0.1:$cport, routes: [ $routes ] }"
        fi
    } >"$file"
}
if has nats; then
    nats_conf "$TMP/nats.conf" "$(port 10)"
    start nats-fanout nats-server -c "$TMP/nats.conf"
    wait_port "$(port 10)" "$LAST_PID" nats-fanout
    FANOUT+=("--fanout" "nats=127.0.0.1:$(port 10)@$LAST_PID")
    IDLE+=("--idle" "nats=127.0.0.1:$(port 10)@$LAST_PID")
    spec=""
    for i in 0 1 2; do
        others=()
        for j in 0 1 2; do ((j != i)) && others+=("$(port $((14 + j)))"); done
        nats_conf "$TMP/nats$i.conf" "$(port $((11 + i)))" "$(port $((14 + i)))" "${others[@]}"
        start "nats-chat$i" nats-server -c "$TMP/nats$i.conf"
        wait_port "$(port $((11 + i)))" "$LAST_PID" "nats-chat$i"
        spec+="${spec:+,}127.0.0.1:$(port $((11 + i)))@$LAST_PID"
    done
    CHAT+=("--chat" "nats=$spec")
fi

# redis-server: no output-buffer limit for pub/sub clients, no persistence.
if has redis; then
    cat >"$TMP/redis.conf" <<CONF
bind 127.0.0.1
port $(port 20)
daemonize no
save ""
appendonly no
dir $TMP
maxclients 60000
client-output-buffer-limit pubsub 0 0 0
CONF
    start redis redis-server "$TMP/redis.conf"
    wait_port "$(port 20)" "$LAST_PID" redis
    FANOUT+=("--fanout" "redis=127.0.0.1:$(port 20)@$LAST_PID")
    CHAT+=("--chat" "redis=127.0.0.1:$(port 20)@$LAST_PID")
    IDLE+=("--idle" "redis=127.0.0.1:$(port 20)@$LAST_PID")
fi

# ngIRCd: penalties off (MaxPenaltyTime = 0), no per-IP or total connection
# cap, no channel cap, long nicks, no DNS/ident look-ups, long ping timeouts.
# Its send queue (client write buffer) and read-buffer sizes are compile-time
# constants and cannot be raised. Three linked servers: irc0 is the hub and
# connects to irc1 and irc2.
ngircd_conf() { # index client-port [link lines…]
    local i=$1 p=$2
    shift 2
    mkdir -p "$TMP/ngircd.d"
    {
        echo "[Global]"
        echo "Name = irc$i.bench"
        echo "Info = bench"
        echo "Listen = 127.0.0.1"
        echo "Ports = $p"
        echo "PidFile = $TMP/ngircd$i.pid"
        echo "MotdPhrase = bench"
        echo "[Limits]"
        echo "MaxConnections = 0"
        echo "MaxConnectionsIP = 0"
        echo "MaxJoins = 0"
        echo "MaxNickLength = 30"
        echo "MaxPenaltyTime = 0"
        echo "PingTimeout = 600"
        echo "PongTimeout = 600"
        echo "ConnectRetry = 5"
        echo "[Options]"
        echo "DNS = no"
        echo "Ident = no"
        echo "PAM = no"
        echo "IncludeDir = $TMP/ngircd.d"
        printf '%s\n' "$@"
    } >"$TMP/ngircd$i.conf"
}
if has irc; then
    ngircd_conf s "$(port 30)"
    start irc-fanout ngircd -n -f "$TMP/ngircds.conf"
    wait_port "$(port 30)" "$LAST_PID" irc-fanout
    FANOUT+=("--fanout" "irc=127.0.0.1:$(port 30)@$LAST_PID")
    # Leaves: accept the hub's link (no Port: passive).
    for i in 1 2; do
        ngircd_conf "$i" "$(port $((31 + i)))" "[Server]" "Name = irc0.bench" "Host = 127.0.0.1" \
            "MyPassword = leaf$i" "PeerPassword = hub$i"
    done
    hub=()
    for i in 1 2; do
        hub+=("[Server]" "Name = irc$i.bench" "Host = 127.0.0.1" "Port = $(port $((31 + i)))"
            "MyPassword = hub$i" "PeerPassword = leaf$i")
    done
    ngircd_conf 0 "$(port 31)" "${hub[@]}"
    spec=()
    for i in 1 2 0; do
        start "irc-chat$i" ngircd -n -f "$TMP/ngircd$i.conf"
        wait_port "$(port $((31 + i)))" "$LAST_PID" "irc-chat$i"
        spec[i]="127.0.0.1:$(port $((31 + i)))@$LAST_PID"
    done
    CHAT+=("--chat" "irc=${spec[0]},${spec[1]},${spec[2]}")
    ngircd_conf idle "$(port 19)"
    start irc-idle ngircd -n -f "$TMP/ngircdidle.conf"
    wait_port "$(port 19)" "$LAST_PID" irc-idle
    IDLE+=("--idle" "irc=127.0.0.1:$(port 19)@$LAST_PID")
fi

args=()
runs fanout && args+=("${FANOUT[@]}")
runs chat && args+=("${CHAT[@]}")
runs idle && args+=("${IDLE[@]}")
echo "machine: $(nproc) cores, $(uname -r); servers logging to $TMP" >&2
status=0
if ((${#args[@]})); then
    timeout --kill-after=10 "$LIMIT" "$GEN" "${args[@]}" --idle-clients "$IDLE_CLIENTS" "$@" || status=$?
    if ((status != 0)); then
        echo "generator exited with status $status; server logs:" >&2
        tail -n 5 "$TMP"/*.log >&2 || true
    fi
fi

# Mass failover: massfail starts (and kills) its own three servers per run,
# on free loopback ports in a private multicast group.
if runs massfail && has chatty; then
    mf=(--chatty "chatty=$CHATTY")
    [[ -n ${BENCH_BASELINE:-} ]] && mf+=(--chatty "baseline=$BENCH_BASELINE")
    echo "massfail…" >&2
    read -r -a mf_extra <<<"${BENCH_MASSFAIL_ARGS:-}"
    timeout --kill-after=10 "${BENCH_MASSFAIL_TIMEOUT:-900}" "$MASSFAIL" "${mf[@]}" \
        --runs "${BENCH_MASSFAIL_RUNS:-5}" "${mf_extra[@]}" || status=$?
fi
exit "$status"
