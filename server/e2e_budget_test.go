package server_test

import (
	"context"
	"io"
	"net"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestE2EBudgetFloodingWriters: two clients try to pipeline 512 MiB of SETs each, and three
// more pipeline GETs of a 1 MiB value (about 30 GiB of replies each), none of them reading a
// reply. Their soft limits (8 MiB each) would let slotgate hold 40 MiB; -max-memory 8mb holds
// all client buffers to about that: past it only clients under their fair share are read, and
// if replies already on their way still leave it over, the client holding the most is
// disconnected (as Redis's maxmemory-clients does). slotgate's RSS stays under its baseline +
// the budget + a stated constant, the writers (who hold little) are never disconnected, and a
// sixth client on the same loop and shard is served throughout.
func TestE2EBudgetFloodingWriters(t *testing.T) {
	const budget = 8 * mib
	// The constant: the Go heap's headroom between collections (cmd/slotgate sets the runtime's
	// memory limit to the budget + 64 MiB) and gnet's per-connection buffers.
	const rssConstant = 64 * mib
	pp := startProxyProcess(t, cluster, "-max-memory", "8mb", "-client-hard-limit", strconv.Itoa(64*mib))
	pid := pp.Cmd.Process.Pid
	ctx := context.Background()
	run := runID()
	probeKey := "bf:" + run + ":0"
	probe := redis.NewClient(&redis.Options{Addr: pp.Addr, ReadTimeout: 5 * time.Second, MaxRetries: -1})
	defer probe.Close()
	if err := probe.Set(ctx, probeKey, "x", time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	base := rssBytes(t, pid)

	bigKey := keyOnMaster(t, "bf:"+run+":big:", masterOf(t, probeKey), probeKey)
	if err := probe.Set(ctx, bigKey, patterned(mib, "b"), time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	// 1 MiB chunks of small SETs on the probe's key, or of GETs of the 1 MiB value (so the
	// same shard), 512 per client.
	var sets, gets []byte
	for len(sets) < mib {
		sets = append(sets, respCmd("SET", probeKey, "v")...)
	}
	for len(gets) < mib {
		gets = append(gets, respCmd("GET", bigKey)...)
	}
	rss := sample(20*time.Millisecond, rssOf(pid))
	held := sample(50*time.Millisecond, func() int64 {
		return int64(metricValue(t, pp.Admin, "slotgate_client_buffer_bytes"))
	})
	const writers, perWriter = 5, 512
	var wg sync.WaitGroup
	written := make([]int, writers)
	conns := make([]net.Conn, writers)
	for w := range writers {
		conn, err := net.Dial("tcp", pp.Addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conns[w] = conn
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.SetReadBuffer(64 << 10)
		}
		chunk := sets
		if w >= 2 {
			chunk = gets
		}
		wg.Go(func() {
			for written[w] < perWriter {
				_ = conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
				if _, err := conn.Write(chunk); err != nil {
					return // slotgate stopped reading this client
				}
				written[w]++
			}
		})
	}
	// The probe is served while the writers flood.
	var lat []time.Duration
	stop := make(chan struct{})
	probed := make(chan error, 1)
	go func() {
		for {
			select {
			case <-stop:
				probed <- nil
				return
			default:
			}
			t0 := time.Now()
			if err := probe.Get(ctx, probeKey).Err(); err != nil {
				probed <- err
				return
			}
			lat = append(lat, time.Since(t0))
			time.Sleep(2 * time.Millisecond)
		}
	}()
	wg.Wait()
	time.Sleep(500 * time.Millisecond) // the paused state, held a while
	close(stop)
	if err := <-probed; err != nil {
		t.Fatalf("the probe client during the flood: %v", err)
	}
	maxRSS, _ := rss.Stop()
	maxHeld, _ := held.Stop()
	slices.Sort(lat)
	p99 := time.Duration(0)
	if len(lat) > 0 {
		p99 = lat[len(lat)*99/100]
	}
	evicted := metricValue(t, pp.Admin, "slotgate_clients_evicted_total")
	over := metricValue(t, pp.Admin, "slotgate_clients_disconnected_over_limit_total")
	t.Logf("writers wrote %v MiB of %d each before slotgate stopped reading them; client buffers peaked at %.1f MiB (budget %d MiB); "+
		"RSS baseline %.1f MiB, max %.1f MiB (+%.1f MiB); probe: %d GETs, p99 %v; evicted %v, disconnected %v",
		written, perWriter, float64(maxHeld)/mib, budget/mib, float64(base)/mib, float64(maxRSS)/mib, float64(maxRSS-base)/mib,
		len(lat), p99, evicted, over)
	for w, n := range written {
		if n >= perWriter {
			t.Errorf("writer %d wrote all %d MiB: slotgate kept reading a client that does not read", w, perWriter)
		}
	}
	// Over the budget by at most the replies already on their way when pausing began (each
	// client may still have one request at the backends, here a 1 MiB reply) until the largest
	// holders are evicted a second later. Without the budget the five would hold about 40 MiB.
	if maxHeld > 2*budget {
		t.Errorf("client buffers held %.1f MiB, far over the %d MiB budget", float64(maxHeld)/mib, budget/mib)
	}
	if bound := base + budget + rssConstant; maxRSS > bound {
		t.Errorf("RSS reached %.1f MiB, over baseline + budget + %d MiB = %.1f MiB", float64(maxRSS)/mib, rssConstant/mib, float64(bound)/mib)
	}
	if over != 0 || evicted > 3 {
		t.Errorf("clients disconnected: evicted %v (at most the 3 readers), over the hard limit %v", evicted, over)
	}
	for w := range 2 { // the SET writers are still connected: their replies come as they read
		_ = conns[w].SetReadDeadline(time.Now().Add(5 * time.Second))
		buf := make([]byte, 5)
		if _, err := io.ReadFull(conns[w], buf); err != nil || string(buf) != "+OK\r\n" {
			t.Errorf("SET writer %d: first reply %q, %v; want +OK (it holds little: never the one evicted)", w, buf, err)
		}
	}
	if len(lat) < 10 {
		t.Errorf("the probe got only %d replies during the flood", len(lat))
	}
}
