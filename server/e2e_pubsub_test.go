package server_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/slotgate/slotgate/codec"
	"github.com/slotgate/slotgate/internal/fakenode"
	"github.com/slotgate/slotgate/internal/testcluster"
	"github.com/slotgate/slotgate/router"
	"github.com/slotgate/slotgate/router/slot"
	"github.com/slotgate/slotgate/server"
)

// rawDial opens a plain TCP connection (AUTH first when password is set).
func rawDial(t testing.TB, addr, password string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if password != "" {
		if _, err := c.Write([]byte(respCmd("AUTH", password))); err != nil {
			t.Fatal(err)
		}
		if got := readFrames(t, c, 1); string(got) != "+OK\r\n" {
			t.Fatalf("AUTH: %q", got)
		}
	}
	return c
}

// readFrames reads exactly n RESP frames (and nothing after them) from c.
func readFrames(t testing.TB, c net.Conn, n int) []byte {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var buf []byte
	var f codec.ReplyFramer
	pos := 0
	one := make([]byte, 4096)
	for n > 0 {
		for n > 0 {
			k, err := f.Frame(buf[pos:])
			if err != nil {
				t.Fatalf("frame: %v in %q", err, buf)
			}
			if k == 0 {
				break
			}
			pos += k
			n--
		}
		if n == 0 {
			break
		}
		m, err := c.Read(one)
		if err != nil {
			t.Fatalf("read after %q: %v", buf, err)
		}
		buf = append(buf, one[:m]...)
	}
	if pos != len(buf) {
		t.Fatalf("bytes after the frames expected: %q", buf[pos:])
	}
	return buf
}

// tagOn returns a hash tag whose slot master m serves.
func tagOn(t testing.TB, m *testcluster.Node) string {
	for i := 0; ; i++ {
		tag := "{pt" + strconv.Itoa(i) + "}"
		if masterOf(t, tag) == m {
			return tag
		}
	}
}

// TestE2EPubsubAckShapes: slotgate's own acks (counts per client, one frame per argument,
// duplicates, bare unsubscribes, PING and a refused command while subscribed) are byte for byte
// what a real redis-server sends.
func TestE2EPubsubAckShapes(t *testing.T) {
	p := startProxy(t, cluster, nil)
	m := cluster.Masters()[0]
	tag := tagOn(t, m)
	sh := tag + "sh"
	steps := []struct {
		req    []string
		frames int
	}{
		{[]string{"SUBSCRIBE", "a", "a", "b"}, 3},
		{[]string{"PSUBSCRIBE", "p*"}, 1},
		{[]string{"SSUBSCRIBE", sh, sh}, 2},
		{[]string{"PING"}, 1},
		{[]string{"PING", "hi"}, 1},
		{[]string{"GET", tag + "k"}, 1},
		{[]string{"config", "get", "maxmemory"}, 1},
		{[]string{"UNSUBSCRIBE", "a", "zz"}, 2},
		{[]string{"UNSUBSCRIBE", "b"}, 1},
		{[]string{"UNSUBSCRIBE"}, 1},
		{[]string{"PUNSUBSCRIBE"}, 1},
		{[]string{"SUNSUBSCRIBE", sh}, 1},
		{[]string{"SUNSUBSCRIBE"}, 1},
		{[]string{"GET", tag + "nokey"}, 1},
		{[]string{"UNSUBSCRIBE"}, 1},
		{[]string{"PUNSUBSCRIBE", "q"}, 1},
		{[]string{"SUBSCRIBE", "c"}, 1},
		{[]string{"RESET"}, 1}, // (the node now wants AUTH again: the last step compared)
	}
	direct := rawDial(t, m.Addr, cluster.Password)
	proxied := rawDial(t, p.Addr, "")
	for _, st := range steps {
		req := []byte(respCmd(st.req...))
		if _, err := direct.Write(req); err != nil {
			t.Fatal(err)
		}
		want := readFrames(t, direct, st.frames)
		if _, err := proxied.Write(req); err != nil {
			t.Fatal(err)
		}
		got := readFrames(t, proxied, st.frames)
		if !bytes.Equal(got, want) {
			t.Errorf("%q:\n got  %q\n want %q", st.req, got, want)
		}
	}
	// RESET left pub/sub mode.
	if _, err := proxied.Write([]byte(respCmd("PING"))); err != nil {
		t.Fatal(err)
	}
	if got := readFrames(t, proxied, 1); string(got) != "+PONG\r\n" {
		t.Errorf("PING after RESET: %q", got)
	}
	// SSUBSCRIBE across slots: Redis Cluster's CROSSSLOT.
	if _, err := proxied.Write([]byte(respCmd("SSUBSCRIBE", "{a}x", "{b}x"))); err != nil {
		t.Fatal(err)
	}
	if got := readFrames(t, proxied, 1); !strings.HasPrefix(string(got), "-CROSSSLOT") {
		t.Errorf("SSUBSCRIBE across slots: %q", got)
	}
}

// countSubConns counts, over the masters, the connections subscribed to anything (sub, psub or
// ssub > 0 in CLIENT LIST), by node.
func countSubConns(t testing.TB, c *testcluster.Cluster) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, m := range c.Masters() {
		text, err := c.Client(m).ClientList(context.Background()).Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(text, "\n") {
			for _, f := range strings.Fields(line) {
				k, v, _ := strings.Cut(f, "=")
				if (k == "sub" || k == "psub" || k == "ssub") && v != "0" {
					out[m.Addr]++
					break
				}
			}
		}
	}
	return out
}

// numsub asks node n directly for PUBSUB NUMSUB ch.
func numsub(t testing.TB, c *testcluster.Cluster, n *testcluster.Node, ch string) int64 {
	t.Helper()
	r, err := c.Client(n).PubSubNumSub(context.Background(), ch).Result()
	if err != nil {
		t.Fatal(err)
	}
	return r[ch]
}

// TestE2EPubsubFanOut: 1,000 subscribers of one channel through one slotgate, with one and two
// loops, each get every message; PUBLISH counts slotgate's subscription; slotgate holds at most
// one subscriber connection per node per loop.
func TestE2EPubsubFanOut(t *testing.T) {
	for _, loops := range []int{1, 2} {
		t.Run("loops="+strconv.Itoa(loops), func(t *testing.T) {
			before := countSubConns(t, cluster)
			p := startProxy(t, cluster, func(c *server.Config) { c.Loops = loops })
			ch := "fan:" + runID()
			const subs, msgs = 1000, 20
			ctx := context.Background()
			cl := p.client(t, func(o *redis.Options) { o.PoolSize = subs + 10 })
			var pss []*redis.PubSub
			for i := 0; i < subs; i++ {
				ps := cl.Subscribe(ctx, ch)
				if _, err := ps.Receive(ctx); err != nil { // the subscribe ack
					t.Fatal(err)
				}
				pss = append(pss, ps)
			}
			defer func() {
				for _, ps := range pss {
					ps.Close()
				}
			}()
			// An ack means subscribed upstream (as on one Redis, a PUBLISH after it is heard): each
			// loop's subscription is already on the channel's node, once.
			owner := masterOf(t, ch)
			if n := numsub(t, cluster, owner, ch); n != int64(loops) {
				t.Fatalf("node %s counts %d subscribers of %s right after the acks, want %d (one per loop)", owner.Addr, n, ch, loops)
			}
			var wg sync.WaitGroup
			var bad atomic.Int64
			var errOnce sync.Once
			for i, ps := range pss {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for j := 0; j < msgs; j++ {
						m, err := ps.ReceiveMessage(ctx)
						want := "m" + strconv.Itoa(j)
						if err != nil || m.Channel != ch || m.Payload != want {
							bad.Add(1)
							errOnce.Do(func() { t.Errorf("subscriber %d message %d: %v %+v, want %s", i, j, err, m, want) })
							return
						}
					}
				}()
			}
			pub := p.client(t, nil)
			for j := 0; j < msgs; j++ {
				n, err := pub.Publish(ctx, ch, "m"+strconv.Itoa(j)).Result()
				if err != nil || n < 1 {
					t.Fatalf("PUBLISH: %d, %v (want >= 1: slotgate's subscription is on the channel's node)", n, err)
				}
			}
			done := make(chan struct{})
			go func() { wg.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("subscribers did not get every message within 30 s")
			}
			if bad.Load() > 0 {
				t.Fatalf("%d subscribers missed messages", bad.Load())
			}
			after := countSubConns(t, cluster)
			for _, m := range cluster.Masters() {
				if d := after[m.Addr] - before[m.Addr]; d > loops {
					t.Errorf("node %s: %d more subscriber connections, want at most %d (one per loop)", m.Addr, d, loops)
				}
			}
			t.Logf("%d subscribers x %d messages; node subscriber connections %v (before %v)", subs, msgs, after, before)
		})
	}
}

// TestE2EPubsubLastLeaves: when the last local subscriber leaves (UNSUBSCRIBE, or the client
// closes while subscribed), slotgate unsubscribes upstream.
func TestE2EPubsubLastLeaves(t *testing.T) {
	p := startProxy(t, cluster, nil)
	ch := "leave:" + runID()
	owner := masterOf(t, ch)
	waitNumsub := func(want int64) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			n := numsub(t, cluster, owner, ch)
			if n == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("PUBSUB NUMSUB %s on %s: %d, want %d", ch, owner.Addr, n, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	a := rawDial(t, p.Addr, "")
	b := rawDial(t, p.Addr, "")
	for _, c := range []net.Conn{a, b} {
		if _, err := c.Write([]byte(respCmd("SUBSCRIBE", ch))); err != nil {
			t.Fatal(err)
		}
		readFrames(t, c, 1)
	}
	waitNumsub(1)
	a.Close() // closes while subscribed
	if _, err := b.Write([]byte(respCmd("PING"))); err != nil {
		t.Fatal(err)
	}
	readFrames(t, b, 1)
	waitNumsub(1) // b still listens
	if _, err := b.Write([]byte(respCmd("UNSUBSCRIBE", ch))); err != nil {
		t.Fatal(err)
	}
	readFrames(t, b, 1)
	waitNumsub(0)
	// And a client that closes as the last one.
	if _, err := b.Write([]byte(respCmd("SUBSCRIBE", ch))); err != nil {
		t.Fatal(err)
	}
	readFrames(t, b, 1)
	waitNumsub(1)
	b.Close()
	waitNumsub(0)
}

// TestE2EPubsubKeyspace: keyspace notifications of keys on all three masters reach one
// PSUBSCRIBE __keyspace@0__:* through slotgate.
func TestE2EPubsubKeyspace(t *testing.T) {
	ctx := context.Background()
	for _, m := range cluster.Masters() {
		if err := cluster.Client(m).ConfigSet(ctx, "notify-keyspace-events", "KEA").Err(); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for _, m := range cluster.Masters() {
			_ = cluster.Client(m).ConfigSet(ctx, "notify-keyspace-events", "").Err()
		}
	})
	p := startProxy(t, cluster, nil)
	cl := p.client(t, nil)
	ps := cl.PSubscribe(ctx, "__keyspace@0__:*")
	defer ps.Close()
	if _, err := ps.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	run := runID()
	want := map[string]bool{}
	for _, m := range cluster.Masters() {
		want["ks:"+keyOnMaster(t, run+":", m, "")] = true
	}
	// Wait until every master holds slotgate's pattern.
	deadline := time.Now().Add(5 * time.Second)
	for {
		ok := true
		for _, m := range cluster.Masters() {
			n, err := cluster.Client(m).PubSubNumPat(ctx).Result()
			if err != nil {
				t.Fatal(err)
			}
			ok = ok && n > 0
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("pattern not subscribed on every master")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for k := range want {
		if err := cl.Set(ctx, strings.TrimPrefix(k, "ks:"), "v", time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]bool{}
	for len(got) < len(want) {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		m, err := ps.ReceiveMessage(rctx)
		cancel()
		if err != nil {
			t.Fatalf("after %v: %v", got, err)
		}
		if m.Pattern != "__keyspace@0__:*" || m.Payload != "set" {
			continue
		}
		k := "ks:" + strings.TrimPrefix(m.Channel, "__keyspace@0__:")
		if want[k] {
			got[k] = true
		}
	}
}

// TestE2EPubsubQueries: PUBSUB CHANNELS/NUMSUB/NUMPAT/SHARDCHANNELS/SHARDNUMSUB merge every
// master's answer.
func TestE2EPubsubQueries(t *testing.T) {
	ctx := context.Background()
	p := startProxy(t, cluster, nil)
	run := runID()
	var chans []string
	for _, m := range cluster.Masters() {
		chans = append(chans, "q:"+keyOnMaster(t, run+":", m, ""))
	}
	// Subscribers directly on the nodes (one each) and through slotgate (on the channel's node).
	for _, ch := range chans {
		ps := cluster.Client(masterOf(t, ch)).Subscribe(ctx, ch)
		defer ps.Close()
		if _, err := ps.Receive(ctx); err != nil {
			t.Fatal(err)
		}
	}
	cl := p.client(t, nil)
	ps := cl.Subscribe(ctx, chans...)
	defer ps.Close()
	for range chans {
		if _, err := ps.Receive(ctx); err != nil {
			t.Fatal(err)
		}
	}
	shardCh := tagOn(t, cluster.Masters()[1]) + run
	sps := cl.SSubscribe(ctx, shardCh)
	defer sps.Close()
	if _, err := sps.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	q := p.client(t, nil)
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := q.PubSubChannels(ctx, "q:"+run+":*").Result()
		if err != nil {
			t.Fatal(err)
		}
		counts, err := q.PubSubNumSub(ctx, chans...).Result()
		if err != nil {
			t.Fatal(err)
		}
		ok := len(got) == len(chans)
		for _, ch := range chans {
			ok = ok && counts[ch] == 2
		}
		shard, err := q.PubSubShardChannels(ctx, "*"+run).Result()
		if err != nil {
			t.Fatal(err)
		}
		scounts, err := q.PubSubShardNumSub(ctx, shardCh).Result()
		if err != nil {
			t.Fatal(err)
		}
		ok = ok && len(shard) == 1 && shard[0] == shardCh && scounts[shardCh] == 1
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("CHANNELS %v (want %v), NUMSUB %v (want 2 each), SHARDCHANNELS %v, SHARDNUMSUB %v", got, chans, counts, shard, scounts)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := q.PubSubNumPat(ctx).Result(); err != nil {
		t.Fatal(err)
	}
}

// rawSub is a subscriber on a raw connection: every frame after the subscribe ack must be a
// message (message or smessage) of its channel; anything else (an unsubscribe push) is reported.
type rawSub struct {
	conn net.Conn
	msgs chan string
	bad  chan string
}

func newRawSub(t *testing.T, addr, verb, ch string) *rawSub {
	t.Helper()
	c := rawDial(t, addr, "")
	if _, err := c.Write([]byte(respCmd(verb, ch))); err != nil {
		t.Fatal(err)
	}
	readFrames(t, c, 1)
	_ = c.SetReadDeadline(time.Time{})
	rs := &rawSub{conn: c, msgs: make(chan string, 10000), bad: make(chan string, 10)}
	go func() {
		var buf []byte
		var f codec.ReplyFramer
		one := make([]byte, 4096)
		for {
			n, err := c.Read(one)
			if err != nil {
				rs.bad <- "read: " + err.Error()
				return
			}
			buf = append(buf, one[:n]...)
			for {
				k, err := f.Frame(buf)
				if err != nil {
					rs.bad <- err.Error()
					return
				}
				if k == 0 {
					break
				}
				el, err := codec.ArrayElems(buf[:k], nil)
				kind := ""
				if err == nil && len(el) == 3 {
					b, _ := codec.BulkText(el[0])
					kind = string(b)
				}
				if kind != "message" && kind != "smessage" {
					rs.bad <- fmt.Sprintf("unexpected frame %q", buf[:k])
				} else {
					p, _ := codec.BulkText(el[2])
					rs.msgs <- string(p)
				}
				buf = buf[k:]
			}
		}
	}()
	return rs
}

// waitFor waits until the subscriber gets message want (earlier ones are skipped: messages
// published during a move may be lost), failing on any unexpected frame.
func (rs *rawSub) waitFor(t *testing.T, what string, want int, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case m := <-rs.msgs:
			if n, _ := strconv.Atoi(m); n >= want {
				return
			}
		case b := <-rs.bad:
			t.Fatalf("%s: %s", what, b)
		case <-deadline:
			t.Fatalf("%s: no message >= %d within %v", what, want, timeout)
		}
	}
}

// TestE2EPubsubMoves: a shard channel whose slot migrates, a shard channel and a classic channel
// whose master is killed: messages keep arriving after the move through the same client
// connection, which sees no unsubscribe. Messages are published by a cluster client, not through
// slotgate, and slotgate's periodic refresh is a minute: it learns of each move only from its
// subscriber connections (the old owner's sunsubscribe, the connection lost).
func TestE2EPubsubMoves(t *testing.T) {
	c := startTopologyCluster(t, testcluster.Options{NodeTimeout: time.Second})
	victim := c.Masters()[0]
	p := startProxyRouter(t, c, router.Config{Seeds: []string{c.Masters()[1].Addr}, Refresh: time.Minute})
	ctx := context.Background()

	// Channels: migShard on another master than the victim, killShard and killClassic on it.
	var migShard, killShard, killClassic string
	for i := 0; migShard == "" || killShard == "" || killClassic == ""; i++ {
		name := "mv" + strconv.Itoa(i)
		owner, err := c.SlotOwner(int(slot.Of([]byte(name))))
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case owner.ID != victim.ID && migShard == "":
			migShard = name
		case owner.ID == victim.ID && killShard == "":
			killShard = name
		case owner.ID == victim.ID && killClassic == "":
			killClassic = name
		}
	}
	subMig := newRawSub(t, p.Addr, "SSUBSCRIBE", migShard)
	subKillS := newRawSub(t, p.Addr, "SSUBSCRIBE", killShard)
	subKillC := newRawSub(t, p.Addr, "SUBSCRIBE", killClassic)

	// One publisher per channel, each numbering its messages: a stall of one (its node down)
	// does not hold the others. The migrated channel is published to by a cluster client
	// straight to the nodes; the others through slotgate.
	stop := make(chan struct{})
	var pubs sync.WaitGroup
	publish := func(seq *atomic.Int64, do func(v string) error) {
		pubs.Add(1)
		go func() {
			defer pubs.Done()
			for {
				select {
				case <-stop:
					return
				case <-time.After(10 * time.Millisecond):
				}
				_ = do(strconv.FormatInt(seq.Add(1), 10)) // errors while a master is down are expected
			}
		}()
	}
	direct := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Seeds(), Password: c.Password,
		DialTimeout: 500 * time.Millisecond, ReadTimeout: time.Second, WriteTimeout: time.Second})
	defer direct.Close()
	viaProxy := loadClient(p.Addr, 2*time.Second)
	defer viaProxy.Close()
	var seqMig, seqKillS, seqKillC atomic.Int64
	publish(&seqMig, func(v string) error { return direct.SPublish(ctx, migShard, v).Err() })
	publish(&seqKillS, func(v string) error { return viaProxy.SPublish(ctx, killShard, v).Err() })
	publish(&seqKillC, func(v string) error { return viaProxy.Publish(ctx, killClassic, v).Err() })
	defer func() { close(stop); pubs.Wait() }()

	subMig.waitFor(t, "shard channel before the move", 1, 5*time.Second)
	subKillS.waitFor(t, "shard channel before the kill", 1, 5*time.Second)
	subKillC.waitFor(t, "classic channel before the kill", 1, 5*time.Second)

	// Migration, to the master that is not killed later.
	sl := int(slot.Of([]byte(migShard)))
	src, _ := c.SlotOwner(sl)
	var dst *testcluster.Node
	for _, m := range c.Masters() {
		if m.ID != src.ID && m.ID != victim.ID {
			dst = m
		}
	}
	moves0 := counter(`slotgate_pubsub_shard_channels_moved_total`)
	if err := c.MoveSlot(sl, src, dst); err != nil {
		t.Fatal(err)
	}
	moved := int(seqMig.Load())
	subMig.waitFor(t, "shard channel after its slot moved", moved+1, 10*time.Second)
	if n := counter(`slotgate_pubsub_shard_channels_moved_total`) - moves0; n == 0 {
		t.Errorf("no sunsubscribe from the old owner was swallowed (slotgate_pubsub_shard_channels_moved_total unchanged)")
	}
	if r, err := c.Client(dst).PubSubShardNumSub(ctx, migShard).Result(); err != nil || r[migShard] != 1 {
		t.Errorf("SHARDNUMSUB %s on the new owner %s: %v %v, want 1", migShard, dst.Addr, r, err)
	}
	t.Logf("shard channel %s: slot %d moved %s -> %s; messages resumed", migShard, sl, src.Addr, dst.Addr)

	// Planned failover of its new owner: the replica takes over, the old master turns replica.
	rep := c.Replicas(dst)[0]
	if err := c.Failover(rep, ""); err != nil {
		t.Fatal(err)
	}
	subMig.waitFor(t, "shard channel after a planned failover of its master", int(seqMig.Load())+1, 10*time.Second)
	t.Logf("planned failover %s -> %s: messages resumed", dst.Addr, rep.Addr)

	// Master killed: its replica takes over.
	if err := c.Kill(victim); err != nil {
		t.Fatal(err)
	}
	promoted, _, err := c.WaitNewMaster(victim, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	subKillS.waitFor(t, "shard channel after its master was killed", int(seqKillS.Load())+1, 15*time.Second)
	subKillC.waitFor(t, "classic channel after its master was killed", int(seqKillC.Load())+1, 15*time.Second)
	subMig.waitFor(t, "the migrated shard channel after the kill", int(seqMig.Load())+1, 5*time.Second)
	t.Logf("master %s killed, %s promoted: shard and classic subscribers resumed", victim.Addr, promoted.Addr)
}

// TestE2EPubsubSlowSubscriber: a subscriber that does not read is disconnected once its unread
// messages pass the hard limit (as Redis's pubsub output limit does); a reading subscriber of
// the same channel gets every message.
func TestE2EPubsubSlowSubscriber(t *testing.T) {
	p := startProxy(t, cluster, func(c *server.Config) { c.SoftLimit, c.HardLimit = 256<<10, 1<<20 })
	ch := "slow:" + runID()
	slow := rawDial(t, p.Addr, "")
	if _, err := slow.Write([]byte(respCmd("SUBSCRIBE", ch))); err != nil {
		t.Fatal(err)
	}
	readFrames(t, slow, 1)
	ctx := context.Background()
	good := p.client(t, nil).Subscribe(ctx, ch)
	defer good.Close()
	if _, err := good.Receive(ctx); err != nil {
		t.Fatal(err)
	}
	slow0 := counter(`slotgate_pubsub_slow_subscribers_disconnected_total`)
	payload := strings.Repeat("x", 32<<10)
	pub := p.client(t, nil)
	const n = 600 // about 19 MB: past kernel buffers and the 1 MB hard limit
	got := make(chan int)
	go func() {
		i := 0
		for ; i < n; i++ {
			m, err := good.ReceiveMessage(ctx)
			if err != nil || m.Payload != payload {
				break
			}
		}
		got <- i
	}()
	for i := 0; i < n; i++ {
		if err := pub.Publish(ctx, ch, payload).Err(); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case i := <-got:
		if i != n {
			t.Fatalf("the reading subscriber got %d of %d messages", i, n)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the reading subscriber did not get every message")
	}
	if d := counter(`slotgate_pubsub_slow_subscribers_disconnected_total`) - slow0; d != 1 {
		t.Fatalf("slow subscribers disconnected: %d, want 1", d)
	}
	// The slow one finds its connection closed after what was buffered.
	_ = slow.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 1<<20)
	total := 0
	for {
		k, err := slow.Read(buf)
		total += k
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("slow subscriber still connected after %d bytes", total)
			}
			break
		}
	}
	t.Logf("slow subscriber read %d bytes (of %d published) before the close", total, n*len(payload))
}

// TestE2EPubsubAckMeansSubscribed: as on one Redis, a PUBLISH sent after the client has its
// subscribe ack is heard: slotgate holds the ack of a channel new to the loop until the node has
// acknowledged slotgate's own subscription (for a keyspace pattern, every master).
func TestE2EPubsubAckMeansSubscribed(t *testing.T) {
	p := startProxy(t, cluster, nil)
	sub := rawDial(t, p.Addr, "")
	pub := rawDial(t, p.Addr, "")
	run := runID()
	for i := 0; i < 50; i++ {
		ch := "ack:" + run + ":" + strconv.Itoa(i)
		verb, msgKind := "SUBSCRIBE", "message"
		switch i % 3 {
		case 1:
			verb, msgKind = "SSUBSCRIBE", "smessage"
		case 2:
			verb, msgKind = "PSUBSCRIBE", "pmessage"
		}
		if _, err := sub.Write([]byte(respCmd(verb, ch))); err != nil {
			t.Fatal(err)
		}
		readFrames(t, sub, 1)
		pubVerb := "PUBLISH"
		if verb == "SSUBSCRIBE" {
			pubVerb = "SPUBLISH"
		}
		if _, err := pub.Write([]byte(respCmd(pubVerb, ch, "x"))); err != nil {
			t.Fatal(err)
		}
		n := readFrames(t, pub, 1)
		if verb != "PSUBSCRIBE" && string(n) != ":1\r\n" { // a pattern may live on another node than the channel
			t.Fatalf("%s %s right after the %s ack: %q, want :1", pubVerb, ch, verb, n)
		}
		got := readFrames(t, sub, 1)
		if !strings.Contains(string(got), msgKind) || !strings.HasSuffix(string(got), "$1\r\nx\r\n") {
			t.Fatalf("%s %s: got %q", verb, ch, got)
		}
	}
}

// push builds a RESP2 pub/sub frame of bulk strings, with an integer last when n >= 0.
func push(parts []string, n int) string {
	k := len(parts)
	if n >= 0 {
		k++
	}
	s := "*" + strconv.Itoa(k) + "\r\n"
	for _, p := range parts {
		s += respBulk(p)
	}
	if n >= 0 {
		s += ":" + strconv.Itoa(n) + "\r\n"
	}
	return s
}

// TestE2EFakeNodeSubscriberStream: the subscriber connection is a stream. A node's unsolicited
// sunsubscribe (sent with a message in the same write) is swallowed and the shard channel
// subscribed again even when the topology does not change; an error to slotgate's SUBSCRIBE still
// lets the client's ack go and the channel is retried until the node takes it.
func TestE2EFakeNodeSubscriberStream(t *testing.T) {
	var ssubs, subs atomic.Int32
	node := fakenode.Start(t, nil)
	node.SetClusterNodes(fakenode.ClusterNodes(fakenode.Shard{Master: node.Addr, Slots: "0-16383"}))
	node.SetHandler(func(c *fakenode.Conn, cmd fakenode.Command) {
		switch {
		case cmd.Is("SSUBSCRIBE", "s1"):
			if ssubs.Add(1) == 1 {
				c.Reply([]byte(push([]string{"ssubscribe", "s1"}, 1) + push([]string{"smessage", "s1", "m1"}, -1) +
					push([]string{"sunsubscribe", "s1"}, 0)))
			} else {
				c.Reply([]byte(push([]string{"ssubscribe", "s1"}, 1) + push([]string{"smessage", "s1", "m2"}, -1)))
			}
		case cmd.Is("SUBSCRIBE", "c1"):
			if subs.Add(1) == 1 {
				c.Reply(fakenode.Error("NOPERM this user has no permissions to access one of the channels used as arguments"))
			} else {
				c.Reply([]byte(push([]string{"subscribe", "c1"}, 1) + push([]string{"message", "c1", "m3"}, -1)))
			}
		default:
			fakenode.Echo(c, cmd)
		}
	})
	rt := router.New(router.Config{Seeds: []string{node.Addr}, Refresh: time.Minute})
	if err := rt.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	p := serveWith(t, rt, nil)

	a, b := rawDial(t, p.Addr, ""), rawDial(t, p.Addr, "")
	if _, err := a.Write([]byte(respCmd("SSUBSCRIBE", "s1"))); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Write([]byte(respCmd("SUBSCRIBE", "c1"))); err != nil {
		t.Fatal(err)
	}
	want := push([]string{"ssubscribe", "s1"}, 1) + push([]string{"smessage", "s1", "m1"}, -1) + push([]string{"smessage", "s1", "m2"}, -1)
	if got := readFrames(t, a, 3); string(got) != want {
		t.Fatalf("shard subscriber got %q, want %q", got, want)
	}
	want = push([]string{"subscribe", "c1"}, 1) + push([]string{"message", "c1", "m3"}, -1)
	if got := readFrames(t, b, 2); string(got) != want {
		t.Fatalf("subscriber got %q, want %q", got, want)
	}
	// Nothing else reaches the clients (no sunsubscribe).
	for _, c := range []net.Conn{a, b} {
		_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		var one [64]byte
		if n, err := c.Read(one[:]); n > 0 || err == nil {
			t.Fatalf("unexpected %q", one[:n])
		}
	}
	if ssubs.Load() != 2 || subs.Load() != 2 {
		t.Errorf("node got %d SSUBSCRIBE s1 and %d SUBSCRIBE c1, want 2 of each", ssubs.Load(), subs.Load())
	}
}

// TestE2EPubsubSubscriptionsBudget: subscriptions count in the client's footprint, so a client
// subscribing to ever more channels is disconnected under -max-memory like one that does not
// read, and its channels are unsubscribed upstream; a small client is served throughout.
func TestE2EPubsubSubscriptionsBudget(t *testing.T) {
	p := startProxy(t, cluster, func(c *server.Config) { c.MaxMemory = 2 << 20 })
	small := p.client(t, nil)
	ctx := context.Background()
	if err := small.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	up0 := gauge(`slotgate_pubsub_upstream_subscriptions`)
	ev0 := counter(`slotgate_clients_evicted_total`)
	hog := rawDial(t, p.Addr, "")
	run := runID()
	const batch = 1000
	closed := false
	for i := 0; i < 40 && !closed; i++ { // up to 40,000 channels: about 11 MB by the estimate
		args := []string{"SUBSCRIBE"}
		for j := 0; j < batch; j++ {
			args = append(args, "budget:"+run+":"+strconv.Itoa(i*batch+j))
		}
		if _, err := hog.Write([]byte(respCmd(args...))); err != nil {
			closed = true
			break
		}
		_ = hog.SetReadDeadline(time.Now().Add(10 * time.Second))
		var f codec.ReplyFramer
		var buf []byte
		one := make([]byte, 64<<10)
		for got := 0; got < batch; {
			n, err := hog.Read(one)
			if err != nil {
				closed = true
				break
			}
			buf = append(buf, one[:n]...)
			for {
				k, err := f.Frame(buf)
				if err != nil {
					t.Fatal(err)
				}
				if k == 0 {
					break
				}
				buf = buf[k:]
				got++
			}
		}
		time.Sleep(50 * time.Millisecond) // the ticker sums the footprints
	}
	if !closed {
		t.Fatal("a client subscribed to 40,000 channels under -max-memory 2mb was not disconnected")
	}
	if d := counter(`slotgate_clients_evicted_total`) - ev0; d != 1 {
		t.Errorf("clients evicted: %d, want 1", d)
	}
	deadline := time.Now().Add(5 * time.Second)
	for gauge(`slotgate_pubsub_upstream_subscriptions`) != up0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := gauge(`slotgate_pubsub_upstream_subscriptions`); n != up0 {
		t.Errorf("upstream subscriptions after the eviction: %v, want %v", n, up0)
	}
	if err := small.Ping(ctx).Err(); err != nil {
		t.Errorf("the small client: %v", err)
	}
}

// TestE2EFakeNodeSubscriberStall: a node that stops answering (no FIN: hung, or a path that drops
// packets) is noticed by the PING slotgate sends on a silent subscriber connection; the connection
// is rebuilt and the channel subscribed again, and messages flow again.
func TestE2EFakeNodeSubscriberStall(t *testing.T) {
	node := fakenode.Start(t, nil)
	node.SetClusterNodes(fakenode.ClusterNodes(fakenode.Shard{Master: node.Addr, Slots: "0-16383"}))
	var subs atomic.Int32
	node.SetHandler(func(c *fakenode.Conn, cmd fakenode.Command) {
		switch {
		case cmd.Is("SUBSCRIBE", "c1") && subs.Add(1) == 1:
			c.Reply([]byte(push([]string{"subscribe", "c1"}, 1)))
			c.Stall() // hangs: PING unanswered
		case cmd.Is("SUBSCRIBE", "c1"):
			c.Reply([]byte(push([]string{"subscribe", "c1"}, 1) + push([]string{"message", "c1", "again"}, -1)))
		default:
			fakenode.Echo(c, cmd)
		}
	})
	rt := router.New(router.Config{Seeds: []string{node.Addr}, BackendStall: 300 * time.Millisecond})
	if err := rt.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	p := serveWith(t, rt, nil)
	stalls0 := counter(`slotgate_backend_stalls_total`)
	a := rawDial(t, p.Addr, "")
	if _, err := a.Write([]byte(respCmd("SUBSCRIBE", "c1"))); err != nil {
		t.Fatal(err)
	}
	want := push([]string{"subscribe", "c1"}, 1) + push([]string{"message", "c1", "again"}, -1)
	if got := readFrames(t, a, 2); string(got) != want {
		t.Fatalf("subscriber got %q, want %q", got, want)
	}
	if counter(`slotgate_backend_stalls_total`) == stalls0 {
		t.Error("slotgate_backend_stalls_total did not count the hung subscriber connection")
	}
	if n := node.Count("PING"); n < 1 {
		t.Errorf("the node got %d PINGs", n)
	}
}
