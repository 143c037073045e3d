package router

import (
	"strings"
	"testing"
)

func TestParseRedirect(t *testing.T) {
	for _, tc := range []struct {
		in, answered string
		slot         uint16
		addr         string
		ok           bool
	}{
		{"3999 127.0.0.1:6381\r\n", "10.0.0.1:7000", 3999, "127.0.0.1:6381", true},
		{"0 :7005\r\n", "10.0.0.9:7000", 0, "10.0.0.9:7005", true}, // a node that does not know its IP
		{"16383 node-a.example:7000", "x:1", 16383, "node-a.example:7000", true},
		{"16384 127.0.0.1:1", "x:1", 0, "", false},
		{"12 127.0.0.1", "x:1", 0, "", false},
		{"abc 127.0.0.1:1", "x:1", 0, "", false},
		{"", "x:1", 0, "", false},
	} {
		s, a, ok := parseRedirect([]byte(tc.in), tc.answered)
		if ok != tc.ok || ok && (s != tc.slot || a != tc.addr) {
			t.Errorf("parseRedirect(%q) = %d %q %v, want %d %q %v", tc.in, s, a, ok, tc.slot, tc.addr, tc.ok)
		}
	}
}

func TestTopologyWithOwnerAndEqual(t *testing.T) {
	v, _ := ParseClusterNodes(nodesText, "127.0.0.1:7000")
	a := BuildTopology(v)
	b := BuildTopology(v)
	if !a.Equal(b) {
		t.Fatal("same views, different topologies")
	}
	c := a.WithOwner(100, "127.0.0.1:7009")
	if a.Equal(c) || a.Masters[a.Shard(100)] != "127.0.0.1:7000" {
		t.Fatal("WithOwner changed the original")
	}
	if got := c.Masters[c.Shard(100)]; got != "127.0.0.1:7009" {
		t.Fatalf("slot 100 owner = %s", got)
	}
	if got := c.Masters[c.Shard(101)]; got != "127.0.0.1:7000" {
		t.Fatalf("slot 101 owner = %s", got)
	}
	d := c.WithOwner(100, "127.0.0.1:7000")
	if d.Masters[d.Shard(100)] != "127.0.0.1:7000" {
		t.Fatal("slot 100 not moved back")
	}
}

// A node that one view flags as failed is never used, even when its own (stale) view claims
// its slots: a restarted old master before it hears of its replacement.
func TestBuildTopologyFailedInAnyView(t *testing.T) {
	own, _ := ParseClusterNodes("a 127.0.0.1:1@2 myself,master - 0 0 9 connected 0-100\n", "127.0.0.1:1")
	other, _ := ParseClusterNodes(strings.Join([]string{
		"a 127.0.0.1:1@2 master,fail - 0 0 9 connected 0-100",
		"b 127.0.0.1:3@4 myself,master - 0 0 2 connected 101-200",
	}, "\n"), "127.0.0.1:3")
	top := BuildTopology(own, other)
	if top.Shard(0) != -1 {
		t.Fatalf("slot 0 routed to %s, flagged failed by another node", top.Masters[top.Shard(0)])
	}
	if top.Masters[top.Shard(150)] != "127.0.0.1:3" {
		t.Fatal("slot 150 lost")
	}
}

func TestBuildTopologyReplicas(t *testing.T) {
	v, _ := ParseClusterNodes(strings.Join([]string{
		"m1 127.0.0.1:1@2 myself,master - 0 0 1 connected 0-8000",
		"m2 127.0.0.1:3@4 master - 0 0 2 connected 8001-16383",
		"r1 127.0.0.1:5@6 slave m1 0 0 1 connected",
		"r2 127.0.0.1:7@8 slave,fail? m2 0 0 2 connected",
		"r3 127.0.0.1:9@10 slave,fail m2 0 0 2 disconnected",
	}, "\n"), "127.0.0.1:1")
	top := BuildTopology(v)
	if r := top.Replicas[top.Shard(0)]; len(r) != 1 || r[0] != "127.0.0.1:5" {
		t.Fatalf("replicas of m1 = %v", r)
	}
	if r := top.Replicas[top.Shard(9000)]; len(r) != 0 {
		t.Fatalf("suspected and failed replicas used: %v", r)
	}
}
