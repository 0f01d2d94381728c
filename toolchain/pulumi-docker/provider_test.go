package main

// The provider's gRPC methods, driven directly with a fake `docker` first on PATH: a shell script
// that records every call (arguments, DOCKER_CONFIG, stdin) and fails on request.

import (
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/protobuf/types/known/structpb"
)

const (
	testURN    = "urn:pulumi:test::proj::valohai:index:DeploymentVersion$docker:index/image:Image::v1-img-image"
	testDigest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	imageName  = "registry.example.com:5000/acme/mnist:v1-abc"
)

// fakeDocker is the script; FAKE_DOCKER_LOG gets one line per call, FAKE_DOCKER_FAIL names a command to fail.
const fakeDocker = `#!/bin/sh
stdin=""
if [ "$1" = "login" ]; then
  stdin="$(cat)"
  [ -n "$DOCKER_CONFIG" ] && printf '{"auths":{"%s":{}}}' "$2" > "$DOCKER_CONFIG/config.json"
fi
printf '%s|config=%s|stdin=%s|config-exists=%s\n' "$*" "$DOCKER_CONFIG" "$stdin" \
  "$( [ -n "$DOCKER_CONFIG" ] && [ -d "$DOCKER_CONFIG" ] && echo yes || echo no )" >> "$FAKE_DOCKER_LOG"
if [ "$1" = "$FAKE_DOCKER_FAIL" ]; then echo "fake $1 failure" >&2; exit 1; fi
case "$1" in
  push) echo "v1-abc: digest: ` + testDigest + ` size: 1234" ;;
  image) echo "[]" ;;
esac
`

type fixture struct {
	t       *testing.T
	p       *dockerProvider
	log     string
	context string
	home    string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "docker"), []byte(fakeDocker), 0o755); err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("HOME", home)
	t.Setenv("DOCKER_CONFIG", "")
	log := filepath.Join(t.TempDir(), "docker.log")
	t.Setenv("FAKE_DOCKER_LOG", log)
	t.Setenv("FAKE_DOCKER_FAIL", "")
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "Dockerfile"), "FROM python:3.11\nCOPY app.py /app.py\n")
	writeFile(t, filepath.Join(dir, "app.py"), "print('hi')\n")
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return &fixture{t: t, p: &dockerProvider{ctx: ctx, cancel: cancel}, log: log, context: dir, home: home}
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// calls are the docker invocations so far, one string each.
func (f *fixture) calls() []string {
	data, err := os.ReadFile(f.log)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		f.t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(data)), "\n")
}

func (f *fixture) inputs(password string) resource.PropertyMap {
	return resource.PropertyMap{
		"imageName": resource.NewStringProperty(imageName),
		"build": resource.NewObjectProperty(resource.PropertyMap{
			"context":        resource.NewStringProperty(f.context),
			"builderVersion": resource.NewStringProperty("BuilderV1"),
		}),
		"registry": resource.NewObjectProperty(resource.PropertyMap{
			"server":   resource.NewStringProperty("registry.example.com:5000"),
			"username": resource.NewStringProperty("ci"),
			"password": resource.MakeSecret(resource.NewStringProperty(password)),
		}),
		"buildOnPreview": resource.NewBoolProperty(false),
	}
}

func toStruct(t *testing.T, m resource.PropertyMap) *structpb.Struct {
	t.Helper()
	s, err := plugin.MarshalProperties(m, plugin.MarshalOptions{KeepUnknowns: true, KeepSecrets: true})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func fromStruct(t *testing.T, s *structpb.Struct) resource.PropertyMap {
	t.Helper()
	m, err := plugin.UnmarshalProperties(s, plugin.MarshalOptions{KeepUnknowns: true, KeepSecrets: true})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// check runs Check and returns the checked inputs, as the engine would pass them on.
func (f *fixture) check(news resource.PropertyMap) resource.PropertyMap {
	f.t.Helper()
	resp, err := f.p.Check(context.Background(), &pulumirpc.CheckRequest{Urn: testURN, News: toStruct(f.t, news)})
	if err != nil {
		f.t.Fatal(err)
	}
	if len(resp.GetFailures()) > 0 {
		f.t.Fatalf("check failures: %v", resp.GetFailures())
	}
	return fromStruct(f.t, resp.GetInputs())
}

func (f *fixture) diff(olds, news resource.PropertyMap) *pulumirpc.DiffResponse {
	f.t.Helper()
	resp, err := f.p.Diff(context.Background(), &pulumirpc.DiffRequest{
		Urn: testURN, Id: imageName, OldInputs: toStruct(f.t, olds), Olds: toStruct(f.t, olds), News: toStruct(f.t, news),
	})
	if err != nil {
		f.t.Fatal(err)
	}
	return resp
}

func buildField(t *testing.T, m resource.PropertyMap, key resource.PropertyKey) string {
	t.Helper()
	build, _ := object(m, "build")
	v, _ := str(build, key)
	return v
}

func TestCheckFillsDefaultsAndTheContextDigest(t *testing.T) {
	f := newFixture(t)
	news := f.inputs("pw")
	build, _ := object(news, "build")
	build["contextDigest"] = resource.NewStringProperty("sha256:forged")
	checked := f.check(news)
	if got := buildField(t, checked, "dockerfile"); got != filepath.Join(f.context, "Dockerfile") {
		t.Errorf("dockerfile default = %q", got)
	}
	digest := buildField(t, checked, "contextDigest")
	if !strings.HasPrefix(digest, "sha256:") || digest == "sha256:forged" {
		t.Errorf("contextDigest = %q, want one computed from the context", digest)
	}
	if again := buildField(t, f.check(f.inputs("pw")), "contextDigest"); again != digest {
		t.Errorf("same context, different digests: %s, %s", digest, again)
	}
	writeFile(t, filepath.Join(f.context, "app.py"), "print('changed')\n")
	if changed := buildField(t, f.check(f.inputs("pw")), "contextDigest"); changed == digest {
		t.Error("a changed file must change the context digest")
	}
	if len(f.calls()) != 0 {
		t.Errorf("Check ran docker: %v", f.calls())
	}
}

func TestCheckReportsABadBuilderAndLeavesUnknownBuildsAlone(t *testing.T) {
	f := newFixture(t)
	bad := f.inputs("pw")
	build, _ := object(bad, "build")
	build["builderVersion"] = resource.NewStringProperty("Kaniko")
	resp, err := f.p.Check(context.Background(), &pulumirpc.CheckRequest{Urn: testURN, News: toStruct(t, bad)})
	if err != nil || len(resp.GetFailures()) != 1 || resp.GetFailures()[0].GetProperty() != "build.builderVersion" {
		t.Errorf("failures = %v, err = %v", resp.GetFailures(), err)
	}
	unknown := f.inputs("pw")
	unknown["build"] = resource.MakeComputed(resource.NewStringProperty(""))
	checked := f.check(unknown)
	if !checked["build"].IsComputed() {
		t.Errorf("an unknown build must stay unknown, got %v", checked["build"])
	}
}

func TestCheckRejectsOtherResourceTypes(t *testing.T) {
	f := newFixture(t)
	_, err := f.p.Check(context.Background(), &pulumirpc.CheckRequest{
		Urn: "urn:pulumi:test::proj::docker:index/container:Container::c", News: toStruct(t, f.inputs("pw")),
	})
	if err == nil {
		t.Error("want an error for a type this provider does not implement")
	}
}

func TestDiffIgnoresCredentialsButNotContent(t *testing.T) {
	f := newFixture(t)
	olds := f.check(f.inputs("old-password"))
	if d := f.diff(olds, f.check(f.inputs("old-password"))); d.GetChanges() != pulumirpc.DiffResponse_DIFF_NONE {
		t.Errorf("same inputs: %v", d)
	}
	rotated := f.check(f.inputs("new-password"))
	registry, _ := object(rotated, "registry")
	registry["username"] = resource.NewStringProperty("robot")
	if d := f.diff(olds, rotated); d.GetChanges() != pulumirpc.DiffResponse_DIFF_NONE {
		t.Errorf("new credentials must not rebuild or re-push: %v", d.GetDiffs())
	}
	moved := f.check(f.inputs("old-password"))
	registry, _ = object(moved, "registry")
	registry["server"] = resource.NewStringProperty("other.example.com")
	if d := f.diff(olds, moved); d.GetChanges() != pulumirpc.DiffResponse_DIFF_SOME || d.GetDiffs()[0] != "registry" {
		t.Errorf("another registry server is a change: %v", d)
	}
	writeFile(t, filepath.Join(f.context, "app.py"), "print('changed')\n")
	if d := f.diff(olds, f.check(f.inputs("old-password"))); d.GetChanges() != pulumirpc.DiffResponse_DIFF_SOME {
		t.Errorf("changed context must be a change: %v", d)
	}
	renamed := f.inputs("old-password")
	renamed["imageName"] = resource.MakeComputed(resource.NewStringProperty(""))
	if d := f.diff(olds, renamed); d.GetChanges() != pulumirpc.DiffResponse_DIFF_SOME {
		t.Errorf("an unknown new name must be a change: %v", d)
	}
}

func TestCreateBuildsAndPushesWithAPrivateDockerConfig(t *testing.T) {
	f := newFixture(t)
	resp, err := f.p.Create(context.Background(), &pulumirpc.CreateRequest{
		Urn: testURN, Properties: toStruct(t, f.check(f.inputs("s3cret"))),
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetId() != imageName {
		t.Errorf("id = %q", resp.GetId())
	}
	out := fromStruct(t, resp.GetProperties())
	if got, _ := str(out, "repoDigest"); got != "registry.example.com:5000/acme/mnist@"+testDigest {
		t.Errorf("repoDigest = %q", got)
	}
	if !out["registry"].ObjectValue()["password"].IsSecret() {
		t.Error("the password must stay secret in the outputs")
	}
	calls := f.calls()
	if len(calls) != 3 || !strings.HasPrefix(calls[0], "build --force-rm -f ") ||
		!strings.HasPrefix(calls[1], "login registry.example.com:5000 --username ci --password-stdin|") ||
		!strings.HasPrefix(calls[2], "push "+imageName+"|") {
		t.Fatalf("docker calls: %q", calls)
	}
	if !strings.Contains(calls[0], "|config=|") {
		t.Errorf("build must use the ambient docker config: %s", calls[0])
	}
	loginConfig := field(calls[1], "config")
	if loginConfig == "" || strings.HasPrefix(loginConfig, f.home) || field(calls[1], "config-exists") != "yes" {
		t.Errorf("login must use a temporary DOCKER_CONFIG: %s", calls[1])
	}
	if field(calls[2], "config") != loginConfig {
		t.Errorf("push must use the login's DOCKER_CONFIG: %s", calls[2])
	}
	if field(calls[1], "stdin") != "s3cret" || strings.Contains(strings.Split(calls[1], "|")[0], "s3cret") {
		t.Errorf("the password goes through stdin only: %s", calls[1])
	}
	if _, err := os.Stat(loginConfig); !os.IsNotExist(err) {
		t.Errorf("the temporary docker config %s must be removed after the push", loginConfig)
	}
	if _, err := os.Stat(filepath.Join(f.home, ".docker")); !os.IsNotExist(err) {
		t.Error("~/.docker must not be touched")
	}
}

func TestCreateWithoutCredentialsDoesNotLogIn(t *testing.T) {
	f := newFixture(t)
	inputs := f.inputs("")
	delete(inputs, "registry")
	if _, err := f.p.Create(context.Background(), &pulumirpc.CreateRequest{Urn: testURN, Properties: toStruct(t, f.check(inputs))}); err != nil {
		t.Fatal(err)
	}
	for _, call := range f.calls() {
		if strings.HasPrefix(call, "login") {
			t.Errorf("logged in without credentials: %s", call)
		}
	}
}

func TestPreviewWithUnknownsRunsNothing(t *testing.T) {
	f := newFixture(t)
	inputs := f.inputs("pw")
	inputs["imageName"] = resource.MakeComputed(resource.NewStringProperty(""))
	inputs["buildOnPreview"] = resource.NewBoolProperty(true)
	resp, err := f.p.Create(context.Background(), &pulumirpc.CreateRequest{
		Urn: testURN, Properties: toStruct(t, f.check(inputs)), Preview: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	out := fromStruct(t, resp.GetProperties())
	if !out["repoDigest"].IsComputed() {
		t.Errorf("repoDigest must be unknown in a preview, got %v", out["repoDigest"])
	}
	if len(f.calls()) != 0 {
		t.Errorf("a preview with unknown inputs ran docker: %v", f.calls())
	}
	// Known inputs, buildOnPreview false (what the program sets): a preview builds nothing either.
	resp, err = f.p.Create(context.Background(), &pulumirpc.CreateRequest{
		Urn: testURN, Properties: toStruct(t, f.check(f.inputs("pw"))), Preview: true,
	})
	if err != nil || !fromStruct(t, resp.GetProperties())["repoDigest"].IsComputed() || len(f.calls()) != 0 {
		t.Errorf("preview: err=%v calls=%v", err, f.calls())
	}
}

func TestUpdateRebuildsAndAFailedPushKeepsTheOldState(t *testing.T) {
	f := newFixture(t)
	olds := f.check(f.inputs("pw"))
	created, err := f.p.Create(context.Background(), &pulumirpc.CreateRequest{Urn: testURN, Properties: toStruct(t, olds)})
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(f.context, "app.py"), "print('v2')\n")
	news := f.check(f.inputs("pw"))
	t.Setenv("FAKE_DOCKER_FAIL", "push")
	resp, err := f.p.Update(context.Background(), &pulumirpc.UpdateRequest{
		Urn: testURN, Id: imageName, Olds: created.GetProperties(), News: toStruct(t, news), OldInputs: toStruct(t, olds),
	})
	// An error with no properties: the engine keeps the resource's previous state.
	if err == nil || resp != nil || !strings.Contains(err.Error(), "fake push failure") {
		t.Fatalf("want the push error and no new state, got resp=%v err=%v", resp, err)
	}
	t.Setenv("FAKE_DOCKER_FAIL", "")
	resp, err = f.p.Update(context.Background(), &pulumirpc.UpdateRequest{
		Urn: testURN, Id: imageName, Olds: created.GetProperties(), News: toStruct(t, news), OldInputs: toStruct(t, olds),
	})
	if err != nil {
		t.Fatal(err)
	}
	out := fromStruct(t, resp.GetProperties())
	if got, _ := str(out, "contextDigest"); got != buildField(t, news, "contextDigest") {
		t.Errorf("contextDigest = %q", got)
	}
}

func TestFailedBuildPushesNothing(t *testing.T) {
	f := newFixture(t)
	t.Setenv("FAKE_DOCKER_FAIL", "build")
	_, err := f.p.Create(context.Background(), &pulumirpc.CreateRequest{Urn: testURN, Properties: toStruct(t, f.check(f.inputs("pw")))})
	if err == nil || !strings.Contains(err.Error(), "docker build of "+imageName+" failed") {
		t.Fatalf("err = %v", err)
	}
	if calls := f.calls(); len(calls) != 1 {
		t.Errorf("nothing after a failed build: %v", calls)
	}
}

func TestReadReturnsTheStateAndDeleteLeavesTheImage(t *testing.T) {
	f := newFixture(t)
	state := toStruct(t, resource.PropertyMap{"imageName": resource.NewStringProperty(imageName), "repoDigest": resource.NewStringProperty("r@" + testDigest)})
	read, err := f.p.Read(context.Background(), &pulumirpc.ReadRequest{Urn: testURN, Id: imageName, Properties: state, Inputs: state})
	if err != nil || read.GetId() != imageName || !fromStruct(t, read.GetProperties()).DeepEquals(fromStruct(t, state)) {
		t.Errorf("read = %v, err = %v", read, err)
	}
	if _, err := f.p.Delete(context.Background(), &pulumirpc.DeleteRequest{Urn: testURN, Id: imageName, Properties: state}); err != nil {
		t.Fatal(err)
	}
	if len(f.calls()) != 0 {
		t.Errorf("Read/Delete ran docker: %v", f.calls())
	}
}

// field returns the value of `name=` in a fake docker log line.
func field(line, name string) string {
	for _, part := range strings.Split(line, "|")[1:] {
		if value, ok := strings.CutPrefix(part, name+"="); ok {
			return value
		}
	}
	return ""
}

// A registry on 127.0.0.1 (go-containerregistry's own, in memory), holding one image under imageTag.
func testRegistry(t *testing.T, imageTag string) (host, digest string) {
	t.Helper()
	server := httptest.NewServer(registry.New())
	t.Cleanup(server.Close)
	host = strings.TrimPrefix(server.URL, "http://")
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.NewTag(host+"/acme/mnist:"+imageTag, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return host, d.String()
}

func TestHeadDigestFindsATagAndReportsAMissingOne(t *testing.T) {
	host, digest := testRegistry(t, "v1-abc")
	got, err := headDigest(context.Background(), host+"/acme/mnist:v1-abc", "", "")
	if err != nil || got != digest {
		t.Fatalf("headDigest = %q, %v; want %q", got, err, digest)
	}
	got, err = headDigest(context.Background(), host+"/acme/mnist:v1-other", "", "")
	if err != nil || got != "" {
		t.Fatalf("a missing tag: headDigest = %q, %v; want \"\", nil", got, err)
	}
}

func TestAnImageAlreadyInTheRegistryIsNotBuiltAgain(t *testing.T) {
	f := newFixture(t)
	host, digest := testRegistry(t, "v1-abc")
	f.p.lookup = headDigest
	inputs := f.inputs("s3cret")
	inputs["imageName"] = resource.NewStringProperty(host + "/acme/mnist:v1-abc")
	inputs["registry"] = resource.NewObjectProperty(resource.PropertyMap{"server": resource.NewStringProperty(host)})
	resp, err := f.p.Create(context.Background(), &pulumirpc.CreateRequest{Urn: testURN, Properties: toStruct(t, f.check(inputs))})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := str(fromStruct(t, resp.GetProperties()), "repoDigest"); got != host+"/acme/mnist@"+digest {
		t.Errorf("repoDigest = %q, want the registry's digest", got)
	}
	if calls := f.calls(); len(calls) != 0 {
		t.Errorf("docker ran for an image the registry has: %q", calls)
	}

	// Another content hash (another tag) is not there: built and pushed as before.
	inputs["imageName"] = resource.NewStringProperty(host + "/acme/mnist:v1-def")
	if _, err := f.p.Create(context.Background(), &pulumirpc.CreateRequest{Urn: testURN, Properties: toStruct(t, f.check(inputs))}); err != nil {
		t.Fatal(err)
	}
	if calls := f.calls(); len(calls) != 2 || !strings.HasPrefix(calls[0], "build ") || !strings.HasPrefix(calls[1], "push ") {
		t.Errorf("docker calls for a missing tag: %q", calls)
	}
}

func TestAnUnreachableRegistryMeansABuild(t *testing.T) {
	f := newFixture(t)
	f.p.lookup = func(context.Context, string, string, string) (string, error) {
		return "", errors.New("connection refused")
	}
	if _, err := f.p.Create(context.Background(), &pulumirpc.CreateRequest{Urn: testURN, Properties: toStruct(t, f.check(f.inputs("pw")))}); err != nil {
		t.Fatal(err)
	}
	if calls := f.calls(); len(calls) != 3 || !strings.HasPrefix(calls[0], "build ") {
		t.Errorf("docker calls: %q", calls)
	}
}
