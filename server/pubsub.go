package server

import (
	"github.com/VictoriaMetrics/metrics"
	"github.com/slotgate/slotgate/codec"
	"github.com/slotgate/slotgate/router"
	"github.com/slotgate/slotgate/router/slot"
	"log/slog"
)

// A RESP2 client in pub/sub mode gets messages as arrays, in its reply order; a RESP3 client
// gets them as push frames between replies (push), and may run any command while subscribed.

// Pub/sub is multiplexed (DESIGN "Pinned and multiplexed state"): each loop keeps a table from
// channel (pattern, shard channel) to the sessions subscribed to it, asks its router loop to
// subscribe a name upstream when the first local subscriber arrives and to drop it when the last
// leaves, and copies every message to each subscribed session's reply queue at a reply boundary.
// slotgate answers (P|S)SUBSCRIBE and their unsubscribes itself, with the client's own counts.
//
// Memory: a session's subscriptions are counted in its footprint (subBytes, an estimate of the
// maps' cost on the session, the loop and the router), so -max-memory bounds a client that
// subscribes to millions of channels the way it bounds one that does not read: it is evicted.

const nKinds = 3 // router.SubChannel, SubPattern, SubShard

// subCost estimates what one subscription costs beyond its name's bytes: an entry in the session's
// set, in the loop's table (a set of its own when it is the first) and in the router's registry.
const subCost = 256

// pubsubLoop is a loop's pub/sub state.
type pubsubLoop struct {
	table [nKinds]map[string]*chanSubs
	msg2  []byte // the message being fanned out, as a RESP2 array
	msg3  []byte // the same as a RESP3 push
}

// chanSubs is one subscribed name of a loop: its sessions and the acks waiting for it upstream.
type chanSubs struct {
	sessions map[*session]struct{}
	ready    bool          // subscribed upstream (or given up on for now): acks need not wait
	waiters  []*pendingAck // acks of clients waiting for ready
}

// pendingAck is a (P|S)SUBSCRIBE reply held until every new name in it is subscribed upstream, so
// that a client that has its ack hears every message published after it, as on one Redis.
type pendingAck struct {
	s         *session
	seq       uint64
	remaining int
	reply     []byte
}

func (pa *pendingAck) done() {
	pa.remaining--
	if pa.remaining == 0 && !pa.s.closed {
		pa.s.complete(pa.seq, pa.reply)
	}
}

// sessionSubs is what one session is subscribed to.
type sessionSubs struct {
	names [nKinds]map[string]struct{}
	bytes int
}

// classic is the count subscribe/psubscribe acks carry: channels and patterns.
func (ps *sessionSubs) classic() int {
	return len(ps.names[router.SubChannel]) + len(ps.names[router.SubPattern])
}

// subscribed reports pub/sub mode: any subscription at all.
func (s *session) subscribed() bool {
	ps := s.ps
	return ps != nil && ps.classic()+len(ps.names[router.SubShard]) > 0
}

// subBytes is the footprint of the session's subscriptions (budget.go).
func (s *session) subBytes() int {
	if s.ps == nil {
		return 0
	}
	return s.ps.bytes
}

// subscribedOnly answers a command a subscribed RESP2 client may not send, with Redis's text, and
// reports whether it did.
func (s *session) subscribedOnly(cmd *codec.Command, args [][]byte) bool {
	if s.proto == 3 || !s.subscribed() {
		return false
	}
	switch cmd.Name {
	case "ping", "subscribe", "psubscribe", "ssubscribe", "unsubscribe", "punsubscribe", "sunsubscribe", "quit", "reset":
		return false
	}
	name := cmd.Name
	if len(cmd.Subcommands) > 0 && len(args) >= 2 {
		if sub := cmd.Sub(args[1]); sub != nil {
			name = sub.Name
		}
	}
	s.local(codec.AppendError(s.lp.scratch[:0], "ERR Can't execute '"+name+
		"': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"))
	return true
}

// pingSubscribed is PING's reply in RESP2 pub/sub mode: ["pong", arg or ""].
func pingSubscribed(b []byte, args [][]byte) []byte {
	b = codec.AppendArrayLen(b, 2)
	b = codec.AppendBulkString(b, "pong")
	if len(args) > 1 {
		return codec.AppendBulk(b, args[1])
	}
	return codec.AppendBulkString(b, "")
}

// pubsub runs PUBLISH, SPUBLISH, the (un)subscribe commands and PUBSUB.
func (s *session) pubsub(cmd *codec.Command, args [][]byte, raw []byte) {
	switch cmd.Name {
	case "publish", "spublish":
		// By the channel's slot: the node that holds slotgate's subscription of it then counts it.
		s.send(cmd, int(slot.Of(args[1])), raw)
	case "subscribe":
		s.subscribe(router.SubChannel, "subscribe", args[1:])
	case "psubscribe":
		s.subscribe(router.SubPattern, "psubscribe", args[1:])
	case "ssubscribe":
		if !s.sameChannelSlot(args[1:]) {
			return
		}
		s.subscribe(router.SubShard, "ssubscribe", args[1:])
	case "unsubscribe":
		s.unsubscribe(router.SubChannel, "unsubscribe", args[1:])
	case "punsubscribe":
		s.unsubscribe(router.SubPattern, "punsubscribe", args[1:])
	case "sunsubscribe":
		if !s.sameChannelSlot(args[1:]) {
			return
		}
		s.unsubscribe(router.SubShard, "sunsubscribe", args[1:])
	default:
		s.pubsubQuery(cmd, args, raw)
	}
}

// sameChannelSlot answers CROSSSLOT (as Redis Cluster does for sharded channels) unless every channel
// hashes to one slot.
func (s *session) sameChannelSlot(chans [][]byte) bool {
	if len(chans) == 0 {
		return true
	}
	for _, c := range chans[1:] {
		if slot.Of(c) != slot.Of(chans[0]) {
			s.local(append(s.lp.scratch[:0], errCrossSlot...))
			return false
		}
	}
	return true
}

func (s *session) count(kind router.SubKind) int {
	if kind == router.SubShard {
		return len(s.ps.names[router.SubShard])
	}
	return s.ps.classic()
}

// appendAck appends one acknowledgement frame; a nil name is a null (bare unsubscribe).
func appendAck(b []byte, proto int, verb string, name []byte, null bool, n int) []byte {
	b = codec.AppendPushLen(b, proto, 3)
	b = codec.AppendBulkString(b, verb)
	if null {
		b = codec.AppendNull(b, proto)
	} else {
		b = codec.AppendBulk(b, name)
	}
	return codec.AppendInt(b, int64(n))
}

// subscribe adds names to the session and answers one frame per name, duplicates included.
func (s *session) subscribe(kind router.SubKind, verb string, names [][]byte) {
	if s.ps == nil {
		s.ps = &sessionSubs{}
	}
	ps := s.ps
	if ps.names[kind] == nil {
		ps.names[kind] = map[string]struct{}{}
	}
	lp := s.lp
	b := lp.scratch[:0]
	var pa *pendingAck
	for _, n := range names {
		if _, ok := ps.names[kind][string(n)]; !ok {
			name := string(n)
			ps.names[kind][name] = struct{}{}
			ps.bytes += len(name) + subCost
			lp.addSubscriber(kind, name, s)
		}
		if cs := lp.ps.table[kind][string(n)]; cs != nil && !cs.ready {
			if pa == nil {
				pa = &pendingAck{s: s}
			}
			pa.remaining++
			cs.waiters = append(cs.waiters, pa)
		}
		b = appendAck(b, int(s.proto), verb, n, false, s.count(kind))
	}
	lp.scratch = b[:0]
	if pa == nil {
		s.local(b)
	} else {
		pa.seq = s.alloc() // answered by Subscribed
		pa.reply = append([]byte(nil), b...)
	}
	s.ackEnd = s.next
	s.account()
}

// push gives a RESP3 client a push frame (a message) at the next reply boundary. It takes no
// reply position, so replies still due (a blocked BLPOP) do not hold it back, except its own
// subscribe ack, which Redis always sends before the channel's first message.
func (s *session) push(msg []byte) {
	if s.head < s.ackEnd {
		s.complete(s.alloc(), msg)
		return
	}
	if s.out == nil {
		s.out = s.lp.bufs.get()
	}
	s.out = append(s.out, msg...) // out holds whole replies only: this is a boundary
	s.touch()
}

// unsubscribe removes names (all of the kind when none is given) and answers one frame per name;
// with nothing to remove, a bare one answers a single frame with a null name.
func (s *session) unsubscribe(kind router.SubKind, verb string, names [][]byte) {
	lp := s.lp
	b := lp.scratch[:0]
	proto := int(s.proto)
	switch {
	case len(names) > 0:
		for _, n := range names {
			if s.ps != nil {
				if _, ok := s.ps.names[kind][string(n)]; ok {
					s.dropName(kind, string(n))
				}
			}
			b = appendAck(b, proto, verb, n, false, s.countOrZero(kind))
		}
	case s.ps == nil || len(s.ps.names[kind]) == 0:
		b = appendAck(b, proto, verb, nil, true, s.countOrZero(kind))
	default:
		for name := range s.ps.names[kind] {
			s.dropName(kind, name)
			b = codec.AppendPushLen(b, proto, 3)
			b = codec.AppendBulkString(b, verb)
			b = codec.AppendBulkString(b, name)
			b = codec.AppendInt(b, int64(s.count(kind)))
		}
	}
	lp.scratch = b[:0]
	s.local(b)
	s.account()
}

func (s *session) countOrZero(kind router.SubKind) int {
	if s.ps == nil {
		return 0
	}
	return s.count(kind)
}

// dropName removes one name from the session and from its loop's table.
func (s *session) dropName(kind router.SubKind, name string) {
	delete(s.ps.names[kind], name)
	s.ps.bytes -= len(name) + subCost
	s.lp.removeSubscriber(kind, name, s)
}

// pubsubReset leaves every subscription (RESET, client gone).
func (s *session) pubsubReset() {
	if s.ps == nil {
		return
	}
	for k := range s.ps.names {
		for name := range s.ps.names[k] {
			s.lp.removeSubscriber(router.SubKind(k), name, s)
		}
	}
	s.ps = nil
}

func (lp *loop) addSubscriber(kind router.SubKind, name string, s *session) {
	t := &lp.ps.table[kind]
	if *t == nil {
		*t = map[string]*chanSubs{}
	}
	cs := (*t)[name]
	if cs == nil {
		cs = &chanSubs{sessions: map[*session]struct{}{}}
		(*t)[name] = cs
		lp.rl.Subscribe(kind, []byte(name)) // the loop's first subscriber
	}
	cs.sessions[s] = struct{}{}
}

func (lp *loop) removeSubscriber(kind router.SubKind, name string, s *session) {
	cs := lp.ps.table[kind][name]
	if cs == nil {
		return
	}
	delete(cs.sessions, s)
	if len(cs.sessions) == 0 {
		delete(lp.ps.table[kind], name)
		lp.rl.Unsubscribe(kind, []byte(name)) // the loop's last subscriber left
		cs.ready = true
		for _, pa := range cs.waiters { // acks of clients that left again before it was confirmed
			pa.done()
		}
		cs.waiters = nil
	}
}

// Subscribed implements router.Pushes: name is subscribed upstream; the acks waiting go out.
func (lp *loop) Subscribed(kind router.SubKind, name []byte) {
	cs := lp.ps.table[kind][string(name)]
	if cs == nil || cs.ready {
		return
	}
	cs.ready = true
	for _, pa := range cs.waiters {
		pa.done()
	}
	cs.waiters = nil
}

// Message implements router.Pushes: one message read by a subscriber connection is copied to
// every session of the loop subscribed to its channel (its pattern for pmessage). Each copy is a
// reply of its own, so it never splits a reply and leaves after the replies before it. A client
// whose unread replies pass the hard limit is disconnected, as Redis's pubsub output limit does.
func (lp *loop) Message(kind router.SubKind, pattern, channel, payload []byte) {
	name := channel
	if kind == router.SubPattern {
		name = pattern
	}
	cs := lp.ps.table[kind][string(name)]
	if cs == nil {
		return
	}
	set := cs.sessions
	lp.ps.msg2 = appendMessage(lp.ps.msg2[:0], 2, kind, pattern, channel, payload)
	lp.ps.msg3 = lp.ps.msg3[:0]
	limit := lp.srv.lv().HardLimit
	for s := range set {
		if s.closed {
			continue
		}
		if s.proto == 3 {
			if len(lp.ps.msg3) == 0 {
				lp.ps.msg3 = appendMessage(lp.ps.msg3, 3, kind, pattern, channel, payload)
			}
			s.push(lp.ps.msg3)
		} else {
			s.complete(s.alloc(), lp.ps.msg2)
		}
		messagesFanned.Inc()
		if !s.closed && s.pending() > limit {
			lp.srv.logLimit(&lp.srv.logs.overLimit, slog.LevelWarn, "limit hit: slow subscriber disconnected over the hard limit", "client", s.id,
				"addr", s.c.RemoteAddr().String(), "unread", s.pending(), "hard_limit", limit)
			slowSubscribers.Inc()
			clientsOverLimit.Inc()
			s.close()
		}
	}
	if cap(lp.ps.msg2) > maxIdleSlot {
		lp.ps.msg2, lp.ps.msg3 = nil, nil
	}
}

// appendMessage appends a message, pmessage or smessage frame.
func appendMessage(b []byte, proto int, kind router.SubKind, pattern, channel, payload []byte) []byte {
	switch kind {
	case router.SubPattern:
		b = codec.AppendPushLen(b, proto, 4)
		b = codec.AppendBulkString(b, "pmessage")
		b = codec.AppendBulk(b, pattern)
	case router.SubShard:
		b = codec.AppendPushLen(b, proto, 3)
		b = codec.AppendBulkString(b, "smessage")
	default:
		b = codec.AppendPushLen(b, proto, 3)
		b = codec.AppendBulkString(b, "message")
	}
	b = codec.AppendBulk(b, channel)
	return codec.AppendBulk(b, payload)
}

// Merge operations of PUBSUB queries asked of every master (broadcast.go; numbered apart from
// split.go's so that neither list has to know the other).
const (
	mergeUnion mergeOp = 100 + iota // CHANNELS, SHARDCHANNELS: the names, each once
	mergePairs                      // NUMSUB, SHARDNUMSUB: name, count pairs, counts added; an array in RESP3 too, as Redis 7.0 answers
)

// pubsubQuery answers PUBSUB CHANNELS/NUMSUB/NUMPAT/SHARDCHANNELS/SHARDNUMSUB by asking every
// master and merging (broadcast.go); other subcommands (HELP) go to one master.
func (s *session) pubsubQuery(cmd *codec.Command, args [][]byte, raw []byte) {
	switch cmd.Name {
	case "pubsub|channels", "pubsub|shardchannels":
		s.broadcast(cmd, raw, mergeUnion, 0)
	case "pubsub|numsub", "pubsub|shardnumsub":
		s.broadcast(cmd, raw, mergePairs, 0)
	case "pubsub|numpat":
		s.broadcast(cmd, raw, mergeSum, 0)
	default:
		s.send(cmd, router.SlotAny, raw)
	}
}

// mergePubsub merges the masters' answers to a PUBSUB query (errors were handled by the caller).
func mergePubsub(dst []byte, op mergeOp, replies [][]byte, sc *mergeScratch) []byte {
	for len(sc.elems) < len(replies) {
		sc.elems = append(sc.elems, nil)
	}
	perPart := sc.elems[:len(replies)]
	for p, r := range replies {
		var err error
		perPart[p], err = codec.ArrayElems(r, perPart[p][:0])
		if err != nil {
			return codec.AppendError(dst, errMalformed)
		}
	}
	if op == mergeUnion {
		seen := map[string]struct{}{}
		var names [][]byte
		for _, pp := range perPart {
			for _, e := range pp {
				name, _ := codec.BulkText(e)
				if _, ok := seen[string(name)]; !ok {
					seen[string(name)] = struct{}{}
					names = append(names, e)
				}
			}
		}
		dst = codec.AppendArrayLen(dst, len(names))
		for _, e := range names {
			dst = append(dst, e...)
		}
		return dst
	}
	// Pairs: every master answers the names asked, in the order asked.
	first := perPart[0]
	for _, pp := range perPart[1:] {
		if len(pp) != len(first) {
			return codec.AppendError(dst, errMalformed)
		}
	}
	dst = codec.AppendArrayLen(dst, len(first))
	for i := 0; i+1 < len(first); i += 2 {
		dst = append(dst, first[i]...)
		var sum int64
		for _, pp := range perPart {
			n, _ := codec.ParseInt(pp[i+1])
			sum += n
		}
		dst = codec.AppendInt(dst, sum)
	}
	return dst
}

// Metrics.
var (
	messagesFanned  = metrics.NewCounter(`slotgate_pubsub_messages_fanned_out_total`)
	slowSubscribers = metrics.NewCounter(`slotgate_pubsub_slow_subscribers_disconnected_total`)
)
