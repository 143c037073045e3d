package testcluster

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// nodeInfo is one line of CLUSTER NODES.
type nodeInfo struct {
	ID       string
	Addr     string // ip:port
	BusPort  int
	Flags    []string
	MasterID string // "" for a master
	Epoch    int64
	Link     string
	Slots    [][2]int
}

func (ni nodeInfo) has(flag string) bool { return slices.Contains(ni.Flags, flag) }

func (ni nodeInfo) isMaster() bool { return ni.has("master") }

// failed reports whether the node is failing or unusable in this view.
func (ni nodeInfo) failed() bool {
	return ni.has("fail") || ni.has("fail?") || ni.has("handshake") || ni.has("noaddr")
}

func (ni nodeInfo) firstSlot() int {
	if len(ni.Slots) == 0 {
		return 1 << 30
	}
	return ni.Slots[0][0]
}

func parseClusterNodes(text string) ([]nodeInfo, error) {
	var out []nodeInfo
	for l := range strings.Lines(text) {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		f := strings.Fields(l)
		if len(f) < 8 {
			return nil, fmt.Errorf("bad CLUSTER NODES line %q", l)
		}
		ni := nodeInfo{ID: f[0], Flags: strings.Split(f[2], ","), Link: f[7]}
		addr := f[1]
		if i := strings.IndexByte(addr, ','); i >= 0 {
			addr = addr[:i] // hostname
		}
		if i := strings.IndexByte(addr, '@'); i >= 0 {
			ni.BusPort, _ = strconv.Atoi(addr[i+1:])
			addr = addr[:i]
		}
		ni.Addr = addr
		if f[3] != "-" {
			ni.MasterID = f[3]
		}
		ni.Epoch, _ = strconv.ParseInt(f[6], 10, 64)
		for _, s := range f[8:] {
			if strings.HasPrefix(s, "[") {
				continue // migrating / importing
			}
			lo, hi, ok := strings.Cut(s, "-")
			a, err := strconv.Atoi(lo)
			if err != nil {
				return nil, fmt.Errorf("bad slot %q in %q", s, l)
			}
			b := a
			if ok {
				if b, err = strconv.Atoi(hi); err != nil {
					return nil, fmt.Errorf("bad slot %q in %q", s, l)
				}
			}
			ni.Slots = append(ni.Slots, [2]int{a, b})
		}
		slices.SortFunc(ni.Slots, func(x, y [2]int) int { return x[0] - y[0] })
		out = append(out, ni)
	}
	return out, nil
}

// splitSlots splits 0..16383 among n masters exactly as redis-cli --cluster
// create does.
func splitSlots(n int) [][2]int {
	out := make([][2]int, n)
	per := 16384.0 / float64(n)
	cursor := 0.0
	first := 0
	for i := range n {
		last := int(cursor + per - 1 + 0.5) // lround
		if last > 16383 || i == n-1 {
			last = 16383
		}
		if last < first {
			last = first
		}
		out[i] = [2]int{first, last}
		first = last + 1
		cursor += per
	}
	return out
}

// FormatSlots renders slot ranges as "0-5460 5461" etc.
func FormatSlots(r [][2]int) string {
	parts := make([]string, 0, len(r))
	for _, s := range r {
		if s[0] == s[1] {
			parts = append(parts, strconv.Itoa(s[0]))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", s[0], s[1]))
		}
	}
	return strings.Join(parts, " ")
}
