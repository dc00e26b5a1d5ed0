package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
)

// cli is one invocation of the command: its standard streams and
// environment, given so that tests can give their own.
type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	// profiling, when set, is told at serve's start whether -pprof serves
	// the profiler (main sets sampleHeap; tests leave the runtime alone).
	profiling func(on bool)
	// memory, when set, is given the gateway's context and logger at
	// serve's start, to set the runtime's memory limit (main sets
	// limitMemory's; tests leave the runtime alone).
	memory func(ctx context.Context, logger *slog.Logger)
}

// commands are the words the command line may start with; none means serve.
var commands = []string{"serve", "validate", "routes", "schema", "healthcheck", "push", "api-key"}

const usage = `usage:
  gateway [serve] [-config FILE|consul://HOST:PORT/KEY] [-listen ADDR] [-admin-listen ADDR] [flags]
  gateway push FILE -key KEY [-consul ADDR]   validate, then write to Consul KV
  gateway validate FILE...        check configuration files (- reads standard input)
  gateway routes FILE             print the route table, in match order
  gateway schema [-o FILE]        print the configuration's JSON Schema
  gateway healthcheck [-url URL]  exit 0 if the gateway answers 200
  gateway api-key NAME            make an API key for NAME, and its keys file line
run "gateway COMMAND -h" for a command's flags`

// usageError is a command line the gateway does not understand: exit
// status 2, with the usage.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// errReported is a failure the command has already told the user about,
// such as validate's list of errors: exit status 1, nothing more said.
var errReported = errors.New("reported")

// run runs the command that args name; reload signals serve to reload.
func (c *cli) run(ctx context.Context, args []string, reload <-chan os.Signal) error {
	cmd := "serve"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
		if !slices.Contains(commands, cmd) {
			return usagef("unknown command %q (commands: %s)", cmd, strings.Join(commands, ", "))
		}
	}
	switch cmd {
	case "validate":
		return c.validate(args)
	case "routes":
		return c.routes(args)
	case "schema":
		return c.schema(args)
	case "healthcheck":
		return c.healthcheck(ctx, args)
	case "push":
		return push(ctx, args, c.stdout, c.stderr)
	case "api-key":
		return c.apiKey(args)
	}
	return c.serve(ctx, args, reload)
}

// flags returns a flag set for command name whose errors are usage errors.
func (c *cli) flags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("gateway "+name, flag.ContinueOnError)
	fs.SetOutput(c.stderr)
	return fs
}

// parse parses args into fs, turning its errors into usage errors, and
// returns the arguments after the flags.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, &usageError{msg: err.Error()}
	}
	return fs.Args(), nil
}

// noArguments refuses the words left after a command's flags: a command
// word there (gateway -config x.yaml validate) would otherwise be ignored.
func noArguments(name string, rest []string) error {
	if len(rest) == 0 {
		return nil
	}
	if slices.Contains(commands, rest[0]) {
		return usagef("%s: unexpected argument %q: a command comes first, before its flags (gateway %s ...)", name, rest[0], rest[0])
	}
	return usagef("%s: unexpected argument %q", name, rest[0])
}

// exitStatus reports err on stderr as the process should, and returns the
// exit status for it: 0 for success and for -h, 2 for a usage error, 1 for
// anything else.
func exitStatus(err error, stderr io.Writer) int {
	var ue *usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "gateway: %v\n%s\n", err, usage)
		return 2
	case errors.Is(err, errReported):
		return 1
	}
	fmt.Fprintln(stderr, "gateway:", err)
	return 1
}
