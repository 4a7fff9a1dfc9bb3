package config

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

// TestREADMEDocumentsEveryKey keeps the README's configuration reference in
// step with the Config struct: every key, nested ones by their full
// dotted name and list items as name[].key, appears there in backticks.
func TestREADMEDocumentsEveryKey(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	for _, key := range allKeys(reflect.TypeOf(Config{}), "") {
		if !strings.Contains(readme, "`"+key+"`") {
			t.Errorf("README.md does not document the configuration key `%s`", key)
		}
	}
}

// allKeys lists every key of t's mapstructure tags.
func allKeys(t reflect.Type, prefix string) []string {
	var out []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("mapstructure")
		if tag == "" || tag == "-" {
			continue
		}
		key := prefix + tag
		switch {
		case f.Type.Kind() == reflect.Struct && f.Type.String() != "time.Duration":
			out = append(out, allKeys(f.Type, key+".")...)
		case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct:
			out = append(out, key)
			out = append(out, allKeys(f.Type.Elem(), key+"[].")...)
		default:
			out = append(out, key)
		}
	}
	return out
}
