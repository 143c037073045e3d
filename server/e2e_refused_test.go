package server_test

import (
	"context"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slotgate/slotgate/internal/testcluster"
)

// TestE2ERefusedForGood: the commands that act on one node or are the nodes' own protocol get a
// refusal naming the command and what to do instead, and none of them reaches a node
// (MIGRATE, PFDEBUG and RESTORE-ASKING have keys and were forwarded before).
func TestE2ERefusedForGood(t *testing.T) {
	p := startProxy(t, cluster, nil)
	key := "refused:" + runID()
	calls := func(cmd string) int {
		n := 0
		for _, m := range cluster.Masters() {
			info, err := infoText(cluster, m, "commandstats")
			if err != nil {
				t.Fatal(err)
			}
			n += cmdstat(info, cmd, "calls") + cmdstat(info, cmd, "rejected_calls") + cmdstat(info, cmd, "failed_calls")
		}
		return n
	}
	forwarded := []string{"migrate", "pfdebug", "restore-asking"}
	before := map[string]int{}
	for _, c := range forwarded {
		before[c] = calls(c)
	}
	px := dialRaw(t, p.Addr)
	for _, req := range [][]string{
		{"SHUTDOWN"}, {"DEBUG", "SLEEP", "0"}, {"FAILOVER"}, {"REPLICAOF", "NO", "ONE"}, {"SLAVEOF", "NO", "ONE"},
		{"MIGRATE", "127.0.0.1", "1", key, "0", "100"}, {"PFDEBUG", "GETREG", key}, {"RESTORE-ASKING", key, "0", "x"},
		{"MODULE", "LIST"}, {"ACL", "SETUSER", "u"}, {"ACL", "DELUSER", "u"}, {"ACL", "SAVE"}, {"ACL", "LOAD"},
		{"SAVE"}, {"BGSAVE"}, {"BGREWRITEAOF"}, {"CONFIG", "SET", "maxmemory", "0"}, {"CONFIG", "REWRITE"},
		{"CONFIG", "RESETSTAT"}, {"MONITOR"}, {"SYNC"}, {"PSYNC", "?", "-1"}, {"SWAPDB", "0", "1"},
	} {
		name := strings.ToLower(req[0])
		if len(req) > 1 && (name == "acl" || name == "config" || name == "module") {
			name += " " + strings.ToLower(req[1])
		}
		r := px.do(req...)
		prefix := "-ERR slotgate: '" + name + "' is refused through a proxy: "
		if !strings.HasPrefix(r, prefix) || len(r) < len(prefix)+20 {
			t.Errorf("%v = %q; want a refusal for good naming %q, with the reason and what to do instead", req, r, name)
		}
	}
	if r := px.do("PING"); r != "+PONG\r\n" {
		t.Fatalf("PING after the refusals = %q", r)
	}
	for _, c := range forwarded {
		if n := calls(c); n != before[c] {
			t.Errorf("%s reached the nodes (%d calls, %d before)", c, n, before[c])
		}
	}
}

// TestE2EClientReply: CLIENT REPLY OFF, SKIP and ON drop replies at the client as Redis does
// (the commands still run; RESET turns replies on and is answered, as in Redis), NO-EVICT/NO-TOUCH
// are accepted, TRACKING is refused with the reason.
func TestE2EClientReply(t *testing.T) {
	p := startProxy(t, cluster, nil)
	k := "reply:" + runID()
	px := dialRaw(t, p.Addr)
	px.write(respCmd("CLIENT", "REPLY", "OFF") + respCmd("SET", k, "1") + respCmd("INCR", k) + respCmd("PING") +
		respCmd("CLIENT", "REPLY", "ON") + respCmd("GET", k) +
		respCmd("CLIENT", "REPLY", "SKIP") + respCmd("INCR", k) + respCmd("GET", k) +
		respCmd("CLIENT", "REPLY", "OFF") + respCmd("RESET") + respCmd("ECHO", "after reset") +
		respCmd("CLIENT", "NO-EVICT", "ON") + respCmd("CLIENT", "NO-TOUCH", "OFF") + respCmd("CLIENT", "REPLY", "MAYBE"))
	for i, want := range []string{"+OK\r\n", "$1\r\n2\r\n", "$1\r\n3\r\n", "+RESET\r\n", "$11\r\nafter reset\r\n", "+OK\r\n", "+OK\r\n", "-ERR syntax error\r\n"} {
		if r := px.read(); r != want {
			t.Fatalf("reply %d = %q; want %q", i, r, want)
		}
	}
	if r := px.do("CLIENT", "TRACKING", "ON"); !strings.HasPrefix(r, "-ERR slotgate: CLIENT TRACKING is refused through a proxy: ") {
		t.Fatalf("CLIENT TRACKING ON = %q", r)
	}
}

// TestE2EInfoMerged: INFO answers as one Redis would for the whole cluster: the masters' keys
// added up (equal to DBSIZE), the lowest redis_version, slotgate's own process, clients and
// replication, cluster_enabled, and slotgate's Proxy section; INFO <section> gives that section.
func TestE2EInfoMerged(t *testing.T) {
	p := startProxy(t, cluster, nil)
	ctx := context.Background()
	cl := p.client(t, nil)
	if err := cl.Set(ctx, "info:"+runID(), "1", time.Minute).Err(); err != nil { // db0 shows only with a key
		t.Fatal(err)
	}
	info, err := cl.Info(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	n, err := cl.DBSize(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	field := func(text, name string) string { return testcluster.InfoField(text, name) }
	for _, sec := range []string{"# Server", "# Clients", "# Memory", "# Stats", "# Replication", "# Keyspace", "# Cluster", "# Proxy"} {
		if !strings.Contains(info, sec+"\r\n") {
			t.Errorf("INFO has no %q section", sec)
		}
	}
	if db0 := field(info, "db0"); !strings.HasPrefix(db0, "keys="+strconv.FormatInt(n, 10)+",") {
		t.Errorf("INFO db0 = %q; want the keys DBSIZE counts (%d)", db0, n)
	}
	if v := field(info, "redis_version"); v != "7.0.15" {
		t.Errorf("redis_version = %q", v)
	}
	if v := field(info, "process_id"); v != strconv.Itoa(os.Getpid()) {
		t.Errorf("process_id = %q; want slotgate's %d", v, os.Getpid())
	}
	if field(info, "cluster_enabled") != "1" || field(info, "role") != "master" || field(info, "connected_slaves") != "0" {
		t.Errorf("cluster_enabled %q role %q connected_slaves %q", field(info, "cluster_enabled"), field(info, "role"), field(info, "connected_slaves"))
	}
	if c, _ := strconv.Atoi(field(info, "connected_clients")); c < 1 || c > 100 {
		t.Errorf("connected_clients = %d; want slotgate's own clients", c)
	}
	// The Proxy section: version, loops, redirects, and each master's state, slots and epoch.
	if v := field(info, "proxy_version"); v == "" || field(info, "event_loops") != "1" || field(info, "redirects_moved") == "" {
		t.Errorf("Proxy section: proxy_version %q event_loops %q redirects_moved %q", v, field(info, "event_loops"), field(info, "redirects_moved"))
	}
	if field(info, "cluster_slots_ok") != "16384" {
		t.Errorf("cluster_slots_ok = %q", field(info, "cluster_slots_ok"))
	}
	slots := 0
	for i, m := range cluster.Masters() {
		line := field(info, "master"+strconv.Itoa(i))
		mm := regexp.MustCompile(`^addr=([0-9.:]+),state=ok,slots=(\d+),epoch=\d+,replicas=[0-9.:|]+$`).FindStringSubmatch(line)
		if mm == nil || cluster.Node(mm[1]) == nil {
			t.Errorf("master%d = %q (masters %v)", i, line, m)
			continue
		}
		n, _ := strconv.Atoi(mm[2])
		slots += n
	}
	if slots != 16384 {
		t.Errorf("the masters' slots add up to %d", slots)
	}
	// Memory: the sums, their human forms recomputed, and slotgate's own resident set.
	mem, err := cl.Info(ctx, "memory").Result()
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	for _, m := range cluster.Masters() {
		nm, err := infoText(cluster, m, "memory")
		if err != nil {
			t.Fatal(err)
		}
		v, _ := strconv.ParseInt(field(nm, "used_memory_dataset"), 10, 64)
		sum += v
	}
	if v, _ := strconv.ParseInt(field(mem, "used_memory_dataset"), 10, 64); v < sum/2 || v > sum*2 {
		t.Errorf("used_memory_dataset = %d; the masters' add up to about %d", v, sum)
	}
	if rss, _ := strconv.ParseInt(field(mem, "slotgate_used_memory_rss"), 10, 64); rss < 1<<20 {
		t.Errorf("slotgate_used_memory_rss = %d", rss)
	}
	if h := field(mem, "used_memory_human"); !regexp.MustCompile(`^\d+\.\d\d[KMG]$`).MatchString(h) {
		t.Errorf("used_memory_human = %q", h)
	}
	ks, err := cl.Info(ctx, "keyspace").Result()
	if err != nil || strings.Contains(ks, "# Server") || !strings.Contains(ks, "# Keyspace") || strings.Contains(ks, "# Proxy") {
		t.Errorf("INFO keyspace = %q, %v", ks, err)
	}
}
