package server

// bufPool is a loop's free list of reply buffers. A session borrows one only while it holds
// replies (its write buffer within a callback, a reply that arrived ahead of an earlier one), so
// an idle client holds no buffer at all, while the loop keeps a bounded few warm: the steady state
// allocates nothing, and what a burst grew goes back to the GC.
type bufPool struct {
	free [][]byte
}

const (
	pooledBufSize = 4 << 10  // a fresh buffer's capacity
	maxPooledBuf  = 64 << 10 // larger buffers are not kept
	maxPooledBufs = 256      // buffers kept per loop (at most 16 MiB)
)

func (p *bufPool) get() []byte {
	if n := len(p.free); n > 0 {
		b := p.free[n-1]
		p.free[n-1] = nil
		p.free = p.free[:n-1]
		return b
	}
	return make([]byte, 0, pooledBufSize)
}

// put returns b (nil is ignored); the caller must not use it again.
func (p *bufPool) put(b []byte) {
	if b == nil || cap(b) > maxPooledBuf || len(p.free) >= maxPooledBufs {
		return
	}
	p.free = append(p.free, b[:0])
}

// maxIdleScratch is the largest loop scratch buffer kept after a callback.
const maxIdleScratch = 1 << 20
