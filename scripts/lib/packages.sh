# shellcheck shell=bash
# Debian packages the services and the tests need, installed once (apt-get, as root).
#   services: Docker Engine 20.10 and the registry, debootstrap for the base images, runc, the CNI
#             plugins, iptables and conntrack for the node, openssl for the clusters' certificates
#   tests:    chromium (browser tests drive it with Playwright: executable_path
#             /usr/lib/chromium/chromium), shellcheck (scripts/test checks scripts/ with it)

SERVICE_PACKAGES=(docker.io docker-registry debootstrap debian-archive-keyring ca-certificates
    iproute2 curl openssl runc containernetworking-plugins iptables conntrack kmod)
TEST_PACKAGES=(chromium shellcheck)

packages_missing() {
    local pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || echo "$pkg"
    done
}

packages_install() {
    local -a missing
    mapfile -t missing < <(packages_missing "${SERVICE_PACKAGES[@]}" "${TEST_PACKAGES[@]}")
    [ "${#missing[@]}" -eq 0 ] && return 0
    log "installing: ${missing[*]} (chromium takes about a minute and upgrades some packages)"
    mkdir -p "$RUN_DIR"
    export DEBIAN_FRONTEND=noninteractive
    # Lists may be missing on a fresh machine; refresh once, then install.
    apt-get update -qq >/dev/null || die "apt-get update failed"
    # policy-rc.d keeps the packages' init scripts from starting daemons on their own (the Debian
    # registry would listen on all interfaces).
    local policy=/usr/sbin/policy-rc.d created_policy=0 rc=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' > "$policy"
        chmod 755 "$policy"
        created_policy=1
    fi
    apt-get install -y -qq --no-install-recommends -o Dpkg::Use-Pty=0 "${missing[@]}" \
        > "$RUN_DIR/apt.log" 2>&1 || rc=$?
    [ "$created_policy" -eq 1 ] && rm -f "$policy"
    if [ "$rc" -ne 0 ]; then
        show_log_tail "$RUN_DIR/apt.log"
        die "apt-get install failed (exit $rc)"
    fi
}
