package server

import (
	"context"
	"log/slog"
	"sync"

	"github.com/slotgate/slotgate/internal/lograte"
)

// limitLogs bound the lines of events a client can repeat at will: one line per interval each,
// the rest counted (the metrics count every one).
type limitLogs struct {
	overLimit  lograte.Limiter // a client disconnected over the hard limit
	maxClients lograte.Limiter // a client refused past -maxclients
	budget     lograte.Limiter // client buffers went over -max-memory
	evict      lograte.Limiter // a client disconnected over -max-memory
	kill       lograte.Limiter // CLIENT KILL
	readGate   lograte.Limiter // epoll_ctl failures

	gnetMu sync.Mutex
	gnet   map[string]*lograte.Limiter // per gnet format string (a fixed set): Accept() failing at the fd limit repeats per round
}

// gnetLimiter returns the limiter of gnet's lines with format f.
func (l *limitLogs) gnetLimiter(f string) *lograte.Limiter {
	l.gnetMu.Lock()
	defer l.gnetMu.Unlock()
	if l.gnet == nil {
		l.gnet = map[string]*lograte.Limiter{}
	}
	lim := l.gnet[f]
	if lim == nil {
		lim = &lograte.Limiter{}
		l.gnet[f] = lim
	}
	return lim
}

// logLimit logs msg unless l logged one within its interval; the line says how many were not
// logged since the last.
func (srv *Server) logLimit(l *lograte.Limiter, level slog.Level, msg string, args ...any) {
	if ok, n := l.Allow(); ok {
		if n > 0 {
			args = append(args, "not_logged", n)
		}
		srv.log.Log(context.Background(), level, msg, args...)
	}
}
