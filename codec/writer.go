package codec

import (
	"math"
	"strconv"
)

// Appenders write RESP to dst and return the extended slice, like the append builtin. They never
// use fmt and allocate only when dst must grow. proto is the client's protocol, 2 or 3 (any value
// other than 3 means RESP2).

// appendHeader appends c, n and CRLF, with a fast path for one digit.
func appendHeader(dst []byte, c byte, n int64) []byte {
	if n >= 0 && n < 10 {
		return append(dst, c, byte('0'+n), '\r', '\n')
	}
	dst = append(dst, c)
	dst = strconv.AppendInt(dst, n, 10)
	return append(dst, '\r', '\n')
}

// AppendArrayLen appends an array header "*n\r\n".
func AppendArrayLen(dst []byte, n int) []byte { return appendHeader(dst, '*', int64(n)) }

// AppendMapLen appends a map header of n pairs: "%n" in RESP3, "*2n" in RESP2.
func AppendMapLen(dst []byte, proto int, n int) []byte {
	if proto == 3 {
		return appendHeader(dst, '%', int64(n))
	}
	return appendHeader(dst, '*', 2*int64(n))
}

// AppendSetLen appends a set header: "~n" in RESP3, "*n" in RESP2.
func AppendSetLen(dst []byte, proto int, n int) []byte {
	if proto == 3 {
		return appendHeader(dst, '~', int64(n))
	}
	return appendHeader(dst, '*', int64(n))
}

// AppendPushLen appends a push header: ">n" in RESP3, "*n" in RESP2.
func AppendPushLen(dst []byte, proto int, n int) []byte {
	if proto == 3 {
		return appendHeader(dst, '>', int64(n))
	}
	return appendHeader(dst, '*', int64(n))
}

// AppendBulk appends b as a bulk string.
func AppendBulk(dst []byte, b []byte) []byte {
	dst = appendHeader(dst, '$', int64(len(b)))
	dst = append(dst, b...)
	return append(dst, '\r', '\n')
}

// AppendBulkString appends s as a bulk string.
func AppendBulkString(dst []byte, s string) []byte {
	dst = appendHeader(dst, '$', int64(len(s)))
	dst = append(dst, s...)
	return append(dst, '\r', '\n')
}

// AppendVerbatim appends a verbatim string: "=len\r\nfmt:text\r\n" in RESP3 (format is three
// bytes, e.g. "txt"), a bulk string of text in RESP2.
func AppendVerbatim(dst []byte, proto int, format string, text []byte) []byte {
	if proto != 3 {
		return AppendBulk(dst, text)
	}
	dst = appendHeader(dst, '=', int64(len(format)+1+len(text)))
	dst = append(dst, format...)
	dst = append(dst, ':')
	dst = append(dst, text...)
	return append(dst, '\r', '\n')
}

// AppendNull appends a null: "$-1\r\n" in RESP2, "_\r\n" in RESP3.
func AppendNull(dst []byte, proto int) []byte {
	if proto == 3 {
		return append(dst, "_\r\n"...)
	}
	return append(dst, "$-1\r\n"...)
}

// AppendNullArray appends a null array: "*-1\r\n" in RESP2, "_\r\n" in RESP3.
func AppendNullArray(dst []byte, proto int) []byte {
	if proto == 3 {
		return append(dst, "_\r\n"...)
	}
	return append(dst, "*-1\r\n"...)
}

// AppendInt appends an integer reply ":n\r\n".
func AppendInt(dst []byte, n int64) []byte { return appendHeader(dst, ':', n) }

// AppendSimple appends a simple string "+s\r\n". CR and LF in s are replaced by spaces.
func AppendSimple(dst []byte, s string) []byte {
	dst = append(dst, '+')
	dst = appendLine(dst, s)
	return append(dst, '\r', '\n')
}

// AppendOK appends "+OK\r\n".
func AppendOK(dst []byte) []byte { return append(dst, "+OK\r\n"...) }

// AppendError appends an error reply "-msg\r\n"; msg is given without '-' and CRLF (for example
// "ERR unknown command"); CR and LF inside it are replaced by spaces, as Redis does.
func AppendError(dst []byte, msg string) []byte {
	dst = append(dst, '-')
	dst = appendLine(dst, msg)
	return append(dst, '\r', '\n')
}

// AppendErrorBytes is AppendError for a []byte message.
func AppendErrorBytes(dst []byte, msg []byte) []byte {
	dst = append(dst, '-')
	for _, c := range msg {
		if c == '\r' || c == '\n' {
			c = ' '
		}
		dst = append(dst, c)
	}
	return append(dst, '\r', '\n')
}

func appendLine(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\r' || c == '\n' {
			c = ' '
		}
		dst = append(dst, c)
	}
	return dst
}

// AppendBool appends a boolean: ":1"/":0" in RESP2, "#t"/"#f" in RESP3.
func AppendBool(dst []byte, proto int, v bool) []byte {
	switch {
	case proto == 3 && v:
		return append(dst, "#t\r\n"...)
	case proto == 3:
		return append(dst, "#f\r\n"...)
	case v:
		return append(dst, ":1\r\n"...)
	}
	return append(dst, ":0\r\n"...)
}

// AppendDouble appends a double: ",v\r\n" in RESP3, a bulk string in RESP2. Infinities are
// "inf"/"-inf" and NaN is "nan", as Redis writes them.
func AppendDouble(dst []byte, proto int, v float64) []byte {
	var tmp [32]byte
	var b []byte
	switch {
	case math.IsInf(v, 1):
		b = append(tmp[:0], "inf"...)
	case math.IsInf(v, -1):
		b = append(tmp[:0], "-inf"...)
	case math.IsNaN(v):
		b = append(tmp[:0], "nan"...)
	default:
		b = strconv.AppendFloat(tmp[:0], v, 'g', -1, 64) // shortest form that round-trips
	}
	if proto == 3 {
		dst = append(dst, ',')
		dst = append(dst, b...)
		return append(dst, '\r', '\n')
	}
	return AppendBulk(dst, b)
}

// AppendRequest appends args as a RESP multibulk request ("*N\r\n$len\r\narg\r\n..."). It is used
// to re-encode inline requests and to build the per-slot parts of split commands.
func AppendRequest(dst []byte, args [][]byte) []byte {
	dst = AppendArrayLen(dst, len(args))
	for _, a := range args {
		dst = AppendBulk(dst, a)
	}
	return dst
}

// AppendCommand is AppendRequest with variadic arguments.
func AppendCommand(dst []byte, args ...[]byte) []byte { return AppendRequest(dst, args) }

// AppendDoubling is append that at least doubles the capacity when it grows (append grows large
// slices by a quarter, which copies a buffer growing to n bytes about 4n times in all): a large
// frame gathered read by read is moved less than once per byte in total. moved is the number of
// bytes it copied to a new array.
func AppendDoubling(dst, src []byte) (out []byte, moved int) {
	if len(src) > cap(dst)-len(dst) {
		grown := make([]byte, len(dst), max(2*cap(dst), len(dst)+len(src)))
		moved = copy(grown, dst)
		dst = grown
	}
	return append(dst, src...), moved
}
