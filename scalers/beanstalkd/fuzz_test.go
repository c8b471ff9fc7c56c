package beanstalkd

import (
	"bufio"
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// FuzzParseMetadata: any metadata is accepted with a host:port server and
// a tube that is one protocol word, or refused with an ErrInvalidConfig;
// what ParseMetadata accepts New builds. (The type has no secret: a
// beanstalkd server has no authentication.)
func FuzzParseMetadata(f *testing.F) {
	for _, seed := range []string{
		"server=localhost:3000\ntube=delayed\nvalue=1\nincludeDelayed=true",
		"server=[::1]:11300\ntube=a/b.c(d)$e+f;g\nvalue=0.5\nactivationValue=-1\ntimeout=1000",
		"server=b\ntube=jobs\r\nkick 9\nvalue=lots",
		"server=tcp://b:1\ntube=-x\nvalue=0\ntimeout=-1",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		md := scalertest.LinesToMap(in)
		m, err := ParseMetadata(md)
		if err != nil {
			if !errors.Is(err, scalers.ErrInvalidConfig) {
				t.Fatalf("error %v does not wrap ErrInvalidConfig", err)
			}
			return
		}
		if m.Server == "" || checkTube(m.Tube) != "" || m.Tube == "" || !(m.Value > 0) || m.Timeout < 0 {
			t.Fatalf("accepted invalid metadata: %+v", m)
		}
		if strings.ContainsAny(m.Tube, " \r\n") || len(m.Tube) > MaxTubeBytes {
			t.Fatalf("tube %q is not one protocol word", m.Tube)
		}
		s, err := New(t.Context(), scalers.Config{Metadata: md})
		if err != nil {
			t.Fatalf("ParseMetadata accepted what New refuses: %v", err)
		}
		_ = s.Close()
	})
}

// FuzzAnswer: any bytes from the server are a stats body, ErrNotFound, an
// ErrAnswer (also ErrNoData) or the reader's error, never a panic or a
// read past MaxAnswerBytes; a body that parses gives a count of 0 or
// more.
func FuzzAnswer(f *testing.F) {
	for _, seed := range []string{
		okAnswer(statsYAML(10, 0, 0, 6)), "NOT_FOUND\r\n", "BAD_FORMAT\r\n", "OK 3\r\nabc\r\n", "OK 99999999\r\n",
		"OK 10\r\n---\na: 1\r\n", "OK 4\r\n---\n\r\n", okAnswer("---\ncurrent-jobs-ready: 9223372036854775807\ncurrent-jobs-reserved: 9223372036854775807\ncurrent-jobs-delayed: 1\n"),
		"", "\r\n", "OK\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		body, err := ReadAnswer(bufio.NewReader(bytes.NewReader(in)))
		if err != nil {
			if len(err.Error()) > 1024 {
				t.Fatalf("error of %d bytes", len(err.Error()))
			}
			return
		}
		if len(body) > MaxAnswerBytes {
			t.Fatalf("body of %d bytes", len(body))
		}
		st, err := ParseStats(body)
		if err != nil {
			if !errors.Is(err, ErrAnswer) || !errors.Is(err, scalers.ErrNoData) {
				t.Fatalf("error %v does not wrap ErrAnswer and ErrNoData", err)
			}
			return
		}
		if Jobs(st, true) < 0 || Jobs(st, false) < 0 {
			t.Fatalf("negative count of %+v", st)
		}
	})
}
