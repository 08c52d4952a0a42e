package bench

import (
	"io"
	"strings"
	"testing"
	"time"
)

// The flags of storm and churn, and --rate and --duration where a
// scenario has a rate.
func TestParseArgsRateAndDuration(t *testing.T) {
	tests := []struct {
		name    string
		args    string
		check   func(Options) bool
		wantErr string // substring; empty means success
	}{
		{name: "storm", args: "storm --devices 5000 --dial-concurrency 512",
			check: func(o Options) bool {
				return o.Scenario == Storm && o.Devices == 5000 && o.DialConcurrency == 512 && !o.OnlineOnly
			}},
		{name: "churn defaults", args: "churn --devices 1000 --rate 500 --duration 30s",
			check: func(o Options) bool {
				return o.Scenario == Churn && o.Rate == 500 && o.Duration == 30*time.Second && o.ChurnShare == 0.05 &&
					o.TTL == 24*time.Hour && o.Timeout == 30*time.Second && o.churnPushes() == 15000
			}},
		{name: "churn share", args: "churn --devices 10 --rate 1 --duration 1s --churn 0.5 --ttl 60",
			check: func(o Options) bool { return o.ChurnShare == 0.5 && o.TTL == time.Minute }},
		{name: "unicast paced", args: "unicast --devices 10 --messages 3 --rate 100",
			check: func(o Options) bool { return o.Rate == 100 && o.Messages == 3 && o.Duration == 0 }},
		{name: "unicast rate and duration", args: "unicast --devices 300 --rate 1000 --duration 1500ms",
			check: func(o Options) bool { return o.Messages == 5 && o.churnPushes() == 1500 }},
		{name: "unicast rate and duration round up", args: "unicast --devices 7 --rate 10 --duration 1s",
			check: func(o Options) bool { return o.Messages == 2 }},
		{name: "hold rate", args: "hold --devices 1 --duration 1s --rate 5", wantErr: "flag provided but not defined"},
		{name: "storm rate", args: "storm --devices 1 --rate 5", wantErr: "storm sends nothing at a rate"},
		{name: "storm duration", args: "storm --devices 1 --duration 5s", wantErr: "storm has no duration"},
		{name: "tagpush duration", args: "tagpush --devices 1 --messages 1 --duration 5s", wantErr: "tagpush has no duration"},
		{name: "churn no rate", args: "churn --devices 1 --duration 5s", wantErr: "churn needs a positive rate and duration"},
		{name: "churn no duration", args: "churn --devices 1 --rate 5", wantErr: "churn needs a positive rate and duration"},
		{name: "churn share too big", args: "churn --devices 1 --rate 5 --duration 1s --churn 2", wantErr: "churn share must be above 0 and at most 1"},
		{name: "churn share negative", args: "churn --devices 1 --rate 5 --duration 1s --churn -0.1", wantErr: "--churn must be above 0"},
		{name: "churn messages", args: "churn --devices 1 --rate 5 --duration 1s --messages 3", wantErr: "flag provided but not defined"},
		{name: "churn online only", args: "churn --devices 1 --rate 5 --duration 1s --ttl 0", wantErr: "ttl of at least one second"},
		{name: "churn too many pushes", args: "churn --devices 1 --rate 1000000 --duration 200s", wantErr: "over 100,000,000"},
		{name: "unicast both", args: "unicast --devices 1 --messages 2 --rate 5 --duration 1s", wantErr: "not both"},
		{name: "unicast duration no rate", args: "unicast --devices 1 --duration 1s", wantErr: "unicast with a duration needs a rate"},
		{name: "rate too high", args: "unicast --devices 1 --messages 1 --rate 1000001", wantErr: "rate must be 0 to 1000000"},
		{name: "steady", args: "steady --devices 1000 --rate 100 --duration 30s",
			check: func(o Options) bool {
				p, r := o.steadyShape()
				return o.Scenario == Steady && p == 10 && r == 3 && o.WebhookListen == "127.0.0.1:0" && o.Timeout == 30*time.Second
			}},
		{name: "steady webhook address", args: "steady --devices 10 --rate 10 --duration 1s --webhook-listen 10.0.0.5:9000",
			check: func(o Options) bool { return o.WebhookListen == "10.0.0.5:9000" }},
		{name: "steady no rate", args: "steady --devices 10 --duration 5s", wantErr: "steady needs a positive rate and duration"},
		{name: "steady no duration", args: "steady --devices 10 --rate 5", wantErr: "steady needs a positive rate and duration"},
		{name: "steady rate above devices", args: "steady --devices 10 --rate 11 --duration 1s", wantErr: "at most one upstream message per device per second"},
		{name: "steady messages", args: "steady --devices 10 --rate 5 --duration 1s --messages 3", wantErr: "flag provided but not defined"},
		{name: "steady bad webhook address", args: "steady --devices 10 --rate 5 --duration 1s --webhook-listen nowhere", wantErr: "must be host:port"},
		{name: "negative duration", args: "churn --devices 1 --rate 5 --duration -1s", wantErr: "duration must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := ParseArgs(strings.Fields(tt.args), env("t"), io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want it to mention %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseArgs: %v", err)
			}
			if !tt.check(o) {
				t.Fatalf("options %+v", o)
			}
		})
	}
}

// Options built by a program rather than parsed: Run applies the same
// rules.
func TestValidateRateAndDuration(t *testing.T) {
	base := Options{Target: "http://127.0.0.1:8080", AdminToken: "t", Devices: 10}
	tests := []struct {
		name    string
		edit    func(*Options)
		wantErr string
	}{
		{"churn", func(o *Options) { o.Scenario, o.Rate, o.Duration = Churn, 10, time.Second }, ""},
		{"churn with messages", func(o *Options) { o.Scenario, o.Rate, o.Duration, o.Messages = Churn, 10, time.Second, 1 }, "do not give messages"},
		{"churn share", func(o *Options) { o.Scenario, o.Rate, o.Duration, o.ChurnShare = Churn, 10, time.Second, -1 }, "churn share"},
		{"unicast derives messages", func(o *Options) { o.Scenario, o.Rate, o.Duration = Unicast, 25, time.Second }, ""},
		{"storm", func(o *Options) { o.Scenario = Storm }, ""},
		{"storm rate", func(o *Options) { o.Scenario, o.Rate = Storm, 1 }, "rate applies to unicast, churn and steady"},
		{"steady", func(o *Options) { o.Scenario, o.Rate, o.Duration = Steady, 5, 2*time.Second }, ""},
		{"steady too fast", func(o *Options) { o.Scenario, o.Rate, o.Duration = Steady, 11, time.Second }, "at most one upstream message per device per second"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := base
			tt.edit(&o)
			o = o.withDefaults()
			err := o.validate()
			if (tt.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("validate: %v, want %q", err, tt.wantErr)
			}
			if tt.name == "unicast derives messages" && o.Messages != 3 {
				t.Fatalf("messages %d, want 3 (25 pushes over 10 devices, rounded up)", o.Messages)
			}
		})
	}
}
