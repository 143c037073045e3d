package router

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/slotgate/slotgate/internal/fakenode"
)

// Each seed's failure has a cause; only causes no retry mends make the whole failure definite,
// and a definite cause names the failure even beside a transient one.
func TestClassifySetup(t *testing.T) {
	_, noPort := net.Dial("tcp", "redis1")
	_, namedPort := net.Dial("tcp", "127.0.0.1:nosuchservice")
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}
	dns := &net.DNSError{Err: "no such host", Name: "nosuchhost.invalid", IsNotFound: true}
	for _, c := range []struct {
		err      error
		cause    string
		definite bool
	}{
		{fmt.Errorf("a:1: %w: WRONGPASS invalid username-password pair", ErrWrongPassword), "auth", true},
		{errors.New("a:1: CLUSTER NODES: NOAUTH Authentication required."), "auth", true},
		{errors.New("a:1: AUTH: ERR AUTH <password> called without any password configured for the default user."), "auth", true},
		{errors.New("a:1: CLUSTER NODES: NOPERM User u has no permissions to run the 'cluster|nodes' command"), "noperm", true},
		{errors.New("a:1: CLUSTER NODES: ERR This instance has cluster support disabled"), "no_cluster", true},
		{fmt.Errorf("redis1: %w", noPort), "bad_address", true},
		{fmt.Errorf("a:nosuchservice: %w", namedPort), "bad_address", true},
		{fmt.Errorf("a:1: %w", refused), "unreachable", false},
		{fmt.Errorf("nosuchhost.invalid:1: %w", dns), "dns", false},
		{errors.New("nodes a:1: no master serves any slot"), "no_slots", false},
		{errors.Join(fmt.Errorf("a:1: %w", refused), errors.New("b:1: CLUSTER NODES: NOAUTH Authentication required.")), "auth", false},
		{errors.Join(fmt.Errorf("a:1: %w: WRONGPASS", ErrWrongPassword), errors.New("b:1: CLUSTER NODES: ERR This instance has cluster support disabled")), "auth", true},
	} {
		se := classifySetup(c.err)
		if se.Cause != c.cause || se.Definite != c.definite {
			t.Errorf("%v: cause %s definite %v, want %s %v", c.err, se.Cause, se.Definite, c.cause, c.definite)
		}
	}
}

// A failover is one line naming the old and the new master; the topology one line with its
// counts.
func TestLogTopologyFailover(t *testing.T) {
	build := func(shards ...fakenode.Shard) *Topology {
		views, err := ParseClusterNodes(fakenode.ClusterNodes(shards...), shards[0].Master)
		if err != nil {
			t.Fatal(err)
		}
		return BuildTopology(views)
	}
	old := build(fakenode.EvenShards("127.0.0.1:7000", "127.0.0.1:7001")...)
	sh := fakenode.EvenShards("127.0.0.1:7003", "127.0.0.1:7001")
	now := build(sh...)
	var buf bytes.Buffer
	logTopology(slog.New(slog.NewTextHandler(&buf, nil)), old, now)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `msg="master replaced" old=127.0.0.1:7000 new=127.0.0.1:7003`) ||
		!strings.Contains(lines[0], "slots=0-8191") ||
		!strings.Contains(lines[1], `msg="topology changed" masters=2 replicas=0 slots_ok=16384 epoch=`) {
		t.Errorf("log:\n%s", buf.String())
	}
}
