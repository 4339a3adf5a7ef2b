package operator

import (
	"net/http"
	"strings"

	"github.com/zeitwork/zeitwork/internal/api"
	"github.com/zeitwork/zeitwork/internal/store/db"
)

// setBuildSettings changes how a project's builds deploy: which branch is
// production (its builds go live; other branches make previews).
func (o *Operator) setBuildSettings(w http.ResponseWriter, r *http.Request) error {
	p, err := o.project(r)
	if err != nil {
		return err
	}
	var req api.BuildSettings
	if err := readJSON(r, &req); err != nil {
		return err
	}
	if !validBranch(req.ProductionBranch) {
		return invalid("give a git branch name such as main", "invalid production_branch %q", req.ProductionBranch)
	}
	if p, err = o.store.SetProjectProductionBranch(r.Context(), db.SetProjectProductionBranchParams{ID: p.ID, ProductionBranch: req.ProductionBranch}); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, o.projectJSON(p, o.liveSlug(r, p)))
	return nil
}

// validBranch accepts the branch names git accepts, roughly
// (git check-ref-format): no spaces, controls or special characters, no
// "..", no leading "-" or "/", no trailing "/", "." or ".lock".
func validBranch(b string) bool {
	if b == "" || len(b) > 255 || strings.HasPrefix(b, "-") || strings.HasPrefix(b, "/") ||
		strings.HasSuffix(b, "/") || strings.HasSuffix(b, ".") || strings.HasSuffix(b, ".lock") ||
		strings.Contains(b, "..") || strings.Contains(b, "//") || strings.Contains(b, "@{") {
		return false
	}
	for _, c := range b {
		if c <= ' ' || c == 0x7f || strings.ContainsRune(`~^:?*[\`, c) {
			return false
		}
	}
	return true
}
