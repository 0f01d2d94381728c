# shellcheck shell=bash
# The local cluster's router: Traefik (built from the Go module proxy), run on this machine
# outside the cluster as its Gateway API implementation and Ingress controller, listening on
# 127.0.0.1 only. It reads the cluster through the admin kubeconfig and sends requests straight
# to pod addresses on the node's bridge. Run by lib/daemon.sh as `router/traefik`.
#
# It exports Prometheus metrics on an entrypoint of its own, 127.0.0.1:8082/metrics, which the
# local metrics server (lib/metrics.sh) scrapes: per entrypoint, per router (one per HTTPRoute
# rule) and per service (one per Kubernetes Service and port), with latency buckets from 1 ms to
# 10 s. What each label holds for our routes: ../shared/metrics-notes.md (outside the repo).
#
# The platform side of gateway routing lives here, as a cluster admin would own it: the
# GatewayClass `traefik` and the Gateway `valohai-router/models` with one HTTP listener on the
# router's port that accepts routes from every namespace. Stacks attach their HTTPRoutes to it
# (Pulumi.local.yaml: routing.gateway).

ROUTER_PORT="${VALOHAI_ROUTER_PORT:-8080}"
ROUTER_ADMIN_PORT="${VALOHAI_ROUTER_ADMIN_PORT:-8081}"
ROUTER_METRICS_PORT="${VALOHAI_ROUTER_METRICS_PORT:-8082}"
ROUTER_NAMESPACE="valohai-router"
ROUTER_GATEWAY="models"
ROUTER_CLASS="traefik"

router_vars() { ROUTER_DIR="$CACHE_DIR/router"; }
router_ready() { curl -fsS --max-time 2 "http://127.0.0.1:$ROUTER_ADMIN_PORT/ping" >/dev/null 2>&1; }

write_router_config() {
    # A Gateway listener is served by the entrypoint of the same port: listener 8080 <-> web.
    cat > "$ROUTER_DIR/traefik.yaml" <<EOF
global:
  checkNewVersion: false
  sendAnonymousUsage: false
entryPoints:
  web:
    address: "127.0.0.1:$ROUTER_PORT"
    # Ingresses (which name no entrypoint) are served here only, not on the admin or metrics port.
    asDefault: true
    transport:
      lifeCycle:
        # In-flight requests finish when Traefik itself stops.
        graceTimeOut: 5s
  traefik:
    address: "127.0.0.1:$ROUTER_ADMIN_PORT"
  metrics:
    address: "127.0.0.1:$ROUTER_METRICS_PORT"
ping:
  entryPoint: traefik
metrics:
  prometheus:
    entryPoint: metrics
    # Header labels go on every request counter this enables; an entrypoint's would take the
    # client's own X-VH-Prefix (any value, so unbounded series) before a route sets it. Unused.
    addEntryPointsLabels: false
    addRoutersLabels: true
    addServicesLabels: true
    # Requests per (alias, version): by the time a request reaches a service, its route's filter
    # has set X-VH-Prefix to the alias's (or version's) prefix, in place (Traefik's
    # requestHeaderModifier), so status and promotion can tell an alias's traffic from the rest.
    headerLabels:
      vh_prefix: X-VH-Prefix
    # Endpoints answer in about a millisecond; models may take seconds.
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
providers:
  # Traefik applies a provider's new configuration at most once per this interval (default 2 s),
  # while it reports a route Accepted at once: with the default, a route that pulumi up saw
  # accepted could answer 404 for up to 2 s after up returns (measured: 1.7 s).
  providersThrottleDuration: 0s
  kubernetesGateway:
    statusAddress:
      ip: 127.0.0.1
  # Middlewares (basic auth in gateway mode) are Traefik CRD objects.
  kubernetesCRD:
    allowCrossNamespace: false
  kubernetesIngress:
    ingressEndpoint:
      ip: 127.0.0.1
log:
  level: INFO
EOF
}

ensure_gateway() {
    kctl apply -f - >/dev/null <<EOF
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata:
  name: $ROUTER_CLASS
spec:
  controllerName: traefik.io/gateway-controller
---
apiVersion: v1
kind: Namespace
metadata:
  name: $ROUTER_NAMESPACE
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: $ROUTER_GATEWAY
  namespace: $ROUTER_NAMESPACE
spec:
  gatewayClassName: $ROUTER_CLASS
  listeners:
  - name: web
    protocol: HTTP
    port: $ROUTER_PORT
    allowedRoutes:
      namespaces:
        from: All
---
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata:
  name: traefik
spec:
  controller: traefik.io/ingress-controller
EOF
}

wait_gateway_programmed() {
    local deadline=$((SECONDS + START_TIMEOUT))
    until [ "$(kctl -n "$ROUTER_NAMESPACE" get gateway "$ROUTER_GATEWAY" \
        -o jsonpath='{.status.conditions[?(@.type=="Programmed")].status}' 2>/dev/null)" = True ]; do
        [ $SECONDS -lt $deadline ] || { show_log_tail "$ROUTER_DIR/traefik.log"; die "router: Gateway not Programmed in ${START_TIMEOUT}s"; }
        sleep 0.5
    done
}

router_start() {
    router_vars
    cluster_vars local 0
    command -v traefik >/dev/null || die "traefik not found: run scripts/install-toolchain"
    mkdir -p "$ROUTER_DIR"
    write_router_config
    ensure_gateway
    daemon_start router/traefik "$ROUTER_DIR" router_ready --env "KUBECONFIG=$CL_ADMIN" \
        --watch "$ROUTER_DIR/traefik.yaml" -- traefik --configFile "$ROUTER_DIR/traefik.yaml"
    wait_gateway_programmed
    log "router: Gateway $ROUTER_NAMESPACE/$ROUTER_GATEWAY programmed on http://127.0.0.1:$ROUTER_PORT"
}

router_stop() {
    router_vars
    daemon_stop router/traefik "$ROUTER_DIR" traefik
    daemon_sweep traefik "$ROUTER_DIR/"
}

router_status() {
    router_vars
    local pid
    if pid="$(daemon_running router/traefik "$ROUTER_DIR" traefik)" && router_ready; then
        status_line "router traefik" up "pid $pid, http://127.0.0.1:$ROUTER_PORT, metrics http://127.0.0.1:$ROUTER_METRICS_PORT/metrics"
    else
        status_line "router traefik" down
        return 3
    fi
}
