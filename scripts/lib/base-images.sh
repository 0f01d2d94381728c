# shellcheck shell=bash
# Stand-ins for the example's base images (python:3.11-slim, python:3.11): nothing can be pulled
# here, so a Debian bookworm tree made by debootstrap (Python 3.11) is imported into the local
# docker once, shaped like the official images (python/pip on PATH, pip allowed to install into
# the system Python, the host's CAs, apt sources, no docs).

# Image names the stand-in answers to. The first one is imported, the others are tags of it.
STANDIN_IMAGES=("python:3.11-slim" "python:3.11")
STANDIN_SUITE="bookworm"
STANDIN_PACKAGES="python3,python3-pip,python3-venv,ca-certificates"
HOST_CA_BUNDLE="/etc/ssl/certs/ca-certificates.crt"
ROOTFS_DIR="$CACHE_DIR/rootfs/$STANDIN_SUITE-python3"
ROOTFS_MARKER="$ROOTFS_DIR.complete"     # beside the tree, so it is not imported

images_present() {
    local img
    for img in "${STANDIN_IMAGES[@]}"; do
        "$DOCKER" image inspect "$img" >/dev/null 2>&1 || return 1
    done
}

# debian_mirror [SUITE]: the mirror apt already uses for SUITE (default
# $STANDIN_SUITE), from deb822 or one-line sources; prints nothing if none.
debian_mirror() {
    local suite="${1:-$STANDIN_SUITE}" f uri
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -r "$f" ] || continue
        # print the first URI of a stanza whose Suites include the suite itself
        uri="$(awk -v suite="$suite" '
            function flush() { if (ok && u != "") { print u; found = 1; exit } ; u = ""; ok = 0 }
            /^[[:space:]]*$/ { flush(); next }
            tolower($1) == "uris:"   { u = $2 }
            tolower($1) == "suites:" { for (i = 2; i <= NF; i++) if ($i == suite) ok = 1 }
            END { if (!found) flush() }' "$f")"
        [ -n "$uri" ] && { echo "$uri"; return; }
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -r "$f" ] || continue
        uri="$(awk -v suite="$suite" '
            $1 == "deb" { i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
                          if ($(i + 1) == suite) { print $i; exit } }' "$f")"
        [ -n "$uri" ] && { echo "$uri"; return; }
    done
    return 0
}

# Remove a (possibly partial) debootstrap tree, unmounting anything left inside.
remove_rootfs() {
    [ -e "$ROOTFS_DIR" ] || return 0
    local m
    while read -r m; do
        umount -l "$m" 2>/dev/null || true
    done < <(awk -v d="$ROOTFS_DIR" 'index($2, d "/") == 1 { print $2 }' /proc/mounts | sort -r)
    rm -rf --one-file-system "$ROOTFS_DIR"
}

build_rootfs() {
    if [ -f "$ROOTFS_MARKER" ] && [ -x "$ROOTFS_DIR/usr/bin/python3" ]; then
        log "reusing debootstrap tree $ROOTFS_DIR"
        return 0
    fi
    rm -f "$ROOTFS_MARKER"
    remove_rootfs
    mkdir -p "$(dirname "$ROOTFS_DIR")"
    local mirror t0
    mirror="${VALOHAI_DEBIAN_MIRROR:-$(debian_mirror)}"
    mirror="${mirror:-http://deb.debian.org/debian}"
    t0=$SECONDS
    log "debootstrap --variant=minbase $STANDIN_SUITE from $mirror into $ROOTFS_DIR (about a minute)"
    if ! debootstrap --variant=minbase --include="$STANDIN_PACKAGES" \
            "$STANDIN_SUITE" "$ROOTFS_DIR" "$mirror" > "$RUN_DIR/debootstrap.log" 2>&1; then
        show_log_tail "$RUN_DIR/debootstrap.log"
        [ -r "$ROOTFS_DIR/debootstrap/debootstrap.log" ] && show_log_tail "$ROOTFS_DIR/debootstrap/debootstrap.log"
        remove_rootfs
        die "debootstrap failed (see $RUN_DIR/debootstrap.log)"
    fi
    log "debootstrap done in $((SECONDS - t0))s"
    touch "$ROOTFS_MARKER"
}

# Make the tree behave like the official python images (idempotent).
customize_rootfs() {
    local r="$ROOTFS_DIR"
    mkdir -p "$r/usr/local/bin"
    [ -e "$r/usr/bin/python" ] || [ -e "$r/usr/local/bin/python" ] || ln -s /usr/bin/python3 "$r/usr/local/bin/python"
    [ -e "$r/usr/bin/pip" ]    || [ -e "$r/usr/local/bin/pip" ]    || ln -s /usr/bin/pip3 "$r/usr/local/bin/pip"
    # PEP 668 marker: official images let `pip install` into the system Python.
    rm -f "$r"/usr/lib/python3*/EXTERNALLY-MANAGED
    # Trust the same CAs as the host (pip inside builds reaches PyPI through them).
    if [ -r "$HOST_CA_BUNDLE" ]; then
        mkdir -p "$r$(dirname "$HOST_CA_BUNDLE")"
        rm -f "$r$HOST_CA_BUNDLE"
        cp "$HOST_CA_BUNDLE" "$r$HOST_CA_BUNDLE"
        # Also keep the host's CAs that Debian does not ship as local CAs, so
        # that an update-ca-certificates run inside a build (e.g. triggered by
        # `apt-get install ca-certificates`) does not drop them again.
        local extra="$r/usr/local/share/ca-certificates"
        mkdir -p "$extra"
        rm -f "$extra"/host-ca-*.crt
        awk -v out="$extra/host-ca-" '
            FNR == 1 { file++ }
            /-----BEGIN CERTIFICATE-----/ { in_cert = 1; key = ""; pem = $0 "\n"; next }
            in_cert { pem = pem $0 "\n" }
            /-----END CERTIFICATE-----/ {
                in_cert = 0
                if (file == 1) known[key] = 1
                else if (!(key in known)) { n++; printf "%s", pem > (out n ".crt"); close(out n ".crt") }
                next
            }
            in_cert { gsub(/[[:space:]]/, ""); key = key $0 }
        ' <(cat "$r"/usr/share/ca-certificates/*/*.crt 2>/dev/null) "$HOST_CA_BUNDLE"
    else
        log "warning: host CA bundle $HOST_CA_BUNDLE not found; keeping the rootfs' own"
    fi
    # Keep it small: apt lists/caches and logs, and (as Debian's -slim images
    # do) docs, man pages and translations, also for packages installed later.
    rm -rf "$r"/var/lib/apt/lists/* "$r"/var/cache/apt/*.bin "$r"/var/cache/apt/archives/*.deb \
           "$r"/var/cache/apt/archives/partial/* "$r"/var/log/apt/* "$r"/var/log/dpkg.log \
           "$r"/var/log/bootstrap.log "$r"/var/log/alternatives.log "$r"/tmp/* "$r"/root/.cache
    mkdir -p "$r/var/lib/apt/lists/partial"
    # apt inside builds: the release plus its updates and security suites, from
    # the mirrors the host uses (debootstrap itself only used the release).
    local mirror security
    mirror="$(awk '$1 == "deb" { print $2; exit }' "$r/etc/apt/sources.list" 2>/dev/null || true)"
    mirror="${mirror:-${VALOHAI_DEBIAN_MIRROR:-$(debian_mirror)}}"
    security="$(debian_mirror "$STANDIN_SUITE-security")"
    if [ -n "$mirror" ]; then
        {
            echo "deb $mirror $STANDIN_SUITE main"
            echo "deb $mirror $STANDIN_SUITE-updates main"
            [ -z "$security" ] || echo "deb $security $STANDIN_SUITE-security main"
        } > "$r/etc/apt/sources.list"
    fi
    find "$r/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete 2>/dev/null || true
    find "$r/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
    rm -rf "$r"/usr/share/man/* "$r"/usr/share/info/* "$r"/usr/share/locale/* "$r"/usr/share/lintian
    mkdir -p "$r/etc/dpkg/dpkg.cfg.d"
    cat > "$r/etc/dpkg/dpkg.cfg.d/docker-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
EOF
}

base_images_start() {
    if images_present; then
        log "base images present: ${STANDIN_IMAGES[*]}"
        return 0
    fi
    local primary="${STANDIN_IMAGES[0]}" img
    if ! "$DOCKER" image inspect "$primary" >/dev/null 2>&1; then
        build_rootfs
        customize_rootfs
        log "importing $ROOTFS_DIR as $primary"
        tar -C "$ROOTFS_DIR" --numeric-owner -c . \
            | "$DOCKER" import \
                --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
                --change 'ENV LANG=C.UTF-8' \
                --change 'CMD ["python3"]' \
                - "$primary" >/dev/null \
            || die "docker import of $ROOTFS_DIR failed"
    fi
    for img in "${STANDIN_IMAGES[@]:1}"; do
        "$DOCKER" tag "$primary" "$img"
    done
    log "base images ready: ${STANDIN_IMAGES[*]} ($("$DOCKER" image inspect -f '{{.Size}}' "$primary" | awk '{printf "%.0f MB", $1/1e6}'))"
}

base_images_status() {
    if ! docker_answers; then
        status_line "base images" down "dockerd not running"; return 3
    elif images_present; then
        status_line "base images" up "${STANDIN_IMAGES[*]}"
    else
        status_line "base images" down "missing; run: scripts/services start"; return 3
    fi
}
