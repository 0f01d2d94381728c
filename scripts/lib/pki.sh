# shellcheck shell=bash
# Certificates and kubeconfigs of a cluster, all under its pki dir ($CL_PKI, set by cluster_vars):
#   ca                the cluster CA: API server, clients, the kubelet's and metrics-server's serving
#   front-proxy-ca    the aggregation layer's CA: the API server proves with front-proxy-client
#                     that a request it forwards to an aggregated API (metrics.k8s.io) is its own
#   sa                the service-account token key pair
# Each file is made once and kept; a new name (a new SAN) means a new certificate.

# cert NAME CN ORG [SAN [CA]]: a key and a certificate signed by CA (default: the cluster CA). With
# a SAN it serves and authenticates, without it is a client certificate.
cert() {
    local name="$1" cn="$2" org="$3" san="${4:-}" ca="${5:-ca}"
    [ -s "$CL_PKI/$name.crt" ] && return 0
    local subj="/CN=$cn" ext="$CL_PKI/$name.ext"
    [ -n "$org" ] && subj="/O=$org$subj"
    openssl genrsa -out "$CL_PKI/$name.key" 2048 2>/dev/null
    openssl req -new -key "$CL_PKI/$name.key" -subj "$subj" -out "$CL_PKI/$name.csr" 2>/dev/null
    {
        echo "basicConstraints=CA:FALSE"
        echo "keyUsage=critical,digitalSignature,keyEncipherment"
        if [ -n "$san" ]; then
            echo "extendedKeyUsage=serverAuth,clientAuth"
            echo "subjectAltName=$san"
        else
            echo "extendedKeyUsage=clientAuth"
        fi
    } > "$ext"
    openssl x509 -req -in "$CL_PKI/$name.csr" -CA "$CL_PKI/$ca.crt" -CAkey "$CL_PKI/$ca.key" \
        -CAcreateserial -days 3650 -sha256 -extfile "$ext" -out "$CL_PKI/$name.crt" 2>/dev/null
    rm -f "$CL_PKI/$name.csr" "$ext"
}

ca() { # NAME SUBJECT-CN
    [ -s "$CL_PKI/$1.crt" ] && return 0
    openssl genrsa -out "$CL_PKI/$1.key" 2048 2>/dev/null
    openssl req -x509 -new -key "$CL_PKI/$1.key" -subj "/CN=$2" -days 3650 -sha256 -out "$CL_PKI/$1.crt" 2>/dev/null
}

ensure_pki() {
    mkdir -p "$CL_PKI"
    chmod 700 "$CL_PKI"
    [ -s "$CL_PKI/ca.crt" ] || log "cluster $CL_NAME: new CA and certificates in $CL_PKI"
    ca ca "valohai-local-$CL_NAME-ca"
    cert apiserver kube-apiserver "" \
        "IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
    cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters
    cert admin admin system:masters
    cert controller-manager system:kube-controller-manager ""
    cert scheduler system:kube-scheduler ""
    cert kube-proxy system:kube-proxy ""
    ca front-proxy-ca "valohai-local-$CL_NAME-front-proxy-ca"
    cert front-proxy-client front-proxy-client "" "" front-proxy-ca
    if [ ! -s "$CL_PKI/sa.key" ]; then
        openssl genrsa -out "$CL_PKI/sa.key" 2048 2>/dev/null
        openssl rsa -in "$CL_PKI/sa.key" -pubout -out "$CL_PKI/sa.pub" 2>/dev/null
    fi
}

# write_kubeconfig FILE USER: a kubeconfig for USER's client certificate (embedded, so the file
# can be copied anywhere).
write_kubeconfig() {
    local file="$1" user="$2" ca crt key
    ca="$(base64 -w0 < "$CL_PKI/ca.crt")"
    crt="$(base64 -w0 < "$CL_PKI/$user.crt")"
    key="$(base64 -w0 < "$CL_PKI/$user.key")"
    (
        umask 077
        cat > "$file.tmp" <<EOF2
apiVersion: v1
kind: Config
clusters:
- name: valohai-$CL_NAME
  cluster:
    server: https://127.0.0.1:$CL_API_PORT
    certificate-authority-data: $ca
users:
- name: $user
  user:
    client-certificate-data: $crt
    client-key-data: $key
contexts:
- name: valohai-$CL_NAME
  context:
    cluster: valohai-$CL_NAME
    user: $user
current-context: valohai-$CL_NAME
EOF2
    )
    mv "$file.tmp" "$file"
}
