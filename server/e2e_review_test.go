package server_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slotgate/slotgate/router"
)

// TestE2EReviewWatchThenBlockOnSameNode: a client holding a WATCH sends a blocking command whose
// key lives on the watched node; it blocks on the WATCH's connection, as on a single Redis. The
// proxy's backend-stall detector and -request-timeout must not cut it (nor lose the WATCH): the
// BLPOP gets the element pushed after both have passed, and EXEC then runs.
func TestE2EReviewWatchThenBlockOnSameNode(t *testing.T) {
	p := startProxyRouter(t, cluster, router.Config{RequestTimeout: 300 * time.Millisecond, BackendStall: 500 * time.Millisecond})
	run := runID()
	tag := "{wb:" + run + "}"
	cl := dialRaw(t, p.Addr)
	if r := cl.do("WATCH", tag+"w"); r != "+OK\r\n" {
		t.Fatalf("WATCH = %q", r)
	}
	cl.write(respCmd("BLPOP", tag+"q", "0"))
	time.Sleep(1500 * time.Millisecond)
	other := dialRaw(t, p.Addr)
	if r := other.do("RPUSH", tag+"q", "x"); r != ":1\r\n" {
		t.Fatalf("RPUSH = %q", r)
	}
	want := "*2\r\n$" + strconv.Itoa(len(tag+"q")) + "\r\n" + tag + "q\r\n$1\r\nx\r\n"
	if r := cl.read(); r != want {
		t.Fatalf("BLPOP after 1.5 s on the WATCH's connection = %q; want %q", r, want)
	}
	if r := cl.do("MULTI"); r != "+OK\r\n" {
		t.Fatalf("MULTI = %q", r)
	}
	if r := cl.do("SET", tag+"k", "v"); r != "+QUEUED\r\n" {
		t.Fatalf("SET = %q", r)
	}
	if r := cl.do("EXEC"); r != "*1\r\n+OK\r\n" {
		t.Fatalf("EXEC = %q; want the transaction run (the WATCH still held)", r)
	}
}

// TestE2EReviewSubscriberPingWhenIdle: a subscriber connection whose last channel was
// unsubscribed is no longer in pub/sub mode, so the node answers slotgate's idle PING with
// +PONG, not ["pong", ""]. That PING must still count as answered: else every later ack on the
// connection is out of step (the next SUBSCRIBE's ack is "unexpected" and never confirmed) until
// the stall detector rebuilds the connection.
func TestE2EReviewSubscriberPingWhenIdle(t *testing.T) {
	p := startProxyRouter(t, cluster, router.Config{BackendStall: 400 * time.Millisecond})
	run := runID()
	ch := "idleping:" + run
	cl := dialRaw(t, p.Addr)
	cl.write(respCmd("SUBSCRIBE", ch))
	if r := cl.read(); !strings.Contains(r, "subscribe") {
		t.Fatalf("SUBSCRIBE = %q", r)
	}
	cl.write(respCmd("UNSUBSCRIBE", ch))
	if r := cl.read(); !strings.Contains(r, "unsubscribe") {
		t.Fatalf("UNSUBSCRIBE = %q", r)
	}
	stalls := counter(`slotgate_backend_stalls_total`)
	time.Sleep(2 * time.Second) // idle: pinged every 400 ms, with no channel subscribed upstream
	if d := counter(`slotgate_backend_stalls_total`) - stalls; d != 0 {
		t.Fatalf("%d subscriber connections rebuilt as stalled while the node answered every PING (+PONG)", d)
	}
	// A subscription on the same connection is acknowledged and hears a message at once.
	cl.write(respCmd("SUBSCRIBE", ch))
	if r := cl.read(); !strings.Contains(r, "subscribe") {
		t.Fatalf("SUBSCRIBE again = %q", r)
	}
	if r := dialRaw(t, p.Addr).do("PUBLISH", ch, "hello"); r != ":1\r\n" {
		t.Fatalf("PUBLISH = %q; want one receiver (slotgate's subscription)", r)
	}
	_ = cl.c.SetReadDeadline(time.Now().Add(time.Second))
	if r := cl.read(); !strings.Contains(r, "hello") {
		t.Fatalf("message = %q", r)
	}
}

// TestE2EReviewKeylessScriptInMulti: EVAL/EVALSHA/FCALL with no key run outside MULTI (on one
// master); queued in MULTI they must be queued too, not refused, as on a single Redis: alone,
// and beside keyed commands (on the transaction's node).
func TestE2EReviewKeylessScriptInMulti(t *testing.T) {
	p := startProxy(t, cluster, nil)
	tag := "{ks:" + runID() + "}"
	cl := dialRaw(t, p.Addr)
	sha := cl.do("SCRIPT", "LOAD", "return 7")
	if len(sha) < 40 || sha[0] != '$' {
		t.Fatalf("SCRIPT LOAD = %q", sha)
	}
	sha = strings.Split(sha, "\r\n")[1]
	cl.write(respCmd("MULTI") + respCmd("EVAL", "return 1", "0") + respCmd("EVALSHA", sha, "0") + respCmd("EXEC"))
	for i, want := range []string{"+OK\r\n", "+QUEUED\r\n", "+QUEUED\r\n", "*2\r\n:1\r\n:7\r\n"} {
		if r := cl.read(); r != want {
			t.Fatalf("keyless scripts alone in MULTI: reply %d = %q; want %q", i, r, want)
		}
	}
	cl.write(respCmd("MULTI") + respCmd("SET", tag+"k", "v") + respCmd("EVAL", "return 2", "0") + respCmd("GET", tag+"k") + respCmd("EXEC"))
	for i, want := range []string{"+OK\r\n", "+QUEUED\r\n", "+QUEUED\r\n", "+QUEUED\r\n", "*3\r\n+OK\r\n:2\r\n$1\r\nv\r\n"} {
		if r := cl.read(); r != want {
			t.Fatalf("keyless script beside keys in MULTI: reply %d = %q; want %q", i, r, want)
		}
	}
}

// TestE2EReviewBlockedOnWatchConnNotPooled: a client blocked on its WATCH's connection (the
// blocking command's key is on the watched node) that ends its transaction meanwhile (UNWATCH
// pipelined behind the BLPOP) must not give that connection to the pool while the BLPOP is
// blocked: another client's WATCH would wait behind it, and when the first client leaves, its
// BLPOP must be cancelled, not left to pop an element for nobody.
func TestE2EReviewBlockedOnWatchConnNotPooled(t *testing.T) {
	p := startProxy(t, cluster, nil) // one loop: one pool
	tag := "{bwp:" + runID() + "}"
	a := dialRaw(t, p.Addr)
	if r := a.do("WATCH", tag+"k"); r != "+OK\r\n" {
		t.Fatalf("WATCH = %q", r)
	}
	a.write(respCmd("BLPOP", tag+"q", "0") + respCmd("UNWATCH"))
	time.Sleep(300 * time.Millisecond)
	b := dialRaw(t, p.Addr)
	_ = b.c.SetDeadline(time.Now().Add(3 * time.Second))
	b.write(respCmd("WATCH", tag+"k2"))
	if r, err := readRaw(b.br); err != nil || r != "+OK\r\n" {
		t.Fatalf("another client's WATCH on the same node = %q, %v: it waited behind a blocked BLPOP", r, err)
	}
	a.c.Close()
	time.Sleep(300 * time.Millisecond)
	other := dialRaw(t, p.Addr)
	if r := other.do("RPUSH", tag+"q", "x"); r != ":1\r\n" {
		t.Fatalf("RPUSH = %q", r)
	}
	time.Sleep(300 * time.Millisecond)
	if r := other.do("LLEN", tag+"q"); r != ":1\r\n" {
		t.Fatalf("LLEN after the blocked client left = %q: its BLPOP popped the element for nobody", r)
	}
}

// TestE2EReviewSubscriberPingWithStallOff: with -backend-stall negative (never), a silent
// subscriber connection is still pinged at the usual pace (every 5 s), not every 50 ms.
func TestE2EReviewSubscriberPingWithStallOff(t *testing.T) {
	p := startProxyRouter(t, cluster, router.Config{BackendStall: -1})
	ch := "stalloff:" + runID()
	owner := masterOf(t, ch)
	cl := dialRaw(t, p.Addr)
	cl.write(respCmd("SUBSCRIBE", ch))
	if r := cl.read(); !strings.Contains(r, "subscribe") {
		t.Fatalf("SUBSCRIBE = %q", r)
	}
	pings := func() int {
		info, err := cluster.Client(owner).Info(context.Background(), "commandstats").Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(info, "\r\n") {
			if strings.HasPrefix(line, "cmdstat_ping:calls=") {
				n, _ := strconv.Atoi(strings.SplitN(strings.TrimPrefix(line, "cmdstat_ping:calls="), ",", 2)[0])
				return n
			}
		}
		return 0
	}
	before := pings()
	time.Sleep(time.Second)
	if n := pings() - before; n > 3 {
		t.Fatalf("%d PINGs in 1 s to the subscriber connection's node with -backend-stall off", n)
	}
}
