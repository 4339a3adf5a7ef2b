package network

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"

	"github.com/vishvananda/netns"
)

// The rules are written in nft's own language and loaded atomically with
// `nft -f -`: a ruleset reads better than the same rules as netlink
// expressions, and each load replaces the table whole.

func (n *Network) hostTable() string { return "zeitwork_" + n.cfg.Name }

func (n *Network) hostRules() string {
	veth := n.cfg.hostVeth()
	return fmt.Sprintf(`table inet %[1]s {
	set dns {
		type ipv4_addr; flags interval; auto-merge;%[4]s
	}
	set allowed {
		type ipv4_addr; flags interval; auto-merge;%[5]s
	}
	set denied {
		type ipv4_addr; flags interval; auto-merge;%[6]s
	}
	chain input {
		type filter hook input priority filter - 10; policy accept;
		iifname "%[2]s" ct state established,related accept
		iifname "%[2]s" counter drop comment "vms may not reach the host"
	}
	chain forward {
		type filter hook forward priority filter - 10; policy accept;
		iifname "%[2]s" ct state established,related accept
		oifname "%[2]s" ct state established,related accept
		iifname "%[2]s" ip saddr != %[3]s counter drop comment "not a vm address"
		iifname "%[2]s" ip daddr @dns meta l4proto { tcp, udp } th dport 53 accept comment "the guests' dns servers"
		iifname "%[2]s" ip daddr @allowed accept comment "operator's allow-list"
		iifname "%[2]s" ip daddr @denied counter drop comment "no private, link-local or reserved addresses"
		iifname "%[2]s" meta nfproto ipv4 accept comment "vms to the internet"
		iifname "%[2]s" counter drop%[7]s
		oifname "%[2]s" counter drop comment "nothing else enters the vm network"
	}
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		ip saddr %[3]s oifname != "%[2]s" masquerade
	}
}
`, n.hostTable(), veth, n.cfg.Subnet.Masked(),
		elements(n.dnsPrefixes()), elements(n.cfg.Allow), elements(deniedPrefixes), n.directForward(veth))
}

// directForward is the one way in for new connections: those the direct
// table DNATed for an edge (direct.go).
func (n *Network) directForward(veth string) string {
	if n.direct == nil {
		return ""
	}
	return "\n\t\t" + n.direct.forwardRule(veth)
}

// nsRules apply inside the namespace: VMs may not talk to each other through
// the gateway, and nothing in the namespace itself answers them.
func (n *Network) nsRules() string {
	return fmt.Sprintf(`table inet zeitwork {
	chain input {
		type filter hook input priority filter; policy accept;
		iifname "%[1]s" ct state established,related accept
		iifname "%[1]s" counter drop
	}
	chain forward {
		type filter hook forward priority filter; policy accept;
		iifname "%[1]s" oifname "%[1]s" counter drop comment "no vm to vm"
	}
}
`, bridgeName)
}

func (n *Network) setupFirewall(ctx context.Context) error {
	if err := nft(ctx, replaceTable("inet", n.hostTable(), n.hostRules())); err != nil {
		return fmt.Errorf("host rules: %w", err)
	}
	if n.direct != nil {
		if err := n.direct.setup(ctx); err != nil {
			return err
		}
	}
	ns, err := netns.GetFromName(n.cfg.Name)
	if err != nil {
		return err
	}
	defer ns.Close()
	return inNamespace(ns, func() error {
		return nft(ctx, replaceTable("inet", "zeitwork", n.nsRules())+portTable)
	})
}

func (n *Network) teardownFirewall() error {
	err := nft(context.Background(), fmt.Sprintf("table inet %s\ndelete table inet %s\n", n.hostTable(), n.hostTable()))
	if n.direct != nil {
		err = errors.Join(err, n.direct.teardown())
	}
	return err
}

// replaceTable makes a script that creates the table if missing, flushes
// it and loads the new rules, in one transaction.
func replaceTable(family, name, rules string) string {
	return fmt.Sprintf("table %s %s\ndelete table %s %s\n%s", family, name, family, name, rules)
}

func nft(ctx context.Context, script string) error {
	cmd := exec.CommandContext(ctx, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("nft: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return nil
}
