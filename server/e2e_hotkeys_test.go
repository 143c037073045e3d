package server_test

import (
	"bytes"
	"context"
	"math/rand"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/slotgate/slotgate/server"
)

// TestE2EHotKeys: of 1,000,000 GETs through slotgate (2 event loops, 4 pipelining clients,
// default sampling of 1 in 100), one key gets 1 % and the rest is spread over 100,000 keys: that
// key is first in INFO hotkeys, with its master, and on /metrics as rank 1 of at most 10 series.
func TestE2EHotKeys(t *testing.T) {
	const total, spread, conns = 1_000_000, 100_000, 4
	p := startProxy(t, cluster, func(c *server.Config) { c.Loops = 2 })
	run := runID()
	hot := "hk:" + run + ":hot"
	rngs := make([]*rand.Rand, conns)
	for c := range rngs {
		rngs[c] = rand.New(rand.NewSource(int64(c) + 1))
	}
	start := time.Now()
	n, err := pipeLoad(p.Addr, conns, total, 1000, func(c, i int) string {
		if i%100 == 0 {
			return hot
		}
		return "hk:" + run + ":" + strconv.Itoa(rngs[c].Intn(spread))
	}, nil)
	if err != nil || n != total {
		t.Fatalf("load: %d requests answered, %v", n, err)
	}
	t.Logf("%d requests in %v", n, time.Since(start).Round(time.Millisecond))

	cl := p.client(t, nil)
	master := masterOf(t, hot).Addr
	var info string
	deadline := time.Now().Add(5 * time.Second) // the loops publish once a second
	for {
		info, err = cl.Info(context.Background(), "hotkeys").Result()
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(info, "hotkey1:key="+hot+",") || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("INFO hotkeys:\n%s", info)
	first := regexp.MustCompile(`hotkey1:key=([^,]*),ops_per_sec=([0-9.]+),shard=(\S*)`).FindStringSubmatch(info)
	if first == nil || first[1] != hot || first[3] != master {
		t.Fatalf("hotkey1 = %q, want %s on %s", first, hot, master)
	}
	if ops, _ := strconv.ParseFloat(first[2], 64); ops <= 0 {
		t.Errorf("hot key at %s ops/s", first[2])
	}
	if !strings.Contains(info, "hotkeys_sampling:100\r\n") {
		t.Errorf("INFO hotkeys does not give the sampling rate")
	}
	if def, err := cl.Info(context.Background()).Result(); err != nil || strings.Contains(def, "# Hotkeys") {
		t.Errorf("the default INFO shows the Hotkeys section (%v)", err)
	}

	var buf bytes.Buffer
	metrics.WritePrometheus(&buf, false)
	series := regexp.MustCompile(`(?m)^slotgate_hotkey_ops\{rank="(\d+)",key="([^"]*)",shard="([^"]*)"\} `).FindAllStringSubmatch(buf.String(), -1)
	if len(series) == 0 || len(series) > 10 || series[0][1] != "1" || series[0][2] != hot || series[0][3] != master {
		t.Errorf("/metrics hot keys: %q", series)
	}
}

// TestE2EHotKeyEscaping: a key with bytes that would break INFO's fields or a Prometheus label
// (quotes, commas, newlines, binary) and a 1 KB key are shown escaped and truncated.
func TestE2EHotKeyEscaping(t *testing.T) {
	p := startProxy(t, cluster, func(c *server.Config) { c.HotKeySample = 1 })
	run := runID()
	odd := "hk:" + run + "\",=\r\n\x00\xff\\"
	long := "hk:" + run + ":" + strings.Repeat("x", 1000)
	conn, err := net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var req []byte
	for range 50 {
		req = append(req, respCmd("GET", odd)+respCmd("GET", long)...)
	}
	if _, err := conn.Write(req); err != nil {
		t.Fatal(err)
	}
	readFrames(t, conn, 100)
	time.Sleep(1200 * time.Millisecond)
	keys := p.Srv.HotKeys(10)
	deadline := time.Now().Add(3 * time.Second)
	for len(keys) < 2 && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		keys = p.Srv.HotKeys(10)
	}
	want := map[string]bool{
		"hk:" + run + `\x22\x2c\x3d\x0d\x0a\x00\xff\x5c`:                                                 true,
		"hk:" + run + ":" + strings.Repeat("x", 64-len(run)-4) + "...(" + strconv.Itoa(len(long)) + "B)": true,
	}
	for _, k := range keys {
		delete(want, k.Key)
	}
	if len(want) > 0 {
		t.Errorf("hot keys %+v, missing %v", keys, want)
	}
}
