// Package router knows the cluster: its topology (which master serves each slot), each event
// loop's pipelined connections to the masters, and the replies that say the topology moved.
// It knows shards and slots, never client sessions: replies go to a Sink.
package router

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/slotgate/slotgate/codec"
	"github.com/slotgate/slotgate/internal/lograte"
	"github.com/slotgate/slotgate/router/slot"
)

// Config is what the router needs to reach the cluster.
type Config struct {
	Seeds       []string      // HOST:PORT of nodes to ask for the topology
	User        string        // backend ACL user
	Password    string        // backend password
	DialTimeout time.Duration // connect + AUTH timeout (default 1 s)

	Refresh        time.Duration // topology refresh period (default 5 s)
	DownPoll       time.Duration // refresh period while a slot's master is unreachable (default 100 ms)
	RetryWindow    time.Duration // how long an unsent request waits for an owner (0: from cluster-node-timeout, see autoRetryWindow)
	BackendStall   time.Duration // a node silent this long with requests outstanding is reconnected (default 5 s; <0: never)
	RequestTimeout time.Duration // a request unanswered this long gets an error (0: none)
	ReadFrom       ReadFrom      // where reads go
	MaxDedicated   int           // dedicated connections per master for the process (0: DefaultMaxDedicated)
	// WaitForCluster keeps Run retrying a start that cannot succeed as configured (a refused
	// password, a seed without cluster support, a malformed address): without it Run returns
	// a *SetupError the first time every seed fails that way.
	WaitForCluster bool

	Logger *slog.Logger // nil: discard
}

// ReadFrom says which nodes serve read-only commands.
type ReadFrom uint8

const (
	ReadMaster        ReadFrom = iota // every command goes to the slot's master
	ReadReplica                       // reads go to the master's replicas; to the master when none is healthy
	ReadPreferReplica                 // reads spread over the replicas and the master
)

// String is the -read-from value.
func (f ReadFrom) String() string {
	switch f {
	case ReadReplica:
		return "replica"
	case ReadPreferReplica:
		return "prefer-replica"
	}
	return "master"
}

// ParseReadFrom parses a -read-from value.
func ParseReadFrom(s string) (ReadFrom, error) {
	switch s {
	case "master", "":
		return ReadMaster, nil
	case "replica":
		return ReadReplica, nil
	case "prefer-replica":
		return ReadPreferReplica, nil
	}
	return 0, fmt.Errorf("-read-from %q: want master, replica or prefer-replica", s)
}

// Router owns the current topology and how to reach its nodes.
type Router struct {
	cfg     Config
	log     *slog.Logger
	dialer  Dialer
	topo    atomic.Pointer[Topology]
	trigger chan struct{} // a refresh is wanted (capacity 1: concurrent triggers coalesce)
	// Refreshes are numbered: refreshStarted counts those begun, refreshDone is the number of
	// the last one finished. A redirect waiting for confirmation needs one begun after it.
	refreshStarted, refreshDone atomic.Uint64

	window atomic.Int64 // the retry window in force, ns (see RetryWindow)

	lastErr atomic.Pointer[SetupError] // why the last topology discovery failed (nil: it succeeded)
	// The settings SIGHUP may change (SetRequestTimeout, SetReadFrom); cfg keeps the first ones.
	reqTimeout atomic.Int64  // Config.RequestTimeout, ns
	readFrom   atomic.Uint32 // Config.ReadFrom

	learnt   atomic.Pointer[codec.CommandSet] // commands learnt from the masters (commands.go)
	learning atomic.Bool                      // a learning is under way

	dedicatedState                 // the cap of dedicated connections (pin.go)
	subErrLog      lograte.Limiter // subscriptions refused by a node (a client may ask again and again)
	dedicatedLog   lograte.Limiter // the -max-dedicated cap reached
	resetReqs      [][]byte        // sent to a transaction's connection before it is pooled

	mu            sync.Mutex
	loops         []*Loop
	down          map[string]bool // nodes a loop could not reach since their last success
	degradedUntil time.Time       // a node said CLUSTERDOWN or LOADING: poll fast until then
	nodeTimeout   time.Duration   // the cluster-node-timeout the automatic window was derived from (0: none yet)
	nodeTimeoutAt time.Time       // when the nodes were last asked for it
	windowLogged  bool            // the fallback window was logged
	learntFor     string          // the masters (joined) the learnt commands were last read from
	learnErr      string          // the last learning failure, logged once
	learntSummary string          // what the last learning kept and left out, logged when it changes

	changes   []TopologyChange // the last topology changes, oldest first (at most maxChanges)
	unreached map[string]bool  // nodes the last topology discovery could not ask (Ready)
	// One idle control connection per node for Discover, kept between refreshes: dialling every
	// node at every -refresh (a TCP handshake and AUTH each) was half of an idle process's
	// allocations and a stream of short-lived connections at every node.
	ctrl map[string]*ctrlConn
	// The topology the last Discover built, and from which nodes' views: while every node
	// answers as before, the next one is that topology again, not built anew (a 16,384-entry
	// owner table and maps, every -refresh).
	built     *Topology
	builtFrom string

	statsMu   sync.Mutex
	nodeStats []*nodeStats // every loop's counters per node (stats.go)
}

// New returns a router with no topology yet; Run finds one.
func New(cfg Config) *Router {
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = time.Second
	}
	if cfg.Refresh <= 0 {
		cfg.Refresh = 5 * time.Second
	}
	if cfg.DownPoll <= 0 {
		cfg.DownPoll = 100 * time.Millisecond
	}
	if cfg.RetryWindow < 0 {
		cfg.RetryWindow = 0
	}
	if cfg.BackendStall == 0 {
		cfg.BackendStall = 5 * time.Second
	}
	if cfg.MaxDedicated <= 0 {
		cfg.MaxDedicated = DefaultMaxDedicated
	}
	r := &Router{cfg: cfg, log: cfg.Logger, dialer: Dialer{User: cfg.User, Password: cfg.Password, Timeout: cfg.DialTimeout},
		trigger: make(chan struct{}, 1), down: map[string]bool{}, resetReqs: buildResetReqs(cfg.User, cfg.Password)}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	r.dedicated = map[string]*atomic.Int32{}
	routers.mu.Lock()
	routers.list = append(routers.list, r)
	routers.mu.Unlock()
	r.reqTimeout.Store(int64(cfg.RequestTimeout))
	r.readFrom.Store(uint32(cfg.ReadFrom))
	if cfg.RetryWindow > 0 {
		r.window.Store(int64(cfg.RetryWindow))
	} else {
		r.window.Store(int64(fallbackRetryWindow))
	}
	return r
}

// RetryWindow is how long a request not yet sent waits for a reachable owner: -retry-window
// when set, else derived from the cluster's cluster-node-timeout (autoRetryWindow), so that a
// request parked when a master dies outlasts the election of its replica. Any goroutine.
func (r *Router) RetryWindow() time.Duration { return time.Duration(r.window.Load()) }

// The automatic retry window, 2 x cluster-node-timeout + 2 s, outlasts Redis's failover: a
// node pings a peer whose pong is older than half the timeout and marks it PFAIL a timeout
// later (up to 1.5 x); the FAIL report spreads by gossip (up to about 0.5 x more); the replica
// then waits 0.5-1 s (plus 1 s per rank) before the vote. That is up to 2 x + 1 s, measured at
// 2.1-2.8 s after a SIGKILL with a 1 s timeout; the last second is slack for a loaded machine
// and slotgate's own -down-poll. Bounded so that a tiny timeout still rides out a slow election
// and a huge one cannot hold requests for minutes. Until the nodes tell (or where CONFIG is
// renamed or denied), the old fixed default holds.
const (
	fallbackRetryWindow = 2 * time.Second
	minRetryWindow      = 2 * time.Second
	maxRetryWindow      = 60 * time.Second
	nodeTimeoutRecheck  = time.Minute // ask the nodes again this often (CONFIG SET may change it)
)

func autoRetryWindow(nodeTimeout time.Duration) time.Duration {
	return min(max(2*nodeTimeout+2*time.Second, minRetryWindow), maxRetryWindow)
}

// askNodeTimeout says whether this refresh asks the nodes for cluster-node-timeout: only for an
// automatic window, on the first refresh and then every nodeTimeoutRecheck (a node that denies
// CONFIG would otherwise fill its ACL LOG every refresh).
func (r *Router) askNodeTimeout(now time.Time) bool {
	if r.cfg.RetryWindow > 0 {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.nodeTimeoutAt.IsZero() || now.Sub(r.nodeTimeoutAt) >= nodeTimeoutRecheck
}

// adoptNodeTimeout sets the automatic window from the largest cluster-node-timeout the nodes
// reported (0: none did; why says what they answered instead) and logs the window when it
// changes.
func (r *Router) adoptNodeTimeout(nt time.Duration, why string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.nodeTimeoutAt = time.Now()
	if nt <= 0 {
		if r.nodeTimeout == 0 && !r.windowLogged {
			r.windowLogged = true
			r.log.Info("retry window", "window", fallbackRetryWindow, "source", "default", "why", "cluster-node-timeout unknown: "+why)
		}
		return // keep what an earlier answer gave
	}
	if nt == r.nodeTimeout {
		return
	}
	r.nodeTimeout = nt
	w := autoRetryWindow(nt)
	r.window.Store(int64(w))
	r.log.Info("retry window", "window", w, "source", "cluster-node-timeout", "node_timeout", nt,
		"why", fmt.Sprintf("2 x cluster-node-timeout + 2s, within [%v, %v]; -retry-window overrides", minRetryWindow, maxRetryWindow))
}

// DialNode opens an authenticated connection to addr of the caller's own, off the event loops,
// for a command that must not wait behind a shared pipeline (SCRIPT KILL: Redis reads nothing
// more from the connection running a script until the script ends). The caller closes it.
func (r *Router) DialNode(addr string) (net.Conn, error) {
	d := r.dialer
	return d.Dial(addr)
}

// SetRequestTimeout changes Config.RequestTimeout: requests already on the wire are held to the
// new value from the loops' next tick. Any goroutine.
func (r *Router) SetRequestTimeout(d time.Duration) { r.reqTimeout.Store(int64(d)) }

// SetReadFrom changes Config.ReadFrom. The loops take it with the topology: the current one is
// published again (as a copy), so each loop opens or retires its replica connections, and a
// client with requests in flight waits for their replies before reads go the new way (the
// usual topology barrier). Any goroutine.
func (r *Router) SetReadFrom(rf ReadFrom) {
	if ReadFrom(r.readFrom.Swap(uint32(rf))) == rf {
		return
	}
	for {
		t := r.topo.Load()
		if t == nil {
			return // the first topology brings it
		}
		c := *t
		if r.topo.CompareAndSwap(t, &c) {
			break
		}
	}
	r.log.Info("read policy changed", "read_from", rf.String())
	for _, l := range r.loopList() {
		_ = l.el.Execute(context.Background(), l)
	}
}

// Seeds returns the configured seed addresses.
func (r *Router) Seeds() []string { return r.cfg.Seeds }

// Topology returns the current topology, nil until one is known.
func (r *Router) Topology() *Topology { return r.topo.Load() }

// Publish makes t the current topology.
func (r *Router) Publish(t *Topology) { r.publish(t) }

// Run asks the seeds for the topology, retrying with capped exponential backoff until one answers
// (or ctx ends), publishes it and returns; the refresher then keeps it current until ctx ends.
// When every seed fails in a way no retry mends (see SetupError.Definite) it returns that
// *SetupError instead, unless Config.WaitForCluster.
func (r *Router) Run(ctx context.Context) error {
	backoff := 50 * time.Millisecond
	first, lastCause := true, ""
	for {
		t, err := r.Discover(ctx)
		if err == nil {
			r.lastErr.Store(nil)
			if r.cfg.RetryWindow > 0 {
				r.log.Info("retry window", "window", r.cfg.RetryWindow, "source", "-retry-window")
			}
			// Commands first: a client whose first request waited for the topology must not be
			// told that a module's command is unknown.
			r.learnCommands(t, refreshTimeout)
			r.publish(t)
			go r.refresher(ctx)
			return nil
		}
		if ctx.Err() != nil {
			r.closeCtrl()
			return ctx.Err()
		}
		se := r.noteDiscoverFailed(err)
		if se.Definite && !r.cfg.WaitForCluster {
			r.closeCtrl()
			return se
		}
		if first || se.Cause != lastCause {
			r.log.Warn("no topology yet", "cause", se.Cause, "err", err, "retry_in", backoff)
		} else {
			r.log.Debug("no topology yet", "cause", se.Cause, "err", err, "retry_in", backoff)
		}
		first, lastCause = false, se.Cause
		select {
		case <-ctx.Done():
			r.closeCtrl()
			return ctx.Err()
		case <-time.After(backoff + rand.N(backoff/2)):
		}
		backoff = min(backoff*2, 2*time.Second)
	}
}

// Discover asks every node of the last known topology and every seed for CLUSTER NODES, all at
// once with short timeouts (the seed may be the node that died), and merges the views that
// answered.
func (r *Router) Discover(ctx context.Context) (*Topology, error) {
	addrs := append([]string(nil), r.cfg.Seeds...)
	if t := r.topo.Load(); t != nil {
		for _, a := range t.Addrs() {
			if !slices.Contains(addrs, a) {
				addrs = append(addrs, a)
			}
		}
	}
	type answer struct {
		addr  string
		nodes []NodeInfo
		nt    time.Duration // cluster-node-timeout (0: not asked or not told)
		ntErr error         // why not told
		cc    *ctrlConn     // the control connection to keep for the next refresh (nil: none)
		same  bool          // nodes is the view this node gave last time
		err   error
	}
	askNT := r.askNodeTimeout(time.Now())
	answers := make(chan answer, len(addrs))
	r.mu.Lock()
	for _, a := range addrs {
		cc := r.ctrl[a]
		delete(r.ctrl, a)
		if cc == nil {
			cc = &ctrlConn{}
		}
		go func() {
			an := answer{addr: a, cc: cc}
			an.nodes, an.nt, an.ntErr, an.same, an.err = r.clusterNodes(a, cc, askNT)
			answers <- an
		}()
	}
	stale := r.ctrl // nodes no longer asked: their connections go
	r.ctrl = make(map[string]*ctrlConn, len(addrs))
	r.mu.Unlock()
	for _, cc := range stale {
		cc.close()
	}
	var views [][]NodeInfo
	var errs, ntErrs []error
	var nodeTimeout time.Duration
	unreached := map[string]bool{}
	same := true
	var from []string
	for range addrs {
		a := <-answers
		r.mu.Lock()
		if ctx.Err() == nil && r.ctrl != nil { // nil: closed by closeCtrl meanwhile
			r.ctrl[a.addr], a.cc = a.cc, nil
		}
		r.mu.Unlock()
		if a.cc != nil {
			a.cc.close() // shutting down
		}
		if a.err != nil {
			errs = append(errs, a.err)
			unreached[a.addr] = true
			continue
		}
		same = same && a.same
		from = append(from, a.addr)
		views = append(views, a.nodes)
		nodeTimeout = max(nodeTimeout, a.nt)
		if a.ntErr != nil {
			ntErrs = append(ntErrs, a.ntErr)
		}
	}
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	r.mu.Lock()
	r.unreached = unreached
	r.mu.Unlock()
	if askNT && len(views) > 0 {
		r.adoptNodeTimeout(nodeTimeout, errText(ntErrs))
	}
	if len(views) == 0 {
		return nil, errors.Join(errs...)
	}
	slices.Sort(from)
	key := strings.Join(from, ",")
	r.mu.Lock()
	t := r.built
	if !same || key != r.builtFrom {
		t = nil
	}
	r.mu.Unlock()
	if t == nil {
		t = BuildTopology(views...)
		r.mu.Lock()
		r.built, r.builtFrom = t, key
		r.mu.Unlock()
	}
	if len(t.Masters) == 0 {
		return nil, fmt.Errorf("nodes %s: no master serves any slot", strings.Join(addrs, ","))
	}
	return t, nil
}

// refresher keeps the topology current: every -refresh, at once when a loop asks (MOVED, a node
// lost, CLUSTERDOWN), and every -down-poll while a master is unreachable or a slot unserved.
func (r *Router) refresher(ctx context.Context) {
	timer := time.NewTimer(r.cfg.Refresh)
	defer timer.Stop()
	defer r.closeCtrl()
	var last time.Time
	logged := "" // the refresh error last logged
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.trigger:
		case <-timer.C:
		}
		// Coalesce bursts (a resharding sends many MOVED): at most one refresh per minGap.
		if wait := minRefreshGap - time.Since(last); wait > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			select {
			case <-r.trigger:
			default:
			}
		}
		last = time.Now()
		n := r.refreshStarted.Add(1)
		t, err := r.Discover(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			// One line per new error: while every node is down this runs every -down-poll.
			se := r.noteDiscoverFailed(err)
			if msg := err.Error(); msg != logged {
				logged = msg
				r.log.Warn("topology refresh failed", "cause", se.Cause, "err", err)
			}
		case !t.Equal(r.topo.Load()):
			r.lastErr.Store(nil)
			logged = ""
			r.publish(t)
		default:
			r.lastErr.Store(nil)
			logged = ""
		}
		r.refreshDone.Store(n)
		r.maybeLearn() // only when the masters changed (or the last try failed)
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(r.interval())
	}
}

// closeCtrl closes the control connections Discover kept (the refresher has stopped).
func (r *Router) closeCtrl() {
	r.mu.Lock()
	ctrl := r.ctrl
	r.ctrl = nil
	r.mu.Unlock()
	for _, cc := range ctrl {
		cc.close()
	}
}

// minRefreshGap is the shortest time between two refreshes.
const minRefreshGap = 20 * time.Millisecond

// interval is the time to the next periodic refresh: short while the cluster is degraded.
func (r *Router) interval() time.Duration {
	t := r.topo.Load()
	r.mu.Lock()
	degraded := len(r.down) > 0 || time.Now().Before(r.degradedUntil)
	r.mu.Unlock()
	if degraded || t == nil || t.Covered() < slot.Count {
		return r.cfg.DownPoll
	}
	return r.cfg.Refresh
}

// Refresh asks for a topology refresh soon; concurrent requests coalesce. Any goroutine.
func (r *Router) Refresh() {
	select {
	case r.trigger <- struct{}{}:
	default:
	}
}

// publish makes t current and tells every loop, which reconciles its connections and sends
// the requests parked for an owner.
func (r *Router) publish(t *Topology) {
	old := r.topo.Swap(t)
	logTopology(r.log, old, t)
	topologyChanges.Inc()
	change := TopologyChange{At: time.Now(), What: describeChange(old, t), Topology: t.String()}
	r.mu.Lock()
	if len(r.changes) == maxChanges {
		r.changes = append(r.changes[:0], r.changes[1:]...)
	}
	r.changes = append(r.changes, change)
	loops := slices.Clone(r.loops)
	for addr := range r.down { // a node that left the map is no reason to keep polling
		if !slices.Contains(t.Masters, addr) && !slices.ContainsFunc(t.Replicas, func(rs []string) bool { return slices.Contains(rs, addr) }) {
			delete(r.down, addr)
		}
	}
	r.mu.Unlock()
	for _, l := range loops {
		_ = l.el.Execute(context.Background(), l)
	}
}

// learnMoved patches the topology after a MOVED reply (the next refresh confirms it) and asks
// for a refresh: one slot moving usually means more are.
func (r *Router) learnMoved(s uint16, addr string) {
	for {
		t := r.topo.Load()
		if t == nil {
			return
		}
		if sh := t.Shard(s); sh >= 0 && t.Masters[sh] == addr {
			return
		}
		if r.topo.CompareAndSwap(t, t.WithOwner(s, addr)) {
			r.Refresh()
			return
		}
	}
}

// CopyStats counts the bytes of large replies or requests taken out of gnet's buffer: divided by
// the bytes framed, what framing costs per byte (O(1) however the bytes arrive).
type CopyStats struct {
	Peeked int64 // returned by Peek: gnet copies them when an earlier read left bytes behind
	Copied int64 // copied into a buffer of slotgate's own, for a large one still arriving
	Moved  int64 // moved when such a buffer grew (by doubling: less than 2 per byte)
}

// ReplyCopies returns the CopyStats of backend replies, summed over the loops since they started
// (for tests and diagnostics; after SyncStats, everything counted so far).
func (r *Router) ReplyCopies() CopyStats {
	var s CopyStats
	for _, l := range r.loopList() {
		s.Peeked += int64(l.peeked.Load())
		s.Copied += int64(l.copied.Load())
		s.Moved += int64(l.moved.Load())
	}
	return s
}

func (r *Router) addLoop(l *Loop) {
	r.mu.Lock()
	r.loops = append(r.loops, l)
	r.mu.Unlock()
}

// noteDown records that a loop could not reach addr: refreshes poll every -down-poll until the
// node is reachable again or out of the topology.
func (r *Router) noteDown(addr string) {
	r.mu.Lock()
	first := !r.down[addr]
	r.down[addr] = true
	r.mu.Unlock()
	if first {
		r.Refresh()
	}
}

// noteDegraded records a CLUSTERDOWN or LOADING answer: refresh now, and every -down-poll for
// one retry window.
func (r *Router) noteDegraded() {
	r.mu.Lock()
	first := time.Now().After(r.degradedUntil)
	r.degradedUntil = time.Now().Add(r.RetryWindow())
	r.mu.Unlock()
	if first {
		r.Refresh()
	}
}

// Status is what the router knows of the cluster's health, for INFO's Proxy section.
type Status struct {
	TopologyChanges              uint64          // topologies published since start
	Moved, Ask, TryAgain         uint64          // redirects seen (slotgate_redirects_total)
	RedirectsFollowed, Untrusted uint64          // followed, and refused as untrusted
	Down                         map[string]bool // nodes a loop could not reach, until reachable again
	// Limits hit: requests answered -ERR timeout (-request-timeout), requests that found no
	// owner within the retry window, dedicated connections refused past -max-dedicated, and
	// silent nodes reconnected (-backend-stall).
	RequestTimeouts, RequestsExpired, DedicatedRefused, BackendStalls uint64
	Unreached                                                         map[string]bool // nodes the last topology discovery could not ask
}

// Status reports the router's counters and the nodes it currently finds unreachable.
func (r *Router) Status() Status {
	st := Status{
		TopologyChanges: topologyChanges.Get(), Moved: redirectsMoved.Get(), Ask: redirectsAsk.Get(),
		TryAgain: redirectsTryAgain.Get(), RedirectsFollowed: redirectsFollowed.Get(), Untrusted: redirectsRefused.Get(),
		Down: map[string]bool{}, Unreached: map[string]bool{},
		RequestTimeouts: requestTimeouts.Get(), RequestsExpired: requestsExpired.Get(),
		DedicatedRefused: dedicatedRefused.Get(), BackendStalls: backendStalls.Get(),
	}
	r.mu.Lock()
	for a := range r.down {
		st.Down[a] = true
	}
	for a := range r.unreached {
		st.Unreached[a] = true
	}
	r.mu.Unlock()
	return st
}

func (r *Router) noteUp(addr string) {
	r.mu.Lock()
	delete(r.down, addr)
	r.mu.Unlock()
}

// clusterNodes asks addr for CLUSTER NODES over cc (dialled when it has no connection) and,
// with askNT, for its cluster-node-timeout on the same connection. A node that will not tell its
// timeout (CONFIG renamed or denied) still gives its view: nt is 0 and ntErr says why. same: the
// node answered as last time, and nodes is cc's parse of then.
func (r *Router) clusterNodes(addr string, cc *ctrlConn, askNT bool) (nodes []NodeInfo, nt time.Duration, ntErr error, same bool, err error) {
	timeout := min(r.cfg.DialTimeout, refreshTimeout)
	d := r.dialer
	d.Timeout = timeout
	var reply []byte
	if cc.Conn != nil {
		_ = cc.SetDeadline(time.Now().Add(timeout))
		reply, err = RoundTrip(cc.Conn, "CLUSTER", "NODES")
		if err != nil {
			cc.close()
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				// Silent for the whole timeout: the node is as unreachable as a dial that times
				// out, and dialling again would double the wait.
				return nil, 0, nil, false, fmt.Errorf("%s: CLUSTER NODES: %w", addr, err)
			}
			// Closed while idle (a restarted node, a client timeout, CLIENT KILL): dial afresh.
		}
	}
	if cc.Conn == nil {
		if cc.Conn, err = d.Dial(addr); err != nil {
			return nil, 0, nil, false, fmt.Errorf("%s: %w", addr, err)
		}
		_ = cc.SetDeadline(time.Now().Add(timeout))
		reply, err = RoundTrip(cc.Conn, "CLUSTER", "NODES")
	}
	if err == nil && codec.IsError(reply) {
		err = fmt.Errorf("CLUSTER NODES: %s", codec.ErrorText(reply))
	}
	if err != nil {
		cc.close()
		return nil, 0, nil, false, fmt.Errorf("%s: CLUSTER NODES: %w", addr, err)
	}
	text, ok := codec.BulkText(reply)
	if !ok {
		cc.close()
		return nil, 0, nil, false, fmt.Errorf("%s: CLUSTER NODES: unexpected reply %.40q", addr, reply)
	}
	if cc.nodes != nil && sameNodes(cc.text, text) {
		nodes, same = cc.nodes, true
	} else {
		cc.nodes = nil
		if nodes, err = ParseClusterNodes(string(text), addr); err != nil {
			cc.close()
			return nil, 0, nil, false, err
		}
		cc.text, cc.nodes = append(cc.text[:0], text...), nodes
	}
	if askNT {
		if nt, ntErr = nodeTimeout(cc.Conn); ntErr != nil {
			cc.close() // a failed CONFIG GET may leave its reply unread
			return nodes, 0, fmt.Errorf("%s: %w", addr, ntErr), same, nil
		}
	}
	_ = cc.SetDeadline(time.Time{})
	return nodes, nt, nil, same, nil
}

// ctrlConn is a node's control connection for Discover and the last CLUSTER NODES it answered.
type ctrlConn struct {
	net.Conn            // nil: none open (the next refresh dials)
	text     []byte     // the last reply's text
	nodes    []NodeInfo // its parse, reused while the node answers the same but for ping and pong times
}

func (cc *ctrlConn) close() {
	if cc.Conn != nil {
		cc.Conn.Close()
		cc.Conn = nil
	}
}

// sameNodes reports whether two CLUSTER NODES texts differ at most in each line's ping-sent and
// pong-recv times (its fifth and sixth fields), which ParseClusterNodes does not keep.
func sameNodes(a, b []byte) bool {
	for {
		la, ra, moreA := bytes.Cut(a, newline)
		lb, rb, moreB := bytes.Cut(b, newline)
		if moreA != moreB {
			return false
		}
		for f := 0; ; f++ {
			var fa, fb []byte
			fa, la = nextField(la)
			fb, lb = nextField(lb)
			if fa == nil && fb == nil {
				break
			}
			if f != 4 && f != 5 && !bytes.Equal(fa, fb) || (fa == nil) != (fb == nil) {
				return false
			}
		}
		if !moreA {
			return true
		}
		a, b = ra, rb
	}
}

var newline = []byte("\n")

// nextField splits off the first space-separated field of line (nil when none is left).
func nextField(line []byte) (field, rest []byte) {
	line = bytes.TrimLeft(line, " \r")
	if len(line) == 0 {
		return nil, nil
	}
	if i := bytes.IndexAny(line, " \r"); i >= 0 {
		return line[:i], line[i:]
	}
	return line, nil
}

// nodeTimeout asks a node for its cluster-node-timeout (CONFIG GET answers a pair, in ms).
func nodeTimeout(c net.Conn) (time.Duration, error) {
	reply, err := RoundTrip(c, "CONFIG", "GET", "cluster-node-timeout")
	if err != nil {
		return 0, fmt.Errorf("CONFIG GET cluster-node-timeout: %w", err)
	}
	if codec.IsError(reply) {
		return 0, fmt.Errorf("CONFIG GET cluster-node-timeout: %s", codec.ErrorText(reply))
	}
	elems, err := codec.ArrayElems(reply, nil)
	if err == nil && len(elems) == 2 {
		if v, ok := codec.BulkText(elems[1]); ok {
			if ms, err := strconv.ParseInt(string(v), 10, 64); err == nil && ms > 0 {
				return time.Duration(ms) * time.Millisecond, nil
			}
		}
	}
	return 0, fmt.Errorf("CONFIG GET cluster-node-timeout: unexpected reply %.60q", reply)
}

// errText joins errors on one line ("" for none).
func errText(errs []error) string {
	var parts []string
	for _, e := range errs {
		parts = append(parts, e.Error())
	}
	return strings.Join(parts, "; ")
}

// refreshTimeout bounds each node's answer during a refresh: a dead node must not delay it.
const refreshTimeout = 500 * time.Millisecond

// Metrics.
var (
	redirectsFollowed = metrics.NewCounter(`slotgate_redirects_followed_total`)
	topologyChanges   = metrics.NewCounter(`slotgate_topology_changes_total`)
	requestsParked    = metrics.NewCounter(`slotgate_requests_parked_total`)
	requestsExpired   = metrics.NewCounter(`slotgate_requests_expired_total`)
	requestsDropped   = metrics.NewCounter(`slotgate_requests_dropped_client_gone_total`)
	requestTimeouts   = metrics.NewCounter(`slotgate_request_timeouts_total`)
	backendStalls     = metrics.NewCounter(`slotgate_backend_stalls_total`)
	redirectsMoved    = metrics.NewCounter(`slotgate_redirects_total{kind="moved"}`)
	redirectsAsk      = metrics.NewCounter(`slotgate_redirects_total{kind="ask"}`)
	redirectsTryAgain = metrics.NewCounter(`slotgate_redirects_total{kind="tryagain"}`)
	redirectsRefused  = metrics.NewCounter(`slotgate_redirects_untrusted_total`)
	backendConns      = metrics.NewGauge(`slotgate_backend_connections`, nil)
	backendDialErrors = metrics.NewCounter(`slotgate_backend_dial_errors_total`)
	flushesDeferred   = metrics.NewCounter(`slotgate_flushes_deferred_total`)
	flushesLost       = metrics.NewCounter(`slotgate_flushes_lost_total`)
	pushesDropped     = metrics.NewCounter(`slotgate_backend_pushes_dropped_total`)
)

// errKind is what an error reply says about where or when its request belongs.
type errKind uint8

const (
	errOther     errKind = iota // an answer: the client gets it
	errMoved                    // MOVED: the slot lives elsewhere now
	errAsk                      // ASK: this key is being migrated, ask the importing node once
	errTryAgain                 // TRYAGAIN: the request's keys are split by a migration
	errNotReady                 // CLUSTERDOWN, LOADING, MASTERDOWN: not run, the node is not ready
	errUnblocked                // UNBLOCKED: a blocked command was released unrun (its node turned replica)
)

// classifyError reads the kind of an error reply (its first byte is '-').
func classifyError(reply []byte) errKind {
	body := reply[1:]
	switch {
	case hasPrefix(body, "MOVED "):
		return errMoved
	case hasPrefix(body, "ASK "):
		return errAsk
	case hasPrefix(body, "TRYAGAIN"):
		return errTryAgain
	case hasPrefix(body, "CLUSTERDOWN"), hasPrefix(body, "LOADING"), hasPrefix(body, "MASTERDOWN"):
		return errNotReady
	case hasPrefix(body, "UNBLOCKED"):
		return errUnblocked
	}
	return errOther
}

// countRedirect counts MOVED/ASK/TRYAGAIN replies in slotgate_redirects_total{kind}.
func countRedirect(k errKind) {
	switch k {
	case errMoved:
		redirectsMoved.Inc()
	case errAsk:
		redirectsAsk.Inc()
	case errTryAgain:
		redirectsTryAgain.Inc()
	}
}

func hasPrefix(b []byte, p string) bool { return len(b) >= len(p) && string(b[:len(p)]) == p }

// Error replies the router makes itself.
func errUnreachable(addr string, window time.Duration) []byte {
	return codec.AppendError(nil, fmt.Sprintf("CLUSTERDOWN slotgate cannot reach node %s (waited %v)", addr, window))
}

func errNoOwner(slot int32, window time.Duration) []byte {
	return codec.AppendError(nil, fmt.Sprintf("CLUSTERDOWN Hash slot not served (slot %d; slotgate waited %v for a master)", slot, window))
}

func errTimeout(addr string, d time.Duration) []byte {
	return codec.AppendError(nil, fmt.Sprintf("ERR timeout waiting for node %s (%v)", addr, d))
}

func errBackendLost(addr, why string) []byte {
	return codec.AppendError(nil, fmt.Sprintf("ERR slotgate lost the connection to node %s before its reply (%s)", addr, why))
}

// maxChanges is how many topology changes Changes remembers.
const maxChanges = 16

// TopologyChange is one published topology, for the status page.
type TopologyChange struct {
	At       time.Time `json:"at"`
	What     string    `json:"what"`     // what changed from the topology before
	Topology string    `json:"topology"` // each master with its slot ranges and replicas
}

// Changes returns the last topology changes, newest first.
func (r *Router) Changes() []TopologyChange {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := slices.Clone(r.changes)
	slices.Reverse(out)
	return out
}

// Config returns the router's configuration (as completed by New).
func (r *Router) Config() Config { return r.cfg }

// describeChange says in a few words how t differs from old: masters gone and come, slots that
// changed owner, replicas and epochs.
func describeChange(old, t *Topology) string {
	if old == nil {
		return fmt.Sprintf("first topology: %d masters, %d slots covered", len(t.Masters), t.Covered())
	}
	var parts []string
	for _, m := range old.Masters {
		if !slices.Contains(t.Masters, m) {
			parts = append(parts, "master "+m+" gone")
		}
	}
	for _, m := range t.Masters {
		if !slices.Contains(old.Masters, m) {
			parts = append(parts, "master "+m+" new")
		}
	}
	moved := 0
	for s := range slot.Count {
		if old.Owner(uint16(s)) != t.Owner(uint16(s)) {
			moved++
		}
	}
	if moved > 0 {
		parts = append(parts, fmt.Sprintf("%d slots changed owner", moved))
	}
	if c := t.Covered(); c != old.Covered() {
		parts = append(parts, fmt.Sprintf("%d of %d slots covered", c, slot.Count))
	}
	if !slices.EqualFunc(old.Replicas, t.Replicas, slices.Equal[[]string]) {
		parts = append(parts, "replicas changed")
	}
	if !maps.Equal(old.migrating, t.migrating) {
		parts = append(parts, fmt.Sprintf("%d slots migrating", len(t.migrating)))
	}
	if len(parts) == 0 {
		parts = append(parts, "config epochs changed")
	}
	return strings.Join(parts, "; ")
}

// Ready reports whether the router can serve every slot now: a topology is known, every slot has
// a master, and every master answered the last topology discovery and is not found unreachable by
// a loop since. When not, why says which condition fails. Any goroutine.
//
// Shard connections are dialled on first use, so "a connection to every master" is judged from
// the discovery (which connects to every node each -refresh, every -down-poll while a node is
// down) and from the loops' own connections (a failed dial or a lost connection marks the node
// until a connection to it opens again).
func (r *Router) Ready() (ready bool, why string) {
	t := r.topo.Load()
	r.mu.Lock()
	defer r.mu.Unlock()
	if t == nil {
		if err := r.LastError(); err != nil {
			return false, "no topology yet: " + err.Error()
		}
		return false, "no topology yet"
	}
	if n := t.Covered(); n < slot.Count {
		return false, fmt.Sprintf("%d of %d slots have no master", slot.Count-n, slot.Count)
	}
	var bad []string
	for _, m := range t.Masters {
		switch {
		case r.down[m]:
			bad = append(bad, m+" (connection failed)")
		case r.unreached[m]:
			bad = append(bad, m+" (did not answer the last topology refresh)")
		}
	}
	if len(bad) > 0 {
		return false, "no connection to master " + strings.Join(bad, ", ")
	}
	return true, ""
}
