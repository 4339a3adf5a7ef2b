package cli

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/zeitwork/zeitwork/internal/api"
)

// httpsFlags are a project's HTTPS settings on the command line.
type httpsFlags struct {
	hsts              int
	redirect, noRedir bool
}

func (h *httpsFlags) add(cmd *cobra.Command) {
	f := cmd.Flags()
	f.IntVar(&h.hsts, "hsts", 0, "Strict-Transport-Security max-age in seconds sent on the project's HTTPS responses, up to 63072000 (two years), e.g. 31536000; 0 turns it off")
	f.BoolVar(&h.noRedir, "no-https-redirect-versioned", false, "serve the versioned URL (<id>--<project>) over plain HTTP too, without redirecting it to HTTPS")
	f.BoolVar(&h.redirect, "https-redirect-versioned", false, "redirect the versioned URL from HTTP to HTTPS again (the default)")
}

// apply puts the settings the user gave into *req, making it if needed;
// with none given it leaves *req as it is.
func (h *httpsFlags) apply(cmd *cobra.Command, req **api.UpdateProjectRequest) error {
	fl := cmd.Flags()
	if fl.Changed("no-https-redirect-versioned") && fl.Changed("https-redirect-versioned") {
		return &UserError{Msg: "--https-redirect-versioned and --no-https-redirect-versioned contradict each other", Hint: "give one of them"}
	}
	if !fl.Changed("hsts") && !fl.Changed("no-https-redirect-versioned") && !fl.Changed("https-redirect-versioned") {
		return nil
	}
	if *req == nil {
		*req = &api.UpdateProjectRequest{}
	}
	if fl.Changed("hsts") {
		if h.hsts < 0 || h.hsts > api.MaxHSTSMaxAge {
			return &UserError{Msg: fmt.Sprintf("--hsts %d is out of range", h.hsts),
				Hint: "give seconds from 0 (off) to 63072000 (two years), e.g. --hsts 31536000"}
		}
		(*req).HSTSMaxAge = &h.hsts
	}
	if fl.Changed("no-https-redirect-versioned") || fl.Changed("https-redirect-versioned") {
		v := h.redirect
		if fl.Changed("no-https-redirect-versioned") {
			v = !h.noRedir
		}
		(*req).HTTPSRedirectVersioned = &v
	}
	return nil
}

// set says whether req changes HTTPS settings.
func (h *httpsFlags) set(req *api.UpdateProjectRequest) bool {
	return req.HSTSMaxAge != nil || req.HTTPSRedirectVersioned != nil
}

// printHTTPS says what HTTPS settings p has.
func printHTTPS(cmd *cobra.Command, p api.Project) {
	hsts := "off (the edge's default)"
	if p.HSTSMaxAge > 0 {
		hsts = "max-age=" + strconv.Itoa(p.HSTSMaxAge)
	}
	versioned := "redirected to HTTPS"
	if !p.HTTPSRedirectVersioned {
		versioned = "served over HTTP too"
	}
	table(cmd.OutOrStdout(), []string{"HTTPS SETTING", "VALUE"}, [][]string{
		{"HSTS", hsts}, {"versioned URL on HTTP", versioned}, {"project URL and domains on HTTP", "redirected to HTTPS"}})
}
