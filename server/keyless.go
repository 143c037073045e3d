package server

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/slotgate/slotgate/codec"
)

// Keyless commands a single Redis answers about itself, answered as the one big Redis that
// slotgate presents (a master with no replicas, as INFO replication and ROLE say):
//   - TIME: slotgate's clock (inside MULTI the transaction's node answers, tx.go);
//   - ROLE: a master with no replicas; ASKING: OK (slotgate follows ASK itself, a client never
//     needs it); ACL WHOAMI: the user slotgate authenticated ("default");
//   - static text, the same on every node: the containers' HELP, ACL CAT, ACL GENPASS and
//     LOLWUT go to one master (the one serving slot 0, as keyless scripts);
//   - the nodes' own users (ACL LIST, GETUSER, USERS, LOG, DRYRUN) are refused for good
//     (refused.go): slotgate's clients authenticate against -password, not the nodes' users.

// keylessLocal lists the top-level commands answered here (classify.go makes them local).
var keylessLocal = []string{"time", "role", "lolwut", "asking", "acl"}

// oneMasterSubs are the subcommands whose answer is the same on every node.
var oneMasterSubs = []string{"acl|cat", "acl|genpass"}

// isHelp reports a container's HELP subcommand (OBJECT HELP, XINFO HELP...): static text.
func isHelp(cmd *codec.Command) bool {
	return cmd.Parent != nil && strings.HasSuffix(cmd.Name, "|help")
}

// keylessCommand answers cmd (a top-level command of keylessLocal, or a HELP subcommand).
func (s *session) keylessCommand(cmd *codec.Command, args [][]byte, raw []byte) {
	if len(cmd.Subcommands) > 0 && len(args) >= 2 {
		sub := cmd.Sub(args[1])
		if sub == nil {
			s.local(errUnknownSubcommand(s.lp.scratch[:0], cmd.Name, args[1]))
			return
		}
		cmd = sub
	}
	b := s.lp.scratch[:0]
	switch {
	case cmd.Name == "time":
		now := time.Now()
		b = codec.AppendArrayLen(b, 2)
		b = codec.AppendBulkString(b, strconv.FormatInt(now.Unix(), 10))
		b = codec.AppendBulkString(b, strconv.Itoa(now.Nanosecond()/1000))
	case cmd.Name == "role":
		b = codec.AppendArrayLen(b, 3)
		b = codec.AppendBulkString(b, "master")
		b = codec.AppendInt(b, 0)
		b = codec.AppendArrayLen(b, 0)
	case cmd.Name == "asking":
		b = codec.AppendOK(b)
	case cmd.Name == "acl|whoami":
		b = codec.AppendBulkString(b, "default")
	case cmd.Name == "lolwut" || isHelp(cmd) || slices.Contains(oneMasterSubs, cmd.Name):
		s.send(cmd, keylessScriptSlot, raw)
		return
	default:
		b = errRefused(b, cmd)
	}
	s.lp.scratch = b[:0]
	s.local(b)
}
