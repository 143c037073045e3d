package codec

import (
	"bytes"
	"errors"
	"testing"
)

// requestSeeds are added to every request fuzzer (testdata/fuzz holds more, and the crashers).
var requestSeeds = []string{
	"*1\r\n$4\r\nPING\r\n",
	"*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n",
	"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n*1\r\n$4\r\nPING\r\n",
	"*1\r\n$-2\r\n", "*1\r\n$-1\r\n", "*-1\r\n", "*0\r\n", "\r\n",
	"*1\r\n$536870912\r\n", "*1048577\r\n", "*1\r\n$3\r\nabcXY",
	"PING\r\n", "set k \"a\\x41\\n\" 'b\\'c'\r\n", "a\"b\r\n", "get a\x00b\r\n",
}

// maxFeed bounds the inputs fed one byte at a time (cost grows with the square of the length;
// long inputs are covered by the table tests).
const maxFeed = 8 << 10

func checkRequest(t *testing.T, data []byte) parsed {
	t.Helper()
	whole, need := parseWhole(data)
	if whole.consumed < 0 || whole.consumed > len(data) {
		t.Fatalf("consumed %d of %d", whole.consumed, len(data))
	}
	if whole.err != nil {
		var pe *ProtocolError
		if !errors.As(whole.err, &pe) || whole.consumed != 0 {
			t.Fatalf("error %v (%T), consumed %d", whole.err, whole.err, whole.consumed)
		}
	} else if whole.consumed == 0 && need <= len(data) {
		t.Fatalf("incomplete but Need() = %d <= %d", need, len(data))
	}
	if whole.inline && len(whole.args) == 0 {
		t.Fatal("inline empty request")
	}
	if len(data) <= maxFeed {
		if got := parseBytes(t, data); got.String() != whole.String() {
			t.Fatalf("byte by byte %v, whole %v", got, whole)
		}
		if got := parseJumps(t, data); got.String() != whole.String() {
			t.Fatalf("jumps %v, whole %v", got, whole)
		}
	}
	// A framed multibulk request is canonical: re-encoding it gives the same bytes.
	if whole.err == nil && whole.consumed > 0 && !whole.inline && len(whole.args) > 0 {
		var req Request
		ReadRequest(data, &req)
		if enc := AppendRequest(nil, req.Args); !bytes.Equal(enc, data[:whole.consumed]) {
			t.Fatalf("re-encoded %q, framed %q", enc, data[:whole.consumed])
		}
	}
	return whole
}

func FuzzReadRequest(f *testing.F) {
	for _, s := range requestSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p := checkRequest(t, data)
		// The rest of a pipeline must frame too (no state leaks from one request to the next).
		if p.err == nil && p.consumed > 0 && p.consumed < len(data) {
			checkRequest(t, data[p.consumed:])
		}
	})
}

func FuzzRequestRoundTrip(f *testing.F) {
	for _, s := range requestSeeds {
		f.Add([]byte(s))
	}
	f.Add([]byte("GET\x00key"))
	f.Add([]byte("\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var req Request
		n, err := ReadRequest(data, &req)
		var in [][]byte
		if err == nil && n > 0 && len(req.Args) > 0 {
			in = req.Args
		} else {
			in = bytes.Split(data, []byte{0}) // arbitrary argument bytes
		}
		enc := AppendRequest(nil, in)
		var out Request
		m, err := ReadRequest(enc, &out)
		if err != nil || m != len(enc) || out.Inline || len(out.Args) != len(in) {
			t.Fatalf("%q -> %q: %d, %v, %d args", in, enc, m, err, len(out.Args))
		}
		for i := range in {
			if !bytes.Equal(in[i], out.Args[i]) {
				t.Fatalf("arg %d: %q != %q", i, out.Args[i], in[i])
			}
		}
		if len(enc) <= maxFeed {
			if got := parseBytes(t, enc); len(got.args) != len(in) || got.consumed != len(enc) {
				t.Fatalf("byte by byte: %v", got)
			}
		}
	})
}

func FuzzFrameReply(f *testing.F) {
	for _, s := range []string{
		"+OK\r\n", "-ERR x\r\n", ":1\r\n", "$3\r\nfoo\r\n", "$-1\r\n", "*-1\r\n", "*0\r\n",
		"*2\r\n$3\r\nfoo\r\n*1\r\n:1\r\n", "_\r\n", ",1.5\r\n", "#t\r\n", "(123\r\n", "!3\r\nERR\r\n",
		"=7\r\ntxt:abc\r\n", "%1\r\n+a\r\n:1\r\n", "~1\r\n+a\r\n", ">2\r\n+message\r\n+x\r\n",
		"|1\r\n+a\r\n+b\r\n*1\r\n|1\r\n+c\r\n+d\r\n:1\r\n", "*?\r\n", "$?\r\n", "*1\r\n*1\r\n*1\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		whole, need := frameWhole(data)
		if whole.n < 0 || whole.n > len(data) || (whole.err != nil && whole.n != 0) {
			t.Fatalf("n %d of %d, %v", whole.n, len(data), whole.err)
		}
		if whole.err == nil && whole.n == 0 && need <= len(data) {
			t.Fatalf("incomplete but Need() = %d", need)
		}
		if len(data) <= maxFeed {
			if got := frameBytes(t, data); got != whole {
				t.Fatalf("byte by byte %v, whole %v", got, whole)
			}
			if got := frameJumps(data); got != whole {
				t.Fatalf("jumps %v, whole %v", got, whole)
			}
		}
		if whole.n == 0 {
			return
		}
		reply := data[:whole.n]
		// A framed reply is minimal: one byte less is incomplete.
		if n, err := new(ReplyFramer).Frame(reply[:len(reply)-1]); n != 0 || err != nil {
			t.Fatalf("prefix of a reply framed: %d %v", n, err)
		}
		// An aggregate's elements, after its header, are exactly the rest of the reply.
		if k := kinds[reply[0]]; k == kAggregate || k == kPairs {
			elems, err := ArrayElems(reply, nil)
			if err != nil {
				t.Fatalf("ArrayElems: %v", err)
			}
			rebuilt := append([]byte(nil), reply[:bytes.IndexByte(reply, '\n')+1]...)
			for _, e := range elems {
				rebuilt = append(rebuilt, e...)
			}
			if !bytes.Equal(rebuilt, reply) {
				t.Fatalf("elements %q do not rebuild %q", elems, reply)
			}
		}
		if IsError(reply) && ErrorText(reply) == nil {
			t.Fatalf("no error text in %q", reply)
		}
		ParseInt(reply)
	})
}
