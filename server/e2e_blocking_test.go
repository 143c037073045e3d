package server_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/slotgate/slotgate/internal/testcluster"
	"github.com/slotgate/slotgate/router"
	"github.com/slotgate/slotgate/router/slot"
	"github.com/slotgate/slotgate/server"
)

// TestE2EBlockingDoesNotStall: with one event loop, a BLPOP blocked for 3 s on a dedicated
// connection does not hold up 10,000 requests of 50 other clients on the same shard; the BLPOP
// then gets the element pushed for it. The same load runs once before the BLPOP, for the log.
func TestE2EBlockingDoesNotStall(t *testing.T) {
	p := startProxy(t, cluster, func(c *server.Config) { c.Loops = 1 })
	ctx := context.Background()
	run := runID()
	m := cluster.Masters()[0]
	queue := keyOnMaster(t, "bq:"+run+":", m, "")
	var clients []*redis.Client
	var keys []string
	for c := range 50 {
		clients = append(clients, p.client(t, nil))
		keys = append(keys, keyOnMaster(t, fmt.Sprintf("bload:%s:%d:", run, c), m, queue))
	}
	alone, aloneP99, aloneWorst := shardLoad(t, clients, keys, 200)

	blocker := p.client(t, func(o *redis.Options) { o.ReadTimeout = 30 * time.Second })
	start := time.Now()
	popped := make(chan []string, 1)
	go func() {
		v, err := blocker.BLPop(ctx, 0, queue).Result()
		if err != nil {
			v = []string{"error", err.Error()}
		}
		popped <- v
	}()
	waitBlocked(t, m.Addr, 1)
	beside, besideP99, worst := shardLoad(t, clients, keys, 200)
	select {
	case v := <-popped:
		t.Fatalf("BLPOP returned %v before anything was pushed", v)
	default:
	}
	t.Logf("10,000 requests on the blocked key's shard: alone %v (p99 %v, slowest %v); beside a blocked BLPOP %v (p99 %v, slowest %v)",
		alone, aloneP99, aloneWorst, beside, besideP99, worst)
	if worst > time.Second {
		t.Fatalf("a request took %v beside a blocked BLPOP: the shared pipeline stalled", worst)
	}
	time.Sleep(time.Until(start.Add(3 * time.Second)))
	if err := p.client(t, nil).RPush(ctx, queue, "job").Err(); err != nil {
		t.Fatal(err)
	}
	select {
	case v := <-popped:
		if len(v) != 2 || v[0] != queue || v[1] != "job" {
			t.Fatalf("BLPOP = %v", v)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("BLPOP did not return after the push")
	}
	if d := time.Since(start); d < 3*time.Second {
		t.Fatalf("BLPOP was blocked %v; want 3 s", d)
	}
}

// shardLoad runs perClient SET/GET requests on each client (its own key) at once and returns
// the time it took, the 99th percentile and the slowest request.
func shardLoad(t *testing.T, clients []*redis.Client, keys []string, perClient int) (total, p99, worst time.Duration) {
	t.Helper()
	ctx := context.Background()
	var wg sync.WaitGroup
	lat := make([][]time.Duration, len(clients))
	errc := make(chan error, len(clients))
	start := time.Now()
	for c, cl := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perClient {
				t0 := time.Now()
				var err error
				if i%2 == 0 {
					err = cl.Set(ctx, keys[c], i, time.Hour).Err()
				} else {
					err = cl.Get(ctx, keys[c]).Err()
				}
				lat[c] = append(lat[c], time.Since(t0))
				if err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	total = time.Since(start)
	close(errc)
	for err := range errc {
		t.Fatalf("a request of the shard load: %v", err)
	}
	all := slices.Concat(lat...)
	slices.Sort(all)
	return total, all[len(all)*99/100], all[len(all)-1]
}

// waitBlocked waits until node addr reports n blocked clients.
func waitBlocked(t *testing.T, addr string, n int) {
	t.Helper()
	node := cluster.Client(cluster.Node(addr))
	deadline := time.Now().Add(5 * time.Second)
	for {
		info, err := node.Info(context.Background(), "clients").Result()
		if err == nil && strings.Contains(info, fmt.Sprintf("blocked_clients:%d\r\n", n)) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %s never had %d blocked clients: %v %s", addr, n, err, info)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestE2EBlockingCommands: every blocking command returns what is there, times out as its
// timeout says (the proxy's -request-timeout does not cut it), and pipelined requests around
// it keep their order.
func TestE2EBlockingCommands(t *testing.T) {
	p := startProxyRouter(t, cluster, router.Config{RequestTimeout: 300 * time.Millisecond})
	ctx := context.Background()
	run := runID()
	tag := "{bc:" + run + "}"
	cl := p.client(t, func(o *redis.Options) { o.ReadTimeout = 10 * time.Second })
	other := p.client(t, nil)

	t0 := time.Now()
	if err := cl.BLPop(ctx, time.Second, tag+"empty").Err(); !errors.Is(err, redis.Nil) {
		t.Fatalf("BLPOP on an empty list = %v; want a nil reply", err)
	}
	if d := time.Since(t0); d < 900*time.Millisecond || d > 5*time.Second {
		t.Fatalf("BLPOP with timeout 1 s returned after %v", d)
	}
	if err := cl.RPush(ctx, tag+"l", "a", "b", "c", "d").Err(); err != nil {
		t.Fatal(err)
	}
	if v, err := cl.BRPopLPush(ctx, tag+"l", tag+"l2", time.Second).Result(); err != nil || v != "d" {
		t.Fatalf("BRPOPLPUSH = %q, %v", v, err)
	}
	if v, err := cl.BLMove(ctx, tag+"l", tag+"l2", "LEFT", "RIGHT", time.Second).Result(); err != nil || v != "a" {
		t.Fatalf("BLMOVE = %q, %v", v, err)
	}
	if k, v, err := cl.BLMPop(ctx, time.Second, "left", 2, tag+"l").Result(); err != nil || k != tag+"l" || len(v) != 2 {
		t.Fatalf("BLMPOP = %q %v, %v", k, v, err)
	}
	if err := cl.ZAdd(ctx, tag+"z", redis.Z{Score: 1, Member: "m1"}, redis.Z{Score: 2, Member: "m2"}).Err(); err != nil {
		t.Fatal(err)
	}
	if v, err := cl.BZPopMin(ctx, time.Second, tag+"z").Result(); err != nil || v.Member != "m1" {
		t.Fatalf("BZPOPMIN = %v, %v", v, err)
	}
	if v, err := cl.BZPopMax(ctx, time.Second, tag+"z").Result(); err != nil || v.Member != "m2" {
		t.Fatalf("BZPOPMAX = %v, %v", v, err)
	}
	// XREAD BLOCK gets an entry added while it waits.
	go func() {
		time.Sleep(500 * time.Millisecond)
		other.XAdd(ctx, &redis.XAddArgs{Stream: tag + "s", Values: []string{"f", "v"}})
	}()
	streams, err := cl.XRead(ctx, &redis.XReadArgs{Streams: []string{tag + "s", "$"}, Block: 5 * time.Second}).Result()
	if err != nil || len(streams) != 1 || len(streams[0].Messages) != 1 {
		t.Fatalf("XREAD BLOCK = %v, %v", streams, err)
	}
	// Pipelined around a blocking command: replies in request order.
	px := dialRaw(t, p.Addr)
	px.write(respCmd("SET", tag+"k", "1") + respCmd("BLPOP", tag+"empty", "0.2") + respCmd("GET", tag+"k") + respCmd("INCR", tag+"k"))
	for i, want := range []string{"+OK\r\n", "*-1\r\n", "$1\r\n1\r\n", ":2\r\n"} {
		if r := px.read(); r != want {
			t.Fatalf("pipelined reply %d = %q; want %q", i, r, want)
		}
	}
}

// TestE2EBlockedClientLeaves: a client that disconnects while blocked has its dedicated
// connection closed at once, so an element pushed afterwards is not popped for nobody.
func TestE2EBlockedClientLeaves(t *testing.T) {
	p := startProxy(t, cluster, nil)
	ctx := context.Background()
	run := runID()
	m := cluster.Masters()[1]
	queue := keyOnMaster(t, "bleave:"+run+":", m, "")
	px := dialRaw(t, p.Addr)
	px.write(respCmd("BLPOP", queue, "0"))
	waitBlocked(t, m.Addr, 1)
	if n := p.Rt.DedicatedConns(m.Addr); n != 1 {
		t.Fatalf("%d dedicated connections with one blocked client; want 1", n)
	}
	px.c.Close()
	waitBlocked(t, m.Addr, 0)
	if err := p.client(t, nil).RPush(ctx, queue, "job").Err(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if n, err := cluster.Client(m).LLen(ctx, queue).Result(); err != nil || n != 1 {
		t.Fatalf("LLEN after the blocked client left = %d, %v; want 1 (nobody popped it)", n, err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for p.Rt.DedicatedConns(m.Addr) != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := p.Rt.DedicatedConns(m.Addr); n != 0 {
		t.Fatalf("%d dedicated connections after the blocked client left; want 0", n)
	}
}

// TestE2EJobQueueThroughFailover: a BRPOPLPUSH job queue (one producer, four consumers) through
// a planned failover of the queue's master loses and duplicates nothing: every job the producer
// had acknowledged is in the done list exactly once, and no job twice. Blocked consumers on the
// old master are released by it (UNBLOCKED or MOVED: the command did not run) and slotgate
// re-sends them to the new master.
func TestE2EJobQueueThroughFailover(t *testing.T) {
	c := startTopologyCluster(t, testcluster.Options{NodeTimeout: time.Second})
	p := startProxyRouter(t, c, router.Config{})
	ctx := context.Background()
	tag := "{jobs}"
	queue, done := tag+"queue", tag+"done"
	m := masterIn(t, c, queue)

	var mu sync.Mutex
	acked, uncertain := map[string]bool{}, map[string]bool{}
	stop := make(chan struct{})
	var producer, consumers sync.WaitGroup
	producer.Add(1)
	go func() {
		defer producer.Done()
		cl := loadClient(p.Addr, 5*time.Second)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			job := fmt.Sprintf("job-%05d", i)
			err := cl.LPush(ctx, queue, job).Err()
			mu.Lock()
			if err == nil {
				acked[job] = true
			} else {
				uncertain[job] = true // maybe applied: it may appear at most once
			}
			mu.Unlock()
			time.Sleep(2 * time.Millisecond)
		}
	}()
	var consumerErrs sync.Map
	for w := range 4 {
		consumers.Add(1)
		go func() {
			defer consumers.Done()
			cl := loadClient(p.Addr, 10*time.Second)
			for {
				_, err := cl.BRPopLPush(ctx, queue, done, time.Second).Result()
				switch {
				case err == nil:
				case errors.Is(err, redis.Nil):
					select {
					case <-stop:
						return // producer finished and the queue stayed empty
					default:
					}
				default:
					consumerErrs.Store(fmt.Sprintf("%d:%v", w, err), true)
					time.Sleep(10 * time.Millisecond)
				}
			}
		}()
	}
	time.Sleep(700 * time.Millisecond)
	reps := c.Replicas(m)
	if len(reps) == 0 {
		t.Fatalf("master %s has no replica", m)
	}
	if err := c.Failover(reps[0], ""); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	close(stop)
	producer.Wait()
	consumers.Wait()

	cl := loadClient(p.Addr, 5*time.Second)
	if n, err := cl.LLen(ctx, queue).Result(); err != nil || n != 0 {
		t.Fatalf("queue length at the end = %d, %v; want 0", n, err)
	}
	got, err := cl.LRange(ctx, done, 0, -1).Result()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, j := range got {
		seen[j]++
	}
	for j, n := range seen {
		if n > 1 {
			t.Errorf("job %s done %d times", j, n)
		}
		if !acked[j] && !uncertain[j] {
			t.Errorf("job %s done but never produced", j)
		}
	}
	for j := range acked {
		if seen[j] != 1 {
			t.Errorf("acknowledged job %s done %d times; want 1", j, seen[j])
		}
	}
	var errs []string
	consumerErrs.Range(func(k, _ any) bool { errs = append(errs, k.(string)); return true })
	t.Logf("%d jobs acknowledged, %d uncertain, %d done; consumer errors: %v", len(acked), len(uncertain), len(got), errs)
	if len(acked) < 100 {
		t.Fatalf("only %d jobs produced", len(acked))
	}
}

// masterIn returns the master of cluster c serving key's slot.
func masterIn(t testing.TB, c *testcluster.Cluster, key string) *testcluster.Node {
	t.Helper()
	shards, err := c.Topology()
	if err != nil {
		t.Fatal(err)
	}
	sl := int(slot.Of([]byte(key)))
	for _, s := range shards {
		for _, r := range s.Slots {
			if r[0] <= sl && sl <= r[1] {
				return s.Master
			}
		}
	}
	t.Fatalf("no master serves slot %d", sl)
	return nil
}

// TestE2EStopDoesNotWaitForBlocked: a shutdown drains the requests in flight but not a command
// blocked with no timeout, which would otherwise hold every stop for the whole drain deadline.
func TestE2EStopDoesNotWaitForBlocked(t *testing.T) {
	addr := freeAddr(t)
	_, stop, err := runProxyAt(t, addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	m := cluster.Masters()[0]
	px := dialRaw(t, addr)
	px.write(respCmd("BLPOP", keyOnMaster(t, "stopq:"+runID()+":", m, ""), "0"))
	waitBlocked(t, m.Addr, 1)
	t0 := time.Now()
	stop() // a 2 s drain deadline
	if d := time.Since(t0); d > time.Second {
		t.Fatalf("stop took %v with a blocked client: it waited for the BLPOP", d)
	}
}

// TestE2EStopDrainsInFlight: a shutdown waits for a request still at a master (a script that
// runs for 400 ms) and delivers its reply before closing. Each loop counts its requests in
// flight with plain adds and the drain asks every loop for its count (Server.inflight): a count
// that is lost or stale ends the drain early, and the client gets EOF instead of the reply.
func TestE2EStopDrainsInFlight(t *testing.T) {
	addr := freeAddr(t)
	_, stop, err := runProxyAt(t, addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	px := dialRaw(t, addr)
	const slow = `local t0 = redis.call('TIME')
while true do
  local t = redis.call('TIME')
  if (t[1] - t0[1]) * 1000000 + (t[2] - t0[2]) > 400000 then return 'done' end
end`
	px.write(respCmd("EVAL", slow, "1", "drain:"+runID()))
	time.Sleep(100 * time.Millisecond) // the script is running on its master
	t0 := time.Now()
	stopped := make(chan struct{})
	go func() { stop(); close(stopped) }()
	if r := px.read(); r != "$4\r\ndone\r\n" {
		t.Fatalf("the script's reply during the drain: %q", r)
	}
	<-stopped
	if d := time.Since(t0); d < 200*time.Millisecond {
		t.Fatalf("stop took %v: it did not wait for the script", d)
	}
}
