package main

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
)

// value is a decoded RESP2/RESP3 value that remembers its raw bytes.
type value struct {
	typ   byte     // RESP type byte
	str   string   // simple/bulk/verbatim string, error text, number text
	elems []*value // aggregate elements (for maps and attributes: key, value, key, value...)
	raw   []byte   // the whole value as received
}

var errShort = errors.New("incomplete")

// decode decodes one value at the start of b; errShort if b ends too early.
func decode(b []byte) (*value, int, error) {
	if len(b) == 0 {
		return nil, 0, errShort
	}
	i := bytes.Index(b, []byte("\r\n"))
	if i < 0 {
		return nil, 0, errShort
	}
	v := &value{typ: b[0]}
	line := string(b[1:i])
	n := i + 2
	switch b[0] {
	case '+', '-', ':', ',', '#', '(', '_':
		v.str = line
	case '$', '!', '=':
		l, err := strconv.Atoi(line)
		if err != nil {
			return nil, 0, fmt.Errorf("bad length %q", line)
		}
		if l >= 0 {
			if len(b) < n+l+2 {
				return nil, 0, errShort
			}
			v.str = string(b[n : n+l])
			n += l + 2
		}
	case '*', '~', '>', '%', '|':
		l, err := strconv.Atoi(line)
		if err != nil {
			return nil, 0, fmt.Errorf("bad length %q", line)
		}
		if b[0] == '%' || b[0] == '|' {
			l *= 2
		}
		for j := 0; j < l; j++ {
			e, m, err := decode(b[n:])
			if err != nil {
				return nil, 0, err
			}
			v.elems = append(v.elems, e)
			n += m
		}
		if b[0] == '|' { // the attribute precedes the real value
			e, m, err := decode(b[n:])
			if err != nil {
				return nil, 0, err
			}
			e.raw = b[:n+m]
			return e, n + m, nil
		}
	default:
		return nil, 0, fmt.Errorf("bad type byte %q", b[0])
	}
	v.raw = b[:n]
	return v, n, nil
}

// pairs returns the key/value pairs of a RESP3 map or a RESP2 flat array.
func (v *value) pairs() ([][2]*value, error) {
	if v.typ != '%' && v.typ != '*' || len(v.elems)%2 != 0 {
		return nil, fmt.Errorf("not a map: %q", v.raw)
	}
	var ps [][2]*value
	for i := 0; i < len(v.elems); i += 2 {
		ps = append(ps, [2]*value{v.elems[i], v.elems[i+1]})
	}
	return ps, nil
}

// get returns the value for key in a map (RESP3) or flat array (RESP2), or nil.
func (v *value) get(key string) *value {
	ps, err := v.pairs()
	if err != nil {
		return nil
	}
	for _, p := range ps {
		if p[0].str == key {
			return p[1]
		}
	}
	return nil
}

func (v *value) int() int {
	n, err := strconv.Atoi(v.str)
	if err != nil {
		panic(fmt.Sprintf("not an integer: %q", v.raw))
	}
	return n
}

func (v *value) strs() []string {
	var s []string
	for _, e := range v.elems {
		s = append(s, e.str)
	}
	return s
}
