package guest

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// Cred is the identity the app runs as.
type Cred struct {
	UID, GID uint32
	Groups   []uint32
	// Home is the user's home directory from /etc/passwd, or "/".
	Home string
}

// passwdEntry is one line of /etc/passwd.
type passwdEntry struct {
	name     string
	uid, gid uint32
	home     string
}

// resolveUser turns an image's User ("", "name", "uid", "name:group",
// "uid:gid") into a Cred, the way container runtimes do: names are looked up
// in the root's /etc/passwd and /etc/group, numbers need no files, and a
// user's supplementary groups come from /etc/group (supplementaryGroups).
// passwd and group may be nil when the files do not exist.
func resolveUser(spec string, passwd, group io.Reader) (Cred, error) {
	users, err := parsePasswd(passwd)
	if err != nil {
		return Cred{}, err
	}
	groups, err := parseGroup(group)
	if err != nil {
		return Cred{}, err
	}
	userPart, groupPart, hasGroup := strings.Cut(spec, ":")
	if userPart == "" {
		userPart = "0"
	}
	c := Cred{Home: "/"}
	var name string
	if uid, err := parseID(userPart); err == nil {
		c.UID = uid
		for _, u := range users {
			if u.uid == uid {
				name, c.GID, c.Home = u.name, u.gid, u.home
				break
			}
		}
	} else {
		u, ok := findUser(users, userPart)
		if !ok && passwd == nil {
			return Cred{}, fmt.Errorf("resolve user %q: the image has no /etc/passwd to name it: "+
				"set USER to a numeric uid (USER 1000 or 1000:1000) or add the user to the image", userPart)
		}
		if !ok {
			return Cred{}, fmt.Errorf("resolve user %q: no such user in /etc/passwd: "+
				"add it in the Dockerfile (e.g. RUN adduser) or set USER to a numeric uid", userPart)
		}
		name, c.UID, c.GID, c.Home = u.name, u.uid, u.gid, u.home
	}
	if hasGroup {
		gid, err := resolveGroup(groupPart, groups)
		if err != nil {
			return Cred{}, fmt.Errorf("resolve user %q: %w", spec, err)
		}
		c.GID = gid
	}
	c.Groups = supplementaryGroups(groups, name, c.GID, hasGroup)
	if c.Home == "" {
		c.Home = "/"
	}
	return c, nil
}

// supplementaryGroups are the app's groups as Docker sets them: the
// primary group first (Docker has since 20.10.18, CVE-2022-36109), then, when USER names no group and the user has a
// passwd entry (USER name, or a uid found there), every group in
// /etc/group that lists the user as a member. An explicit group
// ("uid:gid", "name:group") gets the primary one only, as runc gives.
func supplementaryGroups(groups []groupEntry, name string, primary uint32, hasGroup bool) []uint32 {
	out := []uint32{primary}
	if !hasGroup && name != "" {
		out = append(out, memberOf(groups, name, primary)...)
	}
	return out
}

func parseID(s string) (uint32, error) {
	n, err := strconv.ParseUint(s, 10, 32)
	return uint32(n), err
}

func findUser(users []passwdEntry, name string) (passwdEntry, bool) {
	for _, u := range users {
		if u.name == name {
			return u, true
		}
	}
	return passwdEntry{}, false
}

type groupEntry struct {
	name    string
	gid     uint32
	members []string
}

func resolveGroup(s string, groups []groupEntry) (uint32, error) {
	if gid, err := parseID(s); err == nil {
		return gid, nil
	}
	for _, g := range groups {
		if g.name == s {
			return g.gid, nil
		}
	}
	return 0, fmt.Errorf("no such group %q in /etc/group", s)
}

// memberOf lists the groups that name is a member of besides its primary,
// each once (an image may list a gid twice).
func memberOf(groups []groupEntry, name string, primary uint32) []uint32 {
	var out []uint32
	for _, g := range groups {
		if g.gid == primary || slices.Contains(out, g.gid) {
			continue
		}
		for _, m := range g.members {
			if m == name {
				out = append(out, g.gid)
				break
			}
		}
	}
	return out
}

// parsePasswd reads name:password:uid:gid:gecos:home:shell lines, skipping
// malformed ones as libc does.
func parsePasswd(r io.Reader) ([]passwdEntry, error) {
	var out []passwdEntry
	err := eachLine(r, func(f []string) {
		if len(f) < 6 {
			return
		}
		uid, err1 := parseID(f[2])
		gid, err2 := parseID(f[3])
		if err1 != nil || err2 != nil || f[0] == "" {
			return
		}
		out = append(out, passwdEntry{name: f[0], uid: uid, gid: gid, home: f[5]})
	})
	return out, err
}

// parseGroup reads name:password:gid:member,member lines.
func parseGroup(r io.Reader) ([]groupEntry, error) {
	var out []groupEntry
	err := eachLine(r, func(f []string) {
		if len(f) < 3 {
			return
		}
		gid, err := parseID(f[2])
		if err != nil || f[0] == "" {
			return
		}
		g := groupEntry{name: f[0], gid: gid}
		if len(f) > 3 && f[3] != "" {
			g.members = strings.Split(f[3], ",")
		}
		out = append(out, g)
	})
	return out, err
}

func eachLine(r io.Reader, fn func([]string)) error {
	if r == nil {
		return nil
	}
	s := bufio.NewScanner(r)
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fn(strings.Split(line, ":"))
	}
	if err := s.Err(); err != nil {
		return fmt.Errorf("read user database: %w", err)
	}
	return nil
}
