//go:build !race

package server_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/slotgate/slotgate/codec"
	"github.com/slotgate/slotgate/server"
)

// rawPipeline is a client that writes a pre-built batch and reads its replies into a pre-allocated
// buffer: it allocates nothing itself.
type rawPipeline struct {
	conn net.Conn
	req  []byte
	n    int    // replies the batch gets
	want []byte // the exact replies
	buf  []byte
	f    codec.ReplyFramer
}

var errMismatch = errors.New("replies differ from the expected bytes")

func (p *rawPipeline) roundTrip() error {
	if _, err := p.conn.Write(p.req); err != nil {
		return err
	}
	got, framed, pos := 0, 0, 0
	for framed < p.n {
		if got == len(p.buf) {
			return errors.New("read buffer full")
		}
		m, err := p.conn.Read(p.buf[got:])
		if err != nil {
			return err
		}
		got += m
		for framed < p.n {
			k, err := p.f.Frame(p.buf[pos:got])
			if err != nil {
				return err
			}
			if k == 0 {
				break
			}
			pos += k
			framed++
		}
	}
	if pos != got {
		return errors.New("bytes after the last reply")
	}
	if p.want != nil && !bytes.Equal(p.buf[:got], p.want) {
		return errMismatch
	}
	return nil
}

// dialPipeline is dialRaw's connection with a 60 s deadline: allocation runs of thousands of
// requests take longer than its 15 s.
func dialPipeline(t *testing.T, addr string) net.Conn {
	c := dialRaw(t, addr).c
	_ = c.SetDeadline(time.Now().Add(60 * time.Second))
	return c
}

// warmUp runs n round trips, so that buffers, rings and FIFOs reach their steady size before
// allocations are counted.
func (p *rawPipeline) warmUp(t *testing.T, n int) {
	t.Helper()
	for range n {
		if err := p.roundTrip(); err != nil {
			t.Fatalf("warm-up: %v", err)
		}
	}
}

// allocsPerBatch is testing.AllocsPerRun(runs) of one round trip; a round trip that fails fails t.
func (p *rawPipeline) allocsPerBatch(t *testing.T, runs int) float64 {
	t.Helper()
	var runErr error
	allocs := testing.AllocsPerRun(runs, func() {
		if err := p.roundTrip(); err != nil && runErr == nil {
			runErr = err
		}
	})
	if runErr != nil {
		t.Fatal(runErr)
	}
	return allocs
}

// TestAllocProxyPath: GET, SET and MGET (3 keys on different shards) through the proxy allocate
// nothing per request in steady state (DESIGN "Rules of the hot path"), with dedicated
// connections in the pool, in use and blocked meanwhile, and 100 subscribed clients; for a RESP2
// client and for a RESP3 one (its own pipelines).
func TestAllocProxyPath(t *testing.T) {
	for _, proto := range []int{2, 3} {
		t.Run("resp"+strconv.Itoa(proto), func(t *testing.T) { allocProxyPath(t, proto) })
	}
}

func allocProxyPath(t *testing.T, proto int) {
	const batch = 1000
	p := startProxy(t, cluster, func(c *server.Config) { c.Loops = 1 })
	run := runID()

	// Keys on each master, so every MGET spans three shards.
	masters := cluster.Masters()
	if len(masters) < 3 {
		t.Fatalf("%d masters", len(masters))
	}
	var keys [3][]string
	for i := 0; len(keys[0]) < 10 || len(keys[1]) < 10 || len(keys[2]) < 10; i++ {
		k := "ra:" + run + ":" + strconv.Itoa(i)
		m := masterOf(t, k)
		for s := range 3 {
			if m == masters[s] && len(keys[s]) < 10 {
				keys[s] = append(keys[s], k)
			}
		}
	}
	val := func(k string) string { return "value-of-" + k }
	cl := p.client(t, nil)
	for s := range 3 {
		for _, k := range keys[s] {
			if err := cl.Set(context.Background(), k, val(k), time.Hour).Err(); err != nil {
				t.Fatal(err)
			}
		}
	}

	// Dedicated connections present meanwhile: one pooled after a transaction, one held by a
	// WATCH, one blocked in BLPOP.
	ctx := context.Background()
	if _, err := cl.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		pipe.Incr(ctx, keys[0][0]+":tx")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	watcher := dialRaw(t, p.Addr)
	if r := watcher.do("WATCH", keys[1][0]); r != "+OK\r\n" {
		t.Fatalf("WATCH = %q", r)
	}
	blocked := dialRaw(t, p.Addr)
	blocked.write(respCmd("BLPOP", keyOnMaster(t, "ra-queue:"+run+":", masters[2], ""), "0"))
	waitBlocked(t, masters[2].Addr, 1)
	// And 100 subscribed clients (their channels and patterns subscribed upstream).
	for i := range 100 {
		sub := rawDial(t, p.Addr, "")
		ch := "alloc:sub:" + strconv.Itoa(i%10)
		if _, err := sub.Write([]byte(respCmd("SUBSCRIBE", ch) + respCmd("PSUBSCRIBE", ch+"*"))); err != nil {
			t.Fatal(err)
		}
		readFrames(t, sub, 2)
	}

	null := "$-1\r\n"
	if proto == 3 {
		null = "_\r\n"
	}
	var req, want []byte
	for i := 0; i < batch; i++ {
		k := keys[i%3][(i/3)%10]
		switch {
		case i%30 == 1:
			req = append(req, respCmd("GET", k+":missing")...)
			want = append(want, null...)
		case i%3 == 0:
			req = append(req, respCmd("SET", k, val(k))...)
			want = append(want, "+OK\r\n"...)
		case i%3 == 1:
			req = append(req, respCmd("GET", k)...)
			want = append(want, respBulk(val(k))...)
		default:
			a, b, c := keys[0][i%10], keys[1][(i+3)%10], keys[2][(i+7)%10]
			req = append(req, respCmd("MGET", a, b, c)...)
			want = append(want, "*3\r\n"+respBulk(val(a))+respBulk(val(b))+respBulk(val(c))...)
		}
	}
	conn := dialPipeline(t, p.Addr)
	if proto == 3 {
		if _, err := conn.Write([]byte(respCmd("HELLO", "3"))); err != nil {
			t.Fatal(err)
		}
		readFrames(t, conn, 1)
	}
	rp := &rawPipeline{conn: conn, req: req, n: batch, want: want, buf: make([]byte, 4*len(want))}
	// Warm-up: buffers, rings and FIFOs reach their steady size. Note: each slot of a session's
	// reply ring keeps its own buffer, and a slot grows the first time an out-of-order reply larger
	// than any it held lands in it; with 50 batches of warm-up that still cost 10-20 allocations per
	// batch (all in session.complete), with 100 or more it measured 0.
	rp.warmUp(t, 200)
	allocs := rp.allocsPerBatch(t, 5)
	t.Logf("%.1f allocations per batch of %d requests (%.4f per request), %d request bytes, %d reply bytes",
		allocs, batch, allocs/batch, len(req), len(want))
	if allocs/batch > 0.01 {
		t.Errorf("%.1f allocations per %d GET/SET/MGET requests through the proxy (%.4f per request), want at most %d",
			allocs, batch, allocs/batch, batch/100)
	}
}

// TestAllocPubsubFanOut: a message fanned out to 100 subscribers of the loop costs (almost)
// nothing per copy in steady state: each copy is appended to the session's write buffer (a
// RESP2 array in its reply order, or a RESP3 push).
func TestAllocPubsubFanOut(t *testing.T) {
	for _, proto := range []int{2, 3} {
		t.Run("resp"+strconv.Itoa(proto), func(t *testing.T) { allocPubsubFanOut(t, proto) })
	}
}

func allocPubsubFanOut(t *testing.T, proto int) {
	const subs, batch = 100, 100
	p := startProxy(t, cluster, func(c *server.Config) { c.Loops = 1 })
	ch := "allocfan:" + runID()
	payload := "0123456789abcdef0123456789abcdef"
	msg := "*3\r\n$7\r\nmessage\r\n" + respBulk(ch) + respBulk(payload)
	hello, frames := "", 1
	if proto == 3 {
		msg = ">" + msg[1:]
		hello, frames = respCmd("HELLO", "3"), 2
	}
	type reader struct {
		conn  net.Conn
		buf   []byte
		start chan struct{}
		done  chan error
	}
	var readers []*reader
	for range subs {
		c, err := net.Dial("tcp", p.Addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if _, err := c.Write([]byte(hello + respCmd("SUBSCRIBE", ch))); err != nil {
			t.Fatal(err)
		}
		readFrames(t, c, frames)
		_ = c.SetReadDeadline(time.Now().Add(60 * time.Second))
		r := &reader{conn: c, buf: make([]byte, batch*len(msg)), start: make(chan struct{}), done: make(chan error)}
		readers = append(readers, r)
		go func() {
			for range r.start {
				got := 0
				var err error
				for got < len(r.buf) && err == nil {
					var n int
					n, err = r.conn.Read(r.buf[got:])
					got += n
				}
				r.done <- err
			}
		}()
	}
	var req []byte
	for range batch {
		req = append(req, respCmd("PUBLISH", ch, payload)...)
	}
	pub := &rawPipeline{conn: dialPipeline(t, p.Addr), req: req, n: batch, buf: make([]byte, 64<<10)}
	var runErr error
	round := func() {
		for _, r := range readers {
			r.start <- struct{}{}
		}
		if err := pub.roundTrip(); err != nil && runErr == nil {
			runErr = err
		}
		for _, r := range readers {
			if err := <-r.done; err != nil && runErr == nil {
				runErr = err
			}
		}
	}
	for range 50 {
		round()
	}
	allocs := testing.AllocsPerRun(5, round)
	if runErr != nil {
		t.Fatal(runErr)
	}
	for _, r := range readers {
		if string(r.buf[:len(msg)]) != msg {
			t.Fatalf("subscriber read %q, want %q", r.buf[:len(msg)], msg)
		}
	}
	perCopy := allocs / (subs * batch)
	t.Logf("%.1f allocations per round of %d PUBLISH to %d subscribers (%.4f per message copy)", allocs, batch, subs, perCopy)
	if perCopy > 0.01 {
		t.Errorf("%.4f allocations per message copy, want at most 0.01", perCopy)
	}
}

// TestAllocTick: handing a loop its timers (every 10-100 ms while clients are connected) and
// running them allocate nothing. gnet's Execute, which did the hand-off before, allocated two
// objects per call; once-a-second work (latency samples, hot-key snapshots) may land in the
// measured window, hence the margin.
func TestAllocTick(t *testing.T) {
	p := startProxy(t, cluster, func(c *server.Config) { c.Loops = 1 })
	c := dialRaw(t, p.Addr)
	if r := c.do("PING"); r != "+PONG\r\n" {
		t.Fatalf("PING = %q", r)
	}
	server.TickLoops(p.Srv)
	allocs := testing.AllocsPerRun(1000, func() { server.TickLoops(p.Srv) })
	t.Logf("%.3f allocations per timer run", allocs)
	if allocs > 0.1 {
		t.Errorf("%.3f allocations per timer run of the loop, want 0", allocs)
	}
}
