package server

import (
	"github.com/slotgate/slotgate/codec"
	"github.com/slotgate/slotgate/router"
	"github.com/slotgate/slotgate/router/slot"
)

// mergeOp is how the parts of a split command combine.
type mergeOp uint8

const (
	mergeArray  mergeOp = iota // MGET: elements back in the original key order
	mergeSum                   // DEL/UNLINK/EXISTS/TOUCH: integers added
	mergeOK                    // MSET: +OK when every part said so
	mergeRedact                // CONFIG GET: one part, the node's reply minus secret pairs (secrets.go)

	// Broadcast ops (broadcast.go); mergeSum serves broadcasts too.
	mergeSame     // every master's reply when they are all the same (SCRIPT LOAD: the sha), else the first error or a disagreement error
	mergeAndInts  // arrays of integers: 1 where every master answered non-zero (SCRIPT EXISTS)
	mergeAnyOK    // the first non-error reply by part; else the first error other than NOTBUSY; else the first error (SCRIPT KILL)
	mergeFirst    // the reply of part 0 (the master of the lowest slot) as it came, the others ignored
	mergeConcat   // arrays' elements concatenated in part order (KEYS, LATENCY LATEST)
	mergeNonNil   // the first non-null reply to arrive, else the first error, else null (RANDOMKEY)
	mergeMin      // the least integer (LASTSAVE: the oldest save)
	mergeSlowlog  // SLOWLOG GET: every master's entries, newest first, at most merge.count (keyspace.go)
	mergeInfo     // INFO: the masters' sections merged as one Redis's, with slotgate's own fields (info.go)
	mergeNodeText // MEMORY DOCTOR, MEMORY MALLOC-STATS: each master's text after its address (keyspace.go)
	mergeNodeMap  // MEMORY STATS: a map of master address to that master's reply (keyspace.go)
	mergeScan     // SCAN: one master's page, its keys kept to the cursor's slot range and its cursor made slotgate's (scan.go)
)

// merge collects the parts of one split request. It is owned by one reply slot and returned to
// its loop's free list when the merged reply is made.
type merge struct {
	op        mergeOp
	remaining int        // parts still to arrive
	keyPart   []int32    // MGET: part of each key, in key order
	buf       []byte     // part replies, concatenated as they arrive
	partOff   []int32    // start and end of each part's reply in buf
	arrived   []int32    // part numbers in arrival order
	limit     int        // broadcasts: most bytes of part replies kept (0: no cap)
	over      bool       // a part reply did not fit under limit: the answer is errMergedTooLarge
	name      string     // broadcasts: the command's name, for errMergedTooLarge
	count     int        // SLOWLOG GET: most entries in the merged reply (-1: all); INFO: 1 with slotgate's own section
	scan      scanCursor // SCAN: the cursor the request was sent for
	scanLast  uint16     // SCAN: the walk's last slot (its MATCH pattern's slot, or 16383)
	addrs     []string   // broadcasts: the master each part was sent to, by part
}

// split sends a multi-key command as one part per slot. Keys of one slot go in one part in their
// original order (Redis refuses a multi-key command across slots even when one node owns both).
func (s *session) split(cmd *codec.Command, args [][]byte, raw []byte) {
	step := 1
	op := mergeSum
	switch cmd.Name {
	case "mget":
		op = mergeArray
	case "mset":
		step, op = 2, mergeOK
		if (len(args)-1)%2 != 0 {
			s.local(errArity(s.lp.scratch[:0], cmd.Name))
			return
		}
	}
	lp := s.lp
	t := lp.rl.Topology()
	if t == nil {
		s.local(errNoTopology(lp.scratch[:0], s.srv.rt))
		return
	}
	if !s.onLane(nil) {
		return
	}
	nkeys := (len(args) - 1) / step
	// Number the parts in order of first appearance, one per slot.
	lp.stamp++
	if lp.stamp == 0 {
		lp.slotStamp = [slot.Count]uint32{}
		lp.stamp = 1
	}
	lp.keyPart = lp.keyPart[:0]
	lp.partSlot = lp.partSlot[:0]
	for i := 0; i < nkeys; i++ {
		sl := slot.Of(args[1+i*step])
		if lp.slotStamp[sl] != lp.stamp {
			lp.slotStamp[sl] = lp.stamp
			lp.slotPart[sl] = int32(len(lp.partSlot))
			lp.partSlot = append(lp.partSlot, sl)
		}
		lp.keyPart = append(lp.keyPart, lp.slotPart[sl])
	}
	parts := len(lp.partSlot)
	if parts == 1 {
		s.send(cmd, int(lp.partSlot[0]), raw) // one slot: forwarded as it came
		return
	}
	// Counting sort of the keys by part, so each part is built from one contiguous run.
	lp.partStart = lp.partStart[:0]
	for range parts + 1 {
		lp.partStart = append(lp.partStart, 0)
	}
	for _, p := range lp.keyPart {
		lp.partStart[p+1]++
	}
	for p := 1; p <= parts; p++ {
		lp.partStart[p] += lp.partStart[p-1]
	}
	lp.order = append(lp.order[:0], make([]int32, nkeys)...)[:nkeys]
	lp.fill = append(lp.fill[:0], lp.partStart[:parts]...)
	for i, p := range lp.keyPart {
		lp.order[lp.fill[p]] = int32(i)
		lp.fill[p]++
	}

	seq := s.alloc()
	m := lp.newMerge(op, parts)
	if op == mergeArray {
		m.keyPart = append(m.keyPart, lp.keyPart...)
	}
	s.slot(seq).merge = m
	for p := 0; p < parts; p++ {
		keys := lp.order[lp.partStart[p]:lp.partStart[p+1]]
		b := codec.AppendArrayLen(lp.partReq[:0], 1+len(keys)*step)
		b = codec.AppendBulk(b, args[0])
		for _, i := range keys {
			for j := 0; j < step; j++ {
				b = codec.AppendBulk(b, args[1+int(i)*step+j])
			}
		}
		lp.partReq = b
		kind := router.Kind(0)
		if op == mergeArray {
			kind = router.Read
		}
		s.sendPart(int(lp.partSlot[p]), b, int32(p), kind)
	}
	splitRequests.Inc()
}

// deliverPart records one part's reply and, with the last one, answers the whole request.
func (s *session) deliverPart(seq uint64, part int32, reply []byte) {
	sl := s.slot(seq)
	m := sl.merge
	m.partOff[2*part] = int32(len(m.buf))
	if m.limit > 0 && len(m.buf)+len(reply) > m.limit {
		m.over = true // the parts still to come are dropped too
	} else if !m.over {
		m.buf = append(m.buf, reply...)
	}
	m.partOff[2*part+1] = int32(len(m.buf))
	m.arrived = append(m.arrived, part)
	m.remaining--
	if m.remaining > 0 {
		return
	}
	sl.merge = nil
	lp := s.lp
	sc := &lp.merging
	sc.replies = sc.replies[:0]
	for p := 0; p < len(m.partOff)/2; p++ {
		sc.replies = append(sc.replies, m.buf[m.partOff[2*p]:m.partOff[2*p+1]])
	}
	var out []byte
	switch {
	case m.over:
		out = errMergedTooLarge(lp.scratch[:0], m.name, m.limit)
	case m.op == mergeRedact:
		out = redactConfig(lp.scratch[:0], sc.replies[0])
	case m.op == mergeSlowlog:
		out = mergeSlowlogGet(lp.scratch[:0], sc.replies, m.arrived, m.count, m.addrs, sc)
	case m.op == mergeNodeText:
		out = mergeNodeTexts(lp.scratch[:0], int(s.proto), sc.replies, m.arrived, m.addrs)
	case m.op == mergeNodeMap:
		out = mergeNodeMaps(lp.scratch[:0], int(s.proto), sc.replies, m.arrived, m.addrs)
	case m.op == mergeScan:
		out = s.mergeScan(lp.scratch[:0], sc.replies[0], m.scan, m.scanLast, sc)
	case m.op == mergeInfo:
		out = s.mergeInfo(lp.scratch[:0], sc.replies, m.count) // count: slotgate's own sections wanted (infoProxy...)
	default:
		out = mergeReplies(lp.scratch[:0], m.op, m.keyPart, sc.replies, m.arrived, sc)
	}
	lp.scratch = out[:0]
	s.complete(seq, out)
	lp.putMerge(m)
}

// mergeScratch lends mergeReplies buffers reused from one split request to the next (one per
// loop): it keeps the merge free of allocations in steady state.
type mergeScratch struct {
	replies [][]byte   // the parts' replies, by part
	elems   [][][]byte // MGET: each part's array elements
	cursor  []int      // MGET: each part's next element
}

// mergeReplies appends to dst the reply to a split command, a pure function of the parts'
// replies (by part number), the order they arrived in (part numbers) and, for MGET, the part of
// each key in the client's key order (sc only lends buffers):
//   - when a part answered an error: the first error to arrive, as it came;
//   - DEL/UNLINK/EXISTS/TOUCH: the parts' integers added (a reply that is not one counts 0);
//   - MSET: +OK;
//   - MGET: each key's value, taken in turn from its part's array; a part whose reply is not a
//     well-formed aggregate, or has fewer elements than keys, makes the whole reply an error;
//   - the broadcast ops: as their constants say (mergeBroadcast).
func mergeReplies(dst []byte, op mergeOp, keyPart []int32, replies [][]byte, arrived []int32, sc *mergeScratch) []byte {
	if op >= mergeSame {
		return mergeBroadcast(dst, op, replies, arrived, sc)
	}
	if e := firstError(replies, arrived); e != nil {
		return append(dst, e...)
	}
	switch op {
	case mergeSum:
		var sum int64
		for _, r := range replies {
			n, _ := codec.ParseInt(r)
			sum += n
		}
		return codec.AppendInt(dst, sum)
	case mergeOK:
		return codec.AppendOK(dst)
	}
	return mergeArrays(dst, keyPart, replies, sc)
}

// firstError returns the first error reply to arrive (arrived: part numbers in arrival order),
// or nil: the answer of most merges when a part failed.
func firstError(replies [][]byte, arrived []int32) []byte {
	for _, p := range arrived {
		if codec.IsError(replies[p]) {
			return replies[p]
		}
	}
	return nil
}

// mergeArrays puts MGET's part elements back in key order.
func mergeArrays(dst []byte, keyPart []int32, replies [][]byte, sc *mergeScratch) []byte {
	parts := len(replies)
	for len(sc.elems) < parts {
		sc.elems = append(sc.elems, nil)
	}
	sc.cursor = append(sc.cursor[:0], make([]int, parts)...)[:parts]
	for p := 0; p < parts; p++ {
		var err error
		sc.elems[p], err = codec.ArrayElems(replies[p], sc.elems[p][:0])
		if err != nil {
			return codec.AppendError(dst, "ERR slotgate: a node answered MGET with a malformed reply")
		}
	}
	out := codec.AppendArrayLen(dst, len(keyPart))
	for _, p := range keyPart {
		c := sc.cursor[p]
		if c >= len(sc.elems[p]) {
			return codec.AppendError(dst, "ERR slotgate: a node answered MGET with too few values")
		}
		out = append(out, sc.elems[p][c]...)
		sc.cursor[p]++
	}
	return out
}

// maxIdleKeys is the most keys a pooled merge keeps room for.
const maxIdleKeys = 4096

// newMerge returns an empty merge of parts replies by op, from the loop's free list.
func (lp *loop) newMerge(op mergeOp, parts int) *merge {
	var m *merge
	if n := len(lp.merges); n > 0 {
		m = lp.merges[n-1]
		lp.merges = lp.merges[:n-1]
	} else {
		m = &merge{}
	}
	m.op, m.remaining = op, parts
	m.keyPart = m.keyPart[:0]
	m.partOff = append(m.partOff[:0], make([]int32, 2*parts)...)[:2*parts]
	return m
}

func (lp *loop) putMerge(m *merge) {
	if cap(m.buf) > maxIdleSlot {
		m.buf = nil
	}
	if cap(m.keyPart) > maxIdleKeys {
		m.keyPart, m.partOff, m.arrived = nil, nil, nil // an MGET of many keys does not pin its index arrays
	}
	m.buf, m.arrived = m.buf[:0], m.arrived[:0]
	clear(m.addrs) // no old topology's strings kept alive
	m.addrs = m.addrs[:0]
	m.limit, m.over, m.name, m.count = 0, false, "", 0
	lp.merges = append(lp.merges, m)
}
