package server

import (
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"
)

// Protected mode's decision, for peers a test cannot connect from (tests stay on loopback).
func TestProtectedModeRefusesNonLoopbackPeers(t *testing.T) {
	tcp := func(ip string) net.Addr { return &net.TCPAddr{IP: net.ParseIP(ip), Port: 40000} }
	cases := []struct {
		peer      net.Addr
		protected bool
		password  string
		refused   bool
	}{
		{tcp("10.1.2.3"), true, "", true},
		{tcp("192.168.0.7"), true, "", true},
		{tcp("2001:db8::1"), true, "", true},
		{tcp("::ffff:10.1.2.3"), true, "", true},
		{tcp("127.0.0.1"), true, "", false},
		{tcp("127.8.9.10"), true, "", false},
		{tcp("::1"), true, "", false},
		{tcp("::ffff:127.0.0.1"), true, "", false},
		{&net.UnixAddr{Name: "/tmp/s", Net: "unix"}, true, "", false},
		{tcp("10.1.2.3"), true, "secret", false}, // a password protects it
		{tcp("10.1.2.3"), false, "", false},      // protected mode off: served (and warned about)
	}
	for _, c := range cases {
		srv := New(Config{Listen: "0.0.0.0:22121", Protected: c.protected, Password: c.password}, nil)
		if got := srv.refusesPeer(c.peer); got != c.refused {
			t.Errorf("peer %v, protected %v, password %q: refused %v, want %v", c.peer, c.protected, c.password, got, c.refused)
		}
		reply := srv.admit(c.peer)
		if c.refused && string(reply) != string(errProtected) || !c.refused && reply != nil {
			t.Errorf("peer %v: admit = %.40q", c.peer, reply)
		}
		if want := int64(0); !c.refused {
			want = 1
			if n := srv.clients.Load(); n != want {
				t.Errorf("peer %v: %d clients counted, want %d", c.peer, n, want)
			}
		}
	}
	if !strings.HasPrefix(string(errProtected), "-DENIED ") || !strings.HasSuffix(string(errProtected), "\r\n") ||
		strings.Count(string(errProtected), "\r\n") != 1 {
		t.Fatalf("the protected-mode reply is not one RESP error line: %q", errProtected)
	}
}

// Listening beyond loopback with no password and no protected mode is logged at start and
// every minute while it lasts; never otherwise.
func TestExposureWarnedEveryMinute(t *testing.T) {
	var logged []string
	logger := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		logged = append(logged, string(p))
		return len(p), nil
	}), nil))
	t0 := time.Now()
	srv := New(Config{Listen: "0.0.0.0:22121", Logger: logger}, nil)
	for _, at := range []time.Duration{0, time.Second, 59 * time.Second, 61 * time.Second, 90 * time.Second, 122 * time.Second} {
		srv.warnExposure(t0.Add(at))
	}
	if len(logged) != 3 || !strings.Contains(logged[0], "level=WARN") || !strings.Contains(logged[0], "without -password") {
		t.Fatalf("warnings at 0, 1, 59, 61, 90, 122 s: got %d (%q), want 3 (0, 61, 122 s)", len(logged), logged)
	}
	for _, cfg := range []Config{
		{Listen: "0.0.0.0:22121", Password: "p"},
		{Listen: "0.0.0.0:22121", Protected: true},
		{Listen: "127.0.0.1:22121"},
		{Listen: "[::1]:22121"},
		{Listen: "localhost:22121"},
	} {
		logged = nil
		cfg.Logger = logger
		New(cfg, nil).warnExposure(t0)
		if len(logged) != 0 {
			t.Errorf("%+v: warned %q", cfg, logged)
		}
	}
}

// writerFunc is an io.Writer made of a function (a slog handler writing to a test's slice).
type writerFunc func(p []byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// A limit a client can hit again and again writes one line per interval, the next one counting
// the events left out.
func TestLimitLogBounded(t *testing.T) {
	var logged []string
	srv := New(Config{Logger: slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
		logged = append(logged, string(p))
		return len(p), nil
	}), nil))}, nil)
	for i := range 1000 {
		srv.logLimit(&srv.logs.overLimit, slog.LevelWarn, "limit hit: client disconnected over the hard limit", "client", i)
	}
	if len(logged) != 1 || !strings.Contains(logged[0], `level=WARN msg="limit hit: client disconnected over the hard limit" client=0`) {
		t.Errorf("1000 events: logged %q, want one line", logged)
	}
}
