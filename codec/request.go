package codec

import "bytes"

// Limits (Redis's own where Redis has one).
const (
	MaxBulkLen    = 512 << 20 // a bulk string in a request (Redis proto-max-bulk-len default)
	MaxArgs       = 1 << 20   // elements in a request multibulk
	MaxInlineLen  = 64 << 10  // an inline request line; also a length line (Redis PROTO_INLINE_MAX_SIZE)
	MaxReplyDepth = 64        // nesting of aggregate replies accepted from a backend (more => error)
)

// Request is one client request framed in place.
//
// Args alias the buffer given to ReadRequest (or, for inline arguments that needed unescaping,
// a scratch buffer owned by the Request) and are valid only while those bytes are: in gnet, until
// the OnTraffic callback returns or Conn.Discard is called, and until the next ReadRequest or Reset
// on this Request. A Request is reused across calls and is not safe for concurrent use.
type Request struct {
	Args   [][]byte // the arguments; len 0 for an empty request ("\r\n", "*0\r\n", "*-1\r\n"), which gets no reply
	Inline bool     // sent as an inline command: not RESP, re-encode (AppendRequest) before forwarding

	// Unauthenticated, set by the caller while the client has not authenticated, applies Redis's
	// limits for such clients: at most 10 elements per multibulk and bulks of at most 16384 bytes.
	// Keep it unchanged while a request is partly framed.
	Unauthenticated bool

	pos     int    // offset of the first byte not yet consumed
	n       int    // multibulk element count, 0 while the "*N" line has not been read
	bulk    int    // length of the bulk being read, -1 while its "$N" line has not been read
	scan    int    // offset where the search for the current line's end resumes
	need    int    // minimum len(buf) that can make progress (after an incomplete result)
	stuck   bool   // a NUL came before the end of the current line (see line)
	offs    []int  // start, end of every complete element so far (offsets survive a copied buffer)
	scratch []byte // unescaped inline arguments; cap >= the line length, so it never moves mid-parse
}

// Reset forgets any partly framed request and empties Args. Capacity is kept.
func (r *Request) Reset() {
	r.Args = r.Args[:0]
	r.Inline = false
	r.reset()
}

// reset clears the framing progress but keeps Args (the result of a complete request).
func (r *Request) reset() {
	r.pos, r.n, r.bulk, r.scan, r.need, r.stuck = 0, 0, -1, 0, 0, false
	r.offs = r.offs[:0]
}

// Need reports, after ReadRequest returned "incomplete", the minimum len(buf) that can make
// progress. For a declared bulk length it may be large (the bytes are not reserved).
func (r *Request) Need() int { return r.need }

// ReadRequest frames one request at the start of buf.
//
//   - complete:   consumed > 0, err == nil; req.Args is filled (len 0 for an empty request).
//   - incomplete: consumed == 0, err == nil; req.Need() is the minimum len(buf) that can make progress.
//     The Request keeps its progress as offsets: the next call must pass a buffer that starts with the
//     same bytes followed by more (it may be a different backing array).
//   - bad input:  err is a *ProtocolError whose Error() is Redis's text; the Request is reset.
//
// It never allocates from a declared length and, in steady state, not at all.
func ReadRequest(buf []byte, req *Request) (consumed int, err error) {
	req.Args = req.Args[:0]
	req.Inline = false
	if req.pos == 0 && req.n == 0 {
		if len(buf) == 0 {
			req.need = 1
			return 0, nil
		}
		if buf[0] != '*' {
			return req.readInline(buf)
		}
		v, cr, ok := shortLength(buf, 0, '*')
		if ok {
			req.scan = 0
		} else {
			var err error
			if cr, err = req.line(buf, 0, ErrTooBigMultibulkCount); cr < 0 || err != nil {
				return 0, err
			}
			v, ok = parseInt(buf[1:cr])
		}
		if !ok || v > MaxArgs {
			req.reset()
			return 0, ErrInvalidMultibulkLength
		}
		if v > 10 && req.Unauthenticated {
			req.reset()
			return 0, ErrUnauthenticatedMultibulkLength
		}
		if v <= 0 { // "*0", "*-1": an empty request, no reply
			req.reset()
			return cr + 2, nil
		}
		req.n, req.pos, req.bulk = int(v), cr+2, -1
	}
	pos := req.pos
	for len(req.offs) < 2*req.n {
		if req.bulk < 0 {
			v, cr, ok := shortLength(buf, pos, '$')
			if ok {
				req.scan = 0
			} else {
				var err error
				if cr, err = req.line(buf, pos, ErrTooBigBulkCount); cr < 0 || err != nil {
					return 0, err
				}
				if buf[pos] != '$' {
					c := buf[pos]
					req.reset()
					return 0, errExpectedDollar[c]
				}
				v, ok = parseInt(buf[pos+1 : cr])
			}
			if !ok || v < 0 || v > MaxBulkLen {
				req.reset()
				return 0, ErrInvalidBulkLength
			}
			if v > 16384 && req.Unauthenticated {
				req.reset()
				return 0, ErrUnauthenticatedBulkLength
			}
			req.bulk = int(v)
			pos = cr + 2
			req.pos = pos
		}
		end := pos + req.bulk
		if len(buf)-2 < end {
			req.need = end + 2
			return 0, nil
		}
		if buf[end] != '\r' || buf[end+1] != '\n' {
			req.reset()
			return 0, ErrExpectedCRLF
		}
		req.offs = append(req.offs, pos, end)
		pos = end + 2
		req.pos, req.bulk = pos, -1
	}
	for i := 0; i < len(req.offs); i += 2 {
		req.Args = append(req.Args, buf[req.offs[i]:req.offs[i+1]:req.offs[i+1]])
	}
	req.reset()
	return pos, nil
}

// shortLength parses, in one pass, the length line almost every request is made of: lead at pos,
// 1 to 9 digits without a leading zero (or the lone "0"), then "\r\n", all in buf. It returns the
// value and the index of the '\r'; ok false for anything else, which line and parseInt then read
// (they give the same value, or Redis's exact error, or wait for more bytes).
func shortLength(buf []byte, pos int, lead byte) (v int64, cr int, ok bool) {
	if pos >= len(buf) || buf[pos] != lead {
		return 0, -1, false
	}
	i, end := pos+1, min(len(buf), pos+10)
	for ; i < end; i++ {
		c := buf[i]
		if c < '0' || c > '9' {
			break
		}
		v = v*10 + int64(c-'0')
	}
	digits := i - pos - 1
	if digits == 0 || i+1 >= len(buf) || buf[i] != '\r' || buf[i+1] != '\n' || (digits > 1 && buf[pos+1] == '0') {
		return 0, -1, false
	}
	return v, i, true
}

// line finds the "\r\n" that ends the line starting at start. It returns the index of '\r', or -1
// when more bytes are needed (r.need is set). Like Redis, a line is too long when MaxInlineLen+1
// bytes have arrived without a '\r'; the window is fixed so that the answer does not depend on how
// the bytes were split into reads. Redis looks for the '\r' with strchr, which stops at a NUL
// byte: a NUL before the '\r' makes it wait for more input until the line is too long, and so
// does this.
func (r *Request) line(buf []byte, start int, tooBig *ProtocolError) (int, error) {
	cr := -1
	if !r.stuck {
		from := max(r.scan, start)
		lim := min(len(buf), start+MaxInlineLen+1)
		// Length lines are short: look at the first bytes with a plain loop, then vectorised.
		short := min(lim, from+16)
		for i := from; i < short; i++ {
			if c := buf[i]; c == '\r' || c == 0 {
				if c == 0 {
					r.stuck = true
				} else {
					cr = i
				}
				break
			}
		}
		if cr < 0 && !r.stuck && short < lim {
			if i := bytes.IndexByte(buf[short:lim], '\r'); i >= 0 {
				cr = short + i
			}
			end := lim
			if cr >= 0 {
				end = cr
			}
			if bytes.IndexByte(buf[short:end], 0) >= 0 {
				r.stuck, cr = true, -1
			}
		}
		if cr < 0 {
			r.scan = max(from, lim)
		}
	}
	if cr < 0 {
		if len(buf)-start > MaxInlineLen {
			r.reset()
			return -1, tooBig
		}
		r.need = len(buf) + 1
		return -1, nil
	}
	if cr+1 >= len(buf) {
		r.scan = cr
		r.need = cr + 2
		return -1, nil
	}
	if buf[cr+1] != '\n' {
		r.reset()
		return -1, ErrExpectedLF
	}
	r.scan = 0
	return cr, nil
}

// parseInt parses a decimal int64 exactly like Redis's string2ll: no sign other than a leading
// '-', no leading zeros, no spaces, no empty string, no "-0", no overflow.
func parseInt(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	if len(b) == 1 && b[0] == '0' {
		return 0, true
	}
	neg := false
	if b[0] == '-' {
		neg = true
		b = b[1:]
		if len(b) == 0 {
			return 0, false
		}
	}
	if b[0] < '1' || b[0] > '9' {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if v > (1<<64-1-d)/10 {
			return 0, false
		}
		v = v*10 + d
	}
	if neg {
		if v > 1<<63 {
			return 0, false
		}
		return -int64(v), true
	}
	if v > 1<<63-1 {
		return 0, false
	}
	return int64(v), true
}
