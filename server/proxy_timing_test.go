package server_test

import (
	"net"
	"strconv"
	"testing"

	"github.com/slotgate/slotgate/codec"
)

// benchConn is a raw client that sends pre-built requests and frames replies with the codec, so
// the benchmark measures the proxy, not a client library.
type benchConn struct {
	c   net.Conn
	buf []byte
	f   codec.ReplyFramer
}

// roundTrip writes req (n requests) and reads until n replies are framed.
func (bc *benchConn) roundTrip(b *testing.B, req []byte, n int) {
	if _, err := bc.c.Write(req); err != nil {
		b.Fatal(err)
	}
	have, off := 0, 0
	for n > 0 {
		if off == have {
			off, have = 0, 0
		}
		m, err := bc.c.Read(bc.buf[have:])
		if err != nil {
			b.Fatal(err)
		}
		have += m
		for n > 0 {
			k, err := bc.f.Frame(bc.buf[off:have])
			if err != nil {
				b.Fatal(err)
			}
			if k == 0 {
				break
			}
			if bc.buf[off] == '-' {
				b.Fatalf("error reply %q", bc.buf[off:off+k])
			}
			off += k
			n--
		}
		if n > 0 && off > 0 { // keep the partial reply at the start
			have = copy(bc.buf, bc.buf[off:have])
			off = 0
		}
	}
}

// BenchmarkProxyRoundTrip measures one proxied request at a time (pipeline depth 1) and a
// pipeline of 16, in-process against the shared harness cluster.
func BenchmarkProxyRoundTrip(b *testing.B) {
	p := startProxy(b, cluster, nil)
	c, err := net.Dial("tcp", p.Addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	bc := &benchConn{c: c, buf: make([]byte, 64<<10)}
	set := []byte(respCmd("SET", "bench:timing:1", "0123456789abcdef"))
	get := []byte(respCmd("GET", "bench:timing:1"))
	var mix16 []byte
	for i := range 16 {
		k := "bench:timing:" + strconv.Itoa(i)
		mix16 = append(mix16, respCmd("SET", k, "v")...)
		mix16 = append(mix16, respCmd("GET", k)...)
	}
	bc.roundTrip(b, set, 1)
	for _, bm := range []struct {
		name string
		req  []byte
		n    int
	}{{"SET", set, 1}, {"GET", get, 1}, {"SETGETx16", mix16, 32}} {
		b.Run(bm.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				bc.roundTrip(b, bm.req, bm.n)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*bm.n), "ns/request")
		})
	}
}
