package testcluster

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestCmdStringRedacts(t *testing.T) {
	for _, args := range [][]string{
		{"MIGRATE", "127.0.0.1", "1", "", "0", "5000", "AUTH", "sekrit", "KEYS", "a"},
		{"MIGRATE", "127.0.0.1", "1", "", "0", "5000", "AUTH2", "user", "sekrit", "KEYS", "a"},
		{"AUTH", "sekrit"},
		{"auth", "user", "sekrit"},
		{"HELLO", "3", "AUTH", "user", "sekrit"},
	} {
		if s := cmdString(args); strings.Contains(s, "sekrit") {
			t.Errorf("cmdString(%q) = %q leaks the password", args, s)
		}
	}
	if s := cmdString([]string{"CLUSTER", "SETSLOT", "5", "NODE", "abc"}); s != "CLUSTER SETSLOT 5 NODE abc" {
		t.Errorf("cmdString = %q", s)
	}
}

// keySlot asks a node for the hash slot of key.
func keySlot(t *testing.T, c *Cluster, key string) int {
	t.Helper()
	v, err := c.Do(c.Nodes[0], "CLUSTER", "KEYSLOT", key)
	if err != nil {
		t.Fatal(err)
	}
	return int(v.(int64))
}

func countKeys(t *testing.T, c *Cluster, n *Node, slot int) int64 {
	t.Helper()
	v, err := c.Do(n, "CLUSTER", "COUNTKEYSINSLOT", fmt.Sprint(slot))
	if err != nil {
		t.Fatal(err)
	}
	return v.(int64)
}

func TestMoveSlot(t *testing.T) {
	needRedis(t)
	t.Parallel()
	ctx := context.Background()
	c := StartT(t, Options{})
	cc := c.ClusterClient()

	slot := keySlot(t, c, "{mv}")
	from, err := c.SlotOwner(slot)
	if err != nil {
		t.Fatal(err)
	}
	var to *Node
	for _, m := range c.Masters() {
		if m != from {
			to = m
			break
		}
	}
	if to == nil {
		t.Fatalf("no second master; masters %v", c.Masters())
	}
	const nkeys = 50
	for i := range nkeys {
		if err := cc.Set(ctx, fmt.Sprintf("{mv}:%d", i), i, 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if n := countKeys(t, c, from, slot); n != nkeys {
		t.Fatalf("%d keys in slot %d on %s before the move, want %d", n, slot, from, nkeys)
	}

	t0 := time.Now()
	if err := c.MoveSlot(slot, from, to); err != nil {
		t.Fatal(err)
	}
	t.Logf("slot %d with %d keys moved %s -> %s in %v", slot, nkeys, from, to, time.Since(t0).Round(time.Millisecond))
	if n := countKeys(t, c, from, slot); n != 0 {
		t.Errorf("%d keys left on the source %s", n, from)
	}
	if n := countKeys(t, c, to, slot); n != nkeys {
		t.Errorf("%d keys on the target %s, want %d", n, to, nkeys)
	}
	if o, err := c.SlotOwner(slot); err != nil || o != to {
		t.Fatalf("SlotOwner(%d) = %v, %v; want %s", slot, o, err, to)
	}
	for _, n := range c.Nodes {
		vs, err := c.NodeInfo(n)
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(vs, func(v NodeView) bool { return v.HasSlot(slot) })
		if i < 0 || vs[i].ID != to.ID || !vs[i].HasFlag("master") {
			t.Errorf("%s: slot %d not on %s in its view", n, slot, to)
		}
	}
	for i := range nkeys {
		k := fmt.Sprintf("{mv}:%d", i)
		if v, err := cc.Get(ctx, k).Int(); err != nil || v != i {
			t.Fatalf("GET %s = %v, %v after the move", k, v, err)
		}
	}
	if v, err := c.Client(to).Get(ctx, "{mv}:7").Int(); err != nil || v != 7 {
		t.Fatalf("GET {mv}:7 on the target = %v, %v", v, err)
	}

	// Move it back step by step: a partial batch, a BUSYKEY, the rest.
	if err := c.BeginMigration(slot, to, from); err != nil {
		t.Fatal(err)
	}
	if n, err := c.MigrateKeys(slot, to, from, 10); err != nil || n != 10 {
		t.Fatalf("MigrateKeys(max 10) = %d, %v", n, err)
	}
	// A key written to the importing node with ASKING makes MIGRATE of the
	// same key fail with BUSYKEY.
	busy := ""
	for i := range nkeys {
		k := fmt.Sprintf("{mv}:%d", i)
		if n, err := c.Client(to).Exists(ctx, k).Result(); err == nil && n == 1 {
			busy = k
			break
		}
	}
	asking := func(args ...string) {
		t.Helper()
		rc, err := dialResp(from.Addr, c.Password, ctlTimeout)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		if _, err := rc.do("ASKING"); err != nil {
			t.Fatal(err)
		}
		if _, err := rc.do(args...); err != nil {
			t.Fatal(err)
		}
	}
	if busy == "" {
		t.Fatalf("no key of slot %d left on %s", slot, to)
	}
	asking("SET", busy, "dup")
	n, err := c.MigrateKeys(slot, to, from, 0)
	if err == nil || !strings.Contains(err.Error(), "BUSYKEY") {
		t.Fatalf("MigrateKeys with a duplicate key = %d, %v; want a BUSYKEY error", n, err)
	}
	if strings.Contains(err.Error(), c.Password) {
		t.Errorf("error leaks the password: %v", err)
	}
	t.Logf("expected: %v", err)
	asking("DEL", busy)
	n2, err := c.MigrateKeys(slot, to, from, 0)
	if err != nil || n+n2 != nkeys-10 {
		t.Fatalf("MigrateKeys(rest) = %d (+%d before the BUSYKEY), %v; want %d in all", n2, n, err, nkeys-10)
	}
	if err := c.FinishMigration(slot, from); err != nil {
		t.Fatal(err)
	}
	if o, err := c.SlotOwner(slot); err != nil || o != from {
		t.Fatalf("SlotOwner(%d) = %v, %v after moving back; want %s", slot, o, err, from)
	}
	cc.ReloadState(ctx)
	for i := range nkeys {
		k := fmt.Sprintf("{mv}:%d", i)
		if v, err := cc.Get(ctx, k).Int(); err != nil || v != i {
			t.Fatalf("GET %s = %v, %v after moving back", k, v, err)
		}
	}

	// MoveSlots of empty slots, and errors.
	slots := []int{slot + 1, slot + 2}
	if err := c.MoveSlots(slots, from, to); err != nil {
		t.Fatal(err)
	}
	for _, s := range slots {
		if o, err := c.SlotOwner(s); err != nil || o != to {
			t.Errorf("SlotOwner(%d) = %v, %v; want %s", s, o, err, to)
		}
	}
	if err := c.MoveSlot(slot, to, from); err == nil {
		t.Error("MoveSlot from a node that does not own the slot succeeded")
	} else {
		t.Logf("expected: %v", err)
	}
	if err := c.WaitHealthy(10 * time.Second); err != nil {
		t.Fatal(err)
	}
}

func TestFailover(t *testing.T) {
	needRedis(t)
	t.Parallel()
	c := StartT(t, Options{})
	m := c.Masters()[0]
	rs := c.Replicas(m)
	if len(rs) != 1 {
		t.Fatalf("replicas of %s: %v", m, rs)
	}
	r := rs[0]
	if err := c.Failover(m, ""); err == nil {
		t.Error("Failover of a master succeeded")
	}
	if err := c.Failover(r, "bogus"); err == nil {
		t.Error("Failover with a bad mode succeeded")
	}

	t0 := time.Now()
	if err := c.Failover(r, ""); err != nil {
		t.Fatal(err)
	}
	t.Logf("CLUSTER FAILOVER: %s master after %v", r, time.Since(t0).Round(time.Millisecond))
	if ms := c.Masters(); len(ms) != 3 || ms[0] != r || slices.Contains(ms, m) {
		t.Fatalf("masters %v after failover, want %s first and no %s", ms, r, m)
	}
	if rs := c.Replicas(r); len(rs) != 1 || rs[0] != m {
		t.Fatalf("replicas of %s: %v, want [%s]", r, rs, m)
	}
	if err := c.WaitRole(r, "master", time.Second); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitRole(m, "slave", time.Second); err != nil {
		t.Fatal(err)
	}
	if o, err := c.SlotOwner(0); err != nil || o != r {
		t.Fatalf("SlotOwner(0) = %v, %v; want %s", o, err, r)
	}

	// And back with TAKEOVER (no votes needed).
	t1 := time.Now()
	if err := c.Failover(m, "TAKEOVER"); err != nil {
		t.Fatal(err)
	}
	t.Logf("CLUSTER FAILOVER TAKEOVER: %s master after %v", m, time.Since(t1).Round(time.Millisecond))
	if ms := c.Masters(); len(ms) != 3 || ms[0] != m {
		t.Fatalf("masters %v after takeover, want %s first", ms, m)
	}
	if err := c.WaitHealthy(10 * time.Second); err != nil {
		t.Fatal(err)
	}
}

func TestKillWaitNewMaster(t *testing.T) {
	needRedis(t)
	t.Parallel()
	c := StartT(t, Options{NodeTimeout: 1000 * time.Millisecond})
	if v, err := c.Do(c.Nodes[0], "CONFIG", "GET", "cluster-node-timeout"); err != nil || v.([]any)[1] != "1000" {
		t.Fatalf("cluster-node-timeout = %v, %v", v, err)
	}
	m := c.Masters()[1]
	rs := c.Replicas(m)
	if len(rs) != 1 {
		t.Fatalf("replicas of %s: %v", m, rs)
	}
	tk := time.Now()
	if err := c.Kill(m); err != nil {
		t.Fatal(err)
	}
	nm, seen, err := c.WaitNewMaster(m, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if nm != rs[0] {
		t.Fatalf("new master %s, want %s", nm, rs[0])
	}
	t.Logf("replica %s promoted %v after the kill", nm, seen.Sub(tk).Round(time.Millisecond))
	// The other nodes learn of the promotion from the new master's
	// broadcast a moment later.
	for {
		o, err := c.SlotOwner(10000)
		if err == nil && o == nm {
			break
		}
		if time.Since(seen) > 2*time.Second {
			t.Fatalf("SlotOwner(10000) = %v, %v 2s after the promotion; want %s", o, err, nm)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("SlotOwner agrees %v after the promotion", time.Since(seen).Round(time.Millisecond))
	if _, _, err := c.WaitNewMaster(c.Masters()[0], 50*time.Millisecond); err == nil {
		t.Error("WaitNewMaster of a live master succeeded")
	}

	tr := time.Now()
	if err := c.Restart(m); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitRole(m, "slave", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	t.Logf("old master %s is a replica %v after Restart", m, time.Since(tr).Round(time.Millisecond))
	if err := c.WaitHealthy(15 * time.Second); err != nil {
		t.Fatal(err)
	}
	t.Logf("healthy %v after Restart", time.Since(tr).Round(time.Millisecond))
	if rs := c.Replicas(nm); len(rs) != 1 || rs[0] != m {
		t.Fatalf("replicas of %s: %v, want [%s]", nm, rs, m)
	}

	// Back and forth: nm won an election moments ago, so a manual failover
	// to it must first wait out Redis's election retry time (4s here).
	if err := c.Failover(m, "TAKEOVER"); err != nil {
		t.Fatal(err)
	}
	tf := time.Now()
	if err := c.Failover(nm, ""); err != nil {
		t.Fatal(err)
	}
	t.Logf("manual failover back to %s done %v after the takeover", nm, time.Since(tf).Round(time.Millisecond))
	if o, err := c.SlotOwner(10000); err != nil || o != nm {
		t.Fatalf("SlotOwner(10000) = %v, %v; want %s", o, err, nm)
	}
}
