package codec

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

type framed struct {
	n   int
	err error
}

func frameWhole(buf []byte) (framed, int) {
	var f ReplyFramer
	n, err := f.Frame(buf)
	return framed{n, err}, f.Need()
}

func frameBytes(t testing.TB, buf []byte) framed {
	var f ReplyFramer
	for i := 0; i <= len(buf); i++ {
		cp := buf[:i]
		if len(buf) < 1024 {
			cp = append([]byte(nil), buf[:i]...)
		}
		n, err := f.Frame(cp)
		if err != nil || n > 0 {
			return framed{n, err}
		}
		if f.Need() <= i {
			t.Fatalf("%q: Need() = %d after %d bytes", buf, f.Need(), i)
		}
	}
	return framed{}
}

func frameJumps(buf []byte) framed {
	var f ReplyFramer
	i := 0
	for {
		cp := buf[:i]
		if len(buf) < 1024 { // a fresh copy each time (quadratic: small inputs only)
			cp = append([]byte(nil), buf[:i]...)
		}
		n, err := f.Frame(cp)
		if err != nil || n > 0 || i == len(buf) {
			return framed{n, err}
		}
		i = min(f.Need(), len(buf))
	}
}

func TestFrameReply(t *testing.T) {
	for _, tc := range []struct {
		in  string
		n   int // 0: len(in) when err == nil and !partial
		err error
		inc bool // incomplete
	}{
		{in: "+OK\r\n"},
		{in: "-ERR bad\r\n"},
		{in: "-MOVED 3999 127.0.0.1:6381\r\n"},
		{in: ":0\r\n"},
		{in: ":-12345\r\n"},
		{in: "$3\r\nfoo\r\n"},
		{in: "$0\r\n\r\n"},
		{in: "$-1\r\n"},
		{in: "$5\r\na\r\nbc\r\n"},
		{in: "*-1\r\n"},
		{in: "*0\r\n"},
		{in: "*2\r\n$3\r\nfoo\r\n:1\r\n"},
		{in: "*2\r\n*2\r\n+a\r\n+b\r\n*0\r\n"},
		{in: "*3\r\n*1\r\n*1\r\n*1\r\n:1\r\n$-1\r\n*-1\r\n"},
		{in: "_\r\n"},
		{in: ",3.14\r\n"},
		{in: ",inf\r\n"},
		{in: "#t\r\n"},
		{in: "#f\r\n"},
		{in: "(3492890328409238509324850943850943825024385\r\n"},
		{in: "!21\r\nSYNTAX invalid syntax\r\n"},
		{in: "=15\r\ntxt:Some string\r\n"},
		{in: "%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n"},
		{in: "%0\r\n"},
		{in: "~3\r\n+a\r\n+b\r\n+c\r\n"},
		{in: ">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$1\r\nm\r\n"},
		{in: "|1\r\n+key-popularity\r\n%2\r\n$1\r\na\r\n,0.1923\r\n$1\r\nb\r\n,0.0012\r\n*2\r\n:2039123\r\n:9543892\r\n"},
		{in: "|0\r\n+OK\r\n"},
		{in: "|1\r\n+a\r\n+b\r\n|1\r\n+c\r\n+d\r\n:1\r\n"},
		{in: "*2\r\n|1\r\n+ttl\r\n:3600\r\n$1\r\nv\r\n:2\r\n"},
		{in: "+OK\r\n+NEXT\r\n", n: 5},
		{in: "*1\r\n:1\r\n+NEXT\r\n", n: 8},
		{in: "+OK\r", inc: true},
		{in: "+OK", inc: true},
		{in: "", inc: true},
		{in: "$3\r\nfoo", inc: true},
		{in: "$3\r\nfoo\r", inc: true},
		{in: "$536870912\r\n", inc: true},
		{in: "$9223372036854775807\r\n", inc: true},
		{in: "*2\r\n:1\r\n", inc: true},
		{in: "*2\r\n*2\r\n:1\r\n:2\r\n", inc: true},
		{in: "|1\r\n+a\r\n+b\r\n", inc: true},
		{in: "%1\r\n+a\r\n", inc: true},
		{in: "x\r\n", err: ErrReplyType},
		{in: "\r\n", err: ErrReplyType},
		{in: "*1\r\n\x00\r\n", err: ErrReplyType},
		{in: "+OK\rx", err: ErrReplyLine},
		{in: "$3\r\nfooXY", err: ErrReplyLine},
		{in: "$x\r\n", err: ErrReplyLength},
		{in: "$-2\r\n", err: ErrReplyLength},
		{in: "*-2\r\n", err: ErrReplyLength},
		{in: "%-1\r\n", err: ErrReplyLength},
		{in: "!-1\r\n", err: ErrReplyLength},
		{in: "$\r\n", err: ErrReplyLength},
		{in: "*99999999999999999999\r\n", err: ErrReplyLength},
		{in: "*?\r\n", err: ErrReplyStreamed},
		{in: "$?\r\n", err: ErrReplyStreamed},
		{in: strings.Repeat("*1\r\n", MaxReplyDepth) + ":1\r\n"},
		{in: strings.Repeat("*1\r\n", MaxReplyDepth+1) + ":1\r\n", err: ErrReplyDepth},
	} {
		want := framed{tc.n, tc.err}
		if tc.err == nil && !tc.inc && tc.n == 0 {
			want.n = len(tc.in)
		}
		got, need := frameWhole([]byte(tc.in))
		if got != want {
			t.Errorf("%q: whole: %v, want %v", tc.in, got, want)
		}
		if tc.inc && need <= len(tc.in) {
			t.Errorf("%q: Need() = %d", tc.in, need)
		}
		if got := frameBytes(t, []byte(tc.in)); got != want {
			t.Errorf("%q: byte by byte: %v, want %v", tc.in, got, want)
		}
		if got := frameJumps([]byte(tc.in)); got != want {
			t.Errorf("%q: jumps: %v, want %v", tc.in, got, want)
		}
	}
}

// TestFrameReplyChunks frames a large array arriving in 64 KiB chunks and checks that each call
// resumes where the previous one stopped (the array is scanned once in total).
func TestFrameReplyChunks(t *testing.T) {
	const elems = 200000
	var buf []byte
	buf = AppendArrayLen(buf, elems)
	for i := 0; i < elems; i++ {
		if i%2 == 0 {
			buf = AppendBulkString(buf, fmt.Sprintf("element-%d", i))
		} else {
			buf = AppendArrayLen(buf, 2)
			buf = AppendInt(buf, int64(i))
			buf = AppendNull(buf, 3)
		}
	}
	var f ReplyFramer
	for end := 1 << 16; ; end += 1 << 16 {
		end = min(end, len(buf))
		n, err := f.Frame(buf[:end])
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			if n != len(buf) || end != len(buf) {
				t.Fatalf("framed %d of %d at %d", n, len(buf), end)
			}
			break
		}
		if f.pos < end-32 {
			t.Fatalf("after %d bytes the framer resumes at %d", end, f.pos)
		}
	}
}

func TestReplyHelpers(t *testing.T) {
	if ReplyType([]byte("+OK\r\n")) != '+' || ReplyType(nil) != 0 {
		t.Error("ReplyType")
	}
	if !IsError([]byte("-ERR x\r\n")) || !IsError([]byte("!1\r\nx\r\n")) || IsError([]byte("+OK\r\n")) || IsError(nil) {
		t.Error("IsError")
	}
	for in, want := range map[string]int64{":0\r\n": 0, ":123\r\n": 123, ":-9\r\n": -9, ":9223372036854775807\r\n": 1<<63 - 1} {
		if v, ok := ParseInt([]byte(in)); !ok || v != want {
			t.Errorf("ParseInt(%q) = %d, %v", in, v, ok)
		}
	}
	for _, in := range []string{"+1\r\n", ":\r\n", ":x\r\n", ":1", ""} {
		if _, ok := ParseInt([]byte(in)); ok {
			t.Errorf("ParseInt(%q) ok", in)
		}
	}
	for in, want := range map[string]string{"-ERR bad thing\r\n": "ERR bad thing", "!8\r\nERR x\r\ny\r\n": "ERR x\r\ny", "+OK\r\n": ""} {
		if got := ErrorText([]byte(in)); string(got) != want {
			t.Errorf("ErrorText(%q) = %q", in, got)
		}
	}
	for _, tc := range []struct {
		in   string
		want []string
		err  bool
	}{
		{in: "*3\r\n$1\r\na\r\n:2\r\n*2\r\n+x\r\n_\r\n", want: []string{"$1\r\na\r\n", ":2\r\n", "*2\r\n+x\r\n_\r\n"}},
		{in: "%2\r\n+k\r\n:1\r\n+k2\r\n|1\r\n+a\r\n+b\r\n:2\r\n", want: []string{"+k\r\n", ":1\r\n", "+k2\r\n", "|1\r\n+a\r\n+b\r\n:2\r\n"}},
		{in: "~1\r\n+a\r\n", want: []string{"+a\r\n"}},
		{in: ">2\r\n+a\r\n+b\r\n", want: []string{"+a\r\n", "+b\r\n"}},
		{in: "|1\r\n+a\r\n+b\r\n*1\r\n+x\r\n", want: []string{"+x\r\n"}},
		{in: "*0\r\n"},
		{in: "*-1\r\n"},
		{in: "+OK\r\n", err: true},
		{in: "*2\r\n+a\r\n", err: true},
		{in: "*1\r\n!x\r\n", err: true},
	} {
		got, err := ArrayElems([]byte(tc.in), nil)
		if (err != nil) != tc.err {
			t.Errorf("ArrayElems(%q): %v", tc.in, err)
			continue
		}
		if tc.err {
			continue
		}
		var s []string
		for _, e := range got {
			s = append(s, string(e))
		}
		if fmt.Sprint(s) != fmt.Sprint(tc.want) {
			t.Errorf("ArrayElems(%q) = %q, want %q", tc.in, s, tc.want)
		}
	}
	if p := blobPayload([]byte("$3\r\nabc\r\n")); !bytes.Equal(p, []byte("abc")) {
		t.Errorf("blobPayload %q", p)
	}
}

func TestBulkText(t *testing.T) {
	for _, tc := range []struct {
		reply, want string
		ok          bool
	}{
		{"$5\r\nhello\r\n", "hello", true},
		{"$0\r\n\r\n", "", true},
		{"=9\r\ntxt:a\nb c\r\n", "a\nb c", true},
		{"$-1\r\n", "", false},
		{"+OK\r\n", "", false},
		{"$5\r\nhel", "", false},
	} {
		got, ok := BulkText([]byte(tc.reply))
		if ok != tc.ok || string(got) != tc.want {
			t.Errorf("BulkText(%q) = %q, %v; want %q, %v", tc.reply, got, ok, tc.want, tc.ok)
		}
	}
}
