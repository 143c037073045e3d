// Package router knows the cluster: its topology (which master serves each slot), each event
// loop's pipelined connections to the masters, and the replies that say the topology moved.
// It knows shards and slots, never client sessions: replies go to a Sink.
package router

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/slotgate/slotgate/codec"
)

// Config is what the router needs to reach the cluster.
type Config struct {
	Seeds       []string      // HOST:PORT of nodes to ask for the topology
	User        string        // backend ACL user
	Password    string        // backend password
	DialTimeout time.Duration // connect + AUTH timeout (default 1 s)
	Logf        func(format string, args ...any)
}

// Router owns the current topology and how to reach its nodes.
type Router struct {
	cfg    Config
	dialer Dialer
	topo   atomic.Pointer[Topology]
}

// New returns a router with no topology yet; Run finds one.
func New(cfg Config) *Router {
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = time.Second
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	return &Router{cfg: cfg, dialer: Dialer{User: cfg.User, Password: cfg.Password, Timeout: cfg.DialTimeout}}
}

func (r *Router) logf(format string, args ...any) { r.cfg.Logf(format, args...) }

// Seeds returns the configured seed addresses.
func (r *Router) Seeds() []string { return r.cfg.Seeds }

// Topology returns the current topology, nil until one is known.
func (r *Router) Topology() *Topology { return r.topo.Load() }

// Publish makes t the current topology (loops pick it up on their next request).
func (r *Router) Publish(t *Topology) { r.topo.Store(t) }

// Run asks the seeds for the topology, retrying with capped exponential backoff until one answers
// with every slot served (or ctx ends), and publishes it.
func (r *Router) Run(ctx context.Context) error {
	backoff := 50 * time.Millisecond
	for {
		t, err := r.Discover(ctx)
		if err == nil {
			r.Publish(t)
			r.logf("topology: %s", t)
			return nil
		}
		r.logf("no topology yet: %v; retrying in %v", err, backoff)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff + rand.N(backoff/2)):
		}
		backoff = min(backoff*2, 2*time.Second)
	}
}

// Discover asks each seed for CLUSTER NODES and merges the views that answered.
func (r *Router) Discover(ctx context.Context) (*Topology, error) {
	var views [][]NodeInfo
	var errs []error
	for _, seed := range r.cfg.Seeds {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		nodes, err := r.clusterNodes(seed)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		views = append(views, nodes)
	}
	if len(views) == 0 {
		return nil, errors.Join(errs...)
	}
	t := BuildTopology(views...)
	if len(t.Masters) == 0 {
		return nil, fmt.Errorf("seeds %s: no master serves any slot", strings.Join(r.cfg.Seeds, ","))
	}
	return t, nil
}

func (r *Router) clusterNodes(addr string) ([]NodeInfo, error) {
	c, err := r.dialer.Dial(addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", addr, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(r.cfg.DialTimeout))
	reply, err := RoundTrip(c, "CLUSTER", "NODES")
	if err != nil {
		return nil, fmt.Errorf("%s: CLUSTER NODES: %w", addr, err)
	}
	if codec.IsError(reply) {
		return nil, fmt.Errorf("%s: CLUSTER NODES: %s", addr, codec.ErrorText(reply))
	}
	text, ok := codec.BulkText(reply)
	if !ok {
		return nil, fmt.Errorf("%s: CLUSTER NODES: unexpected reply %.40q", addr, reply)
	}
	return ParseClusterNodes(string(text), addr)
}

// Metrics.
var (
	redirectsMoved    = metrics.NewCounter(`slotgate_redirects_total{kind="moved"}`)
	redirectsAsk      = metrics.NewCounter(`slotgate_redirects_total{kind="ask"}`)
	redirectsTryAgain = metrics.NewCounter(`slotgate_redirects_total{kind="tryagain"}`)
	backendConns      = metrics.NewCounter(`slotgate_backend_connections`)
	backendDialErrors = metrics.NewCounter(`slotgate_backend_dial_errors_total`)
	flushesDeferred   = metrics.NewCounter(`slotgate_flushes_deferred_total`)
)

// countRedirect counts MOVED/ASK/TRYAGAIN replies.
func (r *Router) countRedirect(reply []byte) {
	if len(reply) < 4 || reply[0] != '-' {
		return
	}
	switch {
	case hasPrefix(reply[1:], "MOVED "):
		redirectsMoved.Inc()
	case hasPrefix(reply[1:], "ASK "):
		redirectsAsk.Inc()
	case hasPrefix(reply[1:], "TRYAGAIN"):
		redirectsTryAgain.Inc()
	}
}

func hasPrefix(b []byte, p string) bool { return len(b) >= len(p) && string(b[:len(p)]) == p }

// Error replies the router makes itself.
func errBackendConnect(addr string, err error) []byte {
	return codec.AppendError(nil, fmt.Sprintf("CLUSTERDOWN slotgate cannot reach node %s: %v", addr, err))
}

func errBackendLost(addr, why string) []byte {
	return codec.AppendError(nil, fmt.Sprintf("ERR slotgate lost the connection to node %s before its reply (%s)", addr, why))
}
