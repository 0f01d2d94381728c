//go:build tools

// The router of the local cluster (Gateway API and Ingress provider). This file only pins the
// command for `go build`.
package tools

import _ "github.com/traefik/traefik/v3/cmd/traefik"
