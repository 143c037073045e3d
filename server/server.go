// Package server is slotgate's front end: the gnet engine, client sessions with their ordered
// reply queues and bounds, the command classifier and the commands slotgate answers itself.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/panjf2000/gnet/v2"
	"github.com/slotgate/slotgate/internal/loopcount"
	"github.com/slotgate/slotgate/router"
	"github.com/slotgate/slotgate/router/slot"
)

// Config is the front end's configuration. Its reloadable part (Password, the client limits,
// MaxMergeBytes, ScriptCache, Deny, Allow) is the first Live: after New, Server.Reload changes it.
type Config struct {
	Listen      string // HOST:PORT
	Loops       int    // gnet event loops
	Password    string // clients must AUTH with it; empty: AUTH always succeeds
	SoftLimit   int    // per client: stop parsing when this many reply bytes are unread
	HardLimit   int    // per client: disconnect past this many unread reply or unparsed request bytes
	MaxInflight int    // per client: stop parsing with this many requests at the backends
	MaxRequest  int    // largest request accepted (Redis's client-query-buffer-limit)
	MaxMemory   int64  // all client buffers of the process together (0: DefaultMaxMemory)
	MaxClients  int    // clients served at once; past it Redis's "max number of clients reached" (Redis's maxclients)
	// IdleTimeout closes a client idle this long, unless it waits for replies (Redis's timeout);
	// 0: never.
	IdleTimeout time.Duration
	Protected   bool // with no Password, serve loopback clients only (Redis's protected mode)
	// ScriptCache is how many scripts loaded through slotgate (SCRIPT LOAD) are kept to reload
	// on a node that answers an EVALSHA with NOSCRIPT (scriptcache.go); 0: DefaultScriptCache,
	// negative: none.
	ScriptCache int
	// MaxMergeBytes caps the masters' replies to one broadcast command (KEYS, SLOWLOG GET...)
	// together, and so the merged reply: past it the client gets an error naming the command;
	// 0: DefaultMaxMergeBytes.
	MaxMergeBytes int
	// Announce is the HOST:PORT CLUSTER SLOTS/SHARDS/NODES name as the one node owning every slot;
	// empty: the local address of the asking client's connection.
	Announce string
	// HotKeySample samples 1 in this many keyed requests (on average) for the hot keys of
	// INFO hotkeys, /metrics and the status page (hotkeys.go); 0: DefaultHotKeySample,
	// negative: off.
	HotKeySample int
	Logger       *slog.Logger // nil: discard
	// Deny and Allow are the command lists (settings commands.deny, commands.allow): "FLUSHALL",
	// "CONFIG SET"; CheckCommandRules says what they may hold.
	Deny, Allow []string
}

// Defaults for the limits.
const (
	DefaultSoftLimit   = 8 << 20
	DefaultHardLimit   = 64 << 20
	DefaultMaxInflight = 1024
	DefaultMaxRequest  = 1 << 30
	// DefaultMaxMergeBytes is Config.MaxMergeBytes's default.
	DefaultMaxMergeBytes = 64 << 20
)

// Server is the gnet event handler.
type Server struct {
	gnet.BuiltinEventEngine
	cfg      Config
	log      *slog.Logger
	logs     limitLogs // one line per interval for events clients can repeat
	rt       *router.Router
	eng      gnet.Engine
	booted   chan struct{}
	started  time.Time // for INFO's uptime
	mu       sync.Mutex
	loops    atomic.Pointer[[]*loop] // every loop's state: a slice never changed, replaced (under mu) by loopOf
	wake     chan struct{}           // wakeTicker: run OnTick now
	nextID   atomic.Int64
	draining atomic.Bool

	fairShare  atomic.Int64 // the per-client soft limit while near -max-memory
	pressureAt int64        // client buffers past this get fair shares (budget.go)
	overSince  time.Time    // when client buffers went over -max-memory (under mu)

	scripts *scriptCache         // scripts loaded through slotgate, for reloading after NOSCRIPT
	live    atomic.Pointer[Live] // the settings SIGHUP may change (live.go)

	clients          atomic.Int64 // client sessions admitted and not closed
	remoteClients    atomic.Int64 // those from another host
	lastExposureWarn time.Time    // under mu

	metrics *metrics.Set // this server's own series (hot keys), on /metrics while it runs
	samples []statSample // the nodes' latency histograms every second, for Snapshot's rates (under mu)
}

var _ gnet.EventHandler = (*Server)(nil)

// loop is the server's state for one gnet event loop. Owned by that loop's goroutine, except
// the atomics read by the ticker and the shutdown.
type loop struct {
	srv          *Server
	el           gnet.EventLoop
	rl           *router.Loop
	touched      []*session // sessions with replies to write at the end of this callback
	paused       []*session // sessions stopped at the soft limit (may hold resumed ones until the next tick)
	nPaused      atomic.Int32
	lastTick     atomic.Int64 // UnixNano of its last timer run (runTimers), for OnTick's cadence
	tickDue      atomic.Bool  // OnTick asked for runTimers at the loop's next OnPoke
	inflight     int64        // requests at the backends, for the shutdown drain (read on the loop: Server.inflight)
	blocked      atomic.Int64 // of them, blocking commands: the drain does not wait for those
	scratch      []byte       // replies slotgate builds, before they are copied to a session
	bufs         bufPool      // sessions' reply buffers
	footprint    int64        // bytes the loop's sessions hold (budget.go)
	footprintPub atomic.Int64 // footprint, for the ticker
	others       int64        // what the other loops held at the last tick
	othersPub    atomic.Int64
	evict        atomic.Bool // the ticker asks for the largest session to be disconnected
	epfd         int         // gnet's epoll instance of this loop, for read back-pressure (0: not looked up, -1: none)

	// Bytes of client requests returned by Peek, copied into held buffers (session.held) and moved
	// when one grew, as router.CopyStats counts those of replies. Read by the tests.
	peeked, copied, moved loopcount.Counter

	ps pubsubLoop // channel -> subscribed sessions (pubsub.go)

	stats loopStats // requests and errors per command, client bytes (stats.go)

	sessions   []*session // every open client session (idle scan, eviction)
	epoch      int64      // idle-clock epochs seen (idleEpoch each): sessions stamp their activity with it
	epochStart time.Time  // when the current epoch began
	lastScan   int64      // epoch of the last idle scan

	clock time.Duration // time since the server started, at the loop's last tick: sessions stamp it with the epoch

	// split scratch, reused for every multi-key command
	slotPart  [slot.Count]int32
	slotStamp [slot.Count]uint32
	stamp     uint32
	keyPart   []int32
	partSlot  []uint16
	partStart []int32
	fill      []int32
	order     []int32
	partReq   []byte
	merging   mergeScratch
	merges    []*merge

	// broadcast: one slot per master, for the topology bcastTopo (broadcast.go)
	bcastTopo  *router.Topology
	bcastSlots []uint16
	scriptsOn  scriptsOn // scripts this loop loaded on each master (scripts.go)

	hot hotSketch // sampled hot keys (hotkeys.go)
}

// New returns a server that routes with rt.
func New(cfg Config, rt *router.Router) *Server {
	if cfg.Loops <= 0 {
		cfg.Loops = 1
	}
	if cfg.MaxMemory <= 0 {
		cfg.MaxMemory = DefaultMaxMemory()
	}
	if cfg.ScriptCache == 0 {
		cfg.ScriptCache = DefaultScriptCache // also Live's default: newScriptCache below needs it
	}
	if cfg.HotKeySample == 0 {
		cfg.HotKeySample = DefaultHotKeySample
	}
	srv := &Server{cfg: cfg, log: cfg.Logger, rt: rt, booted: make(chan struct{}), wake: make(chan struct{}, 1), scripts: newScriptCache(cfg.ScriptCache), started: time.Now()}
	if srv.log == nil {
		srv.log = slog.New(slog.DiscardHandler)
	}
	// The reloadable settings are read through srv.live from here on (live.go), not srv.cfg.
	if err := srv.Reload(Live{Password: cfg.Password, SoftLimit: cfg.SoftLimit, HardLimit: cfg.HardLimit,
		MaxInflight: cfg.MaxInflight, MaxRequest: cfg.MaxRequest, MaxClients: cfg.MaxClients, IdleTimeout: cfg.IdleTimeout,
		MaxMergeBytes: cfg.MaxMergeBytes, ScriptCache: cfg.ScriptCache, Deny: cfg.Deny, Allow: cfg.Allow}); err != nil {
		panic("server.New: " + err.Error()) // the caller checks its lists with CheckCommandRules
	}
	srv.fairShare.Store(int64(srv.lv().SoftLimit))
	srv.pressureAt = cfg.MaxMemory * pressurePercent / 100
	srv.metrics = metrics.NewSet()
	srv.metrics.RegisterMetricsWriter(srv.writeHotKeyMetrics)
	servers.mu.Lock()
	servers.list = append(servers.list, srv)
	servers.mu.Unlock()
	return srv
}

// ErrAddrInUse is returned when something already listens on the address.
var ErrAddrInUse = errors.New("address already in use")

// Run listens and serves until Stop. It first binds the address plainly: with SO_REUSEPORT gnet
// would otherwise share it silently with a stale process.
//
// The listener sets SO_REUSEADDR, as Redis and nginx do: after a stop with clients connected,
// the accepted sockets linger in FIN_WAIT/TIME_WAIT on the listen port for up to a minute, and
// without it the next bind fails. Linux lets a bind through such sockets only when both they
// (accepted sockets inherit the flag from their listener) and the new socket set the flag;
// Go's net.Listen sets it on Unix, so the probe passes lingering sockets too. A live listener
// still makes both binds fail: SO_REUSEADDR never lets two sockets listen on one address.
func (srv *Server) Run() error {
	ln, err := net.Listen("tcp", srv.cfg.Listen)
	if err != nil {
		return listenError(srv.cfg.Listen, err)
	}
	ln.Close()
	metrics.RegisterSet(srv.metrics)
	defer metrics.UnregisterSet(srv.metrics, false)
	ctx, stopTicker := context.WithCancel(context.Background())
	defer stopTicker()
	go srv.ticker(ctx) // not gnet's: its sleep cannot be cut short when a client arrives
	return gnet.Run(srv, "tcp://"+srv.cfg.Listen,
		gnet.WithMulticore(srv.cfg.Loops > 1),
		gnet.WithNumEventLoop(srv.cfg.Loops),
		gnet.WithReusePort(false),
		gnet.WithReuseAddr(true),
		gnet.WithTCPNoDelay(gnet.TCPNoDelay),
		gnet.WithLogger(gnetLogger{srv}),
	)
}

// listenError names the real cause of a failed listen: only EADDRINUSE is ErrAddrInUse (a
// missing port, a bad port or an unknown host are the operator's to fix, not a stale process).
func listenError(addr string, err error) error {
	var ae *net.AddrError
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return fmt.Errorf("listen %s: %w (%w)", addr, ErrAddrInUse, err)
	case errors.As(err, &ae):
		return fmt.Errorf("listen %s: %w (want HOST:PORT or :PORT, the port within 1-65535)", addr, err)
	}
	return fmt.Errorf("listen %s: %w", addr, err)
}

// Booted is closed once the engine accepts connections.
func (srv *Server) Booted() <-chan struct{} { return srv.booted }

// Stop drains: new connections are refused, requests already at the backends get up to the
// context's deadline to be answered, then the engine stops. Blocked commands are not waited
// for: a BLPOP with no timeout would hold every shutdown for the whole deadline.
func (srv *Server) Stop(ctx context.Context) error {
	srv.draining.Store(true)
	for srv.inflight() > 0 && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	<-srv.booted
	stopCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.eng.Stop(stopCtx)
}

// inflight counts the requests at the backends that a shutdown waits for (blocked ones aside).
// Each loop counts its own with plain adds (two locked adds per request otherwise), so each is
// asked on its goroutine; a loop that does not answer within loopcount.SyncWait counts as busy.
func (srv *Server) inflight() int64 {
	var n atomic.Int64
	if !srv.onLoops(func(lp *loop) { n.Add(lp.inflight - lp.blocked.Load()) }) {
		return max(n.Load(), 1)
	}
	return n.Load()
}

// OnBoot records the engine.
func (srv *Server) OnBoot(eng gnet.Engine) gnet.Action {
	srv.eng = eng
	if srv.cfg.Protected && srv.lv().Password == "" {
		srv.log.Info("protected mode: no -password, so only loopback clients are served")
	}
	close(srv.booted)
	return gnet.None
}

// loopOf returns (creating on first use) the state of event loop el. Runs on el's goroutine.
func (srv *Server) loopOf(el gnet.EventLoop) (*loop, error) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if lp := srv.loopFor(el); lp != nil {
		return lp, nil
	}
	lp := &loop{srv: srv, el: el, scratch: make([]byte, 0, 4096), epochStart: time.Now(), clock: time.Since(srv.started)}
	lp.hot.init(srv.cfg.HotKeySample, uint64(time.Now().UnixNano())+uint64(len(srv.loopList())))
	rl, err := srv.rt.NewLoop(el)
	if err != nil {
		return nil, err
	}
	rl.Owner = lp
	rl.Pushes = lp
	rl.EndWork = func() { lp.flushTouched(false) }
	lp.rl = rl
	loops := append(slices.Clone(srv.loopList()), lp)
	srv.loops.Store(&loops)
	return lp, nil
}

// loopFor returns the state of event loop el, nil until loopOf created it. Any goroutine.
func (srv *Server) loopFor(el gnet.EventLoop) *loop {
	for _, lp := range srv.loopList() {
		if lp.el == el {
			return lp
		}
	}
	return nil
}

// The engine must give router.Loop its round's end: the Poke of slotgate's gnet patch
// (third_party/gnet). Without the patch this does not compile.
var _ gnet.Poker = (*Server)(nil)

// OnPoke runs after the I/O callbacks of the round that follows a poke (the router's, for its
// batch, or the ticker's, for the loop's timers): the loop runs its timers if they are due,
// writes its batch, then every held session its replies. No lock: it runs once per round.
func (srv *Server) OnPoke(el gnet.EventLoop) {
	lp := srv.loopFor(el)
	if lp == nil {
		return
	}
	if lp.tickDue.Swap(false) {
		lp.runTimers()
	}
	lp.rl.Flush()
	lp.flushTouched(false)
}

// OnOpen starts a client session (or completes a backend registration).
func (srv *Server) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	switch x := c.Context().(type) {
	case *router.ShardConn:
		a := x.OnOpen(c)
		x.Loop().Owner.(*loop).flushTouched(false) // writes what waited for the connection
		return nil, a
	case *router.SubConn:
		a := x.OnOpen(c)
		x.Loop().Owner.(*loop).flushTouched(false)
		return nil, a
	}
	if srv.draining.Load() {
		return nil, gnet.Close
	}
	if reply := srv.admit(c.RemoteAddr()); reply != nil {
		return refuse(reply)
	}
	lp, err := srv.loopOf(c.EventLoop())
	if err != nil {
		srv.release()
		srv.log.Error("event loop setup failed", "err", err)
		return nil, gnet.Close
	}
	s := &session{srv: srv, lp: lp, c: c, id: srv.nextID.Add(1), proto: 2, authed: srv.lv().Password == "",
		replyEst: srv.lv().SoftLimit / initialWindow, remote: !isLoopbackPeer(c.RemoteAddr()), since: time.Now(), cmdIdx: noCmd}
	c.SetContext(s)
	s.stampActive()
	lp.enroll(s)
	if s.remote {
		srv.remoteClients.Add(1)
	}
	clientsConnected.Inc()
	return nil, gnet.None
}

// OnTraffic dispatches by connection kind; every kind ends with one write per touched session.
func (srv *Server) OnTraffic(c gnet.Conn) gnet.Action {
	var lp *loop
	action := gnet.None
	switch x := c.Context().(type) {
	case *session:
		lp = x.lp
		x.stampActive()
		x.parse()
	case *router.ShardConn:
		lp = x.Loop().Owner.(*loop)
		action = x.OnTraffic(c)
	case *router.SubConn:
		lp = x.Loop().Owner.(*loop)
		action = x.OnTraffic(c) // messages fanned out to the sessions
	default:
		return gnet.Close
	}
	lp.flushTouched(true)
	return action
}

// OnClose ends a session (its pending replies are dropped as they come) or a backend connection.
func (srv *Server) OnClose(c gnet.Conn, err error) gnet.Action {
	switch x := c.Context().(type) {
	case *session:
		if !x.closed {
			x.closed = true
			clientsConnected.Dec()
			srv.release()
			if x.remote {
				srv.remoteClients.Add(-1)
			}
			x.lp.unenroll(x)
			x.pubsubReset()
			x.abandonPins()
			if x.paused {
				x.paused = false
				clientsPaused.Dec()
				x.lp.nPaused.Add(-1)
			}
			x.lp.bufs.put(x.out)
			x.ring, x.out, x.name, x.held, x.libName, x.libVer = nil, nil, nil, nil, nil, nil
			x.account()
		}
	case *router.ShardConn:
		x.OnClose(c, err)
		x.Loop().Owner.(*loop).flushTouched(false)
	case *router.SubConn:
		x.OnClose(c, err, srv.draining.Load())
		x.Loop().Owner.(*loop).flushTouched(false)
	}
	return gnet.None
}

// Tick periods: fast while something waits on a loop's timers, the usual cadence of the
// loops' timers while clients are connected, and slow with none (an idle slotgate should cost
// next to nothing: each tick wakes the ticker goroutine, and each hand-off a loop).
const (
	fastTick = 10 * time.Millisecond  // paused clients, parked requests, an eviction due
	loopTick = 100 * time.Millisecond // with clients: idle timeouts, stalls, request timeouts, hot keys
	idleTick = time.Second            // no client: hot-key rates fade, metrics samples, budget checks
)

// ticker calls OnTick after the period it returns, or at once when wakeTicker says a client
// arrived (the period may be idleTick's second), until ctx ends.
func (srv *Server) ticker(ctx context.Context) {
	t := time.NewTimer(fastTick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-srv.wake:
		case <-t.C:
		}
		d, _ := srv.OnTick()
		t.Reset(d)
	}
}

// wakeTicker makes the ticker run OnTick now (any goroutine; never blocks).
func (srv *Server) wakeTicker() {
	select {
	case srv.wake <- struct{}{}:
	default:
	}
}

// OnTick drives the loops' timers: it resumes paused sessions whose clients caught up (gnet
// tells nobody when an output buffer drains) and runs the router's Tick (parked requests,
// silent nodes, request timeouts). It runs on its own goroutine, so the work is handed to each
// loop: every fast tick while something waits, every loopTick otherwise; with no client
// connected it ticks once a second, and the first client to connect wakes it (wakeTicker).
func (srv *Server) OnTick() (time.Duration, gnet.Action) {
	now := time.Now()
	srv.mu.Lock()
	defer srv.mu.Unlock()
	srv.checkBudget(now)
	srv.warnExposure(now)
	srv.sample(now)
	fast := false
	for _, lp := range srv.loopList() {
		if lp.nPaused.Load() > 0 || lp.rl.NeedsFastTick() || lp.evict.Load() {
			fast = true
			lp.tick()
		} else if now.UnixNano()-lp.lastTick.Load() >= int64(loopTick) {
			lp.tick()
		}
	}
	switch {
	case fast:
		return fastTick, gnet.None
	case srv.clients.Load() > 0:
		return fastTick, gnet.None // a client may pause or park at any moment: notice it soon
	}
	return idleTick, gnet.None
}

// tick asks the loop, from the ticker's goroutine, to run its timers at its next OnPoke: a flag
// and a Poke, where Execute would allocate a closure and a queue node on every tick.
func (lp *loop) tick() {
	lp.tickDue.Store(true)
	_ = lp.rl.Poke()
}

// runTimers runs on the loop for OnTick: the loop's clock, the router's timers, idle clients,
// then paused sessions.
func (lp *loop) runTimers() {
	now := time.Now()
	lp.lastTick.Store(now.UnixNano())
	lp.clock = now.Sub(lp.srv.started)
	lp.publishStats()
	lp.rl.Tick(now)
	lp.closeIdle(now)
	lp.hot.tick(now)
	lp.others = lp.othersPub.Load()
	if lp.evict.Swap(false) {
		lp.evictLargest()
	}
	kept := lp.paused[:0]
	for _, s := range lp.paused {
		if s.closed || !s.paused {
			s.inPaused = false
			continue
		}
		if !s.mustWait() {
			s.resume()
		}
		if s.paused {
			kept = append(kept, s)
		} else {
			s.inPaused = false
		}
	}
	clear(lp.paused[len(kept):])
	lp.paused = kept
	lp.flushTouched(false)
}

// flushTouched ends every callback: it writes each touched session's replies once, then the
// requests queued while the loop was idle. With hold (every callback but OnPoke's), a session
// that still has requests at the backends keeps its ready replies until the round's end that
// Wake asks for (OnPoke): a pipelining client's replies come from several masters,
// usually within one round, and one write instead of one per master is the largest saving left
// at depth 16. A session with nothing else in flight writes at once, so a client at depth 1
// never waits. Writing may resume a paused session, whose parse can touch sessions again: the
// list is walked by index so those are written too.
func (lp *loop) flushTouched(hold bool) {
	kept := 0
	for i := 0; i < len(lp.touched); i++ {
		s := lp.touched[i]
		if hold && s.inflight > 0 && !s.closed && s.closeAt == 0 {
			lp.touched[kept] = s
			kept++
			continue
		}
		s.flush()
	}
	clear(lp.touched[kept:])
	lp.touched = lp.touched[:kept]
	if cap(lp.scratch) > maxIdleScratch {
		lp.scratch = make([]byte, 0, 4096) // a large merged reply's buffer goes back to the GC
	}
	if kept > 0 {
		lp.rl.Wake()
	}
	lp.footprintPub.Store(lp.footprint)
	lp.rl.EndCallback()
}

// gnetLogger routes gnet's logs to ours (gnet.Run also makes it gnet's package-wide logger).
// gnet's own Info lines ("Launching gnet with 1 event-loops") are debug detail here. Each of
// gnet's lines is rate-limited by its format: accept failing at the fd limit repeats every round.
type gnetLogger struct{ srv *Server }

func (l gnetLogger) Debugf(f string, a ...any) { l.logf(slog.LevelDebug, f, a) }
func (l gnetLogger) Infof(f string, a ...any)  { l.logf(slog.LevelDebug, f, a) }
func (l gnetLogger) Warnf(f string, a ...any)  { l.logf(slog.LevelWarn, f, a) }
func (l gnetLogger) Errorf(f string, a ...any) { l.logf(slog.LevelError, f, a) }
func (l gnetLogger) Fatalf(f string, a ...any) { l.logf(slog.LevelError, f, a) }

func (l gnetLogger) logf(level slog.Level, f string, a []any) {
	if !l.srv.log.Enabled(context.Background(), level) {
		return
	}
	l.srv.logLimit(l.srv.logs.gnetLimiter(f), level, fmt.Sprintf(f, a...), "component", "gnet")
}

// Metrics.
var (
	clientsConnected  = metrics.NewGauge(`slotgate_client_connections`, nil)
	clientsPaused     = metrics.NewGauge(`slotgate_clients_paused`, nil)
	clientsOverLimit  = metrics.NewCounter(`slotgate_clients_disconnected_over_limit_total`)
	protocolErrors    = metrics.NewCounter(`slotgate_client_protocol_errors_total`)
	authFailures      = metrics.NewCounter(`slotgate_client_auth_failures_total`)
	splitRequests     = metrics.NewCounter(`slotgate_split_requests_total`)
	broadcastRequests = metrics.NewCounter(`slotgate_broadcast_requests_total`)
	scanRequests      = metrics.NewCounter(`slotgate_scan_requests_total`)
	scanRestarts      = metrics.NewCounter(`slotgate_scan_restarts_total`) // a SCAN range begun again: its owner changed or a slot left it mid-pass
	// scripts reloaded on a node that answered an EVALSHA with NOSCRIPT, loaded ahead, and loads refused
	scriptsReloaded    = metrics.NewCounter(`slotgate_scripts_reloaded_total`)
	scriptsPreloaded   = metrics.NewCounter(`slotgate_scripts_preloaded_total`) // loaded on a master before the first EVALSHA sent there
	scriptLoadsFailed  = metrics.NewCounter(`slotgate_script_loads_failed_total`)
	scriptCacheScripts = metrics.NewGauge(`slotgate_script_cache_scripts`, nil) // scripts kept for reloading (every server of the process)
)
