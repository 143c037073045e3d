package router

import (
	"math/rand/v2"
	"slices"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/panjf2000/gnet/v2"
	"github.com/slotgate/slotgate/codec"
	"github.com/slotgate/slotgate/router/slot"
)

// Subscriptions are multiplexed (DESIGN "Pinned and multiplexed state"): per loop, one subscriber
// connection per node carries the union of the loop's channels, patterns and shard channels
// placed on that node. The server counts its sessions per channel and asks the loop to subscribe
// a name when its first local subscriber arrives and to unsubscribe it when the last one leaves;
// the loop decides where the name lives and keeps it there across failover and migration.
//
// A subscriber connection is a stream, not a pipeline: frames are read in arrival order, messages
// go to the loop's Pushes, and acknowledgements are only matched by kind and name against the
// commands sent (one name per command), so an unsolicited sunsubscribe (the node lost the slot)
// is told apart from the answer to slotgate's own SUNSUBSCRIBE.

// SubKind is the kind of a subscription.
type SubKind uint8

const (
	SubChannel SubKind = iota // SUBSCRIBE: routed by the channel's slot; messages reach every node
	SubPattern                // PSUBSCRIBE: one node, chosen by the pattern's slot
	SubShard                  // SSUBSCRIBE: the owner of the channel's slot, following it
	subKinds
)

// Pushes receives the messages read by a loop's subscriber connections. It runs on the loop's
// goroutine; the slices alias the loop's read buffer and are valid only during the call. pattern
// is nil except for SubPattern.
type Pushes interface {
	Message(kind SubKind, pattern, channel, payload []byte)
	// Subscribed says that name is subscribed upstream (its node acknowledged; on every master for
	// a node-local name), or that it could not be for now and is being retried: either way the
	// server may answer the clients that wait for it. A client that got its ack through slotgate
	// then hears every message published after it, as on one Redis.
	Subscribed(kind SubKind, name []byte)
}

// NodeLocal reports a keyspace or keyevent notification channel or pattern: each node publishes
// those of its own keys only, so they are subscribed on every master and merged.
func NodeLocal(kind SubKind, name []byte) bool {
	if kind == SubShard {
		return false
	}
	return hasPrefix(name, "__keyspace@") || hasPrefix(name, "__keyevent@")
}

type subKey struct {
	kind SubKind
	name string
}

// subEntry is one name the loop subscribes upstream.
type subEntry struct {
	key   subKey
	local bool       // node-local: on every master
	on    []*SubConn // the connections it is subscribed (or being subscribed) on
	// A node that said sunsubscribe for this shard channel (its slot left) is not chosen again
	// before avoidUntil unless the topology names another owner.
	avoid      string
	avoidUntil int64
	confirmed  bool // Pushes.Subscribed was called
	acks       int  // acknowledgements received (node-local: one per master)
}

// ackWait is one acknowledgement a subscriber connection waits for.
type ackWait struct {
	kind  SubKind
	unsub bool
	ping  bool // slotgate's PING: answered ["pong", ""]
	name  string
}

// SubConn is one loop's subscriber connection to one node. Owned by the loop's goroutine.
type SubConn struct {
	Addr    string
	loop    *Loop
	conn    gnet.Conn
	state   connState
	out     []byte    // commands not written yet
	acks    []ackWait // acknowledgements expected, in order; acks[ackHead:] are outstanding
	ackHead int
	framer  codec.ReplyFramer
	elems   [][]byte
	gen     uint32
	n       int // entries placed here
	dirty   bool
	backoff time.Duration
	retryAt int64
	since   int64 // when the current dial began
	readAt  int64 // loop clock of the last frame read (or of the open)
	pingAt  int64 // loop clock of slotgate's PING waiting for its pong (0: none)
}

// Loop returns the loop that owns this connection.
func (sc *SubConn) Loop() *Loop { return sc.loop }

// Subscribe subscribes name upstream (the loop's first local subscriber of it). Loop goroutine.
func (l *Loop) Subscribe(kind SubKind, name []byte) {
	if l.subs == nil {
		l.subs = map[subKey]*subEntry{}
	}
	if _, ok := l.subs[subKey{kind, string(name)}]; ok {
		return
	}
	k := subKey{kind, string(name)}
	e := &subEntry{key: k, local: NodeLocal(kind, name)}
	l.subs[k] = e
	upstreamSubs.Inc()
	l.place(e, time.Now().UnixNano())
	l.deliverConfirms()
}

// confirm queues Pushes.Subscribed for e (delivered by deliverConfirms once the loop's state is
// consistent: the server's answer may write to a client, and a failed write closes it).
func (l *Loop) confirm(e *subEntry) {
	if !e.confirmed {
		e.confirmed = true
		l.confirms = append(l.confirms, e.key)
	}
}

func (l *Loop) deliverConfirms() {
	for len(l.confirms) > 0 {
		q := l.confirms
		l.confirms = nil
		for _, k := range q {
			if l.Pushes != nil {
				l.Pushes.Subscribed(k.kind, []byte(k.name))
			}
		}
	}
}

// Unsubscribe drops name upstream (its last local subscriber left). Loop goroutine.
func (l *Loop) Unsubscribe(kind SubKind, name []byte) {
	e := l.subs[subKey{kind, string(name)}]
	if e == nil {
		return
	}
	delete(l.subs, e.key)
	upstreamSubs.Dec()
	for _, sc := range e.on {
		sc.unsubscribe(e)
	}
	e.on = nil
}

// want returns the addresses e should be subscribed on under the loop's topology.
func (l *Loop) want(e *subEntry, now int64, dst []string) []string {
	t := l.topo
	if t == nil || len(t.Masters) == 0 {
		return dst
	}
	if e.local {
		return append(dst, t.Masters...)
	}
	if e.key.kind != SubShard && len(e.on) == 1 && slices.Contains(t.Masters, e.on[0].Addr) {
		return append(dst, e.on[0].Addr) // classic channels and patterns stay while their node is a master
	}
	sh := t.Shard(slot.Of([]byte(e.key.name)))
	if sh < 0 {
		return dst
	}
	addr := t.Masters[sh]
	if addr == e.avoid && now < e.avoidUntil {
		return dst
	}
	return append(dst, addr)
}

// place subscribes e where it belongs and unsubscribes it where it no longer does. What cannot
// be placed now (no owner, node down) is retried by Tick.
func (l *Loop) place(e *subEntry, now int64) {
	want := l.want(e, now, l.subWant[:0])
	l.subWant = want
	kept := e.on[:0]
	for _, sc := range e.on {
		if slices.Contains(want, sc.Addr) {
			kept = append(kept, sc)
		} else {
			sc.unsubscribe(e)
		}
	}
	clear(e.on[len(kept):])
	e.on = kept
	placed := len(kept)
	for _, addr := range want {
		if slices.ContainsFunc(e.on, func(sc *SubConn) bool { return sc.Addr == addr }) {
			continue
		}
		sc := l.subConnTo(addr)
		if !sc.usable(now) {
			continue
		}
		sc.subscribe(e)
		e.on = append(e.on, sc)
		placed++
	}
	if placed < len(want) || len(want) == 0 {
		l.subRetry = true
		l.confirm(e) // not now: the client's ack need not wait for the retry
	}
}

// syncSubs re-places every subscription after a topology change or a lost connection, and
// closes subscriber connections to nodes that are no longer masters.
func (l *Loop) syncSubs() {
	if len(l.subs) == 0 && len(l.subConns) == 0 {
		return
	}
	now := time.Now().UnixNano()
	l.subRetry = false
	for _, e := range l.subs {
		l.place(e, now)
	}
	for addr, sc := range l.subConns {
		if sc.n == 0 && (l.topo == nil || !slices.Contains(l.topo.Masters, addr)) {
			delete(l.subConns, addr)
			sc.shut()
		}
	}
	l.flushSubs()
	l.deliverConfirms()
}

// tickSubs retries subscriptions that have no node yet.
func (l *Loop) tickSubs() {
	now := time.Now().UnixNano()
	stall := l.router.cfg.BackendStall
	every := subPingEvery // with -backend-stall off (negative) too: max(stall, ...) would be 50 ms
	if stall > 0 {
		every = min(subPingEvery, max(stall, minSubPing))
	}
	for _, sc := range l.subConns {
		switch {
		case sc.state == stateConnecting && now-sc.since > int64(2*l.router.cfg.DialTimeout+time.Second):
			// gnet accepted the connection for Enroll but never opened it (see ShardConn.tick).
			sc.gen++ // a registration still under way is closed by OnOpen when it lands
			sc.lost()
		case sc.state != stateOpen:
		case sc.pingAt != 0 && stall > 0 && now-sc.pingAt > int64(stall):
			// A node that hangs (or a path that silently dropped) sends no FIN: a subscriber
			// connection that does not answer its PING is rebuilt and its channels subscribed again.
			l.router.log.Warn("subscriber connection stalled; reconnecting", "addr", sc.Addr, "silent_for", stall)
			backendStalls.Inc()
			_ = sc.conn.Close() // OnClose: lost, then subscribed again
		case sc.pingAt == 0 && now-sc.readAt > int64(every):
			sc.pingAt = now
			sc.out = append(sc.out, "*1\r\n$4\r\nPING\r\n"...)
			sc.acks = append(sc.acks, ackWait{ping: true})
			if !sc.dirty {
				sc.dirty = true
				l.subDirty = append(l.subDirty, sc)
			}
		}
	}
	if l.subRetry {
		l.syncSubs()
	}
	l.flushSubs()
}

// A silent subscriber connection is pinged this often (-backend-stall when shorter, not below
// minSubPing); an unanswered PING past -backend-stall rebuilds it.
const (
	subPingEvery = 5 * time.Second
	minSubPing   = 50 * time.Millisecond
)

func (l *Loop) subConnTo(addr string) *SubConn {
	if l.subConns == nil {
		l.subConns = map[string]*SubConn{}
	}
	sc := l.subConns[addr]
	if sc == nil {
		sc = &SubConn{Addr: addr, loop: l}
		l.subConns[addr] = sc
	}
	return sc
}

// flushSubs writes the commands queued on subscriber connections (at the end of a callback).
func (l *Loop) flushSubs() {
	// A failed write runs OnClose, which may place subscriptions again and dirty connections:
	// each pass takes the list, so those are written by the next pass.
	for len(l.subDirty) > 0 {
		batch := l.subDirty
		l.subDirty = nil
		for _, sc := range batch {
			sc.dirty = false
			if sc.state == stateOpen && len(sc.out) > 0 {
				out := sc.out
				sc.out = nil
				_, _ = sc.conn.Write(out) // gnet keeps what the socket did not take; a failure runs OnClose
				if sc.out == nil {
					sc.out = out[:0]
				}
			}
		}
	}
}

// usable reports whether commands queued now will be written without waiting for a backoff.
func (sc *SubConn) usable(now int64) bool {
	return sc.state != stateClosing && sc.state != stateClosed && (sc.state != stateDown || now >= sc.retryAt)
}

func (sc *SubConn) queue(kind SubKind, unsub bool, name string) {
	var cmd string
	switch kind {
	case SubChannel:
		cmd = "SUBSCRIBE"
	case SubPattern:
		cmd = "PSUBSCRIBE"
	default:
		cmd = "SSUBSCRIBE"
	}
	if unsub {
		cmd = cmd[:len(cmd)-9] + "UNSUBSCRIBE"
	}
	sc.out = codec.AppendArrayLen(sc.out, 2)
	sc.out = codec.AppendBulkString(sc.out, cmd)
	sc.out = codec.AppendBulkString(sc.out, name)
	sc.acks = append(sc.acks, ackWait{kind: kind, unsub: unsub, name: name})
	if sc.state == stateDown || sc.state == stateIdle {
		sc.connect()
	}
	if !sc.dirty && sc.state == stateOpen {
		sc.dirty = true
		sc.loop.subDirty = append(sc.loop.subDirty, sc)
	}
}

func (sc *SubConn) subscribe(e *subEntry) {
	sc.n++
	sc.queue(e.key.kind, false, e.key.name)
}

func (sc *SubConn) unsubscribe(e *subEntry) {
	sc.n--
	if sc.state == stateOpen || sc.state == stateConnecting {
		sc.queue(e.key.kind, true, e.key.name)
	}
}

// connect dials off the loop and enrolls the connection into it, as ShardConn.connect does.
func (sc *SubConn) connect() {
	sc.state = stateConnecting
	sc.since = time.Now().UnixNano()
	sc.gen++
	gen := sc.gen
	sc.loop.enrollDialled(sc.Addr, false, false, sc, func(err error) {
		if sc.gen == gen && sc.state == stateConnecting {
			if sc.backoff == 0 { // once per outage
				sc.loop.router.log.Warn("subscriber connection dial failed", "addr", sc.Addr, "err", err)
			}
			sc.lost()
		}
	})
}

// lost takes every subscription off this connection (it closed or never opened) and has them
// placed again after a short backoff: by Tick, or at once when a topology change moves them.
func (sc *SubConn) lost() {
	l := sc.loop
	sc.out = sc.out[:0]
	sc.acks, sc.ackHead = sc.acks[:0], 0
	sc.framer.Reset()
	sc.n = 0
	sc.conn = nil
	if sc.state == stateClosing || sc.state == stateClosed {
		sc.state = stateClosed
		return
	}
	sc.backoff = min(max(2*sc.backoff, minBackoff), maxBackoff)
	sc.state = stateDown
	sc.retryAt = time.Now().Add(sc.backoff/2 + rand.N(sc.backoff)).UnixNano()
	l.router.noteDown(sc.Addr)
	for _, e := range l.subs {
		if i := slices.Index(e.on, sc); i >= 0 {
			e.on = slices.Delete(e.on, i, i+1)
			l.confirm(e)
		}
	}
	l.router.Refresh()
	l.subRetry = true
	l.deliverConfirms()
}

// shut closes a connection no subscription uses any more.
func (sc *SubConn) shut() {
	switch sc.state {
	case stateOpen:
		sc.state = stateClosing
		_ = sc.conn.Close()
	default:
		sc.state = stateClosed
		sc.gen++
	}
}

// OnOpen runs on the loop when the enrolled connection is ready: the queued commands go out.
func (sc *SubConn) OnOpen(c gnet.Conn) gnet.Action {
	if sc.state != stateConnecting {
		return gnet.Close // shut meanwhile
	}
	sc.conn = c
	sc.state = stateOpen
	sc.backoff = 0
	sc.readAt, sc.pingAt = time.Now().UnixNano(), 0
	subConnsOpen.Inc()
	sc.loop.router.noteUp(sc.Addr)
	if len(sc.out) > 0 && !sc.dirty {
		sc.dirty = true
		sc.loop.subDirty = append(sc.loop.subDirty, sc)
	}
	return gnet.None
}

// OnClose runs on the loop when the connection is gone: its subscriptions move (or come back).
// With stopping (the server is shutting down) nothing is subscribed again.
func (sc *SubConn) OnClose(c gnet.Conn, err error, stopping bool) {
	if sc.conn != c {
		return
	}
	subConnsOpen.Dec()
	if stopping {
		sc.state = stateClosing
	}
	if sc.state != stateClosing {
		sc.loop.router.log.Warn("subscriber connection lost; subscribing its channels again", "addr", sc.Addr, "err", err)
	}
	// Dialled again after a short backoff (by Tick, or at once when the topology moves its
	// channels elsewhere): a node that keeps closing the connection is not hammered.
	sc.lost()
}

// OnTraffic reads frames in arrival order: messages go to the loop's Pushes, acknowledgements are
// matched against the commands sent.
func (sc *SubConn) OnTraffic(c gnet.Conn) gnet.Action {
	sc.readAt = sc.loop.clock
	if c.InboundBuffered() < sc.framer.Need() {
		return gnet.None // a large message still arriving
	}
	buf, _ := c.Peek(-1)
	off := 0
	for off < len(buf) {
		n, err := sc.framer.Frame(buf[off:])
		if err != nil {
			sc.loop.router.log.Error("subscriber connection bad frame", "addr", sc.Addr, "err", err)
			return gnet.Close
		}
		if n == 0 {
			break
		}
		sc.frame(buf[off : off+n])
		off += n
	}
	if off > 0 {
		_, _ = c.Discard(off)
	}
	sc.loop.deliverConfirms()
	return gnet.None
}

// frame handles one complete frame.
func (sc *SubConn) frame(f []byte) {
	l := sc.loop
	if f[0] == '-' {
		// An error answers the command at the head (one name per command): that name is not
		// subscribed there. MOVED (an SSUBSCRIBE to a node that lost the slot) refreshes first.
		if sc.ackHead < len(sc.acks) {
			a := sc.popAck()
			if ok, n := l.router.subErrLog.Allow(); ok { // a client can ask for refused channels at will
				l.router.log.Warn("subscription refused by the node", "addr", sc.Addr, "command", kindName(a.kind, a.unsub),
					"channel", a.name, "err", string(codec.ErrorText(f)), "not_logged", n)
			}
			if !a.unsub {
				sc.drop(a.kind, a.name, time.Now().Add(avoidFor).UnixNano())
			}
		}
		if classifyError(f) != errOther {
			l.router.Refresh()
		}
		return
	}
	if f[0] == '+' {
		// +PONG: a connection with nothing subscribed any more is out of pub/sub mode, and
		// answers slotgate's PING as any connection does.
		if sc.ackHead < len(sc.acks) && sc.acks[sc.ackHead].ping {
			sc.popAck()
			sc.pingAt = 0
		}
		return
	}
	var err error
	sc.elems, err = codec.ArrayElems(f, sc.elems[:0])
	if err != nil || len(sc.elems) < 2 {
		return
	}
	kind, _ := codec.BulkText(sc.elems[0])
	arg, _ := codec.BulkText(sc.elems[1])
	switch {
	case len(sc.elems) == 3 && string(kind) == "message":
		payload, _ := codec.BulkText(sc.elems[2])
		sc.push(SubChannel, nil, arg, payload)
		return
	case len(sc.elems) == 4 && string(kind) == "pmessage":
		ch, _ := codec.BulkText(sc.elems[2])
		payload, _ := codec.BulkText(sc.elems[3])
		sc.push(SubPattern, arg, ch, payload)
		return
	case len(sc.elems) == 3 && string(kind) == "smessage":
		payload, _ := codec.BulkText(sc.elems[2])
		sc.push(SubShard, nil, arg, payload)
		return
	}
	if string(kind) == "pong" {
		if sc.ackHead < len(sc.acks) && sc.acks[sc.ackHead].ping {
			sc.popAck()
			sc.pingAt = 0
		}
		return
	}
	k, unsub, ok := ackKind(kind)
	if !ok {
		return // anything newer
	}
	if sc.ackHead < len(sc.acks) {
		if a := sc.acks[sc.ackHead]; a.kind == k && a.unsub == unsub && a.name == string(arg) {
			sc.popAck()
			if e := l.subs[subKey{k, a.name}]; e != nil && !unsub && !e.confirmed {
				e.acks++
				if !e.local || l.topo == nil || e.acks >= len(l.topo.Masters) {
					l.confirm(e)
				}
			}
			return
		}
	}
	if k == SubShard && unsub {
		// The node lost the slot (migration, failover): the channel goes to the new owner. The
		// client never sees this; messages published meanwhile are lost (at most once).
		shardMoves.Inc()
		sc.drop(SubShard, string(arg), time.Now().Add(avoidFor).UnixNano())
		l.router.Refresh()
		return
	}
	if ok, n := l.router.subErrLog.Allow(); ok {
		l.router.log.Warn("subscriber connection: unexpected frame", "addr", sc.Addr, "kind", string(kind), "arg", string(arg), "not_logged", n)
	}
}

// avoidFor is how long a node that dropped a shard channel is not asked again while the
// topology still names it (the refresh it triggers usually names the new owner within ms).
const avoidFor = time.Second

func (sc *SubConn) popAck() ackWait {
	a := sc.acks[sc.ackHead]
	sc.acks[sc.ackHead] = ackWait{}
	sc.ackHead++
	switch {
	case sc.ackHead == len(sc.acks):
		sc.acks, sc.ackHead = sc.acks[:0], 0
	case sc.ackHead >= 1024 && sc.ackHead >= len(sc.acks)/2:
		// Acks that never all drain (steady subscribe churn) must not grow the slice for ever.
		n := copy(sc.acks, sc.acks[sc.ackHead:])
		clear(sc.acks[n:])
		sc.acks, sc.ackHead = sc.acks[:n], 0
	}
	return a
}

// drop notes that the entry of (kind, name) is not subscribed on sc any more and has it placed
// again (by Tick, or at once by the next topology change).
func (sc *SubConn) drop(kind SubKind, name string, avoidUntil int64) {
	l := sc.loop
	e := l.subs[subKey{kind, name}]
	if e == nil {
		return
	}
	i := slices.Index(e.on, sc)
	if i < 0 {
		return
	}
	e.on = slices.Delete(e.on, i, i+1)
	sc.n--
	l.confirm(e)
	if avoidUntil != 0 {
		e.avoid, e.avoidUntil = sc.Addr, avoidUntil
	}
	l.subRetry = true
}

func (sc *SubConn) push(kind SubKind, pattern, channel, payload []byte) {
	if p := sc.loop.Pushes; p != nil {
		p.Message(kind, pattern, channel, payload)
	}
}

func ackKind(b []byte) (SubKind, bool, bool) {
	switch string(b) {
	case "subscribe":
		return SubChannel, false, true
	case "unsubscribe":
		return SubChannel, true, true
	case "psubscribe":
		return SubPattern, false, true
	case "punsubscribe":
		return SubPattern, true, true
	case "ssubscribe":
		return SubShard, false, true
	case "sunsubscribe":
		return SubShard, true, true
	}
	return 0, false, false
}

func kindName(k SubKind, unsub bool) string {
	n := [...]string{"SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE"}[k]
	if unsub {
		return n[:len(n)-9] + "UNSUBSCRIBE"
	}
	return n
}

// Metrics.
var (
	subConnsOpen = metrics.NewGauge(`slotgate_pubsub_backend_connections`, nil)
	upstreamSubs = metrics.NewGauge(`slotgate_pubsub_upstream_subscriptions`, nil)
	shardMoves   = metrics.NewCounter(`slotgate_pubsub_shard_channels_moved_total`)
)
