//go:build !race

package router

import (
	"testing"
	"time"
)

// TestPokeAllocs: a Poke and the OnPoke it brings allocate nothing (gnet's Execute allocates a
// closure and a queue node per call, which is why the patch exists).
func TestPokeAllocs(t *testing.T) {
	pe := &pokeEngine{}
	pe.quiet.Store(true)
	_, el := startPokeEngine(t, pe)
	pk := el.(poker)
	allocs := testing.AllocsPerRun(1000, func() {
		_ = pk.Poke()
	})
	if allocs != 0 {
		t.Errorf("Poke allocates %.2f times per call, want 0", allocs)
	}
	for deadline := time.Now().Add(5 * time.Second); pe.pokes.Load() == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no OnPoke ran")
		}
	}
}
