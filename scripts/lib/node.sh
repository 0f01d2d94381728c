# shellcheck shell=bash
# A real node for the local cluster: containerd (built from the Go module proxy), Debian's runc
# and CNI plugins, and the kubelet and kube-proxy of the `kube` binary, each run by lib/daemon.sh
# as `node/<name>`. Uses the `local` cluster's CA and kubeconfigs (lib/cluster.sh, lib/pki.sh).
#
# Everything stays on this machine: pods live on the bridge vd-cni0 (10.88.0.0/24), service
# addresses (10.96.0.0/16) are routed onto that bridge, pods resolve names through a
# resolv.conf that points at their own loopback, and a FORWARD rule drops anything a pod sends
# beyond the pod and service ranges. node_stop undoes all of it: processes, bridge, iptables
# chains, mounts, cgroups and the sysctls the kubelet changes.
#
# The node's address is the bridge's own, 10.88.0.1: the kubelet registers it as its InternalIP
# and serves its API there (port 10250) with a certificate the cluster CA signed for that IP, so
# the API server (logs, exec, port-forward; --kubelet-certificate-authority) and metrics-server
# reach it with TLS verified. An INPUT rule admits that address only from this machine and from
# pods: nothing off the machine reaches the kubelet.

NODE_NAME="local-node"
POD_CIDR="10.88.0.0/24"
POD_GATEWAY="10.88.0.1"
NODE_BRIDGE="vd-cni0"
NODE_IP="$POD_GATEWAY"
EGRESS_CHAIN="VALOHAI-POD-EGRESS"
INGRESS_CHAIN="VALOHAI-NODE-INPUT"
PAUSE_IMAGE="valohai.local/pause:3.10"
NODE_PACKAGES=(runc containernetworking-plugins iptables conntrack openssl)
# What the kubelet, kube-proxy and the bridge plugin may change on the host; saved before the
# first start and restored by node_stop.
NODE_SYSCTLS=(vm.overcommit_memory kernel.panic kernel.panic_on_oops net.ipv4.ip_forward
    net.bridge.bridge-nf-call-iptables net.ipv4.conf.all.route_localnet)

node_vars() {
    NODE_DIR="$CACHE_DIR/node"
    NODE_RUN="/run/valohai-deployments"
    CONTAINERD_SOCK="$NODE_RUN/containerd/containerd.sock"
    KUBELET_DIR="/var/lib/valohai-deployments/kubelet"
}

ctr_k8s() { ctr --address "$CONTAINERD_SOCK" --namespace k8s.io "$@"; }

containerd_ready() { ctr --address "$CONTAINERD_SOCK" version >/dev/null 2>&1; }
kubelet_ready() { curl -fsS --max-time 2 http://127.0.0.1:10248/healthz >/dev/null 2>&1; }
kube_proxy_ready() { curl -fsS --max-time 2 http://127.0.0.1:10256/healthz >/dev/null 2>&1; }

save_sysctls() {
    local saved="$NODE_DIR/sysctls.saved" key
    [ -s "$saved" ] && return 0
    for key in "${NODE_SYSCTLS[@]}"; do
        if sysctl -n "$key" >/dev/null 2>&1; then echo "$key=$(sysctl -n "$key")"; fi
    done > "$saved"
}

restore_sysctls() {
    local saved="$NODE_DIR/sysctls.saved" line
    [ -s "$saved" ] || return 0
    while IFS= read -r line; do sysctl -q -w "$line" >/dev/null 2>&1 || true; done < "$saved"
    rm -f "$saved"
}

write_containerd_config() {
    mkdir -p "$NODE_DIR/containerd/certs.d/$REGISTRY_ADDR" "$NODE_DIR/cni/net.d" "$NODE_RUN/containerd"
    cat > "$NODE_DIR/containerd/certs.d/$REGISTRY_ADDR/hosts.toml" <<EOF
server = "http://$REGISTRY_ADDR"

[host."http://$REGISTRY_ADDR"]
  capabilities = ["pull", "resolve"]
EOF
    write_file "$NODE_DIR/containerd/config.toml" <<EOF
version = 3
root = "$NODE_DIR/containerd/root"
state = "$NODE_RUN/containerd/state"

[grpc]
  address = "$CONTAINERD_SOCK"

[plugins.'io.containerd.cri.v1.runtime']
  # Root here lacks CAP_SYS_RESOURCE: without this every sandbox fails to start
  # ("can't get final child's PID from pipe: EOF").
  restrict_oom_score_adj = true

  [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
    runtime_type = 'io.containerd.runc.v2'

    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
      BinaryName = '/usr/sbin/runc'
      SystemdCgroup = false

  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ['/usr/lib/cni']
    conf_dir = '$NODE_DIR/cni/net.d'

[plugins.'io.containerd.cri.v1.images']
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = '$PAUSE_IMAGE'

  [plugins.'io.containerd.cri.v1.images'.registry]
    config_path = '$NODE_DIR/containerd/certs.d'
EOF
    # No loopback plugin in the chain: containerd sets up each pod's lo itself.
    cat > "$NODE_DIR/cni/net.d/10-valohai.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "valohai",
  "plugins": [
    {
      "type": "bridge", "bridge": "$NODE_BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": true,
      "ipam": {"type": "host-local", "ranges": [[{"subnet": "$POD_CIDR", "gateway": "$POD_GATEWAY"}]],
               "routes": [{"dst": "0.0.0.0/0"}], "dataDir": "$NODE_DIR/cni/ipam"}
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
EOF
}

# The bridge exists before the first pod, so the service range can be routed onto it.
ensure_node_network() {
    if ! ip link show "$NODE_BRIDGE" >/dev/null 2>&1; then
        ip link add "$NODE_BRIDGE" type bridge
        ip addr add "$POD_GATEWAY/24" dev "$NODE_BRIDGE"
    fi
    ip link set "$NODE_BRIDGE" up
    ip route replace "$SERVICE_CIDR" dev "$NODE_BRIDGE"
    iptables -w -N "$EGRESS_CHAIN" 2>/dev/null || iptables -w -F "$EGRESS_CHAIN"
    iptables -w -A "$EGRESS_CHAIN" -d "$POD_CIDR" -j RETURN
    iptables -w -A "$EGRESS_CHAIN" -d "$SERVICE_CIDR" -j RETURN
    iptables -w -A "$EGRESS_CHAIN" -s "$POD_CIDR" -j DROP
    iptables -w -C FORWARD -j "$EGRESS_CHAIN" 2>/dev/null || iptables -w -I FORWARD 1 -j "$EGRESS_CHAIN"
    # The node's address (kubelet, metrics-server) answers this machine and its pods only.
    iptables -w -N "$INGRESS_CHAIN" 2>/dev/null || iptables -w -F "$INGRESS_CHAIN"
    iptables -w -A "$INGRESS_CHAIN" -i lo -j RETURN
    iptables -w -A "$INGRESS_CHAIN" -i "$NODE_BRIDGE" -j RETURN
    iptables -w -A "$INGRESS_CHAIN" -j DROP
    iptables -w -C INPUT -d "$NODE_IP" -j "$INGRESS_CHAIN" 2>/dev/null \
        || iptables -w -I INPUT 1 -d "$NODE_IP" -j "$INGRESS_CHAIN"
}

remove_node_network() {
    ip route del "$SERVICE_CIDR" dev "$NODE_BRIDGE" 2>/dev/null || true
    ip link del "$NODE_BRIDGE" 2>/dev/null || true
    while iptables -w -D FORWARD -j "$EGRESS_CHAIN" 2>/dev/null; do :; done
    iptables -w -F "$EGRESS_CHAIN" 2>/dev/null || true
    iptables -w -X "$EGRESS_CHAIN" 2>/dev/null || true
    while iptables -w -D INPUT -d "$NODE_IP" -j "$INGRESS_CHAIN" 2>/dev/null; do :; done
    iptables -w -F "$INGRESS_CHAIN" 2>/dev/null || true
    iptables -w -X "$INGRESS_CHAIN" 2>/dev/null || true
    local veth
    for veth in $(ip -o link show type veth 2>/dev/null | sed -n "s/^[0-9]*: \([^@:]*\).*master $NODE_BRIDGE.*/\1/p"); do
        ip link del "$veth" 2>/dev/null || true
    done
}

# The pause image: the locally built program, packed by docker (no image can be pulled here)
# and imported into containerd's CRI namespace.
ensure_pause_image() {
    ctr_k8s images ls -q 2>/dev/null | grep -qx "$PAUSE_IMAGE" && return 0
    local pause work
    pause="$(command -v vd-pause)" || die "vd-pause not found: run scripts/install-toolchain"
    work="$(mktemp -d)"
    mkdir -p "$work/root"
    cp "$pause" "$work/root/pause"
    tar -C "$work/root" -c pause | "$DOCKER" import -c 'ENTRYPOINT ["/pause"]' -c 'USER 65535:65535' - "$PAUSE_IMAGE" >/dev/null
    "$DOCKER" save "$PAUSE_IMAGE" -o "$work/pause.tar"
    ctr_k8s images import --label io.cri-containerd.pinned=pinned "$work/pause.tar" >/dev/null
    rm -rf "$work"
    log "node: pause image $PAUSE_IMAGE imported"
}

write_node_configs() {
    cluster_vars local 0
    cert "kubelet-$NODE_NAME" "system:node:$NODE_NAME" system:nodes
    cert "kubelet-serving-$NODE_NAME" "system:node:$NODE_NAME" system:nodes "IP:$NODE_IP,DNS:$NODE_NAME"
    write_kubeconfig "$NODE_DIR/kubelet.kubeconfig" "kubelet-$NODE_NAME"
    # Pods look names up on their own loopback, where nothing answers: no lookup leaves the machine.
    echo "nameserver 127.0.0.1" > "$NODE_DIR/resolv.conf"
    write_file "$NODE_DIR/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $NODE_IP
port: 10250
tlsCertFile: $CL_PKI/kubelet-serving-$NODE_NAME.crt
tlsPrivateKeyFile: $CL_PKI/kubelet-serving-$NODE_NAME.key
healthzBindAddress: 127.0.0.1
healthzPort: 10248
readOnlyPort: 0
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $CL_PKI/ca.crt}
authorization: {mode: Webhook}
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
resolvConf: $NODE_DIR/resolv.conf
containerRuntimeEndpoint: unix://$CONTAINERD_SOCK
podCIDR: $POD_CIDR
serializeImagePulls: false
# The disk is shared with builds and caches: do not evict pods over disk usage.
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
imageGCHighThresholdPercent: 99
imageGCLowThresholdPercent: 98
EOF
    write_file "$NODE_DIR/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $CL_DIR/kube-proxy.kubeconfig}
hostnameOverride: $NODE_NAME
mode: iptables
clusterCIDR: $POD_CIDR
bindAddress: 127.0.0.1
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
nodePortAddresses: [127.0.0.1/32]
# Zeros keep kube-proxy from writing conntrack sysctls.
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
iptables: {localhostNodePorts: false}
EOF
}

wait_node_ready() {
    local deadline=$((SECONDS + START_TIMEOUT))
    until [ "$(kctl get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' 2>/dev/null)" = True ]; do
        [ $SECONDS -lt $deadline ] || { show_log_tail "$NODE_DIR/kubelet.log"; die "node: $NODE_NAME not Ready in ${START_TIMEOUT}s"; }
        sleep 0.5
    done
}

node_start() {
    node_vars
    mkdir -p "$NODE_DIR" "$KUBELET_DIR"
    command -v containerd >/dev/null || die "containerd not found: run scripts/install-toolchain"
    if [ ! -x /usr/sbin/runc ] || [ ! -x /usr/lib/cni/bridge ]; then
        die "runc / CNI plugins missing: apt-get install ${NODE_PACKAGES[*]}"
    fi
    modprobe br_netfilter 2>/dev/null || true
    save_sysctls
    write_containerd_config
    ensure_node_network
    daemon_start node/containerd "$NODE_DIR" containerd_ready --watch "$NODE_DIR/containerd/config.toml" -- \
        containerd --config "$NODE_DIR/containerd/config.toml"
    ensure_pause_image
    write_node_configs
    daemon_start node/kubelet "$NODE_DIR" kubelet_ready --watch "$NODE_DIR/kubelet.yaml" -- \
        "$(kube_bin)" kubelet --config "$NODE_DIR/kubelet.yaml" \
        --kubeconfig "$NODE_DIR/kubelet.kubeconfig" --hostname-override "$NODE_NAME" \
        --node-ip "$NODE_IP" --root-dir "$KUBELET_DIR" --node-labels type=real
    daemon_start node/kube-proxy "$NODE_DIR" kube_proxy_ready --watch "$NODE_DIR/kube-proxy.yaml" -- \
        "$(kube_bin)" kube-proxy --config "$NODE_DIR/kube-proxy.yaml"
    wait_node_ready
    log "node: $NODE_NAME Ready (pods on $POD_CIDR, bridge $NODE_BRIDGE)"
}

# Pods first (their sandboxes hold mounts and veths), then the kubelet, kube-proxy's rules,
# containerd, and whatever the kubelet left in mounts and cgroups.
node_stop() {
    node_vars
    if [ -S "$CONTAINERD_SOCK" ] && containerd_ready; then
        local task
        for task in $(ctr_k8s tasks ls -q 2>/dev/null); do ctr_k8s tasks kill -s KILL "$task" >/dev/null 2>&1 || true; done
    fi
    daemon_stop node/kubelet "$NODE_DIR" kube
    daemon_stop node/kube-proxy "$NODE_DIR" kube
    daemon_sweep kube "$NODE_DIR/"
    if command -v kube >/dev/null; then
        "$(kube_bin)" kube-proxy --cleanup >/dev/null 2>&1 || true
    fi
    # Shims outlive containerd by design; the node's pods (killed above) end with them.
    local -a shims
    mapfile -t shims < <({ daemon_pids node/containerd containerd-shim
        pgrep -f "containerd-shim-runc-v2 .*-address $CONTAINERD_SOCK" || true; } | sort -un)
    [ ${#shims[@]} -eq 0 ] || kill -KILL "${shims[@]}" 2>/dev/null || true
    daemon_stop node/containerd "$NODE_DIR" containerd
    daemon_sweep containerd "$NODE_DIR/"
    local mnt
    while read -r mnt; do
        umount -l "$mnt" 2>/dev/null || true
    done < <(awk -v a="$KUBELET_DIR" -v b="$NODE_DIR/containerd" -v c="$NODE_RUN" \
        'index($2, a) == 1 || index($2, b) == 1 || index($2, c) == 1 {print $2}' /proc/self/mounts | sort -r)
    local netns
    for netns in $(ip netns list 2>/dev/null | awk '/^cni-/ {print $1}'); do ip netns del "$netns" 2>/dev/null || true; done
    remove_kubelet_chains
    remove_node_network
    remove_cgroups
    restore_sysctls
    rm -rf "$NODE_RUN"
}

# Chains the kubelet creates for itself (kube-proxy --cleanup removes its own).
remove_kubelet_chains() {
    local table chain
    for table in filter nat mangle; do
        for chain in KUBE-FIREWALL KUBE-KUBELET-CANARY KUBE-PROXY-CANARY KUBE-IPTABLES-HINT KUBE-FORWARD \
            KUBE-NODEPORTS KUBE-SERVICES KUBE-EXTERNAL-SERVICES KUBE-PROXY-FIREWALL KUBE-POSTROUTING KUBE-MARK-MASQ; do
            { iptables -w -t "$table" -S 2>/dev/null | grep -- "-j $chain\b" || true; } | sed 's/^-A/-D/' | while read -r rule; do
                # shellcheck disable=SC2086 # the rule is a list of iptables words
                iptables -w -t "$table" $rule 2>/dev/null || true
            done
            iptables -w -t "$table" -F "$chain" 2>/dev/null || true
            iptables -w -t "$table" -X "$chain" 2>/dev/null || true
        done
    done
}

remove_cgroups() {
    local d
    for d in /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods; do
        [ -d "$d" ] || continue
        find "$d" -depth -type d -exec rmdir {} \; 2>/dev/null || true
    done
}

node_status() {
    node_vars
    local ok=0 d comm check pid
    for d in containerd:containerd:containerd_ready kubelet:kube:kubelet_ready kube-proxy:kube:kube_proxy_ready; do
        IFS=: read -r d comm check <<< "$d"
        if pid="$(daemon_running "node/$d" "$NODE_DIR" "$comm")" && $check; then
            status_line "node $d" up "pid $pid"
        else
            status_line "node $d" down
            ok=3
        fi
    done
    return $ok
}
