package server

import (
	"bytes"
	"strconv"

	"github.com/slotgate/slotgate/codec"
	"github.com/slotgate/slotgate/router"
	"github.com/slotgate/slotgate/router/slot"
)

// SCAN through slotgate walks the slots in order, one owner's contiguous range at a time, with
// Redis's guarantee across failovers and resharding: every key present for the whole scan is
// returned at least once (maybe more). The cursor is stateless (any slotgate continues any
// other's scan) and is a decimal uint64, like Redis's:
//
//	bits  0-13  s     first slot of the current range
//	bits 14-27  e     last slot of the range: the contiguous range the owner N of s served when
//	                  N's pass began (fixed: slots N gains later are not N's to return)
//	bits 28-35  tag   N's config epoch, low 8 bits: a failover or a slot moved to s changes the
//	                  owner's epoch (a new master takes a new, highest epoch), so a node cursor
//	                  is never handed to a node it does not belong to
//	bits 36-63  node  N's own SCAN cursor, 28 bits; all ones: N's pass is over, check it
//
// A page sends "SCAN node [MATCH..] [COUNT..] [TYPE..]" to the owner of s and keeps the keys
// whose slot is in [s..e] (N's other ranges come in their own turn). When N's cursor comes back
// 0 the next page is a check: CLUSTER NODES asked of N itself, whose own line must still name
// the same epoch, every slot of [s..e], and no slot of it migrating. A slot that left N (or is
// leaving: some of its keys may have moved before N's cursor reached them) restarts the walk at
// that slot with its new owner; a changed epoch restarts the range at s. Then the walk goes on
// at e+1, and cursor 0 after slot 16383. Like Redis, a page may be empty with a non-zero cursor
// (the check's always is). A MATCH pattern that pins one slot ("{user42}:*") walks that slot
// only (scanPinned). A slot left MIGRATING for good (an abandoned resharding) holds the
// walk at that slot, one pass of N after another, until it is fixed: leaving it would lose keys.
//
// A node cursor of 2^28-1 or more is an error, never a wrong cursor: a Redis before 7.4 counts
// buckets of one dict (2^28 buckets: some 268M keys on one master); Redis 7.4+ and Valkey 8
// keep a dict per slot and put the slot in the low 14 bits, leaving 14 bits of buckets (a slot
// of over 16K keys may fail). Not covered, as in Redis: a node restarted mid-scan (same ID and
// epoch, a new hash seed).

const (
	scanSlotBits = 14
	scanTagBits  = 8
	scanTagShift = 2 * scanSlotBits
	scanNodeBits = 64 - scanTagShift - scanTagBits // 28
	scanChecking = 1<<scanNodeBits - 1             // the node field of a check; node cursors stay below
	scanSlotMask = 1<<scanSlotBits - 1
	scanTagMask  = 1<<scanTagBits - 1
	errBadCursor = "ERR invalid cursor" // Redis's text
	errScanReply = "ERR slotgate: a master answered SCAN with a malformed reply"
)

// errScanNoOwner answers a page whose range starts at a slot no master serves.
func errScanNoOwner(dst []byte, sl uint16) []byte {
	return codec.AppendError(dst, "CLUSTERDOWN Hash slot "+strconv.Itoa(int(sl))+" not served: SCAN can go on with the same cursor once it is")
}

// errScanTooLarge answers a page whose master's cursor does not fit in slotgate's.
func errScanTooLarge(dst []byte, sl uint16, node uint64) []byte {
	return codec.AppendError(dst, "ERR slotgate: the master of slot "+strconv.Itoa(int(sl))+" answered SCAN cursor "+
		strconv.FormatUint(node, 10)+", past the "+strconv.Itoa(scanNodeBits)+" bits slotgate's cursor keeps for it")
}

// scanCursor is the decoded client cursor.
type scanCursor struct {
	s, e uint16 // the range
	tag  uint8  // N's config epoch, low bits
	node uint64 // N's SCAN cursor, or scanChecking
}

func (c scanCursor) check() bool { return c.node == scanChecking }

func (c scanCursor) encode() uint64 {
	v := uint64(c.s) | uint64(c.e)<<scanSlotBits | uint64(c.tag)<<scanTagShift | c.node<<(64-scanNodeBits)
	if v == 0 {
		// Slot 0 alone, epoch 0, pass not begun: 0 would end the scan. Another tag makes the next
		// page begin the same pass.
		v = 1 << scanTagShift
	}
	return v
}

// decodeScanCursor parses a client's cursor; ok is false for one slotgate never made.
func decodeScanCursor(b []byte) (c scanCursor, zero, ok bool) {
	v, err := strconv.ParseUint(string(b), 10, 64)
	if err != nil {
		return c, false, false
	}
	if v == 0 {
		return c, true, true
	}
	c.s = uint16(v & scanSlotMask)
	c.e = uint16(v >> scanSlotBits & scanSlotMask)
	c.tag = uint8(v >> scanTagShift & scanTagMask)
	c.node = v >> (64 - scanNodeBits)
	if c.e < c.s {
		return c, false, false
	}
	return c, false, true
}

// scanTag is the tag of shard's master: the low bits of its config epoch.
func scanTag(t *router.Topology, shard int) uint8 { return uint8(t.Epoch(shard) & scanTagMask) }

// scanStart is the cursor that begins a pass at slot s: the owner's contiguous range from s (to
// the walk's last slot at most) and its tag, node cursor 0. A slot with no owner gives the
// range [s..s], tag 0: the page that uses it looks again.
func scanStart(t *router.Topology, s, last uint16) scanCursor {
	c := scanCursor{s: s, e: s}
	if t == nil {
		return c
	}
	sh := t.Shard(s)
	if sh < 0 {
		return c
	}
	for c.e < last && t.Shard(c.e+1) == sh {
		c.e++
	}
	c.tag = scanTag(t, sh)
	return c
}

// scanPinned returns the one slot every key matching SCAN's MATCH pattern is in, when the
// pattern begins with a literal hash tag ("{user42}:*", "a{b}c?"): a key's slot is its first
// {...}'s, and a pattern without glob characters up to its first "}" gives every match the
// same one. The walk then covers that slot only, on one master (Redis 7.4 does the same within
// a node, redis/redis#12754; a glob or a backslash before the "}" keeps the whole walk).
func scanPinned(args [][]byte) (uint16, bool) {
	var pattern []byte
	for i := 2; i+1 < len(args); i += 2 {
		if codec.EqualFold(args[i], "match") {
			pattern = args[i+1] // the last MATCH counts, as in Redis
		}
	}
	open := bytes.IndexByte(pattern, '{')
	if open < 0 {
		return 0, false
	}
	end := bytes.IndexByte(pattern[open+1:], '}')
	if end <= 0 || bytes.ContainsAny(pattern[:open+1+end], "*?[\\") {
		return 0, false // no tag, an empty one, or a glob that may change where the tag is
	}
	return slot.Of(pattern[:open+2+end]), true
}

// scan answers SCAN cursor [MATCH pattern] [COUNT count] [TYPE type] with one request to one
// master (see the top of this file).
func (s *session) scan(cmd *codec.Command, args [][]byte) {
	lp := s.lp
	c, zero, ok := decodeScanCursor(args[1])
	if !ok {
		s.local(codec.AppendError(lp.scratch[:0], errBadCursor))
		return
	}
	t := lp.rl.Topology()
	if t == nil {
		s.local(errNoTopology(lp.scratch[:0], s.srv.rt))
		return
	}
	first, last := uint16(0), uint16(slot.Count-1)
	if sl, ok := scanPinned(args); ok {
		first, last = sl, sl
	}
	if zero {
		c = scanStart(t, first, last)
	}
	sh := t.Shard(c.s)
	if sh < 0 {
		s.local(errScanNoOwner(lp.scratch[:0], c.s))
		return
	}
	if scanTag(t, sh) != c.tag {
		if c.node != 0 {
			scanRestarts.Inc()
		}
		c = scanStart(t, c.s, last) // another node owns s now: its pass begins at 0
	}
	if !s.onLane(nil) {
		return
	}
	var b []byte
	if c.check() {
		b = codec.AppendCommand(lp.partReq[:0], []byte("CLUSTER"), []byte("NODES"))
	} else {
		b = codec.AppendArrayLen(lp.partReq[:0], len(args))
		b = codec.AppendBulk(b, args[0])
		b = codec.AppendBulk(b, strconv.AppendUint(lp.scratch[:0], c.node, 10))
		for _, a := range args[2:] {
			b = codec.AppendBulk(b, a)
		}
	}
	lp.partReq = b
	seq := s.alloc()
	m := lp.newMerge(mergeScan, 1)
	m.limit, m.name, m.scan, m.scanLast = s.srv.lv().MaxMergeBytes, cmd.Name, c, last
	s.slot(seq).merge = m
	s.sendPart(int(c.s), b, 0, 0) // masters only: a replica's cursor would be another dict's
	scanRequests.Inc()
}

// mergeScan makes the client's page from the node's reply to the request that cursor c sent
// (scanPage); last is the walk's last slot.
func (s *session) mergeScan(dst []byte, reply []byte, c scanCursor, last uint16, sc *mergeScratch) []byte {
	out, restarted := scanPage(dst, s.lp.rl.Topology(), reply, c, last, sc)
	if restarted {
		scanRestarts.Inc()
		if c.check() {
			s.srv.rt.Refresh() // slotgate's map may still give the slot to N: the restart goes there until it learns
		}
	}
	return out
}

// scanPage appends the client's page for the node's reply to the request cursor c sent, t
// being the topology now: the node's error as it came (a bad MATCH/COUNT/TYPE: the cursor
// still holds); after a check, an empty page and the next range's cursor (scanChecked); else
// the keys of [c.s..c.e] and the node's cursor in slotgate's, 0 turned into the check, or the
// range's pass begun again when s changed owner while the page was on its way. restarted
// says a range begins again.
func scanPage(dst []byte, t *router.Topology, reply []byte, c scanCursor, last uint16, sc *mergeScratch) (out []byte, restarted bool) {
	if codec.IsError(reply) {
		return append(dst, reply...), false
	}
	if c.check() {
		next, ok := scanChecked(t, reply, c, last)
		return appendScanPage(dst, next, nil), !ok
	}
	var err error
	for len(sc.elems) < 2 {
		sc.elems = append(sc.elems, nil)
	}
	sc.elems[0], err = codec.ArrayElems(reply, sc.elems[0][:0])
	if err != nil || len(sc.elems[0]) != 2 {
		return codec.AppendError(dst, errScanReply), false
	}
	text, ok := codec.BulkText(sc.elems[0][0])
	node, err := strconv.ParseUint(string(text), 10, 64)
	if !ok || err != nil {
		return codec.AppendError(dst, errScanReply), false
	}
	if node >= scanChecking {
		return errScanTooLarge(dst, c.s, node), false
	}
	sc.elems[1], err = codec.ArrayElems(sc.elems[0][1], sc.elems[1][:0])
	keys := sc.elems[1]
	if err != nil {
		return codec.AppendError(dst, errScanReply), false
	}
	next := c
	next.node = node
	switch {
	case t == nil || t.Shard(c.s) < 0 || scanTag(t, t.Shard(c.s)) != c.tag:
		next.node, restarted = 0, true // whoever answered, s starts over with its owner
	case node == 0:
		next.node = scanChecking
	}
	n := 0
	for _, k := range keys {
		if inScanRange(k, c) {
			keys[n] = k
			n++
		}
	}
	return appendScanPage(dst, next.encode(), keys[:n]), restarted
}

// inScanRange reports whether key (a bulk reply) is in one of the slots [c.s..c.e].
func inScanRange(key []byte, c scanCursor) bool {
	k, ok := codec.BulkText(key)
	if !ok {
		return false
	}
	sl := slot.Of(k)
	return sl >= c.s && sl <= c.e
}

// scanChecked reads N's CLUSTER NODES after its pass over [c.s..c.e] and returns the next
// cursor: the next range (0 past the walk's last slot), or a restart where N's own line says
// keys may have been missed. ok is false when it restarts.
func scanChecked(t *router.Topology, reply []byte, c scanCursor, last uint16) (next uint64, ok bool) {
	last = max(last, c.e) // a cursor of another MATCH's walk: this range is still checked
	text, isText := codec.BulkText(reply)
	var me *router.NodeInfo
	if isText {
		nodes, err := router.ParseClusterNodes(string(text), "")
		if err == nil {
			for i := range nodes {
				if nodes[i].Myself {
					me = &nodes[i]
				}
			}
		}
	}
	if me == nil || !me.Master || uint8(me.Epoch&scanTagMask) != c.tag {
		return scanStart(t, c.s, last).encode(), false // another node, or N changed: [s..e] again
	}
	// The first slot of [s..e] that N does not serve, or is migrating away.
	bad := -1
	for sl := int(c.s); sl <= int(c.e) && bad < 0; sl++ {
		served := false
		for _, r := range me.Slots {
			if sl >= r[0] && sl <= r[1] {
				served = true
				break
			}
		}
		if !served {
			bad = sl
		}
	}
	for _, m := range me.Migrating {
		if m.Slot >= int(c.s) && m.Slot <= int(c.e) && (bad < 0 || m.Slot < bad) {
			bad = m.Slot
		}
	}
	switch {
	case bad >= 0:
		return scanStart(t, uint16(bad), last).encode(), false
	case c.e == last:
		return 0, true // the last range: the scan is complete
	}
	return scanStart(t, c.e+1, last).encode(), true
}

// appendScanPage appends SCAN's reply: the cursor and the keys (bulk replies as the node sent them).
func appendScanPage(dst []byte, cursor uint64, keys [][]byte) []byte {
	dst = codec.AppendArrayLen(dst, 2)
	var num [20]byte
	dst = codec.AppendBulk(dst, strconv.AppendUint(num[:0], cursor, 10))
	dst = codec.AppendArrayLen(dst, len(keys))
	for _, k := range keys {
		dst = append(dst, k...)
	}
	return dst
}
