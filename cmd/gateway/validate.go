package main

import (
	"fmt"
	"io"

	"github.com/sluicehq/sluice/config"
)

// stdinName names standard input in validate's and routes' messages.
const stdinName = "stdin"

// validate checks configuration files as serve would load them, and serves
// nothing. A file with errors prints its error, at file:line:column with
// the key, on stderr; the exit status is 1 if any file has one.
func (c *cli) validate(args []string) error {
	fs := c.flags("validate")
	quiet := fs.Bool("q", false, "print nothing for files without errors")
	files, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return usagef("validate: name the files to check (- for standard input)")
	}
	failed := false
	for _, f := range files {
		cfg, err := c.load(f)
		if err != nil {
			fmt.Fprintln(c.stderr, err)
			failed = true
			continue
		}
		if !*quiet {
			fmt.Fprintf(c.stdout, "%s: ok (%d routes)\n", cfg.File(), len(cfg.Routes))
		}
	}
	if failed {
		return errReported
	}
	return nil
}

// load loads the configuration in file, or on standard input for "-".
func (c *cli) load(file string) (*config.Config, error) {
	if file != "-" {
		return config.Load(file)
	}
	data, err := io.ReadAll(io.LimitReader(c.stdin, config.MaxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", stdinName, err)
	}
	if len(data) > config.MaxFileBytes {
		return nil, &config.Error{File: stdinName, Msg: fmt.Sprintf("larger than %d bytes", config.MaxFileBytes)}
	}
	return config.Parse(stdinName, data)
}

// schema prints the configuration's JSON Schema, or writes it to a file.
func (c *cli) schema(args []string) error {
	fs := c.flags("schema")
	out := fs.String("o", "", "write the schema to `file` instead of standard output")
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if err := noArguments("schema", rest); err != nil {
		return err
	}
	if *out != "" {
		return writeFileAtomic(*out, config.JSONSchema())
	}
	_, err = c.stdout.Write(config.JSONSchema())
	return err
}
