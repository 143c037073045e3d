package testcluster

// Topology manipulation for tests: run commands on single nodes, read a
// node's view of the cluster, move slots between masters (the resharding
// steps of the Redis Cluster spec, "Live reconfiguration") and fail masters
// over. Roles are never cached: Masters, Replicas and Topology ask the live
// nodes, so they follow failovers, kills and restarts by themselves.

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// doTimeout bounds one command sent by Do and the helpers built on it.
const doTimeout = 5 * time.Second

// migrateTimeout is MIGRATE's own timeout (ms) and migrateBatch the number
// of keys moved by one MIGRATE.
const (
	migrateTimeout = 5000
	migrateBatch   = 100
)

// NodeView is one line of a node's CLUSTER NODES output.
type NodeView struct {
	ID       string
	Addr     string   // "ip:port" (client port, no bus port or hostname)
	Flags    []string // e.g. "myself", "master", "slave", "fail?", "fail"
	MasterID string   // master's ID for a replica, "" for a master
	Epoch    uint64   // config epoch
	Slots    [][2]int // served slot ranges, sorted; migrating/importing entries are left out
}

// HasFlag reports whether v carries flag (e.g. "myself", "master", "fail").
func (v NodeView) HasFlag(flag string) bool { return slices.Contains(v.Flags, flag) }

// HasSlot reports whether v serves slot in this view.
func (v NodeView) HasSlot(slot int) bool {
	for _, r := range v.Slots {
		if slot >= r[0] && slot <= r[1] {
			return true
		}
	}
	return false
}

func (ni nodeInfo) view() NodeView {
	ep := uint64(0)
	if ni.Epoch > 0 {
		ep = uint64(ni.Epoch)
	}
	return NodeView{ID: ni.ID, Addr: ni.Addr, Flags: ni.Flags, MasterID: ni.MasterID, Epoch: ep, Slots: ni.Slots}
}

func (ni nodeInfo) hasSlot(slot int) bool { return ni.view().HasSlot(slot) }

// cmdString renders a command for error messages, with passwords redacted
// (AUTH's arguments, MIGRATE's AUTH/AUTH2 and HELLO's AUTH credentials).
func cmdString(args []string) string {
	out := make([]string, 0, len(args))
	redact := 0
	for i, a := range args {
		switch {
		case redact > 0:
			a = "<redacted>"
			redact--
		case i == 0 && strings.EqualFold(a, "AUTH"):
			redact = len(args)
		case i > 0 && strings.EqualFold(a, "AUTH"):
			redact = 1
			if strings.EqualFold(args[0], "HELLO") {
				redact = 2
			}
		case i > 0 && strings.EqualFold(a, "AUTH2"):
			redact = 2
		}
		if len(a) > 40 {
			a = a[:40] + "..."
		}
		out = append(out, a)
	}
	if len(out) > 10 {
		out = append(out[:10], fmt.Sprintf("... (%d args)", len(args)))
	}
	return strings.Join(out, " ")
}

// do runs one command on n with the cluster password and the given timeout.
func (c *Cluster) do(n *Node, timeout time.Duration, args ...string) (any, error) {
	if n == nil {
		return nil, errors.New("testcluster: nil node")
	}
	if len(args) == 0 {
		return nil, errors.New("testcluster: empty command")
	}
	v, err := call(n.Addr, c.Password, timeout, args...)
	if err != nil {
		return v, fmt.Errorf("testcluster: %s on %s: %w", cmdString(args), n.Addr, err)
	}
	return v, nil
}

// Do runs one command on node n over a fresh connection authenticated with
// the cluster password, with a 5s timeout. Replies decode as string (simple
// and bulk strings), int64, nil or []any; a Redis error reply is returned as
// the error (its text starts with the Redis error code, e.g. "MOVED ...").
func (c *Cluster) Do(n *Node, args ...string) (any, error) {
	return c.do(n, doTimeout, args...)
}

// doString is Do for commands that answer with a string or an integer.
func (c *Cluster) doString(n *Node, timeout time.Duration, args ...string) (string, error) {
	v, err := c.do(n, timeout, args...)
	if err != nil {
		return "", err
	}
	if s, ok := replyString(v); ok {
		return s, nil
	}
	return "", fmt.Errorf("testcluster: %s on %s: unexpected reply %T", cmdString(args), n.Addr, v)
}

func (c *Cluster) nodeInfos(n *Node, timeout time.Duration) ([]nodeInfo, error) {
	s, err := c.doString(n, timeout, "CLUSTER", "NODES")
	if err != nil {
		return nil, err
	}
	nis, err := parseClusterNodes(s)
	if err != nil {
		return nil, fmt.Errorf("testcluster: CLUSTER NODES of %s: %w", n.Addr, err)
	}
	return nis, nil
}

func myself(nis []nodeInfo) (nodeInfo, bool) {
	for _, ni := range nis {
		if ni.has("myself") {
			return ni, true
		}
	}
	return nodeInfo{}, false
}

func findID(nis []nodeInfo, id string) (nodeInfo, bool) {
	for _, ni := range nis {
		if ni.ID == id {
			return ni, true
		}
	}
	return nodeInfo{}, false
}

// NodeInfo returns n's view of the cluster: one NodeView per line of its
// CLUSTER NODES, in Redis's order (the "myself" flag marks n itself).
func (c *Cluster) NodeInfo(n *Node) ([]NodeView, error) {
	nis, err := c.nodeInfos(n, doTimeout)
	if err != nil {
		return nil, err
	}
	out := make([]NodeView, len(nis))
	for i, ni := range nis {
		out[i] = ni.view()
	}
	return out, nil
}

// live returns the nodes whose process is running (every node of a reused
// cluster, whose processes are not ours).
func (c *Cluster) live() []*Node {
	var out []*Node
	for _, n := range c.Nodes {
		if c.Reused || n.Running() {
			out = append(out, n)
		}
	}
	return out
}

func checkSlot(slot int) error {
	if slot < 0 || slot > 16383 {
		return fmt.Errorf("testcluster: slot %d out of range 0..16383", slot)
	}
	return nil
}

func checkPair(from, to *Node) error {
	switch {
	case from == nil || to == nil:
		return errors.New("testcluster: nil node")
	case from == to || from.ID == to.ID:
		return fmt.Errorf("testcluster: source and target are both %s", from.Addr)
	case from.ID == "" || to.ID == "":
		return errors.New("testcluster: node without cluster ID")
	}
	return nil
}

// SlotOwner returns the master that serves slot according to the most
// running nodes that answer (each asked for its CLUSTER NODES; a node's view
// counts even if it flags that master as failing). A tie is broken in favour
// of the claimant with the higher config epoch, as Redis itself resolves
// conflicting claims. It fails if no running node answers, no view assigns
// the slot, or the owner is not a node of this cluster.
func (c *Cluster) SlotOwner(slot int) (*Node, error) {
	if err := checkSlot(slot); err != nil {
		return nil, err
	}
	votes := map[string]int{}
	epoch := map[string]int64{}
	answered := 0
	var errs []error
	for _, n := range c.live() {
		nis, err := c.nodeInfos(n, ctlTimeout)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		answered++
		for _, ni := range nis {
			if ni.isMaster() && ni.hasSlot(slot) {
				votes[ni.ID]++
				epoch[ni.ID] = max(epoch[ni.ID], ni.Epoch)
				break
			}
		}
	}
	if answered == 0 {
		if len(errs) == 0 {
			errs = append(errs, errors.New("no node running"))
		}
		return nil, fmt.Errorf("testcluster: owner of slot %d: %w", slot, errors.Join(errs...))
	}
	best := ""
	for id, v := range votes {
		if best == "" || v > votes[best] || (v == votes[best] && (epoch[id] > epoch[best] ||
			(epoch[id] == epoch[best] && id < best))) {
			best = id
		}
	}
	if best == "" {
		return nil, fmt.Errorf("testcluster: slot %d is not assigned in any of %d views", slot, answered)
	}
	n := c.Node(best)
	if n == nil {
		return nil, fmt.Errorf("testcluster: slot %d is served by %s, not a node of this cluster", slot, best)
	}
	return n, nil
}

// BeginMigration starts moving slot from `from` to `to`: CLUSTER SETSLOT
// slot IMPORTING from-id on `to`, then CLUSTER SETSLOT slot MIGRATING to-id
// on `from` (the spec's order, so that no ASK redirect points at a node
// that does not accept it yet).
func (c *Cluster) BeginMigration(slot int, from, to *Node) error {
	if err := checkSlot(slot); err != nil {
		return err
	}
	if err := checkPair(from, to); err != nil {
		return err
	}
	s := strconv.Itoa(slot)
	if _, err := c.do(to, doTimeout, "CLUSTER", "SETSLOT", s, "IMPORTING", from.ID); err != nil {
		return fmt.Errorf("testcluster: begin migration of slot %d %s -> %s: %w", slot, from, to, err)
	}
	if _, err := c.do(from, doTimeout, "CLUSTER", "SETSLOT", s, "MIGRATING", to.ID); err != nil {
		return fmt.Errorf("testcluster: begin migration of slot %d %s -> %s: %w", slot, from, to, err)
	}
	return nil
}

// MigrateKeys moves up to maxKeys keys (all when maxKeys <= 0) of slot from `from`
// to `to`, in batches of 100: CLUSTER GETKEYSINSLOT on `from`, then
// MIGRATE host port "" 0 5000 AUTH <password> KEYS k1 k2 ... (without
// REPLACE). It returns the number of keys moved. A key that already exists
// on `to` fails with BUSYKEY, which is returned as the error; the keys moved
// until then (MIGRATE still moves the other keys of the failing batch) stay
// moved and are counted. The slot
// must be MIGRATING on `from` and IMPORTING on `to` (BeginMigration), so
// that clients keep finding keys while they move.
func (c *Cluster) MigrateKeys(slot int, from, to *Node, maxKeys int) (int, error) {
	if err := checkSlot(slot); err != nil {
		return 0, err
	}
	if err := checkPair(from, to); err != nil {
		return 0, err
	}
	host, port, err := net.SplitHostPort(to.Addr)
	if err != nil {
		return 0, fmt.Errorf("testcluster: address of %s: %w", to.Addr, err)
	}
	s := strconv.Itoa(slot)
	moved := 0
	for maxKeys <= 0 || moved < maxKeys {
		batch := migrateBatch
		if maxKeys > 0 {
			batch = min(batch, maxKeys-moved)
		}
		v, err := c.do(from, doTimeout, "CLUSTER", "GETKEYSINSLOT", s, strconv.Itoa(batch))
		if err != nil {
			return moved, fmt.Errorf("testcluster: migrate slot %d %s -> %s: %w", slot, from, to, err)
		}
		arr, ok := v.([]any)
		if !ok {
			return moved, fmt.Errorf("testcluster: migrate slot %d: CLUSTER GETKEYSINSLOT on %s: unexpected reply %T", slot, from, v)
		}
		if len(arr) == 0 {
			break
		}
		args := []string{"MIGRATE", host, port, "", "0", strconv.Itoa(migrateTimeout), "AUTH", c.Password, "KEYS"}
		for _, k := range arr {
			ks, ok := k.(string)
			if !ok {
				return moved, fmt.Errorf("testcluster: migrate slot %d: CLUSTER GETKEYSINSLOT on %s: key of type %T", slot, from, k)
			}
			args = append(args, ks)
		}
		// MIGRATE's own timeout is per I/O step: allow it more than that.
		r, err := c.doString(from, 3*migrateTimeout*time.Millisecond, args...)
		if err != nil {
			// MIGRATE deletes the keys the target accepted even when others
			// fail: count those that left the source.
			moved += c.goneKeys(from, s, arr)
			if strings.Contains(err.Error(), "BUSYKEY") {
				return moved, fmt.Errorf("testcluster: migrate slot %d %s -> %s: the target already holds one of %d keys (%q...): %w",
					slot, from, to, len(arr), arr[0], err)
			}
			return moved, fmt.Errorf("testcluster: migrate slot %d %s -> %s: %w", slot, from, to, err)
		}
		switch r {
		case "OK":
			moved += len(arr)
		case "NOKEY": // the keys vanished (expired, deleted) meanwhile
		default:
			return moved, fmt.Errorf("testcluster: migrate slot %d %s -> %s: MIGRATE answered %q", slot, from, to, r)
		}
	}
	return moved, nil
}

// goneKeys counts the keys that are no longer in slot s on n (0 if that
// cannot be told).
func (c *Cluster) goneKeys(n *Node, s string, keys []any) int {
	cnt, err := c.doString(n, doTimeout, "CLUSTER", "COUNTKEYSINSLOT", s)
	if err != nil {
		return 0
	}
	v, err := c.do(n, doTimeout, "CLUSTER", "GETKEYSINSLOT", s, cnt)
	if err != nil {
		return 0
	}
	left, _ := v.([]any)
	gone := 0
	for _, k := range keys {
		if !slices.Contains(left, k) {
			gone++
		}
	}
	return gone
}

// FinishMigration assigns slot to `to` everywhere: CLUSTER SETSLOT slot
// NODE to-id on `to` first (which ends its IMPORTING state and bumps its
// config epoch), then on the source (the running master that serves the slot
// in its own view, found before the first SETSLOT; it must hold no more keys
// of the slot), then on every other running master, in the spec's order.
// Nodes that are not running are skipped; replicas learn the change from
// their masters. The first error stops it.
func (c *Cluster) FinishMigration(slot int, to *Node) error {
	if err := checkSlot(slot); err != nil {
		return err
	}
	if to == nil || to.ID == "" {
		return errors.New("testcluster: finish migration: target without cluster ID")
	}
	live := c.live()
	var source *Node
	var masters []*Node
	for _, n := range live {
		nis, err := c.nodeInfos(n, doTimeout)
		if err != nil {
			return fmt.Errorf("testcluster: finish migration of slot %d to %s: %w", slot, to, err)
		}
		me, ok := myself(nis)
		if !ok {
			return fmt.Errorf("testcluster: finish migration of slot %d: no myself in CLUSTER NODES of %s", slot, n)
		}
		if !me.isMaster() || n == to {
			continue
		}
		if source == nil && me.hasSlot(slot) {
			source = n
		} else {
			masters = append(masters, n)
		}
	}
	order := []*Node{to}
	if source != nil {
		order = append(order, source)
	}
	order = append(order, masters...)
	s := strconv.Itoa(slot)
	for _, n := range order {
		if !c.Reused && !n.Running() {
			continue
		}
		if _, err := c.do(n, doTimeout, "CLUSTER", "SETSLOT", s, "NODE", to.ID); err != nil {
			return fmt.Errorf("testcluster: finish migration of slot %d to %s: %w", slot, to, err)
		}
	}
	return nil
}

// MoveSlot moves slot with all its keys from `from` to `to`:
// BeginMigration, MigrateKeys (all keys), FinishMigration.
func (c *Cluster) MoveSlot(slot int, from, to *Node) error {
	if err := c.BeginMigration(slot, from, to); err != nil {
		return err
	}
	if _, err := c.MigrateKeys(slot, from, to, 0); err != nil {
		return err
	}
	return c.FinishMigration(slot, to)
}

// MoveSlots runs MoveSlot for each slot in order and stops at the first
// error.
//
// Note that with Redis's default cluster-allow-replica-migration yes, a
// master that gives away its last slot turns itself into a replica of the
// master that took it.
func (c *Cluster) MoveSlots(slots []int, from, to *Node) error {
	for _, s := range slots {
		if err := c.MoveSlot(s, from, to); err != nil {
			return err
		}
	}
	return nil
}

// sleepUntil sleeps d, or less if the deadline comes first; it reports
// false once the deadline has passed.
func sleepUntil(deadline time.Time, d time.Duration) bool {
	left := time.Until(deadline)
	if left <= 0 {
		return false
	}
	time.Sleep(min(d, left))
	return true
}

// electionRetry is Redis's failover auth_retry_time for a node timeout:
// 2 * max(2 * node timeout, 2s).
func electionRetry(nodeTimeout time.Duration) time.Duration {
	return 2 * max(2*nodeTimeout, 2*time.Second)
}

// lastElection returns when n's current process last started a failover
// election, from its log ("Starting a failover election for epoch N"); the
// zero time if it never did or the log cannot be read.
func lastElection(n *Node) time.Time {
	if n.LogFile == "" {
		return time.Time{}
	}
	var last time.Time
	for l := range strings.Lines(readFrom(n.LogFile, 0)) {
		switch {
		case strings.Contains(l, "Server initialized"):
			last = time.Time{} // a new process: no election state
		case strings.Contains(l, "Starting a failover election"):
			// "pid:S 25 Nov 2026 18:08:54.736 # Starting ..."
			f := strings.Fields(l)
			if len(f) < 5 {
				continue
			}
			if t, err := time.ParseInLocation("2 Jan 2006 15:04:05.000", strings.Join(f[1:5], " "), time.Local); err == nil {
				last = t
			}
		}
	}
	return last
}

// nodeTimeout asks n for its cluster-node-timeout.
func (c *Cluster) nodeTimeout(n *Node) (time.Duration, error) {
	v, err := c.do(n, ctlTimeout, "CONFIG", "GET", "cluster-node-timeout")
	if err != nil {
		return 0, err
	}
	if kv, ok := v.([]any); ok && len(kv) == 2 {
		if s, ok := kv[1].(string); ok {
			if ms, err := strconv.Atoi(s); err == nil {
				return time.Duration(ms) * time.Millisecond, nil
			}
		}
	}
	return 0, fmt.Errorf("testcluster: CONFIG GET cluster-node-timeout on %s: unexpected reply %v", n, v)
}

// Failover runs CLUSTER FAILOVER [mode] on replica (mode "", "FORCE" or
// "TAKEOVER") and waits, up to 15s, until replica reports itself master,
// every running node lists it as master, and its former master (if running)
// reports itself replica and is listed as one by every running node. So
// Masters, Replicas and Topology, which ask the live nodes, reflect the new
// roles once it returns. Other nodes learn the old master's demotion only
// from its own pings, so this takes up to cluster-node-timeout/2 after the
// promotion itself (which takes some 10-100ms). Mode "" needs the old
// master to be reachable; use FORCE when it is down.
//
// Redis 7.0 keeps a replica's election state after it won an election:
// asked to fail over again (mode "" or FORCE) within 2*max(2*node-timeout,
// 2s) of its last election, it "wins" at once with the stale votes and
// epoch, and is demoted again by the current master (with mode "" the old
// master even stays paused for 5s). Failover therefore first waits out that
// window (read from the replica's log), logging the wait; TAKEOVER needs no
// election and never waits.
func (c *Cluster) Failover(replica *Node, mode string) error {
	if replica == nil {
		return errors.New("testcluster: failover: nil node")
	}
	mode = strings.ToUpper(mode)
	args := []string{"CLUSTER", "FAILOVER"}
	switch mode {
	case "":
	case "FORCE", "TAKEOVER":
		args = append(args, mode)
	default:
		return fmt.Errorf("testcluster: failover mode %q, want \"\", FORCE or TAKEOVER", mode)
	}
	nis, err := c.nodeInfos(replica, doTimeout)
	if err != nil {
		return fmt.Errorf("testcluster: failover: %w", err)
	}
	me, ok := myself(nis)
	if !ok {
		return fmt.Errorf("testcluster: failover: no myself in CLUSTER NODES of %s", replica)
	}
	if me.MasterID == "" {
		return fmt.Errorf("testcluster: failover: %s is not a replica (flags %s)", replica, strings.Join(me.Flags, ","))
	}
	old := c.Node(me.MasterID)
	if mode != "TAKEOVER" {
		if last := lastElection(replica); !last.IsZero() {
			nt, err := c.nodeTimeout(replica)
			if err != nil {
				return fmt.Errorf("testcluster: failover: %w", err)
			}
			if wait := time.Until(last.Add(electionRetry(nt) + 200*time.Millisecond)); wait > 0 {
				c.logf("testcluster: %s started an election at %s: waiting %v before %s (stale election state of Redis)",
					replica, last.Format("15:04:05.000"), wait.Round(time.Millisecond), strings.Join(args, " "))
				time.Sleep(wait)
			}
		}
	}
	t0 := time.Now()
	if _, err := c.do(replica, doTimeout, args...); err != nil {
		return fmt.Errorf("testcluster: failover: %w", err)
	}
	const timeout = 15 * time.Second
	deadline := t0.Add(timeout)
	for {
		err := c.checkFailedOver(replica, old)
		if err == nil {
			c.logf("testcluster: %s replaced %s as master in %v (%s)",
				replica, old, time.Since(t0).Round(time.Millisecond), strings.Join(args, " "))
			return nil
		}
		if !sleepUntil(deadline, 20*time.Millisecond) {
			return fmt.Errorf("testcluster: failover of %s to %s not done after %v: %w", old, replica, timeout, err)
		}
	}
}

// checkFailedOver tells whether every running node sees nm as a master and
// old (if known and running) as a replica, and both see themselves so.
func (c *Cluster) checkFailedOver(nm, old *Node) error {
	oldLive := old != nil && (c.Reused || old.Running())
	for _, n := range c.live() {
		nis, err := c.nodeInfos(n, ctlTimeout)
		if err != nil {
			return err
		}
		ni, ok := findID(nis, nm.ID)
		if !ok || !ni.isMaster() {
			return fmt.Errorf("%s does not list %s as master yet", n, nm)
		}
		if oldLive {
			oi, ok := findID(nis, old.ID)
			if !ok || oi.isMaster() {
				return fmt.Errorf("%s still lists %s as master", n, old)
			}
		}
	}
	return nil
}

// lastView reads the nodes.conf a (stopped) node saved last: its own view of
// the cluster when it went down.
func lastView(n *Node) ([]nodeInfo, error) {
	if n.Dir == "" {
		return nil, errors.New("no data dir")
	}
	b, err := os.ReadFile(filepath.Join(n.Dir, "nodes.conf"))
	if err != nil {
		return nil, err
	}
	var lines []string
	for l := range strings.Lines(string(b)) {
		if !strings.HasPrefix(l, "vars ") {
			lines = append(lines, l)
		}
	}
	return parseClusterNodes(strings.Join(lines, ""))
}

// topEpoch reports whether me's config epoch is above every other node's in
// the view nis: true after a real election or takeover, false after a
// replica "won" with stale election state and is about to be demoted.
func topEpoch(nis []nodeInfo, me nodeInfo) bool {
	for _, ni := range nis {
		if ni.ID != me.ID && ni.Epoch >= me.Epoch {
			return false
		}
	}
	return true
}

// WaitNewMaster waits, after the master old was killed, until one of its
// former replicas is master of old's first slot in that replica's own
// CLUSTER NODES view, with a config epoch above all others in that view
// (so not a stale "win", see Failover), polling every 10ms. It returns that replica and the
// time the promotion was first observed (so at most ~10ms plus one round
// trip late). old's slots and replicas are taken from the nodes.conf old
// saved last (its view when it died) and from the running nodes' views.
func (c *Cluster) WaitNewMaster(old *Node, timeout time.Duration) (*Node, time.Time, error) {
	if old == nil || old.ID == "" {
		return nil, time.Time{}, errors.New("testcluster: wait new master: node without cluster ID")
	}
	deadline := time.Now().Add(timeout)
	slot := -1
	var cands []*Node
	addCand := func(id string) {
		if n := c.Node(id); n != nil && n != old && !slices.Contains(cands, n) {
			cands = append(cands, n)
		}
	}
	if nis, err := lastView(old); err == nil {
		if me, ok := myself(nis); ok && me.ID == old.ID && me.isMaster() && len(me.Slots) > 0 {
			slot = me.Slots[0][0]
		}
		for _, ni := range nis {
			if ni.MasterID == old.ID {
				addCand(ni.ID)
			}
		}
	}
	for _, n := range c.live() {
		if n == old {
			continue
		}
		nis, err := c.nodeInfos(n, ctlTimeout)
		if err != nil {
			continue
		}
		for _, ni := range nis {
			if ni.MasterID == old.ID {
				addCand(ni.ID)
			}
			if slot < 0 && ni.ID == old.ID && ni.isMaster() && len(ni.Slots) > 0 {
				slot = ni.Slots[0][0]
			}
		}
	}
	switch {
	case slot < 0:
		return nil, time.Time{}, fmt.Errorf("testcluster: wait new master: %s served no slot", old)
	case len(cands) == 0:
		return nil, time.Time{}, fmt.Errorf("testcluster: wait new master: %s had no replica", old)
	}
	t0 := time.Now()
	var last error
	for {
		for _, r := range cands {
			if !c.Reused && !r.Running() {
				continue
			}
			nis, err := c.nodeInfos(r, ctlTimeout)
			if err != nil {
				last = err
				continue
			}
			if me, ok := myself(nis); ok && me.isMaster() && me.hasSlot(slot) && topEpoch(nis, me) {
				seen := time.Now()
				c.logf("testcluster: %s took over slot %d of %s (seen after %v of waiting)",
					r, slot, old, seen.Sub(t0).Round(time.Millisecond))
				return r, seen, nil
			}
		}
		if !sleepUntil(deadline, 10*time.Millisecond) {
			msg := fmt.Sprintf("testcluster: no replica of %s (%v) became master of slot %d within %v", old, cands, slot, timeout)
			if last != nil {
				return nil, time.Time{}, fmt.Errorf("%s: %w", msg, last)
			}
			return nil, time.Time{}, errors.New(msg)
		}
	}
}

// WaitRole waits until n answers ROLE with role: "master" or "slave"
// ("replica" is accepted for "slave"). Only the role is checked, not the
// replication link; use WaitHealthy for that.
func (c *Cluster) WaitRole(n *Node, role string, timeout time.Duration) error {
	if n == nil {
		return errors.New("testcluster: wait role: nil node")
	}
	want := strings.ToLower(role)
	if want == "replica" {
		want = "slave"
	}
	if want != "master" && want != "slave" {
		return fmt.Errorf("testcluster: wait role: role %q, want master or slave", role)
	}
	deadline := time.Now().Add(timeout)
	var got string
	var last error
	for {
		v, err := c.do(n, ctlTimeout, "ROLE")
		if err != nil {
			last = err
		} else if arr, ok := v.([]any); ok && len(arr) > 0 {
			got, _ = arr[0].(string)
			if got == want {
				return nil
			}
		}
		if !sleepUntil(deadline, 20*time.Millisecond) {
			if got != "" {
				return fmt.Errorf("testcluster: %s is %s, not %s, after %v", n, got, want, timeout)
			}
			return fmt.Errorf("testcluster: %s: role not %s after %v: %w", n, want, timeout, last)
		}
	}
}
