package server

import (
	"context"
	"runtime"

	"github.com/panjf2000/gnet/v2"
	"github.com/slotgate/slotgate/codec"
	"github.com/slotgate/slotgate/router"
)

// PausedEntries returns, per event loop, the length of its list of paused sessions (read on
// the loop's goroutine).
func PausedEntries(srv *Server) []int {
	return perLoop(srv, func(lp *loop) int { return len(lp.paused) })
}

// LoopSessions returns, per event loop, how many client sessions it holds.
func LoopSessions(srv *Server) []int {
	return perLoop(srv, func(lp *loop) int { return len(lp.sessions) })
}

// perLoop returns f of each event loop, each run on its loop's goroutine.
func perLoop(srv *Server, f func(*loop) int) []int {
	var out []int
	for _, lp := range srv.loopList() {
		done := make(chan int, 1)
		if err := lp.el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
			done <- f(lp)
			return nil
		})); err != nil {
			continue
		}
		out = append(out, <-done)
	}
	return out
}

// TickLoops has every event loop run its timers once, as OnTick does, and waits until they
// have (spinning: it allocates nothing of its own, for allocation tests).
func TickLoops(srv *Server) {
	for _, lp := range srv.loopList() {
		before := lp.lastTick.Load()
		lp.tick()
		for lp.lastTick.Load() == before {
			runtime.Gosched()
		}
	}
}

// RequestCopies returns the bytes of client requests the loops Peeked from gnet, copied into
// sessions' own buffers and moved when those grew, in total since they started.
func (srv *Server) RequestCopies() router.CopyStats {
	srv.syncLoops()
	var s router.CopyStats
	for _, lp := range srv.loopList() {
		s.Peeked += int64(lp.peeked.Load())
		s.Copied += int64(lp.copied.Load())
		s.Moved += int64(lp.moved.Load())
	}
	return s
}

// ScriptCached reports whether srv keeps the script sha for reloading.
func ScriptCached(srv *Server, sha string) bool {
	k, ok := parseSha([]byte(sha))
	return ok && srv.scripts.has(k)
}

// ClusterView returns slotgate's CLUSTER SLOTS, SHARDS, NODES and INFO replies in protocol proto
// for a node at ip:port with id, to compare with a real one-node cluster's.
func ClusterView(proto int, ip string, port int, id string) map[string]string {
	me := clusterSelf{host: ip, ip: ip, port: port, id: id}
	return map[string]string{
		"SLOTS":  string(appendClusterSlots(nil, proto, me)),
		"SHARDS": string(appendClusterShards(nil, proto, me)),
		"NODES":  string(appendClusterNodes(nil, proto, me)),
		"INFO":   string(codec.AppendVerbatim(nil, proto, "txt", []byte(clusterInfo))),
	}
}
