// Package slot computes Redis Cluster hash slots: CRC16 (XMODEM) of the key, or of its hash tag,
// modulo 16384. It is a leaf package that any package may import.
package slot

import "bytes"

// Count is the number of hash slots in a Redis Cluster.
const Count = 16384

// crcTables[k][b] is the CRC16 of byte b followed by k zero bytes: with them CRC16 takes eight
// key bytes per step instead of one (slicing-by-8), since every request hashes its key.
var crcTables = func() (t [8][256]uint16) {
	for i := range t[0] {
		crc := uint16(i) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
		t[0][i] = crc
	}
	for k := 1; k < len(t); k++ {
		for i := range t[k] {
			prev := t[k-1][i]
			t[k][i] = prev<<8 ^ t[0][prev>>8]
		}
	}
	return t
}()

// CRC16 is the CRC16-CCITT (XMODEM) checksum Redis Cluster uses.
func CRC16(b []byte) uint16 {
	var crc uint16
	t := &crcTables
	for len(b) >= 8 {
		crc = t[7][byte(crc>>8)^b[0]] ^ t[6][byte(crc)^b[1]] ^
			t[5][b[2]] ^ t[4][b[3]] ^ t[3][b[4]] ^ t[2][b[5]] ^ t[1][b[6]] ^ t[0][b[7]]
		b = b[8:]
	}
	for _, c := range b {
		crc = crc<<8 ^ t[0][byte(crc>>8)^c]
	}
	return crc
}

// HashTag returns the part of key that is hashed: the bytes between the first '{' and the next
// '}' when that is non-empty, else the whole key (Redis's keyHashSlot rules).
func HashTag(key []byte) []byte {
	i := bytes.IndexByte(key, '{')
	if i < 0 {
		return key
	}
	j := bytes.IndexByte(key[i+1:], '}')
	if j <= 0 { // no '}', or "{}": the whole key
		return key
	}
	return key[i+1 : i+1+j]
}

// Of returns the hash slot of key.
func Of(key []byte) uint16 {
	return CRC16(HashTag(key)) & (Count - 1)
}
