package codec

import (
	"bytes"
	"fmt"
	"testing"
)

func benchRequest(b *testing.B, in []byte) {
	var req Request
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if n, err := ReadRequest(in, &req); n != len(in) || err != nil {
			b.Fatal(n, err)
		}
	}
}

func BenchmarkReadRequestGET(b *testing.B) {
	benchRequest(b, AppendRequest(nil, args("GET", "key:000000000001")))
}

func BenchmarkReadRequestSET(b *testing.B) {
	benchRequest(b, AppendRequest(nil, args("SET", "key:000000000001", "value-0123456789abcdef")))
}

func BenchmarkReadRequestMGET16(b *testing.B) {
	a := args("MGET")
	for i := 0; i < 16; i++ {
		a = append(a, []byte(fmt.Sprintf("key:%012d", i)))
	}
	benchRequest(b, AppendRequest(nil, a))
}

func BenchmarkReadRequestInline(b *testing.B) {
	benchRequest(b, []byte("SET key:000000000001 \"value with spaces\"\r\n"))
}

// BenchmarkReadRequestBigBulk1MiB64K feeds a 1 MiB SET in 64 KiB steps (resumed framing).
func BenchmarkReadRequestBigBulk1MiB64K(b *testing.B) {
	in := AppendRequest(nil, [][]byte{[]byte("SET"), []byte("k"), make([]byte, 1<<20)})
	var req Request
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		for end := 1 << 16; ; end += 1 << 16 {
			n, err := ReadRequest(in[:min(end, len(in))], &req)
			if err != nil {
				b.Fatal(err)
			}
			if n > 0 {
				break
			}
		}
	}
}

func benchFrame(b *testing.B, in []byte) {
	var f ReplyFramer
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		if n, err := f.Frame(in); n != len(in) || err != nil {
			b.Fatal(n, err)
		}
	}
}

func BenchmarkFrameOK(b *testing.B)   { benchFrame(b, []byte("+OK\r\n")) }
func BenchmarkFrameBulk(b *testing.B) { benchFrame(b, AppendBulkString(nil, "value-0123456789abcdef")) }

func BenchmarkFrameArray16(b *testing.B) {
	in := AppendArrayLen(nil, 16)
	for i := 0; i < 16; i++ {
		in = AppendBulkString(in, fmt.Sprintf("value-%010d", i))
	}
	benchFrame(b, in)
}

// BenchmarkFrameArray100k64K frames a 100,000-element array arriving in 64 KiB chunks.
func BenchmarkFrameArray100k64K(b *testing.B) {
	in := AppendArrayLen(nil, 100000)
	for i := 0; i < 100000; i++ {
		in = AppendBulkString(in, fmt.Sprintf("value-%010d", i))
	}
	var f ReplyFramer
	b.ReportAllocs()
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		for end := 1 << 16; ; end += 1 << 16 {
			n, err := f.Frame(in[:min(end, len(in))])
			if err != nil {
				b.Fatal(err)
			}
			if n > 0 {
				break
			}
		}
	}
}

func BenchmarkArrayElems16(b *testing.B) {
	in := AppendArrayLen(nil, 16)
	for i := 0; i < 16; i++ {
		in = AppendBulkString(in, fmt.Sprintf("value-%010d", i))
	}
	dst := make([][]byte, 0, 16)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ArrayElems(in, dst[:0]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLookup(b *testing.B) {
	names := args("GET", "set", "MGET", "zrangebyscore", "nope")
	b.ReportAllocs()
	for b.Loop() {
		for _, n := range names {
			Lookup(n)
		}
	}
}

// BenchmarkLookupInRequest looks names up where the proxy finds them: inside a request buffer,
// followed by the rest of the request.
func BenchmarkLookupInRequest(b *testing.B) {
	var names [][]byte
	for _, n := range []string{"GET", "set", "MGET", "zrangebyscore", "nope"} {
		req := AppendRequest(nil, [][]byte{[]byte(n), []byte("key"), []byte("value")})
		i := bytes.Index(req, []byte(n))
		names = append(names, req[i:i+len(n)])
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, n := range names {
			Lookup(n)
		}
	}
}

func BenchmarkKeyIndexesGET(b *testing.B) {
	a := args("GET", "k")
	c := Lookup(a[0])
	dst := make([]int, 0, 4)
	b.ReportAllocs()
	for b.Loop() {
		c.KeyIndexes(a, dst[:0])
	}
}

func BenchmarkKeyIndexesMSET(b *testing.B) {
	a := args("MSET", "a", "1", "b", "2", "c", "3", "d", "4")
	c := Lookup(a[0])
	dst := make([]int, 0, 8)
	b.ReportAllocs()
	for b.Loop() {
		c.KeyIndexes(a, dst[:0])
	}
}

func BenchmarkAppendReply(b *testing.B) {
	buf := make([]byte, 0, 256)
	v := []byte("value-0123456789abcdef")
	b.ReportAllocs()
	for b.Loop() {
		r := AppendArrayLen(buf[:0], 3)
		r = AppendBulk(r, v)
		r = AppendInt(r, 12345)
		r = AppendNull(r, 2)
		_ = r
	}
}

func BenchmarkAppendRequest(b *testing.B) {
	a := args("SET", "key:000000000001", "value-0123456789abcdef")
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		_ = AppendRequest(buf[:0], a)
	}
}
