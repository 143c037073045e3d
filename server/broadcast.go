package server

import (
	"bytes"
	"strconv"
	"strings"

	"github.com/slotgate/slotgate/codec"
	"github.com/slotgate/slotgate/router"
	"github.com/slotgate/slotgate/router/slot"
)

// Broadcast: one request sent to every master as the parts of one request, and the parts'
// replies merged into the client's one reply (DESIGN "The command classifier").
//
// Using it from a command handler (the whole API):
//
//	s.broadcast(cmd, raw, op, kind)
//
// cmd names the command in the error past the cap (Config.MaxMergeBytes); raw is the request as the client sent it (inline requests are re-encoded here); op says how
// the replies combine (mergeSame, mergeAndInts, mergeSum, mergeAnyOK, mergeFirst, or a new op
// added to mergeReplies); kind is the router.Kind of every part (usually 0). The request takes
// one reply slot and the client gets exactly one reply. A new merge op is a new mergeOp constant
// plus its case in mergeReplies (a pure function of the parts' replies: test it there).
//
// "Every master" is every master serving at least one slot, reached through one representative
// slot each (the lowest slot it serves): the part is routed by that slot like any request, so a
// failover while it is parked or redirected reaches the slot's new owner through the usual
// routing, and a master that serves no slot is not asked.

// broadcastSlots returns one slot per master serving slots (the lowest of each), in slot
// order: recomputed when the loop's topology changes, so a broadcast costs no scan.
func (lp *loop) broadcastSlots(t *router.Topology) []uint16 {
	if lp.bcastTopo == t {
		return lp.bcastSlots
	}
	lp.bcastTopo = t
	lp.bcastSlots = lp.bcastSlots[:0]
	seen := make([]bool, len(t.Masters))
	for sl := 0; sl < slot.Count; sl++ {
		if sh := t.Shard(uint16(sl)); sh >= 0 && sh < len(seen) && !seen[sh] {
			seen[sh] = true
			lp.bcastSlots = append(lp.bcastSlots, uint16(sl))
		}
	}
	return lp.bcastSlots
}

// masterSlots returns the topology and one slot of each master serving slots (broadcastSlots),
// or answers the current request with the no-topology error and returns nil slots.
func (s *session) masterSlots() (*router.Topology, []uint16) {
	t := s.lp.rl.Topology()
	var slots []uint16
	if t != nil {
		slots = s.lp.broadcastSlots(t)
	}
	if len(slots) == 0 {
		s.local(errNoTopology(s.lp.scratch[:0], s.srv.rt))
		return t, nil
	}
	return t, slots
}

// broadcast sends the current request to every master and answers with their replies merged
// by op (see the comment at the top of this file).
func (s *session) broadcast(cmd *codec.Command, raw []byte, op mergeOp, kind router.Kind) {
	s.broadcastN(cmd, raw, op, kind, 0)
}

// broadcastN is broadcast with a count the merge needs (SLOWLOG GET's).
func (s *session) broadcastN(cmd *codec.Command, raw []byte, op mergeOp, kind router.Kind, count int) {
	lp := s.lp
	t, slots := s.masterSlots()
	if slots == nil {
		return
	}
	if !s.onLane(nil) {
		return
	}
	if s.req.Inline {
		raw = codec.AppendRequest(lp.partReq[:0], s.req.Args) // backends get RESP, never inline
		lp.partReq = raw
	}
	seq := s.alloc()
	m := lp.newMerge(op, len(slots))
	m.limit, m.name, m.count = s.srv.lv().MaxMergeBytes, cmd.Name, count
	s.slot(seq).merge = m
	for _, sl := range slots {
		m.addrs = append(m.addrs, t.Masters[t.Shard(sl)])
	}
	for p, sl := range slots {
		s.sendPart(int(sl), raw, int32(p), kind)
	}
	broadcastRequests.Inc()
}

// errMergedTooLarge answers a broadcast whose parts' replies together passed limit bytes
// (Config.MaxMergeBytes): past it the parts still arriving are dropped. name is the command's
// (codec.Command.Name: "keys", "slowlog|get").
func errMergedTooLarge(dst []byte, name string, limit int) []byte {
	switch name {
	case "keys":
		return codec.AppendError(dst, "ERR KEYS reply too large through slotgate; use SCAN")
	case "scan":
		return codec.AppendError(dst, "ERR SCAN page too large through slotgate: the master's reply passes "+strconv.Itoa(limit)+
			" bytes (-max-merge-bytes); use a smaller COUNT")
	}
	return codec.AppendError(dst, "ERR "+strings.ToUpper(strings.ReplaceAll(name, "|", " "))+
		" reply too large through slotgate: the masters' replies together pass "+strconv.Itoa(limit)+
		" bytes (-max-merge-bytes)")
}

// Texts of the merges of broadcast replies.
const (
	errDisagree  = "ERR slotgate: the masters answered this command differently (it ran on each of them)"
	errMalformed = "ERR slotgate: a master answered with a malformed reply"
	errNotBusy   = "-NOTBUSY"
)

// mergeBroadcast is mergeReplies for the broadcast ops (see their definitions in split.go).
func mergeBroadcast(dst []byte, op mergeOp, replies [][]byte, arrived []int32, sc *mergeScratch) []byte {
	switch op {
	case mergeFirst:
		return append(dst, replies[0]...)
	case mergeNonNil:
		return mergeFirstNonNil(dst, replies, arrived) // keyspace.go
	case mergeAnyOK:
		// OK if any master did it; else an error other than NOTBUSY (a master that could not
		// do it tells more than one that had nothing to do), else the first to arrive.
		for _, r := range replies {
			if !codec.IsError(r) {
				return append(dst, r...)
			}
		}
		for _, p := range arrived {
			if !bytes.HasPrefix(replies[p], []byte(errNotBusy)) {
				return append(dst, replies[p]...)
			}
		}
		return append(dst, replies[arrived[0]]...)
	}
	if e := firstError(replies, arrived); e != nil {
		return append(dst, e...)
	}
	switch op {
	case mergeSame:
		for _, r := range replies[1:] {
			if !bytes.Equal(r, replies[0]) {
				return codec.AppendError(dst, errDisagree)
			}
		}
		return append(dst, replies[0]...)
	case mergeAndInts:
		return mergeAndArrays(dst, replies, sc)
	case mergeConcat:
		return mergeConcatArrays(dst, replies) // keyspace.go
	case mergeMin:
		return mergeMinInt(dst, replies)
	case mergeSlowlog:
		return mergeSlowlogGet(dst, replies, arrived, -1, nil, sc) // the count and addresses are the merge's: deliverPart
	case mergeUnion, mergePairs:
		return mergePubsub(dst, op, replies, sc) // PUBSUB queries (pubsub.go)
	}
	return codec.AppendError(dst, errMalformed)
}

// mergeAndArrays merges arrays of integers (SCRIPT EXISTS): 1 where every master answered
// non-zero, else 0. Arrays of different lengths, or elements that are not integers, are a
// malformed reply.
func mergeAndArrays(dst []byte, replies [][]byte, sc *mergeScratch) []byte {
	for len(sc.elems) < len(replies) {
		sc.elems = append(sc.elems, nil)
	}
	n := -1
	for p, r := range replies {
		var err error
		sc.elems[p], err = codec.ArrayElems(r, sc.elems[p][:0])
		if err != nil || (n >= 0 && len(sc.elems[p]) != n) {
			return codec.AppendError(dst, errMalformed)
		}
		n = len(sc.elems[p])
	}
	out := codec.AppendArrayLen(dst, n)
	for i := 0; i < n; i++ {
		all := int64(1)
		for p := range replies {
			v, ok := codec.ParseInt(sc.elems[p][i])
			if !ok {
				return codec.AppendError(dst, errMalformed)
			}
			if v == 0 {
				all = 0
			}
		}
		out = codec.AppendInt(out, all)
	}
	return out
}
