package router

import (
	"context"
	"errors"
	"slices"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/slotgate/slotgate/internal/loopcount"
)

// Loop is one event loop's set of shard connections, its batch of unwritten requests and its
// parked requests. All of its methods run on that loop's goroutine unless they say otherwise.
type Loop struct {
	router    *Router
	el        gnet.EventLoop
	topo      *Topology
	gen       uint64                  // bumped whenever topo changes: the sessions' ordering barrier
	shards    [2][]*ShardConn         // [protocol: 0 RESP2, 1 RESP3] shard index in topo -> its master (dialled on first use)
	replicas  [2][][]*ShardConn       // [protocol] shard index -> READONLY connections to its replicas
	conns     map[connKey]*ShardConn  // every connection in service, by node and protocol
	draining  []*ShardConn            // retired, closing once their replies are in
	dirty     []*ShardConn            // connections with unwritten requests
	dirtyAlt  []*ShardConn            // the other dirty list: write swaps them
	writing   bool                    // write is running: a nested call leaves its work to it
	parked    []parkedReq             // requests waiting for an owner, in arrival order
	nParked   atomic.Int32            // len(parked), for the ticker
	poker     poker                   // the event loop: Poke asks gnet for a Flush after the next round
	rung      bool                    // poked: Flush is due after the next round
	idleBatch bool                    // requests queued while the loop was idle: written by EndCallback
	deferred  bool                    // the last Flush left the batch for one more round
	queued    int                     // requests appended since the last flush
	onWire    int                     // requests written and not yet answered, on every connection
	clock     int64                   // unix ns, updated by Tick
	mono      int64                   // nanotime at the last Tick: request timeouts (pending.sent)
	readAt    int64                   // nanotime of the backend read being handled: reply latency
	stats     loopStats               // counters summed at scrape time (stats.go)
	scratch   []byte                  // a request being retried
	keptSinks []Sink                  // retryParked: sinks with a request still parked
	rr        uint32                  // replica choice, round robin
	readFrom  ReadFrom                // the router's read policy as of the last sync
	spareBuf  []byte                  // one large request buffer kept between large requests (TakeSpare)
	spareAt   int64                   // when spareBuf was kept (loop clock)
	idle      map[string][]*ShardConn // pooled dedicated connections, by master (pin.go)
	pinned    []*ShardConn            // every dedicated connection of the loop, pooled or in use

	// Bytes of backend replies returned by Peek, copied into held buffers (ShardConn.held) and
	// moved when a held buffer grew: gnet copies what a Peek returns whenever bytes were left in
	// its buffer by an earlier read, so together they bound the copying a reply costs (ReplyCopies).
	peeked, copied, moved loopcount.Counter

	// Subscriber connections (subconn.go): the names subscribed upstream, one connection per node.
	subs     map[subKey]*subEntry
	subConns map[string]*SubConn
	subDirty []*SubConn // subscriber connections with commands to write at the callback's end
	subRetry bool       // a subscription waits for a node: Tick places it again
	subWant  []string   // scratch of place
	confirms []subKey   // Pushes.Subscribed calls to make (deliverConfirms)

	Owner any // the server's state for this loop
	// Pushes receives the messages of the loop's subscriber connections.
	Pushes Pushes
	// EndWork runs after work the router starts on the loop by itself (a topology change, a
	// failed dial): the server writes the replies it produced.
	EndWork func()
}

// connKey names one connection of a loop: a node, whether it is a READONLY replica link, and
// its protocol.
type connKey struct {
	addr    string
	replica bool
	resp3   bool
}

// poker is gnet's event loop with the Poke of slotgate's patch (third_party/gnet): after the
// I/O callbacks and tasks of the loop's next round, the engine's OnPoke runs once, which calls
// Flush. It allocates nothing and costs one eventfd write per round at most; the event loop
// has no other way back to the end of a round that does not allocate.
type poker interface{ Poke() error }

// ErrNoPoke: the gnet linked in lacks slotgate's patch (go.mod's replace directive was lost).
var ErrNoPoke = errors.New("router: gnet without Poke: build with go.mod's replace of gnet by third_party/gnet")

// NewLoop creates the state of event loop el. It runs on el's goroutine, whose engine must
// call Flush from its OnPoke.
func (r *Router) NewLoop(el gnet.EventLoop) (*Loop, error) {
	pk, ok := el.(poker)
	if !ok {
		return nil, ErrNoPoke
	}
	l := &Loop{router: r, el: el, poker: pk, conns: map[connKey]*ShardConn{}, idle: map[string][]*ShardConn{},
		clock: time.Now().UnixNano()}
	l.mono = nanotime()
	l.sync()
	r.addLoop(l)
	return l, nil
}

// Topology returns the topology this loop routes with, catching up with the router's first.
func (l *Loop) Topology() *Topology {
	if t := l.router.topo.Load(); t != l.topo {
		l.sync()
	}
	return l.topo
}

// Gen is the loop's topology generation: a session whose requests in flight were sent under
// another generation waits for their replies before sending more (they may be retried).
func (l *Loop) Gen() uint64 {
	l.Topology()
	return l.gen
}

// sync aligns the loop's connections with the router's current topology: connections to nodes
// still present are kept, new ones open on first use, the others drain and close.
func (l *Loop) sync() {
	t := l.router.topo.Load()
	if t == l.topo {
		return
	}
	l.topo = t
	l.gen++
	for pr := range l.shards {
		l.shards[pr] = l.shards[pr][:0]
		l.replicas[pr] = l.replicas[pr][:0]
	}
	l.readFrom = ReadFrom(l.router.readFrom.Load())
	if t == nil {
		return
	}
	keep := map[connKey]bool{}
	for pr, resp3 := range []bool{false, true} {
		for i, addr := range t.Masters {
			l.shards[pr] = append(l.shards[pr], l.connTo(addr, false, resp3))
			keep[connKey{addr, false, resp3}] = true
			var reps []*ShardConn
			if l.readFrom != ReadMaster && i < len(t.Replicas) {
				for _, ra := range t.Replicas[i] {
					reps = append(reps, l.connTo(ra, true, resp3))
					keep[connKey{ra, true, resp3}] = true
				}
			}
			l.replicas[pr] = append(l.replicas[pr], reps)
		}
	}
	for addr, idle := range l.idle {
		if !keep[connKey{addr, false, false}] { // no master any more: its pooled connections are no use
			for _, sc := range slices.Clone(idle) {
				l.dropDedicated(sc, false)
			}
		}
	}
	for k, sc := range l.conns {
		if !keep[k] {
			delete(l.conns, k)
			sc.retire()
			if sc.state != stateClosed {
				l.draining = append(l.draining, sc)
			}
		}
	}
	l.syncSubs() // shard channels follow their slot; subscriptions on lost masters move
}

// connTo returns the loop's connection to addr in a protocol (created idle: it dials on first
// use).
func (l *Loop) connTo(addr string, replica, resp3 bool) *ShardConn {
	k := connKey{addr, replica, resp3}
	sc := l.conns[k]
	if sc == nil {
		sc = &ShardConn{Addr: addr, replica: replica, resp3: resp3, loop: l, stats: l.statsFor(addr)}
		l.conns[k] = sc
	}
	return sc
}

// Kind says what the router may do with a request besides sending it to its slot's master.
type Kind uint32

const (
	// Read: -read-from may send it to a replica.
	Read Kind = 1 << iota
	// Script (EVAL, FCALL and their variants): an error reply may be the script's own return
	// value, not the node's verdict, so the request may have run. TRYAGAIN, CLUSTERDOWN and
	// LOADING go to the client, and MOVED/ASK are followed only when a refreshed topology agrees.
	Script
	// Owned: the caller gives req's memory up; a connection with nothing buffered keeps it as
	// its buffer instead of copying it (a request of many megabytes is then copied once less).
	Owned
	// Blocks: a blocking command (BLPOP...) sent on a pin that is not a blocking one (the
	// connection holding its client's WATCH): the node may be silent as long as its timeout says.
	Blocks
	// RESP3: the client speaks RESP3; the request goes on a RESP3 connection, whose replies are
	// passed through as they are.
	RESP3
)

// Send queues req (complete RESP bytes) for the node serving slot (SlotAny: any master); the
// reply goes to sink.Deliver with seq and part. The write happens at the loop's next flush; a
// request with no reachable owner waits for one within the retry window.
func (l *Loop) Send(slot int, req []byte, sink Sink, seq uint64, part int32, kind Kind) {
	l.sendToOwner(req, &pending{sink: sink, seq: seq, part: part, slot: int32(slot), read: kind&Read != 0,
		script: kind&Script != 0, owned: kind&Owned != 0, resp3: kind&RESP3 != 0, fam: Family(kind >> familyShift)})
}

// route picks the connection for a request of slot in a protocol: its master, or with
// -read-from a healthy replica of it for a read. nil when the slot has no master.
func (l *Loop) route(slot int32, read, resp3 bool) *ShardConn {
	t := l.topo
	if t == nil {
		return nil
	}
	shard := 0
	switch {
	case slot >= 0:
		shard = t.Shard(uint16(slot))
	case len(l.shards[0]) == 0:
		shard = -1
	}
	if shard < 0 {
		return nil
	}
	pr := b2i(resp3)
	if read && l.readFrom != ReadMaster {
		if sc := l.replicaOf(l.replicas[pr][shard]); sc != nil {
			return sc
		}
	}
	return l.shards[pr][shard]
}

// replicaOf picks a healthy one of a shard's replica connections, round robin; nil when none
// is (reads then go to the master). With prefer-replica the master takes its turn in the
// rotation too.
func (l *Loop) replicaOf(reps []*ShardConn) *ShardConn {
	n := len(reps)
	if l.readFrom == ReadPreferReplica {
		n++
	}
	for range n {
		l.rr++
		i := int(l.rr) % n
		if i == len(reps) {
			return nil // the master's turn
		}
		if sc := reps[i]; sc.state != stateDown && sc.state != stateClosing && sc.state != stateClosed {
			return sc
		}
	}
	return nil
}

// Tick runs the loop's timers: parked requests, silent nodes, request timeouts.
func (l *Loop) Tick(now time.Time) {
	ns := now.UnixNano()
	l.clock = ns
	l.mono = nanotime()
	if l.spareBuf != nil && ns-l.spareAt > int64(time.Second) {
		l.spareBuf = nil // no large request wanted it: back to the GC
	}
	if len(l.parked) > 0 {
		l.retryParked(ns)
	}
	for _, sc := range l.conns {
		sc.tick(ns)
	}
	for _, sc := range slices.Clone(l.pinned) { // a tick may drop one
		sc.tick(ns)
	}
	kept := l.draining[:0]
	for _, sc := range l.draining {
		if sc.state != stateClosed {
			sc.tick(ns)
			kept = append(kept, sc)
		}
	}
	clear(l.draining[len(kept):])
	l.draining = kept
	l.tickSubs()
	l.measureBuffers()
	l.publishStats()
}

// NeedsFastTick reports (from any goroutine) whether requests are parked: the ticker then runs
// Tick every few milliseconds instead of every 100 ms.
func (l *Loop) NeedsFastTick() bool { return l.nParked.Load() > 0 }

// Run implements gnet.Runnable: the router calls it on the loop after publishing a topology.
func (l *Loop) Run(context.Context) error {
	l.sync()
	if len(l.parked) > 0 {
		l.retryParked(time.Now().UnixNano())
	}
	l.endWork()
	return nil
}

func (l *Loop) endWork() {
	if l.EndWork != nil {
		l.EndWork()
	}
}

// TakeSpare returns an empty buffer of at least need bytes of capacity that a large request
// left behind once answered, or nil. A bulk loader's next large request then grows into it
// instead of allocating (and zeroing) a new one and moving its bytes on every doubling.
func (l *Loop) TakeSpare(need int) []byte {
	if cap(l.spareBuf) < need {
		return nil
	}
	b := l.spareBuf[:0]
	l.spareBuf = nil
	return b
}

// keepSpare keeps b (no longer used) as the spare if it is larger than the one kept.
func (l *Loop) keepSpare(b []byte) {
	if cap(b) > cap(l.spareBuf) && cap(b) <= maxSpare {
		l.spareBuf, l.spareAt = b[:0], l.clock
	}
}

// maxSpare bounds the spare buffer a loop keeps.
const maxSpare = 64 << 20

// markDirty records sc for the next flush and pokes the loop once per batch. When nothing is on
// the wire the loop is idle: no other client's request is on its way to join the batch, so it
// is written when the current callback ends (EndCallback), not a round later.
func (l *Loop) markDirty(sc *ShardConn) {
	l.dirty = append(l.dirty, sc)
	switch {
	case l.rung || l.idleBatch || l.writing:
	case l.onWire == 0:
		l.idleBatch = true
	default:
		l.ring()
	}
}

// EndCallback must run at the end of every callback that may have queued requests: it writes
// a batch started while the loop was idle.
func (l *Loop) EndCallback() {
	if len(l.subDirty) > 0 {
		l.flushSubs()
	}
	if l.idleBatch {
		l.idleBatch = false
		if !l.rung {
			l.write()
		}
	}
}

// Wake makes sure Flush (and the engine's OnPoke) runs after the next round of the loop.
func (l *Loop) Wake() {
	if !l.rung {
		l.ring()
	}
}

func (l *Loop) ring() {
	l.rung = true
	_ = l.Poke() // fails only when the eventfd does (or the engine stops): the tick's writeLost is the backstop
}

// Poke asks, from any goroutine, for the engine's OnPoke after the loop's next round (the
// server's ticker hands the loop its timers this way). It allocates nothing.
func (l *Loop) Poke() error { return l.poker.Poke() }

// Flush writes every dirty shard connection once; the engine calls it from OnPoke, after the
// I/O callbacks of the round that follows a poke, so a batch gathers what that round's
// callbacks added. A batch smaller than what is already at the backends waits for one more
// round: the replies on their way bring the next requests, so the masters get fewer, larger
// writes. It never waits twice in a row, and a lone caller (nothing else in flight) is never
// made to wait.
func (l *Loop) Flush() {
	if !l.rung {
		return // a poke for other work (the server's timers): no batch waits for it
	}
	l.rung = false
	if !l.deferred && l.queued < l.onWire {
		l.deferred = true
		flushesDeferred.Inc()
		l.ring()
		return
	}
	l.deferred = false
	l.write()
}

// write writes every dirty shard connection. A write that fails runs OnClose inside it, and
// what OnClose sends (the lost connection's replica reads, parked requests, a session it
// resumed) can dirty connections again, some already written in this pass: each pass takes the
// list and leaves an empty one for those, and passes repeat until no connection is dirty. A
// nested call (EndCallback at the end of that OnClose) leaves the work to the running one.
func (l *Loop) write() {
	if l.writing {
		return
	}
	l.writing = true
	for len(l.dirty) > 0 {
		batch := l.dirty
		l.dirty = l.dirtyAlt[:0]
		for i, sc := range batch {
			batch[i] = nil
			sc.flush()
		}
		l.dirtyAlt = batch[:0]
	}
	l.queued = 0
	l.writing = false
}
