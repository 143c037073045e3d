package main

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
	"github.com/cloudwego/netpoll"
	"github.com/slotgate/slotgate/codec"
)

// Phases of a cell, read by every client once per batch of replies.
const (
	phaseWarm    = iota // requests flow, nothing is counted
	phaseMeasure        // completions are counted and timed
	phaseStop           // no new requests; in-flight ones drain
)

// Latency histogram bounds (µs).
const (
	histMin = 1
	histMax = 10_000_000
	histSig = 3
)

// genClient is one simulated client: one connection per backend (one through a proxy, one per
// master against the cluster) and at most depth logical requests in flight in total. Each
// connection has a reader goroutine; they share the client's state under mu (uncontended through
// a proxy). Nothing is allocated per request: requests are pre-built, replies are framed in
// netpoll's buffer and skipped.
type genClient struct {
	mu     sync.Mutex
	conns  []*genConn
	pool   []req
	next   int // index of the next request in pool
	depth  int // P
	free   []int32
	slots  []lslot
	phase  *atomic.Int32
	base   time.Time
	hist   *hdrhistogram.Histogram
	done   int64 // logical requests completed while measuring
	errs   int64 // error replies while measuring, plus I/O errors at any time
	infl   int   // logical requests in flight
	closed bool
	exit   chan struct{} // closed when the client has drained after phaseStop (or failed)
	ioErr  error
}

// lslot is one logical request in flight.
type lslot struct {
	sent   int64 // ns since base when written
	remain int32 // parts without a reply yet
	failed bool  // one part got an error reply
}

type genConn struct {
	c      netpoll.Connection
	fifo   []int32 // logical slot of each part in flight, ring buffer
	head   int
	n      int
	dirty  bool
	framer codec.ReplyFramer
}

func (g *genConn) push(s int32) {
	g.fifo[(g.head+g.n)%len(g.fifo)] = s
	g.n++
}

func (g *genConn) pop() int32 {
	s := g.fifo[g.head]
	g.head = (g.head + 1) % len(g.fifo)
	g.n--
	return s
}

// dialAuth opens a netpoll connection and authenticates it synchronously.
func dialAuth(addr, password string) (netpoll.Connection, error) {
	c, err := netpoll.DialConnection("tcp", addr, 3*time.Second)
	if err != nil {
		return nil, err
	}
	if password == "" {
		return c, nil
	}
	b := codec.AppendCommand(nil, []byte("AUTH"), []byte(password))
	if _, err := c.Writer().WriteBinary(b); err == nil {
		err = c.Writer().Flush()
	}
	if err != nil {
		c.Close()
		return nil, err
	}
	c.SetReadTimeout(3 * time.Second)
	var f codec.ReplyFramer
	need := 1
	for {
		buf, err := c.Reader().Peek(need)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("AUTH on %s: %w", addr, err)
		}
		buf, _ = c.Reader().Peek(c.Reader().Len())
		n, err := f.Frame(buf)
		if err != nil {
			c.Close()
			return nil, err
		}
		if n == 0 {
			need = f.Need()
			continue
		}
		if codec.IsError(buf[:n]) {
			c.Close()
			return nil, fmt.Errorf("AUTH on %s: %s", addr, codec.ErrorText(buf[:n]))
		}
		c.Reader().Skip(n)
		c.Reader().Release()
		c.SetReadTimeout(0)
		return c, nil
	}
}

// genResult is what one run of the generator measured.
type genResult struct {
	requests int64
	errors   int64
	elapsed  time.Duration
	hist     *hdrhistogram.Histogram
}

// cellHooks run at the edges of the measured window (snapshots of CPU, metrics, server stats).
type cellHooks struct {
	before func()
	after  func()
}

// runGen runs one cell of the own generator: clients clients, each with a connection to every
// addr, depth P in flight, requests from pool; warm-up, then the measured window.
func runGen(addrs []string, password string, clients, depth int, pool []req, warm, dur time.Duration, hooks cellHooks) (*genResult, error) {
	var phase atomic.Int32
	maxParts := 1
	for _, r := range pool {
		maxParts = max(maxParts, len(r.parts))
	}
	cs := make([]*genClient, clients)
	var dialErr error
	var dmu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := range cs {
		g := &genClient{
			pool:  pool,
			next:  rand.IntN(len(pool)),
			depth: depth,
			phase: &phase,
			hist:  hdrhistogram.New(histMin, histMax, histSig),
			exit:  make(chan struct{}),
			slots: make([]lslot, depth),
		}
		for s := depth - 1; s >= 0; s-- {
			g.free = append(g.free, int32(s))
		}
		cs[i] = g
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			for _, a := range addrs {
				c, err := dialAuth(a, password)
				if err != nil {
					dmu.Lock()
					dialErr = errors.Join(dialErr, err)
					dmu.Unlock()
					return
				}
				g.conns = append(g.conns, &genConn{c: c, fifo: make([]int32, depth*maxParts)})
			}
		}()
	}
	wg.Wait()
	if dialErr != nil {
		for _, g := range cs {
			for _, c := range g.conns {
				c.c.Close()
			}
		}
		return nil, dialErr
	}
	base := time.Now()
	for _, g := range cs {
		g.base = base
		g.mu.Lock()
		g.fill()
		g.mu.Unlock()
		for _, c := range g.conns {
			go g.read(c)
		}
	}
	time.Sleep(warm)
	if hooks.before != nil {
		hooks.before()
	}
	t0 := time.Now()
	phase.Store(phaseMeasure)
	time.Sleep(dur)
	phase.Store(phaseStop)
	elapsed := time.Since(t0)
	if hooks.after != nil {
		hooks.after()
	}
	res := &genResult{elapsed: elapsed, hist: hdrhistogram.New(histMin, histMax, histSig)}
	timeout := time.After(10 * time.Second)
	for _, g := range cs {
		// Wake clients that are idle (nothing in flight) so they notice phaseStop.
		g.mu.Lock()
		if g.infl == 0 {
			g.finish(nil)
		}
		g.mu.Unlock()
		select {
		case <-g.exit:
		case <-timeout:
			g.mu.Lock()
			g.finish(fmt.Errorf("%d requests without a reply 10s after the end of the cell", g.infl))
			g.mu.Unlock()
		}
	}
	var errs error
	for _, g := range cs {
		g.mu.Lock()
		res.requests += g.done
		res.errors += g.errs
		res.hist.Merge(g.hist)
		if g.ioErr != nil && errs == nil {
			errs = g.ioErr
		}
		g.mu.Unlock()
		for _, c := range g.conns {
			c.c.Close()
		}
	}
	if errs != nil {
		return res, errs
	}
	return res, nil
}

// fill sends requests until depth are in flight (unless stopping), then flushes each connection
// written to once. Called with mu held.
func (g *genClient) fill() {
	if g.closed || g.phase.Load() == phaseStop {
		return
	}
	now := int64(time.Since(g.base))
	for g.infl < g.depth {
		r := &g.pool[g.next]
		g.next++
		if g.next == len(g.pool) {
			g.next = 0
		}
		s := g.free[len(g.free)-1]
		g.free = g.free[:len(g.free)-1]
		g.slots[s] = lslot{sent: now, remain: int32(len(r.parts))}
		for _, p := range r.parts {
			c := g.conns[p.conn]
			c.c.Writer().WriteBinary(p.b)
			c.push(s)
			c.dirty = true
		}
		g.infl++
	}
	for _, c := range g.conns {
		if c.dirty {
			c.dirty = false
			if err := c.c.Writer().Flush(); err != nil {
				g.finish(err)
				return
			}
		}
	}
}

// finish marks the client done (err: an I/O error) and releases runGen. Called with mu held.
func (g *genClient) finish(err error) {
	if g.closed {
		return
	}
	g.closed = true
	if err != nil {
		g.ioErr = err
		g.errs++
	}
	close(g.exit)
}

// read is the reader goroutine of one connection: frame every reply buffered, complete the
// logical requests, refill.
func (g *genClient) read(c *genConn) {
	rd := c.c.Reader()
	need := 1
	for {
		if _, err := rd.Peek(need); err != nil {
			g.mu.Lock()
			if !g.closed {
				g.finish(err)
			}
			g.mu.Unlock()
			return
		}
		buf, _ := rd.Peek(rd.Len())
		now := int64(time.Since(g.base))
		off := 0
		g.mu.Lock()
		if g.closed {
			g.mu.Unlock()
			return
		}
		ph := g.phase.Load()
		for {
			n, err := c.framer.Frame(buf[off:])
			if err != nil {
				g.finish(fmt.Errorf("bad reply: %w", err))
				g.mu.Unlock()
				return
			}
			if n == 0 {
				need = c.framer.Need()
				break
			}
			if c.n == 0 {
				g.finish(errors.New("reply without a request"))
				g.mu.Unlock()
				return
			}
			s := c.pop()
			ls := &g.slots[s]
			if rep := buf[off]; rep == '-' || rep == '!' {
				ls.failed = true
			}
			off += n
			ls.remain--
			if ls.remain > 0 {
				continue
			}
			if ph == phaseMeasure {
				g.done++
				if ls.failed {
					g.errs++
				}
				us := (now - ls.sent) / 1000
				g.hist.RecordValue(min(max(us, histMin), histMax))
			} else if ls.failed {
				g.errs++
			}
			g.free = append(g.free, s)
			g.infl--
		}
		if off > 0 {
			rd.Skip(off)
			rd.Release()
		}
		g.fill()
		if ph == phaseStop && g.infl == 0 {
			g.finish(nil)
		}
		g.mu.Unlock()
	}
}
