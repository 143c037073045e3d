package server_test

import (
	"bufio"
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// RESP3 end to end (DESIGN "Protocols"): HELLO 3 switches a client to RESP3 pipelines whose
// replies pass through as they are; replies slotgate builds itself take RESP3 shapes. Each test
// compares with what a real node answers where a node can answer the same.

// shapeOf reduces a raw reply to its types and lengths ("%2[$$,$_]"): what must agree with a
// node's reply when the values (ids, versions, counts) may not.
func shapeOf(t *testing.T, raw string) string {
	t.Helper()
	br := bufio.NewReader(strings.NewReader(raw))
	var b strings.Builder
	if err := shapeInto(br, &b); err != nil {
		t.Fatalf("shape of %q: %v", raw, err)
	}
	return b.String()
}

func shapeInto(br *bufio.Reader, b *strings.Builder) error {
	line, err := br.ReadString('\n')
	if err != nil {
		return err
	}
	head := line[1 : len(line)-2]
	b.WriteByte(line[0])
	switch line[0] {
	case '$', '=', '!':
		n, _ := strconv.Atoi(head)
		if n < 0 {
			b.WriteString(head)
			return nil
		}
		_, err := br.Discard(n + 2)
		return err
	case '*', '~', '>', '%':
		n, _ := strconv.Atoi(head)
		b.WriteString(head)
		if line[0] == '%' {
			n *= 2
		}
		if n <= 0 {
			return nil
		}
		b.WriteByte('[')
		for i := 0; i < n; i++ {
			if err := shapeInto(br, b); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	}
	return nil
}

// nodeTag returns a hash tag whose slot the first master serves, so that keyed commands can be
// sent to that node and to slotgate alike.
func nodeTag(t *testing.T, node *rawConn) string {
	t.Helper()
	for i := 0; i < 1000; i++ {
		tag := "{r3t" + strconv.Itoa(i) + "}"
		if r := node.do("GET", tag+"probe"); !strings.HasPrefix(r, "-MOVED") {
			return tag
		}
	}
	t.Fatal("no hash tag of the first master found")
	return ""
}

// TestE2EResp3ShapesLikeANode sends the same commands to a node and to slotgate, both after
// HELLO 3, and requires the same reply shapes: local replies (HELLO, CLIENT, COMMAND, CLUSTER,
// INFO), forwarded ones (maps, sets, doubles, nulls) and merged ones (PUBSUB NUMSUB, DBSIZE).
func TestE2EResp3ShapesLikeANode(t *testing.T) {
	p := startProxy(t, cluster, nil)
	node := dialNode(t)
	px := dialRaw(t, p.Addr)
	tag := nodeTag(t, node)
	pfx := tag + uniqPrefix("r3s")
	cases := [][]string{
		{"HELLO", "3"},
		{"PING"},
		{"ECHO", "hi"},
		{"CLIENT", "GETNAME"},
		{"CLIENT", "ID"},
		{"SET", pfx + "s", "v"},
		{"GET", pfx + "s"},
		{"GET", pfx + "missing"},
		{"MGET", pfx + "s", pfx + "missing", pfx + "s"},
		{"HSET", pfx + "h", "f", "v", "g", "w"},
		{"HGETALL", pfx + "h"},
		{"SADD", pfx + "set", "a", "b"},
		{"SMEMBERS", pfx + "set"},
		{"ZADD", pfx + "z", "1.5", "m"},
		{"ZSCORE", pfx + "z", "m"},
		{"ZRANGE", pfx + "z", "0", "-1", "WITHSCORES"},
		{"HRANDFIELD", pfx + "h", "1", "WITHVALUES"},
		{"EXISTS", pfx + "s", pfx + "missing"},
		{"COMMAND", "COUNT"},
		{"COMMAND", "INFO", "get", "nosuchcommand"},
		{"COMMAND", "DOCS", "get"},
		{"CLUSTER", "INFO"},
		{"CLUSTER", "MYID"},
		{"CLUSTER", "NODES"},
		{"CLUSTER", "KEYSLOT", "a"},
		{"COMMAND", "GETKEYS", "GET", "a"},
		{"COMMAND", "HELP"},
		{"SCRIPT", "EXISTS", "abc"},
		{"PUBSUB", "CHANNELS", "r3nochan*"},
		{"RANDOMKEY"},
		{"INFO", "server"},
		{"CONFIG", "GET", "maxmemory"},
		{"PUBSUB", "NUMSUB", "r3chan"},
		{"DBSIZE"},
		{"SUBSCRIBE", "r3chan"},
		{"PING"}, // RESP3 has no pub/sub mode: a plain PONG
		{"GET", pfx + "missing"},
		{"UNSUBSCRIBE", "r3chan"},
		{"UNSUBSCRIBE"},
		{"HELLO", "2"},
		{"GET", pfx + "missing"},
		{"HGETALL", pfx + "h"},
		{"HELLO", "3"},
		{"RESET"},
		{"GET", pfx + "missing"},
		{"CLIENT", "GETNAME"},
	}
	for _, c := range cases {
		want, got := node.do(c...), px.do(c...)
		if c[0] == "RESET" {
			node.do("AUTH", cluster.Password) // RESET logs a node's client out; slotgate has no -password here
		}
		if ws, gs := shapeOf(t, want), shapeOf(t, got); ws != gs {
			t.Errorf("%q: slotgate's shape %s, the node's %s\n slotgate: %.300q\n node:     %.300q", c, gs, ws, got, want)
		}
	}
	// The exact bytes where no value differs between a node and slotgate.
	for _, c := range [][]string{{"HELLO", "3"}, {"GET", pfx + "missing"}, {"CLIENT", "GETNAME"}, {"ZSCORE", pfx + "z", "m"},
		{"HGETALL", pfx + "h"}, {"MGET", pfx + "s", pfx + "missing"}, {"COMMAND", "INFO", "get", "nosuchcommand"}, {"COMMAND", "DOCS", "get"}} {
		want, got := node.do(c...), px.do(c...)
		if c[0] == "HELLO" { // the id differs
			want, got = strings.Split(want, ":")[0], strings.Split(got, ":")[0]
		}
		if want != got {
			t.Errorf("%q:\n slotgate %.300q\n node     %.300q", c, got, want)
		}
	}
	// The one-node cluster view has fewer entries than the node's 3+3 cluster, each of the same
	// RESP3 shape (CLUSTER SLOTS ends each node with a map of metadata, SHARDS is maps).
	const slotsNode = "*4[$:$%0]" // host, port, id, metadata map
	if ws, gs := shapeOf(t, node.do("CLUSTER", "SLOTS")), shapeOf(t, px.do("CLUSTER", "SLOTS")); gs != "*1[*3[::"+slotsNode+"]]" ||
		!strings.Contains(ws, "::"+slotsNode) {
		t.Errorf("CLUSTER SLOTS: slotgate's shape %s, the node's %s", gs, ws)
	}
	const shardNode = "%7[$$$:$$$$$$$:$$]"
	if ws, gs := shapeOf(t, node.do("CLUSTER", "SHARDS")), shapeOf(t, px.do("CLUSTER", "SHARDS")); gs != "*1[%2[$*2[::]$*1["+shardNode+"]]]" ||
		!strings.Contains(ws, shardNode) {
		t.Errorf("CLUSTER SHARDS: slotgate's shape %s, the node's %s", gs, ws)
	}
	// HELLO 3 says mode "cluster", as a node of a cluster does (slotgate shows a one-node cluster).
	if r := px.do("HELLO", "3"); !strings.Contains(r, bulkOf("mode")+bulkOf("cluster")) || !strings.HasPrefix(r, "%7\r\n") {
		t.Errorf("HELLO 3 = %q", r)
	}
}

// TestE2EResp3HelloErrors: bad versions and options answer what a node answers, and change
// nothing.
func TestE2EResp3HelloErrors(t *testing.T) {
	p := startProxy(t, cluster, nil)
	node := dialNode(t)
	px := dialRaw(t, p.Addr)
	for _, c := range [][]string{{"HELLO", "4"}, {"HELLO", "1"}, {"HELLO", "abc"}, {"HELLO", "03"}, {"HELLO", "-3"},
		{"HELLO", "99999999999999999999"}, {"HELLO", "3", "SETNAME", "x", "y"}, {"HELLO", "3", "foo"}, {"HELLO", "3", "AUTH"},
		{"GET", "r3missing{x}"}} {
		want, got := node.do(c...), px.do(c...)
		if c[0] == "GET" {
			want = "$-1\r\n" // the node may not own the slot: still RESP2 on both sides
		}
		if want != got {
			t.Errorf("%q: slotgate %q, node %q", c, got, want)
		}
	}
}

// TestE2EResp3PipelineBarrier: HELLO in the middle of a pipeline waits for the replies of the
// requests before it, so that those on the other protocol's pipeline are not overtaken (every
// INCR lands before the GET after HELLO), and each reply has its request's protocol.
func TestE2EResp3PipelineBarrier(t *testing.T) {
	p := startProxy(t, cluster, nil)
	px := dialRaw(t, p.Addr)
	pfx := uniqPrefix("r3b")
	const per = 40 // INCRs of each of 7 keys (7 slots) per round
	var req strings.Builder
	var want []string
	for round, hello := range []string{"3", "2", "3", "2"} {
		for j := 0; j < per; j++ {
			for i := 0; i < 7; i++ {
				req.WriteString(respCmd("INCR", pfx+"{c"+strconv.Itoa(i)+"}"))
				want = append(want, ":"+strconv.Itoa(round*per+j+1)+"\r\n")
			}
		}
		req.WriteString(respCmd("HELLO", hello))
		want = append(want, "HELLO"+hello)
		v := bulkOf(strconv.Itoa((round + 1) * per))
		for i := 0; i < 7; i++ {
			req.WriteString(respCmd("GET", pfx+"{c"+strconv.Itoa(i)+"}"))
			want = append(want, v)
		}
		req.WriteString(respCmd("MGET", pfx+"{c0}", pfx+"missing", pfx+"{c1}"))
		null := "$-1\r\n"
		if hello == "3" {
			null = "_\r\n"
		}
		want = append(want, "*3\r\n"+v+null+v)
	}
	px.write(req.String())
	for i, w := range want {
		got := px.read()
		switch {
		case strings.HasPrefix(w, "HELLO"):
			head := "%7\r\n"
			if w == "HELLO2" {
				head = "*14\r\n"
			}
			if !strings.HasPrefix(got, head) {
				t.Fatalf("reply %d: %q; want a HELLO %s reply", i, got, w[5:])
			}
		case got != w:
			t.Fatalf("reply %d: %q; want %q", i, got, w)
		}
	}
}

// TestE2EResp3Transactions: HELLO inside MULTI is queued and switches at EXEC as on a node; a
// transaction and a blocking command of a RESP3 client answer in RESP3 on a dedicated connection
// taken from the same pool as RESP2 clients' (each switched on take, reset to RESP2 on release).
func TestE2EResp3Transactions(t *testing.T) {
	p := startProxy(t, cluster, nil)
	node := dialNode(t)
	tag := nodeTag(t, node)
	pfx := tag + uniqPrefix("r3tx")
	px := dialRaw(t, p.Addr)
	for _, c := range [][]string{{"MULTI"}, {"SET", pfx + "k", "v"}, {"HELLO", "3"}, {"GET", pfx + "missing"}, {"EXEC"},
		{"GET", pfx + "missing"}, {"MULTI"}, {"HELLO", "2"}, {"GET", pfx + "missing"}, {"EXEC"}, {"GET", pfx + "missing"}} {
		want, got := node.do(c...), px.do(c...)
		if ws, gs := shapeOf(t, want), shapeOf(t, got); ws != gs {
			t.Errorf("%q: slotgate's shape %s, the node's %s\n slotgate: %.300q\n node:     %.300q", c, gs, ws, got, want)
		}
	}
	if r := px.do("MULTI"); r != "+OK\r\n" {
		t.Fatalf("MULTI = %q", r)
	}
	if r := px.do("HELLO", "3", "SETNAME", "x"); !strings.HasPrefix(r, "-ERR slotgate: HELLO with options") {
		t.Fatalf("HELLO 3 SETNAME in MULTI = %q", r)
	}
	if r := px.do("EXEC"); !strings.HasPrefix(r, "-EXECABORT") {
		t.Fatalf("EXEC = %q", r)
	}
	// HELLO while WATCH holds a dedicated connection: the connection follows the client, and the
	// WATCH stays (a write by another client aborts EXEC).
	w := dialRaw(t, p.Addr)
	for _, step := range [][2]string{{respCmd("WATCH", pfx+"wk"), "+OK\r\n"}, {respCmd("HELLO", "3"), "%7"},
		{respCmd("MULTI"), "+OK\r\n"}, {respCmd("GET", pfx+"missing"), "+QUEUED\r\n"}, {respCmd("EXEC"), "*1\r\n_\r\n"},
		{respCmd("WATCH", pfx+"wk"), "+OK\r\n"}, {respCmd("HELLO", "2"), "*14"}, {respCmd("SET", pfx+"wk", "x"), "+OK\r\n"},
		{respCmd("MULTI"), "+OK\r\n"}, {respCmd("GET", pfx+"missing"), "+QUEUED\r\n"}, {respCmd("EXEC"), "*-1\r\n"}} {
		w.write(step[0])
		if r := w.read(); !strings.HasPrefix(r, step[1]) || len(step[1]) > 4 && r != step[1] {
			t.Fatalf("%q: %q; want %q", step[0], r, step[1])
		}
	}
	// Dedicated connections alternate between RESP2 and RESP3 clients of one loop.
	r2, r3 := dialRaw(t, p.Addr), dialRaw(t, p.Addr)
	if r := r3.do("HELLO", "3"); !strings.HasPrefix(r, "%7") {
		t.Fatalf("HELLO 3 = %q", r)
	}
	for i := 0; i < 3; i++ {
		for _, c := range []struct {
			rc   *rawConn
			null string
		}{{r2, "$-1\r\n"}, {r3, "_\r\n"}} {
			for _, step := range [][2]string{{respCmd("WATCH", pfx+"w"), "+OK\r\n"}, {respCmd("MULTI"), "+OK\r\n"},
				{respCmd("GET", pfx+"missing"), "+QUEUED\r\n"}, {respCmd("EXEC"), "*1\r\n" + c.null}} {
				c.rc.write(step[0])
				if r := c.rc.read(); r != step[1] {
					t.Fatalf("round %d %q: %q; want %q", i, step[0], r, step[1])
				}
			}
			nullArray := "*-1\r\n"
			if c.null == "_\r\n" {
				nullArray = c.null
			}
			if r := c.rc.do("BLPOP", pfx+"list", "0.05"); r != nullArray {
				t.Fatalf("round %d BLPOP timing out = %q; want %q", i, r, nullArray)
			}
		}
	}
}

// TestE2EResp3PubSub: a RESP3 client gets acks and messages as push frames, may run any command
// while subscribed, and gets messages while a command of its own is blocked (a push takes no
// reply position), never inside a reply.
func TestE2EResp3PubSub(t *testing.T) {
	p := startProxy(t, cluster, nil)
	ch := uniqPrefix("r3ch")
	sub := dialRaw(t, p.Addr)
	pub := dialRaw(t, p.Addr)
	sub.do("HELLO", "3")
	if r := sub.do("SUBSCRIBE", ch); r != ">3\r\n"+bulkOf("subscribe")+bulkOf(ch)+":1\r\n" {
		t.Fatalf("SUBSCRIBE = %q", r)
	}
	if r := sub.do("GET", ch+"missing"); r != "_\r\n" {
		t.Fatalf("GET while subscribed = %q", r)
	}
	if r := pub.do("PUBLISH", ch, "one"); r != ":1\r\n" {
		t.Fatalf("PUBLISH = %q", r)
	}
	if r := sub.read(); r != ">3\r\n"+bulkOf("message")+bulkOf(ch)+bulkOf("one") {
		t.Fatalf("message = %q", r)
	}
	// Blocked on BLPOP: a message still arrives, then BLPOP's reply.
	list := ch + "list"
	sub.write(respCmd("BLPOP", list, "5"))
	time.Sleep(100 * time.Millisecond)
	pub.do("PUBLISH", ch, "two")
	if r := sub.read(); r != ">3\r\n"+bulkOf("message")+bulkOf(ch)+bulkOf("two") {
		t.Fatalf("message while blocked = %q", r)
	}
	pub.do("RPUSH", list, "x")
	if r := sub.read(); r != "*2\r\n"+bulkOf(list)+bulkOf("x") {
		t.Fatalf("BLPOP = %q", r)
	}
	// Pipelined commands and messages: every reply whole and in order, messages between them.
	var req strings.Builder
	for i := 0; i < 200; i++ {
		req.WriteString(respCmd("ECHO", strconv.Itoa(i)))
		req.WriteString(respCmd("GET", ch+"missing"))
	}
	sub.write(req.String())
	for i := 0; i < 20; i++ {
		pub.write(respCmd("PUBLISH", ch, "m"+strconv.Itoa(i)))
	}
	next, msgs := 0, 0
	for next < 400 || msgs < 20 {
		r := sub.read()
		if strings.HasPrefix(r, ">3\r\n") {
			if r != ">3\r\n"+bulkOf("message")+bulkOf(ch)+bulkOf("m"+strconv.Itoa(msgs)) {
				t.Fatalf("message %d = %q", msgs, r)
			}
			msgs++
			continue
		}
		want := bulkOf(strconv.Itoa(next / 2))
		if next%2 == 1 {
			want = "_\r\n"
		}
		if r != want {
			t.Fatalf("reply %d = %q; want %q", next, r, want)
		}
		next++
	}
	for i := 0; i < 20; i++ {
		pub.read()
	}
	if r := sub.do("UNSUBSCRIBE", ch); r != ">3\r\n"+bulkOf("unsubscribe")+bulkOf(ch)+":0\r\n" {
		t.Fatalf("UNSUBSCRIBE = %q", r)
	}
	// Sharded and pattern subscriptions: the same push frames.
	if r := sub.do("SSUBSCRIBE", ch); r != ">3\r\n"+bulkOf("ssubscribe")+bulkOf(ch)+":1\r\n" {
		t.Fatalf("SSUBSCRIBE = %q", r)
	}
	if r := sub.do("PSUBSCRIBE", ch+"*"); r != ">3\r\n"+bulkOf("psubscribe")+bulkOf(ch+"*")+":1\r\n" {
		t.Fatalf("PSUBSCRIBE = %q", r)
	}
	pub.do("SPUBLISH", ch, "s1")
	if r := sub.read(); r != ">3\r\n"+bulkOf("smessage")+bulkOf(ch)+bulkOf("s1") {
		t.Fatalf("smessage = %q", r)
	}
	pub.do("PUBLISH", ch+"x", "p1")
	if r := sub.read(); r != ">4\r\n"+bulkOf("pmessage")+bulkOf(ch+"*")+bulkOf(ch+"x")+bulkOf("p1") {
		t.Fatalf("pmessage = %q", r)
	}
	// RESET leaves every subscription and returns to RESP2.
	if r := sub.do("RESET"); r != "+RESET\r\n" {
		t.Fatalf("RESET = %q", r)
	}
	if r := sub.do("GET", ch+"missing"); r != "$-1\r\n" {
		t.Fatalf("GET after RESET = %q", r)
	}
}

// TestE2EResp3GoRedis: go-redis v9 with its default options (RESP3) speaks RESP3 through slotgate,
// as a plain client and as a ClusterClient, including pub/sub.
func TestE2EResp3GoRedis(t *testing.T) {
	p := startProxy(t, cluster, nil)
	ctx := context.Background()
	pfx := uniqPrefix("r3gr")
	cl := p.client(t, nil)
	if err := cl.HSet(ctx, pfx+"h", "f", "v").Err(); err != nil {
		t.Fatal(err)
	}
	// A RESP3 map decodes as a Go map; RESP2 would give a slice.
	if v, err := cl.Do(ctx, "HGETALL", pfx+"h").Result(); err != nil {
		t.Fatal(err)
	} else if m, ok := v.(map[any]any); !ok || m["f"] != "v" {
		t.Fatalf("HGETALL through go-redis = %#v; want a RESP3 map", v)
	}
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{p.Addr}, Protocol: 3})
	defer cc.Close()
	if err := cc.MSet(ctx, pfx+"a", "1", pfx+"b", "2").Err(); err != nil {
		t.Fatalf("ClusterClient MSET: %v", err)
	}
	if v, err := cc.MGet(ctx, pfx+"a", pfx+"missing", pfx+"b").Result(); err != nil || v[0] != "1" || v[1] != nil || v[2] != "2" {
		t.Fatalf("ClusterClient MGET = %#v, %v", v, err)
	}
	if v, err := cc.Do(ctx, "ZADD", pfx+"z", "2.5", "m").Result(); err != nil || v != int64(1) {
		t.Fatalf("ZADD = %#v, %v", v, err)
	}
	if v, err := cc.Do(ctx, "ZSCORE", pfx+"z", "m").Result(); err != nil || v != 2.5 {
		t.Fatalf("ZSCORE = %#v, %v (a RESP3 double decodes as float64)", v, err)
	}
	pipe := cc.Pipeline()
	for i := 0; i < 50; i++ {
		pipe.Incr(ctx, fmt.Sprintf("%s{%d}", pfx, i%5))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		t.Fatalf("pipeline: %v", err)
	}
	ps := cc.Subscribe(ctx, pfx+"ch")
	defer ps.Close()
	if _, err := ps.Receive(ctx); err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	if err := cc.Publish(ctx, pfx+"ch", "hello").Err(); err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if m, err := ps.ReceiveMessage(rctx); err != nil || m.Payload != "hello" {
		t.Fatalf("message = %v, %v", m, err)
	}
	// A transaction through the cluster client.
	if _, err := cc.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.Set(ctx, pfx+"{t}x", "1", 0)
		p.Get(ctx, pfx+"{t}missing")
		return nil
	}); err != nil && err != redis.Nil {
		t.Fatalf("TxPipelined: %v", err)
	}
}

// TestE2EResp3BackendPushDropped: a push frame a node sends on a RESP3 pipeline unasked (here an
// invalidation another connection redirected to it with CLIENT TRACKING ... REDIRECT, which a
// real server does) is not the reply of any request: it takes no FIFO slot, so no client gets
// another's reply.
func TestE2EResp3BackendPushDropped(t *testing.T) {
	p := startProxy(t, cluster, nil)
	node := dialNode(t)
	tag := nodeTag(t, node)
	pfx := tag + uniqPrefix("r3push")
	px := dialRaw(t, p.Addr)
	px.do("HELLO", "3")
	if r := px.do("SET", pfx+"k", "v0"); r != "+OK\r\n" {
		t.Fatalf("SET = %q", r)
	}
	// Every RESP3 connection of the node that just ran a SET: slotgate's pipeline is one of them.
	list := node.do("CLIENT", "LIST", "TYPE", "normal")
	var targets []string
	for _, line := range strings.Split(list, "\n") {
		if strings.Contains(line, " resp=3") && strings.Contains(line, " cmd=set ") {
			for _, f := range strings.Fields(line) {
				if strings.HasPrefix(f, "id=") {
					targets = append(targets, f[3:])
				}
			}
		}
	}
	if len(targets) == 0 {
		t.Fatalf("no RESP3 connection on the node after a SET through slotgate:\n%s", list)
	}
	for _, id := range targets {
		tr := dialNode(t)
		if r := tr.do("CLIENT", "TRACKING", "on", "REDIRECT", id, "BCAST", "PREFIX", tag); r != "+OK\r\n" {
			t.Fatalf("CLIENT TRACKING REDIRECT %s = %q", id, r)
		}
	}
	for i := 1; i <= 5; i++ {
		v := "v" + strconv.Itoa(i)
		if r := node.do("SET", pfx+"k", v); r != "+OK\r\n" { // the node pushes an invalidation to slotgate
			t.Fatalf("SET on the node = %q", r)
		}
		time.Sleep(20 * time.Millisecond)
		px.write(respCmd("GET", pfx+"k") + respCmd("GET", pfx+"missing") + respCmd("ECHO", v))
		for _, want := range []string{bulkOf(v), "_\r\n", bulkOf(v)} {
			if r := px.read(); r != want {
				t.Fatalf("round %d: %q; want %q (a push taken for a reply)", i, r, want)
			}
		}
	}
	// And the pipeline was not closed for a reply with no request waiting (it kept its id).
	list = node.do("CLIENT", "LIST", "TYPE", "normal")
	for _, id := range targets {
		if !strings.Contains(list, "id="+id+" ") {
			t.Errorf("connection %s (RESP3, SET) is gone: a push closed it", id)
		}
	}
}
