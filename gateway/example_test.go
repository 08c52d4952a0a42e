package gateway_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/heraldpush/herald/connector"
	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/dataservice/leveldb"
	"github.com/heraldpush/herald/gateway"
	"github.com/heraldpush/herald/gateway/cluster"
	"github.com/heraldpush/herald/internal/ids"
)

// noConnectors is a cluster without connectors: every device is offline,
// so pushes wait in the inbox.
type noConnectors struct{}

func (noConnectors) Connector(string) (connector.Client, bool)  { return nil, false }
func (noConnectors) Connectors() []connector.Client             { return nil }
func (noConnectors) Dispatch(string, []string) cluster.Dispatch { return cluster.Dispatch{} }

// printReceipts prints the delivery receipts the gateway reports.
type printReceipts struct{}

func (printReceipts) Add(_ uint64, c dataservice.Counter, n int64) {
	fmt.Printf("receipt: %s +%d\n", c, n)
}

// call does what `curl -sS -X method -H "Authorization: auth" -d body url`
// does and decodes the JSON answer into out.
func call(method, url, auth, body string, out any) int {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		log.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		log.Fatal(err)
	}
	return resp.StatusCode
}

// Example creates an app, registers a device and pushes a message to it,
// the calls an app backend makes with curl:
//
//	curl -X POST -H "Authorization: Bearer $ADMIN_TOKEN" http://herald:8080/v1/apps
//	curl -X POST -d '{"app_key":"…","platform":"android"}' http://herald:8080/v1/devices
//	curl -X POST -u "$APP_KEY:$MASTER_SECRET" \
//	     -d '{"audience":{"registration_id":["…"]},"message":{"title":"Hi","content":"Hello"}}' \
//	     http://herald:8080/v1/push
//	curl -u "$APP_KEY:$MASTER_SECRET" http://herald:8080/v1/messages/$MSG_ID
func Example() {
	dir, err := os.MkdirTemp("", "herald-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	store, err := leveldb.Open(leveldb.Config{Dir: dir})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	gen, err := ids.NewGenerator(0)
	if err != nil {
		log.Fatal(err)
	}
	const adminToken = "s3cret-admin-token"
	cfg := gateway.Config{AdminTokenHash: sha256.Sum256([]byte(adminToken))}
	system := actor.NewActorSystem()
	defer system.Shutdown()
	g := gateway.New(cfg, gateway.Deps{Data: dataservice.New(store), Cluster: noConnectors{}, Receipts: printReceipts{}, IDs: gen, System: system})
	defer g.Close()
	srv := httptest.NewServer(g.Handler())
	defer srv.Close()

	var app struct {
		AppKey       string `json:"app_key"`
		MasterSecret string `json:"master_secret"`
	}
	call("POST", srv.URL+"/v1/apps", "Bearer "+adminToken, "", &app)

	var device struct {
		RegistrationID string `json:"registration_id"`
	}
	call("POST", srv.URL+"/v1/devices", "", `{"app_key":"`+app.AppKey+`","platform":"android"}`, &device)

	// curl -u app_key:master_secret
	auth := "Basic " + base64.StdEncoding.EncodeToString([]byte(app.AppKey+":"+app.MasterSecret))

	var pushed struct {
		MsgID string `json:"msg_id"`
	}
	status := call("POST", srv.URL+"/v1/push", auth,
		`{"audience":{"registration_id":["`+device.RegistrationID+`"]},"message":{"title":"Hi","content":"Hello"}}`, &pushed)
	fmt.Println("push:", status)

	var report map[string]any
	call("GET", srv.URL+"/v1/messages/"+pushed.MsgID, auth, "", &report)
	fmt.Println("targeted:", report["targeted"])

	var failed struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	status = call("POST", srv.URL+"/v1/push", auth, `{"audience":{"registration_id":["nope"]},"message":{"content":"Hello"}}`, &failed)
	fmt.Println("push:", status, failed.Error.Code)

	// Output:
	// receipt: stored_offline +1
	// push: 200
	// targeted: 1
	// push: 400 unknown_registration_id
}
