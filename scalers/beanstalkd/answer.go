package beanstalkd

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// MaxAnswerBytes caps the body of one answer: a stats-tube dictionary is
// some 400 bytes.
const MaxAnswerBytes = 64 << 10

// maxLineBytes caps an answer's first line.
const maxLineBytes = 256

// ErrAnswer marks an answer that is not what the protocol says; it is
// also a scalers.ErrNoData.
var ErrAnswer error = noData("unexpected answer")

// ErrNotFound is the NOT_FOUND answer to stats-tube: the server knows no
// such tube (it has no jobs and no client uses or watches it).
var ErrNotFound = errors.New("tube not found")

type noData string

func (e noData) Error() string        { return string(e) }
func (e noData) Is(target error) bool { return target == scalers.ErrNoData }

// ReadAnswer reads one answer to stats-tube: the body of "OK <bytes>",
// or ErrNotFound for NOT_FOUND. An error answer of the server
// (BAD_FORMAT, OUT_OF_MEMORY, ...) or anything else is an ErrAnswer
// naming it; an answer cut short is the reader's error (io.EOF,
// io.ErrUnexpectedEOF or a timeout), which the caller reports as the
// source being unavailable.
func ReadAnswer(r *bufio.Reader) ([]byte, error) {
	line, err := readLine(r)
	if err != nil {
		return nil, err
	}
	word, rest, _ := strings.Cut(line, " ")
	switch word {
	case "NOT_FOUND":
		if rest == "" {
			return nil, ErrNotFound
		}
	case "OK":
		n, err := strconv.Atoi(rest)
		if err != nil || n < 0 || strconv.Itoa(n) != rest {
			return nil, fmt.Errorf("%w: %s", ErrAnswer, scalers.Quote(line))
		}
		if n > MaxAnswerBytes {
			return nil, fmt.Errorf("%w: a body of %d bytes, more than %d", ErrAnswer, n, MaxAnswerBytes)
		}
		body := make([]byte, n+2)
		if _, err := io.ReadFull(r, body); err != nil {
			return nil, err
		}
		if string(body[n:]) != "\r\n" {
			return nil, fmt.Errorf("%w: the body of %d bytes is not followed by CRLF", ErrAnswer, n)
		}
		return body[:n], nil
	case "BAD_FORMAT", "UNKNOWN_COMMAND", "OUT_OF_MEMORY", "INTERNAL_ERROR", "DRAINING":
		return nil, fmt.Errorf("%w: the server answered %s", ErrAnswer, word)
	}
	return nil, fmt.Errorf("%w: %s", ErrAnswer, scalers.Quote(line))
}

// readLine reads a CRLF-terminated line of at most maxLineBytes.
func readLine(r *bufio.Reader) (string, error) {
	var b strings.Builder
	for {
		frag, err := r.ReadSlice('\n')
		b.Write(frag)
		if b.Len() > maxLineBytes {
			return "", fmt.Errorf("%w: a line longer than %d bytes", ErrAnswer, maxLineBytes)
		}
		if err == nil {
			break
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return "", err
		}
	}
	line := b.String()
	if !strings.HasSuffix(line, "\r\n") {
		return "", fmt.Errorf("%w: a line not ended by CRLF: %s", ErrAnswer, scalers.Quote(line))
	}
	return line[:len(line)-2], nil
}

// TubeStats are the counts of a stats-tube answer that KEDA reads.
type TubeStats struct {
	Name                                            string
	Ready, Reserved, Delayed, Buried, Urgent, Total int64
}

// statsKeys are the keys of TubeStats; the others are ignored.
var statsKeys = map[string]func(*TubeStats) *int64{
	"current-jobs-ready":    func(s *TubeStats) *int64 { return &s.Ready },
	"current-jobs-reserved": func(s *TubeStats) *int64 { return &s.Reserved },
	"current-jobs-delayed":  func(s *TubeStats) *int64 { return &s.Delayed },
	"current-jobs-buried":   func(s *TubeStats) *int64 { return &s.Buried },
	"current-jobs-urgent":   func(s *TubeStats) *int64 { return &s.Urgent },
	"total-jobs":            func(s *TubeStats) *int64 { return &s.Total },
}

// ParseStats decodes the YAML dictionary of a stats-tube answer ("---"
// then "key: value" lines, as beanstalkd writes it). The counts KEDA adds
// (ready, reserved, delayed) must be there, as non-negative integers; a
// line that is not "key: value" is an ErrAnswer.
func ParseStats(body []byte) (TubeStats, error) {
	var s TubeStats
	seen := map[string]bool{}
	for i, line := range strings.Split(strings.TrimSuffix(string(body), "\n"), "\n") {
		line = strings.TrimSuffix(line, "\r")
		if i == 0 && line == "---" {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok || k == "" || strings.TrimSpace(k) != k {
			return TubeStats{}, fmt.Errorf("%w: line %d of the stats is not key: value: %s", ErrAnswer, i+1, scalers.Quote(line))
		}
		v = strings.TrimSpace(v)
		if k == "name" {
			s.Name = v
			continue
		}
		field, ok := statsKeys[k]
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return TubeStats{}, fmt.Errorf("%w: %s %s is not a count", ErrAnswer, k, scalers.Quote(v))
		}
		*field(&s) = n
		seen[k] = true
	}
	for _, k := range []string{"current-jobs-ready", "current-jobs-reserved", "current-jobs-delayed"} {
		if !seen[k] {
			return TubeStats{}, fmt.Errorf("%w: the stats have no %s", ErrAnswer, k)
		}
	}
	return s, nil
}

// Jobs is KEDA's count: ready plus reserved jobs, plus delayed ones when
// includeDelayed is set. Buried jobs do not count. It saturates instead
// of overflowing.
func Jobs(s TubeStats, includeDelayed bool) int64 {
	add := func(a, b int64) int64 {
		if a > (1<<63-1)-b {
			return 1<<63 - 1
		}
		return a + b
	}
	n := add(s.Ready, s.Reserved)
	if includeDelayed {
		n = add(n, s.Delayed)
	}
	return n
}
