// The main package of pulumi-resource-kubernetes, as in upstream's
// provider/cmd/pulumi-resource-kubernetes/main.go. Upstream embeds
// schema-embed.json and terraform-mapping-embed.json, which are generated
// and absent from the module zip, so scripts/toolchain.sh copies this file
// into a wrapper module and writes both JSON files next to it at build time
// (from the module's schema.json with the release version set, and its
// terraform-mapping.json).
package main

import (
	_ "embed"

	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
)

var providerName = "kubernetes"

//go:embed schema-embed.json
var pulumiSchema []byte

//go:embed terraform-mapping-embed.json
var terraformMapping []byte

func main() {
	provider.Serve(providerName, version.Version, pulumiSchema, terraformMapping)
}
