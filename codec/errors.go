package codec

import "errors"

// ProtocolError is a malformed client request. Its Error() is the text Redis itself replies with
// (without the "ERR " prefix Redis puts in front of it), e.g. "Protocol error: invalid multibulk length".
// After a ProtocolError the connection's input can no longer be framed: reply with the error and close.
type ProtocolError struct {
	Msg string // Redis's text
}

func (e *ProtocolError) Error() string { return e.Msg }

// Request framing errors (Redis 7.0 src/networking.c texts where Redis has one).
var (
	ErrInvalidMultibulkLength = &ProtocolError{"Protocol error: invalid multibulk length"}
	ErrInvalidBulkLength      = &ProtocolError{"Protocol error: invalid bulk length"}
	ErrTooBigMultibulkCount   = &ProtocolError{"Protocol error: too big mbulk count string"}
	ErrTooBigBulkCount        = &ProtocolError{"Protocol error: too big bulk count string"}
	ErrTooBigInline           = &ProtocolError{"Protocol error: too big inline request"}
	ErrUnbalancedQuotes       = &ProtocolError{"Protocol error: unbalanced quotes in request"}
	// With Request.Unauthenticated (Redis: authRequired).
	ErrUnauthenticatedMultibulkLength = &ProtocolError{"Protocol error: unauthenticated multibulk length"}
	ErrUnauthenticatedBulkLength      = &ProtocolError{"Protocol error: unauthenticated bulk length"}
	// Redis skips the two bytes after a length line or a bulk payload without looking at them;
	// slotgate insists on "\r\n" (texts of our own).
	ErrExpectedLF   = &ProtocolError{"Protocol error: expected '\\n' after '\\r'"}
	ErrExpectedCRLF = &ProtocolError{"Protocol error: expected CRLF after bulk payload"}
)

// errExpectedDollar holds "Protocol error: expected '$', got 'X'" for every byte X, built once so
// that reporting it allocates nothing. Like Redis (addReplyErrorFormat), CR and LF print as spaces.
var errExpectedDollar [256]*ProtocolError

func init() {
	for i := range errExpectedDollar {
		c := byte(i)
		if c == '\r' || c == '\n' {
			c = ' '
		}
		errExpectedDollar[i] = &ProtocolError{"Protocol error: expected '$', got '" + string([]byte{c}) + "'"}
	}
}

// Reply framing errors (the backend connection is closed after any of them).
var (
	ErrReplyType      = errors.New("codec: invalid reply type byte")
	ErrReplyLength    = errors.New("codec: invalid length in reply")
	ErrReplyLine      = errors.New("codec: reply line not terminated by CRLF")
	ErrReplyDepth     = errors.New("codec: reply nested too deeply")
	ErrReplyStreamed  = errors.New("codec: streamed aggregate replies are not supported")
	ErrReplyNotArray  = errors.New("codec: reply is not an aggregate")
	ErrReplyTruncated = errors.New("codec: reply is incomplete")
)

// Key extraction errors (texts as Redis replies them, without "ERR ").
var (
	// ErrInvalidKeyArgs is COMMAND GETKEYS's text when the keys cannot be found (bad numkeys, missing
	// keyword, too few arguments).
	ErrInvalidKeyArgs = errors.New("Invalid arguments specified for command")
	// ErrNumkeysNotInt: the numkeys argument is not an integer (EVAL's text).
	ErrNumkeysNotInt = errors.New("value is not an integer or out of range")
	// ErrNumkeysNegative: the numkeys argument is negative (EVAL's text).
	ErrNumkeysNegative = errors.New("Number of keys can't be negative")
	// ErrNumkeysTooBig: numkeys says more keys than there are arguments (EVAL's text).
	ErrNumkeysTooBig = errors.New("Number of keys can't be greater than number of args")
)
