package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/slotgate/slotgate/internal/testcluster"
	"github.com/slotgate/slotgate/router"
)

// runToExit runs slotgate with args and waits up to 10 s for it to exit: its standard error and
// exit error. A process still running fails the test.
func runToExit(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var stderr lockedBuffer
	cmd := exec.Command(slotgateBinary(t), args...)
	cmd.Stderr = &stderr
	if err := testcluster.StartProcess(cmd, false); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return stderr.String(), err
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("slotgate %v still running after 10 s; log:\n%s", args, stderr.String())
		return "", nil
	}
}

// Each listen mistake is reported as itself; only a taken address says "address already in use".
func TestE2EListenErrorsNamed(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	for _, c := range []struct{ listen, want string }{
		{"22391", "not HOST:PORT"}, // the settings catch these two before the listener
		{":99999", "the port is not a number from 1 to 65535"},
		{"nosuchhost.invalid:22121", "no such host"},
		{held.Addr().String(), "address already in use"},
	} {
		out, err := runToExit(t, "-listen", c.listen, "-admin", "", "-cluster", cluster.Seeds()[0], "-backend-password", cluster.Password)
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() == 0 {
			t.Errorf("-listen %s: exit %v, want non-zero", c.listen, err)
		}
		if !strings.Contains(out, c.want) || c.want != "address already in use" && strings.Contains(out, "address already in use") {
			t.Errorf("-listen %s: want %q named (and nothing else in use):\n%s", c.listen, c.want, out)
		}
	}
}

// startPlainRedis starts a redis-server without cluster support on a free port.
func startPlainRedis(t *testing.T) string {
	t.Helper()
	addr := freeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command("redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := testcluster.StartProcess(cmd, false); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
	})
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server on %s not up", addr)
		}
	}
}

// A setup no retry mends ends the process at once with the cause named; an unreachable seed
// (it may come up) keeps it retrying.
func TestE2EStartRefusedSetupExits(t *testing.T) {
	plain := startPlainRedis(t)
	seed := cluster.Seeds()[0]
	for _, c := range []struct {
		name  string
		args  []string
		wants []string
	}{
		{"wrong password", []string{"-cluster", seed, "-backend-password", "not-the-password"}, []string{"cause=auth", "WRONGPASS", "-backend-password"}},
		{"no password", []string{"-cluster", seed}, []string{"cause=auth", "NOAUTH"}},
		{"no cluster support", []string{"-cluster", plain}, []string{"cause=no_cluster", "cluster support disabled"}},
		{"no port", []string{"-cluster", "127.0.0.1"}, []string{"-cluster", "not HOST:PORT"}}, // the settings catch it before the router
	} {
		out, err := runToExit(t, append([]string{"-listen", freeAddr(t), "-admin", ""}, c.args...)...)
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() == 0 {
			t.Errorf("%s: exit %v, want non-zero", c.name, err)
		}
		for _, w := range c.wants {
			if !strings.Contains(out, w) {
				t.Errorf("%s: %q not in the log:\n%s", c.name, w, out)
			}
		}
		if strings.Contains(out, "not-the-password") {
			t.Errorf("%s: the password shows in the log:\n%s", c.name, out)
		}
	}

	// Nothing listens there yet: slotgate keeps retrying.
	var log lockedBuffer
	cmd := exec.Command(slotgateBinary(t), "-listen", freeAddr(t), "-admin", "", "-cluster", freeAddr(t))
	cmd.Stderr = &log
	if err := testcluster.StartProcess(cmd, false); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Kill()
		<-done
	}()
	select {
	case err := <-done:
		t.Errorf("unreachable seed: slotgate exited (%v); log:\n%s", err, log.String())
	case <-time.After(1500 * time.Millisecond):
		if !strings.Contains(log.String(), "cause=unreachable") {
			t.Errorf("unreachable seed: the retry's cause not logged:\n%s", log.String())
		}
	}
}

// With -wait-for-cluster a refused password keeps slotgate retrying, and the cause shows where
// an operator looks: the client's CLUSTERDOWN, /metrics (dial errors and topology errors by
// cause, with # HELP and # TYPE lines, gauges typed as gauges) and Router.LastError (for /readyz).
func TestE2EWaitForClusterReportsCause(t *testing.T) {
	var log lockedBuffer
	addr, admin := freeAddr(t), freeAddr(t)
	runSlotgate(t, &log, "-listen", addr, "-admin", admin, "-cluster", cluster.Seeds()[0],
		"-backend-password", "not-the-password", "-wait-for-cluster")
	deadline := time.Now().Add(10 * time.Second)
	waitListening(t, addr, deadline)
	cl := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer cl.Close()
	for {
		err := cl.Get(context.Background(), "k").Err()
		if err != nil && strings.Contains(err.Error(), "WRONGPASS") {
			if !strings.HasPrefix(err.Error(), "CLUSTERDOWN slotgate has no topology yet") || !strings.Contains(err.Error(), "auth: ") {
				t.Errorf("GET: %v", err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET: %v, want CLUSTERDOWN naming WRONGPASS; log:\n%s", err, log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if v := metricValue(t, admin, "slotgate_backend_dial_errors_total"); v < 1 {
		t.Errorf("slotgate_backend_dial_errors_total %v with every AUTH refused", v)
	}
	if v := metricValue(t, admin, `slotgate_topology_errors_total{cause="auth"}`); v < 1 {
		t.Errorf(`slotgate_topology_errors_total{cause="auth"} %v`, v)
	}
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"# TYPE slotgate_backend_dial_errors_total counter\n", "# TYPE slotgate_client_connections gauge\n",
		"# HELP slotgate_requests_total"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q:\n%.500s", want, body)
		}
	}

	// In process: Run returns the definite error unless waiting; LastError says it meanwhile.
	rt := router.New(router.Config{Seeds: cluster.Seeds()[:1], Password: "not-the-password"})
	var se *router.SetupError
	if err := rt.Run(t.Context()); !errors.As(err, &se) || se.Cause != "auth" || !se.Definite {
		t.Errorf("Run with a wrong password = %v, want a definite auth SetupError", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	rt = router.New(router.Config{Seeds: cluster.Seeds()[:1], Password: "not-the-password", WaitForCluster: true})
	go rt.Run(ctx) //nolint:errcheck // ends with ctx
	for rt.LastError() == nil {
		if time.Now().After(deadline) {
			t.Fatal("LastError stays nil with every AUTH refused")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if !errors.As(rt.LastError(), &se) || se.Cause != "auth" {
		t.Errorf("LastError = %v", rt.LastError())
	}
	good := router.New(router.Config{Seeds: cluster.Seeds()[:1], Password: cluster.Password})
	if err := good.Run(ctx); err != nil || good.LastError() != nil {
		t.Errorf("a good setup: Run %v, LastError %v", err, good.LastError())
	}
}

// -log-format json writes every line as a JSON object with time, level and msg; the topology is
// one line with its counts. -log-level warn drops the info lines.
func TestE2EJSONLogs(t *testing.T) {
	lines := func(level string) []map[string]any {
		var log lockedBuffer
		p := startProxyBinary(t, cluster, slotgateBinary(t), nil, &log, "-log-format", "json", "-log-level", level)
		_ = p.Cmd.Process.Signal(syscall.SIGTERM)
		_ = p.Cmd.Wait()
		var out []map[string]any
		sc := bufio.NewScanner(strings.NewReader(log.String()))
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				t.Fatalf("-log-format json: line %q: %v", sc.Text(), err)
			}
			if m["time"] == nil || m["level"] == nil || m["msg"] == nil {
				t.Errorf("line %q lacks time, level or msg", sc.Text())
			}
			out = append(out, m)
		}
		return out
	}
	var topo, stopped bool
	for _, m := range lines("info") {
		switch m["msg"] {
		case "topology changed":
			topo = m["masters"] == 3.0 && m["slots_ok"] == 16384.0 && m["epoch"] != nil && m["level"] == "INFO"
		case "stopped":
			stopped = true
		}
	}
	if !topo || !stopped {
		t.Errorf("json at info: topology line with masters=3 slots_ok=16384 epoch: %v; stopped line: %v", topo, stopped)
	}
	for _, m := range lines("warn") {
		if m["level"] == "INFO" || m["level"] == "DEBUG" {
			t.Errorf("-log-level warn wrote %v", m)
		}
	}
}
