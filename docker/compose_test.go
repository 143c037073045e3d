package docker

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/slotgate/slotgate/router/slot"
)

const (
	password  = "A12345!"
	proxyAddr = "127.0.0.1:22121"
	// A compose project of its own: the test never touches a user's stack (project "slotgate").
	testProject = "slotgate-composetest"
)

// fixedPorts are the ports the stack binds: the nodes, their bus ports, slotgate and its admin.
func fixedPorts() []int {
	var ps []int
	for p := 7000; p <= 7005; p++ {
		ps = append(ps, p, p+10000)
	}
	return append(ps, 22121, 22122)
}

// skipIfPortsBusy skips the test when anything holds one of the fixed ports (a `make run`
// cluster, a user's stack): the test must neither fail on it nor stop it.
func skipIfPortsBusy(t *testing.T) {
	t.Helper()
	if busy := portsFree(fixedPorts()...); len(busy) > 0 {
		t.Skipf("ports %s are in use (a running cluster or slotgate, e.g. `make run`); this test needs 7000-7005, 17000-17005, 22121 and 22122 free and leaves what runs there alone", strings.Join(busy, ", "))
	}
}

// dockerAnswers reports whether a Docker daemon answers, and why not.
func dockerAnswers() (bool, string) {
	if _, err := exec.LookPath("docker"); err != nil {
		return false, "docker is not installed"
	}
	if _, err := exec.LookPath("docker-compose"); err != nil {
		if exec.Command("docker", "compose", "version").Run() != nil {
			return false, "neither docker-compose nor `docker compose` is installed"
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "docker", "info").CombinedOutput(); err != nil {
		return false, fmt.Sprintf("no Docker daemon answers (docker info: %v: %s)", err, lastLine(string(out)))
	}
	return true, ""
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// script runs ./name args in this directory with env added, within timeout; it returns the
// combined output and fails the test on error unless allowFail.
func script(t *testing.T, env []string, timeout time.Duration, allowFail bool, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "./"+name, args...)
	cmd.Env = append(os.Environ(), env...)
	// The scripts' own children (docker-compose, devcluster) must not hold the pipe open past
	// the script: WaitDelay bounds that.
	cmd.WaitDelay = 5 * time.Second
	t0 := time.Now()
	out, err := cmd.CombinedOutput()
	t.Logf("%s %s: %v", name, strings.Join(args, " "), time.Since(t0).Round(time.Millisecond))
	if err != nil && !allowFail {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// compose returns a docker-compose command (or `docker compose`) on this directory's files
// (and the scale file when scale) with env added.
func compose(ctx context.Context, env []string, scale bool, args ...string) *exec.Cmd {
	files := []string{"-f", "docker-compose.yml"}
	if scale {
		files = append(files, "-f", "docker-compose.scale.yml")
	}
	args = append(files, args...)
	var cmd *exec.Cmd
	if _, err := exec.LookPath("docker-compose"); err == nil {
		cmd = exec.CommandContext(ctx, "docker-compose", args...)
	} else {
		cmd = exec.CommandContext(ctx, "docker", append([]string{"compose"}, args...)...)
	}
	cmd.Env = append(os.Environ(), env...)
	return cmd
}

// portsFree reports whether every port is free on 127.0.0.1 (nothing answers, a bind works).
func portsFree(ports ...int) (busy []string) {
	for _, p := range ports {
		addr := "127.0.0.1:" + strconv.Itoa(p)
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			busy = append(busy, strconv.Itoa(p))
			continue
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			busy = append(busy, strconv.Itoa(p))
			continue
		}
		ln.Close()
	}
	return busy
}

// haproxyInstalled reports whether the host has haproxy to build the scale-out image from.
func haproxyInstalled() bool {
	if _, err := exec.LookPath("haproxy"); err == nil {
		return true
	}
	_, err := os.Stat("/usr/sbin/haproxy")
	return err == nil
}

// masterKeys returns, for each master's slot range (as CLUSTER SLOTS of 127.0.0.1:7000 gives
// it), n keys whose slots lie in it; keyed by the master's address.
func masterKeys(t *testing.T, n int) (map[string][]string, []redis.ClusterSlot) {
	t.Helper()
	node := redis.NewClient(&redis.Options{Addr: "127.0.0.1:7000", Password: password})
	defer node.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	slots, err := node.ClusterSlots(ctx).Result()
	if err != nil {
		t.Fatalf("CLUSTER SLOTS on 127.0.0.1:7000: %v", err)
	}
	keys := map[string][]string{}
	for i := 0; ; i++ {
		k := fmt.Sprintf("composetest:%d", i)
		s := int(slot.Of([]byte(k)))
		for _, r := range slots {
			if s >= r.Start && s <= r.End {
				m := r.Nodes[0].Addr
				if len(keys[m]) < n {
					keys[m] = append(keys[m], k)
				}
			}
		}
		done := len(keys) == 3
		for _, ks := range keys {
			done = done && len(ks) == n
		}
		if done {
			return keys, slots
		}
		if i > 100000 {
			t.Fatalf("no keys found for every master: %v", slots)
		}
	}
}

// writeRead sets every key through slotgate to val and reads it back.
func writeRead(t *testing.T, c *redis.Client, keys map[string][]string, val string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for m, ks := range keys {
		for _, k := range ks {
			if err := c.Set(ctx, k, val, 0).Err(); err != nil {
				t.Fatalf("SET %s (master %s) through slotgate: %v", k, m, err)
			}
			if got, err := c.Get(ctx, k).Result(); err != nil || got != val {
				t.Fatalf("GET %s (master %s) through slotgate: %q, %v; want %q", k, m, got, err, val)
			}
		}
	}
}

// checkMonitor checks monitor-cluster.sh's output names the six nodes, three masters, three
// replicas, a healthy cluster and slotgate.
func checkMonitor(t *testing.T, out string) {
	t.Helper()
	for p := 7000; p <= 7005; p++ {
		if !strings.Contains(out, "127.0.0.1:"+strconv.Itoa(p)+" ") {
			t.Errorf("monitor-cluster.sh output lacks node 127.0.0.1:%d", p)
		}
	}
	masters, replicas := 0, 0
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 && strings.HasPrefix(f[0], "127.0.0.1:70") {
			switch f[1] {
			case "master":
				masters++
			case "replica":
				replicas++
			}
		}
	}
	if masters != 3 || replicas != 3 {
		t.Errorf("monitor-cluster.sh shows %d masters and %d replicas, want 3 and 3", masters, replicas)
	}
	for _, want := range []string{"cluster_state:ok", "slotgate 127.0.0.1:22121 (PING: PONG)", "clients "} {
		if !strings.Contains(out, want) {
			t.Errorf("monitor-cluster.sh output lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("monitor-cluster.sh:\n%s", out)
	}
}

// failover waits until writes to every key of the lost master's slots succeed through
// slotgate again, and checks the keys written before the loss are still there.
func failover(t *testing.T, c *redis.Client, keys []string, before string, bound time.Duration) time.Duration {
	t.Helper()
	t0 := time.Now()
	deadline := t0.Add(bound)
	var last error
	for _, k := range keys {
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			last = c.Set(ctx, k+":after", "x", 0).Err()
			cancel()
			if last == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("SET %s:after through slotgate still fails %v after the master stopped: %v", k, bound, last)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	took := time.Since(t0)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, k := range keys {
		// Written before the master stopped and replicated (the stop is seconds later).
		if got, err := c.Get(ctx, k).Result(); err != nil || got != before {
			t.Errorf("GET %s after the failover: %q, %v; want %q", k, got, err, before)
		}
	}
	return took
}

// TestCompose builds both images, starts the compose stack with start-cluster.sh, writes and
// reads keys of all three masters through slotgate on 22121, checks monitor-cluster.sh and
// the users' `docker-compose exec redis-7000 redis-cli ... cluster info`, stops redis-7000 and
// sees writes to its slots succeed again once its replica is promoted, then `down -v`.
func TestCompose(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the compose stack takes about a minute")
	}
	if ok, why := dockerAnswers(); !ok {
		t.Skipf("%s: the compose stack is not tested here (TestLocalScripts tests the --local scripts instead)", why)
	}
	skipIfPortsBusy(t)
	tStart := time.Now()
	env := []string{
		"COMPOSE_PROJECT_NAME=" + testProject,
		"SLOTGATE_IMAGE=slotgate:composetest",
		"REDIS_IMAGE=redis:composetest",
	}
	// The scale-out override too (a second slotgate, HAProxy on 22120) where the host has
	// haproxy to build its image from and the ports are free.
	scale := haproxyInstalled()
	if !scale {
		t.Log("haproxy is not installed: docker-compose.scale.yml is not exercised (apt-get install -y haproxy)")
	} else if busy := portsFree(22120, 22131, 22132, 22190); len(busy) > 0 {
		scale = false
		t.Logf("ports %s are in use: docker-compose.scale.yml is not exercised", strings.Join(busy, ", "))
	}
	if scale {
		env = append(env, "HAPROXY_IMAGE=haproxy:composetest")
	}
	// Whatever an interrupted earlier run left of this test's own project.
	script(t, env, 2*time.Minute, true, "stop-cluster.sh", "-v")
	t.Cleanup(func() {
		out := script(t, env, 2*time.Minute, true, "stop-cluster.sh", "-v")
		if strings.Contains(out, "ERROR") {
			t.Errorf("stop-cluster.sh -v: %s", out)
		}
		if out, err := exec.Command("docker", "volume", "ls", "-q", "--filter", "label=com.docker.compose.project="+testProject).Output(); err != nil || len(strings.TrimSpace(string(out))) > 0 {
			t.Errorf("data volumes left after stop-cluster.sh -v: %v %s", err, out)
		}
		exec.Command("docker", "rmi", "slotgate:composetest", "redis:composetest").Run()
		if scale {
			exec.Command("docker", "rmi", "haproxy:composetest").Run()
		}
		t.Logf("whole test: %v", time.Since(tStart).Round(time.Millisecond))
	})

	images := []string{"slotgate", "redis"}
	startArgs := []string{}
	if scale {
		images = append(images, "haproxy")
		startArgs = append(startArgs, "--scale")
	}
	out := script(t, env, 3*time.Minute, false, "build-images.sh", images...)
	t.Logf("%s", strings.TrimSpace(out))

	out = script(t, env, 2*time.Minute, false, "start-cluster.sh", startArgs...)
	if !strings.Contains(out, "start-cluster: ready in") {
		t.Fatalf("start-cluster.sh did not report ready:\n%s", out)
	}

	keys, _ := masterKeys(t, 20)
	c := redis.NewClient(&redis.Options{Addr: proxyAddr, MaxRetries: -1})
	t.Cleanup(func() { c.Close() })
	writeRead(t, c, keys, "v1")

	checkMonitor(t, script(t, env, time.Minute, false, "monitor-cluster.sh"))

	// The users' habit: redis-cli inside the node's container, under the service's name.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	exe := compose(ctx, env, false, "exec", "-T", "redis-7000", "redis-cli", "-p", "7000", "-a", password, "cluster", "info")
	if out, err := exe.CombinedOutput(); err != nil || !strings.Contains(string(out), "cluster_state:ok") {
		t.Errorf("docker-compose exec redis-7000 redis-cli -p 7000 -a ... cluster info: %v\n%s", err, out)
	}

	if scale {
		checkScale(t, env)
	}

	// Stop the master of slots 0-5460; its replica 7001 takes over.
	exe = compose(ctx, env, false, "stop", "redis-7000")
	if out, err := exe.CombinedOutput(); err != nil {
		t.Fatalf("docker-compose stop redis-7000: %v\n%s", err, out)
	}
	took := failover(t, c, keys["127.0.0.1:7000"], "v1", 90*time.Second)
	t.Logf("writes to 7000's slots succeed through slotgate %v after redis-7000 stopped", took.Round(time.Millisecond))
	role := redis.NewClient(&redis.Options{Addr: "127.0.0.1:7001", Password: password})
	defer role.Close()
	if info, err := role.Info(ctx, "replication").Result(); err != nil || !strings.Contains(info, "role:master") {
		t.Errorf("127.0.0.1:7001 after the failover: %v %q, want role:master", err, info)
	}
	// The other masters were never disturbed.
	writeRead(t, c, map[string][]string{"127.0.0.1:7002": keys["127.0.0.1:7002"], "127.0.0.1:7004": keys["127.0.0.1:7004"]}, "v2")
}

// checkScale: through HAProxy on 22120, new connections reach both slotgates and work; once
// slotgate-2 is stopped, every new connection is served by the other, and HAProxy's health
// check marks slotgate-2 down.
func checkScale(t *testing.T, env []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conns := func(admin string) int {
		c, err := net.DialTimeout("tcp", admin, time.Second)
		if err != nil {
			return -1
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(3 * time.Second))
		fmt.Fprintf(c, "GET /metrics HTTP/1.0\r\nHost: x\r\n\r\n")
		b, _ := io.ReadAll(c)
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "slotgate_client_connections "); ok {
				n, _ := strconv.Atoi(strings.TrimSpace(v))
				return n
			}
		}
		return -1
	}
	// A client of one connection: each is a new connection HAProxy balances.
	client := func() *redis.Client {
		return redis.NewClient(&redis.Options{Addr: "127.0.0.1:22120", MaxRetries: -1, PoolSize: 1, DialTimeout: 2 * time.Second})
	}
	setGet := func(c *redis.Client, k string) error {
		cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
		defer ccancel()
		if err := c.Set(cctx, k, "through-haproxy", 0).Err(); err != nil {
			return err
		}
		got, err := c.Get(cctx, k).Result()
		if err == nil && got != "through-haproxy" {
			err = fmt.Errorf("GET %s = %q", k, got)
		}
		return err
	}
	once := func(k string) error {
		c := client()
		defer c.Close()
		return setGet(c, k)
	}
	// Ten connections held open at once: leastconn spreads them over both slotgates.
	base1, base2 := conns("127.0.0.1:22122"), conns("127.0.0.1:22132")
	var held []*redis.Client
	for i := range 10 {
		c := client()
		held = append(held, c)
		if err := setGet(c, fmt.Sprintf("composetest:haproxy:%d", i)); err != nil {
			t.Fatalf("connection %d through HAProxy 127.0.0.1:22120: %v", i, err)
		}
	}
	n1, n2 := conns("127.0.0.1:22122")-base1, conns("127.0.0.1:22132")-base2
	t.Logf("10 connections through HAProxy: %d on slotgate, %d on slotgate-2", n1, n2)
	if n1 < 1 || n2 < 1 {
		t.Errorf("10 connections through HAProxy: %d on slotgate, %d on slotgate-2; want both used", n1, n2)
	}
	for _, c := range held {
		c.Close()
	}

	if out, err := compose(ctx, env, true, "stop", "slotgate-2").CombinedOutput(); err != nil {
		t.Fatalf("docker-compose stop slotgate-2: %v\n%s", err, out)
	}
	t0 := time.Now()
	// Served at once or after HAProxy marks it down (2 failed checks 1 s apart); 20 in a row.
	ok := 0
	for i := 0; ok < 20; i++ {
		if err := once(fmt.Sprintf("composetest:haproxy:after:%d", i)); err != nil {
			ok = 0
			if time.Since(t0) > 30*time.Second {
				t.Fatalf("new connections through HAProxy still fail 30s after slotgate-2 stopped: %v", err)
			}
			time.Sleep(100 * time.Millisecond)
			continue
		}
		ok++
	}
	t.Logf("20 new connections in a row served through HAProxy %v after slotgate-2 stopped", time.Since(t0).Round(time.Millisecond))
	// The stats page says slotgate-2 is DOWN.
	for {
		status := haproxyStatus(t, "slotgate-2")
		if status == "DOWN" {
			break
		}
		if time.Since(t0) > 30*time.Second {
			t.Fatalf("HAProxy reports slotgate-2 %q 30s after it stopped, want DOWN", status)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if s := haproxyStatus(t, "slotgate-1"); s != "UP" {
		t.Errorf("HAProxy reports slotgate-1 %q, want UP", s)
	}
}

// haproxyStatus returns the status column of server in backend slotgate from HAProxy's stats CSV.
func haproxyStatus(t *testing.T, server string) string {
	t.Helper()
	c := &http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get("http://127.0.0.1:22190/;csv")
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Split(l, ",")
		if len(f) > 17 && f[0] == "slotgate" && f[1] == server {
			return f[17]
		}
	}
	return "absent"
}

// TestLocalScripts runs start-cluster.sh, monitor-cluster.sh and stop-cluster.sh with --local
// (the cluster as processes, for machines without Docker): keys of all three masters through
// slotgate, the monitor's six nodes, a SIGKILLed master 7000 and writes to its slots served
// again after its replica's promotion, and the stop leaving the ports free. It runs where no
// Docker daemon answers, or with SLOTGATE_TEST_LOCAL=1.
func TestLocalScripts(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	if ok, _ := dockerAnswers(); ok && os.Getenv("SLOTGATE_TEST_LOCAL") == "" {
		t.Skip("a Docker daemon answers: TestCompose tests the stack (SLOTGATE_TEST_LOCAL=1 tests --local too)")
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server is not installed (apt-get install -y redis-server redis-tools)")
	}
	if _, err := exec.LookPath("redis-cli"); err != nil {
		t.Skip("redis-cli is not installed (apt-get install -y redis-tools)")
	}
	skipIfPortsBusy(t)
	tStart := time.Now()
	dir := t.TempDir()
	env := []string{"SLOTGATE_LOCAL_DIR=" + dir}
	t.Cleanup(func() {
		script(t, env, time.Minute, true, "stop-cluster.sh", "--local", "-v")
		if _, err := os.Stat(filepath.Join(dir, "devcluster.pid")); err == nil {
			t.Errorf("stop-cluster.sh --local left its PID file")
		}
		t.Logf("whole test: %v", time.Since(tStart).Round(time.Millisecond))
	})
	out := script(t, env, 3*time.Minute, false, "start-cluster.sh", "--local")
	if !strings.Contains(out, "start-cluster: ready in") {
		t.Fatalf("start-cluster.sh --local did not report ready:\n%s", out)
	}

	keys, _ := masterKeys(t, 20)
	c := redis.NewClient(&redis.Options{Addr: proxyAddr, MaxRetries: -1})
	t.Cleanup(func() { c.Close() })
	writeRead(t, c, keys, "v1")
	checkMonitor(t, script(t, env, time.Minute, false, "monitor-cluster.sh", "--local"))

	// SIGKILL the master of 0-5460, found by its own process_id (started by this test's script).
	node := redis.NewClient(&redis.Options{Addr: "127.0.0.1:7000", Password: password})
	defer node.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	info, err := node.Info(ctx, "server").Result()
	if err != nil {
		t.Fatal(err)
	}
	pid := 0
	for _, l := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "process_id:"); ok {
			pid, _ = strconv.Atoi(v)
		}
	}
	if pid <= 1 {
		t.Fatalf("no process_id in INFO of 127.0.0.1:7000")
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill %d: %v", pid, err)
	}
	took := failover(t, c, keys["127.0.0.1:7000"], "v1", 90*time.Second)
	t.Logf("writes to 7000's slots succeed through slotgate %v after its master was killed", took.Round(time.Millisecond))

	script(t, env, time.Minute, false, "stop-cluster.sh", "--local")
	for _, p := range []int{7001, 22121} {
		if c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(p), time.Second); err == nil {
			c.Close()
			t.Errorf("127.0.0.1:%d still answers after stop-cluster.sh --local", p)
		}
	}
}
