package server_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/slotgate/slotgate/server"
)

// rawConn is a plain TCP connection speaking RESP by hand.
type rawConn struct {
	t  testing.TB
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t testing.TB, addr string) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(15 * time.Second))
	return &rawConn{t: t, c: c, br: bufio.NewReader(c)}
}

// dialNode opens a raw connection to a master of the cluster, authenticated.
func dialNode(t testing.TB) *rawConn {
	t.Helper()
	m := cluster.Masters()
	if len(m) == 0 {
		t.Fatal("no master")
	}
	rc := dialRaw(t, m[0].Addr)
	if r := rc.do("AUTH", cluster.Password); r != "+OK\r\n" {
		t.Fatalf("AUTH on the node: %q", r)
	}
	return rc
}

func (rc *rawConn) write(s string) {
	rc.t.Helper()
	if _, err := rc.c.Write([]byte(s)); err != nil {
		rc.t.Fatalf("write: %v", err)
	}
}

// do sends one request and returns its raw reply.
func (rc *rawConn) do(args ...string) string {
	rc.t.Helper()
	rc.write(respCmd(args...))
	return rc.read()
}

// read returns the next complete raw reply.
func (rc *rawConn) read() string {
	rc.t.Helper()
	r, err := readRaw(rc.br)
	if err != nil {
		rc.t.Fatalf("reading a reply: %v (got %q)", err, r)
	}
	return r
}

// expectEOF checks that the server closed the connection with nothing more to say.
func (rc *rawConn) expectEOF() {
	rc.t.Helper()
	b, err := rc.br.ReadByte()
	if err == nil {
		rest, _ := rc.br.Peek(rc.br.Buffered())
		rc.t.Fatalf("expected the connection closed, got more bytes: %q", append([]byte{b}, rest...))
	}
	if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !strings.Contains(err.Error(), "connection reset") {
		rc.t.Fatalf("expected EOF, got %v", err)
	}
}

// readRaw reads one RESP2/RESP3 reply and returns its exact bytes.
func readRaw(br *bufio.Reader) (string, error) {
	var b strings.Builder
	err := readRawInto(br, &b)
	return b.String(), err
}

func readRawInto(br *bufio.Reader, b *strings.Builder) error {
	line, err := br.ReadString('\n')
	b.WriteString(line)
	if err != nil {
		return err
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return fmt.Errorf("bad line %q", line)
	}
	head := line[1 : len(line)-2]
	switch line[0] {
	case '+', '-', ':', '_', ',', '#', '(':
		return nil
	case '$', '=', '!':
		n, err := strconv.Atoi(head)
		if err != nil {
			return err
		}
		if n < 0 {
			return nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(br, buf); err != nil {
			return err
		}
		b.Write(buf)
		return nil
	case '*', '~', '>', '%', '|':
		n, err := strconv.Atoi(head)
		if err != nil {
			return err
		}
		if line[0] == '%' || line[0] == '|' {
			n *= 2
		}
		for i := 0; i < n; i++ {
			if err := readRawInto(br, b); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("unknown reply type %q", line)
}

func bulkOf(s string) string { return "$" + strconv.Itoa(len(s)) + "\r\n" + s + "\r\n" }

// TestE2EPipelineMultiKey checks split MGET/MSET/DEL/EXISTS/UNLINK/TOUCH over keys spread over
// every shard, duplicates included, against the values written and what the nodes hold.
func TestE2EPipelineMultiKey(t *testing.T) {
	p := startProxy(t, cluster, nil)
	cl := p.client(t, nil)
	ref := refClient()
	ctx := context.Background()
	pfx := uniqPrefix("plmk")
	const n = 50
	keys := make([]string, n)
	for i := range keys {
		keys[i] = pfx + strconv.Itoa(i)
	}
	// Keys 0..39 are written, 40..49 stay missing.
	var pairs []any
	for i := 0; i < 40; i++ {
		pairs = append(pairs, keys[i], "v-"+strconv.Itoa(i))
	}
	if v, err := cl.MSet(ctx, pairs...).Result(); err != nil || v != "OK" {
		t.Fatalf("MSET = %q, %v", v, err)
	}
	for i := 0; i < 40; i++ {
		if v, err := ref.Get(ctx, keys[i]).Result(); err != nil || v != "v-"+strconv.Itoa(i) {
			t.Fatalf("node GET %s = %q, %v", keys[i], v, err)
		}
	}
	// The shards all take part.
	shards := map[string]bool{}
	for _, k := range keys {
		addr, err := ref.MasterForKey(ctx, k)
		if err != nil {
			t.Fatal(err)
		}
		shards[addr.Options().Addr] = true
	}
	if len(shards) != 3 {
		t.Fatalf("keys span %d shards, want 3", len(shards))
	}

	order := rand.Perm(n)
	mget := make([]string, 0, n+4)
	for _, i := range order {
		mget = append(mget, keys[i])
	}
	mget = append(mget, keys[order[0]], keys[45], keys[3], keys[3])
	vals, err := cl.MGet(ctx, mget...).Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(vals) != len(mget) {
		t.Fatalf("MGET returned %d values for %d keys", len(vals), len(mget))
	}
	for i, k := range mget {
		idx, _ := strconv.Atoi(strings.TrimPrefix(k, pfx))
		if idx >= 40 {
			if vals[i] != nil {
				t.Errorf("MGET[%d] (%s, missing) = %#v; want nil", i, k, vals[i])
			}
			continue
		}
		if want := "v-" + strconv.Itoa(idx); vals[i] != want {
			t.Errorf("MGET[%d] (%s) = %#v; want %q", i, k, vals[i], want)
		}
	}
	// MGET a b a: duplicates in place, also within one slot.
	vals, err = cl.MGet(ctx, keys[1], keys[2], keys[1], keys[44]).Result()
	if err != nil || len(vals) != 4 || vals[0] != "v-1" || vals[1] != "v-2" || vals[2] != "v-1" || vals[3] != nil {
		t.Fatalf("MGET a b a missing = %#v, %v", vals, err)
	}

	all := append(append([]string{}, keys...), keys[0], keys[0], keys[45])
	if v, err := cl.Exists(ctx, all...).Result(); err != nil || v != 42 {
		t.Fatalf("EXISTS (40 present, one twice more, one missing) = %d, %v; want 42", v, err)
	}
	if v, err := cl.Touch(ctx, append(append([]string{}, keys...), keys[1])...).Result(); err != nil || v != 41 {
		t.Fatalf("TOUCH = %d, %v; want 41", v, err)
	}
	if v, err := cl.Del(ctx, keys[0], keys[0], keys[1], keys[45]).Result(); err != nil || v != 2 {
		t.Fatalf("DEL a a b missing = %d, %v; want 2", v, err)
	}
	unlink := append(append([]string{}, keys[2:]...), keys[2], keys[39])
	if v, err := cl.Unlink(ctx, unlink...).Result(); err != nil || v != 38 {
		t.Fatalf("UNLINK = %d, %v; want 38", v, err)
	}
	if v, err := cl.Exists(ctx, keys...).Result(); err != nil || v != 0 {
		t.Fatalf("EXISTS after DEL/UNLINK = %d, %v; want 0", v, err)
	}
	vals, err = cl.MGet(ctx, keys...).Result()
	if err != nil || len(vals) != n {
		t.Fatalf("MGET after delete = %v, %v", vals, err)
	}
	for i, v := range vals {
		if v != nil {
			t.Fatalf("MGET[%d] after delete = %#v", i, v)
		}
	}
	for _, k := range keys {
		if v, err := ref.Exists(ctx, k).Result(); err != nil || v != 0 {
			t.Fatalf("node EXISTS %s = %d, %v", k, v, err)
		}
	}
	// MSET with a key written twice: the last value wins, as in Redis.
	if err := cl.MSet(ctx, keys[5], "first", keys[6], "x", keys[5], "last").Err(); err != nil {
		t.Fatal(err)
	}
	if v, err := ref.Get(ctx, keys[5]).Result(); err != nil || v != "last" {
		t.Fatalf("MSET a 1 b 2 a 3: a = %q, %v; want last", v, err)
	}
	// Arity errors are Redis's.
	if err := cl.Do(ctx, "MSET", keys[1], "v", keys[2]).Err(); err == nil || err.Error() != "ERR wrong number of arguments for 'mset' command" {
		t.Fatalf("MSET odd = %v", err)
	}
	if err := cl.Do(ctx, "MGET").Err(); err == nil || err.Error() != "ERR wrong number of arguments for 'mget' command" {
		t.Fatalf("MGET no key = %v", err)
	}
	if v, err := cl.Del(ctx, keys[5], keys[6]).Result(); err != nil || v != 2 {
		t.Fatalf("DEL = %d, %v", v, err)
	}
}

// TestE2EPipelineLarge sends 40,000 mixed-slot commands in one go-redis pipeline.
func TestE2EPipelineLarge(t *testing.T) {
	p := startProxy(t, cluster, nil)
	cl := p.client(t, nil)
	ctx := context.Background()
	pfx := uniqPrefix("plbig")
	const total = 40000
	pipe := cl.Pipeline()
	type check func(c redis.Cmder) error
	checks := make([]check, 0, total)
	counters := make([]int64, 7)
	lastSet := -1
	for i := 0; len(checks) < total; i++ {
		switch i % 4 {
		case 0:
			k, v := pfx+"k"+strconv.Itoa(i), "val-"+strconv.Itoa(i)
			pipe.Set(ctx, k, v, 0)
			lastSet = i
			checks = append(checks, func(c redis.Cmder) error {
				if s, err := c.(*redis.StatusCmd).Result(); err != nil || s != "OK" {
					return fmt.Errorf("SET %s = %q, %v", k, s, err)
				}
				return nil
			})
		case 1:
			j := lastSet
			k, want := pfx+"k"+strconv.Itoa(j), "val-"+strconv.Itoa(j)
			pipe.Get(ctx, k)
			checks = append(checks, func(c redis.Cmder) error {
				if s, err := c.(*redis.StringCmd).Result(); err != nil || s != want {
					return fmt.Errorf("GET %s = %q, %v; want %q", k, s, err, want)
				}
				return nil
			})
		case 2:
			ci := i % len(counters)
			counters[ci]++
			k, want := pfx+"c"+strconv.Itoa(ci), counters[ci]
			pipe.Incr(ctx, k)
			checks = append(checks, func(c redis.Cmder) error {
				if n, err := c.(*redis.IntCmd).Result(); err != nil || n != want {
					return fmt.Errorf("INCR %s = %d, %v; want %d", k, n, err, want)
				}
				return nil
			})
		case 3:
			a, b := lastSet, max(lastSet-4*17, 0)
			ks := []string{pfx + "k" + strconv.Itoa(a), pfx + "missing" + strconv.Itoa(i), pfx + "k" + strconv.Itoa(b), pfx + "k" + strconv.Itoa(a)}
			want := []any{"val-" + strconv.Itoa(a), nil, "val-" + strconv.Itoa(b), "val-" + strconv.Itoa(a)}
			pipe.MGet(ctx, ks...)
			checks = append(checks, func(c redis.Cmder) error {
				v, err := c.(*redis.SliceCmd).Result()
				if err != nil || len(v) != 4 || v[0] != want[0] || v[1] != nil || v[2] != want[2] || v[3] != want[3] {
					return fmt.Errorf("MGET %q = %#v, %v; want %#v", ks, v, err, want)
				}
				return nil
			})
		}
	}
	cmds, err := pipe.Exec(ctx)
	if err != nil {
		t.Fatalf("Exec: %v", err)
	}
	if len(cmds) != total {
		t.Fatalf("%d replies for %d commands", len(cmds), total)
	}
	bad := 0
	for i, c := range cmds {
		if err := checks[i](c); err != nil {
			bad++
			if bad <= 10 {
				t.Errorf("command %d: %v", i, err)
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%d of %d replies wrong", bad, total)
	}
	for ci, want := range counters {
		if v, err := refClient().Get(ctx, pfx+"c"+strconv.Itoa(ci)).Int64(); err != nil || v != want {
			t.Fatalf("counter %d on the node = %d, %v; want %d", ci, v, err, want)
		}
	}
}

// TestE2EPipelineBigValueSameShard moves an 8 MiB value while ten other clients use keys of the
// same slot.
func TestE2EPipelineBigValueSameShard(t *testing.T) {
	p := startProxy(t, cluster, nil)
	ctx := context.Background()
	tag := "{" + uniqPrefix("plbv") + "}"
	big := make([]byte, 8<<20)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range big {
		big[i] = byte(r.Uint32())
	}
	bigCl := p.client(t, nil)
	done := make(chan struct{})
	var wg sync.WaitGroup
	for c := 0; c < 10; c++ {
		cl := p.client(t, nil)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				if i >= 100 {
					select {
					case <-done:
						return
					default:
					}
				}
				k := tag + "small-" + strconv.Itoa(c) + "-" + strconv.Itoa(i%10)
				v := strconv.Itoa(c) + ":" + strconv.Itoa(i)
				if s, err := cl.Set(ctx, k, v, 0).Result(); err != nil || s != "OK" {
					t.Errorf("client %d SET %s = %q, %v", c, k, s, err)
					return
				}
				if s, err := cl.Get(ctx, k).Result(); err != nil || s != v {
					t.Errorf("client %d GET %s = %q, %v; want %q", c, k, s, err, v)
					return
				}
			}
		}()
	}
	for round := 0; round < 3; round++ {
		k := tag + "big" + strconv.Itoa(round)
		big[0] = byte(round)
		if s, err := bigCl.Set(ctx, k, big, 0).Result(); err != nil || s != "OK" {
			t.Errorf("SET big = %q, %v", s, err)
			break
		}
		got, err := bigCl.Get(ctx, k).Bytes()
		if err != nil || !bytes.Equal(got, big) {
			t.Errorf("GET big: %d bytes, %v; equal=%v", len(got), err, bytes.Equal(got, big))
			break
		}
		if n, err := bigCl.StrLen(ctx, k).Result(); err != nil || n != int64(len(big)) {
			t.Errorf("STRLEN big = %d, %v", n, err)
		}
		if err := bigCl.Del(ctx, k).Err(); err != nil {
			t.Error(err)
		}
	}
	close(done)
	wg.Wait()
}

// TestE2EPipelineByteAtATime delivers requests one byte per write.
func TestE2EPipelineByteAtATime(t *testing.T) {
	p := startProxy(t, cluster, nil)
	rc := dialRaw(t, p.Addr)
	rc.c.(*net.TCPConn).SetNoDelay(true)
	k := uniqPrefix("plbyte") + "k"
	slow := func(s string) {
		for i := 0; i < len(s); i++ {
			rc.write(s[i : i+1])
		}
	}
	slow(respCmd("SET", k, "hello"))
	if r := rc.read(); r != "+OK\r\n" {
		t.Fatalf("SET = %q", r)
	}
	slow(respCmd("GET", k))
	if r := rc.read(); r != bulkOf("hello") {
		t.Fatalf("GET = %q", r)
	}
	// Several requests, split at every byte, answered in order.
	slow(respCmd("APPEND", k, "!") + "PING\r\n" + respCmd("GET", k) + "ECHO \"a b\"\r\n" + respCmd("MGET", k, k+"x", k))
	for _, want := range []string{":6\r\n", "+PONG\r\n", bulkOf("hello!"), bulkOf("a b"), "*3\r\n" + bulkOf("hello!") + "$-1\r\n" + bulkOf("hello!")} {
		if r := rc.read(); r != want {
			t.Fatalf("got %q, want %q", r, want)
		}
	}
}

// TestE2EPipelineInline checks inline commands (plain and quoted) against what Redis itself
// makes of the same lines.
func TestE2EPipelineInline(t *testing.T) {
	p := startProxy(t, cluster, nil)
	px := dialRaw(t, p.Addr)
	node := dialNode(t)
	ref := refClient()
	ctx := context.Background()
	pfx := uniqPrefix("plinl")
	// Keys that the node connection can take: inline keys on the node side must be in its slots.
	lines := []struct {
		line string
		key  string
		val  string
	}{
		{"SET %s v", "plain", "v"},
		{"SET %s \"a b\\r\\n\\x41\\\"q\"", "dq", "a b\r\nA\"q"},
		{"SET %s 'it\\'s'", "sq", "it's"},
		{"  SET\t%s   spaced  ", "sp", "spaced"},
	}
	for _, l := range lines {
		k := pfx + l.key
		line := fmt.Sprintf(l.line, k) + "\r\n"
		if r := px.do0(line); r != "+OK\r\n" {
			t.Fatalf("%q through the proxy = %q", line, r)
		}
		if v, err := ref.Get(ctx, k).Result(); err != nil || v != l.val {
			t.Fatalf("after %q the node holds %q, %v; want %q", line, v, err, l.val)
		}
		if r := px.do0("GET " + k + "\n"); r != bulkOf(l.val) {
			t.Fatalf("inline GET %s = %q; want %q", k, r, bulkOf(l.val))
		}
	}
	// Error replies for bad inline input are Redis's own (the node answers the same).
	for _, line := range []string{"GET\r\n", "NOSUCHCMD a b\r\n", "SET k \"unterminated\r\n"} {
		got := px.do0(line)
		want := node.do0(line)
		if got != want {
			t.Errorf("%q: proxy %q, redis %q", line, got, want)
		}
	}
	px.expectEOF() // a protocol error closes the connection, as in Redis
}

// do0 writes raw bytes and reads one reply.
func (rc *rawConn) do0(raw string) string {
	rc.t.Helper()
	rc.write(raw)
	return rc.read()
}

// TestE2EPipelineProtocolError: a client sending garbage gets Redis's protocol error and is
// closed, while 20 clients on the same loop keep pipelines of 500 commands in flight.
func TestE2EPipelineProtocolError(t *testing.T) {
	p := startProxy(t, cluster, func(c *server.Config) { c.Loops = 1 })
	ctx := context.Background()
	pfx := uniqPrefix("plpe")
	// What the node itself says for the same input.
	bad := []struct{ in, want string }{
		{"*1\r\n$-5\r\n", "-ERR Protocol error: invalid bulk length\r\n"},
		{"*abc\r\n", "-ERR Protocol error: invalid multibulk length\r\n"},
		{"*2\r\n$3\r\nGET\r\n:1\r\n", "-ERR Protocol error: expected '$', got ':'\r\n"},
	}
	for _, b := range bad {
		node := dialNode(t)
		node.write(b.in)
		if r := node.read(); r != b.want {
			t.Fatalf("reference: the node answers %q with %q, the test expects %q", b.in, r, b.want)
		}
	}
	start := make(chan struct{})
	done := make(chan struct{})
	var wg sync.WaitGroup
	for c := 0; c < 20; c++ {
		cl := p.client(t, nil)
		if err := cl.Ping(ctx).Err(); err != nil { // connected before the storm
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for round := 0; round < 3; round++ {
				pipe := cl.Pipeline()
				for i := 0; i < 500; i++ {
					k := pfx + strconv.Itoa(c) + ":" + strconv.Itoa((i/2)%50)
					if i%2 == 0 {
						pipe.Set(ctx, k, strconv.Itoa(round*1000+i), 0)
					} else {
						pipe.Get(ctx, k)
					}
				}
				cmds, err := pipe.Exec(ctx)
				if err != nil {
					t.Errorf("client %d: Exec: %v", c, err)
					return
				}
				for i, cmd := range cmds {
					if i%2 == 0 {
						if s, err := cmd.(*redis.StatusCmd).Result(); err != nil || s != "OK" {
							t.Errorf("client %d cmd %d: SET = %q, %v", c, i, s, err)
							return
						}
					} else if s, err := cmd.(*redis.StringCmd).Result(); err != nil || s != strconv.Itoa(round*1000+i-1) {
						t.Errorf("client %d cmd %d: GET = %q, %v; want %d", c, i, s, err, round*1000+i-1)
						return
					}
				}
			}
		}()
	}
	go func() { wg.Wait(); close(done) }()
	defer func() { <-done }() // no worker may log after the test ends, even when it fails early
	close(start)
	for n := 0; ; n++ {
		b := bad[n%len(bad)]
		rc := dialRaw(t, p.Addr)
		rc.write("PING\r\n" + respCmd("ECHO", "before") + b.in + "PING\r\n")
		for _, want := range []string{"+PONG\r\n", bulkOf("before"), b.want} {
			if r := rc.read(); r != want {
				t.Fatalf("after %q: got %q, want %q", b.in, r, want)
			}
		}
		rc.expectEOF()
		rc.c.Close()
		if n >= 5 {
			select {
			case <-done:
				return
			default:
			}
		}
		if n > 2000 {
			t.Fatal("the pipelines did not finish")
		}
	}
}

// TestE2EPipelineEmptyRequests: "\r\n", "*0\r\n" and "*-1\r\n" get no reply.
func TestE2EPipelineEmptyRequests(t *testing.T) {
	p := startProxy(t, cluster, nil)
	for _, empty := range []string{"\r\n", "*0\r\n", "*-1\r\n", "\n", "   \r\n", "\r\n*0\r\n*-1\r\n\r\n"} {
		rc := dialRaw(t, p.Addr)
		rc.write(empty + "PING\r\n")
		if r := rc.read(); r != "+PONG\r\n" {
			t.Fatalf("after %q: %q; want +PONG", empty, r)
		}
		// Also between requests, in separate writes.
		rc.write(respCmd("ECHO", "x"))
		rc.write(empty)
		rc.write(respCmd("PING", "y"))
		if r := rc.read(); r != bulkOf("x") {
			t.Fatalf("ECHO before %q: %q", empty, r)
		}
		if r := rc.read(); r != bulkOf("y") {
			t.Fatalf("PING after %q: %q", empty, r)
		}
	}
}
