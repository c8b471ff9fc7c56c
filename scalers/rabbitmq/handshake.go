package rabbitmq

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
)

// handshakeConn is the connection the AMQP library talks through. Until
// the client has sent connection.open it reads the frames the library
// writes, and:
//
//   - adds the capability authentication_failure_close to the client
//     properties of connection.start-ok. amqp091-go does not send it, and
//     without it RabbitMQ answers refused credentials by closing the
//     socket 3 s later (its delay against password guessing), as long as
//     the default bound of a call: the login failure would look like a
//     broker that does not answer. With it, the broker sends
//     connection.close 403 ACCESS_REFUSED at once;
//   - reports what the client now waits for (onStage), for the message of
//     a broker that does not answer;
//   - keeps the first bytes the server sent (First), to tell a server of
//     another protocol (HTTP, TLS) from a broker.
//
// A frame it cannot read is passed on unchanged, and so is everything
// after connection.open.
type handshakeConn struct {
	net.Conn
	onStage func(waitingFor string)

	mu      sync.Mutex
	pending []byte // written by the library, not yet a whole frame
	header  bool   // the protocol header was passed on
	through bool   // the handshake is over: pass everything on

	firstMu  sync.Mutex
	first    []byte
	readErr  error       // the first read error
	haveRead atomic.Bool // first is complete and readErr set
}

const (
	// firstBytes is how much of the server's first answer is kept.
	firstBytes = 16
	// maxPendingFrame bounds what is held back to find a frame's end: a
	// start-ok with a token for a password is a few kilobytes.
	maxPendingFrame = 1 << 20
)

func newHandshakeConn(c net.Conn, onStage func(string)) *handshakeConn {
	return &handshakeConn{Conn: c, onStage: onStage}
}

// Read keeps the first bytes the server sends, and the first read error:
// what ended a handshake that failed without a word from the broker (the
// library reports it, or only that the connection is closed, depending on
// which of its goroutines notices first).
func (c *handshakeConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if (n > 0 || err != nil) && !c.haveRead.Load() {
		c.firstMu.Lock()
		c.first = append(c.first, p[:min(n, firstBytes-len(c.first))]...)
		if err != nil && c.readErr == nil {
			c.readErr = err
		}
		if len(c.first) == firstBytes || c.readErr != nil {
			c.haveRead.Store(true)
		}
		c.firstMu.Unlock()
	}
	return n, err
}

// First returns up to 16 bytes the server sent first, and the error that
// ended reading if it ended before those came.
func (c *handshakeConn) First() ([]byte, error) {
	c.firstMu.Lock()
	defer c.firstMu.Unlock()
	return bytes.Clone(c.first), c.readErr
}

// Write passes p on, whole frames at a time until the handshake is over.
// It reports all of p written, or the error of the underlying write.
func (c *handshakeConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.through {
		return c.Conn.Write(p)
	}
	c.pending = append(c.pending, p...)
	for !c.through {
		n := c.unitLen()
		if n <= 0 || n > len(c.pending) {
			break
		}
		unit := c.pending[:n]
		out := unit
		if !c.header {
			c.header = true
			c.onStage("waiting for connection.start")
		} else {
			switch class, method, ok := methodOf(unit); {
			case !ok:
			case class == 10 && method == 11: // connection.start-ok
				out = withAuthFailureClose(unit)
				c.onStage("login: waiting for the answer to connection.start-ok")
			case class == 10 && method == 40: // connection.open
				c.onStage("waiting for connection.open-ok")
				c.through = true
			}
		}
		if _, err := c.Conn.Write(out); err != nil {
			c.pending = nil
			return 0, err
		}
		c.pending = c.pending[n:]
	}
	if c.through || len(c.pending) > maxPendingFrame || c.unitLen() < 0 {
		// Past the handshake, or something this reader does not follow:
		// pass on what is held back and everything after it.
		c.through = true
		rest := c.pending
		c.pending = nil
		if len(rest) > 0 {
			if _, err := c.Conn.Write(rest); err != nil {
				return 0, err
			}
		}
	}
	return len(p), nil
}

// unitLen returns the length of the next unit the client writes: the
// 8-byte protocol header first, then frames (type, channel, size, payload,
// end byte). 0 means more bytes are needed to know; -1 means the bytes are
// not what the library writes.
func (c *handshakeConn) unitLen() int {
	b := c.pending
	if !c.header {
		if len(b) < 8 {
			return 0
		}
		if !bytes.HasPrefix(b, []byte("AMQP")) {
			return -1
		}
		return 8
	}
	if len(b) < 7 {
		return 0
	}
	size := binary.BigEndian.Uint32(b[3:7])
	if size > maxPendingFrame {
		return -1
	}
	return 7 + int(size) + 1
}

// methodOf returns the class and method of a method frame on channel 0.
func methodOf(frame []byte) (class, method uint16, ok bool) {
	if len(frame) < 12 || frame[0] != 1 || frame[1] != 0 || frame[2] != 0 {
		return 0, 0, false
	}
	return binary.BigEndian.Uint16(frame[7:9]), binary.BigEndian.Uint16(frame[9:11]), true
}

const authFailureClose = "authentication_failure_close"

// withAuthFailureClose returns the connection.start-ok frame with
// authentication_failure_close=true added to the capabilities table of its
// client properties. A frame without that table, with the capability
// already in it, or that does not parse is returned as it is.
func withAuthFailureClose(frame []byte) []byte {
	// frame: type(1) channel(2) size(4) | class(2) method(2) properties(table) ... | end(1)
	const props = 11
	if len(frame) < props+4+1 || frame[len(frame)-1] != 0xCE || int(binary.BigEndian.Uint32(frame[3:7])) != len(frame)-8 {
		return frame
	}
	body := frame[:len(frame)-1]
	tableLen := int(binary.BigEndian.Uint32(body[props:]))
	tableEnd := props + 4 + tableLen
	if tableEnd > len(body) {
		return frame
	}
	capStart, capEnd, ok := findTable(body[props+4:tableEnd], "capabilities")
	if !ok {
		return frame
	}
	capStart += props + 4 // the capabilities table's length field
	capEnd += props + 4
	if _, _, dup := findField(body[capStart+4:capEnd], authFailureClose); dup {
		return frame
	}
	entry := append([]byte{byte(len(authFailureClose))}, authFailureClose...)
	entry = append(entry, 't', 1)

	out := make([]byte, 0, len(frame)+len(entry))
	out = append(out, frame[:capEnd]...)
	out = append(out, entry...)
	out = append(out, frame[capEnd:]...)
	grow := func(at int) {
		binary.BigEndian.PutUint32(out[at:], binary.BigEndian.Uint32(out[at:])+uint32(len(entry)))
	}
	grow(3)        // frame size
	grow(props)    // client properties
	grow(capStart) // capabilities
	return out
}

// findTable finds the field key of type table ('F') in the entries of a
// field table, and returns where its value's length field starts and where
// its value ends.
func findTable(entries []byte, key string) (start, end int, ok bool) {
	typ, at, found := findField(entries, key)
	if !found || typ != 'F' {
		return 0, 0, false
	}
	n, ok := fieldLen('F', entries[at:])
	if !ok {
		return 0, 0, false
	}
	return at, at + n, true
}

// findField finds key in the entries of a field table: its type and where
// its value starts.
func findField(entries []byte, key string) (typ byte, at int, ok bool) {
	for i := 0; i < len(entries); {
		klen := int(entries[i])
		if i+1+klen+1 > len(entries) {
			return 0, 0, false
		}
		k := string(entries[i+1 : i+1+klen])
		typ := entries[i+1+klen]
		at := i + 1 + klen + 1
		n, ok := fieldLen(typ, entries[at:])
		if !ok || at+n > len(entries) {
			return 0, 0, false
		}
		if k == key {
			return typ, at, true
		}
		i = at + n
	}
	return 0, 0, false
}

// fieldLen is the length of a field value of type typ at the start of b
// (the AMQP 0-9-1 field types as RabbitMQ reads them).
func fieldLen(typ byte, b []byte) (int, bool) {
	switch typ {
	case 'V':
		return 0, true
	case 't', 'b', 'B':
		return 1, true
	case 's', 'u':
		return 2, true
	case 'I', 'i', 'f':
		return 4, true
	case 'D':
		return 5, true
	case 'l', 'L', 'd', 'T':
		return 8, true
	case 'S', 'x', 'F', 'A':
		if len(b) < 4 {
			return 0, false
		}
		return 4 + int(binary.BigEndian.Uint32(b)), true
	}
	return 0, false
}

// describeAnswer says what kind of server sent first, for the message of
// a handshake that failed before connection.start: "" if it looks like
// AMQP or nothing came.
func describeAnswer(first []byte) string {
	switch {
	case len(first) == 0:
		return ""
	case first[0] == 1:
		return "" // a method frame: AMQP
	case bytes.HasPrefix(first, []byte("AMQP")):
		return fmt.Sprintf("the broker refused the protocol version (it answered with the protocol header %q): it does not speak AMQP 0-9-1", first[:min(8, len(first))])
	case bytes.HasPrefix(first, []byte("HTTP/")):
		return "an HTTP server answered, not an AMQP broker: is host the broker's AMQP port (5672, or 5671 for amqps://)? (the management API takes an http:// host)"
	case first[0] == 0x15 || first[0] == 0x16:
		return "a TLS server answered: use an amqps:// host (with tls enable for ca, cert and key)"
	}
	return "the server answered " + strconv.Quote(string(first)) + ", not AMQP 0-9-1: is host the broker's AMQP port?"
}
