package fakenode_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/slotgate/slotgate/internal/fakenode"
	"github.com/slotgate/slotgate/router"
)

func dial(t *testing.T, n *fakenode.Node) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", n.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	return c, bufio.NewReader(c)
}

func readN(t *testing.T, r *bufio.Reader, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		t.Fatalf("read %d bytes: %v", n, err)
	}
	return string(b)
}

// A script checks each command of a connection and answers it; AUTH and READONLY are answered
// by the node itself; past the script, commands are echoed.
func TestScript(t *testing.T) {
	moved := fakenode.Moved(0, "127.0.0.1:1")
	n := fakenode.Start(t, fakenode.Script(t,
		fakenode.Step{Expect: []string{"GET", "a"}, Reply: moved},
		fakenode.Step{Raw: []byte("*2\r\n$3\r\nGET\r\n$1\r\nb\r\n"), Reply: fakenode.Bulk("vb")},
	))
	c, r := dial(t, n)
	req := "*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n*1\r\n$8\r\nREADONLY\r\n*2\r\n$3\r\nGET\r\n$1\r\na\r\n" +
		"*2\r\n$3\r\nGET\r\n$1\r\nb\r\nPING x\r\n"
	if _, err := c.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	want := "+OK\r\n+OK\r\n" + string(moved) + string(fakenode.Bulk("vb")) + string(fakenode.Bulk("PING x"))
	if got := readN(t, r, len(want)); got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	if got := n.Commands(); len(got) != 3 || got[2].String() != "PING x" {
		t.Errorf("commands %q", got)
	}
}

// A router discovers a cluster of fakes through their CLUSTER NODES answer.
func TestClusterNodesDiscovery(t *testing.T) {
	a, b := fakenode.Start(t, nil), fakenode.Start(t, nil)
	r := fakenode.Start(t, nil)
	text := fakenode.ClusterNodes(fakenode.Shard{Master: a.Addr, Slots: "0-8191", Replicas: []string{r.Addr}},
		fakenode.Shard{Master: b.Addr, Slots: "8192-16383"})
	for _, n := range []*fakenode.Node{a, b, r} {
		n.SetClusterNodes(text)
	}
	rt := router.New(router.Config{Seeds: []string{a.Addr}, Password: "secret"})
	topo, err := rt.Discover(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if m := topo.Masters[topo.Shard(0)]; m != a.Addr {
		t.Errorf("slot 0 served by %s, want %s", m, a.Addr)
	}
	if m := topo.Masters[topo.Shard(16383)]; m != b.Addr {
		t.Errorf("slot 16383 served by %s, want %s", m, b.Addr)
	}
	if reps := topo.Replicas[topo.Shard(0)]; len(reps) != 1 || reps[0] != r.Addr {
		t.Errorf("replicas of slot 0: %q, want %s", reps, r.Addr)
	}
	if len(a.Commands()) != 0 {
		t.Errorf("the handler saw %q: CLUSTER NODES and AUTH are the node's", a.Commands())
	}
	if got := a.Received(); len(got) != 3 || !got[0].Is("AUTH", "secret") || got[1].Name() != "CLUSTER" || got[2].Name() != "CONFIG" {
		t.Errorf("the node received %q, want AUTH secret, CLUSTER NODES, CONFIG GET cluster-node-timeout", got)
	}
}

// Reset makes the peer's next write fail; CloseMidReply leaves half a reply then end-of-file;
// Dribble delivers a reply in pieces; Stall answers nothing.
func TestFaults(t *testing.T) {
	n := fakenode.Start(t, func(c *fakenode.Conn, cmd fakenode.Command) {
		switch cmd.Args[0] {
		case "reset":
			c.Reset()
		case "cut":
			c.CloseMidReply(fakenode.Bulk("0123456789"))
		case "slow":
			c.Dribble(fakenode.Bulk("slow reply"), 3, time.Millisecond)
		case "stall":
			c.Stall()
		}
	})

	c, r := dial(t, n)
	_, _ = c.Write([]byte("reset\r\n"))
	n.WaitConn(t, 0, time.Second)
	<-n.Conns()[0].Done()
	var err error
	for i := 0; i < 10 && err == nil; i++ { // the first write may still be accepted
		_, err = c.Write([]byte("PING\r\n"))
		time.Sleep(5 * time.Millisecond)
	}
	if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) {
		t.Errorf("write after reset: %v, want ECONNRESET or EPIPE", err)
	}

	c, r = dial(t, n)
	_, _ = c.Write([]byte("cut\r\n"))
	if b, err := io.ReadAll(r); string(b) != "$10\r\n012" || err != nil {
		t.Errorf("cut reply: %q %v", b, err)
	}

	c, r = dial(t, n)
	_, _ = c.Write([]byte("slow\r\nstall\r\nslow\r\n"))
	if got := readN(t, r, len(fakenode.Bulk("slow reply"))); got != string(fakenode.Bulk("slow reply")) {
		t.Errorf("slow reply %q", got)
	}
	_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if b, err := r.ReadByte(); err == nil {
		t.Errorf("a stalled connection answered %q", b)
	}
	if k := n.Count("slow"); k != 2 {
		t.Errorf("the node saw %d slow commands, want 2 (one after the stall, unanswered)", k)
	}
}
