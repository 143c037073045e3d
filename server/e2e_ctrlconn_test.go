package server_test

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/slotgate/slotgate/router"
)

// TestDiscoverKeepsControlConnections: a topology refresh asks every node over the connection
// the last one kept, so it opens none; a kept connection the node closed while idle is dialled
// again within the same refresh, which still reaches every node; one the node leaves silent is
// not dialled again (that would double the wait): the node counts as unreached.
func TestDiscoverKeepsControlConnections(t *testing.T) {
	ctx := t.Context()
	rt := router.New(router.Config{Seeds: cluster.Seeds()[:1], Password: cluster.Password})
	topo, err := rt.Discover(ctx) // the seed's view: every node is asked from now on
	if err != nil {
		t.Fatal(err)
	}
	rt.Publish(topo)
	if len(topo.Addrs()) != len(cluster.Nodes) {
		t.Fatalf("topology has %v, want all %d nodes", topo.Addrs(), len(cluster.Nodes))
	}
	rt.Discover(ctx) // every node's first connection
	nodes := make([]*redis.Client, len(cluster.Nodes))
	for i, n := range cluster.Nodes {
		nodes[i] = redis.NewClient(&redis.Options{Addr: n.Addr, Password: cluster.Password, PoolSize: 1, MaxRetries: -1})
		defer nodes[i].Close()
	}
	received := func() []int {
		out := make([]int, len(nodes))
		for i, cl := range nodes {
			v, err := strconv.Atoi(infoField(t, cl, "stats", "total_connections_received"))
			if err != nil {
				t.Fatal(err)
			}
			out[i] = v
		}
		return out
	}
	opened := func(before []int) []int {
		after := received()
		for i := range after {
			after[i] -= before[i]
		}
		return after
	}
	var built *router.Topology
	discover := func() map[string]bool {
		t.Helper()
		var err error
		if built, err = rt.Discover(ctx); err != nil {
			t.Fatal(err)
		}
		return rt.Status().Unreached
	}

	before := received()
	if un := discover(); len(un) > 0 {
		t.Fatalf("unreached %v", un)
	}
	if got := opened(before); !slices.Equal(got, make([]int, len(got))) {
		t.Fatalf("a second refresh opened connections at the nodes: %v", got)
	}
	// Every node answered as before (but for its ping and pong times): the topology is the one
	// built last time, not built anew.
	prev := built
	discover()
	if built != prev {
		t.Fatal("an unchanged cluster's topology was built again")
	}

	// The first node closes the control connection while it is idle (a restart, a client
	// timeout, CLIENT KILL): the next refresh dials it again and reaches every node.
	killControl(t, nodes[0])
	before = received()
	if un := discover(); len(un) > 0 {
		t.Fatalf("after CLIENT KILL: unreached %v", un)
	}
	if got := opened(before); got[0] != 1 || !slices.Equal(got[1:], make([]int, len(got)-1)) {
		t.Fatalf("after CLIENT KILL at %s: connections opened per node %v, want one at the first only", cluster.Nodes[0].Addr, got)
	}

	// The last node goes silent past the refresh timeout (CLIENT PAUSE holds every client's
	// commands): the kept connection times out, and no second dial doubles the wait.
	last := len(nodes) - 1
	before = received() // before the pause: it holds INFO too
	if err := nodes[last].Do(ctx, "CLIENT", "PAUSE", "1500", "ALL").Err(); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	un := discover()
	t.Logf("paused discover took %v", time.Since(t0))
	time.Sleep(1600 * time.Millisecond) // the pause ends
	if !un[cluster.Nodes[last].Addr] {
		t.Fatalf("a node silent past the timeout is not unreached: %v", un)
	}
	if got := opened(before); got[last] != 0 {
		t.Fatalf("a silent node was dialled again (%d connections): the refresh waited twice", got[last])
	}
	// And the refresh after the pause reaches it again.
	if un := discover(); len(un) > 0 {
		t.Fatalf("after the pause: unreached %v", un)
	}
}

// killControl closes, at the node, every connection whose last command was a refresh's.
func killControl(t *testing.T, cl *redis.Client) {
	t.Helper()
	list, err := cl.ClientList(context.Background()).Result()
	if err != nil {
		t.Fatal(err)
	}
	killed := 0
	for _, line := range strings.Split(list, "\n") {
		if !strings.Contains(line, " cmd=cluster|nodes ") && !strings.Contains(line, " cmd=config|get ") {
			continue
		}
		id, _, _ := strings.Cut(strings.TrimPrefix(line, "id="), " ")
		if err := cl.Do(context.Background(), "CLIENT", "KILL", "ID", id).Err(); err != nil {
			t.Fatal(err)
		}
		killed++
	}
	if killed == 0 {
		t.Fatalf("no control connection at the node:\n%s", list)
	}
}
