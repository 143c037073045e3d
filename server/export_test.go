package server

import "github.com/slotgate/slotgate/router"

// RequestCopies returns the bytes of client requests the loops Peeked from gnet, copied into
// sessions' own buffers and moved when those grew, in total since they started.
func (srv *Server) RequestCopies() router.CopyStats {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	var s router.CopyStats
	for _, lp := range srv.loops {
		s.Peeked += lp.peeked.Load()
		s.Copied += lp.copied.Load()
		s.Moved += lp.moved.Load()
	}
	return s
}
