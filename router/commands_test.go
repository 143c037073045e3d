package router

import (
	"os"
	"strings"
	"testing"

	"github.com/slotgate/slotgate/codec"
)

// moduleCommands parses the COMMAND INFO reply codec captured from a redis-server with a
// RedisJSON-like module (codec/testdata/learnt).
func moduleCommands(t *testing.T) []*codec.Command {
	t.Helper()
	b, err := os.ReadFile("../codec/testdata/learnt/info.resp2")
	if err != nil {
		t.Fatal(err)
	}
	cmds, err := codec.ParseCommandInfo(b)
	if err != nil {
		t.Fatal(err)
	}
	return cmds
}

func names(cmds []*codec.Command) string {
	var n []string
	for _, c := range cmds {
		n = append(n, c.Name)
	}
	return strings.Join(n, " ")
}

// TestAgree: what is learnt from the masters' answers, and why the rest is not.
func TestAgree(t *testing.T) {
	learnt, skipped := agree([][]*codec.Command{moduleCommands(t), moduleCommands(t), moduleCommands(t)})
	if got := names(learnt); got != "json.get json.mset json.mergex json.debug" {
		t.Errorf("learnt %q", got)
	}
	if got := strings.Join(skipped, "; "); got != "json.resetstats (flag admin); json.waitfor (flag blocking)" {
		t.Errorf("skipped %q", got)
	}
	// json.debug keeps its keyed subcommand, whose parent is the learnt container.
	dbg := learnt[3]
	if len(dbg.Subcommands) != 1 || dbg.Subcommands[0].Parent != dbg || dbg.Sub([]byte("memory")) == nil {
		t.Errorf("json.debug: %+v", dbg)
	}

	// Mixed versions: a master without json.mset, one whose json.get has another arity.
	a, b, c := moduleCommands(t), moduleCommands(t), moduleCommands(t)
	b = slicesDelete(b, "json.mset")
	c[0].Arity = -3 // json.get
	learnt, skipped = agree([][]*codec.Command{a, b, c})
	if got := names(learnt); got != "json.mergex json.debug" {
		t.Errorf("mixed versions: learnt %q", got)
	}
	for _, want := range []string{"json.get (masters disagree)", "json.mset (not on every master)"} {
		if !strings.Contains(strings.Join(skipped, "; "), want) {
			t.Errorf("mixed versions: skipped %q, want %q in it", skipped, want)
		}
	}
	// A command only the second master has is not learnt either.
	learnt, _ = agree([][]*codec.Command{b, a})
	if strings.Contains(names(learnt), "json.mset") {
		t.Errorf("json.mset learnt from one master: %q", names(learnt))
	}
}

func slicesDelete(cmds []*codec.Command, name string) []*codec.Command {
	var out []*codec.Command
	for _, c := range cmds {
		if c.Name != name {
			out = append(out, c)
		}
	}
	return out
}

// TestRoutable: the rule of commands.go on commands of the generated table (which it never
// learns, but whose flags show the rule's reach).
func TestRoutable(t *testing.T) {
	for name, want := range map[string]string{
		"get": "", "getex": "", "lmpop": "", "copy": "", "object": "", "xadd": "", "mset": "",
		"sort":   "ACL category @dangerous",
		"bgsave": "flag admin,noscript",
		"blmpop": "flag blocking",
		"eval":   "flag noscript",
		"ping":   "ACL category @connection",
		"dbsize": "no key",
		"watch":  "flag noscript,allow_busy",
	} {
		c := codec.Lookup([]byte(name))
		keep, why := routable(c)
		if why != want || (keep == nil) != (want != "") {
			t.Errorf("%s: %q, want %q", name, why, want)
		}
	}
	// OBJECT keeps its keyed subcommands, not OBJECT HELP.
	table := codec.Lookup([]byte("object"))
	obj, _ := routable(table)
	if obj.Sub([]byte("help")) != nil || obj.Sub([]byte("encoding")).Parent != obj || table.Sub([]byte("encoding")).Parent != table {
		t.Errorf("object: %d subcommands", len(obj.Subcommands))
	}
}
