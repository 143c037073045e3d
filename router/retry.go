package router

import (
	"bytes"
	"net"
	"strconv"
	"time"
)

// parkedReq is a request that waits for an owner: its slot has no reachable master, or the node
// asked to try again later. It is sent when one appears, or answered with an error once the
// retry window has passed.
type parkedReq struct {
	p         pending
	req       []byte // owned copy of the request
	node      string // the node it last waited for ("" if none)
	last      []byte // the node's last error reply, given if the window passes
	notBefore int64  // unix ns: not retried before (TRYAGAIN, CLUSTERDOWN back-off)
	// A redirect waiting for the topology to confirm it (kind errMoved or errAsk; errOther:
	// none): decided once a refresh begun after refreshAfter has finished.
	verify       errKind
	vslot        uint16
	vaddr        string
	refreshAfter uint64
}

// park queues a request until it can be sent. Slotgate's own ASKING is dropped: the request
// after it goes back to its slot's owner, which answers ASK again if it must.
func (l *Loop) park(p pending, req []byte, node string, last []byte, notBefore int64) {
	if p.slot == slotOwn {
		return
	}
	now := time.Now().UnixNano()
	if p.since == 0 {
		p.since = now
	}
	if p.sink != nil {
		p.sink.Rerouted()
	}
	l.parked = append(l.parked, parkedReq{
		p: p, req: append([]byte(nil), req...), node: node,
		last: append([]byte(nil), last...), notBefore: notBefore,
	})
	l.nParked.Store(int32(len(l.parked)))
	requestsParked.Inc()
}

// retryParked sends every parked request whose slot has an owner that can take it now, in
// arrival order, and answers those past the retry window. A sink's requests keep their order:
// once one of them stays parked, its later ones stay too.
func (l *Loop) retryParked(now int64) {
	t := l.Topology()
	window := int64(l.router.RetryWindow())
	parked := l.parked
	l.parked = nil // enqueue may park again (a node found down): those are appended afresh
	l.keptSinks = l.keptSinks[:0]
	var kept []parkedReq
	for i := range parked {
		e := &parked[i]
		if e.p.sink != nil && e.p.sink.Gone() {
			requestsDropped.Inc() // its client left: a write must not land long after that
			continue
		}
		if now-e.p.since >= window {
			if e.p.sink != nil {
				e.p.sink.Deliver(e.p.seq, e.p.part, l.expired(e, t))
			}
			continue
		}
		if e.verify != errOther {
			if l.router.refreshDone.Load() <= e.refreshAfter || l.sinkKept(e.p.sink) {
				kept = append(kept, *e)
				l.keptSinks = append(l.keptSinks, e.p.sink)
			} else {
				l.decideRedirect(e, t)
			}
			continue
		}
		var sc *ShardConn
		if e.notBefore <= now && !l.sinkKept(e.p.sink) {
			var reply []byte
			if sc, reply = l.routeFor(&e.p); reply != nil {
				if e.p.sink != nil {
					e.p.sink.Deliver(e.p.seq, e.p.part, reply)
				}
				continue
			}
		}
		if sc == nil || !sc.available(now) {
			kept = append(kept, *e)
			l.keptSinks = append(l.keptSinks, e.p.sink)
			continue
		}
		sc.enqueue(e.req, &e.p)
	}
	l.parked = append(kept, l.parked...)
	l.nParked.Store(int32(len(l.parked)))
}

func (l *Loop) sinkKept(s Sink) bool {
	for _, k := range l.keptSinks {
		if k == s {
			return true
		}
	}
	return false
}

// expired is the error for a request whose retry window passed.
func (l *Loop) expired(e *parkedReq, t *Topology) []byte {
	requestsExpired.Inc()
	if len(e.last) > 0 {
		return e.last
	}
	node := e.node
	if node == "" && t != nil && e.p.slot >= 0 {
		if s := t.Shard(uint16(e.p.slot)); s >= 0 {
			node = t.Masters[s]
		}
	}
	if node == "" {
		return errNoOwner(e.p.slot, l.router.RetryWindow())
	}
	return errUnreachable(node, l.router.RetryWindow())
}

// redirect handles an error reply of kind k (not errOther) that says the request belongs
// elsewhere or later. It returns true when it took the request over (the sink gets the reply of
// the retry instead), false when the reply goes to the client as it is.
//
// A redirect is only followed to a node of the current map: the text may be a script's return
// value (redis.error_reply), and following it blindly would re-route a slot for every client and
// send the backend password to any address. A MOVED or ASK naming an address the map does not
// know, or answering a script, waits for a refresh to confirm it. TRYAGAIN, CLUSTERDOWN and
// LOADING are retried only when they prove the command did not run: Redis checks slots and keys
// before running a command, but a script can return those texts after running.
func (l *Loop) redirect(sc *ShardConn, p *pending, k errKind, reply []byte) bool {
	if (k == errMoved || k == errAsk) && p.tries >= maxRedirects {
		return false
	}
	if p.pin != nil && !p.pin.blocking {
		return false // a transaction: the client sees the redirect and EXEC answers EXECABORT, as in Redis Cluster
	}
	if k == errUnblocked {
		if !p.blocking() {
			return false
		}
		k = errNotReady // the node turned replica under a blocked command, which did not run
	}
	if p.script && (k == errTryAgain || k == errNotReady) {
		if k == errNotReady {
			l.router.noteDegraded() // still worth a refresh: the node may well be down
		}
		return false
	}
	if sc.replica && !p.script {
		// A replica that cannot serve the read (MOVED: not its master's slot any more; LOADING,
		// MASTERDOWN, CLUSTERDOWN): the master answers it; a read changes nothing.
		req := l.scratchCopy(sc.request(p))
		p.sink.Rerouted()
		p.read = false
		l.sendToOwner(req, p)
		return true
	}
	var target string
	var s uint16
	switch k {
	case errMoved, errAsk:
		text := reply[len("-MOVED "):]
		if k == errAsk {
			text = reply[len("-ASK "):]
		}
		var ok bool
		s, target, ok = parseRedirect(text, sc.Addr)
		if !ok || p.slot < 0 || int32(s) != p.slot {
			return false // not about the slot the request was routed by: not a redirect of ours
		}
	}
	req := l.scratchCopy(sc.request(p))
	p.sink.Rerouted()
	switch k {
	case errMoved, errAsk:
		p.tries++
		if p.script || !l.Topology().Knows(target) {
			l.parkUnverified(*p, req, sc.Addr, reply, k, s, target)
			return true
		}
		redirectsFollowed.Inc()
		if k == errMoved {
			l.router.learnMoved(s, target)
			l.Topology()
			if p.pin != nil {
				l.sendToOwner(req, p) // the patched map moves the pin there
			} else {
				l.connTo(target, false, p.resp3).enqueue(req, p)
			}
		} else {
			l.ask(target, req, *p)
		}
	default:
		// TRYAGAIN (keys split by a migration), CLUSTERDOWN, LOADING: the command was not run.
		// Try again shortly, within the retry window; an owner may have changed meanwhile.
		backoff := tryAgainBackoff
		if k == errNotReady {
			l.router.noteDegraded()
			backoff = l.router.cfg.DownPoll
		}
		p.tries = 0 // the retry window bounds the waiting; ASK then TRYAGAIN may repeat until the slot is moved
		l.park(*p, req, sc.Addr, reply, time.Now().Add(backoff).UnixNano())
	}
	return true
}

// scratchCopy copies a request out of a connection's buffer (which the retry may append to).
func (l *Loop) scratchCopy(req []byte) []byte {
	l.scratch = append(l.scratch[:0], req...)
	return l.scratch
}

// ask sends slotgate's own ASKING, then the request, to the importing node.
func (l *Loop) ask(addr string, req []byte, p pending) {
	target := l.connTo(addr, false, p.resp3)
	if p.pin != nil { // a blocking command: the importing node gets it on a dedicated connection
		var e []byte
		if target, e = p.pin.moveTo(addr); target == nil {
			p.sink.Deliver(p.seq, p.part, e)
			return
		}
	}
	target.follow(p.resp3) // not between ASKING and its request: HELLO would use up the ASKING
	target.enqueue(asking, &pending{slot: slotOwn})
	target.enqueue(req, &p)
}

// parkUnverified holds a MOVED or ASK the map does not confirm until a refresh begun after it
// has finished; decideRedirect then follows it or gives the node's reply to the client.
func (l *Loop) parkUnverified(p pending, req []byte, node string, reply []byte, k errKind, s uint16, addr string) {
	l.park(p, req, node, reply, 0)
	e := &l.parked[len(l.parked)-1]
	e.verify, e.vslot, e.vaddr = k, s, addr
	e.refreshAfter = l.router.refreshStarted.Load()
	l.router.Refresh()
}

// decideRedirect settles a parked redirect once a refresh has finished: followed when the map
// now agrees (a script's MOVED: the slot is served by that node; its ASK: the slot is migrating
// there; any other command's: the node is in the map), else the client gets the node's reply.
func (l *Loop) decideRedirect(e *parkedReq, t *Topology) {
	ok := t != nil
	switch {
	case !ok:
	case e.p.script && e.verify == errMoved:
		ok = t.Owner(e.vslot) == e.vaddr
	case e.p.script:
		ok = t.MigratingTo(e.vslot) == e.vaddr && t.Owner(e.vslot) == e.node
	default:
		ok = t.Knows(e.vaddr)
	}
	if !ok {
		redirectsRefused.Inc() // not logged: a client's script could fill the log
		if e.p.sink != nil {
			e.p.sink.Deliver(e.p.seq, e.p.part, e.last)
		}
		return
	}
	redirectsFollowed.Inc()
	if e.verify == errMoved {
		l.sendToOwner(e.req, &e.p) // the refreshed map routes it
	} else {
		l.ask(e.vaddr, e.req, e.p)
	}
}

// sendToOwner sends a request to the current owner of its slot, or parks it until there is one.
func (l *Loop) sendToOwner(req []byte, p *pending) {
	sc, e := l.routeFor(p)
	switch {
	case e != nil:
		if p.sink != nil {
			p.sink.Deliver(p.seq, p.part, e)
		}
	case sc != nil:
		sc.enqueue(req, p)
	default:
		l.park(*p, req, "", nil, 0)
	}
}

// routeFor picks the connection for p: its pin's, or the shared one of its slot (see route).
// nil with no error: no owner yet. An error: the request cannot be sent, and this is its reply.
func (l *Loop) routeFor(p *pending) (*ShardConn, []byte) {
	if p.pin != nil {
		return p.pin.target()
	}
	return l.route(p.slot, p.read, p.resp3), nil
}

// maxRedirects bounds MOVED/ASK hops per request: past it the client gets the last reply.
const maxRedirects = 5

// tryAgainBackoff is the pause after TRYAGAIN: a migration moves a batch of keys in
// milliseconds.
const tryAgainBackoff = 10 * time.Millisecond

var asking = []byte("*1\r\n$6\r\nASKING\r\n")

// parseRedirect parses "3999 127.0.0.1:6381" of a MOVED or ASK reply. A node that does not know
// its own IP sends ":6381": the host is then the one that answered.
func parseRedirect(b []byte, answered string) (uint16, string, bool) {
	b = bytes.TrimRight(b, "\r\n")
	sp := bytes.IndexByte(b, ' ')
	if sp <= 0 {
		return 0, "", false
	}
	n, err := strconv.Atoi(string(b[:sp]))
	if err != nil || n < 0 || n > 16383 {
		return 0, "", false
	}
	host, port, err := net.SplitHostPort(string(b[sp+1:]))
	if err != nil || port == "" {
		return 0, "", false
	}
	if host == "" || host == "?" {
		host, _, _ = net.SplitHostPort(answered)
	}
	return uint16(n), net.JoinHostPort(host, port), true
}
