package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// TestTemplateIsGenerated fails when the committed template.yaml is not what go generate
// writes from template.in.yaml and package emf: after an edit of the source, or a change of
// the metrics, the dashboard or the alarms.
func TestTemplateIsGenerated(t *testing.T) {
	src, err := os.ReadFile("../template.in.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want, err := generate(src, "template.in.yaml")
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("../template.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("template.yaml is not what gentemplate writes: run go generate in examples/lambda-geo")
	}
}

// TestGenerateRefuses checks that a source the generated resources cannot fit is an error
// that says why, not a template that fails at deployment.
func TestGenerateRefuses(t *testing.T) {
	src, err := os.ReadFile("../template.in.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, old, new, want string }{
		{"a parameter missing", "  ServiceName:\n", "  Service:\n", "no parameter ServiceName"},
		{"the condition missing", "  HasAlarmTopic:", "  HasTopic:", "no condition HasAlarmTopic"},
		{"a generated resource's name taken", "  Table:\n", "  Dashboard:\n", "resource Dashboard is one gentemplate makes"},
		{"no Function", "  Function:\n", "  Fn:\n", "no resource Function"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !bytes.Contains(src, []byte(tc.old)) {
				t.Fatalf("the source has no %q", tc.old)
			}
			_, err := generate(bytes.Replace(src, []byte(tc.old), []byte(tc.new), 1), "template.in.yaml")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("generate: %v, want an error saying %q", err, tc.want)
			}
		})
	}
}
