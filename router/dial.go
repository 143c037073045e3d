package router

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/slotgate/slotgate/codec"
)

// Dialer opens authenticated connections to cluster nodes. Everything it does is synchronous and
// happens off the event loops; a connection it returns has no unread bytes buffered anywhere,
// so it can be handed to gnet (which takes over the file descriptor).
type Dialer struct {
	User     string        // ACL user for AUTH; empty means the default user
	Password string        // empty means no AUTH
	Timeout  time.Duration // connect and handshake timeout
}

// ErrWrongPassword marks a node that refused the backend credentials.
var ErrWrongPassword = errors.New("backend password refused")

// Dial connects to addr and authenticates.
func (d *Dialer) Dial(addr string) (net.Conn, error) { return d.dial(addr, false, false) }

// dial connects to addr, authenticates, switches to RESP3 with resp3 (HELLO 3) and, for a
// replica link, sends READONLY. The host is resolved on every call: a node's name may point
// elsewhere after a restart. Every failure counts in slotgate_backend_dial_errors_total, a
// refused AUTH or HELLO as much as a refused connection: the metric must show a wrong password.
func (d *Dialer) dial(addr string, readonly, resp3 bool) (net.Conn, error) {
	c, err := d.handshake(addr, readonly, resp3)
	if err != nil {
		backendDialErrors.Inc()
	}
	return c, err
}

func (d *Dialer) handshake(addr string, readonly, resp3 bool) (net.Conn, error) {
	timeout := d.Timeout
	if timeout <= 0 {
		timeout = time.Second
	}
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	_ = c.SetDeadline(time.Now().Add(timeout))
	if d.Password != "" {
		args := []string{"AUTH", d.Password}
		if d.User != "" {
			args = []string{"AUTH", d.User, d.Password}
		}
		reply, err := RoundTrip(c, args...)
		if err == nil && codec.IsError(reply) {
			msg := string(codec.ErrorText(reply))
			if strings.HasPrefix(msg, "WRONGPASS") || strings.Contains(msg, "invalid password") || strings.Contains(msg, "invalid username-password") {
				err = fmt.Errorf("%w: %s", ErrWrongPassword, msg)
			} else {
				err = fmt.Errorf("AUTH: %s", msg)
			}
		}
		if err != nil {
			c.Close()
			return nil, err
		}
	}
	if resp3 {
		reply, err := RoundTrip(c, "HELLO", "3")
		if err == nil && codec.IsError(reply) {
			err = fmt.Errorf("HELLO 3: %s", codec.ErrorText(reply))
		}
		if err != nil {
			c.Close()
			return nil, err
		}
	}
	if readonly {
		reply, err := RoundTrip(c, "READONLY")
		if err == nil && codec.IsError(reply) {
			err = fmt.Errorf("READONLY: %s", codec.ErrorText(reply))
		}
		if err != nil {
			c.Close()
			return nil, err
		}
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}

// RoundTrip sends one command and reads exactly its reply (no read-ahead: it stops at the reply's
// last byte, so the connection can be enrolled in an event loop afterwards).
func RoundTrip(c net.Conn, args ...string) ([]byte, error) {
	bargs := make([][]byte, len(args))
	for i, a := range args {
		bargs[i] = []byte(a)
	}
	if _, err := c.Write(codec.AppendRequest(nil, bargs)); err != nil {
		return nil, err
	}
	var f codec.ReplyFramer
	buf := make([]byte, 0, 512)
	for {
		// Read at most what the framer says is still missing, so nothing past the reply is consumed.
		want := f.Need() - len(buf)
		if want < 1 {
			want = 1
		}
		if cap(buf)-len(buf) < want {
			nb := make([]byte, len(buf), len(buf)+want+512)
			copy(nb, buf)
			buf = nb
		}
		n, err := c.Read(buf[len(buf) : len(buf)+want])
		buf = buf[:len(buf)+n]
		if n > 0 {
			m, ferr := f.Frame(buf)
			if ferr != nil {
				return nil, ferr
			}
			if m > 0 {
				return buf[:m], nil
			}
		}
		if err != nil {
			return nil, err
		}
	}
}
