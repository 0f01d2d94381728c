//go:build tools

// The local cluster's resource metrics API (metrics.k8s.io), which HorizontalPodAutoscalers and
// `kubectl top` read. This file only pins the command.
package tools

import _ "sigs.k8s.io/metrics-server/cmd/metrics-server"
