package config

import (
	"errors"
	"strings"

	yaml "github.com/goccy/go-yaml"
)

// syntaxError turns the parser's error into an Error at the line and column
// of the token it stopped at. One parser gives both the syntax tree the
// decoder walks and these positions.
func syntaxError(file string, err error) error {
	e := &Error{File: file, Msg: "YAML syntax: " + err.Error()}
	var se *yaml.SyntaxError
	if errors.As(err, &se) {
		e.Msg = "YAML syntax: " + strings.TrimSpace(se.Message)
		if se.Token != nil && se.Token.Position != nil {
			e.Line, e.Column = se.Token.Position.Line, se.Token.Position.Column
		}
	}
	return e
}
