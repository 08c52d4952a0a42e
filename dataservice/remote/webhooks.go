package remote

import (
	"context"

	"github.com/heraldpush/herald/dataservice"
)

var _ dataservice.WebhookStore = (*Client)(nil)

// Request and answer bodies of the dataservice.WebhookStore endpoints.
// Webhooks are not cached: they are compare-and-set records whose leases
// gateways race for.
type (
	// webhookBody carries a webhook with its generation, which Webhook
	// leaves out of its JSON form.
	webhookBody struct {
		Webhook    dataservice.Webhook
		Generation uint32
	}
	webhookReq  struct{ App string }
	webhooksReq struct {
		After string
		Limit int
	}
)

func toWebhookBody(w dataservice.Webhook) webhookBody {
	return webhookBody{Webhook: w, Generation: w.Generation}
}

func (b webhookBody) webhook() dataservice.Webhook {
	w := b.Webhook
	w.Generation = b.Generation
	return w
}

// routeWebhooks serves the dataservice.WebhookStore methods.
func (s *Server) routeWebhooks() {
	d := s.data
	handle(s, domainPath+"create_webhook", func(ctx context.Context, q *webhookBody) (webhookBody, error) {
		w, err := d.CreateWebhook(ctx, q.webhook())
		return toWebhookBody(w), err
	})
	handle(s, domainPath+"webhook", func(ctx context.Context, q *webhookReq) (webhookBody, error) {
		w, err := d.Webhook(ctx, q.App)
		return toWebhookBody(w), err
	})
	handle(s, domainPath+"update_webhook", func(ctx context.Context, q *webhookBody) (webhookBody, error) {
		w, err := d.UpdateWebhook(ctx, q.webhook())
		return toWebhookBody(w), err
	})
	handle(s, domainPath+"delete_webhook", func(ctx context.Context, q *webhookReq) (bool, error) {
		return d.DeleteWebhook(ctx, q.App)
	})
	handle(s, domainPath+"webhooks", func(ctx context.Context, q *webhooksReq) ([]webhookBody, error) {
		ws, err := d.Webhooks(ctx, q.After, q.Limit)
		out := make([]webhookBody, len(ws))
		for i, w := range ws {
			out[i] = toWebhookBody(w)
		}
		return out, err
	})
}

// CreateWebhook implements dataservice.WebhookStore.
func (c *Client) CreateWebhook(ctx context.Context, w dataservice.Webhook) (dataservice.Webhook, error) {
	if err := checkUTF8("create_webhook", []string{w.AppKey, w.URL, w.Secret, w.Owner}); err != nil {
		return dataservice.Webhook{}, err
	}
	var b webhookBody
	if err := c.write(ctx, "create_webhook", toWebhookBody(w), &b); err != nil {
		return dataservice.Webhook{}, err
	}
	return b.webhook(), nil
}

// Webhook implements dataservice.WebhookStore.
func (c *Client) Webhook(ctx context.Context, app string) (dataservice.Webhook, error) {
	if err := checkUTF8("webhook", []string{app}); err != nil {
		return dataservice.Webhook{}, err
	}
	var b webhookBody
	if err := c.read(ctx, "webhook", webhookReq{App: app}, &b); err != nil {
		return dataservice.Webhook{}, err
	}
	return b.webhook(), nil
}

// UpdateWebhook implements dataservice.WebhookStore.
func (c *Client) UpdateWebhook(ctx context.Context, w dataservice.Webhook) (dataservice.Webhook, error) {
	if err := checkUTF8("update_webhook", []string{w.AppKey, w.URL, w.Secret, w.Owner}); err != nil {
		return dataservice.Webhook{}, err
	}
	var b webhookBody
	if err := c.write(ctx, "update_webhook", toWebhookBody(w), &b); err != nil {
		return dataservice.Webhook{}, err
	}
	return b.webhook(), nil
}

// DeleteWebhook implements dataservice.WebhookStore.
func (c *Client) DeleteWebhook(ctx context.Context, app string) (bool, error) {
	if err := checkUTF8("delete_webhook", []string{app}); err != nil {
		return false, err
	}
	var existed bool
	err := c.write(ctx, "delete_webhook", webhookReq{App: app}, &existed)
	return existed, err
}

// Webhooks implements dataservice.WebhookStore.
func (c *Client) Webhooks(ctx context.Context, after string, limit int) ([]dataservice.Webhook, error) {
	if err := checkUTF8("webhooks", []string{after}); err != nil {
		return nil, err
	}
	var bs []webhookBody
	if err := c.read(ctx, "webhooks", webhooksReq{After: after, Limit: limit}, &bs); err != nil {
		return nil, err
	}
	out := make([]dataservice.Webhook, len(bs))
	for i, b := range bs {
		out[i] = b.webhook()
	}
	return out, nil
}
