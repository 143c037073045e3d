// Command floorproxy is a measuring stick, not a product: the least a Redis Cluster proxy on
// gnet can do per request. It frames multibulk requests, hashes argument 1 as the key, appends
// the request to one pipelined connection per master, flushes every master once at the end of
// each event-loop round (gnet's Execute, which runs after all I/O of a round but allocates on
// every call), and returns replies in request order. It has no command table, no error replies
// of its own, no topology changes, no bounds and no metrics; a backend that fails stops it.
//
// slotbench -floor starts it beside slotgate so that one run, on one machine, shows how much of
// the gap to direct cluster access is the extra hop itself and how much is slotgate:
//
//	floorproxy -listen 127.0.0.1:22199 -cluster 127.0.0.1:7000 -password 'A12345!'
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/slotgate/slotgate/codec"
	"github.com/slotgate/slotgate/router/slot"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:22199", "address clients connect to")
	seed := flag.String("cluster", "127.0.0.1:7000", "HOST:PORT of one cluster node")
	password := flag.String("password", "", "password of the cluster nodes")
	flag.Parse()
	p := &proxy{password: *password}
	if err := p.loadSlots(*seed); err != nil {
		log.Fatalf("floorproxy: %v", err)
	}
	log.Fatal(gnet.Run(p, "tcp://"+*listen, gnet.WithNumEventLoop(1), gnet.WithTCPNoDelay(gnet.TCPNoDelay)))
}

// proxy runs on one event loop; every field is owned by it.
type proxy struct {
	gnet.BuiltinEventEngine
	password string
	masters  []string
	owner    [slot.Count]uint8 // slot -> index in masters
	el       gnet.EventLoop
	backends []*backend
	dirty    []*backend
	touched  []*client
	armed    bool // a flush is queued for the end of this round
}

type backend struct {
	conn   gnet.Conn // nil until enrolled
	out    []byte    // requests not yet written
	fifo   []waiter  // who waits for each reply, oldest at fifo[head]
	head   int
	framer codec.ReplyFramer
	dirty  bool
}

type waiter struct {
	c   *client
	seq uint64
}

// client numbers its requests; replies that arrive before earlier ones wait in ring.
type client struct {
	conn       gnet.Conn
	next, head uint64
	ring       [ringSize][]byte
	ready      [ringSize]bool
	out        []byte
	touched    bool
}

// ringSize bounds the requests a client may have in flight (the floor needs no more).
const ringSize = 1024

// loadSlots reads the masters and their slots from CLUSTER NODES.
func (p *proxy) loadSlots(seed string) error {
	nc, err := net.DialTimeout("tcp", seed, time.Second)
	if err != nil {
		return err
	}
	defer nc.Close()
	rd := bufio.NewReader(nc)
	if p.password != "" {
		if err := command(nc, rd, "AUTH", p.password); err != nil {
			return err
		}
	}
	if _, err := fmt.Fprint(nc, "*2\r\n$7\r\nCLUSTER\r\n$5\r\nNODES\r\n"); err != nil {
		return err
	}
	head, err := rd.ReadString('\n')
	if err != nil || !strings.HasPrefix(head, "$") {
		return fmt.Errorf("CLUSTER NODES: %q %v", head, err)
	}
	n, _ := strconv.Atoi(strings.TrimSpace(head[1:]))
	body := make([]byte, n+2)
	if _, err := io.ReadFull(rd, body); err != nil {
		return err
	}
	for line := range strings.SplitSeq(string(body[:n]), "\n") {
		f := strings.Fields(line)
		if len(f) < 9 || !strings.Contains(f[2], "master") || strings.Contains(f[2], "fail") {
			continue
		}
		addr, _, _ := strings.Cut(f[1], "@")
		for _, r := range f[8:] {
			lo, hi, isRange := strings.Cut(r, "-")
			a, err := strconv.Atoi(lo)
			if err != nil {
				continue // a migrating/importing marker
			}
			b := a
			if isRange {
				b, _ = strconv.Atoi(hi)
			}
			for s := a; s <= b && s < slot.Count; s++ {
				p.owner[s] = uint8(len(p.masters))
			}
		}
		p.masters = append(p.masters, addr)
	}
	if len(p.masters) == 0 {
		return fmt.Errorf("no master in CLUSTER NODES of %s", seed)
	}
	return nil
}

// command sends one command and expects +OK.
func command(w io.Writer, rd *bufio.Reader, args ...string) error {
	if _, err := w.Write(codec.AppendRequest(nil, toBytes(args))); err != nil {
		return err
	}
	line, err := rd.ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+OK") {
		return fmt.Errorf("%s: %s", args[0], strings.TrimSpace(line))
	}
	return nil
}

func toBytes(ss []string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}

// connect dials every master with AUTH done and enrolls it in the loop (first client only).
func (p *proxy) connect(el gnet.EventLoop) {
	p.el = el
	for _, addr := range p.masters {
		nc, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			log.Fatalf("floorproxy: %v", err)
		}
		if p.password != "" {
			// Exactly "+OK\r\n" is read, so nothing is left in a Go-side buffer when gnet takes the fd.
			if _, err := nc.Write(codec.AppendRequest(nil, toBytes([]string{"AUTH", p.password}))); err != nil {
				log.Fatalf("floorproxy: %v", err)
			}
			var ok [5]byte
			if _, err := io.ReadFull(nc, ok[:]); err != nil || string(ok[:]) != "+OK\r\n" {
				log.Fatalf("floorproxy: AUTH on %s: %q %v", addr, ok, err)
			}
		}
		b := &backend{}
		p.backends = append(p.backends, b)
		if _, err := el.Enroll(gnet.NewContext(context.Background(), b), nc); err != nil {
			log.Fatalf("floorproxy: %v", err)
		}
	}
}

func (p *proxy) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	if b, ok := c.Context().(*backend); ok {
		b.conn = c
		if len(b.out) > 0 {
			p.markDirty(b) // requests that came before the connection
		}
		return nil, gnet.None
	}
	if p.el == nil {
		p.connect(c.EventLoop())
	}
	c.SetContext(&client{conn: c})
	return nil, gnet.None
}

func (p *proxy) OnClose(c gnet.Conn, err error) gnet.Action {
	if _, ok := c.Context().(*backend); ok {
		log.Printf("floorproxy: a backend connection closed (%v): stopping", err)
		return gnet.Shutdown
	}
	if cl, ok := c.Context().(*client); ok {
		cl.conn = nil // replies still on their way are dropped
	}
	return gnet.None
}

func (p *proxy) OnTraffic(c gnet.Conn) gnet.Action {
	switch x := c.Context().(type) {
	case *client:
		return p.requests(x)
	case *backend:
		return p.replies(x)
	}
	return gnet.Close
}

// requests forwards every complete request of cl.
func (p *proxy) requests(cl *client) gnet.Action {
	c := cl.conn
	buf, _ := c.Peek(-1)
	off := 0
	for off < len(buf) {
		n, key, ok := frameRequest(buf[off:])
		if !ok {
			return gnet.Close
		}
		if n == 0 {
			break
		}
		if cl.next-cl.head >= ringSize {
			break // the rest waits for replies
		}
		b := p.backends[p.owner[slot.Of(key)]]
		b.out = append(b.out, buf[off:off+n]...)
		b.fifo = append(b.fifo, waiter{cl, cl.next})
		cl.next++
		p.markDirty(b)
		off += n
	}
	if off > 0 {
		_, _ = c.Discard(off)
	}
	return gnet.None
}

// replies hands each reply of b to its client in order and writes each client once.
func (p *proxy) replies(b *backend) gnet.Action {
	c := b.conn
	buf, _ := c.Peek(-1)
	off := 0
	for off < len(buf) {
		n, err := b.framer.Frame(buf[off:])
		if err != nil || (n > 0 && b.head == len(b.fifo)) {
			log.Printf("floorproxy: bad reply stream (%v): stopping", err)
			return gnet.Shutdown
		}
		if n == 0 {
			break
		}
		w := b.fifo[b.head]
		b.head++
		p.deliver(w, buf[off:off+n])
		off += n
	}
	if off > 0 {
		_, _ = c.Discard(off)
	}
	if b.head == len(b.fifo) {
		b.fifo, b.head = b.fifo[:0], 0
	}
	for _, cl := range p.touched {
		cl.touched = false
		if cl.conn != nil && len(cl.out) > 0 {
			_, _ = cl.conn.Write(cl.out)
		}
		cl.out = cl.out[:0]
		if cl.conn != nil && cl.conn.InboundBuffered() > 0 {
			p.requests(cl) // requests left waiting for room in the ring
		}
	}
	clear(p.touched)
	p.touched = p.touched[:0]
	return gnet.None
}

func (p *proxy) deliver(w waiter, reply []byte) {
	cl := w.c
	if w.seq != cl.head {
		i := w.seq % ringSize
		cl.ring[i] = append(cl.ring[i][:0], reply...)
		cl.ready[i] = true
		return
	}
	cl.out = append(cl.out, reply...)
	cl.head++
	for cl.head < cl.next && cl.ready[cl.head%ringSize] {
		i := cl.head % ringSize
		cl.out = append(cl.out, cl.ring[i]...)
		cl.ready[i] = false
		cl.head++
	}
	if !cl.touched {
		cl.touched = true
		p.touched = append(p.touched, cl)
	}
}

func (p *proxy) markDirty(b *backend) {
	if b.dirty || b.conn == nil {
		return
	}
	b.dirty = true
	p.dirty = append(p.dirty, b)
	if !p.armed {
		p.armed = true
		_ = p.el.Execute(context.Background(), p)
	}
}

// Run flushes every dirty backend once: gnet runs it after all I/O callbacks of the round.
func (p *proxy) Run(context.Context) error {
	p.armed = false
	for _, b := range p.dirty {
		b.dirty = false
		_, _ = b.conn.Write(b.out)
		b.out = b.out[:0]
	}
	clear(p.dirty)
	p.dirty = p.dirty[:0]
	return nil
}

// frameRequest frames one multibulk request at the start of b and returns its length (0:
// incomplete) and argument 1 (the key of every command a benchmark sends; empty when absent).
// ok is false for anything but a well-formed multibulk request.
func frameRequest(b []byte) (n int, key []byte, ok bool) {
	i, argc, ok := number(b, 0, '*')
	if !ok || i == 0 {
		return 0, nil, ok
	}
	for a := 0; a < argc; a++ {
		var l int
		if i, l, ok = number(b, i, '$'); !ok || i == 0 {
			return 0, nil, ok
		}
		if i+l+2 > len(b) {
			return 0, nil, true
		}
		if a == 1 {
			key = b[i : i+l]
		}
		i += l + 2
	}
	return i, key, true
}

// number parses "<kind><digits>\r\n" at b[i:] and returns the offset after it (0: incomplete).
func number(b []byte, i int, kind byte) (next, v int, ok bool) {
	if i >= len(b) {
		return 0, 0, true
	}
	if b[i] != kind {
		return 0, 0, false
	}
	for i++; i < len(b) && b[i] != '\r'; i++ {
		if b[i] < '0' || b[i] > '9' {
			return 0, 0, false
		}
		if v = v*10 + int(b[i]-'0'); v > 1<<30 {
			return 0, 0, false
		}
	}
	if i+1 >= len(b) {
		return 0, 0, true
	}
	return i + 2, v, true
}
