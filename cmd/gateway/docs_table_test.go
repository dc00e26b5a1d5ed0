package main

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// This file reads the "## Reference" tables of docs/configuration.md, for
// the test that the defaults they state are the code's (docs_defaults_test.go).

// docRow is one row of a reference table.
type docRow struct {
	line   int      // in the file, from 1
	fields []string // the YAML paths the row describes, as routes[].budget.min
	def    string   // the default cell, as written
}

// sectionPaths gives the path prefix of the reference sections whose heading
// is not itself a YAML path, or whose fields sit below a list or a map.
// A heading that is a path ("upstream", "registry.consul") is its own prefix.
var sectionPaths = map[string]string{
	"Top level":            "",
	"Listeners and admin":  "listeners[].", // and admin.: the same fields
	"PROXY protocol":       "listeners[].proxy_protocol.",
	"tls":                  "listeners[].tls.",
	"tls.acme":             "listeners[].tls.acme.",
	"registry.static":      "registry.static[].",
	"services":             "services.*.",
	"Active health checks": "services.*.health_check.",
	"TLS to the nodes":     "services.*.tls.",
	"Routes":               "routes[].",
	"budget":               "routes[].budget.", // and defaults.budget.
	"stream":               "routes[].stream.",
	"rate_limit":           "routes[].rate_limit.",
	"cors":                 "routes[].cors.",     // and defaults.cors.
	"compress":             "routes[].compress.", // and defaults.compress.
	"auth":                 "auth.jwt.*.",
	"auth.jwt.*.keys":      "auth.jwt.*.keys[].",
}

var (
	yamlPath = regexp.MustCompile(`^[a-z_]+(\.[a-z_*]+)*$`)
	codeSpan = regexp.MustCompile("`([^`]*)`")
)

// referenceRows returns the rows of every table under "## Reference" in the
// Markdown file name.
func referenceRows(name string) ([]docRow, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var (
		rows     []docRow
		in       bool
		prefix   string
		section  string
		defCol   = -1
		line     int
		sawTable bool
	)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line++
		text := sc.Text()
		switch {
		case text == "## Reference":
			in = true
			continue
		case strings.HasPrefix(text, "## "):
			in = false
		}
		if !in {
			continue
		}
		if h, ok := strings.CutPrefix(text, "### "); ok || strings.HasPrefix(text, "#### ") {
			if !ok {
				h = strings.TrimPrefix(text, "#### ")
			}
			section, defCol = h, -1
			p, known := sectionPaths[h]
			switch {
			case known:
				prefix = p
			case yamlPath.MatchString(h):
				prefix = h + "."
			default:
				return nil, fmt.Errorf("%s:%d: section %q is not a YAML path and has no entry in sectionPaths", name, line, h)
			}
			continue
		}
		if !strings.HasPrefix(text, "|") {
			continue
		}
		cells := strings.Split(strings.Trim(text, "|"), "|")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		if cells[0] == "field" { // the header
			defCol = -1
			for i, c := range cells {
				if strings.HasPrefix(c, "default") {
					defCol = i
				}
			}
			if defCol < 0 {
				return nil, fmt.Errorf("%s:%d: a table in section %q has no default column", name, line, section)
			}
			sawTable = true
			continue
		}
		if strings.Trim(cells[0], "- ") == "" { // the rule under the header
			continue
		}
		if defCol < 0 || defCol >= len(cells) {
			return nil, fmt.Errorf("%s:%d: a row outside a table with a default column", name, line)
		}
		row := docRow{line: line, def: cells[defCol]}
		for _, m := range codeSpan.FindAllStringSubmatch(cells[0], -1) {
			row.fields = append(row.fields, prefix+m[1])
		}
		if len(row.fields) == 0 {
			return nil, fmt.Errorf("%s:%d: a row that names no field in backticks", name, line)
		}
		rows = append(rows, row)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if !sawTable {
		return nil, fmt.Errorf("%s: no table under ## Reference", name)
	}
	return rows, nil
}

// literals returns the backticked literals of a default cell that begins with
// one, in order; none when the cell begins with prose.
func (r docRow) literals() []string {
	if !strings.HasPrefix(r.def, "`") {
		return nil
	}
	var out []string
	for _, m := range codeSpan.FindAllStringSubmatch(r.def, -1) {
		out = append(out, m[1])
	}
	return out
}
