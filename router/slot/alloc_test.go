package slot

import "testing"

func TestAllocOf(t *testing.T) {
	keys := [][]byte{[]byte("foo"), []byte("{user1000}.following"), []byte("ra:some:key:12345"), []byte("")}
	var sink uint16
	allocs := testing.AllocsPerRun(100, func() {
		for _, k := range keys {
			sink += Of(k)
		}
	})
	if allocs != 0 {
		t.Errorf("slot.Of allocates %.1f times per run, want 0", allocs)
	}
	_ = sink
}
