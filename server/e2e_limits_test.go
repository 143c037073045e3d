package server_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slotgate/slotgate/server"
)

// TestE2EMaxClients: with -maxclients N the N+1th connection gets Redis's own error and is
// closed, while the first N keep being served; a client that leaves frees its place.
func TestE2EMaxClients(t *testing.T) {
	const maxClients = 5
	p := startProxy(t, cluster, func(c *server.Config) { c.MaxClients = maxClients })
	conns := make([]*rawConn, maxClients)
	for i := range conns {
		conns[i] = dialRaw(t, p.Addr)
		if r := conns[i].do("PING"); r != "+PONG\r\n" {
			t.Fatalf("client %d: PING = %q", i, r)
		}
	}
	extra := dialRaw(t, p.Addr)
	_ = extra.c.SetDeadline(time.Now().Add(3 * time.Second))
	if r := extra.read(); r != "-ERR max number of clients reached\r\n" {
		t.Fatalf("client %d: got %q, want Redis's max clients error", maxClients+1, r)
	}
	extra.expectEOF()
	for i, rc := range conns {
		k := "{maxcl}:" + strconv.Itoa(i)
		if r := rc.do("SET", k, "v"); r != "+OK\r\n" {
			t.Fatalf("client %d after the refusal: SET = %q", i, r)
		}
		if r := rc.do("GET", k); r != bulkOf("v") {
			t.Fatalf("client %d after the refusal: GET = %q", i, r)
		}
	}
	conns[0].c.Close()
	deadline := time.Now().Add(3 * time.Second)
	for {
		rc := dialRaw(t, p.Addr)
		r := rc.do("PING")
		if r == "+PONG\r\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after a client left, a new one still gets %q", r)
		}
		rc.c.Close()
		time.Sleep(20 * time.Millisecond)
	}
}

// TestE2EClientIdleTimeout: a client idle past -client-idle-timeout is closed, as by Redis's
// timeout; clients that keep talking, that wait for a slow reply or that have replies they
// have not read yet (paused at the soft limit) are not. The waiting clients pipeline a PING
// behind what they wait for: its reply shows they were still served after the wait.
func TestE2EClientIdleTimeout(t *testing.T) {
	const timeout = 400 * time.Millisecond
	p := startProxy(t, cluster, func(c *server.Config) { c.IdleTimeout = timeout })
	pfx := uniqPrefix("{idle}")
	setup := dialRaw(t, p.Addr)
	big := strings.Repeat("x", 1<<20)
	if r := setup.do("SET", pfx+"big", big); r != "+OK\r\n" {
		t.Fatalf("SET big = %q", r)
	}

	idle := dialRaw(t, p.Addr)
	if r := idle.do("PING"); r != "+PONG\r\n" {
		t.Fatalf("PING = %q", r)
	}
	_ = idle.c.SetDeadline(time.Now().Add(5 * time.Second))
	// slow waits 1.2 s for a script's reply: a request in flight is not idleness.
	slow := dialRaw(t, p.Addr)
	spin := "local s = redis.call('TIME') repeat local n = redis.call('TIME') " +
		"until (n[1]-s[1])*1000000 + (n[2]-s[2]) > 1200000 return 1"
	start := time.Now()
	slow.write(respCmd("EVAL", spin, "1", pfx+"slow") + respCmd("PING"))
	// unread asks for 24 MiB and reads nothing until the script is done: slotgate pauses it at
	// the soft limit with replies it holds for it.
	unread := dialRaw(t, p.Addr)
	const gets = 24
	unread.write(strings.Repeat(respCmd("GET", pfx+"big"), gets) + respCmd("PING"))
	// busy keeps talking meanwhile.
	busy := dialRaw(t, p.Addr)
	done := make(chan struct{})
	busyErr := make(chan string, 1)
	go func() {
		defer close(busyErr)
		for {
			select {
			case <-done:
				return
			case <-time.After(timeout / 5):
			}
			if _, err := busy.c.Write([]byte(respCmd("PING"))); err != nil {
				busyErr <- err.Error()
				return
			}
			if r, err := readRaw(busy.br); err != nil || r != "+PONG\r\n" {
				busyErr <- fmt.Sprintf("%q, %v", r, err)
				return
			}
		}
	}()

	if r := slow.read(); r != ":1\r\n" {
		t.Fatalf("slow client: EVAL = %q", r)
	}
	if r := slow.read(); r != "+PONG\r\n" {
		t.Fatalf("slow client: PING after the script = %q", r)
	}
	t.Logf("the script's reply came after %v", time.Since(start).Round(time.Millisecond))
	for i := range gets {
		if r := unread.read(); r != bulkOf(big) {
			t.Fatalf("unread client: reply %d is %d bytes, want the 1 MiB value", i, len(r))
		}
	}
	if r := unread.read(); r != "+PONG\r\n" {
		t.Fatalf("unread client: PING after its GETs = %q", r)
	}
	close(done)
	if msg, failed := <-busyErr; failed {
		t.Fatalf("busy client: %s", msg)
	}
	idle.expectEOF()
}

// TestE2EProtectedServesLoopback: protected mode without a password still serves loopback
// clients (its refusal of other hosts is tested on the decision itself: tests stay on loopback).
func TestE2EProtectedServesLoopback(t *testing.T) {
	p := startProxy(t, cluster, func(c *server.Config) { c.Protected = true })
	rc := dialRaw(t, p.Addr)
	k := uniqPrefix("prot") + "k"
	if r := rc.do("SET", k, "v"); r != "+OK\r\n" {
		t.Fatalf("loopback client in protected mode: SET = %q", r)
	}
	if r := rc.do("GET", k); r != bulkOf("v") {
		t.Fatalf("loopback client in protected mode: GET = %q", r)
	}
}

// TestE2ELimitFlags runs the slotgate binary with the limit flags and checks that each reaches
// the server: -maxclients, -client-query-limit, -client-idle-timeout and -protected (which
// serves loopback clients).
func TestE2ELimitFlags(t *testing.T) {
	p := startProxyProcess(t, cluster, "-maxclients", "3", "-client-query-limit", "65536",
		"-client-idle-timeout", "500ms", "-protected")
	// The start-up probe's connection may not be closed on slotgate's side yet: retry.
	serving := func() *rawConn {
		deadline := time.Now().Add(3 * time.Second)
		for {
			rc := dialRaw(t, p.Addr)
			_ = rc.c.SetDeadline(time.Now().Add(3 * time.Second))
			r := rc.do("PING")
			if r == "+PONG\r\n" {
				return rc
			}
			if time.Now().After(deadline) {
				t.Fatalf("a client gets %q", r)
			}
			rc.c.Close()
			time.Sleep(20 * time.Millisecond)
		}
	}
	a, b, c := serving(), serving(), serving()
	extra := dialRaw(t, p.Addr)
	_ = extra.c.SetDeadline(time.Now().Add(3 * time.Second))
	if r := extra.read(); r != "-ERR max number of clients reached\r\n" {
		t.Fatalf("4th client with -maxclients 3: got %q", r)
	}
	extra.expectEOF()

	// A request larger than the query limit: its first 100 KiB (all of it sent, so the close
	// is a clean FIN) are enough to refuse it.
	a.write("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1000000\r\n" + strings.Repeat("x", 100<<10))
	if r := a.read(); !strings.Contains(r, "larger than the query buffer limit") {
		t.Fatalf("request over -client-query-limit: got %q", r)
	}
	a.expectEOF()

	// b keeps talking, c stays silent past the idle timeout.
	for range 8 {
		if r := b.do("PING"); r != "+PONG\r\n" {
			t.Fatalf("talking client: PING = %q", r)
		}
		time.Sleep(150 * time.Millisecond)
	}
	c.expectEOF()
}
