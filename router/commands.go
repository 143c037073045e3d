package router

import (
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/slotgate/slotgate/codec"
)

// Learnt commands. The generated command table is Redis 7.0's; a module's commands (JSON.GET)
// and a newer Redis's are learnt from the masters' COMMAND INFO, once at start and again when
// the set of masters changes (not every refresh). A command is learnt, and then routed like a
// keyed command of the table, only when:
//   - every master reports it, with the same arity, flags, ACL categories, legacy key positions,
//     key specs and subcommands (mixed versions during an upgrade: commands they disagree on
//     stay unknown);
//   - it keeps no connection state and needs no server-wide care: none of the flags admin,
//     noscript, pubsub, blocking, no_multi, no_auth, allow_busy, protected, and none of the ACL
//     categories @admin, @dangerous, @connection, @transaction, @pubsub, @blocking;
//   - its keys are found from its key specs alone: at least one spec that is not not_key, and
//     every spec an index or keyword search with a range or keynum find, none incomplete (or,
//     from a Redis before 7 with no specs, a first key and no movablekeys);
//   - this codec knows all its flags and key-spec kinds.
//
// A container (a module command with subcommands) is learnt with those of its subcommands that
// pass, if any does. Everything else stays unknown (ERR unknown command), as before.

// Learnt returns the commands learnt from the masters (nil before the first answer). Any
// goroutine; a lock-free load.
func (r *Router) Learnt() *codec.CommandSet { return r.learnt.Load() }

// learnTimeout bounds one master's answers while learning commands after a topology change (at
// start, the shorter refreshTimeout: the first topology waits for it).
const learnTimeout = 2 * time.Second

// maybeLearn starts learning commands in the background when the masters changed since the last
// successful learning; at most one learning runs at a time.
func (r *Router) maybeLearn() {
	t := r.topo.Load()
	if t == nil || len(t.Masters) == 0 {
		return
	}
	r.mu.Lock()
	done := r.learntFor == strings.Join(t.Masters, ",")
	r.mu.Unlock()
	if done || !r.learning.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer r.learning.Store(false)
		r.learnCommands(t, learnTimeout)
	}()
}

// learnCommands asks every master of t for the commands the generated table lacks and publishes
// those every master agrees on, each master answering within timeout. When a master does not
// answer, nothing changes and the next refresh tries again.
func (r *Router) learnCommands(t *Topology, timeout time.Duration) {
	masters := slices.Clone(t.Masters)
	type answer struct {
		cmds []*codec.Command
		err  error
	}
	answers := make([]answer, len(masters))
	done := make(chan struct{}, len(masters))
	for i, m := range masters {
		go func() {
			answers[i].cmds, answers[i].err = r.askCommands(m, timeout)
			done <- struct{}{}
		}()
	}
	for range masters {
		<-done
	}
	var errs []error
	for _, a := range answers {
		if a.err != nil {
			errs = append(errs, a.err)
		}
	}
	key := strings.Join(masters, ",")
	if len(errs) > 0 {
		msg := errText(errs)
		r.mu.Lock()
		quiet := r.learnErr == msg
		r.learnErr = msg
		r.mu.Unlock()
		if !quiet {
			r.log.Warn("learning commands failed; retried at the next refresh", "err", msg)
		}
		return
	}
	per := make([][]*codec.Command, len(answers))
	for i, a := range answers {
		per[i] = a.cmds
	}
	set, skipped := agree(per)
	r.learnt.Store(codec.NewCommandSet(set))
	names := make([]string, len(set))
	for i, c := range set {
		names[i] = c.Name
	}
	summary := fmt.Sprintf("%d routed [%s]; not routed: %s", len(set), strings.Join(names, " "), strings.Join(skipped, "; "))
	r.mu.Lock()
	changed := r.learntSummary != summary && (len(set) > 0 || len(skipped) > 0 || r.learntSummary != "")
	r.learntFor, r.learnErr, r.learntSummary = key, "", summary
	r.mu.Unlock()
	if changed { // quiet in the usual case: the masters have no command the table lacks
		r.log.Info("commands learnt", "masters", len(masters), "summary", summary)
	}
}

// agree keeps the commands that every master reports alike and that slotgate may route; skipped
// says why each other one is left out.
func agree(per [][]*codec.Command) (learnt []*codec.Command, skipped []string) {
	if len(per) == 0 {
		return nil, nil
	}
	seen := map[string]bool{}
	for _, cmds := range per {
		for _, c := range cmds {
			if seen[c.Name] {
				continue
			}
			seen[c.Name] = true
			first := lookupIn(per[0], c.Name)
			why := ""
			for _, other := range per {
				d := lookupIn(other, c.Name)
				switch {
				case d == nil || first == nil:
					why = "not on every master"
				case !d.SameRouting(first):
					why = "masters disagree"
				}
				if why != "" {
					break
				}
			}
			if why == "" {
				var keep *codec.Command
				keep, why = routable(first)
				if keep != nil {
					learnt = append(learnt, keep)
					continue
				}
			}
			skipped = append(skipped, c.Name+" ("+why+")")
		}
	}
	slices.Sort(skipped)
	return learnt, skipped
}

func lookupIn(cmds []*codec.Command, name string) *codec.Command {
	for _, c := range cmds {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// Flags and ACL categories of commands that act on the server or on the connection's state.
const stateFlags = codec.FlagAdmin | codec.FlagNoscript | codec.FlagPubsub | codec.FlagBlocking |
	codec.FlagNoMulti | codec.FlagNoAuth | codec.FlagAllowBusy | codec.FlagProtected

var stateCategories = []string{"@admin", "@dangerous", "@connection", "@transaction", "@pubsub", "@blocking"}

// routable returns c as it may be learnt (a container keeps the subcommands that pass) or nil
// and why not (the rule at the top of this file).
func routable(c *codec.Command) (*codec.Command, string) {
	if len(c.Unknown) > 0 {
		return nil, strings.Join(c.Unknown, ", ")
	}
	if f := c.Flags & stateFlags; f != 0 {
		return nil, "flag " + flagNames(f)
	}
	for _, cat := range c.ACLCategories {
		if slices.Contains(stateCategories, cat) {
			return nil, "ACL category " + cat
		}
	}
	if len(c.Subcommands) > 0 {
		keep := *c
		keep.Subcommands = nil
		var whys []string
		for _, s := range c.Subcommands {
			if ks, why := routable(s); ks != nil {
				sub := *ks // the parsed answer stays as it was
				sub.Parent = &keep
				keep.Subcommands = append(keep.Subcommands, &sub)
			} else {
				whys = append(whys, s.Name+": "+why)
			}
		}
		if len(keep.Subcommands) == 0 {
			return nil, "no routable subcommand (" + strings.Join(whys, ", ") + ")"
		}
		return &keep, ""
	}
	if why := keysUnknown(c); why != "" {
		return nil, why
	}
	return c, ""
}

// keysUnknown says why c's keys cannot be found from its specs alone ("" when they can).
func keysUnknown(c *codec.Command) string {
	if len(c.KeySpecs) == 0 {
		switch {
		case c.FirstKey <= 0:
			return "no key"
		case c.Flags&codec.FlagMovableKeys != 0:
			return "movable keys without key specs"
		}
		return ""
	}
	keyed := false
	for _, s := range c.KeySpecs {
		if s.Flags&codec.KeyNotKey != 0 {
			continue
		}
		keyed = true
		switch {
		case s.Flags&codec.KeyIncomplete != 0:
			return "incomplete key spec"
		case s.BeginSearch != codec.SearchIndex && s.BeginSearch != codec.SearchKeyword,
			s.FindKeys != codec.FindRange && s.FindKeys != codec.FindKeynum:
			return "key spec of unknown kind"
		}
	}
	if !keyed {
		return "no key"
	}
	return ""
}

func flagNames(f codec.Flag) string {
	var names []string
	for i, n := range codec.FlagNames {
		if f&(1<<i) != 0 {
			names = append(names, n)
		}
	}
	return strings.Join(names, ",")
}

// askCommands asks the master at addr for the top-level commands it has and the generated table
// lacks (or hides): COMMAND LIST (COMMAND before Redis 7), then COMMAND INFO and COMMAND DOCS of
// those, in RESP2 and, after HELLO 3, in RESP3.
func (r *Router) askCommands(addr string, timeout time.Duration) ([]*codec.Command, error) {
	d := r.dialer
	d.Timeout = min(r.cfg.DialTimeout, timeout)
	c, err := d.Dial(addr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", addr, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(timeout))
	fail := func(what string, err error, reply []byte) ([]*codec.Command, error) {
		if err == nil {
			err = fmt.Errorf("%.80q", reply)
		}
		return nil, fmt.Errorf("%s: %s: %w", addr, what, err)
	}
	names, err := missingNames(c)
	if err != nil {
		return fail("COMMAND LIST", err, nil)
	}
	if len(names) == 0 {
		return nil, nil
	}
	info2, err := RoundTrip(c, append([]string{"COMMAND", "INFO"}, names...)...)
	if err != nil || codec.IsError(info2) {
		return fail("COMMAND INFO", err, info2)
	}
	cmds, err := codec.ParseCommandInfo(info2)
	if err != nil {
		return fail("COMMAND INFO", err, nil)
	}
	var full []string // docs of subcommands are asked by their full names ("json.debug|memory")
	for _, cmd := range cmds {
		full = append(full, cmd.Name)
		for _, s := range cmd.Subcommands {
			full = append(full, s.Name)
		}
	}
	// COMMAND DOCS is Redis 7's: before it, commands have no docs (COMMAND DOCS leaves them out).
	if docs, err := RoundTrip(c, append([]string{"COMMAND", "DOCS"}, full...)...); err != nil {
		return fail("COMMAND DOCS", err, nil)
	} else if !codec.IsError(docs) {
		if err := codec.AttachDocs(cmds, docs, false); err != nil {
			return fail("COMMAND DOCS", err, nil)
		}
	}
	// RESP3 entries (maps where RESP2 has flat arrays). Without HELLO 3 (Redis 5) RESP3 clients
	// get the RESP2 entries, which are valid RESP3 too.
	if hello, err := RoundTrip(c, "HELLO", "3"); err != nil {
		return fail("HELLO 3", err, nil)
	} else if !codec.IsError(hello) {
		info3, err := RoundTrip(c, append([]string{"COMMAND", "INFO"}, names...)...)
		if err != nil || codec.IsError(info3) {
			return fail("COMMAND INFO (RESP3)", err, info3)
		}
		if err := codec.AttachInfo3(cmds, info3); err != nil {
			return fail("COMMAND INFO (RESP3)", err, nil)
		}
		docs3, err := RoundTrip(c, append([]string{"COMMAND", "DOCS"}, full...)...)
		if err != nil {
			return fail("COMMAND DOCS (RESP3)", err, nil)
		}
		if !codec.IsError(docs3) {
			if err := codec.AttachDocs(cmds, docs3, true); err != nil {
				return fail("COMMAND DOCS (RESP3)", err, nil)
			}
		}
	}
	for _, cmd := range cmds {
		fillDocs3(cmd)
	}
	return cmds, nil
}

// fillDocs3 gives RESP3 clients the RESP2 docs where the server gave none in RESP3.
func fillDocs3(c *codec.Command) {
	if c.Docs3 == "" {
		c.Docs3 = c.Docs2
	}
	for _, s := range c.Subcommands {
		fillDocs3(s)
	}
}

// missingNames returns the names of the top-level commands the node has and the table lacks.
func missingNames(c net.Conn) ([]string, error) {
	reply, err := RoundTrip(c, "COMMAND", "LIST")
	if err != nil {
		return nil, err
	}
	var names []string
	if codec.IsError(reply) { // before Redis 7: the names from the whole COMMAND reply
		if reply, err = RoundTrip(c, "COMMAND"); err != nil {
			return nil, err
		}
		cmds, err := codec.ParseCommandInfo(reply)
		if err != nil {
			return nil, err
		}
		for _, cmd := range cmds {
			names = append(names, cmd.Name)
		}
	} else {
		elems, err := codec.ArrayElems(reply, nil)
		if err != nil {
			return nil, err
		}
		for _, e := range elems {
			if n, ok := codec.BulkText(e); ok {
				names = append(names, strings.ToLower(string(n)))
			}
		}
	}
	var missing []string
	for _, n := range names {
		if !strings.Contains(n, "|") && len(n) <= 64 && codec.Lookup([]byte(n)) == nil {
			missing = append(missing, n)
		}
	}
	slices.Sort(missing)
	return missing, nil
}
