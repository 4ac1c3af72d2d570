package main

import (
	"io"
	"os"
	"strings"
)

// maxValueBytes bounds a value read from a file or standard input: Redis's limit for one
// string, the largest any backend takes, so that a wrong path such as /dev/zero ends.
const maxValueBytes = 512 << 20

// readValue returns the JSON text arg stands for, as curl reads its data: "@PATH" the
// contents of the file at PATH, "@-" all of standard input, anything else arg itself. A JSON
// text never starts with '@', so no value is taken for a path. A file or a pipe has no limit
// but the backend's, where an argument has the system's (128 KiB for one argument on Linux).
func (c *cli) readValue(arg string) ([]byte, error) {
	path, ok := strings.CutPrefix(arg, "@")
	if !ok {
		return []byte(arg), nil
	}
	var r io.Reader = c.stdin
	what := "standard input"
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, usagef("reading the value: %v", err)
		}
		defer f.Close()
		r, what = f, path
	}
	b, err := io.ReadAll(io.LimitReader(r, maxValueBytes+1))
	if err != nil {
		return nil, usagef("reading the value from %s: %v", what, err)
	}
	if len(b) > maxValueBytes {
		return nil, usagef("the value in %s is over %d MiB, more than any backend stores", what, maxValueBytes>>20)
	}
	return b, nil
}
