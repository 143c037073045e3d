package server

import (
	"strconv"
	"strings"
	"testing"
)

// The script cache keeps at most its entries, drops the least recently used first (an EVALSHA
// counts as a use), bounds bytes too, and builds the SCRIPT LOAD that brings a script back.
func TestScriptCacheLRU(t *testing.T) {
	c := newScriptCache(3)
	body := func(i int) []byte { return []byte("return " + strconv.Itoa(i)) }
	var k [5]shaKey
	for i := 0; i < 3; i++ {
		k[i] = c.add(body(i))
	}
	if !c.has(k[0]) { // 0 is now the most recent: 1 is the oldest
		t.Fatal("script 0 missing")
	}
	k[3] = c.add(body(3))
	if c.len() != 3 {
		t.Fatalf("%d scripts kept, want 3", c.len())
	}
	for i, want := range []bool{true, false, true, true} {
		if got := c.has(k[i]); got != want {
			t.Fatalf("after a fourth script: script %d cached = %v, want %v", i, got, want)
		}
	}
	k[4] = c.add(body(3)) // the same script again: no new entry
	if c.len() != 3 || k[4] != k[3] {
		t.Fatalf("adding a script twice: %d entries", c.len())
	}
	load, ok := c.appendLoad(nil, k[3])
	if want := "*3\r\n$6\r\nSCRIPT\r\n$4\r\nLOAD\r\n$8\r\nreturn 3\r\n"; !ok || string(load) != want {
		t.Fatalf("appendLoad = %q, %v; want %q", load, ok, want)
	}
	if _, ok := c.appendLoad(nil, k[1]); ok {
		t.Fatal("appendLoad of an evicted script succeeded")
	}
	// The sha Redis reports for a script, in any case, names the same entry.
	if up, ok := parseSha([]byte(strings.ToUpper(string(k[3][:])))); !ok || up != k[3] || !c.has(up) {
		t.Fatalf("upper-case sha: %q, %v", up[:], ok)
	}
	if _, ok := parseSha([]byte("xyz")); ok {
		t.Fatal("a 3-byte sha parsed")
	}
	if _, ok := parseSha([]byte(strings.Repeat("g", 40))); ok {
		t.Fatal("a non-hex sha parsed")
	}
	c.flush()
	if c.len() != 0 || c.has(k[3]) {
		t.Fatal("flush left scripts")
	}

	// The byte bound: bodies beyond it push the oldest out whatever the entry count allows.
	c = newScriptCache(100)
	c.maxBytes = 25
	a, b := c.add([]byte(strings.Repeat("a", 10))), c.add([]byte(strings.Repeat("b", 10)))
	cc := c.add([]byte(strings.Repeat("c", 10)))
	if c.has(a) || !c.has(b) || !c.has(cc) || c.bytes > 25 {
		t.Fatalf("byte bound: a %v b %v c %v, %d bytes", c.has(a), c.has(b), c.has(cc), c.bytes)
	}
	c.add([]byte(strings.Repeat("d", 30))) // larger than the bound: not kept, nothing evicted
	if c.len() != 2 {
		t.Fatalf("a body over the byte bound changed the cache: %d entries", c.len())
	}
	// A disabled cache keeps nothing.
	c = newScriptCache(-1)
	if k := c.add(body(1)); c.has(k) {
		t.Fatal("a disabled cache kept a script")
	}
}

// A reload of -script-cache shrinks the cache from its least recently used end; 0 keeps none.
func TestScriptCacheResize(t *testing.T) {
	c := newScriptCache(4)
	var k [4]shaKey
	for i := range k {
		k[i] = c.add([]byte("return " + strconv.Itoa(i)))
	}
	c.has(k[0]) // the most recent: 1 is the oldest
	c.resize(2)
	if c.len() != 2 || !c.has(k[0]) || !c.has(k[3]) || c.has(k[1]) {
		t.Fatalf("after resize(2): %d kept, want scripts 0 and 3", c.len())
	}
	c.resize(-1)
	c.add([]byte("return 9"))
	if c.len() != 0 {
		t.Fatalf("a cache resized to none keeps %d", c.len())
	}
	c.resize(5)
	c.add([]byte("return 9"))
	if c.len() != 1 {
		t.Fatalf("a cache grown back keeps %d", c.len())
	}
}
