package server_test

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/slotgate/slotgate/internal/testcluster"
	"github.com/slotgate/slotgate/router"
	"github.com/slotgate/slotgate/router/slot"
)

// keyPerMaster returns one key served by each master of c, in master order.
func keyPerMaster(t *testing.T, c *testcluster.Cluster, prefix string) ([]*testcluster.Node, []string) {
	t.Helper()
	shards, err := c.Topology()
	if err != nil {
		t.Fatal(err)
	}
	var nodes []*testcluster.Node
	var keys []string
	for _, s := range shards {
		nodes = append(nodes, s.Master)
		keys = append(keys, keyInSlot(prefix, uint16(s.Slots[0][0])))
	}
	if len(nodes) < 3 {
		t.Fatalf("want 3 masters, got %d", len(nodes))
	}
	return nodes, keys
}

func sha1hex(s string) string {
	h := sha1.Sum([]byte(s))
	return hex.EncodeToString(h[:])
}

// existsOn asks node n directly whether it has the script sha.
func existsOn(t *testing.T, c *testcluster.Cluster, n *testcluster.Node, sha string) bool {
	t.Helper()
	r, err := c.Client(n).ScriptExists(context.Background(), sha).Result()
	if err != nil {
		t.Fatalf("SCRIPT EXISTS on %s: %v", n, err)
	}
	return r[0]
}

// TestE2EScriptBroadcast: SCRIPT LOAD reaches every master (EVALSHA then works on keys of each),
// SCRIPT EXISTS is 1 only where every master has the script, SCRIPT FLUSH reaches every master,
// SCRIPT KILL with nothing running is NOTBUSY and SCRIPT DEBUG is refused.
func TestE2EScriptBroadcast(t *testing.T) {
	ctx := context.Background()
	p := startProxy(t, cluster, nil)
	cl := p.client(t, nil)
	nodes, keys := keyPerMaster(t, cluster, "scriptbc")
	body := "redis.call('SET', KEYS[1], ARGV[1]); return redis.call('GET', KEYS[1]) .. ':broadcast-test'"
	sha, err := cl.ScriptLoad(ctx, body).Result()
	if err != nil || sha != sha1hex(body) {
		t.Fatalf("SCRIPT LOAD = %q, %v; want %s", sha, err, sha1hex(body))
	}
	for i, n := range nodes {
		if !existsOn(t, cluster, n, sha) {
			t.Fatalf("after SCRIPT LOAD through slotgate, master %s lacks the script", n)
		}
		got, err := cl.EvalSha(ctx, sha, []string{keys[i]}, "v").Text()
		if err != nil || got != "v:broadcast-test" {
			t.Fatalf("EVALSHA on a key of %s = %q, %v", n, got, err)
		}
	}

	// A script only one master has: 0 through slotgate (an EVALSHA on the others would fail).
	only := "return 'only on one master " + t.Name() + "'"
	onlySha, err := cluster.Client(nodes[1]).ScriptLoad(ctx, only).Result()
	if err != nil {
		t.Fatal(err)
	}
	ex, err := cl.ScriptExists(ctx, sha, onlySha, strings.Repeat("ab", 20)).Result()
	if err != nil || len(ex) != 3 || !ex[0] || ex[1] || ex[2] {
		t.Fatalf("SCRIPT EXISTS loaded, on-one-master, unknown = %v, %v; want [true false false]", ex, err)
	}

	if err := cl.ScriptFlush(ctx).Err(); err != nil {
		t.Fatalf("SCRIPT FLUSH: %v", err)
	}
	for _, n := range nodes {
		if existsOn(t, cluster, n, sha) || existsOn(t, cluster, n, onlySha) {
			t.Fatalf("after SCRIPT FLUSH through slotgate, master %s still has a script", n)
		}
	}
	if err := cl.Do(ctx, "SCRIPT", "FLUSH", "SYNC").Err(); err != nil {
		t.Fatalf("SCRIPT FLUSH SYNC: %v", err)
	}
	if err := cl.ScriptKill(ctx).Err(); err == nil || !strings.HasPrefix(err.Error(), "NOTBUSY") {
		t.Fatalf("SCRIPT KILL with no script running = %v; want NOTBUSY", err)
	}
	if err := cl.Do(ctx, "SCRIPT", "DEBUG", "YES").Err(); err == nil || !strings.Contains(err.Error(), "SCRIPT DEBUG is not available") {
		t.Fatalf("SCRIPT DEBUG = %v; want slotgate's refusal", err)
	}
	if err := cl.Do(ctx, "SCRIPT", "LOAD", "return +").Err(); err == nil || !strings.Contains(err.Error(), "Error compiling script") {
		t.Fatalf("SCRIPT LOAD of a bad script = %v; want the masters' compile error", err)
	}
}

// TestE2EFunctions: FUNCTION LOAD reaches every master (FCALL works on keys of each), LIST and
// DELETE, and FCALL with no key.
func TestE2EFunctions(t *testing.T) {
	ctx := context.Background()
	p := startProxy(t, cluster, nil)
	cl := p.client(t, nil)
	nodes, keys := keyPerMaster(t, cluster, "fcall")
	lib := "#!lua name=sgtest\n" +
		"redis.register_function('sgset', function(keys, args) redis.call('SET', keys[1], args[1]); return redis.call('GET', keys[1]) end)\n" +
		"redis.register_function('sgconst', function(keys, args) return 'const' end)"
	_ = cl.FunctionDelete(ctx, "sgtest").Err() // a failed earlier run
	name, err := cl.FunctionLoad(ctx, lib).Result()
	if err != nil || name != "sgtest" {
		t.Fatalf("FUNCTION LOAD = %q, %v", name, err)
	}
	t.Cleanup(func() { _ = cl.FunctionDelete(ctx, "sgtest").Err() })
	for i, n := range nodes {
		got, err := cl.FCall(ctx, "sgset", []string{keys[i]}, "fv").Text()
		if err != nil || got != "fv" {
			t.Fatalf("FCALL on a key of %s = %q, %v", n, got, err)
		}
	}
	if got, err := cl.FCall(ctx, "sgconst", nil).Text(); err != nil || got != "const" {
		t.Fatalf("FCALL with no key = %q, %v", got, err)
	}
	if got, err := cl.FCallRO(ctx, "sgconst", nil).Text(); err == nil {
		t.Fatalf("FCALL_RO of a function without the no-writes flag = %q; want Redis's refusal", got)
	}
	libs, err := cl.FunctionList(ctx, redis.FunctionListQuery{LibraryNamePattern: "sgtest"}).Result()
	if err != nil || len(libs) != 1 || libs[0].Name != "sgtest" || len(libs[0].Functions) != 2 {
		t.Fatalf("FUNCTION LIST = %+v, %v", libs, err)
	}
	if _, err := cl.FunctionLoad(ctx, lib).Result(); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("FUNCTION LOAD of a library already there = %v; want the masters' error", err)
	}
	if err := cl.FunctionDelete(ctx, "sgtest").Err(); err != nil {
		t.Fatalf("FUNCTION DELETE: %v", err)
	}
	for _, n := range nodes {
		l, err := cluster.Client(n).FunctionList(ctx, redis.FunctionListQuery{LibraryNamePattern: "sgtest"}).Result()
		if err != nil || len(l) != 0 {
			t.Fatalf("after FUNCTION DELETE through slotgate, %s lists %+v, %v", n, l, err)
		}
	}
	if err := cl.FCall(ctx, "sgset", []string{keys[0]}, "x").Err(); err == nil {
		t.Fatal("FCALL after FUNCTION DELETE succeeded")
	}
}

// TestE2EEvalNoKeys: EVAL and EVAL_RO with no key run on one master (they were refused as
// unroutable before).
func TestE2EEvalNoKeys(t *testing.T) {
	ctx := context.Background()
	p := startProxy(t, cluster, nil)
	cl := p.client(t, nil)
	if got, err := cl.Eval(ctx, "return ARGV[1] .. '!'", nil, "hi").Text(); err != nil || got != "hi!" {
		t.Fatalf("EVAL with no key = %q, %v", got, err)
	}
	if got, err := cl.EvalRO(ctx, "return 7", nil).Int(); err != nil || got != 7 {
		t.Fatalf("EVAL_RO with no key = %d, %v", got, err)
	}
	if got, err := cl.EvalSha(ctx, sha1hex("return 7"), nil).Int(); err != nil || got != 7 {
		t.Fatalf("EVALSHA with no key of a script EVAL loaded = %d, %v", got, err)
	}
}

// TestE2EEvalShaReload: a master that lost a script loaded through slotgate (here: flushed
// directly) still runs EVALSHA of it: slotgate reloads it on that master once and retries, the
// client never sees NOSCRIPT. A script slotgate never saw still gets NOSCRIPT, and after a SCRIPT
// FLUSH through slotgate nothing is reloaded.
func TestE2EEvalShaReload(t *testing.T) {
	ctx := context.Background()
	p := startProxy(t, cluster, nil)
	cl := p.client(t, nil)
	nodes, keys := keyPerMaster(t, cluster, "reload")
	body := "return redis.call('INCR', KEYS[1])"
	sha, err := cl.ScriptLoad(ctx, body).Result()
	if err != nil {
		t.Fatal(err)
	}
	preloaded := counter("slotgate_scripts_preloaded_total")
	for _, k := range keys {
		_ = cl.Del(ctx, k).Err()
		// The first EVALSHA to each master goes after a SCRIPT LOAD (loaded ahead).
		if err := cl.EvalSha(ctx, sha, []string{k}).Err(); err != nil {
			t.Fatal(err)
		}
		_ = cl.Del(ctx, k).Err()
	}
	if d := counter("slotgate_scripts_preloaded_total") - preloaded; d != uint64(len(keys)) {
		t.Fatalf("scripts loaded ahead: %d, want one per master (%d)", d, len(keys))
	}
	reloaded := counter("slotgate_scripts_reloaded_total")
	for i, n := range nodes {
		if err := cluster.Client(n).ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		if existsOn(t, cluster, n, sha) {
			t.Fatalf("%s still has the script after SCRIPT FLUSH", n)
		}
		// A pipeline: the first EVALSHA is reloaded; the ones behind it were sent before the reload
		// and may get NOSCRIPT too: each is reloaded once and runs once, in order.
		pipe := cl.Pipeline()
		cmds := []*redis.Cmd{pipe.EvalSha(ctx, sha, []string{keys[i]}), pipe.EvalSha(ctx, sha, []string{keys[i]}), pipe.EvalSha(ctx, sha, []string{keys[i]})}
		_, _ = pipe.Exec(ctx)
		for j, c := range cmds {
			if v, err := c.Int(); err != nil || v != j+1 {
				t.Fatalf("EVALSHA %d on a key of %s (script flushed there) = %d, %v; want %d", j, n, v, err, j+1)
			}
		}
		if v, err := cl.Get(ctx, keys[i]).Int(); err != nil || v != 3 {
			t.Fatalf("GET after three EVALSHA INCRs = %d, %v; want 3 (each ran once)", v, err)
		}
		if !existsOn(t, cluster, n, sha) {
			t.Fatalf("%s lacks the script after slotgate reloaded it", n)
		}
	}
	if d := counter("slotgate_scripts_reloaded_total") - reloaded; d < uint64(len(nodes)) || d > uint64(3*len(nodes)) {
		t.Fatalf("scripts reloaded: %d, want between %d and %d", d, len(nodes), 3*len(nodes))
	}
	// An inline EVALSHA is kept (re-encoded) and retried the same way.
	if err := cluster.Client(nodes[0]).ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write([]byte("EVALSHA " + strings.ToUpper(sha) + " 1 " + keys[0] + "\r\n")); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || line != ":4\r\n" {
		t.Fatalf("inline EVALSHA (upper-case sha) on a master that lost the script = %q, %v; want :4", line, err)
	}
	if err := cl.EvalSha(ctx, sha1hex("return 'never loaded'"), []string{keys[0]}).Err(); !errors.Is(err, redis.ErrNoScript) {
		t.Fatalf("EVALSHA of a script slotgate never saw = %v; want NOSCRIPT", err)
	}
	if err := cl.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	before := counter("slotgate_scripts_reloaded_total")
	if err := cl.EvalSha(ctx, sha, []string{keys[0]}).Err(); !errors.Is(err, redis.ErrNoScript) {
		t.Fatalf("EVALSHA after SCRIPT FLUSH through slotgate = %v; want NOSCRIPT (flushed scripts are not brought back)", err)
	}
	if d := counter("slotgate_scripts_reloaded_total") - before; d != 0 {
		t.Fatalf("%d scripts reloaded after SCRIPT FLUSH through slotgate", d)
	}
}

// TestE2EScriptOwnNoScript: a script that itself returns Redis's NOSCRIPT text is reloaded and
// run again once (slotgate cannot tell it from the node's), and then its text reaches the client:
// no loop. A script's NOSCRIPT of other wording is not retried at all.
func TestE2EScriptOwnNoScript(t *testing.T) {
	ctx := context.Background()
	p := startProxy(t, cluster, nil)
	cl := p.client(t, nil)
	_, keys := keyPerMaster(t, cluster, "ownnoscript")
	for i, text := range []string{"NOSCRIPT No matching script. Please use EVAL.", "NOSCRIPT mine"} {
		k := keys[i]
		_ = cl.Del(ctx, k).Err()
		body := "redis.call('INCR', KEYS[1]); return redis.error_reply(ARGV[1])"
		sha, err := cl.ScriptLoad(ctx, body).Result()
		if err != nil {
			t.Fatal(err)
		}
		before := counter("slotgate_scripts_reloaded_total")
		// Do, not EvalSha: go-redis rewrites any NOSCRIPT error to its own ErrNoScript text.
		err = cl.Do(ctx, "EVALSHA", sha, "1", k, text).Err()
		if err == nil || err.Error() != text {
			t.Fatalf("EVALSHA of a script returning %q: %v", text, err)
		}
		runs, _ := cl.Get(ctx, k).Int()
		reloads := counter("slotgate_scripts_reloaded_total") - before
		wantRuns, wantReloads := 2, uint64(1)
		if i == 1 {
			wantRuns, wantReloads = 1, 0
		}
		if runs != wantRuns || reloads != wantReloads {
			t.Fatalf("script returning %q: ran %d times, %d reloads; want %d and %d", text, runs, reloads, wantRuns, wantReloads)
		}
	}
}

// TestE2EWaitRefused: WAIT is refused for good, with the reason (not "not supported yet").
func TestE2EWaitRefused(t *testing.T) {
	p := startProxy(t, cluster, nil)
	cl := p.client(t, nil)
	err := cl.Do(context.Background(), "WAIT", "1", "0").Err()
	if err == nil || !strings.Contains(err.Error(), "'wait' is not available through a proxy: replication offsets belong to the backend connection") {
		t.Fatalf("WAIT = %v", err)
	}
}

// TestE2EEvalShaAfterFailover: Redis 7 does not replicate SCRIPT LOAD, so a replica promoted by a
// failover lacks every script clients loaded; EVALSHA through slotgate on that shard's keys still
// works (slotgate reloads the script on the new master).
func TestE2EEvalShaAfterFailover(t *testing.T) {
	c := startTopologyCluster(t, testcluster.Options{NodeTimeout: time.Second})
	p := startProxyRouter(t, c, router.Config{Refresh: 200 * time.Millisecond})
	ctx := context.Background()
	cl := p.client(t, func(o *redis.Options) { o.MaxRetries = -1 })
	nodes, keys := keyPerMaster(t, c, "failover")
	body := "return redis.call('INCR', KEYS[1])"
	sha, err := cl.ScriptLoad(ctx, body).Result()
	if err != nil {
		t.Fatal(err)
	}
	victim := nodes[0]
	replica := c.Replicas(victim)[0]
	if existsOn(t, c, replica, sha) {
		t.Fatalf("replica %s has the script before the failover: the test would prove nothing", replica)
	}
	if v, err := cl.EvalSha(ctx, sha, []string{keys[0]}).Int(); err != nil || v != 1 {
		t.Fatalf("EVALSHA before the failover = %d, %v", v, err)
	}
	if err := c.Failover(replica, ""); err != nil {
		t.Fatal(err)
	}
	if existsOn(t, c, replica, sha) {
		t.Fatalf("the promoted replica %s has the script: the test would prove nothing", replica)
	}
	// slotgate learns the new master (its next refresh), then loads the script there before the
	// first EVALSHA: no NOSCRIPT at all.
	sl := slot.Of([]byte(keys[0]))
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if tp := p.Rt.Topology(); tp != nil && tp.Owner(sl) == replica.Addr {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("slotgate's map still names %s for slot %d", p.Rt.Topology().Owner(sl), sl)
		}
	}
	reloaded, preloaded := counter("slotgate_scripts_reloaded_total"), counter("slotgate_scripts_preloaded_total")
	v, err := cl.EvalSha(ctx, sha, []string{keys[0]}).Int()
	if err != nil || v != 2 {
		t.Fatalf("EVALSHA after the failover = %d, %v; want 2", v, err)
	}
	if r, p := counter("slotgate_scripts_reloaded_total")-reloaded, counter("slotgate_scripts_preloaded_total")-preloaded; r != 0 || p != 1 {
		t.Fatalf("after the failover: %d scripts reloaded after NOSCRIPT, %d loaded ahead; want 0 and 1", r, p)
	}
	if !existsOn(t, c, replica, sha) {
		t.Fatalf("the new master %s lacks the script after EVALSHA through slotgate", replica)
	}
	for i := 1; i < len(keys); i++ { // the other shards were not touched
		if v, err := cl.EvalSha(ctx, sha, []string{keys[i]}).Int(); err != nil || v != 1 {
			t.Fatalf("EVALSHA on %s = %d, %v", nodes[i], v, err)
		}
	}

	// A second failover, and EVALSHA at once, before slotgate's map names the new master: the old
	// one (a replica now) answers MOVED, the new one NOSCRIPT unless a refresh came first; either
	// way the client gets the script's result.
	replica = c.Replicas(nodes[1])[0]
	if err := c.Failover(replica, ""); err != nil {
		t.Fatal(err)
	}
	reloaded, preloaded = counter("slotgate_scripts_reloaded_total"), counter("slotgate_scripts_preloaded_total")
	if v, err := cl.EvalSha(ctx, sha, []string{keys[1]}).Int(); err != nil || v != 2 {
		t.Fatalf("EVALSHA right after the second failover = %d, %v; want 2", v, err)
	}
	r, pl := counter("slotgate_scripts_reloaded_total")-reloaded, counter("slotgate_scripts_preloaded_total")-preloaded
	t.Logf("right after a failover: %d scripts reloaded after NOSCRIPT, %d loaded ahead", r, pl)
	if r+pl == 0 || !existsOn(t, c, replica, sha) {
		t.Fatalf("the new master %s got the script without slotgate loading it (%d, %d)", replica, r, pl)
	}
}

// TestE2EScriptKill: SCRIPT KILL through slotgate stops a script another client runs through
// slotgate (on the same event loop, so on the same shared connection to that master, which Redis
// does not read while the script runs): slotgate sends the KILL on connections of its own.
func TestE2EScriptKill(t *testing.T) {
	ctx := context.Background()
	for _, n := range cluster.Masters() {
		if err := cluster.Client(n).ConfigSet(ctx, "busy-reply-threshold", "100").Err(); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, n := range cluster.Masters() {
			_ = cluster.Client(n).ConfigSet(ctx, "busy-reply-threshold", "5000").Err()
		}
	})
	p := startProxy(t, cluster, nil)
	a, b := p.client(t, nil), p.client(t, nil)
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		done <- a.Eval(ctx, "local t0 = redis.call('TIME')[1]; while tonumber(redis.call('TIME')[1]) < t0 + 5 do end; return 1", []string{"killme"}).Err()
	}()
	// Until the script is busy (100 ms), KILL answers NOTBUSY: try again.
	var err error
	for time.Since(start) < 4*time.Second {
		time.Sleep(200 * time.Millisecond)
		if err = b.ScriptKill(ctx).Err(); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("SCRIPT KILL through slotgate during a busy script: %v (after %v)", err, time.Since(start))
	}
	evalErr := <-done
	if evalErr == nil || !strings.Contains(evalErr.Error(), "killed") {
		t.Fatalf("the killed script's EVAL answered %v", evalErr)
	}
	if el := time.Since(start); el > 4*time.Second {
		t.Fatalf("the script ended after %v: it ran its course, the KILL did not stop it", el)
	}
	if err := b.ScriptKill(ctx).Err(); err == nil || !strings.HasPrefix(err.Error(), "NOTBUSY") {
		t.Fatalf("SCRIPT KILL with nothing running = %v; want NOTBUSY", err)
	}
}
