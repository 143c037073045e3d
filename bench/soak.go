package main

// Soak mode (-soak D): D of mixed load through one slotgate on a fresh 3+3 cluster (the one
// -failover starts), with the master of the first shard SIGKILLed half-way (failover's kill:
// promotion, restart, rejoin), to show what a long run does to slotgate: its RSS sampled over
// time, its goroutines, threads and fds before and after, and every acknowledged write read back.
//
// Load: steady connections and churning ones (reconnecting every few batches, sometimes closing
// with replies unread), each sending batches of 1 to skMaxPipe commands (GET, SET, MGET, MSET,
// DEL, INCR; values of 8-200 bytes, now and then 64 KiB-1 MiB) on keys only it writes, so it
// knows what each key must hold: reads during the run are checked too.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/slotgate/slotgate/codec"
	"github.com/slotgate/slotgate/internal/testcluster"
	"github.com/slotgate/slotgate/router/slot"
)

const (
	skSteady   = 6               // connections kept for the whole run
	skChurn    = 4               // connections that reconnect every few batches
	skKeys     = 5000            // string keys per connection: sk:w<i>:{n}
	skBig      = 8               // of which the first skBig take the large values
	skCounters = 64              // INCR counters per connection: sk:w<i>:{c<n>}
	skMaxPipe  = 32              // commands per batch, at most
	skMaxMulti = 8               // keys per MGET/MSET/DEL, at most
	skBigEvery = 200             // one SET in skBigEvery writes a large value
	skSample   = 5 * time.Second // RSS and the rest sampled this often
	skSettle   = 5 * time.Second // after the load stops, before the "after" counts
	skChurnGap = 20 * time.Millisecond

	soakNodeTimeout = 5 * time.Second // -node-timeout's default with -soak
)

// Command kinds of the soak load.
const (
	skSet = iota
	skGet
	skMSet
	skMGet
	skDel
	skIncr
)

var skNames = [...]string{"SET", "GET", "MSET", "MGET", "DEL", "INCR"}

// skCmd is one command of a batch.
type skCmd struct {
	kind int
	keys []int    // key numbers (the counter's for INCR)
	seqs []uint64 // what SET/MSET write per key; a DEL's seq|delBit
	at   time.Time
}

type skCounter struct {
	ack   int64 // the value the last answered INCR returned
	doubt int   // INCRs since then without an answer
	ackAt int64
}

type skWorker struct {
	id    int
	churn bool
	rng   *rand.Rand
	keys  []foKey
	ackAt []int64 // unix ns of each key's last acknowledgement
	ctrs  []skCounter
	seq   uint64
	why   map[uint64]string // how each write without an answer was sent (for findings)
	live  foReadback        // reads during the run
	finds []skFinding       // what the checks during the run found (the first skMaxFinds)
	nFind int64
}

// skFinding is something a check during the run found wrong. It is judged at the end, once the
// kill's replication offsets are known: a write acknowledged just before the kill may have been
// lost by Redis (see explained).
type skFinding struct {
	at    time.Time
	text  string
	slots []uint16 // the keys' slots
	acks  []int64  // when each key's last write was acknowledged (unix ns)
}

const skMaxFinds = 10000

// skSample is one look at slotgate's process.
type skSampleRow struct {
	Seconds    float64 `json:"seconds"`
	RSSKiB     int64   `json:"rss_kib"`
	FDs        int     `json:"fds"`
	Threads    int     `json:"threads"`
	Goroutines int     `json:"goroutines"`
	HeapInuse  float64 `json:"heap_inuse_bytes"`
	Clients    int     `json:"client_connections"`
	Paused     int     `json:"clients_paused"`
	Backends   int     `json:"backend_connections"`
	Ops        int64   `json:"replies"`
	Phase      string  `json:"phase,omitempty"`
	FDKinds    string  `json:"fd_kinds,omitempty"` // idle looks: what the fds are
}

type soak struct {
	*failover
	dur      time.Duration
	workers  []*skWorker
	strSlot  [skKeys]uint16
	ctrSlot  [skCounters]uint16
	ops      atomic.Int64 // replies received
	stall    atomic.Int64 // longest time without a reply (ns)
	stallEnd atomic.Int64 // when it ended (unix ns)
	conns    atomic.Int64 // connections opened by the load
	perKind  [len(skNames)]atomic.Int64
	mu       sync.Mutex
	samples  []skSampleRow
	election []string // the promoted replica's log lines about the failover
}

// electionLine says whether a Redis log line is about failure detection or the election (not
// the replica's attempts to reach its dead master).
func electionLine(l string) bool {
	for _, w := range []string{"FAIL", "failing", "lection", "ailover", "new master", "Cluster state", "configEpoch"} {
		if strings.Contains(l, w) {
			return true
		}
	}
	return false
}

// electionLog returns node addr's log from about the kill on (failure detection, the election).
func (s *soak) electionLog(addr string, since time.Time) []string {
	for _, n := range s.c.Nodes {
		if n.Addr != addr || n.LogFile == "" {
			continue
		}
		var lines []string
		for _, l := range strings.Split(testcluster.LogTail(n.LogFile, 200), "\n") {
			// "25312:S 07 Dec 2026 06:44:08.907 * FAIL message received ...": from the kill on.
			f := strings.Fields(l)
			if len(f) < 5 {
				continue
			}
			at, err := time.ParseInLocation("02 Jan 2006 15:04:05.000", strings.Join(f[1:5], " "), time.Local)
			if err == nil && !at.Before(since.Add(-time.Second)) && electionLine(l) {
				lines = append(lines, l)
			}
		}
		return lines[:min(len(lines), 25)]
	}
	return nil
}

// runSoak is slotbench -soak D.
func (b *bench) runSoak() int {
	b.started = time.Now()
	b.cfg.failover = 1 // the one kill (kill's messages count kills)
	f := &failover{b: b, started: b.started, errs: []map[foErrKey]int64{{}}, errAt: make([][]foErrAt, 1)}
	s := &soak{failover: f, dur: b.cfg.soak}
	if err := f.start(); err != nil {
		b.logf("setup: %v", err)
		return 1
	}
	var kb []byte
	for n := range skKeys {
		kb = skKeyName(kb[:0], 0, n)
		s.strSlot[n] = slot.Of(kb)
	}
	for n := range skCounters {
		kb = skCounterName(kb[:0], 0, n)
		s.ctrSlot[n] = slot.Of(kb)
	}
	for i := range skSteady + skChurn {
		w := &skWorker{id: i, churn: i >= skSteady, rng: rand.New(rand.NewPCG(uint64(i)+101, uint64(time.Now().UnixNano()))),
			keys: make([]foKey, skKeys), ackAt: make([]int64, skKeys), ctrs: make([]skCounter, skCounters), why: map[uint64]string{}}
		for n := range w.keys {
			w.keys[n].ack = delBit // absent until written
		}
		s.workers = append(s.workers, w)
	}
	if err := s.touchShards(); err != nil {
		b.logf("setup: %v", err)
		return 1
	}
	time.Sleep(time.Second)
	before := s.look("before")
	b.logf("soak: %v of mixed load (%d steady + %d churning connections) through %s; master of slots %s killed at %v",
		s.dur, skSteady, skChurn, f.sg.Addr, f.shards[0].slots, s.dur/2)

	t0 := time.Now()
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go s.sampleEvery(t0, stopSampling, sampled)
	go s.watchProgress(stopSampling)
	for _, w := range s.workers {
		f.wg.Add(1)
		go s.work(w)
	}
	code := 0
	time.Sleep(s.dur / 2)
	s.mark(t0, "kill")
	row, err := f.kill(0)
	f.rows = append(f.rows, row)
	s.election = s.electionLog(row.Promoted, row.killedAt)
	if err != nil || row.Error != "" {
		b.logf("kill: %v %s", err, row.Error)
		code = 1
	}
	if rest := s.dur - time.Since(t0); rest > 0 {
		time.Sleep(rest)
	}
	s.mark(t0, "end")
	f.stop.Store(true)
	f.wg.Wait()
	close(stopSampling)
	<-sampled
	loadTime := time.Since(t0)
	time.Sleep(skSettle)
	after := s.look("after load")
	b.logf("soak: load stopped after %v; reading every key back through slotgate", loadTime.Round(time.Second))
	rb, unexplained := s.readBack()
	time.Sleep(time.Second)
	afterRead := s.look("after read-back")
	if c := s.report(loadTime, before, after, afterRead, rb, unexplained); c != 0 {
		code = c
	}
	b.logf("soak run took %s", time.Since(b.started).Round(time.Second))
	return code
}

// touchShards GETs a key of every shard through slotgate, so that its connection to every master
// is open before the baseline counts.
func (s *soak) touchShards() error {
	cc, err := dialCtl(s.sg.Addr, "", foTimeout)
	if err != nil {
		return err
	}
	defer cc.Close()
	for sh := range s.shards {
		for n := range skKeys {
			if int(s.shardOf[s.strSlot[n]]) == sh {
				if _, err := cc.do(foTimeout, "GET", string(skKeyName(nil, 0, n))); err != nil {
					return err
				}
				break
			}
		}
	}
	return nil
}

// skKeyName appends worker w's key n: sk:w<w>:{n}.
func skKeyName(dst []byte, w, n int) []byte { return workerKey(dst, "sk", w, "", n) }

// skCounterName appends worker w's counter n: sk:w<w>:{c<n>}.
func skCounterName(dst []byte, w, n int) []byte { return workerKey(dst, "sk", w, "c", n) }

// batch makes the next batch of commands.
func (s *soak) batch(w *skWorker, cmds []skCmd) []skCmd {
	n := 1
	if w.rng.IntN(10) < 3 {
		n = 2 + w.rng.IntN(skMaxPipe-1)
	}
	cmds = cmds[:0]
	for range n {
		var c skCmd
		switch r := w.rng.IntN(100); {
		case r < 30:
			c.kind = skSet
		case r < 55:
			c.kind = skGet
		case r < 63:
			c.kind = skMSet
		case r < 75:
			c.kind = skMGet
		case r < 83:
			c.kind = skDel
		default:
			c.kind = skIncr
		}
		keys := 1
		if c.kind == skMSet || c.kind == skMGet || c.kind == skDel {
			keys = 2 + w.rng.IntN(skMaxMulti-1)
		}
		for range keys {
			switch {
			case c.kind == skIncr:
				c.keys = append(c.keys, w.rng.IntN(skCounters))
			case c.kind == skSet && w.rng.IntN(skBigEvery) == 0:
				c.keys = append(c.keys, w.rng.IntN(skBig))
			default:
				c.keys = append(c.keys, w.rng.IntN(skKeys))
			}
		}
		switch c.kind {
		case skSet, skMSet:
			for range c.keys {
				w.seq++
				c.seqs = append(c.seqs, w.seq)
			}
		case skDel:
			w.seq++
			c.seqs = append(c.seqs, w.seq|delBit)
		}
		cmds = append(cmds, c)
	}
	return cmds
}

// encode appends cmds as requests.
func (s *soak) encode(w *skWorker, out []byte, cmds []skCmd) []byte {
	var args [][]byte
	for i := range cmds {
		c := &cmds[i]
		args = append(args[:0], []byte(skNames[c.kind]))
		for j, n := range c.keys {
			if c.kind == skIncr {
				args = append(args, skCounterName(nil, w.id, n))
				continue
			}
			args = append(args, skKeyName(nil, w.id, n))
			if c.kind == skSet || c.kind == skMSet {
				size := 8 + w.rng.IntN(192)
				if n < skBig {
					size = 64<<10 + w.rng.IntN(960<<10)
				}
				args = append(args, foFill(nil, c.seqs[j], size))
			}
		}
		out = codec.AppendRequest(out, args)
	}
	return out
}

// work is one load connection: batch after batch until the end; a churning one reconnects
// every few batches and now and then leaves with its replies unread.
func (s *soak) work(w *skWorker) {
	f := s.failover
	defer f.wg.Done()
	var cc *ctl
	defer func() {
		if cc != nil {
			cc.Close()
		}
	}()
	var cmds []skCmd
	var out []byte
	for !f.stop.Load() {
		if cc == nil {
			c, err := dialCtl(f.sg.Addr, "", foTimeout)
			if err != nil {
				f.countErr("other", "dial: "+otherText(err))
				time.Sleep(100 * time.Millisecond)
				continue
			}
			cc = c
			s.conns.Add(1)
		}
		cmds = s.batch(w, cmds)
		out = s.encode(w, out[:0], cmds)
		cc.c.SetDeadline(time.Now().Add(foTimeout))
		if _, err := cc.c.Write(out); err != nil {
			s.doubtAll(w, cmds, "its batch's write failed: "+otherText(err))
			f.countErr("other", otherText(err))
			cc.Close()
			cc = nil
			continue
		}
		if w.churn && w.rng.IntN(32) == 0 {
			s.doubtAll(w, cmds, fmt.Sprintf("a batch of %d (%d bytes) left unread", len(cmds), len(out))) // each write may or may not apply
			cc.Close()
			cc = nil
			time.Sleep(skChurnGap)
			continue
		}
		for i := range cmds {
			rep, err := cc.readReply()
			if err != nil {
				s.doubtAll(w, cmds[i:], "no reply: "+otherText(err))
				f.countErr("other", otherText(err))
				cc.Close()
				cc = nil
				break
			}
			s.ops.Add(1)
			s.perKind[cmds[i].kind].Add(1)
			s.apply(w, &cmds[i], rep, time.Now())
		}
		if cc != nil && w.churn && w.rng.IntN(8) == 0 {
			cc.Close()
			cc = nil
			time.Sleep(skChurnGap)
		}
	}
}

// doubtAll records commands whose outcome is unknown, and why.
func (s *soak) doubtAll(w *skWorker, cmds []skCmd, why string) {
	for i := range cmds {
		s.doubt(w, &cmds[i], why)
	}
}

// doubt records a command whose outcome is unknown: its writes may or may not have applied.
func (s *soak) doubt(w *skWorker, c *skCmd, why string) {
	if len(w.why) < 100000 {
		at := time.Now().Format("15:04:05.000000")
		for _, q := range c.seqs {
			w.why[q] = at + " " + why
		}
	}
	switch c.kind {
	case skSet, skMSet:
		for j, n := range c.keys {
			w.keys[n].doubt = append(w.keys[n].doubt, c.seqs[j])
		}
	case skDel:
		for _, n := range c.keys {
			w.keys[n].doubt = append(w.keys[n].doubt, c.seqs[0])
		}
	case skIncr:
		w.ctrs[c.keys[0]].doubt++
	}
}

// apply checks one reply against what the worker knows and records what it acknowledges.
func (s *soak) apply(w *skWorker, c *skCmd, rep []byte, now time.Time) {
	f := s.failover
	if codec.IsError(rep) {
		s.doubt(w, c, "answered -"+clipText(string(codec.ErrorText(rep))))
		f.countErr("resp", clipText(string(codec.ErrorText(rep))))
		return
	}
	ns := now.UnixNano()
	switch c.kind {
	case skSet, skMSet:
		if string(rep) != "+OK\r\n" {
			s.doubt(w, c, "an unexpected reply")
			s.find(w, nil, nil, "%s answered %.40q", skNames[c.kind], rep)
			return
		}
		for j, n := range c.keys {
			w.keys[n].ack, w.ackAt[n] = c.seqs[j], ns
			f.acked(f.shardOf[s.strSlot[n]], now)
		}
	case skDel:
		got, ok := codec.ParseInt(rep)
		if !ok {
			s.doubt(w, c, "an unexpected reply")
			s.find(w, nil, nil, "DEL answered %.40q", rep)
			return
		}
		if want, known := s.present(w, c.keys); known && got != want {
			var slots []uint16
			var acks []int64
			for _, n := range c.keys {
				slots, acks = append(slots, s.strSlot[n]), append(acks, w.ackAt[n])
			}
			s.find(w, slots, acks, "DEL of %d keys answered %d, %d of them were set", len(c.keys), got, want)
		}
		for _, n := range c.keys {
			w.keys[n].ack, w.ackAt[n] = c.seqs[0], ns
			f.acked(f.shardOf[s.strSlot[n]], now)
		}
	case skIncr:
		got, ok := codec.ParseInt(rep)
		k := &w.ctrs[c.keys[0]]
		if !ok {
			k.doubt++
			s.find(w, nil, nil, "INCR answered %.40q", rep)
			return
		}
		if got <= k.ack || got > k.ack+1+int64(k.doubt) {
			s.find(w, []uint16{s.ctrSlot[c.keys[0]]}, []int64{k.ackAt},
				"INCR %s answered %d after %d (%d unanswered since)", skCounterName(nil, w.id, c.keys[0]), got, k.ack, k.doubt)
		}
		k.ack, k.doubt, k.ackAt = got, 0, ns
		f.acked(f.shardOf[s.ctrSlot[c.keys[0]]], now)
	case skGet:
		s.checkRead(w, c.keys[0], rep)
	case skMGet:
		elems, err := codec.ArrayElems(rep, nil)
		if err != nil || len(elems) != len(c.keys) {
			s.find(w, nil, nil, "MGET of %d keys answered %.60q", len(c.keys), rep)
			return
		}
		for j, n := range c.keys {
			s.checkRead(w, n, elems[j])
		}
	}
}

// present counts the distinct keys that hold a value, when every one is known for sure.
func (s *soak) present(w *skWorker, keys []int) (int64, bool) {
	var seen []int
	var n int64
	for _, k := range keys {
		if slices.Contains(seen, k) {
			continue
		}
		seen = append(seen, k)
		if len(w.keys[k].doubt) > 0 {
			return 0, false
		}
		if w.keys[k].ack&delBit == 0 {
			n++
		}
	}
	return n, true
}

// checkRead checks a value read during the run.
func (s *soak) checkRead(w *skWorker, n int, rep []byte) {
	v, present := codec.BulkText(rep)
	if !present && !bytes.Equal(rep, []byte("$-1\r\n")) {
		s.find(w, nil, nil, "GET %s answered %.40q", skKeyName(nil, w.id, n), rep)
		return
	}
	k := &w.keys[n]
	w.live.Keys++
	if what := w.live.classify(k, v, present); what != "" {
		var whys []string
		for _, d := range k.doubt {
			whys = append(whys, foState(d)+": "+w.why[d])
		}
		s.find(w, []uint16{s.strSlot[n]}, []int64{w.ackAt[n]},
			"read %s: acknowledged %s at %s, read %s (%s); unanswered: %s", skKeyName(nil, w.id, n), foState(k.ack),
			time.Unix(0, w.ackAt[n]).Format("15:04:05.000000"), foRead(v, present), what, strings.Join(whys, "; "))
	}
}

// explained says whether a write acknowledged at ackAt (unix ns) on slot sl can have been lost
// by Redis's asynchronous replication: its shard's master was killed, the write was
// acknowledged after the last look at the replication offsets before the kill, and the
// promoted replica had everything up to that look. Anything else is not Redis's to lose.
func (s *soak) explained(sl uint16, ackAt int64) bool {
	for _, r := range s.rows {
		if s.shardOf[sl] != 0 || r.PromotedAtOffset < 0 || r.MasterOffsetBeforeKill < 0 { // the first shard's master is the one killed
			continue
		}
		if ackAt > r.offsetsAt.UnixNano() && ackAt <= r.killedAt.UnixNano() && r.PromotedAtOffset >= r.MasterOffsetBeforeKill {
			return true
		}
	}
	return false
}

// find records something a check found wrong with keys on slots whose last writes were
// acknowledged at acks.
func (s *soak) find(w *skWorker, slots []uint16, acks []int64, format string, args ...any) {
	w.nFind++
	if len(w.finds) < skMaxFinds {
		w.finds = append(w.finds, skFinding{time.Now(), fmt.Sprintf(format, args...), slots, acks})
	}
}

// explainedFinding says whether one of the finding's keys may have lost its last write to
// Redis's asynchronous replication.
func (s *soak) explainedFinding(fd *skFinding) bool {
	for i, sl := range fd.slots {
		if s.explained(sl, fd.acks[i]) {
			return true
		}
	}
	return false
}

// skLoss is one acknowledged write the read-back did not find.
type skLoss struct {
	Key       string `json:"key"`
	What      string `json:"what"`
	AckAt     string `json:"acknowledged_at"`
	Explained bool   `json:"explained_by_async_replication"`
}

// readBack reads every key the load wrote (counters included) through slotgate and returns
// the counts and the losses no failover explains.
func (s *soak) readBack() (foReadback, []skLoss) {
	var mu sync.Mutex
	var rb foReadback
	var losses []skLoss
	var errs []string
	var wg sync.WaitGroup
	for _, w := range s.workers {
		wg.Go(func() {
			var r foReadback
			var mine []skLoss
			var kb []byte
			loss := func(key []byte, what string, sl uint16, at int64) {
				if len(mine) < 50 {
					mine = append(mine, skLoss{Key: string(key), What: what, AckAt: time.Unix(0, at).Format("15:04:05.000000"),
						Explained: s.explained(sl, at)})
				}
			}
			err := readPipelined(s.sg.Addr, skKeys+skCounters,
				func(i int) []byte {
					if i < skKeys {
						k := &w.keys[i]
						if k.ack == delBit && len(k.doubt) == 0 {
							return nil // never written
						}
						kb = skKeyName(kb[:0], w.id, i)
						return kb
					}
					kb = skCounterName(kb[:0], w.id, i-skKeys)
					return kb
				},
				func(i int, rep []byte) {
					if i >= skKeys {
						c := &w.ctrs[i-skKeys]
						r.Keys++
						v, present := codec.BulkText(rep)
						got, err := strconv.ParseInt(string(v), 10, 64)
						switch {
						case codec.IsError(rep):
							r.Errors++
						case !present && c.ack == 0:
							r.Same++
						case err == nil && got == c.ack:
							r.Same++
						case err == nil && got > c.ack && got <= c.ack+int64(c.doubt):
							r.InDoubt++
						case err == nil && got < c.ack:
							r.Older++
							loss(skCounterName(nil, w.id, i-skKeys), fmt.Sprintf("INCR answered %d, reads %d", c.ack, got), s.ctrSlot[i-skKeys], c.ackAt)
						default:
							r.Unknown++
							loss(skCounterName(nil, w.id, i-skKeys), fmt.Sprintf("INCR answered %d (%d unanswered since), reads %q", c.ack, c.doubt, v), s.ctrSlot[i-skKeys], c.ackAt)
						}
						return
					}
					k := &w.keys[i]
					r.Keys++
					if codec.IsError(rep) {
						r.Errors++
						return
					}
					v, present := codec.BulkText(rep)
					if what := r.classify(k, v, present); what != "" {
						loss(skKeyName(nil, w.id, i), fmt.Sprintf("acknowledged %s, read %s (%s)", foState(k.ack), foRead(v, present), what), s.strSlot[i], w.ackAt[i])
					}
				})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err.Error())
			}
			rb.add(&r)
			losses = append(losses, mine...)
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		rb.Error = strings.Join(errs, "; ")
	}
	return rb, losses
}

// look counts slotgate's goroutines, threads and fds (the least of three looks a second apart:
// a topology refresh holds a connection for a moment) and its RSS. Our own admin connection is
// counted in each look: one socket and the goroutine serving it.
func (s *soak) look(phase string) skSampleRow {
	var best skSampleRow
	for i := range 3 {
		if i > 0 {
			time.Sleep(time.Second)
		}
		// One admin connection in every look: the sampler and a mark may have left two.
		httpClient.CloseIdleConnections()
		time.Sleep(50 * time.Millisecond)
		r := s.sample(time.Time{})
		if i == 0 || r.Goroutines+r.FDs < best.Goroutines+best.FDs {
			best = r
		}
	}
	best.Phase = phase
	best.FDKinds = fdKinds(s.sg.pid)
	return best
}

// fdKinds sums up what a process's fds are: "socket 12, anon_inode:[eventpoll] 2, ...".
func fdKinds(pid int) string {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return ""
	}
	count := map[string]int{}
	for _, e := range ents {
		link, err := os.Readlink(dir + "/" + e.Name())
		if err != nil {
			continue
		}
		kind, _, _ := strings.Cut(link, ":[") // socket:[123] -> socket; anon_inode:[eventpoll] stays whole
		if kind == "anon_inode" {
			kind = link
		} else if strings.HasPrefix(link, "/") {
			kind = "file"
		}
		count[kind]++
	}
	var parts []string
	for k, n := range count {
		parts = append(parts, fmt.Sprintf("%s %d", k, n))
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}

// sample reads /proc/PID and the admin /metrics of slotgate.
func (s *soak) sample(t0 time.Time) skSampleRow {
	pid := s.sg.pid
	r := skSampleRow{RSSKiB: -1, FDs: -1, Threads: -1, Goroutines: -1, HeapInuse: -1, Clients: -1, Paused: -1, Backends: -1, Ops: s.ops.Load()}
	if !t0.IsZero() {
		r.Seconds = time.Since(t0).Seconds()
	}
	if resp, err := httpClient.Get("http://" + s.sg.admin + "/metrics"); err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if v, ok := metricValue(bytes.NewReader(body), "go_goroutines"); ok {
			r.Goroutines = int(v)
		}
		if v, ok := metricValue(bytes.NewReader(body), "go_memstats_heap_inuse_bytes"); ok {
			r.HeapInuse = v
		}
		for name, dst := range map[string]*int{"slotgate_client_connections": &r.Clients, "slotgate_clients_paused": &r.Paused,
			"slotgate_backend_connections": &r.Backends} {
			if v, ok := metricValue(bytes.NewReader(body), name); ok {
				*dst = int(v)
			}
		}
	}
	if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		r.RSSKiB = statusField(st, "VmRSS:")
		r.Threads = int(statusField(st, "Threads:"))
	}
	if ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)); err == nil {
		r.FDs = len(ents)
	}
	return r
}

// statusField reads a number from /proc/PID/status ("VmRSS:   1234 kB" -> 1234), -1 if absent.
func statusField(st []byte, name string) int64 {
	for _, line := range strings.Split(string(st), "\n") {
		if rest, ok := strings.CutPrefix(line, name); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				if v, err := strconv.ParseInt(f[0], 10, 64); err == nil {
					return v
				}
			}
		}
	}
	return -1
}

func (s *soak) sampleEvery(t0 time.Time, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	tick := time.NewTicker(skSample)
	defer tick.Stop()
	for {
		r := s.sample(t0)
		s.mu.Lock()
		s.samples = append(s.samples, r)
		s.mu.Unlock()
		select {
		case <-stop:
			return
		case <-tick.C:
		}
	}
}

// mark samples now with a phase name ("kill", "end").
func (s *soak) mark(t0 time.Time, phase string) {
	r := s.sample(t0)
	r.Phase = phase
	s.mu.Lock()
	s.samples = append(s.samples, r)
	s.mu.Unlock()
}

// rssWindow is the median and the peak of RSS (KiB) over one stretch of the run.
type rssWindow struct {
	Median int64 `json:"median_kib"`
	Peak   int64 `json:"peak_kib"`
}

// rssWindows returns RSS over 10-40 % and over 70-100 % of the run.
func (s *soak) rssWindows() (early, late rssWindow) {
	d := s.dur.Seconds()
	var e, l []int64
	for _, r := range s.samples {
		switch {
		case r.Phase != "" || r.RSSKiB < 0:
		case r.Seconds >= 0.1*d && r.Seconds <= 0.4*d:
			e = append(e, r.RSSKiB)
		case r.Seconds >= 0.7*d:
			l = append(l, r.RSSKiB)
		}
	}
	return windowOf(e), windowOf(l)
}

func windowOf(xs []int64) rssWindow {
	if len(xs) == 0 {
		return rssWindow{-1, -1}
	}
	slices.Sort(xs)
	return rssWindow{Median: xs[len(xs)/2], Peak: xs[len(xs)-1]}
}

// watchProgress keeps the longest time without a reply to the load, until stop.
func (s *soak) watchProgress(stop <-chan struct{}) {
	last, lastAt := s.ops.Load(), time.Now()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-tick.C:
			if n := s.ops.Load(); n != last {
				if gap := now.Sub(lastAt); int64(gap) > s.stall.Load() {
					s.stall.Store(int64(gap))
					s.stallEnd.Store(now.UnixNano())
				}
				last, lastAt = n, now
			}
		}
	}
}

// rssPoints are the RSS samples the report names: start (after a warm-up of a tenth of the
// run), middle (at the kill) and end (when the load stops).
func (s *soak) rssPoints() (start, middle, end skSampleRow) {
	warm := max(s.dur.Seconds()/10, 10)
	for _, r := range s.samples {
		if start.Phase == "" && r.Seconds >= warm {
			start = r
			start.Phase = "start"
		}
		switch r.Phase {
		case "kill":
			middle = r
		case "end":
			end = r
		}
	}
	return start, middle, end
}

func mib(kib int64) string {
	if kib < 0 {
		return "?"
	}
	return strconv.FormatFloat(float64(kib)/1024, 'f', 1, 64)
}

// report prints the soak's figures and verdicts and writes the JSON; it returns the exit code.
func (s *soak) report(loadTime time.Duration, before, after, afterRead skSampleRow, rb foReadback, losses []skLoss) int {
	b := s.b
	w := os.Stdout
	code := 0
	cmdline := b.commandLine()
	s.tally()
	var live foReadback
	var examples []string
	var nAnom, nExplained int64
	for _, wk := range s.workers {
		live.add(&wk.live)
		nAnom += wk.nFind - int64(len(wk.finds)) // past skMaxFinds: not explained
		for i := range wk.finds {
			fd := &wk.finds[i]
			if s.explainedFinding(fd) {
				nExplained++
				continue
			}
			nAnom++
			if len(examples) < 10 {
				examples = append(examples, fmt.Sprintf("%s connection %d: %s", fd.at.Format("15:04:05.000"), wk.id, fd.text))
			}
		}
	}

	fmt.Fprintf(w, "```\n$ %s\n```\n", cmdline)
	fmt.Fprintf(w, "%s; %v of load; cluster-node-timeout %v; 3 masters + 3 replicas (AOF on, maxmemory 2gb); %s -loops %s seeded with %s; %s.\n",
		s.started.Format("2006-01-02 15:04"), loadTime.Round(time.Second), b.cfg.nodeTimeout, b.cfg.slotgate,
		strings.TrimPrefix(s.sg.Name, "slotgate-l"), s.seed, slotgateWindow(s.sg))
	fmt.Fprintf(w, "Load: %d steady and %d churning connections (a churning one reconnects after 8 batches or so, and one batch in 32 it leaves with the replies unread), "+
		"batches of 1 (7 in 10) or 2-%d pipelined commands: SET 30%%, GET 25%%, MSET 8%%, MGET 12%%, DEL 8%% (2-%d keys each), INCR 17%%; "+
		"values 8-200 bytes, one SET in %d 64 KiB-1 MiB; each connection writes only its own %d keys and %d counters, so every read is checked. "+
		"The master of slots %s is SIGKILLed at half time, then restarted to rejoin as a replica.\n\n",
		skSteady, skChurn, skMaxPipe, skMaxMulti, skBigEvery, skKeys, skCounters, s.shards[0].slots)
	var kinds []string
	for i, n := range skNames {
		kinds = append(kinds, fmt.Sprintf("%s %d", n, s.perKind[i].Load()))
	}
	ops := s.ops.Load()
	fmt.Fprintf(w, "Replies: %d (%.0f/s): %s; %d writes acknowledged; %d client connections opened.\n\n",
		ops, float64(ops)/loadTime.Seconds(), strings.Join(kinds, ", "), s.acks.Load(), s.conns.Load())

	// The kill.
	s.printKills(w)
	for _, r := range s.rows {
		if r.Error != "" {
			code = 1
		}
	}
	if len(s.election) > 0 {
		fmt.Fprintf(w, "\nThe promoted replica's log about the failover:\n\n```\n%s\n```\n", strings.Join(s.election, "\n"))
	}
	errList := s.errorList()
	printErrors(w, errList, "Errors over the whole run")

	// RSS over time: a row a minute, and the named points.
	start, middle, end := s.rssPoints()
	early, late := s.rssWindows()
	// Flat: the late median is within a fifth plus 8 MiB of the early one. Medians, not points
	// or peaks: RSS swings with the large values in flight and the garbage not yet collected,
	// while a leak of a buffer per request or connection raises every later sample.
	flat := early.Median > 0 && late.Median > 0 && late.Median <= early.Median+early.Median/5+8<<10
	fmt.Fprintf(w, "\nslotgate's process over time (every %v; a row a minute here, all of them in the JSON):\n\n", skSample)
	fmt.Fprintln(w, "| at | RSS MiB | Go heap in use MiB | goroutines | threads | fds | replies so far | |")
	fmt.Fprintln(w, "|--:|--:|--:|--:|--:|--:|--:|---|")
	row := func(r skSampleRow, label string) {
		fmt.Fprintf(w, "| %s | %s | %s | %d | %d | %d | %d | %s |\n", time.Duration(r.Seconds*float64(time.Second)).Round(time.Second),
			mib(r.RSSKiB), mib(int64(r.HeapInuse)/1024), r.Goroutines, r.Threads, r.FDs, r.Ops, label)
	}
	next := 0.0
	for _, r := range s.samples {
		label := ""
		switch {
		case start.Phase != "" && r.Seconds == start.Seconds:
			label = "start (after a tenth of the run)"
		case r.Phase == "kill":
			label = "middle (the kill)"
		case r.Phase == "end":
			label = "end"
		}
		if label == "" && r.Seconds < next {
			continue
		}
		row(r, label)
		next = float64(int(r.Seconds/60)+1) * 60
	}
	verdict := "flat"
	if !flat {
		verdict = "NOT FLAT"
		code = 1
	}
	fmt.Fprintf(w, "\nRSS: start %s MiB, middle %s MiB, end %s MiB. Over 10-40%% of the run median %s MiB (peak %s), over 70-100%% median %s MiB (peak %s): **%s** (late median within the early one + 20%% + 8 MiB).\n",
		mib(start.RSSKiB), mib(middle.RSSKiB), mib(end.RSSKiB), mib(early.Median), mib(early.Peak), mib(late.Median), mib(late.Peak), verdict)
	if st := s.stall.Load(); st > 0 {
		fmt.Fprintf(w, "Longest time without any reply to the load: %v (ending at %s).\n", time.Duration(st).Round(time.Millisecond),
			time.Unix(0, s.stallEnd.Load()).Format("15:04:05.000"))
	}

	// Before and after.
	fmt.Fprintf(w, "\nIdle counts (the least of three looks a second apart; goroutines from the admin /metrics, the rest from /proc):\n\n")
	fmt.Fprintln(w, "| | goroutines | threads | fds | client connections | of which paused | backend connections | RSS MiB | the fds |")
	fmt.Fprintln(w, "|---|--:|--:|--:|--:|--:|--:|--:|---|")
	for _, r := range []skSampleRow{before, after, afterRead} {
		fmt.Fprintf(w, "| %s | %d | %d | %d | %d | %d | %d | %s | %s |\n", r.Phase, r.Goroutines, r.Threads, r.FDs, r.Clients, r.Paused, r.Backends, mib(r.RSSKiB), r.FDKinds)
	}
	if after.Goroutines > before.Goroutines+2 || after.FDs > before.FDs+2 || after.Goroutines < 0 || after.FDs < 0 {
		fmt.Fprintln(w, "\n**Goroutines or fds grew** over the run (allowed: 2 each).")
		code = 1
	} else {
		fmt.Fprintln(w, "\nNo goroutine or fd left behind (allowed: 2 each).")
	}

	// Reads during the run.
	fmt.Fprintf(w, "\nReads during the load: %d checked: %d the last acknowledged value, %d a later write whose reply was lost or an error; %d differ",
		live.Keys, live.Same, live.InDoubt, live.Differ)
	fmt.Fprintf(w, ". Everything the checks during the load found (reads above, reply shapes, DEL counts, INCR sequences): %d explained by Redis's asynchronous replication at the kill, **%d not**.\n",
		nExplained, nAnom)
	for _, a := range examples {
		fmt.Fprintf(w, "- %s\n", a)
	}

	// Read-back.
	s.printReadBack(w, rb)
	unexplained := int(rb.Differ) - len(losses) // beyond the examples kept: unexplained
	for _, l := range losses {
		if l.Explained {
			fmt.Fprintf(w, "- %s: %s, acknowledged at %s: in Redis's asynchronous replication window (after the last offsets before the kill, which the promoted replica had)\n", l.Key, l.What, l.AckAt)
		} else {
			unexplained++
			fmt.Fprintf(w, "- %s: %s, acknowledged at %s: **not explained** by the kill\n", l.Key, l.What, l.AckAt)
		}
	}
	if unexplained > 0 || rb.Error != "" || rb.Errors > 0 || nAnom > 0 {
		code = 1
	}
	fmt.Fprintf(w, "\nAcknowledged writes lost: %d (%d explained by Redis's asynchronous replication at the kill, %d not).\n",
		rb.Differ, int(rb.Differ)-unexplained, unexplained)

	if b.cfg.jsonPath != "" {
		var kill *foRow
		if len(s.rows) > 0 {
			kill = s.rows[0]
		}
		doc := skJSON{cmdline, s.started, loadTime.Seconds(), b.cfg.nodeTimeout.String(), slotgateWindow(s.sg), ops, s.acks.Load(), s.conns.Load(),
			kill, s.election, errList, s.samples, start, middle, end, early, late, flat, time.Duration(s.stall.Load()).Seconds(),
			before, after, afterRead, live, nExplained, nAnom, examples, rb, losses}
		data, err := json.MarshalIndent(doc, "", "  ")
		if err == nil {
			err = writeFile(b.cfg.jsonPath, append(data, '\n'))
		}
		if err == nil && s.sg.proc != nil { // slotgate's log beside it: what it said during the run
			var log []byte
			if log, err = os.ReadFile(s.sg.proc.log.Name()); err == nil {
				err = writeFile(strings.TrimSuffix(b.cfg.jsonPath, ".json")+"-slotgate.log", log)
			}
		}
		if err != nil {
			b.logf("json: %v", err)
			return 1
		}
	}
	return code
}

// skJSON is the document -json writes.
type skJSON struct {
	Command     string        `json:"command"`
	Started     time.Time     `json:"started"`
	LoadSeconds float64       `json:"load_seconds"`
	NodeTimeout string        `json:"cluster_node_timeout"`
	Window      string        `json:"slotgate_retry_window"`
	Replies     int64         `json:"replies"`
	Acks        int64         `json:"writes_acknowledged"`
	Conns       int64         `json:"client_connections"`
	Kill        *foRow        `json:"kill,omitempty"`
	Election    []string      `json:"promoted_replica_log,omitempty"`
	Errors      []foErrCount  `json:"errors"`
	Samples     []skSampleRow `json:"samples"`
	Start       skSampleRow   `json:"rss_start"`
	Middle      skSampleRow   `json:"rss_middle"`
	End         skSampleRow   `json:"rss_end"`
	Early       rssWindow     `json:"rss_10_40_percent"`
	Late        rssWindow     `json:"rss_70_100_percent"`
	Flat        bool          `json:"rss_flat"`
	Stall       float64       `json:"longest_seconds_without_a_reply"`
	Before      skSampleRow   `json:"before"`
	After       skSampleRow   `json:"after_load"`
	AfterRead   skSampleRow   `json:"after_read_back"`
	LiveReads   foReadback    `json:"reads_during_load"`
	Explained   int64         `json:"findings_explained_by_async_replication"`
	Anomalies   int64         `json:"findings_not_explained"`
	Examples    []string      `json:"findings_not_explained_examples,omitempty"`
	ReadBack    foReadback    `json:"read_back"`
	Losses      []skLoss      `json:"losses,omitempty"`
}
