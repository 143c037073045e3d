package router

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/panjf2000/gnet/v2"
	"github.com/slotgate/slotgate/codec"
	"github.com/slotgate/slotgate/internal/loopcount"
)

// Backend statistics: per node, request latency from the write of a shard connection's buffer to
// the read that framed the reply, error replies, redirects and bytes; per command family, the same
// latency. Counters are per loop (each loop has its own nodeStats for a node and its own family
// histograms), added to by their loop's goroutine without locked instructions, published at the
// loop's tick or when a reader asks (SyncStats: internal/loopcount), and summed over the loops at
// scrape time (WriteMetrics, NodeStats). The clock is read once per backend write and once per
// backend read, never per request.

// nanotime reads the monotonic clock: ns since a moment before the package started (never 0, the
// "not written" of pending.sent). Measured here at about 65 ns, as time.Now (runtime.nanotime
// through go:linkname cost the same on this VM's clock source).
func nanotime() int64 { return int64(time.Since(clockBase)) }

var clockBase = time.Now().Add(-time.Second)

// LatencyBounds are the upper bounds of the latency histograms' buckets; a last bucket (+Inf)
// holds the rest.
var LatencyBounds = [...]time.Duration{
	10 * time.Microsecond, 20 * time.Microsecond, 50 * time.Microsecond,
	100 * time.Microsecond, 200 * time.Microsecond, 500 * time.Microsecond,
	time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond,
	10 * time.Millisecond, 20 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 200 * time.Millisecond, 500 * time.Millisecond,
	time.Second, 2 * time.Second, 5 * time.Second, 10 * time.Second,
}

// NumBuckets is the number of histogram buckets: one per bound and +Inf.
const NumBuckets = len(LatencyBounds) + 1

// hist is a latency histogram written by one loop.
type hist struct {
	b   [NumBuckets]loopcount.Counter
	sum loopcount.Counter // ns
}

func (h *hist) observe(ns int64) {
	ns = max(ns, 0)
	i := 0
	for i < len(LatencyBounds) && ns > int64(LatencyBounds[i]) {
		i++
	}
	h.b[i].Add(1)
	h.sum.Add(uint64(ns))
}

func (h *hist) publish() {
	for i := range h.b {
		h.b[i].Publish()
	}
	h.sum.Publish()
}

// Histogram is a latency histogram read at one moment: per-bucket counts (not cumulative).
type Histogram struct {
	Buckets [NumBuckets]uint64
	Sum     time.Duration
}

func (h *Histogram) add(src *hist) {
	for i := range h.Buckets {
		h.Buckets[i] += src.b[i].Load()
	}
	h.Sum += time.Duration(src.sum.Load())
}

// Count is the number of observations.
func (h *Histogram) Count() uint64 {
	var n uint64
	for _, c := range h.Buckets {
		n += c
	}
	return n
}

// Sub returns h minus an earlier reading of the same histogram.
func (h Histogram) Sub(old Histogram) Histogram {
	for i := range h.Buckets {
		h.Buckets[i] -= old.Buckets[i]
	}
	h.Sum -= old.Sum
	return h
}

// Merge adds o's counts to h.
func (h *Histogram) Merge(o Histogram) {
	for i := range h.Buckets {
		h.Buckets[i] += o.Buckets[i]
	}
	h.Sum += o.Sum
}

// Quantile estimates the q-quantile (0 < q <= 1), interpolating inside its bucket; 0 with no
// observations. One past the last bound reads as that bound.
func (h *Histogram) Quantile(q float64) time.Duration {
	n := h.Count()
	if n == 0 {
		return 0
	}
	rank := q * float64(n)
	var seen float64
	for i, c := range h.Buckets {
		if c == 0 || seen+float64(c) < rank {
			seen += float64(c)
			continue
		}
		if i == len(LatencyBounds) {
			return LatencyBounds[i-1]
		}
		lo := time.Duration(0)
		if i > 0 {
			lo = LatencyBounds[i-1]
		}
		return lo + time.Duration(float64(LatencyBounds[i]-lo)*(rank-seen)/float64(c))
	}
	return LatencyBounds[len(LatencyBounds)-1]
}

// Family is a command family, from the command table's ACL categories: the label of the
// per-family latency histograms.
type Family uint8

// Families, by the first ACL category of a command that names one (data types first).
const (
	FamilyServer Family = iota // anything else (@admin, @dangerous, ...)
	FamilyString
	FamilyHash
	FamilyList
	FamilySet
	FamilySortedSet
	FamilyStream
	FamilyBitmap
	FamilyHyperLogLog
	FamilyGeo
	FamilyKeyspace
	FamilyScripting
	FamilyPubsub
	FamilyTransaction
	FamilyConnection
	FamilyLearnt // a command learnt from the masters (a module's, a newer Redis's)
	NumFamilies
)

// familyNames are the label values, by Family.
var familyNames = [NumFamilies]string{
	"server", "string", "hash", "list", "set", "sortedset", "stream", "bitmap", "hyperloglog",
	"geo", "keyspace", "scripting", "pubsub", "transaction", "connection", "learnt",
}

// String is the family's label value.
func (f Family) String() string { return familyNames[f] }

// familyOf is each table command's family, by ID.
var familyOf = func() (t [len(codec.AllCommands)]Family) {
	order := []string{"@string", "@hash", "@list", "@set", "@sortedset", "@stream", "@bitmap",
		"@hyperloglog", "@geo", "@keyspace", "@scripting", "@pubsub", "@transaction", "@connection"}
	for i, c := range codec.AllCommands {
		for f, cat := range order {
			if slices.Contains(c.ACLCategories, cat) {
				t[i] = Family(f + 1)
				break
			}
		}
	}
	return t
}()

// FamilyOf returns a command's family.
func FamilyOf(cmd *codec.Command) Family {
	if cmd.ID >= 0 && cmd.ID < len(familyOf) {
		return familyOf[cmd.ID]
	}
	return FamilyLearnt
}

// WithFamily returns k carrying family f: the reply's latency is counted in f's histogram.
func WithFamily(k Kind, f Family) Kind { return k&^familyMask | Kind(f)<<familyShift }

const (
	familyShift      = 16
	familyMask  Kind = 0xff << familyShift
)

// nodeStats counts one loop's traffic with one node (every connection of the loop to it).
type nodeStats struct {
	addr      string
	lat       hist              // replies (to client requests) by latency; their count is the node's request count
	errors    loopcount.Counter // error replies, redirects included
	redirects loopcount.Counter // MOVED, ASK, TRYAGAIN
	bytesIn   loopcount.Counter // reply bytes read
	bytesOut  loopcount.Counter // request bytes written
}

func (ns *nodeStats) publish() {
	ns.lat.publish()
	ns.errors.Publish()
	ns.redirects.Publish()
	ns.bytesIn.Publish()
	ns.bytesOut.Publish()
}

// loopStats is one loop's share of the router's statistics.
type loopStats struct {
	fam      [NumFamilies]hist
	bufBytes atomic.Int64          // request and held reply buffers of the loop's connections, at its last tick
	nodes    map[string]*nodeStats // by address; loop-owned (the router's list is what scrapes read)
}

// statsFor returns the loop's counters for addr, created on first use.
func (l *Loop) statsFor(addr string) *nodeStats {
	if ns := l.stats.nodes[addr]; ns != nil {
		return ns
	}
	ns := &nodeStats{addr: addr}
	if l.stats.nodes == nil {
		l.stats.nodes = map[string]*nodeStats{}
	}
	l.stats.nodes[addr] = ns
	r := l.router
	r.statsMu.Lock()
	r.nodeStats = append(r.nodeStats, ns)
	r.statsMu.Unlock()
	return ns
}

// NodeStats is what one node did for slotgate since start, summed over the loops.
type NodeStats struct {
	Latency   Histogram // replies by time from the write of the request to the read of the reply
	Errors    uint64    // error replies (redirects included)
	Redirects uint64    // MOVED, ASK and TRYAGAIN replies
	BytesIn   uint64    // reply bytes read from it
	BytesOut  uint64    // request bytes written to it
}

// Requests is the number of replies the node sent to client requests (blocking commands aside).
func (n NodeStats) Requests() uint64 { return n.Latency.Count() }

// publishStats makes the loop's counters visible to other goroutines (on the loop: each tick, and
// when SyncStats asks).
func (l *Loop) publishStats() {
	for _, ns := range l.stats.nodes {
		ns.publish()
	}
	for f := range l.stats.fam {
		l.stats.fam[f].publish()
	}
	l.peeked.Publish()
	l.copied.Publish()
	l.moved.Publish()
}

// SyncStats has every loop publish its counters now and waits for them (loopcount.Sync), so
// that the readers below see every reply counted so far. Any goroutine but a loop's.
func (r *Router) SyncStats() {
	loopcount.Sync(r.loopList(), (*Loop).eventLoop, (*Loop).publishStats)
}

func (l *Loop) eventLoop() gnet.EventLoop { return l.el }

// NodeStats returns every node's statistics by address, as of each loop's last publish (its
// last tick, or SyncStats). Any goroutine.
func (r *Router) NodeStats() map[string]NodeStats {
	m := map[string]NodeStats{}
	r.addNodeStats(m)
	return m
}

// addNodeStats adds the router's per-loop node counters to m, by address.
func (r *Router) addNodeStats(m map[string]NodeStats) {
	r.statsMu.Lock()
	nodes := slices.Clone(r.nodeStats)
	r.statsMu.Unlock()
	for _, ns := range nodes {
		s := m[ns.addr]
		s.Latency.add(&ns.lat)
		s.Errors += ns.errors.Load()
		s.Redirects += ns.redirects.Load()
		s.BytesIn += ns.bytesIn.Load()
		s.BytesOut += ns.bytesOut.Load()
		m[ns.addr] = s
	}
}

// FamilyLatency returns the latency histogram of each command family, summed over the loops (as
// of their last publish).
func (r *Router) FamilyLatency() [NumFamilies]Histogram {
	var out [NumFamilies]Histogram
	r.addFamilyLatency(&out)
	return out
}

// addFamilyLatency adds the loops' per-family histograms to out.
func (r *Router) addFamilyLatency(out *[NumFamilies]Histogram) {
	for _, l := range r.loopList() {
		for f := range out {
			out[f].add(&l.stats.fam[f])
		}
	}
}

// BufferBytes is the memory of the loops' backend buffers (requests kept until answered, large
// replies still arriving), as of each loop's last tick.
func (r *Router) BufferBytes() int64 {
	var n int64
	for _, l := range r.loopList() {
		n += l.stats.bufBytes.Load()
	}
	return n
}

func (r *Router) loopList() []*Loop {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.loops)
}

// measureBuffers publishes the capacity of the loop's backend buffers (on the loop, each tick).
func (l *Loop) measureBuffers() {
	var n int
	add := func(sc *ShardConn) { n += cap(sc.buf) + cap(sc.held) }
	for _, sc := range l.conns {
		add(sc)
	}
	for _, sc := range l.pinned {
		add(sc)
	}
	for _, sc := range l.draining {
		add(sc)
	}
	l.stats.bufBytes.Store(int64(n))
}

// routers lists every router of the process, for /metrics.
var routers struct {
	mu   sync.Mutex
	list []*Router
}

func init() { metrics.RegisterMetricsWriter(writeMetrics) }

// WriteMetrics writes the routers' per-node and per-family metrics in Prometheus text format
// (summed over every router of the process, as the package's other counters are).
func writeMetrics(w io.Writer) {
	routers.mu.Lock()
	rs := slices.Clone(routers.list)
	routers.mu.Unlock()
	nodes := map[string]NodeStats{}
	var fams [NumFamilies]Histogram
	var buf int64
	for _, r := range rs {
		r.SyncStats()
		r.addNodeStats(nodes)
		r.addFamilyLatency(&fams)
		buf += r.BufferBytes()
	}
	addrs := make([]string, 0, len(nodes))
	for a := range nodes {
		addrs = append(addrs, a)
	}
	sort.Strings(addrs)

	const nodeLat = "slotgate_node_request_duration_seconds"
	metrics.WriteMetadataIfNeeded(w, nodeLat, "histogram")
	for _, a := range addrs {
		s := nodes[a]
		WriteHistogram(w, nodeLat, `node="`+a+`"`, &s.Latency)
	}
	const famLat = "slotgate_request_duration_seconds"
	metrics.WriteMetadataIfNeeded(w, famLat, "histogram")
	for f := range fams {
		if fams[f].Count() > 0 {
			WriteHistogram(w, famLat, `family="`+Family(f).String()+`"`, &fams[f])
		}
	}
	for _, c := range []struct {
		name string
		get  func(*NodeStats) uint64
	}{
		{"slotgate_node_errors_total", func(s *NodeStats) uint64 { return s.Errors }},
		{"slotgate_node_redirects_total", func(s *NodeStats) uint64 { return s.Redirects }},
		{"slotgate_backend_bytes_received_total", func(s *NodeStats) uint64 { return s.BytesIn }},
		{"slotgate_backend_bytes_sent_total", func(s *NodeStats) uint64 { return s.BytesOut }},
	} {
		metrics.WriteMetadataIfNeeded(w, c.name, "counter")
		for _, a := range addrs {
			s := nodes[a]
			fmt.Fprintf(w, "%s{node=%q} %d\n", c.name, a, c.get(&s))
		}
	}
	metrics.WriteGaugeUint64(w, "slotgate_backend_buffer_bytes", uint64(max(buf, 0)))
}

// WriteHistogram writes h as a Prometheus histogram (le buckets in seconds, _sum, _count) with
// the labels (`a="b"`, may be empty).
func WriteHistogram(w io.Writer, name, labels string, h *Histogram) {
	sep := ""
	if labels != "" {
		sep = ","
	}
	var cum uint64
	for i, c := range h.Buckets {
		cum += c
		le := "+Inf"
		if i < len(LatencyBounds) {
			le = strconv.FormatFloat(LatencyBounds[i].Seconds(), 'g', -1, 64)
		}
		fmt.Fprintf(w, "%s_bucket{%s%sle=%q} %d\n", name, labels, sep, le, cum)
	}
	if labels != "" {
		labels = "{" + labels + "}"
	}
	fmt.Fprintf(w, "%s_sum%s %g\n", name, labels, h.Sum.Seconds())
	fmt.Fprintf(w, "%s_count%s %d\n", name, labels, cum)
}
