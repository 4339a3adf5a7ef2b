package build

import (
	"slices"
	"strings"
	"testing"
)

// TestChooseDockerfile: the default name falls back to a Containerfile
// when the context has no Dockerfile; a name the project set does not.
func TestChooseDockerfile(t *testing.T) {
	for _, tc := range []struct {
		name   string
		files  []string
		want   string
		wantOK bool
	}{
		{"", []string{"Dockerfile", "Containerfile"}, "Dockerfile", true},
		{"", []string{"Containerfile"}, "Containerfile", true},
		{"Dockerfile", []string{"Containerfile"}, "Containerfile", true},
		{"docker/Dockerfile", []string{"Containerfile"}, "docker/Dockerfile", false},
		{"Containerfile", []string{"Containerfile"}, "Containerfile", true},
		{"", nil, "Dockerfile", false},
	} {
		got, ok := ChooseDockerfile(tc.name, func(p string) bool { return slices.Contains(tc.files, p) })
		if got != tc.want || ok != tc.wantOK {
			t.Errorf("ChooseDockerfile(%q) with %v = %q, %v; want %q, %v", tc.name, tc.files, got, ok, tc.want, tc.wantOK)
		}
	}
	if m := MissingDockerfile("Dockerfile"); !strings.Contains(m, "Dockerfile") || !strings.Contains(m, "Containerfile") {
		t.Errorf("MissingDockerfile(default) = %q; want both names", m)
	}
	if m := MissingDockerfile("docker/Dockerfile"); !strings.Contains(m, "at docker/Dockerfile") || strings.Contains(m, "Containerfile") {
		t.Errorf("MissingDockerfile(named) = %q; want the named path only", m)
	}
}
