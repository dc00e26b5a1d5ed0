package rpc

import (
	"encoding/json"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"
)

// A refused request body's detail goes to whoever sent it, through the
// gateway to the public: encoding/json's own words name the handler's Go
// types ("cannot unmarshal string into Go struct field CreateOrder.items.qty
// of type int"), which are the service's business, not the caller's. So the
// detail of a body whose value does not fit says where, in the body's own
// member names, and which JSON value was wanted: `field "items.qty": a
// string where an integer is wanted`. A syntax error keeps the decoder's
// words, which speak of the body only, and an UnmarshalJSON method's error
// is given as its author wrote it, as encoding/json returns it. What the
// detail repeats of the body (a number, a member's path) is cut to maxEcho
// bytes.

// decodeDetail returns the detail of a 400 for err, json's refusal of a
// request body.
func decodeDetail(err error) string {
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) {
		return err.Error()
	}
	got, want := jsonValue(te.Value), wantedOf(te.Type)
	if te.Field == "" {
		return "the body is " + got + " where " + want + " is wanted"
	}
	return `field "` + clip(te.Field) + `": ` + got + " where " + want + " is wanted"
}

// maxEcho bounds each piece of the body that a detail repeats: a number of
// a megabyte that did not fit its field was repeated whole, a detail as
// large as the body, written, escaped, by the backend and passed on by the
// gateway to whoever sent it and to every log on the way.
const maxEcho = 64

// clip returns s, or its first maxEcho bytes (cut where a character
// starts) and how long it was.
func clip(s string) string {
	if len(s) <= maxEcho {
		return s
	}
	n := maxEcho
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "… (" + strconv.Itoa(len(s)) + " bytes)"
}

// jsonValue words encoding/json's description of a JSON value ("string",
// "number 1.5", "bool").
func jsonValue(v string) string {
	switch {
	case v == "bool":
		return "a boolean"
	case v == "array", v == "object":
		return "an " + v
	case strings.HasPrefix(v, "number "):
		return "the number " + clip(strings.TrimPrefix(v, "number "))
	case v == "":
		return "a value"
	}
	return "a " + v
}

// wantedOf is the JSON value that a Go value of type t decodes from.
func wantedOf(t reflect.Type) string {
	if t == nil {
		return "another value"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return "an integer in range"
	case reflect.Float32, reflect.Float64:
		return "a number in range"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return "a base64 string"
		}
		return "an array"
	case reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	}
	return "another value"
}
