package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/panjf2000/gnet/v2"
	"github.com/slotgate/slotgate/internal/testcluster"
)

// The floor must do the real work, or the comparison slotbench -floor makes means nothing:
// pipelined writes and reads from several clients, over every master, come back right and in
// order.
func TestFloorproxyForwardsInOrder(t *testing.T) {
	c := testcluster.StartT(t, testcluster.Options{})
	p := &proxy{password: c.Password}
	if err := p.loadSlots(c.Seeds()[0]); err != nil {
		t.Fatal(err)
	}
	if len(p.masters) != 3 {
		t.Fatalf("masters %v, want 3", p.masters)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	done := make(chan error, 1)
	go func() { done <- gnet.Run(p, "tcp://"+addr, gnet.WithNumEventLoop(1)) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = gnet.Stop(ctx, "tcp://"+addr)
		<-done
	})
	var conn net.Conn
	for deadline := time.Now().Add(5 * time.Second); ; {
		if conn, err = net.Dial("tcp", addr); err == nil {
			conn.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}

	const clients, depth = 4, 300
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for ci := range clients {
		wg.Go(func() {
			if err := pipelineClient(addr, ci, depth); err != nil {
				errs <- fmt.Errorf("client %d: %w", ci, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// pipelineClient writes depth SETs then depth GETs of its own keys in one write each, and checks
// every reply in order.
func pipelineClient(addr string, id, depth int) error {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(20 * time.Second))
	var out []byte
	for i := range depth {
		k, v := "k:"+strconv.Itoa(id)+":"+strconv.Itoa(i), "v"+strconv.Itoa(i*7+id)
		out = fmt.Appendf(out, "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", len(k), k, len(v), v)
	}
	for i := range depth {
		k := "k:" + strconv.Itoa(id) + ":" + strconv.Itoa(i)
		out = fmt.Appendf(out, "*2\r\n$3\r\nGET\r\n$%d\r\n%s\r\n", len(k), k)
	}
	if _, err := nc.Write(out); err != nil {
		return err
	}
	rd := bufio.NewReader(nc)
	for i := range depth {
		if line, err := rd.ReadString('\n'); err != nil || line != "+OK\r\n" {
			return fmt.Errorf("SET %d: %q %v", i, line, err)
		}
	}
	for i := range depth {
		want := "v" + strconv.Itoa(i*7+id)
		head, err := rd.ReadString('\n')
		if err != nil {
			return err
		}
		body, err := rd.ReadString('\n')
		if err != nil {
			return err
		}
		if head != "$"+strconv.Itoa(len(want))+"\r\n" || body != want+"\r\n" {
			return fmt.Errorf("GET %d: %q %q, want %q", i, head, body, want)
		}
	}
	return nil
}

func TestFrameRequest(t *testing.T) {
	for _, tc := range []struct {
		in       string
		n        int
		key      string
		wellDone bool
	}{
		{"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", 20, "k", true},
		{"*1\r\n$4\r\nPING\r\n", 14, "", true},
		{"*2\r\n$3\r\nGET\r\n$1\r\nk\r", 0, "", true}, // incomplete
		{"*2\r\n$3\r\nGE", 0, "", true},
		{"*", 0, "", true},
		{"PING\r\n", 0, "", false}, // inline: not for the floor
		{"*2\r\n+x\r\n", 0, "", false},
		{"*9999999999\r\n", 0, "", false},
	} {
		n, key, ok := frameRequest([]byte(tc.in))
		if n != tc.n || string(key) != tc.key || ok != tc.wellDone {
			t.Errorf("frameRequest(%q) = %d %q %v, want %d %q %v", tc.in, n, key, ok, tc.n, tc.key, tc.wellDone)
		}
	}
}
