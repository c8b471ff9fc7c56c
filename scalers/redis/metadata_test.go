package redis

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// connSummary renders what a connection parse decided, for comparison.
func connSummary(m *connMeta) string {
	return fmt.Sprintf("addrs=%v db=%d tls=%t user=%q pw=%q smaster=%q suser=%q spw=%q unsafe=%t",
		m.addrs, m.DatabaseIndex, m.useTLS, m.Username, m.Password.MustValue(),
		m.SentinelMaster, m.SentinelUsername, m.SentinelPassword.MustValue(), m.TLS.UnsafeSsl)
}

func TestParseListMeta(t *testing.T) {
	tests := []struct {
		name string
		topo topology
		md   map[string]string
		want string
	}{
		{
			name: "address and defaults",
			topo: standalone,
			md:   map[string]string{"address": "redis:6379", "listName": "jobs"},
			want: `list=jobs len=5 act=0 addrs=[redis:6379] db=0 tls=false user="" pw="" smaster="" suser="" spw="" unsafe=false`,
		},
		{
			name: "values resolved by KEDA from the environment",
			topo: standalone,
			md: map[string]string{"addressFromEnv": "10.0.0.1:6380", "listName": "jobs", "usernameFromEnv": "app",
				"passwordFromEnv": "from-env-pw", "listLength": "10", "activationListLength": "2", "databaseIndex": "3"},
			want: `list=jobs len=10 act=2 addrs=[10.0.0.1:6380] db=3 tls=false user="app" pw="from-env-pw" smaster="" suser="" spw="" unsafe=false`,
		},
		{
			name: "host and port",
			topo: standalone,
			md:   map[string]string{"host": "redis.default.svc", "port": "6380", "listName": "jobs", "password": "inline"},
			want: `list=jobs len=5 act=0 addrs=[redis.default.svc:6380] db=0 tls=false user="" pw="inline" smaster="" suser="" spw="" unsafe=false`,
		},
		{
			name: "host and port from env",
			topo: standalone,
			md:   map[string]string{"hostFromEnv": "redis", "portFromEnv": "6379", "listName": "jobs"},
			want: `list=jobs len=5 act=0 addrs=[redis:6379] db=0 tls=false user="" pw="" smaster="" suser="" spw="" unsafe=false`,
		},
		{
			name: "address wins over host and port for a single server",
			topo: standalone,
			md:   map[string]string{"address": "a:1", "host": "b", "port": "2", "listName": "jobs"},
			want: `list=jobs len=5 act=0 addrs=[a:1 b:2] db=0 tls=false user="" pw="" smaster="" suser="" spw="" unsafe=false`,
		},
		{
			name: "enableTLS",
			topo: standalone,
			md:   map[string]string{"address": "a:1", "listName": "jobs", "enableTLS": "true", "unsafeSsl": "true"},
			want: `list=jobs len=5 act=0 addrs=[a:1] db=0 tls=true user="" pw="" smaster="" suser="" spw="" unsafe=true`,
		},
		{
			name: "tls disable overrides enableTLS meant for KEDA's gRPC connection",
			topo: standalone,
			md:   map[string]string{"address": "a:1", "listName": "jobs", "enableTLS": "true", "tls": "disable"},
			want: `list=jobs len=5 act=0 addrs=[a:1] db=0 tls=false user="" pw="" smaster="" suser="" spw="" unsafe=false`,
		},
		{
			name: "tls enable alone",
			topo: standalone,
			md:   map[string]string{"address": "a:1", "listName": "jobs", "tls": "enable"},
			want: `list=jobs len=5 act=0 addrs=[a:1] db=0 tls=true user="" pw="" smaster="" suser="" spw="" unsafe=false`,
		},
		{
			name: "keys of KEDA and of the external scaler are ignored",
			topo: standalone,
			md: map[string]string{"address": "a:1", "listName": "jobs", "scalerAddress": "hpa:9443", "scalerType": "redis",
				"unknownKey": "x"},
			want: `list=jobs len=5 act=0 addrs=[a:1] db=0 tls=false user="" pw="" smaster="" suser="" spw="" unsafe=false`,
		},
		{
			name: "negative activation is accepted as in KEDA",
			topo: standalone,
			md:   map[string]string{"address": "a:1", "listName": "jobs", "activationListLength": "-1"},
			want: `list=jobs len=5 act=-1 addrs=[a:1] db=0 tls=false user="" pw="" smaster="" suser="" spw="" unsafe=false`,
		},
		{
			name: "cluster hosts and ports with spaces",
			topo: cluster,
			md:   map[string]string{"hosts": "   a, b,    c ", "ports": "1, 2, 3", "listName": "jobs"},
			want: `list=jobs len=5 act=0 addrs=[a:1 b:2 c:3] db=0 tls=false user="" pw="" smaster="" suser="" spw="" unsafe=false`,
		},
		{
			name: "IPv6, zones, underscores and a trailing dot",
			topo: cluster,
			md: map[string]string{"addresses": "[::1]:7001, [fe80::1%eth0]:7002, redis_0.redis.svc.:7003",
				"hosts": "::1, 10.0.0.1", "ports": "7004, 7005", "listName": "jobs"},
			want: `list=jobs len=5 act=0 addrs=[[::1]:7001 [fe80::1%eth0]:7002 redis_0.redis.svc.:7003 [::1]:7004 10.0.0.1:7005] db=0 tls=false user="" pw="" smaster="" suser="" spw="" unsafe=false`,
		},
		{
			name: "cluster addresses",
			topo: cluster,
			md:   map[string]string{"addresses": ":7001, :7002", "listName": "jobs"},
			want: `list=jobs len=5 act=0 addrs=[:7001 :7002] db=0 tls=false user="" pw="" smaster="" suser="" spw="" unsafe=false`,
		},
		{
			name: "sentinel",
			topo: sentinel,
			md: map[string]string{"addresses": "s1:26379,s2:26379", "listName": "jobs", "sentinelMaster": "mymaster",
				"sentinelUsernameFromEnv": "sentinel-user", "sentinelPasswordFromEnv": "sentinel-pw", "password": "master-pw"},
			want: `list=jobs len=5 act=0 addrs=[s1:26379 s2:26379] db=0 tls=false user="" pw="master-pw" smaster="mymaster" suser="sentinel-user" spw="sentinel-pw" unsafe=false`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := parseListMeta(tc.md, tc.topo, scalers.Limits{})
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			got := fmt.Sprintf("list=%s len=%d act=%d %s", m.ListName, m.ListLength, m.ActivationListLength, connSummary(&m.Conn))
			if got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestParseListMetaErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope")
	tests := []struct {
		name string
		topo topology
		md   map[string]string
		want string // the message after "invalid metadata: "
	}{
		{
			name: "nothing",
			topo: standalone,
			md:   map[string]string{},
			want: "address: no Redis address: set address (host:port, or a comma-separated list), or host and port; listName: required key is missing",
		},
		{
			name: "every bad value at once",
			topo: standalone,
			md: map[string]string{"address": "a:1", "listName": "jobs", "listLength": "AA", "activationListLength": "1.5",
				"databaseIndex": "-1", "enableTLS": "no", "tls": "yes"},
			want: `databaseIndex "-1": must be >= 0; enableTLS "no": not a boolean (true or false); tls "yes": expected one of enable, disable; ` +
				`listLength "AA": not an integer; activationListLength "1.5": not an integer`,
		},
		{
			name: "zero target",
			topo: standalone,
			md:   map[string]string{"address": "a:1", "listName": "jobs", "listLength": "0"},
			want: `listLength "0": must be > 0`,
		},
		{
			name: "address without port",
			topo: standalone,
			md:   map[string]string{"address": "redis", "listName": "jobs"},
			want: `address "redis": expected host:port (an IPv6 address in brackets: [::1]:6379)`,
		},
		{
			name: "address with a bad port",
			topo: cluster,
			md:   map[string]string{"addresses": "a:1,b:http,c:0", "listName": "jobs"},
			want: `addresses "b:http": expected host:port with a port in 1..65535; addresses "c:0": expected host:port with a port in 1..65535`,
		},
		{
			name: "unequal hosts and ports",
			topo: cluster,
			md:   map[string]string{"hosts": "a, b, c", "ports": "1, 2", "listName": "jobs"},
			want: `ports "1,2": 3 hosts but 2 ports: give one port per host`,
		},
		{
			name: "host without port",
			topo: standalone,
			md:   map[string]string{"host": "redis", "listName": "jobs"},
			want: "port: required with host",
		},
		{
			name: "port without host",
			topo: standalone,
			md:   map[string]string{"port": "6379", "listName": "jobs"},
			want: "host: required with port",
		},
		{
			name: "port out of range",
			topo: standalone,
			md:   map[string]string{"host": "redis", "port": "70000", "listName": "jobs"},
			want: `port "70000": must be <= 65535`,
		},
		{
			name: "unparsable host",
			topo: standalone,
			md:   map[string]string{"host": "[::1", "port": "6379", "listName": "jobs"},
			want: `host "[::1": expected a host name or an IP address (an IPv6 address without brackets)`,
		},
		{
			name: "bracketed IPv6 host",
			topo: standalone,
			md:   map[string]string{"host": "[::1]", "port": "6379", "listName": "jobs"},
			want: `host "[::1]": expected a host name or an IP address (an IPv6 address without brackets)`,
		},
		{
			name: "host with a space, a scheme, an empty label",
			topo: cluster,
			md:   map[string]string{"hosts": "redis a, redis://b, c..d, ok-1.svc", "ports": "1, 2, 3, 4", "listName": "jobs"},
			want: `hosts "redis a": expected a host name or an IP address: ' ' is not allowed in a host name; ` +
				`hosts "redis://b": expected a host name or an IP address, not a URL; ` +
				`hosts "c..d": expected a host name or an IP address: each dot-separated part 1 to 63 characters`,
		},
		{
			name: "unparsable addresses",
			topo: cluster,
			md:   map[string]string{"addresses": "[::1, [::1]:99999, redis:99999, a b:1, ::1:6379, redis://r:6379", "listName": "jobs"},
			want: `addresses "[::1": expected host:port (an IPv6 address in brackets: [::1]:6379); ` +
				`addresses "[::1]:99999": expected host:port with a port in 1..65535; ` +
				`addresses "redis:99999": expected host:port with a port in 1..65535; ` +
				`addresses "a b:1": expected a host name or an IP address: ' ' is not allowed in a host name; ` +
				`addresses "::1:6379": expected host:port (an IPv6 address in brackets: [::1]:6379); ` +
				`addresses "redis://r:6379": expected host:port, not a URL`,
		},
		{
			name: "port 99999",
			topo: standalone,
			md:   map[string]string{"host": "redis", "port": "99999", "listName": "jobs"},
			want: `port "99999": must be <= 65535`,
		},
		{
			name: "sentinel without master",
			topo: sentinel,
			md:   map[string]string{"addresses": "s:26379", "listName": "jobs"},
			want: "sentinelMaster: required: the name of the master the sentinels monitor",
		},
		{
			name: "cert without key",
			topo: standalone,
			md:   map[string]string{"address": "a:1", "listName": "jobs", "enableTLS": "true", "cert": "PEM"},
			want: "cert (secret, not shown): given without key: cert and key must be given together",
		},
		{
			name: "password file missing",
			topo: standalone,
			md:   map[string]string{"address": "a:1", "listName": "jobs", "passwordFile": missing},
			want: fmt.Sprintf("passwordFile %q: cannot read: no such file or directory", missing),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseListMeta(tc.md, tc.topo, scalers.Limits{}, secretFiles(t, tc.md))
			checkMetadataError(t, err, "invalid metadata: "+tc.want)
		})
	}
}

// checkMetadataError checks that err is a *MetadataError wrapping
// ErrInvalidConfig whose whole message is want.
func checkMetadataError(tb testing.TB, err error, want string) {
	tb.Helper()
	if err == nil {
		tb.Fatalf("got no error, want %q", want)
	}
	var me *scalers.MetadataError
	if !errors.As(err, &me) || !errors.Is(err, scalers.ErrInvalidConfig) {
		tb.Fatalf("got %T %v, want a *scalers.MetadataError wrapping ErrInvalidConfig", err, err)
	}
	if diff := cmp.Diff(want, err.Error()); diff != "" {
		tb.Errorf("error message (-want +got):\n%s", diff)
	}
}

func TestParseStreamsMeta(t *testing.T) {
	tests := []struct {
		name string
		md   map[string]string
		want string
	}{
		{
			name: "consumer group selects pending entries",
			md:   map[string]string{"address": "a:1", "stream": "s", "consumerGroup": "g", "pendingEntriesCount": "15"},
			want: "mode=pendingEntriesCount target=15 act=0",
		},
		{
			name: "pending entries default target",
			md:   map[string]string{"address": "a:1", "stream": "s", "consumerGroup": "g"},
			want: "mode=pendingEntriesCount target=5 act=0",
		},
		{
			name: "lagCount selects the lag",
			md:   map[string]string{"address": "a:1", "stream": "s", "consumerGroup": "g", "lagCount": "6", "activationLagCount": "3", "pendingEntriesCount": "9"},
			want: "mode=lagCount target=6 act=3",
		},
		{
			name: "lagCount 0 is pending entries",
			md:   map[string]string{"address": "a:1", "stream": "s", "consumerGroup": "g", "lagCount": "0"},
			want: "mode=pendingEntriesCount target=5 act=0",
		},
		{
			name: "no consumer group is the stream length",
			md:   map[string]string{"address": "a:1", "stream": "s", "streamLength": "10"},
			want: "mode=streamLength target=10 act=0",
		},
		{
			name: "no consumer group ignores lag and pending targets",
			md:   map[string]string{"address": "a:1", "stream": "s", "lagCount": "7", "pendingEntriesCount": "0"},
			want: "mode=streamLength target=5 act=0",
		},
		{
			name: "targets of unused modes are not checked",
			md:   map[string]string{"address": "a:1", "stream": "s", "consumerGroup": "g", "streamLength": "0"},
			want: "mode=pendingEntriesCount target=5 act=0",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := parseStreamsMeta(tc.md, standalone, scalers.Limits{})
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			got := fmt.Sprintf("mode=%s target=%d act=%d", m.mode, m.target, m.ActivationLagCount)
			if got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestParseStreamsMetaErrors(t *testing.T) {
	tests := []struct {
		name string
		md   map[string]string
		want string // the message after "invalid metadata: "
	}{
		{
			name: "nothing",
			md:   map[string]string{},
			want: "address: no Redis address: set address (host:port, or a comma-separated list), or host and port; stream: required key is missing",
		},
		{
			name: "bad numbers",
			md: map[string]string{"address": "a:1", "stream": "s", "consumerGroup": "g", "lagCount": "junk",
				"pendingEntriesCount": "junk", "streamLength": "junk", "activationLagCount": "x", "databaseIndex": "junk"},
			want: `databaseIndex "junk": not an integer; pendingEntriesCount "junk": not an integer; streamLength "junk": not an integer; ` +
				`lagCount "junk": not an integer; activationLagCount "x": not an integer`,
		},
		{
			name: "negative lag",
			md:   map[string]string{"address": "a:1", "stream": "s", "consumerGroup": "g", "lagCount": "-1"},
			want: `lagCount "-1": must be >= 0`,
		},
		{
			name: "zero pending target",
			md:   map[string]string{"address": "a:1", "stream": "s", "consumerGroup": "g", "pendingEntriesCount": "0"},
			want: `pendingEntriesCount "0": must be > 0`,
		},
		{
			name: "zero stream length target",
			md:   map[string]string{"address": "a:1", "stream": "s", "streamLength": "-3"},
			want: `streamLength "-3": must be > 0`,
		},
		{
			name: "enableTLS not a boolean",
			md:   map[string]string{"address": "a:1", "stream": "s", "enableTLS": "no"},
			want: `enableTLS "no": not a boolean (true or false)`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseStreamsMeta(tc.md, standalone, scalers.Limits{})
			checkMetadataError(t, err, "invalid metadata: "+tc.want)
		})
	}
}

func TestChooseStreamMode(t *testing.T) {
	tests := []struct {
		group string
		lag   int64
		want  streamMode
	}{
		{"", 0, modeLength},
		{"", 5, modeLength},
		{"g", 0, modePending},
		{"g", 5, modeLag},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("group=%q lag=%d", tc.group, tc.lag), func(t *testing.T) {
			if got := chooseStreamMode(tc.group, tc.lag); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func TestMetricNames(t *testing.T) {
	tests := []struct {
		name    string
		factory func(*Clients, map[string]string) (scalers.Scaler, error)
		md      map[string]string
		want    string
		target  float64
	}{
		{
			name: "list as KEDA names it",
			factory: func(c *Clients, md map[string]string) (scalers.Scaler, error) {
				return c.NewList(t.Context(), scalers.Config{Metadata: md})
			},
			md:     map[string]string{"address": "a:1", "listName": "mylist", "listLength": "7", "password": "p4ssw0rd"},
			want:   "redis-mylist",
			target: 7,
		},
		{
			name: "list name normalized",
			factory: func(c *Clients, md map[string]string) (scalers.Scaler, error) {
				return c.NewList(t.Context(), scalers.Config{Metadata: md})
			},
			md:     map[string]string{"address": "a:1", "listName": "Jobs:High.Prio"},
			want:   "redis-jobs-high-prio",
			target: 5,
		},
		{
			name: "stream as KEDA names it",
			factory: func(c *Clients, md map[string]string) (scalers.Scaler, error) {
				return c.NewStreams(t.Context(), scalers.Config{Metadata: md})
			},
			md:     map[string]string{"address": "a:1", "stream": "my-stream", "consumerGroup": "g", "lagCount": "9"},
			want:   "redis-streams-my-stream",
			target: 9,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := tc.factory(NewClients(ClientsOptions{}), tc.md)
			if err != nil {
				t.Fatalf("new: %v", err)
			}
			defer s.Close()
			if diff := cmp.Diff([]scalers.MetricSpec{{Name: tc.want, Target: tc.target}}, s.MetricSpecs()); diff != "" {
				t.Errorf("MetricSpecs (-want +got):\n%s", diff)
			}
		})
	}
}

func TestClientKey(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	key := func(topo topology, md map[string]string) string {
		t.Helper()
		md["listName"] = "jobs"
		m, err := parseListMeta(md, topo, scalers.Limits{}, secretFiles(t, md))
		if err != nil {
			t.Fatalf("parse %v: %v", md, err)
		}
		return clientKey(&m.Conn, scalers.DefaultSourceTimeout)
	}
	base := key(standalone, map[string]string{"address": "a:1", "password": "pw"})
	same := []map[string]string{
		{"address": "a:1", "password": "pw", "listLength": "9"},
		{"address": "a:1", "passwordFromEnv": "pw"},
		{"host": "a", "port": "1", "password": "pw"},
		{"address": "a:1", "password": "pw", "unsafeSsl": "true"}, // TLS is off
	}
	for _, md := range same {
		if got := key(standalone, md); got != base {
			t.Errorf("key of %v differs from the base, want the same client", md)
		}
	}
	different := []struct {
		topo topology
		md   map[string]string
	}{
		{standalone, map[string]string{"address": "a:2", "password": "pw"}},
		{standalone, map[string]string{"address": "a:1", "password": "other"}},
		{standalone, map[string]string{"address": "a:1"}},
		{standalone, map[string]string{"address": "a:1", "passwordFile": pwFile}},
		{standalone, map[string]string{"address": "a:1", "password": "pw", "username": "u"}},
		{standalone, map[string]string{"address": "a:1", "password": "pw", "databaseIndex": "1"}},
		{standalone, map[string]string{"address": "a:1", "password": "pw", "enableTLS": "true"}},
		{cluster, map[string]string{"address": "a:1", "password": "pw"}},
		{sentinel, map[string]string{"address": "a:1", "password": "pw", "sentinelMaster": "m"}},
	}
	for _, d := range different {
		if got := key(d.topo, d.md); got == base {
			t.Errorf("key of %s %v equals the base, want another client", d.topo, d.md)
		}
	}
	if k := key(standalone, map[string]string{"address": "a:1", "password": "pw"}); strings.Contains(k, "pw\x00") {
		t.Errorf("client key holds the password in clear: %q", k)
	}
}

func TestRedisMajorVersion(t *testing.T) {
	tests := []struct {
		name   string
		info   string
		want   int
		wantOK bool
	}{
		{"redis 7", "# Server\r\nredis_version:7.0.15\r\nredis_git_sha1:00000000\r\n", 7, true},
		{"redis 6", "# Server\r\nredis_version:6.2.14\r\n", 6, true},
		{"no version", "# Server\r\nfoo:bar\r\n", 0, false},
		{"garbage version", "redis_version:x.y\r\n", 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := redisMajorVersion(tc.info)
			if diff := cmp.Diff([]any{tc.want, tc.wantOK}, []any{got, ok}); diff != "" {
				t.Errorf("redisMajorVersion (-want +got):\n%s", diff)
			}
		})
	}
}

func TestKindOf(t *testing.T) {
	tests := []struct {
		typ    string
		want   keyKind
		wantOK bool
	}{
		{"list", kindList, true},
		{"none", kindList, true},
		{"set", kindSet, true},
		{"zset", kindZSet, true},
		{"hash", kindHash, true},
		{"string", kindUnknown, false},
		{"stream", kindUnknown, false},
	}
	for _, tc := range tests {
		t.Run(tc.typ, func(t *testing.T) {
			got, ok := kindOf(tc.typ)
			if diff := cmp.Diff([]any{tc.want, tc.wantOK}, []any{got, ok}); diff != "" {
				t.Errorf("kindOf (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWrapRedactsAndClassifies(t *testing.T) {
	m, err := parseListMeta(map[string]string{"address": "a:1", "listName": "jobs", "password": "hunter2-secret"}, standalone, scalers.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := newBase(nil, &m.Conn, "list", "jobs", scalers.Config{Timeouts: scalers.Timeouts{Default: time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	expired, cancel := b.bounded(t.Context())
	defer cancel()
	<-expired.Done()
	readTimeout := &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}
	tests := []struct {
		name string
		ctx  context.Context // nil: a live one
		in   error
		want classified
	}{
		{"connection error", nil, errors.New("dial with hunter2-secret failed"),
			classified{Msg: `redis list "jobs" at a:1: dial with [redacted] failed`, Unavailable: true}},
		{"data error", nil, &noData{msg: "key holds hunter2-secret"},
			classified{Msg: `redis list "jobs" at a:1: key holds [redacted]`, NoData: true}},
		{"wrong type reply", nil, replyError("WRONGTYPE Operation against a key holding the wrong kind of value"),
			classified{Msg: `redis list "jobs" at a:1: no data: WRONGTYPE Operation against a key holding the wrong kind of value`, NoData: true}},
		{"canceled", nil, context.Canceled, classified{Msg: `redis list "jobs" at a:1: context canceled`, Canceled: true}},
		{"the bound reached", expired, context.DeadlineExceeded,
			classified{Msg: `redis list "jobs" at a:1: Redis did not answer within 1ms: context deadline exceeded`, Unavailable: true, Deadline: true}},
		{"a read timeout of go-redis's first", nil, readTimeout,
			classified{Msg: `redis list "jobs" at a:1: Redis did not answer within 1ms: read tcp: i/o timeout`, Unavailable: true}},
		{"a dial's deadline", nil, context.DeadlineExceeded,
			classified{Msg: `redis list "jobs" at a:1: Redis did not answer within 1ms while connecting: context deadline exceeded`, Unavailable: true, Deadline: true}},
		{"login refused", nil, replyError("WRONGPASS invalid username-password pair or user is disabled."),
			classified{Msg: `redis list "jobs" at a:1: login failed: WRONGPASS invalid username-password pair or user is disabled.`, Unavailable: true}},
		{"no such database", nil, replyError("ERR DB index is out of range"),
			classified{Msg: `redis list "jobs" at a:1: databaseIndex "0": the server has no such database (ERR DB index is out of range)`, Invalid: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := tc.ctx
			if ctx == nil {
				ctx = t.Context()
			}
			got := b.wrap(ctx, tc.in)
			if diff := cmp.Diff(tc.want, classify(got)); diff != "" {
				t.Errorf("wrap (-want +got):\n%s", diff)
			}
		})
	}
}

// classified is an error's message and the sentinels it wraps.
type classified struct {
	Msg                                              string
	Unavailable, NoData, Canceled, Deadline, Invalid bool
}

func classify(err error) classified {
	return classified{Msg: err.Error(), Unavailable: errors.Is(err, scalers.ErrUnavailable),
		NoData: errors.Is(err, scalers.ErrNoData), Canceled: errors.Is(err, context.Canceled),
		Deadline: errors.Is(err, context.DeadlineExceeded), Invalid: errors.Is(err, scalers.ErrInvalidConfig)}
}

// replyError is an error reply of a Redis server.
type replyError string

func (e replyError) Error() string { return string(e) }
func (replyError) RedisError()     {}

var _ redis.Error = replyError("")
