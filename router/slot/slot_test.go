package slot

import "testing"

func TestOf(t *testing.T) {
	// Expected values are what CLUSTER KEYSLOT answers on Redis 7.0.
	cases := map[string]uint16{
		"":                     0,
		"foo":                  12182,
		"bar":                  5061,
		"user:1":               10778,
		"123456789":            12739,
		"{user1000}.following": 3443,
		"{user1000}.followers": 3443,
		"foo{}{bar}":           8363,
		"foo{{bar}}zap":        4015,
		"foo{bar}{zap}":        5061,
		"{":                    slotOfWhole("{"),
		"}{":                   slotOfWhole("}{"),
	}
	for k, want := range cases {
		if got := Of([]byte(k)); got != want {
			t.Errorf("Of(%q) = %d, want %d", k, got, want)
		}
	}
	if got := CRC16([]byte("123456789")); got != 0x31c3 {
		t.Fatalf("CRC16 check value = %#x, want 0x31c3", got)
	}
}

func slotOfWhole(k string) uint16 { return CRC16([]byte(k)) & (Count - 1) }
