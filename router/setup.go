package router

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// SetupError says why the router has no topology: the last discovery's error with its cause.
type SetupError struct {
	Cause    string    // a short label: auth, noperm, no_cluster, bad_address, dns, unreachable, no_slots, other
	Definite bool      // every seed failed in a way no retry mends (wrong password, no cluster support...)
	Err      error     // what the seeds answered
	At       time.Time // when
}

func (e *SetupError) Error() string { return e.Err.Error() }
func (e *SetupError) Unwrap() error { return e.Err }

// Hint says what to change for a definite cause ("" for the others).
func (e *SetupError) Hint() string {
	switch e.Cause {
	case "auth":
		return "check -backend-password and -backend-user"
	case "noperm":
		return "the backend user needs CLUSTER, CONFIG GET and the data commands"
	case "no_cluster":
		return "-cluster must name nodes of a Redis Cluster (cluster-enabled yes)"
	case "bad_address":
		return "-cluster takes comma-separated HOST:PORT seeds"
	}
	return ""
}

// LastError returns why the last topology discovery failed, nil once one succeeded (a
// *SetupError otherwise). For readiness checks and the clients' CLUSTERDOWN. Any goroutine.
func (r *Router) LastError() error {
	if e := r.lastErr.Load(); e != nil {
		return e
	}
	return nil
}

// noteDiscoverFailed records a failed discovery: LastError, and the metric by cause.
func (r *Router) noteDiscoverFailed(err error) *SetupError {
	se := classifySetup(err)
	r.lastErr.Store(se)
	metrics.GetOrCreateCounter(`slotgate_topology_errors_total{cause="` + se.Cause + `"}`).Inc()
	return se
}

// classifySetup reads the cause of a discovery error (one error per seed, joined). It is
// definite when every seed failed in a way that a retry cannot mend.
func classifySetup(err error) *SetupError {
	se := &SetupError{Err: err, At: time.Now(), Definite: true}
	parts := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		parts = j.Unwrap()
	}
	causeDefinite := false // se.Cause came from a definite failure
	for _, p := range parts {
		cause, definite := setupCause(p)
		if se.Cause == "" || definite && !causeDefinite { // a definite cause names the problem best
			se.Cause, causeDefinite = cause, definite
		}
		se.Definite = se.Definite && definite
	}
	if se.Cause == "" {
		se.Cause, se.Definite = "other", false
	}
	return se
}

// setupCause classifies one seed's error.
func setupCause(err error) (cause string, definite bool) {
	var ae *net.AddrError
	var de *net.DNSError
	text := err.Error()
	switch {
	case errors.Is(err, ErrWrongPassword), strings.Contains(text, "NOAUTH"), strings.Contains(text, "WRONGPASS"),
		strings.Contains(text, "without any password configured"):
		return "auth", true
	case strings.Contains(text, "NOPERM"):
		return "noperm", true
	case strings.Contains(text, "cluster support disabled"):
		return "no_cluster", true
	case errors.As(err, &ae):
		return "bad_address", true
	case errors.As(err, &de) && de.Err == "unknown port": // "host:nosuchservice"
		return "bad_address", true
	case errors.As(err, &de):
		return "dns", false // a name may resolve later (a container not started yet)
	case strings.Contains(text, "no master serves any slot"):
		return "no_slots", false
	case errors.Is(err, errNoNodes):
		return "other", false
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return "unreachable", false
	}
	return "other", false
}

// logTopology logs a published topology in one line, and each master replaced (a failover) or
// lost in one line of its own.
func logTopology(log *slog.Logger, old, t *Topology) {
	if old != nil {
		for i, m := range old.Masters {
			if slices.Contains(t.Masters, m) {
				continue
			}
			s := slices.IndexFunc(old.owner[:], func(o int16) bool { return int(o) == i })
			if s < 0 {
				continue
			}
			if sh := t.Shard(uint16(s)); sh >= 0 {
				// The new master's slots: the old map may already be patched by MOVED replies.
				log.Warn("master replaced", "old", m, "new", t.Masters[sh], "epoch", t.Epoch(sh), "slots", t.slotRanges(sh))
			} else {
				log.Warn("master lost", "old", m, "slots", old.slotRanges(i))
			}
		}
	}
	var epoch uint64
	replicas := 0
	for i := range t.Masters {
		epoch = max(epoch, t.Epoch(i))
	}
	for _, rs := range t.Replicas {
		replicas += len(rs)
	}
	log.Info("topology changed", "masters", len(t.Masters), "replicas", replicas, "slots_ok", t.Covered(),
		"epoch", epoch, "shards", t.String())
}

// setupText is the cause in one line for a client's error (CRLF would end the RESP error).
func setupText(err error) string {
	s := strings.NewReplacer("\r", " ", "\n", " ").Replace(err.Error())
	if len(s) > 400 {
		s = s[:400] + "..."
	}
	return s
}

// NoTopologyReason is LastError in one line for a client's error ("" while none). Any goroutine.
func (r *Router) NoTopologyReason() string {
	se := r.lastErr.Load()
	if se == nil {
		return ""
	}
	if h := se.Hint(); h != "" {
		return fmt.Sprintf("%s: %s (%s)", se.Cause, setupText(se.Err), h)
	}
	return se.Cause + ": " + setupText(se.Err)
}
