package server

import (
	"cmp"
	"context"
	"log/slog"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/panjf2000/gnet/v2"
	"github.com/slotgate/slotgate/codec"
	"github.com/slotgate/slotgate/router"
)

// CLIENT LIST, CLIENT INFO and CLIENT KILL answer about slotgate's own clients (never the
// nodes'), in Redis 7.0's text.
//
// A session belongs to the goroutine of its event loop, and clients sit on every loop. So a
// LIST or KILL is a query run by every loop on its own sessions: the asking loop hands it to
// each loop as a gnet Runnable (EventLoop.Execute, safe from any goroutine), each reads or
// closes its sessions there, and the last loop to finish hands the result back to the asking
// loop, where it is delivered like a backend reply into the client's reply queue. Sessions are
// only ever read or closed by their own loop, so the request path pays nothing for this: no
// registry, no lock and no atomic per request (dispatch stores the command's index, one plain
// write). A query allocates a little per loop, as a rare admin command may.
//
// A killed client leaves by the path of any client that disconnects (OnClose): its requests at
// the backends keep their FIFO places and their replies are dropped as they come, its
// dedicated connections are closed.

// clientType is Redis's client type, for the TYPE filters.
type clientType int8

const (
	typeAny clientType = iota
	typeNormal
	typePubsub
	typeMaster  // never among slotgate's clients
	typeReplica // never among slotgate's clients
)

// parseClientType reads Redis's type names; ok is false for an unknown one.
func parseClientType(b []byte) (clientType, bool) {
	switch {
	case codec.EqualFold(b, "normal"):
		return typeNormal, true
	case codec.EqualFold(b, "pubsub"):
		return typePubsub, true
	case codec.EqualFold(b, "master"):
		return typeMaster, true
	case codec.EqualFold(b, "replica"), codec.EqualFold(b, "slave"):
		return typeReplica, true
	}
	return typeAny, false
}

func errClientType(b []byte, name []byte) []byte {
	return codec.AppendError(b, "ERR Unknown client type '"+clip(name)+"'")
}

// clientFilter selects sessions. Built on the asking loop and only read afterwards, by every
// loop at once.
type clientFilter struct {
	ids      map[int64]struct{} // nil: any id
	typ      clientType
	addr     string // with hasAddr: the peer's ip:port
	laddr    string // with hasLaddr: slotgate's ip:port of the connection
	hasAddr  bool
	hasLaddr bool
	maxAge   int64    // seconds; 0: any age
	skip     *session // SKIPME yes: the asking client
}

func (f *clientFilter) match(s *session, now time.Time) bool {
	switch {
	case s.closed || s == f.skip:
		return false
	case f.ids != nil:
		if _, ok := f.ids[s.id]; !ok {
			return false
		}
	}
	if f.typ != typeAny && f.typ != s.clientType() {
		return false
	}
	if f.maxAge > 0 && int64(now.Sub(s.since)/time.Second) < f.maxAge {
		return false
	}
	if f.hasAddr && s.c.RemoteAddr().String() != f.addr {
		return false
	}
	return !f.hasLaddr || s.c.LocalAddr().String() == f.laddr
}

func (s *session) clientType() clientType {
	if s.subscribed() {
		return typePubsub // Redis's CLIENT_PUBSUB, in either protocol
	}
	return typeNormal
}

// clientsQuery is one CLIENT LIST or CLIENT KILL on its way through the loops.
type clientsQuery struct {
	s      *session // the asking client: read on its loop only
	seq    uint64
	home   gnet.EventLoop
	kill   bool
	old    bool // CLIENT KILL ip:port: +OK or -ERR No such client rather than a count
	f      clientFilter
	order  []int64 // CLIENT LIST ID: the ids in the order asked (duplicates included)
	now    time.Time
	parts  []clientsPart
	left   atomic.Int32 // parts not done yet
	killed atomic.Int64
	self   bool // CLIENT KILL matched the asking client (SKIPME no): closed after the reply
}

// clientsPart is one loop's share of a query, run on that loop.
type clientsPart struct {
	q     *clientsQuery
	lp    *loop
	lines []clientLine
}

// clientLine is one session's CLIENT LIST line.
type clientLine struct {
	id   int64
	text []byte
}

// clientsCommand answers CLIENT LIST [TYPE type | ID id...] and CLIENT KILL ip:port | CLIENT
// KILL filter... . It returns the reply of a request refused at once, or nil when every loop
// was asked and the reply will come (clientsQuery.Run), or when the request is deferred until
// the client's requests in flight are answered (s.deferred).
func (s *session) clientsCommand(b []byte, args [][]byte) []byte {
	q := &clientsQuery{s: s, home: s.lp.el, now: time.Now()}
	var errReply []byte
	if codec.EqualFold(args[1], "list") {
		errReply = q.parseList(b, args)
	} else {
		q.kill = true
		errReply = q.parseKill(b, args)
	}
	if errReply != nil {
		return errReply
	}
	if !s.newLane() {
		// One query at a time per client, after its earlier requests: what the loops build for
		// it is bounded by the clients' count, not by how many queries one client pipelines.
		return nil
	}
	if q.kill && q.f.skip == nil && !s.closed && q.f.match(s, q.now) {
		// Killing yourself: Redis answers, then closes, and reads nothing more.
		q.self = true
		q.killed.Add(1)
		q.f.skip = s // the loops close the others
		s.stopRead = true
		s.srv.logLimit(&s.srv.logs.kill, slog.LevelInfo, "CLIENT KILL", "by", s.id, "killed", 1, "self", true, "addr", s.c.RemoteAddr().String())
		clientsKilled.Inc()
	}

	loops := s.srv.loopList()
	q.parts = make([]clientsPart, len(loops))
	q.left.Store(int32(len(loops)))

	q.seq = s.alloc()
	if q.self {
		s.closeAt = q.seq + 1
	}
	// Counted in flight like a request at a backend: the shutdown drain waits for it, the idle
	// timeout spares the client, and Deliver uncounts it.
	s.sentGen = s.lp.rl.Gen() // nothing else is in flight (newLane)
	s.inflight++
	s.lp.inflight++
	for i, lp := range loops {
		p := &q.parts[i]
		p.q, p.lp = q, lp
		if lp.el.Execute(context.Background(), p) != nil {
			q.partDone() // the engine is stopping: that loop's clients are going anyway
		}
	}
	return nil
}

// parseList reads CLIENT LIST's options as Redis 7.0 does: TYPE with one type, or ID with ids.
func (q *clientsQuery) parseList(b []byte, args [][]byte) []byte {
	switch {
	case len(args) == 2:
	case len(args) == 4 && codec.EqualFold(args[2], "type"):
		t, ok := parseClientType(args[3])
		if !ok {
			return errClientType(b, args[3])
		}
		q.f.typ = t
	case len(args) > 3 && codec.EqualFold(args[2], "id"):
		q.f.ids = make(map[int64]struct{}, len(args)-3)
		for _, a := range args[3:] {
			id, err := strconv.ParseInt(string(a), 10, 64)
			if err != nil {
				return codec.AppendError(b, "ERR Invalid client ID")
			}
			q.f.ids[id] = struct{}{}
			q.order = append(q.order, id)
		}
	default:
		return append(b, errSyntax...)
	}
	return nil
}

// parseKill reads CLIENT KILL's old form (one ip:port, which may be the caller's own) or its
// filters, as Redis does (MAXAGE is Redis 7.4's).
func (q *clientsQuery) parseKill(b []byte, args [][]byte) []byte {
	f := &q.f
	if len(args) == 3 {
		q.old = true
		f.addr, f.hasAddr = string(args[2]), true
		return nil
	}
	f.skip = q.s
	for i := 2; i < len(args); i += 2 {
		if i+1 == len(args) {
			return append(b, errSyntax...)
		}
		opt, val := args[i], args[i+1]
		switch {
		case codec.EqualFold(opt, "id"):
			id, err := strconv.ParseInt(string(val), 10, 64)
			if err != nil || id < 1 {
				return codec.AppendError(b, "ERR client-id should be greater than 0")
			}
			f.ids = map[int64]struct{}{id: {}} // the last ID given counts, as in Redis
		case codec.EqualFold(opt, "maxage"):
			n, err := strconv.ParseInt(string(val), 10, 64)
			if err != nil {
				return codec.AppendError(b, "ERR maxage is not an integer or out of range")
			}
			if n <= 0 {
				return codec.AppendError(b, "ERR maxage should be greater than 0")
			}
			f.maxAge = n
		case codec.EqualFold(opt, "type"):
			t, ok := parseClientType(val)
			if !ok {
				return errClientType(b, val)
			}
			f.typ = t
		case codec.EqualFold(opt, "addr"):
			f.addr, f.hasAddr = string(val), true
		case codec.EqualFold(opt, "laddr"):
			f.laddr, f.hasLaddr = string(val), true
		case codec.EqualFold(opt, "user"):
			if string(val) != "default" { // slotgate's clients are all "default" (AUTH password, or AUTH default password)
				return codec.AppendError(b, "ERR No such user '"+clip(val)+"'")
			}
		case codec.EqualFold(opt, "skipme"):
			switch {
			case codec.EqualFold(val, "yes"):
				f.skip = q.s
			case codec.EqualFold(val, "no"):
				f.skip = nil
			default:
				return append(b, errSyntax...)
			}
		default:
			return append(b, errSyntax...)
		}
	}
	return nil
}

// Run implements gnet.Runnable: the part of the query on loop p.lp, on its goroutine.
func (p *clientsPart) Run(context.Context) error {
	q, lp := p.q, p.lp
	if q.kill {
		var victims []*session // closing removes a session from lp.sessions: not while walking it
		for _, s := range lp.sessions {
			if q.f.match(s, q.now) {
				victims = append(victims, s)
			}
		}
		inflight := 0
		for _, s := range victims {
			inflight += s.inflight
			s.close()
		}
		if len(victims) > 0 {
			lp.srv.logLimit(&lp.srv.logs.kill, slog.LevelInfo, "CLIENT KILL", "by", q.s.id, "killed", len(victims), "first", victims[0].id,
				"inflight", inflight)
			clientsKilled.Add(len(victims))
			q.killed.Add(int64(len(victims)))
		}
	} else {
		var text []byte
		for _, s := range lp.sessions {
			if q.f.match(s, q.now) {
				start := len(text)
				text = s.appendClientInfo(text, q.now)
				p.lines = append(p.lines, clientLine{id: s.id, text: text[start:len(text):len(text)]})
			}
		}
	}
	lp.flushTouched(false) // ends the callback as every loop callback does
	q.partDone()
	return nil
}

// partDone counts one loop's part; after the last, the asking loop answers (q.Run).
func (q *clientsQuery) partDone() {
	if q.left.Add(-1) == 0 {
		_ = q.home.Execute(context.Background(), q) // fails only when the engine stops, and the client with it
	}
}

// Run implements gnet.Runnable: every loop's part is in; on the asking client's loop.
func (q *clientsQuery) Run(context.Context) error {
	s := q.s
	b := s.lp.scratch[:0]
	switch {
	case q.old && q.killed.Load() == 0:
		b = codec.AppendError(b, "ERR No such client")
	case q.old:
		b = codec.AppendOK(b)
	case q.kill:
		b = codec.AppendInt(b, q.killed.Load())
	default:
		b = codec.AppendVerbatim(b, int(s.proto), "txt", q.listText()) // RESP3: "=len\r\ntxt:...", as Redis
	}
	s.lp.scratch = b[:0]
	s.Deliver(q.seq, -1, b)
	s.lp.flushTouched(false)
	return nil
}

// listText joins the loops' lines: by id (the order Redis lists its clients in, oldest first),
// or for CLIENT LIST ID in the order asked.
func (q *clientsQuery) listText() []byte {
	var all []clientLine
	for _, p := range q.parts {
		all = append(all, p.lines...)
	}
	var text []byte
	if q.order != nil {
		byID := make(map[int64][]byte, len(all))
		for _, l := range all {
			byID[l.id] = l.text
		}
		for _, id := range q.order {
			text = append(text, byID[id]...)
		}
		return text
	}
	slices.SortFunc(all, func(a, b clientLine) int { return cmp.Compare(a.id, b.id) })
	for _, l := range all {
		text = append(text, l.text...)
	}
	return text
}

// clientInfo answers CLIENT INFO: the caller's line; a bulk string in RESP2, a verbatim string
// ("=len\r\ntxt:...") in RESP3, as Redis 7.0 answers both.
func (s *session) clientInfo(b []byte) []byte {
	return codec.AppendVerbatim(b, int(s.proto), "txt", s.appendClientInfo(nil, time.Now()))
}

// listLibFields: Redis 7.2 added lib-name and lib-ver to the line with CLIENT SETINFO; they are
// shown once the command table (a 7.0 server's) has SETINFO, so the line matches its version.
var listLibFields = codec.Lookup([]byte("client")).Sub([]byte("setinfo")) != nil

// appendClientInfo appends s's CLIENT LIST line (newline included), with Redis 7.0's fields in
// Redis's order. Run on s's loop. What slotgate knows is true: the subscription counts, the
// MULTI queue, the protocol, the last command, age and idle time, the bytes it holds for the
// client (qbuf: requests not yet parsed; omem: replies not yet written; tot-mem: both and the
// requests kept for retries); the rest is 0.
func (s *session) appendClientInfo(b []byte, now time.Time) []byte {
	b = append(b, "id="...)
	b = strconv.AppendInt(b, s.id, 10)
	b = append(b, " addr="...)
	b = append(b, s.c.RemoteAddr().String()...)
	b = append(b, " laddr="...)
	b = append(b, s.c.LocalAddr().String()...)
	b = append(b, " fd="...)
	b = strconv.AppendInt(b, int64(s.c.Fd()), 10)
	b = append(b, " name="...)
	b = append(b, s.name...)
	b = append(b, " age="...)
	b = strconv.AppendInt(b, int64(now.Sub(s.since)/time.Second), 10)
	b = append(b, " idle="...)
	b = strconv.AppendInt(b, int64(max(now.Sub(s.srv.started)-s.lastSeen, 0)/time.Second), 10)
	b = append(b, " flags="...)
	b = s.appendClientFlags(b)
	var sub, psub, ssub int
	if ps := s.ps; ps != nil {
		sub, psub, ssub = len(ps.names[router.SubChannel]), len(ps.names[router.SubPattern]), len(ps.names[router.SubShard])
	}
	b = append(b, " db=0 sub="...)
	b = strconv.AppendInt(b, int64(sub), 10)
	b = append(b, " psub="...)
	b = strconv.AppendInt(b, int64(psub), 10)
	b = append(b, " ssub="...)
	b = strconv.AppendInt(b, int64(ssub), 10)
	b = append(b, " multi="...)
	multi := -1
	if s.tx == txQueuing {
		multi = s.txQueued
	}
	b = strconv.AppendInt(b, int64(multi), 10)
	qbuf := s.c.InboundBuffered() + len(s.held)
	omem := s.pending()
	b = append(b, " qbuf="...)
	b = strconv.AppendInt(b, int64(qbuf), 10)
	b = append(b, " qbuf-free=0 argv-mem=0 multi-mem=0 rbs=0 rbp=0 obl=0 oll=0 omem="...)
	b = strconv.AppendInt(b, int64(omem), 10)
	b = append(b, " tot-mem="...)
	b = strconv.AppendInt(b, int64(qbuf+omem+s.reqBytes+s.subBytes()), 10)
	b = append(b, " events="...)
	if !s.paused && !s.stopRead {
		b = append(b, 'r')
	}
	if s.c.OutboundBuffered() > 0 {
		b = append(b, 'w')
	}
	b = append(b, " cmd="...)
	if s.lastCmd != nil {
		b = append(b, s.lastCmd.Name...)
	} else {
		b = append(b, "NULL"...)
	}
	b = append(b, " user=default redir=-1 resp="...)
	b = strconv.AppendInt(b, int64(s.proto), 10)
	if listLibFields {
		b = append(b, " lib-name="...)
		b = append(b, s.libName...)
		b = append(b, " lib-ver="...)
		b = append(b, s.libVer...)
	}
	return append(b, '\n')
}

// appendClientFlags appends the flags Redis would show that slotgate's sessions can have, in
// Redis's order: P pub/sub, x in MULTI, b blocked, c closing after its reply; N none.
func (s *session) appendClientFlags(b []byte) []byte {
	n := len(b)
	if s.subscribed() {
		b = append(b, 'P')
	}
	if s.tx == txQueuing {
		b = append(b, 'x')
	}
	if s.blockPin != nil {
		b = append(b, 'b')
	}
	if s.closeAt != 0 {
		b = append(b, 'c')
	}
	if len(b) == n {
		b = append(b, 'N')
	}
	return b
}

var clientsKilled = metrics.NewCounter(`slotgate_clients_killed_total`) // by CLIENT KILL

var (
	_ gnet.Runnable = (*clientsPart)(nil)
	_ gnet.Runnable = (*clientsQuery)(nil)
)
