package config

import (
	"errors"
	"regexp"
	"strconv"
	"strings"

	goccy "github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/parser"
)

var yamlLine = regexp.MustCompile(`^line (\d+): `)

// syntaxError turns a YAML syntax error into an Error at its line and column.
// yaml.v3, whose node tree the decoder walks, reports only the line of a
// syntax error, so goccy/go-yaml's parser is asked for the exact position.
func syntaxError(file string, data []byte, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	e := &Error{File: file}
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
		e.Column = 1
		msg = msg[len(m[0]):]
	}
	e.Msg = "YAML syntax: " + msg
	var se *goccy.SyntaxError
	if _, perr := parser.ParseBytes(data, 0); errors.As(perr, &se) && se.Token != nil && se.Token.Position != nil {
		e.Line, e.Column = se.Token.Position.Line, se.Token.Position.Column
	}
	return e
}
