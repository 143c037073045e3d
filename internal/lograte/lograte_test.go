package lograte

import (
	"testing"
	"time"
)

func TestLimiter(t *testing.T) {
	var l Limiter
	t0 := time.Unix(1000, 0)
	if ok, n := l.allow(t0); !ok || n != 0 {
		t.Fatalf("first event: ok %v skipped %d, want logged", ok, n)
	}
	for i := 1; i <= 5; i++ {
		if ok, _ := l.allow(t0.Add(time.Duration(i) * time.Second)); ok {
			t.Fatalf("event %d within the interval logged", i)
		}
	}
	if ok, n := l.allow(t0.Add(Every)); !ok || n != 5 {
		t.Fatalf("after the interval: ok %v skipped %d, want logged with 5 skipped", ok, n)
	}
}
