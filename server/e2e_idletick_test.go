package server_test

import (
	"context"
	"testing"
	"time"
)

// TestE2EIdleTicksSlowly: with no client connected slotgate's timers tick once a second (an idle
// proxy should cost next to nothing); a client brings the fast tick back at once, and its
// leaving lets the proxy slow down again.
func TestE2EIdleTicksSlowly(t *testing.T) {
	p := startProxy(t, cluster, nil)
	tick := func() time.Duration {
		d, _ := p.Srv.OnTick()
		return d
	}
	waitTick := func(want time.Duration) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for tick() != want {
			if time.Now().After(deadline) {
				t.Fatalf("OnTick period %v, want %v", tick(), want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitTick(time.Second)
	cl := p.client(t, nil)
	if err := cl.Ping(context.Background()).Err(); err != nil {
		t.Fatal(err)
	}
	if d := tick(); d != 10*time.Millisecond {
		t.Fatalf("OnTick period %v with a client connected, want 10ms", d)
	}
	cl.Close()
	waitTick(time.Second)
}
