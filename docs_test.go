package cachekit_test

import (
	"bufio"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// The pages a reader walks: the README and every page under docs/.
func markdownPages(t *testing.T) []string {
	t.Helper()
	pages, err := filepath.Glob("docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	return append([]string{"README.md"}, pages...)
}

// mdLine is one line of a Markdown page, with its number, for messages that point at it.
type mdLine struct {
	n    int
	text string
}

func readLines(t *testing.T, path string) []mdLine {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []mdLine
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		lines = append(lines, mdLine{n, sc.Text()})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

// fence reports whether line opens or closes a fenced code block, and its info string.
func fence(line string) (info string, ok bool) {
	trimmed := strings.TrimLeft(line, " ")
	if !strings.HasPrefix(trimmed, "```") {
		return "", false
	}
	return strings.TrimSpace(strings.TrimLeft(trimmed, "`")), true
}

// codeBlock is a fenced block of a page: its info string, first line and lines.
type codeBlock struct {
	info  string
	line  int
	lines []string
}

// splitPage returns the page's fenced code blocks, and its prose: the lines outside them,
// with the blocks' lines left empty, so that numbers still match.
func splitPage(lines []mdLine) (blocks []codeBlock, prose []mdLine) {
	var open *codeBlock
	for _, l := range lines {
		info, isFence := fence(l.text)
		switch {
		case open == nil && isFence:
			open = &codeBlock{info: info, line: l.n}
			prose = append(prose, mdLine{l.n, ""})
		case open != nil && isFence && info == "":
			blocks = append(blocks, *open)
			open = nil
			prose = append(prose, mdLine{l.n, ""})
		case open != nil:
			open.lines = append(open.lines, l.text)
			prose = append(prose, mdLine{l.n, ""})
		default:
			prose = append(prose, l)
		}
	}
	return blocks, prose
}

// normalize keeps what the compiler and a reader see of Go lines: each line's words, with
// the indentation and gofmt's alignment of comments folded, and no blank lines.
func normalize(lines []string) string {
	var b strings.Builder
	for _, l := range lines {
		if f := strings.Fields(l); len(f) > 0 {
			b.WriteString(strings.Join(f, " "))
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// compiledGo returns the Go files that the tests and scripts/test compile and that a page may
// quote: every _test.go file (Example functions and tests) and every file under examples/.
func compiledGo(t *testing.T) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if strings.HasPrefix(d.Name(), ".") && path != "." || d.Name() == "testdata" {
				return filepath.SkipDir
			}
			return nil
		}
		inExamples := strings.HasPrefix(filepath.ToSlash(path), "examples/")
		if strings.HasSuffix(path, "_test.go") || inExamples && strings.HasSuffix(path, ".go") {
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			files[path] = "\n" + normalize(strings.Split(string(data), "\n"))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestDocsGoSnippetsCompile holds every Go snippet of the README and docs/ to compiled code:
// each ```go block must appear, line for line up to indentation, in a _test.go file (an
// Example shown verbatim, or a test) or in a file under examples/, which scripts/test builds.
// A snippet found nowhere may have stopped compiling when the API changed.
func TestDocsGoSnippetsCompile(t *testing.T) {
	sources := compiledGo(t)
	for _, page := range markdownPages(t) {
		blocks, _ := splitPage(readLines(t, page))
		for _, b := range blocks {
			if b.info != "go" {
				continue
			}
			snippet := normalize(b.lines)
			if snippet == "" {
				t.Errorf("%s:%d: an empty go snippet", page, b.line)
				continue
			}
			found := false
			for _, src := range sources {
				if strings.Contains(src, "\n"+snippet) {
					found = true
					break
				}
			}
			if !found {
				t.Errorf("%s:%d: this go snippet is in no _test.go file and no file under examples/, so nothing compiles it; "+
					"show an Example verbatim, or copy the snippet from compiled code:\n%s", page, b.line, strings.Join(b.lines, "\n"))
			}
		}
	}
}

// linkRE finds inline links and images, [text](target) and [text](target "title"), and
// reference definitions, [label]: target.
var linkRE = regexp.MustCompile(`\]\(([^()\s]+)(?:\s+"[^"]*")?\)|^\s*\[[^\]]+\]:\s*(\S+)`)

// codeSpanRE finds inline code, where brackets and parentheses are not links.
var codeSpanRE = regexp.MustCompile("`+[^`]*`+")

// htmlAnchorRE finds anchors named in HTML, which a link may target too.
var htmlAnchorRE = regexp.MustCompile(`<a\s+(?:name|id)="([^"]+)"`)

// slug is the anchor GitHub gives a heading: lower case, punctuation dropped but for '-'
// and '_', spaces turned into '-'.
func slug(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// anchors returns the anchors of a page's headings, numbered as GitHub numbers repeated ones
// ("x", "x-1", ...), and of its HTML anchors.
func anchors(t *testing.T, page string) map[string]bool {
	t.Helper()
	_, prose := splitPage(readLines(t, page))
	seen := map[string]int{}
	out := map[string]bool{}
	for _, l := range prose {
		for _, m := range htmlAnchorRE.FindAllStringSubmatch(l.text, -1) {
			out[m[1]] = true
		}
		text := strings.TrimLeft(l.text, "#")
		level := len(l.text) - len(text)
		if level == 0 || level > 6 || !strings.HasPrefix(text, " ") {
			continue
		}
		s := slug(strings.TrimSpace(text))
		if n := seen[s]; n > 0 {
			out[s+"-"+strconv.Itoa(n)] = true
		} else {
			out[s] = true
		}
		seen[s]++
	}
	return out
}

// TestDocsLinksResolve follows every relative link of the README and docs/ to its file and,
// for a Markdown page, to its heading, so that moving a section or renaming a heading cannot
// leave a reader in front of a dead link.
func TestDocsLinksResolve(t *testing.T) {
	cache := map[string]map[string]bool{}
	for _, page := range markdownPages(t) {
		_, prose := splitPage(readLines(t, page))
		for _, l := range prose {
			text := codeSpanRE.ReplaceAllString(l.text, "")
			for _, m := range linkRE.FindAllStringSubmatch(text, -1) {
				target := m[1] + m[2]
				if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
					continue
				}
				file, anchor, _ := strings.Cut(target, "#")
				path := page
				if file != "" {
					path = filepath.Join(filepath.Dir(page), file)
				}
				if _, err := os.Stat(path); err != nil {
					t.Errorf("%s:%d: the link %s points at a missing file", page, l.n, target)
					continue
				}
				if anchor == "" || !strings.HasSuffix(path, ".md") {
					continue
				}
				if cache[path] == nil {
					cache[path] = anchors(t, path)
				}
				if !cache[path][anchor] {
					t.Errorf("%s:%d: the link %s points at no heading of %s", page, l.n, target, path)
				}
			}
		}
	}
}
