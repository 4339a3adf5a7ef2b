package github_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/zeitwork/zeitwork/internal/github"
	"github.com/zeitwork/zeitwork/internal/github/githubtest"
)

// TestReposEveryPage: the repository list reads every page GitHub has
// (650 repositories are seven pages), up to MaxRepos, and says when it
// stopped there.
func TestReposEveryPage(t *testing.T) {
	gh := githubtest.Start(t, t.TempDir())
	u := githubtest.User{ID: 1, Login: "many", Installation: 9}
	for i := range 650 {
		u.Repos = append(u.Repos, fmt.Sprintf("acme/r%03d", i))
	}
	tok, _ := gh.IssueUserToken(u)
	c := &github.OAuth{Web: gh.URL, API: gh.URL, ClientID: githubtest.ClientID, ClientSecret: gh.ClientSecret}
	repos, truncated, err := c.Repos(t.Context(), tok)
	if err != nil || truncated || len(repos) != 650 || repos[649].FullName != "acme/r649" || repos[0].Installation != 9 {
		t.Fatalf("repos: %d, truncated %v, %v", len(repos), truncated, err)
	}
	c.MaxRepos = 250
	repos, truncated, err = c.Repos(t.Context(), tok)
	if err != nil || !truncated || len(repos) != 250 || repos[249].FullName != "acme/r249" {
		t.Fatalf("repos up to 250: %d, truncated %v, %v", len(repos), truncated, err)
	}
	c.MaxRepos = 650
	if repos, truncated, err = c.Repos(t.Context(), tok); err != nil || truncated || len(repos) != 650 {
		t.Fatalf("repos up to exactly all: %d, truncated %v, %v", len(repos), truncated, err)
	}
}

// TestRefreshRotates: a refresh token works once and gives a new pair.
func TestRefreshRotates(t *testing.T) {
	gh := githubtest.Start(t, t.TempDir())
	_, refresh := gh.IssueUserToken(githubtest.User{ID: 1, Login: "dev"})
	c := &github.OAuth{Web: gh.URL, API: gh.URL, ClientID: githubtest.ClientID, ClientSecret: gh.ClientSecret}
	got, err := c.Refresh(t.Context(), refresh)
	if err != nil || got.Token == "" || got.Refresh == "" || got.Refresh == refresh || got.Expires.IsZero() || got.RefreshExpires.IsZero() {
		t.Fatalf("refresh: %+v %v", got, err)
	}
	if _, err := c.Refresh(t.Context(), refresh); !errors.Is(err, github.ErrRefreshRefused) {
		t.Fatalf("a spent refresh token: %v", err)
	}
	if u, err := c.User(t.Context(), got.Token); err != nil || u.Login != "dev" {
		t.Fatalf("the new token: %+v %v", u, err)
	}
}
