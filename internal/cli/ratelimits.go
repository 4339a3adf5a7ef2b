package cli

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/zeitwork/zeitwork/internal/api"
)

// limitFlags are a project's rate limits on the command line.
type limitFlags struct {
	rate, clientRate   string
	burst, clientBurst int
}

func (l *limitFlags) add(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&l.rate, "rate-limit", "", "requests the whole project may get, e.g. 100/s or 6000/m (\"off\" removes it)")
	f.IntVar(&l.burst, "burst", 0, "most requests at once under --rate-limit, the bucket's size (default: a second's worth)")
	f.StringVar(&l.clientRate, "client-rate-limit", "", "requests one client address may send the project, e.g. 10/s (\"off\" removes it)")
	f.IntVar(&l.clientBurst, "client-burst", 0, "most requests at once under --client-rate-limit (default: a second's worth)")
}

// apply puts the limits the user gave into *req, making it if needed;
// with none given it leaves *req as it is.
func (l *limitFlags) apply(cmd *cobra.Command, req **api.UpdateProjectRequest) error {
	project, err := l.parse(cmd, "rate-limit", "burst", l.rate, l.burst)
	if err != nil {
		return err
	}
	client, err := l.parse(cmd, "client-rate-limit", "client-burst", l.clientRate, l.clientBurst)
	if err != nil || (project == nil && client == nil) {
		return err
	}
	if *req == nil {
		*req = &api.UpdateProjectRequest{}
	}
	(*req).ProjectRateLimit, (*req).ClientRateLimit = project, client
	return nil
}

// parse reads one limit's flags; nil when its rate flag is not given.
func (l *limitFlags) parse(cmd *cobra.Command, rateFlag, burstFlag, rate string, burst int) (*api.RateLimit, error) {
	if !cmd.Flags().Changed(rateFlag) {
		if cmd.Flags().Changed(burstFlag) {
			return nil, &UserError{Msg: "--" + burstFlag + " needs --" + rateFlag,
				Hint: "give both, e.g. --" + rateFlag + " 100/s --" + burstFlag + " 200"}
		}
		return nil, nil
	}
	r, err := api.ParseRate(rate)
	if err != nil {
		return nil, &UserError{Msg: err.Error(), Hint: "e.g. --" + rateFlag + " 100/s, or off"}
	}
	return &api.RateLimit{Rate: r, Burst: burst}, nil
}

// printRateLimits says what limits p has.
func printRateLimits(cmd *cobra.Command, p api.Project) {
	lim := p.RateLimits
	if lim == nil || !lim.On() {
		fmt.Fprintf(cmd.OutOrStdout(), "Project %s has no rate limit\n", p.Name)
		return
	}
	table(cmd.OutOrStdout(), []string{"LIMIT", "RATE", "BURST"}, [][]string{
		limitRow("project", lim.Project), limitRow("per client address", lim.Client)})
}

func limitRow(name string, l api.RateLimit) []string {
	if l.Rate == 0 {
		return []string{name, "off", "-"}
	}
	return []string{name, rateLabel(l.Rate), strconv.Itoa(l.Burst)}
}
