package main

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/slotgate/slotgate/codec"
)

func TestParseRBCSV(t *testing.T) {
	out := "\"test\",\"rps\",\"avg_latency_ms\",\"min_latency_ms\",\"p50_latency_ms\",\"p95_latency_ms\",\"p99_latency_ms\",\"max_latency_ms\"\n" +
		"SET: rps=0.0 (overall: nan) avg_msec=nan (overall: nan)\r\"SET\",\"142857.14\",\"0.205\",\"0.048\",\"0.183\",\"0.295\",\"0.479\",\"3.583\"\n" +
		"\"GET\",\"133333.34\",\"0.205\",\"0.048\",\"0.183\",\"0.359\",\"0.751\",\"0.935\"\n"
	rows, err := parseRBCSV([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 {
		t.Fatalf("got %d rows, want 2: %+v", len(rows), rows)
	}
	want := rbRow{Test: "SET", RPS: 142857.14, Avg: 0.205, Min: 0.048, P50: 0.183, P95: 0.295, P99: 0.479, Max: 3.583}
	if rows[0] != want {
		t.Errorf("row 0 = %+v, want %+v", rows[0], want)
	}
	if rows[1].Test != "GET" || rows[1].Max != 0.935 {
		t.Errorf("row 1 = %+v", rows[1])
	}
	if _, err := parseRBCSV([]byte("Could not connect to Redis at 127.0.0.1:1: Connection refused\n")); err == nil {
		t.Error("no error for output without a result line")
	}
	if _, err := parseRBCSV([]byte(`"SET","x","1","1","1","1","1","1"` + "\n")); err == nil {
		t.Error("no error for a bad number")
	}
}

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{
		{nil, -1},
		{[]float64{-1, -1}, -1},
		{[]float64{3}, 3},
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{5, -1, 1}, 3}, // unmeasured values are ignored
	} {
		if got := median(tc.in); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
	rs := []metrics{unmeasured(), unmeasured(), unmeasured()}
	for i, v := range []float64{100, 300, 200} {
		rs[i].RPS, rs[i].P99, rs[i].Requests, rs[i].Errors = v, v/10, int64(v), int64(i)
	}
	rs[1].Error = "boom"
	m := medianMetrics(rs)
	if m.RPS != 200 || m.P99 != 20 || m.Requests != 200 || m.CPUPerReq != -1 {
		t.Errorf("medianMetrics = %+v", m)
	}
	if m.Errors != 3 || m.Error != "boom" {
		t.Errorf("errors are summed and the first message kept: %d %q", m.Errors, m.Error)
	}
}

func TestParseProcStat(t *testing.T) {
	// A command name with spaces and parentheses; utime=1234 (field 14), stime=567 (field 15).
	line := "4242 (slot gate (x)) S 1 4242 4242 0 -1 4194560 1000 0 0 0 1234 567 0 0 20 0 3 0 100 1000000 500 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"
	got, err := parseProcStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	if got != 1234+567 {
		t.Errorf("ticks = %d, want %d", got, 1234+567)
	}
	if _, err := parseProcStat([]byte("4242 (x) S 1 2")); err == nil {
		t.Error("no error for a short line")
	}
	if _, err := parseProcStat([]byte("garbage")); err == nil {
		t.Error("no error without ')'")
	}
}

func TestMetricValue(t *testing.T) {
	text := "# HELP go_memstats_mallocs_total x\ngo_memstats_mallocs_total_other 1\ngo_memstats_mallocs_total 123456\nfoo{a=\"b\"} 2\n"
	v, ok := metricValue(strings.NewReader(text), "go_memstats_mallocs_total")
	if !ok || v != 123456 {
		t.Errorf("metricValue = %v %v", v, ok)
	}
	if _, ok := metricValue(strings.NewReader(text), "missing"); ok {
		t.Error("found a missing metric")
	}
}

func TestInfoField(t *testing.T) {
	info := []byte("# Stats\r\ntotal_connections_received:7\r\ntotal_commands_processed:1000\r\ntotal_reads_processed:250\r\n")
	if v, ok := infoField(info, "total_commands_processed"); !ok || v != 1000 {
		t.Errorf("commands = %d %v", v, ok)
	}
	if v, ok := infoField(info, "total_reads_processed"); !ok || v != 250 {
		t.Errorf("reads = %d %v", v, ok)
	}
	if _, ok := infoField(info, "total_reads"); ok {
		t.Error("a prefix matched")
	}
}

func TestParseClusterSlots(t *testing.T) {
	node := func(port int64) []byte {
		return codec.AppendInt(codec.AppendBulkString(codec.AppendArrayLen(nil, 2), "127.0.0.1"), port)
	}
	rng := func(lo, hi, port int64) []byte {
		b := codec.AppendInt(codec.AppendInt(codec.AppendArrayLen(nil, 3), lo), hi)
		return append(b, node(port)...)
	}
	rep := codec.AppendArrayLen(nil, 3)
	rep = append(rep, rng(0, 5460, 7000)...)
	rep = append(rep, rng(5461, 10922, 7001)...)
	rep = append(rep, rng(10923, 16383, 7002)...)
	topo, err := parseClusterSlots(rep)
	if err != nil {
		t.Fatal(err)
	}
	if len(topo.masters) != 3 || topo.masters[1] != "127.0.0.1:7001" {
		t.Fatalf("masters = %v", topo.masters)
	}
	if topo.owner[0] != 0 || topo.owner[5461] != 1 || topo.owner[16383] != 2 {
		t.Errorf("owners: %d %d %d", topo.owner[0], topo.owner[5461], topo.owner[16383])
	}
	short := codec.AppendArrayLen(nil, 1)
	short = append(short, rng(0, 100, 7000)...)
	if _, err := parseClusterSlots(short); err == nil {
		t.Error("no error for a map that does not cover every slot")
	}
}

func TestBuildPool(t *testing.T) {
	topo := &topology{masters: []string{"a", "b", "c"}}
	for s := range topo.owner {
		topo.owner[s] = uint8(s * 3 / 16384)
	}
	var f codec.ReplyFramer // a request is a RESP array: the reply framer frames it too
	for _, w := range []workload{wGet16, wSet1K, wMget10, wMix} {
		for _, tp := range []*topology{nil, topo} {
			pool := buildPool(w, tp, 1)
			if len(pool) == 0 {
				t.Fatalf("%s: empty pool", w.Name)
			}
			keys := 0
			for _, p := range pool[0].parts {
				n, err := f.Frame(p.b)
				if err != nil || n != len(p.b) {
					t.Fatalf("%s: part %q is not one request (%d, %v)", w.Name, p.b, n, err)
				}
				keys += bytes.Count(p.b, []byte("bench:{"))
				if tp == nil && p.conn != 0 {
					t.Errorf("%s: proxy request on connection %d", w.Name, p.conn)
				}
			}
			if w.kind == kMget && keys != mgetKeys {
				t.Errorf("%s: %d keys over %d parts", w.Name, keys, len(pool[0].parts))
			}
		}
	}
}

func TestRenderTable(t *testing.T) {
	ts := []*target{{Name: "direct", kind: kindDirect}, {Name: "slotgate-l1", kind: kindSlotgate}, {Name: "predixy", kind: kindOther}}
	mk := func(rps, p50 float64) *targetResult {
		m := unmeasured()
		m.RPS, m.P50, m.P99, m.P999, m.Max = rps, p50, 2*p50, 3*p50, 4*p50
		m.CPUPerReq, m.AllocsPerReq, m.CmdsPerRead, m.GenCPUPerReq = 4.5, 0.001, 9.87, 3
		return &targetResult{Median: m}
	}
	c := &cell{Gen: genOwn, Workload: "GET 16B", Clients: 50, Pipeline: 1, Results: map[string]*targetResult{
		"direct": mk(100000, 400), "slotgate-l1": mk(80000, 512.4), "predixy": mk(50000, 7.25),
	}}
	var buf bytes.Buffer
	renderTable(&buf, []*cell{c}, ts)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 5 {
		t.Fatalf("got %d lines:\n%s", len(lines), buf.String())
	}
	for _, want := range []string{
		"| GET 16B | 50 | 1 | direct | 100000 | 1.00 | 400 | 800 | 1200 | 1600 |  |  | 9.87 | 3.00 | 0 |",
		"| | | | slotgate-l1 | 80000 | 0.80 | 512 | 1025 | 1537 | 2050 | 4.50 | 0.001 | 9.87 | 3.00 | 0 |",
		"| | | | predixy | 50000 | 0.50 | 7.2 | 14.5 | 21.8 | 29.0 |  |  |  | 3.00 | 0 |",
	} {
		if !strings.Contains(buf.String(), want+"\n") {
			t.Errorf("missing row %q in:\n%s", want, buf.String())
		}
	}
	for _, l := range lines {
		if n := strings.Count(l, "|"); n != 16 {
			t.Errorf("%d pipes in %q, want 16", n, l)
		}
	}
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{
		"-quick": "-quick", "A12345!": "'A12345!'", "a b": "'a b'", "it's": `'it'\''s'`, "": "''",
		"-target=predixy=127.0.0.1:7617": "-target=predixy=127.0.0.1:7617",
	} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %q, want %q", in, got, want)
		}
	}
}

// The read-back's judgement of one key: values and DELs, acknowledged or not.
func TestReadBackClassify(t *testing.T) {
	del := func(seq uint64) uint64 { return seq | delBit }
	for _, tc := range []struct {
		name    string
		k       foKey
		v       string // "" with present false: absent
		present bool
		want    string // which counter goes up
	}{
		{"last value", foKey{ack: 5}, "v5", true, "same"},
		{"last value with its fill", foKey{ack: 5}, string(foFill(nil, 5, 100)), true, "same"},
		{"a bad fill", foKey{ack: 5}, "v5:zzz", true, "unknown"},
		{"later unanswered SET", foKey{ack: 5, doubt: []uint64{7}}, "v7", true, "indoubt"},
		{"earlier unanswered SET applied late", foKey{ack: 5, doubt: []uint64{3}}, "v3", true, "stale"},
		{"older acknowledged value", foKey{ack: 5}, "v3", true, "older"},
		{"missing", foKey{ack: 5}, "", false, "missing"},
		{"acknowledged DEL", foKey{ack: del(5)}, "", false, "same"},
		{"DEL lost", foKey{ack: del(5)}, "v3", true, "older"},
		{"later unanswered DEL", foKey{ack: 5, doubt: []uint64{del(7)}}, "", false, "indoubt"},
		{"earlier unanswered DEL applied late", foKey{ack: 5, doubt: []uint64{del(3)}}, "", false, "stale"},
		{"an earlier and a later unanswered DEL", foKey{ack: 5, doubt: []uint64{del(3), del(7)}}, "", false, "indoubt"},
		{"never written", foKey{ack: 5}, "v9", true, "unknown"},
	} {
		var rb foReadback
		rb.classify(&tc.k, []byte(tc.v), tc.present)
		got := map[string]int64{"same": rb.Same, "indoubt": rb.InDoubt, "stale": rb.StaleDoubt, "older": rb.Older,
			"missing": rb.Missing, "unknown": rb.Unknown}
		for name, n := range got {
			if (name == tc.want) != (n == 1) || n > 1 {
				t.Errorf("%s: counts %v, want one %s", tc.name, got, tc.want)
				break
			}
		}
	}
}

func TestRenderFloorRatios(t *testing.T) {
	ts := []*target{{Name: "direct", kind: kindDirect}, {Name: "slotgate-l1", kind: kindSlotgate},
		{Name: floorName, kind: kindFloor}, {Name: floorTwinName, kind: kindFloor}}
	mk := func(p99 float64, rounds ...float64) *targetResult {
		r := &targetResult{}
		for _, rps := range rounds {
			m := unmeasured()
			m.RPS = rps
			r.Rounds = append(r.Rounds, m)
		}
		r.Median = medianMetrics(r.Rounds)
		r.Median.P99 = p99
		return r
	}
	c := &cell{Gen: genRB, Workload: "GET 16B", Clients: 50, Pipeline: 1, Results: map[string]*targetResult{
		"direct": mk(1000, 90, 90, 90), "slotgate-l1": mk(1100, 48, 50, 60),
		floorName: mk(1000, 50, 50, 50), floorTwinName: mk(900, 40, 55, 50),
	}}
	var buf bytes.Buffer
	renderFloorRatios(&buf, []*cell{c}, ts)
	for _, want := range []string{
		"| GET 16B | 50 | 1 | slotgate-l1 | 1.00 | 1.10 | 0.96 1.00 1.20 |",
		"| | | | floor-b | 1.00 | 0.90 | 0.80 1.10 1.00 |",
	} {
		if !strings.Contains(buf.String(), want+"\n") {
			t.Errorf("missing row %q in:\n%s", want, buf.String())
		}
	}
	if strings.Contains(buf.String(), "| direct |") || strings.Contains(buf.String(), "| floor |") {
		t.Errorf("direct or the floor itself listed:\n%s", buf.String())
	}
	buf.Reset()
	delete(c.Results, floorName)
	renderFloorRatios(&buf, []*cell{c}, ts)
	if buf.Len() != 0 {
		t.Errorf("written without a floor:\n%s", buf.String())
	}
}

// TestRenew: -fresh restarts exactly the proxies slotbench started (those with a start
// function), each once per round, and stops at the first that fails to start.
func TestRenew(t *testing.T) {
	starts := map[string]int{}
	starter := func(name string, err error) func() error {
		return func() error { starts[name]++; return err }
	}
	warmed := map[string]int{}
	b := &bench{targets: []*target{
		{Name: "direct"},
		{Name: "slotgate", start: starter("slotgate", nil)},
		{Name: "floor", start: starter("floor", nil)},
	}, warm: func(t *target) error { warmed[t.Name] += starts[t.Name]; return nil }}
	for range 2 {
		if err := b.renew(); err != nil {
			t.Fatal(err)
		}
	}
	if starts["slotgate"] != 2 || starts["floor"] != 2 || len(starts) != 2 {
		t.Fatalf("starts after two rounds: %v", starts)
	}
	// Each new process is warmed up once, after its start: 1 + 2.
	if warmed["slotgate"] != 3 || warmed["floor"] != 3 || len(warmed) != 2 {
		t.Fatalf("warm-ups after two rounds (sum of the start counts they followed): %v", warmed)
	}
	b.targets[1].start = starter("slotgate", errors.New("no port"))
	if err := b.renew(); err == nil || starts["floor"] != 2 {
		t.Fatalf("renew after a failed start: %v, floor started %d times", err, starts["floor"])
	}
}

// scrapeMallocs reads /debug/mallocs where the admin port has it, and the /metrics sample of a
// build without it.
func TestScrapeMallocs(t *testing.T) {
	both := http.NewServeMux()
	both.HandleFunc("/debug/mallocs", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "42") })
	both.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "go_memstats_mallocs_total 7\n") })
	old := http.NewServeMux()
	old.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "go_memstats_mallocs_total 7\n") })
	for _, c := range []struct {
		mux  *http.ServeMux
		want float64
	}{{both, 42}, {old, 7}} {
		srv := httptest.NewServer(c.mux)
		v, ok := scrapeMallocs(strings.TrimPrefix(srv.URL, "http://"))
		srv.Close()
		if !ok || v != c.want {
			t.Errorf("scrapeMallocs = %v %v, want %v", v, ok, c.want)
		}
	}
}
