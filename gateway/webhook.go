package gateway

import (
	"errors"
	"net/http"
	"time"

	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/gateway/api"
	"github.com/heraldpush/herald/gateway/webhook"
)

// The webhook API: where an app receives the upstream messages of its
// devices (docs/webhooks.md). PUT /v1/webhook sets the URL, GET reads it,
// DELETE removes it; package webhook delivers to it.
// Every call is authenticated as the app and sees only its own webhook.

// webhookView is a webhook as the API shows it. The lease fields stay
// inside Herald.
type webhookView struct {
	URL     string    `json:"url"`
	Secret  string    `json:"secret"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
}

func viewWebhook(w dataservice.Webhook) webhookView {
	return webhookView{URL: w.URL, Secret: w.Secret, Created: w.Created.UTC(), Updated: w.Updated.UTC()}
}

// webhookRequest is the body of PUT /v1/webhook.
type webhookRequest struct {
	URL *string `json:"url"`
	// RotateSecret replaces the signing secret of a webhook that has one.
	RotateSecret bool `json:"rotate_secret"`
}

// setAttempts bounds the rounds of a PUT racing with lease renewals and
// other calls.
const setAttempts = 10

var errNoWebhook = api.Errorf(http.StatusNotFound, "no_webhook", "the app has no webhook; set one with PUT /v1/webhook")

// putWebhook sets the app's webhook: created with a new secret, or
// updated keeping the secret unless rotate_secret asks for a new one. It
// races with the lease renewals of the webhook delivery, which write the same
// record: a lost compare-and-set reads the webhook again.
func (g *Gateway) putWebhook(w http.ResponseWriter, r *http.Request, app *dataservice.App) error {
	var req webhookRequest
	if err := api.DecodeBody(w, r, g.cfg.MaxBody, &req); err != nil {
		return err
	}
	if req.URL == nil || *req.URL == "" {
		return api.Errorf(http.StatusBadRequest, "missing_field", `send "url": the absolute https (or http) URL Herald posts upstream messages to`)
	}
	if err := dataservice.CheckWebhookURL(*req.URL); err != nil {
		return webhookURLError(*req.URL)
	}
	if ue := (*webhook.URLError)(nil); errors.As(webhook.CheckURL(*req.URL), &ue) {
		return api.Errorf(http.StatusBadRequest, "invalid_field", "url: %s", ue.Reason)
	}
	if host, private := webhook.PrivateHost(*req.URL); private && !g.cfg.Webhooks.PrivateDestinations {
		return api.Errorf(http.StatusBadRequest, "invalid_field",
			"url points to %s, which is not a public address: this gateway posts webhooks only to public addresses (its operator can allow others with --webhook-private-networks)", host)
	}
	ctx := r.Context()
	for range setAttempts {
		cur, err := g.data.Webhook(ctx, app.Key)
		if api.IsNotFound(err) {
			created, err := g.data.CreateWebhook(ctx, dataservice.Webhook{AppKey: app.Key, URL: *req.URL, Secret: webhook.NewSecret()})
			if errors.Is(err, dataservice.ErrExists) {
				continue // set at the same time by another call
			}
			if err != nil {
				return err
			}
			g.webhooks.Kick()
			api.WriteJSON(w, http.StatusOK, viewWebhook(created))
			return nil
		}
		if err != nil {
			return err
		}
		if cur.URL == *req.URL && !req.RotateSecret {
			api.WriteJSON(w, http.StatusOK, viewWebhook(cur))
			return nil
		}
		next := cur
		next.URL, next.Updated = *req.URL, time.Now()
		if req.RotateSecret {
			next.Secret = webhook.NewSecret()
		}
		updated, err := g.data.UpdateWebhook(ctx, next)
		if errors.Is(err, dataservice.ErrGenerationMismatch) || api.IsNotFound(err) {
			continue // a lease renewal or another call came first
		}
		if err != nil {
			return err
		}
		g.webhooks.Kick()
		api.WriteJSON(w, http.StatusOK, viewWebhook(updated))
		return nil
	}
	return api.Errorf(http.StatusConflict, "conflict", "the webhook kept changing while it was set; retry the request")
}

// webhookURLError says what a good webhook URL is.
func webhookURLError(raw string) error {
	if len(raw) > dataservice.MaxWebhookURLLen {
		return api.Errorf(http.StatusBadRequest, "invalid_field", "url has %d bytes; at most %d are allowed", len(raw), dataservice.MaxWebhookURLLen)
	}
	return api.Errorf(http.StatusBadRequest, "invalid_field",
		"url must be an absolute http or https URL with a host, without spaces, such as https://api.example.com/herald/upstream (https is recommended)")
}

func (g *Gateway) getWebhook(w http.ResponseWriter, r *http.Request, app *dataservice.App) error {
	hook, err := g.data.Webhook(r.Context(), app.Key)
	if api.IsNotFound(err) {
		return errNoWebhook
	}
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, viewWebhook(hook))
	return nil
}

// deleteWebhook removes the app's webhook; deliveries stop within a scan
// of the gateways' webhook deliveries, and messages keep queueing (for UpstreamTTL) for a
// webhook set later. Deleting a webhook that is not there is not an
// error.
func (g *Gateway) deleteWebhook(w http.ResponseWriter, r *http.Request, app *dataservice.App) error {
	if _, err := g.data.DeleteWebhook(r.Context(), app.Key); err != nil {
		return err
	}
	g.webhooks.Kick() // its drain stops at once
	w.WriteHeader(http.StatusNoContent)
	return nil
}
