package server_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/slotgate/slotgate/internal/testcluster"
	"github.com/slotgate/slotgate/server"
)

// directSum adds one integer command's answers from every master of c, asked directly.
func directSum(t *testing.T, c *testcluster.Cluster, args ...any) int64 {
	t.Helper()
	var sum int64
	for _, n := range c.Masters() {
		v, err := c.Client(n).Do(context.Background(), args...).Int64()
		if err != nil {
			t.Fatalf("%v on %s: %v", args, n, err)
		}
		sum += v
	}
	return sum
}

// setSpread writes n keys prefix:i (spread over every master) through cl.
func setSpread(t *testing.T, cl *redis.Client, prefix string, n int) []string {
	t.Helper()
	ctx := context.Background()
	var keys []string
	for i := range n {
		k := prefix + ":" + strconv.Itoa(i)
		if err := cl.Set(ctx, k, "v", time.Hour).Err(); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	return keys
}

// TestE2EKeyspaceShared: on the shared cluster (no flush), DBSIZE is the masters' sum (taken
// directly just before and after), KEYS pattern returns exactly the run's keys from every
// master, RANDOMKEY answers an existing key, LASTSAVE is the oldest master's; and slotgate's
// -max-merge-bytes flag caps KEYS with Redis-like advice to use SCAN.
func TestE2EKeyspaceShared(t *testing.T) {
	ctx := context.Background()
	p := startProxy(t, cluster, nil)
	cl := p.client(t, nil)
	prefix := "keyspace:" + runID()
	keys := setSpread(t, cl, prefix, 60)
	nodes, perMaster := keyPerMaster(t, cluster, prefix+":m")
	for _, k := range perMaster {
		if err := cl.Set(ctx, k, "v", time.Hour).Err(); err != nil {
			t.Fatal(err)
		}
	}
	keys = append(keys, perMaster...)

	before := directSum(t, cluster, "DBSIZE")
	got, err := cl.DBSize(ctx).Result()
	after := directSum(t, cluster, "DBSIZE")
	if err != nil || got < min(before, after) || got > max(before, after) {
		t.Fatalf("DBSIZE through slotgate = %d, %v; the masters' sum was %d just before and %d just after", got, err, before, after)
	}

	for _, pattern := range []string{prefix + ":*", prefix + ":m*"} {
		ks, err := cl.Keys(ctx, pattern).Result()
		if err != nil {
			t.Fatalf("KEYS %s: %v", pattern, err)
		}
		var want []string
		for _, k := range keys {
			if ok, _ := matchGlob(pattern, k); ok {
				want = append(want, k)
			}
		}
		slices.Sort(ks)
		slices.Sort(want)
		if !slices.Equal(ks, want) {
			t.Fatalf("KEYS %s = %d keys %v; want %d keys %v", pattern, len(ks), ks, len(want), want)
		}
	}
	if ks, err := cl.Keys(ctx, prefix+":none*").Result(); err != nil || len(ks) != 0 {
		t.Fatalf("KEYS of nothing = %v, %v; want an empty array", ks, err)
	}
	// The run's keys live on every master, so the merged reply is theirs together.
	for i, n := range nodes {
		if ks, err := cluster.Client(n).Keys(ctx, prefix+":m*").Result(); err != nil || len(ks) != 1 {
			t.Fatalf("KEYS on master %d directly = %v, %v; want its one key", i, ks, err)
		}
	}

	k, err := cl.RandomKey(ctx).Result()
	if err != nil || k == "" {
		t.Fatalf("RANDOMKEY = %q, %v; want a key", k, err)
	}
	// Asked twice: a key of another test may expire in between, not ours.
	if n, err := cl.Exists(ctx, keys[0]).Result(); err != nil || n != 1 {
		t.Fatalf("EXISTS %s = %d, %v", keys[0], n, err)
	}

	var oldest int64
	for i, n := range cluster.Masters() {
		v, err := cluster.Client(n).LastSave(ctx).Result()
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 || v < oldest {
			oldest = v
		}
	}
	if v, err := cl.LastSave(ctx).Result(); err != nil || v != oldest {
		t.Fatalf("LASTSAVE = %d, %v; want the oldest master's %d", v, err, oldest)
	}

	// -max-merge-bytes: past it KEYS says to use SCAN; small merges still pass.
	pp := startProxyProcess(t, cluster, "-max-merge-bytes", "1000")
	pc := redis.NewClient(&redis.Options{Addr: pp.Addr})
	defer pc.Close()
	if err := pc.Keys(ctx, prefix+":*").Err(); err == nil || err.Error() != "ERR KEYS reply too large through slotgate; use SCAN" {
		t.Fatalf("KEYS past -max-merge-bytes = %v; want the advice to use SCAN", err)
	}
	if ks, err := pc.Keys(ctx, prefix+":m*").Result(); err != nil || len(ks) != len(perMaster) {
		t.Fatalf("KEYS under -max-merge-bytes = %v, %v", ks, err)
	}
	if err := pc.Ping(ctx).Err(); err != nil {
		t.Fatalf("PING after a capped KEYS: %v", err)
	}
	if err := cl.Del(ctx, keys...).Err(); err != nil {
		t.Fatal(err)
	}
}

// matchGlob is KEYS's pattern for the patterns the tests use (a trailing '*').
func matchGlob(pattern, s string) (bool, error) {
	if !strings.HasSuffix(pattern, "*") || strings.Count(pattern, "*") != 1 {
		return false, errors.New("unsupported pattern")
	}
	return strings.HasPrefix(s, strings.TrimSuffix(pattern, "*")), nil
}

// TestE2EKeyspaceOwnCluster, on a cluster of its own (it flushes): RANDOMKEY is null on an
// empty cluster and finds a key only the last master has; FLUSHDB and FLUSHALL [ASYNC|SYNC]
// empty every master; SLOWLOG GET merges every master's entries newest first, LEN adds them,
// RESET empties every master's log, each entry's client-name names its master; LATENCY LATEST lists every master's events; a lowered
// Config.MaxMergeBytes caps KEYS and names SLOWLOG GET past it, and a SCAN page too large.
func TestE2EKeyspaceOwnCluster(t *testing.T) {
	ctx := context.Background()
	c := startTopologyCluster(t, testcluster.Options{Replicas: testcluster.NoReplicas,
		ExtraConfig: []string{"slowlog-log-slower-than 0", "slowlog-max-len 1000", "latency-monitor-threshold 1"}})
	p := startProxy(t, c, nil)
	cl := p.client(t, nil)
	nodes, perMaster := keyPerMaster(t, c, "own")

	if err := cl.FlushAll(ctx).Err(); err != nil {
		t.Fatalf("FLUSHALL: %v", err)
	}
	if k, err := cl.RandomKey(ctx).Result(); err != redis.Nil {
		t.Fatalf("RANDOMKEY on an empty cluster = %q, %v; want null", k, err)
	}
	last := perMaster[len(perMaster)-1]
	if err := cl.Set(ctx, last, "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if k, err := cl.RandomKey(ctx).Result(); err != nil || k != last {
			t.Fatalf("RANDOMKEY with one key on the last master = %q, %v; want %s", k, err, last)
		}
	}

	for _, flush := range [][]any{{"FLUSHDB"}, {"FLUSHALL"}, {"FLUSHALL", "ASYNC"}, {"FLUSHDB", "SYNC"}, {"flushall", "sync"}} {
		setSpread(t, cl, "own:flush", 30)
		if n, err := cl.DBSize(ctx).Result(); err != nil || n != directSum(t, c, "DBSIZE") || n < 30 {
			t.Fatalf("DBSIZE = %d, %v; want the masters' sum, at least 30", n, err)
		}
		if r, err := cl.Do(ctx, flush...).Text(); err != nil || r != "OK" {
			t.Fatalf("%v = %q, %v; want OK", flush, r, err)
		}
		deadline := time.Now().Add(5 * time.Second) // ASYNC frees in the background, but DBSIZE is 0 at once
		for directSum(t, c, "DBSIZE") != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("after %v, the masters still hold keys", flush)
			}
			time.Sleep(10 * time.Millisecond)
		}
		if n, err := cl.DBSize(ctx).Result(); err != nil || n != 0 {
			t.Fatalf("DBSIZE after %v = %d, %v", flush, n, err)
		}
	}
	if err := cl.Do(ctx, "FLUSHALL", "NOW").Err(); err == nil || !strings.Contains(err.Error(), "syntax error") {
		t.Fatalf("FLUSHALL NOW = %v; want the masters' syntax error", err)
	}

	// SLOWLOG: every command is logged (slower than 0 µs); a marker SET on each master.
	if r, err := cl.Do(ctx, "SLOWLOG", "RESET").Text(); err != nil || r != "OK" {
		t.Fatalf("SLOWLOG RESET = %q, %v", r, err)
	}
	for i, k := range perMaster {
		if err := cl.Set(ctx, k, "mark"+strconv.Itoa(i), 0).Err(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(1100 * time.Millisecond) // entries a second apart: the merge's order shows
	}
	lenBefore := directSum(t, c, "SLOWLOG", "LEN")
	n, err := cl.Do(ctx, "SLOWLOG", "LEN").Int64()
	lenAfter := directSum(t, c, "SLOWLOG", "LEN")
	if err != nil || n < lenBefore || n > lenAfter || n < 3 {
		t.Fatalf("SLOWLOG LEN = %d, %v; the masters' sum was %d before and %d after", n, err, lenBefore, lenAfter)
	}
	all, err := cl.SlowLogGet(ctx, -1).Result()
	if err != nil || int64(len(all)) < lenAfter {
		t.Fatalf("SLOWLOG GET -1 = %d entries, %v; want at least the %d the masters held", len(all), err, lenAfter)
	}
	var marks []string
	for i, e := range all {
		if i > 0 && e.Time.After(all[i-1].Time) {
			t.Fatalf("SLOWLOG GET entry %d (%v) is newer than entry %d (%v): want newest first", i, e.Time, i-1, all[i-1].Time)
		}
		if len(e.Args) == 3 && strings.EqualFold(e.Args[0], "set") && strings.HasPrefix(e.Args[2], "mark") {
			marks = append(marks, e.Args[2])
			i, _ := strconv.Atoi(strings.TrimPrefix(e.Args[2], "mark"))
			if want := "node=" + nodes[i].Addr; e.ClientName != want {
				t.Fatalf("SLOWLOG GET entry of %s has client-name %q; want %q (the master it ran on)", e.Args[1], e.ClientName, want)
			}
		}
		if !strings.HasPrefix(e.ClientName, "node=") || e.ClientAddr == "" {
			t.Fatalf("SLOWLOG GET entry %v: client-name %q, client-addr %q; want the node named, the address kept", e.Args, e.ClientName, e.ClientAddr)
		}
	}
	if !slices.Equal(marks, []string{"mark2", "mark1", "mark0"}) {
		t.Fatalf("marker SETs in SLOWLOG GET -1 = %v; want one per master, newest first", marks)
	}
	if two, err := cl.SlowLogGet(ctx, 2).Result(); err != nil || len(two) != 2 {
		t.Fatalf("SLOWLOG GET 2 = %d entries, %v", len(two), err)
	}
	if def, err := cl.Do(ctx, "SLOWLOG", "GET").Slice(); err != nil || len(def) != 10 {
		t.Fatalf("SLOWLOG GET = %d entries, %v; want Redis's default 10", len(def), err)
	}
	if err := cl.Do(ctx, "SLOWLOG", "GET", "-2").Err(); err == nil || !strings.Contains(err.Error(), "greater than or equal to -1") {
		t.Fatalf("SLOWLOG GET -2 = %v; want Redis's count error", err)
	}
	if r, err := cl.Do(ctx, "SLOWLOG", "RESET").Text(); err != nil || r != "OK" {
		t.Fatalf("SLOWLOG RESET = %q, %v", r, err)
	}
	for _, nd := range nodes {
		es, err := c.Client(nd).SlowLogGet(ctx, -1).Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			if len(e.Args) == 3 && strings.HasPrefix(e.Args[2], "mark") {
				t.Fatalf("after SLOWLOG RESET through slotgate, %s still logs %v", nd, e.Args)
			}
		}
	}

	// LATENCY LATEST: a slow script on each master directly makes a "command" event on each.
	for _, nd := range nodes {
		if err := c.Client(nd).Eval(ctx, "local t = redis.call('TIME'); repeat local u = redis.call('TIME') until (u[1]-t[1])*1000000 + (u[2]-t[2]) > 20000; return 1", nil).Err(); err != nil {
			t.Fatal(err)
		}
	}
	latest, err := cl.Do(ctx, "LATENCY", "LATEST").Slice()
	if err != nil {
		t.Fatal(err)
	}
	commands := 0
	for _, e := range latest {
		if ev, ok := e.([]any); ok && len(ev) >= 4 && ev[0] == "command" {
			commands++
		}
	}
	if commands != len(nodes) {
		t.Fatalf("LATENCY LATEST = %v; want a command event of each of the %d masters", latest, len(nodes))
	}
	// The other LATENCY subcommands: HISTORY concatenated, DOCTOR naming each master, RESET
	// the sum of every master's reset events, after which LATEST is empty.
	if hist, err := cl.Do(ctx, "LATENCY", "HISTORY", "command").Slice(); err != nil || len(hist) < len(nodes) {
		t.Fatalf("LATENCY HISTORY command = %v, %v; want at least one sample of each of the %d masters", hist, err, len(nodes))
	}
	doctor, err := cl.Do(ctx, "LATENCY", "DOCTOR").Text()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if !strings.Contains(doctor, n.Addr+":\n") {
			t.Fatalf("LATENCY DOCTOR does not name master %s:\n%s", n.Addr, doctor)
		}
	}
	if n, err := cl.Do(ctx, "LATENCY", "RESET").Int(); err != nil || n != len(nodes) {
		t.Fatalf("LATENCY RESET = %d, %v; want %d (one event per master)", n, err, len(nodes))
	}
	if latest, err := cl.Do(ctx, "LATENCY", "LATEST").Slice(); err != nil || len(latest) != 0 {
		t.Fatalf("LATENCY LATEST after RESET = %v, %v", latest, err)
	}

	// A lowered cap: KEYS says to use SCAN, SLOWLOG GET is named; the connection goes on.
	small := startProxy(t, c, func(cfg *server.Config) { cfg.MaxMergeBytes = 1000 })
	sc := small.client(t, nil)
	setSpread(t, cl, "own:cap", 100)
	if err := sc.Keys(ctx, "*").Err(); err == nil || err.Error() != "ERR KEYS reply too large through slotgate; use SCAN" {
		t.Fatalf("KEYS * past the cap = %v", err)
	}
	if err := sc.Do(ctx, "SLOWLOG", "GET", "-1").Err(); err == nil || !strings.HasPrefix(err.Error(), "ERR SLOWLOG GET reply too large through slotgate") {
		t.Fatalf("SLOWLOG GET -1 past the cap = %v", err)
	}
	setSpread(t, cl, "own:scancap", 300)
	if err := sc.Do(ctx, "SCAN", "0", "COUNT", "1000").Err(); err == nil || !strings.Contains(err.Error(), "use a smaller COUNT") {
		t.Fatalf("SCAN 0 COUNT 1000 past the cap = %v", err)
	}
	if err := sc.Do(ctx, "SCAN", "0", "COUNT", "5").Err(); err != nil {
		t.Fatalf("SCAN 0 COUNT 5 under the cap: %v", err)
	}
	if n, err := sc.DBSize(ctx).Result(); err != nil || n != directSum(t, c, "DBSIZE") || n < 100 {
		t.Fatalf("DBSIZE under the cap = %d, %v; want the masters' sum, at least 100", n, err)
	}
}

// TestE2EMemory on the shared cluster: MEMORY STATS is a map of each master's address to its
// own MEMORY STATS (RESP2 and RESP3), MEMORY DOCTOR each master's text after its address,
// MEMORY USAGE key the key's master's answer, MEMORY PURGE OK.
func TestE2EMemory(t *testing.T) {
	ctx := context.Background()
	p := startProxy(t, cluster, nil)
	var addrs []string
	for _, m := range cluster.Masters() {
		addrs = append(addrs, m.Addr)
	}
	for _, proto := range []int{2, 3} {
		cl := p.client(t, func(o *redis.Options) { o.Protocol = proto })
		stats := map[string]any{}
		switch r, err := cl.Do(ctx, "MEMORY", "STATS").Result(); v := r.(type) {
		case []any: // RESP2: address, stats, address, stats...
			for i := 0; i+1 < len(v); i += 2 {
				stats[v[i].(string)] = v[i+1]
			}
		case map[any]any:
			for k, s := range v {
				stats[k.(string)] = s
			}
		default:
			t.Fatalf("RESP%d MEMORY STATS = %T %v, %v", proto, r, r, err)
		}
		if len(stats) != len(addrs) {
			t.Fatalf("RESP%d MEMORY STATS names %d nodes; want the %d masters %v", proto, len(stats), len(addrs), addrs)
		}
		for _, a := range addrs {
			s := stats[a]
			if m, ok := s.(map[any]any); ok && m["peak.allocated"] != nil {
				continue
			}
			if l, ok := s.([]any); ok && len(l) > 2 && l[0] == "peak.allocated" {
				continue
			}
			t.Fatalf("RESP%d MEMORY STATS of %s = %v; want that master's stats", proto, a, s)
		}
		doc, err := cl.Do(ctx, "MEMORY", "DOCTOR").Text()
		if err != nil {
			t.Fatalf("RESP%d MEMORY DOCTOR: %v", proto, err)
		}
		for i, a := range addrs {
			at := strings.Index(doc, a+":\n")
			if at < 0 || (i > 0 && at < strings.Index(doc, addrs[i-1]+":\n")) {
				t.Fatalf("RESP%d MEMORY DOCTOR = %q; want each master's text after its address, in slot order", proto, doc)
			}
		}
	}
	cl := p.client(t, nil)
	k := "memory:" + runID()
	if err := cl.Set(ctx, k, strings.Repeat("x", 1000), time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	if n, err := cl.MemoryUsage(ctx, k).Result(); err != nil || n < 1000 {
		t.Fatalf("MEMORY USAGE %s = %d, %v; want at least 1000", k, n, err)
	}
	if r, err := cl.Do(ctx, "MEMORY", "PURGE").Text(); err != nil || r != "OK" {
		t.Fatalf("MEMORY PURGE = %q, %v", r, err)
	}
	if err := cl.Do(ctx, "MEMORY", "HELP").Err(); err != nil {
		t.Fatalf("MEMORY HELP: %v", err)
	}
}
