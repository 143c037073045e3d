package server

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/slotgate/slotgate/codec"
)

// Live holds the settings SIGHUP may change without a restart (Server.Reload). The loops read
// them through an atomic pointer to an immutable Live, so a reload takes no lock and races with
// nothing: a request sees the old settings or the new ones, never half of each. Zero values
// mean the defaults, as in Config.
type Live struct {
	Password      string        // Config.Password: clients already authenticated stay so
	SoftLimit     int           // Config.SoftLimit
	HardLimit     int           // Config.HardLimit
	MaxInflight   int           // Config.MaxInflight
	MaxRequest    int           // Config.MaxRequest
	MaxClients    int           // Config.MaxClients
	IdleTimeout   time.Duration // Config.IdleTimeout
	MaxMergeBytes int           // Config.MaxMergeBytes
	ScriptCache   int           // Config.ScriptCache (0: DefaultScriptCache, negative: none)
	Deny          []string      // Config.Deny
	Allow         []string      // Config.Allow

	rules []uint8 // by codec.Command.ID: ruleDeny or ruleAllow (nil: no rules)
}

const (
	ruleDeny  = 1
	ruleAllow = 2
)

// allowableCmds are the commands refused for good that Config.Allow may let through, each sent
// to every master and merged by its op (docs/config.md lists them from settings.Allowable; a
// test keeps the two lists equal). In the order error messages name them.
var allowableCmds = []struct {
	name string
	op   mergeOp
}{
	{"config|set", mergeOK},
	{"config|rewrite", mergeOK},
	{"config|resetstat", mergeOK},
	{"save", mergeOK},
	{"bgsave", mergeSame},
	{"bgrewriteaof", mergeSame},
}

// allowable is allowableCmds by name.
var allowable = func() map[string]mergeOp {
	m := make(map[string]mergeOp, len(allowableCmds))
	for _, c := range allowableCmds {
		m[c.name] = c.op
	}
	return m
}()

// AllowableCommands lists the names (codec form: "config|set") Config.Allow may hold.
func AllowableCommands() []string {
	var names []string
	for _, c := range allowableCmds {
		names = append(names, c.name)
	}
	return names
}

func (l *Live) defaults() {
	if l.SoftLimit <= 0 {
		l.SoftLimit = DefaultSoftLimit
	}
	if l.HardLimit <= 0 {
		l.HardLimit = DefaultHardLimit
	}
	if l.MaxInflight <= 0 {
		l.MaxInflight = DefaultMaxInflight
	}
	if l.MaxRequest <= 0 {
		l.MaxRequest = DefaultMaxRequest
	}
	if l.MaxClients <= 0 {
		l.MaxClients = DefaultMaxClients
	}
	if l.MaxMergeBytes <= 0 {
		l.MaxMergeBytes = DefaultMaxMergeBytes
	}
	if l.ScriptCache == 0 {
		l.ScriptCache = DefaultScriptCache
	}
}

// CheckCommandRules checks a deny and an allow list as Reload would take them; the error names
// the list (commands.deny, commands.allow) and the command.
func CheckCommandRules(deny, allow []string) error {
	_, err := compileRules(deny, allow)
	return err
}

func compileRules(deny, allow []string) ([]uint8, error) {
	if len(deny) == 0 && len(allow) == 0 {
		return nil, nil
	}
	rules := make([]uint8, len(codec.AllCommands)+1)
	for _, name := range deny {
		cmd, err := lookupRuleName(name)
		if err != nil {
			return nil, fmt.Errorf("commands.deny: %w", err)
		}
		if cmd.Name == "auth" || cmd.Name == "hello" {
			return nil, fmt.Errorf("commands.deny: %q: clients need it to log in", name)
		}
		rules[cmd.ID] = ruleDeny
	}
	for _, name := range allow {
		cmd, err := lookupRuleName(name)
		if err != nil {
			return nil, fmt.Errorf("commands.allow: %w", err)
		}
		if rules[cmd.ID] == ruleDeny {
			return nil, fmt.Errorf("commands.allow: %q is in commands.deny too", name)
		}
		if _, ok := allowable[cmd.Name]; !ok {
			why := refusalReason(cmd)
			switch {
			case why != "":
				return nil, fmt.Errorf("commands.allow: %q cannot be allowed: it %s (allowable: %s)", name, why, allowableText())
			case classes[cmd.ID] != classRefused && cmd.Parent == nil:
				return nil, fmt.Errorf("commands.allow: %q is not refused: nothing to allow", name)
			}
			return nil, fmt.Errorf("commands.allow: %q cannot be allowed (allowable: %s)", name, allowableText())
		}
		rules[cmd.ID] = ruleAllow
	}
	return rules, nil
}

func allowableText() string {
	var names []string
	for _, c := range allowableCmds {
		names = append(names, strings.ToUpper(strings.ReplaceAll(c.name, "|", " ")))
	}
	return strings.Join(names, ", ")
}

// lookupRuleName finds a command of a deny or allow list: "FLUSHALL", "CONFIG SET" or
// "config|set", in any case.
func lookupRuleName(name string) (*codec.Command, error) {
	n := strings.ToLower(strings.TrimSpace(name))
	n = strings.Join(strings.Fields(strings.ReplaceAll(n, "|", " ")), " ")
	top, sub, hasSub := strings.Cut(n, " ")
	cmd := codec.Lookup([]byte(top))
	if cmd == nil {
		return nil, fmt.Errorf("%q: not a command slotgate knows", name)
	}
	if !hasSub {
		return cmd, nil
	}
	sc := cmd.Sub([]byte(sub))
	if sc == nil || strings.Contains(sub, " ") {
		if len(cmd.Subcommands) == 0 {
			return nil, fmt.Errorf("%q: %s has no subcommands", name, strings.ToUpper(top))
		}
		return nil, fmt.Errorf("%q: not a subcommand of %s", name, strings.ToUpper(top))
	}
	return sc, nil
}

// Reload makes l the settings in force for every client from its next request (the limits,
// the password for the next AUTH, the command rules). An error leaves the settings unchanged.
func (srv *Server) Reload(l Live) error {
	l.defaults()
	rules, err := compileRules(l.Deny, l.Allow)
	if err != nil {
		return err
	}
	if l.SoftLimit > l.HardLimit {
		return errors.New("client soft limit above the hard limit")
	}
	l.rules = rules
	if old := srv.live.Load(); old != nil && old.ScriptCache != l.ScriptCache {
		srv.scripts.resize(l.ScriptCache)
	}
	srv.live.Store(&l)
	srv.fairShare.Store(min(srv.fairShare.Load(), int64(l.SoftLimit)))
	return nil
}

// Settings returns the reloadable settings in force.
func (srv *Server) Settings() Live { return *srv.live.Load() }

// lv returns the reloadable settings in force (one atomic load; never nil after New).
func (srv *Server) lv() *Live { return srv.live.Load() }

// commandRule applies the deny and allow lists to a request: top is the command, sub its
// subcommand (nil if none). It reports whether the request was answered or sent.
func (s *session) commandRule(rules []uint8, top, sub *codec.Command, raw []byte) bool {
	r := rule(rules, top)
	if sub != nil && r == 0 {
		r = rule(rules, sub)
	}
	target := top
	if sub != nil {
		target = sub
	}
	switch {
	case r == ruleDeny:
		commandsDenied.Inc()
		s.reject(errDenied(s.lp.scratch[:0], target))
		return true
	case r == ruleAllow && s.tx != txQueuing && s.ps == nil && rule(rules, target) == ruleAllow:
		s.broadcast(target, raw, allowable[target.Name], 0)
		return true
	}
	return false
}

func rule(rules []uint8, cmd *codec.Command) uint8 {
	if cmd.ID < 0 || cmd.ID >= len(rules) {
		return 0 // a learnt command: not in the lists
	}
	return rules[cmd.ID]
}

func errDenied(dst []byte, cmd *codec.Command) []byte {
	return codec.AppendError(dst, "NOPERM slotgate: '"+strings.ToUpper(strings.ReplaceAll(cmd.Name, "|", " "))+
		"' is denied by slotgate's configuration (commands.deny)")
}
