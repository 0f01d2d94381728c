# shellcheck shell=bash
# Resource metrics for the local cluster: metrics-server (built from the Go module proxy) serves
# the aggregated API metrics.k8s.io that HorizontalPodAutoscalers and `kubectl top` read. Run by
# lib/daemon.sh as `metrics-server`.
#
# It runs on this machine, not as a pod: it needs the API server (127.0.0.1:6443, which pods cannot
# reach: the API server listens on loopback only and the `kubernetes` Service has no endpoints)
# and the kubelet (10.88.0.1:10250), and the API server must reach it. It listens on the node's
# bridge address, 10.88.0.1:4443 (EndpointSlices refuse loopback addresses), with a certificate the
# cluster CA signed for `metrics-server.kube-system.svc`; the Service kube-system/metrics-server has
# that address as its only endpoint, and the API server dials it directly
# (--enable-aggregator-routing). It scrapes every 10 s (the resolution must exceed the kubelet
# request timeout, hence 5 s) and the real node only (--node-selector type=real): KWOK's
# fake node has no kubelet, so pods there have no metrics (HPAs on them stay <unknown>, as before).
#
# The APIService is registered only while metrics-server answers, and removed before it stops:
# an APIService that does not answer breaks API discovery (kubectl warnings, and the namespace
# controller stops deleting namespaces).

METRICS_SERVER_PORT=4443
METRICS_SERVER_APISERVICE="v1beta1.metrics.k8s.io"

metrics_server_vars() {
    cluster_vars local 0
    MS_DIR="$CACHE_DIR/metrics-server"
}

metrics_server_ready() {
    curl -fsS --max-time 2 --cacert "$CL_PKI/ca.crt" --resolve "metrics-server.kube-system.svc:$METRICS_SERVER_PORT:$NODE_IP" \
        "https://metrics-server.kube-system.svc:$METRICS_SERVER_PORT/livez" >/dev/null 2>&1
}

apiservice_available() {
    [ "$(kctl get apiservice "$METRICS_SERVER_APISERVICE" \
        -o jsonpath='{.status.conditions[?(@.type=="Available")].status}' 2>/dev/null)" = True ]
}

# RBAC as upstream's manifests grant it (to a user of our own instead of a service account), and
# the Service with the host address as its endpoint.
ensure_metrics_server_objects() {
    kctl apply -f - >/dev/null <<YAML
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: system:metrics-server
rules:
- apiGroups: [""]
  resources: [nodes/metrics]
  verbs: [get]
- apiGroups: [""]
  resources: [pods, nodes]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: system:metrics-server
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: system:metrics-server}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: metrics-server}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: metrics-server:system:auth-delegator
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: system:auth-delegator}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: metrics-server}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: metrics-server-auth-reader
  namespace: kube-system
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: extension-apiserver-authentication-reader}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: metrics-server}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: system:aggregated-metrics-reader
  labels:
    rbac.authorization.k8s.io/aggregate-to-view: "true"
    rbac.authorization.k8s.io/aggregate-to-edit: "true"
    rbac.authorization.k8s.io/aggregate-to-admin: "true"
rules:
- apiGroups: [metrics.k8s.io]
  resources: [pods, nodes]
  verbs: [get, list, watch]
---
apiVersion: v1
kind: Service
metadata:
  name: metrics-server
  namespace: kube-system
spec:
  ports:
  - {name: https, port: 443, protocol: TCP, targetPort: $METRICS_SERVER_PORT}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: metrics-server-host
  namespace: kube-system
  labels:
    kubernetes.io/service-name: metrics-server
    endpointslice.kubernetes.io/managed-by: scripts.valohai-deployments
addressType: IPv4
endpoints:
- addresses: ["$NODE_IP"]
  conditions: {ready: true}
ports:
- {name: https, port: $METRICS_SERVER_PORT, protocol: TCP}
YAML
}

register_apiservice() {
    kctl apply -f - >/dev/null <<YAML
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata:
  name: $METRICS_SERVER_APISERVICE
spec:
  service: {name: metrics-server, namespace: kube-system, port: 443}
  group: metrics.k8s.io
  version: v1beta1
  caBundle: $(base64 -w0 < "$CL_PKI/ca.crt")
  groupPriorityMinimum: 100
  versionPriority: 100
YAML
}

metrics_server_start() {
    metrics_server_vars
    node_vars
    command -v metrics-server >/dev/null || die "metrics-server not found: run scripts/install-toolchain"
    mkdir -p "$MS_DIR"
    cert metrics-server metrics-server ""
    cert metrics-server-serving metrics-server "" \
        "DNS:metrics-server.kube-system.svc,DNS:metrics-server.kube-system,IP:$NODE_IP"
    write_kubeconfig "$MS_DIR/metrics-server.kubeconfig" metrics-server
    ensure_metrics_server_objects
    local kubeconfig="$MS_DIR/metrics-server.kubeconfig"
    daemon_start metrics-server "$MS_DIR" metrics_server_ready -- \
        metrics-server --kubeconfig "$kubeconfig" \
        --authentication-kubeconfig "$kubeconfig" --authorization-kubeconfig "$kubeconfig" \
        --bind-address "$NODE_IP" --secure-port "$METRICS_SERVER_PORT" \
        --tls-cert-file "$CL_PKI/metrics-server-serving.crt" --tls-private-key-file "$CL_PKI/metrics-server-serving.key" \
        --kubelet-certificate-authority "$CL_PKI/ca.crt" \
        --kubelet-client-certificate "$CL_PKI/metrics-server.crt" --kubelet-client-key "$CL_PKI/metrics-server.key" \
        --kubelet-preferred-address-types InternalIP --node-selector type=real \
        --metric-resolution 10s --kubelet-request-timeout 5s
    register_apiservice
    local deadline=$((SECONDS + START_TIMEOUT))
    until apiservice_available; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            show_log_tail "$MS_DIR/metrics-server.log"
            die "metrics-server: APIService $METRICS_SERVER_APISERVICE not Available in ${START_TIMEOUT}s"
        fi
        sleep 1
    done
    log "metrics-server: $METRICS_SERVER_APISERVICE Available (https://$NODE_IP:$METRICS_SERVER_PORT; kubectl top pods)"
}

metrics_server_stop() {
    metrics_server_vars
    if api_ready; then
        kctl delete apiservice "$METRICS_SERVER_APISERVICE" --ignore-not-found --wait=false \
            --request-timeout 10s >/dev/null 2>&1 || true
    fi
    daemon_stop metrics-server "$MS_DIR" metrics-server
}

metrics_server_status() {
    metrics_server_vars
    node_vars
    local pid
    if pid="$(daemon_running metrics-server "$MS_DIR" metrics-server)" && metrics_server_ready && apiservice_available; then
        status_line "metrics-server" up "pid $pid, APIService $METRICS_SERVER_APISERVICE Available"
    else
        status_line "metrics-server" down
        return 3
    fi
}
