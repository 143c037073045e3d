package codec

import (
	"bytes"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// checkEntry is called by the generated TestGeneratedTable for every command.
func checkEntry(t *testing.T, c *Command, parent string) {
	t.Helper()
	if parent == "" {
		if Lookup([]byte(strings.ToUpper(c.Name))) != c || Lookup([]byte(c.Name)) != c {
			t.Errorf("Lookup(%q) does not find it", c.Name)
		}
		if c.Parent != nil {
			t.Errorf("%s: unexpected parent %s", c.Name, c.Parent.Name)
		}
	} else {
		if c.Parent == nil || c.Parent.Name != parent {
			t.Errorf("%s: parent %v, want %s", c.Name, c.Parent, parent)
		} else if sub := c.Parent.Sub([]byte(strings.ToUpper(c.Name[len(parent)+1:]))); sub != c {
			t.Errorf("%s: Sub does not find it", c.Name)
		}
	}
	var name2, name3 []byte
	for i, raw := range []string{c.Info2, c.Info3} {
		var f ReplyFramer
		if n, err := f.Frame([]byte(raw)); n != len(raw) || err != nil {
			t.Errorf("%s: Info%d frames to %d, %v (len %d)", c.Name, 2+i, n, err, len(raw))
			continue
		}
		elems, err := ArrayElems([]byte(raw), nil)
		if err != nil || len(elems) != 10 {
			t.Errorf("%s: Info%d has %d elements, %v", c.Name, 2+i, len(elems), err)
			continue
		}
		if i == 0 {
			name2 = elems[0]
		} else {
			name3 = elems[0]
		}
		if want := fmt.Sprintf("$%d\r\n%s\r\n", len(c.Name), c.Name); string(elems[0]) != want {
			t.Errorf("%s: Info%d name %q", c.Name, 2+i, elems[0])
		}
		if v, ok := ParseInt(elems[1]); !ok || int(v) != c.Arity {
			t.Errorf("%s: Info%d arity %q", c.Name, 2+i, elems[1])
		}
	}
	_ = name3
	for i, raw := range []string{c.Docs2, c.Docs3} {
		var f ReplyFramer
		n, err := f.Frame([]byte(raw))
		if err != nil || n == 0 || !bytes.Equal([]byte(raw[:n]), name2) {
			t.Errorf("%s: Docs%d does not start with the name: %q", c.Name, 2+i, raw[:min(len(raw), 40)])
			continue
		}
		if m, err := f.Frame([]byte(raw[n:])); err != nil || n+m != len(raw) {
			t.Errorf("%s: Docs%d is not name + one value", c.Name, 2+i)
		}
	}
}

func TestLookup(t *testing.T) {
	for _, tc := range []struct{ name, want string }{
		{"get", "get"}, {"GET", "get"}, {"gEt", "get"}, {"config", "config"}, {"GEORADIUS_RO", "georadius_ro"},
		{"restore-asking", "restore-asking"}, {"nope", ""}, {"", ""}, {"ge", ""}, {"gett", ""}, {"g\x00t", ""},
	} {
		c := Lookup([]byte(tc.name))
		if tc.want == "" {
			if c != nil {
				t.Errorf("Lookup(%q) = %s", tc.name, c.Name)
			}
			continue
		}
		if c == nil || c.Name != tc.want {
			t.Errorf("Lookup(%q) = %v, want %s", tc.name, c, tc.want)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"CONFIG", "get", "x"}, "config|get"}, {[]string{"config"}, "config"}, {[]string{"config", "nope"}, "config"},
		{[]string{"GET", "config"}, "get"}, {[]string{"nope"}, ""}, {nil, ""},
	} {
		c := LookupArgs(args(tc.args...))
		if (c == nil && tc.want != "") || (c != nil && c.Name != tc.want) {
			t.Errorf("LookupArgs(%q) = %v, want %q", tc.args, c, tc.want)
		}
	}
	cfg := Lookup([]byte("config"))
	if s := cfg.Sub([]byte("GET")); s == nil || s.Name != "config|get" || s.Parent != cfg {
		t.Errorf("config|get: %v", s)
	}
	if s := cfg.Sub([]byte("nope")); s != nil {
		t.Errorf("config|nope: %v", s)
	}
	if s := Lookup([]byte("get")).Sub([]byte("x")); s != nil {
		t.Errorf("get|x: %v", s)
	}
	for i, c := range Commands {
		if i > 0 && Commands[i-1].Name >= c.Name {
			t.Errorf("Commands not sorted at %d: %s", i, c.Name)
		}
		if AllCommands[c.ID] != c {
			t.Errorf("%s: ID %d", c.Name, c.ID)
		}
	}
	get := Lookup([]byte("get"))
	if !get.Has(FlagReadonly|FlagFast) || get.Has(FlagWrite) || !get.CheckArity(2) || get.CheckArity(3) {
		t.Errorf("get: flags %#x arity %d", get.Flags, get.Arity)
	}
	set := Lookup([]byte("set"))
	if !set.Has(FlagWrite|FlagDenyOOM) || !set.CheckArity(3) || !set.CheckArity(9) || set.CheckArity(2) {
		t.Errorf("set: flags %#x arity %d", set.Flags, set.Arity)
	}
	if s := Lookup([]byte("client")).Sub([]byte("list")); s == nil || !s.CheckArity(2) {
		t.Errorf("client|list: %v", s)
	}
}

func args(s ...string) [][]byte {
	a := make([][]byte, len(s))
	for i, x := range s {
		a[i] = []byte(x)
	}
	return a
}

// keyCases are requests whose keys are checked against a real server's COMMAND GETKEYS
// (TestKeyIndexesRedis) and against the expected indexes (TestKeyIndexes; nil = error).
var keyCases = []struct {
	req  []string
	want []int
}{
	{[]string{"GET", "k"}, []int{1}},
	{[]string{"get", "k"}, []int{1}},
	{[]string{"SET", "k", "v"}, []int{1}},
	{[]string{"SET", "k", "v", "GET"}, []int{1}},
	{[]string{"SET", "k", "v", "EX", "10", "NX"}, []int{1}},
	{[]string{"MSET", "a", "1", "b", "2", "c", "3"}, []int{1, 3, 5}},
	{[]string{"MSETNX", "a", "1", "b", "2"}, []int{1, 3}},
	{[]string{"MGET", "a", "b", "c"}, []int{1, 2, 3}},
	{[]string{"DEL", "a", "b"}, []int{1, 2}},
	{[]string{"UNLINK", "a"}, []int{1}},
	{[]string{"EXISTS", "a", "b", "a"}, []int{1, 2, 3}},
	{[]string{"TOUCH", "a", "b"}, []int{1, 2}},
	{[]string{"EVAL", "return 1", "2", "k1", "k2", "a1"}, []int{3, 4}},
	{[]string{"EVAL", "return 1", "0"}, []int{}},
	{[]string{"EVAL", "return 1", "0", "a1"}, []int{}},
	{[]string{"EVAL", "return 1", "3", "k1", "k2"}, nil},
	{[]string{"EVAL", "return 1", "-1", "k1"}, nil},
	{[]string{"EVAL", "return 1", "x", "k1"}, nil},
	{[]string{"EVALSHA", "abc", "1", "k1"}, []int{3}},
	{[]string{"EVAL_RO", "return 1", "1", "k1"}, []int{3}},
	{[]string{"FCALL", "f", "2", "k1", "k2", "a"}, []int{3, 4}},
	{[]string{"XREAD", "STREAMS", "s1", "s2", "0", "0"}, []int{2, 3}},
	{[]string{"XREAD", "COUNT", "2", "BLOCK", "0", "STREAMS", "s1", "0"}, []int{6}},
	{[]string{"XREAD", "STREAMS", "s1", "s2", "0"}, []int{2}},
	{[]string{"XREADGROUP", "GROUP", "g", "c", "STREAMS", "s1", "s2", ">", ">"}, []int{5, 6}},
	{[]string{"XREADGROUP", "GROUP", "streams", "c", "COUNT", "1", "STREAMS", "s1", ">"}, []int{7}},
	{[]string{"ZUNIONSTORE", "d", "2", "a", "b", "WEIGHTS", "1", "2"}, []int{1, 3, 4}},
	{[]string{"ZUNIONSTORE", "d", "0", "a"}, nil},
	{[]string{"ZINTERSTORE", "d", "1", "a"}, []int{1, 3}},
	{[]string{"ZDIFFSTORE", "d", "2", "a", "b"}, []int{1, 3, 4}},
	{[]string{"ZUNION", "2", "a", "b", "WITHSCORES"}, []int{2, 3}},
	{[]string{"ZINTERCARD", "2", "a", "b", "LIMIT", "1"}, []int{2, 3}},
	{[]string{"ZINTERCARD", "3", "a", "b"}, nil},
	{[]string{"SINTERCARD", "2", "a", "b"}, []int{2, 3}},
	{[]string{"SORT", "k"}, []int{1}},
	{[]string{"SORT", "k", "BY", "w_*", "LIMIT", "0", "1", "GET", "o_*", "STORE", "d"}, []int{1, 10}},
	{[]string{"SORT", "k", "STORE", "d1", "STORE", "d2"}, []int{1, 5}},
	{[]string{"SORT_RO", "k", "BY", "x"}, []int{1}},
	{[]string{"LMPOP", "2", "a", "b", "LEFT"}, []int{2, 3}},
	{[]string{"BLMPOP", "0", "2", "a", "b", "LEFT", "COUNT", "2"}, []int{3, 4}},
	{[]string{"ZMPOP", "1", "a", "MIN"}, []int{2}},
	{[]string{"BZMPOP", "1", "2", "a", "b", "MAX"}, []int{3, 4}},
	{[]string{"GEORADIUS", "g", "0", "0", "10", "km", "STORE", "d"}, []int{1, 7}},
	{[]string{"GEORADIUS", "g", "0", "0", "10", "km", "STOREDIST", "d"}, []int{1, 7}},
	{[]string{"GEORADIUS", "g", "0", "0", "10", "km", "WITHDIST"}, []int{1}},
	{[]string{"GEORADIUSBYMEMBER", "g", "m", "10", "km", "STORE", "d"}, []int{1, 6}},
	{[]string{"GEOSEARCHSTORE", "d", "s", "FROMMEMBER", "m", "BYRADIUS", "1", "km"}, []int{1, 2}},
	{[]string{"MIGRATE", "h", "1", "k", "0", "100"}, []int{3}},
	{[]string{"MIGRATE", "h", "1", "", "0", "100", "COPY", "KEYS", "a", "b"}, []int{8, 9}},
	{[]string{"MIGRATE", "h", "1", "", "0", "100", "AUTH", "keys", "KEYS", "a"}, []int{9}},
	{[]string{"MIGRATE", "h", "1", "", "0", "100", "AUTH2", "u", "keys", "KEYS", "a"}, []int{10}},
	{[]string{"OBJECT", "ENCODING", "k"}, []int{2}},
	{[]string{"OBJECT", "FREQ", "k"}, []int{2}},
	{[]string{"XINFO", "STREAM", "s", "FULL"}, []int{2}},
	{[]string{"XINFO", "GROUPS", "s"}, []int{2}},
	{[]string{"BITOP", "AND", "d", "a", "b"}, []int{2, 3, 4}},
	{[]string{"BITFIELD", "k", "GET", "u8", "0"}, []int{1}},
	{[]string{"BITFIELD_RO", "k", "GET", "u8", "0"}, []int{1}},
	{[]string{"COPY", "a", "b", "REPLACE"}, []int{1, 2}},
	{[]string{"LMOVE", "a", "b", "LEFT", "RIGHT"}, []int{1, 2}},
	{[]string{"BLMOVE", "a", "b", "LEFT", "RIGHT", "0"}, []int{1, 2}},
	{[]string{"RPOPLPUSH", "a", "b"}, []int{1, 2}},
	{[]string{"RENAME", "a", "b"}, []int{1, 2}},
	{[]string{"RENAMENX", "a", "b"}, []int{1, 2}},
	{[]string{"SMOVE", "a", "b", "m"}, []int{1, 2}},
	{[]string{"MEMORY", "USAGE", "k", "SAMPLES", "5"}, []int{2}},
	{[]string{"BLPOP", "a", "b", "0"}, []int{1, 2}},
	{[]string{"BZPOPMIN", "a", "b", "0"}, []int{1, 2}},
	{[]string{"PFCOUNT", "a", "b"}, []int{1, 2}},
	{[]string{"PFMERGE", "d", "a", "b"}, []int{1, 2, 3}},
	{[]string{"SUNIONSTORE", "d", "a", "b"}, []int{1, 2, 3}},
	{[]string{"SDIFF", "a", "b"}, []int{1, 2}},
	{[]string{"LCS", "a", "b"}, []int{1, 2}},
	{[]string{"WATCH", "a", "b"}, []int{1, 2}},
	{[]string{"XADD", "s", "*", "f", "v"}, []int{1}},
	{[]string{"XGROUP", "CREATE", "s", "g", "$"}, []int{2}},
	{[]string{"HSET", "h", "f", "v"}, []int{1}},
	{[]string{"GETEX", "k", "PERSIST"}, []int{1}},
	{[]string{"RESTORE", "k", "0", "x"}, []int{1}},
	{[]string{"DUMP", "k"}, []int{1}},
	{[]string{"PUBLISH", "ch", "m"}, []int{}},
	{[]string{"PING"}, []int{}},
	{[]string{"DBSIZE"}, []int{}},
}

func TestKeyIndexes(t *testing.T) {
	for _, tc := range keyCases {
		c := LookupArgs(args(tc.req...))
		if c == nil {
			t.Fatalf("%q: unknown command", tc.req)
		}
		got, err := c.KeyIndexes(args(tc.req...), nil)
		if tc.want == nil {
			if err == nil {
				t.Errorf("%q: keys %v, want an error", tc.req, got)
			}
			continue
		}
		if err != nil || fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%q: keys %v, %v; want %v", tc.req, got, err, tc.want)
		}
	}
	// Malformed requests must not panic, whatever the arity.
	for _, c := range AllCommands {
		for n := 0; n < 8; n++ {
			a := make([][]byte, n)
			for i := range a {
				a[i] = []byte(strconv.Itoa(i))
			}
			if n > 0 {
				a[0] = []byte(c.Name)
			}
			c.KeyIndexes(a, nil)
		}
	}
}

// startRedis starts a redis-server on a free loopback port and stops it (by PID) when the test ends.
func startRedis(t testing.TB) net.Conn {
	path, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server is not on PATH")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(path, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	for deadline := time.Now().Add(5 * time.Second); ; {
		c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err == nil {
			t.Cleanup(func() { c.Close() })
			return c
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// roundTrip sends one request and returns its raw reply, framed with ReplyFramer.
func roundTrip(t testing.TB, c net.Conn, a [][]byte) []byte {
	t.Helper()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(AppendRequest(nil, a)); err != nil {
		t.Fatal(err)
	}
	var f ReplyFramer
	var buf []byte
	tmp := make([]byte, 4096)
	for {
		n, err := f.Frame(buf)
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return buf[:n]
		}
		m, err := c.Read(tmp)
		if err != nil {
			t.Fatal(err)
		}
		buf = append(buf, tmp[:m]...)
	}
}

func TestKeyIndexesRedis(t *testing.T) {
	conn := startRedis(t)
	for _, tc := range keyCases {
		a := args(tc.req...)
		reply := roundTrip(t, conn, append(args("COMMAND", "GETKEYS"), a...))
		got, err := LookupArgs(a).KeyIndexes(a, nil)
		if IsError(reply) {
			if err == nil && len(got) > 0 {
				t.Errorf("%q: redis %q, we %v", tc.req, reply, got)
			}
			continue
		}
		elems, perr := ArrayElems(reply, nil)
		if perr != nil {
			t.Fatalf("%q: %q: %v", tc.req, reply, perr)
		}
		var want, have []string
		for _, e := range elems {
			want = append(want, string(blobPayload(e)))
		}
		for _, i := range got {
			have = append(have, string(a[i]))
		}
		if len(want) == 0 && err != nil {
			continue // Redis finds no key (EVAL with a bad numkeys); we refuse: the command will fail anyway
		}
		if err != nil || fmt.Sprint(want) != fmt.Sprint(have) {
			t.Errorf("%q: redis %q, we %q (%v)", tc.req, want, have, err)
		}
	}
}

// getKeysExtra are COMMAND GETKEYS(ANDFLAGS) requests beyond keyCases: Redis's own extraction
// and its flags, containers, arity and keyless commands.
var getKeysExtra = [][]string{
	{"SET", "k", "v", "get"}, {"SET", "k", "v", "EX", "1", "GET"}, {"SET", "k", "get"},
	{"BITFIELD", "k", "GET", "u8", "0", "OVERFLOW", "SAT"}, {"BITFIELD", "k", "INCRBY", "u8", "0", "1"},
	{"BITFIELD", "k", "GET", "u8"}, {"BITFIELD", "k", "NOSUCH"}, {"BITFIELD", "k"},
	{"SORT", "k", "STORE", "d"}, {"SORT_RO", "k"}, {"MIGRATE", "h", "1", "k", "0", "100", "REPLACE"},
	{"OBJECT", "ENCODING", "k"}, {"OBJECT", "NOSUCH", "k"}, {"OBJECT"}, {"CONFIG", "GET", "x"}, {"CONFIG"},
	{"DBSIZE"}, {"DBSIZE", "x"}, {"GET"}, {"GET", "a", "b"}, {"MSET", "a"}, {"EVAL", "return 1", "0"},
	{"FCALL", "f", "0"}, {"ZUNION", "0", "a"}, {"XREAD", "STREAMS", "s"}, {"NOSUCH", "a"},
	{"GEORADIUS", "g", "0", "0", "10", "km", "STORE"}, {"LMPOP", "x", "a", "LEFT"},
}

// TestGetKeysRedis: AppendGetKeys answers COMMAND GETKEYS and GETKEYSANDFLAGS byte for byte as
// a real server does, in RESP2 and RESP3.
func TestGetKeysRedis(t *testing.T) {
	conn := startRedis(t)
	reqs := getKeysExtra
	for _, tc := range keyCases {
		reqs = append(reqs, tc.req)
	}
	for _, proto := range []int{2, 3} {
		if proto == 3 {
			roundTrip(t, conn, args("HELLO", "3"))
		}
		for _, r := range reqs {
			if len(r) < 2 {
				continue // COMMAND GETKEYS's own arity: the server's dispatch checks it
			}
			a := args(r...)
			for _, sub := range []string{"GETKEYS", "GETKEYSANDFLAGS"} {
				want := string(roundTrip(t, conn, append(args("COMMAND", sub), a...)))
				got := string(AppendGetKeys(nil, proto, Lookup(a[0]), a, sub == "GETKEYSANDFLAGS"))
				if got != want {
					t.Errorf("RESP%d COMMAND %s %q:\n got %q\nwant %q", proto, sub, r, got, want)
				}
			}
		}
	}
}

// TestLookupProbes checks that no top-level command is more than a few slots from its hash in
// Lookup's open-addressing table, so that the hash stays good as the table grows.
func TestLookupProbes(t *testing.T) {
	worst, total := 0, 0
	for _, c := range Commands {
		if c.hidden {
			continue
		}
		h := nameHash([]byte(c.Name)) & (1<<lookupBits - 1)
		probes := 1
		for Commands[lookupTable[h]-1] != c {
			h = (h + 1) & (1<<lookupBits - 1)
			probes++
		}
		worst, total = max(worst, probes), total+probes
	}
	t.Logf("%d commands, %.2f probes on average, %d at most", len(Commands), float64(total)/float64(len(Commands)), worst)
	if worst > 6 || total > len(Commands)*3/2 {
		t.Errorf("a command needs %d probes (want at most 6, 1.5 on average): nameHash spreads the names badly", worst)
	}
}
