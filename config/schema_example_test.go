package config_test

import (
	"encoding/json"
	"fmt"

	"github.com/sluicehq/sluice/config"
)

// An editor, a CI step or a test can check a file against the schema
// before the gateway loads it; gateway schema prints the same text.
func ExampleJSONSchema() {
	var s struct {
		Draft      string                     `json:"$schema"`
		ID         string                     `json:"$id"`
		Properties map[string]json.RawMessage `json:"properties"`
	}
	if err := json.Unmarshal(config.JSONSchema(), &s); err != nil {
		panic(err)
	}
	fmt.Println(s.Draft)
	fmt.Println(s.ID == config.SchemaID)
	_, ok := s.Properties["routes"]
	fmt.Println("routes:", ok)
	// Output:
	// https://json-schema.org/draft/2020-12/schema
	// true
	// routes: true
}
