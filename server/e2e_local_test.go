package server_test

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/slotgate/slotgate/router"
	"github.com/slotgate/slotgate/server"
)

// sameAsNode sends each request to the proxy and to a master, and requires identical bytes.
func sameAsNode(t *testing.T, px, node *rawConn, reqs ...[]string) {
	t.Helper()
	for _, r := range reqs {
		got, want := px.do(r...), node.do(r...)
		if got != want {
			t.Errorf("%q:\n proxy %q\n redis %q", r, clip600(got), clip600(want))
		}
	}
}

func clip600(s string) string {
	if len(s) > 600 {
		return s[:600] + "..."
	}
	return s
}

func TestE2ELocalPingEchoSelect(t *testing.T) {
	p := startProxy(t, cluster, nil)
	px, node := dialRaw(t, p.Addr), dialNode(t)
	if r := px.do("PING"); r != "+PONG\r\n" {
		t.Fatalf("PING = %q", r)
	}
	if r := px.do("PING", "hi there"); r != bulkOf("hi there") {
		t.Fatalf("PING msg = %q", r)
	}
	if r := px.do("ECHO", "a\r\nb"); r != bulkOf("a\r\nb") {
		t.Fatalf("ECHO = %q", r)
	}
	if r := px.do("SELECT", "0"); r != "+OK\r\n" {
		t.Fatalf("SELECT 0 = %q", r)
	}
	if r := px.do("SELECT", "1"); r != "-ERR SELECT is not allowed in cluster mode\r\n" {
		t.Fatalf("SELECT 1 = %q", r)
	}
	sameAsNode(t, px, node,
		[]string{"PING"}, []string{"PING", "x"}, []string{"ping", ""}, []string{"PING", "a", "b"},
		[]string{"ECHO", ""}, []string{"ECHO"}, []string{"echo", "x", "y"},
		[]string{"SELECT", "0"}, []string{"SELECT", "1"}, []string{"SELECT", "abc"}, []string{"SELECT"},
	)
}

func TestE2ELocalQuit(t *testing.T) {
	p := startProxy(t, cluster, nil)
	rc := dialRaw(t, p.Addr)
	k := uniqPrefix("lquit") + "k"
	rc.write(respCmd("SET", k, "v") + respCmd("GET", k) + respCmd("MGET", k, k+"x") + "QUIT\r\n" + respCmd("PING"))
	for _, want := range []string{"+OK\r\n", bulkOf("v"), "*2\r\n" + bulkOf("v") + "$-1\r\n", "+OK\r\n"} {
		if r := rc.read(); r != want {
			t.Fatalf("got %q, want %q", r, want)
		}
	}
	rc.expectEOF()
}

func TestE2ELocalCommand(t *testing.T) {
	p := startProxy(t, cluster, nil)
	px, node := dialRaw(t, p.Addr), dialNode(t)
	sameAsNode(t, px, node,
		[]string{"COMMAND", "COUNT"},
		[]string{"COMMAND", "INFO", "get"},
		[]string{"COMMAND", "INFO", "GET", "nosuch", "set"},
		[]string{"COMMAND", "INFO", "config|get"},
		[]string{"COMMAND", "DOCS", "get"},
		[]string{"COMMAND", "DOCS", "nosuch"},
		[]string{"COMMAND", "GETKEYS", "GET", "k"},
		[]string{"COMMAND", "GETKEYS", "MSET", "a", "1", "b", "2"},
		[]string{"COMMAND", "GETKEYS", "EVAL", "return 1", "2", "a", "b", "x"},
		[]string{"COMMAND", "GETKEYS", "ZUNIONSTORE", "dst", "2", "a", "b", "WEIGHTS", "1", "2"},
		[]string{"COMMAND", "GETKEYS", "XREADGROUP", "GROUP", "g", "c", "COUNT", "1", "STREAMS", "s1", "s2", ">", ">"},
		[]string{"COMMAND", "GETKEYS", "LMOVE", "a", "b", "LEFT", "RIGHT"},
		[]string{"COMMAND", "GETKEYS", "PING"},
		[]string{"COMMAND", "GETKEYS", "GET"},
		[]string{"COMMAND", "GETKEYS", "GET", "a", "b"},
		[]string{"COMMAND", "GETKEYS", "NOSUCH", "a"},
		[]string{"COMMAND", "NOSUCH"},
		// GETKEYSANDFLAGS: the flags of the key specs, or of Redis's own extraction.
		[]string{"COMMAND", "GETKEYSANDFLAGS", "SET", "k", "v"},
		[]string{"COMMAND", "GETKEYSANDFLAGS", "SET", "k", "v", "GET"},
		[]string{"COMMAND", "GETKEYSANDFLAGS", "MSET", "a", "1", "b", "2"},
		[]string{"COMMAND", "GETKEYSANDFLAGS", "SORT", "k", "BY", "w", "STORE", "d"},
		[]string{"COMMAND", "GETKEYSANDFLAGS", "BITFIELD", "k", "GET", "u8", "0"},
		[]string{"COMMAND", "GETKEYSANDFLAGS", "LMOVE", "a", "b", "LEFT", "RIGHT"},
		[]string{"COMMAND", "GETKEYSANDFLAGS", "EVAL", "return 1", "0"},
		[]string{"COMMAND", "GETKEYSANDFLAGS", "OBJECT", "ENCODING", "k"},
		[]string{"COMMAND", "GETKEYSANDFLAGS", "GEORADIUS", "g", "0", "0", "1", "km", "STORE", "d"},
		[]string{"COMMAND", "GETKEYSANDFLAGS", "PING"},
		[]string{"COMMAND", "GETKEYSANDFLAGS", "GET"},
		[]string{"COMMAND", "GETKEYSANDFLAGS"},
		[]string{"COMMAND", "GETKEYS", "OBJECT", "NOSUCH", "k"},
		[]string{"COMMAND", "GETKEYS", "ZUNION", "0", "a"},
		[]string{"COMMAND", "GETKEYS", "DBSIZE", "x"},
		[]string{"COMMAND", "INFO", "object|encoding", "object|nosuch", "nosuch|x"}, // not OBJECT: its subcommands in its dict's order
		[]string{"COMMAND", "DOCS", "object|encoding", "lmpop"},
		[]string{"COMMAND", "COUNT", "x"},
	)
	if r := px.do("COMMAND", "COUNT"); !strings.HasPrefix(r, ":") {
		t.Fatalf("COMMAND COUNT = %q", r)
	} else if n, _ := strconv.Atoi(strings.TrimSpace(r[1:])); n < 200 {
		t.Fatalf("COMMAND COUNT = %d", n)
	}
	if r := px.do("COMMAND", "GETKEYS", "MSET", "a", "1", "b", "2"); r != "*2\r\n"+bulkOf("a")+bulkOf("b") {
		t.Fatalf("COMMAND GETKEYS MSET = %q", r)
	}
	// COMMAND LIST has as many top-level names as COMMAND COUNT says (and the subcommands, as
	// "container|sub", as Redis 7 lists them).
	cl := p.client(t, nil)
	ctx := context.Background()
	names, err := cl.Do(ctx, "COMMAND", "LIST").StringSlice()
	if err != nil {
		t.Fatal(err)
	}
	top := 0
	for _, name := range names {
		if !strings.Contains(name, "|") {
			top++
		}
	}
	n, err := cl.Do(ctx, "COMMAND", "COUNT").Int64()
	if err != nil || int64(top) != n || top == len(names) {
		t.Fatalf("COMMAND LIST has %d names (%d top-level), COMMAND COUNT = %d (%v)", len(names), top, n, err)
	}
}

func TestE2ELocalClusterKeyslot(t *testing.T) {
	p := startProxy(t, cluster, nil)
	px, node := dialRaw(t, p.Addr), dialNode(t)
	r := rand.New(rand.NewPCG(7, 11))
	alphabet := "ab{}{}x\x00\xff\r\n:"
	var reqs [][]string
	fixed := []string{"", "{}", "{}a", "a{}", "{a}", "{a}b", "x{a}y{b}", "{{a}}", "}{a}", "{", "}", "foo{bar}{zap}", "123456789", "{user1000}.following"}
	for _, k := range fixed {
		reqs = append(reqs, []string{"CLUSTER", "KEYSLOT", k})
	}
	for len(reqs) < 200 {
		n := r.IntN(20)
		b := make([]byte, n)
		for i := range b {
			if r.IntN(2) == 0 {
				b[i] = alphabet[r.IntN(len(alphabet))]
			} else {
				b[i] = byte(r.IntN(256))
			}
		}
		reqs = append(reqs, []string{"CLUSTER", "KEYSLOT", string(b)})
	}
	sameAsNode(t, px, node, reqs...)
	if got := px.do("CLUSTER", "KEYSLOT", "123456789"); got != ":12739\r\n" {
		t.Fatalf("CLUSTER KEYSLOT 123456789 = %q", got)
	}
}

func TestE2ELocalConfigGet(t *testing.T) {
	p := startProxy(t, cluster, nil)
	px, node := dialRaw(t, p.Addr), dialNode(t)
	sameAsNode(t, px, node, []string{"CONFIG", "GET", "maxmemory-policy"}, []string{"CONFIG", "GET", "nosuch-param"})
	if r := px.do("CONFIG", "GET", "maxmemory-policy"); !strings.HasPrefix(r, "*2\r\n"+bulkOf("maxmemory-policy")) {
		t.Fatalf("CONFIG GET maxmemory-policy = %q", r)
	}
}

func TestE2ELocalClient(t *testing.T) {
	p := startProxy(t, cluster, nil)
	px := dialRaw(t, p.Addr)
	steps := []struct {
		req  []string
		want string
	}{
		{[]string{"CLIENT", "GETNAME"}, "$-1\r\n"},
		{[]string{"CLIENT", "SETNAME", "my-app"}, "+OK\r\n"},
		{[]string{"CLIENT", "GETNAME"}, bulkOf("my-app")},
		{[]string{"CLIENT", "SETNAME", "has space"}, "-ERR Client names cannot contain spaces, newlines or special characters.\r\n"},
		{[]string{"CLIENT", "GETNAME"}, bulkOf("my-app")},
		{[]string{"CLIENT", "SETINFO", "lib-name", "mylib"}, "+OK\r\n"},
		{[]string{"CLIENT", "SETINFO", "LIB-VER", "1.2.3"}, "+OK\r\n"},
		{[]string{"PING"}, "+PONG\r\n"},
	}
	for _, s := range steps {
		if r := px.do(s.req...); r != s.want {
			t.Errorf("%q = %q; want %q", s.req, r, s.want)
		}
	}
	id := px.do("CLIENT", "ID")
	if !strings.HasPrefix(id, ":") {
		t.Fatalf("CLIENT ID = %q", id)
	}
	other := dialRaw(t, p.Addr)
	if id2 := other.do("CLIENT", "ID"); id2 == id || !strings.HasPrefix(id2, ":") {
		t.Fatalf("CLIENT ID of two connections: %q and %q", id, id2)
	}
	if again := px.do("CLIENT", "ID"); again != id {
		t.Fatalf("CLIENT ID changed: %q then %q", id, again)
	}
	// HELLO reports the same id.
	cl := p.client(t, nil)
	ctx := context.Background()
	cid, err := cl.ClientID(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	h := helloMap(t, cl.Do(ctx, "HELLO", "2"))
	if h["id"] != cid {
		t.Fatalf("HELLO id %v, CLIENT ID %d", h["id"], cid)
	}
}

// helloMap turns a RESP2 HELLO reply into a map.
func helloMap(t *testing.T, cmd *redis.Cmd) map[string]any {
	t.Helper()
	v, err := cmd.Slice()
	if err != nil {
		t.Fatalf("HELLO: %v", err)
	}
	if len(v)%2 != 0 {
		t.Fatalf("HELLO: %d elements", len(v))
	}
	m := map[string]any{}
	for i := 0; i < len(v); i += 2 {
		k, ok := v[i].(string)
		if !ok {
			t.Fatalf("HELLO: key %#v", v[i])
		}
		m[k] = v[i+1]
	}
	return m
}

func TestE2ELocalHello(t *testing.T) {
	p := startProxy(t, cluster, nil)
	ctx := context.Background()
	cl := p.client(t, nil)
	h := helloMap(t, cl.Do(ctx, "HELLO", "2"))
	// The node's own HELLO 2 has the same fields (mode "cluster": slotgate shows a one-node cluster).
	nodeCl := redis.NewClient(&redis.Options{Addr: cluster.Masters()[0].Addr, Password: cluster.Password, Protocol: 2, DisableIdentity: true})
	defer nodeCl.Close()
	nh := helloMap(t, nodeCl.Do(ctx, "HELLO", "2"))
	for k := range nh {
		if _, ok := h[k]; !ok {
			t.Errorf("HELLO 2 through the proxy lacks %q (node: %v)", k, nh)
		}
	}
	if len(h) != len(nh) {
		t.Errorf("HELLO 2 fields: proxy %v, node %v", h, nh)
	}
	if h["server"] != "redis" || h["proto"] != int64(2) || h["version"] != nh["version"] || h["role"] != "master" || h["mode"] != nh["mode"] {
		t.Errorf("HELLO 2 = %v", h)
	}
	if m, ok := h["modules"].([]any); !ok || len(m) != 0 {
		t.Errorf("HELLO 2 modules = %#v", h["modules"])
	}
	// HELLO 4 is refused with NOPROTO and changes nothing (RESP3: e2e_resp3_test.go).
	px := dialRaw(t, p.Addr)
	if r := px.do("HELLO", "4"); r != "-NOPROTO unsupported protocol version\r\n" {
		t.Fatalf("HELLO 4 = %q", r)
	}
	if r := px.do("HELLO", "x"); r != "-ERR Protocol version is not an integer or out of range\r\n" {
		t.Fatalf("HELLO x = %q", r)
	}
	if r := px.do("CLIENT", "GETNAME"); r != "$-1\r\n" {
		t.Fatalf("CLIENT GETNAME after HELLO 4 = %q", r)
	}
	r := px.do("HELLO", "2", "SETNAME", "via-hello")
	if !strings.HasPrefix(r, "*14\r\n") {
		t.Fatalf("HELLO 2 SETNAME = %q", r)
	}
	if r := px.do("CLIENT", "GETNAME"); r != bulkOf("via-hello") {
		t.Fatalf("CLIENT GETNAME after HELLO SETNAME = %q", r)
	}
	// go-redis asks HELLO 3 first, and slotgate speaks it.
	def := p.client(t, nil) // Protocol 3 by default
	k := uniqPrefix("lhello") + "k"
	if err := def.Set(ctx, k, "v", 0).Err(); err != nil {
		t.Fatalf("go-redis (RESP3 by default) SET: %v", err)
	}
	if v, err := def.Get(ctx, k).Result(); err != nil || v != "v" {
		t.Fatalf("go-redis GET = %q, %v", v, err)
	}
	if v, err := def.HGetAll(ctx, k+"h").Result(); err != nil || len(v) != 0 {
		t.Fatalf("go-redis HGETALL = %v, %v", v, err)
	}
}

func TestE2ELocalAuthNoPassword(t *testing.T) {
	p := startProxy(t, cluster, nil)
	px := dialRaw(t, p.Addr)
	for _, req := range [][]string{{"AUTH", "anything"}, {"AUTH", "default", "whatever"}, {"AUTH", cluster.Password}} {
		if r := px.do(req...); r != "+OK\r\n" {
			t.Fatalf("%q without -password = %q", req, r)
		}
	}
	if r := px.do("PING"); r != "+PONG\r\n" {
		t.Fatalf("PING = %q", r)
	}
	cl := p.client(t, func(o *redis.Options) { o.Password = "some-password" })
	if err := cl.Set(context.Background(), uniqPrefix("lauth")+"k", "v", 0).Err(); err != nil {
		t.Fatalf("go-redis with a password against a proxy without one: %v", err)
	}
}

func TestE2ELocalAuthPassword(t *testing.T) {
	const pw = "s3cret pass"
	p := startProxy(t, cluster, func(c *server.Config) { c.Password = pw })
	k := uniqPrefix("lauthpw") + "k"
	const noauth = "-NOAUTH Authentication required.\r\n"
	const wrongpass = "-WRONGPASS invalid username-password pair or user is disabled.\r\n"
	px := dialRaw(t, p.Addr)
	steps := []struct {
		req  []string
		want string
	}{
		{[]string{"GET", k}, noauth},
		{[]string{"PING"}, noauth},
		{[]string{"MGET", k, k + "x"}, noauth},
		{[]string{"CLIENT", "ID"}, noauth},
		{[]string{"AUTH", "wrong"}, wrongpass},
		{[]string{"AUTH", "default", "wrong"}, wrongpass},
		{[]string{"AUTH", "other", pw}, wrongpass},
		{[]string{"GET", k}, noauth},
		{[]string{"AUTH", pw}, "+OK\r\n"},
		{[]string{"SET", k, "v"}, "+OK\r\n"},
		{[]string{"GET", k}, bulkOf("v")},
		{[]string{"AUTH", "default", pw}, "+OK\r\n"},
	}
	for _, s := range steps {
		if r := px.do(s.req...); r != s.want {
			t.Errorf("%q = %q; want %q", s.req, r, s.want)
		}
	}
	// HELLO before AUTH is refused; HELLO 2 AUTH authenticates.
	h := dialRaw(t, p.Addr)
	helloNoAuth := "-NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time\r\n"
	for _, v := range []string{"2", "3"} {
		if r := h.do("HELLO", v); r != helloNoAuth {
			t.Errorf("HELLO %s before AUTH = %q", v, r)
		}
	}
	if r := h.do("GET", k); r != noauth {
		t.Errorf("GET after a refused HELLO 3 = %q (still RESP2, still not authenticated)", r)
	}
	if r := h.do("HELLO", "2", "AUTH", "default", "nope"); r != wrongpass {
		t.Errorf("HELLO 2 AUTH wrong = %q", r)
	}
	if r := h.do("HELLO", "2", "AUTH", "default", pw); !strings.HasPrefix(r, "*14\r\n"+bulkOf("server")+bulkOf("redis")) {
		t.Errorf("HELLO 2 AUTH default <pw> = %q", r)
	}
	if r := h.do("HELLO", "3", "AUTH", "default", pw); !strings.HasPrefix(r, "%7\r\n"+bulkOf("server")+bulkOf("redis")) {
		t.Errorf("HELLO 3 AUTH default <pw> = %q", r)
	}
	if r := h.do("GET", k+"missing"); r != "_\r\n" {
		t.Errorf("GET of a missing key after HELLO 3 AUTH = %q", r)
	}
	if r := h.do("HELLO", "2"); !strings.HasPrefix(r, "*14\r\n") {
		t.Errorf("HELLO 2 = %q", r)
	}
	if r := h.do("GET", k); r != bulkOf("v") {
		t.Errorf("GET after HELLO AUTH = %q", r)
	}
	// go-redis with the password (HELLO 3 AUTH default <pw>).
	ctx := context.Background()
	cl := p.client(t, func(o *redis.Options) { o.Password = pw })
	if v, err := cl.Get(ctx, k).Result(); err != nil || v != "v" {
		t.Fatalf("go-redis with Password: GET = %q, %v", v, err)
	}
	cl2 := p.client(t, func(o *redis.Options) { o.Password = pw; o.Protocol = 2 })
	if v, err := cl2.Get(ctx, k).Result(); err != nil || v != "v" {
		t.Fatalf("go-redis RESP2 with Password: GET = %q, %v", v, err)
	}
	bad := p.client(t, func(o *redis.Options) { o.MaxRetries = -1 })
	if err := bad.Get(ctx, k).Err(); err == nil || !strings.HasPrefix(err.Error(), "NOAUTH") {
		t.Fatalf("go-redis without password: %v; want NOAUTH", err)
	}
}

func TestE2ELocalErrors(t *testing.T) {
	p := startProxy(t, cluster, nil)
	px, node := dialRaw(t, p.Addr), dialNode(t)
	if r := px.do("foo", "a", "b"); r != "-ERR unknown command 'foo', with args beginning with: 'a' 'b' \r\n" {
		t.Fatalf("foo a b = %q", r)
	}
	if r := px.do("GET"); r != "-ERR wrong number of arguments for 'get' command\r\n" {
		t.Fatalf("GET = %q", r)
	}
	sameAsNode(t, px, node,
		[]string{"foo", "a", "b"}, []string{"FOO"}, []string{"foo", ""}, []string{"Nosuch", strings.Repeat("x", 200)},
		[]string{"GET"}, []string{"get", "a", "b"}, []string{"SET", "k"}, []string{"HSET", "h", "f"},
		[]string{"CLIENT"},
	)
	ctx := context.Background()
	cl := p.client(t, nil)
	for _, req := range [][]any{
		{"MONITOR"}, {"SWAPDB", "0", "1"}, {"WAIT", "1", "0"}, {"WAITAOF", "1", "0", "0"},
	} {
		err := cl.Do(ctx, req...).Err()
		name := strings.ToLower(req[0].(string))
		if err == nil || !strings.HasPrefix(err.Error(), "ERR ") || !strings.Contains(err.Error(), "'"+name+"'") {
			t.Errorf("%v = %v; want an -ERR naming '%s'", req, err, name)
		}
	}
	// The connection still works after refusals.
	if err := cl.Ping(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if r := px.do("PING"); r != "+PONG\r\n" {
		t.Fatalf("PING after MULTI/EXEC = %q", r)
	}
}

// TestE2ELocalNoTopology runs slotgate with a seed where nothing listens.
func TestE2ELocalNoTopology(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	seed := freeAddr(t)
	rt := router.New(router.Config{Seeds: []string{seed}, DialTimeout: 200 * time.Millisecond, Logger: logger})
	ctx, cancel := context.WithCancel(context.Background())
	rtDone := make(chan error, 1)
	go func() { rtDone <- rt.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-rtDone
	})
	p := serveWith(t, rt, nil)
	px := dialRaw(t, p.Addr)
	if r := px.do("PING"); r != "+PONG\r\n" {
		t.Fatalf("PING = %q", r)
	}
	const want = "-CLUSTERDOWN slotgate has no topology yet"
	for _, req := range [][]string{{"GET", "k"}, {"SET", "k", "v"}, {"MGET", "a", "b", "c"}, {"DEL", "a", "b"}, {"CONFIG", "GET", "maxmemory"}} {
		r := px.do(req...)
		if !strings.HasPrefix(r, want) || !strings.Contains(r, seed) {
			t.Errorf("%q = %q; want %q... naming %s", req, r, want, seed)
		}
	}
	if r := px.do("ECHO", "still here"); r != bulkOf("still here") {
		t.Fatalf("ECHO = %q", r)
	}
	if r := px.do("CLUSTER", "KEYSLOT", "foo"); r != ":12182\r\n" {
		t.Fatalf("CLUSTER KEYSLOT foo = %q", r)
	}
}

// TestE2ECommandListAndHelp: COMMAND LIST (subcommands included) and its FILTERBY MODULE,
// ACLCAT and PATTERN name the same commands as a node of the cluster; COMMAND HELP and the
// syntax errors are the node's, byte for byte.
func TestE2ECommandListAndHelp(t *testing.T) {
	p := startProxy(t, cluster, nil)
	px, node := dialRaw(t, p.Addr), dialNode(t)
	sameAsNode(t, px, node,
		[]string{"COMMAND", "HELP"}, []string{"COMMAND", "LIST", "FILTERBY", "MODULE", "json"},
		[]string{"COMMAND", "LIST", "FILTERBY", "NOTHING", "x"}, []string{"COMMAND", "LIST", "FILTERBY", "PATTERN"},
		[]string{"COMMAND", "LIST", "BY"},
	)
	ctx := context.Background()
	cl, direct := p.client(t, nil), cluster.Client(cluster.Masters()[0])
	for _, req := range [][]any{
		{"COMMAND", "LIST"}, {"COMMAND", "LIST", "FILTERBY", "PATTERN", "config*"},
		{"COMMAND", "LIST", "FILTERBY", "PATTERN", "x?e*"}, {"COMMAND", "LIST", "FILTERBY", "ACLCAT", "hyperloglog"},
		{"COMMAND", "LIST", "FILTERBY", "ACLCAT", "STREAM"},
	} {
		got, err := cl.Do(ctx, req...).StringSlice()
		if err != nil {
			t.Fatalf("%v through slotgate: %v", req, err)
		}
		want, err := direct.Do(ctx, req...).StringSlice()
		if err != nil {
			t.Fatalf("%v on the node: %v", req, err)
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) || len(got) == 0 {
			t.Errorf("%v: slotgate %d names %v\nnode %d names %v", req, len(got), got, len(want), want)
		}
	}
}
