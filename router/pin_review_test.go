package router

import (
	"strings"
	"testing"
	"time"

	"github.com/slotgate/slotgate/internal/fakenode"
)

// ownerOf returns the fake node that serves slot in the loop's topology.
func ownerOf(h *harness, nodes [3]*fakenode.Node, slot int) *fakenode.Node {
	var owner *fakenode.Node
	h.do(func(l *Loop) {
		for _, n := range nodes {
			if l.Topology().Owner(uint16(slot)) == n.Addr {
				owner = n
			}
		}
	})
	return owner
}

// timesReceived counts the commands named name that reached n, those it answers itself (AUTH)
// included.
func timesReceived(n *fakenode.Node, name string) int {
	k := 0
	for _, cmd := range n.Received() {
		if cmd.Name() == name {
			k++
		}
	}
	return k
}

// failingDial runs f on the loop while owner refuses AUTH, and waits until a dial has been
// refused that way (the connection f's requests wait on has failed) before letting AUTH pass.
func failingDial(h *harness, owner *fakenode.Node, f func(l *Loop)) {
	before := timesReceived(owner, "AUTH")
	owner.FailAuth.Store(true)
	h.do(f)
	deadline := time.Now().Add(5 * time.Second)
	for timesReceived(owner, "AUTH") == before && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	owner.FailAuth.Store(false)
}

// TestPinReleasedWhileDialingNotPooledWithState: a transaction's pin released (the client sent
// RESET) while its connection is still dialling goes to the pool with WATCH, RESET, AUTH queued.
// If that dial fails, the WATCH is parked and the RESET (slotgate's own request) is dropped, so a
// later dial would carry the released client's WATCH alone into a pooled connection, and the
// next client's transaction would run under someone else's WATCH. The pooled connection must
// instead be dropped, and the released client's WATCH answered with an error.
func TestPinReleasedWhileDialingNotPooledWithState(t *testing.T) {
	h, nodes, slots := threeFakes(t, Config{Password: "pw"})
	rec := newRecorder()
	owner := ownerOf(h, nodes, slots[0])
	failingDial(h, owner, func(l *Loop) {
		p1 := l.Pin(slots[0], false)
		p1.Send(req("WATCH", "a"), rec, 1, -1, 0)
		p1.Release()
	})
	if r := rec.wait(t, 5*time.Second, 1)[1]; !strings.HasPrefix(r, "-ERR") {
		t.Errorf("the released pin's WATCH, never sent, = %q; want the pin's error", r)
	}
	h.do(func(l *Loop) {
		p2 := l.Pin(slots[0], false)
		p2.Send(req("GET", "b"), rec, 2, -1, 0)
		p2.Release()
	})
	rec.wait(t, 5*time.Second, 2)
	var seq string
	for _, c := range owner.Conns() {
		var names []string
		for _, cmd := range c.Commands() {
			names = append(names, cmd.String())
		}
		if s := strings.Join(names, " | "); strings.Contains(s, "GET b") {
			seq = s
		}
	}
	upToGet := seq[:strings.Index(seq, "GET b")]
	if i := strings.LastIndex(upToGet, "WATCH"); i >= 0 && !strings.Contains(upToGet[i:], "RESET") {
		t.Fatalf("the next client's connection got %q: a WATCH of a released pin with no RESET after it", seq)
	}
}

// TestPinReleasedRequestsNotResentOnTakenConn: as above, but the next client takes the pooled
// connection while it is still dialling. When the dial fails, both clients' requests are parked;
// the released client's WATCH must not be sent again ahead of the next client's requests (its
// RESET is gone), on that connection or any other.
func TestPinReleasedRequestsNotResentOnTakenConn(t *testing.T) {
	h, nodes, slots := threeFakes(t, Config{Password: "pw"})
	rec := newRecorder()
	owner := ownerOf(h, nodes, slots[0])
	failingDial(h, owner, func(l *Loop) {
		p1 := l.Pin(slots[0], false)
		p1.Send(req("WATCH", "a"), rec, 1, -1, 0)
		p1.Release()
		p2 := l.Pin(slots[0], false)
		p2.Send(req("GET", "b"), rec, 2, -1, 0)
	})
	got := rec.wait(t, 5*time.Second, 1, 2)
	if !strings.HasPrefix(got[1], "-ERR") {
		t.Errorf("the released pin's WATCH, never sent, = %q; want the pin's error", got[1])
	}
	if got[2] != string(fakenode.Bulk("GET b")) {
		t.Errorf("GET b = %q", got[2])
	}
	for _, cmd := range owner.Commands() {
		if cmd.Name() == "WATCH" {
			t.Fatalf("the released pin's WATCH was sent after its RESET was dropped: %v", owner.Commands())
		}
	}
}

// TestPinStaysWhileRequestsQueued: a transaction's pin whose WATCH is queued on its connection
// (not written yet) when the slot's owner changes keeps the connection for its next requests:
// moving would send MULTI ... EXEC to the new owner while the WATCH still goes to the old one.
func TestPinStaysWhileRequestsQueued(t *testing.T) {
	h, nodes, slots := threeFakes(t, Config{})
	rec := newRecorder()
	var other string
	h.do(func(l *Loop) {
		p := l.Pin(slots[0], false)
		p.Send(req("WATCH", "k"), rec, 1, -1, 0)
		for _, n := range nodes {
			if n.Addr != p.Addr() {
				other = n.Addr
			}
		}
		l.router.learnMoved(uint16(slots[0]), other) // a refresh lands between two requests
		p.Send(req("MULTI"), rec, 2, -1, 0)
		p.Send(req("EXEC"), rec, 3, -1, 0)
	})
	rec.wait(t, 5*time.Second, 1, 2, 3)
	for _, n := range nodes {
		var names []string
		for _, cmd := range n.Commands() {
			if cmd.Name() != "GET" {
				names = append(names, cmd.Name())
			}
		}
		if got := strings.Join(names, " "); got != "" && got != "WATCH MULTI EXEC" {
			t.Fatalf("node %s got %q; want WATCH MULTI EXEC on one node", n.Addr, got)
		}
	}
}
