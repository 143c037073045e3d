package server

import (
	"testing"

	"github.com/slotgate/slotgate/codec"
)

// TestCommandClasses: every command of the table is described once, with a class and (refused)
// the error text; every name the route tables give is a command of the table, so a renamed or
// removed command cannot leave a stale row behind.
func TestCommandClasses(t *testing.T) {
	seen := map[string]bool{}
	for _, cc := range CommandClasses() {
		if seen[cc.Cmd.Name] {
			t.Errorf("%s listed twice", cc.Cmd.Name)
		}
		seen[cc.Cmd.Name] = true
		if cc.Class == "" || (cc.Class == ClassRefused && cc.Note == "") {
			t.Errorf("%s: class %q, note %q", cc.Cmd.Name, cc.Class, cc.Note)
		}
	}
	if len(seen) != len(codec.AllCommands) {
		t.Errorf("%d commands described, the table has %d", len(seen), len(codec.AllCommands))
	}
	for _, routes := range []map[string]route{topRoutes, subRoutes} {
		for name := range routes {
			if !seen[name] {
				t.Errorf("route for %s, which is not in the command table", name)
			}
		}
	}
	for name := range topRoutes {
		if c := codec.Lookup([]byte(name)); c != nil && classes[c.ID] == classRefused {
			t.Errorf("topRoutes describes %s, which the classifier refuses", name)
		}
	}
}
