# shellcheck shell=bash
# What every piece of scripts/services shares: where state lives, logging, time limits, the lock.
# Sourced first by scripts/services (after scripts/env.sh), which sets REPO_ROOT.

CACHE_DIR="${VALOHAI_DEPLOY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/valohai-deployments}"
RUN_DIR="$CACHE_DIR/run"
# Seconds per daemon. Generous: on a busy machine the API server alone can take a minute, and a
# daemon that dies is noticed at once anyway (lib/daemon.sh watches its process).
START_TIMEOUT="${VALOHAI_SERVICES_START_TIMEOUT:-180}"
STOP_TIMEOUT="${VALOHAI_SERVICES_STOP_TIMEOUT:-40}"     # seconds per daemon
DOCKER="${DOCKER:-docker}"

log() { printf '[services] %s\n' "$*" >&2; }
die() { printf '[services] ERROR: %s\n' "$*" >&2; exit 1; }

need_root() {
    [ "$(id -u)" -eq 0 ] || die "'$1' must run as root (it installs packages and runs daemons)"
}

show_log_tail() {
    local file="$1"
    if [ -s "$file" ]; then
        printf '[services] ---- last lines of %s ----\n' "$file" >&2
        tail -n 25 "$file" >&2
        printf '[services] ----\n' >&2
    fi
}

# http_ok URL [CURL ARGS...]: the URL answers 2xx within 2 seconds.
http_ok() {
    local url="$1"
    shift
    curl -fsS --max-time 2 "$@" "$url" >/dev/null 2>&1
}

# One start/stop at a time. Daemons start with every inherited descriptor closed (lib/daemon.sh),
# so they never hold this lock, nor one their caller took.
with_lock() {
    mkdir -p "$RUN_DIR"
    exec 9> "$RUN_DIR/lock"
    flock -w 600 9 || die "another 'scripts/services' is still running (lock $RUN_DIR/lock)"
}

# write_file FILE: stdin into FILE, only if that changes it. kube-proxy exits whenever its config
# file is written, even with the same content, and a start rewrites every config it owns.
write_file() {
    local tmp="$1.new"
    cat > "$tmp"
    if cmp -s "$tmp" "$1"; then rm -f "$tmp"; else mv "$tmp" "$1"; fi
}

# status_line NAME STATE [DETAIL]: one line of `scripts/services status`.
status_line() {
    printf '%-26s %s\n' "$1" "$2${3:+ ($3)}"
}
