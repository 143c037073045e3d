//go:build linux && !poll_opt

// This file relies on gnet's default epoll poller, which stores the fd itself as each event's
// data. Under gnet's poll_opt build tag the data is a pointer to gnet's poll attachment, and
// rewriting it with the fd would corrupt gnet's dispatch: readgate_other.go is built instead.
// gnet.WithEdgeTriggeredIO is not used either (these masks are level-triggered).

package server

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"

	"github.com/panjf2000/gnet/v2"
	"github.com/panjf2000/gnet/v2/pkg/netpoll"
	"golang.org/x/sys/unix"
)

// Read back-pressure. gnet reads every readable socket and has no call to stop (DESIGN "gnet
// facts"), so a client that writes faster than the cluster answers would only be bounded by
// disconnecting it. A paused session instead takes its socket out of the loop's epoll read set:
// the kernel's receive buffer fills, TCP closes the window and the client's writes block, as
// against a Redis that is busy. This edits the registration gnet made (level-triggered, the fd
// as event data, netpoll's event masks) in gnet's epoll instance, found once per loop through
// /proc/self/fdinfo. gnet re-arms reading itself when it finishes or starts buffering a write;
// the next read then finds the session paused and stops reading again, and the hard limit still
// bounds what those reads can add.

// stopReading keeps only the write interest (when gnet has output queued) for c's socket.
func (lp *loop) stopReading(c gnet.Conn) {
	var ev uint32
	if c.OutboundBuffered() > 0 {
		ev = netpoll.WriteEvents
	}
	lp.setEvents(c, ev)
}

// startReading restores gnet's read interest (and write interest when output is queued).
func (lp *loop) startReading(c gnet.Conn) {
	var ev uint32 = netpoll.ReadEvents
	if c.OutboundBuffered() > 0 {
		ev = netpoll.ReadWriteEvents
	}
	lp.setEvents(c, ev)
}

func (lp *loop) setEvents(c gnet.Conn, ev uint32) {
	fd := c.Fd()
	if lp.epfd == 0 {
		lp.epfd = findEpoll(fd)
		if lp.epfd < 0 {
			lp.srv.log.Warn("read back-pressure unavailable (no epoll instance lists the fd): relying on the hard limit", "fd", fd)
		}
	}
	if lp.epfd < 0 {
		return
	}
	err := unix.EpollCtl(lp.epfd, unix.EPOLL_CTL_MOD, fd, &unix.EpollEvent{Events: ev, Fd: int32(fd)})
	if err != nil {
		lp.srv.logLimit(&lp.srv.logs.readGate, slog.LevelWarn, "read back-pressure: epoll_ctl failed", "fd", fd, "err", err)
	}
}

// findEpoll returns the epoll instance of this process that watches fd: the one gnet's loop
// registered it in (each loop has its own; a client socket is in exactly one), or -1.
func findEpoll(fd int) int {
	dir := "/proc/self/fdinfo"
	ents, err := os.ReadDir(dir)
	if err != nil {
		return -1
	}
	want := strconv.Itoa(fd)
	for _, e := range ents {
		link, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err != nil || link != "anon_inode:[eventpoll]" {
			continue
		}
		info, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		for _, line := range bytes.Split(info, []byte("\n")) { // "tfd:  12 events:  19 data: c ..."
			if f := bytes.Fields(line); len(f) >= 2 && string(f[0]) == "tfd:" && string(f[1]) == want {
				if n, err := strconv.Atoi(e.Name()); err == nil {
					return n
				}
			}
		}
	}
	return -1
}
