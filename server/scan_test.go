package server

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/slotgate/slotgate/router"
	"github.com/slotgate/slotgate/router/slot"
)

// SCAN cursors: every field survives the round trip, a live cursor is never 0, and cursors
// slotgate never makes are invalid.
func TestScanCursor(t *testing.T) {
	for _, c := range []scanCursor{
		{s: 0, e: 0, node: scanChecking},
		{s: 16383, e: 16383, tag: 255, node: scanChecking - 1},
		{s: 5461, e: 10922, tag: 7, node: 123456},
		{s: 100, e: 200, tag: 1, node: scanChecking},
	} {
		v := c.encode()
		if v == 0 {
			t.Fatalf("%+v encodes as 0, the end of a scan", c)
		}
		got, zero, ok := decodeScanCursor([]byte(strconv.FormatUint(v, 10)))
		if !ok || zero || got != c {
			t.Fatalf("%+v -> %d -> %+v, zero %v, ok %v", c, v, got, zero, ok)
		}
	}
	if _, zero, ok := decodeScanCursor([]byte("0")); !zero || !ok {
		t.Fatal("cursor 0 is the start")
	}
	// Slot 0 alone, epoch 0, pass not begun: not 0, and a cursor that begins slot 0 again.
	if v := (scanCursor{}).encode(); v == 0 {
		t.Fatal("a cursor of the scan's first range encodes as 0")
	} else if c, _, ok := decodeScanCursor([]byte(strconv.FormatUint(v, 10))); !ok || c.s != 0 || c.e != 0 || c.node != 0 {
		t.Fatalf("%d decodes as %+v", v, c)
	}
	bad := []string{"", "abc", "-1", "1.5", "18446744073709551616",
		strconv.FormatUint(scanCursor{s: 10, e: 5}.encode(), 10), // a range that ends before it begins
	}
	for _, b := range bad {
		if _, _, ok := decodeScanCursor([]byte(b)); ok {
			t.Fatalf("cursor %q accepted", b)
		}
	}
}

// The check after a master's pass: the walk goes on only when the master's own line still
// names the cursor's epoch, serves every slot of the range and migrates none of them.
func TestScanChecked(t *testing.T) {
	const nodes = "a 127.0.0.1:7000@17000 %s - 0 0 %s connected 0-5460%s\n" +
		"b 127.0.0.1:7001@17001 master - 0 0 2 connected 5461-10922\n" +
		"c 127.0.0.1:7002@17002 master - 0 0 3 connected 10923-16383\n"
	view := func(me, flags, epoch, extra string) string {
		lines := strings.Split(fmt.Sprintf(nodes, flags, epoch, extra), "\n")
		for i, l := range lines {
			if strings.HasPrefix(l, me+" ") {
				f := strings.Fields(l)
				f[2] = "myself," + f[2]
				lines[i] = strings.Join(f, " ")
			}
		}
		text := strings.Join(lines, "\n")
		return "$" + strconv.Itoa(len(text)) + "\r\n" + text + "\r\n"
	}
	parsed, err := router.ParseClusterNodes(fmt.Sprintf(nodes, "myself,master", "1", ""), "127.0.0.1:7000")
	if err != nil {
		t.Fatal(err)
	}
	top := router.BuildTopology(parsed)
	first := scanCursor{s: 0, e: 5460, tag: 1, node: scanChecking}
	next := func(c scanCursor) uint64 { return scanStart(top, c.e+1, 16383).encode() }
	for _, tc := range []struct {
		name  string
		c     scanCursor
		reply string
		want  uint64
		ok    bool
	}{
		{"done: the next range", first, view("a", "master", "1", ""), next(first), true},
		{"the last range: the end", scanCursor{s: 10923, e: 16383, tag: 3, node: scanChecking}, view("c", "master", "1", ""), 0, true},
		{"a slot left", first, strings.Replace(view("a", "master", "1", ""), "0-5460", "0-99 101-5460", 1), scanStart(top, 100, 16383).encode(), false},
		{"a slot migrating", first, view("a", "master", "1", " [200->-b]"), scanStart(top, 200, 16383).encode(), false},
		{"a slot importing elsewhere: fine", first, view("a", "master", "1", " [6000-<-b]"), next(first), true},
		{"a new epoch", first, view("a", "master", "9", ""), scanStart(top, 0, 16383).encode(), false},
		{"a replica now", first, strings.Replace(view("a", "slave", "1", ""), "slave -", "slave b", 1), scanStart(top, 0, 16383).encode(), false},
		{"another node answered", first, view("b", "master", "1", ""), scanStart(top, 0, 16383).encode(), false},
		{"not CLUSTER NODES", first, ":1\r\n", scanStart(top, 0, 16383).encode(), false},
	} {
		got, ok := scanChecked(top, []byte(tc.reply), tc.c, 16383)
		if got != tc.want || ok != tc.ok {
			t.Errorf("%s: next %d ok %v, want %d ok %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}

// A MATCH pattern pins the walk to one slot only when every key it matches has the same hash
// tag; the last MATCH counts.
func TestScanPinned(t *testing.T) {
	args := func(a ...string) [][]byte {
		out := [][]byte{[]byte("SCAN"), []byte("0")}
		for _, s := range a {
			out = append(out, []byte(s))
		}
		return out
	}
	for _, tc := range []struct {
		args []string
		tag  string // "" for no pin
	}{
		{[]string{"MATCH", "{user42}:*"}, "user42"},
		{[]string{"match", "a{b}c?", "COUNT", "10"}, "b"},
		{[]string{"MATCH", "{x}*", "MATCH", "{y}*"}, "y"},
		{[]string{"COUNT", "10", "MATCH", "p{q}"}, "q"},
		{[]string{"MATCH", "*{user42}"}, ""},
		{[]string{"MATCH", "{us*er}:1"}, ""},
		{[]string{"MATCH", "a?{b}"}, ""},
		{[]string{"MATCH", "[a]{b}"}, ""},
		{[]string{"MATCH", "\\{b}"}, ""},
		{[]string{"MATCH", "{}x"}, ""},
		{[]string{"MATCH", "{open"}, ""},
		{[]string{"MATCH", "plain*"}, ""},
		{[]string{"TYPE", "{t}"}, ""},
		{nil, ""},
	} {
		sl, ok := scanPinned(args(tc.args...))
		if ok != (tc.tag != "") || ok && sl != slot.Of([]byte(tc.tag)) {
			t.Errorf("%q: slot %d pinned %v, want the slot of %q", tc.args, sl, ok, tc.tag)
		}
	}
}

// The pages slotgate makes of a node's SCAN reply: keys outside the cursor's range dropped,
// the node's cursor in slotgate's, 0 turned into the check, a cursor past its bits or a
// malformed reply an error, the node's error as it came, a page of a node that lost s a
// restart of the range.
func TestScanPage(t *testing.T) {
	parsed, _ := router.ParseClusterNodes("a 127.0.0.1:7000@1 myself,master - 0 0 1 connected 0-5460\n"+
		"b 127.0.0.1:7001@1 master - 0 0 2 connected 5461-16383\n", "127.0.0.1:7000")
	top := router.BuildTopology(parsed)
	in, out := keyIn(0, 5460), keyIn(5461, 16383)
	bulk := func(s string) string { return "$" + strconv.Itoa(len(s)) + "\r\n" + s + "\r\n" }
	reply := func(cursor string, keys ...string) string {
		r := "*2\r\n" + bulk(cursor) + "*" + strconv.Itoa(len(keys)) + "\r\n"
		for _, k := range keys {
			r += bulk(k)
		}
		return r
	}
	page := func(cursor uint64, keys ...string) string { return reply(strconv.FormatUint(cursor, 10), keys...) }
	c := scanCursor{s: 0, e: 5460, tag: 1, node: 0}
	next := func(node uint64) uint64 { n := c; n.node = node; return n.encode() }
	var sc mergeScratch
	for _, tc := range []struct {
		name    string
		top     *router.Topology
		c       scanCursor
		reply   string
		want    string
		restart bool
	}{
		{"keys of the range kept", top, c, reply("17", in, out, in), page(next(17), in, in), false},
		{"the pass is over: check next", top, c, reply("0", out), page(next(scanChecking)), false},
		{"s changed owner on the way", top, scanCursor{s: 0, e: 5460, tag: 9, node: 5}, reply("17", in), page(scanCursor{s: 0, e: 5460, tag: 9}.encode(), in), true},
		{"the node's error", top, c, "-ERR syntax error\r\n", "-ERR syntax error\r\n", false},
		{"a cursor past 28 bits", top, c, reply(strconv.Itoa(scanChecking)),
			string(errScanTooLarge(nil, 0, scanChecking)), false},
		{"not a cursor", top, c, reply("x1", in), "-" + errScanReply + "\r\n", false},
		{"not a page", top, c, ":1\r\n", "-" + errScanReply + "\r\n", false},
	} {
		got, restarted := scanPage(nil, tc.top, []byte(tc.reply), tc.c, 16383, &sc)
		if string(got) != tc.want || restarted != tc.restart {
			t.Errorf("%s: got %q restart %v, want %q restart %v", tc.name, got, restarted, tc.want, tc.restart)
		}
	}
}

// keyIn returns a key whose slot is in [lo..hi].
func keyIn(lo, hi uint16) string {
	for i := 0; ; i++ {
		k := "k" + strconv.Itoa(i)
		if sl := slot.Of([]byte(k)); sl >= lo && sl <= hi {
			return k
		}
	}
}
