//go:build tools

// The node's container runtime, built from its published module (Debian's containerd 1.6 is too
// old for the kubelet's CRI v1 needs). This file only pins the commands for `go build`.
package tools

import (
	_ "github.com/containerd/containerd/v2/cmd/containerd"
	_ "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2"
	_ "github.com/containerd/containerd/v2/cmd/ctr"
)
