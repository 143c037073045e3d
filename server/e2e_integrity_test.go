package server_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slotgate/slotgate/server"
)

// readReply reads one complete RESP2 reply from r and appends its raw bytes to dst. It is the
// tests' own reader: it knows nothing of slotgate's codec.
func readReply(r *bufio.Reader, dst []byte) ([]byte, error) {
	return readReplyDepth(r, dst, 0)
}

func readReplyDepth(r *bufio.Reader, dst []byte, depth int) ([]byte, error) {
	if depth > 16 {
		return dst, errors.New("reply nested too deep")
	}
	line, err := r.ReadSlice('\n')
	if err != nil {
		return dst, err
	}
	if len(line) < 3 || line[len(line)-2] != '\r' {
		return dst, fmt.Errorf("malformed reply line %q", line)
	}
	dst = append(dst, line...)
	body := line[1 : len(line)-2]
	switch line[0] {
	case '+', '-', ':':
		return dst, nil
	case '$':
		n, err := strconv.Atoi(string(body))
		if err != nil || n < -1 {
			return dst, fmt.Errorf("bad bulk length in %q", line)
		}
		if n == -1 {
			return dst, nil
		}
		start := len(dst)
		dst = append(dst, make([]byte, n+2)...)
		if _, err := io.ReadFull(r, dst[start:]); err != nil {
			return dst, err
		}
		if dst[len(dst)-2] != '\r' || dst[len(dst)-1] != '\n' {
			return dst, errors.New("bulk not terminated by CRLF")
		}
		return dst, nil
	case '*':
		n, err := strconv.Atoi(string(body))
		if err != nil || n < -1 {
			return dst, fmt.Errorf("bad array length in %q", line)
		}
		for i := 0; i < n; i++ {
			if dst, err = readReplyDepth(r, dst, depth+1); err != nil {
				return dst, err
			}
		}
		return dst, nil
	}
	return dst, fmt.Errorf("unknown reply type in %q", line)
}

// respCmd encodes args as a RESP multibulk request.
func respCmd(args ...string) string {
	var b strings.Builder
	b.WriteString("*" + strconv.Itoa(len(args)) + "\r\n")
	for _, a := range args {
		b.WriteString("$" + strconv.Itoa(len(a)) + "\r\n" + a + "\r\n")
	}
	return b.String()
}

func respBulk(s string) string { return "$" + strconv.Itoa(len(s)) + "\r\n" + s + "\r\n" }

// exchange is one request on the wire and the exact reply it must get ("" for none).
type exchange struct {
	req   string
	reply string
}

// runID makes key prefixes unique per run of a test on the shared cluster.
func runID() string {
	return strconv.FormatInt(time.Now().UnixNano()%1e12, 36) + strconv.Itoa(os.Getpid()%1000)
}

// integrityScript builds client c's request stream: SETs of keys spread over all slots, each
// followed by one of a mix of requests whose replies name the client.
func integrityScript(run string, c, n int, quit bool) []exchange {
	rng := rand.New(rand.NewSource(int64(c)*7919 + 1))
	key := func(i int) string { return "ri:" + run + ":" + strconv.Itoa(c) + ":" + strconv.Itoa(i) }
	val := func(i int) string { return "client-" + strconv.Itoa(c) + "-" + strconv.Itoa(i) }
	ctr := "ri:" + run + ":" + strconv.Itoa(c) + ":ctr"
	incr := 0
	var ex []exchange
	add := func(req, reply string) { ex = append(ex, exchange{req, reply}) }
	for i := 0; i < n; i++ {
		add(respCmd("SET", key(i), val(i)), "+OK\r\n")
		j := rng.Intn(i + 1)
		switch rng.Intn(17) {
		case 0:
			add(respCmd("GET", key(i)), respBulk(val(i)))
		case 1:
			add(respCmd("GET", key(j)), respBulk(val(j)))
		case 2:
			a, b := rng.Intn(i+1), rng.Intn(i+1)
			add(respCmd("MGET", key(j), key(a), key(b)),
				"*3\r\n"+respBulk(val(j))+respBulk(val(a))+respBulk(val(b)))
		case 3:
			add("GET "+key(j)+"\r\n", respBulk(val(j))) // inline
		case 4:
			add("\r\n", "")
		case 5:
			add("*0\r\n", "")
		case 6:
			add("PING\r\n", "+PONG\r\n")
		case 7:
			add(respCmd("ECHO", val(i)), respBulk(val(i)))
		case 8:
			incr++
			add(respCmd("INCR", ctr), ":"+strconv.Itoa(incr)+"\r\n")
		case 9:
			name := "NOSUCH-" + strconv.Itoa(c) + "-" + strconv.Itoa(i)
			add(respCmd(name, "x"+strconv.Itoa(c)), "-ERR unknown command '"+name+"', with args beginning with: 'x"+strconv.Itoa(c)+"' \r\n")
		case 10:
			add(respCmd("HELLO", "4"), "-NOPROTO unsupported protocol version\r\n")
		case 11:
			add(respCmd("SELECT", "1"), "-ERR SELECT is not allowed in cluster mode\r\n")
		case 12:
			add(respCmd("CLIENT", "SETINFO", "lib-name", "x"), "+OK\r\n")
		case 13:
			add(respCmd("GET", key(i)+":missing"), "$-1\r\n")
		case 14:
			add("PING "+val(i)+"\r\n", respBulk(val(i))) // inline with an argument
		case 15:
			add(respCmd("MGET", key(i), key(i)+":missing", key(j)),
				"*3\r\n"+respBulk(val(i))+"$-1\r\n"+respBulk(val(j)))
		case 16:
			// A value larger than one read, so replies are framed across reads.
			big := strings.Repeat(val(i)+"|", 1+rng.Intn(4000))
			add(respCmd("SET", key(i)+":big", big), "+OK\r\n")
			add(respCmd("GET", key(i)+":big"), respBulk(big))
		}
	}
	if quit {
		add(respCmd("QUIT"), "+OK\r\n")
	} else {
		add(respCmd("PING"), "+PONG\r\n")
	}
	return ex
}

// TestE2EReplyIntegrity: 50 raw clients pipeline interleaved streams through one event loop; every
// reply must be exactly the one for its own request, in order. One FIFO slip hands one client's
// data to another: this is what it looks for.
func TestE2EReplyIntegrity(t *testing.T) {
	const clients, perClient = 50, 600
	p := startProxy(t, cluster, func(c *server.Config) { c.Loops = 1 })
	run := runID()

	var wg sync.WaitGroup
	errs := make(chan error, clients)
	total := 0
	for c := 0; c < clients; c++ {
		quit := c%10 == 9
		script := integrityScript(run, c, perClient, quit)
		total += len(script)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := integrityClient(p.Addr, c, script, quit); err != nil {
				errs <- fmt.Errorf("client %d: %w", c, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	n := 0
	for err := range errs {
		n++
		if n <= 10 {
			t.Error(err)
		}
	}
	if n > 10 {
		t.Errorf("... and %d more clients failed", n-10)
	}
	t.Logf("%d clients, %d requests checked", clients, total)
}

func integrityClient(addr string, c int, script []exchange, quit bool) error {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(60 * time.Second))

	var stream []byte
	for _, e := range script {
		stream = append(stream, e.req...)
	}
	// Several bursts cut at arbitrary byte offsets (requests split across writes).
	rng := rand.New(rand.NewSource(int64(c) + 42))
	var cuts []int
	for k := 0; k < 7; k++ {
		cuts = append(cuts, rng.Intn(len(stream)))
	}
	cuts = append(cuts, len(stream))
	slices.Sort(cuts)
	werr := make(chan error, 1)
	go func() {
		prev := 0
		for _, cut := range cuts {
			if cut > prev {
				if _, err := conn.Write(stream[prev:cut]); err != nil {
					werr <- err
					return
				}
				prev = cut
			}
			time.Sleep(time.Duration(rng.Intn(3)) * time.Millisecond)
		}
		werr <- nil
	}()

	r := bufio.NewReaderSize(conn, 64<<10)
	var got []byte
	idx := 0
	for i, e := range script {
		if e.reply == "" {
			continue
		}
		got, err = readReply(r, got[:0])
		if err != nil {
			return fmt.Errorf("reply %d (request %d %q): read: %v (expected %q)", idx, i, e.req, err, e.reply)
		}
		if !bytes.Equal(got, []byte(e.reply)) {
			return fmt.Errorf("reply %d (request %d %q): got %q, want %q", idx, i, e.req, got, e.reply)
		}
		idx++
	}
	if err := <-werr; err != nil {
		return fmt.Errorf("write: %v", err)
	}
	if quit {
		_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		b, err := r.ReadByte()
		if err != io.EOF {
			return fmt.Errorf("after QUIT's +OK: expected EOF, got byte %q err %v", b, err)
		}
		return nil
	}
	// Nothing more may arrive: every reply was accounted for.
	_ = conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if b, err := r.ReadByte(); err == nil {
		rest, _ := r.Peek(r.Buffered())
		return fmt.Errorf("unexpected bytes after the last reply: %q", append([]byte{b}, rest...))
	} else if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		return fmt.Errorf("after the last reply: %v", err)
	}
	return nil
}
