# shellcheck shell=bash
# Start a daemon, wait until it answers, remember its pid, stop it: the one way scripts/services
# runs each process it owns (dockerd, the registry, every cluster component, the node's daemons,
# the router, the metrics servers).
#
#   daemon_start ID DIR READY [--env K=V]... [--watch FILE]... -- COMMAND ARGS...
#   daemon_stop ID DIR COMM
#   daemon_running ID DIR COMM          prints the daemon's pid if it runs
#   daemon_sweep COMM TEXT               stops processes named COMM whose command line holds TEXT
#
# ID names the service (`cluster/second/etcd`, `node/kubelet`, `router/traefik`); its last part
# names the files in DIR: NAME.pid (the daemon's own pid), NAME.log, NAME.fingerprint.
#
# Each daemon runs in a session of its own (setsid: a Ctrl-C of the caller does not reach it) with
# two variables in its environment, which whatever it spawns inherits:
#     VALOHAI_SERVICE=<ID>
#     VALOHAI_SERVICE_HOME=<cache dir>      two cache dirs never stop each other's daemons
# A service's processes are found by these markers in /proc/<pid>/environ, not by its pid file:
# a pid file can be stale, missing, or left by a start that failed half-way. Right after
# `setsid CMD &`, `$!` names a forked copy of this script, then setsid, and only once both have
# exec'd, CMD: judging the process by /proc/$!/comm at that moment (what these scripts once did)
# calls a daemon that is still exec'ing "exited during start-up" whenever the machine is busy.
# Here a start watches its own child (alive until it exits, whatever it has exec'd) and the
# markers, and writes the pid file only once the daemon answers.
#
# Daemons an older checkout of these scripts started carry no markers: they are found through
# their pid file (checked against COMM) and, by daemon_sweep, through their command line.
#
# A daemon that runs with another command line, environment or config file (--watch) than the one
# asked for is restarted: the fingerprint of what started it is kept beside its pid file.

DAEMON_MARK="VALOHAI_SERVICE"

# daemon_scan: "PID ID" for every live process that carries our markers for this cache dir.
# (A zombie's environ reads empty, so exited processes never show.)
daemon_scan() {
    { grep -aHz -e "^$DAEMON_MARK=" -e "^${DAEMON_MARK}_HOME=" /proc/[0-9]*/environ 2>/dev/null || true; } \
        | tr '\0' '\n' \
        | awk -v home="$CACHE_DIR" -v mark="$DAEMON_MARK" '
            {
                i = index($0, ":"); split(substr($0, 1, i - 1), path, "/"); kv = substr($0, i + 1)
                if (index(kv, mark "_HOME=") == 1) homes[path[3]] = substr(kv, length(mark) + 7)
                else ids[path[3]] = substr(kv, length(mark) + 2)
            }
            END { for (pid in ids) if (homes[pid] == home) print pid, ids[pid] }'
}

# daemon_pids ID [COMM]: live processes marked ID (with COMM: only those whose command is COMM;
# the kernel keeps 15 characters of a command's name, e.g. victoria-metric).
daemon_pids() {
    local pid id comm
    while read -r pid id; do
        [ "$id" = "$1" ] || continue
        if [ -n "${2:-}" ]; then
            comm="$(cat "/proc/$pid/comm" 2>/dev/null)" || continue
            [ "$comm" = "${2:0:15}" ] || continue
        fi
        echo "$pid"
    done < <(daemon_scan)
}

# daemon_ids_under PREFIX: the IDs of live marked processes that start with PREFIX.
daemon_ids_under() {
    daemon_scan | awk -v p="$1" 'index($2, p) == 1 { print $2 }' | sort -u
}

pid_is_live() { # PID: exists and is not a zombie
    [[ "$1" =~ ^[0-9]+$ ]] && [ -e "/proc/$1" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}

# legacy_pid FILE COMM: the pid in FILE if that process lives and runs COMM (pid files of older
# checkouts, whose daemons carry no markers).
legacy_pid() {
    local pid
    [ -r "$1" ] || return 0
    pid="$(tr -dc '0-9' < "$1")"
    pid_is_live "$pid" && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "${2:0:15}" ] && echo "$pid"
    return 0
}

daemon_running() { # ID DIR COMM
    local pids
    pids="$({ daemon_pids "$1" "$3"; legacy_pid "$2/${1##*/}.pid" "$3"; } | sort -un)"
    [ -n "$pids" ] || return 1
    echo "$pids" | head -n 1
}

# stop_pids LABEL PID...: SIGTERM, up to STOP_TIMEOUT for them to exit, then SIGKILL.
stop_pids() {
    local label="$1" i pid
    local -a left=()
    shift
    for pid in "$@"; do pid_is_live "$pid" && left+=("$pid"); done
    [ ${#left[@]} -gt 0 ] || return 0
    set -- "${left[@]}"
    log "stopping $label (pid $*)"
    kill -TERM "$@" 2>/dev/null || true
    for ((i = 0; i < STOP_TIMEOUT * 5; i++)); do
        left=()
        for pid in "$@"; do pid_is_live "$pid" && left+=("$pid"); done
        [ ${#left[@]} -eq 0 ] && return 0
        sleep 0.2
    done
    log "$label (pid ${left[*]}) did not exit within ${STOP_TIMEOUT}s; sending SIGKILL"
    kill -KILL "${left[@]}" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        left=()
        for pid in "$@"; do pid_is_live "$pid" && left+=("$pid"); done
        [ ${#left[@]} -eq 0 ] && return 0
        sleep 0.2
    done
    die "$label (pid ${left[*]}) is still running after SIGKILL"
}

# daemon_stop ID DIR COMM: the daemon first, then whatever it spawned that is still running.
daemon_stop() {
    local id="$1" dir="$2" comm="$3" name="${1##*/}"
    local -a main rest
    mapfile -t main < <({ daemon_pids "$id" "$comm"; legacy_pid "$dir/$name.pid" "$comm"; } | sort -un)
    stop_pids "$id" "${main[@]}"
    mapfile -t rest < <(daemon_pids "$id")
    stop_pids "what $id started" "${rest[@]}"
    rm -f "$dir/$name.pid" "$dir/$name.fingerprint"
}

# daemon_sweep COMM TEXT: stop processes running COMM with TEXT in their command line, marked or
# not: the last net for daemons whose pid file an older checkout lost.
daemon_sweep() {
    local comm="$1" text="$2" file pid
    local -a pids=()
    while read -r file; do
        pid="${file#/proc/}"
        pid="${pid%/cmdline}"
        [ "$pid" != "$$" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "${comm:0:15}" ] && pids+=("$pid")
    done < <(grep -lzaF -- "$text" /proc/[0-9]*/cmdline 2>/dev/null || true)
    stop_pids "$comm processes of $text" "${pids[@]}"
}

# close_inherited_fds: close every descriptor but stdin, stdout and stderr. A daemon would hold
# whatever it inherits for its whole life: a lock its caller holds (our own, or a lock file the
# caller took with `flock LOCK scripts/services start`) would never be released.
close_inherited_fds() {
    local fd
    for fd in /proc/"$BASHPID"/fd/*; do
        fd="${fd##*/}"
        [ "$fd" -gt 2 ] && eval "exec $fd>&-"
    done
    return 0
}

daemon_start() {
    local id="$1" dir="$2" ready="$3" name="${1##*/}"
    shift 3
    local -a env=() watch=()
    while [ "${1:-}" != "--" ]; do
        case "${1:-}" in
            --env) env+=("$2"); shift 2 ;;
            --watch) watch+=("$2"); shift 2 ;;
            *) die "daemon_start $id: unexpected '${1:-}' (options: --env K=V, --watch FILE, then --)" ;;
        esac
    done
    shift
    local pidfile="$dir/$name.pid" logfile="$dir/$name.log" fpfile="$dir/$name.fingerprint"
    local comm want pid
    comm="$(basename "$1")"
    comm="${comm:0:15}"
    # The binary behind a symlink is part of it too: a new toolchain build restarts its daemons.
    want="$({ readlink -f "$(command -v "$1")"; printf '%s\0' "$@" -- "${env[@]}"; [ ${#watch[@]} -eq 0 ] || cat "${watch[@]}"; } \
        | sha256sum | cut -d' ' -f1)"
    if pid="$(daemon_running "$id" "$dir" "$comm")"; then
        if [ "$(cat "$fpfile" 2>/dev/null)" != "$want" ]; then
            log "restarting $id: it runs with another command line or configuration"
        elif daemon_wait_ready "$ready" "$pid"; then
            log "$id already running (pid $pid)"
            echo "$pid" > "$pidfile"
            return 0
        else
            log "restarting $id: it runs (pid $pid) but does not answer"
        fi
        daemon_stop "$id" "$dir" "$comm"
    fi
    mkdir -p "$dir"
    log "starting $id (log: $logfile)"
    (
        close_inherited_fds
        exec setsid env "$DAEMON_MARK=$id" "${DAEMON_MARK}_HOME=$CACHE_DIR" "${env[@]}" "$@"
    ) >> "$logfile" 2>&1 < /dev/null &
    local child=$! deadline=$((SECONDS + START_TIMEOUT))
    # shellcheck disable=SC2086 # READY is a command with its arguments
    until $ready; do
        if ! pid_is_live "$child" && [ -z "$(daemon_pids "$id")" ]; then
            show_log_tail "$logfile"
            die "$id exited during start-up (see $logfile)"
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            show_log_tail "$logfile"
            die "$id did not answer within ${START_TIMEOUT}s (see $logfile)"
        fi
        sleep 0.3
    done
    pid="$(daemon_pids "$id" "$comm" | head -n 1)"
    echo "${pid:-$child}" > "$pidfile"
    echo "$want" > "$fpfile"
}

# daemon_wait_ready READY PID: wait (up to START_TIMEOUT) for a running daemon to answer.
daemon_wait_ready() {
    local ready="$1" pid="$2" deadline=$((SECONDS + START_TIMEOUT))
    # shellcheck disable=SC2086 # READY is a command with its arguments
    until $ready; do
        pid_is_live "$pid" && [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 0.3
    done
}
