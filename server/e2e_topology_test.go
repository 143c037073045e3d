package server_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/redis/go-redis/v9"
	"github.com/slotgate/slotgate/internal/testcluster"
	"github.com/slotgate/slotgate/router"
	"github.com/slotgate/slotgate/router/slot"
)

// These tests change the topology under load, each on a cluster of its own: slot migrations,
// resharding, failovers, killed and restarted nodes. Clients are plain (non-cluster) go-redis
// clients with retries off, so every error the proxy lets through is seen.

// startTopologyCluster starts a 3+3 cluster for one test.
func startTopologyCluster(t *testing.T, opts testcluster.Options) *testcluster.Cluster {
	t.Helper()
	c, err := testcluster.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// startProxyRouter runs slotgate in this process with router configuration rc (Seeds and
// Password default to the cluster's first node and password).
func startProxyRouter(t *testing.T, c *testcluster.Cluster, rc router.Config) *proxy {
	t.Helper()
	if len(rc.Seeds) == 0 {
		rc.Seeds = c.Seeds()[:1]
	}
	rc.Password = c.Password
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	rc.Logger = logger
	rt := router.New(rc)
	if err := rt.Run(t.Context()); err != nil { // the refresher lives as long as the test
		t.Fatalf("router: %v", err)
	}
	return serveWith(t, rt, nil)
}

// loadClient is one load goroutine's plain client of the proxy: one connection, retries off
// (every error the proxy lets through is seen), timeout on each read and write.
func loadClient(addr string, timeout time.Duration) *redis.Client {
	return redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, PoolSize: 1, ReadTimeout: timeout, WriteTimeout: timeout})
}

// counter reads one of slotgate's counters (they are process-wide: tests compare deltas).
func counter(name string) uint64 { return metrics.GetOrCreateCounter(name).Get() }

// gauge reads one of slotgate's gauges in this process.
func gauge(name string) float64 { return metrics.GetOrCreateGauge(name, nil).Get() }

// keyInSlot returns a key whose slot is s, with prefix for readability.
func keyInSlot(prefix string, s uint16) string {
	for i := 0; ; i++ {
		k := prefix + ":" + strconv.Itoa(i)
		if slot.Of([]byte(k)) == s {
			return k
		}
	}
}

// mixedLoad is the traffic of the topology tests: each client writes keys of its own and reads
// them back, runs pipelined INCR sequences on a counter of its own, MSETs and MGETs across
// shards, and reads preloaded keys. Every value read must be the last one written; every INCR
// sequence must read exactly last+1, last+2, ...; any error is recorded.
type mixedLoad struct {
	t       *testing.T
	addr    string
	hot     string // hash tag of the slot that moves ("" spreads keys over every slot)
	preload map[string]string

	stop  chan struct{}
	wg    sync.WaitGroup
	mu    sync.Mutex
	errs  []string
	acked map[string]string // key -> last acknowledged value
	ops   atomic.Int64
}

func newMixedLoad(t *testing.T, addr, hot string, preload map[string]string) *mixedLoad {
	return &mixedLoad{t: t, addr: addr, hot: hot, preload: preload, stop: make(chan struct{}),
		acked: map[string]string{}}
}

func (m *mixedLoad) key(parts ...string) string {
	k := strings.Join(parts, ":")
	if m.hot != "" {
		return m.hot + k
	}
	return k
}

func (m *mixedLoad) fail(format string, args ...any) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.errs) < 50 {
		m.errs = append(m.errs, time.Now().Format("15:04:05.000")+" "+fmt.Sprintf(format, args...))
	}
}

// start runs n clients until finish.
func (m *mixedLoad) start(n int) {
	preKeys := make([]string, 0, len(m.preload))
	for k := range m.preload {
		preKeys = append(preKeys, k)
	}
	for i := range n {
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			cl := loadClient(m.addr, 10*time.Second)
			defer cl.Close()
			m.client(cl, i, preKeys)
		}()
	}
}

func (m *mixedLoad) client(cl *redis.Client, id int, preKeys []string) {
	ctx := context.Background()
	me := strconv.Itoa(id)
	counterKey := m.key("ctr", me)
	var last int64
	for n := 0; ; n++ {
		select {
		case <-m.stop:
			return
		default:
		}
		ns := strconv.Itoa(n)
		// A new key, read back.
		k, v := m.key("w", me, ns), "v-"+me+"-"+ns
		if err := cl.Set(ctx, k, v, 0).Err(); err != nil {
			m.fail("client %d: SET %s: %v", id, k, err)
			continue
		}
		m.mu.Lock()
		m.acked[k] = v
		m.mu.Unlock()
		if got, err := cl.Get(ctx, k).Result(); err != nil || got != v {
			m.fail("client %d: GET %s = %q, %v; want %q", id, k, got, err, v)
		}
		// A pipelined INCR sequence.
		pipe := cl.Pipeline()
		incrs := make([]*redis.IntCmd, 5)
		for j := range incrs {
			incrs[j] = pipe.Incr(ctx, counterKey)
		}
		if _, err := pipe.Exec(ctx); err != nil {
			m.fail("client %d: INCR pipeline: %v", id, err)
		} else {
			for j, c := range incrs {
				if c.Val() != last+int64(j)+1 {
					m.fail("client %d: INCR %s #%d = %d, want %d", id, counterKey, j, c.Val(), last+int64(j)+1)
				}
			}
			last = incrs[len(incrs)-1].Val()
		}
		// MSET and MGET across shards: one key in the hot slot, one elsewhere.
		k1, k2 := m.key("ms", me, ns), "other:ms:"+me+":"+ns
		if err := cl.MSet(ctx, k1, "a"+ns, k2, "b"+ns).Err(); err != nil {
			m.fail("client %d: MSET: %v", id, err)
		} else {
			m.mu.Lock()
			m.acked[k1], m.acked[k2] = "a"+ns, "b"+ns
			m.mu.Unlock()
			vals, err := cl.MGet(ctx, k1, k2).Result()
			if err != nil || len(vals) != 2 || vals[0] != "a"+ns || vals[1] != "b"+ns {
				m.fail("client %d: MGET %s %s = %v, %v", id, k1, k2, vals, err)
			}
		}
		// A preloaded key.
		if len(preKeys) > 0 {
			pk := preKeys[(n*7+id)%len(preKeys)]
			if got, err := cl.Get(ctx, pk).Result(); err != nil || got != m.preload[pk] {
				m.fail("client %d: GET %s = %q, %v; want %q", id, pk, got, err, m.preload[pk])
			}
		}
		m.ops.Add(1)
	}
}

// finish stops the clients and checks every acknowledged write through a fresh client.
func (m *mixedLoad) finish() {
	close(m.stop)
	m.wg.Wait()
	cl := redis.NewClient(&redis.Options{Addr: m.addr, MaxRetries: -1})
	defer cl.Close()
	ctx := context.Background()
	all := make(map[string]string, len(m.acked)+len(m.preload))
	for k, v := range m.acked {
		all[k] = v
	}
	for k, v := range m.preload {
		all[k] = v
	}
	keys := make([]string, 0, len(all))
	for k := range all {
		keys = append(keys, k)
	}
	bad := 0
	for len(keys) > 0 { // pipelined, 200 GETs per round trip
		n := min(200, len(keys))
		pipe := cl.Pipeline()
		gets := make([]*redis.StringCmd, n)
		for i, k := range keys[:n] {
			gets[i] = pipe.Get(ctx, k)
		}
		_, _ = pipe.Exec(ctx)
		for i, k := range keys[:n] {
			if got, err := gets[i].Result(); (err != nil || got != all[k]) && bad < 10 {
				bad++
				m.fail("after the load: GET %s = %q, %v; want %q", k, got, err, all[k])
			}
		}
		keys = keys[n:]
	}
	m.t.Logf("%d load iterations, %d acknowledged keys checked", m.ops.Load(), len(m.acked)+len(m.preload))
	for _, e := range m.errs {
		m.t.Error(e)
	}
}

// preload writes n keys (in the hot slot when hot is set) and returns them with their values.
func preload(t *testing.T, addr, hot string, n int) map[string]string {
	t.Helper()
	cl := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
	defer cl.Close()
	out := map[string]string{}
	pipe := cl.Pipeline()
	for i := range n {
		k := hot + "pre:" + strconv.Itoa(i)
		out[k] = "value-" + strconv.Itoa(i)
		pipe.Set(context.Background(), k, out[k], 0)
	}
	if _, err := pipe.Exec(context.Background()); err != nil {
		t.Fatal(err)
	}
	return out
}

func otherMaster(t *testing.T, c *testcluster.Cluster, not *testcluster.Node) *testcluster.Node {
	t.Helper()
	for _, m := range c.Masters() {
		if m.ID != not.ID {
			return m
		}
	}
	t.Fatal("no other master")
	return nil
}

// A slot migrates under load: ASK while it is half moved, MOVED once it is done; clients see
// no error, every INCR sequence stays in order, every read sees the last write.
func TestE2EMigrationUnderLoad(t *testing.T) {
	c := startTopologyCluster(t, testcluster.Options{})
	p := startProxyRouter(t, c, router.Config{})
	const hot = "{mig}"
	hotSlot := int(slot.Of([]byte(hot)))
	pre := preload(t, p.Addr, hot, 200)

	src, err := c.SlotOwner(hotSlot)
	if err != nil {
		t.Fatal(err)
	}
	dst := otherMaster(t, c, src)
	ask0, moved0 := counter(`slotgate_redirects_total{kind="ask"}`), counter(`slotgate_redirects_total{kind="moved"}`)

	if err := c.BeginMigration(hotSlot, src, dst); err != nil {
		t.Fatal(err)
	}
	if _, err := c.MigrateKeys(hotSlot, src, dst, 100); err != nil {
		t.Fatal(err)
	}
	load := newMixedLoad(t, p.Addr, hot, pre)
	load.start(4)
	time.Sleep(400 * time.Millisecond)
	if _, err := c.MigrateKeys(hotSlot, src, dst, 0); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if err := c.FinishMigration(hotSlot, dst); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	load.finish()

	ask, moved := counter(`slotgate_redirects_total{kind="ask"}`)-ask0, counter(`slotgate_redirects_total{kind="moved"}`)-moved0
	t.Logf("slot %d moved %s -> %s under load: %d ASK and %d MOVED redirects followed", hotSlot, src, dst, ask, moved)
	if ask == 0 || moved == 0 {
		t.Errorf("want both ASK and MOVED redirects, got ask=%d moved=%d", ask, moved)
	}
}

// 1,000 slots with their keys move between masters under load: no client error, all data
// readable.
func TestE2EReshardingUnderLoad(t *testing.T) {
	c := startTopologyCluster(t, testcluster.Options{})
	p := startProxyRouter(t, c, router.Config{})
	pre := preload(t, p.Addr, "", 3000)

	shards, err := c.Topology()
	if err != nil {
		t.Fatal(err)
	}
	from := shards[0].Master
	to := otherMaster(t, c, from)
	var slots []int
	for _, r := range shards[0].Slots {
		for s := r[0]; s <= r[1] && len(slots) < 1000; s++ {
			slots = append(slots, s)
		}
	}
	load := newMixedLoad(t, p.Addr, "", pre)
	load.start(4)
	t0 := time.Now()
	if err := c.MoveSlots(slots, from, to); err != nil {
		t.Fatal(err)
	}
	t.Logf("moved %d slots %s -> %s in %v", len(slots), from, to, time.Since(t0).Round(time.Millisecond))
	time.Sleep(300 * time.Millisecond)
	load.finish()
}

// CLUSTER FAILOVER on each shard's replica in turn, under load: no client error, nothing lost.
func TestE2EPlannedFailover(t *testing.T) {
	c := startTopologyCluster(t, testcluster.Options{NodeTimeout: time.Second})
	p := startProxyRouter(t, c, router.Config{})
	pre := preload(t, p.Addr, "", 300)
	load := newMixedLoad(t, p.Addr, "", pre)
	load.start(4)
	for _, m := range c.Masters() {
		reps := c.Replicas(m)
		if len(reps) == 0 {
			t.Fatalf("master %s has no replica", m)
		}
		t0 := time.Now()
		if err := c.Failover(reps[0], ""); err != nil {
			t.Fatal(err)
		}
		t.Logf("failover %s -> %s in %v", m, reps[0], time.Since(t0).Round(time.Millisecond))
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	load.finish()
}

// killLoad writes and reads keys over every shard from several clients and records, per
// write, whether it was acknowledged; errors must be RESP errors (never hangs or broken
// connections).
type killLoad struct {
	addr    string
	stop    chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	acked   map[string]string
	errs    map[string]int // RESP error text (truncated) -> count
	notRESP []string       // errors that are not RESP errors
	okAt    []time.Time    // successes on the probed slot
	probe   uint16
	down    func(uint16) bool // slots of the killed master
	other   []time.Time       // successes on the other shards
}

func (k *killLoad) run(clients int) {
	for i := range clients {
		k.wg.Add(1)
		go func() {
			defer k.wg.Done()
			cl := loadClient(k.addr, 5*time.Second)
			defer cl.Close()
			ctx := context.Background()
			for n := 0; ; n++ {
				select {
				case <-k.stop:
					return
				default:
				}
				key := fmt.Sprintf("kill:%d:%d", i, n)
				switch {
				case i%2 == 1: // this client only writes to the other shards
					for j := 0; k.down(slot.Of([]byte(key))); j++ {
						key = fmt.Sprintf("kill:%d:%d:%d", i, n, j)
					}
				case n%4 == 0:
					key = keyInSlot(fmt.Sprintf("probe:%d:%d", i, n), k.probe)
				}
				val := strconv.Itoa(n)
				err := cl.Set(ctx, key, val, 0).Err()
				k.mu.Lock()
				switch {
				case err == nil:
					k.acked[key] = val
					if sl := slot.Of([]byte(key)); sl == k.probe {
						k.okAt = append(k.okAt, time.Now())
					} else if k.down != nil && !k.down(sl) {
						k.other = append(k.other, time.Now())
					}
				case isRESPError(err):
					msg := err.Error()
					if len(msg) > 60 {
						msg = msg[:60]
					}
					k.errs[msg]++
				default:
					k.notRESP = append(k.notRESP, err.Error())
				}
				k.mu.Unlock()
			}
		}()
	}
}

func isRESPError(err error) bool {
	var re redis.Error
	return errors.As(err, &re) && !errors.Is(err, redis.Nil) && !strings.Contains(err.Error(), "i/o timeout")
}

// A master (the one named in -cluster) is killed under steady load: once its replica is
// promoted, slotgate serves that shard again within a second; errors meanwhile are RESP
// errors; every acknowledged write reads back.
func TestE2EMasterKilled(t *testing.T) {
	c := startTopologyCluster(t, testcluster.Options{NodeTimeout: time.Second})
	victim := c.Masters()[0]
	p := startProxyRouter(t, c, router.Config{Seeds: []string{victim.Addr}})
	shards, err := c.Topology()
	if err != nil {
		t.Fatal(err)
	}
	var probe uint16
	var victimSlots [][2]int
	for _, s := range shards {
		if s.Master.ID == victim.ID {
			probe, victimSlots = uint16(s.Slots[0][0]), s.Slots
		}
	}
	down := func(sl uint16) bool {
		for _, r := range victimSlots {
			if int(sl) >= r[0] && int(sl) <= r[1] {
				return true
			}
		}
		return false
	}
	replica := c.Replicas(victim)[0]
	k := &killLoad{addr: p.Addr, stop: make(chan struct{}), acked: map[string]string{}, errs: map[string]int{}, probe: probe, down: down}
	k.run(6)
	time.Sleep(500 * time.Millisecond)

	// The replica's replication offset just before the kill, to tell a loss inside Redis's
	// asynchronous replication from one of slotgate's.
	masterOffset := replOffset(c, victim)
	killedAt := time.Now()
	if err := c.Kill(victim); err != nil {
		t.Fatal(err)
	}
	promoted, promotedAt, err := c.WaitNewMaster(victim, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	replicaOffset := replOffset(c, promoted)
	// Served again: the first success on the probed slot after the promotion.
	var servedAt time.Time
	deadline := time.Now().Add(10 * time.Second)
	for servedAt.IsZero() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		k.mu.Lock()
		for _, at := range k.okAt {
			if at.After(promotedAt) {
				servedAt = at
				break
			}
		}
		k.mu.Unlock()
	}
	time.Sleep(300 * time.Millisecond)
	close(k.stop)
	k.wg.Wait()
	if promoted.ID != replica.ID {
		t.Logf("promoted %s (expected %s)", promoted, replica)
	}
	if servedAt.IsZero() {
		t.Fatalf("slot %d not served within 10s of %s's promotion", probe, promoted)
	}
	gap := servedAt.Sub(promotedAt)
	t.Logf("killed %s; %s promoted %v later; first success through slotgate %v after the promotion",
		victim, promoted, promotedAt.Sub(killedAt).Round(time.Millisecond), gap.Round(time.Millisecond))
	if gap > time.Second {
		t.Errorf("shard served again %v after the promotion, want within 1s", gap)
	}
	t.Logf("errors during the failover: %v", k.errs)
	for _, e := range k.notRESP {
		t.Errorf("not a RESP error: %s", e)
	}
	// Only requests already written to the killed master may fail: the retry window follows
	// cluster-node-timeout, so a request waiting for the shard outlasts the election.
	for msg, n := range k.errs {
		if strings.Contains(msg, "cannot reach node") {
			t.Errorf("%d request(s) waited out the retry window during the election: %s", n, msg)
		}
	}
	// The other shards go on while the killed master's requests wait, until the cluster itself
	// says CLUSTERDOWN (after cluster-node-timeout, 1 s here).
	served := 0
	for _, at := range k.other {
		if at.After(killedAt) && at.Before(killedAt.Add(800*time.Millisecond)) {
			served++
		}
	}
	t.Logf("other shards served %d writes in the 800 ms after the kill", served)
	if served < 50 {
		t.Errorf("other shards served %d writes in the 800 ms after the kill: blocked by the dead one?", served)
	}

	cl := redis.NewClient(&redis.Options{Addr: p.Addr, MaxRetries: -1})
	defer cl.Close()
	lost := 0
	for key, want := range k.acked {
		got, err := cl.Get(context.Background(), key).Result()
		if err != nil || got != want {
			if lost < 10 {
				t.Errorf("acknowledged %s=%q reads %q, %v", key, want, got, err)
			}
			lost++
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d acknowledged writes lost; the killed master's replication offset shortly before the kill was %d, the promoted replica's at promotion %d (a replica behind its master loses writes inside Redis)",
			lost, len(k.acked), masterOffset, replicaOffset)
	}
}

// replOffset reads master_repl_offset of a node (0 if it does not answer).
func replOffset(c *testcluster.Cluster, n *testcluster.Node) int64 {
	info, _ := infoText(c, n, "replication")
	off, _ := strconv.ParseInt(testcluster.InfoField(info, "master_repl_offset"), 10, 64)
	return off
}

// infoText is INFO <section> of one node ("" and the error if it does not answer).
func infoText(c *testcluster.Cluster, n *testcluster.Node, section string) (string, error) {
	v, err := c.Do(n, "INFO", section)
	s, _ := v.(string)
	return s, err
}

// cmdstat reads one counter ("calls", "rejected_calls") of a command from INFO commandstats.
func cmdstat(info, cmd, counter string) int {
	for _, f := range strings.Split(testcluster.InfoField(info, "cmdstat_"+cmd), ",") {
		if name, val, _ := strings.Cut(f, "="); name == counter {
			x, _ := strconv.Atoi(val)
			return x
		}
	}
	return 0
}

// A master killed and restarted before any failover: slotgate reconnects by itself. Then a
// master killed, replaced by its replica, and restarted: it rejoins as a replica with a stale
// view, and slotgate sends it nothing.
func TestE2ENodeRestart(t *testing.T) {
	c := startTopologyCluster(t, testcluster.Options{AppendOnly: true, NodeTimeout: 3 * time.Second})
	p := startProxyRouter(t, c, router.Config{})
	cl := p.client(t, func(o *redis.Options) { o.MaxRetries = -1 })
	ctx := context.Background()
	victim := c.Masters()[1]
	shards, _ := c.Topology()
	var s0 uint16
	for _, s := range shards {
		if s.Master.ID == victim.ID {
			s0 = uint16(s.Slots[0][0])
		}
	}
	key := keyInSlot("restart", s0)
	if err := cl.Set(ctx, key, "before", 0).Err(); err != nil {
		t.Fatal(err)
	}

	// 1. Kill and restart at once (well within the node timeout: no failover).
	if err := c.Kill(victim); err != nil {
		t.Fatal(err)
	}
	if err := c.Restart(victim); err != nil {
		t.Fatal(err)
	}
	upAt := time.Now()
	var served time.Duration
	for {
		got, err := cl.Get(ctx, key).Result()
		if err == nil && got == "before" {
			served = time.Since(upAt)
			break
		}
		if time.Since(upAt) > 5*time.Second {
			t.Fatalf("restarted master not served again after 5s: %q, %v", got, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("restarted master %s served again %v after it was up", victim, served.Round(time.Millisecond))

	// 2. Kill, fail over to the replica, restart the old master: it rejoins as a replica.
	if err := c.Kill(victim); err != nil {
		t.Fatal(err)
	}
	promoted, _, err := c.WaitNewMaster(victim, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Restart(victim); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitRole(victim, "slave", 20*time.Second); err != nil {
		t.Fatal(err)
	}
	before := commandCalls(c, victim)
	for i := range 200 {
		k := keyInSlot(fmt.Sprintf("rejoin:%d", i), s0)
		if err := cl.Set(ctx, k, "x", 0).Err(); err != nil {
			t.Fatalf("SET %s after the old master rejoined: %v", k, err)
		}
		if got, err := cl.Get(ctx, k).Result(); err != nil || got != "x" {
			t.Fatalf("GET %s = %q, %v", k, got, err)
		}
	}
	if got, err := cl.Get(ctx, key).Result(); err != nil || got != "before" {
		t.Fatalf("GET %s after the failover = %q, %v", key, got, err)
	}
	if after := commandCalls(c, victim); after != before {
		t.Errorf("the old master %s (now a replica of %s) got %d GET/SET calls or rejections from slotgate", victim, promoted, after-before)
	}
}

// commandCalls counts the GET and SET a node got from clients: GET calls and rejections, SET
// rejections (its SET calls include those replicated from its master).
func commandCalls(c *testcluster.Cluster, n *testcluster.Node) int {
	info, err := infoText(c, n, "commandstats")
	if err != nil {
		return -1
	}
	return cmdstat(info, "get", "calls") + cmdstat(info, "get", "rejected_calls") + cmdstat(info, "set", "rejected_calls")
}

// nodeGets counts GET calls a node served.
func nodeGets(c *testcluster.Cluster, n *testcluster.Node) int {
	info, err := infoText(c, n, "commandstats")
	if err != nil {
		return -1
	}
	return cmdstat(info, "get", "calls")
}

// -read-from replica: reads go to the replicas (READONLY), writes to the masters; a killed
// replica's reads fall back to its master without an error.
func TestE2EReadFromReplica(t *testing.T) {
	c := startTopologyCluster(t, testcluster.Options{NodeTimeout: time.Second})
	p := startProxyRouter(t, c, router.Config{ReadFrom: router.ReadReplica})
	cl := p.client(t, func(o *redis.Options) { o.MaxRetries = -1 })
	ctx := context.Background()
	const n = 300
	for i := range n {
		if err := cl.Set(ctx, "rr:"+strconv.Itoa(i), strconv.Itoa(i), 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	masters := c.Masters()
	var replicas []*testcluster.Node
	for _, m := range masters {
		replicas = append(replicas, c.Replicas(m)...)
	}
	gets := func(nodes []*testcluster.Node) int {
		total := 0
		for _, nd := range nodes {
			total += nodeGets(c, nd)
		}
		return total
	}
	m0, r0 := gets(masters), gets(replicas)
	// A replica may lag its master by a moment: wait for each value (a client of -read-from
	// replica may not see its own writes at once; the README says so).
	for i := range n {
		k := "rr:" + strconv.Itoa(i)
		deadline := time.Now().Add(2 * time.Second)
		for {
			got, err := cl.Get(ctx, k).Result()
			if err == nil && got == strconv.Itoa(i) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("GET %s from a replica = %q, %v", k, got, err)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	m1, r1 := gets(masters), gets(replicas)
	t.Logf("GETs served: masters %d, replicas %d", m1-m0, r1-r0)
	if r1-r0 < n || m1-m0 != 0 {
		t.Errorf("reads went to masters %d times and replicas %d times, want replicas only", m1-m0, r1-r0)
	}

	// Kill one replica under a read loop: no error, its shard's reads go to the master.
	victim := replicas[0]
	stop := make(chan struct{})
	errc := make(chan error, 1)
	var reads atomic.Int64
	go func() {
		defer close(errc)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			k := "rr:" + strconv.Itoa(i%n)
			if got, err := cl.Get(ctx, k).Result(); err != nil || got != strconv.Itoa(i%n) {
				errc <- fmt.Errorf("GET %s = %q, %v", k, got, err)
				return
			}
			reads.Add(1)
		}
	}()
	time.Sleep(200 * time.Millisecond)
	if err := c.Kill(victim); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second)
	close(stop)
	if err := <-errc; err != nil {
		t.Fatalf("read while replica %s was killed: %v", victim, err)
	}
	t.Logf("%d reads while replica %s was killed, no error", reads.Load(), victim)
}
