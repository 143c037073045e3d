package main

// Failover mode (-failover N): how long writes to a shard fail when its master is killed, and how
// much of that is slotgate's. slotbench starts its own cluster (it kills and restarts its nodes)
// and one slotgate seeded with the first master to be killed, runs a steady SET load through
// slotgate and, N times, SIGKILLs the master of one shard and times three things:
//
//	kill → promotion:             Redis electing a replica (set by cluster-node-timeout)
//	promotion → first success:    slotgate noticing and serving the shard again (its part)
//	kill → first success:         the whole window a client sees
//
// Every acknowledged write is remembered and read back through slotgate at the end.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/slotgate/slotgate/codec"
	"github.com/slotgate/slotgate/internal/testcluster"
	"github.com/slotgate/slotgate/router/slot"
)

const (
	foWorkers  = 8                // load connections, one goroutine each, one request in flight
	foKeys     = 20000            // keys per worker: fo:w<i>:{n}, n in [0, foKeys)
	foTargeted = 4                // one write in foTargeted goes to the shard about to be killed
	foTimeout  = 10 * time.Second // deadline of one request (write and reply): above slotgate's retry window
	foWarm     = time.Second      // load before each kill
	foPause    = time.Second      // after the cluster is healthy again
	foPromote  = 60 * time.Second // kill → promotion, at most
	foServe    = 30 * time.Second // promotion → first success through slotgate, at most
	foRejoin   = 30 * time.Second // restart → replica, and → healthy, at most
	foErrLen   = 40               // error texts are grouped by their first foErrLen characters
	foBatch    = 500              // GETs per pipelined batch of the read-back
)

// foRow is one kill. Durations are ms; -1: not measured.
type foRow struct {
	Kill                   int     `json:"kill"`
	Slots                  string  `json:"slots"`
	Killed                 string  `json:"master_killed"`
	KilledPID              int     `json:"killed_pid"`
	Promoted               string  `json:"promoted,omitempty"`
	KillToPromotionMs      float64 `json:"kill_to_promotion_ms"`
	PromotionToSuccessMs   float64 `json:"promotion_to_first_success_ms"`
	KillToSuccessMs        float64 `json:"kill_to_first_success_ms"`
	SuccessBeforePromotion int64   `json:"successes_after_kill_before_promotion_seen"`
	// When those completed, in ms after the kill (-1: none): just after the kill they are replies
	// that were on their way; close to the promotion, slotgate was quicker than the 10 ms poll.
	FirstBeforePromotionMs float64 `json:"first_success_before_promotion_ms"`
	LastBeforePromotionMs  float64 `json:"last_success_before_promotion_ms"`
	Acks                   int64   `json:"writes_acknowledged"`
	RESPErrors             int64   `json:"resp_errors"`
	OtherErrors            int64   `json:"other_errors"`
	// The RESP errors by cause: requests already written to the killed master (their reply was
	// lost with it), requests that waited out slotgate's retry window for an owner, the rest.
	LostOnWire int64 `json:"lost_on_the_wire"`
	WaitedOut  int64 `json:"waited_out_retry_window"`
	OtherRESP  int64 `json:"other_resp_errors"`
	// When the errors of each cause came, in ms after the kill (-1: none).
	FirstLostMs   float64 `json:"first_lost_ms"`
	LastLostMs    float64 `json:"last_lost_ms"`
	FirstWaitedMs float64 `json:"first_waited_out_ms"`
	LastWaitedMs  float64 `json:"last_waited_out_ms"`
	killedAt      time.Time
	offsetsAt     time.Time // just before the offsets before the kill were asked for
	// Replication offsets: the victim's master_repl_offset and its replica's acknowledged
	// offset just before the kill (INFO replication on the victim), and the offset the promoted
	// replica had reached when it took over (its second_repl_offset - 1). -1: unknown.
	MasterOffsetBeforeKill  int64   `json:"master_repl_offset_before_kill"`
	ReplicaOffsetBeforeKill int64   `json:"replica_offset_before_kill"`
	PromotedAtOffset        int64   `json:"promoted_at_offset"`
	RejoinMs                float64 `json:"restart_to_healthy_ms"`
	Error                   string  `json:"error,omitempty"`
}

// foErrAt is when an error reply of some cause came.
type foErrAt struct {
	at    time.Time
	cause int
}

// foErrKey groups errors: kind "resp" (an error reply) or "other" (timeout, broken connection).
type foErrKey struct {
	Kind string `json:"kind"`
	Text string `json:"text"`
}

type foErrCount struct {
	foErrKey
	Count int64 `json:"count"`
}

// foShard is one shard of the cluster as it was at the start (slot ranges do not change).
type foShard struct {
	first    int    // first slot: identifies the shard across failovers
	slots    string // "0-5460"
	acks     atomic.Int64
	watching atomic.Bool
	mu       sync.Mutex
	succ     []time.Time // completion times of successful writes while watching
}

// foKey is what a worker knows about one of its keys.
type foKey struct {
	ack   uint64   // value of the last acknowledged SET (0: none)
	doubt []uint64 // values of SETs without a reply or with an error reply: they may have been applied
}

type foWorker struct {
	id   int
	rng  *rand.Rand
	keys []foKey // by n
	seq  uint64
}

// foReadback is the result of reading every acknowledged key back.
type foReadback struct {
	Keys       int64    `json:"keys"`
	Same       int64    `json:"same"`
	InDoubt    int64    `json:"in_doubt_write_applied"`
	Differ     int64    `json:"differ"`
	Missing    int64    `json:"missing"`
	Older      int64    `json:"older_acknowledged_value"`
	StaleDoubt int64    `json:"earlier_unacknowledged_write_applied_later"`
	Unknown    int64    `json:"unknown_value"`
	Errors     int64    `json:"read_errors"`
	Examples   []string `json:"examples,omitempty"`
	Error      string   `json:"error,omitempty"`
}

type failover struct {
	b       *bench
	c       *testcluster.Cluster
	sg      *target
	seed    string
	shards  []*foShard
	shardOf [slot.Count]uint8 // shard of each slot
	nShard  [foKeys]uint8     // shard of key n
	shardNs [][]int           // keys n of each shard
	workers []*foWorker
	target  atomic.Int32 // shard receiving the targeted fraction
	round   atomic.Int32 // kill the errors are counted for
	acks    atomic.Int64
	stop    atomic.Bool
	wg      sync.WaitGroup
	errMu   sync.Mutex
	errs    []map[foErrKey]int64 // per kill
	errAt   [][]foErrAt          // per kill: when each RESP error came
	rows    []*foRow
	started time.Time
}

// runFailover is slotbench -failover N.
func (b *bench) runFailover() int {
	b.started = time.Now()
	n := b.cfg.failover
	f := &failover{b: b, started: b.started, errs: make([]map[foErrKey]int64, n), errAt: make([][]foErrAt, n)}
	for i := range f.errs {
		f.errs[i] = map[foErrKey]int64{}
	}
	if err := f.setup(); err != nil {
		b.logf("setup: %v", err)
		return 1
	}
	for _, w := range f.workers {
		f.wg.Add(1)
		go f.work(w)
	}
	b.logf("load: %d connections to slotgate on %s, SET on %d keys each, 1 in %d on the shard about to be killed",
		foWorkers, f.sg.Addr, foKeys, foTargeted)
	code := 0
	for i := range n {
		row, err := f.kill(i)
		f.rows = append(f.rows, row)
		if row.Error != "" {
			code = 1
		}
		if err != nil {
			b.logf("kill %d/%d: %v: stopping here", i+1, n, err)
			code = 1
			break
		}
	}
	f.stop.Store(true)
	f.wg.Wait()
	b.logf("reading every acknowledged key back through slotgate")
	rb := f.readBack()
	if rb.Error != "" || rb.Differ > 0 {
		code = 1
	}
	if c := f.report(rb); c != 0 {
		code = c
	}
	b.logf("failover run took %s", time.Since(b.started).Round(time.Second))
	return code
}

// setup starts the cluster and slotgate and prepares the key space.
func (f *failover) setup() error {
	if err := f.start(); err != nil {
		return err
	}
	f.shardNs = make([][]int, len(f.shards))
	var kb []byte
	for n := range foKeys {
		kb = foKeyName(kb[:0], 0, n)
		s := f.shardOf[slot.Of(kb)]
		f.nShard[n] = s
		f.shardNs[s] = append(f.shardNs[s], n)
	}
	for i := range foWorkers {
		f.workers = append(f.workers, &foWorker{id: i, rng: rand.New(rand.NewPCG(uint64(i)+1, uint64(time.Now().UnixNano()))), keys: make([]foKey, foKeys)})
	}
	return nil
}

// start starts the cluster (its shards as they are at the start) and one slotgate seeded with
// the first master to be killed.
func (f *failover) start() error {
	b := f.b
	cfg := &b.cfg
	if _, err := os.Stat(cfg.slotgate); err != nil {
		return fmt.Errorf("%w (run make build, or give -slotgate)", err)
	}
	b.logf("starting a 3-master + 3-replica cluster (AOF on, maxmemory 2gb allkeys-lru, cluster-node-timeout %v)", cfg.nodeTimeout)
	c, err := testcluster.Start(testcluster.Options{AppendOnly: true, MaxMemory: "2gb", NodeTimeout: cfg.nodeTimeout,
		Logf: func(format string, args ...any) { b.logf(format, args...) }})
	if err != nil {
		return err
	}
	b.cluster, f.c = c, c
	b.password = c.Password
	shards, err := c.Topology()
	if err != nil {
		return err
	}
	if len(shards) == 0 || len(shards) > 255 {
		return fmt.Errorf("topology: %d shards", len(shards))
	}
	for i, s := range shards {
		if len(s.Slots) == 0 || len(s.Replicas) == 0 {
			return fmt.Errorf("topology: master %s has %d slot ranges and %d replicas", s.Master, len(s.Slots), len(s.Replicas))
		}
		sh := &foShard{first: s.Slots[0][0]}
		var rs []string
		for _, r := range s.Slots {
			rs = append(rs, fmt.Sprintf("%d-%d", r[0], r[1]))
			for x := r[0]; x <= r[1]; x++ {
				f.shardOf[x] = uint8(i)
			}
		}
		sh.slots = strings.Join(rs, ",")
		f.shards = append(f.shards, sh)
	}
	// The seed is the first master to be killed: slotgate must find the cluster again without it.
	f.seed = shards[0].Master.Addr
	loops := "1"
	if len(cfg.loops) > 0 {
		loops = cfg.loops[0]
	}
	b.logf("starting %s -loops %s -cluster %s (the first master to be killed)", cfg.slotgate, loops, f.seed)
	t, err := startSlotgate(cfg.slotgate, f.seed, c.Password, loops)
	if err != nil {
		return err
	}
	b.targets = append(b.targets, t)
	f.sg = t
	return nil
}

// foKeyName appends worker w's key n: fo:w<w>:{n}.
func foKeyName(dst []byte, w, n int) []byte { return workerKey(dst, "fo", w, "", n) }

// workerKey appends <prefix>:w<w>:{<tag><n>}: the hash tag puts key n in the same slot for every
// worker and spreads n over all slots.
func workerKey(dst []byte, prefix string, w int, tag string, n int) []byte {
	dst = append(dst, prefix...)
	dst = append(dst, ":w"...)
	dst = strconv.AppendInt(dst, int64(w), 10)
	dst = append(dst, ":{"...)
	dst = append(dst, tag...)
	dst = strconv.AppendInt(dst, int64(n), 10)
	return append(dst, '}')
}

func foValue(dst []byte, seq uint64) []byte {
	return strconv.AppendUint(append(dst, 'v'), seq, 10)
}

func (w *foWorker) pick(f *failover) int {
	if w.rng.IntN(foTargeted) == 0 {
		if ns := f.shardNs[f.target.Load()]; len(ns) > 0 {
			return ns[w.rng.IntN(len(ns))]
		}
	}
	return w.rng.IntN(foKeys)
}

// work is one load connection: SET after SET, one in flight, reconnecting after I/O errors.
func (f *failover) work(w *foWorker) {
	defer f.wg.Done()
	var cc *ctl
	defer func() {
		if cc != nil {
			cc.Close()
		}
	}()
	setCmd := []byte("SET")
	var out, kb, vb []byte
	for !f.stop.Load() {
		if cc == nil {
			c, err := dialCtl(f.sg.Addr, "", foTimeout)
			if err != nil {
				f.countErr("other", "dial: "+otherText(err))
				time.Sleep(100 * time.Millisecond)
				continue
			}
			cc = c
		}
		n := w.pick(f)
		w.seq++
		kb = foKeyName(kb[:0], w.id, n)
		vb = foValue(vb[:0], w.seq)
		out = codec.AppendCommand(out[:0], setCmd, kb, vb)
		cc.c.SetDeadline(time.Now().Add(foTimeout))
		_, err := cc.c.Write(out)
		var rep []byte
		if err == nil {
			rep, err = cc.readReply()
		}
		now := time.Now()
		k := &w.keys[n]
		switch {
		case err != nil:
			k.doubt = append(k.doubt, w.seq)
			f.countErr("other", otherText(err))
			cc.Close()
			cc = nil
		case codec.IsError(rep):
			k.doubt = append(k.doubt, w.seq)
			f.countErr("resp", clipText(string(codec.ErrorText(rep))))
		case string(rep) == "+OK\r\n":
			k.ack = w.seq
			f.acked(f.nShard[n], now)
		default:
			k.doubt = append(k.doubt, w.seq)
			f.countErr("resp", clipText("unexpected reply "+strconv.Quote(string(rep))))
		}
	}
}

// acked counts a write acknowledged at now on shard s and, while s is watched (a kill), keeps
// its time: the first one after the promotion ends the failover window.
func (f *failover) acked(s uint8, now time.Time) {
	f.acks.Add(1)
	sh := f.shards[s]
	sh.acks.Add(1)
	if sh.watching.Load() {
		sh.mu.Lock()
		sh.succ = append(sh.succ, now)
		sh.mu.Unlock()
	}
}

func clipText(s string) string {
	if len(s) > foErrLen {
		s = s[:foErrLen]
	}
	return s
}

// otherText names an I/O error without the addresses in it.
func otherText(err error) string {
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout: no reply within " + foTimeout.String()
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "EOF: slotgate closed the connection"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.EPIPE):
		return "broken pipe"
	}
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		s = s[i+2:]
	}
	return clipText(s)
}

func (f *failover) countErr(kind, text string) {
	now := time.Now()
	f.errMu.Lock()
	r := f.round.Load()
	f.errs[r][foErrKey{kind, text}]++
	if kind == "resp" {
		f.errAt[r] = append(f.errAt[r], foErrAt{now, errCause(text)})
	}
	f.errMu.Unlock()
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// kill runs round i. A non-nil error means the cluster could not be restored: no more rounds.
func (f *failover) kill(i int) (*foRow, error) {
	b, c := f.b, f.c
	n := b.cfg.failover
	s := i % len(f.shards)
	sh := f.shards[s]
	row := &foRow{Kill: i + 1, Slots: sh.slots, KillToPromotionMs: -1, PromotionToSuccessMs: -1, KillToSuccessMs: -1,
		FirstBeforePromotionMs: -1, LastBeforePromotionMs: -1, FirstLostMs: -1, LastLostMs: -1, FirstWaitedMs: -1, LastWaitedMs: -1,
		MasterOffsetBeforeKill: -1, ReplicaOffsetBeforeKill: -1, PromotedAtOffset: -1, RejoinMs: -1}
	f.round.Store(int32(i))
	acks0 := f.acks.Load()
	defer func() { row.Acks = f.acks.Load() - acks0 }()

	// The roles change after each kill: ask the cluster who serves the shard now.
	shards, err := c.Topology()
	if err != nil {
		row.Error = err.Error()
		return row, err
	}
	var victim *testcluster.Node
	for _, t := range shards {
		if len(t.Slots) > 0 && t.Slots[0][0] == sh.first {
			victim = t.Master
		}
	}
	if victim == nil {
		err := fmt.Errorf("no master serves slot %d", sh.first)
		row.Error = err.Error()
		return row, err
	}
	row.Killed, row.KilledPID = victim.Addr, victim.PID
	if i == 0 && victim.Addr != f.seed {
		b.logf("kill 1/%d: the master of slots %s is %s, not the seed %s", n, sh.slots, victim.Addr, f.seed)
	}
	f.target.Store(int32(s))
	time.Sleep(foWarm)
	row.offsetsAt = time.Now()
	row.MasterOffsetBeforeKill, row.ReplicaOffsetBeforeKill = f.replOffsets(victim)

	sh.mu.Lock()
	sh.succ = sh.succ[:0]
	sh.mu.Unlock()
	sh.watching.Store(true)
	b.logf("kill %d/%d: SIGKILL to %s (pid %d), master of slots %s", i+1, n, victim.Addr, victim.PID, sh.slots)
	t0 := time.Now()
	row.killedAt = t0
	if err := c.Kill(victim); err != nil {
		sh.watching.Store(false)
		row.Error = err.Error()
		return row, err
	}
	promoted, tp, err := c.WaitNewMaster(victim, foPromote)
	if err != nil {
		row.Error = err.Error()
		b.logf("kill %d/%d: %v", i+1, n, err)
	} else {
		row.Promoted = promoted.Addr
		row.KillToPromotionMs = ms(tp.Sub(t0))
		first, before, ok := f.firstSuccess(sh, t0, tp, foServe)
		row.SuccessBeforePromotion = before.n
		if before.n > 0 {
			row.FirstBeforePromotionMs, row.LastBeforePromotionMs = ms(before.first.Sub(t0)), ms(before.last.Sub(t0))
		}
		if ok {
			row.PromotionToSuccessMs = ms(first.Sub(tp))
			row.KillToSuccessMs = ms(first.Sub(t0))
			b.logf("kill %d/%d: %s promoted after %.0f ms; first write through slotgate %.1f ms later (%.0f ms after the kill)",
				i+1, n, promoted.Addr, row.KillToPromotionMs, row.PromotionToSuccessMs, row.KillToSuccessMs)
		} else {
			row.Error = fmt.Sprintf("no write on slots %s succeeded through slotgate within %v of the promotion of %s", sh.slots, foServe, promoted.Addr)
			b.logf("kill %d/%d: FAIL: %s", i+1, n, row.Error)
			b.logf("slotgate log tail:\n%s", testcluster.LogTail(f.sg.proc.log.Name(), 30))
		}
		row.PromotedAtOffset = f.promotedOffset(promoted)
	}
	sh.watching.Store(false)

	b.logf("kill %d/%d: restarting %s", i+1, n, victim.Addr)
	t1 := time.Now()
	if err := c.Restart(victim); err != nil {
		return row, err
	}
	if err := c.WaitRole(victim, "slave", foRejoin); err != nil {
		return row, err
	}
	if err := c.WaitHealthy(foRejoin); err != nil {
		return row, err
	}
	row.RejoinMs = ms(time.Since(t1))
	b.logf("kill %d/%d: %s is a replica again, cluster healthy after %.0f ms", i+1, n, victim.Addr, row.RejoinMs)
	time.Sleep(foPause)
	return row, nil
}

// foSpan counts the writes completed between the kill and the promotion, and when.
type foSpan struct {
	n           int64
	first, last time.Time
}

// firstSuccess waits until a write on sh completes after tp and returns the earliest such
// completion, and the ones that completed after t0 but not after tp.
func (f *failover) firstSuccess(sh *foShard, t0, tp time.Time, timeout time.Duration) (time.Time, foSpan, bool) {
	deadline := tp.Add(timeout)
	for {
		var first time.Time
		var before foSpan
		sh.mu.Lock()
		for _, t := range sh.succ {
			switch {
			case t.After(tp):
				if first.IsZero() || t.Before(first) {
					first = t
				}
			case t.After(t0):
				before.n++
				if before.first.IsZero() || t.Before(before.first) {
					before.first = t
				}
				if t.After(before.last) {
					before.last = t
				}
			}
		}
		sh.mu.Unlock()
		if !first.IsZero() {
			return first, before, true
		}
		if time.Now().After(deadline) {
			return time.Time{}, before, false
		}
		time.Sleep(time.Millisecond)
	}
}

// replOffsets returns master's master_repl_offset and its first replica's acknowledged offset
// (-1 when unknown).
func (f *failover) replOffsets(master *testcluster.Node) (int64, int64) {
	v, err := f.c.Do(master, "INFO", "replication")
	info, _ := v.(string)
	if err != nil || info == "" {
		return -1, -1
	}
	mo, ok := infoField([]byte(info), "master_repl_offset")
	if !ok {
		mo = -1
	}
	ro := int64(-1)
	for _, kv := range strings.Split(testcluster.InfoField(info, "slave0"), ",") {
		if v, ok := strings.CutPrefix(kv, "offset="); ok {
			if x, err := strconv.ParseInt(v, 10, 64); err == nil {
				ro = x
			}
		}
	}
	return mo, ro
}

// promotedOffset returns the replication offset a promoted replica had reached when it took
// over (second_repl_offset - 1), or -1.
func (f *failover) promotedOffset(n *testcluster.Node) int64 {
	v, err := f.c.Do(n, "INFO", "replication")
	info, _ := v.(string)
	if err != nil {
		return -1
	}
	so, ok := infoField([]byte(info), "second_repl_offset")
	if !ok || so <= 0 {
		return -1
	}
	return so - 1
}

// readBack reads every acknowledged key through slotgate, pipelined, one connection per worker.
func (f *failover) readBack() foReadback {
	var mu sync.Mutex
	var rb foReadback
	var errs []error
	var wg sync.WaitGroup
	for _, w := range f.workers {
		wg.Go(func() {
			var r foReadback
			var kb []byte
			err := readPipelined(f.sg.Addr, len(w.keys),
				func(n int) []byte {
					if w.keys[n].ack == 0 {
						return nil
					}
					kb = foKeyName(kb[:0], w.id, n)
					return kb
				},
				func(n int, rep []byte) {
					r.check(&w.keys[n], rep, func() string { return string(foKeyName(nil, w.id, n)) })
				})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			}
			rb.add(&r)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		rb.Error = err.Error()
	}
	return rb
}

// add adds r's counts and examples to rb.
func (rb *foReadback) add(r *foReadback) {
	rb.Keys += r.Keys
	rb.Same += r.Same
	rb.InDoubt += r.InDoubt
	rb.Missing += r.Missing
	rb.Older += r.Older
	rb.StaleDoubt += r.StaleDoubt
	rb.Unknown += r.Unknown
	rb.Errors += r.Errors
	rb.Differ = rb.Missing + rb.Older + rb.StaleDoubt + rb.Unknown
	for _, e := range r.Examples {
		if len(rb.Examples) < 10 {
			rb.Examples = append(rb.Examples, e)
		}
	}
}

// readPipelined GETs keys 0..n-1 (name(i) is key i's name, nil to skip it) through one
// connection to addr, foBatch at a time, and hands each reply to check.
func readPipelined(addr string, n int, name func(i int) []byte, check func(i int, rep []byte)) error {
	cc, err := dialCtl(addr, "", foTimeout)
	if err != nil {
		return err
	}
	defer cc.Close()
	getCmd := []byte("GET")
	var out []byte
	var batch []int
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		cc.c.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := cc.c.Write(out); err != nil {
			return err
		}
		for _, i := range batch {
			rep, err := cc.readReply()
			if err != nil {
				return err
			}
			check(i, rep)
		}
		out, batch = out[:0], batch[:0]
		return nil
	}
	for i := range n {
		k := name(i)
		if k == nil {
			continue
		}
		out = codec.AppendCommand(out, getCmd, k)
		batch = append(batch, i)
		if len(batch) == foBatch {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

// delBit marks a write that leaves the key absent (a DEL): the key's "value" is then no value.
const delBit = 1 << 63

// check compares a GET reply for k with what k's writes allow and counts it in rb (name names
// the key for an example). A value is "v<seq>" or "v<seq>:" followed by a fill byte of seq's
// (see foFill); an acknowledged write with delBit (a DEL) expects the key absent.
func (rb *foReadback) check(k *foKey, rep []byte, name func() string) {
	rb.Keys++
	if codec.IsError(rep) {
		rb.Errors++
		if len(rb.Examples) < 3 {
			rb.Examples = append(rb.Examples, fmt.Sprintf("GET %s: -%s", name(), codec.ErrorText(rep)))
		}
		return
	}
	v, present := codec.BulkText(rep)
	if what := rb.classify(k, v, present); what != "" && len(rb.Examples) < 3 {
		rb.Examples = append(rb.Examples, fmt.Sprintf("%s: acknowledged %s, read %s (%s)", name(), foState(k.ack), foRead(v, present), what))
	}
}

// classify counts a read of k (v, or absent) in rb and says what is wrong with it ("" if
// nothing).
func (rb *foReadback) classify(k *foKey, v []byte, present bool) string {
	got, valid := uint64(delBit), true // absent reads as "deleted"
	if present {
		got, valid = foParse(v)
	}
	seq := func(x uint64) uint64 { return x &^ delBit }
	same := func(x uint64) bool { return x == got || (!present && x&delBit != 0) }
	switch {
	case !valid:
		rb.Unknown++
		return "a value never written"
	case same(k.ack):
		rb.Same++
		return ""
	}
	// Several DELs without an answer all read as absent: one sent after the last acknowledged
	// write is enough.
	stale := false
	for _, d := range k.doubt {
		switch {
		case !same(d):
		case seq(d) > seq(k.ack):
			rb.InDoubt++
			return ""
		default:
			stale = true
		}
	}
	if stale {
		rb.StaleDoubt++
		return "an earlier unacknowledged write, applied after a later acknowledged one"
	}
	switch {
	case !present:
		rb.Missing++
		return "missing"
	case got != 0 && got < seq(k.ack):
		rb.Older++
		return "an older acknowledged value: the last acknowledged write is lost"
	}
	rb.Unknown++
	return "a value never written"
}

// foParse returns the seq of a value written by foValue or foFill, false if it is not one.
func foParse(v []byte) (uint64, bool) {
	if len(v) < 2 || v[0] != 'v' {
		return 0, false
	}
	digits, fill, hasFill := strings.Cut(string(v[1:]), ":")
	seq, err := strconv.ParseUint(digits, 10, 64)
	if err != nil || seq == 0 || seq&delBit != 0 {
		return 0, false
	}
	if hasFill {
		c := foFillByte(seq)
		for i := 0; i < len(fill); i++ {
			if fill[i] != c {
				return 0, false
			}
		}
	}
	return seq, true
}

// foFill appends the value "v<seq>:" followed by size-… fill bytes (at least the prefix).
func foFill(dst []byte, seq uint64, size int) []byte {
	dst = append(foValue(dst, seq), ':')
	c := foFillByte(seq)
	for len(dst) < size {
		dst = append(dst, c)
	}
	return dst
}

func foFillByte(seq uint64) byte { return 'a' + byte(seq%26) }

// foState names an expected state for an example: "v<seq>" or "absent (DEL <seq>)".
func foState(x uint64) string {
	if x&delBit != 0 {
		return fmt.Sprintf("absent (DEL %d)", x&^delBit)
	}
	return "v" + strconv.FormatUint(x, 10)
}

// foRead names what a GET read, for an example (long values clipped).
func foRead(v []byte, present bool) string {
	if !present {
		return "nothing"
	}
	if len(v) > 40 {
		return fmt.Sprintf("%q... (%d bytes)", v[:40], len(v))
	}
	return strconv.Quote(string(v))
}

// report prints the table and the summary, and writes the JSON.
func (f *failover) report(rb foReadback) int {
	b := f.b
	w := os.Stdout
	cmdline := b.commandLine()
	f.tally()
	window := slotgateWindow(f.sg)
	fmt.Fprintf(w, "```\n$ %s\n```\n", cmdline)
	fmt.Fprintf(w, "%s; cluster-node-timeout %v; 3 masters + 3 replicas (AOF on, maxmemory 2gb); %s -loops %s seeded with %s, the first master killed; %s.\n",
		f.started.Format("2006-01-02 15:04"), b.cfg.nodeTimeout, b.cfg.slotgate, strings.TrimPrefix(f.sg.Name, "slotgate-l"), f.seed, window)
	fmt.Fprintf(w, "Load: %d connections to slotgate, SET one at a time (%v deadline), keys over all slots, 1 in %d on the shard about to be killed. "+
		"Each kill: SIGKILL to the shard's master after %v of load; promotion = its replica seen as master with the top config epoch (polled every 10 ms); "+
		"first success = the first SET on that shard's slots acknowledged through slotgate after the promotion. Durations in ms. "+
		"Errors are counted from %v before the kill until the next kill (the restart and rejoin of the killed node included); "+
		"lost on the wire: `-ERR slotgate lost the connection ...`, requests already written to the killed master; "+
		"waited out: `-CLUSTERDOWN slotgate cannot reach node ...` or `... Hash slot not served ...`, requests that waited longer than slotgate's retry window for an owner.\n\n",
		foWorkers, foTimeout, foTargeted, foWarm, foWarm)
	f.printKills(w)
	errList := f.errorList()
	printErrors(w, errList, "Errors over all kills")
	f.printReadBack(w, rb)

	if b.cfg.jsonPath != "" {
		p2s, k2p, k2s := f.durations()
		doc := struct {
			Command     string       `json:"command"`
			Started     time.Time    `json:"started"`
			Seconds     float64      `json:"seconds"`
			NodeTimeout string       `json:"cluster_node_timeout"`
			Window      string       `json:"slotgate_retry_window"`
			Slotgate    string       `json:"slotgate"`
			Loops       string       `json:"loops"`
			Seed        string       `json:"seed"`
			Workers     int          `json:"connections"`
			KeysPerConn int          `json:"keys_per_connection"`
			Targeted    float64      `json:"targeted_fraction"`
			Timeout     string       `json:"request_deadline"`
			Kills       []*foRow     `json:"kills"`
			MedianP2S   float64      `json:"median_promotion_to_first_success_ms"`
			MedianK2P   float64      `json:"median_kill_to_promotion_ms"`
			MedianK2S   float64      `json:"median_kill_to_first_success_ms"`
			Errors      []foErrCount `json:"errors"`
			ReadBack    foReadback   `json:"read_back"`
		}{cmdline, f.started, time.Since(f.started).Seconds(), b.cfg.nodeTimeout.String(), window, b.cfg.slotgate,
			strings.TrimPrefix(f.sg.Name, "slotgate-l"), f.seed, foWorkers, foKeys, 1 / float64(foTargeted), foTimeout.String(),
			f.rows, median(p2s), median(k2p), median(k2s), errList, rb}
		data, err := json.MarshalIndent(doc, "", "  ")
		if err == nil {
			err = writeFile(b.cfg.jsonPath, append(data, '\n'))
		}
		if err != nil {
			b.logf("json: %v", err)
			return 1
		}
	}
	return 0
}

// What an error reply says about the request it answers.
const (
	causeOther  = iota
	causeLost   // written to a node that died before replying: it may have been applied
	causeWaited // never sent: no reachable owner within slotgate's retry window
)

// errCause classifies an error text (possibly clipped to foErrLen) by slotgate's own errors.
func errCause(text string) int {
	switch {
	case strings.HasPrefix(text, "ERR slotgate lost the connection"):
		return causeLost
	case strings.HasPrefix(text, "CLUSTERDOWN slotgate cannot reach"), strings.HasPrefix(text, "CLUSTERDOWN Hash slot not served"):
		return causeWaited
	}
	return causeOther
}

// slotgateWindow is the retry window line slotgate logged ("retry window ?" when none yet).
func slotgateWindow(t *target) string {
	if t == nil || t.proc == nil {
		return "retry window ?"
	}
	data, err := os.ReadFile(t.proc.log.Name())
	if err != nil {
		return "retry window ?"
	}
	last := "retry window ?"
	for _, line := range strings.Split(string(data), "\n") {
		if i := strings.Index(line, "retry window "); i >= 0 {
			last = "slotgate's " + strings.TrimSpace(line[i:])
		}
	}
	return last
}

// spanMs widens [first, last] (ms, -1: empty) to include d.
func spanMs(first, last, d float64) (float64, float64) {
	if first < 0 || d < first {
		first = d
	}
	return first, max(last, d)
}

// tally fills each row's error counts, by cause, and when the errors of each cause came.
func (f *failover) tally() {
	for i, r := range f.rows {
		for k, v := range f.errs[i] {
			if k.Kind != "resp" {
				r.OtherErrors += v
				continue
			}
			r.RESPErrors += v
			switch errCause(k.Text) {
			case causeLost:
				r.LostOnWire += v
			case causeWaited:
				r.WaitedOut += v
			default:
				r.OtherRESP += v
			}
		}
	}
	f.errMu.Lock()
	for i, r := range f.rows {
		for _, e := range f.errAt[i] {
			d := ms(e.at.Sub(r.killedAt))
			switch e.cause {
			case causeLost:
				r.FirstLostMs, r.LastLostMs = spanMs(r.FirstLostMs, r.LastLostMs, d)
			case causeWaited:
				r.FirstWaitedMs, r.LastWaitedMs = spanMs(r.FirstWaitedMs, r.LastWaitedMs, d)
			}
		}
	}
	f.errMu.Unlock()
}

// durations lists each kill's promotion→first success, kill→promotion and kill→first success.
func (f *failover) durations() (p2s, k2p, k2s []float64) {
	for _, r := range f.rows {
		p2s = append(p2s, r.PromotionToSuccessMs)
		k2p = append(k2p, r.KillToPromotionMs)
		k2s = append(k2s, r.KillToSuccessMs)
	}
	return p2s, k2p, k2s
}

// printKills prints a table row per kill and what happened around each.
func (f *failover) printKills(w io.Writer) {
	fmt.Fprintln(w, "| kill | master killed | promoted | kill→promotion | promotion→first success via slotgate | kill→first success | lost on the wire | waited out the retry window | other RESP errors | other errors |")
	fmt.Fprintln(w, "|--:|---|---|--:|--:|--:|--:|--:|--:|--:|")
	for _, r := range f.rows {
		promoted := r.Promoted
		if promoted == "" {
			promoted = "-"
		}
		fmt.Fprintf(w, "| %d | %s (slots %s) | %s | %s | %s | %s | %d | %d | %d | %d |\n", r.Kill, r.Killed, r.Slots, promoted,
			fmtLat(r.KillToPromotionMs), fmtLat(r.PromotionToSuccessMs), fmtLat(r.KillToSuccessMs), r.LostOnWire, r.WaitedOut, r.OtherRESP, r.OtherErrors)
	}
	p2s, k2p, k2s := f.durations()
	measured := 0
	for _, v := range p2s {
		if v >= 0 {
			measured++
		}
	}
	fmt.Fprintf(w, "\nMedian promotion→first success via slotgate: **%s ms** over %d of %d kills (kill→promotion %s ms, kill→first success %s ms).\n",
		fmtLat(median(p2s)), measured, f.b.cfg.failover, fmtLat(median(k2p)), fmtLat(median(k2s)))
	for _, r := range f.rows {
		if r.SuccessBeforePromotion > 0 {
			why := "replies that were on their way when the kill landed"
			if r.LastBeforePromotionMs > 20 {
				why = "slotgate served the new master before the 10 ms poll saw the promotion: " +
					"its promotion→first success is below the poll's resolution"
			}
			fmt.Fprintf(w, "Kill %d: %d write(s) on the shard acknowledged %s-%s ms after the kill, before the promotion was seen (%s).\n",
				r.Kill, r.SuccessBeforePromotion, fmtLat(r.FirstBeforePromotionMs), fmtLat(r.LastBeforePromotionMs), why)
		}
		if r.LostOnWire > 0 {
			fmt.Fprintf(w, "Kill %d: the %d request(s) lost on the wire were answered %s-%s ms after the kill.\n",
				r.Kill, r.LostOnWire, fmtLat(r.FirstLostMs), fmtLat(r.LastLostMs))
		}
		if r.WaitedOut > 0 {
			fmt.Fprintf(w, "Kill %d: the %d request(s) that waited out the retry window were answered %s-%s ms after the kill.\n",
				r.Kill, r.WaitedOut, fmtLat(r.FirstWaitedMs), fmtLat(r.LastWaitedMs))
		}
		if r.Error != "" {
			fmt.Fprintf(w, "Kill %d: FAILED: %s\n", r.Kill, r.Error)
		}
	}
}

// errorList is every error text with its count over the whole run, most frequent first.
func (f *failover) errorList() []foErrCount {
	total := map[foErrKey]int64{}
	for _, m := range f.errs {
		for k, v := range m {
			total[k] += v
		}
	}
	var errList []foErrCount
	for k, v := range total {
		errList = append(errList, foErrCount{k, v})
	}
	slices.SortFunc(errList, func(a, b foErrCount) int {
		if a.Count != b.Count {
			return int(b.Count - a.Count)
		}
		return strings.Compare(a.Kind+a.Text, b.Kind+b.Text)
	})
	return errList
}

// printErrors prints errList as a table under title.
func printErrors(w io.Writer, errList []foErrCount, title string) {
	if len(errList) == 0 {
		fmt.Fprintln(w, "\nNo request failed.")
	} else {
		fmt.Fprintf(w, "\n%s:\n\n| count | kind | text (first %d characters) |\n|--:|---|---|\n", title, foErrLen)
		for _, e := range errList {
			fmt.Fprintf(w, "| %d | %s | `%s` |\n", e.Count, e.Kind, strings.ReplaceAll(e.Text, "|", `\|`))
		}
	}
}

// printReadBack prints what the read-back found and, when values differ, the replication
// offsets around each kill.
func (f *failover) printReadBack(w io.Writer, rb foReadback) {
	fmt.Fprintf(w, "\nRead-back: %d acknowledged keys read through slotgate: %d hold the last acknowledged value, %d a later write whose reply was lost or an error (possible), **%d differ**",
		rb.Keys, rb.Same, rb.InDoubt, rb.Differ)
	if rb.Differ > 0 {
		fmt.Fprintf(w, " (%d missing, %d an older acknowledged value, %d an earlier unacknowledged write applied after a later acknowledged one, %d unknown)",
			rb.Missing, rb.Older, rb.StaleDoubt, rb.Unknown)
	}
	if rb.Errors > 0 {
		fmt.Fprintf(w, "; %d GETs answered with an error", rb.Errors)
	}
	fmt.Fprintln(w, ".")
	if rb.Error != "" {
		fmt.Fprintf(w, "Read-back failed: %s\n", rb.Error)
	}
	for _, e := range rb.Examples {
		fmt.Fprintf(w, "- %s\n", e)
	}
	if rb.Differ > 0 {
		fmt.Fprintln(w, "\nNote: Redis replication is asynchronous: a master acknowledges a write before its replica has it, so writes acknowledged just before a SIGKILL can be missing on the promoted replica. Replication offsets per kill (master and its replica's acknowledged offset just before the kill, the offset the replica had when promoted):")
		for _, r := range f.rows {
			fmt.Fprintf(w, "- kill %d: master %s at %d, replica at %d; %s promoted at %d\n", r.Kill, r.Killed,
				r.MasterOffsetBeforeKill, r.ReplicaOffsetBeforeKill, r.Promoted, r.PromotedAtOffset)
		}
	}
}
