package server_test

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestE2EKeylessSurface: the keyless commands a single Redis answers about itself get the
// answer of one big Redis: TIME (slotgate's clock), ROLE (a master without replicas, as INFO
// replication says), ASKING and ACL WHOAMI answered locally, static text (the containers' HELP,
// ACL CAT, LOLWUT) byte for byte as a node gives it, ACL GENPASS a fresh password.
func TestE2EKeylessSurface(t *testing.T) {
	p := startProxy(t, cluster, nil)
	px := dialRaw(t, p.Addr)
	node := dialNode(t)

	r := px.do("TIME")
	m := regexp.MustCompile(`^\*2\r\n\$\d+\r\n(\d+)\r\n\$\d+\r\n(\d+)\r\n$`).FindStringSubmatch(r)
	if m == nil {
		t.Fatalf("TIME = %q", r)
	}
	sec, _ := strconv.ParseInt(m[1], 10, 64)
	usec, _ := strconv.ParseInt(m[2], 10, 64)
	if d := time.Since(time.Unix(sec, usec*1000)); d < -time.Minute || d > time.Minute || usec >= 1e6 {
		t.Errorf("TIME = %s.%06d, %v from this clock", m[1], usec, d)
	}
	for _, c := range []struct {
		req  []string
		want string
	}{
		{[]string{"ROLE"}, "*3\r\n$6\r\nmaster\r\n:0\r\n*0\r\n"},
		{[]string{"ASKING"}, "+OK\r\n"},
		{[]string{"ACL", "WHOAMI"}, "$7\r\ndefault\r\n"},
	} {
		if got := px.do(c.req...); got != c.want {
			t.Errorf("%v = %q, want %q", c.req, got, c.want)
		}
	}
	// Static text: the same bytes as a node's.
	for _, req := range [][]string{
		{"ACL", "CAT"}, {"ACL", "CAT", "string"}, {"ACL", "HELP"}, {"OBJECT", "HELP"}, {"XINFO", "HELP"},
		{"XGROUP", "HELP"}, {"MEMORY", "HELP"}, {"CONFIG", "HELP"}, {"PUBSUB", "HELP"}, {"SCRIPT", "HELP"},
		{"LOLWUT", "VERSION", "5", "1", "1", "1"},
	} {
		if got, want := px.do(req...), node.do(req...); got != want {
			t.Errorf("%v through slotgate:\n%q\nnode:\n%q", req, got, want)
		}
	}
	if got := px.do("ACL", "GENPASS"); !regexp.MustCompile(`^\$64\r\n[0-9a-f]{64}\r\n$`).MatchString(got) {
		t.Errorf("ACL GENPASS = %q", got)
	}
	for _, req := range [][]string{{"ACL"}, {"ACL", "NOPE"}, {"ROLE", "x"}, {"TIME", "x"}} {
		if got, want := px.do(req...), node.do(req...); got != want {
			t.Errorf("%v through slotgate: %q, node: %q", req, got, want)
		}
	}
	// The nodes' own users are not slotgate's clients' business.
	for _, req := range [][]string{{"ACL", "LIST"}, {"ACL", "USERS"}, {"ACL", "GETUSER", "default"},
		{"ACL", "DRYRUN", "default", "GET", "k"}, {"ACL", "LOG"}, {"PFSELFTEST"}, {"REPLCONF", "ACK", "0"}} {
		name := strings.ToLower(req[0])
		if name == "acl" {
			name += " " + strings.ToLower(req[1])
		}
		if got := px.do(req...); !strings.HasPrefix(got, "-ERR slotgate: '"+name+"' is refused through a proxy: ") {
			t.Errorf("%v = %q, want a refusal for good", req, got)
		}
	}
	// Inside MULTI, TIME is the transaction node's (queued); ACL WHOAMI cannot be queued.
	if got := px.do("MULTI"); got != "+OK\r\n" {
		t.Fatalf("MULTI = %q", got)
	}
	if got := px.do("TIME"); got != "+QUEUED\r\n" {
		t.Errorf("TIME in MULTI = %q", got)
	}
	if got := px.do("EXEC"); !strings.HasPrefix(got, "*1\r\n*2\r\n") {
		t.Errorf("EXEC = %q", got)
	}
}
