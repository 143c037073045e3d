package settings

import (
	"errors"
	"fmt"
	"net"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Field is one setting as the tags of Settings describe it.
type Field struct {
	Path    string // YAML key path: client.hard_limit
	Flag    string // flag name without the dash ("" for none)
	Type    string // string, int, bool, size, duration, list
	Default string // as written in the file
	Range   string // "min..max" as written in the tag ("" for none)
	Zero    string // what 0 means when it lies outside Range
	Enum    []string
	Check   string
	Group   string
	Reload  bool
	Secret  bool
	Env     string
	Help    string

	index    []int
	min, max int64 // Range parsed (ints, sizes, durations)
}

var (
	sizeType     = reflect.TypeFor[Size]()
	durationType = reflect.TypeFor[time.Duration]()
	listType     = reflect.TypeFor[[]string]()
)

// fields is every setting, in the order of Settings.
var fields = collect(reflect.TypeFor[Settings](), "", nil)

// Fields returns every setting, in the order of Settings (the file's order).
func Fields() []*Field { return fields }

// Lookup returns the setting at a key path (nil if none).
func Lookup(path string) *Field {
	for _, f := range fields {
		if f.Path == path {
			return f
		}
	}
	return nil
}

func collect(t reflect.Type, prefix string, index []int) []*Field {
	var out []*Field
	for i := range t.NumField() {
		sf := t.Field(i)
		key := sf.Tag.Get("key")
		if key == "" {
			panic("settings: field " + sf.Name + " has no key tag")
		}
		idx := append(append([]int(nil), index...), i)
		if sf.Type.Kind() == reflect.Struct {
			out = append(out, collect(sf.Type, prefix+key+".", idx)...)
			continue
		}
		f := &Field{Path: prefix + key, Flag: sf.Tag.Get("flag"), Default: sf.Tag.Get("default"),
			Range: sf.Tag.Get("range"), Zero: sf.Tag.Get("zero"), Check: sf.Tag.Get("check"),
			Group: sf.Tag.Get("group"), Reload: sf.Tag.Get("reload") == "yes", Secret: sf.Tag.Get("secret") == "yes",
			Env: sf.Tag.Get("env"), Help: sf.Tag.Get("help"), index: idx}
		if e := sf.Tag.Get("enum"); e != "" {
			f.Enum = strings.Split(e, "|")
		}
		switch {
		case sf.Type == sizeType:
			f.Type = "size"
		case sf.Type == durationType:
			f.Type = "duration"
		case sf.Type == listType:
			f.Type = "list"
		case sf.Type.Kind() == reflect.Int:
			f.Type = "int"
		case sf.Type.Kind() == reflect.Bool:
			f.Type = "bool"
		case sf.Type.Kind() == reflect.String:
			f.Type = "string"
		default:
			panic("settings: " + f.Path + ": unsupported type " + sf.Type.String())
		}
		if f.Range != "" {
			lo, hi, ok := strings.Cut(f.Range, "..")
			a, err1 := f.parseNumber(lo)
			b, err2 := f.parseNumber(hi)
			if !ok || err1 != nil || err2 != nil || a > b {
				panic("settings: " + f.Path + ": bad range tag " + f.Range)
			}
			f.min, f.max = a, b
		}
		if _, err := f.parse(f.Default); err != nil {
			panic("settings: " + f.Path + ": bad default: " + err.Error())
		}
		out = append(out, f)
	}
	return out
}

// Unit is how -h names the field's value.
func (f *Field) Unit() string {
	switch {
	case f.Type == "size":
		return "SIZE"
	case f.Type == "duration":
		return "DURATION"
	case f.Type == "list" && f.Check == "hostport":
		return "HOST:PORT,..."
	case f.Type == "list":
		return "NAME,..."
	case f.Check == "hostport":
		return "HOST:PORT"
	case f.Enum != nil:
		return strings.Join(f.Enum, "|")
	case f.Type == "int":
		return "N"
	case f.Type == "string":
		return "STRING"
	}
	return ""
}

// ValidRange says which values the field takes, for errors and docs ("" when any).
func (f *Field) ValidRange() string {
	var s string
	switch {
	case f.Range != "":
		lo, hi, _ := strings.Cut(f.Range, "..")
		s = lo + " to " + hi
		if f.Zero != "" {
			s += ", or 0: " + f.Zero
		}
	case f.Enum != nil:
		s = strings.Join(f.Enum, ", ")
	case f.Check == "hostport":
		s = "HOST:PORT"
	}
	return s
}

func (f *Field) parseNumber(s string) (int64, error) {
	switch f.Type {
	case "size":
		return ParseSize(s)
	case "duration":
		d, err := ParseDuration(s)
		return int64(d), err
	}
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("not a whole number")
	}
	return n, nil
}

// parse reads a value written as on the command line (lists comma-separated) and checks it.
func (f *Field) parse(s string) (any, error) {
	if f.Type == "list" {
		var items []string
		for _, it := range strings.Split(s, ",") {
			if it = strings.TrimSpace(it); it != "" {
				items = append(items, it)
			}
		}
		return f.parseList(items)
	}
	return f.parseScalar(s)
}

func (f *Field) parseList(items []string) (any, error) {
	out := []string{}
	for _, it := range items {
		it = strings.TrimSpace(it)
		if it == "" {
			return nil, errors.New("an empty item")
		}
		if f.Check == "hostport" {
			if err := checkHostPort(it); err != nil {
				return nil, fmt.Errorf("%q: %w", it, err)
			}
		}
		out = append(out, it)
	}
	return out, nil
}

func (f *Field) parseScalar(s string) (any, error) {
	switch f.Type {
	case "bool":
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return nil, errors.New("not true or false")
		}
		return b, nil
	case "string":
		if f.Enum != nil {
			for _, e := range f.Enum {
				if s == e {
					return s, nil
				}
			}
			return nil, fmt.Errorf("want %s", strings.Join(f.Enum, ", "))
		}
		if f.Check == "hostport" && s != "" {
			if err := checkHostPort(s); err != nil {
				return nil, err
			}
		}
		return s, nil
	}
	n, err := f.parseNumber(s)
	if err != nil {
		return nil, err
	}
	if f.Range != "" && (n < f.min || n > f.max) && !(n == 0 && f.Zero != "") {
		return nil, fmt.Errorf("out of range: valid is %s", f.ValidRange())
	}
	switch f.Type {
	case "size":
		return Size(n), nil
	case "duration":
		return time.Duration(n), nil
	}
	if n != int64(int(n)) {
		return nil, errors.New("too large")
	}
	return int(n), nil
}

// checkHostPort accepts HOST:PORT (an empty host: every address) with a port from 1 to 65535.
func checkHostPort(s string) error {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return errors.New("not HOST:PORT")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return errors.New("the port is not a number from 1 to 65535")
	}
	return nil
}

// set stores v (from parse) in s.
func (f *Field) set(s *Settings, v any) {
	reflect.ValueOf(s).Elem().FieldByIndex(f.index).Set(reflect.ValueOf(v))
}

func (f *Field) value(s *Settings) reflect.Value {
	return reflect.ValueOf(s).Elem().FieldByIndex(f.index)
}

// Format returns the field's value in s as it would be written in the file; a secret that is
// set reads "(hidden)".
func (f *Field) Format(s *Settings) string {
	v := f.value(s)
	switch f.Type {
	case "size":
		return FormatSize(int64(v.Int()))
	case "duration":
		return FormatDuration(time.Duration(v.Int()))
	case "list":
		return strings.Join(v.Interface().([]string), ",")
	case "string":
		if f.Secret && v.String() != "" {
			return "(hidden)"
		}
	}
	return fmt.Sprint(v.Interface())
}

// Equal reports whether the field has the same value in a and b.
func (f *Field) Equal(a, b *Settings) bool {
	return reflect.DeepEqual(f.value(a).Interface(), f.value(b).Interface())
}

// ParseSize reads a number of bytes: 1048576, 64MiB, 512mb, 2gb, 1.5GiB is refused (whole
// numbers only). kb/mb/gb/tb and KiB/MiB/GiB/TiB are powers of 1024; k/m/g/t alone powers of
// 1000, as in Redis's configuration. Case and a space before the unit do not matter.
func ParseSize(s string) (int64, error) {
	v := strings.ToLower(strings.TrimSpace(s))
	i := 0
	for i < len(v) && v[i] >= '0' && v[i] <= '9' {
		i++
	}
	num, unit := v[:i], strings.TrimSpace(v[i:])
	mult, ok := sizeUnits[unit]
	n, err := strconv.ParseInt(num, 10, 64)
	if !ok || err != nil {
		if strings.HasPrefix(v, "-") {
			return 0, errors.New("a size cannot be negative")
		}
		return 0, errors.New("not a size (use 64MiB, 512mb, 1gb or a number of bytes)")
	}
	if n > (1<<62)/mult {
		return 0, errors.New("too large")
	}
	return n * mult, nil
}

var sizeUnits = map[string]int64{
	"": 1, "b": 1,
	"k": 1000, "kb": 1 << 10, "kib": 1 << 10,
	"m": 1000 * 1000, "mb": 1 << 20, "mib": 1 << 20,
	"g": 1000 * 1000 * 1000, "gb": 1 << 30, "gib": 1 << 30,
	"t": 1000 * 1000 * 1000 * 1000, "tb": 1 << 40, "tib": 1 << 40,
}

// FormatSize writes n bytes in the largest binary unit that holds it exactly.
func FormatSize(n int64) string {
	for _, u := range []struct {
		name string
		mult int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n != 0 && n%u.mult == 0 {
			return strconv.FormatInt(n/u.mult, 10) + u.name
		}
	}
	return strconv.FormatInt(n, 10)
}

// ParseDuration is time.ParseDuration that says a unit is missing ("5" is not 5 seconds); 0
// alone is 0.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "0" {
		return 0, nil
	}
	if _, err := strconv.ParseFloat(s, 64); err == nil {
		return 0, errors.New("a duration needs a unit (e.g. 5s, 100ms, 2m)")
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, errors.New("not a duration (e.g. 5s, 100ms, 2m, 1h30m)")
	}
	if d < 0 {
		return 0, errors.New("a duration cannot be negative")
	}
	return d, nil
}

// FormatDuration writes d as the file would ("5s", "100ms", "1h30m", not "1h30m0s").
func FormatDuration(d time.Duration) string {
	if d == 0 {
		return "0"
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
