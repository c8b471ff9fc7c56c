package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestExitCodes(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		code    int
		wantOut string
		wantErr string
	}{
		{name: "version", args: []string{"version"}, code: 0, wantOut: "hpa-autoscaler "},
		{name: "no command shows help", args: nil, code: 0, wantOut: "Available Commands"},
		{name: "unknown command", args: []string{"nope"}, code: 2, wantErr: `unknown command "nope"`},
		{name: "extra argument", args: []string{"version", "x"}, code: 2, wantErr: `unknown command "x"`},
		{name: "unknown flag", args: []string{"version", "--nope"}, code: 2, wantErr: "unknown flag: --nope"},
		{name: "bad log format", args: []string{"--log-format", "xml", "version"}, code: 2, wantErr: `--log-format "xml"`},
		{name: "bad log level", args: []string{"--log-level", "loud", "version"}, code: 2, wantErr: `--log-level "loud"`},
		{name: "bad env value", args: []string{"version"}, env: map[string]string{"HPA_LOG_FORMAT": "xml"}, code: 2, wantErr: `--log-format "xml"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var out, errb bytes.Buffer
			code := run(t.Context(), tc.args, strings.NewReader(""), &out, &errb)
			if code != tc.code {
				t.Fatalf("exit code %d, want %d (stderr %q)", code, tc.code, errb.String())
			}
			if !strings.Contains(out.String(), tc.wantOut) {
				t.Errorf("stdout %q, want it to contain %q", out.String(), tc.wantOut)
			}
			if !strings.Contains(errb.String(), tc.wantErr) {
				t.Errorf("stderr %q, want it to contain %q", errb.String(), tc.wantErr)
			}
		})
	}
}
