package server_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/slotgate/slotgate/internal/testcluster"
	"github.com/slotgate/slotgate/router/slot"
)

const mib = 1 << 20

// rssMargin is what slotgate may hold beyond its configured hard limit: the Go heap's GC headroom
// (GOGC=100 lets the heap reach twice the live bytes before a collection, and an append that grows
// a buffer briefly holds old and new copies), gnet's per-connection elastic buffers and one loop
// read buffer, and a 1 MiB backend reply being framed. 64 MiB is generous for all of these and
// still far below what an unbounded proxy reaches (hundreds of MiB to GiB in these scenarios).
const rssMargin = 64 * mib

// metricValue reads one un-labelled metric from slotgate's /metrics.
func metricValue(t testing.TB, admin, name string) float64 {
	t.Helper()
	cl := http.Client{Timeout: 3 * time.Second}
	resp, err := cl.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatalf("metrics: %v", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && f[0] == name {
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				t.Fatalf("metric %s: %v", name, err)
			}
			return v
		}
	}
	t.Fatalf("metric %s not found on %s", name, admin)
	return 0
}

// infoInt reads an integer field of INFO <section> from a node.
func infoInt(t testing.TB, n *testcluster.Node, section, field string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	s, err := cluster.Client(n).Info(ctx, section).Result()
	if err != nil {
		t.Fatalf("INFO %s on %s: %v", section, n.Addr, err)
	}
	v := testcluster.InfoField(s, field)
	if v == "" {
		t.Fatalf("INFO %s on %s: no field %s", section, n.Addr, field)
	}
	x, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		t.Fatalf("INFO %s: %v", field, err)
	}
	return x
}

// masterOf returns the master serving key's slot.
func masterOf(t testing.TB, key string) *testcluster.Node {
	t.Helper()
	return masterIn(t, cluster, key)
}

// keyOnMaster returns a key with prefix, on master m, in another slot than avoid's.
func keyOnMaster(t testing.TB, prefix string, m *testcluster.Node, avoid string) string {
	t.Helper()
	for i := 0; i < 10000; i++ {
		k := prefix + strconv.Itoa(i)
		if slot.Of([]byte(k)) != slot.Of([]byte(avoid)) && masterOf(t, k) == m {
			return k
		}
	}
	t.Fatal("no key found on", m.Addr)
	return ""
}

// patterned returns n bytes in which every 8-byte block names its own offset, so a value cut,
// shifted or mixed with another is detected.
func patterned(n int, tag string) []byte {
	b := make([]byte, 0, n+16)
	for i := 0; len(b) < n; i += 8 {
		b = append(b, fmt.Sprintf("%s%06x|", tag[:1], i&0xffffff)...)
	}
	return b[:n]
}

// sampler polls a value in the background and keeps its maximum.
type sampler struct {
	mu   sync.Mutex
	max  int64
	n    int
	stop chan struct{}
	done chan struct{}
}

func sample(every time.Duration, f func() int64) *sampler {
	s := &sampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		for {
			v := f()
			s.mu.Lock()
			s.max = max(s.max, v)
			s.n++
			s.mu.Unlock()
			select {
			case <-s.stop:
				return
			case <-time.After(every):
			}
		}
	}()
	return s
}

func (s *sampler) Stop() (maxV int64, n int) {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.max, s.n
}

// rssOf returns a sampler function for a process's RSS (0 once it is gone).
func rssOf(pid int) func() int64 {
	return func() int64 {
		b, err := readProcStatus(pid)
		if err != nil {
			return 0
		}
		return b
	}
}

// readProcStatus reads VmRSS without a testing.TB (for sampling goroutines).
func readProcStatus(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no VmRSS for %d", pid)
}

// usedMemoryOf returns a sampler function for a node's used_memory (-1 on error).
func usedMemoryOf(n *testcluster.Node) func() int64 {
	return func() int64 {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		s, err := cluster.Client(n).Info(ctx, "memory").Result()
		if err != nil {
			return -1
		}
		for _, line := range strings.Split(s, "\r\n") {
			if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
				x, _ := strconv.ParseInt(v, 10, 64)
				return x
			}
		}
		return -1
	}
}

// watchServed runs GET key on its own client every 50 ms until stopped, and records the slowest
// answer and any wrong one.
type served struct {
	stop    chan struct{}
	done    chan struct{}
	slowest time.Duration
	count   int
	err     error
}

func watchServed(addr, key, want string) *served {
	w := &served{stop: make(chan struct{}), done: make(chan struct{})}
	cl := redis.NewClient(&redis.Options{Addr: addr, ReadTimeout: 5 * time.Second, MaxRetries: -1, PoolSize: 1})
	go func() {
		defer close(w.done)
		defer cl.Close()
		for {
			t0 := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			v, err := cl.Get(ctx, key).Result()
			cancel()
			d := time.Since(t0)
			w.slowest = max(w.slowest, d)
			w.count++
			if err != nil || v != want {
				if w.err == nil {
					w.err = fmt.Errorf("GET %s = %q, %v (want %q)", key, clipStr(v), err, want)
				}
			}
			select {
			case <-w.stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	return w
}

func (w *served) Stop() *served {
	close(w.stop)
	<-w.done
	return w
}

func clipStr(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// TestE2EBoundsSlowReaderBigValues: a client pipelines 2,000 GETs of a 1 MiB value and never reads.
// slotgate's memory must stay bounded by its hard limit, the master must not buffer the replies
// for it (Redis counts client output buffers in used_memory), a neighbour on the same shard is
// served, the value is intact, and the client ends up disconnected or paused.
func TestE2EBoundsSlowReaderBigValues(t *testing.T) {
	const soft, hard = 4 * mib, 32 * mib
	pp := startProxyProcess(t, cluster, "-client-soft-limit", strconv.Itoa(soft), "-client-hard-limit", strconv.Itoa(hard))
	pid := pp.Cmd.Process.Pid
	ctx := context.Background()
	run := runID()
	key := "rb:" + run + ":big"
	master := masterOf(t, key)
	other := keyOnMaster(t, "rb:"+run+":other:", master, key)
	value := patterned(mib, "v")

	cl := redis.NewClient(&redis.Options{Addr: pp.Addr, ReadTimeout: 10 * time.Second})
	defer cl.Close()
	if err := cl.Set(ctx, key, value, time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	if err := cl.Set(ctx, other, "neighbour", time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	// Warm up the path once (a 1 MiB reply through slotgate), then take the baselines.
	if v, err := cl.Get(ctx, key).Result(); err != nil || v != string(value) {
		t.Fatalf("GET before: len %d, %v", len(v), err)
	}
	time.Sleep(200 * time.Millisecond)
	baseRSS := rssBytes(t, pid)
	baseUsed := infoInt(t, master, "memory", "used_memory")
	basePeak := infoInt(t, master, "memory", "used_memory_peak")
	overBefore := metricValue(t, pp.Admin, "slotgate_clients_disconnected_over_limit_total")

	conn, err := net.Dial("tcp", pp.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(64 << 10) // a small window: the client really does not take the bytes
	}
	req := []byte(respCmd("GET", key))
	var burst []byte
	for range 2000 {
		burst = append(burst, req...)
	}
	werr := make(chan error, 1)
	go func() {
		_ = conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
		_, err := conn.Write(burst)
		werr <- err
	}()

	rss := sample(20*time.Millisecond, rssOf(pid))
	used := sample(20*time.Millisecond, usedMemoryOf(master))
	nb := watchServed(pp.Addr, other, "neighbour")
	time.Sleep(4 * time.Second)
	nb.Stop()
	maxRSS, nRSS := rss.Stop()
	maxUsed, nUsed := used.Stop()
	peak := infoInt(t, master, "memory", "used_memory_peak")
	wErr := <-werr

	over := metricValue(t, pp.Admin, "slotgate_clients_disconnected_over_limit_total") - overBefore
	paused := metricValue(t, pp.Admin, "slotgate_clients_paused")
	// Is the raw client's connection still open? Whatever it can read first, then EOF or not.
	_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	nread, rerr := io.Copy(io.Discard, conn)
	closed := rerr == nil // io.Copy returns nil on EOF
	if ne, ok := rerr.(net.Error); ok && ne.Timeout() {
		closed = false
	} else if rerr != nil {
		closed = true // reset
	}

	t.Logf("RSS: baseline %.1f MiB, max %.1f MiB (+%.1f MiB, %d samples); bound baseline + hard %d MiB + margin %d MiB",
		float64(baseRSS)/mib, float64(maxRSS)/mib, float64(maxRSS-baseRSS)/mib, nRSS, hard/mib, rssMargin/mib)
	t.Logf("master %s used_memory: baseline %.1f MiB, max sampled %.1f MiB (+%.1f MiB, %d samples); used_memory_peak %.1f -> %.1f MiB",
		master.Addr, float64(baseUsed)/mib, float64(maxUsed)/mib, float64(maxUsed-baseUsed)/mib, nUsed,
		float64(basePeak)/mib, float64(peak)/mib)
	t.Logf("neighbour GETs: %d, slowest %v; raw client write: %v; afterwards read %d bytes then closed=%v (%v)",
		nb.count, nb.slowest, wErr, nread, closed, rerr)
	t.Logf("metrics: disconnected_over_limit +%v, clients_paused %v", over, paused)

	bound := baseRSS + hard + rssMargin
	if maxRSS > bound {
		t.Errorf("slotgate RSS reached %.1f MiB, over the bound %.1f MiB (baseline %.1f + hard limit %d + margin %d)",
			float64(maxRSS)/mib, float64(bound)/mib, float64(baseRSS)/mib, hard/mib, rssMargin/mib)
	}
	usedBound := int64(hard + rssMargin)
	if maxUsed-baseUsed > usedBound {
		t.Errorf("master used_memory grew by %.1f MiB (sampled), over %d MiB: Redis buffered replies for a client that does not read",
			float64(maxUsed-baseUsed)/mib, usedBound/mib)
	}
	if peak > basePeak && peak-baseUsed > usedBound {
		t.Errorf("master used_memory_peak rose to %.1f MiB, %.1f MiB over the baseline (bound %d MiB)",
			float64(peak)/mib, float64(peak-baseUsed)/mib, usedBound/mib)
	}
	if nb.err != nil {
		t.Errorf("neighbour on the same shard: %v", nb.err)
	}
	if nb.slowest > time.Second {
		t.Errorf("neighbour on the same shard waited %v for a GET (bound 1s)", nb.slowest)
	}
	if over == 0 && paused == 0 {
		t.Errorf("the non-reading client was neither disconnected over the limit nor paused")
	}
	if v, err := cl.Get(ctx, key).Result(); err != nil || v != string(value) {
		t.Errorf("the 1 MiB value after the test: len %d, %v (intact: %v)", len(v), err, v == string(value))
	}
}

// TestE2EBoundsDeclaredLength: declared lengths followed by silence cost nothing.
func TestE2EBoundsDeclaredLength(t *testing.T) {
	pp := startProxyProcess(t, cluster)
	pid := pp.Cmd.Process.Pid
	ctx := context.Background()
	key := "rd:" + runID()
	cl := redis.NewClient(&redis.Options{Addr: pp.Addr, ReadTimeout: 5 * time.Second})
	defer cl.Close()
	for i := range 100 { // warm up the paths the check below uses
		if err := cl.Set(ctx, key, i, time.Hour).Err(); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(300 * time.Millisecond)
	base := rssBytes(t, pid)

	headers := []string{
		"*1\r\n$536870912\r\n", // a 512 MiB bulk, the largest accepted
		"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$536870912\r\n",
		"*1048576\r\n", // the largest multibulk count
		"*2\r\n$536870912\r\n",
	}
	var conns []net.Conn
	for _, h := range headers {
		c, err := net.Dial("tcp", pp.Addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write([]byte(h)); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	s := sample(20*time.Millisecond, rssOf(pid))
	time.Sleep(time.Second)
	t0 := time.Now()
	for i := range 20 {
		if err := cl.Set(ctx, key, i, time.Hour).Err(); err != nil {
			t.Fatalf("another client, while %d declared lengths wait: %v", len(conns), err)
		}
		if v, err := cl.Get(ctx, key).Int(); err != nil || v != i {
			t.Fatalf("another client: GET = %d, %v", v, err)
		}
	}
	served := time.Since(t0)
	maxRSS, n := s.Stop()
	growth := maxRSS - base
	t.Logf("RSS baseline %.2f MiB, max %.2f MiB after the declared lengths (growth %+.2f MiB, %d samples); other client served 20 SET+GET in %v",
		float64(base)/mib, float64(maxRSS)/mib, float64(growth)/mib, n, served)
	if growth > 4*mib {
		t.Errorf("RSS grew by %.1f MiB after %d clients declared lengths and sent nothing (bound 4 MiB)", float64(growth)/mib, len(conns))
	}
	// The connections are still open (nothing was answered, nothing closed).
	for i, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		var b [64]byte
		if n, err := c.Read(b[:]); err == nil || !isTimeout(err) {
			t.Errorf("client %d (%q): got %q, %v; want nothing yet", i, headers[i], b[:n], err)
		}
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// TestE2EBoundsFloodingWriter: a client writes up to 100 MiB of pipelined SETs without reading a
// reply. Past the soft limit slotgate stops reading its socket (TCP back-pressure): the client's
// writes block, slotgate's RSS stays bounded, nobody is disconnected. When the client then reads,
// every reply arrives and the rest of its requests are served (a mass insertion, as with
// redis-cli --pipe, only slowed down).
func TestE2EBoundsFloodingWriter(t *testing.T) {
	const soft, hard = 1 * mib, 32 * mib
	pp := startProxyProcess(t, cluster, "-client-soft-limit", strconv.Itoa(soft), "-client-hard-limit", strconv.Itoa(hard))
	pid := pp.Cmd.Process.Pid
	ctx := context.Background()
	run := runID()
	cl := redis.NewClient(&redis.Options{Addr: pp.Addr, ReadTimeout: 5 * time.Second})
	defer cl.Close()
	if err := cl.Set(ctx, "rf:"+run+":probe", "x", time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	base := rssBytes(t, pid)

	// One 1 MiB chunk of small SETs over 16 keys (spread over the shards), written 100 times.
	var chunk []byte
	perChunk := 0
	for i := 0; len(chunk) < mib; i++ {
		chunk = append(chunk, respCmd("SET", "rf:"+run+":"+strconv.Itoa(i%16), "v")...)
		perChunk++
	}
	conn, err := net.Dial("tcp", pp.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetReadBuffer(64 << 10)
	}
	rss := sample(20*time.Millisecond, rssOf(pid))
	chunks := 0
	var wErr error
	t0 := time.Now()
	for chunks < 100 {
		// A fresh deadline per chunk: a write blocks only when slotgate stops reading this client
		// for 2 s on end, not when a busy machine makes it read slower than the client writes.
		_ = conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
		n, err := conn.Write(chunk)
		if err != nil {
			wErr = err
			if n > 0 { // finish the partly written chunk once reading starts
				_ = conn.SetWriteDeadline(time.Time{})
				go conn.Write(chunk[n:]) //nolint:errcheck // checked through the replies
				chunks++
			}
			break
		}
		chunks++
	}
	elapsed := time.Since(t0)
	paused := metricValue(t, pp.Admin, "slotgate_clients_paused")
	over := metricValue(t, pp.Admin, "slotgate_clients_disconnected_over_limit_total")
	t.Logf("flooding client wrote %d MiB in %v before its writes blocked (%v); clients_paused %v, disconnected_over_limit %v",
		chunks, elapsed.Round(time.Millisecond), wErr, paused, over)
	if chunks >= 100 || wErr == nil {
		t.Errorf("the client's writes never blocked: slotgate kept reading a client that does not read")
	}
	if paused != 1 || over != 0 {
		t.Errorf("want the client paused (1) and nobody disconnected (0); got paused %v, disconnected %v", paused, over)
	}
	// Another client is served meanwhile.
	if err := cl.Set(ctx, "rf:"+run+":probe", "y", time.Hour).Err(); err != nil {
		t.Errorf("another client during the flood: %v", err)
	}

	// Now read: every reply is +OK, and the requests still buffered get served.
	want := chunks * perChunk
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReaderSize(conn, 64<<10)
	for got := 0; got < want; got++ {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("reply %d of %d: %v", got, want, err)
		}
		if line != "+OK\r\n" {
			t.Fatalf("reply %d = %q", got, line)
		}
	}
	maxRSS, nRSS := rss.Stop()
	t.Logf("all %d replies read; RSS baseline %.1f MiB, max %.1f MiB (+%.1f MiB, %d samples)",
		want, float64(base)/mib, float64(maxRSS)/mib, float64(maxRSS-base)/mib, nRSS)
	if bound := base + hard + rssMargin; maxRSS > bound {
		t.Errorf("slotgate RSS reached %.1f MiB, over the bound %.1f MiB (baseline + hard limit + margin)", float64(maxRSS)/mib, float64(bound)/mib)
	}
}
