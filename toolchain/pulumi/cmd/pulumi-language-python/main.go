// pulumi-language-python: a minimal Pulumi language host for Python programs.
//
// Upstream's language host lives in its own Go module
// (github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3), which the Go module
// proxy reachable from this project's machines does not serve at any version. This host
// implements the part of the LanguageRuntime gRPC protocol that `pulumi preview/up/destroy`
// need for a Python program: it resolves the Python toolchain (pip/venv, uv or poetry, as
// configured by the project's `runtime.options`) with the sdk/v3 python/toolchain package,
// and runs the program through `pulumi-language-python-exec` (shipped in the sdk/v3 module,
// copied next to this binary by scripts/install-toolchain), passing configuration through
// PULUMI_CONFIG / PULUMI_CONFIG_SECRET_KEYS exactly as the Python SDK expects.
//
// Not implemented (the engine gets gRPC Unimplemented): code generation, packing, linking,
// running Python-based plugins (RunPlugin), `pulumi new` templating. GetRequiredPackages
// reports no packages: providers are then loaded on demand (from PATH), which is what this
// project relies on anyway.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"google.golang.org/grpc"
	pbempty "google.golang.org/protobuf/types/known/emptypb"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	"github.com/pulumi/pulumi/sdk/v3/go/common/version"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"github.com/pulumi/pulumi/sdk/v3/python/toolchain"
)

const (
	execScriptName = "pulumi-language-python-exec"
	// Exit code the exec script uses after it has already shown the user an actionable message.
	bailExitCode = 32
)

type host struct {
	pulumirpc.UnimplementedLanguageRuntimeServer

	mu            sync.Mutex
	engineAddress string
	tracing       string
	execScript    string

	// Defaults from command line flags (used when the program info carries no options).
	defaultVirtualenv string
	defaultToolchain  string

	cancelMu sync.Mutex
	running  map[*exec.Cmd]struct{}
}

func main() {
	// Flags the engine (or older engines) may pass; the positional argument is the engine address.
	tracing := flag.String("tracing", "", "Emit tracing to a Zipkin-compatible tracing endpoint")
	_ = flag.String("root", "", "Project root path (unused)")
	virtualenv := flag.String("virtualenv", "", "Virtual environment path (relative to the project root)")
	tc := flag.String("toolchain", "", "Python toolchain: pip, uv or poetry")
	_ = flag.String("typechecker", "", "Type checker (ignored by this host)")
	flag.Parse()

	self, err := os.Executable()
	if err != nil {
		fatalf("cannot locate own executable: %v", err)
	}
	if resolved, err := filepath.EvalSymlinks(self); err == nil {
		self = resolved
	}
	execScript := filepath.Join(filepath.Dir(self), execScriptName)
	if _, err := os.Stat(execScript); err != nil {
		fatalf("%s not found next to %s: %v", execScriptName, self, err)
	}

	h := &host{
		tracing:           *tracing,
		execScript:        execScript,
		defaultVirtualenv: *virtualenv,
		defaultToolchain:  *tc,
		running:           map[*exec.Cmd]struct{}{},
	}
	if args := flag.Args(); len(args) > 0 {
		h.engineAddress = args[len(args)-1]
	}

	cancel := make(chan bool)
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Cancel: cancel,
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, h)
			return nil
		},
		Options: rpcutil.OpenTracingServerInterceptorOptions(nil),
	})
	if err != nil {
		fatalf("could not start language host RPC server: %v", err)
	}
	fmt.Printf("%d\n", handle.Port)
	if err := <-handle.Done; err != nil {
		fatalf("language host RPC stopped serving: %v", err)
	}
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "fatal: "+format+"\n", args...)
	os.Exit(1)
}

func (h *host) Handshake(
	_ context.Context, req *pulumirpc.LanguageHandshakeRequest,
) (*pulumirpc.LanguageHandshakeResponse, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.engineAddress = req.GetEngineAddress()
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *host) GetPluginInfo(context.Context, *pbempty.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: strings.TrimPrefix(version.Version, "v")}, nil
}

func (h *host) GetRequiredPlugins(
	context.Context, *pulumirpc.GetRequiredPluginsRequest,
) (*pulumirpc.GetRequiredPluginsResponse, error) {
	return &pulumirpc.GetRequiredPluginsResponse{}, nil
}

func (h *host) GetRequiredPackages(
	context.Context, *pulumirpc.GetRequiredPackagesRequest,
) (*pulumirpc.GetRequiredPackagesResponse, error) {
	return &pulumirpc.GetRequiredPackagesResponse{}, nil
}

// resolveToolchain reads the project's `runtime.options` (virtualenv, toolchain) from the program info.
func (h *host) resolveToolchain(info *pulumirpc.ProgramInfo) (toolchain.Toolchain, error) {
	opts := toolchain.PythonOptions{
		Virtualenv: h.defaultVirtualenv,
		Toolchain:  toolchain.Auto,
	}
	tcName := h.defaultToolchain
	if info != nil {
		opts.Root = info.GetRootDirectory()
		opts.ProgramDir = info.GetProgramDirectory()
		if o := info.GetOptions(); o != nil {
			m := o.AsMap()
			if v, ok := m["virtualenv"].(string); ok && v != "" {
				opts.Virtualenv = v
			}
			if v, ok := m["toolchain"].(string); ok && v != "" {
				tcName = v
			}
		}
	}
	if opts.ProgramDir == "" {
		opts.ProgramDir = opts.Root
	}
	switch strings.ToLower(tcName) {
	case "", "auto":
		opts.Toolchain = toolchain.Auto
	case "pip":
		opts.Toolchain = toolchain.Pip
	case "uv":
		opts.Toolchain = toolchain.Uv
	case "poetry":
		opts.Toolchain = toolchain.Poetry
	default:
		return nil, fmt.Errorf("unsupported python toolchain %q", tcName)
	}
	return toolchain.ResolveToolchain(opts)
}

func (h *host) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	info := req.GetInfo()
	if info == nil {
		info = &pulumirpc.ProgramInfo{
			RootDirectory:    req.GetPwd(),
			ProgramDirectory: req.GetPwd(),
			EntryPoint:       req.GetProgram(),
		}
	}
	tc, err := h.resolveToolchain(info)
	if err != nil {
		return nil, err
	}
	if err := tc.ValidateVenv(ctx); err != nil {
		return nil, err
	}

	h.mu.Lock()
	engine := h.engineAddress
	h.mu.Unlock()

	pwd := req.GetPwd()
	if pwd == "" {
		pwd = info.GetProgramDirectory()
	}
	program := info.GetEntryPoint()
	if program == "" {
		program = req.GetProgram()
	}
	if program == "" {
		program = "."
	}

	args := []string{"-u", h.execScript,
		"--project", req.GetProject(),
		"--stack", req.GetStack(),
		"--parallel", strconv.Itoa(int(req.GetParallel())),
		"--dry_run", strconv.FormatBool(req.GetDryRun()),
		"--pwd", pwd,
		"--monitor", req.GetMonitorAddress(),
	}
	if engine != "" {
		args = append(args, "--engine", engine)
	}
	if org := req.GetOrganization(); org != "" {
		args = append(args, "--organization", org)
	}
	if root := info.GetRootDirectory(); root != "" {
		args = append(args, "--root_directory", root)
	}
	if h.tracing != "" {
		args = append(args, "--tracing", h.tracing)
	}
	args = append(args, program)
	args = append(args, req.GetArgs()...)

	cmd, err := tc.Command(ctx, args...)
	if err != nil {
		return nil, err
	}
	cmd.Dir = pwd

	configJSON, err := json.Marshal(req.GetConfig())
	if err != nil {
		return nil, err
	}
	secretKeys := req.GetConfigSecretKeys()
	if secretKeys == nil {
		secretKeys = []string{}
	}
	secretKeysJSON, err := json.Marshal(secretKeys)
	if err != nil {
		return nil, err
	}
	env := cmd.Env
	if env == nil {
		env = os.Environ()
	}
	cmd.Env = append(env,
		"PULUMI_CONFIG="+string(configJSON),
		"PULUMI_CONFIG_SECRET_KEYS="+string(secretKeysJSON),
		"PYTHONUNBUFFERED=1",
	)
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr

	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting python: %w", err)
	}
	h.track(cmd, true)
	err = cmd.Wait()
	h.track(cmd, false)

	if err == nil {
		return &pulumirpc.RunResponse{}, nil
	}
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		if exitErr.ExitCode() == bailExitCode {
			return &pulumirpc.RunResponse{Bail: true}, nil
		}
		return &pulumirpc.RunResponse{
			Error: fmt.Sprintf("Program exited with non-zero exit code: %d", exitErr.ExitCode()),
		}, nil
	}
	return &pulumirpc.RunResponse{Error: fmt.Sprintf("Problem executing program (could not run language executor): %v", err)}, nil
}

func (h *host) track(cmd *exec.Cmd, add bool) {
	h.cancelMu.Lock()
	defer h.cancelMu.Unlock()
	if add {
		h.running[cmd] = struct{}{}
	} else {
		delete(h.running, cmd)
	}
}

func (h *host) Cancel(context.Context, *pbempty.Empty) (*pbempty.Empty, error) {
	h.cancelMu.Lock()
	defer h.cancelMu.Unlock()
	for cmd := range h.running {
		if cmd.Process != nil {
			_ = cmd.Process.Signal(os.Interrupt)
		}
	}
	return &pbempty.Empty{}, nil
}

// streamWriter forwards install output to the engine.
type streamWriter struct {
	server pulumirpc.LanguageRuntime_InstallDependenciesServer
	stderr bool
	mu     *sync.Mutex
}

func (w streamWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	buf := append([]byte(nil), p...)
	resp := &pulumirpc.InstallDependenciesResponse{Stdout: buf}
	if w.stderr {
		resp = &pulumirpc.InstallDependenciesResponse{Stderr: buf}
	}
	if err := w.server.Send(resp); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (h *host) InstallDependencies(
	req *pulumirpc.InstallDependenciesRequest, server pulumirpc.LanguageRuntime_InstallDependenciesServer,
) error {
	info := req.GetInfo()
	if info == nil {
		info = &pulumirpc.ProgramInfo{RootDirectory: req.GetDirectory(), ProgramDirectory: req.GetDirectory()}
	}
	tc, err := h.resolveToolchain(info)
	if err != nil {
		return err
	}
	var mu sync.Mutex
	var stdout, stderr io.Writer = streamWriter{server, false, &mu}, streamWriter{server, true, &mu}
	dir := info.GetProgramDirectory()
	if dir == "" {
		dir = req.GetDirectory()
	}
	return tc.InstallDependencies(server.Context(), dir, req.GetUseLanguageVersionTools(), true, stdout, stderr)
}

func (h *host) About(ctx context.Context, req *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	tc, err := h.resolveToolchain(req.GetInfo())
	if err != nil {
		return nil, err
	}
	about, err := tc.About(ctx)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.AboutResponse{
		Executable: about.PythonExecutable,
		Version:    about.PythonVersion.String(),
	}, nil
}

func (h *host) GetProgramDependencies(
	ctx context.Context, req *pulumirpc.GetProgramDependenciesRequest,
) (*pulumirpc.GetProgramDependenciesResponse, error) {
	tc, err := h.resolveToolchain(req.GetInfo())
	if err != nil {
		return nil, err
	}
	pkgs, err := tc.ListPackages(ctx, req.GetTransitiveDependencies())
	if err != nil {
		return nil, err
	}
	deps := make([]*pulumirpc.DependencyInfo, 0, len(pkgs))
	for _, p := range pkgs {
		deps = append(deps, &pulumirpc.DependencyInfo{Name: p.Name, Version: p.Version})
	}
	return &pulumirpc.GetProgramDependenciesResponse{Dependencies: deps}, nil
}
