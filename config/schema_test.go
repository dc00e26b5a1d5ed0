package config_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	yaml "github.com/goccy/go-yaml"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/sluicehq/sluice/config"
)

// schemaFile is the committed schema, which go generate writes from
// config.JSONSchema (see cmd/gateway/main.go).
const schemaFile = "../docs/sluice.schema.json"

// modeline is how a file names its schema for the YAML language server.
const modeline = "# yaml-language-server: $schema="

func TestCommittedSchemaIsGenerated(t *testing.T) {
	onDisk, err := os.ReadFile(schemaFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(onDisk, config.JSONSchema()) {
		t.Fatalf("%s differs from config.JSONSchema(): run go generate ./config ./cmd/gateway", schemaFile)
	}
}

// compileSchema compiles the generated schema with a validator that
// implements draft 2020-12.
func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(config.JSONSchema()))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(config.SchemaID, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(config.SchemaID)
	if err != nil {
		t.Fatalf("the schema does not compile: %v", err)
	}
	return s
}

// againstSchema validates a YAML file's data against s, as an editor
// would: the YAML read as JSON values.
func againstSchema(s *jsonschema.Schema, data []byte) error {
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		return err
	}
	js, err := json.Marshal(v)
	if err != nil {
		return err
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		return err
	}
	return s.Validate(inst)
}

// exampleConfigs are the configuration files of the repository, by their
// path from its root: every YAML file outside config/testdata/invalid whose
// first line names the schema.
func exampleConfigs(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir("..", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel("..", p)
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || rel == filepath.Join("config", "testdata", "invalid")) {
			return filepath.SkipDir
		}
		if ext := filepath.Ext(p); d.IsDir() || (ext != ".yaml" && ext != ".yml") {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if strings.HasPrefix(string(data), modeline) {
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestExampleConfigsMatchTheSchema checks that every example config loads
// and that the schema accepts it, and that the ones a user starts from
// name the schema.
func TestExampleConfigsMatchTheSchema(t *testing.T) {
	t.Setenv("SLUICE_TEST_HMAC_SECRET", "a secret of at least thirty-two bytes, for HS256")
	s := compileSchema(t)
	files := exampleConfigs(t)
	for _, want := range []string{"config/default.yaml", "config/testdata/valid/full.yaml", "deploy/compose/gateway.yaml"} {
		if !slices.Contains(files, want) {
			t.Errorf("%s does not start with %q (found: %v)", want, modeline, files)
		}
	}
	for _, name := range files {
		t.Run(name, func(t *testing.T) {
			f := filepath.Join("..", filepath.FromSlash(name))
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := config.Parse(f, data); err != nil {
				t.Errorf("Parse: %v", err)
			}
			if err := againstSchema(s, data); err != nil {
				t.Errorf("the schema refuses it: %v", err)
			}
			line, _, _ := strings.Cut(strings.TrimPrefix(string(data), modeline), "\n")
			if line != config.SchemaID && filepath.Clean(filepath.Join(filepath.Dir(f), line)) != filepath.Clean(schemaFile) {
				t.Errorf("its schema is %q: want %s or the relative path of %s", line, config.SchemaID, schemaFile)
			}
		})
	}
}

// TestSchemaRefusesWhatValidationRefuses runs every broken file of
// testdata/invalid through Parse, which must refuse it, and through the
// schema, which must refuse those whose fault a schema can state: a type,
// an enumeration, a bound, a pattern, an unknown or missing key. The
// others need what a schema cannot know: other fields, other files, the
// routes as a whole.
func TestSchemaRefusesWhatValidationRefuses(t *testing.T) {
	schemaDetects := map[string]bool{
		"address-without-port":     true,  // pattern host:port
		"bad-duration":             true,  // duration pattern
		"bad-endpoint":             true,  // pattern Service.Method
		"bool-typo":                true,  // type boolean
		"cors-without-origins":     true,  // required origins, unless disabled
		"duration-without-unit":    true,  // type string: 5 is a number
		"jwt-key-two-sources":      true,  // oneOf the three key sources
		"negative-duration":        true,  // duration pattern has no sign
		"rate-limit-zero-rps":      true,  // exclusiveMinimum 0
		"retries-below-minus-one":  true,  // minimum -1
		"retry-ratio-above-one":    true,  // 0 to 1, or -1
		"route-without-service":    true,  // required service
		"unknown-key":              true,  // additionalProperties false
		"unknown-method":           true,  // method pattern
		"unknown-registry-kind":    true,  // enum
		"unknown-strategy":         true,  // enum
		"yaml-syntax":              true,  // not YAML: nothing to validate
		"budget-min-above-timeout": false, // compares two fields, one maybe inherited from defaults
		"conflicting-routes":       false, // compares routes with each other
		"unknown-service":          false, // compares with registry.static
	}
	s := compileSchema(t)
	files, err := filepath.Glob("testdata/invalid/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no broken files: %v", err)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		t.Run(name, func(t *testing.T) {
			detects, listed := schemaDetects[name]
			if !listed {
				t.Fatalf("%s is not in the table: say whether the schema detects it", f)
			}
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := config.Parse(f, data); err == nil {
				t.Fatal("Parse accepts it")
			}
			err = againstSchema(s, data)
			switch {
			case detects && err == nil:
				t.Error("the schema accepts it")
			case !detects && err != nil:
				t.Errorf("the schema refuses it, which the table does not say: %v", err)
			}
		})
	}
	if len(files) != len(schemaDetects) {
		t.Errorf("%d broken files, %d in the table", len(files), len(schemaDetects))
	}
}

// TestSchemaEnumsAreWhatValidationAccepts takes each enumeration of the
// schema from the schema itself, and checks that Parse and the schema
// both accept every value of it in a file, and both refuse a value
// outside it: a value added to validation but not to the schema (or the
// other way) fails here.
func TestSchemaEnumsAreWhatValidationAccepts(t *testing.T) {
	var doc struct {
		Defs map[string]struct {
			Properties map[string]struct {
				Enum []string `json:"enum"`
			} `json:"properties"`
		} `json:"$defs"`
	}
	if err := json.Unmarshal(config.JSONSchema(), &doc); err != nil {
		t.Fatal(err)
	}
	s := compileSchema(t)
	tests := []struct {
		def, field, yaml string // yaml has %q where the value goes
	}{
		{"Registry", "kind", "registry: {kind: %q}\n"},
		{"Listener", "server", "listeners: [{address: \"127.0.0.1:0\", server: %q}]\n"},
		{"Service", "strategy", "registry: {static: [{service: s, address: \"127.0.0.1:1\"}]}\nservices: {s: {strategy: %q}}\n"},
	}
	for _, tt := range tests {
		enum := doc.Defs[tt.def].Properties[tt.field].Enum
		if len(enum) < 2 {
			t.Errorf("%s.%s: enum %v", tt.def, tt.field, enum)
		}
		for _, v := range append(enum, "bogus") {
			text := fmt.Sprintf(tt.yaml, v)
			_, perr := config.Parse("gw.yaml", []byte(text))
			serr := againstSchema(s, []byte(text))
			if want := v != "bogus"; (perr == nil) != want || (serr == nil) != want {
				t.Errorf("%s.%s = %q: Parse says %v, the schema %v; want both to accept it: %v", tt.def, tt.field, v, perr, serr, want)
			}
		}
	}
}
