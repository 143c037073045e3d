package router

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/slotgate/slotgate/codec"
	"github.com/slotgate/slotgate/internal/fakenode"
	"golang.org/x/sys/unix"
)

// harness runs one router Loop on a one-loop gnet engine of its own, the way the server does
// (every callback ends with EndCallback), so a test drives ShardConn and Loop against fake nodes
// without a front end or a cluster.
type harness struct {
	t   *testing.T
	rt  *Router
	eng *harnessEngine
	l   *Loop
}

// harnessEngine is the gnet handler: it dispatches to the shard connections, flushes on OnPoke,
// and turns the first client connection (the harness's own probe) into the Loop.
type harnessEngine struct {
	gnet.BuiltinEventEngine
	rt       *Router
	eng      gnet.Engine
	loopc    chan *Loop
	loop     atomic.Pointer[Loop] // for OnPoke
	errc     chan error
	stopping atomic.Bool
}

// startHarness publishes a topology made of shards and starts the loop. cfg.Logger defaults to
// the test's log.
func startHarness(t *testing.T, cfg Config, shards ...fakenode.Shard) *harness {
	t.Helper()
	var logMu sync.Mutex
	ended := false
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
			logMu.Lock()
			defer logMu.Unlock()
			if !ended {
				t.Logf("%s", bytes.TrimRight(p, "\n"))
			}
			return len(p), nil
		}), &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	rt := New(cfg)
	text := fakenode.ClusterNodes(shards...)
	views, err := ParseClusterNodes(text, shards[0].Master)
	if err != nil {
		t.Fatal(err)
	}
	rt.Publish(BuildTopology(views))

	he := &harnessEngine{rt: rt, loopc: make(chan *Loop, 1), errc: make(chan error, 1)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	go func() {
		he.errc <- gnet.Run(he, "tcp://"+addr, gnet.WithNumEventLoop(1), gnet.WithTicker(true), gnet.WithReusePort(false))
	}()
	var probe net.Conn
	deadline := time.Now().Add(5 * time.Second)
	for probe == nil {
		probe, err = net.Dial("tcp", addr)
		if err != nil && time.Now().After(deadline) {
			t.Fatalf("harness engine: %v", err)
		}
		time.Sleep(time.Millisecond)
	}
	h := &harness{t: t, rt: rt, eng: he}
	select {
	case h.l = <-he.loopc:
	case err := <-he.errc:
		t.Fatalf("harness engine: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("harness engine: no loop")
	}
	t.Cleanup(func() {
		// A byte from the probe shuts the engine down at once (Engine.Stop polls every 500 ms).
		he.stopping.Store(true)
		_, _ = probe.Write([]byte{0})
		select {
		case <-he.errc:
		case <-time.After(5 * time.Second):
			t.Error("harness engine did not stop")
		}
		probe.Close()
		logMu.Lock()
		ended = true
		logMu.Unlock()
	})
	return h
}

func (he *harnessEngine) OnBoot(eng gnet.Engine) gnet.Action {
	he.eng = eng
	return gnet.None
}

func (he *harnessEngine) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	switch x := c.Context().(type) {
	case *ShardConn:
		a := x.OnOpen(c)
		x.loop.EndCallback()
		return nil, a
	}
	l, err := he.rt.NewLoop(c.EventLoop())
	if err != nil {
		he.errc <- err
		return nil, gnet.Close
	}
	he.loop.Store(l)
	he.loopc <- l
	return nil, gnet.None
}

func (he *harnessEngine) OnTraffic(c gnet.Conn) gnet.Action {
	switch x := c.Context().(type) {
	case *ShardConn:
		a := x.OnTraffic(c)
		x.loop.EndCallback()
		return a
	}
	_, _ = c.Discard(c.InboundBuffered())
	if he.stopping.Load() {
		return gnet.Shutdown
	}
	return gnet.None
}

func (he *harnessEngine) OnClose(c gnet.Conn, err error) gnet.Action {
	if x, ok := c.Context().(*ShardConn); ok {
		x.OnClose(c, err)
		x.loop.EndCallback()
	}
	return gnet.None
}

// OnPoke is the round's end the loop asked for.
func (he *harnessEngine) OnPoke(gnet.EventLoop) {
	if l := he.loop.Load(); l != nil {
		l.Flush()
		l.EndCallback()
	}
}

// OnTick runs the loop's timers every 10 ms.
func (he *harnessEngine) OnTick() (time.Duration, gnet.Action) {
	he.rt.mu.Lock()
	loops := append([]*Loop(nil), he.rt.loops...)
	he.rt.mu.Unlock()
	for _, l := range loops {
		_ = l.el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
			l.Tick(time.Now())
			l.EndCallback()
			return nil
		}))
	}
	return 10 * time.Millisecond, gnet.None
}

// do runs f on the loop as one callback (EndCallback after it) and waits for it.
func (h *harness) do(f func(l *Loop)) {
	h.t.Helper()
	done := make(chan struct{})
	err := h.l.el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
		defer close(done)
		f(h.l)
		h.l.EndCallback()
		return nil
	}))
	if err != nil {
		h.t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		h.t.Fatal("the loop did not run the callback")
	}
}

// testConn returns the loop's master connection to addr (loop goroutine only).
func (l *Loop) testConn(addr string) *ShardConn { return l.connTo(addr, false, false) }

// awaitPeerGone blocks the loop until the peer's reset or close of sc has arrived, so the next
// write to it fails inside this callback instead of gnet noticing first.
func awaitPeerGone(t *testing.T, sc *ShardConn) {
	fds := []unix.PollFd{{Fd: int32(sc.conn.Fd()), Events: unix.POLLIN | unix.POLLRDHUP}}
	if n, err := unix.Poll(fds, 2000); n != 1 || err != nil {
		t.Errorf("the reset of %s did not arrive: poll %d %v", sc.Addr, n, err)
	}
}

// get is a GET request's bytes.
func get(key string) []byte { return codec.AppendRequest(nil, [][]byte{[]byte("GET"), []byte(key)}) }

// recorder is a Sink that keeps every reply; onDeliver (optional) runs on the loop after each.
type recorder struct {
	gone      atomic.Bool // Gone's answer
	mu        sync.Mutex
	got       map[uint64]string
	dups      []string
	changed   chan struct{}
	onDeliver func(seq uint64, reply string)
}

func newRecorder() *recorder {
	return &recorder{got: map[uint64]string{}, changed: make(chan struct{})}
}

func (r *recorder) Deliver(seq uint64, _ int32, reply []byte) {
	s := string(reply)
	r.mu.Lock()
	if prev, ok := r.got[seq]; ok {
		r.dups = append(r.dups, fmt.Sprintf("seq %d: %q after %q", seq, s, prev))
	} else {
		r.got[seq] = s
	}
	close(r.changed)
	r.changed = make(chan struct{})
	f := r.onDeliver
	r.mu.Unlock()
	if f != nil {
		f(seq, s)
	}
}

func (r *recorder) Rerouted() {}

func (r *recorder) Gone() bool { return r.gone.Load() }

// reply returns the reply of seq, or "" if none came yet.
func (r *recorder) reply(seq uint64) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.got[seq]
}

// wait waits until every seq has a reply and returns them; it fails the test at the timeout,
// naming the ones still missing.
func (r *recorder) wait(t *testing.T, timeout time.Duration, seqs ...uint64) map[uint64]string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		r.mu.Lock()
		var missing []uint64
		for _, s := range seqs {
			if _, ok := r.got[s]; !ok {
				missing = append(missing, s)
			}
		}
		ch := r.changed
		out := map[uint64]string{}
		for k, v := range r.got {
			out[k] = v
		}
		r.mu.Unlock()
		if len(missing) == 0 {
			return out
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("no reply after %v to requests %v (replies so far: %v)", timeout, missing, out)
		}
	}
}

// noDups fails the test if a request got more than one reply.
func (r *recorder) noDups(t *testing.T) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.dups) > 0 {
		t.Errorf("requests answered twice: %s", strings.Join(r.dups, "; "))
	}
}

// echoed is what fakenode.Echo answers to GET key.
func echoed(key string) string { return string(fakenode.Bulk("GET " + key)) }

// slotOf returns the first slot of shard i of fakenode.EvenShards over n masters.
func slotOf(i, n int) int { return i * 16384 / n }

// writerFunc is an io.Writer made of a function (a slog handler writing to t.Logf).
type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
