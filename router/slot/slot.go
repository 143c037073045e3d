// Package slot computes Redis Cluster hash slots: CRC16 (XMODEM) of the key, or of its hash tag,
// modulo 16384. It is a leaf package that any package may import.
package slot

// Count is the number of hash slots in a Redis Cluster.
const Count = 16384

var crcTable = func() (t [256]uint16) {
	for i := range t {
		crc := uint16(i) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
		t[i] = crc
	}
	return t
}()

// CRC16 is the CRC16-CCITT (XMODEM) checksum Redis Cluster uses.
func CRC16(b []byte) uint16 {
	var crc uint16
	for _, c := range b {
		crc = crc<<8 ^ crcTable[byte(crc>>8)^c]
	}
	return crc
}

// HashTag returns the part of key that is hashed: the bytes between the first '{' and the next
// '}' when that is non-empty, else the whole key (Redis's keyHashSlot rules).
func HashTag(key []byte) []byte {
	for i, c := range key {
		if c != '{' {
			continue
		}
		for j := i + 1; j < len(key); j++ {
			if key[j] == '}' {
				if j == i+1 {
					return key
				}
				return key[i+1 : j]
			}
		}
		return key
	}
	return key
}

// Of returns the hash slot of key.
func Of(key []byte) uint16 {
	return CRC16(HashTag(key)) & (Count - 1)
}
