package testcluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func needRedis(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server not installed")
	}
}

func TestSplitSlots(t *testing.T) {
	got := FormatSlots(splitSlots(3))
	if want := "0-5460 5461-10922 10923-16383"; got != want {
		t.Fatalf("splitSlots(3) = %q, want %q", got, want)
	}
	for n := 1; n <= 7; n++ {
		r := splitSlots(n)
		next := 0
		for _, s := range r {
			if s[0] != next || s[1] < s[0] {
				t.Fatalf("splitSlots(%d) = %v", n, r)
			}
			next = s[1] + 1
		}
		if next != 16384 {
			t.Fatalf("splitSlots(%d) = %v", n, r)
		}
	}
}

func TestCluster3x3(t *testing.T) {
	needRedis(t)
	t.Parallel()
	ctx := context.Background()
	t0 := time.Now()
	c := StartT(t, Options{})
	t.Logf("3+3 cluster healthy in %v", time.Since(t0).Round(time.Millisecond))

	if len(c.Nodes) != 6 {
		t.Fatalf("%d nodes", len(c.Nodes))
	}
	shards, err := c.Topology()
	if err != nil {
		t.Fatal(err)
	}
	if len(shards) != 3 {
		for _, s := range shards {
			t.Logf("shard %s slots %v replicas %v", s.Master, s.Slots, s.Replicas)
		}
		t.Fatalf("%d shards", len(shards))
	}
	covered := 0
	for i, s := range shards {
		if s.Master != c.Nodes[i] {
			t.Errorf("shard %d master %s, want %s", i, s.Master, c.Nodes[i])
		}
		if len(s.Replicas) != 1 || s.Replicas[0] != c.Nodes[3+i] {
			t.Errorf("shard %d replicas %v, want [%s]", i, s.Replicas, c.Nodes[3+i])
		}
		for _, r := range s.Slots {
			covered += r[1] - r[0] + 1
		}
		t.Logf("master %s slots %s replicas %v", s.Master, FormatSlots(s.Slots), s.Replicas)
	}
	if covered != 16384 {
		t.Fatalf("%d slots covered", covered)
	}
	slots, err := c.Client(c.Nodes[4]).ClusterSlots(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(slots) != 3 {
		t.Fatalf("CLUSTER SLOTS: %d ranges", len(slots))
	}
	// Distinct config epochs.
	epochs := map[string]bool{}
	for _, m := range c.Masters() {
		info, err := c.Client(m).ClusterInfo(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		epochs[InfoField(info, "cluster_my_epoch")] = true
	}
	if len(epochs) != 3 {
		t.Errorf("config epochs not distinct: %v", epochs)
	}

	cc := c.ClusterClient()
	for i := range 50 {
		k := fmt.Sprintf("key:%d", i)
		if err := cc.Set(ctx, k, i, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 50 {
		v, err := cc.Get(ctx, fmt.Sprintf("key:%d", i)).Int()
		if err != nil || v != i {
			t.Fatalf("GET key:%d = %v, %v", i, v, err)
		}
	}

	// Kill the first master; its replica must take over.
	victim := c.Masters()[0]
	replica := c.Replicas(victim)[0]
	oldPID := victim.PID
	tk := time.Now()
	if err := c.Kill(victim); err != nil {
		t.Fatal(err)
	}
	if victim.Running() {
		t.Fatal("victim still running")
	}
	if err := syscallAlive(oldPID); err == nil {
		t.Fatalf("pid %d still alive after Kill", oldPID)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		ms := c.Masters()
		if len(ms) == 3 && ms[0] == replica {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica %s not promoted; masters %v", replica, ms)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := c.WaitHealthy(15 * time.Second); err != nil {
		t.Fatal(err)
	}
	t.Logf("replica %s promoted, cluster healthy %v after the kill", replica, time.Since(tk).Round(time.Millisecond))
	// go-redis only notices the new master after a state reload.
	cc.ReloadState(ctx)
	for i := range 50 {
		k := fmt.Sprintf("key:%d", i)
		v, err := cc.Get(ctx, k).Int()
		for try := 0; err != nil && try < 50; try++ {
			time.Sleep(100 * time.Millisecond)
			v, err = cc.Get(ctx, k).Int()
		}
		if err != nil || v != i {
			t.Fatalf("after failover: GET %s = %v, %v", k, v, err)
		}
	}

	// Restart the old master: it rejoins as a replica of the new master.
	tr := time.Now()
	if err := c.Restart(victim); err != nil {
		t.Fatal(err)
	}
	if victim.PID == oldPID {
		t.Error("PID unchanged after Restart")
	}
	if err := c.WaitHealthy(20 * time.Second); err != nil {
		t.Fatal(err)
	}
	if rs := c.Replicas(replica); len(rs) != 1 || rs[0] != victim {
		t.Fatalf("replicas of %s: %v, want [%s]", replica, rs, victim)
	}
	t.Logf("old master rejoined as replica, healthy %v after Restart", time.Since(tr).Round(time.Millisecond))
}

func syscallAlive(pid int) error {
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return err
	}
	// state is the field after the ")" closing the command name
	s := string(st)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && len(s) > i+2 && (s[i+2] == 'Z' || s[i+2] == 'X') {
		return fmt.Errorf("pid %d is a zombie", pid)
	}
	cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if !strings.Contains(string(cmdline), "redis-server") {
		return fmt.Errorf("pid %d is not a redis-server", pid)
	}
	return nil
}

func TestFixedPortsReuse(t *testing.T) {
	needRedis(t)
	t.Parallel()
	ps, err := freePorts(6)
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Masters: 3, Replicas: NoReplicas, Ports: ps[:3], BusPorts: ps[3:], Dir: t.TempDir(), AppendOnly: true, MaxMemory: "64mb"}
	t0 := time.Now()
	c := StartT(t, opts)
	t.Logf("3+0 cluster on fixed ports healthy in %v", time.Since(t0).Round(time.Millisecond))
	if c.Reused {
		t.Fatal("first start reported reuse")
	}
	ctx := context.Background()
	if err := c.ClusterClient().Set(ctx, "fixed", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if mm, err := c.Client(c.Nodes[0]).ConfigGet(ctx, "maxmemory-policy").Result(); err != nil || mm["maxmemory-policy"] != "allkeys-lru" {
		t.Errorf("maxmemory-policy = %v, %v", mm, err)
	}

	r, err := Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Reused {
		t.Fatal("second start did not reuse")
	}
	for i, n := range r.Nodes {
		if n.ID != c.Nodes[i].ID || n.PID != c.Nodes[i].PID {
			t.Errorf("reused node %d: %s pid %d, want %s pid %d", i, n.ID, n.PID, c.Nodes[i].ID, c.Nodes[i].PID)
		}
	}
	if err := r.Kill(r.Nodes[0]); err == nil {
		t.Error("Kill on a reused cluster succeeded")
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitHealthy(time.Second); err != nil {
		t.Fatalf("Close of the reused cluster hurt the original: %v", err)
	}

	// A wrong password on the same ports is a clear error.
	bad := opts
	bad.Password = "wrong"
	if _, err := Start(bad); err == nil || !strings.Contains(err.Error(), strconv.Itoa(ps[0])) {
		t.Errorf("wrong password: err = %v", err)
	}

	// Stop it and start again from the same dir: same cluster, data kept (AOF).
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	t1 := time.Now()
	c2 := StartT(t, opts)
	t.Logf("restart from data dir healthy in %v", time.Since(t1).Round(time.Millisecond))
	if c2.Reused {
		t.Fatal("restart reported reuse")
	}
	for i, n := range c2.Nodes {
		if n.ID != c.Nodes[i].ID {
			t.Errorf("node %d id %s after restart, want %s", i, n.ID, c.Nodes[i].ID)
		}
	}
	if v, err := c2.ClusterClient().Get(ctx, "fixed").Result(); err != nil || v != "1" {
		t.Errorf("GET fixed after restart = %q, %v", v, err)
	}
}

func TestFixedPortOccupied(t *testing.T) {
	needRedis(t)
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("HTTP/1.0 400 nope\r\n\r\n"))
			c.Close()
		}
	}()
	busy := l.Addr().(*net.TCPAddr).Port
	ps, err := freePorts(1)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Start(Options{Masters: 1, Replicas: 1, Ports: []int{ps[0], busy}, Dir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "port "+strconv.Itoa(busy)) {
		t.Fatalf("err = %v, want one naming port %d", err, busy)
	}
	t.Log(err)
}

const orphanEnv = "TESTCLUSTER_ORPHAN_DIR"

// TestOrphanChild is the child half of TestNoOrphans: it starts a cluster,
// reports the PIDs and then panics, or (with -test.timeout) waits to be
// killed by the test timeout, without any cleanup.
func TestOrphanChild(t *testing.T) {
	dir := os.Getenv(orphanEnv)
	if dir == "" {
		t.Skip("only run as the child of TestNoOrphans")
	}
	c, err := Start(Options{Masters: 2, Replicas: 1, Dir: dir})
	if err != nil {
		fmt.Println("START FAILED:", err)
		os.Exit(3)
	}
	var pids []string
	for _, n := range c.Nodes {
		pids = append(pids, strconv.Itoa(n.PID))
	}
	fmt.Printf("PIDS %s\n", strings.Join(pids, " "))
	os.Stdout.Sync()
	if os.Getenv(orphanEnv+"_MODE") == "timeout" {
		time.Sleep(time.Minute) // killed by -test.timeout
	}
	panic("deliberate panic with a running cluster")
}

func TestNoOrphans(t *testing.T) {
	needRedis(t)
	t.Parallel()
	for _, mode := range []string{"panic", "timeout"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			args := []string{"-test.run=^TestOrphanChild$", "-test.count=1", "-test.v"}
			want := "deliberate panic"
			if mode == "timeout" {
				args = append(args, "-test.timeout=12s")
				want = "test timed out"
			}
			cmd := exec.Command(os.Args[0], args...)
			cmd.Env = append(os.Environ(), orphanEnv+"="+filepath.Join(dir, "cluster"), orphanEnv+"_MODE="+mode)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("child did not fail:\n%s", out)
			}
			if !strings.Contains(string(out), want) {
				t.Fatalf("child did not die as planned (%v):\n%s", err, out)
			}
			var pids []int
			for l := range strings.Lines(string(out)) {
				if rest, ok := strings.CutPrefix(strings.TrimSpace(l), "PIDS "); ok {
					for _, f := range strings.Fields(rest) {
						p, _ := strconv.Atoi(f)
						pids = append(pids, p)
					}
				}
			}
			if len(pids) != 4 {
				t.Fatalf("child reported pids %v:\n%s", pids, out)
			}
			deadline := time.Now().Add(5 * time.Second)
			for _, p := range pids {
				for syscallAlive(p) == nil {
					if time.Now().After(deadline) {
						t.Fatalf("redis-server pid %d outlived its parent (orphan)", p)
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
			t.Logf("all %d servers of the dead child are gone: %v", len(pids), pids)
		})
	}
}

// A restart whose nodes load their data for longer than StartTimeout still comes up: the timeout
// counts from the end of the load, and the load is reported while it lasts (`make run` over a
// data dir that benchmarks filled failed after 60 s of loading before).
func TestRestartWaitsForLoading(t *testing.T) {
	needRedis(t)
	t.Parallel()
	ps, err := freePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Masters: 1, Replicas: NoReplicas, Ports: ps[:1], BusPorts: ps[1:], Dir: t.TempDir(), AppendOnly: true}
	c := StartT(t, opts)
	const keys = 50000
	ctx := context.Background()
	pipe := c.Client(c.Nodes[0]).Pipeline()
	for i := range keys {
		pipe.Set(ctx, "load:"+strconv.Itoa(i), "v", 0)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	// key-load-delay (a Redis test knob, µs per key loaded) stretches the load to about 5 s. A
	// loading node serves clients every 1024 keys of an AOF, here about every 0.1 s.
	opts.ExtraConfig = []string{"key-load-delay 100"}

	// Canceled while the node loads (devcluster's Ctrl-C), the restart returns at once and stops
	// the node it started.
	cancel := make(chan struct{})
	opts.Cancel = cancel
	time.AfterFunc(time.Second, func() { close(cancel) })
	t1 := time.Now()
	if _, err := Start(opts); !errors.Is(err, ErrCanceled) {
		t.Fatalf("restart canceled during the load: err = %v, want ErrCanceled", err)
	}
	if el := time.Since(t1); el > 3*time.Second {
		t.Fatalf("the canceled restart returned after %v (the load alone takes about 5 s)", el)
	}
	if l, err := net.Listen("tcp", c.Nodes[0].Addr); err != nil {
		t.Fatalf("the node is still running after the canceled restart: %v", err)
	} else {
		l.Close()
	}
	opts.Cancel = nil
	opts.StartTimeout = 3 * time.Second // a restarted master needs 2 s after its load to turn ok
	var mu sync.Mutex
	var logs []string
	opts.Logf = func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		logs = append(logs, fmt.Sprintf(format, args...))
	}
	t0 := time.Now()
	c2 := StartT(t, opts)
	took := time.Since(t0)
	t.Logf("restart with a slow load healthy in %v", took.Round(time.Millisecond))
	if took < opts.StartTimeout+time.Second {
		t.Fatalf("the restart took %v: the load did not outlast StartTimeout (%v), so this proves nothing", took, opts.StartTimeout)
	}
	if n, err := c2.Client(c2.Nodes[0]).DBSize(ctx).Result(); err != nil || n != keys {
		t.Errorf("DBSIZE after the restart = %d, %v; want %d", n, err, keys)
	}
	mu.Lock()
	defer mu.Unlock()
	reported := false
	for _, l := range logs {
		if strings.Contains(l, "loading their data") && strings.Contains(l, c2.Nodes[0].Addr+" loading") {
			reported = true
		}
	}
	if !reported {
		t.Errorf("no loading progress in the log:\n%s", strings.Join(logs, "\n"))
	}
}

func TestDescribeLoading(t *testing.T) {
	info := "# Persistence\r\nloading:1\r\nloading_total_bytes:1300000000\r\nloading_loaded_perc:41.07\r\nloading_eta_seconds:12\r\n"
	if got, want := describeLoading("127.0.0.1:7000", info), "127.0.0.1:7000 loading 41.07% of 1.3 GB, about 12 s left"; got != want {
		t.Errorf("describeLoading = %q, want %q", got, want)
	}
	if got, want := describeLoading("127.0.0.1:7000", "loading:1\r\n"), "127.0.0.1:7000 loading"; got != want {
		t.Errorf("describeLoading without progress fields = %q, want %q", got, want)
	}
}
