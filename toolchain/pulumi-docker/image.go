package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/diag"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// tailLines is how much build/push output an error message carries.
const tailLines = 40

// registryLookupTimeout bounds the check for an image already in the registry; past it, the image is built.
const registryLookupTimeout = 30 * time.Second

// --- reading property values ---

// plain strips a secret wrapper (the value stays secret in the outputs, which are built from the inputs).
func plain(v resource.PropertyValue) resource.PropertyValue {
	for v.IsSecret() {
		v = v.SecretValue().Element
	}
	return v
}

// object returns the map under key (nil if absent) and whether it is fully known.
func object(m resource.PropertyMap, key resource.PropertyKey) (resource.PropertyMap, bool) {
	v := plain(m[key])
	if v.IsComputed() || v.IsOutput() {
		return nil, false
	}
	if v.IsObject() {
		return v.ObjectValue(), true
	}
	return nil, true
}

// str returns the string under key ("" if absent) and whether it is known.
func str(m resource.PropertyMap, key resource.PropertyKey) (string, bool) {
	v := plain(m[key])
	switch {
	case v.IsComputed() || v.IsOutput():
		return "", false
	case v.IsString():
		return v.StringValue(), true
	}
	return "", true
}

func boolean(m resource.PropertyMap, key resource.PropertyKey) bool {
	v := plain(m[key])
	return v.IsBool() && v.BoolValue()
}

func strList(m resource.PropertyMap, key resource.PropertyKey) []string {
	var out []string
	if v := plain(m[key]); v.IsArray() {
		for _, e := range v.ArrayValue() {
			if e = plain(e); e.IsString() {
				out = append(out, e.StringValue())
			}
		}
	}
	return out
}

// --- Check: defaults and the context digest ---

// checkImage validates the inputs and, in place, fills in build defaults and build.contextDigest: a hash of
// the build context and Dockerfile, so that Diff sees content changes even when no input string changed.
func checkImage(news resource.PropertyMap) ([]*pulumirpc.CheckFailure, error) {
	var failures []*pulumirpc.CheckFailure
	fail := func(prop, format string, args ...any) {
		failures = append(failures, &pulumirpc.CheckFailure{Property: prop, Reason: fmt.Sprintf(format, args...)})
	}
	if name, known := str(news, "imageName"); known && name == "" {
		fail("imageName", "imageName is required")
	}

	buildVal := news["build"]
	secret := buildVal.IsSecret()
	build, known := object(news, "build")
	if !known {
		return failures, nil // computed: the digest is computed once the value is known (at update time)
	}
	if build == nil {
		build = resource.PropertyMap{}
	} else {
		build = build.Copy()
	}
	delete(build, "contextDigest") // never trust a digest supplied by the program

	ctxDir, ctxKnown := str(build, "context")
	if ctxKnown && ctxDir == "" {
		ctxDir = "."
		build["context"] = resource.NewStringProperty(ctxDir)
	}
	dockerfile, dfKnown := str(build, "dockerfile")
	if ctxKnown && dfKnown && dockerfile == "" {
		dockerfile = filepath.Join(ctxDir, "Dockerfile")
		build["dockerfile"] = resource.NewStringProperty(dockerfile)
	}
	if bv, ok := str(build, "builderVersion"); ok && bv != "" && bv != "BuilderV1" && bv != "BuilderBuildKit" {
		fail("build.builderVersion", "builderVersion must be BuilderV1 or BuilderBuildKit, got %q", bv)
	}
	if ctxKnown && dfKnown {
		digest, err := contextDigest(ctxDir, dockerfile)
		if err != nil {
			fail("build", "%v", err)
		} else {
			build["contextDigest"] = resource.NewStringProperty(digest)
		}
	}

	v := resource.NewObjectProperty(build)
	if secret {
		v = resource.MakeSecret(v)
	}
	news["build"] = v
	return failures, nil
}

// contextDigest hashes every entry of the context directory (sorted relative path, type and permission
// bits, file contents, symlink targets; nothing is skipped) followed by the Dockerfile's content.
func contextDigest(ctxDir, dockerfile string) (string, error) {
	st, err := os.Stat(ctxDir)
	if err != nil {
		return "", fmt.Errorf("build context %q: %w", ctxDir, err)
	}
	if !st.IsDir() {
		return "", fmt.Errorf("build context %q is not a directory", ctxDir)
	}
	type entry struct {
		rel  string
		path string
		mode fs.FileMode
	}
	var entries []entry
	err = filepath.WalkDir(ctxDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(ctxDir, path)
		if err != nil {
			return err
		}
		entries = append(entries, entry{filepath.ToSlash(rel), path, info.Mode()})
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("hashing build context %q: %w", ctxDir, err)
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].rel < entries[j].rel })

	h := sha256.New()
	for _, e := range entries {
		fmt.Fprintf(h, "%q %s %o\n", e.rel, e.mode.Type().String(), e.mode.Perm())
		switch {
		case e.mode.Type() == fs.ModeSymlink:
			target, err := os.Readlink(e.path)
			if err != nil {
				return "", err
			}
			fmt.Fprintf(h, "-> %q\n", target)
		case e.mode.IsRegular():
			if err := hashFile(h, e.path); err != nil {
				return "", err
			}
		}
	}
	fmt.Fprintf(h, "Dockerfile\n")
	if err := hashFile(h, dockerfile); err != nil {
		return "", fmt.Errorf("dockerfile %q: %w", dockerfile, err)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

func hashFile(h io.Writer, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	n, err := io.Copy(h, f)
	fmt.Fprintf(h, "\n%d\n", n) // length-terminate so adjacent files cannot blur together
	return err
}

// --- Create / Update ---

// buildAndPush builds the image (unless this is a preview without buildOnPreview), logs in and pushes it
// (unless skipPush), and returns the inputs plus the Image outputs.
func (p *dockerProvider) buildAndPush(
	ctx context.Context, urn string, inputs resource.PropertyMap, preview bool,
) (resource.PropertyMap, error) {
	outputs := inputs.Copy()
	unknown := resource.MakeComputed(resource.NewStringProperty(""))

	imageName, nameKnown := str(inputs, "imageName")
	build, buildKnown := object(inputs, "build")
	registry, registryKnown := object(inputs, "registry")
	ctxDir, _ := str(build, "context")
	dockerfile, _ := str(build, "dockerfile")
	digest, _ := str(build, "contextDigest")
	platform, platformKnown := str(build, "platform")

	// Outputs that need no docker work.
	outputs["baseImageName"] = inputs["imageName"]
	outputs["context"] = resource.NewStringProperty(ctxDir)
	outputs["dockerfile"] = resource.NewStringProperty(dockerfile)
	if digest != "" {
		outputs["contextDigest"] = resource.NewStringProperty(digest)
	}
	if platform != "" {
		outputs["platform"] = resource.NewStringProperty(platform)
	} else if !platformKnown {
		outputs["platform"] = unknown
	}
	server, serverKnown := str(registry, "server")
	switch {
	case !registryKnown || !serverKnown || (server == "" && !nameKnown):
		outputs["registryServer"] = unknown
	case server != "":
		outputs["registryServer"] = resource.NewStringProperty(server)
	default:
		outputs["registryServer"] = resource.NewStringProperty(registryHost(imageName))
	}
	outputs["repoDigest"] = unknown

	if preview && !boolean(inputs, "buildOnPreview") {
		return outputs, nil
	}
	if !nameKnown || !buildKnown || !registryKnown || build.ContainsUnknowns() || registry.ContainsUnknowns() {
		if preview {
			return outputs, nil // cannot build with unknown inputs; the real update will
		}
		return nil, errors.New("image inputs contain unknown values outside of a preview")
	}
	if imageName == "" {
		return nil, errors.New("imageName is required")
	}
	if digest == "" {
		// Check computes it; recompute when called with state that predates it.
		if digest, err := contextDigest(ctxDir, dockerfile); err == nil {
			outputs["contextDigest"] = resource.NewStringProperty(digest)
		}
	}

	ctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() { // Cancel() on the provider kills running docker commands too
		select {
		case <-p.ctx.Done():
			stop()
		case <-ctx.Done():
		}
	}()

	username, _ := str(registry, "username")
	password, _ := str(registry, "password")
	if !preview && !boolean(inputs, "skipPush") && p.lookup != nil {
		lookupCtx, done := context.WithTimeout(ctx, registryLookupTimeout)
		found, err := p.lookup(lookupCtx, imageName, username, password)
		done()
		switch {
		case err != nil:
			p.logf(ctx, diag.Info, urn, false, "Could not look %s up in its registry (%v); building it", imageName, err)
		case found != "":
			p.logf(ctx, diag.Info, urn, false, "%s is in the registry already (%s): not built again", imageName, found)
			outputs["repoDigest"] = resource.NewStringProperty(repository(imageName) + "@" + found)
			return outputs, nil
		}
	}

	if err := p.dockerBuild(ctx, urn, imageName, build); err != nil {
		return nil, err
	}
	if preview {
		return outputs, nil // buildOnPreview: build only, never push during a preview
	}

	if boolean(inputs, "skipPush") {
		outputs["repoDigest"] = resource.NewStringProperty("")
		return outputs, nil
	}
	var env []string
	if username != "" && password != "" {
		loginServer := server
		if loginServer == "" {
			loginServer = registryHost(imageName)
		}
		// A Docker config directory for this push alone: the login never lands in the user's
		// ~/.docker/config.json, and concurrent pushes with different credentials cannot mix.
		configDir, err := os.MkdirTemp("", "pulumi-docker-config-")
		if err != nil {
			return nil, fmt.Errorf("creating a docker config directory: %w", err)
		}
		defer os.RemoveAll(configDir)
		env = []string{"DOCKER_CONFIG=" + configDir}
		if err := p.dockerLogin(ctx, urn, env, loginServer, username, password); err != nil {
			return nil, err
		}
	}
	repoDigest, err := p.dockerPush(ctx, urn, env, imageName)
	if err != nil {
		return nil, err
	}
	outputs["repoDigest"] = resource.NewStringProperty(repoDigest)
	return outputs, nil
}

func (p *dockerProvider) dockerBuild(ctx context.Context, urn, imageName string, build resource.PropertyMap) error {
	ctxDir, _ := str(build, "context")
	dockerfile, _ := str(build, "dockerfile")
	args := []string{"build", "-f", dockerfile, "-t", imageName}
	for _, flag := range []struct{ key, flag string }{
		{"network", "--network"}, {"platform", "--platform"}, {"target", "--target"},
	} {
		if v, _ := str(build, resource.PropertyKey(flag.key)); v != "" {
			args = append(args, flag.flag, v)
		}
	}
	if buildArgs, _ := object(build, "args"); buildArgs != nil {
		for _, k := range buildArgs.StableKeys() {
			if v := plain(buildArgs[k]); v.IsString() {
				args = append(args, "--build-arg", string(k)+"="+v.StringValue())
			}
		}
	}
	for _, h := range strList(build, "addHosts") {
		args = append(args, "--add-host", h)
	}
	if cacheFrom, _ := object(build, "cacheFrom"); cacheFrom != nil {
		for _, img := range strList(cacheFrom, "images") {
			args = append(args, "--cache-from", img)
		}
	}
	args = append(args, ctxDir)

	buildkit := "1" // upstream's default builder
	if bv, _ := str(build, "builderVersion"); bv == "BuilderV1" {
		buildkit = "0"
		// A failed classic build must not leave its intermediate container behind.
		args = append([]string{args[0], "--force-rm"}, args[1:]...)
	}
	p.logf(ctx, diag.Info, urn, false, "Building image %s", imageName)
	_, err := p.run(ctx, urn, []string{"DOCKER_BUILDKIT=" + buildkit}, "", args...)
	if err != nil {
		return fmt.Errorf("docker build of %s failed: %w", imageName, err)
	}
	return nil
}

func (p *dockerProvider) dockerLogin(ctx context.Context, urn string, env []string, server, username, password string) error {
	// The password goes through stdin, never argv; the output is not echoed on success.
	if _, err := p.run(ctx, urn, env, password, "login", server, "--username", username, "--password-stdin"); err != nil {
		return fmt.Errorf("docker login to %s failed: %w", server, err)
	}
	return nil
}

var pushDigest = regexp.MustCompile(`digest: (sha256:[0-9a-f]{64})`)

// dockerPush pushes imageName and returns "<repository>@sha256:<digest>".
func (p *dockerProvider) dockerPush(ctx context.Context, urn string, env []string, imageName string) (string, error) {
	p.logf(ctx, diag.Info, urn, false, "Pushing image %s", imageName)
	out, err := p.run(ctx, urn, env, "", "push", imageName)
	if err != nil {
		return "", fmt.Errorf("docker push of %s failed: %w", imageName, err)
	}
	repo := repository(imageName)
	if m := pushDigest.FindAllStringSubmatch(out, -1); len(m) > 0 {
		return repo + "@" + m[len(m)-1][1], nil // the digest the registry reported for this push
	}
	// Fall back to the digests docker recorded for the image.
	js, err := p.run(ctx, urn, env, "", "image", "inspect", "--format", "{{json .RepoDigests}}", imageName)
	if err != nil {
		return "", err
	}
	var digests []string
	if err := json.Unmarshal([]byte(strings.TrimSpace(js)), &digests); err != nil {
		return "", fmt.Errorf("parsing RepoDigests of %s: %w", imageName, err)
	}
	for _, d := range digests {
		if strings.HasPrefix(d, repo+"@") {
			return d, nil
		}
	}
	return "", fmt.Errorf("no repo digest for %s after push (RepoDigests: %v)", repo, digests)
}

// run executes the docker CLI, relaying output lines as ephemeral status messages. It returns the combined
// output; on failure the error carries the last tailLines lines.
func (p *dockerProvider) run(ctx context.Context, urn string, env []string, stdin string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Env = append(os.Environ(), env...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		return "", fmt.Errorf("running docker: %w", err)
	}
	waitErr := make(chan error, 1)
	go func() {
		err := cmd.Wait()
		pw.Close()
		waitErr <- err
	}()

	var all strings.Builder
	var tail []string
	sc := bufio.NewScanner(pr)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		line := sc.Text()
		all.WriteString(line)
		all.WriteByte('\n')
		tail = append(tail, line)
		if len(tail) > tailLines {
			tail = tail[1:]
		}
		if args[0] != "login" && args[0] != "image" && strings.TrimSpace(line) != "" {
			p.logf(ctx, diag.Info, urn, true, "%s", line)
		}
	}
	_, _ = io.Copy(io.Discard, pr) // drain after a scanner error so docker never blocks
	if err := <-waitErr; err != nil {
		return all.String(), fmt.Errorf("%v\n%s", err, strings.Join(tail, "\n"))
	}
	return all.String(), nil
}

// --- image name helpers ---

// repository is the image name without its tag or digest.
func repository(name string) string {
	if i := strings.Index(name, "@"); i >= 0 {
		name = name[:i]
	}
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		name = name[:i]
	}
	return name
}

// registryHost is the registry part of an image name, as docker resolves it.
func registryHost(name string) string {
	if i := strings.Index(name, "/"); i > 0 {
		host := name[:i]
		if strings.ContainsAny(host, ".:") || host == "localhost" {
			return host
		}
	}
	return "docker.io"
}
