package server_test

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/slotgate/slotgate/internal/testcluster"
	"github.com/slotgate/slotgate/router"
	"github.com/slotgate/slotgate/server"
)

// cluster is the 3+3 cluster shared by the tests of this package that do not change topology.
var cluster *testcluster.Cluster

func TestMain(m *testing.M) {
	flag.Parse()
	if fuzzing() {
		os.Exit(m.Run()) // make fuzz runs one Fuzz target with -run '^$': no cluster needed
	}
	c, err := testcluster.Start(testcluster.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting the test cluster:", err)
		os.Exit(1)
	}
	cluster = c
	code := m.Run()
	c.Close()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// fuzzing reports a fuzzing run (-fuzz), in the coordinator or a worker process: each would
// otherwise start a cluster of its own.
func fuzzing() bool {
	f := flag.Lookup("test.fuzz")
	return f != nil && f.Value.String() != ""
}

// proxy is an in-process slotgate in front of a test cluster.
type proxy struct {
	Addr       string
	Srv        *server.Server
	Rt         *router.Router
	proto      int  // the protocol of its go-redis clients (0: go-redis's default, RESP3)
	viaCluster bool // type tests go through a go-redis ClusterClient (e2e_types_test.go)
}

// startProxy runs slotgate in this process against c; mod may change the configuration.
func startProxy(t testing.TB, c *testcluster.Cluster, mod func(*server.Config)) *proxy {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	rt := router.New(router.Config{Seeds: c.Seeds()[:1], Password: c.Password, Logger: logger})
	if err := rt.Run(t.Context()); err != nil { // the refresher lives as long as the test
		t.Fatalf("router: %v", err)
	}
	return serveWith(t, rt, mod)
}

// serveWith runs an in-process slotgate front end on a free port with router rt.
func serveWith(t testing.TB, rt *router.Router, mod func(*server.Config)) *proxy {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg := server.Config{Listen: freeAddr(t), Loops: 1, Logger: logger}
	if mod != nil {
		mod(&cfg)
	}
	srv := server.New(cfg, rt)
	errc := make(chan error, 1)
	go func() { errc <- srv.Run() }()
	select {
	case <-srv.Booted():
	case err := <-errc:
		t.Fatalf("server: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Stop(ctx)
		<-errc
	})
	return &proxy{Addr: cfg.Listen, Srv: srv, Rt: rt}
}

// client returns a plain (non-cluster) go-redis client of the proxy.
func (p *proxy) client(t testing.TB, mod func(*redis.Options)) *redis.Client {
	opt := &redis.Options{Addr: p.Addr, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second, Protocol: p.proto}
	if mod != nil {
		mod(opt)
	}
	cl := redis.NewClient(opt)
	t.Cleanup(func() { cl.Close() })
	return cl
}

// freeAddr returns a loopback address nothing listens on.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

var (
	binMu   sync.Mutex
	binDir  string
	binErr  error
	binPath = map[string]string{} // build tags -> binary
)

// slotgateBinary builds cmd/slotgate once (without -race) for tests that need it as its own
// process: its memory and CPU are then its own.
func slotgateBinary(t testing.TB) string { return slotgateBinaryTags(t, "") }

// slotgateBinaryTags is slotgateBinary built with -tags tags (one build per set of tags).
func slotgateBinaryTags(t testing.TB, tags string) string {
	t.Helper()
	binMu.Lock()
	defer binMu.Unlock()
	if binDir == "" && binErr == nil {
		binDir, binErr = os.MkdirTemp("", "slotgate-bin-")
	}
	if binErr != nil {
		t.Fatal(binErr)
	}
	if p, ok := binPath[tags]; ok {
		return p
	}
	p := filepath.Join(binDir, "slotgate"+strings.ReplaceAll(tags, ",", "-"))
	_, file, _, _ := runtime.Caller(0)
	cmd := exec.Command("go", "build", "-tags", tags, "-o", p, "./cmd/slotgate")
	cmd.Dir = filepath.Dir(filepath.Dir(file))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build -tags %q: %v\n%s", tags, err, out)
	}
	binPath[tags] = p
	return p
}

// proxyProcess is slotgate running as a child process.
type proxyProcess struct {
	Addr  string
	Admin string
	Cmd   *exec.Cmd
}

// startProxyProcess runs bin/slotgate against c with extra flags and waits until it serves.
func startProxyProcess(t testing.TB, c *testcluster.Cluster, extra ...string) *proxyProcess {
	t.Helper()
	return startProxyBinary(t, c, slotgateBinary(t), nil, os.Stderr, extra...)
}

// startProxyBinary is startProxyProcess with the binary bin, extra environment env and its
// standard error to stderr.
func startProxyBinary(t testing.TB, c *testcluster.Cluster, bin string, env []string, stderr io.Writer, extra ...string) *proxyProcess {
	t.Helper()
	return startProxyAuth(t, c, bin, env, stderr, "", extra...)
}

// startProxyAuth is startProxyBinary for a slotgate whose clients need password (its flags or
// -config file set one): the probe that waits until it serves authenticates with it.
func startProxyAuth(t testing.TB, c *testcluster.Cluster, bin string, env []string, stderr io.Writer, password string, extra ...string) *proxyProcess {
	t.Helper()
	p := &proxyProcess{Addr: freeAddr(t), Admin: freeAddr(t)}
	args := append([]string{"-listen", p.Addr, "-admin", p.Admin, "-cluster", strings.Join(c.Seeds()[:1], ","),
		"-backend-password", c.Password}, extra...)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = stderr
	if err := testcluster.StartProcess(cmd, false); err != nil {
		t.Fatal(err)
	}
	p.Cmd = cmd
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		cl := redis.NewClient(&redis.Options{Addr: p.Addr, Password: password, MaxRetries: -1})
		err := cl.Set(context.Background(), "slotgate:probe", "1", 0).Err()
		cl.Close()
		if err == nil {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("slotgate at %s not serving: %v", p.Addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// rssBytes reads a process's resident set size.
func rssBytes(t testing.TB, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}
