package server

import (
	"math"
	"strconv"
	"testing"
	"time"
)

// TestHotSketchRates: the published rates follow the requests (1 in 10 sampled): a key at 1 %
// of 10,000 requests a second reads about 100 ops/s and its master about 10,000, and after the
// traffic stops the rates decay with hotTau.
func TestHotSketchRates(t *testing.T) {
	var h hotSketch
	h.init(10, 42)
	now := h.last
	other := make([][]byte, 5000)
	for i := range other {
		other[i] = []byte("key:" + strconv.Itoa(i))
	}
	hot := []byte("key:hot")
	for sec := range 20 {
		for i := range 10000 {
			k := other[(sec*10000+i)%len(other)]
			if i%100 == 0 {
				k = hot
			}
			if h.left--; h.left <= 0 {
				h.record(k, "m1")
			}
		}
		now = now.Add(time.Second)
		h.tick(now)
	}
	snap := h.pub.Load()
	rate := func() float64 {
		for _, k := range h.pub.Load().keys {
			if string(k.key[:k.klen]) == string(hot) {
				return k.rate
			}
		}
		return 0
	}
	if r := rate(); math.Abs(r-100) > 30 {
		t.Errorf("hot key at %.1f ops/s, want about 100", r)
	}
	if r := snap.shards["m1"]; math.Abs(r-10000) > 1000 {
		t.Errorf("master at %.0f ops/s, want about 10000", r)
	}
	before := rate()
	for range 7 {
		now = now.Add(time.Second)
		h.tick(now)
	}
	if r := rate(); r > before*0.6 || r < before*0.3 {
		t.Errorf("7 s after the traffic stopped: %.1f ops/s, from %.1f (want about half)", r, before)
	}
}

func TestEscapeKey(t *testing.T) {
	for _, c := range []struct {
		in   string
		full int
		want string
	}{
		{"user:1", 6, "user:1"},
		{"a b\"c,d=e\\f\x00\xff<", 13, `a\x20b\x22c\x2cd\x3de\x5cf\x00\xff<`},
		{"abc", 100, "abc...(100B)"},
	} {
		if got := escapeKey([]byte(c.in), c.full); got != c.want {
			t.Errorf("escapeKey(%q, %d) = %q, want %q", c.in, c.full, got, c.want)
		}
	}
}
