package router

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/VictoriaMetrics/metrics"
	"github.com/slotgate/slotgate/codec"
)

// A Pin gives one client a dedicated connection to one master while its connection state lasts
// there: a transaction (WATCH, MULTI ... EXEC) or one blocking command. Dedicated connections
// are ShardConns like the shared ones (same loop, framing, FIFO and failure rules), taken from a
// per-loop, per-master idle pool and capped per master for the whole process (-max-dedicated).
//
// Where a pinned request goes:
//   - a transaction pin stays on its connection once anything was written on it (the node holds
//     the client's WATCH or MULTI); if that connection is lost the pin is lost, and every later
//     request on it gets an error instead of running outside its transaction;
//   - a blocking pin follows its slot: MOVED, ASK, TRYAGAIN, CLUSTERDOWN and UNBLOCKED (the node
//     turned replica) re-send the command, which did not run, on a connection to the new owner.
//
// No redirect is followed for a transaction: Redis Cluster answers MOVED while queuing and EXEC
// then answers EXECABORT, and the client must see exactly that.
type Pin struct {
	loop     *Loop
	sc       *ShardConn // the connection (nil until the first request finds an owner)
	slot     int32      // the slot that chose the node (SlotAny: the first master)
	blocking bool       // a blocking command's pin: it may move, and is never reset
	wrote    bool       // a request was written on sc: the node holds state for this client
	lost     bool       // sc was lost after a write: the client's state on the node is gone
	done     bool       // released or closed: nothing more is sent on it
}

// Pin returns a dedicated pin for requests of slot (SlotAny: the first master). The
// connection is taken at the first Send, so the pin follows a slot still without an owner.
func (l *Loop) Pin(slot int, blocking bool) *Pin {
	return &Pin{loop: l, slot: int32(slot), blocking: blocking}
}

// Send queues req on the pin's connection; the reply goes to sink.Deliver as for Loop.Send.
func (p *Pin) Send(req []byte, sink Sink, seq uint64, part int32, kind Kind) {
	p.loop.sendToOwner(req, &pending{sink: sink, seq: seq, part: part, slot: p.slot, pin: p,
		script: kind&Script != 0, owned: kind&Owned != 0, blocks: kind&Blocks != 0, resp3: kind&RESP3 != 0,
		fam: Family(kind >> familyShift)})
}

// Addr returns the node the pin is on ("" before its first request found one).
func (p *Pin) Addr() string {
	if p.sc == nil {
		return ""
	}
	return p.sc.Addr
}

// Lost reports that the pin's connection closed after a request was written on it.
func (p *Pin) Lost() bool { return p.lost }

// Release ends the pin cleanly (EXEC, DISCARD, UNWATCH sent, or the blocking command answered):
// the connection goes back to the pool once the replies still due on it have come (they go to
// their sinks as usual). A transaction's connection is reset first (RESET, then AUTH again), so
// no WATCH, MULTI or other state can reach the next client.
func (p *Pin) Release() {
	if p.done {
		return
	}
	p.done = true
	sc := p.sc
	if sc == nil {
		return
	}
	sc.pin = nil
	l := p.loop
	if p.lost || sc.retiring || sc.state != stateOpen && sc.state != stateConnecting {
		l.dropDedicated(sc, false)
		return
	}
	if !p.blocking {
		for _, r := range l.router.resetReqs {
			sc.enqueue(r, &pending{slot: slotOwn})
		}
		sc.resp3 = false // RESET returns it to RESP2; the next client's first request switches it
	}
	idle := l.idle[sc.Addr]
	if len(idle) >= maxIdleDedicated {
		l.dropDedicated(sc, false)
		return
	}
	l.idle[sc.Addr] = append(idle, sc)
	dedicatedIdle.Inc()
}

// Close ends the pin of a client that left while its state lasted (blocked, or inside WATCH or
// MULTI): the connection is closed at once, never pooled. A blocked command must not pop an
// element after its client has gone.
func (p *Pin) Close() {
	if p.done {
		return
	}
	p.done = true
	if sc := p.sc; sc != nil {
		sc.pin = nil
		p.loop.dropDedicated(sc, true)
	}
}

// target returns the connection for a request of p (nil: wait for an owner), or the error its
// request gets instead.
func (p *Pin) target() (*ShardConn, []byte) {
	l := p.loop
	switch {
	case p.lost:
		return nil, errPinLost(p.sc.Addr)
	case p.done && p.sc == nil:
		return nil, errPinLost("")
	case p.done:
		// A request of a released pin retried (its connection failed before writing it): the
		// RESET queued behind it at Release was dropped, so it must not go out again, where it
		// would leave its state to the connection's next client.
		return nil, errPinLost(p.sc.Addr)
	case p.sc != nil && !p.blocking && (p.wrote || p.sc.fifo.size > 0):
		// Written, or queued there still: a later request on another node would split the
		// transaction (the WATCH on one, MULTI ... EXEC on the other, or out of order).
		if p.sc.state == stateClosed {
			return nil, errPinLost(p.sc.Addr)
		}
		return p.sc, nil // the node holds this client's state: it stays there
	}
	t := l.Topology()
	if t == nil {
		return nil, nil
	}
	var owner string
	if p.slot >= 0 {
		owner = t.Owner(uint16(p.slot))
	} else if len(t.Masters) > 0 {
		owner = t.Masters[0]
	}
	if owner == "" {
		return nil, nil
	}
	return p.moveTo(owner)
}

// moveTo puts the pin on a connection to addr: the one it has, or one from the pool.
func (p *Pin) moveTo(addr string) (*ShardConn, []byte) {
	if sc := p.sc; sc != nil {
		if sc.Addr == addr && sc.state != stateClosed && sc.state != stateClosing {
			return sc, nil
		}
		sc.pin = nil
		p.sc = nil
		p.loop.dropDedicated(sc, false) // it answered (a redirect) or never wrote: nothing waits on it
	}
	sc := p.loop.takeDedicated(addr)
	if sc == nil {
		dedicatedRefused.Inc()
		r := p.loop.router
		if ok, n := r.dedicatedLog.Allow(); ok {
			r.log.Warn("limit hit: max dedicated backend connections", "addr", addr, "max_dedicated", r.cfg.MaxDedicated, "not_logged", n)
		}
		return nil, errMaxDedicated(addr, r.cfg.MaxDedicated)
	}
	sc.pin = p
	p.sc = sc
	return sc, nil
}

// takeDedicated returns an idle pooled connection to addr, or a new one within the cap.
func (l *Loop) takeDedicated(addr string) *ShardConn {
	idle := l.idle[addr]
	for len(idle) > 0 {
		sc := idle[len(idle)-1]
		idle[len(idle)-1] = nil
		idle = idle[:len(idle)-1]
		l.idle[addr] = idle
		dedicatedIdle.Dec()
		if sc.state != stateClosed && sc.state != stateClosing && sc.state != stateDown && !sc.retiring {
			return sc
		}
		l.dropDedicated(sc, false)
	}
	n := l.router.dedicatedCount(addr)
	if n.Add(1) > int32(l.router.cfg.MaxDedicated) {
		n.Add(-1)
		return nil
	}
	dedicatedConns.Inc()
	dedicatedDials.Inc()
	sc := &ShardConn{Addr: addr, loop: l, dedicated: true, quota: n, stats: l.statsFor(addr)}
	l.pinned = append(l.pinned, sc)
	return sc
}

// dropDedicated takes a dedicated connection out of service: closed once the replies due on it
// have come, or at once with now (a client that left while blocked: its reply must not pop).
func (l *Loop) dropDedicated(sc *ShardConn, now bool) {
	if now && (sc.state == stateOpen || sc.state == stateClosing) && sc.conn != nil {
		sc.retiring = true
		sc.state = stateClosing
		_ = sc.conn.Close() // OnClose runs on the loop later and finishes the job
		return
	}
	sc.retire()
	if sc.state == stateClosed {
		l.forgetDedicated(sc)
	}
}

// forgetDedicated releases the cap share of a dedicated connection that is closed for good.
func (l *Loop) forgetDedicated(sc *ShardConn) {
	if sc.quota == nil {
		return
	}
	sc.quota.Add(-1)
	sc.quota = nil
	dedicatedConns.Dec()
	for i, x := range l.pinned {
		if x == sc {
			l.pinned[i] = l.pinned[len(l.pinned)-1]
			l.pinned[len(l.pinned)-1] = nil
			l.pinned = l.pinned[:len(l.pinned)-1]
			break
		}
	}
	idle := l.idle[sc.Addr]
	for i, x := range idle {
		if x == sc {
			l.idle[sc.Addr] = append(idle[:i], idle[i+1:]...)
			dedicatedIdle.Dec()
			break
		}
	}
}

// dedicatedCount returns the process-wide count of dedicated connections to addr.
func (r *Router) dedicatedCount(addr string) *atomic.Int32 {
	r.dedMu.Lock()
	defer r.dedMu.Unlock()
	n := r.dedicated[addr]
	if n == nil {
		n = new(atomic.Int32)
		r.dedicated[addr] = n
	}
	return n
}

// DedicatedConns returns how many dedicated connections to addr the process holds (tests,
// diagnostics). Any goroutine.
func (r *Router) DedicatedConns(addr string) int {
	return int(r.dedicatedCount(addr).Load())
}

// buildResetReqs is what a transaction's connection is sent before it is pooled: RESET drops
// MULTI, WATCH, the name and every other connection state, and also the authentication, so AUTH
// follows it.
func buildResetReqs(user, password string) [][]byte {
	reqs := [][]byte{codec.AppendCommand(nil, []byte("RESET"))}
	switch {
	case password != "" && user != "":
		reqs = append(reqs, codec.AppendCommand(nil, []byte("AUTH"), []byte(user), []byte(password)))
	case password != "":
		reqs = append(reqs, codec.AppendCommand(nil, []byte("AUTH"), []byte(password)))
	}
	return reqs
}

// maxIdleDedicated bounds the idle dedicated connections a loop keeps per master.
const maxIdleDedicated = 16

// DefaultMaxDedicated is the default cap of dedicated connections per master (-max-dedicated).
const DefaultMaxDedicated = 256

type dedicatedState struct {
	dedMu     sync.Mutex
	dedicated map[string]*atomic.Int32 // per master address: dedicated connections of the process
}

func errPinLost(addr string) []byte {
	if addr == "" {
		return codec.AppendError(nil, "ERR slotgate: this client's dedicated connection was released")
	}
	return codec.AppendError(nil, fmt.Sprintf("ERR slotgate lost the dedicated connection to node %s: its transaction state (MULTI/WATCH) is gone", addr))
}

func errMaxDedicated(addr string, max int) []byte {
	return codec.AppendError(nil, fmt.Sprintf("ERR max dedicated backend connections reached (%d to node %s; -max-dedicated)", max, addr))
}

var (
	dedicatedConns   = metrics.NewGauge(`slotgate_dedicated_connections`, nil)
	dedicatedIdle    = metrics.NewGauge(`slotgate_dedicated_connections_idle`, nil)
	dedicatedDials   = metrics.NewCounter(`slotgate_dedicated_dials_total`)
	dedicatedRefused = metrics.NewCounter(`slotgate_dedicated_refused_total`)
)
