package server_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/slotgate/slotgate/internal/fakenode"
	"github.com/slotgate/slotgate/router"
	"github.com/slotgate/slotgate/router/slot"
)

// slotgate in front of a cluster of fake nodes it discovers through their CLUSTER NODES: a node
// that answers garbage costs only its own requests, each with an error naming the node; the
// connection is rebuilt and the other master's client never notices.
func TestE2EFakeNodeGarbage(t *testing.T) {
	bad, good := fakenode.Start(t, nil), fakenode.Start(t, nil)
	text := fakenode.ClusterNodes(fakenode.Shard{Master: bad.Addr, Slots: "0-8191"},
		fakenode.Shard{Master: good.Addr, Slots: "8192-16383"})
	bad.SetClusterNodes(text)
	good.SetClusterNodes(text)
	boom := keyInSlots("boom", 0, 8191)
	bad.SetHandler(func(c *fakenode.Conn, cmd fakenode.Command) {
		if cmd.Is("GET", boom) {
			c.Reply(fakenode.Garbage)
			return
		}
		fakenode.Echo(c, cmd)
	})
	rt := router.New(router.Config{Seeds: []string{bad.Addr}})
	if err := rt.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	p := serveWith(t, rt, nil)
	ctx := context.Background()
	noRetry := func(o *redis.Options) { o.MaxRetries = -1 }
	badKey, goodKey := keyInSlots("k", 0, 8191), keyInSlots("k", 8192, 16383)

	cl := p.client(t, noRetry)
	if v, err := cl.Get(ctx, badKey).Result(); err != nil || !strings.EqualFold(v, "GET "+badKey) {
		t.Fatalf("GET %s: %q %v", badKey, v, err)
	}
	err := cl.Get(ctx, boom).Err()
	if err == nil || !strings.Contains(err.Error(), "slotgate lost the connection to node "+bad.Addr) ||
		!strings.Contains(err.Error(), "invalid reply from the node") {
		t.Fatalf("GET %s: %v, want the invalid-reply error naming %s", boom, err, bad.Addr)
	}
	other := p.client(t, noRetry)
	if v, err := other.Get(ctx, goodKey).Result(); err != nil || !strings.EqualFold(v, "GET "+goodKey) {
		t.Errorf("GET %s on the other master: %q %v", goodKey, v, err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		v, err := cl.Get(ctx, badKey).Result()
		if err == nil && strings.EqualFold(v, "GET "+badKey) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the bad node's connection not rebuilt: %q %v", v, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// keyInSlots returns a key starting with prefix whose slot is in [lo, hi].
func keyInSlots(prefix string, lo, hi uint16) string {
	for i := 0; ; i++ {
		k := prefix + ":" + strconv.Itoa(i)
		if s := slot.Of([]byte(k)); s >= lo && s <= hi {
			return k
		}
	}
}
