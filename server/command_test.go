package server

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/slotgate/slotgate/codec"
)

// moduleSet is the learnt set of the RedisJSON-like module whose replies codec captured from a
// redis-server 7.0 (codec/testdata/learnt).
func moduleSet(t *testing.T) *codec.CommandSet {
	t.Helper()
	read := func(name string) []byte {
		b, err := os.ReadFile("../codec/testdata/learnt/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	cmds, err := codec.ParseCommandInfo(read("info.resp2"))
	if err != nil {
		t.Fatal(err)
	}
	if err := codec.AttachDocs(cmds, read("docs.resp2"), false); err != nil {
		t.Fatal(err)
	}
	return codec.NewCommandSet(cmds)
}

// TestCommandListModule: COMMAND LIST FILTERBY MODULE names a learnt module's commands and
// subcommands as the server did (list.resp2), and COMMAND COUNT counts them.
func TestCommandListModule(t *testing.T) {
	set := moduleSet(t)
	got, err := codec.ArrayElems(commandList(nil, [][]byte{[]byte("FILTERBY"), []byte("module"), []byte("JSONlike")}, set), nil)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile("../codec/testdata/learnt/list.resp2")
	wantElems, _ := codec.ArrayElems(want, nil)
	var g, w []string
	for _, e := range got {
		g = append(g, string(e))
	}
	for _, e := range wantElems {
		w = append(w, string(e))
	}
	slices.Sort(g)
	slices.Sort(w)
	if !slices.Equal(g, w) {
		t.Errorf("FILTERBY MODULE: %q, want %q", g, w)
	}
	if r := string(commandList(nil, [][]byte{[]byte("FILTERBY"), []byte("MODULE"), []byte("other")}, set)); r != "*0\r\n" {
		t.Errorf("another module: %q", r)
	}
	all, _ := codec.ArrayElems(commandList(nil, nil, set), nil)
	if n := len(topCommands(set)); n != len(codec.Commands)+set.Len() || len(all) != len(codec.AllCommands)+set.Len()+1 {
		t.Errorf("%d top-level commands, %d names", n, len(all))
	}
	if c := lookupFull([]byte("JSON.DEBUG|memory"), set); c == nil || !strings.HasSuffix(c.Name, "|memory") {
		t.Errorf("lookupFull json.debug|memory: %v", c)
	}
}
