package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestGeneratedUpToDate regenerates the table from the checked-in dump and compares it with the
// checked-in table_gen.go and table_gen_test.go (the "go generate && git diff --exit-code" check).
func TestGeneratedUpToDate(t *testing.T) {
	dir := t.TempDir()
	out, testOut := filepath.Join(dir, "table_gen.go"), filepath.Join(dir, "table_gen_test.go")
	if err := generate("../../testdata/commands", out, testOut); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"table_gen.go", "table_gen_test.go"} {
		got, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(filepath.Join("../..", f))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: run go generate in codec", f)
		}
	}
}

func TestDecode(t *testing.T) {
	for _, in := range []string{"+OK\r\n", "$3\r\nfoo\r\n", "$-1\r\n", "*2\r\n:1\r\n%1\r\n+a\r\n~1\r\n_\r\n", "|1\r\n+a\r\n+b\r\n:1\r\n"} {
		v, n, err := decode([]byte(in))
		if err != nil || n != len(in) || string(v.raw) != in {
			t.Errorf("decode(%q) = %v, %d, %v", in, v, n, err)
		}
	}
	for _, in := range []string{"", "+OK", "$3\r\nfo", "*2\r\n:1\r\n"} {
		if _, _, err := decode([]byte(in)); err != errShort {
			t.Errorf("decode(%q): %v", in, err)
		}
	}
	if _, _, err := decode([]byte("x\r\n")); err == nil || err == errShort {
		t.Errorf("bad type: %v", err)
	}
}
