# shellcheck shell=bash
# dockerd: Debian's docker.io (20.10), host networking only. It keeps its default socket
# (/var/run/docker.sock) and data root (/var/lib/docker), so a plain `docker` works; builds and
# containers must use the host network (`docker build --network host`, `docker run --network host`).

DOCKERD_FLAGS=(--bridge=none --iptables=false --ip6tables=false)
# dockerd starts its own containerd when no system one runs; it inherits dockerd's markers, and
# older checkouts found it through this file.
DOCKER_CONTAINERD_PID="/var/run/docker/containerd/containerd.pid"

docker_answers() { "$DOCKER" info >/dev/null 2>&1; }

dockerd_start() {
    command -v dockerd >/dev/null || die "dockerd not found (apt-get install docker.io)"
    command -v "$DOCKER" >/dev/null || die "docker client '$DOCKER' not found"
    if ! daemon_running dockerd "$RUN_DIR" dockerd >/dev/null && docker_answers; then
        log "a docker daemon already answers (not started by scripts/services); using it"
        return 0
    fi
    daemon_start dockerd "$RUN_DIR" docker_answers -- \
        dockerd "${DOCKERD_FLAGS[@]}" --pidfile "$RUN_DIR/dockerd.pid"
}

dockerd_stop() {
    local cpid
    if daemon_running dockerd "$RUN_DIR" dockerd >/dev/null; then
        cpid="$(legacy_pid "$DOCKER_CONTAINERD_PID" containerd)"
        daemon_stop dockerd "$RUN_DIR" dockerd
        [ -z "$cpid" ] || stop_pids "dockerd's containerd" "$cpid"
    elif docker_answers; then
        log "dockerd: the one that answers was not started by scripts/services; left running"
    fi
}

dockerd_status() {
    local pid
    if docker_answers; then
        pid="$(daemon_running dockerd "$RUN_DIR" dockerd || echo "not ours")"
        status_line dockerd up "pid $pid"
    else
        status_line dockerd down
        return 3
    fi
}
