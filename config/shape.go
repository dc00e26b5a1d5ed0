package config

import (
	"fmt"

	"github.com/goccy/go-yaml/lexer"
	"github.com/goccy/go-yaml/token"
)

// The YAML parser takes time quadratic in how deep collections nest and in
// how many entries one block mapping has: a file of 200 kB that is nothing
// but nested brackets keeps it busy for more than a minute, one of a few
// hundred kB of keys for seconds, well within MaxFileBytes. checkShape
// refuses such files from their tokens (the lexer is linear) before they
// are parsed. No configuration comes near the bounds: its deepest value is
// some six levels down, and its largest mapping, services, has an entry
// per service.
const (
	maxDepth          = 1000
	maxMappingEntries = 5000
)

// checkShape returns an Error at the token that goes beyond maxDepth or
// maxMappingEntries, or nil. Depth counts the levels that cost no
// indentation, which alone can nest deep in a bounded file: flow
// collections, and the block indicators - and ? written on one line
// (- - - x); nesting by indentation costs bytes quadratic in its depth.
// Entries are counted per block mapping, as keys at the same column.
func checkShape(file string, data []byte) error {
	type level struct {
		col     int
		seq     bool
		entries int
	}
	var (
		levels  []level // the open block collections, by column
		flow    int     // open flow collections
		line    int     // of the last block indicator
		compact int     // block indicators on that line
	)
	tokens := lexer.Tokenize(string(data))
	for i, tk := range tokens {
		if tk.Position == nil {
			continue
		}
		depth := 0
		switch tk.Type {
		case token.SequenceStartType, token.MappingStartType:
			flow++
			depth = flow + compact
		case token.SequenceEndType, token.MappingEndType:
			flow = max(flow-1, 0)
		case token.SequenceEntryType, token.MappingKeyType:
			if flow > 0 {
				break
			}
			if tk.Position.Line != line {
				line, compact = tk.Position.Line, 0
			}
			compact++
			depth = compact
			if tk.Type == token.SequenceEntryType {
				col := tk.Position.Column
				for len(levels) > 0 && levels[len(levels)-1].col > col {
					levels = levels[:len(levels)-1]
				}
				if n := len(levels); n == 0 || levels[n-1].col != col || !levels[n-1].seq {
					levels = append(levels, level{col: col, seq: true})
				}
			}
		case token.MappingValueType:
			if flow > 0 || i == 0 || tokens[i-1].Position == nil {
				break
			}
			// The token before the colon is the key.
			col := tokens[i-1].Position.Column
			for len(levels) > 0 && (levels[len(levels)-1].col > col || levels[len(levels)-1].col == col && levels[len(levels)-1].seq) {
				levels = levels[:len(levels)-1]
			}
			if n := len(levels); n == 0 || levels[n-1].col != col {
				levels = append(levels, level{col: col})
			}
			top := &levels[len(levels)-1]
			if top.entries++; top.entries > maxMappingEntries {
				return &Error{File: file, Line: tokens[i-1].Position.Line, Column: col,
					Msg: fmt.Sprintf("a mapping of more than %d entries", maxMappingEntries)}
			}
		}
		if depth > maxDepth {
			return &Error{File: file, Line: tk.Position.Line, Column: tk.Position.Column,
				Msg: fmt.Sprintf("values nested more than %d levels deep", maxDepth)}
		}
	}
	return nil
}
