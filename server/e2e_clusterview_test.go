package server_test

import (
	"context"
	"math/rand/v2"
	"net"
	"os/exec"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/slotgate/slotgate/internal/testcluster"
	"github.com/slotgate/slotgate/server"
)

// infoKeys returns the field names of CLUSTER INFO text, sorted.
func infoKeys(t *testing.T, text string) ([]string, map[string]string) {
	t.Helper()
	var keys []string
	vals := map[string]string{}
	for _, line := range strings.Split(strings.TrimRight(text, "\r\n"), "\r\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			t.Fatalf("CLUSTER INFO line %q", line)
		}
		keys = append(keys, k)
		vals[k] = v
	}
	sort.Strings(keys)
	return keys, vals
}

// TestE2EClusterViewShapes checks CLUSTER SLOTS/SHARDS/NODES/INFO/MYID byte for byte against the
// shapes Redis 7.0 gives for a one-node cluster, and that go-redis parses them as it parses a real
// node's replies.
func TestE2EClusterViewShapes(t *testing.T) {
	p := startProxy(t, cluster, nil)
	px := dialRaw(t, p.Addr)
	host, port, _ := net.SplitHostPort(p.Addr)
	id := sha1hex("slotgate " + p.Addr)

	if got := px.do("CLUSTER", "MYID"); got != bulkOf(id) {
		t.Fatalf("CLUSTER MYID = %q, want %q", got, bulkOf(id))
	}
	wantSlots := "*1\r\n*3\r\n:0\r\n:16383\r\n*4\r\n" + bulkOf(host) + ":" + port + "\r\n" + bulkOf(id) + "*0\r\n"
	if got := px.do("cluster", "slots"); got != wantSlots {
		t.Fatalf("CLUSTER SLOTS:\n got %q\nwant %q", got, wantSlots)
	}
	wantShards := "*1\r\n*4\r\n" + bulkOf("slots") + "*2\r\n:0\r\n:16383\r\n" + bulkOf("nodes") + "*1\r\n*14\r\n" +
		bulkOf("id") + bulkOf(id) + bulkOf("port") + ":" + port + "\r\n" + bulkOf("ip") + bulkOf(host) +
		bulkOf("endpoint") + bulkOf(host) + bulkOf("role") + bulkOf("master") +
		bulkOf("replication-offset") + ":0\r\n" + bulkOf("health") + bulkOf("online")
	if got := px.do("CLUSTER", "SHARDS"); got != wantShards {
		t.Fatalf("CLUSTER SHARDS:\n got %q\nwant %q", got, wantShards)
	}
	wantNodes := id + " " + p.Addr + "@0 myself,master - 0 0 1 connected 0-16383\n"
	if got := px.do("CLUSTER", "NODES"); got != bulkOf(wantNodes) {
		t.Fatalf("CLUSTER NODES = %q, want %q", got, bulkOf(wantNodes))
	}

	// Against a real node: the same fields, parsed alike by go-redis.
	ctx := context.Background()
	cl := p.client(t, nil)
	node := cluster.Client(cluster.Masters()[0])
	pInfo, err := cl.ClusterInfo(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	nInfo, err := node.ClusterInfo(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	pk, pv := infoKeys(t, pInfo)
	nk, _ := infoKeys(t, nInfo)
	// Per-type message counters (cluster_stats_messages_ping_sent...) appear once nonzero.
	var nkFixed []string
	for _, k := range nk {
		if !strings.HasPrefix(k, "cluster_stats_messages_") || k == "cluster_stats_messages_sent" || k == "cluster_stats_messages_received" {
			nkFixed = append(nkFixed, k)
		}
	}
	if strings.Join(pk, ",") != strings.Join(nkFixed, ",") {
		t.Fatalf("CLUSTER INFO fields:\n proxy %v\n redis %v", pk, nk)
	}
	for k, v := range map[string]string{"cluster_state": "ok", "cluster_slots_assigned": "16384", "cluster_slots_ok": "16384",
		"cluster_known_nodes": "1", "cluster_size": "1", "cluster_current_epoch": "1", "cluster_my_epoch": "1"} {
		if pv[k] != v {
			t.Errorf("CLUSTER INFO %s = %q, want %q", k, pv[k], v)
		}
	}
	slots, err := cl.ClusterSlots(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(slots) != 1 || slots[0].Start != 0 || slots[0].End != 16383 || len(slots[0].Nodes) != 1 ||
		slots[0].Nodes[0].Addr != p.Addr || slots[0].Nodes[0].ID != id {
		t.Fatalf("ClusterSlots = %+v", slots)
	}
	if _, err := node.ClusterSlots(ctx).Result(); err != nil {
		t.Fatal(err)
	}
	shards, err := cl.ClusterShards(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	nShards, err := node.ClusterShards(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(shards) != 1 || len(shards[0].Slots) != 1 || shards[0].Slots[0].End != 16383 || len(shards[0].Nodes) != 1 {
		t.Fatalf("ClusterShards = %+v", shards)
	}
	sn, nn := shards[0].Nodes[0], nShards[0].Nodes[0]
	if sn.ID != id || sn.IP != host || strconv.FormatInt(sn.Port, 10) != port || sn.Endpoint != host ||
		sn.Role != "master" || sn.Health != "online" || nn.ID == "" || nn.IP == "" || nn.Health == "" {
		t.Fatalf("ClusterShards node = %+v (a real node's: %+v)", sn, nn)
	}
	pNodes, err := cl.ClusterNodes(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	nNodes, err := node.ClusterNodes(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(nNodes), "\n") {
		if f := strings.Fields(line); strings.Contains(f[2], "myself") && len(f) < 9 {
			t.Fatalf("node's own line %q", line)
		} else if strings.Contains(f[2], "myself") && len(strings.Fields(pNodes)) != 9 {
			t.Fatalf("CLUSTER NODES %q: want the fields of %q", pNodes, line)
		}
	}

	for _, req := range [][]string{{"CLUSTER", "RESET"}, {"CLUSTER", "FAILOVER"}, {"CLUSTER", "ADDSLOTS", "1"},
		{"CLUSTER", "MEET", "127.0.0.1", "1"}, {"CLUSTER", "HELP"}, {"CLUSTER", "REPLICAS", id}} {
		if got := px.do(req...); !strings.Contains(got, "is refused through a proxy: slotgate presents the cluster as one node") {
			t.Errorf("%q = %q", req, got)
		}
	}
	if got := px.do("CLUSTER", "KEYSLOT", "foo"); got != ":12182\r\n" {
		t.Fatalf("CLUSTER KEYSLOT foo = %q", got)
	}
	for _, c := range []string{"READONLY", "READWRITE", "readonly"} {
		if got := px.do(c); got != "+OK\r\n" {
			t.Fatalf("%s = %q", c, got)
		}
	}
	if got := px.do("GET", "clusterview-after-readonly"); got != "$-1\r\n" {
		t.Fatalf("GET after READONLY = %q", got)
	}
}

// TestE2EClusterViewAnnounce: -announce names the node, an IP or a host name (then the endpoint,
// with the connection's IP beside it, as Redis with cluster-preferred-endpoint-type hostname).
func TestE2EClusterViewAnnounce(t *testing.T) {
	p := startProxy(t, cluster, func(c *server.Config) { c.Announce = "10.1.2.3:6380" })
	px := dialRaw(t, p.Addr)
	id := sha1hex("slotgate 10.1.2.3:6380")
	if got, want := px.do("CLUSTER", "SLOTS"), "*1\r\n*3\r\n:0\r\n:16383\r\n*4\r\n"+bulkOf("10.1.2.3")+":6380\r\n"+bulkOf(id)+"*0\r\n"; got != want {
		t.Fatalf("CLUSTER SLOTS = %q, want %q", got, want)
	}
	if got := px.do("CLUSTER", "MYID"); got != bulkOf(id) {
		t.Fatalf("CLUSTER MYID = %q", got)
	}

	p = startProxy(t, cluster, func(c *server.Config) { c.Announce = "slotgate.example:22121" })
	px = dialRaw(t, p.Addr)
	host, _, _ := net.SplitHostPort(p.Addr)
	id = sha1hex("slotgate slotgate.example:22121")
	if got, want := px.do("CLUSTER", "SLOTS"), "*1\r\n*3\r\n:0\r\n:16383\r\n*4\r\n"+bulkOf("slotgate.example")+":22121\r\n"+bulkOf(id)+
		"*2\r\n"+bulkOf("ip")+bulkOf(host); got != want {
		t.Fatalf("CLUSTER SLOTS = %q, want %q", got, want)
	}
	if got, want := px.do("CLUSTER", "NODES"), bulkOf(id+" "+host+":22121@0,slotgate.example myself,master - 0 0 1 connected 0-16383\n"); got != want {
		t.Fatalf("CLUSTER NODES = %q, want %q", got, want)
	}
	shards := px.do("CLUSTER", "SHARDS")
	if !strings.Contains(shards, "*16\r\n") || !strings.Contains(shards, bulkOf("endpoint")+bulkOf("slotgate.example")+bulkOf("hostname")+bulkOf("slotgate.example")) {
		t.Fatalf("CLUSTER SHARDS = %q", shards)
	}
}

// TestE2EClusterViewKeysInSlot: COUNTKEYSINSLOT and GETKEYSINSLOT go to the owner of the slot
// named; bad arguments get Redis's errors.
func TestE2EClusterViewKeysInSlot(t *testing.T) {
	p := startProxy(t, cluster, nil)
	px, node := dialRaw(t, p.Addr), dialNode(t)
	ctx := context.Background()
	cl := p.client(t, nil)
	shards, err := cluster.Topology()
	if err != nil {
		t.Fatal(err)
	}
	for _, sh := range shards { // a slot inside each master's range: each request reaches a different node
		lo, hi := sh.Slots[0][0], sh.Slots[0][1]
		sl := lo + (hi-lo)/4 + rand.IntN((hi-lo)/2)
		tag := "{" + keyInSlots("cvslot", uint16(sl), uint16(sl)) + "}"
		want := []string{tag + "a", tag + "b", tag + "c"}
		for _, w := range want {
			if err := cl.Set(ctx, w, "v", 0).Err(); err != nil {
				t.Fatal(err)
			}
		}
		t.Cleanup(func() { cl.Del(context.Background(), want...) })
		s := strconv.Itoa(sl)
		n, err := cluster.Client(sh.Master).ClusterCountKeysInSlot(ctx, sl).Result()
		if err != nil {
			t.Fatal(err)
		}
		if got := px.do("CLUSTER", "COUNTKEYSINSLOT", s); n < 3 || got != ":"+strconv.FormatInt(n, 10)+"\r\n" {
			t.Fatalf("COUNTKEYSINSLOT %s (%s) = %q; its owner says %d", s, tag, got, n)
		}
		got, err := cl.ClusterGetKeysInSlot(ctx, sl, 1000).Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range want {
			if !slices.Contains(got, w) {
				t.Fatalf("GETKEYSINSLOT %s = %q, want %q among them", s, got, want)
			}
		}
	}
	sameAsNode(t, px, node,
		[]string{"CLUSTER", "COUNTKEYSINSLOT", "abc"}, []string{"CLUSTER", "COUNTKEYSINSLOT", "16384"},
		[]string{"CLUSTER", "COUNTKEYSINSLOT", "-1"}, []string{"CLUSTER", "COUNTKEYSINSLOT"},
		[]string{"CLUSTER", "GETKEYSINSLOT", "1", "x"}, []string{"CLUSTER", "GETKEYSINSLOT", "16384", "1"},
		[]string{"CLUSTER", "GETKEYSINSLOT", "1", "-1"}, []string{"CLUSTER", "GETKEYSINSLOT", "1"},
	)
}

// TestE2EClusterViewGoRedisClusterClient: go-redis's ClusterClient pointed at slotgate learns one
// node, slotgate itself, and every command over keys of all three masters goes there.
func TestE2EClusterViewGoRedisClusterClient(t *testing.T) {
	p := startProxy(t, cluster, nil)
	var dialed atomic.Int64
	var elsewhere atomic.Value
	cc := redis.NewClusterClient(&redis.ClusterOptions{
		Addrs: []string{p.Addr}, ReadTimeout: 10 * time.Second, WriteTimeout: 10 * time.Second,
		Dialer: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dialed.Add(1)
			if addr != p.Addr {
				elsewhere.Store(addr)
			}
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		},
	})
	t.Cleanup(func() { cc.Close() })
	ctx := context.Background()
	_, keys := keyPerMaster(t, cluster, "cvcc")
	for i, k := range keys {
		v := "val" + strconv.Itoa(i)
		if err := cc.Set(ctx, k, v, 0).Err(); err != nil {
			t.Fatalf("SET %s: %v", k, err)
		}
		if got, err := cc.Get(ctx, k).Result(); err != nil || got != v {
			t.Fatalf("GET %s = %q, %v", k, got, err)
		}
		tag := "{" + k + "}"
		if err := cc.MSet(ctx, tag+"1", "a", tag+"2", "b").Err(); err != nil {
			t.Fatalf("MSET %s: %v", tag, err)
		}
		if got, err := cc.MGet(ctx, tag+"1", tag+"2", tag+"3").Result(); err != nil || got[0] != "a" || got[1] != "b" || got[2] != nil {
			t.Fatalf("MGET %s = %v, %v", tag, got, err)
		}
		if n, err := cc.Del(ctx, k, tag+"1", tag+"2").Result(); err != nil || n != 3 {
			t.Fatalf("DEL = %d, %v", n, err)
		}
	}
	var shards, masters atomic.Int64
	if err := cc.ForEachShard(ctx, func(ctx context.Context, c *redis.Client) error {
		shards.Add(1)
		if c.Options().Addr != p.Addr {
			t.Errorf("shard at %s, not slotgate's %s", c.Options().Addr, p.Addr)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := cc.ForEachMaster(ctx, func(context.Context, *redis.Client) error { masters.Add(1); return nil }); err != nil {
		t.Fatal(err)
	}
	if shards.Load() != 1 || masters.Load() != 1 {
		t.Fatalf("ClusterClient sees %d shards, %d masters; want 1", shards.Load(), masters.Load())
	}
	if a := elsewhere.Load(); a != nil {
		t.Fatalf("ClusterClient dialed %v besides slotgate", a)
	}
	t.Logf("ClusterClient: %d connections, all to slotgate", dialed.Load())
}

// TestE2EClusterViewRedisCli: redis-cli -c across slots, never redirected.
func TestE2EClusterViewRedisCli(t *testing.T) {
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Skip("redis-cli not installed")
	}
	p := startProxy(t, cluster, nil)
	host, port, _ := net.SplitHostPort(p.Addr)
	_, keys := keyPerMaster(t, cluster, "cvcli")
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(cli, append([]string{"-c", "-h", host, "-p", port}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("redis-cli %v: %v: %s", args, err, out)
		}
		if strings.Contains(string(out), "Redirected") {
			t.Fatalf("redis-cli %v redirected: %s", args, out)
		}
		return strings.TrimSpace(string(out))
	}
	for i, k := range keys {
		v := "cli" + strconv.Itoa(i)
		if out := run("set", k, v); out != "OK" {
			t.Fatalf("set %s: %q", k, out)
		}
		if out := run("get", k); out != v {
			t.Fatalf("get %s: %q", k, out)
		}
		if out := run("del", k); out != "1" {
			t.Fatalf("del %s: %q", k, out)
		}
	}
	if out := run("cluster", "info"); !strings.Contains(out, "cluster_state:ok") {
		t.Fatalf("cluster info: %q", out)
	}
}

// TestE2EClusterViewSameAsOneNode compares slotgate's replies with those of a real one-node
// Redis 7.0 cluster owning every slot, byte for byte in RESP2 and RESP3 where nothing differs
// (SLOTS, SHARDS) and in type and framing otherwise (NODES and INFO: verbatim text in RESP3).
func TestE2EClusterViewSameAsOneNode(t *testing.T) {
	one := testcluster.StartT(t, testcluster.Options{Masters: 1, Replicas: testcluster.NoReplicas})
	n := one.Masters()[0]
	_, portS, _ := net.SplitHostPort(n.Addr)
	port, _ := strconv.Atoi(portS)
	for _, proto := range []int{2, 3} {
		rc := dialRaw(t, n.Addr)
		if one.Password != "" {
			rc.do("AUTH", one.Password)
		}
		if proto == 3 {
			if r := rc.do("HELLO", "3"); !strings.HasPrefix(r, "%") {
				t.Fatalf("HELLO 3 = %q", r)
			}
		}
		id := strings.TrimSpace(strings.SplitN(rc.do("CLUSTER", "MYID"), "\r\n", 3)[1])
		want := server.ClusterView(proto, "", port, id) // a lone node has met no peer that told it its IP
		for _, sub := range []string{"SLOTS", "SHARDS"} {
			if got := rc.do("CLUSTER", sub); got != want[sub] {
				t.Errorf("RESP%d CLUSTER %s:\n redis    %q\n slotgate %q", proto, sub, got, want[sub])
			}
		}
		for _, sub := range []string{"NODES", "INFO"} {
			got := rc.do("CLUSTER", sub)
			if got[0] != want[sub][0] || (proto == 3) != strings.Contains(got, "\r\ntxt:") || (proto == 3) != strings.Contains(want[sub], "\r\ntxt:") {
				t.Errorf("RESP%d CLUSTER %s framing:\n redis    %q\n slotgate %q", proto, sub, got, want[sub])
			}
		}
	}
}

// TestE2EClusterViewRedisPy: redis-py's RedisCluster pointed at slotgate knows one node, slotgate,
// and runs commands on keys of every master through it.
func TestE2EClusterViewRedisPy(t *testing.T) {
	py := pythonRedis(t)
	p := startProxy(t, cluster, nil)
	_, keys := keyPerMaster(t, cluster, "cvpy")
	quoted := make([]string, len(keys))
	for i, k := range keys {
		quoted[i] = strconv.Quote(k)
	}
	out := runPython(t, py, p.Addr, "KEYS = ["+strings.Join(quoted, ", ")+"]\n"+`
import os
from redis.cluster import RedisCluster
host, port = os.environ["SLOTGATE_ADDR"].rsplit(":", 1)
# redis-py 4.x reads cluster_enabled from INFO before CLUSTER SLOTS: slotgate's merged INFO.
rc = RedisCluster(host=host, port=int(port), decode_responses=True)
nodes = [n.name for n in rc.get_nodes()]
assert nodes == [host + ":" + port], nodes
for i, k in enumerate(KEYS):
    assert rc.set(k, "v%d" % i)
    assert rc.get(k) == "v%d" % i, rc.get(k)
    tag = "{" + k + "}"
    assert rc.mset_nonatomic({tag + "1": "a", tag + "2": "b"})
    assert rc.mget_nonatomic([tag + "1", tag + "2"]) == ["a", "b"]
    assert rc.delete(k, tag + "1", tag + "2") == 3
assert [n.name for n in rc.get_nodes()] == nodes
print("ok", nodes)
`)
	if !strings.Contains(out, "ok") {
		t.Fatalf("redis-py RedisCluster: %s", out)
	}
}
