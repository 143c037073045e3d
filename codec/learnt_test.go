package codec

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// readLearnt reads a reply captured from a redis-server 7.0 that loaded testdata/learnt/jsonlike.c
// (capture.sh), whose commands look like RedisJSON's.
func readLearnt(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "learnt", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// learntModule parses the captured COMMAND INFO and COMMAND DOCS (RESP2 and RESP3).
func learntModule(t *testing.T) *CommandSet {
	t.Helper()
	cmds, err := ParseCommandInfo(readLearnt(t, "info.resp2"))
	if err != nil {
		t.Fatal(err)
	}
	if err := AttachInfo3(cmds, readLearnt(t, "info.resp3")); err != nil {
		t.Fatal(err)
	}
	if err := AttachDocs(cmds, readLearnt(t, "docs.resp2"), false); err != nil {
		t.Fatal(err)
	}
	if err := AttachDocs(cmds, readLearnt(t, "docs.resp3"), true); err != nil {
		t.Fatal(err)
	}
	return NewCommandSet(cmds)
}

func TestParseCommandInfoModule(t *testing.T) {
	set := learntModule(t)
	var names []string
	for _, c := range set.Commands() {
		names = append(names, c.Name)
	}
	if got := strings.Join(names, " "); got != "json.debug json.get json.mergex json.mset json.resetstats json.waitfor" {
		t.Fatalf("commands %q (the null entry of 'nosuch' must be skipped)", got)
	}
	want := map[string]struct {
		arity             int
		flags             Flag
		first, last, step int
		specs             []KeySpec
	}{
		// RedisModule_CreateCommand("json.get", "readonly", 1, 1, 1): Redis derives one spec.
		"json.get": {-1, FlagReadonly | FlagModule, 1, 1, 1, []KeySpec{
			{Flags: KeyRW | KeyAccess | KeyUpdate, BeginSearch: SearchIndex, Index: 1, FindKeys: FindRange, LastKey: 0, KeyStep: 1}}},
		"json.mset": {-4, FlagWrite | FlagDenyOOM | FlagModule, 1, -1, 3, []KeySpec{
			{Flags: KeyRW | KeyUpdate, BeginSearch: SearchIndex, Index: 1, FindKeys: FindRange, LastKey: -1, KeyStep: 3}}},
		"json.mergex": {-5, FlagWrite | FlagModule | FlagMovableKeys, 0, 0, 0, []KeySpec{
			{Flags: KeyRO | KeyAccess, BeginSearch: SearchIndex, Index: 1, FindKeys: FindKeynum, KeynumIdx: 0, FirstKey: 1, KeyStep: 1},
			{Flags: KeyOW | KeyUpdate, BeginSearch: SearchKeyword, Keyword: "STORE", StartFrom: -1, FindKeys: FindRange, LastKey: 0, KeyStep: 1}}},
		"json.resetstats": {-1, FlagModule | FlagAdmin, 0, 0, 0, nil},
		"json.waitfor": {-1, FlagWrite | FlagModule | FlagBlocking, 1, 1, 1, []KeySpec{
			{Flags: KeyRW | KeyAccess | KeyUpdate, BeginSearch: SearchIndex, Index: 1, FindKeys: FindRange, LastKey: 0, KeyStep: 1}}},
		"json.debug": {-2, FlagModule, 0, 0, 0, nil},
	}
	for name, w := range want {
		c := set.Lookup([]byte(strings.ToUpper(name)))
		if c == nil {
			t.Fatalf("%s: not found", name)
		}
		if c.ID != LearntID || c.Arity != w.arity || c.Flags != w.flags || c.FirstKey != w.first || c.LastKey != w.last || c.Step != w.step {
			t.Errorf("%s: id %d arity %d flags %#x keys %d,%d,%d; want %+v", name, c.ID, c.Arity, c.Flags, c.FirstKey, c.LastKey, c.Step, w)
		}
		if len(c.KeySpecs) != len(w.specs) {
			t.Errorf("%s: specs %+v, want %+v", name, c.KeySpecs, w.specs)
		}
		for i := range w.specs {
			if i < len(c.KeySpecs) && c.KeySpecs[i] != w.specs[i] {
				t.Errorf("%s: spec %d %+v, want %+v", name, i, c.KeySpecs[i], w.specs[i])
			}
		}
		if c.Module != "jsonlike" || len(c.Unknown) > 0 {
			t.Errorf("%s: module %q, unknown %q", name, c.Module, c.Unknown)
		}
		if !strings.HasPrefix(c.Info2, "*10\r\n$") || !strings.HasPrefix(c.Info3, "*10\r\n$") || c.Info2 == c.Info3 && len(c.KeySpecs) > 0 {
			t.Errorf("%s: raw entries %.40q / %.40q", name, c.Info2, c.Info3)
		}
		if !strings.HasPrefix(c.Docs2, "$"+strconv.Itoa(len(name))+"\r\n"+name+"\r\n*") || !strings.HasPrefix(c.Docs3, "$"+strconv.Itoa(len(name))+"\r\n"+name+"\r\n%") {
			t.Errorf("%s: docs %.60q / %.60q", name, c.Docs2, c.Docs3)
		}
	}
	dbg := set.Lookup([]byte("json.debug"))
	mem := dbg.Sub([]byte("MEMORY"))
	if len(dbg.Subcommands) != 1 || mem == nil || mem.Name != "json.debug|memory" || mem.Parent != dbg || mem.Arity != -2 ||
		len(mem.KeySpecs) != 1 || mem.KeySpecs[0].Index != 2 || mem.Module != "jsonlike" || mem.Docs2 == "" || mem.Info3 == mem.Info2 {
		t.Errorf("json.debug|memory: %+v", mem)
	}
	if set.Lookup([]byte("get")) != nil || set.Lookup([]byte("nosuch")) != nil || (*CommandSet)(nil).Lookup([]byte("json.get")) != nil {
		t.Error("lookup of a command not in the set")
	}
	if set.Lookup([]byte(strings.Repeat("x", 100))) != nil {
		t.Error("lookup of a long name")
	}
}

// TestLearntGetKeys: COMMAND GETKEYSANDFLAGS of the module's commands, built from the parsed
// entries, is byte for byte what the server answered (keys.resp2, one reply per line of keys.txt).
func TestLearntGetKeys(t *testing.T) {
	set := learntModule(t)
	replies := readLearnt(t, "keys.resp2")
	var f ReplyFramer
	for _, line := range strings.Split(strings.TrimSpace(string(readLearnt(t, "keys.txt"))), "\n") {
		n, err := f.Frame(replies)
		if err != nil || n == 0 {
			t.Fatalf("keys.resp2 ends before %q", line)
		}
		want := string(replies[:n])
		replies = replies[n:]
		req := args(strings.Fields(line)...)
		if req[0] == nil {
			continue
		}
		var got string
		if len(req) < 2 { // COMMAND GETKEYSANDFLAGS x: arity of the subcommand
			got = "-ERR wrong number of arguments for 'command|getkeysandflags' command\r\n"
			if c := Lookup([]byte("command")).Sub([]byte("getkeysandflags")); c.CheckArity(len(req) + 2) {
				t.Errorf("command|getkeysandflags takes %d args", len(req)+2)
			}
		} else {
			got = string(AppendGetKeys(nil, 2, set.Lookup(req[0]), req, true))
		}
		if got != want {
			t.Errorf("%q:\n got %q\nwant %q", line, got, want)
		}
	}
}

func TestSameRouting(t *testing.T) {
	a, b := learntModule(t), learntModule(t)
	for _, c := range a.Commands() {
		if !c.SameRouting(b.Lookup([]byte(c.Name))) {
			t.Errorf("%s differs from itself", c.Name)
		}
	}
	mset := b.Lookup([]byte("json.mset"))
	mset.KeySpecs[0].KeyStep = 2
	if a.Lookup([]byte("json.mset")).SameRouting(mset) {
		t.Error("a different key step routes alike")
	}
	dbg := b.Lookup([]byte("json.debug"))
	dbg.Subcommands[0].Arity = 3
	if a.Lookup([]byte("json.debug")).SameRouting(dbg) {
		t.Error("a different subcommand routes alike")
	}
}

// TestParseCommandInfoOld: entries of a Redis before 7 (no tips, specs or subcommands; before
// 6, no ACL categories) and flags this codec does not know.
func TestParseCommandInfoOld(t *testing.T) {
	reply := "*3\r\n" +
		"*7\r\n$8\r\njson.get\r\n:-2\r\n*2\r\n+readonly\r\n+module\r\n:1\r\n:1\r\n:1\r\n*0\r\n" +
		"*6\r\n$7\r\nfoo.bar\r\n:3\r\n*1\r\n+write\r\n:1\r\n:2\r\n:1\r\n" +
		"*10\r\n$3\r\nnew\r\n:2\r\n*1\r\n+teleport\r\n:1\r\n:1\r\n:1\r\n*0\r\n*0\r\n*1\r\n*6\r\n$5\r\nflags\r\n*1\r\n+RO\r\n$12\r\nbegin_search\r\n*4\r\n$4\r\ntype\r\n$5\r\nindex\r\n$4\r\nspec\r\n*2\r\n$5\r\nindex\r\n:1\r\n$9\r\nfind_keys\r\n*4\r\n$4\r\ntype\r\n$4\r\nwarp\r\n$4\r\nspec\r\n*0\r\n*0\r\n"
	cmds, err := ParseCommandInfo([]byte(reply))
	if err != nil || len(cmds) != 3 {
		t.Fatalf("%d commands, %v", len(cmds), err)
	}
	get, foo, nw := cmds[0], cmds[1], cmds[2]
	if get.Name != "json.get" || get.Arity != -2 || get.Flags != FlagReadonly|FlagModule || get.FirstKey != 1 || len(get.KeySpecs) != 0 {
		t.Errorf("json.get: %+v", get)
	}
	keys, err := get.KeyIndexes(args("JSON.GET", "a", "b"), nil)
	if err != nil || len(keys) != 1 || keys[0] != 1 {
		t.Errorf("json.get keys %v %v", keys, err)
	}
	if foo.Name != "foo.bar" || foo.LastKey != 2 || foo.ACLCategories != nil {
		t.Errorf("foo.bar: %+v", foo)
	}
	if keys, _ := foo.KeyIndexes(args("foo.bar", "a", "b"), nil); len(keys) != 2 {
		t.Errorf("foo.bar keys %v", keys)
	}
	if strings.Join(nw.Unknown, ",") != "flag teleport,find_keys warp" {
		t.Errorf("new: unknown %q", nw.Unknown)
	}
	for _, bad := range []string{"-ERR no\r\n", "*1\r\n*2\r\n$1\r\nx\r\n:1\r\n", "*1\r\n*6\r\n$0\r\n\r\n:1\r\n*0\r\n:0\r\n:0\r\n:0\r\n", "*1\r\n*6\r\n$1\r\nx\r\n$1\r\n1\r\n*0\r\n:0\r\n:0\r\n:0\r\n", "+OK\r\n"} {
		if _, err := ParseCommandInfo([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// FuzzParseCommandInfo: a node's reply, however malformed, never panics the parser.
func FuzzParseCommandInfo(f *testing.F) {
	f.Add(readLearntF(f, "info.resp2"))
	f.Add(readLearntF(f, "info.resp3"))
	f.Add([]byte("*1\r\n*10\r\n$1\r\nx\r\n:1\r\n*0\r\n:0\r\n:0\r\n:0\r\n*0\r\n*0\r\n*1\r\n*1\r\n$5\r\nflags\r\n*0\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		cmds, err := ParseCommandInfo(b)
		if err != nil {
			return
		}
		_ = AttachInfo3(cmds, b)
		_ = AttachDocs(cmds, b, false)
		set := NewCommandSet(cmds)
		for _, c := range set.Commands() {
			_ = AppendGetKeys(nil, 3, c, args(c.Name, "a", "1", "b", "2"), true)
		}
	})
}

func readLearntF(f *testing.F, name string) []byte {
	b, err := os.ReadFile(filepath.Join("testdata", "learnt", name))
	if err != nil {
		f.Fatal(err)
	}
	return b
}

func TestHideForTest(t *testing.T) {
	t.Cleanup(func() { HideForTest() })
	HideForTest("getex", "LMPOP", "nosuch")
	if Lookup([]byte("getex")) != nil || Lookup([]byte("lmpop")) != nil || !Lookup([]byte("get")).Has(FlagReadonly) {
		t.Fatal("hidden commands still found, or others lost")
	}
	hidden := 0
	for _, c := range Commands {
		if c.Hidden() {
			hidden++
		}
	}
	if hidden != 2 {
		t.Fatalf("%d hidden", hidden)
	}
	HideForTest()
	if Lookup([]byte("getex")) == nil || Lookup([]byte("lmpop")).Hidden() {
		t.Fatal("not shown again")
	}
}
