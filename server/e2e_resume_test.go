package server_test

import (
	"io"
	"net"
	"testing"
	"time"

	"github.com/slotgate/slotgate/server"
)

// A client paused at -client-max-inflight resumes when its replies come in, inside the backend
// callback that delivered them; the request it parses first then may be answered locally. That
// reply must still be written (the session touched while the callback writes its batch must not
// be dropped from the batch).
func TestE2EResumeInBackendCallbackWritesLocalReply(t *testing.T) {
	p := startProxy(t, cluster, func(c *server.Config) { c.MaxInflight = 2 })
	conn, err := net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Same slot: both GETs travel in one write to one master, their replies in one read.
	req := "*2\r\n$3\r\nGET\r\n$5\r\n{r}:a\r\n*2\r\n$3\r\nGET\r\n$5\r\n{r}:b\r\n*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n$5\r\n{r}:c\r\n"
	want := "$-1\r\n$-1\r\n+PONG\r\n$-1\r\n"
	for i := range 50 {
		if _, err := conn.Write([]byte(req)); err != nil {
			t.Fatal(err)
		}
		_ = conn.SetReadDeadline(time.Now().Add(3 * time.Second))
		got := make([]byte, len(want))
		if _, err := io.ReadFull(conn, got); err != nil {
			t.Fatalf("round %d: %v (got %q so far)", i, err, got)
		}
		if string(got) != want {
			t.Fatalf("round %d: got %q, want %q", i, got, want)
		}
	}
}
