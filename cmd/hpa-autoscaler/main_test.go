package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestExitCodes(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
		code int
		// wantOut and wantErr are the whole of stdout and stderr, except
		// that a help text is only checked for outContains.
		wantOut     string
		outContains string
		wantErr     string
	}{
		{name: "version", args: []string{"version"}, code: 0, wantOut: "hpa-autoscaler " + version + "\n"},
		{name: "no command shows help", args: nil, code: 0, outContains: "Available Commands"},
		{name: "unknown command", args: []string{"nope"}, code: 2, wantErr: "error: unknown command \"nope\" for \"hpa-autoscaler\"\n"},
		{name: "extra argument", args: []string{"version", "x"}, code: 2, wantErr: "error: unknown command \"x\" for \"hpa-autoscaler version\"\n"},
		{name: "unknown flag", args: []string{"version", "--nope"}, code: 2, wantErr: "error: unknown flag: --nope\n"},
		{name: "bad log format", args: []string{"--log-format", "xml", "version"}, code: 2, wantErr: "error: --log-format \"xml\": expected json or text\n"},
		{name: "bad log level", args: []string{"--log-level", "loud", "version"}, code: 2, wantErr: "error: --log-level \"loud\": expected debug, info, warn or error\n"},
		{name: "bad env value", args: []string{"version"}, env: map[string]string{"HPA_LOG_FORMAT": "xml"}, code: 2, wantErr: "error: --log-format \"xml\": expected json or text\n"},
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
			if tc.outContains != "" {
				if !strings.Contains(out.String(), tc.outContains) {
					t.Errorf("stdout %q, want it to contain %q", out.String(), tc.outContains)
				}
			} else if diff := cmp.Diff(tc.wantOut, out.String()); diff != "" {
				t.Errorf("stdout (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantErr, errb.String()); diff != "" {
				t.Errorf("stderr (-want +got):\n%s", diff)
			}
		})
	}
}
