package router

import (
	"strings"
	"testing"
	"time"

	"github.com/slotgate/slotgate/internal/fakenode"
)

// Backend misbehaviour, scripted with fake nodes: each fault costs only the requests on that
// connection, each with an error naming the node; the connection is rebuilt, other shards go on.

// keyed answers GET of the keys in special with their handler and echoes everything else.
func keyed(special map[string]fakenode.Handler) fakenode.Handler {
	return func(c *fakenode.Conn, cmd fakenode.Command) {
		if len(cmd.Args) > 1 {
			if h := special[cmd.Args[1]]; h != nil {
				h(c, cmd)
				return
			}
		}
		fakenode.Echo(c, cmd)
	}
}

// sendKeys sends GET of each key to slot, with seq first, first+1, ...
func sendKeys(l *Loop, rec *recorder, slot int, first uint64, keys ...string) {
	for i, k := range keys {
		l.Send(slot, get(k), rec, first+uint64(i), -1, 0)
	}
}

// checkEchoes checks that each seq got the echo of its key.
func checkEchoes(t *testing.T, got map[uint64]string, want map[uint64]string) {
	t.Helper()
	for seq, key := range want {
		if got[seq] != echoed(key) {
			t.Errorf("request %d (GET %s): %q, want %q", seq, key, got[seq], echoed(key))
		}
	}
}

// waitParked waits until the loop holds n parked requests.
func waitParked(t *testing.T, h *harness, n int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for parked := 0; parked < n; {
		h.do(func(l *Loop) { parked = len(l.parked) })
		if time.Now().After(deadline) {
			t.Fatalf("%d requests parked, want %d", parked, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitLost waits until the loop has seen its connection to addr go.
func waitLost(t *testing.T, h *harness, addr string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		open := false
		h.do(func(l *Loop) { open = l.testConn(addr).state == stateOpen })
		if !open {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the loop still has its connection to %s open", addr)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// timesRead counts how often the node read GET key.
func timesRead(n *fakenode.Node, key string) int {
	k := 0
	for _, c := range n.Commands() {
		if c.Is("GET", key) {
			k++
		}
	}
	return k
}

// A node that closes its connection with requests on the wire: those get an error and are never
// sent again (they may have run); the next request opens a new connection.
func TestCloseWithRequestsOnWire(t *testing.T) {
	h, nodes, slots := threeFakes(t, Config{})
	a := nodes[0]
	a.SetHandler(keyed(map[string]fakenode.Handler{"r2": func(c *fakenode.Conn, _ fakenode.Command) { c.Close() }}))
	rec := newRecorder()
	h.do(func(l *Loop) {
		sendKeys(l, rec, slots[0], 1, "r1", "r2", "r3")
		sendKeys(l, rec, slots[1], 4, "b1")
	})
	got := rec.wait(t, 3*time.Second, 1, 2, 3, 4)
	checkEchoes(t, got, map[uint64]string{1: "r1", 4: "b1"})
	checkLost(t, got[2], a.Addr, "read: ")
	checkLost(t, got[3], a.Addr, "read: ")
	h.do(func(l *Loop) { sendKeys(l, rec, slots[0], 5, "r4") })
	checkEchoes(t, rec.wait(t, 3*time.Second, 5), map[uint64]string{5: "r4"})
	if n := timesRead(a, "r2"); n != 1 {
		t.Errorf("A read GET r2 %d times, want 1", n)
	}
	if n := timesRead(a, "r3"); n > 1 {
		t.Errorf("GET r3 replayed: A read it %d times", n)
	}
	if n := a.Accepted(); n != 2 {
		t.Errorf("A accepted %d connections, want 2", n)
	}
	rec.noDups(t)
}

// Requests for a node that is down wait for it (parked), and are sent when it is back.
func TestParkedRequestsSentWhenNodeReturns(t *testing.T) {
	h, nodes, slots := threeFakes(t, Config{RetryWindow: 10 * time.Second})
	a := nodes[0]
	a.Close()
	waitLost(t, h, a.Addr)
	rec := newRecorder()
	h.do(func(l *Loop) { sendKeys(l, rec, slots[0], 1, "p1", "p2") })
	waitParked(t, h, 2)
	if r := rec.reply(1) + rec.reply(2); r != "" {
		t.Fatalf("answered while the node is down: %q", r)
	}
	back := fakenode.StartAt(t, a.Addr, fakenode.Echo)
	checkEchoes(t, rec.wait(t, 5*time.Second, 1, 2), map[uint64]string{1: "p1", 2: "p2"})
	if c := back.Commands(); len(c) != 2 || !c[0].Is("GET", "p1") || !c[1].Is("GET", "p2") {
		t.Errorf("the node read %q, want GET p1, GET p2", c)
	}
	rec.noDups(t)
}

// Requests for a node that stays down get -CLUSTERDOWN naming it once the retry window passes;
// other shards are served meanwhile.
func TestParkedRequestsExpire(t *testing.T) {
	const window = 300 * time.Millisecond
	h, nodes, slots := threeFakes(t, Config{RetryWindow: window})
	a := nodes[0]
	a.Close()
	waitLost(t, h, a.Addr)
	rec := newRecorder()
	t0 := time.Now()
	h.do(func(l *Loop) {
		sendKeys(l, rec, slots[0], 1, "x1", "x2")
		sendKeys(l, rec, slots[1], 3, "b1")
	})
	checkEchoes(t, rec.wait(t, time.Second, 3), map[uint64]string{3: "b1"})
	got := rec.wait(t, 5*time.Second, 1, 2)
	took := time.Since(t0)
	want := "-CLUSTERDOWN slotgate cannot reach node " + a.Addr + " (waited 300ms)\r\n"
	if got[1] != want || got[2] != want {
		t.Errorf("replies %q, %q; want %q", got[1], got[2], want)
	}
	if took < window || took > window+time.Second {
		t.Errorf("answered after %v, want just past the %v window", took, window)
	}
	rec.noDups(t)
}

// Garbage from a node fails that connection's requests with an error naming the node; the
// connection is rebuilt and the other shards never notice.
func TestGarbageReply(t *testing.T) {
	h, nodes, slots := threeFakes(t, Config{})
	a := nodes[0]
	a.SetHandler(keyed(map[string]fakenode.Handler{"g2": func(c *fakenode.Conn, _ fakenode.Command) { c.Reply(fakenode.Garbage) }}))
	rec := newRecorder()
	h.do(func(l *Loop) {
		sendKeys(l, rec, slots[0], 1, "g1", "g2", "g3")
		sendKeys(l, rec, slots[1], 4, "b1")
		sendKeys(l, rec, slots[2], 5, "c1")
	})
	got := rec.wait(t, 3*time.Second, 1, 2, 3, 4, 5)
	checkEchoes(t, got, map[uint64]string{1: "g1", 4: "b1", 5: "c1"})
	checkLost(t, got[2], a.Addr, "invalid reply from the node")
	checkLost(t, got[3], a.Addr, "invalid reply from the node")
	h.do(func(l *Loop) { sendKeys(l, rec, slots[0], 6, "g4") })
	checkEchoes(t, rec.wait(t, 3*time.Second, 6), map[uint64]string{6: "g4"})
	if n := a.Accepted(); n != 2 {
		t.Errorf("A accepted %d connections, want 2", n)
	}
	for i, n := range nodes[1:] {
		if k := n.Accepted(); k != 1 {
			t.Errorf("node %d accepted %d connections, want 1", i+1, k)
		}
	}
	rec.noDups(t)
}

// A node that closes in the middle of a large reply: the cut reply and the requests behind it
// fail, and the new connection frames its first reply from scratch.
func TestPartialReplyThenClose(t *testing.T) {
	h, nodes, slots := threeFakes(t, Config{})
	a := nodes[0]
	big := strings.Repeat("x", 100_000)
	a.SetHandler(keyed(map[string]fakenode.Handler{
		"m1": func(c *fakenode.Conn, _ fakenode.Command) { c.CloseMidReply(fakenode.Bulk(big)) },
		"m3": func(c *fakenode.Conn, _ fakenode.Command) { c.Reply(fakenode.Bulk(big)) },
	}))
	rec := newRecorder()
	h.do(func(l *Loop) {
		sendKeys(l, rec, slots[0], 1, "m0", "m1", "m2")
		sendKeys(l, rec, slots[1], 4, "b1")
	})
	got := rec.wait(t, 3*time.Second, 1, 2, 3, 4)
	checkEchoes(t, got, map[uint64]string{1: "m0", 4: "b1"})
	checkLost(t, got[2], a.Addr, "read: ")
	checkLost(t, got[3], a.Addr, "read: ")
	h.do(func(l *Loop) { sendKeys(l, rec, slots[0], 5, "m3", "m4") })
	got = rec.wait(t, 3*time.Second, 5, 6)
	if got[5] != string(fakenode.Bulk(big)) {
		t.Errorf("the large reply on the new connection: %d bytes, want %d", len(got[5]), len(fakenode.Bulk(big)))
	}
	checkEchoes(t, got, map[uint64]string{6: "m4"})
	rec.noDups(t)
}

// A reply that comes after its request timed out is dropped (its slot became an orphan): the
// next request on the connection gets its own reply, not that one.
func TestReplyAfterRequestTimeout(t *testing.T) {
	h, nodes, slots := threeFakes(t, Config{RequestTimeout: 200 * time.Millisecond, BackendStall: -1})
	a := nodes[0]
	release := make(chan struct{})
	a.SetHandler(keyed(map[string]fakenode.Handler{"late": func(c *fakenode.Conn, cmd fakenode.Command) {
		<-release
		fakenode.Echo(c, cmd)
	}}))
	rec := newRecorder()
	h.do(func(l *Loop) { sendKeys(l, rec, slots[0], 1, "late") })
	got := rec.wait(t, 3*time.Second, 1)
	if want := "-ERR timeout waiting for node " + a.Addr + " (200ms)\r\n"; got[1] != want {
		t.Fatalf("late request: %q, want %q", got[1], want)
	}
	h.do(func(l *Loop) { sendKeys(l, rec, slots[0], 2, "next") })
	close(release) // the late reply, then the next one
	got = rec.wait(t, 3*time.Second, 2)
	checkEchoes(t, got, map[uint64]string{2: "next"})
	if a.Accepted() != 1 {
		t.Errorf("A accepted %d connections: the late reply should not cost the connection", a.Accepted())
	}
	rec.noDups(t)
}

// A node that reads and never answers: past -backend-stall its connection is closed (the
// requests on it get the timeout error) and a new one serves the next requests; the other
// shards are served throughout.
func TestStallRebuildsConnection(t *testing.T) {
	const stall = 300 * time.Millisecond
	h, nodes, slots := threeFakes(t, Config{BackendStall: stall})
	a := nodes[0]
	a.SetHandler(keyed(map[string]fakenode.Handler{"stuck": func(c *fakenode.Conn, _ fakenode.Command) { c.Stall() }}))
	rec := newRecorder()
	h.do(func(l *Loop) { sendKeys(l, rec, slots[0], 1, "stuck", "s2") })
	time.Sleep(50 * time.Millisecond)
	h.do(func(l *Loop) { sendKeys(l, rec, slots[1], 3, "b1") })
	checkEchoes(t, rec.wait(t, time.Second, 3), map[uint64]string{3: "b1"})
	if rec.reply(1) != "" {
		t.Fatalf("stalled request answered early: %q", rec.reply(1))
	}
	got := rec.wait(t, 3*time.Second, 1, 2)
	want := "-ERR timeout waiting for node " + a.Addr + " (300ms)\r\n"
	if got[1] != want || got[2] != want {
		t.Errorf("stalled requests: %q, %q; want %q", got[1], got[2], want)
	}
	h.do(func(l *Loop) { sendKeys(l, rec, slots[0], 4, "s3") })
	checkEchoes(t, rec.wait(t, 3*time.Second, 4), map[uint64]string{4: "s3"})
	if n := a.Accepted(); n != 2 {
		t.Errorf("A accepted %d connections, want 2", n)
	}
	rec.noDups(t)
}

// A node that answers very slowly (its replies dribbled in small pieces, a large one among them)
// is served correctly, and not taken for stalled while bytes keep coming.
func TestVerySlowReplies(t *testing.T) {
	h, nodes, slots := threeFakes(t, Config{BackendStall: 150 * time.Millisecond})
	a := nodes[0]
	big := strings.Repeat("y", 64<<10)
	a.SetHandler(func(c *fakenode.Conn, cmd fakenode.Command) {
		if cmd.Is("GET", "big") {
			c.Dribble(fakenode.Bulk(big), 2048, 3*time.Millisecond)
			return
		}
		c.Dribble(fakenode.EchoReply(cmd), 1, 3*time.Millisecond)
	})
	rec := newRecorder()
	t0 := time.Now()
	h.do(func(l *Loop) {
		sendKeys(l, rec, slots[0], 1, "s1", "big", "s2", "s3")
		sendKeys(l, rec, slots[1], 5, "b1")
	})
	checkEchoes(t, rec.wait(t, time.Second, 5), map[uint64]string{5: "b1"})
	if rec.reply(4) != "" {
		t.Error("the other shard waited for the slow one")
	}
	got := rec.wait(t, 10*time.Second, 1, 2, 3, 4)
	t.Logf("slow replies took %v", time.Since(t0).Round(time.Millisecond))
	checkEchoes(t, got, map[uint64]string{1: "s1", 3: "s2", 4: "s3"})
	if got[2] != string(fakenode.Bulk(big)) {
		t.Errorf("large slow reply: %d bytes, want %d", len(got[2]), len(fakenode.Bulk(big)))
	}
	if n := a.Accepted(); n != 1 {
		t.Errorf("A accepted %d connections: a slow node was taken for stalled", n)
	}
	rec.noDups(t)
}

// A connection that gnet never opens (Enroll accepted it, OnOpen never ran) must not hold its
// requests forever: past twice the dial timeout plus a second, its requests go back to waiting
// for an owner and are answered within the retry window.
func TestConnectionNeverOpened(t *testing.T) {
	h, nodes, slots := threeFakes(t, Config{DialTimeout: 100 * time.Millisecond, RetryWindow: 300 * time.Millisecond})
	rec := newRecorder()
	h.do(func(l *Loop) {
		sc := l.testConn(nodes[0].Addr)
		if sc.conn != nil {
			_ = sc.conn.Close()
		}
		sc.conn = nil
		sc.state = stateConnecting // as if a dial completed but gnet dropped its registration
		sc.connectSince = time.Now().UnixNano()
		sc.gen++
		sendKeys(l, rec, slots[0], 1, "a")
	})
	got := rec.wait(t, 5*time.Second, 1)
	if got[1] != echoed("a") && !strings.Contains(got[1], "CLUSTERDOWN") {
		t.Fatalf("reply %q", got[1])
	}
	rec.noDups(t)
}

// A parked request whose client has gone is dropped, not sent when the node returns: with a
// retry window of many seconds, a write would otherwise land long after its client gave up.
func TestParkedRequestOfGoneClientDropped(t *testing.T) {
	h, nodes, slots := threeFakes(t, Config{RetryWindow: 10 * time.Second})
	a := nodes[0]
	a.Close()
	waitLost(t, h, a.Addr)
	gone, stays := newRecorder(), newRecorder()
	h.do(func(l *Loop) {
		sendKeys(l, gone, slots[0], 1, "g1")
		sendKeys(l, stays, slots[0], 2, "s1")
	})
	waitParked(t, h, 2)
	gone.gone.Store(true)
	back := fakenode.StartAt(t, a.Addr, fakenode.Echo)
	checkEchoes(t, stays.wait(t, 5*time.Second, 2), map[uint64]string{2: "s1"})
	if c := back.Commands(); len(c) != 1 || !c[0].Is("GET", "s1") {
		t.Fatalf("the node read %q, want only GET s1 (the gone client's request dropped)", c)
	}
	if r := gone.reply(1); r != "" {
		t.Fatalf("the gone client got %q", r)
	}
}
