package server

import (
	"log/slog"
	"net"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"
)

// The limits Redis users know: maxclients, timeout (idle clients) and protected mode, with
// Redis's own replies.

// DefaultMaxClients is Redis's default maxclients.
const DefaultMaxClients = 10000

// Redis's replies to a connection it will not serve, written before the close.
var (
	errMaxClients = []byte("-ERR max number of clients reached\r\n")
	errProtected  = []byte("-DENIED slotgate is running in protected mode because protected mode is enabled " +
		"(-protected) and no password is set (-password). In this mode connections are only accepted from the " +
		"loopback interface. If you want to connect from external computers to slotgate you may adopt one of " +
		"the following solutions: 1) Set a password with -password (or the SLOTGATE_PASSWORD environment " +
		"variable) and restart slotgate; clients then AUTH with it. 2) Restart slotgate without -protected, " +
		"however MAKE SURE slotgate is not publicly accessible from internet if you do so. NOTE: You only need " +
		"to do one of the above things in order for slotgate to start accepting connections from the " +
		"outside.\r\n")
)

// admit decides whether a new client connection is served; if not, it returns the reply to
// write before closing it. Like Redis, the client count is checked first, then protected mode.
// An admitted client is counted until release.
func (srv *Server) admit(remote net.Addr) []byte {
	n := srv.clients.Add(1)
	if n == 1 {
		srv.wakeTicker() // the first client after an idle spell: its timers tick fast from now
	}
	if n > int64(srv.lv().MaxClients) {
		srv.clients.Add(-1)
		rejectedMaxClients.Inc()
		srv.logLimit(&srv.logs.maxClients, slog.LevelWarn, "limit hit: client refused, max number of clients reached",
			"addr", remote.String(), "maxclients", srv.lv().MaxClients)
		return errMaxClients
	}
	if srv.refusesPeer(remote) {
		srv.clients.Add(-1)
		rejectedProtected.Inc()
		return errProtected
	}
	return nil
}

// release uncounts an admitted client that is gone.
func (srv *Server) release() { srv.clients.Add(-1) }

// refusesPeer is protected mode's decision: with -protected and no -password only loopback
// peers are served.
func (srv *Server) refusesPeer(remote net.Addr) bool {
	return srv.cfg.Protected && srv.lv().Password == "" && !isLoopbackPeer(remote)
}

// isLoopbackPeer reports whether a client connected from this host's loopback interface
// (127.0.0.0/8, ::1, or an IPv4 loopback address mapped into IPv6).
func isLoopbackPeer(a net.Addr) bool {
	switch x := a.(type) {
	case *net.TCPAddr:
		return x.IP.IsLoopback()
	case *net.UnixAddr:
		return true
	}
	return false
}

// exposed reports whether anyone who reaches the listen address can use the cluster: listening
// beyond loopback with no -password and no -protected.
func (srv *Server) exposed() bool {
	return srv.lv().Password == "" && !srv.cfg.Protected && !isLoopbackListen(srv.cfg.Listen)
}

// isLoopbackListen reports whether addr only listens on a loopback interface.
func isLoopbackListen(addr string) bool {
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

// warnExposure logs, at start and then every exposureWarnEvery while it lasts, that the
// cluster is open to anyone who reaches the listen address. Called from OnTick.
func (srv *Server) warnExposure(now time.Time) {
	if !srv.exposed() || now.Sub(srv.lastExposureWarn) < exposureWarnEvery {
		return
	}
	srv.lastExposureWarn = now
	srv.log.Warn("listening without -password: anyone who reaches this address can use the cluster; "+
		"set -password, or -protected to serve loopback clients only",
		"listen", srv.cfg.Listen, "clients", srv.clients.Load(), "remote_clients", srv.remoteClients.Load())
}

const exposureWarnEvery = time.Minute

// stampActive records that session s did I/O, for the idle timeout and CLIENT LIST's idle: stores
// of the loop's idle epoch and clock, advanced by the tick, so no request pays for a clock read.
func (s *session) stampActive() { s.lastActive, s.lastSeen = s.lp.epoch, s.lp.clock }

// enroll adds s to its loop's session list (for the idle scan).
func (lp *loop) enroll(s *session) {
	s.lpIndex = len(lp.sessions)
	lp.sessions = append(lp.sessions, s)
}

// unenroll removes s from its loop's session list (swap with the last).
func (lp *loop) unenroll(s *session) {
	last := len(lp.sessions) - 1
	moved := lp.sessions[last]
	lp.sessions[s.lpIndex] = moved
	moved.lpIndex = s.lpIndex
	lp.sessions[last] = nil
	lp.sessions = lp.sessions[:last]
}

// idleEpoch is the idle clock's step. Activity is stamped with the loop's epoch count rather
// than a time: a tick that comes late (a busy loop, a starved ticker) advances the count by one
// step however long the gap was, so a late tick can make a client's close later, never earlier.
const idleEpoch = 100 * time.Millisecond

// closeIdle closes the clients idle longer than -client-idle-timeout, as Redis's timeout does.
// A client is not idle while it waits for something: requests at the backends, replies it has
// not read yet (it may be paused at the soft limit), or a close after its last reply. Runs on
// the loop from its tick; sessions are scanned every tenth of the timeout (1 to 10 epochs).
func (lp *loop) closeIdle(now time.Time) {
	if now.Sub(lp.epochStart) < idleEpoch {
		return
	}
	lp.epoch++
	lp.epochStart = now
	timeout := lp.srv.lv().IdleTimeout
	if timeout <= 0 || lp.epoch-lp.lastScan < idleScanEvery(timeout) {
		return
	}
	lp.lastScan = lp.epoch
	// Stamped in epoch e, a client may have talked at its very end: it has certainly been
	// silent for the timeout once epochs e+1 .. e+n have all passed.
	oldest := lp.epoch - idleEpochs(timeout) - 1
	// Downwards: closing swaps the last session into this index, which was already seen.
	for i := len(lp.sessions) - 1; i >= 0; i-- {
		if i >= len(lp.sessions) {
			continue
		}
		s := lp.sessions[i]
		if s.lastActive > oldest || s.waiting() || s.subscribed() { // Redis spares pub/sub clients too
			continue
		}
		if unreadInput(s.c) {
			// It did talk: the loop has not read it yet (it was busy, or this tick came first).
			s.lastActive = lp.epoch
			continue
		}
		clientsIdleClosed.Inc()
		s.close()
	}
}

// idleEpochs is the timeout in epochs, rounded up.
func idleEpochs(timeout time.Duration) int64 {
	return int64((timeout + idleEpoch - 1) / idleEpoch)
}

// idleScanEvery is how many epochs apart the idle scans run: a tenth of the timeout, between 1
// and 10 (Redis checks each client about once a second).
func idleScanEvery(timeout time.Duration) int64 {
	return min(max(idleEpochs(timeout)/10, 1), 10)
}

// waiting reports whether the client waits on slotgate or the backends, so it is not idle.
func (s *session) waiting() bool {
	return s.closed || s.inflight > 0 || s.paused || s.closeAt != 0 ||
		len(s.out) > 0 || s.unsent > 0 || s.c.OutboundBuffered() > 0
}

// unreadInput reports whether the client's socket holds bytes the loop has not read yet: one
// ioctl, only for a client about to be closed as idle.
func unreadInput(c gnet.Conn) bool {
	if c.InboundBuffered() > 0 {
		return true
	}
	n, err := unix.IoctlGetInt(c.Fd(), unix.SIOCINQ)
	return err == nil && n > 0
}

// OnOpen's refusal: Redis's reply, then the close (gnet writes the bytes before closing).
func refuse(reply []byte) ([]byte, gnet.Action) { return reply, gnet.Close }

var (
	rejectedMaxClients = metrics.NewCounter(`slotgate_client_connections_rejected_total{reason="maxclients"}`)
	commandsDenied     = metrics.NewCounter(`slotgate_commands_denied_total`) // commands.deny
	rejectedProtected  = metrics.NewCounter(`slotgate_client_connections_rejected_total{reason="protected"}`)
	clientsIdleClosed  = metrics.NewCounter(`slotgate_clients_closed_idle_total`)
)
