package router

import (
	"slices"
	"strings"
	"testing"
)

// A CLUSTER NODES answer of Redis 7.0 (trailing hostname field, myself flag, a replica, an
// importing mark and a node in handshake).
const nodesText = `e7d1eec 127.0.0.1:7000@17000,node-a myself,master - 0 1700000000000 1 connected 0-5460 [5461-<-b8a9c0f]
b8a9c0f 127.0.0.1:7001@17001 master - 0 1700000000000 2 connected 5461-10922
c4f0e12 127.0.0.1:7002@17002 master - 0 1700000000000 3 connected 10923-16383
d9a8b7c 127.0.0.1:7003@17003 slave e7d1eec 0 1700000000000 1 connected
f0f0f0f :0@0 master,noaddr - 0 1700000000000 9 disconnected
`

func TestParseClusterNodes(t *testing.T) {
	nodes, err := ParseClusterNodes(nodesText, "127.0.0.1:7000")
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 5 {
		t.Fatalf("got %d nodes", len(nodes))
	}
	a := nodes[0]
	if a.ID != "e7d1eec" || a.Addr != "127.0.0.1:7000" || !a.Master || !a.Myself || a.Epoch != 1 ||
		len(a.Slots) != 1 || a.Slots[0] != [2]int{0, 5460} {
		t.Fatalf("node a = %+v", a)
	}
	if r := nodes[3]; r.Master || r.MasterID != "e7d1eec" {
		t.Fatalf("replica = %+v", r)
	}
	if n := nodes[4]; !n.Failed {
		t.Fatalf("noaddr node not marked failed: %+v", n)
	}
}

func TestParseClusterNodesAnsweredAddress(t *testing.T) {
	// A node that does not know its own IP yet reports ":port"; use the address that answered.
	nodes, err := ParseClusterNodes("abc :7005@17005 myself,master - 0 0 4 connected 0-16383\n", "10.0.0.9:7005")
	if err != nil {
		t.Fatal(err)
	}
	if nodes[0].Addr != "10.0.0.9:7005" {
		t.Fatalf("addr = %q", nodes[0].Addr)
	}
}

func TestParseClusterNodesErrors(t *testing.T) {
	for _, bad := range []string{"", "abc 127.0.0.1:1@2 master - 0 0 1 connected 5-3\n", "short line\n",
		"abc 127.0.0.1:1@2 master - 0 0 1 connected 99999\n"} {
		if _, err := ParseClusterNodes(bad, "127.0.0.1:1"); err == nil {
			t.Errorf("ParseClusterNodes(%q) succeeded", bad)
		}
	}
}

func TestBuildTopologyHighestEpochWins(t *testing.T) {
	stale, _ := ParseClusterNodes(nodesText, "127.0.0.1:7000")
	// A newer view: the replica 7003 was promoted (epoch 7) and took 0-5460; 7000 is failed.
	newer, _ := ParseClusterNodes(strings.Join([]string{
		"e7d1eec 127.0.0.1:7000@17000 master,fail - 0 0 1 disconnected",
		"d9a8b7c 127.0.0.1:7003@17003 myself,master - 0 0 7 connected 0-5460",
	}, "\n"), "127.0.0.1:7003")
	for _, views := range [][][]NodeInfo{{stale, newer}, {newer, stale}} {
		top := BuildTopology(views...)
		if got := top.Masters[top.Shard(0)]; got != "127.0.0.1:7003" {
			t.Fatalf("slot 0 owner = %s, want the promoted replica", got)
		}
		if got := top.Masters[top.Shard(16383)]; got != "127.0.0.1:7002" {
			t.Fatalf("slot 16383 owner = %s", got)
		}
		if top.Covered() != 16384 {
			t.Fatalf("covered = %d", top.Covered())
		}
		counts := top.SlotCounts()
		for addr, want := range map[string]int{"127.0.0.1:7003": 5461, "127.0.0.1:7002": 5461} {
			if n := counts[slices.Index(top.Masters, addr)]; n != want {
				t.Errorf("SlotCounts: %s serves %d slots, want %d (%v over %v)", addr, n, want, counts, top.Masters)
			}
		}
	}
}

func TestBuildTopologyNeverRoutesToFailed(t *testing.T) {
	v, _ := ParseClusterNodes("a 127.0.0.1:1@2 master,fail - 0 0 5 connected 0-100\n", "127.0.0.1:1")
	top := BuildTopology(v)
	if top.Shard(0) != -1 || len(top.Masters) != 0 {
		t.Fatalf("failed master routed: %v", top.Masters)
	}
}

// The owner's migrating mark tells which node imports a slot; other nodes' lines carry none.
func TestBuildTopologyMigratingAndKnows(t *testing.T) {
	src := `aaa 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-8191 [100->-bbb]
bbb 127.0.0.1:7001@17001 master - 0 0 2 connected 8192-16383
`
	dst := `bbb 127.0.0.1:7001@17001 myself,master - 0 0 2 connected 8192-16383 [100-<-aaa]
aaa 127.0.0.1:7000@17000 master - 0 0 1 connected 0-8191
`
	a, err := ParseClusterNodes(src, "127.0.0.1:7000")
	if err != nil {
		t.Fatal(err)
	}
	b, err := ParseClusterNodes(dst, "127.0.0.1:7001")
	if err != nil {
		t.Fatal(err)
	}
	if len(a[0].Migrating) != 1 || a[0].Migrating[0] != (Migration{Slot: 100, To: "bbb"}) || len(b[0].Migrating) != 0 {
		t.Fatalf("migrating marks: %+v / %+v", a[0].Migrating, b[0].Migrating)
	}
	topo := BuildTopology(a, b)
	if got := topo.MigratingTo(100); got != "127.0.0.1:7001" {
		t.Fatalf("MigratingTo(100) = %q", got)
	}
	if got := topo.MigratingTo(101); got != "" {
		t.Fatalf("MigratingTo(101) = %q", got)
	}
	if topo.Owner(100) != "127.0.0.1:7000" || topo.Owner(9000) != "127.0.0.1:7001" {
		t.Fatalf("owners %q %q", topo.Owner(100), topo.Owner(9000))
	}
	if !topo.Knows("127.0.0.1:7001") || topo.Knows("127.0.0.1:6390") {
		t.Fatal("Knows")
	}
	if topo.Equal(BuildTopology(b)) {
		t.Fatal("a map with a migration equals one without")
	}
}

// Each master's epoch is its own line's; a new epoch alone makes a different topology (SCAN
// cursors carry it); a MOVED to a new master leaves its epoch unknown.
func TestTopologyEpochs(t *testing.T) {
	view, _ := ParseClusterNodes(nodesText, "127.0.0.1:7000")
	top := BuildTopology(view)
	for s, want := range map[uint16]uint64{0: 1, 5461: 2, 16383: 3} {
		if got := top.Epoch(top.Shard(s)); got != want {
			t.Fatalf("epoch of slot %d's master = %d, want %d", s, got, want)
		}
	}
	bumped, _ := ParseClusterNodes(strings.Replace(nodesText, "1700000000000 2 connected", "1700000000000 8 connected", 1), "127.0.0.1:7000")
	if top.Equal(BuildTopology(bumped)) || !top.Equal(BuildTopology(view)) {
		t.Fatal("a master's new epoch must make a different topology, the same one the same")
	}
	// Without the master's own line, the highest epoch any view gives, whatever their order.
	v1, _ := ParseClusterNodes("x 127.0.0.1:7100@1 myself,master - 0 0 4 connected 0-99\nm 127.0.0.1:7200@1 master - 0 0 5 connected 100-16383\n", "127.0.0.1:7100")
	v2, _ := ParseClusterNodes("y 127.0.0.1:7300@1 myself,slave x 0 0 4 connected\nm 127.0.0.1:7200@1 master - 0 0 6 connected 100-16383\n", "127.0.0.1:7300")
	a, b := BuildTopology(v1, v2), BuildTopology(v2, v1)
	if got := a.Epoch(a.Shard(100)); got != 6 || !a.Equal(b) {
		t.Fatalf("epoch of a master seen by others = %d (want 6), topologies equal %v", got, a.Equal(b))
	}
	moved := top.WithOwner(0, "127.0.0.1:7009")
	if got := moved.Epoch(moved.Shard(0)); got != 0 || top.Epoch(-1) != 0 || top.Epoch(99) != 0 {
		t.Fatalf("epoch of a master learned from MOVED = %d, want 0", got)
	}
}

// sameNodes tells a CLUSTER NODES reply that changed only in ping and pong times from one that
// changed in anything ParseClusterNodes keeps.
func TestSameNodes(t *testing.T) {
	base := "07c3 127.0.0.1:30004@31004 slave e7d1 0 1426238317239 4 connected\n" +
		"e7d1 127.0.0.1:30001@31001 myself,master - 0 0 1 connected 0-5460\n"
	for _, c := range []struct {
		name, other string
		same        bool
	}{
		{"identical", base, true},
		{"ping and pong times", "07c3 127.0.0.1:30004@31004 slave e7d1 1426238316232 1426238318243 4 connected\n" +
			"e7d1 127.0.0.1:30001@31001 myself,master - 5 7 1 connected 0-5460\n", true},
		{"link state", strings.Replace(base, "4 connected", "4 disconnected", 1), false},
		{"flags", strings.Replace(base, "slave e7d1", "slave,fail? e7d1", 1), false},
		{"epoch", strings.Replace(base, "0 0 1 connected", "0 0 2 connected", 1), false},
		{"slots", strings.Replace(base, "0-5460", "0-5459", 1), false},
		{"a slot more", strings.Replace(base, "0-5460", "0-5460 5461", 1), false},
		{"a migration", strings.Replace(base, "0-5460", "0-5460 [5461->-07c3]", 1), false},
		{"a line more", base + "aaaa 127.0.0.1:30002@31002 master - 0 0 2 connected 5461-10922\n", false},
		{"a line less", base[:strings.IndexByte(base, '\n')+1], false},
		{"empty", "", false},
	} {
		if got := sameNodes([]byte(base), []byte(c.other)); got != c.same {
			t.Errorf("%s: sameNodes = %v, want %v", c.name, got, c.same)
		}
	}
}
