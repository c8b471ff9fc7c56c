package kafka

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// saslBroker is a one-node Kafka cluster for the SASL mechanisms kfake does
// not speak (OAUTHBEARER), on a loopback port. It knows just enough of the
// protocol (through kmsg) for the scaler: ApiVersions, SaslHandshake and
// SaslAuthenticate, then Metadata, FindCoordinator, OffsetFetch and
// ListOffsets over one topic with fixed end offsets and one group with fixed
// commits. It answers a failed login as Kafka does (SASL_AUTHENTICATION_FAILED,
// after RFC 7628's error challenge for OAUTHBEARER), so the client sees the
// broker's reason.
//
// A request other than ApiVersions and the SASL ones before the login
// succeeded, or one the broker does not know, is a violation: the
// connection is closed and the test fails at cleanup.
type saslBroker struct {
	cfg  saslBrokerConfig
	ln   net.Listener
	host string
	port int32

	wg sync.WaitGroup

	mu         sync.Mutex
	closed     bool
	conns      map[net.Conn]bool
	logins     []login
	violations []string
}

type saslBrokerConfig struct {
	Topic     string
	Latest    []int64 // end offset of each partition of Topic
	Group     string
	Committed map[int32]int64
	// CheckToken accepts (nil) or refuses an OAUTHBEARER token.
	CheckToken func(token string) error
	// Plain are the PLAIN users and their passwords.
	Plain map[string]string
}

// login is one SaslAuthenticate exchange as the broker saw it.
type login struct {
	Mechanism  string
	Token      string            // OAUTHBEARER
	Extensions map[string]string // OAUTHBEARER
	User       string            // PLAIN
	OK         bool
}

// The versions the broker offers: enough for franz-go, old enough that each
// request has one shape (OffsetFetch before batched groups, FindCoordinator
// before batched keys).
var saslBrokerVersions = map[int16][2]int16{
	int16(kmsg.ApiVersions):      {0, kmsg.NewPtrApiVersionsRequest().MaxVersion()},
	int16(kmsg.SASLHandshake):    {0, 1},
	int16(kmsg.SASLAuthenticate): {0, 2},
	int16(kmsg.Metadata):         {1, 9},
	int16(kmsg.FindCoordinator):  {0, 3},
	int16(kmsg.OffsetFetch):      {1, 7},
	int16(kmsg.ListOffsets):      {1, 7},
}

func startSASLBroker(t testing.TB, cfg saslBrokerConfig) *saslBroker {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	p, _ := strconv.Atoi(port)
	b := &saslBroker{cfg: cfg, ln: ln, host: host, port: int32(p), conns: map[net.Conn]bool{}}
	b.wg.Go(b.accept)
	t.Cleanup(func() {
		b.close()
		for _, v := range b.violationList() {
			t.Errorf("sasl broker: %s", v)
		}
	})
	return b
}

func (b *saslBroker) addr() string { return b.ln.Addr().String() }

// close stops listening, closes every connection and waits for the
// broker's goroutines.
func (b *saslBroker) close() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.ln.Close()
	b.dropConnections()
	b.wg.Wait()
}

// dropConnections closes the open connections (as a broker restart would):
// the client logs in again on its next request.
func (b *saslBroker) dropConnections() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for c := range b.conns {
		c.Close()
	}
}

// loginList returns the logins so far, in order.
func (b *saslBroker) loginList() []login {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]login, len(b.logins))
	for i, l := range b.logins {
		l.Extensions = maps.Clone(l.Extensions)
		out[i] = l
	}
	return out
}

func (b *saslBroker) violationList() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.violations...)
}

func (b *saslBroker) violation(format string, args ...any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.violations = append(b.violations, fmt.Sprintf(format, args...))
}

func (b *saslBroker) accept() {
	for {
		c, err := b.ln.Accept()
		if err != nil {
			return // closed
		}
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			c.Close()
			return
		}
		b.conns[c] = true
		b.mu.Unlock()
		b.wg.Go(func() {
			defer func() {
				c.Close()
				b.mu.Lock()
				delete(b.conns, c)
				b.mu.Unlock()
			}()
			b.serve(c)
		})
	}
}

// cxnState is what a connection has negotiated.
type cxnState struct {
	mechanism     string
	authenticated bool
	failed        string // the reason of a refused OAUTHBEARER token, sent after the client's %x01
}

func (b *saslBroker) serve(c net.Conn) {
	r := bufio.NewReader(c)
	var st cxnState
	for {
		key, version, corr, body, err := readRequest(r)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				b.violation("read request: %v", err)
			}
			return
		}
		req := kmsg.RequestForKey(key)
		vr, offered := saslBrokerVersions[key]
		if req == nil || !offered || version < vr[0] || version > vr[1] {
			b.violation("request key %d version %d is not offered", key, version)
			return
		}
		req.SetVersion(version)
		if req.IsFlexible() {
			if body, err = skipTags(body); err != nil {
				b.violation("%s header: %v", kmsg.Key(key).Name(), err)
				return
			}
		}
		if err := req.ReadFrom(body); err != nil {
			b.violation("parse %s v%d: %v", kmsg.Key(key).Name(), version, err)
			return
		}
		resp, err := b.handle(&st, req)
		if err != nil {
			b.violation("%v", err)
			return
		}
		if err := writeResponse(c, key, corr, resp); err != nil {
			return // dropped
		}
	}
}

func (b *saslBroker) handle(st *cxnState, req kmsg.Request) (kmsg.Response, error) {
	switch req := req.(type) {
	case *kmsg.ApiVersionsRequest:
		resp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
		for k, v := range saslBrokerVersions {
			resp.ApiKeys = append(resp.ApiKeys, kmsg.ApiVersionsResponseApiKey{ApiKey: k, MinVersion: v[0], MaxVersion: v[1]})
		}
		return resp, nil
	case *kmsg.SASLHandshakeRequest:
		resp := req.ResponseKind().(*kmsg.SASLHandshakeResponse)
		resp.SupportedMechanisms = b.mechanisms()
		if !slices.Contains(resp.SupportedMechanisms, req.Mechanism) {
			resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
			return resp, nil
		}
		st.mechanism = req.Mechanism
		return resp, nil
	case *kmsg.SASLAuthenticateRequest:
		return b.authenticate(st, req)
	}
	if !st.authenticated {
		return nil, fmt.Errorf("%s before a successful login", kmsg.Key(req.Key()).Name())
	}
	switch req := req.(type) {
	case *kmsg.MetadataRequest:
		return b.metadata(req), nil
	case *kmsg.FindCoordinatorRequest:
		resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
		resp.NodeID, resp.Host, resp.Port = 0, b.host, b.port
		return resp, nil
	case *kmsg.OffsetFetchRequest:
		return b.offsetFetch(req), nil
	case *kmsg.ListOffsetsRequest:
		return b.listOffsets(req), nil
	}
	return nil, fmt.Errorf("unexpected %s request", kmsg.Key(req.Key()).Name())
}

func (b *saslBroker) mechanisms() []string {
	ms := []string{"OAUTHBEARER"}
	if len(b.cfg.Plain) > 0 {
		ms = append(ms, "PLAIN")
	}
	return ms
}

func (b *saslBroker) record(l login) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.logins = append(b.logins, l)
}

func (b *saslBroker) authenticate(st *cxnState, req *kmsg.SASLAuthenticateRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.SASLAuthenticateResponse)
	fail := func(msg string) (kmsg.Response, error) {
		resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
		resp.ErrorMessage = &msg
		return resp, nil
	}
	switch st.mechanism {
	case "OAUTHBEARER":
		if st.failed != "" {
			// The client acknowledged the error challenge (RFC 7628
			// section 3.2.3); Kafka then fails the login.
			if string(req.SASLAuthBytes) != "\x01" {
				return nil, fmt.Errorf("OAUTHBEARER: got %q after the error challenge, want %%x01", req.SASLAuthBytes)
			}
			return fail("Authentication failed during authentication due to invalid credentials with SASL mechanism OAUTHBEARER: " + st.failed)
		}
		token, ext, err := parseOAuthBearer(req.SASLAuthBytes)
		if err != nil {
			return nil, fmt.Errorf("OAUTHBEARER initial response: %v", err)
		}
		l := login{Mechanism: st.mechanism, Token: token, Extensions: ext}
		if err := b.cfg.CheckToken(token); err != nil {
			b.record(l)
			st.failed = err.Error()
			resp.SASLAuthBytes = []byte(`{"status":"invalid_token"}`)
			return resp, nil
		}
		l.OK = true
		b.record(l)
		st.authenticated = true
		return resp, nil
	case "PLAIN":
		parts := strings.Split(string(req.SASLAuthBytes), "\x00")
		if len(parts) != 3 {
			return nil, fmt.Errorf("PLAIN: got %d fields, want 3", len(parts))
		}
		want, known := b.cfg.Plain[parts[1]]
		l := login{Mechanism: st.mechanism, User: parts[1], OK: known && want == parts[2]}
		b.record(l)
		if !l.OK {
			return fail("Authentication failed: Invalid username or password")
		}
		st.authenticated = true
		return resp, nil
	}
	return nil, errors.New("SaslAuthenticate before SaslHandshake")
}

// parseOAuthBearer reads an OAUTHBEARER initial client response (RFC 7628
// section 3.1): "n,," then key=value pairs ended by %x01, the token in
// "auth=Bearer <token>", and a closing %x01.
func parseOAuthBearer(b []byte) (token string, ext map[string]string, err error) {
	s, ok := strings.CutPrefix(string(b), "n,,\x01")
	if !ok {
		return "", nil, fmt.Errorf("%q does not start with the gs2 header n,, and %%x01", b)
	}
	s, ok = strings.CutSuffix(s, "\x01\x01")
	if !ok {
		return "", nil, fmt.Errorf("%q does not end with %%x01%%x01", b)
	}
	ext = map[string]string{}
	for kv := range strings.SplitSeq(s, "\x01") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return "", nil, fmt.Errorf("pair %q has no =", kv)
		}
		if k == "auth" {
			if token, ok = strings.CutPrefix(v, "Bearer "); !ok {
				return "", nil, fmt.Errorf("auth %q is not a Bearer token", v)
			}
			continue
		}
		ext[k] = v
	}
	if token == "" {
		return "", nil, errors.New("no auth=Bearer pair")
	}
	return token, ext, nil
}

func (b *saslBroker) metadata(req *kmsg.MetadataRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	resp.Brokers = []kmsg.MetadataResponseBroker{{NodeID: 0, Host: b.host, Port: b.port}}
	resp.ControllerID = 0
	names := []string{b.cfg.Topic}
	if req.Topics != nil {
		names = names[:0]
		for _, t := range req.Topics {
			if t.Topic != nil {
				names = append(names, *t.Topic)
			}
		}
	}
	for _, name := range names {
		mt := kmsg.NewMetadataResponseTopic()
		mt.Topic = kmsg.StringPtr(name)
		if name != b.cfg.Topic {
			mt.ErrorCode = kerr.UnknownTopicOrPartition.Code
		} else {
			for p := range b.cfg.Latest {
				mp := kmsg.NewMetadataResponseTopicPartition()
				mp.Partition, mp.Leader, mp.Replicas, mp.ISR = int32(p), 0, []int32{0}, []int32{0}
				mt.Partitions = append(mt.Partitions, mp)
			}
		}
		resp.Topics = append(resp.Topics, mt)
	}
	return resp
}

func (b *saslBroker) offsetFetch(req *kmsg.OffsetFetchRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	committed := map[int32]int64{}
	if req.Group == b.cfg.Group {
		committed = b.cfg.Committed
	}
	add := func(topic string, p int32) {
		off, ok := committed[p]
		if topic != b.cfg.Topic || !ok {
			off = -1
		}
		i := len(resp.Topics) - 1
		if i < 0 || resp.Topics[i].Topic != topic {
			resp.Topics = append(resp.Topics, kmsg.OffsetFetchResponseTopic{Topic: topic})
			i++
		}
		tp := kmsg.NewOffsetFetchResponseTopicPartition()
		tp.Partition, tp.Offset = p, off
		resp.Topics[i].Partitions = append(resp.Topics[i].Partitions, tp)
	}
	if req.Topics == nil { // every committed offset of the group
		for p := range int32(len(b.cfg.Latest)) {
			if _, ok := committed[p]; ok {
				add(b.cfg.Topic, p)
			}
		}
		return resp
	}
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			add(t.Topic, p)
		}
	}
	return resp
}

func (b *saslBroker) listOffsets(req *kmsg.ListOffsetsRequest) kmsg.Response {
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	for _, t := range req.Topics {
		rt := kmsg.NewListOffsetsResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewListOffsetsResponseTopicPartition()
			rp.Partition = p.Partition
			switch {
			case t.Topic != b.cfg.Topic || p.Partition < 0 || int(p.Partition) >= len(b.cfg.Latest):
				rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case p.Timestamp == -2: // earliest
				rp.Offset = 0
			default:
				rp.Offset = b.cfg.Latest[p.Partition]
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	return resp
}

// readRequest reads one request frame: size, then the request header (key,
// version, correlation id, client id; the tagged fields of a flexible
// header are left in body for the caller, who knows the version's shape).
func readRequest(r *bufio.Reader) (key, version int16, corr int32, body []byte, err error) {
	var size [4]byte
	if _, err = io.ReadFull(r, size[:]); err != nil {
		return 0, 0, 0, nil, err
	}
	n := binary.BigEndian.Uint32(size[:])
	if n < 10 || n > 1<<20 {
		return 0, 0, 0, nil, fmt.Errorf("request size %d", n)
	}
	b := make([]byte, n)
	if _, err = io.ReadFull(r, b); err != nil {
		return 0, 0, 0, nil, err
	}
	key = int16(binary.BigEndian.Uint16(b[0:]))
	version = int16(binary.BigEndian.Uint16(b[2:]))
	corr = int32(binary.BigEndian.Uint32(b[4:]))
	idLen := int16(binary.BigEndian.Uint16(b[8:]))
	b = b[10:]
	if idLen > 0 {
		if int(idLen) > len(b) {
			return 0, 0, 0, nil, fmt.Errorf("client id length %d beyond the request", idLen)
		}
		b = b[idLen:]
	}
	return key, version, corr, b, nil
}

// skipTags drops the tagged fields of a flexible request header.
func skipTags(b []byte) ([]byte, error) {
	n, w := binary.Uvarint(b)
	if w <= 0 {
		return nil, errors.New("bad tag count")
	}
	b = b[w:]
	for range n {
		if _, w = binary.Uvarint(b); w <= 0 {
			return nil, errors.New("bad tag")
		}
		b = b[w:]
		size, w := binary.Uvarint(b)
		if w <= 0 || uint64(len(b)-w) < size {
			return nil, errors.New("bad tag size")
		}
		b = b[w+int(size):]
	}
	return b, nil
}

// writeResponse writes one response frame. Flexible responses have a
// tagged-field byte in their header, except ApiVersions (whose header stays
// v0 so that any client can read it).
func writeResponse(w io.Writer, key int16, corr int32, resp kmsg.Response) error {
	buf := binary.BigEndian.AppendUint32(make([]byte, 4, 64), uint32(corr))
	if resp.IsFlexible() && key != int16(kmsg.ApiVersions) {
		buf = append(buf, 0)
	}
	buf = resp.AppendTo(buf)
	binary.BigEndian.PutUint32(buf, uint32(len(buf)-4))
	_, err := w.Write(buf)
	return err
}
