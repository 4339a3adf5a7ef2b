package operator

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/zeitwork/zeitwork/internal/api"
)

func TestUniqueHostsKeepsTheOwner(t *testing.T) {
	var logs bytes.Buffer
	routes := uniqueHosts([]api.Route{
		{Host: "web.apps.test", Deployment: "older"},
		{Host: "aaaaaaaa--web.apps.test", Deployment: "older"},
		{Host: "web.apps.test", Deployment: "newer"},
		{Host: "bbbbbbbb--web.apps.test", Deployment: "newer"},
	}, slog.New(slog.NewTextHandler(&logs, nil)))
	got := map[string]string{}
	for _, r := range routes {
		got[r.Host] = r.Deployment
	}
	if len(routes) != 3 || got["web.apps.test"] != "older" || got["bbbbbbbb--web.apps.test"] != "newer" {
		t.Fatalf("routes: %+v", routes)
	}
	if !strings.Contains(logs.String(), "host=web.apps.test deployment=newer owner=older") {
		t.Fatalf("collision not logged: %s", logs.String())
	}
}
