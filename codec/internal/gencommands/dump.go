package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"
)

// dump asks the server at addr for COMMAND and COMMAND DOCS, in RESP2 and after HELLO 3 in RESP3,
// and writes the raw replies to dir.
func dump(addr, dir string) error {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	var pending []byte
	ask := func(args ...string) ([]byte, error) {
		req := fmt.Sprintf("*%d\r\n", len(args))
		for _, a := range args {
			req += fmt.Sprintf("$%d\r\n%s\r\n", len(a), a)
		}
		if _, err := c.Write([]byte(req)); err != nil {
			return nil, err
		}
		buf := make([]byte, 1<<16)
		for {
			if _, n, err := decode(pending); err == nil {
				out := append([]byte(nil), pending[:n]...)
				pending = pending[n:]
				return out, nil
			} else if err != errShort {
				return nil, err
			}
			m, err := c.Read(buf)
			if err != nil {
				return nil, err
			}
			pending = append(pending, buf[:m]...)
		}
	}
	files := []struct {
		name string
		args []string
	}{
		{"command.resp2", []string{"COMMAND"}},
		{"docs.resp2", []string{"COMMAND", "DOCS"}},
		{"", []string{"HELLO", "3"}},
		{"command.resp3", []string{"COMMAND"}},
		{"docs.resp3", []string{"COMMAND", "DOCS"}},
	}
	for _, f := range files {
		b, err := ask(f.args...)
		if err != nil {
			return fmt.Errorf("%v: %w", f.args, err)
		}
		if b[0] == '-' {
			return fmt.Errorf("%v: %s", f.args, b)
		}
		if f.name == "" {
			continue
		}
		if err := os.WriteFile(filepath.Join(dir, f.name), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}
