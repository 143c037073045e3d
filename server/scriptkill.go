package server

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/slotgate/slotgate/codec"
	"github.com/slotgate/slotgate/router"
)

// SCRIPT KILL and FUNCTION KILL cannot travel on the shared pipelines: while a script runs past
// busy-reply-threshold, Redis reads nothing more from the connection that sent it, which is the
// loop's shared connection to that master, so a KILL queued behind it would only be read once the
// script ended (and answer NOTBUSY). Each master therefore gets the KILL on a connection of its
// own, dialed off the event loop; the replies come back to the loop through Execute and are merged
// like a broadcast (mergeAnyOK). Rare commands: the goroutines and allocations are not a cost.

// killTimeout bounds one master's KILL, connection and reply together.
const killTimeout = 5 * time.Second

// killScripts sends the current request (SCRIPT KILL or FUNCTION KILL) to every master serving
// slots, each on a fresh connection.
func (s *session) killScripts(args [][]byte) {
	lp := s.lp
	t, slots := s.masterSlots()
	if slots == nil {
		return
	}
	if killsInFlight.Add(1) > maxKillsInFlight {
		killsInFlight.Add(-1)
		s.local(codec.AppendError(lp.scratch[:0], "ERR slotgate: too many SCRIPT/FUNCTION KILL in progress; try again"))
		return
	}
	addrs := make([]string, len(slots))
	for i, sl := range slots {
		addrs[i] = t.Owner(sl)
	}
	strArgs := make([]string, len(args))
	for i, a := range args {
		strArgs[i] = string(a)
	}
	seq := s.alloc()
	m := lp.newMerge(mergeAnyOK, len(slots))
	m.limit, m.name = s.srv.lv().MaxMergeBytes, "script|kill"
	if codec.EqualFold(args[0], "function") {
		m.name = "function|kill"
	}
	s.slot(seq).merge = m
	// Counted in flight like parts sent through the router: Deliver uncounts each reply.
	s.inflight += len(slots)
	lp.inflight += int64(len(slots))
	s.sentGen = lp.rl.Gen()
	k := &killRequest{s: s, seq: seq, replies: make([][]byte, len(slots))}
	rt := s.srv.rt
	el := lp.el
	go func() {
		var wg sync.WaitGroup
		for i, addr := range addrs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				k.replies[i] = killOn(rt, addr, strArgs)
			}()
		}
		wg.Wait()
		killsInFlight.Add(-1)
		_ = el.Execute(context.Background(), k)
	}()
	broadcastRequests.Inc()
}

// Each KILL dials every master off the loop: bounded for the process, so that clients
// repeating it cannot open connections and goroutines without limit.
const maxKillsInFlight = 16

var killsInFlight atomic.Int32

// killOn sends the KILL to one master and returns its reply, or slotgate's error.
func killOn(rt *router.Router, addr string, args []string) []byte {
	c, err := rt.DialNode(addr)
	if err != nil {
		return codec.AppendError(nil, "ERR slotgate: cannot reach node "+addr+" for "+args[0]+" "+args[1]+": "+err.Error())
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(killTimeout))
	reply, err := router.RoundTrip(c, args...)
	if err != nil {
		return codec.AppendError(nil, "ERR slotgate: no reply from node "+addr+" to "+args[0]+" "+args[1]+": "+err.Error())
	}
	return reply
}

// killRequest brings the masters' replies to a KILL back to the client's loop.
type killRequest struct {
	s       *session
	seq     uint64
	replies [][]byte
}

// Run implements gnet.Runnable, on the session's loop.
func (k *killRequest) Run(context.Context) error {
	for i, r := range k.replies {
		k.s.Deliver(k.seq, int32(i), r)
	}
	k.s.lp.flushTouched(false)
	return nil
}

var _ gnet.Runnable = (*killRequest)(nil)
