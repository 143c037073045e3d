// Package testcluster starts a real Redis Cluster made of redis-server
// processes on loopback ports, for tests and for `make run`.
//
// Every server is started from one dedicated OS thread with
// Pdeathsig=SIGKILL and its own process group, so servers die with the
// process that started them, even on panic or a `go test -timeout` kill.
// Servers are only ever signalled by PID.
package testcluster

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// DefaultPassword is the password used when Options.Password is empty.
const DefaultPassword = "A12345!"

// Options configures Start.
type Options struct {
	Masters  int    // default 3
	Replicas int    // replicas per master, default 1; use NoReplicas for none
	Password string // requirepass + masterauth; default DefaultPassword

	// Ports optionally fixes the client ports (len must be Masters*(1+Replicas)).
	// The bus port is then port+10000 unless BusPorts is given. If every port
	// already serves a healthy cluster with this password, it is reused:
	// nothing is started and Close stops nothing.
	Ports    []int
	BusPorts []int

	// Dir is the data dir (default: a temp dir removed on Close). Nodes live
	// in Dir/<port> with fixed ports, else Dir/node<i>. With fixed ports, a
	// Dir holding every node's nodes.conf restarts that cluster (data kept).
	Dir string

	// NodeTimeout is cluster-node-timeout (default 5s). A killed master's
	// replica is promoted some NodeTimeout + 1s after the kill (2.2s at 1s),
	// so tests that kill masters use ~1s.
	NodeTimeout time.Duration

	AppendOnly  bool     // appendonly yes
	MaxMemory   string   // e.g. "2gb", with maxmemory-policy allkeys-lru; empty = none
	ExtraConfig []string // extra "name value" config lines (appended last, so they override)

	// StartTimeout bounds start-up until healthy (default 30s, 60s when
	// restarting an existing data dir; a restart counts it from the end of
	// the last node's data load when that is later).
	StartTimeout time.Duration

	Logf func(format string, args ...any) // optional progress log

	// Cancel, when closed, abandons a restart that is waiting for its nodes
	// (devcluster's Ctrl-C during a long data load): Start stops what it
	// started and returns ErrCanceled.
	Cancel <-chan struct{}

	// RedisServer is the redis-server binary (default: "redis-server" on PATH).
	RedisServer string
}

// NoReplicas as Options.Replicas asks for a cluster without replicas.
const NoReplicas = -1

// Node is one redis-server of the cluster.
type Node struct {
	Index   int    // position in Cluster.Nodes (the first Masters nodes start as masters)
	Addr    string // "127.0.0.1:port"
	Port    int
	BusPort int
	ID      string // cluster node ID
	PID     int    // current process ID (changes on Restart; informational when reused)
	Dir     string // data dir of this node ("" when reused)
	Conf    string // path of redis.conf
	LogFile string // path of the server log

	mu   sync.Mutex
	proc *proc
}

type proc struct {
	cmd  *exec.Cmd
	pid  int
	done chan struct{} // closed when the process has been reaped
	err  error         // Wait's result, valid after done
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Running reports whether this node's process (started by us) is alive.
func (n *Node) Running() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.proc != nil && !n.proc.exited()
}

func (n *Node) String() string { return n.Addr }

// Cluster is a running Redis Cluster.
type Cluster struct {
	Nodes    []*Node
	Password string
	Dir      string // data dir ("" when reused)
	Reused   bool   // the cluster was already running on fixed ports: Close stops nothing

	opts    Options
	tempDir bool
	logf    func(string, ...any)

	mu       sync.Mutex
	closed   bool
	clients  map[string]*redis.Client
	ccluster *redis.ClusterClient
}

const ctlTimeout = 2 * time.Second

func (o *Options) defaults() error {
	if o.Masters == 0 {
		o.Masters = 3
	}
	switch {
	case o.Replicas == 0:
		o.Replicas = 1
	case o.Replicas == NoReplicas:
		o.Replicas = 0
	}
	if o.Masters < 1 || o.Replicas < 0 {
		return fmt.Errorf("testcluster: bad Masters=%d Replicas=%d", o.Masters, o.Replicas)
	}
	if o.Password == "" {
		o.Password = DefaultPassword
	}
	if o.RedisServer == "" {
		o.RedisServer = "redis-server"
	}
	total := o.Masters * (1 + o.Replicas)
	if len(o.Ports) > 0 && len(o.Ports) != total {
		return fmt.Errorf("testcluster: %d ports given for %d masters with %d replicas each (%d nodes)",
			len(o.Ports), o.Masters, o.Replicas, total)
	}
	if len(o.BusPorts) > 0 && len(o.BusPorts) != len(o.Ports) {
		return fmt.Errorf("testcluster: BusPorts needs one entry per port")
	}
	if len(o.Ports) > 0 && len(o.BusPorts) == 0 {
		for _, p := range o.Ports {
			o.BusPorts = append(o.BusPorts, p+10000)
		}
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	return nil
}

// Start starts (or, with fixed Ports, possibly reuses) a cluster and returns
// once it is healthy. On error, everything it started is stopped again.
func Start(opts Options) (*Cluster, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	t0 := time.Now()
	if len(opts.Ports) > 0 {
		c, err := probeFixed(opts)
		if err != nil || c != nil {
			if c != nil {
				opts.Logf("testcluster: reusing the running cluster on ports %v", opts.Ports)
			}
			return c, err
		}
	}
	if _, err := exec.LookPath(opts.RedisServer); err != nil {
		return nil, fmt.Errorf("testcluster: %w", err)
	}
	c := &Cluster{Password: opts.Password, opts: opts, logf: opts.Logf}
	if opts.Dir == "" {
		d, err := os.MkdirTemp("", "testcluster-")
		if err != nil {
			return nil, err
		}
		c.Dir, c.tempDir = d, true
	} else {
		d, err := filepath.Abs(opts.Dir)
		if err != nil {
			return nil, err
		}
		c.Dir = d
	}
	err := c.start(t0)
	if err != nil {
		for _, n := range c.Nodes {
			if n.LogFile != "" {
				if tail := LogTail(n.LogFile, 15); tail != "" {
					opts.Logf("testcluster: log tail of %s (%s):\n%s", n.Addr, n.LogFile, tail)
				}
			}
		}
		c.Close()
		return nil, err
	}
	return c, nil
}

func (c *Cluster) start(t0 time.Time) error {
	o := c.opts
	total := o.Masters * (1 + o.Replicas)
	existing := 0
	for i := range total {
		n := &Node{Index: i}
		if len(o.Ports) > 0 {
			n.Port, n.BusPort = o.Ports[i], o.BusPorts[i]
			n.Addr = addrOf(n.Port)
			n.Dir = filepath.Join(c.Dir, strconv.Itoa(n.Port))
		} else {
			n.Dir = filepath.Join(c.Dir, fmt.Sprintf("node%d", i))
		}
		n.Conf = filepath.Join(n.Dir, "redis.conf")
		n.LogFile = filepath.Join(n.Dir, "redis.log")
		if err := os.MkdirAll(n.Dir, 0o755); err != nil {
			return err
		}
		if st, err := os.Stat(filepath.Join(n.Dir, "nodes.conf")); err == nil && st.Size() > 0 {
			existing++
		}
		c.Nodes = append(c.Nodes, n)
	}
	restart := existing > 0
	if restart && (existing != total || len(o.Ports) == 0) {
		return fmt.Errorf("testcluster: %s holds nodes.conf for %d of %d nodes; remove it to start a fresh cluster", c.Dir, existing, total)
	}

	// Start every server in parallel.
	errs := make([]error, total)
	var wg sync.WaitGroup
	for i, n := range c.Nodes {
		wg.Go(func() { errs[i] = c.launch(n, len(o.Ports) == 0) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	tUp := time.Since(t0)

	timeout := o.StartTimeout
	if timeout == 0 {
		timeout = 30 * time.Second
		if restart {
			timeout = 60 * time.Second
		}
	}
	if restart {
		c.logf("testcluster: restarting the cluster in %s", c.Dir)
		if err := c.waitHealthy(t0, timeout, true); err != nil {
			return fmt.Errorf("%w (the data dir %s may hold a stale cluster; remove it to start fresh)", err, c.Dir)
		}
		c.refreshIDs()
	} else if err := c.create(t0.Add(timeout)); err != nil {
		return err
	}
	c.logf("testcluster: %d masters + %d replicas healthy in %v (servers up in %v)",
		o.Masters, o.Masters*o.Replicas, time.Since(t0).Round(time.Millisecond), tUp.Round(time.Millisecond))
	return nil
}

func addrOf(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }

// create joins fresh nodes into a cluster.
func (c *Cluster) create(deadline time.Time) error {
	o := c.opts
	pw := c.Password
	for _, n := range c.Nodes {
		id, err := callString(n.Addr, pw, ctlTimeout, "CLUSTER", "MYID")
		if err != nil {
			return fmt.Errorf("testcluster: CLUSTER MYID on %s: %w", n.Addr, err)
		}
		n.ID = id
	}
	// A node learns another's role change only from that node's own pings,
	// which it sends every node-timeout/2: lower the timeout while the
	// cluster forms (a role change then spreads in ~0.5s, not ~2.5s), and
	// restore the configured value once healthy.
	nodeTimeout := "5000"
	if v, err := call(c.Nodes[0].Addr, pw, ctlTimeout, "CONFIG", "GET", "cluster-node-timeout"); err == nil {
		if kv, ok := v.([]any); ok && len(kv) == 2 {
			if s, ok := kv[1].(string); ok {
				nodeTimeout = s
			}
		}
	}
	for _, n := range c.Nodes {
		if _, err := call(n.Addr, pw, ctlTimeout, "CONFIG", "SET", "cluster-node-timeout", "1000"); err != nil {
			return fmt.Errorf("testcluster: CONFIG SET cluster-node-timeout on %s: %w", n.Addr, err)
		}
	}
	// Distinct config epochs (only allowed on fresh nodes, before MEET).
	for i, n := range c.Nodes {
		if _, err := call(n.Addr, pw, ctlTimeout, "CLUSTER", "SET-CONFIG-EPOCH", strconv.Itoa(i+1)); err != nil {
			return fmt.Errorf("testcluster: CLUSTER SET-CONFIG-EPOCH on %s: %w", n.Addr, err)
		}
	}
	for i, r := range splitSlots(o.Masters) {
		n := c.Nodes[i]
		if _, err := call(n.Addr, pw, ctlTimeout, "CLUSTER", "ADDSLOTSRANGE", strconv.Itoa(r[0]), strconv.Itoa(r[1])); err != nil {
			return fmt.Errorf("testcluster: CLUSTER ADDSLOTSRANGE on %s: %w", n.Addr, err)
		}
	}
	first := c.Nodes[0]
	for _, n := range c.Nodes[1:] {
		if _, err := call(n.Addr, pw, ctlTimeout, "CLUSTER", "MEET", "127.0.0.1",
			strconv.Itoa(first.Port), strconv.Itoa(first.BusPort)); err != nil {
			return fmt.Errorf("testcluster: CLUSTER MEET from %s: %w", n.Addr, err)
		}
	}
	// Wait until every node knows every other one.
	var last error
	for {
		last = c.checkKnown()
		if last == nil {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("testcluster: nodes did not meet: %w", last)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for j, r := range c.Nodes[o.Masters:] {
		m := c.Nodes[j%o.Masters]
		if _, err := call(r.Addr, pw, ctlTimeout, "CLUSTER", "REPLICATE", m.ID); err != nil {
			return fmt.Errorf("testcluster: CLUSTER REPLICATE on %s: %w", r.Addr, err)
		}
	}
	if err := c.WaitHealthy(time.Until(deadline)); err != nil {
		return err
	}
	for _, n := range c.Nodes {
		if _, err := call(n.Addr, pw, ctlTimeout, "CONFIG", "SET", "cluster-node-timeout", nodeTimeout); err != nil {
			return fmt.Errorf("testcluster: restore cluster-node-timeout on %s: %w", n.Addr, err)
		}
	}
	return nil
}

func (c *Cluster) checkKnown() error {
	want := map[string]bool{}
	for _, n := range c.Nodes {
		want[n.ID] = true
	}
	for _, n := range c.Nodes {
		v, err := callString(n.Addr, c.Password, ctlTimeout, "CLUSTER", "NODES")
		if err != nil {
			return fmt.Errorf("%s: %w", n.Addr, err)
		}
		nis, err := parseClusterNodes(v)
		if err != nil {
			return err
		}
		seen := 0
		for _, ni := range nis {
			if ni.has("handshake") || ni.has("noaddr") {
				return fmt.Errorf("%s: node %s in handshake", n.Addr, ni.Addr)
			}
			if want[ni.ID] {
				seen++
			}
		}
		if seen != len(want) {
			return fmt.Errorf("%s knows %d of %d nodes", n.Addr, seen, len(want))
		}
	}
	return nil
}

// launch writes the config of a fresh node and starts it. With pickPorts it
// picks free ports, and picks again if the start loses a bind race.
func (c *Cluster) launch(n *Node, pickPorts bool) error {
	for attempt := 0; ; attempt++ {
		if pickPorts {
			ps, err := freePorts(2)
			if err != nil {
				return err
			}
			n.Port, n.BusPort = ps[0], ps[1]
			n.Addr = addrOf(n.Port)
		}
		if err := os.WriteFile(n.Conf, []byte(c.config(n)), 0o644); err != nil {
			return err
		}
		err := c.spawn(n)
		if err == nil {
			return nil
		}
		if pickPorts && attempt < 5 && errors.Is(err, errAddrInUse) {
			c.logf("testcluster: %v; retrying with other ports", err)
			continue
		}
		return err
	}
}

func quoteConf(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\r", `\r`)
	return `"` + r.Replace(s) + `"`
}

func (c *Cluster) config(n *Node) string {
	o := c.opts
	var b strings.Builder
	line := func(k string, v ...string) { fmt.Fprintf(&b, "%s %s\n", k, strings.Join(v, " ")) }
	line("port", strconv.Itoa(n.Port))
	line("bind", "127.0.0.1")
	line("protected-mode", "no")
	line("daemonize", "no")
	line("dir", quoteConf(n.Dir))
	line("logfile", quoteConf(n.LogFile))
	line("cluster-enabled", "yes")
	line("cluster-config-file", quoteConf(filepath.Join(n.Dir, "nodes.conf")))
	nodeTimeout := int64(5000)
	if o.NodeTimeout > 0 {
		nodeTimeout = max(o.NodeTimeout.Milliseconds(), 1)
	}
	line("cluster-node-timeout", strconv.FormatInt(nodeTimeout, 10))
	// A replica may always fail over, however long its link to the master
	// was down (the default factor 10 can leave a shard without master).
	line("cluster-replica-validity-factor", "0")
	line("cluster-port", strconv.Itoa(n.BusPort))
	line("requirepass", quoteConf(c.Password))
	line("masterauth", quoteConf(c.Password))
	line("save", `""`)
	line("repl-diskless-sync", "yes")
	line("repl-diskless-sync-delay", "0") // default 5s would delay every replica's first sync
	if o.AppendOnly {
		line("appendonly", "yes")
	} else {
		line("appendonly", "no")
	}
	if o.MaxMemory != "" {
		line("maxmemory", o.MaxMemory)
		line("maxmemory-policy", "allkeys-lru")
	}
	for _, l := range o.ExtraConfig {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.String()
}

var errAddrInUse = errors.New("address already in use")

// spawn starts n's server from its config file and waits until it answers
// as itself (INFO process_id matches its PID).
func (c *Cluster) spawn(n *Node) error {
	var logOff int64
	if st, err := os.Stat(n.LogFile); err == nil {
		logOff = st.Size()
	}
	out, err := os.OpenFile(filepath.Join(n.Dir, "stdout.log"), os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(c.opts.RedisServer, n.Conf)
	cmd.Dir = n.Dir
	cmd.Stdout, cmd.Stderr = out, out
	err = StartProcess(cmd, true)
	out.Close()
	if err != nil {
		return fmt.Errorf("testcluster: start redis-server for %s: %w", n.Addr, err)
	}
	p := &proc{cmd: cmd, pid: cmd.Process.Pid, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	n.mu.Lock()
	n.proc = p
	n.PID = p.pid
	n.mu.Unlock()

	deadline := time.Now().Add(15 * time.Second)
	want := "process_id:" + strconv.Itoa(p.pid)
	for {
		if p.exited() {
			msg := strings.TrimSpace(readFrom(n.LogFile, logOff) + readFrom(filepath.Join(n.Dir, "stdout.log"), 0))
			err := fmt.Errorf("testcluster: redis-server for %s (pid %d) exited: %v: %s", n.Addr, p.pid, p.err, lastLines(msg, 5))
			if strings.Contains(msg, "Address already in use") {
				return fmt.Errorf("%w: %w", errAddrInUse, err)
			}
			return err
		}
		if v, err := callString(n.Addr, c.Password, 500*time.Millisecond, "INFO", "server"); err == nil &&
			strings.Contains(v, want+"\r") {
			return nil
		}
		if time.Now().After(deadline) {
			c.stopProc(n, 0)
			return fmt.Errorf("testcluster: redis-server for %s (pid %d) did not answer in time", n.Addr, p.pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func readFrom(path string, off int64) string {
	b, err := os.ReadFile(path)
	if err != nil || int64(len(b)) < off {
		return ""
	}
	return string(b[off:])
}

func lastLines(s string, n int) string {
	ls := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	return strings.Join(ls, "\n")
}

// LogTail returns the last n lines of a server log.
func LogTail(path string, n int) string { return lastLines(readFrom(path, 0), n) }

var (
	portMu   sync.Mutex
	portUsed = map[int]bool{} // ports handed out by this process
)

// freePorts returns n distinct ports that were free on 127.0.0.1 (bind test)
// and have not been handed out before by this process.
func freePorts(n int) ([]int, error) {
	portMu.Lock()
	defer portMu.Unlock()
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var out []int
	for tries := 0; len(out) < n; tries++ {
		if tries > 1000 {
			return nil, errors.New("testcluster: no free port found")
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		p := l.Addr().(*net.TCPAddr).Port
		if portUsed[p] {
			continue
		}
		portUsed[p] = true
		out = append(out, p)
	}
	return out, nil
}

// probeFixed decides what to do with fixed ports: reuse a healthy cluster
// (returns it), start a new one (nil, nil), or refuse (error naming the port).
func probeFixed(o Options) (*Cluster, error) {
	var answering, free []int
	var notOK []string
	for i, p := range o.Ports {
		addr := addrOf(p)
		conn, err := net.DialTimeout("tcp", addr, 300*time.Millisecond)
		if err != nil {
			// Nothing answers on 127.0.0.1; make sure both ports can be bound.
			for _, q := range []int{p, o.BusPorts[i]} {
				l, err := net.Listen("tcp", addrOf(q))
				if err != nil {
					return nil, fmt.Errorf("testcluster: port %d (for node %s) is in use by another process: %v", q, addr, err)
				}
				l.Close()
			}
			free = append(free, p)
			continue
		}
		conn.Close()
		if _, err := callString(addr, o.Password, ctlTimeout, "PING"); err != nil {
			return nil, fmt.Errorf("testcluster: port %d is in use by something that is not a redis-server with this password: %v", p, err)
		}
		info, err := callString(addr, o.Password, ctlTimeout, "CLUSTER", "INFO")
		if err != nil {
			return nil, fmt.Errorf("testcluster: port %d is served by a redis-server that is not a cluster node: %v", p, err)
		}
		answering = append(answering, p)
		if st := InfoField(info, "cluster_state"); st != "ok" {
			notOK = append(notOK, fmt.Sprintf("%d (cluster_state:%s)", p, st))
		}
	}
	switch {
	case len(answering) == 0:
		return nil, nil
	case len(free) > 0:
		return nil, fmt.Errorf("testcluster: ports %v are served by redis-server but %v are free: a partial cluster is running; stop it first", answering, free)
	}
	c := &Cluster{Password: o.Password, Reused: true, opts: o, logf: o.Logf}
	for i, p := range o.Ports {
		c.Nodes = append(c.Nodes, &Node{Index: i, Addr: addrOf(p), Port: p, BusPort: o.BusPorts[i]})
	}
	if len(notOK) > 0 {
		// Maybe still converging (another run just started it): give it a moment.
		if err := c.WaitHealthy(10 * time.Second); err != nil {
			return nil, fmt.Errorf("testcluster: redis-servers answer on %v but are not a healthy cluster (%s): %w", o.Ports, strings.Join(notOK, ", "), err)
		}
	}
	v, err := callString(c.Nodes[0].Addr, o.Password, ctlTimeout, "CLUSTER", "NODES")
	if err != nil {
		return nil, err
	}
	nis, err := parseClusterNodes(v)
	if err != nil {
		return nil, err
	}
	for _, n := range c.Nodes {
		i := slices.IndexFunc(nis, func(ni nodeInfo) bool { return ni.Addr == n.Addr })
		if i < 0 {
			return nil, fmt.Errorf("testcluster: %s is not part of the cluster of %s", n.Addr, c.Nodes[0].Addr)
		}
		n.ID, n.BusPort = nis[i].ID, nis[i].BusPort
		if info, err := callString(n.Addr, o.Password, ctlTimeout, "INFO", "server"); err == nil {
			n.PID, _ = strconv.Atoi(InfoField(info, "process_id"))
		}
	}
	return c, nil
}

// refreshIDs fills Node.ID from each node's CLUSTER MYID.
func (c *Cluster) refreshIDs() {
	for _, n := range c.Nodes {
		if id, err := callString(n.Addr, c.Password, ctlTimeout, "CLUSTER", "MYID"); err == nil {
			n.ID = id
		}
	}
}

// StartT starts a cluster for a test: t.Fatal on error, Close on cleanup,
// and the tail of every server log when the test failed.
func StartT(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if opts.Logf == nil {
		opts.Logf = t.Logf
	}
	c, err := Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, n := range c.Nodes {
				if n.LogFile != "" {
					t.Logf("log tail of %s (pid %d):\n%s", n.Addr, n.PID, LogTail(n.LogFile, 30))
				}
			}
		}
		if err := c.Close(); err != nil {
			t.Errorf("testcluster Close: %v", err)
		}
	})
	return c
}

// Close stops every server this cluster started (SIGTERM by PID, then SIGKILL
// after a grace period), closes the clients, and removes the temp dir. For a
// reused cluster it only closes the clients.
func (c *Cluster) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	clients := c.clients
	cc := c.ccluster
	c.clients, c.ccluster = nil, nil
	c.mu.Unlock()

	for _, cl := range clients {
		cl.Close()
	}
	if cc != nil {
		cc.Close()
	}
	var errs []error
	var emu sync.Mutex
	var wg sync.WaitGroup
	for _, n := range c.Nodes {
		wg.Go(func() {
			if err := c.stopProc(n, 5*time.Second); err != nil {
				emu.Lock()
				errs = append(errs, err)
				emu.Unlock()
			}
		})
	}
	wg.Wait()
	if c.tempDir {
		if err := os.RemoveAll(c.Dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// stopProc sends SIGTERM (if grace > 0), waits up to grace, then SIGKILL and
// waits for the exit. Only the PID this package started is signalled.
func (c *Cluster) stopProc(n *Node, grace time.Duration) error {
	n.mu.Lock()
	p := n.proc
	n.mu.Unlock()
	if p == nil || p.exited() {
		return nil
	}
	if grace > 0 {
		_ = syscall.Kill(p.pid, syscall.SIGTERM)
		select {
		case <-p.done:
			return nil
		case <-time.After(grace):
			c.logf("testcluster: %s (pid %d) ignored SIGTERM for %v; sending SIGKILL", n.Addr, p.pid, grace)
		}
	}
	_ = syscall.Kill(p.pid, syscall.SIGKILL)
	select {
	case <-p.done:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("testcluster: %s (pid %d) did not exit after SIGKILL", n.Addr, p.pid)
	}
}

// Kill sends SIGKILL to n's server and waits for it to exit.
func (c *Cluster) Kill(n *Node) error {
	if c.Reused {
		return errors.New("testcluster: Kill on a reused cluster")
	}
	n.mu.Lock()
	p := n.proc
	n.mu.Unlock()
	if p == nil || p.exited() {
		return fmt.Errorf("testcluster: %s is not running", n.Addr)
	}
	return c.stopProc(n, 0)
}

// Restart starts n's server again with the same port, dir and nodes.conf.
func (c *Cluster) Restart(n *Node) error {
	if c.Reused {
		return errors.New("testcluster: Restart on a reused cluster")
	}
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return errors.New("testcluster: Restart after Close")
	}
	if n.Running() {
		return fmt.Errorf("testcluster: %s is still running (pid %d)", n.Addr, n.PID)
	}
	return c.spawn(n)
}

// Seeds returns "127.0.0.1:port" of every node.
func (c *Cluster) Seeds() []string {
	out := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		out[i] = n.Addr
	}
	return out
}

// Node returns the node with this address or ID, or nil.
func (c *Cluster) Node(addrOrID string) *Node {
	for _, n := range c.Nodes {
		if n.Addr == addrOrID || (n.ID != "" && n.ID == addrOrID) {
			return n
		}
	}
	return nil
}

// Shard is one master with its slots and replicas, as the cluster sees it.
type Shard struct {
	Master   *Node
	Slots    [][2]int
	Replicas []*Node
}

// Topology asks the cluster (the first node that answers) for its shards:
// masters that are not failing, sorted by first slot, with their replicas
// that are not failing.
func (c *Cluster) Topology() ([]Shard, error) {
	var last error
	for _, n := range c.Nodes {
		if !c.Reused && !n.Running() {
			continue
		}
		v, err := callString(n.Addr, c.Password, ctlTimeout, "CLUSTER", "NODES")
		if err != nil {
			last = err
			continue
		}
		nis, err := parseClusterNodes(v)
		if err != nil {
			return nil, err
		}
		var shards []Shard
		for _, ni := range nis {
			if !ni.isMaster() || ni.failed() {
				continue
			}
			m := c.Node(ni.ID)
			if m == nil {
				m = c.Node(ni.Addr)
			}
			if m == nil {
				continue
			}
			s := Shard{Master: m, Slots: ni.Slots}
			for _, r := range nis {
				if r.MasterID == ni.ID && !r.failed() {
					if rn := c.Node(r.ID); rn != nil {
						s.Replicas = append(s.Replicas, rn)
					}
				}
			}
			shards = append(shards, s)
		}
		slices.SortStableFunc(shards, func(a, b Shard) int {
			return nodeInfo{Slots: a.Slots}.firstSlot() - nodeInfo{Slots: b.Slots}.firstSlot()
		})
		return shards, nil
	}
	if last == nil {
		last = errors.New("no node running")
	}
	return nil, fmt.Errorf("testcluster: topology: %w", last)
}

// Masters returns the current masters (asking the cluster), sorted by first
// slot; masters without slots come last. Nil if no node answers.
func (c *Cluster) Masters() []*Node {
	shards, _ := c.Topology()
	out := make([]*Node, 0, len(shards))
	for _, s := range shards {
		out = append(out, s.Master)
	}
	return out
}

// Replicas returns the current replicas of m (asking the cluster).
func (c *Cluster) Replicas(m *Node) []*Node {
	shards, _ := c.Topology()
	for _, s := range shards {
		if s.Master == m {
			return s.Replicas
		}
	}
	return nil
}

// Client returns a go-redis client to one node, authenticated. Clients are
// cached and closed on Close.
func (c *Cluster) Client(n *Node) *redis.Client {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl := c.clients[n.Addr]; cl != nil {
		return cl
	}
	cl := redis.NewClient(&redis.Options{
		Addr:                     n.Addr,
		Password:                 c.Password,
		DisableIdentity:          true,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
		DialTimeout:              2 * time.Second,
		ReadTimeout:              5 * time.Second,
		WriteTimeout:             5 * time.Second,
	})
	if c.clients == nil {
		c.clients = map[string]*redis.Client{}
	}
	c.clients[n.Addr] = cl
	return cl
}

// ClusterClient returns an authenticated go-redis cluster client over
// Seeds() (cached, closed on Close).
func (c *Cluster) ClusterClient() *redis.ClusterClient {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ccluster == nil {
		c.ccluster = redis.NewClusterClient(&redis.ClusterOptions{
			Addrs:                    c.Seeds(),
			Password:                 c.Password,
			Protocol:                 2, // replies decode as a plain client through a RESP2 proxy sees them
			DisableIdentity:          true,
			MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
			DialTimeout:              2 * time.Second,
			ReadTimeout:              5 * time.Second,
			WriteTimeout:             5 * time.Second,
			MaxRedirects:             8,
		})
	}
	return c.ccluster
}

// WaitHealthy waits until every running node reports cluster_state:ok, all
// 16384 slots are served by non-failing masters that every running node
// agrees on and that are running, every running node is known (and not
// failing) in every view with the role it reports itself, and every replica
// has master_link_status:up.
func (c *Cluster) WaitHealthy(timeout time.Duration) error {
	return c.waitHealthy(time.Now(), timeout, false)
}

// waitHealthy polls checkHealthy until it passes or timeout after t0 has gone by. With restart
// it also waits for nodes reloading their data (AOF or RDB), for as long as the data is large,
// answering LOADING meanwhile; a master that loads longer than the node timeout can see its
// replica promoted, and the cluster settles after that. So timeout then bounds the time from t0
// or from the end of the last load, whichever is later, each loading node's progress is logged
// every few seconds, and Options.Cancel abandons the wait.
func (c *Cluster) waitHealthy(t0 time.Time, timeout time.Duration, restart bool) error {
	deadline := t0.Add(timeout)
	var cancel <-chan struct{}
	if restart {
		cancel = c.opts.Cancel
	}
	var logged time.Time
	for {
		err := c.checkHealthy()
		if err == nil {
			return nil
		}
		var loading []string
		if restart {
			loading = c.loading()
		}
		switch {
		case len(loading) > 0:
			deadline = time.Now().Add(timeout)
			if time.Since(logged) >= loadingLogEvery {
				c.logf("testcluster: waiting for nodes loading their data: %s", strings.Join(loading, "; "))
				logged = time.Now()
			}
		case restart && time.Now().After(deadline):
			return fmt.Errorf("testcluster: cluster not healthy %v after start or the last data load: %w", timeout, err)
		case time.Now().After(deadline):
			return fmt.Errorf("testcluster: cluster not healthy after %v: %w", timeout, err)
		}
		select {
		case <-cancel:
			return ErrCanceled
		case <-time.After(min(50*time.Millisecond, max(time.Until(deadline), 0))):
		}
	}
}

// ErrCanceled is Start's error when Options.Cancel was closed while it waited.
var ErrCanceled = errors.New("testcluster: start-up canceled")

// loadingLogEvery is how often a restart's waitHealthy reports the progress of a long load.
const loadingLogEvery = 5 * time.Second

// loading describes every running node that is loading its data ("127.0.0.1:7000 41% of 1.3 GB,
// about 12 s left"), from INFO persistence, which Redis answers while loading.
func (c *Cluster) loading() []string {
	var out []string
	for _, n := range c.Nodes {
		if !n.Running() {
			continue
		}
		info, err := callString(n.Addr, c.Password, ctlTimeout, "INFO", "persistence")
		if err != nil || InfoField(info, "loading") != "1" {
			continue
		}
		out = append(out, describeLoading(n.Addr, info))
	}
	return out
}

// describeLoading formats a loading node's progress from its INFO persistence.
func describeLoading(addr, info string) string {
	d := addr + " loading"
	if p := InfoField(info, "loading_loaded_perc"); p != "" {
		d += " " + p + "%"
	}
	if total, err := strconv.ParseInt(InfoField(info, "loading_total_bytes"), 10, 64); err == nil && total > 0 {
		if total >= 1e9 {
			d += fmt.Sprintf(" of %.1f GB", float64(total)/1e9)
		} else {
			d += fmt.Sprintf(" of %.1f MB", float64(total)/1e6)
		}
	}
	if eta, err := strconv.Atoi(InfoField(info, "loading_eta_seconds")); err == nil && eta > 0 {
		d += fmt.Sprintf(", about %d s left", eta)
	}
	return d
}

func (c *Cluster) checkHealthy() error {
	var live []*Node
	for _, n := range c.Nodes {
		if c.Reused || n.Running() {
			live = append(live, n)
		}
	}
	if len(live) == 0 {
		return errors.New("no node running")
	}
	liveID := map[string]bool{}
	var ref []string
	var refAddr string
	views := make([][]nodeInfo, len(live))
	selfMaster := map[string]string{} // node ID -> its master's ID as it says itself
	for li, n := range live {
		info, err := callString(n.Addr, c.Password, ctlTimeout, "CLUSTER", "INFO")
		if err != nil {
			return fmt.Errorf("%s: %w", n.Addr, err)
		}
		if st := InfoField(info, "cluster_state"); st != "ok" {
			return fmt.Errorf("%s: cluster_state:%s", n.Addr, st)
		}
		v, err := callString(n.Addr, c.Password, ctlTimeout, "CLUSTER", "NODES")
		if err != nil {
			return fmt.Errorf("%s: %w", n.Addr, err)
		}
		nis, err := parseClusterNodes(v)
		if err != nil {
			return err
		}
		views[li] = nis
		var self *nodeInfo
		for i := range nis {
			if nis[i].has("myself") {
				self = &nis[i]
			}
		}
		if self == nil {
			return fmt.Errorf("%s: no myself in CLUSTER NODES", n.Addr)
		}
		if n.ID != self.ID {
			n.ID = self.ID
		}
		liveID[self.ID] = true
		selfMaster[self.ID] = self.MasterID
		owners := make([]string, 16384)
		for _, ni := range nis {
			if !ni.isMaster() || ni.failed() {
				continue
			}
			for _, r := range ni.Slots {
				for s := r[0]; s <= r[1] && s < 16384; s++ {
					owners[s] = ni.ID
				}
			}
		}
		for s, o := range owners {
			if o == "" {
				return fmt.Errorf("%s: slot %d has no master", n.Addr, s)
			}
		}
		if ref == nil {
			ref, refAddr = owners, n.Addr
		} else if !slices.Equal(ref, owners) {
			return fmt.Errorf("%s and %s disagree on slot owners", n.Addr, refAddr)
		}
		if self.has("slave") {
			repl, err := callString(n.Addr, c.Password, ctlTimeout, "INFO", "replication")
			if err != nil {
				return fmt.Errorf("%s: %w", n.Addr, err)
			}
			if st := InfoField(repl, "master_link_status"); st != "up" {
				return fmt.Errorf("%s: replica master_link_status:%s", n.Addr, st)
			}
		}
	}
	// Every live node must be known and well in every live node's view, and
	// every slot owner must be a live node.
	for li, n := range live {
		seen := 0
		for _, ni := range views[li] {
			if liveID[ni.ID] {
				if ni.failed() {
					return fmt.Errorf("%s sees %s as %s", n.Addr, ni.Addr, strings.Join(ni.Flags, ","))
				}
				if ni.MasterID != selfMaster[ni.ID] {
					return fmt.Errorf("%s has not yet seen the role change of %s", n.Addr, ni.Addr)
				}
				seen++
			}
		}
		if seen != len(liveID) {
			return fmt.Errorf("%s knows %d of %d running nodes", n.Addr, seen, len(liveID))
		}
	}
	for s, o := range ref {
		if !liveID[o] {
			return fmt.Errorf("slot %d is owned by %s, which is not running", s, o)
		}
	}
	return nil
}
