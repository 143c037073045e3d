package codec

import "bytes"

// readInline frames an inline command (a line not starting with '*'), as Redis's
// processInlineBuffer does: the line ends at '\n' (an optional '\r' before it is dropped) and is
// split like sdssplitargs. A blank line is an empty request.
//
// splitArgs still stops at a NUL like sdssplitargs, though readInline never passes one.
func (r *Request) readInline(buf []byte) (int, error) {
	// Redis finds the '\n' with strchr, which stops at a NUL byte: a NUL before the '\n' makes it
	// wait for more input until the line is too long, and so does this.
	i := -1
	from := r.scan
	if !r.stuck {
		lim := min(len(buf), MaxInlineLen+1)
		if from < lim {
			i = bytes.IndexByte(buf[from:lim], '\n')
			end := lim
			if i >= 0 {
				end = from + i
			}
			if bytes.IndexByte(buf[from:end], 0) >= 0 {
				r.stuck, i = true, -1
			}
		}
		if i < 0 {
			r.scan = max(from, lim)
		}
	}
	if i < 0 {
		if len(buf) > MaxInlineLen {
			r.reset()
			return 0, ErrTooBigInline
		}
		r.need = len(buf) + 1
		return 0, nil
	}
	nl := from + i
	end := nl
	if end > 0 && buf[end-1] == '\r' {
		end--
	}
	r.reset()
	if err := r.splitArgs(buf[:end]); err != nil {
		r.Args = r.Args[:0]
		return 0, err
	}
	r.Inline = len(r.Args) > 0
	return nl + 1, nil
}

// isSpace is C's isspace in the "C" locale.
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func hexVal(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

// splitArgs appends the arguments of line to r.Args, exactly as Redis's sdssplitargs splits them
// (including its C-string view: a NUL byte ends the line outside quotes). An argument without
// quotes aliases line; one with quotes is unescaped into r.scratch.
func (r *Request) splitArgs(line []byte) error {
	if cap(r.scratch) < len(line) {
		r.scratch = make([]byte, 0, max(len(line), 64))
	}
	sc := r.scratch[:0] // never grows past cap: unescaping only shrinks
	n := len(line)
	at := func(i int) byte { // *p of the C code; 0 past the end
		if i < n {
			return line[i]
		}
		return 0
	}
	p := 0
	for {
		for p < n && isSpace(line[p]) {
			p++
		}
		if p >= n || line[p] == 0 {
			r.scratch = sc
			return nil
		}
		start, end := p, p
		quoted := false // the argument is being built in sc
		s0 := len(sc)
		inq, insq, done := false, false, false
		for !done {
			c := at(p)
			switch {
			case inq:
				switch {
				case c == '\\' && at(p+1) == 'x' && isHex(at(p+2)) && isHex(at(p+3)):
					sc = append(sc, hexVal(at(p+2))<<4|hexVal(at(p+3)))
					p += 3
				case c == '\\' && at(p+1) != 0:
					p++
					e := line[p]
					switch e {
					case 'n':
						e = '\n'
					case 'r':
						e = '\r'
					case 't':
						e = '\t'
					case 'b':
						e = '\b'
					case 'a':
						e = '\a'
					}
					sc = append(sc, e)
				case c == '"':
					if nx := at(p + 1); nx != 0 && !isSpace(nx) {
						return ErrUnbalancedQuotes
					}
					done = true
				case c == 0:
					return ErrUnbalancedQuotes
				default:
					sc = append(sc, c)
				}
			case insq:
				switch {
				case c == '\\' && at(p+1) == '\'':
					p++
					sc = append(sc, '\'')
				case c == '\'':
					if nx := at(p + 1); nx != 0 && !isSpace(nx) {
						return ErrUnbalancedQuotes
					}
					done = true
				case c == 0:
					return ErrUnbalancedQuotes
				default:
					sc = append(sc, c)
				}
			default:
				switch c {
				case ' ', '\n', '\r', '\t', 0:
					done = true
					end = p
				case '"', '\'':
					if !quoted {
						quoted = true
						sc = append(sc, line[start:p]...)
					}
					inq, insq = c == '"', c == '\''
				default:
					if quoted {
						sc = append(sc, c)
					}
				}
			}
			if at(p) != 0 {
				p++
			}
		}
		if quoted {
			r.Args = append(r.Args, sc[s0:len(sc):len(sc)])
		} else {
			r.Args = append(r.Args, line[start:end:end])
		}
	}
}
