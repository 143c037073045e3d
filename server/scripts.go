package server

import (
	"bytes"

	"github.com/slotgate/slotgate/codec"
	"github.com/slotgate/slotgate/router"
)

// Scripts and functions through one endpoint.
//
// Redis keeps scripts (SCRIPT LOAD, EVAL) per node and, since 7.0, does not replicate them;
// functions (FUNCTION LOAD) are replicated and persisted but still per shard. So:
//   - SCRIPT LOAD/EXISTS/FLUSH/KILL and FUNCTION LOAD/DELETE/FLUSH/RESTORE/KILL go to every master
//     (broadcast.go) and their replies are merged: LOAD answers the sha (library name) when every
//     master agrees, else the first error; EXISTS is 1 only where every master has the script;
//     KILL is OK when any master killed one, else NOTBUSY (sent on connections of its own:
//     scriptkill.go);
//   - FUNCTION LIST/DUMP/STATS and the HELPs are answered by one master: the one serving slot 0
//     (keylessScriptSlot), deterministically; FUNCTION STATS then shows that master's running
//     script only;
//   - EVAL/EVALSHA/FCALL (and _RO) with no key go to that same master;
//   - SCRIPT DEBUG is refused: it makes the backend connection a debugging session.
//
// Not atomic across masters: a LOAD refused by one master (say, a library already there) may
// have been applied by the others; the client gets the error.

// keylessScriptSlot routes the script commands that have no key: to the master serving slot 0.
const keylessScriptSlot = 0

// scriptCommand routes a subcommand of SCRIPT or FUNCTION (cmd is the subcommand).
func (s *session) scriptCommand(cmd *codec.Command, args [][]byte, raw []byte) {
	switch cmd.Name {
	case "script|load":
		s.srv.scripts.add(args[2]) // kept for reloading after NOSCRIPT, whatever the masters say
		s.broadcast(cmd, raw, mergeSame, 0)
	case "function|load", "function|delete", "function|restore":
		s.broadcast(cmd, raw, mergeSame, 0)
	case "script|flush":
		s.srv.scripts.flush()
		s.broadcast(cmd, raw, mergeSame, 0)
	case "function|flush":
		s.broadcast(cmd, raw, mergeSame, 0)
	case "script|exists":
		s.broadcast(cmd, raw, mergeAndInts, 0)
	case "script|kill", "function|kill":
		s.killScripts(args) // on connections of their own (scriptkill.go)
	case "function|list", "function|dump", "function|stats", "script|help", "function|help":
		s.send(cmd, keylessScriptSlot, raw)
	case "script|debug":
		s.local(errScriptDebug(s.lp.scratch[:0]))
	default:
		s.local(errRefused(s.lp.scratch[:0], cmd))
	}
}

// EVALSHA of a script slotgate keeps (scriptcache.go).
//
// Loading ahead: each loop remembers which scripts it has sent SCRIPT LOAD for to each master of
// the current topology (scriptsOn). The first EVALSHA of a kept script to a master goes after a
// SCRIPT LOAD of it, on the same shared connection (so the LOAD runs first; its reply is dropped).
// A new topology (a failover, a master added, slots moved) or a SCRIPT FLUSH through slotgate
// starts the record afresh, so a promoted replica, which Redis 7 never gave the scripts, gets
// them before its first EVALSHA: the common case never sees NOSCRIPT. It costs one SCRIPT LOAD
// per script, loop and master after each change.
//
// Reloading after NOSCRIPT covers the rest (a master restarted or flushed behind slotgate's back,
// a replica read with -read-from): the EVALSHA keeps, in its reply slot's buffer (reused: no
// allocation in steady state), the sha and the request as sent. If the node answers Redis's
// NOSCRIPT, slotgate sends SCRIPT LOAD <body> and then the EVALSHA again to the master of the
// same slot, on the same connection one after the other. The LOAD's reply is dropped (a failed
// load shows as the EVALSHA's second NOSCRIPT). The retry happens once: whatever the second
// EVALSHA answers goes to the client. Requests the client pipelined behind the EVALSHA on that
// node have then already run (as if the client had fallen back to EVAL itself); the client's
// later requests wait for its earlier replies (barrier).
//
// A script may itself return an error that reads like NOSCRIPT (redis.error_reply): it then ran,
// and the retry runs it a second time. Only Redis's own text is taken for NOSCRIPT, which makes
// that a deliberate act of the script's author.

type scriptRetry struct {
	state uint8  // retryNone, retryArmed or retryTried
	slot  uint16 // the slot the EVALSHA was routed by
}

const (
	retryNone  uint8 = iota
	retryArmed       // buf holds the sha (40 bytes) then the EVALSHA request
	retryTried       // reloaded and sent again: the next reply goes to the client
)

// partLoad numbers the reply of a SCRIPT LOAD slotgate sends before an EVALSHA: dropped.
const partLoad int32 = -2

// noScript is the start of Redis's NOSCRIPT reply ("-NOSCRIPT No matching script. Please use
// EVAL."): a script's own error must match it too to cause a retry.
var noScript = []byte("-NOSCRIPT No matching script")

// scriptsOn is one loop's record of the scripts it loaded on each master of topo.
type scriptsOn struct {
	topo  *router.Topology
	flush uint64            // scriptCache.flushes when the record began
	on    []map[shaKey]bool // by shard index
}

// need reports whether script k must be loaded on shard before an EVALSHA (and records that it
// will be).
func (o *scriptsOn) need(t *router.Topology, flushes uint64, shard int, k shaKey) bool {
	if o.topo != t || o.flush != flushes {
		o.topo, o.flush = t, flushes
		for _, m := range o.on {
			clear(m)
		}
	}
	for len(o.on) <= shard {
		o.on = append(o.on, map[shaKey]bool{})
	}
	if o.on[shard][k] {
		return false
	}
	o.on[shard][k] = true
	return true
}

// sendEvalSha sends an EVALSHA (or EVALSHA_RO) of a script slotgate keeps: after a SCRIPT LOAD
// of it where this loop has not loaded it yet, and armed for one reload after NOSCRIPT. False
// when it is not one (the caller sends it as usual).
func (s *session) sendEvalSha(cmd *codec.Command, sl int, raw []byte, kind router.Kind) bool {
	if cmd.Name != "evalsha" && cmd.Name != "evalsha_ro" {
		return false
	}
	k, ok := parseSha(s.req.Args[1])
	if !ok || !s.srv.scripts.has(k) {
		return false
	}
	if !s.onLane(nil) {
		return true // deferred: sent once the client's requests on another connection are answered
	}
	lp := s.lp
	if s.req.Inline {
		raw = codec.AppendRequest(lp.scratch[:0], s.req.Args) // backends get RESP, never inline
		lp.scratch = raw[:0]
	} else if s.handOver {
		kind |= router.Owned // copied into the reply slot below, before the router takes it
	}
	seq := s.alloc()
	own := s.slot(seq)
	c := cap(own.buf)
	own.buf = append(append(own.buf[:0], k[:]...), raw...)
	s.slotCap += cap(own.buf) - c
	own.retry = scriptRetry{state: retryArmed, slot: uint16(sl)}
	if t := lp.rl.Topology(); t != nil {
		if sh := t.Shard(uint16(sl)); sh >= 0 && lp.scriptsOn.need(t, s.srv.scripts.flushes.Load(), sh, k) {
			if load, ok := s.srv.scripts.appendLoad(lp.partReq[:0], k); ok {
				lp.partReq = load
				s.sendSeq(nil, seq, sl, load, partLoad, 0)
				kind &^= router.Read // to the master, behind its LOAD (a replica pick could differ)
				scriptsPreloaded.Inc()
			}
		}
	}
	s.sendSeq(nil, seq, sl, raw, -1, kind)
	return true
}

// scriptReply takes the replies the retry is about: a SCRIPT LOAD's (dropped) and the reply to an
// armed EVALSHA. It reports whether the reply was taken (else it goes to the client as usual).
func (s *session) scriptReply(seq uint64, part int32, reply []byte) bool {
	if part == partLoad {
		if codec.IsError(reply) {
			scriptLoadsFailed.Inc()
		}
		return true // the EVALSHA behind it answers the client
	}
	own := s.slot(seq)
	if own.retry.state == retryArmed && bytes.HasPrefix(reply, noScript) && s.reload(seq, own) {
		return true
	}
	own.retry = scriptRetry{}
	own.buf = own.buf[:0]
	if cap(own.buf) > maxIdleSlot {
		s.slotCap -= cap(own.buf)
		own.buf = nil
	}
	return false
}

// reload sends SCRIPT LOAD and the EVALSHA again for request seq; false when the script has left
// the cache since (the client then gets the NOSCRIPT).
func (s *session) reload(seq uint64, own *replySlot) bool {
	lp := s.lp
	load, ok := s.srv.scripts.appendLoad(lp.partReq[:0], shaKey(own.buf[:40]))
	if !ok {
		return false
	}
	lp.partReq = load
	sl := int(own.retry.slot)
	own.retry.state = retryTried
	lp.rl.Topology() // both sends route with the same map: the same connection
	// Both to the master (no Read kind): with -read-from a replica pick could split them.
	s.sendSeq(nil, seq, sl, load, partLoad, 0)
	s.sendSeq(nil, seq, sl, own.buf[40:], -1, router.Script)
	s.barrier = true // the client's next requests wait for this one (as after a redirect)
	scriptsReloaded.Inc()
	return true
}
