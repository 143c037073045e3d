package server_test

import (
	"context"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/slotgate/slotgate/router"
)

// silentNode is a scripted fault a real server cannot produce on demand: it accepts
// connections, reads requests and never answers.
type silentNode struct {
	ln       net.Listener
	accepted atomic.Int32
}

func startSilentNode(t *testing.T) *silentNode {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n := &silentNode{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n.accepted.Add(1)
			go func() {
				defer c.Close()
				buf := make([]byte, 4096)
				for {
					if _, err := c.Read(buf); err != nil {
						return
					}
				}
			}()
		}
	}()
	return n
}

// A node that stops answering: each request gets "-ERR timeout waiting for node" after
// -request-timeout (its reply slot becomes an orphan), and past -backend-stall the connection
// is closed and a new one opened.
func TestE2ERequestTimeoutAndStall(t *testing.T) {
	node := startSilentNode(t)
	addr := node.ln.Addr().String()
	rt := router.New(router.Config{Seeds: []string{addr}, RequestTimeout: 300 * time.Millisecond, BackendStall: 800 * time.Millisecond})
	views, err := router.ParseClusterNodes("n1 "+addr+"@1 myself,master - 0 0 1 connected 0-16383\n", addr)
	if err != nil {
		t.Fatal(err)
	}
	rt.Publish(router.BuildTopology(views))
	p := serveWith(t, rt, nil)
	// RESP2: a RESP3 pipeline says HELLO 3 when dialled, which a silent node never answers (a
	// failed dial, not a request on an open connection).
	cl := p.client(t, func(o *redis.Options) { o.MaxRetries = -1; o.ReadTimeout = 5 * time.Second; o.Protocol = 2 })
	ctx := context.Background()

	t0 := time.Now()
	err = cl.Get(ctx, "k").Err()
	took := time.Since(t0)
	if err == nil || !strings.Contains(err.Error(), "timeout waiting for node "+addr) {
		t.Fatalf("GET on a silent node: %v", err)
	}
	t.Logf("GET answered %q after %v", err, took.Round(time.Millisecond))
	if took > 2*time.Second {
		t.Errorf("timeout answered after %v, want about 300ms", took)
	}
	// The same client goes on: its next request gets its own answer, not the orphan's.
	if err := cl.Set(ctx, "k", "v", 0).Err(); err == nil || !strings.Contains(err.Error(), "timeout waiting for node") {
		t.Fatalf("second request: %v", err)
	}
	// Past the stall limit the connection is rebuilt.
	deadline := time.Now().Add(3 * time.Second)
	for node.accepted.Load() < 2 {
		_ = cl.Get(ctx, "k").Err()
		if time.Now().After(deadline) {
			t.Fatalf("stalled connection not rebuilt: %d connections accepted", node.accepted.Load())
		}
	}
}
