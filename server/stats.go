package server

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/panjf2000/gnet/v2"
	"github.com/slotgate/slotgate/codec"
	"github.com/slotgate/slotgate/internal/loopcount"
	"github.com/slotgate/slotgate/router"
)

// Per-command and client-side statistics. Each loop counts its own requests and errors per
// command and its client bytes without locked instructions (internal/loopcount: published at the
// loop's tick, or when a reader asks with SyncStats); a scrape sums them over the loops
// (writeMetrics). Backend latency, bytes and errors per node
// and latency per command family are the router's (router/stats.go).

// Command indexes of loopStats.cmds: a table command's ID, then one index for every learnt
// command and one for unknown commands (a bounded label set whatever clients send).
const (
	learntIdx         = uint16(codec.LearntID)
	unknownIdx        = uint16(codec.LearntID + 1)
	numCmdIdx         = codec.LearntID + 2
	noCmd      uint16 = 0xffff // no request being dispatched
)

// cmdIdx is the index of a command's counters.
func cmdIdx(cmd *codec.Command) uint16 {
	if cmd == nil {
		return unknownIdx
	}
	if cmd.ID >= 0 && cmd.ID < codec.LearntID {
		return uint16(cmd.ID)
	}
	return learntIdx
}

// cmdLabel is the cmd label of a command index: the table's name ("config|get" for a
// subcommand), "learnt" or "unknown".
func cmdLabel(i int) string {
	switch i {
	case int(learntIdx):
		return "learnt"
	case int(unknownIdx):
		return "unknown"
	}
	return codec.AllCommands[i].Name
}

// loopStats is one loop's counters.
type loopStats struct {
	cmds     [numCmdIdx]struct{ req, err loopcount.Counter }
	bytesIn  loopcount.Counter // client request bytes parsed
	bytesOut loopcount.Counter // reply bytes written to clients
}

// publishStats makes the loop's counters visible to other goroutines (on the loop: each tick,
// and when SyncStats asks).
func (lp *loop) publishStats() {
	for i := range lp.stats.cmds {
		lp.stats.cmds[i].req.Publish()
		lp.stats.cmds[i].err.Publish()
	}
	lp.stats.bytesIn.Publish()
	lp.stats.bytesOut.Publish()
	lp.peeked.Publish()
	lp.copied.Publish()
	lp.moved.Publish()
}

// SyncStats has every loop (the server's and its router's) publish its counters now and waits
// for them, so that the readers (CommandCounts, ClientBytes, Snapshot, the router's NodeStats)
// see every request counted so far. Any goroutine but a loop's.
func (srv *Server) SyncStats() {
	srv.syncLoops()
	srv.rt.SyncStats()
}

// syncLoops is SyncStats for the server's loops only.
func (srv *Server) syncLoops() { srv.onLoops((*loop).publishStats) }

// onLoops runs f on each of the server's loops, on that loop's goroutine, and waits for them
// (loopcount.Sync: at most loopcount.SyncWait); it reports whether every one ran.
func (srv *Server) onLoops(f func(*loop)) bool {
	return loopcount.Sync(srv.loopList(), func(lp *loop) gnet.EventLoop { return lp.el }, f)
}

// countRequest counts the request just dispatched (not one deferred: it is dispatched again).
func (s *session) countRequest() {
	if s.cmdIdx != noCmd {
		s.lp.stats.cmds[s.cmdIdx].req.Add(1)
		s.cmdIdx = noCmd
	}
}

// countReply counts an error reply to a request of command index i.
func (lp *loop) countReply(i uint16, reply []byte) {
	if i != noCmd && len(reply) > 0 && (reply[0] == '-' || reply[0] == '!') {
		lp.stats.cmds[i].err.Add(1)
	}
}

// commandCounts is requests and error replies per command index.
type commandCounts [numCmdIdx][2]uint64

// addCommands adds the server's loops' per-command counters to c (as of their last publish).
func (srv *Server) addCommands(c *commandCounts) {
	for _, lp := range srv.loopList() {
		for i := range c {
			c[i][0] += lp.stats.cmds[i].req.Load()
			c[i][1] += lp.stats.cmds[i].err.Load()
		}
	}
}

// CommandCounts returns requests and error replies per command label since start, summed over
// the server's loops as of their last publish (commands never used are left out).
func (srv *Server) CommandCounts() map[string][2]uint64 {
	var c commandCounts
	srv.addCommands(&c)
	m := map[string][2]uint64{}
	for i, v := range c {
		if v[0] != 0 || v[1] != 0 {
			m[cmdLabel(i)] = v
		}
	}
	return m
}

// ClientBytes returns the bytes of requests read from clients and of replies written to them (as
// of the loops' last publish).
func (srv *Server) ClientBytes() (in, out uint64) {
	for _, lp := range srv.loopList() {
		in += lp.stats.bytesIn.Load()
		out += lp.stats.bytesOut.Load()
	}
	return in, out
}

// loopList returns every loop's state (any goroutine, no lock).
func (srv *Server) loopList() []*loop {
	if l := srv.loops.Load(); l != nil {
		return *l // never changed: loopOf replaces it
	}
	return nil
}

// servers lists every server of the process, for /metrics.
var servers struct {
	mu   sync.Mutex
	list []*Server
}

func init() { metrics.RegisterMetricsWriter(writeMetrics) }

// writeMetrics writes the per-command counters and client bytes, summed over every server of
// the process (as the package's other counters are).
func writeMetrics(w io.Writer) {
	servers.mu.Lock()
	list := slices.Clone(servers.list)
	servers.mu.Unlock()
	var cmds commandCounts
	var in, out uint64
	for _, srv := range list {
		srv.syncLoops()
		srv.addCommands(&cmds)
		i, o := srv.ClientBytes()
		in, out = in+i, out+o
	}
	var requests uint64 // every request dispatched, of every command
	for i := range cmds {
		requests += cmds[i][0]
	}
	metrics.WriteCounterUint64(w, "slotgate_requests_total", requests)
	for k, name := range []string{"slotgate_commands_total", "slotgate_command_errors_total"} {
		metrics.WriteMetadataIfNeeded(w, name, "counter")
		for i := range cmds {
			if cmds[i][0] != 0 || cmds[i][1] != 0 {
				fmt.Fprintf(w, "%s{cmd=%q} %d\n", name, cmdLabel(i), cmds[i][k])
			}
		}
	}
	metrics.WriteCounterUint64(w, "slotgate_client_bytes_received_total", in)
	metrics.WriteCounterUint64(w, "slotgate_client_bytes_sent_total", out)
}

// Ready reports whether slotgate serves every slot now (router.Router.Ready: a topology known,
// every slot covered, a connection to every master), and accepts clients; why says what fails.
func (srv *Server) Ready() (ready bool, why string) {
	select {
	case <-srv.booted:
	default:
		return false, "not listening yet"
	}
	if srv.draining.Load() {
		return false, "shutting down"
	}
	return srv.rt.Ready()
}

// ServeHealthz answers /healthz: 200 while the process serves HTTP (a liveness probe).
func (srv *Server) ServeHealthz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = io.WriteString(w, "ok\n")
}

// ServeReadyz answers /readyz: 200 when Ready, else 503 with the reason (a readiness probe).
func (srv *Server) ServeReadyz(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if ok, why := srv.Ready(); !ok {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, "not ready: "+why+"\n")
		return
	}
	_, _ = io.WriteString(w, "ready\n")
}

// Snapshot is slotgate's state at one moment, for a status page and its JSON form. Rates and
// quantiles cover the last Window (about five seconds, sampled every second); counts are since
// start.
type Snapshot struct {
	Time     time.Time
	Uptime   time.Duration
	Ready    bool
	NotReady string        // why not Ready ("" when ready)
	Slots    int           // slots with a master, of 16384
	Window   time.Duration // the span OpsPerSec, P50 and P99 cover
	Shards   []ShardSnapshot
	Clients  int64 // client connections served now
	Limits   Limits
	// Cluster-wide redirects seen and topologies published since start.
	Moved, Ask, TryAgain, TopologyChanges uint64
}

// ShardSnapshot is one shard: its master, and the requests its nodes (master, and replicas
// serving reads with -read-from) answered.
type ShardSnapshot struct {
	Master    string
	Replicas  []string // healthy replicas, as the topology lists them
	Slots     int      // slots it serves
	State     string   // "ok", or "down" (a loop lost or could not open its connection, or it missed the last topology refresh)
	Requests  uint64   // replies since start
	Errors    uint64   // error replies since start (redirects included)
	Redirects uint64   // MOVED, ASK and TRYAGAIN replies since start
	OpsPerSec float64  // replies per second over Window
	P50, P99  time.Duration
}

// Limits counts the bounds slotgate enforced since start (Paused: clients stopped now).
type Limits struct {
	RejectedMaxClients    uint64 // connections refused at -maxclients
	RejectedProtected     uint64 // connections refused by -protected
	DisconnectedOverLimit uint64 // clients past -client-hard-limit
	Evicted               uint64 // clients disconnected over -max-memory
	IdleClosed            uint64 // clients closed by -client-idle-timeout
	Paused                uint64 // clients not read now (soft limit, -max-memory, ordering)
	RequestTimeouts       uint64 // requests answered with a timeout (-request-timeout)
	Expired               uint64 // requests that waited out the retry window
	DedicatedRefused      uint64 // dedicated connections refused at -max-dedicated
	BackendStalls         uint64 // silent nodes reconnected (-backend-stall)
}

// statSample is a reading of the nodes' latency histograms, kept for rates over a window.
type statSample struct {
	at    time.Time
	nodes map[string]router.Histogram
}

// Sampling of the nodes' histograms: every sampleEvery, the last sampleKeep kept (under srv.mu).
const (
	sampleEvery = time.Second
	sampleKeep  = 6
	rateWindow  = 5 * time.Second
)

// sample records the nodes' histograms once per sampleEvery (from OnTick, under srv.mu).
func (srv *Server) sample(now time.Time) {
	if n := len(srv.samples); n > 0 && now.Sub(srv.samples[n-1].at) < sampleEvery {
		return
	}
	ns := srv.rt.NodeStats()
	m := make(map[string]router.Histogram, len(ns))
	for a, s := range ns {
		m[a] = s.Latency
	}
	if len(srv.samples) == sampleKeep {
		srv.samples = append(srv.samples[:0], srv.samples[1:]...)
	}
	srv.samples = append(srv.samples, statSample{at: now, nodes: m})
}

// Snapshot returns slotgate's state now. Any goroutine; it costs a few map copies, not the
// loops' time.
func (srv *Server) Snapshot() Snapshot {
	now := time.Now()
	snap := Snapshot{Time: now, Uptime: now.Sub(srv.started), Clients: srv.clients.Load()}
	snap.Ready, snap.NotReady = srv.Ready()
	st := srv.rt.Status()
	snap.Moved, snap.Ask, snap.TryAgain, snap.TopologyChanges = st.Moved, st.Ask, st.TryAgain, st.TopologyChanges
	snap.Limits = Limits{
		RejectedMaxClients: rejectedMaxClients.Get(), RejectedProtected: rejectedProtected.Get(),
		DisconnectedOverLimit: clientsOverLimit.Get(), Evicted: clientsEvicted.Get(),
		IdleClosed: clientsIdleClosed.Get(), RequestTimeouts: st.RequestTimeouts, Expired: st.RequestsExpired,
		DedicatedRefused: st.DedicatedRefused, BackendStalls: st.BackendStalls,
	}
	var base statSample
	srv.mu.Lock()
	for _, lp := range srv.loopList() {
		snap.Limits.Paused += uint64(max(lp.nPaused.Load(), 0))
	}
	for _, s := range srv.samples {
		if now.Sub(s.at) <= rateWindow+sampleEvery/2 {
			base = s
			break
		}
	}
	srv.mu.Unlock()
	if base.at.IsZero() {
		base.at = srv.started // nothing sampled yet: since start
	}
	snap.Window = now.Sub(base.at)
	srv.rt.SyncStats()
	nodes := srv.rt.NodeStats()
	t := srv.rt.Topology()
	if t == nil {
		return snap
	}
	snap.Slots = t.Covered()
	slots := t.SlotCounts()
	for i, m := range t.Masters {
		sh := ShardSnapshot{Master: m, Slots: slots[i], State: "ok"}
		if i < len(t.Replicas) {
			sh.Replicas = slices.Clone(t.Replicas[i])
		}
		if st.Down[m] || st.Unreached[m] {
			sh.State = "down"
		}
		var win router.Histogram
		for _, a := range append([]string{m}, sh.Replicas...) {
			n := nodes[a]
			sh.Requests += n.Requests()
			sh.Errors += n.Errors
			sh.Redirects += n.Redirects
			win.Merge(n.Latency.Sub(base.nodes[a]))
		}
		if secs := snap.Window.Seconds(); secs > 0 {
			sh.OpsPerSec = float64(win.Count()) / secs
		}
		sh.P50, sh.P99 = win.Quantile(0.5), win.Quantile(0.99)
		snap.Shards = append(snap.Shards, sh)
	}
	return snap
}
