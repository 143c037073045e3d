package server

import (
	"bytes"
	"strconv"
	"testing"

	"github.com/slotgate/slotgate/codec"
)

// FuzzMerge feeds mergeReplies random part replies (well-formed arrays of the right and wrong
// length, nulls, errors, RESP3 types, truncated and raw bytes) in a random arrival order. It must
// never panic, and whenever every reply is one complete RESP reply (all the router ever hands
// it), it must answer exactly what refMerge, a plain reading of the rules, answers.
func FuzzMerge(f *testing.F) {
	for _, s := range []struct {
		op     uint8
		keys   string
		script string
	}{
		{0, "\x00\x01\x00", "\x01\x00\x00\x00\x00"},                 // MGET, two parts, right counts
		{0, "\x00\x01\x01\x00", "\x02\x07\x01\x05\x03\x01\x09"},     // wrong counts, nulls
		{0, "\x00\x01\x02", "\x02\x00\x02\x00\x04\x05\x06\x07"},     // an error, RESP3
		{1, "\x00\x01\x02", "\x02\x04\x04\x04\x00\x01\x02\x03"},     // DEL: integers
		{1, "\x00\x01", "\x01\x02\x04\x08\x04\x09"},                 // an error among integers
		{2, "\x00\x01\x02\x03", "\x03\x08\x08\x08\x08\x02\x01"},     // MSET
		{0, "\x00\x01", "\x01\x06\x11\x00\x00\x07\x05-ERR \r\n"},    // truncated, raw
		{0, "\x00\x00\x01\x01", "\x01\x05\x01\x05\x02\x05\x03\x00"}, // sets, maps, pushes, attributes
	} {
		f.Add(s.op, []byte(s.keys), []byte(s.script))
	}
	var sc mergeScratch
	f.Fuzz(func(t *testing.T, op uint8, keys []byte, script []byte) {
		g := &replyGen{src: script}
		nparts := 1 + g.n(6)
		if len(keys) > 64 {
			keys = keys[:64]
		}
		mop := mergeOp(op % 3)
		keyPart := make([]int32, len(keys))
		perPart := make([]int, nparts)
		for i, b := range keys {
			keyPart[i] = int32(int(b) % nparts)
			perPart[keyPart[i]]++
		}
		arrived := make([]int32, nparts)
		for i := range arrived {
			arrived[i] = int32(i)
		}
		for i := nparts - 1; i > 0; i-- {
			j := g.n(i + 1)
			arrived[i], arrived[j] = arrived[j], arrived[i]
		}
		replies := make([][]byte, nparts)
		framed := true
		for p := range replies {
			replies[p] = g.reply(perPart[p])
			if n, err := new(codec.ReplyFramer).Frame(replies[p]); err != nil || n != len(replies[p]) {
				framed = false
			}
		}
		got := mergeReplies(nil, mop, keyPart, replies, arrived, &sc)
		if !framed {
			return // bytes the router never hands over: only no panic
		}
		want := refMerge(mop, keyPart, replies, arrived)
		if !bytes.Equal(got, want) {
			t.Fatalf("op %d, key parts %v, arrived %v, replies %q:\n got  %q\n want %q", mop, keyPart, arrived, replies, got, want)
		}
		if n, err := new(codec.ReplyFramer).Frame(got); err != nil || n != len(got) {
			t.Fatalf("merged reply %q is not one RESP reply: %d, %v", got, n, err)
		}
	})
}

// refMerge is the merge rule read plainly, with a RESP reader of its own.
func refMerge(op mergeOp, keyPart []int32, replies [][]byte, arrived []int32) []byte {
	for _, p := range arrived {
		if r := replies[p]; len(r) > 0 && (r[0] == '-' || r[0] == '!') {
			return r
		}
	}
	switch op {
	case mergeSum:
		var sum int64
		for _, r := range replies {
			sum += refInt(r)
		}
		return []byte(":" + strconv.FormatInt(sum, 10) + "\r\n")
	case mergeOK:
		return []byte("+OK\r\n")
	}
	elems := make([][][]byte, len(replies))
	for p, r := range replies {
		var ok bool
		if elems[p], ok = refElems(r); !ok {
			return []byte("-ERR slotgate: a node answered MGET with a malformed reply\r\n")
		}
	}
	out := []byte("*" + strconv.Itoa(len(keyPart)) + "\r\n")
	for _, p := range keyPart {
		if len(elems[p]) == 0 {
			return []byte("-ERR slotgate: a node answered MGET with too few values\r\n")
		}
		out = append(out, elems[p][0]...)
		elems[p] = elems[p][1:]
	}
	return out
}

// refInt is an integer reply's value; anything else counts 0 (Redis's own integers are
// canonical decimals: no '+', no leading zero, no "-0").
func refInt(r []byte) int64 {
	if len(r) < 4 || r[0] != ':' {
		return 0
	}
	line, _, ok := bytes.Cut(r[1:], []byte("\r"))
	if !ok {
		return 0
	}
	v, err := strconv.ParseInt(string(line), 10, 64)
	if err != nil || strconv.FormatInt(v, 10) != string(line) {
		return 0
	}
	return v
}

// refElems returns the top-level elements of an aggregate reply (after any attributes; a map's
// keys and values each count), or false.
func refElems(r []byte) ([][]byte, bool) {
	for len(r) > 0 && r[0] == '|' {
		n, rest, ok := refHeader(r)
		if !ok || n < 0 {
			return nil, false
		}
		for range 2 * n {
			end, ok := refValue(rest)
			if !ok {
				return nil, false
			}
			rest = rest[end:]
		}
		r = rest
	}
	if len(r) == 0 || !bytes.ContainsRune([]byte("*~>%"), rune(r[0])) {
		return nil, false
	}
	n, rest, ok := refHeader(r)
	if !ok {
		return nil, false
	}
	if r[0] == '%' {
		n *= 2
	}
	var elems [][]byte
	for range max(n, 0) {
		end, ok := refValue(rest)
		if !ok {
			return nil, false
		}
		elems = append(elems, rest[:end])
		rest = rest[end:]
	}
	return elems, true
}

// refHeader reads a type byte and its canonical count line (-1 allowed).
func refHeader(r []byte) (int, []byte, bool) {
	line, rest, ok := bytes.Cut(r[1:], []byte("\r\n"))
	if !ok {
		return 0, nil, false
	}
	n, err := strconv.Atoi(string(line))
	if err != nil || strconv.Itoa(n) != string(line) || n < -1 {
		return 0, nil, false
	}
	return n, rest, true
}

// refValue returns the length of the one RESP value at the start of b.
func refValue(b []byte) (int, bool) {
	if len(b) == 0 {
		return 0, false
	}
	line, _, ok := bytes.Cut(b[1:], []byte("\r"))
	if !ok || len(b) < len(line)+3 || b[len(line)+2] != '\n' {
		return 0, false
	}
	start := len(line) + 3
	switch b[0] {
	case '+', '-', ':', '_', ',', '#', '(':
		return start, true
	}
	n, _, ok := refHeader(b)
	if !ok || (n == -1 && b[0] != '$' && b[0] != '*') {
		return 0, false
	}
	switch b[0] {
	case '$', '!', '=':
		if n == -1 {
			return start, true
		}
		if len(b) < start+n+2 || string(b[start+n:start+n+2]) != "\r\n" {
			return 0, false
		}
		return start + n + 2, true
	case '*', '~', '>', '%', '|':
	default:
		return 0, false
	}
	count := max(n, 0)
	if b[0] == '%' || b[0] == '|' {
		count *= 2
	}
	if b[0] == '|' {
		count++ // the reply the attribute describes
	}
	end := start
	for range count {
		m, ok := refValue(b[end:])
		if !ok {
			return 0, false
		}
		end += m
	}
	return end, true
}

// replyGen makes RESP replies from fuzz bytes (zeros once they run out).
type replyGen struct {
	src []byte
}

func (g *replyGen) byte() byte {
	if len(g.src) == 0 {
		return 0
	}
	b := g.src[0]
	g.src = g.src[1:]
	return b
}

// n is a number in [0, k).
func (g *replyGen) n(k int) int { return int(g.byte()) % k }

// reply is one part's reply, for a part holding keys keys.
func (g *replyGen) reply(keys int) []byte {
	switch g.n(10) {
	case 0, 1: // MGET's answer
		return g.array('*', keys, 0)
	case 2: // the wrong number of values
		return g.array('*', max(keys+g.n(5)-2, 0), 0)
	case 3: // errors: Redis's, a blob error, slotgate's own
		return [][]byte{[]byte("-ERR x\r\n"), []byte("!5\r\nERR x\r\n"), []byte("-MOVED 1 127.0.0.1:1\r\n"),
			errBackendLostForTest}[g.n(4)]
	case 4: // integers, canonical or not
		return []byte(":" + []string{"0", "1", "-3", "9223372036854775807", "+5", "007", "-0", "x"}[g.n(8)] + "\r\n")
	case 5: // RESP3 aggregates, and an attribute before the array
		switch g.n(4) {
		case 0:
			return g.array('~', keys, 0)
		case 1:
			return g.array('>', keys, 0)
		case 2:
			return g.array('%', (keys+1)/2, 0)
		}
		return append([]byte("|1\r\n+key\r\n+val\r\n"), g.array('*', keys, 0)...)
	case 6: // truncated
		a := g.array('*', keys, 0)
		return a[:g.n(len(a))]
	case 7: // raw bytes
		n := g.n(12)
		b := make([]byte, n)
		for i := range b {
			b[i] = g.byte()
		}
		return b
	case 8: // scalars and nulls
		return [][]byte{[]byte("+OK\r\n"), []byte("*-1\r\n"), []byte("_\r\n"), []byte("$-1\r\n"), []byte("$1\r\n1\r\n")}[g.n(5)]
	}
	return g.array('*', keys, 0)
}

var errBackendLostForTest = []byte("-ERR slotgate lost the connection to node 127.0.0.1:1 before its reply (EOF)\r\n")

// array is an aggregate of type t with n elements (pairs for a map).
func (g *replyGen) array(t byte, n, depth int) []byte {
	b := append([]byte{t}, strconv.Itoa(n)+"\r\n"...)
	if t == '%' {
		n *= 2
	}
	for range n {
		b = append(b, g.elem(depth)...)
	}
	return b
}

// elem is one element of an aggregate: any RESP2 or RESP3 type.
func (g *replyGen) elem(depth int) []byte {
	switch g.n(14) {
	case 0, 1:
		v := make([]byte, g.n(6))
		for i := range v {
			v[i] = "ab\r\n$*"[g.n(6)]
		}
		return codec.AppendBulk(nil, v)
	case 2:
		return []byte("$-1\r\n")
	case 3:
		return []byte("_\r\n")
	case 4:
		return []byte(":42\r\n")
	case 5:
		return []byte("+simple\r\n")
	case 6:
		return []byte(",3.14\r\n")
	case 7:
		return []byte("#t\r\n")
	case 8:
		return []byte("(12345678901234567890\r\n")
	case 9:
		return []byte("=7\r\ntxt:abc\r\n")
	case 10:
		return []byte("!3\r\nERR\r\n")
	case 11:
		return []byte("-ERR inside\r\n")
	case 12:
		if depth < 3 {
			return g.array("*~%"[g.n(3)], g.n(3), depth+1)
		}
	case 13:
		return []byte("*-1\r\n")
	}
	return []byte("$0\r\n\r\n")
}

// After a warm-up, merging allocates nothing: DEL, MSET and MGET.
func TestMergeRepliesAllocs(t *testing.T) {
	var sc mergeScratch
	dst := make([]byte, 0, 256)
	arrived := []int32{1, 0, 2}
	keyPart := []int32{0, 1, 2, 0}
	ints := [][]byte{[]byte(":1\r\n"), []byte(":0\r\n"), []byte(":1\r\n")}
	oks := [][]byte{[]byte("+OK\r\n"), []byte("+OK\r\n"), []byte("+OK\r\n")}
	arrays := [][]byte{[]byte("*2\r\n$1\r\na\r\n$-1\r\n"), []byte("*1\r\n$1\r\nb\r\n"), []byte("*1\r\n$1\r\nc\r\n")}
	for _, tc := range []struct {
		op      mergeOp
		replies [][]byte
		want    string
	}{
		{mergeSum, ints, ":2\r\n"},
		{mergeOK, oks, "+OK\r\n"},
		{mergeArray, arrays, "*4\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$-1\r\n"},
	} {
		var out []byte
		allocs := testing.AllocsPerRun(100, func() {
			out = mergeReplies(dst[:0], tc.op, keyPart, tc.replies, arrived, &sc)
		})
		if string(out) != tc.want || allocs != 0 {
			t.Errorf("op %d: %q with %.1f allocations, want %q with none", tc.op, out, allocs, tc.want)
		}
	}
}

// The first error to arrive is the answer, whichever part it came from.
func TestMergeRepliesFirstErrorArrived(t *testing.T) {
	replies := [][]byte{[]byte("-ERR zero\r\n"), []byte(":1\r\n"), []byte("-ERR two\r\n")}
	var sc mergeScratch
	if got := mergeReplies(nil, mergeSum, nil, replies, []int32{1, 2, 0}, &sc); string(got) != "-ERR two\r\n" {
		t.Errorf("got %q, want the error of part 2, which came first", got)
	}
}
