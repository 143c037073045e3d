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
}

// park queues a request until it can be sent. Slotgate's own ASKING is dropped: the request
// after it goes back to its slot's owner, which answers ASK again if it must.
func (l *Loop) park(p pending, req []byte, node string, last []byte, notBefore int64) {
	if p.slot == slotAsking {
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
		if now-e.p.since >= window {
			if e.p.sink != nil {
				e.p.sink.Deliver(e.p.seq, e.p.part, l.expired(e, t))
			}
			continue
		}
		var sc *ShardConn
		if e.notBefore <= now && !l.sinkKept(e.p.sink) {
			sc = l.route(e.p.slot, e.p.read)
		}
		if sc == nil || !sc.available(now) {
			kept = append(kept, *e)
			l.keptSinks = append(l.keptSinks, e.p.sink)
			continue
		}
		sc.enqueue(e.req, e.p)
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
// the retry instead).
func (l *Loop) redirect(sc *ShardConn, p *pending, k errKind, reply []byte) bool {
	if (k == errMoved || k == errAsk) && p.tries >= maxRedirects {
		return false
	}
	req := append(l.scratch[:0], sc.request(p)...)
	l.scratch = req
	p.sink.Rerouted()
	if sc.replica {
		// A replica that cannot serve the read (MOVED: not its master's slot any more; LOADING,
		// MASTERDOWN, CLUSTERDOWN): the master answers it.
		p.read = false
		l.sendToOwner(req, *p)
		return true
	}
	switch k {
	case errMoved:
		slot, addr, ok := parseRedirect(reply[len("-MOVED "):], sc.Addr)
		if !ok {
			return false
		}
		p.tries++
		redirectsFollowed.Inc()
		l.router.learnMoved(slot, addr)
		l.Topology()
		if p.slot >= 0 && p.slot != int32(slot) {
			l.sendToOwner(req, *p) // not the slot we routed by: go by the (patched) map
		} else {
			l.connTo(addr, false).enqueue(req, *p)
		}
	case errAsk:
		_, addr, ok := parseRedirect(reply[len("-ASK "):], sc.Addr)
		if !ok {
			return false
		}
		p.tries++
		redirectsFollowed.Inc()
		target := l.connTo(addr, false)
		target.enqueue(asking, pending{slot: slotAsking})
		target.enqueue(req, *p)
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

// sendToOwner sends a request to the current owner of its slot, or parks it until there is one.
func (l *Loop) sendToOwner(req []byte, p pending) {
	if sc := l.route(p.slot, p.read); sc != nil {
		sc.enqueue(req, p)
		return
	}
	l.park(p, req, "", nil, 0)
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
