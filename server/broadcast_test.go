package server

import (
	"strconv"
	"testing"
)

// The broadcast merge ops, one case per rule.
func TestMergeBroadcast(t *testing.T) {
	var sc mergeScratch
	sha := "$40\r\n0123456789012345678901234567890123456789\r\n"
	cases := []struct {
		name    string
		op      mergeOp
		replies []string
		arrived []int32
		want    string
	}{
		{"same: all agree", mergeSame, []string{sha, sha, sha}, []int32{2, 0, 1}, sha},
		{"same: first error to arrive", mergeSame, []string{sha, "-ERR one\r\n", "-ERR two\r\n"}, []int32{2, 1, 0}, "-ERR two\r\n"},
		{"same: disagreement", mergeSame, []string{"+OK\r\n", "+OK\r\n", ":1\r\n"}, []int32{0, 1, 2}, "-" + errDisagree + "\r\n"},
		{"and: every master must have it", mergeAndInts, []string{"*3\r\n:1\r\n:1\r\n:0\r\n", "*3\r\n:1\r\n:0\r\n:0\r\n", "*3\r\n:1\r\n:1\r\n:1\r\n"}, []int32{0, 1, 2}, "*3\r\n:1\r\n:0\r\n:0\r\n"},
		{"and: an error", mergeAndInts, []string{"*1\r\n:1\r\n", "-ERR x\r\n"}, []int32{0, 1}, "-ERR x\r\n"},
		{"and: lengths differ", mergeAndInts, []string{"*1\r\n:1\r\n", "*2\r\n:1\r\n:1\r\n"}, []int32{0, 1}, "-" + errMalformed + "\r\n"},
		{"and: not integers", mergeAndInts, []string{"*1\r\n$1\r\n1\r\n", "*1\r\n:1\r\n"}, []int32{0, 1}, "-" + errMalformed + "\r\n"},
		{"and: not an array", mergeAndInts, []string{":1\r\n", "*1\r\n:1\r\n"}, []int32{0, 1}, "-" + errMalformed + "\r\n"},
		{"sum", mergeSum, []string{":1\r\n", ":2\r\n", ":4\r\n"}, []int32{0, 1, 2}, ":7\r\n"},
		{"any ok: one killed", mergeAnyOK, []string{"-NOTBUSY No scripts\r\n", "+OK\r\n", "-NOTBUSY No scripts\r\n"}, []int32{0, 1, 2}, "+OK\r\n"},
		{"any ok: none busy", mergeAnyOK, []string{"-NOTBUSY a\r\n", "-NOTBUSY b\r\n"}, []int32{1, 0}, "-NOTBUSY b\r\n"},
		{"any ok: unkillable beats notbusy", mergeAnyOK, []string{"-NOTBUSY a\r\n", "-UNKILLABLE b\r\n"}, []int32{0, 1}, "-UNKILLABLE b\r\n"},
		{"concat: in part order", mergeConcat, []string{"*1\r\n$1\r\na\r\n", "*0\r\n", "*2\r\n$1\r\nb\r\n$1\r\nc\r\n"}, []int32{2, 0, 1}, "*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n"},
		{"concat: an error", mergeConcat, []string{"*0\r\n", "-ERR x\r\n"}, []int32{0, 1}, "-ERR x\r\n"},
		{"concat: not an array", mergeConcat, []string{"*0\r\n", ":1\r\n"}, []int32{0, 1}, "-" + errMalformed + "\r\n"},
		{"non-nil: first key to arrive", mergeNonNil, []string{"$1\r\na\r\n", "$-1\r\n", "$1\r\nc\r\n"}, []int32{1, 2, 0}, "$1\r\nc\r\n"},
		{"non-nil: a key beats an error", mergeNonNil, []string{"-ERR x\r\n", "$1\r\nb\r\n"}, []int32{0, 1}, "$1\r\nb\r\n"},
		{"non-nil: an error beats null", mergeNonNil, []string{"$-1\r\n", "-ERR x\r\n"}, []int32{0, 1}, "-ERR x\r\n"},
		{"non-nil: all null", mergeNonNil, []string{"$-1\r\n", "$-1\r\n"}, []int32{1, 0}, "$-1\r\n"},
		{"min", mergeMin, []string{":30\r\n", ":10\r\n", ":20\r\n"}, []int32{0, 1, 2}, ":10\r\n"},
		{"min: an error", mergeMin, []string{":30\r\n", "-ERR x\r\n"}, []int32{0, 1}, "-ERR x\r\n"},
		{"first: part 0 as it came", mergeFirst, []string{"*1\r\n$1\r\na\r\n", "-ERR other\r\n"}, []int32{1, 0}, "*1\r\n$1\r\na\r\n"},
	}
	for _, c := range cases {
		replies := make([][]byte, len(c.replies))
		for i, r := range c.replies {
			replies[i] = []byte(r)
		}
		got := string(mergeReplies(nil, c.op, nil, replies, c.arrived, &sc))
		if got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, got, c.want)
		}
	}
}

// A broadcast whose parts' replies pass the cap answers one clear error, and the parts after the
// cap are not kept.
func TestBroadcastCap(t *testing.T) {
	const limit = 100
	lp := &loop{}
	s := &session{lp: lp}
	s.alloc() // a request ahead, never answered: the merged reply waits in its slot
	seq := s.alloc()
	m := lp.newMerge(mergeSame, 3)
	m.limit, m.name = limit, "keys"
	s.slot(seq).merge = m
	big := []byte("$60\r\n" + string(make([]byte, 60)) + "\r\n")
	for p := int32(0); p < 3; p++ {
		s.deliverPart(seq, p, big)
		if len(m.buf) > limit {
			t.Fatalf("kept %d bytes of part replies, over the cap %d", len(m.buf), limit)
		}
	}
	if got, want := string(s.slot(seq).buf), "-ERR KEYS reply too large through slotgate; use SCAN\r\n"; got != want {
		t.Fatalf("merged reply past the cap = %q, want %q", got, want)
	}
}

// SLOWLOG GET: entries of every master, newest first by start time, at most the count.
func TestMergeSlowlog(t *testing.T) {
	entry := func(id, at int, cmd string) string {
		return "*6\r\n:" + strconv.Itoa(id) + "\r\n:" + strconv.Itoa(at) + "\r\n:15\r\n*1\r\n$" +
			strconv.Itoa(len(cmd)) + "\r\n" + cmd + "\r\n$15\r\n127.0.0.1:50000\r\n$0\r\n\r\n"
	}
	replies := [][]byte{
		[]byte("*2\r\n" + entry(7, 300, "a") + entry(6, 100, "b")),
		[]byte("*0\r\n"),
		[]byte("*2\r\n" + entry(2, 400, "c") + entry(1, 200, "d")),
	}
	var sc mergeScratch
	arrived := []int32{0, 1, 2}
	if got, want := string(mergeSlowlogGet(nil, replies, arrived, -1, nil, &sc)),
		"*4\r\n"+entry(2, 400, "c")+entry(7, 300, "a")+entry(1, 200, "d")+entry(6, 100, "b"); got != want {
		t.Errorf("all: got %q, want %q", got, want)
	}
	if got, want := string(mergeSlowlogGet(nil, replies, arrived, 2, nil, &sc)), "*2\r\n"+entry(2, 400, "c")+entry(7, 300, "a"); got != want {
		t.Errorf("count 2: got %q, want %q", got, want)
	}
	replies[1] = []byte("-ERR x\r\n")
	if got := string(mergeSlowlogGet(nil, replies, arrived, -1, nil, &sc)); got != "-ERR x\r\n" {
		t.Errorf("an error: got %q", got)
	}
	replies[1] = []byte("*1\r\n:1\r\n")
	if got := string(mergeSlowlogGet(nil, replies, arrived, -1, nil, &sc)); got != "-"+errMalformed+"\r\n" {
		t.Errorf("an entry that is not one: got %q", got)
	}
}

// SLOWLOG GET entries name their master in client-name; MEMORY DOCTOR's texts follow their
// master's address; MEMORY STATS maps each address to its master's reply.
func TestMergeNamesNodes(t *testing.T) {
	var sc mergeScratch
	entry := func(id, at int, name string) string {
		return "*6\r\n:" + strconv.Itoa(id) + "\r\n:" + strconv.Itoa(at) + "\r\n:15\r\n*1\r\n$3\r\nget\r\n$15\r\n127.0.0.1:50000\r\n$" +
			strconv.Itoa(len(name)) + "\r\n" + name + "\r\n"
	}
	replies := [][]byte{[]byte("*1\r\n" + entry(7, 300, "")), []byte("*1\r\n" + entry(2, 400, "app"))}
	addrs := []string{"10.0.0.1:7000", "10.0.0.2:7000"}
	got := string(mergeSlowlogGet(nil, replies, []int32{0, 1}, -1, addrs, &sc))
	if want := "*2\r\n" + entry(2, 400, "node=10.0.0.2:7000 app") + entry(7, 300, "node=10.0.0.1:7000"); got != want {
		t.Errorf("SLOWLOG GET: got %q, want %q", got, want)
	}
	old := [][]byte{[]byte("*1\r\n*4\r\n:1\r\n:5\r\n:9\r\n*1\r\n$3\r\nget\r\n")} // before Redis 4: no client fields
	if got, want := string(mergeSlowlogGet(nil, old, []int32{0}, -1, addrs, &sc)),
		"*1\r\n*6\r\n:1\r\n:5\r\n:9\r\n*1\r\n$3\r\nget\r\n$0\r\n\r\n$18\r\nnode=10.0.0.1:7000\r\n"; got != want {
		t.Errorf("SLOWLOG GET of 4 fields: got %q, want %q", got, want)
	}

	texts := [][]byte{[]byte("$9\r\nall good\n\r\n"), []byte("=12\r\ntxt:not good\r\n")}
	if got, want := string(mergeNodeTexts(nil, 2, texts, []int32{1, 0}, addrs)),
		"$48\r\n10.0.0.1:7000:\nall good\n\n10.0.0.2:7000:\nnot good\r\n"; got != want {
		t.Errorf("MEMORY DOCTOR: got %q, want %q", got, want)
	}
	if got, want := string(mergeNodeTexts(nil, 3, texts, []int32{1, 0}, addrs)),
		"=52\r\ntxt:10.0.0.1:7000:\nall good\n\n10.0.0.2:7000:\nnot good\r\n"; got != want {
		t.Errorf("MEMORY DOCTOR in RESP3: got %q, want %q", got, want)
	}
	stats := [][]byte{[]byte("*2\r\n$1\r\na\r\n:1\r\n"), []byte("*2\r\n$1\r\na\r\n:2\r\n")}
	if got, want := string(mergeNodeMaps(nil, 2, stats, []int32{0, 1}, addrs)),
		"*4\r\n$13\r\n10.0.0.1:7000\r\n*2\r\n$1\r\na\r\n:1\r\n$13\r\n10.0.0.2:7000\r\n*2\r\n$1\r\na\r\n:2\r\n"; got != want {
		t.Errorf("MEMORY STATS: got %q, want %q", got, want)
	}
	if got, want := string(mergeNodeMaps(nil, 3, stats, []int32{0, 1}, addrs)), "%2\r\n"; got[:4] != want {
		t.Errorf("MEMORY STATS in RESP3: got %q, want a map", got)
	}
	stats[1] = []byte("-ERR oom\r\n")
	if got := string(mergeNodeMaps(nil, 2, stats, []int32{0, 1}, addrs)); got != "-ERR oom\r\n" {
		t.Errorf("MEMORY STATS with an error: got %q", got)
	}
}
