package server_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/slotgate/slotgate/internal/fakenode"
	"github.com/slotgate/slotgate/router"
	"github.com/slotgate/slotgate/router/slot"
	"github.com/slotgate/slotgate/server"
)

// TestE2ETxPipelined: go-redis TxPipelined on keys of every master runs each transaction on
// its key's node and returns every queued command's reply.
func TestE2ETxPipelined(t *testing.T) {
	p := startProxy(t, cluster, nil)
	ctx := context.Background()
	run := runID()
	cl := p.client(t, nil)
	for i, m := range cluster.Masters() {
		key := keyOnMaster(t, "tx:"+run+":"+m.Addr+":", m, "")
		tag := "{" + key + "}"
		var incr *redis.IntCmd
		var get *redis.StringCmd
		cmds, err := cl.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
			pipe.Set(ctx, tag+"a", "x", time.Hour)
			incr = pipe.Incr(ctx, tag+"n")
			pipe.Ping(ctx)
			get = pipe.Get(ctx, tag+"a")
			return nil
		})
		if err != nil {
			t.Fatalf("master %d: TxPipelined: %v (%v)", i, err, cmds)
		}
		if incr.Val() != 1 || get.Val() != "x" {
			t.Fatalf("master %d: INCR = %d, GET = %q", i, incr.Val(), get.Val())
		}
		// The transaction ran on the node that owns the tag.
		direct := cluster.Client(masterOf(t, tag+"n"))
		if v, err := direct.Get(ctx, tag+"n").Result(); err != nil || v != "1" {
			t.Fatalf("master %d: GET on the node = %q, %v", i, v, err)
		}
	}
}

// TestE2EWatch: go-redis Watch succeeds when nobody touches the key and fails with
// TxFailedErr when another client writes it between WATCH and EXEC, on keys of every master.
func TestE2EWatch(t *testing.T) {
	p := startProxy(t, cluster, nil)
	ctx := context.Background()
	run := runID()
	cl := p.client(t, nil)
	other := p.client(t, nil)
	for i, m := range cluster.Masters() {
		key := keyOnMaster(t, "watch:"+run+":", m, "")
		if err := cl.Set(ctx, key, "10", time.Hour).Err(); err != nil {
			t.Fatal(err)
		}
		incr := func(interfere bool) error {
			return cl.Watch(ctx, func(tx *redis.Tx) error {
				n, err := tx.Get(ctx, key).Int()
				if err != nil {
					return err
				}
				if interfere {
					if err := other.Set(ctx, key, "100", time.Hour).Err(); err != nil {
						return err
					}
				}
				_, err = tx.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
					pipe.Set(ctx, key, n+1, time.Hour)
					return nil
				})
				return err
			}, key)
		}
		if err := incr(false); err != nil {
			t.Fatalf("master %d: WATCH transaction: %v", i, err)
		}
		if v, _ := cl.Get(ctx, key).Result(); v != "11" {
			t.Fatalf("master %d: after the transaction = %q; want 11", i, v)
		}
		if err := incr(true); !errors.Is(err, redis.TxFailedErr) {
			t.Fatalf("master %d: WATCH with another client's write = %v; want TxFailedErr", i, err)
		}
		if v, _ := cl.Get(ctx, key).Result(); v != "100" {
			t.Fatalf("master %d: after the aborted transaction = %q; want the other client's 100", i, v)
		}
	}
}

// TestE2ETxStates walks the transaction state machine through its transitions on the wire.
func TestE2ETxStates(t *testing.T) {
	p := startProxy(t, cluster, nil)
	run := runID()
	m := cluster.Masters()
	k1 := keyOnMaster(t, "txs:"+run+":", m[0], "")
	k2 := keyOnMaster(t, "txs:"+run+":", m[1], "")
	px := dialRaw(t, p.Addr)
	expect := func(what string, want ...string) {
		t.Helper()
		for i, w := range want {
			if r := px.read(); !strings.HasPrefix(r, w) {
				t.Fatalf("%s: reply %d = %q; want %q...", what, i, r, w)
			}
		}
	}

	// Keyless commands before the first key are queued and run on the key's node.
	px.write(respCmd("MULTI") + respCmd("PING") + respCmd("ECHO", "e") + respCmd("SET", k1, "v") + respCmd("GET", k1) + respCmd("EXEC"))
	expect("keyless first", "+OK", "+QUEUED", "+QUEUED", "+QUEUED", "+QUEUED", "*4\r\n+PONG\r\n$1\r\ne\r\n+OK\r\n$1\r\nv\r\n")
	// An empty transaction; keyless only.
	px.write(respCmd("MULTI") + respCmd("EXEC") + respCmd("MULTI") + respCmd("PING") + respCmd("EXEC"))
	expect("empty and keyless", "+OK", "*0\r\n", "+OK", "+QUEUED", "*1\r\n+PONG\r\n")
	// DISCARD before and after the first key; EXEC/DISCARD without MULTI; nested MULTI and WATCH
	// inside MULTI do not abort it.
	px.write(respCmd("MULTI") + respCmd("DISCARD") + respCmd("MULTI") + respCmd("INCR", k1+"n") + respCmd("DISCARD") +
		respCmd("EXEC") + respCmd("DISCARD") + respCmd("GET", k1+"n"))
	expect("discard", "+OK", "+OK", "+OK", "+QUEUED", "+OK", "-ERR EXEC without MULTI", "-ERR DISCARD without MULTI", "$-1")
	px.write(respCmd("MULTI") + respCmd("MULTI") + respCmd("WATCH", k1) + respCmd("INCR", k1+"n") + respCmd("EXEC"))
	expect("nested", "+OK", "-ERR MULTI calls can not be nested", "-ERR WATCH inside MULTI is not allowed", "+QUEUED", "*1\r\n:1\r\n")
	// A key of another node while queuing: the node's MOVED reaches the client, EXEC aborts and
	// nothing queued runs.
	px.write(respCmd("MULTI") + respCmd("SET", k1, "changed") + respCmd("SET", k2, "x") + respCmd("EXEC") + respCmd("GET", k1) + respCmd("EXISTS", k2))
	expect("moved while queuing", "+OK", "+QUEUED", "-MOVED ", "-EXECABORT", "$1\r\nv\r\n", ":0")
	// Keys of two slots of one node: Redis's own CROSSSLOT while queuing, then EXECABORT.
	k1b := keyOnMaster(t, "txs:"+run+":b", m[0], k1)
	px.write(respCmd("MULTI") + respCmd("MSET", k1, "a", k1b, "b") + respCmd("EXEC"))
	expect("crossslot", "+OK", "-CROSSSLOT", "-EXECABORT")
	// A command slotgate cannot queue aborts the transaction; nothing before it is applied.
	px.write(respCmd("MULTI") + respCmd("SET", k1, "no") + respCmd("FLUSHALL") + respCmd("EXEC") + respCmd("GET", k1))
	expect("refused while queuing", "+OK", "+QUEUED", "-ERR slotgate: 'flushall'", "-EXECABORT", "$1\r\nv\r\n")
	// RESET ends MULTI and WATCH; UNWATCH outside MULTI.
	px.write(respCmd("MULTI") + respCmd("SET", k1, "reset") + respCmd("RESET") + respCmd("GET", k1) + respCmd("EXEC"))
	expect("reset", "+OK", "+QUEUED", "+RESET", "$1\r\nv\r\n", "-ERR EXEC without MULTI")
	px.write(respCmd("UNWATCH") + respCmd("WATCH", k1) + respCmd("UNWATCH") + respCmd("WATCH", k1, k2))
	expect("unwatch", "+OK", "+OK", "+OK", "-CROSSSLOT")
	// A second WATCH on another node: a precise error, the first WATCH still holds.
	px.write(respCmd("WATCH", k1) + respCmd("WATCH", k2) + respCmd("MULTI") + respCmd("SET", k1, "v") + respCmd("EXEC"))
	expect("watch two nodes", "+OK", "-ERR slotgate: this key is on another node", "+OK", "+QUEUED", "*1\r\n+OK\r\n")
	// WATCH, a read on the same node (on the pinned connection) and on another node (shared),
	// then MULTI/EXEC.
	px.write(respCmd("WATCH", k1) + respCmd("GET", k1) + respCmd("EXISTS", k2) + respCmd("MULTI") + respCmd("SET", k1, "w") + respCmd("EXEC") + respCmd("GET", k1))
	expect("watch flow", "+OK", "$1\r\nv\r\n", ":0", "+OK", "+QUEUED", "*1\r\n+OK\r\n", "$1\r\nw\r\n")
	// PUBLISH and SPUBLISH are queued (SPUBLISH by its channel's slot, on the key's node here).
	px.write(respCmd("MULTI") + respCmd("SET", k1, "p") + respCmd("PUBLISH", "txch", "m") + respCmd("SPUBLISH", "{"+k1+"}", "m") + respCmd("EXEC"))
	expect("publish", "+OK", "+QUEUED", "+QUEUED", "+QUEUED", "*3\r\n+OK\r\n:0\r\n:0\r\n")
	// SELECT is queued as on a cluster node: 0 runs; another database is the node's error in EXEC.
	px.write(respCmd("MULTI") + respCmd("SELECT", "0") + respCmd("SET", k1, "s") + respCmd("EXEC") +
		respCmd("MULTI") + respCmd("SET", k1, "t") + respCmd("SELECT", "1") + respCmd("EXEC") + respCmd("GET", k1))
	expect("select", "+OK", "+QUEUED", "+QUEUED", "*2\r\n+OK\r\n+OK\r\n", "+OK", "+QUEUED", "+QUEUED",
		"*2\r\n+OK\r\n-ERR SELECT is not allowed in cluster mode", "$1\r\nt\r\n")
	// Inline commands inside a transaction are sent as RESP.
	px.write("MULTI\r\nSET " + k1 + " inline\r\nEXEC\r\n")
	expect("inline", "+OK", "+QUEUED", "*1\r\n+OK\r\n")
}

// TestE2ETxQueueTimeMoved: a slot migrating while a transaction queues: the node answers ASK
// for a key it no longer has, the client sees it, EXEC answers EXECABORT and nothing applies.
func TestE2ETxQueueTimeMoved(t *testing.T) {
	p := startProxy(t, cluster, nil)
	ctx := context.Background()
	run := runID()
	m := cluster.Masters()
	key := keyOnMaster(t, "txm:"+run+":", m[0], "")
	sl := slot.Of([]byte(key))
	src, dst := cluster.Client(m[0]), cluster.Client(m[1])
	srcID, err := src.Do(ctx, "CLUSTER", "MYID").Text()
	if err != nil {
		t.Fatal(err)
	}
	dstID, err := dst.Do(ctx, "CLUSTER", "MYID").Text()
	if err != nil {
		t.Fatal(err)
	}
	_ = srcID
	if err := dst.Do(ctx, "CLUSTER", "SETSLOT", sl, "IMPORTING", srcID).Err(); err != nil {
		t.Fatal(err)
	}
	if err := src.Do(ctx, "CLUSTER", "SETSLOT", sl, "MIGRATING", dstID).Err(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		src.Do(ctx, "CLUSTER", "SETSLOT", sl, "STABLE")
		dst.Do(ctx, "CLUSTER", "SETSLOT", sl, "STABLE")
	})
	px := dialRaw(t, p.Addr)
	// The key does not exist on the migrating source: it answers ASK while queuing.
	px.write(respCmd("MULTI") + respCmd("SET", key, "x") + respCmd("EXEC"))
	for i, w := range []string{"+OK", "-ASK ", "-EXECABORT"} {
		if r := px.read(); !strings.HasPrefix(r, w) {
			t.Fatalf("reply %d = %q; want %q...", i, r, w)
		}
	}
	for _, c := range []*redis.Client{src, dst} {
		if n, err := c.Do(ctx, "EXISTS", key).Int(); err == nil && n != 0 {
			t.Fatalf("the key exists on a node after EXECABORT")
		}
	}
}

// TestE2ETxConnectionReuse: a transaction's connection goes back to the pool only reset: a
// WATCH left by one client (ended by RESET, not EXEC) cannot abort the next client's
// transaction on the same pooled connection; a client that closes inside a transaction has its
// connection closed, not pooled.
func TestE2ETxConnectionReuse(t *testing.T) {
	p := startProxy(t, cluster, func(c *server.Config) { c.Loops = 1 })
	ctx := context.Background()
	run := runID()
	m := cluster.Masters()[0]
	k := keyOnMaster(t, "reuse:"+run+":", m, "")
	k2 := keyOnMaster(t, "reuse:"+run+":b", m, k)
	a := dialRaw(t, p.Addr)
	if r := a.do("WATCH", k); r != "+OK\r\n" {
		t.Fatalf("WATCH = %q", r)
	}
	if r := a.do("RESET"); r != "+RESET\r\n" {
		t.Fatalf("RESET = %q", r)
	}
	pooled := p.Rt.DedicatedConns(m.Addr)
	if pooled != 1 {
		t.Fatalf("%d dedicated connections to %s after one WATCH; want 1 (pooled)", pooled, m.Addr)
	}
	if err := cluster.Client(m).Set(ctx, k, "touched", time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	b := dialRaw(t, p.Addr)
	b.write(respCmd("MULTI") + respCmd("SET", k2, "b") + respCmd("EXEC"))
	for i, w := range []string{"+OK\r\n", "+QUEUED\r\n", "*1\r\n+OK\r\n"} {
		if r := b.read(); r != w {
			t.Fatalf("second client's reply %d = %q; want %q", i, r, w)
		}
	}
	if n := p.Rt.DedicatedConns(m.Addr); n != 1 {
		t.Fatalf("%d dedicated connections after reuse; want the pooled one (1)", n)
	}
	// A client that leaves inside MULTI: its connection is closed.
	c := dialRaw(t, p.Addr)
	c.write(respCmd("WATCH", k) + respCmd("MULTI") + respCmd("SET", k, "c"))
	for range 3 {
		c.read()
	}
	c.c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for p.Rt.DedicatedConns(m.Addr) != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := p.Rt.DedicatedConns(m.Addr); n != 0 {
		t.Fatalf("%d dedicated connections after the client left inside MULTI; want 0", n)
	}
	if v, _ := cluster.Client(m).Get(ctx, k).Result(); v != "touched" {
		t.Fatalf("the abandoned transaction ran: %q", v)
	}
}

// TestE2EMaxDedicated: past -max-dedicated connections to one master, WATCH and BLPOP get
// Redis-style errors; the others keep working and a released connection is reused.
func TestE2EMaxDedicated(t *testing.T) {
	p := startProxyDedicated(t, 2)
	run := runID()
	m := cluster.Masters()[0]
	k := keyOnMaster(t, "cap:"+run+":", m, "")
	a, b, c := dialRaw(t, p.Addr), dialRaw(t, p.Addr), dialRaw(t, p.Addr)
	for i, x := range []*rawConn{a, b} {
		if r := x.do("WATCH", k); r != "+OK\r\n" {
			t.Fatalf("WATCH %d = %q", i, r)
		}
	}
	for _, req := range [][]string{{"WATCH", k}, {"BLPOP", k, "1"}} {
		if r := c.do(req...); !strings.HasPrefix(r, "-ERR max dedicated backend connections reached") {
			t.Fatalf("%v past the cap = %q", req, r)
		}
	}
	if r := c.do("UNWATCH"); r != "-ERR max dedicated backend connections reached (2 to node "+m.Addr+"; -max-dedicated)\r\n" && r != "+OK\r\n" {
		t.Fatalf("UNWATCH after a refused WATCH = %q", r)
	}
	if r := a.do("UNWATCH"); r != "+OK\r\n" {
		t.Fatalf("UNWATCH = %q", r)
	}
	if r := c.do("WATCH", k); r != "+OK\r\n" {
		t.Fatalf("WATCH after a release = %q", r)
	}
}

// startProxyDedicated runs slotgate on the shared cluster with -max-dedicated n.
func startProxyDedicated(t *testing.T, n int) *proxy {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	rt := router.New(router.Config{Seeds: cluster.Seeds()[:1], Password: cluster.Password, MaxDedicated: n, Logger: logger})
	if err := rt.Run(t.Context()); err != nil {
		t.Fatalf("router: %v", err)
	}
	return serveWith(t, rt, nil)
}

// TestE2ETxWatchLost: the node's connection holding a client's WATCH is lost: the transaction
// that follows is answered EXECABORT and none of its commands reaches any node.
func TestE2ETxWatchLost(t *testing.T) {
	node := fakenode.Start(t, nil)
	node.SetClusterNodes(fakenode.ClusterNodes(fakenode.Shard{Master: node.Addr, Slots: "0-16383"}))
	node.SetHandler(func(c *fakenode.Conn, cmd fakenode.Command) {
		if cmd.Name() == "WATCH" {
			c.Reply(fakenode.OK)
			c.Close()
			return
		}
		fakenode.Echo(c, cmd)
	})
	rt := router.New(router.Config{Seeds: []string{node.Addr}})
	if err := rt.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	p := serveWith(t, rt, nil)
	px := dialRaw(t, p.Addr)
	if r := px.do("WATCH", "k"); r != "+OK\r\n" {
		t.Fatalf("WATCH = %q", r)
	}
	var watched *fakenode.Conn
	for _, c := range node.Conns() {
		for _, cmd := range c.Commands() {
			if cmd.Name() == "WATCH" {
				watched = c
			}
		}
	}
	if watched == nil {
		t.Fatal("no connection of the node got the WATCH")
	}
	select {
	case <-watched.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the node's connection did not close")
	}
	time.Sleep(50 * time.Millisecond) // the proxy's loop sees the close
	px.write(respCmd("MULTI") + respCmd("SET", "k", "v") + respCmd("EXEC") + respCmd("GET", "k"))
	for i, w := range []string{"+OK", "-ERR slotgate lost the connection holding this client's WATCH", "-EXECABORT", "$5\r\nGET k"} {
		if r := px.read(); !strings.HasPrefix(r, w) {
			t.Fatalf("reply %d = %q; want %q...", i, r, w)
		}
	}
	if n := node.Count("SET"); n != 0 {
		t.Fatalf("SET reached the node %d times after the WATCH was lost", n)
	}
}

// TestE2ELargeRequestAtTheBarrier: a large request (moved into the session's held buffer) that
// must wait at the ordering barrier (a slow WATCH in flight on a dedicated connection, the large
// SET for the shared pipeline) is kept whole and sent once the WATCH is answered.
func TestE2ELargeRequestAtTheBarrier(t *testing.T) {
	node, other := fakenode.Start(t, nil), fakenode.Start(t, nil)
	text := fakenode.ClusterNodes(fakenode.Shard{Master: node.Addr, Slots: "0-8191"}, fakenode.Shard{Master: other.Addr, Slots: "8192-16383"})
	node.SetClusterNodes(text)
	other.SetClusterNodes(text)
	var watchAnswered atomic.Int64
	handler := func(c *fakenode.Conn, cmd fakenode.Command) {
		switch cmd.Name() {
		case "WATCH":
			time.Sleep(300 * time.Millisecond)
			watchAnswered.Store(time.Now().UnixNano())
			c.Reply(fakenode.OK)
		case "SET":
			if at := watchAnswered.Load(); at == 0 {
				c.Reply(fakenode.Error("ERR SET arrived before the WATCH was answered"))
				return
			}
			c.Reply(fakenode.Int(int64(len(cmd.Args[2]))))
		default:
			fakenode.Echo(c, cmd)
		}
	}
	node.SetHandler(handler)
	other.SetHandler(handler)
	rt := router.New(router.Config{Seeds: []string{node.Addr}})
	if err := rt.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	p := serveWith(t, rt, nil)
	waited := counter(`slotgate_ordering_barriers_total{cause="connection"}`)
	big := strings.Repeat("x", 300<<10)
	px := dialRaw(t, p.Addr)
	px.write(respCmd("WATCH", keyInSlots("w", 0, 8191)) + respCmd("SET", keyInSlots("s", 8192, 16383), big))
	for i, w := range []string{"+OK\r\n", ":307200\r\n"} {
		if r := px.read(); r != w {
			t.Fatalf("reply %d = %q; want %q", i, r, w)
		}
	}
	if counter(`slotgate_ordering_barriers_total{cause="connection"}`) == waited {
		t.Fatal("the large SET did not wait at the barrier: the test did not test it")
	}
}
