package server_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/slotgate/slotgate/internal/testcluster"
)

// TestE2ERedisCliTmux drives an interactive redis-cli through tmux, as a person would type, once
// against slotgate (in front of a 3-master cluster of its own) and once against a standalone
// redis-server holding the same keys, and checks that each screen looks the same: help, tab
// completion, INFO, DBSIZE, CLIENT LIST, SCAN 0 and KEYS *.
func TestE2ERedisCliTmux(t *testing.T) {
	for _, tool := range []string{"tmux", "redis-cli", "redis-server"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (.ci/run installs it)", tool)
		}
	}
	c := testcluster.StartT(t, testcluster.Options{Replicas: testcluster.NoReplicas})
	p := startProxy(t, c, nil)
	single := startStandalone(t)

	keys := make([]string, 30)
	for i := range keys {
		keys[i] = "tmux:" + strconv.Itoa(i)
	}
	ctx := context.Background()
	for _, addr := range []string{p.Addr, single} {
		cl := redis.NewClient(&redis.Options{Addr: addr})
		for _, k := range keys {
			if err := cl.Set(ctx, k, "v", 0).Err(); err != nil {
				t.Fatalf("SET %s at %s: %v", k, addr, err)
			}
		}
		cl.Close()
	}

	proxyScreens := cliSession(t, p.Addr)
	singleScreens := cliSession(t, single)
	for _, step := range cliSteps {
		got, want := proxyScreens[step.name], singleScreens[step.name]
		if err := step.check(got, len(keys)); err != nil {
			t.Errorf("%s through slotgate: %v\n%s", step.name, err, got)
		}
		if err := step.check(want, len(keys)); err != nil {
			t.Errorf("%s on a standalone redis-server (the reference): %v\n%s", step.name, err, want)
		}
	}
	// KEYS * lists the same keys, in the same layout ("N) \"key\"").
	if g, w := sortedLines(proxyScreens["KEYS *"]), sortedLines(singleScreens["KEYS *"]); !slices.Equal(g, w) {
		t.Errorf("KEYS * differs:\nslotgate:\n%s\nredis-server:\n%s", strings.Join(g, "\n"), strings.Join(w, "\n"))
	}
}

// cliStep is one thing typed at the prompt and what its screen must show.
type cliStep struct {
	name  string
	keys  []string // tmux send-keys arguments
	check func(screen string, nkeys int) error
}

var (
	reNumbered = regexp.MustCompile(`(?m)^\s*\d+\) "tmux:\d+"$`)
	reClient   = regexp.MustCompile(`(?m)^id=\d+ addr=127\.0\.0\.1:\d+ laddr=127\.0\.0\.1:\d+ fd=\d+ name= age=\d+ idle=\d+ flags=N .*cmd=client\|list .*resp=2`)
	reCursor   = regexp.MustCompile(`(?m)^1\) "\d+"\n2\) +1\) "tmux:\d+"`)
)

var cliSteps = []cliStep{
	{"help GET", []string{"help GET", "Enter"}, func(s string, _ int) error {
		return wants(s, "GET key", "summary: Get the value of a key", "group: string")
	}},
	{"tab completion", []string{"HGETA", "Tab"}, func(s string, _ int) error {
		return wants(s, "> HGETALL key")
	}},
	{"INFO", []string{"INFO", "Enter"}, func(s string, n int) error {
		return wants(s, "# Server", "redis_version:", "# Clients", "# Memory", "# Keyspace",
			fmt.Sprintf("db0:keys=%d,expires=0", n))
	}},
	{"DBSIZE", []string{"DBSIZE", "Enter"}, func(s string, n int) error {
		return wants(s, fmt.Sprintf("(integer) %d", n))
	}},
	{"CLIENT LIST", []string{"CLIENT LIST", "Enter"}, func(s string, _ int) error {
		if !reClient.MatchString(s) {
			return fmt.Errorf("no line like redis-server's CLIENT LIST for this client (%s)", reClient)
		}
		return nil
	}},
	{"SCAN 0", []string{"SCAN 0", "Enter"}, func(s string, _ int) error {
		if !reCursor.MatchString(s) {
			return fmt.Errorf("not a cursor followed by a list of keys")
		}
		return nil
	}},
	{"KEYS *", []string{"KEYS *", "Enter"}, func(s string, n int) error {
		if got := len(reNumbered.FindAllString(s, -1)); got != n {
			return fmt.Errorf("%d keys listed, want %d", got, n)
		}
		return nil
	}},
}

func wants(screen string, parts ...string) error {
	for _, p := range parts {
		if !strings.Contains(screen, p) {
			return fmt.Errorf("missing %q", p)
		}
	}
	return nil
}

// sortedLines returns the key lines of a KEYS screen without their numbers, sorted.
func sortedLines(s string) []string {
	var out []string
	for _, m := range reNumbered.FindAllString(s, -1) {
		_, k, _ := strings.Cut(m, ") ")
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// cliSession runs redis-cli -h/-p addr in a tmux server of its own (its own socket: nothing else
// is touched) and returns, per step, what the screen showed after it: the text from the step's
// prompt line to the next prompt.
func cliSession(t *testing.T, addr string) map[string]string {
	t.Helper()
	host, port, _ := strings.Cut(addr, ":")
	sock := filepath.Join(t.TempDir(), "tmux.sock")
	tmux := func(args ...string) (string, error) {
		out, err := exec.Command("tmux", append([]string{"-S", sock}, args...)...).CombinedOutput()
		return string(out), err
	}
	if out, err := tmux("new-session", "-d", "-x", "200", "-y", "400", "redis-cli", "-h", host, "-p", port); err != nil {
		t.Fatalf("tmux new-session: %v: %s", err, out)
	}
	t.Cleanup(func() { _, _ = tmux("kill-server") })
	prompt := addr + "> "
	capture := func() string {
		out, _ := tmux("capture-pane", "-p", "-J") // the visible pane, tall enough for INFO
		return out
	}
	waitFor := func(what string, ok func(string) bool) string {
		deadline := time.Now().Add(10 * time.Second)
		for {
			s := capture()
			if ok(s) {
				return s
			}
			if time.Now().After(deadline) {
				t.Fatalf("redis-cli at %s: waiting for %s; screen:\n%s", addr, what, s)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitFor("the prompt", func(s string) bool { return strings.Contains(s, prompt) })

	screens := map[string]string{}
	for _, step := range cliSteps {
		// Start each step on a clean screen, so the screen is this step's alone.
		if _, err := tmux("send-keys", "-t", "0", "C-u", "C-l"); err != nil {
			t.Fatal(err)
		}
		waitFor("a cleared screen", func(s string) bool { return strings.TrimSpace(s) == strings.TrimSpace(prompt) })
		if _, err := tmux(append([]string{"send-keys", "-t", "0"}, step.keys...)...); err != nil {
			t.Fatal(err)
		}
		if step.keys[len(step.keys)-1] == "Tab" {
			screens[step.name] = waitFor(step.name, func(s string) bool { return strings.Count(s, prompt) == 1 && step.check(s, 0) == nil })
			continue
		}
		// Done when a second prompt appears after the output.
		screens[step.name] = waitFor(step.name, func(s string) bool { return strings.Count(s, prompt) >= 2 })
	}
	return screens
}

// startStandalone runs a plain (non-cluster) redis-server on a free port, stopped by PID at the
// end of the test, and returns its address.
func startStandalone(t *testing.T) string {
	t.Helper()
	addr := freeAddr(t)
	_, port, _ := strings.Cut(addr, ":")
	dir := t.TempDir()
	cmd := exec.Command("redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", dir, "--logfile", filepath.Join(dir, "redis.log"))
	cmd.Stderr = os.Stderr
	if err := testcluster.StartProcess(cmd, false); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		cl := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
		err := cl.Ping(context.Background()).Err()
		cl.Close()
		if err == nil {
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("standalone redis-server at %s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
