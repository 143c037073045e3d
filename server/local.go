package server

import (
	"bytes"
	"crypto/subtle"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/slotgate/slotgate/codec"
)

// localCommand answers the commands slotgate serves itself (connection state, introspection).
func (s *session) localCommand(cmd *codec.Command, args [][]byte, raw []byte) {
	b := s.lp.scratch[:0]
	switch cmd.Name {
	case "ping":
		switch len(args) {
		case 1:
			b = codec.AppendSimple(b, "PONG")
		case 2:
			b = codec.AppendBulk(b, args[1])
		default:
			b = errArity(b, cmd.Name)
		}
		if len(args) <= 2 && s.proto != 3 && s.subscribed() {
			b = pingSubscribed(b[:0], args) // RESP2 pub/sub mode
		}
	case "echo":
		b = codec.AppendBulk(b, args[1])
	case "quit":
		b = codec.AppendOK(b)
		s.stopRead = true
		s.closeAt = s.next + 1
	case "select":
		switch n, err := strconv.Atoi(string(args[1])); {
		case err != nil:
			b = append(b, errNotInteger...)
		case n == 0:
			b = codec.AppendOK(b)
		default:
			b = append(b, errSelectDB...)
		}
	case "reset":
		if s.proto != 2 && !s.newLane() {
			return // back to RESP2 once every earlier reply is in (see hello)
		}
		s.pubsubReset()
		s.proto, s.name = 2, nil
		s.replyOff, s.skipNext = false, false
		s.endTx()
		s.authed = s.srv.lv().Password == ""
		b = codec.AppendSimple(b, "RESET")
	case "auth":
		b = s.auth(b, args[1:])
	case "hello":
		if v := helloProto(args); v != 0 && v != int(s.proto) && !s.newLane() {
			// Answered once every earlier reply is in: the requests after it join the other
			// protocol's pipelines, where they could overtake the earlier ones.
			return
		}
		b = s.hello(b, args)
	case "client":
		if codec.EqualFold(args[1], "reply") && len(args) == 3 {
			if s.clientReply(args[2]) {
				return // OFF and SKIP are not answered
			}
			b = codec.AppendOK(b)
			if !codec.EqualFold(args[2], "on") {
				b = append(b[:0], errSyntax...)
			}
			break
		}
		if sub := cmd.Sub(args[1]); sub != nil && isHelp(sub) {
			s.keylessCommand(sub, args, raw) // the node's text, from one master
			return
		}
		if codec.EqualFold(args[1], "list") || codec.EqualFold(args[1], "kill") {
			if b = s.clientsCommand(b, args); b == nil {
				return // every loop is asked; the reply comes from clientsQuery.Run (clients.go)
			}
			break
		}
		b = s.client(b, args)
	case "command":
		b = s.command(b, args)
	case "cluster":
		var answered bool
		if b, answered = s.clusterCommand(b, args, raw); !answered {
			s.lp.scratch = b[:0]
			return
		}
	case "readonly", "readwrite":
		b = codec.AppendOK(b) // cluster clients' replica reads: slotgate's -read-from decides
	case "config":
		if codec.EqualFold(args[1], "get") && len(args) >= 3 {
			s.configGet(raw) // redis-benchmark asks at start; any master answers alike
			return
		}
		if sub := cmd.Sub(args[1]); sub != nil && isHelp(sub) {
			s.keylessCommand(sub, args, raw)
			return
		} else if sub != nil && refusalReason(sub) != "" {
			b = errRefusedForGood(b, sub, refusalReason(sub))
		} else {
			b = errConfigUnsupported(b, clip(args[1]))
		}
	default:
		s.keylessCommand(cmd, args, raw) // keyless.go
		return
	}
	s.lp.scratch = b[:0]
	s.local(b)
}

// clientReply sets CLIENT REPLY ON|OFF|SKIP and reports whether the command itself gets no
// reply (OFF, SKIP). Replies are dropped at the client, never at the backend: the backend
// connection is shared and every request keeps its reply slot.
func (s *session) clientReply(mode []byte) bool {
	switch {
	case codec.EqualFold(mode, "on"):
		s.replyOff, s.skipNext = false, false
	case codec.EqualFold(mode, "off"):
		s.replyOff = true
		return true
	case codec.EqualFold(mode, "skip"):
		if !s.replyOff {
			s.skipNext = true
		}
		return true
	}
	return false
}

// auth checks AUTH [user] password against -password. Without -password any AUTH succeeds:
// applications moving from the cluster send the cluster's password.
func (s *session) auth(b []byte, args [][]byte) []byte {
	want := s.srv.lv().Password
	if want == "" {
		s.authed = true
		return codec.AppendOK(b)
	}
	if len(args) > 2 {
		return append(b, errSyntax...)
	}
	pass := args[len(args)-1]
	userOK := len(args) == 1 || string(args[0]) == "default"
	if userOK && subtle.ConstantTimeCompare(pass, []byte(want)) == 1 {
		s.authed = true
		return codec.AppendOK(b)
	}
	authFailures.Inc()
	return append(b, errWrongPass...)
}

// helloProto is the protocol a HELLO asks for: 2 or 3, 0 when none or not one of those.
func helloProto(args [][]byte) int {
	if len(args) < 2 {
		return 0
	}
	switch string(args[1]) {
	case "2":
		return 2
	case "3":
		return 3
	}
	return 0
}

// redisInt reports whether b is an integer as Redis's string2ll reads one: no sign but '-', no
// leading zero, within int64.
func redisInt(b []byte) bool {
	d := b
	if len(d) > 0 && d[0] == '-' {
		d = d[1:]
	}
	if len(d) == 0 || d[0] < '0' || d[0] > '9' || d[0] == '0' && len(b) > 1 {
		return false
	}
	_, err := strconv.ParseInt(string(b), 10, 64)
	return err == nil
}

// hello answers HELLO [protover [AUTH user pass] [SETNAME name]] as a Redis 7.0 node of a
// cluster does (slotgate presents itself as a one-node cluster, clusterview.go): protover 2 or 3
// sets the client's protocol, whose pipelines its later requests join.
func (s *session) hello(b []byte, args [][]byte) []byte {
	v := 0
	if len(args) >= 2 {
		v = helloProto(args)
		if v == 0 && !redisInt(args[1]) {
			return codec.AppendError(b, "ERR Protocol version is not an integer or out of range")
		}
		if v == 0 {
			return append(b, errNoProto...)
		}
		for i := 2; i < len(args); i++ {
			switch {
			case codec.EqualFold(args[i], "auth") && i+2 < len(args):
				if r := s.auth(nil, args[i+1:i+3]); r[0] == '-' {
					return append(b, r...)
				}
				i += 2
			case codec.EqualFold(args[i], "setname") && i+1 < len(args):
				if !validName(args[i+1]) {
					return append(b, errBadName...)
				}
				s.name = append(s.name[:0], args[i+1]...)
				i++
			default:
				return codec.AppendError(b, "ERR Syntax error in HELLO option '"+clip(args[i])+"'")
			}
		}
	}
	if !s.authed {
		return append(b, errHelloNoAuth...) // the protocol stays; the name is set, as Redis 7.0 does
	}
	if v != 0 {
		s.proto = int8(v)
	}
	p := int(s.proto)
	b = codec.AppendMapLen(b, p, 7)
	b = codec.AppendBulkString(b, "server")
	b = codec.AppendBulkString(b, "redis")
	b = codec.AppendBulkString(b, "version")
	b = codec.AppendBulkString(b, RedisVersion)
	b = codec.AppendBulkString(b, "proto")
	b = codec.AppendInt(b, int64(p))
	b = codec.AppendBulkString(b, "id")
	b = codec.AppendInt(b, s.id)
	b = codec.AppendBulkString(b, "mode")
	b = codec.AppendBulkString(b, "cluster")
	b = codec.AppendBulkString(b, "role")
	b = codec.AppendBulkString(b, "master")
	b = codec.AppendBulkString(b, "modules")
	return codec.AppendArrayLen(b, 0)
}

// RedisVersion is the Redis version slotgate reports in HELLO: the command table's.
const RedisVersion = "7.0.15"

func (s *session) client(b []byte, args [][]byte) []byte {
	sub := args[1]
	switch {
	case codec.EqualFold(sub, "setname") && len(args) == 3:
		if !validName(args[2]) {
			return append(b, errBadName...)
		}
		s.name = append(s.name[:0], args[2]...)
		return codec.AppendOK(b)
	case codec.EqualFold(sub, "getname") && len(args) == 2:
		if len(s.name) == 0 {
			return codec.AppendNull(b, int(s.proto))
		}
		return codec.AppendBulk(b, s.name)
	case codec.EqualFold(sub, "setinfo") && len(args) == 4:
		dst := &s.libName
		switch {
		case codec.EqualFold(args[2], "lib-ver"):
			dst = &s.libVer
		case !codec.EqualFold(args[2], "lib-name"):
			return codec.AppendError(b, "ERR Unrecognized option '"+clip(args[2])+"'")
		}
		if !validName(args[3]) { // Redis 7.2's rule: the CLIENT LIST line must split on spaces
			return codec.AppendError(b, "ERR "+clip(args[2])+" cannot contain spaces, newlines or special characters.")
		}
		*dst = append((*dst)[:0], args[3]...)
		return codec.AppendOK(b)
	case codec.EqualFold(sub, "info") && len(args) == 2:
		return s.clientInfo(b)
	case codec.EqualFold(sub, "id") && len(args) == 2:
		return codec.AppendInt(b, s.id)
	case (codec.EqualFold(sub, "no-evict") || codec.EqualFold(sub, "no-touch")) && len(args) == 3:
		// Harmless here: slotgate's clients are not the nodes' clients, so neither eviction
		// of client buffers nor the LRU touch of their reads can be told apart. Accepted.
		if !codec.EqualFold(args[2], "on") && !codec.EqualFold(args[2], "off") {
			return append(b, errSyntax...)
		}
		return codec.AppendOK(b)
	case codec.EqualFold(sub, "tracking"), codec.EqualFold(sub, "caching"), codec.EqualFold(sub, "getredir"),
		codec.EqualFold(sub, "trackinginfo"):
		return errClientTracking(b, clip(sub))
	}
	if c := clientCmd.Sub(sub); c != nil && refusalReason(c) != "" {
		return errRefusedForGood(b, c, refusalReason(c))
	}
	return errClientUnsupported(b, clip(sub))
}

// clientCmd is CLIENT in the command table.
var clientCmd = codec.Lookup([]byte("client"))

// validName is Redis's rule for client names: printable ASCII without spaces.
func validName(n []byte) bool {
	for _, c := range n {
		if c < '!' || c > '~' {
			return false
		}
	}
	return true
}

// command answers COMMAND, COMMAND COUNT/INFO/DOCS/LIST/GETKEYS/GETKEYSANDFLAGS from the
// generated table and the commands learnt from the cluster.
func (s *session) command(b []byte, args [][]byte) []byte {
	resp3 := s.proto == 3
	learnt := s.srv.rt.Learnt()
	info := func(c *codec.Command) string {
		if resp3 {
			return c.Info3
		}
		return c.Info2
	}
	if len(args) == 1 {
		all := topCommands(learnt)
		b = codec.AppendArrayLen(b, len(all))
		for _, c := range all {
			b = append(b, info(c)...)
		}
		return b
	}
	sub := args[1]
	switch {
	case codec.EqualFold(sub, "count") && len(args) == 2:
		return codec.AppendInt(b, int64(len(topCommands(learnt))))
	case codec.EqualFold(sub, "list"):
		return commandList(b, args[2:], learnt)
	case codec.EqualFold(sub, "help") && len(args) == 2:
		b = codec.AppendArrayLen(b, len(commandHelp))
		for _, line := range commandHelp {
			b = codec.AppendSimple(b, line)
		}
		return b
	case codec.EqualFold(sub, "info"):
		if len(args) == 2 {
			return s.command(b, args[:1])
		}
		b = codec.AppendArrayLen(b, len(args)-2)
		for _, name := range args[2:] {
			if c := lookupFull(name, learnt); c != nil {
				b = append(b, info(c)...)
			} else {
				b = codec.AppendNull(b, int(s.proto))
			}
		}
		return b
	case codec.EqualFold(sub, "docs"):
		var found []*codec.Command
		if len(args) == 2 {
			found = topCommands(learnt)
		} else {
			for _, name := range args[2:] {
				if c := lookupFull(name, learnt); c != nil {
					found = append(found, c)
				}
			}
		}
		found = slices.DeleteFunc(found, func(c *codec.Command) bool { return c.Docs2 == "" }) // learnt from a Redis before 7
		b = codec.AppendMapLen(b, int(s.proto), len(found))
		for _, c := range found {
			if resp3 {
				b = append(b, c.Docs3...)
			} else {
				b = append(b, c.Docs2...)
			}
		}
		return b
	case codec.EqualFold(sub, "getkeys") && len(args) >= 3:
		return getKeys(b, int(s.proto), args[2:], learnt, false)
	case codec.EqualFold(sub, "getkeysandflags") && len(args) >= 3:
		return getKeys(b, int(s.proto), args[2:], learnt, true)
	}
	return errUnknownSubcommand(b, "command", sub)
}

// getKeys answers COMMAND GETKEYS and GETKEYSANDFLAGS for the request req.
func getKeys(b []byte, proto int, req [][]byte, learnt *codec.CommandSet, withFlags bool) []byte {
	c := codec.Lookup(req[0])
	if c == nil {
		c = learnt.Lookup(req[0])
	}
	return codec.AppendGetKeys(b, proto, c, req, withFlags)
}

// topCommands lists the top-level commands slotgate knows: the generated table's (less those a
// test hid) and the learnt ones.
func topCommands(learnt *codec.CommandSet) []*codec.Command {
	all := make([]*codec.Command, 0, len(codec.Commands)+learnt.Len())
	for _, c := range codec.Commands {
		if !c.Hidden() {
			all = append(all, c)
		}
	}
	return append(all, learnt.Commands()...)
}

// commandList answers COMMAND LIST [FILTERBY MODULE name | ACLCAT category | PATTERN glob]: the
// names of the commands and their subcommands ("config|get"), as Redis 7 lists them.
func commandList(b []byte, filter [][]byte, learnt *codec.CommandSet) []byte {
	match := func(*codec.Command) bool { return true }
	switch {
	case len(filter) == 0:
	case len(filter) == 3 && codec.EqualFold(filter[0], "filterby"):
		arg := string(filter[2])
		switch {
		case codec.EqualFold(filter[1], "module"):
			match = func(c *codec.Command) bool { return c.Module != "" && strings.EqualFold(c.Module, arg) }
		case codec.EqualFold(filter[1], "aclcat"):
			cat := "@" + strings.ToLower(arg)
			match = func(c *codec.Command) bool { return slices.Contains(c.ACLCategories, cat) }
		case codec.EqualFold(filter[1], "pattern"):
			match = func(c *codec.Command) bool { ok, _ := path.Match(strings.ToLower(arg), c.Name); return ok }
		default:
			return append(b, errSyntax...)
		}
	default:
		return append(b, errSyntax...)
	}
	var names []string
	for _, c := range topCommands(learnt) {
		for _, x := range append([]*codec.Command{c}, c.Subcommands...) {
			if match(x) {
				names = append(names, x.Name)
			}
		}
	}
	b = codec.AppendArrayLen(b, len(names))
	for _, n := range names {
		b = codec.AppendBulkString(b, n)
	}
	return b
}

// commandHelp is COMMAND HELP's text, as Redis 7.0 gives it.
var commandHelp = []string{
	"COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
	"(no subcommand)",
	"    Return details about all Redis commands.",
	"COUNT",
	"    Return the total number of commands in this Redis server.",
	"LIST",
	"    Return a list of all commands in this Redis server.",
	"INFO [<command-name> ...]",
	"    Return details about multiple Redis commands.",
	"    If no command names are given, documentation details for all",
	"    commands are returned.",
	"DOCS [<command-name> ...]",
	"    Return documentation details about multiple Redis commands.",
	"    If no command names are given, documentation details for all",
	"    commands are returned.",
	"GETKEYS <full-command>",
	"    Return the keys from a full Redis command.",
	"GETKEYSANDFLAGS <full-command>",
	"    Return the keys and the access flags from a full Redis command.",
	"HELP",
	"    Prints this help.",
}

// lookupFull finds "get" or "config|get" in the table or among the learnt commands.
func lookupFull(name []byte, learnt *codec.CommandSet) *codec.Command {
	base, sub, isSub := bytes.Cut(name, []byte("|"))
	c := codec.Lookup(base)
	if c == nil {
		c = learnt.Lookup(base)
	}
	if c == nil || !isSub {
		return c
	}
	return c.Sub(sub)
}
