package guest

import (
	"slices"
	"strings"
	"testing"
)

const testPasswd = `root:x:0:0:root:/root:/bin/bash
# comment
broken line
app:x:1000:1000:App:/home/app:/bin/false
nohome:x:1001:1001::::
`

const testGroup = `root:x:0:
bin:x:1:root,bin
wheel:x:10:root
app:x:1000:app
web:x:33:app,other
extra:x:2000:app
again:x:33:app
`

func TestResolveUser(t *testing.T) {
	tests := []struct {
		name    string
		spec    string
		noFiles bool
		want    Cred
		wantErr string
	}{
		// Groups as Docker gives them: the primary group, then (only when
		// USER names no group and the user is in /etc/passwd) every group
		// of /etc/group that lists the user, each once.
		{name: "empty is root", spec: "", want: Cred{UID: 0, GID: 0, Groups: []uint32{0, 1, 10}, Home: "/root"}},
		{name: "name", spec: "app", want: Cred{UID: 1000, GID: 1000, Groups: []uint32{1000, 33, 2000}, Home: "/home/app"}},
		{name: "uid known", spec: "1000", want: Cred{UID: 1000, GID: 1000, Groups: []uint32{1000, 33, 2000}, Home: "/home/app"}},
		{name: "uid unknown", spec: "4242", want: Cred{UID: 4242, GID: 0, Groups: []uint32{0}, Home: "/"}},
		{name: "uid:gid", spec: "1000:33", want: Cred{UID: 1000, GID: 33, Groups: []uint32{33}, Home: "/home/app"}},
		{name: "name:group", spec: "app:web", want: Cred{UID: 1000, GID: 33, Groups: []uint32{33}, Home: "/home/app"}},
		{name: "name:gid not in group", spec: "app:4000", want: Cred{UID: 1000, GID: 4000, Groups: []uint32{4000}, Home: "/home/app"}},
		{name: "numeric without files", spec: "5:6", noFiles: true, want: Cred{UID: 5, GID: 6, Groups: []uint32{6}, Home: "/"}},
		{name: "uid without files", spec: "5", noFiles: true, want: Cred{UID: 5, GID: 0, Groups: []uint32{0}, Home: "/"}},
		{name: "empty home", spec: "nohome", want: Cred{UID: 1001, GID: 1001, Groups: []uint32{1001}, Home: "/"}},
		{name: "unknown name", spec: "ghost", wantErr: `no such user in /etc/passwd`},
		{name: "name without files", spec: "app", noFiles: true, wantErr: `the image has no /etc/passwd to name it: set USER to a numeric uid`},
		{name: "unknown group", spec: "app:ghosts", wantErr: `no such group "ghosts"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got Cred
			var err error
			if tt.noFiles {
				got, err = resolveUser(tt.spec, nil, nil)
			} else {
				got, err = resolveUser(tt.spec, strings.NewReader(testPasswd), strings.NewReader(testGroup))
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.UID != tt.want.UID || got.GID != tt.want.GID || got.Home != tt.want.Home || !slices.Equal(got.Groups, tt.want.Groups) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func FuzzResolveUser(f *testing.F) {
	f.Add("app", testPasswd, testGroup)
	f.Add("1:2", "", "")
	f.Fuzz(func(t *testing.T, spec, passwd, group string) {
		resolveUser(spec, strings.NewReader(passwd), strings.NewReader(group))
	})
}
