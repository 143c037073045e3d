package server_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slotgate/slotgate/tuning"
)

// TestE2ETenThousandIdleClients opens 10,000 client connections to slotgate, each of which
// does one PING and then stays idle, checks that traffic is still served (new and old clients),
// and reports slotgate's resident memory per idle connection.
//
// slotgate runs as its own process (the built binary): with 10,000 connections in one process
// both ends of each would take a descriptor, 20,000 in all, more than many machines' hard limit
// allows (this one's is 20,000); as two processes each needs about 10,000, and slotgate's RSS
// is its own. Both raise their soft RLIMIT_NOFILE toward the hard one with tuning.RaiseNoFile.
func TestE2ETenThousandIdleClients(t *testing.T) {
	const clients = 10000
	const need = clients + 300 // the test's own descriptors: the cluster harness, go build, logs
	before, after, err := tuning.RaiseNoFile(65535)
	if err != nil {
		t.Fatal(err)
	}
	if after < need {
		_, hard, _ := tuning.NoFile()
		t.Skipf("RLIMIT_NOFILE hard limit %d: %d idle clients need about %d descriptors in this process", hard, clients, need)
	}
	t.Logf("test process open-file limit: %d (was %d)", after, before)

	p := startProxyProcess(t, cluster, "-maxclients", strconv.Itoa(clients+100), "-max-fds", "65535")
	pid := p.Cmd.Process.Pid
	soft := procNoFile(t, pid)
	t.Logf("slotgate's open-file limit: %d", soft)
	if soft < clients+100 {
		t.Fatalf("slotgate's soft RLIMIT_NOFILE is %d after -max-fds 65535: it did not raise it", soft)
	}

	warm := dialRaw(t, p.Addr)
	for i := range 100 {
		k := "{idle10k}:" + strconv.Itoa(i)
		if r := warm.do("SET", k, "v"); r != "+OK\r\n" {
			t.Fatalf("SET = %q", r)
		}
	}
	time.Sleep(200 * time.Millisecond)
	rssBefore, heapBefore := rssBytes(t, pid), heapInuse(t, p.Admin)

	conns := make([]net.Conn, clients)
	t.Cleanup(func() {
		// slotgate goes first, so the TIME_WAIT entries stay on its listen port, not on 10,000
		// of this host's ephemeral ports.
		_ = p.Cmd.Process.Kill()
		_ = p.Cmd.Wait()
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	})
	t0 := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 1)
	const workers = 32
	for w := range workers {
		wg.Go(func() {
			buf := make([]byte, 7)
			for i := w; i < clients; i += workers {
				c, err := pingOnce(p.Addr, buf)
				if err != nil {
					select {
					case errs <- fmt.Errorf("client %d: %w", i, err):
					default:
					}
					return
				}
				conns[i] = c
			}
		})
	}
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	dialTime := time.Since(t0)
	time.Sleep(300 * time.Millisecond)
	rssAfter, heapAfter := rssBytes(t, pid), heapInuse(t, p.Admin)
	fds := procFDs(t, pid)
	t.Logf("%d idle clients connected in %v; slotgate: %d open descriptors, RSS %.1f MiB -> %.1f MiB: "+
		"%.0f bytes per idle connection (Go heap in use: %.0f)",
		clients, dialTime.Round(time.Millisecond), fds, float64(rssBefore)/(1<<20), float64(rssAfter)/(1<<20),
		float64(rssAfter-rssBefore)/clients, float64(heapAfter-heapBefore)/clients)
	if fds < clients {
		t.Fatalf("slotgate holds %d descriptors with %d clients connected", fds, clients)
	}

	// Traffic still served: a new client, the warm one and a few of the idle ones.
	fresh := dialRaw(t, p.Addr)
	if r := fresh.do("MGET", "{idle10k}:1", "{idle10k}:2", "nosuch"); r != "*3\r\n$1\r\nv\r\n$1\r\nv\r\n$-1\r\n" {
		t.Fatalf("new client with %d idle ones: MGET = %q", clients, r)
	}
	if r := warm.do("GET", "{idle10k}:3"); r != bulkOf("v") {
		t.Fatalf("warm client: GET = %q", r)
	}
	buf := make([]byte, 7)
	for _, i := range []int{0, clients / 2, clients - 1} {
		if err := ping(conns[i], buf); err != nil {
			t.Fatalf("idle client %d pinging again: %v", i, err)
		}
	}
}

// heapInuse reads go_memstats_heap_inuse_bytes from slotgate's /metrics.
func heapInuse(t *testing.T, admin string) int64 {
	t.Helper()
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_memstats_heap_inuse_bytes "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return int64(f)
		}
	}
	t.Fatal("no go_memstats_heap_inuse_bytes in /metrics")
	return 0
}

// pingOnce connects, sends PING and reads +PONG.
func pingOnce(addr string, buf []byte) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	if err := ping(c, buf); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

func ping(c net.Conn, buf []byte) error {
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	n := 0
	for n < len(buf) {
		m, err := c.Read(buf[n:])
		if err != nil {
			return err
		}
		n += m
	}
	if string(buf) != "+PONG\r\n" {
		return fmt.Errorf("PING answered %q", buf)
	}
	return nil
}

// procNoFile reads a process's soft open-file limit.
func procNoFile(t *testing.T, pid int) uint64 {
	t.Helper()
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/limits")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "Max open files"); ok {
			n, err := strconv.ParseUint(strings.Fields(rest)[0], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no open-file limit in /proc/PID/limits")
	return 0
}

// procFDs counts a process's open descriptors.
func procFDs(t *testing.T, pid int) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}
