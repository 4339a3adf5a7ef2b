package buildah

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"github.com/zeitwork/zeitwork/internal/node/network"
)

// sandboxNet is a build's network: a namespace (zwb-<slot>) whose eth0 is
// a veth to the host (zwh-b<name><slot>), with the host's nftables table
// zeitwork_build<name><slot> letting RUN steps out to the internet only. The
// names start like the VM networks' so the leftover scripts find them.
type sandboxNet struct {
	ns, veth, table string
	host, guest     netip.Addr
	dns             []string
}

func newSandboxNet(cfg Config, slot int) *sandboxNet {
	base := cfg.Subnet.Masked().Addr().As4()
	n := uint32(base[0])<<24 | uint32(base[1])<<16 | uint32(base[2])<<8 | uint32(base[3])
	n += uint32(slot) * 4
	addr := func(off uint32) netip.Addr {
		v := n + off
		return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	}
	s := strconv.Itoa(slot)
	return &sandboxNet{
		ns: "zwb" + cfg.Name + "-" + s, veth: "zwh-b" + cfg.Name + s, table: "zeitwork_build" + cfg.Name + s,
		host: addr(1), guest: addr(2), dns: cfg.DNS,
	}
}

func (n *sandboxNet) nsPath() string { return "/run/netns/" + n.ns }

// setup replaces whatever a crashed build of the same slot left, then
// makes the namespace, the veth and the rules. The rules go in before
// the veth is up, so no packet ever passes unfiltered.
func (n *sandboxNet) setup(ctx context.Context) error {
	n.teardown(ctx)
	if err := os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644); err != nil {
		return fmt.Errorf("enable forwarding: %w", err)
	}
	if err := nft(ctx, n.rules()); err != nil {
		return err
	}
	g, h := n.guest.String()+"/30", n.host.String()+"/30"
	for _, c := range [][]string{
		{"netns", "add", n.ns},
		{"link", "add", n.veth, "type", "veth", "peer", "name", "eth0", "netns", n.ns},
		{"addr", "add", h, "dev", n.veth},
		{"link", "set", n.veth, "up"},
		{"-n", n.ns, "addr", "add", g, "dev", "eth0"},
		{"-n", n.ns, "link", "set", "eth0", "up"},
		{"-n", n.ns, "link", "set", "lo", "up"},
		{"-n", n.ns, "route", "add", "default", "via", n.host.String()},
	} {
		if err := ip(ctx, c...); err != nil {
			return err
		}
	}
	return nil
}

// teardown removes the namespace (and with it the veth) and the table; it
// is quiet about parts that are not there.
func (n *sandboxNet) teardown(ctx context.Context) error {
	var errs []error
	if _, err := os.Stat(n.nsPath()); err == nil {
		if err := ip(ctx, "netns", "del", n.ns); err != nil {
			errs = append(errs, err)
		}
	}
	if _, err := os.Stat("/sys/class/net/" + n.veth); err == nil {
		// Deleting the namespace deletes the veth, a moment later.
		if err := ip(ctx, "link", "del", n.veth); err != nil && !strings.Contains(err.Error(), "Cannot find device") {
			errs = append(errs, err)
		}
	}
	if err := nft(ctx, fmt.Sprintf("table inet %[1]s\ndelete table inet %[1]s\n", n.table)); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// rules: nothing from the sandbox reaches the host itself (its services,
// on any of its addresses); forwarded traffic goes to the DNS servers on
// port 53 and to public IPv4 addresses only; nothing from outside starts a
// connection into the sandbox.
func (n *sandboxNet) rules() string {
	var dns []string
	for _, s := range n.dns {
		dns = append(dns, s+"/32")
	}
	return fmt.Sprintf(`table inet %[1]s
delete table inet %[1]s
table inet %[1]s {
	set dns {
		type ipv4_addr; flags interval; auto-merge;%[4]s
	}
	set denied {
		type ipv4_addr; flags interval; auto-merge;%[5]s
	}
	chain input {
		type filter hook input priority filter - 10; policy accept;
		iifname "%[2]s" counter drop comment "builds may not reach the host"
	}
	chain forward {
		type filter hook forward priority filter - 10; policy accept;
		oifname "%[2]s" ct state established,related accept
		oifname "%[2]s" counter drop comment "nothing starts a connection into a build"
		iifname "%[2]s" ip saddr != %[3]s counter drop comment "not the build's address"
		iifname "%[2]s" ip daddr @dns meta l4proto { tcp, udp } th dport 53 accept comment "the builds' dns servers"
		iifname "%[2]s" ip daddr @denied counter drop comment "no private, link-local or reserved addresses"
		iifname "%[2]s" meta nfproto ipv4 accept comment "builds to the internet"
		iifname "%[2]s" counter drop
	}
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		ip saddr %[3]s oifname != "%[2]s" masquerade
	}
}
`, n.table, n.veth, n.guest, elements(dns), elements(prefixStrings(network.DeniedPrefixes())))
}

func prefixStrings(ps []netip.Prefix) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

// elements renders an nft set's elements line, or nothing for none (nft
// rejects an empty element list).
func elements(ss []string) string {
	if len(ss) == 0 {
		return ""
	}
	return "\n\t\telements = { " + strings.Join(ss, ", ") + " }"
}

func ip(ctx context.Context, args ...string) error {
	out, err := exec.CommandContext(ctx, "ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
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
