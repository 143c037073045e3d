//go:build !race

package server_test

import (
	"context"
	"testing"
	"time"

	"github.com/slotgate/slotgate/server"
)

// TestAllocEvalSha: EVALSHA of a script in slotgate's cache (its request kept for a reload in the
// reply slot's buffer) allocates no more per request than GET, in steady state.
func TestAllocEvalSha(t *testing.T) {
	const batch = 1000
	p := startProxy(t, cluster, func(c *server.Config) { c.Loops = 1 })
	cl := p.client(t, nil)
	ctx := context.Background()
	_, keys := keyPerMaster(t, cluster, "allocsha")
	sha, err := cl.ScriptLoad(ctx, "return redis.call('GET', KEYS[1])").Result()
	if err != nil {
		t.Fatal(err)
	}
	if !server.ScriptCached(p.Srv, sha) {
		t.Fatal("the script is not in slotgate's cache: EVALSHA would not take the reload path")
	}
	for _, k := range keys {
		if err := cl.Set(ctx, k, "v", time.Hour).Err(); err != nil {
			t.Fatal(err)
		}
	}
	measure := func(name string, cmd func(k string) string) float64 {
		var req, want []byte
		for i := 0; i < batch; i++ {
			req = append(req, cmd(keys[i%len(keys)])...)
			want = append(want, "$1\r\nv\r\n"...)
		}
		rp := &rawPipeline{conn: dialPipeline(t, p.Addr), req: req, n: batch, want: want, buf: make([]byte, 4*len(want))}
		rp.warmUp(t, 200) // see TestAllocProxyPath
		allocs := rp.allocsPerBatch(t, 5)
		t.Logf("%s: %.1f allocations per batch of %d (%.4f per request)", name, allocs, batch, allocs/batch)
		return allocs / batch
	}
	get := measure("GET", func(k string) string { return respCmd("GET", k) })
	evalsha := measure("EVALSHA", func(k string) string { return respCmd("EVALSHA", sha, "1", k) })
	if evalsha > get+0.01 {
		t.Errorf("EVALSHA: %.4f allocations per request, GET %.4f: want no more than GET's", evalsha, get)
	}
}
