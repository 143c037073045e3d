package slot

import "testing"

func BenchmarkOf(b *testing.B) {
	for _, k := range []string{"user:1000", "key:000000012345", "{user1000}.following", "a-rather-long-key-name:with:many:parts:0123456789"} {
		key := []byte(k)
		b.Run(k, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = Of(key)
			}
		})
	}
}
