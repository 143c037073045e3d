package router

import (
	"testing"
	"time"

	"github.com/slotgate/slotgate/codec"
	"github.com/slotgate/slotgate/internal/fakenode"
)

// Redirects are trusted only when the topology agrees: a MOVED or ASK naming a node of the map is
// followed at once; one naming an address the map does not know, or answering a script, waits
// for a refresh and is followed only if the refreshed map confirms it. Slotgate never dials (nor
// sends the backend password to) an address that only a reply named.

// redirectFakes starts three echoing fake masters that describe themselves in CLUSTER NODES, a
// loop routing by that map, and the router's refresher.
func redirectFakes(t *testing.T) (*harness, [3]*fakenode.Node, [3]int) {
	t.Helper()
	var nodes [3]*fakenode.Node
	var addrs []string
	for i := range nodes {
		nodes[i] = fakenode.Start(t, fakenode.Echo)
		addrs = append(addrs, nodes[i].Addr)
	}
	text := fakenode.ClusterNodes(fakenode.EvenShards(addrs...)...)
	for _, n := range nodes {
		n.SetClusterNodes(text)
	}
	h := startHarness(t, Config{Seeds: addrs, Password: "secret-pw"}, fakenode.EvenShards(addrs...)...)
	go h.rt.refresher(t.Context())
	return h, nodes, [3]int{slotOf(0, 3), slotOf(1, 3), slotOf(2, 3)}
}

// answerWith makes node answer GET key with reply (every other request is echoed).
func answerWith(n *fakenode.Node, key string, reply []byte) {
	n.SetHandler(keyed(map[string]fakenode.Handler{key: func(c *fakenode.Conn, _ fakenode.Command) { c.Reply(reply) }}))
}

func TestRedirectToKnownNodeFollowed(t *testing.T) {
	h, nodes, slots := redirectFakes(t)
	answerWith(nodes[0], "m", fakenode.Moved(slots[0], nodes[1].Addr))
	answerWith(nodes[2], "a", fakenode.Ask(slots[2], nodes[1].Addr))
	rec := newRecorder()
	h.do(func(l *Loop) {
		sendKeys(l, rec, slots[0], 1, "m")
		sendKeys(l, rec, slots[2], 2, "a")
	})
	got := rec.wait(t, 3*time.Second, 1, 2)
	checkEchoes(t, got, map[uint64]string{1: "m", 2: "a"})
	if n := nodes[1].Count("ASKING"); n != 1 {
		t.Errorf("the importing node got %d ASKING, want 1", n)
	}
	rec.noDups(t)
}

func TestRedirectToUnknownAddressNotFollowed(t *testing.T) {
	h, nodes, slots := redirectFakes(t)
	trap := fakenode.Start(t, fakenode.Echo)
	moved := fakenode.Moved(slots[0], trap.Addr)
	ask := fakenode.Ask(slots[1], trap.Addr)
	answerWith(nodes[0], "m", moved)
	answerWith(nodes[1], "a", ask)
	rec := newRecorder()
	h.do(func(l *Loop) {
		sendKeys(l, rec, slots[0], 1, "m")
		sendKeys(l, rec, slots[1], 2, "a")
		sendKeys(l, rec, slots[2], 3, "other")
	})
	got := rec.wait(t, 3*time.Second, 1, 2, 3)
	if got[1] != string(moved) || got[2] != string(ask) {
		t.Fatalf("replies %q, %q; want the nodes' own %q, %q", got[1], got[2], moved, ask)
	}
	checkEchoes(t, got, map[uint64]string{3: "other"})
	if owner := h.rt.Topology().Owner(uint16(slots[0])); owner != nodes[0].Addr {
		t.Errorf("slot %d re-routed to %s", slots[0], owner)
	}
	time.Sleep(100 * time.Millisecond)
	if n := trap.Accepted(); n != 0 {
		t.Fatalf("slotgate connected %d times to %s (received %v)", n, trap.Addr, trap.Received())
	}
	rec.noDups(t)
}

// A genuine MOVED to a node that joined after the last refresh: the refresh names it, so the
// request follows.
func TestRedirectToNewNodeFollowedAfterRefresh(t *testing.T) {
	h, nodes, _ := redirectFakes(t)
	fresh := fakenode.Start(t, fakenode.Echo)
	shards := fakenode.EvenShards(nodes[0].Addr, nodes[1].Addr, nodes[2].Addr)
	shards[0].Slots = "1-5460" // slot 0 moved to the new node
	shards = append(shards, fakenode.Shard{Master: fresh.Addr, Slots: "0"})
	text := fakenode.ClusterNodes(shards...)
	for _, n := range append(nodes[:], fresh) {
		n.SetClusterNodes(text)
	}
	answerWith(nodes[0], "m", fakenode.Moved(0, fresh.Addr))
	rec := newRecorder()
	h.do(func(l *Loop) { sendKeys(l, rec, 0, 1, "m") })
	got := rec.wait(t, 3*time.Second, 1)
	checkEchoes(t, got, map[uint64]string{1: "m"})
	if fresh.Count("GET") != 1 {
		t.Fatalf("the new node got %d GET", fresh.Count("GET"))
	}
}

// A script's reply that reads like a redirect to a node of the map is not followed unless the
// map agrees: following it would run the script twice.
func TestScriptRedirectNeedsTheMap(t *testing.T) {
	h, nodes, slots := redirectFakes(t)
	eval := codec.AppendRequest(nil, [][]byte{[]byte("EVAL"), []byte("return 1"), []byte("1"), []byte("m")})
	moved := fakenode.Moved(slots[0], nodes[1].Addr)
	tryagain := fakenode.Error("TRYAGAIN made up")
	nodes[0].SetHandler(func(c *fakenode.Conn, cmd fakenode.Command) {
		if cmd.Name() == "EVAL" {
			c.Reply(moved)
			return
		}
		fakenode.Echo(c, cmd)
	})
	nodes[2].SetHandler(func(c *fakenode.Conn, cmd fakenode.Command) { c.Reply(tryagain) })
	rec := newRecorder()
	h.do(func(l *Loop) {
		l.Send(slots[0], eval, rec, 1, -1, Script)
		l.Send(slots[2], eval, rec, 2, -1, Script)
	})
	got := rec.wait(t, 3*time.Second, 1, 2)
	if got[1] != string(moved) || got[2] != string(tryagain) {
		t.Fatalf("replies %q, %q; want the scripts' own", got[1], got[2])
	}
	if n := nodes[1].Count("EVAL"); n != 0 {
		t.Fatalf("the script ran on %s too (%d times)", nodes[1].Addr, n)
	}
	if n := nodes[0].Count("EVAL"); n != 1 {
		t.Fatalf("the script ran %d times on its node", n)
	}
	if n := nodes[2].Count("EVAL"); n != 1 {
		t.Fatalf("the script returning TRYAGAIN ran %d times", n)
	}
}
