package server

import (
	"context"

	"github.com/panjf2000/gnet/v2"
)

// PausedEntries returns, per event loop, the length of its list of paused sessions (read on
// the loop's goroutine).
func PausedEntries(srv *Server) []int {
	srv.mu.Lock()
	loops := append([]*loop(nil), srv.loops...)
	srv.mu.Unlock()
	var out []int
	for _, lp := range loops {
		done := make(chan int, 1)
		if err := lp.el.Execute(context.Background(), gnet.RunnableFunc(func(context.Context) error {
			done <- len(lp.paused)
			return nil
		})); err != nil {
			continue
		}
		out = append(out, <-done)
	}
	return out
}
