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

// TestCRC16Slicing checks the eight-bytes-a-step CRC16 against the bit-at-a-time definition for
// every length around the step, and HashTag against Redis's rules on keys built from the
// characters that matter.
func TestCRC16Slicing(t *testing.T) {
	bitwise := func(b []byte) uint16 {
		var crc uint16
		for _, c := range b {
			crc ^= uint16(c) << 8
			for range 8 {
				if crc&0x8000 != 0 {
					crc = crc<<1 ^ 0x1021
				} else {
					crc <<= 1
				}
			}
		}
		return crc
	}
	buf := make([]byte, 40)
	for i := range buf {
		buf[i] = byte(i*131 + 7)
	}
	for n := 0; n <= len(buf); n++ {
		if got, want := CRC16(buf[:n]), bitwise(buf[:n]); got != want {
			t.Fatalf("CRC16 of %d bytes = %#x, want %#x", n, got, want)
		}
	}
	redisTag := func(key []byte) []byte { // keyHashSlot in Redis's cluster.c
		s := -1
		for i, c := range key {
			if c == '{' {
				s = i
				break
			}
		}
		if s < 0 {
			return key
		}
		e := -1
		for i := s + 1; i < len(key); i++ {
			if key[i] == '}' {
				e = i
				break
			}
		}
		if e < 0 || e == s+1 {
			return key
		}
		return key[s+1 : e]
	}
	alphabet := []byte("{}a")
	var key []byte
	var walk func(depth int)
	walk = func(depth int) {
		if got, want := HashTag(key), redisTag(key); string(got) != string(want) {
			t.Fatalf("HashTag(%q) = %q, want %q", key, got, want)
		}
		if depth == 6 {
			return
		}
		for _, c := range alphabet {
			key = append(key, c)
			walk(depth + 1)
			key = key[:len(key)-1]
		}
	}
	walk(0)
}
