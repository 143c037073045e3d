package server_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/slotgate/slotgate/internal/testcluster"
	"github.com/slotgate/slotgate/router"
	"github.com/slotgate/slotgate/server"
)

// maxCopiesPerByte bounds the bytes Peeked from gnet plus those copied into slotgate's own buffers,
// per byte of a large reply or request: each byte is looked at once where it lands and copied at
// most once more. Re-peeking everything buffered on every read, as slotgate once did, costs a
// hundred times that for 20 MB (and far more for a request of many small arguments). The bytes
// moved while an own buffer grows are bounded apart: doubling moves fewer than 2 per byte.
const (
	maxCopiesPerByte = 3
	maxMovesPerByte  = 2
)

// checkCopies fails t when framing n bytes cost more copying than the bounds allow.
func checkCopies(t testing.TB, what string, n int, before, after router.CopyStats) string {
	t.Helper()
	peeked, copied, moved := after.Peeked-before.Peeked, after.Copied-before.Copied, after.Moved-before.Moved
	perByte := float64(peeked+copied) / float64(n)
	movedPerByte := float64(moved) / float64(n)
	if perByte > maxCopiesPerByte {
		t.Errorf("%s: %.1f bytes Peeked or copied per byte, want <= %d", what, perByte, maxCopiesPerByte)
	}
	if movedPerByte > maxMovesPerByte {
		t.Errorf("%s: %.1f bytes moved per byte by growing buffers, want <= %d", what, movedPerByte, maxMovesPerByte)
	}
	return fmt.Sprintf("peeked %d, copied %d (%.2f per byte), moved %d (%.2f per byte)",
		peeked, copied, perByte, moved, movedPerByte)
}

// fillHash makes key a hash of about size bytes of small fields (100-byte values) on master n,
// built by a script on the server (quicker than sending it) in batches short enough to keep the
// node answering its cluster bus; it returns the number of fields.
func fillHash(t testing.TB, n *testcluster.Node, key string, size int) int {
	t.Helper()
	ctx := context.Background()
	cl := cluster.Client(n)
	value := string(patterned(100, "h"))
	fields := size / 120 // "$8\r\nf0000000\r\n$100\r\n" and the value: 120 bytes of reply per field
	const script = `for i = tonumber(ARGV[2]), tonumber(ARGV[3]) - 1 do redis.call('HSET', KEYS[1], string.format('f%07d', i), ARGV[1]) end`
	t.Cleanup(func() { cl.Unlink(context.Background(), key) })
	for i := 0; i < fields; i += 10000 {
		if err := cl.Eval(ctx, script, []string{key}, value, i, min(i+10000, fields)).Err(); err != nil && err != redis.Nil {
			t.Fatal(err)
		}
	}
	return fields
}

// rawDo sends one request on a fresh connection to addr (AUTH first when password is set) and
// returns the reply's raw bytes.
func rawDo(t testing.TB, addr, password string, req []byte) []byte {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReaderSize(c, 64<<10)
	if password != "" {
		if _, err := c.Write([]byte(respCmd("AUTH", password))); err != nil {
			t.Fatal(err)
		}
		if ok, err := readReply(r, nil); err != nil || string(ok) != "+OK\r\n" {
			t.Fatalf("AUTH: %q %v", ok, err)
		}
	}
	if _, err := c.Write(req); err != nil {
		t.Fatal(err)
	}
	reply, err := readReply(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	return reply
}

// neighbourServed GETs key (value want) through addr in a loop until stopped and records when
// each correct answer came; the first wrong one fails the test.
type neighbourServed struct {
	stop  chan struct{}
	done  chan struct{}
	times []time.Time
	err   error
}

func serveNeighbour(addr, key, want string) *neighbourServed {
	w := &neighbourServed{stop: make(chan struct{}), done: make(chan struct{})}
	cl := redis.NewClient(&redis.Options{Addr: addr, ReadTimeout: 10 * time.Second, MaxRetries: -1, PoolSize: 1})
	go func() {
		defer close(w.done)
		defer cl.Close()
		for {
			select {
			case <-w.stop:
				return
			default:
			}
			v, err := cl.Get(context.Background(), key).Result()
			if err != nil || v != want {
				w.err = fmt.Errorf("GET %s = %q, %v", key, clipStr(v), err)
				return
			}
			w.times = append(w.times, time.Now())
		}
	}()
	return w
}

// during stops the neighbour and counts its answers between from and to.
func (w *neighbourServed) during(t testing.TB, from, to time.Time) int {
	t.Helper()
	close(w.stop)
	<-w.done
	if w.err != nil {
		t.Fatal(w.err)
	}
	n := 0
	for _, at := range w.times {
		if at.After(from) && at.Before(to) {
			n++
		}
	}
	return n
}

// TestE2ELargeReplyCopiedOnce: HGETALL of a 20 MB hash of small fields through slotgate. The
// reply arrives from the master in many reads; slotgate must frame it with O(1) copies per byte
// (bytes Peeked from gnet plus bytes moved into its own buffer), deliver it intact, and keep
// serving another client of the same loop meanwhile.
func TestE2ELargeReplyCopiedOnce(t *testing.T) {
	p := startLargeProxy(t, nil) // one loop: the neighbour shares it
	run := runID()
	key := "lc:" + run + ":hash"
	master := masterOf(t, key)
	fillHash(t, master, key, 20*mib)
	req := []byte(respCmd("HGETALL", key))
	want := rawDo(t, master.Addr, cluster.Password, req)

	neighbour := keyOnMaster(t, "lc:"+run+":n:", otherMaster(t, cluster, master), key)
	if err := p.client(t, nil).Set(context.Background(), neighbour, "neighbour", time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	w := serveNeighbour(p.Addr, neighbour, "neighbour")
	time.Sleep(20 * time.Millisecond)

	c, err := net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(60 * time.Second))
	got := make([]byte, len(want)+1) // the direct reply's length, and one byte that must not come
	p.Rt.SyncStats()
	before := p.Rt.ReplyCopies()
	t0 := time.Now()
	if _, err := c.Write(req); err != nil {
		t.Fatal(err)
	}
	_, err = io.ReadFull(c, got[:len(want)])
	t1 := time.Now()
	p.Rt.SyncStats()
	after := p.Rt.ReplyCopies()
	served := w.during(t, t0, t1)
	if err != nil {
		t.Fatalf("HGETALL through slotgate: %v", err)
	}
	if !bytes.Equal(got[:len(want)], want) {
		t.Fatalf("HGETALL through slotgate: %d bytes, not those of the direct reply", len(want))
	}
	_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if n, _ := c.Read(got[len(want):]); n > 0 {
		t.Fatal("HGETALL through slotgate: more bytes than the direct reply")
	}
	copies := checkCopies(t, "HGETALL", len(want), before, after)
	t.Logf("HGETALL %d bytes in %v: %s; neighbour served %d times meanwhile",
		len(want), t1.Sub(t0).Round(time.Millisecond), copies, served)
	if served == 0 {
		t.Error("the neighbour on the same loop was not served while the large reply went through")
	}
}

// TestE2ELargeRequestCopiedOnce: an HSET of 20 MB of small fields written in 8 KiB pieces. slotgate
// must frame it with O(1) copies per byte, forward it intact and keep serving another client of
// the same loop meanwhile.
func TestE2ELargeRequestCopiedOnce(t *testing.T) {
	p := startLargeProxy(t, nil)
	run := runID()
	key := "lc:" + run + ":hset"
	master := masterOf(t, key)
	t.Cleanup(func() { cluster.Client(master).Unlink(context.Background(), key) })
	fields := 20 * mib / 120 // 120 bytes of request per field
	req := hsetRequest(key, fields)

	neighbour := keyOnMaster(t, "lc:"+run+":n:", otherMaster(t, cluster, master), key)
	if err := p.client(t, nil).Set(context.Background(), neighbour, "neighbour", time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
	w := serveNeighbour(p.Addr, neighbour, "neighbour")
	c, err := net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(60 * time.Second))
	time.Sleep(20 * time.Millisecond)

	before := p.Srv.RequestCopies()
	t0 := time.Now()
	for off := 0; off < len(req); off += 8 << 10 {
		if _, err := c.Write(req[off:min(off+8<<10, len(req))]); err != nil {
			t.Fatal(err)
		}
	}
	reply, err := readReply(bufio.NewReader(c), nil)
	t1 := time.Now()
	after := p.Srv.RequestCopies()
	served := w.during(t, t0, t1)
	if err != nil || string(reply) != ":"+strconv.Itoa(fields)+"\r\n" {
		t.Fatalf("HSET of %d fields: %q, %v", fields, clipStr(string(reply)), err)
	}
	if n, err := cluster.Client(master).HLen(context.Background(), key).Result(); err != nil || n != int64(fields) {
		t.Fatalf("HLEN = %d, %v; want %d", n, err, fields)
	}
	copies := checkCopies(t, "HSET", len(req), before, after)
	t.Logf("HSET %d bytes in %v: %s; neighbour served %d times meanwhile",
		len(req), t1.Sub(t0).Round(time.Millisecond), copies, served)
	if served == 0 {
		t.Error("the neighbour on the same loop was not served while the large request came in")
	}
}

// hsetRequest encodes HSET key with n fields of 100-byte values.
func hsetRequest(key string, n int) []byte {
	value := string(patterned(100, "s"))
	args := []string{"HSET", key}
	for i := range n {
		args = append(args, fmt.Sprintf("f%07d", i), value)
	}
	return []byte(respCmd(args...))
}

// TestE2ELargeMixedPipeline: large requests and replies (moved out of gnet's buffer while they
// arrive) pipelined with small ones on one backend connection and written in pieces of random
// sizes: every reply comes back exact and in order, so nothing is lost or repeated where slotgate
// switches between its own buffer and gnet's.
func TestE2ELargeMixedPipeline(t *testing.T) {
	p := startProxy(t, cluster, nil)
	tag := "{" + uniqPrefix("lmix") + "}"
	master := masterOf(t, tag)
	big := string(patterned(300<<10, "B"))
	var req []byte
	var want []string // "" for an HGETALL: compared with the node's own answer afterwards
	var keys, hashes []string
	for round := range 4 {
		r := strconv.Itoa(round)
		h, small, bk := tag+"h"+r, tag+"s"+r, tag+"b"+r
		keys = append(keys, h, small, bk)
		hashes = append(hashes, h)
		n := 1000 + 700*round // 120 KB to 370 KB
		req = append(req, hsetRequest(h, n)...)
		req = append(req, respCmd("SET", small, "x"+r)+respCmd("HGETALL", h)+respCmd("GET", small)+
			respCmd("SET", bk, big[round:])+respCmd("GET", bk)+respCmd("PING")...)
		want = append(want, ":"+strconv.Itoa(n)+"\r\n", "+OK\r\n", "", bulkOf("x"+r), "+OK\r\n", bulkOf(big[round:]), "+PONG\r\n")
	}
	t.Cleanup(func() { cluster.Client(master).Unlink(context.Background(), keys...) })

	c, err := net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	werr := make(chan error, 1)
	go func() {
		rng := rand.New(rand.NewPCG(uint64(len(req)), 7))
		for off := 0; off < len(req); {
			n := min(1+rng.IntN(128<<10), len(req)-off)
			if _, err := c.Write(req[off : off+n]); err != nil {
				werr <- err
				return
			}
			off += n
		}
		werr <- nil
	}()
	r := bufio.NewReaderSize(c, 64<<10)
	var got [][]byte
	for i := range want {
		reply, err := readReply(r, nil)
		if err != nil {
			t.Fatalf("reply %d: %v", i, err)
		}
		got = append(got, reply)
	}
	if err := <-werr; err != nil {
		t.Fatal(err)
	}
	h := 0
	for i, w := range want {
		if w == "" {
			w = string(rawDo(t, master.Addr, cluster.Password, []byte(respCmd("HGETALL", hashes[h]))))
			h++
		}
		if string(got[i]) != w {
			t.Fatalf("reply %d: %d bytes %q, want %d bytes %q", i, len(got[i]), clipStr(string(got[i])), len(w), clipStr(w))
		}
	}
}

// TestE2ELargeRequestPaused: a client whose unread replies pass the soft limit while a large
// request of it is half received is paused like any other: slotgate stops taking the request's
// bytes (they wait in the kernel), and once the client reads, the request completes intact.
func TestE2ELargeRequestPaused(t *testing.T) {
	p := startLargeProxy(t, func(c *server.Config) { c.SoftLimit = mib })
	tag := "{" + uniqPrefix("lpause") + "}"
	master := masterOf(t, tag)
	h := tag + "h"
	t.Cleanup(func() { cluster.Client(master).Unlink(context.Background(), h) })
	const fields = 40000 // 4.8 MB
	hset := hsetRequest(h, fields)
	// A script that answers 8 MiB after 100 ms: its reply lands while the HSET is half received,
	// and more of it than kernel buffers take stays unread in slotgate.
	const slow = `local t0 = redis.call('TIME') repeat local t = redis.call('TIME') until (t[1]-t0[1])*1000000 + (t[2]-t0[2]) > 100000 return string.rep('x', 8388608)`
	c, err := net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.(*net.TCPConn).SetReadBuffer(64 << 10)
	_ = c.SetDeadline(time.Now().Add(60 * time.Second))
	r := bufio.NewReaderSize(c, 64<<10)
	before := p.Srv.RequestCopies()
	const head = 256 << 10
	if _, err := c.Write(append([]byte(respCmd("EVAL", slow, "1", h)), hset[:head]...)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Peek(1); err != nil { // the script's reply is in slotgate, unread
		t.Fatal(err)
	}
	held := p.Srv.RequestCopies().Copied - before.Copied
	if held < holdThresholdForTest {
		t.Fatalf("the start of the HSET is not held (%d bytes copied)", held)
	}
	werr := make(chan error, 1)
	go func() {
		for off := head; off < len(hset); off += 8 << 10 {
			if _, err := c.Write(hset[off:min(off+8<<10, len(hset))]); err != nil {
				werr <- err
				return
			}
		}
		werr <- nil
	}()
	time.Sleep(300 * time.Millisecond)
	taken := p.Srv.RequestCopies().Copied - before.Copied
	t.Logf("paused: %d of the HSET's %d bytes taken (%d before its client was over the soft limit)", taken, len(hset), held)
	if taken > int64(len(hset))/2 {
		t.Errorf("while paused slotgate took %d of the HSET's %d bytes into its own buffer, want at most half", taken, len(hset))
	}
	if reply, err := readReply(r, nil); err != nil || string(reply) != bulkOf(strings.Repeat("x", 8<<20)) {
		t.Fatalf("EVAL: %d bytes, %v", len(reply), err)
	}
	if reply, err := readReply(r, nil); err != nil || string(reply) != ":"+strconv.Itoa(fields)+"\r\n" {
		t.Fatalf("HSET: %q, %v", clipStr(string(reply)), err)
	}
	if err := <-werr; err != nil {
		t.Fatal(err)
	}
	if n, err := cluster.Client(master).HLen(context.Background(), h).Result(); err != nil || n != fields {
		t.Fatalf("HLEN = %d, %v", n, err)
	}
}

// holdThresholdForTest is server.holdThreshold: a partial request at least this large is held.
const holdThresholdForTest = 64 << 10

// startLargeProxy is startProxy with a backend stall limit long enough for a master busy with a
// 20 MB command on a loaded machine.
func startLargeProxy(t *testing.T, mod func(*server.Config)) *proxy {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	rt := router.New(router.Config{Seeds: cluster.Seeds()[:1], Password: cluster.Password, Logger: logger,
		BackendStall: time.Minute})
	if err := rt.Run(t.Context()); err != nil {
		t.Fatalf("router: %v", err)
	}
	return serveWith(t, rt, mod)
}
