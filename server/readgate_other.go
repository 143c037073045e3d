//go:build !linux || poll_opt

package server

import "github.com/panjf2000/gnet/v2"

// Without gnet's default epoll poller (another OS, or the poll_opt build tag, whose epoll events
// carry a pointer rather than the fd) slotgate cannot take a socket out of the read set safely:
// a paused client is then bounded by the hard limit alone (it is disconnected past it).

func (lp *loop) stopReading(gnet.Conn) {
	if lp.epfd == 0 {
		lp.epfd = -1
		lp.srv.log.Warn("read back-pressure unavailable in this build (gnet poll_opt or not Linux): relying on the hard limit")
	}
}

func (lp *loop) startReading(gnet.Conn) {}
