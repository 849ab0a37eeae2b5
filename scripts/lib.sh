# Shared by scripts/demo and scripts/test: make sure the system packages the build needs are
# there (Pingora's zlib-ng needs cmake), installing them with apt when missing.

need_packages() {
    local missing=()
    local pair cmd pkg
    for pair in "$@"; do
        cmd=${pair%%:*}
        pkg=${pair##*:}
        command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "installing ${missing[*]} with apt-get" >&2
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || {
            echo "need root or sudo to install: ${missing[*]}" >&2
            exit 1
        }
        sudo="sudo"
    fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Waits until URL answers HTTP (any status), polling for up to TRIES tenths of a second
# (default 100); fails when it never does.
wait_http() {
    local url=$1 tries=${2:-100}
    for _ in $(seq 1 "$tries"); do
        curl -s -o /dev/null "$url" && return 0
        sleep 0.1
    done
    return 1
}
