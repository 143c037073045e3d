package router

import (
	"strings"
	"testing"
	"time"

	"github.com/slotgate/slotgate/codec"
	"github.com/slotgate/slotgate/internal/fakenode"
)

func req(args ...string) []byte {
	b := make([][]byte, len(args))
	for i, a := range args {
		b[i] = []byte(a)
	}
	return codec.AppendRequest(nil, b)
}

// dedicatedConnOf returns the connection of node n that received a command named name.
func dedicatedConnOf(t *testing.T, n *fakenode.Node, name string) *fakenode.Conn {
	t.Helper()
	for _, c := range n.Conns() {
		for _, cmd := range c.Commands() {
			if cmd.Name() == name {
				return c
			}
		}
	}
	t.Fatalf("no connection of %s received %s", n.Addr, name)
	return nil
}

// answering replies to commands named name with reply and echoes every other command.
func answering(name string, reply []byte) fakenode.Handler {
	return func(c *fakenode.Conn, cmd fakenode.Command) {
		if cmd.Name() == name {
			c.Reply(reply)
			return
		}
		fakenode.Echo(c, cmd)
	}
}

// TestPinBlockingFollowsSlot: a blocking command's pin follows MOVED to the new owner, and an
// UNBLOCKED (its node turned replica) re-sends it; it always travels on dedicated connections.
func TestPinBlockingFollowsSlot(t *testing.T) {
	h, nodes, slots := threeFakes(t, Config{})
	nodes[0].SetHandler(answering("BLPOP", fakenode.Moved(slots[0], nodes[1].Addr)))
	unblocked := 0
	nodes[1].SetHandler(func(c *fakenode.Conn, cmd fakenode.Command) {
		if (cmd.Name() == "BLPOP") && unblocked == 0 {
			unblocked++
			c.Reply(fakenode.Error("UNBLOCKED force unblock from blocking operation, instance state changed (master -> replica?)"))
			return
		}
		fakenode.Echo(c, cmd)
	})
	rec := newRecorder()
	h.do(func(l *Loop) { l.Pin(slots[0], true).Send(req("BLPOP", "q", "0"), rec, 1, -1, 0) })
	if got := rec.wait(t, 5*time.Second, 1)[1]; got != string(fakenode.Bulk("BLPOP q 0")) {
		t.Fatalf("BLPOP reply %q", got)
	}
	c0 := dedicatedConnOf(t, nodes[0], "BLPOP")
	c1 := dedicatedConnOf(t, nodes[1], "BLPOP")
	for _, c := range []*fakenode.Conn{c0, c1} {
		for _, cmd := range c.Commands() {
			if !(cmd.Name() == "BLPOP") {
				t.Errorf("a dedicated connection also carried %q", cmd)
			}
		}
	}
	if n := len(c1.Commands()); n != 2 {
		t.Errorf("node 1 got BLPOP %d times on its dedicated connection; want 2 (UNBLOCKED, then the answer)", n)
	}
}

// TestPinBlockingAsk: an ASK sends ASKING and the blocking command on a dedicated connection
// to the importing node.
func TestPinBlockingAsk(t *testing.T) {
	h, nodes, slots := threeFakes(t, Config{})
	nodes[0].SetHandler(answering("BLPOP", fakenode.Ask(slots[0], nodes[2].Addr)))
	rec := newRecorder()
	h.do(func(l *Loop) { l.Pin(slots[0], true).Send(req("BLPOP", "q", "0"), rec, 1, -1, 0) })
	if got := rec.wait(t, 5*time.Second, 1)[1]; got != string(fakenode.Bulk("BLPOP q 0")) {
		t.Fatalf("BLPOP reply %q", got)
	}
	cmds := dedicatedConnOf(t, nodes[2], "BLPOP").Commands()
	if len(cmds) != 2 || !(cmds[0].Name() == "ASKING") || !(cmds[1].Name() == "BLPOP") {
		t.Fatalf("the importing node's connection got %v; want ASKING, BLPOP", cmds)
	}
}

// TestPinTransactionNoRedirect: a transaction's MOVED reaches the client as it is, and the
// pin stays on its node.
func TestPinTransactionNoRedirect(t *testing.T) {
	h, nodes, slots := threeFakes(t, Config{})
	nodes[0].SetHandler(answering("SET", fakenode.Moved(slots[1], nodes[1].Addr)))
	rec := newRecorder()
	h.do(func(l *Loop) {
		p := l.Pin(slots[0], false)
		p.Send(req("MULTI"), rec, 1, -1, 0)
		p.Send(req("SET", "k", "v"), rec, 2, -1, 0)
		p.Send(req("EXEC"), rec, 3, -1, 0)
	})
	got := rec.wait(t, 5*time.Second, 1, 2, 3)
	if !strings.HasPrefix(got[2], "-MOVED ") || got[3] != string(fakenode.Bulk("EXEC")) {
		t.Fatalf("replies %v", got)
	}
	if n := nodes[1].Count("SET"); n != 0 {
		t.Fatalf("the MOVED was followed: node 1 got SET %d times", n)
	}
}

// TestPinLostAfterWrite: once a transaction's connection is lost after a write, its later
// requests get an error instead of running on a new connection outside the transaction.
func TestPinLostAfterWrite(t *testing.T) {
	h, nodes, slots := threeFakes(t, Config{})
	nodes[0].SetHandler(func(c *fakenode.Conn, cmd fakenode.Command) {
		if cmd.Name() == "WATCH" {
			c.Reply(fakenode.OK)
			c.Close()
			return
		}
		fakenode.Echo(c, cmd)
	})
	rec := newRecorder()
	var p *Pin
	h.do(func(l *Loop) {
		p = l.Pin(slots[0], false)
		p.Send(req("WATCH", "k"), rec, 1, -1, 0)
	})
	rec.wait(t, 5*time.Second, 1)
	deadline := time.Now().Add(5 * time.Second)
	for lost := false; !lost; {
		h.do(func(*Loop) { lost = p.Lost() })
		if time.Now().After(deadline) {
			t.Fatal("the pin was not marked lost")
		}
		time.Sleep(5 * time.Millisecond)
	}
	h.do(func(*Loop) { p.Send(req("MULTI"), rec, 2, -1, 0) })
	if got := rec.wait(t, 5*time.Second, 2)[2]; !strings.Contains(got, "lost the dedicated connection") {
		t.Fatalf("MULTI on a lost pin = %q", got)
	}
	if n := nodes[0].Count("MULTI"); n != 0 {
		t.Fatalf("MULTI reached the node %d times after the WATCH was lost", n)
	}
	h.do(func(*Loop) { p.Release() })
	if n := h.rt.DedicatedConns(nodes[0].Addr); n != 0 {
		t.Fatalf("%d dedicated connections after releasing a lost pin", n)
	}
}

// TestPinReleaseResetsAndCap: a released transaction connection is reset (RESET) and reused by
// the next pin; past -max-dedicated a pin's request gets the cap error; Close closes the
// connection instead of pooling it.
func TestPinReleaseResetsAndCap(t *testing.T) {
	h, nodes, slots := threeFakes(t, Config{MaxDedicated: 1})
	rec := newRecorder()
	var p1, p2 *Pin
	h.do(func(l *Loop) {
		p1 = l.Pin(slots[0], false)
		p1.Send(req("WATCH", "a"), rec, 1, -1, 0)
		p2 = l.Pin(slots[0], true)
		p2.Send(req("BLPOP", "q", "0"), rec, 2, -1, 0)
	})
	got := rec.wait(t, 5*time.Second, 1, 2)
	if !strings.HasPrefix(got[2], "-ERR max dedicated backend connections reached") {
		t.Fatalf("past the cap: %q", got[2])
	}
	var p3 *Pin
	h.do(func(l *Loop) {
		p1.Release()
		p3 = l.Pin(slots[0], false)
		p3.Send(req("GET", "b"), rec, 3, -1, 0)
	})
	if got := rec.wait(t, 5*time.Second, 3)[3]; got != string(fakenode.Bulk("GET b")) {
		t.Fatalf("GET on the reused connection = %q", got)
	}
	h.do(func(*Loop) { p3.Close() })
	c := dedicatedConnOf(t, nodes[0], "WATCH")
	var names []string
	for _, cmd := range c.Commands() {
		names = append(names, cmd.Name())
	}
	if strings.Join(names, " ") != "WATCH RESET GET" {
		t.Fatalf("the pooled connection got %v; want WATCH RESET GET", names)
	}
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not close the connection")
	}
	deadline := time.Now().Add(5 * time.Second)
	for h.rt.DedicatedConns(nodes[0].Addr) != 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := h.rt.DedicatedConns(nodes[0].Addr); n != 0 {
		t.Fatalf("%d dedicated connections after Close", n)
	}
}

// TestPinBlockedNotStalled: a blocked command's silence is not a stalled node: its connection
// is not reconnected after -backend-stall, and Close ends it.
func TestPinBlockedNotStalled(t *testing.T) {
	h, nodes, slots := threeFakes(t, Config{BackendStall: 50 * time.Millisecond, RequestTimeout: 50 * time.Millisecond})
	nodes[0].SetHandler(func(c *fakenode.Conn, cmd fakenode.Command) {
		if !(cmd.Name() == "BLPOP") {
			fakenode.Echo(c, cmd)
		}
	})
	rec := newRecorder()
	var p *Pin
	h.do(func(l *Loop) {
		p = l.Pin(slots[0], true)
		p.Send(req("BLPOP", "q", "0"), rec, 1, -1, 0)
	})
	time.Sleep(400 * time.Millisecond)
	c := dedicatedConnOf(t, nodes[0], "BLPOP")
	select {
	case <-c.Done():
		t.Fatal("the blocked command's connection was closed as stalled")
	default:
	}
	if r := rec.reply(1); r != "" {
		t.Fatalf("the blocked command got %q", r)
	}
	h.do(func(*Loop) { p.Close() })
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not close the blocked connection")
	}
}
