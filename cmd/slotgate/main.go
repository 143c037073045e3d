// Command slotgate is a Redis Cluster proxy: plain (non-cluster) Redis clients connect to one
// endpoint and see one big Redis, while slotgate routes each command to the right shard.
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime/debug"
	rtmetrics "runtime/metrics"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/slotgate/slotgate/internal/settings"
	"github.com/slotgate/slotgate/router"
	"github.com/slotgate/slotgate/server"
	"github.com/slotgate/slotgate/tuning"
)

func main() {
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, nil))) // until run reads log.format
	if err := run(os.Args[1:]); err != nil {
		var se *router.SetupError
		if errors.As(err, &se) {
			slog.Error("cannot start: no retry can reach the cluster as configured (-wait-for-cluster keeps retrying)",
				"cause", se.Cause, "hint", se.Hint(), "err", se.Err)
		} else {
			// Flags, the settings file, the listen address: one plain line, as any command
			// says what it cannot use (the log may not be set up yet).
			fmt.Fprintln(os.Stderr, "slotgate:", err)
		}
		os.Exit(1)
	}
}

func run(argv []string) error {
	if len(argv) > 0 && argv[0] == "tune" {
		return runTune(argv[1:], os.Stdout, tuning.Default())
	}
	src, err := settings.ParseArgs(argv)
	if errors.Is(err, settings.ErrHelp) {
		settings.Usage(os.Stdout)
		return nil
	}
	if err != nil {
		return fmt.Errorf("%w (slotgate -h lists the flags)", err)
	}
	if src.Version {
		fmt.Println("slotgate", server.Version)
		return nil
	}
	st, err := loadSettings(src)
	if err != nil {
		return err
	}
	level := new(slog.LevelVar) // log.level reloads
	logger, err := newLogger(os.Stderr, st.Log.Format, level)
	if err != nil {
		return err
	}
	if err := level.UnmarshalText([]byte(st.Log.Level)); err != nil {
		return err
	}
	slog.SetDefault(logger)
	if src.File != "" {
		logger.Info("settings read", "file", src.File, "note", "flags given win over it; SIGHUP reads it again")
	}

	sys := tuning.Default()
	sys.MaxFDs = uint64(st.MaxFDs)
	reexecuted := os.Getenv(reexecEnv) != ""
	if reexecuted {
		os.Unsetenv(reexecEnv) // not for slotgate's children
		logger.Info("tune: re-executed: the listener's backlog is somaxconn now")
	} else if st.Tune && shouldReexec(startTuning(sys, true, logger), os.Getenv) {
		logger.Info("tune: re-executing once: gnet read somaxconn before main, so only a fresh start gives the listener the new backlog")
		err := reexec()
		logger.Warn("tune: re-exec failed; the listener keeps the backlog read at start", "err", err)
	}
	clientCap := fitClients(st.MaxFDs, logger)
	if !st.Tune {
		startTuning(sys, false, logger) // after fitClients: the open-file limit as raised
	}

	budget := int64(st.MaxMemory)
	if budget == 0 {
		budget = server.DefaultMaxMemory()
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		// Collect harder as the heap nears the budget, so freed client buffers leave the RSS
		// soon (the budget counts client bytes; the rest of slotgate needs far less).
		debug.SetMemoryLimit(budget + 64<<20)
	}
	stall := st.Cluster.BackendStall
	if stall == 0 {
		stall = -1 // router.Config: negative is never, 0 the default
	}
	rf, _ := router.ParseReadFrom(st.Cluster.ReadFrom) // checked by settings
	rt := router.New(router.Config{
		Seeds: st.Cluster.Seeds, User: st.Cluster.User, Password: st.Cluster.Password, DialTimeout: st.Cluster.ConnectTimeout,
		Refresh: st.Cluster.Refresh, DownPoll: st.Cluster.DownPoll, RetryWindow: st.Cluster.RetryWindow, BackendStall: stall,
		RequestTimeout: st.Cluster.RequestTimeout, ReadFrom: rf, MaxDedicated: st.Cluster.MaxDedicated,
		WaitForCluster: st.Cluster.WaitForCluster, Logger: logger,
	})
	live := liveSettings(st, clientCap, logger)
	srv := server.New(server.Config{
		Listen: st.Listen, Loops: st.Loops, Password: live.Password,
		SoftLimit: live.SoftLimit, HardLimit: live.HardLimit, MaxInflight: live.MaxInflight, MaxRequest: live.MaxRequest,
		MaxClients: live.MaxClients, IdleTimeout: live.IdleTimeout, Protected: st.Client.Protected, MaxMemory: budget,
		ScriptCache: live.ScriptCache, MaxMergeBytes: live.MaxMergeBytes, Announce: st.Announce,
		HotKeySample: hotKeySample(st), Deny: live.Deny, Allow: live.Allow, Logger: logger,
	}, rt)
	rl := &reloader{src: src, cur: st, srv: srv, rt: rt, clientCap: clientCap, log: logger, level: level}

	if st.Admin != "" {
		if err := serveAdmin(st.Admin, srv, logger); err != nil {
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
	signal.Notify(sigc, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	select {
	case err := <-errc:
		return err
	case err := <-rtErr:
		return err
	case <-srv.Booted():
		logger.Info("listening", "listen", st.Listen, "loops", st.Loops, "seeds", strings.Join(st.Cluster.Seeds, ","), "max_memory", budget)
	}
	for stop := false; !stop; {
		select {
		case err := <-errc:
			return err
		case err := <-rtErr:
			return err
		case sig := <-sigc:
			if sig == syscall.SIGHUP {
				rl.reload()
				continue
			}
			logger.Info("draining", "signal", sig.String())
			stop = true
		}
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
	mux.HandleFunc("/debug/mallocs", serveMallocs)
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

// serveMallocs answers the count go_memstats_mallocs_total reports (heap objects allocated since
// the start) and nothing else. slotbench reads it before and after each measurement to count
// allocations per request: a /metrics scrape allocates about a thousand objects itself, which
// it would count as the measured load's (0.004 per request in a cell of 250,000).
func serveMallocs(w http.ResponseWriter, _ *http.Request) {
	s := [2]rtmetrics.Sample{{Name: "/gc/heap/allocs:objects"}, {Name: "/gc/heap/tiny/allocs:objects"}}
	rtmetrics.Read(s[:])
	var b [24]byte
	w.Write(strconv.AppendUint(b[:0], s[0].Value.Uint64()+s[1].Value.Uint64(), 10))
}

// reservedFDs are the file descriptors kept for slotgate's own use beside its clients: backend
// connections (per event loop, per node and protocol), epoll and eventfds, the admin port.
const reservedFDs = 128

// fitClients raises the open-file limit toward maxFDs and returns how many clients it holds
// beside slotgate's own descriptors (0: no bound known). As Redis does, maxclients is lowered
// (saying so) to that: past the limit gnet's accept fails and clients hang instead of reading
// a clear error.
func fitClients(maxFDs int, log *slog.Logger) int {
	before, after, err := tuning.RaiseNoFile(uint64(maxFDs))
	switch {
	case err != nil:
		log.Warn("open-file limit not raised", "err", err, "limit", before)
	case after != before:
		log.Info("open-file limit raised", "from", before, "to", after)
	}
	if after > reservedFDs {
		return int(after - reservedFDs)
	}
	return 0
}
