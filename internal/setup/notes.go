package setup

import "os"

// Upgrade reports whether the role's unit is already installed below
// o.Root, so that this run upgrades it.
func Upgrade(o Options) bool {
	_, err := os.Stat(o.hostPath(UnitDir + "/" + unitName(o.Role)))
	return err == nil
}

// Notes are what to know after setting up: what happens on an upgrade and
// what to do next.
func Notes(o Options) []string {
	var n []string
	u := unitName(o.Role)
	if Upgrade(o) {
		n = append(n, "upgrade: the binary is replaced and "+u+" restarted")
	}
	switch o.Role {
	case "node":
		n = append(n, "running VMs keep running through a restart or upgrade of the agent (KillMode=process); the agent adopts them when it starts again")
	case "operator":
		n = append(n, "back up ZEITWORK_SEAL_KEY from "+envPath(o.Role)+": without it the encrypted env vars and the cluster CA's key are lost",
			"then make join tokens for the other hosts: zeitwork nodes join-token [--role edge]")
	}
	n = append(n, "logs: journalctl -u "+u+"; settings: "+envPath(o.Role))
	return n
}
