package server

import (
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"golang.org/x/sys/unix"
)

// The memory budget (-max-memory) covers what every client makes slotgate hold: replies not yet
// taken by the client, requests not yet parsed, and request bytes kept at the router until their
// reply comes (DESIGN "Bounds"). Each session reports its footprint to its loop once per
// callback; the ticker sums the loops.
//
// Near the budget (pressurePercent of it), the per-client soft limit shrinks to a fair share of
// the budget, so the clients holding the most stop being read first while the others go on. If
// the total goes and stays over the budget anyway (clients holding memory that pausing cannot free: replies they do not
// read, a huge request that never completes), the client holding the most on each loop is
// disconnected, one per tick, as Redis's maxmemory-clients does.

// DefaultMaxMemory is a quarter of the machine's (or the container's) memory.
func DefaultMaxMemory() int64 {
	var si unix.Sysinfo_t
	total := int64(8 << 30)
	if unix.Sysinfo(&si) == nil {
		total = int64(si.Totalram) * int64(si.Unit)
	}
	if b, err := os.ReadFile("/sys/fs/cgroup/memory.max"); err == nil {
		if v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && v > 0 && v < total {
			total = v
		}
	}
	return total / 4
}

const (
	minFairShare    = 64 << 10        // the soft limit under pressure never goes below this
	pressurePercent = 90              // clients get a fair share past this part of the budget
	evictAfter      = 1 * time.Second // over the budget this long despite pausing: evict
)

// account records s's footprint in its loop's total: what it holds, plus the replies its
// requests at the backends are expected to bring (sendPart adds each one's as it goes).
func (s *session) account() {
	h := 0
	if !s.closed {
		h = len(s.out) + s.unsent + s.reqBytes + s.c.OutboundBuffered() + s.c.InboundBuffered() + len(s.held) + s.inflight*s.replyEst + s.subBytes()
	}
	s.lp.footprint += int64(h - s.footprint)
	s.footprint = h
}

// softLimit is the per-client soft limit now: the configured one, or a fair share of the
// budget while the loop's clients (and the other loops' at the last tick) are over it. The
// loop's own total is current to the request, so clients that burst together do not all get
// their full soft limit before the ticker notices.
func (s *session) softLimit() int {
	if lp := s.lp; lp.footprint+lp.others > s.srv.pressureAt {
		return int(s.srv.fairShare.Load())
	}
	return s.srv.lv().SoftLimit
}

// checkBudget runs on the ticker: it publishes the fair share and each loop's view of the
// others, and when pausing has not brought the total under the budget for evictAfter, asks
// each loop to evict its largest client.
func (srv *Server) checkBudget(now time.Time) {
	var total int64
	for _, lp := range srv.loopList() {
		total += lp.footprintPub.Load()
	}
	for _, lp := range srv.loopList() {
		lp.othersPub.Store(total - lp.footprintPub.Load())
	}
	memoryHeld.Set(float64(max(total, 0)))
	budget := srv.cfg.MaxMemory
	n := max(int64(clientsConnected.Get()), 1)
	srv.fairShare.Store(min(int64(srv.lv().SoftLimit), max(budget/(4*n), minFairShare)))
	if total <= budget {
		srv.overSince = time.Time{}
		return
	}
	if srv.overSince.IsZero() {
		srv.overSince = now
		srv.logLimit(&srv.logs.budget, slog.LevelWarn, "limit hit: client buffers over -max-memory; reading only from clients under their fair share",
			"held", total, "max_memory", budget)
	}
	if now.Sub(srv.overSince) > evictAfter {
		for _, lp := range srv.loopList() {
			lp.evict.Store(true)
		}
	}
}

// evictLargest disconnects the loop's client holding the most memory.
func (lp *loop) evictLargest() {
	var big *session
	for _, s := range lp.sessions {
		if !s.closed && (big == nil || s.footprint > big.footprint) {
			big = s
		}
	}
	if big == nil || big.footprint == 0 {
		return
	}
	lp.srv.logLimit(&lp.srv.logs.evict, slog.LevelWarn, "limit hit: client disconnected over -max-memory", "client", big.id,
		"addr", big.c.RemoteAddr().String(), "holds", big.footprint, "max_memory", lp.srv.cfg.MaxMemory)
	clientsEvicted.Inc()
	big.close()
}

var (
	memoryHeld     = metrics.NewGauge(`slotgate_client_buffer_bytes`, nil)
	clientsEvicted = metrics.NewCounter(`slotgate_clients_evicted_total`)
)
