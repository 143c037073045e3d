package codec

import "math/bits"

// KeyIndexes appends to dst the indexes into args of every key of the request args (args[0] is
// the command name; for a subcommand args[1] its name) and returns it. It follows Redis 7.0's
// getKeysFromCommandWithSpecs: the key specs (index or keyword search, range or keynum), falling
// back to Redis's own per-command extraction (SORT ... STORE, MIGRATE ... KEYS, numkeys commands)
// where the specs are incomplete or their flags variable, and to the legacy first/last/step for a
// command without specs. Keys come in the order Redis gives them (COMMAND GETKEYS).
//
// It returns an error, with Redis's text, when the key arguments are malformed: a numkeys that is
// not an integer, negative or larger than the arguments, or no key found for a command whose keys
// are mandatory (COMMAND GETKEYS's "Invalid arguments specified for command"). A keyless command
// gives no keys and no error. It does not check the arity (see CheckArity) and allocates nothing
// when dst has the capacity.
func (c *Command) KeyIndexes(args [][]byte, dst []int) ([]int, error) {
	return c.keys(args, dst, nil)
}

// KeyRef is one key of a request: its index into the request's arguments and how the command
// uses it (COMMAND GETKEYSANDFLAGS).
type KeyRef struct {
	Pos   int
	Flags KeyFlag
}

// KeysAndFlags is KeyIndexes with each key's flags, as Redis 7.0's COMMAND GETKEYSANDFLAGS gives
// them: the flags of the key spec that found the key or, where Redis's own extraction is used,
// the flags it sets (none for the legacy first/last/step and the numkeys commands). It allocates.
func (c *Command) KeysAndFlags(args [][]byte) ([]KeyRef, error) {
	var flags []KeyFlag
	pos, err := c.keys(args, nil, &flags)
	refs := make([]KeyRef, len(pos))
	for i, p := range pos {
		refs[i] = KeyRef{Pos: p, Flags: flags[i]}
	}
	return refs, err
}

// keys is KeyIndexes that, with a non-nil fl, also appends each key's flags to *fl.
func (c *Command) keys(args [][]byte, dst []int, fl *[]KeyFlag) ([]int, error) {
	base := len(dst)
	fbase := 0
	if fl != nil {
		fbase = len(*fl)
	}
	var keyErr error
	hasKeySpec, hasVarFlags := false, false
	for i := range c.KeySpecs {
		f := c.KeySpecs[i].Flags
		if f&KeyNotKey == 0 {
			hasKeySpec = true
		}
		if f&KeyVariableFlags != 0 {
			hasVarFlags = true
		}
	}
	// Variable flags send Redis to its own extraction; a learnt command has none (Redis does the
	// same for a module command without a getkeys callback), and its specs are complete.
	if hasKeySpec && (!hasVarFlags || c.proc == nil) {
		var ok bool
		dst, ok, keyErr = c.specKeys(args, dst, fl)
		if ok {
			return c.noKeys(dst, base, keyErr)
		}
		dst = dst[:base]
		if fl != nil {
			*fl = (*fl)[:fbase]
		}
	}
	if c.proc != nil {
		dst = c.proc(args, dst, fl)
		return c.noKeys(dst, base, keyErr)
	}
	if len(c.KeySpecs) == 0 && c.FirstKey > 0 { // legacy range (commands of a Redis before 7)
		last := c.LastKey
		if last < 0 {
			last += len(args)
		}
		step := max(c.Step, 1)
		for i := c.FirstKey; i <= last && i < len(args); i += step {
			dst = appendKey(dst, fl, i, 0)
		}
	}
	return c.noKeys(dst, base, keyErr)
}

// noKeys turns "no key found" into an error for a command whose keys are mandatory.
func (c *Command) noKeys(dst []int, base int, keyErr error) ([]int, error) {
	if len(dst) > base {
		return dst, nil
	}
	if keyErr != nil {
		return dst, keyErr
	}
	if c.Flags&FlagNoMandatoryKeys != 0 || !c.HasKeys() {
		return dst, nil
	}
	return dst, ErrInvalidKeyArgs
}

// HasKeys is Redis's doesCommandHaveKeys: whether the command may have keys at all.
func (c *Command) HasKeys() bool {
	if c.proc != nil || len(c.KeySpecs) == 0 && c.FirstKey > 0 {
		return true
	}
	for i := range c.KeySpecs {
		if c.KeySpecs[i].Flags&KeyNotKey == 0 {
			return true
		}
	}
	return false
}

// specKeys is Redis's getKeysUsingKeySpecs. ok is false where Redis returns -1 (an invalid or
// incomplete spec); keyErr then says why a numkeys argument was refused, if that was the reason.
func (c *Command) specKeys(args [][]byte, dst []int, fl *[]KeyFlag) (out []int, ok bool, keyErr error) {
	argc := len(args)
	for j := range c.KeySpecs {
		s := &c.KeySpecs[j]
		if s.Flags&KeyNotKey != 0 {
			continue
		}
		first := 0
		switch s.BeginSearch {
		case SearchIndex:
			first = s.Index
		case SearchKeyword:
			start, end := s.StartFrom, argc-1
			if s.StartFrom <= 0 {
				start, end = argc+s.StartFrom, 1
			}
			for i := start; i != end; {
				if i >= argc || i < 1 {
					break
				}
				if equalFoldUpper(args[i], s.Keyword) {
					first = i + 1
					break
				}
				if start <= end {
					i++
				} else {
					i--
				}
			}
			if first == 0 {
				continue // keyword not found
			}
		default:
			return dst, false, nil
		}
		var last, step int
		switch s.FindKeys {
		case FindRange:
			step = s.KeyStep
			switch {
			case s.LastKey >= 0:
				last = first + s.LastKey
			case s.Limit == 0:
				last = argc + s.LastKey
			default:
				last = first + ((argc-first)/s.Limit + s.LastKey)
			}
		case FindKeynum:
			step = s.KeyStep
			if first+s.KeynumIdx >= argc {
				return dst, false, nil
			}
			n, isInt := parseInt(args[first+s.KeynumIdx])
			if !isInt {
				return dst, false, ErrNumkeysNotInt
			}
			if n < 0 {
				return dst, false, ErrNumkeysNegative
			}
			first += s.FirstKey
			if n > int64(argc) {
				return dst, false, ErrNumkeysTooBig
			}
			last = first + int(n) - 1
			if last >= argc {
				return dst, false, ErrNumkeysTooBig
			}
		default:
			return dst, false, nil
		}
		if last >= argc || last < first || first >= argc {
			return dst, false, nil
		}
		if step < 1 {
			step = 1
		}
		for i := first; i <= last; i += step {
			dst = appendKey(dst, fl, i, s.Flags)
		}
		if s.Flags&KeyIncomplete != 0 {
			return dst, false, nil
		}
	}
	return dst, true, nil
}

// appendKey appends key index i to dst and, with a non-nil fl, its flags f to *fl.
func appendKey(dst []int, fl *[]KeyFlag, i int, f KeyFlag) []int {
	if fl != nil {
		*fl = append(*fl, f)
	}
	return append(dst, i)
}

// equalFoldUpper compares b with an upper- or lower-case ASCII keyword, ignoring case.
func equalFoldUpper(b []byte, kw string) bool {
	if len(b) != len(kw) {
		return false
	}
	for i := 0; i < len(b); i++ {
		if lower[b[i]] != lower[kw[i]] {
			return false
		}
	}
	return true
}

// keysProc is a Redis getkeys_proc: it appends key indexes to dst and, with a non-nil fl, the
// flags Redis gives each key to *fl.
type keysProc func(args [][]byte, dst []int, fl *[]KeyFlag) []int

// procs are Redis 7.0's getkeys_proc functions (src/db.c), by command name. Read only after init.
var procs = map[string]keysProc{
	"set":               setKeys,
	"bitfield":          bitfieldKeys,
	"sort":              sortKeys,
	"sort_ro":           firstKeyOnly(KeyRO | KeyAccess),
	"migrate":           migrateKeys,
	"georadius":         georadiusKeys,
	"georadiusbymember": georadiusKeys,
	"xread":             xreadKeys,
	"xreadgroup":        xreadKeys,
	"eval":              genericKeys(0, 2, 3),
	"evalsha":           genericKeys(0, 2, 3),
	"eval_ro":           genericKeys(0, 2, 3),
	"evalsha_ro":        genericKeys(0, 2, 3),
	"fcall":             genericKeys(0, 2, 3),
	"fcall_ro":          genericKeys(0, 2, 3),
	"sintercard":        genericKeys(0, 1, 2),
	"zunion":            genericKeys(0, 1, 2),
	"zinter":            genericKeys(0, 1, 2),
	"zdiff":             genericKeys(0, 1, 2),
	"zintercard":        genericKeys(0, 1, 2),
	"zunionstore":       genericKeys(1, 2, 3),
	"zinterstore":       genericKeys(1, 2, 3),
	"zdiffstore":        genericKeys(1, 2, 3),
	"lmpop":             genericKeys(0, 1, 2),
	"zmpop":             genericKeys(0, 1, 2),
	"blmpop":            genericKeys(0, 2, 3),
	"bzmpop":            genericKeys(0, 2, 3),
}

func firstKeyOnly(f KeyFlag) keysProc {
	return func(args [][]byte, dst []int, fl *[]KeyFlag) []int {
		if len(args) > 1 {
			dst = appendKey(dst, fl, 1, f)
		}
		return dst
	}
}

// setKeys is setGetKeys: the key is read too when GET is given.
func setKeys(args [][]byte, dst []int, fl *[]KeyFlag) []int {
	if len(args) < 2 {
		return dst
	}
	f := KeyOW | KeyUpdate
	for _, a := range args[min(3, len(args)):] {
		if EqualFold(a, "get") {
			f = KeyRW | KeyAccess | KeyUpdate
			break
		}
	}
	return appendKey(dst, fl, 1, f)
}

// bitfieldKeys is bitfieldGetKeys: read only unless a SET, an INCRBY or a syntax error shows.
func bitfieldKeys(args [][]byte, dst []int, fl *[]KeyFlag) []int {
	if len(args) < 2 {
		return dst
	}
	readonly := true
	for i := 2; i < len(args) && readonly; i++ {
		rem := len(args) - i - 1
		switch a := args[i]; {
		case EqualFold(a, "get") && rem >= 2:
			i += 2
		case (EqualFold(a, "set") || EqualFold(a, "incrby")) && rem >= 3:
			readonly = false
		case EqualFold(a, "overflow") && rem >= 1:
			i++
		default:
			readonly = false
		}
	}
	if readonly {
		return appendKey(dst, fl, 1, KeyRO|KeyAccess)
	}
	return appendKey(dst, fl, 1, KeyRW|KeyAccess|KeyUpdate)
}

// atoi is C's atoi: optional spaces and sign, then digits up to the first non-digit.
func atoi(b []byte) int64 {
	i := 0
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	neg := false
	if i < len(b) && (b[i] == '-' || b[i] == '+') {
		neg = b[i] == '-'
		i++
	}
	var v int64
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		if v < 1<<40 {
			v = v*10 + int64(b[i]-'0')
		}
	}
	if neg {
		return -v
	}
	return v
}

// genericKeys is Redis's genericGetKeys(storeKeyOfs, keyCountOfs, firstKeyOfs, 1); it sets no
// flags (its commands' specs are complete).
func genericKeys(store, count, firstKey int) keysProc {
	return func(args [][]byte, dst []int, fl *[]KeyFlag) []int {
		if count >= len(args) {
			return dst
		}
		num := atoi(args[count])
		if num < 1 || num > int64(len(args)-firstKey) {
			return dst
		}
		for i := 0; i < int(num); i++ {
			dst = appendKey(dst, fl, firstKey+i, 0)
		}
		if store > 0 {
			dst = appendKey(dst, fl, store, 0)
		}
		return dst
	}
}

func sortKeys(args [][]byte, dst []int, fl *[]KeyFlag) []int {
	dst = appendKey(dst, fl, 1, KeyRO|KeyAccess)
	store := 0
	for i := 2; i < len(args); i++ {
		a := args[i]
		switch {
		case EqualFold(a, "limit"):
			i += 2
		case EqualFold(a, "get"), EqualFold(a, "by"):
			i++
		case EqualFold(a, "store") && i+1 < len(args):
			store = i + 1 // the last STORE wins, as in SORT
		}
	}
	if store > 0 {
		dst = appendKey(dst, fl, store, KeyOW|KeyUpdate)
	}
	return dst
}

func migrateKeys(args [][]byte, dst []int, fl *[]KeyFlag) []int {
	first, num := 3, 1
	if len(args) > 6 {
		for i := 6; i < len(args); i++ {
			a := args[i]
			if EqualFold(a, "keys") {
				if len(args[3]) > 0 {
					num = 0 // syntax error, left to MIGRATE
				} else {
					first = i + 1
					num = len(args) - first
				}
				break
			}
			switch {
			case EqualFold(a, "auth"):
				i++
			case EqualFold(a, "auth2"):
				i += 2
			}
		}
	}
	for i := 0; i < num && first+i < len(args); i++ {
		dst = appendKey(dst, fl, first+i, KeyRW|KeyAccess|KeyDelete)
	}
	return dst
}

func georadiusKeys(args [][]byte, dst []int, fl *[]KeyFlag) []int {
	stored := -1
	for i := 5; i < len(args); i++ {
		if (EqualFold(args[i], "store") || EqualFold(args[i], "storedist")) && i+1 < len(args) {
			stored = i + 1
			i++
		}
	}
	dst = appendKey(dst, fl, 1, 0)
	if stored > 0 {
		dst = appendKey(dst, fl, stored, 0)
	}
	return dst
}

func xreadKeys(args [][]byte, dst []int, fl *[]KeyFlag) []int {
	streams := -1
loop:
	for i := 1; i < len(args); i++ {
		a := args[i]
		switch {
		case EqualFold(a, "block"), EqualFold(a, "count"):
			i++
		case EqualFold(a, "group"):
			i += 2
		case EqualFold(a, "noack"):
		case EqualFold(a, "streams"):
			streams = i
			break loop
		default:
			break loop
		}
	}
	if streams < 0 {
		return dst
	}
	num := len(args) - streams - 1
	if num == 0 || num%2 != 0 {
		return dst
	}
	num /= 2
	for i := streams + 1; i < len(args)-num; i++ {
		dst = appendKey(dst, fl, i, 0)
	}
	return dst
}

// AppendGetKeys appends the reply of COMMAND GETKEYS (or with withFlags GETKEYSANDFLAGS) for the
// request req whose top-level command is c (nil: unknown), as Redis 7.0's getKeysSubcommandImpl
// gives it: each key or, withFlags, each key and the set of its flags; or Redis's error.
func AppendGetKeys(b []byte, proto int, c *Command, req [][]byte, withFlags bool) []byte {
	if c != nil && len(c.Subcommands) > 0 && len(req) > 1 {
		c = c.Sub(req[1]) // Redis's lookupCommand: an unknown subcommand is no command
	}
	switch {
	case c == nil:
		return AppendError(b, "ERR Invalid command specified")
	case !c.HasKeys():
		return AppendError(b, "ERR The command has no key arguments")
	case !c.CheckArity(len(req)):
		return AppendError(b, "ERR Invalid number of arguments specified for command")
	}
	keys, err := c.KeysAndFlags(req)
	if err != nil || len(keys) == 0 {
		if c.Has(FlagNoMandatoryKeys) {
			return AppendArrayLen(b, 0)
		}
		return AppendError(b, "ERR "+ErrInvalidKeyArgs.Error())
	}
	b = AppendArrayLen(b, len(keys))
	for _, k := range keys {
		if !withFlags {
			b = AppendBulk(b, req[k.Pos])
			continue
		}
		b = AppendArrayLen(b, 2)
		b = AppendBulk(b, req[k.Pos])
		b = AppendSetLen(b, proto, bits.OnesCount16(uint16(k.Flags)))
		for i, name := range KeyFlagNames {
			if k.Flags&(1<<i) != 0 {
				b = AppendSimple(b, name)
			}
		}
	}
	return b
}
