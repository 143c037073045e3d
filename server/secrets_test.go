package server

import (
	"strconv"
	"testing"
)

func TestRedactConfig(t *testing.T) {
	bulk := func(s string) string { return "$" + strconv.Itoa(len(s)) + "\r\n" + s + "\r\n" }
	for _, c := range []struct{ reply, want string }{
		{"*0\r\n", "*0\r\n"},
		{"*4\r\n" + bulk("maxmemory") + bulk("0") + bulk("requirepass") + bulk("pw"),
			"*2\r\n" + bulk("maxmemory") + bulk("0")},
		{"*4\r\n" + bulk("MasterAuth") + bulk("pw") + bulk("tls-client-key-file-pass") + bulk("pw"), "*0\r\n"},
		{"%2\r\n" + bulk("requirepass") + bulk("pw") + bulk("save") + bulk(""), "%1\r\n" + bulk("save") + bulk("")},
		{"*2\r\n+requirepass\r\n" + bulk("pw"), "*0\r\n"}, // a name it cannot read is left out
		{"*3\r\n" + bulk("a") + bulk("b") + bulk("c"), "-ERR slotgate: a node answered CONFIG GET with a malformed reply\r\n"},
		{"*2\r\n" + bulk("requirepass"), "-ERR slotgate: a node answered CONFIG GET with a malformed reply\r\n"},
		{"+OK\r\n", "-ERR slotgate: a node answered CONFIG GET with a malformed reply\r\n"},
	} {
		if got := string(redactConfig(nil, []byte(c.reply))); got != c.want {
			t.Errorf("%q: got %q, want %q", c.reply, got, c.want)
		}
	}
}
