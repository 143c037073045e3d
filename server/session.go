package server

import (
	"log/slog"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/slotgate/slotgate/codec"
	"github.com/slotgate/slotgate/router"
	"github.com/slotgate/slotgate/router/slot"
)

// session is one client connection. Every field is owned by its event loop's goroutine.
//
// Requests are numbered (seq) in arrival order; each one that expects a reply has a slot in
// the ring. Replies may complete out of order (different shards); they leave in seq order.
type session struct {
	srv  *Server
	lp   *loop
	c    gnet.Conn
	id   int64
	req  codec.Request
	keys []int // scratch: key indexes of the current request

	next, head uint64      // next seq to assign; next seq to write
	ring       []replySlot // len is a power of two > next-head
	out        []byte      // replies ready to write at the end of this batch
	unsent     int         // bytes parked in ring slots
	slotCap    int         // capacity of the ring slots' buffers
	reqBytes   int         // bytes of requests at the backends (the router keeps them for retries)
	inflight   int         // requests waiting for a backend reply
	replyEst   int         // expected size of a reply not yet received, for the in-flight budget

	proto    int8   // 2 or 3 (HELLO): picks the pipelines its requests join and the shape of local replies
	authed   bool   // AUTH passed (or no -password)
	name     []byte // CLIENT SETNAME
	closed   bool   // OnClose ran: drop everything for it
	paused   bool   // stopped parsing: over the soft limit, or at the ordering barrier
	barrier  bool   // a request was rerouted: wait for every reply before sending more
	sentGen  uint64 // the loop's topology generation when the last request was sent
	touched  bool   // in loop.touched
	stopRead bool   // QUIT or protocol error seen: parse nothing more
	closeAt  uint64 // close once head reaches it (0: never)
	inPaused bool   // listed in loop.paused (at most once)
	// footprint: bytes this client makes slotgate hold, as last accounted (budget.go)
	footprint int
	txn                    // transaction and blocking state: the dedicated connections it holds (tx.go)
	ps        *sessionSubs // pub/sub subscriptions (pubsub.go); nil until the first
	ackEnd    uint64       // seq after its last subscribe ack: a RESP3 push does not overtake it (push)

	held     []byte // the start of a large request still arriving, moved out of gnet's buffer
	handOver bool   // the request being dispatched is in held, which the router may keep

	lastActive int64 // the loop's idle epoch at its last read or write, for the idle timeout
	lpIndex    int   // index in lp.sessions
	remote     bool  // connected from another host

	replyOff bool // CLIENT REPLY OFF: no reply is written until CLIENT REPLY ON
	skipNext bool // CLIENT REPLY SKIP: the next command's reply is not written

	// For CLIENT LIST and INFO (clients.go).
	since           time.Time      // when it connected
	lastSeen        time.Duration  // the loop's clock at its last read or write (epochs run slow when ticks come late)
	lastCmd         *codec.Command // its last command (CLIENT LIST's cmd=); nil: none yet, or unknown
	libName, libVer []byte         // CLIENT SETINFO

	cmdIdx uint16        // the counters of the request being dispatched (stats.go); noCmd between requests
	fam    router.Family // its command's family: the router's latency histogram of its replies
}

// replySlot holds a reply that arrived before the replies ahead of it.
type replySlot struct {
	buf      []byte
	ready    bool
	merge    *merge      // split requests: the parts collected so far
	reqBytes int         // bytes of its request (parts) kept by the router until the reply comes
	retry    scriptRetry // an EVALSHA slotgate can reload after NOSCRIPT: buf holds what it needs (scripts.go)
	drop     bool        // CLIENT REPLY OFF or SKIP: the reply is not written to the client
	cmd      uint16      // the command's counters, for an error reply (stats.go)
}

var _ router.Sink = (*session)(nil)

// alloc numbers a request that expects a reply and makes room for it in the ring.
func (s *session) alloc() uint64 {
	if s.next-s.head >= uint64(len(s.ring)) {
		s.growRing()
	}
	seq := s.next
	s.next++
	s.slot(seq).cmd = s.cmdIdx
	if s.replyOff || s.skipNext { // CLIENT REPLY: the reply is dropped here, never at the backend
		s.slot(seq).drop = true
		s.skipNext = false
	}
	return seq
}

func (s *session) growRing() {
	n := len(s.ring) * 2
	if n == 0 {
		n = 16
	}
	nr := make([]replySlot, n)
	for q := s.head; q < s.next; q++ {
		nr[q&uint64(n-1)] = s.ring[q&uint64(len(s.ring)-1)]
	}
	s.ring = nr
}

func (s *session) slot(seq uint64) *replySlot { return &s.ring[seq&uint64(len(s.ring)-1)] }

// complete answers request seq with bytes that slotgate made or a backend sent.
func (s *session) complete(seq uint64, reply []byte) {
	own := s.slot(seq)
	s.lp.countReply(own.cmd, reply)
	s.reqBytes -= own.reqBytes
	own.reqBytes = 0
	if own.drop {
		reply = nil
		if seq == s.head {
			own.drop = false
		}
	}
	if seq != s.head {
		c := cap(own.buf)
		own.buf = append(own.buf[:0], reply...)
		s.slotCap += cap(own.buf) - c
		own.ready = true
		s.unsent += len(reply)
		return
	}
	if len(reply) >= directReply && len(s.out) == 0 {
		// A large reply with nothing ahead of it goes to the socket as it is: copying it into the
		// write buffer first would add a copy of every byte of a multi-megabyte reply.
		s.stampActive()
		s.lp.stats.bytesOut.Add(uint64(len(reply)))
		_, _ = s.c.Write(reply) // gnet keeps what the socket did not take
		if s.closed {
			return // the write failed and OnClose ran: the ring is gone
		}
	} else {
		if s.out == nil {
			s.out = s.lp.bufs.get()
		}
		s.out = append(s.out, reply...)
	}
	s.head++
	for s.head < s.next {
		sl := s.slot(s.head)
		if !sl.ready {
			break
		}
		s.out = append(s.out, sl.buf...)
		s.unsent -= len(sl.buf)
		sl.ready, sl.drop = false, false
		sl.buf = sl.buf[:0]
		if cap(sl.buf) > maxIdleSlot {
			s.slotCap -= cap(sl.buf)
			sl.buf = nil
		}
		s.head++
	}
	s.touch()
}

// local answers the current request with a reply slotgate made.
func (s *session) local(reply []byte) { s.complete(s.alloc(), reply) }

// Deliver implements router.Sink: a backend reply (or the router's error for it) for seq.
func (s *session) Deliver(seq uint64, part int32, reply []byte) {
	s.inflight--
	s.lp.inflight--
	// A larger reply raises the estimate at once; smaller ones halve it toward their size: the
	// estimate errs high, so large replies never arrive many more than expected.
	s.replyEst = max(len(reply), s.replyEst/2)
	if s.closed {
		return // its merges and slots go with it
	}
	if (part < -1 || s.slot(seq).retry.state != retryNone) && s.scriptReply(seq, part, reply) {
		return // a SCRIPT LOAD's reply, or a NOSCRIPT answered by reloading (scripts.go)
	}
	if part >= 0 {
		s.deliverPart(seq, part, reply)
	} else {
		if s.blockPin != nil && seq == s.blockSeq {
			s.endBlock()
		}
		s.complete(seq, reply)
	}
	s.touch()
	// Over the hard limit counting only what was unread before this reply: one large reply to a
	// client that reads is not a reason to disconnect it.
	if s.pending()-len(reply) > s.srv.lv().HardLimit {
		s.srv.logLimit(&s.srv.logs.overLimit, slog.LevelWarn, "limit hit: client disconnected over the hard limit", "client", s.id,
			"addr", s.c.RemoteAddr().String(), "unread", s.pending(), "hard_limit", s.srv.lv().HardLimit)
		clientsOverLimit.Inc()
		s.close()
	}
}

func (s *session) touch() {
	if !s.touched {
		s.touched = true
		s.lp.touched = append(s.lp.touched, s)
	}
}

// pending counts reply bytes not yet taken by the client.
func (s *session) pending() int { return len(s.out) + s.unsent + s.c.OutboundBuffered() }

// mustWait reports whether parsing must stop for now, for one of two reasons.
//
// Bounds: the client's unread replies plus the replies its in-flight requests are expected to
// bring reach the soft limit. Sizes of replies not yet received are estimated from this
// client's recent ones, starting pessimistic (SoftLimit/initialWindow each) and following the
// largest at once, so a client that pipelines thousands of GETs of large values has only a few at
// the backends: Redis would otherwise buffer all their replies itself, and slotgate after it.
//
// Ordering: one of its requests is being retried elsewhere (MOVED, ASK, a node down), or the
// topology changed since its requests in flight were sent. Its next request could then reach a
// node before an earlier one of the same slot, so it waits until they are all answered.
func (s *session) mustWait() bool {
	if s.inflight == 0 {
		s.barrier = false
		return s.pending() >= s.softLimit()
	}
	return s.barrier || s.sentGen != s.lp.rl.Gen() || s.inflight >= s.srv.lv().MaxInflight ||
		s.pending()+s.inflight*s.replyEst+s.reqBytes >= s.softLimit()
}

// Rerouted implements router.Sink: one of this client's requests is being retried.
func (s *session) Rerouted() { s.barrier = true }

// Gone implements router.Sink: the client has disconnected.
func (s *session) Gone() bool { return s.closed }

// initialWindow is how many requests a new client may have at the backends before its replies
// have shown their size (a slow start: the window opens as small replies come back).
const initialWindow = 4

// flush writes this batch's replies in one write, then acts on QUIT and on back-pressure.
func (s *session) flush() {
	s.touched = false
	if s.closed {
		return
	}
	if s.out != nil {
		out := s.out
		s.out = nil
		if len(out) > 0 {
			s.stampActive()
			s.lp.stats.bytesOut.Add(uint64(len(out)))
			_, _ = s.c.Write(out) // gnet copies what the socket did not take; a failed write closes the conn (OnClose runs re-entrantly)
		}
		s.lp.bufs.put(out)
		if s.closed {
			return
		}
	}
	if s.head == s.next && (len(s.ring) > maxIdleRing || s.slotCap > maxIdleSlots) {
		// A deep pipeline's ring and the reply buffers it kept go back once drained; a client
		// that pipelines steadily keeps them (no allocation per batch).
		s.ring, s.slotCap = nil, 0
	}
	if s.closeAt != 0 && s.head >= s.closeAt {
		s.close()
		return
	}
	if s.paused && !s.mustWait() {
		s.resume()
	}
	s.account()
}

func (s *session) close() {
	if !s.closed {
		_ = s.c.EventLoop().Close(s.c)
	}
}

func (s *session) pause() {
	if !s.paused {
		s.paused = true
		clientsPaused.Inc()
		if !s.inPaused { // a session cycling at its limit between ticks is listed once
			s.inPaused = true
			s.lp.paused = append(s.lp.paused, s)
		}
		s.lp.nPaused.Add(1)
		s.lp.stopReading(s.c)
	}
}

func (s *session) resume() {
	s.paused = false
	clientsPaused.Dec()
	s.lp.nPaused.Add(-1)
	s.lp.startReading(s.c)
	s.parse()
}

// parse frames and dispatches the requests buffered for this client, stopping at the soft limit
// (the rest stays in gnet's inbound buffer until the client catches up).
//
// gnet copies everything buffered into a fresh buffer on each Peek once a read left bytes behind,
// and a multibulk request of many small arguments needs only a little more than what is buffered
// after every read: peeking it again on each read would cost O(n²). A request still incomplete
// past holdThreshold is moved into held instead, and later reads only append to it (feedHeld).
func (s *session) parse() {
	c := s.c
	for !s.stopRead && !s.paused {
		if len(s.held) > 0 {
			if !s.feedHeld() {
				break
			}
			continue
		}
		avail := c.InboundBuffered()
		need := s.req.Need()
		if avail == 0 || avail < need {
			switch {
			case avail > s.srv.lv().MaxRequest:
				s.protocolError("Protocol error: request larger than the query buffer limit")
			case avail > s.softLimit() && s.softLimit() < s.srv.lv().SoftLimit:
				s.pause() // over -max-memory: a large request still arriving waits for room
			}
			break
		}
		// Peek a bounded window: gnet copies a wrapped inbound buffer on every Peek, so peeking
		// a large backlog whole each time it resumes would copy it again and again.
		n := min(avail, max(parseWindow, need))
		buf, _ := c.Peek(n)
		s.lp.peeked.Add(uint64(len(buf)))
		off := s.parseBuf(buf)
		if rest := len(buf) - off; rest >= holdThreshold && !s.paused && !s.stopRead && !s.closed {
			// parseBuf stopped in the middle of a large request: move its start into held.
			s.held = append(s.held[:0], buf[off:]...)
			s.lp.copied.Add(uint64(rest))
			off = len(buf)
		}
		if off > 0 {
			_, _ = c.Discard(off)
			s.lp.stats.bytesIn.Add(uint64(off))
		} else if s.req.Need() <= n {
			break // nothing complete and nothing more to look at
		}
	}
	if s.paused && !s.closed {
		s.lp.stopReading(s.c) // gnet re-arms reading when it writes; keep the socket quiet
	}
	if (s.paused || s.stopRead) && !s.closed {
		// One more loop read (64 KiB) must still fit: gnet grows its inbound buffer to the next
		// power of two before we see the bytes, so stopping short keeps it at the limit's size.
		if in := c.InboundBuffered() + len(s.held); in+s.pending()+loopReadSize > s.srv.lv().HardLimit {
			s.srv.logLimit(&s.srv.logs.overLimit, slog.LevelWarn, "limit hit: client disconnected over the hard limit", "client", s.id,
				"addr", s.c.RemoteAddr().String(), "unparsed", in, "unread", s.pending(), "hard_limit", s.srv.lv().HardLimit)
			clientsOverLimit.Inc()
			s.close()
		}
	}
	s.account()
}

// feedHeld appends what gnet buffered (up to parseWindow) to the large request whose start is in
// held and frames it further. A complete request is dispatched from held, and the bytes after it
// stay in gnet's buffer. It reports whether parsing may go on.
func (s *session) feedHeld() bool {
	overBudget := len(s.held) > s.softLimit() && s.softLimit() < s.srv.lv().SoftLimit
	if s.mustWait() || overBudget {
		s.pause() // the rest stays in gnet's buffer, as for any request
		return false
	}
	if s.heldReady {
		return s.dispatchHeld()
	}
	c := s.c
	avail := c.InboundBuffered()
	if len(s.held)+avail > s.srv.lv().MaxRequest {
		s.protocolError("Protocol error: request larger than the query buffer limit")
		return false
	}
	if avail == 0 {
		return false
	}
	in, _ := c.Peek(min(avail, parseWindow))
	s.lp.peeked.Add(uint64(len(in)))
	old := len(s.held)
	if need := old + len(in); need > cap(s.held) {
		if b := s.lp.rl.TakeSpare(need); b != nil { // a buffer a large request left behind
			s.lp.moved.Add(uint64(old))
			s.held = append(b, s.held...)
		}
	}
	var moved int
	s.held, moved = codec.AppendDoubling(s.held, in)
	s.lp.moved.Add(uint64(moved))
	s.lp.copied.Add(uint64(len(in)))
	s.req.Unauthenticated = !s.authed
	n, err := codec.ReadRequest(s.held, &s.req)
	if err != nil {
		s.protocolError(err.Error())
		return false
	}
	if n == 0 {
		_, _ = c.Discard(len(in))
		s.lp.stats.bytesIn.Add(uint64(len(in)))
		return true
	}
	_, _ = c.Discard(n - old) // n > old: held alone was incomplete
	s.lp.stats.bytesIn.Add(uint64(n - old))
	s.held = s.held[:n]
	return s.dispatchHeld()
}

// dispatchHeld dispatches the complete request in held. The request goes to the router as it
// is: its buffer is handed over (router.Owned), so the session takes a fresh one for its next
// large request. A request deferred at the ordering barrier stays in held, framed again later.
func (s *session) dispatchHeld() bool {
	if s.heldReady {
		s.req.Reset()
		if n, err := codec.ReadRequest(s.held, &s.req); err != nil || n != len(s.held) {
			s.protocolError("Protocol error: a deferred request could not be framed again")
			return false
		}
	}
	s.handOver = true
	s.dispatch(s.held)
	s.handOver = false
	if !s.deferred {
		s.countRequest()
	}
	if s.deferred {
		s.heldReady = true
		s.waitLane()
		return false
	}
	s.heldReady = false
	s.held = nil
	return true
}

// releaseHeld empties held, giving a large buffer back to the GC.
func (s *session) releaseHeld() {
	s.held = s.held[:0]
	if cap(s.held) > maxIdleHeld {
		s.held = nil
	}
}

// loopReadSize is the most gnet reads from one connection per event (its default read buffer).
const loopReadSize = 64 << 10

// parseWindow is how much buffered input one Peek looks at (more when one request needs it).
const parseWindow = 256 << 10

// holdThreshold is the size from which a request still arriving is moved out of gnet's buffer
// into held (see parse): below it, re-peeking costs at most a few loop reads' worth of copying.
const holdThreshold = 64 << 10

// maxIdleHeld is the most capacity held keeps once its request is dispatched.
const maxIdleHeld = 256 << 10

// parseBuf dispatches the complete requests at the start of buf and returns the bytes consumed.
func (s *session) parseBuf(buf []byte) int {
	off := 0
	for off < len(buf) && !s.stopRead {
		if s.mustWait() {
			s.pause()
			break
		}
		s.req.Unauthenticated = !s.authed // Redis's tighter limits before AUTH
		n, err := codec.ReadRequest(buf[off:], &s.req)
		if err != nil {
			s.protocolError(err.Error())
			break
		}
		if n == 0 {
			break
		}
		s.dispatch(buf[off : off+n])
		if !s.deferred {
			s.countRequest()
		}
		if s.deferred {
			s.waitLane()
			break
		}
		off += n
	}
	return off
}

// reject answers a request refused before it is classified (unknown command, arity, NOAUTH).
// Inside MULTI Redis rejects such a command and EXEC then answers EXECABORT: so does slotgate.
func (s *session) reject(reply []byte) {
	if s.tx == txQueuing {
		s.txDirty = true
	}
	s.local(reply)
}

// protocolError answers after every earlier reply, then closes this client only.
func (s *session) protocolError(msg string) {
	protocolErrors.Inc()
	s.req.Reset()
	s.releaseHeld()
	s.local(codec.AppendError(s.lp.scratch[:0], "ERR "+msg))
	s.stopRead = true
	s.closeAt = s.next
}

// dispatch classifies one complete request (raw is its bytes as received) and answers it or
// sends it on.
func (s *session) dispatch(raw []byte) {
	args := s.req.Args
	s.cmdIdx = noCmd
	if len(args) == 0 {
		return // empty request: no reply, as in Redis
	}
	cmd := codec.Lookup(args[0])
	if cmd == nil {
		cmd = s.srv.rt.Learnt().Lookup(args[0]) // a module's or a newer Redis's command
	}
	s.cmdIdx = cmdIdx(cmd)
	if cmd == nil {
		s.lastCmd = nil
		if codec.EqualFold(args[0], "waitaof") { // newer than the 7.0 table; refused for WAIT's reason
			s.reject(errRefusedWait(s.lp.scratch[:0], "waitaof"))
			return
		}
		s.reject(errUnknownCommand(s.lp.scratch[:0], args))
		return
	}
	s.lastCmd = cmd
	if !cmd.CheckArity(len(args)) {
		s.reject(errArity(s.lp.scratch[:0], cmd.Name))
		return
	}
	cls := classes[cmd.ID]
	top := cmd
	var sub *codec.Command
	if len(cmd.Subcommands) > 0 && len(args) >= 2 {
		// Container commands (OBJECT, XGROUP, XINFO, MEMORY, CLIENT...): the subcommand has the
		// arity, the flags and the key positions.
		sub = cmd.Sub(args[1])
		if sub != nil {
			s.lastCmd = sub
			s.cmdIdx = cmdIdx(sub)
		} else if cls != classLocal {
			s.lastCmd = nil // Redis's "cmd=NULL" for an unknown subcommand
		}
		switch {
		case sub == nil && cls == classLocal:
			// answered below (CLIENT SETINFO is newer than the 7.0 table)
		case sub == nil:
			s.reject(errUnknownSubcommand(s.lp.scratch[:0], cmd.Name, args[1]))
			return
		case !sub.CheckArity(len(args)):
			s.reject(errArity(s.lp.scratch[:0], sub.Name))
			return
		case cls == classPubsub:
			cmd = sub // PUBSUB CHANNELS...: pubsub.go answers by the subcommand
		case cls != classLocal:
			cmd, cls = sub, subClass(sub)
		}
	}
	if !s.authed && cmd.Flags&codec.FlagNoAuth == 0 {
		s.reject(append(s.lp.scratch[:0], errNoAuth...))
		return
	}
	if rules := s.srv.lv().rules; rules != nil && s.commandRule(rules, top, sub, raw) {
		return // commands.deny or commands.allow (live.go)
	}
	s.fam = router.FamilyOf(cmd)
	if s.tx == txQueuing {
		s.queue(cmd, cls, args, raw)
		return
	}
	if s.ps != nil && s.subscribedOnly(cmd, args) {
		return
	}
	switch cls {
	case classTx:
		s.txCommand(cmd, args, raw)
	case classSingle:
		s.forwardSingle(cmd, args, raw)
	case classSplit:
		s.split(cmd, args, raw)
	case classLocal:
		s.localCommand(cmd, args, raw)
	case classPubsub:
		s.pubsub(cmd, args, raw)
	case classBroadcast:
		s.keyspaceCommand(cmd, args, raw)
	default:
		s.local(errRefused(s.lp.scratch[:0], cmd))
	}
}

// forwardSingle sends a request whose keys share one slot to that slot's master.
func (s *session) forwardSingle(cmd *codec.Command, args [][]byte, raw []byte) {
	keys, err := cmd.KeyIndexes(args, s.keys[:0])
	s.keys = keys
	if err != nil {
		s.local(codec.AppendError(s.lp.scratch[:0], "ERR "+err.Error()))
		return
	}
	if len(keys) == 0 && isScript(cmd.Name) {
		s.send(cmd, keylessScriptSlot, raw) // EVAL/FCALL with no key: one master (scripts.go)
		return
	}
	if len(keys) == 0 {
		s.local(errNoKeys(s.lp.scratch[:0], cmd.Name))
		return
	}
	sl := slot.Of(args[keys[0]])
	for _, k := range keys[1:] {
		if slot.Of(args[k]) != sl {
			s.local(append(s.lp.scratch[:0], errCrossSlot...))
			return
		}
	}
	if h := &s.lp.hot; h.every > 0 {
		if h.left--; h.left <= 0 {
			s.sampleKey(args[keys[0]], sl)
		}
	}
	if blocks(cmd, args) {
		s.block(cmd, int(sl), raw)
		return
	}
	s.send(cmd, int(sl), raw)
}

// sampleKey counts a sampled request for the hot keys, with the master of its slot.
func (s *session) sampleKey(key []byte, sl uint16) {
	shard := ""
	if t := s.lp.rl.Topology(); t != nil {
		if sh := t.Shard(sl); sh >= 0 {
			shard = t.Masters[sh]
		}
	}
	s.lp.hot.record(key, shard)
}

// send forwards the current request to the master of slot sl (or, with -read-from, a read
// to one of its replicas).
func (s *session) send(cmd *codec.Command, sl int, raw []byte) {
	if s.lp.rl.Topology() == nil {
		s.local(errNoTopology(s.lp.scratch[:0], s.srv.rt))
		return
	}
	kind := kindOf(cmd)
	if p := s.txPin; p != nil && sl >= 0 && p.Addr() != "" && s.lp.rl.Topology().Owner(uint16(sl)) == p.Addr() {
		s.sendOn(p, sl, raw, -1, kind&^router.Read) // WATCH pinned the client to this slot's node
		return
	}
	if kind&router.Script != 0 && s.sendEvalSha(cmd, sl, raw, kind) {
		return // EVALSHA of a script slotgate keeps: loaded first where needed, retried after NOSCRIPT (scripts.go)
	}
	s.sendOn(nil, sl, raw, -1, kind)
}

// kindOf says what the router may do with a command's request.
func kindOf(cmd *codec.Command) router.Kind {
	var kind router.Kind
	if cmd.Flags&codec.FlagReadonly != 0 && cmd.Flags&codec.FlagMayReplicate == 0 {
		kind |= router.Read
	}
	if isScript(cmd.Name) {
		kind |= router.Script
	}
	return kind
}

// isScript reports the commands whose error replies may be a script's own return value.
func isScript(name string) bool {
	switch name {
	case "eval", "evalsha", "eval_ro", "evalsha_ro", "fcall", "fcall_ro":
		return true
	}
	return false
}

// sendPart queues the current request (or one part of it) for the node serving slot sl.
func (s *session) sendPart(sl int, raw []byte, part int32, kind router.Kind) {
	s.sendOn(nil, sl, raw, part, kind)
}

// sendOn queues the current request (or one part of it) on pin's dedicated connection, or with
// a nil pin on the shared pipeline of the node serving slot sl. A whole request that would
// overtake this client's requests in flight on another connection is deferred (waitLane).
func (s *session) sendOn(pin *router.Pin, sl int, raw []byte, part int32, kind router.Kind) {
	if part < 0 && !s.onLane(pin) {
		return
	}
	if s.req.Inline && part < 0 {
		raw = codec.AppendRequest(s.lp.scratch[:0], s.req.Args) // backends get RESP, never inline
	} else if s.handOver && part < 0 {
		kind |= router.Owned
	}
	seq := s.next - 1
	if part < 0 {
		seq = s.alloc()
	}
	s.sendSeq(pin, seq, sl, raw, part, kind)
}

// sendSeq queues raw on pin's connection, or with a nil pin for the node serving slot sl, as (a
// part of) request seq, counting it in flight.
func (s *session) sendSeq(pin *router.Pin, seq uint64, sl int, raw []byte, part int32, kind router.Kind) {
	s.inflight++
	s.footprint += s.replyEst // its reply is expected: the loop's total must know before the next request
	s.lp.footprint += int64(s.replyEst)
	s.lp.inflight++
	s.reqBytes += len(raw)
	s.slot(seq).reqBytes += len(raw)
	s.sentGen = s.lp.rl.Gen()
	kind = router.WithFamily(kind|s.protoKind(), s.fam)
	if pin != nil {
		pin.Send(raw, s, seq, part, kind)
	} else {
		s.lp.rl.Send(sl, raw, s, seq, part, kind)
	}
}

// protoKind is the Kind bit of the client's protocol: a RESP3 client's requests join the RESP3
// pipelines (and switch a dedicated connection), whose replies are passed through as they are.
func (s *session) protoKind() router.Kind {
	if s.proto == 3 {
		return router.RESP3
	}
	return 0
}

// hasBlockArg reports a BLOCK option before STREAMS (XREAD, XREADGROUP).
func hasBlockArg(args [][]byte) bool {
	for _, a := range args[1:] {
		if codec.EqualFold(a, "streams") {
			return false
		}
		if codec.EqualFold(a, "block") {
			return true
		}
	}
	return false
}

// directReply is the size from which a reply at the head of the queue is written at once.
const directReply = 64 << 10

const (
	maxIdleSlot  = 64 << 10  // a reply slot (or a merge) keeps at most this much capacity once done
	maxIdleSlots = 256 << 10 // a drained session keeps its slots' buffers up to this much in all
	maxIdleRing  = 1024      // a drained ring longer than this is released
)
