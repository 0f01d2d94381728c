// Wrapper main for the Pulumi Kubernetes provider plugin (pulumi-resource-kubernetes).
//
// Upstream's cmd/pulumi-resource-kubernetes embeds schema-embed.json and
// terraform-mapping-embed.json, which are generated at build time and are not part of the
// published Go module. scripts/install-toolchain copies this file into a build directory in the
// cache, generates both files there from the module's committed schema.json and
// terraform-mapping.json (with the schema's "version" field set), and builds from there.
package main

import (
	_ "embed"

	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
)

//go:embed schema-embed.json
var pulumiSchema []byte

//go:embed terraform-mapping-embed.json
var terraformMapping []byte

func main() {
	provider.Serve("kubernetes", version.Version, pulumiSchema, terraformMapping)
}
