package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"time"

	"github.com/slotgate/slotgate/codec"
)

// ctl is a small synchronous RESP connection for control traffic (AUTH, CLUSTER SLOTS,
// CONFIG RESETSTAT, INFO, preloading). It is not on the measured path.
type ctl struct {
	c   net.Conn
	r   *bufio.Reader
	buf []byte // accumulates the reply being framed
	out []byte
	f   codec.ReplyFramer
}

func dialCtl(addr, password string, timeout time.Duration) (*ctl, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	cc := &ctl{c: c, r: bufio.NewReaderSize(c, 64<<10)}
	if password != "" {
		if _, err := cc.do(timeout, "AUTH", password); err != nil {
			c.Close()
			return nil, fmt.Errorf("AUTH on %s: %w", addr, err)
		}
	}
	return cc, nil
}

func (cc *ctl) Close() error { return cc.c.Close() }

// do sends one command and returns its raw reply; an error reply becomes an error.
func (cc *ctl) do(timeout time.Duration, args ...string) ([]byte, error) {
	cc.out = cc.out[:0]
	cc.out = codec.AppendArrayLen(cc.out, len(args))
	for _, a := range args {
		cc.out = codec.AppendBulkString(cc.out, a)
	}
	cc.c.SetDeadline(time.Now().Add(timeout))
	if _, err := cc.c.Write(cc.out); err != nil {
		return nil, err
	}
	rep, err := cc.readReply()
	if err != nil {
		return nil, err
	}
	if codec.IsError(rep) {
		return rep, errors.New(string(codec.ErrorText(rep)))
	}
	return rep, nil
}

// readReply reads exactly one reply; the slice is valid until the next call.
func (cc *ctl) readReply() ([]byte, error) {
	cc.buf = cc.buf[:0]
	for {
		n, err := cc.f.Frame(cc.buf)
		if err != nil {
			return nil, err
		}
		if n > 0 {
			return cc.buf[:n], nil
		}
		// Read exactly up to Need: the reply cannot end before it, so nothing of the next reply
		// is taken out of the bufio.Reader.
		k := cc.f.Need() - len(cc.buf)
		if k <= 0 {
			k = 1
		}
		cc.buf = slices.Grow(cc.buf, k)
		if _, err := io.ReadFull(cc.r, cc.buf[len(cc.buf):len(cc.buf)+k]); err != nil {
			return nil, err
		}
		cc.buf = cc.buf[:len(cc.buf)+k]
	}
}

// bulk returns the payload of a bulk string reply ($n\r\n...\r\n), or nil.
func bulk(rep []byte) []byte {
	if len(rep) == 0 || rep[0] != '$' {
		return nil
	}
	i := bytes.IndexByte(rep, '\r')
	if i < 0 {
		return nil
	}
	n, err := strconv.Atoi(string(rep[1:i]))
	if err != nil || n < 0 || len(rep) < i+2+n {
		return nil
	}
	return rep[i+2 : i+2+n]
}

// topology is the slot map of a cluster: masters and, per slot, the index of its master.
type topology struct {
	masters []string
	owner   [16384]uint8
}

// clusterSlots asks seed for CLUSTER SLOTS.
func clusterSlots(seed, password string) (*topology, error) {
	cc, err := dialCtl(seed, password, 3*time.Second)
	if err != nil {
		return nil, err
	}
	defer cc.Close()
	rep, err := cc.do(3*time.Second, "CLUSTER", "SLOTS")
	if err != nil {
		return nil, fmt.Errorf("CLUSTER SLOTS on %s: %w", seed, err)
	}
	return parseClusterSlots(rep)
}

func parseClusterSlots(rep []byte) (*topology, error) {
	ranges, err := codec.ArrayElems(rep, nil)
	if err != nil {
		return nil, err
	}
	t := &topology{}
	idx := map[string]int{}
	covered := 0
	for _, r := range ranges {
		el, err := codec.ArrayElems(r, nil)
		if err != nil || len(el) < 3 {
			return nil, fmt.Errorf("CLUSTER SLOTS: bad range entry %q", r)
		}
		lo, ok1 := codec.ParseInt(el[0])
		hi, ok2 := codec.ParseInt(el[1])
		node, err := codec.ArrayElems(el[2], nil)
		if !ok1 || !ok2 || err != nil || len(node) < 2 || lo < 0 || hi >= 16384 || lo > hi {
			return nil, fmt.Errorf("CLUSTER SLOTS: bad range entry %q", r)
		}
		port, ok := codec.ParseInt(node[1])
		if !ok {
			return nil, fmt.Errorf("CLUSTER SLOTS: bad port in %q", r)
		}
		addr := net.JoinHostPort(string(bulk(node[0])), strconv.FormatInt(port, 10))
		m, ok := idx[addr]
		if !ok {
			m = len(t.masters)
			idx[addr] = m
			t.masters = append(t.masters, addr)
		}
		for s := lo; s <= hi; s++ {
			t.owner[s] = uint8(m)
		}
		covered += int(hi - lo + 1)
	}
	if covered != 16384 {
		return nil, fmt.Errorf("CLUSTER SLOTS covers %d of 16384 slots", covered)
	}
	return t, nil
}

// infoField returns the value of "name:" in an INFO text.
func infoField(info []byte, name string) (int64, bool) {
	for len(info) > 0 {
		line := info
		if i := bytes.IndexByte(info, '\n'); i >= 0 {
			line, info = info[:i], info[i+1:]
		} else {
			info = nil
		}
		line = bytes.TrimRight(line, "\r")
		if len(line) > len(name) && line[len(name)] == ':' && string(line[:len(name)]) == name {
			v, err := strconv.ParseInt(string(line[len(name)+1:]), 10, 64)
			return v, err == nil
		}
	}
	return 0, false
}
