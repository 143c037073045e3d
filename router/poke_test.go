package router

import (
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/panjf2000/gnet/v2"
)

// pokeEngine drives gnet's Poke (slotgate's patch, third_party/gnet), which a Loop relies on to
// write its batch at the end of a round: each 'p' a client sends is one Poke from OnTraffic.
type pokeEngine struct {
	gnet.BuiltinEventEngine
	mu     sync.Mutex
	events []string
	el     chan gnet.EventLoop
	repoke atomic.Int32 // pokes OnPoke itself still makes
	quiet  atomic.Bool  // OnPoke only counts (an allocation test)
	pokes  atomic.Int64
	inCB   atomic.Bool // inside OnTraffic
}

func (pe *pokeEngine) record(e string) {
	pe.mu.Lock()
	pe.events = append(pe.events, e)
	pe.mu.Unlock()
}

// take returns the events recorded so far and forgets them.
func (pe *pokeEngine) take() []string {
	pe.mu.Lock()
	defer pe.mu.Unlock()
	e := pe.events
	pe.events = nil
	return e
}

func (pe *pokeEngine) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	select {
	case pe.el <- c.EventLoop():
	default:
	}
	return nil, gnet.None
}

func (pe *pokeEngine) OnTraffic(c gnet.Conn) gnet.Action {
	pe.inCB.Store(true)
	defer pe.inCB.Store(false)
	b, _ := c.Next(-1)
	for _, x := range b {
		if x == 'p' {
			if err := c.EventLoop().(poker).Poke(); err != nil {
				pe.record("error " + err.Error())
			}
		}
	}
	pe.record("traffic")
	return gnet.None
}

func (pe *pokeEngine) OnPoke(el gnet.EventLoop) {
	pe.pokes.Add(1)
	if pe.quiet.Load() {
		return
	}
	if pe.inCB.Load() {
		pe.record("poke inside a callback")
	}
	pe.record("poke")
	if pe.repoke.Add(-1) >= 0 {
		_ = el.(poker).Poke()
	}
}

// startPokeEngine runs a one-loop gnet engine with pe and returns a client connection to it and
// the event loop.
func startPokeEngine(t *testing.T, pe *pokeEngine) (net.Conn, gnet.EventLoop) {
	t.Helper()
	pe.el = make(chan gnet.EventLoop, 1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	done := make(chan error, 1)
	go func() { done <- gnet.Run(pe, "tcp://"+addr, gnet.WithNumEventLoop(1), gnet.WithReusePort(false)) }()
	var c net.Conn
	for deadline := time.Now().Add(5 * time.Second); c == nil; time.Sleep(time.Millisecond) {
		if c, err = net.Dial("tcp", addr); err != nil && time.Now().After(deadline) {
			t.Fatalf("poke engine: %v", err)
		}
	}
	var el gnet.EventLoop
	select {
	case el = <-pe.el:
	case err := <-done:
		t.Fatalf("poke engine: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("poke engine: no OnOpen")
	}
	t.Cleanup(func() {
		c.Close()
		_ = gnet.Stop(t.Context(), "tcp://"+addr)
	})
	return c, el
}

// expectEvents waits until pe has recorded want (failing on anything else), then makes sure
// nothing more comes within a quiet spell.
func expectEvents(t *testing.T, pe *pokeEngine, want ...string) {
	t.Helper()
	var got []string
	for deadline := time.Now().Add(5 * time.Second); len(got) < len(want) && time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		got = append(got, pe.take()...)
	}
	time.Sleep(50 * time.Millisecond)
	got = append(got, pe.take()...)
	if len(got) != len(want) {
		t.Fatalf("events %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("events %q, want %q", got, want)
		}
	}
}

// TestPoke fails when the gnet linked in loses slotgate's patch or its contract: OnPoke runs on
// the loop once after a round in which Poke was called, never inside a callback, however many
// times the round poked; a Poke made by OnPoke runs it again with no I/O to wake the loop (the
// patch re-arms the eventfd after the chores); a Poke from another goroutine wakes a loop asleep
// in epoll_wait.
func TestPoke(t *testing.T) {
	var _ gnet.Poker = (*pokeEngine)(nil)
	pe := &pokeEngine{}
	c, el := startPokeEngine(t, pe)

	if _, err := c.Write([]byte("ppp")); err != nil {
		t.Fatal(err)
	}
	expectEvents(t, pe, "traffic", "poke")

	if _, err := c.Write([]byte("x")); err != nil { // no poke, no OnPoke
		t.Fatal(err)
	}
	expectEvents(t, pe, "traffic")

	pe.repoke.Store(2)
	if _, err := c.Write([]byte("p")); err != nil {
		t.Fatal(err)
	}
	expectEvents(t, pe, "traffic", "poke", "poke", "poke")

	pe.repoke.Store(0)
	if err := el.(poker).Poke(); err != nil {
		t.Fatal(err)
	}
	expectEvents(t, pe, "poke")
}
