package server_test

import (
	"bufio"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/slotgate/slotgate/internal/testcluster"
	"github.com/slotgate/slotgate/router"
	"github.com/slotgate/slotgate/router/slot"
	"github.com/slotgate/slotgate/server"
)

// adminServer serves what cmd/slotgate's admin address serves for srv: /metrics, /healthz and
// /readyz.
func adminServer(t *testing.T, srv *server.Server) string {
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) { metrics.WritePrometheus(w, true) })
	mux.HandleFunc("/healthz", srv.ServeHealthz)
	mux.HandleFunc("/readyz", srv.ServeReadyz)
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	return hs.URL
}

// httpGet returns the status and body of url.
func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// scrape reads /metrics into series -> value.
func scrape(t *testing.T, base string) map[string]float64 {
	t.Helper()
	code, body := httpGet(t, base+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	m := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("/metrics line %q: %v", line, err)
		}
		if _, dup := m[line[:i]]; dup {
			t.Fatalf("/metrics: series %s twice", line[:i])
		}
		m[line[:i]] = v
	}
	return m
}

// waitStatus polls url until it answers code, and returns the body.
func waitStatus(t *testing.T, url string, code int, within time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		got, body := httpGet(t, url)
		if got == code {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d %q after %v, want %d", url, got, body, within, code)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// /metrics counts exactly the requests a client made: per command (errors too), per node (the
// latency histograms' counts), per command family, and the client's bytes both ways. The
// counters are process-wide, so the test compares a scrape before and after its requests (no
// other test runs meanwhile). Snapshot shows the three shards busy.
func TestE2EMetricsCountRequests(t *testing.T) {
	p := startProxy(t, cluster, nil)
	admin := adminServer(t, p.Srv)
	waitStatus(t, admin+"/readyz", 200, 5*time.Second)
	if code, body := httpGet(t, admin+"/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("/healthz: %d %q", code, body)
	}

	run := runID()
	masters := cluster.Masters()
	var keys []string // two per master, distinct slots
	for _, m := range masters {
		k := keyOnMaster(t, "mx:"+run+":a", m, "")
		keys = append(keys, k, keyOnMaster(t, "mx:"+run+":b", m, k))
	}
	wantNode := map[string]int{}
	var sent, received int
	rc := dialRaw(t, p.Addr)
	do := func(node string, args ...string) string {
		r := rc.do(args...)
		sent += len(respCmd(args...))
		received += len(r)
		if node != "" {
			wantNode[node]++
		}
		return r
	}

	before := scrape(t, admin)
	const sets, gets = 30, 20
	for i := range sets {
		k := keys[i%len(keys)]
		if r := do(masterOf(t, k).Addr, "SET", k, "v"+strconv.Itoa(i)); r != "+OK\r\n" {
			t.Fatalf("SET: %q", r)
		}
	}
	for i := range gets {
		k := keys[i%len(keys)]
		do(masterOf(t, k).Addr, "GET", k)
	}
	for range 5 { // an error reply from the node
		if r := do(masterOf(t, keys[0]).Addr, "INCR", keys[0]); !strings.HasPrefix(r, "-ERR") {
			t.Fatalf("INCR of a string: %q", r)
		}
	}
	// A split: one request, one part per slot (keys[0], keys[2], keys[4]: one per master).
	for range 2 {
		for _, k := range []string{keys[0], keys[2], keys[4]} {
			wantNode[masterOf(t, k).Addr]++
		}
		do("", "MGET", keys[0], keys[2], keys[4])
	}
	do("", "NOSUCHCOMMAND", "x")      // answered by slotgate: no node
	do("", "PING")                    // local
	do("", "CONFIG", "GET", "nosuch") // forwarded to one master (keyless CONFIG GET)
	after := scrape(t, admin)

	delta := func(series string) float64 { return after[series] - before[series] }
	for cmd, want := range map[string]float64{"set": sets, "get": gets, "incr": 5, "mget": 2, "unknown": 1, "ping": 1, "config|get": 1} {
		if got := delta(`slotgate_commands_total{cmd="` + cmd + `"}`); got != want {
			t.Errorf("slotgate_commands_total{cmd=%q} grew by %v, want %v", cmd, got, want)
		}
	}
	for cmd, want := range map[string]float64{"set": 0, "get": 0, "incr": 5, "mget": 0, "unknown": 1} {
		if got := delta(`slotgate_command_errors_total{cmd="` + cmd + `"}`); got != want {
			t.Errorf("slotgate_command_errors_total{cmd=%q} grew by %v, want %v", cmd, got, want)
		}
	}
	// CONFIG GET went to one master, whichever: count it where it went.
	var total float64
	for _, m := range masters {
		total += delta(`slotgate_node_request_duration_seconds_count{node="` + m.Addr + `"}`)
	}
	var wantTotal int
	for _, n := range wantNode {
		wantTotal += n
	}
	if total != float64(wantTotal+1) {
		t.Errorf("node histograms counted %v replies, want %d", total, wantTotal+1)
	}
	for _, m := range masters {
		n := `{node="` + m.Addr + `"}`
		got := delta("slotgate_node_request_duration_seconds_count" + n)
		if want := float64(wantNode[m.Addr]); got != want && got != want+1 {
			t.Errorf("node %s: histogram count grew by %v, want %v (+1 if CONFIG GET went there)", m.Addr, got, want)
		}
		if inf := delta(`slotgate_node_request_duration_seconds_bucket{node="` + m.Addr + `",le="+Inf"}`); inf != got {
			t.Errorf("node %s: +Inf bucket grew by %v, count by %v", m.Addr, inf, got)
		}
		if delta("slotgate_backend_bytes_sent_total"+n) <= 0 || delta("slotgate_backend_bytes_received_total"+n) <= 0 {
			t.Errorf("node %s: no backend bytes counted", m.Addr)
		}
		wantErr := 0.0
		if m == masterOf(t, keys[0]) {
			wantErr = 5
		}
		if got := delta("slotgate_node_errors_total" + n); got != wantErr {
			t.Errorf("node %s: errors grew by %v, want %v", m.Addr, got, wantErr)
		}
	}
	if got := delta(`slotgate_request_duration_seconds_count{family="string"}`); got != float64(wantTotal) {
		t.Errorf("family string: histogram count grew by %v, want %d (SET, GET, INCR, MGET parts)", got, wantTotal)
	}
	if got := delta(`slotgate_request_duration_seconds_count{family="server"}`); got != 1 {
		t.Errorf("family server: histogram count grew by %v, want 1 (CONFIG GET)", got)
	}
	if got := delta("slotgate_client_bytes_received_total"); got != float64(sent) {
		t.Errorf("client bytes received grew by %v, the client sent %d", got, sent)
	}
	if got := delta("slotgate_client_bytes_sent_total"); got != float64(received) {
		t.Errorf("client bytes sent grew by %v, the client read %d", got, received)
	}
	if _, ok := after["slotgate_backend_buffer_bytes"]; !ok {
		t.Error("no slotgate_backend_buffer_bytes")
	}

	snap := p.Srv.Snapshot()
	t.Logf("snapshot: window %v, %d slots, %d clients, ready %v %q", snap.Window, snap.Slots, snap.Clients, snap.Ready, snap.NotReady)
	if !snap.Ready || snap.Slots != slot.Count || len(snap.Shards) != 3 || snap.Clients < 1 {
		t.Errorf("snapshot: %+v", snap)
	}
	for _, sh := range snap.Shards {
		t.Logf("shard %s (%d slots, replicas %v, %s): %d requests, %.1f ops/s, p50 %v, p99 %v, %d errors, %d redirects",
			sh.Master, sh.Slots, sh.Replicas, sh.State, sh.Requests, sh.OpsPerSec, sh.P50, sh.P99, sh.Errors, sh.Redirects)
		if sh.State != "ok" || sh.Requests < uint64(wantNode[sh.Master]) || sh.OpsPerSec <= 0 || sh.P50 <= 0 || sh.P99 < sh.P50 {
			t.Errorf("shard %s: %+v", sh.Master, sh)
		}
	}
}

// /readyz: 503 before the topology is known and while a master is down, 200 once its replica
// has taken over; /healthz is 200 all along.
func TestE2EReadyz(t *testing.T) {
	c := startTopologyCluster(t, testcluster.Options{NodeTimeout: time.Second})
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	rt := router.New(router.Config{Seeds: c.Seeds()[:1], Password: c.Password, Refresh: 200 * time.Millisecond, Logger: logger})
	p := serveWith(t, rt, nil)
	admin := adminServer(t, p.Srv)

	code, body := httpGet(t, admin+"/readyz")
	t.Logf("before the topology: %d %q", code, body)
	if code != 503 || !strings.Contains(body, "no topology") {
		t.Fatalf("/readyz before the topology: %d %q", code, body)
	}
	if code, _ := httpGet(t, admin+"/healthz"); code != 200 {
		t.Fatalf("/healthz: %d", code)
	}
	if err := rt.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, admin+"/readyz", 200, 5*time.Second)

	// Traffic first, so the loop holds connections to every master.
	cl := p.client(t, nil)
	for i := range 30 {
		if err := cl.Set(t.Context(), "rz:"+strconv.Itoa(i), "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	victim := c.Masters()[1]
	if err := c.Kill(victim); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	body = waitStatus(t, admin+"/readyz", 503, 5*time.Second)
	t.Logf("%v after killing %s: 503 %q", time.Since(killed).Round(time.Millisecond), victim.Addr, body)
	if !strings.Contains(body, victim.Addr) && !strings.Contains(body, "slots have no master") {
		t.Errorf("/readyz while %s is down: %q names neither it nor uncovered slots", victim.Addr, body)
	}
	if code, _ := httpGet(t, admin+"/healthz"); code != 200 {
		t.Fatalf("/healthz while a master is down: %d", code)
	}
	promoted, at, err := c.WaitNewMaster(victim, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	waitStatus(t, admin+"/readyz", 200, 10*time.Second)
	t.Logf("%s promoted %v after the kill; ready %v after the promotion", promoted.Addr,
		at.Sub(killed).Round(time.Millisecond), time.Since(at).Round(time.Millisecond))
	snap := p.Srv.Snapshot()
	for _, sh := range snap.Shards {
		if sh.Master == victim.Addr || sh.State != "ok" {
			t.Errorf("after the failover: shard %+v", sh)
		}
	}
}
