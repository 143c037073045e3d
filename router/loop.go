package router

import (
	"context"
	"net"
	"os"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// Loop is one event loop's set of shard connections and its doorbell. All of its methods run on
// that loop's goroutine.
type Loop struct {
	router    *Router
	el        gnet.EventLoop
	topo      *Topology
	shards    []*ShardConn          // index = shard index in topo
	byAddr    map[string]*ShardConn // every connection this loop keeps, by master address
	dirty     []*ShardConn          // connections with unwritten requests
	bell      int                   // write end of the doorbell socketpair
	rung      bool                  // a doorbell byte is on its way
	idleBatch bool                  // requests queued while the loop was idle: written by EndCallback
	deferred  bool                  // the last doorbell left the batch for one more round
	queued    int                   // requests appended since the last flush
	onWire    int                   // requests written and not yet answered, on every connection

	Owner any // the server's state for this loop
}

// Doorbell is the context of the loop's doorbell connection: its OnTraffic is the batch flush.
type Doorbell struct{ loop *Loop }

// NewLoop creates the state of event loop el and enrolls its doorbell. It runs on el's goroutine.
func (r *Router) NewLoop(el gnet.EventLoop) (*Loop, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fds[0]), "doorbell")
	nc, err := net.FileConn(f) // dups the fd
	f.Close()
	if err != nil {
		unix.Close(fds[1])
		return nil, err
	}
	l := &Loop{router: r, el: el, bell: fds[1], byAddr: map[string]*ShardConn{}}
	// Enroll only queues the registration; never wait for its result on the loop.
	if _, err := el.Enroll(gnet.NewContext(context.Background(), &Doorbell{loop: l}), nc); err != nil {
		nc.Close()
		unix.Close(fds[1])
		return nil, err
	}
	l.sync()
	return l, nil
}

// Topology returns the topology this loop routes with, catching up with the router's first.
func (l *Loop) Topology() *Topology {
	if t := l.router.topo.Load(); t != l.topo {
		l.sync()
	}
	return l.topo
}

// sync aligns the loop's shard connections with the router's current topology: connections to
// masters still present are kept, new masters get a connection on first use.
func (l *Loop) sync() {
	t := l.router.topo.Load()
	l.topo = t
	if t == nil {
		l.shards = l.shards[:0]
		return
	}
	shards := make([]*ShardConn, len(t.Masters))
	for i, addr := range t.Masters {
		sc := l.byAddr[addr]
		if sc == nil {
			sc = &ShardConn{Addr: addr, loop: l}
			l.byAddr[addr] = sc
		}
		shards[i] = sc
	}
	l.shards = shards
}

// Send queues req (complete RESP bytes) for the master of shard; the reply goes to sink.Deliver
// with seq and part. The write happens at the loop's next flush.
func (l *Loop) Send(shard int, req []byte, sink Sink, seq uint64, part int32) {
	l.shards[shard].enqueue(req, sink, seq, part)
}

// markDirty records sc for the next flush and rings the doorbell once per batch. When nothing is
// on the wire the loop is idle: no other client's request is on its way to join the batch, so
// it is written when the current callback ends (EndCallback) without a doorbell round trip.
func (l *Loop) markDirty(sc *ShardConn) {
	l.dirty = append(l.dirty, sc)
	switch {
	case l.rung || l.idleBatch:
	case l.onWire == 0:
		l.idleBatch = true
	default:
		l.ring()
	}
}

// EndCallback must run at the end of every callback that may have queued requests: it writes
// a batch started while the loop was idle.
func (l *Loop) EndCallback() {
	if l.idleBatch {
		l.idleBatch = false
		if !l.rung {
			l.write()
		}
	}
}

func (l *Loop) ring() {
	l.rung = true
	var b = [1]byte{1}
	_, _ = unix.Write(l.bell, b[:]) // EAGAIN means bytes are already waiting: rung anyway
}

// Flush writes every dirty shard connection once. A batch smaller than what is already at the
// backends waits for one more wake-up of the loop: the replies on their way bring the next
// requests within that round, so the masters get fewer, larger writes. It never waits twice in a
// row, and a lone caller (nothing else in flight) is never made to wait.
func (l *Loop) Flush() {
	l.rung = false
	if !l.deferred && l.queued < l.onWire {
		l.deferred = true
		flushesDeferred.Inc()
		l.ring()
		return
	}
	l.deferred = false
	l.write()
}

// write writes every dirty shard connection once.
func (l *Loop) write() {
	l.queued = 0
	for i, sc := range l.dirty {
		sc.flush()
		l.dirty[i] = nil
	}
	l.dirty = l.dirty[:0]
}

// Loop returns the loop this doorbell belongs to.
func (d *Doorbell) Loop() *Loop { return d.loop }

// OnTraffic of the doorbell: discard the wake-up bytes and flush the batch.
func (d *Doorbell) OnTraffic(c gnet.Conn) gnet.Action {
	_, _ = c.Discard(c.InboundBuffered())
	d.loop.Flush()
	return gnet.None
}
