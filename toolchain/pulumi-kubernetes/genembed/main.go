// genembed writes the two files the provider's main package embeds, the way upstream's
// `go generate` step (cmd/pulumi-resource-kubernetes/generate.go) does: schema-embed.json is the
// committed schema.json with its "version" field set, terraform-mapping-embed.json the committed
// terraform-mapping.json, both compacted.
//
//	go run ./genembed -src <module>/cmd/pulumi-resource-kubernetes -version 4.25.0 -out <dir>
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"log"
	"os"
	"path/filepath"
)

func main() {
	src := flag.String("src", "", "directory holding schema.json and terraform-mapping.json")
	version := flag.String("version", "", "provider version to write into the schema (no leading v)")
	out := flag.String("out", ".", "output directory")
	flag.Parse()
	if *src == "" || *version == "" {
		log.Fatal("-src and -version are required")
	}

	raw, err := os.ReadFile(filepath.Join(*src, "schema.json"))
	if err != nil {
		log.Fatal(err)
	}
	var spec map[string]json.RawMessage
	if err := json.Unmarshal(raw, &spec); err != nil {
		log.Fatalf("cannot parse schema.json: %v", err)
	}
	v, _ := json.Marshal(*version)
	spec["version"] = v
	schema, err := json.Marshal(spec)
	if err != nil {
		log.Fatal(err)
	}
	write(filepath.Join(*out, "schema-embed.json"), schema)

	raw, err = os.ReadFile(filepath.Join(*src, "terraform-mapping.json"))
	if err != nil {
		log.Fatal(err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, raw); err != nil {
		log.Fatalf("cannot parse terraform-mapping.json: %v", err)
	}
	write(filepath.Join(*out, "terraform-mapping-embed.json"), compact.Bytes())
}

func write(path string, data []byte) {
	if err := os.WriteFile(path, data, 0o644); err != nil {
		log.Fatal(err)
	}
}
