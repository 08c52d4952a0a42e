package gateway_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/heraldpush/herald/gateway"
)

// TestJPushSDKRequests replays requests exactly as JPush's official server
// SDKs and JPush's documentation send them — bodies byte for byte, paths
// with their trailing slashes and query strings — and decodes the answers
// the way each SDK does: Herald must accept them and answer in the shape
// the SDK parses.
//
// Sources (public, read through the search tool):
//   - jpush/jpush-api-java-client: PushPayloadTest, NotificationTest,
//     OptionsTest, AudienceTest (the JSON the builders produce; Gson);
//   - jpush/jpush-api-python-client: jpush/push/core.py (json.dumps of the
//     payload), jpush/common.py (URLs with trailing slashes),
//     jpush/device/entity.py, examples/;
//   - jpush/jpush-api-nodejs-client: lib/JPush/PushPayload.js (toJSON),
//     lib/JPush/JPush.js (URLs, "tags": "" to clear, "/?platform=");
//   - jpush/jpush-api-php-client: src/JPush/DevicePayload.php;
//   - DeanThompson/jpush-api-go-client: the Go structs it decodes answers
//     into (push/push.go, report/report.go, common/structures.go);
//   - jpush/jpush-docs: the Push API v3 examples.
func TestJPushSDKRequests(t *testing.T) {
	f := newJPushFixture(t, gateway.Config{})
	f.jpushTag(t, f.app.Key, f.r1, "深圳")
	f.jpushTag(t, f.app.Key, f.r3, "555")
	f.jpushSetAlias(t, f.app.Key, f.r3, "666")

	// How the SDKs read a push answer: Java's PushResult (Gson: long
	// msg_id, int sendno, from strings too), the Go client's PushResult
	// (msg_id interface{}, sendno string), Python's response.json().
	type javaPushResult struct {
		MsgID  int64 `json:"msg_id,string"`
		SendNo int64 `json:"sendno,string"`
	}
	type goPushResult struct {
		MsgID  any    `json:"msg_id"`
		SendNo string `json:"sendno"`
	}
	pushAnswer := func(t *testing.T, r response, sendno string, validate bool) {
		t.Helper()
		var j javaPushResult
		r.wantOK(t, http.StatusOK, &j)
		var g goPushResult
		r.decode(t, &g)
		if (j.MsgID <= 0) != validate || g.SendNo != sendno || strconv.FormatInt(j.SendNo, 10) != sendno {
			t.Errorf("answer %s: want sendno %q and a msg_id (0 for a validation)", r.body, sendno)
		}
		if _, ok := g.MsgID.(string); !ok {
			t.Errorf("msg_id is %T, want a string as JPush answers a push", g.MsgID)
		}
	}

	for _, c := range []struct {
		source, body, sendno string
		content              string // the content Herald sends
	}{
		{"java PushPayloadTest.testNotification",
			`{"platform":"all","audience":"all","notification":{"ai_opportunity":false,"alert":"alert"},"options":{"sendno":1234567,"apns_production":false}}`,
			"1234567", "alert"},
		{"java PushPayloadTest.testMessage",
			`{"platform":"all","audience":"all","message":{"msg_content":"message"},"options":{"sendno":1234567,"apns_production":false}}`,
			"1234567", "message"},
		{"java NotificationTest.testAlert_ios, AudienceTest.testAudience",
			`{"platform":["ios"],"audience":{"alias":["u2"]},"notification":{"ai_opportunity":false,"ios":{"alert":"alert","sound":"","badge":"+1"}},"options":{"sendno":5,"apns_production":false}}`,
			"5", "alert"},
		{"java NotificationTest.testShortcut_android, OptionsTest.testThirdPartyChannel",
			`{"platform":"all","audience":{"registration_id":["` + f.r1 + `"]},"notification":{"ai_opportunity":false,"android":{"alert":"alert","title":"title"}},"options":{"sendno":42,"apns_production":false,"third_party_channel":{"huawei":{"distribution":"jpush"}}}}`,
			"42", "alert"},
		{"python examples/push_examples/example_all.py (json.dumps)",
			`{"audience": "all", "platform": "all", "notification": {"alert": "!hello python jpush api"}}`,
			"0", "!hello python jpush api"},
		{"python payload.ios() with content_available and extras",
			`{"audience": {"tag": ["sz"]}, "platform": ["ios", "android"], "notification": {"ios": {"alert": "Hello", "badge": "+1", "sound": "default", "content-available": 1, "extras": {"k1": "v1"}}}, "options": {"time_to_live": 86400, "apns_production": "false"}}`,
			"0", "Hello"},
		{"node README: setPlatform('ios','android'), tag, alias('666,777'), ios(), android(), setMessage, setOptions(null, 60)",
			`{"platform":["ios","android"],"audience":{"tag":["555","666"],"alias":["666","777"]},"notification":{"alert":"Hi, JPush","ios":{"alert":"ios alert","sound":"","badge":1},"android":{"alert":"android alert","builder_id":1}},"message":{"msg_content":"msg content"},"options":{"sendno":4294967294,"apns_production":false,"time_to_live":60}}`,
			"4294967294", "android alert"},
		{"jpush-docs Push API v3: the curl example",
			`{"platform":"all","audience":"all","notification":{"alert":"Hi,JPush !","android":{"extras":{"android-key1":"android-value1"}},"ios":{"sound":"sound.caf","badge":"+1","extras":{"ios-key1":"ios-value1"}}}}`,
			"0", "Hi,JPush !"},
		{"jpush-docs Push API v3: the push object example",
			`{"cid":"8103a4c628a0b98974ec1949-711261d4-5f17-4d2f-a855-5e5a8909b26e","platform":"all","audience":{"tag":["深圳","北京"]},"notification":{"android":{"alert":"Hi, JPush!","title":"Send to Android","builder_id":1,"extras":{"newsid":321}},"ios":{"alert":"Hi, JPush!","sound":"default","badge":"+1","extras":{"newsid":321}}},"message":{"msg_content":"Hi,JPush","content_type":"text","title":"msg","extras":{"key":"value"}},"sms_message":{"content":"sms msg content","delay_time":3600},"options":{"time_to_live":60,"apns_production":false,"apns_collapse_id":"jiguang_test_201706011100"}}`,
			"0", "Hi, JPush!"},
	} {
		t.Run(c.source, func(t *testing.T) {
			for _, path := range []string{"/v3/push/validate", "/v3/push"} {
				r := f.v3(t, f.app, "POST", path, c.body)
				pushAnswer(t, r, c.sendno, path == "/v3/push/validate")
				if path != "/v3/push" {
					continue
				}
				var res jpushPushResult
				r.decode(t, &res)
				id, _ := strconv.ParseUint(res.MsgID, 10, 64)
				if m := f.message(t, id); m.Content != c.content {
					t.Errorf("Herald sends %q, want %q", m.Content, c.content)
				}
			}
		})
	}

	t.Run("the curl example's extras of both platforms reach the app", func(t *testing.T) {
		_, m := f.jpushPushOK(t, f.app, `{"platform":"all","audience":"all","notification":{"alert":"Hi,JPush !","android":{"extras":{"android-key1":"android-value1"}},"ios":{"sound":"sound.caf","badge":"+1","extras":{"ios-key1":"ios-value1"}}}}`)
		x := jpushExtrasOf(t, m)
		if x["android-key1"] != "android-value1" || x["ios-key1"] != "ios-value1" {
			t.Errorf("extras %s", m.Extras)
		}
	})

	t.Run("errors as the SDKs read them", func(t *testing.T) {
		// Java's ResponseWrapper.ErrorObject and the Go client's
		// ResponseBase: {"error": {"code": int, "message": string}}.
		var javaError struct {
			MsgID int64 `json:"msg_id,string"`
			Error struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		r := f.v3(t, f.app, "POST", "/v3/push", `{"platform":"all","audience":{"alias":["nobody"]},"notification":{"alert":"x"}}`)
		if r.status != http.StatusBadRequest {
			t.Fatalf("status %d", r.status)
		}
		r.decode(t, &javaError)
		if javaError.Error.Code != 1011 || javaError.Error.Message == "" || javaError.MsgID <= 0 {
			t.Errorf("error %s", r.body)
		}
	})

	t.Run("device API", func(t *testing.T) {
		// Python: device_tag(add(...)) to POST /v3/devices/{rid}/.
		f.v3(t, f.app, "POST", "/v3/devices/"+f.r2+"/", `{"tags": {"add": ["ddd", "tageee"]}}`).wantEmptyOK(t)
		// Node: updateDeviceTagAlias(rid, alias, clearTag=false, [], []).
		f.v3(t, f.app, "POST", "/v3/devices/"+f.r2, `{"alias":"nodealias","tags":{}}`).wantEmptyOK(t)
		// Java's TagAliasResult {List<String> tags; String alias; String
		// mobile} from GET; Python's trailing slash.
		var tagAlias struct {
			Tags   []string `json:"tags"`
			Alias  string   `json:"alias"`
			Mobile *string  `json:"mobile"`
		}
		f.v3(t, f.app, "GET", "/v3/devices/"+f.r2+"/", nil).wantOK(t, http.StatusOK, &tagAlias)
		if tagAlias.Alias != "nodealias" || strings.Join(tagAlias.Tags, ",") != "ddd,sz,tageee" {
			t.Errorf("device %+v", tagAlias)
		}
		// PHP clearTags and Node updateDeviceTagAlias(rid, null, true, …).
		f.v3(t, f.app, "POST", "/v3/devices/"+f.r2, `{"tags":""}`).wantEmptyOK(t)
		// Every SDK's setMobile.
		f.v3(t, f.app, "POST", "/v3/devices/"+f.r2, `{"mobile":"13012345678"}`).wantEmptyOK(t)
		// Python update_tagusers: device_regid(add(...), remove(...)).
		f.v3(t, f.app, "POST", "/v3/tags/newtag/", `{"registration_ids": {"add": ["`+f.r2+`", "`+f.r3+`"], "remove": ["`+f.r1+`"]}}`).wantEmptyOK(t)
		// Java BooleanResult; Python sends the id as a GET body.
		var boolean struct {
			Result bool `json:"result"`
		}
		f.v3(t, f.app, "GET", "/v3/tags/newtag/registration_ids/"+f.r3, f.r3).wantOK(t, http.StatusOK, &boolean)
		if !boolean.Result {
			t.Error("r3 is not in newtag")
		}
		// Java TagListResult; Python's GET /v3/tags/.
		var tagList struct {
			Tags []string `json:"tags"`
		}
		f.v3(t, f.app, "GET", "/v3/tags/", nil).wantOK(t, http.StatusOK, &tagList)
		if !strings.Contains(strings.Join(tagList.Tags, ","), "newtag") {
			t.Errorf("tags %v", tagList.Tags)
		}
		// Node getAliasDeviceList(alias, platform): "/?platform=".
		var aliasList struct {
			RIDs []string `json:"registration_ids"`
		}
		f.v3(t, f.app, "GET", "/v3/aliases/666/?platform=android", nil).wantOK(t, http.StatusOK, &aliasList)
		if len(aliasList.RIDs) != 1 || aliasList.RIDs[0] != f.r3 {
			t.Errorf("alias 666 names %v", aliasList.RIDs)
		}
		// Python delete_tag sends the platform as a DELETE body; Node
		// deleteTag adds "/?platform=".
		f.v3(t, f.app, "DELETE", "/v3/tags/newtag/", "android,ios").wantEmptyOK(t)
		f.v3(t, f.app, "DELETE", "/v3/aliases/666/?platform=android", nil).wantEmptyOK(t)
		// PHP getDevicesStatus: POST /v3/devices/status.
		var status map[string]*struct {
			Online bool `json:"online"`
		}
		f.v3(t, f.app, "POST", "/v3/devices/status", `{"registration_ids":["`+f.r1+`"]}`).wantOK(t, http.StatusOK, &status)
		if status[f.r1] == nil {
			t.Errorf("status %v", status)
		}
	})

	t.Run("report API", func(t *testing.T) {
		_, m := f.jpushPushOK(t, f.app, `{"platform":"all","audience":"all","notification":{"alert":"r"}}`)
		// The Go client's ReceivedReportNode: msg_id uint64, counts int.
		var nodes []struct {
			MsgID           uint64 `json:"msg_id"`
			AndroidReceived int    `json:"android_received"`
			IOSAPNSSent     int    `json:"ios_apns_sent"`
			IOSMsgReceived  int    `json:"ios_msg_received"`
			WPMPNSSent      int    `json:"wp_mpns_sent"`
		}
		// Node checks msg_ids against /[^\d,]/ and sends them as given.
		f.v3(t, f.app, "GET", fmt.Sprintf("/v3/received?msg_ids=%d,%d", m.ID, m.ID), nil).wantOK(t, http.StatusOK, &nodes)
		if len(nodes) != 2 || nodes[0].MsgID != m.ID {
			t.Errorf("received %+v", nodes)
		}
		var detail []map[string]json.RawMessage
		f.v3(t, f.app, "GET", fmt.Sprintf("/v3/received/detail?msg_ids=%d", m.ID), nil).wantOK(t, http.StatusOK, &detail)
		if len(detail) != 1 || string(detail[0]["msg_id"]) != strconv.Quote(strconv.FormatUint(m.ID, 10)) {
			t.Errorf("detail %v", detail)
		}
	})

	t.Run("rate-limit headers as the Go client reads them", func(t *testing.T) {
		r := f.v3(t, f.app, "GET", "/v3/tags", nil)
		for _, h := range []string{"X-Rate-Limit-Quota", "X-Rate-Limit-Remaining", "X-Rate-Limit-Reset"} {
			if _, err := strconv.Atoi(r.header.Get(h)); err != nil {
				t.Errorf("%s %q is not an integer", h, r.header.Get(h))
			}
		}
	})
}
