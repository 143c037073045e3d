package server

import (
	"bytes"
	"slices"
	"strconv"

	"github.com/slotgate/slotgate/codec"
	"github.com/slotgate/slotgate/router"
)

// The whole keyspace through one endpoint: keyless commands a single Redis answers about all
// its keys (or about itself) are asked of every master (broadcast.go) and their replies merged:
//   - DBSIZE, SLOWLOG LEN, LATENCY RESET: the sum;
//   - KEYS pattern, LATENCY LATEST, LATENCY HISTORY event: the arrays concatenated, in slot order of the masters; a
//     KEYS whose replies together pass Config.MaxMergeBytes answers
//     "-ERR KEYS reply too large through slotgate; use SCAN";
//   - FLUSHALL, FLUSHDB [ASYNC|SYNC], SLOWLOG RESET: OK when every master said OK, else the
//     first error (the masters that had flushed stay flushed: not atomic across masters);
//   - RANDOMKEY: the first key to arrive, null when every master is empty (every master is
//     asked: an empty one must not make the answer null);
//   - LASTSAVE: the oldest, so a client waiting for a save to pass a time waits for all;
//   - SLOWLOG GET [count]: every master's entries (Redis's shape, ids are per master), newest
//     first by their start time, at most count (default 10, -1 all); each entry's client-name
//     (its sixth field) names the master it ran on: "node=HOST:PORT", followed by a space and
//     the name it had, if any. Its client-addr stays the node's (slotgate's connection);
//   - MEMORY STATS, LATENCY HISTOGRAM: a map of each master's address ("HOST:PORT") to that master's own MEMORY
//     STATS reply, in slot order: the numbers are diagnostics of one allocator each (peaks,
//     fragmentation ratios) and mean nothing summed; INFO memory has the totals;
//   - MEMORY DOCTOR, MEMORY MALLOC-STATS, LATENCY DOCTOR, LATENCY GRAPH: each master's text, in slot order, after a line
//     "HOST:PORT:", the masters' texts separated by a blank line;
//   - MEMORY PURGE: OK when every master said OK; MEMORY USAGE key goes to the key's master;
//   - SCAN: one master's page at a time (scan.go).
//
// KEYS, DBSIZE and RANDOMKEY are reads (-read-from may send them to replicas); the rest go to
// the masters. The HELPs go to one master.
// Every merged reply is capped by Config.MaxMergeBytes.
// Inside MULTI all of them are refused (tx.go): a transaction runs on one node.

// defaultSlowlogCount is SLOWLOG GET's count when the client gives none (Redis's).
const defaultSlowlogCount = 10

// keyspaceCommand routes a broadcast-class command (cmd is the subcommand of a container);
// SCRIPT and FUNCTION go on to scripts.go.
func (s *session) keyspaceCommand(cmd *codec.Command, args [][]byte, raw []byte) {
	switch cmd.Name {
	case "dbsize":
		s.broadcast(cmd, raw, mergeSum, router.Read)
	case "keys":
		s.broadcast(cmd, raw, mergeConcat, router.Read)
	case "randomkey":
		s.broadcast(cmd, raw, mergeNonNil, router.Read)
	case "flushall", "flushdb", "slowlog|reset":
		s.broadcast(cmd, raw, mergeOK, 0)
	case "lastsave":
		s.broadcast(cmd, raw, mergeMin, 0)
	case "info":
		s.info(cmd, args, raw)
	case "scan":
		s.scan(cmd, args)
	case "slowlog|len":
		s.broadcast(cmd, raw, mergeSum, 0)
	case "slowlog|get":
		n := defaultSlowlogCount
		if len(args) > 2 {
			v, err := strconv.Atoi(string(args[2]))
			if err != nil || v < -1 {
				// Redis's own check, answered here: the merge needs the count.
				s.local(codec.AppendError(s.lp.scratch[:0], "ERR count should be greater than or equal to -1"))
				return
			}
			n = v
		}
		s.broadcastN(cmd, raw, mergeSlowlog, 0, n)
	case "latency|latest":
		s.broadcast(cmd, raw, mergeConcat, 0)
	case "memory|stats":
		s.broadcast(cmd, raw, mergeNodeMap, 0)
	case "memory|doctor", "memory|malloc-stats", "latency|doctor", "latency|graph":
		s.broadcast(cmd, raw, mergeNodeText, 0)
	case "latency|history":
		s.broadcast(cmd, raw, mergeConcat, 0)
	case "latency|histogram":
		s.broadcast(cmd, raw, mergeNodeMap, 0)
	case "latency|reset":
		s.broadcast(cmd, raw, mergeSum, 0)
	case "memory|purge":
		s.broadcast(cmd, raw, mergeOK, 0)
	case "slowlog|help", "latency|help", "memory|help":
		s.send(cmd, keylessScriptSlot, raw)
	default:
		if cmd.Parent != nil && (cmd.Parent.Name == "slowlog" || cmd.Parent.Name == "latency") {
			s.local(errRefused(s.lp.scratch[:0], cmd))
			return
		}
		s.scriptCommand(cmd, args, raw)
	}
}

// aggregateBody returns the element count and the elements' bytes of an array or set reply (a
// null array: none).
func aggregateBody(r []byte) (int, []byte, bool) {
	if len(r) < 4 || (r[0] != '*' && r[0] != '~') {
		return 0, nil, false
	}
	i := bytes.IndexByte(r, '\r')
	if i < 0 || i+2 > len(r) {
		return 0, nil, false
	}
	n, err := strconv.Atoi(string(r[1:i]))
	if err != nil || n < -1 {
		return 0, nil, false
	}
	if n == -1 {
		return 0, nil, true
	}
	return n, r[i+2:], true
}

// mergeConcatArrays appends one array of every reply's elements, in part order (the router
// hands complete replies, so each body is whole elements).
func mergeConcatArrays(dst []byte, replies [][]byte) []byte {
	total := 0
	for _, r := range replies {
		n, _, ok := aggregateBody(r)
		if !ok {
			return codec.AppendError(dst, errMalformed)
		}
		total += n
	}
	dst = codec.AppendArrayLen(dst, total)
	for _, r := range replies {
		_, body, _ := aggregateBody(r)
		dst = append(dst, body...)
	}
	return dst
}

// isNullReply reports a RESP2 null bulk or array, or a RESP3 null.
func isNullReply(r []byte) bool {
	s := string(r)
	return s == "$-1\r\n" || s == "*-1\r\n" || s == "_\r\n"
}

// mergeFirstNonNil: the first reply to arrive that is neither null nor an error; else the first
// error to arrive; else (all null) the first null.
func mergeFirstNonNil(dst []byte, replies [][]byte, arrived []int32) []byte {
	for _, p := range arrived {
		if r := replies[p]; !isNullReply(r) && !codec.IsError(r) {
			return append(dst, r...)
		}
	}
	if e := firstError(replies, arrived); e != nil {
		return append(dst, e...)
	}
	return append(dst, replies[arrived[0]]...)
}

// mergeMinInt: the least of the integer replies (errors are handled before).
func mergeMinInt(dst []byte, replies [][]byte) []byte {
	var low int64
	for i, r := range replies {
		v, ok := codec.ParseInt(r)
		if !ok {
			return codec.AppendError(dst, errMalformed)
		}
		if i == 0 || v < low {
			low = v
		}
	}
	return codec.AppendInt(dst, low)
}

// slowEntry is one SLOWLOG GET entry of one master: its start time and its bytes.
type slowEntry struct {
	at   int64
	raw  []byte
	part int // the master's part
}

// mergeSlowlogGet merges SLOWLOG GET replies: the first error to arrive, else every entry,
// newest first by start time (entries of the same second in part order, each master's newest
// first), at most count (-1: all). Entries keep Redis's shape; with addrs (each part's master),
// their client-name names the master (appendSlowlogEntry).
func mergeSlowlogGet(dst []byte, replies [][]byte, arrived []int32, count int, addrs []string, sc *mergeScratch) []byte {
	if e := firstError(replies, arrived); e != nil {
		return append(dst, e...)
	}
	var entries []slowEntry
	var fields [][]byte
	for len(sc.elems) < len(replies) {
		sc.elems = append(sc.elems, nil)
	}
	for p, r := range replies {
		var err error
		sc.elems[p], err = codec.ArrayElems(r, sc.elems[p][:0])
		if err != nil {
			return codec.AppendError(dst, errMalformed)
		}
		for _, e := range sc.elems[p] {
			fields, err = codec.ArrayElems(e, fields[:0])
			if err != nil || len(fields) < 2 {
				return codec.AppendError(dst, errMalformed)
			}
			at, ok := codec.ParseInt(fields[1])
			if !ok {
				return codec.AppendError(dst, errMalformed)
			}
			entries = append(entries, slowEntry{at: at, raw: e, part: p})
		}
	}
	slices.SortStableFunc(entries, func(a, b slowEntry) int {
		switch {
		case a.at > b.at:
			return -1
		case a.at < b.at:
			return 1
		}
		return 0
	})
	if count >= 0 && len(entries) > count {
		entries = entries[:count]
	}
	dst = codec.AppendArrayLen(dst, len(entries))
	for _, e := range entries {
		if e.part >= len(addrs) {
			dst = append(dst, e.raw...)
			continue
		}
		fields, _ = codec.ArrayElems(e.raw, fields[:0]) // parsed above
		dst = appendSlowlogEntry(dst, fields, addrs[e.part])
	}
	return dst
}

// appendSlowlogEntry appends one SLOWLOG GET entry with its client-name (the sixth field)
// naming the node: "node=HOST:PORT", and " " plus the name it had when it had one. An entry of
// fewer fields (a Redis before 4.0) gets the name as its sixth field.
func appendSlowlogEntry(dst []byte, fields [][]byte, addr string) []byte {
	n := max(len(fields), 6)
	dst = codec.AppendArrayLen(dst, n)
	for i := 0; i < 5; i++ {
		if i < len(fields) {
			dst = append(dst, fields[i]...)
		} else {
			dst = codec.AppendBulkString(dst, "")
		}
	}
	name := "node=" + addr
	if len(fields) > 5 {
		if old, ok := codec.BulkText(fields[5]); ok && len(old) > 0 {
			name += " " + string(old)
		}
	}
	dst = codec.AppendBulkString(dst, name)
	for _, f := range fields[min(len(fields), 6):] {
		dst = append(dst, f...)
	}
	return dst
}

// mergeNodeTexts merges the text replies of MEMORY DOCTOR and MEMORY MALLOC-STATS: the first
// error to arrive, else one text of every master's in part (slot) order, each after a line
// "HOST:PORT:", separated by a blank line (a verbatim string in RESP3, as Redis answers).
func mergeNodeTexts(dst []byte, proto int, replies [][]byte, arrived []int32, addrs []string) []byte {
	if e := firstError(replies, arrived); e != nil {
		return append(dst, e...)
	}
	var text []byte
	for p, r := range replies {
		body, ok := codec.BulkText(r)
		if !ok || p >= len(addrs) {
			return codec.AppendError(dst, errMalformed)
		}
		if p > 0 {
			text = append(text, "\n\n"...)
		}
		text = append(text, addrs[p]+":\n"...)
		text = append(text, bytes.TrimRight(body, "\r\n")...)
	}
	return codec.AppendVerbatim(dst, proto, "txt", text)
}

// mergeNodeMaps merges MEMORY STATS: the first error to arrive, else a map of each master's
// address to its reply as it came (in the client's protocol: it came on its pipeline).
func mergeNodeMaps(dst []byte, proto int, replies [][]byte, arrived []int32, addrs []string) []byte {
	if e := firstError(replies, arrived); e != nil {
		return append(dst, e...)
	}
	if len(addrs) < len(replies) {
		return codec.AppendError(dst, errMalformed)
	}
	dst = codec.AppendMapLen(dst, proto, len(replies))
	for p, r := range replies {
		dst = codec.AppendBulkString(dst, addrs[p])
		dst = append(dst, r...)
	}
	return dst
}
