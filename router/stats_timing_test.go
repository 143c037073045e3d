package router

import (
	"testing"
	"time"
)

// What the metrics cost per request (one latency observation in the node's and the family's
// histograms) and per backend read or write (one clock read).
func BenchmarkHistObserve(b *testing.B) {
	b.ReportAllocs()
	var h hist
	for i := 0; b.Loop(); i++ {
		h.observe(int64(100+i&1023) * 1000)
	}
}

func BenchmarkNanotime(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = nanotime()
	}
}

func BenchmarkTimeNow(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = time.Now()
	}
}

func TestHistogramQuantile(t *testing.T) {
	var h hist
	for range 90 {
		h.observe(int64(150 * time.Microsecond)) // (100µs, 200µs]
	}
	for range 10 {
		h.observe(int64(3 * time.Millisecond)) // (2ms, 5ms]
	}
	h.observe(int64(time.Minute)) // +Inf
	h.publish()                   // what a reader sees: the loop publishes at its tick
	var r Histogram
	r.add(&h)
	if r.Count() != 101 {
		t.Fatalf("count %d", r.Count())
	}
	if q := r.Quantile(0.5); q <= 100*time.Microsecond || q > 200*time.Microsecond {
		t.Errorf("p50 %v, want within (100µs, 200µs]", q)
	}
	if q := r.Quantile(0.95); q <= 2*time.Millisecond || q > 5*time.Millisecond {
		t.Errorf("p95 %v, want within (2ms, 5ms]", q)
	}
	if q := r.Quantile(1); q != 10*time.Second {
		t.Errorf("p100 %v, want the last bound", q)
	}
	var empty Histogram
	if empty.Quantile(0.99) != 0 {
		t.Error("quantile of nothing")
	}
	if d := r.Sub(r); d.Count() != 0 || d.Sum != 0 {
		t.Errorf("h - h = %+v", d)
	}
}
