package server_test

import (
	"context"
	"io"
	"log/slog"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/slotgate/slotgate/internal/testcluster"
	"github.com/slotgate/slotgate/router"
)

// learntHidden are the commands the slotgate of TestE2ELearntCommands does not have in its table
// (a build with -tags slotgate_testhooks hides them): the cluster's redis-server 7.0 has them,
// as a node with a module has commands the table lacks. notLearnt are those of them slotgate
// must not learn, and why.
var (
	learntHidden = []string{"getex", "lmpop", "copy", "object", "sort", "bgsave", "blmpop"}
	notLearnt    = map[string]string{"sort": "ACL category @dangerous", "bgsave": "flag admin,noscript", "blmpop": "flag blocking"}
)

// TestE2ELearntCommands: commands hidden from slotgate's table are learnt from the cluster's
// COMMAND INFO at start and routed by their key specs (one key, several keys in one slot,
// CROSSSLOT refused, a container's subcommand, inside MULTI); admin, dangerous and blocking ones
// stay unknown; COMMAND INFO, DOCS, GETKEYS, GETKEYSANDFLAGS, COUNT and LIST answer as a node.
func TestE2ELearntCommands(t *testing.T) {
	var stderr lockedBuffer
	bin := slotgateBinaryTags(t, "slotgate_testhooks")
	p := startProxyBinary(t, cluster, bin, []string{"SLOTGATE_TEST_HIDE_COMMANDS=" + strings.Join(learntHidden, ",")},
		io.MultiWriter(os.Stderr, &stderr))
	px, node := dialRaw(t, p.Addr), dialNode(t)

	log := stderr.String() // slotgate serves once it knows the topology, and learns commands before

	if !strings.Contains(log, `msg="commands learnt" masters=3 summary="4 routed [copy getex lmpop object]`) {
		t.Errorf("slotgate's log does not say what it learnt:\n%s", log)
	}
	for name, why := range notLearnt {
		if !strings.Contains(log, name+" ("+why+")") {
			t.Errorf("slotgate's log does not say why %s is not learnt (%s)", name, why)
		}
	}

	k := "{" + uniqPrefix("learnt") + "}"
	crossSlot := "-CROSSSLOT Keys in request don't hash to the same slot\r\n"
	for _, c := range []struct {
		req  []string
		want string
	}{
		{[]string{"SET", k + "a", "v"}, "+OK\r\n"},
		{[]string{"GETEX", k + "a", "PERSIST"}, bulkOf("v")},
		{[]string{"getex", k + "nosuch"}, "$-1\r\n"},
		{[]string{"GETEX"}, "-ERR wrong number of arguments for 'getex' command\r\n"},
		{[]string{"RPUSH", k + "l1", "x", "y"}, ":2\r\n"},
		{[]string{"LMPOP", "2", k + "l0", k + "l1", "LEFT"}, "*2\r\n" + bulkOf(k+"l1") + "*1\r\n" + bulkOf("x")},
		{[]string{"LMPOP", "2", "{a}l", "{b}l", "LEFT"}, crossSlot},
		{[]string{"LMPOP", "3", k + "l0", k + "l1", "LEFT"}, crossSlot}, // numkeys 3 takes LEFT for a key, as in Redis
		{[]string{"COPY", k + "a", k + "b"}, ":1\r\n"},
		{[]string{"GET", k + "b"}, bulkOf("v")},
		{[]string{"COPY", "{a}x", "{b}x"}, crossSlot},
		{[]string{"OBJECT", "ENCODING", k + "a"}, bulkOf("embstr")},
		{[]string{"object", "refcount", k + "a"}, ":1\r\n"},
		{[]string{"OBJECT", "HELP"}, "-ERR unknown subcommand 'HELP'. Try OBJECT HELP.\r\n"}, // keyless: not learnt
		{[]string{"SORT", k + "l1"}, "-ERR unknown command 'SORT', with args beginning with: '" + k + "l1' \r\n"},
		{[]string{"BGSAVE"}, "-ERR unknown command 'BGSAVE', with args beginning with: \r\n"},
		{[]string{"BLMPOP", "0", "1", k + "l1", "LEFT"}, "-ERR unknown command 'BLMPOP', with args beginning with: '0' '1' '" + k + "l1' 'LEFT' \r\n"},
		{[]string{"MULTI"}, "+OK\r\n"},
		{[]string{"GETEX", k + "b"}, "+QUEUED\r\n"},
		{[]string{"LMPOP", "1", k + "l1", "RIGHT"}, "+QUEUED\r\n"},
		{[]string{"EXEC"}, "*2\r\n" + bulkOf("v") + "*2\r\n" + bulkOf(k+"l1") + "*1\r\n" + bulkOf("y")},
	} {
		if got := px.do(c.req...); got != c.want {
			t.Errorf("%q: %q, want %q", c.req, got, c.want)
		}
	}

	sameAsNode(t, px, node,
		[]string{"COMMAND", "INFO", "getex", "LMPOP", "copy", "object|encoding", "get", "nosuch"},
		[]string{"COMMAND", "DOCS", "getex", "lmpop", "copy", "object|freq", "get"},
		[]string{"COMMAND", "GETKEYS", "GETEX", "k", "PERSIST"},
		[]string{"COMMAND", "GETKEYSANDFLAGS", "GETEX", "k"},
		[]string{"COMMAND", "GETKEYSANDFLAGS", "LMPOP", "2", "a", "b", "LEFT"},
		[]string{"COMMAND", "GETKEYSANDFLAGS", "LMPOP", "x", "a", "LEFT"},
		[]string{"COMMAND", "GETKEYSANDFLAGS", "COPY", "a", "b", "REPLACE"},
		[]string{"COMMAND", "GETKEYSANDFLAGS", "OBJECT", "ENCODING", "k"},
		[]string{"COMMAND", "GETKEYS", "OBJECT", "NOSUCH", "k"},
		[]string{"COMMAND", "GETKEYSANDFLAGS", "SET", "k", "v", "GET"},
		[]string{"COMMAND", "GETKEYSANDFLAGS", "MSET", "a", "1", "b", "2"},
	)
	// A container's entry lists its subcommands in the order of its node's dict, which changes as
	// the dict rehashes: the same lines, in any order.
	lines := func(r string) string {
		l := strings.Split(r, "\r\n")
		slices.Sort(l)
		return strings.Join(l, "\n")
	}
	for _, req := range [][]string{{"COMMAND", "INFO", "object"}, {"COMMAND", "DOCS", "object"}} {
		if got, want := px.do(req...), node.do(req...); lines(got) != lines(want) || len(got) != len(want) {
			t.Errorf("%q:\n proxy %q\n redis %q", req, clip600(got), clip600(want))
		}
	}
	// Not learnt: unknown to COMMAND INFO and COMMAND GETKEYS too.
	if r := px.do("COMMAND", "INFO", "sort", "bgsave", "blmpop", "object|help"); r != "*4\r\n$-1\r\n$-1\r\n$-1\r\n$-1\r\n" {
		t.Errorf("COMMAND INFO of commands not learnt: %q", r)
	}
	if r := px.do("COMMAND", "GETKEYS", "SORT", "k"); r != "-ERR Invalid command specified\r\n" {
		t.Errorf("COMMAND GETKEYS SORT: %q", r)
	}
	// COMMAND COUNT and LIST: the node's, less what is not learnt.
	nodeCount, _ := strconv.Atoi(strings.TrimSpace(node.do("COMMAND", "COUNT")[1:]))
	if r := px.do("COMMAND", "COUNT"); r != ":"+strconv.Itoa(nodeCount-len(notLearnt))+"\r\n" {
		t.Errorf("COMMAND COUNT %q, node %d", r, nodeCount)
	}
	ctx := context.Background()
	cl := redis.NewClient(&redis.Options{Addr: p.Addr})
	t.Cleanup(func() { cl.Close() })
	direct := cluster.Client(cluster.Masters()[0])
	for _, req := range [][]any{
		{"COMMAND", "LIST"}, {"COMMAND", "LIST", "FILTERBY", "PATTERN", "*m*pop"},
		{"COMMAND", "LIST", "FILTERBY", "ACLCAT", "list"}, {"COMMAND", "LIST", "FILTERBY", "PATTERN", "object*"},
	} {
		got, err := cl.Do(ctx, req...).StringSlice()
		if err != nil {
			t.Fatalf("%v through slotgate: %v", req, err)
		}
		want, err := direct.Do(ctx, req...).StringSlice()
		if err != nil {
			t.Fatalf("%v on the node: %v", req, err)
		}
		want = slices.DeleteFunc(want, func(n string) bool { _, not := notLearnt[n]; return not || n == "object|help" })
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) || len(got) == 0 {
			t.Errorf("%v: slotgate %v\nnode (less what is not learnt) %v", req, got, want)
		}
	}
}

// commandListCalls returns how many COMMAND LIST each node has answered.
func commandListCalls(t *testing.T, c *testcluster.Cluster, nodes []*testcluster.Node) []int {
	t.Helper()
	re := regexp.MustCompile(`cmdstat_command\|list:calls=(\d+)`)
	out := make([]int, len(nodes))
	for i, n := range nodes {
		info, err := c.Client(n).Info(context.Background(), "commandstats").Result()
		if err != nil {
			t.Fatal(err)
		}
		if m := re.FindStringSubmatch(info); m != nil {
			out[i], _ = strconv.Atoi(m[1])
		}
	}
	return out
}

// TestE2ELearnOncePerTopology: the masters are asked for their commands at start and again
// when the set of masters changes (a failover), not on every refresh.
func TestE2ELearnOncePerTopology(t *testing.T) {
	c := startTopologyCluster(t, testcluster.Options{NodeTimeout: time.Second})
	nodes := c.Nodes
	before := commandListCalls(t, c, nodes)
	rt := router.New(router.Config{Seeds: c.Seeds()[:1], Password: c.Password, Refresh: 20 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))})
	if err := rt.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	if rt.Learnt() == nil || rt.Learnt().Len() != 0 {
		t.Fatalf("learnt %v after start: want an empty set (the table has every command of this server)", rt.Learnt())
	}
	masters := c.Masters()
	isMaster := func(n *testcluster.Node) bool { return slices.Contains(masters, n) }
	time.Sleep(500 * time.Millisecond) // some 25 refreshes
	after := commandListCalls(t, c, nodes)
	for i, n := range nodes {
		want := before[i]
		if isMaster(n) {
			want++
		}
		if after[i] != want {
			t.Errorf("%s (master %v): COMMAND LIST %d times, want %d", n.Addr, isMaster(n), after[i]-before[i], want-before[i])
		}
	}
	rep := c.Replicas(masters[0])[0]
	if err := c.Failover(rep, ""); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for commandListCalls(t, c, []*testcluster.Node{rep})[0] == after[rep.Index] {
		if time.Now().After(deadline) {
			t.Fatal("the promoted replica was never asked for its commands")
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // the asking finishes; then no refresh asks again
	settled := commandListCalls(t, c, nodes)
	time.Sleep(500 * time.Millisecond)
	if again := commandListCalls(t, c, nodes); !slices.Equal(again, settled) {
		t.Errorf("COMMAND LIST asked again without a topology change: %v -> %v", settled, again)
	}
}
