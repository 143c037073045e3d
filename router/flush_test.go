package router

import (
	"strings"
	"testing"
	"time"

	"github.com/slotgate/slotgate/internal/fakenode"
)

// threeFakes starts three echoing fake masters and a harness routing to them, with every
// connection open (one request answered on each).
func threeFakes(t *testing.T, cfg Config) (*harness, [3]*fakenode.Node, [3]int) {
	t.Helper()
	var nodes [3]*fakenode.Node
	var addrs []string
	for i := range nodes {
		nodes[i] = fakenode.Start(t, fakenode.Echo)
		addrs = append(addrs, nodes[i].Addr)
	}
	h := startHarness(t, cfg, fakenode.EvenShards(addrs...)...)
	slots := [3]int{slotOf(0, 3), slotOf(1, 3), slotOf(2, 3)}
	warm := newRecorder()
	h.do(func(l *Loop) {
		for i, s := range slots {
			l.Send(s, get("warm"), warm, uint64(i), -1, 0)
		}
	})
	warm.wait(t, 5*time.Second, 0, 1, 2)
	return h, nodes, slots
}

// Defect 1 of issue 10: a connection whose write fails during a flush runs OnClose inside the
// flush; the requests its failure makes others send (a session resumed, a replica read sent to
// its master) land on a connection already flushed in this pass (B) and on one not dirty yet
// (C). They must still be written: before the fix they were dropped from the dirty list while
// the connections stayed marked dirty, so nothing to B or C was ever written again.
func TestWriteFailureDuringFlushRequeues(t *testing.T) {
	h, nodes, slots := threeFakes(t, Config{})
	a := nodes[0]
	defer noLostFlush(t)()
	rec := newRecorder()
	rec.onDeliver = func(seq uint64, reply string) {
		if seq == 2 { // a1's error: what a resumed session would send next
			h.l.Send(slots[1], get("b2"), rec, 3, -1, 0)
			h.l.Send(slots[2], get("c1"), rec, 4, -1, 0)
		}
	}
	ac := a.WaitConn(t, 0, time.Second)
	h.do(func(l *Loop) {
		ac.Reset()
		awaitPeerGone(t, l.testConn(a.Addr))
		l.Send(slots[1], get("b1"), rec, 1, -1, 0) // B is flushed first
		l.Send(slots[0], get("a1"), rec, 2, -1, 0) // then A's write fails
	})
	got := rec.wait(t, 3*time.Second, 1, 2, 3, 4)
	checkLost(t, got[2], a.Addr, "write: ")
	for seq, key := range map[uint64]string{1: "b1", 3: "b2", 4: "c1"} {
		if got[seq] != echoed(key) {
			t.Errorf("request %d: %q, want %q", seq, got[seq], echoed(key))
		}
	}
	// B and C keep serving, and A comes back on a new connection.
	h.do(func(l *Loop) {
		for i, s := range slots {
			l.Send(s, get("after"), rec, uint64(10+i), -1, 0)
		}
	})
	got = rec.wait(t, 3*time.Second, 10, 11, 12)
	for i := range 3 {
		if got[uint64(10+i)] != echoed("after") {
			t.Errorf("node %d after the failure: %q", i, got[uint64(10+i)])
		}
	}
	rec.noDups(t)
	if n := a.Count("GET"); n != 2 { // warm, after: a1 was never read by A
		t.Errorf("A read %d GETs (%q), want 2", n, a.Commands())
	}
}

// The same failure when nothing else is on the wire: the requests sent from OnClose start an
// idle batch, and the callback that closed the connection ends with EndCallback inside the
// flush. Before the fix that nested write ran over the list being flushed, and the outer one
// then indexed a list the nested one had emptied: a panic that took the process down.
func TestWriteFailureDuringIdleFlushNested(t *testing.T) {
	h, nodes, slots := threeFakes(t, Config{})
	a := nodes[0]
	defer noLostFlush(t)()
	rec := newRecorder()
	rec.onDeliver = func(seq uint64, reply string) {
		if seq == 1 {
			h.l.Send(slots[1], get("b1"), rec, 3, -1, 0)
		}
	}
	ac := a.WaitConn(t, 0, time.Second)
	h.do(func(l *Loop) {
		ac.Reset()
		awaitPeerGone(t, l.testConn(a.Addr))
		l.Send(slots[0], get("a1"), rec, 1, -1, 0) // A is flushed first and fails
		l.Send(slots[2], get("c1"), rec, 2, -1, 0)
	})
	got := rec.wait(t, 3*time.Second, 1, 2, 3)
	checkLost(t, got[1], a.Addr, "write: ")
	if got[2] != echoed("c1") || got[3] != echoed("b1") {
		t.Errorf("c1: %q, b1: %q", got[2], got[3])
	}
	rec.noDups(t)
}

// A request queued on an open connection that no flush will write (a lost dirty mark: the bug
// above, or any like it) is still written, by the loop's tick.
func TestUnwrittenRequestWrittenByTick(t *testing.T) {
	h, _, slots := threeFakes(t, Config{})
	rec := newRecorder()
	h.do(func(l *Loop) {
		sc := l.route(int32(slots[0]), false, false)
		sc.dirty = true // marked dirty, but in no list: enqueue will not list it
		l.Send(slots[0], get("k"), rec, 1, -1, 0)
	})
	got := rec.wait(t, 3*time.Second, 1)
	if got[1] != echoed("k") {
		t.Errorf("reply %q", got[1])
	}
}

// checkLost checks the error a request on the wire gets when its connection is lost.
func checkLost(t *testing.T, reply, addr, why string) {
	t.Helper()
	if !strings.HasPrefix(reply, "-ERR slotgate lost the connection to node "+addr) || !strings.Contains(reply, why) {
		t.Errorf("reply %q, want the lost-connection error of %s (%s)", reply, addr, why)
	}
}

// noLostFlush fails the test if the tick had to write requests a flush left behind: the flush
// itself must write them. Call the function it returns at the end of the test.
func noLostFlush(t *testing.T) func() {
	before := flushesLost.Get()
	return func() {
		if n := flushesLost.Get() - before; n > 0 {
			t.Errorf("%d connections were written by the tick's safety net, not by the flush", n)
		}
	}
}
