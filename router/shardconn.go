package router

import (
	"context"

	"github.com/panjf2000/gnet/v2"
	"github.com/slotgate/slotgate/codec"
)

// Sink receives the replies to requests it sent through a Loop. Deliver runs on the loop's
// goroutine; reply aliases the loop's read buffer and is valid only during the call.
type Sink interface {
	Deliver(seq uint64, part int32, reply []byte)
}

// pending is one FIFO entry: who waits for the next reply of this connection.
type pending struct {
	sink Sink   // nil for replies slotgate asked for itself and drops (ASKING's +OK)
	seq  uint64 // the sink's request number
	part int32  // part of a split request, -1 for a whole request
}

// connState is the life cycle of a shard connection.
type connState uint8

const (
	stateIdle       connState = iota // not connected; the next Send dials
	stateConnecting                  // dial and AUTH under way off the loop
	stateOpen                        // enrolled: its OnOpen ran on this loop
	stateClosed                      // retired: removed from the topology or the loop
)

// ShardConn is one loop's pipelined connection to one master: requests are appended to out and
// their waiters pushed on the FIFO; the loop's doorbell flush writes out once per wake-up.
// Every field is owned by the loop's goroutine.
type ShardConn struct {
	Addr   string
	loop   *Loop
	conn   gnet.Conn // set by OnOpen
	state  connState
	out    []byte // requests not yet written
	fifo   fifo
	framer codec.ReplyFramer
	dirty  bool // in loop.dirty
	unsent int  // requests in out, not yet written
	gen    uint32
}

// fifo is a growable ring of pending entries.
type fifo struct {
	buf        []pending
	head, size int
}

func (f *fifo) push(p pending) {
	if f.size == len(f.buf) {
		n := len(f.buf) * 2
		if n == 0 {
			n = 64
		}
		nb := make([]pending, n)
		for i := 0; i < f.size; i++ {
			nb[i] = f.buf[(f.head+i)&(len(f.buf)-1)]
		}
		f.buf, f.head = nb, 0
	}
	f.buf[(f.head+f.size)&(len(f.buf)-1)] = p
	f.size++
}

func (f *fifo) pop() (p pending, ok bool) {
	if f.size == 0 {
		return p, false
	}
	i := f.head
	p = f.buf[i]
	f.buf[i] = pending{}
	f.head = (i + 1) & (len(f.buf) - 1)
	f.size--
	return p, true
}

// Loop returns the loop that owns this connection.
func (sc *ShardConn) Loop() *Loop { return sc.loop }

// Len is the number of requests waiting for a reply (written or not).
func (sc *ShardConn) Len() int { return sc.fifo.size }

// enqueue appends one request for sink.
func (sc *ShardConn) enqueue(req []byte, sink Sink, seq uint64, part int32) {
	sc.out = append(sc.out, req...)
	sc.fifo.push(pending{sink: sink, seq: seq, part: part})
	sc.unsent++
	sc.loop.queued++
	if sc.state == stateIdle {
		sc.connect()
	}
	if !sc.dirty && sc.state == stateOpen {
		sc.dirty = true
		sc.loop.markDirty(sc)
	}
}

// connect dials off the loop and enrolls the connection into this loop.
func (sc *ShardConn) connect() {
	sc.state = stateConnecting
	sc.gen++
	gen := sc.gen
	l := sc.loop
	go func() {
		c, err := l.router.dialer.Dial(sc.Addr)
		if err == nil {
			_, err = l.el.Enroll(gnet.NewContext(context.Background(), sc), c)
			if err != nil {
				c.Close()
			}
		}
		if err != nil {
			l.router.logf("backend %s: %v", sc.Addr, err)
			backendDialErrors.Inc()
			_ = l.el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
				if sc.gen == gen && sc.state == stateConnecting {
					sc.state = stateIdle
					sc.failAll(errBackendConnect(sc.Addr, err))
				}
				return nil
			}))
		}
	}()
}

// OnOpen runs on the loop when the enrolled connection is ready.
func (sc *ShardConn) OnOpen(c gnet.Conn) gnet.Action {
	if sc.state != stateConnecting {
		return gnet.Close // retired meanwhile
	}
	sc.conn = c
	sc.state = stateOpen
	backendConns.Inc()
	if len(sc.out) > 0 && !sc.dirty {
		sc.dirty = true
		sc.loop.markDirty(sc)
	}
	return gnet.None
}

// OnClose runs on the loop when the connection is gone: every request waiting on it gets an
// error (it may have been applied, so it is never replayed).
func (sc *ShardConn) OnClose(c gnet.Conn, err error) {
	if sc.conn != c {
		return
	}
	backendConns.Dec()
	sc.conn = nil
	sc.framer.Reset()
	if sc.state == stateOpen {
		sc.state = stateIdle
	}
	msg := "connection lost"
	if err != nil {
		msg = err.Error()
	}
	sc.failAll(errBackendLost(sc.Addr, msg))
}

// failAll answers every waiting request with the error reply e.
func (sc *ShardConn) failAll(e []byte) {
	sc.loop.onWire -= sc.fifo.size - sc.unsent
	sc.out, sc.unsent = sc.out[:0], 0
	for {
		p, ok := sc.fifo.pop()
		if !ok {
			return
		}
		if p.sink != nil {
			p.sink.Deliver(p.seq, p.part, e)
		}
	}
}

// flush writes every queued request in one write.
func (sc *ShardConn) flush() {
	sc.dirty = false
	if sc.state != stateOpen || len(sc.out) == 0 {
		return
	}
	out := sc.out
	sc.out = sc.out[:0]
	sc.loop.onWire += sc.unsent
	sc.unsent = 0
	if cap(out) > maxIdleBuffer {
		sc.out = nil
	}
	_, _ = sc.conn.Write(out) // on failure gnet calls OnClose, which fails the FIFO
}

// OnTraffic frames every complete reply and hands it to its waiter in FIFO order.
func (sc *ShardConn) OnTraffic(c gnet.Conn) gnet.Action {
	if c.InboundBuffered() < sc.framer.Need() {
		return gnet.None // a large reply still arriving: don't rescan it
	}
	buf, _ := c.Peek(-1)
	off := 0
	for off < len(buf) {
		n, err := sc.framer.Frame(buf[off:])
		if err != nil {
			sc.loop.router.logf("backend %s: bad reply: %v", sc.Addr, err)
			return gnet.Close
		}
		if n == 0 {
			break
		}
		p, ok := sc.fifo.pop()
		if !ok {
			sc.loop.router.logf("backend %s: reply with no request waiting", sc.Addr)
			return gnet.Close
		}
		sc.loop.onWire--
		reply := buf[off : off+n]
		off += n
		sc.loop.router.countRedirect(reply)
		if p.sink != nil {
			p.sink.Deliver(p.seq, p.part, reply)
		}
	}
	if off > 0 {
		_, _ = c.Discard(off)
	}
	return gnet.None
}

// maxIdleBuffer is the largest buffer kept for reuse once empty; larger ones go back to the GC.
const maxIdleBuffer = 1 << 20
