package github

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
)

// Manifest is the App manifest a self-hoster submits to GitHub to create
// Zeitwork's App: it reads repository contents, writes commit statuses
// and receives push events at the operator's webhook; users sign in with
// it (callback_urls, and the e-mail addresses that match them to users).
func Manifest(name, operatorURL, webhookURL, redirectURL string) map[string]any {
	return map[string]any{
		"name":            name,
		"url":             operatorURL,
		"hook_attributes": map[string]any{"url": webhookURL, "active": true},
		"redirect_url":    redirectURL,
		"callback_urls":   []string{operatorURL + "/v1/github/oauth/callback"},
		"public":          false,
		"default_permissions": map[string]string{
			"contents":        "read",
			"statuses":        "write",
			"email_addresses": "read",
		},
		"default_events": []string{"push"},
	}
}

// ManifestURL is where the user opens the manifest flow: GitHub's web
// host for the API (github.com for api.github.com; the same host, without
// /api/v3, for GitHub Enterprise), with the manifest in the query.
func ManifestURL(api string, manifest map[string]any) (string, error) {
	if _, err := url.Parse(api); err != nil {
		return "", fmt.Errorf("github api url: %w", err)
	}
	web := WebURL(api)
	m, err := json.Marshal(manifest)
	if err != nil {
		return "", err
	}
	return web + "/settings/apps/new?manifest=" + url.QueryEscape(string(m)), nil
}

// Created is the App GitHub made from a manifest.
type Created struct {
	ID            int64  `json:"id"`
	Slug          string `json:"slug"`
	PEM           string `json:"pem"`
	WebhookSecret string `json:"webhook_secret"`
	HTMLURL       string `json:"html_url"`
	// ClientID and ClientSecret are the App's OAuth client, for sign-in.
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret"`
}

// ConvertManifest exchanges the code GitHub returns at the end of the
// manifest flow for the new App's ID, private key and webhook secret. The
// code itself is the credential; the request needs no other.
func ConvertManifest(ctx context.Context, api, code string) (Created, error) {
	a := NewApp(api, 0, nil, nil)
	var c Created
	u := fmt.Sprintf("%s/app-manifests/%s/conversions", a.API, url.PathEscape(code))
	if err := a.call(ctx, "POST", u, "", nil, &c); err != nil {
		return c, fmt.Errorf("convert app manifest: %w", err)
	}
	if c.ID == 0 || c.PEM == "" || c.WebhookSecret == "" {
		return c, fmt.Errorf("convert app manifest: incomplete answer (id %d)", c.ID)
	}
	return c, nil
}
