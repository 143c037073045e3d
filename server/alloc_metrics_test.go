//go:build !race

package server_test

import (
	"testing"

	"github.com/slotgate/slotgate/router"
)

// TestAllocMetricsCounted: with the per-command counters and the per-node and per-family
// latency histograms updated on every request, GET and SET through the proxy still allocate
// nothing per request, and every request of the measured batches is counted once SyncStats has
// the loops publish their counters.
func TestAllocMetricsCounted(t *testing.T) {
	const batch = 1000
	p := startProxy(t, cluster, nil)
	run := runID()
	var keys []string
	for _, m := range cluster.Masters() {
		keys = append(keys, keyOnMaster(t, "am:"+run+":", m, ""))
	}
	var req, want []byte
	for i := range batch {
		k := keys[(i/2)%len(keys)] // each GET reads the key the SET before it wrote
		if i%2 == 0 {
			req = append(req, respCmd("SET", k, "v")...)
			want = append(want, "+OK\r\n"...)
		} else {
			req = append(req, respCmd("GET", k)...)
			want = append(want, respBulk("v")...)
		}
	}
	rp := &rawPipeline{conn: dialPipeline(t, p.Addr), req: req, n: batch, want: want, buf: make([]byte, 4*len(want))}
	rp.warmUp(t, 100)
	p.Srv.SyncStats()
	cmds0, nodes0, fam0 := p.Srv.CommandCounts(), p.Rt.NodeStats(), p.Rt.FamilyLatency()
	allocs := rp.allocsPerBatch(t, 5)
	t.Logf("%.1f allocations per batch of %d requests (%.4f per request)", allocs, batch, allocs/batch)
	if allocs/batch > 0.01 {
		t.Errorf("%.4f allocations per request with metrics, want at most 0.01", allocs/batch)
	}
	const batches = 6 // AllocsPerRun runs once more than asked, unmeasured
	p.Srv.SyncStats() // the loops count without locked instructions and publish at their tick: now
	cmds, nodes, fam := p.Srv.CommandCounts(), p.Rt.NodeStats(), p.Rt.FamilyLatency()
	for _, c := range []string{"set", "get"} {
		if got := cmds[c][0] - cmds0[c][0]; got != batches*batch/2 {
			t.Errorf("%s counted %d times, sent %d", c, got, batches*batch/2)
		}
	}
	var total uint64
	for a, n := range nodes {
		total += n.Requests() - nodes0[a].Requests()
	}
	if total != batches*batch {
		t.Errorf("node histograms counted %d replies, want %d", total, batches*batch)
	}
	if got := fam[router.FamilyString].Count() - fam0[router.FamilyString].Count(); got != batches*batch {
		t.Errorf("family string counted %d replies, want %d", got, batches*batch)
	}
}
