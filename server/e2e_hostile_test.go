package server_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/slotgate/slotgate/server"
)

// TestE2ERefusedMultiRunsNothing: after a refused MULTI nothing up to EXEC or DISCARD is
// forwarded, so a client pipelining a transaction does not get its writes applied one by one.
func TestE2ERefusedMultiRunsNothing(t *testing.T) {
	p := startProxy(t, cluster, nil)
	ctx := context.Background()
	run := runID()
	key := "tx:" + run
	cl := p.client(t, nil)

	_, err := cl.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		pipe.Set(ctx, key, "1", time.Hour)
		pipe.Incr(ctx, key)
		return nil
	})
	if err == nil {
		t.Fatal("TxPipelined through slotgate succeeded; want an error while transactions are refused")
	}
	if n, err := cl.Exists(ctx, key).Result(); err != nil || n != 0 {
		t.Fatalf("EXISTS %s after a refused transaction = %d, %v; want 0 (nothing applied)", key, n, err)
	}

	px := dialRaw(t, p.Addr)
	px.write(respCmd("MULTI") + respCmd("SET", key, "x") + respCmd("MULTI") + respCmd("EXEC") + respCmd("GET", key))
	for i, want := range []string{"-ERR slotgate: 'multi'", "-ERR slotgate: command not run", "-ERR MULTI calls can not be nested",
		"-EXECABORT Transaction discarded because of previous errors.", "$-1"} {
		if r := px.read(); !strings.HasPrefix(r, want) {
			t.Fatalf("reply %d = %q; want %q...", i, r, want)
		}
	}
	// DISCARD and RESET end the refused transaction too.
	px.write(respCmd("MULTI") + respCmd("INCR", key) + respCmd("DISCARD") + respCmd("INCR", key) +
		respCmd("MULTI") + respCmd("INCR", key) + respCmd("RESET") + respCmd("INCR", key))
	for i, want := range []string{"-ERR slotgate: 'multi'", "-ERR slotgate: command not run", "+OK", ":1",
		"-ERR slotgate: 'multi'", "-ERR slotgate: command not run", "+RESET", ":2"} {
		if r := px.read(); !strings.HasPrefix(r, want) {
			t.Fatalf("second sequence, reply %d = %q; want %q...", i, r, want)
		}
	}
	// Errors before the command table (unknown command, arity) are not forwarded either.
	px.write(respCmd("MULTI") + respCmd("NOSUCH") + respCmd("EXEC"))
	for i, want := range []string{"-ERR slotgate: 'multi'", "-ERR unknown command", "-EXECABORT"} {
		if r := px.read(); !strings.HasPrefix(r, want) {
			t.Fatalf("third sequence, reply %d = %q; want %q...", i, r, want)
		}
	}
}

// TestE2EPausedListBounded: a session that stops and resumes at its in-flight limit many times
// between two ticks is listed once in its loop's paused list, not once per pause.
func TestE2EPausedListBounded(t *testing.T) {
	p := startProxy(t, cluster, func(c *server.Config) { c.MaxInflight = 2 })
	ctx := context.Background()
	const clients, rounds = 4, 200
	var wg sync.WaitGroup
	errc := make(chan error, clients)
	for c := range clients {
		cl := p.client(t, nil)
		wg.Go(func() {
			key := "pl:" + strconv.Itoa(c)
			for range rounds {
				pipe := cl.Pipeline()
				for range 64 {
					pipe.Incr(ctx, key)
				}
				if _, err := pipe.Exec(ctx); err != nil {
					errc <- err
					return
				}
			}
		})
	}
	// Sample the list while the clients cycle at their limit.
	maxLen := 0
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
			for _, n := range server.PausedEntries(p.Srv) {
				maxLen = max(maxLen, n)
			}
		}
	}()
	wg.Wait()
	close(stop)
	<-sampled
	close(errc)
	if err := errors.Join(func() (es []error) {
		for e := range errc {
			es = append(es, e)
		}
		return
	}()...); err != nil {
		t.Fatal(err)
	}
	t.Logf("longest paused list seen: %d (clients %d)", maxLen, clients)
	if maxLen > clients {
		t.Fatalf("a loop listed %d paused entries for %d clients: the list grows with every pause", maxLen, clients)
	}
}
