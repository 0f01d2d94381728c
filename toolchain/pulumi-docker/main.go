// Command pulumi-resource-docker is a minimal, compatible stand-in for the official Pulumi Docker provider
// (pulumi/pulumi-docker v4.11.0). It implements a single resource, docker:index/image:Image, by driving the
// `docker` CLI: build, optional registry login, push, and reading back the pushed repo digest.
//
// It exists because the official provider's Go modules cannot be fetched here. The Python SDK
// (pulumi-docker==4.11.0) talks to it unchanged.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/diag"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/cmdutil"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/provider"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
)

const (
	providerName    = "docker"
	providerVersion = "4.11.0"
	imageType       = "docker:index/image:Image"
)

// inputKeys are the Image input properties; Diff compares exactly these.
var inputKeys = []resource.PropertyKey{"imageName", "build", "registry", "skipPush", "buildOnPreview"}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "--version" { // convenience for humans and install scripts
		fmt.Println(providerVersion)
		return
	}
	err := provider.Main(providerName, func(host *provider.HostClient) (pulumirpc.ResourceProviderServer, error) {
		ctx, cancel := context.WithCancel(context.Background())
		return &dockerProvider{host: host, ctx: ctx, cancel: cancel, lookup: headDigest}, nil
	})
	if err != nil {
		cmdutil.ExitError(err.Error())
	}
}

type dockerProvider struct {
	pulumirpc.UnimplementedResourceProviderServer

	host   *provider.HostClient // nil when attached without an engine
	ctx    context.Context      // cancelled by Cancel; kills running docker commands
	cancel context.CancelFunc
	// lookup finds an image already in its registry (headDigest); nil skips the look-up.
	lookup registryDigest
}

// --- marshalling helpers ---

var unmarshalOpts = plugin.MarshalOptions{KeepUnknowns: true, KeepSecrets: true, SkipNulls: true}
var marshalOpts = plugin.MarshalOptions{KeepUnknowns: true, KeepSecrets: true}

func unmarshal(s *structpb.Struct, label string) (resource.PropertyMap, error) {
	opts := unmarshalOpts
	opts.Label = label
	if s == nil {
		return resource.PropertyMap{}, nil
	}
	return plugin.UnmarshalProperties(s, opts)
}

func marshal(m resource.PropertyMap, label string) (*structpb.Struct, error) {
	opts := marshalOpts
	opts.Label = label
	return plugin.MarshalProperties(m, opts)
}

func checkType(urn string) error {
	if t := urnType(urn); t != "" && t != imageType {
		return fmt.Errorf("unknown resource type %q: this provider only implements %s", t, imageType)
	}
	return nil
}

func urnType(urn string) string {
	// urn:pulumi:stack::project::parent$type::name
	parts := strings.Split(urn, "::")
	if len(parts) < 4 {
		return ""
	}
	types := strings.Split(parts[2], "$")
	return types[len(types)-1]
}

// logf sends a message to the engine (shown in the CLI), falling back to stderr.
func (p *dockerProvider) logf(ctx context.Context, sev diag.Severity, urn string, status bool, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if p.host != nil {
		var err error
		if status {
			err = p.host.LogStatus(ctx, sev, resource.URN(urn), msg)
		} else {
			err = p.host.Log(ctx, sev, resource.URN(urn), msg)
		}
		if err == nil {
			return
		}
	}
	fmt.Fprintln(os.Stderr, msg)
}

// --- plugin / provider configuration ---

func (p *dockerProvider) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: providerVersion}, nil
}

func (p *dockerProvider) Handshake(context.Context, *pulumirpc.ProviderHandshakeRequest) (*pulumirpc.ProviderHandshakeResponse, error) {
	// Must agree with Configure.
	return &pulumirpc.ProviderHandshakeResponse{AcceptSecrets: true}, nil
}

func (p *dockerProvider) GetSchema(context.Context, *pulumirpc.GetSchemaRequest) (*pulumirpc.GetSchemaResponse, error) {
	schema, _ := json.Marshal(map[string]any{"name": providerName, "version": providerVersion})
	return &pulumirpc.GetSchemaResponse{Schema: string(schema)}, nil
}

func (p *dockerProvider) CheckConfig(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	return &pulumirpc.CheckResponse{Inputs: req.GetNews()}, nil
}

func (p *dockerProvider) DiffConfig(context.Context, *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE}, nil
}

func (p *dockerProvider) Configure(context.Context, *pulumirpc.ConfigureRequest) (*pulumirpc.ConfigureResponse, error) {
	// Provider configuration (docker host, registryAuth, ...) is accepted and ignored: the docker CLI's
	// own environment (DOCKER_HOST) decides where builds run. A push with credentials logs in with a
	// Docker config directory of its own (see pushWithLogin), never ~/.docker/config.json.
	return &pulumirpc.ConfigureResponse{AcceptSecrets: true, SupportsPreview: true}, nil
}

func (p *dockerProvider) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	p.cancel()
	return &emptypb.Empty{}, nil
}

func (p *dockerProvider) Attach(_ context.Context, req *pulumirpc.PluginAttach) (*emptypb.Empty, error) {
	host, err := provider.NewHostClient(req.GetAddress())
	if err != nil {
		return nil, err
	}
	p.host = host
	return &emptypb.Empty{}, nil
}

// --- resource lifecycle ---

func (p *dockerProvider) Check(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	if err := checkType(req.GetUrn()); err != nil {
		return nil, err
	}
	news, err := unmarshal(req.GetNews(), "Check.news")
	if err != nil {
		return nil, err
	}
	failures, err := checkImage(news)
	if err != nil {
		return nil, err
	}
	inputs, err := marshal(news, "Check.inputs")
	if err != nil {
		return nil, err
	}
	return &pulumirpc.CheckResponse{Inputs: inputs, Failures: failures}, nil
}

func (p *dockerProvider) Diff(_ context.Context, req *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	if err := checkType(req.GetUrn()); err != nil {
		return nil, err
	}
	olds, err := unmarshal(req.GetOldInputs(), "Diff.oldInputs")
	if err != nil {
		return nil, err
	}
	if req.GetOldInputs() == nil { // very old state: fall back to the stored outputs (a superset of the inputs)
		if olds, err = unmarshal(req.GetOlds(), "Diff.olds"); err != nil {
			return nil, err
		}
	}
	news, err := unmarshal(req.GetNews(), "Diff.news")
	if err != nil {
		return nil, err
	}
	ignored := map[string]bool{}
	for _, k := range req.GetIgnoreChanges() {
		ignored[k] = true
	}
	var diffs []string
	for _, k := range inputKeys {
		if ignored[string(k)] {
			continue
		}
		o, n := olds[k], news[k]
		if k == "registry" {
			// Credentials say who may push, not what the image is: rotating them must not rebuild or
			// re-push anything. The new ones are in the state and used by the next real push.
			o, n = registryIdentity(o), registryIdentity(n)
		}
		if o.IsNull() && n.IsNull() {
			continue
		}
		// DeepEquals compares secrets by their values; an unknown new value never equals a known one.
		if n.ContainsUnknowns() || !o.DeepEquals(n) {
			diffs = append(diffs, string(k))
		}
	}
	if len(diffs) == 0 {
		return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE}, nil
	}
	// Like upstream, every change is an in-place update (rebuild + push under the same resource).
	return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_SOME, Diffs: diffs}, nil
}

// registryIdentity is the part of a registry input that Diff compares: the server, not the credentials.
func registryIdentity(v resource.PropertyValue) resource.PropertyValue {
	p := plain(v)
	if !p.IsObject() {
		return v
	}
	server, ok := p.ObjectValue()["server"]
	if !ok {
		return resource.NewNullProperty()
	}
	return resource.NewObjectProperty(resource.PropertyMap{"server": server})
}

// apply builds (and, unless skipped, pushes) the image the properties describe. Create and
// Update differ only in where the request carries those properties.
func (p *dockerProvider) apply(
	ctx context.Context, urn string, properties *structpb.Struct, preview bool, what string,
) (resource.PropertyMap, *structpb.Struct, error) {
	if err := checkType(urn); err != nil {
		return nil, nil, err
	}
	inputs, err := unmarshal(properties, what+".properties")
	if err != nil {
		return nil, nil, err
	}
	outputs, err := p.buildAndPush(ctx, urn, inputs, preview)
	if err != nil {
		return nil, nil, err
	}
	props, err := marshal(outputs, what+".outputs")
	return inputs, props, err
}

func (p *dockerProvider) Create(ctx context.Context, req *pulumirpc.CreateRequest) (*pulumirpc.CreateResponse, error) {
	inputs, props, err := p.apply(ctx, req.GetUrn(), req.GetProperties(), req.GetPreview(), "Create")
	if err != nil {
		return nil, err
	}
	id := ""
	if v := inputs["imageName"]; v.IsString() {
		id = v.StringValue()
	}
	return &pulumirpc.CreateResponse{Id: id, Properties: props}, nil
}

func (p *dockerProvider) Update(ctx context.Context, req *pulumirpc.UpdateRequest) (*pulumirpc.UpdateResponse, error) {
	_, props, err := p.apply(ctx, req.GetUrn(), req.GetNews(), req.GetPreview(), "Update")
	if err != nil {
		return nil, err
	}
	return &pulumirpc.UpdateResponse{Properties: props}, nil
}

func (p *dockerProvider) Read(_ context.Context, req *pulumirpc.ReadRequest) (*pulumirpc.ReadResponse, error) {
	if err := checkType(req.GetUrn()); err != nil {
		return nil, err
	}
	// The image is not re-inspected: the stored state is returned unchanged (refresh is a no-op).
	return &pulumirpc.ReadResponse{Id: req.GetId(), Properties: req.GetProperties(), Inputs: req.GetInputs()}, nil
}

func (p *dockerProvider) Delete(_ context.Context, req *pulumirpc.DeleteRequest) (*emptypb.Empty, error) {
	if err := checkType(req.GetUrn()); err != nil {
		return nil, err
	}
	// Like upstream, neither the local image nor the pushed tag is removed.
	return &emptypb.Empty{}, nil
}
