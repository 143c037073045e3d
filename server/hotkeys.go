package server

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"
)

// Hot keys. Each event loop samples about 1 in Config.HotKeySample keyed single-slot requests
// (the gap between samples is random, so a client's fixed pattern cannot hide a key) into a
// count-min sketch of its own (conservative update, xxhash of the key), with the keys that
// estimate highest kept beside it in a fixed table: a key's bytes are copied into a fixed slot
// only when it enters that table. Nothing is allocated and nothing is shared on the request
// path: a request that is not sampled costs one decrement.
//
// Counts decay (time constant hotTau), so rates follow the recent traffic. Once a second, on
// the loop's tick, the loop publishes its top keys and per-master sample rates as an immutable
// snapshot through an atomic pointer; readers (INFO hotkeys, /metrics, the status page) merge
// the loops' snapshots by key hash. No reader ever touches a loop's sketch.

const (
	// DefaultHotKeySample is Config.HotKeySample's default: 1 in 100 keyed requests sampled.
	DefaultHotKeySample = 100

	hotDepth    = 4    // sketch rows (hashes: 16-bit slices of one xxhash)
	hotWidth    = 1024 // counters per row, a power of two
	hotTop      = 32   // keys tracked per loop
	hotKeyBytes = 64   // bytes of a key kept; longer keys are shown truncated
	hotShards   = 256  // masters counted per loop; more are not counted
	hotPublish  = time.Second
	hotTau      = 10 * time.Second // counts decay by 1/e in this time
	hotMinCount = 1                // decayed samples a key needs to be reported
)

// hotSketch is one loop's sampler. Owned by the loop's goroutine, except pub.
type hotSketch struct {
	every  int32  // sample 1 in every requests on average; 0: off
	left   int32  // requests until the next sample
	rng    uint64 // xorshift state for the gaps
	rows   [hotDepth][hotWidth]float32
	top    [hotTop]hotSlot
	n      int        // used entries of top
	shards []hotShard // samples per master
	weight float64    // seconds the decayed counts cover
	last   time.Time  // last publish

	pub atomic.Pointer[hotSnapshot]
}

type hotSlot struct {
	hash  uint64
	count float32 // decayed samples, the sketch's estimate when last seen
	klen  int32   // the key's full length
	shard string  // the master of the key's slot when last sampled
	key   [hotKeyBytes]byte
}

type hotShard struct {
	addr  string
	count float32
}

// hotSnapshot is what a loop publishes: rates in requests per second (samples scaled by the
// sampling rate).
type hotSnapshot struct {
	keys   []hotKeyRate
	shards map[string]float64
}

type hotKeyRate struct {
	hash  uint64
	rate  float64
	klen  int32
	shard string
	key   [hotKeyBytes]byte
}

func (h *hotSketch) init(every int, seed uint64) {
	if every <= 0 {
		return
	}
	h.every = int32(min(every, 1<<20))
	h.rng = seed | 1
	h.left = h.gap()
	h.last = time.Now() // the rates' time starts with the first sample's loop
}

// gap draws the requests until the next sample: uniform in [1, 2*every-1], every on average.
func (h *hotSketch) gap() int32 {
	h.rng ^= h.rng << 13
	h.rng ^= h.rng >> 7
	h.rng ^= h.rng << 17
	return 1 + int32(h.rng%uint64(2*h.every-1))
}

// record counts one sampled request for key, routed to master shard.
func (h *hotSketch) record(key []byte, shard string) {
	h.left = h.gap()
	x := xxhash.Sum64(key)
	var idx [hotDepth]uint32
	least := float32(math.MaxFloat32)
	for i := range hotDepth {
		idx[i] = uint32(x>>(16*i)) & (hotWidth - 1)
		least = min(least, h.rows[i][idx[i]])
	}
	est := least + 1
	for i := range hotDepth { // conservative update: only the rows at the minimum rise
		if h.rows[i][idx[i]] < est {
			h.rows[i][idx[i]] = est
		}
	}
	h.countShard(shard)

	lo := 0
	for i := 0; i < h.n; i++ {
		if h.top[i].hash == x {
			h.top[i].count, h.top[i].shard = est, shard
			return
		}
		if h.top[i].count < h.top[lo].count {
			lo = i
		}
	}
	if h.n < hotTop {
		lo = h.n
		h.n++
	} else if est <= h.top[lo].count {
		return
	}
	e := &h.top[lo]
	e.hash, e.count, e.shard, e.klen = x, est, shard, int32(len(key))
	copy(e.key[:], key)
}

func (h *hotSketch) countShard(addr string) {
	if addr == "" {
		return
	}
	for i := range h.shards {
		if h.shards[i].addr == addr {
			h.shards[i].count++
			return
		}
	}
	if len(h.shards) < hotShards {
		h.shards = append(h.shards, hotShard{addr: addr, count: 1}) // once per master
	}
}

// tick publishes a snapshot and decays the counts, once a second. Runs on the loop.
func (h *hotSketch) tick(now time.Time) {
	if h.every == 0 {
		return
	}
	dt := now.Sub(h.last)
	if dt < hotPublish {
		return
	}
	h.last = now
	h.weight += dt.Seconds()
	scale := float64(h.every) / h.weight
	snap := &hotSnapshot{keys: make([]hotKeyRate, 0, h.n), shards: make(map[string]float64, len(h.shards))}
	for i := 0; i < h.n; i++ {
		if e := &h.top[i]; e.count >= hotMinCount {
			snap.keys = append(snap.keys, hotKeyRate{hash: e.hash, rate: float64(e.count) * scale, klen: e.klen, shard: e.shard, key: e.key})
		}
	}
	for _, s := range h.shards {
		snap.shards[s.addr] = float64(s.count) * scale
	}
	h.pub.Store(snap)

	d := float32(math.Exp(-dt.Seconds() / hotTau.Seconds()))
	h.weight *= float64(d)
	for i := range h.rows {
		for j := range h.rows[i] {
			h.rows[i][j] *= d
		}
	}
	kept := 0
	for i := 0; i < h.n; i++ {
		h.top[i].count *= d
		if h.top[i].count >= 0.01 { // a key not seen for about a minute leaves the table
			h.top[kept] = h.top[i]
			kept++
		}
	}
	h.n = kept
	keptShards := h.shards[:0]
	for _, s := range h.shards {
		if s.count *= d; s.count >= 0.01 {
			keptShards = append(keptShards, s)
		}
	}
	h.shards = keptShards
}

// HotKey is one of the most requested keys, merged over the loops.
type HotKey struct {
	Key       string  `json:"key"` // printable: other bytes as \xHH, truncated past 64 bytes (escapeKey)
	OpsPerSec float64 `json:"ops_per_sec"`
	Shard     string  `json:"shard"` // the master of the key's slot
}

// HotKeys returns the n keys with the highest sampled request rates, highest first (none when
// sampling is off or no loop published yet).
func (srv *Server) HotKeys(n int) []HotKey {
	byHash := map[uint64]*hotKeyRate{}
	var all []*hotKeyRate
	for _, snap := range srv.hotSnapshots() {
		for i := range snap.keys {
			k := &snap.keys[i]
			if m := byHash[k.hash]; m != nil {
				m.rate += k.rate
				continue
			}
			c := *k
			byHash[k.hash] = &c
			all = append(all, &c)
		}
	}
	slices.SortFunc(all, func(a, b *hotKeyRate) int {
		return cmp.Or(cmp.Compare(b.rate, a.rate), cmp.Compare(a.hash, b.hash))
	})
	n = max(0, min(n, len(all)))
	out := make([]HotKey, 0, n)
	for _, k := range all[:n] {
		kept := min(int(k.klen), hotKeyBytes)
		out = append(out, HotKey{Key: escapeKey(k.key[:kept], int(k.klen)), OpsPerSec: k.rate, Shard: k.shard})
	}
	return out
}

// sampledShardRates estimates each master's keyed requests per second from the samples.
func (srv *Server) sampledShardRates() map[string]float64 {
	out := map[string]float64{}
	for _, snap := range srv.hotSnapshots() {
		for a, r := range snap.shards {
			out[a] += r
		}
	}
	return out
}

func (srv *Server) hotSnapshots() []*hotSnapshot {
	var out []*hotSnapshot
	for _, lp := range srv.loopList() {
		if snap := lp.hot.pub.Load(); snap != nil {
			out = append(out, snap)
		}
	}
	return out
}

// escapeKey makes a key safe to show in INFO fields, Prometheus labels and HTML: printable
// ASCII stays, except the separators \ " , = which, like every other byte, become \xHH; a
// truncated key ends with its full length.
func escapeKey(b []byte, full int) string {
	var sb strings.Builder
	for _, c := range b {
		if c > ' ' && c < 0x7f && c != '\\' && c != '"' && c != ',' && c != '=' {
			sb.WriteByte(c)
			continue
		}
		fmt.Fprintf(&sb, `\x%02x`, c)
	}
	if full > len(b) {
		sb.WriteString("...(" + strconv.Itoa(full) + "B)")
	}
	return sb.String()
}

// hotKeysInfo is INFO's Hotkeys section (asked by name, or with all/everything).
func (srv *Server) hotKeysInfo() *infoSection {
	sec := &infoSection{name: "Hotkeys", values: map[string]string{}}
	add := func(k, v string) {
		sec.keys = append(sec.keys, k)
		sec.values[k] = v
	}
	add("hotkeys_sampling", strconv.Itoa(srv.hotSample())) // 1 in this many keyed requests; 0: off
	add("hotkeys_decay_seconds", strconv.Itoa(int(hotTau/time.Second)))
	for i, k := range srv.HotKeys(infoHotKeys) {
		add("hotkey"+strconv.Itoa(i+1), "key="+k.Key+",ops_per_sec="+strconv.FormatFloat(k.OpsPerSec, 'f', 1, 64)+",shard="+k.Shard)
	}
	return sec
}

const (
	infoHotKeys    = 20 // keys in INFO hotkeys
	metricsHotKeys = 10 // keys on /metrics: a bounded label set
)

func (srv *Server) hotSample() int {
	if srv.cfg.HotKeySample < 0 {
		return 0
	}
	return srv.cfg.HotKeySample
}

// writeHotKeyMetrics writes the top keys to /metrics, at most metricsHotKeys series: a rank
// label keeps the set bounded whatever the keys are.
func (srv *Server) writeHotKeyMetrics(w io.Writer) {
	keys := srv.HotKeys(metricsHotKeys)
	if len(keys) == 0 {
		return
	}
	fmt.Fprintf(w, "# HELP slotgate_hotkey_ops Sampled requests per second of the most requested keys (1 in %d keyed requests sampled).\n", srv.hotSample())
	fmt.Fprintf(w, "# TYPE slotgate_hotkey_ops gauge\n")
	for i, k := range keys {
		fmt.Fprintf(w, "slotgate_hotkey_ops{rank=\"%d\",key=\"%s\",shard=\"%s\"} %g\n", i+1, k.Key, promEscape(k.Shard), k.OpsPerSec)
	}
}

// promEscape escapes a Prometheus label value.
func promEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s)
}
