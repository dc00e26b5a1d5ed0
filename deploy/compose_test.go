package deploy

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	yaml "github.com/goccy/go-yaml"

	"github.com/sluicehq/sluice/config"
)

// composeFile is the subset of a compose file the test reads.
type composeFile struct {
	Services map[string]struct {
		Build *struct {
			Context string `yaml:"context"`
			Target  string `yaml:"target"`
		} `yaml:"build"`
		Image      string   `yaml:"image"`
		Entrypoint []string `yaml:"entrypoint"`
		Command    []string `yaml:"command"`
		Volumes    []string `yaml:"volumes"`
	} `yaml:"services"`
}

// TestComposeExample checks deploy/compose against the gateway and the
// examples it runs: the gateway's file loads, every service a route names
// runs as an example that registers in the Consul the gateway asks, and
// each image is a stage of the Dockerfile.
func TestComposeExample(t *testing.T) {
	data, err := os.ReadFile("compose/docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(data, &c); err != nil {
		t.Fatal(err)
	}
	stages := map[string]bool{}
	for _, st := range parseDockerfile(t, "../Dockerfile") {
		stages[st.name] = true
	}
	gw, ok := c.Services["gateway"]
	if !ok || gw.Build == nil || gw.Build.Target != "gateway" {
		t.Fatalf("the compose file has no gateway service built from the Dockerfile's gateway stage")
	}
	// The file the gateway is given is the one beside the compose file.
	i := slices.Index(gw.Command, "-config")
	if i < 0 || i+1 >= len(gw.Command) {
		t.Fatalf("gateway command %v: want -config FILE", gw.Command)
	}
	var mounted string
	for _, v := range gw.Volumes {
		if src, dst, _ := strings.Cut(strings.TrimSuffix(v, ":ro"), ":"); dst == gw.Command[i+1] {
			mounted = filepath.Join("compose", src)
		}
	}
	if mounted == "" {
		t.Fatalf("no volume mounts %s", gw.Command[i+1])
	}
	cfg, err := config.Load(mounted)
	if err != nil {
		t.Fatalf("the gateway's file: %v", err)
	}
	if cfg.Registry.Kind != "consul" {
		t.Fatalf("%s: registry.kind %q, want consul", mounted, cfg.Registry.Kind)
	}
	consulHost, _, _ := strings.Cut(cfg.Registry.Consul.Address, ":")
	if _, ok := c.Services[consulHost]; !ok {
		t.Errorf("%s asks Consul at %s: no such service in the compose file", mounted, cfg.Registry.Consul.Address)
	}
	for _, l := range append(cfg.Listeners, *cfg.Admin) {
		if !strings.HasPrefix(l.Address, "0.0.0.0:") {
			t.Errorf("%s listens on %s: a container must listen on every interface", mounted, l.Address)
		}
	}
	for _, r := range cfg.Routes {
		s, ok := c.Services[r.Service]
		if !ok {
			t.Errorf("route %s: service %s is not in the compose file", r.Name, r.Service)
			continue
		}
		if s.Build == nil || !stages[s.Build.Target] {
			t.Errorf("service %s: not built from a stage of the Dockerfile", r.Service)
		}
		ep := strings.Join(s.Entrypoint, " ")
		if !strings.HasPrefix(ep, "/examples/"+r.Service+" ") || !strings.Contains(ep, "-consul "+cfg.Registry.Consul.Address) ||
			!strings.Contains(ep, "-listen "+r.Service+":") {
			t.Errorf("service %s runs %q: want /examples/%s listening on its own name and registering at %s",
				r.Service, ep, r.Service, cfg.Registry.Consul.Address)
		}
		if _, err := os.Stat(filepath.Join("..", "examples", r.Service, "main.go")); err != nil {
			t.Errorf("service %s: no example of that name: %v", r.Service, err)
		}
	}
}
