package main

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/cachekit/cachekit/cacheenv"
)

// usageError reports a command line that cachectl cannot run: exit code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// parsed is a command line split by parseArgs.
type parsed struct {
	positional []string
	help       bool // -h or --help appeared
}

// parseArgs sets the flags of args on fs and returns the other arguments, in order.
//
// Unlike flag.FlagSet.Parse it does not stop at the first positional argument, so flags may
// come before or after a command and its arguments: "set KEY '{}' --ttl 5m". A flag is
// "-name" or "--name", with its value after "=" or in the next argument (bool flags take
// only the "=" form). "--" ends the flags. Arguments that look like negative numbers, such
// as "-5s" or "-1", are positional, so that a bad TTL gets a message about the TTL and a JSON
// value may be negative.
func parseArgs(fs *flag.FlagSet, args []string) (parsed, error) {
	var p parsed
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if arg == "--" {
			p.positional = append(p.positional, args[i+1:]...)
			break
		}
		if !isFlag(arg) {
			p.positional = append(p.positional, arg)
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimPrefix(arg[1:], "-"), "=")
		if name == "h" || name == "help" {
			p.help = true
			continue
		}
		f := fs.Lookup(name)
		if f == nil {
			return p, usagef("unknown flag --%s", name)
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			if !hasValue {
				value = "true"
			}
		} else if !hasValue {
			if i+1 == len(args) {
				return p, usagef("flag --%s needs a value", name)
			}
			i++
			value = args[i]
		}
		if err := fs.Set(name, value); err != nil {
			return p, usagef("invalid value %q for flag --%s: %v", value, name, err)
		}
	}
	return p, nil
}

// isFlag reports whether arg names a flag rather than being a value: it starts with a dash
// that is not the whole argument and not the sign of a number.
func isFlag(arg string) bool {
	if len(arg) < 2 || arg[0] != '-' {
		return false
	}
	c := arg[1]
	return !('0' <= c && c <= '9' || c == '.')
}

// parseTTL reads a positive duration as CACHE_DEFAULT_TTL does: a Go duration ("90s",
// "24h") or a whole number of seconds ("300"), up to cachekit.MaxTTL.
func parseTTL(s string) (time.Duration, error) {
	d, err := cacheenv.ParseDuration(s)
	if err == nil && d <= 0 {
		err = fmt.Errorf("%v is not positive", d)
	}
	return d, err
}

// ttlValue is a flag.Value for a TTL, read by parseTTL.
type ttlValue struct{ d *time.Duration }

func (v ttlValue) String() string {
	if v.d == nil || *v.d == 0 {
		return ""
	}
	return v.d.String()
}

func (v ttlValue) Set(s string) error {
	d, err := parseTTL(s)
	if err != nil {
		return err
	}
	*v.d = d
	return nil
}

// positiveDuration is a flag.Value for a duration that must be positive.
type positiveDuration struct{ d *time.Duration }

func (v positiveDuration) String() string {
	if v.d == nil {
		return ""
	}
	return v.d.String()
}

func (v positiveDuration) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return errors.New("want a duration such as 200ms, 5s or 1m")
	}
	if d <= 0 {
		return fmt.Errorf("%v is not positive", d)
	}
	*v.d = d
	return nil
}
