// Package lograte bounds the log lines of events a client can repeat at will (a client over
// its limit, CLIENT KILL, a refused subscription): at most one line per interval for each kind
// of event; the events in between are only counted, and the next line says how many.
package lograte

import (
	"sync"
	"time"
)

// Every is the interval used by a zero Limiter.
const Every = 10 * time.Second

// Limiter lets one event of its kind be logged per interval. The zero value is ready to use
// (interval Every). Any goroutine.
type Limiter struct {
	Interval time.Duration // 0: Every

	mu      sync.Mutex
	last    time.Time // when the last line was allowed
	skipped int       // events not logged since then
}

// Allow reports whether this event is logged and, if so, how many events of its kind were not
// logged since the last line (log it, e.g. as "not_logged").
func (l *Limiter) Allow() (ok bool, skipped int) {
	return l.allow(time.Now())
}

func (l *Limiter) allow(now time.Time) (bool, int) {
	every := l.Interval
	if every <= 0 {
		every = Every
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.last.IsZero() && now.Sub(l.last) < every {
		l.skipped++
		return false, 0
	}
	n := l.skipped
	l.last, l.skipped = now, 0
	return true, n
}
