package gateway

import (
	"context"
	"crypto/sha256"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/gateway/api"
	"github.com/heraldpush/herald/gateway/audience"
	"github.com/heraldpush/herald/gateway/wallclock"
	"github.com/heraldpush/herald/internal/ids"
	"github.com/heraldpush/herald/protocol"
)

type createAppRequest struct {
	Name string `json:"name"`
}

type createAppResponse struct {
	AppKey       string `json:"app_key"`
	MasterSecret string `json:"master_secret"`
	Name         string `json:"name,omitempty"`
}

func (g *Gateway) createApp(w http.ResponseWriter, r *http.Request, _ *dataservice.App) error {
	var req createAppRequest
	if err := api.DecodeOptionalBody(w, r, g.cfg.MaxBody, &req); err != nil {
		return err
	}
	if len(req.Name) > 128 {
		return api.Errorf(http.StatusBadRequest, "invalid_field", "name must be at most 128 bytes")
	}
	secret := ids.MasterSecret()
	app := dataservice.App{Key: ids.AppKey(), Name: req.Name, SecretHash: sha256.Sum256([]byte(secret)), Created: time.Now().UTC()}
	if err := g.data.CreateApp(r.Context(), app); err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusCreated, createAppResponse{AppKey: app.Key, MasterSecret: secret, Name: app.Name})
	return nil
}

type registerDeviceRequest struct {
	AppKey   string `json:"app_key"`
	Platform string `json:"platform"`
	// TimeZone is an IANA name such as "Europe/Paris", for schedules in
	// the device's local time.
	TimeZone string `json:"timezone"`
	// RegistrationSecret is the app's registration secret, needed once
	// its owner set one (PUT /v1/app/registration-secret).
	RegistrationSecret string `json:"registration_secret"`
}

type registerDeviceResponse struct {
	RegistrationID string `json:"registration_id"`
	DeviceSecret   string `json:"device_secret"`
}

var appKeyShape = regexp.MustCompile(`^[0-9a-zA-Z]{24}$`)

func (g *Gateway) registerDevice(w http.ResponseWriter, r *http.Request, _ *dataservice.App) error {
	if err := g.checkRegistrationAddress(r); err != nil {
		return err
	}
	var req registerDeviceRequest
	if err := api.DecodeBody(w, r, g.cfg.MaxBody, &req); err != nil {
		return err
	}
	if !api.ValidAppKey(req.AppKey) {
		return api.Errorf(http.StatusBadRequest, "invalid_field", "app_key must be the 24 letters and digits returned by POST /v1/apps")
	}
	if req.Platform == "" {
		req.Platform = "other"
	}
	if !dataservice.IsPlatform(req.Platform) {
		return api.Errorf(http.StatusBadRequest, "invalid_field", "platform must be one of %s; got %q", audience.PlatformNames, req.Platform)
	}
	if err := checkTimeZone(req.TimeZone); err != nil {
		return err
	}
	app, err := g.data.App(r.Context(), req.AppKey)
	if err != nil {
		if api.IsNotFound(err) {
			return api.Errorf(http.StatusBadRequest, "unknown_app_key", "no app has app_key %s", req.AppKey)
		}
		return err
	}
	if err := g.checkRegistrationApp(&app, req.RegistrationSecret); err != nil {
		return err
	}
	secret, text := ids.Secret(protocol.SecretLen)
	keys := protocol.DeriveDeviceKeys(secret)
	d := dataservice.Device{
		RegistrationID: ids.RegistrationID(),
		AppKey:         req.AppKey,
		Platform:       req.Platform,
		TimeZone:       req.TimeZone,
		StoredKey:      keys.Stored,
		ServerKey:      keys.Server,
		Created:        time.Now().UTC(),
	}
	if err := g.data.CreateDevice(r.Context(), d); err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusCreated, registerDeviceResponse{RegistrationID: d.RegistrationID, DeviceSecret: text})
	return nil
}

// checkTimeZone accepts "" (unknown) and IANA time zone names.
func checkTimeZone(tz string) error {
	if tz == "" {
		return nil
	}
	if _, err := wallclock.Zone(tz); err != nil {
		return api.Errorf(http.StatusBadRequest, "invalid_field", "timezone must be an IANA time zone name such as \"Asia/Shanghai\"; %q is not one", tz)
	}
	return nil
}

type dispatchResponse struct {
	Addresses []string `json:"addresses"`
	Heartbeat int      `json:"heartbeat"`
	ServerKey []byte   `json:"server_key"`
}

func (g *Gateway) dispatch(w http.ResponseWriter, r *http.Request, _ *dataservice.App) error {
	q := r.URL.Query()
	rid := q.Get("registration_id")
	if rid == "" {
		return api.Errorf(http.StatusBadRequest, "missing_parameter", "registration_id is required: GET /v1/dispatch?registration_id=…")
	}
	if !api.ValidID(rid) {
		return api.Errorf(http.StatusNotFound, "unknown_registration_id", "no device has this registration_id (ids are 1 to 64 bytes of UTF-8); register with POST /v1/devices")
	}
	if _, err := g.data.Device(r.Context(), rid); err != nil {
		if api.IsNotFound(err) {
			return api.Errorf(http.StatusNotFound, "unknown_registration_id", "no device has registration_id %s; register again with POST /v1/devices", rid)
		}
		return err
	}
	var failed []string
	for _, f := range q["failed"] {
		for a := range strings.SplitSeq(f, ",") {
			if a = strings.TrimSpace(a); a != "" {
				failed = append(failed, a)
			}
		}
	}
	d := g.cluster.Dispatch(rid, failed)
	if len(d.Addresses) == 0 {
		return api.Errorf(http.StatusServiceUnavailable, "no_connector", "no connector is available; retry later")
	}
	api.WriteJSON(w, http.StatusOK, dispatchResponse{Addresses: d.Addresses, Heartbeat: int(d.Heartbeat / time.Second), ServerKey: d.ServerKey})
	return nil
}

// appSummaryView is an app at a glance: GET /v1/app.
type appSummaryView struct {
	AppKey  string    `json:"app_key"`
	Name    string    `json:"name"`
	Created time.Time `json:"created"`
	// Devices counts the app's registered devices; Online those
	// connected now (or within their grace period), over every
	// connector.
	Devices int64 `json:"devices"`
	Online  int64 `json:"online"`
	// Today is since 00:00 UTC: messages created, and the devices they
	// targeted and reached so far (dataservice.ReportStore.AppDay).
	MessagesToday  int64 `json:"messages_today"`
	TargetedToday  int64 `json:"targeted_today"`
	DeliveredToday int64 `json:"delivered_today"`
	// RegistrationClosed says devices need the app's registration secret
	// to register.
	RegistrationClosed bool `json:"registration_closed"`
}

// onlineTimeout bounds the wait for the connectors' online counts; one
// that does not answer in time is left out.
const onlineTimeout = 2 * time.Second

// appSummary answers GET /v1/app.
func (g *Gateway) appSummary(w http.ResponseWriter, r *http.Request, app *dataservice.App) error {
	ctx := r.Context()
	v := appSummaryView{AppKey: app.Key, Name: app.Name, Created: app.Created.UTC(), RegistrationClosed: app.RegistrationClosed()}
	online := make(chan int64)
	go func() { online <- g.online(ctx, app.Key) }()
	var err error
	if v.Devices, err = g.data.AppDeviceCount(ctx, app.Key); err != nil {
		<-online
		return err
	}
	day, err := g.data.AppDay(ctx, app.Key, time.Now())
	if err != nil {
		<-online
		return err
	}
	v.MessagesToday, v.TargetedToday, v.DeliveredToday = day.Messages, day.Targeted, day.Delivered
	v.Online = <-online
	api.WriteJSON(w, http.StatusOK, v)
	return nil
}

// online adds up the online devices of app on every connector, asked at
// once.
func (g *Gateway) online(ctx context.Context, app string) int64 {
	ctx, cancel := context.WithTimeout(ctx, onlineTimeout)
	defer cancel()
	conns := g.cluster.Connectors()
	counts := make(chan int, len(conns))
	for _, c := range conns {
		go func() {
			n, err := c.Online(ctx, app)
			if err != nil {
				g.log.Warn("connector did not count its online devices", "app", app, "err", err)
			}
			counts <- n
		}()
	}
	var total int64
	for range conns {
		total += int64(<-counts)
	}
	return total
}

type secretView struct {
	AppKey       string `json:"app_key"`
	MasterSecret string `json:"master_secret"`
}

// rotateSecret gives the app a new master secret. It works at once on
// this gateway and within a quarter of a second on the others (a secret
// that does not match makes a gateway read the app again); the old one
// stops working on this gateway at once, on the others within the 5 s
// they cache apps.
func (g *Gateway) rotateSecret(w http.ResponseWriter, r *http.Request, app *dataservice.App) error {
	secret := ids.MasterSecret()
	if _, err := g.data.SetAppSecret(r.Context(), app.Key, sha256.Sum256([]byte(secret))); err != nil {
		return err
	}
	g.auth.ForgetApp(app.Key)
	api.WriteJSON(w, http.StatusOK, secretView{AppKey: app.Key, MasterSecret: secret})
	return nil
}
