package bench

import (
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

func env(token string) func(string) string {
	return func(k string) string {
		if k == "HERALD_ADMIN_TOKEN" {
			return token
		}
		return ""
	}
}

func TestParseArgs(t *testing.T) {
	tests := []struct {
		name    string
		args    string
		token   string
		check   func(Options) bool
		wantErr string // substring; empty means success
	}{
		{name: "hold", args: "hold --target http://127.0.0.1:18080 --devices 18000 --duration 20s", token: "t",
			check: func(o Options) bool {
				return o.Scenario == Hold && o.Devices == 18000 && o.Duration == 20*time.Second && o.Heartbeat == 180*time.Second &&
					len(o.Sources) == 253 && o.Target == "http://127.0.0.1:18080" && o.AdminToken == "t" && o.DialConcurrency == 256
			}},
		{name: "hold heartbeat and sources", args: "hold -devices 5 -duration 1m -heartbeat 30s -sources 127.0.0.7", token: "t",
			check: func(o Options) bool { return o.Heartbeat == 30*time.Second && len(o.Sources) == 1 }},
		{name: "unicast defaults", args: "unicast --devices 2000 --messages 20", token: "t",
			check: func(o Options) bool {
				return o.Scenario == Unicast && o.Messages == 20 && o.Concurrency == 64 && o.TTL == 24*time.Hour &&
					!o.OnlineOnly && o.Timeout == 30*time.Second && o.AckSample == 100 && o.PushClient == PushGo
			}},
		{name: "unicast lean push client", args: "unicast --devices 1 --messages 1 --push-client lean", token: "t",
			check: func(o Options) bool { return o.PushClient == PushLean }},
		{name: "unicast ttl", args: "unicast --devices 1 --messages 1 --ttl 60 --concurrency 8", token: "t",
			check: func(o Options) bool { return o.TTL == time.Minute && o.Concurrency == 8 && !o.OnlineOnly }},
		{name: "unicast online only", args: "unicast --devices 1 --messages 1 --ttl 0", token: "t",
			check: func(o Options) bool { return o.OnlineOnly }},
		{name: "no scenario", args: "", token: "t", wantErr: "name a scenario"},
		{name: "broadcast defaults", args: "broadcast --devices 10000 --messages 5", token: "t",
			check: func(o Options) bool {
				return o.Scenario == Broadcast && o.Messages == 5 && o.TTL == 24*time.Hour && o.Timeout == 30*time.Second && !o.OnlineOnly
			}},
		{name: "tagpush", args: "tagpush --devices 100 --messages 2 --resolve-passes 3 --ttl 0 --timeout 5s", token: "t",
			check: func(o Options) bool {
				return o.Scenario == TagPush && o.ResolvePasses == 3 && o.OnlineOnly && o.Timeout == 5*time.Second
			}},
		{name: "unknown scenario", args: "multicast --devices 1", token: "t", wantErr: "unknown scenario"},
		{name: "broadcast without messages", args: "broadcast --devices 1", token: "t", wantErr: "messages 1 to 1000"},
		{name: "tagpush too many pushes", args: "tagpush --devices 1 --messages 1001", token: "t", wantErr: "messages 1 to 1000"},
		{name: "resolve passes on broadcast", args: "broadcast --devices 1 --messages 1 --resolve-passes 2", token: "t", wantErr: "not defined"},
		{name: "zero resolve passes", args: "tagpush --devices 1 --messages 1 --resolve-passes -1", token: "t", wantErr: "passes must be positive"},
		{name: "no token", args: "hold --devices 1 --duration 1s", wantErr: "HERALD_ADMIN_TOKEN"},
		{name: "too many devices for one worker", args: "hold --devices 18001 --workers 1 --duration 1s", token: "t", wantErr: "more than 18000 per process"},
		{name: "too many devices", args: "hold --devices 1152001 --duration 1s", token: "t", wantErr: "devices must be 1 to 1152000"},
		{name: "devices default to enough workers", args: "hold --devices 40000 --duration 1s", token: "t",
			check: func(o Options) bool { return o.Workers == 0 && o.workerCount() == 3 }},
		{name: "workers", args: "unicast --devices 100 --messages 1 --workers 2", token: "t",
			check: func(o Options) bool { return o.Workers == 2 && o.workerCount() == 2 }},
		{name: "cluster", args: "broadcast --devices 100 --messages 1 --cluster 3 --herald /opt/herald", token: "",
			check: func(o Options) bool { return o.Cluster == 3 && o.Herald == "/opt/herald" && o.AdminToken == "" }},
		{name: "cluster and target", args: "hold --devices 1 --duration 1s --cluster 2 --target http://127.0.0.1:8080", token: "t", wantErr: "do not give --target"},
		{name: "herald without cluster", args: "hold --devices 1 --duration 1s --herald /opt/herald", token: "t", wantErr: "give --cluster too"},
		{name: "cluster too large", args: "hold --devices 1 --duration 1s --cluster 17", token: "t", wantErr: "cluster must be 1 to 16"},
		{name: "negative workers", args: "hold --devices 1 --duration 1s --workers -1", token: "t", wantErr: "workers must be 0"},
		{name: "too many workers", args: "hold --devices 100 --duration 1s --workers 65", token: "t", wantErr: "workers must be 0"},
		{name: "more workers than devices", args: "hold --devices 2 --duration 1s --workers 3", token: "t", wantErr: "each worker needs a device"},
		{name: "no devices", args: "unicast --messages 1", token: "t", wantErr: "devices must be"},
		{name: "hold without duration", args: "hold --devices 1", token: "t", wantErr: "positive duration"},
		{name: "unicast without messages", args: "unicast --devices 1", token: "t", wantErr: "messages"},
		{name: "negative ttl", args: "unicast --devices 1 --messages 1 --ttl -1", token: "t", wantErr: "--ttl"},
		{name: "unknown push client", args: "unicast --devices 1 --messages 1 --push-client curl", token: "t", wantErr: "push client must be go or lean"},
		{name: "lean push client over TLS", args: "unicast --devices 1 --messages 1 --push-client lean --target https://push.example", token: "t", wantErr: "cleartext HTTP/2 only"},
		{name: "zero concurrency", args: "unicast --devices 1 --messages 1 --concurrency -1", token: "t", wantErr: "concurrency"},
		{name: "bad target", args: "hold --devices 1 --duration 1s --target 127.0.0.1:8080", token: "t", wantErr: "base URL"},
		{name: "bad sources", args: "hold --devices 1 --duration 1s --sources 127.0.0.9-127.0.0.2", token: "t", wantErr: "--sources"},
		{name: "unicast flag on hold", args: "hold --devices 1 --duration 1s --messages 3", token: "t", wantErr: "not defined"},
		{name: "extra argument", args: "hold --devices 1 --duration 1s now", token: "t", wantErr: "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := ParseArgs(strings.Fields(tt.args), env(tt.token), io.Discard)
			if tt.wantErr != "" {
				if err == nil || !errors.Is(err, ErrInvalidOptions) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want ErrInvalidOptions mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tt.check(o) {
				t.Fatalf("options %+v", o)
			}
		})
	}
}

func TestParseArgsHelp(t *testing.T) {
	for _, args := range []string{"help", "--help", "hold -h", "unicast --help", "broadcast -h", "tagpush --help"} {
		var out strings.Builder
		_, err := ParseArgs(strings.Fields(args), env(""), &out)
		if !errors.Is(err, flag.ErrHelp) || !strings.Contains(out.String(), "-devices") && !strings.Contains(out.String(), "--devices") {
			t.Errorf("%q: err %v, output %q", args, err, out.String())
		}
	}
}

func TestRunRejectsInvalidOptionsBeforeCallingTheTarget(t *testing.T) {
	_, err := Run(t.Context(), Options{Scenario: Hold, Target: "http://127.0.0.1:1", AdminToken: "t", Devices: MaxDevices + 1, Workers: 1, Duration: time.Second})
	if !errors.Is(err, ErrInvalidOptions) {
		t.Fatalf("err = %v, want ErrInvalidOptions", err)
	}
}
