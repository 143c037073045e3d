package main

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

// progress draws one status line on stderr with plain \r updates; when stderr is not a terminal
// (CI logs) it prints one plain line per cell instead.
type progress struct {
	tty     bool
	mu      sync.Mutex
	i, n    int
	label   string
	started time.Time
	cellT0  time.Time
	stop    chan struct{}
	wg      sync.WaitGroup
	width   int
}

func newProgress(n int, started time.Time) *progress {
	p := &progress{n: n, started: started, stop: make(chan struct{})}
	if fi, err := os.Stderr.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
		p.tty = true
	}
	if !p.tty {
		return p
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		tk := time.NewTicker(250 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-tk.C:
				p.draw()
			}
		}
	}()
	return p
}

func (p *progress) set(label string) {
	p.mu.Lock()
	p.label, p.cellT0 = label, time.Now()
	if !p.tty {
		fmt.Fprintf(os.Stderr, "%d/%d  %s  (total %s)\n", p.i+1, p.n, label, time.Since(p.started).Round(time.Second))
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	p.draw()
}

func (p *progress) step() {
	p.mu.Lock()
	p.i++
	p.mu.Unlock()
}

func (p *progress) line() string {
	const barW = 20
	fill := 0
	if p.n > 0 {
		fill = p.i * barW / p.n
	}
	return fmt.Sprintf("[%s%s] %d/%d  %s  (cell %.1fs, total %s)",
		strings.Repeat("#", fill), strings.Repeat(".", barW-fill), p.i+1, p.n, p.label,
		time.Since(p.cellT0).Seconds(), time.Since(p.started).Round(time.Second))
}

func (p *progress) draw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.label == "" || !p.tty {
		return
	}
	s := p.line()
	pad := max(0, p.width-len(s))
	p.width = len(s)
	fmt.Fprint(os.Stderr, "\r"+s+strings.Repeat(" ", pad))
}

// clear erases the line so a log message starts at column 0.
func (p *progress) clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.width > 0 {
		fmt.Fprint(os.Stderr, "\r"+strings.Repeat(" ", p.width)+"\r")
		p.width = 0
	}
}

func (p *progress) done() {
	close(p.stop)
	p.wg.Wait()
	p.clear()
	fmt.Fprintf(os.Stderr, "slotbench: %d measurements in %s\n", p.n, time.Since(p.started).Round(time.Second))
}
