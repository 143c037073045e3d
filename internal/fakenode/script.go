package fakenode

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// Replies, as raw RESP2 bytes.
var OK = []byte("+OK\r\n")

// Simple is a simple string reply.
func Simple(s string) []byte { return []byte("+" + s + "\r\n") }

// Error is an error reply; msg is its text without the '-'.
func Error(msg string) []byte { return []byte("-" + msg + "\r\n") }

// Bulk is a bulk string reply.
func Bulk(s string) []byte { return []byte("$" + strconv.Itoa(len(s)) + "\r\n" + s + "\r\n") }

// Int is an integer reply.
func Int(n int64) []byte { return []byte(":" + strconv.FormatInt(n, 10) + "\r\n") }

// Null is RESP2's null bulk string.
var Null = []byte("$-1\r\n")

// Moved is the error a node gives for a slot it does not serve.
func Moved(slot int, addr string) []byte { return Error(fmt.Sprintf("MOVED %d %s", slot, addr)) }

// Ask is the error a node gives for a key of a slot being migrated to addr.
func Ask(slot int, addr string) []byte { return Error(fmt.Sprintf("ASK %d %s", slot, addr)) }

// Echo answers every command with a bulk string of its arguments joined by spaces ("GET k"), so
// a test can tell which request a reply belongs to.
func Echo(c *Conn, cmd Command) { c.Reply(EchoReply(cmd)) }

// EchoReply is Echo's answer to cmd.
func EchoReply(cmd Command) []byte { return Bulk(cmd.String()) }

// Silent reads and never answers.
func Silent(*Conn, Command) {}

// Step is one exchange of a Script.
type Step struct {
	Expect []string // the command expected, name first (nil: any)
	Raw    []byte   // or the exact request bytes expected (nil: any)
	Reply  []byte   // written when it comes (nil: nothing)
	Then   func(c *Conn, cmd Command)
}

// Script plays steps on every connection, the i-th command of a connection against steps[i];
// commands past the end are echoed. A command other than the one expected fails the test and
// resets the connection.
func Script(t testing.TB, steps ...Step) Handler {
	return func(c *Conn, cmd Command) {
		if c.Seq() >= len(steps) {
			Echo(c, cmd)
			return
		}
		s := steps[c.Seq()]
		if s.Expect != nil && (len(s.Expect) == 0 || !cmd.Is(s.Expect[0], s.Expect[1:]...)) ||
			s.Raw != nil && !bytes.Equal(s.Raw, cmd.Raw) {
			t.Errorf("fakenode %s: command #%d is %q (%q), want %q %q", c.node.Addr, c.Seq(), cmd, cmd.Raw, s.Expect, s.Raw)
			c.Reset()
			return
		}
		if s.Reply != nil {
			c.Reply(s.Reply)
		}
		if s.Then != nil {
			s.Then(c, cmd)
		}
	}
}

// Garbage is bytes that are no RESP reply.
var Garbage = []byte("garbage, not RESP\r\n")

// Shard is one master of a fake cluster and its replicas.
type Shard struct {
	Master   string
	Replicas []string
	Slots    string // "0-5460", or several ranges separated by spaces
}

// EvenShards gives each master an equal part of the slots, in the order given.
func EvenShards(masters ...string) []Shard {
	out := make([]Shard, len(masters))
	for i, m := range masters {
		lo, hi := i*16384/len(masters), (i+1)*16384/len(masters)-1
		out[i] = Shard{Master: m, Slots: fmt.Sprintf("%d-%d", lo, hi)}
	}
	return out
}

// ClusterNodes is the CLUSTER NODES text of a healthy cluster made of shards.
func ClusterNodes(shards ...Shard) string {
	var b strings.Builder
	id := 0
	for i, s := range shards {
		id++
		mid := fmt.Sprintf("%040x", id)
		fmt.Fprintf(&b, "%s %s@1 master - 0 0 %d connected %s\n", mid, s.Master, i+1, s.Slots)
		for _, r := range s.Replicas {
			id++
			fmt.Fprintf(&b, "%040x %s@1 slave %s 0 0 %d connected\n", id, r, mid, i+1)
		}
	}
	return b.String()
}
