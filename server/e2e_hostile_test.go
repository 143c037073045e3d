package server_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/slotgate/slotgate/internal/testcluster"
	"github.com/slotgate/slotgate/router"
	"github.com/slotgate/slotgate/router/slot"
	"github.com/slotgate/slotgate/server"
)

// TestE2ERefusedInMultiRunsNothing: a command slotgate cannot queue in a pipelined
// transaction aborts it: EXEC answers EXECABORT and the writes queued before and after the
// refused command are not applied, one by one or otherwise.
func TestE2ERefusedInMultiRunsNothing(t *testing.T) {
	p := startProxy(t, cluster, nil)
	ctx := context.Background()
	run := runID()
	key := "tx:" + run
	cl := p.client(t, nil)

	_, err := cl.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		pipe.Set(ctx, key, "1", time.Hour)
		pipe.Do(ctx, "FLUSHALL")
		pipe.Incr(ctx, key)
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "EXECABORT") {
		t.Fatalf("TxPipelined with a refused command = %v; want EXECABORT", err)
	}
	if n, err := cl.Exists(ctx, key).Result(); err != nil || n != 0 {
		t.Fatalf("EXISTS %s after an aborted transaction = %d, %v; want 0 (nothing applied)", key, n, err)
	}
	// Errors before the command table (unknown command, arity) abort it too, as in Redis.
	px := dialRaw(t, p.Addr)
	px.write(respCmd("MULTI") + respCmd("SET", key, "x") + respCmd("NOSUCH") + respCmd("EXEC") + respCmd("GET", key))
	for i, want := range []string{"+OK", "+QUEUED", "-ERR unknown command", "-EXECABORT", "$-1"} {
		if r := px.read(); !strings.HasPrefix(r, want) {
			t.Fatalf("reply %d = %q; want %q...", i, r, want)
		}
	}
}

// TestE2EPausedListBounded: a session that stops and resumes at its in-flight limit many times
// between two ticks is listed once in its loop's paused list, not once per pause.
func TestE2EPausedListBounded(t *testing.T) {
	p := startProxy(t, cluster, func(c *server.Config) { c.MaxInflight = 2 })
	ctx := context.Background()
	const clients, rounds = 4, 200
	var wg sync.WaitGroup
	errc := make(chan error, clients)
	for c := range clients {
		cl := p.client(t, nil)
		wg.Go(func() {
			key := "pl:" + strconv.Itoa(c)
			for range rounds {
				pipe := cl.Pipeline()
				for range 64 {
					pipe.Incr(ctx, key)
				}
				if _, err := pipe.Exec(ctx); err != nil {
					errc <- err
					return
				}
			}
		})
	}
	// Sample the list while the clients cycle at their limit.
	maxLen := 0
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
			for _, n := range server.PausedEntries(p.Srv) {
				maxLen = max(maxLen, n)
			}
		}
	}()
	wg.Wait()
	close(stop)
	<-sampled
	close(errc)
	if err := errors.Join(func() (es []error) {
		for e := range errc {
			es = append(es, e)
		}
		return
	}()...); err != nil {
		t.Fatal(err)
	}
	t.Logf("longest paused list seen: %d (clients %d)", maxLen, clients)
	if maxLen > clients {
		t.Fatalf("a loop listed %d paused entries for %d clients: the list grows with every pause", maxLen, clients)
	}
}

// listenCount accepts connections on a fresh loopback address and counts them: an address
// slotgate must never dial.
func listenCount(t *testing.T) (addr string, accepted func() int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var n atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			c.Close()
		}
	}()
	return ln.Addr().String(), func() int { return int(n.Load()) }
}

// TestE2EScriptRedirectsNotFollowed: a script's return value that looks like a redirect or a
// "not run, try again" error reaches the client unchanged; the script runs once, the slot map
// is not touched, and slotgate dials no address a script named.
func TestE2EScriptRedirectsNotFollowed(t *testing.T) {
	p := startProxy(t, cluster, nil)
	ctx := context.Background()
	cl := p.client(t, func(o *redis.Options) { o.MaxRetries = -1 }) // go-redis itself retries TRYAGAIN/LOADING
	run := runID()
	trap, accepted := listenCount(t)
	key := "sr:" + run
	sl := int(slot.Of([]byte(key)))
	owner := p.Rt.Topology().Owner(uint16(sl))
	var other string // another master: a node of the map, but not the slot's owner
	for _, m := range p.Rt.Topology().Masters {
		if m != owner {
			other = m
		}
	}
	const script = "redis.call('INCR', KEYS[1]); return redis.error_reply(ARGV[1])"
	cases := []string{
		fmt.Sprintf("MOVED %d %s", sl, trap),
		fmt.Sprintf("ASK %d %s", sl, trap),
		fmt.Sprintf("MOVED 0 %s", trap),
		fmt.Sprintf("MOVED %d %s", sl, other),
		fmt.Sprintf("ASK %d %s", sl, other),
		"TRYAGAIN Multiple keys request during rehashing of slot",
		"CLUSTERDOWN The cluster is down",
		"LOADING Redis is loading the dataset in memory",
		"MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.",
	}
	for i, text := range cases {
		err := cl.Eval(ctx, script, []string{key}, text).Err()
		if err == nil || err.Error() != text {
			t.Errorf("EVAL returning %q: client got %v; want the script's reply unchanged", text, err)
		}
		if n, err := cl.Get(ctx, key).Int(); err != nil || n != i+1 {
			t.Fatalf("after EVAL returning %q the script had run %d times (%v); want %d: slotgate replayed it", text, n, err, i+1)
		}
	}
	if got := p.Rt.Topology().Owner(uint16(sl)); got != owner {
		t.Fatalf("slot %d is now routed to %s (was %s): a script re-routed it", sl, got, owner)
	}
	if got := p.Rt.Topology().Owner(0); got == trap {
		t.Fatalf("slot 0 routed to the script's address %s", trap)
	}
	time.Sleep(300 * time.Millisecond) // a dial under way would land by now
	if n := accepted(); n != 0 {
		t.Fatalf("slotgate connected %d times to %s, an address only a script named", n, trap)
	}
}

// TestE2ERedirectToUnknownNodeConfirmed: a genuine MOVED naming a node slotgate's map does not
// know yet is followed once a refresh shows that node serving the slot.
func TestE2ERedirectToUnknownNodeConfirmed(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	rt := router.New(router.Config{Seeds: cluster.Seeds()[:1], Password: cluster.Password, Logger: logger})
	if err := rt.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	p := serveWith(t, rt, nil)
	ctx := context.Background()
	cl := p.client(t, nil)
	run := runID()
	// A stale map that lacks one master: its slots point at another master, which answers MOVED
	// naming a node this map does not know.
	full := rt.Topology()
	gone := full.Masters[0]
	var views []router.NodeInfo
	for _, n := range full.Nodes {
		if n.Addr == gone {
			continue
		}
		if n.Addr == full.Masters[1] {
			n.Slots = append(append([][2]int(nil), n.Slots...), [2]int{0, slot.Count - 1})
		}
		views = append(views, n)
	}
	stale := router.BuildTopology(views)
	if stale.Knows(gone) {
		t.Fatalf("the stale map still knows %s", gone)
	}
	key := keyOnMaster(t, "ru:"+run+":", nodeAt(t, gone), "")
	rt.Publish(stale)
	if err := cl.Set(ctx, key, "v", time.Hour).Err(); err != nil {
		t.Fatalf("SET of a key on a master the map did not know: %v", err)
	}
	if v, err := cl.Get(ctx, key).Result(); err != nil || v != "v" {
		t.Fatalf("GET = %q, %v", v, err)
	}
	if !rt.Topology().Knows(gone) {
		t.Fatalf("the refreshed map does not know %s", gone)
	}
}

// nodeAt returns the test cluster's node at addr.
func nodeAt(t *testing.T, addr string) *testcluster.Node {
	t.Helper()
	for _, n := range cluster.Nodes {
		if n.Addr == addr {
			return n
		}
	}
	t.Fatalf("no node at %s", addr)
	return nil
}
