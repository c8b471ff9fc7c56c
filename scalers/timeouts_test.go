package scalers

import (
	"testing"
	"time"
)

func TestTimeoutsFor(t *testing.T) {
	tests := []struct {
		name   string
		t      Timeouts
		asked  time.Duration
		want   time.Duration
		capped bool
	}{
		{"defaults, nothing asked", Timeouts{}, 0, DefaultSourceTimeout, false},
		{"defaults, asked within the cap", Timeouts{}, 10 * time.Second, 10 * time.Second, false},
		{"defaults, an hour asked", Timeouts{}, time.Hour, DefaultMaxSourceTimeout, true},
		{"server default", Timeouts{Default: 5 * time.Second}, 0, 5 * time.Second, false},
		{"server cap", Timeouts{Max: 2 * time.Second}, 10 * time.Second, 2 * time.Second, true},
		{"default above the cap is capped", Timeouts{Default: time.Minute, Max: 10 * time.Second}, 0, 10 * time.Second, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.t.For(tc.asked); got != tc.want {
				t.Errorf("For(%v) = %v, want %v", tc.asked, got, tc.want)
			}
			if got := tc.t.Capped(tc.asked); got != tc.capped {
				t.Errorf("Capped(%v) = %v, want %v", tc.asked, got, tc.capped)
			}
		})
	}
}

func TestLimitsCheckList(t *testing.T) {
	var l Limits
	if err := l.CheckList("addresses", DefaultMaxListItems); err != nil {
		t.Errorf("%d items: got %v, want no error", DefaultMaxListItems, err)
	}
	err := Limits{MaxListItems: 3}.CheckList("addresses", 5000)
	if err == nil || err.Error() != "addresses: 5000 items, more than the limit of 3" {
		t.Errorf("5000 items: got %v", err)
	}
}
