package loopcount

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/panjf2000/gnet/v2"
)

// TestCounterPublish: Load sees the owner's count only once published, and every publish.
func TestCounterPublish(t *testing.T) {
	var c Counter
	c.Add(3)
	if c.Load() != 0 {
		t.Fatalf("before Publish: Load %d, want 0", c.Load())
	}
	c.Publish()
	if c.Load() != 3 {
		t.Fatalf("after Publish: Load %d, want 3", c.Load())
	}
	c.Publish() // unchanged: nothing stored, still 3
	c.Add(2)
	c.Publish()
	if c.Load() != 5 {
		t.Fatalf("after a second Publish: Load %d, want 5", c.Load())
	}
}

// loop is an event loop for Sync: Execute runs the task on the loop's goroutine, as gnet does;
// a stuck loop takes tasks and never runs them, a stopped one refuses them.
type loop struct {
	gnet.EventLoop
	tasks   chan gnet.Runnable
	stopped bool
}

func newLoop(t *testing.T, stuck bool) *loop {
	l := &loop{tasks: make(chan gnet.Runnable, 16)}
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	if !stuck {
		go func() {
			for {
				select {
				case r := <-l.tasks:
					_ = r.Run(context.Background())
				case <-done:
					return
				}
			}
		}()
	}
	return l
}

func (l *loop) Execute(_ context.Context, r gnet.Runnable) error {
	if l.stopped {
		return errors.New("engine stopped")
	}
	l.tasks <- r
	return nil
}

// TestSync: Sync returns once every loop published on its own goroutine (the counters written
// there are then visible, race-free), skips a stopped loop, and gives up on a stuck one after
// SyncWait.
func TestSync(t *testing.T) {
	var a, b Counter
	la, lb := newLoop(t, false), newLoop(t, false)
	var wg sync.WaitGroup
	wg.Add(1)
	_ = la.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
		a.Add(7) // the owner counts on its loop
		wg.Done()
		return nil
	}))
	wg.Wait()
	_ = lb.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error { b.Add(9); return nil }))
	type owned struct {
		el *loop
		c  *Counter
	}
	el := func(o owned) gnet.EventLoop { return o.el }
	publish := func(o owned) { o.c.Publish() }
	if !Sync([]owned{{la, &a}, {lb, &b}}, el, publish) {
		t.Fatal("Sync reported a loop that did not publish")
	}
	if a.Load() != 7 || b.Load() != 9 {
		t.Fatalf("after Sync: %d and %d, want 7 and 9", a.Load(), b.Load())
	}

	stopped := newLoop(t, false)
	stopped.stopped = true
	if !Sync([]owned{{stopped, &a}}, el, func(owned) { t.Error("a stopped loop ran Publish") }) {
		t.Fatal("Sync waited for a loop that refused the task")
	}

	t0 := time.Now()
	if Sync([]owned{{la, &a}, {newLoop(t, true), &b}}, el, publish) {
		t.Fatal("Sync reported a stuck loop as published")
	}
	if d := time.Since(t0); d < SyncWait || d > SyncWait+2*time.Second {
		t.Fatalf("Sync gave up on a stuck loop after %v, want about %v", d, SyncWait)
	}
}
