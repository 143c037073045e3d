package testcluster

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// A tiny RESP2 client for the harness's own control traffic: one short-lived
// connection per call, no pool, no retries, no logging. Tests use go-redis.

type redisError string

func (e redisError) Error() string { return string(e) }

type respConn struct {
	c net.Conn
	r *bufio.Reader
}

func dialResp(addr, password string, timeout time.Duration) (*respConn, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	rc := &respConn{c: c, r: bufio.NewReader(c)}
	_ = c.SetDeadline(time.Now().Add(timeout))
	if password != "" {
		if _, err := rc.do("AUTH", password); err != nil {
			c.Close()
			return nil, fmt.Errorf("AUTH: %w", err)
		}
	}
	return rc, nil
}

func (rc *respConn) Close() error { return rc.c.Close() }

func (rc *respConn) do(args ...string) (any, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := io.WriteString(rc.c, b.String()); err != nil {
		return nil, err
	}
	return rc.read(0)
}

func (rc *respConn) line() (string, error) {
	s, err := rc.r.ReadString('\n')
	if err != nil {
		return "", err
	}
	if len(s) < 3 || s[len(s)-2] != '\r' {
		return "", fmt.Errorf("bad RESP line %q", s)
	}
	return s[:len(s)-2], nil
}

func (rc *respConn) read(depth int) (any, error) {
	if depth > 8 {
		return nil, errors.New("RESP nesting too deep")
	}
	l, err := rc.line()
	if err != nil {
		return nil, err
	}
	switch l[0] {
	case '+':
		return l[1:], nil
	case '-':
		return nil, redisError(l[1:])
	case ':':
		return strconv.ParseInt(l[1:], 10, 64)
	case '$':
		n, err := strconv.Atoi(l[1:])
		if err != nil {
			return nil, err
		}
		if n < 0 {
			return nil, nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(rc.r, buf); err != nil {
			return nil, err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(l[1:])
		if err != nil {
			return nil, err
		}
		if n < 0 {
			return nil, nil
		}
		out := make([]any, 0, n)
		var firstErr error
		for range n {
			v, err := rc.read(depth + 1)
			if err != nil {
				var re redisError
				if !errors.As(err, &re) {
					return nil, err
				}
				if firstErr == nil {
					firstErr = err
				}
			}
			out = append(out, v)
		}
		return out, firstErr
	}
	return nil, fmt.Errorf("unexpected RESP type %q", l)
}

// call runs one command on addr over a fresh authenticated connection.
func call(addr, password string, timeout time.Duration, args ...string) (any, error) {
	rc, err := dialResp(addr, password, timeout)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return rc.do(args...)
}

func callString(addr, password string, timeout time.Duration, args ...string) (string, error) {
	v, err := call(addr, password, timeout, args...)
	if err != nil {
		return "", err
	}
	if s, ok := replyString(v); ok {
		return s, nil
	}
	return "", fmt.Errorf("%s: unexpected reply %T", strings.Join(args, " "), v)
}

// replyString is a string or integer reply as text.
func replyString(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case int64:
		return strconv.FormatInt(v, 10), true
	}
	return "", false
}

// InfoField returns the value of "name:value" in an INFO/CLUSTER INFO text ("" if absent).
func InfoField(info, name string) string {
	for l := range strings.Lines(info) {
		l = strings.TrimRight(l, "\r\n")
		if v, ok := strings.CutPrefix(l, name+":"); ok {
			return v
		}
	}
	return ""
}
