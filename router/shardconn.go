package router

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/slotgate/slotgate/codec"
)

// Sink receives the replies to requests it sent through a Loop. Its methods run on the loop's
// goroutine; reply aliases the loop's read buffer and is valid only during the call.
type Sink interface {
	Deliver(seq uint64, part int32, reply []byte)
	// Rerouted says that one of the sink's requests is being retried on another connection
	// (MOVED, ASK, TRYAGAIN, a node down): the sink's later requests must wait for the replies
	// of its earlier ones, or they could overtake the retry.
	Rerouted()
	// Gone reports that nobody will read the replies any more (the client disconnected): a
	// request of it still waiting for an owner is dropped rather than sent late.
	Gone() bool
}

// Slot values of requests that no slot routes.
const (
	SlotAny = -1 // keyless: any master
	slotOwn = -2 // slotgate's own request (ASKING before an ASK retry, a pooled connection's RESET): never rerouted
)

// pending is one FIFO entry: a request on its way to (or at) a node, and who waits for its reply.
// The request's bytes stay in the connection's buffer until the reply comes, so a MOVED or ASK
// reply can send them again.
type pending struct {
	sink       Sink   // nil: nobody waits (ASKING's +OK, or an orphan whose client got a timeout)
	seq        uint64 // the sink's request number
	part       int32  // part of a split request, -1 for a whole request
	slot       int32  // the slot that routes it, SlotAny or slotOwn
	start, end int64  // the request's bytes: positions in the connection's buffer
	sent       int64  // nanotime when written (0: not yet)
	since      int64  // when it first waited for an owner (0: never): the retry window runs from it
	tries      uint8  // redirects followed
	read       bool   // a read that may go to a replica
	script     bool   // its error replies may be a script's return value (Kind Script)
	owned      bool   // enqueue may keep the request's memory (Kind Owned); cleared once queued
	resp3      bool   // its client speaks RESP3: it goes on a RESP3 connection (Kind RESP3)
	fam        Family // its command's family: the latency histogram of its reply (WithFamily)
	pin        *Pin   // sent on a client's dedicated connection (pin.go), nil on the shared ones
	blocks     bool   // a blocking command on a transaction's pin (Kind Blocks)
}

// connState is the life cycle of a shard connection.
type connState uint8

const (
	stateIdle       connState = iota // not connected; the next Send dials
	stateConnecting                  // dial and AUTH under way off the loop
	stateOpen                        // enrolled: its OnOpen ran on this loop
	stateDown                        // the last dial failed: requests wait until retryAt
	stateClosing                     // slotgate closes it (stalled, retired): nothing more is written
	stateClosed                      // retired: removed from the topology or the loop
)

// ShardConn is one loop's pipelined connection to one node: requests are appended to buf and
// their waiters pushed on the FIFO; the loop's flush writes the unsent part once per batch. Every field is owned by the loop's goroutine.
type ShardConn struct {
	Addr    string
	replica bool // a READONLY connection to a replica, for reads
	resp3   bool // speaks RESP3 (HELLO 3 when dialled); a dedicated one follows its client's (follow)
	loop    *Loop
	conn    gnet.Conn // set by OnOpen
	state   connState
	buf     []byte // the bytes of every request in the FIFO, buf[0] at position base
	base    int64
	written int64 // position up to which buf was written
	fifo    fifo
	framer  codec.ReplyFramer
	dirty   bool // in loop.dirty
	unsent  int  // entries at the FIFO's tail not yet written
	gen     uint32

	backoff  time.Duration // next reconnect delay after a failed dial
	retryAt  int64         // stateDown: no dial before this (unix ns)
	retiring bool          // not in the topology any more: closed once its FIFO is empty
	closeWhy []byte        // the error given to requests sent when slotgate closes it itself
	badReply string        // why slotgate closes it after a reply it cannot frame

	reads      uint64 // OnTraffic calls, for stall detection
	stallReads uint64
	stallSince int64

	unsentSince  int64  // loop clock when the oldest unwritten request was queued (see writeLost)
	connectSince int64  // when the current dial began (stateConnecting)
	held         []byte // the start of a large reply still arriving, moved out of gnet's buffer

	dedicated bool          // one client's at a time (pin.go), not a shared pipeline
	pin       *Pin          // the pin using it (nil: pooled, or not dedicated)
	quota     *atomic.Int32 // the process-wide count of dedicated connections to Addr it holds a share of
	stats     *nodeStats    // the loop's counters for Addr (stats.go)
}

// fifo is a growable ring of pending entries.
type fifo struct {
	buf        []pending
	head, size int
}

// push appends a copy of *p and returns the entry in the ring.
func (f *fifo) push(p *pending) *pending {
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
	e := &f.buf[(f.head+f.size)&(len(f.buf)-1)]
	*e = *p
	f.size++
	return e
}

// pop moves the head entry into *p (one copy: returning the struct by value cost a second,
// stalled one per reply); false when the ring is empty.
func (f *fifo) pop(p *pending) bool {
	if f.size == 0 {
		return false
	}
	i := f.head
	*p = f.buf[i]
	f.buf[i] = pending{}
	f.head = (i + 1) & (len(f.buf) - 1)
	f.size--
	return true
}

// blocking reports a blocking command on its pin: it may wait as long as its timeout says.
func (p *pending) blocking() bool { return p.blocks || p.pin != nil && p.pin.blocking }

// at returns the i-th entry from the head.
func (f *fifo) at(i int) *pending { return &f.buf[(f.head+i)&(len(f.buf)-1)] }

// Loop returns the loop that owns this connection.
func (sc *ShardConn) Loop() *Loop { return sc.loop }

// Len is the number of requests waiting for a reply (written or not).
func (sc *ShardConn) Len() int { return sc.fifo.size }

// request returns the bytes of entry p; valid until the next append to or compaction of buf.
func (sc *ShardConn) request(p *pending) []byte { return sc.buf[p.start-sc.base : p.end-sc.base] }

// available reports whether a request queued now would be written without waiting for a
// reconnect backoff.
func (sc *ShardConn) available(now int64) bool {
	return sc.state != stateClosed && (sc.state != stateDown || now >= sc.retryAt)
}

// enqueue appends one request; p carries who waits for it.
func (sc *ShardConn) enqueue(req []byte, p *pending) {
	if sc.state == stateDown || sc.state == stateClosed {
		if sc.state == stateClosed || time.Now().UnixNano() < sc.retryAt {
			sc.loop.park(*p, req, sc.Addr, nil, 0)
			return
		}
		sc.state = stateIdle
	}
	if p.slot != slotOwn {
		sc.follow(p.resp3)
	}
	start := sc.base + int64(len(sc.buf))
	if p.owned && len(sc.buf) == 0 {
		sc.buf = req // given up by the caller: no copy
	} else {
		sc.buf = append(sc.buf, req...)
	}
	// The entry is completed in the ring, not in *p: a field stored just before a copy of the
	// whole struct stalls that copy's wide loads (store forwarding), on every request.
	e := sc.fifo.push(p)
	e.start, e.end, e.sent, e.owned = start, sc.base+int64(len(sc.buf)), 0, false
	if sc.unsent == 0 {
		sc.unsentSince = sc.loop.clock
	}
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

// follow puts a dedicated connection in its client's protocol before its next request: a pooled
// one was RESET to RESP2, and a client may send HELLO while pinned. One not dialled yet is
// dialled in that protocol instead. Shared connections keep theirs (route picks by protocol).
func (sc *ShardConn) follow(resp3 bool) {
	if !sc.dedicated || resp3 == sc.resp3 {
		return
	}
	sc.resp3 = resp3
	if sc.state != stateIdle {
		sc.enqueue(helloReq[b2i(resp3)], &pending{slot: slotOwn})
	}
}

// connect dials off the loop and enrolls the connection into this loop.
func (sc *ShardConn) connect() {
	sc.state = stateConnecting
	sc.connectSince = time.Now().UnixNano()
	sc.gen++
	gen := sc.gen
	sc.loop.enrollDialled(sc.Addr, sc.replica, sc.resp3, sc, func(err error) {
		if sc.gen == gen && sc.state == stateConnecting {
			sc.dialFailed(err)
		}
	})
}

// enrollDialled dials addr off the loop (AUTH, and READONLY for a replica link) and enrolls the
// connection into the loop with conn as its context, so that conn's OnOpen, OnTraffic and OnClose
// run on the loop. A failed dial or enrollment runs failed on the loop instead.
func (l *Loop) enrollDialled(addr string, readonly, resp3 bool, conn any, failed func(err error)) {
	go func() {
		c, err := l.router.dialer.dial(addr, readonly, resp3)
		if err == nil {
			_, err = l.el.Enroll(gnet.NewContext(context.Background(), conn), c)
			if err != nil {
				backendDialErrors.Inc() // dial counts its own failures
				c.Close()
			}
		}
		if err != nil {
			_ = l.el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
				failed(err)
				l.endWork()
				return nil
			}))
		}
	}()
}

// dialFailed backs off before the next dial; the requests waiting for this node wait for it
// (or for another owner) in the loop's parked queue, within the retry window.
func (sc *ShardConn) dialFailed(err error) {
	l := sc.loop
	if sc.backoff == 0 {
		l.router.log.Warn("backend dial failed", "addr", sc.Addr, "err", err)
	}
	sc.backoff = min(max(2*sc.backoff, minBackoff), maxBackoff)
	jittered := sc.backoff/2 + rand.N(sc.backoff)
	sc.state = stateDown
	sc.retryAt = time.Now().Add(jittered).UnixNano()
	l.router.noteDown(sc.Addr)
	sc.parkAll()
	if sc.dedicated && sc.pin == nil {
		// Pooled while dialling: parking dropped the RESET behind its released pin's requests,
		// so a later dial would pool the old client's WATCH. Closed, as OnClose does with a
		// pooled one; those requests get the pin's error.
		l.dropDedicated(sc, false)
	}
	l.retryParked(time.Now().UnixNano())
}

// Reconnect backoff bounds: the first retry is quick (a restarted node), later ones spread out.
const (
	minBackoff = 20 * time.Millisecond
	maxBackoff = time.Second
)

// parkAll moves every unwritten request to the loop's parked queue (nothing was written: all of
// them can go to another node) and empties the connection.
func (sc *ShardConn) parkAll() {
	var p pending
	for sc.fifo.pop(&p) {
		if p.sent == 0 {
			sc.loop.park(p, sc.request(&p), sc.Addr, nil, 0)
		}
	}
	sc.loop.queued -= sc.unsent
	sc.unsent = 0
	sc.reset()
}

// reset empties the request buffer.
func (sc *ShardConn) reset() {
	sc.base += int64(len(sc.buf))
	sc.written = sc.base
	sc.buf = sc.buf[:0]
	if cap(sc.buf) > maxIdleBuffer {
		sc.loop.keepSpare(sc.buf) // every request in it is answered: nothing refers to it
		sc.buf = nil
	}
	if sc.fifo.size == 0 && len(sc.fifo.buf) > maxIdleFifo {
		sc.fifo = fifo{} // a burst's ring goes back to the GC once answered
	}
}

// OnOpen runs on the loop when the enrolled connection is ready.
func (sc *ShardConn) OnOpen(c gnet.Conn) gnet.Action {
	if sc.state != stateConnecting {
		return gnet.Close // retired meanwhile
	}
	sc.conn = c
	sc.state = stateOpen
	sc.backoff = 0
	sc.closeWhy, sc.badReply = nil, ""
	backendConns.Inc()
	sc.loop.router.noteUp(sc.Addr)
	if sc.unsent > 0 && !sc.dirty {
		sc.dirty = true
		sc.loop.markDirty(sc)
	}
	if len(sc.loop.parked) > 0 {
		sc.loop.retryParked(time.Now().UnixNano())
	}
	return gnet.None
}

// OnClose runs on the loop when the connection is gone. A request that was written may have
// been applied, so it gets an error and is never replayed; one never written waits for an owner.
func (sc *ShardConn) OnClose(c gnet.Conn, err error) {
	if sc.conn != c {
		return
	}
	l := sc.loop
	backendConns.Dec()
	sc.conn = nil
	sc.framer.Reset()
	sc.held = nil
	sc.state = stateIdle
	e := sc.closeWhy
	if e == nil {
		msg := "connection lost"
		switch {
		case sc.badReply != "":
			msg = sc.badReply
		case err != nil:
			msg = err.Error()
		}
		e = errBackendLost(sc.Addr, msg)
	}
	sc.badReply = ""
	sent := sc.fifo.size - sc.unsent
	l.onWire -= sent
	for i := 0; i < sent; i++ {
		var p pending
		sc.fifo.pop(&p)
		switch {
		case p.sink == nil:
		case sc.replica && sc.closeWhy == nil:
			// A read changes nothing: the master answers it instead.
			p.read = false
			p.sink.Rerouted()
			l.sendToOwner(append(l.scratch[:0], sc.request(&p)...), &p)
		default:
			p.sink.Deliver(p.seq, p.part, e)
		}
	}
	if p := sc.pin; p != nil && p.wrote && !p.blocking {
		p.lost = true // the client's MULTI or WATCH went with the connection
	}
	sc.parkAll()
	switch {
	case sc.retiring:
		sc.state = stateClosed
		l.forgetDedicated(sc)
	case sc.dedicated:
		// The shared connections watch the node's health. A blocking pin dials again on its next
		// request; a pooled connection is not worth keeping.
		if sc.pin == nil {
			l.dropDedicated(sc, false)
		}
	default:
		l.router.noteDown(sc.Addr)
		l.router.Refresh()
	}
	if len(l.parked) > 0 {
		l.retryParked(time.Now().UnixNano())
	}
}

// flush writes every unwritten request in one write.
func (sc *ShardConn) flush() {
	sc.dirty = false
	if sc.state != stateOpen || sc.unsent == 0 {
		return
	}
	out := sc.buf[sc.written-sc.base:]
	sc.written = sc.base + int64(len(sc.buf))
	l := sc.loop
	l.onWire += sc.unsent
	now := nanotime() // one clock read per write, however many requests it carries
	for i := sc.fifo.size - sc.unsent; i < sc.fifo.size; i++ {
		sc.fifo.at(i).sent = now
	}
	sc.stats.bytesOut.Add(uint64(len(out)))
	sc.unsent = 0
	if sc.pin != nil {
		sc.pin.wrote = true
	}
	_, _ = sc.conn.Write(out) // gnet keeps what the socket did not take; on failure OnClose runs
}

// OnTraffic frames every complete reply and hands it to its waiter in FIFO order; a reply that
// says the request belongs elsewhere sends the request there instead.
//
// gnet copies everything buffered into a fresh buffer on each Peek once a read left bytes behind,
// so re-peeking a large reply on every read would cost O(n²) (an aggregate's Need is only one
// byte further). A reply still incomplete past holdThreshold is moved into held instead, and
// later reads only append their new bytes to it: each byte is copied once.
func (sc *ShardConn) OnTraffic(c gnet.Conn) gnet.Action {
	sc.reads++
	sc.loop.readAt = nanotime() // one clock read per read: the latency of every reply it completes
	if len(sc.held) > 0 {
		done, action := sc.feedHeld(c)
		if !done {
			return action
		}
	}
	if c.InboundBuffered() < sc.framer.Need() {
		return gnet.None // a large reply still arriving: don't rescan it
	}
	l := sc.loop
	buf, _ := c.Peek(-1)
	l.peeked.Add(uint64(len(buf)))
	off := 0
	for off < len(buf) {
		n, err := sc.framer.Frame(buf[off:])
		if err != nil {
			l.router.log.Error("backend bad reply", "addr", sc.Addr, "err", err)
			sc.badReply = "invalid reply from the node: " + err.Error()
			return gnet.Close
		}
		if n == 0 {
			if len(buf)-off >= holdThreshold {
				sc.held = append(sc.held[:0], buf[off:]...)
				l.copied.Add(uint64(len(buf) - off))
				off = len(buf)
			}
			break
		}
		if !sc.deliver(buf[off : off+n]) {
			return gnet.Close
		}
		off += n
	}
	if off > 0 {
		_, _ = c.Discard(off)
		sc.stats.bytesIn.Add(uint64(off))
	}
	return sc.afterReplies()
}

// feedHeld appends the bytes gnet read to the partial reply in held and frames it further. Once
// the reply is complete it is delivered, the bytes of it are discarded from gnet (whatever
// follows stays there) and done is true; otherwise every byte read is taken and action says
// what to do with the connection.
func (sc *ShardConn) feedHeld(c gnet.Conn) (done bool, action gnet.Action) {
	l := sc.loop
	in, _ := c.Peek(-1) // held took everything earlier: these are only new bytes, not copied by gnet
	if len(in) == 0 {
		return false, gnet.None
	}
	l.peeked.Add(uint64(len(in)))
	old := len(sc.held)
	var moved int
	sc.held, moved = codec.AppendDoubling(sc.held, in)
	l.moved.Add(uint64(moved))
	l.copied.Add(uint64(len(in)))
	n, err := sc.framer.Frame(sc.held)
	if err != nil {
		l.router.log.Error("backend bad reply", "addr", sc.Addr, "err", err)
		sc.badReply = "invalid reply from the node: " + err.Error()
		return false, gnet.Close
	}
	if n == 0 {
		_, _ = c.Discard(len(in))
		sc.stats.bytesIn.Add(uint64(len(in)))
		return false, gnet.None
	}
	_, _ = c.Discard(n - old) // n > old: held alone was incomplete
	sc.stats.bytesIn.Add(uint64(n - old))
	ok := sc.deliver(sc.held[:n])
	sc.held = sc.held[:0] // a large one is kept for the next large reply until the next tick
	if !ok {
		return false, gnet.Close
	}
	return true, gnet.None
}

// deliver hands one complete reply to the request at the head of the FIFO (or follows the
// redirect it is). False: no request waits for it, and the connection must close.
func (sc *ShardConn) deliver(reply []byte) bool {
	l := sc.loop
	if reply[0] == '>' {
		// A push (RESP3) is never the reply to a request slotgate forwards: subscriptions are
		// its own, and MONITOR and CLIENT TRACKING are not forwarded. One that comes anyway (an
		// invalidation another client redirected here) takes no FIFO slot: it is dropped.
		pushesDropped.Inc()
		return true
	}
	if sc.fifo.size == sc.unsent {
		l.router.log.Error("backend reply with no request waiting", "addr", sc.Addr)
		sc.badReply = "the node sent a reply with no request waiting"
		return false
	}
	var p pending
	sc.fifo.pop(&p)
	l.onWire--
	if p.slot != slotOwn && !p.blocking() {
		lat := l.readAt - p.sent
		sc.stats.lat.observe(lat)
		l.stats.fam[p.fam].observe(lat)
	}
	if reply[0] == '-' || reply[0] == '!' {
		sc.stats.errors.Add(1)
	}
	if reply[0] == '-' {
		k := classifyError(reply)
		countRedirect(k)
		if k == errMoved || k == errAsk || k == errTryAgain {
			sc.stats.redirects.Add(1)
		}
		if k != errOther && p.sink != nil && l.redirect(sc, &p, k, reply) {
			return true
		}
	}
	if p.sink != nil {
		p.sink.Deliver(p.seq, p.part, reply)
	}
	return true
}

// afterReplies drops answered requests and closes a retired connection once nothing waits on it.
func (sc *ShardConn) afterReplies() gnet.Action {
	sc.compact()
	if sc.retiring && sc.fifo.size == 0 {
		sc.state = stateClosing
		return gnet.Close
	}
	return gnet.None
}

// holdThreshold is the size from which a reply still arriving is moved out of gnet's buffer (see
// OnTraffic): below it, re-peeking costs at most a few loop reads' worth of copying.
const holdThreshold = 64 << 10

// compact drops the bytes of answered requests from buf.
func (sc *ShardConn) compact() {
	if sc.fifo.size == 0 {
		sc.reset()
		return
	}
	done := sc.fifo.at(0).start - sc.base
	if done > 4096 && done > int64(len(sc.buf))/2 {
		n := copy(sc.buf, sc.buf[done:])
		sc.buf = sc.buf[:n]
		sc.base += done
	}
}

// tick checks a silent node and requests past their timeout, and gives a large held buffer that
// is not in use back to the GC.
func (sc *ShardConn) tick(now int64) {
	if len(sc.held) == 0 && cap(sc.held) > maxIdleBuffer {
		sc.held = nil
	}
	l := sc.loop
	cfg := &l.router.cfg
	if sc.unsent > 0 && sc.state == stateOpen && now-sc.unsentSince > int64(unwrittenLimit) {
		sc.writeLost(now)
	}
	if sc.state == stateConnecting && now-sc.connectSince > int64(2*cfg.DialTimeout+time.Second) {
		// The dial goroutine reports a failure itself; this is the case it cannot see: gnet
		// accepted the connection for Enroll but never registered it (its OnOpen never ran).
		l.router.log.Warn("backend connection never opened on the event loop; dialling again", "addr", sc.Addr)
		sc.gen++ // a registration still under way is closed by OnOpen when it lands
		sc.dialFailed(errNeverOpened)
		return
	}
	onWire := sc.fifo.size - sc.unsent
	if onWire > 0 && sc.fifo.at(0).blocking() {
		// A blocked command waits as long as its own timeout says (0: for ever): silence is
		// what it asked for, and the requests behind it on its pin wait for it.
		sc.stallReads, sc.stallSince = sc.reads, now
		return
	}
	if sc.state != stateOpen || onWire == 0 || sc.reads != sc.stallReads || sc.stallSince == 0 {
		sc.stallReads, sc.stallSince = sc.reads, now
	} else if cfg.BackendStall > 0 && now-sc.stallSince > int64(cfg.BackendStall) {
		l.router.log.Warn("backend stalled; reconnecting", "addr", sc.Addr, "silent_for", cfg.BackendStall, "outstanding", onWire)
		backendStalls.Inc()
		sc.closeWhy = errTimeout(sc.Addr, cfg.BackendStall)
		sc.state = stateClosing
		_ = sc.conn.Close() // OnClose runs on the loop later
		return
	}
	timeout := time.Duration(l.router.reqTimeout.Load())
	if timeout <= 0 {
		return
	}
	for i := 0; i < onWire; i++ {
		p := sc.fifo.at(i)
		if l.mono-p.sent <= int64(timeout) {
			break
		}
		if p.sink != nil {
			requestTimeouts.Inc()
			p.sink.Deliver(p.seq, p.part, errTimeout(sc.Addr, timeout))
			p.sink = nil // an orphan: its reply, if it ever comes, is dropped
		}
	}
}

// unwrittenLimit is how long a request may sit queued on an open connection before a tick
// takes its flush for lost. A batch is written at the end of its callback or of the next round,
// so this only fires after a bug; it bounds what the bug costs.
const unwrittenLimit = 250 * time.Millisecond

// writeLost lists the connection for the next flush again, whatever its dirty mark says.
func (sc *ShardConn) writeLost(now int64) {
	sc.loop.router.log.Error("backend requests queued and not written; writing them", "addr", sc.Addr,
		"queued", sc.unsent, "age", time.Duration(now-sc.unsentSince).Round(time.Millisecond))
	flushesLost.Inc()
	sc.dirty = true
	sc.loop.markDirty(sc)
}

// retire takes the connection out of service: at once when nothing waits on it, else once the
// replies on their way have come (they may still say MOVED, and are then retried).
func (sc *ShardConn) retire() {
	sc.retiring = true
	switch sc.state {
	case stateOpen, stateClosing:
		if sc.fifo.size == 0 && sc.state == stateOpen {
			sc.state = stateClosing
			_ = sc.conn.Close() // OnClose runs on the loop later
		}
	default:
		sc.state = stateClosed
		sc.gen++ // a dial under way is dropped when it completes
		sc.parkAll()
	}
}

// helloReq switches a dedicated connection's protocol: [0] to RESP2, [1] to RESP3.
var helloReq = [2][]byte{
	codec.AppendCommand(nil, []byte("HELLO"), []byte("2")),
	codec.AppendCommand(nil, []byte("HELLO"), []byte("3")),
}

// b2i is 1 for true: the index of a protocol in per-protocol arrays (0: RESP2, 1: RESP3).
func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

var errNeverOpened = errors.New("connection never opened on the event loop")

// maxIdleBuffer is the largest buffer kept for reuse once empty; larger ones go back to the GC.
const maxIdleBuffer = 1 << 20

// maxIdleFifo is the most FIFO entries an empty connection keeps room for.
const maxIdleFifo = 4096
