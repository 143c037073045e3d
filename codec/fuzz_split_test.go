package codec

import (
	"slices"
	"strconv"
	"testing"
)

// replyGen builds a stream of RESP replies from a fuzzer's bytes: aggregates nested in aggregates
// (arrays, and in RESP3 maps, sets, pushes and attributes) with bulk and line elements. Every
// choice is read from p, so the fuzzer's mutations move through the space of valid streams.
type replyGen struct {
	p     []byte
	i     int
	resp3 bool
	elems int // budget: elements still allowed, so the stream stays small
	out   []byte
	ends  []int // where each top-level reply ends
}

func (g *replyGen) next() byte {
	if g.i >= len(g.p) {
		return 0
	}
	b := g.p[g.i]
	g.i++
	return b
}

// header appends a type byte, a decimal length and CRLF.
func (g *replyGen) header(t byte, n int) {
	g.out = append(g.out, t)
	g.out = strconv.AppendInt(g.out, int64(n), 10)
	g.out = append(g.out, '\r', '\n')
}

// line appends a type byte and up to 15 printable bytes (no CR or LF).
func (g *replyGen) line(t byte) {
	g.out = append(g.out, t)
	for range g.next() % 16 {
		g.out = append(g.out, ' '+g.next()%95)
	}
	g.out = append(g.out, '\r', '\n')
}

// blob appends a $, ! or = string whose payload is taken raw from p (CR and LF included: only
// the length says where it ends).
func (g *replyGen) blob(t byte) {
	n := int(g.next())
	if t == '=' {
		n += 4
	}
	g.header(t, n)
	if t == '=' {
		g.out = append(g.out, "txt:"...)
		n -= 4
	}
	for range n {
		g.out = append(g.out, g.next())
	}
	g.out = append(g.out, '\r', '\n')
}

func (g *replyGen) reply(depth int) {
	g.elems--
	op := g.next()
	kinds := 9
	if g.resp3 {
		kinds = 20
	}
	k := int(op) % kinds
	if (k >= 5 && k <= 7) || k >= 15 {
		if depth >= 6 || g.elems <= 0 {
			k = 0 // no more nesting: a line instead
		}
	}
	switch k {
	case 0:
		g.line('+')
	case 1:
		g.line('-')
	case 2:
		g.header(':', int(int8(g.next()))*int(g.next()))
	case 3, 4:
		g.blob('$')
	case 5, 6, 7: // arrays: the common aggregate in both protocols
		n := int(g.next() % 6)
		g.header('*', n)
		for range n {
			g.reply(depth + 1)
		}
	case 8:
		switch g.next() % 3 {
		case 0:
			g.out = append(g.out, "$-1\r\n"...)
		case 1:
			g.out = append(g.out, "*-1\r\n"...)
		default:
			g.out = append(g.out, "*0\r\n"...)
		}
	case 9:
		g.out = append(g.out, "_\r\n"...)
	case 10:
		g.line(',')
	case 11:
		g.out = append(g.out, "#t\r\n"...)
	case 12:
		g.line('(')
	case 13:
		g.blob('!')
	case 14:
		g.blob('=')
	case 15, 16: // map: n pairs
		n := int(g.next() % 4)
		g.header('%', n)
		for range 2 * n {
			g.reply(depth + 1)
		}
	case 17: // set
		n := int(g.next() % 5)
		g.header('~', n)
		for range n {
			g.reply(depth + 1)
		}
	case 18: // push
		n := 1 + int(g.next()%4)
		g.header('>', n)
		for range n {
			g.reply(depth + 1)
		}
	case 19: // attribute: n pairs, then the reply it describes
		n := int(g.next() % 3)
		g.header('|', n)
		for range 2 * n {
			g.reply(depth + 1)
		}
		g.reply(depth + 1)
	}
}

// replyStream interprets program: its first byte chooses RESP2 or RESP3 (bit 0), the raw bytes
// that follow as the stream (bit 1), and one byte of the built stream changed (bit 2: malformed
// or differently split replies). ends are the reply boundaries when the stream was built and
// left unchanged (nil otherwise).
func replyStream(program []byte) (stream []byte, ends []int) {
	if len(program) == 0 {
		return nil, nil
	}
	mode := program[0]
	if mode&2 != 0 {
		return program[1:], nil
	}
	g := &replyGen{p: program[1:], resp3: mode&1 != 0, elems: 200}
	for g.i < len(g.p) && len(g.ends) < 8 && g.elems > 0 {
		g.reply(0)
		g.ends = append(g.ends, len(g.out))
	}
	if mode&4 != 0 && len(g.out) > 0 {
		at := int(g.next()) * 7 % len(g.out)
		g.out[at] = "*%$:+-\r\n0?|~"[g.next()%12]
		return g.out, nil
	}
	return g.out, g.ends
}

// streamFrames is what framing a stream gives: the end of each reply and how it stopped.
type streamFrames struct {
	ends  []int
	err   error // nil: the rest (if any) is an incomplete reply
	errAt int   // where the reply that failed starts
}

func (a streamFrames) equal(b streamFrames) bool {
	return slices.Equal(a.ends, b.ends) && a.err == b.err && a.errAt == b.errAt
}

// frameStream frames stream as it arrives in reads ending at each of cuts (ascending, the last
// being len(stream)), the way a connection does: a framed reply is consumed, and an incomplete
// one is framed again when more bytes came, if Need says it can progress. With fresh, every call
// gets the bytes in a new array (as when they are moved out of the read buffer).
func frameStream(stream []byte, cuts []int, fresh bool) streamFrames {
	var f ReplyFramer
	var res streamFrames
	start := 0
	for _, end := range cuts {
		for end > start && end-start >= f.Need() {
			buf := stream[start:end]
			if fresh {
				buf = append([]byte(nil), buf...)
			}
			n, err := f.Frame(buf)
			if err != nil {
				res.err, res.errAt = err, start
				return res
			}
			if n == 0 {
				break
			}
			start += n
			res.ends = append(res.ends, start)
		}
	}
	return res
}

// maxSplitStream bounds the streams split at every byte (the cost grows with the square of the
// length).
const maxSplitStream = 2 << 10

// FuzzFrameReplySplit: a stream of replies framed whole, split in two at every byte and cut at
// the points the fuzzer picks (with a fresh buffer on each call) gives the same frame boundaries
// and the same error at the same reply; a stream built from valid replies frames exactly at
// their boundaries.
func FuzzFrameReplySplit(f *testing.F) {
	for _, seed := range []struct{ program, cuts string }{
		{"\x00\x05\x03\x03abc\x00\x05+OK", "\x01\x02\x03"},                          // RESP2 array of lines and bulks
		{"\x00\x06\x05\x06\x03\x00\x04\x07\x02\x03\x01", "\x05\x05"},                // RESP2 nested arrays
		{"\x01\x0f\x03\x10\x02\x11\x04\x00\x03\x13\x01\x00\x02\x03\x09", "\x03"},    // RESP3 map, set, attribute
		{"\x01\x12\x03\x0e\x04abcd\x0d\x02ER\x0a\x03\x31\x2e\x35\x0b", "\x01\x01"},  // RESP3 push, verbatim, blob error, double, bool
		{"\x01\x05\x05\x05\x05\x05\x05\x05\x05\x05\x05\x05\x05\x05\x05", "\x02"},    // deep nesting
		{"\x05\x05\x03\x03\x04\x10\x11\x12\x13\x14\x15\x16", "\x04\x04"},            // RESP2 with one byte changed
		{"\x02*2\r\n$3\r\nfoo\r\n*1\r\n:1\r\n+OK\r\n", "\x07"},                      // raw: valid
		{"\x02%1\r\n+a\r\n~2\r\n_\r\n#f\r\n|1\r\n+k\r\n+v\r\n>1\r\n+m\r\n", "\x03"}, // raw: RESP3
		{"\x02*3\r\n$3\r\nfoo\r\nX\r\n", "\x02"},                                    // raw: bad type inside an array
		{"\x02*2\r\n+a\r\n$3\r\nfoo\r\n", "\x06"},                                   // raw: ends with a bulk
		{"\x02*1\r\n$5\r\nab\r\n", "\x01"},                                          // raw: incomplete bulk
		{"\x02*?\r\n", ""},                                                          // raw: streamed
	} {
		f.Add([]byte(seed.program), []byte(seed.cuts))
	}
	x := uint32(1) // longer programs, pseudo-random, in each mode
	for mode := range byte(8) {
		program := []byte{mode}
		for range 400 {
			x = x*1664525 + 1013904223
			program = append(program, byte(x>>24))
		}
		f.Add(program, []byte{byte(x), byte(x >> 8), byte(x >> 16)})
	}
	f.Fuzz(func(t *testing.T, program, cutBytes []byte) {
		stream, built := replyStream(program)
		whole := frameStream(stream, []int{len(stream)}, false)
		if built != nil && (!slices.Equal(whole.ends, built) || whole.err != nil) {
			t.Fatalf("%q: framed at %v (%v), built at %v", stream, whole.ends, whole.err, built)
		}
		if len(stream) <= maxSplitStream {
			for i := 1; i < len(stream); i++ {
				if got := frameStream(stream, []int{i, len(stream)}, false); !got.equal(whole) {
					t.Fatalf("%q split at %d: %+v, whole %+v", stream, i, got, whole)
				}
			}
		}
		var cuts []int
		at := 0
		for _, c := range cutBytes {
			at += 1 + int(c)
			if at >= len(stream) {
				break
			}
			cuts = append(cuts, at)
		}
		cuts = append(cuts, len(stream))
		fresh := len(stream) <= maxSplitStream // a copy per call: quadratic
		if got := frameStream(stream, cuts, fresh); !got.equal(whole) {
			t.Fatalf("%q cut at %v: %+v, whole %+v", stream, cuts, got, whole)
		}
	})
}
