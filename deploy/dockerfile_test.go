package deploy

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	line int
	cmd  string // upper case
	args string
}

// stage is one FROM and the instructions after it.
type stage struct {
	from, name string
	ins        []instruction
}

// parseDockerfile splits a Dockerfile into its stages.
func parseDockerfile(t *testing.T, path string) []stage {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var stages []stage
	var cur strings.Builder
	start := 0
	flush := func() {
		text := strings.TrimSpace(cur.String())
		cur.Reset()
		if text == "" {
			return
		}
		cmd, args, _ := strings.Cut(text, " ")
		in := instruction{line: start, cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)}
		if in.cmd == "FROM" {
			f := strings.Fields(in.args)
			st := stage{from: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				st.name = f[2]
			}
			stages = append(stages, st)
			return
		}
		if len(stages) == 0 {
			t.Fatalf("%s:%d: %s before the first FROM", path, in.line, in.cmd)
		}
		stages[len(stages)-1].ins = append(stages[len(stages)-1].ins, in)
	}
	for i, line := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") || (trimmed == "" && cur.Len() == 0) {
			continue
		}
		if cur.Len() == 0 {
			start = i + 1
		}
		if body, cont := strings.CutSuffix(trimmed, `\`); cont {
			cur.WriteString(body + " ")
			continue
		}
		cur.WriteString(trimmed)
		flush()
	}
	flush()
	return stages
}

// find returns the instructions of st named cmd.
func (st stage) find(cmd string) []instruction {
	var out []instruction
	for _, in := range st.ins {
		if in.cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

var (
	pinned   = regexp.MustCompile(`^[a-z0-9][a-z0-9./_-]*(:[A-Za-z0-9._-]+)?@sha256:[0-9a-f]{64}$`)
	execForm = regexp.MustCompile(`^\[\s*"[^"]+"(\s*,\s*"[^"]*")*\s*\]$`)
)

// TestDockerfileRules holds the Dockerfile to the rules hadolint would
// check and to what the gateway's image needs.
func TestDockerfileRules(t *testing.T) {
	stages := parseDockerfile(t, "../Dockerfile")
	if len(stages) < 2 {
		t.Fatalf("%d stages: want a build stage and a runtime stage", len(stages))
	}
	var names []string
	for _, st := range stages {
		if !slices.Contains(names, st.from) {
			// DL3006, DL3007: a base image named by tag and digest, not latest.
			if !pinned.MatchString(st.from) {
				t.Errorf("FROM %s: pin the image by digest (name:tag@sha256:...)", st.from)
			}
			if tag, _, _ := strings.Cut(st.from, "@"); strings.HasSuffix(tag, ":latest") || !strings.Contains(tag, ":") {
				t.Errorf("FROM %s: name a version tag beside the digest, not latest", st.from)
			}
		}
		names = append(names, st.name)
		for _, in := range st.ins {
			switch in.cmd {
			case "ADD": // DL3020
				t.Errorf("line %d: ADD: use COPY", in.line)
			case "CMD", "ENTRYPOINT": // DL3025
				if !execForm.MatchString(in.args) {
					t.Errorf("line %d: %s %s: use the exec form [\"...\"]: a distroless image has no shell", in.line, in.cmd, in.args)
				}
			case "RUN":
				if strings.Contains(in.args, "sudo ") { // DL3004
					t.Errorf("line %d: sudo in RUN", in.line)
				}
			}
		}
	}
	last := stages[len(stages)-1]
	if last.name != "gateway" {
		t.Errorf("the last stage (what docker build builds) is %q, want gateway", last.name)
	}
	for _, st := range stages[1:] {
		// DL3002: the runtime stages run as a user other than root.
		users := st.find("USER")
		if len(users) == 0 {
			t.Errorf("stage %s has no USER: it would run as root", st.name)
			continue
		}
		u := users[len(users)-1].args
		if id, _, _ := strings.Cut(u, ":"); id == "root" || id == "0" {
			t.Errorf("stage %s: USER %s is root", st.name, u)
		}
	}
	hc := last.find("HEALTHCHECK")
	if len(hc) != 1 {
		t.Fatalf("%d HEALTHCHECK instructions in the gateway stage, want 1", len(hc))
	}
	if _, cmd, _ := strings.Cut(hc[0].args, "CMD "); !execForm.MatchString(cmd) || !strings.HasPrefix(cmd, `["/gateway", "healthcheck"`) {
		t.Errorf("HEALTHCHECK %s: want CMD [\"/gateway\", \"healthcheck\"]", hc[0].args)
	}
	if ep := last.find("ENTRYPOINT"); len(ep) != 1 || ep[0].args != `["/gateway"]` {
		t.Errorf("ENTRYPOINT %v: want [\"/gateway\"]", ep)
	}
	env := imageEnv(last)
	for _, k := range []string{"SLUICE_LISTEN", "SLUICE_ADMIN_LISTEN"} {
		if !strings.HasPrefix(env[k], "0.0.0.0:") {
			t.Errorf("ENV %s=%q: the image must listen on every interface", k, env[k])
		}
	}
	if expose := last.find("EXPOSE"); len(expose) == 0 || !strings.Contains(expose[0].args, strings.TrimPrefix(env["SLUICE_LISTEN"], "0.0.0.0:")) {
		t.Errorf("EXPOSE %v does not name the port of SLUICE_LISTEN %s", expose, env["SLUICE_LISTEN"])
	}
}

// imageEnv returns the variables the ENV instructions of st set.
func imageEnv(st stage) map[string]string {
	env := map[string]string{}
	for _, in := range st.find("ENV") {
		for _, kv := range strings.Fields(in.args) {
			if k, v, ok := strings.Cut(kv, "="); ok {
				env[k] = v
			}
		}
	}
	return env
}

// TestDockerignore checks that the build context leaves out what the
// build does not need, and keeps what it does.
func TestDockerignore(t *testing.T) {
	data, err := os.ReadFile("../.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	var rules []string
	for _, l := range strings.Split(string(data), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			rules = append(rules, l)
		}
	}
	for _, must := range []string{".git", "bin", ".cache"} {
		if !slices.Contains(rules, must) {
			t.Errorf(".dockerignore does not leave out %s", must)
		}
	}
	for _, r := range rules {
		for _, needed := range []string{"go.mod", "go.sum", "cmd", "config", "*.go"} {
			if r == needed || r == needed+"/" {
				t.Errorf(".dockerignore leaves out %s, which the build needs", needed)
			}
		}
	}
}
