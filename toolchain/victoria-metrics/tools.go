//go:build tools

// The local stack's metrics server: VictoriaMetrics single-node, which scrapes the router's
// Prometheus metrics and answers the Prometheus HTTP API. This file only pins the command.
package tools

import _ "github.com/VictoriaMetrics/VictoriaMetrics/app/victoria-metrics"
