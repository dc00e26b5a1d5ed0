// Package config reads the gateway's YAML configuration: parse, apply
// defaults, validate, and only then hand it over, so that a bad file never
// replaces a good running configuration. Every error names the file, line and
// column of the value at fault.
//
// docs/configuration.md is the reference of every field.
package config
