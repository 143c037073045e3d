package server

import (
	"github.com/slotgate/slotgate/codec"
	"github.com/slotgate/slotgate/router"
)

// secretParams are the nodes' configuration parameters that hold credentials. CONFIG GET is
// answered by a master, which would show `requirepass` (the backend password slotgate
// authenticates with) to any client: these pairs are left out of the reply.
var secretParams = []string{"requirepass", "masterauth", "masteruser", "tls-key-file-pass", "tls-client-key-file-pass"}

// configGet asks a master for CONFIG GET and answers with its reply minus the secret pairs.
// The reply is filtered by the names the node returns rather than by matching the request's
// glob patterns, so no pattern (`*`, `*pass*`, `[r]equirepass`...) can reach a secret.
func (s *session) configGet(raw []byte) {
	if s.lp.rl.Topology() == nil {
		s.local(errNoTopology(s.lp.scratch[:0], s.srv.rt))
		return
	}
	if !s.onLane(nil) {
		return
	}
	if s.req.Inline {
		raw = codec.AppendRequest(s.lp.scratch[:0], s.req.Args) // backends get RESP, never inline
	}
	seq := s.alloc()
	s.slot(seq).merge = s.lp.newMerge(mergeRedact, 1)
	s.sendPart(router.SlotAny, raw, 0, 0)
}

// redactConfig appends to dst the CONFIG GET reply (an array of name, value pairs in RESP2, a
// map in RESP3) without the pairs of secret parameters. A reply it cannot read is replaced by
// an error: it never passes on what it could not check.
func redactConfig(dst, reply []byte) []byte {
	elems, err := codec.ArrayElems(reply, nil)
	if err != nil || len(elems)%2 != 0 || len(reply) == 0 {
		return codec.AppendError(dst, "ERR slotgate: a node answered CONFIG GET with a malformed reply")
	}
	kept := elems[:0]
	for i := 0; i < len(elems); i += 2 {
		name, ok := codec.BulkText(elems[i])
		if !ok || isSecretParam(name) {
			continue
		}
		kept = append(kept, elems[i], elems[i+1])
	}
	if reply[0] == '%' {
		dst = codec.AppendMapLen(dst, 3, len(kept)/2)
	} else {
		dst = codec.AppendArrayLen(dst, len(kept))
	}
	for _, e := range kept {
		dst = append(dst, e...)
	}
	return dst
}

func isSecretParam(name []byte) bool {
	for _, p := range secretParams {
		if codec.EqualFold(name, p) {
			return true
		}
	}
	return false
}
