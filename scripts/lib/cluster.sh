# shellcheck shell=bash
# The local Kubernetes control plane: etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler and KWOK, all from the `kube` multi-call binary that scripts/install-toolchain
# builds, all on 127.0.0.1, each run by lib/daemon.sh as `cluster/<name>/<component>`. Certificates
# and kubeconfigs: lib/pki.sh. The API server has the aggregation layer on (front-proxy CA,
# requestheader flags), so an aggregated API such as metrics.k8s.io (lib/metrics-server.sh) can
# be served beside it.
#
# A cluster has a name and a slot; the slot offsets every port, so a second cluster (slot 1)
# can stand in for a second deploy target beside the first:
#   slot 0: etcd 2379/2380, apiserver 6443, controller-manager 10257, scheduler 10259, kwok 10247
#   slot N: each of those + 100*N
# State: $CACHE_DIR/cluster/<name>/ (pki, etcd data, kubeconfigs, logs, pids, slot). `stop` stops
# every cluster found there or running, whether its start finished or not.
# The admin kubeconfig is also written to <repo>/kubeconfigs/<name>.yaml (git-ignored), which
# is where Pulumi.local.yaml's target.kubeconfig points.

GATEWAY_API_VERSION="v1.6.3"
SERVICE_CIDR="10.96.0.0/16"
# KWOK's pods get addresses from here. They exist nowhere: a blackhole route makes sure nothing
# sent to them (kube-proxy or the router following an EndpointSlice) ever leaves this machine.
KWOK_POD_CIDR="10.250.0.0/16"
KWOK_NODE_IP="10.251.0.1"
KWOK_BLACKHOLE="10.250.0.0/15"
KWOK_NODE="kwok-node-0"
# Pods that must really run stay off the fake node; scale runs tolerate this taint on purpose.
KWOK_TAINT_KEY="kwok.x-k8s.io/node"

cluster_vars() { # NAME SLOT
    CL_NAME="$1"
    CL_SLOT="$2"
    CL_DIR="$CACHE_DIR/cluster/$CL_NAME"
    CL_PKI="$CL_DIR/pki"
    local off=$((CL_SLOT * 100))
    CL_ETCD_PORT=$((2379 + off))
    CL_ETCD_PEER_PORT=$((2380 + off))
    CL_API_PORT=$((6443 + off))
    CL_KCM_PORT=$((10257 + off))
    CL_SCHED_PORT=$((10259 + off))
    CL_KWOK_PORT=$((10247 + off))
    CL_ADMIN="$CL_DIR/admin.kubeconfig"
    CL_REPO_KUBECONFIG="$REPO_ROOT/kubeconfigs/$CL_NAME.yaml"
}

kube_bin() { command -v kube || die "kube not found: run scripts/install-toolchain"; }
kctl() { kubectl --kubeconfig "$CL_ADMIN" "$@"; }

ensure_kubeconfigs() {
    write_kubeconfig "$CL_ADMIN" admin
    write_kubeconfig "$CL_DIR/controller-manager.kubeconfig" controller-manager
    write_kubeconfig "$CL_DIR/scheduler.kubeconfig" scheduler
    write_kubeconfig "$CL_DIR/kube-proxy.kubeconfig" kube-proxy
    mkdir -p "$(dirname "$CL_REPO_KUBECONFIG")"
    # Replaced in one rename, and only when it changed: a `pulumi up` reading it meanwhile (its
    # ownership check does) never sees a half-written file.
    if ! cmp -s "$CL_ADMIN" "$CL_REPO_KUBECONFIG"; then
        cp "$CL_ADMIN" "$CL_REPO_KUBECONFIG.tmp"
        mv -f "$CL_REPO_KUBECONFIG.tmp" "$CL_REPO_KUBECONFIG"
    fi
}

# ------------------------------------------------------------------------------ processes --

# start_component NAME READY ARGS...: `kube NAME ARGS` as the daemon cluster/<cluster>/NAME.
start_component() {
    local name="$1" ready="$2"
    shift 2
    daemon_start "cluster/$CL_NAME/$name" "$CL_DIR" "$ready" -- "$(kube_bin)" "$name" "$@"
}

etcd_ready() { curl -fsS --max-time 2 "http://127.0.0.1:$CL_ETCD_PORT/health" 2>/dev/null | grep -q '"health":"true"'; }
api_ready() {
    curl -fsS --max-time 2 --cacert "$CL_PKI/ca.crt" --cert "$CL_PKI/admin.crt" --key "$CL_PKI/admin.key" \
        "https://127.0.0.1:$CL_API_PORT/readyz" >/dev/null 2>&1
}
secure_ready() { curl -ksS --max-time 2 "https://127.0.0.1:$1/healthz" 2>/dev/null | grep -q ok; }
kcm_ready() { secure_ready "$CL_KCM_PORT"; }
sched_ready() { secure_ready "$CL_SCHED_PORT"; }
kwok_ready() { curl -fsS --max-time 2 "http://127.0.0.1:$CL_KWOK_PORT/healthz" >/dev/null 2>&1; }

start_etcd() {
    # No fsync: this cluster's data is scratch, and fsync on this VM's disk costs seconds per apply.
    start_component etcd etcd_ready \
        --name "$CL_NAME" --data-dir "$CL_DIR/etcd" \
        --listen-client-urls "http://127.0.0.1:$CL_ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$CL_ETCD_PORT" \
        --listen-peer-urls "http://127.0.0.1:$CL_ETCD_PEER_PORT" \
        --initial-advertise-peer-urls "http://127.0.0.1:$CL_ETCD_PEER_PORT" \
        --initial-cluster "$CL_NAME=http://127.0.0.1:$CL_ETCD_PEER_PORT" \
        --listen-metrics-urls "" --unsafe-no-fsync --quota-backend-bytes=4294967296 --log-level=warn
}

start_apiserver() {
    # --endpoint-reconciler-type=none: with a loopback advertise address the default reconciler
    # refuses to start; nothing here needs the `kubernetes` Service's endpoints.
    # --enable-aggregator-routing: aggregated APIs are reached at their EndpointSlice address (a
    # host address on the node's bridge), not through a Service IP that needs kube-proxy.
    start_component kube-apiserver api_ready \
        --etcd-servers "http://127.0.0.1:$CL_ETCD_PORT" \
        --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$CL_API_PORT" \
        --endpoint-reconciler-type none \
        --cert-dir "$CL_PKI" --tls-cert-file "$CL_PKI/apiserver.crt" --tls-private-key-file "$CL_PKI/apiserver.key" \
        --client-ca-file "$CL_PKI/ca.crt" \
        --kubelet-client-certificate "$CL_PKI/apiserver-kubelet-client.crt" \
        --kubelet-client-key "$CL_PKI/apiserver-kubelet-client.key" \
        --kubelet-certificate-authority "$CL_PKI/ca.crt" \
        --kubelet-preferred-address-types InternalIP \
        --service-account-issuer https://kubernetes.default.svc \
        --service-account-key-file "$CL_PKI/sa.pub" --service-account-signing-key-file "$CL_PKI/sa.key" \
        --authorization-mode Node,RBAC --allow-privileged=true \
        --service-cluster-ip-range "$SERVICE_CIDR" --profiling=false \
        --requestheader-client-ca-file "$CL_PKI/front-proxy-ca.crt" \
        --requestheader-allowed-names front-proxy-client \
        --requestheader-username-headers X-Remote-User --requestheader-group-headers X-Remote-Group \
        --requestheader-extra-headers-prefix X-Remote-Extra- \
        --proxy-client-cert-file "$CL_PKI/front-proxy-client.crt" \
        --proxy-client-key-file "$CL_PKI/front-proxy-client.key" \
        --enable-aggregator-routing=true
}

start_controller_manager() {
    start_component kube-controller-manager kcm_ready \
        --kubeconfig "$CL_DIR/controller-manager.kubeconfig" \
        --authentication-kubeconfig "$CL_DIR/controller-manager.kubeconfig" \
        --authorization-kubeconfig "$CL_DIR/controller-manager.kubeconfig" \
        --bind-address 127.0.0.1 --secure-port "$CL_KCM_PORT" --leader-elect=false \
        --service-account-private-key-file "$CL_PKI/sa.key" --root-ca-file "$CL_PKI/ca.crt" \
        --use-service-account-credentials=true \
        --cluster-signing-cert-file "$CL_PKI/ca.crt" --cluster-signing-key-file "$CL_PKI/ca.key" \
        --service-cluster-ip-range "$SERVICE_CIDR" --profiling=false \
        --horizontal-pod-autoscaler-sync-period 15s
}

start_scheduler() {
    start_component kube-scheduler sched_ready \
        --kubeconfig "$CL_DIR/scheduler.kubeconfig" \
        --authentication-kubeconfig "$CL_DIR/scheduler.kubeconfig" \
        --authorization-kubeconfig "$CL_DIR/scheduler.kubeconfig" \
        --bind-address 127.0.0.1 --secure-port "$CL_SCHED_PORT" --leader-elect=false --profiling=false
}

kwok_stages_dir() { echo "$(dirname "$(readlink -f "$(kube_bin)")")/../share/kwok-stages"; }

# Stages of our own: a controller of a real cluster would give Ingresses and LoadBalancer
# Services an address; the Pulumi provider waits for it (awaiting stays on).
write_kwok_config() {
    local config="$CL_DIR/kwok.yaml" f
    : > "$config"
    for f in "$(kwok_stages_dir)"/*.yaml; do
        cat "$f" >> "$config"
        printf '\n---\n' >> "$config"
    done
    cat >> "$config" <<'EOF'
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: ingress-load-balancer
spec:
  resourceRef:
    apiGroup: networking.k8s.io/v1
    kind: Ingress
  selector:
    matchExpressions:
    - key: '.status.loadBalancer.ingress'
      operator: 'DoesNotExist'
  next:
    statusTemplate: |
      loadBalancer:
        ingress:
        - ip: 127.0.0.1
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: service-load-balancer
spec:
  resourceRef:
    apiGroup: v1
    kind: Service
  selector:
    matchExpressions:
    - key: '.spec.type'
      operator: 'In'
      values: ['LoadBalancer']
    - key: '.status.loadBalancer.ingress'
      operator: 'DoesNotExist'
  next:
    statusTemplate: |
      loadBalancer:
        ingress:
        - ip: 127.0.0.1
EOF
}

# In the `local` cluster (slot 0) the fake node is tainted: pods that must really run go to the
# real node, and only scale runs (which tolerate the taint) land here. Other clusters have no
# real node, so their fake node takes every pod.
ensure_kwok_node() {
    kctl get node "$KWOK_NODE" >/dev/null 2>&1 && return 0
    local taints="[]"
    [ "$CL_SLOT" = 0 ] && taints="[{key: $KWOK_TAINT_KEY, value: fake, effect: NoSchedule}]"
    kctl apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Node
metadata:
  name: $KWOK_NODE
  annotations:
    kwok.x-k8s.io/node: fake
  labels:
    kubernetes.io/hostname: $KWOK_NODE
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    type: kwok
spec:
  podCIDR: $KWOK_POD_CIDR
  taints: $taints
EOF
}

ensure_blackhole() {
    ip route show type blackhole | grep -q "^blackhole $KWOK_BLACKHOLE" || ip route add blackhole "$KWOK_BLACKHOLE"
}

# A node lease, as kwokctl runs it: without one the fake node's only heartbeat is a status patch
# that, with many pods to patch, comes later than the node controller's grace period; the node
# then turns NotReady and its pods lose Ready, so rollouts on it never finish.
start_kwok() {
    write_kwok_config
    start_component kwok kwok_ready \
        --kubeconfig "$CL_ADMIN" --config "$CL_DIR/kwok.yaml" \
        --manage-all-nodes=false --manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake \
        --cidr "$KWOK_POD_CIDR" --node-ip "$KWOK_NODE_IP" \
        --node-lease-duration-seconds 40 \
        --server-address "127.0.0.1:$CL_KWOK_PORT"
}

gateway_api_crds() {
    local dir
    dir="$(cd "$REPO_ROOT/toolchain/kubernetes" && GOTOOLCHAIN=local GOFLAGS=-mod=mod \
        go mod download -json "sigs.k8s.io/gateway-api@$GATEWAY_API_VERSION" | sed -n 's/.*"Dir": "\(.*\)",/\1/p')"
    [ -d "$dir/config/crd/standard" ] || die "gateway-api $GATEWAY_API_VERSION CRDs not found (go mod download failed)"
    echo "$dir/config/crd/standard"
}

ensure_crds() {
    local stamp="$CL_DIR/crds.applied" want f files=()
    want="gateway-api $GATEWAY_API_VERSION; traefik $(traefik_crd_file | xargs sha256sum | cut -c1-16)"
    [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] && return 0
    log "cluster $CL_NAME: installing CRDs ($want)"
    for f in "$(gateway_api_crds)"/gateway.networking.k8s.io_*.yaml; do
        # The ValidatingAdmissionPolicy only guards upgrades from experimental CRDs.
        case "$f" in *vap_*) continue ;; esac
        files+=(-f "$f")
    done
    # Large CRDs (HTTPRoute is 429 KB) exceed the client-side apply annotation limit.
    kctl apply --server-side --force-conflicts "${files[@]}" -f "$(traefik_crd_file)" >/dev/null
    kctl wait --for condition=Established --timeout 60s crd --all >/dev/null
    echo "$want" > "$stamp"
}

# Traefik's CRDs (Middleware, for basic auth in gateway mode) ship in its module.
traefik_crd_file() {
    local dir
    dir="$(cd "$REPO_ROOT/toolchain/traefik" && GOTOOLCHAIN=local go list -mod=readonly -m -f '{{.Dir}}' github.com/traefik/traefik/v3)"
    echo "$dir/docs/content/reference/dynamic-configuration/kubernetes-crd-definition-v1.yml"
}

cluster_start() { # NAME SLOT
    cluster_vars "$1" "$2"
    command -v kube >/dev/null || die "kube not found on PATH: run scripts/install-toolchain"
    mkdir -p "$CL_DIR"
    # Written first, so that `stop` knows this cluster even if its start fails half-way.
    echo "$CL_SLOT" > "$CL_DIR/slot"
    ensure_pki
    ensure_kubeconfigs
    ensure_blackhole
    start_etcd
    start_apiserver
    start_controller_manager
    start_scheduler
    ensure_kwok_node
    start_kwok
    ensure_crds
    log "cluster $CL_NAME: up at https://127.0.0.1:$CL_API_PORT (kubeconfig: $CL_REPO_KUBECONFIG)"
}

CLUSTER_COMPONENTS=(kwok kube-scheduler kube-controller-manager kube-apiserver etcd)   # stop order

# The API server goes before etcd: stopped the other way round it hangs on its storage. Then any
# `kube` process still naming this cluster's dir (started by an older checkout, pid file lost).
cluster_stop() { # NAME
    cluster_vars "$1" "$(cat "$CACHE_DIR/cluster/$1/slot" 2>/dev/null || echo 0)"
    local c
    for c in "${CLUSTER_COMPONENTS[@]}"; do
        daemon_stop "cluster/$CL_NAME/$c" "$CL_DIR" kube
    done
    daemon_sweep kube "$CL_DIR/"
    if [ -z "$(cluster_names_running)" ]; then
        ip route del blackhole "$KWOK_BLACKHOLE" 2>/dev/null || true
    fi
}

# Every cluster ever started under the cache dir: those with a state dir, and any still running.
cluster_names() {
    {
        local dir
        for dir in "$CACHE_DIR"/cluster/*/; do [ -d "$dir" ] && basename "$dir"; done
        cluster_names_running
    } | sort -u
}

cluster_names_running() {
    daemon_ids_under cluster/ | cut -d/ -f2 | sort -u
    local f
    for f in "$CACHE_DIR"/cluster/*/*.pid; do
        [ -e "$f" ] && [ -n "$(legacy_pid "$f" kube)" ] && basename "$(dirname "$f")"
    done
    return 0
}

cluster_status() { # NAME SLOT -> 0 if all up
    cluster_vars "$1" "$2"
    local ok=0 c check pid
    for c in etcd:etcd_ready kube-apiserver:api_ready kube-controller-manager:kcm_ready \
        kube-scheduler:sched_ready kwok:kwok_ready; do
        check="${c#*:}"
        c="${c%%:*}"
        if pid="$(daemon_running "cluster/$CL_NAME/$c" "$CL_DIR" kube)" && $check; then
            status_line "cluster $CL_NAME $c" up "pid $pid"
        else
            status_line "cluster $CL_NAME $c" down
            ok=3
        fi
    done
    return $ok
}
