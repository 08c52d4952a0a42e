package bench

import (
	"encoding/json"
	"testing"

	"github.com/heraldpush/herald/internal/fleet"
)

func TestPushBodyIsAValidRequest(t *testing.T) {
	b := appendPush(nil, "1a2b3c", fleet.Stamp{Device: 5, Seq: 6, Sent: 7}, 86400)
	var req struct {
		Audience struct {
			RegistrationID []string `json:"registration_id"`
		} `json:"audience"`
		Message struct {
			Title, Content string
			Extras         json.RawMessage
		} `json:"message"`
		Options struct {
			TimeToLive int64 `json:"time_to_live"`
		} `json:"options"`
	}
	if err := json.Unmarshal(b, &req); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	st, ok := fleet.ParseStamp(req.Message.Extras)
	if len(req.Audience.RegistrationID) != 1 || req.Audience.RegistrationID[0] != "1a2b3c" ||
		req.Message.Content == "" || req.Options.TimeToLive != 86400 || !ok || st != (fleet.Stamp{Device: 5, Seq: 6, Sent: 7}) {
		t.Fatalf("decoded %+v from %s", req, b)
	}
}
