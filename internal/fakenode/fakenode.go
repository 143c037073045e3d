// Package fakenode is a scripted Redis node on a loopback port, for the faults a real server
// cannot produce on demand: a reply cut in the middle, garbage, a connection reset under the
// proxy's next write, a node that reads and never answers, a reply dribbled a byte at a time, an
// error such as MOVED pointing wherever the test wants.
//
// Every accepted connection gets its own goroutine that reads RESP requests (multibulk or
// inline) in order. AUTH and READONLY are answered +OK, and CLUSTER NODES with the text given to
// SetClusterNodes, so a router can discover a cluster made of fakes (or of fakes and real
// nodes). Every other command goes to the node's Handler, which answers through the Conn: a
// handler that writes nothing leaves its command unanswered.
package fakenode

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Command is one request as the node read it.
type Command struct {
	Args []string
	Raw  []byte // the request's bytes on the wire
}

// Name is the command's name in upper case.
func (c Command) Name() string {
	if len(c.Args) == 0 {
		return ""
	}
	return strings.ToUpper(c.Args[0])
}

// Is reports whether the command is name (any case) followed by exactly args.
func (c Command) Is(name string, args ...string) bool {
	if len(c.Args) != 1+len(args) || !strings.EqualFold(c.Args[0], name) {
		return false
	}
	for i, a := range args {
		if c.Args[1+i] != a {
			return false
		}
	}
	return true
}

func (c Command) String() string { return strings.Join(c.Args, " ") }

// Handler decides what the node does with one command of connection c. It runs on c's reading
// goroutine: the next command is read when it returns.
type Handler func(c *Conn, cmd Command)

// Node is a fake cluster node.
type Node struct {
	Addr string
	ln   net.Listener

	mu       sync.Mutex
	handler  Handler
	nodes    string // CLUSTER NODES text; "" means the handler answers CLUSTER NODES
	conns    []*Conn
	commands []Command
	received []Command     // every command, AUTH, READONLY and CLUSTER NODES included
	changed  chan struct{} // closed and replaced whenever a connection or command arrives
	closed   bool

	// FailAuth: AUTH is answered with an error (a dial that fails at its handshake).
	FailAuth atomic.Bool
}

// Start listens on a free loopback port; the node stops when the test ends. A nil handler
// answers like Echo.
func Start(t testing.TB, h Handler) *Node {
	t.Helper()
	return StartAt(t, "127.0.0.1:0", h)
}

// StartAt is Start on a given address: a node that comes back where a closed one was.
func StartAt(t testing.TB, addr string, h Handler) *Node {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	if h == nil {
		h = Echo
	}
	n := &Node{Addr: ln.Addr().String(), ln: ln, handler: h, changed: make(chan struct{})}
	t.Cleanup(n.Close)
	go n.accept()
	return n
}

// SetHandler replaces the handler for the commands read from now on.
func (n *Node) SetHandler(h Handler) {
	n.mu.Lock()
	n.handler = h
	n.mu.Unlock()
}

// SetClusterNodes sets the node's answer to CLUSTER NODES (see ClusterNodes).
func (n *Node) SetClusterNodes(text string) {
	n.mu.Lock()
	n.nodes = text
	n.mu.Unlock()
}

// Close stops listening and resets every connection: the node is gone.
func (n *Node) Close() {
	n.mu.Lock()
	n.closed = true
	conns := append([]*Conn(nil), n.conns...)
	n.mu.Unlock()
	n.ln.Close()
	for _, c := range conns {
		c.Reset()
	}
}

// Accepted is the number of connections accepted so far (discovery connections included).
func (n *Node) Accepted() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.conns)
}

// Conns returns the connections accepted so far, oldest first.
func (n *Node) Conns() []*Conn {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]*Conn(nil), n.conns...)
}

// Commands returns every command read so far but those the node answers itself (AUTH,
// READONLY, CLUSTER NODES), on any connection, in the order they were read.
func (n *Node) Commands() []Command {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]Command(nil), n.commands...)
}

// Received returns every command read so far, including those the node answers itself: a
// test can check whether AUTH (and with which password) reached this address.
func (n *Node) Received() []Command {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]Command(nil), n.received...)
}

// Count is how many commands named name the node read (see Commands).
func (n *Node) Count(name string) int {
	k := 0
	for _, c := range n.Commands() {
		if c.Name() == strings.ToUpper(name) {
			k++
		}
	}
	return k
}

// WaitConn waits until the node has accepted i+1 connections and returns the i-th (0-based).
func (n *Node) WaitConn(t testing.TB, i int, timeout time.Duration) *Conn {
	t.Helper()
	var c *Conn
	n.waitFor(t, timeout, fmt.Sprintf("connection #%d to %s", i, n.Addr), func() bool {
		if i < len(n.conns) {
			c = n.conns[i]
			return true
		}
		return false
	})
	return c
}

// WaitCommands waits until the node has read at least k commands (see Commands).
func (n *Node) WaitCommands(t testing.TB, k int, timeout time.Duration) []Command {
	t.Helper()
	n.waitFor(t, timeout, fmt.Sprintf("%d commands at %s", k, n.Addr), func() bool { return len(n.commands) >= k })
	return n.Commands()
}

// waitFor waits until cond (called under mu) holds.
func (n *Node) waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		n.mu.Lock()
		ok, ch := cond(), n.changed
		n.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("fakenode: no %s after %v", what, timeout)
		}
	}
}

// notify wakes the waiters; called under mu.
func (n *Node) notify() {
	close(n.changed)
	n.changed = make(chan struct{})
}

func (n *Node) accept() {
	for {
		nc, err := n.ln.Accept()
		if err != nil {
			return
		}
		c := &Conn{node: n, nc: nc.(*net.TCPConn), done: make(chan struct{})}
		n.mu.Lock()
		if n.closed {
			n.mu.Unlock()
			c.Reset()
			continue
		}
		n.conns = append(n.conns, c)
		n.notify()
		n.mu.Unlock()
		go c.serve()
	}
}

// Conn is one accepted connection.
type Conn struct {
	node    *Node
	nc      *net.TCPConn
	wmu     sync.Mutex // one writer at a time: the handler, or a test resetting the connection
	stalled atomic.Bool
	gone    atomic.Bool
	done    chan struct{} // closed when the reading goroutine ends
	seq     int           // commands handed to the handler on this connection (reader goroutine)
	cmds    []Command     // under node.mu
}

// Seq is the number of commands this connection handed to the handler before the current one:
// 0 for its first. Only meaningful inside the handler.
func (c *Conn) Seq() int { return c.seq }

// Commands returns the commands this connection read so far (see Node.Commands).
func (c *Conn) Commands() []Command {
	c.node.mu.Lock()
	defer c.node.mu.Unlock()
	return append([]Command(nil), c.cmds...)
}

// Done is closed once the connection's reader has stopped (the peer closed it, or the node did).
func (c *Conn) Done() <-chan struct{} { return c.done }

// Write sends raw bytes.
func (c *Conn) Write(b []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_, err := c.nc.Write(b)
	return err
}

// Reply sends each reply (raw RESP bytes; see Simple, Error, Bulk, Int) in one write.
func (c *Conn) Reply(replies ...[]byte) {
	var b []byte
	for _, r := range replies {
		b = append(b, r...)
	}
	_ = c.Write(b)
}

// Dribble sends b chunk bytes at a time with gap between chunks: a very slow node.
func (c *Conn) Dribble(b []byte, chunk int, gap time.Duration) {
	for len(b) > 0 && !c.gone.Load() {
		k := min(chunk, len(b))
		if c.Write(b[:k]) != nil {
			return
		}
		b = b[k:]
		if len(b) > 0 {
			time.Sleep(gap)
		}
	}
}

// Close closes the connection in an orderly way (FIN): the proxy reads end-of-file.
func (c *Conn) Close() {
	c.gone.Store(true)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.nc.Close()
}

// CloseMidReply writes the first half of reply, then closes the connection.
func (c *Conn) CloseMidReply(reply []byte) {
	_ = c.Write(reply[:len(reply)/2])
	time.Sleep(10 * time.Millisecond) // the half arrives on its own
	c.Close()
}

// Reset closes the connection with a TCP reset (SO_LINGER 0): the proxy's next write to it
// fails with ECONNRESET or EPIPE.
func (c *Conn) Reset() {
	c.gone.Store(true)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	_ = c.nc.SetLinger(0)
	_ = c.nc.Close()
}

// Stall makes the connection read (and record) every further command and answer none: a node
// that hangs.
func (c *Conn) Stall() { c.stalled.Store(true) }

// Hijack returns the raw connection, for what the methods above do not cover.
func (c *Conn) Hijack() *net.TCPConn { return c.nc }

func (c *Conn) serve() {
	defer close(c.done)
	defer func() {
		c.node.mu.Lock()
		c.node.notify()
		c.node.mu.Unlock()
	}()
	r := bufio.NewReader(c.nc)
	for {
		cmd, err := readCommand(r)
		if err != nil {
			if !errors.Is(err, io.EOF) && !c.gone.Load() {
				_ = c.Write(Error("ERR fakenode: " + err.Error()))
			}
			c.Close()
			return
		}
		n := c.node
		n.mu.Lock()
		nodes, h := n.nodes, n.handler
		builtin := cmd.Name() == "AUTH" || cmd.Name() == "READONLY" || nodes != "" && (isClusterNodes(cmd) || isNodeTimeout(cmd))
		n.received = append(n.received, cmd)
		if !builtin {
			n.commands = append(n.commands, cmd)
			c.cmds = append(c.cmds, cmd)
			n.notify()
		}
		n.mu.Unlock()
		switch {
		case c.stalled.Load(): // read, recorded, never answered
		case !builtin:
			h(c, cmd)
			c.seq++
		case cmd.Name() == "AUTH" && n.FailAuth.Load():
			c.Reply(Error("WRONGPASS fakenode: FailAuth"))
		case cmd.Name() == "CLUSTER":
			c.Reply(Bulk(nodes))
		case cmd.Name() == "CONFIG":
			// The router asks at discovery; a fake keeps its default window (2 s) by not saying.
			c.Reply(Error("ERR fakenode: no cluster-node-timeout"))
		default:
			c.Reply(OK)
		}
	}
}

// isNodeTimeout is the router's CONFIG GET cluster-node-timeout at discovery.
func isNodeTimeout(cmd Command) bool {
	return len(cmd.Args) == 3 && cmd.Name() == "CONFIG" && strings.EqualFold(cmd.Args[2], "cluster-node-timeout")
}

func isClusterNodes(cmd Command) bool {
	return len(cmd.Args) == 2 && cmd.Name() == "CLUSTER" && strings.EqualFold(cmd.Args[1], "NODES")
}

// readCommand reads one request: a multibulk array of bulk strings, or an inline command.
func readCommand(r *bufio.Reader) (Command, error) {
	var raw []byte
	line := func() (string, error) {
		s, err := r.ReadString('\n')
		raw = append(raw, s...)
		if err != nil {
			return "", err
		}
		return strings.TrimSuffix(strings.TrimSuffix(s, "\n"), "\r"), nil
	}
	for {
		l, err := line()
		if err != nil {
			return Command{}, err
		}
		if l == "" {
			raw = raw[:0]
			continue
		}
		if l[0] != '*' {
			return Command{Args: strings.Fields(l), Raw: raw}, nil
		}
		n, err := strconv.Atoi(l[1:])
		if err != nil || n < 0 || n > 1<<20 {
			return Command{}, fmt.Errorf("bad multibulk length %q", l)
		}
		if n == 0 {
			raw = raw[:0]
			continue
		}
		args := make([]string, 0, n)
		for range n {
			h, err := line()
			if err != nil {
				return Command{}, err
			}
			if len(h) < 2 || h[0] != '$' {
				return Command{}, fmt.Errorf("expected a bulk string, got %q", h)
			}
			k, err := strconv.Atoi(h[1:])
			if err != nil || k < 0 || k > 512<<20 {
				return Command{}, fmt.Errorf("bad bulk length %q", h)
			}
			b := make([]byte, k+2)
			if _, err := io.ReadFull(r, b); err != nil {
				return Command{}, err
			}
			raw = append(raw, b...)
			args = append(args, string(b[:k]))
		}
		return Command{Args: args, Raw: raw}, nil
	}
}
