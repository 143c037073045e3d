package server

import (
	"github.com/slotgate/slotgate/codec"
	"github.com/slotgate/slotgate/router"
	"github.com/slotgate/slotgate/router/slot"
)

// mergeOp is how the parts of a split command combine.
type mergeOp uint8

const (
	mergeArray mergeOp = iota // MGET: elements back in the original key order
	mergeSum                  // DEL/UNLINK/EXISTS/TOUCH: integers added
	mergeOK                   // MSET: +OK when every part said so
)

// merge collects the parts of one split request. It is owned by one reply slot and returned to
// its loop's free list when the merged reply is made.
type merge struct {
	op        mergeOp
	remaining int     // parts still to arrive
	keyPart   []int32 // MGET: part of each key, in key order
	buf       []byte  // MGET: part replies, concatenated as they arrive
	partOff   []int32 // MGET: start and end of each part's reply in buf
	sum       int64
	err       []byte // the first error a part answered
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
		s.local(errNoTopology(lp.scratch[:0], s.srv.rt.Seeds()))
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
	m := lp.getMerge()
	m.op, m.remaining = op, parts
	if op == mergeArray {
		m.keyPart = append(m.keyPart[:0], lp.keyPart...)
		m.partOff = append(m.partOff[:0], make([]int32, 2*parts)...)[:2*parts]
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
	switch {
	case codec.IsError(reply):
		if m.err == nil {
			m.err = append(m.err, reply...)
		}
	case m.op == mergeArray:
		m.partOff[2*part] = int32(len(m.buf))
		m.buf = append(m.buf, reply...)
		m.partOff[2*part+1] = int32(len(m.buf))
	case m.op == mergeSum:
		n, _ := codec.ParseInt(reply)
		m.sum += n
	case m.op == mergeRedact:
		m.buf = append(m.buf, reply...)
	}
	m.remaining--
	if m.remaining > 0 {
		return
	}
	sl.merge = nil
	lp := s.lp
	var out []byte
	switch {
	case m.err != nil:
		out = append(lp.scratch[:0], m.err...)
	case m.op == mergeSum:
		out = codec.AppendInt(lp.scratch[:0], m.sum)
	case m.op == mergeOK:
		out = codec.AppendOK(lp.scratch[:0])
	case m.op == mergeRedact:
		out = redactConfig(lp.scratch[:0], m.buf)
	default:
		out = s.mergeArray(m)
	}
	lp.scratch = out[:0]
	s.complete(seq, out)
	lp.putMerge(m)
}

// mergeArray puts MGET's part elements back in key order.
func (s *session) mergeArray(m *merge) []byte {
	lp := s.lp
	parts := len(m.partOff) / 2
	for len(lp.elems) < parts {
		lp.elems = append(lp.elems, nil)
	}
	lp.cursor = append(lp.cursor[:0], make([]int, parts)...)[:parts]
	for p := 0; p < parts; p++ {
		var err error
		lp.elems[p], err = codec.ArrayElems(m.buf[m.partOff[2*p]:m.partOff[2*p+1]], lp.elems[p][:0])
		if err != nil {
			return codec.AppendError(lp.scratch[:0], "ERR slotgate: a node answered MGET with a malformed reply")
		}
	}
	out := codec.AppendArrayLen(lp.scratch[:0], len(m.keyPart))
	for _, p := range m.keyPart {
		c := lp.cursor[p]
		if c >= len(lp.elems[p]) {
			return codec.AppendError(lp.scratch[:0], "ERR slotgate: a node answered MGET with too few values")
		}
		out = append(out, lp.elems[p][c]...)
		lp.cursor[p]++
	}
	return out
}

// maxIdleKeys is the most keys a pooled merge keeps room for.
const maxIdleKeys = 4096

func (lp *loop) getMerge() *merge {
	if n := len(lp.merges); n > 0 {
		m := lp.merges[n-1]
		lp.merges = lp.merges[:n-1]
		return m
	}
	return &merge{}
}

func (lp *loop) putMerge(m *merge) {
	if cap(m.buf) > maxIdleSlot {
		m.buf = nil
	}
	if cap(m.keyPart) > maxIdleKeys {
		m.keyPart, m.partOff = nil, nil // an MGET of many keys does not pin its index arrays
	}
	m.buf, m.err, m.sum = m.buf[:0], nil, 0
	lp.merges = append(lp.merges, m)
}
