package githubtest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// OAuth client of the stand-in's App.
const ClientID = "Iv1.zeitworktest"

// User is the GitHub account the stand-in signs in: authorize approves
// it at once, as GitHub does for a user who already authorized the App.
type User struct {
	ID     int64
	Login  string
	Emails []Email
	// Repos are the repositories ("owner/name") the App's installation
	// (Installation) gives the user.
	Repos        []string
	Installation int64
}

// Email is one of the user's addresses.
type Email struct {
	Email    string `json:"email"`
	Verified bool   `json:"verified"`
	Primary  bool   `json:"primary"`
}

type oauthCode struct {
	user     User
	redirect string
}

// SetUser makes u the account that the next authorizations sign in.
func (s *Server) SetUser(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.user = u
}

// Codes lists the codes authorize handed out, in order.
func (s *Server) Codes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.codeLog...)
}

func (s *Server) routeOAuth(mux *http.ServeMux) {
	mux.HandleFunc("GET /login/oauth/authorize", s.authorize)
	mux.HandleFunc("POST /login/oauth/access_token", s.oauthToken)
	mux.HandleFunc("GET /user", s.userInfo)
	mux.HandleFunc("GET /user/emails", s.userEmails)
	mux.HandleFunc("GET /user/installations", s.userInstallations)
	mux.HandleFunc("GET /user/installations/{id}/repositories", s.userRepos)
}

// authorize redirects back to redirect_uri with a new code and the state.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	redirect := q.Get("redirect_uri")
	if q.Get("client_id") != ClientID || redirect == "" {
		http.Error(w, "bad client_id or redirect_uri", http.StatusBadRequest)
		return
	}
	code := "code-" + randHex(10)
	s.mu.Lock()
	if s.user.ID == 0 {
		s.mu.Unlock()
		http.Error(w, "no user: call SetUser", http.StatusBadRequest)
		return
	}
	s.codes[code] = oauthCode{user: s.user, redirect: redirect}
	s.codeLog = append(s.codeLog, code)
	s.mu.Unlock()
	u, err := url.Parse(redirect)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	v := u.Query()
	v.Set("code", code)
	v.Set("state", q.Get("state"))
	u.RawQuery = v.Encode()
	http.Redirect(w, r, u.String(), http.StatusFound)
}

// oauthToken trades a code, once, for a user token; like GitHub it
// answers 200 with an error field when the code or secret is wrong.
func (s *Server) oauthToken(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if !strings.Contains(r.Header.Get("Accept"), "application/json") {
		http.Error(w, "ask for application/json", http.StatusNotAcceptable)
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	fail := func(e string) { json.NewEncoder(w).Encode(map[string]string{"error": e}) }
	if r.PostForm.Get("client_id") != ClientID || r.PostForm.Get("client_secret") != s.ClientSecret {
		fail("incorrect_client_credentials")
		return
	}
	if r.PostForm.Get("grant_type") == "refresh_token" {
		s.refreshToken(w, r.PostForm.Get("refresh_token"))
		return
	}
	code := r.PostForm.Get("code")
	s.mu.Lock()
	c, ok := s.codes[code]
	delete(s.codes, code) // single use
	s.mu.Unlock()
	if !ok || (r.PostForm.Get("redirect_uri") != "" && r.PostForm.Get("redirect_uri") != c.redirect) {
		fail("bad_verification_code")
		return
	}
	json.NewEncoder(w).Encode(s.issueUserToken(c.user))
}

// refreshToken spends a refresh token, once, for a new token and a new
// refresh token, as GitHub does.
func (s *Server) refreshToken(w http.ResponseWriter, refresh string) {
	s.mu.Lock()
	u, ok := s.refreshTokens[refresh]
	delete(s.refreshTokens, refresh)
	if ok {
		s.refreshes++
	}
	s.mu.Unlock()
	if !ok {
		json.NewEncoder(w).Encode(map[string]string{"error": "bad_refresh_token",
			"error_description": "The refresh token passed is incorrect or expired."})
		return
	}
	json.NewEncoder(w).Encode(s.issueUserToken(u))
}

// issueUserToken makes an expiring user token (8 hours, like GitHub's)
// and its refresh token (6 months).
func (s *Server) issueUserToken(u User) map[string]any {
	tok, refresh := "ghu_"+randHex(16), "ghr_"+randHex(16)
	s.mu.Lock()
	s.userTokens[tok] = u
	s.refreshTokens[refresh] = u
	s.mu.Unlock()
	return map[string]any{"access_token": tok, "token_type": "bearer", "expires_in": 28800,
		"refresh_token": refresh, "refresh_token_expires_in": 15897600}
}

// ExpireUserTokens makes every user token issued so far expired (GitHub
// answers 401), as 8 hours would; refresh tokens stay valid.
func (s *Server) ExpireUserTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.userTokens)
}

// RevokeRefreshTokens makes every refresh token issued so far invalid, as
// the user revoking the App's authorization would.
func (s *Server) RevokeRefreshTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.refreshTokens)
}

// Refreshes counts the refresh tokens spent.
func (s *Server) Refreshes() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refreshes
}

// tokenUser is the user of the call's token.
func (s *Server) tokenUser(w http.ResponseWriter, r *http.Request) (User, bool) {
	auth := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok {
		tok, _ = strings.CutPrefix(auth, "token ")
	}
	s.mu.Lock()
	u, ok := s.userTokens[tok]
	s.mu.Unlock()
	if !ok {
		http.Error(w, `{"message":"Bad credentials"}`, http.StatusUnauthorized)
	}
	return u, ok
}

func (s *Server) userInfo(w http.ResponseWriter, r *http.Request) {
	if u, ok := s.tokenUser(w, r); ok {
		json.NewEncoder(w).Encode(map[string]any{"id": u.ID, "login": u.Login})
	}
}

func (s *Server) userEmails(w http.ResponseWriter, r *http.Request) {
	if u, ok := s.tokenUser(w, r); ok {
		json.NewEncoder(w).Encode(append([]Email{}, u.Emails...))
	}
}

func (s *Server) userInstallations(w http.ResponseWriter, r *http.Request) {
	u, ok := s.tokenUser(w, r)
	if !ok {
		return
	}
	list := []map[string]any{}
	if u.Installation != 0 {
		list = append(list, map[string]any{"id": u.Installation})
	}
	json.NewEncoder(w).Encode(map[string]any{"total_count": len(list), "installations": list})
}

func (s *Server) userRepos(w http.ResponseWriter, r *http.Request) {
	u, ok := s.tokenUser(w, r)
	if !ok {
		return
	}
	if id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64); id != u.Installation {
		http.Error(w, `{"message":"Not Found"}`, http.StatusNotFound)
		return
	}
	repos := []map[string]any{}
	for _, name := range page(r, u.Repos) {
		repos = append(repos, map[string]any{"full_name": name, "private": true, "default_branch": "main"})
	}
	json.NewEncoder(w).Encode(map[string]any{"total_count": len(u.Repos), "repositories": repos})
}

// page is the page of all that the request asks for, as GitHub pages:
// per_page (default 30, at most 100) and page (from 1).
func page(r *http.Request, all []string) []string {
	per, err := strconv.Atoi(r.URL.Query().Get("per_page"))
	if err != nil || per <= 0 {
		per = 30
	}
	per = min(per, 100)
	n, err := strconv.Atoi(r.URL.Query().Get("page"))
	if err != nil || n < 1 {
		n = 1
	}
	from := min((n-1)*per, len(all))
	return all[from:min(from+per, len(all))]
}

// IssueUserToken gives u a user token and its refresh token, as a
// sign-in would.
func (s *Server) IssueUserToken(u User) (token, refresh string) {
	m := s.issueUserToken(u)
	return m["access_token"].(string), m["refresh_token"].(string)
}
