// Package loopcount counts on an event loop without locked instructions. The loop adds to plain
// fields and publishes them to atomics at its tick, or when a reader asks (Sync); any other
// goroutine reads the values as of the loop's last publish.
//
// Why not atomic adds: an uncontended atomic add is still a locked instruction on amd64 (about
// 5 ns here, and it drains the store buffer), and Go has no relaxed one. A request forwarded by
// slotgate was counted in eight places (per command, per node, per family latency histogram,
// in flight): 40 ns of every request spent on counters that nobody reads between two scrapes.
package loopcount

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
)

// Counter is a count owned by one goroutine (Add, Publish) and read by any (Load).
type Counter struct {
	n   uint64        // the owner's count
	pub atomic.Uint64 // n as of the owner's last Publish
}

// Add adds d (the owner only).
func (c *Counter) Add(d uint64) { c.n += d }

// Publish makes the count visible to Load (the owner only). An unchanged count costs a load:
// the store, a locked exchange, is paid only for counters that moved.
func (c *Counter) Publish() {
	if c.n != c.pub.Load() {
		c.pub.Store(c.n)
	}
}

// Load is the count as of the owner's last Publish (any goroutine).
func (c *Counter) Load() uint64 { return c.pub.Load() }

// SyncWait bounds Sync: a loop busy for longer (a large merge, a stuck callback) is read as of
// its last publish rather than holding the reader.
const SyncWait = time.Second

// Sync runs f(l) for every loop l on that loop's event loop (el(l)) and waits until all have
// run, at most SyncWait; it reports whether they all did. A loop whose engine refuses the task
// (it is stopping) is skipped. A reader that must see everything counted so far (a scrape, a
// status page, the shutdown drain, a test right after its requests) has each loop publish this
// way first. Never from an event loop's goroutine: that loop could not run its own f until the
// wait ended.
func Sync[L any](loops []L, el func(L) gnet.EventLoop, f func(L)) bool {
	done := make(chan struct{}, len(loops))
	queued := 0
	for _, l := range loops {
		task := gnet.RunnableFunc(func(context.Context) error {
			f(l)
			done <- struct{}{}
			return nil
		})
		if el(l).Execute(context.Background(), task) == nil {
			queued++
		}
	}
	t := time.NewTimer(SyncWait)
	defer t.Stop()
	for ; queued > 0; queued-- {
		select {
		case <-done:
		case <-t.C:
			return false
		}
	}
	return true
}
