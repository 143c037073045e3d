package main

import (
	"math/rand/v2"
	"strconv"

	"github.com/slotgate/slotgate/codec"
	"github.com/slotgate/slotgate/router/slot"
)

// Workload kinds.
const (
	kGet = iota
	kSet
	kMget
	kMix // 90 % GET, 10 % SET
)

// workload is one kind of request with its value size.
type workload struct {
	Name string
	kind int
	size int // value bytes (GET reads keys preloaded with values of this size)
}

var (
	wGet16  = workload{"GET 16B", kGet, 16}
	wSet16  = workload{"SET 16B", kSet, 16}
	wGet1K  = workload{"GET 1KiB", kGet, 1024}
	wSet1K  = workload{"SET 1KiB", kSet, 1024}
	wMget10 = workload{"MGET 10", kMget, 16}
	wMix    = workload{"GET/SET 90/10", kMix, 16}
)

// keySpace is the number of distinct keys: n uniform in [0, keySpace).
const keySpace = 100000

// mgetKeys is the number of keys of one MGET.
const mgetKeys = 10

// key appends the key of n for values of size: bench:{n} (16 B) or bench:{n}:1k (1 KiB), so
// both value sizes can stay preloaded side by side; the hash tag {n} spreads keys over all slots.
func key(dst []byte, n, size int) []byte {
	dst = append(dst, "bench:{"...)
	dst = strconv.AppendInt(dst, int64(n), 10)
	dst = append(dst, '}')
	if size > 16 {
		dst = append(dst, ":1k"...)
	}
	return dst
}

func value(size int) []byte {
	v := make([]byte, size)
	for i := range v {
		v[i] = 'a' + byte(i%26)
	}
	return v
}

// part is one wire request of a logical request: the bytes and the connection (master) they go to.
type part struct {
	conn int    // index into the client's connections (always 0 through a proxy)
	b    []byte // pre-built RESP request, shared read-only by every client
}

// req is one logical request: one part through a proxy; against the cluster, an MGET is split
// into one part per slot (sent to the owners), as a cluster client does.
type req struct {
	parts []part
}

// poolBytes bounds the pre-built requests of one pool; poolMax bounds their number.
const (
	poolBytes = 24 << 20
	poolMax   = 1 << 16
)

// buildPool pre-builds requests for w with random keys. With topo nil the requests go to one
// proxy connection; else each goes to the master owning its slot.
func buildPool(w workload, topo *topology, seed uint64) []req {
	rng := rand.New(rand.NewPCG(seed, 0x5107))
	val := value(w.size)
	per := 64 + w.size
	if w.kind == kMget {
		per = 24 * mgetKeys
	}
	n := min(poolMax, poolBytes/per)
	reqs := make([]req, n)
	parts := make([]part, 0, n)
	var arena []byte // one backing array, grown in chunks, so requests are contiguous in memory
	var kb [32]byte
	var args [mgetKeys + 1][]byte
	emit := func(conn int, a [][]byte) part {
		if cap(arena)-len(arena) < 64+len(a)*40+w.size {
			arena = make([]byte, 0, 1<<20)
		}
		start := len(arena)
		arena = codec.AppendRequest(arena, a)
		return part{conn: conn, b: arena[start:len(arena):len(arena)]}
	}
	owner := func(k []byte) int {
		if topo == nil {
			return 0
		}
		return int(topo.owner[slot.Of(k)])
	}
	for i := range reqs {
		kind := w.kind
		if kind == kMix {
			kind = kGet
			if rng.IntN(10) == 0 {
				kind = kSet
			}
		}
		first := len(parts)
		switch kind {
		case kGet, kSet:
			k := key(kb[:0], rng.IntN(keySpace), w.size)
			if kind == kGet {
				args[0], args[1] = []byte("GET"), k
				parts = append(parts, emit(owner(k), args[:2]))
			} else {
				args[0], args[1], args[2] = []byte("SET"), k, val
				parts = append(parts, emit(owner(k), args[:3]))
			}
		case kMget:
			keys := make([][]byte, mgetKeys)
			for j := range keys {
				keys[j] = key(nil, rng.IntN(keySpace), w.size)
			}
			if topo == nil {
				args[0] = []byte("MGET")
				copy(args[1:], keys)
				parts = append(parts, emit(0, args[:1+mgetKeys]))
				break
			}
			// One MGET per slot, in order of first appearance.
			done := make([]bool, len(keys))
			for j := range keys {
				if done[j] {
					continue
				}
				s := slot.Of(keys[j])
				a := [][]byte{[]byte("MGET")}
				for l := j; l < len(keys); l++ {
					if !done[l] && slot.Of(keys[l]) == s {
						a = append(a, keys[l])
						done[l] = true
					}
				}
				parts = append(parts, emit(int(topo.owner[s]), a))
			}
		}
		reqs[i].parts = parts[first:len(parts):len(parts)]
	}
	return reqs
}
