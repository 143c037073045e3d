package server_test

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/slotgate/slotgate/server"
)

// clientLine is one parsed CLIENT LIST line: its field names in order, and their values.
type clientLine struct {
	keys []string
	f    map[string]string
}

// parseClientText parses CLIENT LIST / CLIENT INFO text (one line per client, each ending "\n").
func parseClientText(t *testing.T, text string) []clientLine {
	t.Helper()
	if text != "" && !strings.HasSuffix(text, "\n") {
		t.Fatalf("client text does not end with a newline: %q", text)
	}
	var out []clientLine
	for _, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		if line == "" {
			continue
		}
		l := clientLine{f: map[string]string{}}
		for _, kv := range strings.Split(line, " ") {
			k, v, ok := strings.Cut(kv, "=")
			if !ok {
				t.Fatalf("field %q without '=' in %q", kv, line)
			}
			l.keys = append(l.keys, k)
			l.f[k] = v
		}
		out = append(out, l)
	}
	return out
}

// bulkText returns the text of a RESP2 bulk string reply.
func bulkText(t *testing.T, r string) string {
	t.Helper()
	head, body, ok := strings.Cut(r, "\r\n")
	if !ok || !strings.HasPrefix(head, "$") {
		t.Fatalf("not a bulk string: %q", clip600(r))
	}
	n, err := strconv.Atoi(head[1:])
	if err != nil || len(body) != n+2 {
		t.Fatalf("bad bulk string: %q", clip600(r))
	}
	return body[:n]
}

// listClients runs CLIENT LIST (with args) on rc and returns its lines by client id.
func listClients(t *testing.T, rc *rawConn, args ...string) map[string]clientLine {
	t.Helper()
	lines := parseClientText(t, bulkText(t, rc.do(append([]string{"CLIENT", "LIST"}, args...)...)))
	byID := map[string]clientLine{}
	for _, l := range lines {
		byID[l.f["id"]] = l
	}
	return byID
}

func clientID(t *testing.T, rc *rawConn) string {
	t.Helper()
	r := rc.do("CLIENT", "ID")
	if !strings.HasPrefix(r, ":") {
		t.Fatalf("CLIENT ID = %q", r)
	}
	return strings.TrimSpace(r[1:])
}

// nodeFieldOrder is a real Redis 7.0's CLIENT INFO field names, in order.
func nodeFieldOrder(t *testing.T) []string {
	t.Helper()
	lines := parseClientText(t, bulkText(t, dialNode(t).do("CLIENT", "INFO")))
	if len(lines) != 1 {
		t.Fatalf("node CLIENT INFO: %d lines", len(lines))
	}
	return lines[0].keys
}

// TestE2EClientList: with two event loops, CLIENT LIST run on either loop shows every client of
// slotgate (never the nodes'), each with its own address, name, protocol, subscriptions, MULTI
// queue and last command, in a real Redis 7.0's field order; TYPE and ID select as Redis does.
func TestE2EClientList(t *testing.T) {
	p := startProxy(t, cluster, func(c *server.Config) { c.Loops = 2 })
	order := nodeFieldOrder(t)
	k := uniqPrefix("clist") + "k"

	// Five clients, dealt round-robin over the two loops.
	plain, named, subs, multi, asker := dialRaw(t, p.Addr), dialRaw(t, p.Addr), dialRaw(t, p.Addr), dialRaw(t, p.Addr), dialRaw(t, p.Addr)
	ids := map[string]*rawConn{}
	for _, rc := range []*rawConn{plain, named, subs, multi, asker} {
		ids[clientID(t, rc)] = rc
	}
	if per := server.LoopSessions(p.Srv); len(per) != 2 || per[0] == 0 || per[1] == 0 {
		t.Fatalf("clients per loop %v: want clients on both loops", per)
	}
	if r := plain.do("GET", k); r != "$-1\r\n" {
		t.Fatalf("GET = %q", r)
	}
	if r := named.do("CLIENT", "SETNAME", "list-me"); r != "+OK\r\n" {
		t.Fatalf("SETNAME = %q", r)
	}
	subs.write(respCmd("SUBSCRIBE", "ch1", "ch2") + respCmd("PSUBSCRIBE", "p*") + respCmd("SSUBSCRIBE", "{"+k+"}sh"))
	for i := 0; i < 4; i++ {
		subs.read()
	}
	multi.write(respCmd("MULTI") + respCmd("SET", k, "1") + respCmd("PING") + respCmd("INCR", k))
	for _, want := range []string{"+OK\r\n", "+QUEUED\r\n", "+QUEUED\r\n", "+QUEUED\r\n"} {
		if r := multi.read(); r != want {
			t.Fatalf("MULTI queue: %q, want %q", r, want)
		}
	}

	for _, from := range []*rawConn{asker, plain} { // from both loops
		all := listClients(t, from)
		if len(all) != len(ids) {
			t.Fatalf("CLIENT LIST has %d clients, want %d", len(all), len(ids))
		}
		for id, rc := range ids {
			l, ok := all[id]
			if !ok {
				t.Fatalf("client %s missing from CLIENT LIST", id)
			}
			if strings.Join(l.keys, " ") != strings.Join(order, " ") {
				t.Fatalf("fields\n %v\nwant Redis's\n %v", l.keys, order)
			}
			want := map[string]string{
				"addr": rc.c.LocalAddr().String(), "laddr": p.Addr, "db": "0", "resp": "2", "user": "default",
				"redir": "-1",
				"name":  "", "sub": "0", "psub": "0", "ssub": "0", "multi": "-1", "flags": "N", "cmd": "client|id",
			}
			switch rc {
			case plain:
				want["cmd"] = "get"
				if from == plain {
					want["cmd"] = "client|list"
				}
			case asker:
				want["cmd"] = "client|list"
			case named:
				want["name"], want["cmd"] = "list-me", "client|setname"
			case subs:
				want["sub"], want["psub"], want["ssub"], want["flags"], want["cmd"] = "2", "1", "1", "P", "ssubscribe"
			case multi:
				want["multi"], want["flags"], want["cmd"] = "3", "x", "incr"
			}
			for f, v := range want {
				if l.f[f] != v {
					t.Errorf("client %s: %s=%q, want %q", id, f, l.f[f], v)
				}
			}
			for _, f := range []string{"age", "idle", "fd", "qbuf", "omem", "tot-mem"} {
				if n, err := strconv.Atoi(l.f[f]); err != nil || n < 0 || (f == "age" || f == "idle") && n > 60 {
					t.Errorf("client %s: %s=%q", id, f, l.f[f])
				}
			}
		}
	}

	var subsID, multiID string
	for id, rc := range ids {
		if rc == subs {
			subsID = id
		}
		if rc == multi {
			multiID = id
		}
	}
	if got := listClients(t, asker, "TYPE", "pubsub"); len(got) != 1 || got[subsID].f == nil {
		t.Errorf("CLIENT LIST TYPE pubsub: %v, want client %s alone", got, subsID)
	}
	if got := listClients(t, asker, "type", "NORMAL"); len(got) != len(ids)-1 || got[subsID].f != nil {
		t.Errorf("CLIENT LIST TYPE normal: %d clients, want all %d but the subscriber", len(got), len(ids)-1)
	}
	for _, typ := range []string{"master", "replica", "slave"} {
		if r := asker.do("CLIENT", "LIST", "TYPE", typ); r != "$0\r\n\r\n" {
			t.Errorf("CLIENT LIST TYPE %s = %q", typ, r)
		}
	}
	// ID: in the order asked, duplicates and unknown ids as Redis treats them.
	text := bulkText(t, asker.do("CLIENT", "LIST", "ID", multiID, "999999", subsID, multiID))
	lines := parseClientText(t, text)
	if len(lines) != 3 || lines[0].f["id"] != multiID || lines[1].f["id"] != subsID || lines[2].f["id"] != multiID {
		t.Errorf("CLIENT LIST ID %s 999999 %s %s = %q", multiID, subsID, multiID, text)
	}
	// Every loop's answer, pipelined with other commands: replies stay in order.
	asker.write(respCmd("SET", k+"p", "v") + respCmd("CLIENT", "LIST") + respCmd("GET", k+"p") + respCmd("CLIENT", "LIST", "TYPE", "pubsub") + respCmd("PING"))
	if r := asker.read(); r != "+OK\r\n" {
		t.Fatalf("SET = %q", r)
	}
	if n := len(parseClientText(t, bulkText(t, asker.read()))); n != len(ids) {
		t.Fatalf("pipelined CLIENT LIST: %d clients", n)
	}
	if r := asker.read(); r != bulkOf("v") {
		t.Fatalf("GET = %q", r)
	}
	if n := len(parseClientText(t, bulkText(t, asker.read()))); n != 1 {
		t.Fatalf("pipelined CLIENT LIST TYPE pubsub: %d clients", n)
	}
	if r := asker.read(); r != "+PONG\r\n" {
		t.Fatalf("PING = %q", r)
	}
	// Many pipelined: each waits for the one before (one query per client at a time).
	var many strings.Builder
	for i := 0; i < 100; i++ {
		many.WriteString(respCmd("CLIENT", "LIST", "TYPE", "pubsub") + respCmd("ECHO", strconv.Itoa(i)))
	}
	asker.write(many.String())
	for i := 0; i < 100; i++ {
		if l := parseClientText(t, bulkText(t, asker.read())); len(l) != 1 || l[0].f["id"] != subsID {
			t.Fatalf("pipelined CLIENT LIST TYPE pubsub #%d: %v", i, l)
		}
		if r := asker.read(); r != bulkOf(strconv.Itoa(i)) {
			t.Fatalf("ECHO %d = %q", i, r)
		}
	}
	if r := multi.do("DISCARD"); r != "+OK\r\n" {
		t.Fatalf("DISCARD = %q", r)
	}
	if l := listClients(t, asker, "ID", multiID)[multiID]; l.f["multi"] != "-1" || l.f["flags"] != "N" {
		t.Errorf("after DISCARD: multi=%s flags=%s", l.f["multi"], l.f["flags"])
	}

	// Errors, as a real node gives them.
	node := dialNode(t)
	sameAsNode(t, asker, node,
		[]string{"CLIENT", "LIST", "TYPE", "foo"}, []string{"CLIENT", "LIST", "ID", "x"}, []string{"CLIENT", "LIST", "ID"},
		[]string{"CLIENT", "LIST", "foo"}, []string{"CLIENT", "LIST", "TYPE", "normal", "ID", "3"}, []string{"CLIENT", "LIST", "ID", "1", "x"},
		[]string{"CLIENT", "INFO", "x"}, []string{"CLIENT", "KILL"},
		[]string{"CLIENT", "KILL", "ID", "0"}, []string{"CLIENT", "KILL", "ID", "abc"}, []string{"CLIENT", "KILL", "ID", "-3"},
		[]string{"CLIENT", "KILL", "1.2.3.4:5"}, []string{"CLIENT", "KILL", "ID", "99999999"},
		[]string{"CLIENT", "KILL", "USER", "nobody"}, []string{"CLIENT", "KILL", "USER", "default", "SKIPME", "maybe"},
		[]string{"CLIENT", "KILL", "ADDR"}, []string{"CLIENT", "KILL", "TYPE", "bogus"}, []string{"CLIENT", "KILL", "ID", "1", "ADDR"},
		[]string{"CLIENT", "KILL", "FOO", "bar"}, []string{"CLIENT", "KILL", "TYPE", "master", "SKIPME", "no"},
	)
}

// TestE2EClientInfo: CLIENT INFO is the caller's own line; age and idle count seconds.
func TestE2EClientInfo(t *testing.T) {
	p := startProxy(t, cluster, func(c *server.Config) { c.Loops = 2 })
	order := nodeFieldOrder(t)
	rc, other := dialRaw(t, p.Addr), dialRaw(t, p.Addr)
	id := clientID(t, rc)
	rc.do("CLIENT", "SETNAME", "me")
	rc.do("CLIENT", "SETINFO", "LIB-NAME", "mylib")
	rc.do("CLIENT", "SETINFO", "lib-ver", "1.0")
	info := bulkText(t, rc.do("CLIENT", "INFO"))
	t.Logf("CLIENT INFO: %s", info)
	lines := parseClientText(t, info)
	if len(lines) != 1 {
		t.Fatalf("CLIENT INFO: %d lines", len(lines))
	}
	l := lines[0]
	if strings.Join(l.keys, " ") != strings.Join(order, " ") {
		t.Fatalf("fields\n %v\nwant Redis's\n %v", l.keys, order)
	}
	for f, v := range map[string]string{"id": id, "name": "me", "cmd": "client|info", "addr": rc.c.LocalAddr().String(),
		"laddr": p.Addr, "resp": "2", "flags": "N", "multi": "-1", "events": "r"} {
		if l.f[f] != v {
			t.Errorf("CLIENT INFO %s=%q, want %q", f, l.f[f], v)
		}
	}
	for _, r := range []string{
		rc.do("CLIENT", "SETINFO", "lib-name", "has space"),
		rc.do("CLIENT", "SETINFO", "LIB-VER", "a\nb"),
	} {
		if !strings.HasSuffix(r, " cannot contain spaces, newlines or special characters.\r\n") {
			t.Errorf("CLIENT SETINFO with a space = %q", r)
		}
	}

	time.Sleep(1300 * time.Millisecond)
	l = listClients(t, other)[id]
	if age, _ := strconv.Atoi(l.f["age"]); age < 1 {
		t.Errorf("age=%s after 1.3 s", l.f["age"])
	}
	if idle, _ := strconv.Atoi(l.f["idle"]); idle < 1 {
		t.Errorf("idle=%s after 1.3 s silent", l.f["idle"])
	}
	// Idle counts from the loop's last tick before the command (no request reads the clock).
	if l = parseClientText(t, bulkText(t, rc.do("CLIENT", "INFO")))[0]; l.f["idle"] != "0" && l.f["idle"] != "1" {
		t.Errorf("idle=%s right after a command", l.f["idle"])
	}
}

// TestE2EClientKill: CLIENT KILL by each filter and in the old form closes the clients it names
// on whichever loop they are, skips the caller unless SKIPME no, and answers as Redis does.
func TestE2EClientKill(t *testing.T) {
	p := startProxy(t, cluster, func(c *server.Config) { c.Loops = 2 })
	admin := dialRaw(t, p.Addr)
	dial := func() (*rawConn, string) {
		rc := dialRaw(t, p.Addr)
		return rc, clientID(t, rc)
	}
	killed := func(rc *rawConn) {
		t.Helper()
		rc.expectEOF()
	}
	alive := func(rc *rawConn) {
		t.Helper()
		if r := rc.do("PING"); r != "+PONG\r\n" {
			t.Fatalf("PING of a client that should live = %q", r)
		}
	}

	// ID, on either loop.
	a, aID := dial()
	b, bID := dial()
	for _, v := range []struct {
		rc *rawConn
		id string
	}{{a, aID}, {b, bID}} {
		if r := admin.do("CLIENT", "KILL", "ID", v.id); r != ":1\r\n" {
			t.Fatalf("KILL ID %s = %q", v.id, r)
		}
		killed(v.rc)
	}
	if r := admin.do("CLIENT", "KILL", "ID", aID); r != ":0\r\n" {
		t.Fatalf("KILL ID of a client gone = %q", r)
	}

	// ADDR and the old form, both the peer's ip:port.
	a, _ = dial()
	b, _ = dial()
	if r := admin.do("CLIENT", "KILL", "ADDR", a.c.LocalAddr().String()); r != ":1\r\n" {
		t.Fatalf("KILL ADDR = %q", r)
	}
	killed(a)
	if r := admin.do("CLIENT", "KILL", b.c.LocalAddr().String()); r != "+OK\r\n" {
		t.Fatalf("KILL ip:port = %q", r)
	}
	killed(b)
	if r := admin.do("CLIENT", "KILL", b.c.LocalAddr().String()); r != "-ERR No such client\r\n" {
		t.Fatalf("KILL ip:port of a client gone = %q", r)
	}

	// TYPE pubsub, USER default with ID, MAXAGE.
	s, _ := dial()
	c, cID := dial()
	s.write(respCmd("SUBSCRIBE", "killme"))
	s.read()
	if r := admin.do("CLIENT", "KILL", "TYPE", "pubsub"); r != ":1\r\n" {
		t.Fatalf("KILL TYPE pubsub = %q", r)
	}
	killed(s)
	if r := admin.do("CLIENT", "KILL", "USER", "default", "ID", cID); r != ":1\r\n" {
		t.Fatalf("KILL USER default ID = %q", r)
	}
	killed(c)
	young, _ := dial()
	if r := admin.do("CLIENT", "KILL", "MAXAGE", "3600"); r != ":0\r\n" {
		t.Fatalf("KILL MAXAGE 3600 = %q", r)
	}
	alive(young)

	// LADDR with SKIPME yes (the default): everyone but the caller, on both loops.
	x, _ := dial()
	y, _ := dial()
	if r := admin.do("CLIENT", "KILL", "LADDR", p.Addr, "SKIPME", "yes"); r != ":3\r\n" {
		t.Fatalf("KILL LADDR SKIPME yes = %q (young, x and y)", r)
	}
	killed(x)
	killed(y)
	killed(young)
	alive(admin)
	if r := admin.do("CLIENT", "KILL", "LADDR", "127.0.0.1:1", "SKIPME", "no"); r != ":0\r\n" {
		t.Fatalf("KILL LADDR elsewhere = %q", r)
	}
	if per := server.LoopSessions(p.Srv); len(per) != 2 {
		t.Fatalf("clients per loop %v: want two loops in use", per)
	}

	// SKIPME no: the caller is killed too, after its reply; what it sent after is not run.
	k := uniqPrefix("ckill") + "k"
	o, _ := dial()
	self, _ := dial()
	self.write(respCmd("SET", k, "1") + respCmd("CLIENT", "KILL", "USER", "default", "SKIPME", "no") + respCmd("SET", k, "2"))
	if r := self.read(); r != "+OK\r\n" {
		t.Fatalf("SET = %q", r)
	}
	if r := self.read(); r != ":3\r\n" {
		t.Fatalf("KILL SKIPME no = %q (admin, o and the caller)", r)
	}
	killed(self)
	killed(o)
	killed(admin)
	check := dialRaw(t, p.Addr)
	if r := check.do("GET", k); r != bulkOf("1") {
		t.Fatalf("GET after the killed client's pipeline = %q: the request after its KILL ran", r)
	}
	// The old form kills the caller too.
	if r := check.do("CLIENT", "KILL", check.c.LocalAddr().String()); r != "+OK\r\n" {
		t.Fatalf("KILL own ip:port = %q", r)
	}
	killed(check)
	// The ID filter with SKIPME yes spares the caller.
	me, meID := dial()
	if r := me.do("CLIENT", "KILL", "ID", meID); r != ":0\r\n" {
		t.Fatalf("KILL own ID with SKIPME yes = %q", r)
	}
	alive(me)
}

// TestE2EClientKillInFlight: killing clients whose requests are at the backends (a deep
// pipeline on the shared connections, a BLPOP blocked on a dedicated one), from another loop,
// slips no FIFO: every other client keeps getting its own replies, and the orphaned BLPOP
// pops nothing.
func TestE2EClientKillInFlight(t *testing.T) {
	p := startProxy(t, cluster, func(c *server.Config) { c.Loops = 2 })
	ctx := context.Background()
	pre := uniqPrefix("ckflight")
	admin := dialRaw(t, p.Addr)

	blocked := dialRaw(t, p.Addr)
	blockedID := clientID(t, blocked)
	blocked.write(respCmd("BLPOP", pre+"list", "0"))

	// A transaction under way on its dedicated connection: killed, it must neither run nor
	// leave its WATCH or MULTI to the next client of that connection.
	txc := dialRaw(t, p.Addr)
	txID := clientID(t, txc)
	txc.write(respCmd("WATCH", pre+"tx") + respCmd("MULTI") + respCmd("SET", pre+"tx", "killed"))
	for _, want := range []string{"+OK\r\n", "+OK\r\n", "+QUEUED\r\n"} {
		if r := txc.read(); r != want {
			t.Fatalf("transaction: %q, want %q", r, want)
		}
	}
	if r := admin.do("CLIENT", "KILL", "ID", txID); r != ":1\r\n" {
		t.Fatalf("KILL ID of the client in MULTI = %q", r)
	}
	txc.expectEOF()

	var pipes []*rawConn
	var pipeIDs []string
	for i := 0; i < 4; i++ { // both loops
		rc := dialRaw(t, p.Addr)
		pipes = append(pipes, rc)
		pipeIDs = append(pipeIDs, clientID(t, rc))
	}
	var batch strings.Builder
	for i := 0; i < 10000; i++ {
		batch.WriteString(respCmd("INCR", pre+"n"+strconv.Itoa(i%50)))
		batch.WriteString(respCmd("MGET", pre+"n"+strconv.Itoa(i%50), pre+"n"+strconv.Itoa(i%7)))
	}

	// Others keep working meanwhile, on both loops.
	stop := make(chan struct{})
	errc := make(chan error, 2)
	for w := 0; w < 2; w++ {
		go func() {
			cl := redis.NewClient(&redis.Options{Addr: p.Addr, PoolSize: 1})
			defer cl.Close()
			for i := 0; ; i++ {
				select {
				case <-stop:
					errc <- nil
					return
				default:
				}
				key, val := pre+"w"+strconv.Itoa(w)+":"+strconv.Itoa(i%100), strconv.Itoa(i)
				pipe := cl.Pipeline()
				pipe.Set(ctx, key, val, 0)
				get := pipe.Get(ctx, key)
				echo := pipe.Echo(ctx, val)
				if _, err := pipe.Exec(ctx); err != nil {
					errc <- err
					return
				}
				if get.Val() != val || echo.Val() != val {
					errc <- &mismatch{key, val, get.Val() + "/" + echo.Val()}
					return
				}
			}
		}()
	}

	// Wait for the BLPOP to be blocked on its node.
	deadline := time.Now().Add(5 * time.Second)
	for listClients(t, admin, "ID", blockedID)[blockedID].f["flags"] != "b" {
		if time.Now().After(deadline) {
			t.Fatal("the BLPOP client never shows flags=b")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, rc := range pipes {
		go func() { _, _ = rc.c.Write([]byte(batch.String())) }() // replies never read: requests stay in flight
	}
	time.Sleep(20 * time.Millisecond)
	for _, id := range append([]string{blockedID}, pipeIDs...) {
		if r := admin.do("CLIENT", "KILL", "ID", id); r != ":1\r\n" {
			t.Fatalf("KILL ID %s = %q", id, r)
		}
	}
	blocked.expectEOF()
	time.Sleep(200 * time.Millisecond)
	close(stop)
	for w := 0; w < 2; w++ {
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
	}

	// The BLPOP went with its client: what is pushed now stays in the list.
	cl := p.client(t, nil)
	if err := cl.RPush(ctx, pre+"list", "x").Err(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if n, err := cl.LLen(ctx, pre+"list").Result(); err != nil || n != 1 {
		t.Fatalf("LLEN after the killed BLPOP = %d, %v: the orphaned BLPOP popped it", n, err)
	}
	// The killed transaction never ran, and its connection went back clean (or not at all).
	tx := cl.TxPipeline()
	tx.Set(ctx, pre+"tx", "next", 0)
	if _, err := tx.Exec(ctx); err != nil {
		t.Fatalf("a transaction after the killed one: %v", err)
	}
	if v, err := cl.Get(ctx, pre+"tx").Result(); err != nil || v != "next" {
		t.Fatalf("GET after the transactions = %q, %v", v, err)
	}
	left := listClients(t, admin)
	for _, id := range append([]string{blockedID, txID}, pipeIDs...) {
		if _, ok := left[id]; ok {
			t.Errorf("killed client %s still in CLIENT LIST", id)
		}
	}
}

type mismatch struct{ key, want, got string }

func (m *mismatch) Error() string { return m.key + ": got " + m.got + ", want " + m.want }

// TestE2EClientLibraries: go-redis and redis-py parse slotgate's CLIENT INFO and LIST lines and
// kill by filter through their own helpers.
func TestE2EClientLibraries(t *testing.T) {
	p := startProxy(t, cluster, func(c *server.Config) { c.Loops = 2 })
	ctx := context.Background()
	cl := p.client(t, func(o *redis.Options) { o.ClientName = "goredis"; o.PoolSize = 1 })
	info, err := cl.ClientInfo(ctx).Result()
	if err != nil {
		t.Fatalf("go-redis ClientInfo: %v", err)
	}
	if info.Name != "goredis" || info.ID == 0 || info.LastCmd != "client|info" || info.Resp != 3 { // go-redis v9 speaks RESP3 by default
		t.Fatalf("go-redis ClientInfo = %+v", info)
	}
	victim := p.client(t, func(o *redis.Options) { o.ClientName = "victim"; o.MaxRetries = -1; o.PoolSize = 1 })
	if err := victim.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	list, err := cl.ClientList(ctx).Result()
	if err != nil || !strings.Contains(list, " name=victim ") || !strings.Contains(list, " name=goredis ") {
		t.Fatalf("go-redis ClientList = %q, %v", list, err)
	}
	vid, err := victim.ClientID(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	if n, err := cl.ClientKillByFilter(ctx, "ID", strconv.FormatInt(vid, 10)).Result(); err != nil || n != 1 {
		t.Fatalf("go-redis ClientKillByFilter ID = %d, %v", n, err)
	}
	if list, err := cl.ClientList(ctx).Result(); err != nil || strings.Contains(list, "id="+strconv.FormatInt(vid, 10)+" ") {
		t.Fatalf("go-redis ClientList after the kill = %q, %v", list, err)
	}

	py := pythonRedis(t)
	out := runPython(t, py, p.Addr, `
import os, redis
host, port = os.environ["SLOTGATE_ADDR"].rsplit(":", 1)
r = redis.Redis(host=host, port=int(port), decode_responses=True)
other = redis.Redis(host=host, port=int(port), decode_responses=True)
other.client_setname("py-other")
me = r.client_info()
assert me["cmd"] == "client|info" and int(me["id"]) == r.client_id(), me
names = sorted(c["name"] for c in r.client_list())
assert "py-other" in names, names
assert r.client_kill_filter(_id=other.client_id()) == 1
assert all(c["name"] != "py-other" for c in r.client_list())
print("ok")
`)
	if strings.TrimSpace(out) != "ok" {
		t.Fatalf("redis-py: %s", out)
	}
}
