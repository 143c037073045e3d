//go:build !race

package codec

import "testing"

// Zero allocation, proved: these tests fail if a hot-path function starts to allocate.

func testAllocs(t *testing.T, name string, f func()) {
	t.Helper()
	f() // warm up (grow reused buffers)
	if n := testing.AllocsPerRun(100, f); n != 0 {
		t.Errorf("%s: %v allocs per run, want 0", name, n)
	}
}

func TestAllocReadRequest(t *testing.T) {
	var req Request
	get := []byte("*2\r\n$3\r\nGET\r\n$10\r\nkey:000001\r\n")
	set := []byte("*3\r\n$3\r\nSET\r\n$10\r\nkey:000001\r\n$16\r\nvalue-0123456789\r\n")
	mget := AppendRequest(nil, args("MGET", "a", "b", "c", "d", "e", "f", "g", "h"))
	inline := []byte("SET key \"quoted\\nvalue\" 'x'\r\n")
	for name, in := range map[string][]byte{"GET": get, "SET": set, "MGET": mget, "inline": inline} {
		testAllocs(t, "ReadRequest "+name, func() {
			if n, err := ReadRequest(in, &req); n != len(in) || err != nil {
				t.Fatal(n, err)
			}
		})
	}
	testAllocs(t, "ReadRequest resumed", func() {
		ReadRequest(set[:20], &req)
		ReadRequest(set[:40], &req)
		if n, err := ReadRequest(set, &req); n != len(set) || err != nil {
			t.Fatal(n, err)
		}
	})
	bad := []byte("*1\r\nx\r\n")
	testAllocs(t, "ReadRequest error", func() {
		if _, err := ReadRequest(bad, &req); err == nil {
			t.Fatal("no error")
		}
	})
}

func TestAllocFrame(t *testing.T) {
	var f ReplyFramer
	bulk := AppendBulkString(nil, "value-0123456789")
	arr := AppendArrayLen(nil, 3)
	arr = AppendBulkString(arr, "a")
	arr = AppendNull(arr, 2)
	arr = AppendArrayLen(arr, 1)
	arr = AppendInt(arr, 5)
	for name, in := range map[string][]byte{"bulk": bulk, "array": arr} {
		testAllocs(t, "Frame "+name, func() {
			if n, err := f.Frame(in); n != len(in) || err != nil {
				t.Fatal(n, err)
			}
		})
	}
	dst := make([][]byte, 0, 8)
	testAllocs(t, "ArrayElems", func() {
		if e, err := ArrayElems(arr, dst[:0]); err != nil || len(e) != 3 {
			t.Fatal(e, err)
		}
	})
	testAllocs(t, "helpers", func() {
		ParseInt([]byte(":12\r\n"))
		ErrorText([]byte("-ERR x\r\n"))
		IsError(bulk)
	})
}

func TestAllocCommands(t *testing.T) {
	get, mget := args("get", "k"), args("MGET", "a", "b", "c")
	dst := make([]int, 0, 8)
	testAllocs(t, "Lookup", func() {
		if Lookup(get[0]) == nil || Lookup(mget[0]) == nil || Lookup([]byte("nope")) != nil {
			t.Fatal("lookup")
		}
	})
	testAllocs(t, "Sub", func() {
		if Lookup([]byte("CONFIG")).Sub([]byte("GET")) == nil {
			t.Fatal("sub")
		}
	})
	cg, cm := Lookup(get[0]), Lookup(mget[0])
	testAllocs(t, "KeyIndexes GET", func() {
		if k, err := cg.KeyIndexes(get, dst[:0]); err != nil || len(k) != 1 {
			t.Fatal(k, err)
		}
	})
	testAllocs(t, "KeyIndexes MGET", func() {
		if k, err := cm.KeyIndexes(mget, dst[:0]); err != nil || len(k) != 3 {
			t.Fatal(k, err)
		}
	})
	ev := args("EVAL", "s", "2", "a", "b")
	ce := Lookup(ev[0])
	testAllocs(t, "KeyIndexes EVAL", func() {
		if k, err := ce.KeyIndexes(ev, dst[:0]); err != nil || len(k) != 2 {
			t.Fatal(k, err)
		}
	})
	bad := args("EVAL", "s", "x")
	testAllocs(t, "KeyIndexes error", func() {
		if _, err := ce.KeyIndexes(bad, dst[:0]); err == nil {
			t.Fatal("no error")
		}
	})
}

func TestAllocAppenders(t *testing.T) {
	buf := make([]byte, 0, 4096)
	a := args("SET", "k", "v")
	testAllocs(t, "appenders", func() {
		b := buf[:0]
		b = AppendArrayLen(b, 3)
		b = AppendMapLen(b, 3, 12)
		b = AppendSetLen(b, 2, 1)
		b = AppendBulk(b, a[0])
		b = AppendBulkString(b, "x")
		b = AppendNull(b, 2)
		b = AppendNullArray(b, 3)
		b = AppendInt(b, 7)
		b = AppendInt(b, -123456789)
		b = AppendSimple(b, "PONG")
		b = AppendOK(b)
		b = AppendError(b, "ERR x")
		b = AppendErrorBytes(b, a[1])
		b = AppendBool(b, 3, true)
		b = AppendDouble(b, 3, 1.5)
		b = AppendDouble(b, 2, 1.5)
		b = AppendVerbatim(b, 3, "txt", a[2])
		b = AppendRequest(b, a)
		_ = b
	})
}

// A learnt command (JSON.GET) is found, and its keys extracted, without allocating.
func TestAllocLearntLookup(t *testing.T) {
	set := learntModule(t)
	name, miss := []byte("JSON.Get"), []byte("json.nosuch")
	req := args("JSON.MSET", "a", "$", "1", "b", "$", "2")
	dst := make([]int, 0, 8)
	testAllocs(t, "CommandSet.Lookup", func() {
		if set.Lookup(name) == nil || set.Lookup(miss) != nil {
			t.Fatal("lookup")
		}
		if keys, err := set.Lookup(req[0]).KeyIndexes(req, dst); len(keys) != 2 || err != nil {
			t.Fatal(keys, err)
		}
	})
}
