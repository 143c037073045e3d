package codec

import (
	"math"
	"testing"
)

func TestAppenders(t *testing.T) {
	for _, tc := range []struct {
		got  []byte
		want string
	}{
		{AppendArrayLen(nil, 0), "*0\r\n"},
		{AppendArrayLen(nil, 9), "*9\r\n"},
		{AppendArrayLen(nil, 10), "*10\r\n"},
		{AppendArrayLen(nil, -1), "*-1\r\n"},
		{AppendMapLen(nil, 2, 3), "*6\r\n"},
		{AppendMapLen(nil, 3, 3), "%3\r\n"},
		{AppendSetLen(nil, 2, 2), "*2\r\n"},
		{AppendSetLen(nil, 3, 2), "~2\r\n"},
		{AppendPushLen(nil, 3, 3), ">3\r\n"},
		{AppendPushLen(nil, 2, 3), "*3\r\n"},
		{AppendBulk(nil, []byte("foo")), "$3\r\nfoo\r\n"},
		{AppendBulk(nil, nil), "$0\r\n\r\n"},
		{AppendBulk(nil, []byte("a\r\nb")), "$4\r\na\r\nb\r\n"},
		{AppendBulkString([]byte("x"), "hello world"), "x$11\r\nhello world\r\n"},
		{AppendVerbatim(nil, 3, "txt", []byte("hi")), "=6\r\ntxt:hi\r\n"},
		{AppendVerbatim(nil, 2, "txt", []byte("hi")), "$2\r\nhi\r\n"},
		{AppendNull(nil, 2), "$-1\r\n"},
		{AppendNull(nil, 3), "_\r\n"},
		{AppendNullArray(nil, 2), "*-1\r\n"},
		{AppendNullArray(nil, 3), "_\r\n"},
		{AppendInt(nil, 0), ":0\r\n"},
		{AppendInt(nil, 7), ":7\r\n"},
		{AppendInt(nil, 42), ":42\r\n"},
		{AppendInt(nil, -1), ":-1\r\n"},
		{AppendInt(nil, math.MinInt64), ":-9223372036854775808\r\n"},
		{AppendSimple(nil, "PONG"), "+PONG\r\n"},
		{AppendSimple(nil, "a\r\nb"), "+a  b\r\n"},
		{AppendOK(nil), "+OK\r\n"},
		{AppendError(nil, "ERR bad"), "-ERR bad\r\n"},
		{AppendError(nil, "ERR a\r\nb\nc"), "-ERR a  b c\r\n"},
		{AppendErrorBytes(nil, []byte("MOVED 1 h:1\r\n")), "-MOVED 1 h:1  \r\n"},
		{AppendBool(nil, 2, true), ":1\r\n"},
		{AppendBool(nil, 2, false), ":0\r\n"},
		{AppendBool(nil, 3, true), "#t\r\n"},
		{AppendBool(nil, 3, false), "#f\r\n"},
		{AppendDouble(nil, 3, 3.5), ",3.5\r\n"},
		{AppendDouble(nil, 2, 3.5), "$3\r\n3.5\r\n"},
		{AppendDouble(nil, 3, 1e300), ",1e+300\r\n"},
		{AppendDouble(nil, 3, math.Inf(1)), ",inf\r\n"},
		{AppendDouble(nil, 3, math.Inf(-1)), ",-inf\r\n"},
		{AppendDouble(nil, 2, math.NaN()), "$3\r\nnan\r\n"},
		{AppendRequest(nil, args("GET", "k")), "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"},
		{AppendRequest(nil, nil), "*0\r\n"},
		{AppendCommand(nil, []byte("PING")), "*1\r\n$4\r\nPING\r\n"},
	} {
		if string(tc.got) != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

// TestAppendersFrame checks that everything the appenders write frames as one reply.
func TestAppendersFrame(t *testing.T) {
	for _, proto := range []int{2, 3} {
		var b []byte
		b = AppendMapLen(b, proto, 3)
		b = AppendBulkString(b, "a")
		b = AppendSetLen(b, proto, 2)
		b = AppendBool(b, proto, true)
		b = AppendDouble(b, proto, -0.25)
		b = AppendSimple(b, "b")
		b = AppendNull(b, proto)
		b = AppendError(b, "ERR x")
		b = AppendNullArray(b, proto)
		var f ReplyFramer
		if n, err := f.Frame(b); n != len(b) || err != nil {
			t.Errorf("proto %d: %q frames to %d, %v", proto, b, n, err)
		}
	}
}
