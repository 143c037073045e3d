package router

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/slotgate/slotgate/router/slot"
)

// Topology is one immutable picture of the cluster: which master serves each slot. It is
// published whole through an atomic pointer and never modified afterwards.
type Topology struct {
	Masters  []string          // shard index -> master address "host:port"
	Replicas [][]string        // shard index -> addresses of its healthy replicas
	Nodes    []NodeInfo        // every node seen, for logging and later refreshes
	owner    [slot.Count]int16 // slot -> shard index, -1 when no master serves it
	epochs   []uint64          // shard index -> its master's config epoch, as the master itself reports it
	// migrating maps a slot being migrated to the address of the node importing it, as the
	// slot's owner reports it: what makes an ASK from a script's reply believable.
	migrating map[uint16]string
}

// NodeInfo is one line of CLUSTER NODES.
type NodeInfo struct {
	ID        string
	Addr      string // "host:port" for clients
	Master    bool
	MasterID  string // for replicas
	Epoch     uint64 // config epoch
	Failed    bool   // flagged fail, handshake or noaddr: never routed to
	PFail     bool   // flagged fail? (suspected by the node that answered): no reads sent to it
	Myself    bool
	Slots     [][2]int    // inclusive ranges (masters only)
	Migrating []Migration // slots this node is migrating away ([slot->-id] marks; only in its own line)
}

// Migration is one slot a node is migrating to another (named by ID).
type Migration struct {
	Slot int
	To   string
}

// Shard returns the index into Masters of the master serving slot s, or -1.
func (t *Topology) Shard(s uint16) int { return int(t.owner[s]) }

// Epoch returns the config epoch of shard's master, as the master itself reported it (another
// node's view when it did not answer; 0 when not known yet). A failover or an imported slot
// gives a master a new epoch: SCAN's cursor carries it (server/scan.go).
func (t *Topology) Epoch(shard int) uint64 {
	if shard < 0 || shard >= len(t.epochs) {
		return 0
	}
	return t.epochs[shard]
}

// Covered reports how many slots have an owner.
func (t *Topology) Covered() int {
	n := 0
	for _, o := range t.owner {
		if o >= 0 {
			n++
		}
	}
	return n
}

// SlotCounts returns how many slots each shard (by index into Masters) serves.
func (t *Topology) SlotCounts() []int {
	n := make([]int, len(t.Masters))
	for _, o := range t.owner {
		if o >= 0 && int(o) < len(n) {
			n[o]++
		}
	}
	return n
}

// String summarises the topology for logs: each master with its slot ranges.
func (t *Topology) String() string {
	var b strings.Builder
	for i, m := range t.Masters {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(m)
		b.WriteString(" [")
		b.WriteString(t.slotRanges(i))
		b.WriteByte(']')
		if i < len(t.Replicas) && len(t.Replicas[i]) > 0 {
			fmt.Fprintf(&b, " replicas %s", strings.Join(t.Replicas[i], ","))
		}
	}
	fmt.Fprintf(&b, " (%d/%d slots)", t.Covered(), slot.Count)
	return b.String()
}

// slotRanges lists the slot ranges of shard i ("0-5460 5462-5462").
func (t *Topology) slotRanges(i int) string {
	var b strings.Builder
	for s := 0; s < slot.Count; {
		if int(t.owner[s]) != i {
			s++
			continue
		}
		e := s
		for e+1 < slot.Count && int(t.owner[e+1]) == i {
			e++
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%d-%d", s, e)
		s = e + 1
	}
	return b.String()
}

var errNoNodes = errors.New("CLUSTER NODES listed no nodes")

// ParseClusterNodes parses the text of CLUSTER NODES as answered by the node at answeredAddr.
// An empty, NULL or "?" address (or ":0") means "the address that answered".
func ParseClusterNodes(text, answeredAddr string) ([]NodeInfo, error) {
	var nodes []NodeInfo
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 8 {
			return nil, fmt.Errorf("CLUSTER NODES line has %d fields: %q", len(f), line)
		}
		n := NodeInfo{ID: f[0]}
		addr := f[1]
		if i := strings.IndexByte(addr, ','); i >= 0 { // ip:port@cport,hostname
			addr = addr[:i]
		}
		if i := strings.IndexByte(addr, '@'); i >= 0 {
			addr = addr[:i]
		}
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("CLUSTER NODES address %q: %v", f[1], err)
		}
		if host == "" || host == "?" || host == "NULL" {
			if ah, _, err := net.SplitHostPort(answeredAddr); err == nil {
				host = ah
			}
		}
		n.Addr = net.JoinHostPort(host, port)
		for _, fl := range strings.Split(f[2], ",") {
			switch fl {
			case "master":
				n.Master = true
			case "myself":
				n.Myself = true
				if port == "0" {
					n.Addr = answeredAddr
				}
			case "fail", "handshake", "noaddr":
				n.Failed = true
			case "fail?":
				n.PFail = true
			}
		}
		if port == "0" && !n.Myself {
			n.Failed = true // a node whose address is not known yet
		}
		if f[3] != "-" {
			n.MasterID = f[3]
		}
		n.Epoch, _ = strconv.ParseUint(f[6], 10, 64)
		for _, r := range f[8:] {
			if strings.HasPrefix(r, "[") { // [slot->-id] migrating, [slot-<-id] importing
				if sl, to, ok := strings.Cut(strings.Trim(r, "[]"), "->-"); ok {
					if v, err := strconv.Atoi(sl); err == nil && v >= 0 && v < slot.Count {
						n.Migrating = append(n.Migrating, Migration{Slot: v, To: to})
					}
				}
				continue
			}
			lo, hi, ok := strings.Cut(r, "-")
			a, err1 := strconv.Atoi(lo)
			b := a
			var err2 error
			if ok {
				b, err2 = strconv.Atoi(hi)
			}
			if err1 != nil || err2 != nil || a < 0 || b >= slot.Count || a > b {
				return nil, fmt.Errorf("CLUSTER NODES slot range %q", r)
			}
			n.Slots = append(n.Slots, [2]int{a, b})
		}
		nodes = append(nodes, n)
	}
	if len(nodes) == 0 {
		return nil, errNoNodes
	}
	return nodes, nil
}

// BuildTopology merges several nodes' views of the cluster: each slot goes to the master with the
// highest config epoch claiming it. A node that any view flags as failed is never used, even if
// its own view disagrees: a restarted old master believes itself master of its slots until it
// hears of its replacement.
func BuildTopology(views ...[]NodeInfo) *Topology {
	t := &Topology{}
	failed := map[string]bool{}
	suspect := map[string]bool{}
	for _, v := range views {
		for _, n := range v {
			if n.Failed {
				failed[n.Addr] = true
			}
			if n.PFail {
				suspect[n.Addr] = true
			}
		}
	}
	var epoch [slot.Count]uint64
	owner := make([]string, slot.Count)
	byAddr := map[string]NodeInfo{}
	epochOf := map[string]uint64{} // a node's own epoch; without its own line, the highest seen
	own := map[string]bool{}
	for _, v := range views {
		for _, n := range v {
			if _, seen := byAddr[n.Addr]; !seen || n.Myself {
				byAddr[n.Addr] = n
			}
			if n.Myself {
				own[n.Addr], epochOf[n.Addr] = true, n.Epoch
			} else if !own[n.Addr] {
				epochOf[n.Addr] = max(epochOf[n.Addr], n.Epoch)
			}
			if !n.Master || failed[n.Addr] {
				continue
			}
			for _, r := range n.Slots {
				for s := r[0]; s <= r[1]; s++ {
					if owner[s] == "" || n.Epoch > epoch[s] {
						owner[s], epoch[s] = n.Addr, n.Epoch
					}
				}
			}
		}
	}
	index := map[string]int{}
	for s := range owner {
		if owner[s] != "" {
			if _, ok := index[owner[s]]; !ok {
				index[owner[s]] = 0
				t.Masters = append(t.Masters, owner[s])
			}
		}
	}
	sort.Strings(t.Masters)
	for i, m := range t.Masters {
		index[m] = i
	}
	for s := range owner {
		t.owner[s] = -1
		if owner[s] != "" {
			t.owner[s] = int16(index[owner[s]])
		}
	}
	for _, n := range byAddr {
		t.Nodes = append(t.Nodes, n)
	}
	sort.Slice(t.Nodes, func(i, j int) bool { return t.Nodes[i].Addr < t.Nodes[j].Addr })
	for _, m := range t.Masters {
		t.epochs = append(t.epochs, epochOf[m]) // the same whatever order the views came in
	}
	// Replicas: by the master's ID, as the replica itself (or the majority) reports it.
	idAddr := map[string]string{}
	for _, n := range t.Nodes {
		idAddr[n.ID] = n.Addr
	}
	t.Replicas = make([][]string, len(t.Masters))
	for _, n := range t.Nodes {
		if n.Master || n.MasterID == "" || failed[n.Addr] || suspect[n.Addr] {
			continue
		}
		if i, ok := index[idAddr[n.MasterID]]; ok {
			t.Replicas[i] = append(t.Replicas[i], n.Addr)
		}
	}
	for _, n := range t.Nodes {
		for _, m := range n.Migrating {
			if to, ok := idAddr[m.To]; ok && owner[m.Slot] == n.Addr {
				if t.migrating == nil {
					t.migrating = map[uint16]string{}
				}
				t.migrating[uint16(m.Slot)] = to
			}
		}
	}
	return t
}

// Knows reports whether addr is a node of this map: an address slotgate may dial and send the
// backend password to, because a trusted node listed it in CLUSTER NODES (or it is a seed's).
func (t *Topology) Knows(addr string) bool {
	return slices.Contains(t.Masters, addr) || slices.ContainsFunc(t.Nodes, func(n NodeInfo) bool { return n.Addr == addr })
}

// Owner returns the address of the master serving slot s ("" when none).
func (t *Topology) Owner(s uint16) string {
	if i := t.owner[s]; i >= 0 {
		return t.Masters[i]
	}
	return ""
}

// MigratingTo returns the node importing slot s from its owner ("" when s is not migrating).
func (t *Topology) MigratingTo(s uint16) string { return t.migrating[s] }

// Equal reports whether u routes exactly like t (same masters, slots and replicas).
func (t *Topology) Equal(u *Topology) bool {
	if t == nil || u == nil {
		return t == u
	}
	return t.owner == u.owner && slices.Equal(t.Masters, u.Masters) &&
		slices.EqualFunc(t.Replicas, u.Replicas, slices.Equal[[]string]) && maps.Equal(t.migrating, u.migrating) &&
		slices.Equal(t.epochs, u.epochs) // a master's new epoch alone is news: SCAN cursors carry it
}

// WithOwner returns a copy of t in which addr serves slot s: what a MOVED reply teaches before
// the next refresh confirms it.
func (t *Topology) WithOwner(s uint16, addr string) *Topology {
	u := &Topology{Nodes: t.Nodes, owner: t.owner, migrating: t.migrating}
	u.Masters = append([]string(nil), t.Masters...)
	u.Replicas = append([][]string(nil), t.Replicas...)
	u.epochs = append([]uint64(nil), t.epochs...)
	i := slices.Index(u.Masters, addr)
	if i < 0 {
		i = len(u.Masters)
		u.Masters = append(u.Masters, addr)
		u.Replicas = append(u.Replicas, nil)
		u.epochs = append(u.epochs, 0) // not known until the refresh the MOVED asks for
	}
	u.owner[s] = int16(i)
	return u
}

// Addrs returns the address of every node t knows (masters and replicas, failed ones included:
// a refresh asks them all).
func (t *Topology) Addrs() []string {
	var out []string
	for _, n := range t.Nodes {
		out = append(out, n.Addr)
	}
	for _, m := range t.Masters {
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out
}
