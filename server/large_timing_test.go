package server_test

import (
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/slotgate/slotgate/codec"
)

// largeConn is a raw client for large replies: it frames them with the codec into one buffer
// that grows to the largest reply, so reading costs the same through slotgate and direct.
type largeConn struct {
	c   net.Conn
	buf []byte
	f   codec.ReplyFramer
}

func dialLarge(b *testing.B, addr, password string) *largeConn {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	lc := &largeConn{c: c, buf: make([]byte, 0, 1<<20)}
	if password != "" {
		if r := lc.do(b, []byte(respCmd("AUTH", password)), 0); string(r) != "+OK\r\n" {
			b.Fatalf("AUTH: %q", r)
		}
	}
	return lc
}

// do writes req in pieces of piece bytes (0: at once) and returns the reply, valid until the
// next call.
func (lc *largeConn) do(b *testing.B, req []byte, piece int) []byte {
	if piece <= 0 {
		piece = len(req)
	}
	for off := 0; off < len(req); off += piece {
		if _, err := lc.c.Write(req[off:min(off+piece, len(req))]); err != nil {
			b.Fatal(err)
		}
	}
	lc.buf = lc.buf[:0]
	for {
		if len(lc.buf) == cap(lc.buf) {
			lc.buf = append(lc.buf, 0)[:len(lc.buf)]
		}
		m, err := lc.c.Read(lc.buf[len(lc.buf):cap(lc.buf)])
		if err != nil {
			b.Fatal(err)
		}
		lc.buf = lc.buf[:len(lc.buf)+m]
		n, err := lc.f.Frame(lc.buf)
		if err != nil {
			b.Fatal(err)
		}
		if n > 0 {
			if n != len(lc.buf) {
				b.Fatalf("%d bytes after the reply", len(lc.buf)-n)
			}
			if lc.buf[0] == '-' {
				b.Fatalf("error reply %q", lc.buf)
			}
			return lc.buf
		}
	}
}

// BenchmarkLargeValues compares slotgate with direct access for replies and requests large
// enough to arrive in hundreds of reads: HGETALL of a 2 MB and of a 20 MB hash of small fields,
// and an HSET of 20 MB of small fields written in 8 KiB pieces. Each iteration does it once
// directly and once through slotgate; x-direct is slotgate's time over direct's. slotgate should
// cost a constant factor over direct whatever the size (framing resumes, each byte copied once).
func BenchmarkLargeValues(b *testing.B) {
	p := startProxy(b, cluster, nil)
	run := runID()
	value := string(patterned(100, "b"))
	type workload struct {
		name  string
		key   string
		req   []byte
		piece int
	}
	var loads []workload
	for _, size := range []int{2 << 20, 20 << 20} {
		key := "lb:" + run + ":hash" + strconv.Itoa(size>>20)
		fillHash(b, masterOf(b, key), key, size)
		loads = append(loads, workload{name: fmt.Sprintf("HGETALL-%dMB", size>>20), key: key,
			req: []byte(respCmd("HGETALL", key))})
	}
	key := "lb:" + run + ":hset"
	args := []string{"HSET", key}
	for i := range 20 << 20 / 120 {
		args = append(args, fmt.Sprintf("f%07d", i), value)
	}
	loads = append(loads, workload{name: "HSET-20MB-8KiB-pieces", key: key, req: []byte(respCmd(args...)), piece: 8 << 10})
	b.Cleanup(func() { p.client(b, nil).Unlink(b.Context(), key) })

	for _, w := range loads {
		master := masterOf(b, w.key)
		b.Run(w.name, func(b *testing.B) {
			direct := dialLarge(b, master.Addr, cluster.Password)
			proxied := dialLarge(b, p.Addr, "")
			size := len(direct.do(b, w.req, w.piece)) // warm up, and the size of the reply
			proxied.do(b, w.req, w.piece)
			if w.piece > 0 {
				size = len(w.req)
			}
			b.SetBytes(int64(2 * size))
			// Alternate the two ways, so a machine shared with other work slows both alike.
			var viaDirect, viaProxy time.Duration
			for b.Loop() {
				t0 := time.Now()
				direct.do(b, w.req, w.piece)
				t1 := time.Now()
				proxied.do(b, w.req, w.piece)
				viaDirect += t1.Sub(t0)
				viaProxy += time.Since(t1)
			}
			b.ReportMetric(float64(viaDirect.Microseconds())/1e3/float64(b.N), "direct-ms/op")
			b.ReportMetric(float64(viaProxy.Microseconds())/1e3/float64(b.N), "slotgate-ms/op")
			b.ReportMetric(float64(viaProxy)/float64(viaDirect), "x-direct")
		})
	}
}
