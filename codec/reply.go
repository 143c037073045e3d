package codec

import "bytes"

// RESP type classes, indexed by the type byte.
const (
	kInvalid   = iota
	kLine      // + - : _ , # ( : a single CRLF-terminated line
	kBlob      // $ ! = : length line then payload then CRLF
	kAggregate // * ~ > : N elements
	kPairs     // % : 2N elements
	kAttribute // | : 2N elements, then the reply they describe
)

var kinds = [256]uint8{
	'+': kLine, '-': kLine, ':': kLine, '_': kLine, ',': kLine, '#': kLine, '(': kLine,
	'$': kBlob, '!': kBlob, '=': kBlob,
	'*': kAggregate, '~': kAggregate, '>': kAggregate,
	'%': kPairs,
	'|': kAttribute,
}

// ReplyFramer finds the end of one RESP2 or RESP3 reply (any type: + - : $ * _ , # ! = ( % ~ > |)
// without decoding it. It is resumable: after "incomplete" it keeps its progress (offsets and a
// stack of pending element counts), so a large aggregate arriving in many chunks is scanned once
// in total. Attributes (|) are framed together with the reply they precede (an attribute of N
// pairs counts as 2N+1 elements, the last being the reply); a push (>) is framed as one reply.
// Streamed aggregates and strings ("*?", "$?") are rejected. The zero value is ready to use; a
// ReplyFramer is not safe for concurrent use.
type ReplyFramer struct {
	pos   int                // offset of the next element to frame
	scan  int                // offset where the search for the current line's "\r\n" resumes
	need  int                // minimum len(buf) that can make progress
	depth int                // number of open aggregates
	stack [MaxReplyDepth]int // elements still expected by each open aggregate
}

// Reset forgets any partly framed reply.
func (f *ReplyFramer) Reset() { f.pos, f.scan, f.need, f.depth = 0, 0, 0, 0 }

// Need reports, after Frame returned "incomplete", the minimum len(buf) that can make progress.
func (f *ReplyFramer) Need() int { return f.need }

// Frame frames one reply at the start of buf.
//
//   - complete:   n > 0, err == nil; buf[:n] is exactly one reply; the framer is reset.
//   - incomplete: n == 0, err == nil; f.Need() is the minimum len(buf) that can make progress. The
//     next call must pass a buffer starting with the same bytes followed by more.
//   - malformed:  err != nil; the framer is reset (close the backend connection).
func (f *ReplyFramer) Frame(buf []byte) (n int, err error) {
	pos := f.pos
	for {
		if pos >= len(buf) {
			f.pos, f.need = pos, pos+1
			return 0, nil
		}
		k := kinds[buf[pos]]
		if k == kInvalid {
			f.Reset()
			return 0, ErrReplyType
		}
		// Find the end of the first line.
		from := max(f.scan, pos+1)
		i := -1
		if from < len(buf) {
			i = indexCR(buf[from:])
		}
		if i < 0 {
			f.pos, f.scan, f.need = pos, max(from, len(buf)), len(buf)+1
			return 0, nil
		}
		cr := from + i
		if cr+1 >= len(buf) {
			f.pos, f.scan, f.need = pos, cr, cr+2
			return 0, nil
		}
		if buf[cr+1] != '\n' {
			f.Reset()
			return 0, ErrReplyLine
		}
		next := cr + 2
		if k != kLine {
			hdr := buf[pos+1 : cr]
			if len(hdr) == 1 && hdr[0] == '?' {
				f.Reset()
				return 0, ErrReplyStreamed
			}
			v, ok := parseInt(hdr)
			if !ok || v < -1 || (v == -1 && buf[pos] != '$' && buf[pos] != '*') {
				f.Reset()
				return 0, ErrReplyLength
			}
			switch k {
			case kBlob:
				if v >= 0 {
					if v > int64(len(buf)) { // cannot be complete; avoids overflow below
						f.pos, f.scan, f.need = pos, 0, 0
						if v < 1<<62 {
							f.need = next + int(v) + 2
						} else {
							f.need = 1<<62 - 1
						}
						return 0, nil
					}
					end := next + int(v)
					if end+2 > len(buf) {
						f.pos, f.scan, f.need = pos, 0, end+2
						return 0, nil
					}
					if buf[end] != '\r' || buf[end+1] != '\n' {
						f.Reset()
						return 0, ErrReplyLine
					}
					next = end + 2
				}
			default:
				if v > 0 {
					if k != kAggregate {
						if v > 1<<40 {
							f.Reset()
							return 0, ErrReplyLength
						}
						v *= 2
						if k == kAttribute {
							v++
						}
					}
					if f.depth == MaxReplyDepth {
						f.Reset()
						return 0, ErrReplyDepth
					}
					f.stack[f.depth] = int(v)
					f.depth++
					pos, f.scan = next, 0
					continue
				}
				if k == kAttribute { // "|0": still followed by the reply it describes
					pos, f.scan = next, 0
					continue
				}
			}
		}
		// One element complete: pop finished aggregates.
		pos, f.scan = next, 0
		for f.depth > 0 {
			f.stack[f.depth-1]--
			if f.stack[f.depth-1] > 0 {
				break
			}
			f.depth--
		}
		if f.depth == 0 {
			f.Reset()
			return pos, nil
		}
	}
}

// indexCR is bytes.IndexByte(b, '\r') with a plain loop over the first bytes: most reply lines
// ("$5", ":1", "+OK") are shorter than a call to the vectorised search is worth.
func indexCR(b []byte) int {
	n := min(len(b), 16)
	for i := 0; i < n; i++ {
		if b[i] == '\r' {
			return i
		}
	}
	if n == len(b) {
		return -1
	}
	if i := bytes.IndexByte(b[n:], '\r'); i >= 0 {
		return n + i
	}
	return -1
}

// ReplyType returns the RESP type byte of reply (0 for an empty slice).
func ReplyType(reply []byte) byte {
	if len(reply) == 0 {
		return 0
	}
	return reply[0]
}

// IsError reports whether reply is an error: a simple error ('-') or a blob error ('!').
func IsError(reply []byte) bool {
	return len(reply) > 0 && (reply[0] == '-' || reply[0] == '!')
}

// ParseInt returns the value of an integer reply (":123\r\n" -> 123).
func ParseInt(reply []byte) (int64, bool) {
	if len(reply) < 4 || reply[0] != ':' {
		return 0, false
	}
	i := bytes.IndexByte(reply, '\r')
	if i < 0 {
		return 0, false
	}
	return parseInt(reply[1:i])
}

// ErrorText returns the message of an error reply without the type byte and CRLF ("-ERR x\r\n"
// -> "ERR x"); for a blob error ('!') the blob. It aliases reply; nil if reply is not an error.
func ErrorText(reply []byte) []byte {
	if len(reply) == 0 {
		return nil
	}
	switch reply[0] {
	case '-':
		i := bytes.IndexByte(reply, '\r')
		if i < 0 {
			i = len(reply)
		}
		return reply[1:i]
	case '!':
		return blobPayload(reply)
	}
	return nil
}

// BulkText returns the payload of a bulk string reply, or of a verbatim string without its
// "txt:" format prefix. It aliases reply.
func BulkText(reply []byte) ([]byte, bool) {
	if len(reply) == 0 || (reply[0] != '$' && reply[0] != '=') {
		return nil, false
	}
	b := blobPayload(reply)
	if b == nil {
		return nil, false
	}
	if reply[0] == '=' && len(b) >= 4 {
		b = b[4:]
	}
	return b, true
}

// blobPayload returns the payload of a $, ! or = reply (nil for a null or a malformed one).
func blobPayload(reply []byte) []byte {
	i := bytes.IndexByte(reply, '\r')
	if i < 0 {
		return nil
	}
	v, ok := parseInt(reply[1:i])
	if !ok || v < 0 || int64(len(reply)-i-2) < v {
		return nil
	}
	return reply[i+2 : i+2+int(v)]
}

// ArrayElems appends to dst the raw bytes of each element of the aggregate reply (*, ~, > or %,
// where each key and each value is an element) and returns it. Elements are complete sub-replies,
// nested aggregates and their attributes included; attributes before the aggregate itself are
// skipped. A null array gives no elements. It allocates nothing when dst has the capacity.
func ArrayElems(reply []byte, dst [][]byte) ([][]byte, error) {
	var f ReplyFramer
	// Skip attributes in front of the aggregate.
	for len(reply) > 0 && reply[0] == '|' {
		i := bytes.IndexByte(reply, '\r')
		if i < 0 || i+1 >= len(reply) {
			return dst, ErrReplyTruncated
		}
		v, ok := parseInt(reply[1:i])
		if !ok || v < 0 {
			return dst, ErrReplyLength
		}
		reply = reply[i+2:]
		for j := int64(0); j < 2*v; j++ {
			n, err := f.Frame(reply)
			if err != nil {
				return dst, err
			}
			if n == 0 {
				return dst, ErrReplyTruncated
			}
			reply = reply[n:]
		}
	}
	if len(reply) == 0 || (kinds[reply[0]] != kAggregate && kinds[reply[0]] != kPairs) {
		return dst, ErrReplyNotArray
	}
	i := bytes.IndexByte(reply, '\r')
	if i < 0 || i+1 >= len(reply) {
		return dst, ErrReplyTruncated
	}
	v, ok := parseInt(reply[1:i])
	if !ok || v < -1 {
		return dst, ErrReplyLength
	}
	if kinds[reply[0]] == kPairs {
		v *= 2
	}
	rest := reply[i+2:]
	for j := int64(0); j < v; j++ {
		n, err := f.Frame(rest)
		if err != nil {
			return dst, err
		}
		if n == 0 {
			f.Reset()
			return dst, ErrReplyTruncated
		}
		dst = append(dst, rest[:n:n])
		rest = rest[n:]
	}
	return dst, nil
}
