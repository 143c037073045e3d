package codec

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
)

// LearntID is the ID of every learnt command: one past the generated table, so that a table
// indexed by ID needs one more entry to classify them all.
const LearntID = len(AllCommands)

// maxLearntName bounds the names a CommandSet holds: Lookup lowers a name on the stack.
const maxLearntName = 64

// CommandSet is an immutable set of commands learnt at run time from the cluster's COMMAND INFO
// (commands the generated table lacks: a module's, a newer Redis's). Its methods are safe for
// concurrent use and accept a nil set (empty).
type CommandSet struct {
	byName map[string]*Command // lower-case name -> top-level command
	list   []*Command          // sorted by name
}

// NewCommandSet returns the set of the top-level commands cmds (names lower case, at most 64
// bytes; longer ones are left out).
func NewCommandSet(cmds []*Command) *CommandSet {
	s := &CommandSet{byName: make(map[string]*Command, len(cmds))}
	for _, c := range cmds {
		if len(c.Name) <= maxLearntName {
			s.byName[c.Name] = c
			s.list = append(s.list, c)
		}
	}
	slices.SortFunc(s.list, func(a, b *Command) int {
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	return s
}

// Lookup finds a top-level command by name, ignoring ASCII case, without allocating; nil if none.
func (s *CommandSet) Lookup(name []byte) *Command {
	if s == nil || len(s.byName) == 0 || len(name) > maxLearntName {
		return nil
	}
	var buf [maxLearntName]byte
	for i, c := range name {
		buf[i] = lower[c]
	}
	return s.byName[string(buf[:len(name)])] // no allocation: the compiler converts for the lookup only
}

// Commands returns the top-level commands sorted by name. Read only.
func (s *CommandSet) Commands() []*Command {
	if s == nil {
		return nil
	}
	return s.list
}

// Len is the number of top-level commands.
func (s *CommandSet) Len() int {
	if s == nil {
		return 0
	}
	return len(s.list)
}

// SameRouting reports whether c and d route alike: name, arity, flags, legacy key positions, ACL
// categories, key specs and, recursively, subcommands. Masters of mixed versions must agree on a
// command before it is learnt.
func (c *Command) SameRouting(d *Command) bool {
	if c.Name != d.Name || c.Arity != d.Arity || c.Flags != d.Flags || c.FirstKey != d.FirstKey ||
		c.LastKey != d.LastKey || c.Step != d.Step || !slices.Equal(c.ACLCategories, d.ACLCategories) ||
		!slices.Equal(c.KeySpecs, d.KeySpecs) || !slices.Equal(c.Unknown, d.Unknown) ||
		len(c.Subcommands) != len(d.Subcommands) {
		return false
	}
	for i, s := range c.Subcommands {
		if !s.SameRouting(d.Subcommands[i]) {
			return false
		}
	}
	return true
}

var errCommandEntry = errors.New("codec: malformed COMMAND INFO entry")

// ParseCommandInfo parses a RESP2 reply to COMMAND or COMMAND INFO name... into commands with
// ID LearntID, Info2 (and Info3, until AttachInfo3 sets it) set to each raw entry. Null entries
// (unknown names) are skipped. It reads Redis 7's ten-element entries and the shorter entries
// of older servers (no tips, key specs or subcommands; before 6, no ACL categories). Flags, key
// flags and key-spec kinds it does not know are listed in Command.Unknown, not refused.
func ParseCommandInfo(reply []byte) ([]*Command, error) {
	if IsError(reply) {
		return nil, fmt.Errorf("COMMAND INFO: %s", ErrorText(reply))
	}
	entries, err := ArrayElems(reply, nil)
	if err != nil {
		return nil, err
	}
	var out []*Command
	for _, e := range entries {
		if e[0] == '$' || e[0] == '_' || (e[0] == '*' && len(e) > 1 && e[1] == '-') {
			continue // null: no such command
		}
		c, err := parseEntry(e, nil)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

func parseEntry(raw []byte, parent *Command) (*Command, error) {
	e, err := ArrayElems(raw, nil)
	if err != nil || len(e) < 6 {
		return nil, fmt.Errorf("%w: %.80q", errCommandEntry, raw)
	}
	name, _ := text(e[0])
	c := &Command{ID: LearntID, Name: string(lowerASCII(name)), Parent: parent, Info2: string(raw), Info3: string(raw)}
	if c.Name == "" {
		return nil, fmt.Errorf("%w: no name", errCommandEntry)
	}
	arity, ok1 := ParseInt(e[1])
	first, ok2 := ParseInt(e[3])
	last, ok3 := ParseInt(e[4])
	step, ok4 := ParseInt(e[5])
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return nil, fmt.Errorf("%w: %s: arity or key positions", errCommandEntry, c.Name)
	}
	c.Arity, c.FirstKey, c.LastKey, c.Step = int(arity), int(first), int(last), int(step)
	for _, f := range strs(e[2]) {
		if i := slices.Index(FlagNames[:], f); i >= 0 {
			c.Flags |= 1 << i
		} else {
			c.Unknown = append(c.Unknown, "flag "+f)
		}
	}
	if len(e) > 6 {
		c.ACLCategories = strs(e[6])
	}
	if len(e) > 7 {
		c.Tips = strs(e[7])
	}
	if len(e) > 8 {
		specs, _ := ArrayElems(e[8], nil)
		for _, s := range specs {
			c.KeySpecs = append(c.KeySpecs, c.parseSpec(s))
		}
	}
	if len(e) > 9 {
		subs, _ := ArrayElems(e[9], nil)
		for _, s := range subs {
			sc, err := parseEntry(s, c)
			if err != nil {
				return nil, err
			}
			c.Subcommands = append(c.Subcommands, sc)
		}
		slices.SortFunc(c.Subcommands, func(a, b *Command) int {
			if a.Name < b.Name {
				return -1
			}
			return 1
		})
	}
	return c, nil
}

// parseSpec reads one key spec (RESP2: a flat array of name, value pairs).
func (c *Command) parseSpec(raw []byte) KeySpec {
	var s KeySpec
	bs, fk := false, false
	eachPair(raw, func(k string, v []byte) {
		switch k {
		case "notes":
			n, _ := text(v)
			s.Notes = string(n)
		case "flags":
			for _, f := range strs(v) {
				if i := slices.Index(KeyFlagNames[:], f); i >= 0 {
					s.Flags |= 1 << i
				} else {
					c.Unknown = append(c.Unknown, "key flag "+f)
				}
			}
		case "begin_search":
			bs = true
			typ, spec := kindSpec(v)
			switch typ {
			case "index":
				s.BeginSearch = SearchIndex
				setInts(spec, map[string]*int{"index": &s.Index})
			case "keyword":
				s.BeginSearch = SearchKeyword
				setInts(spec, map[string]*int{"startfrom": &s.StartFrom})
				eachPair(spec, func(k string, v []byte) {
					if kw, _ := text(v); k == "keyword" {
						s.Keyword = string(kw)
					}
				})
			case "unknown":
			default:
				c.Unknown = append(c.Unknown, "begin_search "+typ)
			}
		case "find_keys":
			fk = true
			typ, spec := kindSpec(v)
			switch typ {
			case "range":
				s.FindKeys = FindRange
				setInts(spec, map[string]*int{"lastkey": &s.LastKey, "keystep": &s.KeyStep, "limit": &s.Limit})
			case "keynum":
				s.FindKeys = FindKeynum
				setInts(spec, map[string]*int{"keynumidx": &s.KeynumIdx, "firstkey": &s.FirstKey, "keystep": &s.KeyStep})
			case "unknown":
			default:
				c.Unknown = append(c.Unknown, "find_keys "+typ)
			}
		}
	})
	if !bs || !fk {
		c.Unknown = append(c.Unknown, "key spec without begin_search or find_keys")
	}
	return s
}

// setInts sets each integer of a key spec's "spec" pairs that fields names.
func setInts(spec []byte, fields map[string]*int) {
	eachPair(spec, func(k string, v []byte) {
		if p := fields[k]; p != nil {
			*p = intOf(v)
		}
	})
}

// kindSpec reads {type: t, spec: {...}}.
func kindSpec(raw []byte) (typ string, spec []byte) {
	eachPair(raw, func(k string, v []byte) {
		switch k {
		case "type":
			t, _ := text(v)
			typ = string(t)
		case "spec":
			spec = v
		}
	})
	return typ, spec
}

// AttachInfo3 sets Info3 of cmds (and of their subcommands) from the RESP3 reply to the same
// COMMAND INFO request; entries are matched by name.
func AttachInfo3(cmds []*Command, reply []byte) error {
	entries, err := ArrayElems(reply, nil)
	if err != nil {
		return err
	}
	for _, e := range entries {
		f, err := ArrayElems(e, nil)
		if err != nil || len(f) < 1 {
			continue // a null: no such command
		}
		name, _ := text(f[0])
		for _, c := range cmds {
			if c.Name == string(lowerASCII(name)) {
				c.Info3 = string(e)
				if len(f) > 9 {
					if err := AttachInfo3(c.Subcommands, f[9]); err != nil {
						return err
					}
				}
			}
		}
	}
	return nil
}

// AttachDocs sets Docs2 (or with resp3 Docs3) of cmds and their subcommands from a reply to
// COMMAND DOCS name...: each command's raw name + docs pair. A docs "module" field sets Module.
func AttachDocs(cmds []*Command, reply []byte, resp3 bool) error {
	e, err := ArrayElems(reply, nil)
	if err != nil {
		return err
	}
	if len(e)%2 != 0 {
		return fmt.Errorf("%w: COMMAND DOCS has %d elements", errCommandEntry, len(e))
	}
	for i := 0; i < len(e); i += 2 {
		name, _ := text(e[i])
		for _, c := range cmds {
			if c.Name != string(lowerASCII(name)) {
				continue
			}
			raw := string(e[i]) + string(e[i+1])
			if resp3 {
				c.Docs3 = raw
			} else {
				c.Docs2 = raw
			}
			var subs []byte
			eachPair(e[i+1], func(k string, v []byte) {
				switch k {
				case "module":
					m, _ := text(v)
					c.Module = string(m)
				case "subcommands":
					subs = v
				}
			})
			if subs != nil {
				if err := AttachDocs(c.Subcommands, subs, resp3); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// text returns the payload of a simple string, bulk or verbatim string, or the digits of an integer.
func text(b []byte) ([]byte, bool) {
	if len(b) == 0 {
		return nil, false
	}
	switch b[0] {
	case '+', ':':
		for i := 1; i < len(b); i++ {
			if b[i] == '\r' {
				return b[1:i], true
			}
		}
		return nil, false
	}
	return BulkText(b)
}

// strs returns the strings of an array or set of strings.
func strs(b []byte) []string {
	e, _ := ArrayElems(b, nil)
	var out []string
	for _, x := range e {
		if t, ok := text(x); ok {
			out = append(out, string(t))
		}
	}
	return out
}

func intOf(b []byte) int {
	t, _ := text(b)
	n, _ := strconv.Atoi(string(t))
	return n
}

// eachPair calls f for each name, value pair of a map, or of a RESP2 flat array of pairs.
func eachPair(b []byte, f func(k string, v []byte)) {
	e, _ := ArrayElems(b, nil)
	for i := 0; i+1 < len(e); i += 2 {
		k, _ := text(e[i])
		f(string(k), e[i+1])
	}
}

func lowerASCII(b []byte) []byte {
	out := make([]byte, len(b))
	for i, c := range b {
		out[i] = lower[c]
	}
	return out
}
