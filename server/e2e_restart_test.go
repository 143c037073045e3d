package server_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slotgate/slotgate/router"
	"github.com/slotgate/slotgate/server"
)

// runProxyAt runs an in-process slotgate (with its own router) on addr and returns it and a
// stop function that drains it and waits until Run returned. Run's error is returned at once
// when the server does not boot.
func runProxyAt(t *testing.T, addr string, mod func(*server.Config)) (*server.Server, func(), error) {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx, cancel := context.WithCancel(context.Background())
	rt := router.New(router.Config{Seeds: cluster.Seeds()[:1], Password: cluster.Password, Logger: logger})
	if err := rt.Run(ctx); err != nil {
		cancel()
		t.Fatalf("router: %v", err)
	}
	cfg := server.Config{Listen: addr, Loops: 1, Logger: logger}
	if mod != nil {
		mod(&cfg)
	}
	srv := server.New(cfg, rt)
	errc := make(chan error, 1)
	go func() { errc <- srv.Run() }()
	select {
	case <-srv.Booted():
	case err := <-errc:
		cancel()
		return nil, nil, err
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			sctx, scancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer scancel()
			_ = srv.Stop(sctx)
			<-errc
			cancel()
		})
	}
	t.Cleanup(stop)
	return srv, stop, nil
}

// TestE2ERestartSameAddress stops slotgate with 100 clients connected (half of them then close,
// leaving TIME_WAIT entries on the listen port, half stay open) and starts it again on the same
// address at once, as a supervisor's restart does: the new listener must bind and serve.
func TestE2ERestartSameAddress(t *testing.T) {
	addr := freeAddr(t)
	_, stop, err := runProxyAt(t, addr, nil)
	if err != nil {
		t.Fatalf("first start: %v", err)
	}
	const clients = 100
	conns := make([]*rawConn, clients)
	for i := range conns {
		conns[i] = dialRaw(t, addr)
		if r := conns[i].do("SET", "restart:"+string(rune('a'+i%26)), "v"); r != "+OK\r\n" {
			t.Fatalf("client %d: SET = %q", i, r)
		}
	}
	stop() // the server closes first: its side of every connection waits in FIN_WAIT/TIME_WAIT
	for _, rc := range conns[:clients/2] {
		rc.c.Close()
	}
	time.Sleep(50 * time.Millisecond) // let the closes reach the server side (TIME_WAIT)
	lingering := socketsOnPort(t, addr)
	t.Logf("sockets left on the listen port after the stop: %v", lingering)
	if lingering["TIME_WAIT"] == 0 {
		t.Fatalf("no TIME_WAIT socket on %s after the stop: the test would prove nothing", addr)
	}

	t0 := time.Now()
	_, _, err = runProxyAt(t, addr, nil)
	if err != nil {
		t.Fatalf("restart on %s right after a stop with %d clients connected: %v", addr, clients, err)
	}
	t.Logf("restarted in %v", time.Since(t0))
	rc := dialRaw(t, addr)
	if r := rc.do("SET", "restart:k", "after"); r != "+OK\r\n" {
		t.Fatalf("SET after restart = %q", r)
	}
	if r := rc.do("GET", "restart:k"); r != bulkOf("after") {
		t.Fatalf("GET after restart = %q", r)
	}
}

// TestE2ESecondServerOnLiveAddress: a second slotgate on the address of a live one must fail with
// ErrAddrInUse (the listener allows TIME_WAIT reuse, never a second live listener), and the
// first keeps serving.
func TestE2ESecondServerOnLiveAddress(t *testing.T) {
	addr := freeAddr(t)
	if _, _, err := runProxyAt(t, addr, nil); err != nil {
		t.Fatalf("first start: %v", err)
	}
	rc := dialRaw(t, addr)
	if r := rc.do("PING"); r != "+PONG\r\n" {
		t.Fatalf("PING = %q", r)
	}
	_, _, err := runProxyAt(t, addr, nil)
	if !errors.Is(err, server.ErrAddrInUse) {
		t.Fatalf("second server on the live address %s: got %v, want ErrAddrInUse", addr, err)
	}
	// Likewise on an address held by another program's listener (Go's net.Listen sets
	// SO_REUSEADDR on Unix, as slotgate's listener does).
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if _, _, err := runProxyAt(t, ln.Addr().String(), nil); !errors.Is(err, server.ErrAddrInUse) {
		t.Fatalf("server on an address a plain listener holds: got %v, want ErrAddrInUse", err)
	}
	if r := rc.do("PING"); r != "+PONG\r\n" {
		t.Fatalf("PING on the first server afterwards = %q", r)
	}
}

// socketsOnPort counts this host's TCP sockets (IPv4) whose local port is addr's, by state.
func socketsOnPort(t *testing.T, addr string) map[string]int {
	t.Helper()
	_, port, _ := net.SplitHostPort(addr)
	p, _ := strconv.Atoi(port)
	b, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]string{"01": "ESTABLISHED", "04": "FIN_WAIT1", "05": "FIN_WAIT2", "06": "TIME_WAIT",
		"08": "CLOSE_WAIT", "09": "LAST_ACK", "0A": "LISTEN", "0B": "CLOSING"}
	n := map[string]int{}
	suffix := ":" + strings.ToUpper(strconv.FormatInt(int64(p), 16))
	if len(suffix) < 5 {
		suffix = ":" + strings.Repeat("0", 5-len(suffix)) + suffix[1:]
	}
	for _, line := range strings.Split(string(b), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) > 3 && strings.HasSuffix(f[1], suffix) {
			st := states[f[3]]
			if st == "" {
				st = f[3]
			}
			n[st]++
		}
	}
	return n
}
