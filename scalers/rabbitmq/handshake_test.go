package rabbitmq

import (
	"bytes"
	"encoding/binary"
	"net"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// field is one entry of an AMQP field table, for building frames.
type field struct {
	key  string
	typ  byte
	data []byte // the value's bytes after the type
}

func longstr(s string) []byte { return binary.BigEndian.AppendUint32(nil, uint32(len(s))) }

func str(key, v string) field { return field{key, 'S', append(longstr(v), v...)} }

func boolean(key string) field { return field{key, 't', []byte{1}} }

func table(key string, fs ...field) field {
	b := encodeTable(fs...)
	return field{key, 'F', b}
}

// encodeTable encodes fields as a field table: length, then entries.
func encodeTable(fs ...field) []byte {
	var entries []byte
	for _, f := range fs {
		entries = append(entries, byte(len(f.key)))
		entries = append(entries, f.key...)
		entries = append(entries, f.typ)
		entries = append(entries, f.data...)
	}
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(entries))), entries...)
}

// startOK is a connection.start-ok frame with the client properties
// props, mechanism PLAIN, a response and the locale.
func startOK(props ...field) []byte {
	payload := []byte{0, 10, 0, 11}
	payload = append(payload, encodeTable(props...)...)
	payload = append(payload, 5)
	payload = append(payload, "PLAIN"...)
	payload = append(payload, longstr("\x00u\x00secret-pw")...)
	payload = append(payload, "\x00u\x00secret-pw"...)
	payload = append(payload, 5)
	payload = append(payload, "en_US"...)
	return frame(1, payload)
}

func frame(typ byte, payload []byte) []byte {
	f := []byte{typ, 0, 0}
	f = binary.BigEndian.AppendUint32(f, uint32(len(payload)))
	f = append(f, payload...)
	return append(f, 0xCE)
}

func TestWithAuthFailureClose(t *testing.T) {
	props := []field{str("product", "AMQP 0.9.1 Client"), str("connection_name", "hpa-autoscaler-shop-worker")}
	caps := []field{boolean("connection.blocked"), boolean("basic.nack")}
	withCap := append(caps[:len(caps):len(caps)], boolean("authentication_failure_close"))
	tests := []struct {
		name     string
		in, want []byte
	}{
		{"added to the capabilities",
			startOK(append(props, table("capabilities", caps...))...),
			startOK(append(props, table("capabilities", withCap...))...)},
		{"capabilities first",
			startOK(table("capabilities", caps...), str("product", "x")),
			startOK(table("capabilities", withCap...), str("product", "x"))},
		{"empty capabilities",
			startOK(table("capabilities")),
			startOK(table("capabilities", boolean("authentication_failure_close")))},
		{"already there", startOK(table("capabilities", withCap...)), startOK(table("capabilities", withCap...))},
		{"no capabilities", startOK(props...), startOK(props...)},
		{"capabilities not a table", startOK(str("capabilities", "none")), startOK(str("capabilities", "none"))},
		{"a field type it does not know", startOK(field{"x", '?', []byte{1}}, table("capabilities")), startOK(field{"x", '?', []byte{1}}, table("capabilities"))},
		{"truncated", startOK(table("capabilities"))[:20], startOK(table("capabilities"))[:20]},
		{"no frame end", append(startOK(table("capabilities"))[:30:30], 0), append(startOK(table("capabilities"))[:30:30], 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := bytes.Clone(tt.in)
			got := withAuthFailureClose(in)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("frame (-want +got):\n%s", diff)
			}
			if !bytes.Equal(in, tt.in) {
				t.Errorf("the input frame was changed")
			}
		})
	}
}

// FuzzWithAuthFailureClose: any bytes come back unchanged or as a frame
// 31 bytes longer (the entry) whose size field says so; never a panic.
func FuzzWithAuthFailureClose(f *testing.F) {
	f.Add(startOK(str("product", "p"), table("capabilities", boolean("basic.nack"))))
	f.Add(startOK(table("capabilities")))
	f.Add([]byte{1, 0, 0, 0, 0, 0, 4, 0, 10, 0, 11, 0xCE})
	f.Fuzz(func(t *testing.T, in []byte) {
		orig := bytes.Clone(in)
		out := withAuthFailureClose(in)
		if bytes.Equal(out, orig) {
			return
		}
		if len(out) != len(orig)+31 {
			t.Fatalf("got %d bytes from %d, want the same or 31 more", len(out), len(orig))
		}
		if size := binary.BigEndian.Uint32(out[3:7]); int(size) != len(out)-8 {
			t.Fatalf("frame size %d, want %d", size, len(out)-8)
		}
		if !bytes.Contains(out, []byte("\x1cauthentication_failure_closet\x01")) {
			t.Fatalf("the capability is not in %q", out)
		}
	})
}

// recorder is a net.Conn that keeps what is written to it.
type recorder struct {
	net.Conn
	writes [][]byte
}

func (r *recorder) Write(p []byte) (int, error) {
	r.writes = append(r.writes, bytes.Clone(p))
	return len(p), nil
}

// TestHandshakeConn: the frames the library writes pass through whole
// and in order, start-ok with the capability added even when it is
// written in pieces; each frame the client waits after is reported; after
// connection.open everything passes as it is written.
func TestHandshakeConn(t *testing.T) {
	header := []byte("AMQP\x00\x00\x09\x01")
	ok := startOK(table("capabilities", boolean("basic.nack")))
	okWant := startOK(table("capabilities", boolean("basic.nack"), boolean("authentication_failure_close")))
	tuneOK := frame(1, []byte{0, 10, 0, 31, 0, 1, 0, 0, 0x10, 0, 0, 60})
	open := frame(1, []byte{0, 10, 0, 40, 1, 'v', 0, 0})
	heartbeat := frame(8, nil)
	after := []byte("anything at all")

	rec := &recorder{}
	var stages []string
	c := newHandshakeConn(rec, func(s string) { stages = append(stages, s) })
	for _, p := range [][]byte{header, ok[:5], ok[5:40], ok[40:], append(bytes.Clone(tuneOK), heartbeat...), open[:3], append(open[3:], after[:4]...), after[4:]} {
		if n, err := c.Write(p); n != len(p) || err != nil {
			t.Fatalf("Write(%d bytes): %d, %v", len(p), n, err)
		}
	}
	want := [][]byte{header, okWant, tuneOK, heartbeat, open, after[:4], after[4:]}
	if diff := cmp.Diff(want, rec.writes); diff != "" {
		t.Errorf("written (-want +got):\n%s", diff)
	}
	wantStages := []string{"waiting for connection.start", "login: waiting for the answer to connection.start-ok", "waiting for connection.open-ok"}
	if diff := cmp.Diff(wantStages, stages); diff != "" {
		t.Errorf("stages (-want +got):\n%s", diff)
	}
}

// TestHandshakeConnNotAMQP: bytes that are not the protocol header pass
// through at once.
func TestHandshakeConnNotAMQP(t *testing.T) {
	rec := &recorder{}
	c := newHandshakeConn(rec, func(string) {})
	for _, p := range []string{"GET / HTTP/1.1\r\n", "\r\n"} {
		if _, err := c.Write([]byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff([][]byte{[]byte("GET / HTTP/1.1\r\n"), []byte("\r\n")}, rec.writes); diff != "" {
		t.Errorf("written (-want +got):\n%s", diff)
	}
}

func TestDescribeAnswer(t *testing.T) {
	tests := []struct {
		first, want string
	}{
		{"", ""},
		{"\x01\x00\x00\x00\x00\x01\x00\x00\x0a\x00\x0a", ""},
		{"AMQP\x00\x00\x09\x01", `the broker refused the protocol version (it answered with the protocol header "AMQP\x00\x00\t\x01"): it does not speak AMQP 0-9-1`},
		{"HTTP/1.1 400 Bad", "an HTTP server answered, not an AMQP broker: is host the broker's AMQP port (5672, or 5671 for amqps://)? (the management API takes an http:// host)"},
		{"\x15\x03\x03\x00\x02\x02\x46", "a TLS server answered: use an amqps:// host (with tls enable for ca, cert and key)"},
		{"+OK redis", `the server answered "+OK redis", not AMQP 0-9-1: is host the broker's AMQP port?`},
	}
	for _, tt := range tests {
		if got := describeAnswer([]byte(tt.first)); got != tt.want {
			t.Errorf("describeAnswer(%q): got %q, want %q", tt.first, got, tt.want)
		}
	}
}
