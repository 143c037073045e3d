package server

import (
	"strconv"
	"testing"
)

// SCAN cursors: every field survives the round trip, a live cursor is never 0, and cursors
// slotgate never makes are invalid.
func TestScanCursor(t *testing.T) {
	for _, c := range []scanCursor{
		{},
		{s: 0, e: 0, check: true, node: 1},
		{s: 16383, e: 16383, tag: 255, node: scanMaxNode},
		{s: 5461, e: 10922, tag: 7, node: 123456},
		{s: 100, e: 200, tag: 1, check: true, node: 1},
	} {
		v := c.encode()
		if v == 0 {
			t.Fatalf("%+v encodes as 0, the end of a scan", c)
		}
		got, zero, ok := decodeScanCursor([]byte(strconv.FormatUint(v, 10)))
		if !ok || zero || got != c {
			t.Fatalf("%+v -> %d -> %+v, zero %v, ok %v", c, v, got, zero, ok)
		}
	}
	if _, zero, ok := decodeScanCursor([]byte("0")); !zero || !ok {
		t.Fatal("cursor 0 is the start")
	}
	bad := []string{"", "abc", "-1", "1.5", "18446744073709551616",
		strconv.FormatUint(scanCursor{s: 10, e: 5}.encode(), 10),                                  // a range that ends before it begins
		strconv.FormatUint(scanCursor{s: 1, e: 2, check: true}.encode()|5<<(64-scanNodeBits), 10), // a check carries node 1
	}
	for _, b := range bad {
		if _, _, ok := decodeScanCursor([]byte(b)); ok {
			t.Fatalf("cursor %q accepted", b)
		}
	}
}
