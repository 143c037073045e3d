package server_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/slotgate/slotgate/internal/testcluster"
)

// haproxyStates reads each slotgate server's status (UP, DOWN...) from HAProxy's stats page
// (docker/haproxy.cfg's "listen stats", as CSV).
func haproxyStates(stats string) (map[string]string, error) {
	cl := http.Client{Timeout: 2 * time.Second}
	resp, err := cl.Get("http://" + stats + "/;csv")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	states := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Split(line, ",")
		if len(f) > 17 && f[0] == "slotgate" && strings.HasPrefix(f[1], "slotgate-") {
			states[f[1]] = f[17]
		}
	}
	return states, nil
}

// TestE2EHAProxyTwoInstances: Debian's haproxy, with docker/haproxy.cfg, in front of two
// slotgate processes. Clients work
// through it; once one slotgate is killed, new connections and reconnecting clients are served by
// the other, and the health check marks the dead one down.
func TestE2EHAProxyTwoInstances(t *testing.T) {
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		t.Skip("haproxy is not installed (apt-get install -y haproxy): skipping the scale-out test")
	}
	a := startProxyProcess(t, cluster)
	b := startProxyProcess(t, cluster)
	// The configuration shipped in docker/, as it is: its addresses come from the environment.
	listen, stats := freeAddr(t), freeAddr(t)
	hp := exec.Command(bin, "-db", "-f", filepath.Join("..", "docker", "haproxy.cfg"))
	hp.Env = append(os.Environ(), "HAPROXY_BIND="+listen, "HAPROXY_STATS="+stats, "SLOTGATE_1="+a.Addr, "SLOTGATE_2="+b.Addr)
	hp.Stdout, hp.Stderr = os.Stderr, os.Stderr
	if err := testcluster.StartProcess(hp, false); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = hp.Process.Kill()
		_ = hp.Wait()
	})
	waitStates := func(want map[string]string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			got, err := haproxyStates(stats)
			ok := err == nil
			for k, v := range want {
				ok = ok && got[k] == v
			}
			if ok {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("haproxy server states %v (%v); want %v", got, err, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	waitStates(map[string]string{"slotgate-1": "UP", "slotgate-2": "UP"})

	ctx := context.Background()
	run := runID()
	// Long-lived clients, one connection each: leastconn spreads them over both instances.
	const clients = 20
	var cls []*redis.Client
	for i := range clients {
		cl := redis.NewClient(&redis.Options{Addr: listen, PoolSize: 1, MaxRetries: 3,
			MinRetryBackoff: 10 * time.Millisecond, MaxRetryBackoff: 100 * time.Millisecond})
		t.Cleanup(func() { cl.Close() })
		key := fmt.Sprintf("hap:%s:%d", run, i)
		if err := cl.Set(ctx, key, "before", time.Hour).Err(); err != nil {
			t.Fatalf("client %d through haproxy: %v", i, err)
		}
		cls = append(cls, cl)
	}

	if err := a.Cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_, _ = a.Cmd.Process.Wait()
	killed := time.Now()

	// Reconnecting clients: a connection that went to the dead instance fails once, and the
	// client's retry connects again, to the live one.
	var wg sync.WaitGroup
	errc := make(chan error, 2*clients)
	for i, cl := range cls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := fmt.Sprintf("hap:%s:%d", run, i)
			if err := cl.Set(ctx, key, "after", time.Hour).Err(); err != nil {
				errc <- fmt.Errorf("client %d after the kill: %v", i, err)
			}
		}()
	}
	// New connections: each a fresh client with no retries of its own; haproxy re-dispatches a
	// connect refused by the dead instance.
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := redis.NewClient(&redis.Options{Addr: listen, MaxRetries: -1})
			defer cl.Close()
			key := fmt.Sprintf("hap:%s:new:%d", run, i)
			if err := cl.Set(ctx, key, "new", time.Hour).Err(); err != nil {
				errc <- fmt.Errorf("new client %d after the kill: %v", i, err)
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	waitStates(map[string]string{"slotgate-1": "DOWN", "slotgate-2": "UP"})
	t.Logf("after the kill: %d reconnecting and %d new clients served by the other instance; slotgate-1 marked DOWN %v after the kill",
		clients, clients, time.Since(killed).Round(time.Millisecond))
	for i := range clients {
		key := fmt.Sprintf("hap:%s:%d", run, i)
		if v, err := cls[i].Get(ctx, key).Result(); err != nil || v != "after" {
			t.Fatalf("GET %s = %q, %v", key, v, err)
		}
	}
}
