// Command slotgate is a Redis Cluster proxy: plain (non-cluster) Redis clients connect to one
// endpoint and see one big Redis, while slotgate routes each command to the right shard.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/slotgate/slotgate/router"
	"github.com/slotgate/slotgate/server"
	"github.com/slotgate/slotgate/tuning"
)

func main() {
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, nil))) // until run reads -log-format
	if err := run(os.Args[1:]); err != nil {
		var se *router.SetupError
		if errors.As(err, &se) {
			slog.Error("cannot start: no retry can reach the cluster as configured (-wait-for-cluster keeps retrying)",
				"cause", se.Cause, "hint", se.Hint(), "err", se.Err)
		} else {
			slog.Error("slotgate exiting", "err", err)
		}
		os.Exit(1)
	}
}

func run(argv []string) error {
	if len(argv) > 0 && argv[0] == "tune" {
		return runTune(argv[1:], os.Stdout, tuning.Default())
	}
	fs := flag.NewFlagSet("slotgate", flag.ContinueOnError)
	var (
		listen       = fs.String("listen", ":22121", "address clients connect to")
		cluster      = fs.String("cluster", "127.0.0.1:7000", "comma-separated HOST:PORT seeds of the Redis Cluster")
		backendPass  = fs.String("backend-password", "", "password for the cluster nodes (or env SLOTGATE_BACKEND_PASSWORD)")
		backendUser  = fs.String("backend-user", "", "ACL user for the cluster nodes (default user when empty)")
		password     = fs.String("password", "", "password clients must AUTH with (or env SLOTGATE_PASSWORD); empty: any AUTH succeeds")
		admin        = fs.String("admin", "127.0.0.1:22122", "address serving /metrics and /debug/pprof (empty: off)")
		loops        = fs.Int("loops", 1, "event loops (1 measured faster than one per CPU on 2-core machines shared with Redis)")
		softLimit    = fs.Int("client-soft-limit", server.DefaultSoftLimit, "per client: stop reading requests past this many unread reply bytes")
		hardLimit    = fs.Int("client-hard-limit", server.DefaultHardLimit, "per client: disconnect past this many unread reply bytes or unparsed request bytes")
		maxInflight  = fs.Int("client-max-inflight", server.DefaultMaxInflight, "per client: stop reading requests with this many at the backends")
		queryLimit   = fs.Int("client-query-limit", server.DefaultMaxRequest, "per client: largest request accepted, in bytes (Redis's client-query-buffer-limit)")
		maxClients   = fs.Int("maxclients", server.DefaultMaxClients, "clients served at once; past it: -ERR max number of clients reached (Redis's maxclients)")
		idleTimeout  = fs.Duration("client-idle-timeout", 0, "close a client idle this long, unless it waits for replies (Redis's timeout; 0: never)")
		maxFDs       = fs.Uint64("max-fds", 65535, "raise the open-file limit (RLIMIT_NOFILE) toward this at start; capped by the hard limit, never lowered")
		tune         = fs.Bool("tune", false, "at start, raise the kernel settings below their recommendation (slotgate tune lists them) where permitted; a raised somaxconn re-executes slotgate once so its listener gets the new backlog")
		protected    = fs.Bool("protected", false, "without -password, serve loopback clients only (Redis's protected mode); off: a warning every minute when listening beyond loopback")
		dialTimeout  = fs.Duration("connect-timeout", time.Second, "backend connect and AUTH timeout")
		refresh      = fs.Duration("refresh", 5*time.Second, "topology refresh period (also at once on MOVED, a node lost, CLUSTERDOWN)")
		downPoll     = fs.Duration("down-poll", 100*time.Millisecond, "topology refresh period while a slot's master is unreachable")
		retryWindow  = fs.Duration("retry-window", 0, "how long a request not yet sent waits for a reachable owner before -CLUSTERDOWN (0: 2 x the nodes' cluster-node-timeout + 2s, within [2s, 60s]; 2s where CONFIG GET is refused)")
		stall        = fs.Duration("backend-stall", 5*time.Second, "reconnect a node silent this long with requests outstanding (negative: never)")
		reqTimeout   = fs.Duration("request-timeout", 0, "answer -ERR timeout to a request unanswered this long; its reply is dropped when it comes (0: no limit but -backend-stall)")
		maxMemory    = fs.String("max-memory", "", "all client buffers together (e.g. 512mb, 2gb; default a quarter of the machine's or container's memory): past it slotgate reads only from clients under their fair share and then disconnects the largest")
		maxDedicated = fs.Int("max-dedicated", router.DefaultMaxDedicated, "dedicated backend connections per master for the process (transactions, blocking commands); past it: -ERR max dedicated backend connections reached")
		scriptCache  = fs.Int("script-cache", server.DefaultScriptCache, "scripts loaded through slotgate (SCRIPT LOAD) kept to reload on a node that answers EVALSHA with NOSCRIPT, e.g. after a failover (0: none)")
		maxMerge     = fs.Int("max-merge-bytes", server.DefaultMaxMergeBytes, "the masters' replies to one command sent to every master (KEYS, SLOWLOG GET...) together, in bytes: past it the client gets an error (for KEYS: use SCAN)")
		announce     = fs.String("announce", "", "HOST:PORT that CLUSTER SLOTS/SHARDS/NODES give cluster-aware clients as the one node owning every slot (empty: the address each client connected to)")
		readFrom     = fs.String("read-from", "master", "where read-only commands go: master, replica (replicas, the master when none is healthy) or prefer-replica (replicas and the master alike)")
		hotSample    = fs.Int("hotkey-sample", server.DefaultHotKeySample, "sample 1 in this many keyed requests for the hot keys (INFO hotkeys, /metrics, the status page); negative: off")
		logFormat    = fs.String("log-format", "text", "log lines as text (key=value) or json (one object per line)")
		logLevel     = fs.String("log-level", "info", "least severe log lines written: debug, info, warn or error")
		waitCluster  = fs.Bool("wait-for-cluster", false, "keep retrying a start the cluster refuses (wrong password, no cluster support, an address without a port) instead of exiting; clients' CLUSTERDOWN errors carry the cause")
	)
	if err := fs.Parse(argv); err != nil {
		return err
	}
	if *backendPass == "" {
		*backendPass = os.Getenv("SLOTGATE_BACKEND_PASSWORD")
	}
	if *password == "" {
		*password = os.Getenv("SLOTGATE_PASSWORD")
	}
	logger, err := newLogger(os.Stderr, *logFormat, *logLevel)
	if err != nil {
		return err
	}
	slog.SetDefault(logger)

	sys := tuning.Default()
	sys.MaxFDs = *maxFDs
	reexecuted := os.Getenv(reexecEnv) != ""
	if reexecuted {
		os.Unsetenv(reexecEnv) // not for slotgate's children
		logger.Info("tune: re-executed: the listener's backlog is somaxconn now")
	} else if *tune && shouldReexec(startTuning(sys, true, logger), os.Getenv) {
		logger.Info("tune: re-executing once: gnet read somaxconn before main, so only a fresh start gives the listener the new backlog")
		err := reexec()
		logger.Warn("tune: re-exec failed; the listener keeps the backlog read at start", "err", err)
	}
	*maxClients = fitClients(*maxClients, *maxFDs, logger)
	if !*tune {
		startTuning(sys, false, logger) // after fitClients: the open-file limit as raised
	}

	if *announce != "" {
		if _, port, err := net.SplitHostPort(*announce); err != nil {
			return fmt.Errorf("-announce: %w", err)
		} else if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
			return fmt.Errorf("-announce: bad port %q", port)
		}
	}
	rf, err := router.ParseReadFrom(*readFrom)
	if err != nil {
		return err
	}
	budget, err := parseBytes(*maxMemory)
	if err != nil {
		return fmt.Errorf("-max-memory: %w", err)
	}
	if budget == 0 {
		budget = server.DefaultMaxMemory()
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		// Collect harder as the heap nears the budget, so freed client buffers leave the RSS
		// soon (the budget counts client bytes; the rest of slotgate needs far less).
		debug.SetMemoryLimit(budget + 64<<20)
	}
	if *scriptCache <= 0 {
		*scriptCache = -1 // server.Config: negative is none, 0 the default
	}
	seeds := strings.Split(*cluster, ",")
	rt := router.New(router.Config{
		Seeds: seeds, User: *backendUser, Password: *backendPass, DialTimeout: *dialTimeout,
		Refresh: *refresh, DownPoll: *downPoll, RetryWindow: *retryWindow, BackendStall: *stall,
		RequestTimeout: *reqTimeout, ReadFrom: rf, MaxDedicated: *maxDedicated, WaitForCluster: *waitCluster,
		Logger: logger,
	})
	srv := server.New(server.Config{
		Listen: *listen, Loops: *loops, Password: *password,
		SoftLimit: *softLimit, HardLimit: *hardLimit, MaxInflight: *maxInflight, MaxRequest: *queryLimit,
		MaxClients: *maxClients, IdleTimeout: *idleTimeout, Protected: *protected, MaxMemory: budget,
		ScriptCache: *scriptCache, MaxMergeBytes: *maxMerge, Announce: *announce, HotKeySample: *hotSample, Logger: logger,
	}, rt)

	if *admin != "" {
		if err := serveAdmin(*admin, srv, logger); err != nil {
			return err
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rtErr := make(chan error, 1) // a setup the cluster refuses (router.SetupError)
	go func() {
		if err := rt.Run(ctx); err != nil && ctx.Err() == nil {
			rtErr <- err
		}
	}()

	errc := make(chan error, 1)
	go func() { errc <- srv.Run() }()
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, syscall.SIGINT, syscall.SIGTERM)
	select {
	case err := <-errc:
		return err
	case err := <-rtErr:
		return err
	case <-srv.Booted():
		logger.Info("listening", "listen", *listen, "loops", *loops, "seeds", *cluster, "max_memory", budget)
	}
	select {
	case err := <-errc:
		return err
	case err := <-rtErr:
		return err
	case sig := <-sigc:
		logger.Info("draining", "signal", sig.String())
	}
	cancel()
	drainCtx, stop := context.WithTimeout(context.Background(), 3*time.Second)
	defer stop()
	if err := srv.Stop(drainCtx); err != nil {
		return err
	}
	if err := <-errc; err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	logger.Info("stopped")
	return nil
}

// serveAdmin serves the status page (at /), Prometheus metrics (with Go runtime and process
// metrics), the health probes and pprof on addr.
func serveAdmin(addr string, srv *server.Server, log *slog.Logger) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("admin listen %s: %w", addr, err)
	}
	metrics.ExposeMetadata(true) // # HELP and # TYPE lines
	mux := http.NewServeMux()
	mux.Handle("/{$}", srv.StatusHandler()) // the status page; ?json for scripts
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) {
		metrics.WritePrometheus(w, true)
	})
	mux.HandleFunc("/healthz", srv.ServeHealthz) // the process serves
	mux.HandleFunc("/readyz", srv.ServeReadyz)   // topology known, every slot covered, every master reachable
	mux.HandleFunc("/debug/pprof/", pprof.Index) // profiles: measure before guessing
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	go func() {
		if err := http.Serve(ln, mux); err != nil {
			log.Error("admin server stopped", "err", err)
		}
	}()
	return nil
}

// parseBytes reads a size such as 1048576, 512mb or 2gb (Redis's units: k/kb, m/mb, g/gb are
// powers of 1024). Empty means 0.
func parseBytes(v string) (int64, error) {
	v = strings.ToLower(strings.TrimSpace(v))
	if v == "" {
		return 0, nil
	}
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"gb", 1 << 30}, {"mb", 1 << 20}, {"kb", 1 << 10}, {"g", 1 << 30}, {"m", 1 << 20}, {"k", 1 << 10}, {"b", 1}} {
		if strings.HasSuffix(v, u.suffix) {
			v, mult = strings.TrimSuffix(v, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("%q is not a size (bytes, or a number with kb, mb or gb)", v)
	}
	return n * mult, nil
}

// reservedFDs are the file descriptors kept for slotgate's own use beside its clients: backend
// connections (per event loop, per node and protocol), doorbells, epoll, the admin port.
const reservedFDs = 128

// fitClients raises the open-file limit toward maxFDs and, as Redis does, lowers maxclients
// (saying so) when the limit cannot hold that many clients and slotgate's own descriptors:
// past the limit gnet's accept fails and clients hang instead of reading a clear error.
func fitClients(maxClients int, maxFDs uint64, log *slog.Logger) int {
	before, after, err := tuning.RaiseNoFile(maxFDs)
	switch {
	case err != nil:
		log.Warn("open-file limit not raised", "err", err, "limit", before)
	case after != before:
		log.Info("open-file limit raised", "from", before, "to", after)
	}
	if need := uint64(maxClients) + reservedFDs; after < need && after > reservedFDs {
		fit := int(after - reservedFDs)
		log.Warn("maxclients lowered to fit the open-file limit (raise ulimit -n and -max-fds for more)",
			"maxclients", maxClients, "needs_fds", need, "fd_limit", after, "lowered_to", fit)
		return fit
	}
	return maxClients
}
