package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/slotgate/slotgate/tuning"
)

// fakeSystem is a /proc/sys tree in a temporary directory with the given values and an
// in-memory RLIMIT_NOFILE that cannot be raised past its hard limit (not root).
func fakeSystem(t *testing.T, vals map[string]string, soft, hard uint64) *tuning.System {
	t.Helper()
	sys := tuning.Default()
	sys.ProcSys = t.TempDir()
	sys.GetNoFile = func() (uint64, uint64, error) { return soft, hard, nil }
	sys.SetNoFile = func(s, h uint64) error {
		if h > hard {
			return syscall.EPERM
		}
		soft = s
		return nil
	}
	for name, v := range vals {
		p := sys.Path(name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(v+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return sys
}

var stockValues = map[string]string{
	"net.core.somaxconn":           "4096",
	"net.ipv4.tcp_max_syn_backlog": "2048",
	"net.ipv4.tcp_fin_timeout":     "60",
	"net.ipv4.tcp_tw_reuse":        "2",
}

func lines(s string) []string { return strings.Split(strings.TrimRight(s, "\n"), "\n") }

func TestTuneReportLines(t *testing.T) {
	vals := map[string]string{
		"net.core.somaxconn":           "131072", // better than recommended: ok
		"net.ipv4.tcp_max_syn_backlog": "2048",
		"net.ipv4.tcp_fin_timeout":     "60",
		"net.ipv4.tcp_tw_reuse":        "1",
	}
	var out bytes.Buffer
	if err := runTune(nil, &out, fakeSystem(t, vals, 1024, 4096)); err != nil {
		t.Fatal(err)
	}
	got := lines(out.String())
	whys := map[string]string{}
	for _, s := range tuning.Settings() {
		whys[s.Name] = s.Why
	}
	want := []struct{ name, cur, rec, state string }{
		{"nofile", "1024 (hard 4096)", ">= 65535", "BELOW"},
		{"net.core.somaxconn", "131072", ">= 65535", "ok"},
		{"net.ipv4.tcp_max_syn_backlog", "2048", ">= 65535", "BELOW"},
		{"net.ipv4.tcp_fin_timeout", "60", "<= 15", "BELOW"},
		{"net.ipv4.tcp_tw_reuse", "1", "= 1", "ok"},
	}
	if len(got) != len(want) {
		t.Fatalf("slotgate tune printed %d lines, want one per setting (%d):\n%s", len(got), len(want), out.String())
	}
	for i, w := range want {
		l := got[i]
		if !strings.HasPrefix(l, w.name+" ") || !strings.Contains(l, "current "+w.cur+" ") ||
			!strings.Contains(l, "recommended "+w.rec+" ") || !strings.Contains(l, " "+w.state+": ") ||
			!strings.HasSuffix(l, whys[w.name]) {
			t.Errorf("line %d: %q\nwant %s, current %s, recommended %s, %s, and why %q", i, l, w.name, w.cur, w.rec, w.state, whys[w.name])
		}
	}
}

func TestTuneApplyChanges(t *testing.T) {
	sys := fakeSystem(t, stockValues, 65535, 65535)
	var out bytes.Buffer
	if err := runTune([]string{"-apply"}, &out, sys); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	want := []string{
		"nofile: unchanged 65535 (meets >= 65535)",
		"net.core.somaxconn: changed 4096 -> 65535",
		"net.ipv4.tcp_max_syn_backlog: changed 2048 -> 65535",
		"net.ipv4.tcp_fin_timeout: changed 60 -> 15",
		"net.ipv4.tcp_tw_reuse: changed 2 -> 1",
	}
	if got := lines(out.String()); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("tune -apply printed:\n%s\nwant:\n%s", out.String(), strings.Join(want, "\n"))
	}
	if b, _ := os.ReadFile(sys.Path("net.ipv4.tcp_fin_timeout")); string(b) != "15\n" {
		t.Fatalf("tcp_fin_timeout file holds %q", b)
	}
}

func TestTuneApplyRefused(t *testing.T) {
	for _, tc := range []struct {
		errno syscall.Errno
		says  string
	}{
		{syscall.EROFS, "/proc/sys is read-only (a container)"},
		{syscall.EACCES, "not permitted: needs root"},
	} {
		sys := fakeSystem(t, stockValues, 1024, 4096)
		sys.Write = func(path string, _ []byte) error { return &os.PathError{Op: "open", Path: path, Err: tc.errno} }
		var out bytes.Buffer
		err := runTune([]string{"-apply"}, &out, sys)
		if err == nil || !strings.Contains(err.Error(), "4 setting(s)") {
			t.Errorf("%v: error %v; want 4 settings left below", tc.errno, err)
		}
		got := lines(out.String())
		if len(got) != 5 {
			t.Fatalf("%v: %d lines:\n%s", tc.errno, len(got), out.String())
		}
		if !strings.HasPrefix(got[0], "nofile: per process:") || !strings.Contains(got[0], "hard limit 4096") {
			t.Errorf("nofile line %q; want it left to slotgate's start, naming the hard limit", got[0])
		}
		for _, l := range got[1:] {
			if !strings.Contains(l, ": refused, stays ") || !strings.Contains(l, tc.says) || !strings.Contains(l, "effect: ") {
				t.Errorf("%v: %q; want refused, stays, %q and the effect", tc.errno, l, tc.says)
			}
		}
		if !strings.HasPrefix(got[1], "net.core.somaxconn: refused, stays 4096, recommended >= 65535: ") {
			t.Errorf("%q", got[1])
		}
	}
}

func TestStartTuningLogs(t *testing.T) {
	var logged []string
	logf := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		logged = append(logged, string(p))
		return len(p), nil
	}), nil))

	// Without -tune: one line per setting below its recommendation, each with its effect.
	vals := map[string]string{"net.core.somaxconn": "131072", "net.ipv4.tcp_max_syn_backlog": "2048",
		"net.ipv4.tcp_fin_timeout": "15", "net.ipv4.tcp_tw_reuse": "2"}
	if startTuning(fakeSystem(t, vals, 65535, 65535), false, logf) {
		t.Error("report mode said somaxconn was raised")
	}
	if len(logged) != 2 || !strings.Contains(logged[0], `setting=net.ipv4.tcp_max_syn_backlog current=2048 recommended=">= 65535" why="half-open`) ||
		!strings.Contains(logged[1], `setting=net.ipv4.tcp_tw_reuse current=2 recommended="= 1" why="lets new connections`) {
		t.Errorf("logged %q; want the two settings below, with their effect", logged)
	}

	// -tune: what changed or was refused; somaxconn raised asks for the re-exec.
	logged = nil
	if !startTuning(fakeSystem(t, stockValues, 65535, 65535), true, logf) {
		t.Error("-tune raised somaxconn but did not say so")
	}
	if len(logged) != 4 || !strings.Contains(logged[0], "somaxconn: changed 4096 -> 65535") {
		t.Errorf("logged %q; want the 4 sysctls changed", logged)
	}
	logged = nil
	if startTuning(fakeSystem(t, vals, 65535, 65535), true, logf) {
		t.Error("somaxconn 131072 was kept, yet a re-exec was asked")
	}
	if len(logged) != 2 {
		t.Errorf("logged %q; want the 2 sysctls changed", logged)
	}
}

func TestShouldReexec(t *testing.T) {
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == reexecEnv {
				return v
			}
			return ""
		}
	}
	for _, tc := range []struct {
		raised bool
		marker string
		want   bool
	}{
		{true, "", true},
		{true, "1", false}, // already re-executed: never loops
		{false, "", false},
		{false, "1", false},
	} {
		if got := shouldReexec(tc.raised, env(tc.marker)); got != tc.want {
			t.Errorf("shouldReexec(%v, marker %q) = %v", tc.raised, tc.marker, got)
		}
	}
}

// TestTuneReexecBacklog starts the built binary with -tune in a network namespace of its own
// (somaxconn and the tcp_* sysctls are per namespace, so the machine's are untouched) and reads
// the listener's backlog with ss: Send-Q of a listening socket is its backlog. With -tune it is
// the raised somaxconn after one re-exec (same PID); without, the namespace's 4096.
func TestTuneReexecBacklog(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: a network namespace of its own (unshare -n) to raise somaxconn in")
	}
	for _, tool := range []string{"unshare", "nsenter", "ss", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	if out, err := exec.Command("unshare", "-n", "sh", "-c", "echo 4096 > /proc/sys/net/core/somaxconn").CombinedOutput(); err != nil {
		t.Skipf("cannot write somaxconn in a new network namespace (read-only /proc/sys?): %v %s", err, out)
	}
	bin := filepath.Join(t.TempDir(), "slotgate")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	run := func(tune bool, somaxconn int) (backlog int, log string) {
		args := "-listen 127.0.0.1:22121 -admin '' -cluster 127.0.0.1:1"
		if tune {
			args += " -tune"
		}
		script := fmt.Sprintf("ip link set lo up && echo %d > /proc/sys/net/core/somaxconn && exec %s %s", somaxconn, bin, args)
		cmd := exec.Command("unshare", "-n", "sh", "-c", script) // unshare execs: one PID throughout
		stderr, err := cmd.StderrPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var buf strings.Builder
		listening := make(chan struct{})
		go func() {
			sc := bufio.NewScanner(stderr)
			once := sync.Once{}
			for sc.Scan() {
				mu.Lock()
				buf.WriteString(sc.Text() + "\n")
				mu.Unlock()
				if strings.Contains(sc.Text(), "msg=listening") {
					once.Do(func() { close(listening) })
				}
			}
		}()
		defer func() {
			cmd.Process.Signal(syscall.SIGTERM) //nolint:errcheck
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				cmd.Process.Kill() //nolint:errcheck
				<-done
			}
		}()
		select {
		case <-listening:
		case <-time.After(20 * time.Second):
			mu.Lock()
			defer mu.Unlock()
			t.Fatalf("no listener within 20 s:\n%s", buf.String())
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, "nsenter", "-t", strconv.Itoa(cmd.Process.Pid), "-n",
			"ss", "-ltnpH", "sport = :22121").CombinedOutput()
		if err != nil {
			t.Fatalf("ss: %v\n%s", err, out)
		}
		// LISTEN 0 65535 127.0.0.1:22121 0.0.0.0:* users:(("slotgate",pid=N,fd=M))
		f := strings.Fields(string(out))
		if len(f) < 6 || f[0] != "LISTEN" {
			t.Fatalf("ss printed %q", out)
		}
		if !strings.Contains(string(out), "pid="+strconv.Itoa(cmd.Process.Pid)+",") {
			t.Errorf("listener not in the started process %d (the re-exec keeps the PID): %q", cmd.Process.Pid, out)
		}
		backlog, err = strconv.Atoi(f[2])
		if err != nil {
			t.Fatalf("ss Send-Q %q", f[2])
		}
		mu.Lock()
		defer mu.Unlock()
		return backlog, buf.String()
	}

	backlog, log := run(true, 4096)
	if backlog != 65535 {
		t.Errorf("-tune from somaxconn 4096: listener backlog %d, want 65535\n%s", backlog, log)
	}
	if n := strings.Count(log, "re-executing once"); n != 1 || strings.Count(log, "re-executed:") != 1 ||
		strings.Count(log, "somaxconn: changed 4096 -> 65535") != 1 {
		t.Errorf("-tune log: want one raise, one re-exec, one re-executed line:\n%s", log)
	}
	t.Logf("-tune: backlog %d after one re-exec", backlog)

	backlog, log = run(false, 4096)
	if backlog != 4096 || strings.Contains(log, "re-exec") || !strings.Contains(log, `setting=net.core.somaxconn current=4096 recommended=">= 65535"`) {
		t.Errorf("without -tune: backlog %d (want 4096), log:\n%s", backlog, log)
	}

	backlog, log = run(true, 65535) // nothing to raise: no re-exec
	if backlog != 65535 || strings.Contains(log, "re-exec") {
		t.Errorf("-tune with somaxconn already 65535: backlog %d, log:\n%s", backlog, log)
	}
}
