package settings

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// Source is where settings come from besides their defaults: the command line (parsed once, at
// start), the environment and the file named by -config (read again on every Load, so a
// reload sees the file as it is then). The order is defaults, file, environment, flags: a flag
// given on the command line wins over the file, at start and after every reload.
type Source struct {
	File    string // -config ("" for none)
	Version bool   // -version
	Getenv  func(string) string

	flags map[*Field]string // flags given on the command line, as written
}

// ErrHelp is returned by ParseArgs for -h or -help.
var ErrHelp = flag.ErrHelp

// ParseArgs parses slotgate's command line. A bad flag is one error naming the flag (printed
// once by the caller: the flag package's own usage dump is off).
func ParseArgs(argv []string) (*Source, error) {
	src := &Source{Getenv: os.Getenv, flags: map[*Field]string{}}
	fs := flag.NewFlagSet("slotgate", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.StringVar(&src.File, "config", "", "")
	fs.BoolVar(&src.Version, "version", false, "")
	for _, f := range fields {
		if f.Flag != "" {
			fs.Var(&flagValue{f: f, src: src}, f.Flag, f.Help)
		}
	}
	if err := fs.Parse(argv); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q (flags are -name value; slotgate -h lists them)", fs.Arg(0))
	}
	return src, nil
}

// flagValue checks a flag's value when it is given and keeps it as written.
type flagValue struct {
	f   *Field
	src *Source
}

func (v *flagValue) String() string { return "" }
func (v *flagValue) Set(s string) error {
	if _, err := v.f.parse(s); err != nil {
		return err
	}
	v.src.flags[v.f] = s
	return nil
}
func (v *flagValue) IsBoolFlag() bool { return v.f.Type == "bool" }

// FromFlag reports whether f was given on the command line.
func (src *Source) FromFlag(f *Field) bool {
	_, ok := src.flags[f]
	return ok
}

// Defaults returns every setting at its default.
func Defaults() *Settings {
	s := &Settings{}
	for _, f := range fields {
		v, _ := f.parse(f.Default) // checked by collect
		f.set(s, v)
	}
	return s
}

// Load builds the settings from the defaults, the file, the environment and the flags, then
// checks them as a whole. Errors name the key (or flag, or variable) and why.
func (src *Source) Load() (*Settings, error) {
	s := Defaults()
	if src.File != "" {
		data, err := os.ReadFile(src.File)
		if err != nil {
			return nil, err
		}
		if err := loadYAML(s, src.File, data); err != nil {
			return nil, err
		}
	}
	if src.Getenv != nil {
		for _, f := range fields {
			if f.Env == "" || src.FromFlag(f) {
				continue
			}
			if e := src.Getenv(f.Env); e != "" {
				v, err := f.parse(e)
				if err != nil {
					return nil, fmt.Errorf("environment %s: %w", f.Env, err)
				}
				f.set(s, v)
			}
		}
	}
	for _, f := range fields {
		if raw, ok := src.flags[f]; ok {
			v, _ := f.parse(raw) // checked by Set
			f.set(s, v)
		}
	}
	if err := s.check(); err != nil {
		return nil, err
	}
	return s, nil
}

// check tests what no single field can.
func (s *Settings) check() error {
	if s.Client.SoftLimit > s.Client.HardLimit {
		return fmt.Errorf("client.soft_limit (%s) passes client.hard_limit (%s): clients would be disconnected before they are paused",
			FormatSize(int64(s.Client.SoftLimit)), FormatSize(int64(s.Client.HardLimit)))
	}
	if len(s.Cluster.Seeds) == 0 {
		return errors.New("cluster.seeds: no seed: name at least one node of the cluster (HOST:PORT)")
	}
	return nil
}

// loadYAML reads settings from a YAML document over s; errors name the file, line and key.
func loadYAML(s *Settings, name string, data []byte) error {
	file, err := parser.ParseBytes(data, 0)
	if err != nil {
		return fmt.Errorf("%s: %w", name, errors.New(strings.TrimSpace(err.Error())))
	}
	if len(file.Docs) > 1 {
		return fmt.Errorf("%s: more than one YAML document", name)
	}
	if len(file.Docs) == 0 || file.Docs[0].Body == nil {
		return nil // empty: the defaults
	}
	w := walker{s: s, name: name, seen: map[string]int{}}
	return w.mapping(file.Docs[0].Body, "")
}

type walker struct {
	s    *Settings
	name string
	seen map[string]int // key path -> line, for duplicates
}

func (w *walker) errorf(n ast.Node, path, format string, args ...any) error {
	line := 0
	if tk := n.GetToken(); tk != nil && tk.Position != nil {
		line = tk.Position.Line
	}
	if path != "" {
		return fmt.Errorf("%s:%d: %s: %s", w.name, line, path, fmt.Sprintf(format, args...))
	}
	return fmt.Errorf("%s:%d: %s", w.name, line, fmt.Sprintf(format, args...))
}

func (w *walker) mapping(n ast.Node, prefix string) error {
	var pairs []*ast.MappingValueNode
	switch m := n.(type) {
	case *ast.MappingNode:
		pairs = m.Values
	case *ast.MappingValueNode:
		pairs = []*ast.MappingValueNode{m}
	default:
		where := strings.TrimSuffix(prefix, ".")
		if where == "" {
			return w.errorf(n, "", "the file must be a mapping of keys (listen: ..., client: ...)")
		}
		return w.errorf(n, where, "a section: want its keys (%s)", strings.Join(childKeys(prefix), ", "))
	}
	for _, mv := range pairs {
		key, ok := mv.Key.(*ast.StringNode)
		if !ok {
			return w.errorf(mv.Key, "", "%q: keys are names", mv.Key.String())
		}
		path := prefix + key.Value
		if line, dup := w.seen[path]; dup {
			return w.errorf(mv.Key, path, "given twice (first on line %d)", line)
		}
		w.seen[path] = key.GetToken().Position.Line
		if f := Lookup(path); f != nil {
			if err := w.value(f, mv.Value); err != nil {
				return err
			}
			continue
		}
		if len(childKeys(path+".")) > 0 {
			if err := w.mapping(mv.Value, path+"."); err != nil {
				return err
			}
			continue
		}
		msg := "unknown key"
		if near := nearest(path); near != "" {
			msg += " (did you mean " + near + "?)"
		} else if prefix != "" {
			msg += " (" + strings.TrimSuffix(prefix, ".") + " has " + strings.Join(childKeys(prefix), ", ") + ")"
		}
		return w.errorf(mv.Key, path, "%s", msg)
	}
	return nil
}

// value sets f from a YAML value node.
func (w *walker) value(f *Field, n ast.Node) error {
	if f.Type == "list" {
		var items []string
		switch seq := n.(type) {
		case *ast.SequenceNode:
			for _, it := range seq.Values {
				raw, err := w.scalar(f, it)
				if err != nil {
					return err
				}
				items = append(items, raw)
			}
		default:
			raw, err := w.scalar(f, n)
			if err != nil {
				return err
			}
			for _, it := range strings.Split(raw, ",") {
				if it = strings.TrimSpace(it); it != "" {
					items = append(items, it)
				}
			}
		}
		v, err := f.parseList(items)
		if err != nil {
			return w.errorf(n, f.Path, "%v", err)
		}
		f.set(w.s, v)
		return nil
	}
	raw, err := w.scalar(f, n)
	if err != nil {
		return err
	}
	v, err := f.parseScalar(raw)
	if err != nil {
		return w.errorf(n, f.Path, "%q: %v", raw, err)
	}
	f.set(w.s, v)
	return nil
}

// scalar returns the text of a scalar value node as written (without quotes).
func (w *walker) scalar(f *Field, n ast.Node) (string, error) {
	switch v := n.(type) {
	case *ast.StringNode:
		return v.Value, nil
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.InfinityNode, *ast.NanNode:
		return v.GetToken().Value, nil
	case *ast.LiteralNode:
		return strings.TrimSuffix(v.Value.Value, "\n"), nil
	case *ast.NullNode:
		return "", w.errorf(n, f.Path, "no value (remove the key for the default, %s)", defaultText(f))
	case *ast.AnchorNode, *ast.AliasNode, *ast.TagNode:
		return "", w.errorf(n, f.Path, "anchors, aliases and tags are not supported")
	case *ast.SequenceNode:
		return "", w.errorf(n, f.Path, "a list where one value is expected")
	case *ast.MappingNode, *ast.MappingValueNode:
		return "", w.errorf(n, f.Path, "a section where a value is expected (%s)", f.Unit())
	}
	return "", w.errorf(n, f.Path, "not a value this key takes")
}

func defaultText(f *Field) string {
	if f.Default == "" {
		return "empty"
	}
	return f.Default
}

// childKeys lists the keys directly under a path prefix ("client.").
func childKeys(prefix string) []string {
	var keys []string
	for _, f := range fields {
		if rest, ok := strings.CutPrefix(f.Path, prefix); ok {
			k, _, _ := strings.Cut(rest, ".")
			if !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
		}
	}
	return keys
}

// nearest returns the key path closest to a misspelt one (at most 2 edits, or the same last
// segment in another section), "" if none is close.
func nearest(path string) string {
	best, bestD := "", 3
	_, last, _ := strings.Cut(path, ".")
	for _, f := range fields {
		cands := []string{f.Path}
		if sec, _, ok := strings.Cut(f.Path, "."); ok {
			cands = append(cands, sec)
		}
		for _, c := range cands {
			if d := editDistance(path, c); d < bestD {
				best, bestD = c, d
			}
		}
	}
	if best == "" {
		for _, f := range fields {
			if strings.HasSuffix(f.Path, "."+path) || (last != "" && strings.HasSuffix(f.Path, "."+last)) {
				return f.Path
			}
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Changes compares the settings in force with newly loaded ones: the fields that differ and
// reload, and those that differ and need a restart.
func Changes(old, cur *Settings) (reload, restart []*Field) {
	for _, f := range fields {
		if f.Equal(old, cur) {
			continue
		}
		if f.Reload {
			reload = append(reload, f)
		} else {
			restart = append(restart, f)
		}
	}
	return reload, restart
}

// KeepRestart copies into cur the fields that need a restart from old: after a reload they
// stay as slotgate started with them.
func KeepRestart(old, cur *Settings) {
	for _, f := range fields {
		if !f.Reload {
			f.set(cur, f.value(old).Interface())
		}
	}
}
