package server

import (
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/slotgate/slotgate/codec"
)

// slotgate's own INFO sections, as the bits of the merge's count.
const (
	infoProxy   = 1 << iota // the Proxy section: in the default sections
	infoHotkeys             // the Hotkeys section: asked by name, or with all/everything, like Redis's non-default sections
)

// info asks every master for INFO with the client's arguments and answers one merged reply
// (mergeInfo). slotgate's own "Proxy" section is added to the default sections.
func (s *session) info(cmd *codec.Command, args [][]byte, raw []byte) {
	own := 0
	if len(args) == 1 {
		own = infoProxy
	}
	for _, a := range args[1:] {
		switch {
		case codec.EqualFold(a, "default") || codec.EqualFold(a, "proxy"):
			own |= infoProxy
		case codec.EqualFold(a, "all") || codec.EqualFold(a, "everything"):
			own |= infoProxy | infoHotkeys
		case codec.EqualFold(a, "hotkeys"):
			own |= infoHotkeys
		}
	}
	s.broadcastN(cmd, raw, mergeInfo, 0, own)
}

// infoSection is one "# Name" section of INFO, its fields in the first master's order.
type infoSection struct {
	name   string
	keys   []string
	values map[string]string
}

// mergeInfo merges the masters' INFO replies as if the cluster were one Redis: the integers of
// the counting sections are added (memory, stats, commandstats, errorstats), the keyspace's keys
// and expires are added,
// redis_version is the lowest, and the rest is the first master's; slotgate's own values replace
// the process's (pid, port, uptime), the clients (slotgate's) and the replication (a master with
// no replicas: the cluster's replicas are slotgate's business). Merging is for a human or a
// monitoring tool reading totals, not for per-node details: ask a node for those.
func (s *session) mergeInfo(dst []byte, replies [][]byte, own int) []byte {
	var order []*infoSection
	byName := map[string]*infoSection{}
	for _, r := range replies {
		if codec.IsError(r) {
			return append(dst, r...)
		}
		text, ok := codec.BulkText(r)
		if !ok {
			return codec.AppendError(dst, "ERR slotgate: a node answered INFO with a malformed reply")
		}
		var cur *infoSection
		for _, line := range strings.Split(string(text), "\r\n") {
			if name, ok := strings.CutPrefix(line, "# "); ok {
				key := strings.ToLower(name)
				if cur = byName[key]; cur == nil {
					cur = &infoSection{name: name, values: map[string]string{}}
					byName[key] = cur
					order = append(order, cur)
				}
				continue
			}
			k, v, ok := strings.Cut(line, ":")
			if !ok || cur == nil {
				continue
			}
			old, seen := cur.values[k]
			if !seen {
				cur.keys = append(cur.keys, k)
				cur.values[k] = v
				continue
			}
			cur.values[k] = mergeInfoValue(strings.ToLower(cur.name), k, old, v)
		}
	}
	for _, sec := range order {
		s.ownInfo(sec)
	}
	if own&infoProxy != 0 {
		order = append(order, s.proxyInfo())
	}
	if own&infoHotkeys != 0 {
		order = append(order, s.srv.hotKeysInfo())
	}
	var b strings.Builder
	for i, sec := range order {
		if i > 0 {
			b.WriteString("\r\n")
		}
		b.WriteString("# " + sec.name + "\r\n")
		for _, k := range sec.keys {
			b.WriteString(k + ":" + sec.values[k] + "\r\n")
		}
	}
	return codec.AppendVerbatim(dst, int(s.proto), "txt", []byte(b.String()))
}

// mergeInfoValue combines one field of two masters.
func mergeInfoValue(section, key, a, b string) string {
	switch {
	case section == "server" && key == "redis_version":
		if versionLess(b, a) {
			return b
		}
		return a
	case section == "keyspace":
		return sumFields(a, b, map[string]bool{"keys": true, "expires": true})
	case section != "memory" && section != "stats" && section != "commandstats" && section != "errorstats":
		return a // settings and states (cluster_enabled, aof_enabled, hz...): the first master's
	}
	x, errA := strconv.ParseInt(a, 10, 64)
	y, errB := strconv.ParseInt(b, 10, 64)
	if errA == nil && errB == nil {
		return strconv.FormatInt(x+y, 10)
	}
	if strings.Contains(a, "=") {
		return sumFields(a, b, nil)
	}
	return a
}

// sumFields adds the integer k=v fields of two "k=v,k=v" values (only those in which, when
// given); the others keep a's value.
func sumFields(a, b string, which map[string]bool) string {
	bv := map[string]string{}
	for _, f := range strings.Split(b, ",") {
		if k, v, ok := strings.Cut(f, "="); ok {
			bv[k] = v
		}
	}
	fields := strings.Split(a, ",")
	for i, f := range fields {
		k, v, ok := strings.Cut(f, "=")
		if !ok || which != nil && !which[k] {
			continue
		}
		x, errA := strconv.ParseInt(v, 10, 64)
		y, errB := strconv.ParseInt(bv[k], 10, 64)
		if errA == nil && errB == nil {
			fields[i] = k + "=" + strconv.FormatInt(x+y, 10)
		}
	}
	return strings.Join(fields, ",")
}

// versionLess compares dotted versions numerically ("7.0.15" < "7.2.4").
func versionLess(a, b string) bool {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) && i < len(bs); i++ {
		x, _ := strconv.Atoi(as[i])
		y, _ := strconv.Atoi(bs[i])
		if x != y {
			return x < y
		}
	}
	return len(as) < len(bs)
}

// ownInfo puts slotgate's values where the cluster's would mislead: the process, the clients and
// the replication are slotgate's.
func (s *session) ownInfo(sec *infoSection) {
	set := func(k, v string) {
		if _, ok := sec.values[k]; !ok {
			sec.keys = append(sec.keys, k)
		}
		sec.values[k] = v
	}
	srv := s.srv
	switch strings.ToLower(sec.name) {
	case "server":
		up := time.Since(srv.started)
		set("process_id", strconv.Itoa(os.Getpid()))
		if _, port, err := net.SplitHostPort(srv.cfg.Listen); err == nil {
			set("tcp_port", port)
		}
		set("uptime_in_seconds", strconv.FormatInt(int64(up/time.Second), 10))
		set("uptime_in_days", strconv.FormatInt(int64(up/(24*time.Hour)), 10))
	case "clients":
		var blocked int64
		for _, lp := range srv.loopList() {
			blocked += lp.blocked.Load()
		}
		sec.keys, sec.values = nil, map[string]string{}
		set("connected_clients", strconv.FormatInt(srv.clients.Load(), 10))
		set("maxclients", strconv.Itoa(srv.lv().MaxClients))
		set("blocked_clients", strconv.FormatInt(blocked, 10))
	case "memory":
		// The sums' human forms follow the sums (the first master's would mislead), and
		// slotgate's own memory is added: its resident set and its clients' buffers.
		for _, k := range sec.keys {
			if base, ok := strings.CutSuffix(k, "_human"); ok {
				if n, err := strconv.ParseInt(sec.values[base], 10, 64); err == nil {
					sec.values[k] = humanBytes(n)
				}
			}
		}
		if rss := ownRSS(); rss > 0 {
			set("slotgate_used_memory_rss", strconv.FormatInt(rss, 10))
			set("slotgate_used_memory_rss_human", humanBytes(rss))
		}
		set("slotgate_client_buffers", strconv.FormatUint(uint64(memoryHeld.Get()), 10))
	case "replication":
		sec.keys, sec.values = nil, map[string]string{}
		set("role", "master")
		set("connected_slaves", "0")
	}
}

// proxyInfo is slotgate's own section: its loops and the cluster it routes to.
func (s *session) proxyInfo() *infoSection {
	sec := &infoSection{name: "Proxy", values: map[string]string{}}
	add := func(k, v string) {
		sec.keys = append(sec.keys, k)
		sec.values[k] = v
	}
	st := s.srv.rt.Status()
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	add("proxy", "slotgate")
	add("proxy_version", Version)
	add("event_loops", strconv.Itoa(s.srv.cfg.Loops))
	add("topology_changes", u(st.TopologyChanges))
	add("redirects_moved", u(st.Moved))
	add("redirects_ask", u(st.Ask))
	add("redirects_tryagain", u(st.TryAgain))
	add("redirects_followed", u(st.RedirectsFollowed))
	add("redirects_untrusted", u(st.Untrusted))
	if t := s.lp.rl.Topology(); t != nil {
		add("cluster_masters", strconv.Itoa(len(t.Masters)))
		add("cluster_slots_ok", strconv.Itoa(t.Covered()))
		slots := t.SlotCounts()
		for i, m := range t.Masters {
			reps := ""
			if i < len(t.Replicas) {
				reps = strings.Join(t.Replicas[i], "|")
			}
			state := "ok"
			if st.Down[m] {
				state = "unreachable"
			}
			add("master"+strconv.Itoa(i), "addr="+m+",state="+state+",slots="+strconv.Itoa(slots[i])+
				",epoch="+strconv.FormatUint(t.Epoch(i), 10)+",replicas="+reps)
		}
	}
	return sec
}

// humanBytes is Redis's bytesToHuman: "1.50M", with B, K, M, G, T, P.
func humanBytes(n int64) string {
	if n < 1024 {
		return strconv.FormatInt(n, 10) + "B"
	}
	v := float64(n)
	for _, unit := range []string{"K", "M", "G", "T"} {
		v /= 1024
		if v < 1024 {
			return strconv.FormatFloat(v, 'f', 2, 64) + unit
		}
	}
	return strconv.FormatFloat(v/1024, 'f', 2, 64) + "P"
}

// ownRSS is this process's resident set size in bytes (0 where /proc is missing).
func ownRSS() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return 0
	}
	return pages * int64(os.Getpagesize())
}
