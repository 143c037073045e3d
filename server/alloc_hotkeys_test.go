//go:build !race

package server_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/slotgate/slotgate/server"
)

// TestAllocHotKeySampling: GET and SET stay allocation-free with every request sampled for the
// hot keys (HotKeySample 1, the most the sketch can cost), over more keys than the top table
// holds, so keys keep entering it (their bytes copied into its fixed slots).
func TestAllocHotKeySampling(t *testing.T) {
	const batch = 1000
	p := startProxy(t, cluster, func(c *server.Config) { c.Loops = 1; c.HotKeySample = 1 })
	run := runID()
	var req, want []byte
	for i := range batch {
		k := "rh:" + run + ":" + strconv.Itoa(i/2%200) // a SET, then a GET of its key
		if i%2 == 0 {
			req = append(req, respCmd("SET", k, "v")...)
			want = append(want, "+OK\r\n"...)
		} else {
			req = append(req, respCmd("GET", k)...)
			want = append(want, "$1\r\nv\r\n"...)
		}
	}
	rp := &rawPipeline{conn: dialPipeline(t, p.Addr), req: req, n: batch, want: nil, buf: make([]byte, 4*len(want))}
	rp.warmUp(t, 200)
	rp.want = want // every SET ran once: the GETs find "v"
	allocs := rp.allocsPerBatch(t, 20)
	t.Logf("%.1f allocations per batch of %d requests (%.4f per request), every request sampled", allocs, batch, allocs/batch)
	if allocs/batch > 0.01 {
		t.Errorf("%.1f allocations per %d GET/SET with hot-key sampling (%.4f per request), want at most %d", allocs, batch, allocs/batch, batch/100)
	}
	deadline := time.Now().Add(3 * time.Second) // the loop publishes once a second
	for len(p.Srv.HotKeys(3)) == 0 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if keys := p.Srv.HotKeys(3); len(keys) == 0 {
		t.Errorf("no hot keys after %d sampled requests", 220*batch)
	}
}
