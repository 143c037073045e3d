package server_test

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// benchmarkTests is redis-benchmark's default test list, as its -q output names them.
var benchmarkTests = []string{
	"PING_INLINE", "PING_MBULK", "SET", "GET", "INCR", "LPUSH", "RPUSH", "LPOP", "RPOP", "SADD",
	"HSET", "SPOP", "ZADD", "ZPOPMIN", "LPUSH (needed to benchmark LRANGE)",
	"LRANGE_100 (first 100 elements)", "LRANGE_300 (first 300 elements)",
	"LRANGE_500 (first 500 elements)", "LRANGE_600 (first 600 elements)", "MSET (10 keys)",
}

// TestE2ERedisBenchmark runs redis-benchmark's default test list through the slotgate binary:
// plain, with random keys (-r, so MSET spans slots) and pipelined (-P 16). Every test must report
// its requests per second and no line may carry an error. Throughput is logged, never asserted.
func TestE2ERedisBenchmark(t *testing.T) {
	bench, err := exec.LookPath("redis-benchmark")
	if err != nil {
		t.Skip("redis-benchmark is not on PATH")
	}
	pp := startProxyProcess(t, cluster)
	host, port, ok := strings.Cut(pp.Addr, ":")
	if !ok {
		t.Fatalf("bad address %q", pp.Addr)
	}
	for _, extra := range [][]string{nil, {"-r", "100000"}, {"-P", "16"}} {
		args := append([]string{"-h", host, "-p", port, "-q", "-n", "20000"}, extra...)
		name := "redis-benchmark " + strings.Join(args, " ")
		ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
		t0 := time.Now()
		out, err := exec.CommandContext(ctx, bench, args...).CombinedOutput()
		cancel()
		elapsed := time.Since(t0)
		lines := benchmarkLines(string(out))
		t.Logf("%s (%v):\n%s", name, elapsed.Round(time.Millisecond), strings.Join(lines, "\n"))
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
		checkBenchmarkOutput(t, name, string(out))
	}
}

// benchmarkLines keeps the final line of each test: redis-benchmark overwrites its progress with
// \r, so a progress line is followed by \r and the final one by \n.
func benchmarkLines(out string) []string {
	var keep []string
	for _, l := range strings.Split(out, "\n") {
		parts := strings.Split(l, "\r")
		if last := strings.TrimSpace(parts[len(parts)-1]); last != "" {
			keep = append(keep, last)
		}
	}
	return keep
}

func checkBenchmarkOutput(t *testing.T, name, out string) {
	t.Helper()
	var lines []string
	for _, l := range strings.FieldsFunc(out, func(r rune) bool { return r == '\r' || r == '\n' }) {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	for _, l := range lines {
		if strings.Contains(l, "ERR") || strings.Contains(l, "error") {
			t.Errorf("%s: error in output: %q", name, l)
		}
	}
	for _, test := range benchmarkTests {
		found := false
		for _, l := range lines {
			if strings.HasPrefix(l, test+": ") && strings.Contains(l, "requests per second") {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("%s: no \"requests per second\" line for %s", name, test)
		}
	}
}
