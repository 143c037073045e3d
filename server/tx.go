package server

import (
	"github.com/VictoriaMetrics/metrics"
	"github.com/slotgate/slotgate/codec"
	"github.com/slotgate/slotgate/router"
	"github.com/slotgate/slotgate/router/slot"
)

// Transactions and blocking commands hold connection state on one node, so they travel on a
// dedicated connection (a router.Pin) for as long as the state lasts, never on a shared
// pipeline:
//
//	txNone ──WATCH──▶ txWatching ──MULTI──▶ txQueuing ──EXEC/DISCARD──▶ txNone
//	txNone ──MULTI (answered here)──▶ txQueuing
//	txWatching ──UNWATCH──▶ txNone;  any state ──RESET / client close──▶ txNone
//
// WATCH pins the client to its key's node at once. MULTI without WATCH is answered here and
// sent, with the keyless commands queued after it (PING, ECHO, TIME), ahead of the first keyed
// command, which picks the node. Nothing queued is redirected: a MOVED while queuing reaches the
// client and EXEC answers EXECABORT, as Redis Cluster does. A blocking command (BLPOP, XREAD
// BLOCK...) takes a pin of its own for as long as it is blocked.
type txState uint8

const (
	txNone     txState = iota
	txWatching         // WATCH sent on txPin; not in MULTI
	txQueuing          // in MULTI: commands are queued, on txPin once it exists
)

// txn is a session's transaction and blocking state.
type txn struct {
	tx         txState
	txPin      *router.Pin // the node holding this client's WATCH or MULTI (nil in MULTI before the first key)
	txHeld     []byte      // MULTI and the keyless commands queued before the first key: sent ahead of it
	txHeldEnds []int       // where each request in txHeld ends
	txDirty    bool        // a command was refused while queuing: EXEC answers EXECABORT
	txQueued   int         // commands queued in this MULTI so far (CLIENT LIST's multi=)
	txProto    int8        // HELLO 2|3 queued in MULTI: the client's protocol once EXEC is sent (0: none)

	blockPin *router.Pin // the connection a blocked command waits on
	blockSeq uint64      // that command's seq: its reply releases blockPin

	lane     *router.Pin // the connection of the requests in flight (nil: the shared pipelines)
	deferred bool        // the request being dispatched must wait for every reply in flight
	// heldReady: the large request in held is complete and was deferred (dispatchHeld)
	heldReady bool
}

// maxTxHeld bounds the keyless commands a transaction queues before its first key.
const maxTxHeld = 64 << 10

// onLane reports whether a request may go on lane (a pin, or nil for the shared pipelines)
// now. A client's requests must reach each node in order, and a request on another connection
// than those in flight could overtake them: it is then deferred until every reply is in.
func (s *session) onLane(lane *router.Pin) bool {
	if s.inflight > 0 && lane != s.lane {
		s.deferred = true
		return false
	}
	s.lane = lane
	return true
}

// newLane is onLane for a pin not taken yet.
func (s *session) newLane() bool {
	if s.inflight > 0 {
		s.deferred = true
		return false
	}
	return true
}

// waitLane leaves the deferred request unparsed and stops reading until every reply is in
// (mustWait holds the barrier while requests are in flight); parse then frames it again.
func (s *session) waitLane() {
	s.deferred = false
	s.req.Reset()
	lanesWaited.Inc()
	s.barrier = true
	s.pause()
}

// blocks reports a command that blocks its connection: the blocking list and sorted-set
// commands, and XREAD/XREADGROUP with BLOCK.
func blocks(cmd *codec.Command, args [][]byte) bool {
	if cmd.Flags&codec.FlagBlocking == 0 {
		return false
	}
	if cmd.Name == "xread" || cmd.Name == "xreadgroup" {
		return hasBlockArg(args)
	}
	return true
}

// block sends a blocking command on a dedicated connection to the owner of sl. On the node
// holding this client's WATCH it blocks there, as on a single Redis.
func (s *session) block(cmd *codec.Command, sl int, raw []byte) {
	if s.lp.rl.Topology() == nil {
		s.local(errNoTopology(s.lp.scratch[:0], s.srv.rt))
		return
	}
	if p := s.txPin; p != nil && p.Addr() != "" && s.lp.rl.Topology().Owner(uint16(sl)) == p.Addr() {
		// Blocked on the WATCH's connection: it is also blockPin until the reply, so that the
		// transaction's end does not pool it blocked, nor its client's leaving leave it blocked.
		if !s.onLane(p) {
			return
		}
		s.setBlock(p)
		s.sendOn(p, sl, raw, -1, router.Blocks) // it may be silent as long as its timeout says
		return
	}
	if !s.newLane() {
		return
	}
	s.setBlock(s.lp.rl.Pin(sl, true))
	blockedCommands.Inc()
	s.sendOn(s.blockPin, sl, raw, -1, kindOf(cmd)&^router.Read)
}

// setBlock records the pin of the blocking command about to be sent (its seq is the next).
func (s *session) setBlock(p *router.Pin) {
	s.blockPin, s.blockSeq = p, s.next
	s.lp.blocked.Add(1) // a shutdown does not wait for it (Server.Stop)
}

// endBlock releases the blocked command's connection once its reply has come.
func (s *session) endBlock() {
	if s.blockPin != s.txPin { // on the transaction's pin: the transaction ends it
		s.blockPin.Release()
	}
	s.blockPin = nil
	s.lp.blocked.Add(-1)
}

// txCommand runs MULTI, EXEC, DISCARD, WATCH or UNWATCH outside MULTI.
func (s *session) txCommand(cmd *codec.Command, args [][]byte, raw []byte) {
	switch cmd.Name {
	case "multi":
		if s.txPin == nil {
			s.tx, s.txDirty = txQueuing, false
			s.txHeld = append(s.txHeld[:0], multiReq...)
			s.txHeldEnds = append(s.txHeldEnds[:0], len(s.txHeld))
			s.local(codec.AppendOK(s.lp.scratch[:0]))
			return
		}
		if s.txPin.Lost() {
			// The WATCH went with the connection: the transaction cannot be checked, so EXEC
			// will answer EXECABORT.
			s.dropTxPin(true)
			s.tx, s.txDirty = txQueuing, true
			s.txHeld, s.txHeldEnds = s.txHeld[:0], s.txHeldEnds[:0]
			s.local(codec.AppendOK(s.lp.scratch[:0]))
			return
		}
		if !s.onLane(s.txPin) {
			return
		}
		s.tx, s.txDirty = txQueuing, false
		s.txHeld, s.txHeldEnds = s.txHeld[:0], s.txHeldEnds[:0]
		s.sendOn(s.txPin, int(router.SlotAny), raw, -1, 0)
	case "exec", "discard":
		s.local(codec.AppendError(s.lp.scratch[:0], "ERR "+upper(cmd.Name)+" without MULTI"))
	case "watch":
		sl, ok := s.sameSlot(cmd, args)
		if !ok {
			return
		}
		if s.txPin == nil {
			if s.lp.rl.Topology() == nil {
				s.local(errNoTopology(s.lp.scratch[:0], s.srv.rt))
				return
			}
			if !s.newLane() {
				return
			}
			s.txPin = s.lp.rl.Pin(sl, false)
			s.tx = txWatching
		} else if a := s.txPin.Addr(); a != "" && s.lp.rl.Topology() != nil && s.lp.rl.Topology().Owner(uint16(sl)) != a {
			// A transaction runs on one node: Redis Cluster answers MOVED here, which a client
			// of one Redis cannot act on.
			s.local(errWatchOtherNode(s.lp.scratch[:0], a))
			return
		}
		s.sendOn(s.txPin, sl, raw, -1, 0)
	case "unwatch":
		if s.txPin == nil {
			s.local(codec.AppendOK(s.lp.scratch[:0]))
			return
		}
		if !s.onLane(s.txPin) {
			return
		}
		s.sendOn(s.txPin, int(router.SlotAny), raw, -1, 0)
		s.endTx()
	}
}

// queue handles a command inside MULTI.
func (s *session) queue(cmd *codec.Command, cls class, args [][]byte, raw []byte) {
	switch cmd.Name {
	case "exec":
		s.exec(raw)
		return
	case "discard":
		if s.txPin != nil {
			if !s.onLane(s.txPin) {
				return
			}
			s.sendOn(s.txPin, int(router.SlotAny), raw, -1, 0)
		} else {
			s.local(codec.AppendOK(s.lp.scratch[:0]))
		}
		s.endTx()
		return
	case "multi":
		s.local(append(s.lp.scratch[:0], errNestedMulti...)) // Redis does not flag the transaction for it
		return
	case "watch":
		s.local(append(s.lp.scratch[:0], errWatchInMulti...))
		return
	case "reset", "quit":
		s.localCommand(cmd, args, raw)
		return
	case "hello":
		// Redis queues HELLO and switches at EXEC: the node does the same on the transaction's
		// connection (its map is in EXEC's reply), and slotgate follows once EXEC is sent.
		if len(args) > 2 {
			s.refuseQueued(codec.AppendError(s.lp.scratch[:0], "ERR slotgate: HELLO with options is not supported inside MULTI"))
			return
		}
		if v := helloProto(args); v != 0 {
			s.txProto = int8(v)
		}
	}
	if s.txDirty && s.txPin == nil && len(s.txHeld) == 0 {
		// The WATCH was lost: nothing can run in this transaction any more.
		s.local(errPinLostTx(s.lp.scratch[:0]))
		return
	}
	sl := int(router.SlotAny)
	switch {
	case queuedKeyless(cmd.Name):
	case cmd.Name == "spublish":
		sl = int(slot.Of(args[1])) // by its channel's slot, as outside MULTI
	case cls == classSingle || cls == classSplit:
		keys, err := cmd.KeyIndexes(args, s.keys[:0])
		s.keys = keys
		if err == nil && len(keys) == 0 && isScript(cmd.Name) {
			break // EVAL/FCALL with no key: any node runs it, as outside MULTI
		}
		if err != nil || len(keys) == 0 {
			s.refuseQueued(codec.AppendError(s.lp.scratch[:0], "ERR slotgate: '"+cmd.Name+"' has no key to route it by inside MULTI"))
			return
		}
		sl = int(slot.Of(args[keys[0]]))
	default:
		s.refuseQueued(errNotInTx(s.lp.scratch[:0], cmd.Name))
		return
	}
	if s.txPin == nil && sl == int(router.SlotAny) {
		// No node chosen yet: queued here, sent ahead of the first keyed command.
		if len(s.txHeld)+len(raw) > maxTxHeld {
			s.refuseQueued(codec.AppendError(s.lp.scratch[:0], "ERR slotgate: too many commands without a key queued before the transaction's first key"))
			return
		}
		s.txHeld = appendRaw(s.txHeld, &s.req, raw)
		s.txHeldEnds = append(s.txHeldEnds, len(s.txHeld))
		s.txQueued++
		s.local(codec.AppendSimple(s.lp.scratch[:0], "QUEUED"))
		return
	}
	if s.txPin == nil && !s.pinTx(sl) {
		return
	}
	if !s.onLane(s.txPin) {
		return
	}
	s.txQueued++
	s.sendOn(s.txPin, sl, raw, -1, 0)
}

// pinTx takes the transaction's connection to the owner of sl and sends MULTI and the keyless
// commands queued so far on it (their replies are dropped: the client had QUEUED from here).
func (s *session) pinTx(sl int) bool {
	if s.lp.rl.Topology() == nil {
		s.refuseQueued(errNoTopology(s.lp.scratch[:0], s.srv.rt))
		return false
	}
	if !s.newLane() {
		return false
	}
	s.txPin = s.lp.rl.Pin(sl, false)
	start := 0
	for _, end := range s.txHeldEnds { // one FIFO entry per request: each gets one reply
		s.txPin.Send(s.txHeld[start:end], nil, 0, -1, s.protoKind())
		start = end
	}
	s.txHeld, s.txHeldEnds = s.txHeld[:0], s.txHeldEnds[:0]
	s.lane = s.txPin
	return true
}

// exec ends MULTI: EXEC on the transaction's node, or EXECABORT when a command was refused
// while queuing (the node's queue is then discarded, not run).
func (s *session) exec(raw []byte) {
	switch {
	case s.txDirty:
		if s.txPin != nil {
			s.txPin.Send(discardReq, nil, 0, -1, s.protoKind())
		}
		s.endTx()
		s.local(append(s.lp.scratch[:0], errExecAbort...))
	case s.txPin != nil:
		if !s.onLane(s.txPin) {
			return
		}
		s.sendOn(s.txPin, int(router.SlotAny), raw, -1, 0)
		s.execProto()
		s.endTx()
	case len(s.txHeld) == len(multiReq):
		s.endTx()
		s.local(codec.AppendArrayLen(s.lp.scratch[:0], 0)) // an empty transaction, as Redis answers it
	default:
		// Only keyless commands: any master runs them.
		if s.lp.rl.Topology() == nil {
			s.endTx()
			s.local(errNoTopology(s.lp.scratch[:0], s.srv.rt))
			return
		}
		if !s.pinTx(int(router.SlotAny)) {
			return
		}
		s.sendOn(s.txPin, int(router.SlotAny), raw, -1, 0)
		s.execProto()
		s.endTx()
	}
}

// execProto switches the client's protocol after an EXEC that runs a queued HELLO: its later
// requests wait for EXEC's reply anyway (another connection), then join the new pipelines.
func (s *session) execProto() {
	if s.txProto != 0 {
		s.proto = s.txProto
	}
}

// refuseQueued answers a command slotgate cannot queue; like Redis after a command it rejects
// while queuing, EXEC will then answer EXECABORT.
func (s *session) refuseQueued(reply []byte) {
	s.txDirty = true
	s.lp.scratch = reply[:0]
	s.local(reply)
}

// sameSlot returns the slot of a command's keys, or answers CROSSSLOT (or the key error).
func (s *session) sameSlot(cmd *codec.Command, args [][]byte) (int, bool) {
	keys, err := cmd.KeyIndexes(args, s.keys[:0])
	s.keys = keys
	if err != nil || len(keys) == 0 {
		s.local(errNoKeys(s.lp.scratch[:0], cmd.Name))
		return 0, false
	}
	sl := slot.Of(args[keys[0]])
	for _, k := range keys[1:] {
		if slot.Of(args[k]) != sl {
			s.local(append(s.lp.scratch[:0], errCrossSlot...))
			return 0, false
		}
	}
	return int(sl), true
}

// endTx leaves WATCH and MULTI: the connection goes back to the pool, reset, once the replies
// due on it have come.
func (s *session) endTx() {
	s.dropTxPin(false)
	s.tx, s.txDirty, s.txQueued, s.txProto = txNone, false, 0, 0
	s.txHeld, s.txHeldEnds = s.txHeld[:0], s.txHeldEnds[:0]
	if cap(s.txHeld) > 4096 {
		s.txHeld, s.txHeldEnds = nil, nil
	}
}

func (s *session) dropTxPin(closeConn bool) {
	if s.txPin == nil {
		return
	}
	if s.txPin == s.blockPin {
		s.txPin = nil // a command is blocked on it: endBlock or abandonPins ends it
		return
	}
	if closeConn {
		s.txPin.Close()
	} else {
		s.txPin.Release()
	}
	s.txPin = nil
}

// abandonPins runs when the client has gone: a connection still holding its state (WATCH,
// MULTI, a blocked command) is closed, never pooled.
func (s *session) abandonPins() {
	s.dropTxPin(s.tx != txNone)
	if s.blockPin != nil {
		s.blockPin.Close()
		s.blockPin = nil
		s.lp.blocked.Add(-1)
	}
	s.tx = txNone
}

// queuedKeyless are the keyless commands a transaction may queue on its node.
func queuedKeyless(name string) bool {
	switch name {
	case "ping", "echo", "time", "publish", "select", "hello": // SELECT: 0 is the only database of a cluster node
		return true // PUBLISH: a cluster delivers it from any node; HELLO: see queue
	}
	return false
}

// appendRaw appends the current request as RESP (an inline one is encoded).
func appendRaw(dst []byte, req *codec.Request, raw []byte) []byte {
	if req.Inline {
		return codec.AppendRequest(dst, req.Args)
	}
	return append(dst, raw...)
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}

var (
	lanesWaited     = metrics.NewCounter(`slotgate_ordering_barriers_total{cause="connection"}`)
	blockedCommands = metrics.NewCounter(`slotgate_blocking_commands_total`)
	multiReq        = codec.AppendCommand(nil, []byte("MULTI"))
	discardReq      = codec.AppendCommand(nil, []byte("DISCARD"))
)
