package codec

// Compile-time checks of the API contract shared with the server package.
var (
	_ func([]byte, *Request) (int, error)      = ReadRequest
	_ func() int                               = (*Request)(nil).Need
	_ func()                                   = (*Request)(nil).Reset
	_ func([]byte) (int, error)                = (*ReplyFramer)(nil).Frame
	_ func() int                               = (*ReplyFramer)(nil).Need
	_ func()                                   = (*ReplyFramer)(nil).Reset
	_ func([]byte) byte                        = ReplyType
	_ func([]byte) bool                        = IsError
	_ func([]byte) (int64, bool)               = ParseInt
	_ func([]byte, [][]byte) ([][]byte, error) = ArrayElems
	_ func([]byte) []byte                      = ErrorText
	_ func([]byte, int) []byte                 = AppendArrayLen
	_ func([]byte, int, int) []byte            = AppendMapLen
	_ func([]byte, int, int) []byte            = AppendSetLen
	_ func([]byte, []byte) []byte              = AppendBulk
	_ func([]byte, string) []byte              = AppendBulkString
	_ func([]byte, int) []byte                 = AppendNull
	_ func([]byte, int) []byte                 = AppendNullArray
	_ func([]byte, int64) []byte               = AppendInt
	_ func([]byte, string) []byte              = AppendSimple
	_ func([]byte) []byte                      = AppendOK
	_ func([]byte, string) []byte              = AppendError
	_ func([]byte, []byte) []byte              = AppendErrorBytes
	_ func([]byte, int, bool) []byte           = AppendBool
	_ func([]byte, int, float64) []byte        = AppendDouble
	_ func([]byte, [][]byte) []byte            = AppendRequest
	_ func([]byte) *Command                    = Lookup
	_ func([]byte) *Command                    = (*Command)(nil).Sub
	_ func(int) bool                           = (*Command)(nil).CheckArity
	_ func([][]byte, []int) ([]int, error)     = (*Command)(nil).KeyIndexes
	_ []*Command                               = Commands
	_ error                                    = (*ProtocolError)(nil)
)

var _ = [1]struct{}{}[MaxBulkLen-512<<20+MaxArgs-1<<20+MaxInlineLen-64<<10+MaxReplyDepth-64]
