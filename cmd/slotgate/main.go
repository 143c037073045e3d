// Command slotgate is a Redis Cluster proxy: plain (non-cluster) Redis clients connect to one
// endpoint and see one big Redis, while slotgate routes each command to the right shard.
package main

import (
	"context"
	"errors"

	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime/debug"

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
	if err := run(os.Args[1:]); err != nil {
		log.Printf("slotgate: %v", err)
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
	logf := log.New(os.Stderr, "slotgate ", log.LstdFlags|log.Lmicroseconds).Printf
	if src.File != "" {
		logf("settings from %s (flags given win over it; SIGHUP reads it again)", src.File)
	}

	sys := tuning.Default()
	sys.MaxFDs = uint64(st.MaxFDs)
	reexecuted := os.Getenv(reexecEnv) != ""
	if reexecuted {
		os.Unsetenv(reexecEnv) // not for slotgate's children
		logf("tune: re-executed: the listener's backlog is somaxconn now")
	} else if st.Tune && shouldReexec(startTuning(sys, true, logf), os.Getenv) {
		logf("tune: re-executing once: gnet read somaxconn before main, so only a fresh start gives the listener the new backlog")
		err := reexec()
		logf("tune: re-exec: %v; the listener keeps the backlog read at start", err)
	}
	clientCap := fitClients(st.MaxFDs, logf)
	if !st.Tune {
		startTuning(sys, false, logf) // after fitClients: the open-file limit as raised
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
		RequestTimeout: st.Cluster.RequestTimeout, ReadFrom: rf, MaxDedicated: st.Cluster.MaxDedicated, Logf: logf,
	})
	live := liveSettings(st, clientCap, logf)
	srv := server.New(server.Config{
		Listen: st.Listen, Loops: st.Loops, Password: live.Password,
		SoftLimit: live.SoftLimit, HardLimit: live.HardLimit, MaxInflight: live.MaxInflight, MaxRequest: live.MaxRequest,
		MaxClients: live.MaxClients, IdleTimeout: live.IdleTimeout, Protected: st.Client.Protected, MaxMemory: budget,
		ScriptCache: live.ScriptCache, MaxMergeBytes: live.MaxMergeBytes, Announce: st.Announce,
		Deny: live.Deny, Allow: live.Allow, Logf: logf,
	}, rt)
	rl := &reloader{src: src, cur: st, srv: srv, rt: rt, clientCap: clientCap, logf: logf}

	if st.Admin != "" {
		if err := serveAdmin(st.Admin, logf); err != nil {
			return err
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go rt.Run(ctx) //nolint:errcheck // logs its own progress; ends with ctx

	errc := make(chan error, 1)
	go func() { errc <- srv.Run() }()
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	select {
	case err := <-errc:
		return err
	case <-srv.Booted():
		logf("listening on %s (%d event loop(s)), cluster seeds %s, client buffers up to %d bytes (-max-memory)",
			st.Listen, st.Loops, strings.Join(st.Cluster.Seeds, ","), budget)
	}
	for stop := false; !stop; {
		select {
		case err := <-errc:
			return err
		case sig := <-sigc:
			if sig == syscall.SIGHUP {
				rl.reload()
				continue
			}
			logf("%v: draining", sig)
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
	logf("stopped")
	return nil
}

// serveAdmin serves Prometheus metrics (with Go runtime and process metrics) on addr.
func serveAdmin(addr string, logf func(string, ...any)) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("admin listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) {
		metrics.WritePrometheus(w, true)
	})
	mux.HandleFunc("/debug/pprof/", pprof.Index) // profiles: measure before guessing
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	go func() {
		if err := http.Serve(ln, mux); err != nil {
			logf("admin server: %v", err)
		}
	}()
	return nil
}

// reservedFDs are the file descriptors kept for slotgate's own use beside its clients: backend
// connections (per event loop, per node and protocol), doorbells, epoll, the admin port.
const reservedFDs = 128

// fitClients raises the open-file limit toward maxFDs and returns how many clients it holds
// beside slotgate's own descriptors (0: no bound known). As Redis does, maxclients is lowered
// (saying so) to that: past the limit gnet's accept fails and clients hang instead of reading
// a clear error.
func fitClients(maxFDs int, logf func(string, ...any)) int {
	before, after, err := tuning.RaiseNoFile(uint64(maxFDs))
	switch {
	case err != nil:
		logf("open-file limit: %v; staying at %d", err, before)
	case after != before:
		logf("open-file limit raised from %d to %d", before, after)
	}
	if after > reservedFDs {
		return int(after - reservedFDs)
	}
	return 0
}
