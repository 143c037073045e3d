package codec

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

type parsed struct {
	args     []string
	inline   bool
	consumed int
	err      error
}

func (p parsed) String() string {
	return fmt.Sprintf("args=%q inline=%v consumed=%d err=%v", p.args, p.inline, p.consumed, p.err)
}

func result(req *Request, n int, err error) parsed {
	p := parsed{inline: req.Inline, consumed: n, err: err}
	for _, a := range req.Args {
		p.args = append(p.args, string(a))
	}
	return p
}

// parseWhole frames one request from the whole of buf.
func parseWhole(buf []byte) (parsed, int) {
	var req Request
	n, err := ReadRequest(buf, &req)
	return result(&req, n, err), req.Need()
}

// parseBytes feeds buf one byte more at a time, each time in a fresh copy (gnet may copy), until
// ReadRequest completes or fails. It checks Need() on every "incomplete".
func parseBytes(t testing.TB, buf []byte) parsed {
	var req Request
	for i := 0; i <= len(buf); i++ {
		cp := buf[:i]
		if len(buf) < 1024 { // a fresh copy each time, as gnet may give (quadratic: small inputs only)
			cp = append([]byte(nil), buf[:i]...)
		}
		n, err := ReadRequest(cp, &req)
		if err != nil || n > 0 {
			return result(&req, n, err)
		}
		if req.Need() <= i {
			t.Fatalf("%q: Need() = %d after %d bytes", buf, req.Need(), i)
		}
		if len(req.Args) != 0 {
			t.Fatalf("%q: args on incomplete", buf)
		}
	}
	return parsed{}
}

// parseJumps feeds buf by jumping to Need() each time.
func parseJumps(t testing.TB, buf []byte) parsed {
	var req Request
	i := 0
	for steps := 0; ; steps++ {
		cp := buf[:i]
		if len(buf) < 1024 {
			cp = append([]byte(nil), buf[:i]...)
		}
		n, err := ReadRequest(cp, &req)
		if err != nil || n > 0 {
			return result(&req, n, err)
		}
		if i == len(buf) {
			return parsed{}
		}
		i = min(req.Need(), len(buf))
	}
}

func TestReadRequest(t *testing.T) {
	big := strings.Repeat("x", 100000)
	for _, tc := range []struct {
		in       string
		args     []string // nil: incomplete (with err nil) or error
		consumed int      // 0 means len(in)
		err      error
		inline   bool
	}{
		{in: "*1\r\n$4\r\nPING\r\n", args: []string{"PING"}},
		{in: "*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n", args: []string{"GET", "key"}},
		{in: "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n", args: []string{"SET", "k", ""}},
		{in: "*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n*1\r\n$4\r\nPING\r\n", args: []string{"GET", "key"}, consumed: 22},
		{in: "*1\r\n$5\r\na\r\nbc\r\n", args: []string{"a\r\nbc"}},
		{in: "*0\r\n", args: []string{}},
		{in: "*-1\r\n", args: []string{}},
		{in: "*-5\r\n", args: []string{}},
		{in: "\r\n", args: []string{}},
		{in: "\n", args: []string{}},
		{in: "   \t \r\n", args: []string{}},
		{in: "PING\r\n", args: []string{"PING"}, inline: true},
		{in: "PING\n", args: []string{"PING"}, inline: true},
		{in: "ping\r\nPING\r\n", args: []string{"ping"}, inline: true, consumed: 6},
		{in: "set  k   v\r\n", args: []string{"set", "k", "v"}, inline: true},
		{in: "set k \"a b\\n\\x41\\\"\"\r\n", args: []string{"set", "k", "a b\nA\""}, inline: true},
		{in: "set k 'it\\'s \"x\"'\r\n", args: []string{"set", "k", "it's \"x\""}, inline: true},
		{in: "set k \"\"\r\n", args: []string{"set", "k", ""}, inline: true},
		{in: "set k ''\n", args: []string{"set", "k", ""}, inline: true},
		{in: "a\"b c\"d e\r\n", err: ErrUnbalancedQuotes},
		{in: "a\"b c\" d\r\n", args: []string{"ab c", "d"}, inline: true},
		{in: "set k \"abc\r\n", err: ErrUnbalancedQuotes},
		{in: "set k 'abc\r\n", err: ErrUnbalancedQuotes},
		{in: "set k \"a\"b\r\n", err: ErrUnbalancedQuotes},
		{in: "set k \"\\x4g\\t\\b\\a\\z\\\\\"\r\n", args: []string{"set", "k", "x4g\t\b\az\\"}, inline: true},
		{in: "get a\x00b c\r\n"}, // Redis's strchr stops at the NUL: waits for more
		{in: "get \"a\x00b\"\r\n"},
		{in: "get a\x00" + big, err: ErrTooBigInline},
		{in: "*1\x00\r\n$1\r\na\r\n"},
		{in: "*1\x00\r\n" + big, err: ErrTooBigMultibulkCount},
		{in: "*1\r\n$1\x00\r\na\r\n"},
		{in: "*1\r\n$1\r\n\x00\r\n", args: []string{"\x00"}},
		{in: "*1\r\n$3\r\na\x00\r\r\n", args: []string{"a\x00\r"}},
		{in: "get\va\r\n", args: []string{"get\va"}, inline: true},
		{in: "*1\r\n$-2\r\n", err: ErrInvalidBulkLength},
		{in: "*1\r\n$-1\r\n", err: ErrInvalidBulkLength},
		{in: "*1\r\n$x\r\n", err: ErrInvalidBulkLength},
		{in: "*1\r\n$\r\n", err: ErrInvalidBulkLength},
		{in: "*1\r\n$01\r\n", err: ErrInvalidBulkLength},
		{in: "*1\r\n$536870913\r\n", err: ErrInvalidBulkLength},
		{in: "*1\r\n$99999999999999999999999\r\n", err: ErrInvalidBulkLength},
		{in: "*1\r\n$536870912\r\n"},    // incomplete, and costs nothing
		{in: "*1048576\r\n$1\r\na\r\n"}, // incomplete
		{in: "*1048577\r\n", err: ErrInvalidMultibulkLength},
		{in: "*x\r\n", err: ErrInvalidMultibulkLength},
		{in: "*\r\n", err: ErrInvalidMultibulkLength},
		{in: "*+1\r\n", err: ErrInvalidMultibulkLength},
		{in: "* 1\r\n", err: ErrInvalidMultibulkLength},
		{in: "*1\r\nx3\r\nabc\r\n", err: errExpectedDollar['x']},
		{in: "*1\r\n:3\r\n", err: errExpectedDollar[':']},
		{in: "*2\r\n$1\r\na\r\n\r\n", err: errExpectedDollar['\r']},
		{in: "*1\r\n$3\r\nabcd\r\n", err: ErrExpectedCRLF},
		{in: "*1\r\n$3\r\nabc\rx", err: ErrExpectedCRLF},
		{in: "*1\r\n$3\r\nabc\n\r", err: ErrExpectedCRLF},
		{in: "*1\rx", err: ErrExpectedLF},
		{in: "*1\r\n$3\rx", err: ErrExpectedLF},
		{in: "*1\r\n$3\r\nab"},
		{in: "*1\r\n$3\r\nabc\r"},
		{in: "*2\r\n$3\r\nabc\r\n"},
		{in: "*2\r"},
		{in: "*"},
		{in: ""},
		{in: "PING"},
		{in: "PING\r"},
		{in: "*" + big, err: ErrTooBigMultibulkCount},
		{in: "*1\r\n$" + big, err: ErrTooBigBulkCount},
		{in: big, err: ErrTooBigInline},
		{in: "get \"" + big, err: ErrTooBigInline},
		{in: "*1\r\n$1" + strings.Repeat("0", MaxInlineLen-2) + "\r\n", err: ErrInvalidBulkLength}, // 64 KiB line: not too big
		{in: "*1\r\n$1" + strings.Repeat("0", MaxInlineLen-1) + "\r\n", err: ErrTooBigBulkCount},
		{in: "x" + strings.Repeat(" ", MaxInlineLen-1) + "\n", args: []string{"x"}, inline: true},
		{in: "x" + strings.Repeat(" ", MaxInlineLen) + "\n", err: ErrTooBigInline},
	} {
		want := parsed{err: tc.err}
		if tc.args != nil {
			want.args = tc.args
			if len(tc.args) == 0 {
				want.args = nil
			}
			want.inline = tc.inline
			want.consumed = tc.consumed
			if want.consumed == 0 {
				want.consumed = len(tc.in)
			}
		}
		name := tc.in
		if len(name) > 40 {
			name = name[:40] + "..."
		}
		got, need := parseWhole([]byte(tc.in))
		if got.String() != want.String() {
			t.Errorf("%q: whole: %v, want %v", name, got, want)
		}
		if tc.args == nil && tc.err == nil && need <= len(tc.in) {
			t.Errorf("%q: Need() = %d", name, need)
		}
		if got := parseBytes(t, []byte(tc.in)); got.String() != want.String() {
			t.Errorf("%q: byte by byte: %v, want %v", name, got, want)
		}
		if got := parseJumps(t, []byte(tc.in)); got.String() != want.String() {
			t.Errorf("%q: jumps: %v, want %v", name, got, want)
		}
	}
}

func TestReadRequestNeed(t *testing.T) {
	var req Request
	in := []byte("*2\r\n$3\r\nGET\r\n$10\r\n0123456789\r\n")
	if n, err := ReadRequest(in[:19], &req); n != 0 || err != nil || req.Need() != len(in) {
		t.Fatalf("got %d, %v, need %d; want need %d", n, err, req.Need(), len(in))
	}
	if n, err := ReadRequest(in, &req); n != len(in) || err != nil {
		t.Fatalf("got %d, %v", n, err)
	}
	// A huge declared length is reported, not reserved.
	req.Reset()
	if n, err := ReadRequest([]byte("*1\r\n$536870912\r\n"), &req); n != 0 || err != nil || req.Need() != 16+536870912+2 {
		t.Fatalf("got %d, %v, need %d", n, err, req.Need())
	}
	if cap(req.offs) > 16 || cap(req.Args) > 16 {
		t.Fatalf("allocated from a declared length: %d %d", cap(req.offs), cap(req.Args))
	}
	// Reset drops a partial request.
	req.Reset()
	if n, err := ReadRequest([]byte("PING\r\n"), &req); n != 6 || err != nil || !req.Inline {
		t.Fatalf("after Reset: %d %v", n, err)
	}
}

// TestReadRequestPipeline parses a pipeline of many requests one after the other, reusing one
// Request, and checks inline args survive until the next call.
func TestReadRequestPipeline(t *testing.T) {
	var in []byte
	var want [][]string
	for i := 0; i < 100; i++ {
		a := []string{"SET", fmt.Sprintf("key:%d", i), strings.Repeat("v", i)}
		want = append(want, a)
		if i%3 == 0 {
			in = append(in, fmt.Sprintf("SET key:%d \"%s\"\r\n", i, strings.Repeat("v", i))...)
		} else {
			in = AppendRequest(in, args(a...))
		}
	}
	var req Request
	for i := 0; len(in) > 0; i++ {
		n, err := ReadRequest(in, &req)
		if err != nil || n == 0 {
			t.Fatalf("%d: %d %v", i, n, err)
		}
		if got := result(&req, n, nil).args; fmt.Sprint(got) != fmt.Sprint(want[i]) {
			t.Fatalf("%d: %q want %q", i, got, want[i])
		}
		if req.Inline != (i%3 == 0) {
			t.Fatalf("%d: inline %v", i, req.Inline)
		}
		in = in[n:]
	}
}

func TestReadRequestUnauthenticated(t *testing.T) {
	for _, tc := range []struct {
		in  string
		err error
	}{
		{"*10\r\n", nil},
		{"*11\r\n", ErrUnauthenticatedMultibulkLength},
		{"*1\r\n$16384\r\n", nil},
		{"*1\r\n$16385\r\n", ErrUnauthenticatedBulkLength},
		{"*1\r\n$-1\r\n", ErrInvalidBulkLength},
	} {
		req := Request{Unauthenticated: true}
		if n, err := ReadRequest([]byte(tc.in), &req); n != 0 || err != tc.err {
			t.Errorf("%q: %d, %v; want %v", tc.in, n, err, tc.err)
		}
	}
}

func TestProtocolErrorText(t *testing.T) {
	if got := errExpectedDollar['x'].Error(); got != "Protocol error: expected '$', got 'x'" {
		t.Errorf("%q", got)
	}
	if got := errExpectedDollar['\n'].Error(); got != "Protocol error: expected '$', got ' '" {
		t.Errorf("%q", got)
	}
	var pe *ProtocolError = ErrInvalidMultibulkLength
	if pe.Error() != "Protocol error: invalid multibulk length" {
		t.Errorf("%q", pe.Error())
	}
	if !bytes.Contains(AppendError(nil, "ERR "+ErrUnbalancedQuotes.Error()), []byte("unbalanced quotes")) {
		t.Error("AppendError")
	}
}

// TestShortLengthAgreesWithLine checks ReadRequest's one-pass length parse against the general
// one (line, then parseInt) on every short line over the bytes that matter: whenever the fast
// parse accepts a line, the general one must find the same '\r' and value.
func TestShortLengthAgreesWithLine(t *testing.T) {
	alphabet := []byte("0019-\r\n \x00")
	buf := make([]byte, 0, 16)
	accepted := 0
	var walk func(depth int)
	walk = func(depth int) {
		for _, lead := range []byte("*$") {
			line := append([]byte{lead}, buf...)
			v, cr, ok := shortLength(line, 0, lead)
			if ok {
				accepted++
				var r Request
				r.reset()
				gcr, err := r.line(line, 0, ErrTooBigBulkCount)
				if err != nil || gcr != cr {
					t.Fatalf("%q: short parse found '\\r' at %d, line says %d (%v)", line, cr, gcr, err)
				}
				if gv, gok := parseInt(line[1:gcr]); !gok || gv != v {
					t.Fatalf("%q: short parse %d, parseInt %d %v", line, v, gv, gok)
				}
			}
			if _, _, ok2 := shortLength(line, 0, lead^1); ok2 {
				t.Fatalf("%q accepted with the wrong lead byte", line)
			}
		}
		if depth == 6 {
			return
		}
		for _, c := range alphabet {
			buf = append(buf, c)
			walk(depth + 1)
			buf = buf[:len(buf)-1]
		}
	}
	walk(0)
	for _, s := range []string{"$123456789\r\n", "*1\r\n", "$0\r\n"} {
		if _, _, ok := shortLength([]byte(s), 0, s[0]); !ok {
			t.Errorf("%q not taken by the short parse", s)
		}
	}
	for _, s := range []string{"$1234567890\r\n", "$01\r\n", "$-1\r\n", "$1\r", "$\r\n", "$1\n\r"} {
		if _, _, ok := shortLength([]byte(s), 0, s[0]); ok {
			t.Errorf("%q taken by the short parse", s)
		}
	}
	if accepted == 0 {
		t.Fatal("no line was accepted by the short parse")
	}
}
