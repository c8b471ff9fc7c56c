package externalscaler

import (
	"testing"

	goredis "github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers/redis"
)

func TestMain(m *testing.M) {
	// go-redis logs every failed dial of the Redis outage tests to stderr,
	// as the binary would without the logger it installs; the tests check
	// the statuses instead.
	goredis.SetLogger(redis.GoRedisLogger(nil))
	goleak.VerifyTestMain(m)
}
