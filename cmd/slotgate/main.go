// Command slotgate is a Redis Cluster proxy: plain (non-cluster) Redis clients connect to one
// endpoint and see one big Redis, while slotgate routes each command to the right shard.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/slotgate/slotgate/router"
	"github.com/slotgate/slotgate/server"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		log.Printf("slotgate: %v", err)
		os.Exit(1)
	}
}

func run(argv []string) error {
	fs := flag.NewFlagSet("slotgate", flag.ContinueOnError)
	var (
		listen      = fs.String("listen", ":22121", "address clients connect to")
		cluster     = fs.String("cluster", "127.0.0.1:7000", "comma-separated HOST:PORT seeds of the Redis Cluster")
		backendPass = fs.String("backend-password", "", "password for the cluster nodes (or env SLOTGATE_BACKEND_PASSWORD)")
		backendUser = fs.String("backend-user", "", "ACL user for the cluster nodes (default user when empty)")
		password    = fs.String("password", "", "password clients must AUTH with (or env SLOTGATE_PASSWORD); empty: any AUTH succeeds")
		admin       = fs.String("admin", "127.0.0.1:22122", "address serving /metrics and /debug/pprof (empty: off)")
		loops       = fs.Int("loops", 1, "event loops (1 measured faster than one per CPU on 2-core machines shared with Redis)")
		softLimit   = fs.Int("client-soft-limit", server.DefaultSoftLimit, "per client: stop reading requests past this many unread reply bytes")
		hardLimit   = fs.Int("client-hard-limit", server.DefaultHardLimit, "per client: disconnect past this many unread reply bytes or unparsed request bytes")
		maxInflight = fs.Int("client-max-inflight", server.DefaultMaxInflight, "per client: stop reading requests with this many at the backends")
		dialTimeout = fs.Duration("connect-timeout", time.Second, "backend connect and AUTH timeout")
		refresh     = fs.Duration("refresh", 5*time.Second, "topology refresh period (also at once on MOVED, a node lost, CLUSTERDOWN)")
		downPoll    = fs.Duration("down-poll", 100*time.Millisecond, "topology refresh period while a slot's master is unreachable")
		retryWindow = fs.Duration("retry-window", 0, "how long a request not yet sent waits for a reachable owner before -CLUSTERDOWN (0: 2 x the nodes' cluster-node-timeout + 2s, within [2s, 60s]; 2s where CONFIG GET is refused)")
		stall       = fs.Duration("backend-stall", 5*time.Second, "reconnect a node silent this long with requests outstanding (negative: never)")
		reqTimeout  = fs.Duration("request-timeout", 0, "answer -ERR timeout to a request unanswered this long; its reply is dropped when it comes (0: no limit but -backend-stall)")
		readFrom    = fs.String("read-from", "master", "where read-only commands go: master, replica (replicas, the master when none is healthy) or prefer-replica (replicas and the master alike)")
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
	logf := log.New(os.Stderr, "slotgate ", log.LstdFlags|log.Lmicroseconds).Printf

	rf, err := router.ParseReadFrom(*readFrom)
	if err != nil {
		return err
	}
	seeds := strings.Split(*cluster, ",")
	rt := router.New(router.Config{
		Seeds: seeds, User: *backendUser, Password: *backendPass, DialTimeout: *dialTimeout,
		Refresh: *refresh, DownPoll: *downPoll, RetryWindow: *retryWindow, BackendStall: *stall,
		RequestTimeout: *reqTimeout, ReadFrom: rf, Logf: logf,
	})
	srv := server.New(server.Config{
		Listen: *listen, Loops: *loops, Password: *password,
		SoftLimit: *softLimit, HardLimit: *hardLimit, MaxInflight: *maxInflight, Logf: logf,
	}, rt)
	if *password == "" && !isLoopback(*listen) {
		logf("WARNING: listening on %s without -password: anyone who reaches this address can use the cluster", *listen)
	}

	if *admin != "" {
		if err := serveAdmin(*admin, logf); err != nil {
			return err
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go rt.Run(ctx) //nolint:errcheck // logs its own progress; ends with ctx

	errc := make(chan error, 1)
	go func() { errc <- srv.Run() }()
	sigc := make(chan os.Signal, 1)
	signal.Notify(sigc, syscall.SIGINT, syscall.SIGTERM)
	select {
	case err := <-errc:
		return err
	case <-srv.Booted():
		logf("listening on %s (%d event loop(s)), cluster seeds %s", *listen, *loops, *cluster)
	}
	select {
	case err := <-errc:
		return err
	case sig := <-sigc:
		logf("%v: draining", sig)
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

// isLoopback reports whether addr only listens on a loopback interface.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
