package server_test

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
	"github.com/slotgate/slotgate/router/slot"
)

// crossSlotText is Redis's own CROSSSLOT error text.
const crossSlotText = "CROSSSLOT Keys in request don't hash to the same slot"

// refClient is a RESP2 cluster client straight to the shared cluster: the reference for what
// Redis itself answers.
func refClient() *redis.ClusterClient { return cluster.ClusterClient() }

var (
	ref3Once sync.Once
	ref3     *redis.ClusterClient
)

// refClientProto is refClient in a protocol: 3 gives a RESP3 cluster client of the shared cluster.
func refClientProto(proto int) *redis.ClusterClient {
	if proto != 3 {
		return refClient()
	}
	ref3Once.Do(func() {
		ref3 = redis.NewClusterClient(&redis.ClusterOptions{Addrs: cluster.Seeds(), Password: cluster.Password, Protocol: 3,
			DisableIdentity: true, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second,
			MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}})
	})
	return ref3
}

// eachProtocol runs test through a proxy whose go-redis clients speak RESP2, then RESP3 (the
// reference client of runCases speaks the same), then through a go-redis ClusterClient with its
// default protocol (RESP3) pointed at slotgate alone: it sees the one-node cluster slotgate
// presents and sends everything to it.
func eachProtocol(t *testing.T, test func(t *testing.T, p *proxy)) {
	for _, v := range []struct {
		name    string
		proto   int
		cluster bool
	}{{"resp2", 2, false}, {"resp3", 3, false}, {"clusterclient", 3, true}} {
		t.Run(v.name, func(t *testing.T) {
			p := startProxy(t, cluster, nil)
			p.proto, p.viaCluster = v.proto, v.cluster
			test(t, p)
		})
	}
}

// typesClient is the client a type test sends through slotgate: a plain client, or with
// p.viaCluster a ClusterClient whose only seed is slotgate.
func (p *proxy) typesClient(t *testing.T) redis.UniversalClient {
	if !p.viaCluster {
		return p.client(t, nil)
	}
	cl := redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{p.Addr}, ReadTimeout: 10 * time.Second,
		WriteTimeout: 10 * time.Second, MaxRedirects: -1})
	t.Cleanup(func() { cl.Close() })
	return cl
}

// protocolOf returns the protocol a go-redis client speaks (go-redis's default, 0, is RESP3).
func protocolOf(c redis.UniversalClient) int {
	p := 3
	switch x := c.(type) {
	case *redis.Client:
		p = x.Options().Protocol
	case *redis.ClusterClient:
		p = x.Options().Protocol
	}
	if p == 0 {
		p = 3
	}
	return p
}

// uniq returns a key prefix unique to this test run (no '{', '}' or '@').
func uniqPrefix(name string) string {
	return fmt.Sprintf("%s%d:", name, time.Now().UnixNano()%1_000_000_000)
}

// tcase is one command run through the proxy and straight against the cluster. Every '@' in an
// argument is replaced by a key prefix of the side it runs on (so the two sides use disjoint keys
// with the same hash-tag structure); in replies the prefix is mapped back to '@'.
type tcase struct {
	args   []string
	want   any  // if hasWant: the exact (normalised) reply expected
	unord  bool // the reply is an unordered collection of strings: compare sorted
	hasWnt bool
}

func tcmd(args ...string) tcase { return tcase{args: args} }

func (tc tcase) is(v any) tcase { tc.want, tc.hasWnt = v, true; return tc }

func (tc tcase) unordered() tcase { tc.unord = true; return tc }

// nilReply stands for a RESP null in normalised replies.
const nilReply = "<nil>"

// errReply is the normalised form of an error reply.
type errReply string

func doNorm(ctx context.Context, do func(ctx context.Context, args ...any) *redis.Cmd, pfx string, tc tcase) any {
	args := make([]any, len(tc.args))
	for i, a := range tc.args {
		args[i] = strings.ReplaceAll(a, "@", pfx)
	}
	v, err := do(ctx, args...).Result()
	if err == redis.Nil {
		return nilReply
	}
	if err != nil {
		return errReply(strings.ReplaceAll(err.Error(), pfx, "@"))
	}
	out := normalise(v, pfx)
	if tc.unord {
		if arr, ok := out.([]any); ok {
			sort.Slice(arr, func(i, j int) bool { return fmt.Sprint(arr[i]) < fmt.Sprint(arr[j]) })
		}
	}
	return out
}

func normalise(v any, pfx string) any {
	switch x := v.(type) {
	case nil:
		return nilReply
	case string:
		if pfx == "" {
			return x
		}
		return strings.ReplaceAll(x, pfx, "@")
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalise(e, pfx)
		}
		return out
	case map[any]any: // a RESP3 map
		out := make(map[any]any, len(x))
		for k, e := range x {
			out[normalise(k, pfx)] = normalise(e, pfx)
		}
		return out
	case redis.Error:
		return errReply(strings.ReplaceAll(x.Error(), pfx, "@"))
	default:
		return x
	}
}

// runCases runs every case through the proxy and against the cluster, in order, and requires
// identical replies (and the literal one where given).
func runCases(t *testing.T, px redis.UniversalClient, name string, cases []tcase) {
	t.Helper()
	ctx := context.Background()
	proto := protocolOf(px)
	ref := refClientProto(proto)
	pp, rp := uniqPrefix(name+"P"), uniqPrefix(name+"R")
	for i, tc := range cases {
		got := doNorm(ctx, px.Do, pp, tc)
		exp := doNorm(ctx, ref.Do, rp, tc)
		if !reflect.DeepEqual(got, exp) {
			t.Errorf("case %d %q:\n proxy: %#v\n redis: %#v", i, tc.args, got, exp)
			continue
		}
		// The literal replies are RESP2's; in RESP3 the node's own reply is the reference.
		if tc.hasWnt && proto != 3 && !reflect.DeepEqual(got, tc.want) {
			t.Errorf("case %d %q:\n got  %#v\n want %#v", i, tc.args, got, tc.want)
		}
	}
}

func arrOf(v ...any) []any { return v }

// flatStrings flattens nested arrays of strings (RESP3 pairs) into one list.
func flatStrings(v []any) []string {
	var out []string
	for _, e := range v {
		switch x := e.(type) {
		case []any:
			out = append(out, flatStrings(x)...)
		default:
			out = append(out, fmt.Sprint(x))
		}
	}
	return out
}

func TestE2ETypesStrings(t *testing.T) { eachProtocol(t, testE2ETypesStrings) }

func testE2ETypesStrings(t *testing.T, p *proxy) {
	runCases(t, p.typesClient(t), "tys", []tcase{
		tcmd("SET", "@s", "v1", "EX", "100", "NX").is("OK"),
		tcmd("SET", "@s", "v2", "NX").is(nilReply),
		tcmd("SET", "@s", "v3", "XX", "GET").is("v1"),
		tcmd("GET", "@s").is("v3"),
		tcmd("SET", "@missing", "x", "XX").is(nilReply),
		tcmd("SET", "@s2", "x", "PX", "100000", "GET").is(nilReply),
		tcmd("SET", "@s", "v", "EX", "0").is(errReply("ERR invalid expire time in 'set' command")),
		tcmd("SET", "@s", "v", "NX", "XX").is(errReply("ERR syntax error")),
		tcmd("SET", "@r", "Hello World").is("OK"),
		tcmd("GETRANGE", "@r", "0", "4").is("Hello"),
		tcmd("GETRANGE", "@r", "-5", "-1").is("World"),
		tcmd("GETRANGE", "@r", "100", "200").is(""),
		tcmd("APPEND", "@r", "!!").is(int64(13)),
		tcmd("APPEND", "@new", "abc").is(int64(3)),
		tcmd("STRLEN", "@r").is(int64(13)),
		tcmd("STRLEN", "@nope").is(int64(0)),
		tcmd("SETRANGE", "@r", "6", "Redis").is(int64(13)),
		tcmd("GET", "@r").is("Hello Redis!!"),
		tcmd("SETRANGE", "@pad", "5", "x").is(int64(6)),
		tcmd("GET", "@pad").is("\x00\x00\x00\x00\x00x"),
		tcmd("SET", "@f", "10.5").is("OK"),
		tcmd("INCRBYFLOAT", "@f", "0.1").is("10.6"),
		tcmd("INCRBYFLOAT", "@f", "-5").is("5.6"),
		tcmd("INCRBYFLOAT", "@f", "abc").is(errReply("ERR value is not a valid float")),
		tcmd("INCR", "@i").is(int64(1)),
		tcmd("INCRBY", "@i", "41").is(int64(42)),
		tcmd("INCR", "@r").is(errReply("ERR value is not an integer or out of range")),
		tcmd("GETDEL", "@i").is("42"),
		tcmd("GETDEL", "@i").is(nilReply),
		tcmd("EXISTS", "@i").is(int64(0)),
		tcmd("TYPE", "@r").is("string"),
		tcmd("TYPE", "@none").is("none"),
		tcmd("OBJECT", "ENCODING", "@r").is("raw"),
		tcmd("SET", "@int", "12345").is("OK"),
		tcmd("OBJECT", "ENCODING", "@int").is("int"),
		tcmd("SET", "@emb", "short").is("OK"),
		tcmd("OBJECT", "ENCODING", "@emb").is("embstr"),
		tcmd("OBJECT", "ENCODING", "@none").is(nilReply),
	})
}

func TestE2ETypesExpire(t *testing.T) { eachProtocol(t, testE2ETypesExpire) }

func testE2ETypesExpire(t *testing.T, p *proxy) {
	cl := p.typesClient(t)
	ctx := context.Background()
	k := uniqPrefix("tyexp") + "k"
	if err := cl.Set(ctx, k, "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if v, err := cl.TTL(ctx, k).Result(); err != nil || v != -1*time.Nanosecond {
		t.Fatalf("TTL without expire = %v, %v; want -1", v, err)
	}
	if v, err := cl.Do(ctx, "TTL", k).Int64(); err != nil || v != -1 {
		t.Fatalf("TTL = %d, %v; want -1", v, err)
	}
	if v, err := cl.Do(ctx, "TTL", k+"missing").Int64(); err != nil || v != -2 {
		t.Fatalf("TTL missing = %d, %v; want -2", v, err)
	}
	if v, err := cl.Do(ctx, "EXPIRE", k, "100").Int64(); err != nil || v != 1 {
		t.Fatalf("EXPIRE = %d, %v; want 1", v, err)
	}
	if v, err := cl.Do(ctx, "TTL", k).Int64(); err != nil || v < 95 || v > 100 {
		t.Fatalf("TTL = %d, %v; want 95..100", v, err)
	}
	if v, err := cl.Do(ctx, "EXPIRE", k, "200", "NX").Int64(); err != nil || v != 0 {
		t.Fatalf("EXPIRE NX = %d, %v; want 0", v, err)
	}
	if v, err := cl.Do(ctx, "PERSIST", k).Int64(); err != nil || v != 1 {
		t.Fatalf("PERSIST = %d, %v; want 1", v, err)
	}
	if v, err := cl.Do(ctx, "PERSIST", k).Int64(); err != nil || v != 0 {
		t.Fatalf("PERSIST again = %d, %v; want 0", v, err)
	}
	if v, err := cl.Do(ctx, "TTL", k).Int64(); err != nil || v != -1 {
		t.Fatalf("TTL after PERSIST = %d, %v; want -1", v, err)
	}
	if v, err := cl.Do(ctx, "EXPIRE", k+"missing", "10").Int64(); err != nil || v != 0 {
		t.Fatalf("EXPIRE missing = %d, %v; want 0", v, err)
	}
	// The TTL must really be on the node.
	if v, err := cl.Do(ctx, "PEXPIRE", k, "50000").Int64(); err != nil || v != 1 {
		t.Fatalf("PEXPIRE = %d, %v", v, err)
	}
	if d, err := refClient().PTTL(ctx, k).Result(); err != nil || d <= 40*time.Second || d > 50*time.Second {
		t.Fatalf("PTTL on the node = %v, %v; want ~50s", d, err)
	}
}

func TestE2ETypesLists(t *testing.T) { eachProtocol(t, testE2ETypesLists) }

func testE2ETypesLists(t *testing.T, p *proxy) {
	runCases(t, p.typesClient(t), "tyl", []tcase{
		tcmd("RPUSH", "{@l}a", "a", "b", "c").is(int64(3)),
		tcmd("LPUSH", "{@l}a", "z", "y").is(int64(5)),
		tcmd("LRANGE", "{@l}a", "0", "-1").is(arrOf("y", "z", "a", "b", "c")),
		tcmd("LRANGE", "{@l}a", "1", "2").is(arrOf("z", "a")),
		tcmd("RPUSH", "{@l}a", "b").is(int64(6)),
		tcmd("LPOS", "{@l}a", "b").is(int64(3)),
		tcmd("LPOS", "{@l}a", "b", "RANK", "2").is(int64(5)),
		tcmd("LPOS", "{@l}a", "b", "COUNT", "0").is(arrOf(int64(3), int64(5))),
		tcmd("LPOS", "{@l}a", "nope").is(nilReply),
		tcmd("LMOVE", "{@l}a", "{@l}b", "LEFT", "RIGHT").is("y"),
		tcmd("LMOVE", "{@l}a", "{@l}b", "RIGHT", "LEFT").is("b"),
		tcmd("LRANGE", "{@l}b", "0", "-1").is(arrOf("b", "y")),
		tcmd("LINSERT", "{@l}a", "BEFORE", "a", "ins").is(int64(5)),
		tcmd("LINSERT", "{@l}a", "AFTER", "nope", "x").is(int64(-1)),
		tcmd("LRANGE", "{@l}a", "0", "-1").is(arrOf("z", "ins", "a", "b", "c")),
		tcmd("LLEN", "{@l}a").is(int64(5)),
		tcmd("TYPE", "{@l}a").is("list"),
		tcmd("OBJECT", "ENCODING", "{@l}a"),
		tcmd("LMOVE", "{@l}a", "{@m}b", "LEFT", "RIGHT").is(errReply(crossSlotText)),
	})
}

func TestE2ETypesHashes(t *testing.T) { eachProtocol(t, testE2ETypesHashes) }

func testE2ETypesHashes(t *testing.T, p *proxy) {
	cl := p.typesClient(t)
	runCases(t, cl, "tyh", []tcase{
		tcmd("HSET", "@h", "f1", "v1", "f2", "v2", "f3", "3").is(int64(3)),
		tcmd("HSET", "@h", "f1", "w1", "f4", "v4").is(int64(1)),
		tcmd("HGETALL", "@h").is(arrOf("f1", "w1", "f2", "v2", "f3", "3", "f4", "v4")),
		tcmd("HINCRBY", "@h", "f3", "10").is(int64(13)),
		tcmd("HINCRBY", "@h", "f3", "-20").is(int64(-7)),
		tcmd("HINCRBY", "@h", "f1", "1").is(errReply("ERR hash value is not an integer")),
		tcmd("HGET", "@h", "f3").is("-7"),
		tcmd("HMGET", "@h", "f1", "zz", "f4").is(arrOf("w1", nilReply, "v4")),
		tcmd("HLEN", "@h").is(int64(4)),
		tcmd("HDEL", "@h", "f4", "zz").is(int64(1)),
		tcmd("TYPE", "@h").is("hash"),
		tcmd("OBJECT", "ENCODING", "@h").is("listpack"),
		tcmd("HRANDFIELD", "@empty", "3").is([]any{}),
	})
	ctx := context.Background()
	k := uniqPrefix("tyhr") + "h"
	if err := cl.HSet(ctx, k, "a", "1", "b", "2", "c", "3").Err(); err != nil {
		t.Fatal(err)
	}
	got, err := cl.Do(ctx, "HRANDFIELD", k, "3").StringSlice()
	slices.Sort(got)
	if err != nil || !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("HRANDFIELD 3 = %q, %v", got, err)
	}
	got, err = cl.Do(ctx, "HRANDFIELD", k, "10").StringSlice()
	slices.Sort(got)
	if err != nil || !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Fatalf("HRANDFIELD 10 = %q, %v", got, err)
	}
	got, err = cl.Do(ctx, "HRANDFIELD", k, "-7").StringSlice()
	if err != nil || len(got) != 7 {
		t.Fatalf("HRANDFIELD -7 = %q, %v", got, err)
	}
	for _, f := range got {
		if f != "a" && f != "b" && f != "c" {
			t.Fatalf("HRANDFIELD -7 = %q", got)
		}
	}
	pairs, err := cl.Do(ctx, "HRANDFIELD", k, "2", "WITHVALUES").Slice()
	got = flatStrings(pairs) // RESP3: [[f, v], ...]; RESP2: [f, v, ...]
	if err != nil || len(got) != 4 {
		t.Fatalf("HRANDFIELD 2 WITHVALUES = %q, %v", got, err)
	}
	vals := map[string]string{"a": "1", "b": "2", "c": "3"}
	for i := 0; i < 4; i += 2 {
		if vals[got[i]] != got[i+1] {
			t.Fatalf("HRANDFIELD WITHVALUES = %q", got)
		}
	}
}

func TestE2ETypesSets(t *testing.T) { eachProtocol(t, testE2ETypesSets) }

func testE2ETypesSets(t *testing.T, p *proxy) {
	runCases(t, p.typesClient(t), "tyset", []tcase{
		tcmd("SADD", "{@s}a", "a", "b", "c", "d").is(int64(4)),
		tcmd("SADD", "{@s}a", "a", "e").is(int64(1)),
		tcmd("SADD", "{@s}b", "c", "d", "e", "f").is(int64(4)),
		tcmd("SMEMBERS", "{@s}a").unordered().is(arrOf("a", "b", "c", "d", "e")),
		tcmd("SINTER", "{@s}a", "{@s}b").unordered().is(arrOf("c", "d", "e")),
		tcmd("SINTERCARD", "2", "{@s}a", "{@s}b").is(int64(3)),
		tcmd("SINTERCARD", "2", "{@s}a", "{@s}b", "LIMIT", "2").is(int64(2)),
		tcmd("SISMEMBER", "{@s}a", "a").is(int64(1)),
		tcmd("SMISMEMBER", "{@s}a", "a", "z").is(arrOf(int64(1), int64(0))),
		tcmd("SCARD", "{@s}a").is(int64(5)),
		tcmd("SMOVE", "{@s}a", "{@s}c", "a").is(int64(1)),
		tcmd("SMOVE", "{@s}a", "{@s}c", "a").is(int64(0)),
		tcmd("SMEMBERS", "{@s}c").is(arrOf("a")),
		tcmd("SDIFFSTORE", "{@s}d", "{@s}a", "{@s}b").is(int64(1)),
		tcmd("SMEMBERS", "{@s}d").is(arrOf("b")),
		tcmd("SUNIONSTORE", "{@s}u", "{@s}a", "{@s}b").is(int64(5)),
		tcmd("TYPE", "{@s}a").is("set"),
		tcmd("SADD", "{@s}n", "1", "2", "3").is(int64(3)),
		tcmd("OBJECT", "ENCODING", "{@s}n").is("intset"),
		tcmd("SMEMBERS", "{@s}n").is(arrOf("1", "2", "3")),
		tcmd("SINTER", "{@s}a", "{@t}b").is(errReply(crossSlotText)),
		tcmd("SINTERCARD", "2", "{@s}a", "{@t}b").is(errReply(crossSlotText)),
		tcmd("SMOVE", "{@s}a", "{@t}c", "b").is(errReply(crossSlotText)),
	})
}

func TestE2ETypesSortedSets(t *testing.T) { eachProtocol(t, testE2ETypesSortedSets) }

func testE2ETypesSortedSets(t *testing.T, p *proxy) {
	runCases(t, p.typesClient(t), "tyz", []tcase{
		tcmd("ZADD", "{@z}a", "1", "one", "2", "two", "3", "three", "4", "four", "5.5", "five").is(int64(5)),
		tcmd("ZADD", "{@z}a", "NX", "10", "one", "6", "six").is(int64(1)),
		tcmd("ZRANGE", "{@z}a", "0", "-1", "WITHSCORES").is(arrOf("one", "1", "two", "2", "three", "3", "four", "4", "five", "5.5", "six", "6")),
		tcmd("ZRANGE", "{@z}a", "2", "4", "BYSCORE").is(arrOf("two", "three", "four")),
		tcmd("ZRANGE", "{@z}a", "(2", "+inf", "BYSCORE", "LIMIT", "1", "2").is(arrOf("four", "five")),
		tcmd("ZRANGE", "{@z}a", "0", "2", "REV").is(arrOf("six", "five", "four")),
		tcmd("ZRANGE", "{@z}a", "+inf", "3", "BYSCORE", "REV", "LIMIT", "0", "2", "WITHSCORES").is(arrOf("six", "6", "five", "5.5")),
		tcmd("ZRANGESTORE", "{@z}dst", "{@z}a", "1", "3").is(int64(3)),
		tcmd("ZRANGE", "{@z}dst", "0", "-1").is(arrOf("two", "three", "four")),
		tcmd("ZINCRBY", "{@z}a", "2.5", "one").is("3.5"),
		tcmd("ZINCRBY", "{@z}a", "1", "new").is("1"),
		tcmd("ZMSCORE", "{@z}a", "one", "nope", "five").is(arrOf("3.5", nilReply, "5.5")),
		tcmd("ZSCORE", "{@z}a", "six").is("6"),
		tcmd("ZRANK", "{@z}a", "one").is(int64(3)),
		tcmd("ZCARD", "{@z}a").is(int64(7)),
		tcmd("TYPE", "{@z}a").is("zset"),
		tcmd("OBJECT", "ENCODING", "{@z}a").is("listpack"),
		tcmd("ZRANGESTORE", "{@z}dst", "{@y}a", "0", "1").is(errReply(crossSlotText)),
	})
}

func TestE2ETypesStreams(t *testing.T) { eachProtocol(t, testE2ETypesStreams) }

func testE2ETypesStreams(t *testing.T, p *proxy) {
	entry := func(id string, fv ...any) []any { return arrOf(id, arrOf(fv...)) }
	runCases(t, p.typesClient(t), "tyx", []tcase{
		tcmd("XADD", "@s", "1-1", "f", "v1").is("1-1"),
		tcmd("XADD", "@s", "2-1", "f", "v2", "g", "w2").is("2-1"),
		tcmd("XADD", "@s", "2-1", "f", "v").is(errReply("ERR The ID specified in XADD is equal or smaller than the target stream top item")),
		tcmd("XLEN", "@s").is(int64(2)),
		tcmd("XRANGE", "@s", "-", "+").is(arrOf(entry("1-1", "f", "v1"), entry("2-1", "f", "v2", "g", "w2"))),
		tcmd("XRANGE", "@s", "2", "+", "COUNT", "1").is(arrOf(entry("2-1", "f", "v2", "g", "w2"))),
		tcmd("XGROUP", "CREATE", "@s", "g", "0").is("OK"),
		tcmd("XGROUP", "CREATE", "@s", "g", "0").is(errReply("BUSYGROUP Consumer Group name already exists")),
		tcmd("XREADGROUP", "GROUP", "g", "c", "COUNT", "10", "STREAMS", "@s", ">").
			is(arrOf(arrOf("@s", arrOf(entry("1-1", "f", "v1"), entry("2-1", "f", "v2", "g", "w2"))))),
		tcmd("XREADGROUP", "GROUP", "g", "c", "COUNT", "10", "STREAMS", "@s", ">").is(nilReply),
		tcmd("XACK", "@s", "g", "1-1", "9-9").is(int64(1)),
		tcmd("XPENDING", "@s", "g").is(arrOf(int64(1), "2-1", "2-1", arrOf(arrOf("c", "1")))),
		tcmd("XINFO", "GROUPS", "@s"),
		tcmd("XREAD", "COUNT", "1", "STREAMS", "@s", "1-1").is(arrOf(arrOf("@s", arrOf(entry("2-1", "f", "v2", "g", "w2"))))),
		tcmd("TYPE", "@s").is("stream"),
	})
}

// TestE2ETypesStreamGroupReads checks XREADGROUP, XACK and XPENDING through the proxy on a
// group created on the node directly, so that they do not depend on XGROUP going through.
func TestE2ETypesStreamGroupReads(t *testing.T) { eachProtocol(t, testE2ETypesStreamGroupReads) }

func testE2ETypesStreamGroupReads(t *testing.T, p *proxy) {
	cl := p.typesClient(t)
	ctx := context.Background()
	k := uniqPrefix("tyxg") + "s"
	for _, id := range []string{"1-1", "2-1", "3-1"} {
		if v, err := cl.Do(ctx, "XADD", k, id, "f", "v"+id).Text(); err != nil || v != id {
			t.Fatalf("XADD %s = %q, %v", id, v, err)
		}
	}
	if err := refClient().XGroupCreate(ctx, k, "g", "0").Err(); err != nil {
		t.Fatal(err)
	}
	got := normalise(cl.Do(ctx, "XREADGROUP", "GROUP", "g", "c", "COUNT", "2", "STREAMS", k, ">").Val(), "")
	var want any = arrOf(arrOf(k, arrOf(arrOf("1-1", arrOf("f", "v1-1")), arrOf("2-1", arrOf("f", "v2-1")))))
	if p.proto == 3 { // a map of stream name to entries
		want = map[any]any{k: arrOf(arrOf("1-1", arrOf("f", "v1-1")), arrOf("2-1", arrOf("f", "v2-1")))}
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("XREADGROUP = %#v; want %#v", got, want)
	}
	if n, err := cl.Do(ctx, "XACK", k, "g", "1-1", "9-9").Int64(); err != nil || n != 1 {
		t.Fatalf("XACK = %d, %v; want 1", n, err)
	}
	got = normalise(cl.Do(ctx, "XPENDING", k, "g").Val(), "")
	want = arrOf(int64(1), "2-1", "2-1", arrOf(arrOf("c", "1")))
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("XPENDING = %#v; want %#v", got, want)
	}
	got = normalise(cl.Do(ctx, "XREADGROUP", "GROUP", "g", "c2", "COUNT", "10", "STREAMS", k, ">").Val(), "")
	want = arrOf(arrOf(k, arrOf(arrOf("3-1", arrOf("f", "v3-1")))))
	if p.proto == 3 {
		want = map[any]any{k: arrOf(arrOf("3-1", arrOf("f", "v3-1")))}
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("second XREADGROUP = %#v; want %#v", got, want)
	}
	if err := cl.Do(ctx, "XREADGROUP", "GROUP", "g", "c", "COUNT", "10", "STREAMS", k, ">").Err(); err != redis.Nil {
		t.Fatalf("XREADGROUP with nothing new = %v; want a null reply", err)
	}
	// With BLOCK it waits on a dedicated connection: for its timeout here, nothing being new.
	if err := cl.Do(ctx, "XREADGROUP", "GROUP", "g", "c", "BLOCK", "10", "STREAMS", k, ">").Err(); err != redis.Nil {
		t.Fatalf("XREADGROUP BLOCK with nothing new = %v; want a null reply after the timeout", err)
	}
}

func TestE2ETypesBitmapsHLLGeo(t *testing.T) { eachProtocol(t, testE2ETypesBitmapsHLLGeo) }

func testE2ETypesBitmapsHLLGeo(t *testing.T, p *proxy) {
	runCases(t, p.typesClient(t), "tyb", []tcase{
		tcmd("SETBIT", "@b", "7", "1").is(int64(0)),
		tcmd("SETBIT", "@b", "7", "0").is(int64(1)),
		tcmd("SETBIT", "@b", "100", "1").is(int64(0)),
		tcmd("SETBIT", "@b", "3", "1").is(int64(0)),
		tcmd("GETBIT", "@b", "100").is(int64(1)),
		tcmd("GETBIT", "@b", "99").is(int64(0)),
		tcmd("GETBIT", "@b", "100000").is(int64(0)),
		tcmd("BITCOUNT", "@b").is(int64(2)),
		tcmd("BITCOUNT", "@b", "0", "0").is(int64(1)),
		tcmd("BITPOS", "@b", "1").is(int64(3)),
		tcmd("BITPOS", "@b", "0").is(int64(0)),
		tcmd("BITPOS", "@b", "1", "1").is(int64(100)),
		tcmd("BITFIELD", "@bf", "SET", "u8", "0", "255", "GET", "u8", "0", "INCRBY", "u8", "0", "10").is(arrOf(int64(0), int64(255), int64(9))),
		tcmd("BITFIELD", "@bf", "OVERFLOW", "FAIL", "INCRBY", "u8", "0", "250").is(arrOf(nilReply)),
		tcmd("GET", "@bf").is("\x09"),
		tcmd("PFADD", "{@h}a", "a", "b", "c", "d").is(int64(1)),
		tcmd("PFADD", "{@h}a", "a").is(int64(0)),
		tcmd("PFADD", "{@h}b", "c", "d", "e").is(int64(1)),
		tcmd("PFCOUNT", "{@h}a").is(int64(4)),
		tcmd("PFCOUNT", "{@h}a", "{@h}b").is(int64(5)),
		tcmd("PFMERGE", "{@h}m", "{@h}a", "{@h}b").is("OK"),
		tcmd("PFCOUNT", "{@h}m").is(int64(5)),
		tcmd("PFCOUNT", "{@h}a", "{@i}b").is(errReply(crossSlotText)),
		tcmd("PFMERGE", "{@h}m", "{@i}b").is(errReply(crossSlotText)),
		tcmd("GEOADD", "@g", "13.361389", "38.115556", "Palermo", "15.087269", "37.502669", "Catania").is(int64(2)),
		tcmd("GEODIST", "@g", "Palermo", "Catania").is("166274.1516"),
		tcmd("GEODIST", "@g", "Palermo", "Catania", "km").is("166.2742"),
		tcmd("GEODIST", "@g", "Palermo", "Nowhere").is(nilReply),
		tcmd("GEOSEARCH", "@g", "FROMLONLAT", "15", "37", "BYRADIUS", "200", "km", "ASC").is(arrOf("Catania", "Palermo")),
		tcmd("GEOSEARCH", "@g", "FROMMEMBER", "Palermo", "BYBOX", "400", "400", "km", "DESC", "WITHDIST"),
		tcmd("GEOPOS", "@g", "Palermo", "Nowhere"),
		tcmd("TYPE", "@g").is("zset"),
	})
	// GEOPOS coordinates round-trip to within the geohash precision.
	ctx := context.Background()
	cl := p.typesClient(t)
	k := uniqPrefix("tygeo") + "g"
	if err := cl.GeoAdd(ctx, k, &redis.GeoLocation{Name: "Palermo", Longitude: 13.361389, Latitude: 38.115556}).Err(); err != nil {
		t.Fatal(err)
	}
	pos, err := cl.GeoPos(ctx, k, "Palermo", "x").Result()
	if err != nil || len(pos) != 2 || pos[0] == nil || pos[1] != nil ||
		absF(pos[0].Longitude-13.361389) > 1e-5 || absF(pos[0].Latitude-38.115556) > 1e-5 {
		t.Fatalf("GEOPOS = %v, %v", pos, err)
	}
}

func absF(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}

func TestE2ETypesEval(t *testing.T) { eachProtocol(t, testE2ETypesEval) }

func testE2ETypesEval(t *testing.T, p *proxy) {
	script := "redis.call('SET', KEYS[1], ARGV[1]); return {redis.call('GET', KEYS[1]), #KEYS, ARGV[2]}"
	sum := sha1.Sum([]byte(script))
	sha := hex.EncodeToString(sum[:])
	two := "return redis.call('MSET', KEYS[1], ARGV[1], KEYS[2], ARGV[2])"
	runCases(t, p.typesClient(t), "tyev", []tcase{
		tcmd("EVAL", script, "1", "@k", "val", "extra").is(arrOf("val", int64(1), "extra")),
		tcmd("EVALSHA", sha, "1", "@k", "val2", "x").is(arrOf("val2", int64(1), "x")),
		tcmd("GET", "@k").is("val2"),
		tcmd("EVALSHA", strings.Repeat("0", 40), "1", "@k").is(errReply("NOSCRIPT No matching script. Please use EVAL.")),
		tcmd("EVAL", two, "2", "{@t}a", "{@t}b", "1", "2").is("OK"),
		tcmd("MGET", "{@t}a", "{@t}b").is(arrOf("1", "2")),
		tcmd("EVAL", "return redis.call('GET', KEYS[1])", "1", "{@t}a").is("1"),
		tcmd("EVAL", "return {KEYS[1], KEYS[2]}", "2", "{@t}a", "{@u}b").is(errReply(crossSlotText)),
		tcmd("EVAL", "return redis.error_reply('MY failure')", "1", "@k").is(errReply("MY failure")),
	})
}

func TestE2ETypesMultiKeySameSlot(t *testing.T) { eachProtocol(t, testE2ETypesMultiKeySameSlot) }

func testE2ETypesMultiKeySameSlot(t *testing.T, p *proxy) {
	// Precondition for the CROSSSLOT cases: the plain keys land in different slots.
	for _, pair := range [][2]string{{"a", "b"}, {"x", "y"}} {
		pp := uniqPrefix("tymk")
		if slot.Of([]byte(pp+pair[0])) == slot.Of([]byte(pp+pair[1])) {
			t.Skipf("keys %s %s share a slot", pair[0], pair[1])
		}
	}
	runCases(t, p.typesClient(t), "tymk", []tcase{
		tcmd("MSETNX", "{@t}a", "1", "{@t}b", "2").is(int64(1)),
		tcmd("MSETNX", "{@t}a", "x", "{@t}z", "3").is(int64(0)),
		tcmd("EXISTS", "{@t}z").is(int64(0)),
		tcmd("RENAME", "{@t}a", "{@t}c").is("OK"),
		tcmd("GET", "{@t}c").is("1"),
		tcmd("EXISTS", "{@t}a").is(int64(0)),
		tcmd("RENAME", "{@t}nope", "{@t}d").is(errReply("ERR no such key")),
		tcmd("RENAMENX", "{@t}c", "{@t}b").is(int64(0)),
		tcmd("COPY", "{@t}c", "{@t}e").is(int64(1)),
		tcmd("GET", "{@t}e").is("1"),
		tcmd("SADD", "{@t}s1", "a", "b").is(int64(2)),
		tcmd("SADD", "{@t}s2", "b").is(int64(1)),
		tcmd("SMOVE", "{@t}s1", "{@t}s2", "a").is(int64(1)),
		tcmd("SDIFFSTORE", "{@t}d", "{@t}s2", "{@t}s1").is(int64(1)),
		tcmd("SMEMBERS", "{@t}d").is(arrOf("a")),
		tcmd("SET", "@a", "1").is("OK"),
		tcmd("RENAME", "@a", "@b").is(errReply(crossSlotText)),
		tcmd("SINTER", "@a", "@b").is(errReply(crossSlotText)),
		tcmd("MSETNX", "@x", "1", "@y", "2").is(errReply(crossSlotText)),
		tcmd("SDIFFSTORE", "@x", "{@t}s1", "{@t}s2").is(errReply(crossSlotText)),
		tcmd("SMOVE", "@x", "@y", "m").is(errReply(crossSlotText)),
		tcmd("GET", "@a").is("1"),
	})
}

// TestE2ETypesBinarySafe writes keys and values with every byte through the proxy and checks
// them both through the proxy and on the nodes themselves.
func TestE2ETypesBinarySafe(t *testing.T) { eachProtocol(t, testE2ETypesBinarySafe) }

func testE2ETypesBinarySafe(t *testing.T, p *proxy) {
	cl := p.typesClient(t)
	ref := refClient()
	ctx := context.Background()
	pfx := uniqPrefix("tybin")
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	kv := []struct{ key, val string }{
		{pfx + "all", string(all)},
		{pfx + "crlf", "a\r\nb\r\n*3\r\n$3\r\nSET\r\n"},
		{pfx + "empty", ""},
		{pfx + "nul\x00key", "v\x00v"},
		{pfx + "\x00", "nulonly"},
		{pfx + "all-key-" + string(all), "key with every byte"},
		{pfx + "{\r\n}\r\n", "tag with CRLF"},
		{pfx + "dollar$-1\r\n", "$-1\r\n"},
	}
	for _, e := range kv {
		if err := cl.Set(ctx, e.key, e.val, 0).Err(); err != nil {
			t.Fatalf("SET %q: %v", e.key, err)
		}
	}
	for _, e := range kv {
		got, err := cl.Get(ctx, e.key).Result()
		if err != nil || got != e.val {
			t.Errorf("GET %q through the proxy = %q, %v; want %q", e.key, got, err, e.val)
		}
		got, err = ref.Get(ctx, e.key).Result()
		if err != nil || got != e.val {
			t.Errorf("GET %q on the node = %q, %v; want %q", e.key, got, err, e.val)
		}
		n, err := cl.StrLen(ctx, e.key).Result()
		if err != nil || n != int64(len(e.val)) {
			t.Errorf("STRLEN %q = %d, %v; want %d", e.key, n, err, len(e.val))
		}
	}
	// Split MGET with binary keys and values, in order.
	keys := make([]string, len(kv))
	for i, e := range kv {
		keys[i] = e.key
	}
	vals, err := cl.MGet(ctx, keys...).Result()
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range kv {
		if s, ok := vals[i].(string); !ok || s != e.val {
			t.Errorf("MGET[%d] (%q) = %#v; want %q", i, e.key, vals[i], e.val)
		}
	}
	// Hash fields and list elements are binary too.
	h := pfx + "hash"
	if err := cl.HSet(ctx, h, string(all), string(all[128:]), "", "").Err(); err != nil {
		t.Fatal(err)
	}
	m, err := cl.HGetAll(ctx, h).Result()
	if err != nil || len(m) != 2 || m[string(all)] != string(all[128:]) || m[""] != "" {
		t.Fatalf("HGETALL = %q, %v", m, err)
	}
	n, err := cl.Del(ctx, keys...).Result()
	if err != nil || n != int64(len(keys)) {
		t.Fatalf("DEL = %d, %v; want %d", n, err, len(keys))
	}
	if b, err := ref.Exists(ctx, pfx+"nul\x00key").Result(); err != nil || b != 0 {
		t.Fatalf("EXISTS after DEL on the node = %d, %v", b, err)
	}
}
