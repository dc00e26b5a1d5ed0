package config

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"

	"github.com/sluicehq/sluice/middleware"
)

// SchemaID is the $id of the configuration's JSON Schema, and the name of
// the file docs/ keeps it in.
const SchemaID = "https://raw.githubusercontent.com/sluicehq/sluice/main/docs/sluice.schema.json"

// DurationPattern is the JSON Schema pattern of a duration field: what
// time.ParseDuration reads, with a unit (a bare number is an error, as the
// decoder says) and without a sign (a negative duration is an error).
const DurationPattern = `^\+?((\d+(\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h))+$`

//go:generate env SLUICE_WRITE_SCHEMA_DOCS=1 go test -run TestSchemaDocsGenerated .

// JSONSchema returns the JSON Schema (draft 2020-12) of a configuration
// file, derived from the Go types by the decoder's own rules: a field is
// its yaml tag, an unknown key is an error (additionalProperties: false), a
// time.Duration is a string with a unit, a map has string keys. The rules
// validation adds that a schema can state (enumerations, bounds, required
// fields) come from schemaRules. An editor with a YAML language server
// checks a file against it as it is typed; Parse stays the authority, and
// catches what a schema cannot say (conflicting routes, unknown services,
// files that do not exist).
//
// Descriptions are the doc comments of the types and fields
// (schema_docs.go, which go generate writes from them). The output is
// stable: docs/sluice.schema.json is this text, and a test keeps them
// equal.
func JSONSchema() []byte {
	g := &schemaGen{defs: map[string]any{}}
	root := g.object(reflect.TypeFor[Config]())
	root["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	root["$id"] = SchemaID
	root["title"] = "Sluice gateway configuration"
	root["$defs"] = g.defs
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(root); err != nil {
		panic("config: the schema does not encode: " + err.Error())
	}
	return b.Bytes()
}

// schemaGen builds the schema: one $defs entry per struct type, referred
// to wherever the type appears.
type schemaGen struct{ defs map[string]any }

// of returns the schema of a value of type t.
func (g *schemaGen) of(t reflect.Type) map[string]any {
	if t == durationType {
		return map[string]any{"type": "string", "pattern": DurationPattern}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return g.of(t.Elem())
	case reflect.Struct:
		if _, done := g.defs[t.Name()]; !done {
			g.defs[t.Name()] = nil // reserved, in case a type holds itself
			g.defs[t.Name()] = g.object(t)
		}
		return map[string]any{"$ref": "#/$defs/" + t.Name()}
	case reflect.Slice:
		return map[string]any{"type": "array", "items": g.of(t.Elem())}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.of(t.Elem())}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int32, reflect.Int64:
		return map[string]any{"type": "integer"}
	case reflect.Float64:
		return map[string]any{"type": "number"}
	}
	panic("config: no schema for type " + t.String())
}

// object returns the schema of struct type t, with the rules of
// schemaRules for its fields.
func (g *schemaGen) object(t reflect.Type) map[string]any {
	props := map[string]any{}
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if name == "" || name == "-" || !t.Field(i).IsExported() {
			continue
		}
		p := g.of(t.Field(i).Type)
		if doc := schemaDocs[t.Name()+"."+name]; doc != "" {
			p["description"] = doc
		}
		for k, v := range schemaRules[t.Name()+"."+name] {
			p[k] = v
		}
		props[name] = p
	}
	s := map[string]any{"type": "object", "properties": props, "additionalProperties": false}
	if doc := schemaDocs[t.Name()]; doc != "" {
		s["description"] = doc
	}
	for k, v := range schemaRules[t.Name()] {
		s[k] = v
	}
	return s
}

// schemaRules are what validation checks that a schema can say, by type
// ("Route") or field ("Route.method"), merged into the derived schema.
// Each mirrors a check in validate.go or the files beside it; the broken
// files of testdata/invalid, which both must refuse, keep them honest.
var schemaRules = map[string]map[string]any{
	"Listener":             {"required": []string{"address"}},
	"Listener.address":     {"pattern": `^(\[[^\]]*\]|[^:\[\]]*):[^:]*$`},
	"Listener.server":      {"enum": []string{"", ServerSluice, ServerNetHTTP}},
	"Listener.https_port":  {"minimum": 0, "maximum": 65535},
	"TLS.min_version":      {"enum": []string{"", "1.2", "1.3"}},
	"TLS.client_auth":      {"enum": []string{"", ClientAuthRequest, ClientAuthRequire, ClientAuthVerifyIfGiven, ClientAuthVerify}},
	"Registry.kind":        {"enum": []string{"", "static", "consul"}},
	"StaticNode":           {"required": []string{"service", "address"}},
	"StaticNode.service":   {"minLength": 1},
	"StaticNode.address":   {"pattern": `^(\[[^\]]*\]|[^:\[\]]*):[^:]*$`},
	"Upstream.max_retries": {"minimum": -1},
	"RetryBudget.ratio": {"anyOf": []any{
		map[string]any{"const": -1}, map[string]any{"minimum": 0, "maximum": 1}}},
	"RetryBudget.floor":            {"minimum": 0},
	"Route.max_body_bytes":         {"minimum": 0},
	"RouteDefaults.max_body_bytes": {"minimum": 0},
	"Breaker.min_calls":            {"minimum": 0},
	"Breaker.failure_ratio":        {"minimum": 0, "maximum": 1},
	"Ejection.consecutive_faults":  {"minimum": 0},
	"Ejection.max_ejected_percent": {"minimum": 0, "maximum": 100},
	"ConcurrencyLimit.min":         {"minimum": 0},
	"ConcurrencyLimit.max":         {"minimum": 0},
	"ConcurrencyLimit.tolerance":   {"anyOf": []any{map[string]any{"const": 0}, map[string]any{"minimum": 1}}},
	"Service.strategy":             {"enum": []string{"", "least_loaded", "round_robin", "random", "weighted"}},
	"CanarySplit":                  {"required": []string{"version", "weight"}},
	"CanarySplit.weight":           {"minimum": 0, "maximum": 1},
	"Route": {"required": []string{"path"}, "oneOf": []any{ // a service, or an answer of the gateway's own
		map[string]any{"required": []string{"service"}},
		map[string]any{"required": []string{"redirect"}},
		map[string]any{"required": []string{"respond"}}}},
	"Redirect": {"required": []string{"to"}},
	"Redirect.status": {"anyOf": []any{map[string]any{"const": 0}, map[string]any{"const": 301}, map[string]any{"const": 302},
		map[string]any{"const": 303}, map[string]any{"const": 307}, map[string]any{"const": 308}}},
	"Respond.status":         {"anyOf": []any{map[string]any{"const": 0}, map[string]any{"minimum": 200, "maximum": 599}}},
	"Route.method":           {"pattern": methodPattern()},
	"Route.path":             {"pattern": "^/"},
	"Route.service":          {"minLength": 1},
	"Route.endpoint":         {"pattern": `^([A-Za-z][A-Za-z0-9_]{0,127}\.[A-Za-z][A-Za-z0-9_]{0,127})?$`},
	"Route.upgrades":         {"items": map[string]any{"type": "string", "pattern": "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"}},
	"RateLimit":              {"required": []string{"rps"}},
	"RateLimit.rps":          {"exclusiveMinimum": 0},
	"RateLimit.burst":        {"minimum": 0},
	"RateLimit.max_keys":     {"minimum": 0},
	"Compress.max_encoders":  {"minimum": 0},
	"Tracing.client_context": {"enum": []string{"", ClientContextLink, ClientContextContinue}},
	"RateLimit.key":          {"pattern": "^(|ip|subject|header:[ \t]*[^ \t:]+[ \t]*)$"},
	"CORS": {"anyOf": []any{ // origins, unless the policy is switched off
		map[string]any{"required": []string{"origins"}, "properties": map[string]any{"origins": map[string]any{"minItems": 1}}},
		map[string]any{"required": []string{"disabled"}, "properties": map[string]any{"disabled": map[string]any{"const": true}}}}},
	"JWTProvider":            {"required": []string{"algorithms", "keys"}},
	"APIKeyProvider":         {"required": []string{"keys_file"}},
	"JWTProvider.algorithms": {"minItems": 1, "items": map[string]any{"enum": middleware.JWTAlgorithms}},
	"JWTProvider.keys":       {"minItems": 1},
	"JWTProvider.cache_size": {"minimum": -1},
	"JWTKey":                 {"oneOf": oneKeySource()},
	"Config.trusted_proxies": {"items": map[string]any{"type": "string", "minLength": 1}},
	"Certificate":            {"required": []string{"cert_file", "key_file"}},
}

// methodPattern matches the methods a route may name, in any case (the
// decoder upper-cases them).
func methodPattern() string {
	var alts []string
	for _, m := range []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"} {
		var b strings.Builder
		for _, c := range m {
			b.WriteString("[" + string(c) + strings.ToLower(string(c)) + "]")
		}
		alts = append(alts, b.String())
	}
	return `^(\*|` + strings.Join(alts, "|") + `)$`
}

// oneKeySource says that a JWT key names exactly one source.
func oneKeySource() []any {
	var out []any
	for _, k := range []string{"hmac_secret_env", "hmac_secret_file", "public_key_file"} {
		out = append(out, map[string]any{"required": []string{k}})
	}
	return out
}
