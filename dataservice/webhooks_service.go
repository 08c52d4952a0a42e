package dataservice

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

var _ WebhookStore = (*Service)(nil)

// webhookRecord is a Webhook as stored: the key holds its app.
type webhookRecord struct {
	URL        string    `json:"url"`
	Secret     string    `json:"secret"`
	Created    time.Time `json:"created"`
	Updated    time.Time `json:"updated"`
	Owner      string    `json:"owner,omitempty"`
	LeaseUntil time.Time `json:"lease_until"`
}

func webhookKey(app string) string { return webhookGroup + app }

func encodeWebhook(w Webhook) ([]byte, error) {
	v, err := json.Marshal(webhookRecord{URL: w.URL, Secret: w.Secret, Created: w.Created, Updated: w.Updated, Owner: w.Owner, LeaseUntil: w.LeaseUntil})
	if err != nil {
		return nil, fmt.Errorf("%w: encode webhook of app %s: %v", ErrInvalid, w.AppKey, err)
	}
	return v, nil
}

func decodeWebhook(app string, r Record) (Webhook, error) {
	var v webhookRecord
	if err := json.Unmarshal(r.Value, &v); err != nil {
		return Webhook{}, fmt.Errorf("dataservice: corrupt webhook record of app %s: %w", app, err)
	}
	return Webhook{AppKey: app, URL: v.URL, Secret: v.Secret, Created: v.Created, Updated: v.Updated, Owner: v.Owner,
		LeaseUntil: v.LeaseUntil, Generation: r.Generation}, nil
}

// CreateWebhook implements WebhookStore: a create-only write.
func (s *Service) CreateWebhook(ctx context.Context, w Webhook) (Webhook, error) {
	w, err := checkWebhook(w)
	if err != nil {
		return Webhook{}, fmt.Errorf("create webhook: %w", err)
	}
	w.Created = milli(s.now())
	w.Updated = w.Created
	v, err := encodeWebhook(w)
	if err != nil {
		return Webhook{}, err
	}
	gen, err := s.store.Put(ctx, KindWebhook, webhookKey(w.AppKey), v, WriteOptions{CreateOnly: true})
	if err != nil {
		return Webhook{}, fmt.Errorf("create webhook of app %s: %w", w.AppKey, err)
	}
	w.Generation = gen
	return w, nil
}

// Webhook implements WebhookStore.
func (s *Service) Webhook(ctx context.Context, app string) (Webhook, error) {
	if err := checkAppKey(app); err != nil {
		return Webhook{}, fmt.Errorf("webhook: %w", err)
	}
	r, err := s.store.Get(ctx, KindWebhook, webhookKey(app))
	if err != nil {
		return Webhook{}, fmt.Errorf("webhook of app %s: %w", app, err)
	}
	return decodeWebhook(app, r)
}

// UpdateWebhook implements WebhookStore: a read (for Created), then the
// compare-and-set.
func (s *Service) UpdateWebhook(ctx context.Context, w Webhook) (Webhook, error) {
	w, err := checkWebhook(w)
	if err != nil {
		return Webhook{}, fmt.Errorf("update webhook: %w", err)
	}
	if w.Generation == 0 {
		return Webhook{}, fmt.Errorf("update webhook of app %s: %w: no generation (update a webhook read with Webhook or Webhooks)", w.AppKey, ErrInvalid)
	}
	old, err := s.Webhook(ctx, w.AppKey)
	if err != nil {
		return Webhook{}, fmt.Errorf("update %w", err)
	}
	if old.Generation != w.Generation {
		return Webhook{}, fmt.Errorf("update webhook of app %s: %w", w.AppKey, ErrGenerationMismatch)
	}
	w.Created = old.Created
	v, err := encodeWebhook(w)
	if err != nil {
		return Webhook{}, err
	}
	key := webhookKey(w.AppKey)
	gen, err := s.store.Put(ctx, KindWebhook, key, v, WriteOptions{Generation: w.Generation})
	if errors.Is(err, ErrGenerationMismatch) {
		// A conditional write of a missing record mismatches too: tell
		// the two apart.
		if _, gerr := s.store.Get(ctx, KindWebhook, key); errors.Is(gerr, ErrNotFound) {
			err = gerr
		}
	}
	if err != nil {
		return Webhook{}, fmt.Errorf("update webhook of app %s: %w", w.AppKey, err)
	}
	w.Generation = gen
	return w, nil
}

// DeleteWebhook implements WebhookStore.
func (s *Service) DeleteWebhook(ctx context.Context, app string) (bool, error) {
	if err := checkAppKey(app); err != nil {
		return false, fmt.Errorf("delete webhook: %w", err)
	}
	existed, err := s.store.Delete(ctx, KindWebhook, webhookKey(app), 0)
	if err != nil {
		return false, fmt.Errorf("delete webhook of app %s: %w", app, err)
	}
	return existed, nil
}

// Webhooks implements WebhookStore: one Scan of the group.
func (s *Service) Webhooks(ctx context.Context, after string, limit int) ([]Webhook, error) {
	if after != "" {
		if err := checkAppKey(after); err != nil {
			return nil, fmt.Errorf("webhooks after %q: %w", after, err)
		}
	}
	if err := checkPage(limit); err != nil {
		return nil, fmt.Errorf("webhooks: %w", err)
	}
	from := ""
	if after != "" {
		from = webhookKey(after)
	}
	recs, err := s.store.Scan(ctx, KindWebhook, webhookGroup, from, limit)
	if err != nil {
		return nil, fmt.Errorf("webhooks: %w", err)
	}
	out := make([]Webhook, len(recs))
	for i, r := range recs {
		if out[i], err = decodeWebhook(r.Key[len(webhookGroup):], r); err != nil {
			return nil, err
		}
	}
	return out, nil
}
